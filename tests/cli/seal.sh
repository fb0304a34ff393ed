#!/usr/bin/env bash
# xchg seal on the phase 2 agreement, for the health agency: identification consent is
# applied at seal (a health record with explicit consent refused carries no indicator);
# full snapshots and incremental extracts; a header-only file is refused; record
# references must be text; agency text reaches the terminal and the report neutralised.
. "$(dirname "$0")/lib.bash"
X=$XCHG
S=$XCHG_SOURCE_DIR
K=$T/keys
mkdir -p "$K"
skip_unless_in_force
for p in $(awk '/^  - id: /{print $3}' "$S/policies/phase2.yaml"); do
  $X keygen -o "$K/$p" --label "Test $p" --unprotected >/dev/null
done
# phase 2, except that health records may identify a family only with explicit consent
perl -0pe 's/(    health:\n      identification: \{requires: )none\}/${1}explicit_consent}/' \
  "$S/policies/phase2.yaml" >"$T/strict.yaml"
grep -q "identification: {requires: explicit_consent}" "$T/strict.yaml" && PASSES=$((PASSES+1)) ||
  { echo "FAIL: the variant agreement was not made"; FAILS=$((FAILS+1)); }
A=$T/agreement.yaml
expect 0 "bound" -- $X policy bind-keys "$T/strict.yaml" --keys "$K" -o "$A"
# the example agreements say release_key: required: deal it (docs/release.md section 4)
mkdir -p "$T/shares" && $X release-key deal "$A" --shares "$T/shares" --force >/dev/null
for p in $(signatories "$A"); do $X policy sign "$A" --key "$K/$p.key" >/dev/null; done
expect 0 "verified" -- $X policy verify "$A"
expect 0 "(public health), for identification: only with the person's explicit consent" -- $X policy explain "$A"
expect 0 "sealed to" -- $X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$T/s.xsec"
SEAL=($X seal --agreement "$A" --key "$K/health.key" --secret "$T/s.xsec" --period 2025-11-01..2026-10-31)
INSPECT=($X extract inspect --agreement "$A" --key "$K/matcher.key" --epoch 1)
HEAD="Episode ID,NHS No,Forename,Surname,DOB,Address 1,Postcode,Treatment,Referral Date,Consent,Consent Date,Legal Basis,Discharge Date,Discharge Reason"

# consent refused: sealed, but without its indicator (H2 has no address: still sealed,
# placed by surname + postcode at the matcher)
printf '%s\n%s\n%s\n' "$HEAD" \
  "H1,,Ann,Lee,01/02/1980,1 High St,OX4 1AA,DRUG,01/06/2026,given,01/05/2026,,," \
  "H2,,Bob,Lee,01/02/1981,,OX4 1AA,ALCOHOL,01/06/2026,refused,01/05/2026,,," >"$T/health.csv"
expect 0 "consent: 1 record not usable for identification, sealed without its 1 indicator event" -- \
  "${SEAL[@]}" --in "$T/health.csv" -o "$T/h.xex" --report "$T/h-report.csv"
expect 0 "1 record did not meet the agreement's consent rule for identification" -- \
  "${SEAL[@]}" --in "$T/health.csv" -o "$T/h.xex" --force
grep -qF "3,Consent,no-indicators,consent: not usable for identification (consent refused): sealed without its 1 indicator event" "$T/h-report.csv" &&
  PASSES=$((PASSES+1)) || { echo "FAIL: report lacks the no-indicators line"; cat "$T/h-report.csv"; FAILS=$((FAILS+1)); }
expect 0 "    treatment            1" -- "${INSPECT[@]}" "$T/h.xex"
expect 0 "consent: given 1, refused 1" -- "${INSPECT[@]}" "$T/h.xex"
# consent given: both records carry their indicator
sed 's/,refused,/,given,/' "$T/health.csv" >"$T/health-given.csv"
expect 0 "consent: 0 records not usable for identification" -- "${SEAL[@]}" --in "$T/health-given.csv" -o "$T/hg.xex"
expect 0 "    treatment            2" -- "${INSPECT[@]}" "$T/hg.xex"

# full snapshot (default) and incremental
expect 0 "full snapshot (replaces the agency's earlier extracts)" -- "${INSPECT[@]}" "$T/h.xex"
expect 0 "  incremental extract, extract id" -- "${SEAL[@]}" --in "$T/health.csv" -o "$T/hi.xex" --incremental
expect 0 "incremental (adds to the agency's earlier extracts)" -- "${INSPECT[@]}" "$T/hi.xex"
# a header-only file: refused unless declared an empty full snapshot
printf '%s\n' "$HEAD" >"$T/empty.csv"
expect 1 "$T/empty.csv: error: no data rows; an empty full snapshot needs --empty-snapshot" -- \
  "${SEAL[@]}" --in "$T/empty.csv" -o "$T/e.xex"
[ ! -e "$T/e.xex" ] && PASSES=$((PASSES+1)) || { echo "FAIL: an empty extract was written"; FAILS=$((FAILS+1)); }
expect 1 "no data rows; an empty incremental extract has nothing to send" -- \
  "${SEAL[@]}" --in "$T/empty.csv" -o "$T/e.xex" --incremental
expect 2 "an incremental extract with no rows has nothing to send" -- "${SEAL[@]}" --in "$T/empty.csv" -o "$T/e.xex" --incremental --empty-snapshot
expect 0 "rows 0, sealed 0" -- "${SEAL[@]}" --in "$T/empty.csv" -o "$T/e.xex" --empty-snapshot
expect 0 "0 records" -- $X extract verify --agreement "$A" --key "$K/matcher.key" "$T/e.xex"

# record references must be text without control characters; nothing raw reaches the terminal
printf '%s\n%s\n%s\n%s\n%s\n' "$HEAD" \
  "H1,,Ann,Lee,01/02/1980,1 High St,OX4 1AA,DRUG,01/06/2026,given,01/05/2026,,," \
  $'H\e[2J3,,Cy,Lee,01/02/1982,1 High St,OX4 1AA,DRUG,01/06/2026,given,01/05/2026,,,' \
  'H4,,Di,Lee,01/02/1983,1 High St,OX4 1AA,"=HYPERLINK(""x"")",01/06/2026,given,01/05/2026,,,' \
  $'H5,,Ed,Lee,01/02/1984,1 High St,OX4 1AA,DRUG,01/06/2026,\e]0;owned\a,01/05/2026,,,' >"$T/hostile.csv"
expect 1 "$T/hostile.csv:3: error: column 'Episode ID': the record reference contains a control character (U+001B at byte 2)" -- \
  "${SEAL[@]}" --in "$T/hostile.csv" -o "$T/x.xex" --strict
expect 0 "rejected 2" -- "${SEAL[@]}" --in "$T/hostile.csv" -o "$T/x.xex" --report "$T/x-report.csv"
grep -qF "consent value '\\x1b]0;owned\\x07' is not one the agreement knows" "$T/.err" &&
  PASSES=$((PASSES+1)) || { echo "FAIL: the consent value is not shown escaped"; cat "$T/.err"; FAILS=$((FAILS+1)); }
if grep -q $'\e' "$T/.err"; then echo "FAIL: a raw ESC reached the terminal"; FAILS=$((FAILS+1)); else PASSES=$((PASSES+1)); fi
grep -qF "4,treatment,rejected,\"field 'treatment' (column 'Treatment'): '=HYPERLINK(\"\"x\"\")' is not one of the agreement's values\"" "$T/x-report.csv" &&
  PASSES=$((PASSES+1)) || { echo "FAIL: report line not quoted"; cat "$T/x-report.csv"; FAILS=$((FAILS+1)); }
finish

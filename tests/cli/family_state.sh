#!/usr/bin/env bash
# A family keeps its name and its history when a new record would rename a member
# (docs/programme.md "A family's state across runs"). A person's pseudonym comes from the
# strongest key among their records, so a new agency's record with a stronger identifier
# (health's NHS number) would rename the person — and the family. They keep their names:
# the family is the one identified in run 1 (same date, same baseline, its outcomes judged
# against it), it is "unchanged" (the same people), and its run-1 approvals carry over.
. "$(dirname "$0")/lib.bash"
X=$XCHG
S=$XCHG_SOURCE_DIR
K=$T/keys
skip_unless_in_force
A=$T/agreement.yaml
ready_agreement "$S/policies/phase2.yaml" "$A"
$X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$T/s.xsec" >/dev/null
DB=(--db "$T/db" --db-key "$T/db.key" --agreement "$A")
$X match init --db "$T/db" --agreement "$A" --db-key-out "$T/db.key" >/dev/null

DWPH="CLAIM_REF,NINO,FORENAME,SURNAME,DOB,ADDRESS_LINE_1,POSTCODE,BENEFIT_TYPE,CLAIM_START,CLAIM_END,CONSENT,CONSENT_DATE,LEGAL_BASIS"
HOUH="Tenancy Ref,UPRN,Tenant Forename,Tenant Surname,Tenant DOB,Address Line 1,Postcode,Action,Action Date,Consent,Consent Date,Legal Basis"
HEAH="Episode ID,NHS No,Forename,Surname,DOB,Address 1,Postcode,Treatment,Referral Date,Consent,Consent Date,Legal Basis,Discharge Date,Discharge Reason"
# Jane Doe: out of work (JSA) and an ASB warning: two problems, identified in run 1
printf '%s\n%s\n' "$DWPH" \
  "CL1,AB123456C,Jane,Doe,1985-05-05,10 Test Street,FW1 1AA,JSA,2025-06-01T09:00:00,,given,2025-06-01T09:00:00," >"$T/dwp.csv"
printf '%s\n%s\n' "$HOUH" \
  "TR1,100012000001,Jane,Doe,1985-05-05,10 Test Street,FW1 1AA,ASB WARNING,2025-09-01,given,2025-09-01," >"$T/housing.csv"
seal() { # AGENCY CSV OUT PERIOD
  expect 0 "sealed" -- $X seal --agreement "$A" --key "$K/$1.key" --secret "$T/s.xsec" --in "$2" -o "$3" \
    --period "$4" --strict --force
}
seal dwp "$T/dwp.csv" "$T/dwp-1.xex" 2025-03-01..2026-02-28
seal housing "$T/housing.csv" "$T/housing-1.xex" 2025-03-01..2026-02-28
expect 0 "2 active extracts" -- $X match ingest "${DB[@]}" --key "$K/matcher.key" "$T/dwp-1.xex" "$T/housing-1.xex"
expect 0 "identified         1 family tracked across runs (1 new in this run)" -- \
  $X match run "${DB[@]}" --date 2026-02-28
$X outcomes "${DB[@]}" --csv >"$T/o1.csv"
F1=$(awk -F, 'NR==2{print $1}' "$T/o1.csv")
expect 0 "" -- test -n "$F1"
expect 0 "$F1,2026-02-28,1,crime_asb,too early" -- cat "$T/o1.csv"
expect 0 "$F1,2026-02-28,1,worklessness,too early" -- cat "$T/o1.csv"
$X match links --db "$T/db" --db-key "$T/db.key" --csv >"$T/links-1.csv"
P1=$(awk -F, '$1=="dwp"{print $3}' "$T/links-1.csv")
expect 0 "" -- test -n "$P1"
# both operators approve Jane's family in run 1
approve() { # OPERATOR
  $X release approve "${DB[@]}" --key "$K/$1.key" --share "$T/shares/$1.share" --reason "two problems" "$F1"
}
expect 0 "1 of 2 approvals" -- approve operator-1
expect 0 "2 of 2 approvals" -- approve operator-2

# period 2: the same snapshots, a week later, and now health: Jane in treatment, with her
# NHS number — a stronger key than any she had, so her pseudonym changes
sleep 1 # an extract's creation time (whole seconds) orders the snapshots
printf '%s\n%s\n' "$HEAH" \
  "EP1,9434765919,Jane,Doe,05/05/1985,10 Test Street,FW1 1AA,DRUG,15/03/2026,given,15/03/2026,,," >"$T/health.csv"
seal dwp "$T/dwp.csv" "$T/dwp-2.xex" 2025-09-01..2026-08-31
seal housing "$T/housing.csv" "$T/housing-2.xex" 2025-09-01..2026-08-31
seal health "$T/health.csv" "$T/health-2.xex" 2025-09-01..2026-08-31
expect 0 "3 active extracts" -- $X match ingest "${DB[@]}" --key "$K/matcher.key" "$T/dwp-2.xex" "$T/housing-2.xex" "$T/health-2.xex"
expect 0 "identified         1 family tracked across runs (0 new in this run)" -- \
  $X match run "${DB[@]}" --date 2026-08-31
$X match links --db "$T/db" --db-key "$T/db.key" --csv >"$T/links-2.csv"
F2=$(awk -F, '$1=="dwp"{print $4}' "$T/links-2.csv")
# her health record is linked to her (else this test proves nothing) ...
expect 0 "" -- test "$(awk -F, '$1=="health"{print $3}' "$T/links-2.csv")" = "$(awk -F, '$1=="dwp"{print $3}' "$T/links-2.csv")"
# ... she and her family keep their names ...
expect 0 "" -- test "$F2" = "$F1"
expect 0 "" -- test "$(awk -F, '$1=="dwp"{print $3}' "$T/links-2.csv")" = "$P1"
# ... the family is the same people, so its run-1 approvals carry over; but its records
# are this period's versions, which the run-1 contributions (release key) do not open:
# the operators are asked again, and no packet is made that would withhold them unsaid
$X release list "${DB[@]}" >"$T/list-2.txt"
expect 0 "" -- grep -qE "^$F1 +yes +2/2 +re-approve " "$T/list-2.txt"
expect 1 "3 records are newer than the approvals: 2 operators must approve again" -- \
  $X release packet "${DB[@]}" --key "$K/matcher.key" --to tf-team -o "$T/p2.xrp" "$F1"
expect 1 "" -- test -e "$T/p2.xrp"
# each operator renews what they approved before, in one step (never a first decision)
renew() { # OPERATOR
  $X release renew "${DB[@]}" --key "$K/$1.key" --share "$T/shares/$1.share"
}
# without the share an approval carries no contributions: refused, counted, nothing renewed
expect 1 "renewed 0 approvals; 0 skipped (not yours to renew, or renewed already); 1 failed" -- \
  $X release renew "${DB[@]}" --key "$K/operator-1.key"
renew operator-1 >"$T/renew-1.txt"
expect 0 "" -- grep -qx "renewed $F1" "$T/renew-1.txt"
expect 0 "" -- grep -q "^renewed 1 approval; 0 skipped" "$T/renew-1.txt"
$X release list "${DB[@]}" >"$T/list-2b.txt"
expect 0 "" -- grep -qE "^$F1 +yes +2/2 +re-approve +0 +renewed for run 2 \(approved in run 1: two problems\)" "$T/list-2b.txt"
# renewing twice adds nothing
expect 0 "renewed 0 approvals; 1 skipped" -- renew operator-1
expect 2 "takes no FAMILY" -- $X release renew "${DB[@]}" --key "$K/operator-2.key" --share "$T/shares/operator-2.share" "$F1"
expect 0 "renewed 1 approval; 0 skipped" -- renew operator-2
$X release list "${DB[@]}" >"$T/list-2c.txt"
expect 0 "" -- grep -qE "^$F1 +yes +2/2 +unchanged " "$T/list-2c.txt"
expect 0 "3 released, 0 withheld" -- \
  $X release packet "${DB[@]}" --key "$K/matcher.key" --to tf-team -o "$T/p2.xrp" "$F1"
# ... and it is still the one identified in run 1, judged against that baseline
$X outcomes "${DB[@]}" --csv >"$T/o2.csv"
expect 0 "$F2,2026-02-28,1,crime_asb," -- cat "$T/o2.csv"
expect 0 "$F2,2026-02-28,1,worklessness," -- cat "$T/o2.csv"
# health was not in the run-1 baseline: no outcome row for it
expect 1 "" -- grep -q ",health," "$T/o2.csv"
expect 0 "" -- test "$(awk 'NR>1' "$T/o2.csv" | wc -l)" -eq 2

# period 3: Jane has moved away (no agency holds her any more) and a stranger, Tom Roe,
# lives at her old address, out of work and with an ASB warning: his family is identified
# as new — a history is never handed to people who share an address but no identity
sleep 1
printf '%s\n%s\n' "$DWPH" \
  "CL9,CD654321A,Tom,Roe,1970-07-07,10 Test Street,FW1 1AA,JSA,2026-09-01T09:00:00,,given,2026-09-01T09:00:00," >"$T/dwp3.csv"
printf '%s\n%s\n' "$HOUH" \
  "TR9,100012000001,Tom,Roe,1970-07-07,10 Test Street,FW1 1AA,ASB WARNING,2026-10-01,given,2026-10-01," >"$T/housing3.csv"
printf '%s\n' "$HEAH" >"$T/health3.csv"
seal dwp "$T/dwp3.csv" "$T/dwp-3.xex" 2026-03-01..2027-02-28
seal housing "$T/housing3.csv" "$T/housing-3.xex" 2026-03-01..2027-02-28
expect 0 "sealed" -- $X seal --agreement "$A" --key "$K/health.key" --secret "$T/s.xsec" --in "$T/health3.csv" \
  -o "$T/health-3.xex" --period 2026-03-01..2027-02-28 --strict --force --empty-snapshot
expect 0 "3 active extracts" -- $X match ingest "${DB[@]}" --key "$K/matcher.key" "$T/dwp-3.xex" "$T/housing-3.xex" "$T/health-3.xex"
expect 0 "(1 new in this run)" -- $X match run "${DB[@]}" --date 2027-02-28
$X match links --db "$T/db" --db-key "$T/db.key" --csv >"$T/links-3.csv"
F3=$(awk -F, '$1=="dwp"{print $4}' "$T/links-3.csv")
expect 0 "" -- test -n "$F3"
$X outcomes "${DB[@]}" --csv >"$T/o3.csv"
expect 0 "$F3,2027-02-28,3,crime_asb,too early" -- cat "$T/o3.csv"
expect 0 "$F3,2027-02-28,3,worklessness,too early" -- cat "$T/o3.csv"
expect 1 "" -- grep -q "^$F3,2026-02-28," "$T/o3.csv"
finish

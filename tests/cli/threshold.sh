#!/usr/bin/env bash
# The release key through the tools on the demo county (docs/release.md "The release key"):
# the IG lead deals it into the phase-2 agreement (one 0600 share per operator), the
# agencies seal under it, and an approval needs the operator's own share of this deal —
# none, another operator's, or one of another deal is refused before anything is written;
# one approval makes no packet; two make a packet whose every released record opens for
# the team. (What the store and the team's key can read without the tools is tested in
# tests/unit/test_release_key.c.)
. "$(dirname "$0")/lib.bash"
X=$XCHG
S=$XCHG_SOURCE_DIR
K=$T/keys
mkdir -p "$K"
skip_unless_in_force
mkkey() { # party id: the one place keys are made (a passphrase flag goes here)
  $X keygen -o "$K/$1" --label "Test $1" --unprotected >/dev/null 2>&1
}
C=$T/county
expect 0 "" -- $XCHG_SYNTH --demo --out "$C" --quiet
for p in $(awk '/^  - id: /{print $3}' "$S/policies/phase2.yaml"); do mkkey "$p"; done
A=$T/phase2.yaml
$X policy bind-keys "$S/policies/phase2.yaml" --keys "$K" -o "$A" >/dev/null
expect 0 "not dealt yet" -- $X policy check "$A"
expect 0 "has not been dealt" -- $X policy explain "$A"

# required but not dealt: signing warns (the deal changes the bytes), sealing is refused
# with the next step and leaves no output; a check (writes nothing) passes with a warning
U=$T/undealt.yaml
cp "$A" "$U"
for p in $(signatories "$U"); do
  expect 0 "this signature must be made again" -- $X policy sign "$U" --key "$K/$p.key"
done
expect 0 "" -- $X policy verify "$U"
$X secret new --agreement "$U" --key "$K/county-ig.key" --epoch 1 -o "$T/u.xsec" >/dev/null
expect 1 "but it has not been dealt: nothing is sealed. Next step: the IG lead runs 'xchg release-key deal" -- \
  $X seal --agreement "$U" --key "$K/police.key" --secret "$T/u.xsec" --in "$C/police.csv" \
    -o "$T/undealt.xex" --period 2025-11-01..2026-10-31
expect 0 "" -- test ! -e "$T/undealt.xex"
expect 0 "" -- bash -c "! ls '$T' | grep -q '^undealt.xex'"   # no temporary either
expect 0 "sealing is refused until the IG lead runs 'xchg release-key deal'" -- \
  $X seal --agreement "$U" --key "$K/police.key" --secret "$T/u.xsec" --in "$C/police.csv" \
    --check --period 2025-11-01..2026-10-31

# dealing: one share per operator, 0600; refused over existing shares without --force
mkdir -p "$T/shares" "$T/shares-b"
cp "$A" "$T/other.yaml"
expect 0 "any 2 of 2 operators release a record" -- $X release-key deal "$A" --shares "$T/shares"
expect 0 "" -- test "$(stat -c %a "$T/shares/operator-1.share")" = 600
expect 0 "" -- test "$(stat -c %a "$T/shares/operator-2.share")" = 600
expect 0 '"sealed_share"' -- cat "$T/shares/operator-1.share"
expect 2 "refusing to overwrite" -- $X release-key deal "$T/other.yaml" --shares "$T/shares"
expect 0 "dealt" -- $X release-key deal "$T/other.yaml" --shares "$T/shares-b"
expect 2 "needs one AGREEMENT and --shares DIR" -- $X release-key deal "$A"
expect 0 "opens only with the contributions of 2 of them" -- $X policy explain "$A"
for p in $(signatories "$A"); do $X policy sign "$A" --key "$K/$p.key" >/dev/null; done
expect 0 "" -- $X policy verify "$A"
$X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$T/s.xsec" >/dev/null
declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
for agency in "${!FILE[@]}"; do
  $X seal --agreement "$A" --key "$K/$agency.key" --secret "$T/s.xsec" --in "$C/${FILE[$agency]}.csv" \
    -o "$T/${FILE[$agency]}.xex" --period 2025-11-01..2026-10-31 --strict --force >/dev/null 2>&1
done
DB=(--db "$T/db" --db-key "$T/db.key" --agreement "$A")
$X match init --db "$T/db" --agreement "$A" --db-key-out "$T/db.key" >/dev/null
expect 0 "7 active extracts" -- $X match ingest "${DB[@]}" --key "$K/matcher.key" "$T"/*.xex
expect 0 "eligible families" -- $X match run "${DB[@]}" --date 2026-10-31
FAM=$($X match list --db "$T/db" --db-key "$T/db.key" --csv | awk -F, 'NR==2{print $1}')
expect 0 "" -- test -n "$FAM"

# the matcher's store + the team's key, without the tools: nothing opens before approval
attack() { $XCHG_RELEASE_ATTACK "$T/db" "$T/db.key" "$A" "$K/tf-team.key"; }
total=$(attack | sed -n 's/.* of \([0-9]*\) stored.*/\1/p')
expect 0 "" -- test "$total" -gt 500
expect 0 "read 0 of $total stored records (0 with" -- attack

# an extract wrapped under another deal (the other agreement version dealt above) is
# refused naming the deals, and nothing is stored
for p in $(signatories "$T/other.yaml"); do $X policy sign "$T/other.yaml" --key "$K/$p.key" >/dev/null; done
$X secret new --agreement "$T/other.yaml" --key "$K/county-ig.key" --epoch 1 -o "$T/o.xsec" >/dev/null
expect 0 "" -- $X seal --agreement "$T/other.yaml" --key "$K/police.key" --secret "$T/o.xsec" \
  --in "$C/police.csv" -o "$T/other-deal.xex" --period 2025-11-01..2026-10-31
DEAL_A=$(awk '/^release_key:/{r=1} r && /^  deal: /{print $2; exit}' "$A")
DEAL_B=$(awk '/^release_key:/{r=1} r && /^  deal: /{print $2; exit}' "$T/other.yaml")
expect 0 "" -- test -n "$DEAL_A" -a -n "$DEAL_B" -a "$DEAL_A" != "$DEAL_B"
expect 1 "(release-key deal $DEAL_B), not under the release key of the agreement in force (deal $DEAL_A)" -- \
  $X match ingest "${DB[@]}" --key "$K/matcher.key" "$T/other-deal.xex"
expect 1 "other-deal.xex" -- $X match ingest "${DB[@]}" --key "$K/matcher.key" "$T/other-deal.xex"
expect 0 "read 0 of $total stored records (0 with" -- attack   # the store is unchanged

# approvals: no share, another operator's, another deal's: refused, nothing recorded
R=(--reason "two problems")
expect 1 "must carry their share's partial decryptions" -- $X release approve "${DB[@]}" --key "$K/operator-1.key" "${R[@]}" "$FAM"
expect 1 "not the share of operator-1" -- $X release approve "${DB[@]}" --key "$K/operator-1.key" --share "$T/shares/operator-2.share" "${R[@]}" "$FAM"
expect 1 "this share is from deal" -- $X release approve "${DB[@]}" --key "$K/operator-1.key" --share "$T/shares-b/operator-1.share" "${R[@]}" "$FAM"
expect 2 "only for release approve" -- $X release reject "${DB[@]}" --key "$K/operator-1.key" --share "$T/shares/operator-1.share" "${R[@]}" "$FAM"
expect 0 "0/2" -- bash -c "$X release list --db '$T/db' --db-key '$T/db.key' --agreement '$A' | grep '^$FAM '"
expect 0 "1 of 2 approvals" -- $X release approve "${DB[@]}" --key "$K/operator-1.key" --share "$T/shares/operator-1.share" "${R[@]}" "$FAM"
expect 0 "read 0 of $total stored records" -- attack   # one operator's contributions add nothing
expect 1 "has 1 of the 2 approvals" -- $X release packet "${DB[@]}" --key "$K/matcher.key" --to tf-team -o "$T/p.xrp" "$FAM"
expect 0 "2 of 2 approvals" -- $X release approve "${DB[@]}" --key "$K/operator-2.key" --share "$T/shares/operator-2.share" --reason "agreed" "$FAM"
expect 0 "written to" -- $X release packet "${DB[@]}" --key "$K/matcher.key" --to tf-team -o "$T/p.xrp" "$FAM"
$X release packet "${DB[@]}" --key "$K/matcher.key" --to tf-team -o "$T/p.xrp" --force "$FAM" > "$T/packet.txt"
released=$(sed -n 's/.* \([0-9]*\) released.*/\1/p' "$T/packet.txt")
expect 0 "" -- test "$released" -gt 0
# two approvals: the store + the team's key read exactly the records the packet releases
expect 0 "read $released of $total stored records ($released with" -- attack
# every released record opens for the team (the operators' contributions combine)
$X open --agreement "$A" --key "$K/tf-team.key" --json "$T/p.xrp" > "$T/p.json"
expect 0 "" -- test "$(grep -c '"basis_for_release"' "$T/p.json")" -eq "$released"
expect 0 "" -- test "$(grep -c '"detail"' "$T/p.json")" -eq "$released"
expect 1 "" -- grep -q '"error"' "$T/p.json"
expect 1 "" -- grep -q '"contributions"' "$T/p.json"
expect 0 "signature and agreement verified" -- $X open --agreement "$A" --key "$K/tf-team.key" "$T/p.xrp"
# the approvals' audit entries carry the contributions; the log verifies
expect 0 '"contributions":{"deal"' -- cat "$T/db.audit"
expect 0 "ok:" -- $X audit verify --agreement "$A" --log "$T/db.audit"
finish

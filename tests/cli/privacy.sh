#!/usr/bin/env bash
# The matcher never holds personal data in clear: after sealing, ingest and a linkage run
# on a generated county, the whole store (dumped with its key), the raw database files
# and everything the matcher's commands printed contain none of the county's names,
# dates of birth, postcodes, addresses or identifiers.
. "$(dirname "$0")/lib.bash"
X=$XCHG
S=$XCHG_SOURCE_DIR
K=$T/keys
mkdir -p "$K"
skip_unless_in_force
expect 0 "" -- $XCHG_SYNTH --households 400 --seed 11 --out "$T/county" -q
for p in county-ig police education dwp social-care youth-offending housing health matcher tf-team operator-1 operator-2; do
  $X keygen -o "$K/$p" --label "Test $p" --unprotected >/dev/null
done
A=$T/phase2.yaml
$X policy bind-keys "$S/policies/phase2.yaml" --keys "$K" -o "$A" >/dev/null
# the example agreements say release_key: required: deal it (docs/release.md section 4)
mkdir -p "$T/shares" && $X release-key deal "$A" --shares "$T/shares" --force >/dev/null
for p in $(signatories "$A"); do $X policy sign "$A" --key "$K/$p.key" >/dev/null; done
$X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$T/s.xsec" >/dev/null
declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
for agency in "${!FILE[@]}"; do
  f=${FILE[$agency]}
  $X seal --agreement "$A" --key "$K/$agency.key" --secret "$T/s.xsec" --in "$T/county/$f.csv" \
    -o "$T/$f.xex" --period 2025-11-01..2026-10-31 >/dev/null 2>&1
done
M=$T/matcher
mkdir -p "$M"
expect 0 "created store" -- $X match init --db "$M/db" --agreement "$A" --db-key-out "$M/db.key"
{
  $X match ingest --db "$M/db" --db-key "$M/db.key" --agreement "$A" --key "$K/matcher.key" "$T"/*.xex
  $X match run --db "$M/db" --db-key "$M/db.key" --agreement "$A" --date 2026-10-31
  $X match list --db "$M/db" --db-key "$M/db.key" --all
  $X match list --db "$M/db" --db-key "$M/db.key" --json
  $X match links --db "$M/db" --db-key "$M/db.key" --csv
} > "$M/outputs.txt" 2>&1
fam=$($X match list --db "$M/db" --db-key "$M/db.key" --csv | awk -F, 'NR==2{print $1}')
$X match show --db "$M/db" --db-key "$M/db.key" "$fam" >> "$M/outputs.txt" 2>&1
expect 0 "0 hits" -- $XCHG_PRIVACY_SCAN "$M/db" "$M/db.key" "$A" "$T/county/truth/people.csv" \
  "$M/outputs.txt" "$M/db" $(ls "$M"/db-wal 2>/dev/null) "$T"/*.xex
# the scanner does find personal data where it is: the agency's own CSV
expect 1 "HIT" -- $XCHG_PRIVACY_SCAN "$M/db" "$M/db.key" "$A" "$T/county/truth/people.csv" "$T/county/police.csv"
finish

#!/usr/bin/env bash
# The pipeline so far, on a generated county: the example agreements' column mappings
# line up with xchg-synth's extracts, so every agency's file seals with no bad row, and
# the matcher verifies every sealed extract.
. "$(dirname "$0")/lib.bash"
X=$XCHG
SYNTH=$XCHG_SYNTH
S=$XCHG_SOURCE_DIR
K=$T/keys
mkdir -p "$K"
skip_unless_in_force
expect 0 "" -- $SYNTH --households 120 --seed 7 --out "$T/county" -q
for p in county-ig police education dwp social-care youth-offending housing health matcher tf-team fi-team operator-1 operator-2; do
  $X keygen -o "$K/$p" --label "Test $p" --unprotected >/dev/null
done
declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
for name in phase1 phase2; do
  A=$T/$name.yaml
  expect 0 "bound" -- $X policy bind-keys "$S/policies/$name.yaml" --keys "$K" -o "$A"
  # the example agreements say release_key: required: deal it (docs/release.md section 4)
  mkdir -p "$T/shares-$name" && $X release-key deal "$A" --shares "$T/shares-$name" --force >/dev/null
  for p in $(signatories "$A"); do $X policy sign "$A" --key "$K/$p.key" >/dev/null; done
  expect 0 "verified" -- $X policy verify "$A"
  expect 0 "sealed to" -- $X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$T/$name.xsec"
  for agency in $(awk '/^  - id: /{id=$3} /^    role: agency/{print id}' "$A"); do
    f=${FILE[$agency]}
    expect 0 "rejected 0" -- $X seal --agreement "$A" --key "$K/$agency.key" --secret "$T/$name.xsec" \
      --in "$T/county/$f.csv" -o "$T/$name-$f.xex" --period 2025-11-01..2026-10-31 --strict --empty-snapshot
    expect 0 ": ok: sealed extract from '$agency'" -- $X extract verify --agreement "$A" --key "$K/matcher.key" --epoch 1 "$T/$name-$f.xex"
  done
done
# a recipient's key does not open the extract; an agency's key cannot seal for another agency
expect 1 "sealed extract is for matcher key" -- $X extract verify --agreement "$T/phase2.yaml" --key "$K/tf-team.key" "$T/phase2-police.xex"
expect 1 "does not look like the 'police' extract" -- $X seal --agreement "$T/phase2.yaml" --key "$K/police.key" \
  --secret "$T/phase2.xsec" --in "$T/county/education.csv" -o "$T/wrong.xex"
[ ! -e "$T/wrong.xex" ] && PASSES=$((PASSES+1)) || { echo "FAIL: wrong.xex written"; FAILS=$((FAILS+1)); }
finish

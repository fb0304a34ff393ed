# The demo county's matcher store for the console tests (sourced): the same setup as
# tests/cli/release_demo.sh. Usage: console_demo DIR — makes DIR/keys, DIR/phase2.yaml,
# DIR/db (+ DIR/db.key) with one run. Needs $XCHG, $XCHG_SYNTH, $XCHG_SOURCE_DIR.

# Every key of these tests is made here, so that a key-protection flag is added in one place.
make_key() { # PREFIX LABEL
  "$XCHG" keygen -o "$1" --label "$2" --unprotected >/dev/null 2>&1
}

console_demo() {
  local D=$1 S=$XCHG_SOURCE_DIR X=$XCHG
  local K=$D/keys
  mkdir -p "$K"
  "$XCHG_SYNTH" --demo --out "$D/county" --quiet
  for p in $(awk '/^  - id: /{print $3}' "$S/policies/phase2.yaml"); do make_key "$K/$p" "Test $p"; done
  local A=$D/phase2.yaml
  # a wider clerical-review band than the published agreement's [0.90, 0.93], so that the
  # demo county has grey-zone pairs whatever the (random) linkage secret makes of it
  sed 's/^  review_band: \[0.90, 0.93\]/  review_band: [0.75, 0.93]/' "$S/policies/phase2.yaml" > "$D/unbound.yaml"
  grep -q "review_band: \[0.75, 0.93\]" "$D/unbound.yaml" || { echo "setup: no review_band to widen"; return 1; }
  $X policy bind-keys "$D/unbound.yaml" --keys "$K" -o "$A" >/dev/null
  # the example agreements say release_key: required: deal it (docs/release.md section 4)
  mkdir -p "$D/shares" && $X release-key deal "$A" --shares "$D/shares" --force >/dev/null
  for p in $($X policy signatories "$A"); do
    $X policy sign "$A" --key "$K/$p.key" >/dev/null
  done
  $X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$D/s.xsec" >/dev/null
  local agency f
  for agency in police:police education:education dwp:dwp social-care:social_care \
                youth-offending:yos housing:housing health:health; do
    f=${agency#*:}; agency=${agency%%:*}
    $X seal --agreement "$A" --key "$K/$agency.key" --secret "$D/s.xsec" --in "$D/county/$f.csv" \
      -o "$D/$f.xex" --period 2025-11-01..2026-10-31 --strict --force >/dev/null 2>&1
  done
  $X match init --db "$D/db" --agreement "$A" --db-key-out "$D/db.key" >/dev/null
  $X match ingest --db "$D/db" --db-key "$D/db.key" --agreement "$A" --key "$K/matcher.key" "$D"/*.xex >/dev/null
  $X match run --db "$D/db" --db-key "$D/db.key" --agreement "$A" --date 2026-10-31 >/dev/null
}

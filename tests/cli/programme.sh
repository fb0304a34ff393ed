#!/usr/bin/env bash
# Programme rules end to end (docs/programme.md): a synthetic county over three periods
# through the CLI (bench/outcomes-quality.sh, small): identification with precision 1 and
# every truly identified household found, outcomes judged per run agreeing with the
# generator's independent truth, families' state carried across runs, claims with evidence
# packs that verify offline, and a changed pack refused.
. "$(dirname "$0")/lib.bash"
X=$XCHG
S=$XCHG_SOURCE_DIR
skip_unless_in_force
W=$T/oq
OQ_XCHG=$X OQ_SYNTH=$XCHG_SYNTH OQ_WORK=$W bash "$S/bench/outcomes-quality.sh" 3000 "$S/policies/phase2.yaml" \
  > "$T/report.txt" 2>&1 || { cat "$T/report.txt"; }
last=$(tail -1 "$T/report.txt")
echo "$last"
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<<"$last"; }
# identification: every period and criterion, exact on this county
expect 0 "" -- test "$(field identification-precision)" = "1.0000"
expect 0 "" -- test "$(field recall)" = "1.0000"
expect 0 "" -- test "$(field claim-precision)" = "1.0000"
expect 0 "" -- awk -v a="$(field outcome-accuracy)" 'BEGIN { exit !(a >= 0.99) }'
expect 0 "" -- awk -v a="$(field claim-recall)" 'BEGIN { exit !(a >= 0.9) }'
# every pack written verifies offline
expect 0 "" -- grep -qE '^evidence packs: ([1-9][0-9]*) written, \1 verified offline' "$T/report.txt"
# state across runs: families identified in run 1 are judged in run 3, some met since run 2
expect 0 "" -- grep -q ',1,crime_asb\|,1,school_attendance\|,1,worklessness' "$W/outcomes-3.csv"
expect 0 "" -- grep -q ',2026-02-28,' "$W/outcomes-3.csv"
expect 0 "families tracked across runs" -- cat "$W/run-3.txt"
head -1 "$W/outcomes-3.csv" > "$T/head.txt"
expect 0 "family,identified,first_run,problem,status,baseline,latest,since,criteria_met,family_since_last_run" -- cat "$T/head.txt"
# a changed pack is refused, naming the file
P=$(ls "$W"/packs/*.xev | head -1)
sed '1s/"judged":"2026-08-31"/"judged":"2026-08-30"/' "$P" > "$T/changed.xev"
expect 0 "" -- bash -c "! cmp -s '$P' '$T/changed.xev'"
expect 1 "$T/changed.xev: error: evidence pack signature does not verify" -- \
  $X claims verify --agreement "$W/agreement.yaml" "$T/changed.xev"
expect 0 ": ok: family" -- $X claims verify --agreement "$W/agreement.yaml" "$P"
# claims need the matcher's key
expect 1 "signed with the matcher's key" -- $X claims --db "$W/db" --db-key "$W/db.key" \
  --agreement "$W/agreement.yaml" --key "$W/keys/operator-1.key"
finish

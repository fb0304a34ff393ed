#!/usr/bin/env bash
# report-bench.sh — xchg report on a generated county (issue 15).
#
#   bench/report-bench.sh [PEOPLE]      default 1,000,000 people
#
# Builds Release into build/bench-release, generates the county, seals every agency's
# extract under the phase-2 agreement with a geography (the county's postcode sectors in
# four areas, tests/report/geography.bash), ingests and links them, then times
# `xchg report --html` (the largest format) and runs the recovery attack on every table
# (report_attack). The last line is exactly:
#   report: <N> families <S> s <M> MiB
# N the families identified by the run, S the report command's wall time, M its peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
PEOPLE=${1:-1000000}
JOBS=${JOBS:-2}
B=build/bench-release
cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build $B -j"$JOBS" --target xchg xchg-synth report_attack >/dev/null
X=$B/tools/xchg
W=$(mktemp -d "${TMPDIR:-/tmp}/report-bench.XXXXXX")
[ -n "${KEEP:-}" ] && echo "work dir: $W" >&2 || trap 'rm -rf "$W"' EXIT
[ -x /usr/bin/time ] || { echo "report-bench: install the Debian package 'time'" >&2; exit 2; }
$B/bench/xchg-synth --people "$PEOPLE" --seed 1 --out "$W/county" --quiet
mkdir -p "$W/keys"
for p in $(awk '/^  - id: /{print $3}' policies/phase2.yaml); do
  $X keygen -o "$W/keys/$p" --label "$p" >/dev/null
done
. tests/report/geography.bash
{ cat policies/phase2.yaml; geography_for "$W/county"; } > "$W/unbound.yaml"
A=$W/phase2.yaml
$X policy bind-keys "$W/unbound.yaml" --keys "$W/keys" -o "$A" >/dev/null
for p in $(awk '/^  - id: /{print $3}' "$A"); do $X policy sign "$A" --key "$W/keys/$p.key" >/dev/null; done
$X secret new --agreement "$A" --key "$W/keys/county-ig.key" --epoch 1 -o "$W/s.xsec" >/dev/null
declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
XEX=()
for id in police education dwp social-care youth-offending housing health; do
  f=${FILE[$id]}
  $X seal --agreement "$A" --key "$W/keys/$id.key" --secret "$W/s.xsec" --in "$W/county/$f.csv" \
    -o "$W/$f.xex" --period 2025-11-01..2026-10-31 >/dev/null 2>&1
  XEX+=("$W/$f.xex")
done
DB=(--db "$W/m.db" --db-key "$W/m.dbkey" --agreement "$A")
$X match init --db "$W/m.db" --agreement "$A" --db-key-out "$W/m.dbkey" >/dev/null
$X match ingest "${DB[@]}" --key "$W/keys/matcher.key" "${XEX[@]}" >/dev/null
$X match run "${DB[@]}" --date 2026-10-31 --threads "$JOBS" > "$W/run.txt"
families=$(awk '/eligible families/{print $NF; exit}' "$W/run.txt")
start=$(date +%s.%N)
/usr/bin/time -v -o "$W/time.txt" $X report "${DB[@]}" --html -o "$W/report.html" 2>/dev/null
end=$(date +%s.%N)
$B/tests/report_attack "$W/m.db" "$W/m.dbkey" "$A" >&2
$X report "${DB[@]}" 2>/dev/null | sed 's/^/  /' >&2
printf 'report: %d families %.2f s %d MiB\n' "$families" "$(echo "$end - $start" | bc -l)" \
  "$(awk -F: '/Maximum resident/{print int($2/1024)}' "$W/time.txt")"

#!/usr/bin/env bash
# seal-bench.sh — sealing throughput on a generated county (issue 4's bench).
#
#   bench/seal-bench.sh [PEOPLE]      default 1,000,000 people (about 770,000 extract rows)
#
# Builds Release into build/bench-release, generates the county, makes keys, binds and signs
# the phase-2 agreement, makes the linkage secret, then seals every agency's extract on
# one core, reporting per agency and in total: rows, seconds, records/s, peak RSS, and the
# tokens made per record against the raw HMAC-SHA256 rate (bench/token_bench).
set -euo pipefail
cd "$(dirname "$0")/.."
PEOPLE=${1:-1000000}
B=build/bench-release
cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DXCHG_TESTS=OFF >/dev/null
cmake --build $B -j"$(nproc)" >/dev/null
X=$B/tools/xchg
W=$(mktemp -d "${TMPDIR:-/tmp}/seal-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
[ -x /usr/bin/time ] || { echo "seal-bench: install the Debian package 'time'" >&2; exit 2; }

$B/bench/xchg-synth --people "$PEOPLE" --seed 1 --out "$W/county" --quiet
mkdir -p "$W/keys"
for p in county-ig police education dwp social-care youth-offending housing health matcher tf-team operator-1 operator-2; do
  $X keygen -o "$W/keys/$p" --label "$p" --unprotected >/dev/null
done
A=$W/phase2.yaml
$X policy bind-keys policies/phase2.yaml --keys "$W/keys" -o "$A" >/dev/null
# the example agreements say release_key: required: deal it (docs/release.md section 4)
if grep -q "^release_key: required" "$A"; then mkdir -p "$W/shares" && $X release-key deal "$A" --shares "$W/shares" --force >/dev/null; fi
for p in $($X policy signatories "$A"); do $X policy sign "$A" --key "$W/keys/$p.key" >/dev/null; done
$X secret new --agreement "$A" --key "$W/keys/county-ig.key" --epoch 1 -o "$W/s.xsec" >/dev/null

declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
total_rows=0; total_s=0; peak=0; tokens=0
printf '%-16s %9s %8s %10s %9s %8s\n' agency rows seconds "records/s" "peak MiB" "tok/rec"
for id in police education dwp social-care youth-offending housing health; do
  f=${FILE[$id]}
  /usr/bin/time -v -o "$W/time.txt" $X seal --agreement "$A" --key "$W/keys/$id.key" \
    --secret "$W/s.xsec" --in "$W/county/$f.csv" -o "$W/$f.xex" --period 2025-11-01..2026-10-31 \
    > "$W/out.txt" 2>/dev/null
  rows=$(awk '/rows/{print $2; exit}' "$W/out.txt" | tr -d ,)
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$W/time.txt")
  rss=$(awk -F': ' '/Maximum resident/{print $2}' "$W/time.txt")
  tk=$($X extract inspect --agreement "$A" --key "$W/keys/matcher.key" "$W/$f.xex" |
       awk '/^    [a-z_]+ +[0-9]+$/{s+=$2} /blocking tokens|household tokens/{s+=$3} END{print s+0}')
  printf '%-16s %9d %8.2f %10.0f %9.1f %8.1f\n' "$id" "$rows" "$secs" "$(echo "$rows/$secs" | bc -l)" \
    "$(echo "$rss/1024" | bc -l)" "$(echo "$tk/$rows" | bc -l)"
  total_rows=$((total_rows + rows)); total_s=$(echo "$total_s + $secs" | bc -l)
  tokens=$((tokens + tk)); [ "$rss" -gt "$peak" ] && peak=$rss
done
rate=$(echo "$total_rows/$total_s" | bc -l)
printf '%-16s %9d %8.2f %10.0f %9.1f %8.1f\n' TOTAL "$total_rows" "$total_s" "$rate" \
  "$(echo "$peak/1024" | bc -l)" "$(echo "$tokens/$total_rows" | bc -l)"
printf 'records per minute per core: %.0f\n' "$(echo "$rate*60" | bc -l)"
$B/bench/token_bench 5000000 | tee "$W/tok.txt"
hr=$(awk '{print $(NF-3)}' "$W/tok.txt")
printf 'raw HMAC cost of the same tokens: %.2f s; sealing costs %.1fx that (CLK, normalisation, payload AEAD, I/O)\n' \
  "$(echo "$tokens/$hr" | bc -l)" "$(echo "$total_s/($tokens/$hr)" | bc -l)"

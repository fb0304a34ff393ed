#!/usr/bin/env bash
# ingest-bench.sh — the matcher store's ingest throughput on a generated county (issue 5).
#
#   bench/ingest-bench.sh [PEOPLE]      default 100,000 people
#
# Builds Release into build/bench-release, generates the county, seals every agency's
# extract (phase-2 agreement), then times `xchg match ingest` of all of them into a fresh
# store (key file), reporting records, seconds, records/s, peak RSS and the database size.
set -euo pipefail
cd "$(dirname "$0")/.."
PEOPLE=${1:-100000}
B=build/bench-release
cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DXCHG_TESTS=OFF >/dev/null
cmake --build $B -j"$(nproc)" >/dev/null
X=$B/tools/xchg
W=$(mktemp -d "${TMPDIR:-/tmp}/ingest-bench.XXXXXX")
[ -n "${KEEP:-}" ] && echo "work dir: $W" || trap 'rm -rf "$W"' EXIT
[ -x /usr/bin/time ] || { echo "ingest-bench: install the Debian package 'time'" >&2; exit 2; }
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
XEX=()
for id in police education dwp social-care youth-offending housing health; do
  f=${FILE[$id]}
  $X seal --agreement "$A" --key "$W/keys/$id.key" --secret "$W/s.xsec" --in "$W/county/$f.csv" \
    -o "$W/$f.xex" --period 2025-11-01..2026-10-31 >/dev/null 2>&1
  XEX+=("$W/$f.xex")
done
$X match init --db "$W/m.db" --agreement "$A" --db-key-out "$W/m.dbkey" >/dev/null
start=$(date +%s.%N)
/usr/bin/time -v -o "$W/time.txt" $X match ingest --db "$W/m.db" --db-key "$W/m.dbkey" \
  --agreement "$A" --key "$W/keys/matcher.key" "${XEX[@]}" >"$W/out.txt"
end=$(date +%s.%N)
cat "$W/out.txt"
rows=$(awk '/: ingested/{s+=$3} END{print s}' "$W/out.txt")
secs=$(echo "$end - $start" | bc -l)
peak=$(awk -F: '/Maximum resident/{print int($2/1024)}' "$W/time.txt")
size=$(du -cm "$W"/m.db* | awk 'END{print $1}')
printf 'ingest: %d records in %.2f s = %.0f records/s (whole command, 7 files, one transaction each); peak RSS %d MiB; store %d MiB\n' \
  "$rows" "$secs" "$(echo "$rows / $secs" | bc -l)" "$peak" "$size"
# the linkage run over everything ingested (time and peak memory of the whole command)
start=$(date +%s.%N)
/usr/bin/time -v -o "$W/time2.txt" $X match run --db "$W/m.db" --db-key "$W/m.dbkey" \
  --agreement "$A" --date 2026-10-31 >"$W/run.txt"
end=$(date +%s.%N)
sed 's/^/  /' "$W/run.txt"
printf 'match run: %.2f s wall (load from the store + link + save); peak RSS %d MiB\n' \
  "$(echo "$end - $start" | bc -l)" "$(awk -F: '/Maximum resident/{print int($2/1024)}' "$W/time2.txt")"

#!/usr/bin/env bash
# oprf-seal.sh — sealing in OPRF mode (issue 18 part 2): every agency's extract of a
# generated county sealed with its exact-match tokens through xchg-keyd on this machine.
#
#   bench/oprf-seal.sh [PEOPLE]      default 1,000,000 people (about 770,000 extract rows)
#   COMPARE=1 bench/oprf-seal.sh     also seal in shared-secret mode and print the ratio
#
# Builds Release into build/bench-release, generates the county, makes keys, an OPRF key
# and a demo CA, binds and signs the phase-2 agreement with a tokens section
# (mode: oprf), starts xchg-keyd on a free loopback port, then seals each agency's extract
# (one seal at a time; the daemon runs beside it), reporting per agency: rows, distinct
# OPRF inputs, requests, wall seconds and CPU seconds (the seal's user+sys and the
# daemon's, which do not depend on what else the machine runs). Last line:
# "oprf-seal: <records> records <S> s" (wall).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/bin/time ] || { echo "oprf-seal: install the Debian package 'time'" >&2; exit 2; }
PEOPLE=${1:-1000000}
B=build/bench-release
cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DXCHG_TESTS=OFF >/dev/null
cmake --build $B -j2 >/dev/null
X=$B/tools/xchg
KEYD=$B/tools/xchg-keyd
W=$(mktemp -d "${TMPDIR:-/tmp}/oprf-seal.XXXXXX")
KPID=
trap '[ -n "$KPID" ] && kill $KPID 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT

$B/bench/xchg-synth --people "$PEOPLE" --seed 1 --out "$W/county" --quiet
mkdir -p "$W/keys"
for p in county-ig police education dwp social-care youth-offending housing health matcher tf-team operator-1 operator-2; do
  $X keygen -o "$W/keys/$p" --label "$p" --unprotected >/dev/null 2>&1
done
PUB=$($KEYD keygen -o "$W/oprf.key" --unprotected 2>/dev/null)
sign() { # IN OUT
  $X policy bind-keys "$1" --keys "$W/keys" -o "$2" >/dev/null
  # the example agreements say release_key: required: deal it (docs/release.md section 4)
  if grep -q "^release_key: required" "$2"; then mkdir -p "$2.shares" && $X release-key deal "$2" --shares "$2.shares" --force >/dev/null; fi
  for p in $(awk '/^  - id: /{if (id != "") print id; id = $3} /^    signs_agreement: false/{id = ""} /^[^ ]/{if (id != "") print id; id = ""} END{if (id != "") print id}' "$2"); do $X policy sign "$2" --key "$W/keys/$p.key" >/dev/null; done
}
cp policies/phase2.yaml "$W/in.yaml"
printf '\ntokens: {mode: oprf, keyd: "https://127.0.0.1:8444", key: %s, queries_per_day: 100000000}\n' "$PUB" >>"$W/in.yaml"
A=$W/phase2-oprf.yaml
sign "$W/in.yaml" "$A"
$X secret new --agreement "$A" --key "$W/keys/county-ig.key" --epoch 1 -o "$W/s.xsec" >/dev/null
bash scripts/make-demo-ca.sh "$W/ca" 1 >/dev/null
$KEYD --agreement "$A" --oprf-key "$W/oprf.key" --audit "$W/keyd.audit" --cert "$W/ca/server.pem" \
  --tls-key "$W/ca/server.key" --listen 127.0.0.1:0 --threads 1 >"$W/keyd.out" 2>"$W/keyd.log" &
KPID=$!
for _ in $(seq 100); do grep -q "^listening on" "$W/keyd.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$W/keyd.out")
[ -n "$PORT" ] || { echo "oprf-seal: xchg-keyd did not start: $(cat "$W/keyd.log")" >&2; exit 1; }

declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
secs_of() { local t0=$1 t1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
# the daemon's CPU seconds so far (utime + stime)
keyd_cpu() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' /proc/$KPID/stat; }
total_rows=0; total_s=0; total_in=0; total_req=0; total_cpu=0
printf '%-16s %9s %9s %8s %8s %8s %8s %10s\n' agency rows "distinct" requests seconds "seal cpu" "keyd cpu" "records/s"
for id in police education dwp social-care youth-offending housing health; do
  f=${FILE[$id]}
  t0=$(date +%s.%N); k0=$(keyd_cpu)
  /usr/bin/time -f "%U %S" -o "$W/cpu.txt" $X seal --agreement "$A" --key "$W/keys/$id.key" \
    --secret "$W/s.xsec" --in "$W/county/$f.csv" \
    -o "$W/$f.xex" --period 2025-11-01..2026-10-31 --keyd-ca "$W/ca/ca.pem" \
    --keyd "https://127.0.0.1:$PORT" >"$W/out.txt" 2>"$W/err.txt" ||
    { echo "oprf-seal: $id: $(cat "$W/err.txt")" >&2; exit 1; }
  secs=$(secs_of "$t0")
  scpu=$(awk '{print $1 + $2}' "$W/cpu.txt"); kcpu=$(echo "$(keyd_cpu) - $k0" | bc -l)
  rows=$(awk '/rows/{print $2; exit}' "$W/out.txt" | tr -d ,)
  read -r din dreq < <(sed -n 's/.*OPRF through .*: \([0-9]*\) distinct values in \([0-9]*\) requests/\1 \2/p' "$W/out.txt")
  printf '%-16s %9d %9d %8d %8.2f %8.2f %8.2f %10.0f\n' "$id" "$rows" "$din" "$dreq" "$secs" \
    "$scpu" "$kcpu" "$(echo "$rows/$secs" | bc -l)"
  total_rows=$((total_rows + rows)); total_s=$(echo "$total_s + $secs" | bc -l)
  total_cpu=$(echo "$total_cpu + $scpu + $kcpu" | bc -l)
  total_in=$((total_in + din)); total_req=$((total_req + dreq))
done
printf '%-16s %9d %9d %8d %8.2f %17.2f %10.0f\n' TOTAL "$total_rows" "$total_in" "$total_req" \
  "$total_s" "$total_cpu" "$(echo "$total_rows/$total_s" | bc -l)"
printf 'OPRF evaluations: %d (%.0f per second end to end, keyd on the same machine)\n' "$total_in" \
  "$(echo "$total_in/$total_s" | bc -l)"
if [ -n "${COMPARE:-}" ]; then
  cp policies/phase2.yaml "$W/in2.yaml"
  sign "$W/in2.yaml" "$W/phase2.yaml"
  $X secret new --agreement "$W/phase2.yaml" --key "$W/keys/county-ig.key" --epoch 1 -o "$W/s2.xsec" >/dev/null
  base_s=0; base_cpu=0
  for id in police education dwp social-care youth-offending housing health; do
    f=${FILE[$id]}
    t0=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$W/cpu.txt" $X seal --agreement "$W/phase2.yaml" \
      --key "$W/keys/$id.key" --secret "$W/s2.xsec" \
      --in "$W/county/$f.csv" -o "$W/$f-secret.xex" --period 2025-11-01..2026-10-31 >/dev/null 2>&1
    base_s=$(echo "$base_s + $(secs_of "$t0")" | bc -l)
    base_cpu=$(echo "$base_cpu + $(awk '{print $1 + $2}' "$W/cpu.txt")" | bc -l)
  done
  printf 'shared-secret mode: %d records %.2f s (%.2f s CPU); OPRF mode costs %.2fx that (%.2fx in CPU)\n' \
    "$total_rows" "$base_s" "$base_cpu" "$(echo "$total_s/$base_s" | bc -l)" \
    "$(echo "$total_cpu/$base_cpu" | bc -l)"
fi
printf 'oprf-seal: %d records %.2f s\n' "$total_rows" "$total_s"

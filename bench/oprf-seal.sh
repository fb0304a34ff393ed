#!/usr/bin/env bash
# oprf-seal.sh — sealing in OPRF mode (issue 18 part 2): every agency's extract of a
# generated county sealed with its exact-match tokens through xchg-keyd on this machine.
#
#   bench/oprf-seal.sh [PEOPLE]      default 1,000,000 people (about 770,000 extract rows)
#   COMPARE=1 bench/oprf-seal.sh     also seal in shared-secret mode and print the ratios
#
# Builds Release into build/bench-release, generates the county, makes keys, an OPRF key
# and a demo CA, binds and signs the phase-2 agreement with a tokens section
# (mode: oprf), starts xchg-keyd on a free loopback port, then seals each agency's extract
# (one seal at a time; the daemon runs beside it), reporting per agency: rows, distinct
# OPRF inputs, requests, wall seconds and CPU seconds (the seal's user+sys and the
# daemon's, which do not depend on what else the machine runs). The county has two
# six-monthly periods: period 1 is sealed with an empty cache per agency (every value
# goes to the service), period 2 with the cache period 1 left (only new values do), as
# agencies seal every period. Lines "oprf-seal period 2 (cache): <records> records <S> s"
# and, last, the first (cold) seal: "oprf-seal: <records> records <S> s" (wall).
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

# two periods: an agency seals a full snapshot every period, the second with the cache the
# first left (docs/keyd.md "The agency's cache")
$B/bench/xchg-synth --people "$PEOPLE" --seed 1 --periods 2 --out "$W/county" --quiet
P1=$(awk -F, '$1==1{print $2}' "$W/county/truth/periods.csv")
P2=$(awk -F, '$1==2{print $2}' "$W/county/truth/periods.csv")
mkdir -p "$W/keys"
for p in county-ig police education dwp social-care youth-offending housing health matcher tf-team operator-1 operator-2; do
  $X keygen -o "$W/keys/$p" --label "$p" --unprotected >/dev/null 2>&1
done
PUB=$($KEYD keygen -o "$W/oprf.key" --unprotected 2>/dev/null)
sign() { # IN OUT
  $X policy bind-keys "$1" --keys "$W/keys" -o "$2" >/dev/null
  # the example agreements say release_key: required: deal it (docs/release.md section 4)
  if grep -q "^release_key: required" "$2"; then mkdir -p "$2.shares" && $X release-key deal "$2" --shares "$2.shares" --force >/dev/null; fi
  for p in $($X policy signatories "$2"); do $X policy sign "$2" --key "$W/keys/$p.key" >/dev/null; done
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
# seal_pass K END: seal every agency's period-K snapshot (evidence year ending END) in OPRF
# mode with its cache; sets pass_rows, pass_s, pass_cpu, pass_in, pass_cached
seal_pass() {
  local k=$1 end=$2 from
  from=$(date -u -d "$end - 365 days" +%F)
  pass_rows=0; pass_s=0; pass_in=0; pass_req=0; pass_cpu=0; pass_cached=0
  echo "period $k (evidence $from..$end), caches: $([ "$k" = 1 ] && echo empty || echo "those period 1 left")"
  printf '%-16s %9s %9s %9s %8s %8s %8s %8s %10s\n' agency rows "evaluated" "cached" requests seconds "seal cpu" "keyd cpu" "records/s"
  for id in police education dwp social-care youth-offending housing health; do
    local f=${FILE[$id]} t0 k0 secs scpu kcpu rows din dreq dc
    t0=$(date +%s.%N); k0=$(keyd_cpu)
    /usr/bin/time -f "%U %S" -o "$W/cpu.txt" $X seal --agreement "$A" --key "$W/keys/$id.key" \
      --secret "$W/s.xsec" --in "$W/county/period-$k/$f.csv" \
      -o "$W/$f-$k.xex" --period "$from..$end" --keyd-ca "$W/ca/ca.pem" \
      --keyd "https://127.0.0.1:$PORT" --oprf-cache "$W/$id.oprfcache" >"$W/out.txt" 2>"$W/err.txt" ||
      { echo "oprf-seal: $id: $(cat "$W/err.txt")" >&2; exit 1; }
    secs=$(secs_of "$t0")
    scpu=$(awk '{print $1 + $2}' "$W/cpu.txt"); kcpu=$(echo "$(keyd_cpu) - $k0" | bc -l)
    rows=$(awk '/rows/{print $2; exit}' "$W/out.txt" | tr -d ,)
    read -r din dreq dc < <(sed -n 's/.*OPRF through .*: \([0-9]*\) distinct values in \([0-9]*\) requests, \([0-9]*\) more from the cache/\1 \2 \3/p' "$W/out.txt")
    printf '%-16s %9d %9d %9d %8d %8.2f %8.2f %8.2f %10.0f\n' "$id" "$rows" "$din" "$dc" "$dreq" "$secs" \
      "$scpu" "$kcpu" "$(echo "$rows/$secs" | bc -l)"
    pass_rows=$((pass_rows + rows)); pass_s=$(echo "$pass_s + $secs" | bc -l)
    pass_cpu=$(echo "$pass_cpu + $scpu + $kcpu" | bc -l)
    pass_in=$((pass_in + din)); pass_req=$((pass_req + dreq)); pass_cached=$((pass_cached + dc))
  done
  printf '%-16s %9d %9d %9d %8d %8.2f %17.2f %10.0f\n' TOTAL "$pass_rows" "$pass_in" "$pass_cached" \
    "$pass_req" "$pass_s" "$pass_cpu" "$(echo "$pass_rows/$pass_s" | bc -l)"
}
# base_pass K END: the same snapshots in shared-secret mode; sets base_s, base_cpu
base_pass() {
  local k=$1 end=$2 from
  from=$(date -u -d "$end - 365 days" +%F)
  base_s=0; base_cpu=0
  for id in police education dwp social-care youth-offending housing health; do
    local f=${FILE[$id]} t0
    t0=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$W/cpu.txt" $X seal --agreement "$W/phase2.yaml" \
      --key "$W/keys/$id.key" --secret "$W/s2.xsec" \
      --in "$W/county/period-$k/$f.csv" -o "$W/$f-$k-secret.xex" --period "$from..$end" >/dev/null 2>&1
    base_s=$(echo "$base_s + $(secs_of "$t0")" | bc -l)
    base_cpu=$(echo "$base_cpu + $(awk '{print $1 + $2}' "$W/cpu.txt")" | bc -l)
  done
}
seal_pass 1 "$P1"
r1=$pass_rows; s1=$pass_s; c1=$pass_cpu; e1=$pass_in
printf 'OPRF evaluations: %d (%.0f per second end to end, keyd on the same machine)\n' "$e1" \
  "$(echo "$e1/$s1" | bc -l)"
seal_pass 2 "$P2"
r2=$pass_rows; s2=$pass_s; c2=$pass_cpu
printf 'period 2: %d values evaluated, %d from the caches (%.1f %%)\n' "$pass_in" "$pass_cached" \
  "$(echo "100 * $pass_cached / ($pass_in + $pass_cached)" | bc -l)"
if [ -n "${COMPARE:-}" ]; then
  cp policies/phase2.yaml "$W/in2.yaml"
  sign "$W/in2.yaml" "$W/phase2.yaml"
  $X secret new --agreement "$W/phase2.yaml" --key "$W/keys/county-ig.key" --epoch 1 -o "$W/s2.xsec" >/dev/null
  for k in 1 2; do
    if [ $k = 1 ]; then end=$P1; rs=$s1; rc=$c1; else end=$P2; rs=$s2; rc=$c2; fi
    base_pass $k "$end"
    printf 'period %d, shared-secret mode: %.2f s (%.2f s CPU); OPRF mode costs %.2fx that (%.2fx in CPU)\n' \
      "$k" "$base_s" "$base_cpu" "$(echo "$rs/$base_s" | bc -l)" "$(echo "$rc/$base_cpu" | bc -l)"
  done
fi
printf 'oprf-seal period 2 (cache): %d records %.2f s\n' "$r2" "$s2"
printf 'oprf-seal: %d records %.2f s\n' "$r1" "$s1"

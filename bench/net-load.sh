#!/usr/bin/env bash
# Load run (a benchmark, not a test): 200 sealed extracts submitted concurrently to one
# xchg-matcherd on loopback by several client processes, then all 200 again. Reports
# whether any submission was lost or duplicated, the time taken and the daemon's peak RSS.
# Usage: [HOUSEHOLDS=30] bench/net-load.sh [BUILD_DIR] [N=200] [CLIENTS=8]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$SRC/build}
N=${2:-200}
C=${3:-8}
X=$B/tools/xchg
D=$B/tools/xchg-matcherd
SYNTH=$(find "$B" -name xchg-synth -type f -perm -u+x | head -1)
W=$(mktemp -d /tmp/net-load.XXXXXX)
K=$W/keys
mkdir -p "$K" "$W/x"
DPID=
trap '[ -n "$DPID" ] && kill $DPID 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT

"$SYNTH" --households "${HOUSEHOLDS:-30}" --seed 5 --out "$W/county" -q
A0=$SRC/policies/phase2.yaml
for p in $(awk '/^  - id: /{print $3}' "$A0"); do "$X" keygen -o "$K/$p" --label "$p" --unprotected >/dev/null; done
A=$W/a.yaml
"$X" policy bind-keys "$A0" --keys "$K" -o "$A" >/dev/null
# the example agreements say release_key: required: deal it (docs/release.md section 4)
if grep -q "^release_key: required" "$A"; then mkdir -p "$W/shares" && "$X" release-key deal "$A" --shares "$W/shares" --force >/dev/null; fi
for p in $("$X" policy signatories "$A"); do "$X" policy sign "$A" --key "$K/$p.key" >/dev/null; done
"$X" secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$W/s.xsec" >/dev/null
declare -A CSV=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                [youth-offending]=yos [housing]=housing [health]=health)
AG=(police education dwp social-care youth-offending housing health)
echo "sealing $N extracts ..."
seal_one() { # i
  local a=${AG[$(( $1 % ${#AG[@]} ))]} m=$(( ($1 / ${#AG[@]}) % 12 + 1 )) y=$(( 2000 + $1 / 84 ))
  "$X" seal --agreement "$A" --key "$K/$a.key" --secret "$W/s.xsec" --in "$W/county/${CSV[$a]}.csv" \
    -o "$W/x/$(printf %03d "$1").xex" --period "$(printf '%d-%02d-01..%d-%02d-28' $y $m $y $m)" >/dev/null 2>&1
}
pids=()
for i in $(seq 0 $((N - 1))); do
  seal_one "$i" & pids+=($!)
  if (( i % 8 == 7 )); then wait "${pids[@]}"; pids=(); fi
done
[ ${#pids[@]} -gt 0 ] && wait "${pids[@]}"
ls "$W"/x/*.xex | wc -l | xargs echo "sealed:"

"$X" match init --db "$W/m.db" --agreement "$A" --db-key-out "$W/m.dbkey" >/dev/null
bash "$SRC/scripts/make-demo-ca.sh" "$W/ca" 1 >/dev/null
"$D" --agreement "$A" --key "$K/matcher.key" --db "$W/m.db" --db-key "$W/m.dbkey" \
  --cert "$W/ca/server.pem" --tls-key "$W/ca/server.key" --listen 127.0.0.1:0 --threads 4 \
  --max-upload 100000000 >"$W/d.out" 2>"$W/d.log" &
DPID=$!
for _ in $(seq 100); do grep -q "^listening" "$W/d.out" 2>/dev/null && break; sleep 0.1; done
URL=https://$(sed -n 's/^listening on //p' "$W/d.out")

submit_all() { # label
  local t0=$SECONDS start=$(date +%s.%N)
  local cp=()
  ls "$W"/x/*.xex | split -n r/"$C" - "$W/part."
  for part in "$W"/part.*; do
    # each client process submits its share, all of it at once (N/C in flight per client: N concurrent in all)
    ( xargs -P $(( (N + C - 1) / C )) -n 1 "$X" submit --url "$URL" --ca "$W/ca/ca.pem" --agreement "$A" \
        --key "$K/police.key" --retries 5 <"$part" >"$part.out" 2>"$part.err" || true ) &
    cp+=($!)
  done
  wait "${cp[@]}"   # not a bare wait: the daemon is a child too
  local end; end=$(date +%s.%N)
  cat "$W"/part.*.out >"$W/$1.out"; cat "$W"/part.*.err >"$W/$1.err"; rm -f "$W"/part.*
  printf '%s: %d submissions in %.2f s\n' "$1" "$N" "$(echo "$end - $start" | bc)"
}
submit_all first
submit_all again

acc1=$(grep -c ': \(ingested\|stored superseded\) by the matcher' "$W/first.out" || true)
dup1=$(grep -c 'already ingested' "$W/first.out" || true)
acc2=$(grep -c 'already ingested' "$W/again.out" || true)
errs=$(cat "$W/first.err" "$W/again.err" | grep -c 'error' || true)
stored=$("$X" match ingest --db "$W/m.db" --db-key "$W/m.dbkey" --agreement "$A" --key "$K/matcher.key" "$W/none" 2>/dev/null | grep '^store:' || true)
ids=$(grep -o 'extract [0-9a-f]*' "$W/first.out" | sort -u | wc -l)
rss=$(awk '/VmHWM/{print $2, $3}' /proc/$DPID/status)
mb=$(sed -n 's/.*status=201 .*bytes_in=\([0-9]*\).*/\1/p' "$W/d.log" | awk '{s+=$1} END{printf "%.1f", s/1e6}')
reqs=$(grep -c 'method=POST' "$W/d.log" || true)
s201=$(grep -c 'status=201' "$W/d.log" || true); s200=$(grep -c 'status=200' "$W/d.log" || true)
kill -TERM $DPID; wait $DPID; DPID=
echo "first round: accepted $acc1 of $N (already ingested: $dup1); distinct extract ids: $ids"
echo "second round: 'already ingested' $acc2 of $N"
echo "$stored"
echo "client errors/retries reported: $errs; daemon POSTs logged: $reqs (201: $s201, 200: $s200)"
echo "uploaded in the first round: $mb MB; daemon peak RSS: $rss"
[ "$acc1" = "$N" ] && [ "$acc2" = "$N" ] && [ "$ids" = "$N" ] && echo "none lost, none duplicated" || { echo "MISMATCH"; exit 1; }

#!/usr/bin/env bash
# Slowloris benchmark (not a test): latency of signed health requests from 127.0.0.1 to one
# xchg-matcherd on loopback while slow TLS connections (tests/tools/slowloris.c: a header
# line every 2 s, never finishing) hold it, in two attacks of at most 20 s each:
#   single:      520 connections from 127.0.0.2 (the per-address limit refuses all but 16)
#   distributed: 40 addresses 127.0.0.10..49 x 13 = 520 connections, enough to fill all 512
#                slots; only the --header-timeout deadline frees them
# A health request is made every 0.25 s during each attack (curl --max-time 5); prints the
# count, failures, median, 95th percentile and maximum latency.
# Usage: bench/slowloris.sh [BUILD_DIR] [HEADER_TIMEOUT=10]   (MATCHERD=path to compare
# another daemon binary; it is started with the same flags minus --header-timeout if
# OLD=1)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$SRC/build}
HT=${2:-10}
X=$B/tools/xchg
D=${MATCHERD:-$B/tools/xchg-matcherd}
NS=$B/tests/netsign
SL=$B/tests/slowloris
SYNTH=$(find "$B" -name xchg-synth -type f -perm -u+x | head -1)
W=$(mktemp -d /tmp/slowloris-bench.XXXXXX)
K=$W/keys
mkdir -p "$K"
DPID=
trap '[ -n "$DPID" ] && kill $DPID 2>/dev/null; jobs -p | xargs -r kill 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT

A0=$SRC/policies/phase2.yaml
for p in $(awk '/^  - id: /{print $3}' "$A0"); do "$X" keygen -o "$K/$p" --label "$p" --unprotected >/dev/null; done
A=$W/a.yaml
"$X" policy bind-keys "$A0" --keys "$K" -o "$A" >/dev/null
# the example agreements say release_key: required: deal it (docs/release.md section 4)
if grep -q "^release_key: required" "$A"; then mkdir -p "$W/shares" && "$X" release-key deal "$A" --shares "$W/shares" --force >/dev/null; fi
for p in $("$X" policy signatories "$A"); do "$X" policy sign "$A" --key "$K/$p.key" >/dev/null; done
"$X" match init --db "$W/m.db" --agreement "$A" --db-key-out "$W/m.dbkey" >/dev/null
bash "$SRC/scripts/make-demo-ca.sh" "$W/ca" 1 >/dev/null
EXTRA=(--header-timeout "$HT")
[ "${OLD:-0}" = 1 ] && EXTRA=()
"$D" --agreement "$A" --key "$K/matcher.key" --db "$W/m.db" --db-key "$W/m.dbkey" \
  --cert "$W/ca/server.pem" --tls-key "$W/ca/server.key" --listen 127.0.0.1:0 --threads 4 \
  "${EXTRA[@]}" >"$W/d.out" 2>"$W/d.log" &
DPID=$!
for _ in $(seq 100); do grep -q "^listening" "$W/d.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$W/d.out")
[ -n "$PORT" ] || { echo "daemon did not start: $(cat "$W/d.log")"; exit 1; }
URL=https://127.0.0.1:$PORT
echo "daemon: $D (header timeout ${EXTRA[1]:-none}), port $PORT"

probe() { # OUTFILE: health requests every 0.25 s until the attackers are gone (max 20 s);
  # each line: HTTP status, seconds taken, seconds since the attack began
  local end=$((SECONDS + 21)) start=$(date +%s%N)
  while [ $SECONDS -lt $end ] && [ -n "$(jobs -p -r | grep -v "^$DPID$" || true)" ]; do
    local at=$(( ($(date +%s%N) - start) / 1000000 + 1000 ))
    "$NS" "$K/police.key" GET /v1/health >"$W/h.hdr"
    { curl -s --max-time 5 -o /dev/null -w '%{http_code} %{time_total}' --cacert "$W/ca/ca.pem" \
      -H @"$W/h.hdr" "$URL/v1/health" || echo "000 5"; } | awk -v at=$at '{print $1, $2, at / 1000}' >>"$1"
    sleep 0.25
  done
}
summary() { # NAME FILE
  sort -k2 -g "$2" | awk -v name="$1" '
    { n++; if ($1 != 200) { f++; when = when sprintf(" %.1fs", $3) } else ok[++m] = $2 }
    END { if (m == 0) { printf "%-12s requests=%d failed=%d (no successful request)\n", name, n, f; exit }
          p = int(m * 0.95); if (p < 1) p = 1
          printf "%-12s requests=%d failed=%d median=%.1f ms p95=%.1f ms max=%.1f ms\n", name, n, f,
                 ok[int((m + 1) / 2)] * 1000, ok[p] * 1000, ok[m] * 1000
          if (f) printf "             failed requests began at (s into the attack):%s\n", when }'
}

: >"$W/base"
for _ in $(seq 20); do
  "$NS" "$K/police.key" GET /v1/health >"$W/h.hdr"
  curl -s --max-time 5 -o /dev/null -w '%{http_code} %{time_total}\n' --cacert "$W/ca/ca.pem" \
    -H @"$W/h.hdr" "$URL/v1/health" >>"$W/base" || echo "000 5" >>"$W/base"
done
summary "no attack" "$W/base"

"$SL" 127.0.0.1 "$PORT" --from 127.0.0.2 --conns 520 --interval 2 --open-for 5 --max-time 20 >"$W/a1.out" &
sleep 1
: >"$W/single"; probe "$W/single"; wait %2 2>/dev/null || true
summary "single" "$W/single"; echo "             attacker: $(tail -1 "$W/a1.out")"

for i in $(seq 10 49); do
  "$SL" 127.0.0.1 "$PORT" --from 127.0.0.$i --conns 13 --interval 2 --open-for 5 --max-time 20 >"$W/a2.$i.out" &
done
sleep 1
: >"$W/dist"; probe "$W/dist"
while [ -n "$(jobs -p -r | grep -v "^$DPID$" || true)" ]; do sleep 0.2; done
summary "distributed" "$W/dist"
awk '{for (i = 1; i <= NF; i++) { split($i, kv, "="); s[kv[1]] += kv[2] } }
     END { printf "             attackers: opened=%d refused=%d cut=%d open_at_end=%d\n", s["opened"], s["refused"], s["cut"], s["open_at_end"] }' \
  <(grep -h '^opened=' "$W"/a2.*.out)

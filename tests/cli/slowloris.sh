#!/usr/bin/env bash
# Slowloris: 520 slow TLS connections from 127.0.0.2 (tests/tools/slowloris.c: a request
# line, then one header line every 2 s, never finishing; bounded to 20 s and stops by
# itself) against a real xchg-matcherd on loopback (port 0). Meanwhile signed requests from
# 127.0.0.1 are served: a health check (each within curl's 5 s limit; the latency is logged,
# not asserted — bench/slowloris.sh measures it) and a sealed extract submission. The
# daemon's limits hold: the attacker gets at most --max-per-ip (default 16) connections —
# the rest are refused at accept — and every one it got is closed by the daemon at its
# --header-timeout deadline (8 s here) although it kept sending, each logged as one event=deadline
# line; a signed upload whose body trickles is closed at --body-timeout. (Before these limits the attacker held 512 slots and the signed requests failed.)
. "$(dirname "$0")/lib.bash"
X=$XCHG
D=$XCHG_MATCHERD
NS=$XCHG_NETSIGN
SL=$XCHG_SLOWLORIS
S=$XCHG_SOURCE_DIR
K=$T/keys
mkdir -p "$K"
skip_unless_in_force
ok() { PASSES=$((PASSES+1)); }
bad() { echo "FAIL: $*"; FAILS=$((FAILS+1)); }
DPID= APID=
trap '[ -n "$APID" ] && kill $APID 2>/dev/null; [ -n "$DPID" ] && kill $DPID 2>/dev/null; wait 2>/dev/null; [ -n "${XCHG_KEEP:-}" ] || rm -rf "$T"' EXIT

# an agreement, keys, and one sealed extract to submit
$XCHG_SYNTH --households 10 --seed 3 --out "$T/county" -q
A0=$S/policies/phase2.yaml
for p in $(awk '/^  - id: /{print $3}' "$A0"); do $X keygen -o "$K/$p" --label "Test $p" --unprotected >/dev/null; done
A=$T/phase2.yaml
$X policy bind-keys "$A0" --keys "$K" -o "$A" >/dev/null
# the example agreements say release_key: required: deal it (docs/release.md section 4)
mkdir -p "$T/shares" && $X release-key deal "$A" --shares "$T/shares" --force >/dev/null
for p in $(signatories "$A"); do $X policy sign "$A" --key "$K/$p.key" >/dev/null; done
$X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$T/s.xsec" >/dev/null
$X seal --agreement "$A" --key "$K/police.key" --secret "$T/s.xsec" --in "$T/county/police.csv" \
  -o "$T/police.xex" --period 2025-11-01..2026-10-31 >/dev/null 2>&1 || bad "seal"
DB=$T/m.db
$X match init --db "$DB" --agreement "$A" --db-key-out "$T/m.dbkey" >/dev/null
bash "$S/scripts/make-demo-ca.sh" "$T/ca" 1 >/dev/null

PER_IP=16 # the daemon's default --max-per-ip
"$D" --agreement "$A" --key "$K/matcher.key" --db "$DB" --db-key "$T/m.dbkey" \
  --cert "$T/ca/server.pem" --tls-key "$T/ca/server.key" --listen 127.0.0.1:0 \
  --threads 2 --timeout 10 --header-timeout 8 --body-timeout 3 >"$T/d.out" 2>"$T/d.log" &
DPID=$!
for _ in $(seq 100); do grep -q "^listening on" "$T/d.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$T/d.out")
[ -n "$PORT" ] && ok || { bad "daemon did not start: $(cat "$T/d.log")"; finish; exit 1; }
URL=https://127.0.0.1:$PORT

# the attack: opening for at most 5 s (+2 s for a handshake under way; less than the 8 s
# deadline, so no slot is freed while it opens), a header line every 2 s (well inside the
# 10 s idle timeout)
"$SL" 127.0.0.1 "$PORT" --from 127.0.0.2 --conns 520 --interval 2 --open-for 5 --max-time 20 \
  >"$T/sl.out" 2>"$T/sl.err" &
APID=$!
for _ in $(seq 150); do grep -q "^holding" "$T/sl.out" 2>/dev/null && break; sleep 0.1; done
grep -q "^holding" "$T/sl.out" && ok || bad "attacker did not get going: $(cat "$T/sl.out" "$T/sl.err")"
echo "attacker: $(head -1 "$T/sl.out")"

# legitimate signed requests from 127.0.0.1 during the attack
health() { # -> prints the HTTP status and the time taken
  $NS "$K/police.key" GET /v1/health >"$T/h.hdr"
  curl -s --max-time 5 -o "$T/h.out" -w '%{http_code} %{time_total}' --cacert "$T/ca/ca.pem" \
    -H @"$T/h.hdr" "$URL/v1/health" || true
}
read -r code secs <<<"$(health)"
echo "health during the attack: HTTP $code in ${secs}s"
[ "$code" = 200 ] && grep -q '"status":"ok"' "$T/h.out" && ok || bad "health during the attack: HTTP $code"
t0=$(date +%s%N)
expect 0 "ingested by the matcher" -- timeout 30 $X submit "$T/police.xex" --url "$URL" --ca "$T/ca/ca.pem" \
  --agreement "$A" --key "$K/police.key" --retries 0
echo "submission during the attack: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
read -r code secs <<<"$(health)"
echo "health during the attack (again): HTTP $code in ${secs}s"
[ "$code" = 200 ] && ok || bad "second health during the attack: HTTP $code"

# the attacker's account: it stops by itself (20 s at most)
wait $APID
APID=
report=$(sed -n 's/^opened=/opened=/p' "$T/sl.out")
echo "attacker: $report"
val() { sed -n "s/.*\\b$1=\\([-0-9]*\\).*/\\1/p" <<<"$report"; }
opened=$(val opened) refused=$(val refused) cut=$(val cut) left=$(val open_at_end)
[ -n "$opened" ] && ok || bad "no attacker report: $(cat "$T/sl.out" "$T/sl.err")"
[ "${opened:-999}" -ge 1 ] && [ "${opened:-999}" -le $PER_IP ] && ok ||
  bad "attacker got $opened connections from one address (limit $PER_IP)"
[ $(( ${opened:-0} + ${refused:-0} )) -ge 1 ] && [ "${refused:-0}" -ge 1 ] && ok || bad "no connection refused by the per-address limit"
[ "${left:-1}" = 0 ] && [ "${cut:-0}" = "${opened:-x}" ] && ok ||
  bad "slow connections not closed by their deadline: $cut of $opened cut, $left still open after 20 s"
for _ in $(seq 50); do # the daemon logs each as it closes it
  n=$(grep -c 'event=deadline peer=127.0.0.2 phase=request limit_s=8' "$T/d.log")
  [ "$n" = "$opened" ] && break
  sleep 0.1
done
[ "$n" = "$opened" ] && ok || bad "want $opened event=deadline log lines, got $n: $(grep deadline "$T/d.log" | head -3)"
# a signed upload whose body trickles (4 MB at 100 kB/s: 40 s) is closed at the 3 s
# --body-timeout deadline, logged, and leaves no temporary file
head -c 4000000 /dev/zero >"$T/slow.bin"
$NS "$K/police.key" POST /v1/extracts "$T/slow.bin" >"$T/slow.hdr"
curl -s --max-time 30 --limit-rate 100k -o /dev/null --cacert "$T/ca/ca.pem" -H @"$T/slow.hdr" \
  -H "Content-Type: application/octet-stream" --data-binary @"$T/slow.bin" "$URL/v1/extracts" &&
  bad "a 40 s upload finished under a 3 s body deadline" || ok
for _ in $(seq 50); do grep -q 'event=deadline peer=127.0.0.1 phase=body limit_s=3' "$T/d.log" && break; sleep 0.1; done
grep -q 'event=deadline peer=127.0.0.1 phase=body limit_s=3' "$T/d.log" && ok ||
  bad "slow upload not closed at the body deadline: $(tail -3 "$T/d.log")"
for _ in $(seq 50); do [ -z "$(ls -A "$T" | grep xchg-upload)" ] && break; sleep 0.1; done
[ -z "$(ls -A "$T" | grep xchg-upload)" ] && ok || bad "temporary upload left behind"

# the daemon is still healthy afterwards, and its log lines are all well-formed
read -r code secs <<<"$(health)"
[ "$code" = 200 ] && ok || bad "health after the attack: HTTP $code"
! grep -qv '^time=' "$T/d.log" && ok || bad "a log line does not start with time=: $(grep -v '^time=' "$T/d.log" | head -3)"
kill -TERM $DPID
wait $DPID && ok || bad "daemon exit status after SIGTERM"
DPID=
finish

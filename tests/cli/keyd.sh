#!/usr/bin/env bash
# The OPRF key service (xchg-keyd) against agencies sealing over HTTPS on loopback (port 0):
# sealing in OPRF mode links the same people as shared-secret mode (same partition of the
# records into persons); the service is only ever given blinded points (two runs over the
# same file send no point twice — an unblinded H(x) would repeat) and its audit and log
# hold counts, never a point; the daily rate limit refuses with a clear error at the
# agency and no output; an agreement with another key detects the answers as not
# verifying; a daemon started with the wrong key refuses to start; unsigned, wrongly
# signed, replayed, wrong-role and malformed requests are refused.
. "$(dirname "$0")/lib.bash"
X=$XCHG
KEYD=${XCHG_KEYD:-$(dirname "$XCHG")/xchg-keyd}
NS=$XCHG_NETSIGN
S=$XCHG_SOURCE_DIR
K=$T/keys
mkdir -p "$K"
today=$(date -u +%F)
if [[ "$today" < "2026-04-01" || "$today" > "2028-03-31" ]]; then
  echo "skipped: the example agreements are not in force on $today"; echo "0 passed, 0 failed"; exit 0
fi
ok() { PASSES=$((PASSES+1)); }
bad() { echo "FAIL: $*"; FAILS=$((FAILS+1)); }
# every party key of this test is made here (one place for keygen flags)
mkkey() { $X keygen -o "$K/$1" --label "Test $1" --unprotected >/dev/null 2>&1; }
# the signed agreement: phase2.yaml with a tokens section; sign AGREEMENT OUT [TOKENS-LINE]
signed() {
  cp "$S/policies/phase2.yaml" "$T/in.yaml"
  [ -n "${3:-}" ] && printf '\n%s\n' "$3" >>"$T/in.yaml"
  $X policy bind-keys "$T/in.yaml" --keys "$K" -o "$2" >/dev/null
  # the example agreements say release_key: required: deal it (docs/release.md section 4)
  mkdir -p "$2.shares" && $X release-key deal "$2" --shares "$2.shares" --force >/dev/null
  for p in $(signatories "$2"); do
    $X policy sign "$2" --key "$K/$p.key" >/dev/null
  done
}

$XCHG_SYNTH --households 40 --seed 7 --out "$T/county" -q
for p in $(awk '/^  - id: /{print $3}' "$S/policies/phase2.yaml"); do mkkey "$p"; done
PUB=$("$KEYD" keygen -o "$T/oprf.key" --unprotected 2>/dev/null)
[ "$(stat -c %a "$T/oprf.key")" = 600 ] && [ ${#PUB} = 64 ] && ok || bad "keygen: key file mode or public key '$PUB'"
expect 3 "exists; refusing to overwrite" -- "$KEYD" keygen -o "$T/oprf.key" --unprotected
PUB2=$("$KEYD" keygen -o "$T/other.key" --unprotected 2>/dev/null)
# a passphrase-protected key (the default): 0600, the key not in the file in the clear,
# no terminal and no --passphrase-fd is refused with a hint
echo "keyd pass phrase" >"$T/pass"
PUBP=$("$KEYD" keygen -o "$T/prot.key" --passphrase-fd 3 3<"$T/pass" 2>/dev/null)
[ "$(stat -c %a "$T/prot.key")" = 600 ] && [ ${#PUBP} = 64 ] && head -1 "$T/prot.key" | grep -qx "xchg-oprf-key v2" && ok ||
  bad "protected keygen: mode, public key '$PUBP' or file tag"
expect 2 "no terminal to ask for the passphrase" -- "$KEYD" keygen -o "$T/prot2.key" </dev/null
[ -e "$T/prot2.key" ] && bad "a failed keygen left a key file" || ok
URL0=https://keyd.invalid:8444
A=$T/oprf.yaml; AS=$T/secret.yaml; AL=$T/limited.yaml; AW=$T/wrongkey.yaml
signed x "$AS"
signed x "$A" "tokens: {mode: oprf, keyd: \"$URL0\", key: $PUB, queries_per_day: 100000}"
signed x "$AL" "tokens: {mode: oprf, keyd: \"$URL0\", key: $PUB, queries_per_day: 10}"
signed x "$AW" "tokens: {mode: oprf, keyd: \"$URL0\", key: $PUB2, queries_per_day: 100000}"
AP=$T/protected.yaml
signed x "$AP" "tokens: {mode: oprf, keyd: \"$URL0\", key: $PUBP, queries_per_day: 100000}"
$X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$T/s.xsec" >/dev/null
bash "$S/scripts/make-demo-ca.sh" "$T/ca" 1 >/dev/null

# start_keyd NAME AGREEMENT KEYFILE: the daemon on a free port; sets PORT (or fails)
start_keyd() {
  "$KEYD" --agreement "$2" --oprf-key "$3" --audit "$T/$1.audit" --record-inputs "$T/$1.rec" \
    --cert "$T/ca/server.pem" --tls-key "$T/ca/server.key" --listen 127.0.0.1:0 --threads 2 \
    >"$T/$1.out" 2>"$T/$1.log" &
  LASTPID=$!
  for _ in $(seq 100); do grep -q "^listening on" "$T/$1.out" 2>/dev/null && break; sleep 0.1; done
  PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$T/$1.out")
}
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null; wait $p 2>/dev/null; done; rm -rf "$T"' EXIT

# the wrong key for the agreement: refused at start
expect 1 "is not the key of agreement" -- "$KEYD" --agreement "$A" --oprf-key "$T/other.key" \
  --audit "$T/w.audit" --cert "$T/ca/server.pem" --tls-key "$T/ca/server.key" --listen 127.0.0.1:0
# a key file others can read: refused
cp "$T/oprf.key" "$T/loose.key"; chmod 644 "$T/loose.key"
expect 1 "readable by others" -- "$KEYD" --agreement "$A" --oprf-key "$T/loose.key" \
  --audit "$T/w.audit" --cert "$T/ca/server.pem" --tls-key "$T/ca/server.key" --listen 127.0.0.1:0
# an agreement without a tokens section: nothing to serve
expect 2 "no 'tokens: {mode: oprf}' section" -- "$KEYD" --agreement "$AS" --oprf-key "$T/oprf.key" \
  --audit "$T/w.audit" --cert "$T/ca/server.pem" --tls-key "$T/ca/server.key" --listen 127.0.0.1:0

ulimit -c "$(ulimit -H -c)" 2>/dev/null || true
start_keyd kd "$A" "$T/oprf.key"; PIDS+=($LASTPID); KPID=$LASTPID
[ -n "$PORT" ] && ok || { bad "keyd did not start: $(cat "$T/kd.log")"; finish; exit 1; }
URL=https://127.0.0.1:$PORT
core=$(awk '/^Max core file size/{print $5, $6}' /proc/$KPID/limits 2>/dev/null)
[ "$core" = "0 0" ] && ok || bad "keyd core file size limit is '$core' (want '0 0')"

declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
SEAL=(--period 2025-11-01..2026-10-31 --empty-snapshot)
# an OPRF agreement without --keyd-ca: a clear usage error, nothing written
expect 2 "give its CA with --keyd-ca" -- $X seal --agreement "$A" --key "$K/police.key" \
  --secret "$T/s.xsec" --in "$T/county/police.csv" -o "$T/none.xex" "${SEAL[@]}"
[ -e "$T/none.xex" ] && bad "an output was written without a key service" || ok
mkdir -p "$T/o" "$T/s"
for a in "${!FILE[@]}"; do
  f=${FILE[$a]}
  expect 0 "tokens: OPRF through $URL" -- $X seal --agreement "$A" --key "$K/$a.key" \
    --secret "$T/s.xsec" --in "$T/county/$f.csv" -o "$T/o/$f.xex" "${SEAL[@]}" \
    --keyd-ca "$T/ca/ca.pem" --keyd "$URL"
  expect 0 "" -- $X seal --agreement "$AS" --key "$K/$a.key" --secret "$T/s.xsec" \
    --in "$T/county/$f.csv" -o "$T/s/$f.xex" "${SEAL[@]}"
done
# the service was given blinded points only: the police file sealed again sends none twice
n1=$(wc -l <"$T/kd.rec")
expect 0 "" -- $X seal --agreement "$A" --key "$K/police.key" --secret "$T/s.xsec" \
  --in "$T/county/police.csv" -o "$T/o/police2.xex" "${SEAL[@]}" --keyd-ca "$T/ca/ca.pem" --keyd "$URL"
n2=$(wc -l <"$T/kd.rec")
np=$(grep -c '"agency":"police"' "$T/kd.audit")
[ "$n2" -gt "$n1" ] && [ "$(sort "$T/kd.rec" | uniq -d | wc -l)" = 0 ] && ok ||
  bad "a point reached the service twice ($n1, $n2 points; $(sort "$T/kd.rec" | uniq -d | wc -l) repeated)"
# the audit counts per agency match what was received; no point appears in audit or log
sum=$(sed -n 's/.*"evaluations":\([0-9]*\).*"outcome":"ok".*/\1/p' "$T/kd.audit" | paste -sd+ | bc)
[ "$sum" = "$n2" ] && [ "$np" = 2 ] && ok || bad "audit counts $sum evaluations (service received $n2), police requests $np"
head -c 64 "$T/kd.rec" >"$T/p1"
if grep -qF -f <(cut -c1-64 "$T/kd.rec") "$T/kd.audit" "$T/kd.log"; then bad "a point is in the audit or log"; else ok; fi

# the agency's cache (docs/keyd.md "The agency's cache"): the first seal with it asks the
# service for every value, the next for none — the service receives nothing more — and its
# extract links exactly as the others (below: it stands in for the police extract); the
# file is 0600 and another agency's key cannot open it (refused, naming it, nothing written)
mkdir -p "$T/c"
CSEAL=(--secret "$T/s.xsec" "${SEAL[@]}" --keyd-ca "$T/ca/ca.pem" --keyd "$URL" --oprf-cache "$T/c/police.cache")
$X seal --agreement "$A" --key "$K/police.key" --in "$T/county/police.csv" -o "$T/c/police3.xex" \
  "${CSEAL[@]}" >"$T/c/first.out" 2>"$T/c/first.err" && ok || bad "the first cached seal failed: $(cat "$T/c/first.err")"
nd=$(sed -n 's/.*OPRF through .*: \([0-9]*\) distinct values in [0-9]* requests, 0 more from the cache$/\1/p' "$T/c/first.out")
[ -n "$nd" ] && [ "$nd" -gt 0 ] && ok || bad "the first seal with a cache did not evaluate every value: $(cat "$T/c/first.out")"
n3=$(wc -l <"$T/kd.rec")
expect 0 "tokens: OPRF through $URL: 0 distinct values in 0 requests, $nd more from the cache" -- \
  $X seal --agreement "$A" --key "$K/police.key" --in "$T/county/police.csv" -o "$T/c/police4.xex" "${CSEAL[@]}"
[ "$(wc -l <"$T/kd.rec")" = "$n3" ] && ok || bad "a cached seal sent points to the service"
[ "$(stat -c %a "$T/c/police.cache")" = 600 ] && ok || bad "the cache is not 0600"
expect 1 "$T/c/police.cache: error: the OPRF cache does not open with this agency's key" -- \
  $X seal --agreement "$A" --key "$K/education.key" --in "$T/county/${FILE[education]}.csv" \
  -o "$T/c/edu.xex" "${CSEAL[@]}"
[ -e "$T/c/edu.xex" ] && bad "a seal with another agency's cache left an output" || ok
# a cache that cannot be written loses nothing: the extract is sealed, with a warning
NOD=(--secret "$T/s.xsec" "${SEAL[@]}" --keyd-ca "$T/ca/ca.pem" --keyd "$URL" --oprf-cache "$T/c/no-such-dir/p.cache")
expect 0 "the OPRF cache was not updated" -- $X seal --agreement "$A" --key "$K/police.key" \
  --in "$T/county/police.csv" -o "$T/c/nodir.xex" "${NOD[@]}"
[ -s "$T/c/nodir.xex" ] && ok || bad "a cache that could not be written stopped the seal"
# a cache for an agreement without a key service is a mistake, refused, nothing written
expect 2 "does not key its tokens through a key service" -- $X seal --agreement "$AS" --key "$K/police.key" \
  --secret "$T/s.xsec" --in "$T/county/police.csv" -o "$T/c/shared.xex" "${SEAL[@]}" --oprf-cache "$T/c/shared.cache"
[ -e "$T/c/shared.xex" ] || [ -e "$T/c/shared.cache" ] && bad "a refused seal left a file" || ok
# a check writes nothing, the cache included
CHK=(--secret "$T/s.xsec" "${SEAL[@]}" --keyd-ca "$T/ca/ca.pem" --keyd "$URL" --oprf-cache "$T/c/check.cache")
expect 0 "nothing written" -- $X seal --check --agreement "$A" --key "$K/police.key" --in "$T/county/police.csv" "${CHK[@]}"
[ -e "$T/c/check.cache" ] && bad "seal --check wrote an OPRF cache" || ok

# OPRF tokens link exactly as shared-secret tokens do: the same records form the same persons
for m in o s; do
  DB="--db $T/$m.db --db-key $T/$m.dbkey"
  agr=$A; [ $m = s ] && agr=$AS
  $X match init --db "$T/$m.db" --agreement "$agr" --db-key-out "$T/$m.dbkey" >/dev/null
  files=$(ls "$T/$m"/*.xex | grep -v police2)
  [ $m = o ] && files="$(grep -v '/police.xex$' <<<"$files") $T/c/police4.xex" # the cached seal
  $X match ingest $DB --agreement "$agr" --key "$K/matcher.key" $files >/dev/null
  $X match run $DB --agreement "$agr" --date 2026-10-31 >/dev/null 2>"$T/$m.run.err" || bad "match run ($m): $(cat "$T/$m.run.err")"
  $X match links $DB --csv >"$T/$m.links.csv"
  # the partition: per person, its sorted records; sorted
  python3 - "$T/$m.links.csv" >"$T/$m.part" <<'PY'
import csv, sys, collections
g = collections.defaultdict(list)
for r in csv.DictReader(open(sys.argv[1], newline='')):
    g[r['person']].append(r['agency'] + '/' + r['record_ref'])
for p in sorted(','.join(sorted(v)) for v in g.values()):
    print(p)
PY
done
[ -s "$T/o.part" ] && cmp -s "$T/o.part" "$T/s.part" && ok ||
  bad "OPRF-mode linkage differs from shared-secret mode ($(wc -l <"$T/o.part") vs $(wc -l <"$T/s.part") persons)"
[ "$(wc -l <"$T/o.part")" -lt "$(cat "$T"/county/*.csv | wc -l)" ] && ok || bad "no records linked across agencies"

# the agency's daily limit (10 in this agreement): refused, with the reason, nothing written
start_keyd kl "$AL" "$T/oprf.key"; PIDS+=($LASTPID); KLPID=$LASTPID
expect 1 "rate limit: agency 'police' has used 0 of its 10 OPRF evaluations for today (UTC)" -- \
  $X seal --agreement "$AL" --key "$K/police.key" --secret "$T/s.xsec" --in "$T/county/police.csv" \
  -o "$T/limited.xex" "${SEAL[@]}" --keyd-ca "$T/ca/ca.pem" --keyd "https://127.0.0.1:$PORT"
[ -e "$T/limited.xex" ] && bad "a rate-limited seal left an output" || ok
grep -q '"agency":"police","day":"[0-9-]*","evaluations":[0-9]*,"limit":10,"outcome":"rate-limited"' "$T/kl.audit" && ok ||
  bad "the refusal is not in the audit: $(cat "$T/kl.audit")"
[ -s "$T/kl.rec" ] && bad "a refused request was evaluated" || ok

# an agreement naming another key: the answers do not verify (wrong key)
expect 1 "does not verify against the agreement's key" -- $X seal --agreement "$AW" \
  --key "$K/police.key" --secret "$T/s.xsec" --in "$T/county/police.csv" -o "$T/wrong.xex" \
  "${SEAL[@]}" --keyd-ca "$T/ca/ca.pem" --keyd "$URL"
[ -e "$T/wrong.xex" ] && bad "a seal with unverified answers left an output" || ok
# a client pinning another CA refuses to talk
bash "$S/scripts/make-demo-ca.sh" "$T/other-ca" 1 >/dev/null
expect 1 "not signed by the CA given with --keyd-ca" -- $X seal --agreement "$A" \
  --key "$K/police.key" --secret "$T/s.xsec" --in "$T/county/police.csv" -o "$T/ca.xex" \
  "${SEAL[@]}" --keyd-ca "$T/other-ca/ca.pem" --keyd "$URL"

# raw requests: a one-point batch (the ristretto255 base point)
printf 'XOQ1\001\000\000\000' >"$T/req.bin"
printf '\xe2\xf2\xae\x0a\x6a\xbc\x4e\x71\xa8\x84\xa9\x61\xc5\x00\x51\x5f\x58\xe3\x0b\x6a\xa5\x82\xdd\x8d\xb6\xa6\x59\x45\xe0\x8d\x2d\x76' >>"$T/req.bin"
raw() {
  local args=(-s -o "$T/raw.out" -w '%{http_code}' --cacert "$T/ca/ca.pem" -X "$1")
  [ -n "$3" ] && args+=(-H @"$3")
  [ -n "${4:-}" ] && args+=(-H "Content-Type: application/octet-stream" -H "Expect: 100-continue"
                            --expect100-timeout 30 --data-binary @"$4")
  curl "${args[@]}" "$URL$2"
}
status_is() { [ "$2" = "$1" ] && ok || bad "$3: HTTP $2 (want $1): $(cat "$T/raw.out" 2>/dev/null)"; }
before=$(wc -l <"$T/kd.rec")
$NS "$K/police.key" POST /v1/oprf "$T/req.bin" >"$T/good.hdr"
status_is 200 "$(raw POST /v1/oprf "$T/good.hdr" "$T/req.bin")" "signed request"
[ "$(stat -c %s "$T/raw.out")" = $((8 + 32 + 64)) ] && [ "$(head -c 4 "$T/raw.out")" = XOR1 ] && ok ||
  bad "answer is not one evaluated point and a proof"
status_is 401 "$(raw POST /v1/oprf "$T/good.hdr" "$T/req.bin")" "replayed request"
grep -q "replayed" "$T/raw.out" && ok || bad "replay refusal reason: $(cat "$T/raw.out")"
status_is 401 "$(raw POST /v1/oprf "" "$T/req.bin")" "unsigned request"
$NS "$K/police.key" POST /v1/oprf "$T/req.bin" 0 corrupt >"$T/bad.hdr"
status_is 401 "$(raw POST /v1/oprf "$T/bad.hdr" "$T/req.bin")" "badly signed request"
$NS "$K/police.key" POST /v1/oprf "$T/req.bin" -600 >"$T/old.hdr"
status_is 401 "$(raw POST /v1/oprf "$T/old.hdr" "$T/req.bin")" "stale request"
$NS "$K/tf-team.key" POST /v1/oprf "$T/req.bin" >"$T/role.hdr"
status_is 403 "$(raw POST /v1/oprf "$T/role.hdr" "$T/req.bin")" "a recipient asking for evaluations"
$NS "$K/matcher.key" POST /v1/oprf "$T/req.bin" >"$T/m.hdr"
status_is 403 "$(raw POST /v1/oprf "$T/m.hdr" "$T/req.bin")" "the matcher asking for evaluations"
# a body other than the one signed
cp "$T/req.bin" "$T/req2.bin"; printf '\001' | dd of="$T/req2.bin" bs=1 seek=8 conv=notrunc 2>/dev/null
$NS "$K/police.key" POST /v1/oprf "$T/req.bin" >"$T/sw.hdr"
status_is 401 "$(raw POST /v1/oprf "$T/sw.hdr" "$T/req2.bin")" "body swapped after signing"
# not a point / not a request
$NS "$K/police.key" POST /v1/oprf "$T/req2.bin" >"$T/np.hdr"
status_is 400 "$(raw POST /v1/oprf "$T/np.hdr" "$T/req2.bin")" "a blinded element that is not a point"
head -c 20 "$T/req.bin" >"$T/short.bin"
$NS "$K/police.key" POST /v1/oprf "$T/short.bin" >"$T/sh.hdr"
status_is 400 "$(raw POST /v1/oprf "$T/sh.hdr" "$T/short.bin")" "a truncated request"
head -c 200000 /dev/zero >"$T/big.bin"
$NS "$K/police.key" POST /v1/oprf "$T/big.bin" >"$T/big.hdr"
status_is 413 "$(raw POST /v1/oprf "$T/big.hdr" "$T/big.bin")" "a body larger than one batch"
$NS "$K/police.key" GET /v1/health >"$T/h.hdr"
status_is 200 "$(raw GET /v1/health "$T/h.hdr")" "health"
grep -q "\"key\":\"$PUB\"" "$T/raw.out" && ok || bad "health does not name the key: $(cat "$T/raw.out")"
after=$(wc -l <"$T/kd.rec")
[ $((after - before)) = 1 ] && ok || bad "refused requests were evaluated ($((after - before)) points, want the good one only)"

# restart: today's counts come back from the audit file (3 single-point requests to the
# limited service, then a restart: police has used 3 of its 10)
kill $KLPID; wait $KLPID 2>/dev/null
start_keyd kl "$AL" "$T/oprf.key"; PIDS+=($LASTPID); KLPID=$LASTPID
URL=https://127.0.0.1:$PORT
for i in 1 2 3; do
  $NS "$K/police.key" POST /v1/oprf "$T/req.bin" >"$T/l$i.hdr"
  status_is 200 "$(raw POST /v1/oprf "$T/l$i.hdr" "$T/req.bin")" "limited service, request $i"
done
kill $KLPID; wait $KLPID 2>/dev/null
start_keyd kl "$AL" "$T/oprf.key"; PIDS+=($LASTPID)
[ -n "$PORT" ] && ok || bad "keyd did not restart: $(cat "$T/kl.log")"
expect 1 "rate limit: agency 'police' has used 3 of its 10 OPRF evaluations for today (UTC)" -- \
  $X seal --agreement "$AL" --key "$K/police.key" --secret "$T/s.xsec" --in "$T/county/police.csv" \
  -o "$T/limited.xex" "${SEAL[@]}" --keyd-ca "$T/ca/ca.pem" --keyd "https://127.0.0.1:$PORT"
kill $LASTPID; wait $LASTPID 2>/dev/null

# the protected key: the daemon reads its passphrase from --passphrase-fd; a wrong one,
# or none (no terminal), refuses the start
startp() { # NAME PASSFILE -> exit code in rc (the daemon is stopped once it listens)
  rm -f "$T/$1.out"
  timeout 20 "$KEYD" --agreement "$AP" --oprf-key "$T/prot.key" --audit "$T/$1.audit" \
    --cert "$T/ca/server.pem" --tls-key "$T/ca/server.key" --listen 127.0.0.1:0 \
    ${2:+--passphrase-fd 3} 3<"${2:-/dev/null}" </dev/null >"$T/$1.out" 2>"$T/$1.err" &
  local pid=$!
  for _ in $(seq 100); do grep -q "^listening on" "$T/$1.out" 2>/dev/null && break
    kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  grep -q "^listening on" "$T/$1.out" 2>/dev/null && kill $pid
  wait $pid; rc=$?
}
startp pg "$T/pass"
grep -q "^listening on" "$T/pg.out" && ok || bad "keyd did not start with the right passphrase: $(cat "$T/pg.err")"
echo "not it" >"$T/wrongpass"
startp pw "$T/wrongpass"
[ "$rc" = 1 ] && grep -q "wrong passphrase" "$T/pw.err" && ok || bad "wrong passphrase: exit $rc: $(cat "$T/pw.err")"
startp pn ""
[ "$rc" = 2 ] && grep -q "no terminal to ask for the passphrase" "$T/pn.err" && ok || bad "no passphrase: exit $rc: $(cat "$T/pn.err")"
chmod 644 "$T/prot.key"
startp pm "$T/pass"
[ "$rc" != 0 ] && grep -q "readable by others" "$T/pm.err" && ok || bad "a 0644 key file: exit $rc: $(cat "$T/pm.err")"
chmod 600 "$T/prot.key"

# the service's log is the project's hash-chained audit log: xchg audit verify checks it
# against the custodian's key (the agreement's owner, county-ig, here)
expect 0 "signed by key service custodian 'county-ig'" -- $X audit verify --agreement "$AL" --log "$T/kl.audit"
# the custodian may sign its head (a checkpoint), as the matcher does its own log's
expect 0 "" -- $X audit checkpoint --log "$T/kl.audit" --key "$K/county-ig.key"
expect 0 "1 checkpoint signed by key service custodian" -- $X audit verify --agreement "$AL" --log "$T/kl.audit"
expect 1 "is not the matcher key" -- $X audit checkpoint --log "$T/kl.audit" --key "$K/matcher.key"
# tampering: an edited count, a deleted entry, a line cut short — each detected by verify,
# and the daemon refuses to start on such a log (so a restart cannot reset the day's count)
tamper() { # NAME SED-SCRIPT | "cut"
  cp "$T/kl.audit" "$T/$1.audit"
  if [ "$2" = cut ]; then truncate -s -20 "$T/$1.audit"; else sed -i "$2" "$T/$1.audit"; fi
}
tamper edited '3s/"evaluations":1,/"evaluations":0,/'
tamper deleted '3d'
tamper cut cut
for t in edited deleted cut; do
  cmp -s "$T/kl.audit" "$T/$t.audit" && bad "$t: the tampering did nothing"
  expect 1 "is not intact" -- $X audit verify --agreement "$AL" --log "$T/$t.audit"
  rm -f "$T/$t.out"
  timeout 20 "$KEYD" --agreement "$AL" --oprf-key "$T/oprf.key" --audit "$T/$t.audit" \
    --cert "$T/ca/server.pem" --tls-key "$T/ca/server.key" --listen 127.0.0.1:0 >"$T/$t.out" 2>"$T/$t.err"
  rc=$?
  [ "$rc" != 0 ] && ! grep -q "^listening" "$T/$t.out" && grep -q "refusing to start on it" "$T/$t.err" && ok ||
    bad "keyd started on a $t audit log (exit $rc): $(cat "$T/$t.err")"
done
grep -q "hash does not match its content" "$T/edited.err" && grep -q ":3:" "$T/edited.err" && ok ||
  bad "the edited entry is not named with its line: $(cat "$T/edited.err")"
# a log of an older xchg-keyd (plain JSON lines) is refused, not silently restarted from zero
printf '{"time":1,"day":"%s","agency":"police","evaluations":9,"outcome":"ok"}\n' "$today" >"$T/old.audit"
expect 1 "refusing to start on it" -- timeout 20 "$KEYD" --agreement "$AL" --oprf-key "$T/oprf.key" \
  --audit "$T/old.audit" --cert "$T/ca/server.pem" --tls-key "$T/ca/server.key" --listen 127.0.0.1:0
finish

#!/usr/bin/env bash
# The matcher daemon over HTTPS against a real xchg-matcherd on loopback (port 0), with a
# demo CA from scripts/make-demo-ca.sh: a good submission is ingested and a repeat is
# "already ingested"; unsigned, badly signed, replayed, stale, wrong-role, oversized,
# truncated and non-extract uploads are refused with the right status and change nothing;
# a client pinning another CA refuses to talk; a recipient fetches its packets (atomically,
# only new ones) and an agency cannot. The daemon is hardened (core size 0) and its log
# escapes every value (a path with %0A cannot forge a log line).
. "$(dirname "$0")/lib.bash"
X=$XCHG
D=$XCHG_MATCHERD
NS=$XCHG_NETSIGN
S=$XCHG_SOURCE_DIR
K=$T/keys
mkdir -p "$K"
skip_unless_in_force
ok() { PASSES=$((PASSES+1)); }
bad() { echo "FAIL: $*"; FAILS=$((FAILS+1)); }

$XCHG_SYNTH --households 40 --seed 7 --out "$T/county" -q
A0=$S/policies/phase2.yaml
for p in $(awk '/^  - id: /{print $3}' "$A0"); do $X keygen -o "$K/$p" --label "Test $p" --unprotected >/dev/null; done
A=$T/phase2.yaml
$X policy bind-keys "$A0" --keys "$K" -o "$A" >/dev/null
# the example agreements say release_key: required: deal it (docs/release.md section 4)
mkdir -p "$T/shares" && $X release-key deal "$A" --shares "$T/shares" --force >/dev/null
for p in $(signatories "$A"); do $X policy sign "$A" --key "$K/$p.key" >/dev/null; done
$X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$T/s.xsec" >/dev/null
declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
for a in "${!FILE[@]}"; do
  f=${FILE[$a]}
  $X seal --agreement "$A" --key "$K/$a.key" --secret "$T/s.xsec" --in "$T/county/$f.csv" \
    -o "$T/$f.xex" --period 2025-11-01..2026-10-31 --empty-snapshot >/dev/null 2>&1
done
for f in police education; do
  [ -e "$T/$f.xex" ] && continue
  $X seal --agreement "$A" --key "$K/$f.key" --secret "$T/s.xsec" --in "$T/county/$f.csv" \
    -o "$T/$f.xex" --period 2025-11-01..2026-10-31 >/dev/null 2>&1
done
DB=$T/m.db
$X match init --db "$DB" --agreement "$A" --db-key-out "$T/m.dbkey" >/dev/null
bash "$S/scripts/make-demo-ca.sh" "$T/ca" 1 >/dev/null
bash "$S/scripts/make-demo-ca.sh" "$T/other-ca" 1 >/dev/null
mkdir -p "$T/outbox/tf-team" "$T/outbox/fi-team" "$T/got"

# allowed core dumps: the daemon must turn them off itself (xchg_process_harden)
ulimit -c "$(ulimit -H -c)" 2>/dev/null || true
"$D" --agreement "$A" --key "$K/matcher.key" --db "$DB" --db-key "$T/m.dbkey" \
  --cert "$T/ca/server.pem" --tls-key "$T/ca/server.key" --listen 127.0.0.1:0 \
  --outbox "$T/outbox" --max-upload 2000000 --threads 2 --timeout 10 \
  >"$T/d.out" 2>"$T/d.log" &
DPID=$!
trap 'kill $DPID 2>/dev/null; wait $DPID 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 100); do grep -q "^listening on" "$T/d.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$T/d.out")
[ -n "$PORT" ] && ok || { bad "daemon did not start: $(cat "$T/d.log")"; finish; exit 1; }
URL=https://127.0.0.1:$PORT
# it holds the store key and the matcher's key: no core dumps (soft and hard limit 0)
core=$(awk '/^Max core file size/{print $5, $6}' /proc/$DPID/limits 2>/dev/null)
[ "$core" = "0 0" ] && ok || bad "matcherd core file size limit is '$core' (want '0 0'; started with $(ulimit -c))"
NET=(--url "$URL" --ca "$T/ca/ca.pem" --agreement "$A")

# the store's counts (an ingest of a missing file changes nothing and prints them)
counts() { $X match ingest --db "$DB" --db-key "$T/m.dbkey" --agreement "$A" --key "$K/matcher.key" "$T/none.xex" 2>/dev/null | grep '^store:'; }
# Raw request with curl: raw METHOD PATH HEADERFILE [BODYFILE] -> prints the HTTP status
raw() {
  local args=(-s -o "$T/raw.out" -w '%{http_code}' --cacert "$T/ca/ca.pem" -X "$1")
  [ -n "$3" ] && args+=(-H @"$3")
  # Expect: 100-continue, so a request refused on its headers (401, 413) is answered before
  # the body is sent: without it the daemon may close while curl is still sending, and the
  # kernel's reset can eat the answer (HTTP 000) on a loaded machine
  [ -n "${4:-}" ] && args+=(-H "Content-Type: application/octet-stream" -H "Expect: 100-continue"
                            --expect100-timeout 30 --data-binary @"$4")
  curl "${args[@]}" "$URL$2"
}
status_is() { # WANT GOT WHAT
  [ "$2" = "$1" ] && ok || bad "$3: HTTP $2 (want $1): $(cat "$T/raw.out" 2>/dev/null)"
}

# health, signed by any party
$NS "$K/police.key" GET /v1/health >"$T/h.hdr"
status_is 200 "$(raw GET /v1/health "$T/h.hdr")" "health"
grep -q '"status":"ok"' "$T/raw.out" && ok || bad "health body"

before=$(counts)
# unsigned
status_is 401 "$(raw POST /v1/extracts "" "$T/police.xex")" "unsigned upload"
grep -q "missing authentication header" "$T/raw.out" && ok || bad "unsigned: reason"
# badly signed
$NS "$K/police.key" POST /v1/extracts "$T/police.xex" 0 corrupt >"$T/bad.hdr"
status_is 401 "$(raw POST /v1/extracts "$T/bad.hdr" "$T/police.xex")" "bad signature"
grep -q "bad signature" "$T/raw.out" && ok || bad "bad signature: reason"
# stale time
$NS "$K/police.key" POST /v1/extracts "$T/police.xex" -600 >"$T/old.hdr"
status_is 401 "$(raw POST /v1/extracts "$T/old.hdr" "$T/police.xex")" "stale"
# signed by a recipient: wrong role
$NS "$K/tf-team.key" POST /v1/extracts "$T/police.xex" >"$T/role.hdr"
status_is 403 "$(raw POST /v1/extracts "$T/role.hdr" "$T/police.xex")" "wrong role"
# signed for one body, another sent (truncated in transit)
head -c $(( $(stat -c %s "$T/police.xex") - 100 )) "$T/police.xex" >"$T/trunc.xex"
$NS "$K/police.key" POST /v1/extracts "$T/police.xex" >"$T/tr.hdr"
status_is 401 "$(raw POST /v1/extracts "$T/tr.hdr" "$T/trunc.xex")" "body mismatch"
grep -q "body does not match" "$T/raw.out" && ok || bad "body mismatch: reason"
# truncated extract, correctly signed: the store rejects it (422)
$NS "$K/police.key" POST /v1/extracts "$T/trunc.xex" >"$T/tr2.hdr"
status_is 422 "$(raw POST /v1/extracts "$T/tr2.hdr" "$T/trunc.xex")" "truncated extract"
grep -q "extract rejected" "$T/raw.out" && ok || bad "truncated: reason"
# not an extract at all
printf 'name,dob\nAlice,2001-01-01\n' >"$T/junk.csv"
expect 1 "refused by the matcher (HTTP 422)" -- $X submit "$T/junk.csv" "${NET[@]}" --key "$K/police.key"
# oversized
head -c 2100000 /dev/zero >"$T/big.bin"
expect 1 "HTTP 413" -- $X submit "$T/big.bin" "${NET[@]}" --key "$K/police.key"
# oversized without a Content-Length (chunked): counted as it streams, refused at the limit
$NS "$K/police.key" POST /v1/extracts "$T/big.bin" >"$T/ch.hdr"
code=$(curl -s -o "$T/raw.out" -w '%{http_code}' --cacert "$T/ca/ca.pem" -H @"$T/ch.hdr" \
  -H "Transfer-Encoding: chunked" --data-binary @"$T/big.bin" "$URL/v1/extracts")
status_is 413 "$code" "chunked oversized upload"
# a client pinning another CA refuses to talk (and sends nothing)
expect 1 "not signed by the CA" -- $X submit "$T/police.xex" --url "$URL" --ca "$T/other-ca/ca.pem" \
  --agreement "$A" --key "$K/police.key" --retries 0
# http:// is refused by the client
expect 2 "https://" -- $X submit "$T/police.xex" --url "http://127.0.0.1:$PORT" --ca "$T/ca/ca.pem" \
  --agreement "$A" --key "$K/police.key"
after=$(counts)
[ "$before" = "$after" ] && ok || bad "refused uploads changed the store: $before -> $after"
[ -z "$(ls -A "$(dirname "$DB")" | grep xchg-upload)" ] && ok || bad "temporary upload left behind"

# a good submission is ingested, then idempotent
expect 0 "ingested by the matcher" -- $X submit "$T/police.xex" "${NET[@]}" --key "$K/police.key"
mid=$(counts)
[ "$mid" != "$after" ] && ok || bad "good submission did not change the store: $mid"
expect 0 "already ingested" -- $X submit "$T/police.xex" "${NET[@]}" --key "$K/police.key"
[ "$(counts)" = "$mid" ] && ok || bad "repeat changed the store"
# replayed: the same signed request again (a fresh body would be accepted)
$NS "$K/education.key" POST /v1/extracts "$T/education.xex" >"$T/rep.hdr"
status_is 201 "$(raw POST /v1/extracts "$T/rep.hdr" "$T/education.xex")" "first send"
id=$(sed -n 's/.*"extract_id":"\([0-9a-f]*\)".*/\1/p' "$T/raw.out")
status_is 401 "$(raw POST /v1/extracts "$T/rep.hdr" "$T/education.xex")" "replay"
grep -q "replayed nonce" "$T/raw.out" && ok || bad "replay: reason"
# status of an extract
$NS "$K/education.key" GET "/v1/extracts/$id" >"$T/st.hdr"
status_is 200 "$(raw GET "/v1/extracts/$id" "$T/st.hdr")" "extract status"
grep -q '"status":"ingested"' "$T/raw.out" && ok || bad "extract status body"
$NS "$K/education.key" GET /v1/extracts/00000000000000000000000000000000 >"$T/st2.hdr"
status_is 404 "$(raw GET /v1/extracts/00000000000000000000000000000000 "$T/st2.hdr")" "unknown extract"
# the audit log has the daemon's ingests and still verifies
$X audit verify --log "$DB.audit" --agreement "$A" >"$T/av.out" 2>&1 && ok || bad "audit log does not verify: $(cat "$T/av.out")"

# every other agency submits; the matcher links, two operators approve, a real packet is
# released into the team's outbox, fetched over HTTPS and opened by the team
for a in dwp social-care youth-offending housing health; do
  expect 0 "ingested by the matcher" -- $X submit "$T/${FILE[$a]}.xex" "${NET[@]}" --key "$K/$a.key"
done
DBA=(--db "$DB" --db-key "$T/m.dbkey" --agreement "$A")
$X match run "${DBA[@]}" --date 2026-10-31 >/dev/null 2>&1 || bad "match run"
FAM=$($X match list --db "$DB" --db-key "$T/m.dbkey" --csv 2>/dev/null | awk -F, 'NR==2{print $1}')
if [ -n "$FAM" ]; then
  $X release approve "${DBA[@]}" --key "$K/operator-1.key" --share "$T/shares/operator-1.share" --reason "test" "$FAM" >/dev/null 2>&1
  $X release approve "${DBA[@]}" --key "$K/operator-2.key" --share "$T/shares/operator-2.share" --reason "test" "$FAM" >/dev/null 2>&1
  $X release packet "${DBA[@]}" --key "$K/matcher.key" --to tf-team -o "$T/outbox/tf-team/$FAM.xrp" \
    "$FAM" >/dev/null 2>&1 && ok || bad "release packet"
fi
# packets: each recipient sees only its own; downloads are atomic and only new ones
printf 'packet one' >"$T/outbox/tf-team/fam-0001.xrp"
printf 'packet two' >"$T/outbox/tf-team/fam-0002.xrp"
printf 'not yours' >"$T/outbox/fi-team/fam-0003.xrp"
NP=$(ls "$T/outbox/tf-team" | wc -l)
expect 0 "fetched $NP new packets" -- $X fetch-packets "${NET[@]}" --key "$K/tf-team.key" -o "$T/got"
if [ -n "$FAM" ]; then
  expect 0 "" -- $X open --agreement "$A" --key "$K/tf-team.key" "$T/got/$FAM.xrp"
fi
cmp -s "$T/got/fam-0001.xrp" "$T/outbox/tf-team/fam-0001.xrp" && ok || bad "packet bytes differ"
[ ! -e "$T/got/fam-0003.xrp" ] && ok || bad "another recipient's packet was fetched"
expect 0 "fetched 0 new packets ($NP already" -- $X fetch-packets "${NET[@]}" --key "$K/tf-team.key" -o "$T/got"
[ -z "$(ls -A "$T/got" | grep '^\.')" ] && ok || bad "temporary download left behind"
expect 1 "not the key of a recipient" -- $X fetch-packets "${NET[@]}" --key "$K/police.key" -o "$T/got"
# -o DIR is made (0700) when it does not exist; --to URL is still accepted, with a warning
expect 0 "fetched $NP new packets" -- $X fetch-packets "${NET[@]}" --key "$K/tf-team.key" -o "$T/new-inbox"
[ "$(stat -c %a "$T/new-inbox")" = 700 ] && PASSES=$((PASSES+1)) || { echo "FAIL: new inbox mode"; FAILS=$((FAILS+1)); }
expect 0 "--to URL is deprecated here: say --url URL" -- $X fetch-packets --to "$URL" --ca "$T/ca/ca.pem" --agreement "$A" --key "$K/tf-team.key" -o "$T/got"
expect 2 "give --url only" -- $X fetch-packets --to "$URL" "${NET[@]}" --key "$K/tf-team.key" -o "$T/got"
$NS "$K/police.key" GET /v1/packets >"$T/pl.hdr"
status_is 403 "$(raw GET /v1/packets "$T/pl.hdr")" "agency listing packets"
$NS "$K/police.key" GET /v1/packets/fam-0001.xrp >"$T/pk.hdr"
status_is 403 "$(raw GET /v1/packets/fam-0001.xrp "$T/pk.hdr")" "agency fetching a packet"
$NS "$K/tf-team.key" GET /v1/packets/..%2Ffi-team%2Ffam-0003.xrp >"$T/tr.hdr"
code=$(raw GET /v1/packets/..%2Ffi-team%2Ffam-0003.xrp "$T/tr.hdr")
[ "$code" = 404 ] || [ "$code" = 401 ] && ok || bad "path traversal: HTTP $code"

# the log: one line per request, no personal data
grep -q 'method=POST path=/v1/extracts status=201 key=' "$T/d.log" && ok || bad "log line format"
first=$(sed -n 2p "$T/county/police.csv" | cut -d, -f2)
[ -n "$first" ] && ! grep -qF -- "$first" "$T/d.log" && ok || bad "log holds personal data"

# a path with an encoded newline (and CR, ESC, a quote) cannot forge a log line: every
# logged value is escaped, so the request is exactly one line and no line starts with the
# forged text
for evil in '/v1/x%0Aforged%20status=200' '/v1/y%0D%0Aforged2' '/v1/z%1B%5B2J%22forged3'; do
  code=$(curl -s -o "$T/raw.out" -w '%{http_code}' --cacert "$T/ca/ca.pem" "$URL$evil")
  [ "$code" = 404 ] && ok || bad "$evil: HTTP $code (want 404)"
done
sleep 0.2 # the log line is written once the answer is sent
grep -q '^forged' "$T/d.log" && bad "a request path forged a log line: $(grep -n '^forged' "$T/d.log")" || ok
[ "$(grep -c '/v1/x' "$T/d.log")" = 1 ] && ok || bad "want one log line for /v1/x: $(grep -n 'forged' "$T/d.log")"
grep -qF 'path=/v1/x\x0aforged status=200' "$T/d.log" && bad "unquoted value with a space" || ok
grep -qF 'path="/v1/x\x0aforged status=200" status=404' "$T/d.log" && ok || bad "escaped path not logged: $(grep 'path=/v1/x\|path="/v1/x' "$T/d.log")"
grep -qF 'path=/v1/y\x0d\x0aforged2 status=404' "$T/d.log" && ok || bad "CR LF not escaped: $(grep forged2 "$T/d.log")"
grep -qF 'path=/v1/z\x1b[2J\"forged3 status=404' "$T/d.log" && ok || bad "ESC or quote not escaped: $(grep forged3 "$T/d.log")"
! LC_ALL=C grep -q $'\x1b\|\r' "$T/d.log" && ok || bad "raw control bytes in the log"

# clean shutdown on SIGTERM
kill -TERM $DPID
wait $DPID && ok || bad "daemon exit status after SIGTERM"
grep -q "SIGTERM received" "$T/d.log" && ok || bad "no shutdown message"
# with the daemon gone: retried with backoff, then a network error (exit 3)
expect 3 "retrying (1 of 1)" -- $X submit "$T/police.xex" "${NET[@]}" --key "$K/police.key" --retries 1
expect 0 "usage: xchg submit" -- $X submit --help
expect 0 "usage: xchg-matcherd" -- "$D" --help
expect 2 "needs --agreement" -- "$D" --listen 127.0.0.1:0
finish

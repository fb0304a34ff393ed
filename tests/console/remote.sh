#!/usr/bin/env bash
# xchg console in remote mode (docs/console.md "Remote mode"): xchg-matcherd on a free
# port holds the demo county's store; two operators each run `xchg console --url` with
# only their own key and approve a family through the console's JSON API (curl, no
# browser); the CLI then confirms the state on the store and `audit verify` passes.
# A release through the daemon (into its --outbox), fetched and opened by the recipient.
# Refusals at the daemon: a forged signature on submit, a statement for another family
# or for the run before, a non-operator key, a replayed request (the same netauth
# headers, and the same signed decision under fresh headers), a stale request.
. "$XCHG_SOURCE_DIR/tests/cli/lib.bash"
. "$XCHG_SOURCE_DIR/tests/console/setup.bash"
today=$(date -u +%F)
if [[ "$today" < "2026-04-01" || "$today" > "2028-03-31" ]]; then
  echo "skipped: the example agreement is not in force on $today"; exit 77
fi
X=$XCHG
NS=$XCHG_NETSIGN
SIGN=$XCHG_DECISION_SIGN
console_demo "$T/d"
D=$T/d
A=$D/phase2.yaml
K=$D/keys
DB=(--db "$D/db" --db-key "$D/db.key" --agreement "$A")
bash "$XCHG_SOURCE_DIR/scripts/make-demo-ca.sh" "$T/ca" 1 >/dev/null

PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
"$XCHG_MATCHERD" --agreement "$A" --key "$K/matcher.key" --db "$D/db" --db-key "$D/db.key" \
  --cert "$T/ca/server.pem" --tls-key "$T/ca/server.key" --listen 127.0.0.1:0 --threads 2 --outbox "$T/outbox" \
  >"$T/m.out" 2>"$T/m.log" &
PIDS+=($!)
for _ in $(seq 300); do grep -q "^listening on" "$T/m.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$T/m.out")
expect 0 "" -- test -n "$PORT"
URL=https://127.0.0.1:$PORT
REMOTE=(--url "$URL" --ca "$T/ca/ca.pem" --agreement "$A")

# usage and refusals before serving
expect 2 "remote mode needs" -- $X console "${REMOTE[@]}" --key "$K/operator-1.key" --db "$D/db"
expect 2 "remote mode needs" -- $X console --url "$URL" --agreement "$A" --key "$K/operator-1.key"
expect 2 "--url must be an https:// URL" -- $X console --url "http://127.0.0.1:$PORT" --ca "$T/ca/ca.pem" --agreement "$A" --key "$K/operator-1.key"
expect 1 "is not the key of an operator" -- $X console "${REMOTE[@]}" --key "$K/police.key"
bash "$XCHG_SOURCE_DIR/scripts/make-demo-ca.sh" "$T/other-ca" 1 >/dev/null
expect 3 "is xchg-matcherd running there" -- $X console --url "$URL" --ca "$T/other-ca/ca.pem" --agreement "$A" --key "$K/operator-1.key"

# start a remote console for operator N: sets BASE_N, JAR_N, CSRF_N
start_console() {
  local n=$1 url= i
  $X console "${REMOTE[@]}" --key "$K/operator-$n.key" --share "$D/shares/operator-$n.share" >"$T/c$n.out" 2>"$T/c$n.err" &
  PIDS+=($!)
  for i in $(seq 600); do
    url=$(sed -n 's/^open: //p' "$T/c$n.out"); [ -n "$url" ] && break; sleep 0.1
  done
  expect 0 "" -- test -n "$url"
  printf -v "BASE_$n" '%s' "${url%%/\?*}"
  printf 'url = "%s"\n' "$url" | curl -s -o /dev/null -c "$T/jar$n" -K -
  local s; s=$(curl -s -b "$T/jar$n" "${url%%/\?*}/api/session")
  printf -v "CSRF_$n" '%s' "$(sed -n 's/.*"csrf": *"\([0-9a-f]*\)".*/\1/p' <<<"$s")"
}
api_get() { local b=BASE_$1; curl -s -b "$T/jar$1" "${!b}$2"; }
api_post() { # N PATH BODY
  local b=BASE_$1 c=CSRF_$1
  curl -s -b "$T/jar$1" -H "Origin: ${!b}" -H "Content-Type: application/json" \
    -H "X-CSRF-Token: ${!c}" --data-binary "$3" "${!b}$2"
}
wait_job() { # N ID -> the finished job
  local j i
  for i in $(seq 600); do
    j=$(api_get "$1" "/api/jobs/$2"); grep -q '"state": *"finished"' <<<"$j" && break; sleep 0.1
  done
  echo "$j"
}
start_console 1
start_console 2
expect 0 "" -- test -n "$CSRF_1"
expect 0 "(remote: $URL)" -- cat "$T/c1.out"
Q=$(api_get 1 "/api/queue")
expect 0 '"total":23' -- echo "$Q"
F=$($X match list --db "$D/db" --db-key "$D/db.key" --csv | awk -F, 'NR==2{print $1}')
F2=$($X match list --db "$D/db" --db-key "$D/db.key" --csv | awk -F, 'NR==3{print $1}')
expect 0 '"state":"new"' -- api_get 1 "/api/queue?q=$F"
expect 0 '"members"' -- api_get 1 "/api/family/$F"
# operator 1 approves through its console: prepared by the daemon, signed in the console
J=$(api_post 1 /api/decide "{\"families\": [\"$F\"], \"decision\": \"approve\", \"reason\": \"meets the rule (remote)\"}")
ID=$(sed -n 's/.*"id": *\([0-9]*\).*/\1/p' <<<"$J")
expect 0 '"ok":true' -- wait_job 1 "$ID"
expect 0 '"state":"awaiting"' -- api_get 1 "/api/queue?q=$F"
# operator 2's console sees it awaiting them (read through the daemon), and approves
expect 0 "\"family\":\"$F\"" -- api_get 2 "/api/queue?state=awaiting_me"
J=$(api_post 2 /api/decide "{\"families\": [\"$F\"], \"decision\": \"approve\", \"reason\": \"agreed (remote)\"}")
ID=$(sed -n 's/.*"id": *\([0-9]*\).*/\1/p' <<<"$J")
expect 0 '2 of 2 approvals' -- wait_job 2 "$ID"
expect 0 '"state":"approved"' -- api_get 1 "/api/queue?q=$F"
expect 0 '"verified":true' -- api_get 2 "/api/family/$F"
# a release through the daemon: it makes the packet with its own matcher key, into its
# outbox, and the recipient collects it with fetch-packets and opens it
expect 0 '"can_release":true' -- api_get 1 /api/session
J=$(api_post 1 /api/release "{\"families\": [\"$F\"]}")
ID=$(sed -n 's/.*"id": *\([0-9]*\).*/\1/p' <<<"$J")
expect 0 'released,' -- wait_job 1 "$ID"
expect 0 '"state":"released"' -- api_get 2 "/api/queue?q=$F"
expect 0 "$F-" -- ls "$T/outbox/tf-team"
NET=(--url "$URL" --ca "$T/ca/ca.pem" --agreement "$A")
expect 0 "fetched 1 new packet" -- $X fetch-packets "${NET[@]}" --key "$K/tf-team.key" -o "$T/got"
expect 0 "" -- $X open --agreement "$A" --key "$K/tf-team.key" "$T/got/$(ls "$T/got")"
# the audit entry names the operator who asked for it
OP1=$(sed -n 's/.*"key": *"\([0-9a-f]*\)".*/\1/p' <<<"$(api_get 1 /api/session)")
expect 0 "\"requested_by\":\"$OP1\"" -- grep '"type":"release"' "$D/db.audit"
# what remote mode does not do: linkage runs stay with the matcher
expect 0 '"code":"remote"' -- api_post 1 /api/run '{"date": "2026-10-31"}'
# a clerical-review decision: listed through the daemon, signed in the console
RV=$(api_get 2 "/api/reviews")
# with its evidence, read through the daemon and named from the agreement in the console
expect 0 '"same":{"match":[' -- echo "$RV"
expect 0 '"blocking":["' -- echo "$RV"
expect 0 '"area":"' -- echo "$RV"
PA=$(grep -o '"a":{[^}]*}' <<<"$RV" | head -1); PB=$(grep -o '"b":{[^}]*}' <<<"$RV" | head -1)
fld() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" <<<"$2"; }
AGA=$(fld agency "$PA"); REFA=$(fld ref "$PA"); AGB=$(fld agency "$PB"); REFB=$(fld ref "$PB")
expect 0 "" -- test -n "$AGA" -a -n "$REFB"
expect 0 "recorded: one person" -- api_post 2 /api/review "{\"a\": {\"agency\": \"$AGA\", \"ref\": \"$REFA\"}, \"b\": {\"agency\": \"$AGB\", \"ref\": \"$REFB\"}, \"decision\": \"same\", \"reason\": \"same person (remote)\"}"
expect 0 '"by":"operator-2"' -- api_get 1 "/api/reviews"
expect 0 '"code":"review"' -- api_post 2 /api/review "{\"a\": {\"agency\": \"$AGA\", \"ref\": \"no-such-ref\"}, \"b\": {\"agency\": \"$AGB\", \"ref\": \"$REFB\"}, \"decision\": \"same\", \"reason\": \"x\"}"
# operator 1 deciding again is refused whole by the console, nothing sent
expect 0 '"code":"already_decided"' -- api_post 1 /api/decide "{\"families\": [\"$F\"], \"decision\": \"approve\", \"reason\": \"again\"}"
# the CLI on the store: approved by both, each signature verifies
rl() { $X release list "${DB[@]}" | grep -F "$1"; }
expect 0 "2/2" -- rl "$F"

# ---- refusals at the daemon, by hand: netsign signs the request, decision_sign the decision
raw() { # KEY METHOD PATH [BODYFILE] -> HTTP status; answer in $T/raw.out
  "$NS" "$1" "$2" "$3" "${4:--}" >"$T/h"
  local args=(-s -o "$T/raw.out" -w '%{http_code}' --cacert "$T/ca/ca.pem" -X "$2" -H @"$T/h")
  [ -n "${4:-}" ] && args+=(-H "Content-Type: application/json" --data-binary @"$4")
  curl "${args[@]}" "$URL$3"
}
status() { # WANT GOT WHAT [needle]
  if [ "$2" = "$1" ] && { [ -z "${4:-}" ] || grep -qF -- "$4" "$T/raw.out"; }; then
    PASSES=$((PASSES+1))
  else
    echo "FAIL: $3: HTTP $2 (want $1${4:+, '$4'}): $(cat "$T/raw.out")"; FAILS=$((FAILS+1))
  fi
}
prepare() { # KEY FAMILY DECISION REASON -> the prepared request in $T/prep
  printf '{"family":"%s","decision":"%s","reason":"%s"}' "$2" "$3" "$4" >"$T/pbody"
  local s; s=$(raw "$1" POST /v1/operator/prepare "$T/pbody")
  status 200 "$s" "prepare $2"
  sed -n 's/^{"request": *"\(.*\)"}$/\1/p' "$T/raw.out" | sed 's/\\"/"/g' >"$T/prep"
}
O1=$K/operator-1.key
prepare "$O1" "$F2" reject "not now"
"$SIGN" "$A" "$O1" "$F2" reject "not now" <"$T/prep" >"$T/signed"
expect 0 "" -- test -s "$T/signed"
# a forged signature: one character of the first statement's signature changed
sed 's/\("signature":"\)\(.\)/\1\2A/; s/\("signature":"\)\(.\)A\(.\)/\1\3\2/' "$T/signed" >"$T/forged"
cmp -s "$T/signed" "$T/forged" && echo "FAIL: forged copy is the same" && FAILS=$((FAILS+1))
status 403 "$(raw "$O1" POST /v1/operator/submit "$T/forged")" "forged signature" "does not verify"
# a statement for another family: F2's signed rejection presented as F's
sed "s/\"family\":\"$F2\"/\"family\":\"$F\"/" "$T/signed" >"$T/other"
status 403 "$(raw "$O1" POST /v1/operator/submit "$T/other")" "another family" "is not about family"
# the operator's own tool refuses to sign what it did not decide
expect 1 "is not what this operator decided" -- bash -c "'$SIGN' '$A' '$O1' '$F' reject 'not now' <'$T/prep'"
# a non-operator key: refused by role before anything is read
status 403 "$(raw "$K/police.key" GET /v1/operator/families)" "agency reads the queue"
status 403 "$(raw "$K/police.key" POST /v1/operator/prepare "$T/pbody")" "agency prepares"
status 403 "$(raw "$K/matcher.key" POST /v1/operator/submit "$T/signed")" "matcher submits"
# operator 2 submitting operator 1's signed decision: not theirs
status 403 "$(raw "$K/operator-2.key" POST /v1/operator/submit "$T/signed")" "another operator's decision" "not signed by the operator making"
# the genuine one is stored ...
status 201 "$(raw "$O1" POST /v1/operator/submit "$T/signed")" "genuine rejection"
expect 0 "REJECTED" -- rl "$F2"
# releases at the daemon, by hand: F2 was rejected, a recipient's or agency's key is not an
# operator's, a party that is not a recipient, a body without a family
printf '{"family":"%s","recipient":"tf-team"}' "$F2" >"$T/rel"
status 403 "$(raw "$O1" POST /v1/operator/release "$T/rel")" "release of a rejected family" "was rejected"
status 403 "$(raw "$K/tf-team.key" POST /v1/operator/release "$T/rel")" "a recipient asks for a release"
status 403 "$(raw "$K/police.key" POST /v1/operator/release "$T/rel")" "an agency asks for a release"
printf '{"family":"%s","recipient":"police"}' "$F" >"$T/rel2"
status 403 "$(raw "$O1" POST /v1/operator/release "$T/rel2")" "release to an agency" "is not a recipient"
printf '{"recipient":"tf-team"}' >"$T/rel3"
status 400 "$(raw "$O1" POST /v1/operator/release "$T/rel3")" "release without a family" "needs family"
expect 0 "1" -- bash -c "ls '$T/outbox/tf-team' | wc -l"

# ... once: the same signed decision under fresh request headers is a replay
status 403 "$(raw "$O1" POST /v1/operator/submit "$T/signed")" "replayed decision" "a replay is refused"
# the same request headers again: the nonce is refused (netauth)
"$NS" "$O1" GET /v1/operator/version - >"$T/h1"
curl -s -o /dev/null --cacert "$T/ca/ca.pem" -H @"$T/h1" "$URL/v1/operator/version"
s=$(curl -s -o "$T/raw.out" -w '%{http_code}' --cacert "$T/ca/ca.pem" -H @"$T/h1" "$URL/v1/operator/version")
status 401 "$s" "replayed request" "replayed"
# a stale request (outside the window) and a body that is not the signed one
"$NS" "$O1" GET /v1/operator/families - -1000 >"$T/h2"
s=$(curl -s -o "$T/raw.out" -w '%{http_code}' --cacert "$T/ca/ca.pem" -H @"$T/h2" "$URL/v1/operator/families")
status 401 "$s" "stale request"
"$NS" "$O1" POST /v1/operator/submit "$T/signed" >"$T/h3"
s=$(curl -s -o "$T/raw.out" -w '%{http_code}' --cacert "$T/ca/ca.pem" -H @"$T/h3" -H "Content-Type: application/json" --data-binary @"$T/forged" "$URL/v1/operator/submit")
status 401 "$s" "body not the signed one"
# a decision signed for the run before: prepared and signed, then a new run, then submitted
prepare "$O1" "$F2" reject "late"
"$SIGN" "$A" "$O1" "$F2" reject "late" <"$T/prep" >"$T/late"
expect 0 "" -- test -s "$T/late"
$X match run "${DB[@]}" --date 2026-10-31 >/dev/null
status 403 "$(raw "$O1" POST /v1/operator/submit "$T/late")" "signed before the run" "the latest run is"
# its run number changed to the new run: refused, whatever the new run made of the family
# (the signature is over the old run; the family may have other members or none now)
RUN=$(sed -n 's/.*"run":\([0-9]*\).*/\1/p' "$T/late")
sed "s/\"run\":$RUN/\"run\":$((RUN+1))/" "$T/late" >"$T/newrun"
s=$(raw "$O1" POST /v1/operator/submit "$T/newrun")
[ "$s" = 403 ] || [ "$s" = 404 ] && PASSES=$((PASSES+1)) || { echo "FAIL: run number changed: HTTP $s: $(cat "$T/raw.out")"; FAILS=$((FAILS+1)); }
expect 0 "" -- bash -c "! grep -q '\"late\"' '$D/db.audit'"

# a review decision with a forged signature, and from an agency's key
printf '{"a":{"agency":"%s","ref":"%s"},"b":{"agency":"%s","ref":"%s"},"decision":"different","reason":"forged","time":%s,"signature":"%s"}' \
  "$AGA" "$REFA" "$AGB" "$REFB" "$(date +%s)" "$(printf 'A%.0s' $(seq 86))==" >"$T/rv"
status 403 "$(raw "$O1" POST /v1/operator/review "$T/rv")" "forged review" "does not verify"
status 403 "$(raw "$K/police.key" POST /v1/operator/review "$T/rv")" "agency's review"

# the audit log verifies, with both remote approvals, the rejection and the review in it
expect 0 "" -- $X audit verify --log "$D/db.audit" --agreement "$A"
expect 0 "meets the rule (remote)" -- cat "$D/db.audit"
expect 0 "agreed (remote)" -- cat "$D/db.audit"
expect 0 "same person (remote)" -- cat "$D/db.audit"
# the daemon's log names no family member, only endpoints and pseudonyms
expect 1 "" -- grep -q "reason" "$T/m.log"

# a daemon without --outbox makes no packets: its health says so, a release is 501 and
# writes nothing, and a console on it does not offer releases
"$XCHG_MATCHERD" --agreement "$A" --key "$K/matcher.key" --db "$D/db" --db-key "$D/db.key" \
  --cert "$T/ca/server.pem" --tls-key "$T/ca/server.key" --listen 127.0.0.1:0 --threads 2 \
  >"$T/m2.out" 2>"$T/m2.log" &
PIDS+=($!)
for _ in $(seq 300); do grep -q "^listening on" "$T/m2.out" 2>/dev/null && break; sleep 0.1; done
PORT2=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$T/m2.out")
expect 0 "" -- test -n "$PORT2"
URL=https://127.0.0.1:$PORT2
status 200 "$(raw "$O1" GET /v1/health)" "health without an outbox" '"releases":false'
printf '{"family":"%s","recipient":"tf-team"}' "$F" >"$T/rel4"
status 501 "$(raw "$O1" POST /v1/operator/release "$T/rel4")" "release without an outbox" "no outbox"
expect 0 "1" -- bash -c "ls '$T/outbox/tf-team' | wc -l"
finish

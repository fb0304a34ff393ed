#!/usr/bin/env bash
# xchg console's command line: usage, the refusals before anything is served (another
# address without --allow-remote, a key that is not an operator's, releases without an
# outbox), and one real start on a free port whose page answers only with the token.
. "$XCHG_SOURCE_DIR/tests/cli/lib.bash"
. "$XCHG_SOURCE_DIR/tests/console/setup.bash"
today=$(date -u +%F)
if [[ "$today" < "2026-04-01" || "$today" > "2028-03-31" ]]; then
  echo "skipped: the example agreement is not in force on $today"; exit 77
fi
X=$XCHG
expect 0 "" -- $X console --help
expect 2 "console needs --db DB" -- $X console
console_demo "$T/d"
D=$T/d
DB=(--db "$D/db" --db-key "$D/db.key" --agreement "$D/phase2.yaml")
expect 2 "refusing to serve the console on 0.0.0.0" -- $X console "${DB[@]}" --key "$D/keys/operator-1.key" --listen 0.0.0.0
expect 2 "--listen must be an IPv4 address" -- $X console "${DB[@]}" --key "$D/keys/operator-1.key" --listen example.org
expect 2 "releases need both --matcher-key and --outbox" -- $X console "${DB[@]}" --key "$D/keys/operator-1.key" --matcher-key "$D/keys/matcher.key"
expect 1 "is not the key of an operator" -- $X console "${DB[@]}" --key "$D/keys/matcher.key"
expect 1 "is not the key of an operator" -- $X console "${DB[@]}" --key "$D/keys/police.key"
expect 2 "--port must be" -- $X console "${DB[@]}" --key "$D/keys/operator-1.key" --port 70000
# a real start: port 0, the address read back from what it prints
$X console "${DB[@]}" --key "$D/keys/operator-1.key" --share "$D/shares/operator-1.share" >"$T/out" 2>"$T/err" &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$T"' EXIT
URL=
for i in $(seq 600); do
  URL=$(sed -n 's/^open: //p' "$T/out"); [ -n "$URL" ] && break
  kill -0 $PID 2>/dev/null || break; sleep 0.1
done
expect 0 "" -- test -n "$URL"
BASE=${URL%%/\?*}
expect 0 "" -- bash -c "[[ '$BASE' =~ ^http://127\.0\.0\.1:[0-9]+$ ]]"
# without the token: 401 and no data; the security headers on every answer
curl -s -D "$T/h1" -o "$T/b1" "$BASE/api/queue"
expect 0 "" -- grep -q "^HTTP/1.1 401" "$T/h1"
expect 0 "" -- grep -qi "^Content-Security-Policy: default-src 'none'; script-src 'self'" "$T/h1"
expect 0 "" -- grep -qi "^X-Frame-Options: DENY" "$T/h1"
expect 1 "" -- grep -q "F-" "$T/b1"
# a DNS-rebinding request (another Host) is refused even before the token
curl -s -D "$T/h2" -o /dev/null -H "Host: attacker.example" "$BASE/"
expect 0 "" -- grep -q "^HTTP/1.1 403" "$T/h2"
# with the token (on curl's stdin, not in argv): the session cookie, then the queue
printf 'url = "%s"\n' "$URL" | curl -s -D "$T/h3" -o /dev/null -c "$T/jar" -K -
expect 0 "" -- grep -q "^HTTP/1.1 303" "$T/h3"
expect 0 "" -- grep -qi "^Set-Cookie: xchg_console_[0-9]*=[0-9a-f]\{64\}; Path=/; HttpOnly; SameSite=Strict" "$T/h3"
expect 0 '"total":23' -- curl -s -b "$T/jar" "$BASE/api/queue"
# a decision made elsewhere (the CLI, another operator's console) shows without a Refresh
F=$($X match list --db "$D/db" --db-key "$D/db.key" --csv | awk -F, 'NR==2{print $1}')
expect 0 "\"state\":\"new\"" -- curl -s -b "$T/jar" "$BASE/api/queue?q=$F"
expect 0 "1 of 2 approvals" -- $X release approve "${DB[@]}" --key "$D/keys/operator-2.key" --share "$D/shares/operator-2.share" --reason "from the CLI" "$F"
expect 0 "\"state\":\"awaiting\"" -- curl -s -b "$T/jar" "$BASE/api/queue?q=$F"
expect 0 "\"last_by\":\"operator-2\"" -- curl -s -b "$T/jar" "$BASE/api/queue?q=$F"
# the token worked once only
printf 'url = "%s"\n' "$URL" | curl -s -D "$T/h4" -o /dev/null -K -
expect 0 "" -- grep -q "^HTTP/1.1 403" "$T/h4"
# Ctrl-C (SIGINT) stops it cleanly
kill -INT $PID; wait $PID; rc=$?
expect 0 "" -- test "$rc" -eq 0
expect 1 "" -- grep -q "token=" "$T/err"
finish

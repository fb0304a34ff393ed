#!/usr/bin/env bash
# The operator console end to end in headless Chromium, driven over the DevTools protocol
# (tests/console/cdp.c, --remote-debugging-pipe; no browser download, no npm): operator 1
# opens the console, sees the demo county's queue and approves two families in one batch;
# operator 2 opens their own console, sees both awaiting them, approves one, releases its
# packet, rejects the other with a reason (markup in it shown as text), and decides a
# clerical-review pair. Then the CLI confirms the same state, the recipient opens the
# packet, the next run applies the review decision and `audit verify` passes. Screenshots
# of the queue, a family's detail and the review list are kept in $XCHG_CONSOLE_OUT.
# Exit 77 (ctest SKIP) only when no chromium is installed (CI installs Debian's).
. "$XCHG_SOURCE_DIR/tests/cli/lib.bash"
. "$XCHG_SOURCE_DIR/tests/console/setup.bash"
CHROME=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROME" ]; then echo "skipped: no chromium (apt-get install -y chromium)"; exit 77; fi
today=$(date -u +%F)
if [[ "$today" < "2026-04-01" || "$today" > "2028-03-31" ]]; then
  echo "skipped: the example agreement is not in force on $today"; exit 77
fi
OUT=${XCHG_CONSOLE_OUT:-$T/artefacts}
mkdir -p "$OUT"
rm -f "$OUT"/*.png
X=$XCHG
D=$T/demo
console_demo "$D"
A=$D/phase2.yaml
DB=(--db "$D/db" --db-key "$D/db.key" --agreement "$A")
PIDS=()
cleanup_consoles() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; PIDS=(); }
trap 'cleanup_consoles; rm -rf "$T"' EXIT

# start_console OPERATOR: serves a console (port 0: the kernel picks a free one) and sets
# URL to the address it prints, polling its output (generous overall timeout, no fixed wait)
start_console() {
  local out=$T/console-$1.out
  $X console "${DB[@]}" --key "$D/keys/$1.key" --share "$D/shares/$1.share" --matcher-key "$D/keys/matcher.key" \
    --outbox "$D/outbox" >"$out" 2>"$T/console-$1.err" &
  PIDS+=($!)
  local i
  for i in $(seq 600); do
    URL=$(sed -n 's/^open: //p' "$out")
    [ -n "$URL" ] && return 0
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: the console for $1 did not start"; cat "$T/console-$1.err"; return 1
}
cdp() { # script on stdin
  "$XCHG_CDP" "$CHROME" "$T/profile-$1" 2>>"$T/chrome.err"
}

# the families the test decides on: the first three pseudonyms in byte order
mapfile -t F < <($X match list --db "$D/db" --db-key "$D/db.key" --csv | awk -F, 'NR>1{print $1}' | LC_ALL=C sort | head -3)
expect 0 "" -- test "${#F[@]}" -eq 3
row() { echo "document.querySelector('tr[data-family=\"$1\"]')"; }

# ---- operator 1: the queue, a batch approval of two families -------------------------
start_console operator-1 || exit 1
cdp op1 > "$T/op1.log" <<JS
url $URL
wait 30 document.body.dataset.ready === '1'
eval location.search === '' && location.pathname === '/'
eval document.querySelectorAll('#queue tbody tr').length === 23
eval document.getElementById('who').textContent.includes('operator-1')
eval $(row "${F[0]}").dataset.state === 'new'
shot $OUT/queue.png
eval document.getElementById('reason').value = 'two problems, evidenced by two agencies'
eval document.querySelector('input.sel[data-family="${F[0]}"]').click() === undefined
eval document.querySelector('input.sel[data-family="${F[1]}"]').click() === undefined
eval document.getElementById('approve-selected').click() === undefined
wait 60 $(row "${F[0]}")?.dataset.state === 'awaiting' && $(row "${F[1]}")?.dataset.state === 'awaiting'
eval document.getElementById('batch-msg').textContent.includes('2 of 2 done')
eval document.querySelector('[data-count="awaiting"]').textContent.endsWith(': 2')
JS
rc=$?
cat "$T/op1.log"
expect 0 "" -- test "$rc" -eq 0
cleanup_consoles
expect 0 "1/2" -- bash -c "$X release list ${DB[*]} | grep '^${F[0]} '"

# ---- operator 2: what awaits them; approve, release, reject, review --------------------
start_console operator-2 || exit 1
cdp op2 > "$T/op2.log" <<JS
url $URL
wait 30 document.body.dataset.ready === '1'
eval document.getElementById('who').textContent.includes('operator-2')
eval document.querySelector('[data-count="awaiting_me"]').textContent.endsWith(': 2')
eval (document.getElementById('f-state').value = 'awaiting_me', document.getElementById('f-state').dispatchEvent(new Event('change')), true)
wait 30 document.querySelectorAll('#queue tbody tr').length === 2
eval document.querySelector('button.fam[data-family="${F[0]}"]').click() === undefined
wait 30 document.body.dataset.detail === '${F[0]}'
eval document.querySelector('#d-decisions').textContent.includes('operator-1')
eval document.getElementById('d-reason').value = 'agreed with operator 1'
eval document.getElementById('d-approve').click() === undefined
wait 60 document.getElementById('d-release') && !document.getElementById('d-release').disabled
eval document.getElementById('d-release').click() === undefined
wait 60 document.getElementById('d-msg')?.textContent.includes('packet')
# the message is shown before the queue and the detail are read again: wait for the detail
wait 60 document.querySelector('#detail-body .state')?.textContent === 'released'
shot $OUT/detail.png
eval document.querySelector('button.fam[data-family="${F[1]}"]').click() === undefined
wait 30 document.body.dataset.detail === '${F[1]}'
eval document.getElementById('d-reason').value = 'already supported by early help <img src=x onerror=alert(1)>'
eval document.getElementById('d-reject').click() === undefined
wait 60 document.querySelector('#detail-body .state')?.textContent === 'rejected'
eval document.querySelector('#d-decisions').textContent.includes('<img src=x onerror=alert(1)>')
eval document.querySelectorAll('#detail img').length === 0
eval document.getElementById('detail-close').click() === undefined
eval document.getElementById('tab-reviews').click() === undefined
wait 30 document.querySelectorAll('#reviews tbody tr').length > 0
eval document.querySelector('#reviews tbody tr .rv-reason').value = 'different dates of birth and first names'
eval document.querySelector('#reviews tbody tr .rv-different').click() === undefined
wait 30 document.querySelector('#reviews tbody tr').dataset.decided === 'different'
shot $OUT/reviews.png
eval document.getElementById('tab-queue').click() === undefined
wait 30 $(row "${F[1]}")?.dataset.state === 'rejected' || document.querySelectorAll('#queue tbody tr').length === 0
JS
rc=$?
cat "$T/op2.log"
expect 0 "" -- test "$rc" -eq 0
# what the page was: a review pair was shown with its records
PAIR=$(grep -o 'data-pair' "$T/op2.log" | head -1)
cleanup_consoles

# ---- the CLI sees the same state --------------------------------------------------------
$X release list "${DB[@]}" > "$T/list.txt"
expect 0 "" -- grep -qE "^${F[0]} +yes +2/2 .* 1  agreed with operator 1$" "$T/list.txt"
expect 0 "" -- grep -qE "^${F[1]} +yes +0/2 +REJECTED .*already supported by early help" "$T/list.txt"
expect 0 "" -- grep -qE "^${F[2]} +yes +0/2 +new +0" "$T/list.txt"
# the packet is in the outbox for the recipient, and the recipient opens it
P=$(ls "$D/outbox/tf-team/"*.xrp 2>/dev/null | head -1)
expect 0 "" -- test -n "$P"
expect 0 "" -- test "$(ls "$D/outbox/tf-team/" | wc -l)" -eq 1
expect 0 "" -- $X open --agreement "$A" --key "$D/keys/tf-team.key" "$P"
# every decision is in the audit log as from the CLI, signed by each operator's key, and the
# log verifies
$X audit show --log "$D/db.audit" > "$T/audit.txt"
expect 0 "" -- test "$(grep -c ' approve ' "$T/audit.txt")" -eq 3
expect 0 "" -- test "$(grep -c ' reject ' "$T/audit.txt")" -eq 1
expect 0 "" -- grep -q ' release ' "$T/audit.txt"
expect 0 "" -- grep -q ' review ' "$T/audit.txt"
expect 0 "" -- $X audit verify --agreement "$A" --log "$D/db.audit"
# the review decision is kept and applied by the next run
expect 0 "review decisions   1 applied" -- $X match run "${DB[@]}" --date 2026-10-31
# the token and the consoles' output: no personal data, no secret beyond the one-time URL
expect 1 "" -- grep -l "token=" "$T"/console-*.err
for f in queue detail reviews; do
  expect 0 "" -- bash -c "head -c 8 '$OUT/$f.png' | od -An -tx1 | grep -q '89 50 4e 47'"
done
finish

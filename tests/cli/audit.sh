#!/usr/bin/env bash
# Golden CLI tests for xchg audit init/record/checkpoint/verify/export/show: exit codes and
# the messages an IG lead sees, including the first broken entry of a damaged log.
. "$(dirname "$0")/lib.bash"
X=$XCHG
S=$XCHG_SOURCE_DIR
K=$T/keys
mkdir -p "$K"
ok() { PASSES=$((PASSES+1)); }
bad() { echo "FAIL: $*"; FAILS=$((FAILS+1)); }

# An agreement in force whatever the date, with keys made here and signed by everyone.
for p in ig police school matcher team other op1 op2; do $X keygen -o "$K/$p" --label "Test $p" --unprotected >/dev/null; done
sed 's|key: xk1:[A-Za-z0-9+/=]*|key: unbound|; s/valid_from: .*/valid_from: 2020-01-01/; s/review_by: .*/review_by: 2098-01-01/; s/expires: .*/expires: 2099-12-31/' \
  "$S/tests/fixtures/policy/base.yaml" > "$T/a0.yaml"
$X policy bind-keys "$T/a0.yaml" --keys "$K" -o "$T/a.yaml" >/dev/null
for p in ig police school matcher; do $X policy sign "$T/a.yaml" --key "$K/$p.key" >/dev/null; done
expect 0 "signed by all 4 signatories" -- $X policy verify "$T/a.yaml"
L=$T/audit.log

# --- usage ---
expect 2 "usage: xchg audit verify" -- $X audit
expect 0 "usage: xchg audit verify" -- $X audit --help
expect 2 "unknown audit command 'frob'" -- $X audit frob
expect 2 "audit verify needs --agreement" -- $X audit verify --log "$L"
expect 2 "audit export needs -o OUT" -- $X audit export --log "$L"
expect 2 "--since must be a sequence number" -- $X audit show --log "$L" --since x
expect 3 "none.log: no such audit log" -- $X audit verify --agreement "$T/a.yaml" --log "$T/none.log"
# no "0 entries verify before line 0" for a missing file; --db DB names DB.audit
out=$($X audit verify --agreement "$T/a.yaml" --log "$T/none.log" 2>&1) || true
! grep -q "entries verify before" <<<"$out" && PASSES=$((PASSES+1)) || { echo "FAIL: missing log reported as broken: $out"; FAILS=$((FAILS+1)); }
expect 3 "$T/none.db.audit: no such audit log" -- $X audit verify --agreement "$T/a.yaml" --db "$T/none.db"
expect 2 "give --log FILE or --db DB, not both" -- $X audit verify --agreement "$T/a.yaml" --db "$T/x.db" --log "$T/x.log"
expect 2 "which audit log? give --log FILE or --db DB" -- bash -c "cd '$T/keys' && $X audit verify --agreement '$T/a.yaml'"

# --- the matcher writes: init, record, checkpoint ---
expect 0 "started $L for agreement 'test-agreement', matcher 'matcher'" -- $X audit init --agreement "$T/a.yaml" --log "$L"
[ "$(stat -c %a "$L")" = 600 ] && ok || bad "log mode"
expect 2 "file exists; refusing to overwrite" -- $X audit init --agreement "$T/a.yaml" --log "$L"
expect 0 "recorded ingest entry seq 1" -- $X audit record --log "$L" --type ingest --data '{"extract":"9f3a","records":120}'
expect 0 "recorded run entry seq 2" -- $X audit record --log "$L" --type run --data '{"candidates":3}'
expect 0 "recorded approve entry seq 3" -- $X audit record --log "$L" --type approve --actor "$K/ig.pub" --data '{"family":"f-1","reason":"two problems"}'
expect 0 "signed checkpoint seq 4" -- $X audit checkpoint --log "$L" --key "$K/matcher.key"
expect 1 "is not the matcher key" -- $X audit checkpoint --log "$L" --key "$K/other.key"
long=$(printf 'x%.0s' $(seq 600))
expect 2 "longer than the 512 allowed" -- $X audit record --log "$L" --type reject --data "{\"reason\":\"$long\"}"
expect 2 "not a JSON object" -- $X audit record --log "$L" --type reject --data '[1]'
expect 2 "is not allowed" -- $X audit record --log "$L" --type checkpoint

# --- verify, show, export ---
expect 0 "$L: ok: 5 entries (seq 0..4), 1 checkpoint signed by matcher 'matcher'" -- $X audit verify --agreement "$T/a.yaml" --log "$L"
expect 0 "SEQ     TIME (UTC)" -- $X audit show --log "$L"
expect 0 '{"family":"f-1","reason":"two problems"}' -- $X audit show --log "$L" --type approve
n=$($X audit show --log "$L" --since 3 | wc -l)
[ "$n" = 3 ] && ok || bad "show --since 3 printed $n lines"
expect 0 "exported 5 entries" -- $X audit export --log "$L" -o "$T/e1.jsonl"
expect 2 "use --force" -- $X audit export --log "$L" -o "$T/e1.jsonl"
cmp -s "$L" "$T/e1.jsonl" && ok || bad "export differs"
expect 0 "ok: 5 entries" -- $X audit verify --agreement "$T/a.yaml" --log "$T/e1.jsonl"

# unsigned entries after the last checkpoint: a warning, or a failure with --strict
$X audit record --log "$L" --type purge --data '{"records":7,"extracts":["9f3a"]}' 2>/dev/null
expect 0 "warning: 1 entry after the last checkpoint (seq 4) is not signed" -- $X audit verify --agreement "$T/a.yaml" --log "$L"
expect 1 "not covered by a checkpoint (--strict)" -- $X audit verify --agreement "$T/a.yaml" --log "$L" --strict
expect 0 "is an unchanged prefix of the log" -- $X audit verify --agreement "$T/a.yaml" --log "$L" --against "$T/e1.jsonl"
$X audit checkpoint --log "$L" --key "$K/matcher.key" 2>/dev/null

# --- damage: each reported at its line ---
sed '4d' "$L" > "$T/del.log"
expect 1 "del.log:4: error: seq 4 follows seq 2: an entry was deleted or moved" -- $X audit verify --agreement "$T/a.yaml" --log "$T/del.log"
expect 1 "del.log is not intact: 3 entries verify before line 4" -- $X audit verify --agreement "$T/a.yaml" --log "$T/del.log"
awk 'NR==3{h=$0;next} NR==4{print;print h;next}1' "$L" > "$T/swap.log"
expect 1 "swap.log:3: error: seq 3 follows seq 1" -- $X audit verify --agreement "$T/a.yaml" --log "$T/swap.log"
sed '3s/"candidates":3/"candidates":4/' "$L" > "$T/edit.log"
expect 1 "edit.log:3: error: entry seq 2: hash does not match its content" -- $X audit verify --agreement "$T/a.yaml" --log "$T/edit.log"
head -c -10 "$L" > "$T/torn.log"
expect 1 "torn.log:7: error: the last line is incomplete" -- $X audit verify --agreement "$T/a.yaml" --log "$T/torn.log"
expect 1 "the last line is incomplete" -- $X audit record --log "$T/torn.log" --type run
# the log's tail was cut: only the earlier export shows it
head -n 3 "$L" > "$T/short.log"
expect 1 "entries were removed from the end" -- $X audit verify --agreement "$T/a.yaml" --log "$T/short.log" --against "$T/e1.jsonl"

# --- a log whose checkpoints are by another key than the agreement's matcher ---
sed 's/key: xk1:.*/key: unbound/' "$T/a0.yaml" > "$T/b0.yaml"
mkdir -p "$T/k2"; cp "$K"/*.pub "$T/k2/"; cp "$K/other.pub" "$T/k2/matcher.pub"
$X policy bind-keys "$T/b0.yaml" --keys "$T/k2" -o "$T/b.yaml" >/dev/null
for p in ig police school; do $X policy sign "$T/b.yaml" --key "$K/$p.key" >/dev/null; done
$X policy sign "$T/b.yaml" --key "$K/other.key" >/dev/null
expect 0 "" -- $X audit init --agreement "$T/b.yaml" --log "$T/o.log"
expect 0 "" -- $X audit checkpoint --log "$T/o.log" --key "$K/other.key"
expect 1 "o.log:1: error: the log was started for matcher key" -- $X audit verify --agreement "$T/a.yaml" --log "$T/o.log"
expect 0 "ok: 2 entries" -- $X audit verify --agreement "$T/b.yaml" --log "$T/o.log"
# an agreement that does not verify is refused before the log is read
sed 's/retention_days: 365/retention_days: 366/' "$T/a.yaml" > "$T/c.yaml"; cp "$T/a.yaml.sig" "$T/c.yaml.sig"
expect 1 "the agreement was changed after" -- $X audit verify --agreement "$T/c.yaml" --log "$L"
finish

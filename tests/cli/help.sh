#!/usr/bin/env bash
# Every verb's and sub-verb's --help: exit 0, usage on stdout naming it, an example of it;
# unknown sub-verbs and options name the nearest correct one; --version.
. "$(dirname "$0")/lib.bash"
X=$XCHG
ok() { PASSES=$((PASSES+1)); }
bad() { echo "FAIL: $*"; FAILS=$((FAILS+1)); }

mapfile -t CMDS < <($X --commands)
[ "${#CMDS[@]}" -ge 40 ] && ok || bad "xchg --commands lists only ${#CMDS[@]} commands"
for c in "${CMDS[@]}"; do
  # shellcheck disable=SC2086
  out=$($X $c --help 2>"$T/err") && rc=0 || rc=$?
  [ "$rc" = 0 ] && ok || { bad "xchg $c --help: exit $rc: $(cat "$T/err")"; continue; }
  [ -s "$T/err" ] && bad "xchg $c --help wrote to stderr: $(cat "$T/err")" || ok
  # a group's own help names the group; a sub-verb's names "xchg GROUP SUB" in its synopsis
  grep -q "^usage: xchg $c\b" <<<"$out" && ok || bad "xchg $c --help: no 'usage: xchg $c' line"
  case "$c" in
    *" "*|keygen|seal|submit|outcomes|report|open|fetch-packets)
      grep -q "^example: xchg $c\b" <<<"$out" && ok || bad "xchg $c --help: no example of it" ;;
  esac
  # -h is the same as --help
  # shellcheck disable=SC2086
  [ "$($X $c -h 2>/dev/null)" = "$out" ] && ok || bad "xchg $c -h differs from --help"
done
# 'xchg help COMMAND [SUB]' is 'xchg COMMAND [SUB] --help'
[ "$($X help match ingest)" = "$($X match ingest --help)" ] && ok || bad "xchg help match ingest"
[ "$($X help keygen)" = "$($X keygen --help)" ] && ok || bad "xchg help keygen"
expect 2 "did you mean 'xchg release packet'?" -- $X help release pakcet
# a sub-verb's help is about that sub-verb only
out=$($X match ingest --help)
grep -q "xchg match run" <<<"$out" && bad "match ingest --help shows match run" || ok

# typos: the nearest command, sub-verb, option
expect 2 "did you mean 'xchg match'?" -- $X mach
expect 2 "did you mean 'xchg release packet'?" -- $X release pakcet
expect 2 "did you mean 'xchg audit verify'?" -- $X audit verfy
expect 2 "did you mean '--passphrase-fd'?" -- $X keygen -o k --label k --pasphrase-fd 3
expect 2 "did you mean '--agreement'?" -- $X seal --agrement a.yaml
expect 2 "did you mean '--version'?" -- $X --verison
# far from everything: no guess, the list instead
expect 2 "the audit commands are: verify export show init record checkpoint" -- $X audit frobnicate
out=$($X audit frobnicate 2>&1) || true
grep -q "did you mean" <<<"$out" && bad "a guess for a word far from every command: $out" || ok
# an unknown sub-verb is reported as such, before any option is asked for
expect 2 "unknown secret command 'nwe'" -- $X secret nwe
out=$($X secret nwe 2>&1) || true
grep -q "needs --agreement" <<<"$out" && bad "unknown sub-verb reported as a missing option: $out" || ok
expect 2 "'xchg match' needs a command before its options" -- $X match --db x.db
# options a verb does not take are refused, not ignored
expect 2 "release list does not take --json" -- $X release list --db x.db --json
expect 2 "outcomes does not take --all" -- $X outcomes --db x.db --all

# --version: the tool's and the library's
v=$($X --version) && ok || bad "--version exit $?"
[[ "$v" =~ ^xchg\ [0-9]+\.[0-9]+\.[0-9]+\ \(library\ [0-9]+\.[0-9]+\.[0-9]+\)$ ]] && ok || bad "--version: '$v'"
for tool in "$XCHG_MATCHERD" "$XCHG_SYNTH"; do
  "$tool" --help >"$T/out" 2>&1 && ok || bad "$tool --help: exit $?"
  grep -qi "usage:" "$T/out" && ok || bad "$tool --help: no usage"
done
finish

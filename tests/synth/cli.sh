#!/usr/bin/env bash
# xchg-synth command line: help, usage errors (exit 2, "xchg-synth: error:"), no partial
# output on failure.
set -u
: "${SYNTH:?}" "${XCHG_TMP:?}"
T=$(mktemp -d "$XCHG_TMP/synth-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0
expect() { # expect CODE STDERR-SUBSTRING ARGS...
    local want=$1 pat=$2; shift 2
    "$SYNTH" "$@" >"$T/out" 2>"$T/err"; local got=$?
    if [ "$got" != "$want" ] || { [ -n "$pat" ] && ! grep -q -- "$pat" "$T/err" "$T/out"; }; then
        echo "FAIL: xchg-synth $* -> exit $got (want $want, '$pat')"; cat "$T/err"; fails=$((fails+1))
    fi
}
expect 0 "Usage: xchg-synth" --help
expect 0 "--households N" -h
expect 2 "xchg-synth: error: give --households" --out "$T/x"
expect 2 "xchg-synth: error: --out DIR is required" --households 5
expect 2 "xchg-synth: error: --households must be" --households 0 --out "$T/x"
expect 2 "xchg-synth: error: --households must be" --households 12abc --out "$T/x"
expect 2 "xchg-synth: error: --seed must be" --households 5 --seed -1 --out "$T/x"
expect 2 "xchg-synth: error: --error-rate must be" --households 5 --error-rate 1.5 --out "$T/x"
expect 2 "xchg-synth: error: --error-rate must be" --households 5 --error-rate abc --out "$T/x"
expect 2 "xchg-synth: error: --as-of must be" --households 5 --as-of 2026-02-30 --out "$T/x"
expect 2 "xchg-synth: error: --consent-mix" --households 5 --consent-mix 1,2 --out "$T/x"
expect 2 "xchg-synth: error: --prevalence" --households 5 --prevalence foo=0.1 --out "$T/x"
expect 2 "xchg-synth: error: --error-mix" --households 5 --error-mix typo=0 --out "$T/x"
expect 2 "xchg-synth: error: --demo fixes" --demo --seed 3 --out "$T/x"
expect 2 "xchg-synth: error: unknown option" --bogus
expect 2 "xchg-synth: error: option needs a value" --households
expect 2 "xchg-synth: error: unexpected argument" --households 5 --out "$T/x" extra
[ -e "$T/x" ] && { echo "FAIL: usage error created output"; fails=$((fails+1)); }
# I/O failure: the output path is a file -> exit 3, nothing left behind
touch "$T/file"
expect 3 "xchg-synth: error:" --households 5 --out "$T/file/sub"
# success path writes every file and no temporary directory
expect 0 "" --households 20 --error-rate 5% --prevalence crime=0.5,da=0.2 --out "$T/ok" -q
for f in police education dwp social_care yos housing health; do
    [ -s "$T/ok/$f.csv" ] || { echo "FAIL: missing $f.csv"; fails=$((fails+1)); }
done
for f in rows people households eligible_phase1 eligible_phase2 localities; do
    [ -s "$T/ok/truth/$f.csv" ] || { echo "FAIL: missing truth/$f.csv"; fails=$((fails+1)); }
done
[ -s "$T/ok/truth/summary.txt" ] || { echo "FAIL: missing summary"; fails=$((fails+1)); }
[ -e "$T/ok/.tmp" ] && { echo "FAIL: .tmp left behind"; fails=$((fails+1)); }
[ "$fails" = 0 ] && echo "cli: all passed"
exit $((fails > 0))

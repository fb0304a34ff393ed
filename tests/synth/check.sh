#!/usr/bin/env bash
# Independent validation (tests/synth/synth_check.c): identifier check digits, formats,
# ground-truth consistency, rules recomputed from the extracts, and the measured error
# rate on a ~100k-person sample.
set -eu
: "${SYNTH:?}" "${SYNTH_CHECK:?}" "${XCHG_TMP:?}"
T=$(mktemp -d "$XCHG_TMP/synth-check.XXXXXX")
trap 'rm -rf "$T"' EXIT
"$SYNTH" -q --demo --out "$T/demo"
"$SYNTH_CHECK" "$T/demo"
"$SYNTH" -q --people 100000 --seed 7 --error-rate 0.05 --out "$T/p100k"
"$SYNTH_CHECK" "$T/p100k" --error-rate 0.05 --tolerance 0.004
"$SYNTH" -q --people 30000 --seed 8 --error-rate 0.2 --as-of 2025-06-15 --out "$T/hi"
"$SYNTH_CHECK" "$T/hi" --error-rate 0.2 --tolerance 0.01 --as-of 2025-06-15
"$SYNTH" -q --households 3000 --seed 9 --error-rate 0 --out "$T/zero"
"$SYNTH_CHECK" "$T/zero" --error-rate 0 --tolerance 0
# must-fail: the checker notices an unflagged change to an extract
awk -F, 'NR==1 || done {print; next} {sub(/,[^,]*,/, ",Zzyzx,"); print; done=1}' \
    "$T/zero/police.csv" >"$T/zero/police.tmp" && mv "$T/zero/police.tmp" "$T/zero/police.csv"
if "$SYNTH_CHECK" "$T/zero" >"$T/out" 2>&1; then
    echo "FAIL: checker accepted a tampered extract"; exit 1
fi
grep -q "not flagged as an error" "$T/out" || { echo "FAIL: wrong tamper diagnosis"; cat "$T/out"; exit 1; }
echo "check: all passed"

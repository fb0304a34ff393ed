#!/usr/bin/env bash
# Programme truth (issue 14): the period structure, determinism across periods, and every
# phase 1 / phase 2 criterion, outcome status and claim recomputed from the written CSV
# rows by an independent checker (synth_programme_check.c).
set -eu
: "${SYNTH:?}" "${SYNTH_CHECK:?}" "${SYNTH_PROGRAMME_CHECK:?}" "${XCHG_TMP:?}"
mkdir -p "$XCHG_TMP"
T=$(mktemp -d "$XCHG_TMP/synth-prog.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# one period: the programme files sit next to the legacy truth
"$SYNTH" -q --households 3000 --seed 5 --out "$T/one"
for f in programme-phase1.csv programme-phase2.csv terms.csv periods.csv; do
    [ -s "$T/one/truth/$f" ] || fail "one period: truth/$f missing"
done
[ ! -e "$T/one/period-1" ] || fail "one period wrote period directories"
[ "$(wc -l < "$T/one/truth/terms.csv")" -eq 4 ] || fail "one period: not three terms"
"$SYNTH_PROGRAMME_CHECK" "$T/one" >/dev/null || { "$SYNTH_PROGRAMME_CHECK" "$T/one"; fail "one period"; }

# three periods, 20k people: structure, legacy checks per period, every criterion and status
"$SYNTH" -q --people 20000 --seed 1 --periods 3 --out "$T/p3"
[ "$(cat "$T/p3/truth/periods.csv")" = "period,period_end,directory
1,2025-08-31,period-1/
2,2026-02-28,period-2/
3,2026-08-31,period-3/" ] || fail "periods.csv: $(cat "$T/p3/truth/periods.csv")"
for k in 1 2 3; do
    for f in police education dwp social_care yos housing health; do
        [ -s "$T/p3/period-$k/$f.csv" ] || fail "period-$k/$f.csv missing"
    done
    end=$(awk -F, -v k=$k 'NR == k + 1 {print $2}' "$T/p3/truth/periods.csv")
    grep -q "^as_of: $end\$" "$T/p3/period-$k/truth/summary.txt" || fail "period-$k as_of"
    "$SYNTH_CHECK" "$T/p3/period-$k" --as-of "$end" >"$T/check.out" || { cat "$T/check.out"; fail "synth_check period-$k"; }
done
[ ! -e "$T/p3/police.csv" ] || fail "multi-period run wrote top-level extracts"
# snapshots grow: the newest holds every event of the earlier ones
for f in police dwp health; do
    a=$(($(wc -l < "$T/p3/period-1/$f.csv"))); c=$(($(wc -l < "$T/p3/period-3/$f.csv")))
    [ "$c" -ge "$a" ] || fail "$f: period 3 has fewer rows than period 1"
done
# households move between periods (same people, new address)
m=$(awk -F': ' '/^households_moved/ {print $2}' "$T/p3/period-3/truth/summary.txt")
[ "$m" -gt 0 ] || fail "no household moved"
cmp -s <(cut -d, -f1,2,3,4,6 "$T/p3/period-1/truth/people.csv") \
       <(cut -d, -f1,2,3,4,6 "$T/p3/period-3/truth/people.csv") || fail "people changed between periods"
"$SYNTH_PROGRAMME_CHECK" "$T/p3" --require-all >"$T/prog.out" || { cat "$T/prog.out"; fail "programme truth (3 periods)"; }

# four periods with a custom spacing
"$SYNTH" -q --households 2500 --seed 3 --periods 4 --period-months 3 --as-of 2026-07-31 --out "$T/p4"
[ "$(awk -F, 'NR > 1 {print $2}' "$T/p4/truth/periods.csv" | tr '\n' ' ')" = "2025-10-31 2026-01-31 2026-04-30 2026-07-31 " ] ||
    fail "period ends for --periods 4 --period-months 3"
"$SYNTH_PROGRAMME_CHECK" "$T/p4" >"$T/prog4.out" || { cat "$T/prog4.out"; fail "programme truth (4 periods)"; }

# determinism across periods
"$SYNTH" -q --people 20000 --seed 1 --periods 3 --out "$T/p3b"
diff -r "$T/p3" "$T/p3b" >/dev/null || fail "same options, different multi-period output"
# the error rate changes neither events nor truth in any period
"$SYNTH" -q --households 3000 --seed 9 --periods 2 --out "$T/e0" --error-rate 0
"$SYNTH" -q --households 3000 --seed 9 --periods 2 --out "$T/e3" --error-rate 0.3
for f in truth/programme-phase1.csv truth/programme-phase2.csv period-2/truth/households.csv; do
    cmp -s "$T/e0/$f" "$T/e3/$f" || fail "error rate changed $f"
done
# must-fail: a changed outcome in an extract is caught
sed 's/,GUILTY,\r$/,NFA,\r/' "$T/p3/period-3/police.csv" >"$T/x" && mv "$T/x" "$T/p3/period-3/police.csv"
if "$SYNTH_PROGRAMME_CHECK" "$T/p3" >"$T/out" 2>&1; then fail "checker accepted a tampered outcome"; fi
grep -q "P2-CRIME-3" "$T/out" || fail "wrong tamper diagnosis"
echo "programme: all passed"

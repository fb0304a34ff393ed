#!/usr/bin/env bash
# Golden-file CLI tests: every directory under tests/golden/ with a `cmd` file is a case.
#
#   tests/golden/run.sh [CASE-PATTERN...]     run every case (or those whose group/case
#                                             path contains one of the patterns)
#   XCHG_UPDATE_GOLDEN=1 tests/golden/run.sh  rewrite stdout/stderr/exit from what ran
#
# Environment: XCHG (the xchg binary, required), XCHG_SOURCE_DIR (the source tree;
# default: two levels above this script), XCHG_TMP (scratch root; default /tmp),
# XCHG_KEEP=1 keeps the scratch directories. See tests/golden/README.md.
set -u
GOLDEN=$(cd "$(dirname "$0")" && pwd -P)
SRC=${XCHG_SOURCE_DIR:-$(cd "$GOLDEN/../.." && pwd -P)}
SRC=$(cd "$SRC" && pwd -P)
FIXTURES=$SRC/tests/fixtures
UPDATE=${XCHG_UPDATE_GOLDEN:-}
: "${XCHG:?set XCHG to the xchg binary}"
case $XCHG in /*) ;; *) XCHG=$(cd "$(dirname "$XCHG")" && pwd -P)/$(basename "$XCHG") ;; esac
[ -x "$XCHG" ] || { echo "run.sh: XCHG=$XCHG is not executable" >&2; exit 2; }

ROOT=$(mktemp -d "${XCHG_TMP:-/tmp}/golden.XXXXXX") || exit 3
[ -n "${XCHG_KEEP:-}" ] && echo "keeping $ROOT" || trap 'rm -rf "$ROOT"' EXIT

# sed-quote a literal string for the left side of s|...|...|
sedq() { printf '%s' "$1" | sed -e 's/[]\/$*.^|[]/\\&/g'; }

PASSED=0
FAILED=0
FAILED_CASES=()
n=0
while IFS= read -r cmdfile; do
  dir=$(dirname "$cmdfile")
  name=${dir#"$GOLDEN"/}
  if [ $# -gt 0 ]; then
    hit=
    for pat in "$@"; do [[ $name == *"$pat"* ]] && hit=1; done
    [ -n "$hit" ] || continue
  fi
  n=$((n + 1))
  T=$ROOT/$n
  O=$ROOT/out.$n
  mkdir -p "$T" "$O"
  T=$(cd "$T" && pwd -P)
  start=$(date +%s%N)
  # a clean, fixed environment: no inherited XCHG_* settings, no locale or time-zone drift
  (cd "$T" && exec env -i PATH="$PATH" HOME="$T" LC_ALL=C TZ=UTC \
     XCHG="$XCHG" FIXTURES="$FIXTURES" SRC="$SRC" GOLDEN="$GOLDEN" T="$T" \
     timeout 20 bash --noprofile --norc "$cmdfile" </dev/null >"$O/stdout.raw" 2>"$O/stderr.raw")
  echo $? >"$O/exit"
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  # normalise: the scratch directory, the source tree, then the case's own expressions
  norm=(-e "s|$(sedq "$T")|\$T|g" -e "s|$(sedq "$FIXTURES")|\$FIXTURES|g" -e "s|$(sedq "$SRC")|\$SRC|g")
  for s in stdout stderr; do
    if [ -f "$dir/normalise" ]; then
      sed "${norm[@]}" "$O/$s.raw" | sed -E -f "$dir/normalise" >"$O/$s"
    else
      sed "${norm[@]}" "$O/$s.raw" >"$O/$s"
    fi
  done
  if [ -n "$UPDATE" ]; then
    for f in stdout stderr exit; do
      if ! cmp -s "$O/$f" "$dir/$f" 2>/dev/null; then
        cp "$O/$f" "$dir/$f"
        echo "updated $name/$f"
      fi
    done
  fi
  ok=1
  report=
  for f in exit stdout stderr; do
    if [ ! -f "$dir/$f" ]; then
      ok=
      report+="--- $name/$f is missing (XCHG_UPDATE_GOLDEN=1 writes it)"$'\n'
      report+=$(sed 's/^/+/' "$O/$f")$'\n'
    elif ! d=$(diff -u --label "$name/$f (expected)" --label "$name/$f (actual)" "$dir/$f" "$O/$f"); then
      ok=
      report+=$d$'\n'
    fi
  done
  if [ "$ms" -gt 1000 ]; then
    echo "note: $name took ${ms} ms (cases should take under 1 s)"
  fi
  if [ -n "$ok" ]; then
    PASSED=$((PASSED + 1))
  else
    FAILED=$((FAILED + 1))
    FAILED_CASES+=("$name")
    echo "FAIL: $name"
    printf '%s' "$report"
  fi
done < <(find "$GOLDEN" -mindepth 2 -name cmd -type f | LC_ALL=C sort)

if [ "$n" -eq 0 ]; then
  echo "run.sh: no cases matched" >&2
fi
[ "$FAILED" -gt 0 ] && echo "failed: ${FAILED_CASES[*]}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$n" -gt 0 ]

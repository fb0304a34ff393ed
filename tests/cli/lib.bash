# Helpers for CLI golden tests (sourced). $XCHG is the tool, $XCHG_TMP a scratch root.
set -u
T=$(mktemp -d "${XCHG_TMP:-/tmp}/cli.XXXXXX")
[ -n "${XCHG_KEEP:-}" ] && echo "keeping $T" || trap 'rm -rf "$T"' EXIT
FAILS=0
PASSES=0

# expect CODE "stderr substring" -- command...   (runs the command, checks exit code and stderr)
expect() {
  local code=$1 want=$2
  shift 3
  local out err rc
  out=$("$@" 2>"$T/.err") && rc=0 || rc=$?
  err=$(cat "$T/.err")
  if [ "$rc" != "$code" ]; then
    echo "FAIL: exit $rc (want $code): $*"; echo "  stderr: $err"; FAILS=$((FAILS+1)); return 0
  fi
  if [ -n "$want" ] && ! grep -qF -- "$want" "$T/.err" && ! grep -qF -- "$want" <<<"$out"; then
    echo "FAIL: output lacks '$want': $*"; echo "  stderr: $err"; echo "  stdout: $out"; FAILS=$((FAILS+1)); return 0
  fi
  PASSES=$((PASSES+1))
}

finish() {
  echo "$PASSES passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
}

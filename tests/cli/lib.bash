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

# skip_unless_in_force: exit as skipped when the example agreements (valid 2026-04-01 to
# 2028-03-31) are not in force today
skip_unless_in_force() {
  local today
  today=$(date -u +%F)
  if [[ "$today" < "2026-04-01" || "$today" > "2028-03-31" ]]; then
    echo "skipped: the example agreements are not in force on $today"; echo "0 passed, 0 failed"; exit 0
  fi
}

# signatories AGREEMENT: the party ids that sign it, as the library reads it
signatories() {
  $XCHG policy signatories "$1"
}

# ready_agreement POLICY OUT: POLICY made ready as OUT — a key per party in $K (made
# unprotected unless there), bound, its release key dealt into $T/shares when it says
# release_key: required (docs/release.md section 4), signed by every signatory
ready_agreement() {
  local p
  mkdir -p "$K"
  for p in $(awk '/^  - id: /{print $3}' "$1"); do
    [ -f "$K/$p.key" ] || $XCHG keygen -o "$K/$p" --label "Test $p" --unprotected >/dev/null 2>&1
  done
  $XCHG policy bind-keys "$1" --keys "$K" -o "$2" >/dev/null
  if grep -q "^release_key: required" "$2"; then
    mkdir -p "$T/shares" && $XCHG release-key deal "$2" --shares "$T/shares" --force >/dev/null
  fi
  for p in $(signatories "$2"); do $XCHG policy sign "$2" --key "$K/$p.key" >/dev/null; done
}

finish() {
  echo "$PASSES passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
}

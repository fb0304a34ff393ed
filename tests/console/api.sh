#!/usr/bin/env bash
# The console's JSON API unit tests (test_console_api) on a fresh demo-county store.
. "$XCHG_SOURCE_DIR/tests/cli/lib.bash"
. "$XCHG_SOURCE_DIR/tests/console/setup.bash"
today=$(date -u +%F)
if [[ "$today" < "2026-04-01" || "$today" > "2028-03-31" ]]; then
  echo "skipped: the example agreement is not in force on $today"; exit 77
fi
console_demo "$T/demo"
CONSOLE_DEMO=$T/demo "$CONSOLE_API_TEST"
rc=$?
# every action the API took is in the audit log, and the log verifies
expect 0 "" -- "$XCHG" audit verify --agreement "$T/demo/phase2.yaml" --log "$T/demo/db.audit"
# the console's release names the operator whose console asked for it
expect 0 '"requested_by":"' -- grep '"type":"release"' "$T/demo/db.audit"
[ "$rc" -eq 0 ] || FAILS=$((FAILS+1))
finish

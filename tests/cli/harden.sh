#!/usr/bin/env bash
# Programs that hold keys are hardened first thing in main (xchg_process_harden): a running
# xchg has a core size limit of 0 (soft and hard) even when started with `ulimit -c
# unlimited`, and is not dumpable (another process of the same unprivileged user cannot
# read its /proc/PID/environ); a write past `ulimit -f` is a clear error naming the file,
# exit 3, nothing left behind — not a silent death by SIGXFSZ. (The daemon: tests/cli/net.sh.)
. "$(dirname "$0")/lib.bash"
X=$XCHG
ok() { PASSES=$((PASSES+1)); }
bad() { echo "FAIL: $*"; FAILS=$((FAILS+1)); }
CHILD=
trap '[ -n "$CHILD" ] && kill $CHILD 2>/dev/null; wait 2>/dev/null; [ -n "${XCHG_KEEP:-}" ] || rm -rf "$T"' EXIT

# limit LIMITSFILE -> "soft hard" of "Max core file size"
core_limit() { awk '/^Max core file size/{print $5, $6}' "$1" 2>/dev/null; }

# 1. a running xchg (blocked opening a FIFO) has no core dumps, whatever it was started with
ulimit -c "$(ulimit -H -c)" 2>/dev/null || true
echo "core limit given to the process: $(ulimit -c)"
mkfifo "$T/fifo"
"$X" key show "$T/fifo" >/dev/null 2>&1 &
CHILD=$!
got=
for _ in $(seq 100); do # up to 10 s for it to start; it stays blocked in open() after
  got=$(core_limit /proc/$CHILD/limits)
  [ "$got" = "0 0" ] && break
  sleep 0.1
done
[ "$got" = "0 0" ] && ok || bad "xchg core file size limit is '$got' (want '0 0')"
kill $CHILD 2>/dev/null
wait $CHILD 2>/dev/null
CHILD=

# 2. not dumpable: as an unprivileged user, xchg's environment cannot be read by another
#    process of that same user (it could for a dumpable process)
AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
# (the build tree may sit below a folder nobody cannot enter: then the check cannot run)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null &&
   "${AS_NOBODY[@]}" "$X" --version >/dev/null 2>&1; then
  chmod 711 "$T"
  mkdir -m 0777 "$T/pub"
  mkfifo -m 0666 "$T/pub/fifo"
  XCHG_PROBE=visible "${AS_NOBODY[@]}" "$X" key show "$T/pub/fifo" >/dev/null 2>&1 &
  CHILD=$!
  for _ in $(seq 50); do # hardened by then (or never)
    [ "$(core_limit /proc/$CHILD/limits)" = "0 0" ] && break
    sleep 0.1
  done
  if [ "$(readlink -f /proc/$CHILD/exe)" = "$(readlink -f "$X")" ]; then
    # sanity: an ordinary process of that user is readable by it
    "${AS_NOBODY[@]}" sleep 5 & SPID=$!
    sleep 0.2
    "${AS_NOBODY[@]}" cat /proc/$SPID/environ >/dev/null 2>&1 && ok || bad "control: nobody cannot read its own process's environ"
    kill $SPID 2>/dev/null; wait $SPID 2>/dev/null
    if "${AS_NOBODY[@]}" cat /proc/$CHILD/environ 2>/dev/null | tr '\0' '\n' | grep -q XCHG_PROBE; then
      bad "xchg is dumpable: its environment is readable by another process of its user"
    else
      ok
    fi
  else
    bad "xchg run as nobody did not start"
  fi
  kill $CHILD 2>/dev/null
  wait $CHILD 2>/dev/null
  CHILD=
else
  echo "skipped: the dumpable check needs root, setpriv and a build tree an unprivileged user can run"
fi

# 3. the file size limit: a clear error naming the file, exit 3, nothing left behind.
#    stderr goes to a pipe (a pipe has no file size limit; a file would).
err=$( (ulimit -f 0; exec "$X" keygen -o "$T/k" --label "Limited" --unprotected) 2>&1 >/dev/null ) && rc=0 || rc=$?
[ "$rc" = 3 ] && ok || bad "keygen past ulimit -f: exit $rc (want 3): $err"
grep -qF "file size limit reached while writing $T/k." <<<"$err" && ok || bad "keygen past ulimit -f: message: $err"
[ -z "$(ls -A "$T" | grep '^k\.')" ] && ok || bad "keygen past ulimit -f left files: $(ls -A "$T")"
# with room it works
expect 0 "" -- "$X" keygen -o "$T/k" --label "Limited" --unprotected
finish

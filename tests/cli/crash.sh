#!/usr/bin/env bash
# Crash safety: `xchg match ingest` and `xchg release packet` killed with SIGKILL at many
# points. After every kill the store opens, holds exactly the extracts that were fully
# ingested (never part of one), the audit log verifies, and running the same command again
# completes with nothing lost. A killed packet run leaves either no packet under the final
# name or a complete one.
#
# With the fault hook compiled in (cmake -DXCHG_FAULT_HOOKS=ON) the kills are exact:
# XCHG_FAULT_AFTER_WRITES=N makes xchg kill itself at its N-th write point (every staged
# record, before and after COMMIT, each step of an atomic file write), for every N until
# the command completes. Without it the kills are timed (kill -9 after growing delays).
. "$(dirname "$0")/lib.bash"
X=$XCHG
S=$XCHG_SOURCE_DIR
K=$T/keys
mkdir -p "$K"
skip_unless_in_force
HOOKS=0
[ "${XCHG_FAULT_HOOKS:-0}" = 1 ] && HOOKS=1
[ $HOOKS = 1 ] && echo "fault hook: exact kills" || echo "fault hook not compiled in (XCHG_FAULT_HOOKS=OFF): timed kills"
unset XCHG_FAULT_AFTER_WRITES

$XCHG_SYNTH --households 60 --seed 5 --out "$T/county" -q
for p in county-ig police education dwp social-care youth-offending housing health matcher tf-team fi-team operator-1 operator-2; do
  $X keygen -o "$K/$p" --label "Test $p" --unprotected >/dev/null
done
declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
A=$T/phase2.yaml
$X policy bind-keys "$S/policies/phase2.yaml" --keys "$K" -o "$A" >/dev/null
# the example agreements say release_key: required: deal it (docs/release.md section 4)
mkdir -p "$T/shares" && $X release-key deal "$A" --shares "$T/shares" --force >/dev/null
for p in $(signatories "$A"); do $X policy sign "$A" --key "$K/$p.key" >/dev/null; done
$X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$T/s.xsec" >/dev/null
XEX=()
for agency in $(awk '/^  - id: /{id=$3} /^    role: agency/{print id}' "$A"); do
  f=${FILE[$agency]}
  $X seal --agreement "$A" --key "$K/$agency.key" --secret "$T/s.xsec" --in "$T/county/$f.csv" \
    -o "$T/$f.xex" --period 2025-11-01..2026-10-31 >/dev/null 2>&1
  XEX+=("$T/$f.xex")
done
# a file every ingest rejects: the store line it prints shows the store as it is
cp "$T/police.xex" "$T/bad.xex"
printf 'X' | dd of="$T/bad.xex" bs=1 seek=300 conv=notrunc 2>/dev/null

mkdir -p "$T/s0"
$X match init --db "$T/s0/m.db" --agreement "$A" --db-key-out "$T/s0/m.dbkey" >/dev/null
M="--db $T/s/m.db --db-key $T/s/m.dbkey --agreement $A"
fresh() { rm -rf "$T/s"; cp -a "$T/s0" "$T/s"; }

# active records in the store now (ingest of the rejected file changes nothing)
records() {
  $X match ingest $M --key "$K/matcher.key" "$T/bad.xex" 2>/dev/null |
    sed -n 's/^store: \([0-9]*\) active records.*/\1/p'
}
audit_ok() { $X audit verify --agreement "$A" --log "$T/s/m.db.audit" >/dev/null 2>&1; }

# the sums after each whole extract, from a run without crashes
fresh
SUMS=" 0 "
for f in "${XEX[@]}"; do
  $X match ingest $M --key "$K/matcher.key" "$f" >/dev/null 2>&1
  SUMS+="$(records) "
done
FULL=$(records)
echo "extract sums: $SUMS"
[ "${FULL:-0}" -gt 0 ] && PASSES=$((PASSES+1)) || { echo "FAIL: reference ingest"; FAILS=$((FAILS+1)); }

# one killed ingest: check the state it left, then re-run to completion
check_after_kill() {
  local why=$1 n
  n=$(records)
  if [ -z "$n" ]; then
    echo "FAIL: $why: the store does not open after the kill"; FAILS=$((FAILS+1)); return
  fi
  if [[ "$SUMS" != *" $n "* ]]; then
    echo "FAIL: $why: $n records is not a sum of whole extracts ($SUMS)"; FAILS=$((FAILS+1)); return
  fi
  if ! audit_ok; then
    echo "FAIL: $why: the audit log does not verify after the kill"; FAILS=$((FAILS+1)); return
  fi
  $X match ingest $M --key "$K/matcher.key" "${XEX[@]}" >/dev/null 2>&1 || true
  n=$(records)
  if [ "$n" != "$FULL" ]; then
    echo "FAIL: $why: re-run ends with $n records, not $FULL"; FAILS=$((FAILS+1)); return
  fi
  PASSES=$((PASSES+1))
}

kills=0
if [ $HOOKS = 1 ]; then
  # every write point, until the command runs to the end (step widens on long runs)
  N=1 step=1
  while :; do
    fresh
    rc=0
    (XCHG_FAULT_AFTER_WRITES=$N exec $X match ingest $M --key "$K/matcher.key" "${XEX[@]}") >/dev/null 2>&1 || rc=$?
    [ $rc = 137 ] || break
    kills=$((kills+1))
    check_after_kill "ingest killed at write point $N"
    N=$((N+step))
    [ $N -gt 40 ] && step=7
  done
  [ $rc = 0 ] && PASSES=$((PASSES+1)) || { echo "FAIL: ingest with hook past the end exits $rc"; FAILS=$((FAILS+1)); }
else
  # the whole run takes a few tens of milliseconds: kill across it in 2 ms steps
  for delay in $(seq 0 0.002 0.08); do
    fresh
    $X match ingest $M --key "$K/matcher.key" "${XEX[@]}" >/dev/null 2>&1 &
    pid=$!
    sleep $delay
    kill -9 $pid 2>/dev/null && kills=$((kills+1))
    wait $pid 2>/dev/null || true
    check_after_kill "ingest killed after ${delay}s"
  done
fi
echo "ingest: $kills kills"

# ---- release packet ------------------------------------------------------------------
fresh
$X match ingest $M --key "$K/matcher.key" "${XEX[@]}" >/dev/null 2>&1
$X match run $M --date 2026-10-31 >/dev/null 2>&1
FAMILY=$($X match list --db "$T/s/m.db" --db-key "$T/s/m.dbkey" --csv 2>/dev/null | awk -F, 'NR==2{print $1}')
if [ -z "$FAMILY" ]; then
  echo "FAIL: no candidate family to release"; FAILS=$((FAILS+1)); finish; exit
fi
for op in operator-1 operator-2; do
  $X release approve $M --key "$K/$op.key" --share "$T/shares/$op.share" --reason "crash test" "$FAMILY" >/dev/null
done
rm -rf "$T/s0" && cp -a "$T/s" "$T/s0"
P=$T/out/referral.xrp
packet_ok() { $X open --agreement "$A" --key "$K/tf-team.key" "$P" >/dev/null 2>&1; }
check_packet() {
  local why=$1
  if [ -e "$P" ] && ! packet_ok; then
    echo "FAIL: $why: an incomplete packet under the final name"; FAILS=$((FAILS+1)); return
  fi
  if ! audit_ok; then
    echo "FAIL: $why: the audit log does not verify"; FAILS=$((FAILS+1)); return
  fi
  # re-run: completes (--force replaces a packet written before the release was recorded)
  if ! $X release packet $M --key "$K/matcher.key" --to tf-team -o "$P" --force "$FAMILY" >"$T/rerun.out" 2>&1 ||
     ! packet_ok; then
    echo "FAIL: $why: re-running release packet does not complete: $(tail -3 "$T/rerun.out")"; FAILS=$((FAILS+1)); return
  fi
  PASSES=$((PASSES+1))
}
pk=0
if [ $HOOKS = 1 ]; then
  N=1
  while :; do
    fresh; rm -rf "$T/out"; mkdir -p "$T/out"
    rc=0
    (XCHG_FAULT_AFTER_WRITES=$N exec $X release packet $M --key "$K/matcher.key" --to tf-team -o "$P" "$FAMILY") >/dev/null 2>&1 || rc=$?
    [ $rc = 137 ] || break
    pk=$((pk+1))
    check_packet "packet killed at write point $N"
    N=$((N+1))
  done
  [ $rc = 0 ] && packet_ok && PASSES=$((PASSES+1)) || { echo "FAIL: packet with hook past the end exits $rc"; FAILS=$((FAILS+1)); }
else
  for delay in 0.005 0.01 0.02 0.03 0.05 0.08; do
    fresh; rm -rf "$T/out"; mkdir -p "$T/out"
    $X release packet $M --key "$K/matcher.key" --to tf-team -o "$P" "$FAMILY" >/dev/null 2>&1 &
    pid=$!
    sleep $delay
    kill -9 $pid 2>/dev/null && pk=$((pk+1))
    wait $pid 2>/dev/null || true
    check_packet "packet killed after ${delay}s"
  done
fi
echo "release packet: $pk kills"
finish

#!/usr/bin/env bash
# The matcher's store from the command line: init (key file and passphrase), ingest of every
# agency's sealed extract, re-ingest as a no-op, supersession, rejections that leave the store
# unchanged (wrong key, altered file, another agreement), and — when the linkage engine is
# built — run, list, show and links.
. "$(dirname "$0")/lib.bash"
X=$XCHG
SYNTH=$XCHG_SYNTH
S=$XCHG_SOURCE_DIR
K=$T/keys
mkdir -p "$K"
skip_unless_in_force
$SYNTH --households 80 --seed 11 --out "$T/county" -q
for p in county-ig police education dwp social-care youth-offending housing health matcher tf-team fi-team operator-1 operator-2; do
  $X keygen -o "$K/$p" --label "Test $p" --unprotected >/dev/null
done
declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
for name in phase1 phase2; do
  A=$T/$name.yaml
  $X policy bind-keys "$S/policies/$name.yaml" --keys "$K" -o "$A" >/dev/null
  # the example agreements say release_key: required: deal it (docs/release.md section 4)
  mkdir -p "$T/shares-$name" && $X release-key deal "$A" --shares "$T/shares-$name" --force >/dev/null
  for p in $(signatories "$A"); do $X policy sign "$A" --key "$K/$p.key" >/dev/null; done
  $X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$T/$name.xsec" >/dev/null
done
A=$T/phase2.yaml
XEX=()
for agency in $(awk '/^  - id: /{id=$3} /^    role: agency/{print id}' "$A"); do
  f=${FILE[$agency]}
  $X seal --agreement "$A" --key "$K/$agency.key" --secret "$T/phase2.xsec" --in "$T/county/$f.csv" \
    -o "$T/$f.xex" --period 2025-11-01..2026-10-31 --empty-snapshot >/dev/null 2>&1
  XEX+=("$T/$f.xex")
done
$X seal --agreement "$T/phase1.yaml" --key "$K/police.key" --secret "$T/phase1.xsec" \
  --in "$T/county/police.csv" -o "$T/p1-police.xex" --period 2025-11-01..2026-10-31 >/dev/null 2>&1
DB=$T/m.db
DK=$T/m.dbkey
M="--db $DB --db-key $DK"

# init
expect 2 "needs --db" -- $X match init --agreement "$A" --db-key-out "$DK"
expect 0 "created store" -- $X match init --db "$DB" --agreement "$A" --db-key-out "$DK"
[ "$(stat -c %a "$DK")" = 600 ] && PASSES=$((PASSES+1)) || { echo "FAIL: key file mode"; FAILS=$((FAILS+1)); }
grep -q '^xdbk1:' "$DK" && PASSES=$((PASSES+1)) || { echo "FAIL: key file tag"; FAILS=$((FAILS+1)); }
expect 2 "already exists" -- $X match init --db "$DB" --agreement "$A" --db-key-out "$T/other.dbkey"
[ ! -e "$T/other.dbkey" ] && PASSES=$((PASSES+1)) || { echo "FAIL: failed init left a key file"; FAILS=$((FAILS+1)); }
expect 2 "not both" -- $X match init --db "$T/x.db" --agreement "$A" --db-key-out "$T/x.key" --passphrase-fd 0

# views before any run
expect 3 "no linkage run yet" -- $X match list $M

# ingest every agency
expect 0 "ingested" -- $X match ingest $M --agreement "$A" --key "$K/matcher.key" "${XEX[@]}"
out=$($X match ingest $M --agreement "$A" --key "$K/matcher.key" "${XEX[@]}" 2>&1)
n=$(grep -c "already ingested" <<<"$out")
[ "$n" = "${#XEX[@]}" ] && PASSES=$((PASSES+1)) || { echo "FAIL: re-ingest: $out"; FAILS=$((FAILS+1)); }
expect 0 "nothing changed" -- $X match ingest $M --agreement "$A" --key "$K/matcher.key" "$T/police.xex"

# a newer police extract of the same period supersedes the first
sleep 1
$X seal --agreement "$A" --key "$K/police.key" --secret "$T/phase2.xsec" --in "$T/county/police.csv" \
  -o "$T/police2.xex" --period 2025-11-01..2026-10-31 >/dev/null 2>&1
expect 0 "superseded extract" -- $X match ingest $M --agreement "$A" --key "$K/matcher.key" "$T/police2.xex"
# the older one again: already stored
expect 0 "already ingested" -- $X match ingest $M --agreement "$A" --key "$K/matcher.key" "$T/police.xex"

# rejections: each changes nothing, and the exit code says so
before=$($X match ingest $M --agreement "$A" --key "$K/matcher.key" "$T/police2.xex" | tail -1)
cp "$T/housing.xex" "$T/flipped.xex"
size=$(stat -c %s "$T/flipped.xex")
printf '\xff' | dd of="$T/flipped.xex" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
expect 1 "is rejected; the store is unchanged" -- $X match ingest $M --agreement "$A" --key "$K/matcher.key" "$T/flipped.xex"
expect 1 "is rejected" -- $X match ingest $M --agreement "$A" --key "$K/matcher.key" "$T/p1-police.xex"
expect 1 "belongs to agreement" -- $X match ingest $M --agreement "$T/phase1.yaml" --key "$K/matcher.key" "$T/p1-police.xex"
expect 1 "is rejected" -- $X match ingest $M --agreement "$A" --key "$K/tf-team.key" "$T/police2.xex"
# one good file and one bad: the good one is stored, exit 1
expect 1 "1 of 2 files rejected" -- $X match ingest $M --agreement "$A" --key "$K/matcher.key" "$T/police2.xex" "$T/flipped.xex"
after=$($X match ingest $M --agreement "$A" --key "$K/matcher.key" "$T/police2.xex" | tail -1)
[ "$before" = "$after" ] && PASSES=$((PASSES+1)) || { echo "FAIL: store changed: $before / $after"; FAILS=$((FAILS+1)); }

# a wrong database key is a clear error
$X match init --db "$T/n.db" --agreement "$A" --db-key-out "$T/n.dbkey" >/dev/null
expect 1 "wrong database key" -- $X match list --db "$DB" --db-key "$T/n.dbkey"
expect 3 "" -- $X match list --db "$DB" --db-key "$T/missing.dbkey"

# passphrase-protected store (Argon2id); the passphrase comes on a file descriptor
PDB=$T/p.db
expect 0 "created store" -- bash -c "$X match init --db $PDB --agreement $A --db-passphrase-fd 3 3<<<'correct horse battery'"
expect 0 "match init --passphrase-fd is deprecated" -- bash -c "$X match init --db $T/old-spelling.db --agreement $A --passphrase-fd 3 3<<<'correct horse battery'"
expect 2 "give --db-passphrase-fd only" -- bash -c "$X match init --db $T/both.db --agreement $A --passphrase-fd 3 --db-passphrase-fd 3 3<<<'x'"
expect 2 "release list does not take --csv" -- $X release list --db $PDB --db-passphrase-fd 0 --agreement $A --csv
expect 2 "did you mean 'xchg match ingest'?" -- $X match ingets --db $PDB
expect 0 "ingested" -- bash -c "$X match ingest --db $PDB --db-passphrase-fd 3 --agreement $A --key $K/matcher.key $T/police.xex 3<<<'correct horse battery'"
expect 1 "wrong database key" -- bash -c "$X match list --db $PDB --db-passphrase-fd 3 3<<<'wrong horse'"

# linkage, when the engine is built
if $X match run $M --agreement "$A" >"$T/run.out" 2>"$T/run.err"; then
  grep -q "eligible families" "$T/run.out" && PASSES=$((PASSES+1)) || { echo "FAIL: run summary"; FAILS=$((FAILS+1)); }
  expect 0 "" -- $X match list $M --all
  expect 0 "family,run,persons" -- $X match list $M --csv --all
  expect 0 "\"family\"" -- $X match list $M --json --all
  fam=$($X match list $M --csv --all | sed -n 2p | cut -d, -f1)
  expect 0 "members:" -- $X match show $M "$fam"
  expect 3 "no family" -- $X match show $M F-doesnotexist
  expect 0 "agency,record_ref,person,family" -- $X match links $M --csv
  # no name, date of birth or postcode of the county appears in the views
  $X match links $M --csv >"$T/links.csv"; $X match list $M --all --json >"$T/list.json"
  leak=$(cut -d, -f2 "$T/county/police.csv" | sed 1d | sort -u | head -50 | grep -v '^$' | grep -F -f - "$T/links.csv" "$T/list.json" | head -1 || true)
  [ -z "$leak" ] && PASSES=$((PASSES+1)) || { echo "FAIL: identifier in a view: $leak"; FAILS=$((FAILS+1)); }
elif grep -q "no linkage engine" "$T/run.err"; then
  echo "note: linkage engine not built; run/list/show/links not exercised"
  expect 4 "no linkage engine" -- $X match run $M --agreement "$A"
else
  echo "FAIL: match run: $(cat "$T/run.err")"; FAILS=$((FAILS+1))
fi

# retention (the agreement's retention_days, applied by the library): today nothing is
# old enough; years on, a dry run lists every extract and deletes nothing; a bad date is
# a usage error
expect 0 "nothing to purge" -- $X match purge $M --agreement "$A"
$X match purge $M --agreement "$A" --date 2099-01-01 --dry-run >"$T/purge.out"
expect 0 "(dry run: nothing deleted)" -- cat "$T/purge.out"
expect 0 "would purge " -- cat "$T/purge.out"
expect 0 "from 'police'" -- cat "$T/purge.out"
cmp -s "$T/purge.out" <($X match purge $M --agreement "$A" --date 2099-01-01 --dry-run) \
  && PASSES=$((PASSES+1)) || { echo "FAIL: a dry run changed the store"; FAILS=$((FAILS+1)); }
expect 0 "purged " -- $X match purge $M --agreement "$A" --date 2099-01-01
expect 0 "nothing to purge" -- $X match purge $M --agreement "$A" --date 2099-01-01
expect 2 "--date must be YYYY-MM-DD" -- $X match purge $M --agreement "$A" --date 31/12/2099
finish

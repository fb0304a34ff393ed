#!/usr/bin/env bash
# xchg policy new: for every preset the round trip new -> check (a draft) -> bind-keys ->
# sign -> verify; extra parties; the interactive prompts; refusals (unknown preset or
# role, an agency added to a programme preset, a party twice, an owner not a party, an
# existing file); a draft cannot be signed; every ICO section is named.
. "$(dirname "$0")/lib.bash"
X=$XCHG
bad() { echo "FAIL: $*"; FAILS=$((FAILS+1)); }

# every key of this test is made here (one place to add a flag, e.g. --unprotected)
make_key() { $X keygen -o "$1" --label "Test $(basename "$1")" --unprotected >/dev/null 2>&1; }

# The party ids of an agreement and which of them sign (from the draft itself).
parties_of() { sed -n 's/^  - id: //p' "$1"; }
non_signers() { awk '/^  - id: /{id=$3} /signs_agreement: false/{print id}' "$1"; }

round_trip() { # PRESET FILE [extra policy new args]
  local preset=$1 f=$2; shift 2
  local dir=$T/$preset-keys
  mkdir -p "$dir"
  expect 0 "wrote $f: a draft of agreement" -- $X policy new --preset "$preset" -o "$f" "$@"
  expect 0 "ok (draft)" -- $X policy check "$f"
  for n in 1 2 3 4 5 6 7 8 9 10 11 12; do
    grep -q "ICO $n " "$f" || bad "$preset: ICO section $n is not named"
  done
  grep -q 'key: xk1:' "$f" && bad "$preset: a new agreement has a bound key"
  local signers=0
  for p in $(parties_of "$f"); do make_key "$dir/$p"; done
  expect 1 "a draft cannot be signed" -- $X policy sign "$f" --key "$dir/$(parties_of "$f" | head -1).key"
  [ -e "$f.sig" ] && bad "$preset: signing a draft wrote $f.sig"
  local bound=$T/$preset-bound.yaml
  expect 0 "bound $(parties_of "$f" | wc -l) party keys" -- $X policy bind-keys "$f" --keys "$dir" -o "$bound"
  expect 0 ": ok: agreement" -- $X policy check "$bound"
  expect 1 "no signature file" -- $X policy verify "$bound"
  local skip; skip=$(non_signers "$f")
  for p in $(parties_of "$f"); do
    if grep -qx "$p" <<<"$skip"; then continue; fi
    expect 0 "as party '$p'" -- $X policy sign "$bound" --key "$dir/$p.key"
    signers=$((signers+1))
  done
  expect 0 "signed by all $signers signatories" -- $X policy verify "$bound"
  expect 0 "" -- $X policy explain "$bound"
}

round_trip phase1 "$T/p1.yaml"
round_trip phase2 "$T/p2.yaml" --party fi-team-north:recipient --party operator-3:operator
grep -q "id: operator-3" "$T/p2.yaml" || bad "phase2: --party operator-3 missing"
round_trip linkage "$T/lk.yaml" --party police:agency --party health:agency --id county-overlap \
  --title "Police and health overlap" --dpia DPIA-2026-101
grep -q '^  police:$' "$T/lk.yaml" || bad "linkage: no extract for the police"
grep -q 'agency-a' "$T/lk.yaml" && bad "linkage: the example agencies were kept beside the given ones"
grep -q '^  id: county-overlap$' "$T/lk.yaml" || bad "linkage: --id not used"
grep -q 'dpia: "DPIA-2026-101"' "$T/lk.yaml" || bad "linkage: --dpia not used"
# each new agreement has its own CLK salt
s1=$(grep 'salt:' "$T/p1.yaml"); s2=$(grep 'salt:' "$T/p2.yaml")
[ "$s1" = "$s2" ] && bad "two new agreements share a CLK salt"
grep -q '3m4ZUmGyO4fQ8ml3b8kKqJ1Wq7yQqUy7dm+7rEAN1S0=' "$T/p1.yaml" && bad "the example's CLK salt was kept"

# --- refusals: usage errors, nothing written ---
expect 2 "unknown preset 'phase3' (expected phase1, phase2 or linkage)" -- $X policy new --preset phase3 -o "$T/x.yaml"
expect 2 "party 'police2': preset 'phase1' fixes its agencies" -- $X policy new --preset phase1 --party police2:agency -o "$T/x.yaml"
expect 2 "party 'x': unknown role 'boss'" -- $X policy new --preset linkage --party x:boss -o "$T/x.yaml"
expect 2 "party 'police' is given twice" -- $X policy new --preset phase1 --party police:recipient -o "$T/x.yaml"
expect 2 "owner 'la-ig' is not a party that may own the agreement: add it with --party la-ig:governance" -- $X policy new --preset phase1 --owner la-ig -o "$T/x.yaml"
expect 2 "the agreement has exactly one matcher" -- $X policy new --preset linkage --party m2:matcher -o "$T/x.yaml"
expect 2 "--party needs ID:ROLE" -- $X policy new --preset linkage --party police -o "$T/x.yaml"
expect 2 "needs --preset phase1, phase2 or linkage" -- $X policy new -o "$T/x.yaml"
expect 1 "agreement id 'Bad Id' must be" -- $X policy new --preset linkage --id "Bad Id" -o "$T/x.yaml"
[ -e "$T/x.yaml" ] && bad "a refused policy new wrote its output"
# an owner given as a party is fine
expect 0 "wrote" -- $X policy new --preset phase1 --owner la-ig --party la-ig:governance -o "$T/own.yaml"
grep -q '^  owner: la-ig$' "$T/own.yaml" || bad "--owner not used"
# never overwrites without --force
cp "$T/p1.yaml" "$T/keep.yaml"
expect 2 "refusing to overwrite (use --force" -- $X policy new --preset phase2 -o "$T/keep.yaml"
cmp -s "$T/p1.yaml" "$T/keep.yaml" || bad "policy new overwrote a file without --force"
expect 0 "wrote" -- $X policy new --preset phase2 -o "$T/keep.yaml" --force
# standard output when no -o
expect 0 "exchange_agreement: 1" -- $X policy new --preset linkage

# --- interactive: the answers on standard input; Enter keeps each default ---
printf 'linkage\ncounty-pilot\n\n\nDPIA-7\n2026-01-01\n30\nschools:agency social-care:agency\n%s\n' "$T/i.yaml" \
  | $X policy new --interactive >/dev/null 2>"$T/prompts" || bad "interactive policy new failed: $(cat "$T/prompts")"
grep -q 'Preset \[phase1\]: ' "$T/prompts" || bad "no preset prompt with its default"
grep -q 'Retention of linked data, in days \[90\]: ' "$T/prompts" || bad "no retention prompt with the preset's default"
expect 0 "ok (draft): agreement 'county-pilot' version 1, 4 parties" -- $X policy check "$T/i.yaml"
grep -q '^  retention_days: 30$' "$T/i.yaml" || bad "interactive retention not used"
grep -q '^  valid_from: 2026-01-01$' "$T/i.yaml" || bad "interactive date not used"
grep -q '^  schools:$' "$T/i.yaml" || bad "interactive parties not used"
# all defaults (end of input at once)
$X policy new --interactive -o "$T/d.yaml" </dev/null >/dev/null 2>&1 || bad "interactive with all defaults failed"
expect 0 "ok (draft): agreement 'county-troubled-families-phase1'" -- $X policy check "$T/d.yaml"
finish

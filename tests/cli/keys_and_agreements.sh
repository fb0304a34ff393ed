#!/usr/bin/env bash
# Golden CLI tests for keygen, key show/ring, policy check/bind-keys/sign/verify/explain,
# secret new/open: exit codes and the messages a user sees.
. "$(dirname "$0")/lib.bash"
X=$XCHG
S=$XCHG_SOURCE_DIR
K=$T/keys
mkdir -p "$K"

# --- usage ---
expect 0 "usage: xchg" -- $X --help
expect 2 "unknown command 'frobnicate'" -- $X frobnicate
expect 2 "keygen needs --out PREFIX and --label TEXT" -- $X keygen -o "$K/x"
expect 2 "unknown option '--pasphrase'" -- $X keygen -o "$K/x" --label x --pasphrase
expect 2 "no terminal to ask for the passphrase" -- setsid -w $X keygen -o "$K/x" --label x --protect </dev/null
expect 2 "no terminal to ask for the passphrase" -- setsid -w $X keygen -o "$K/x" --label x </dev/null
expect 0 "will not be protected by a passphrase" -- $X keygen -o "$K/unprot" --label x --unprotected
expect 2 "--unprotected contradicts --passphrase-fd" -- bash -c "$X keygen -o '$K/y' --label y --unprotected --passphrase-fd 3 3<<<pw"

# --- keygen: files, modes, refusal to overwrite, passphrase on a descriptor ---
for p in ig police school matcher team op1 op2; do
  expect 0 "key id:" -- $X keygen -o "$K/$p" --label "Test $p" --unprotected
done
[ "$(stat -c %a "$K/police.key")" = 600 ] && PASSES=$((PASSES+1)) || { echo "FAIL: key mode"; FAILS=$((FAILS+1)); }
[ "$(stat -c %a "$K/police.pub")" = 644 ] && PASSES=$((PASSES+1)) || { echo "FAIL: pub mode"; FAILS=$((FAILS+1)); }
before=$(sha256sum "$K/police.key")
expect 2 "refusing to overwrite a key" -- $X keygen -o "$K/police" --label again --unprotected
[ "$before" = "$(sha256sum "$K/police.key")" ] && PASSES=$((PASSES+1)) || { echo "FAIL: key changed"; FAILS=$((FAILS+1)); }
expect 0 "passphrase-protected" -- bash -c "$X keygen -o '$K/prot' --label P --passphrase-fd 3 3<<<'s3cret pass'"
expect 0 "secret key (passphrase-protected, Argon2id)" -- $X key show "$K/prot.key"
expect 0 "kind:       public key" -- $X key show "$K/prot.pub"
expect 1 "wrong passphrase, or the secret key file is damaged" -- \
  bash -c "$X policy sign '$S/tests/fixtures/policy/base.yaml' --key '$K/prot.key' --passphrase-fd 3 --sig '$T/x.sig' 3<<<'wrong'"
# a damaged key file
c=$(sed -n 2p "$K/police.key" | cut -c20); r=A; [ "$c" = A ] && r=B   # always a real change
sed "2s/./$r/20" "$K/police.key" > "$K/damaged.key"
expect 1 "damaged" -- $X key show "$K/damaged.key"
head -c 100 "$K/police.key" > "$K/trunc.key"
expect 1 "truncated" -- $X key show "$K/trunc.key"
expect 3 "cannot open" -- $X key show "$K/none.key"
expect 0 "wrote $K/ring.txt with 2 keys" -- $X key ring -o "$K/ring.txt" "$K/police.pub" "$K/school.pub"

# --- agreements ---
sed 's|key: xk1:[A-Za-z0-9+/=]*|key: unbound|' "$S/tests/fixtures/policy/base.yaml" > "$T/a.yaml"
# unbound keys are a draft: check passes and names the next step; sign and verify refuse it
expect 0 "a.yaml: ok (draft): agreement 'test-agreement' version 2" -- $X policy check "$T/a.yaml"
expect 0 "draft: 7 of 7 parties have no key yet (key: unbound); next: 'xchg policy bind-keys" -- $X policy check "$T/a.yaml"
expect 1 "is a draft: 7 parties have no key yet" -- $X policy sign "$T/a.yaml" --key "$K/ig.key"
[ -e "$T/a.yaml.sig" ] && { echo "FAIL: signing a draft wrote a signature file"; FAILS=$((FAILS+1)); }
expect 1 "a draft cannot be verified or used" -- $X policy verify "$T/a.yaml"
expect 0 "bound 7 party keys" -- $X policy bind-keys "$T/a.yaml" --keys "$K" -o "$T/b.yaml"
expect 0 ": ok: agreement 'test-agreement' version 2" -- $X policy check "$T/b.yaml"
expect 1 "no signature file: the agreement has not been signed" -- $X policy verify "$T/b.yaml"
for p in ig police school; do
  expect 0 "as party '$p'" -- $X policy sign "$T/b.yaml" --key "$K/$p.key"
done
expect 1 "missing signature of party 'matcher' (Test matcher)" -- $X policy verify "$T/b.yaml"
expect 0 "as party 'matcher'" -- $X policy sign "$T/b.yaml" --key "$K/matcher.key"
# the fixture's validity window is 2026-01-01..2027-12-31
today=$(date -u +%F)
if [[ "$today" > "2025-12-31" && "$today" < "2028-01-01" ]]; then
  expect 0 "signed by all 4 signatories" -- $X policy verify "$T/b.yaml"
fi
expect 1 "is not the key of any party" -- $X policy sign "$T/b.yaml" --key "$K/prot.key" --passphrase-fd 3 3<<<'s3cret pass'
cp "$T/b.yaml" "$T/c.yaml"; cp "$T/b.yaml.sig" "$T/c.yaml.sig"
sed -i 's/retention_days: 365/retention_days: 366/' "$T/c.yaml"
expect 1 "the agreement was changed after 'ig' signed it" -- $X policy verify "$T/c.yaml"
# expired agreement
sed 's/valid_from: 2026-01-01/valid_from: 2019-01-01/; s/review_by: 2027-01-01/review_by: 2019-06-01/; s/expires: 2027-12-31/expires: 2020-01-01/' "$T/b.yaml" > "$T/old.yaml"
for p in ig police school matcher; do $X policy sign "$T/old.yaml" --key "$K/$p.key" >/dev/null; done
expect 1 "agreement 'test-agreement' expired on 2020-01-01" -- $X policy verify "$T/old.yaml"
expect 0 "A family is eligible when at least 2 of these 2 problems" -- $X policy explain "$T/b.yaml"
expect 0 "" -- $X policy check "$S/tests/fixtures/policy/base.yaml"
# the shipped example agreements are valid once keys are bound
for p in county-ig education dwp social-care youth-offending housing health tf-team fi-team operator-1 operator-2; do
  $X keygen -o "$K/$p" --label "Test $p" --unprotected >/dev/null
done
expect 0 "bound 12 party keys" -- $X policy bind-keys "$S/policies/phase2.yaml" --keys "$K" -o "$T/p2.yaml"
expect 0 ": ok: agreement 'county-thriving-families-phase2'" -- $X policy check "$T/p2.yaml"
expect 0 "bound 10 party keys" -- $X policy bind-keys "$S/policies/phase1.yaml" --keys "$K" -o "$T/p1.yaml"
expect 0 ": ok: agreement 'county-troubled-families-phase1'" -- $X policy check "$T/p1.yaml"

# --- linkage secret (needs an agreement in force: sign phase 2) ---
for p in county-ig police education dwp social-care youth-offending housing health matcher tf-team; do
  $X policy sign "$T/p2.yaml" --key "$K/$p.key" >/dev/null
done
if [[ "$today" > "2026-03-31" && "$today" < "2028-04-01" ]]; then
  expect 0 "sealed to 7 agencies" -- $X secret new --agreement "$T/p2.yaml" --key "$K/county-ig.key" --epoch 1 -o "$T/s.xsec"
  expect 0 "fingerprint" -- $X secret open --agreement "$T/p2.yaml" --key "$K/health.key" "$T/s.xsec"
  expect 1 "party 'matcher') is not a recipient" -- $X secret open --agreement "$T/p2.yaml" --key "$K/matcher.key" "$T/s.xsec"
  expect 1 "only the agreement's owner ('county-ig')" -- $X secret new --agreement "$T/p2.yaml" --key "$K/police.key" --epoch 2 -o "$T/s2.xsec"
  [ ! -e "$T/s2.xsec" ] && PASSES=$((PASSES+1)) || { echo "FAIL: s2 written"; FAILS=$((FAILS+1)); }
  expect 2 "file exists; refusing to overwrite" -- $X secret new --agreement "$T/p2.yaml" --key "$K/county-ig.key" --epoch 1 -o "$T/s.xsec"
  expect 2 "--epoch N" -- $X secret new --agreement "$T/p2.yaml" --key "$K/county-ig.key" --epoch 0 -o "$T/s3.xsec"
fi
expect 1 "is not verified" -- $X secret new --agreement "$T/c.yaml" --key "$K/ig.key" --epoch 1 -o "$T/s4.xsec"
# who must sign: every party except the operators (signs_agreement: false), in order
want=$(printf '%s\n' county-ig police education dwp social-care youth-offending housing health matcher tf-team)
[ "$($X policy signatories "$XCHG_SOURCE_DIR/policies/phase2.yaml")" = "$want" ] && PASSES=$((PASSES+1)) ||
  { echo "FAIL: policy signatories: $($X policy signatories "$XCHG_SOURCE_DIR/policies/phase2.yaml" | paste -sd,)"; FAILS=$((FAILS+1)); }
printf 'id: x\nparties: [\n' >"$T/broken.yaml"
expect 1 "$T/broken.yaml" -- $X policy signatories "$T/broken.yaml"
finish

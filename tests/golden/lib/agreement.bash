# Sourced by a case's cmd: a verified agreement in the scratch directory, in force from
# 2000-01-01 to 2099-12-31 whatever today is, with fresh keys (never committed).
#   keys/<party>.key|.pub   for ig police school matcher team op1 op2
#   agreement.yaml (+ .sig) tests/fixtures/policy/base.yaml, keys bound, signed by all 4
#   secret.xsec             the linkage secret for epoch 1 (only with `agreement_secret`)
# Setup output is discarded; a failing setup step prints what failed to stderr, so the
# case's golden stderr shows it.
agreement_setup() {
  mkdir -p keys
  local p
  for p in ig police school matcher team op1 op2; do
    "$XCHG" keygen -o "keys/$p" --label "Test $p" --unprotected >/dev/null 2>&1 || echo "setup: keygen $p failed" >&2
  done
  sed -e 's|key: xk1:[A-Za-z0-9+/=]*|key: unbound|' \
      -e 's/valid_from: 2026-01-01/valid_from: 2000-01-01/' \
      -e 's/review_by: 2027-01-01/review_by: 2099-01-01/' \
      -e 's/expires: 2027-12-31/expires: 2099-12-31/' \
      "$FIXTURES/policy/base.yaml" >unbound.yaml
  "$XCHG" policy bind-keys unbound.yaml --keys keys -o agreement.yaml >/dev/null ||
    echo "setup: bind-keys failed" >&2
  for p in ig police school matcher; do
    "$XCHG" policy sign agreement.yaml --key "keys/$p.key" >/dev/null || echo "setup: sign $p failed" >&2
  done
  rm -f unbound.yaml
}
agreement_secret() {
  "$XCHG" secret new --agreement agreement.yaml --key keys/ig.key --epoch 1 -o secret.xsec \
    >/dev/null || echo "setup: secret new failed" >&2
}

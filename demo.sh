#!/usr/bin/env bash
# exchange demo: the main job end to end on built-in demo data, from a fresh clone.
#
#   ./demo.sh            installs what is missing (Debian packages), builds, and runs:
#     1. every party of the two example agreements makes its keys
#     2. the IG lead binds the parties' public keys into each agreement and checks it
#     3. every signatory signs; the agreement is verified; a tampered copy is rejected
#     4. the plain-English summary for the DPIA is printed
#     5. the owner makes the linkage secret (epoch 1), sealed to the agencies only;
#        each agency opens it and the matcher is refused
#     6. a synthetic demo county is generated (300 households, fixed seed): one CSV
#        extract per agency, with realistic recording errors, and the ground truth
#     7. each agency seals its extract under the phase-2 agreement; the matcher verifies
#        every sealed extract and inspects one (tokens and counts, never payloads)
#     8. the matcher ingests the extracts into its encrypted store, links persons and
#        households from tokens alone, applies the rule, and lists candidate families
#     9. two different operators approve a family (one approval alone makes no packet),
#        each with their share of the release key (dealt in step 2): their partial
#        decryptions of the family's releasable records are what lets the team read them;
#        the matcher releases the consent-aware referral packet to the key-worker team
#    10. the team opens the packet and reads the referral; an IG lead verifies the
#        audit log
#    11. the families' outcomes so far, and the programme report with disclosure control
#        (text, and a self-contained HTML file)
#
# Output goes to demo-out/ (recreated on each run). Nothing here is real personal data.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
OUT="$ROOT/demo-out"

step() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

step "installing dependencies and building"
./scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXCHG_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
XCHG="$ROOT/build/release/tools/xchg"

rm -rf "$OUT"
mkdir -p "$OUT/keys" "$OUT/agreements" "$OUT/shares/phase1" "$OUT/shares/phase2"

label_of() { # party id -> label, read from the agreement template
  awk -v id="$1" '$0 ~ "- id: "id"$" {f=1; next} f && /label:/ {sub(/^ *label: */, ""); print; exit}' "$2"
}

step "1. each party makes its keys"
# Keys are passphrase-protected by default. The owner's and both operators' keys are
# protected here, with the passphrase on a file descriptor (never argv); the agencies',
# the matcher's and the team's keys are made with --unprotected only so that the demo runs
# without a terminal (demo only: a real deployment protects every key).
DEMO_PASS="demo only: use a real passphrase"
PROTECTED=" county-ig operator-1 operator-2 "
is_protected() { [[ "$PROTECTED" == *" $1 "* ]]; }
for tmpl in policies/phase1.yaml policies/phase2.yaml; do
  for id in $(awk '/^  - id: /{print $3}' "$tmpl"); do
    [ -f "$OUT/keys/$id.key" ] && continue
    label=$(label_of "$id" "$tmpl")
    if is_protected "$id"; then
      "$XCHG" keygen -o "$OUT/keys/$id" --label "$label" --passphrase-fd 3 3<<<"$DEMO_PASS" | head -1
    else
      "$XCHG" keygen -o "$OUT/keys/$id" --label "$label" --unprotected 2>/dev/null | head -1
    fi
  done
done
echo "  (protected:${PROTECTED% }; the others made with --unprotected, demo only)"
ls -l "$OUT/keys" | awk 'NR>1 {print "  " $1, $NF}' | head -4; echo "  ..."
"$XCHG" key show "$OUT/keys/county-ig.key"

sign_all() { # agreement -> every signatory signs
  local a=$1
  for id in $("$XCHG" policy signatories "$a"); do
    if is_protected "$id"; then
      "$XCHG" policy sign "$a" --key "$OUT/keys/$id.key" --passphrase-fd 3 3<<<"$DEMO_PASS" >/dev/null
    else
      "$XCHG" policy sign "$a" --key "$OUT/keys/$id.key" >/dev/null
    fi
    echo "  signed by $id"
  done
}

for name in phase1 phase2; do
  A="$OUT/agreements/$name.yaml"
  step "2. $name: bind the parties' keys and check the agreement"
  "$XCHG" policy bind-keys "policies/$name.yaml" --keys "$OUT/keys" -o "$A"
  # the release key: the IG lead deals it among the operators (one sealed share each), so
  # that releasing any record's detail needs approvals_required operators cryptographically
  "$XCHG" release-key deal "$A" --shares "$OUT/shares/$name" | sed 's/^/  /'
  "$XCHG" policy check "$A"

  step "3. $name: every signatory signs, then verify"
  echo "  (before anyone signs, verification fails:)"
  if "$XCHG" policy verify "$A" >/dev/null 2>&1; then echo "unexpected: unsigned agreement verified"; exit 1; fi
  sign_all "$A"
  "$XCHG" policy verify "$A"

  echo "  (a copy with one changed byte is rejected:)"
  cp "$A" "$OUT/agreements/$name-tampered.yaml"
  cp "$A.sig" "$OUT/agreements/$name-tampered.yaml.sig"
  sed -i 's/retention_days: 400/retention_days: 900/' "$OUT/agreements/$name-tampered.yaml"
  if "$XCHG" policy verify "$OUT/agreements/$name-tampered.yaml" 2>&1 | head -2 | sed 's/^/    /'; then :; fi
  if "$XCHG" policy verify "$OUT/agreements/$name-tampered.yaml" >/dev/null 2>&1; then
    echo "unexpected: tampered agreement verified"; exit 1
  fi
done

step "4. what the phase-2 agreement says, in plain English (for the DPIA)"
"$XCHG" policy explain "$OUT/agreements/phase2.yaml"

step "5. the linkage secret: made by the owner, sealed to the agencies only"
A="$OUT/agreements/phase2.yaml"
"$XCHG" secret new --agreement "$A" --key "$OUT/keys/county-ig.key" --passphrase-fd 3 --epoch 1 \
  -o "$OUT/linkage-secret-e1.xsec" 3<<<"$DEMO_PASS"
for id in police education dwp social-care youth-offending housing health; do
  "$XCHG" secret open --agreement "$A" --key "$OUT/keys/$id.key" "$OUT/linkage-secret-e1.xsec" | tail -1 |
    sed "s/^/  $id: /"
done
echo "  matcher (must be refused):"
if "$XCHG" secret open --agreement "$A" --key "$OUT/keys/matcher.key" "$OUT/linkage-secret-e1.xsec" 2>&1 | sed 's/^/    /'; then :; fi

step "6. a synthetic demo county (no real person is described)"
SYNTH="$ROOT/build/release/bench/xchg-synth"
"$SYNTH" --demo --out "$OUT/county" --quiet
sed -n '1,40p' "$OUT/county/truth/summary.txt" | sed 's/^/  /'

step "7. each agency seals its extract; the matcher verifies them"
declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
mkdir -p "$OUT/sealed"
for id in police education dwp social-care youth-offending housing health; do
  f=${FILE[$id]}
  "$XCHG" seal --agreement "$A" --key "$OUT/keys/$id.key" --secret "$OUT/linkage-secret-e1.xsec" \
    --in "$OUT/county/$f.csv" -o "$OUT/sealed/$f.xex" --period 2025-11-01..2026-10-31 \
    --report "$OUT/sealed/$f-report.csv" 2>"$OUT/sealed/$f-messages.txt" | sed -n '1p;4p;5p' | sed 's/^/  /'
done
echo
"$XCHG" extract verify --agreement "$A" --key "$OUT/keys/matcher.key" --epoch 1 "$OUT"/sealed/*.xex | sed 's/^/  /'
echo
"$XCHG" extract inspect --agreement "$A" --key "$OUT/keys/matcher.key" "$OUT/sealed/police.xex" | sed 's/^/  /'

step "8. the matcher ingests, links and lists candidate families (pseudonymous)"
M="$OUT/matcher"
mkdir -p "$M"
"$XCHG" match init --db "$M/store.db" --agreement "$A" --db-key-out "$M/store.key" | sed 's/^/  /'
"$XCHG" match ingest --db "$M/store.db" --db-key "$M/store.key" --agreement "$A" \
  --key "$OUT/keys/matcher.key" "$OUT"/sealed/*.xex | sed 's/^/  /'
"$XCHG" match run --db "$M/store.db" --db-key "$M/store.key" --agreement "$A" --date 2026-10-31 |
  sed 's/^/  /'
echo
"$XCHG" match list --db "$M/store.db" --db-key "$M/store.key" | head -12 | cut -c1-150 | sed 's/^/  /'
FAMILY=$("$XCHG" match list --db "$M/store.db" --db-key "$M/store.key" --csv | awk -F, 'NR==2{print $1}')
echo
"$XCHG" match show --db "$M/store.db" --db-key "$M/store.key" "$FAMILY" | sed 's/^/  /'

step "9. two operators approve; the matcher releases the referral packet"
DB=(--db "$M/store.db" --db-key "$M/store.key" --agreement "$A")
echo "  (an approval without the operator's share of the release key is refused:)"
if "$XCHG" release approve "${DB[@]}" --key "$OUT/keys/operator-1.key" --passphrase-fd 3 3<<<"$DEMO_PASS" \
     --reason "meets 2+ problems" "$FAMILY" 2>&1 | head -1 | sed 's/^/    /'; then :; fi
"$XCHG" release approve "${DB[@]}" --key "$OUT/keys/operator-1.key" --passphrase-fd 3 3<<<"$DEMO_PASS" \
  --share "$OUT/shares/phase2/operator-1.share" \
  --reason "meets 2+ problems; no open case with the team" "$FAMILY" | sed 's/^/  /'
echo "  (with one approval the agreement's two-person rule refuses the packet:)"
if "$XCHG" release packet "${DB[@]}" --key "$OUT/keys/matcher.key" --to tf-team \
     -o "$OUT/referral.xrp" "$FAMILY" 2>&1 | sed 's/^/    /'; then :; fi
[ ! -e "$OUT/referral.xrp" ] || { echo "unexpected: a packet with one approval"; exit 1; }
"$XCHG" release approve "${DB[@]}" --key "$OUT/keys/operator-2.key" --passphrase-fd 3 3<<<"$DEMO_PASS" \
  --share "$OUT/shares/phase2/operator-2.share" \
  --reason "agreed: refer to the key-worker team" "$FAMILY" | sed 's/^/  /'
"$XCHG" release packet "${DB[@]}" --key "$OUT/keys/matcher.key" --to tf-team \
  -o "$OUT/referral.xrp" "$FAMILY" | sed 's/^/  /'

step "10. the key-worker team opens the referral"
"$XCHG" open --agreement "$A" --key "$OUT/keys/tf-team.key" "$OUT/referral.xrp"
echo
echo "  (another party's key cannot open it:)"
if "$XCHG" open --agreement "$A" --key "$OUT/keys/police.key" "$OUT/referral.xrp" 2>&1 |
     head -1 | sed 's/^/    /'; then :; fi
echo
echo "  the IG lead checks the matcher's audit log (hash chain + signed checkpoints):"
"$XCHG" audit verify --agreement "$A" --db "$M/store.db" | sed 's/^/    /'

step "11. the programme: outcomes tracked per family, and the published tables"
echo "  each identified family's baseline problems and their outcomes (one run so far: too"
echo "  early; bench/outcomes-quality.sh runs three periods with claims and evidence packs):"
"$XCHG" outcomes "${DB[@]}" > "$OUT/outcomes.txt"
head -6 "$OUT/outcomes.txt" | sed 's/^/    /'
"$XCHG" report "${DB[@]}" -o "$OUT/report.txt" --force | sed 's/^/  /'
head -16 "$OUT/report.txt" | sed 's/^/  /'
"$XCHG" report "${DB[@]}" --html -o "$OUT/report.html" --force | sed 's/^/  /'

step "done"
echo "Everything is in demo-out/: keys, signed agreements, the linkage secret, the demo"
echo "county, the sealed extracts, the matcher's encrypted store and audit log, and the"
echo "referral packet, and the programme report (report.html)."

#!/usr/bin/env bash
# Release end to end on the demo county (xchg-synth --demo), with exact expectations:
# the candidate families are the truly eligible households; one approval under the
# two-person rule gives no packet; the packet for an approved family shows exactly what
# each record's consent and legal basis allow (checked against the agencies' own CSVs);
# a consent withdrawal sent later stops the next release of that record.
. "$(dirname "$0")/lib.bash"
X=$XCHG
S=$XCHG_SOURCE_DIR
K=$T/keys
skip_unless_in_force
C=$T/county
expect 0 "" -- $XCHG_SYNTH --demo --out "$C" --quiet
A=$T/phase2.yaml
ready_agreement "$S/policies/phase2.yaml" "$A"
$X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$T/s.xsec" >/dev/null
declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
seal() { # agency csv out
  $X seal --agreement "$A" --key "$K/$1.key" --secret "$T/s.xsec" --in "$2" -o "$3" \
    --period 2025-11-01..2026-10-31 --strict --force >/dev/null 2>&1
}
for agency in "${!FILE[@]}"; do seal "$agency" "$C/${FILE[$agency]}.csv" "$T/${FILE[$agency]}.xex"; done
DB=(--db "$T/db" --db-key "$T/db.key" --agreement "$A")
$X match init --db "$T/db" --agreement "$A" --db-key-out "$T/db.key" >/dev/null
expect 0 "7 active extracts" -- $X match ingest "${DB[@]}" --key "$K/matcher.key" "$T"/*.xex
expect 0 "eligible families  23" -- $X match run "${DB[@]}" --date 2026-10-31

# candidates = the truly eligible households: map each record to its true household, take
# each candidate family's households, and compare with the programme truth (identified
# under the phase 2 criteria, docs/programme.md)
awk -F, 'NR>1 && $4==1 { print $1 ",x" }' "$C/truth/programme-phase2.csv" > "$T/eligible.csv"
$X match links --db "$T/db" --db-key "$T/db.key" --csv > "$T/links.csv"
$X match list --db "$T/db" --db-key "$T/db.key" --csv | awk -F, 'NR>1{print $1}' | sort > "$T/candidates.txt"
awk -F, '
  FNR==1 { f++; if (f < 4) next }
  f==1 { file[$1=="police.csv"?"police":$1=="education.csv"?"education":$1=="dwp.csv"?"dwp":$1=="social_care.csv"?"social-care":$1=="yos.csv"?"youth-offending":$1=="housing.csv"?"housing":"health", $2] = $4; next }
  f==2 { fam[$4] = fam[$4] " " file[$1, $2]; next }
  f==3 { elig[$1] = 1; next }
  f==4 { n = split(fam[$1], hh, " "); ok = 0; for (i = 1; i <= n; i++) if (hh[i] in elig) { ok = 1; found[hh[i]] = 1 }
         print $1, ok }
  END { for (h in elig) if (!(h in found)) print "missed", h }
' "$C/truth/rows.csv" "$T/links.csv" <(echo header; cat "$T/eligible.csv") "$T/candidates.txt" > "$T/check.txt"
# every candidate is truly eligible (precision exactly 1); of the 24 truly eligible households
# one is missed by linkage, not by the rules: household 272's adult is known only to DWP
# at an address the rest of the family's records do not share (docs/linkage.md "What
# limits recall"); household 290's health record, placed by its address, is found
expect 1 "" -- grep -q " 0$" "$T/check.txt"
expect 0 "" -- test "$(grep -c '^missed' "$T/check.txt")" -eq 1
expect 0 "" -- grep -qx "missed 272" "$T/check.txt"
expect 0 "" -- test "$(wc -l < "$T/eligible.csv")" -eq 24

# what the packet must say for each record (commas inside quoted fields, as in an
# address "63 King's Lane, Fenwold", are turned into ';' first so that awk splits on
# the CSV's own commas), from the agencies' CSVs and the agreement's
# consent rules (police, education, social care, youth offending: consent or safeguarding;
# dwp, housing: consent; health: consent)
expected() {
  for agency in "${!FILE[@]}"; do
    awk -F, -v ag="$agency" '
      function unq(s) { gsub(/^"|"$/, "", s); return s }
      NR==1 { sub(/^\xef\xbb\xbf/, ""); for (i = 1; i <= NF; i++) col[toupper(unq($i))] = i; next }
      { ref = unq($1); c = tolower(unq($col["CONSENT"])); b = tolower(unq($col["LEGAL BASIS"] ? $col["LEGAL BASIS"] : $col["LEGAL_BASIS"]))
        gsub(/^ +| +$/, "", c)
        if (c == "given") out = "released"
        else if (b == "safeguarding" && ag != "dwp" && ag != "housing" && ag != "health") out = "released"
        else if (c == "refused") out = "withheld:consent refused"
        else if (c == "withdrawn") out = "withheld:consent withdrawn"
        else out = "withheld:consent not yet sought"
        print ag, ref, out }' <(sed -E ':a; s/^(([^"]*"[^"]*")*[^"]*"[^",]*),/\1;/; ta' "$1/${FILE[$agency]}.csv")
  done
}
expected "$C" | sort > "$T/expected0.txt"

# the family to release: the first candidate with a police record whose consent is given
# (so that the withdrawal below has something to stop) and a record the consent rules
# withhold with a notice (so that the packet's notice is tested)
REF=; FAM=
while IFS=, read -r ref fam; do
  if grep -qx -- "$fam" "$T/candidates.txt" &&
     awk -F, -v f="$fam" '$4 == f && $1 != "health" { print $1, $2 }' "$T/links.csv" |
       grep -qFf - <(grep withheld "$T/expected0.txt"); then REF=$ref; FAM=$fam; break; fi
done < <(awk -F, 'NR==FNR { if (tolower($10) == "given") g[$1] = 1; next }
                  $1=="police" && ($2 in g) { print $2 "," $4 }' "$C/police.csv" "$T/links.csv")
expect 0 "" -- test -n "$FAM"
expect 0 "1 of 2 approvals" -- $X release approve "${DB[@]}" --key "$K/operator-1.key" --share "$T/shares/operator-1.share" --reason "two problems" "$FAM"
expect 1 "has 1 of the 2 approvals" -- $X release packet "${DB[@]}" --key "$K/matcher.key" --to tf-team -o "$T/p.xrp" "$FAM"
[ ! -e "$T/p.xrp" ] && PASSES=$((PASSES+1)) || { echo "FAIL: a packet with one approval"; FAILS=$((FAILS+1)); }
expect 1 "not the key of an operator" -- $X release approve "${DB[@]}" --key "$K/matcher.key" --reason x "$FAM"
# operator text goes into the audit log as JSON, quotes and all
expect 0 "2 of 2 approvals" -- $X release approve "${DB[@]}" --key "$K/operator-2.key" --share "$T/shares/operator-2.share" --reason 'agreed: "refer" \ now' "$FAM"
expect 1 "is not a recipient" -- $X release packet "${DB[@]}" --key "$K/matcher.key" --to 'no"body' -o "$T/x.xrp" "$FAM"
expect 0 "written to" -- $X release packet "${DB[@]}" --key "$K/matcher.key" --to tf-team -o "$T/p.xrp" "$FAM"

actual() { # the records an opened packet holds (JSON, keys sorted): released ones only
  $X open --agreement "$A" --key "$K/tf-team.key" --json "$1" | awk '
    /^ *"agency": /   { a = $2; gsub(/[",]/, "", a) }
    /^ *"basis_for_release": / { b = 1 }
    /^ *"ref": /      { r = $2; gsub(/[",]/, "", r); if (b) print a, r, "released"; b = 0 }'
}
expected "$C" | sort > "$T/expected.txt"
actual "$T/p.xrp" | sort > "$T/actual.txt"
expect 0 "" -- test -s "$T/actual.txt"
# the packet holds exactly the family's records the agencies' consent and bases release ...
expect 1 "" -- bash -c "join -j1 <(awk '{print \$1\"/\"\$2, \$3}' '$T/actual.txt' | sort) <(awk '{print \$1\"/\"\$2, \$3}' '$T/expected.txt' | sort) | awk '\$2 != \$3' | grep ."
# ... and names none of the withheld ones: no reference, anywhere in the opened packet
$X open --agreement "$A" --key "$K/tf-team.key" --json "$T/p.xrp" > "$T/p.json"
awk '$3 != "released" { print $2 }' "$T/expected.txt" | while read -r ref; do
  grep -q "\"$ref\"" "$T/p.json" && echo "$ref"
done > "$T/leaked.txt"
expect 1 "" -- grep . "$T/leaked.txt"
# the problems the packet states are problems the family was identified on, and only those
# its released records evidence (never a measure's other events, like good attendance)
$X match show --db "$T/db" --db-key "$T/db.key" "$FAM" > "$T/show.txt"
grep -o '"code": *"[a-z_]*"' "$T/p.json" | sed 's/.*"\([a-z_]*\)"$/\1/' | sort -u > "$T/pkt-problems.txt"
expect 0 "" -- test -s "$T/pkt-problems.txt"
while read -r code; do
  grep -q "^  $code " "$T/show.txt" && PASSES=$((PASSES+1)) ||
    { echo "FAIL: the packet states $code, which the family was not identified on"; FAILS=$((FAILS+1)); }
done < "$T/pkt-problems.txt"
# the recipient's view says more is held without naming the agency or problem
expect 0 "can be shared with the family's consent" -- cat "$T/p.json"
# the recipient reads the detail; another party cannot open the packet
expect 0 "signature and agreement verified" -- $X open --agreement "$A" --key "$K/tf-team.key" "$T/p.xrp"
expect 1 "this packet is for party 'tf-team'" -- $X open --agreement "$A" --key "$K/police.key" "$T/p.xrp"

# a released police record's person withdraws consent: police send a newer extract
expect 0 "police $REF released" -- cat "$T/actual.txt"
if [ -n "$REF" ]; then
  awk -F, -v OFS=, -v ref="$REF" '$1==ref{$10="withdrawn"; $11="15/10/2026"}1' "$C/police.csv" > "$T/police-new.csv"
  sleep 1 # a later creation time
  seal police "$T/police-new.csv" "$T/police-new.xex"
  expect 0 "superseded extract" -- $X match ingest "${DB[@]}" --key "$K/matcher.key" "$T/police-new.xex"
  $X match run "${DB[@]}" --date 2026-10-31 >/dev/null
  FAM2=$(awk -F, -v r="$REF" '$1=="police" && $2==r{print $4}' <($X match links --db "$T/db" --db-key "$T/db.key" --csv))
  expect 0 "" -- test "$FAM2" = "$FAM"   # the family keeps its pseudonym across runs
  expect 1 "0 of the 2 approvals" -- $X release packet "${DB[@]}" --key "$K/matcher.key" --to tf-team -o "$T/p2.xrp" "$FAM"
  $X release approve "${DB[@]}" --key "$K/operator-1.key" --share "$T/shares/operator-1.share" --reason "again" "$FAM" >/dev/null
  $X release approve "${DB[@]}" --key "$K/operator-2.key" --share "$T/shares/operator-2.share" --reason "again" "$FAM" >/dev/null
  expect 0 "written to" -- $X release packet "${DB[@]}" --key "$K/matcher.key" --to tf-team -o "$T/p2.xrp" "$FAM"
  # withdrawn: no longer released, and not named anywhere in the packet
  $X open --agreement "$A" --key "$K/tf-team.key" --json "$T/p2.xrp" > "$T/p2.json"
  expect 0 "" -- test -s "$T/p2.json"
  expect 1 "" -- grep -qF "\"$REF\"" "$T/p2.json"
fi
expect 0 "ok:" -- $X audit verify --agreement "$A" --log "$T/db.audit"
expect 0 'agreed: \"refer\"' -- cat "$T/db.audit"
expect 0 '"recipient":"no\"body","refused"' -- cat "$T/db.audit"
finish

#!/usr/bin/env bash
# xchg report end to end on the demo county (xchg-synth --demo): every format; what is
# shown obeys the agreement's reports rules (no count below suppress_below but zeros,
# every count a multiple of round_to, "[c]" / "suppressed": true where suppressed); the
# recovery attack on every table finds nothing (report_attack); each report produced is
# in the audit log with the SHA-256 of the bytes written. Leaves the HTML report in
# $XCHG_REPORT_OUT/ for the Chromium test (html.sh).
. "$XCHG_SOURCE_DIR/tests/cli/lib.bash"
X=$XCHG
S=$XCHG_SOURCE_DIR
K=$T/keys
mkdir -p "$K"
skip_unless_in_force
C=$T/county
expect 0 "" -- $XCHG_SYNTH --demo --out "$C" --quiet
for p in $(awk '/^  - id: /{print $3}' "$S/policies/phase2.yaml"); do
  $X keygen -o "$K/$p" --label "Test $p" --unprotected >/dev/null
done
A=$T/phase2.yaml
# the example agreement, with a geography if it has none (tests/report/geography.bash)
. "$S/tests/report/geography.bash"
{ cat "$S/policies/phase2.yaml"; geography_for "$C" "$S/policies/phase2.yaml"; } > "$T/unbound.yaml"
$X policy bind-keys "$T/unbound.yaml" --keys "$K" -o "$A" >/dev/null
# the example agreements say release_key: required: deal it (docs/release.md section 4)
mkdir -p "$T/shares" && $X release-key deal "$A" --shares "$T/shares" --force >/dev/null
for p in $(signatories "$A"); do $X policy sign "$A" --key "$K/$p.key" >/dev/null; done
$X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$T/s.xsec" >/dev/null
declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
for agency in "${!FILE[@]}"; do
  $X seal --agreement "$A" --key "$K/$agency.key" --secret "$T/s.xsec" --in "$C/${FILE[$agency]}.csv" \
    -o "$T/${FILE[$agency]}.xex" --period 2025-11-01..2026-10-31 --strict --force >/dev/null 2>&1
done
DB=(--db "$T/db" --db-key "$T/db.key" --agreement "$A")
$X match init --db "$T/db" --agreement "$A" --db-key-out "$T/db.key" >/dev/null

# before any run: a clear error, no report, no audit entry
expect 3 "no linkage run yet" -- $X report "${DB[@]}"
expect 0 "7 active extracts" -- $X match ingest "${DB[@]}" --key "$K/matcher.key" "$T"/*.xex
expect 0 "eligible families" -- $X match run "${DB[@]}" --date 2026-10-31
$X match list --db "$T/db" --db-key "$T/db.key" --csv > "$T/list.csv"
N=$(awk -F, 'NR > 1' "$T/list.csv" | wc -l)   # the identified families
R=$(( (N + 2) / 5 * 5 ))                       # rounded to 5, halves up
expect 2 "at most one of" -- $X report "${DB[@]}" --csv --json
expect 3 "no run 9" -- $X report "${DB[@]}" --run 9

# every format, to files (atomic; refuses to replace without --force)
expect 0 "recorded in the audit log" -- $X report "${DB[@]}" -o "$T/r.txt"
expect 2 "give --force" -- $X report "${DB[@]}" -o "$T/r.txt"
expect 0 "" -- $X report "${DB[@]}" -o "$T/r.txt" --force
expect 0 "" -- $X report "${DB[@]}" --csv -o "$T/r.csv"
expect 0 "" -- $X report "${DB[@]}" --json -o "$T/r.json"
expect 0 "" -- $X report "${DB[@]}" --html -o "$T/r.html"
$X report "${DB[@]}" --json > "$T/stdout.json" 2>/dev/null

# the tables are there
for t in "Families identified, by area" "Families identified, by problem" \
         "by combination of problems" "by the agencies working with them" "by age band" \
         "Outcomes (RAG progress), by problem"; do
  expect 0 "$t" -- cat "$T/r.txt"
done
# families identified (N, exact in the operator's own list), published rounded
expect 0 "" -- test "$N" -ge 5
expect 0 "" -- grep -qE "^  Total +$R\$" "$T/r.txt"
expect 0 "" -- grep -q "^problem_combination,Total,families,$R,\$" <(tr -d '\r' < "$T/r.csv")

# outcomes by problem: the grand total is the run's judged family-problems (exact in
# xchg outcomes), rounded; met / not met / too early columns, with margins
$X outcomes "${DB[@]}" --csv > "$T/outcomes.csv"
NO=$(awk -F, 'NR > 1 && ($5 == "met" || $5 == "not met" || $5 == "too early")' "$T/outcomes.csv" | wc -l)
expect 0 "" -- test "$NO" -ge 5
expect 0 "" -- grep -q "^outcomes,Total,Total,$(( (NO + 2) / 5 * 5 )),\$" <(tr -d '\r' < "$T/r.csv")
for c in Met "Not met" "Too early"; do
  expect 0 "" -- grep -q "^outcomes,Total,$c," <(tr -d '\r' < "$T/r.csv")
done
expect 0 "" -- grep -q '"id": "outcomes"' "$T/r.json"
# a first run: each problem's outcomes are judged for exactly its identified families, so
# the outcomes row total is the problem's count (one protected cell), published or
# suppressed alike in both tables (never one subtracted from the other)
diff <(tr -d '\r' < "$T/r.csv" | awk -F, '$1 == "problem" {sub(/^problem,/, ""); sub(/,families,/, ","); print}') \
     <(tr -d '\r' < "$T/r.csv" | awk -F, '$1 == "outcomes" && $(NF-2) == "Total" && $2 != "Total" {
         sub(/^outcomes,/, ""); sub(/,Total,/, ","); print}') > "$T/link.diff" && rc=0 || rc=$?
expect 0 "" -- test "$rc" -eq 0
[ "$rc" -eq 0 ] || cat "$T/link.diff"

# what is shown obeys the rules (suppress_below 5, round_to 5, zeros shown)
bad=$(tr -d '\r' < "$T/r.csv" | awk -F, 'NR > 1 {
  v = $(NF-1); f = $NF
  if (f == "c") { if (v != "") print "suppressed with a value: " $0; next }
  if (v == "" || (v != 0 && v < 5) || v % 5) print "shown: " $0 }')
expect 0 "" -- test -z "$bad"
[ -z "$bad" ] || echo "$bad" | head
nsupp=$(tr -d '\r' < "$T/r.csv" | awk -F, '$NF == "c"' | wc -l)
expect 0 "" -- test "$nsupp" -gt 0
expect 0 "" -- grep -q '\[c\]' "$T/r.txt"
# JSON: a suppressed cell has a null value; no shown value below 5 but 0
expect 0 "" -- grep -q '"suppressed": true' "$T/r.json"
bad=$(grep -oE '"value": [0-9]+' "$T/r.json" | awk '{ v = $2; if ((v != 0 && v < 5) || v % 5) print }')
expect 0 "" -- test -z "$bad"
expect 0 "" -- grep -q '"format": "exchange-report"' "$T/r.json"
# the HTML is one self-contained file: no script, no external resource
expect 1 "" -- grep -qiE '<script|<link|src=|@import|url\(http' "$T/r.html"
expect 0 "" -- grep -q '<svg' "$T/r.html"

# the recovery attack on every table
out=$($XCHG_REPORT_ATTACK "$T/db" "$T/db.key" "$A" 2>&1) && rc=0 || rc=$?
echo "$out"
expect 0 "" -- test "$rc" -eq 0
expect 0 "" -- grep -q "exposed 0; shown below threshold or unrounded 0" <<<"$out"

# every report in the audit log, with the SHA-256 of the bytes written
expect 0 "" -- $X audit verify --log "$T/db.audit" --agreement "$A"
$X audit show --log "$T/db.audit" --type report > "$T/audit.txt"
for f in r.txt r.csv r.json r.html stdout.json; do
  h=$(sha256sum "$T/$f" | cut -d' ' -f1)
  expect 0 "$h" -- cat "$T/audit.txt"
done
expect 0 "" -- test "$(grep -c '"sha256"' "$T/audit.txt")" -eq 6

if [ -n "${XCHG_REPORT_OUT:-}" ]; then
  mkdir -p "$XCHG_REPORT_OUT"
  cp "$T/r.html" "$T/r.csv" "$T/r.json" "$XCHG_REPORT_OUT/"
  printf '%s\n' "$(awk '/^reports:/{f=1} f && /suppress_below:/{print $2; exit}' "$A")" > "$XCHG_REPORT_OUT/threshold"
fi
finish

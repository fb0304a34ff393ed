#!/usr/bin/env bash
# The HTML report (made by report.sh on the demo county) rendered in headless Chromium:
# the page loads offline as one file, every chart (figure) has its table, every chart and
# table cell shows only protected counts (none below the agreement's suppress_below but
# zero, suppressed ones as [c]), the outcomes stacked bars do not rely on colour alone,
# and it renders to a screenshot and prints to PDF.
# Exit 77 (ctest SKIP) only when no chromium is installed; CI installs Debian's chromium.
. "$XCHG_SOURCE_DIR/tests/cli/lib.bash"
CHROME=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROME" ]; then
  echo "skipped: no chromium (apt-get install -y chromium)"; exit 77
fi
R=${XCHG_REPORT_OUT:?}
H=$R/r.html
[ -f "$H" ] || { echo "FAIL: $H missing (cli.report makes it)"; exit 1; }
THR=$(cat "$R/threshold")
# no network at all: --host-resolver-rules maps every name nowhere, so an external
# resource could not load (and the checks below find none)
run_chrome() {
  timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$T/profile" --host-resolver-rules="MAP * ~NOTFOUND" \
    --disable-background-networking "$@" 2>>"$T/chrome.err"
}
run_chrome --dump-dom "file://$H" > "$T/dom.html"
expect 0 "" -- grep -q '<h1>Programme report</h1>' "$T/dom.html"
[ -s "$T/dom.html" ] || { echo "chromium said:"; tail -5 "$T/chrome.err"; }

# every chart has its table, in the same section, after the chart
figs=$(grep -o '<figure data-chart="[a-z_]*" data-table="table-[a-z_]*"' "$T/dom.html" | sed 's/.*data-table="//; s/"$//')
expect 0 "" -- test "$(echo "$figs" | grep -c .)" -eq 4
for id in $figs; do
  expect 0 "" -- grep -q "<table id=\"$id\"" "$T/dom.html"
  # the table follows its figure before the section ends
  ok=$(awk -v id="$id" 'index($0, "data-table=\"" id "\"") && /<figure/ {f=1}
                        f && index($0, "<table id=\"" id "\"") {print "yes"; exit}
                        f && /<\/section>/ {exit}' "$T/dom.html")
  expect 0 "" -- test "$ok" = yes
done
# the outcomes (RAG) stacked bars: colour is not the only cue — a legend naming each
# status, a pattern per status, every segment titled with its status and count; the
# table after it has the three status columns
sec=$(awk '/<section id="s-outcomes"/{f=1} f{print} f && /<\/section>/{exit}' "$T/dom.html")
expect 0 "" -- grep -q 'data-chart="outcomes"' <<<"$sec"
for s in "Met (green)" "Not met (red)" "Too early (amber)"; do
  expect 0 "" -- grep -q "<text [^>]*>$s</text>" <<<"$sec"
done
for p in rag-met rag-notmet rag-early; do
  expect 0 "" -- grep -q "<pattern id=\"$p\"" <<<"$sec"
done
expect 0 "" -- test "$(grep -oE '<rect [^>]*fill="url\(#rag-[a-z]+\)"[^>]*><title>' <<<"$sec" | wc -l)" -eq \
  "$(grep -o '<title>[A-Za-z ()]*: [0-9]*</title>' <<<"$sec" | wc -l)"
expect 0 "" -- test "$(grep -oE '<title>[A-Za-z ()]+: [0-9]+</title>' <<<"$sec" | wc -l)" -gt 0
bad=$(grep -oE '<title>[A-Za-z ()]+: [0-9]+</title>' <<<"$sec" | grep -oE '[0-9]+' |
      awk -v t="$THR" '$1 != 0 && $1 < t')
expect 0 "" -- test -z "$bad"
for c in Met "Not met" "Too early"; do
  expect 0 "" -- grep -q "<th scope=\"col\">$c</th>" <<<"$sec"
done
# every section has a table; every svg is an image with a title
expect 0 "" -- test "$(grep -c '<section' "$T/dom.html")" -eq "$(grep -c '<table id=' "$T/dom.html")"
expect 0 "" -- test "$(grep -c '<svg' "$T/dom.html")" -eq "$(grep -o '<svg[^>]*role="img"' "$T/dom.html" | wc -l)"
expect 0 "" -- test "$(grep -o '<svg' "$T/dom.html" | wc -l)" -eq "$(grep -o '<title id="svg-' "$T/dom.html" | wc -l)"
# no cell below the threshold is shown: table cells and chart labels
bad=$(grep -oE 'data-value="[0-9]+"' "$T/dom.html" | grep -oE '[0-9]+' |
      awk -v t="$THR" '$1 != 0 && $1 < t')
expect 0 "" -- test -z "$bad"
bad=$(grep -oE '<text [^>]*>[0-9]+</text>' "$T/dom.html" | sed -E 's/.*>([0-9]+)<.*/\1/' |
      awk -v t="$THR" '$1 != 0 && $1 < t')
expect 0 "" -- test -z "$bad"
nsupp=$(grep -o 'data-suppressed="1"' "$T/dom.html" | wc -l)
expect 0 "" -- test "$nsupp" -gt 0
# the same suppressed cells as the CSV: the page hides exactly what the data file does
expect 0 "" -- test "$nsupp" -eq "$(tr -d '\r' < "$R/r.csv" | awk -F, '$NF == "c"' | wc -l)"
# nothing external, nothing scripted
expect 1 "" -- grep -qiE '<script|<link |<iframe|src="http|@import' "$T/dom.html"

# it renders, and prints
run_chrome --screenshot="$T/shot.png" --window-size=1200,2400 "file://$H" >/dev/null
expect 0 "PNG image data, 1200 x 2400" -- file "$T/shot.png"
expect 0 "" -- test "$(stat -c %s "$T/shot.png")" -gt 20000
run_chrome --print-to-pdf="$T/print.pdf" --no-pdf-header-footer "file://$H" >/dev/null
expect 0 "PDF document" -- file "$T/print.pdf"
[ -n "${XCHG_REPORT_OUT:-}" ] && cp "$T/shot.png" "$R/screenshot.png"
finish

#!/usr/bin/env bash
# The report and its recovery attack on a generated county of PEOPLE people (default
# 300,000): generate, seal every agency's extract under the phase-2 agreement with a
# geography (tests/report/geography.bash), ingest, link, time `xchg report --html`, and
# attack every table (report_attack: exit 1 when a suppressed count can be narrowed
# below the threshold or a small count is shown). Used by ctest (cli.report_county) and
# by bench/report-bench.sh. The last line is exactly:
#   report: <N> families <S> s <M> MiB
# Environment: XCHG, XCHG_SYNTH, XCHG_REPORT_ATTACK, XCHG_SOURCE_DIR, PEOPLE, JOBS (2).
set -euo pipefail
S=${XCHG_SOURCE_DIR:?}
X=${XCHG:?}
PEOPLE=${PEOPLE:-300000}
JOBS=${JOBS:-2}
today=$(date -u +%F)
if [[ "$today" < "2026-04-01" || "$today" > "2028-03-31" ]]; then
  echo "skipped: the example agreement is not in force on $today"; exit 0
fi
[ -x /usr/bin/time ] || { echo "report county: install the Debian package 'time'" >&2; exit 2; }
W=$(mktemp -d "${XCHG_TMP:-${TMPDIR:-/tmp}}/report-county.XXXXXX")
[ -n "${KEEP:-}" ] && echo "work dir: $W" >&2 || trap 'rm -rf "$W"' EXIT
"$XCHG_SYNTH" --people "$PEOPLE" --seed 1 --out "$W/county" --quiet
mkdir -p "$W/keys"
for p in $(awk '/^  - id: /{print $3}' "$S/policies/phase2.yaml"); do
  $X keygen -o "$W/keys/$p" --label "$p" --unprotected >/dev/null
done
. "$S/tests/report/geography.bash"
{ cat "$S/policies/phase2.yaml"; geography_for "$W/county" "$S/policies/phase2.yaml"; } > "$W/unbound.yaml"
A=$W/phase2.yaml
$X policy bind-keys "$W/unbound.yaml" --keys "$W/keys" -o "$A" >/dev/null
# the example agreements say release_key: required: deal it (docs/release.md section 4)
mkdir -p "$W/shares" && $X release-key deal "$A" --shares "$W/shares" --force >/dev/null
for p in $($X policy signatories "$A"); do $X policy sign "$A" --key "$W/keys/$p.key" >/dev/null; done
$X secret new --agreement "$A" --key "$W/keys/county-ig.key" --epoch 1 -o "$W/s.xsec" >/dev/null
declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
XEX=()
for id in police education dwp social-care youth-offending housing health; do
  f=${FILE[$id]}
  $X seal --agreement "$A" --key "$W/keys/$id.key" --secret "$W/s.xsec" --in "$W/county/$f.csv" \
    -o "$W/$f.xex" --period 2025-11-01..2026-10-31 >/dev/null 2>&1
  XEX+=("$W/$f.xex")
done
DB=(--db "$W/m.db" --db-key "$W/m.dbkey" --agreement "$A")
$X match init --db "$W/m.db" --agreement "$A" --db-key-out "$W/m.dbkey" >/dev/null
$X match ingest "${DB[@]}" --key "$W/keys/matcher.key" "${XEX[@]}" >/dev/null
$X match run "${DB[@]}" --date 2026-10-31 --threads "$JOBS" > "$W/run.txt"
families=$(awk '/eligible families/{print $NF; exit}' "$W/run.txt")
start=$(date +%s.%N)
/usr/bin/time -v -o "$W/time.txt" $X report "${DB[@]}" --html -o "$W/report.html" 2>/dev/null
end=$(date +%s.%N)
"$XCHG_REPORT_ATTACK" "$W/m.db" "$W/m.dbkey" "$A"
$X report "${DB[@]}" 2>/dev/null | sed -n '1,/by problem/p' | sed 's/^/  /'
printf 'report: %d families %.2f s %d MiB\n' "$families" "$(echo "$end - $start" | bc -l)" \
  "$(awk -F: '/Maximum resident/{print int($2/1024)}' "$W/time.txt")"

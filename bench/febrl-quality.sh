#!/usr/bin/env bash
# febrl-quality.sh — linkage quality on the public FEBRL deduplication sets
# (../shared/data/febrl/dataset{1,2,3}.csv): originals (rec-N-org) become one agency's
# extract and duplicates (rec-N-dup-K) another's, sealed under the linkage-only agreement
# bench/febrl/agreement.yaml, linked, and scored against the truth (records with the same
# N are one person): pairwise precision, recall and F1 over all record pairs, duplicate
# pairs of one person included.
#
#   bench/febrl-quality.sh [FEBRL_DIR] [THRESHOLDS...]
#     default ../shared/data/febrl and thresholds 0.75 0.80 0.85
#
# Prints one line per set and threshold:
#   febrl<N> t=<T> precision=<P> recall=<R> f1=<F>
# (the threshold is overridden in memory by bench/link_quality's LQ_THRESHOLD; the signed
# agreement says 0.80). FEBRL_VERBOSE=1 also prints link_quality's full report to stderr;
# FEBRL_WORK=DIR keeps the sealed files there, with each run's per-record persons in
# DIR/dataset<N>/links-<T>.csv (link_quality's LQ_DUMP: file:ref,person,family,...);
# FEBRL_AGREEMENT=FILE measures another agreement (a variant of the benchmark's).
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-../shared/data/febrl}
shift || true
TS=${*:-"0.75 0.80 0.85"}
B=${FEBRL_BUILD:-build/bench-release}
if [ -z "${FEBRL_BUILD:-}" ]; then
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DXCHG_TESTS=OFF >/dev/null
  cmake --build "$B" -j2 >/dev/null
fi
X=$B/tools/xchg
LQ=$B/bench/link_quality
[ -x "$LQ" ] || { echo "febrl-quality: $LQ not built" >&2; exit 1; }
if [ -n "${FEBRL_WORK:-}" ]; then # keep the sealed files and per-record dumps there
  W=$FEBRL_WORK
  rm -rf "$W" && mkdir -p "$W"
else
  W=$(mktemp -d "${TMPDIR:-/tmp}/febrlq.XXXXXX")
  trap 'rm -rf "$W"' EXIT
fi
mkdir -p "$W/keys"
for p in ig febrl-orig febrl-dup matcher; do $X keygen -o "$W/keys/$p" --label "$p" --unprotected >/dev/null; done
A=$W/agreement.yaml
$X policy bind-keys "${FEBRL_AGREEMENT:-bench/febrl/agreement.yaml}" --keys "$W/keys" -o "$A" >/dev/null
for p in ig febrl-orig febrl-dup matcher; do $X policy sign "$A" --key "$W/keys/$p.key" >/dev/null; done
$X secret new --agreement "$A" --key "$W/keys/ig.key" --epoch 1 -o "$W/s.xsec" >/dev/null
found=0
for ds in dataset1 dataset2 dataset3; do
  [ -f "$D/$ds.csv" ] || continue
  found=1
  mkdir -p "$W/$ds/truth"
  python3 - "$D/$ds.csv" "$W/$ds" <<'PY'
import csv, sys, re
src, out = sys.argv[1], sys.argv[2]
rows = list(csv.reader(open(src, newline=''), skipinitialspace=True))
head = [h.strip() for h in rows[0]]
o = csv.writer(open(out + '/orig.csv', 'w', newline=''))
d = csv.writer(open(out + '/dup.csv', 'w', newline=''))
t = csv.writer(open(out + '/truth/rows.csv', 'w', newline=''))
o.writerow(head); d.writerow(head)
t.writerow(['file', 'record_ref', 'person_id', 'household_id'])
for line, r in enumerate(rows[1:], 2):
    if not r: continue
    rid = r[0].strip()
    m = re.match(r'rec-(\d+)-(org|dup-\d+)$', rid)
    if not m:
        sys.exit('%s:%d: rec_id %r is neither rec-N-org nor rec-N-dup-K' % (src, line, rid))
    n = m.group(1)
    if m.group(2) == 'org':
        o.writerow(r); t.writerow(['febrl-orig', rid, n, n])
    else:
        d.writerow(r); t.writerow(['febrl-dup', rid, n, n])
open(out + '/truth/eligible.csv', 'w').write('household_id\n')
PY
  for a in febrl-orig:orig febrl-dup:dup; do
    $X seal --agreement "$A" --key "$W/keys/${a%%:*}.key" --secret "$W/s.xsec" --in "$W/$ds/${a##*:}.csv" \
      -o "$W/$ds/${a##*:}.xex" --period 2026-01-01..2026-12-31 >/dev/null 2>"$W/$ds/${a##*:}.log" ||
      { cat "$W/$ds/${a##*:}.log" >&2; exit 1; }
  done
  for t in $TS; do
    out=$(env LQ_THRESHOLD=$t ${FEBRL_WORK:+LQ_DUMP=$W/$ds/links-$t.csv} $LQ "$A" "$W/keys/matcher.key" "$W/$ds/truth" 2026-06-30 \
      "$W/$ds/truth/eligible.csv" "$W/$ds/orig.xex" "$W/$ds/dup.xex")
    [ -n "${FEBRL_VERBOSE:-}" ] && printf '== %s t=%s ==\n%s\n' "$ds" "$t" "$out" >&2
    awk -v ds="febrl${ds#dataset}" -v t="$t" '/^person pairs:/ {
      printf "%s t=%s precision=%s recall=%s f1=%s\n", ds, t, $4, $6, $8 }' <<<"$out"
  done
done
[ "$found" = 1 ] || { echo "febrl-quality: no dataset*.csv in $D" >&2; exit 1; }

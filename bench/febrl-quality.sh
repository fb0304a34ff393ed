#!/usr/bin/env bash
# febrl-quality.sh — linkage quality on the public FEBRL deduplication sets
# (../shared/data/febrl/dataset{1,2,3}.csv): originals become one agency's extract and
# duplicates another's, sealed under bench/febrl/agreement.yaml, linked, and scored
# against the rec-N-org / rec-N-dup-K truth (pairwise precision, recall, F1).
#
#   bench/febrl-quality.sh [FEBRL_DIR]     default ../shared/data/febrl
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-../shared/data/febrl}
B=build/bench-release
cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DXCHG_TESTS=OFF >/dev/null
cmake --build $B -j"$(nproc)" >/dev/null
X=$B/tools/xchg
W=$(mktemp -d "${TMPDIR:-/tmp}/febrlq.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/keys"
for p in ig febrl-orig febrl-dup matcher team; do $X keygen -o "$W/keys/$p" --label "$p" >/dev/null; done
A=$W/agreement.yaml
$X policy bind-keys bench/febrl/agreement.yaml --keys "$W/keys" -o "$A" >/dev/null
for p in ig febrl-orig febrl-dup matcher team; do $X policy sign "$A" --key "$W/keys/$p.key" >/dev/null; done
$X secret new --agreement "$A" --key "$W/keys/ig.key" --epoch 1 -o "$W/s.xsec" >/dev/null
for ds in dataset1 dataset2 dataset3; do
  [ -f "$D/$ds.csv" ] || continue
  mkdir -p "$W/$ds/truth"
  python3 - "$D/$ds.csv" "$W/$ds" <<'PY'
import csv, sys, re
src, out = sys.argv[1], sys.argv[2]
rows = list(csv.reader(open(src, newline=''), skipinitialspace=True))
head = [h.strip() for h in rows[0]]
o = csv.writer(open(out + '/orig.csv', 'w', newline=''))
d = csv.writer(open(out + '/dup.csv', 'w', newline=''))
t = csv.writer(open(out + '/truth/rows.csv', 'w', newline=''))
o.writerow(head + ['consent', 'flag']); d.writerow(head + ['consent'])
t.writerow(['file', 'record_ref', 'person_id', 'household_id'])
for r in rows[1:]:
    if not r: continue
    rid = r[0].strip()
    n = re.match(r'rec-(\d+)-', rid).group(1)
    if rid.endswith('-org'):
        o.writerow(r + ['given', '1']); t.writerow(['febrl-orig', rid, n, n])
    else:
        d.writerow(r + ['given']); t.writerow(['febrl-dup', rid, n, n])
open(out + '/truth/eligible.csv', 'w').write('household_id\n')
PY
  for a in febrl-orig:orig febrl-dup:dup; do
    $X seal --agreement "$A" --key "$W/keys/${a%%:*}.key" --secret "$W/s.xsec" --in "$W/$ds/${a##*:}.csv" \
      -o "$W/$ds/${a##*:}.xex" --period 2026-01-01..2026-12-31 >/dev/null 2>"$W/$ds/${a##*:}.log" ||
      { cat "$W/$ds/${a##*:}.log" >&2; exit 1; }
  done
  echo "== FEBRL $ds =="
  $B/bench/link_quality "$A" "$W/keys/matcher.key" "$W/$ds/truth" 2026-06-30 "$W/$ds/truth/eligible.csv" \
    "$W/$ds/orig.xex" "$W/$ds/dup.xex" | grep -E "records|person pairs|links|review pairs truly"
done

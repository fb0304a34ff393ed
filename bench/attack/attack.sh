#!/usr/bin/env bash
# attack.sh — the attacks of docs/attacks.md on the real pipeline (xchg-synth -> xchg seal ->
# what the matcher holds), once per hardening variant, with the linkage quality of the
# same sealed files (bench/link_quality) beside the attack results.
#
#   bench/attack/attack.sh county [HOUSEHOLDS [ERROR_RATE]] -- VARIANT...
#       default 8000 households (about 20,000 people), error rate 0.05, agreement phase1
#   bench/attack/attack.sh febrl [DATASET] -- VARIANT...
#       default dataset1 of ../shared/data/febrl; the attacker's name list is built from
#       the originals of the other two FEBRL sets (same generator, other people)
#
# VARIANT (joined with +): plain | salt-year (fuzzy.hardening salt: dob, 4 chars) |
#   blip-P (BLIP with flip probability P) | fold (xorFolds: 1) | bucket-B (blocking tokens
#   bucketed to B bits before the token attack; linkage not affected in this measurement) |
#   rule90 | diffuse-T (measurement-only CLK transforms applied as the CLKs are opened, by
#   link_quality and xchg-attack alike: bench/attack/attack.h) | @T (link at Dice threshold
#   T instead of the agreement's, e.g. rule90+@0.85).
# ATT_BUILD=DIR uses an existing build (default: build/bench-release, configured here).
# ATT_NO_ATTACK=1 measures the linkage only (e.g. a threshold sweep of one transform).
# ATT_AGREEMENT=FILE attacks another agreement than policies/phase1.yaml or
# bench/febrl/agreement.yaml (e.g. an earlier version, to compare).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=${1:?county or febrl}
shift
ARGS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do ARGS+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
VARIANTS=${*:-plain}
B=${ATT_BUILD:-build/bench-release}
if [ -z "${ATT_BUILD:-}" ]; then
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DXCHG_TESTS=OFF >/dev/null
  cmake --build "$B" -j2 >/dev/null
fi
X=$B/tools/xchg
W=$(mktemp -d "${TMPDIR:-/tmp}/attack.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/keys"
mkkey() { $X keygen -o "$W/keys/$1" --label "$1" --unprotected >/dev/null 2>&1; } # the one place keys are made

# the agreement with a variant's hardening: $1 source yaml, $2 variant, $3 output
variant_yaml() {
  python3 - "$1" "$2" "$3" <<'PY'
import re, sys
src, var, out = sys.argv[1:]
t = open(src).read()
# start from no hardening: drop a fuzzy.hardening block the source carries
t = re.sub(r'\n  hardening:[^\n]*(\n    [^\n]*)*', '', t, count=1)
hard = []
for v in var.split('+'):
    if v == 'salt-year': hard.append('    salt: {feature: dob, chars: 4}')
    elif v.startswith('blip-'): hard.append('    blip: ' + v[5:])
    elif v == 'fold': t = re.sub(r'(\n(\s+)l: 1024\n)', r'\1\2xorFolds: 1\n', t, count=1)
    elif v == 'plain' or v.startswith('bucket-') or v == 'rule90' or v.startswith('diffuse-') or v.startswith('@'): pass
    else: sys.exit('attack.sh: unknown variant ' + v)
if hard:
    t = re.sub(r'(\n  one_to_one: \w+\n)', lambda m: m.group(1) + '  hardening:\n' + '\n'.join(hard) + '\n', t, count=1)
open(out, 'w').write(t)
PY
}

bucket_of() { local b=""; for v in ${1//+/ }; do case $v in bucket-*) b=${v#bucket-};; esac; done; echo "$b"; }
xform_of() { local b=""; for v in ${1//+/ }; do case $v in rule90|diffuse-*) b=$v;; esac; done; echo "$b"; }
thr_of() { local b=""; for v in ${1//+/ }; do case $v in @*) b=${v#@};; esac; done; echo "$b"; }

if [ "$MODE" = county ]; then
  HH=${ARGS[0]:-8000}
  RATE=${ARGS[1]:-0.05}
  for p in county-ig police education dwp youth-offending housing matcher fi-team operator-1 operator-2; do mkkey $p; done
  nice -n 10 $B/bench/xchg-synth --households "$HH" --seed 42 --error-rate "$RATE" --out "$W/county" --quiet
  bench/attack/public-names.sh > "$W/names.csv"
  python3 - "$W/county/truth" "$W/truth.csv" <<'PY'
import csv, sys
d, out = sys.argv[1:]
people = {r['person_id']: r for r in csv.DictReader(open(d + '/people.csv', newline=''))}
o = open(out, 'w')
o.write('ref,forename,surname,dob\n')
for r in csv.DictReader(open(d + '/rows.csv', newline='')):
    p = people[r['person_id']]
    o.write('%s,%s,%s,%s\n' % (r['record_ref'], p['forename'].replace(',', ' '),
                               p['surname'].replace(',', ' '), p['dob'].replace('-', '')))
PY
  declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                   [youth-offending]=yos [housing]=housing [health]=health)
  for v in $VARIANTS; do
    A=$W/phase1-$v.yaml
    variant_yaml "${ATT_AGREEMENT:-policies/phase1.yaml}" "$v" "$W/src-$v.yaml"
    $X policy bind-keys "$W/src-$v.yaml" --keys "$W/keys" -o "$A" >/dev/null
    # the example agreements say release_key: required: deal it (docs/release.md section 4)
    if grep -q "^release_key: required" "$A"; then mkdir -p "$W/shares-$v" && $X release-key deal "$A" --shares "$W/shares-$v" --force >/dev/null; fi
    for p in $($X policy signatories "$A"); do $X policy sign "$A" --key "$W/keys/$p.key" >/dev/null; done
    $X secret new --agreement "$A" --key "$W/keys/county-ig.key" --epoch 1 -o "$W/$v.xsec" >/dev/null
    files=()
    for agency in $(awk '/^  - id: /{id=$3} /^    role: agency/{print id}' "$A"); do
      f=${FILE[$agency]}
      $X seal --agreement "$A" --key "$W/keys/$agency.key" --secret "$W/$v.xsec" \
        --in "$W/county/$f.csv" -o "$W/$v-$f.xex" --period 2025-11-01..2026-10-31 --force >/dev/null 2>&1
      files+=("$W/$v-$f.xex")
    done
    echo "== county, $HH households, error rate $RATE, phase1, variant $v =="
    env LQ_CLK_TRANSFORM=$(xform_of "$v") $(t=$(thr_of "$v"); [ -n "$t" ] && echo LQ_THRESHOLD=$t) nice -n 10 $B/bench/link_quality "$A" "$W/keys/matcher.key" "$W/county/truth" 2026-10-31 \
      "$W/county/truth/eligible_phase1.csv" "${files[@]}" | grep -E '^person|F1|f1' | head -3
    [ -n "${ATT_NO_ATTACK:-}" ] || env ${ATT_MAX:+ATT_MAX=$ATT_MAX} ATT_BUCKET_BITS=$(bucket_of "$v") ATT_CLK_TRANSFORM=$(xform_of "$v") nice -n 10 $B/bench/xchg-attack "$A" "$W/keys/matcher.key" "$W/names.csv" "$W/truth.csv" "${files[@]}"
  done
elif [ "$MODE" = febrl ]; then
  D=../shared/data/febrl
  DS=${ARGS[0]:-dataset1}
  for p in ig febrl-orig febrl-dup matcher; do mkkey $p; done
  mkdir -p "$W/truth"
  python3 - "$D" "$DS" "$W" <<'PY'
import csv, sys, re
d, ds, out = sys.argv[1:]
def rows(name):
    r = list(csv.reader(open('%s/%s.csv' % (d, name), newline=''), skipinitialspace=True))
    return [h.strip() for h in r[0]], [x for x in r[1:] if x]
head, data = rows(ds)
o = csv.writer(open(out + '/orig.csv', 'w', newline='')); o.writerow(head)
u = csv.writer(open(out + '/dup.csv', 'w', newline='')); u.writerow(head)
t = csv.writer(open(out + '/truth/rows.csv', 'w', newline=''))
t.writerow(['file', 'record_ref', 'person_id', 'household_id'])
orig = {}
for r in data:
    m = re.match(r'rec-(\d+)-(org|dup-\d+)$', r[0].strip())
    n = m.group(1)
    if m.group(2) == 'org':
        o.writerow(r); t.writerow(['febrl-orig', r[0].strip(), n, n]); orig[n] = r
    else:
        u.writerow(r); t.writerow(['febrl-dup', r[0].strip(), n, n])
open(out + '/truth/eligible.csv', 'w').write('household_id\n')
# truth: the original's values for every record of the person
tr = open(out + '/truth.csv', 'w'); tr.write('ref,forename,surname,dob\n')
for r in data:
    n = re.match(r'rec-(\d+)-', r[0].strip()).group(1)
    g = orig.get(n, r)
    tr.write('%s,%s,%s,%s\n' % (r[0].strip(), g[1].strip(), g[2].strip(), g[9].strip()))
# the public list: the originals of the other FEBRL sets
w = {}
for other in ('dataset1', 'dataset2', 'dataset3'):
    if other == ds: continue
    try: h2, d2 = rows(other)
    except OSError: continue
    for r in d2:
        if not r[0].strip().endswith('-org'): continue
        for kind, v in (('forename', r[1].strip()), ('surname', r[2].strip())):
            if v: w[(kind, v)] = w.get((kind, v), 0) + 1
nm = open(out + '/names.csv', 'w'); nm.write('kind,name,weight\n')
for (k, v), c in sorted(w.items()): nm.write('%s,%s,%d\n' % (k, v, c))
PY
  for v in $VARIANTS; do
    A=$W/febrl-$v.yaml
    variant_yaml "${ATT_AGREEMENT:-bench/febrl/agreement.yaml}" "$v" "$W/src-$v.yaml"
    $X policy bind-keys "$W/src-$v.yaml" --keys "$W/keys" -o "$A" >/dev/null
    # the example agreements say release_key: required: deal it (docs/release.md section 4)
    if grep -q "^release_key: required" "$A"; then mkdir -p "$W/shares-$v" && $X release-key deal "$A" --shares "$W/shares-$v" --force >/dev/null; fi
    for p in ig febrl-orig febrl-dup matcher; do $X policy sign "$A" --key "$W/keys/$p.key" >/dev/null; done
    $X secret new --agreement "$A" --key "$W/keys/ig.key" --epoch 1 -o "$W/$v.xsec" >/dev/null
    for a in febrl-orig:orig febrl-dup:dup; do
      $X seal --agreement "$A" --key "$W/keys/${a%%:*}.key" --secret "$W/$v.xsec" --in "$W/${a##*:}.csv" \
        -o "$W/$v-${a##*:}.xex" --period 2026-01-01..2026-12-31 --force >/dev/null 2>&1
    done
    echo "== FEBRL $DS, variant $v =="
    env LQ_CLK_TRANSFORM=$(xform_of "$v") $(t=$(thr_of "$v"); [ -n "$t" ] && echo LQ_THRESHOLD=$t) $B/bench/link_quality "$A" "$W/keys/matcher.key" "$W/truth" 2026-06-30 "$W/truth/eligible.csv" \
      "$W/$v-orig.xex" "$W/$v-dup.xex" | grep -E '^person|F1|f1' | head -3
    [ -n "${ATT_NO_ATTACK:-}" ] || env ATT_BUCKET_BITS=$(bucket_of "$v") ATT_CLK_TRANSFORM=$(xform_of "$v") $B/bench/xchg-attack "$A" "$W/keys/matcher.key" "$W/names.csv" "$W/truth.csv" "$W/$v-orig.xex" "$W/$v-dup.xex"
  done
else
  echo "attack.sh: first argument is county or febrl" >&2
  exit 2
fi

#!/usr/bin/env bash
# How fast the operator console's queue loads on a generated county of PEOPLE people
# (default 300,000, about 7,000 candidate families): generate, seal, ingest, link (as
# tests/report/county.sh), start `xchg console` on a free port, log in with its one-time
# token, then time over HTTP (curl, wall clock per request):
#   cold   the first page of the queue: reads every candidate family and its decisions
#   warm   the first page again (the queue is kept; a Refresh or a decision re-reads)
#   filter a filtered, sorted page (state, problem, sort by size)
#   page   the last page
#   detail one family's detail view
#   batch  a batch approval of 100 families, as a background job, until it finishes
# Not a test; the last line is exactly:
#   console: <N> families cold <s> (cpu <s>) warm <s> filter <s> page <s> detail <s> batch100 <s> load <1-min load average>
# Environment: XCHG, XCHG_SYNTH, XCHG_SOURCE_DIR, PEOPLE, JOBS (2), KEEP (keep work dir),
# REUSE=DIR (measure again on a work dir an earlier KEEP=1 run kept; the batch approvals
# of earlier runs stay, so "cold" then includes 100 decided families per earlier run).
set -euo pipefail
S=${XCHG_SOURCE_DIR:?}
X=${XCHG:?}
PEOPLE=${PEOPLE:-300000}
JOBS=${JOBS:-2}
W=$(mktemp -d "${XCHG_TMP:-${TMPDIR:-/tmp}}/console-bench.XXXXXX")
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$W"; }
trap cleanup EXIT
[ -n "${KEEP:-}" ] && echo "work dir: $W" >&2
A=$W/phase2.yaml
DB=(--db "$W/m.db" --db-key "$W/m.dbkey" --agreement "$A")
if [ -n "${REUSE:-}" ]; then # a work dir kept by an earlier KEEP=1 run: measure again
  rm -rf "$W"; W=$REUSE; KEEP=1
  A=$W/phase2.yaml
  DB=(--db "$W/m.db" --db-key "$W/m.dbkey" --agreement "$A")
else
"$XCHG_SYNTH" --people "$PEOPLE" --seed 1 --out "$W/county" --quiet
mkdir -p "$W/keys"
make_key() { $X keygen -o "$1" --label "$2" --unprotected >/dev/null 2>&1; } # every key made here
for p in $(awk '/^  - id: /{print $3}' "$S/policies/phase2.yaml"); do make_key "$W/keys/$p" "$p"; done
A=$W/phase2.yaml
$X policy bind-keys "$S/policies/phase2.yaml" --keys "$W/keys" -o "$A" >/dev/null
# the example agreements say release_key: required: deal it (docs/release.md section 4)
if grep -q "^release_key: required" "$A"; then mkdir -p "$W/shares" && $X release-key deal "$A" --shares "$W/shares" --force >/dev/null; fi
for p in $($X policy signatories "$A"); do $X policy sign "$A" --key "$W/keys/$p.key" >/dev/null; done
$X secret new --agreement "$A" --key "$W/keys/county-ig.key" --epoch 1 -o "$W/s.xsec" >/dev/null
XEX=()
for pair in police:police education:education dwp:dwp social-care:social_care \
            youth-offending:yos housing:housing health:health; do
  id=${pair%%:*}; f=${pair#*:}
  $X seal --agreement "$A" --key "$W/keys/$id.key" --secret "$W/s.xsec" --in "$W/county/$f.csv" \
    -o "$W/$f.xex" --period 2025-11-01..2026-10-31 >/dev/null 2>&1
  XEX+=("$W/$f.xex")
done
DB=(--db "$W/m.db" --db-key "$W/m.dbkey" --agreement "$A")
$X match init --db "$W/m.db" --agreement "$A" --db-key-out "$W/m.dbkey" >/dev/null
$X match ingest "${DB[@]}" --key "$W/keys/matcher.key" "${XEX[@]}" >/dev/null
$X match run "${DB[@]}" --date 2026-10-31 --threads "$JOBS" > "$W/run.txt"
fi
families=$(awk '/eligible families/{print $NF; exit}' "$W/run.txt")

SHARE=(); [ -e "$W/shares/operator-1.share" ] && SHARE=(--share "$W/shares/operator-1.share")
$X console "${DB[@]}" --key "$W/keys/operator-1.key" "${SHARE[@]}" > "$W/console.out" 2>"$W/console.err" &
PID=$!
URL=
for i in $(seq 600); do
  URL=$(sed -n 's/^open: //p' "$W/console.out"); [ -n "$URL" ] && break; sleep 0.1
done
[ -n "$URL" ] || { cat "$W/console.err" >&2; exit 1; }
BASE=${URL%%/\?*}
# the URL (with its token) goes to curl on stdin as a config file, never in argv
printf 'url = "%s"\n' "$URL" | curl -s -o /dev/null -c "$W/jar" -K -
t() { curl -s -b "$W/jar" -o "$W/out.json" -w '%{time_total}' "$BASE$1"; }
# CPU seconds the console process used (user + system), which a loaded machine does not
# inflate the way it does wall-clock time
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$PID/stat"; }
c0=$(cpu)
cold=$(t '/api/queue?limit=50')
c1=$(cpu)
cold_cpu=$(echo "$c1 - $c0" | bc -l)
warm=$(t '/api/queue?limit=50')
filter=$(t '/api/queue?limit=50&state=new&problem=crime_asb&sort=size')
last=$(( (families - 1) / 50 * 50 ))
page=$(t "/api/queue?limit=50&offset=$last&sort=family")
fam=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["families"][0]["family"])' "$W/out.json")
detail=$(t "/api/family/$fam")
CSRF=$(curl -s -b "$W/jar" "$BASE/api/session" | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf"])')
curl -s -b "$W/jar" "$BASE/api/queue?limit=100&sort=family&state=new" -o "$W/q.json"
body=$(python3 -c 'import json,sys; print(json.dumps({"families":[f["family"] for f in json.load(open(sys.argv[1]))["families"]],"decision":"approve","reason":"benchmark batch"}))' "$W/q.json")
start=$(date +%s.%N)
job=$(printf '%s' "$body" | curl -s -b "$W/jar" -H "Origin: $BASE" -H "X-CSRF-Token: $CSRF" \
  -H 'Content-Type: application/json' --data-binary @- "$BASE/api/decide" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
until curl -s -b "$W/jar" "$BASE/api/jobs/$job" | grep -q '"state":"finished"'; do sleep 0.05; done
end=$(date +%s.%N)
batch=$(echo "$end - $start" | bc -l)
printf 'console: %d families cold %.3f (cpu %.2f) warm %.3f filter %.3f page %.3f detail %.3f batch100 %.2f load %s\n' \
  "$families" "$cold" "$cold_cpu" "$warm" "$filter" "$page" "$detail" "$batch" "$(cut -d' ' -f1 /proc/loadavg)"

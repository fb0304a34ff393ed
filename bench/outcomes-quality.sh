#!/usr/bin/env bash
# outcomes-quality.sh — identification, outcome tracking and claims on a synthetic county
# with three periods, through the CLI, against the generator's independent truth
# (bench/synth/programme.c; docs/programme.md).
#
#   bench/outcomes-quality.sh [PEOPLE] [AGREEMENT]
#     default 20000 people and policies/phase2.yaml; OQ_BUILD=DIR reuses a build,
#     OQ_WORK=DIR keeps the work files, OQ_SEED=S the county's seed (default 1),
#     OQ_VERBOSE=1 lists each missed and each wrong claim on stderr.
#
# Every period: each agency seals its full snapshot (events since a year before the first
# period), the matcher ingests it (superseding the last), runs with the window ending on
# the period end, and lists families, links and outcomes. After the last period: claims
# with evidence packs, each verified offline. A matcher family is mapped to the true
# households of its records. Prints per period and per criterion, then the last line:
#   outcomes: families <N> identification-precision <P> recall <R> outcome-accuracy <A> claim-precision <CP> claim-recall <CR>
# (precision/recall over every period and criterion, the worst criterion's figure; N =
# families identified by the matcher over the periods).
set -euo pipefail
cd "$(dirname "$0")/.."
PEOPLE=${1:-20000}
AGR=${2:-policies/phase2.yaml}
PHASE=$(grep -q 'P1-CRIME-1' "$AGR" && echo 1 || echo 2)
# the generator's truth follows the published phase 1 and phase 2 rules only
if grep -q 'LOCAL-' "$AGR"; then
  echo "outcomes-quality: $AGR has local criteria; the generator's truth (programme-phase1/2.csv) cannot score them" >&2
  exit 2
fi
B=${OQ_BUILD:-build/bench-release}
if [ -z "${OQ_BUILD:-}" ] && [ -z "${OQ_XCHG:-}" ]; then
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DXCHG_TESTS=OFF >/dev/null
  cmake --build "$B" -j2 >/dev/null
fi
X=${OQ_XCHG:-$B/tools/xchg}       # the test suite passes its own binaries
SYNTH=${OQ_SYNTH:-$B/bench/xchg-synth}
if [ -n "${OQ_WORK:-}" ]; then
  W=$OQ_WORK
  rm -rf "$W" && mkdir -p "$W"
else
  W=$(mktemp -d "${TMPDIR:-/tmp}/outcomesq.XXXXXX")
  trap 'rm -rf "$W"' EXIT
fi
C=$W/county
nice -n 10 "$SYNTH" --people "$PEOPLE" --periods 3 --seed "${OQ_SEED:-1}" --out "$C" -q
K=$W/keys
mkdir -p "$K"
for p in $(awk '/^  - id: /{print $3}' "$AGR"); do $X keygen -o "$K/$p" --label "$p" --unprotected >/dev/null; done
A=$W/agreement.yaml
$X policy bind-keys "$AGR" --keys "$K" -o "$A" >/dev/null
# the example agreements say release_key: required: deal it (docs/release.md section 4)
if grep -q "^release_key: required" "$A"; then mkdir -p "$W/shares" && $X release-key deal "$A" --shares "$W/shares" --force >/dev/null; fi
for p in $($X policy signatories "$A"); do $X policy sign "$A" --key "$K/$p.key" >/dev/null; done
$X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$W/s.xsec" >/dev/null
DB=(--db "$W/db" --db-key "$W/db.key" --agreement "$A")
$X match init --db "$W/db" --agreement "$A" --db-key-out "$W/db.key" >/dev/null
declare -A FILE=([police]=police [education]=education [dwp]=dwp [social-care]=social_care
                 [youth-offending]=yos [housing]=housing [health]=health)
first=$(awk -F, 'NR==2{print $2}' "$C/truth/periods.csv")
from=$(date -u -d "$first - 365 days" +%F)
: > "$W/runs.txt"
for k in 1 2 3; do
  end=$(awk -F, -v k=$k '$1==k{print $2}' "$C/truth/periods.csv")
  # an extract's creation time (whole seconds) orders the snapshots: a period's are newer
  [ "$k" -gt 1 ] && sleep 1
  for ag in "${!FILE[@]}"; do
    [ -f "$K/$ag.key" ] || continue # not a party to this agreement (phase 1 has no health)
    nice -n 10 $X seal --agreement "$A" --key "$K/$ag.key" --secret "$W/s.xsec" \
      --in "$C/period-$k/${FILE[$ag]}.csv" -o "$W/p$k-${FILE[$ag]}.xex" --period "$from..$end" \
      --force >/dev/null 2>"$W/seal-$k-$ag.err"
  done
  $X match ingest "${DB[@]}" --key "$K/matcher.key" "$W"/p$k-*.xex >/dev/null
  nice -n 10 $X match run "${DB[@]}" --date "$end" >"$W/run-$k.txt"
  run=$(awk '/^run /{print $2; exit}' "$W/run-$k.txt")
  echo "$k $run $end" >> "$W/runs.txt"
  $X match links --db "$W/db" --db-key "$W/db.key" --run "$run" --csv >"$W/links-$k.csv"
  $X match list --db "$W/db" --db-key "$W/db.key" --run "$run" --all --csv >"$W/list-$k.csv"
  $X outcomes "${DB[@]}" --run "$run" --csv >"$W/outcomes-$k.csv"
done
mkdir -p "$W/packs"
$X claims "${DB[@]}" --key "$K/matcher.key" -o "$W/packs" --csv >"$W/claims.csv"
npacks=$(awk 'NR>1' "$W/claims.csv" | wc -l)
verified=0
if [ "$npacks" -gt 0 ]; then
  verified=$($X claims verify --agreement "$A" "$W"/packs/*.xev 2>"$W/verify.err" | grep -c ': ok:' || true)
fi
echo "evidence packs: $npacks written, $verified verified offline"

# ---- compare with the truth ----
awk -F, -v phase="$PHASE" -v W="$W" -v C="$C" -v verbose="${OQ_VERBOSE:-0}" '
  function fileag(f) { return f=="police.csv"?"police":f=="education.csv"?"education":f=="dwp.csv"?"dwp":f=="social_care.csv"?"social-care":f=="yos.csv"?"youth-offending":f=="housing.csv"?"housing":"health" }
  function unq(s) { gsub(/^"|"$/, "", s); return s }
  BEGIN {
    for (k = 1; k <= 3; k++) {
      # records -> true households
      f = C "/period-" k "/truth/rows.csv"
      while ((getline line < f) > 0) { split(line, a, ","); if (a[1] != "file") hh[k, fileag(a[1]), a[2]] = a[4] }
      close(f)
      # families -> households
      f = W "/links-" k ".csv"
      while ((getline line < f) > 0) { split(line, a, ","); if (a[1] == "agency") continue
        h = hh[k, a[1], a[2]]; if (h == "") continue
        if (!((k, a[4], h) in fh)) { fh[k, a[4], h] = 1; fhs[k, a[4]] = fhs[k, a[4]] " " h }
        hf[k, h] = hf[k, h] " " a[4] }
      close(f)
      # eligible families and their criteria
      f = W "/list-" k ".csv"
      while ((getline line < f) > 0) { n = split(line, a, ","); if (a[1] == "family") continue
        crit = unq(a[n]); m = split(crit, cs, ";")
        for (i = 1; i <= m; i++) if (cs[i] != "") { fc[k, a[1], cs[i]] = 1; allc[cs[i]] = 1 }
        if (a[5] == "yes") { elig[k, a[1]] = 1; nelig[k]++; fams[a[1]] = 1 } }
      close(f)
      # outcomes
      f = W "/outcomes-" k ".csv"
      while ((getline line < f) > 0) { split(line, a, ","); if (a[1] == "family") continue
        st = a[5] == "met" ? "met" : a[5] == "not met" ? "not_met" : a[5] == "too early" ? "too_early" : "na"
        no[k]++; ofam[k, no[k]] = a[1]; oprob[k, no[k]] = a[4]; ost[k, no[k]] = st }
      close(f)
    }
    # claims (last period)
    f = W "/claims.csv"
    while ((getline line < f) > 0) { split(line, a, ","); if (a[1] != "family") claim[a[1]] = 1 }
    close(f)
    # truth
    f = C "/truth/programme-phase" phase ".csv"
    getline line < f; nh = split(line, hd, ",")
    for (i = 1; i <= nh; i++) col[hd[i]] = i
    while ((getline line < f) > 0) {
      split(line, a, ","); h = a[col["household"]]; k = a[col["period"]]
      if (a[col["identified"]] == 1) { tid[k, h] = 1; ntid[k]++ }
      m = split(a[col["criteria"]], cs, ";")
      for (i = 1; i <= m; i++) if (cs[i] != "") { tc[k, h, cs[i]] = 1; allc[cs[i]] = 1; ntc[k, cs[i]]++ }
      for (i = col["baseline"] + 1; i < col["claimable"]; i++) tst[k, h, hd[i]] = a[i]
      if (k == 3 && a[col["claimable"]] == 1) { tclaim[h] = 1; ntclaim++ }
    }
    close(f)
    # identification, per period
    tp = fp = cov = tot = 0
    for (k = 1; k <= 3; k++) {
      ktp = kfp = kcov = 0
      for (key in elig) { split(key, q, SUBSEP); if (q[1] != k) continue
        ok = 0; n = split(fhs[k, q[2]], hs, " "); for (i = 1; i <= n; i++) if ((k, hs[i]) in tid) ok = 1
        if (ok) ktp++; else kfp++ }
      for (key in tid) { split(key, q, SUBSEP); if (q[1] != k) continue
        ok = 0; n = split(hf[k, q[2]], fs, " "); for (i = 1; i <= n; i++) if ((k, fs[i]) in elig) ok = 1
        if (ok) kcov++ }
      printf "period %d: identified %d families (truth %d households): precision %.4f recall %.4f\n", k, ktp + kfp, ntid[k], (ktp + kfp) ? ktp / (ktp + kfp) : 1, ntid[k] ? kcov / ntid[k] : 1
      tp += ktp; fp += kfp; cov += kcov; tot += ntid[k]
    }
    P = (tp + fp) ? tp / (tp + fp) : 1; R = tot ? cov / tot : 1
    # per criterion (over periods): a family with the criterion is right when one of its
    # households has it; a household with it is found when one of its families has it
    worstp = P; worstr = R
    for (c in allc) {
      ctp = cfp = ccov = ctot = 0
      for (key in fc) { split(key, q, SUBSEP); if (q[3] != c) continue
        ok = 0; n = split(fhs[q[1], q[2]], hs, " "); for (i = 1; i <= n; i++) if ((q[1], hs[i], c) in tc) ok = 1
        if (ok) ctp++; else cfp++ }
      for (key in tc) { split(key, q, SUBSEP); if (q[3] != c) continue
        ctot++; ok = 0; n = split(hf[q[1], q[2]], fs, " "); for (i = 1; i <= n; i++) if ((q[1], fs[i], c) in fc) ok = 1
        if (ok) ccov++ }
      cp = (ctp + cfp) ? ctp / (ctp + cfp) : 1; cr = ctot ? ccov / ctot : 1
      printf "  %-12s families %5d precision %.4f  households %5d recall %.4f\n", c, ctp + cfp, cp, ctot, cr
    }
    # outcomes: a row is right when a household of the family has that status
    ok = all = 0
    for (k = 1; k <= 3; k++) for (i = 1; i <= no[k]; i++) {
      all++; good = 0; n = split(fhs[k, ofam[k, i]], hs, " ")
      for (j = 1; j <= n; j++) if (tst[k, hs[j], oprob[k, i]] == ost[k, i]) good = 1
      ok += good
      if (!good) bad[ost[k, i]]++
      if (!good && verbose) printf "outcome wrong: period %d family %s problem %s status %s (households: %s)\n", k, ofam[k, i], oprob[k, i], ost[k, i], fhs[k, ofam[k, i]] > "/dev/stderr"
    }
    A = all ? ok / all : 1
    printf "outcome rows %d, agreeing with the truth %d (wrong by matcher status: met %d, not met %d, too early %d)\n", all, ok, bad["met"], bad["not_met"], bad["too_early"]
    # claims
    ctp = cfp = 0
    for (fm in claim) { good = 0; n = split(fhs[3, fm], hs, " "); for (j = 1; j <= n; j++) if (hs[j] in tclaim) good = 1
      if (good) ctp++; else cfp++ }
    ccov = 0
    for (h in tclaim) { good = 0; n = split(hf[3, h], fs, " "); for (j = 1; j <= n; j++) if (fs[j] in claim) good = 1; ccov += good
      if (!good && verbose) printf "claim missed: household %s (matcher families in the last period: %s)\n", h, hf[3, h] > "/dev/stderr" }
    if (verbose) for (fm in claim) { good = 0; n = split(fhs[3, fm], hs, " "); for (j = 1; j <= n; j++) if (hs[j] in tclaim) good = 1
      if (!good) printf "claim wrong: family %s (households: %s)\n", fm, fhs[3, fm] > "/dev/stderr" }
    CP = (ctp + cfp) ? ctp / (ctp + cfp) : 1; CR = ntclaim ? ccov / ntclaim : 1
    printf "claims: %d families (truth %d households): precision %.4f recall %.4f\n", ctp + cfp, ntclaim, CP, CR
    nf = 0; for (fm in fams) nf++
    printf "outcomes: families %d identification-precision %.4f recall %.4f outcome-accuracy %.4f claim-precision %.4f claim-recall %.4f\n", nf, P, R, A, CP, CR
  }' /dev/null

#!/usr/bin/env bash
# report-bench.sh — xchg report on a generated county (issue 15).
#
#   bench/report-bench.sh [PEOPLE]      default 1,000,000 people
#
# Builds Release into build/bench-release (JOBS, default 2, parallel jobs), then runs
# tests/report/county.sh with it: generate, seal under the phase-2 agreement with a
# geography, ingest, link, time `xchg report --html` (the largest format), and the
# recovery attack on every table (fails the bench if anything is exposed). The last
# line is exactly:
#   report: <N> families <S> s <M> MiB
# N the families identified by the run, S the report command's wall time, M its peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/bench-release
cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build $B -j"${JOBS:-2}" --target xchg xchg-synth report_attack >/dev/null
XCHG=$PWD/$B/tools/xchg XCHG_SYNTH=$PWD/$B/bench/xchg-synth \
  XCHG_REPORT_ATTACK=$PWD/$B/tests/report_attack XCHG_SOURCE_DIR=$PWD PEOPLE=${1:-1000000} \
  bash tests/report/county.sh

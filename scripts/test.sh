#!/usr/bin/env bash
# The one test command: installs what is missing, builds with -Wall -Wextra -Werror,
# runs every test, then builds again under AddressSanitizer + UndefinedBehaviorSanitizer
# and runs every test again. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (RelWithDebInfo: -O2 -g, -Werror) =="
cmake -S . -B build/test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXCHG_WERROR=ON >/dev/null
cmake --build build/test -j"$jobs"
echo "== tests =="
(cd build/test && ctest --output-on-failure -j"$jobs")

echo "== build (ASan + UBSan) =="
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DXCHG_WERROR=ON -DXCHG_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$jobs"
echo "== tests under ASan + UBSan =="
(cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j"$jobs")
echo "== all tests passed (plain and sanitized) =="

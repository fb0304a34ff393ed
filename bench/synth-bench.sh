#!/usr/bin/env bash
# synth-bench.sh — time xchg-synth at 100k and 1M people; report seconds, rows/s and
# peak resident memory (GNU time -v; Debian package 'time').
#
# Usage: bench/synth-bench.sh [PATH-TO-xchg-synth [PEOPLE...]]
#   default binary: build-release/bench/xchg-synth, else build/bench/xchg-synth
#   default sizes:  100000 1000000 (people)
# Output goes to a temporary directory ($TMPDIR or /tmp) that is removed afterwards.
# Build with -DCMAKE_BUILD_TYPE=Release for representative figures.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-}
if [ -z "$bin" ]; then
    for c in "$here/build-release/bench/xchg-synth" "$here/build/bench/xchg-synth"; do
        if [ -x "$c" ]; then
            bin=$c
            break
        fi
    done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "synth-bench: error: xchg-synth not found (give its path)" >&2
    exit 2
fi
[ $# -gt 0 ] && shift
sizes=${*:-100000 1000000}
if [ ! -x /usr/bin/time ]; then
    echo "synth-bench: error: /usr/bin/time missing (apt-get install time)" >&2
    exit 2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/synth-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "binary: $bin"
printf '%-9s %-10s %-9s %-8s %-10s %-13s %-9s %s\n' people households rows seconds rows/s \
    all_lines/s peak_MiB output_MiB
for n in $sizes; do
    out="$work/out-$n"
    /usr/bin/time -v "$bin" -q --people "$n" --seed 1 --out "$out" 2>"$work/time-$n"
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time-$n" |
        awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time-$n")
    rows=$(awk -F': ' '/^rows.total/ {print $2}' "$out/truth/summary.txt")
    people=$(awk -F': ' '/^people:/ {print $2}' "$out/truth/summary.txt")
    hh=$(awk -F': ' '/^households:/ {print $2}' "$out/truth/summary.txt")
    size=$(du -sm "$out" | cut -f1)
    # rows/s: extract rows; all_lines/s: extract + every truth line (rows, people, households)
    lines=$((rows * 2 + people + hh))
    rate=$(awk -v r="$rows" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", r / s; else print "inf" }')
    lrate=$(awk -v r="$lines" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", r / s; else print "inf" }')
    mib=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
    printf '%-9s %-10s %-9s %-8s %-10s %-13s %-9s %s\n' "$people" "$hh" "$rows" "$secs" "$rate" \
        "$lrate" "$mib" "$size"
    rm -rf "$out"
done

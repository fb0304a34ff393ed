#!/usr/bin/env bash
# public-names.sh — the attacker's public name-frequency list: the relative frequencies of
# forenames and surnames that bench/synth/names.c draws from (the generator's own tables,
# standing in for a published ranking of first names and surnames), as CSV
#   kind,name,weight     (kind: forename | surname)
# Forename weights of the four cohort tables are summed. Usage: public-names.sh > names.csv
set -euo pipefail
cd "$(dirname "$0")/../.."
awk '
/^static const name_w (male|female)_(old|young)\[\]/ { kind = "forename"; next }
/^static const name_w surnames\[\]/ { kind = "surname"; next }
/^static const name_w / { kind = ""; next }
/^};/ { kind = ""; next }
kind != "" {
  line = $0
  while (match(line, /\{"[^"]*", *[0-9]+\}/)) {
    item = substr(line, RSTART + 2, RLENGTH - 3)
    line = substr(line, RSTART + RLENGTH)
    split(item, p, /", */)
    w[kind "," p[1]] += p[2]
  }
}
END { print "kind,name,weight"; for (k in w) print k "," w[k] }' bench/synth/names.c | sort

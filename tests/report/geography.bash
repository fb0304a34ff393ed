# Sourced: geography_for COUNTY_DIR prints an agreement 'geography:' section mapping every
# postcode sector in the county's CSVs to one of four areas (by district number), so
# that reports on a synthetic county have areas (the example agreements define none).
geography_for() {
  echo "geography:"
  echo "  postcode_sectors:"
  cat "$1"/*.csv | grep -oE '\bFW[0-9]+ [0-9]' | sort -u | awk '{
    split("Banbury Bicester Kidlington Witney", names, " ")
    n = substr($1, 3) + 0
    printf "    \"%s\": %s\n", $0, names[n % 4 + 1] }'
}

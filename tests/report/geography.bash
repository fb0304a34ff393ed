# Sourced: geography_for COUNTY_DIR AGREEMENT prints an agreement 'geography:' section
# mapping every postcode sector in the county's CSVs to one of four areas (by district
# number) when AGREEMENT defines none (nothing when it does: its own geography is used),
# so that reports on a synthetic county always have areas.
geography_for() {
  grep -q '^geography:' "$2" && return 0
  echo "geography:"
  echo "  postcode_sectors:"
  cat "$1"/*.csv | grep -oE '\bFW[0-9]+ [0-9]' | sort -u | awk '{
    split("Banbury Bicester Kidlington Witney", names, " ")
    n = substr($1, 3) + 0
    printf "    \"%s\": %s\n", $0, names[n % 4 + 1] }'
}

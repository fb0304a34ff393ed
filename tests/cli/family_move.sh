#!/usr/bin/env bash
# When a member moves out, the family that stays keeps its name and its history, and the
# mover's new household does not take them (docs/programme.md "A family's state across
# runs"). A family's pseudonym comes from the strongest key among its members, so when
# the member whose key named it moves out, that key now names the mover's new household.
# Which of the three members that is depends on the keys, so each moves out in turn, each
# time in a store of its own: in exactly one of them the mover is the one whose key named
# the family (the test fails on a matcher that hands the name to the mover).
. "$(dirname "$0")/lib.bash"
X=$XCHG
S=$XCHG_SOURCE_DIR
K=$T/keys
skip_unless_in_force
A=$T/agreement.yaml
ready_agreement "$S/policies/phase2.yaml" "$A"
$X secret new --agreement "$A" --key "$K/county-ig.key" --epoch 1 -o "$T/s.xsec" >/dev/null

DWPH="CLAIM_REF,NINO,FORENAME,SURNAME,DOB,ADDRESS_LINE_1,POSTCODE,BENEFIT_TYPE,CLAIM_START,CLAIM_END,CONSENT,CONSENT_DATE,LEGAL_BASIS"
HOUH="Tenancy Ref,UPRN,Tenant Forename,Tenant Surname,Tenant DOB,Address Line 1,Postcode,Action,Action Date,Consent,Consent Date,Legal Basis"
# person: ref nino forename surname dob
JANE=(1 AB123456C Jane Doe 1985-05-05)
JOE=(2 CE234567D Joe Doe 1983-03-03)
KIM=(3 JK345678E Kim Doe 2001-01-01)
OLD=("10 Test Street" "FW1 1AA" 100012000001)
NEW=("99 Other Road" "FW2 2BB" 100012000099)
dwp_row() { # person... address... date
  local -n p=$1 a=$2
  echo "CL${p[0]}-$3,${p[1]},${p[2]},${p[3]},${p[4]},${a[0]},${a[1]},JSA,$3T09:00:00,,given,$3T09:00:00,"
}
housing_row() { # person address date
  local -n p=$1 a=$2
  echo "TR${p[0]}-$3,${a[2]},${p[2]},${p[3]},${p[4]},${a[0]},${a[1]},ASB WARNING,$3,given,$3,"
}
seal() { # DIR AGENCY CSV OUT PERIOD
  expect 0 "sealed" -- $X seal --agreement "$A" --key "$K/$2.key" --secret "$T/s.xsec" --in "$3" \
    -o "$4" --period "$5" --strict --force
}

scenario() { # NAME MOVER STAYER STAYER
  local D=$T/$1 mover=$2 stayer=$3 stayer2=$4
  mkdir -p "$D"
  local DB=(--db "$D/db" --db-key "$D/db.key" --agreement "$A")
  $X match init --db "$D/db" --agreement "$A" --db-key-out "$D/db.key" >/dev/null
  # period 1: Jane, Joe and Kim at the old address, out of work, with ASB warnings
  { echo "$DWPH"; for p in JANE JOE KIM; do dwp_row $p OLD 2025-06-01; done; } >"$D/dwp1.csv"
  { echo "$HOUH"; for p in JANE JOE KIM; do housing_row $p OLD 2025-09-01; done; } >"$D/hou1.csv"
  seal "$D" dwp "$D/dwp1.csv" "$D/dwp-1.xex" 2025-03-01..2026-02-28
  seal "$D" housing "$D/hou1.csv" "$D/hou-1.xex" 2025-03-01..2026-02-28
  expect 0 "2 active extracts" -- $X match ingest "${DB[@]}" --key "$K/matcher.key" "$D/dwp-1.xex" "$D/hou-1.xex"
  expect 0 "(1 new in this run)" -- $X match run "${DB[@]}" --date 2026-02-28
  $X match links --db "$D/db" --db-key "$D/db.key" --csv >"$D/links-1.csv"
  local F1
  F1=$(awk -F, '$1=="dwp"{print $4; exit}' "$D/links-1.csv")
  expect 0 "" -- test "$(awk -F, 'NR>1{print $4}' "$D/links-1.csv" | sort -u | wc -l)" -eq 1
  # period 2: the mover lives alone at a new address, with two problems of their own;
  # the two who stay have two
  sleep 1
  local -n M=$mover Y=$stayer
  { echo "$DWPH"; dwp_row $stayer OLD 2025-06-01; dwp_row $stayer2 OLD 2025-06-01; dwp_row $mover NEW 2026-04-01; } >"$D/dwp2.csv"
  { echo "$HOUH"; housing_row $stayer OLD 2026-05-01; housing_row $stayer2 OLD 2026-05-01; housing_row $mover NEW 2026-05-01; } >"$D/hou2.csv"
  seal "$D" dwp "$D/dwp2.csv" "$D/dwp-2.xex" 2025-09-01..2026-08-31
  seal "$D" housing "$D/hou2.csv" "$D/hou-2.xex" 2025-09-01..2026-08-31
  expect 0 "2 active extracts" -- $X match ingest "${DB[@]}" --key "$K/matcher.key" "$D/dwp-2.xex" "$D/hou-2.xex"
  expect 0 "(1 new in this run)" -- $X match run "${DB[@]}" --date 2026-08-31
  $X match links --db "$D/db" --db-key "$D/db.key" --csv >"$D/links-2.csv"
  local FS FM
  FS=$(awk -F, -v r="CL${Y[0]}-2025-06-01" '$2==r{print $4}' "$D/links-2.csv")
  FM=$(awk -F, -v r="CL${M[0]}-2026-04-01" '$2==r{print $4}' "$D/links-2.csv")
  # two families now
  expect 0 "" -- test -n "$FS"
  expect 0 "" -- test -n "$FM"
  expect 0 "" -- test "$FM" != "$FS"
  # the stayer's family is the one identified in run 1, by name and by history ...
  expect 0 "" -- test "$FS" = "$F1"
  $X outcomes "${DB[@]}" --csv >"$D/o2.csv"
  expect 0 "$F1,2026-02-28,1,crime_asb," -- cat "$D/o2.csv"
  # ... and the mover's new household is new: identified in run 2, nothing inherited
  expect 0 "$FM,2026-08-31,2,crime_asb,too early" -- cat "$D/o2.csv"
  expect 1 "" -- grep -q "^$FM,2026-02-28," "$D/o2.csv"
}
scenario jane-moves JANE JOE KIM
scenario joe-moves JOE JANE KIM
scenario kim-moves KIM JANE JOE
finish

#!/usr/bin/env bash
# Evaluation matrix for the de-identifier (the numbers of README.md): make_study.py studies in
# the four transfer syntaxes x seeds 1-9 (and the Modified Dates + options variant), the
# pydicom/deid fake-PHI samples and pydicom's test files, each de-identified by `medseal deid`
# and checked by scripts/deid-check.py (pydicom, zlib, dcmdump, dciodvfy).
#   scripts/deid-eval.sh [MEDSEAL]      (default build/medseal)
# Trusts: nothing; owns only a temporary folder (removed).
set -uo pipefail
cd "$(dirname "$0")/.."
MEDSEAL=${1:-build/medseal}
SHARED=${MEDSEAL_SHARED:-../shared}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/medseal-deid-eval.XXXXXX)
trap 'rm -rf "$T"' EXIT
printf '%s\n' 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f > "$T/key"
total_files=0; total_fail=0
check() { # NAME ARGS...: runs deid-check, prints one row
  local name=$1; shift
  local out; out=$($PY scripts/deid-check.py "$@" 2>&1)
  local files fails dci
  files=$(echo "$out" | sed -n 's/^deid-check: \([0-9]*\) files, \([0-9]*\) failures/\1/p')
  fails=$(echo "$out" | sed -n 's/^deid-check: \([0-9]*\) files, \([0-9]*\) failures/\2/p')
  dci=$(echo "$out" | sed -n 's/^dciodvfy: //p')
  printf '| %-40s | %5s | %8s | %s |\n' "$name" "$files" "$fails" "$dci"
  total_files=$((total_files + files)); total_fail=$((total_fail + fails))
  echo "$out" | grep '^FAIL' | head -5
}
printf '| %-40s | %5s | %8s | %s |\n' "input" files failures "dciodvfy (input -> output)"
printf '|%s|%s|%s|%s|\n' ------------------------------------------ ------- ---------- ------------------------------
for syntax in explicit implicit bigendian deflated; do
  for seed in 1 2 3 4 5 6 7 8 9; do
    d=$T/$syntax$seed
    $PY "$SHARED/tools/make_study.py" "$d/in" --slices 2 --size 16 --studies 2 --seed "$seed" \
        --syntax "$syntax" 2>/dev/null
    "$MEDSEAL" deid --key "$T/key" --quiet "$d/in" "$d/out" > "$d/log" 2>&1
    check "make_study $syntax seed $seed" study "$d/in" "$d/out" --log "$d/log"
  done
done
for seed in 1 2 3; do
  d=$T/mod$seed
  $PY "$SHARED/tools/make_study.py" "$d/in" --slices 2 --size 16 --studies 3 --seed "$seed" 2>/dev/null
  "$MEDSEAL" deid --key "$T/key" --quiet --retain-modified-dates --retain-safe-private \
      --retain-patient-chars --clean-descriptors --clean-structured-content --clean-graphics \
      "$d/in" "$d/out" > "$d/log" 2>&1
  check "make_study modified dates+options seed $seed" study "$d/in" "$d/out" --dates modified --log "$d/log"
done
"$MEDSEAL" deid --key "$T/key" --quiet --allow-burned-in "$SHARED/data/dicom/samples/deid" "$T/samples" > /dev/null 2>&1
check "pydicom/deid samples (--allow-burned-in)" files "$SHARED/data/dicom/samples/deid" "$T/samples"
P=/usr/lib/python3/dist-packages/pydicom/data/test_files
mkdir -p "$T/pyd"
for f in CT_small MR_small MR_small_bigendian MR_small_implicit rtplan rtstruct rtdose test-SR \
         reportsi priv_SQ nested_priv_SQ image_dfl ExplVR_BigEnd JPEG2000 waveform_ecg liver_1frame \
         UN_sequence SC_rgb_small_odd; do
  cp "$P/$f.dcm" "$T/pyd/" 2>/dev/null
done
"$MEDSEAL" deid --key "$T/key" --quiet --allow-burned-in "$T/pyd" "$T/pydout" > /dev/null 2>&1
check "pydicom test files (--allow-burned-in)" files "$T/pyd" "$T/pydout"
echo "total: $total_files files checked, $total_fail failures"
[ "$total_fail" -eq 0 ]

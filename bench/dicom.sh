#!/usr/bin/env bash
# DICOM codec benchmark (issue 2 item 7, issue 17 item 6), in one run on one synthetic series:
#   header extraction: `medseal dump DIR | cat` (DICOM JSON of every header, pixel bytes not read,
#                      one worker thread per core; also --threads 1 and --headers-only, which
#                      never maps the pixels either)
#                      vs `dcmdump -q -M +sd +r DIR | cat` (DCMTK) vs pydicom dcmread(stop_before_pixels)
#                      + to_json_dict() per file (/usr/bin/python3, one process)
#   full read:         `medseal dump --scan DIR` (parses every file and reads every value byte,
#                      pixel data included, summing them) vs `cat DIR/* > /dev/null`
# Prints the median of RUNS runs (default 7, after one warm-up) and the ratios. Files are in the
# page cache (warm-up), so this measures CPU work, not the disk.
# The series comes from ../shared/tools/make_study.py (--slices SLICES --size SIZE, default
# 512 x 512x512) and is generated once into /tmp (not committed). Trusts: its own inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
SLICES=${SLICES:-512}
SIZE=${SIZE:-512}
RUNS=${RUNS:-7}
MEDSEAL=${MEDSEAL:-build/medseal}
SHARED=${MEDSEAL_SHARED:-../shared}
PY=/usr/bin/python3
OUT=${BENCH_DIR:-/tmp/medseal-bench-dicom-$SLICES-$SIZE}
DIR=$OUT/study_1/CT

[ -x "$MEDSEAL" ] || { echo "dicom bench: $MEDSEAL not built (make build)"; exit 1; }
[ -f "$SHARED/tools/make_study.py" ] || { echo "dicom bench: skipped ($SHARED absent)"; exit 0; }
if [ ! -d "$DIR" ]; then
  echo "generating $SLICES slices of ${SIZE}x$SIZE into $OUT (once)"
  rm -rf "$OUT"
  nice $PY "$SHARED/tools/make_study.py" "$OUT" --slices "$SLICES" --size "$SIZE" --studies 1 \
    --seed 1 --syntax explicit >/dev/null
fi
nfiles=$(find "$DIR" -type f | wc -l)
bytes=$(du -sb "$DIR" | cut -f1)
have_dcmdump=0; command -v dcmdump >/dev/null && have_dcmdump=1
have_pydicom=0; $PY -c 'import pydicom' 2>/dev/null && have_pydicom=1

PYSCRIPT='
import os, sys, warnings
warnings.simplefilter("ignore")
import pydicom
d = sys.argv[1]
n = 0
for name in sorted(os.listdir(d)):
    ds = pydicom.dcmread(os.path.join(d, name), stop_before_pixels=True)
    n += len(ds.to_json_dict())
print(n)
'

# time_ms CMD...: wall time of one run in milliseconds (output discarded)
time_ms() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1 || { echo "dicom bench: command failed: $*" >&2; exit 1; }
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

run_medseal_dump() { "$MEDSEAL" dump "$DIR" | cat; }
run_medseal_dump1() { "$MEDSEAL" dump --threads 1 "$DIR" | cat; }
run_medseal_headers() { "$MEDSEAL" dump --headers-only "$DIR"; }
run_dcmdump() { dcmdump -q -M +sd +r "$DIR" | cat; }
run_pydicom() { $PY -c "$PYSCRIPT" "$DIR"; }
run_scan() { "$MEDSEAL" dump --scan "$DIR"; }
run_cat() { cat "$DIR"/* >/dev/null; }

names=(medseal_dump medseal_dump1 medseal_headers medseal_scan cat)
[ $have_dcmdump = 1 ] && names+=(dcmdump)
[ $have_pydicom = 1 ] && names+=(pydicom)
declare -A fn=([medseal_dump]=run_medseal_dump [medseal_dump1]=run_medseal_dump1
               [medseal_headers]=run_medseal_headers
               [dcmdump]=run_dcmdump [pydicom]=run_pydicom
               [medseal_scan]=run_scan [cat]=run_cat)
declare -A samples
for n in "${names[@]}"; do time_ms "${fn[$n]}" >/dev/null; done # warm-up (page cache)
for ((i = 0; i < RUNS; i++)); do # interleaved, so drift hits every tool alike
  for n in "${names[@]}"; do samples[$n]+="$(time_ms "${fn[$n]}") "; done
done
declare -A med
for n in "${names[@]}"; do med[$n]=$(echo "${samples[$n]}" | tr ' ' '\n' | grep . | median); done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.2f", a / b }'; }
echo "dicom bench: $nfiles files, $((bytes / 1048576)) MiB ($DIR), median of $RUNS runs, ms"
printf '%-48s %8s %s\n' "task" "median" "ratio"
printf '%-48s %8s %s\n' "header extraction: medseal dump DIR | cat ($(nproc) cores)" \
  "${med[medseal_dump]}" "1.00"
printf '%-48s %8s %sx medseal\n' "header extraction: medseal dump --threads 1 | cat" \
  "${med[medseal_dump1]}" "$(ratio "${med[medseal_dump1]}" "${med[medseal_dump]}")"
printf '%-48s %8s %sx medseal\n' "header extraction: medseal dump --headers-only" \
  "${med[medseal_headers]}" "$(ratio "${med[medseal_headers]}" "${med[medseal_dump]}")"
if [ $have_dcmdump = 1 ]; then
  printf '%-48s %8s %sx medseal\n' "header extraction: dcmdump -q -M +sd +r DIR | cat" "${med[dcmdump]}" \
    "$(ratio "${med[dcmdump]}" "${med[medseal_dump]}")"
fi
if [ $have_pydicom = 1 ]; then
  printf '%-48s %8s %sx medseal\n' "header extraction: pydicom stop_before_pixels" \
    "${med[pydicom]}" "$(ratio "${med[pydicom]}" "${med[medseal_dump]}")"
fi
printf '%-48s %8s %sx cat\n' "full read: medseal dump --scan DIR" "${med[medseal_scan]}" \
  "$(ratio "${med[medseal_scan]}" "${med[cat]}")"
printf '%-48s %8s %s\n' "full read: cat DIR/* > /dev/null" "${med[cat]}" "1.00"

#!/usr/bin/env bash
# Benchmark of `medseal deid` (basic profile) on one CT series against peers on the same input:
#   gdcmanon --dumb emptying one attribute (Debian libgdcm-tools; its directory mode),
#   a naive pydicom script (read, blank a few attributes, drop private tags, write),
#   cp -r (the copy limit).
# The series is generated in /tmp by ../shared/tools/make_study.py (not committed). Each tool runs
# RUNS times after one warm-up (page cache warm for all); the table gives medians and ratios.
#   SLICES=512 SIZE=512 RUNS=5 bench/deid.sh      (defaults)
# Trusts: nothing; owns only $WORK (removed at the end unless KEEP=1).
set -euo pipefail
cd "$(dirname "$0")/.."
MEDSEAL=${MEDSEAL:-build/medseal}
SLICES=${SLICES:-512}
SIZE=${SIZE:-512}
RUNS=${RUNS:-5}
SHARED=${MEDSEAL_SHARED:-../shared}
WORK=${WORK:-/tmp/medseal-bench-deid}
PY=/usr/bin/python3

[ -x "$MEDSEAL" ] || { echo "bench/deid.sh: build first ($MEDSEAL missing)"; exit 1; }
[ -f "$SHARED/tools/make_study.py" ] || { echo "bench/deid.sh: $SHARED/tools/make_study.py missing"; exit 1; }
command -v gdcmanon >/dev/null || { echo "bench/deid.sh: gdcmanon missing (scripts/install-deps.sh)"; exit 1; }

IN=$WORK/study/study_1/CT
if [ ! -f "$WORK/params" ] || [ "$(cat "$WORK/params")" != "$SLICES $SIZE" ]; then
  rm -rf "$WORK"
  mkdir -p "$WORK"
  $PY "$SHARED/tools/make_study.py" "$WORK/study" --slices "$SLICES" --size "$SIZE" --studies 1 \
      --seed 1 --syntax explicit 2>/dev/null
  echo "$SLICES $SIZE" > "$WORK/params"
fi
printf '%s\n' 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f > "$WORK/key"
cat > "$WORK/naive.py" <<'EOF'
import os, sys
import pydicom
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
for name in sorted(os.listdir(src)):
    ds = pydicom.dcmread(os.path.join(src, name))
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName",
               "ReferringPhysicianName", "AccessionNumber", "StudyDate"):
        if kw in ds:
            setattr(ds, kw, "")
    ds.remove_private_tags()
    ds.save_as(os.path.join(dst, name))
EOF

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# run NAME CMD...: one warm-up, then RUNS timed runs; OUT is emptied before each (not timed).
# Wall time and CPU time (user + system of the command and its children, from /usr/bin/time):
# on a shared machine the CPU time is the steadier of the two.
declare -A MED CPU
run() {
  local name=$1; shift
  local times=() cpus=()
  for i in $(seq 0 "$RUNS"); do
    rm -rf "$WORK/out"
    sync
    local t0 t1
    t0=$(now)
    /usr/bin/time -f "%U %S" -o "$WORK/$name.time" "$@" > "$WORK/$name.log" 2>&1 ||
      { echo "bench/deid.sh: $name failed:"; tail -3 "$WORK/$name.log"; exit 1; }
    t1=$(now)
    if [ "$i" -gt 0 ]; then
      times+=("$(echo "$t1 - $t0" | bc -l)")
      cpus+=("$(awk '{print $1 + $2}' "$WORK/$name.time")")
    fi
  done
  MED[$name]=$(printf '%s\n' "${times[@]}" | median)
  CPU[$name]=$(printf '%s\n' "${cpus[@]}" | median)
}


LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

run medseal "$MEDSEAL" deid --key "$WORK/key" --quiet "$IN" "$WORK/out"
files=$(ls "$WORK/out" | wc -l)
run medseal_nosync "$MEDSEAL" deid --key "$WORK/key" --quiet --no-sync "$IN" "$WORK/out"
run gdcmanon bash -c "mkdir -p '$WORK/out' && gdcmanon --dumb --empty 10,10 --continue -r -i '$IN' -o '$WORK/out'"
run pydicom $PY "$WORK/naive.py" "$IN" "$WORK/out"
run cp cp -r "$IN" "$WORK/out"
run cp_sync bash -c "cp -r '$IN' '$WORK/out' && sync"

bytes=$(du -sb "$IN" | cut -f1)
echo "load average before: $LOAD0; after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "input: $SLICES slices of ${SIZE}x${SIZE} ($bytes bytes, $files files written by medseal), $RUNS runs after a warm-up, $(nproc) cores"
# ratios against medseal --no-sync: none of gdcmanon, pydicom or cp -r flushes to disk either
printf '| %-44s | %10s | %14s | %12s | %14s |\n' tool "median s" "/ medseal" "median CPU s" "CPU / medseal"
printf '|%s|%s|%s|%s|%s|\n' "----------------------------------------------" "------------" "----------------" "--------------" "----------------"
for t in medseal_nosync medseal gdcmanon pydicom cp cp_sync; do
  case $t in
    medseal) label="medseal deid (basic profile, syncfs at end)";;
    medseal_nosync) label="medseal deid --no-sync (basic profile)";;
    gdcmanon) label="gdcmanon --dumb --empty 10,10 -r";;
    pydicom) label="naive pydicom script";;
    cp) label="cp -r";;
    cp_sync) label="cp -r && sync";;
  esac
  printf '| %-44s | %10.3f | %13.2fx | %12.3f | %13.2fx |\n' "$label" "${MED[$t]}" \
    "$(echo "${MED[$t]} / ${MED[medseal_nosync]}" | bc -l)" "${CPU[$t]}" \
    "$(echo "${CPU[$t]} / ${CPU[medseal_nosync]}" | bc -l)"
done
g=$(echo "${MED[gdcmanon]} / ${MED[medseal_nosync]}" | bc -l)
c=$(echo "${MED[medseal_nosync]} / ${MED[cp]}" | bc -l)
d=$(echo "${MED[medseal]} / ${MED[cp_sync]}" | bc -l)
verdict() { (( $(echo "$1" | bc -l) )) && echo met || echo MISSED; }
printf 'targets: faster than gdcmanon >= 1.50x: %.2fx %s; within 1.50x of cp -r: %.2fx %s\n' \
  "$g" "$(verdict "$g >= 1.5")" "$c" "$(verdict "$c <= 1.5")"
printf 'durable: medseal (syncfs) / (cp -r && sync): %.2fx\n' "$d"
[ "${KEEP:-0}" = 1 ] || rm -rf "$WORK/out"

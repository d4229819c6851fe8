#!/usr/bin/env bash
# Benchmark: `medseal analyze` end to end on a 2,000-slice CT study with 3 priors (4 studies,
# 8,000 slice files + 4 SR + 4 notes), text format. The synthetic patient comes from
# scripts/synth_study.py with small images (--size 16) so the input fits on the disk and the time
# is the analyst's: folder walk, header parsing, geometry, SR flattening, extraction, comparison,
# guidelines, output. Prints one machine-readable line: name runs median_s min_s max_s.
# Trusts: the release build in ./build (or $MEDSEAL). Owns: a cached input folder under $TMPDIR.
# Settings: AN_BENCH_SLICES (2000), AN_BENCH_SIZE (16), AN_BENCH_RUNS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
MEDSEAL="${MEDSEAL:-./build/medseal}"
SLICES="${AN_BENCH_SLICES:-2000}"
SIZE="${AN_BENCH_SIZE:-16}"
RUNS="${AN_BENCH_RUNS:-5}"
dir="${TMPDIR:-/tmp}/medseal-bench-analyst-$SLICES-$SIZE"
if [ ! -f "$dir/truth.json" ]; then
  rm -rf "$dir"
  nice /usr/bin/python3 scripts/synth_study.py "$dir" --studies 4 --slices "$SLICES" \
    --size "$SIZE" --seed 7 2>/dev/null
fi
run() {
  "$MEDSEAL" analyze "$dir/study_4" --prior "$dir/study_1" --prior "$dir/study_2" \
    --prior "$dir/study_3" --format text > /dev/null
}
run # warm-up (page cache)
times=()
for _ in $(seq "$RUNS"); do
  t0=$EPOCHREALTIME
  run
  t1=$EPOCHREALTIME
  times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')")
done
printf '%s\n' "${times[@]}" | sort -g | awk -v n="$RUNS" -v s="$SLICES" '
  { v[NR] = $1 }
  END { printf "analyst_analyze_%sx4studies runs %d median_s %.3f min_s %.3f max_s %.3f\n",
        s, n, v[int((n + 1) / 2)], v[1], v[n] }'

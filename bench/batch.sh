#!/usr/bin/env bash
# Benchmark: `medseal batch` over an archive of BT_BENCH_PATIENTS (1000) synthetic patients x 3
# studies (scripts/synth_study.py, --slices 2 --size 16: 2 CT + 1 SR + notes per study), one run
# on BT_BENCH_JOBS (2) threads, against the peer: one `medseal analyze` process per patient
# (latest study, the other two as --prior), BT_BENCH_JOBS at a time (xargs -P), same format.
# Prints patients/s, studies/s, wall and peak RSS of each, and the ratio.
# Trusts: the release build in ./build (or $MEDSEAL). Owns: a cached archive under $TMPDIR and
# the output folders it removes.
set -euo pipefail
cd "$(dirname "$0")/.."
MEDSEAL="${MEDSEAL:-./build/medseal}"
N="${BT_BENCH_PATIENTS:-1000}"
JOBS="${BT_BENCH_JOBS:-2}"
base="${TMPDIR:-/tmp}/medseal-bench-batch-$N"
arch="$base/archive"
if [ ! -f "$base/.complete" ]; then
  rm -rf "$base"
  mkdir -p "$arch"
  nice /usr/bin/python3 - "$arch" "$N" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("synth", "scripts/synth_study.py")
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
out, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sys.argv = ["synth_study.py", f"{out}/p{i:04d}", "--studies", "3", "--slices", "2",
                "--size", "16", "--seed", str(5000 + i)]
    m.main()
PY
  touch "$base/.complete"
fi
"$MEDSEAL" keygen > "$base/site.key"
rm -rf "$base/out" "$base/peer"
cat "$arch"/p*/study_*/CT/* > /dev/null  # page cache
# medseal batch: one run
/usr/bin/time -f '%e %M' -o "$base/batch.time" "$MEDSEAL" batch --key "$base/site.key" \
  --format json --jobs "$JOBS" --json --quiet "$arch" "$base/out" > "$base/batch.json"
# the peer: one analyze per patient
mkdir -p "$base/peer"
/usr/bin/time -f '%e %M' -o "$base/peer.time" bash -c '
  ls "$1" | xargs -P "$2" -I{} sh -c "\"$3\" analyze \"$1/{}/study_3\" --prior \"$1/{}/study_1\" \
    --prior \"$1/{}/study_2\" --format json > \"$4/{}.json\""' _ "$arch" "$JOBS" "$MEDSEAL" \
  "$base/peer"
read -r bw brss < "$base/batch.time"
read -r pw prss < "$base/peer.time"
/usr/bin/python3 - "$base/batch.json" "$bw" "$brss" "$pw" "$prss" "$N" "$JOBS" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
bw, brss, pw, prss, n, jobs = float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
p, s = j["patients_done"], j["studies"]
assert j["patients_failed"] == 0, "failed patients"
print(f"| tool | patients | studies read | wall s | patients/s | studies/s | peak RSS MiB |")
print(f"|---|---|---|---|---|---|---|")
print(f"| medseal batch --jobs {jobs} | {p} | {s} | {bw:.2f} | {p / bw:.1f} | {s / bw:.1f} | {brss / 1024:.1f} |")
print(f"| {n} x medseal analyze, {jobs} at a time | {n} | {3 * n} | {pw:.2f} | {n / pw:.1f} | {3 * n / pw:.1f} | {prss / 1024:.1f} (largest one process) |")
print(f"batch_vs_analyze_per_patient speedup {pw / bw:.2f}x")
PY

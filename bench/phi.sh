#!/usr/bin/env bash
# PHI scrubber throughput: builds bench input from the public corpora in ../shared (ASQ-PHI
# queries, presidio synth sentences, MEDDOCAN test cases, make_study.py notes), repeated to about
# PHI_BENCH_MB (default 32) MB, and runs medseal_bench_phi (release build, one core).
# Prints "name documents ns_per_document MB_per_s". Target: >= 50 MB/s per core.
set -euo pipefail
cd "$(dirname "$0")/.."
B="${BUILD:-build}"
SHARED="${MEDSEAL_SHARED:-../shared}"
if [ ! -d "$SHARED/data/phi" ]; then
  echo "bench/phi.sh: $SHARED/data/phi not found; skipped"
  exit 0
fi
[ -f "$B/CMakeCache.txt" ] || cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j2 --target medseal_bench_phi >/dev/null
IN="$B/bench_phi_corpus.txt"
/usr/bin/python3 - "$SHARED" "$IN" "${PHI_BENCH_MB:-32}" <<'PY'
import json, os, subprocess, sys, tempfile
shared, out, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
docs = []
t = open(shared + "/data/phi/asq_phi/synthetic_clinical_queries.txt", encoding="utf-8").read()
docs += [b.split("===PHI_TAGS===")[0].strip() for b in t.split("===QUERY===")[1:]]
docs += [x["full_text"] for x in json.load(open(shared + "/data/phi/presidio_synth/synth_dataset_v2.json"))]
d = shared + "/data/phi/meddocan_test/brat"
docs += [open(os.path.join(d, f), encoding="utf-8").read() for f in sorted(os.listdir(d)) if f.endswith(".txt")]
tmp = tempfile.mkdtemp()
for seed in range(1, 10):
    subprocess.run(["/usr/bin/python3", shared + "/tools/make_study.py", "%s/s%d" % (tmp, seed), "--slices", "1",
                    "--size", "16", "--studies", "3", "--seed", str(seed)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for k in (1, 2, 3):
        docs.append(open("%s/s%d/study_%d/notes.txt" % (tmp, seed, k), encoding="utf-8").read())
subprocess.run(["rm", "-rf", tmp])
blob = "\f".join(d.replace("\f", " ") for d in docs)
reps = max(1, (mb << 20) // len(blob.encode()))
with open(out, "w", encoding="utf-8") as f:
    f.write("\f".join([blob] * reps))
print("corpus: %d documents x %d = %.1f MB" % (len(docs), reps, os.path.getsize(out) / 1048576))
PY
"$B/medseal_bench_phi" "$IN"

#!/usr/bin/env bash
# PHI scrubber throughput: builds bench input from the public corpora in ../shared (ASQ-PHI
# queries, presidio synth sentences, MEDDOCAN test cases, make_study.py notes), repeated to about
# PHI_BENCH_MB (default 32) MB, and runs medseal_bench_phi (release build, one core).
# Prints "name documents ns_per_document MB_per_s". Target: >= 50 MB/s per core.
# Then the same on the note-style corpus of scripts/gen-notes.py (seed 1, ICU nursing,
# respiratory, radiology notes and discharge summaries, repeated to the same size), side by
# side in one table with the corpus above, each against a peer on the same input: a perl
# regex scrubber (dates, phones, SSNs, e-mails, titled names; the pattern approach of
# PhysioNet deid without its dictionaries), and the peak memory of `medseal scrub` (plain,
# --json, --jsonl) on the notes as a multiple of the input.
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

# ---- the note-style corpus, side by side -------------------------------------------------------
NOTES="$B/bench_phi_notes.txt"
ND="$(mktemp -d)"
trap 'rm -rf "$ND"' EXIT
/usr/bin/python3 scripts/gen-notes.py "$ND/gen" --seed 1 >/dev/null
/usr/bin/python3 - "$ND/gen/notes.jsonl" "$IN" "$NOTES" "$ND" <<'PY'
import json, os, sys
src, asq, out, nd = sys.argv[1:5]
docs = [json.loads(l)["text"] for l in open(src, encoding="utf-8")]
blob = "\f".join(d.replace("\f", " ") for d in docs)
reps = max(1, os.path.getsize(asq) // len(blob.encode()))
with open(out, "w", encoding="utf-8") as f:
    f.write("\f".join([blob] * reps))
# the same notes for the CLI: plain text (blank lines between notes) and --jsonl
plain = "\n\n".join(docs)
r2 = max(1, (os.path.getsize(asq) * 2 // 3) // len(plain.encode()))
with open(nd + "/notes.txt", "w", encoding="utf-8") as f:
    f.write("\n\n".join([plain] * r2))
with open(nd + "/notes.jsonl", "w", encoding="utf-8") as f:
    for _ in range(r2):
        for d in docs:
            f.write(json.dumps({"text": d}) + "\n")
print("notes corpus: %d notes x %d = %.1f MB" % (len(docs), reps, os.path.getsize(out) / 1048576))
PY
# the peer: one perl process, the patterns of a regex scrubber, over the same bytes
PEER='s{\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b}{[DATE]}g; s{\b(?:\(\d{3}\)\s*|\d{3}[-. ])\d{3}[-. ]?\d{4}\b}{[PHONE]}g;
      s{\b\d{3}-\d{2}-\d{4}\b}{[SSN]}g; s{\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b}{[EMAIL]}g;
      s{\b(?i:dr|mr|mrs|ms)\.?\s+[A-Za-z][a-z]+}{[NAME]}g; s{\b(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s+\d{4})?}{[DATE]}g'
peer_mbs() { # MB per CPU-second of the perl peer on file $1
  local t
  t=$( { /usr/bin/time -f '%U %S' perl -0777 -pe "$PEER" < "$1" > /dev/null; } 2>&1 | tail -1)
  awk -v t="$t" -v b="$(stat -c %s "$1")" 'BEGIN { split(t, a, " "); s = a[1] + a[2];
    if (s <= 0) s = 0.001; printf "%.1f", b / 1048576 / s }'
}
cpu_of() { sed -n "s/^$1 .*cpu_mb_s=\([0-9.]*\).*/\1/p"; }
A=$("$B/medseal_bench_phi" "$IN" phi_scrub_tag)
N=$("$B/medseal_bench_phi" "$NOTES" phi_scrub_tag)
NS=$("$B/medseal_bench_phi" "$NOTES" phi_scrub_surrogate)
a=$(echo "$A" | cpu_of phi_scrub_tag); n=$(echo "$N" | cpu_of phi_scrub_tag)
ns=$(echo "$NS" | grep '^phi_scrub_surrogate ' | cpu_of phi_scrub_surrogate)
pa=$(peer_mbs "$IN"); pn=$(peer_mbs "$NOTES")
printf '%-34s %14s %14s %14s %10s\n' "corpus" "tag MB/cpu-s" "surr. MB/cpu-s" "perl peer" "tag/peer"
awk -v a="$a" -v pa="$pa" 'BEGIN { printf "%-34s %14s %14s %14s %10.2f\n", "ASQ-PHI+presidio+MEDDOCAN+notes", a, "-", pa, a / pa }'
awk -v n="$n" -v s="$ns" -v pn="$pn" 'BEGIN { printf "%-34s %14s %14s %14s %10.2f\n", "gen-notes.py seed 1 (note style)", n, s, pn, n / pn }'
awk -v n="$n" -v a="$a" 'BEGIN { printf "note style / ASQ-PHI row: %.2f (target: note style >= 50)\n", n / a }'
# peak memory of medseal scrub on the notes (plain text, --json, --jsonl), input multiple
for m in plain --json --jsonl; do
  f="$ND/notes.txt"; [ "$m" = --jsonl ] && f="$ND/notes.jsonl"
  arg=(); [ "$m" != plain ] && arg=("$m")
  kb=$( { /usr/bin/time -f '%M' "$B/medseal" scrub "${arg[@]}" < "$f" > /dev/null; } 2>&1 | tail -1)
  awk -v m="$m" -v kb="$kb" -v b="$(stat -c %s "$f")" \
    'BEGIN { printf "medseal scrub %-7s input %.1f MB, peak RSS %.1f MB = %.2fx the input\n", m, b / 1e6, kb * 1024 / 1e6, kb * 1024 / b }'
done

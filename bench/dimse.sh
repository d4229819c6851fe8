#!/usr/bin/env bash
# DIMSE ingest benchmark (issue 17 item 6), in one run on one synthetic series: the same 512-slice
# CT series sent with DCMTK `storescu` (one association, every file) to
#   - DCMTK `storescp` writing each instance to a tmpfs folder (/dev/shm), and to
#   - `medseal serve --dicom-listen` (each instance parsed, checked and filed in the in-memory
#     study store, nothing on disk),
# both on loopback, interleaved, median of RUNS runs (default 5) after one warm-up each, and the
# ratio (storescp time / medseal time: above 1 means medseal is faster).
# The series comes from ../shared/tools/make_study.py (--slices SLICES --size SIZE, default
# 512 x 512x512, explicit VR LE) and is generated once into /tmp (not committed).
# Trusts: its own inputs. Starts and stops its own servers in a temp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
SLICES=${SLICES:-512}
SIZE=${SIZE:-512}
RUNS=${RUNS:-5}
MEDSEAL=${MEDSEAL:-build/medseal}
SHARED=${MEDSEAL_SHARED:-../shared}
PY=/usr/bin/python3
OUT=${BENCH_DIR:-/tmp/medseal-bench-dicom-$SLICES-$SIZE}
DIR=$OUT/study_1/CT

[ -x "$MEDSEAL" ] || { echo "dimse bench: $MEDSEAL not built (make build)"; exit 1; }
[ -f "$SHARED/tools/make_study.py" ] || { echo "dimse bench: skipped ($SHARED absent)"; exit 0; }
command -v storescu >/dev/null && command -v storescp >/dev/null ||
  { echo "dimse bench: skipped (DCMTK absent)"; exit 0; }
if [ ! -d "$DIR" ]; then
  echo "generating $SLICES slices of ${SIZE}x$SIZE into $OUT (once)"
  rm -rf "$OUT"
  nice $PY "$SHARED/tools/make_study.py" "$OUT" --slices "$SLICES" --size "$SIZE" --studies 1 \
    --seed 1 --syntax explicit >/dev/null
fi
nfiles=$(find "$DIR" -type f -name '*.dcm' | wc -l)
bytes=$(du -sb "$DIR" | cut -f1)

W=$(mktemp -d /tmp/medseal-bench-dimse-XXXXXX)
SHM=$(mktemp -d /dev/shm/medseal-bench-dimse-XXXXXX)
spid=""; mpid=""
cleanup() {
  [ -n "$spid" ] && kill "$spid" 2>/dev/null || true
  [ -n "$mpid" ] && kill "$mpid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$W" "$SHM"
}
trap cleanup EXIT

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# storescp: one folder on tmpfs, emptied between runs
sport=$(free_port)
storescp -aet STORESCP -od "$SHM" "$sport" >"$W/storescp.log" 2>&1 &
spid=$!

# medseal: own state, a clinician key, one peer
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/srv.key" \
  -out "$W/srv.pem" -subj /CN=localhost -days 1 2>/dev/null
key=$("$MEDSEAL" keys create --state "$W/state" --role clinician | sed -n 's/^key: *//p')
printf 'STORESCU 127.0.0.1 %s\n' "$key" >"$W/peers"
chmod 600 "$W/peers"
printf 'dicom_peers = %s\nstudy_ttl_s = 5\n' "$W/peers" >"$W/serve.conf"
"$MEDSEAL" serve --listen 127.0.0.1:0 --cert "$W/srv.pem" --key "$W/srv.key" --state "$W/state" \
  --insecure-no-attestation --allow-unlocked-memory --config "$W/serve.conf" \
  --dicom-listen 127.0.0.1:0 >"$W/serve.out" 2>"$W/serve.err" &
mpid=$!
for _ in $(seq 100); do
  mport=$(sed -n 's/^medseal serve: dicom on 127.0.0.1:\([0-9]*\).*/\1/p' "$W/serve.out")
  [ -n "$mport" ] && break
  sleep 0.1
done
[ -n "$mport" ] || { echo "dimse bench: medseal serve did not start"; cat "$W/serve.err"; exit 1; }
sleep 0.3

time_ms() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1 || { echo "dimse bench: command failed: $*" >&2; exit 1; }
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

to_storescp() { storescu -aet STORESCU -aec STORESCP 127.0.0.1 "$sport" +sd +r +sp '*.dcm' "$DIR"; }
to_medseal() { storescu -aet STORESCU -aec MEDSEAL 127.0.0.1 "$mport" +sd +r +sp '*.dcm' "$DIR"; }
reset_shm() { find "$SHM" -mindepth 1 -delete; }

cat "$DIR"/*.dcm >/dev/null # page cache
time_ms to_storescp >/dev/null; reset_shm
time_ms to_medseal >/dev/null
s_samples=""; m_samples=""
for ((i = 0; i < RUNS; i++)); do
  s_samples+="$(time_ms to_storescp) "; got=$(find "$SHM" -type f | wc -l); reset_shm
  [ "$got" = "$nfiles" ] || { echo "dimse bench: storescp stored $got of $nfiles"; exit 1; }
  m_samples+="$(time_ms to_medseal) "
done
stored=$(grep -c "association released: $nfiles instances stored, 0 refused" "$W/serve.err" || true)
[ "$stored" -ge "$RUNS" ] || { echo "dimse bench: medseal did not store every instance"; tail -5 "$W/serve.err"; exit 1; }
s_med=$(echo "$s_samples" | tr ' ' '\n' | grep . | median)
m_med=$(echo "$m_samples" | tr ' ' '\n' | grep . | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.2f", a / b }'; }
echo "dimse bench: storescu of $nfiles files, $((bytes / 1048576)) MiB ($DIR), median of $RUNS runs, ms"
printf '%-52s %8s %s\n' "task" "median" "ratio"
printf '%-52s %8s %s\n' "storescu -> medseal serve --dicom-listen (memory)" "$m_med" "1.00"
printf '%-52s %8s %sx medseal\n' "storescu -> DCMTK storescp -od /dev/shm (tmpfs)" "$s_med" \
  "$(ratio "$s_med" "$m_med")"
echo "samples medseal: $m_samples"
echo "samples storescp: $s_samples"

#!/usr/bin/env bash
# Cold start of `medseal serve`: time from exec to the "listening ... ready in" line, and the
# server's own "ready in" figure, median of RUNS starts, in the two memory modes of one build in
# one run:
#   locked    the default: mem_limit (4 GiB) locked in RAM, refusal to start when it cannot be
#             (needs root, CAP_IPC_LOCK or RLIMIT_MEMLOCK >= 4 GiB; the row says so otherwise)
#   unlocked  --allow-unlocked-memory (the peer: what the locked mode costs on top)
# and the ratio locked / unlocked. Each start uses a fresh state folder (first start: creates the
# audit keys) and the resident set size right after start is printed too.
# Trusts: the release build. Owns: a temp dir and the servers it starts (stopped each time).
# env: MEDSEAL (default build/medseal), RUNS (10)
set -euo pipefail
cd "$(dirname "$0")/.."
MEDSEAL=${MEDSEAL:-build/medseal}
RUNS=${RUNS:-10}
[ -x "$MEDSEAL" ] || { echo "coldstart bench: $MEDSEAL not built (make)"; exit 1; }
T=$(mktemp -d /tmp/medseal-coldstart.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.pem" \
  -out "$T/c.pem" -subj /CN=localhost -days 2 2>/dev/null

# one start: prints "WALL_MS READY_MS RSS_KB" or "FAIL message"
start() {
  local flags="$1" log="$T/log" t0 t1 i
  rm -rf "$T/state" "$log"
  t0=$(date +%s%N)
  "$MEDSEAL" serve --listen 127.0.0.1:0 --cert "$T/c.pem" --key "$T/k.pem" --state "$T/state" \
    --insecure-no-attestation $flags >"$log" 2>&1 &
  pid=$!
  for i in $(seq 3000); do
    grep -q 'ready in' "$log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.002
  done
  t1=$(date +%s%N)
  if ! grep -q 'ready in' "$log"; then
    wait "$pid" 2>/dev/null || true; pid=
    echo "FAIL $(head -1 "$log")"; return
  fi
  local rss; rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  echo "$(( (t1 - t0) / 1000000 )) $(sed -n 's/.*ready in \([0-9.]*\) ms.*/\1/p' "$log") $rss"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else print a[int((NR+1)/2)]}'; }

declare -A wall ready rss
echo "| mode | runs | exec to ready line, median ms | server's \"ready in\", median ms | RSS after start |"
echo "|---|---|---|---|---|"
for mode in locked unlocked; do
  flags=""; [ $mode = unlocked ] && flags=--allow-unlocked-memory
  : > "$T/$mode"
  fail=""
  for r in $(seq "$RUNS"); do
    out=$(start "$flags")
    case "$out" in FAIL*) fail="${out#FAIL }"; break ;; esac
    echo "$out" >> "$T/$mode"
  done
  if [ -n "$fail" ]; then
    echo "| $mode | 0 | refused to start: ${fail#medseal serve: } | | |"
    continue
  fi
  wall[$mode]=$(cut -d' ' -f1 "$T/$mode" | median)
  ready[$mode]=$(cut -d' ' -f2 "$T/$mode" | median)
  rss[$mode]=$(cut -d' ' -f3 "$T/$mode" | median)
  echo "| $mode | $RUNS | ${wall[$mode]} | ${ready[$mode]} | ${rss[$mode]} kB |"
done
if [ -n "${ready[locked]:-}" ] && [ -n "${ready[unlocked]:-}" ]; then
  awk -v a="${ready[locked]}" -v b="${ready[unlocked]}" -v c="${wall[locked]}" -v d="${wall[unlocked]}" \
    'BEGIN {printf "ratio locked / unlocked: ready in %.2fx, exec to ready %.2fx\n", a / b, c / (d > 0 ? d : 1)}'
fi

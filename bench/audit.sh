#!/usr/bin/env bash
# Audit log benchmark (bench/bench_audit.c): records/s appended with batched fsync (targets
# >= 100k/s) and records/s verified (>= 500k/s), plus group commit with AUDIT_SYNC_EACH and the
# raw write+fdatasync floor, on the disk holding $WORK (default: a folder under build/, not tmpfs).
#   N=200000 bench/audit.sh
# Trusts: nothing; owns only $WORK (removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/medseal_bench_audit
N=${N:-200000}
[ -x "$BIN" ] || { echo "bench/audit.sh: build first ($BIN missing: cmake --build $BUILD --target medseal_bench_audit)"; exit 1; }
WORK=${WORK:-$BUILD/bench-audit}
mkdir -p "$WORK"
echo "filesystem: $(df -T "$WORK" | awk 'NR==2{print $2}')  cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$BIN" "$WORK" "$N"
rm -rf "$WORK"

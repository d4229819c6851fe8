#!/usr/bin/env bash
# Long fuzz runs of the gateway's three parsers, one after the other: chat request JSON,
# multipart/related (STOW-RS) and upstream SSE, each pinned with GW_FUZZ_ONLY for SECONDS
# (default 600) over a scratch copy of fuzz/gateway/corpus. Prints one line per parser; any crash,
# leak or timeout leaves its reproducer in the scratch folder, which is then kept and printed.
# Needs `make fuzz` first (build-fuzz/fuzz_gateway) or FUZZ_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
bin=${FUZZ_BIN:-build-fuzz/fuzz_gateway}
[ -x "$bin" ] || { echo "gateway-fuzz: $bin missing (make fuzz)"; exit 1; }
rc=0
for mode in json multipart sse; do
  work=$(mktemp -d /tmp/gwfuzz-$mode.XXXXXX)
  mkdir -p "$work/corpus"
  # the committed corpus starts with a selector byte; strip it for the pinned mode
  for f in fuzz/gateway/corpus/*; do tail -c +2 "$f" > "$work/corpus/$(basename "$f")"; done
  if GW_FUZZ_ONLY=$mode "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -dict=fuzz/gateway/gateway.dict -artifact_prefix="$work/" -print_final_stats=1 \
       "$work/corpus" > "$work/log" 2>&1; then
    runs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$work/log")
    cov=$(grep -E '^#[0-9]+' "$work/log" | tail -1 | grep -oE 'cov: [0-9]+' || true)
    echo "gateway-fuzz $mode: ${secs}s, ${runs:-?} runs, $cov, no finding"
    rm -rf "$work"
  else
    echo "gateway-fuzz $mode: FINDING (kept in $work)"; tail -30 "$work/log"; rc=1
  fi
done
exit $rc

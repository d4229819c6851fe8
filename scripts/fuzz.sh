#!/usr/bin/env bash
# Runs every built fuzz target for N seconds (default 30) over its seed corpus, into a scratch copy
# so the committed corpus stays minimal. Any crash, leak or timeout fails the run.
set -euo pipefail
secs=${1:-30}
cd "$(dirname "$0")/.."
rc=0
shopt -s nullglob
for bin in build-fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  t=${bin#build-fuzz/fuzz_}
  corpus=fuzz/$t/corpus
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null || true
  dict=(); [ -f fuzz/$t/$t.dict ] && dict=(-dict=fuzz/$t/$t.dict)
  echo "fuzz $t: ${secs}s"
  if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
        "${dict[@]}" -artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
    echo "fuzz $t: FINDING"; tail -40 "$work.log"; rc=1
  else
    grep -E 'Done [0-9]+ runs' "$work.log" | tail -1 || true
  fi
  rm -rf "$work" "$work.log"
done
exit $rc

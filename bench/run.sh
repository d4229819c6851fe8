#!/usr/bin/env bash
# Runs every benchmark script bench/*.sh (or those matching $1) against the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
for s in bench/*.sh; do
  [ "$s" = bench/run.sh ] && continue
  [ -n "${1:-}" ] && [[ "$s" != *"$1"* ]] && continue
  echo "== $s"
  bash "$s"
done

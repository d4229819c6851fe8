#!/usr/bin/env bash
# make demo: the main job on a synthetic study made by the project's own code.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "medseal demo: (the analyst report lands with its issue)"
./build/medseal --help

#!/usr/bin/env bash
# make demo: the main job, offline, on a 3-study synthetic patient made by the project's own code
# (scripts/synth_study.py; no ../shared needed): `medseal analyze` on the newest study with the
# two earlier ones as priors, printed as the de-identified text report.
# Trusts: the build in ./build (or $MEDSEAL). Owns: a temporary folder, removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
MEDSEAL="${MEDSEAL:-./build/medseal}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 scripts/synth_study.py "$tmp" --studies 3 --slices 16 --size 64 --seed 1 \
  2>/dev/null
echo "medseal demo: analyze study_3 with priors study_1 and study_2 (synthetic patient)"
echo
"$MEDSEAL" analyze "$tmp/study_3" --prior "$tmp/study_1" --prior "$tmp/study_2" --format text

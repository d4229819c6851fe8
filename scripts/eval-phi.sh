#!/usr/bin/env bash
# make eval-phi: prints the PHI scrubber's evaluation tables (recall / precision per class and
# overall, overlap and exact rules) on ASQ-PHI, presidio synth, MEDDOCAN test and the planted PHI
# of make_study.py seeds 1-9 (with and without the identity). Needs ../shared (or MEDSEAL_SHARED)
# and a built medseal (MEDSEAL=path overrides build/medseal). Extra arguments go to phi-eval.py.
set -euo pipefail
cd "$(dirname "$0")/.."
MEDSEAL="${MEDSEAL:-build/medseal}"
if [ ! -x "$MEDSEAL" ]; then
  echo "eval-phi: $MEDSEAL not built (run make)" >&2
  exit 1
fi
exec /usr/bin/python3 scripts/phi-eval.py --bin "$MEDSEAL" "$@"

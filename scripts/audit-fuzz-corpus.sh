#!/usr/bin/env bash
# Regenerates fuzz/audit/corpus: small synthetic audit logs made by `medseal audit append` (no
# PHI: fixed tokens only), each written as [initial key 32][public key 32][segment], the input
# layout of fuzz/audit/fuzz_audit.c, plus a few proofs. Run from the repository root after a build.
#   scripts/audit-fuzz-corpus.sh [build/medseal]
# Trusts: the built binary. Owns: fuzz/audit/corpus/seed-* (replaced) and a temp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
M=${1:-build/medseal}
OUT=fuzz/audit/corpus
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$OUT"
rm -f "$OUT"/seed-*

emit() { # name state-dir
  local a=$2/audit
  { tr -d '\n' < "$a/initial.key" | xxd -r -p; tr -d '\n' < "$a/sign.pub" | xxd -r -p
    cat "$a/seg-00000000000000000000.log"; } > "$OUT/seed-$1"
}

"$M" audit append --state "$T/a" --action cli.deid --outcome ok >/dev/null
emit small "$T/a"
"$M" audit append --state "$T/b" --action chat.completion --outcome ok --status 200 \
  --role clinician --key-id k_1 --request-id r-1 --route /v1/chat/completions --model m \
  --patient MS-ABCDEFGHIJKLMNOP --count 12 --epoch-records 4 --sth-records 5 >/dev/null
emit epochs "$T/b"
"$M" audit append --state "$T/c" --action auth.fail --outcome denied --count 3 >/dev/null
seg=$T/c/audit/seg-00000000000000000000.log
truncate -s -7 "$seg" # a torn tail: reopening cuts it and logs a truncation record
"$M" audit append --state "$T/c" --action server.start --outcome ok >/dev/null
emit truncation "$T/c"
"$M" audit prove 2 --state "$T/b" > "$OUT/seed-proof-inclusion"
"$M" audit consistency 3 11 --state "$T/b" > "$OUT/seed-proof-consistency"
ls "$OUT"

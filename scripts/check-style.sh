#!/usr/bin/env bash
# Style gate (curl's checksrc in spirit): banned functions outside src/core, and clang-format.
# Usage: scripts/check-style.sh [--no-format]
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
banned='\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets|sscanf|malloc|calloc|realloc|free|abort)[[:space:]]*\('
hits=$(git ls-files 'src/*.c' 'src/*.h' | grep -v '^src/core/' | xargs -r grep -nE "$banned" \
       | grep -vE '//|/\*.*(strcpy|free|malloc)|_free\(|json_decref|ms_free' || true)
# Allow library frees that are not libc free: *_free( is excluded above; plain free( remains banned.
if [ -n "$hits" ]; then
  echo "banned function outside src/core:"; echo "$hits"; rc=1
fi
if [ "${1:-}" != "--no-format" ] && command -v clang-format >/dev/null; then
  if ! git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run -Werror 2>/dev/null; then
    echo "clang-format: files need formatting (make format)"; rc=1
  fi
fi
[ $rc -eq 0 ] && echo "check-style: ok"
exit $rc

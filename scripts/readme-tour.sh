#!/usr/bin/env bash
# readme-tour.sh WORKDIR PORT: runs README.md's "A ten-minute tour" exactly as a reader pastes it
# (every ```sh block of that section, in order, under `bash -e`), in WORKDIR, with build/medseal on
# the PATH. Two substitutions only, so that it can run beside other tests: port 8443 becomes PORT,
# and the tour's `sleep 1` after starting the server becomes a wait for /healthz (up to 60 s).
# Used by tests/test_cli_docs.c. Trusts: the repository. Owns: WORKDIR's contents; stops the server.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
work="$1"
port="$2"
mkdir -p "$work"
/usr/bin/python3 - "$src/README.md" "$port" > "$work/tour.sh" <<'PY'
import re, sys
s = open(sys.argv[1], encoding="utf-8").read()
part = s.split("## A ten-minute tour", 1)[1].split("\n## ", 1)[0]
blocks = re.findall(r"```sh\n(.*?)```", part, re.S)
if not blocks:
    sys.exit("README.md: no ```sh blocks in the tour")
text = "\n".join(blocks).replace("127.0.0.1:8443", "127.0.0.1:" + sys.argv[2])
wait = ("for i in $(seq 300); do curl -sk https://127.0.0.1:%s/healthz >/dev/null && break; "
        "sleep 0.2; done" % sys.argv[2])
text = re.sub(r"^sleep 1\b", wait, text, count=1, flags=re.M)
print("trap 'kill %1 2>/dev/null || true' EXIT")
print(text)
PY
cd "$work"
MEDSEAL_SRC="$src" PATH="$src/build:$PATH" bash -e tour.sh

#!/usr/bin/python3
"""gen-man.py: writes the medseal(1) man page from the binary's own help text.

The page is `medseal --help` (the command list) followed by one section per command holding
`medseal CMD --help` verbatim, so the man page and --help can never disagree: both come from the
usage text compiled into src/cli. Run by the build (CMakeLists.txt, target medseal_man) after
medseal is linked; `make install` installs the result as share/man/man1/medseal.1.

Usage: gen-man.py MEDSEAL_BINARY OUT.1
Trusts: the binary it runs. Writes only OUT.1 (through a temporary file, renamed).
"""
import os
import re
import subprocess
import sys


def roff(text):
    """Text for a no-fill block: backslashes escaped, lines that start with . or ' protected."""
    out = []
    for line in text.rstrip("\n").splitlines():
        line = line.replace("\\", "\\e")
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)


def run(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True)
    return r.stdout if r.stdout.strip() else r.stderr


def main(argv):
    if len(argv) != 3:
        print("usage: gen-man.py MEDSEAL_BINARY OUT.1", file=sys.stderr)
        return 2
    binary, out = argv[1], argv[2]
    top = run(binary, "--help")
    version = run(binary, "--version").split()[-1]
    cmds = []
    inside = False
    for line in top.splitlines():
        if line.strip() == "commands:":
            inside = True
        elif inside:
            m = re.match(r"^  ([a-z][a-z0-9-]*)\s+(.*)$", line)
            if not m:
                break
            cmds.append((m.group(1), m.group(2)))
    if not cmds:
        print("gen-man.py: no command list in `medseal --help`", file=sys.stderr)
        return 1
    page = [
        f'.TH MEDSEAL 1 "" "medseal {version}" "medseal manual"',
        ".SH NAME",
        "medseal \\- confidential medical-records analyst: DICOM codec, de-identification, "
        "free-text PHI scrubbing, structured radiology reports, an attested HTTPS gateway",
        ".SH SYNOPSIS",
        ".B medseal",
        ".I command",
        "[options]",
        ".SH DESCRIPTION",
        ".nf",
        roff(top),
        ".fi",
        ".SH COMMANDS",
    ]
    for name, desc in cmds:
        page += [f".SS {name}", roff(desc).replace("\n", " "), ".PP", ".nf",
                 roff(run(binary, name, "--help")), ".fi"]
    page += [".SH SEE ALSO",
             "The pages in docs/ of the source tree (dicom.md, deid.md, scrub.md, analyst.md, "
             "serve.md, audit.md, attestation.md, security.md)."]
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(page) + "\n")
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

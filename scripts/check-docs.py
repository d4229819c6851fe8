#!/usr/bin/python3
"""check-docs.py: the user documentation agrees with itself and with the binary.

1. Every relative link in README.md and docs/*.md ([text](target), target without a scheme)
   names a file or folder that exists (the #anchor part is not checked).
2. Every `--flag` written in docs/*.md and README.md exists in some `medseal CMD --help`, and every
   flag of every `medseal CMD --help` is described somewhere in docs/*.md.
   Flags of other tools that the pages mention (curl, cmake, the study generator...) are listed
   in FOREIGN below with the tool they belong to.

Usage: check-docs.py [--root DIR] [--medseal BIN]   (defaults: the repository, build/medseal)
Exit 0 when all hold; 1 with one line per problem, naming the file (and line) and the flag or link.
Trusts: the repository's files and the binary it is given. Writes nothing.
"""
import os
import re
import subprocess
import sys

# flag -> the tool it belongs to (not medseal). Only used when the flag is not in medseal's help.
FOREIGN = {
    "--build": "cmake",
    "--target": "cmake",
    "--cacert": "curl",
    "--data-binary": "curl",
    "--totp": "oathtool",
    "--seed": "scripts/synth_study.py, make_study.py, gen-notes.py, gen-analyst-corpus.py",
    "--patients": "scripts/gen-notes.py",
    "--negatives": "scripts/gen-notes.py",
    "--set": "scripts/phi-eval.py",
    "--verbose": "scripts/analyst-eval.py",
    "--heldout": "scripts/analyst-eval.py",
    "--bin": "scripts/phi-eval.py, scripts/analyst-eval.py",
    "--slices": "scripts/synth_study.py, make_study.py",
    "--studies": "scripts/synth_study.py, make_study.py",
    "--size": "scripts/synth_study.py",
    "--ca": "scripts/attest-fetch-collateral.py",
    "--pcs": "scripts/attest-fetch-collateral.py",
    "--dumb": "gdcmanon (benchmark peer)",
    "--empty": "gdcmanon (benchmark peer)",
    "--dump": "medseal_bench_phi (benchmark)",
    "--input-type": "node",
    "--no-audit": "npm",
    "--no-fund": "npm",
    "--patients": "the PHI note corpus generator (docs/scrub.md)",
    "--negatives": "the PHI note corpus generator (docs/scrub.md)",
    "--set": "scripts/phi-eval.py",
    "--bin": "scripts/phi-eval.py",
}
# accepted by every command, listed in no per-command help
BUILTIN = {"--help", "--version"}

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]")


def pages(root):
    out = [os.path.join(root, "README.md")]
    docs = os.path.join(root, "docs")
    out += sorted(os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md"))
    return [p for p in out if os.path.isfile(p)]


def commands(medseal):
    """The subcommand names, from `medseal --help` (lines "  NAME  description")."""
    text = subprocess.run([medseal, "--help"], capture_output=True, text=True, check=True).stdout
    names = []
    inside = False
    for line in text.splitlines():
        if line.strip() == "commands:":
            inside = True
            continue
        if inside:
            m = re.match(r"^  ([a-z][a-z0-9-]*)\s", line)
            if not m:
                break
            names.append(m.group(1))
    return names


def help_flags(medseal):
    """flag -> the first command whose --help names it."""
    flags = {}
    for cmd in commands(medseal):
        r = subprocess.run([medseal, cmd, "--help"], capture_output=True, text=True)
        for f in FLAG.findall(r.stdout + r.stderr):
            flags.setdefault(f, cmd)
    return flags


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    medseal = None
    i = 1
    while i < len(argv):
        if argv[i] == "--root" and i + 1 < len(argv):
            root = argv[i + 1]
            i += 2
        elif argv[i] == "--medseal" and i + 1 < len(argv):
            medseal = argv[i + 1]
            i += 2
        else:
            print("usage: check-docs.py [--root DIR] [--medseal BIN]", file=sys.stderr)
            return 2
    medseal = medseal or os.path.join(root, "build", "medseal")
    problems = []
    doc_flags = {}  # flag -> first "file:line" that names it (docs/ only)
    known = help_flags(medseal)
    for page in pages(root):
        rel = os.path.relpath(page, root)
        fence = False
        with open(page, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.lstrip().startswith("```"):
                    fence = not fence
                if not fence:
                    for target in LINK.findall(line):
                        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                            continue
                        path = target.split("#", 1)[0]
                        if not os.path.exists(os.path.join(os.path.dirname(page), path)):
                            problems.append(f"{rel}:{n}: broken link ({target})")
                for flag in FLAG.findall(line):
                    if rel.startswith("docs"):
                        doc_flags.setdefault(flag, f"{rel}:{n}")
                    if flag not in known and flag not in FOREIGN and flag not in BUILTIN:
                        problems.append(
                            f"{rel}:{n}: flag {flag} is in no `medseal CMD --help` (a flag of "
                            "another tool goes into FOREIGN in scripts/check-docs.py)")
    for flag, cmd in sorted(known.items()):
        if flag not in doc_flags and flag not in BUILTIN:
            problems.append(f"flag {flag} of `medseal {cmd} --help` is described nowhere in docs/")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/python3
"""Rebuilds data/names/*.txt (the scrubber's dictionaries) from their public-domain / permissive
sources: the Census and SSA name lists in ../shared/data/names/ and the SCOWL word lists of
Debian's `scowl` package (extracted with `apt-get download scowl; dpkg -x`). Run by hand when a
source changes; the build reads only data/names/. Trusts its inputs (fixed files)."""
import csv, os, re, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("MEDSEAL_SHARED", os.path.join(ROOT, "..", "shared")) + "/data/names"
SCOWL = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/dict/scowl"
OUT = os.path.join(ROOT, "data", "names")
ALPHA = re.compile(r"^[a-z]+$")


def census(path):
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 2 and ALPHA.match(f[0].lower()):
            out[f[0].lower()] = float(f[1])
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    first = census(SHARED + "/dist.female.first")
    for k, v in census(SHARED + "/dist.male.first").items():
        first[k] = max(first.get(k, 0.0), v)
    with open(SHARED + "/2010_SSA_baby_names.csv", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            n = row["Name"].lower()
            if ALPHA.match(n):
                first[n] = max(first.get(n, 0.0), float(row["total"].rstrip("%")) / 2)
    last = census(SHARED + "/dist.all.last")
    with open(SHARED + "/2010_Census_Surnames.csv") as f:
        for row in csv.reader(f):
            n = row[0].lower()
            if ALPHA.match(n) and n not in last and row[1] != "RANK":
                last[n] = float(row[3].replace(",", "")) / 1000.0
    with open(os.path.join(OUT, "first.txt"), "w") as f:
        for k in sorted(first):
            f.write("%s %d\n" % (k, round(first[k] * 1000)))
    with open(os.path.join(OUT, "last.txt"), "w") as f:
        for k in sorted(last):
            f.write("%s %d\n" % (k, round(last[k] * 1000)))
    words = {}
    for fn in os.listdir(SCOWL):
        m = re.match(r"^(english|american)-(words|abbreviations|contractions)\.(\d+)$", fn)
        if not m or int(m.group(3)) > 60:
            continue
        for w in open(os.path.join(SCOWL, fn), encoding="latin-1"):
            w = w.strip()
            if ALPHA.match(w):
                lv = int(m.group(3))
                words[w] = min(words.get(w, 99), lv)
    with open(os.path.join(OUT, "words.txt"), "w") as f:
        for k in sorted(words):
            f.write("%s %d\n" % (k, words[k]))
    with open(SHARED + "/1993_Census_Common_Street_Names.csv", encoding="utf-8-sig") as f:
        streets = [r["name"] for r in csv.DictReader(f) if ALPHA.match(r["name"].lower())]
    with open(os.path.join(OUT, "streets.txt"), "w") as f:
        f.write("\n".join(streets) + "\n")
    sfx = set()
    with open(SHARED + "/2017_USPS_Street_Suffixes.csv", encoding="utf-8-sig") as f:
        for r in csv.DictReader(f):
            sfx.add(r["name"].strip().lower())
            sfx.add(r["Abbreviation"].strip().lower())
    with open(os.path.join(OUT, "street_suffixes.txt"), "w") as f:
        f.write("\n".join(sorted(s for s in sfx if ALPHA.match(s))) + "\n")
    print("first %d last %d words %d streets %d suffixes %d" %
          (len(first), len(last), len(words), len(streets), len(sfx)))


main()

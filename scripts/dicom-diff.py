#!/usr/bin/python3
"""
Differential test of `medseal dump` against pydicom's Dataset.to_json_dict() (Debian's
python3-pydicom; run with /usr/bin/python3). For every file under the given paths:
  - pydicom reads it (dcmread force=True); if pydicom rejects it, medseal must fail cleanly
    (non-zero exit, exactly one stderr line naming the file, no crash signal);
  - otherwise both DICOM JSON objects (PixelData left out) are compared element by element,
    recursively, after the normalisations below;
  - every difference must be listed in the known-differences file (TSV: file, tag path or *,
    reason); an unlisted difference fails the run. Listed entries that no longer occur are
    reported as stale (and fail with --strict).

Normalisations (each is a place where DICOM JSON allows two spellings or pydicom keeps raw
padding; see README.md):
  1. an empty sequence: pydicom writes "Value": [], medseal omits Value (PS3.18 F.2.5);
  2. string values are compared with padding spaces removed (PS3.5 6.2: leading and trailing
     spaces are insignificant for AE AS CS DA DS DT IS LO SH TM UI, trailing for the others);
     pydicom keeps the spaces of individual values of a multi-valued string;
  3. an empty entry of a multi-valued string: pydicom "" vs medseal null (PS3.18 F.2.5);
  4. numbers are compared as numbers (IS 1 vs 1.0); FL values as float32 (pydicom prints the
     float32 widened to double, medseal the shortest text that reads back as the same float32);
  5. PN: empty component groups are dropped on both sides.
Binary values (InlineBinary) are compared too, except for big-endian input where pydicom 2.3
writes the raw big-endian bytes (a pydicom bug: DICOM JSON is little endian); they are then
compared after swapping pydicom's bytes per VR unit.
Trusts: the files (read-only) and the medseal binary given. Owns: nothing; prints a report.
Usage: dicom-diff.py --medseal BIN --known TSV [--strict] [--verbose] PATH...
"""
import argparse
import base64
import json
import math
import os
import struct
import subprocess
import sys
import warnings

warnings.simplefilter("ignore")
import pydicom  # noqa: E402
from pydicom.errors import InvalidDicomError  # noqa: E402
import logging  # noqa: E402

logging.getLogger("pydicom").setLevel(logging.CRITICAL)

LEAD_TRIM = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "SH", "TM", "UI"}
UNIT = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def files_under(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs.sort()
                for n in sorted(names):
                    out.append(os.path.join(root, n))
        else:
            out.append(p)
    return out


def norm_str(vr, s):
    if s is None or s == "":
        return None
    if not isinstance(s, str):
        return s
    s = s.rstrip(" \x00")
    if vr in LEAD_TRIM:
        s = s.lstrip(" ")
    return s if s != "" else None


def norm_pn(v):
    if v is None or v == "":
        return None
    if isinstance(v, dict):
        d = {k: x.rstrip(" ") for k, x in v.items() if isinstance(x, str) and x.rstrip(" ") != ""}
        return d or None
    return v


def num_eq(vr, a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        try:
            a, b = float(a), float(b)
        except (TypeError, ValueError):
            return str(a).strip() == str(b).strip()
    if vr == "FL":
        fa = struct.unpack("<f", struct.pack("<f", float(a)))[0]
        fb = struct.unpack("<f", struct.pack("<f", float(b)))[0]
        return fa == fb or (math.isnan(fa) and math.isnan(fb))
    return float(a) == float(b) or (math.isnan(float(a)) and math.isnan(float(b)))


def swap(data, unit):
    if unit <= 1:
        return data
    out = bytearray(data)
    for i in range(0, len(out) - len(out) % unit, unit):
        out[i:i + unit] = out[i:i + unit][::-1]
    return bytes(out)


def cmp_elem(path, vr, a, b, big, diffs):
    """a: pydicom element JSON, b: medseal element JSON."""
    va, vb = a.get("vr"), b.get("vr")
    if va != vb:
        diffs.append((path, "vr %s vs %s" % (va, vb)))
        return
    if "InlineBinary" in a or "InlineBinary" in b:
        x, y = a.get("InlineBinary"), b.get("InlineBinary")
        if x is not None and y is not None and big:
            x = base64.b64encode(swap(base64.b64decode(x), UNIT.get(vr, 1))).decode()
        if x != y:
            diffs.append((path, "InlineBinary differs"))
        return
    xa, xb = a.get("Value"), b.get("Value")
    if vr == "SQ":
        xa = xa or []
        xb = xb or []
        if len(xa) != len(xb):
            diffs.append((path, "items %d vs %d" % (len(xa), len(xb))))
            return
        for i, (ia, ib) in enumerate(zip(xa, xb)):
            cmp_ds("%s/%d" % (path, i), ia, ib, big, diffs)
        return
    xa = xa or []
    xb = xb or []
    if vr == "PN":
        xa = [norm_pn(v) for v in xa]
        xb = [norm_pn(v) for v in xb]
    elif vr in ("DS", "IS", "FL", "FD", "US", "SS", "UL", "SL", "UV", "SV"):
        if all(v is None for v in xa):
            xa = []
        if all(v is None for v in xb):
            xb = []
        if len(xa) != len(xb) or not all(num_eq(vr, p, q) for p, q in zip(xa, xb)):
            diffs.append((path, "values differ (%d vs %d values)" % (len(xa), len(xb))))
        return
    else:
        xa = [norm_str(vr, v) for v in xa]
        xb = [norm_str(vr, v) for v in xb]
    if all(v is None for v in xa):
        xa = []
    if all(v is None for v in xb):
        xb = []
    if xa != xb:
        diffs.append((path, "values differ (%d vs %d values)" % (len(xa), len(xb))))


def cmp_ds(path, a, b, big, diffs):
    for tag in sorted(set(a) | set(b)):
        p = "%s/%s" % (path, tag) if path else tag
        if tag not in b:
            diffs.append((p, "missing in medseal"))
        elif tag not in a:
            diffs.append((p, "missing in pydicom"))
        else:
            cmp_elem(p, a[tag].get("vr"), a[tag], b[tag], big, diffs)


def pydicom_json(path):
    """(json dict, big_endian, note) or raises when pydicom rejects the file."""
    ds = pydicom.dcmread(path, force=True)
    big = not ds.is_little_endian if ds.is_little_endian is not None else False
    note = ""
    try:
        j = ds.to_json_dict(bulk_data_threshold=1 << 40)
    except Exception:  # noqa: BLE001 - pydicom cannot convert some element
        j = ds.to_json_dict(bulk_data_threshold=1 << 40, suppress_invalid_tags=True)
        note = "pydicom suppressed invalid tags"
    j.pop("7FE00010", None)
    return j, big, note


def medseal_json(binary, path):
    r = subprocess.run([binary, "dump", path], capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def load_known(tsv):
    known = {}
    if tsv and os.path.exists(tsv):
        with open(tsv, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip() or line.startswith("#"):
                    continue
                f = line.rstrip("\n").split("\t")
                if len(f) < 3 or not f[2].strip():
                    sys.exit("known-differences line without a reason: " + line.strip())
                known[(f[0], f[1])] = f[2]
    return known


def check_file(binary, path, known, used, verbose):
    """Returns (n_diffs, n_unknown, status) for one file."""
    name = os.path.basename(path)
    rc, out, err = medseal_json(binary, path)
    if rc < 0 or rc > 1:
        return 1, 1, "medseal crashed or misused (rc %d)" % rc
    try:
        pj, big, note = pydicom_json(path)
    except Exception as e:  # noqa: BLE001 - any pydicom failure is a rejection
        lines = [x for x in err.splitlines() if x.strip()]
        if rc == 1 and len(lines) == 1 and path in lines[0]:
            return 0, 0, "both reject (pydicom: %s)" % type(e).__name__
        key = (name, "*")
        if key in known:
            used.add(key)
            return 1, 0, "known: " + known[key]
        return 1, 1, "pydicom rejects (%s) but medseal rc %d, %d stderr lines" % (
            type(e).__name__, rc, len(lines))
    diffs = []
    if rc != 0:
        diffs.append(("*", "medseal rejects: " + err.strip().replace(path, name)))
    else:
        try:
            mj = json.loads(out)
        except ValueError:
            return 1, 1, "medseal printed invalid JSON"
        cmp_ds("", pj, mj, big, diffs)
    unknown = 0
    for p, what in diffs:
        key = (name, p) if (name, p) in known else (name, "*")
        if key in known:
            used.add(key)
            if verbose:
                print("    known %s: %s (%s)" % (p, what, known[key]))
        else:
            unknown += 1
            print("    DIFF %s %s: %s" % (name, p, what))
    status = "equal" if not diffs else "%d differences (%d unknown)" % (len(diffs), unknown)
    if note:
        status += "; " + note
    return len(diffs), unknown, status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--medseal", required=True)
    ap.add_argument("--known")
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    known = load_known(a.known)
    used = set()
    files = files_under(a.paths)
    nfiles = ndiff_files = nunknown = 0
    for path in files:
        nd, nu, status = check_file(a.medseal, path, known, used, a.verbose)
        nfiles += 1
        ndiff_files += nd > 0
        nunknown += nu
        print("%-60s %s" % (os.path.relpath(path, os.path.commonpath(a.paths) if len(a.paths) > 1 else os.path.dirname(a.paths[0]) or "."), status))
    names = {os.path.basename(p) for p in files}
    stale = [k for k in known if k not in used and k[0] in names]
    for k in stale:
        print("stale known difference: %s %s" % k)
    print("files %d, differing %d, unknown differences %d, stale %d" % (
        nfiles, ndiff_files, nunknown, len(stale)))
    return 1 if nunknown or (a.strict and stale) else 0


if __name__ == "__main__":
    sys.exit(main())

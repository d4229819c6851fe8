#!/usr/bin/python3
"""Independent checks of `medseal deid` output (used by tests/test_deid_cli.c and bench/deid.sh).

  deid-check.py study IN OUT [--dates modified|removed|full] [--no-dciodvfy] [--log FILE]
      IN is make_study.py output (manifest.json with planted_phi); OUT its de-identified mirror.
  deid-check.py files IN OUT [--no-dciodvfy]
      IN any DICOM files; the identity to look for is read from each input with pydicom.

Checks (written with pydicom, zlib, dcmdump and dciodvfy, none of them medseal's code):
  1. no planted/identity string in any byte of any output file, searched raw, in deflated
     datasets after inflating, case-insensitively for names;
  2. study mode: the study's own dates (planted_dates) absent from its files;
  3. every output parses with pydicom (every element decoded) and with dcmdump (exit 0);
  4. dciodvfy reports no error on an output that it did not report on the matching input;
  5. study mode: one patient pseudonym for all files, one date offset for all studies
     (modified dates), UIDs consistent (study/series/frame of reference/SOP, meta = dataset,
     references), no UID left under the planted organisation root.
Prints one line per failure naming the check, file and offset (never the PHI value), and a last
line "deid-check: N files, M failures". Exit status 1 when anything failed.

Trusts: nothing in OUT. Owns: nothing (reads only).
"""
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import zlib

import pydicom
from pydicom.uid import DeflatedExplicitVRLittleEndian

FAILS = []
DUMMIES = {"ANONYMIZED", "19000101", "19000101000000", "000000", "000Y", "0"}


def fail(check, path, detail):
    FAILS.append(f"FAIL {check}: {path}: {detail}")


def files_under(root):
    out = []
    for d, _, names in os.walk(root):
        out += [os.path.join(d, n) for n in sorted(names)]
    return sorted(out)


def is_dicom(path):
    with open(path, "rb") as f:
        head = f.read(132)
    return len(head) == 132 and head[128:] == b"DICM"


def payloads(path):
    """The raw bytes, plus the inflated dataset of a deflated file."""
    raw = open(path, "rb").read()
    out = [("raw", raw)]
    try:
        meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
        if meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian:
            start = 132 + 12 + int(meta.FileMetaInformationGroupLength)
            out.append(("inflated", zlib.decompress(raw[start:], -zlib.MAX_WBITS)))
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        fail("inflate", path, type(e).__name__)
    return out


def needles(strings):
    """Byte patterns for each string: as is, upper, lower; PN '^' also as space."""
    out = []
    for i, s in enumerate(strings):
        forms = {s, s.upper(), s.lower(), s.replace("^", " "), s.replace("^", " ").upper()}
        out.append((i, [f.encode("latin-1", "replace") for f in forms if len(f) >= 4]))
    return out


def search(path, pats, check, dicom=True):
    for kind, data in payloads(path) if dicom else [("raw", open(path, "rb").read())]:
        for i, forms in pats:
            for form in forms:
                at = data.find(form)
                if at >= 0:
                    fail(check, path, f"string #{i} found in {kind} bytes at offset {at}")
                    break


def parse_all(path):
    try:
        ds = pydicom.dcmread(path)
        for elem in ds.iterall():
            _ = elem.value
        _ = ds.file_meta.TransferSyntaxUID
    except Exception as e:  # noqa: BLE001
        fail("pydicom", path, type(e).__name__)
        return None
    r = subprocess.run(["dcmdump", "-q", path], capture_output=True)
    if r.returncode != 0 or b"E: " in r.stderr:
        fail("dcmdump", path, f"exit {r.returncode}")
    return ds


def dciodvfy_errors(path):
    """Error lines of dciodvfy, normalised (values and numbers out). dciodvfy cannot inflate
    deflated datasets, so those are first re-encoded as explicit VR little endian by dcmconv."""
    if pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == \
            DeflatedExplicitVRLittleEndian:
        with tempfile.TemporaryDirectory() as d:
            plain = os.path.join(d, "plain.dcm")
            r = subprocess.run(["dcmconv", "+te", path, plain], capture_output=True)
            if r.returncode != 0:
                return {"Error - dcmconv could not re-encode the file"}
            return dciodvfy_errors(plain)
    r = subprocess.run(["dciodvfy", "-new", path], capture_output=True, text=True, errors="replace")
    keys = set()
    for line in (r.stdout + r.stderr).splitlines():
        if line.startswith("Error"):
            line = re.sub(r"= *<[^>]*>", "= <>", line)  # values (UIDs, lengths) change by design
            keys.add(re.sub(r"\d+", "#", re.sub(r"\[[^]]*\]|\"[^\"]*\"", "", line)))
    return keys


UNREADABLE = re.compile(r"Tags out of order|dataset read failed|Information Object Not found")
NOTES = []
STATS = {"compared": 0, "errors_in": 0, "errors_out": 0, "new": 0, "gone": 0, "unreadable": 0}


def compare_dciodvfy(src, dst):
    before = dciodvfy_errors(src)
    if any(UNREADABLE.search(e) for e in before):
        NOTES.append(f"note dciodvfy: {src}: input not validated by dciodvfy (unreadable to it)")
        STATS["unreadable"] += 1
        return 0
    after = dciodvfy_errors(dst)
    new = after - before
    STATS["compared"] += 1
    STATS["errors_in"] += len(before)
    STATS["errors_out"] += len(after)
    STATS["new"] += len(new)
    STATS["gone"] += len(before - after)
    for e in sorted(new):
        fail("dciodvfy", dst, "new " + e[:160])
    return len(new)


def same_pixels(src, ds, path):
    """The pixel data must come through unchanged unless Clean Pixel Data (113101) is recorded."""
    codes = [str(i.get("CodeValue", "")) for i in ds.get("DeidentificationMethodCodeSequence", [])]
    if "PixelData" not in ds or "113101" in codes:
        return
    a = pydicom.dcmread(src, force=True)
    if "PixelData" not in a:
        fail("pixels", path, "pixel data appeared from nowhere")
    elif a.file_meta.TransferSyntaxUID.is_little_endian == ds.file_meta.TransferSyntaxUID.is_little_endian:
        if a.PixelData != ds.PixelData:
            fail("pixels", path, "pixel data differs from the input")
    else:  # byte order changed (--syntax): compare the decoded values
        try:
            same = (a.pixel_array == ds.pixel_array).all()
        except Exception as e:  # noqa: BLE001
            same = False
            fail("pixels", path, "cannot decode: " + type(e).__name__)
        if not same:
            fail("pixels", path, "pixel values differ from the input")


def days(da):
    return dt.date(int(da[:4]), int(da[4:6]), int(da[6:8])).toordinal()


def uid_checks(pairs, root):
    """pairs: (input ds, output ds) of every file of the run."""
    maps = {}
    for a, b in pairs:
        for kw in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID"):
            if kw in a:
                old, new = str(a.get(kw)), str(b.get(kw, ""))
                if maps.setdefault(old, new) != new:
                    fail("uids", kw, "one input UID became two output UIDs")
        if "SOPInstanceUID" in b and b.file_meta.MediaStorageSOPInstanceUID != b.SOPInstanceUID:
            fail("uids", "meta", "MediaStorageSOPInstanceUID differs from SOPInstanceUID")
        for elem in b.iterall():
            if elem.VR == "UI" and root and root in str(elem.value):
                fail("uids", str(elem.tag), "a UID under the planted root survived")
        for elem in b.file_meta:
            if elem.VR == "UI" and root and root in str(elem.value):
                fail("uids", str(elem.tag), "a meta UID under the planted root survived")
    if len(set(maps.values())) != len(maps):
        fail("uids", "all", "two input UIDs became one output UID")


def study_mode(src, dst, dates, dciodvfy):
    man = json.load(open(os.path.join(src, "manifest.json")))
    pats = needles(man["planted_phi"])
    n, pairs, pids, offsets = 0, [], set(), set()
    for path in files_under(src):
        if not is_dicom(path):
            continue
        rel = os.path.relpath(path, src)
        out = os.path.join(dst, rel)
        if not os.path.exists(out):
            fail("missing", rel, "no output for a DICOM input")
            continue
        n += 1
        search(out, pats, "planted_phi")
        study = rel.split(os.sep)[0]
        search(out, needles(man["planted_dates"].get(study, [])), "planted_dates")
        ds = parse_all(out)
        if ds is None:
            continue
        a = pydicom.dcmread(path, stop_before_pixels=True)
        same_pixels(path, ds, out)
        pairs.append((a, ds))
        pids.add((str(ds.get("PatientID", "")), str(ds.get("PatientName", ""))))
        if dates == "modified" and ds.get("StudyDate"):
            offsets.add(days(str(ds.StudyDate)) - days(str(a.StudyDate)))
        if dciodvfy:
            compare_dciodvfy(path, out)
    if len(pids) != 1 or any(p != q or not p for p, q in pids):
        fail("pseudonym", dst, f"{len(pids)} distinct (PatientID, PatientName) pairs")
    if dates == "modified" and (len(offsets) != 1 or not all(-365 <= o <= -1 for o in offsets)):
        fail("date_offset", dst, f"{len(offsets)} distinct offsets")
    uid_checks(pairs, "1.2.826.0.1.3680043.10.1138")
    return n


IDENTITY = ("PatientName", "PatientID", "OtherPatientIDs", "PatientBirthDate", "PatientAddress",
            "InstitutionName", "InstitutionAddress", "ReferringPhysicianName", "AccessionNumber",
            "PerformingPhysicianName", "OperatorsName", "StudyID", "StudyInstanceUID",
            "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID", "StudyDate")


def identity_of(ds):
    """Identity strings of an input; values that also occur in Manufacturer or model name (kept by
    the profile: not in Table E.1-1, they identify no one) are left out."""
    kept = " ".join(str(ds.get(k, "")) for k in ("Manufacturer", "ManufacturerModelName")).upper()
    out = set()
    for kw in IDENTITY:
        v = ds.get(kw)
        vals = v if isinstance(v, pydicom.multival.MultiValue) else [v]
        for x in vals:
            s = str(x or "").strip()
            if len(s) >= 4 and s.upper() not in DUMMIES and not s.startswith("1.2.840.10008.") and \
                    s.upper() not in kept:
                out.add(s)
    return sorted(out, key=len, reverse=True)


def files_mode(src, dst, dciodvfy):
    n = 0
    for path in files_under(src):
        rel = os.path.relpath(path, src)
        out = os.path.join(dst, rel)
        if not os.path.exists(out):
            continue  # not DICOM, unparseable, or needs review: the tool's summary says so
        n += 1
        try:
            a = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - an input pydicom cannot read has no identity to list
            a = None
        if a is not None:
            search(out, needles(identity_of(a)), "identity")
        ds = parse_all(out)
        if ds is not None:
            same_pixels(path, ds, out)
        if ds is not None and dciodvfy and is_dicom(path):
            compare_dciodvfy(path, out)
    return n


def main():
    args = sys.argv[1:]
    dciodvfy = "--no-dciodvfy" not in args
    dates = "removed"
    if "--dates" in args:
        dates = args[args.index("--dates") + 1]
    pos = [a for i, a in enumerate(args) if not a.startswith("--") and
           (i == 0 or args[i - 1] not in ("--dates", "--log"))]
    if len(pos) != 3 or pos[0] not in ("study", "files"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, src, dst = pos
    n = study_mode(src, dst, dates, dciodvfy) if mode == "study" else files_mode(src, dst, dciodvfy)
    if "--log" in args and mode == "study":  # what the tool printed holds no planted value either
        log = args[args.index("--log") + 1]
        man = json.load(open(os.path.join(src, "manifest.json")))
        search(log, needles(man["planted_phi"]), "printed", dicom=False)
    for f in NOTES + FAILS:
        print(f)
    print("dciodvfy: {compared} pairs compared, distinct errors {errors_in} in -> {errors_out} out, "
          "{new} new, {gone} gone, {unreadable} inputs unreadable to it".format(**STATS))
    print(f"deid-check: {n} files, {len(FAILS)} failures")
    return 1 if FAILS or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

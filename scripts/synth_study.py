#!/usr/bin/python3
"""Synthetic patient for `make demo`, tests and benchmarks: K chest CT studies of one invented
patient, each with an axial series, a Basic Text SR and a free-text note, plus truth.json.

Run with /usr/bin/python3 (Debian's python3-pydicom and python3-numpy). Needs only this
repository. Every name, number and address below is invented; nothing is real patient data.

  synth_study.py OUT [--studies 3] [--slices 16] [--size 64] [--seed 1]

OUT/study_K/CT/CT#####.dcm, OUT/study_K/SR/sr.dcm, OUT/study_K/notes.txt, OUT/truth.json
(identity strings that must not survive de-identification, nodules with true sizes per study).
"""
import argparse
import datetime as dt
import json
import os
import random

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
ROOT = "2.25."  # UUID-derived UIDs: no organisation root to leak

GIVEN = ["Wilhelmina", "Thaddeus", "Rosalind", "Barnaby", "Ottilie", "Cornelius"]
FAMILY = ["Fernsworth", "Quillfeather", "Brackenridge", "Dunmorrow", "Ashcombe", "Peverell"]


def uid(rng):
    return ROOT + str(rng.getrandbits(122))


def identity(rng):
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    born = dt.date(rng.randint(1940, 1965), rng.randint(1, 12), rng.randint(1, 28))
    return {
        "given": given, "family": family, "dicom_name": f"{family}^{given}",
        "patient_id": f"SYN{rng.randint(1000000, 9999999)}", "issuer": "SYNTH-HOSPITAL",
        "birth_date": born.strftime("%Y%m%d"), "birth_human": born.strftime("%m/%d/%Y"),
        "phone": f"(555) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
        "address": f"{rng.randint(10, 999)} Juniper Hollow Road, Millbrook, VT 05401",
        "physician": f"{rng.choice(FAMILY)}^{rng.choice(GIVEN)}",
    }


def base(path, sop_class, ident, study, series_uid, rng):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = uid(rng)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study["uid"], series_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study["date"]
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "101500"
    ds.AccessionNumber = study["accession"]
    ds.StudyDescription = "CT CHEST LOW DOSE SCREENING"
    ds.PatientName, ds.PatientID = ident["dicom_name"], ident["patient_id"]
    ds.IssuerOfPatientID = ident["issuer"]
    ds.PatientBirthDate, ds.PatientSex = ident["birth_date"], "M"
    ds.PatientAge = f"{int(study['date'][:4]) - int(ident['birth_date'][:4]):03d}Y"
    ds.ReferringPhysicianName = ident["physician"]
    ds.InstitutionName = "Millbrook Synthetic General Hospital"
    ds.Manufacturer, ds.ManufacturerModelName = "MEDSEAL SYNTH", "SYNTH CT 128"
    ds.BodyPartExamined = "CHEST"
    return ds


def ct_series(out, ident, study, slices, size, rng):
    os.makedirs(out, exist_ok=True)
    series_uid, frame_uid = uid(rng), uid(rng)
    yy, xx = np.mgrid[0:size, 0:size]
    body = ((xx - size / 2) ** 2 / (0.45 * size) ** 2 + (yy - size / 2) ** 2 / (0.35 * size) ** 2) < 1
    img = np.where(body, 30, -1000).astype(np.int16)
    for i in range(slices):
        path = os.path.join(out, f"CT{i + 1:05d}.dcm")
        ds = base(path, CT_IMAGE, ident, study, series_uid, rng)
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 2, i + 1
        ds.SeriesDescription = "CHEST 2.3MM LUNG"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.FrameOfReferenceUID = frame_uid
        ds.ImagePositionPatient = [-160.0, -160.0, -250.0 + 2.3 * i]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceThickness, ds.SpacingBetweenSlices = "2.3", "2.3"
        ds.PixelSpacing = [round(320.0 / size, 4)] * 2
        ds.ConvolutionKernel, ds.KVP, ds.CTDIvol = "LUNG", "100", 1.4
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows = ds.Columns = size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
        ds.PixelData = (img + 1024 + (i % 5)).astype(np.int16).tobytes()
        ds.save_as(path, write_like_original=False)


def text_item(code, meaning, text):
    item = Dataset()
    item.RelationshipType, item.ValueType = "CONTAINS", "TEXT"
    name = Dataset()
    name.CodeValue, name.CodingSchemeDesignator, name.CodeMeaning = code, "DCM", meaning
    item.ConceptNameCodeSequence = Sequence([name])
    item.TextValue = text
    return item


def sr(out, ident, study, rng):
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "sr.dcm")
    ds = base(path, BASIC_TEXT_SR, ident, study, uid(rng), rng)
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "SR", 99, 1
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    title = Dataset()
    title.CodeValue, title.CodingSchemeDesignator = "18748-4", "LN"
    title.CodeMeaning = "Diagnostic Imaging Report"
    ds.ConceptNameCodeSequence = Sequence([title])
    ds.ContentSequence = Sequence([text_item("121071", "Finding", study["findings"]),
                                   text_item("121073", "Impression", study["impression"])])
    ds.save_as(path, write_like_original=False)


def findings_text(k, solid, ggn, ident, prior_date):
    given, family = ident["given"], ident["family"]
    lines = [f"CT chest low dose for {given} {family}, MRN {ident['patient_id']}."]
    if prior_date:
        lines.append(f"Comparison: CT of {prior_date}.")
    lines.append(f"There is a {solid[0]} x {solid[1]} mm solid nodule in the right upper lobe"
                 + ("." if k == 0 else ", previously smaller."))
    lines.append(f"A {ggn} mm ground-glass nodule in the left lower lobe"
                 + (" is noted." if k == 0 else " is unchanged."))
    lines.append("No pleural effusion. No lymphadenopathy.")
    return " ".join(lines)


def main():
    ap = argparse.ArgumentParser(description="synthetic multi-study chest CT patient")
    ap.add_argument("out")
    ap.add_argument("--studies", type=int, default=3)
    ap.add_argument("--slices", type=int, default=16)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    ident = identity(rng)
    start = dt.date(2024, rng.randint(1, 6), rng.randint(1, 28))
    studies, prior_human = [], None
    for k in range(args.studies):
        date = start + dt.timedelta(days=180 * k)
        solid = (round(6.0 + 1.2 * k, 1), round(5.0 + 1.0 * k, 1))  # grows 1.1 mm mean per 6 months
        ggn = 8.0
        st = {"uid": uid(rng), "date": date.strftime("%Y%m%d"),
              "accession": f"A{rng.randint(10000000, 99999999)}"}
        st["findings"] = findings_text(k, solid, ggn, ident, prior_human)
        st["impression"] = (f"{solid[0]} x {solid[1]} mm solid nodule, right upper lobe. "
                            f"{ggn} mm ground-glass nodule, left lower lobe.")
        st["nodules"] = [
            {"composition": "solid", "lobe": "RUL", "axes_mm": list(solid),
             "mean_diameter_mm": round((solid[0] + solid[1]) / 2, 1)},
            {"composition": "ground-glass", "lobe": "LLL", "axes_mm": [ggn],
             "mean_diameter_mm": ggn},
        ]
        sdir = os.path.join(args.out, f"study_{k + 1}")
        ct_series(os.path.join(sdir, "CT"), ident, st, args.slices, args.size, rng)
        sr(os.path.join(sdir, "SR"), ident, st, rng)
        with open(os.path.join(sdir, "notes.txt"), "w") as f:
            f.write(st["findings"] + "\nIMPRESSION: " + st["impression"] + "\n"
                    f"Patient phone {ident['phone']}; home {ident['address']}.\n")
        prior_human = date.strftime("%m/%d/%Y")
        studies.append(st)
    phi = sorted({ident["given"], ident["family"], ident["dicom_name"], ident["patient_id"],
                  ident["birth_date"], ident["birth_human"], ident["phone"], ident["address"],
                  ident["physician"]} | {s["accession"] for s in studies}, key=len, reverse=True)
    with open(os.path.join(args.out, "truth.json"), "w") as f:
        json.dump({"generator": "medseal scripts/synth_study.py", "seed": args.seed,
                   "identity": ident, "planted_phi": phi, "studies": studies}, f, indent=2)


if __name__ == "__main__":
    main()

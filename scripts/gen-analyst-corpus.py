#!/usr/bin/python3
"""Seeded template mixer for the analyst's report-language corpus (issue 16 item 4): chest CT and
chest X-ray report passages (screening and incidental, with and without priors) in the styles real
reports use: section headings (LUNGS:, LUNGS AND PLEURA:, MEDIASTINUM:, CHEST WALL:, UPPER ABDOMEN:,
IMPRESSION:), hard line wraps at 70-80 columns inside sentences, bullets under headings, image
references ((5:112), (series 4, image 77)), shared attributes, ranges (3-6 mm, up to 5 mm), status
from other words and sentences, negation and uncertainty, resolved nodules, and findings outside
the lung with sizes; plus hand-written passages for the harder cases (the HANDWRITTEN list).

Every sentence is written here; nothing is copied from a real report. Each passage carries its
truth: the current lung nodules (mean diameter in mm, composition or null when unstated, lobe or
null when the report names a zone, not a lobe, status new/stable/growing/decreased or null when
there is no comparison, range flag), resolved nodules, and other findings (organ, size) that must
never get a Lung-RADS or Fleischner category.

Usage: gen-analyst-corpus.py OUT.jsonl [--seed N] [--count N]
The committed corpus is tests/analyst_corpus/corpus.jsonl = `gen-analyst-corpus.py
tests/analyst_corpus/corpus.jsonl --seed 16` (a test checks they agree). Trusts nothing external."""
import argparse, json, random, sys, textwrap

LOBES = {
    "RUL": ["right upper lobe", "RUL", "right upper lobe", "right apex"],
    "RML": ["right middle lobe", "RML", "middle lobe"],
    "RLL": ["right lower lobe", "RLL", "right lower lobe", "right base"],
    "LUL": ["left upper lobe", "LUL", "left upper lobe"],
    "lingula": ["lingula", "lingular segment of the left upper lobe"],
    "LLL": ["left lower lobe", "LLL", "left lower lobe", "left base"],
}
IMP_LOBE = {"RUL": ["right upper lobe", "RUL"], "RML": ["right middle lobe", "RML"], "RLL": ["right lower lobe", "RLL"],
            "LUL": ["left upper lobe", "LUL"], "lingula": ["lingular"], "LLL": ["left lower lobe", "LLL"]}
# words for lobes that are lobes only by convention: "right apex" is RUL, "right base" RLL
SEGMENT = {"RUL": ["apical segment of the right upper lobe", "posterior segment of the right upper lobe"],
           "RLL": ["superior segment of the right lower lobe", "posterior basal segment of the right lower lobe"],
           "LUL": ["apicoposterior segment of the left upper lobe", "anterior segment of the left upper lobe"],
           "LLL": ["lateral basal segment of the left lower lobe", "superior segment of the left lower lobe"],
           "RML": ["lateral segment of the right middle lobe", "medial segment of the middle lobe"],
           "lingula": ["superior lingular segment", "inferior lingular segment"]}
COMP_WORDS = {"solid": ["solid", "solid", "soft tissue attenuation"],
              "ground-glass": ["ground-glass", "ground glass", "nonsolid", "pure ground-glass"],
              "part-solid": ["part-solid", "part solid", "partly solid"]}
OTHER = [  # (organ, phrase with {s}, heading, plausible sizes in mm)
    ("mediastinum", "{s} anterior mediastinal mass, possibly thymic in origin", "MEDIASTINUM", (21, 28, 34, 46)),
    ("mediastinum", "{s} soft tissue mass in the prevascular space", "MEDIASTINUM", (18, 24, 31)),
    ("lymph node", "{s} short axis subcarinal lymph node", "MEDIASTINUM", (11, 12, 14, 17)),
    ("lymph node", "enlarged right paratracheal lymph node measuring {s}", "MEDIASTINUM", (11, 13, 16)),
    ("thyroid", "{s} hypodense nodule in the left thyroid lobe", "LOWER NECK", (8, 11, 14, 22)),
    ("thyroid", "heterogeneous right thyroid nodule measuring {s}", "THYROID", (12, 19, 26)),
    ("pericardium", "{s} fluid attenuation pericardial cyst at the right cardiophrenic angle", "HEART AND PERICARDIUM", (28, 35, 52)),
    ("chest wall", "{s} subcutaneous nodule in the left posterior chest wall", "CHEST WALL", (7, 9, 12, 18)),
    ("chest wall", "{s} soft tissue nodule in the right axilla", "CHEST WALL", (8, 11, 15)),
    ("breast", "{s} nodule in the left breast, correlate with mammography", "CHEST WALL", (6, 9, 13, 17)),
    ("liver", "{s} hypodense lesion in the right hepatic lobe, too small to characterize", "UPPER ABDOMEN", (5, 6, 8)),
    ("liver", "{s} simple-appearing hepatic cyst", "UPPER ABDOMEN", (9, 14, 23)),
    ("adrenal", "{s} left adrenal nodule, likely adenoma", "UPPER ABDOMEN", (11, 14, 18, 24)),
    ("kidney", "{s} exophytic cyst of the upper pole of the left kidney", "UPPER ABDOMEN", (12, 21, 34)),
    ("spleen", "{s} calcified granuloma in the spleen", "UPPER ABDOMEN", (3, 4, 6)),
    ("pleura", "{s} calcified pleural plaque along the left hemidiaphragm", "PLEURA", (12, 18, 27)),
    ("esophagus", "{s} hiatal hernia", "MEDIASTINUM", (30, 40, 50)),
    ("bone", "{s} sclerotic focus in the T7 vertebral body, likely a bone island", "BONES", (5, 7, 11)),
]
CLEAN_LUNG = ["No pulmonary nodules.", "No suspicious pulmonary nodule or mass.", "The lungs are clear.",
              "No effusion or suspicious nodule.", "Mild centrilobular emphysema. No pulmonary nodule.",
              "Dependent atelectasis at both bases. No focal consolidation or nodule.",
              "Linear opacities in the lingula, likely atelectasis rather than nodule.",
              "Bibasilar subsegmental atelectasis. A small nodule cannot be excluded in the left lower lobe.",
              "No new nodules.", "Mild bronchial wall thickening. No suspicious nodules or masses.",
              "Scattered areas of mosaic attenuation. No pulmonary nodule is identified.",
              "There is no consolidation, pneumothorax, or pulmonary nodule."]


def fmt_mm(x):
    return ("%d" % x) if x == int(x) else ("%.1f" % x)


def half_up(v):
    return int(v * 10 + 0.5 + 1e-9) / 10


class Gen:
    def __init__(self, seed):
        self.R = random.Random(seed)

    def r(self, *xs):
        return self.R.choice(xs)

    def p(self, x):
        return self.R.random() < x

    def ri(self, a, b):
        return self.R.randint(a, b)

    # -- pieces --
    def size(self, comp):
        """(written size, mean mm, prior-compatible base): a single axis, two axes, cm or mm."""
        if comp == "ground-glass":
            mean = self.r(5, 6, 8, 9, 11, 14, 18)
        elif comp == "part-solid":
            mean = self.r(8, 10, 12, 14, 16, 21)
        else:
            mean = self.r(2, 3, 4, 4, 5, 5, 6, 6, 7, 8, 9, 11, 13, 16)
        f = self.ri(0, 9)
        if f <= 4 or mean < 4:
            return ("%d %s" % (mean, self.r("mm", "mm", "mm", "millimeter")) if f != 3 else "%d-mm" % mean), float(mean)
        if f <= 6:
            a = mean + self.r(1, 1, 2) * 0.5
            b = 2 * mean - a
            w = "%s x %s mm" % (fmt_mm(a), fmt_mm(b))
            return w, half_up((a + b) / 2)
        if f == 7 and mean >= 10:
            return "%.1f cm" % (mean / 10), float(mean)
        if f == 8 and mean >= 10:
            a, b = mean + 2, mean - 2
            return "%.1f x %.1f cm" % (a / 10, b / 10), float(mean)
        return "%d mm" % mean, float(mean)

    def ref(self, series):
        im = self.ri(12, 260)
        return self.r("(%d:%d)" % (series, im), "(series %d, image %d)" % (series, im), "(image %d)" % im,
                      "(se %d, im %d)" % (series, im), "(%d/%d)" % (series, im), ""), im

    def nodule(self, priors):
        comp = self.r("solid", "solid", "solid", None, None, "ground-glass", "part-solid")
        w, mean = self.size(comp or "solid")
        lobe = self.r(*LOBES)
        st = None
        prior = None
        if priors:
            st = self.r("stable", "stable", "new", "growing", "decreased")
            if st == "growing":
                prior = max(2.0, mean - self.r(2, 3, 4))
                if mean - prior <= 1.5:
                    st = "stable"
                    prior = None
            elif st == "decreased":
                prior = mean + self.r(2, 3, 4)
        calc = comp is None and self.p(0.3)
        return {"comp": comp, "w": w, "mean": mean, "lobe": lobe, "status": st, "prior": prior, "calcified": calc}

    def lobe_words(self, lobe):
        if self.p(0.2):
            return self.r(*SEGMENT[lobe])
        return self.r(*LOBES[lobe])

    def status_tail(self, n):
        st = n["status"]
        if st is None:
            return ""
        if st == "new":
            return self.r(", new since the prior exam", ", which is new", ", not present previously", " (new)",
                          ". This has appeared since the last exam")
        if st == "stable":
            return self.r(", unchanged", ", stable", ", unchanged from the prior study", " without interval change",
                          ". This is stable since the last exam")
        if st == "growing":
            return self.r(", previously %s mm" % fmt_mm(n["prior"]), ", increased from %s mm" % fmt_mm(n["prior"]),
                          ", enlarging (previously %s mm)" % fmt_mm(n["prior"]))
        return self.r(", previously %s mm" % fmt_mm(n["prior"]), ", decreased from %s mm" % fmt_mm(n["prior"]),
                      ", smaller than before (%s mm)" % fmt_mm(n["prior"]))

    def comp_words(self, n):
        if n["calcified"]:
            return self.r("calcified", "densely calcified")
        if n["comp"] is None:
            return ""
        return self.r(*COMP_WORDS[n["comp"]])

    def mention(self, n, series):
        """One sentence (or two) about one nodule, in one of several shapes."""
        ref, _ = self.ref(series)
        ref = (" " + ref) if ref else ""
        cw = self.comp_words(n)
        cw = (cw + " ") if cw else ""
        noun = "nodule" if n["comp"] != "ground-glass" or self.p(0.5) else self.r("opacity", "nodule")
        if n["calcified"] and self.p(0.5):
            noun = "granuloma"
            cw = "calcified "
        lw = self.lobe_words(n["lobe"])
        tail = self.status_tail(n)
        if n["comp"] == "part-solid":
            solid = max(1, int(n["mean"] // 3))
            n["solid_mm"] = solid
            return self.r("There is a part-solid nodule in the %s%s measuring %s with a %d mm solid component%s." % (lw, ref, n["w"], solid, tail),
                          "%s part-solid %s in the %s%s with a solid component of %d mm%s." % (cap(n["w"]), noun, lw, ref, solid, tail))
        f = self.ri(0, 6)
        if f == 0:
            return "There is a %s %s%s in the %s%s%s." % (n["w"], cw, noun, lw, ref, tail)
        if f == 1:
            return "%s %s%s in the %s%s%s." % (cap(n["w"]), cw, noun, lw, ref, tail)
        if f == 2:
            return "A %s%s is seen in the %s%s. It measures %s%s." % (cw, noun, lw, ref, n["w"].replace(" millimeter", " mm"), tail)
        if f == 3 and n["status"] in ("stable", "new"):
            sw = self.r("Stable", "Unchanged") if n["status"] == "stable" else self.r("New", "Newly seen")
            return "%s %s %s%s%s %s." % (sw, n["w"], cw, lw if lw.isupper() else lw, "", noun + ref)
        if f == 4:
            return "%s %s%s%s measures %s%s." % (cap(lw), cw, noun, ref, n["w"], tail)
        if f == 5:
            return "In the %s there is a %s %s%s%s%s." % (lw, n["w"], cw, noun, ref, tail)
        return "%s %s%s%s in the %s%s." % (self.r("Redemonstrated", "Again noted is a", "Noted is a") if n["status"] == "stable" else
                                          "There is a", n["w"], " " + cw.strip() if cw else "", " " + noun, lw, ref + tail)

    def truth(self, n):
        t = {"size_mm": n["mean"], "composition": n["comp"], "lobe": n["lobe"], "status": n["status"],
             "calcified": n["calcified"]}
        if n.get("range"):
            t["range"] = True
        return t

    def other(self):
        organ, phrase, head, sizes = self.r(*OTHER)
        mm = self.r(*sizes)
        s = self.r("%d mm" % mm, "%.1f cm" % (mm / 10)) if mm >= 10 else "%d mm" % mm
        return organ, phrase.format(s=s), head, float(mm)

    def wrap(self, text):
        """Hard wraps paragraphs at 70-80 columns (headings and bullets stay on their lines)."""
        width = self.ri(70, 80)
        out = []
        for para in text.split("\n"):
            if len(para) <= width or para.lstrip().startswith("-"):
                out.append(para)
            else:
                out.append(textwrap.fill(para, width, break_long_words=False, break_on_hyphens=False))
        return "\n".join(out)

    # -- passages --
    def ct(self, k, clean=False):
        screening = self.p(0.5)
        priors = self.p(0.65)
        series = self.r(2, 3, 4, 5, 6)
        truth = {"nodules": [], "resolved": [], "other_findings": []}
        L = []
        if self.p(0.7):
            L.append(self.r("EXAM: LOW-DOSE CT CHEST FOR LUNG CANCER SCREENING", "LDCT LUNG SCREENING",
                            "CT CHEST WITHOUT CONTRAST") if screening else
                     self.r("EXAM: CT CHEST WITH CONTRAST", "CT ANGIOGRAM CHEST", "CT CHEST ABDOMEN PELVIS WITH CONTRAST"))
        if screening:
            L.append("CLINICAL HISTORY: %d-year-old %s, %d pack-years, %s." % (
                self.ri(52, 79), self.r("former smoker", "current smoker"), self.ri(20, 60),
                self.r("annual screening", "follow-up screening", "baseline screening")))
        else:
            L.append("INDICATION: %s" % self.r("Chest pain, evaluate for pulmonary embolism.", "Cough and weight loss.",
                                              "Staging of colon cancer.", "Shortness of breath.", "Trauma, fall."))
        L.append("COMPARISON: %s" % (self.r("CT chest of %d months prior." % self.ri(3, 24), "Prior LDCT from last year.",
                                             "CT chest 03/2024.", "Multiple prior CTs, most recent 11 months ago.")
                                      if priors else "None."))
        L.append("TECHNIQUE: %s axial images at %s mm slice thickness%s." % (
            self.r("Helical", "Low-dose helical", "Contiguous"), self.r("1.25", "2.5", "1", "0.625"),
            self.r("", ", reconstructed at 1 mm intervals", " with coronal and sagittal reformats")))
        L.append("")
        L.append("FINDINGS:")
        nods = [] if clean else [self.nodule(priors) for _ in range(self.r(1, 1, 1, 2, 2, 3, 4))]
        lung_head = self.r("LUNGS:", "LUNGS AND PLEURA:", "Lungs/airways:", "LUNGS AND AIRWAYS:", "Lungs:")
        lung = []
        style = self.ri(0, 5)
        if clean:
            lung.append(self.r(*CLEAN_LUNG))
            if priors and self.p(0.4):
                n = self.nodule(True)
                lung.append(self.r("The %s %s nodule seen on the prior exam is no longer visible." % (n["w"], self.r(*LOBES[n["lobe"]])),
                                   "Previously noted %s nodule in the %s has resolved." % (n["w"], self.r(*LOBES[n["lobe"]]))))
                truth["resolved"].append({"size_mm": n["mean"], "lobe": n["lobe"]})
        elif style == 0 and len(nods) >= 2:
            # bullets under a heading
            lung.append(self.r("Lung nodules:", "Nodules:", "Pulmonary nodules:"))
            for n in nods:
                ref, _ = self.ref(series)
                cw = self.comp_words(n)
                lung.append("- %s: %s%s%s%s" % (cap(self.r(*LOBES[n["lobe"]])), n["w"], " " + cw if cw else "",
                                                " " + ref if ref else "", self.status_tail(n).replace(". ", ", ").replace(",", ";", 1) if n["status"] else ""))
                truth["nodules"].append(self.truth(n))
        elif style == 1 and priors and len(nods) >= 2:
            # shared status over a list
            st = self.r("stable", "new")
            for n in nods:
                n["status"] = st
                n["prior"] = None
                if n["comp"] == "part-solid":
                    n["comp"] = "solid"
            parts = []
            for n in nods:
                ref, _ = self.ref(series)
                cw = self.comp_words(n)
                parts.append("a %s%s %s nodule%s" % (n["w"], " " + cw if cw else "", self.r(*LOBES[n["lobe"]]), " " + ref if ref else ""))
                truth["nodules"].append(self.truth(n))
            lst = ", ".join(parts[:-1]) + " and " + parts[-1]
            if st == "stable":
                lung.append(self.r("Stable scattered nodules, among them %s." % lst,
                                   "Several nodules: %s. These are unchanged." % lst,
                                   "Multiple nodules are unchanged since the last exam, including %s." % lst))
            else:
                lung.append(self.r("Several new nodules, including %s." % lst,
                                   "There are new nodules since the prior study: %s." % lst,
                                   "Nodules not present previously: %s." % lst))
        else:
            for n in nods:
                lung.append(self.mention(n, series))
                truth["nodules"].append(self.truth(n))
            if priors and self.p(0.3):
                lung.append(self.r("No new nodules.", "No new pulmonary nodules are identified."))
        if not clean and self.p(0.25):
            lung.append(self.r("Mild paraseptal emphysema.", "Bibasilar dependent atelectasis.", "No pleural effusion.",
                               "Small right pleural effusion.", "Mild bronchiectasis in the lower lobes."))
        L.append(lung_head + (" " if self.p(0.5) else "\n") + " ".join(lung) if style != 0 or clean else
                 lung_head + "\n" + "\n".join(lung))
        # extrapulmonary
        heads = {}
        for _ in range(self.r(0, 1, 1, 2) if not clean else self.r(1, 1, 2)):
            organ, phrase, head, mm = self.other()
            heads.setdefault(head, []).append(cap(phrase) + ".")
            truth["other_findings"].append({"organ": organ, "size_mm": mm})
        for head, xs in heads.items():
            L.append("%s: %s" % (head, " ".join(xs)))
        if self.p(0.5):
            L.append(self.r("HEART AND VESSELS: Normal heart size. Coronary artery calcifications.",
                            "HEART: No pericardial effusion. Mild coronary calcification.",
                            "VESSELS: Normal caliber thoracic aorta, 3.4 cm at the ascending segment."))
        L.append("")
        imp = ["IMPRESSION:"]
        i = 1
        for n in nods:
            if self.p(0.6):
                stw = {"new": "New ", "stable": "Stable ", "growing": "Growing ", "decreased": "Decreased ", None: ""}[n["status"]]
                imp.append("%d. %s%s %s nodule." % (i, stw, n["w"], self.r(*IMP_LOBE[n["lobe"]])))
                i += 1
        if not nods:
            imp.append("%d. %s" % (i, self.r("No suspicious pulmonary nodules.", "No pulmonary nodule.", "Negative screening CT.")))
            i += 1
        if screening:
            imp.append("%d. Lung-RADS %s." % (i, lung_rads_guess(nods)))
        text = "\n".join(L + imp)
        if self.p(0.5):
            text = self.wrap(text)
        return {"id": "ct-%03d" % k, "modality": "CT", "context": "screening" if screening else "incidental",
                "priors": priors, "text": text + "\n", "truth": truth}

    def cxr(self, k, clean=False):
        priors = self.p(0.5)
        truth = {"nodules": [], "resolved": [], "other_findings": []}
        L = [self.r("CHEST, PA AND LATERAL", "CHEST RADIOGRAPH, 2 VIEWS", "PORTABLE CHEST, 1 VIEW", "CHEST X-RAY PA/LAT")]
        L.append("INDICATION: %s" % self.r("Cough.", "Preoperative evaluation.", "Fever.", "Shortness of breath."))
        L.append("COMPARISON: %s" % ("Radiograph from %d months prior." % self.ri(2, 30) if priors else "None available."))
        f = ["FINDINGS:"]
        if clean:
            f.append(self.r("The lungs are clear. No focal consolidation, pleural effusion, or pneumothorax.",
                            "No focal airspace opacity. No nodules. Heart size is normal.",
                            "Streaky bibasilar opacities likely atelectasis. No effusion or suspicious nodule.",
                            "Nipple shadows project over both lower chest. No pulmonary nodule.",
                            "Hyperinflated lungs. No focal opacity or mass."))
        else:
            n = self.nodule(priors)
            mm = self.r(8, 9, 11, 12, 15, 18, 22)
            n["w"], n["mean"] = self.r("%d mm" % mm, "%.1f cm" % (mm / 10)), float(mm)
            if n["status"] == "growing":
                n["prior"] = float(mm - self.r(3, 4, 5))
            elif n["status"] == "decreased":
                n["prior"] = float(mm + self.r(3, 4, 5))
            n["comp"] = None
            n["calcified"] = self.p(0.2)
            zone = self.p(0.4)
            loc = self.r("right mid lung zone", "left upper lung zone", "right lung base", "left lower lung zone") if zone else \
                self.r(*LOBES[n["lobe"]])
            if zone:
                n["lobe"] = None
            w = n["w"]
            tail = self.status_tail(n)
            f.append(self.r("There is a %s %snodular opacity in the %s%s." % (w, "calcified " if n["calcified"] else "", loc, tail),
                            "A %s %snodule projects over the %s%s. Recommend chest CT." % (w, "calcified " if n["calcified"] else "", loc, tail)))
            truth["nodules"].append(self.truth(n))
        f.append(self.r("Cardiomediastinal silhouette is within normal limits.", "Heart size is normal.", "Mild cardiomegaly."))
        if self.p(0.3):
            organ, phrase, head, mm = self.other()
            if organ in ("chest wall", "breast", "bone"):
                f.append(cap(phrase) + ".")
                truth["other_findings"].append({"organ": organ, "size_mm": mm})
        L += f
        L.append("IMPRESSION: %s" % ("No acute cardiopulmonary process." if clean else
                                     self.r("Pulmonary nodule as above; CT recommended.", "Nodule as described.")))
        text = "\n".join(L)
        if self.p(0.4):
            text = self.wrap(text)
        return {"id": "cxr-%03d" % k, "modality": "CR", "context": "incidental", "priors": priors, "text": text + "\n",
                "truth": truth}


def lung_rads_guess(nods):
    """The category a radiologist would state, roughly (by the largest solid-equivalent size)."""
    if not nods:
        return "1"
    if all(n["calcified"] for n in nods):
        return "1"
    m = max(n["mean"] for n in nods if not n["calcified"]) if any(not n["calcified"] for n in nods) else 0
    if any(n["comp"] == "ground-glass" for n in nods) and m < 30 and all(n["comp"] == "ground-glass" for n in nods):
        return "2"
    return "2" if m < 6 else "3" if m < 8 else "4A" if m < 15 else "4B"


def cap(s):
    return s[:1].upper() + s[1:]


def N(size, comp, lobe, status, **kw):
    d = {"size_mm": size, "composition": comp, "lobe": lobe, "status": status, "calcified": False}
    d.update(kw)
    return d


# Hand-written passages for the harder cases of issue 16 (all made up here).
HANDWRITTEN = [
    ("CT", "FINDINGS:\nLUNGS: Two 4 mm solid nodules in the left lower lobe (series:image 5:112 and 5:140).\n"
     "No pleural effusion.\nIMPRESSION: Two small left lower lobe nodules, Lung-RADS 2.\n",
     [N(4, "solid", "LLL", None), N(4, "solid", "LLL", None)], [], []),
    ("CT", "LUNGS AND PLEURA: A 4 mm nodule in the left lower lobe (5:112). A second 4 mm nodule in the left\n"
     "lower lobe (5:140). No new nodules.\n",
     [N(4, None, "LLL", None), N(4, None, "LLL", None)], [], []),
    ("CT", "LUNGS: Calcified granuloma in the right lower lobe, 5 mm (4:201). Separately, there is a\n"
     "6 mm noncalcified solid nodule in the right lower lobe (4:188), new since the prior exam.\n"
     "IMPRESSION: New 6 mm RLL nodule. Lung-RADS 3.\n",
     [N(5, None, "RLL", None, calcified=True), N(6, "solid", "RLL", "new")], [], []),
    ("CT", "LUNGS: The 6 mm lingular nodule seen before is no longer visible. No new nodules.\n"
     "MEDIASTINUM: No lymphadenopathy.\nIMPRESSION: Resolution of the previously seen lingular nodule.\n",
     [], [{"size_mm": 6.0, "lobe": "lingula"}], []),
    ("CT", "FINDINGS:\nMEDIASTINUM: There is a 3.1 x 2.4 cm soft tissue mass in the anterior mediastinum.\n"
     "LUNGS: No suspicious pulmonary nodule. Mild emphysema.\nIMPRESSION: Anterior mediastinal mass, consider\n"
     "thymoma. Lung-RADS 1 for the lungs.\n",
     [], [], [{"organ": "mediastinum", "size_mm": 27.5}]),
    ("CT", "CHEST WALL: 11 mm subcutaneous nodule in the right anterior chest wall, likely a sebaceous cyst.\n"
     "LUNGS: Clear. No nodules.\n", [], [], [{"organ": "chest wall", "size_mm": 11.0}]),
    ("CT", "LUNGS: There is a new nodule in the right lower lobe (5:140). It measures 1.4 cm. A 3 mm\n"
     "perifissural nodule in the right middle lobe along the minor fissure is unchanged.\nIMPRESSION: New 14 mm right lower lobe\n"
     "nodule, Lung-RADS 4B.\n",
     [N(14, None, "RLL", "new"), N(3, None, "RML", "stable")], [], []),
    ("CT", "Several new nodules, e.g.:\n- left upper lobe 6 mm (3:44)\n- right lower lobe 3 mm (3:201)\n"
     "- lingula 4 mm (3:150)\n",
     [N(6, None, "LUL", "new"), N(3, None, "RLL", "new"), N(4, None, "lingula", "new")], [], []),
    ("CT", "Lung nodules:\n  Peribronchial: 5 mm, right upper lobe (4:60)\n  Subpleural: 3 mm, left lower lobe (4:210)\n"
     "These are unchanged.\n",
     [N(5, None, "RUL", "stable"), N(3, None, "LLL", "stable")], [], []),
    ("CT", "LUNGS: Stable scattered nodules, among them a 6 mm right upper lobe nodule (3:40), a 2 mm left\n"
     "lower lobe nodule (3:188) and a 7 mm right middle lobe nodule (3:120).\n",
     [N(6, None, "RUL", "stable"), N(2, None, "LLL", "stable"), N(7, None, "RML", "stable")], [], []),
    ("CT", "LUNGS: 4 mm right lower and right middle nodules, unchanged.\n",
     [N(4, None, "RLL", "stable"), N(4, None, "RML", "stable")], [], []),
    ("CT", "LUNGS: Several 3-6 mm nodules in the left lower lobe, not present previously.\n",
     [N(6, None, "LLL", "new", range=True)], [], []),
    ("CT", "LUNGS: Multiple small solid nodules in the right upper lobe measuring up to 5 mm, stable since\n"
     "the last exam.\n", [N(5, "solid", "RUL", "stable", range=True)], [], []),
    ("CT", "LUNGS: No effusion or suspicious nodule. Linear scarring at the left base.\n", [], [], []),
    ("CT", "LUNGS: Patchy opacity in the right lower lobe, likely atelectasis rather than nodule. Cannot\n"
     "exclude a small nodule in the right middle lobe; attention on follow-up.\n", [], [], []),
    ("CT", "LUNGS: Two 5 mm nodules in the left lower lobe as well as patchy ground-glass opacity in the right\n"
     "upper lobe, the latter 16 mm with a 5 mm solid core.\n",
     [N(5, None, "LLL", None), N(5, None, "LLL", None), N(16, "part-solid", "RUL", None)], [], []),
    ("CT", "LUNGS: Right upper lobe ground-glass nodule, 8 mm (6:77), has appeared since the last exam.\n"
     "UPPER ABDOMEN: 1.8 cm left adrenal nodule, stable, likely adenoma. 9 mm hepatic cyst.\n",
     [N(8, "ground-glass", "RUL", "new")], [], [{"organ": "adrenal", "size_mm": 18.0}, {"organ": "liver", "size_mm": 9.0}]),
    ("CT", "THYROID: 2.2 cm nodule in the right thyroid lobe.\nLUNGS: No new nodules. The previously described\n"
     "4 mm right middle lobe nodule has resolved.\n",
     [], [{"size_mm": 4.0, "lobe": "RML"}], [{"organ": "thyroid", "size_mm": 22.0}]),
    ("CT", "HEART AND PERICARDIUM: 3.5 cm pericardial cyst at the right cardiophrenic angle.\nLUNGS AND PLEURA:\n"
     "9 mm solid nodule in the superior segment of the left lower lobe (series 4, image 77), previously 6\nmm.\n",
     [N(9, "solid", "LLL", "growing")], [], [{"organ": "pericardium", "size_mm": 35.0}]),
    ("CT", "LUNGS: The 7 mm left upper lobe nodule (4:33) is smaller, now 4 mm. No new\nlung nodules.\n",
     [N(4, None, "LUL", "decreased")], [], []),
    ("CT", "LUNGS: 12 x 9 mm part-solid nodule in the right upper lobe with a 4 mm solid component (5:38),\n"
     "previously 10 x 7 mm without a solid component. Finding is suspicious.\n",
     [N(10.5, "part-solid", "RUL", "growing")], [], []),
    ("CR", "CHEST PA AND LATERAL\nFINDINGS: 1.2 cm rounded opacity in the left upper lobe, not present on the\n"
     "radiograph of last year. No effusion.\nIMPRESSION: New left upper lobe nodule; recommend CT.\n",
     [N(12, None, "LUL", "new")], [], []),
    ("CR", "PORTABLE CHEST\nFINDINGS: Lines and tubes as before. Bibasilar opacities, likely atelectasis. No\n"
     "pneumothorax. No suspicious nodules.\n", [], [], []),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--count", type=int, default=150, help="generated passages (plus the hand-written ones)")
    a = ap.parse_args()
    if a.count < 0 or a.count > 100000:
        sys.exit("gen-analyst-corpus: --count 0..100000")
    g = Gen(a.seed)
    out = []
    for k, (mod, text, nods, res, oth) in enumerate(HANDWRITTEN):
        for x in nods:
            x["size_mm"] = float(x["size_mm"])
        out.append({"id": "hand-%03d" % k, "modality": mod, "context": "incidental", "priors": True, "text": text,
                    "truth": {"nodules": nods, "resolved": res, "other_findings": oth}})
    nct = nx = 0
    for k in range(a.count):
        cxr = g.p(0.3)
        clean = g.p(0.2)
        if cxr:
            out.append(g.cxr(nx, clean))
            nx += 1
        else:
            out.append(g.ct(nct, clean))
            nct += 1
    with open(a.out, "w") as f:
        for x in out:
            f.write(json.dumps(x, sort_keys=True) + "\n")


main()

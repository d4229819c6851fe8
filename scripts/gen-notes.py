#!/usr/bin/python3
"""Seeded generator of a realistic clinical-note development corpus for the PHI scrubber (issue 14):
ICU nursing notes, respiratory care notes, radiology reports and discharge summaries written the
way real notes are written (whole notes in capitals or lower case, abbreviations, vitals, vent
settings, blood gases, labs, drips, times, fractions, tube sizes, headings and shift labels, glued
abbreviations, signatures), with PHI planted where it occurs in real notes and exact gold spans by
class, plus hard negatives (notes dense with clinical numbers and no PHI).

Everything is made up here: the sentence material is written for this file, and people's names are
drawn from data/names (public-domain Census/SSA lists; see data/names/MANIFEST.md). Phone numbers
use the 555-01xx fiction range. Nothing is real patient data.

Usage: gen-notes.py OUT_DIR [--seed N] [--patients N] [--negatives N]
Writes OUT_DIR/notes.jsonl (one note a line: id, patient, kind, style, text, spans[{start,end,
class}] in character offsets; the text is ASCII so they are byte offsets too), OUT_DIR/identity/
<patient>.json (the patient's identity for `medseal scrub --identity`, docs/scrub.md),
OUT_DIR/site/staff_names.txt and OUT_DIR/site/places.txt (the site's roster and local places for
`--site-lists`), and OUT_DIR/summary.json (counts). Same seed, same bytes.

Gold classes: CLINICIAN (doctors, nurses, therapists, in any case, with or without title), PATIENT,
RELATIVE (family and friends), DATE (any date element smaller than a year: `8/14`, `2/6/04`,
`4/87`, `Aug 14`), PHONE (phones, pagers, beepers), LOCATION (wards with a number, hospitals and
their abbreviations, rehab and nursing facilities, towns, street addresses), ID (MRNs, unit numbers,
accessions, job numbers), AGE (over 89). Years alone are not PHI (Safe Harbor keeps them) and are
never gold; clinical notation is never gold.
Trusts only its own data files (data/names)."""
import argparse, json, os, random, re, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---- name material ---------------------------------------------------------------------------


def load_names():
    words = {}
    for l in open(os.path.join(ROOT, "data/names/words.txt")):
        w, lv = l.split()
        words[w] = int(lv)
    first = [l.split()[0] for l in open(os.path.join(ROOT, "data/names/first.txt"))
             if int(l.split()[1]) >= 20 and l.split()[0].isalpha()]
    last = [l.split()[0] for l in open(os.path.join(ROOT, "data/names/last.txt"))
            if int(l.split()[1]) >= 5 and l.split()[0].isalpha()]
    # names that are also common words (rose, joy, hope, bell, baker, young): the hard ones
    wfirst = [x for x in first if words.get(x, 99) <= 40]
    wlast = [x for x in last if words.get(x, 99) <= 40]
    return first, last, wfirst, wlast


# Made-up site material: building names of a fictional hospital (wards are "<building> <floor>"),
# local hospitals with the abbreviations staff write, rehab and nursing facilities, and towns.
BUILDINGS = ["Farnsworth", "Caldwell", "Ridley", "Pemberton", "Ashcombe", "Lockhart", "Whitcomb",
             "Thayer", "Marlowe", "Kessler", "Holbrook", "Danforth"]
HOSPITALS = [("St Brigid", "St Brigid's", "SBH"), ("Halloway Memorial", "Halloway", "HMH"),
             ("Cobb Valley Hospital", "Cobb Valley", "CVH"), ("Northfield General", "Northfield", "NFG"),
             ("Merrow Regional", "Merrow", "MRMC"), ("Saint Aldric Medical Center", "St Aldric", "SAMC"),
             ("Brackett Community Hospital", "Brackett", "BCH"), ("Linden Hill Hospital", "Linden Hill", "LHH")]
FACILITIES = ["Pine Hollow Rehab", "Greystone Manor", "Alder Court Nursing Home", "Meadowbrook Rehab",
              "Kingsbury Place", "Orchard Glen", "Harbor View Care Center", "Willowcrest"]
TOWNS = ["Ashby Falls", "Norwell", "Danvers", "Millbridge", "Peabody", "Hollis", "Westerly", "Beverly",
         "Quincy", "Lowell", "Sturbridge", "Haverhill", "Dunmore", "Easton", "Marlow", "Kent Harbor",
         "Salisbury", "Groton", "Leominster", "Dracut"]
STREETS = ["Elm St", "Maple Ave", "Harrison Rd", "Pleasant St", "Birch Hill Rd", "Water St", "Ocean Ave"]


class Site:
    """One fictional hospital: its roster and local places."""

    def __init__(self, rnd, names):
        self.rnd = rnd
        first, last, wfirst, wlast = names
        self.first, self.last, self.wfirst, self.wlast = first, last, wfirst, wlast
        self.staff = []  # (first, last, role)
        used = set()
        roles = ["md"] * 60 + ["rn"] * 50 + ["rrt"] * 12 + ["np"] * 8 + ["pa"] * 6 + ["pt"] * 4
        for role in roles:
            while True:
                f = rnd.choice(wfirst if rnd.random() < 0.15 else first)
                s = rnd.choice(wlast if rnd.random() < 0.2 else last)
                if (f, s) not in used:
                    used.add((f, s))
                    break
            self.staff.append((f, s, role))
        # the rest of the roster: people who do not appear in these notes (a real roster is large)
        self.roster_extra = []
        for _ in range(600):
            self.roster_extra.append((rnd.choice(first), rnd.choice(last)))

    def person(self, role):
        pool = [p for p in self.staff if p[2] in (role if isinstance(role, tuple) else (role,))]
        return self.rnd.choice(pool)

    def staff_lines(self):
        out = set()
        for f, s, _ in self.staff:
            out.add("%s %s" % (f.capitalize(), s.capitalize()))
        for f, s in self.roster_extra:
            out.add("%s %s" % (f.capitalize(), s.capitalize()))
        return sorted(out)

    def place_lines(self):
        out = set()
        for b in BUILDINGS:
            out.add(b)
            for fl in range(2, 13):
                out.add("%s %d" % (b, fl))
        for h in HOSPITALS:
            out.update(h)
        out.update(FACILITIES)
        out.update(TOWNS)
        return sorted(out)


# ---- note builder ----------------------------------------------------------------------------

class Note:
    """A note as parts (text, class or None); gold spans come from the parts, so they are exact."""

    def __init__(self):
        self.parts = []

    def __call__(self, *items):
        """Appends items: a str is plain text, a (text, class) tuple is PHI, a list is spliced."""
        for it in items:
            if it is None:
                continue
            if isinstance(it, list):
                self(*it)
            elif isinstance(it, tuple):
                self.parts.append(it)
            else:
                self.parts.append((it, None))
        return self

    def build(self, style):
        text, spans, pos = [], [], 0
        for t, c in self.parts:
            if style == "upper":
                t = t.upper()
            elif style == "lower":
                t = t.lower()
            if c is not None and t:
                spans.append({"start": pos, "end": pos + len(t), "class": c})
            text.append(t)
            pos += len(t)
        s = "".join(text)
        assert all(ord(ch) < 128 for ch in s), "non-ASCII in a note"
        for x in spans:  # a year alone is never gold (Safe Harbor keeps years)
            v = s[x["start"]:x["end"]]
            assert v.strip() == v and not (x["class"] == "DATE" and re.fullmatch(r"'?\d{2}|\d{4}", v)), "bad gold span"
        return s, spans


def cap(w):
    return w[:1].upper() + w[1:]


class Gen:
    def __init__(self, seed, npat, nneg):
        self.rnd = random.Random(seed)
        self.names = load_names()
        self.site = Site(self.rnd, self.names)
        self.npat, self.nneg = npat, nneg

    # -- small helpers --
    def r(self, *xs):
        return self.rnd.choice(xs)

    def p(self, prob):
        return self.rnd.random() < prob

    def ri(self, a, b):
        return self.rnd.randint(a, b)

    def namecase(self, w):
        """How one person's name is written in a mixed-case note: mostly capitalised."""
        x = self.rnd.random()
        return w.lower() if x < 0.2 else w.upper() if x < 0.27 else cap(w)

    # -- PHI pieces --
    def doc(self, role="md", title=True, full=None):
        """A clinician mention: title + name, name + post-nominal, or a bare surname."""
        f, s, rl = self.site.person(role)
        full = self.p(0.25) if full is None else full
        nm = (self.namecase(f) + " " + self.namecase(s)) if full else self.namecase(s)
        if rl == "md":
            t = self.r("Dr. ", "Dr ", "dr. ", "dr ", "DR. ", "DR ", "Dr.")
            if not title:
                return [(nm, "CLINICIAN")]
            if self.p(0.15):
                return [(nm, "CLINICIAN"), self.r(" MD", ", MD", " md")]
            return [t, (nm, "CLINICIAN")]
        if rl in ("rn", "rrt"):
            if self.p(0.5):
                return [self.r("RN ", "rn ", "nurse ", "RRT ", "resp ther "), (self.namecase(f), "CLINICIAN")]
            return [(nm, "CLINICIAN"), self.r(" RN", ", RN", " rn", " RRT")]
        return [(nm, "CLINICIAN"), " " + rl.upper()]

    def signature(self, role=None):
        f, s, rl = self.site.person(role or self.r("rn", "rn", "rn", "rrt"))
        form = self.ri(0, 5)
        post = {"rn": self.r(" RN", " rn", ", RN", " R.N."), "rrt": self.r(" RRT", " rrt", ", RRT"),
                "md": self.r(" MD", ", MD"), "np": " NP", "pa": " PA", "pt": " PT"}[rl]
        if form == 0:
            return ["\n", (f[0] + ". " + s, "CLINICIAN"), post, "\n"]
        if form == 1:
            return ["\n", (f[0].upper() + ". " + s.upper(), "CLINICIAN"), post.upper(), "\n"]
        if form == 2:
            return ["\n--", (self.r(f.upper(), cap(f)), "CLINICIAN"), "\n"]
        if form == 3:
            return ["\n", (cap(f) + " " + cap(s), "CLINICIAN"), post, "\n"]
        if form == 4:
            return ["\n", (f[0].upper() + s[0].upper(), "CLINICIAN"), post, "\n"]
        return ["\n", (f[0].lower() + ". " + s.lower(), "CLINICIAN"), post.lower(), "\n"]

    def date(self, pt, kind="recent"):
        """A date in clinical shorthand; kind recent (this admission), past (history), full."""
        y, m, d = pt["adm"]
        if kind == "recent":
            dd = d + self.ri(-6, 6)
            mm = m
            if dd < 1:
                dd += 28
                mm = m - 1 or 12
            if dd > 28:
                dd -= 28
                mm = m % 12 + 1
            f = self.ri(0, 9)
            if f <= 5:
                return (("%d/%d" if self.p(0.8) else "%02d/%02d") % (mm, dd), "DATE")
            if f <= 7:
                return ("%d/%d/%02d" % (mm, dd, y % 100), "DATE")
            if f == 8:
                mon = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sept", "Oct", "Nov", "Dec")[mm - 1]
                return ("%s %d" % (mon, dd), "DATE")
            return ("%d/%d/%d" % (mm, dd, y), "DATE")
        if kind == "past":
            py = y - self.ri(1, 25)
            f = self.ri(0, 3)
            if f <= 1:
                return ("%d/%02d" % (self.ri(1, 12), py % 100), "DATE")
            if f == 2:
                return ("%d/%d/%02d" % (self.ri(1, 12), self.ri(1, 28), py % 100), "DATE")
            return ("%s %d" % (self.r("Jan", "March", "June", "Sept", "Nov", "Dec"), py), "DATE")
        # full (headers)
        return ("%d/%d/%s" % (m, d, self.r(str(y), "%02d" % (y % 100))), "DATE")

    def phone(self, kind=None):
        kind = kind or self.r("phone", "phone", "pager", "beeper")
        if kind == "pager":
            return [self.r("pager ", "pgr ", "page ", "pager #", "PAGER "), ("%05d" % self.ri(10000, 99999), "PHONE")]
        if kind == "beeper":
            return [self.r("beeper #", "beeper ", "bpr "), ("%d" % self.ri(1000, 9999), "PHONE")]
        a = self.r("617", "508", "781", "978", "413", "603")
        x = "%02d" % self.ri(0, 99)
        f = self.ri(0, 5)
        if f == 0:
            return [("%s 555-01%s" % (a, x), "PHONE")]
        if f == 1:
            return [("%s-555-01%s" % (a, x), "PHONE")]
        if f == 2:
            return [("%s 55501%s" % (a, x), "PHONE")]
        if f == 3:
            return ["(", ("%s 555 01%s" % (a, x), "PHONE"), ")"]
        if f == 4:
            return [("(%s) 555-01%s" % (a, x), "PHONE")]
        return [("555-01%s" % x, "PHONE")]

    def ward(self):
        return ("%s %d" % (self.r(*BUILDINGS), self.ri(2, 12)), "LOCATION")

    def hosp(self):
        h = self.r(*HOSPITALS)
        return (self.r(h[0], h[1], h[2], h[2]), "LOCATION")

    def town(self):
        return (self.r(*TOWNS), "LOCATION")

    def rel(self, pt):
        """A relative with the relation word before the name."""
        rw, nm = self.r(*pt["rels"])
        nm = self.namecase(nm)
        f = self.ri(0, 4)
        if f == 0:
            return [rw + ", ", (nm, "RELATIVE"), ","]
        if f == 1:
            return [rw + " (", (nm, "RELATIVE"), ")"]
        return [rw + " ", (nm, "RELATIVE")]

    def ptname(self, pt, form=None):
        f = form if form is not None else self.ri(0, 4)
        t = "Mr. " if pt["sex"] == "M" else self.r("Mrs. ", "Ms. ")
        if f == 0:
            return [t, (cap(pt["last"]), "PATIENT")]
        if f == 1:
            return [(cap(pt["first"]) + " " + cap(pt["last"]), "PATIENT")]
        if f == 2:
            return [t.lower().replace(". ", " "), (pt["last"], "PATIENT")]
        if f == 3:
            return [(cap(pt["last"]) + ", " + cap(pt["first"]), "PATIENT")]
        return [(cap(pt["first"]), "PATIENT")]

    # -- clinical material (never PHI) --
    def bp(self):
        a = self.ri(88, 150)
        b = self.ri(44, 82)
        f = self.ri(0, 4)
        if f == 0:
            return "BP %d-%d/%d-%d" % (a, a + self.ri(4, 30), b, b + self.ri(4, 14))
        if f == 1:
            return "SBP %ds-%ds" % (a // 10 * 10, (a // 10 + self.ri(1, 3)) * 10)
        if f == 2:
            return "BP %d/%d" % (a, b)
        if f == 3:
            return "MAP %d-%d" % (self.ri(55, 70), self.ri(71, 95))
        return "bp %d/%d-%d/%d" % (a, b, a + self.ri(5, 25), b + self.ri(2, 10))

    def hr(self):
        a = self.ri(5, 11) * 10
        return self.r("HR %d-%ds %s" % (a, a + 10, self.r("NSR", "SR", "ST", "AF", "SB")),
                      "HR %d-%d %s" % (a + self.ri(0, 9), a + self.ri(10, 30), self.r("NSR no ectopy", "afib", "ST w/ occ PVC's")),
                      "hr %ds" % a, "HR %d's-%d's" % (a, a + 10))

    def temp(self):
        t = self.ri(970, 1012) / 10
        return self.r("T %.1f-%.1f" % (t, t + self.ri(2, 14) / 10), "Tmax %.1f" % t, "afebrile", "temp %.1f po" % t,
                      "T max %.1f ax" % t)

    def vent(self):
        f = self.ri(0, 5)
        if f == 0:
            return "PS %d/%d/%d%%" % (self.ri(5, 18), self.ri(5, 10), self.r(35, 40, 45, 50))
        if f == 1:
            return "CPAP %d/%d/%d%%" % (self.ri(5, 10), self.ri(5, 8), self.r(30, 35, 40))
        if f == 2:
            return "AC %dx%d/%d/%d%%" % (self.r(400, 450, 500, 550), self.ri(12, 20), self.ri(5, 12), self.r(35, 40, 50, 60))
        if f == 3:
            return "SIMV %d x %d, peep %d, fio2 %d%%, PS %d" % (self.r(450, 500, 600), self.ri(8, 14), self.ri(5, 10),
                                                               self.r(40, 50), self.ri(5, 12))
        if f == 4:
            return "CMV %d/%d/+%d/%d%%" % (self.r(500, 550, 600), self.ri(10, 16), self.ri(5, 12), self.r(40, 50, 60))
        return "PSV %d/+%d, FIO2 .%d" % (self.ri(8, 16), self.ri(5, 8), self.r(35, 4, 5))

    def abg(self):
        ph = self.ri(722, 748) / 100
        s = "%.2f/%d/%d/%d/%s%d" % (ph, self.ri(28, 62), self.ri(58, 160), self.ri(18, 32), self.r("+", "-"), self.ri(0, 6))
        return self.r("ABG " + s, "abg " + s, s, "ABG: " + s + " on " + self.vent())

    def lab(self):
        return self.r("K %.1f" % (self.ri(30, 55) / 10), "K+%.1f" % (self.ri(30, 55) / 10), "Na %d" % self.ri(128, 146),
                      "Hct %.1f (%.1f)" % (self.ri(220, 340) / 10, self.ri(220, 340) / 10), "WBC %.1f" % (self.ri(30, 220) / 10),
                      "plt %d" % self.ri(40, 420), "INR %.1f" % (self.ri(10, 34) / 10), "lactate %.1f" % (self.ri(8, 60) / 10),
                      "BUN/Cr %d/%.1f" % (self.ri(8, 80), self.ri(6, 42) / 10), "Mg %.1f" % (self.ri(14, 24) / 10),
                      "glucose %d" % self.ri(70, 320), "FS %d" % self.ri(70, 320), "PTT %d" % self.ri(24, 110),
                      "CK %d MB %d" % (self.ri(80, 900), self.ri(2, 40)), "trop .%02d" % self.ri(1, 99),
                      "Ca %.1f" % (self.ri(75, 105) / 10), "phos %.1f" % (self.ri(18, 60) / 10),
                      "HCO3 %d" % self.ri(16, 32), "Alb %.1f" % (self.ri(18, 42) / 10))

    def drip(self):
        return self.r("levophed @ .%02d mcg/kg/min" % self.ri(2, 30), "neo %d mcg/min" % self.ri(20, 200),
                      "propofol %d mcg/kg/min" % self.ri(10, 60), "heparin gtt @ %d0 u/hr" % self.ri(60, 160), "insulin gtt %d u/hr" % self.ri(1, 12),
                      "fentanyl %d mcg/hr" % (self.ri(2, 20) * 25), "versed %d mg/hr" % self.ri(1, 6),
                      "nitro gtt %d mcg/min" % (self.ri(1, 20) * 10), "dopa %d mcg/kg/min" % self.ri(2, 15),
                      "amio gtt .5 mg/min", "lasix gtt %d mg/hr" % self.ri(5, 20), "dilt gtt %d mg/hr" % self.ri(5, 15),
                      "vasopressin .04 u/min", "precedex .%d mcg/kg/hr" % self.ri(2, 7))

    def med(self):
        return self.r("lasix %d mg IV x1" % self.r(20, 40, 80), "KCL %d meq" % self.r(20, 40, 60),
                      "morphine %d-%d mg IV q2-4h prn" % (self.ri(1, 2), self.ri(3, 4)), "vanco %d gm q12h" % self.ri(1, 2),
                      "zosyn 4.5 gm q8h", "lopressor %d mg IV q6h" % self.r(5, 10), "ativan .5-1 mg q4h prn",
                      "tylenol 650 mg pr q6h prn", "haldol %d mg IV x1" % self.r(1, 2, 5), "mag sulfate 2 gm IV",
                      "protonix 40 mg IV qd", "SQ heparin 5000 u q8h", "1 amp D50", "1/3 dose of lasix",
                      "1/2 NS @ %d cc/hr" % self.r(75, 100, 125), "D5 1/2NS + 20 KCL @ %d" % self.r(75, 100),
                      "2 units PRBC", "1 unit FFP", "NS bolus 500cc", "levoflox 500 mg po qd")

    def time(self):
        h = self.ri(0, 23)
        return self.r("%02d%02d" % (h, self.r(0, 15, 30, 45, 10, 20)), "%d%s" % (self.ri(1, 12), self.r("AM", "PM", "am", "pm", "a", "p")),
                      "@%02d00" % h, "@ %02d30" % h, "at %d%s" % (self.ri(1, 12), self.r("am", "pm")))

    def tube(self):
        return self.r("#%df/%dcc foley" % (self.r(14, 16, 18, 20), self.r(5, 10, 20, 30)), "%dg PIV %s" % (self.r(18, 20, 22), self.r("L FA", "R AC", "L hand")),
                      "%.1f ETT %dcm @ lip" % (self.r(7.0, 7.5, 8.0), self.ri(20, 25)), "%dfr NGT" % self.r(14, 16, 18),
                      "TLC R IJ", "a-line L radial", "#%d trach" % self.r(6, 7, 8), "CT to -20 sx", "%dfr OGT" % self.r(14, 16),
                      "PICC R brachial %d cm" % self.ri(38, 52), "#%d portex" % self.r(7, 8), "%dF TLC" % self.r(7, 8))

    def sedation(self):
        return self.r("propofol %d mcg/kg/min" % self.ri(10, 60), "fentanyl %d mcg/hr" % (self.ri(2, 8) * 25),
                      "versed %d mg/hr" % self.ri(1, 6), "precedex .%d mcg/kg/hr" % self.ri(2, 7))

    def replete(self):
        return self.r("K %.1f repleted w/ %d meq KCL" % (self.ri(29, 36) / 10, self.r(20, 40, 60)),
                      "Mg %.1f repleted w/ 2 gm" % (self.ri(12, 17) / 10), "K+%.1f, 40meq kcl given" % (self.ri(30, 35) / 10),
                      "phos %.1f, 1 pkt neutraphos" % (self.ri(15, 24) / 10), "iCa %.2f, 2 gm Ca gluc" % (self.ri(95, 112) / 100))

    def foley(self):
        return self.r("foley", "#%df/%dcc foley" % (self.r(14, 16, 18, 20), self.r(5, 10, 30)), "#%d foley draining" % self.r(14, 16, 18),
                      "3-way foley w/ CBI")

    def line(self):
        return self.r("%dg PIV %s" % (self.r(18, 20, 22), self.r("L FA", "R AC", "L hand")), "TLC R IJ", "a-line L radial",
                      "PICC R brachial %d cm" % self.ri(38, 52), "%dF TLC" % self.r(7, 8), "R fem cordis", "L SC TLC d#%d" % self.ri(2, 9))

    def clock(self):
        return self.r("%02d%02d" % (self.ri(0, 23), self.r(0, 15, 30, 45, 10)), "%d%s" % (self.ri(1, 12), self.r("AM", "PM", "am", "pm")))

    def io(self):
        return self.r("UO %d-%d cc/hr" % (self.ri(15, 40), self.ri(41, 120)), "I/O %.1fL/%.1fL" % (self.ri(8, 40) / 10, self.ri(5, 30) / 10),
                      "LOS +%.1f L" % (self.ri(1, 90) / 10), "24 hr balance +%d" % self.ri(100, 3000), "u/o 30-40cc/hr",
                      "CVP %d-%d" % (self.ri(4, 10), self.ri(11, 18)), "PAD %d-%d" % (self.ri(12, 18), self.ri(19, 30)),
                      "CI %.1f" % (self.ri(16, 40) / 10), "SVR %d" % self.ri(600, 1800))

    def score(self):
        return self.r("GCS %d%s" % (self.ri(3, 15), self.r("", "T")), "RASS %d" % self.ri(-4, 2), "CPOT %d" % self.ri(0, 6),
                      "pain %d/10" % self.ri(0, 10), "Braden %d" % self.ri(8, 20), "RSBI %d" % self.ri(30, 130),
                      "NIF -%d" % self.ri(15, 40), "sats %d-%d%%" % (self.ri(88, 95), self.ri(96, 100)), "RR %d-%d" % (self.ri(12, 20), self.ri(21, 34)))

    # -- patients --
    def patient(self, k):
        first, last, wfirst, wlast = self.names
        sex = self.r("M", "F")
        y = self.ri(1998, 2014)
        pt = {"id": "p%03d" % k, "sex": sex, "first": self.r(*first), "last": self.r(*(wlast if self.p(0.15) else last)),
              "age": self.ri(34, 88) if self.p(0.93) else self.ri(90, 99), "mrn": "%07d" % self.ri(1000000, 9999999),
              "adm": (y, self.ri(1, 12), self.ri(1, 28)), "town": self.r(*TOWNS),
              "street": "%d %s" % (self.ri(3, 480), self.r(*STREETS))}
        pt["birth"] = (pt["adm"][0] - pt["age"], self.ri(1, 12), self.ri(1, 28))
        rels = []
        spouse = self.r(*first)
        rels.append(("wife" if sex == "M" else "husband", spouse))
        for rw in self.rnd.sample(["dtr", "daughter", "son", "sister", "brother", "niece", "nephew", "sister-in-law",
                                    "friend", "grandson", "granddaughter", "neighbor"], self.ri(1, 3)):
            rels.append((rw, self.r(*(wfirst if self.p(0.2) else first))))
        pt["rels"] = rels
        pt["phone"] = "%s 555-01%02d" % (self.r("617", "508", "781", "978"), self.ri(0, 99))
        return pt

    def identity(self, pt):
        b = pt["birth"]
        return {"family": cap(pt["last"]), "given": cap(pt["first"]), "patient_id": pt["mrn"],
                "birth_date": "%04d%02d%02d" % b, "phones": [pt["phone"]], "city": pt["town"],
                "street": pt["street"]}

    # -- note types --
    def nursing(self, pt, phi=True):
        n = Note()
        sh = self.r("7p-7a", "7a-7p", "7a-3p", "3p-11p", "11p-7a", "0700-1900", "1900-0700", "days", "nights")
        unit = self.r("MICU", "SICU", "CCU", "CSRU", "TSICU", "NSICU", "Medicine ICU")
        n(self.r("Nursing Progress Note %s\n" % sh, "NPN %s\n" % sh, "%s NURSING PROGRESS NOTE %s\n" % (unit, sh),
                 "%s Nursing Note:\n" % unit, "Nursing %s\n" % sh, "Nsg Note %s\n" % sh, "%s NPN %s:\n" % (unit, sh)))
        if self.p(0.6):
            n(self.r("Pt is a ", "pt is ", ""), "%d yo %s " % (pt["age"], pt["sex"]) if pt["age"] < 90 else [("%d" % pt["age"], "AGE"), " yo %s " % pt["sex"]],
              self.r("admitted w/ ", "adm with ", "w/ ", "s/p "),
              self.r("urosepsis", "CHF exac", "PNA", "GIB", "resp failure", "CABG x3", "AVR", "SAH", "COPD flare", "DKA", "ARDS"),
              ".", " " if self.p(0.5) else "\n")
            if phi and self.p(0.5):
                n(self.r("PMH: ", "PMH ", "hx "), self.r("CAD, ", "HTN, ", "DM2, ", ""), "S/P CVA ", self.date(pt, "past"),
                  self.r(", CABG %d" % self.ri(1985, 2005), ", MI '%02d" % self.ri(80, 99), ", appy", ""), ".\n")
            elif self.p(0.4):
                n("PMH: HTN, hyperlipidemia, CABG %d, afib on coumadin.\n" % self.ri(1985, 2008))
        events = []
        if phi and self.p(0.15):
            events.append([self.r("", "pt states "), self.ptname(pt, self.r(0, 2, 4)), self.r(" requesting to go home", " c/o back pain",
                                                                                             " pulling at lines, mitts on", " asking for " + self.r("wife", "family"))])
        if phi and self.p(0.6):
            events.append([self.r("seen by ", "pt seen by ", "eval by ", "discussed w/ ", "d/w "), self.doc("md"),
                           self.r(" re: plan, ", ", ", " at %s, " % self.clock(), ". "),
                           self.r("aware of K+%.1f" % (self.ri(30, 36) / 10), "ok to cont current mgmt", "new orders rec'd", "will follow")])
        if phi and self.p(0.3):
            events.append([self.r("fell ", "intubated ", "extubated ", "ngt placed "), self.date(pt), " per report"])
        body = [
            ["NEURO: ", self.r("A+Ox3", "alert, oriented x3", "sedated on " + self.sedation(), "lethargic but arousable", "MAE, follows commands"),
             ", ", self.r("PERRLA", "pupils 3mm brisk", "MAE", "moves all ext"), ". ", self.score(), ".\n"],
            [self.r("CV: ", "CVS: ", "C/V: "), self.hr(), ", ", self.bp(), ". ", self.r(self.drip(), "no gtts", self.drip() + ", weaned to " + self.drip()),
             ". ", self.r("+pp x4", "pedal pulses dopplerable", "extrem warm, +2 edema"), ". ", self.replete(), ".\n"],
            [self.r("RESP: ", "Resp: ", "PULM: "), self.r("on ", "remains on "), self.vent(), ". ", self.abg(), ". ",
             self.r("LS coarse bilat", "ls clear upper, dim bases", "LS diminished at bases"), ", sx for ",
             self.r("thick tan", "sm amt white", "mod amt yellow"), " sputum. ", self.score(), ".\n"],
            ["GI: ", self.r("abd soft, +BS", "abd distended, hypoactive BS", "abd obese soft"), ", ",
             self.r("TF @ %d cc/hr goal %d" % (self.ri(10, 50), self.ri(50, 80)), "NPO", "tol clears", "OGT to LCS"), ". ",
             self.r("no BM", "lg brown stool", "guaiac neg", "lactulose %d ml q4h" % self.r(15, 30)), ".\n"],
            ["GU: ", self.foley(), " ", self.io(), ". ", self.lab(), ".\n"],
            ["ID: ", self.r("afebrile.no new abx", "T max 101.2 @ 0400, cx sent", "on " + self.med(), self.temp() + ", cont abx"), ".\n"],
            ["ACCESS: ", self.line(), ", ", self.line(), ".\n"] if self.p(0.6) else None,
            ["SKIN: ", self.r("intact", "coccyx stage II, duoderm", "L heel reddened, boots on"), ".\n"] if self.p(0.5) else None,
        ]
        n([b for b in body if b])
        if events:
            n("EVENTS: " if self.p(0.5) else "", [[e, ". "] for e in events], "\n")
        if phi:
            soc = self.r("SOCIAL: ", "Social: ", "Family: ", "SOC: ")
            f = self.ri(0, 5)
            if f == 0:
                n(soc, self.rel(pt), self.r(" called x2", " in to visit", " at bedside", " here this eve"), ", updated by ", self.r("RN", "this RN", "MD"), ". ")
            elif f == 1:
                n(soc, self.rel(pt), " is HCP, ", self.r("can be reached at ", "phone ", "#"), self.phone("phone"), ". ")
            elif f == 2:
                n(soc, self.rel(pt), " and ", self.rel(pt), " in ", self.r("to visit", "this afternoon"), ", ", self.r("updated by ", "met w/ "), self.doc("md"), ". ")
            elif f == 3:
                n(soc, "lives in ", self.town(), " w/ ", self.rel(pt), ". ")
            elif f == 4:
                n(soc, self.r("no family in", "no calls from family"), ". ")
            else:
                n(soc, self.rel(pt), " updated by phone at ", self.clock(), ". ")
            n("\n")
        plan = [self.r("PLAN: ", "Plan: ", "A/P: ", "Dispo: "), self.r("cont to monitor", "wean vent as tol", "f/u am labs", "cont current mgmt")]
        if phi and self.p(0.4):
            plan += [self.r(", ?transfer to ", ", tx to ", ", to "), self.ward(), self.r(" in am", " when bed available", " if stable")]
        elif self.p(0.3):
            plan += [", ?call out to floor in am"]
        if phi and self.p(0.2):
            plan += [", ", self.r("page ", "call "), self.doc("md", full=False), " w/ ", self.r("any changes", "PTT", "K results"), " ", self.phone("pager")]
        n(plan, ".\n")
        if phi:
            n(self.signature())
        return n

    def resp(self, pt, phi=True):
        n = Note()
        n(self.r("Respiratory Care Note:\n", "Resp Care\n", "RESPIRATORY CARE: ", "Respiratory Therapy Note\n", "Resp care note "))
        n(self.r("Pt ", "pt ", "Patient "), self.r("remains intubated on ", "on "), self.vent(), ". ")
        n(self.r("ETT ", ""), self.tube(), ". ", self.r("BS ", "bs "), self.r("coarse bilat", "clear", "dim RLL"), " ", self.r("sx'd for", "suctioned"), " ",
          self.r("sm amt", "mod amt", "lg amt"), " ", self.r("thick yellow", "blood tinged", "white"), " secretions. ")
        n(self.r("MDI's given", "combivent 6 puffs q4h", "alb/atr nebs q4h"), ". ", self.abg(), ". ", self.r("RSBI %d" % self.ri(30, 130), "Vt %d's RR %d-%d" % (self.ri(3, 6) * 100, self.ri(12, 20), self.ri(21, 34))), ". ")
        if phi and self.p(0.5):
            n("Changed to ", self.vent(), " per ", self.doc("md"), ". ")
        else:
            n(self.r("Plan to wean to ", "Changed to "), self.vent(), " in am. ")
        n(self.r("Will follow.", "Cont to follow.", "Plan: SBT in am.", "RT will cont to follow"))
        if phi:
            n(self.signature("rrt"))
        else:
            n("\n")
        return n

    def radiology(self, pt, phi=True):
        n = Note()
        exam = self.r("CHEST (PORTABLE AP)", "CHEST (PA & LAT)", "CT HEAD W/O CONTRAST", "CT ABDOMEN W/CONTRAST",
                      "CT CHEST W/O CONTRAST", "UNILAT UP EXT VEINS US", "ABDOMEN (SUPINE & ERECT)", "MR HEAD W & W/O CONTRAST")
        if phi:
            n("[", self.date(pt, "full"), " ", "%02d:%02d" % (self.ri(0, 23), self.ri(0, 59)), "]\n")
        n(exam, "   ", self.r("Clip # ", "Clip #", ""), ("%07d" % self.ri(1000000, 9999999), "ID") if phi else "", "\n")
        n("Reason: ", self.r("eval for chf, ett placement", "? PNA", "r/o bleed", "eval line placement", "eval for free air", "r/o DVT"), "\n")
        n(self.r("Admitting Diagnosis: ", "ADMITTING DIAGNOSIS: "), self.r("S/P FALL", "SEPSIS", "CHEST PAIN", "GI BLEED", "RESPIRATORY FAILURE"), "\n")
        n("FINAL REPORT\n")
        n(self.r("INDICATION: ", "HISTORY: "), "%d-year-old %s with " % (min(pt["age"], 89), "man" if pt["sex"] == "M" else "woman") if pt["age"] < 90 else
          [("%d" % pt["age"], "AGE"), "-year-old %s with " % ("man" if pt["sex"] == "M" else "woman")],
          self.r("respiratory failure, assess ET tube", "new right IJ line", "fever", "abdominal pain", "fall"), ".\n\n")
        if phi and self.p(0.8):
            n("COMPARISON: ", self.date(pt), self.r(" at %s." % self.time(), ".", ".", "") if self.p(0.8) else [" and ", self.date(pt), "."],
              "\n\n")
        else:
            n("COMPARISON: ", self.r("None.", "Prior study from %d." % pt["adm"][0], "Chest radiograph of the prior day."), "\n\n")
        if exam.startswith("CHEST"):
            n(self.r("PORTABLE AP CHEST: ", "FINDINGS: ", "AP UPRIGHT CHEST: "),
              "The ET tube tip is %.1f cm above the carina. " % (self.ri(15, 70) / 10),
              self.r("NG tube courses below the diaphragm, tip not seen. ", "A right IJ catheter terminates in the distal SVC. ",
                     "Left subclavian line tip at the cavoatrial junction. "),
              self.r("Cardiac silhouette is enlarged. ", "Heart size is normal. "),
              self.r("There is a small left pleural effusion with adjacent atelectasis. ", "Bilateral perihilar opacities have improved. ",
                     "Retrocardiac opacity persists. "),
              self.r("No pneumothorax.", "No pneumothorax is seen."), "\n\n")
        elif exam.startswith("CT HEAD") or exam.startswith("MR"):
            n("FINDINGS: ", self.r("There is no intracranial hemorrhage, mass effect, or shift of normally midline structures. ",
                                   "A 1.2 x 0.8 cm hyperdensity in the right basal ganglia is new. "),
              "Ventricles and sulci are ", self.r("prominent, consistent with age-related involution. ", "normal in size. "),
              "Periventricular white matter hypodensities are ", self.r("unchanged", "noted"), ". C1-2 alignment is normal.\n\n")
        elif "VEINS" in exam:
            n("FINDINGS: Grayscale, color and Doppler images of the right IJ, subclavian, axillary, brachial, basilic and cephalic veins. ",
              self.r("Occlusive thrombus in the cephalic vein extending 3.5 cm from the antecubital fossa. ", "Normal compressibility and flow. "), "\n\n")
        else:
            n("FINDINGS: ", self.r("Multiple dilated loops of small bowel up to 3.4 cm with air-fluid levels. ",
                                   "Hypodense lesion in segment 7 of the liver measuring 2.1 x 1.8 cm, too small to characterize. "),
              self.r("No free air. ", "L4/5 degenerative change. ", "Foley catheter in a decompressed bladder. "),
              "Visualized lung bases show ", self.r("bibasilar atelectasis", "small bilateral effusions"), ".\n\n")
        n("IMPRESSION: ", self.r("1. ETT in satisfactory position. 2. Unchanged small left effusion.",
                                 "No acute intracranial process.", "Findings consistent with SBO.", "Right cephalic vein thrombosis.",
                                 "Improving pulmonary edema."), "\n")
        if phi and self.p(0.6):
            n("\n", self.r("These findings were discussed with ", "Findings d/w ", "Dr. "), *self.doc("md", title=self.p(0.5)),
              self.r(" by telephone at %s on " % self.clock(), " at %s on " % self.clock(), " on "), self.date(pt),
              self.r(".", " by the radiology resident."), "\n")
        if phi and self.p(0.5):
            f, s, _ = self.site.person("md")
            n("\nDR. ", (f.upper() + " " + s.upper(), "CLINICIAN"), "\n")
        return n

    def discharge(self, pt, phi=True):
        n = Note()
        y, m, d = pt["adm"]
        dd = min(28, d + self.ri(2, 14))
        n("Admission Date: ", self.date(pt, "full"), "     Discharge Date: ", ("%d/%d/%d" % (m, dd, y), "DATE"), "\n\n")
        b = pt["birth"]
        n("Date of Birth: ", ("%d/%d/%d" % (b[1], b[2], b[0]), "DATE"), "     Sex: ", pt["sex"], "\n\n")
        if self.p(0.5):
            n("Name: ", self.ptname(pt, 3), "     Unit No: ", (pt["mrn"], "ID"), "\n\n")
        n("Service: ", self.r("MEDICINE", "CSURG", "NEUROLOGY", "MICU", "ORTHOPAEDICS"), "\n\n")
        n("Attending: ", self.doc("md", title=False, full=True), "\n\n")
        n(self.r("CHIEF COMPLAINT: ", "Chief Complaint:\n"), self.r("dyspnea", "fall", "chest pain", "melena", "fever, confusion"), "\n\n")
        n(self.r("HISTORY OF PRESENT ILLNESS:\n", "History of Present Illness:\n", "HPI: "))
        age = ("%d" % pt["age"], "AGE") if pt["age"] >= 90 else "%d" % pt["age"]
        n(self.r("This is a ", ""), age, self.r(" yo ", " year old ", "y/o "), ("man" if pt["sex"] == "M" else "woman"),
          " with h/o CHF (EF %d%% on " % self.ri(15, 55), self.date(pt), " echo), S/P CVA ", self.date(pt, "past"),
          ", DM2, CKD (baseline Cr %.1f), who " % (self.ri(9, 25) / 10))
        f = self.ri(0, 2)
        if f == 0:
            n("presented from ", self.hosp(), " where ", ("he" if pt["sex"] == "M" else "she"),
              " was found to have ", self.lab(), " and ", self.lab(), ".")
        elif f == 1:
            n("was brought in by ", self.r("EMS", "ambulance"), " from ", (self.r(*FACILITIES), "LOCATION"),
              " after a fall on ", self.date(pt), ".")
        else:
            n("was in ", ("his" if pt["sex"] == "M" else "her"), " usual state of health until ",
              self.date(pt), " when ", self.rel(pt), " noted increasing confusion.")
        n(" In the ED, ", self.temp(), ", ", self.hr(), ", ", self.bp(), ", ", self.score(), " on ", self.r("RA", "4L NC", "NRB"), ". ",
          "Received ", self.med(), " and ", self.med(), ".\n\n")
        n(self.r("PAST MEDICAL HISTORY:\n", "Past Medical History:\n"),
          "1. CAD s/p CABG %d (LIMA-LAD, SVG-OM)\n" % self.ri(1985, y - 1),
          "2. CHF, EF %d%%\n" % self.ri(20, 55), "3. Afib on coumadin\n", "4. COPD (FEV1 %.2f)\n" % (self.ri(60, 220) / 100),
          "5. s/p appy '%02d\n" % self.ri(50, 99), "\n")
        n("SOCIAL HISTORY: Lives ", self.r("with ", "w/ "), self.rel(pt), " in ", self.town(), ". ",
          self.r("%d pk-yr smoking hx, quit %d. " % (self.ri(10, 80), self.ri(1980, y)), "Denies tob/EtOH. "), "\n\n")
        n("DISCHARGE MEDICATIONS:\n", "1. Metoprolol %d mg PO BID\n" % self.r(12, 25, 50), "2. Lisinopril %d mg PO daily\n" % self.r(5, 10, 20),
          "3. Furosemide %d mg PO daily\n" % self.r(20, 40, 80), "4. Warfarin %d mg PO qhs (goal INR 2-3)\n" % self.ri(1, 7),
          "5. Insulin glargine %d units SC qhs + RISS\n" % self.ri(8, 40), "6. Albuterol 1-2 puffs q4-6h prn\n\n")
        n("BRIEF HOSPITAL COURSE:\n", "1. ", self.r("CHF exacerbation", "Urosepsis", "PNA"), ": diuresed w/ lasix %d mg IV bid, " % self.r(40, 80, 120),
          self.io(), ". ", self.lab(), " on discharge. ")
        if self.p(0.5):
            n("Transferred to ", self.ward(), " on ", self.date(pt), ". ")
        n("\n2. ", self.r("Afib", "ARF", "Hyperglycemia"), ": ", self.lab(), ", ", self.lab(), ", followed by ", self.r("renal", "cardiology", "endocrine"),
          " (", self.doc("md"), ").\n\n")
        n("DISCHARGE DISPOSITION: ", self.r("Extended Care", "Home with services", "Rehab"), "\n")
        if self.p(0.6):
            fac = self.r(*FACILITIES)
            n("Facility: ", (fac, "LOCATION"), " - ", self.town(), "\n")
        n("\nFOLLOW-UP: ", self.doc("md"), self.r(" (PCP) in 1-2 weeks, ", " in 2 weeks, "), self.phone("phone"),
          ". ", self.r("Cardiology", "Renal", "Pulm"), " clinic ", self.date(pt), " at ", self.clock(), ".\n\n")
        f, s, _ = self.site.person("md")
        n(self.r("", "Dictated By: "), (cap(f) + " " + cap(s), "CLINICIAN"), ", M.D.  ", self.r("", "MD # "), ("%d" % self.ri(10000, 99999), "ID"), "\n\n")
        n("D: ", self.date(pt, "full"), " ", "%02d:%02d" % (self.ri(0, 23), self.ri(0, 59)), "\nT: ", self.date(pt, "full"), " ",
          "%02d:%02d" % (self.ri(0, 23), self.ri(0, 59)), "\nJOB#: ", ("%d" % self.ri(10000, 999999), "ID"), "\n")
        return n

    def negative(self):
        """A hard negative: dense clinical numbers, headings, eponyms and years, no PHI."""
        n = Note()
        pt = {"age": self.ri(40, 88), "sex": self.r("M", "F"), "adm": (2005, 1, 1)}
        kind = self.ri(0, 2)
        if kind == 0:
            n(self.r("MICU NPN 7p-7a\n", "Nursing Progress Note 0700-1900\n", "SICU Nursing Note:\n", "CCU NSG NOTE 11p-7a\n"))
            n("NEURO: ", self.score(), ", ", self.r("MAE", "PERRLA 3mm", "no gag"), ", ", self.sedation(), " titrated for RASS %d" % self.ri(-3, 0), ".\n")
            n("CV: ", self.hr(), ". ", self.bp(), ". ", self.drip(), ", ", self.drip(), ". ", self.io(), ", ", self.io(), ". ",
              self.lab(), ", ", self.lab(), ", ", self.lab(), ". Swan-Ganz ", self.io(), ". Homan's neg.\n")
            n("RESP: ", self.vent(), " -> ", self.vent(), " @", "%02d00" % self.ri(0, 23), ". ", self.abg(), ". ", self.abg(), ". ", self.score(), ". ", self.tube(), ".\n")
            n("GI/GU: ", self.tube(), ", ", self.io(), ". ", self.med(), ", ", self.med(), ". Murphy's sign neg.\n")
            n("ENDO: ", "FS %d-%d covered per RISS, " % (self.ri(90, 150), self.ri(151, 300)), self.drip(), ".\n")
            n("ID: ", self.temp(), ".pan cx'd @", "%02d%02d" % (self.ri(0, 23), self.ri(0, 59)), ". ", self.med(), ".\n")
            n("Plan: ", self.r("cont current mgmt, wean ", "f/u ABG after change to "), self.vent(), ", recheck ", self.lab().split()[0], " ", self.time(), ".\n")
        elif kind == 1:
            n(self.r("Respiratory Care Note:\n", "RESP CARE: "), "Pt on ", self.vent(), " overnight, changed to ", self.vent(), " ", self.time(), ". ",
              self.abg(), ". ", self.abg(), ". ", self.score(), ", ", self.score(), ". ", self.tube(), ". MDI's: combivent 6 puffs q4h, ",
              "flovent 220 mcg 2 puffs bid. Cuff pressure %d cm H2O. Vt %d-%d, Ve %.1f. " % (self.ri(20, 30), self.ri(350, 450), self.ri(451, 600), self.ri(60, 140) / 10),
              "Plan: SBT 5/0 x 30 min in am, RSBI %d.\n" % self.ri(30, 120))
        else:
            n("CHEST (PORTABLE AP)\nReason: eval ett, line placement\nFINAL REPORT\nINDICATION: %d-year-old %s, intubated.\n\n" % (pt["age"], "man" if pt["sex"] == "M" else "woman"))
            n("COMPARISON: Prior radiograph from %d.\n\n" % self.ri(1995, 2010))
            n("FINDINGS: The ET tube tip is %.1f cm above the carina. A Swan-Ganz catheter tip is in the right main pulmonary artery. " % (self.ri(15, 70) / 10),
              "The NG tube tip is in the stomach. T11 compression deformity, unchanged since %d. L4/5 disc space narrowing. " % self.ri(1995, 2009),
              "Heart size is top normal, CT ratio 1/2. Bibasilar opacities, 2/3 of the way up the right hemithorax. ",
              "Kerley B lines. No pneumothorax.\n\n")
            n("IMPRESSION: Lines and tubes as above; moderate CHF, grade 2/4.\n")
        return n

    def run(self):
        notes, ids = [], {}
        for k in range(self.npat):
            pt = self.patient(k)
            ids[pt["id"]] = self.identity(pt)
            kinds = ["nursing"] * self.ri(1, 3) + (["resp"] if self.p(0.5) else []) + \
                    (["radiology"] if self.p(0.7) else []) + (["discharge"] if self.p(0.5) else [])
            for j, kind in enumerate(kinds):
                n = getattr(self, kind)(pt)
                style = self.r("mixed", "mixed", "mixed", "upper", "lower") if kind in ("nursing", "resp") else \
                    self.r("mixed", "mixed", "mixed", "upper")
                text, spans = n.build(style)
                notes.append({"id": "%s-%d" % (pt["id"], j), "patient": pt["id"], "kind": kind, "style": style,
                              "text": text, "spans": spans})
        for k in range(self.nneg):
            n = self.negative()
            style = self.r("mixed", "mixed", "upper", "lower")
            text, spans = n.build(style)
            assert not spans
            notes.append({"id": "neg-%d" % k, "patient": None, "kind": "negative", "style": style, "text": text, "spans": []})
        return notes, ids


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--patients", type=int, default=120)
    ap.add_argument("--negatives", type=int, default=120)
    a = ap.parse_args()
    if a.patients < 1 or a.patients > 100000 or a.negatives < 0 or a.negatives > 100000:
        sys.exit("gen-notes: --patients 1..100000, --negatives 0..100000")
    g = Gen(a.seed, a.patients, a.negatives)
    notes, ids = g.run()
    os.makedirs(os.path.join(a.out, "identity"), exist_ok=True)
    os.makedirs(os.path.join(a.out, "site"), exist_ok=True)
    with open(os.path.join(a.out, "notes.jsonl"), "w") as f:
        for x in notes:
            f.write(json.dumps(x, sort_keys=True) + "\n")
    for pid, ident in ids.items():
        with open(os.path.join(a.out, "identity", pid + ".json"), "w") as f:
            json.dump(ident, f, sort_keys=True)
    with open(os.path.join(a.out, "site", "staff_names.txt"), "w") as f:
        f.write("\n".join(g.site.staff_lines()) + "\n")
    with open(os.path.join(a.out, "site", "places.txt"), "w") as f:
        f.write("\n".join(g.site.place_lines()) + "\n")
    cnt = {}
    for x in notes:
        for s in x["spans"]:
            cnt[s["class"]] = cnt.get(s["class"], 0) + 1
    kinds = {}
    for x in notes:
        kinds[x["kind"]] = kinds.get(x["kind"], 0) + 1
    json.dump({"seed": a.seed, "notes": len(notes), "kinds": kinds, "gold": cnt,
               "bytes": sum(len(x["text"]) for x in notes)}, open(os.path.join(a.out, "summary.json"), "w"), sort_keys=True)


main()

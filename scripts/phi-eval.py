#!/usr/bin/python3
"""PHI scrubber evaluation (make eval-phi): runs `medseal scrub --jsonl` over the labelled sets in
../shared/data/phi and the planted PHI of make_study.py, and prints recall / precision per class
and overall, with the lenient overlap rule (PhysioNet stat.pm: a gold span is found if any output
span overlaps it, touching ends count; an output span overlapping no gold span is a false
positive) and with exact spans. ASQ-PHI has no offsets: string-survival recall (a tag leaks if its
value survives in the output) and the over-redaction rate on its negatives.

Usage: phi-eval.py [--bin MEDSEAL] [--set asq,presidio,meddocan,study,study-id,notes,notes-id,
                   notes-site] [--seeds 1-9] [--notes-seed N] [--floor SET:METRIC:VALUE ...] [--json OUT]
The notes sets are the note-style corpus of scripts/gen-notes.py (generated at run time, seeded;
no ../shared needed): without identity, with each patient's identity, and with identity + site
lists (printed as skipped while `medseal scrub` has no --site-lists).
With --floor, exits 1 when a metric is below (or, for over_redaction, above) its floor.
Trusts the shared data files (fixed, public). Writes temporary files under a private tmp dir."""
import argparse, collections, json, os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("MEDSEAL_SHARED", os.path.join(ROOT, "..", "shared"))
PY = "/usr/bin/python3"


def scrub(binary, texts, extra=()):
    """Scrubs a list of texts in one process; returns [(out_text, spans)]."""
    data = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    p = subprocess.run([binary, "scrub", "--jsonl"] + list(extra), input=data.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit("phi-eval: medseal scrub failed: " + p.stderr.decode()[:300])
    res = [json.loads(l) for l in p.stdout.decode().splitlines()]
    if len(res) != len(texts):
        sys.exit("phi-eval: %d results for %d texts" % (len(res), len(texts)))
    return [(r["text"], r["spans"]) for r in res]


def byte_to_char(text):
    """Map from UTF-8 byte offsets to character offsets (spans are bytes, gold is chars)."""
    m, b = {}, 0
    for i, ch in enumerate(text):
        m[b] = i
        b += len(ch.encode())
    m[b] = len(text)
    return m


def char_spans(text, spans):
    m = byte_to_char(text)
    return [(m.get(s["start"], 0), m.get(s["end"], len(text)), s["class"]) for s in spans]


def overlap(a, b):  # end-exclusive offsets, touching counts (stat.pm's inclusive compare)
    return a[0] <= b[1] and b[0] <= a[1]


class Score:
    """Per-class and overall counts, lenient and exact."""

    def __init__(self):
        self.g = collections.Counter()      # gold spans per gold class
        self.tp = collections.Counter()     # gold spans found (lenient)
        self.tpx = collections.Counter()    # gold spans found exactly
        self.sys = collections.Counter()    # system spans per system class
        self.sfp = collections.Counter()    # system spans overlapping no gold
        self.sx = collections.Counter()     # system spans exactly equal to a gold span

    def add(self, gold, system):
        for g in gold:
            self.g[g[2]] += 1
            if any(overlap(g, s) for s in system):
                self.tp[g[2]] += 1
            if any(g[0] == s[0] and g[1] == s[1] for s in system):
                self.tpx[g[2]] += 1
        for s in system:
            self.sys[s[2]] += 1
            if not any(overlap(g, s) for g in gold):
                self.sfp[s[2]] += 1
            if any(g[0] == s[0] and g[1] == s[1] for g in gold):
                self.sx[s[2]] += 1

    def table(self, title):
        rows = ["### " + title, "",
                "| class | gold | recall (overlap) | recall (exact) |", "|---|---:|---:|---:|"]
        for c in sorted(self.g):
            rows.append("| %s | %d | %.4f | %.4f |" % (c, self.g[c], self.tp[c] / self.g[c],
                                                      self.tpx[c] / self.g[c]))
        rows += ["", "| system class | spans | precision (overlap) | precision (exact) |",
                 "|---|---:|---:|---:|"]
        for c in sorted(self.sys):
            n = self.sys[c]
            rows.append("| %s | %d | %.4f | %.4f |" % (c, n, (n - self.sfp[c]) / n, self.sx[c] / n))
        r = self.overall()
        rows += ["", "**overall**: gold %d, system %d; recall %.4f (exact %.4f), precision %.4f "
                 "(exact %.4f), F1 %.4f" % (r["gold"], r["system"], r["recall"], r["recall_exact"],
                                           r["precision"], r["precision_exact"], r["f1"]), ""]
        return "\n".join(rows)

    def overall(self):
        g, s = sum(self.g.values()), sum(self.sys.values())
        rec = sum(self.tp.values()) / g if g else 1.0
        pre = (s - sum(self.sfp.values())) / s if s else 1.0
        return {"gold": g, "system": s, "recall": rec, "recall_exact": sum(self.tpx.values()) / g if g else 1.0,
                "precision": pre, "precision_exact": sum(self.sx.values()) / s if s else 1.0,
                "f1": 2 * rec * pre / (rec + pre) if rec + pre else 0.0}


# ---- ASQ-PHI ------------------------------------------------------------------------------------

def load_asq():
    t = open(os.path.join(SHARED, "data/phi/asq_phi/synthetic_clinical_queries.txt"), encoding="utf-8").read()
    out = []
    for b in t.split("===QUERY===")[1:]:
        q, tags = b.split("===PHI_TAGS===")
        tags = [json.loads(l) for l in tags.strip().splitlines() if l.strip()]
        out.append((q.strip(), [(x["identifier_type"], x["value"]) for x in tags]))
    return out


def eval_asq(binary):
    data = load_asq()
    res = scrub(binary, [q for q, _ in data])
    leaked, total = collections.Counter(), collections.Counter()
    neg = negred = pos = posclean = 0
    spans_all = spans_hit = 0
    for (q, tags), (out, spans) in zip(data, res):
        if not tags:
            neg += 1
            negred += 1 if spans else 0
            continue
        pos += 1
        qleak = 0
        for typ, val in tags:
            total[typ] += 1
            if val in out:
                leaked[typ] += 1
                qleak += 1
        posclean += qleak == 0
        # span precision: an output span overlapping some tagged value occurrence
        occ = []
        for _, val in tags:
            i = q.find(val)
            while i >= 0:
                occ.append((i, i + len(val)))
                i = q.find(val, i + 1)
        for s in char_spans(q, spans):
            spans_all += 1
            spans_hit += any(overlap(o, s) for o in occ)
    n, nl = sum(total.values()), sum(leaked.values())
    rows = ["### ASQ-PHI (1,051 queries; string-survival recall)", "",
            "| identifier type | tags | leaked | recall |", "|---|---:|---:|---:|"]
    for t in sorted(total):
        rows.append("| %s | %d | %d | %.4f |" % (t, total[t], leaked[t], 1 - leaked[t] / total[t]))
    m = {"recall": 1 - nl / n, "leaked": nl, "tags": n, "over_redaction": negred / neg,
         "queries_clean": posclean / pos, "span_precision": spans_hit / spans_all if spans_all else 1.0}
    rows += ["", "**overall**: %d tags, %d leaked, recall %.4f; positive queries with nothing leaked "
             "%.4f; span precision (spans overlapping a tagged value) %.4f; over-redaction on the %d "
             "negatives %.4f (anchor: Comprehend Medical recall .9855 at over-redaction .900)" %
             (n, nl, m["recall"], m["queries_clean"], m["span_precision"], neg, m["over_redaction"]), ""]
    return m, "\n".join(rows)


# ---- presidio synthetic --------------------------------------------------------------------------

FORMAT_TYPES = {"PHONE_NUMBER", "EMAIL", "US_SSN", "IP", "CREDIT_CARD", "IBAN", "ZIP_CODE",
                "DOMAIN_NAME", "STREET_ADDRESS", "US_DRIVER_LICENSE", "DATE_TIME"}


def eval_presidio(binary):
    d = json.load(open(os.path.join(SHARED, "data/phi/presidio_synth/synth_dataset_v2.json")))
    res = scrub(binary, [x["full_text"] for x in d])
    fmt, allc = Score(), Score()
    for x, (out, spans) in zip(d, res):
        gold_all = [(s["start_position"], s["end_position"], s["entity_type"]) for s in x["spans"]]
        sysc = char_spans(x["full_text"], spans)
        allc.add(gold_all, sysc)
        gf = [g for g in gold_all if g[2] in FORMAT_TYPES]
        # precision on format classes: system spans of non-name classes; any gold type counts
        sf = [s for s in sysc if s[2] not in ("NAME", "LOCATION")]
        sc = Score()
        fmt.g.update(g[2] for g in gf)
        for g in gf:
            if any(overlap(g, s) for s in sysc):
                fmt.tp[g[2]] += 1
            if any(g[0] == s[0] and g[1] == s[1] for s in sysc):
                fmt.tpx[g[2]] += 1
        for s in sf:
            fmt.sys[s[2]] += 1
            if not any(overlap(g, s) for g in gold_all):
                fmt.sfp[s[2]] += 1
            if any(g[0] == s[0] and g[1] == s[1] for g in gold_all):
                fmt.sx[s[2]] += 1
        del sc
    m = fmt.overall()
    m["all_recall"] = allc.overall()["recall"]
    m["all_precision"] = allc.overall()["precision"]
    txt = fmt.table("presidio-research synth_dataset_v2 (1,500 sentences): format classes") + \
        "\n" + allc.table("presidio synth: every gold type (PERSON, GPE, ORGANIZATION ... included)")
    return m, txt


# ---- MEDDOCAN ----------------------------------------------------------------------------------

MEDDOCAN_TYPES = {"CORREO_ELECTRONICO", "ID_SUJETO_ASISTENCIA", "ID_TITULACION_PERSONAL_SANITARIO",
                  "ID_ASEGURAMIENTO", "ID_CONTACTO_ASISTENCIAL", "NUMERO_TELEFONO", "NUMERO_FAX",
                  "FECHAS", "ID_EMPLEO_PERSONAL_SANITARIO", "OTROS_SUJETO_ASISTENCIA"}
MEDDOCAN_SYS = {"EMAIL", "PHONE", "FAX", "DATE", "MRN", "ACCOUNT", "HEALTH_PLAN", "LICENSE",
                "DEVICE", "VEHICLE", "ID", "SSN", "URL", "IP"}


def eval_meddocan(binary):
    d = os.path.join(SHARED, "data/phi/meddocan_test/brat")
    names = sorted(f[:-4] for f in os.listdir(d) if f.endswith(".txt"))
    texts = [open(os.path.join(d, n + ".txt"), encoding="utf-8").read() for n in names]
    res = scrub(binary, texts)
    sc = Score()
    for n, t, (out, spans) in zip(names, texts, res):
        gold_all = []
        for line in open(os.path.join(d, n + ".ann"), encoding="utf-8"):
            f = line.rstrip("\n").split("\t")
            if len(f) < 2 or not f[0].startswith("T"):
                continue
            typ, *offs = f[1].replace(";", " ").split()
            gold_all.append((int(offs[0]), int(offs[-1]), typ))
        gold = [g for g in gold_all if g[2] in MEDDOCAN_TYPES]
        sysc = [s for s in char_spans(t, spans) if s[2] in MEDDOCAN_SYS]
        sc.g.update(g[2] for g in gold)
        for g in gold:
            sc.tp[g[2]] += any(overlap(g, s) for s in sysc)
            sc.tpx[g[2]] += any(g[0] == s[0] and g[1] == s[1] for s in sysc)
        for s in sysc:
            sc.sys[s[2]] += 1
            sc.sfp[s[2]] += not any(overlap(g, s) for g in gold_all)
            sc.sx[s[2]] += any(g[0] == s[0] and g[1] == s[1] for g in gold_all)
    return sc.overall(), sc.table("MEDDOCAN test (250 Spanish cases): e-mails, ids, phones, dates")


# ---- make_study planted PHI ---------------------------------------------------------------------

def sr_texts(path):
    import pydicom
    ds = pydicom.dcmread(path)
    out = []

    def walk(d):
        for el in d:
            if el.VR == "SQ":
                for it in el.value:
                    walk(it)
            elif el.VR in ("LT", "ST", "UT") or el.keyword in ("StudyDescription", "SeriesDescription"):
                if isinstance(el.value, str) and el.value.strip():
                    out.append(el.value)
    walk(ds)
    return out


def eval_study(binary, seeds, identity):
    tmp = tempfile.mkdtemp(prefix="phi-eval-")
    texts, planted, kinds, idfiles = [], [], [], []
    sc = Score()
    for seed in seeds:
        od = os.path.join(tmp, "s%d" % seed)
        subprocess.run([PY, os.path.join(SHARED, "tools/make_study.py"), od, "--slices", "2",
                        "--size", "32", "--studies", "3", "--seed", str(seed)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        man = json.load(open(os.path.join(od, "manifest.json")))
        idf = os.path.join(od, "identity.json")
        json.dump({"identity": man["identity"]}, open(idf, "w"))
        for k in range(1, len(man["studies"]) + 1):
            phi = set(man["planted_phi"]) | set(man["planted_dates"].get("study_%d" % k, []))
            # the same people written "First Last" in running text
            phi |= {" ".join(reversed(v.split("^"))) for v in phi if "^" in v}
            for v in man["planted_dates"].values():
                phi |= set(v)
            note = open(os.path.join(od, "study_%d" % k, "notes.txt"), encoding="utf-8").read()
            for kind, t in [("notes", note)] + [("SR", x) for x in
                                               sr_texts(os.path.join(od, "study_%d" % k, "SR/report.dcm"))]:
                texts.append(t)
                planted.append(phi)
                kinds.append(kind)
                idfiles.append(idf)
    results = []
    if identity:
        for i, t in enumerate(texts):  # one identity per patient
            results += scrub(binary, [t], ["--identity", idfiles[i]])
    else:
        results = scrub(binary, texts)
    present = collections.Counter()
    leaked = collections.Counter()
    for t, phi, kind, (out, spans) in zip(texts, planted, kinds, results):
        gold = []
        for v in phi:
            i = t.find(v)
            if i >= 0:
                present[kind] += 1
                if v in out:
                    leaked[kind] += 1
            while i >= 0:
                gold.append((i, i + len(v), "PLANTED"))
                i = t.find(v, i + 1)
        # drop gold occurrences nested in a longer one (e.g. a surname inside the full name)
        gold = [g for g in gold if not any(h != g and h[0] <= g[0] and g[1] <= h[1] for h in gold)]
        sc.add(gold, char_spans(t, spans))
    n, nl = sum(present.values()), sum(leaked.values())
    title = "make_study.py planted PHI, seeds %d-%d, notes + SR text (%s identity)" % (
        seeds[0], seeds[-1], "with" if identity else "without")
    rows = ["### " + title, "", "| text | planted strings present | survived | recall |",
            "|---|---:|---:|---:|"]
    for k in sorted(present):
        rows.append("| %s | %d | %d | %.4f |" % (k, present[k], leaked[k], 1 - leaked[k] / present[k]))
    o = sc.overall()
    m = {"recall": 1 - nl / n if n else 1.0, "survived": nl, "span_recall": o["recall"],
         "precision": o["precision"], "precision_exact": o["precision_exact"],
         "recall_exact": o["recall_exact"]}
    rows += ["", "**overall**: %d planted strings, %d survived, string recall %.4f; span recall %.4f "
             "(exact %.4f), precision %.4f (exact %.4f)" % (n, nl, m["recall"], o["recall"],
                                                          o["recall_exact"], o["precision"],
                                                          o["precision_exact"]), ""]
    subprocess.run(["rm", "-rf", tmp])
    return m, "\n".join(rows)


# ---- note-style development corpus (scripts/gen-notes.py) ----------------------------------------

def site_lists_supported(binary):
    p = subprocess.run([binary, "scrub", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return b"--site-lists" in p.stdout


def eval_notes(binary, seed, mode):
    """The generated ICU / radiology / discharge corpus: mode none (no identity, no site lists, one
    process), id (each patient's identity, one --jsonl process per patient) or site (identity and
    --site-lists DIR). Gold classes are the corpus's (CLINICIAN, PATIENT, RELATIVE, DATE, PHONE,
    LOCATION, ID, AGE); matching is class-blind, stat.pm's overlap rule."""
    title = {"none": "no identity, no site lists", "id": "each patient's identity (--identity)",
             "site": "identity + site lists (--site-lists)"}[mode]
    if mode == "site" and not site_lists_supported(binary):
        return None, ("### Note-style corpus (gen-notes.py seed %d), %s\n\nskipped: this medseal has "
                      "no `scrub --site-lists` yet\n" % (seed, title))
    tmp = tempfile.mkdtemp(prefix="phi-notes-")
    subprocess.run([PY, os.path.join(ROOT, "scripts/gen-notes.py"), tmp, "--seed", str(seed)], check=True)
    notes = [json.loads(l) for l in open(os.path.join(tmp, "notes.jsonl"), encoding="utf-8")]
    results = [None] * len(notes)
    if mode == "none":
        results = scrub(binary, [x["text"] for x in notes])
    else:
        groups = collections.OrderedDict()
        for i, x in enumerate(notes):
            groups.setdefault(x["patient"], []).append(i)
        for pid, idx in groups.items():
            extra = []
            if pid is not None:
                extra += ["--identity", os.path.join(tmp, "identity", pid + ".json")]
            if mode == "site":
                extra += ["--site-lists", os.path.join(tmp, "site")]
            for i, r in zip(idx, scrub(binary, [notes[i]["text"] for i in idx], extra)):
                results[i] = r
    sc = Score()
    bykind = collections.defaultdict(Score)
    neg = negflag = negspans = 0
    for x, (out, spans) in zip(notes, results):
        gold = [(g["start"], g["end"], g["class"]) for g in x["spans"]]
        sysc = char_spans(x["text"], spans)
        sc.add(gold, sysc)
        bykind[x["kind"]].add(gold, sysc)
        if x["kind"] == "negative":
            neg += 1
            negflag += bool(sysc)
            negspans += len(sysc)
    subprocess.run(["rm", "-rf", tmp])
    o = sc.overall()
    tp = sum(sc.tp.values())
    fp = sum(sc.sfp.values())
    rows = ["### Note-style corpus (gen-notes.py seed %d, %d notes, %d bytes), %s" % (
        seed, len(notes), sum(len(x["text"]) for x in notes), title), "",
        "| gold class | gold | found | missed | recall (overlap) | recall (exact) |", "|---|---:|---:|---:|---:|---:|"]
    for c in sorted(sc.g):
        rows.append("| %s | %d | %d | %d | %.4f | %.4f |" % (c, sc.g[c], sc.tp[c], sc.g[c] - sc.tp[c],
                                                          sc.tp[c] / sc.g[c], sc.tpx[c] / sc.g[c]))
    rows += ["", "| predicted class | spans | false spans | precision (overlap) |", "|---|---:|---:|---:|"]
    for c in sorted(sc.sys):
        n = sc.sys[c]
        rows.append("| %s | %d | %d | %.4f |" % (c, n, sc.sfp[c], (n - sc.sfp[c]) / n))
    rows += ["", "| note kind | gold | recall | system spans | precision |", "|---|---:|---:|---:|---:|"]
    for k in sorted(bykind):
        r = bykind[k].overall()
        rows.append("| %s | %d | %.4f | %d | %.4f |" % (k, r["gold"], r["recall"], r["system"], r["precision"]))
    rows += ["", "**overall**: TP %d, FN %d, FP %d; recall %.4f (exact %.4f), precision %.4f (exact %.4f), "
             "F1 %.4f; hard negatives with any span %d of %d (%d spans)" % (
                 tp, o["gold"] - tp, fp, o["recall"], o["recall_exact"], o["precision"], o["precision_exact"],
                 o["f1"], negflag, neg, negspans), ""]
    m = dict(o)
    m.update({"tp": tp, "fn": o["gold"] - tp, "fp": fp, "neg_flagged": negflag, "neg_notes": neg})
    for c in sc.g:
        m["recall_" + c] = sc.tp[c] / sc.g[c]
    for c in sc.sys:
        m["false_" + c] = sc.sfp[c]
    return m, "\n".join(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("MEDSEAL", os.path.join(ROOT, "build/medseal")))
    ap.add_argument("--set", default="asq,presidio,meddocan,study,study-id,notes,notes-id,notes-site")
    ap.add_argument("--notes-seed", type=int, default=1)
    ap.add_argument("--seeds", default="1-9")
    ap.add_argument("--floor", action="append", default=[])
    ap.add_argument("--json")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    sets = a.set.split(",")
    if any(x in ("asq", "presidio", "meddocan", "study", "study-id") for x in sets) and \
            not os.path.isdir(os.path.join(SHARED, "data/phi")):
        sys.exit("phi-eval: ../shared/data/phi not found (set MEDSEAL_SHARED)")
    lo, _, hi = a.seeds.partition("-")
    seeds = list(range(int(lo), int(hi or lo) + 1))
    metrics = {}
    for s in sets:
        if s == "asq":
            m, t = eval_asq(a.bin)
        elif s == "presidio":
            m, t = eval_presidio(a.bin)
        elif s == "meddocan":
            m, t = eval_meddocan(a.bin)
        elif s == "study":
            m, t = eval_study(a.bin, seeds, False)
        elif s == "study-id":
            m, t = eval_study(a.bin, seeds, True)
        elif s in ("notes", "notes-id", "notes-site"):
            m, t = eval_notes(a.bin, a.notes_seed, {"notes": "none", "notes-id": "id", "notes-site": "site"}[s])
            if m is None:  # mode not supported by this medseal: printed, not scored
                if not a.quiet:
                    print(t)
                continue
        else:
            sys.exit("phi-eval: unknown set " + s)
        metrics[s] = m
        if not a.quiet:
            print(t)
    if a.json:
        json.dump(metrics, open(a.json, "w"), indent=1)
    bad = 0
    for f in a.floor:
        s, k, v = f.split(":")
        if s not in metrics:
            print("FLOOR %s %s: set not measured" % (s, k))
            bad = 1
            continue
        got = metrics[s][k]
        worse = got > float(v) if k in ("over_redaction", "survived", "leaked") else got < float(v)
        if worse:
            print("FLOOR %s %s = %.4f, floor %s" % (s, k, got, v))
            bad = 1
    sys.exit(bad)


main()

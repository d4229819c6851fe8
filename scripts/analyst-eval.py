#!/usr/bin/python3
"""Analyst evaluation on the report-language corpus (make eval-analyst, issue 16): runs
`medseal analyze --notes PASSAGE --format json` on every passage of tests/analyst_corpus/
corpus.jsonl and prints the table of issue 16: nodule detection precision / recall, mean size
(within 0.05 mm) / composition / lobe accuracy, status accuracy, passages with no lung nodule
reported clean, categories assigned to findings outside the lung, resolved nodules listed as such.

Reading the report (tolerant of fields the analyst gains): a current nodule is an entry of
`findings` (type absent or "nodule"), unless it is flagged resolved (`resolved: true`, or status /
change "resolved") AND carries no Lung-RADS or Fleischner category; a resolved nodule that still
has a category counts as current (that is the defect the issue names). Size is
size.mean_diameter_mm; composition composition.value (or a string); lobe location.lobe (or a
string); status comparison.status, else change.value, else status. Other findings (`other_findings`,
any shape) are never nodules; one that carries a category counts against the last row.

Matching, per passage: truth and predicted nodules pair greedily by cost: size difference in mm
(a pair needs |d| <= max(1.5 mm, 30 % of the true size)) + 0 for the same lobe (lingula and LUL are
the same lobe here), 1 if either lobe is unknown, 3 if the lobes differ; a predicted nodule
without a size pairs only with a same-lobe truth (cost 6). Unpaired predictions are false
positives, unpaired truth false negatives. A categorised unpaired prediction whose size is within
max(1 mm, 10 %) of a truth finding outside the lung counts as a category from outside the lung.

Usage: analyst-eval.py [--bin MEDSEAL] [--corpus FILE] [--floor METRIC:VALUE ...] [--json OUT]
                       [--verbose] [--quiet]
Metrics for --floor: precision, recall, size, composition, lobe, status, clean, resolved (a floor
is a minimum), outside, failures (a floor is a maximum). Exit 1 when a floor is not met.
Trusts the corpus file (the project's own) and the medseal binary it is given."""
import argparse, json, os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATUS = {"new": "new", "stable": "stable", "persistent": "stable", "unchanged": "stable",
          "growing": "growing", "slowly-growing": "growing", "increased": "growing", "enlarging": "growing",
          "decreased": "decreased", "shrinking": "decreased", "smaller": "decreased", "resolved": "resolved"}
COMP = {"solid": "solid", "part-solid": "part-solid", "partsolid": "part-solid", "part solid": "part-solid",
        "ground-glass": "ground-glass", "groundglass": "ground-glass", "ground glass": "ground-glass",
        "non-solid": "ground-glass", "nonsolid": "ground-glass", "ggn": "ground-glass", "ggo": "ground-glass",
        "cyst": "cyst", "cystic": "cyst"}
MAX_METRICS = ("outside", "failures")


def val(x, key):
    """x[key] may be an object with value/lobe, a plain string, or missing."""
    if isinstance(x, dict):
        x = x.get(key)
    return x if isinstance(x, (str, int, float)) else None


def lobe_norm(l):
    if not isinstance(l, str):
        return None
    l = l.strip()
    return "LUL" if l.lower() in ("lingula", "lul") else l.upper()


def category(f):
    for k in ("lung_rads", "fleischner"):
        c = f.get(k)
        if isinstance(c, dict) and c.get("category") not in (None, "", "not-applicable"):
            return True
    return False


def pred_nodule(f):
    size = f.get("size")
    mean = size.get("mean_diameter_mm") if isinstance(size, dict) else size if isinstance(size, (int, float)) else None
    comp = val(f.get("composition"), "value")
    loc = f.get("location")
    lobe = val(loc, "lobe") if isinstance(loc, dict) else loc if isinstance(loc, str) else None
    st = None
    cmpn = f.get("comparison")
    if isinstance(cmpn, dict) and isinstance(cmpn.get("status"), str):
        st = cmpn["status"]
    if st is None:
        st = val(f.get("change"), "value")
    if st is None and isinstance(f.get("status"), str):
        st = f["status"]
    return {"size": float(mean) if isinstance(mean, (int, float)) else None,
            "comp": COMP.get(comp.lower(), comp.lower()) if isinstance(comp, str) else None,
            "lobe": lobe, "status": STATUS.get(st, st) if isinstance(st, str) else None, "category": category(f),
            "resolved_flag": f.get("resolved") is True or st == "resolved"}


def current_nodules(rep):
    out = []
    for f in rep.get("findings") or []:
        if not isinstance(f, dict) or f.get("type", "nodule") != "nodule":
            continue
        p = pred_nodule(f)
        if p["resolved_flag"] and not p["category"]:
            continue
        out.append(p)
    return out


def match(truth, pred):
    cand = []
    for i, t in enumerate(truth):
        tl = lobe_norm(t.get("lobe"))
        for j, p in enumerate(pred):
            pl = lobe_norm(p["lobe"])
            lc = 0.0 if (tl and pl and tl == pl) else 1.0 if (tl is None or pl is None) else 3.0
            if p["size"] is None:
                if tl and pl and tl == pl:
                    cand.append((6.0, i, j))
                continue
            d = abs(p["size"] - t["size_mm"])
            if d <= max(1.5, 0.3 * t["size_mm"]):
                cand.append((d + lc, i, j))
    cand.sort()
    ti, pj, pairs = set(), set(), []
    for c, i, j in cand:
        if i in ti or j in pj:
            continue
        ti.add(i)
        pj.add(j)
        pairs.append((i, j))
    return pairs


def analyze(binary, text, tmpdir):
    path = os.path.join(tmpdir, "passage.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    p = subprocess.run([binary, "analyze", "--notes", path, "--format", "json"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        return None, p.stderr.decode(errors="replace").strip()[:200]
    try:
        return json.loads(p.stdout), None
    except ValueError:
        return None, "output is not JSON"


def score(binary, corpus, tmp, verbose):
    """Counts of one part of the corpus."""
    c = {k: 0 for k in ("tp", "fp", "fn", "size_ok", "comp_ok", "lobe_ok", "lobe_n", "status_ok", "status_n",
                        "clean_ok", "clean_n", "outside", "outside_n", "res_ok", "res_n", "failures")}
    bymod = {}
    for x in corpus:
        truth = x["truth"]
        tn = truth["nodules"]
        rep, err = analyze(binary, x["text"], tmp)
        if rep is None:
            c["failures"] += 1
            rep = {}
            if verbose:
                print("%s: analyze failed: %s" % (x["id"], err))
        pred = current_nodules(rep)
        pairs = match(tn, pred)
        m = bymod.setdefault(x["modality"], [0, 0, 0])
        m[0] += len(pairs)
        m[1] += len(pred) - len(pairs)
        m[2] += len(tn) - len(pairs)
        c["tp"] += len(pairs)
        c["fp"] += len(pred) - len(pairs)
        c["fn"] += len(tn) - len(pairs)
        notes = []
        for i, j in pairs:
            t, p = tn[i], pred[j]
            ok = p["size"] is not None and abs(p["size"] - t["size_mm"]) <= 0.05 + 1e-9
            c["size_ok"] += ok
            if not ok:
                notes.append("size %s for %s" % (p["size"], t["size_mm"]))
            tc = t.get("composition")
            ok = (p["comp"] in (None, "solid")) if tc is None else p["comp"] == tc
            c["comp_ok"] += ok
            if not ok:
                notes.append("composition %s for %s (%s mm)" % (p["comp"], tc, t["size_mm"]))
            if t.get("lobe"):
                c["lobe_n"] += 1
                ok = lobe_norm(p["lobe"]) == lobe_norm(t["lobe"])
                c["lobe_ok"] += ok
                if not ok:
                    notes.append("lobe %s for %s (%s mm)" % (p["lobe"], t["lobe"], t["size_mm"]))
            if t.get("status"):
                c["status_n"] += 1
                ok = p["status"] == t["status"]
                c["status_ok"] += ok
                if not ok:
                    notes.append("status %s for %s (%s mm %s)" % (p["status"], t["status"], t["size_mm"], t.get("lobe")))
        mi = {i for i, _ in pairs}
        mj = {j for _, j in pairs}
        for i, t in enumerate(tn):
            if i not in mi:
                notes.append("missed %s mm %s %s" % (t["size_mm"], t.get("composition"), t.get("lobe")))
        others = truth.get("other_findings", [])
        c["outside_n"] += len(others)
        cat_out = 0
        for j, p in enumerate(pred):
            if j in mj:
                continue
            notes.append("false %s mm %s %s%s" % (p["size"], p["comp"], p["lobe"], " (categorised)" if p["category"] else ""))
            if p["category"] and p["size"] is not None and any(
                    abs(p["size"] - o["size_mm"]) <= max(1.0, 0.1 * o["size_mm"]) for o in others):
                cat_out += 1
        for o in rep.get("other_findings") or []:
            if isinstance(o, dict) and category(o):
                cat_out += 1
        c["outside"] += cat_out
        if not tn:
            c["clean_n"] += 1
            c["clean_ok"] += not pred
        res = [pred_nodule(f) for f in (rep.get("resolved") or []) if isinstance(f, dict)]
        for t in truth.get("resolved", []):
            c["res_n"] += 1
            ok = any((r["size"] is None or abs(r["size"] - t["size_mm"]) <= 0.05 + 1e-9) and
                     lobe_norm(r["lobe"]) == lobe_norm(t["lobe"]) for r in res)
            c["res_ok"] += ok
            if not ok:
                notes.append("resolved %s mm %s not listed as resolved" % (t["size_mm"], t["lobe"]))
        if verbose and notes:
            print("%s: %s" % (x["id"], "; ".join(notes)))
    return c, bymod


def q(n, d):
    return n / d if d else 1.0


def metrics(c):
    tp = c["tp"]
    met = {"precision": q(tp, tp + c["fp"]), "recall": q(tp, tp + c["fn"]), "size": q(c["size_ok"], tp),
           "composition": q(c["comp_ok"], tp), "lobe": q(c["lobe_ok"], c["lobe_n"]),
           "status": q(c["status_ok"], c["status_n"]), "clean": q(c["clean_ok"], c["clean_n"]),
           "resolved": q(c["res_ok"], c["res_n"]), "outside": c["outside"], "failures": c["failures"]}
    met["counts"] = c
    return met


def table(name, corpus, c, bymod, met):
    tp = c["tp"]
    print("### Analyst on the report-language corpus, %s (%d passages: %s)" % (
        name, len(corpus), ", ".join("%s %d" % (k, sum(1 for x in corpus if x["modality"] == k)) for k in sorted(bymod))))
    print()
    print("| measure | value | counts |")
    print("|---|---|---|")
    print("| nodule detection precision / recall | %.2f / %.2f | TP %d, FP %d, FN %d |" % (
        met["precision"], met["recall"], tp, c["fp"], c["fn"]))
    print("| mean size (±0.05 mm) / composition / lobe | %.2f / %.2f / %.2f | %d, %d of %d matched; lobe %d of %d |" % (
        met["size"], met["composition"], met["lobe"], c["size_ok"], c["comp_ok"], tp, c["lobe_ok"], c["lobe_n"]))
    print("| status (new, stable, growing, decreased) | %.2f | %d of %d with a stated status |" % (
        met["status"], c["status_ok"], c["status_n"]))
    print("| excerpts with no lung nodule reported clean | %d of %d | |" % (c["clean_ok"], c["clean_n"]))
    print("| a Lung-RADS or Fleischner category from a finding outside the lung | %d | %d findings outside the lung |" % (
        c["outside"], c["outside_n"]))
    print("| resolved nodules listed as resolved | %d of %d | |" % (c["res_ok"], c["res_n"]))
    print("| passages where analyze failed | %d | |" % c["failures"])
    print()
    for k in sorted(bymod):
        t, f, n = bymod[k]
        print("%s: detection precision %.2f, recall %.2f (TP %d, FP %d, FN %d)" % (k, q(t, t + f), q(t, t + n), t, f, n))
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("MEDSEAL", os.path.join(ROOT, "build/medseal")))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "tests/analyst_corpus/corpus.jsonl"))
    ap.add_argument("--heldout", default=os.path.join(ROOT, "tests/analyst_corpus/heldout.jsonl"),
                    help="held-out passages scored and printed separately too ('none': skip)")
    ap.add_argument("--floor", action="append", default=[])
    ap.add_argument("--json")
    ap.add_argument("--verbose", action="store_true", help="print every passage's misses")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    if not os.access(a.bin, os.X_OK):
        sys.exit("analyst-eval: %s not built (run make)" % a.bin)
    try:
        corpus = [json.loads(l) for l in open(a.corpus, encoding="utf-8") if l.strip()]
    except (OSError, ValueError) as e:
        sys.exit("analyst-eval: cannot read the corpus: %s" % e.__class__.__name__)
    held = []
    if a.heldout != "none":
        try:
            held = [json.loads(l) for l in open(a.heldout, encoding="utf-8") if l.strip()]
        except (OSError, ValueError) as e:
            sys.exit("analyst-eval: cannot read the held-out part: %s" % e.__class__.__name__)
    tmp = tempfile.mkdtemp(prefix="analyst-eval-")
    parts = [("whole corpus", corpus, score(a.bin, corpus, tmp, a.verbose))]
    if held:
        parts.append(("held-out part (%s)" % os.path.basename(a.heldout), held, score(a.bin, held, tmp, a.verbose)))
    subprocess.run(["rm", "-rf", tmp])
    if held:
        c = {k: parts[0][2][0][k] + parts[1][2][0][k] for k in parts[0][2][0]}
        bymod = {}
        for _, _, (_, bm) in parts:
            for k, v in bm.items():
                m = bymod.setdefault(k, [0, 0, 0])
                for i in range(3):
                    m[i] += v[i]
        parts = [("whole corpus", corpus + held, (c, bymod)), ("main part (%s)" % os.path.basename(a.corpus),
                 corpus, parts[0][2]), parts[1]]
    allmet = {}
    for name, items, (c, bymod) in parts:
        met = metrics(c)
        met["passages"] = len(items)
        allmet[name] = met
        if not a.quiet:
            table(name, items, c, bymod, met)
    met = dict(allmet["whole corpus"])
    if held:
        for k, v in allmet[parts[2][0]].items():
            met["heldout." + k] = v
    if a.json:
        with open(a.json, "w") as f:
            json.dump(met, f, indent=1)
    bad = 0
    for fl in a.floor:
        k, _, v = fl.partition(":")
        if k not in met or not v:
            sys.exit("analyst-eval: unknown floor %s" % fl)
        got = met[k]
        if (got > float(v)) if k in MAX_METRICS else (got < float(v) - 1e-9):
            print("FLOOR %s = %.4f, floor %s" % (k, got, v))
            bad = 1
    sys.exit(bad)


main()

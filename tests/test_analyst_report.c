/*
 * Tests of the analyst report: the advertised request, studies from scripts/synth_study.py (repo
 * only) and ../shared/tools/make_study.py seeds 1-9 against their truth files, de-identification
 * of every format, the JSON schema, FHIR and HTML structure, geometry flags, prior JSON reports,
 * CLI errors and allocation failures.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "analyst/internal.h"
#include "medseal/analyst.h"
#include "analyst_util.h"
#include "test.h"

#define ADVERTISED                                                                                 \
    "Study: Chest CT, 2.3mm slice. Findings: 8mm ground-glass opacity, RUL, persistent across 3 "  \
    "studies. Generate structured impression with risk stratification."

static const char *path_str(json_t *j, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(j, a);
    if (b != NULL)
        v = json_object_get(v, b);
    if (c != NULL)
        v = json_object_get(v, c);
    return json_string_value(v);
}

TEST(test_analyst_report_advertised_request)
{
    json_t *j = an_t_run_text(ADVERTISED, NULL);
    CHECK(j != NULL);
    json_t *fs = json_object_get(j, "findings");
    CHECK_EQ_INT(json_array_size(fs), 1);
    json_t *f = json_array_get(fs, 0);
    CHECK(fabs(json_real_value(json_object_get(json_object_get(f, "size"), "mean_diameter_mm")) -
               8.0) < 1e-9);
    CHECK_STR(path_str(f, "composition", "value", NULL), "ground-glass");
    CHECK_STR(path_str(f, "location", "lobe", NULL), "RUL");
    CHECK_STR(path_str(f, "comparison", "status", NULL), "persistent");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(f, "comparison"), "studies")),
                 3);
    CHECK_STR(path_str(f, "lung_rads", "category", NULL), "2");
    CHECK_STR(path_str(f, "lung_rads", "rule", NULL), "lung-rads-2022/ggn-lt30");
    /* Fleischner: persistent solitary pure GGN >= 6 mm */
    CHECK_STR(path_str(f, "fleischner", "category", NULL), "ct-6-12m-then-2y-until-5y");
    CHECK_STR(path_str(f, "fleischner", "rule", NULL), "fleischner-2017/ggn-single-ge6");
    CHECK_STR(path_str(j, "assessment", "lung_rads", "category"), "2");
    CHECK_STR(path_str(j, "engine", "version", NULL), MS_VERSION);
    CHECK_STR(path_str(j, "guidelines", "lung_rads", NULL), "lung-rads-2022");
    CHECK(json_is_true(json_object_get(j, "deidentified")));
    json_decref(j);
    return 0;
}

TEST(test_analyst_report_text_format_of_advertised_request)
{
    an_report *r = NULL;
    CHECK(an_report_new(NULL, &r, NULL) == MS_OK);
    CHECK(an_add_text(r, ADVERTISED, strlen(ADVERTISED), "user", NULL) == MS_OK);
    CHECK(an_run(r, NULL) == MS_OK);
    CHECK(an_run(r, NULL) == MS_E_INVAL); /* once only */
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(an_report_text(r, &b, NULL) == MS_OK);
    const char *t = (const char *)b.p;
    CHECK(strstr(t, "Persistent 8.0 mm ground-glass nodule in the right upper lobe (RUL)") != NULL);
    CHECK(strstr(t, "Lung-RADS v2022 category 2") != NULL);
    CHECK(strstr(t, "ct-6-12m-then-2y-until-5y") != NULL);
    CHECK(strstr(t, "[lung-rads-2022/ggn-lt30]") != NULL);
    ms_buf_free(&b);
    CHECK_EQ_INT(an_report_finding_count(r), 1);
    an_report_free(r);
    return 0;
}

TEST(test_analyst_report_negative_and_birads)
{
    json_t *j = an_t_run_text("Lungs: no pulmonary nodules. No pleural effusion.", NULL);
    CHECK(j != NULL);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "findings")), 0);
    CHECK_STR(path_str(j, "assessment", "lung_rads", "category"), "1");
    CHECK_STR(path_str(j, "assessment", "lung_rads", "rule"), "lung-rads-2022/1-no-nodules");
    json_decref(j);
    j = an_t_run_text("Left breast: irregular 14 mm mass at 2 o'clock. BI-RADS 4C.", NULL);
    CHECK_STR(path_str(j, "assessment", "bi_rads", "category"), "4C");
    CHECK_STR(path_str(j, "assessment", "bi_rads", "rule"), "bi-rads-2013/carried-from-report");
    CHECK(json_is_null(json_object_get(json_object_get(j, "assessment"), "lung_rads")));
    json_decref(j);
    /* an earlier size in the text decides growth without priors */
    j = an_t_run_text("6 mm RUL nodule, previously 4 mm.", NULL);
    CHECK_STR(
        path_str(json_array_get(json_object_get(j, "findings"), 0), "comparison", "status", NULL),
        "growing");
    CHECK_STR(path_str(j, "assessment", "lung_rads", "category"), "4A");
    json_decref(j);
    /* a stated Lung-RADS that disagrees with the rules is flagged, not silently accepted */
    j = an_t_run_text("New 9 mm solid nodule in the LLL. Lung-RADS 2.", NULL);
    CHECK(json_array_size(json_object_get(j, "warnings")) == 1);
    json_decref(j);
    return 0;
}

/* ---- synthetic studies ---- */

static int gen_synth(const char *dir, int seed, int studies)
{
    return ms_test_sh(NULL,
                      "/usr/bin/python3 %s/scripts/synth_study.py %s --studies %d --slices 6 "
                      "--size 32 --seed %d 2>/dev/null",
                      ms_test_root(), dir, studies, seed);
}

static json_t *analyze_dir(const char *dir, int studies, const an_opts *opts)
{
    an_report *r = NULL;
    json_t *j = NULL;
    char p[4096];
    if (an_report_new(opts, &r, NULL) != MS_OK)
        return NULL;
    ms_err err = {0};
    snprintf(p, sizeof p, "%s/study_%d", dir, studies);
    ms_rc rc = an_add_dir(r, p, 0, &err);
    for (int k = 1; rc == MS_OK && k < studies; k++) {
        snprintf(p, sizeof p, "%s/study_%d", dir, k);
        rc = an_add_dir(r, p, 1, &err);
    }
    if (rc == MS_OK)
        rc = an_run(r, &err);
    if (rc == MS_OK)
        rc = an_report_json(r, &j, &err);
    if (rc != MS_OK)
        fprintf(stderr, "  analyze: %s\n", err.msg);
    an_report_free(r);
    return j;
}

static json_t *load(const char *dir, const char *name)
{
    char p[4096];
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, name) >= sizeof p)
        return NULL;
    return json_load_file(p, 0, NULL);
}

/* the finding in the current study with this lobe, or NULL */
static json_t *by_lobe(json_t *j, const char *lobe)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(j, "findings"), i, f)
    {
        const char *l = path_str(f, "location", "lobe", NULL);
        if (l != NULL && strcmp(l, lobe) == 0)
            return f;
    }
    return NULL;
}

/* Each truth nodule: the history's sizes equal the truth per study; status follows them. */
static int check_truth_track(json_t *j, json_t *truth_studies, size_t k, const char *lobe,
                             const char *comp)
{
    json_t *f = by_lobe(j, lobe);
    if (f == NULL || strcmp(path_str(f, "composition", "value", NULL), comp) != 0)
        return 1;
    json_t *h = json_object_get(json_object_get(f, "comparison"), "history");
    if (json_array_size(h) != json_array_size(truth_studies))
        return 1;
    double first = 0, last = 0;
    for (size_t s = 0; s < json_array_size(h); s++) {
        json_t *tn =
            json_array_get(json_object_get(json_array_get(truth_studies, s), "nodules"), k);
        double want = json_number_value(json_object_get(tn, "mean_diameter_mm"));
        double got = json_number_value(json_object_get(json_array_get(h, s), "mean_diameter_mm"));
        if (fabs(want - got) > 1e-9) {
            fprintf(stderr, "  %s study %zu: %.2f, truth %.2f\n", lobe, s + 1, got, want);
            return 1;
        }
        first = s == 0 ? want : first;
        last = want;
    }
    const char *st = path_str(f, "comparison", "status", NULL);
    /* growth: > 1.5 mm within the studied interval (all synthetic series span <= 12 months) */
    const char *want = last - first > 1.5           ? "growing"
                       : strcmp(comp, "solid") == 0 ? "stable"
                                                    : "persistent";
    if (st == NULL || strcmp(st, want) != 0) {
        fprintf(stderr, "  %s: status %s, want %s\n", lobe, st ? st : "(null)", want);
        return 1;
    }
    return 0;
}

TEST(test_analyst_report_synth_study_truth)
{
    const char *tmp = ms_test_tmpdir();
    CHECK(gen_synth(tmp, 1, 3) == 0);
    json_t *truth = load(tmp, "truth.json");
    CHECK(truth != NULL);
    json_t *j = analyze_dir(tmp, 3, NULL);
    CHECK(j != NULL);
    json_t *ts = json_object_get(truth, "studies");
    json_t *last = json_object_get(json_array_get(ts, json_array_size(ts) - 1), "nodules");
    CHECK_EQ_INT(json_array_size(json_object_get(j, "findings")), json_array_size(last));
    for (size_t k = 0; k < json_array_size(last); k++) {
        json_t *n = json_array_get(last, k);
        CHECK(check_truth_track(j, ts, k, json_string_value(json_object_get(n, "lobe")),
                                json_string_value(json_object_get(n, "composition"))) == 0);
    }
    CHECK_EQ_INT(json_array_size(json_object_get(j, "priors")), 2);
    json_decref(j);
    json_decref(truth);
    return 0;
}

static const char *lobe_of(const char *abbr)
{
    return abbr; /* make_study writes the lobe abbreviation already */
}

TEST(test_analyst_report_make_study_seeds_1_to_9)
{
    const char *shared = ms_test_shared();
    if (shared == NULL)
        SKIP("../shared not present");
    for (int seed = 1; seed <= 9; seed++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/seed%d", ms_test_tmpdir(), seed);
        CHECK(ms_test_sh(NULL,
                         "/usr/bin/python3 %s/tools/make_study.py %s --slices 4 --size 32 "
                         "--studies 3 --seed %d 2>/dev/null",
                         shared, dir, seed) == 0);
        json_t *m = load(dir, "manifest.json");
        json_t *j = analyze_dir(dir, 3, NULL);
        CHECK(m != NULL && j != NULL);
        json_t *ts = json_object_get(m, "studies");
        json_t *n0 = json_object_get(json_array_get(ts, 0), "nodule");
        const char *lobe = lobe_of(json_string_value(json_object_get(n0, "lobe")));
        const char *type = json_string_value(json_object_get(n0, "type"));
        CHECK_EQ_INT(json_array_size(json_object_get(j, "findings")), 1);
        json_t *f = by_lobe(j, lobe);
        if (f == NULL) {
            fprintf(stderr, "  seed %d: no finding in %s\n", seed, lobe);
            return 1;
        }
        CHECK_STR(path_str(f, "composition", "value", NULL), type);
        json_t *h = json_object_get(json_object_get(f, "comparison"), "history");
        CHECK_EQ_INT(json_array_size(h), 3);
        for (size_t s = 0; s < 3; s++) {
            double want = json_number_value(json_object_get(
                json_object_get(json_array_get(ts, s), "nodule"), "mean_diameter_mm"));
            double got =
                json_number_value(json_object_get(json_array_get(h, s), "mean_diameter_mm"));
            if (fabs(want - got) > 1e-9) {
                fprintf(stderr, "  seed %d study %zu: %.2f, truth %.2f\n", seed, s + 1, got, want);
                return 1;
            }
        }
        double d0 = json_number_value(
            json_object_get(json_object_get(json_array_get(ts, 0), "nodule"), "mean_diameter_mm"));
        double d2 = json_number_value(
            json_object_get(json_object_get(json_array_get(ts, 2), "nodule"), "mean_diameter_mm"));
        /* the status follows from the truth: > 1.5 mm up within 12 months is growth */
        const char *want = d2 - d0 > 1.5                ? "growing"
                           : strcmp(type, "solid") == 0 ? "stable"
                                                        : "persistent";
        CHECK_STR(path_str(f, "comparison", "status", NULL), want);
        if (strcmp(want, "growing") == 0)
            CHECK_STR(path_str(f, "comparison", "lung_rads_growth", NULL), "growing");
        json_decref(j);
        json_decref(m);
    }
    return 0;
}

/* ---- de-identification ---- */

static int contains_any(const char *out, json_t *phi)
{
    size_t i;
    json_t *v;
    json_array_foreach(phi, i, v)
    {
        const char *s = json_string_value(v);
        if (s != NULL && strlen(s) >= 4 && strstr(out, s) != NULL) {
            fprintf(stderr, "  planted value #%zu found in the output\n", i);
            return 1;
        }
    }
    return 0;
}

TEST(test_analyst_report_deidentified_in_every_format)
{
    const char *tmp = ms_test_tmpdir();
    CHECK(gen_synth(tmp, 2, 2) == 0);
    json_t *truth = load(tmp, "truth.json");
    json_t *phi = json_object_get(truth, "planted_phi");
    CHECK(json_array_size(phi) > 3);
    const char *fmts[] = {"json", "text", "fhir", "html"};
    for (size_t i = 0; i < 4; i++) {
        char *out = NULL;
        CHECK(ms_test_sh(&out, "%s analyze %s/study_2 --prior %s/study_1 --format %s",
                         ms_test_medseal(), tmp, tmp, fmts[i]) == 0);
        CHECK(out != NULL && strlen(out) > 100);
        int leak = contains_any(out, phi);
        /* dates: no full study date survives (years only) */
        size_t k;
        json_t *st;
        json_array_foreach(json_object_get(truth, "studies"), k, st)
        {
            const char *d = json_string_value(json_object_get(st, "date"));
            char iso[16];
            snprintf(iso, sizeof iso, "%.4s-%.2s-%.2s", d, d + 4, d + 6);
            leak |= strstr(out, d) != NULL || strstr(out, iso) != NULL;
        }
        free(out);
        if (leak) {
            fprintf(stderr, "  format %s leaks\n", fmts[i]);
            return 1;
        }
    }
    /* with --phi the texts and full dates are there */
    char *out = NULL;
    CHECK(ms_test_sh(&out, "%s analyze %s/study_2 --prior %s/study_1 --format json --phi",
                     ms_test_medseal(), tmp, tmp) == 0);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    CHECK(j != NULL);
    CHECK(json_is_false(json_object_get(j, "deidentified")));
    const char *date = path_str(j, "study", "date", NULL);
    CHECK(date != NULL && strlen(date) == 10);
    json_decref(j);
    json_decref(truth);
    return 0;
}

/* A small JSON Schema checker (type, required, properties, additionalProperties, items, enum,
 * const, oneOf, allOf, $ref, minItems, maxItems, pattern, minimum): enough for
 * docs/report.schema.json without a third-party validator. */
static const char validator_py[] =
    "import json,re,sys\n"
    "S=json.load(open(sys.argv[1]))\n"
    "def ref(r):\n"
    "  n=S\n"
    "  for p in r[2:].split('/'): n=n[p]\n"
    "  return n\n"
    "T={'object':dict,'array':list,'string':str,'boolean':bool,'null':type(None)}\n"
    "def ty(v,t):\n"
    "  if t=='integer': return isinstance(v,int) and not isinstance(v,bool)\n"
    "  if t=='number': return isinstance(v,(int,float)) and not isinstance(v,bool)\n"
    "  return isinstance(v,T[t])\n"
    "def ok(v,s,p):\n"
    "  if '$ref' in s: ok(v,ref(s['$ref']),p)\n"
    "  if 'type' in s:\n"
    "    ts=s['type'] if isinstance(s['type'],list) else [s['type']]\n"
    "    assert any(ty(v,t) for t in ts),(p,'type')\n"
    "  if 'const' in s: assert v==s['const'],(p,'const')\n"
    "  if 'enum' in s: assert v in s['enum'],(p,'enum',v)\n"
    "  if 'allOf' in s:\n"
    "    for x in s['allOf']: ok(v,x,p)\n"
    "  if 'oneOf' in s:\n"
    "    n=0\n"
    "    for x in s['oneOf']:\n"
    "      try: ok(v,x,p); n+=1\n"
    "      except AssertionError: pass\n"
    "    assert n==1,(p,'oneOf',n)\n"
    "  if isinstance(v,dict):\n"
    "    for r in s.get('required',[]): assert r in v,(p,'required',r)\n"
    "    pr=s.get('properties',{})\n"
    "    for k,x in v.items():\n"
    "      if k in pr: ok(x,pr[k],p+'.'+k)\n"
    "      else: assert s.get('additionalProperties',True)!=False,(p,'extra',k)\n"
    "  if isinstance(v,list):\n"
    "    assert len(v)>=s.get('minItems',0),(p,'minItems')\n"
    "    assert len(v)<=s.get('maxItems',1<<30),(p,'maxItems')\n"
    "    for i,x in enumerate(v):\n"
    "      if 'items' in s: ok(x,s['items'],p+'[%d]'%i)\n"
    "  if isinstance(v,str) and 'pattern' in s: assert re.search(s['pattern'],v),(p,'pattern')\n"
    "  if 'minimum' in s and ty(v,'number'): assert v>=s['minimum'],(p,'minimum')\n"
    "for f in sys.argv[2:]: ok(json.load(open(f)),S,f)\n";

TEST(test_analyst_report_json_matches_schema)
{
    const char *tmp = ms_test_tmpdir();
    CHECK(gen_synth(tmp, 3, 3) == 0);
    char py[4096];
    snprintf(py, sizeof py, "%s/validate.py", tmp);
    FILE *f = fopen(py, "w");
    CHECK(f != NULL);
    fputs(validator_py, f);
    fclose(f);
    const char *M = ms_test_medseal();
    CHECK(ms_test_sh(NULL,
                     "%s analyze %s/study_3 --prior %s/study_1 --prior %s/study_2 --format json "
                     "> %s/a.json && %s analyze %s/study_3 --format json --phi > %s/b.json && "
                     "%s analyze --text '%s' --format json > %s/c.json && %s analyze --text "
                     "'No nodules. BI-RADS 2. Lung-RADS 1.' --format json > %s/d.json",
                     M, tmp, tmp, tmp, tmp, M, tmp, tmp, M, ADVERTISED, tmp, M, tmp) == 0);
    CHECK(ms_test_sh(NULL,
                     "/usr/bin/python3 %s %s/docs/report.schema.json %s/a.json %s/b.json "
                     "%s/c.json %s/d.json",
                     py, ms_test_root(), tmp, tmp, tmp, tmp) == 0);
    /* the checker itself rejects a broken report */
    CHECK(ms_test_sh(NULL,
                     "/usr/bin/python3 -c \"import json;j=json.load(open('%s/a.json'));"
                     "j['findings'][0]['lung_rads']['category']=5;json.dump(j,open('%s/e.json',"
                     "'w'))\" && /usr/bin/python3 %s %s/docs/report.schema.json %s/e.json "
                     "2>/dev/null",
                     tmp, tmp, py, ms_test_root(), tmp) != 0);
    return 0;
}

/* the resource of the Bundle entry whose fullUrl is url, or NULL */
static json_t *fhir_entry(json_t *entries, const char *url)
{
    size_t k;
    json_t *e;
    json_array_foreach(entries, k, e)
    {
        const char *u = json_string_value(json_object_get(e, "fullUrl"));
        if (u != NULL && url != NULL && strcmp(u, url) == 0)
            return json_object_get(e, "resource");
    }
    return NULL;
}

TEST(test_analyst_report_fhir_and_html_structure)
{
    const char *tmp = ms_test_tmpdir();
    CHECK(gen_synth(tmp, 4, 2) == 0);
    char *out = NULL;
    CHECK(ms_test_sh(&out, "%s analyze %s/study_2 --prior %s/study_1 --format fhir",
                     ms_test_medseal(), tmp, tmp) == 0);
    json_t *b = json_loads(out, 0, NULL);
    free(out);
    CHECK(b != NULL);
    CHECK_STR(path_str(b, "resourceType", NULL, NULL), "Bundle");
    json_t *entries = json_object_get(b, "entry");
    json_t *dr = json_object_get(json_array_get(entries, 0), "resource");
    CHECK_STR(path_str(dr, "resourceType", NULL, NULL), "DiagnosticReport");
    /* the subject is a Patient of the bundle; de-identified, it holds no identifier or name */
    CHECK(json_object_get(dr, "subject") != NULL);
    /* every result reference resolves to an Observation in the bundle; a nodule's group
     * Observation has its size (LOINC 21889-1) as a member */
    size_t i;
    json_t *ref;
    int sizes = 0;
    json_array_foreach(json_object_get(dr, "result"), i, ref)
    {
        json_t *res = fhir_entry(entries, json_string_value(json_object_get(ref, "reference")));
        CHECK(res != NULL);
        CHECK_STR(path_str(res, "resourceType", NULL, NULL), "Observation");
        CHECK(json_object_get(res, "subject") != NULL);
        size_t k;
        json_t *m;
        json_array_foreach(json_object_get(res, "hasMember"), k, m)
        {
            json_t *mem = fhir_entry(entries, json_string_value(json_object_get(m, "reference")));
            CHECK(mem != NULL);
            json_t *c0 =
                json_array_get(json_object_get(json_object_get(mem, "code"), "coding"), 0);
            const char *code = json_string_value(json_object_get(c0, "code"));
            sizes += code != NULL && strcmp(code, "21889-1") == 0;
        }
    }
    CHECK(sizes >= 1);
    json_decref(b);
    out = NULL;
    CHECK(ms_test_sh(&out, "%s analyze %s/study_2 --prior %s/study_1 --format html",
                     ms_test_medseal(), tmp, tmp) == 0);
    CHECK(strncmp(out, "<!DOCTYPE html>", 15) == 0);
    CHECK(strstr(out, "<svg") != NULL && strstr(out, "<polyline") != NULL);
    CHECK(strstr(out, "<script") == NULL && strstr(out, "src=") == NULL &&
          strstr(out, "href=") == NULL);
    CHECK(strstr(out, "</html>") != NULL);
    free(out);
    /* the chart is well-formed SVG (XML), so it can be lifted out of the page */
    CHECK(ms_test_sh(NULL,
                     "%s analyze %s/study_2 --prior %s/study_1 --format html | grep -o "
                     "'<svg.*</svg>' | /usr/bin/python3 -c \"import sys,xml.dom.minidom as m; "
                     "d=m.parseString(sys.stdin.read()); "
                     "sys.exit(0 if d.getElementsByTagName('circle') else 1)\"",
                     ms_test_medseal(), tmp, tmp) == 0);
    return 0;
}

TEST(test_analyst_report_html_escapes_text)
{
    an_opts o = {0};
    o.phi = 1;
    json_t *j = NULL;
    an_report *r = NULL;
    const char *t = "8 mm <script>alert(1)</script> solid nodule in the RUL.";
    CHECK(an_report_new(&o, &r, NULL) == MS_OK);
    CHECK(an_add_text(r, t, strlen(t), "user", NULL) == MS_OK);
    CHECK(an_run(r, NULL) == MS_OK);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(an_report_html(r, &b, NULL) == MS_OK);
    CHECK(strstr((const char *)b.p, "<script") == NULL);
    ms_buf_free(&b);
    CHECK(an_report_json(r, &j, NULL) == MS_OK);
    json_decref(j);
    an_report_free(r);
    return 0;
}

/* ---- series geometry ---- */

TEST(test_analyst_report_series_gaps_and_geometry)
{
    const char *tmp = ms_test_tmpdir();
    CHECK(gen_synth(tmp, 5, 1) == 0);
    json_t *j = analyze_dir(tmp, 1, NULL);
    json_t *s = json_array_get(json_object_get(json_object_get(j, "study"), "series"), 0);
    CHECK(s != NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(s, "images")), 6);
    CHECK_EQ_INT(json_integer_value(json_object_get(s, "gaps")), 0);
    CHECK_EQ_INT(json_array_size(json_object_get(s, "flags")), 0);
    double spacing = json_number_value(json_object_get(s, "spacing_mm"));
    CHECK(spacing > 0);
    json_decref(j);
    /* remove a middle slice: one gap of twice the spacing */
    CHECK(ms_test_sh(NULL, "cd %s/study_1/CT && rm \"$(ls | sort | sed -n 3p)\"", tmp) == 0);
    j = analyze_dir(tmp, 1, NULL);
    s = json_array_get(json_object_get(json_object_get(j, "study"), "series"), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(s, "gaps")), 1);
    CHECK(fabs(json_number_value(json_object_get(s, "spacing_mm")) - spacing) < 1e-6);
    CHECK_STR(json_string_value(json_array_get(json_object_get(s, "flags"), 0)),
              "gaps in slice positions");
    json_decref(j);
    /* a duplicated slice: a duplicate position */
    CHECK(ms_test_sh(NULL,
                     "cd %s/study_1/CT && f=\"$(ls | sort | head -1)\" && cp \"$f\" "
                     "\"zz_$f\"",
                     tmp) == 0);
    j = analyze_dir(tmp, 1, NULL);
    s = json_array_get(json_object_get(json_object_get(j, "study"), "series"), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(s, "duplicate_positions")), 1);
    json_decref(j);
    return 0;
}

/* ---- priors as JSON reports ---- */

TEST(test_analyst_report_prior_as_json_report)
{
    an_report *r = NULL;
    json_t *prior = an_t_run_text("Baseline: 5 mm solid nodule in the LLL.", NULL);
    CHECK(prior != NULL);
    /* give it a date so the interval is known */
    json_object_set_new(json_object_get(prior, "study"), "date", json_string("2024-01-10"));
    CHECK(an_report_new(NULL, &r, NULL) == MS_OK);
    const char *now = "7 mm solid nodule in the LLL.";
    CHECK(an_add_text(r, now, strlen(now), "notes", NULL) == MS_OK);
    CHECK(an_add_prior(r, NULL, 0, NULL, 0, NULL, NULL) == MS_OK); /* an empty prior is allowed */
    CHECK(an_add_prior_report(r, prior, NULL) == MS_OK);
    CHECK(an_run(r, NULL) == MS_OK);
    json_t *j = NULL;
    CHECK(an_report_json(r, &j, NULL) == MS_OK);
    json_t *f = json_array_get(json_object_get(j, "findings"), 0);
    CHECK_STR(path_str(f, "comparison", "status", NULL), "growing");
    CHECK_STR(path_str(f, "lung_rads", "category", NULL), "4A"); /* growing < 8 mm */
    json_decref(j);
    json_decref(prior);
    an_report_free(r);
    /* a resolved nodule */
    CHECK(an_report_new(NULL, &r, NULL) == MS_OK);
    const char *p1 = "6 mm solid nodule in the RML.", *c1 = "No pulmonary nodules.";
    CHECK(an_add_prior(r, NULL, 0, p1, strlen(p1), "20240101", NULL) == MS_OK);
    CHECK(an_add_text(r, c1, strlen(c1), "notes", NULL) == MS_OK);
    CHECK(an_run(r, NULL) == MS_OK);
    CHECK(an_report_json(r, &j, NULL) == MS_OK);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "resolved")), 1);
    json_decref(j);
    an_report_free(r);
    return 0;
}

/* ---- the text writer ---- */

/* The text of a report with most of what it can say (history, change, VDT readings, features,
 * notes, BI-RADS, resolved nodule, warnings), as the JSON-tree renderer wrote it before the text
 * was rendered from the structs: byte for byte. */
static const char text_golden[] =
    "MEDSEAL STRUCTURED REPORT (de-identified)\n"
    "engine medseal-analyst 0.1.0; guidelines lung-rads-2022, fleischner-2017, bi-rads-2013\n"
    "\n"
    "STUDY\n"
    "  - -, -; patient sex -, age -\n"
    "  Description: -\n"
    "  DICOM files 0, SR documents 0, unreadable 0\n"
    "PRIORS\n"
    "  1. - -: 0 files, 3 nodule(s) described\n"
    "\n"
    "FINDINGS\n"
    "  N1  6.3 mm part-solid nodule, location not stated  [user, 1 mention(s)]\n"
    "      axes: 6.5 mm x 6.0 mm\n"
    "      text: [0, 28)\n"
    "      status: shrinking (2 studies)\n"
    "      earlier size stated in the text: 5.0 mm\n"
    "      history: 8.5 mm (-) -> 6.3 mm (-)\n"
    "      change: -2.2 mm (-26.5%) since prior (-); -2.2 mm (-26.5%) since first; Lung-RADS "
    "growth: decreased\n"
    "      volume doubling time: no growth: VDT not defined\n"
    "      Lung-RADS v2022: 3  [lung-rads-2022/part-solid-baseline-solid-lt6] part-solid nodule >= "
    "6 mm total, solid component < 6 mm at baseline\n"
    "        note: stable: category by size (stepped-management interval not met or unknown)\n"
    "      Fleischner 2017: ct-3-6m-then-most-suspicious  [fleischner-2017/subsolid-multiple-ge6] "
    "CT at 3-6 months; subsequent management based on the most suspicious nodule(s).\n"
    "  N2  3.0 mm nodule (composition not stated), lingula (lingula)  [user, 1 mention(s)]\n"
    "      axes: 3.0 mm\n"
    "      text: [133, 169)\n"
    "      features: calcification\n"
    "      status: persistent (2 studies)\n"
    "      history: 4.0 mm (-) -> 3.0 mm (-)\n"
    "      change: -1.0 mm (-25.0%) since prior (-); -1.0 mm (-25.0%) since first; Lung-RADS "
    "growth: stable\n"
    "      volume doubling time: no growth: VDT not defined\n"
    "      Lung-RADS v2022: 1  [lung-rads-2022/1-benign-features] nodule with benign features: "
    "complete, central, popcorn or concentric ring calcification, or fat-containing\n"
    "        note: stable: mean diameter change <= 1.5 mm\n"
    "      Fleischner 2017: no-follow-up  [fleischner-2017/benign-features] Benign calcification "
    "or fat: no follow-up.\n"
    "        note: composition not stated: read as solid; risk not stated: high-risk row\n"
    "\n"
    "BREAST ASSESSMENT (carried from the report)\n"
    "  BI-RADS 4A stated in user: Low suspicion for malignancy (likelihood of malignancy > 2% to "
    "<= 10%)\n"
    "\n"
    "IMPRESSION\n"
    "  1. Shrinking 6.3 mm part-solid nodule; 8.5 mm on the first of 2 studies, -2.25 mm.\n"
    "  2. Persistent 3.0 mm nodule in the lingula (lingula); 4.0 mm on the first of 2 studies, "
    "-1.0 mm.\n"
    "  3. Resolved: the  nodule in the right middle lobe seen on a prior study is not described "
    "now.\n"
    "  4. Lung-RADS v2022 category 3 (most suspicious nodule): LDCT in 6 months. "
    "[lung-rads-2022/part-solid-baseline-solid-lt6]\n"
    "  5. Fleischner 2017 (incidental nodules, not screening): ct-3-6m-then-most-suspicious - CT "
    "at 3-6 months; subsequent management based on the most suspicious nodule(s). "
    "[fleischner-2017/subsolid-multiple-ge6]\n"
    "  6. BI-RADS 4A (carried from the report): Low suspicion for malignancy. Tissue diagnosis "
    "(biopsy). [bi-rads-2013/carried-from-report]\n"
    "\n"
    "WARNINGS\n"
    "  - prior report 1: date not usable (de-identified year only?)\n"
    "\n"
    "Categories are computed by deterministic rules from the extracted findings; each names the "
    "guideline row that produced it. Verify the extracted measurements against the images.\n";

TEST(test_analyst_report_text_golden)
{
    const char *now = "6.5 x 6 mm part-solid nodule with a 4 mm solid component in the apical "
                      "segment of the right upper lobe, spiculated, previously 5 mm. 3 mm "
                      "calcified nodule in the lingula. BI-RADS 4A.";
    json_t *prior = json_loads(
        "{\"study\":{\"date\":\"2023\"},\"findings\":["
        "{\"type\":\"nodule\",\"size\":{\"axes_mm\":[4.0]},\"composition\":{\"value\":"
        "\"ground-glass\"},\"location\":{\"lobe\":\"lingula\"}},"
        "{\"type\":\"nodule\",\"size\":{\"axes_mm\":[9.0,8.0]},\"composition\":{\"value\":"
        "\"part-solid\"},\"location\":{\"lobe\":\"LLL\"}},"
        "{\"type\":\"nodule\",\"size\":{\"axes_mm\":[3.0]},\"location\":{\"lobe\":\"RML\"}}]}",
        0, NULL);
    CHECK(prior != NULL);
    an_report *r = NULL;
    CHECK(an_report_new(NULL, &r, NULL) == MS_OK);
    CHECK(an_add_text(r, now, strlen(now), "user", NULL) == MS_OK);
    CHECK(an_add_prior_report(r, prior, NULL) == MS_OK);
    json_decref(prior);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(an_report_text(r, &b, NULL) == MS_E_INVAL); /* before an_run */
    CHECK(an_run(r, NULL) == MS_OK);
    CHECK(an_report_text(r, &b, NULL) == MS_OK);
    CHECK_EQ_INT(b.len, sizeof text_golden - 1);
    CHECK_STR((const char *)b.p, text_golden);
    /* into a buffer with a cap: the limit, never a cut line */
    ms_buf small;
    ms_buf_init(&small, NULL, 300);
    CHECK(an_report_text(r, &small, NULL) == MS_E_LIMIT);
    CHECK(small.len <= 300);
    ms_buf_free(&small);
    ms_buf_init(&small, NULL, b.len);
    CHECK(an_report_text(r, &small, NULL) == MS_OK); /* exactly enough */
    CHECK_EQ_INT(small.len, b.len);
    ms_buf_free(&small);
    ms_buf_free(&b);
    an_report_free(r);
    return 0;
}

/* A value the JSON leaves out (jansson refuses a string that is not UTF-8: here a source name)
 * reads "-" in the text, as it did when the text was rendered from the JSON. */
TEST(test_analyst_report_text_invalid_utf8_as_json)
{
    const char *now = "6 mm solid nodule in the right upper lobe. BI-RADS 2.";
    an_report *r = NULL;
    CHECK(an_report_new(NULL, &r, NULL) == MS_OK);
    CHECK(an_add_text(r, now, strlen(now), "bad\xC3", NULL) == MS_OK);
    CHECK(an_run(r, NULL) == MS_OK);
    json_t *j = NULL;
    CHECK(an_report_json(r, &j, NULL) == MS_OK);
    json_t *f = json_array_get(json_object_get(j, "findings"), 0);
    CHECK(f != NULL && json_object_get(f, "source") == NULL);
    CHECK(json_object_get(json_array_get(json_object_get(j, "bi_rads"), 0), "source") == NULL);
    json_decref(j);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(an_report_text(r, &b, NULL) == MS_OK);
    CHECK(strstr((const char *)b.p, "[-, 1 mention(s)]") != NULL);
    CHECK(strstr((const char *)b.p, "BI-RADS 2 stated in -: Benign") != NULL);
    CHECK(strstr((const char *)b.p, "bad") == NULL);
    ms_buf_free(&b);
    an_report_free(r);
    return 0;
}

TEST(test_analyst_report_bad_inputs)
{
    an_report *r = NULL;
    ms_err err = {0};
    an_opts o = {0};
    o.context = "hospital";
    CHECK(an_report_new(&o, &r, &err) == MS_E_INVAL);
    CHECK(an_report_new(NULL, &r, NULL) == MS_OK);
    CHECK(an_add_text(r, "a\0b", 3, "notes", &err) == MS_E_FORMAT);
    CHECK(an_add_prior(r, NULL, 0, "x", 1, "2024-13-45", NULL) == MS_E_FORMAT);
    CHECK(an_add_dir(r, "/nonexistent/medseal", 0, NULL) == MS_E_NOTFOUND);
    json_t *bad = json_pack("{s:i}", "findings", 3);
    CHECK(an_add_prior_report(r, bad, NULL) == MS_E_FORMAT);
    json_decref(bad);
    json_t *out = NULL;
    CHECK(an_report_json(r, &out, NULL) == MS_E_INVAL); /* before an_run */
    an_report_free(r);
    an_report_free(NULL);
    /* CLI: one line, non-zero */
    char *o2 = NULL;
    CHECK(ms_test_sh(&o2, "%s analyze /nonexistent/x 2>&1", ms_test_medseal()) == 1);
    CHECK(o2 != NULL && strchr(o2, '\n') == o2 + strlen(o2) - 1);
    free(o2);
    CHECK(ms_test_sh(NULL, "%s analyze --format pdf --text x 2>/dev/null", ms_test_medseal()) == 2);
    CHECK(ms_test_sh(NULL, "%s analyze 2>/dev/null", ms_test_medseal()) == 2);
    /* a folder of garbage files: counted as unreadable, then "no DICOM and no note" */
    CHECK(ms_test_sh(NULL, "mkdir -p %s/junk && head -c 1000 /dev/urandom > %s/junk/a.dcm",
                     ms_test_tmpdir(), ms_test_tmpdir()) == 0);
    CHECK(ms_test_sh(NULL, "%s analyze %s/junk 2>/dev/null", ms_test_medseal(), ms_test_tmpdir()) ==
          1);
    return 0;
}

TEST(test_analyst_report_alloc_failure_sweep)
{
    for (long n = 1; n < 400; n++) {
        ms_alloc a = {0};
        a.fail_at = n;
        an_opts o = {0};
        o.alloc = &a;
        an_report *r = NULL;
        ms_rc rc = an_report_new(&o, &r, NULL);
        if (rc == MS_OK)
            rc = an_add_text(r, ADVERTISED, strlen(ADVERTISED), "user", NULL);
        if (rc == MS_OK)
            rc = an_add_prior(r, NULL, 0, "6 mm GGO in the RUL.", 20, "20230101", NULL);
        if (rc == MS_OK)
            rc = an_run(r, NULL);
        CHECK(rc == MS_OK || rc == MS_E_NOMEM);
        an_report_free(r);
        CHECK_EQ_INT(atomic_load(&a.in_use), 0);
        if (rc == MS_OK)
            return 0;
    }
    return 1;
}

/* ---- SR content tree, presentation-state text and overlays (files made with pydicom) ---- */

static const char make_sr_py[] =
    "import sys\n"
    "from pydicom.dataset import Dataset, FileDataset, FileMetaDataset\n"
    "from pydicom.sequence import Sequence\n"
    "from pydicom.uid import ExplicitVRLittleEndian, generate_uid\n"
    "out = sys.argv[1]\n"
    "def base(path, cls, mod):\n"
    "    m = FileMetaDataset(); m.MediaStorageSOPClassUID = cls\n"
    "    m.MediaStorageSOPInstanceUID = generate_uid(); m.TransferSyntaxUID = "
    "ExplicitVRLittleEndian\n"
    "    ds = FileDataset(path, {}, file_meta=m, preamble=b'\\0' * 128)\n"
    "    ds.is_little_endian = True; ds.is_implicit_VR = False\n"
    "    ds.SOPClassUID = cls; ds.SOPInstanceUID = m.MediaStorageSOPInstanceUID\n"
    "    ds.Modality = mod; ds.StudyDate = '20240315'; ds.PatientName = 'Quux^Zed'\n"
    "    ds.PatientSex = 'F'; ds.PatientAge = '093Y'; ds.StudyInstanceUID = '1.2.3'\n"
    "    ds.SeriesInstanceUID = generate_uid()\n"
    "    return ds\n"
    "def code(v, s, m):\n"
    "    c = Dataset(); c.CodeValue = v; c.CodingSchemeDesignator = s; c.CodeMeaning = m\n"
    "    return Sequence([c])\n"
    "def item(vt, name, **kw):\n"
    "    i = Dataset(); i.RelationshipType = 'CONTAINS'; i.ValueType = vt\n"
    "    i.ConceptNameCodeSequence = code('1', '99X', name)\n"
    "    for k, v in kw.items(): setattr(i, k, v)\n"
    "    return i\n"
    "sr = base(out + '/sr.dcm', '1.2.840.10008.5.1.4.1.1.88.33', 'SR')\n"
    "sr.ValueType = 'CONTAINER'; sr.ConceptNameCodeSequence = code('18748-4', 'LN', 'Chest CT "
    "report')\n"
    "mv = Dataset(); mv.NumericValue = '12'; mv.MeasurementUnitsCodeSequence = code('mm', 'UCUM', "
    "'millimeter')\n"
    "num = item('NUM', 'Long Axis', MeasuredValueSequence=Sequence([mv]))\n"
    "cont = item('CONTAINER', 'Findings', ContinuityOfContent='SEPARATE')\n"
    "cont.ContentSequence = Sequence([\n"
    "    item('TEXT', 'Finding', TextValue='Spiculated 12 mm solid nodule in the LUL.'),\n"
    "    num,\n"
    "    item('CODE', 'Finding site', ConceptCodeSequence=code('45653009', 'SCT', 'Upper lobe of "
    "lung')),\n"
    "    item('PNAME', 'Observer', PersonName='Secret^Doctor'),\n"
    "    item('DATE', 'Comparison date', Date='20230101')])\n"
    "dlp = item('NUM', 'x'); dlp.ConceptNameCodeSequence = code('113813', 'DCM', 'CT Dose Length "
    "Product Total')\n"
    "mv2 = Dataset(); mv2.NumericValue = '345.6'; mv2.MeasurementUnitsCodeSequence = "
    "code('mGy.cm', 'UCUM', 'mGy.cm')\n"
    "dlp.MeasuredValueSequence = Sequence([mv2]); cont.ContentSequence.append(dlp)\n"
    "def item2(vt, cv, cs, meaning, **kw):\n"
    "    i = item(vt, meaning, **kw); i.ConceptNameCodeSequence = code(cv, cs, meaning)\n"
    "    return i\n"
    "def num2(cv, meaning, v):\n"
    "    m = Dataset(); m.NumericValue = v; m.MeasurementUnitsCodeSequence = code('mm', 'UCUM', "
    "'mm')\n"
    "    return item2('NUM', cv, 'SCT', meaning, MeasuredValueSequence=Sequence([m]))\n"
    "site = item2('CODE', '363698007', 'SCT', 'Finding Site', ConceptCodeSequence=code('45653009', "
    "'SCT', 'Upper lobe of lung'))\n"
    "site.ContentSequence = Sequence([item2('CODE', '272741003', 'SCT', 'Laterality', "
    "ConceptCodeSequence=code('24028007', 'SCT', 'Right'))])\n"
    "mg = item2('CONTAINER', '125007', 'DCM', 'Measurement Group')\n"
    "mg.ContentSequence = Sequence([item2('CODE', '121071', 'DCM', 'Finding', "
    "ConceptCodeSequence=code('27925004', 'SCT', 'Nodule')), site,\n"
    "    num2('103339001', 'Long Axis', '9'), num2('103340004', 'Short Axis', '7')])\n"
    "sr.ContentSequence = Sequence([cont, mg])\n"
    "sr.save_as(out + '/sr.dcm', write_like_original=False)\n"
    "pr = base(out + '/pr.dcm', '1.2.840.10008.5.1.4.1.1.11.1', 'PR')\n"
    "to = Dataset(); to.UnformattedTextValue = '5 mm solid nodule RLL'\n"
    "ga = Dataset(); ga.TextObjectSequence = Sequence([to])\n"
    "pr.GraphicAnnotationSequence = Sequence([ga])\n"
    "pr.save_as(out + '/pr.dcm', write_like_original=False)\n"
    "ct = base(out + '/ct.dcm', '1.2.840.10008.5.1.4.1.1.2', 'CT')\n"
    "ct.add_new(0x60000022, 'LO', 'ROI: 4 mm nodule RML')\n"
    "ct.save_as(out + '/ct.dcm', write_like_original=False)\n";

TEST(test_analyst_report_sr_tree_annotations_overlays)
{
    const char *tmp = ms_test_tmpdir();
    char py[4096], dir[4096];
    snprintf(py, sizeof py, "%s/make_sr.py", tmp);
    snprintf(dir, sizeof dir, "%s/st", tmp);
    FILE *f = fopen(py, "w");
    CHECK(f != NULL);
    fputs(make_sr_py, f);
    fclose(f);
    CHECK(ms_test_sh(NULL, "mkdir -p %s && /usr/bin/python3 %s %s", dir, py, dir) == 0);
    /* through the file API: an_add_study with files read by the codec */
    const char *names[] = {"sr.dcm", "pr.dcm", "ct.dcm"};
    dcm_file *files[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < 3; i++) {
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        CHECK(dcm_file_read(p, NULL, &files[i], NULL) == MS_OK);
    }
    an_opts o = {0};
    o.phi = 1;
    an_report *r = NULL;
    CHECK(an_report_new(&o, &r, NULL) == MS_OK);
    CHECK(an_add_study(r, files, 3, NULL) == MS_OK);
    for (size_t i = 0; i < 3; i++)
        dcm_file_free(files[i]);
    CHECK(an_run(r, NULL) == MS_OK);
    json_t *j = NULL;
    CHECK(an_report_json(r, &j, NULL) == MS_OK);
    an_report_free(r);
    json_t *st = json_object_get(j, "study");
    CHECK_EQ_INT(json_integer_value(json_object_get(st, "sr_documents")), 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(st, "annotations")), 2);
    CHECK_STR(path_str(st, "modality", NULL, NULL), "CT");
    CHECK_STR(path_str(st, "patient", "age_band", NULL), "90+");
    CHECK(fabs(json_number_value(json_object_get(json_object_get(st, "dose"), "dlp_total_mgycm")) -
               345.6) < 1e-9);
    json_t *texts = json_object_get(st, "texts");
    const char *sr = NULL;
    for (size_t i = 0; i < json_array_size(texts); i++) {
        if (strcmp(path_str(json_array_get(texts, i), "source", NULL, NULL), "sr") == 0)
            sr = path_str(json_array_get(texts, i), "text", NULL, NULL);
    }
    CHECK(sr != NULL);
    CHECK(strstr(sr, "# Chest CT report") != NULL);
    CHECK(strstr(sr, "## Findings") != NULL);
    CHECK(strstr(sr, "Long Axis: 12 mm") != NULL);
    CHECK(strstr(sr, "Finding site: Upper lobe of lung") != NULL);
    CHECK(strstr(sr, "Observer: [NAME]") != NULL && strstr(sr, "Secret") == NULL);
    CHECK(strstr(sr, "Comparison date: 20230101") != NULL);
    /* findings from the SR text, the presentation state and the overlay */
    CHECK(by_lobe(j, "LUL") != NULL && by_lobe(j, "RLL") != NULL && by_lobe(j, "RML") != NULL);
    /* the TID 1500 measurement group: right upper lobe, 9 x 7 mm */
    CHECK(strstr(sr, "Nodule in the right Upper lobe of lung: 9 x 7 mm.") != NULL);
    CHECK(fabs(json_number_value(json_object_get(json_object_get(by_lobe(j, "RUL"), "size"),
                                                 "mean_diameter_mm")) -
               8.0) < 1e-9);
    json_t *lul = by_lobe(j, "LUL");
    CHECK_STR(path_str(lul, "lung_rads", "category", NULL), "4X"); /* 12 mm + spiculation */
    json_decref(j);
    /* de-identified: age band only, no SR text */
    CHECK(an_report_new(NULL, &r, NULL) == MS_OK);
    CHECK(an_add_dir(r, dir, 0, NULL) == MS_OK);
    CHECK(an_run(r, NULL) == MS_OK);
    CHECK(an_report_json(r, &j, NULL) == MS_OK);
    an_report_free(r);
    char *s = json_dumps(j, 0);
    CHECK(s != NULL && strstr(s, "Quux") == NULL && strstr(s, "093Y") == NULL &&
          strstr(s, "20240315") == NULL && strstr(s, "Spiculated") == NULL);
    free(s);
    json_decref(j);
    return 0;
}

TEST(test_analyst_report_exam_findings_raise_to_4X)
{
    json_t *j = an_t_run_text("9 mm solid nodule in the LUL. Mediastinal lymphadenopathy.", NULL);
    CHECK_STR(path_str(j, "assessment", "lung_rads", "category"), "4X");
    CHECK_EQ_INT(json_array_size(json_object_get(j, "exam_findings")), 1);
    json_decref(j);
    j = an_t_run_text("9 mm solid nodule in the LUL. No lymphadenopathy.", NULL);
    CHECK_STR(path_str(j, "assessment", "lung_rads", "category"), "4A");
    CHECK_EQ_INT(json_array_size(json_object_get(j, "exam_findings")), 0);
    json_decref(j);
    /* a category 2 nodule is not raised */
    j = an_t_run_text("4 mm solid nodule in the LUL. Mediastinal lymphadenopathy.", NULL);
    CHECK_STR(path_str(j, "assessment", "lung_rads", "category"), "2");
    json_decref(j);
    return 0;
}

TEST(test_analyst_report_risk_from_text)
{
    struct {
        const char *text, *key;
    } cases[] = {
        {"7 mm solid nodule in the RML. Never smoker.", "ct-6-12m-consider-18-24m"},
        {"7 mm solid nodule in the RML. 40 pack-year smoking history.", "ct-6-12m-then-18-24m"},
        {"7 mm solid nodule in the RML. No smoking history.", "ct-6-12m-consider-18-24m"},
        {"4 mm solid nodule in the RML. Low risk patient.", "no-follow-up"},
        {"4 mm solid nodule in the RML.", "optional-ct-12m"}, /* unknown: high-risk row */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = an_t_run_text(cases[i].text, NULL);
        const char *k = j ? path_str(j, "assessment", "fleischner", "category") : NULL;
        int ok = k != NULL && strcmp(k, cases[i].key) == 0;
        json_decref(j);
        if (!ok) {
            fprintf(stderr, "  case %zu: %s -> %s\n", i, cases[i].text, k ? k : "(null)");
            return 1;
        }
    }
    an_opts o = {0};
    o.risk = "low"; /* --risk wins over the text */
    json_t *j = an_t_run_text("7 mm solid nodule in the RML. Heavy smoker.", &o);
    CHECK_STR(path_str(j, "assessment", "fleischner", "category"), "ct-6-12m-consider-18-24m");
    json_decref(j);
    return 0;
}

TEST(test_analyst_report_mentions_merge)
{
    /* notes + impression name the same nodule twice; two nodules of one lobe stay two */
    json_t *j = an_t_run_text("There is a 6.0 x 5.0 mm solid nodule in the right upper lobe. "
                              "IMPRESSION: 6.0 x 5.0 mm solid nodule, RUL.",
                              NULL);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "findings")), 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(
                     json_array_get(json_object_get(j, "findings"), 0), "mentions")),
                 2);
    json_decref(j);
    j = an_t_run_text("5 mm nodule in the apical segment of the RUL. 5 mm nodule in the anterior "
                      "segment of the RUL.",
                      NULL);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "findings")), 2);
    json_decref(j);
    j = an_t_run_text("4 mm nodule in the RUL. 9 mm nodule in the RUL.", NULL);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "findings")), 2);
    json_decref(j);
    return 0;
}

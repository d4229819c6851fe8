/*
 * The finding model shared by the guidelines: sizes and their rounding (stated and tested:
 * Lung-RADS mean diameter to 0.1 mm half-up; Fleischner to whole mm half-up; inputs kept at
 * 0.01 mm as integers), names, the BI-RADS table, the classify JSON parser and an_classify.
 *
 * Trusts: nothing in the JSON (types, ranges and enumerations are checked; errors name the field,
 * never echo a value). Owns: nothing beyond the JSON it returns.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define MAX_MM     1000.0 /* no pulmonary finding is a metre across */
#define MAX_MONTHS 1200.0 /* a century */

void an_nodule_init(struct an_nodule *n)
{
    memset(n, 0, sizeof *n);
    n->multiple = -1;
    n->present = 1;
    n->mean_h = n->long_h = n->short_h = n->third_h = AN_NONE;
    n->solid_h = n->prior_mean_h = n->months_x10 = AN_NONE;
}

long an_h_to_tenths(long h)
{
    return h == AN_NONE ? AN_NONE : (h + 5) / 10;
}

long an_mean_tenths(const struct an_nodule *n)
{
    if (n->mean_h != AN_NONE)
        return an_h_to_tenths(n->mean_h);
    if (n->long_h == AN_NONE)
        return AN_NONE;
    long s = n->short_h == AN_NONE ? n->long_h : n->short_h;
    /* (L + S) / 2 in hundredths -> tenths, half-up: (L + S + 10) / 20 */
    return (n->long_h + s + 10) / 20;
}

long an_mean_whole_mm(const struct an_nodule *n)
{
    if (n->mean_h != AN_NONE)
        return (n->mean_h + 50) / 100;
    if (n->long_h == AN_NONE)
        return AN_NONE;
    long s = n->short_h == AN_NONE ? n->long_h : n->short_h;
    return (n->long_h + s + 100) / 200;
}

void an_fmt_tenths(long tenths, char *buf, size_t n)
{
    if (tenths == AN_NONE)
        snprintf(buf, n, "?");
    else
        snprintf(buf, n, "%ld.%ld", tenths / 10, tenths % 10);
}

void an_fmt_h(long h, char *buf, size_t n)
{
    if (h == AN_NONE)
        snprintf(buf, n, "?");
    else if (h % 10 == 0)
        snprintf(buf, n, "%ld.%ld", h / 100, (h / 10) % 10);
    else
        snprintf(buf, n, "%ld.%02ld", h / 100, h % 100);
}

/* ---- names ---- */

const char *an_comp_name(int comp)
{
    static const char *const names[] = {NULL, "solid", "part-solid", "ground-glass", "cyst"};
    return comp > 0 && comp <= AN_COMP_CYST ? names[comp] : NULL;
}

const char *an_change_name(int change)
{
    static const char *const names[] = {
        NULL, "new", "stable", "growing", "decreased", "slowly-growing", "resolved", "persistent"};
    return change > 0 && change <= AN_CH_PERSISTENT ? names[change] : NULL;
}

const char *an_lobe_name(int lobe)
{
    static const char *const names[] = {NULL, "RUL", "RML", "RLL", "LUL", "lingula", "LLL"};
    return lobe > 0 && lobe <= AN_LLL ? names[lobe] : NULL;
}

const char *an_lobe_long_name(int lobe)
{
    static const char *const names[] = {
        NULL,      "right upper lobe", "right middle lobe", "right lower lobe", "left upper lobe",
        "lingula", "left lower lobe"};
    return lobe > 0 && lobe <= AN_LLL ? names[lobe] : NULL;
}

/* ---- BI-RADS (ACR atlas 2013), carried from the report, never recomputed ---- */

static const struct an_birads_row birads[] = {
    {"0", "Incomplete: need additional imaging evaluation and/or prior mammograms", "n/a",
     "recall-additional-imaging", "Recall for additional imaging and/or comparison with priors."},
    {"1", "Negative", "essentially 0%", "routine-screening", "Routine screening."},
    {"2", "Benign", "essentially 0%", "routine-screening", "Routine screening."},
    {"3", "Probably benign", "> 0% to <= 2%", "short-interval-6m",
     "Short-interval (6-month) follow-up or continued surveillance."},
    {"4", "Suspicious", "> 2% to < 95%", "tissue-diagnosis", "Tissue diagnosis (biopsy)."},
    {"4A", "Low suspicion for malignancy", "> 2% to <= 10%", "tissue-diagnosis",
     "Tissue diagnosis (biopsy)."},
    {"4B", "Moderate suspicion for malignancy", "> 10% to <= 50%", "tissue-diagnosis",
     "Tissue diagnosis (biopsy)."},
    {"4C", "High suspicion for malignancy", "> 50% to < 95%", "tissue-diagnosis",
     "Tissue diagnosis (biopsy)."},
    {"5", "Highly suggestive of malignancy", ">= 95%", "tissue-diagnosis",
     "Tissue diagnosis (biopsy)."},
    {"6", "Known biopsy-proven malignancy", "n/a", "surgical-excision",
     "Surgical excision when clinically appropriate."},
};

const struct an_birads_row *an_birads_lookup(const char *category)
{
    for (size_t i = 0; i < sizeof birads / sizeof birads[0]; i++) {
        if (strcmp(birads[i].category, category) == 0)
            return &birads[i];
    }
    return NULL;
}

/* ---- the classify JSON ---- */

struct word {
    const char *s;
    int v;
};

static const struct word comp_words[] = {{"solid", AN_COMP_SOLID},
                                         {"part-solid", AN_COMP_PART_SOLID},
                                         {"partsolid", AN_COMP_PART_SOLID},
                                         {"ground-glass", AN_COMP_GGN},
                                         {"groundglass", AN_COMP_GGN},
                                         {"non-solid", AN_COMP_GGN},
                                         {"ggn", AN_COMP_GGN},
                                         {"cyst", AN_COMP_CYST},
                                         {NULL, 0}};
static const struct word time_words[] = {
    {"baseline", AN_TIME_BASELINE}, {"follow-up", AN_TIME_FOLLOWUP}, {NULL, 0}};
static const struct word change_words[] = {{"new", AN_CH_NEW},
                                           {"stable", AN_CH_STABLE},
                                           {"growing", AN_CH_GROWING},
                                           {"decreased", AN_CH_DECREASED},
                                           {"slowly-growing", AN_CH_SLOW},
                                           {"resolved", AN_CH_RESOLVED},
                                           {"persistent", AN_CH_PERSISTENT},
                                           {"none", AN_CH_NONE},
                                           {NULL, 0}};
static const struct word loc_words[] = {{"juxtapleural", AN_LOC_JUXTAPLEURAL},
                                        {"perifissural", AN_LOC_PERIFISSURAL},
                                        {"airway-segmental", AN_LOC_AIRWAY_SEG},
                                        {"airway-subsegmental", AN_LOC_AIRWAY_SUBSEG},
                                        {"none", AN_LOC_NONE},
                                        {NULL, 0}};
static const struct word exam_words[] = {{"infectious", AN_EXAM_INFECTIOUS},
                                         {"incomplete", AN_EXAM_INCOMPLETE},
                                         {"prior-unavailable", AN_EXAM_PRIOR},
                                         {"none", AN_EXAM_NONE},
                                         {NULL, 0}};
static const struct word risk_words[] = {{"low", AN_RISK_LOW}, {"high", AN_RISK_HIGH}, {NULL, 0}};
static const struct word wall_words[] = {
    {"thin", AN_WALL_THIN}, {"thick", AN_WALL_THICK}, {NULL, 0}};
static const struct word locule_words[] = {
    {"unilocular", AN_UNILOCULAR}, {"multilocular", AN_MULTILOCULAR}, {NULL, 0}};
static const struct word cystch_words[] = {{"cystic-growing", AN_CYST_CH_CYSTIC_GROWING},
                                           {"wall-growing", AN_CYST_CH_WALL_GROWING},
                                           {"became-multilocular", AN_CYST_CH_BECAME_MULTI},
                                           {"increased-loculation", AN_CYST_CH_MORE_LOCULES},
                                           {"new-opacity", AN_CYST_CH_NEW_OPACITY},
                                           {"none", AN_CYST_CH_NONE},
                                           {NULL, 0}};
static const struct word susp_words[] = {
    {"spiculation", (int)AN_SUSP_SPICULATION},   {"lymphadenopathy", (int)AN_SUSP_LYMPH},
    {"metastasis", (int)AN_SUSP_METASTASIS},     {"metastatic-disease", (int)AN_SUSP_METASTASIS},
    {"ggn-doubling", (int)AN_SUSP_GGN_DOUBLING}, {NULL, 0}};

static int lookup(const struct word *w, const char *s, int *out)
{
    for (; w->s != NULL; w++) {
        if (strcmp(w->s, s) == 0) {
            *out = w->v;
            return 1;
        }
    }
    return 0;
}

static ms_rc enum_field(const json_t *j, const char *key, const struct word *w, int *out,
                        ms_err *err)
{
    const json_t *v = json_object_get(j, key);
    if (v == NULL || json_is_null(v))
        return MS_OK;
    if (!json_is_string(v) || !lookup(w, json_string_value(v), out))
        return ms_fail(err, MS_E_FORMAT, "field %s: unknown value", key);
    return MS_OK;
}

static ms_rc mm_field(const json_t *j, const char *key, double max, long *out, ms_err *err)
{
    const json_t *v = json_object_get(j, key);
    if (v == NULL || json_is_null(v))
        return MS_OK;
    if (!json_is_number(v))
        return ms_fail(err, MS_E_FORMAT, "field %s: not a number", key);
    double d = json_number_value(v);
    if (!isfinite(d) || d < 0 || d > max)
        return ms_fail(err, MS_E_FORMAT, "field %s: out of range [0, %g]", key, max);
    *out = (long)llround(d * 100.0);
    return MS_OK;
}

static ms_rc bool_field(const json_t *j, const char *key, int *out, ms_err *err)
{
    const json_t *v = json_object_get(j, key);
    if (v == NULL || json_is_null(v))
        return MS_OK;
    if (!json_is_boolean(v))
        return ms_fail(err, MS_E_FORMAT, "field %s: not a boolean", key);
    *out = json_is_true(v);
    return MS_OK;
}

static ms_rc list_field(const json_t *j, const char *key, const struct word *w, int or_bits,
                        unsigned *bits, ms_err *err)
{
    const json_t *v = json_object_get(j, key);
    if (v == NULL || json_is_null(v))
        return MS_OK;
    if (json_is_string(v)) {
        int b = 0;
        if (strcmp(json_string_value(v), "none") == 0)
            return MS_OK;
        *bits |= lookup(w, json_string_value(v), &b) ? (unsigned)b : (unsigned)or_bits;
        return MS_OK;
    }
    if (!json_is_array(v))
        return ms_fail(err, MS_E_FORMAT, "field %s: not a list", key);
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        int b = 0;
        if (!json_is_string(e))
            return ms_fail(err, MS_E_FORMAT, "field %s[%zu]: not a string", key, i);
        if (strcmp(json_string_value(e), "none") != 0)
            *bits |= lookup(w, json_string_value(e), &b) ? (unsigned)b : (unsigned)or_bits;
    }
    return MS_OK;
}

static const char *const known_keys[] = {"composition",
                                         "mean_diameter_mm",
                                         "long_axis_mm",
                                         "short_axis_mm",
                                         "solid_component_mm",
                                         "timepoint",
                                         "change",
                                         "prior_mean_diameter_mm",
                                         "months_since_prior",
                                         "location",
                                         "benign_features",
                                         "suspicious_features",
                                         "risk",
                                         "multiple",
                                         "exam",
                                         "prior_category",
                                         "proven_benign",
                                         "s_modifier",
                                         "nodule",
                                         "cyst_wall",
                                         "cyst_locules",
                                         "cyst_change",
                                         "context",
                                         "age_years",
                                         "known_cancer",
                                         "immunosuppressed",
                                         NULL};

static ms_rc check_keys(const json_t *j, ms_err *err)
{
    const char *key;
    const json_t *v;
    size_t idx = 0;
    json_object_foreach((json_t *)j, key, v)
    {
        (void)v;
        int ok = 0;
        for (size_t i = 0; known_keys[i] != NULL && !ok; i++)
            ok = strcmp(known_keys[i], key) == 0;
        if (!ok)
            return ms_fail(err, MS_E_FORMAT, "unknown field (member %zu; see README.md)",
                           idx);
        idx++;
    }
    return MS_OK;
}

static ms_rc benign_field(const json_t *j, struct an_nodule *n, ms_err *err)
{
    unsigned bits = 0;
    static const struct word w[] = {{"calcification", 1}, {"fat", 2}, {NULL, 0}};
    ms_rc rc = list_field(j, "benign_features", w, 4, &bits, err);
    if (rc == MS_OK && (bits & 4u))
        return ms_fail(err, MS_E_FORMAT, "field benign_features: unknown value");
    if (bits & 1u)
        n->benign = AN_BEN_CALC;
    else if (bits & 2u)
        n->benign = AN_BEN_FAT;
    return rc;
}

static ms_rc prior_category_field(const json_t *j, struct an_nodule *n, ms_err *err)
{
    const json_t *v = json_object_get(j, "prior_category");
    if (v == NULL || json_is_null(v))
        return MS_OK;
    if (!json_is_string(v) || an_lungrads_rank(json_string_value(v)) < 0)
        return ms_fail(err, MS_E_FORMAT, "field prior_category: not a Lung-RADS category");
    snprintf(n->prior_category, sizeof n->prior_category, "%s", json_string_value(v));
    return MS_OK;
}

static ms_rc context_fields(const json_t *j, struct an_nodule *n, ms_err *err)
{
    const json_t *v = json_object_get(j, "context");
    if (v != NULL && !json_is_null(v)) {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(s, "screening") == 0)
            n->context_screening = 1;
        else if (strcmp(s, "incidental") != 0)
            return ms_fail(err, MS_E_FORMAT, "field context: unknown value");
    }
    long age = AN_NONE;
    int cancer = 0, immuno = 0;
    ms_rc rc = mm_field(j, "age_years", 150.0, &age, err);
    if (rc == MS_OK)
        rc = bool_field(j, "known_cancer", &cancer, err);
    if (rc == MS_OK)
        rc = bool_field(j, "immunosuppressed", &immuno, err);
    n->excluded = (age != AN_NONE && age < 3500) || cancer || immuno;
    return rc;
}

ms_rc an_nodule_from_json(const json_t *j, struct an_nodule *n, ms_err *err)
{
    an_nodule_init(n);
    if (!json_is_object(j))
        return ms_fail(err, MS_E_FORMAT, "finding: not a JSON object");
    long months_h = AN_NONE;
    ms_rc rc = check_keys(j, err);
    if (rc == MS_OK)
        rc = enum_field(j, "composition", comp_words, &n->comp, err);
    if (rc == MS_OK)
        rc = mm_field(j, "mean_diameter_mm", MAX_MM, &n->mean_h, err);
    if (rc == MS_OK)
        rc = mm_field(j, "long_axis_mm", MAX_MM, &n->long_h, err);
    if (rc == MS_OK)
        rc = mm_field(j, "short_axis_mm", MAX_MM, &n->short_h, err);
    if (rc == MS_OK)
        rc = mm_field(j, "solid_component_mm", MAX_MM, &n->solid_h, err);
    if (rc == MS_OK)
        rc = enum_field(j, "timepoint", time_words, &n->timepoint, err);
    if (rc == MS_OK)
        rc = enum_field(j, "change", change_words, &n->change, err);
    if (rc == MS_OK)
        rc = mm_field(j, "prior_mean_diameter_mm", MAX_MM, &n->prior_mean_h, err);
    if (rc == MS_OK)
        rc = mm_field(j, "months_since_prior", MAX_MONTHS, &months_h, err);
    if (rc == MS_OK)
        rc = enum_field(j, "location", loc_words, &n->location, err);
    if (rc == MS_OK)
        rc = benign_field(j, n, err);
    if (rc == MS_OK)
        rc = list_field(j, "suspicious_features", susp_words, (int)AN_SUSP_OTHER, &n->suspicious,
                        err);
    if (rc == MS_OK)
        rc = enum_field(j, "risk", risk_words, &n->risk, err);
    int multiple = -1;
    if (rc == MS_OK)
        rc = bool_field(j, "multiple", &multiple, err);
    n->multiple = multiple;
    if (rc == MS_OK)
        rc = enum_field(j, "exam", exam_words, &n->exam, err);
    if (rc == MS_OK)
        rc = prior_category_field(j, n, err);
    if (rc == MS_OK)
        rc = bool_field(j, "proven_benign", &n->proven_benign, err);
    if (rc == MS_OK)
        rc = bool_field(j, "s_modifier", &n->s_modifier, err);
    if (rc == MS_OK)
        rc = bool_field(j, "nodule", &n->present, err);
    if (rc == MS_OK)
        rc = enum_field(j, "cyst_wall", wall_words, &n->cyst_wall, err);
    if (rc == MS_OK)
        rc = enum_field(j, "cyst_locules", locule_words, &n->cyst_locules, err);
    if (rc == MS_OK)
        rc = enum_field(j, "cyst_change", cystch_words, &n->cyst_change, err);
    if (rc == MS_OK)
        rc = context_fields(j, n, err);
    if (rc == MS_OK && months_h != AN_NONE)
        n->months_x10 = (months_h + 5) / 10;
    if (rc == MS_OK && n->short_h != AN_NONE && n->long_h == AN_NONE)
        rc = ms_fail(err, MS_E_FORMAT, "field short_axis_mm given without long_axis_mm");
    if (rc == MS_OK && n->short_h != AN_NONE && n->short_h > n->long_h) {
        long t = n->short_h; /* the mean does not depend on the order; keep long >= short */
        n->short_h = n->long_h;
        n->long_h = t;
    }
    return rc;
}

static int add_str(json_t *o, const char *k, const char *v)
{
    return v == NULL ? 0 : json_object_set_new(o, k, json_string(v));
}

json_t *an_result_json(const struct an_result *res, const char *guideline)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = json_object_set_new(o, "guideline", json_string(guideline));
    bad |= json_object_set_new(o, "category", json_string(res->category));
    bad |= add_str(o, "management", res->management);
    bad |= add_str(o, "management_key", res->mgmt_key);
    bad |= add_str(o, "rule", res->rule);
    bad |= add_str(o, "rule_text", res->rule_text);
    if (res->size_used != AN_NONE) {
        int lr = strcmp(guideline, AN_LUNG_RADS_VERSION) == 0;
        double v = lr ? (double)res->size_used / 10.0 : (double)res->size_used;
        bad |= json_object_set_new(o, lr ? "mean_diameter_mm" : "size_mm_rounded", json_real(v));
    }
    bad |= add_str(o, "change", res->change_used);
    if (res->s_modifier)
        bad |= json_object_set_new(o, "s_modifier", json_true());
    bad |= add_str(o, "note", res->note);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

ms_rc an_classify(const char *guideline, const json_t *finding, json_t **out, ms_err *err)
{
    if (guideline == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "an_classify: NULL argument");
    int lr = strcmp(guideline, AN_LUNG_RADS_VERSION) == 0;
    if (!lr && strcmp(guideline, AN_FLEISCHNER_VERSION) != 0)
        return ms_fail(err, MS_E_INVAL, "unknown guideline (lung-rads-2022, fleischner-2017)");
    struct an_nodule n;
    ms_rc rc = an_nodule_from_json(finding, &n, err);
    if (rc != MS_OK)
        return rc;
    struct an_result res;
    rc = lr ? an_lungrads_eval(&n, &res, err) : an_fleischner_eval(&n, &res, err);
    if (rc != MS_OK)
        return rc;
    json_t *o = an_result_json(&res, guideline);
    if (o == NULL)
        return ms_fail(err, MS_E_NOMEM, "result JSON");
    *out = o;
    return MS_OK;
}

ms_rc an_guideline_rules(const char *guideline, json_t **out, ms_err *err)
{
    if (guideline == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "an_guideline_rules: NULL argument");
    json_t *j = NULL;
    if (strcmp(guideline, AN_LUNG_RADS_VERSION) == 0)
        j = an_lungrads_rules_json();
    else if (strcmp(guideline, AN_FLEISCHNER_VERSION) == 0)
        j = an_fleischner_rules_json();
    else
        return ms_fail(err, MS_E_INVAL, "unknown guideline (lung-rads-2022, fleischner-2017)");
    if (j == NULL)
        return ms_fail(err, MS_E_NOMEM, "rules JSON");
    *out = j;
    return MS_OK;
}

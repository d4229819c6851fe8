/*
 * Fleischner Society 2017 (MacMahon et al., Radiology 2017;284:228-243) as data + rules: incidental
 * pulmonary nodules in adults >= 35 years, outside screening, without known cancer or
 * immunosuppression. The category is the recommendation key (documented in README.md).
 * Size: the mean of long and short axes rounded to the nearest whole millimetre, halves up
 * (an_mean_whole_mm), as the guideline's table footnote says; this differs from Lung-RADS.
 *
 * Trusts: the nodule struct. Owns: nothing; all strings static.
 */
#include <string.h>

#include "internal.h"

enum fl_kind { F_SOLID, F_GGN, F_PART_SOLID, F_SUBSOLID_MULTI };

struct fl_row {
    const char *id;
    enum fl_kind kind;
    int multiple;             /* 0 single, 1 multiple (subsolid rows: ignored) */
    int risk;                 /* AN_RISK_LOW / AN_RISK_HIGH, AN_RISK_NONE: either */
    long lo_mm, hi_mm;        /* [lo, hi) whole mm: < 6 -> [0,6); 6-8 -> [6,9); > 8 -> [9, inf) */
    int solid_ge6_persistent; /* part-solid only: 1 row for a persistent solid part >= 6 mm */
    const char *key;
    const char *text;
};

#define INF 1000000L

static const struct fl_row rows[] = {
    {"fleischner-2017/solid-single-low-lt6", F_SOLID, 0, AN_RISK_LOW, 0, 6, 0, "no-follow-up",
     "No routine follow-up."},
    {"fleischner-2017/solid-single-high-lt6", F_SOLID, 0, AN_RISK_HIGH, 0, 6, 0, "optional-ct-12m",
     "Optional CT at 12 months (particularly with suspicious morphology and/or upper lobe "
     "location)."},
    {"fleischner-2017/solid-single-low-6-8", F_SOLID, 0, AN_RISK_LOW, 6, 9, 0,
     "ct-6-12m-consider-18-24m", "CT at 6-12 months, then consider CT at 18-24 months."},
    {"fleischner-2017/solid-single-high-6-8", F_SOLID, 0, AN_RISK_HIGH, 6, 9, 0,
     "ct-6-12m-then-18-24m", "CT at 6-12 months, then CT at 18-24 months."},
    {"fleischner-2017/solid-single-gt8", F_SOLID, 0, AN_RISK_NONE, 9, INF, 0, "ct-3m-pet-or-biopsy",
     "Consider CT at 3 months, PET/CT, or tissue sampling."},
    {"fleischner-2017/solid-multiple-low-lt6", F_SOLID, 1, AN_RISK_LOW, 0, 6, 0, "no-follow-up",
     "No routine follow-up."},
    {"fleischner-2017/solid-multiple-high-lt6", F_SOLID, 1, AN_RISK_HIGH, 0, 6, 0,
     "optional-ct-12m", "Optional CT at 12 months."},
    {"fleischner-2017/solid-multiple-low-ge6", F_SOLID, 1, AN_RISK_LOW, 6, INF, 0,
     "ct-3-6m-consider-18-24m",
     "CT at 3-6 months, then consider CT at 18-24 months (manage by the most suspicious "
     "nodule)."},
    {"fleischner-2017/solid-multiple-high-ge6", F_SOLID, 1, AN_RISK_HIGH, 6, INF, 0,
     "ct-3-6m-then-18-24m",
     "CT at 3-6 months, then CT at 18-24 months (manage by the most suspicious nodule)."},
    {"fleischner-2017/ggn-single-lt6", F_GGN, 0, AN_RISK_NONE, 0, 6, 0, "no-follow-up",
     "No routine follow-up."},
    {"fleischner-2017/ggn-single-ge6", F_GGN, 0, AN_RISK_NONE, 6, INF, 0,
     "ct-6-12m-then-2y-until-5y",
     "CT at 6-12 months to confirm persistence, then CT every 2 years until 5 years."},
    {"fleischner-2017/part-solid-single-lt6", F_PART_SOLID, 0, AN_RISK_NONE, 0, 6, 0,
     "no-follow-up", "No routine follow-up."},
    {"fleischner-2017/part-solid-single-solid-ge6-persistent", F_PART_SOLID, 0, AN_RISK_NONE, 6,
     INF, 1, "pet-biopsy-or-resection",
     "Persistent part-solid nodule with a solid component >= 6 mm: highly suspicious; consider "
     "PET/CT, biopsy or resection."},
    {"fleischner-2017/part-solid-single-ge6", F_PART_SOLID, 0, AN_RISK_NONE, 6, INF, 0,
     "ct-3-6m-then-annual-5y",
     "CT at 3-6 months to confirm persistence; if unchanged and the solid component remains "
     "< 6 mm, annual CT for 5 years."},
    {"fleischner-2017/subsolid-multiple-lt6", F_SUBSOLID_MULTI, 1, AN_RISK_NONE, 0, 6, 0,
     "ct-3-6m-then-2y-4y",
     "CT at 3-6 months; if stable, consider CT at 2 and 4 years (high-risk patients)."},
    {"fleischner-2017/subsolid-multiple-ge6", F_SUBSOLID_MULTI, 1, AN_RISK_NONE, 6, INF, 0,
     "ct-3-6m-then-most-suspicious",
     "CT at 3-6 months; subsequent management based on the most suspicious nodule(s)."},
};

static void set(struct an_result *r, const char *key, const char *id, const char *text)
{
    size_t n = strlen(key);
    if (n >= sizeof r->category)
        n = sizeof r->category - 1;
    memcpy(r->category, key, n);
    r->category[n] = '\0';
    r->mgmt_key = key;
    r->rule = id;
    r->rule_text = text;
    r->management = text;
}

/* Rows decided before the table: exclusions, benign features, typical perifissural nodules. */
enum { F_SP_NOT_APPLICABLE, F_SP_BENIGN, F_SP_PERIFISSURAL, F_SP_COUNT };
static const struct {
    const char *id, *key, *text;
} specials[] = {
    [F_SP_NOT_APPLICABLE] = {"fleischner-2017/not-applicable", "not-applicable",
                             "Fleischner 2017 does not apply to lung cancer screening, patients "
                             "< 35 years, known cancer or immunosuppression; use the screening "
                             "or oncology protocol."},
    [F_SP_BENIGN] = {"fleischner-2017/benign-features", "no-follow-up",
                     "Benign calcification or fat: no follow-up."},
    [F_SP_PERIFISSURAL] = {"fleischner-2017/perifissural-typical", "no-follow-up",
                           "Typical perifissural (juxtapleural) solid nodule with smooth margins, "
                           "< 10 mm: no follow-up."},
};

static void use(struct an_result *r, int k)
{
    set(r, specials[k].key, specials[k].id, specials[k].text);
}

static int exclusions(const struct an_nodule *n, struct an_result *r)
{
    if (n->context_screening || n->excluded) {
        use(r, F_SP_NOT_APPLICABLE);
        return 1;
    }
    if (n->benign != AN_BEN_NONE) {
        use(r, F_SP_BENIGN);
        return 1;
    }
    return 0;
}

/* Typical perifissural solid nodules need no follow-up even above 6 mm (MacMahon 2017); we stop
 * at < 10 mm, the Lung-RADS juxtapleural bound, as the guideline gives no upper size. */
static int perifissural(const struct an_nodule *n, long mm, struct an_result *r)
{
    if (n->comp != AN_COMP_SOLID || mm == AN_NONE || mm >= 10 || n->suspicious != 0)
        return 0;
    if (n->location != AN_LOC_PERIFISSURAL && n->location != AN_LOC_JUXTAPLEURAL)
        return 0;
    use(r, F_SP_PERIFISSURAL);
    return 1;
}

static int persistent(const struct an_nodule *n)
{
    return n->change == AN_CH_STABLE || n->change == AN_CH_GROWING ||
           n->change == AN_CH_PERSISTENT || n->change == AN_CH_SLOW;
}

static const struct fl_row *find_row(const struct an_nodule *n, enum fl_kind kind, int multi,
                                     int risk, long mm)
{
    long solid_mm = n->solid_h == AN_NONE ? AN_NONE : (n->solid_h + 50) / 100;
    int solid_ge6 = solid_mm != AN_NONE && solid_mm >= 6 && persistent(n);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct fl_row *row = &rows[i];
        if (row->kind != kind || mm < row->lo_mm || mm >= row->hi_mm)
            continue;
        if (kind == F_SOLID && row->multiple != multi)
            continue;
        if (row->risk != AN_RISK_NONE && row->risk != risk)
            continue;
        if (row->solid_ge6_persistent && !solid_ge6)
            continue;
        return row;
    }
    return NULL;
}

ms_rc an_fleischner_eval(const struct an_nodule *n, struct an_result *out, ms_err *err)
{
    struct an_result r;
    memset(&r, 0, sizeof r);
    long mm = an_mean_whole_mm(n);
    r.size_used = mm;
    if (exclusions(n, &r) || perifissural(n, mm, &r)) {
        *out = r;
        return MS_OK;
    }
    if (n->comp == AN_COMP_NONE || n->comp == AN_COMP_CYST)
        return ms_fail(err, MS_E_FORMAT, "composition missing (solid, part-solid, ground-glass)");
    if (mm == AN_NONE)
        return ms_fail(err, MS_E_FORMAT, "size missing (mean_diameter_mm or long_axis_mm)");
    int multi = n->multiple == 1;
    int risk = n->risk;
    if (risk == AN_RISK_NONE && n->comp == AN_COMP_SOLID) {
        risk = AN_RISK_HIGH;
        r.note = "risk not stated: the high-risk row is used";
    }
    enum fl_kind kind = F_SOLID;
    if (n->comp != AN_COMP_SOLID)
        kind = multi ? F_SUBSOLID_MULTI : (n->comp == AN_COMP_GGN ? F_GGN : F_PART_SOLID);
    const struct fl_row *row = find_row(n, kind, multi, risk, mm);
    if (row == NULL)
        return ms_fail(err, MS_E_INTERNAL, "no Fleischner row matched");
    set(&r, row->key, row->id, row->text);
    *out = r;
    return MS_OK;
}

/* ---- the rows as data (medseal classify --rules, data/guidelines/fleischner-2017.rules.json) */

json_t *an_fleischner_rules_json(void)
{
    static const char *const kinds[] = {"solid", "ground-glass", "part-solid", "subsolid-multiple"};
    static const char *const risks[] = {"any", "low", "high"};
    json_t *a = json_array();
    for (size_t i = 0; i < F_SP_COUNT; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "id", specials[i].id, "kind",
                                           "special", "key", specials[i].key, "text",
                                           specials[i].text));
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct fl_row *r = &rows[i];
        json_array_append_new(
            a, json_pack("{s:s,s:s,s:b,s:s,s:{s:I,s:o},s:b,s:s,s:s}", "id", r->id, "nodule",
                         kinds[r->kind], "multiple", r->multiple, "risk", risks[r->risk],
                         "size_mm_rounded", "min", (json_int_t)r->lo_mm, "max_exclusive",
                         r->hi_mm >= INF ? json_null() : json_integer(r->hi_mm),
                         "persistent_solid_component_ge6", r->solid_ge6_persistent, "key", r->key,
                         "text", r->text));
    }
    return json_pack("{s:s,s:s,s:o}", "guideline", AN_FLEISCHNER_VERSION, "order",
                     "exclusions, benign features, typical perifissural < 10 mm, then the first "
                     "matching row; size = mean of long and short axes rounded half-up to whole mm",
                     "rows", a);
}

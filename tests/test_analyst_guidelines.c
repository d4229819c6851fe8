/*
 * Tests of the analyst's guideline rules: every case of data/guidelines/cases.jsonl converted into
 * medseal's finding schema, boundary tests at every threshold, rounding, BI-RADS, the classify CLI.
 * Trusts: the repository's data/guidelines copy (no ../shared needed).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "analyst/internal.h"
#include "medseal/analyst.h"
#include "test.h"

/* Classifies a finding given as JSON text; returns the category (static buffer) or "ERR". */
static const char *cls(const char *guideline, const char *finding_json)
{
    static char cat[64];
    json_error_t jerr;
    json_t *f = json_loads(finding_json, 0, &jerr);
    json_t *out = NULL;
    ms_err err = {0};
    snprintf(cat, sizeof cat, "ERR");
    if (f != NULL && an_classify(guideline, f, &out, &err) == MS_OK) {
        snprintf(cat, sizeof cat, "%s", json_string_value(json_object_get(out, "category")));
        json_decref(out);
    }
    json_decref(f);
    return cat;
}

static const char *lr(const char *j)
{
    return cls("lung-rads-2022", j);
}

static const char *fl(const char *j)
{
    return cls("fleischner-2017", j);
}

/* ---- conversion of the case suites' field names into medseal's schema ---- */

static void copy_str(json_t *dst, const char *dk, json_t *src, const char *sk)
{
    json_t *v = json_object_get(src, sk);
    if (json_is_string(v) && strcmp(json_string_value(v), "none") != 0)
        json_object_set_new(dst, dk, json_string(json_string_value(v)));
}

static void copy_num(json_t *dst, const char *dk, json_t *src, const char *sk)
{
    json_t *v = json_object_get(src, sk);
    if (json_is_number(v))
        json_object_set_new(dst, dk, json_real(json_number_value(v)));
}

static const char *map_word(const char *s, const char *const *pairs)
{
    for (; pairs[0] != NULL; pairs += 2) {
        if (strcmp(s, pairs[0]) == 0)
            return pairs[1];
    }
    return s;
}

static void convert_structure(json_t *f, json_t *in)
{
    static const char *const comp[] = {"partsolid", "part-solid", "groundglass", "ground-glass",
                                       NULL};
    static const char *const feat[] = {"smooth-margins",
                                       "juxtapleural",
                                       "segmental-airway",
                                       "airway-segmental",
                                       "subsegmental-airway",
                                       "airway-subsegmental",
                                       NULL};
    static const char *const dyn[] = {"slowlyGrowing", "slowly-growing", NULL};
    json_t *v = json_object_get(in, "structure");
    if (json_is_string(v))
        json_object_set_new(f, "composition", json_string(map_word(json_string_value(v), comp)));
    v = json_object_get(in, "featuresSolid");
    if (json_is_string(v) && strcmp(json_string_value(v), "none") != 0)
        json_object_set_new(f, "location", json_string(map_word(json_string_value(v), feat)));
    v = json_object_get(in, "dynamic");
    if (json_is_string(v))
        json_object_set_new(f, "change", json_string(map_word(json_string_value(v), dyn)));
}

static void convert_solid_part(json_t *f, json_t *in)
{
    json_t *a = json_object_get(in, "longaxisSolid"), *b = json_object_get(in, "shortaxisSolid");
    if (json_is_number(a) && json_is_number(b))
        json_object_set_new(f, "solid_component_mm",
                            json_real((json_number_value(a) + json_number_value(b)) / 2.0));
}

static void convert_cyst(json_t *f, json_t *in)
{
    if (!json_is_true(json_object_get(in, "cyst")))
        return;
    json_object_set_new(f, "composition", json_string("cyst"));
    copy_str(f, "cyst_wall", in, "wall");
    copy_str(f, "cyst_locules", in, "formation");
    json_t *v = json_object_get(in, "dynamicUnilocular");
    if (json_is_string(v) && strcmp(json_string_value(v), "cyst-growing") == 0)
        json_object_set_new(f, "cyst_change", json_string("cystic-growing"));
}

/* medreporter lungRads2022Utils.test.ts input -> medseal finding */
static json_t *convert_lungrads(json_t *in)
{
    json_t *f = json_object();
    copy_str(f, "exam", in, "problematicExam");
    copy_str(f, "benign_features", in, "benignFeatures");
    copy_str(f, "timepoint", in, "timepoint");
    copy_str(f, "prior_category", in, "previous");
    copy_num(f, "months_since_prior", in, "timeOfDynamicNodule");
    copy_num(f, "long_axis_mm", in, "longaxis");
    copy_num(f, "short_axis_mm", in, "shortaxis");
    json_t *v = json_object_get(in, "nodule");
    if (json_is_boolean(v))
        json_object_set_new(f, "nodule", json_boolean(json_is_true(v)));
    v = json_object_get(in, "suspicious");
    if (json_is_array(v))
        json_object_set(f, "suspicious_features", v);
    convert_structure(f, in);
    convert_solid_part(f, in);
    convert_cyst(f, in);
    return f;
}

/* medreporter fleischner2017Utils.test.ts or Elucenia examples.json input -> medseal finding */
static json_t *convert_fleischner(json_t *in)
{
    json_t *f = json_object();
    if (json_object_get(in, "tamanho") != NULL) { /* Elucenia: solid nodules only */
        json_object_set_new(f, "composition", json_string("solid"));
        copy_num(f, "mean_diameter_mm", in, "tamanho");
        const char *num = json_string_value(json_object_get(in, "num"));
        const char *risk = json_string_value(json_object_get(in, "risco"));
        json_object_set_new(f, "multiple", json_boolean(num != NULL && strcmp(num, "m") == 0));
        json_object_set_new(f, "risk",
                            json_string(risk != NULL && strcmp(risk, "a") == 0 ? "high" : "low"));
        return f;
    }
    convert_structure(f, in);
    copy_num(f, "long_axis_mm", in, "longaxis");
    copy_num(f, "short_axis_mm", in, "shortaxis");
    const char *count = json_string_value(json_object_get(in, "count"));
    const char *risk = json_string_value(json_object_get(in, "riskFactors"));
    json_object_set_new(f, "multiple",
                        json_boolean(count != NULL && strcmp(count, "multiple") == 0));
    json_object_set_new(f, "risk",
                        json_string(risk != NULL && strcmp(risk, "yes") == 0 ? "high" : "low"));
    return f;
}

/* The suites' recommendation names -> medseal's keys */
static const char *const fl_keys[] = {
    "NoFollowUp", "no-follow-up", "Ct3To6MonthsAndConsider18To24", "ct-3-6m-consider-18-24m",
    "Ct3MonthsPETSampling", "ct-3m-pet-or-biopsy", "OptionalAt12MonthsSuspicious",
    "optional-ct-12m", "Ct3To6MonthsAnd18To24", "ct-3-6m-then-18-24m", "Ct6To12Months2Years5Years",
    "ct-6-12m-then-2y-until-5y", "Ct3To6MonthsAnnual", "ct-3-6m-then-annual-5y",
    "Ct3To6Months2And4Years", "ct-3-6m-then-2y-4y",
    /* Elucenia verdicts (Portuguese) */
    "Sem seguimento de rotina", "no-follow-up", "TC em 6 a 12 meses e depois em 18 a 24 meses",
    "ct-6-12m-then-18-24m", "TC em 3 a 6 meses; depois, considerar", "ct-3-6m-consider-18-24m",
    "PET-TC", "ct-3m-pet-or-biopsy", NULL};

/* Documented interpretations (README.md, "The guideline cases"): where medseal follows
 * the guideline text rather than the suite. Matched on the case's own fields. */
struct deviation {
    const char *suite_key; /* the suite's expected key */
    const char *structure; /* input structure */
    const char *count;     /* input count */
    double mean;           /* derived mean */
    const char *ours;      /* medseal's key */
};

static const struct deviation deviations[] = {
    /* flagged, CONFLICTS WITH GUIDELINE: single solid 6-8 mm low risk = CT at 6-12 months */
    {"Ct3To6MonthsAndConsider18To24", "solid", "single", 6.5, "ct-6-12m-consider-18-24m"},
    /* flagged, ROUNDING: mean 5.5 -> 6 mm (whole mm, halves up) -> single GGN >= 6 mm */
    {"NoFollowUp", "groundglass", "single", 5.5, "ct-6-12m-then-2y-until-5y"},
    /* not flagged, same rounding decision: multiple subsolid mean 5.5 -> 6 mm */
    {"Ct3To6Months2And4Years", "groundglass", "multiple", 5.5, "ct-3-6m-then-most-suspicious"},
};

static const char *expected_fleischner(json_t *c, int *deviated)
{
    json_t *exp = json_object_get(c, "expected");
    const char *k = json_string_value(json_object_get(exp, "suggestion"));
    if (k == NULL)
        k = json_string_value(json_object_get(exp, "verdict_pt"));
    if (k == NULL)
        return NULL;
    json_t *in = json_object_get(c, "input");
    const char *st = json_string_value(json_object_get(in, "structure"));
    const char *count = json_string_value(json_object_get(in, "count"));
    json_t *mean = json_object_get(json_object_get(c, "derived_by_us"), "mean_diameter_mm");
    for (size_t i = 0; i < sizeof deviations / sizeof deviations[0]; i++) {
        const struct deviation *d = &deviations[i];
        if (st != NULL && count != NULL && json_is_number(mean) && strcmp(k, d->suite_key) == 0 &&
            strcmp(st, d->structure) == 0 && strcmp(count, d->count) == 0 &&
            fabs(json_number_value(mean) - d->mean) < 1e-9) {
            (*deviated)++;
            return d->ours;
        }
    }
    return map_word(k, fl_keys);
}

static int check_recommendation(json_t *c)
{
    json_t *in = json_object_get(c, "input"), *exp = json_object_get(c, "expected");
    const char *cat = json_string_value(json_object_get(in, "category"));
    const char *want = json_string_value(json_object_get(exp, "recommendation_key"));
    int airway = json_object_get(in, "featuresSolid") != NULL &&
                 strstr(json_string_value(json_object_get(in, "featuresSolid")), "airway");
    const char *key, *text;
    an_lungrads_management(cat, airway, &key, &text);
    if (key == NULL)
        return 1;
    if (strcmp(want, "ct3MonthsOrPet") == 0)
        return !(strcmp(key, "ldct-3m-or-pet") == 0 && strstr(text, "LDCT in 3 months") &&
                 strstr(text, "PET/CT may be considered") && strstr(text, "8 mm"));
    if (strcmp(want, "clinicalEvaluation") == 0)
        return !(strcmp(key, "clinical-evaluation") == 0 &&
                 strstr(text, "Referral for further clinical evaluation"));
    return 1;
}

/* 1 if `rule` is a row id of the guideline's table (an_guideline_rules) */
static int rule_listed(const char *guideline, const char *rule)
{
    json_t *t = NULL;
    int found = 0;
    if (rule == NULL || an_guideline_rules(guideline, &t, NULL) != MS_OK)
        return 0;
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(t, "rows"), i, row)
    {
        found |= strcmp(json_string_value(json_object_get(row, "id")), rule) == 0;
    }
    json_decref(t);
    return found;
}

static int check_case(json_t *c, int line, int *deviated)
{
    const char *g = json_string_value(json_object_get(c, "guideline"));
    json_t *in = json_object_get(c, "input"), *exp = json_object_get(c, "expected");
    if (g == NULL || in == NULL || exp == NULL)
        return 1;
    if (json_object_get(exp, "recommendation_key") != NULL)
        return check_recommendation(c);
    int is_lr = strcmp(g, "lung-rads-2022") == 0;
    json_t *f = is_lr ? convert_lungrads(in) : convert_fleischner(in);
    const char *want = is_lr ? json_string_value(json_object_get(exp, "category"))
                             : expected_fleischner(c, deviated);
    json_t *out = NULL;
    ms_err err = {0};
    int bad = want == NULL || an_classify(g, f, &out, &err) != MS_OK;
    const char *got = bad ? err.msg : json_string_value(json_object_get(out, "category"));
    if (!bad && !rule_listed(g, json_string_value(json_object_get(out, "rule"))))
        bad = 1; /* every answer names a row of the published table */
    if (bad || strcmp(got, want) != 0) {
        fprintf(stderr, "  case line %d (%s): got %s, want %s\n", line, g, got, want ? want : "?");
        bad = 1;
    }
    json_decref(out);
    json_decref(f);
    return bad;
}

TEST(test_analyst_cases_jsonl_every_case)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/data/guidelines/cases.jsonl", ms_test_root());
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL);
    char line[8192];
    int n = 0, failed = 0, deviated = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        json_error_t jerr;
        json_t *c = json_loads(line, 0, &jerr);
        if (c == NULL) {
            failed++;
            continue;
        }
        n++;
        failed += check_case(c, n, &deviated);
        json_decref(c);
    }
    fclose(fp);
    fprintf(stderr,
            "  cases.jsonl: %d/%d pass (%d as published, %d by documented "
            "interpretation)\n",
            n - failed, n, n - failed - deviated, deviated);
    CHECK_EQ_INT(n, 40);
    CHECK_EQ_INT(failed, 0);
    CHECK_EQ_INT(deviated, 3);
    return 0;
}

TEST(test_analyst_cases_copy_matches_shared)
{
    const char *shared = ms_test_shared();
    if (shared == NULL)
        SKIP("../shared not present");
    CHECK(ms_test_sh(NULL, "cmp -s %s/data/guidelines/cases.jsonl %s/data/guidelines/cases.jsonl",
                     ms_test_root(), shared) == 0);
    return 0;
}

/* ---- boundaries ---- */

TEST(test_analyst_lungrads_solid_boundaries)
{
    CHECK_STR(lr("{\"composition\":\"solid\",\"mean_diameter_mm\":5.9}"), "2");
    CHECK_STR(lr("{\"composition\":\"solid\",\"mean_diameter_mm\":6.0}"), "3");
    CHECK_STR(lr("{\"composition\":\"solid\",\"mean_diameter_mm\":7.9}"), "3");
    CHECK_STR(lr("{\"composition\":\"solid\",\"mean_diameter_mm\":8.0}"), "4A");
    CHECK_STR(lr("{\"composition\":\"solid\",\"mean_diameter_mm\":14.9}"), "4A");
    CHECK_STR(lr("{\"composition\":\"solid\",\"mean_diameter_mm\":15.0}"), "4B");
#define NW_FMT1                                                                                    \
    "{\"composition\":\"solid\",\"timepoint\":\"follow-up\",\"change\":\"new\","                   \
    "\"mean_diameter_mm\":%s}"
    char b[256];
    snprintf(b, sizeof b, NW_FMT1, "3.9");
    CHECK_STR(lr(b), "2");
    snprintf(b, sizeof b, NW_FMT1, "4.0");
    CHECK_STR(lr(b), "3");
    snprintf(b, sizeof b, NW_FMT1, "5.9");
    CHECK_STR(lr(b), "3");
    snprintf(b, sizeof b, NW_FMT1, "6.0");
    CHECK_STR(lr(b), "4A");
    snprintf(b, sizeof b, NW_FMT1, "7.9");
    CHECK_STR(lr(b), "4A");
    snprintf(b, sizeof b, NW_FMT1, "8.0");
    CHECK_STR(lr(b), "4B");
    return 0;
}

TEST(test_analyst_lungrads_growth_boundary)
{
    /* growth = mean diameter up > 1.5 mm within 12 months: 1.5 is stable, 1.6 is growth */
#define T_FMT1                                                                                     \
    "{\"composition\":\"solid\",\"timepoint\":\"follow-up\",\"mean_diameter_mm\":"                 \
    "%s,\"prior_mean_diameter_mm\":5.0,\"months_since_prior\":%s}"
    char b[256];
    snprintf(b, sizeof b, T_FMT1, "6.5", "12");
    CHECK_STR(lr(b), "3"); /* stable, 6.5 reclassified by size -> 3 (no stepped interval met) */
    snprintf(b, sizeof b, T_FMT1, "6.6", "12");
    CHECK_STR(lr(b), "4A"); /* growing < 8 mm */
    snprintf(b, sizeof b, T_FMT1, "8.0", "6");
    CHECK_STR(lr(b), "4B"); /* growing >= 8 mm */
    /* 6.6 after 24 months: 1.6 mm / 24 months is not > 1.5 per 12 months -> slow growth */
    snprintf(b, sizeof b, T_FMT1, "6.6", "24");
    CHECK_STR(lr(b), "4B");
    /* 5.0 -> 3.4: decreased; 3.4 mm solid at follow-up, stable/decreased: size row 2 */
    snprintf(b, sizeof b, T_FMT1, "3.4", "12");
    CHECK_STR(lr(b), "2");
    return 0;
}

TEST(test_analyst_lungrads_juxtapleural_and_ggn_boundaries)
{
    CHECK_STR(lr("{\"composition\":\"solid\",\"location\":\"juxtapleural\","
                 "\"mean_diameter_mm\":9.9}"),
              "2");
    CHECK_STR(lr("{\"composition\":\"solid\",\"location\":\"juxtapleural\","
                 "\"mean_diameter_mm\":10.0}"),
              "4A");
    CHECK_STR(lr("{\"composition\":\"solid\",\"location\":\"perifissural\","
                 "\"mean_diameter_mm\":9.9}"),
              "2");
    CHECK_STR(lr("{\"composition\":\"ground-glass\",\"mean_diameter_mm\":29.9}"), "2");
    CHECK_STR(lr("{\"composition\":\"ground-glass\",\"mean_diameter_mm\":30.0}"), "3");
    CHECK_STR(lr("{\"composition\":\"ground-glass\",\"mean_diameter_mm\":30.0,"
                 "\"timepoint\":\"follow-up\",\"change\":\"stable\"}"),
              "2");
    return 0;
}

TEST(test_analyst_lungrads_part_solid_boundaries)
{
#define T_FMT2                                                                                     \
    "{\"composition\":\"part-solid\",\"mean_diameter_mm\":%s,"                                     \
    "\"solid_component_mm\":%s}"
    char b[256];
    snprintf(b, sizeof b, T_FMT2, "5.9", "3.0");
    CHECK_STR(lr(b), "2");
    snprintf(b, sizeof b, T_FMT2, "6.0", "5.9");
    CHECK_STR(lr(b), "3");
    snprintf(b, sizeof b, T_FMT2, "9.0", "6.0");
    CHECK_STR(lr(b), "4A");
    snprintf(b, sizeof b, T_FMT2, "9.0", "7.9");
    CHECK_STR(lr(b), "4A");
    snprintf(b, sizeof b, T_FMT2, "9.0", "8.0");
    CHECK_STR(lr(b), "4B");
#define NW_FMT2                                                                                    \
    "{\"composition\":\"part-solid\",\"change\":\"new\",\"timepoint\":"                            \
    "\"follow-up\",\"mean_diameter_mm\":8,\"solid_component_mm\":%s}"
    snprintf(b, sizeof b, NW_FMT2, "3.9");
    CHECK_STR(lr(b), "4A");
    snprintf(b, sizeof b, NW_FMT2, "4.0");
    CHECK_STR(lr(b), "4B");
    /* no solid component for a part-solid nodule >= 6 mm: an error naming the field */
    json_t *f = json_loads("{\"composition\":\"part-solid\",\"mean_diameter_mm\":8}", 0, NULL);
    json_t *out = NULL;
    ms_err err = {0};
    CHECK(an_classify("lung-rads-2022", f, &out, &err) == MS_E_FORMAT);
    CHECK(strstr(err.msg, "solid_component_mm") != NULL);
    json_decref(f);
    return 0;
}

TEST(test_analyst_lungrads_stepped_airway_cyst_modifiers)
{
    CHECK_STR(lr("{\"prior_category\":\"4A\",\"timepoint\":\"follow-up\",\"change\":\"stable\","
                 "\"months_since_prior\":3}"),
              "3");
    CHECK_STR(lr("{\"prior_category\":\"4A\",\"timepoint\":\"follow-up\",\"change\":\"stable\","
                 "\"months_since_prior\":2.9}"),
              "4A");
    CHECK_STR(lr("{\"prior_category\":\"3\",\"timepoint\":\"follow-up\",\"change\":\"stable\","
                 "\"months_since_prior\":6}"),
              "2");
    CHECK_STR(lr("{\"prior_category\":\"3\",\"timepoint\":\"follow-up\",\"change\":\"stable\","
                 "\"months_since_prior\":5.9}"),
              "3");
    CHECK_STR(lr("{\"prior_category\":\"4B\",\"proven_benign\":true}"), "2");
    CHECK_STR(lr("{\"composition\":\"solid\",\"location\":\"airway-segmental\"}"), "4A");
    CHECK_STR(lr("{\"composition\":\"solid\",\"location\":\"airway-segmental\",\"timepoint\":"
                 "\"follow-up\",\"change\":\"stable\"}"),
              "4B");
    CHECK_STR(lr("{\"composition\":\"cyst\",\"cyst_wall\":\"thick\"}"), "4A");
    CHECK_STR(lr("{\"composition\":\"cyst\",\"cyst_wall\":\"thin\",\"cyst_locules\":"
                 "\"unilocular\"}"),
              "1");
    CHECK_STR(lr("{\"composition\":\"cyst\",\"cyst_wall\":\"thick\",\"cyst_change\":"
                 "\"wall-growing\"}"),
              "4B");
    CHECK_STR(lr("{\"composition\":\"solid\",\"mean_diameter_mm\":7,\"suspicious_features\":"
                 "[\"spiculation\"]}"),
              "4X");
    /* 4X only upgrades 3 and 4: a 2 with spiculation stays 2 */
    CHECK_STR(lr("{\"composition\":\"solid\",\"mean_diameter_mm\":4,\"suspicious_features\":"
                 "[\"spiculation\"]}"),
              "2");
    CHECK_STR(lr("{\"exam\":\"infectious\",\"composition\":\"solid\",\"mean_diameter_mm\":9}"),
              "0");
    CHECK_STR(lr("{\"nodule\":false}"), "1");
    CHECK_STR(lr("{\"composition\":\"solid\",\"mean_diameter_mm\":9,\"benign_features\":"
                 "[\"fat\"]}"),
              "1");
    json_t *f = json_loads("{\"composition\":\"solid\",\"mean_diameter_mm\":4,\"s_modifier\":true}",
                           0, NULL);
    json_t *out = NULL;
    CHECK(an_classify("lung-rads-2022", f, &out, NULL) == MS_OK);
    CHECK(json_is_true(json_object_get(out, "s_modifier")));
    CHECK_STR(json_string_value(json_object_get(out, "rule")), "lung-rads-2022/solid-baseline-lt6");
    CHECK_STR(json_string_value(json_object_get(out, "management_key")), "ldct-12m");
    json_decref(out);
    json_decref(f);
    return 0;
}

TEST(test_analyst_rounding_half_up_in_tenths)
{
    /* Lung-RADS: (6.1 + 5.8) / 2 = 5.95 -> 6.0 (half-up, integer arithmetic) -> category 3 */
    CHECK_STR(lr("{\"composition\":\"solid\",\"long_axis_mm\":6.1,\"short_axis_mm\":5.8}"), "3");
    /* (6.0 + 5.8) / 2 = 5.9 -> 2 */
    CHECK_STR(lr("{\"composition\":\"solid\",\"long_axis_mm\":6.0,\"short_axis_mm\":5.8}"), "2");
    struct an_nodule n;
    an_nodule_init(&n);
    n.long_h = 610;
    n.short_h = 580;
    CHECK_EQ_INT(an_mean_tenths(&n), 60);
    CHECK_EQ_INT(an_mean_whole_mm(&n), 6);
    n.long_h = 600;
    n.short_h = 490; /* 5.45 -> Lung-RADS 5.5 (half-up), Fleischner 5 (whole mm, no double
                        rounding through tenths) */
    CHECK_EQ_INT(an_mean_tenths(&n), 55);
    CHECK_EQ_INT(an_mean_whole_mm(&n), 5);
    n.long_h = AN_NONE;
    n.mean_h = 550;
    CHECK_EQ_INT(an_mean_whole_mm(&n), 6);
    n.mean_h = 549;
    CHECK_EQ_INT(an_mean_whole_mm(&n), 5);
    return 0;
}

TEST(test_analyst_fleischner_table)
{
#define T_FMT3                                                                                     \
    "{\"composition\":\"%s\",\"mean_diameter_mm\":%s,\"multiple\":%s,"                             \
    "\"risk\":\"%s\"}"
    char b[256];
    struct {
        const char *comp, *mm, *multi, *risk, *want;
    } rows[] = {
        {"solid", "5.4", "false", "low", "no-follow-up"},
        {"solid", "5.5", "false", "low", "ct-6-12m-consider-18-24m"}, /* rounds to 6 */
        {"solid", "5.9", "false", "high", "ct-6-12m-then-18-24m"},
        {"solid", "8.4", "false", "low", "ct-6-12m-consider-18-24m"}, /* 8 mm: 6-8 */
        {"solid", "8.5", "false", "low", "ct-3m-pet-or-biopsy"},      /* 9 mm: > 8 */
        {"solid", "4", "false", "high", "optional-ct-12m"},
        {"solid", "4", "true", "low", "no-follow-up"},
        {"solid", "4", "true", "high", "optional-ct-12m"},
        {"solid", "7", "true", "low", "ct-3-6m-consider-18-24m"},
        {"solid", "12", "true", "high", "ct-3-6m-then-18-24m"},
        {"ground-glass", "5.4", "false", "low", "no-follow-up"},
        {"ground-glass", "8", "false", "low", "ct-6-12m-then-2y-until-5y"},
        {"part-solid", "5", "false", "low", "no-follow-up"},
        {"part-solid", "7", "false", "low", "ct-3-6m-then-annual-5y"},
        {"ground-glass", "5", "true", "low", "ct-3-6m-then-2y-4y"},
        {"part-solid", "9", "true", "low", "ct-3-6m-then-most-suspicious"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(b, sizeof b, T_FMT3, rows[i].comp, rows[i].mm, rows[i].multi, rows[i].risk);
        if (strcmp(fl(b), rows[i].want) != 0) {
            fprintf(stderr, "  row %zu: %s -> %s\n", i, b, fl(b));
            return 1;
        }
    }
    CHECK_STR(fl("{\"composition\":\"part-solid\",\"mean_diameter_mm\":12,\"solid_component_mm\":"
                 "6,\"change\":\"stable\"}"),
              "pet-biopsy-or-resection");
    CHECK_STR(fl("{\"composition\":\"solid\",\"mean_diameter_mm\":7,\"context\":\"screening\"}"),
              "not-applicable");
    CHECK_STR(fl("{\"composition\":\"solid\",\"mean_diameter_mm\":7,\"age_years\":30}"),
              "not-applicable");
    CHECK_STR(fl("{\"composition\":\"solid\",\"mean_diameter_mm\":7,\"location\":"
                 "\"perifissural\"}"),
              "no-follow-up");
    /* risk unknown for a solid nodule: the high-risk row, with a note */
    CHECK_STR(fl("{\"composition\":\"solid\",\"mean_diameter_mm\":4}"), "optional-ct-12m");
    return 0;
}

TEST(test_analyst_classify_rejects_bad_input)
{
    const char *bad[] = {
        "[]",
        "{\"composition\":\"rock\",\"mean_diameter_mm\":5}",
        "{\"composition\":\"solid\",\"mean_diameter_mm\":-1}",
        "{\"composition\":\"solid\",\"mean_diameter_mm\":\"5\"}",
        "{\"composition\":\"solid\",\"mean_diameter_mm\":1e300}",
        "{\"composition\":\"solid\"}",
        "{\"mean_diameter_mm\":5}",
        "{\"composition\":\"solid\",\"mean_diameter_mm\":5,\"Patient Name\":\"Doe\"}",
        "{\"composition\":\"solid\",\"mean_diameter_mm\":5,\"multiple\":\"yes\"}",
        "{\"composition\":\"solid\",\"short_axis_mm\":5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *f = json_loads(bad[i], 0, NULL);
        json_t *out = NULL;
        ms_err err = {0};
        CHECK(f != NULL);
        ms_rc rc = an_classify("lung-rads-2022", f, &out, &err);
        json_decref(f);
        if (rc == MS_OK || err.msg[0] == '\0' || strstr(err.msg, "Doe") != NULL) {
            fprintf(stderr, "  input %zu accepted or bad message\n", i);
            json_decref(out);
            return 1;
        }
    }
    json_t *f = json_loads("{}", 0, NULL);
    json_t *out = NULL;
    CHECK(an_classify("li-rads", f, &out, NULL) == MS_E_INVAL);
    json_decref(f);
    return 0;
}

TEST(test_analyst_birads_table)
{
    const char *cats[] = {"0", "1", "2", "3", "4", "4A", "4B", "4C", "5", "6"};
    for (size_t i = 0; i < sizeof cats / sizeof cats[0]; i++) {
        const struct an_birads_row *r = an_birads_lookup(cats[i]);
        CHECK(r != NULL && r->management != NULL && r->mgmt_key != NULL);
    }
    CHECK(an_birads_lookup("7") == NULL);
    CHECK_STR(an_birads_lookup("3")->mgmt_key, "short-interval-6m");
    CHECK_STR(an_birads_lookup("4B")->mgmt_key, "tissue-diagnosis");
    CHECK_STR(an_birads_lookup("6")->mgmt_key, "surgical-excision");
    return 0;
}

TEST(test_analyst_classify_cli)
{
    char *out = NULL;
    const char *tmp = ms_test_tmpdir();
    FILE *f;
    char path[4096];
    snprintf(path, sizeof path, "%s/f.json", tmp);
    f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("{\"composition\":\"ground-glass\",\"mean_diameter_mm\":8,\"change\":\"persistent\"}", f);
    fclose(f);
    CHECK(ms_test_sh(&out, "%s classify --guideline fleischner-2017 < %s", ms_test_medseal(),
                     path) == 0);
    CHECK(out != NULL);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "category")), "ct-6-12m-then-2y-until-5y");
    CHECK(json_object_get(j, "management") != NULL && json_object_get(j, "rule") != NULL);
    json_decref(j);
    out = NULL;
    CHECK(ms_test_sh(&out, "%s classify --guideline lung-rads-2022 < %s", ms_test_medseal(),
                     path) == 0);
    j = json_loads(out, 0, NULL);
    free(out);
    CHECK_STR(json_string_value(json_object_get(j, "category")), "2");
    json_decref(j);
    CHECK(ms_test_sh(NULL, "echo '{bad' | %s classify --guideline lung-rads-2022 2>/dev/null",
                     ms_test_medseal()) == 1);
    CHECK(ms_test_sh(NULL, "echo '{}' | %s classify --guideline nope 2>/dev/null",
                     ms_test_medseal()) == 2);
    CHECK(ms_test_sh(NULL, "%s classify 2>/dev/null", ms_test_medseal()) == 2);
    return 0;
}

TEST(test_analyst_rules_as_data_match_the_code)
{
    const char *names[] = {"lung-rads-2022", "fleischner-2017"};
    for (size_t k = 0; k < 2; k++) {
        json_t *t = NULL;
        CHECK(an_guideline_rules(names[k], &t, NULL) == MS_OK);
        /* row ids are unique */
        json_t *rows = json_object_get(t, "rows");
        CHECK(json_array_size(rows) > 10);
        for (size_t i = 0; i < json_array_size(rows); i++) {
            for (size_t j = i + 1; j < json_array_size(rows); j++)
                CHECK(strcmp(json_string_value(json_object_get(json_array_get(rows, i), "id")),
                             json_string_value(json_object_get(json_array_get(rows, j), "id"))) !=
                      0);
        }
        /* the data file in the repository is exactly what the code applies */
        char path[4096];
        snprintf(path, sizeof path, "%s/data/guidelines/%s.rules.json", ms_test_root(), names[k]);
        json_t *file = json_load_file(path, 0, NULL);
        CHECK(file != NULL);
        CHECK(json_equal(file, t));
        json_decref(file);
        json_decref(t);
    }
    json_t *t = NULL;
    CHECK(an_guideline_rules("li-rads", &t, NULL) == MS_E_INVAL);
    CHECK(ms_test_sh(NULL, "%s classify --guideline fleischner-2017 --rules > /dev/null",
                     ms_test_medseal()) == 0);
    return 0;
}

/* Random findings from every field's values (and a few wrong ones): never a crash, every answer
 * names a listed row and a valid category, every refusal has a message. */
TEST(test_analyst_classify_random_findings)
{
    static const char *const comps[] = {"solid", "part-solid", "ground-glass", "cyst", "x"};
    static const char *const times[] = {"baseline", "follow-up"};
    static const char *const changes[] = {"new",       "stable",         "growing",
                                          "decreased", "slowly-growing", "persistent"};
    static const char *const locs[] = {"juxtapleural", "perifissural", "airway-segmental",
                                       "airway-subsegmental"};
    static const char *const cats[] = {"0", "1", "2", "3", "4A", "4B", "4X"};
    json_t *tables[2] = {NULL, NULL};
    CHECK(an_guideline_rules("lung-rads-2022", &tables[0], NULL) == MS_OK);
    CHECK(an_guideline_rules("fleischner-2017", &tables[1], NULL) == MS_OK);
    unsigned x = 2026;
#define RND(n) ((x = x * 1103515245u + 12345u), (x >> 16) % (unsigned)(n))
    for (int it = 0; it < 3000; it++) {
        json_t *f = json_object();
        if (RND(10) < 9)
            json_object_set_new(f, "composition", json_string(comps[RND(5)]));
        if (RND(2))
            json_object_set_new(f, "mean_diameter_mm", json_real(RND(400) / 10.0));
        else if (RND(2)) {
            json_object_set_new(f, "long_axis_mm", json_real(RND(400) / 10.0));
            json_object_set_new(f, "short_axis_mm", json_real(RND(400) / 10.0));
        }
        if (RND(3) == 0)
            json_object_set_new(f, "solid_component_mm", json_real(RND(200) / 10.0));
        if (RND(2))
            json_object_set_new(f, "timepoint", json_string(times[RND(2)]));
        if (RND(2))
            json_object_set_new(f, "change", json_string(changes[RND(6)]));
        if (RND(4) == 0) {
            json_object_set_new(f, "prior_mean_diameter_mm", json_real(RND(300) / 10.0));
            json_object_set_new(f, "months_since_prior", json_real(RND(300) / 10.0));
        }
        if (RND(5) == 0)
            json_object_set_new(f, "location", json_string(locs[RND(4)]));
        if (RND(6) == 0)
            json_object_set_new(f, "prior_category", json_string(cats[RND(7)]));
        if (RND(8) == 0)
            json_object_set_new(f, "suspicious_features", json_pack("[s]", "spiculation"));
        json_object_set_new(f, "multiple", json_boolean(RND(2)));
        if (RND(2))
            json_object_set_new(f, "risk", json_string(RND(2) ? "low" : "high"));
        for (int g = 0; g < 2; g++) {
            json_t *out = NULL;
            ms_err err = {0};
            const char *name = g ? "fleischner-2017" : "lung-rads-2022";
            ms_rc rc = an_classify(name, f, &out, &err);
            if (rc != MS_OK) {
                CHECK(rc == MS_E_FORMAT && err.msg[0] != '\0');
                continue;
            }
            const char *rule = json_string_value(json_object_get(out, "rule"));
            const char *cat = json_string_value(json_object_get(out, "category"));
            int listed = 0;
            size_t i;
            json_t *row;
            json_array_foreach(json_object_get(tables[g], "rows"), i, row)
            {
                listed |= strcmp(json_string_value(json_object_get(row, "id")), rule) == 0;
            }
            if (!listed)
                fprintf(stderr, "  unlisted rule %s\n", rule);
            CHECK(listed);
            CHECK(json_string_value(json_object_get(out, "management")) != NULL);
            if (g == 0)
                CHECK(an_lungrads_rank(cat) >= 0);
            json_decref(out);
        }
        json_decref(f);
    }
#undef RND
    json_decref(tables[0]);
    json_decref(tables[1]);
    return 0;
}

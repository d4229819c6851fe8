/*
 * Tests of findings extraction from free text: sizes (mm, cm, 1-3 axes), mean diameter and its
 * rounding, composition, lobe/segment, features, count, temporal words, negation, BI-RADS, spans.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "analyst/internal.h"
#include "medseal/analyst.h"
#include "test.h"

static json_t *ex(const char *text)
{
    json_t *out = NULL;
    ms_err err = {0};
    if (an_extract(text, strlen(text), NULL, &out, &err) != MS_OK) {
        fprintf(stderr, "  extract failed: %s\n", err.msg);
        return NULL;
    }
    return out;
}

/* the i-th finding of a type */
static json_t *nth(json_t *a, const char *type, size_t i)
{
    size_t k;
    json_t *v;
    json_array_foreach(a, k, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "type")), type) == 0 && i-- == 0)
            return v;
    }
    return NULL;
}

static size_t count_type(json_t *a, const char *type)
{
    size_t n = 0, k;
    json_t *v;
    json_array_foreach(a, k, v)
    {
        n += strcmp(json_string_value(json_object_get(v, "type")), type) == 0;
    }
    return n;
}

static double mean_of(json_t *f)
{
    return json_real_value(json_object_get(json_object_get(f, "size"), "mean_diameter_mm"));
}

static const char *str_at(json_t *f, const char *a, const char *b)
{
    return json_string_value(json_object_get(json_object_get(f, a), b));
}

static int near(double a, double b)
{
    return a > b - 1e-9 && a < b + 1e-9;
}

TEST(test_analyst_extract_advertised_request)
{
    const char *t = "Study: Chest CT, 2.3mm slice. Findings: 8mm ground-glass opacity, RUL, "
                    "persistent across 3 studies. Generate structured impression with risk "
                    "stratification.";
    json_t *a = ex(t);
    CHECK(a != NULL);
    CHECK_EQ_INT(count_type(a, "nodule"), 1); /* the 2.3 mm slice is not a nodule */
    json_t *f = nth(a, "nodule", 0);
    CHECK(near(mean_of(f), 8.0));
    CHECK_STR(str_at(f, "composition", "value"), "ground-glass");
    CHECK_STR(str_at(f, "location", "lobe"), "RUL");
    CHECK_STR(str_at(f, "change", "value"), "persistent");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(f, "change"), "studies")), 3);
    /* spans point at the words */
    json_t *sp = json_object_get(json_object_get(f, "size"), "span");
    size_t s0 = (size_t)json_integer_value(json_array_get(sp, 0));
    size_t s1 = (size_t)json_integer_value(json_array_get(sp, 1));
    CHECK(s1 - s0 == 3 && strncmp(t + s0, "8mm", 3) == 0);
    sp = json_object_get(json_object_get(f, "location"), "span");
    CHECK(strncmp(t + json_integer_value(json_array_get(sp, 0)), "RUL", 3) == 0);
    sp = json_object_get(json_object_get(f, "composition"), "span");
    CHECK(strncmp(t + json_integer_value(json_array_get(sp, 0)), "ground-glass", 12) == 0);
    json_decref(a);
    return 0;
}

TEST(test_analyst_extract_sizes_and_units)
{
    struct {
        const char *text;
        double mean;
        int naxes;
    } cases[] = {
        {"A 8 mm solid nodule in the RUL.", 8.0, 1},
        {"Solid nodule measuring 0.8 cm in the LLL.", 8.0, 1},
        {"8 x 6 mm nodule, right lower lobe.", 7.0, 2},
        {"8x6mm nodule in the RML.", 7.0, 2},
        {"An 8 mm x 6 mm nodule in the lingula.", 7.0, 2},
        {"Nodule 1.2 x 0.9 cm, left upper lobe.", 10.5, 2},
        {"Nodule measuring 12 x 9 x 10 mm in the RUL.", 10.5, 3}, /* long 12, short 9 */
        {"A 6.1 x 5.8 mm nodule in the RUL.", 6.0, 2},            /* 5.95 -> 6.0 half-up */
        {"A 6 by 5 millimeter nodule in the RUL.", 5.5, 2},
        {"An 8-mm nodule in the LUL.", 8.0, 1},
        {"Nodule of 7 × 5 mm in the RLL.", 6.0, 2},
        {"Nodule measuring 2 centimeters in the RUL.", 20.0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *a = ex(cases[i].text);
        json_t *f = a ? nth(a, "nodule", 0) : NULL;
        if (f == NULL || !near(mean_of(f), cases[i].mean) ||
            json_array_size(json_object_get(json_object_get(f, "size"), "axes_mm")) !=
                (size_t)cases[i].naxes) {
            fprintf(stderr, "  case %zu: %s\n", i, cases[i].text);
            json_decref(a);
            return 1;
        }
        json_decref(a);
    }
    return 0;
}

TEST(test_analyst_extract_composition)
{
    struct {
        const char *text, *comp;
    } cases[] = {
        {"5 mm solid nodule RUL.", "solid"},
        {"12 mm part-solid nodule in the RUL.", "part-solid"},
        {"12 mm part solid nodule in the RUL.", "part-solid"},
        {"12 mm partially solid nodule in the RUL.", "part-solid"},
        {"12 mm subsolid nodule with a 5 mm solid component in the RUL.", "part-solid"},
        {"9 mm ground glass nodule in the LLL.", "ground-glass"},
        {"9 mm non-solid nodule in the LLL.", "ground-glass"},
        {"9 mm GGO in the LLL.", "ground-glass"},
        {"9 mm pure ground-glass opacity in the LLL.", "ground-glass"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *a = ex(cases[i].text);
        json_t *f = a ? nth(a, "nodule", 0) : NULL;
        const char *c = f ? str_at(f, "composition", "value") : NULL;
        if (c == NULL || strcmp(c, cases[i].comp) != 0) {
            fprintf(stderr, "  case %zu: %s -> %s\n", i, cases[i].text, c ? c : "(none)");
            json_decref(a);
            return 1;
        }
        json_decref(a);
    }
    json_t *a = ex("12 mm subsolid nodule with a 5 mm solid component in the RUL.");
    json_t *f = nth(a, "nodule", 0);
    CHECK_EQ_INT(count_type(a, "nodule"), 1); /* the solid component is not a second nodule */
    CHECK(near(json_real_value(json_object_get(f, "solid_component_mm")), 5.0));
    json_decref(a);
    return 0;
}

TEST(test_analyst_extract_lobes_and_segments)
{
    struct {
        const char *text, *lobe, *segment;
    } cases[] = {
        {"6 mm nodule in the right upper lobe.", "RUL", NULL},
        {"6 mm nodule in the right middle lobe.", "RML", NULL},
        {"6 mm nodule, RLL.", "RLL", NULL},
        {"6 mm nodule in the LUL apicoposterior segment.", "LUL", "apicoposterior"},
        {"6 mm nodule in the lingula.", "lingula", NULL},
        {"6 mm nodule in the superior lingular segment.", "lingula", "superior lingular"},
        {"6 mm nodule in the posterior basal segment of the left lower lobe.", "LLL",
         "posterior basal"},
        {"Right upper lobe: 6 mm nodule.", "RUL", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *a = ex(cases[i].text);
        json_t *f = a ? nth(a, "nodule", 0) : NULL;
        const char *l = f ? str_at(f, "location", "lobe") : NULL;
        const char *s = f ? str_at(f, "location", "segment") : NULL;
        int ok = l != NULL && strcmp(l, cases[i].lobe) == 0 &&
                 (cases[i].segment == NULL ? s == NULL
                                           : (s != NULL && strcmp(s, cases[i].segment) == 0));
        json_decref(a);
        if (!ok) {
            fprintf(stderr, "  case %zu: %s\n", i, cases[i].text);
            return 1;
        }
    }
    return 0;
}

static int has_feature(json_t *f, const char *name)
{
    size_t k;
    json_t *v;
    json_array_foreach(json_object_get(f, "features"), k, v)
    {
        if (strcmp(json_string_value(v), name) == 0)
            return 1;
    }
    return 0;
}

TEST(test_analyst_extract_features)
{
    struct {
        const char *text, *feature;
        int present;
    } cases[] = {
        {"8 mm calcified nodule in the RUL.", "calcification", 1},
        {"8 mm non-calcified nodule in the RUL.", "calcification", 0},
        {"8 mm nodule without calcification in the RUL.", "calcification", 0},
        {"8 mm nodule with popcorn calcification in the RUL.", "calcification", 1},
        {"10 mm fat-containing nodule in the LLL.", "fat", 1},
        {"14 mm spiculated solid nodule in the LUL.", "spiculation", 1},
        {"7 mm juxtapleural nodule in the RLL.", "juxtapleural", 1},
        {"5 mm perifissural nodule along the right minor fissure.", "perifissural", 1},
        {"6 mm endobronchial nodule in the right mainstem bronchus.", "airway", 1},
        {"15 mm thick-walled cyst in the RUL.", "cyst", 1},
        {"12 mm solid nodule in the RUL, no mediastinal lymphadenopathy.", "lymphadenopathy", 0},
        {"12 mm non-spiculated solid nodule in the RUL.", "spiculation", 0},
        {"12 mm solid nodule in the RUL with spiculation and no calcification.", "spiculation", 1},
        {"12 mm solid nodule in the RUL with spiculation and no calcification.", "calcification",
         0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *a = ex(cases[i].text);
        json_t *f = a ? nth(a, "nodule", 0) : NULL;
        int ok = f != NULL && has_feature(f, cases[i].feature) == cases[i].present;
        json_decref(a);
        if (!ok) {
            fprintf(stderr, "  case %zu: %s\n", i, cases[i].text);
            return 1;
        }
    }
    return 0;
}

TEST(test_analyst_extract_temporal_words)
{
    struct {
        const char *text, *change;
    } cases[] = {
        {"New 6 mm solid nodule in the RUL.", "new"},
        {"6 mm solid nodule in the RUL, newly seen.", "new"},
        {"Stable 6 mm solid nodule in the RUL.", "stable"},
        {"6 mm solid nodule in the RUL, unchanged.", "stable"},
        {"6 mm RUL nodule without interval growth.", "stable"},
        {"RUL nodule has increased to 9 mm.", "growing"},
        {"Enlarging 9 mm RUL nodule.", "growing"},
        {"RUL nodule, now 4 mm, decreased in size.", "decreased"},
        {"RUL nodule is smaller, 4 mm.", "decreased"},
        {"The previously seen RUL nodule has resolved.", "resolved"},
        {"Persistent 8 mm GGO in the RUL.", "persistent"},
        {"8 mm GGO in the RUL, again seen.", "persistent"},
        {"Slowly growing 7 mm solid nodule in the LLL.", "slowly-growing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *a = ex(cases[i].text);
        /* a resolved nodule is listed as resolved, never as a current nodule (issue 16) */
        int res = strcmp(cases[i].change, "resolved") == 0;
        json_t *f = a ? nth(a, res ? "resolved" : "nodule", 0) : NULL;
        const char *c = f ? str_at(f, "change", "value") : NULL;
        int ok = c != NULL && strcmp(c, cases[i].change) == 0 && (!res || !nth(a, "nodule", 0));
        json_decref(a);
        if (!ok) {
            fprintf(stderr, "  case %zu: %s -> %s\n", i, cases[i].text, c ? c : "(none)");
            return 1;
        }
    }
    json_t *a = ex("8 mm GGN in the RUL, stable on three consecutive studies.");
    json_t *f = nth(a, "nodule", 0);
    CHECK(f != NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(f, "change"), "studies")), 3);
    json_decref(a);
    return 0;
}

TEST(test_analyst_extract_counts_and_several_nodules)
{
    json_t *a = ex("There is a 5 mm nodule in the RUL and a 7 mm nodule in the LLL.");
    CHECK_EQ_INT(count_type(a, "nodule"), 2);
    CHECK_STR(str_at(nth(a, "nodule", 0), "location", "lobe"), "RUL");
    CHECK(near(mean_of(nth(a, "nodule", 0)), 5.0));
    CHECK_STR(str_at(nth(a, "nodule", 1), "location", "lobe"), "LLL");
    CHECK(near(mean_of(nth(a, "nodule", 1)), 7.0));
    json_decref(a);
    a = ex("Three solid nodules, the largest 6 mm in the RUL.");
    CHECK_EQ_INT(json_integer_value(json_object_get(nth(a, "nodule", 0), "count")), 3);
    json_decref(a);
    a = ex("Multiple small ground-glass nodules in both lungs, largest 5 mm.");
    CHECK_STR(json_string_value(json_object_get(nth(a, "nodule", 0), "count")), "multiple");
    json_decref(a);
    a = ex("4 nodules are seen, up to 5 mm.");
    CHECK_EQ_INT(json_integer_value(json_object_get(nth(a, "nodule", 0), "count")), 4);
    json_decref(a);
    return 0;
}

TEST(test_analyst_extract_negation)
{
    json_t *a = ex("No suspicious nodule. No pleural effusion.");
    CHECK_EQ_INT(count_type(a, "nodule"), 0);
    CHECK_EQ_INT(count_type(a, "negative"), 1);
    json_decref(a);
    a = ex("Lungs: no pulmonary nodules or masses.");
    CHECK_EQ_INT(count_type(a, "nodule"), 0);
    CHECK_EQ_INT(count_type(a, "negative"), 1);
    json_decref(a);
    a = ex("No new nodules. Stable 4 mm nodule in the RML.");
    CHECK_EQ_INT(count_type(a, "nodule"), 1);
    CHECK(json_is_true(json_object_get(nth(a, "negative", 0), "new_only")));
    json_decref(a);
    a = ex("Without evidence of pulmonary nodules larger than 4 mm.");
    CHECK_EQ_INT(count_type(a, "nodule"), 0);
    json_decref(a);
    return 0;
}

TEST(test_analyst_extract_not_nodules)
{
    /* sizes of other things, dates and ids are not nodules */
    json_t *a = ex("Compared with prior CT of 01/28/2023. MRN 70329669. Slice thickness 1.25 mm. "
                   "12 mm lymph node in the right hilum. Liver lesion of 15 mm.");
    CHECK(a != NULL);
    CHECK_EQ_INT(count_type(a, "nodule"), 0);
    json_decref(a);
    a = ex("There is a 5.0 mm solid nodule in the right middle lobe. No pleural effusion.");
    CHECK_EQ_INT(count_type(a, "nodule"), 1);
    CHECK(near(mean_of(nth(a, "nodule", 0)), 5.0));
    json_decref(a);
    return 0;
}

TEST(test_analyst_extract_birads_and_stated_lungrads)
{
    json_t *a = ex("IMPRESSION: Suspicious mass in the left breast. BI-RADS 4B: biopsy advised.");
    json_t *b = nth(a, "bi-rads", 0);
    CHECK(b != NULL);
    CHECK_STR(json_string_value(json_object_get(b, "category")), "4B");
    CHECK_STR(json_string_value(json_object_get(b, "rule")), "bi-rads-2013/carried-from-report");
    CHECK_EQ_INT(count_type(a, "nodule"), 0); /* a breast mass is not a pulmonary nodule */
    json_decref(a);
    const char *forms[] = {"BIRADS category 3.", "BI-RADS: 0", "Assessment: BI-RADS Category 5",
                           "bi-rads 4c"};
    const char *want[] = {"3", "0", "5", "4C"};
    for (size_t i = 0; i < 4; i++) {
        a = ex(forms[i]);
        b = nth(a, "bi-rads", 0);
        int ok =
            b != NULL && strcmp(json_string_value(json_object_get(b, "category")), want[i]) == 0;
        json_decref(a);
        if (!ok) {
            fprintf(stderr, "  form %zu\n", i);
            return 1;
        }
    }
    a = ex("BI-RADS 7.");
    CHECK_EQ_INT(count_type(a, "bi-rads"), 0);
    json_decref(a);
    a = ex("Lung-RADS 4X.");
    CHECK_STR(json_string_value(json_object_get(nth(a, "lung-rads-stated", 0), "category")), "4X");
    json_decref(a);
    return 0;
}

TEST(test_analyst_extract_hostile_input)
{
    /* arbitrary bytes, long runs of digits and units, no crash, bounded output */
    char buf[4096];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = "0123456789. xmcnodule,;\n\xc3\x97"[(x >> 16) % 26];
    }
    json_t *out = NULL;
    ms_err err = {0};
    ms_rc rc = an_extract(buf, sizeof buf, NULL, &out, &err);
    CHECK(rc == MS_OK || rc == MS_E_LIMIT);
    json_decref(out);
    CHECK(an_extract("", 0, NULL, &out, &err) == MS_OK);
    CHECK_EQ_INT(json_array_size(out), 0);
    json_decref(out);
    /* allocation failures: clean errors, nothing leaked */
    for (long n = 1; n < 20; n++) {
        ms_alloc a = {0};
        a.fail_at = n;
        struct an_found *f = NULL;
        size_t nf = 0;
        const char *t = "5 mm nodule RUL. 6 mm nodule RML. 7 mm nodule LLL. BI-RADS 2.";
        rc = an_extract_text(t, strlen(t), &a, &f, &nf, NULL);
        CHECK(rc == MS_OK || rc == MS_E_NOMEM);
        ms_free(&a, f);
        CHECK_EQ_INT(atomic_load(&a.in_use), 0);
        if (rc == MS_OK)
            return 0;
    }
    return 1;
}

TEST(test_analyst_extract_more_phrasings)
{
    struct {
        const char *text;
        double mean;
        const char *lobe, *comp, *change;
    } cases[] = {
        {"Nodule in the RUL measuring 6 mm.", 6.0, "RUL", NULL, NULL},
        {"RUL: 6 mm nodule.", 6.0, "RUL", NULL, NULL},
        {"No change in the RUL nodule, 6 mm.", 6.0, "RUL", NULL, "stable"},
        {"No interval growth of the 7 mm solid LLL nodule.", 7.0, "LLL", "solid", "stable"},
        {"A 4 mm nodule is seen in the right upper lobe.", 4.0, "RUL", NULL, NULL},
        {"Left lower lobe ground-glass nodule measures 1.1 x 0.9 cm, unchanged.", 10.0, "LLL",
         "ground-glass", "stable"},
        {"There is a 5.0 mm solid nodule in the right middle lobe.", 5.0, "RML", "solid", NULL},
        {"8.4 x 7.0 mm solid nodule in the right upper lobe, previously smaller.", 7.7, "RUL",
         "solid", "growing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *a = ex(cases[i].text);
        json_t *f = a ? nth(a, "nodule", 0) : NULL;
        int ok = f != NULL && near(mean_of(f), cases[i].mean) &&
                 strcmp(str_at(f, "location", "lobe") ? str_at(f, "location", "lobe") : "",
                        cases[i].lobe) == 0;
        const char *c = f ? str_at(f, "composition", "value") : NULL;
        const char *ch = f ? str_at(f, "change", "value") : NULL;
        ok = ok && (cases[i].comp == NULL || (c != NULL && strcmp(c, cases[i].comp) == 0));
        ok = ok && (cases[i].change == NULL ? ch == NULL
                                            : (ch != NULL && strcmp(ch, cases[i].change) == 0));
        json_decref(a);
        if (!ok) {
            fprintf(stderr, "  case %zu: %s\n", i, cases[i].text);
            return 1;
        }
    }
    return 0;
}

TEST(test_analyst_extract_earlier_size_in_text)
{
    struct {
        const char *text;
        double mean, prior;
    } cases[] = {
        {"6 mm RUL nodule, previously 4 mm.", 6.0, 4.0},
        {"RUL nodule increased from 4 mm to 6.5 mm.", 6.5, 4.0},
        {"8 mm solid nodule in the LLL, was 7.5 mm.", 8.0, 7.5},
        {"LUL nodule now 9 x 7 mm (prior 6 x 5 mm).", 8.0, 5.5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *a = ex(cases[i].text);
        json_t *f = a ? nth(a, "nodule", 0) : NULL;
        int ok = f != NULL && count_type(a, "nodule") == 1 && near(mean_of(f), cases[i].mean) &&
                 near(json_number_value(json_object_get(f, "prior_size_mm")), cases[i].prior);
        json_decref(a);
        if (!ok) {
            fprintf(stderr, "  case %zu: %s\n", i, cases[i].text);
            return 1;
        }
    }
    /* "previously seen, now measures": the size is the current one */
    json_t *a = ex("The nodule, previously seen, now measures 6 mm in the RML.");
    CHECK(json_object_get(nth(a, "nodule", 0), "prior_size_mm") == NULL);
    json_decref(a);
    return 0;
}

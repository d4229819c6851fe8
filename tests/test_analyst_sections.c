/*
 * Tests of section and organ awareness in findings extraction: headings (LUNGS:, MEDIASTINUM:,
 * CHEST WALL:, THYROID:, UPPER ABDOMEN:, INDICATION: ...) and organ words decide whether a
 * finding is pulmonary; other sized findings are kept as "other" findings with their organ;
 * opacities of atelectasis or scarring are not nodules; only pulmonary nodules get categories.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "analyst/internal.h"
#include "medseal/analyst.h"
#include "test.h"

static json_t *ex(const char *text)
{
    json_t *out = NULL;
    ms_err err = {0};
    if (an_extract(text, strlen(text), NULL, &out, &err) != MS_OK)
        return NULL;
    return out;
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

static int expect(const char *t, size_t nodules, size_t other, size_t negatives, const char *organ)
{
    json_t *a = ex(t);
    int ok = a != NULL && count_type(a, "nodule") == nodules && count_type(a, "other") == other &&
             count_type(a, "negative") == negatives;
    if (ok && organ != NULL) {
        const char *o = json_string_value(json_object_get(nth(a, "other", 0), "organ"));
        ok = o != NULL && strcmp(o, organ) == 0;
    }
    if (!ok)
        fprintf(stderr, "  text: %s\n  got %zu nodule, %zu other, %zu negative\n", t,
                count_type(a, "nodule"), count_type(a, "other"), count_type(a, "negative"));
    json_decref(a);
    return ok;
}

TEST(test_analyst_sections_outside_the_lung)
{
    CHECK(expect("MEDIASTINUM: 2.1 cm anterior mediastinal mass.", 0, 1, 0, "mediastinal"));
    CHECK(expect("MEDIASTINUM:\nThere is a 2.5 cm soft tissue mass.", 0, 1, 0, NULL));
    CHECK(expect("MEDIASTINUM AND HILA:\nThere is a 2.5 cm mass.", 0, 1, 0, "mediastinum"));
    CHECK(expect("CHEST WALL: 8 mm subcutaneous nodule in the left axilla.", 0, 1, 0, NULL));
    CHECK(expect("THYROID: 1.2 cm cyst in the right lobe.", 0, 1, 0, "thyroid"));
    CHECK(expect("Pericardial cyst measuring 3 cm.", 0, 1, 0, "pericardial"));
    CHECK(expect("LUNGS: 5 mm nodule in the right upper lobe.\nUPPER ABDOMEN: 1.5 cm hypodense "
                 "lesion.",
                 1, 1, 0, "upper abdomen"));
    CHECK(expect("A 6 mm nodule in the RUL and a 12 mm subcarinal lymph node.", 1, 1, 0, NULL));
    /* a negative statement under a non-pulmonary heading is not "no pulmonary nodules" */
    CHECK(expect("MEDIASTINUM: No mass or lymphadenopathy.", 0, 0, 0, NULL));
    /* a lung word under a non-pulmonary heading keeps the nodule pulmonary */
    CHECK(expect("LUNGS AND PLEURA: 4 mm nodule in the lingula.\nMEDIASTINUM: Normal. 5 mm "
                 "nodule in the right lower lobe abutting the mediastinum.",
                 2, 0, 0, NULL));
    return 0;
}

TEST(test_analyst_sections_indication_and_headings)
{
    /* the indication and comparison are not this study's findings */
    CHECK(expect("INDICATION: Follow-up of 6 mm lung nodule.\nCOMPARISON: CT of 2022 showing a 5 "
                 "mm nodule.\nFINDINGS:\nLUNGS: No pulmonary nodules.",
                 0, 0, 1, NULL));
    /* an unknown label is not a heading: the lobe in it stays with the nodule */
    json_t *a = ex("Right upper lobe: 5 mm solid nodule.");
    CHECK_STR(json_string_value(json_object_get(json_object_get(nth(a, "nodule", 0), "location"),
                                                "lobe")),
              "RUL");
    json_decref(a);
    return 0;
}

TEST(test_analyst_sections_opacities_not_nodules)
{
    CHECK(expect("Bibasilar atelectatic opacities. Linear opacity in the lingula consistent "
                 "with scarring. Patchy airspace opacity in the RLL.",
                 0, 0, 0, NULL));
    CHECK(expect("Mild reticular opacities at the lung bases, measuring up to 12 mm.", 0, 0, 0,
                 NULL));
    CHECK(expect("8 mm ground-glass opacity in the right upper lobe.", 1, 0, 0, NULL));
    CHECK(expect("Rounded opacity in the LLL measuring 9 mm.", 1, 0, 0, NULL));
    return 0;
}

TEST(test_analyst_sections_no_category_outside_the_lung)
{
    const char *t = "MEDIASTINUM: 3.2 cm anterior mediastinal mass.\nLUNGS: No pulmonary nodules.";
    an_report *r = NULL;
    json_t *j = NULL;
    CHECK(an_report_new(NULL, &r, NULL) == MS_OK);
    CHECK(an_add_text(r, t, strlen(t), "user", NULL) == MS_OK && an_run(r, NULL) == MS_OK);
    CHECK(an_report_json(r, &j, NULL) == MS_OK);
    an_report_free(r);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "findings")), 0);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "other_findings")), 1);
    json_t *lr = json_object_get(json_object_get(j, "assessment"), "lung_rads");
    CHECK_STR(json_string_value(json_object_get(lr, "category")), "1");
    json_decref(j);
    return 0;
}

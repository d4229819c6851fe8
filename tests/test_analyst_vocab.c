/*
 * Tests of the composition and status vocabulary of findings extraction (issue 16, after the
 * mention graph): soft tissue attenuation is solid (not an organ), subsolid, a solid component
 * making a ground-glass nodule part-solid, status after ';' in list items, "previously noted
 * N mm nodule ... has resolved" listed as resolved, a heading ending a list, a size after a
 * clause break not taken for an earlier size. Trusts the analyst library; needs no ../shared.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "medseal/analyst.h"
#include "analyst_util.h"
#include "test.h"

static json_t *at(json_t *j, const char *list, size_t i)
{
    return json_array_get(json_object_get(j, list), i);
}

static size_t count(json_t *j, const char *list)
{
    return json_array_size(json_object_get(j, list));
}

static const char *sub(json_t *f, const char *a, const char *b)
{
    const char *s = json_string_value(json_object_get(json_object_get(f, a), b));
    return s != NULL ? s : "";
}

static double mean(json_t *f)
{
    return json_number_value(json_object_get(json_object_get(f, "size"), "mean_diameter_mm"));
}

TEST(test_analyst_vocab_soft_tissue_is_solid)
{
    json_t *j =
        an_t_run_text("LUNGS: A 6 mm soft tissue attenuation nodule in the lower part of the "
                      "right upper lobe (4:55).",
                      NULL);
    CHECK(j != NULL);
    CHECK_EQ_INT(count(j, "findings"), 1);
    CHECK_EQ_INT(count(j, "other_findings"), 0);
    CHECK_STR(sub(at(j, "findings", 0), "composition", "value"), "solid");
    json_decref(j);
    /* a soft tissue nodule of the axilla is still outside the lung */
    j = an_t_run_text("CHEST WALL: 15 mm soft tissue nodule in the right axilla.", NULL);
    CHECK_EQ_INT(count(j, "findings"), 0);
    CHECK_EQ_INT(count(j, "other_findings"), 1);
    json_decref(j);
    return 0;
}

TEST(test_analyst_vocab_subsolid_and_solid_component)
{
    json_t *j = an_t_run_text("14 mm subsolid nodule in the RUL (image 77).", NULL);
    CHECK_STR(sub(at(j, "findings", 0), "composition", "value"), "ground-glass");
    json_decref(j);
    j = an_t_run_text(
        "In the right upper lobe there is a 14 mm subsolid nodule with a solid component "
        "of 5 mm (image 77).",
        NULL);
    CHECK_EQ_INT(count(j, "findings"), 1);
    CHECK_STR(sub(at(j, "findings", 0), "composition", "value"), "part-solid");
    json_decref(j);
    j = an_t_run_text("16 mm ground-glass nodule in the LLL with a 4 mm solid component.", NULL);
    CHECK_STR(sub(at(j, "findings", 0), "composition", "value"), "part-solid");
    json_decref(j);
    return 0;
}

TEST(test_analyst_vocab_status_after_semicolon)
{
    json_t *j = an_t_run_text("Pulmonary nodules:\n- LUL: 4 mm solid (se 6, im 139); unchanged\n"
                              "- RUL: 16 millimeter part solid; unchanged from the prior study\n",
                              NULL);
    CHECK_EQ_INT(count(j, "findings"), 2);
    CHECK_STR(sub(at(j, "findings", 0), "change", "value"), "stable");
    CHECK_STR(sub(at(j, "findings", 1), "change", "value"), "stable");
    json_decref(j);
    /* a clause after ';' that names a nodule is a sentence of its own */
    j = an_t_run_text("5 mm nodule in the RUL, unchanged; new 4 mm nodule in the LLL.", NULL);
    CHECK_EQ_INT(count(j, "findings"), 2);
    CHECK_STR(sub(at(j, "findings", 1), "change", "value"), "new");
    json_decref(j);
    return 0;
}

TEST(test_analyst_vocab_previously_noted_resolved)
{
    json_t *j =
        an_t_run_text("Lungs: No effusion or suspicious nodule. Previously noted 1.8 x 1.4 cm "
                      "nodule\nin the left upper lobe has resolved.",
                      NULL);
    CHECK_EQ_INT(count(j, "findings"), 0);
    CHECK_EQ_INT(count(j, "resolved"), 1);
    CHECK(mean(at(j, "resolved", 0)) > 15.95 && mean(at(j, "resolved", 0)) < 16.05);
    CHECK_STR(sub(at(j, "resolved", 0), "location", "lobe"), "LUL");
    json_decref(j);
    /* "previously 4 mm" after the size is still the earlier size */
    j = an_t_run_text("6 mm nodule in the lingula (6:247), previously 4 mm.", NULL);
    CHECK_EQ_INT(count(j, "findings"), 1);
    json_decref(j);
    return 0;
}

TEST(test_analyst_vocab_clause_break_is_not_prior)
{
    json_t *j =
        an_t_run_text("Multiple nodules are unchanged since the last exam, including a 6 "
                      "millimeter nonsolid right lower lobe nodule (se 5, im 122), a 10 mm solid "
                      "right upper lobe nodule (se 5, im 207).",
                      NULL);
    CHECK_EQ_INT(count(j, "findings"), 2);
    CHECK(mean(at(j, "findings", 0)) > 5.95 && mean(at(j, "findings", 0)) < 6.05);
    CHECK_STR(sub(at(j, "findings", 0), "composition", "value"), "ground-glass");
    CHECK_STR(sub(at(j, "findings", 1), "change", "value"), "stable");
    json_decref(j);
    return 0;
}

TEST(test_analyst_vocab_heading_ends_list)
{
    json_t *j = an_t_run_text(
        "Lung nodules:\n- Left lower lobe: 3 millimeter densely calcified (image 32)\n"
        "PLEURA: 1.8 cm calcified pleural plaque along the left hemidiaphragm.\n",
        NULL);
    CHECK_EQ_INT(count(j, "findings"), 1);
    json_decref(j);
    return 0;
}

/* every finding in the HTML report carries its spans ("why"), and negated and uncertain
 * mentions are listed with the trigger that decided them */
TEST(test_analyst_vocab_html_why_and_not_counted)
{
    static const char text[] = "LUNGS: A 6 mm solid nodule in the RUL (4:55), new. No suspicious "
                               "nodule or effusion. Cannot exclude a small nodule in the LLL.";
    an_report *r = NULL;
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(an_report_new(NULL, &r, NULL) == MS_OK);
    CHECK(an_add_text(r, text, strlen(text), "notes", NULL) == MS_OK);
    CHECK(an_run(r, NULL) == MS_OK);
    ms_rc rc = an_report_html(r, &b, NULL);
    an_report_free(r);
    CHECK(rc == MS_OK);
    const char *h = (const char *)b.p;
    int ok = strstr(h, "<summary>why</summary>") != NULL && strstr(h, "text [9, 49)") != NULL &&
             strstr(h, "size [9, 13)") != NULL && strstr(h, "image [39, 43)") != NULL &&
             strstr(h, "Not counted as current nodules") != NULL &&
             strstr(h, "<b>negated</b>") != NULL && strstr(h, "&ldquo;no suspicious&rdquo; (negated)") != NULL &&
             strstr(h, "<b>uncertain</b>") != NULL && strstr(h, "&ldquo;cannot exclude&rdquo;") != NULL &&
             strstr(h, "Cannot exclude") == NULL; /* de-identified: no evidence text */
    if (!ok)
        fprintf(stderr, "%s\n", h);
    ms_buf_free(&b);
    CHECK(ok);
    return 0;
}

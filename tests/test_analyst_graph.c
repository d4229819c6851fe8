/*
 * Tests of the mention graph of findings extraction and the study's merge: image references
 * keep nodules apart or join them, coreference only by reference back ("It measures 1.4 cm",
 * "These are unchanged."), lists and comma lists distribute shared attributes, ranges and
 * "up to", attributes do not leak between phrases, restatements under IMPRESSION merge.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "analyst/internal.h"
#include "medseal/analyst.h"
#include "analyst_util.h"
#include "test.h"

static json_t *nod(json_t *j, size_t i)
{
    return json_array_get(json_object_get(j, "findings"), i);
}

static size_t nnod(json_t *j)
{
    return json_array_size(json_object_get(j, "findings"));
}

static double mean(json_t *f)
{
    return json_number_value(json_object_get(json_object_get(f, "size"), "mean_diameter_mm"));
}

static const char *sub(json_t *f, const char *a, const char *b)
{
    return json_string_value(json_object_get(json_object_get(f, a), b));
}

TEST(test_analyst_graph_image_refs_keep_nodules_apart)
{
    json_t *j =
        an_t_run_text("4 mm nodule in the left lower lobe (5:112). 4 mm nodule in the left lower "
                      "lobe (5:140).",
                      NULL);
    CHECK_EQ_INT(nnod(j), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(nod(j, 0), "image"), "image")),
                 112);
    json_decref(j);
    j = an_t_run_text("Two 4 mm nodules in the left lower lobe (series:image 5:112 and 5:140).",
                      NULL);
    CHECK_EQ_INT(nnod(j), 2);
    json_decref(j);
    /* the same image reference is the same nodule, even with another size */
    j = an_t_run_text(
        "FINDINGS: 6 mm nodule in the RUL (series 4, image 77). 5 mm nodule in the RUL "
        "(se 4, im 77).",
        NULL);
    CHECK_EQ_INT(nnod(j), 1);
    json_decref(j);
    /* a calcified granuloma and a non-calcified nodule of one lobe stay two */
    j = an_t_run_text(
        "5 mm calcified granuloma in the RLL (3:40). 5 mm non-calcified solid nodule in "
        "the RLL (3:88).",
        NULL);
    CHECK_EQ_INT(nnod(j), 2);
    json_decref(j);
    return 0;
}

TEST(test_analyst_graph_distinct_and_restated)
{
    /* three nodules of one lobe in the findings, restated in the impression: three */
    json_t *j =
        an_t_run_text("LUNGS: There is a 5 mm solid nodule in the LUL, increased from 2 mm. "
                      "There is a 6 mm solid nodule in the LUL, decreased from 9 mm.\n"
                      "IMPRESSION: Growing 5 mm LUL nodule. Decreased 6 mm LUL nodule.",
                      NULL);
    CHECK_EQ_INT(nnod(j), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(nod(j, 0), "mentions")), 2);
    json_decref(j);
    /* a size-less restatement joins the nodule */
    j = an_t_run_text("FINDINGS: A 1.8 cm nodule projects over the lingula.\nIMPRESSION: Pulmonary "
                      "nodule as above.",
                      NULL);
    CHECK_EQ_INT(nnod(j), 1);
    json_decref(j);
    return 0;
}

TEST(test_analyst_graph_coreference_next_sentence)
{
    json_t *j = an_t_run_text(
        "A solid nodule is seen in the left base (se 6, im 15). It measures 1.4 cm.", NULL);
    CHECK_EQ_INT(nnod(j), 1);
    CHECK(fabs(mean(nod(j, 0)) - 14.0) < 1e-9);
    CHECK_STR(sub(nod(j, 0), "location", "lobe"), "LLL");
    json_decref(j);
    j = an_t_run_text("5 mm nodule in the RUL. 3 mm nodule in the LLL. These are unchanged.", NULL);
    CHECK_EQ_INT(nnod(j), 2);
    CHECK_STR(sub(nod(j, 0), "change", "value"), "stable");
    CHECK_STR(sub(nod(j, 1), "change", "value"), "stable");
    json_decref(j);
    return 0;
}

TEST(test_analyst_graph_lists_and_shared_attributes)
{
    json_t *j =
        an_t_run_text("Several new nodules, e.g.:\n- left upper lobe 6 mm (3:44)\n- right lower "
                      "lobe 3 mm (3:201)\n- lingula 4 mm (3:150)\n",
                      NULL);
    CHECK_EQ_INT(nnod(j), 3);
    for (size_t i = 0; i < 3; i++)
        CHECK_STR(sub(nod(j, i), "change", "value"), "new");
    json_decref(j);
    j = an_t_run_text(
        "Lung nodules:\nPeribronchial: 5 mm in the RLL\nSubpleural: 3 mm in the LUL\n", NULL);
    CHECK_EQ_INT(nnod(j), 2);
    json_decref(j);
    j = an_t_run_text(
        "Stable scattered nodules, among them a 6 mm in the RUL, a 2 mm in the RML and "
        "a 7 mm in the LLL.",
        NULL);
    CHECK_EQ_INT(nnod(j), 3);
    for (size_t i = 0; i < 3; i++)
        CHECK_STR(sub(nod(j, i), "change", "value"), "stable");
    json_decref(j);
    j = an_t_run_text("4 mm right lower and right middle nodules.", NULL);
    CHECK_EQ_INT(nnod(j), 2);
    const char *l0 = sub(nod(j, 0), "location", "lobe"), *l1 = sub(nod(j, 1), "location", "lobe");
    CHECK(l0 != NULL && l1 != NULL);
    CHECK((strcmp(l0, "RLL") == 0 && strcmp(l1, "RML") == 0) ||
          (strcmp(l0, "RML") == 0 && strcmp(l1, "RLL") == 0));
    json_decref(j);
    return 0;
}

TEST(test_analyst_graph_ranges_and_up_to)
{
    json_t *j = an_t_run_text("Scattered 3-6 mm solid nodules in the right upper lobe.", NULL);
    CHECK_EQ_INT(nnod(j), 1);
    CHECK(fabs(mean(nod(j, 0)) - 6.0) < 1e-9);
    CHECK(json_is_true(json_object_get(json_object_get(nod(j, 0), "size"), "range")));
    json_decref(j);
    j = an_t_run_text("Several solid nodules in the left lower lobe, up to 5 mm.", NULL);
    CHECK(fabs(mean(nod(j, 0)) - 5.0) < 1e-9);
    CHECK(json_is_true(json_object_get(json_object_get(nod(j, 0), "size"), "up_to")));
    json_decref(j);
    /* "from 4 to 6 mm" is growth, not a range */
    j = an_t_run_text("RUL nodule increased from 4 mm to 6 mm.", NULL);
    CHECK(json_object_get(json_object_get(nod(j, 0), "size"), "range") == NULL);
    json_decref(j);
    return 0;
}

TEST(test_analyst_graph_status_words_and_no_leaking)
{
    json_t *j =
        an_t_run_text("A 5 mm solid nodule in the RML has appeared since the last exam.", NULL);
    CHECK_STR(sub(nod(j, 0), "change", "value"), "new");
    json_decref(j);
    j = an_t_run_text("6 mm nodule in the lingula, not present previously.", NULL);
    CHECK_STR(sub(nod(j, 0), "change", "value"), "new");
    json_decref(j);
    /* the lobe and the part-solid composition belong to the ground-glass lesion */
    j = an_t_run_text(
        "5 mm nodules in the left lower lobe as well as patchy ground-glass opacity in the "
        "right upper lobe, the latter 16 mm with a solid core of 6 mm.",
        NULL);
    CHECK_EQ_INT(nnod(j), 2);
    json_t *a = nod(j, 0), *b = nod(j, 1);
    CHECK_STR(sub(a, "location", "lobe"), "LLL");
    CHECK(json_is_null(json_object_get(a, "composition")) ||
          strcmp(sub(a, "composition", "value"), "part-solid") != 0);
    CHECK_STR(sub(b, "location", "lobe"), "RUL");
    CHECK_STR(sub(b, "composition", "value"), "part-solid");
    json_decref(j);
    return 0;
}

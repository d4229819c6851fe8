/*
 * Tests of line-wrap aware sentence splitting in findings extraction: reports are wrapped at
 * ~80 columns, so a hard line break inside a sentence does not end it; blank lines, headings,
 * list items and short lines do. Spans still point into the source text.
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
    if (an_extract(text, strlen(text), NULL, &out, &err) != MS_OK) {
        fprintf(stderr, "  extract failed: %s\n", err.msg);
        return NULL;
    }
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

static double mean_of(json_t *f)
{
    return json_real_value(json_object_get(json_object_get(f, "size"), "mean_diameter_mm"));
}

TEST(test_analyst_lines_wrapped_size)
{
    /* "nodule 6\nmm": the size continues on the next line */
    const char *t = "There is a small solid nodule in the right upper lobe which measures about 6\n"
                    "mm, unchanged from the prior examination.";
    json_t *a = ex(t);
    CHECK_EQ_INT(count_type(a, "nodule"), 1);
    json_t *f = nth(a, "nodule", 0);
    CHECK(mean_of(f) > 5.99 && mean_of(f) < 6.01);
    CHECK_STR(json_string_value(json_object_get(json_object_get(f, "change"), "value")), "stable");
    /* the size span covers "6\nmm" in the source text */
    json_t *sp = json_object_get(json_object_get(f, "size"), "span");
    size_t s = (size_t)json_integer_value(json_array_get(sp, 0));
    size_t e = (size_t)json_integer_value(json_array_get(sp, 1));
    CHECK(e > s && t[s] == '6' && t[e - 1] == 'm' && memchr(t + s, '\n', e - s) != NULL);
    json_decref(a);
    return 0;
}

TEST(test_analyst_lines_wrapped_negation)
{
    /* "No new\nlung nodules": the negation survives the break; no sizeless finding appears */
    json_t *a = ex("Compared with the CT of last year there is no new\n"
                   "lung nodule and no pleural effusion.");
    CHECK_EQ_INT(count_type(a, "nodule"), 0);
    CHECK_EQ_INT(count_type(a, "negative"), 1);
    CHECK(json_is_true(json_object_get(nth(a, "negative", 0), "new_only")));
    json_decref(a);
    a = ex("LUNGS: The lungs are clear. No suspicious pulmonary nodules, masses or\n"
           "   consolidation. Mild dependent atelectasis.");
    CHECK_EQ_INT(count_type(a, "nodule"), 0);
    CHECK_EQ_INT(count_type(a, "negative"), 1);
    json_decref(a);
    /* CRLF line ends and a wrap with indentation */
    a = ex("FINDINGS: A part-solid nodule in the left upper lobe now measures 12 x 10\r\n"
           "    mm with a 5 mm solid component.\r\n");
    CHECK_EQ_INT(count_type(a, "nodule"), 1);
    CHECK(mean_of(nth(a, "nodule", 0)) > 10.99 && mean_of(nth(a, "nodule", 0)) < 11.01);
    json_decref(a);
    return 0;
}

TEST(test_analyst_lines_breaks_that_end)
{
    /* a blank line, a heading, list items and short lines end a sentence: the negation of the
     * first line does not reach the nodule of the next */
    json_t *a = ex("No pleural effusion\n\n6 mm nodule in the right lower lobe.");
    CHECK_EQ_INT(count_type(a, "nodule"), 1);
    json_decref(a);
    a = ex("Lungs: no consolidation\nRight upper lobe: 5 mm solid nodule\nLeft lower lobe: 4 mm "
           "solid nodule");
    CHECK_EQ_INT(count_type(a, "nodule"), 2);
    json_decref(a);
    a = ex("No pneumothorax\n- 7 mm nodule in the lingula\n- 3 mm nodule in the RML");
    CHECK_EQ_INT(count_type(a, "nodule"), 2);
    json_decref(a);
    a = ex("IMPRESSION\nNo suspicious nodule");
    CHECK_EQ_INT(count_type(a, "negative"), 1);
    json_decref(a);
    return 0;
}

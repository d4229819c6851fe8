/*
 * Tests of the ConText / NegEx module (src/analyst/context.c, lexicon data/analyst/context.tsv):
 * the scope of every trigger of the lexicon (forward, backward, the word window, termination),
 * pseudo-triggers and terminating phrases, and the issue's sentences through the extractor.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "analyst/internal.h"
#include "medseal/analyst.h"
#include "test.h"

/* The category an_context gives the word "nodule" in the sentence s (lower case). */
static int cat_of(const char *s)
{
    const char *p = strstr(s, "nodule");
    if (p == NULL)
        return -1;
    size_t t0 = (size_t)(p - s);
    return an_context(s, 0, strlen(s), t0, t0 + 6, NULL);
}

TEST(test_analyst_context_every_trigger_scope)
{
    char buf[256];
    const char *fill13 = "xa xb xc xd xe xf xg xh xi xj xk xl xm";
    const char *fill7 = "xa xb xc xd xe xf xg";
    CHECK(an_ctx_lexicon_n > 50);
    for (size_t k = 0; k < an_ctx_lexicon_n; k++) {
        const struct an_ctx_trigger *t = &an_ctx_lexicon[k];
        int want = t->cat, bad = 0;
        if (t->cat == AN_CTX_PSEUDO || t->cat == AN_CTX_TERMINATE) {
            /* neither denies a nodule after or before it */
            if (t->cat == AN_CTX_TERMINATE)
                snprintf(buf, sizeof buf, "no effusion %s nodule", t->phrase);
            else
                snprintf(buf, sizeof buf, "%s nodule", t->phrase);
            bad |= cat_of(buf) != AN_CTX_NONE;
            snprintf(buf, sizeof buf, "nodule %s", t->phrase);
            bad |= t->cat == AN_CTX_PSEUDO && cat_of(buf) != AN_CTX_NONE;
        }
        if (t->dir & AN_CTX_FWD) {
            snprintf(buf, sizeof buf, "%s nodule", t->phrase); /* in scope */
            bad |= cat_of(buf) != want;
            snprintf(buf, sizeof buf, "%s small round nodule", t->phrase);
            bad |= cat_of(buf) != want;
            snprintf(buf, sizeof buf, "%s effusion but nodule", t->phrase); /* terminated */
            bad |= cat_of(buf) != AN_CTX_NONE;
            snprintf(buf, sizeof buf, "%s effusion; nodule", t->phrase);
            bad |= cat_of(buf) != AN_CTX_NONE;
            snprintf(buf, sizeof buf, "%s %s nodule", t->phrase, fill13); /* past the window */
            bad |= cat_of(buf) != AN_CTX_NONE;
            if (!(t->dir & AN_CTX_BWD)) { /* forward only: not before it */
                snprintf(buf, sizeof buf, "nodule %s", t->phrase);
                bad |= cat_of(buf) == want;
            }
        }
        if (t->dir & AN_CTX_BWD) {
            snprintf(buf, sizeof buf, "nodule %s", t->phrase);
            bad |= cat_of(buf) != want;
            snprintf(buf, sizeof buf, "the nodule seen before %s", t->phrase);
            bad |= cat_of(buf) != want;
            snprintf(buf, sizeof buf, "nodule %s %s", t->cat == AN_CTX_NEW ? fill13 : fill7,
                     t->phrase);
            bad |= cat_of(buf) != AN_CTX_NONE;
            if (t->cat != AN_CTX_NEW) { /* "which was not present": new crosses "which" */
                snprintf(buf, sizeof buf, "nodule; effusion %s", t->phrase);
                bad |= cat_of(buf) != AN_CTX_NONE;
                snprintf(buf, sizeof buf, "nodule but effusion %s", t->phrase);
                bad |= cat_of(buf) != AN_CTX_NONE;
            }
            if (!(t->dir & AN_CTX_FWD)) {
                snprintf(buf, sizeof buf, "%s nodule", t->phrase);
                bad |= cat_of(buf) == want;
            }
        }
        if (bad) {
            fprintf(stderr, "  trigger '%s' (%s, %s): last sentence '%s'\n", t->phrase,
                    t->cat_name, t->dir_name, buf);
            return 1;
        }
    }
    return 0;
}

TEST(test_analyst_context_nearest_and_clauses)
{
    /* a list after "no" stays negated; a comma that starts a new clause ends the scope */
    CHECK_EQ_INT(cat_of("no pleural effusion, pneumothorax or suspicious pulmonary nodule"),
                 AN_CTX_NEGATED);
    CHECK_EQ_INT(cat_of("no effusion, a 5 mm nodule in the rul"), AN_CTX_NONE);
    CHECK_EQ_INT(cat_of("no effusion, 5 mm nodule in the rul"), AN_CTX_NONE);
    /* the nearest trigger decides: "rather than" after "likely" */
    CHECK_EQ_INT(cat_of("likely atelectasis rather than nodule"), AN_CTX_NEGATED);
    CHECK_EQ_INT(cat_of("no effusion. possible nodule"), AN_CTX_UNCERTAIN);
    CHECK_EQ_INT(cat_of("new nodule, which was not present previously"), AN_CTX_NEW);
    CHECK_EQ_INT(cat_of("no change in the rul nodule"), AN_CTX_NONE);
    CHECK_EQ_INT(cat_of("no new nodules"), AN_CTX_NEGATED_NEW);
    CHECK_EQ_INT(cat_of("there is no nodule"), AN_CTX_NEGATED);
    return 0;
}

static json_t *ex(const char *text)
{
    json_t *out = NULL;
    ms_err err = {0};
    if (an_extract(text, strlen(text), NULL, &out, &err) != MS_OK)
        return NULL;
    return out;
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

static const char *trig(json_t *f)
{
    return json_string_value(json_object_get(json_object_get(f, "trigger"), "phrase"));
}

TEST(test_analyst_context_issue_sentences)
{
    json_t *a = ex("No effusion or suspicious nodule.");
    CHECK(nth(a, "nodule", 0) == NULL && nth(a, "negative", 0) != NULL);
    CHECK_STR(trig(nth(a, "negative", 0)), "no");
    json_decref(a);
    a = ex("No new nodules. Stable 4 mm nodule in the RML.");
    CHECK(json_is_true(json_object_get(nth(a, "negative", 0), "new_only")));
    CHECK(nth(a, "nodule", 0) != NULL);
    json_decref(a);
    a = ex("Cannot exclude a small nodule in the lingula.");
    CHECK(nth(a, "nodule", 0) == NULL);
    CHECK_STR(trig(nth(a, "uncertain", 0)), "cannot exclude");
    json_decref(a);
    a = ex("Likely atelectasis rather than nodule in the left lower lobe.");
    CHECK(nth(a, "nodule", 0) == NULL);
    CHECK_STR(trig(nth(a, "negative", 0)), "rather than");
    json_decref(a);
    a = ex("The 6 mm lingular nodule seen before is no longer visible.");
    CHECK(nth(a, "nodule", 0) == NULL);
    CHECK_STR(trig(nth(a, "resolved", 0)), "no longer visible");
    json_decref(a);
    a = ex("A 5 mm nodule in the RUL, not present previously.");
    CHECK_STR(json_string_value(json_object_get(json_object_get(nth(a, "nodule", 0), "change"),
                                                "value")),
              "new");
    json_decref(a);
    a = ex("No pleural effusion, a 5 mm solid nodule in the right upper lobe.");
    CHECK(nth(a, "nodule", 0) != NULL);
    json_decref(a);
    a = ex("Status post resection of a left upper lobe nodule.");
    CHECK(nth(a, "nodule", 0) == NULL && nth(a, "historical", 0) != NULL);
    json_decref(a);
    return 0;
}

TEST(test_analyst_context_resolved_never_current)
{
    const char *t = "The 6 mm lingular nodule seen before is no longer visible. No other nodules.";
    an_report *r = NULL;
    json_t *j = NULL;
    CHECK(an_report_new(NULL, &r, NULL) == MS_OK);
    CHECK(an_add_text(r, t, strlen(t), "user", NULL) == MS_OK && an_run(r, NULL) == MS_OK);
    CHECK(an_report_json(r, &j, NULL) == MS_OK);
    an_report_free(r);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "findings")), 0);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "resolved")), 1);
    json_t *lr = json_object_get(json_object_get(j, "assessment"), "lung_rads");
    /* no category from the resolved nodule: the negative statement gives Lung-RADS 1 */
    CHECK(json_is_null(lr) ||
          strcmp(json_string_value(json_object_get(lr, "category")), "1") == 0);
    json_decref(j);
    return 0;
}

TEST(test_analyst_context_text_report_lists_triggers)
{
    /* the text report says why a mention is not a current nodule, with spans and the trigger */
    const char *t = "Cannot exclude a small nodule in the lingula. 5 mm nodule in the RUL.";
    an_report *r = NULL;
    CHECK(an_report_new(NULL, &r, NULL) == MS_OK);
    CHECK(an_add_text(r, t, strlen(t), "user", NULL) == MS_OK && an_run(r, NULL) == MS_OK);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(an_report_text(r, &b, NULL) == MS_OK);
    an_report_free(r);
    CHECK(ms_buf_append(&b, "", 1, NULL) == MS_OK);
    const char *s = (const char *)b.p;
    int ok = strstr(s, "uncertain: no size, text [0, 44)") != NULL &&
             strstr(s, "trigger \"cannot exclude\" (uncertain) at [0, 14)") != NULL &&
             strstr(s, "      text: [46, 68)") != NULL;
    ms_buf_free(&b);
    CHECK(ok);
    return 0;
}

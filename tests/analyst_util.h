/*
 * Test helper for the analyst tests: a report run over one text, as JSON.
 * Trusts: the test's own strings.
 */
#ifndef MEDSEAL_TEST_ANALYST_UTIL_H
#define MEDSEAL_TEST_ANALYST_UTIL_H

#include <string.h>

#include <jansson.h>

#include "medseal/analyst.h"

/* The analyst's JSON report for `text` read as a user's notes (opts may be NULL), or NULL when
 * any step fails. The caller owns the result (json_decref). */
static inline json_t *an_t_run_text(const char *text, const an_opts *opts)
{
    an_report *r = NULL;
    json_t *j = NULL;
    if (an_report_new(opts, &r, NULL) != MS_OK)
        return NULL;
    if (an_add_text(r, text, strlen(text), "user", NULL) == MS_OK && an_run(r, NULL) == MS_OK)
        an_report_json(r, &j, NULL);
    an_report_free(r);
    return j;
}

#endif

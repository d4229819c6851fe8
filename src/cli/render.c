/*
 * The report renderer shared by `medseal analyze` (to stdout) and `medseal batch` (to files):
 * one an_report in one of the formats json, text, fhir, html, as bytes ("fhir-transaction": the
 * FHIR Bundle as a transaction, for analyze --fhir-bundle transaction). One code path, so a batch
 * report is byte for byte the report `analyze` prints for the same inputs.
 *
 * Trusts: the report (built and validated by the analyst module). Owns: nothing it returns; the
 * caller owns `out`. Errors: the analyst's message or "unknown format", never a report value.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "commands.h"

int cli_format_known(const char *format)
{
    static const char *const fmts[] = {"json", "text", "fhir", "html"};
    for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++)
        if (strcmp(format, fmts[k]) == 0)
            return 1;
    return 0;
}

ms_rc cli_render_report(const an_report *r, const char *format, ms_buf *out, ms_err *err)
{
    int tx = strcmp(format, "fhir-transaction") == 0; /* analyze --fhir-bundle transaction */
    if (strcmp(format, "json") == 0 || strcmp(format, "fhir") == 0 || tx) {
        json_t *j = NULL;
        ms_rc rc = format[0] == 'j' ? an_report_json(r, &j, err) : an_report_fhir(r, &j, err);
        if (rc == MS_OK && tx)
            rc = an_fhir_transaction(j, err);
        if (rc != MS_OK) {
            json_decref(j); /* NULL unless the transaction step failed */
            return rc;
        }
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (s == NULL)
            return ms_fail(err, MS_E_NOMEM, "cannot serialise the %s output", format);
        size_t n = strlen(s);
        rc = ms_buf_append(out, s, n, err);
        if (rc == MS_OK)
            rc = ms_buf_append_byte(out, '\n', err);
        ms_memzero(s, n);
        free(s);
        return rc;
    }
    if (strcmp(format, "text") == 0)
        return an_report_text(r, out, err);
    if (strcmp(format, "html") == 0)
        return an_report_html(r, out, err);
    return ms_fail(err, MS_E_INVAL, "unknown report format");
}

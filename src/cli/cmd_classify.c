/*
 * medseal classify --guideline lung-rads-2022|fleischner-2017 < finding.json
 * Evaluates one nodule finding (a JSON object on stdin, fields in README.md) against a
 * guideline and prints {"category", "management", "rule", ...} on stdout.
 *
 * Trusts: nothing on stdin (at most 1 MiB, parsed by jansson, validated by an_classify). Owns: the
 * input buffer and the JSON values it creates. Errors: one line, never a value from the input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "commands.h"
#include "medseal/analyst.h"

#define MAX_INPUT ((size_t)1 << 20)

static void usage(FILE *f)
{
    fprintf(f, "usage: medseal classify --guideline lung-rads-2022|fleischner-2017 "
               "< finding.json\n"
               "  prints {\"category\", \"management\", \"rule\", ...}; fields of the finding in "
               "README.md\n"
               "       medseal classify --guideline NAME --rules   (the rule rows as data)\n");
}

static int read_stdin(ms_buf *in, ms_err *err)
{
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        if (ms_buf_append(in, chunk, got, err) != MS_OK)
            return -1;
    }
    if (ferror(stdin))
        return ms_fail(err, MS_E_IO, "read error on stdin"), -1;
    return 0;
}

static int run(const char *guideline)
{
    ms_buf in;
    ms_err err = {0};
    ms_buf_init(&in, NULL, MAX_INPUT);
    if (read_stdin(&in, &err) != 0) {
        ms_buf_free(&in);
        cli_report("classify", "stdin", &err);
        return 1;
    }
    json_error_t jerr;
    json_t *finding = json_loadb((const char *)in.p, in.len, JSON_REJECT_DUPLICATES, &jerr);
    ms_buf_free(&in);
    if (finding == NULL) {
        cli_error("classify", "stdin: not valid JSON (line %d, column %d)", jerr.line, jerr.column);
        return 1;
    }
    json_t *out = NULL;
    ms_rc rc = an_classify(guideline, finding, &out, &err);
    json_decref(finding);
    if (rc != MS_OK) {
        cli_report("classify", NULL, &err);
        return rc == MS_E_INVAL ? 2 : 1;
    }
    int wrc = json_dumpf(out, stdout, JSON_PRESERVE_ORDER | JSON_INDENT(2));
    json_decref(out);
    if (wrc != 0) {
        cli_error("classify", "cannot write the output");
        return 1;
    }
    putchar('\n');
    return 0;
}

/* --rules: the guideline's rows as data, as the code applies them */
static int print_rules(const char *guideline)
{
    json_t *j = NULL;
    ms_err err = {0};
    if (an_guideline_rules(guideline, &j, &err) != MS_OK) {
        cli_report("classify", NULL, &err);
        return 1;
    }
    int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    putchar('\n');
    return rc == 0 ? 0 : 1;
}

int cmd_classify(int argc, char **argv)
{
    const char *guideline = NULL;
    int rules = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--rules") == 0) {
            rules = 1;
        } else if (strcmp(argv[i], "--guideline") == 0 && i + 1 < argc) {
            guideline = argv[++i];
        } else if (strncmp(argv[i], "--guideline=", 12) == 0) {
            guideline = argv[i] + 12;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (guideline == NULL) {
        usage(stderr);
        return 2;
    }
    if (strcmp(guideline, "lung-rads-2022") != 0 && strcmp(guideline, "fleischner-2017") != 0) {
        cli_error("classify", "unknown guideline (lung-rads-2022, fleischner-2017)");
        return 2;
    }
    return rules ? print_rules(guideline) : run(guideline);
}

/*
 * medseal analyze STUDY [--prior DIR]... [--prior-report FILE]... [--notes FILE]... [--text
 * STRING] [--format json|text|fhir|html] [--fhir-bundle collection|transaction] [--phi]
 * [--context screening|incidental] [--risk low|high]; medseal analyze --fhir-codesystems
 * The main job, offline: a structured report of one study (a folder of DICOM files and .txt
 * notes) compared with its priors, with Lung-RADS / Fleischner / BI-RADS by deterministic rules.
 *
 * Trusts: nothing in the folders or files (the analyst module validates and bounds everything).
 * Owns: the report and its output buffer. Errors: one line naming the argument, never a value
 * read from the input. Exit status: 0 report written, 1 input error, 2 usage.
 */
#define _GNU_SOURCE /* realpath */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "commands.h"
#include "medseal/analyst.h"

#define MAX_PRIORS 63
#define MAX_NOTES  16

struct args {
    const char *study;
    const char *priors[MAX_PRIORS];
    size_t npriors;
    const char *notes[MAX_NOTES];
    size_t nnotes;
    const char *reports[MAX_PRIORS];
    size_t nreports;
    const char *text;
    const char *format;
    const char *fhir_bundle; /* collection (default) or transaction */
    an_opts opts;
};

static void usage(FILE *f)
{
    fprintf(
        f, "usage: medseal analyze STUDY_DIR [--prior DIR]... [--prior-report FILE]... [--notes "
           "FILE]...\n"
           "                       [--text STRING]\n"
           "                       [--format json|text|fhir|html] [--fhir-bundle "
           "collection|transaction] [--phi]\n"
           "                       [--context screening|incidental] [--risk low|high]\n"
           "       medseal analyze --fhir-codesystems\n"
           "  STUDY_DIR  a folder of DICOM files (images, SR, presentation states) and .txt notes\n"
           "  --prior    an earlier study folder (repeat for each); compared by date\n"
           "  --prior-report  an earlier `--format json` report of this command used as a prior\n"
           "             (its nodules and date; make stored priors with --phi for intervals)\n"
           "  --notes    a free-text file for the current study (repeatable; a file already\n"
           "             read from STUDY_DIR, or given twice, is read once)\n"
           "  --text     free text for the current study given on the command line\n"
           "  --format   text (default), json (docs/report.schema.json), fhir (R4 Bundle), html\n"
           "  --fhir-bundle  with --format fhir: collection (default) or transaction (each entry\n"
           "             a POST, for a FHIR server's base URL)\n"
           "  --fhir-codesystems  print the medseal FHIR CodeSystems the fhir format codes values\n"
           "             with (a Bundle; docs/fhir/medseal-codesystems.json) and exit\n"
           "  --phi      keep identifying values (dates, ages, free text) in the output\n"
           "  --context  which guideline decides: screening (Lung-RADS) or incidental "
           "(Fleischner); default both\n"
           "  --risk     Fleischner risk when the text does not say (default: high-risk row)\n");
}

static int take(int argc, char **argv, int *i, const char **out)
{
    if (*i + 1 >= argc)
        return -1;
    *out = argv[++*i];
    return 0;
}

/* 1 for a flag this command knows (so that naming it in an error cannot print a value) */
static int is_flag(const char *s)
{
    static const char *const flags[] = {"--prior", "--prior-report", "--notes", "--text",
                                        "--format", "--fhir-bundle", "--context", "--risk", "--phi"};
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
        if (strcmp(s, flags[k]) == 0)
            return 1;
    return 0;
}

static int parse(int argc, char **argv, struct args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int bad = 0;
        if (strcmp(s, "--prior") == 0) {
            bad = a->npriors >= MAX_PRIORS || take(argc, argv, &i, &a->priors[a->npriors++]);
        } else if (strcmp(s, "--prior-report") == 0) {
            bad = a->nreports >= MAX_PRIORS || take(argc, argv, &i, &a->reports[a->nreports++]);
        } else if (strcmp(s, "--notes") == 0) {
            bad = a->nnotes >= MAX_NOTES || take(argc, argv, &i, &a->notes[a->nnotes++]);
        } else if (strcmp(s, "--text") == 0) {
            bad = take(argc, argv, &i, &a->text);
        } else if (strcmp(s, "--format") == 0) {
            bad = take(argc, argv, &i, &a->format);
        } else if (strcmp(s, "--fhir-bundle") == 0) {
            bad = take(argc, argv, &i, &a->fhir_bundle);
        } else if (strcmp(s, "--context") == 0) {
            bad = take(argc, argv, &i, &a->opts.context);
        } else if (strcmp(s, "--risk") == 0) {
            bad = take(argc, argv, &i, &a->opts.risk);
        } else if (strcmp(s, "--phi") == 0) {
            a->opts.phi = 1;
        } else if (s[0] == '-') {
            bad = 1;
        } else if (a->study == NULL) {
            a->study = s;
        } else {
            bad = 1;
        }
        if (bad) {
            /* name the flag (argv[i] is the flag, or its value after take(): never printed) */
            if (s[0] != '-')
                cli_error("analyze", "argument %d: only one STUDY_DIR may be given (see --help)",
                          i);
            else if (strcmp(s, "--prior") == 0 || strcmp(s, "--prior-report") == 0 ||
                     strcmp(s, "--notes") == 0)
                cli_error("analyze", "%s: missing value or given more than %d times (see --help)",
                          s, strcmp(s, "--notes") == 0 ? MAX_NOTES : MAX_PRIORS);
            else if (is_flag(s))
                cli_error("analyze", "%s: missing value (see --help)", s);
            else
                cli_error("analyze", "argument %d: unknown option (see --help)", i);
            return -1;
        }
    }
    if (a->study == NULL && a->text == NULL && a->nnotes == 0) {
        cli_error("analyze", "a study folder, --notes or --text is required (see --help)");
        return -1;
    }
    if (!cli_format_known(a->format)) {
        cli_error("analyze", "--format must be json, text, fhir or html");
        return -1;
    }
    if (a->fhir_bundle != NULL && strcmp(a->fhir_bundle, "collection") != 0 &&
        strcmp(a->fhir_bundle, "transaction") != 0) {
        cli_error("analyze", "--fhir-bundle must be collection or transaction");
        return -1;
    }
    if (a->fhir_bundle != NULL && strcmp(a->format, "fhir") != 0) {
        cli_error("analyze", "--fhir-bundle needs --format fhir");
        return -1;
    }
    return 0;
}

/* 1 when --notes number i names a file that is read anyway: a .txt inside STUDY_DIR (the
 * folder's notes are all read) or the same file as an earlier --notes. Compared by realpath. */
static int note_seen(const struct args *a, size_t i)
{
    char me[PATH_MAX], other[PATH_MAX];
    if (realpath(a->notes[i], me) == NULL)
        return 0; /* the read below reports it */
    if (a->study != NULL && realpath(a->study, other) != NULL) {
        size_t n = strlen(other), ml = strlen(me);
        if (strncmp(me, other, n) == 0 && me[n] == '/' && ml > 4 &&
            strcmp(me + ml - 4, ".txt") == 0)
            return 1;
    }
    for (size_t k = 0; k < i; k++)
        if (realpath(a->notes[k], other) != NULL && strcmp(me, other) == 0)
            return 1;
    return 0;
}

static ms_rc add_inputs(an_report *r, const struct args *a, ms_err *err)
{
    ms_rc rc = MS_OK;
    if (a->study != NULL)
        rc = an_add_dir(r, a->study, 0, err);
    for (size_t i = 0; rc == MS_OK && i < a->nnotes; i++) {
        if (note_seen(a, i)) {
            fprintf(stderr, "medseal analyze: --notes %zu: already read (from STUDY_DIR or an "
                            "earlier --notes), read once\n",
                    i + 1);
            continue;
        }
        ms_buf b;
        ms_buf_init(&b, NULL, 0);
        rc = ms_file_read(a->notes[i], NULL, AN_MAX_TEXT, &b, err);
        if (rc == MS_OK)
            rc = an_add_text(r, (const char *)b.p, b.len, "notes", err);
        ms_buf_free(&b);
    }
    if (rc == MS_OK && a->text != NULL)
        rc = an_add_text(r, a->text, strlen(a->text), "user", err);
    for (size_t i = 0; rc == MS_OK && i < a->npriors; i++)
        rc = an_add_dir(r, a->priors[i], 1, err);
    for (size_t i = 0; rc == MS_OK && i < a->nreports; i++) {
        json_error_t jerr;
        json_t *j = json_load_file(a->reports[i], JSON_REJECT_DUPLICATES, &jerr);
        if (j == NULL)
            return ms_fail(err, MS_E_FORMAT, "--prior-report %zu: not valid JSON (line %d)", i + 1,
                           jerr.line);
        rc = an_add_prior_report(r, j, err);
        json_decref(j);
    }
    return rc;
}

static int output(const an_report *r, const char *format)
{
    ms_err err = {0};
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    ms_rc rc = cli_render_report(r, format, &b, &err);
    if (rc == MS_OK && fwrite(b.p, 1, b.len, stdout) != b.len) {
        ms_buf_free(&b);
        cli_error("analyze", "cannot write the %s output", format);
        return 1;
    }
    ms_buf_free(&b);
    if (rc != MS_OK) {
        cli_report("analyze", format, &err);
        return 1;
    }
    return 0;
}

int cmd_analyze(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    }
    if (argc == 2 && strcmp(argv[1], "--fhir-codesystems") == 0) {
        ms_err err = {0};
        json_t *cs = NULL;
        if (an_fhir_codesystems(&cs, &err) != MS_OK) {
            cli_report("analyze", "--fhir-codesystems", &err);
            return 1;
        }
        int rc = json_dumpf(cs, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(cs);
        if (rc != 0 || putchar('\n') == EOF) {
            cli_error("analyze", "cannot write the CodeSystems");
            return 1;
        }
        return 0;
    }
    struct args a;
    memset(&a, 0, sizeof a);
    a.format = "text";
    if (parse(argc, argv, &a) != 0)
        return 2;
    an_report *r = NULL;
    ms_err err = {0};
    ms_rc rc = an_report_new(&a.opts, &r, &err);
    if (rc != MS_OK) {
        cli_report("analyze", NULL, &err);
        return 2;
    }
    rc = add_inputs(r, &a, &err);
    if (rc == MS_OK)
        rc = an_run(r, &err);
    if (rc != MS_OK) {
        cli_report("analyze", "input", &err);
        an_report_free(r);
        return 1;
    }
    int tx = a.fhir_bundle != NULL && strcmp(a.fhir_bundle, "transaction") == 0;
    int ret = output(r, tx && strcmp(a.format, "fhir") == 0 ? "fhir-transaction" : a.format);
    an_report_free(r);
    return ret;
}

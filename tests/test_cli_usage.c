/*
 * CLI papercuts a newcomer meets (src/cli): `analyze` errors name the flag, `--notes` naming a
 * file the study folder already holds is read once, `deid` re-run without --force says in one
 * line that outputs exist, and its progress bar (on a terminal) shows percent, rate and ETA and
 * counts DICOM files only.
 * Trusts: scripts/synth_study.py and util-linux `script` (a pseudo-terminal; SKIP without it).
 * Owns: its temp folder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static int has(const char *hay, const char *needle)
{
    return hay != NULL && strstr(hay, needle) != NULL;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static int patient(char *dir, size_t n, int studies)
{
    snprintf(dir, n, "%s/patient", ms_test_tmpdir());
    return ms_test_sh(NULL,
                      "/usr/bin/python3 '%s/scripts/synth_study.py' '%s' --studies %d --slices 4 "
                      "--size 32 --seed 2 >/dev/null 2>&1",
                      ms_test_root(), dir, studies);
}

TEST(test_cli_usage_analyze_errors_name_the_flag)
{
    const char *m = ms_test_medseal();
    char *o = NULL;
    CHECK_EQ_INT(ms_test_sh(&o, "'%s' analyze --text x --prior 2>&1", m), 2);
    CHECK(has(o, "medseal analyze: --prior: missing value"));
    free(o);
    CHECK_EQ_INT(ms_test_sh(&o, "'%s' analyze --text x --format 2>&1", m), 2);
    CHECK(has(o, "--format: missing value"));
    free(o);
    CHECK_EQ_INT(ms_test_sh(&o, "'%s' analyze a b 2>&1", m), 2);
    CHECK(has(o, "argument 2: only one STUDY_DIR"));
    free(o);
    /* an unknown option is named by position, never echoed (it could be a pasted value) */
    CHECK_EQ_INT(ms_test_sh(&o, "'%s' analyze --text x --Smith-John 2>&1", m), 2);
    CHECK(has(o, "argument 3: unknown option") && !has(o, "Smith"));
    free(o);
    /* every flag of the usage line is described below it */
    CHECK_EQ_INT(ms_test_sh(&o, "'%s' analyze --help", m), 0);
    CHECK(has(o, "  --prior-report  an earlier"));
    free(o);
    return 0;
}

TEST(test_cli_usage_analyze_notes_read_once)
{
    char dir[600], *a = NULL, *b = NULL;
    CHECK(patient(dir, sizeof dir, 1) == 0);
    CHECK_EQ_INT(ms_test_sh(&a, "'%s' analyze '%s/study_1' --format json 2>/dev/null",
                            ms_test_medseal(), dir),
                 0);
    CHECK_EQ_INT(ms_test_sh(&b,
                            "'%s' analyze '%s/study_1' --notes '%s/study_1/notes.txt' --notes "
                            "'%s/study_1/../study_1/notes.txt' --format json 2>&1 >/dev/null; "
                            "'%s' analyze '%s/study_1' --notes '%s/study_1/notes.txt' "
                            "--format json 2>/dev/null",
                            ms_test_medseal(), dir, dir, dir, ms_test_medseal(), dir, dir),
                 0);
    CHECK(has(b, "--notes 1: already read") && has(b, "--notes 2: already read"));
    /* the same texts, so the same report */
    const char *ja = strchr(a, '{'), *jb = strchr(b, '{');
    CHECK(ja != NULL && jb != NULL);
    CHECK_EQ_INT(count(ja, "\"source\": \"notes\""), count(jb, "\"source\": \"notes\""));
    CHECK_EQ_INT(count(ja, "\"mentions\""), count(jb, "\"mentions\""));
    free(a);
    free(b);
    return 0;
}

TEST(test_cli_usage_deid_existing_outputs_one_line)
{
    char dir[600], *o = NULL;
    CHECK(patient(dir, sizeof dir, 2) == 0);
    const char *t = ms_test_tmpdir();
    CHECK(ms_test_sh(NULL, "'%s' keygen > '%s/k' && '%s' deid --key '%s/k' '%s' '%s/out' >/dev/null",
                     ms_test_medseal(), t, ms_test_medseal(), t, dir, t) == 0);
    CHECK_EQ_INT(ms_test_sh(&o, "'%s' deid --key '%s/k' '%s' '%s/out'", ms_test_medseal(), t, dir,
                            t),
                 1);
    CHECK_EQ_INT(count(o, "\nerror: "), 1);
    CHECK(has(o, "error: 10 existing outputs not replaced (first: study_1/"));
    CHECK(has(o, "use --force to replace them"));
    free(o);
    return 0;
}

TEST(test_cli_usage_deid_progress_counts_dicom_only)
{
    char dir[600], *o = NULL;
    if (ms_test_sh(NULL, "command -v script >/dev/null") != 0)
        SKIP("util-linux script (a pseudo-terminal) not installed");
    CHECK(patient(dir, sizeof dir, 2) == 0);
    const char *t = ms_test_tmpdir();
    CHECK(ms_test_sh(NULL, "'%s' keygen > '%s/k'", ms_test_medseal(), t) == 0);
    /* stderr on a pseudo-terminal, so the bar is drawn; 2 studies x (4 CT + 1 SR) DICOM files,
     * plus 2 notes.txt and truth.json that are not counted */
    CHECK_EQ_INT(ms_test_sh(&o,
                            "script -qec \"'%s' deid --jobs 1 --key '%s/k' '%s' '%s/out' "
                            ">/dev/null\" /dev/null",
                            ms_test_medseal(), t, dir, t),
                 0);
    CHECK(has(o, "DICOM files, ") && has(o, "/s, ETA "));
    /* the last frame: every DICOM file done, the notes and truth.json not counted */
    CHECK(has(o, "100% 10/10 DICOM files") && !has(o, "/13 DICOM files"));
    free(o);
    return 0;
}

/*
 * The HTML report a radiologist reads (src/analyst/out_html.c): the patient banner only with
 * --phi, priors with dates (real with --phi, relative days without), history and change per
 * nodule, one chart tick per study, size bands, the recommendation in words with the rule as a
 * detail, one mark for empty values, a print stylesheet; and, in headless Chromium
 * (scripts/html-layout-check.py, SKIP without chromium), no external loads, no overlapping text
 * and no horizontal overflow at 360, 640 and 1200 px.
 * Trusts: scripts/synth_study.py (the repository's synthetic patient). Owns: its temp folder.
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

/* the tour's patient: three studies, 180 days apart, two nodules */
static int patient(char *dir, size_t n)
{
    snprintf(dir, n, "%s/patient", ms_test_tmpdir());
    return ms_test_sh(NULL,
                      "/usr/bin/python3 '%s/scripts/synth_study.py' '%s' --studies 3 --slices 4 "
                      "--size 32 --seed 1 >/dev/null 2>&1",
                      ms_test_root(), dir);
}

static int report(char **out, const char *dir, const char *extra)
{
    return ms_test_sh(out,
                      "'%s' analyze '%s/study_3' --prior '%s/study_1' --prior '%s/study_2' "
                      "--format html %s",
                      ms_test_medseal(), dir, dir, dir, extra);
}

TEST(test_analyst_html_deidentified_report_reads_as_words)
{
    char dir[600], *o = NULL;
    CHECK(patient(dir, sizeof dir) == 0);
    CHECK_EQ_INT(report(&o, dir, ""), 0);
    /* no identity without --phi; relative days instead of dates */
    CHECK(!has(o, "Ashcombe") && !has(o, "SYN2978347") && !has(o, "2024-02-04"));
    CHECK(has(o, "<span class=k>Patient</span><span class=v>de-identified</span>"));
    CHECK(has(o, "<h2>Priors</h2>") && has(o, "360 days before") && has(o, "180 days before"));
    /* history and change per nodule */
    CHECK(has(o, "<li>day 0: 5.5 mm</li><li>day 180: 6.6 mm</li><li>day 360: 7.7 mm</li>"));
    CHECK(has(o, "+1.1 mm (+17%) since prior") && has(o, "+2.2 mm (+40%) since first"));
    /* the doubling time as a word, its threshold as a detail: no nested parentheses */
    CHECK(has(o, "doubling time 247 days: suspicious <span class=muted>(&lt; 400 days)</span>"));
    CHECK(!has(o, "(suspicious ("));
    /* Fleischner as words, the machine key only inside the rule detail */
    CHECK(has(o, "<div class=words>CT at 3-6 months, then CT at 18-24 months"));
    CHECK(!has(o, "<div class=words>ct-3-6m") && has(o, "(key ct-3-6m-then-18-24m)"));
    CHECK(has(o, "<details><summary>rule</summary><code>lung-rads-2022/solid-growing-lt8</code>"));
    /* the chart: one tick label per study, readable axis title, the Lung-RADS bands */
    CHECK(has(o, ">day 0</text>") && has(o, ">day 180</text>") && has(o, ">day 360</text>"));
    CHECK(has(o, "mean diameter (mm)</text>") && !has(o, ">mm</text>"));
    CHECK(has(o, "LR 3: 6-8 mm") && has(o, "LR 2: &lt; 6 mm"));
    /* layout from phone to print; empty values are one dash */
    CHECK(has(o, "@media (max-width:720px)") && has(o, "@media print"));
    CHECK(has(o, "<td data-label=\"Contrast\"><span class=none>\xe2\x80\x94</span></td>"));
    CHECK(!has(o, "<td></td>") && !has(o, "<td>-</td>"));
    free(o);
    return 0;
}

TEST(test_analyst_html_phi_banner_and_dates)
{
    char dir[600], *o = NULL;
    CHECK(patient(dir, sizeof dir) == 0);
    CHECK_EQ_INT(report(&o, dir, "--phi"), 0);
    CHECK(has(o, "<span class=k>Patient</span><span class=v>Ashcombe, Thaddeus</span>"));
    CHECK(has(o, "<span class=k>MRN</span><span class=v>SYN2978347</span>"));
    CHECK(has(o, "<span class=k>Accession</span><span class=v>A") && !has(o, "Accession</span><span class=v><span class=none>"));
    CHECK(has(o, "<span class=k>Study date</span><span class=v>2025-01-29</span>"));
    CHECK(has(o, "<td data-label=Date>2024-02-04</td>") && has(o, ">2024-08-02</text>"));
    CHECK(has(o, "<li>2024-02-04: 5.5 mm</li>"));
    free(o);
    return 0;
}

/* A report from text alone: no study fields, so no "CT , 2024" and no empty sections. */
TEST(test_analyst_html_empty_fields_leave_no_stray_commas)
{
    char *o = NULL;
    CHECK_EQ_INT(ms_test_sh(&o, "'%s' analyze --text '5 mm solid nodule, right upper lobe.' "
                                "--format html",
                            ms_test_medseal()),
                 0);
    CHECK(!has(o, " , ") && !has(o, ", ,") && !has(o, ", <"));
    CHECK(has(o, "<span class=k>Exam</span><span class=v><span class=none>"));
    CHECK(!has(o, "<h2>Priors</h2>") && !has(o, "<h2>Series</h2>"));
    CHECK_EQ_INT(count(o, "<svg"), 1);
    CHECK(has(o, "<li>") && has(o, "first study"));
    free(o);
    return 0;
}

TEST(test_analyst_html_layout_in_chromium)
{
    char dir[600], path[700], *o = NULL;
    CHECK(patient(dir, sizeof dir) == 0);
    const char *modes[] = {"", "--phi"};
    for (int m = 0; m < 2; m++) {
        snprintf(path, sizeof path, "%s/r%d.html", ms_test_tmpdir(), m);
        char redirect[760];
        snprintf(redirect, sizeof redirect, "%s > '%s'", modes[m], path);
        CHECK_EQ_INT(report(NULL, dir, redirect), 0);
        int rc = ms_test_sh(&o, "/usr/bin/python3 '%s/scripts/html-layout-check.py' '%s' 360 640 "
                                "1200 2>&1",
                            ms_test_root(), path);
        if (rc == 77) {
            free(o);
            SKIP("chromium not installed (scripts/install-deps.sh installs it)");
        }
        if (rc != 0)
            fprintf(stderr, "%s", o ? o : "");
        CHECK_EQ_INT(rc, 0);
        free(o);
        o = NULL;
    }
    return 0;
}

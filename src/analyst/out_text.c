/*
 * The report as plain text for a radiologist: study and series summary, priors, findings with
 * size history, growth and VDT, the guideline rows, the impression. Rendered from the report's
 * JSON so every format says the same thing (the members it reads: an__report_json_text).
 *
 * Trusts: the JSON from an__report_json_text. Owns: nothing beyond temporary JSON.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *s_(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v != NULL ? v : "-";
}

static void num(char *buf, size_t n, const json_t *v, const char *unit)
{
    if (json_is_number(v))
        snprintf(buf, n, "%g%s", json_number_value(v), unit);
    else
        snprintf(buf, n, "-");
}

/* one decimal, optionally signed: "8.0 mm", "+1.6 mm", "+24.2%" */
static void num1(char *buf, size_t n, const json_t *v, const char *unit, int sign)
{
    if (!json_is_number(v))
        snprintf(buf, n, "-");
    else if (sign)
        snprintf(buf, n, "%+.1f%s", json_number_value(v), unit);
    else
        snprintf(buf, n, "%.1f%s", json_number_value(v), unit);
}

static ms_rc series_lines(const json_t *study, ms_buf *b, ms_err *err)
{
    size_t i;
    const json_t *s;
    ms_rc rc = MS_OK;
    json_array_foreach(json_object_get(study, "series"), i, s)
    {
        char th[32], sp[32], ct[32];
        num(th, sizeof th, json_object_get(s, "slice_thickness_mm"), " mm");
        num(sp, sizeof sp, json_object_get(s, "spacing_mm"), " mm");
        num(ct, sizeof ct, json_object_get(s, "ctdivol_mgy"), " mGy");
        rc = ms_buf_printf(b, err,
                           "  Series %s %s \"%s\": %lld images, thickness %s, spacing %s, "
                           "kernel %s, contrast %s, %s %s, CTDIvol %s\n",
                           s_(s, "number"), s_(s, "modality"), s_(s, "description"),
                           (long long)json_integer_value(json_object_get(s, "images")), th, sp,
                           s_(s, "kernel"), s_(s, "contrast"), s_(s, "manufacturer"),
                           s_(s, "model"), ct);
        const json_t *flags = json_object_get(s, "flags");
        for (size_t k = 0; rc == MS_OK && k < json_array_size(flags); k++)
            rc = ms_buf_printf(b, err, "    FLAG: %s\n",
                               json_string_value(json_array_get(flags, k)));
        if (rc != MS_OK)
            return rc;
    }
    return rc;
}

static void when(const json_t *study, char *buf, size_t n)
{
    const json_t *d = json_object_get(study, "days_from_first");
    if (json_is_integer(d))
        snprintf(buf, n, "%s, day %lld", s_(study, "date"), (long long)json_integer_value(d));
    else
        snprintf(buf, n, "%s", s_(study, "date"));
}

static ms_rc study_block_dicom(const json_t *j, ms_buf *b, ms_err *err)
{
    const json_t *st = json_object_get(j, "study");
    const json_t *pt = json_object_get(st, "patient");
    char w[64];
    when(st, w, sizeof w);
    ms_rc rc =
        ms_buf_printf(b, err, "STUDY\n  %s %s, %s; patient sex %s, age %s\n  Description: %s\n",
                      s_(st, "modality"), s_(st, "body_part"), w, s_(pt, "sex"), s_(pt, "age_band"),
                      s_(st, "description"));
    if (rc == MS_OK)
        rc = series_lines(st, b, err);
    const json_t *dose = json_object_get(st, "dose");
    if (rc == MS_OK && json_is_number(json_object_get(dose, "dlp_total_mgycm")))
        rc = ms_buf_printf(b, err, "  Dose SR: DLP total %.1f mGy.cm\n",
                           json_number_value(json_object_get(dose, "dlp_total_mgycm")));
    if (rc == MS_OK)
        rc = ms_buf_printf(b, err, "  DICOM files %lld, SR documents %lld, unreadable %lld\n",
                           (long long)json_integer_value(json_object_get(st, "files")),
                           (long long)json_integer_value(json_object_get(st, "sr_documents")),
                           (long long)json_integer_value(json_object_get(st, "unreadable_files")));
    const json_t *priors = json_object_get(j, "priors");
    if (rc == MS_OK && json_array_size(priors) > 0)
        rc = ms_buf_append_str(b, "PRIORS\n", err);
    for (size_t i = 0; rc == MS_OK && i < json_array_size(priors); i++) {
        const json_t *p = json_array_get(priors, i);
        when(p, w, sizeof w);
        rc = ms_buf_printf(b, err, "  %zu. %s %s: %lld files, %lld nodule(s) described\n", i + 1,
                           s_(p, "modality"), w,
                           (long long)json_integer_value(json_object_get(p, "files")),
                           (long long)json_integer_value(json_object_get(p, "nodules")));
    }
    return rc;
}

static ms_rc study_block(const json_t *j, ms_buf *b, ms_err *err)
{
    const json_t *st = json_object_get(j, "study");
    if (json_integer_value(json_object_get(st, "files")) == 0 &&
        json_array_size(json_object_get(j, "priors")) == 0)
        return ms_buf_append_str(b, "STUDY\n  no DICOM files: findings from free text only\n", err);
    return study_block_dicom(j, b, err);
}

static ms_rc history_line(const json_t *c, ms_buf *b, ms_err *err)
{
    const json_t *h = json_object_get(c, "history");
    if (json_array_size(h) < 2)
        return MS_OK;
    ms_rc rc = ms_buf_append_str(b, "      history:", err);
    for (size_t i = 0; rc == MS_OK && i < json_array_size(h); i++) {
        const json_t *p = json_array_get(h, i);
        char sz[32], w[64];
        num1(sz, sizeof sz, json_object_get(p, "mean_diameter_mm"), " mm", 0);
        when(p, w, sizeof w);
        rc = ms_buf_printf(b, err, "%s %s (%s)", i ? " ->" : "", sz, w);
    }
    if (rc != MS_OK)
        return rc;
    char d1[32], p1[32], d0[32], p0[32], days[32];
    num1(d1, sizeof d1, json_object_get(c, "change_since_prior_mm"), " mm", 1);
    num1(p1, sizeof p1, json_object_get(c, "change_since_prior_pct"), "%", 1);
    num1(d0, sizeof d0, json_object_get(c, "change_since_first_mm"), " mm", 1);
    num1(p0, sizeof p0, json_object_get(c, "change_since_first_pct"), "%", 1);
    num(days, sizeof days, json_object_get(c, "days_since_prior"), " days");
    rc = ms_buf_printf(b, err,
                       "\n      change: %s (%s) since prior (%s); %s (%s) since first; Lung-RADS "
                       "growth: %s\n",
                       d1, p1, days, d0, p0, s_(c, "lung_rads_growth"));
    if (rc == MS_OK && json_is_number(json_object_get(c, "vdt_days")))
        rc = ms_buf_printf(b, err, "      volume doubling time: %.0f days - %s\n",
                           json_number_value(json_object_get(c, "vdt_days")), s_(c, "vdt_reading"));
    else if (rc == MS_OK && json_is_string(json_object_get(c, "vdt_reading")))
        rc = ms_buf_printf(b, err, "      volume doubling time: %s\n", s_(c, "vdt_reading"));
    return rc;
}

static ms_rc guideline_line(const char *name, const json_t *g, ms_buf *b, ms_err *err)
{
    if (!json_is_object(g))
        return MS_OK;
    ms_rc rc = ms_buf_printf(b, err, "      %s: %s  [%s] %s\n", name, s_(g, "category"),
                             s_(g, "rule"), s_(g, "rule_text"));
    if (rc == MS_OK && json_is_string(json_object_get(g, "note")))
        rc = ms_buf_printf(b, err, "        note: %s\n", s_(g, "note"));
    return rc;
}

static ms_rc finding_block(const json_t *f, ms_buf *b, ms_err *err)
{
    const json_t *size = json_object_get(f, "size"), *loc = json_object_get(f, "location");
    const json_t *c = json_object_get(f, "comparison");
    const json_t *comp = json_object_get(f, "composition");
    char mean[32], where[128];
    num1(mean, sizeof mean, json_object_get(size, "mean_diameter_mm"), " mm", 0);
    if (json_is_object(loc))
        snprintf(where, sizeof where, "%s (%s)", s_(loc, "name"), s_(loc, "lobe"));
    else
        snprintf(where, sizeof where, "location not stated");
    ms_rc rc = ms_buf_printf(b, err, "  %s  %s %s%s, %s  [%s, %lld mention(s)]\n", s_(f, "id"),
                             mean, json_is_object(comp) ? s_(comp, "value") : "",
                             json_is_object(comp) ? " nodule" : "nodule (composition not stated)",
                             where, s_(f, "source"),
                             (long long)json_integer_value(json_object_get(f, "mentions")));
    const json_t *axes = json_object_get(size, "axes_mm");
    if (rc == MS_OK && json_array_size(axes) > 0) {
        rc = ms_buf_append_str(b, "      axes:", err);
        for (size_t i = 0; rc == MS_OK && i < json_array_size(axes); i++)
            rc = ms_buf_printf(b, err, "%s %.1f mm", i ? " x" : "",
                               json_number_value(json_array_get(axes, i)));
        if (rc == MS_OK)
            rc = ms_buf_append_str(b, "\n", err);
    }
    const json_t *feats = json_object_get(f, "features");
    for (size_t i = 0; rc == MS_OK && i < json_array_size(feats); i++)
        rc = ms_buf_printf(b, err, "%s%s%s", i ? ", " : "      features: ",
                           json_string_value(json_array_get(feats, i)),
                           i + 1 == json_array_size(feats) ? "\n" : "");
    long long nst = (long long)json_integer_value(json_object_get(c, "studies"));
    if (rc == MS_OK && json_is_string(json_object_get(c, "status")))
        rc = ms_buf_printf(b, err, "      status: %s (%lld stud%s)\n", s_(c, "status"), nst,
                           nst == 1 ? "y" : "ies");
    if (rc == MS_OK && json_is_number(json_object_get(f, "prior_size_mm")))
        rc = ms_buf_printf(b, err, "      earlier size stated in the text: %.1f mm\n",
                           json_number_value(json_object_get(f, "prior_size_mm")));
    if (rc == MS_OK && json_is_object(c))
        rc = history_line(c, b, err);
    if (rc == MS_OK)
        rc = guideline_line("Lung-RADS v2022", json_object_get(f, "lung_rads"), b, err);
    if (rc == MS_OK)
        rc = guideline_line("Fleischner 2017", json_object_get(f, "fleischner"), b, err);
    return rc;
}

static ms_rc lines(const char *title, const json_t *a, int numbered, ms_buf *b, ms_err *err)
{
    if (json_array_size(a) == 0)
        return MS_OK;
    ms_rc rc = ms_buf_printf(b, err, "\n%s\n", title);
    for (size_t i = 0; rc == MS_OK && i < json_array_size(a); i++) {
        if (numbered)
            rc = ms_buf_printf(b, err, "  %zu. %s\n", i + 1,
                               json_string_value(json_array_get(a, i)));
        else
            rc = ms_buf_printf(b, err, "  - %s\n", json_string_value(json_array_get(a, i)));
    }
    return rc;
}

static ms_rc render(const json_t *j, ms_buf *b, ms_err *err)
{
    const json_t *g = json_object_get(j, "guidelines");
    ms_rc rc = ms_buf_printf(
        b, err,
        "MEDSEAL STRUCTURED REPORT (%s)\nengine medseal-analyst %s; guidelines %s, %s, %s\n\n",
        json_is_true(json_object_get(j, "deidentified")) ? "de-identified" : "contains PHI",
        s_(json_object_get(j, "engine"), "version"), s_(g, "lung_rads"), s_(g, "fleischner"),
        s_(g, "bi_rads"));
    if (rc == MS_OK)
        rc = study_block(j, b, err);
    const json_t *fs = json_object_get(j, "findings");
    if (rc == MS_OK)
        rc = ms_buf_append_str(b, "\nFINDINGS\n", err);
    if (rc == MS_OK && json_array_size(fs) == 0)
        rc = ms_buf_append_str(b, "  No pulmonary nodule described.\n", err);
    for (size_t i = 0; rc == MS_OK && i < json_array_size(fs); i++)
        rc = finding_block(json_array_get(fs, i), b, err);
    const json_t *br = json_object_get(j, "bi_rads");
    for (size_t i = 0; rc == MS_OK && i < json_array_size(br); i++) {
        const json_t *x = json_array_get(br, i);
        rc = ms_buf_printf(
            b, err, "%s  BI-RADS %s stated in %s: %s (likelihood of malignancy %s)\n",
            i == 0 ? "\nBREAST ASSESSMENT (carried from the report)\n" : "", s_(x, "category"),
            s_(x, "source"), s_(x, "assessment"), s_(x, "likelihood"));
    }
    if (rc == MS_OK)
        rc = lines("IMPRESSION", json_object_get(j, "impression"), 1, b, err);
    if (rc == MS_OK)
        rc = lines("WARNINGS", json_object_get(j, "warnings"), 0, b, err);
    if (rc == MS_OK)
        rc = ms_buf_append_str(b,
                               "\nCategories are computed by deterministic rules from the "
                               "extracted findings; each names the guideline row that produced "
                               "it. Verify the extracted measurements against the images.\n",
                               err);
    return rc;
}

ms_rc an_report_text(const an_report *r, ms_buf *out, ms_err *err)
{
    json_t *j = NULL;
    ms_rc rc = an__report_json_text(r, &j, err);
    if (rc != MS_OK)
        return rc;
    rc = render(j, out, err);
    json_decref(j);
    return rc;
}

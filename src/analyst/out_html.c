/*
 * The report as one self-contained HTML page (inline CSS, no scripts, no external resources): the
 * study and its series table, the findings table with categories and rules, a size-over-time
 * chart as inline SVG, the impression and the versions. Rendered from the report's JSON; every
 * string is HTML-escaped.
 *
 * Trusts: the JSON from an_report_json. Owns: nothing beyond temporary JSON.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *sv(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v != NULL ? v : "";
}

static ms_rc esc(ms_buf *b, const char *s, ms_err *err)
{
    ms_rc rc = MS_OK;
    for (; rc == MS_OK && *s != '\0'; s++) {
        switch (*s) {
        case '<':
            rc = ms_buf_append_str(b, "&lt;", err);
            break;
        case '>':
            rc = ms_buf_append_str(b, "&gt;", err);
            break;
        case '&':
            rc = ms_buf_append_str(b, "&amp;", err);
            break;
        case '"':
            rc = ms_buf_append_str(b, "&quot;", err);
            break;
        case '\'':
            rc = ms_buf_append_str(b, "&#39;", err);
            break;
        default:
            rc = ms_buf_append_byte(b, (uint8_t)*s, err);
        }
    }
    return rc;
}

/* appends raw markup, then escaped text, then raw markup */
static ms_rc cell(ms_buf *b, const char *pre, const char *text, const char *post, ms_err *err)
{
    ms_rc rc = ms_buf_append_str(b, pre, err);
    if (rc == MS_OK)
        rc = esc(b, text, err);
    if (rc == MS_OK)
        rc = ms_buf_append_str(b, post, err);
    return rc;
}

static void fmt_num(char *buf, size_t n, const json_t *v, const char *unit)
{
    if (json_is_number(v))
        snprintf(buf, n, "%g%s", json_number_value(v), unit);
    else
        snprintf(buf, n, "-");
}

static const char css[] =
    "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #bbb;padding:"
    ".3em .6em;text-align:left;vertical-align:top}th{background:#eef}"
    ".cat{font-weight:bold;font-size:1.1em}.warn{color:#a00}.muted{color:#666;font-size:.9em}"
    "</style>";

static ms_rc series_table(const json_t *st, ms_buf *b, ms_err *err)
{
    ms_rc rc = ms_buf_append_str(b,
                                 "<h2>Series</h2><table><tr><th>#</th><th>Modality</th><th>"
                                 "Description</th><th>Images</th><th>Thickness</th><th>Spacing"
                                 "</th><th>Kernel</th><th>Contrast</th><th>Scanner</th><th>"
                                 "CTDIvol</th><th>Flags</th></tr>",
                                 err);
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(st, "series"), i, s)
    {
        char th[32], sp[32], ct[32], n[32], scanner[160];
        fmt_num(th, sizeof th, json_object_get(s, "slice_thickness_mm"), " mm");
        fmt_num(sp, sizeof sp, json_object_get(s, "spacing_mm"), " mm");
        fmt_num(ct, sizeof ct, json_object_get(s, "ctdivol_mgy"), " mGy");
        snprintf(n, sizeof n, "%lld", (long long)json_integer_value(json_object_get(s, "images")));
        snprintf(scanner, sizeof scanner, "%s %s", sv(s, "manufacturer"), sv(s, "model"));
        const char *vals[] = {sv(s, "number"),
                              sv(s, "modality"),
                              sv(s, "description"),
                              n,
                              th,
                              sp,
                              sv(s, "kernel"),
                              sv(s, "contrast"),
                              scanner,
                              ct};
        rc = rc == MS_OK ? ms_buf_append_str(b, "<tr>", err) : rc;
        for (size_t k = 0; rc == MS_OK && k < sizeof vals / sizeof vals[0]; k++)
            rc = cell(b, "<td>", vals[k], "</td>", err);
        rc = rc == MS_OK ? ms_buf_append_str(b, "<td class=warn>", err) : rc;
        const json_t *fl = json_object_get(s, "flags");
        for (size_t k = 0; rc == MS_OK && k < json_array_size(fl); k++)
            rc = cell(b, k ? "; " : "", json_string_value(json_array_get(fl, k)), "", err);
        rc = rc == MS_OK ? ms_buf_append_str(b, "</td></tr>", err) : rc;
    }
    return rc == MS_OK ? ms_buf_append_str(b, "</table>", err) : rc;
}

static ms_rc findings_table(const json_t *fs, ms_buf *b, ms_err *err)
{
    ms_rc rc = ms_buf_append_str(b,
                                 "<h2>Findings</h2><table><tr><th>Id</th><th>Size</th><th>"
                                 "Composition</th><th>Location</th><th>Status</th><th>VDT</th>"
                                 "<th>Lung-RADS v2022</th><th>Fleischner 2017</th></tr>",
                                 err);
    for (size_t i = 0; rc == MS_OK && i < json_array_size(fs); i++) {
        const json_t *f = json_array_get(fs, i), *c = json_object_get(f, "comparison");
        const json_t *lr = json_object_get(f, "lung_rads"), *fl = json_object_get(f, "fleischner");
        char size[32], vdt[96], status[64];
        fmt_num(size, sizeof size, json_object_get(json_object_get(f, "size"), "mean_diameter_mm"),
                " mm");
        if (json_is_number(json_object_get(c, "vdt_days")))
            snprintf(vdt, sizeof vdt, "%.0f d (%s)",
                     json_number_value(json_object_get(c, "vdt_days")), sv(c, "vdt_reading"));
        else
            snprintf(vdt, sizeof vdt, "-");
        snprintf(status, sizeof status, "%s (%lld studies)", sv(c, "status"),
                 (long long)json_integer_value(json_object_get(c, "studies")));
        const char *vals[] = {sv(f, "id"),
                              size,
                              sv(json_object_get(f, "composition"), "value"),
                              sv(json_object_get(f, "location"), "name"),
                              status,
                              vdt};
        rc = ms_buf_append_str(b, "<tr>", err);
        for (size_t k = 0; rc == MS_OK && k < sizeof vals / sizeof vals[0]; k++)
            rc = cell(b, "<td>", vals[k], "</td>", err);
        const json_t *gs[] = {lr, fl};
        for (size_t k = 0; rc == MS_OK && k < 2; k++) {
            rc = cell(b, "<td><span class=cat>", sv(gs[k], "category"), "</span><br>", err);
            if (rc == MS_OK)
                rc = cell(b, "", sv(gs[k], "management"), "<br>", err);
            if (rc == MS_OK)
                rc = cell(b, "<span class=muted>", sv(gs[k], "rule"), "</span></td>", err);
        }
        rc = rc == MS_OK ? ms_buf_append_str(b, "</tr>", err) : rc;
    }
    return rc == MS_OK ? ms_buf_append_str(b, "</table>", err) : rc;
}

/* ---- the size-over-time chart ---- */

#define CW 560
#define CH 260
#define ML 50
#define MB 40
#define MT 20
#define MR 90

struct axis {
    double xmax, ymax;
};

static void chart_bounds(const json_t *fs, struct axis *ax)
{
    ax->xmax = 1;
    ax->ymax = 1;
    for (size_t i = 0; i < json_array_size(fs); i++) {
        const json_t *h =
            json_object_get(json_object_get(json_array_get(fs, i), "comparison"), "history");
        for (size_t k = 0; k < json_array_size(h); k++) {
            const json_t *p = json_array_get(h, k);
            const json_t *d = json_object_get(p, "days_from_first");
            double x = json_is_integer(d) ? (double)json_integer_value(d) : (double)k;
            double y = json_number_value(json_object_get(p, "mean_diameter_mm"));
            ax->xmax = x > ax->xmax ? x : ax->xmax;
            ax->ymax = y > ax->ymax ? y : ax->ymax;
        }
    }
    ax->ymax = ceil(ax->ymax * 1.2);
}

static double px(const struct axis *ax, double x)
{
    return ML + x / ax->xmax * (CW - ML - MR);
}

static double py(const struct axis *ax, double y)
{
    return CH - MB - y / ax->ymax * (CH - MB - MT);
}

static ms_rc chart_axes(const struct axis *ax, ms_buf *b, ms_err *err)
{
    ms_rc rc = ms_buf_printf(
        b, err,
        "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\" /><line x1=\"%d\" y1=\"%d\" "
        "x2=\"%d\" y2=\"%d\" stroke=\"#444\" />",
        ML, CH - MB, CW - MR, CH - MB, ML, MT, ML, CH - MB);
    for (int i = 0; rc == MS_OK && i <= 4; i++) {
        double y = ax->ymax * i / 4.0;
        rc = ms_buf_printf(
            b, err, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.1f</text>",
            ML - 6, py(ax, y) + 4, y);
    }
    if (rc == MS_OK)
        rc = ms_buf_printf(
            b, err,
            "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%.0f</text><text "
            "x=\"%d\" "
            "y=\"%d\" font-size=\"11\">0</text><text x=\"%d\" y=\"%d\" font-size=\"12\">days from "
            "first study</text><text x=\"8\" y=\"%d\" font-size=\"12\">mm</text>",
            CW - MR, CH - MB + 16, ax->xmax, ML, CH - MB + 16, (CW - MR) / 2 - 40, CH - 8, MT + 4);
    return rc;
}

static ms_rc chart_series(const json_t *f, const struct axis *ax, const char *color, ms_buf *b,
                          ms_err *err)
{
    const json_t *h = json_object_get(json_object_get(f, "comparison"), "history");
    ms_rc rc = ms_buf_printf(
        b, err, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    double lx = 0, ly = 0;
    for (size_t k = 0; rc == MS_OK && k < json_array_size(h); k++) {
        const json_t *p = json_array_get(h, k);
        const json_t *d = json_object_get(p, "days_from_first");
        lx = px(ax, json_is_integer(d) ? (double)json_integer_value(d) : (double)k);
        ly = py(ax, json_number_value(json_object_get(p, "mean_diameter_mm")));
        rc = ms_buf_printf(b, err, "%.1f,%.1f ", lx, ly);
    }
    rc = rc == MS_OK ? ms_buf_append_str(b, "\" />", err) : rc;
    for (size_t k = 0; rc == MS_OK && k < json_array_size(h); k++) {
        const json_t *p = json_array_get(h, k);
        const json_t *d = json_object_get(p, "days_from_first");
        double y = json_number_value(json_object_get(p, "mean_diameter_mm"));
        double x = px(ax, json_is_integer(d) ? (double)json_integer_value(d) : (double)k);
        rc = ms_buf_printf(
            b, err,
            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\" /><text x=\"%.1f\" y=\"%.1f\" "
            "font-size=\"11\">%.1f</text>",
            x, py(ax, y), color, x + 5, py(ax, y) - 6, y);
    }
    if (rc == MS_OK)
        rc = ms_buf_printf(b, err, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"%s\">",
                           lx + 10, ly + 16, color);
    if (rc == MS_OK)
        rc = cell(b, "", sv(f, "id"), "</text>", err);
    return rc;
}

static ms_rc chart(const json_t *fs, ms_buf *b, ms_err *err)
{
    static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};
    struct axis ax;
    chart_bounds(fs, &ax);
    ms_rc rc =
        ms_buf_printf(b, err,
                      "<h2>Size over time</h2><svg xmlns=\"http://www.w3.org/2000/svg\" "
                      "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"nodule mean diameter "
                      "over time\">",
                      CW, CH);
    if (rc == MS_OK)
        rc = chart_axes(&ax, b, err);
    for (size_t i = 0; rc == MS_OK && i < json_array_size(fs); i++)
        rc = chart_series(json_array_get(fs, i), &ax, colors[i % 5], b, err);
    return rc == MS_OK ? ms_buf_append_str(b, "</svg>", err) : rc;
}

static ms_rc list(const char *title, const json_t *a, const char *cls, ms_buf *b, ms_err *err)
{
    if (json_array_size(a) == 0)
        return MS_OK;
    ms_rc rc = ms_buf_printf(b, err, "<h2>%s</h2><ol class=%s>", title, cls);
    for (size_t i = 0; rc == MS_OK && i < json_array_size(a); i++)
        rc = cell(b, "<li>", json_string_value(json_array_get(a, i)), "</li>", err);
    return rc == MS_OK ? ms_buf_append_str(b, "</ol>", err) : rc;
}

static ms_rc study_head(const json_t *j, ms_buf *b, ms_err *err)
{
    const json_t *st = json_object_get(j, "study"), *pt = json_object_get(st, "patient");
    char line[256];
    snprintf(line, sizeof line, "%s %s, %s; sex %s, age %s; %zu prior stud%s", sv(st, "modality"),
             sv(st, "body_part"), sv(st, "date"), sv(pt, "sex"), sv(pt, "age_band"),
             json_array_size(json_object_get(j, "priors")),
             json_array_size(json_object_get(j, "priors")) == 1 ? "y" : "ies");
    ms_rc rc = cell(b, "<p>", line, "</p>", err);
    if (rc == MS_OK)
        rc = cell(b, "<p>Description: ", sv(st, "description"), "</p>", err);
    return rc;
}

static ms_rc render(const json_t *j, ms_buf *b, ms_err *err)
{
    const json_t *g = json_object_get(j, "guidelines");
    int deid = json_is_true(json_object_get(j, "deidentified"));
    ms_rc rc = ms_buf_printf(b, err,
                             "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>"
                             "medseal structured report</title>%s</head><body><h1>Structured "
                             "report</h1><p class=muted>%s</p>",
                             css, deid ? "De-identified" : "Contains PHI");
    if (rc == MS_OK)
        rc = study_head(j, b, err);
    if (rc == MS_OK)
        rc = list("Impression", json_object_get(j, "impression"), "imp", b, err);
    if (rc == MS_OK)
        rc = findings_table(json_object_get(j, "findings"), b, err);
    if (rc == MS_OK && json_array_size(json_object_get(j, "findings")) > 0)
        rc = chart(json_object_get(j, "findings"), b, err);
    if (rc == MS_OK)
        rc = series_table(json_object_get(j, "study"), b, err);
    if (rc == MS_OK)
        rc = list("Warnings", json_object_get(j, "warnings"), "warn", b, err);
    if (rc == MS_OK)
        rc = ms_buf_printf(b, err,
                           "<p class=muted>engine medseal-analyst %s; guidelines %s, %s, %s. "
                           "Categories are computed by deterministic rules; each names the "
                           "guideline row that produced it.</p></body></html>\n",
                           sv(json_object_get(j, "engine"), "version"), sv(g, "lung_rads"),
                           sv(g, "fleischner"), sv(g, "bi_rads"));
    return rc;
}

ms_rc an_report_html(const an_report *r, ms_buf *out, ms_err *err)
{
    json_t *j = NULL;
    ms_rc rc = an_report_json(r, &j, err);
    if (rc != MS_OK)
        return rc;
    rc = render(j, out, err);
    json_decref(j);
    return rc;
}

/*
 * The report as one self-contained HTML page for the radiologist (inline CSS, no scripts, no
 * external resources): a patient banner (name, MRN, accession, date with --phi; "de-identified"
 * and relative days without), the recommendation in words with the guideline rule as a detail,
 * the priors with their dates, the findings with a history and a change column, a size-over-time
 * chart (inline SVG, one tick per study, the Lung-RADS size thresholds drawn as bands), the series
 * and the impression. Each finding has a "why" detail (its character spans in the source text,
 * the evidence with --phi); negated, uncertain, resolved and historical mentions are listed with
 * the trigger that decided them. The layout reflows from phone width (tables become stacked cards) to print
 * (a print stylesheet). Empty values are always shown as one dash. Rendered from the report's
 * JSON; every string from it is HTML-escaped.
 *
 * Trusts: the JSON from an_report_json (its PHI fields exist only with --phi). Owns: nothing
 * beyond temporary JSON.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define DASH "\xe2\x80\x94" /* the one mark for an empty value */

/* A writer with a sticky error: after the first failure every call is a no-op. */
struct w {
    ms_buf *b;
    ms_err *err;
    ms_rc rc;
};

static void put(struct w *w, const char *s)
{
    if (w->rc == MS_OK)
        w->rc = ms_buf_append_str(w->b, s, w->err);
}

static void putf(struct w *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct w *w, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        if (w->rc == MS_OK)
            w->rc = ms_fail(w->err, MS_E_LIMIT, "html: markup fragment too long");
        return;
    }
    put(w, tmp);
}

/* escaped text; an empty or NULL string is the dash */
static void text(struct w *w, const char *s)
{
    if (s == NULL || *s == '\0') {
        put(w, "<span class=none>" DASH "</span>");
        return;
    }
    for (; w->rc == MS_OK && *s != '\0'; s++) {
        switch (*s) {
        case '<':
            put(w, "&lt;");
            break;
        case '>':
            put(w, "&gt;");
            break;
        case '&':
            put(w, "&amp;");
            break;
        case '"':
            put(w, "&quot;");
            break;
        case '\'':
            put(w, "&#39;");
            break;
        default:
            w->rc = ms_buf_append_byte(w->b, (uint8_t)*s, w->err);
        }
    }
}

static const char *sv(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v != NULL ? v : "";
}

static int has_num(const json_t *o, const char *k)
{
    return json_is_number(json_object_get(o, k));
}

static double nv(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* "%g unit" or "" */
static const char *num(char *buf, size_t n, const json_t *o, const char *k, const char *unit)
{
    if (!has_num(o, k))
        return "";
    snprintf(buf, n, "%g%s", nv(o, k), unit);
    return buf;
}

/* Joins the non-empty parts with sep, so that a missing field leaves no ", ," behind. */
static const char *join(char *buf, size_t n, const char *sep, const char *const *parts,
                        size_t nparts)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i] == NULL || parts[i][0] == '\0')
            continue;
        int k = snprintf(buf + len, n - len, "%s%s", len ? sep : "", parts[i]);
        if (k < 0 || (size_t)k >= n - len)
            break;
        len += (size_t)k;
    }
    return buf;
}

/* A study's date as the reader should see it: the date with --phi, else "day N" from the first
 * study (the de-identified JSON keeps only the year). */
static const char *when(char *buf, size_t n, const json_t *study_or_point, int phi)
{
    const char *d = sv(study_or_point, "date");
    const json_t *dd = json_object_get(study_or_point, "days_from_first");
    if (phi && d[0] != '\0')
        snprintf(buf, n, "%s", d);
    else if (json_is_integer(dd))
        snprintf(buf, n, "day %lld", (long long)json_integer_value(dd));
    else
        snprintf(buf, n, "%s", d);
    return buf;
}

static const char css[] =
    "<style>"
    "*{box-sizing:border-box}"
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;padding:1em;"
    "color:#1b1b1b;max-width:72em;line-height:1.35}"
    "h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .4em;border-bottom:1px "
    "solid #ccd}"
    ".banner{display:flex;flex-wrap:wrap;gap:.3em 1.6em;background:#eef2f8;border:1px solid "
    "#c9d3e3;border-radius:4px;padding:.6em .8em}"
    ".banner div{min-width:9em}.banner .k{display:block;font-size:.75em;color:#555;"
    "text-transform:uppercase;letter-spacing:.04em}.banner .v{font-weight:600}"
    ".rec{border-left:4px solid #b35900;background:#fff7ee;padding:.5em .8em;margin:.6em 0}"
    ".rec .g{font-size:.8em;color:#555;text-transform:uppercase;letter-spacing:.04em}"
    ".rec .words{font-size:1.05em;font-weight:600}"
    "table{border-collapse:collapse;margin:.4em 0 1em;width:100%}"
    "th,td{border:1px solid #c4c4c4;padding:.35em .5em;text-align:left;vertical-align:top}"
    "th{background:#eef2f8;font-weight:600}"
    ".cat{font-weight:700}.none{color:#888}.warn{color:#a00}.muted{color:#555;font-size:.88em}"
    "details{margin-top:.2em}summary{cursor:pointer;color:#555;font-size:.85em}"
    "code{font-size:.85em;overflow-wrap:anywhere}"
    "ul.h{margin:0;padding-left:1.1em}ul.h li{white-space:nowrap}"
    "ul.why{padding-left:1.1em}ul.why li{margin:.2em 0}details .muted,q{overflow-wrap:anywhere}"
    ".chart svg{width:100%;max-width:680px;height:auto;display:block}"
    ".legend{display:flex;flex-wrap:wrap;gap:.3em 1.2em;font-size:.9em;margin:.3em 0}"
    ".sw{display:inline-block;width:.9em;height:.9em;border-radius:50%;vertical-align:-.1em;"
    "margin-right:.3em}"
    ".bandkey{display:inline-block;width:1.4em;height:.8em;vertical-align:-.05em;margin-right:"
    ".3em;border:1px solid #bbb}"
    "@media (max-width:720px){body{padding:.6em}"
    "table.rsp,table.rsp tbody,table.rsp tr,table.rsp td{display:block;width:100%}"
    "table.rsp tr:first-child{display:none}"
    "table.rsp tr{border:1px solid #c4c4c4;border-radius:4px;margin:0 0 .7em;padding:.2em 0}"
    "table.rsp td{border:none;border-bottom:1px solid #eee;padding:.3em .5em}"
    "table.rsp td::before{content:attr(data-label);display:block;font-size:.75em;color:#555;"
    "text-transform:uppercase;letter-spacing:.04em}}"
    "@media print{body{max-width:none;padding:0;font-size:10pt}"
    ".banner,.rec,th{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
    "tr,.rec,.chart,.banner{break-inside:avoid}h2{break-after:avoid}"
    "details{display:block}details>summary{display:none}details>*{display:block}"
    "table.rsp tr:first-child{display:table-row}}"
    "</style>";

/* ---- banner and study ---- */

static void banner_item(struct w *w, const char *k, const char *v)
{
    putf(w, "<div><span class=k>%s</span><span class=v>", k);
    text(w, v);
    put(w, "</span></div>");
}

/* "FAMILY^GIVEN^MIDDLE" -> "FAMILY, GIVEN MIDDLE" */
static const char *person(char *buf, size_t n, const char *pn)
{
    size_t len = 0;
    int comp = 0;
    buf[0] = '\0';
    for (const char *s = pn; *s != '\0' && *s != '=' && len + 3 < n; s++) {
        if (*s == '^') {
            comp++;
            if (len > 0 && s[1] != '\0' && s[1] != '^') {
                const char *sep = comp == 1 ? ", " : " ";
                for (; *sep != '\0' && len + 1 < n; sep++)
                    buf[len++] = *sep;
            }
            continue;
        }
        buf[len++] = *s;
    }
    buf[len] = '\0';
    return buf;
}

static void banner(struct w *w, const json_t *j, int phi)
{
    const json_t *st = json_object_get(j, "study"), *pt = json_object_get(st, "patient");
    char name[256], date[32], exam[256], who[64];
    const char *ex[] = {sv(st, "modality"), sv(st, "body_part")};
    const char *wh[] = {sv(pt, "sex"), sv(pt, "age_band")};
    put(w, "<div class=banner>");
    if (phi) {
        banner_item(w, "Patient", person(name, sizeof name, sv(pt, "name")));
        banner_item(w, "MRN", sv(pt, "id"));
        banner_item(w, "Accession", sv(st, "accession"));
        banner_item(w, "Study date", sv(st, "date"));
    } else {
        banner_item(w, "Patient", "de-identified");
        banner_item(w, "Study", when(date, sizeof date, st, 0));
    }
    banner_item(w, "Exam", join(exam, sizeof exam, " ", ex, 2));
    banner_item(w, "Sex, age", join(who, sizeof who, ", ", wh, 2));
    put(w, "</div>");
    if (sv(st, "description")[0] != '\0') {
        put(w, "<p class=muted>");
        text(w, sv(st, "description"));
        put(w, "</p>");
    }
}

/* ---- the recommendation ---- */

/* "ct-3-6m-then-18-24m" -> "ct 3 6m then 18 24m" is no better than the key, so a category
 * without management words is shown as the key inside the detail only. */
static void guideline_words(struct w *w, const json_t *g, int lung_rads)
{
    const char *cat = sv(g, "category"), *mgmt = sv(g, "management");
    if (lung_rads && cat[0] != '\0') {
        put(w, "<span class=cat>");
        text(w, cat);
        put(w, "</span> ");
    }
    if (mgmt[0] != '\0')
        text(w, mgmt);
    else if (!lung_rads && strcmp(cat, "not-applicable") == 0)
        put(w, "Not applicable (screening context).");
    else if (cat[0] == '\0')
        text(w, "");
    else if (!lung_rads)
        text(w, cat);
    if (sv(g, "rule")[0] != '\0' || sv(g, "note")[0] != '\0') {
        put(w, "<details><summary>rule</summary><code>");
        text(w, sv(g, "rule"));
        put(w, "</code>");
        if (sv(g, "rule_text")[0] != '\0' && strcmp(sv(g, "rule_text"), mgmt) != 0) {
            put(w, ": ");
            text(w, sv(g, "rule_text"));
        }
        if (!lung_rads && cat[0] != '\0') {
            put(w, " <span class=muted>(key ");
            text(w, cat);
            put(w, ")</span>");
        }
        if (sv(g, "note")[0] != '\0') {
            put(w, "<br><span class=muted>");
            text(w, sv(g, "note"));
            put(w, "</span>");
        }
        put(w, "</details>");
    }
}

static void recommendation(struct w *w, const json_t *j)
{
    const json_t *a = json_object_get(j, "assessment");
    const json_t *lr = json_object_get(a, "lung_rads"), *fl = json_object_get(a, "fleischner");
    const json_t *bi = json_object_get(a, "bi_rads");
    if (!json_is_object(lr) && !json_is_object(fl) && !json_is_object(bi))
        return;
    put(w, "<h2>Recommendation</h2>");
    const json_t *gs[] = {lr, fl};
    const char *names[] = {"Lung-RADS v2022 (screening)", "Fleischner 2017 (incidental)"};
    for (int k = 0; k < 2; k++) {
        if (!json_is_object(gs[k]))
            continue;
        putf(w, "<div class=rec><div class=g>%s", names[k]);
        if (sv(gs[k], "nodule")[0] != '\0') {
            put(w, ", by nodule ");
            text(w, sv(gs[k], "nodule"));
        }
        put(w, "</div><div class=words>");
        guideline_words(w, gs[k], k == 0);
        put(w, "</div></div>");
    }
    if (json_is_object(bi)) {
        put(w, "<div class=rec><div class=g>BI-RADS</div><div class=words>");
        text(w, sv(bi, "category"));
        put(w, " ");
        text(w, sv(bi, "management"));
        put(w, "</div></div>");
    }
}

/* ---- priors ---- */

static void priors(struct w *w, const json_t *j, int phi)
{
    const json_t *ps = json_object_get(j, "priors"), *cur = json_object_get(j, "study");
    if (json_array_size(ps) == 0)
        return;
    put(w, "<h2>Priors</h2><table class=rsp><tr><th>Study</th><th>Date</th><th>Interval</th>"
           "<th>Exam</th><th>Description</th><th>Nodules described</th></tr>");
    const json_t *dc = json_object_get(cur, "days_from_first");
    size_t i;
    const json_t *p;
    json_array_foreach(ps, i, p)
    {
        char date[32], gap[64] = "", exam[256], n[32];
        const json_t *dp = json_object_get(p, "days_from_first");
        if (json_is_integer(dc) && json_is_integer(dp))
            snprintf(gap, sizeof gap, "%lld days before",
                     (long long)(json_integer_value(dc) - json_integer_value(dp)));
        const char *ex[] = {sv(p, "modality"), sv(p, "body_part")};
        snprintf(n, sizeof n, "%lld", (long long)json_integer_value(json_object_get(p, "nodules")));
        putf(w, "<tr><td data-label=Study>prior %zu</td><td data-label=Date>", i + 1);
        text(w, when(date, sizeof date, p, phi));
        put(w, "</td><td data-label=Interval>");
        text(w, gap);
        put(w, "</td><td data-label=Exam>");
        text(w, join(exam, sizeof exam, " ", ex, 2));
        put(w, "</td><td data-label=Description>");
        text(w, sv(p, "description"));
        put(w, "</td><td data-label='Nodules described'>");
        text(w, n);
        put(w, "</td></tr>");
    }
    put(w, "</table>");
}

/* ---- findings ---- */

static void nodule_cell(struct w *w, const json_t *f)
{
    const json_t *sz = json_object_get(f, "size");
    char mean[32] = "", axes[96] = "", solid[48];
    num(mean, sizeof mean, sz, "mean_diameter_mm", " mm");
    const json_t *ax = json_object_get(sz, "axes_mm");
    if (json_array_size(ax) > 1) {
        size_t len = 0;
        for (size_t k = 0; k < json_array_size(ax) && len + 16 < sizeof axes; k++)
            len += (size_t)snprintf(axes + len, sizeof axes - len, "%s%g", k ? " x " : "",
                                    json_number_value(json_array_get(ax, k)));
        snprintf(axes + len, sizeof axes - len, " mm");
    }
    put(w, "<b>");
    text(w, mean);
    put(w, "</b> ");
    const char *comp = sv(json_object_get(f, "composition"), "value");
    text(w, comp[0] ? comp : "composition not stated");
    put(w, "<br>");
    text(w, sv(json_object_get(f, "location"), "name"));
    if (axes[0] != '\0') {
        put(w, "<br><span class=muted>axes ");
        text(w, axes);
        put(w, "</span>");
    }
    if (num(solid, sizeof solid, sz, "solid_component_mm", " mm")[0] != '\0') {
        put(w, "<br><span class=muted>solid component ");
        text(w, solid);
        put(w, "</span>");
    }
}

/* "[9, 13)" of an object's span, or nothing */
static int span_of(char *buf, size_t n, const json_t *o)
{
    const json_t *sp = json_object_get(o, "span");
    if (json_array_size(sp) != 2)
        return 0;
    snprintf(buf, n, "[%lld, %lld)", (long long)json_integer_value(json_array_get(sp, 0)),
             (long long)json_integer_value(json_array_get(sp, 1)));
    return 1;
}

/* Why this finding: the character spans it came from (offsets into the source text), the
 * trigger that decided a listed mention, and with --phi the evidence snippet. */
static void why(struct w *w, const json_t *f, int phi)
{
    static const char *const parts[][2] = {{"size", "size"},      {"composition", "composition"},
                                           {"location", "site"},  {"change", "status"},
                                           {"image", "image"},    {NULL, NULL}};
    char sp[64];
    put(w, "<details><summary>why</summary><span class=muted>text ");
    text(w, span_of(sp, sizeof sp, f) ? sp : NULL);
    put(w, " of ");
    text(w, sv(f, "source"));
    for (size_t k = 0; parts[k][0] != NULL; k++) {
        if (span_of(sp, sizeof sp, json_object_get(f, parts[k][0]))) {
            putf(w, "; %s ", parts[k][1]);
            text(w, sp);
        }
    }
    const json_t *t = json_object_get(f, "trigger");
    if (json_is_object(t)) {
        put(w, "; trigger &ldquo;");
        text(w, sv(t, "phrase"));
        put(w, "&rdquo; (");
        text(w, sv(t, "category"));
        put(w, ")");
        if (span_of(sp, sizeof sp, t)) {
            put(w, " at ");
            text(w, sp);
        }
    }
    put(w, "</span>");
    if (phi && sv(f, "evidence")[0] != '\0') {
        put(w, "<br><q>");
        text(w, sv(f, "evidence"));
        put(w, "</q>");
    }
    put(w, "</details>");
}

/* Negated, uncertain, resolved and historical mentions: never current nodules, each with the
 * trigger that decided it. */
static void not_counted(struct w *w, const json_t *j, int phi)
{
    static const char *const lists[][2] = {{"negatives", "negated"},  {"uncertain", "uncertain"},
                                           {"resolved", "resolved"},  {"historical", "historical"},
                                           {NULL, NULL}};
    size_t n = 0;
    for (size_t k = 0; lists[k][0] != NULL; k++)
        n += json_array_size(json_object_get(j, lists[k][0]));
    if (n == 0)
        return;
    put(w, "<h2>Not counted as current nodules</h2><ul class=why>");
    for (size_t k = 0; lists[k][0] != NULL; k++) {
        const json_t *a = json_object_get(j, lists[k][0]);
        for (size_t i = 0; i < json_array_size(a); i++) {
            const json_t *f = json_array_get(a, i);
            char mean[32];
            putf(w, "<li><b>%s</b> ", lists[k][1]);
            if (json_is_true(json_object_get(f, "new_only")))
                put(w, "(new ones only) ");
            const char *m = num(mean, sizeof mean, json_object_get(f, "size"), "mean_diameter_mm", " mm");
            if (m[0] != '\0') {
                text(w, m);
                put(w, " ");
            }
            if (sv(json_object_get(f, "location"), "name")[0] != '\0') {
                text(w, sv(json_object_get(f, "location"), "name"));
                put(w, " ");
            }
            why(w, f, phi);
            put(w, "</li>");
        }
    }
    put(w, "</ul>");
}

static void history_cell(struct w *w, const json_t *c, int phi)
{
    const json_t *h = json_object_get(c, "history");
    if (json_array_size(h) == 0) {
        text(w, "");
        return;
    }
    put(w, "<ul class=h>");
    for (size_t k = 0; k < json_array_size(h); k++) {
        const json_t *p = json_array_get(h, k);
        char d[32], mm[32];
        put(w, "<li>");
        text(w, when(d, sizeof d, p, phi));
        put(w, ": ");
        text(w, num(mm, sizeof mm, p, "mean_diameter_mm", " mm"));
        put(w, "</li>");
    }
    put(w, "</ul>");
}

static void change_cell(struct w *w, const json_t *c)
{
    char line[160];
    const char *status = sv(c, "status");
    if (json_integer_value(json_object_get(c, "studies")) < 2 && !has_num(c, "change_since_prior_mm")) {
        put(w, "<span class=none>" DASH "</span> <span class=muted>first study</span>");
        return;
    }
    text(w, status[0] ? status : "");
    if (has_num(c, "change_since_prior_mm")) {
        snprintf(line, sizeof line, "%+.1f mm (%+.0f%%) since prior", nv(c, "change_since_prior_mm"),
                 nv(c, "change_since_prior_pct"));
        put(w, "<br>");
        text(w, line);
        if (has_num(c, "days_since_prior"))
            putf(w, " <span class=muted>(%.0f days)</span>", nv(c, "days_since_prior"));
    }
    if (has_num(c, "change_since_first_mm")) {
        snprintf(line, sizeof line, "%+.1f mm (%+.0f%%) since first", nv(c, "change_since_first_mm"),
                 nv(c, "change_since_first_pct"));
        put(w, "<br>");
        text(w, line);
    }
    if (has_num(c, "vdt_days")) {
        /* the reading is "suspicious (< 400 days)": the word first, its threshold as a detail */
        char word[64];
        const char *rd = sv(c, "vdt_reading"), *paren = strstr(rd, " (");
        size_t wl = paren ? (size_t)(paren - rd) : strlen(rd);
        snprintf(word, sizeof word, "%.*s", (int)(wl < sizeof word ? wl : sizeof word - 1), rd);
        putf(w, "<br>doubling time %.0f days", nv(c, "vdt_days"));
        if (word[0] != '\0') {
            put(w, ": ");
            text(w, word);
        }
        if (paren != NULL) {
            put(w, " <span class=muted>");
            text(w, paren + 1);
            put(w, "</span>");
        }
    }
}

static void findings(struct w *w, const json_t *fs, int phi)
{
    put(w, "<h2>Findings</h2>");
    if (json_array_size(fs) == 0) {
        put(w, "<p>No pulmonary nodule described.</p>");
        return;
    }
    put(w, "<table class=rsp><tr><th>Nodule</th><th>Size, type, site</th><th>History</th>"
           "<th>Change</th><th>Lung-RADS v2022</th><th>Fleischner 2017</th></tr>");
    for (size_t i = 0; i < json_array_size(fs); i++) {
        const json_t *f = json_array_get(fs, i), *c = json_object_get(f, "comparison");
        put(w, "<tr><td data-label=Nodule><b>");
        text(w, sv(f, "id"));
        put(w, "</b></td><td data-label='Size, type, site'>");
        nodule_cell(w, f);
        why(w, f, phi);
        put(w, "</td><td data-label=History>");
        history_cell(w, c, phi);
        put(w, "</td><td data-label=Change>");
        change_cell(w, c);
        put(w, "</td><td data-label='Lung-RADS v2022'>");
        guideline_words(w, json_object_get(f, "lung_rads"), 1);
        put(w, "</td><td data-label='Fleischner 2017'>");
        guideline_words(w, json_object_get(f, "fleischner"), 0);
        put(w, "</td></tr>");
    }
    put(w, "</table>");
}

/* ---- the size-over-time chart ---- */

#define CW 680
#define CH 300
#define ML 64 /* room for the tick labels and the vertical axis title */
#define MB 62 /* up to three rows of study labels and the axis title */
#define MT 14
#define MR 110 /* band labels */

struct axis {
    double xmax, ymax;
    int by_index; /* no dates: studies evenly spaced */
};

/* The x of a study: days from the first, or its index when dates are unknown. */
static double study_x(const json_t *s, size_t idx, int by_index)
{
    const json_t *d = json_object_get(s, "days_from_first");
    return by_index || !json_is_integer(d) ? (double)idx : (double)json_integer_value(d);
}

static double px(const struct axis *ax, double x)
{
    return ML + (ax->xmax > 0 ? x / ax->xmax : 0.5) * (CW - ML - MR);
}

static double py(const struct axis *ax, double y)
{
    return CH - MB - y / ax->ymax * (CH - MB - MT);
}

/* The studies in time order: priors (already ordered) then the current one. */
static size_t studies(const json_t *j, const json_t **out, size_t cap)
{
    size_t n = 0;
    const json_t *ps = json_object_get(j, "priors");
    for (size_t i = 0; i < json_array_size(ps) && n + 1 < cap; i++)
        out[n++] = json_array_get(ps, i);
    out[n++] = json_object_get(j, "study");
    return n;
}

static void chart(struct w *w, const json_t *j, int phi)
{
    static const char *const colors[] = {"#1f5fa8", "#c0392b", "#2e8b57", "#7d3c98", "#d35400"};
    /* Lung-RADS v2022 solid-nodule size categories at baseline (mean diameter) */
    static const struct {
        double lo, hi;
        const char *label, *fill;
    } bands[] = {{0, 6, "LR 2: < 6 mm", "#eaf6ea"},
                 {6, 8, "LR 3: 6-8 mm", "#fdf6dc"},
                 {8, 15, "LR 4A: 8-15 mm", "#fde9d6"},
                 {15, 1e9, "LR 4B: >= 15 mm", "#f9dcdc"}};
    const json_t *fs = json_object_get(j, "findings");
    const json_t *st[AN_MAX_STUDIES + 1];
    size_t ns = studies(j, st, sizeof st / sizeof st[0]);
    struct axis ax = {0, 10, 0};
    for (size_t i = 0; i < ns; i++)
        if (!json_is_integer(json_object_get(st[i], "days_from_first")))
            ax.by_index = 1;
    for (size_t i = 0; i < ns; i++)
        ax.xmax = fmax(ax.xmax, study_x(st[i], i, ax.by_index));
    for (size_t i = 0; i < json_array_size(fs); i++) {
        const json_t *h = json_object_get(json_object_get(json_array_get(fs, i), "comparison"),
                                          "history");
        for (size_t k = 0; k < json_array_size(h); k++)
            ax.ymax = fmax(ax.ymax, nv(json_array_get(h, k), "mean_diameter_mm") * 1.15);
    }
    double step = ax.ymax > 40 ? 10 : ax.ymax > 20 ? 5 : 2;
    ax.ymax = ceil(ax.ymax / step) * step;

    put(w, "<h2>Size over time</h2><div class=chart>");
    putf(w,
         "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" role=\"img\" "
         "aria-label=\"mean nodule diameter at each study\" font-family=\"system-ui,sans-serif\">",
         CW, CH);
    for (size_t k = 0; k < sizeof bands / sizeof bands[0]; k++) {
        if (bands[k].lo >= ax.ymax)
            break;
        double top = py(&ax, fmin(bands[k].hi, ax.ymax)), bot = py(&ax, bands[k].lo);
        putf(w, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\" />", ML, top,
             CW - ML - MR, bot - top, bands[k].fill);
        if (bot - top >= 12) {
            putf(w, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" fill=\"#555\">",
                 CW - MR + 6, (top + bot) / 2 + 4);
            text(w, bands[k].label);
            put(w, "</text>");
        }
    }
    /* axes, y ticks and grid */
    putf(w,
         "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\" /><line x1=\"%d\" "
         "y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\" />",
         ML, CH - MB, CW - MR, CH - MB, ML, MT, ML, CH - MB);
    for (double y = 0; y <= ax.ymax + 1e-9; y += step)
        putf(w,
             "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#999\" "
             "stroke-width=\"0.5\" /><text x=\"%d\" y=\"%.1f\" font-size=\"11\" "
             "text-anchor=\"end\">%g</text>",
             ML - 4, py(&ax, y), ML, py(&ax, y), ML - 7, py(&ax, y) + 4, y);
    putf(w,
         "<text transform=\"translate(16 %d) rotate(-90)\" font-size=\"12\" "
         "text-anchor=\"middle\">mean diameter (mm)</text>",
         (CH - MB + MT) / 2);
    /* one tick per study; labels that would touch drop to the next row */
    double last[3] = {-1e9, -1e9, -1e9};
    for (size_t i = 0; i < ns; i++) {
        char lab[32];
        double x = px(&ax, study_x(st[i], i, ax.by_index));
        int row = 0;
        while (row < 2 && x - last[row] < 76)
            row++;
        last[row] = x;
        when(lab, sizeof lab, st[i], phi);
        if (ax.by_index)
            snprintf(lab, sizeof lab, i + 1 < ns ? "prior %zu" : "current", i + 1);
        putf(w, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#444\" />", x,
             CH - MB, x, CH - MB + 5 + row * 13);
        putf(w, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">", x,
             CH - MB + 17 + row * 13);
        text(w, lab);
        put(w, "</text>");
    }
    putf(w, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%s</text>",
         (ML + CW - MR) / 2, CH - 6,
         ax.by_index ? "studies in order (dates unknown)"
                     : (phi ? "study date" : "study (days from the first study)"));
    /* the nodules */
    for (size_t i = 0; i < json_array_size(fs); i++) {
        const json_t *f = json_array_get(fs, i);
        const json_t *h = json_object_get(json_object_get(f, "comparison"), "history");
        const char *col = colors[i % 5];
        putf(w, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
        for (size_t k = 0; k < json_array_size(h); k++) {
            const json_t *p = json_array_get(h, k);
            size_t si = (size_t)json_integer_value(json_object_get(p, "study"));
            double x = px(&ax, si < ns ? study_x(st[si], si, ax.by_index) : (double)si);
            putf(w, "%.1f,%.1f ", x, py(&ax, nv(p, "mean_diameter_mm")));
        }
        put(w, "\" />");
        for (size_t k = 0; k < json_array_size(h); k++) {
            const json_t *p = json_array_get(h, k);
            size_t si = (size_t)json_integer_value(json_object_get(p, "study"));
            double x = px(&ax, si < ns ? study_x(st[si], si, ax.by_index) : (double)si);
            putf(w, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>", x,
                 py(&ax, nv(p, "mean_diameter_mm")), col);
            text(w, sv(f, "id"));
            putf(w, " %g mm</title></circle>", nv(p, "mean_diameter_mm"));
        }
    }
    put(w, "</svg><div class=legend>");
    for (size_t i = 0; i < json_array_size(fs); i++) {
        const json_t *f = json_array_get(fs, i);
        char lab[160];
        const char *parts[] = {sv(f, "id"), sv(json_object_get(f, "composition"), "value"),
                               sv(json_object_get(f, "location"), "lobe")};
        putf(w, "<span><span class=sw style=\"background:%s\"></span>", colors[i % 5]);
        text(w, join(lab, sizeof lab, " ", parts, 3));
        put(w, "</span>");
    }
    put(w, "<span class=muted>bands: Lung-RADS v2022 size categories for a solid nodule at "
           "baseline</span></div></div>");
}

/* ---- series, lists ---- */

static void series_table(struct w *w, const json_t *st)
{
    const json_t *ss = json_object_get(st, "series");
    if (json_array_size(ss) == 0)
        return;
    put(w, "<h2>Series</h2><table class=rsp><tr><th>#</th><th>Modality</th><th>Description</th>"
           "<th>Images</th><th>Thickness</th><th>Spacing</th><th>Kernel</th><th>Contrast</th>"
           "<th>Scanner</th><th>CTDIvol</th><th>Flags</th></tr>");
    size_t i;
    const json_t *s;
    json_array_foreach(ss, i, s)
    {
        char th[32], sp[32], ct[32], n[32], scanner[260];
        const char *sc[] = {sv(s, "manufacturer"), sv(s, "model")};
        snprintf(n, sizeof n, "%lld", (long long)json_integer_value(json_object_get(s, "images")));
        const char *labels[] = {"#",       "Modality", "Description", "Images",
                                "Thickness", "Spacing", "Kernel",      "Contrast",
                                "Scanner", "CTDIvol"};
        const char *vals[] = {sv(s, "number"),
                              sv(s, "modality"),
                              sv(s, "description"),
                              n,
                              num(th, sizeof th, s, "slice_thickness_mm", " mm"),
                              num(sp, sizeof sp, s, "spacing_mm", " mm"),
                              sv(s, "kernel"),
                              sv(s, "contrast"),
                              join(scanner, sizeof scanner, " ", sc, 2),
                              num(ct, sizeof ct, s, "ctdivol_mgy", " mGy")};
        put(w, "<tr>");
        for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
            putf(w, "<td data-label=\"%s\">", labels[k]);
            text(w, vals[k]);
            put(w, "</td>");
        }
        put(w, "<td data-label=Flags class=warn>");
        const json_t *fl = json_object_get(s, "flags");
        if (json_array_size(fl) == 0)
            text(w, "");
        for (size_t k = 0; k < json_array_size(fl); k++) {
            if (k)
                put(w, "; ");
            text(w, json_string_value(json_array_get(fl, k)));
        }
        put(w, "</td></tr>");
    }
    put(w, "</table>");
}

static void list(struct w *w, const char *title, const json_t *a, const char *cls)
{
    if (json_array_size(a) == 0)
        return;
    putf(w, "<h2>%s</h2><ol class=%s>", title, cls);
    for (size_t i = 0; i < json_array_size(a); i++) {
        put(w, "<li>");
        text(w, json_string_value(json_array_get(a, i)));
        put(w, "</li>");
    }
    put(w, "</ol>");
}

static ms_rc render(const json_t *j, ms_buf *b, ms_err *err)
{
    struct w w = {b, err, MS_OK};
    const json_t *g = json_object_get(j, "guidelines");
    int phi = !json_is_true(json_object_get(j, "deidentified"));
    put(&w, "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><meta name=viewport "
            "content=\"width=device-width, initial-scale=1\"><title>medseal structured report"
            "</title>");
    put(&w, css);
    putf(&w, "</head><body><h1>Structured radiology report</h1><p class=muted>%s</p>",
         phi ? "Contains PHI: for the care team only." : "De-identified.");
    banner(&w, j, phi);
    recommendation(&w, j);
    findings(&w, json_object_get(j, "findings"), phi);
    not_counted(&w, j, phi);
    if (json_array_size(json_object_get(j, "findings")) > 0)
        chart(&w, j, phi);
    priors(&w, j, phi);
    list(&w, "Impression", json_object_get(j, "impression"), "imp");
    series_table(&w, json_object_get(j, "study"));
    list(&w, "Warnings", json_object_get(j, "warnings"), "warn");
    put(&w, "<p class=muted>engine medseal-analyst ");
    text(&w, sv(json_object_get(j, "engine"), "version"));
    put(&w, "; guidelines ");
    text(&w, sv(g, "lung_rads"));
    put(&w, ", ");
    text(&w, sv(g, "fleischner"));
    put(&w, ", ");
    text(&w, sv(g, "bi_rads"));
    put(&w, ". Categories are computed by deterministic rules from the extracted findings; each "
            "names the guideline row that produced it. Verify the measurements against the "
            "images.</p></body></html>\n");
    return w.rc;
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

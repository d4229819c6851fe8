/*
 * The report as plain text for a radiologist: study and series summary, priors, findings with
 * size history, growth and VDT, the guideline rows, the impression. Rendered straight from the
 * report's structs (no JSON tree: that cost about a third of a short analyst request), with every
 * derived value (rounding, series flags, comparison, feature names, sources, impression sentences)
 * taken from the helpers the JSON writer uses (out_json.c, findings.c), so the text says what the
 * JSON says. Where the JSON would leave a string out (jansson refuses one that is not valid UTF-8,
 * e.g. a DICOM value cut at its field size) or make it null (empty), the text prints "-", as it
 * did when it was rendered from the JSON.
 *
 * Trusts: the report built by an_run. Owns: nothing beyond a temporary buffer for the series.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "medseal/phi.h"

/* ---- strings as the JSON would hold them ---- */

/* jansson's rule for a string value: UTF-8, shortest form, no surrogates, <= U+10FFFF. */
static int utf8_okn(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    for (uint64_t w; i + 8 <= n; i += 8) { /* ASCII eight bytes at a time */
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080u)
            break;
    }
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned v;
        if (c >= 0xC2 && c <= 0xDF)
            k = 2, v = c & 0x1Fu;
        else if (c >= 0xE0 && c <= 0xEF)
            k = 3, v = c & 0x0Fu;
        else if (c >= 0xF0 && c <= 0xF4)
            k = 4, v = c & 0x07u;
        else
            return 0;
        if (k > n - i)
            return 0;
        for (size_t m = 1; m < k; m++) {
            if (p[i + m] < 0x80 || p[i + m] > 0xBF)
                return 0;
            v = (v << 6) | (p[i + m] & 0x3Fu);
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (k == 3 && v < 0x800) ||
            (k == 4 && v < 0x10000))
            return 0;
        i += k;
    }
    return 1;
}

static int utf8_ok(const char *s)
{
    return utf8_okn(s, strlen(s));
}

/* a member set with json_string: "-" when jansson would refuse it */
static const char *js(const char *s)
{
    return s != NULL && utf8_ok(s) ? s : "-";
}

/* a member set with str_or_null: "" is null too */
static const char *jsn(const char *s)
{
    return s != NULL && s[0] != '\0' ? js(s) : "-";
}

/* ---- output ---- */

/* how many more bytes the buffer may take (its max) */
static size_t room_left(const ms_buf *b)
{
    return b->max == 0 ? SIZE_MAX : b->max > b->len ? b->max - b->len : 0;
}

/* printf straight into the buffer's free room: one formatting pass for the usual short line
 * (ms_buf_printf measures first), a second only when the line did not fit */
static ms_rc put(ms_buf *b, ms_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ms_rc put(ms_buf *b, ms_err *err, const char *fmt, ...)
{
    size_t left = room_left(b);
    size_t want = left < 256 ? left : 256; /* never fail for room the line does not need */
    for (;;) {
        ms_rc rc = ms_buf_reserve(b, want, err);
        if (rc != MS_OK)
            return rc;
        size_t room = b->cap - b->len; /* past the reserve, but never past max */
        if (room > left)
            room = left + 1;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf((char *)b->p + b->len, room, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            b->len += (size_t)n;
            return MS_OK;
        }
        b->p[b->len] = 0; /* the terminator a failed or cut-off attempt moved */
        if (n < 0)
            return ms_fail(err, MS_E_INVAL, "bad format");
        want = (size_t)n;
    }
}

static ms_rc str(ms_buf *b, const char *s, ms_err *err)
{
    return ms_buf_append(b, s, strlen(s), err);
}

/* the strings up to the NULL, one after the other (no formatting pass) */
static ms_rc cat(ms_buf *b, ms_err *err, ...) __attribute__((sentinel));

static ms_rc cat(ms_buf *b, ms_err *err, ...)
{
    const char *part[24];
    size_t len[24], k = 0, total = 0;
    va_list ap;
    va_start(ap, err);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL; k++) {
        if (k == 24) { /* more parts than the line calls for: never, but stay correct */
            va_end(ap);
            return ms_fail(err, MS_E_INVAL, "text line of too many parts");
        }
        part[k] = s;
        len[k] = strlen(s);
        total += len[k];
    }
    va_end(ap);
    ms_rc rc = ms_buf_reserve(b, total, err); /* one reserve for the line */
    if (rc != MS_OK)
        return rc;
    for (size_t i = 0; i < k; i++) {
        memcpy(b->p + b->len, part[i], len[i]);
        b->len += len[i];
    }
    b->p[b->len] = 0;
    return MS_OK;
}

/* v in decimal (as %lld) into buf (>= 24 bytes); returns buf */
static const char *dec(long long v, char *buf)
{
    char t[24];
    size_t n = 0, k = 0;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do
        t[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        buf[k++] = '-';
    while (n > 0)
        buf[k++] = t[--n];
    buf[k] = '\0';
    return buf;
}

/* a string part for cat, as printf's %s prints NULL */
static const char *nz(const char *s)
{
    return s != NULL ? s : "(null)";
}

/* a number member printed with %g, "-" when unknown (NAN) or left out (infinite) */
static void num(char *buf, size_t n, double v, const char *unit)
{
    if (isfinite(v))
        snprintf(buf, n, "%g%s", v, unit);
    else
        snprintf(buf, n, "-");
}

/* one decimal, optionally signed: "8.0 mm", "+1.6 mm", "+24.2%" */
static void num1(char *buf, size_t n, double v, const char *unit, int sign)
{
    if (!isfinite(v))
        snprintf(buf, n, "-");
    else if (sign)
        snprintf(buf, n, "%+.1f%s", v, unit);
    else
        snprintf(buf, n, "%.1f%s", v, unit);
}

/* "2023, day 178" (date and days from the first study) */
static void when(const struct an_report *r, const struct an_study *st, char *buf, size_t n)
{
    char date[16];
    an_fmt_date(r, st, date, sizeof date);
    long off = an_study_offset(r, st);
    if (off != AN_NONE)
        snprintf(buf, n, "%s, day %lld", jsn(date), (long long)off);
    else
        snprintf(buf, n, "%s", jsn(date));
}

/* ---- the study ---- */

/* A clean copy of a description (an_study_clean), "-" when withheld or empty. */
struct cleaner {
    const struct an_report *r;
    const struct an_study *st;
    phi_ctx *ctx;
};

static const char *clean(struct cleaner *c, const char *s, char *buf, size_t n)
{
    an_study_clean(c->r, c->st, c->ctx, s, buf, n);
    return jsn(buf);
}

static ms_rc series_lines(struct cleaner *cl, const struct an_study *st, ms_buf *b, ms_err *err)
{
    ms_rc rc = MS_OK;
    for (size_t i = 0; rc == MS_OK && i < st->nseries; i++) {
        const struct an_series *s = &st->series[i];
        char th[32], sp[32], ct[32], desc[AN_STR], contrast[AN_STR];
        const char *flags[AN_SERIES_FLAGS];
        size_t nflags = an_series_flags(s, flags);
        const char *d = clean(cl, s->description, desc, sizeof desc);
        const char *c = clean(cl, s->contrast, contrast, sizeof contrast);
        num(th, sizeof th, an_out_num(s->thickness), " mm");
        num(sp, sizeof sp, an_out_num(s->spacing), " mm");
        num(ct, sizeof ct, an_out_num(s->ctdivol_max), " mGy");
        rc = put(b, err,
                 "  Series %s %s \"%s\": %lld images, thickness %s, spacing %s, kernel %s, "
                 "contrast %s, %s %s, CTDIvol %s\n",
                 jsn(s->number), jsn(s->modality), d, (long long)s->count, th, sp, jsn(s->kernel),
                 c, jsn(s->manufacturer), jsn(s->model), ct);
        for (size_t k = 0; rc == MS_OK && k < nflags; k++)
            rc = put(b, err, "    FLAG: %s\n", flags[k]);
    }
    return rc;
}

/* The current study's block. The descriptions are cleaned in the JSON writer's order (series,
 * then body part and description), so the scrubber sees the same sequence. */
static ms_rc study_block_dicom(const struct an_report *r, ms_buf *b, ms_err *err)
{
    const struct an_study *st = &r->studies[r->cur];
    struct cleaner cl = {r, st, an_study_scrubber(r, st)};
    ms_buf series;
    ms_buf_init(&series, r->alloc, 0);
    ms_rc rc = series_lines(&cl, st, &series, err);
    char body[AN_STR], desc[AN_STR], band[16], w[64];
    const char *bp = clean(&cl, st->body_part, body, sizeof body);
    const char *d = clean(&cl, st->description, desc, sizeof desc);
    phi_ctx_free(cl.ctx);
    when(r, st, w, sizeof w);
    const char *sex = jsn(st->sex), *age = jsn(an_age_band(st->age, band, sizeof band));
    if (st->sex[0] != '\0' && !utf8_ok(st->sex))
        age = "-"; /* the JSON's patient object is packed whole: one refused value, neither */
    if (rc == MS_OK)
        rc = put(b, err, "STUDY\n  %s %s, %s; patient sex %s, age %s\n  Description: %s\n",
                 jsn(st->modality), bp, w, sex, age, d);
    if (rc == MS_OK && series.len > 0)
        rc = ms_buf_append(b, series.p, series.len, err);
    ms_buf_free(&series);
    /* the JSON's dose object is packed whole: an infinite CTDIvol would leave the DLP out too */
    double dlp = an_out_num(st->dlp_total);
    if (rc == MS_OK && isfinite(dlp) && !isinf(an_out_num(st->ctdivol_sr)))
        rc = put(b, err, "  Dose SR: DLP total %.1f mGy.cm\n", dlp);
    if (rc == MS_OK)
        rc = put(b, err, "  DICOM files %lld, SR documents %lld, unreadable %lld\n",
                 (long long)st->files, (long long)st->sr_docs, (long long)st->unreadable);
    if (rc == MS_OK && r->nstudies > 1)
        rc = str(b, "PRIORS\n", err);
    size_t k = 0;
    for (size_t i = 0; rc == MS_OK && i < r->nstudies; i++) {
        if (i == r->cur)
            continue;
        const struct an_study *p = &r->studies[i];
        when(r, p, w, sizeof w);
        rc = put(b, err, "  %zu. %s %s: %lld files, %lld nodule(s) described\n", ++k,
                 jsn(p->modality), w, (long long)p->files, (long long)p->nnods);
    }
    return rc;
}

static ms_rc study_block(const struct an_report *r, ms_buf *b, ms_err *err)
{
    if (r->studies[r->cur].files == 0 && r->nstudies == 1)
        return str(b, "STUDY\n  no DICOM files: findings from free text only\n", err);
    return study_block_dicom(r, b, err);
}

/* ---- findings ---- */

static ms_rc history_line(const struct an_report *r, const struct an_track *t, ms_buf *b,
                          ms_err *err)
{
    if (t->npts < 2)
        return MS_OK;
    ms_rc rc = str(b, "      history:", err);
    for (size_t i = 0; rc == MS_OK && i < t->npts; i++) {
        const struct an_study *st = &r->studies[t->pts[i].study];
        char sz[32], w[64];
        num1(sz, sizeof sz, an_found_mean_mm(&st->nods[t->pts[i].nod].f), " mm", 0);
        when(r, st, w, sizeof w);
        rc = put(b, err, "%s %s (%s)", i ? " ->" : "", sz, w);
    }
    if (rc != MS_OK)
        return rc;
    struct an_cmp_out c;
    an_cmp_out(t, &c);
    char d1[32], p1[32], d0[32], p0[32], days[32];
    num1(d1, sizeof d1, c.prior_mm, " mm", 1);
    num1(p1, sizeof p1, c.prior_pct, "%", 1);
    num1(d0, sizeof d0, c.first_mm, " mm", 1);
    num1(p0, sizeof p0, c.first_pct, "%", 1);
    num(days, sizeof days, c.days_prior == AN_NONE ? NAN : (double)c.days_prior, " days");
    rc = put(b, err,
             "\n      change: %s (%s) since prior (%s); %s (%s) since first; Lung-RADS "
             "growth: %s\n",
             d1, p1, days, d0, p0, jsn(c.growth));
    if (rc == MS_OK && isfinite(c.vdt_days))
        rc = put(b, err, "      volume doubling time: %.0f days - %s\n", c.vdt_days,
                 jsn(c.vdt_reading));
    else if (rc == MS_OK && c.vdt_reading != NULL && c.vdt_reading[0] != '\0' &&
             utf8_ok(c.vdt_reading))
        rc = put(b, err, "      volume doubling time: %s\n", c.vdt_reading);
    return rc;
}

static ms_rc guideline_line(const char *name, const struct an_result *g, ms_buf *b, ms_err *err)
{
    ms_rc rc = cat(b, err, "      ", name, ": ", js(g->category), "  [", js(g->rule), "] ",
                   js(g->rule_text), "\n", NULL);
    if (rc == MS_OK && g->note != NULL && utf8_ok(g->note))
        rc = cat(b, err, "        note: ", g->note, "\n", NULL);
    return rc;
}

static ms_rc finding_block(const struct an_report *r, const struct an_study *st,
                           const struct an_nod *nd, ms_buf *b, ms_err *err)
{
    const struct an_found *f = &nd->f;
    const char *comp = an_comp_name(f->comp);
    char mean[32], mentions[24];
    num1(mean, sizeof mean, f->naxes > 0 ? an_found_mean_mm(f) : NAN, " mm", 0);
    int lobe = f->lobe != AN_LOBE_NONE;
    ms_rc rc =
        cat(b, err, "  ", js(nd->id), "  ", mean, " ", comp != NULL ? comp : "",
            comp != NULL ? " nodule" : "nodule (composition not stated)", ", ",
            lobe ? nz(an_lobe_long_name(f->lobe)) : "location not stated", lobe ? " (" : "",
            lobe ? nz(an_lobe_name(f->lobe)) : "", lobe ? ")" : "", "  [",
            js(an_nod_source(st, nd)), ", ", dec(nd->mentions, mentions), " mention(s)]\n", NULL);
    if (rc == MS_OK && f->naxes > 0) {
        rc = str(b, "      axes:", err);
        for (int i = 0; rc == MS_OK && i < f->naxes; i++)
            rc = put(b, err, "%s %.1f mm", i ? " x" : "", an_h_to_mm(f->axes_h[i]));
        if (rc == MS_OK)
            rc = str(b, "\n", err);
    }
    if (rc == MS_OK && f->source >= 0 && f->span.end > f->span.start)
        rc = put(b, err, "      text: [%zu, %zu)%s\n", f->span.start, f->span.end,
                 f->img_image >= 0 ? " with an image reference" : "");
    const char *feats[AN_FEATURE_NAMES];
    size_t nfeats = an_feature_names(f->features, feats);
    for (size_t i = 0; rc == MS_OK && i < nfeats; i++)
        rc =
            cat(b, err, i ? ", " : "      features: ", feats[i], i + 1 == nfeats ? "\n" : "", NULL);
    const struct an_track *t = nd->track >= 0 ? &r->tracks[nd->track] : NULL;
    struct an_cmp_out c;
    if (t != NULL)
        an_cmp_out(t, &c);
    if (rc == MS_OK && t != NULL && c.status != NULL)
        rc = put(b, err, "      status: %s (%lld stud%s)\n", c.status, (long long)c.studies,
                 c.studies == 1 ? "y" : "ies");
    if (rc == MS_OK && f->prior_h != AN_NONE)
        rc =
            put(b, err, "      earlier size stated in the text: %.1f mm\n", an_h_to_mm(f->prior_h));
    if (rc == MS_OK && t != NULL)
        rc = history_line(r, t, b, err);
    if (rc == MS_OK && nd->have_lr)
        rc = guideline_line("Lung-RADS v2022", &nd->lr, b, err);
    if (rc == MS_OK && nd->have_fl)
        rc = guideline_line("Fleischner 2017", &nd->fl, b, err);
    return rc;
}

/* BI-RADS categories stated in the current study's text */
static ms_rc birads_block(const struct an_study *st, ms_buf *b, ms_err *err)
{
    ms_rc rc = MS_OK;
    int first = 1;
    for (size_t i = 0; rc == MS_OK && i < st->nfound; i++) {
        const struct an_found *f = &st->found[i];
        if (f->kind != 1 || !utf8_ok(f->birads)) /* the JSON leaves such an entry out */
            continue;
        const struct an_birads_row *row = an_birads_stated(f->birads);
        rc = cat(b, err, first ? "\nBREAST ASSESSMENT (carried from the report)\n" : "",
                 "  BI-RADS ", f->birads, " stated in ",
                 f->source >= 0 ? js(st->texts[f->source].source) : "-", ": ", row->assessment,
                 " (likelihood of malignancy ", row->likelihood, ")\n", NULL);
        first = 0;
    }
    return rc;
}

/* Why a mention is not a current nodule, and the sized findings outside the lung: each with
 * the character spans it came from and, for a mention a trigger decided, that trigger. */
static ms_rc mentions_block(const struct an_study *st, ms_buf *b, ms_err *err)
{
    static const char *const what[] = {"", "", "negated", "", "", "", "other finding",
                                       "uncertain", "resolved", "historical"};
    ms_rc rc = MS_OK;
    int first = 1;
    for (size_t i = 0; rc == MS_OK && i < st->nfound; i++) {
        const struct an_found *f = &st->found[i];
        if (f->kind != 2 && (f->kind < 6 || f->kind > 9))
            continue;
        char mean[32];
        num1(mean, sizeof mean, f->naxes > 0 ? an_found_mean_mm(f) : NAN, " mm", 0);
        rc = put(b, err, "%s  %s: %s%s%s, text [%zu, %zu) of %s", first ? "\nMENTIONS NOT COUNTED AS "
                 "CURRENT PULMONARY NODULES\n" : "", what[f->kind],
                 f->kind == 6 ? (f->organ[0] ? f->organ : "other") : "",
                 f->kind == 6 ? " " : "", f->naxes > 0 ? mean : "no size", f->span.start,
                 f->span.end, f->source >= 0 ? js(st->texts[f->source].source) : "-");
        if (rc == MS_OK && f->trigger != NULL)
            rc = put(b, err, "; trigger \"%s\" (%s) at [%zu, %zu)", f->trigger->phrase,
                     an_ctx_name(f->ctx), f->trig_span.start, f->trig_span.end);
        if (rc == MS_OK)
            rc = str(b, "\n", err);
        first = 0;
    }
    return rc;
}

/* ---- impression and warnings ---- */

struct lines {
    ms_buf *b;
    ms_err *err;
    ms_rc rc;
    size_t n;
};

static int impression_line(void *ud, const char *s)
{
    struct lines *l = ud;
    size_t n = strlen(s);
    if (!utf8_okn(s, n)) /* the JSON leaves such a sentence out */
        return 0;
    char num[24];
    const char *lead = l->n == 0 ? "\nIMPRESSION\n  " : "  ";
    l->rc = cat(l->b, l->err, lead, dec((long long)++l->n, num), ". ", NULL);
    if (l->rc == MS_OK)
        l->rc = ms_buf_append(l->b, s, n, l->err);
    if (l->rc == MS_OK)
        l->rc = str(l->b, "\n", l->err);
    return l->rc != MS_OK;
}

static ms_rc warnings(const struct an_report *r, ms_buf *b, ms_err *err)
{
    ms_rc rc = MS_OK;
    int first = 1;
    for (size_t i = 0; rc == MS_OK && i < r->nwarnings; i++) {
        if (!utf8_ok(r->warnings[i]))
            continue;
        rc = cat(b, err, first ? "\nWARNINGS\n  - " : "  - ", r->warnings[i], "\n", NULL);
        first = 0;
    }
    return rc;
}

static ms_rc render(const struct an_report *r, ms_buf *b, ms_err *err)
{
    const struct an_study *st = &r->studies[r->cur];
    ms_rc rc = cat(b, err, "MEDSEAL STRUCTURED REPORT (", r->phi ? "contains PHI" : "de-identified",
                   ")\nengine medseal-analyst " MS_VERSION "; guidelines " AN_LUNG_RADS_VERSION
                   ", " AN_FLEISCHNER_VERSION ", " AN_BI_RADS_VERSION "\n\n",
                   NULL);
    if (rc == MS_OK)
        rc = study_block(r, b, err);
    if (rc == MS_OK)
        rc = str(b, "\nFINDINGS\n", err);
    if (rc == MS_OK && st->nnods == 0)
        rc = str(b, "  No pulmonary nodule described.\n", err);
    for (size_t i = 0; rc == MS_OK && i < st->nnods; i++)
        rc = finding_block(r, st, &st->nods[i], b, err);
    if (rc == MS_OK)
        rc = birads_block(st, b, err);
    if (rc == MS_OK)
        rc = mentions_block(st, b, err);
    if (rc == MS_OK) {
        struct lines l = {b, err, MS_OK, 0};
        an_impression(r, impression_line, &l);
        rc = l.rc;
    }
    if (rc == MS_OK)
        rc = warnings(r, b, err);
    if (rc == MS_OK)
        rc = str(b,
                 "\nCategories are computed by deterministic rules from the extracted findings; "
                 "each names the guideline row that produced it. Verify the extracted "
                 "measurements against the images.\n",
                 err);
    return rc;
}

ms_rc an_report_text(const an_report *r, ms_buf *out, ms_err *err)
{
    if (r == NULL || out == NULL || !r->ran)
        return ms_fail(err, MS_E_INVAL, "an_report_text: report not run");
    /* room for a short report at once: growing from 64 bytes copied and wiped the buffer five
     * times (never asks past max: a capped buffer still fails only when the text does not fit) */
    size_t left = room_left(out);
    ms_rc rc = ms_buf_reserve(out, left < 1536 ? left : 1536, err);
    return rc == MS_OK ? render(r, out, err) : rc;
}

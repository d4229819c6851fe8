/*
 * The report as JSON (docs/report.schema.json), the impression sentences shared by every format
 * and the derived values (rounding, series flags, comparison) the text writer states too. The
 * HTML and FHIR writers render this JSON; the text writer (out_text.c) reads the report's structs
 * through the helpers here, so all formats say the same thing.
 * De-identified unless the report was made with phi: dates as years plus days from the first
 * study, ages as bands, descriptions scrubbed, no free text and no evidence snippets.
 *
 * Trusts: the report built by an_run. Owns: the JSON it returns.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "medseal/phi.h"

double an_out_num(double v)
{
    return isnan(v) ? v : round(v * 1000.0) / 1000.0; /* 0.001 */
}

/* NULL (the member left out) for an infinite value: jansson has no infinity */
static json_t *num_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(an_out_num(v));
}

static json_t *str_or_null(const char *s)
{
    return s == NULL || s[0] == '\0' ? json_null() : json_string(s);
}

/* Descriptions of one study go through one scrubber context that knows its identity. */
struct cleaner {
    const struct an_report *r;
    const struct an_study *st;
    phi_ctx *ctx;
    int withheld;
};

static json_t *clean_str(struct cleaner *c, const char *s)
{
    char buf[AN_STR];
    c->withheld |= an_study_clean(c->r, c->st, c->ctx, s, buf, sizeof buf);
    return str_or_null(buf);
}

size_t an_series_flags(const struct an_series *s, const char *out[AN_SERIES_FLAGS])
{
    size_t n = 0;
    if (s->geometry_inconsistent)
        out[n++] = "inconsistent geometry";
    if (s->gaps > 0)
        out[n++] = "gaps in slice positions";
    if (s->duplicates > 0)
        out[n++] = "duplicate slice positions";
    if (s->thickness_varies)
        out[n++] = "slice thickness varies";
    if (s->positions_missing > 0)
        out[n++] = "images without position";
    return n;
}

static json_t *series_json(struct cleaner *cl, const struct an_series *s)
{
    const char *names[AN_SERIES_FLAGS];
    size_t nflags = an_series_flags(s, names);
    json_t *flags = json_array();
    for (size_t i = 0; i < nflags; i++)
        json_array_append_new(flags, json_string(names[i]));
    json_t *ps =
        json_pack("[oo]", num_or_null(s->pixel_spacing[0]), num_or_null(s->pixel_spacing[1]));
    json_t *o = json_object();
    json_object_set_new(o, "number", str_or_null(s->number));
    json_object_set_new(o, "modality", str_or_null(s->modality));
    json_object_set_new(o, "description", clean_str(cl, s->description));
    json_object_set_new(o, "images", json_integer((json_int_t)s->count));
    json_object_set_new(o, "slice_thickness_mm", num_or_null(s->thickness));
    json_object_set_new(o, "spacing_mm", num_or_null(s->spacing));
    json_object_set_new(o, "spacing_min_mm", num_or_null(s->spacing_min));
    json_object_set_new(o, "spacing_max_mm", num_or_null(s->spacing_max));
    json_object_set_new(o, "pixel_spacing_mm", ps);
    json_object_set_new(o, "rows", s->rows > 0 ? json_integer(s->rows) : json_null());
    json_object_set_new(o, "columns", s->cols > 0 ? json_integer(s->cols) : json_null());
    json_object_set_new(o, "kernel", str_or_null(s->kernel)); /* device, not PHI */
    json_object_set_new(o, "contrast", clean_str(cl, s->contrast));
    json_object_set_new(o, "manufacturer", str_or_null(s->manufacturer)); /* device, not PHI */
    json_object_set_new(o, "model", str_or_null(s->model));               /* device, not PHI */
    json_object_set_new(o, "ctdivol_mgy", num_or_null(s->ctdivol_max));
    json_object_set_new(o, "dlp_mgycm", num_or_null(s->dlp));
    json_object_set_new(o, "gaps", json_integer((json_int_t)s->gaps));
    json_object_set_new(o, "duplicate_positions", json_integer((json_int_t)s->duplicates));
    json_object_set_new(o, "flags", flags);
    return o;
}

static json_t *patient_json(const struct an_report *r, const struct an_study *st)
{
    char band[16];
    an_age_band(st->age, band, sizeof band);
    json_t *o = json_pack("{s:o,s:o}", "sex", str_or_null(st->sex), "age_band", str_or_null(band));
    if (r->phi) { /* the banner of the HTML report and the FHIR subject; never without --phi */
        json_object_set_new(o, "age", str_or_null(st->age));
        json_object_set_new(o, "name", str_or_null(st->pname));
        json_object_set_new(o, "id", str_or_null(st->pid));
    }
    return o;
}

static json_t *texts_json(const struct an_report *r, const struct an_study *st)
{
    json_t *a = json_array();
    for (size_t i = 0; i < st->ntexts; i++) {
        json_t *t = json_pack("{s:s,s:I}", "source", st->texts[i].source, "bytes",
                              (json_int_t)st->texts[i].len);
        if (r->phi)
            json_object_set_new(t, "text", json_stringn(st->texts[i].text, st->texts[i].len));
        json_array_append_new(a, t);
    }
    return a;
}

static json_t *study_json(const struct an_report *r, size_t i)
{
    const struct an_study *st = &r->studies[i];
    char date[16];
    an_fmt_date(r, st, date, sizeof date);
    long off = an_study_offset(r, st);
    struct cleaner cl = {r, st, an_study_scrubber(r, st), 0};
    json_t *series = json_array();
    for (size_t k = 0; k < st->nseries; k++)
        json_array_append_new(series, series_json(&cl, &st->series[k]));
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer((json_int_t)i));
    json_object_set_new(o, "role", json_string(i == r->cur ? "current" : "prior"));
    json_object_set_new(o, "date", str_or_null(date));
    json_object_set_new(o, "days_from_first", off == AN_NONE ? json_null() : json_integer(off));
    json_object_set_new(o, "modality", str_or_null(st->modality));
    json_object_set_new(o, "body_part", clean_str(&cl, st->body_part));
    json_object_set_new(o, "description", clean_str(&cl, st->description));
    json_object_set_new(o, "patient", patient_json(r, st));
    if (r->phi) {
        json_object_set_new(o, "accession", str_or_null(st->accession));
        json_object_set_new(o, "study_uid", str_or_null(st->study_uid));
    }
    json_object_set_new(o, "series", series);
    json_object_set_new(o, "files", json_integer((json_int_t)st->files));
    json_object_set_new(o, "sr_documents", json_integer((json_int_t)st->sr_docs));
    json_object_set_new(o, "annotations", json_integer((json_int_t)st->annotations));
    json_object_set_new(o, "unreadable_files", json_integer((json_int_t)st->unreadable));
    json_object_set_new(o, "dose",
                        json_pack("{s:o,s:o}", "dlp_total_mgycm", num_or_null(st->dlp_total),
                                  "ctdivol_max_mgy", num_or_null(st->ctdivol_sr)));
    json_object_set_new(o, "texts", texts_json(r, st));
    json_object_set_new(o, "nodules", json_integer((json_int_t)st->nnods));
    if (cl.withheld) /* fail closed: no scrubber, no description */
        json_object_set_new(o, "descriptions_withheld", json_true());
    phi_ctx_free(cl.ctx);
    return o;
}

/* ---- nodules and comparison ---- */

static json_t *history_json(const struct an_report *r, const struct an_track *t)
{
    json_t *a = json_array();
    for (size_t i = 0; i < t->npts; i++) {
        const struct an_study *st = &r->studies[t->pts[i].study];
        const struct an_found *f = &st->nods[t->pts[i].nod].f;
        char date[16];
        an_fmt_date(r, st, date, sizeof date);
        long off = an_study_offset(r, st);
        double mean = an_found_mean_mm(f);
        json_array_append_new(
            a, json_pack("{s:I,s:o,s:o,s:o}", "study", (json_int_t)t->pts[i].study, "date",
                         str_or_null(date), "days_from_first",
                         off == AN_NONE ? json_null() : json_integer(off), "mean_diameter_mm",
                         isnan(mean) ? json_null() : json_real(mean)));
    }
    return a;
}

void an_cmp_out(const struct an_track *t, struct an_cmp_out *out)
{
    out->status = an_status_name(t->status);
    out->studies = t->persistent_n > 0 ? t->persistent_n : (long)t->npts;
    out->changes = t->npts >= 2;
    out->first_mm = an_h_to_mm(t->delta_first_h);
    out->prior_mm = an_h_to_mm(t->delta_prev_h);
    out->first_pct = an_out_num(t->rel_first);
    out->prior_pct = an_out_num(t->rel_prev);
    out->days_prior = t->days_prev;
    out->days_first = t->days_first;
    out->growth = t->growth;
    out->vdt_days = isnan(t->vdt_days) ? t->vdt_days : round(t->vdt_days);
    out->vdt_reading = t->vdt_reading;
}

static json_t *long_or_null(long v)
{
    return v == AN_NONE ? json_null() : json_integer(v);
}

/* NULL (the member left out) for an infinite value, as num_or_null */
static json_t *real_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *comparison_json(const struct an_report *r, const struct an_track *t)
{
    struct an_cmp_out c;
    an_cmp_out(t, &c);
    json_t *o = json_object();
    json_object_set_new(o, "status", str_or_null(c.status));
    json_object_set_new(o, "studies", json_integer(c.studies));
    json_object_set_new(o, "history", history_json(r, t));
    if (c.changes) {
        json_object_set_new(o, "change_since_first_mm", json_real(c.first_mm));
        json_object_set_new(o, "change_since_first_pct", real_or_null(c.first_pct));
        json_object_set_new(o, "change_since_prior_mm", json_real(c.prior_mm));
        json_object_set_new(o, "change_since_prior_pct", real_or_null(c.prior_pct));
        json_object_set_new(o, "days_since_prior", long_or_null(c.days_prior));
        json_object_set_new(o, "days_since_first", long_or_null(c.days_first));
        json_object_set_new(o, "lung_rads_growth", str_or_null(c.growth));
        json_object_set_new(o, "vdt_days", real_or_null(c.vdt_days));
        json_object_set_new(o, "vdt_reading", str_or_null(c.vdt_reading));
    }
    return o;
}

const char *an_nod_source(const struct an_study *st, const struct an_nod *nd)
{
    if (nd->f.source >= 0 && (size_t)nd->f.source < st->ntexts)
        return st->texts[nd->f.source].source;
    return "prior-report";
}

static json_t *nodule_json(const struct an_report *r, const struct an_study *st,
                           const struct an_nod *nd)
{
    const char *text = NULL;
    if (r->phi && nd->f.source >= 0 && (size_t)nd->f.source < st->ntexts)
        text = st->texts[nd->f.source].text;
    json_t *o = an_found_json(&nd->f, text);
    json_object_set_new(o, "id", json_string(nd->id));
    json_object_set_new(o, "source", json_string(an_nod_source(st, nd)));
    json_object_set_new(o, "mentions", json_integer(nd->mentions));
    json_object_set_new(o, "lung_rads",
                        nd->have_lr ? an_result_json(&nd->lr, AN_LUNG_RADS_VERSION) : json_null());
    json_object_set_new(o, "fleischner",
                        nd->have_fl ? an_result_json(&nd->fl, AN_FLEISCHNER_VERSION) : json_null());
    json_object_set_new(o, "comparison",
                        nd->track >= 0 ? comparison_json(r, &r->tracks[nd->track]) : json_null());
    return o;
}

static json_t *resolved_json(const struct an_report *r)
{
    json_t *a = json_array();
    for (size_t t = 0; t < r->ntracks; t++) {
        const struct an_track *tr = &r->tracks[t];
        if (tr->status != AN_ST_RESOLVED)
            continue;
        const struct an_point *last = &tr->pts[tr->npts - 1];
        const struct an_found *f = &r->studies[last->study].nods[last->nod].f;
        json_t *o = an_found_json(f, NULL);
        json_object_set_new(o, "comparison", comparison_json(r, tr));
        json_array_append_new(a, o);
    }
    /* mentions the current text itself calls resolved ("no longer visible") */
    const struct an_study *st = &r->studies[r->cur];
    for (size_t i = 0; i < st->nfound; i++) {
        const struct an_found *f = &st->found[i];
        if (f->kind != 8)
            continue;
        const char *text = r->phi && f->source >= 0 ? st->texts[f->source].text : NULL;
        json_t *o = an_found_json(f, text);
        if (f->source >= 0)
            json_object_set_new(o, "source", json_string(st->texts[f->source].source));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *kind_json(const struct an_report *r, const struct an_study *st, int kind)
{
    json_t *a = json_array();
    for (size_t i = 0; i < st->nfound; i++) {
        if (st->found[i].kind != kind)
            continue;
        const char *text = NULL;
        if (r->phi && st->found[i].source >= 0)
            text = st->texts[st->found[i].source].text;
        json_t *o = an_found_json(&st->found[i], text);
        if (st->found[i].source >= 0)
            json_object_set_new(o, "source", json_string(st->texts[st->found[i].source].source));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *assessment_json(const struct an_report *r, const struct an_study *st)
{
    json_t *o = json_object();
    json_t *lr = json_null(), *fl = json_null(), *br = json_null();
    if (r->have_exam_lr) {
        lr = an_result_json(&r->exam_lr, AN_LUNG_RADS_VERSION);
        json_object_set_new(lr, "nodule",
                            r->exam_lr_nod >= 0 ? json_string(st->nods[r->exam_lr_nod].id)
                                                : json_null());
        json_object_set_new(lr, "applies",
                            json_string(r->context == 2 ? "not-screening" : "screening"));
    }
    if (r->have_exam_fl) {
        fl = an_result_json(&r->exam_fl, AN_FLEISCHNER_VERSION);
        json_object_set_new(fl, "nodule",
                            r->exam_fl_nod >= 0 ? json_string(st->nods[r->exam_fl_nod].id)
                                                : json_null());
    }
    for (size_t i = 0; i < st->nfound; i++) { /* the last stated BI-RADS is the final one */
        if (st->found[i].kind == 1) {
            json_decref(br);
            br = an_found_json(&st->found[i], NULL);
        }
    }
    json_object_set_new(o, "lung_rads", lr);
    json_object_set_new(o, "fleischner", fl);
    json_object_set_new(o, "bi_rads", br);
    return o;
}

/* ---- impression ---- */

/* snprintf(buf, n, "%s%s...", parts) without the formatting pass: the parts one after the other,
 * cut at n - 1 bytes, always terminated; a NULL part reads "(null)", as glibc prints it. */
static void join_parts(char *buf, size_t n, const char *const *parts, size_t k)
{
    size_t len = 0;
    for (size_t i = 0; i < k && len + 1 < n; i++) {
        const char *s = parts[i] != NULL ? parts[i] : "(null)";
        size_t m = strlen(s);
        if (m > n - 1 - len)
            m = n - 1 - len;
        memcpy(buf + len, s, m);
        len += m;
    }
    if (n > 0)
        buf[len] = '\0';
}
#define JOIN(buf, n, ...)                                                                          \
    join_parts(buf, n, (const char *const[]){__VA_ARGS__},                                         \
               sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static void cap_first(char *s)
{
    if (s[0] >= 'a' && s[0] <= 'z')
        s[0] = (char)(s[0] - 'a' + 'A');
}

static void nodule_sentence(const struct an_report *r, const struct an_nod *nd, char *buf, size_t n)
{
    const struct an_track *t = nd->track >= 0 ? &r->tracks[nd->track] : NULL;
    char size[32] = "", where[96] = "", hist[192] = "";
    struct an_nodule in;
    an_found_to_nodule(&nd->f, &in);
    long tenths = an_mean_tenths(&in);
    if (tenths != AN_NONE) {
        an_fmt_tenths(tenths, size, sizeof size);
        strncat(size, " mm ", sizeof size - strlen(size) - 1);
    }
    if (nd->f.lobe != AN_LOBE_NONE)
        JOIN(where, sizeof where, " in the ", nd->f.segment,
             nd->f.segment[0] ? " segment of the " : "", an_lobe_long_name(nd->f.lobe), " (",
             an_lobe_name(nd->f.lobe), ")");
    const char *status = t != NULL ? an_status_name(t->status) : NULL;
    if (t != NULL && t->npts >= 2) {
        const struct an_point *p0 = &t->pts[0];
        long h0 = an_found_mean_h(&r->studies[p0->study].nods[p0->nod].f);
        char a[24], d[24];
        an_fmt_h(h0, a, sizeof a);
        an_fmt_h(t->delta_first_h < 0 ? -t->delta_first_h : t->delta_first_h, d, sizeof d);
        int m = snprintf(hist, sizeof hist, "; %s mm on the first of %zu studies", a, t->npts);
        if (t->days_first != AN_NONE && m > 0 && (size_t)m < sizeof hist)
            m += snprintf(hist + m, sizeof hist - (size_t)m, " (%ld days earlier)", t->days_first);
        if (m > 0 && (size_t)m < sizeof hist)
            m += snprintf(hist + m, sizeof hist - (size_t)m, ", %s%s mm",
                          t->delta_first_h < 0 ? "-" : "+", d);
        if (!isnan(t->vdt_days) && m > 0 && (size_t)m < sizeof hist)
            snprintf(hist + m, sizeof hist - (size_t)m, "; VDT %.0f days, %s", t->vdt_days,
                     t->vdt_reading ? t->vdt_reading : "");
    } else if (t != NULL && t->persistent_n > 1) {
        snprintf(hist, sizeof hist, " across %d studies", t->persistent_n);
    }
    const char *comp = an_comp_name(nd->f.comp);
    JOIN(buf, n, status ? status : "", status ? " " : "", size, comp ? comp : "", comp ? " " : "",
         nd->f.comp == AN_COMP_CYST ? "" : "nodule", where, ".");
    cap_first(buf);
    if (hist[0] != '\0' && strlen(buf) + strlen(hist) + 1 < n) {
        buf[strlen(buf) - 1] = '\0';
        strncat(buf, hist, n - strlen(buf) - 1);
        strncat(buf, ".", n - strlen(buf) - 1);
    }
}

int an_impression(const struct an_report *r, int (*line)(void *ud, const char *s), void *ud)
{
    const struct an_study *st = &r->studies[r->cur];
    char buf[640];
    for (size_t i = 0; i < st->nnods; i++) {
        nodule_sentence(r, &st->nods[i], buf, sizeof buf);
        if (line(ud, buf) != 0)
            return -1;
    }
    for (size_t t = 0; t < r->ntracks; t++) {
        if (r->tracks[t].status != AN_ST_RESOLVED)
            continue;
        const struct an_point *p = &r->tracks[t].pts[r->tracks[t].npts - 1];
        const struct an_found *f = &r->studies[p->study].nods[p->nod].f;
        JOIN(buf, sizeof buf, "Resolved: the ", an_comp_name(f->comp) ? an_comp_name(f->comp) : "",
             " nodule", f->lobe ? " in the " : "", f->lobe ? an_lobe_long_name(f->lobe) : "",
             " seen on a prior study is not described now.");
        if (line(ud, buf) != 0)
            return -1;
    }
    if (st->nnods == 0 && r->have_exam_lr && line(ud, "No pulmonary nodule.") != 0)
        return -1;
    if (r->have_exam_lr) {
        JOIN(buf, sizeof buf, "Lung-RADS v2022 category ", r->exam_lr.category,
             r->exam_lr.s_modifier ? "S" : "",
             r->exam_lr_nod >= 0 ? " (most suspicious nodule)" : "", ": ", r->exam_lr.management,
             " [", r->exam_lr.rule, "]");
        if (line(ud, buf) != 0)
            return -1;
    }
    if (r->have_exam_fl) {
        JOIN(buf, sizeof buf,
             "Fleischner 2017 (incidental nodules, not screening): ", r->exam_fl.category, " - ",
             r->exam_fl.management, " [", r->exam_fl.rule, "]");
        if (line(ud, buf) != 0)
            return -1;
    }
    for (size_t i = 0; i < st->nfound; i++) {
        if (st->found[i].kind != 1)
            continue;
        const struct an_birads_row *b = an_birads_lookup(st->found[i].birads);
        JOIN(buf, sizeof buf, "BI-RADS ", st->found[i].birads,
             " (carried from the report): ", b ? b->assessment : "?", ". ", b ? b->management : "",
             " [bi-rads-2013/carried-from-report]");
        if (line(ud, buf) != 0)
            return -1;
    }
    return 0;
}

static int add_line(void *a, const char *s)
{
    json_array_append_new(a, json_string(s)); /* a sentence jansson refuses is left out */
    return 0;
}

static json_t *impression_json(const struct an_report *r)
{
    json_t *a = json_array();
    if (a != NULL)
        an_impression(r, add_line, a);
    return a;
}

ms_rc an_report_json(const an_report *r, json_t **out, ms_err *err)
{
    if (r == NULL || out == NULL || !r->ran)
        return ms_fail(err, MS_E_INVAL, "an_report_json: report not run");
    const struct an_study *st = &r->studies[r->cur];
    json_t *o = json_object();
    json_t *priors = json_array(), *findings = json_array(), *warn = json_array();
    for (size_t i = 0; i < r->nstudies; i++) {
        if (i != r->cur)
            json_array_append_new(priors, study_json(r, i));
    }
    for (size_t i = 0; i < st->nnods; i++)
        json_array_append_new(findings, nodule_json(r, st, &st->nods[i]));
    for (size_t i = 0; i < r->nwarnings; i++)
        json_array_append_new(warn, json_string(r->warnings[i]));
    json_object_set_new(o, "schema", json_string("medseal-analyst-report/1"));
    json_object_set_new(o, "engine",
                        json_pack("{s:s,s:s}", "name", "medseal-analyst", "version", MS_VERSION));
    json_object_set_new(o, "guidelines",
                        json_pack("{s:s,s:s,s:s}", "lung_rads", AN_LUNG_RADS_VERSION, "fleischner",
                                  AN_FLEISCHNER_VERSION, "bi_rads", AN_BI_RADS_VERSION));
    json_object_set_new(o, "deidentified", json_boolean(!r->phi));
    json_object_set_new(o, "study", study_json(r, r->cur));
    json_object_set_new(o, "priors", priors);
    json_object_set_new(o, "findings", findings);
    json_object_set_new(o, "resolved", resolved_json(r));
    json_object_set_new(o, "negatives", kind_json(r, st, 2));
    json_object_set_new(o, "bi_rads", kind_json(r, st, 1));
    json_object_set_new(o, "stated_categories", kind_json(r, st, 3));
    json_object_set_new(o, "exam_findings", kind_json(r, st, 4));
    json_object_set_new(o, "risk_statements", kind_json(r, st, 5));
    json_object_set_new(o, "uncertain", kind_json(r, st, 7));
    json_object_set_new(o, "historical", kind_json(r, st, 9));
    json_object_set_new(o, "other_findings", kind_json(r, st, 6));
    json_object_set_new(o, "assessment", assessment_json(r, st));
    json_object_set_new(o, "impression", impression_json(r));
    json_object_set_new(o, "warnings", warn);
    if (json_object_size(o) != 19u) { /* a member failed to allocate */
        json_decref(o);
        return ms_fail(err, MS_E_NOMEM, "report JSON");
    }
    *out = o;
    return MS_OK;
}

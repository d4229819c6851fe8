/*
 * The report: lifecycle, inputs (text, DICOM files, priors, prior JSON reports) and an_run, which
 * extracts findings from every text, merges the mentions of one nodule within a study, orders the
 * studies by date (the current study last), compares them (compare.c) and applies the guidelines
 * to the current study's nodules and to the exam as a whole.
 *
 * Trusts: nothing in its inputs (bounded by AN_MAX_*). Owns: the studies and everything copied
 * into them (ms_malloc from opts->alloc, wiped on free). Not thread-safe per report.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

ms_rc an_report_new(const an_opts *opts, an_report **out, ms_err *err)
{
    if (out == NULL)
        return ms_fail(err, MS_E_INVAL, "an_report_new: NULL out");
    ms_alloc *alloc = opts != NULL ? opts->alloc : NULL;
    int context = 0, risk = AN_RISK_NONE;
    if (opts != NULL && opts->context != NULL) {
        if (strcmp(opts->context, "screening") == 0)
            context = 1;
        else if (strcmp(opts->context, "incidental") == 0)
            context = 2;
        else
            return ms_fail(err, MS_E_INVAL, "context must be screening or incidental");
    }
    if (opts != NULL && opts->risk != NULL) {
        if (strcmp(opts->risk, "low") == 0)
            risk = AN_RISK_LOW;
        else if (strcmp(opts->risk, "high") == 0)
            risk = AN_RISK_HIGH;
        else
            return ms_fail(err, MS_E_INVAL, "risk must be low or high");
    }
    an_report *r = ms_malloc(alloc, sizeof *r);
    if (r == NULL)
        return ms_fail(err, MS_E_NOMEM, "report");
    /* One slot, grown when priors come: all AN_MAX_STUDIES slots (53 KB) were zeroed and wiped
     * for every report, 15% of a short analyst request. */
    r->studies = ms_calloc(alloc, 1, sizeof *r->studies);
    r->studies_cap = 1;
    if (r->studies == NULL) {
        ms_free(alloc, r);
        return ms_fail(err, MS_E_NOMEM, "studies");
    }
    r->alloc = alloc;
    r->phi = opts != NULL && opts->phi;
    r->context = context;
    r->risk = risk;
    r->nstudies = 1;
    r->studies[0].day = AN_NONE;
    r->studies[0].dlp_total = r->studies[0].ctdivol_sr = NAN;
    r->exam_lr_nod = r->exam_fl_nod = -1;
    *out = r;
    return MS_OK;
}

void an_report_free(an_report *r)
{
    if (r == NULL)
        return;
    ms_alloc *alloc = r->alloc;
    for (size_t i = 0; i < r->nstudies; i++)
        an_study_free(r, &r->studies[i]);
    ms_free(alloc, r->studies);
    ms_free(alloc, r->tracks);
    ms_free(alloc, r);
}

void an_report_warn(struct an_report *r, const char *fmt, ...)
{
    if (r->nwarnings >= sizeof r->warnings / sizeof r->warnings[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->warnings[r->nwarnings++], sizeof r->warnings[0], fmt, ap);
    va_end(ap);
}

ms_rc an_add_text(an_report *r, const char *text, size_t len, const char *source, ms_err *err)
{
    if (r == NULL || (text == NULL && len > 0))
        return ms_fail(err, MS_E_INVAL, "an_add_text: NULL argument");
    if (r->ran)
        return ms_fail(err, MS_E_INVAL, "an_add_text after an_run");
    return an_study_add_text(r, &r->studies[0], text, len, source, err);
}

static ms_rc add_files(an_report *r, struct an_study *st, dcm_file *const *files, size_t n,
                       ms_err *err)
{
    if (n > AN_MAX_FILES || st->files + n > AN_MAX_FILES)
        return ms_fail(err, MS_E_LIMIT, "more than %d DICOM files in one study", AN_MAX_FILES);
    for (size_t i = 0; i < n; i++) {
        if (files[i] == NULL)
            return ms_fail(err, MS_E_INVAL, "file %zu is NULL", i);
        ms_rc rc = an_study_add_file(r, st, files[i], err);
        if (rc != MS_OK)
            return rc;
    }
    return MS_OK;
}

ms_rc an_add_study(an_report *r, dcm_file *const *files, size_t n, ms_err *err)
{
    if (r == NULL || (files == NULL && n > 0))
        return ms_fail(err, MS_E_INVAL, "an_add_study: NULL argument");
    if (r->ran)
        return ms_fail(err, MS_E_INVAL, "an_add_study after an_run");
    return add_files(r, &r->studies[0], files, n, err);
}

static ms_rc set_date(struct an_study *st, const char *date, ms_err *err)
{
    int y, m, d;
    long days;
    char digits[9];
    size_t k = 0;
    for (const char *p = date; *p != '\0' && k < 9; p++) {
        if (*p >= '0' && *p <= '9')
            digits[k++] = *p;
        else if (*p != '-')
            return ms_fail(err, MS_E_FORMAT, "date: expected YYYYMMDD or YYYY-MM-DD");
    }
    if (k != 8)
        return ms_fail(err, MS_E_FORMAT, "date: expected YYYYMMDD or YYYY-MM-DD");
    digits[8] = '\0';
    y = (digits[0] - '0') * 1000 + (digits[1] - '0') * 100 + (digits[2] - '0') * 10 +
        (digits[3] - '0');
    m = (digits[4] - '0') * 10 + (digits[5] - '0');
    d = (digits[6] - '0') * 10 + (digits[7] - '0');
    if (ms_date_to_days(y, m, d, &days) != MS_OK)
        return ms_fail(err, MS_E_FORMAT, "date: not a calendar date");
    memcpy(st->date, digits, 9);
    st->day = days;
    return MS_OK;
}

/* A new prior study slot. */
static ms_rc new_prior(an_report *r, struct an_study **out, ms_err *err)
{
    if (r->ran)
        return ms_fail(err, MS_E_INVAL, "prior added after an_run");
    if (r->nstudies >= AN_MAX_STUDIES)
        return ms_fail(err, MS_E_LIMIT, "more than %d studies", AN_MAX_STUDIES);
    if (r->nstudies == r->studies_cap) { /* no study pointer is held across this call */
        size_t cap = r->studies_cap * 2 < AN_MAX_STUDIES ? r->studies_cap * 2 : AN_MAX_STUDIES;
        struct an_study *ns = ms_realloc(r->alloc, r->studies, cap * sizeof *ns);
        if (ns == NULL)
            return ms_fail(err, MS_E_NOMEM, "studies");
        r->studies = ns;
        r->studies_cap = cap;
    }
    struct an_study *st = &r->studies[r->nstudies++];
    memset(st, 0, sizeof *st);
    st->prior = 1;
    st->day = AN_NONE;
    st->dlp_total = st->ctdivol_sr = NAN;
    *out = st;
    return MS_OK;
}

ms_rc an_add_prior(an_report *r, dcm_file *const *files, size_t n, const char *text, size_t len,
                   const char *date, ms_err *err)
{
    if (r == NULL || (files == NULL && n > 0) || (text == NULL && len > 0))
        return ms_fail(err, MS_E_INVAL, "an_add_prior: NULL argument");
    struct an_study *st = NULL;
    ms_rc rc = new_prior(r, &st, err);
    if (rc == MS_OK)
        rc = add_files(r, st, files, n, err);
    if (rc == MS_OK && text != NULL)
        rc = an_study_add_text(r, st, text, len, "notes", err);
    if (rc == MS_OK && date != NULL && st->date[0] == '\0')
        rc = set_date(st, date, err);
    return rc;
}

ms_rc an_study_new_prior(an_report *r, struct an_study **out, ms_err *err)
{
    return new_prior(r, out, err);
}

ms_rc an_add_prior_report(an_report *r, const json_t *prior, ms_err *err)
{
    if (r == NULL || !json_is_object(prior))
        return ms_fail(err, MS_E_FORMAT, "prior report: not a JSON object");
    const json_t *findings = json_object_get(prior, "findings");
    if (!json_is_array(findings))
        return ms_fail(err, MS_E_FORMAT, "prior report: no findings array");
    struct an_study *st = NULL;
    ms_rc rc = new_prior(r, &st, err);
    if (rc != MS_OK)
        return rc;
    const char *date = json_string_value(json_object_get(json_object_get(prior, "study"), "date"));
    if (date != NULL && set_date(st, date, NULL) != MS_OK)
        an_report_warn(r, "prior report %zu: date not usable (de-identified year only?)",
                       r->nstudies - 1);
    st->prior_json = json_deep_copy(findings);
    if (st->prior_json == NULL)
        return ms_fail(err, MS_E_NOMEM, "prior report copy");
    return MS_OK;
}

/* ---- run ---- */

static int comp_same(int a, int b)
{
    return a == AN_COMP_NONE || b == AN_COMP_NONE || a == b;
}

/* Two mentions in one study are the same nodule when lobe and composition agree (or are
 * unknown) and their sizes are within 1 mm (or one is unknown). */
static int same_nodule(const struct an_found *a, const struct an_found *b)
{
    if (a->lobe != AN_LOBE_NONE && b->lobe != AN_LOBE_NONE && a->lobe != b->lobe)
        return 0;
    if (!comp_same(a->comp, b->comp))
        return 0;
    if (a->segment[0] != '\0' && b->segment[0] != '\0' && strcmp(a->segment, b->segment) != 0)
        return 0; /* two nodules of one lobe, in different segments */
    long ma = an_found_mean_h(a), mb = an_found_mean_h(b);
    if (ma != AN_NONE && mb != AN_NONE)
        return (ma > mb ? ma - mb : mb - ma) <= 100;
    return a->lobe != AN_LOBE_NONE && a->lobe == b->lobe;
}

static void merge_into(struct an_found *d, const struct an_found *s)
{
    if (d->naxes < s->naxes) {
        d->naxes = s->naxes;
        memcpy(d->axes_h, s->axes_h, sizeof d->axes_h);
        d->size_span = s->size_span;
    }
    if (d->comp == AN_COMP_NONE) {
        d->comp = s->comp;
        d->comp_span = s->comp_span;
    }
    if (d->lobe == AN_LOBE_NONE) {
        d->lobe = s->lobe;
        d->loc_span = s->loc_span;
    }
    if (d->segment[0] == '\0')
        memcpy(d->segment, s->segment, sizeof d->segment);
    if (d->change == AN_CH_NONE) {
        d->change = s->change;
        d->change_span = s->change_span;
    }
    if (d->solid_h == AN_NONE)
        d->solid_h = s->solid_h;
    if (d->prior_h == AN_NONE)
        d->prior_h = s->prior_h;
    if (d->count == 0)
        d->count = s->count;
    if (d->img_image < 0) {
        d->img_series = s->img_series;
        d->img_image = s->img_image;
    }
    if (d->persistent_n < s->persistent_n)
        d->persistent_n = s->persistent_n;
    d->features |= s->features;
}

/* Image references decide when both mentions have one: equal (series unknown on one side
 * matches) is the same nodule, different are two. Returns 1 same, 0 different, -1 undecided. */
static int same_image(const struct an_found *a, const struct an_found *b)
{
    if (a->img_image < 0 || b->img_image < 0)
        return -1;
    if (a->img_image != b->img_image)
        return 0;
    return a->img_series < 0 || b->img_series < 0 || a->img_series == b->img_series;
}

/* The group of a mention: its text and whether it was said under IMPRESSION. Two sized mentions
 * of one group are two nodules unless the second refers back ("the 6 mm nodule", "this
 * nodule") or names the same image; a restatement in another group (the impression, an SR)
 * merges with a compatible nodule no mention of its group has claimed. */
static unsigned long group_bit(const struct an_found *f)
{
    unsigned g = (unsigned)(f->source + 1) * 2u + (f->impression ? 1u : 0u);
    return 1ul << (g % (8u * sizeof(unsigned long)));
}

static ms_rc merge_study(struct an_report *r, struct an_study *st, ms_err *err)
{
    size_t n = 0;
    for (size_t i = 0; i < st->nfound; i++)
        n += st->found[i].kind == 0;
    if (n == 0)
        return MS_OK;
    st->nods = ms_calloc(r->alloc, n, sizeof *st->nods);
    unsigned long *groups = ms_calloc(r->alloc, n, sizeof *groups);
    if (st->nods == NULL || groups == NULL) {
        ms_free(r->alloc, groups);
        return ms_fail(err, MS_E_NOMEM, "nodules");
    }
    /* sized body mentions, sized restatements, then size-less mentions ("as above") */
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < st->nfound; i++) {
            const struct an_found *f = &st->found[i];
            if (f->kind != 0)
                continue;
            int sized = f->naxes > 0;
            if ((pass == 0 && (!sized || f->impression)) || (pass == 1 && (!sized || !f->impression)) ||
                (pass == 2 && sized))
                continue;
            unsigned long g = group_bit(f);
            size_t k = 0;
            for (; k < st->nnods; k++) {
                const struct an_found *d = &st->nods[k].f;
                int img = same_image(d, f);
                if (img == 1)
                    break;
                if (img == 0)
                    continue;
                if (sized && (groups[k] & g) && !f->refback)
                    continue;
                if (!sized) { /* size-less: lobe and composition compatible */
                    if ((d->lobe == AN_LOBE_NONE || f->lobe == AN_LOBE_NONE || d->lobe == f->lobe) &&
                        comp_same(d->comp, f->comp))
                        break;
                    continue;
                }
                if (same_nodule(d, f))
                    break;
            }
            if (k == st->nnods) {
                memset(&st->nods[k], 0, sizeof st->nods[k]);
                st->nods[k].f = *f;
                st->nods[k].track = -1;
                st->nnods++;
            } else {
                merge_into(&st->nods[k].f, f);
            }
            groups[k] |= g;
            st->nods[k].mentions++;
        }
    }
    ms_free(r->alloc, groups);
    return MS_OK;
}

static ms_rc push_found(struct an_report *r, struct an_study *st, const struct an_found *f,
                        ms_err *err)
{
    if (st->nfound >= AN_MAX_FINDINGS)
        return ms_fail(err, MS_E_LIMIT, "more than %d findings in one study", AN_MAX_FINDINGS);
    if (st->nfound == st->cap_found) {
        size_t cap = st->cap_found ? st->cap_found * 2 : 8;
        struct an_found *nf = ms_realloc(r->alloc, st->found, cap * sizeof *nf);
        if (nf == NULL)
            return ms_fail(err, MS_E_NOMEM, "findings");
        st->found = nf;
        st->cap_found = cap;
    }
    st->found[st->nfound++] = *f;
    return MS_OK;
}

static ms_rc extract_study(struct an_report *r, struct an_study *st, ms_err *err)
{
    for (size_t t = 0; t < st->ntexts; t++) {
        struct an_found *found = NULL;
        size_t n = 0;
        ms_rc rc = an_extract_text(st->texts[t].text, st->texts[t].len, r->alloc, &found, &n, err);
        for (size_t i = 0; rc == MS_OK && i < n; i++) {
            found[i].source = (int)t;
            rc = push_found(r, st, &found[i], err);
        }
        ms_free(r->alloc, found);
        if (rc != MS_OK)
            return rc;
    }
    if (st->prior_json != NULL) {
        ms_rc rc = an_found_from_json_list(r, st, st->prior_json, err);
        if (rc != MS_OK)
            return rc;
    }
    return merge_study(r, st, err);
}

/* Priors by date (unknown dates keep their order), the current study last. */
static void order_studies(struct an_report *r)
{
    struct an_study cur = r->studies[0];
    size_t np = r->nstudies - 1;
    memmove(&r->studies[0], &r->studies[1], np * sizeof r->studies[0]);
    for (size_t i = 1; i < np; i++) { /* insertion sort: stable, at most 63 priors */
        struct an_study x = r->studies[i];
        size_t j = i;
        while (j > 0 && x.day != AN_NONE && r->studies[j - 1].day != AN_NONE &&
               r->studies[j - 1].day > x.day) {
            r->studies[j] = r->studies[j - 1];
            j--;
        }
        r->studies[j] = x;
    }
    r->studies[np] = cur;
    r->cur = np;
    for (size_t i = 0; i < np; i++) {
        if (cur.day != AN_NONE && r->studies[i].day != AN_NONE && r->studies[i].day > cur.day)
            an_report_warn(r, "prior %zu is dated after the current study", i + 1);
    }
}

static ms_rc run_inner(an_report *r, ms_err *err)
{
    for (size_t s = 0; s < r->nstudies; s++) {
        ms_rc rc = an_study_finish(r, &r->studies[s], err);
        if (rc == MS_OK)
            rc = extract_study(r, &r->studies[s], err);
        if (rc != MS_OK)
            return rc;
    }
    order_studies(r);
    ms_rc rc = an_compare(r, err);
    if (rc == MS_OK)
        rc = an_assess(r, err);
    return rc;
}

ms_rc an_run(an_report *r, ms_err *err)
{
    if (r == NULL)
        return ms_fail(err, MS_E_INVAL, "an_run: NULL report");
    if (r->ran)
        return ms_fail(err, MS_E_INVAL, "an_run called twice");
    r->ran = 1;
    return run_inner(r, err);
}

size_t an_report_finding_count(const an_report *r)
{
    if (r == NULL || !r->ran)
        return 0;
    const struct an_study *st = &r->studies[r->cur];
    size_t n = st->nnods;
    for (size_t i = 0; i < st->nfound; i++)
        n += st->found[i].kind == 1;
    return n;
}

void an_fmt_date(const struct an_report *r, const struct an_study *st, char *buf, size_t n)
{
    if (st->date[0] == '\0')
        snprintf(buf, n, "%s", "");
    else if (r->phi)
        snprintf(buf, n, "%.4s-%.2s-%.2s", st->date, st->date + 4, st->date + 6);
    else
        snprintf(buf, n, "%.4s", st->date);
}

long an_study_offset(const struct an_report *r, const struct an_study *st)
{
    long first = AN_NONE;
    for (size_t i = 0; i < r->nstudies; i++) {
        long d = r->studies[i].day;
        if (d != AN_NONE && (first == AN_NONE || d < first))
            first = d;
    }
    return st->day == AN_NONE || first == AN_NONE ? AN_NONE : st->day - first;
}

const char *an_age_band(const char *as, char *buf, size_t n)
{
    /* AS: nnnD, nnnW, nnnM, nnnY */
    if (strlen(as) != 4 || as[0] < '0' || as[0] > '9' || as[1] < '0' || as[1] > '9' ||
        as[2] < '0' || as[2] > '9') {
        snprintf(buf, n, "%s", "");
        return buf;
    }
    int v = (as[0] - '0') * 100 + (as[1] - '0') * 10 + (as[2] - '0');
    if (as[3] != 'Y')
        snprintf(buf, n, "%s", "0-9");
    else if (v >= 90)
        snprintf(buf, n, "%s", "90+");
    else
        snprintf(buf, n, "%d-%d", v / 10 * 10, v / 10 * 10 + 9);
    return buf;
}

/*
 * Cross-study comparison: nodules of successive studies are matched into tracks by lobe,
 * composition and size; per track the size history, absolute and relative change, growth per
 * Lung-RADS (mean diameter up > 1.5 mm within 12 months), volume doubling time (sphere volume,
 * VDT = t ln2 / ln(V2/V1); < 400 days suspicious, not applied to ground-glass) and a status (new,
 * stable, growing, shrinking, resolved, persistent across N studies).
 *
 * Trusts: the studies and nodules built by report.c. Owns: the track array (ms_malloc).
 */
#include <math.h>
#include <string.h>

#include "internal.h"

#define NO_MATCH (-1000000L)

const char *an_status_name(int st)
{
    static const char *const names[] = {"new",       "stable",   "growing",
                                        "shrinking", "resolved", "persistent"};
    return st >= 0 && st <= AN_ST_PERSISTENT ? names[st] : NULL;
}

int an_lungrads_growth(long prior_h, long cur_h, long months_x10)
{
    long delta = an_h_to_tenths(cur_h) - an_h_to_tenths(prior_h);
    if (delta < -15)
        return AN_CH_DECREASED;
    if (delta <= 15)
        return AN_CH_STABLE;
    if (months_x10 == AN_NONE || months_x10 <= 120 || delta * 120 > 15 * months_x10)
        return AN_CH_GROWING;
    return AN_CH_SLOW;
}

double an_vdt_days(double d1, double d2, double days)
{
    if (!(d1 > 0) || !(d2 > d1) || !(days > 0))
        return NAN;
    /* V = pi D^3 / 6, so ln(V2/V1) = 3 ln(D2/D1) */
    return days * log(2.0) / (3.0 * log(d2 / d1));
}

static int comp_compatible(int a, int b)
{
    if (a == AN_COMP_NONE || b == AN_COMP_NONE || a == b)
        return 1;
    /* a ground-glass nodule may develop a solid component; a part-solid one may become solid */
    return (a == AN_COMP_GGN && b == AN_COMP_PART_SOLID) ||
           (a == AN_COMP_PART_SOLID && b == AN_COMP_GGN) ||
           (a == AN_COMP_PART_SOLID && b == AN_COMP_SOLID) ||
           (a == AN_COMP_SOLID && b == AN_COMP_PART_SOLID);
}

static long match_score(const struct an_nod *a, const struct an_nod *b)
{
    if (a->f.lobe != AN_LOBE_NONE && b->f.lobe != AN_LOBE_NONE && a->f.lobe != b->f.lobe)
        return NO_MATCH;
    if (!comp_compatible(a->f.comp, b->f.comp))
        return NO_MATCH;
    if (a->f.segment[0] != '\0' && b->f.segment[0] != '\0' &&
        strcmp(a->f.segment, b->f.segment) != 0)
        return NO_MATCH;
    long score = 1000;
    if (a->f.lobe != AN_LOBE_NONE && a->f.lobe == b->f.lobe)
        score += 500;
    if (a->f.comp != AN_COMP_NONE && a->f.comp == b->f.comp)
        score += 200;
    long ma = an_found_mean_h(&a->f), mb = an_found_mean_h(&b->f);
    if (ma != AN_NONE && mb != AN_NONE) {
        long diff = ma > mb ? ma - mb : mb - ma;
        long big = ma > mb ? ma : mb;
        if (diff > 500 && diff * 10 > big * 6) /* > 5 mm and > 60 %: another nodule */
            return NO_MATCH;
        score -= diff / 10;
    }
    return score;
}

static ms_rc new_track(struct an_report *r, int study, int nod, ms_err *err)
{
    size_t max = AN_MAX_STUDIES * AN_MAX_FINDINGS;
    if (r->ntracks >= max)
        return ms_fail(err, MS_E_LIMIT, "more than %zu nodule tracks", max);
    struct an_track *nt = ms_realloc(r->alloc, r->tracks, (r->ntracks + 1) * sizeof *nt);
    if (nt == NULL)
        return ms_fail(err, MS_E_NOMEM, "tracks");
    r->tracks = nt;
    struct an_track *t = &r->tracks[r->ntracks];
    memset(t, 0, sizeof *t);
    t->pts[0].study = study;
    t->pts[0].nod = nod;
    t->npts = 1;
    t->status = -1;
    t->vdt_days = NAN;
    t->rel_first = t->rel_prev = NAN;
    t->days_first = t->days_prev = AN_NONE;
    r->studies[study].nods[nod].track = (int)r->ntracks;
    r->ntracks++;
    return MS_OK;
}

/* Matches the nodules of study s to the open tracks, best pair first. */
static ms_rc match_study(struct an_report *r, size_t s, ms_err *err)
{
    struct an_study *st = &r->studies[s];
    size_t ntr = r->ntracks;
    for (;;) {
        long best = NO_MATCH;
        size_t bt = 0, bn = 0;
        for (size_t t = 0; t < ntr; t++) {
            struct an_track *tr = &r->tracks[t];
            if (tr->pts[tr->npts - 1].study == (int)s) /* already extended by this study */
                continue;
            struct an_point *last = &tr->pts[tr->npts - 1];
            const struct an_nod *ln = &r->studies[last->study].nods[last->nod];
            for (size_t k = 0; k < st->nnods; k++) {
                if (st->nods[k].track >= 0)
                    continue;
                long sc = match_score(ln, &st->nods[k]);
                if (sc > best) {
                    best = sc;
                    bt = t;
                    bn = k;
                }
            }
        }
        if (best == NO_MATCH)
            break;
        struct an_track *tr = &r->tracks[bt];
        tr->pts[tr->npts].study = (int)s;
        tr->pts[tr->npts].nod = (int)bn;
        tr->npts++;
        st->nods[bn].track = (int)bt;
    }
    for (size_t k = 0; k < st->nnods; k++) {
        if (st->nods[k].track < 0) {
            ms_rc rc = new_track(r, (int)s, (int)k, err);
            if (rc != MS_OK)
                return rc;
        }
    }
    return MS_OK;
}

static const struct an_nod *nod_at(const struct an_report *r, const struct an_point *p)
{
    return &r->studies[p->study].nods[p->nod];
}

static long days_between(const struct an_report *r, const struct an_point *a,
                         const struct an_point *b)
{
    long da = r->studies[a->study].day, db = r->studies[b->study].day;
    return da == AN_NONE || db == AN_NONE ? AN_NONE : db - da;
}

static long months_x10_of(long days)
{
    return days == AN_NONE ? AN_NONE : (long)lround((double)days / 30.4375 * 10.0);
}

/* Status of a track that has only a current-study point: from the priors or the text. */
static void status_single(const struct an_report *r, struct an_track *t)
{
    const struct an_nod *n = nod_at(r, &t->pts[0]);
    int have_priors = r->nstudies > 1;
    long cur = an_found_mean_h(&n->f);
    if (n->f.prior_h != AN_NONE && cur != AN_NONE) { /* "now 6 mm, previously 4 mm" */
        int g = an_lungrads_growth(n->f.prior_h, cur, AN_NONE);
        t->growth = an_change_name(g);
        t->status = g == AN_CH_GROWING                                          ? AN_ST_GROWING
                    : g == AN_CH_DECREASED                                      ? AN_ST_SHRINKING
                    : (t->comp == AN_COMP_GGN || t->comp == AN_COMP_PART_SOLID) ? AN_ST_PERSISTENT
                                                                                : AN_ST_STABLE;
        return;
    }
    if (have_priors) {
        t->status = AN_ST_NEW;
        return;
    }
    static const int from_text[] = {-1,
                                    AN_ST_NEW,
                                    AN_ST_STABLE,
                                    AN_ST_GROWING,
                                    AN_ST_SHRINKING,
                                    AN_ST_GROWING,
                                    AN_ST_RESOLVED,
                                    AN_ST_PERSISTENT};
    t->status = from_text[n->f.change];
    if (t->status == AN_ST_STABLE && (t->comp == AN_COMP_GGN || t->comp == AN_COMP_PART_SOLID))
        t->status = AN_ST_PERSISTENT; /* a stable subsolid nodule is a persistent one */
    if (n->f.persistent_n > 1 &&
        (t->status == AN_ST_STABLE || t->status == AN_ST_PERSISTENT || t->status < 0)) {
        t->persistent_n = n->f.persistent_n; /* "stable/persistent across N studies" */
        if (t->status < 0)
            t->status = AN_ST_PERSISTENT;
    }
}

static void changes(const struct an_report *r, struct an_track *t)
{
    const struct an_point *first = &t->pts[0], *prev = &t->pts[t->npts - 2],
                          *cur = &t->pts[t->npts - 1];
    long h0 = an_found_mean_h(&nod_at(r, first)->f), hp = an_found_mean_h(&nod_at(r, prev)->f),
         hc = an_found_mean_h(&nod_at(r, cur)->f);
    t->days_first = days_between(r, first, cur);
    t->days_prev = days_between(r, prev, cur);
    if (hc == AN_NONE)
        return;
    if (h0 != AN_NONE) {
        t->delta_first_h = hc - h0;
        t->rel_first = h0 > 0 ? 100.0 * (double)(hc - h0) / (double)h0 : NAN;
        if (t->days_first != AN_NONE)
            t->vdt_days =
                an_vdt_days((double)h0 / 100.0, (double)hc / 100.0, (double)t->days_first);
    }
    if (hp != AN_NONE) {
        t->delta_prev_h = hc - hp;
        t->rel_prev = hp > 0 ? 100.0 * (double)(hc - hp) / (double)hp : NAN;
    }
}

static void status_series(const struct an_report *r, struct an_track *t)
{
    const struct an_point *first = &t->pts[0], *prev = &t->pts[t->npts - 2],
                          *cur = &t->pts[t->npts - 1];
    long h0 = an_found_mean_h(&nod_at(r, first)->f), hp = an_found_mean_h(&nod_at(r, prev)->f),
         hc = an_found_mean_h(&nod_at(r, cur)->f);
    changes(r, t);
    int g = AN_CH_STABLE;
    t->growth_ref = (int)t->npts - 2;
    if (hp != AN_NONE && hc != AN_NONE)
        g = an_lungrads_growth(hp, hc, months_x10_of(t->days_prev));
    if (g == AN_CH_STABLE && h0 != AN_NONE && hc != AN_NONE && t->npts > 2 && hc > h0) {
        /* growth over several exams that no single step shows: judged from the first exam */
        int g0 = an_lungrads_growth(h0, hc, months_x10_of(t->days_first));
        if (g0 == AN_CH_GROWING || g0 == AN_CH_SLOW) {
            g = g0;
            t->growth_ref = 0;
        }
    }
    t->growth = an_change_name(g);
    if (g == AN_CH_GROWING || g == AN_CH_SLOW) {
        t->status = AN_ST_GROWING;
    } else if (g == AN_CH_DECREASED) {
        t->status = AN_ST_SHRINKING;
    } else {
        int sub = t->comp == AN_COMP_GGN || t->comp == AN_COMP_PART_SOLID;
        t->status = sub ? AN_ST_PERSISTENT : AN_ST_STABLE;
        t->persistent_n = (int)t->npts;
    }
    if (hp == AN_NONE || hc == AN_NONE) { /* no sizes: the text's own word decides */
        int ch = nod_at(r, cur)->f.change;
        t->growth = NULL;
        if (ch == AN_CH_GROWING || ch == AN_CH_SLOW)
            t->status = AN_ST_GROWING;
        else if (ch == AN_CH_DECREASED)
            t->status = AN_ST_SHRINKING;
    }
}

static void vdt_reading(struct an_track *t)
{
    if (isnan(t->vdt_days)) {
        t->vdt_reading = t->delta_first_h != 0 || t->npts > 1 ? "no growth: VDT not defined" : NULL;
        if (t->npts < 2)
            t->vdt_reading = NULL;
        return;
    }
    if (t->comp == AN_COMP_GGN)
        t->vdt_reading = "not applied to ground-glass nodules (malignant GGNs often double "
                         "slower than 400 days)";
    else if (t->vdt_days < 400)
        t->vdt_reading = "suspicious (< 400 days)";
    else if (t->vdt_days <= 600)
        t->vdt_reading = "indeterminate (400-600 days)";
    else
        t->vdt_reading = "typical of benign lesions (> 600 days)";
}

static void track_status(struct an_report *r, struct an_track *t)
{
    const struct an_point *last = &t->pts[t->npts - 1];
    t->comp = nod_at(r, last)->f.comp;
    for (size_t i = 0; t->comp == AN_COMP_NONE && i < t->npts; i++)
        t->comp = nod_at(r, &t->pts[i])->f.comp;
    if (last->study != (int)r->cur) {
        t->status = r->studies[r->cur].ntexts > 0 ? AN_ST_RESOLVED : -1;
        t->persistent_n = 0;
        return;
    }
    if (t->npts == 1)
        status_single(r, t);
    else
        status_series(r, t);
    vdt_reading(t);
}

ms_rc an_compare(struct an_report *r, ms_err *err)
{
    for (size_t s = 0; s < r->nstudies; s++) {
        for (size_t k = 0; k < r->studies[s].nnods; k++)
            r->studies[s].nods[k].track = -1;
    }
    for (size_t s = 0; s < r->nstudies; s++) {
        ms_rc rc = match_study(r, s, err);
        if (rc != MS_OK)
            return rc;
    }
    for (size_t t = 0; t < r->ntracks; t++)
        track_status(r, &r->tracks[t]);
    return MS_OK;
}

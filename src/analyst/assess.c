/*
 * Guideline assessment of the current study: each nodule gets its guideline input from its text
 * (composition, size, location, features) and from the comparison (timepoint, change, prior size
 * and interval), then Lung-RADS and Fleischner rows; the exam takes the most suspicious Lung-RADS
 * category and the most urgent Fleischner recommendation. Also reads the findings of a prior
 * report given as JSON back into mentions.
 *
 * Trusts: studies and tracks built by report.c and compare.c; the prior JSON is checked field by
 * field (wrong types are ignored, never trusted). Owns: nothing beyond the study arrays.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Fleischner keys from the least to the most urgent */
static const char *const fl_order[] = {"not-applicable",           "no-follow-up",
                                       "optional-ct-12m",          "ct-6-12m-then-2y-until-5y",
                                       "ct-6-12m-consider-18-24m", "ct-6-12m-then-18-24m",
                                       "ct-3-6m-then-2y-4y",       "ct-3-6m-then-annual-5y",
                                       "ct-3-6m-consider-18-24m",  "ct-3-6m-then-most-suspicious",
                                       "ct-3-6m-then-18-24m",      "ct-3m-pet-or-biopsy",
                                       "pet-biopsy-or-resection",  NULL};

static int fl_rank(const char *key)
{
    for (int i = 0; fl_order[i] != NULL; i++) {
        if (strcmp(fl_order[i], key) == 0)
            return i;
    }
    return -1;
}

static const struct an_nod *ref_nod(const struct an_report *r, const struct an_track *t)
{
    const struct an_point *p = &t->pts[t->growth_ref];
    return &r->studies[p->study].nods[p->nod];
}

/* Timepoint and change from the comparison, else from the text. */
static void temporal_input(const struct an_report *r, const struct an_nod *nd, struct an_nodule *in)
{
    int priors = r->nstudies > 1;
    const struct an_track *t = nd->track >= 0 ? &r->tracks[nd->track] : NULL;
    if (t != NULL && t->npts >= 2) {
        const struct an_nod *p = ref_nod(r, t);
        long days = t->growth_ref == 0 ? t->days_first : t->days_prev;
        in->timepoint = AN_TIME_FOLLOWUP;
        in->prior_mean_h = an_found_mean_h(&p->f);
        if (days != AN_NONE)
            in->months_x10 = (long)lround((double)days / 30.4375 * 10.0);
        if (t->growth != NULL && strcmp(t->growth, "slowly-growing") == 0) {
            in->change = AN_CH_SLOW;
        } else if (t->status == AN_ST_GROWING) {
            in->change = AN_CH_GROWING;
        } else if (t->status == AN_ST_SHRINKING) {
            in->change = AN_CH_DECREASED;
        } else {
            in->change = AN_CH_STABLE;
        }
        return;
    }
    if (nd->f.prior_h != AN_NONE) { /* "6 mm, previously 4 mm": the text's own comparison */
        in->timepoint = AN_TIME_FOLLOWUP;
        return;
    }
    if (priors) {
        in->timepoint = AN_TIME_FOLLOWUP;
        in->change = AN_CH_NEW;
        return;
    }
    in->timepoint = nd->f.change != AN_CH_NONE ? AN_TIME_FOLLOWUP : AN_TIME_BASELINE;
}

/* The Fleischner risk the text states (the last statement wins), or AN_RISK_NONE. */
static int text_risk(const struct an_study *st)
{
    int risk = AN_RISK_NONE;
    for (size_t i = 0; i < st->nfound; i++) {
        if (st->found[i].kind == 5)
            risk = st->found[i].count;
    }
    return risk;
}

static void assess_nod(struct an_report *r, struct an_study *st, struct an_nod *nd)
{
    struct an_nodule *in = &nd->in;
    an_found_to_nodule(&nd->f, in);
    temporal_input(r, nd, in);
    if (in->comp == AN_COMP_NONE)
        in->comp = AN_COMP_SOLID; /* a "nodule" without qualifier is read as solid */
    if (in->multiple < 0)
        in->multiple = st->nnods > 1;
    in->risk = r->risk != AN_RISK_NONE ? r->risk : text_risk(st);
    in->context_screening = r->context == 1;
    for (size_t i = 0; i < st->nfound; i++) { /* exam findings raise 3/4 to 4X */
        if (st->found[i].kind != 4)
            continue;
        if (st->found[i].features & AN_FEAT_LYMPH)
            in->suspicious |= AN_SUSP_LYMPH;
        if (st->found[i].features & AN_FEAT_METASTASIS)
            in->suspicious |= AN_SUSP_METASTASIS;
    }
    ms_err e1 = {0}, e2 = {0};
    nd->have_lr = an_lungrads_eval(in, &nd->lr, &e1) == MS_OK;
    nd->have_fl = an_fleischner_eval(in, &nd->fl, &e2) == MS_OK;
    if (!nd->have_lr)
        snprintf(nd->lr_why, sizeof nd->lr_why, "%s", e1.msg);
    if (!nd->have_fl)
        snprintf(nd->fl_why, sizeof nd->fl_why, "%s", e2.msg);
    if (nd->have_fl && in->risk == AN_RISK_NONE && nd->f.comp == AN_COMP_NONE)
        nd->fl.note = "composition not stated: read as solid; risk not stated: high-risk row";
}

static void exam_level(struct an_report *r, struct an_study *st)
{
    for (size_t i = 0; i < st->nnods; i++) {
        const struct an_nod *nd = &st->nods[i];
        if (nd->have_lr && (!r->have_exam_lr || an_lungrads_rank(nd->lr.category) >
                                                    an_lungrads_rank(r->exam_lr.category))) {
            r->exam_lr = nd->lr;
            r->have_exam_lr = 1;
            r->exam_lr_nod = (int)i;
        }
        if (nd->have_fl &&
            (!r->have_exam_fl || fl_rank(nd->fl.category) > fl_rank(r->exam_fl.category))) {
            r->exam_fl = nd->fl;
            r->have_exam_fl = 1;
            r->exam_fl_nod = (int)i;
        }
    }
    if (r->have_exam_lr)
        return;
    /* no nodule: "no nodules" statements give Lung-RADS 1 */
    for (size_t i = 0; i < st->nfound; i++) {
        if (st->found[i].kind == 2 && st->found[i].change != AN_CH_NEW) {
            struct an_nodule none;
            an_nodule_init(&none);
            none.present = 0;
            r->have_exam_lr = an_lungrads_eval(&none, &r->exam_lr, NULL) == MS_OK;
            return;
        }
    }
}

static void check_stated(struct an_report *r, const struct an_study *st)
{
    for (size_t i = 0; i < st->nfound; i++) {
        const struct an_found *f = &st->found[i];
        if (f->kind == 3 && r->have_exam_lr && strcmp(f->birads, r->exam_lr.category) != 0)
            an_report_warn(r,
                           "the text states Lung-RADS %s; the rules give %s (rule %s): please "
                           "review",
                           f->birads, r->exam_lr.category, r->exam_lr.rule);
    }
}

ms_rc an_assess(struct an_report *r, ms_err *err)
{
    (void)err;
    struct an_study *st = &r->studies[r->cur];
    for (size_t i = 0; i < st->nnods; i++) {
        struct an_nod *nd = &st->nods[i];
        snprintf(nd->id, sizeof nd->id, "N%u", (unsigned)(i + 1) % 100000u);
        assess_nod(r, st, nd);
        if (!nd->have_lr)
            an_report_warn(r, "nodule %s: no Lung-RADS category: %s", nd->id, nd->lr_why);
        if (!nd->have_fl)
            an_report_warn(r, "nodule %s: no Fleischner recommendation: %s", nd->id, nd->fl_why);
    }
    exam_level(r, st);
    check_stated(r, st);
    return MS_OK;
}

/* ---- a prior report's findings (our own JSON) back into mentions ---- */

static int word_value(const char *s, const char *const *names, int n)
{
    for (int i = 1; i < n; i++) {
        if (names[i] != NULL && s != NULL && strcmp(s, names[i]) == 0)
            return i;
    }
    return 0;
}

static void found_from_json(const json_t *j, struct an_found *f)
{
    memset(f, 0, sizeof *f);
    f->solid_h = AN_NONE;
    f->axes_h[0] = f->axes_h[1] = f->axes_h[2] = AN_NONE;
    f->img_series = f->img_image = -1;
    const json_t *axes = json_object_get(json_object_get(j, "size"), "axes_mm");
    for (size_t i = 0; json_is_array(axes) && i < json_array_size(axes) && i < 3; i++) {
        double v = json_number_value(json_array_get(axes, i));
        if (v > 0 && v < 1000) {
            f->axes_h[f->naxes++] = (long)llround(v * 100.0);
        }
    }
    static const char *const comps[] = {NULL, "solid", "part-solid", "ground-glass", "cyst"};
    static const char *const lobes[] = {NULL, "RUL", "RML", "RLL", "LUL", "lingula", "LLL"};
    f->comp = word_value(
        json_string_value(json_object_get(json_object_get(j, "composition"), "value")), comps, 5);
    f->lobe = word_value(json_string_value(json_object_get(json_object_get(j, "location"), "lobe")),
                         lobes, 7);
}

ms_rc an_found_from_json_list(struct an_report *r, struct an_study *st, const json_t *list,
                              ms_err *err)
{
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *type = json_string_value(json_object_get(v, "type"));
        if (!json_is_object(v) || type == NULL || strcmp(type, "nodule") != 0)
            continue;
        if (st->nfound >= AN_MAX_FINDINGS)
            return ms_fail(err, MS_E_LIMIT, "prior report: more than %d findings", AN_MAX_FINDINGS);
        if (st->nfound == st->cap_found) {
            size_t cap = st->cap_found ? st->cap_found * 2 : 8;
            struct an_found *nf = ms_realloc(r->alloc, st->found, cap * sizeof *nf);
            if (nf == NULL)
                return ms_fail(err, MS_E_NOMEM, "findings");
            st->found = nf;
            st->cap_found = cap;
        }
        found_from_json(v, &st->found[st->nfound]);
        st->found[st->nfound].source = -1;
        st->nfound++;
    }
    return MS_OK;
}

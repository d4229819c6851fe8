/*
 * Extracted findings as JSON (with their spans) and as guideline input (struct an_nodule), the
 * values of a finding the JSON and text reports both state (feature names, mean diameter, the
 * BI-RADS row of a stated category), and the public an_extract.
 *
 * Trusts: findings produced by extract.c (bounded). Owns: only the JSON it returns. The evidence
 * snippet (the source text of a span) is written only when the caller passes the text, which the
 * report does only with --phi.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

static json_t *span_json(const struct an_span *s)
{
    return json_pack("[II]", (json_int_t)s->start, (json_int_t)s->end);
}

double an_h_to_mm(long h)
{
    return (double)h / 100.0;
}

static const struct {
    unsigned bit;
    const char *name;
} feature_names[] = {
    {AN_FEAT_CALC, "calcification"},        {AN_FEAT_FAT, "fat"},
    {AN_FEAT_SPICULATION, "spiculation"},   {AN_FEAT_JUXTAPLEURAL, "juxtapleural"},
    {AN_FEAT_PERIFISSURAL, "perifissural"}, {AN_FEAT_AIRWAY, "airway"},
    {AN_FEAT_SUBSEGMENTAL, "subsegmental"}, {AN_FEAT_CYST, "cyst"},
    {AN_FEAT_LYMPH, "lymphadenopathy"},     {AN_FEAT_SMOOTH, "smooth-margins"},
};

size_t an_feature_names(unsigned features, const char *out[AN_FEATURE_NAMES])
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof feature_names / sizeof feature_names[0]; i++) {
        if (features & feature_names[i].bit)
            out[n++] = feature_names[i].name;
    }
    return n;
}

json_t *an_features_json(unsigned features)
{
    const char *names[AN_FEATURE_NAMES];
    size_t n = an_feature_names(features, names);
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_string(names[i]));
    return a;
}

double an_found_mean_mm(const struct an_found *f)
{
    if (an_found_mean_h(f) == AN_NONE)
        return NAN;
    struct an_nodule n;
    an_found_to_nodule(f, &n);
    return (double)an_mean_tenths(&n) / 10.0;
}

const struct an_birads_row *an_birads_stated(const char *category)
{
    static const struct an_birads_row unknown = {"?", "?", "?", "?", "?"};
    const struct an_birads_row *row = an_birads_lookup(category);
    return row != NULL ? row : &unknown;
}

static json_t *size_json(const struct an_found *f)
{
    if (f->naxes == 0)
        return json_null();
    json_t *axes = json_array();
    for (int i = 0; i < f->naxes; i++)
        json_array_append_new(axes, json_real(an_h_to_mm(f->axes_h[i])));
    struct an_nodule n;
    an_found_to_nodule(f, &n);
    json_t *o = json_pack("{s:o,s:o,s:f,s:I}", "axes_mm", axes, "span", span_json(&f->size_span),
                          "mean_diameter_mm", an_found_mean_mm(f), "fleischner_mm",
                          (json_int_t)an_mean_whole_mm(&n));
    if (o != NULL && f->range)
        json_object_set_new(o, "range", json_true()); /* "3-6 mm": the largest */
    if (o != NULL && f->upto)
        json_object_set_new(o, "up_to", json_true()); /* "up to 5 mm", "less than 4 mm" */
    return o;
}

static json_t *attr_json(const char *value, const struct an_span *s)
{
    if (value == NULL)
        return json_null();
    return json_pack("{s:s,s:o}", "value", value, "span", span_json(s));
}

static json_t *location_json(const struct an_found *f)
{
    if (f->lobe == AN_LOBE_NONE)
        return json_null();
    json_t *o = json_pack("{s:s,s:s,s:o}", "lobe", an_lobe_name(f->lobe), "name",
                          an_lobe_long_name(f->lobe), "span", span_json(&f->loc_span));
    if (o != NULL && f->segment[0] != '\0')
        json_object_set_new(o, "segment", json_string(f->segment));
    return o;
}

static json_t *change_json(const struct an_found *f)
{
    if (f->change == AN_CH_NONE)
        return json_null();
    json_t *o = attr_json(an_change_name(f->change), &f->change_span);
    if (o != NULL && f->persistent_n > 1)
        json_object_set_new(o, "studies", json_integer(f->persistent_n));
    return o;
}

static json_t *count_json(const struct an_found *f)
{
    if (f->count == 0)
        return json_null();
    if (f->count < 0)
        return json_string("multiple");
    return json_integer(f->count);
}

static json_t *category_json(const struct an_found *f)
{
    if (f->kind == 1) {
        const struct an_birads_row *row = an_birads_stated(f->birads);
        return json_pack("{s:s,s:s,s:o,s:s,s:s,s:s,s:s,s:s}", "type", "bi-rads", "category",
                         f->birads, "span", span_json(&f->span), "guideline", AN_BI_RADS_VERSION,
                         "assessment", row->assessment, "likelihood", row->likelihood, "management",
                         row->management, "rule", "bi-rads-2013/carried-from-report");
    }
    return json_pack("{s:s,s:s,s:o}", "type", "lung-rads-stated", "category", f->birads, "span",
                     span_json(&f->span));
}

json_t *an_found_json(const struct an_found *f, const char *text)
{
    json_t *o;
    if (f->kind == 1 || f->kind == 3) {
        o = category_json(f);
    } else if (f->kind == 5) {
        o = json_pack("{s:s,s:o,s:s}", "type", "risk", "span", span_json(&f->span), "risk",
                      f->count == AN_RISK_HIGH ? "high" : "low");
    } else if (f->kind == 4) {
        o = json_pack("{s:s,s:o,s:o}", "type", "exam-finding", "span", span_json(&f->span),
                      "features", an_features_json(f->features));
    } else if (f->kind == 2) {
        o = json_pack("{s:s,s:o,s:b,s:b}", "type", "negative", "span", span_json(&f->span),
                      "negated", 1, "new_only", f->change == AN_CH_NEW);
    } else {
        static const char *const types[] = {"nodule", "", "", "", "", "", "other",
                                            "uncertain", "resolved", "historical"};
        const char *type = f->kind >= 6 && f->kind <= 9 ? types[f->kind] : "nodule";
        o = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "type", type, "span",
                      span_json(&f->span), "size", size_json(f), "composition",
                      attr_json(an_comp_name(f->comp), &f->comp_span), "location", location_json(f),
                      "features", an_features_json(f->features), "count", count_json(f), "change",
                      change_json(f));
        if (o != NULL && f->img_image >= 0) {
            json_t *im = json_pack("{s:i,s:o}", "image", f->img_image, "span", span_json(&f->img_span));
            if (im != NULL && f->img_series >= 0)
                json_object_set_new(im, "series", json_integer(f->img_series));
            json_object_set_new(o, "image", im);
        }
        if (o != NULL && f->refback)
            json_object_set_new(o, "refers_back", json_true());
        if (o != NULL && f->solid_h != AN_NONE)
            json_object_set_new(o, "solid_component_mm", json_real(an_h_to_mm(f->solid_h)));
        if (o != NULL && f->prior_h != AN_NONE)
            json_object_set_new(o, "prior_size_mm", json_real(an_h_to_mm(f->prior_h)));
    }
    if (o != NULL && f->kind == 6)
        json_object_set_new(o, "organ", json_string(f->organ[0] ? f->organ : "other"));
    if (o != NULL && f->trigger != NULL)
        json_object_set_new(o, "trigger",
                            json_pack("{s:s,s:s,s:o}", "phrase", f->trigger->phrase, "category",
                                      an_ctx_name(f->ctx), "span", span_json(&f->trig_span)));
    if (o != NULL && text != NULL && f->span.end > f->span.start)
        json_object_set_new(o, "evidence",
                            json_stringn(text + f->span.start, f->span.end - f->span.start));
    return o;
}

void an_found_to_nodule(const struct an_found *f, struct an_nodule *n)
{
    an_nodule_init(n);
    n->comp = f->comp;
    if (f->naxes > 0) {
        long l = f->axes_h[0], s = f->axes_h[0];
        for (int i = 1; i < f->naxes; i++) {
            l = f->axes_h[i] > l ? f->axes_h[i] : l;
            s = f->axes_h[i] < s ? f->axes_h[i] : s;
        }
        n->long_h = l;
        n->short_h = s;
    }
    n->solid_h = f->solid_h;
    n->prior_mean_h = f->prior_h; /* the comparison replaces it when priors are matched */
    n->change = f->change;
    if (f->features & AN_FEAT_AIRWAY)
        n->location =
            (f->features & AN_FEAT_SUBSEGMENTAL) ? AN_LOC_AIRWAY_SUBSEG : AN_LOC_AIRWAY_SEG;
    else if (f->features & AN_FEAT_PERIFISSURAL)
        n->location = AN_LOC_PERIFISSURAL;
    else if (f->features & AN_FEAT_JUXTAPLEURAL)
        n->location = AN_LOC_JUXTAPLEURAL;
    if (f->features & AN_FEAT_CALC)
        n->benign = AN_BEN_CALC;
    else if (f->features & AN_FEAT_FAT)
        n->benign = AN_BEN_FAT;
    if (f->features & AN_FEAT_SPICULATION)
        n->suspicious |= AN_SUSP_SPICULATION;
    if (f->features & AN_FEAT_LYMPH)
        n->suspicious |= AN_SUSP_LYMPH;
    if (f->count < 0 || f->count > 1)
        n->multiple = 1;
    else if (f->count == 1)
        n->multiple = 0;
    if (f->comp == AN_COMP_CYST)
        n->cyst_wall = AN_WALL_THIN;
}

ms_rc an_extract(const char *text, size_t len, ms_alloc *alloc, json_t **out, ms_err *err)
{
    struct an_found *found = NULL;
    size_t n = 0;
    if (out == NULL)
        return ms_fail(err, MS_E_INVAL, "an_extract: NULL out");
    ms_rc rc = an_extract_text(text, len, alloc, &found, &n, err);
    if (rc != MS_OK)
        return rc;
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        json_t *o = an_found_json(&found[i], NULL);
        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    ms_free(alloc, found);
    if (a == NULL)
        return ms_fail(err, MS_E_NOMEM, "findings JSON");
    *out = a;
    return MS_OK;
}

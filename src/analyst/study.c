/*
 * Study summary from DICOM headers: patient sex and age (output as a band unless --phi), modality,
 * body part, study date, the series table (description, count, slice thickness, spacing, kernel,
 * contrast, manufacturer/model, CTDIvol), slice ordering from ImagePositionPatient projected on
 * the slice normal, gaps, duplicates and inconsistent geometry. SR documents are flattened to text
 * with headings (TEXT, CODE, NUM with units, DATE, PNAME as [NAME]); presentation-state text
 * (TextObjectSequence) and overlay labels/descriptions are collected as text too.
 *
 * Trusts: nothing in the files: every value is optional, numbers are range-checked, recursion is
 * depth-limited, strings are truncated to fixed fields. Owns: the study's copies (ms_malloc, wiped
 * on free). Identity strings are kept only to scrub descriptions and never printed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "medseal/phi.h"

#define SR_MAX_DEPTH 16
#define SR_MAX_TEXT  ((size_t)1 << 20)

/* (group, element) constants used here */
#define T_STUDY_DATE    DCM_TAG(0x0008, 0x0020)
#define T_MODALITY      DCM_TAG(0x0008, 0x0060)
#define T_SOP_CLASS     DCM_TAG(0x0008, 0x0016)
#define T_STUDY_DESC    DCM_TAG(0x0008, 0x1030)
#define T_SERIES_DESC   DCM_TAG(0x0008, 0x103E)
#define T_MANUFACTURER  DCM_TAG(0x0008, 0x0070)
#define T_MODEL         DCM_TAG(0x0008, 0x1090)
#define T_INSTITUTION   DCM_TAG(0x0008, 0x0080)
#define T_REFERRING     DCM_TAG(0x0008, 0x0090)
#define T_ACCESSION     DCM_TAG(0x0008, 0x0050)
#define T_PNAME         DCM_TAG(0x0010, 0x0010)
#define T_PID           DCM_TAG(0x0010, 0x0020)
#define T_BIRTH         DCM_TAG(0x0010, 0x0030)
#define T_SEX           DCM_TAG(0x0010, 0x0040)
#define T_AGE           DCM_TAG(0x0010, 0x1010)
#define T_CONTRAST      DCM_TAG(0x0018, 0x0010)
#define T_BODY_PART     DCM_TAG(0x0018, 0x0015)
#define T_THICKNESS     DCM_TAG(0x0018, 0x0050)
#define T_KERNEL        DCM_TAG(0x0018, 0x1210)
#define T_CTDIVOL       DCM_TAG(0x0018, 0x9345)
#define T_STUDY_UID     DCM_TAG(0x0020, 0x000D)
#define T_SERIES_UID    DCM_TAG(0x0020, 0x000E)
#define T_STUDY_ID      DCM_TAG(0x0020, 0x0010)
#define T_SERIES_NUMBER DCM_TAG(0x0020, 0x0011)
#define T_IPP           DCM_TAG(0x0020, 0x0032)
#define T_IOP           DCM_TAG(0x0020, 0x0037)
#define T_ROWS          DCM_TAG(0x0028, 0x0010)
#define T_COLS          DCM_TAG(0x0028, 0x0011)
#define T_PIXEL_SPACING DCM_TAG(0x0028, 0x0030)
#define T_CONTENT_SEQ   DCM_TAG(0x0040, 0xA730)
#define T_VALUE_TYPE    DCM_TAG(0x0040, 0xA040)
#define T_CONCEPT_NAME  DCM_TAG(0x0040, 0xA043)
#define T_CONCEPT_CODE  DCM_TAG(0x0040, 0xA168)
#define T_CODE_MEANING  DCM_TAG(0x0008, 0x0104)
#define T_CODE_VALUE    DCM_TAG(0x0008, 0x0100)
#define T_TEXT_VALUE    DCM_TAG(0x0040, 0xA160)
#define T_MEASURED_SEQ  DCM_TAG(0x0040, 0xA300)
#define T_NUMERIC       DCM_TAG(0x0040, 0xA30A)
#define T_UNITS_SEQ     DCM_TAG(0x0040, 0x08EA)
#define T_DATE          DCM_TAG(0x0040, 0xA121)
#define T_DATETIME      DCM_TAG(0x0040, 0xA120)
#define T_GRAPHIC_ANN   DCM_TAG(0x0070, 0x0001)
#define T_TEXT_OBJ      DCM_TAG(0x0070, 0x0008)
#define T_UNFORMATTED   DCM_TAG(0x0070, 0x0006)

static void text_of(const dcm_dataset *ds, uint32_t tag, char *out, size_t n)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 4096);
    out[0] = '\0';
    if (ds != NULL && dcm_dataset_text(ds, tag, &b, NULL) == MS_OK && b.len > 0) {
        size_t k = b.len < n - 1 ? b.len : n - 1;
        memcpy(out, b.p, k);
        out[k] = '\0';
        for (size_t i = 0; i < k; i++) { /* no control characters in fixed fields */
            if ((unsigned char)out[i] < 0x20)
                out[i] = ' ';
        }
    }
    ms_buf_free(&b);
}

static double number_of(const dcm_dataset *ds, uint32_t tag, size_t idx)
{
    double v;
    if (dcm_dataset_number(ds, tag, idx, &v, NULL) != MS_OK || !isfinite(v) || fabs(v) > 1e9)
        return NAN;
    return v;
}

/* a small non-negative integer (rows, columns), 0 when absent or out of range */
static int int_of(const dcm_dataset *ds, uint32_t tag)
{
    double v = number_of(ds, tag, 0);
    return isnan(v) || v < 0 || v > 1e6 ? 0 : (int)v;
}

static void set_once(char *dst, size_t n, const dcm_dataset *ds, uint32_t tag)
{
    if (dst[0] == '\0')
        text_of(ds, tag, dst, n);
}

static void study_fields(struct an_study *st, const dcm_dataset *ds)
{
    char mod[17];
    text_of(ds, T_MODALITY, mod, sizeof mod);
    /* the study's modality is the images', not the SR's */
    if (st->modality[0] == '\0' || (strcmp(st->modality, "SR") == 0 && strcmp(mod, "SR") != 0 &&
                                    strcmp(mod, "PR") != 0 && mod[0] != '\0'))
        snprintf(st->modality, sizeof st->modality, "%s", mod);
    if (st->date[0] == '\0') {
        char d[16];
        text_of(ds, T_STUDY_DATE, d, sizeof d);
        int v[8], ok = strlen(d) == 8;
        long days;
        for (size_t i = 0; ok && i < 8; i++) {
            ok = d[i] >= '0' && d[i] <= '9';
            v[i] = d[i] - '0';
        }
        if (ok && ms_date_to_days(v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3], v[4] * 10 + v[5],
                                  v[6] * 10 + v[7], &days) == MS_OK) {
            memcpy(st->date, d, 9);
            st->day = days;
        }
    }
    set_once(st->body_part, sizeof st->body_part, ds, T_BODY_PART);
    set_once(st->sex, sizeof st->sex, ds, T_SEX);
    set_once(st->age, sizeof st->age, ds, T_AGE);
    set_once(st->description, sizeof st->description, ds, T_STUDY_DESC);
    set_once(st->study_uid, sizeof st->study_uid, ds, T_STUDY_UID);
    set_once(st->pid, sizeof st->pid, ds, T_PID);
    set_once(st->pname, sizeof st->pname, ds, T_PNAME);
    set_once(st->birth, sizeof st->birth, ds, T_BIRTH);
    set_once(st->accession, sizeof st->accession, ds, T_ACCESSION);
    set_once(st->study_id, sizeof st->study_id, ds, T_STUDY_ID);
    set_once(st->institution, sizeof st->institution, ds, T_INSTITUTION);
    set_once(st->referring, sizeof st->referring, ds, T_REFERRING);
}

/* ---- series ---- */

static struct an_series *series_for(struct an_report *r, struct an_study *st, const char *uid,
                                    ms_err *err)
{
    for (size_t i = 0; i < st->nseries; i++) {
        if (strcmp(st->series[i].uid, uid) == 0)
            return &st->series[i];
    }
    if (st->nseries == st->cap_series) {
        size_t cap = st->cap_series ? st->cap_series * 2 : 4;
        struct an_series *ns = ms_realloc(r->alloc, st->series, cap * sizeof *ns);
        if (ns == NULL)
            return ms_fail(err, MS_E_NOMEM, "series table"), NULL;
        st->series = ns;
        st->cap_series = cap;
    }
    struct an_series *s = &st->series[st->nseries++];
    memset(s, 0, sizeof *s);
    snprintf(s->uid, sizeof s->uid, "%s", uid);
    s->thickness = s->spacing = s->spacing_min = s->spacing_max = NAN;
    s->ctdivol_max = s->dlp = NAN;
    s->pixel_spacing[0] = s->pixel_spacing[1] = NAN;
    return s;
}

static void series_fields(struct an_series *s, const dcm_dataset *ds)
{
    set_once(s->number, sizeof s->number, ds, T_SERIES_NUMBER);
    set_once(s->modality, sizeof s->modality, ds, T_MODALITY);
    set_once(s->description, sizeof s->description, ds, T_SERIES_DESC);
    set_once(s->kernel, sizeof s->kernel, ds, T_KERNEL);
    set_once(s->contrast, sizeof s->contrast, ds, T_CONTRAST);
    set_once(s->manufacturer, sizeof s->manufacturer, ds, T_MANUFACTURER);
    set_once(s->model, sizeof s->model, ds, T_MODEL);
    set_once(s->body_part, sizeof s->body_part, ds, T_BODY_PART);
    double th = number_of(ds, T_THICKNESS, 0);
    if (!isnan(th)) {
        if (isnan(s->thickness))
            s->thickness = th;
        else if (fabs(th - s->thickness) > 1e-3)
            s->thickness_varies = 1;
    }
    double ctdi = number_of(ds, T_CTDIVOL, 0);
    if (!isnan(ctdi) && (isnan(s->ctdivol_max) || ctdi > s->ctdivol_max))
        s->ctdivol_max = ctdi;
}

/* Orientation, pixel spacing and matrix must agree across a series. */
static void series_geometry(struct an_series *s, const dcm_dataset *ds)
{
    double iop[6], ps[2];
    int have = 1;
    for (size_t i = 0; i < 6; i++) {
        iop[i] = number_of(ds, T_IOP, i);
        have &= !isnan(iop[i]);
    }
    ps[0] = number_of(ds, T_PIXEL_SPACING, 0);
    ps[1] = number_of(ds, T_PIXEL_SPACING, 1);
    int rows = int_of(ds, T_ROWS), cols = int_of(ds, T_COLS);
    if (s->count == 1) {
        s->have_iop = have;
        memcpy(s->iop, iop, sizeof iop);
        s->pixel_spacing[0] = ps[0];
        s->pixel_spacing[1] = ps[1];
        s->rows = rows;
        s->cols = cols;
        return;
    }
    int bad = have != s->have_iop || rows != s->rows || cols != s->cols;
    for (size_t i = 0; have && s->have_iop && i < 6; i++)
        bad |= fabs(iop[i] - s->iop[i]) > 1e-3;
    for (size_t i = 0; i < 2; i++)
        bad |= !isnan(ps[i]) && !isnan(s->pixel_spacing[i]) &&
               fabs(ps[i] - s->pixel_spacing[i]) > 1e-4;
    s->geometry_inconsistent |= bad;
}

static ms_rc series_position(struct an_report *r, struct an_series *s, const dcm_dataset *ds,
                             ms_err *err)
{
    double p[3];
    for (size_t i = 0; i < 3; i++)
        p[i] = number_of(ds, T_IPP, i);
    if (isnan(p[0]) || isnan(p[1]) || isnan(p[2]) || !s->have_iop) {
        s->positions_missing++;
        return MS_OK;
    }
    const double *o = s->iop; /* normal = row x column direction cosines */
    double nx = o[1] * o[5] - o[2] * o[4], ny = o[2] * o[3] - o[0] * o[5],
           nz = o[0] * o[4] - o[1] * o[3];
    if (s->npos == s->cap_pos) {
        size_t cap = s->cap_pos ? s->cap_pos * 2 : 64;
        double *np = ms_realloc(r->alloc, s->pos, cap * sizeof *np);
        if (np == NULL)
            return ms_fail(err, MS_E_NOMEM, "slice positions");
        s->pos = np;
        s->cap_pos = cap;
    }
    s->pos[s->npos++] = p[0] * nx + p[1] * ny + p[2] * nz;
    return MS_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorted positions -> spacing (median step), min/max step, gaps (> 1.5 x median), duplicates
 * (steps < 0.01 mm). */
static ms_rc series_order(struct an_report *r, struct an_series *s, ms_err *err)
{
    if (s->npos < 2)
        return MS_OK;
    qsort(s->pos, s->npos, sizeof *s->pos, cmp_double);
    size_t n = s->npos - 1, nd = 0;
    double *steps = ms_calloc(r->alloc, n, sizeof *steps);
    if (steps == NULL)
        return ms_fail(err, MS_E_NOMEM, "slice steps");
    double mn = INFINITY, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double st = s->pos[i + 1] - s->pos[i];
        if (st < 0.01) {
            s->duplicates++;
            continue;
        }
        mn = st < mn ? st : mn;
        mx = st > mx ? st : mx;
        steps[nd++] = st;
    }
    if (nd > 0) {
        qsort(steps, nd, sizeof steps[0], cmp_double);
        double med = steps[nd / 2];
        for (size_t i = 0; i < nd; i++)
            s->gaps += steps[i] > 1.5 * med;
        s->spacing = med;
        s->spacing_min = mn;
        s->spacing_max = mx;
    }
    ms_free(r->alloc, steps);
    return MS_OK;
}

/* ---- text inside DICOM: SR content tree, presentation states, overlays ---- */

static ms_rc item_code_meaning(const dcm_dataset *ds, uint32_t seq, char *out, size_t n)
{
    out[0] = '\0';
    dcm_elem *e = dcm_dataset_find(ds, seq);
    if (e == NULL || dcm_elem_item_count(e) == 0)
        return MS_E_NOTFOUND;
    text_of(dcm_elem_item(e, 0), T_CODE_MEANING, out, n);
    if (out[0] == '\0')
        text_of(dcm_elem_item(e, 0), T_CODE_VALUE, out, n);
    return MS_OK;
}

static ms_rc append_value_text(const dcm_dataset *ds, uint32_t tag, ms_buf *b, ms_err *err)
{
    ms_buf v;
    ms_buf_init(&v, b->alloc, SR_MAX_TEXT);
    ms_rc rc = MS_OK;
    if (dcm_dataset_text(ds, tag, &v, NULL) == MS_OK)
        rc = ms_buf_append(b, v.p, v.len, err);
    ms_buf_free(&v);
    return rc;
}

static ms_rc sr_num(const dcm_dataset *ds, ms_buf *b, ms_err *err)
{
    dcm_elem *mv = dcm_dataset_find(ds, T_MEASURED_SEQ);
    if (mv == NULL || dcm_elem_item_count(mv) == 0)
        return MS_OK;
    dcm_dataset *it = dcm_elem_item(mv, 0);
    char num[32], unit[32];
    text_of(it, T_NUMERIC, num, sizeof num);
    dcm_elem *u = dcm_dataset_find(it, T_UNITS_SEQ);
    unit[0] = '\0';
    if (u != NULL && dcm_elem_item_count(u) > 0)
        text_of(dcm_elem_item(u, 0), T_CODE_VALUE, unit, sizeof unit);
    return ms_buf_printf(b, err, "%s %s", num, unit);
}

static ms_rc sr_items(const dcm_dataset *ds, int depth, ms_buf *b, ms_err *err);
/* 1 if the item's concept name has this code value */
static int concept_is(const dcm_dataset *it, const char *code)
{
    char v[32] = "";
    dcm_elem *cn = dcm_dataset_find(it, T_CONCEPT_NAME);
    if (cn != NULL && dcm_elem_item_count(cn) > 0)
        text_of(dcm_elem_item(cn, 0), T_CODE_VALUE, v, sizeof v);
    return strcmp(v, code) == 0;
}

struct measurement {
    char finding[AN_STR], site[AN_STR], laterality[16], longax[32], shortax[32], unit[16];
};

static void measurement_child(const dcm_dataset *c, struct measurement *m)
{
    if (concept_is(c, "121071")) /* Finding */
        item_code_meaning(c, T_CONCEPT_CODE, m->finding, sizeof m->finding);
    if (concept_is(c, "363698007")) { /* Finding Site, with its Laterality modifier */
        item_code_meaning(c, T_CONCEPT_CODE, m->site, sizeof m->site);
        dcm_elem *cs = dcm_dataset_find(c, T_CONTENT_SEQ);
        for (size_t k = 0; cs != NULL && k < dcm_elem_item_count(cs); k++) {
            if (concept_is(dcm_elem_item(cs, k), "272741003"))
                item_code_meaning(dcm_elem_item(cs, k), T_CONCEPT_CODE, m->laterality,
                                  sizeof m->laterality);
        }
    }
    int lng = concept_is(c, "103339001"), shrt = concept_is(c, "103340004");
    dcm_elem *mv = dcm_dataset_find(c, T_MEASURED_SEQ);
    if ((lng || shrt) && mv != NULL && dcm_elem_item_count(mv) > 0) {
        const dcm_dataset *v = dcm_elem_item(mv, 0);
        text_of(v, T_NUMERIC, lng ? m->longax : m->shortax, sizeof m->longax);
        dcm_elem *u = dcm_dataset_find(v, T_UNITS_SEQ);
        if (u != NULL && dcm_elem_item_count(u) > 0)
            text_of(dcm_elem_item(u, 0), T_CODE_VALUE, m->unit, sizeof m->unit);
    }
}

/* A TID 1500 measurement group as one sentence the extractor reads: "Nodule in the right upper
 * lobe of lung: 12 x 9 mm." (Finding 121071, Finding Site 363698007 with Laterality 272741003,
 * Long Axis 103339001, Short Axis 103340004; UCUM mm or cm). */
static ms_rc sr_measurement_sentence(const dcm_dataset *it, ms_buf *b, ms_err *err)
{
    struct measurement m;
    memset(&m, 0, sizeof m);
    dcm_elem *cs = dcm_dataset_find(it, T_CONTENT_SEQ);
    for (size_t k = 0; cs != NULL && k < dcm_elem_item_count(cs); k++)
        measurement_child(dcm_elem_item(cs, k), &m);
    if (m.longax[0] == '\0' || (strcmp(m.unit, "mm") != 0 && strcmp(m.unit, "cm") != 0))
        return MS_OK;
    for (char *p = m.laterality; *p != '\0'; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    return ms_buf_printf(b, err, "%s in the %s%s%s: %s%s%s %s.\n",
                         m.finding[0] ? m.finding : "Nodule", m.laterality,
                         m.laterality[0] ? " " : "", m.site[0] ? m.site : "lung", m.longax,
                         m.shortax[0] ? " x " : "", m.shortax, m.unit);
}

static ms_rc sr_item(const dcm_dataset *it, int depth, ms_buf *b, ms_err *err)
{
    char vt[17], name[AN_STR], code[AN_STR];
    text_of(it, T_VALUE_TYPE, vt, sizeof vt);
    item_code_meaning(it, T_CONCEPT_NAME, name, sizeof name);
    ms_rc rc = MS_OK;
    if (strcmp(vt, "CONTAINER") == 0) {
        rc = ms_buf_append_str(b, "\n", err);
        for (int i = 0; rc == MS_OK && i <= depth && i < 6; i++)
            rc = ms_buf_append_byte(b, '#', err);
        if (rc == MS_OK)
            rc = ms_buf_printf(b, err, " %s\n", name);
        if (rc == MS_OK)
            rc = sr_items(it, depth + 1, b, err);
        if (rc == MS_OK && concept_is(it, "125007")) /* TID 1500 Measurement Group */
            rc = sr_measurement_sentence(it, b, err);
        return rc;
    }
    rc = ms_buf_printf(b, err, "%s: ", name[0] ? name : vt);
    if (rc != MS_OK)
        return rc;
    if (strcmp(vt, "TEXT") == 0) {
        rc = append_value_text(it, T_TEXT_VALUE, b, err);
    } else if (strcmp(vt, "CODE") == 0) {
        item_code_meaning(it, T_CONCEPT_CODE, code, sizeof code);
        rc = ms_buf_append_str(b, code, err);
    } else if (strcmp(vt, "NUM") == 0) {
        rc = sr_num(it, b, err);
    } else if (strcmp(vt, "DATE") == 0) {
        rc = append_value_text(it, T_DATE, b, err);
    } else if (strcmp(vt, "DATETIME") == 0) {
        rc = append_value_text(it, T_DATETIME, b, err);
    } else if (strcmp(vt, "PNAME") == 0) {
        rc = ms_buf_append_str(b, "[NAME]", err);
    }
    if (rc == MS_OK)
        rc = ms_buf_append_str(b, "\n", err);
    if (rc == MS_OK && dcm_dataset_find(it, T_CONTENT_SEQ) != NULL)
        rc = sr_items(it, depth + 1, b, err);
    return rc;
}

static ms_rc sr_items(const dcm_dataset *ds, int depth, ms_buf *b, ms_err *err)
{
    if (depth > SR_MAX_DEPTH)
        return MS_OK; /* deeper content is dropped, counted as unreadable by the caller */
    dcm_elem *cs = dcm_dataset_find(ds, T_CONTENT_SEQ);
    size_t n = cs != NULL ? dcm_elem_item_count(cs) : 0;
    for (size_t i = 0; i < n; i++) {
        ms_rc rc = sr_item(dcm_elem_item(cs, i), depth, b, err);
        if (rc != MS_OK)
            return rc;
    }
    return MS_OK;
}

/* Dose from a radiation dose SR (TID 10011): CT Dose Length Product Total (113813, DCM), else
 * the sum of per-event DLP (113838); Mean CTDIvol (113830) the maximum. */
static void sr_dose(const dcm_dataset *ds, int depth, struct an_study *st, double *dlp_events)
{
    dcm_elem *cs = dcm_dataset_find(ds, T_CONTENT_SEQ);
    size_t n = cs != NULL ? dcm_elem_item_count(cs) : 0;
    for (size_t i = 0; depth <= SR_MAX_DEPTH && i < n; i++) {
        const dcm_dataset *it = dcm_elem_item(cs, i);
        dcm_elem *cn = dcm_dataset_find(it, T_CONCEPT_NAME);
        dcm_elem *mv = dcm_dataset_find(it, T_MEASURED_SEQ);
        char code[16] = "";
        if (cn != NULL && dcm_elem_item_count(cn) > 0)
            text_of(dcm_elem_item(cn, 0), T_CODE_VALUE, code, sizeof code);
        double v = mv != NULL && dcm_elem_item_count(mv) > 0
                       ? number_of(dcm_elem_item(mv, 0), T_NUMERIC, 0)
                       : NAN;
        if (!isnan(v) && v >= 0 && strcmp(code, "113813") == 0)
            st->dlp_total = v;
        else if (!isnan(v) && v >= 0 && strcmp(code, "113838") == 0)
            *dlp_events += v;
        else if (!isnan(v) && v >= 0 && strcmp(code, "113830") == 0 &&
                 (isnan(st->ctdivol_sr) || v > st->ctdivol_sr))
            st->ctdivol_sr = v;
        sr_dose(it, depth + 1, st, dlp_events);
    }
}

static ms_rc sr_flatten(struct an_report *r, struct an_study *st, const dcm_dataset *ds,
                        ms_err *err)
{
    double events = 0;
    sr_dose(ds, 1, st, &events);
    if (isnan(st->dlp_total) && events > 0)
        st->dlp_total = events;
    ms_buf b;
    char title[AN_STR];
    ms_buf_init(&b, r->alloc, SR_MAX_TEXT);
    item_code_meaning(ds, T_CONCEPT_NAME, title, sizeof title);
    ms_rc rc = ms_buf_printf(&b, err, "# %s\n", title[0] ? title : "Structured report");
    if (rc == MS_OK)
        rc = sr_items(ds, 1, &b, err);
    if (rc == MS_OK)
        rc = an_study_add_text(r, st, (const char *)b.p, b.len, "sr", err);
    st->sr_docs++;
    ms_buf_free(&b);
    return rc;
}

/* Presentation-state text objects and overlay labels/descriptions. */
static ms_rc annotations(struct an_report *r, struct an_study *st, const dcm_dataset *ds,
                         ms_err *err)
{
    ms_buf b;
    ms_buf_init(&b, r->alloc, SR_MAX_TEXT);
    ms_rc rc = MS_OK;
    dcm_elem *ga = dcm_dataset_find(ds, T_GRAPHIC_ANN);
    size_t n = ga != NULL ? dcm_elem_item_count(ga) : 0;
    for (size_t i = 0; rc == MS_OK && i < n; i++) {
        dcm_elem *to = dcm_dataset_find(dcm_elem_item(ga, i), T_TEXT_OBJ);
        size_t m = to != NULL ? dcm_elem_item_count(to) : 0;
        for (size_t k = 0; rc == MS_OK && k < m; k++) {
            rc = append_value_text(dcm_elem_item(to, k), T_UNFORMATTED, &b, err);
            if (rc == MS_OK)
                rc = ms_buf_append_str(&b, "\n", err);
        }
    }
    for (uint16_t g = 0x6000; rc == MS_OK && g <= 0x601E; g = (uint16_t)(g + 2)) {
        rc = append_value_text(ds, DCM_TAG(g, 0x0022), &b, err);
        if (rc == MS_OK)
            rc = ms_buf_append_str(&b, "\n", err);
        if (rc == MS_OK)
            rc = append_value_text(ds, DCM_TAG(g, 0x1500), &b, err);
        if (rc == MS_OK)
            rc = ms_buf_append_str(&b, "\n", err);
    }
    int any = 0;
    for (size_t i = 0; i < b.len; i++)
        any |= b.p[i] != '\n';
    if (rc == MS_OK && any) {
        st->annotations++;
        rc = an_study_add_text(r, st, (const char *)b.p, b.len, "annotation", err);
    }
    ms_buf_free(&b);
    return rc;
}

ms_rc an_study_add_file(struct an_report *r, struct an_study *st, dcm_file *f, ms_err *err)
{
    const dcm_dataset *ds = dcm_file_dataset(f);
    if (ds == NULL)
        return MS_OK;
    st->files++;
    study_fields(st, ds);
    char mod[17], uid[AN_STR];
    text_of(ds, T_MODALITY, mod, sizeof mod);
    if (strcmp(mod, "SR") == 0 || dcm_dataset_find(ds, T_CONTENT_SEQ) != NULL)
        return sr_flatten(r, st, ds, err);
    ms_rc rc = annotations(r, st, ds, err);
    if (rc != MS_OK || strcmp(mod, "PR") == 0)
        return rc;
    text_of(ds, T_SERIES_UID, uid, sizeof uid);
    struct an_series *s = series_for(r, st, uid, err);
    if (s == NULL)
        return MS_E_NOMEM;
    s->count++;
    series_fields(s, ds);
    series_geometry(s, ds);
    return series_position(r, s, ds, err);
}

ms_rc an_study_finish(struct an_report *r, struct an_study *st, ms_err *err)
{
    for (size_t i = 0; i < st->nseries; i++) {
        ms_rc rc = series_order(r, &st->series[i], err);
        if (rc != MS_OK)
            return rc;
    }
    return MS_OK;
}

ms_rc an_study_add_text(struct an_report *r, struct an_study *st, const char *text, size_t len,
                        const char *source, ms_err *err)
{
    if (len > AN_MAX_TEXT)
        return ms_fail(err, MS_E_LIMIT, "text of %zu bytes over the limit", len);
    if (len > 0 && memchr(text, '\0', len) != NULL)
        return ms_fail(err, MS_E_FORMAT, "text holds a NUL byte");
    if (st->ntexts >= AN_MAX_TEXTS || len > AN_MAX_STUDY_TEXT - st->text_bytes)
        return ms_fail(err, MS_E_LIMIT, "study text over the limit (%zu texts, %zu bytes)",
                       st->ntexts, st->text_bytes);
    if (st->ntexts == st->cap_texts) {
        size_t cap = st->cap_texts ? st->cap_texts * 2 : 4;
        struct an_text *nt = ms_realloc(r->alloc, st->texts, cap * sizeof *nt);
        if (nt == NULL)
            return ms_fail(err, MS_E_NOMEM, "texts");
        st->texts = nt;
        st->cap_texts = cap;
    }
    char *copy = ms_strndup(r->alloc, len > 0 ? text : "", len);
    if (copy == NULL)
        return ms_fail(err, MS_E_NOMEM, "text copy");
    struct an_text *t = &st->texts[st->ntexts++];
    memset(t, 0, sizeof *t);
    snprintf(t->source, sizeof t->source, "%s", source != NULL ? source : "text");
    t->text = copy;
    t->len = len;
    st->text_bytes += len;
    return MS_OK;
}

void an_study_free(struct an_report *r, struct an_study *st)
{
    for (size_t i = 0; i < st->nseries; i++)
        ms_free(r->alloc, st->series[i].pos);
    ms_free(r->alloc, st->series);
    for (size_t i = 0; i < st->ntexts; i++)
        ms_free(r->alloc, st->texts[i].text);
    ms_free(r->alloc, st->texts);
    ms_free(r->alloc, st->found);
    ms_free(r->alloc, st->nods);
    json_decref(st->prior_json);
    ms_memzero(st, sizeof *st);
}

/* ---- de-identified descriptions ---- */

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int starts_nocase(const char *p, const char *needle, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\0' || lower((unsigned char)p[i]) != lower((unsigned char)needle[i]))
            return 0;
    }
    return 1;
}

static void redact(char *s, const char *needle)
{
    size_t n = strlen(needle);
    if (n < 2)
        return;
    for (char *p = s; *p != '\0'; p++) {
        if (!starts_nocase(p, needle, n))
            continue;
        static const char tag[] = "[REDACTED]";
        size_t rest = strlen(p + n);
        size_t tl = sizeof tag - 1;
        if ((size_t)(p - s) + tl + rest >= AN_STR)
            tl = 0;
        memmove(p + tl, p + n, rest + 1);
        memcpy(p, tag, tl);
        p += tl > 0 ? tl - 1 : 0;
    }
}

static void redact_parts(char *s, const char *pn)
{
    char part[AN_STR];
    size_t k = 0;
    for (const char *p = pn;; p++) {
        if (*p == '^' || *p == ' ' || *p == '=' || *p == '\0') {
            part[k] = '\0';
            if (k >= 2)
                redact(s, part);
            k = 0;
            if (*p == '\0')
                break;
        } else if (k + 1 < sizeof part) {
            part[k++] = *p;
        }
    }
}

phi_ctx *an_study_scrubber(const struct an_report *r, const struct an_study *st)
{
    if (r->phi)
        return NULL;
    phi_identity id;
    memset(&id, 0, sizeof id);
    id.dicom_name = st->pname;
    id.patient_id = st->pid;
    id.birth_date = st->birth;
    id.accessions[0] = st->accession;
    id.other_ids[0] = st->study_id;
    id.names[0] = st->referring;
    id.places[0] = st->institution;
    phi_opts po;
    memset(&po, 0, sizeof po);
    po.mode = PHI_MODE_TAG;
    po.identity = &id;
    po.alloc = r->alloc;
    phi_ctx *ctx = NULL;
    if (phi_ctx_new(&po, &ctx, NULL) != MS_OK)
        return NULL;
    return ctx;
}

int an_study_clean(const struct an_report *r, const struct an_study *st, phi_ctx *ctx,
                   const char *in, char *out, size_t n)
{
    snprintf(out, n, "%s", in);
    if (r->phi || out[0] == '\0')
        return 0;
    char tmp[AN_STR];
    snprintf(tmp, sizeof tmp, "%s", in);
    redact_parts(tmp, st->pname);
    redact_parts(tmp, st->referring);
    redact(tmp, st->pid);
    redact(tmp, st->accession);
    redact(tmp, st->study_id);
    redact(tmp, st->institution);
    redact(tmp, st->birth);
    /* then the text scrubber; without it the text is withheld (fail closed) */
    ms_buf b;
    ms_buf_init(&b, r->alloc, 4096);
    int ok = ctx != NULL && phi_scrub(ctx, tmp, strlen(tmp), &b, NULL, NULL, NULL) == MS_OK;
    if (ok)
        snprintf(out, n, "%.*s", (int)b.len, (const char *)b.p);
    else
        out[0] = '\0';
    ms_buf_free(&b);
    ms_memzero(tmp, sizeof tmp);
    return !ok;
}

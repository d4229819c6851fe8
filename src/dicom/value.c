/*
 * Element values: text (UTF-8, padding trimmed per VR), multi-value splitting, numbers, value
 * multiplicity, and the resolution of ambiguous VRs left by the implicit-VR reader.
 * Trusts: nothing in the values (lengths come from the element; numbers are parsed from a
 * bounded local copy). Owns: nothing; results are appended to the caller's ms_buf.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Text VRs that may hold several values separated by '\' (PS3.5 6.4); LT ST UT UR cannot. */
static int vr_multi(uint16_t vr)
{
    return dcm_vr_is_text(vr) && vr != DCM_VR_LT && vr != DCM_VR_ST && vr != DCM_VR_UT &&
           vr != DCM_VR_UR;
}

/* Leading spaces are insignificant for these VRs (PS3.5 Table 6.2-1). */
static int vr_trim_leading(uint16_t vr)
{
    switch (vr) {
    case DCM_VR_AE:
    case DCM_VR_AS:
    case DCM_VR_CS:
    case DCM_VR_DA:
    case DCM_VR_DS:
    case DCM_VR_DT:
    case DCM_VR_IS:
    case DCM_VR_LO:
    case DCM_VR_SH:
    case DCM_VR_TM:
    case DCM_VR_UI:
        return 1;
    default:
        return 0;
    }
}

void dcm__trim(uint16_t vr, const uint8_t **p, size_t *n)
{
    const uint8_t *s = *p;
    size_t k = *n;
    while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == 0))
        k--;
    if (vr_trim_leading(vr))
        while (k > 0 && s[0] == ' ') {
            s++;
            k--;
        }
    *p = s;
    *n = k;
}

static const uint8_t *value_of(const dcm_elem *e, size_t *n)
{
    if (e->flags & (DCM__F_SEQ | DCM__F_ENCAP) || e->value == NULL) {
        *n = 0;
        return (const uint8_t *)"";
    }
    *n = e->len;
    return e->value;
}

/* The idx-th '\'-separated raw value (untrimmed). 0 on success, -1 if absent. */
static int nth_value(const uint8_t *p, size_t n, size_t idx, const uint8_t **vp, size_t *vn)
{
    size_t start = 0, k = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '\\')
            continue;
        if (k == idx) {
            *vp = p + start;
            *vn = i - start;
            return 0;
        }
        k++;
        start = i + 1;
    }
    return -1;
}

size_t dcm_elem_vm(const dcm_elem *e)
{
    if (e->flags & DCM__F_SEQ)
        return e->nitems;
    if (e->flags & DCM__F_ENCAP)
        return 1;
    size_t n;
    const uint8_t *p = value_of(e, &n);
    if (dcm_vr_is_text(e->vr)) {
        const uint8_t *t = p;
        size_t tn = n;
        dcm__trim(e->vr, &t, &tn);
        if (tn == 0)
            return 0;
        if (!vr_multi(e->vr))
            return 1;
        size_t vm = 1;
        for (size_t i = 0; i < n; i++)
            vm += p[i] == '\\';
        return vm;
    }
    if (dcm__vr_is_binary(e->vr))
        return n ? 1 : 0;
    return n / dcm__vr_unit(e->vr);
}

static ms_rc decode_one(const dcm_elem *e, const uint8_t *p, size_t n, ms_buf *out, ms_err *err)
{
    dcm__trim(e->vr, &p, &n);
    return dcm__decode_text(e->ds, e->vr, p, n, out, err);
}

ms_rc dcm_elem_text(const dcm_elem *e, ms_buf *out, ms_err *err)
{
    if (e == NULL || !dcm_vr_is_text(e->vr))
        return ms_fail(err, MS_E_INVAL, "text: not a text element");
    size_t n;
    const uint8_t *p = value_of(e, &n);
    if (!vr_multi(e->vr))
        return decode_one(e, p, n, out, err);
    const uint8_t *t = p;
    size_t tn = n;
    dcm__trim(e->vr, &t, &tn); /* an all-padding value is empty, not one empty value */
    if (tn == 0)
        return ms_buf_reserve(out, 0, err);
    ms_rc rc = MS_OK;
    const uint8_t *vp;
    size_t vn;
    for (size_t i = 0; rc == MS_OK && nth_value(p, n, i, &vp, &vn) == 0; i++) {
        if (i > 0)
            rc = ms_buf_append_byte(out, '\\', err);
        if (rc == MS_OK)
            rc = decode_one(e, vp, vn, out, err);
    }
    return rc;
}

ms_rc dcm_elem_text_at(const dcm_elem *e, size_t idx, ms_buf *out, ms_err *err)
{
    if (e == NULL || !dcm_vr_is_text(e->vr))
        return ms_fail(err, MS_E_INVAL, "text: not a text element");
    if (idx >= dcm_elem_vm(e))
        return ms_fail(err, MS_E_NOTFOUND, "(%04X,%04X) has no value %zu", DCM_GROUP(e->tag),
                       DCM_ELEMENT(e->tag), idx);
    size_t n;
    const uint8_t *p = value_of(e, &n);
    if (!vr_multi(e->vr))
        return decode_one(e, p, n, out, err);
    const uint8_t *vp;
    size_t vn;
    if (nth_value(p, n, idx, &vp, &vn) != 0)
        return ms_fail(err, MS_E_NOTFOUND, "(%04X,%04X) has no value %zu", DCM_GROUP(e->tag),
                       DCM_ELEMENT(e->tag), idx);
    return decode_one(e, vp, vn, out, err);
}

/* A DS or IS value as a double: the whole trimmed text must parse. */
int dcm__parse_number(const uint8_t *p, size_t n, double *out)
{
    char buf[72];
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == 0))
        n--;
    while (n > 0 && p[0] == ' ') {
        p++;
        n--;
    }
    if (n == 0 || n >= sizeof buf)
        return -1;
    for (size_t i = 0; i < n; i++) { /* digits, sign, point, exponent only (no hex, inf, nan) */
        uint8_t c = p[i];
        if (!((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E'))
            return -1;
    }
    memcpy(buf, p, n);
    buf[n] = 0;
    char *end;
    double v = strtod(buf, &end);
    if (end != buf + n || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static uint64_t load_n(const uint8_t *p, size_t unit, int big)
{
    uint64_t v = 0;
    for (size_t i = 0; i < unit; i++)
        v = big ? (v << 8) | p[i] : v | ((uint64_t)p[i] << (8 * i));
    return v;
}

double dcm__binary_number(uint16_t vr, const uint8_t *p, int big)
{
    size_t unit = dcm__vr_unit(vr);
    uint64_t v = load_n(p, unit, big);
    switch (vr) {
    case DCM_VR_SS:
        return (double)(int16_t)(uint16_t)v;
    case DCM_VR_SL:
        return (double)(int32_t)(uint32_t)v;
    case DCM_VR_SV:
        return (double)(int64_t)v;
    case DCM_VR_FL:
    case DCM_VR_OF: {
        uint32_t u = (uint32_t)v;
        float f;
        memcpy(&f, &u, sizeof f);
        return (double)f;
    }
    case DCM_VR_FD:
    case DCM_VR_OD: {
        double d;
        memcpy(&d, &v, sizeof d);
        return d;
    }
    case DCM_VR_AT:
        if (big)
            return (double)v;
        return (double)((v & 0xFFFFu) << 16 | (v >> 16));
    default:
        return (double)v;
    }
}

static int numeric_binary(uint16_t vr)
{
    switch (vr) {
    case DCM_VR_SS:
    case DCM_VR_US:
    case DCM_VR_SL:
    case DCM_VR_UL:
    case DCM_VR_SV:
    case DCM_VR_UV:
    case DCM_VR_FL:
    case DCM_VR_FD:
    case DCM_VR_OF:
    case DCM_VR_OD:
    case DCM_VR_AT:
    case DCM_VR_OL:
    case DCM_VR_OW:
    case DCM_VR_OV:
        return 1;
    default:
        return 0;
    }
}

ms_rc dcm_elem_number(const dcm_elem *e, size_t idx, double *out, ms_err *err)
{
    if (e == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "number: NULL argument");
    size_t n;
    const uint8_t *p = value_of(e, &n);
    if (e->vr == DCM_VR_DS || e->vr == DCM_VR_IS) {
        const uint8_t *vp;
        size_t vn;
        if (nth_value(p, n, idx, &vp, &vn) != 0 || dcm_elem_vm(e) <= idx)
            return ms_fail(err, MS_E_NOTFOUND, "(%04X,%04X) has no value %zu", DCM_GROUP(e->tag),
                           DCM_ELEMENT(e->tag), idx);
        if (dcm__parse_number(vp, vn, out) != 0)
            return ms_fail(err, MS_E_FORMAT, "(%04X,%04X) value %zu is not a number",
                           DCM_GROUP(e->tag), DCM_ELEMENT(e->tag), idx);
        return MS_OK;
    }
    if (!numeric_binary(e->vr))
        return ms_fail(err, MS_E_INVAL, "(%04X,%04X) is not numeric", DCM_GROUP(e->tag),
                       DCM_ELEMENT(e->tag));
    size_t unit = dcm__vr_unit(e->vr);
    if (idx >= n / unit)
        return ms_fail(err, MS_E_NOTFOUND, "(%04X,%04X) has no value %zu", DCM_GROUP(e->tag),
                       DCM_ELEMENT(e->tag), idx);
    *out = dcm__binary_number(e->vr, p + idx * unit, e->ds->file->big_endian);
    return MS_OK;
}

ms_rc dcm_dataset_text(const dcm_dataset *ds, uint32_t tag, ms_buf *out, ms_err *err)
{
    const dcm_elem *e = dcm_dataset_find(ds, tag);
    if (e == NULL || dcm_elem_vm(e) == 0)
        return ms_fail(err, MS_E_NOTFOUND, "(%04X,%04X) absent or empty", DCM_GROUP(tag),
                       DCM_ELEMENT(tag));
    return dcm_elem_text(e, out, err);
}

ms_rc dcm_dataset_number(const dcm_dataset *ds, uint32_t tag, size_t idx, double *out, ms_err *err)
{
    const dcm_elem *e = dcm_dataset_find(ds, tag);
    if (e == NULL || dcm_elem_vm(e) == 0)
        return ms_fail(err, MS_E_NOTFOUND, "(%04X,%04X) absent or empty", DCM_GROUP(tag),
                       DCM_ELEMENT(tag));
    return dcm_elem_number(e, idx, out, err);
}

/* ---- ambiguous VRs (pydicom filewriter._correct_ambiguous_vr_element) ---- */

static int first_number(const dcm_dataset *ds, uint32_t tag, double *v)
{
    const dcm_elem *e = dcm_dataset_find(ds, tag);
    if (e == NULL)
        return -1;
    size_t n;
    const uint8_t *p = value_of(e, &n);
    if (e->vr == DCM_VR_IS || e->vr == DCM_VR_DS)
        return dcm__parse_number(p, n, v);
    if (n < 2)
        return -1;
    *v = (double)load_n(p, 2, ds->file->big_endian);
    return 0;
}

static uint16_t resolve_us_ss(const dcm_elem *e)
{
    const dcm_dataset *d = e->ds;
    while (dcm_dataset_find(d, DCM_TAG(0x0028, 0x0103)) == NULL && d->parent != NULL)
        d = d->parent->ds;
    double pr;
    if (first_number(d, DCM_TAG(0x0028, 0x0103), &pr) != 0)
        return DCM_VR_US;
    return pr == 0 ? DCM_VR_US : DCM_VR_SS;
}

static uint16_t resolve(const dcm_elem *e)
{
    const dcm_dataset *d = e->ds;
    int implicit = !d->file->explicit_vr;
    double v;
    switch (e->vr) {
    case DCM__VR_PX:
        if (e->flags & DCM__F_ENCAP)
            return DCM_VR_OB;
        if (implicit)
            return DCM_VR_OW;
        return (first_number(d, DCM_TAG(0x0028, 0x0100), &v) == 0 && v > 8) ? DCM_VR_OW : DCM_VR_OB;
    case DCM__VR_XS:
        return resolve_us_ss(e);
    case DCM__VR_LT:
        return (first_number(d, DCM_TAG(0x0028, 0x3002), &v) == 0 && v == 1) ? DCM_VR_US
                                                                             : DCM_VR_OW;
    case DCM__VR_OX:
        if (implicit || (DCM_GROUP(e->tag) & 0xFF00) == 0x6000)
            return DCM_VR_OW;
        if (DCM_GROUP(e->tag) == 0x5400)
            return (first_number(d, DCM_TAG(0x5400, 0x1004), &v) == 0 && v > 8) ? DCM_VR_OW
                                                                                : DCM_VR_OB;
        return DCM_VR_OB;
    default:
        return e->vr;
    }
}

void dcm__resolve_ambiguous(dcm_dataset *ds)
{
    for (size_t i = 0; i < ds->n; i++) {
        dcm_elem *e = ds->elems[i];
        if (e->flags & DCM__F_SEQ) {
            for (size_t k = 0; k < e->nitems; k++)
                dcm__resolve_ambiguous(e->items[k]);
        } else if (e->flags & DCM__F_AMBIG) {
            e->vr = resolve(e);
            e->flags &= (uint16_t)~DCM__F_AMBIG;
        }
    }
}

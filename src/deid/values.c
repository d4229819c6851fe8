/*
 * Replacement values: dummies consistent with the VR (action D), empty values (Z), keyed UID
 * pseudonyms (U), per-patient date shifts (Modified Dates) and the 90-year age cap.
 *
 * Trusts: nothing in the values; a value that cannot be shifted or mapped is emptied, never kept.
 * Owns: nothing beyond the walk's scratch buffer.
 */
#include <string.h>

#include "internal.h"

ms_rc deid__set_ascii(dcm_dataset *ds, uint32_t tag, uint16_t vr, const char *s, ms_err *err)
{
    return dcm_dataset_set_bytes(ds, tag, vr, (const uint8_t *)s, strlen(s), err);
}

/* A dummy text for a text VR, within the VR's length limit (PS3.5 Table 6.2-1). */
static const char *dummy_text(uint16_t vr)
{
    switch (vr) {
    case DCM_VR_DA:
        return "19000101";
    case DCM_VR_DT:
        return "19000101000000";
    case DCM_VR_TM:
        return "000000";
    case DCM_VR_AS:
        return "000Y";
    case DCM_VR_DS:
    case DCM_VR_IS:
        return "0";
    default:
        return "ANONYMIZED"; /* AE CS LO LT PN SH ST UC UR UT: 10 characters fit every one */
    }
}

/* Size of one binary value, for a dummy of zeros. */
static size_t binary_unit(uint16_t vr)
{
    switch (vr) {
    case DCM_VR_UL:
    case DCM_VR_SL:
    case DCM_VR_FL:
    case DCM_VR_AT:
    case DCM_VR_OF:
    case DCM_VR_OL:
        return 4;
    case DCM_VR_FD:
    case DCM_VR_SV:
    case DCM_VR_UV:
    case DCM_VR_OD:
    case DCM_VR_OV:
        return 8;
    default:
        return 2; /* US SS OB OW UN: even length */
    }
}

ms_rc deid__set_dummy(struct deid_walk *w, dcm_dataset *ds, const dcm_elem *e, ms_err *err)
{
    uint16_t vr = dcm_elem_vr(e);
    uint32_t tag = dcm_elem_tag(e);
    if (vr == DCM_VR_UI)
        return deid__map_uids(w, ds, e, err);
    if (dcm_vr_is_text(vr))
        return deid__set_ascii(ds, tag, vr, dummy_text(vr), err);
    static const uint8_t zeros[8] = {0};
    return dcm_dataset_set_bytes(ds, tag, vr, zeros, binary_unit(vr), err);
}

ms_rc deid__set_empty(struct deid_walk *w, dcm_dataset *ds, const dcm_elem *e, ms_err *err)
{
    (void)w;
    uint32_t tag = dcm_elem_tag(e);
    if (dcm_elem_is_sequence(e)) {
        dcm_elem *seq;
        return dcm_dataset_set_sequence(ds, tag, &seq, err);
    }
    return dcm_dataset_set_bytes(ds, tag, dcm_elem_vr(e), NULL, 0, err);
}

/* Trailing NUL and space padding removed; leading spaces too (UIDs have none that matter). */
static void trim(const uint8_t **p, size_t *n)
{
    while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\0'))
        (*n)--;
    while (*n > 0 && (*p)[0] == ' ') {
        (*p)++;
        (*n)--;
    }
}

/* Appends the pseudonym of one UID value to w->tmp. */
static ms_rc map_one(struct deid_walk *w, const uint8_t *v, size_t n, ms_err *err)
{
    char out[MS_UID_MAX];
    trim(&v, &n);
    if (n == 0)
        return MS_OK;
    ms_rc rc = deid__cached_uid(w->cache, w->ctx, (const char *)v, n, out, err);
    if (rc == MS_OK)
        rc = ms_buf_append_str(&w->tmp, out, err);
    ms_memzero(out, sizeof out);
    return rc;
}

ms_rc deid__map_uids(struct deid_walk *w, dcm_dataset *ds, const dcm_elem *e, ms_err *err)
{
    size_t len = 0;
    const uint8_t *v = dcm_elem_bytes(e, &len);
    uint32_t tag = dcm_elem_tag(e);
    ms_buf_reset(&w->tmp);
    ms_rc rc = MS_OK;
    size_t start = 0;
    for (size_t i = 0; i <= len && rc == MS_OK; i++) {
        if (i < len && v[i] != '\\')
            continue;
        if (start > 0)
            rc = ms_buf_append_byte(&w->tmp, '\\', err);
        if (rc == MS_OK)
            rc = map_one(w, v + start, i - start, err);
        start = i + 1;
    }
    if (rc != MS_OK)
        return rc;
    w->res->n[DEID_N_UID]++;
    return dcm_dataset_set_bytes(ds, tag, DCM_VR_UI, w->tmp.p, w->tmp.len, err);
}

/* Shifts one DA ("YYYYMMDD") or DT ("YYYYMMDD[HH...][&ZZXX]") value into w->tmp. */
static ms_rc shift_one(struct deid_walk *w, uint16_t vr, const uint8_t *v, size_t n, ms_err *err)
{
    char out[9];
    trim(&v, &n);
    if (n == 0)
        return MS_OK;
    if (n < 8 || (vr == DCM_VR_DA && n != 8))
        return ms_fail(err, MS_E_FORMAT, "date of length %zu cannot be shifted", n);
    ms_rc rc = ms_da_shift((const char *)v, 8, w->date_offset, out, err);
    if (rc == MS_OK)
        rc = ms_buf_append(&w->tmp, out, 8, err);
    if (rc == MS_OK && n > 8)
        rc = ms_buf_append(&w->tmp, v + 8, n - 8, err);
    ms_memzero(out, sizeof out);
    return rc;
}

ms_rc deid__shift_dates(struct deid_walk *w, dcm_dataset *ds, const dcm_elem *e, ms_err *err)
{
    size_t len = 0;
    const uint8_t *v = dcm_elem_bytes(e, &len);
    uint16_t vr = dcm_elem_vr(e);
    uint32_t tag = dcm_elem_tag(e);
    ms_err local = {0};
    ms_rc rc = MS_OK;
    size_t start = 0;
    ms_buf_reset(&w->tmp);
    for (size_t i = 0; i <= len && rc == MS_OK; i++) {
        if (i < len && v[i] != '\\')
            continue;
        if (start > 0)
            rc = ms_buf_append_byte(&w->tmp, '\\', &local);
        if (rc == MS_OK)
            rc = shift_one(w, vr, v + start, i - start, &local);
        start = i + 1;
    }
    if (rc == MS_E_NOMEM)
        return ms_fail(err, rc, "(%04x,%04x): out of memory", DCM_GROUP(tag), DCM_ELEMENT(tag));
    if (rc != MS_OK) { /* fail closed: a date we cannot shift is not kept */
        w->res->n[DEID_N_EMPTIED]++;
        return dcm_dataset_set_bytes(ds, tag, vr, NULL, 0, err);
    }
    w->res->n[DEID_N_DATE_SHIFTED]++;
    return dcm_dataset_set_bytes(ds, tag, vr, w->tmp.p, w->tmp.len, err);
}

/* PS3.15 E.3.7 / HIPAA Safe Harbor: ages over 89 are aggregated into one category. */
ms_rc deid__cap_age(struct deid_walk *w, dcm_dataset *ds, const dcm_elem *e, ms_err *err)
{
    size_t len = 0;
    const uint8_t *v = dcm_elem_bytes(e, &len);
    trim(&v, &len);
    if (len == 0)
        return MS_OK;
    unsigned years = 0;
    int ok = len == 4 && v[3] == 'Y';
    for (size_t i = 0; ok && i < 3; i++) {
        ok = v[i] >= '0' && v[i] <= '9';
        years = years * 10 + (unsigned)(v[i] - '0');
    }
    if (!ok) { /* not "nnnY": D, W and M units never exceed 89 years; anything else goes */
        int other_unit = len == 4 && (v[3] == 'D' || v[3] == 'W' || v[3] == 'M');
        if (other_unit)
            return MS_OK;
        w->res->n[DEID_N_EMPTIED]++;
        return dcm_dataset_set_bytes(ds, dcm_elem_tag(e), DCM_VR_AS, NULL, 0, err);
    }
    if (years <= 89)
        return MS_OK;
    w->res->n[DEID_N_AGE_CAPPED]++;
    return deid__set_ascii(ds, dcm_elem_tag(e), DCM_VR_AS, "090Y", err);
}

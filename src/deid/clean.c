/*
 * Action C on text (Clean Descriptors, Clean Structured Content, Clean Graphics, and the C of
 * Retain Device Identity / Patient Characteristics): the value goes through the text scrubber
 * (phi_scrub, tag mode) with the patient's identity read from the header before anything was
 * changed, so every known variant of the name, ids, birth date, address and phone goes.
 * Fail closed: if the scrubber fails, the attribute is removed, never kept raw.
 *
 * Trusts: nothing in the values. Owns: the identity strings and the per-file phi context (both
 * wiped and freed by deid__clean_end).
 */
#include <string.h>

#include "internal.h"
#include "medseal/phi.h"

/* Maximum value length in bytes we write back per VR (PS3.5 Table 6.2-1; characters = bytes for
 * the single-byte results the scrubber produces in tag mode). 0 = no limit. */
static size_t vr_max(uint16_t vr)
{
    switch (vr) {
    case DCM_VR_SH:
    case DCM_VR_AE:
    case DCM_VR_CS:
        return 16;
    case DCM_VR_LO:
    case DCM_VR_PN:
        return 64;
    case DCM_VR_ST:
        return 1024;
    case DCM_VR_LT:
        return 10240;
    default:
        return 0;
    }
}

/* Tags whose text is captured as the identity (read before the walk changes anything). */
static const uint32_t ident_tags[DEID_IDENT_COUNT] = {
    DCM_TAG(0x0010, 0x0010), /* PatientName */
    DCM_TAG(0x0010, 0x0020), /* PatientID */
    DCM_TAG(0x0010, 0x0021), /* IssuerOfPatientID */
    DCM_TAG(0x0010, 0x0030), /* PatientBirthDate */
    DCM_TAG(0x0010, 0x1040), /* PatientAddress */
    DCM_TAG(0x0010, 0x2154), /* PatientTelephoneNumbers */
    DCM_TAG(0x0008, 0x0050), /* AccessionNumber */
    DCM_TAG(0x0010, 0x1000), /* OtherPatientIDs */
    DCM_TAG(0x0020, 0x0010), /* StudyID */
    DCM_TAG(0x0008, 0x0090), /* ReferringPhysicianName */
    DCM_TAG(0x0008, 0x1050), /* PerformingPhysicianName */
    DCM_TAG(0x0008, 0x1070), /* OperatorsName */
    DCM_TAG(0x0008, 0x1048), /* PhysiciansOfRecord */
    DCM_TAG(0x0032, 0x1032), /* RequestingPhysician */
    DCM_TAG(0x0008, 0x0080), /* InstitutionName */
    DCM_TAG(0x0008, 0x0081), /* InstitutionAddress */
    DCM_TAG(0x0008, 0x1010), /* StationName */
};

ms_rc deid__clean_begin(struct deid_walk *w, const dcm_dataset *ds, ms_err *err)
{
    memset(w->ident, 0, sizeof w->ident);
    w->phi = NULL;
    if (!w->needs_clean)
        return MS_OK;
    ms_buf b;
    ms_buf_init(&b, NULL, 1 << 16);
    ms_rc rc = MS_OK;
    for (size_t i = 0; rc == MS_OK && i < DEID_IDENT_COUNT; i++) {
        ms_buf_reset(&b);
        rc = deid__text_or_empty(ds, ident_tags[i], &b, err);
        if (rc == MS_OK && b.len > 0) {
            w->ident[i] = ms_strndup(NULL, (const char *)b.p, b.len);
            if (w->ident[i] == NULL)
                rc = ms_fail(err, MS_E_NOMEM, "identity: out of memory");
        }
    }
    ms_buf_free(&b);
    return rc; /* an incomplete identity would let variants through: fail the file */
}

void deid__clean_end(struct deid_walk *w)
{
    phi_ctx_free(w->phi);
    w->phi = NULL;
    for (size_t i = 0; i < DEID_IDENT_COUNT; i++) {
        ms_free(NULL, w->ident[i]);
        w->ident[i] = NULL;
    }
}

static ms_rc phi_start(struct deid_walk *w, ms_err *err)
{
    phi_identity id;
    memset(&id, 0, sizeof id);
    char *const *v = w->ident;
    id.dicom_name = v[0];
    id.patient_id = v[1];
    id.issuer = v[2];
    id.birth_date = v[3];
    id.address = v[4];
    id.phones[0] = v[5];
    id.accessions[0] = v[6];
    id.other_ids[0] = v[7];
    id.other_ids[1] = v[8];
    for (size_t i = 0; i < 5; i++)
        id.names[i] = v[9 + i];
    id.places[0] = v[14];
    id.places[1] = v[15];
    id.places[2] = v[16];
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.mode = PHI_MODE_TAG;
    o.key = w->ctx->key;
    o.identity = &id;
    phi_ctx *p = NULL;
    ms_rc rc = phi_ctx_new(&o, &p, err);
    if (rc == MS_OK)
        w->phi = p;
    return rc;
}

/* Scrubs the element's text into w->tmp; any failure leaves w->tmp empty and returns non-OK. */
static ms_rc scrub(struct deid_walk *w, const dcm_elem *e, ms_err *err)
{
    ms_buf text;
    ms_buf_init(&text, NULL, 0);
    ms_rc rc = w->phi ? MS_OK : phi_start(w, err);
    if (rc == MS_OK)
        rc = dcm_elem_text(e, &text, err);
    ms_buf_reset(&w->tmp);
    if (rc == MS_OK)
        rc = phi_scrub(w->phi, (const char *)text.p, text.len, &w->tmp, NULL, NULL, err);
    ms_buf_free(&text);
    if (rc != MS_OK)
        ms_buf_reset(&w->tmp);
    return rc;
}

/* Cuts w->tmp to the VR's maximum at a UTF-8 character boundary. */
static void fit(struct deid_walk *w, uint16_t vr)
{
    size_t max = vr_max(vr);
    if (max == 0 || w->tmp.len <= max)
        return;
    size_t n = max;
    while (n > 0 && (w->tmp.p[n] & 0xc0) == 0x80)
        n--;
    ms_memzero(w->tmp.p + n, w->tmp.len - n);
    w->tmp.len = n;
}

ms_rc deid__clean_text(struct deid_walk *w, dcm_dataset *ds, const dcm_elem *e, ms_err *err)
{
    uint32_t tag = dcm_elem_tag(e);
    uint16_t vr = dcm_elem_vr(e);
    ms_err local = {0};
    if (scrub(w, e, &local) == MS_OK) {
        fit(w, vr);
        if (dcm_dataset_set_text(ds, tag, vr, (const char *)w->tmp.p, &local) == MS_OK) {
            w->res->n[DEID_N_CLEANED]++;
            return MS_OK;
        }
    }
    if (local.code == MS_E_NOMEM)
        return ms_fail(err, MS_E_NOMEM, "(%04x,%04x): out of memory while cleaning", DCM_GROUP(tag),
                       DCM_ELEMENT(tag));
    /* fail closed: the scrubber failed, the attribute goes */
    w->res->n[DEID_N_REMOVED]++;
    return dcm_dataset_remove(ds, tag, err);
}

/*
 * The record of what was done (PS3.15 E.1.1 and E.3.6; PS3.3 C.7.1.1): PatientIdentityRemoved
 * (0012,0062) = YES, DeidentificationMethod (0012,0063), DeidentificationMethodCodeSequence
 * (0012,0064) with the CID 7050 codes of the profile and options used, and
 * LongitudinalTemporalInformationModified (0028,0303). Also rewrites the File Meta Information:
 * only the attributes a reader needs are kept, the instance UID follows (0008,0018), and the
 * implementation is medseal's.
 *
 * Trusts: nothing. Owns: nothing.
 */
#include <string.h>

#include "internal.h"

/* medseal's Implementation Class UID (a 2.25 UUID-derived UID, PS3.5 B.2). */
#define MEDSEAL_IMPL_UID  "2.25.159381437729685222598898792992031707738"
#define MEDSEAL_IMPL_NAME "MEDSEAL_" MS_VERSION

static ms_rc add_code(dcm_elem *seq, const char *value, const char *meaning, ms_err *err)
{
    dcm_dataset *item;
    ms_rc rc = dcm_elem_item_append(seq, &item, err);
    if (rc == MS_OK)
        rc = deid__set_ascii(item, DCM_TAG(0x0008, 0x0100), DCM_VR_SH, value, err);
    if (rc == MS_OK)
        rc = deid__set_ascii(item, DCM_TAG(0x0008, 0x0102), DCM_VR_SH, "DCM", err);
    if (rc == MS_OK)
        rc = deid__set_ascii(item, DCM_TAG(0x0008, 0x0104), DCM_VR_LO, meaning, err);
    return rc;
}

static ms_rc method_codes(struct deid_walk *w, dcm_dataset *ds, ms_err *err)
{
    dcm_elem *seq;
    ms_rc rc = dcm_dataset_set_sequence(ds, DCM_TAG(0x0012, 0x0064), &seq, err);
    if (rc == MS_OK)
        rc = add_code(seq, "113100", "Basic Application Confidentiality Profile", err);
    if (rc == MS_OK && w->res->blanked)
        rc = add_code(seq, "113101", "Clean Pixel Data Option", err);
    for (int o = 0; rc == MS_OK && o < DEID_OPT_COUNT; o++)
        if (w->ctx->opts.options & DEID_OPT_BIT(o))
            rc = add_code(seq, deid_option_code(o), deid_option_meaning(o), err);
    return rc;
}

static const char *temporal(const deid_ctx *ctx)
{
    if (ctx->opts.options & DEID_OPT_BIT(DEID_OPT_MODIFIED_DATES))
        return "MODIFIED";
    if (ctx->opts.options & DEID_OPT_BIT(DEID_OPT_FULL_DATES))
        return "UNMODIFIED";
    return "REMOVED";
}

/* Meta `to` takes the (de-identified) value of dataset `from`; without one, its own value is
 * mapped like any other UID outside the DICOM root. */
static ms_rc copy_uid(struct deid_walk *w, const dcm_dataset *ds, uint32_t from, dcm_dataset *m,
                      uint32_t to, ms_err *err)
{
    dcm_elem *src = dcm_dataset_find(ds, from);
    size_t n = 0;
    const uint8_t *v = src != NULL ? dcm_elem_bytes(src, &n) : NULL;
    if (v != NULL && n > 0)
        return dcm_dataset_set_bytes(m, to, DCM_VR_UI, v, n, err);
    dcm_elem *own = dcm_dataset_find(m, to);
    if (own == NULL || to == DCM_TAG(2, 2))
        return MS_OK; /* a class UID alone identifies nothing */
    return deid__map_uids(w, m, own, err);
}

/* Keeps (0002,0001) version, (0002,0002) class, (0002,0003) instance, (0002,0010) syntax; the
 * rest (source/sending/receiving AE titles, private information) goes. */
static ms_rc meta(struct deid_walk *w, dcm_file *f, ms_err *err)
{
    dcm_dataset *m = dcm_file_meta(f);
    dcm_dataset *ds = dcm_file_dataset(f);
    ms_rc rc = MS_OK;
    for (size_t i = dcm_dataset_count(m); rc == MS_OK && i-- > 0;) {
        uint32_t t = dcm_elem_tag(dcm_dataset_at(m, i));
        if (t != DCM_TAG(2, 1) && t != DCM_TAG(2, 2) && t != DCM_TAG(2, 3) && t != DCM_TAG(2, 0x10))
            rc = dcm_dataset_remove(m, t, err);
    }
    if (rc != MS_OK || !dcm_file_has_meta(f))
        return rc;
    /* the instance and class UIDs follow the dataset's, already de-identified */
    rc = copy_uid(w, ds, DCM_TAG(0x0008, 0x0018), m, DCM_TAG(2, 3), err);
    if (rc == MS_OK)
        rc = copy_uid(w, ds, DCM_TAG(0x0008, 0x0016), m, DCM_TAG(2, 2), err);
    if (rc == MS_OK)
        rc = deid__set_ascii(m, DCM_TAG(2, 0x12), DCM_VR_UI, MEDSEAL_IMPL_UID, err);
    if (rc == MS_OK)
        rc = deid__set_ascii(m, DCM_TAG(2, 0x13), DCM_VR_SH, MEDSEAL_IMPL_NAME, err);
    return rc;
}

ms_rc deid__record(struct deid_walk *w, dcm_file *f, ms_err *err)
{
    dcm_dataset *ds = dcm_file_dataset(f);
    ms_rc rc = deid__set_ascii(ds, DCM_TAG(0x0012, 0x0062), DCM_VR_CS, "YES", err);
    if (rc == MS_OK)
        rc = deid__set_ascii(ds, DCM_TAG(0x0012, 0x0063), DCM_VR_LO,
                             "medseal " MS_VERSION " PS3.15 E.1-1 2024b", err);
    if (rc == MS_OK)
        rc = method_codes(w, ds, err);
    if (rc == MS_OK)
        rc = deid__set_ascii(ds, DCM_TAG(0x0028, 0x0303), DCM_VR_CS, temporal(w->ctx), err);
    if (rc == MS_OK)
        rc = meta(w, f, err);
    return rc;
}

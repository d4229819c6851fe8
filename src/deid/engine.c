/*
 * The walk: applies the profile to every element of a dataset and, recursively, of every item of
 * every sequence kept. Order per dataset: private attributes (private.c), then the public ones from
 * the last to the first (so a removal never shifts an element still to visit).
 *
 * Beyond Table E.1-1 (documented in README.md), for attributes the table does not list:
 *  - unknown or retired public tags of a PHI-prone VR are removed (unless keep_unknown);
 *  - DA/DT/TM follow the date options (removed, kept, or shifted) so no date escapes;
 *  - PN is removed (a dummy inside a D sequence, cleaned inside a C sequence);
 *  - free text (LT ST UT UC) inside a sequence whose action is D becomes a dummy and inside one
 *    whose action is C is cleaned (e.g. TextValue in an SR Content Sequence);
 *  - UI values outside the DICOM root 1.2.840.10008 are replaced by their pseudonym;
 *  - group lengths (gggg,0000) are removed; curves (50xx) and overlays (60xx) go as a whole.
 * PatientID and PatientName become the patient pseudonym wherever they appear.
 *
 * Trusts: nothing; depth is bounded by DCM_MAX_DEPTH. Owns: nothing.
 */
#include <string.h>

#include "internal.h"

#define TAG_PATIENT_NAME DCM_TAG(0x0010, 0x0010)
#define TAG_PATIENT_ID   DCM_TAG(0x0010, 0x0020)
#define TAG_ISSUER       DCM_TAG(0x0010, 0x0021)

/* Internal pseudo-actions for attributes outside the table. */
enum { A_UNKNOWN = 100, A_UID_NONSTD };

static int phi_prone(uint16_t vr)
{
    switch (vr) {
    case DCM_VR_PN:
    case DCM_VR_LO:
    case DCM_VR_LT:
    case DCM_VR_ST:
    case DCM_VR_UT:
    case DCM_VR_SH:
    case DCM_VR_DA:
    case DCM_VR_DT:
    case DCM_VR_TM:
    case DCM_VR_AS:
    case DCM_VR_UC:
    case DCM_VR_UN:
        return 1;
    default:
        return 0;
    }
}

static int date_policy(const deid_ctx *ctx)
{
    if (ctx->opts.options & DEID_OPT_BIT(DEID_OPT_FULL_DATES))
        return DEID_A_K;
    if (ctx->opts.options & DEID_OPT_BIT(DEID_OPT_MODIFIED_DATES))
        return DEID_A_C;
    return DEID_A_X;
}

static int by_mode(int mode, int otherwise)
{
    if (mode == DEID_MODE_DUMMY)
        return DEID_A_D;
    if (mode == DEID_MODE_CLEAN)
        return DEID_A_C;
    return otherwise;
}

/* The action for an attribute Table E.1-1 does not list (see the file comment). */
static int supplement(const struct deid_walk *w, const dcm_elem *e, int mode)
{
    uint16_t vr = dcm_elem_vr(e);
    const dcm_dict_entry *d = dcm_dict_lookup(dcm_elem_tag(e));
    if ((d == NULL || d->retired) && phi_prone(vr) && !w->ctx->opts.keep_unknown)
        return A_UNKNOWN;
    switch (vr) {
    case DCM_VR_DA:
    case DCM_VR_DT:
    case DCM_VR_TM:
        return date_policy(w->ctx);
    case DCM_VR_PN:
        return by_mode(mode, DEID_A_X);
    case DCM_VR_LT:
    case DCM_VR_ST:
    case DCM_VR_UT:
    case DCM_VR_UC:
        return by_mode(mode, DEID_A_K);
    case DCM_VR_UI:
        return A_UID_NONSTD;
    default:
        return DEID_A_K;
    }
}

static ms_rc remove_counted(struct deid_walk *w, dcm_dataset *ds, uint32_t tag, int counter,
                            ms_err *err)
{
    w->res->n[counter]++;
    return dcm_dataset_remove(ds, tag, err);
}

static ms_rc recurse(struct deid_walk *w, dcm_elem *seq, const char *pseudonym, int mode,
                     size_t depth, ms_err *err)
{
    size_t n = dcm_elem_item_count(seq);
    for (size_t i = 0; i < n; i++) {
        ms_rc rc = deid__walk(w, dcm_elem_item(seq, i), pseudonym, mode, depth + 1, err);
        if (rc != MS_OK)
            return rc;
    }
    return MS_OK;
}

static int max_mode(int a, int b)
{
    return a > b ? a : b;
}

/* 1 when every value of a UI element is under the DICOM root (transfer syntaxes, SOP classes,
 * coding schemes...): those identify nothing. */
static int standard_uids(const dcm_elem *e)
{
    static const char root[] = "1.2.840.10008.";
    size_t len = 0, start = 0;
    const uint8_t *v = dcm_elem_bytes(e, &len);
    for (size_t i = 0; i <= len; i++) {
        if (i < len && v[i] != '\\')
            continue;
        size_t n = i - start;
        while (n > 0 && (v[start + n - 1] == ' ' || v[start + n - 1] == '\0'))
            n--;
        if (n > 0 && (n < sizeof root - 1 || memcmp(v + start, root, sizeof root - 1) != 0))
            return 0;
        start = i + 1;
    }
    return 1;
}

/* C on a single value: dates shift, times and numbers stay, ages are capped, text is cleaned. */
static ms_rc clean_value(struct deid_walk *w, dcm_dataset *ds, dcm_elem *e, ms_err *err)
{
    uint16_t vr = dcm_elem_vr(e);
    int modified = (w->ctx->opts.options & DEID_OPT_BIT(DEID_OPT_MODIFIED_DATES)) != 0;
    if (vr == DCM_VR_DA || vr == DCM_VR_DT) {
        if (modified)
            return deid__shift_dates(w, ds, e, err);
        return remove_counted(w, ds, dcm_elem_tag(e), DEID_N_REMOVED, err);
    }
    if (vr == DCM_VR_AS)
        return deid__cap_age(w, ds, e, err);
    if (vr == DCM_VR_TM || !dcm_vr_is_text(vr) || vr == DCM_VR_DS || vr == DCM_VR_IS ||
        vr == DCM_VR_UI) {
        w->res->n[DEID_N_KEPT]++;
        return MS_OK;
    }
    return deid__clean_text(w, ds, e, err);
}

static ms_rc apply(struct deid_walk *w, dcm_dataset *ds, dcm_elem *e, int a, const char *pseudo,
                   int mode, size_t depth, ms_err *err)
{
    uint32_t tag = dcm_elem_tag(e);
    int seq = dcm_elem_is_sequence(e);
    switch (a) {
    case DEID_A_X:
        return remove_counted(w, ds, tag, DEID_N_REMOVED, err);
    case A_UNKNOWN:
        return remove_counted(w, ds, tag, DEID_N_UNKNOWN_REMOVED, err);
    case DEID_A_Z:
        w->res->n[DEID_N_EMPTIED]++;
        return deid__set_empty(w, ds, e, err);
    case DEID_A_D:
        w->res->n[DEID_N_DUMMY]++;
        if (seq)
            return recurse(w, e, pseudo, max_mode(mode, DEID_MODE_DUMMY), depth, err);
        return deid__set_dummy(w, ds, e, err);
    case DEID_A_C:
        if (seq) {
            w->res->n[DEID_N_CLEANED]++;
            return recurse(w, e, pseudo, max_mode(mode, DEID_MODE_CLEAN), depth, err);
        }
        return clean_value(w, ds, e, err);
    case DEID_A_U:
        if (seq)
            return recurse(w, e, pseudo, mode, depth, err);
        if (dcm_elem_vr(e) == DCM_VR_UI)
            return deid__map_uids(w, ds, e, err);
        w->res->n[DEID_N_DUMMY]++;
        return deid__set_dummy(w, ds, e, err);
    case A_UID_NONSTD:
        if (!seq && !standard_uids(e))
            return deid__map_uids(w, ds, e, err);
        break;
    default: /* K */
        break;
    }
    w->res->n[DEID_N_KEPT]++;
    if (seq)
        return recurse(w, e, pseudo, mode, depth, err);
    if (dcm_elem_vr(e) == DCM_VR_AS)
        return deid__cap_age(w, ds, e, err);
    return MS_OK;
}

/* Curves (50xx,xxxx) and overlays (60xx,xxxx): removed as a whole (an overlay without its data
 * would break the Overlay Plane module), or with keep_overlays / Clean Graphics kept with their
 * text (Overlay Description, Label, Comments) cleaned. */
static ms_rc graphics(struct deid_walk *w, dcm_dataset *ds, dcm_elem *e, ms_err *err)
{
    const deid_opts *o = &w->ctx->opts;
    if (!o->keep_overlays && !(o->options & DEID_OPT_BIT(DEID_OPT_CLEAN_GRAPHICS)))
        return remove_counted(w, ds, dcm_elem_tag(e), DEID_N_GRAPHICS_REMOVED, err);
    if (dcm_elem_is_sequence(e))
        return remove_counted(w, ds, dcm_elem_tag(e), DEID_N_GRAPHICS_REMOVED, err);
    return clean_value(w, ds, e, err);
}

static int is_graphics_group(uint16_t g)
{
    return (g & 1) == 0 && ((g >= 0x5000 && g <= 0x50ff) || (g >= 0x6000 && g <= 0x60ff));
}

/* A public attribute that arrived as UN (explicit VR files written without the dictionary, CP-246)
 * takes its dictionary VR when that is a single one, so its action can give a value valid for it
 * (a U on a UN UID must produce a UID, not two zero bytes). The bytes are unchanged. */
static ms_rc known_vr(dcm_dataset *ds, dcm_elem **e, ms_err *err)
{
    const dcm_dict_entry *d = dcm_dict_lookup(dcm_elem_tag(*e));
    if (dcm_elem_vr(*e) != DCM_VR_UN || dcm_elem_is_sequence(*e) || d == NULL || d->vr == NULL ||
        strlen(d->vr) != 2)
        return MS_OK;
    uint16_t vr = DCM_VR(d->vr[0], d->vr[1]);
    if (vr == DCM_VR_UN || vr == DCM_VR_SQ)
        return MS_OK;
    size_t len = 0;
    const uint8_t *v = dcm_elem_bytes(*e, &len);
    uint32_t tag = dcm_elem_tag(*e);
    ms_rc rc = dcm_dataset_set_bytes(ds, tag, vr, v, len, err);
    *e = dcm_dataset_find(ds, tag);
    return rc;
}

static ms_rc element(struct deid_walk *w, dcm_dataset *ds, uint32_t tag, const char *pseudo,
                     int mode, size_t depth, ms_err *err)
{
    dcm_elem *e = dcm_dataset_find(ds, tag);
    uint16_t g = DCM_GROUP(tag);
    if (e == NULL)
        return MS_OK;
    if (!(g & 1)) {
        ms_rc rc = known_vr(ds, &e, err);
        if (rc != MS_OK || e == NULL)
            return rc;
    }
    if (g & 1) { /* a safe private attribute kept by private.c */
        return dcm_elem_is_sequence(e) ? recurse(w, e, pseudo, mode, depth, err) : MS_OK;
    }
    if (DCM_ELEMENT(tag) == 0x0000 || g == 0x0002) /* group lengths; meta never belongs here */
        return remove_counted(w, ds, tag, DEID_N_REMOVED, err);
    if (tag == TAG_PATIENT_ID || tag == TAG_PATIENT_NAME) {
        w->res->n[DEID_N_PSEUDONYM]++;
        return deid__set_ascii(ds, tag, tag == TAG_PATIENT_ID ? DCM_VR_LO : DCM_VR_PN, pseudo, err);
    }
    if (is_graphics_group(g))
        return graphics(w, ds, e, err);
    int in_table = 0;
    int a = deid__action(w->ctx, tag, &in_table);
    if (!in_table)
        a = supplement(w, e, mode);
    /* X/Z on a sequence: an empty sequence is invalid where the sequence is Type 3 (PS3.5 7.5:
     * Type 3 sequences hold one or more items when present), so remove it; Acquisition Context
     * Sequence is the one X/Z sequence that is Type 2 in its module (PS3.3 C.7.6.14). */
    if (a == DEID_A_XZ && dcm_elem_is_sequence(e) && tag != DCM_TAG(0x0040, 0x0555))
        a = DEID_A_X;
    return apply(w, ds, e, deid__resolve_compound(a), pseudo, mode, depth, err);
}

/* The text of tag into b; absent or empty reads as "" (MS_OK), other failures are errors. */
ms_rc deid__text_or_empty(const dcm_dataset *ds, uint32_t tag, ms_buf *b, ms_err *err)
{
    ms_err local = {0};
    ms_rc rc = dcm_dataset_text(ds, tag, b, &local);
    if (rc == MS_E_NOTFOUND)
        return MS_OK;
    return rc == MS_OK ? MS_OK : ms_fail(err, rc, "%s", local.msg);
}

int deid__patient_pseudonym(struct deid_walk *w, const dcm_dataset *ds, char out[MS_PSEUDO_MAX],
                            int *date_offset, ms_err *err)
{
    ms_buf id, issuer;
    ms_buf_init(&id, NULL, 1 << 16);
    ms_buf_init(&issuer, NULL, 1 << 16);
    int found = dcm_dataset_find(ds, TAG_PATIENT_ID) != NULL, days = 0;
    ms_rc rc = MS_OK;
    if (found) {
        rc = deid__text_or_empty(ds, TAG_PATIENT_ID, &id, err);
        if (rc == MS_OK)
            rc = deid__text_or_empty(ds, TAG_ISSUER, &issuer, err);
        if (rc == MS_OK)
            rc = deid__cached_patient(w->cache, w->ctx, (const char *)issuer.p, issuer.len,
                                      (const char *)id.p, id.len, out, &days, err);
        if (rc == MS_OK && date_offset != NULL)
            *date_offset = days;
    }
    ms_buf_free(&id);
    ms_buf_free(&issuer);
    return rc == MS_OK ? found : -1;
}

ms_rc deid__walk(struct deid_walk *w, dcm_dataset *ds, const char *pseudonym, int mode,
                 size_t depth, ms_err *err)
{
    if (depth > DCM_MAX_DEPTH)
        return ms_fail(err, MS_E_LIMIT, "sequences nested deeper than %d", DCM_MAX_DEPTH);
    char own[MS_PSEUDO_MAX];
    /* the top level's patient was read by deid_file_apply before anything changed */
    int has = depth == 0 ? 0 : deid__patient_pseudonym(w, ds, own, NULL, err);
    if (has < 0)
        return err ? err->code : MS_E_INTERNAL;
    ms_rc rc = deid__private(w, ds, err);
    for (size_t i = dcm_dataset_count(ds); rc == MS_OK && i-- > 0;) {
        if (i >= dcm_dataset_count(ds))
            continue;
        uint32_t tag = dcm_elem_tag(dcm_dataset_at(ds, i));
        rc = element(w, ds, tag, has ? own : pseudonym, mode, depth, err);
    }
    ms_memzero(own, sizeof own);
    return rc;
}

/*
 * The DICOM data dictionary (PS3.6/PS3.7) and VR properties. The tables are generated at build
 * time from data/dicom/dicom.dic (scripts/gen-dicom-dict.py); this file looks tags and keywords up.
 * Trusts: the generated tables (sorted by the generator). Owns: nothing; all storage is static.
 */
#include <string.h>

#include "internal.h"

static int range_match(const struct dcm__dict_range *r, uint16_t g, uint16_t e)
{
    if (g < r->glo || g > r->ghi || e < r->elo || e > r->ehi)
        return 0;
    if (r->glo != r->ghi && r->gpar != 2 && (unsigned)(g & 1u) != r->gpar)
        return 0;
    if (r->elo != r->ehi && r->epar != 2 && (unsigned)(e & 1u) != r->epar)
        return 0;
    return 1;
}

long dcm__dict_index(uint32_t tag)
{
    size_t lo = 0, hi = dcm__dict_n_exact;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (dcm__dict[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < dcm__dict_n_exact && dcm__dict[lo].tag == tag)
        return (long)lo;
    /* repeating groups and ranges; the generic group length last (most specific first) */
    uint16_t g = DCM_GROUP(tag), e = DCM_ELEMENT(tag);
    long generic = -1;
    for (size_t i = dcm__dict_n_exact; i < dcm__dict_n; i++) {
        const struct dcm__dict_range *r = &dcm__dict_range[i - dcm__dict_n_exact];
        if (!range_match(r, g, e))
            continue;
        if (r->glo == 0x0000 && r->ghi == 0xffff)
            generic = (long)i;
        else
            return (long)i;
    }
    return generic;
}

const dcm_dict_entry *dcm_dict_lookup(uint32_t tag)
{
    long i = dcm__dict_index(tag);
    return i < 0 ? NULL : &dcm__dict[i];
}

uint16_t dcm__dict_vr_of(uint32_t tag)
{
    long i = dcm__dict_index(tag);
    return i < 0 ? 0 : dcm__dict_vr[i];
}

const dcm_dict_entry *dcm_dict_by_keyword(const char *keyword)
{
    if (keyword == NULL)
        return NULL;
    size_t lo = 0, hi = dcm__dict_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(dcm__dict[dcm__dict_kw[mid]].keyword, keyword) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < dcm__dict_n && strcmp(dcm__dict[dcm__dict_kw[lo]].keyword, keyword) == 0)
        return &dcm__dict[dcm__dict_kw[lo]];
    return NULL;
}

/* ---- VR properties (PS3.5 Table 6.2-1, 7.1.2) ---- */

static const char *const vr_names[] = {
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT",
    "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST",
    "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV",
};

/* Index of vr in vr_names (sorted), or -1. */
static int vr_index(uint16_t vr)
{
    size_t lo = 0, hi = sizeof vr_names / sizeof vr_names[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint16_t m = DCM_VR(vr_names[mid][0], vr_names[mid][1]);
        if (m == vr)
            return (int)mid;
        if (m < vr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int dcm__vr_known(uint16_t vr)
{
    return vr_index(vr) >= 0;
}

const char *dcm_vr_str(uint16_t vr)
{
    int i = vr_index(vr);
    return i >= 0 ? vr_names[i] : "UN";
}

int dcm__vr_long_header(uint16_t vr)
{
    switch (vr) {
    case DCM_VR_OB:
    case DCM_VR_OD:
    case DCM_VR_OF:
    case DCM_VR_OL:
    case DCM_VR_OV:
    case DCM_VR_OW:
    case DCM_VR_SQ:
    case DCM_VR_SV:
    case DCM_VR_UC:
    case DCM_VR_UN:
    case DCM_VR_UR:
    case DCM_VR_UT:
    case DCM_VR_UV:
        return 1;
    default:
        return 0;
    }
}

int dcm_vr_is_text(uint16_t vr)
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
    case DCM_VR_LT:
    case DCM_VR_PN:
    case DCM_VR_SH:
    case DCM_VR_ST:
    case DCM_VR_TM:
    case DCM_VR_UC:
    case DCM_VR_UI:
    case DCM_VR_UR:
    case DCM_VR_UT:
        return 1;
    default:
        return 0;
    }
}

int dcm__vr_is_binary(uint16_t vr)
{
    switch (vr) {
    case DCM_VR_OB:
    case DCM_VR_OD:
    case DCM_VR_OF:
    case DCM_VR_OL:
    case DCM_VR_OV:
    case DCM_VR_OW:
    case DCM_VR_UN:
        return 1;
    default:
        return 0;
    }
}

int dcm__vr_charset(uint16_t vr)
{
    switch (vr) {
    case DCM_VR_SH:
    case DCM_VR_LO:
    case DCM_VR_ST:
    case DCM_VR_LT:
    case DCM_VR_UC:
    case DCM_VR_UT:
    case DCM_VR_PN:
        return 1;
    default:
        return 0;
    }
}

size_t dcm__vr_unit(uint16_t vr)
{
    switch (vr) {
    case DCM_VR_SS:
    case DCM_VR_US:
    case DCM_VR_OW:
        return 2;
    case DCM_VR_SL:
    case DCM_VR_UL:
    case DCM_VR_FL:
    case DCM_VR_OF:
    case DCM_VR_OL:
    case DCM_VR_AT:
        return 4;
    case DCM_VR_FD:
    case DCM_VR_OD:
    case DCM_VR_SV:
    case DCM_VR_UV:
    case DCM_VR_OV:
        return 8;
    default:
        return 1;
    }
}

uint8_t dcm__vr_pad(uint16_t vr)
{
    /* PS3.5 6.2: UI pads with NUL, other strings with space, binary with NUL */
    if (vr == DCM_VR_UI || !dcm_vr_is_text(vr))
        return 0;
    return ' ';
}

/* ---- private dictionary (pydicom datadict.get_private_entry order) ---- */

static int creator_cmp(const char *a, const char *b, size_t bn)
{
    size_t an = strlen(a);
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

uint16_t dcm__private_vr(const char *creator, size_t n, uint32_t tag)
{
    size_t lo = 0, hi = dcm__priv_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (creator_cmp(dcm__priv[mid].creator, creator, n) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint16_t g = DCM_GROUP(tag), e = DCM_ELEMENT(tag);
    uint16_t best = 0;
    int best_kind = 3;
    for (size_t i = lo; i < dcm__priv_n && creator_cmp(dcm__priv[i].creator, creator, n) == 0;
         i++) {
        const struct dcm__priv_entry *p = &dcm__priv[i];
        int match = 0;
        if (p->kind == 0)
            match = p->group == g && p->elem == e;
        else if (p->kind == 1)
            match = p->group == g && p->elem == (e & 0xFFu);
        else
            match = p->group == (g & 0xFF00u) && p->elem == (e & 0xFFu);
        if (match && p->kind < best_kind) {
            best = p->vr;
            best_kind = p->kind;
        }
    }
    return best;
}

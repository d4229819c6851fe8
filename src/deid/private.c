/*
 * Private attributes (odd groups, PS3.5 7.8): removed, or under Retain Safe Private (PS3.15
 * E.3.10) kept only when (group, element-in-block, Private Creator) is in Table E.3.10-1; a
 * Private Creator whose block keeps nothing goes too.
 *
 * Trusts: nothing; a private element whose creator is missing or unreadable is removed.
 * Owns: nothing.
 */
#include <string.h>

#include "internal.h"

static int is_safe(uint16_t group, uint8_t elem, const char *creator, size_t n)
{
    for (size_t i = 0; i < deid_safe_private_count; i++) {
        const struct deid_safe_private *s = &deid_safe_private[i];
        if (s->group == group && s->elem == elem && strlen(s->creator) == n &&
            memcmp(s->creator, creator, n) == 0)
            return 1;
    }
    return 0;
}

/* The creator of the block holding `tag`, trimmed, in w->tmp; 0 when absent. */
static int creator_of(struct deid_walk *w, const dcm_dataset *ds, uint32_t tag)
{
    uint16_t block = (uint16_t)(DCM_ELEMENT(tag) >> 8);
    ms_buf_reset(&w->tmp);
    if (dcm_dataset_text(ds, DCM_TAG(DCM_GROUP(tag), block), &w->tmp, NULL) != MS_OK)
        return 0;
    while (w->tmp.len > 0 && w->tmp.p[w->tmp.len - 1] == ' ')
        w->tmp.len--;
    return 1;
}

static ms_rc drop(struct deid_walk *w, dcm_dataset *ds, uint32_t tag, ms_err *err)
{
    w->res->n[DEID_N_PRIVATE_REMOVED]++;
    return dcm_dataset_remove(ds, tag, err);
}

/* Marks which blocks keep something: used[g][block] is too big, so keep a small list. */
struct kept_blocks {
    uint32_t creator_tag[64];
    size_t n;
    int overflow;
};

static void mark(struct kept_blocks *k, uint32_t creator_tag)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->creator_tag[i] == creator_tag)
            return;
    if (k->n < sizeof k->creator_tag / sizeof k->creator_tag[0])
        k->creator_tag[k->n++] = creator_tag;
    else
        k->overflow = 1; /* then creators are kept conservatively: they hold no identity */
}

static int marked(const struct kept_blocks *k, uint32_t creator_tag)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->creator_tag[i] == creator_tag)
            return 1;
    return k->overflow;
}

/* Data elements first (backwards, so removals do not shift what is left to visit). */
static ms_rc safe_elements(struct deid_walk *w, dcm_dataset *ds, struct kept_blocks *k, ms_err *err)
{
    for (size_t i = dcm_dataset_count(ds); i-- > 0;) {
        uint32_t tag = dcm_elem_tag(dcm_dataset_at(ds, i));
        uint16_t g = DCM_GROUP(tag), el = DCM_ELEMENT(tag);
        if (!(g & 1) || (el >= 0x0010 && el <= 0x00ff))
            continue;
        ms_rc rc = MS_OK;
        if (el < 0x0100 || g <= 0x0007 || g == 0xffff) {
            rc = drop(w, ds, tag, err); /* group length, reserved, or an illegal group */
        } else if (creator_of(w, ds, tag) &&
                   is_safe(g, (uint8_t)(el & 0xff), (const char *)w->tmp.p, w->tmp.len)) {
            mark(k, DCM_TAG(g, el >> 8));
            w->res->n[DEID_N_PRIVATE_KEPT]++;
        } else {
            rc = drop(w, ds, tag, err);
        }
        if (rc != MS_OK)
            return rc;
    }
    return MS_OK;
}

static ms_rc unused_creators(struct deid_walk *w, dcm_dataset *ds, const struct kept_blocks *k,
                             ms_err *err)
{
    for (size_t i = dcm_dataset_count(ds); i-- > 0;) {
        uint32_t tag = dcm_elem_tag(dcm_dataset_at(ds, i));
        uint16_t g = DCM_GROUP(tag), el = DCM_ELEMENT(tag);
        if (!(g & 1) || el < 0x0010 || el > 0x00ff)
            continue;
        if (g <= 0x0007 || g == 0xffff || !marked(k, tag)) {
            ms_rc rc = drop(w, ds, tag, err);
            if (rc != MS_OK)
                return rc;
        } else {
            w->res->n[DEID_N_PRIVATE_KEPT]++;
        }
    }
    return MS_OK;
}

ms_rc deid__private(struct deid_walk *w, dcm_dataset *ds, ms_err *err)
{
    struct kept_blocks k;
    memset(&k, 0, sizeof k);
    if (!(w->ctx->opts.options & DEID_OPT_BIT(DEID_OPT_SAFE_PRIVATE))) {
        for (size_t i = dcm_dataset_count(ds); i-- > 0;) {
            uint32_t tag = dcm_elem_tag(dcm_dataset_at(ds, i));
            if (DCM_GROUP(tag) & 1) {
                ms_rc rc = drop(w, ds, tag, err);
                if (rc != MS_OK)
                    return rc;
            }
        }
        return MS_OK;
    }
    ms_rc rc = safe_elements(w, ds, &k, err);
    if (rc == MS_OK)
        rc = unused_creators(w, ds, &k, err);
    return rc;
}

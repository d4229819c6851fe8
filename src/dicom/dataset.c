/*
 * Datasets and elements: the arena that holds element records, sorted element lists, the
 * accessors of include/medseal/dicom.h and the changes the de-identifier makes (remove, set).
 * Trusts: callers hold exclusive access while changing a dataset. Owns: element arrays and the
 * value blocks of changed elements (wiped on free); records live in the file's arena.
 */
#include <stdalign.h>
#include <string.h>

#include "internal.h"

#define ARENA_MIN ((size_t)16 << 10)

void *dcm__arena_alloc(dcm_file *f, size_t n)
{
    size_t align = alignof(max_align_t);
    size_t need = (n + align - 1) & ~(align - 1);
    size_t hdr = (sizeof(struct dcm__arena_blk) + align - 1) & ~(align - 1);
    struct dcm__arena_blk *b = f->arena;
    if (need < n)
        return NULL;
    if (b == NULL || b->cap - b->used < need) {
        size_t cap = need > ARENA_MIN ? need : ARENA_MIN;
        size_t total;
        if (ms_size_add(cap, hdr, &total))
            return NULL;
        b = ms_malloc(f->alloc, total);
        if (b == NULL)
            return NULL;
        b->next = f->arena;
        b->used = 0;
        b->cap = cap;
        f->arena = b;
    }
    uint8_t *p = (uint8_t *)b + hdr + b->used;
    b->used += need;
    memset(p, 0, n);
    return p;
}

void dcm__dataset_init(dcm_dataset *ds, dcm_file *f, dcm_elem *parent)
{
    memset(ds, 0, sizeof *ds);
    ds->file = f;
    ds->parent = parent;
}

dcm_elem *dcm__elem_new(dcm_file *f, uint32_t tag, uint16_t vr)
{
    dcm_elem *e = dcm__arena_alloc(f, sizeof *e);
    if (e == NULL)
        return NULL;
    e->tag = tag;
    e->vr = vr;
    e->file_off = SIZE_MAX;
    return e;
}

void dcm__elem_release(dcm_file *f, dcm_elem *e)
{
    for (size_t i = 0; i < e->nitems; i++)
        dcm__dataset_clear(e->items[i]);
    e->nitems = 0;
    e->nfrags = 0;
    if (e->flags & DCM__F_OWNED)
        ms_free(f->alloc, (void *)e->value);
    e->flags &= (uint16_t)~DCM__F_OWNED;
    e->value = NULL;
    e->len = 0;
}

void dcm__dataset_clear(dcm_dataset *ds)
{
    for (size_t i = 0; i < ds->n; i++)
        dcm__elem_release(ds->file, ds->elems[i]);
    ms_free(ds->file->alloc, ds->elems);
    ds->elems = NULL;
    ds->n = ds->cap = 0;
}

/* Index of the first element with tag >= `tag`. */
static size_t lower_bound(const dcm_dataset *ds, uint32_t tag)
{
    size_t lo = 0, hi = ds->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ds->elems[mid]->tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static ms_rc grow(dcm_dataset *ds, ms_err *err)
{
    if (ds->n < ds->cap)
        return MS_OK;
    size_t cap = ds->cap ? ds->cap * 2 : 16;
    dcm_elem **p = ms_calloc(ds->file->alloc, cap, sizeof *p);
    if (p == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory (%zu elements)", cap);
    if (ds->n)
        memcpy(p, ds->elems, ds->n * sizeof *p);
    ms_free(ds->file->alloc, ds->elems);
    ds->elems = p;
    ds->cap = cap;
    return MS_OK;
}

ms_rc dcm__dataset_add(dcm_dataset *ds, dcm_elem *e, ms_err *err)
{
    e->ds = ds;
    if (ds->n > 0 && ds->elems[ds->n - 1]->tag < e->tag) {
        if (grow(ds, err))
            return MS_E_NOMEM;
        ds->elems[ds->n++] = e;
        return MS_OK;
    }
    size_t i = lower_bound(ds, e->tag);
    if (i < ds->n && ds->elems[i]->tag == e->tag) {
        dcm__elem_release(ds->file, ds->elems[i]); /* a duplicate replaces the earlier one */
        ds->elems[i] = e;
        return MS_OK;
    }
    if (grow(ds, err))
        return MS_E_NOMEM;
    memmove(&ds->elems[i + 1], &ds->elems[i], (ds->n - i) * sizeof *ds->elems);
    ds->elems[i] = e;
    ds->n++;
    return MS_OK;
}

ms_rc dcm__elem_add_item(dcm_elem *seq, dcm_dataset **item, ms_err *err)
{
    dcm_file *f = seq->ds->file;
    if (seq->nitems == seq->items_cap) {
        size_t cap = seq->items_cap ? seq->items_cap * 2 : 4;
        dcm_dataset **p = dcm__arena_alloc(f, cap * sizeof *p);
        if (p == NULL)
            return ms_fail(err, MS_E_NOMEM, "out of memory (%zu items)", cap);
        if (seq->nitems)
            memcpy(p, seq->items, seq->nitems * sizeof *p);
        seq->items = p;
        seq->items_cap = cap;
    }
    dcm_dataset *ds = dcm__arena_alloc(f, sizeof *ds);
    if (ds == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory (item)");
    dcm__dataset_init(ds, f, seq);
    seq->items[seq->nitems++] = ds;
    *item = ds;
    return MS_OK;
}

ms_rc dcm__elem_add_frag(dcm_elem *e, const uint8_t *p, size_t n, ms_err *err)
{
    if (e->nfrags == e->frags_cap) {
        size_t cap = e->frags_cap ? e->frags_cap * 2 : 8;
        ms_slice *s = dcm__arena_alloc(e->ds->file, cap * sizeof *s);
        if (s == NULL)
            return ms_fail(err, MS_E_NOMEM, "out of memory (%zu fragments)", cap);
        if (e->nfrags)
            memcpy(s, e->frags, e->nfrags * sizeof *s);
        e->frags = s;
        e->frags_cap = cap;
    }
    e->frags[e->nfrags].p = p;
    e->frags[e->nfrags].len = n;
    e->nfrags++;
    return MS_OK;
}

/* ---- public accessors ---- */

size_t dcm_dataset_count(const dcm_dataset *ds)
{
    return ds ? ds->n : 0;
}

dcm_elem *dcm_dataset_at(const dcm_dataset *ds, size_t i)
{
    return (ds && i < ds->n) ? ds->elems[i] : NULL;
}

dcm_elem *dcm_dataset_find(const dcm_dataset *ds, uint32_t tag)
{
    if (ds == NULL)
        return NULL;
    size_t i = lower_bound(ds, tag);
    return (i < ds->n && ds->elems[i]->tag == tag) ? ds->elems[i] : NULL;
}

dcm_elem *dcm_dataset_parent(const dcm_dataset *ds)
{
    return ds ? ds->parent : NULL;
}

dcm_file *dcm_dataset_file(const dcm_dataset *ds)
{
    return ds ? ds->file : NULL;
}

uint32_t dcm_elem_tag(const dcm_elem *e)
{
    return e->tag;
}

uint16_t dcm_elem_vr(const dcm_elem *e)
{
    return e->vr;
}

uint32_t dcm_elem_length(const dcm_elem *e)
{
    return e->length;
}

const uint8_t *dcm_elem_bytes(const dcm_elem *e, size_t *len)
{
    if (e->flags & (DCM__F_SEQ | DCM__F_ENCAP)) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = e->len;
    return e->value;
}

size_t dcm_elem_offset(const dcm_elem *e)
{
    return e->offset;
}

size_t dcm_elem_value_file_offset(const dcm_elem *e)
{
    return (e->flags & DCM__F_CHANGED) ? SIZE_MAX : e->file_off;
}

int dcm_elem_is_sequence(const dcm_elem *e)
{
    return (e->flags & DCM__F_SEQ) != 0;
}

size_t dcm_elem_item_count(const dcm_elem *e)
{
    return (e->flags & DCM__F_SEQ) ? e->nitems : 0;
}

dcm_dataset *dcm_elem_item(const dcm_elem *e, size_t i)
{
    return ((e->flags & DCM__F_SEQ) && i < e->nitems) ? e->items[i] : NULL;
}

int dcm_elem_is_encapsulated(const dcm_elem *e)
{
    return (e->flags & DCM__F_ENCAP) != 0;
}

size_t dcm_elem_fragment_count(const dcm_elem *e)
{
    return (e->flags & DCM__F_ENCAP) ? e->nfrags : 0;
}

const uint8_t *dcm_elem_fragment(const dcm_elem *e, size_t i, size_t *len)
{
    if (!(e->flags & DCM__F_ENCAP) || i >= e->nfrags) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = e->frags[i].len;
    return e->frags[i].p;
}

dcm_dataset *dcm_elem_dataset(const dcm_elem *e)
{
    return e->ds;
}

/* ---- changes ---- */

ms_rc dcm_dataset_remove(dcm_dataset *ds, uint32_t tag, ms_err *err)
{
    if (ds == NULL)
        return ms_fail(err, MS_E_INVAL, "remove: no dataset");
    size_t i = lower_bound(ds, tag);
    if (i >= ds->n || ds->elems[i]->tag != tag)
        return ms_fail(err, MS_E_NOTFOUND, "(%04X,%04X) not present", DCM_GROUP(tag),
                       DCM_ELEMENT(tag));
    dcm__elem_release(ds->file, ds->elems[i]);
    memmove(&ds->elems[i], &ds->elems[i + 1], (ds->n - i - 1) * sizeof *ds->elems);
    ds->n--;
    return MS_OK;
}

/* Finds or inserts the element for tag; a new element is empty with the given VR. */
static ms_rc elem_for_set(dcm_dataset *ds, uint32_t tag, uint16_t vr, dcm_elem **out, ms_err *err)
{
    if (ds == NULL || (DCM_GROUP(tag) == 0xFFFE))
        return ms_fail(err, MS_E_INVAL, "set: bad dataset or tag");
    if (!dcm__vr_known(vr))
        return ms_fail(err, MS_E_INVAL, "set (%04X,%04X): unknown VR", DCM_GROUP(tag),
                       DCM_ELEMENT(tag));
    dcm_elem *e = dcm_dataset_find(ds, tag);
    if (e == NULL) {
        e = dcm__elem_new(ds->file, tag, vr);
        if (e == NULL)
            return ms_fail(err, MS_E_NOMEM, "out of memory (element)");
        if (dcm__dataset_add(ds, e, err))
            return MS_E_NOMEM;
    }
    *out = e;
    return MS_OK;
}

ms_rc dcm_dataset_set_bytes(dcm_dataset *ds, uint32_t tag, uint16_t vr, const uint8_t *value,
                            size_t len, ms_err *err)
{
    if (len > 0xFFFFFFFEu || (len > 0 && value == NULL))
        return ms_fail(err, MS_E_INVAL, "set (%04X,%04X): bad value", DCM_GROUP(tag),
                       DCM_ELEMENT(tag));
    if (!dcm__vr_long_header(vr) && len > 0xFFFE)
        return ms_fail(err, MS_E_LIMIT, "set (%04X,%04X): %zu bytes too long for its VR",
                       DCM_GROUP(tag), DCM_ELEMENT(tag), len);
    if (vr == DCM_VR_SQ)
        return ms_fail(err, MS_E_INVAL, "set (%04X,%04X): use dcm_dataset_set_sequence",
                       DCM_GROUP(tag), DCM_ELEMENT(tag));
    uint8_t *copy = ms_malloc(ds ? ds->file->alloc : NULL, len);
    if (copy == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory (%zu bytes)", len);
    if (len)
        memcpy(copy, value, len);
    dcm_elem *e = NULL;
    ms_rc rc = elem_for_set(ds, tag, vr, &e, err);
    if (rc) {
        ms_free(ds ? ds->file->alloc : NULL, copy);
        return rc;
    }
    dcm__elem_release(ds->file, e);
    e->vr = vr;
    e->value = copy;
    e->len = len;
    e->length = (uint32_t)(len + (len & 1u));
    e->flags = DCM__F_OWNED | DCM__F_CHANGED;
    e->file_off = SIZE_MAX;
    return MS_OK;
}

ms_rc dcm_dataset_set_text(dcm_dataset *ds, uint32_t tag, uint16_t vr, const char *utf8,
                           ms_err *err)
{
    if (ds == NULL || utf8 == NULL)
        return ms_fail(err, MS_E_INVAL, "set text: NULL argument");
    if (!dcm_vr_is_text(vr))
        return ms_fail(err, MS_E_INVAL, "set (%04X,%04X): not a text VR", DCM_GROUP(tag),
                       DCM_ELEMENT(tag));
    ms_buf b;
    ms_buf_init(&b, ds->file->alloc, 0);
    ms_rc rc = dcm__encode_text(ds, vr, utf8, &b, err);
    if (rc == MS_OK)
        rc = dcm_dataset_set_bytes(ds, tag, vr, b.p ? b.p : (const uint8_t *)"", b.len, err);
    ms_buf_free(&b);
    return rc;
}

ms_rc dcm_dataset_set_sequence(dcm_dataset *ds, uint32_t tag, dcm_elem **out, ms_err *err)
{
    dcm_elem *e = NULL;
    ms_rc rc = elem_for_set(ds, tag, DCM_VR_SQ, &e, err);
    if (rc)
        return rc;
    dcm__elem_release(ds->file, e);
    e->vr = DCM_VR_SQ;
    e->flags = DCM__F_SEQ | DCM__F_CHANGED;
    e->length = DCM_UNDEFINED_LENGTH;
    e->file_off = SIZE_MAX;
    if (out)
        *out = e;
    return MS_OK;
}

ms_rc dcm_elem_item_append(dcm_elem *seq, dcm_dataset **item, ms_err *err)
{
    if (seq == NULL || !(seq->flags & DCM__F_SEQ))
        return ms_fail(err, MS_E_INVAL, "item append: not a sequence");
    dcm_dataset *ds = NULL;
    ms_rc rc = dcm__elem_add_item(seq, &ds, err);
    if (rc)
        return rc;
    seq->flags |= DCM__F_CHANGED;
    if (item)
        *item = ds;
    return MS_OK;
}

/*
 * DICOM reader: Part 10 files (preamble, "DICM", group 0002) and raw datasets; implicit VR LE,
 * explicit VR LE/BE, deflated explicit VR LE; sequences and items of defined and undefined
 * length; encapsulated pixel data; UN of undefined length read as a sequence (CP-246).
 * Where the standard leaves room, it follows pydicom 2.3 (the differential test's peer): the
 * implicit/explicit switch per dataset and per element, VR detection for files without a
 * transfer syntax, a duplicate tag replacing the earlier one.
 *
 * Trusts: nothing in the input. Every length is compared with the bytes left (never p + n
 * first) and with the limits in dcm_read_opts; sequence depth and element count are bounded.
 * Errors give the offset and the tag, never a value. Owns: the dcm_file it builds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

#define PREFIX_FIRST ((size_t)16 << 10)  /* stop_before_pixels: first read of a file */
#define SMALL_FILE   ((size_t)128 << 10) /* smaller files are read, larger ones mapped */

typedef struct rctx {
    dcm_file *f;
    const uint8_t *base; /* start of the buffer being parsed */
    size_t base_off;     /* offset of base in the input (for messages and dcm_elem_offset) */
    size_t file_base;    /* offset of base in the source file, SIZE_MAX when not verbatim */
    int big;             /* big endian */
    size_t max_depth, max_elem_len;
    int stop_pixels;
    int stopped; /* stop_before_pixels reached (7FE0,0010) */
    ms_err *err;
} rctx;

typedef struct hdr {
    uint32_t tag;
    uint16_t vr; /* 0 when implicit */
    uint32_t len;
    size_t off;  /* input offset of the header */
    size_t voff; /* input offset of the value */
} hdr;

static ms_rc read_dataset(rctx *c, ms_rd *r, dcm_dataset *ds, int implicit, int is_item,
                          int undef_item, size_t depth);

static size_t pos(const rctx *c, const ms_rd *r)
{
    return c->base_off + (size_t)(r->p - c->base);
}

static uint16_t ld16(const rctx *c, const uint8_t *p)
{
    return c->big ? ms_load_u16be(p) : ms_load_u16le(p);
}

static uint32_t ld32(const rctx *c, const uint8_t *p)
{
    return c->big ? ms_load_u32be(p) : ms_load_u32le(p);
}

static uint32_t ld_tag(const rctx *c, const uint8_t *p)
{
    return DCM_TAG(ld16(c, p), ld16(c, p + 2));
}

static ms_rc fail_at(rctx *c, ms_rc code, size_t off, uint32_t tag, const char *what)
{
    return ms_fail(c->err, code, "offset %zu tag (%04X,%04X): %s", off, DCM_GROUP(tag),
                   DCM_ELEMENT(tag), what);
}

/* pydicom's test for a VR: two bytes between "AA" and "ZZ" (compared as a string). */
static int vr_plausible(const uint8_t *p)
{
    uint16_t v = (uint16_t)(p[0] << 8 | p[1]);
    return v >= 0x4141 && v <= 0x5A5A;
}

/* Reads an element header. Items and delimiters (group FFFE) never carry a VR. */
static ms_rc read_hdr(rctx *c, ms_rd *r, int implicit, hdr *h)
{
    const uint8_t *p;
    h->off = pos(c, r);
    if (r->left < 8)
        return fail_at(c, MS_E_TRUNC, h->off, 0, "element header truncated");
    p = r->p;
    h->tag = ld_tag(c, p);
    h->vr = 0;
    if (implicit || DCM_GROUP(h->tag) == 0xFFFE || !vr_plausible(p + 4)) {
        h->len = ld32(c, p + 4);
        (void)ms_rd_skip(r, 8);
    } else {
        h->vr = DCM_VR(p[4], p[5]);
        if (dcm__vr_long_header(h->vr)) {
            if (r->left < 12)
                return fail_at(c, MS_E_TRUNC, h->off, h->tag, "element header truncated");
            h->len = ld32(c, p + 8);
            (void)ms_rd_skip(r, 12);
        } else {
            h->len = ld16(c, p + 6);
            (void)ms_rd_skip(r, 8);
        }
    }
    h->voff = pos(c, r);
    return MS_OK;
}

/* pydicom's _is_implicit_vr: sequences may switch to implicit, datasets to what they hold. */
static int detect_implicit(const ms_rd *r, int implicit, int is_item)
{
    if (is_item && implicit)
        return 1;
    if (r->left < 6)
        return implicit;
    const uint8_t *v = r->p + 4;
    return !(v[0] > 0x40 && v[0] < 0x5B && v[1] > 0x40 && v[1] < 0x5B);
}

static int is_private(uint32_t tag)
{
    return (DCM_GROUP(tag) & 1u) != 0;
}

/* VR of a private data element from the private dictionary, via its creator (PS3.5 7.8.1). */
static uint16_t private_vr(const dcm_dataset *ds, uint32_t tag)
{
    uint16_t el = DCM_ELEMENT(tag);
    if (el < 0x1000)
        return DCM_VR_UN;
    const dcm_elem *c = dcm_dataset_find(ds, DCM_TAG(DCM_GROUP(tag), el >> 8));
    if (c == NULL || c->value == NULL || (c->flags & DCM__F_SEQ))
        return DCM_VR_UN;
    const uint8_t *p = c->value;
    size_t n = c->len;
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == 0))
        n--;
    uint16_t vr = n ? dcm__private_vr((const char *)p, n, tag) : 0;
    return (vr != 0 && dcm__vr_known(vr)) ? vr : DCM_VR_UN;
}

/* The VR of an element read without one (implicit VR; PS3.5 6.2.2 for private tags). */
static uint16_t implicit_vr(const dcm_dataset *ds, uint32_t tag, int *ambig)
{
    *ambig = 0;
    if (is_private(tag)) {
        uint16_t el = DCM_ELEMENT(tag);
        if (el == 0)
            return DCM_VR_UL;
        if (el >= 0x10 && el <= 0xFF)
            return DCM_VR_LO;
        return private_vr(ds, tag);
    }
    uint16_t vr = dcm__dict_vr_of(tag);
    if (vr == 0)
        return DCM_ELEMENT(tag) == 0 ? DCM_VR_UL : DCM_VR_UN;
    if (vr == DCM__VR_XS || vr == DCM__VR_OX || vr == DCM__VR_PX || vr == DCM__VR_LT) {
        *ambig = 1;
        return vr;
    }
    if (vr == DCM__VR_NA)
        return DCM_VR_UN;
    return vr;
}

static ms_rc check_len(rctx *c, const ms_rd *r, const hdr *h)
{
    if (h->len > c->max_elem_len)
        return fail_at(c, MS_E_LIMIT, h->off, h->tag, "value length over the limit");
    if (h->len > r->left)
        return fail_at(c, MS_E_TRUNC, h->off, h->tag, "value extends past the end of the input");
    return MS_OK;
}

/* Items of a sequence: defined-length region (r holds exactly the value) or undefined. */
static ms_rc read_items(rctx *c, ms_rd *r, dcm_elem *e, int implicit, int undef, size_t depth)
{
    if (depth >= c->max_depth)
        return fail_at(c, MS_E_LIMIT, e->offset, e->tag, "sequences nested too deep");
    for (;;) {
        if (!undef && r->left == 0)
            return MS_OK;
        hdr h = {0};
        if (r->left < 8)
            return fail_at(c, MS_E_TRUNC, pos(c, r), e->tag, "sequence truncated");
        h.off = pos(c, r);
        h.tag = ld_tag(c, r->p);
        h.len = ld32(c, r->p + 4);
        (void)ms_rd_skip(r, 8);
        if (h.tag == DCM_TAG_SEQ_DELIM && undef)
            return MS_OK;
        if (h.tag != DCM_TAG_ITEM)
            return fail_at(c, MS_E_FORMAT, h.off, e->tag, "expected an item in the sequence");
        if (++c->f->nelems > DCM_MAX_ELEMS) /* items count: each costs a dataset record */
            return fail_at(c, MS_E_LIMIT, h.off, e->tag, "too many elements and items");
        dcm_dataset *item;
        if (dcm__elem_add_item(e, &item, c->err))
            return MS_E_NOMEM;
        item->offset = h.off;
        item->item_len = h.len;
        ms_rc rc;
        if (h.len == DCM_UNDEFINED_LENGTH) {
            item->undef_len = 1;
            rc = read_dataset(c, r, item, implicit, 1, 1, depth + 1);
        } else {
            if (h.len > r->left)
                return fail_at(c, MS_E_TRUNC, h.off, e->tag, "item extends past its sequence");
            ms_rd sub = {r->p, h.len};
            (void)ms_rd_skip(r, h.len);
            rc = read_dataset(c, &sub, item, implicit, 1, 0, depth + 1);
        }
        if (rc)
            return rc;
    }
}

/* Encapsulated pixel data: items of defined length up to the sequence delimiter (PS3.5 A.4). */
static ms_rc read_fragments(rctx *c, ms_rd *r, dcm_elem *e)
{
    for (;;) {
        if (r->left < 8)
            return fail_at(c, MS_E_TRUNC, pos(c, r), e->tag, "encapsulated data truncated");
        size_t off = pos(c, r);
        uint32_t tag = ld_tag(c, r->p);
        uint32_t len = ld32(c, r->p + 4);
        (void)ms_rd_skip(r, 8);
        if (tag == DCM_TAG_SEQ_DELIM)
            return MS_OK;
        if (tag != DCM_TAG_ITEM || len == DCM_UNDEFINED_LENGTH)
            return fail_at(c, MS_E_FORMAT, off, e->tag, "bad fragment item");
        if (len > r->left)
            return fail_at(c, MS_E_TRUNC, off, e->tag, "fragment extends past the end");
        if (++c->f->nelems > DCM_MAX_ELEMS)
            return fail_at(c, MS_E_LIMIT, off, e->tag, "too many elements and fragments");
        const uint8_t *p;
        (void)ms_rd_take(r, len, &p);
        if (dcm__elem_add_frag(e, p, len, c->err))
            return MS_E_NOMEM;
    }
}

/* Undefined length value that is neither a sequence nor fragments: bytes up to the sequence
 * delimiter (as pydicom's read_undefined_length_value). */
static ms_rc read_until_delim(rctx *c, ms_rd *r, dcm_elem *e)
{
    uint8_t d[8];
    if (c->big) {
        ms_store_u16be(d, 0xFFFE);
        ms_store_u16be(d + 2, 0xE0DD);
    } else {
        ms_store_u16le(d, 0xFFFE);
        ms_store_u16le(d + 2, 0xE0DD);
    }
    memset(d + 4, 0, 4);
    const uint8_t *hit = r->left >= 8 ? memmem(r->p, r->left, d, 8) : NULL;
    if (hit == NULL)
        return fail_at(c, MS_E_TRUNC, e->offset, e->tag, "no delimiter after undefined length");
    size_t n = (size_t)(hit - r->p);
    if (n > c->max_elem_len)
        return fail_at(c, MS_E_LIMIT, e->offset, e->tag, "value length over the limit");
    e->value = r->p;
    e->len = n;
    (void)ms_rd_skip(r, n + 8);
    return MS_OK;
}

static ms_rc read_undefined(rctx *c, ms_rd *r, dcm_elem *e, int implicit, int as_seq, size_t depth)
{
    e->flags |= DCM__F_UNDEF;
    int next_item = r->left >= 4 && ld_tag(c, r->p) == DCM_TAG_ITEM;
    if (as_seq || ((e->vr == DCM_VR_UN || e->vr == 0) && next_item)) {
        e->vr = DCM_VR_SQ;
        e->flags = (uint16_t)((e->flags | DCM__F_SEQ) & ~DCM__F_AMBIG);
        return read_items(c, r, e, implicit, 1, depth);
    }
    if (next_item) {
        e->flags |= DCM__F_ENCAP;
        if (e->flags & DCM__F_AMBIG) { /* PS3.5 A.4: encapsulated pixel data is OB */
            e->vr = DCM_VR_OB;
            e->flags &= (uint16_t)~DCM__F_AMBIG;
        }
        return read_fragments(c, r, e);
    }
    return read_until_delim(c, r, e);
}

/* The VR the element is kept with. UN gets the VR the dictionary knows (pydicom's
 * replace_un_with_known_vr): public tags from the data dictionary, private ones from the
 * private dictionary through their creator. The value bytes stay as they are (UN values are
 * little endian implicit-VR encodings, PS3.5 6.2.2). */
static uint16_t element_vr(const dcm_dataset *ds, const hdr *h, int *ambig)
{
    *ambig = 0;
    if (h->vr == 0)
        return implicit_vr(ds, h->tag, ambig);
    if (h->vr != DCM_VR_UN && dcm__vr_known(h->vr))
        return h->vr;         /* an unknown VR is read as UN (its header was 8 bytes long) */
    if (is_private(h->tag)) { /* creator: LO (PS3.5 7.8.1); data: the private dictionary */
        uint16_t el = DCM_ELEMENT(h->tag);
        return (el >= 0x10 && el <= 0xFF) ? DCM_VR_LO : private_vr(ds, h->tag);
    }
    if (h->len >= 0xFFFF && h->len != DCM_UNDEFINED_LENGTH)
        return DCM_VR_UN; /* pydicom leaves long UN values alone */
    uint16_t d = dcm__dict_vr_of(h->tag);
    if (d == 0 || d == DCM__VR_NA)
        return DCM_VR_UN;
    *ambig = (d == DCM__VR_XS || d == DCM__VR_OX || d == DCM__VR_PX || d == DCM__VR_LT);
    return d;
}

/* A value of defined length: bytes, or the items of a sequence. */
static ms_rc read_defined(rctx *c, ms_rd *r, dcm_elem *e, const hdr *h, int implicit, size_t depth)
{
    ms_rc rc = check_len(c, r, h);
    if (rc != MS_OK)
        return rc;
    const uint8_t *p;
    (void)ms_rd_take(r, h->len, &p);
    if (e->vr == DCM_VR_SQ && (h->vr == 0 || h->vr == DCM_VR_UN) && h->len >= 4 &&
        ld_tag(c, p) != DCM_TAG_ITEM)
        e->vr = DCM_VR_UN; /* implicit VR or UN: the dictionary says SQ but the bytes are not
                            * items (e.g. a CS value): kept as bytes, not rejected */
    if (e->vr == DCM_VR_SQ) {
        ms_rd sub = {p, h->len};
        e->flags |= DCM__F_SEQ;
        return read_items(c, &sub, e, implicit, 0, depth);
    }
    e->value = p;
    e->len = h->len;
    if (c->file_base != SIZE_MAX)
        e->file_off = c->file_base + (h->voff - c->base_off);
    return MS_OK;
}

static ms_rc read_element(rctx *c, ms_rd *r, dcm_dataset *ds, const hdr *h, int implicit,
                          size_t depth)
{
    dcm_file *f = c->f;
    if (++f->nelems > DCM_MAX_ELEMS)
        return fail_at(c, MS_E_LIMIT, h->off, h->tag, "too many elements");
    int ambig;
    uint16_t vr = element_vr(ds, h, &ambig);
    dcm_elem *e = dcm__elem_new(f, h->tag, vr);
    if (e == NULL)
        return ms_fail(c->err, MS_E_NOMEM, "out of memory (element)");
    e->length = h->len;
    e->offset = h->off;
    e->flags = ambig ? DCM__F_AMBIG : 0;
    e->ds = ds;
    int elem_implicit = implicit || h->vr == 0;
    ms_rc rc;
    if (h->len == DCM_UNDEFINED_LENGTH) {
        int as_seq = vr == DCM_VR_SQ || h->vr == DCM_VR_UN;
        rc = read_undefined(c, r, e, elem_implicit, as_seq, depth);
    } else {
        rc = read_defined(c, r, e, h, elem_implicit, depth);
    }
    if (rc == MS_OK)
        rc = dcm__dataset_add(ds, e, c->err);
    if (rc != MS_OK)
        dcm__elem_release(f, e); /* items read so far own element arrays */
    return rc;
}

static int is_pixel_tag(uint32_t tag)
{
    return tag == DCM_TAG_PIXEL_DATA || tag == DCM_TAG(0x7FE0, 0x0008) ||
           tag == DCM_TAG(0x7FE0, 0x0009);
}

/* Reads elements into ds until the region ends, an item delimiter (undef_item), the end of the
 * input (top level), or a stop condition (meta: group change; stop_before_pixels). */
static ms_rc read_dataset(rctx *c, ms_rd *r, dcm_dataset *ds, int implicit, int is_item,
                          int undef_item, size_t depth)
{
    implicit = detect_implicit(r, implicit, is_item);
    for (;;) {
        if (r->left == 0) {
            if (undef_item)
                return fail_at(c, MS_E_TRUNC, pos(c, r), 0, "item without delimiter");
            return MS_OK;
        }
        if (r->left >= 4 && ld_tag(c, r->p) == DCM_TAG_ITEM_DELIM && is_item) {
            if (r->left < 8)
                return fail_at(c, MS_E_TRUNC, pos(c, r), DCM_TAG_ITEM_DELIM, "truncated");
            (void)ms_rd_skip(r, 8);
            if (undef_item)
                return MS_OK;
            continue; /* stray delimiter in a defined-length item: ignore */
        }
        if (ds == &c->f->meta && r->left >= 2 && ms_load_u16le(r->p) != 0x0002)
            return MS_OK;
        if (c->stop_pixels && depth == 0 && ds == &c->f->ds && r->left >= 4 &&
            is_pixel_tag(ld_tag(c, r->p))) {
            c->stopped = 1;
            return MS_OK;
        }
        hdr h = {0};
        ms_rc rc = read_hdr(c, r, implicit, &h);
        if (rc == MS_OK && DCM_GROUP(h.tag) == 0xFFFE)
            rc = fail_at(c, MS_E_FORMAT, h.off, h.tag, "unexpected item or delimiter");
        if (rc == MS_OK)
            rc = read_element(c, r, ds, &h, implicit, depth);
        if (rc)
            return rc;
    }
}

/* ---- transfer syntax and file structure ---- */

static void strip_uid(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
        s[--n] = 0;
}

static void set_ts(dcm_file *f)
{
    dcm_elem *e = dcm_dataset_find(&f->meta, DCM_TAG_TRANSFER_SYNTAX);
    f->ts[0] = 0;
    if (e != NULL && e->value != NULL) {
        size_t n = e->len < sizeof f->ts - 1 ? e->len : sizeof f->ts - 1;
        memcpy(f->ts, e->value, n);
        f->ts[n] = 0;
        strip_uid(f->ts);
    }
}

/* pydicom's guess for a dataset without a transfer syntax (filereader.read_partial). */
static void guess_syntax(dcm_file *f, const uint8_t *p, size_t n)
{
    f->explicit_vr = 0;
    f->big_endian = 0;
    if (n < 6)
        return;
    uint16_t group = ms_load_u16le(p);
    if (dcm__vr_known(DCM_VR(p[4], p[5]))) {
        f->explicit_vr = 1;
        if (group >= 1024)
            f->big_endian = 1;
    }
}

static void syntax_from_uid(dcm_file *f)
{
    f->explicit_vr = 1;
    f->big_endian = 0;
    f->deflated = 0;
    if (strcmp(f->ts, DCM_TS_IMPLICIT_LE) == 0)
        f->explicit_vr = 0;
    else if (strcmp(f->ts, DCM_TS_EXPLICIT_BE) == 0)
        f->big_endian = 1;
    else if (strcmp(f->ts, DCM_TS_DEFLATED_LE) == 0)
        f->deflated = 1;
}

/* Inflates a raw deflate stream (PS3.5 A.5) into an owned buffer of at most max bytes; `why`
 * names the limit that set max (the size or the ratio) for the error. */
static ms_rc inflate_all(dcm_file *f, const uint8_t *p, size_t n, size_t max, const char *why,
                         ms_err *err)
{
    ms_buf out;
    ms_buf_init(&out, f->alloc, max);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
        return ms_fail(err, MS_E_NOMEM, "inflate: init failed");
    ms_rc rc = MS_OK;
    z.next_in = (Bytef *)(uintptr_t)p;
    size_t in_left = n;
    int zr = Z_OK;
    while (zr != Z_STREAM_END) {
        if (z.avail_in == 0) {
            uInt chunk = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
            z.avail_in = chunk;
            in_left -= chunk;
        }
        size_t want = out.len < (1u << 20) ? (64u << 10) : out.len;
        if (out.max && want > out.max - out.len)
            want = out.max - out.len;
        if (want == 0) {
            rc = ms_fail(err, MS_E_LIMIT,
                         "deflated dataset of %zu bytes inflates past %zu bytes (%s): refused as "
                         "a decompression bomb",
                         n, max, why);
            break;
        }
        rc = ms_buf_reserve(&out, want, err);
        if (rc != MS_OK)
            break;
        z.next_out = out.p + out.len;
        z.avail_out = (uInt)(want > (1u << 30) ? (1u << 30) : want);
        uInt before = z.avail_out;
        zr = inflate(&z, Z_NO_FLUSH);
        out.len += before - z.avail_out;
        if (zr == Z_BUF_ERROR && z.avail_in == 0 && in_left == 0) {
            rc = ms_fail(err, MS_E_TRUNC, "deflated dataset truncated at offset %zu", n);
            break;
        }
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
            rc = ms_fail(err, MS_E_FORMAT, "deflated dataset: bad stream near offset %lu",
                         z.total_in);
            break;
        }
    }
    inflateEnd(&z);
    if (rc) {
        ms_buf_free(&out);
        return rc;
    }
    f->inflated = ms_buf_steal(&out, &f->inflated_len);
    return MS_OK;
}

/* A raw dataset's first element: a dictionary tag of group 0008 or below with a VR named. */
static int plausible_start(const uint8_t *p, size_t n)
{
    if (n < 8)
        return 0;
    uint32_t tag = DCM_TAG(ms_load_u16le(p), ms_load_u16le(p + 2));
    return DCM_GROUP(tag) <= 0x0008 && dcm__dict_vr_of(tag) != 0 &&
           dcm__vr_known(DCM_VR(p[4], p[5]));
}

/* Offset where a Part 10 meta group starts: 132 after preamble + DICM, 0 when the input starts
 * with group 0002 without a preamble (as pydicom accepts), or SIZE_MAX for a raw dataset. */
static size_t meta_start(const uint8_t *p, size_t n, int force_no_meta)
{
    if (force_no_meta)
        return SIZE_MAX;
    if (n >= 132 && memcmp(p + 128, "DICM", 4) == 0 &&
        (n < 134 || ms_load_u16le(p + 132) == 0x0002 || !plausible_start(p, n)))
        return 132; /* else a raw dataset that holds "DICM" at 128 by chance */
    if (n >= 4 && memcmp(p, "DICM", 4) == 0)
        return 4;
    if (n >= 6 && ms_load_u16le(p) == 0x0002 && vr_plausible(p + 4))
        return 0;
    return SIZE_MAX;
}

static ms_rc parse_meta(rctx *c, ms_rd *r)
{
    dcm_file *f = c->f;
    c->big = 0;
    ms_rc rc = read_dataset(c, r, &f->meta, 0, 0, 0, 0);
    if (rc)
        return rc;
    set_ts(f);
    return MS_OK;
}

/* The inflated size a deflated dataset of n bytes may reach: the size limit, and the ratio to
 * its compressed size (at least DCM_INFLATE_FLOOR), whichever is lower. */
static size_t inflate_limit(const dcm_read_opts *o, size_t n, size_t max_total, const char **why)
{
    size_t lim = o && o->max_inflated ? o->max_inflated : DCM_MAX_INFLATED;
    size_t ratio = o && o->max_inflate_ratio ? o->max_inflate_ratio : DCM_MAX_INFLATE_RATIO;
    size_t by_ratio = n > SIZE_MAX / ratio ? SIZE_MAX : n * ratio;
    *why = "max_inflated";
    if (lim > max_total)
        lim = max_total;
    if (by_ratio < DCM_INFLATE_FLOOR)
        by_ratio = DCM_INFLATE_FLOOR;
    if (by_ratio < lim) {
        lim = by_ratio;
        *why = "max_inflate_ratio";
    }
    return lim;
}

static ms_rc parse_body(rctx *c, ms_rd *r, size_t max_total, const dcm_read_opts *o)
{
    dcm_file *f = c->f;
    if (f->ts[0] == 0)
        guess_syntax(f, r->p, r->left);
    else
        syntax_from_uid(f);
    if (!f->has_meta && r->left >= 4) {
        c->big = f->big_endian;
        uint32_t t = ld_tag(c, r->p);
        if (DCM_GROUP(t) > 0x0010 && dcm__dict_vr_of(t) == 0)
            /* no tag in the message: in a file that is not DICOM these bytes may be text */
            return ms_fail(
                c->err, MS_E_FORMAT,
                "offset 0: not DICOM (no preamble and the first tag is not a known tag)");
    }
    if (f->deflated) {
        const char *why = NULL;
        size_t lim = inflate_limit(o, r->left, max_total, &why);
        ms_rc rc = inflate_all(f, r->p, r->left, lim, why, c->err);
        if (rc)
            return rc;
        c->base_off = pos(c, r);
        c->base = f->inflated;
        c->file_base = SIZE_MAX;
        r->p = f->inflated;
        r->left = f->inflated_len;
    }
    c->big = f->big_endian;
    return read_dataset(c, r, &f->ds, !f->explicit_vr, 0, 0, 0);
}

static ms_rc parse(dcm_file *f, const uint8_t *p, size_t n, const dcm_read_opts *o,
                   size_t file_base, ms_err *err)
{
    rctx c = {0};
    c.f = f;
    c.base = p;
    c.file_base = file_base;
    c.err = err;
    c.max_depth = (o && o->max_depth) ? o->max_depth : DCM_MAX_DEPTH;
    c.max_elem_len = (o && o->max_elem_len) ? o->max_elem_len : DCM_MAX_ELEM_LEN;
    c.stop_pixels = o ? o->stop_before_pixels : 0;
    size_t max_total = (o && o->max_total) ? o->max_total : DCM_MAX_TOTAL;
    if (n > max_total)
        return ms_fail(err, MS_E_LIMIT, "input of %zu bytes over the limit of %zu", n, max_total);
    ms_rd r = {p, n};
    size_t ms = meta_start(p, n, o ? o->force_no_meta : 0);
    ms_rc rc = MS_OK;
    if (ms != SIZE_MAX) {
        f->has_meta = 1;
        if (ms == 132) {
            memcpy(f->preamble, p, 128);
            f->has_preamble = 1;
        }
        (void)ms_rd_skip(&r, ms);
        rc = parse_meta(&c, &r);
    }
    if (rc == MS_OK)
        rc = parse_body(&c, &r, max_total, o);
    if (rc == MS_OK) {
        f->truncated_at_pixels = c.stopped;
        dcm__resolve_ambiguous(&f->ds);
    }
    return rc;
}

/* ---- construction ---- */

static ms_rc file_alloc(ms_alloc *a, dcm_file **out, ms_err *err)
{
    dcm_file *f = ms_malloc(a, sizeof *f);
    if (f == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory (file)");
    f->alloc = a;
    f->map.fd = -1;
    f->src_fd = -1;
    dcm__dataset_init(&f->meta, f, NULL);
    dcm__dataset_init(&f->ds, f, NULL);
    f->explicit_vr = 1;
    *out = f;
    return MS_OK;
}

void dcm_file_free(dcm_file *f)
{
    if (f == NULL)
        return;
    ms_alloc *a = f->alloc;
    dcm__dataset_clear(&f->meta);
    dcm__dataset_clear(&f->ds);
    while (f->arena) {
        struct dcm__arena_blk *b = f->arena;
        f->arena = b->next;
        ms_free(a, b);
    }
    ms_free(a, f->inflated);
    ms_free(a, f->own);
    if (f->map.p != NULL || f->map.fd >= 0)
        ms_map_close(&f->map);
    else if (f->src_fd >= 0)
        close(f->src_fd);
    ms_free(a, f);
}

ms_rc dcm_file_new(ms_alloc *alloc, dcm_file **out, ms_err *err)
{
    dcm_file *f = NULL;
    ms_rc rc = file_alloc(alloc, &f, err);
    if (rc)
        return rc;
    f->has_meta = 1;
    memcpy(f->ts, DCM_TS_EXPLICIT_LE, sizeof DCM_TS_EXPLICIT_LE);
    *out = f;
    return MS_OK;
}

static ms_rc read_prefix(int fd, const uint8_t *mem, size_t size, size_t want,
                         const dcm_read_opts *o, dcm_file **out, ms_err *err);

ms_rc dcm_file_read_mem(const uint8_t *buf, size_t len, const dcm_read_opts *opts, dcm_file **out,
                        ms_err *err)
{
    if (buf == NULL && len > 0)
        return ms_fail(err, MS_E_INVAL, "read: NULL buffer");
    size_t max_total = (opts && opts->max_total) ? opts->max_total : DCM_MAX_TOTAL;
    if (len > max_total)
        return ms_fail(err, MS_E_LIMIT, "input of %zu bytes over the limit of %zu", len, max_total);
    if (opts && opts->stop_before_pixels && len > PREFIX_FIRST) /* copy the header only */
        return read_prefix(-1, buf, len, PREFIX_FIRST, opts, out, err);
    ms_alloc *a = opts ? opts->alloc : NULL;
    dcm_file *f = NULL;
    ms_rc rc = file_alloc(a, &f, err);
    if (rc)
        return rc;
    f->own = ms_malloc(a, len);
    if (f->own == NULL) {
        dcm_file_free(f);
        return ms_fail(err, MS_E_NOMEM, "out of memory (%zu bytes)", len);
    }
    if (len)
        memcpy(f->own, buf, len);
    f->own_len = len;
    rc = parse(f, f->own, len, opts, 0, err);
    if (rc) {
        dcm_file_free(f);
        return rc;
    }
    *out = f;
    return MS_OK;
}

static ms_rc pread_all(int fd, uint8_t *p, size_t n, ms_err *err)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = pread(fd, p + done, n - done, (off_t)done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return ms_fail(err, MS_E_IO, "read: %s", strerror(errno));
        if (k == 0)
            return ms_fail(err, MS_E_IO, "read: file shrank while reading");
        done += (size_t)k;
    }
    return MS_OK;
}

/* Reads the first `want` bytes of the file (all of it when want == size) into an owned buffer
 * and parses them. stop_before_pixels: if the header runs past the prefix, reads a 4x larger
 * one; pixel bytes are never read unless the header needs them. */
static ms_rc read_prefix(int fd, const uint8_t *mem, size_t size, size_t want,
                         const dcm_read_opts *o, dcm_file **out, ms_err *err)
{
    ms_alloc *a = o ? o->alloc : NULL;
    for (;;) {
        dcm_file *f = NULL;
        ms_rc rc = file_alloc(a, &f, err);
        if (rc)
            return rc;
        f->own = ms_malloc(a, want);
        if (f->own == NULL) {
            dcm_file_free(f);
            return ms_fail(err, MS_E_NOMEM, "out of memory (%zu bytes)", want);
        }
        f->own_len = want;
        ms_err tmp = {0};
        int partial = want < size;
        if (mem != NULL)
            memcpy(f->own, mem, want);
        else
            rc = pread_all(fd, f->own, want, err);
        if (rc == MS_OK)
            rc = parse(f, f->own, want, o, 0, partial ? &tmp : err);
        if (rc == MS_OK && (!partial || f->truncated_at_pixels)) {
            f->src_fd = fd;
            *out = f;
            return MS_OK;
        }
        dcm_file_free(f);
        if (rc != MS_OK && !partial)
            return rc;
        if (rc != MS_OK && tmp.code != MS_E_TRUNC) /* a real error inside the prefix */
            return ms_fail(err, tmp.code, "%s", tmp.msg);
        want = (size - want) / 4 > want ? want * 4 : size;
    }
}

static ms_rc read_mapped(const char *path, size_t max_total, const dcm_read_opts *opts,
                         dcm_file **out, ms_err *err)
{
    dcm_file *f = NULL;
    ms_rc rc = file_alloc(opts ? opts->alloc : NULL, &f, err);
    if (rc)
        return rc;
    rc = ms_map_open(path, max_total, &f->map, err);
    if (rc == MS_OK) {
        f->src_fd = f->map.fd;
        rc = parse(f, f->map.p, f->map.len, opts, 0, err);
    }
    if (rc) {
        dcm_file_free(f);
        return rc;
    }
    *out = f;
    return MS_OK;
}

ms_rc dcm_file_read(const char *path, const dcm_read_opts *opts, dcm_file **out, ms_err *err)
{
    if (path == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "read: NULL argument");
    size_t max_total = (opts && opts->max_total) ? opts->max_total : DCM_MAX_TOTAL;
    int fd = -1;
    size_t size = 0;
    ms_rc rc = ms_file_open_regular(path, max_total, &fd, &size, err);
    if (rc)
        return rc;
    if (opts && opts->stop_before_pixels)
        rc = read_prefix(fd, NULL, size, size < PREFIX_FIRST ? size : PREFIX_FIRST, opts, out, err);
    else if (size <= SMALL_FILE) /* one read(2) beats mmap + faults + munmap */
        rc = read_prefix(fd, NULL, size, size, opts, out, err);
    else {
        close(fd);
        return read_mapped(path, max_total, opts, out, err);
    }
    if (rc)
        close(fd);
    return rc;
}

/* ---- file properties ---- */

dcm_dataset *dcm_file_meta(dcm_file *f)
{
    return &f->meta;
}

dcm_dataset *dcm_file_dataset(dcm_file *f)
{
    return &f->ds;
}

const char *dcm_file_transfer_syntax(const dcm_file *f)
{
    return f->ts;
}

int dcm_file_big_endian(const dcm_file *f)
{
    return f->big_endian;
}

int dcm_file_explicit_vr(const dcm_file *f)
{
    return f->explicit_vr;
}

int dcm_file_has_meta(const dcm_file *f)
{
    return f->has_meta;
}

int dcm_file_source_fd(const dcm_file *f)
{
    return f->src_fd;
}

/*
 * DICOM writer: a dcm_file as a Part 10 stream (preamble, "DICM", group 0002 in explicit VR LE
 * with a recomputed (0002,0000), then the dataset in the chosen transfer syntax: explicit VR LE
 * by default, implicit VR LE, explicit VR BE, deflated, or the original one). Values are
 * swapped when the byte order changes, odd lengths padded per VR (PS3.5 6.2), sequences and
 * items written with defined lengths (backpatched) or undefined lengths + delimiters, group
 * lengths recomputed. To a file: a temporary file in the target folder, fsync, then rename (or
 * link when not overwriting), so a crash never leaves a half-written file under the final name;
 * unchanged pixel data can be copied in the kernel with copy_file_range.
 * Trusts: the dataset (built by the reader or the setters). Owns: its staging buffer and the
 * temporary file until it is renamed or removed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

#define IMPL_CLASS_UID                                                                             \
    "2.25.231425524378958197663900629133244853219" /* medseal's (PS3.7 D.3.3.2) */
#define IMPL_VERSION "MEDSEAL_" MS_VERSION
#define FLUSH_AT     ((size_t)1 << 20)

typedef struct wr {
    ms_buf *b;
    int fd; /* -1: memory only */
    int big, implicit;
    int keep_forms; /* original sequence/item length forms ("original") */
    int undef;      /* undefined lengths everywhere */
    int src_big;
    int cfr; /* copy_file_range allowed */
    int src_fd;
    size_t pending; /* open backpatches (no flushing meanwhile) */
    ms_err *err;
    ms_rc rc;
} wr;

static void w_bytes(wr *w, const void *p, size_t n)
{
    if (w->rc == MS_OK && n > 0)
        w->rc = ms_buf_append(w->b, p, n, w->err);
}

static void w_u16(wr *w, uint16_t v)
{
    uint8_t x[2];
    if (w->big)
        ms_store_u16be(x, v);
    else
        ms_store_u16le(x, v);
    w_bytes(w, x, 2);
}

static void w_u32(wr *w, uint32_t v)
{
    uint8_t x[4];
    if (w->big)
        ms_store_u32be(x, v);
    else
        ms_store_u32le(x, v);
    w_bytes(w, x, 4);
}

static void patch_u32(wr *w, size_t at, uint32_t v)
{
    if (w->rc != MS_OK)
        return;
    if (w->big)
        ms_store_u32be(w->b->p + at, v);
    else
        ms_store_u32le(w->b->p + at, v);
}

/* Writes the header; returns the buffer offset of the 32-bit length field (for patching) or
 * SIZE_MAX for a 16-bit one. */
static size_t w_header(wr *w, uint32_t tag, uint16_t vr, uint32_t len)
{
    w_u16(w, DCM_GROUP(tag));
    w_u16(w, DCM_ELEMENT(tag));
    if (w->implicit || DCM_GROUP(tag) == 0xFFFE) {
        size_t at = w->b->len;
        w_u32(w, len);
        return at;
    }
    uint8_t v[2] = {(uint8_t)(vr >> 8), (uint8_t)vr};
    w_bytes(w, v, 2);
    if (!dcm__vr_long_header(vr)) {
        w_u16(w, (uint16_t)len);
        return SIZE_MAX;
    }
    w_u16(w, 0);
    size_t at = w->b->len;
    w_u32(w, len);
    return at;
}

/* Byte size of the units swapped when the byte order changes (AT swaps group and element). */
static size_t swap_unit(uint16_t vr)
{
    if (vr == DCM_VR_AT)
        return 2;
    if (vr == DCM_VR_OB || vr == DCM_VR_UN || dcm_vr_is_text(vr))
        return 1;
    return dcm__vr_unit(vr);
}

static void swap_tail(wr *w, size_t start, size_t n, size_t unit)
{
    if (w->rc != MS_OK || unit <= 1 || w->big == w->src_big)
        return;
    uint8_t *p = w->b->p + start;
    for (size_t i = 0; i + unit <= n; i += unit)
        for (size_t a = 0, z = unit - 1; a < z; a++, z--) {
            uint8_t t = p[i + a];
            p[i + a] = p[i + z];
            p[i + z] = t;
        }
}

static void w_dataset(wr *w, const dcm_dataset *ds, size_t depth);

static void w_sequence(wr *w, const dcm_elem *e, size_t depth)
{
    int undef = w->undef || (w->keep_forms && e->length == DCM_UNDEFINED_LENGTH);
    size_t at = w_header(w, e->tag, DCM_VR_SQ, undef ? DCM_UNDEFINED_LENGTH : 0);
    size_t start = w->b->len;
    w->pending++;
    for (size_t i = 0; i < e->nitems && w->rc == MS_OK; i++) {
        const dcm_dataset *it = e->items[i];
        int iu = w->undef || (w->keep_forms && it->undef_len);
        size_t iat = w_header(w, DCM_TAG_ITEM, 0, iu ? DCM_UNDEFINED_LENGTH : 0);
        size_t istart = w->b->len;
        w_dataset(w, it, depth + 1);
        if (iu)
            w_header(w, DCM_TAG_ITEM_DELIM, 0, 0);
        else
            patch_u32(w, iat, (uint32_t)(w->b->len - istart));
    }
    if (undef)
        w_header(w, DCM_TAG_SEQ_DELIM, 0, 0);
    else if (w->b->len - start > 0xFFFFFFFEu)
        w->rc = ms_fail(w->err, MS_E_LIMIT, "(%04X,%04X) sequence over 4 GiB", DCM_GROUP(e->tag),
                        DCM_ELEMENT(e->tag));
    else
        patch_u32(w, at, (uint32_t)(w->b->len - start));
    w->pending--;
}

static void w_encapsulated(wr *w, const dcm_elem *e)
{
    w_header(w, e->tag, e->vr == DCM_VR_OW ? DCM_VR_OW : DCM_VR_OB, DCM_UNDEFINED_LENGTH);
    for (size_t i = 0; i < e->nfrags && w->rc == MS_OK; i++) {
        size_t n = e->frags[i].len;
        w_header(w, DCM_TAG_ITEM, 0, (uint32_t)(n + (n & 1u)));
        w_bytes(w, e->frags[i].p, n);
        if (n & 1u)
            w_bytes(w, "", 1);
    }
    w_header(w, DCM_TAG_SEQ_DELIM, 0, 0);
}

static ms_rc flush_fd(wr *w);

/* Unchanged pixel data copied from the source file by the kernel (same byte order). */
static int w_copy_range(wr *w, const dcm_elem *e, uint16_t vr)
{
    if (!w->cfr || w->pending || w->fd < 0 || w->src_fd < 0 || (e->flags & DCM__F_CHANGED) ||
        e->file_off == SIZE_MAX || (w->big != w->src_big && swap_unit(vr) > 1) ||
        (!dcm__vr_long_header(vr) && !w->implicit))
        return 0;
    w_header(w, e->tag, vr, (uint32_t)(e->len + (e->len & 1u)));
    if (w->rc != MS_OK || flush_fd(w) != MS_OK)
        return 1;
    loff_t off = (loff_t)e->file_off;
    size_t left = e->len;
    while (left > 0) {
        ssize_t k = copy_file_range(w->src_fd, &off, w->fd, NULL, left, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) { /* EXDEV, ENOSYS, EINVAL...: write the remaining bytes ourselves */
            size_t done = e->len - left;
            w_bytes(w, e->value + done, left);
            break;
        }
        left -= (size_t)k;
    }
    if (e->len & 1u)
        w_bytes(w, "", 1);
    return 1;
}

static void w_plain(wr *w, const dcm_elem *e, size_t depth)
{
    uint16_t vr = e->vr;
    size_t n = e->len, padded = n + (n & 1u);
    if (!w->implicit && !dcm__vr_long_header(vr) && padded > 0xFFFE)
        vr = DCM_VR_UN; /* too long for a 16-bit length: PS3.5 6.2.2 note */
    if (padded > 0xFFFFFFFEu) {
        w->rc = ms_fail(w->err, MS_E_LIMIT, "(%04X,%04X) value over 4 GiB", DCM_GROUP(e->tag),
                        DCM_ELEMENT(e->tag));
        return;
    }
    if (depth == 0 && e->tag == DCM_TAG_PIXEL_DATA && w_copy_range(w, e, vr))
        return;
    w_header(w, e->tag, vr, (uint32_t)padded);
    size_t start = w->b->len;
    w_bytes(w, e->value, n);
    swap_tail(w, start, n, swap_unit(e->vr));
    if (n & 1u) {
        uint8_t pad = dcm__vr_pad(e->vr);
        w_bytes(w, &pad, 1);
    }
}

static void w_dataset(wr *w, const dcm_dataset *ds, size_t depth)
{
    size_t gl_at = SIZE_MAX, gl_start = 0;
    uint16_t gl_group = 0;
    for (size_t i = 0; i < ds->n && w->rc == MS_OK; i++) {
        const dcm_elem *e = ds->elems[i];
        if (depth == 0 && DCM_GROUP(e->tag) == 0x0002)
            continue; /* file meta elements inside the dataset (invalid, PS3.10 7.1): a reader
                       * would take them for the meta group, so they are not written */
        if (gl_at != SIZE_MAX && DCM_GROUP(e->tag) != gl_group) {
            patch_u32(w, gl_at, (uint32_t)(w->b->len - gl_start));
            gl_at = SIZE_MAX;
            w->pending--;
        }
        if (depth == 0 && w->pending == 0 && w->fd >= 0 && w->b->len >= FLUSH_AT)
            w->rc = flush_fd(w);
        if (DCM_ELEMENT(e->tag) == 0 && e->vr == DCM_VR_UL && e->len == 4 &&
            !(e->flags & DCM__F_SEQ)) { /* group length: recomputed (PS3.5 7.2) */
            w_header(w, e->tag, DCM_VR_UL, 4);
            gl_at = w->b->len;
            w_u32(w, 0);
            gl_start = w->b->len;
            gl_group = DCM_GROUP(e->tag);
            w->pending++;
            continue;
        }
        if (e->flags & DCM__F_SEQ)
            w_sequence(w, e, depth);
        else if (e->flags & DCM__F_ENCAP)
            w_encapsulated(w, e);
        else
            w_plain(w, e, depth);
    }
    if (gl_at != SIZE_MAX) {
        patch_u32(w, gl_at, (uint32_t)(w->b->len - gl_start));
        w->pending--;
    }
}

/* ---- meta information (PS3.10 7.1) ---- */

static void meta_elem(wr *w, uint32_t tag, uint16_t vr, const uint8_t *p, size_t n)
{
    size_t padded = n + (n & 1u);
    w_header(w, tag, vr, (uint32_t)padded);
    w_bytes(w, p, n);
    if (n & 1u) {
        uint8_t pad = dcm__vr_pad(vr);
        w_bytes(w, &pad, 1);
    }
}

/* The value to write for a meta tag: the file's own, else one derived from the dataset. */
static int meta_value(const dcm_file *f, uint32_t tag, const uint8_t **p, size_t *n)
{
    static const uint8_t version[2] = {0, 1};
    const dcm_elem *e = dcm_dataset_find(&f->meta, tag);
    if (e != NULL && e->value != NULL) {
        *p = e->value;
        *n = e->len;
        return 1;
    }
    const dcm_elem *d = NULL;
    switch (tag) {
    case DCM_TAG(0x0002, 0x0001):
        *p = version;
        *n = 2;
        return 1;
    case DCM_TAG(0x0002, 0x0002):
        d = dcm_dataset_find(&f->ds, DCM_TAG(0x0008, 0x0016));
        break;
    case DCM_TAG(0x0002, 0x0003):
        d = dcm_dataset_find(&f->ds, DCM_TAG(0x0008, 0x0018));
        break;
    case DCM_TAG(0x0002, 0x0012):
        *p = (const uint8_t *)IMPL_CLASS_UID;
        *n = strlen(IMPL_CLASS_UID);
        return 1;
    case DCM_TAG(0x0002, 0x0013): /* ours only alongside our class UID (Type 3) */
        if (dcm_dataset_find(&f->meta, DCM_TAG(0x0002, 0x0012)) != NULL)
            return 0;
        *p = (const uint8_t *)IMPL_VERSION;
        *n = strlen(IMPL_VERSION);
        return 1;
    default:
        return e != NULL;
    }
    if (d == NULL || d->value == NULL)
        return 0;
    *p = d->value;
    *n = d->len;
    return 1;
}

static void w_meta(wr *w, const dcm_file *f, const char *ts)
{
    static const uint32_t required[] = {
        DCM_TAG(0x0002, 0x0001), DCM_TAG(0x0002, 0x0002), DCM_TAG(0x0002, 0x0003),
        DCM_TAG_TRANSFER_SYNTAX, DCM_TAG(0x0002, 0x0012), DCM_TAG(0x0002, 0x0013),
    };
    int big = w->big, implicit = w->implicit;
    w->big = 0; /* group 0002 is always explicit VR little endian */
    w->implicit = 0;
    uint8_t zero[128] = {0};
    w_bytes(w, f->has_preamble ? f->preamble : zero, 128);
    w_bytes(w, "DICM", 4);
    w_header(w, DCM_TAG(0x0002, 0x0000), DCM_VR_UL, 4);
    size_t gl_at = w->b->len;
    w_u32(w, 0);
    size_t start = w->b->len;
    /* merge the file's meta elements with the required ones, in tag order */
    size_t i = 0, k = 0, nr = sizeof required / sizeof required[0];
    while (w->rc == MS_OK && (i < f->meta.n || k < nr)) {
        uint32_t tm = i < f->meta.n ? f->meta.elems[i]->tag : 0xFFFFFFFFu;
        uint32_t tr = k < nr ? required[k] : 0xFFFFFFFFu;
        uint32_t tag = tm < tr ? tm : tr;
        const dcm_elem *e = tm <= tr ? f->meta.elems[i] : NULL;
        i += tm <= tr;
        k += tr <= tm;
        if (tag == DCM_TAG(0x0002, 0x0000) || DCM_GROUP(tag) != 0x0002)
            continue;
        const uint8_t *p = NULL;
        size_t n = 0;
        uint16_t vr = e ? e->vr : dcm__dict_vr_of(tag);
        if (e != NULL && (e->flags & DCM__F_SEQ))
            continue; /* no sequences in group 0002 */
        if (tag == DCM_TAG_TRANSFER_SYNTAX) {
            p = (const uint8_t *)ts;
            n = strlen(ts);
        } else if (!meta_value(f, tag, &p, &n)) {
            continue;
        }
        meta_elem(w, tag, vr, p, n);
    }
    patch_u32(w, gl_at, (uint32_t)(w->b->len - start));
    w->big = big;
    w->implicit = implicit;
}

/* ---- transfer syntax choice ---- */

static int native_ts(const char *ts)
{
    return strcmp(ts, DCM_TS_IMPLICIT_LE) == 0 || strcmp(ts, DCM_TS_EXPLICIT_LE) == 0 ||
           strcmp(ts, DCM_TS_EXPLICIT_BE) == 0 || strcmp(ts, DCM_TS_DEFLATED_LE) == 0;
}

static int has_encapsulated(const dcm_file *f)
{
    const dcm_elem *e = dcm_dataset_find(&f->ds, DCM_TAG_PIXEL_DATA);
    return e != NULL && (e->flags & DCM__F_ENCAP);
}

static ms_rc choose_ts(const dcm_file *f, const dcm_write_opts *o, const char **ts, ms_err *err)
{
    const char *want = o ? o->transfer_syntax : NULL;
    const char *orig =
        f->ts[0] ? f->ts : (f->explicit_vr ? DCM_TS_EXPLICIT_LE : DCM_TS_IMPLICIT_LE);
    if (f->ts[0] == 0 && f->big_endian)
        orig = DCM_TS_EXPLICIT_BE;
    if (want == NULL)
        want = DCM_TS_EXPLICIT_LE;
    else if (strcmp(want, "original") == 0)
        want = orig;
    if (!native_ts(want) && strcmp(want, orig) != 0)
        return ms_fail(err, MS_E_UNSUPPORTED, "write: cannot transcode to a compressed syntax");
    if (native_ts(want) && has_encapsulated(f))
        return ms_fail(err, MS_E_UNSUPPORTED,
                       "write: encapsulated pixel data needs its original transfer syntax");
    *ts = want;
    return MS_OK;
}

static ms_rc deflate_tail(ms_buf *b, size_t start, ms_err *err)
{
    size_t n = b->len - start;
    ms_buf z;
    ms_buf_init(&z, b->alloc, 0);
    z_stream s;
    memset(&s, 0, sizeof s);
    if (deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return ms_fail(err, MS_E_NOMEM, "deflate: init failed");
    ms_rc rc = ms_buf_reserve(&z, deflateBound(&s, (uLong)n) + 16, err);
    if (rc == MS_OK) {
        s.next_in = b->p + start;
        s.avail_in = (uInt)n;
        s.next_out = z.p;
        s.avail_out = (uInt)(z.cap - 1);
        if (n > 0xFFFFFFFFu || deflate(&s, Z_FINISH) != Z_STREAM_END)
            rc = ms_fail(err, MS_E_LIMIT, "deflate: dataset too large");
        else
            z.len = s.total_out;
    }
    deflateEnd(&s);
    if (rc == MS_OK) {
        ms_memzero(b->p + start, n);
        b->len = start;
        rc = ms_buf_append(b, z.p, z.len, err);
        if (rc == MS_OK && (z.len & 1u)) /* PS3.5 A.5: padded to an even length */
            rc = ms_buf_append_byte(b, 0, err);
    }
    ms_buf_free(&z);
    return rc;
}

static ms_rc w_init(wr *w, const dcm_file *f, const dcm_write_opts *o, const char **ts, ms_buf *b,
                    ms_err *err)
{
    memset(w, 0, sizeof *w);
    w->b = b;
    w->fd = -1;
    w->src_fd = -1;
    w->err = err;
    if (f == NULL || b == NULL)
        return ms_fail(err, MS_E_INVAL, "write: NULL argument");
    if (f->truncated_at_pixels)
        return ms_fail(err, MS_E_INVAL, "write: the file was read with stop_before_pixels");
    ms_rc rc = choose_ts(f, o, ts, err);
    if (rc)
        return rc;
    w->big = strcmp(*ts, DCM_TS_EXPLICIT_BE) == 0;
    w->implicit = strcmp(*ts, DCM_TS_IMPLICIT_LE) == 0;
    w->src_big = f->big_endian;
    w->keep_forms = o && o->transfer_syntax && strcmp(o->transfer_syntax, "original") == 0;
    w->undef = o ? o->undefined_seq_lengths : 0;
    return MS_OK;
}

ms_rc dcm_file_write_mem(const dcm_file *f, const dcm_write_opts *opts, ms_buf *out, ms_err *err)
{
    wr w;
    const char *ts = NULL;
    ms_rc rc = w_init(&w, f, opts, &ts, out, err);
    if (rc)
        return rc;
    size_t mark = out->len;
    w_meta(&w, f, ts);
    size_t body = out->len;
    w_dataset(&w, &f->ds, 0);
    if (w.rc == MS_OK && strcmp(ts, DCM_TS_DEFLATED_LE) == 0)
        w.rc = deflate_tail(out, body, err);
    if (w.rc != MS_OK && out->p != NULL) {
        ms_memzero(out->p + mark, out->len - mark);
        out->len = mark;
        out->p[mark] = 0;
    }
    return w.rc;
}

/* ---- to a file ---- */

static ms_rc flush_fd(wr *w)
{
    if (w->fd < 0 || w->b->len == 0)
        return MS_OK;
    if (ms_write_all(w->fd, w->b->p, w->b->len) != 0)
        return ms_fail(w->err, MS_E_IO, "write: %s", strerror(errno));
    ms_buf_reset(w->b);
    return MS_OK;
}

/* Publishes tmp as path: rename (overwrite) or link + unlink (refuses an existing file). */
static ms_rc publish(const char *tmp, const char *path, int overwrite, ms_err *err)
{
    if (overwrite ? rename(tmp, path) != 0 : link(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ms_fail(err, e == EEXIST ? MS_E_EXISTS : MS_E_IO, "publish: %s", strerror(e));
    }
    if (!overwrite)
        unlink(tmp);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return MS_OK;
}

static ms_rc write_stream(wr *w, const dcm_file *f, const char *ts)
{
    w_meta(w, f, ts);
    if (strcmp(ts, DCM_TS_DEFLATED_LE) == 0) { /* deflate needs the whole dataset */
        size_t body = w->b->len;
        w->cfr = 0;
        w_dataset(w, &f->ds, 0);
        if (w->rc == MS_OK)
            w->rc = deflate_tail(w->b, body, w->err);
    } else {
        w_dataset(w, &f->ds, 0);
    }
    if (w->rc == MS_OK)
        w->rc = flush_fd(w);
    return w->rc;
}

ms_rc dcm_file_write(const dcm_file *f, const char *path, const dcm_write_opts *opts, ms_err *err)
{
    if (path == NULL)
        return ms_fail(err, MS_E_INVAL, "write: NULL path");
    ms_buf b;
    ms_buf_init(&b, f ? f->alloc : NULL, 0);
    wr w;
    const char *ts = NULL;
    ms_rc rc = w_init(&w, f, opts, &ts, &b, err);
    if (rc)
        return rc;
    int overwrite = opts ? opts->overwrite : 0;
    if (!overwrite && access(path, F_OK) == 0)
        return ms_fail(err, MS_E_EXISTS, "output exists");
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return ms_fail(err, MS_E_LIMIT, "path too long");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return ms_fail(err, MS_E_IO, "create temporary file: %s", strerror(errno));
    w.fd = fd;
    w.src_fd = f->src_fd;
    w.cfr = opts ? opts->use_copy_file_range : 0;
    unsigned mode = (opts && opts->mode) ? opts->mode : 0644;
    rc = fchmod(fd, (mode_t)mode) != 0 ? ms_fail(err, MS_E_IO, "chmod: %s", strerror(errno))
                                       : write_stream(&w, f, ts);
    if (rc == MS_OK && fsync(fd) != 0)
        rc = ms_fail(err, MS_E_IO, "fsync: %s", strerror(errno));
    close(fd);
    ms_buf_free(&b);
    if (rc != MS_OK) {
        unlink(tmp);
        return rc;
    }
    return publish(tmp, path, overwrite, err);
}

/*
 * multipart/related bodies (RFC 2046 §5.1, RFC 2387) as sent by DICOMweb STOW-RS clients
 * (PS3.18 §10.5): splits the body at the boundary delimiters and hands each part's Content-Type
 * and bytes to a callback. Zero-copy: parts borrow from the body.
 * Trusts: nothing in the body or the Content-Type header; every search is bounded by what is left.
 * Owns: nothing.
 */
#define _GNU_SOURCE
#include <string.h>
#include <strings.h>

#include "internal.h"

/* RFC 2046 §5.1.1 says 70; real STOW-RS senders exceed it (Orthanc 1.7 sends two UUIDs joined by
 * '-', 73 characters), so up to 200 are accepted. */
#define BOUNDARY_MAX 200

ms_rc gw_multipart_boundary(const char *ct, char *out, size_t outlen, ms_err *err)
{
    const char *p = ct ? strcasestr(ct, "boundary=") : NULL;
    size_t n = 0;
    if (p == NULL)
        return ms_fail(err, MS_E_FORMAT, "multipart: no boundary parameter");
    p += 9;
    if (*p == '"') {
        const char *q = strchr(++p, '"');
        if (q == NULL)
            return ms_fail(err, MS_E_FORMAT, "multipart: unterminated boundary");
        n = (size_t)(q - p);
    } else {
        while (p[n] != '\0' && p[n] != ';' && p[n] != ' ' && p[n] != '\t')
            n++;
    }
    if (n == 0 || n > BOUNDARY_MAX || n + 1 > outlen)
        return ms_fail(err, MS_E_FORMAT, "multipart: boundary length %zu not in 1..200", n);
    memcpy(out, p, n);
    out[n] = '\0';
    return MS_OK;
}

/* Parses a part's header block [h, h+n): keeps Content-Type (copied into ct), ignores the rest. */
static ms_rc part_headers(const uint8_t *h, size_t n, ms_buf *ct, ms_err *err)
{
    size_t i = 0;
    while (i < n) {
        const uint8_t *eol = memmem(h + i, n - i, "\r\n", 2);
        size_t end = eol ? (size_t)(eol - h) : n;
        size_t ll = end - i;
        const uint8_t *colon = memchr(h + i, ':', ll);
        if (colon == NULL)
            return ms_fail(err, MS_E_FORMAT, "multipart: part header without ':'");
        size_t nl = (size_t)(colon - (h + i));
        if (nl == 12 && strncasecmp((const char *)h + i, "Content-Type", 12) == 0) {
            const uint8_t *v = colon + 1;
            size_t vl = ll - nl - 1;
            while (vl > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                vl--;
            }
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            ms_buf_reset(ct);
            if (ms_buf_append(ct, v, vl, err) != MS_OK)
                return MS_E_LIMIT;
        }
        i = end + 2;
    }
    return MS_OK;
}

/* ---- the incremental parser ------------------------------------------------------------------
 * `buf` holds the bytes not yet resolved: in the data state, the current part from its first
 * byte (so a part is handed over whole, and memory is one part plus one delimiter's length); in
 * the others, at most a header block or a delimiter's length. Every search starts where the
 * previous one could not have matched. */

enum { MP_PREAMBLE = 0, MP_AFTER_DELIM, MP_HEADERS, MP_DATA, MP_DONE, MP_FAILED };

void gw_mp_init(gw_mp *m, ms_alloc *alloc, const char *boundary, size_t max_part,
                ms_rc (*fn)(void *ud, const gw_part *p, ms_err *err), void *ud)
{
    memset(m, 0, sizeof *m);
    size_t bl = boundary ? strlen(boundary) : 0;
    m->blen = bl <= BOUNDARY_MAX ? bl : 0;
    memcpy(m->b, boundary ? boundary : "", m->blen);
    m->b[m->blen] = '\0';
    m->max_part = max_part;
    m->fn = fn;
    m->ud = ud;
    ms_buf_init(&m->buf, alloc, 0);
    ms_buf_init(&m->ct, alloc, GW_MP_MAX_HEADERS);
}

void gw_mp_free(gw_mp *m)
{
    ms_buf_free(&m->buf);
    ms_buf_free(&m->ct);
}

/* Drops the first n unresolved bytes (lazily: `head` moves; gw_mp_feed compacts). */
static void consume(gw_mp *m, size_t n)
{
    m->head += n;
    m->off += n;
    m->scan = 0;
    if (m->head == m->buf.len) {
        ms_buf_reset(&m->buf);
        m->head = 0;
    }
}

static ms_rc fail(gw_mp *m, ms_rc rc)
{
    m->state = MP_FAILED;
    m->rc = rc;
    return rc;
}

/* Position of the first "\r\n--boundary" in p[from, len), or len when none; *next is where the
 * next search must start when none was found (a delimiter may begin there). */
static size_t find_delim(const gw_mp *m, const uint8_t *p, size_t len, size_t from, size_t *next)
{
    size_t at = from, bl = m->blen;
    for (;;) {
        const uint8_t *q = at < len ? memmem(p + at, len - at, "\r\n--", 4) : NULL;
        if (q == NULL) {
            *next = len > 3 ? len - 3 : 0;
            if (*next < from)
                *next = from;
            return len;
        }
        size_t qa = (size_t)(q - p);
        if (qa + 4 + bl > len) {
            *next = qa; /* perhaps the delimiter: wait for the rest */
            return len;
        }
        if (memcmp(q + 4, m->b, bl) == 0)
            return qa;
        at = qa + 1;
    }
}

/* Advances as far as the bytes allow. MS_OK when it needs more (or is done). */
static ms_rc step(gw_mp *m, ms_err *err)
{
    size_t bl = m->blen;
    for (;;) {
        const uint8_t *p = m->buf.p + m->head;
        size_t len = m->buf.len - m->head, next = 0;
        if (len == 0 && m->state != MP_DONE && m->state != MP_FAILED)
            return MS_OK;
        switch (m->state) {
        case MP_PREAMBLE: {
            if (m->off == 0 && len >= 2 + bl && p[0] == '-' && p[1] == '-' &&
                memcmp(p + 2, m->b, bl) == 0) {
                consume(m, 2 + bl);
                m->state = MP_AFTER_DELIM;
                break;
            }
            if (m->off == 0 && len < 2 + bl && memcmp(p, "--", len < 2 ? len : 2) == 0 &&
                (len <= 2 || memcmp(p + 2, m->b, len - 2) == 0))
                return MS_OK; /* may still become "--boundary" at offset 0 */
            size_t d = find_delim(m, p, len, m->scan, &next);
            if (d < len) {
                consume(m, d + 4 + bl);
                m->state = MP_AFTER_DELIM;
                break;
            }
            consume(m, next); /* the preamble is dropped as it comes */
            return MS_OK;
        }
        case MP_AFTER_DELIM: {
            if (p[0] == '-') {
                if (len < 2)
                    return MS_OK;
                if (p[1] == '-') {
                    m->state = MP_DONE;
                    break;
                }
            }
            size_t i = 0;
            while (i < len && i <= 256 && (p[i] == ' ' || p[i] == '\t'))
                i++; /* transport padding, RFC 2046 §5.1.1 */
            if (i > 256)
                return fail(m, ms_fail(err, MS_E_FORMAT, "multipart: bad delimiter line at %zu",
                                       m->off));
            if (len - i < 2)
                return MS_OK;
            if (p[i] != '\r' || p[i + 1] != '\n')
                return fail(m, ms_fail(err, MS_E_FORMAT, "multipart: bad delimiter line at %zu",
                                       m->off + i));
            consume(m, i + 2);
            if (++m->count > GW_MAX_STOW_PARTS)
                return fail(m, ms_fail(err, MS_E_LIMIT, "multipart: more than %d parts",
                                       GW_MAX_STOW_PARTS));
            ms_buf_reset(&m->ct);
            m->state = MP_HEADERS;
            break;
        }
        case MP_HEADERS: {
            if (len < 2)
                return MS_OK;
            if (p[0] == '\r' && p[1] == '\n') { /* no headers: the blank line at once */
                consume(m, 2);
                m->state = MP_DATA;
                break;
            }
            size_t from = m->scan > 3 ? m->scan - 3 : 0;
            const uint8_t *hend = len >= from + 4 ? memmem(p + from, len - from, "\r\n\r\n", 4)
                                                  : NULL;
            size_t hl = hend ? (size_t)(hend - p) : len;
            if (hl > GW_MP_MAX_HEADERS)
                return fail(m, ms_fail(err, MS_E_FORMAT,
                                       "multipart: part %zu has no header end", m->count));
            if (hend == NULL) {
                m->scan = len;
                return MS_OK;
            }
            ms_rc rc = part_headers(p, hl, &m->ct, err);
            if (rc != MS_OK)
                return fail(m, rc);
            consume(m, hl + 4);
            m->state = MP_DATA;
            break;
        }
        case MP_DATA: {
            size_t d = find_delim(m, p, len, m->scan, &next);
            if (d == len) {
                m->scan = next;
                if (m->max_part && len > m->max_part + 4 + bl)
                    return fail(m, ms_fail(err, MS_E_LIMIT,
                                           "multipart: part %zu is larger than %zu bytes",
                                           m->count, m->max_part));
                return MS_OK;
            }
            if (m->max_part && d > m->max_part)
                return fail(m, ms_fail(err, MS_E_LIMIT,
                                       "multipart: part %zu is larger than %zu bytes", m->count,
                                       m->max_part));
            gw_part part = {{m->ct.p, m->ct.len}, {p, d}};
            ms_rc rc = m->fn(m->ud, &part, err);
            if (rc != MS_OK)
                return fail(m, err && err->code ? err->code : MS_E_FORMAT);
            consume(m, d + 4 + bl);
            m->state = MP_AFTER_DELIM;
            break;
        }
        case MP_DONE:
            ms_buf_reset(&m->buf); /* the epilogue is ignored */
            m->head = 0;
            return MS_OK;
        default:
            return m->rc ? m->rc : MS_E_FORMAT;
        }
    }
}

ms_rc gw_mp_feed(gw_mp *m, const uint8_t *p, size_t n, ms_err *err)
{
    if (m->state == MP_FAILED)
        return m->rc;
    if (m->blen == 0 || m->fn == NULL)
        return fail(m, ms_fail(err, MS_E_INVAL, "multipart: bad arguments"));
    if (m->state == MP_DONE)
        return MS_OK;
    if (m->head > 0) { /* what earlier feeds resolved goes: one part's tail at most */
        ms_buf *b = &m->buf;
        size_t keep = b->len - m->head;
        memmove(b->p, b->p + m->head, keep);
        ms_memzero(b->p + keep, m->head);
        b->len = keep;
        m->head = 0;
    }
    ms_rc rc = ms_buf_append(&m->buf, p, n, err);
    if (rc != MS_OK)
        return fail(m, rc);
    return step(m, err);
}

ms_rc gw_mp_finish(gw_mp *m, ms_err *err)
{
    if (m->state == MP_FAILED)
        return m->rc;
    if (m->blen == 0 || m->fn == NULL)
        return fail(m, ms_fail(err, MS_E_INVAL, "multipart: bad arguments"));
    if (m->state == MP_DONE)
        return m->count ? MS_OK : fail(m, ms_fail(err, MS_E_FORMAT, "multipart: no parts"));
    switch (m->state) {
    case MP_PREAMBLE:
        return fail(m, ms_fail(err, MS_E_FORMAT, "multipart: no opening delimiter"));
    case MP_HEADERS:
        return fail(m, ms_fail(err, MS_E_FORMAT, "multipart: part %zu has no header end",
                               m->count));
    case MP_DATA:
        return fail(m, ms_fail(err, MS_E_FORMAT, "multipart: part %zu not closed", m->count));
    default:
        return fail(m, ms_fail(err, MS_E_FORMAT, "multipart: bad delimiter line at %zu",
                               m->off));
    }
}

ms_rc gw_multipart_parse(const uint8_t *body, size_t len, const char *boundary,
                         ms_rc (*fn)(void *ud, const gw_part *p, ms_err *err), void *ud,
                         ms_err *err)
{
    gw_mp m;
    size_t blen = boundary ? strlen(boundary) : 0;
    if (body == NULL || blen == 0 || blen > BOUNDARY_MAX || fn == NULL)
        return ms_fail(err, MS_E_INVAL, "multipart: bad arguments");
    gw_mp_init(&m, NULL, boundary, 0, fn, ud);
    ms_rc rc = gw_mp_feed(&m, body, len, err);
    if (rc == MS_OK)
        rc = gw_mp_finish(&m, err);
    gw_mp_free(&m);
    return rc;
}

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

/* Finds "\r\n--boundary" (or "--boundary" at offset 0) at or after `from`. */
static const uint8_t *find_delim(const uint8_t *body, size_t len, size_t from, const char *b,
                                 size_t blen)
{
    if (from == 0 && len >= blen + 2 && body[0] == '-' && body[1] == '-' &&
        memcmp(body + 2, b, blen) == 0)
        return body;
    while (from < len) {
        const uint8_t *q = memmem(body + from, len - from, "\r\n--", 4);
        if (q == NULL)
            return NULL;
        size_t at = (size_t)(q - body);
        if (len - at - 4 >= blen && memcmp(q + 4, b, blen) == 0)
            return q;
        from = at + 1;
    }
    return NULL;
}

/* Parses a part's header block [h, h+n): keeps Content-Type, ignores the rest. */
static ms_rc part_headers(const uint8_t *h, size_t n, gw_part *part, ms_err *err)
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
            part->content_type = (ms_slice){v, vl};
        }
        i = end + 2;
    }
    return MS_OK;
}

/* One part starting right after a delimiter line at `at`; sets *next to the next delimiter. */
static ms_rc one_part(const uint8_t *body, size_t len, size_t at, const char *b, size_t blen,
                      gw_part *part, size_t *next, ms_err *err)
{
    const uint8_t *hend;
    size_t hstart = at;
    memset(part, 0, sizeof *part);
    if (len - at >= 2 && body[at] == '\r' && body[at + 1] == '\n') {
        hend = body + at; /* no headers: the blank line follows at once */
    } else {
        hend = memmem(body + at, len - at, "\r\n\r\n", 4);
        if (hend == NULL)
            return ms_fail(err, MS_E_FORMAT, "multipart: part at %zu has no header end", at);
        if (part_headers(body + at, (size_t)(hend - (body + at)), part, err) != MS_OK)
            return err ? err->code : MS_E_FORMAT;
        hend += 2;
    }
    size_t dstart = (size_t)(hend - body) + 2;
    (void)hstart;
    const uint8_t *d = find_delim(body, len, dstart, b, blen);
    if (d == NULL)
        return ms_fail(err, MS_E_FORMAT, "multipart: part at %zu not closed", at);
    part->data = (ms_slice){body + dstart, (size_t)(d - body) - dstart};
    *next = (size_t)(d - body);
    return MS_OK;
}

ms_rc gw_multipart_parse(const uint8_t *body, size_t len, const char *boundary,
                         ms_rc (*fn)(void *ud, const gw_part *p, ms_err *err), void *ud,
                         ms_err *err)
{
    size_t blen = boundary ? strlen(boundary) : 0, count = 0;
    if (body == NULL || blen == 0 || blen > BOUNDARY_MAX || fn == NULL)
        return ms_fail(err, MS_E_INVAL, "multipart: bad arguments");
    const uint8_t *d = find_delim(body, len, 0, boundary, blen);
    if (d == NULL)
        return ms_fail(err, MS_E_FORMAT, "multipart: no opening delimiter");
    size_t at = (size_t)(d - body);
    for (;;) {
        at += (body[at] == '\r' ? 2u : 0u) + 2 + blen; /* past [CRLF]--boundary */
        if (len - at >= 2 && body[at] == '-' && body[at + 1] == '-')
            return count ? MS_OK : ms_fail(err, MS_E_FORMAT, "multipart: no parts");
        while (at < len && (body[at] == ' ' || body[at] == '\t'))
            at++; /* transport padding, RFC 2046 §5.1.1 */
        if (len - at < 2 || body[at] != '\r' || body[at + 1] != '\n')
            return ms_fail(err, MS_E_FORMAT, "multipart: bad delimiter line at %zu", at);
        at += 2;
        if (++count > GW_MAX_STOW_PARTS)
            return ms_fail(err, MS_E_LIMIT, "multipart: more than %d parts", GW_MAX_STOW_PARTS);
        gw_part part;
        size_t next = 0;
        if (one_part(body, len, at, boundary, blen, &part, &next, err) != MS_OK)
            return err ? err->code : MS_E_FORMAT;
        if (fn(ud, &part, err) != MS_OK)
            return err && err->code ? err->code : MS_E_FORMAT;
        at = next;
    }
}

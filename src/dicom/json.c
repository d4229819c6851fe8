/*
 * DICOM JSON (PS3.18 Annex F.2) written straight into an ms_buf (streaming, no tree), and the
 * jansson form of dcm_dataset_to_json (parsed back from that text, so there is one encoder).
 * Numbers: IS as integers, DS as the stored text when it is already a JSON number (else the
 * parsed value), FL/FD as the shortest text that reads back to the same float/double.
 * Binary VRs: InlineBinary base64 of the little-endian bytes (big-endian input is swapped).
 * Empty values (and empty sequences) have no "Value"; empty entries of a multi-valued string
 * are null (F.2.5).
 * Trusts: the dataset the reader built. Owns: nothing; appends to the caller's buffer.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_SAFE 9007199254740991ull /* 2^53 - 1 */

typedef struct jw {
    ms_buf *out;
    const dcm_json_opts *o;
    ms_buf tmp; /* scratch for decoded text */
    ms_err *err;
    ms_rc rc;
} jw;

static void put(jw *w, const char *s, size_t n)
{
    if (w->rc == MS_OK)
        w->rc = ms_buf_append(w->out, s, n, w->err);
}

static void puts_(jw *w, const char *s)
{
    put(w, s, strlen(s));
}

/* A JSON string from UTF-8 bytes (control characters escaped). */
static void put_str(jw *w, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (w->rc == MS_OK)
        w->rc = ms_buf_reserve(w->out, n + 2, w->err);
    put(w, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(w, (const char *)p + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            esc[2] = 0;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            esc[2] = 0;
        }
        puts_(w, esc);
    }
    put(w, (const char *)p + run, n - run);
    put(w, "\"", 1);
}

static void put_fmt(jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(jw *w, const char *fmt, ...)
{
    char b[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof b)
        put(w, b, (size_t)n);
}

/* A decimal integer without printf (most numbers in a header are US/UL). */
static void put_int(jw *w, long long v)
{
    char b[24];
    size_t i = sizeof b;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        b[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        b[--i] = '-';
    put(w, b + i, sizeof b - i);
}

/* Shortest %g text that reads back to the same value (float32 when single). */
static void put_real(jw *w, double v, int single)
{
    char b[40];
    if (!isfinite(v)) { /* not representable in JSON: a string, as PS3.18 allows for DS */
        put_str(w,
                (const uint8_t *)(isnan(v) ? "NaN"
                                  : v > 0  ? "Infinity"
                                           : "-Infinity"),
                isnan(v) ? 3
                : v > 0  ? 8
                         : 9);
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        put_fmt(w, "%.0f", v);
        return;
    }
    for (int prec = single ? 6 : 15; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        double back = strtod(b, NULL);
        if (single ? (float)back == (float)v : back == v)
            break;
    }
    puts_(w, b);
}

/* JSON number grammar (RFC 8259 section 6). */
static int json_number(const uint8_t *p, size_t n)
{
    size_t i = 0;
    if (i < n && p[i] == '-')
        i++;
    if (i >= n)
        return 0;
    if (p[i] == '0')
        i++;
    else if (p[i] >= '1' && p[i] <= '9')
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
    else
        return 0;
    if (i < n && p[i] == '.') {
        size_t s = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == s)
            return 0;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        size_t s = i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == s)
            return 0;
    }
    return i == n;
}

/* One '\'-separated string value, or one PN value as its component groups. */
static void put_text_value(jw *w, const dcm_elem *e, const uint8_t *p, size_t n)
{
    ms_buf_reset(&w->tmp);
    dcm__trim(e->vr, &p, &n);
    if (n == 0) {
        puts_(w, "null");
        return;
    }
    if (w->rc == MS_OK)
        w->rc = dcm__decode_text(e->ds, e->vr, p, n, &w->tmp, w->err);
    put_str(w, w->tmp.p ? w->tmp.p : (const uint8_t *)"", w->tmp.len);
}

static void put_text_number(jw *w, const dcm_elem *e, const uint8_t *p, size_t n)
{
    double v;
    uint16_t vr = e->vr;
    if (dcm__parse_number(p, n, &v) != 0) { /* not a number: kept as text (decoded) */
        put_text_value(w, e, p, n);
        return;
    }
    dcm__trim(vr, &p, &n);
    if (vr == DCM_VR_IS && v == floor(v) && fabs(v) < 9.2e18) {
        put_fmt(w, "%lld", (long long)v);
        return;
    }
    if (vr == DCM_VR_DS && json_number(p, n)) {
        put(w, (const char *)p, n);
        return;
    }
    put_real(w, v, 0);
}

static void put_pn_value(jw *w, const dcm_elem *e, const uint8_t *p, size_t n)
{
    static const char *const names[] = {"Alphabetic", "Ideographic", "Phonetic"};
    dcm__trim(e->vr, &p, &n);
    if (n == 0) {
        puts_(w, "null");
        return;
    }
    put(w, "{", 1);
    size_t start = 0, g = 0;
    int first = 1;
    for (size_t i = 0; i <= n && g < 3; i++) {
        if (i < n && p[i] != '=')
            continue;
        if (i > start) {
            if (!first)
                put(w, ",", 1);
            first = 0;
            put_fmt(w, "\"%s\":", names[g]);
            ms_buf_reset(&w->tmp);
            if (w->rc == MS_OK)
                w->rc = dcm__decode_text(e->ds, e->vr, p + start, i - start, &w->tmp, w->err);
            put_str(w, w->tmp.p ? w->tmp.p : (const uint8_t *)"", w->tmp.len);
        }
        g++;
        start = i + 1;
    }
    put(w, "}", 1);
}

static void put_strings(jw *w, const dcm_elem *e)
{
    const uint8_t *p = e->value;
    size_t n = e->len;
    int multi =
        e->vr != DCM_VR_LT && e->vr != DCM_VR_ST && e->vr != DCM_VR_UT && e->vr != DCM_VR_UR;
    put(w, "[", 1);
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && (!multi || p[i] != '\\'))
            continue;
        if (start > 0)
            put(w, ",", 1);
        if (e->vr == DCM_VR_PN)
            put_pn_value(w, e, p + start, i - start);
        else if (e->vr == DCM_VR_DS || e->vr == DCM_VR_IS) {
            const uint8_t *q = p + start;
            size_t qn = i - start;
            dcm__trim(e->vr, &q, &qn);
            if (qn == 0)
                puts_(w, "null");
            else
                put_text_number(w, e, q, qn);
        } else
            put_text_value(w, e, p + start, i - start);
        start = i + 1;
    }
    put(w, "]", 1);
}

static void put_binary_numbers(jw *w, const dcm_elem *e)
{
    size_t unit = dcm__vr_unit(e->vr), n = e->len / unit;
    int big = e->ds->file->big_endian;
    put(w, "[", 1);
    for (size_t i = 0; i < n && w->rc == MS_OK; i++) {
        const uint8_t *q = e->value + i * unit;
        if (i > 0)
            put(w, ",", 1);
        if (e->vr == DCM_VR_AT) {
            uint16_t g = big ? ms_load_u16be(q) : ms_load_u16le(q);
            uint16_t el = big ? ms_load_u16be(q + 2) : ms_load_u16le(q + 2);
            put_fmt(w, "\"%04X%04X\"", g, el);
        } else if (e->vr == DCM_VR_FL || e->vr == DCM_VR_FD) {
            put_real(w, dcm__binary_number(e->vr, q, big), e->vr == DCM_VR_FL);
        } else if (e->vr == DCM_VR_UV) {
            uint64_t v =
                big ? ((uint64_t)ms_load_u32be(q) << 32 | ms_load_u32be(q + 4)) : ms_load_u64le(q);
            if (v > MAX_SAFE) /* beyond 2^53 most JSON parsers lose digits: a string */
                put_fmt(w, "\"%llu\"", (unsigned long long)v);
            else
                put_fmt(w, "%llu", (unsigned long long)v);
        } else if (e->vr == DCM_VR_SV) {
            uint64_t v =
                big ? ((uint64_t)ms_load_u32be(q) << 32 | ms_load_u32be(q + 4)) : ms_load_u64le(q);
            long long sv = (long long)v;
            if (sv > (long long)MAX_SAFE || sv < -(long long)MAX_SAFE)
                put_fmt(w, "\"%lld\"", sv);
            else
                put_fmt(w, "%lld", sv);
        } else { /* US SS UL SL (OW OL OF OD never get here: binary) */
            put_int(w, (long long)dcm__binary_number(e->vr, q, big));
        }
    }
    put(w, "]", 1);
}

/* Base64 of a value, swapped to little endian for big-endian input. */
static void put_inline(jw *w, const dcm_elem *e, const uint8_t *p, size_t n)
{
    size_t unit = dcm__vr_unit(e->vr);
    ms_buf sw;
    ms_buf_init(&sw, w->out->alloc, 0);
    if (e->ds->file->big_endian && unit > 1 && w->rc == MS_OK) {
        w->rc = ms_buf_append(&sw, p, n, w->err);
        for (size_t i = 0; w->rc == MS_OK && i + unit <= n; i += unit)
            for (size_t a = 0, b = unit - 1; a < b; a++, b--) {
                uint8_t t = sw.p[i + a];
                sw.p[i + a] = sw.p[i + b];
                sw.p[i + b] = t;
            }
        p = sw.p;
    }
    puts_(w, "\"InlineBinary\":\"");
    if (w->rc == MS_OK)
        w->rc = ms_b64_encode(p, n, w->out, w->err);
    put(w, "\"", 1);
    ms_buf_free(&sw);
}

/* Encapsulated pixel data as its item stream (offset table and fragments, no delimiter). */
static void put_encapsulated(jw *w, const dcm_elem *e)
{
    ms_buf s;
    ms_buf_init(&s, w->out->alloc, 0);
    for (size_t i = 0; i < e->nfrags && w->rc == MS_OK; i++) {
        uint8_t h[8];
        ms_store_u16le(h, 0xFFFE);
        ms_store_u16le(h + 2, 0xE000);
        ms_store_u32le(h + 4, (uint32_t)e->frags[i].len);
        w->rc = ms_buf_append(&s, h, 8, w->err);
        if (w->rc == MS_OK)
            w->rc = ms_buf_append(&s, e->frags[i].p, e->frags[i].len, w->err);
    }
    puts_(w, "\"InlineBinary\":\"");
    if (w->rc == MS_OK)
        w->rc = ms_b64_encode(s.p ? s.p : (const uint8_t *)"", s.len, w->out, w->err);
    put(w, "\"", 1);
    ms_buf_free(&s);
}

static void put_dataset(jw *w, const dcm_dataset *ds, size_t depth);

static void put_element(jw *w, const dcm_elem *e, size_t depth)
{
    /* "GGGGEEEE":{"vr":"XX" without printf (the hot path of dump) */
    static const char hex[] = "0123456789ABCDEF";
    char h[24] = "\"00000000\":{\"vr\":\"XX\"";
    for (int i = 0; i < 8; i++)
        h[1 + i] = hex[(e->tag >> (28 - 4 * i)) & 15u];
    const char *vr = dcm_vr_str(e->vr);
    h[18] = vr[0];
    h[19] = vr[1];
    put(w, h, 21);
    if (e->flags & DCM__F_SEQ) {
        if (e->nitems > 0) {
            puts_(w, ",\"Value\":[");
            for (size_t i = 0; i < e->nitems; i++) {
                if (i > 0)
                    put(w, ",", 1);
                put_dataset(w, e->items[i], depth + 1);
            }
            put(w, "]", 1);
        }
    } else if (e->flags & DCM__F_ENCAP) {
        put(w, ",", 1);
        put_encapsulated(w, e);
    } else if (e->len == 0) {
        /* empty: no Value (PS3.18 F.2.5) */
    } else if (dcm__vr_is_binary(e->vr)) {
        put(w, ",", 1);
        put_inline(w, e, e->value, e->len);
    } else if (dcm_vr_is_text(e->vr)) {
        if (dcm_elem_vm(e) > 0) {
            puts_(w, ",\"Value\":");
            put_strings(w, e);
        }
    } else if (e->len >= dcm__vr_unit(e->vr)) {
        puts_(w, ",\"Value\":");
        put_binary_numbers(w, e);
    }
    put(w, "}", 1);
}

static void put_elements(jw *w, const dcm_dataset *ds, size_t depth, int *first)
{
    for (size_t i = 0; i < ds->n && w->rc == MS_OK; i++) {
        const dcm_elem *e = ds->elems[i];
        if (depth == 0 && e->tag == DCM_TAG_PIXEL_DATA && !(w->o && w->o->include_pixels))
            continue;
        if (!*first)
            put(w, ",", 1);
        *first = 0;
        put_element(w, e, depth);
    }
}

static void put_dataset(jw *w, const dcm_dataset *ds, size_t depth)
{
    int first = 1;
    put(w, "{", 1);
    if (depth == 0 && ds == &ds->file->ds && w->o && w->o->include_meta)
        put_elements(w, &ds->file->meta, depth, &first);
    put_elements(w, ds, depth, &first);
    put(w, "}", 1);
}

ms_rc dcm_dataset_json_write(const dcm_dataset *ds, const dcm_json_opts *opts, ms_buf *out,
                             ms_err *err)
{
    if (ds == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "json: NULL argument");
    jw w = {.out = out, .o = opts, .err = err, .rc = MS_OK};
    ms_buf_init(&w.tmp, out->alloc, 0);
    put_dataset(&w, ds, 0);
    ms_buf_free(&w.tmp);
    return w.rc;
}

ms_rc dcm_dataset_to_json(const dcm_dataset *ds, const dcm_json_opts *opts, json_t **out,
                          ms_err *err)
{
    ms_buf b;
    ms_buf_init(&b, ds ? ds->file->alloc : NULL, 0);
    ms_rc rc = dcm_dataset_json_write(ds, opts, &b, err);
    if (rc == MS_OK) {
        json_error_t je;
        json_t *j = json_loadb((const char *)b.p, b.len, JSON_ALLOW_NUL, &je);
        if (j == NULL)
            rc = ms_fail(err, MS_E_INTERNAL, "json: encoder produced invalid JSON at %d",
                         je.position);
        else
            *out = j;
    }
    ms_buf_free(&b);
    return rc;
}

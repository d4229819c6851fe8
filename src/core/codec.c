/*
 * Base64 (RFC 4648 standard alphabet, padded) and lower-case hex.
 * Trusts: nothing; decoders reject any character outside their alphabet.
 */
#include <string.h>

#include "medseal/core.h"

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

ms_rc ms_b64_encode(const uint8_t *in, size_t n, ms_buf *out, ms_err *err)
{
    size_t groups = n / 3 + (n % 3 != 0), need;
    if (ms_size_mul(groups, 4, &need))
        return ms_fail(err, MS_E_LIMIT, "base64 input too large");
    ms_rc rc = ms_buf_reserve(out, need, err);
    if (rc != MS_OK)
        return rc;
    char *o = (char *)out->p + out->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        *o++ = B64[v >> 18];
        *o++ = B64[(v >> 12) & 63];
        *o++ = B64[(v >> 6) & 63];
        *o++ = B64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *o++ = B64[v >> 18];
        *o++ = B64[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        *o++ = B64[v >> 18];
        *o++ = B64[(v >> 12) & 63];
        *o++ = B64[(v >> 6) & 63];
        *o++ = '=';
    }
    out->len += need;
    out->p[out->len] = 0;
    return MS_OK;
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

ms_rc ms_b64_decode(const char *in, size_t n, ms_buf *out, ms_err *err)
{
    ms_rc rc = ms_buf_reserve(out, n / 4 * 3 + 3, err);
    if (rc != MS_OK)
        return rc;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    size_t start = out->len;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_val(c);
        if (v < 0 || pad > 0) {
            out->len = start;
            return ms_fail(err, MS_E_FORMAT, "base64: bad character at offset %zu", i);
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out->p[out->len++] = (uint8_t)(acc >> bits);
        }
    }
    if (pad > 2 || bits >= 6) {
        out->len = start;
        return ms_fail(err, MS_E_FORMAT, "base64: bad length or padding");
    }
    out->p[out->len] = 0;
    return MS_OK;
}

ms_rc ms_hex_encode(const uint8_t *in, size_t n, ms_buf *out, ms_err *err)
{
    static const char H[] = "0123456789abcdef";
    size_t need;
    if (ms_size_mul(n, 2, &need))
        return ms_fail(err, MS_E_LIMIT, "hex input too large");
    ms_rc rc = ms_buf_reserve(out, need, err);
    if (rc != MS_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        out->p[out->len++] = (uint8_t)H[in[i] >> 4];
        out->p[out->len++] = (uint8_t)H[in[i] & 15];
    }
    out->p[out->len] = 0;
    return MS_OK;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ms_rc ms_hex_decode(const char *in, size_t n, uint8_t *out, size_t outlen, ms_err *err)
{
    if (n != outlen * 2)
        return ms_fail(err, MS_E_FORMAT, "hex: want %zu characters, got %zu", outlen * 2, n);
    for (size_t i = 0; i < outlen; i++) {
        int hi = hex_val(in[2 * i]), lo = hex_val(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ms_fail(err, MS_E_FORMAT, "hex: bad character at offset %zu", 2 * i);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return MS_OK;
}

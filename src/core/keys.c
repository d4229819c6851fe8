/*
 * Randomness, site key files, HMAC-SHA-256, and the keyed pseudonyms shared by the DICOM
 * de-identifier and the text scrubber: UIDs, patient pseudonyms and per-patient date offsets.
 * Domain separation: every derivation prefixes a distinct label ("uid", "pid", "date").
 * Trusts: the key file's owner; the key bytes are wiped from every stack copy before return.
 */
#include <string.h>

#include <openssl/rand.h>

#include "medseal/core.h"

ms_rc ms_random(void *buf, size_t n, ms_err *err)
{
    if (n > 0x7fffffff || RAND_bytes(buf, (int)n) != 1)
        return ms_fail(err, MS_E_CRYPTO, "random number generator failed");
    return MS_OK;
}

ms_rc ms_keyfile_read(const char *path, uint8_t key[MS_KEY_LEN], ms_err *err)
{
    ms_buf b;
    ms_rc rc = ms_file_read(path, NULL, 4096, &b, err);
    if (rc != MS_OK)
        return rc;
    const char *s = (const char *)b.p;
    size_t a = 0, e = b.len;
    while (a < e && (s[a] == ' ' || s[a] == '\n' || s[a] == '\r' || s[a] == '\t'))
        a++;
    while (e > a && (s[e - 1] == ' ' || s[e - 1] == '\n' || s[e - 1] == '\r' || s[e - 1] == '\t'))
        e--;
    uint8_t tmp[MS_KEY_LEN];
    rc = ms_hex_decode(s + a, e - a, tmp, MS_KEY_LEN, NULL);
    ms_buf_free(&b);
    if (rc != MS_OK) {
        ms_memzero(tmp, sizeof tmp);
        return ms_fail(err, MS_E_FORMAT, "key file must hold 64 hex characters (medseal keygen)");
    }
    memcpy(key, tmp, MS_KEY_LEN);
    ms_memzero(tmp, sizeof tmp);
    return MS_OK;
}

void ms_keyfile_format(const uint8_t key[MS_KEY_LEN], char out[MS_KEY_LEN * 2 + 2])
{
    static const char H[] = "0123456789abcdef";
    for (size_t i = 0; i < MS_KEY_LEN; i++) {
        out[2 * i] = H[key[i] >> 4];
        out[2 * i + 1] = H[key[i] & 15];
    }
    out[2 * MS_KEY_LEN] = '\n';
    out[2 * MS_KEY_LEN + 1] = '\0';
}

/* Through ms_hmac_pre (hmac.c: OpenSSL's SHA-256 directly, no provider dispatch): an EVP_MAC
 * context per call (allocation, parameter parsing, locks, cleanses) cost about 2 us per HMAC,
 * and pseudonyms and per-patient keys take one or two per value. Same output (RFC 4231 tests). */
ms_rc ms_hmac_sha256(const uint8_t *key, size_t keylen, const void *p1, size_t n1, const void *p2,
                     size_t n2, uint8_t out[32], ms_err *err)
{
    (void)err;
    ms_hmac_pre h;
    ms_hmac_pre_key(&h, key, keylen);
    ms_hmac_pre_mac(&h, p1 != NULL ? p1 : "", p1 != NULL ? n1 : 0, p2, n2, out);
    ms_memzero(&h, sizeof h);
    return MS_OK;
}

static size_t trim_len(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
        n--;
    return n;
}

/* 128-bit big-endian unsigned integer to decimal; out must hold 40 bytes. */
static void u128_decimal(const uint8_t be[16], char out[40])
{
    uint8_t v[16];
    memcpy(v, be, 16);
    char tmp[40];
    size_t n = 0;
    int nonzero = 1;
    while (nonzero) {
        unsigned rem = 0;
        nonzero = 0;
        for (size_t i = 0; i < 16; i++) {
            unsigned cur = rem * 256u + v[i];
            v[i] = (uint8_t)(cur / 10u);
            rem = cur % 10u;
            if (v[i] != 0)
                nonzero = 1;
        }
        tmp[n++] = (char)('0' + rem);
    }
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

ms_rc ms_pseudo_uid(const uint8_t key[MS_KEY_LEN], const char *uid, size_t uid_len,
                    char out[MS_UID_MAX], ms_err *err)
{
    uint8_t h[32];
    uid_len = trim_len(uid, uid_len);
    ms_rc rc = ms_hmac_sha256(key, MS_KEY_LEN, "uid", 4, uid, uid_len, h, err);
    if (rc != MS_OK)
        return rc;
    char dec[40];
    u128_decimal(h, dec);
    memcpy(out, "2.25.", 5);
    memcpy(out + 5, dec, strlen(dec) + 1); /* 5 + at most 39 + NUL fits in 64 */
    ms_memzero(h, sizeof h);
    return MS_OK;
}

static ms_rc patient_mac(const uint8_t key[MS_KEY_LEN], const char *label, size_t label_len,
                         const char *issuer, size_t issuer_len, const char *pid, size_t pid_len,
                         uint8_t h[32], ms_err *err)
{
    /* message = label "\0" issuer "\0" pid (the label carries its own NUL) */
    ms_buf m;
    ms_buf_init(&m, NULL, 0);
    issuer_len = issuer ? trim_len(issuer, issuer_len) : 0;
    pid_len = trim_len(pid, pid_len);
    ms_rc rc = ms_buf_append(&m, label, label_len, err);
    if (rc == MS_OK && issuer_len > 0)
        rc = ms_buf_append(&m, issuer, issuer_len, err);
    if (rc == MS_OK)
        rc = ms_buf_append_byte(&m, 0, err);
    if (rc == MS_OK)
        rc = ms_buf_append(&m, pid, pid_len, err);
    if (rc == MS_OK)
        rc = ms_hmac_sha256(key, MS_KEY_LEN, m.p, m.len, NULL, 0, h, err);
    ms_buf_free(&m);
    return rc;
}

ms_rc ms_pseudo_patient(const uint8_t key[MS_KEY_LEN], const char *issuer, size_t issuer_len,
                        const char *pid, size_t pid_len, char out[MS_PSEUDO_MAX], ms_err *err)
{
    static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint8_t h[32];
    ms_rc rc = patient_mac(key, "pid", 4, issuer, issuer_len, pid, pid_len, h, err);
    if (rc != MS_OK)
        return rc;
    memcpy(out, "MS-", 3);
    /* 16 base32 characters = 80 bits */
    uint64_t hi = ((uint64_t)h[0] << 32) | ((uint64_t)h[1] << 24) | ((uint64_t)h[2] << 16) |
                  ((uint64_t)h[3] << 8) | h[4];
    uint64_t lo = ((uint64_t)h[5] << 32) | ((uint64_t)h[6] << 24) | ((uint64_t)h[7] << 16) |
                  ((uint64_t)h[8] << 8) | h[9];
    for (int i = 0; i < 8; i++)
        out[3 + i] = B32[(hi >> (35 - 5 * i)) & 31];
    for (int i = 0; i < 8; i++)
        out[11 + i] = B32[(lo >> (35 - 5 * i)) & 31];
    out[19] = '\0';
    ms_memzero(h, sizeof h);
    return MS_OK;
}

ms_rc ms_pseudo_date_offset(const uint8_t key[MS_KEY_LEN], const char *issuer, size_t issuer_len,
                            const char *pid, size_t pid_len, int *days, ms_err *err)
{
    uint8_t h[32];
    ms_rc rc = patient_mac(key, "date", 5, issuer, issuer_len, pid, pid_len, h, err);
    if (rc != MS_OK)
        return rc;
    uint32_t v = ms_load_u32be(h);
    ms_memzero(h, sizeof h);
    *days = -1 - (int)(v % 365u); /* -365 .. -1: modulo bias < 2^-23, irrelevant here */
    return MS_OK;
}

/* ---- dates: Howard Hinnant's days_from_civil / civil_from_days ---- */

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

ms_rc ms_date_to_days(int y, int m, int d, long *days)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1)
        return MS_E_FORMAT;
    int maxd = mdays[m - 1] + (m == 2 && is_leap(y));
    if (d > maxd)
        return MS_E_FORMAT;
    long yy = y - (m <= 2);
    long era = yy / 400;
    long yoe = yy - era * 400;
    long mp = (m + 9) % 12;
    long doy = (153 * mp + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *days = era * 146097 + doe - 719468;
    return MS_OK;
}

void ms_days_to_date(long z, int *y, int *m, int *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long yy = yoe + era * 400;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    long dd = doy - (153 * mp + 2) / 5 + 1;
    long mm = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (mm <= 2));
    *m = (int)mm;
    *d = (int)dd;
}

ms_rc ms_da_shift(const char *da, size_t len, int days, char out[9], ms_err *err)
{
    len = trim_len(da, len);
    if (len != 8)
        return ms_fail(err, MS_E_FORMAT, "DA of length %zu, want 8", len);
    int v[8];
    for (int i = 0; i < 8; i++) {
        if (da[i] < '0' || da[i] > '9')
            return ms_fail(err, MS_E_FORMAT, "DA has a non-digit at offset %d", i);
        v[i] = da[i] - '0';
    }
    int y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3], m = v[4] * 10 + v[5], d = v[6] * 10 + v[7];
    long n;
    if (ms_date_to_days(y, m, d, &n) != MS_OK)
        return ms_fail(err, MS_E_FORMAT, "DA is not a valid calendar date");
    n += days;
    ms_days_to_date(n, &y, &m, &d);
    if (y < 1 || y > 9999)
        return ms_fail(err, MS_E_FORMAT, "shifted DA out of range");
    for (int i = 3; i >= 0; i--, y /= 10)
        out[i] = (char)('0' + y % 10);
    out[4] = (char)('0' + m / 10);
    out[5] = (char)('0' + m % 10);
    out[6] = (char)('0' + d / 10);
    out[7] = (char)('0' + d % 10);
    out[8] = '\0';
    return MS_OK;
}

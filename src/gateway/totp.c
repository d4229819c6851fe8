/*
 * RFC 6238 TOTP (HOTP of RFC 4226 over a time counter) and RFC 4648 base32, for the admin role's
 * second factor. Trusts: the caller's secret; the code under test is attacker-supplied and is
 * compared in constant time. Owns: nothing (stack copies of digests are wiped).
 */
#define _GNU_SOURCE
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "medseal/gateway.h"

static const EVP_MD *hash_md(gw_totp_hash h)
{
    switch (h) {
    case GW_TOTP_SHA256:
        return EVP_sha256();
    case GW_TOTP_SHA512:
        return EVP_sha512();
    default:
        return EVP_sha1();
    }
}

ms_rc gw_totp(const uint8_t *secret, size_t secret_len, gw_totp_hash h, uint64_t t, unsigned step,
              unsigned digits, uint32_t *code, ms_err *err)
{
    static const uint32_t pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
    uint8_t msg[8], mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    if (secret == NULL || code == NULL || step == 0 || digits < 6 || digits > 8 ||
        secret_len > 1024)
        return ms_fail(err, MS_E_INVAL, "totp: bad arguments");
    ms_store_u64be(msg, t / step); /* RFC 6238 §4.2: T = (t - T0) / X, T0 = 0 */
    if (HMAC(hash_md(h), secret, (int)secret_len, msg, sizeof msg, mac, &maclen) == NULL ||
        maclen < 20)
        return ms_fail(err, MS_E_CRYPTO, "totp: HMAC failed");
    unsigned off = mac[maclen - 1] & 0x0fu; /* RFC 4226 §5.3 dynamic truncation */
    uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
                   ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
    ms_memzero(mac, sizeof mac);
    *code = bin % pow10[digits];
    return MS_OK;
}

int gw_totp_match(const uint8_t secret[20], const char *code, size_t code_len, uint64_t now,
                  uint64_t *step)
{
    char want[8];
    uint64_t found = 0;
    int ok = 0;
    if (code == NULL || code_len != 6)
        return 0;
    /* Every window step is computed and compared (no early exit), so the time taken does not
     * tell which step matched. Steps go up, so the last match is the greatest. */
    for (int d = -1; d <= 1; d++) {
        uint32_t v = 0;
        uint64_t t = now + (uint64_t)((int64_t)d * 30);
        if (d < 0 && now < 30)
            continue; /* no step before the epoch */
        if (gw_totp(secret, 20, GW_TOTP_SHA1, t, 30, 6, &v, NULL) != MS_OK)
            return 0;
        for (int i = 5; i >= 0; i--) {
            want[i] = (char)('0' + v % 10);
            v /= 10;
        }
        int eq = ms_ct_equal(want, code, 6);
        uint64_t mask = (uint64_t)0 - (uint64_t)eq;
        found = (found & ~mask) | ((t / 30) & mask);
        ok |= eq;
    }
    ms_memzero(want, sizeof want);
    if (ok && step != NULL)
        *step = found;
    return ok;
}

int gw_totp_check(const uint8_t secret[20], const char *code, size_t code_len, uint64_t now)
{
    return gw_totp_match(secret, code, code_len, now, NULL);
}

void gw_base32(const uint8_t *in, size_t n, char *out)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = alpha[(acc >> (bits - 5)) & 31u];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = alpha[(acc << (5 - bits)) & 31u];
    out[o] = '\0';
}

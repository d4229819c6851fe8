/*
 * X.509, ECDSA and hashing helpers over OpenSSL 3 for the attestation verifier: PEM/DER parsing,
 * the compiled-in trust anchors (Intel SGX Root CA, AMD ARK-Milan), raw r||s ECDSA verification,
 * chain building at a given time with CRLs, certificate extensions, time parsing, and a small DER
 * walker for the SGX/AMD extensions.
 *
 * Trusts: only the two PEM constants below (fingerprints in data/attest/MANIFEST.md). Everything
 * else is parsed as hostile. Owns: the objects it returns (callers free with OpenSSL's *_free).
 */
#define _DEFAULT_SOURCE
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Intel SGX Root CA, SHA-256 44:A0:19:6B:...:74:D3, valid 2018-05-21..2049-12-31. */
static const char INTEL_ROOT_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw\n"
    "aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv\n"
    "cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ\n"
    "BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG\n"
    "A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0\n"
    "aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT\n"
    "AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7\n"
    "1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB\n"
    "uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ\n"
    "MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50\n"
    "ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV\n"
    "Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI\n"
    "KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg\n"
    "AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=\n"
    "-----END CERTIFICATE-----\n";

static const char AMD_ARK_MILAN_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIGYzCCBBKgAwIBAgIDAQAAMEYGCSqGSIb3DQEBCjA5oA8wDQYJYIZIAWUDBAIC\n"
    "BQChHDAaBgkqhkiG9w0BAQgwDQYJYIZIAWUDBAICBQCiAwIBMKMDAgEBMHsxFDAS\n"
    "BgNVBAsMC0VuZ2luZWVyaW5nMQswCQYDVQQGEwJVUzEUMBIGA1UEBwwLU2FudGEg\n"
    "Q2xhcmExCzAJBgNVBAgMAkNBMR8wHQYDVQQKDBZBZHZhbmNlZCBNaWNybyBEZXZp\n"
    "Y2VzMRIwEAYDVQQDDAlBUkstTWlsYW4wHhcNMjAxMDIyMTcyMzA1WhcNNDUxMDIy\n"
    "MTcyMzA1WjB7MRQwEgYDVQQLDAtFbmdpbmVlcmluZzELMAkGA1UEBhMCVVMxFDAS\n"
    "BgNVBAcMC1NhbnRhIENsYXJhMQswCQYDVQQIDAJDQTEfMB0GA1UECgwWQWR2YW5j\n"
    "ZWQgTWljcm8gRGV2aWNlczESMBAGA1UEAwwJQVJLLU1pbGFuMIICIjANBgkqhkiG\n"
    "9w0BAQEFAAOCAg8AMIICCgKCAgEA0Ld52RJOdeiJlqK2JdsVmD7FktuotWwX1fNg\n"
    "W41XY9Xz1HEhSUmhLz9Cu9DHRlvgJSNxbeYYsnJfvyjx1MfU0V5tkKiU1EesNFta\n"
    "1kTA0szNisdYc9isqk7mXT5+KfGRbfc4V/9zRIcE8jlHN61S1ju8X93+6dxDUrG2\n"
    "SzxqJ4BhqyYmUDruPXJSX4vUc01P7j98MpqOS95rORdGHeI52Naz5m2B+O+vjsC0\n"
    "60d37jY9LFeuOP4Meri8qgfi2S5kKqg/aF6aPtuAZQVR7u3KFYXP59XmJgtcog05\n"
    "gmI0T/OitLhuzVvpZcLph0odh/1IPXqx3+MnjD97A7fXpqGd/y8KxX7jksTEzAOg\n"
    "bKAeam3lm+3yKIcTYMlsRMXPcjNbIvmsBykD//xSniusuHBkgnlENEWx1UcbQQrs\n"
    "+gVDkuVPhsnzIRNgYvM48Y+7LGiJYnrmE8xcrexekBxrva2V9TJQqnN3Q53kt5vi\n"
    "Qi3+gCfmkwC0F0tirIZbLkXPrPwzZ0M9eNxhIySb2npJfgnqz55I0u33wh4r0ZNQ\n"
    "eTGfw03MBUtyuzGesGkcw+loqMaq1qR4tjGbPYxCvpCq7+OgpCCoMNit2uLo9M18\n"
    "fHz10lOMT8nWAUvRZFzteXCm+7PHdYPlmQwUw3LvenJ/ILXoQPHfbkH0CyPfhl1j\n"
    "WhJFZasCAwEAAaN+MHwwDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBSFrBrRQ/fI\n"
    "rFXUxR1BSKvVeErUUzAPBgNVHRMBAf8EBTADAQH/MDoGA1UdHwQzMDEwL6AtoCuG\n"
    "KWh0dHBzOi8va2RzaW50Zi5hbWQuY29tL3ZjZWsvdjEvTWlsYW4vY3JsMEYGCSqG\n"
    "SIb3DQEBCjA5oA8wDQYJYIZIAWUDBAICBQChHDAaBgkqhkiG9w0BAQgwDQYJYIZI\n"
    "AWUDBAICBQCiAwIBMKMDAgEBA4ICAQC6m0kDp6zv4Ojfgy+zleehsx6ol0ocgVel\n"
    "ETobpx+EuCsqVFRPK1jZ1sp/lyd9+0fQ0r66n7kagRk4Ca39g66WGTJMeJdqYriw\n"
    "STjjDCKVPSesWXYPVAyDhmP5n2v+BYipZWhpvqpaiO+EGK5IBP+578QeW/sSokrK\n"
    "dHaLAxG2LhZxj9aF73fqC7OAJZ5aPonw4RE299FVarh1Tx2eT3wSgkDgutCTB1Yq\n"
    "zT5DuwvAe+co2CIVIzMDamYuSFjPN0BCgojl7V+bTou7dMsqIu/TW/rPCX9/EUcp\n"
    "KGKqPQ3P+N9r1hjEFY1plBg93t53OOo49GNI+V1zvXPLI6xIFVsh+mto2RtgEX/e\n"
    "pmMKTNN6psW88qg7c1hTWtN6MbRuQ0vm+O+/2tKBF2h8THb94OvvHHoFDpbCELlq\n"
    "HnIYhxy0YKXGyaW1NjfULxrrmxVW4wcn5E8GddmvNa6yYm8scJagEi13mhGu4Jqh\n"
    "3QU3sf8iUSUr09xQDwHtOQUVIqx4maBZPBtSMf+qUDtjXSSq8lfWcd8bLr9mdsUn\n"
    "JZJ0+tuPMKmBnSH860llKk+VpVQsgqbzDIvOLvD6W1Umq25boxCYJ+TuBoa4s+HH\n"
    "CViAvgT9kf/rBq1d+ivj6skkHxuzcxbk1xv6ZGxrteJxVH7KlX7YRdZ6eARKwLe4\n"
    "AFZEAwoKCQ==\n"
    "-----END CERTIFICATE-----\n";

static X509 *cert_from_pem_str(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

/* Returns a new reference each call (the caller frees it); parsing a constant is cheap and keeps
 * the module free of global mutable state. */
X509 *att__pinned_intel_root(void)
{
    return cert_from_pem_str(INTEL_ROOT_PEM);
}

X509 *att__pinned_amd_ark_milan(void)
{
    return cert_from_pem_str(AMD_ARK_MILAN_PEM);
}

ms_rc att__pem_certs(const uint8_t *text, size_t len, STACK_OF(X509) * *out, ms_err *err)
{
    if (len > INT32_MAX)
        return ms_fail(err, MS_E_LIMIT, "certificate text too large");
    BIO *b = BIO_new_mem_buf(text, (int)len);
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (b == NULL || sk == NULL) {
        BIO_free(b);
        sk_X509_free(sk);
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    }
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_num(sk) >= 16 || !sk_X509_push(sk, x)) {
            X509_free(x);
            break;
        }
    }
    ERR_clear_error();
    BIO_free(b);
    if (sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        return ms_fail(err, MS_E_FORMAT, "no PEM certificate found");
    }
    *out = sk;
    return MS_OK;
}

ms_rc att__der_cert(const uint8_t *der, size_t len, X509 **out, ms_err *err)
{
    const unsigned char *p = der;
    if (len > INT32_MAX)
        return ms_fail(err, MS_E_LIMIT, "certificate too large");
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x == NULL) {
        ERR_clear_error();
        return ms_fail(err, MS_E_FORMAT, "not a DER certificate");
    }
    *out = x;
    return MS_OK;
}

static ECDSA_SIG *sig_from_raw(const uint8_t *rs, size_t n)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, (int)n, NULL), *ss = BN_bin2bn(rs + n, (int)n, NULL);
    if (s == NULL || r == NULL || ss == NULL || !ECDSA_SIG_set0(s, r, ss)) {
        ECDSA_SIG_free(s);
        BN_free(r);
        BN_free(ss);
        return NULL;
    }
    return s;
}

int att__ecdsa_verify_raw(EVP_PKEY *key, const char *md, const uint8_t *rs, size_t n,
                          const uint8_t *data, size_t len)
{
    if (key == NULL || n == 0 || n > 72)
        return 0;
    ECDSA_SIG *s = sig_from_raw(rs, n);
    unsigned char *der = NULL;
    int derlen = s != NULL ? i2d_ECDSA_SIG(s, &der) : -1;
    ECDSA_SIG_free(s);
    if (derlen <= 0)
        return 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestVerifyInit_ex(ctx, NULL, md, NULL, NULL, key, NULL) == 1 &&
             EVP_DigestVerify(ctx, der, (size_t)derlen, data, len) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ERR_clear_error();
    return ok;
}

EVP_PKEY *att__p256_from_xy(const uint8_t xy[64])
{
    uint8_t pt[65];
    pt[0] = 0x04;
    memcpy(pt + 1, xy, 64);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (bld != NULL && ctx != NULL &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt)) {
        params = OSSL_PARAM_BLD_to_param(bld);
        if (params == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
            key = NULL;
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return key;
}

static int chain_store(X509_STORE **out, STACK_OF(X509) * roots, STACK_OF(X509_CRL) * crls)
{
    X509_STORE *st = X509_STORE_new();
    if (st == NULL)
        return 0;
    for (int i = 0; i < sk_X509_num(roots); i++)
        X509_STORE_add_cert(st, sk_X509_value(roots, i));
    for (int i = 0; crls != NULL && i < sk_X509_CRL_num(crls); i++)
        X509_STORE_add_crl(st, sk_X509_CRL_value(crls, i));
    *out = st;
    return 1;
}

int att__chain_verify(X509 *leaf, STACK_OF(X509) * untrusted, STACK_OF(X509) * roots,
                      STACK_OF(X509_CRL) * crls, time_t at, const char *what, ms_err *err)
{
    X509_STORE *st = NULL;
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = 0;
    if (ctx == NULL || !chain_store(&st, roots, crls)) {
        ms_fail(err, MS_E_NOMEM, "out of memory");
        goto done;
    }
    if (X509_STORE_CTX_init(ctx, st, leaf, untrusted) != 1) {
        ms_fail(err, MS_E_NOMEM, "%s: chain context", what);
        goto done;
    }
    unsigned long flags = 0;
    if (crls != NULL && sk_X509_CRL_num(crls) > 0)
        flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
    X509_STORE_CTX_set_flags(ctx, flags);
    X509_STORE_CTX_set_time(ctx, 0, at);
    ok = X509_verify_cert(ctx) == 1;
    if (!ok) {
        int e = X509_STORE_CTX_get_error(ctx);
        ms_fail(err, MS_E_VERIFY, "%s: %s (depth %d)", what, X509_verify_cert_error_string(e),
                X509_STORE_CTX_get_error_depth(ctx));
    }
done:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    ERR_clear_error();
    return ok;
}

void att__sha256(const void *p, size_t n, uint8_t out[32])
{
    EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL);
}

void att__sha512(const void *p, size_t n, uint8_t out[64])
{
    EVP_Digest(p, n, out, NULL, EVP_sha512(), NULL);
}

int att__cert_sha256(X509 *c, uint8_t out[32])
{
    unsigned int n = 32;
    return X509_digest(c, EVP_sha256(), out, &n) == 1;
}

static int two(const char *s, int *v)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return 0;
    *v = (s[0] - '0') * 10 + (s[1] - '0');
    return 1;
}

int att__parse_time(const char *s, time_t *out)
{
    int c, y, mo, d, h, mi, se;
    size_t n = s != NULL ? strlen(s) : 0;
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return 0;
    if (!two(s, &c) || !two(s + 2, &y) || !two(s + 5, &mo) || !two(s + 8, &d) || !two(s + 11, &h) ||
        !two(s + 14, &mi) || !two(s + 17, &se))
        return 0;
    const char *t = s + 19;
    if (*t == '.') {
        t++;
        while (*t >= '0' && *t <= '9')
            t++;
    }
    if (strcmp(t, "Z") != 0 || h > 23 || mi > 59 || se > 60)
        return 0;
    long days;
    if (ms_date_to_days(c * 100 + y, mo, d, &days) != MS_OK)
        return 0;
    *out = (time_t)(days * 86400L + h * 3600L + mi * 60L + se);
    return 1;
}

void att__fmt_time(time_t t, char out[32])
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "?");
}

int att__json_hex(json_t *obj, const char *key, const uint8_t *p, size_t n)
{
    static const char H[] = "0123456789abcdef";
    char buf[2 * 256 + 1];
    if (n > 256)
        return 0;
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = H[p[i] >> 4];
        buf[2 * i + 1] = H[p[i] & 15];
    }
    buf[2 * n] = 0;
    return json_object_set_new(obj, key, json_string(buf)) == 0;
}

const ASN1_OCTET_STRING *att__cert_ext(X509 *c, const char *oid)
{
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    if (o == NULL)
        return NULL;
    int i = X509_get_ext_by_OBJ(c, o, -1);
    ASN1_OBJECT_free(o);
    if (i < 0)
        return NULL;
    return X509_EXTENSION_get_data(X509_get_ext(c, i));
}

void att__cert_cn(X509 *c, char *out, size_t n)
{
    out[0] = 0;
    if (c == NULL || n > INT32_MAX)
        return;
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, out, (int)n) < 0)
        out[0] = 0;
}

ms_rc att__der_tlv(ms_rd *r, uint8_t *tag, ms_slice *val)
{
    uint8_t t, l0;
    if (ms_rd_u8(r, &t) || ms_rd_u8(r, &l0))
        return MS_E_TRUNC;
    if ((t & 0x1f) == 0x1f)
        return MS_E_UNSUPPORTED; /* multi-byte tags never occur in the extensions we read */
    size_t len = l0;
    if (l0 & 0x80) {
        unsigned nb = l0 & 0x7fu;
        if (nb == 0 || nb > 4)
            return MS_E_FORMAT;
        len = 0;
        for (unsigned i = 0; i < nb; i++) {
            uint8_t b;
            if (ms_rd_u8(r, &b))
                return MS_E_TRUNC;
            len = (len << 8) | b;
        }
    }
    const uint8_t *p;
    if (ms_rd_take(r, len, &p))
        return MS_E_TRUNC;
    *tag = t;
    val->p = p;
    val->len = len;
    return MS_OK;
}

int att__der_uint(ms_slice v, uint64_t *out)
{
    if (v.len == 0 || v.len > 9 || (v.p[0] & 0x80))
        return 0;
    if (v.len == 9 && v.p[0] != 0)
        return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < v.len; i++)
        x = (x << 8) | v.p[i];
    *out = x;
    return 1;
}

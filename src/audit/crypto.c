/*
 * Cryptographic building blocks of the audit log, all OpenSSL 3: SHA-256 leaf/node hashes
 * (RFC 9162), HMAC-SHA-256 with precomputed pads (one MAC per record must be cheap), the
 * forward-secure key step (HKDF-SHA-256), AES-256-GCM for payloads and Ed25519 for tree heads.
 * Trusts: its callers for key lengths. Owns: the OpenSSL contexts it creates; wipes key copies.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* see internal.h: SHA256_* on the hot path */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>

#include "internal.h"

ms_rc audit__sha_init(audit__sha *s, ms_err *err)
{
    (void)err;
    s->ready = 1;
    return MS_OK;
}

void audit__sha_free(audit__sha *s)
{
    ms_memzero(s, sizeof *s);
}

void audit__sha_leaf(audit__sha *s, const uint8_t *d, size_t n, uint8_t out[32])
{
    static const uint8_t zero = 0;
    SHA256_Init(&s->c);
    SHA256_Update(&s->c, &zero, 1);
    SHA256_Update(&s->c, d, n);
    SHA256_Final(out, &s->c);
}

void audit__sha_node(audit__sha *s, const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
    static const uint8_t one = 1;
    uint8_t tmp[32];
    SHA256_Init(&s->c); /* not SHA256(): in OpenSSL 3 it fetches an EVP method per call */
    SHA256_Update(&s->c, &one, 1);
    SHA256_Update(&s->c, l, 32);
    SHA256_Update(&s->c, r, 32);
    SHA256_Final(tmp, &s->c);
    memcpy(out, tmp, 32);
}

void audit__rec_digest(audit__sha *s, const uint8_t *raw, size_t n, uint8_t d[32])
{
    SHA256_Init(&s->c);
    SHA256_Update(&s->c, raw, n);
    SHA256_Final(d, &s->c);
}

void audit__rec_leaf_of(audit__sha *s, const uint8_t d[32], const uint8_t mac[32], uint8_t out[32])
{
    static const uint8_t zero = 0;
    uint8_t tmp[32];
    SHA256_Init(&s->c);
    SHA256_Update(&s->c, &zero, 1);
    SHA256_Update(&s->c, d, 32);
    SHA256_Update(&s->c, mac, 32);
    SHA256_Final(tmp, &s->c);
    memcpy(out, tmp, 32);
}

void audit__rec_leaf(audit__sha *s, const uint8_t *raw, size_t len, uint8_t out[32])
{
    uint8_t d[32];
    audit__rec_digest(s, raw, len - AUDIT_MAC_LEN, d);
    audit__rec_leaf_of(s, d, raw + len - AUDIT_MAC_LEN, out);
}

void audit_leaf_hash(const uint8_t *data, size_t len, uint8_t out[AUDIT_HASH_LEN])
{
    audit__sha s;
    audit__sha_leaf(&s, data, len, out);
    ms_memzero(&s, sizeof s);
}

ms_rc audit__hmac_init(audit__hmac *h, audit__sha *sha, ms_err *err)
{
    (void)sha;
    (void)err;
    memset(h, 0, sizeof *h);
    return MS_OK;
}

void audit__hmac_free(audit__hmac *h)
{
    ms_memzero(h, sizeof *h);
}

/* RFC 2104 with the pads hashed once per key: ms_hmac_pre (core), which the scrubber uses too. */
ms_rc audit__hmac_key(audit__hmac *h, const uint8_t key[32], ms_err *err)
{
    (void)err;
    ms_hmac_pre_key(&h->pre, key, 32);
    return MS_OK;
}

void audit__hmac_mac(audit__hmac *h, const uint8_t *d, size_t n, uint8_t out[32])
{
    ms_hmac_pre_mac(&h->pre, d, n, NULL, 0, out);
}

ms_rc audit__epoch_next(const uint8_t key[32], uint32_t next_epoch, uint8_t out[32], ms_err *err)
{
    static const char salt[] = "medseal-audit-epoch";
    uint8_t info[4];
    ms_store_u32be(info, next_epoch);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *k = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (k == NULL)
        return ms_fail(err, MS_E_CRYPTO, "HKDF unavailable");
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, 32),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, sizeof salt - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(k, out, 32, p) == 1;
    EVP_KDF_CTX_free(k);
    return ok ? MS_OK : ms_fail(err, MS_E_CRYPTO, "HKDF failed");
}

ms_rc audit__gcm_init(audit__gcm *g, const uint8_t key[32], ms_err *err)
{
    g->enc = EVP_CIPHER_CTX_new();
    g->dec = EVP_CIPHER_CTX_new();
    if (g->enc == NULL || g->dec == NULL ||
        EVP_EncryptInit_ex(g->enc, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
        EVP_DecryptInit_ex(g->dec, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
        audit__gcm_free(g);
        return ms_fail(err, MS_E_CRYPTO, "AES-256-GCM setup failed");
    }
    return MS_OK;
}

void audit__gcm_free(audit__gcm *g)
{
    EVP_CIPHER_CTX_free(g->enc);
    EVP_CIPHER_CTX_free(g->dec);
    g->enc = g->dec = NULL;
}

ms_rc audit__gcm_seal(audit__gcm *g, const uint8_t nonce[AUDIT_NONCE], const uint8_t *aad,
                      size_t aad_len, const uint8_t *in, size_t n, uint8_t *out, ms_err *err)
{
    int l1 = 0, l2 = 0;
    if (n > AUDIT_REC_MAX || aad_len > AUDIT_REC_HDR)
        return ms_fail(err, MS_E_LIMIT, "payload too large");
    if (EVP_EncryptInit_ex(g->enc, NULL, NULL, NULL, nonce) != 1 ||
        EVP_EncryptUpdate(g->enc, NULL, &l1, aad, (int)aad_len) != 1 ||
        EVP_EncryptUpdate(g->enc, out, &l1, in, (int)n) != 1 ||
        EVP_EncryptFinal_ex(g->enc, out + l1, &l2) != 1 ||
        EVP_CIPHER_CTX_ctrl(g->enc, EVP_CTRL_GCM_GET_TAG, AUDIT_TAG, out + n) != 1)
        return ms_fail(err, MS_E_CRYPTO, "AES-256-GCM encryption failed");
    return MS_OK;
}

ms_rc audit__gcm_open(audit__gcm *g, const uint8_t nonce[AUDIT_NONCE], const uint8_t *aad,
                      size_t aad_len, const uint8_t *in, size_t n, uint8_t *out, ms_err *err)
{
    int l1 = 0, l2 = 0;
    uint8_t tag[AUDIT_TAG];
    if (n > AUDIT_REC_MAX || aad_len > AUDIT_REC_HDR)
        return ms_fail(err, MS_E_LIMIT, "payload too large");
    memcpy(tag, in + n, AUDIT_TAG);
    if (EVP_DecryptInit_ex(g->dec, NULL, NULL, NULL, nonce) != 1 ||
        EVP_DecryptUpdate(g->dec, NULL, &l1, aad, (int)aad_len) != 1 ||
        EVP_DecryptUpdate(g->dec, out, &l1, in, (int)n) != 1 ||
        EVP_CIPHER_CTX_ctrl(g->dec, EVP_CTRL_GCM_SET_TAG, AUDIT_TAG, tag) != 1 ||
        EVP_DecryptFinal_ex(g->dec, out + l1, &l2) != 1)
        return ms_fail(err, MS_E_CRYPTO, "payload authentication failed (wrong log key?)");
    return MS_OK;
}

static void sth_message(uint64_t size, uint64_t time_ns, const uint8_t root[32], uint8_t m[69])
{
    memcpy(m, "medseal-audit-sth-v1", 21); /* includes the NUL */
    ms_store_u64be(m + 21, size);
    ms_store_u64be(m + 29, time_ns);
    memcpy(m + 37, root, 32);
}

ms_rc audit__sth_sign(EVP_PKEY *key, uint64_t size, uint64_t time_ns, const uint8_t root[32],
                      uint8_t sig[64], ms_err *err)
{
    uint8_t m[69];
    size_t siglen = 64;
    sth_message(size, time_ns, root, m);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL && EVP_DigestSignInit(c, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestSign(c, sig, &siglen, m, sizeof m) == 1 && siglen == 64;
    EVP_MD_CTX_free(c);
    return ok ? MS_OK : ms_fail(err, MS_E_CRYPTO, "Ed25519 signing failed");
}

int audit__sth_verify(const uint8_t pub[32], uint64_t size, uint64_t time_ns,
                      const uint8_t root[32], const uint8_t sig[64])
{
    uint8_t m[69];
    sth_message(size, time_ns, root, m);
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = k != NULL && c != NULL && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestVerify(c, sig, 64, m, sizeof m) == 1;
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(k);
    return ok;
}

ms_rc audit__ed25519_from_seed(const uint8_t seed[32], EVP_PKEY **out, uint8_t pub[32], ms_err *err)
{
    size_t n = 32;
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    if (k == NULL || EVP_PKEY_get_raw_public_key(k, pub, &n) != 1 || n != 32) {
        EVP_PKEY_free(k);
        return ms_fail(err, MS_E_CRYPTO, "Ed25519 key setup failed");
    }
    *out = k;
    return MS_OK;
}

/*
 * HMAC-SHA-256 with the key's pad blocks hashed once (RFC 2104: HMAC(K, m) =
 * H((K ^ opad) || H((K ^ ipad) || m)), K zero-padded to the 64-byte block, or hashed first when
 * longer). For callers that MAC many short values under one key: ms_hmac_sha256 (keys.c), the
 * phi scrubber's surrogates and the audit log's record MACs. The low-level SHA256_* functions
 * are deprecated in OpenSSL 3 but remain in 3.x; a MAC through EVP copies two digest contexts
 * through the provider (allocations, locks, cleanses), which was most of the cost of a
 * surrogate. The audit log hashes its records with the same functions (src/audit/internal.h).
 * Trusts: its caller's key and lengths. Owns: nothing (the caller's ms_hmac_pre).
 */
#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif
#include <string.h>

#include <openssl/sha.h>

#include "medseal/core.h"

_Static_assert(2 * sizeof(SHA256_CTX) <= sizeof(((ms_hmac_pre *)0)->st),
               "ms_hmac_pre holds two SHA256_CTX");

/* The states live in ms_hmac_pre's storage as bytes: copied in and out with memcpy, never read
 * through a cast pointer. */
void ms_hmac_pre_key(ms_hmac_pre *h, const uint8_t *key, size_t keylen)
{
    uint8_t k[64], pad[64];
    SHA256_CTX c;
    memset(k, 0, sizeof k);
    if (keylen > sizeof k)
        SHA256(key, keylen, k);
    else
        memcpy(k, key, keylen);
    for (int which = 0; which < 2; which++) {
        for (size_t i = 0; i < sizeof pad; i++)
            pad[i] = (uint8_t)(k[i] ^ (which == 0 ? 0x36 : 0x5c));
        SHA256_Init(&c);
        SHA256_Update(&c, pad, sizeof pad);
        memcpy(h->st[which], &c, sizeof c);
    }
    ms_memzero(k, sizeof k);
    ms_memzero(pad, sizeof pad);
    ms_memzero(&c, sizeof c);
}

void ms_hmac_pre_mac(const ms_hmac_pre *h, const void *p1, size_t n1, const void *p2, size_t n2,
                     uint8_t out[32])
{
    uint8_t inner[32];
    SHA256_CTX c;
    memcpy(&c, h->st[0], sizeof c);
    SHA256_Update(&c, p1, n1);
    if (p2 != NULL)
        SHA256_Update(&c, p2, n2);
    SHA256_Final(inner, &c);
    memcpy(&c, h->st[1], sizeof c);
    SHA256_Update(&c, inner, sizeof inner);
    SHA256_Final(out, &c);
    ms_memzero(inner, sizeof inner);
    ms_memzero(&c, sizeof c);
}

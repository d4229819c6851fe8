/*
 * Interoperable RA-TLS (CCC-Attestation/interoperable-ra-tls; TCG DICE tagged evidence, OID
 * 2.23.133.5.4.9): parses the CBOR tag 60000([quote, claims]) of a certificate's extension and
 * checks the binding REPORTDATA[0:32] == SHA-256(claims) and claims."pubkey-hash" == SHA-256 of
 * the certificate's SubjectPublicKeyInfo. The generator is att_ratls_extension (evidence.c).
 *
 * Trusts: nothing in the certificate. Owns: nothing (slices borrow the certificate).
 */
#include <openssl/x509v3.h>
#include <string.h>

#include "internal.h"

static int cbor_len(ms_rd *r, uint8_t major, uint64_t *v)
{
    uint8_t h;
    if (ms_rd_u8(r, &h) || (h >> 5) != major)
        return 0;
    uint8_t ai = h & 31;
    if (ai < 24) {
        *v = ai;
        return 1;
    }
    if (ai == 24) {
        uint8_t b;
        if (ms_rd_u8(r, &b))
            return 0;
        *v = b;
        return 1;
    }
    if (ai == 25) {
        uint16_t b;
        if (ms_rd_u16be(r, &b))
            return 0;
        *v = b;
        return 1;
    }
    if (ai == 26) {
        uint32_t b;
        if (ms_rd_u32be(r, &b))
            return 0;
        *v = b;
        return 1;
    }
    return 0;
}

static int cbor_bstr(ms_rd *r, ms_slice *out)
{
    uint64_t n;
    if (!cbor_len(r, 2, &n) || n > r->left)
        return 0;
    out->p = r->p;
    out->len = (size_t)n;
    return ms_rd_skip(r, (size_t)n) == MS_OK;
}

/* claims: {"pubkey-hash": bstr([alg, bstr hash])}; only sha-256 (1) is produced by medseal. */
static int claims_hash(ms_slice c, uint8_t out[32])
{
    ms_rd r = {c.p, c.len};
    uint64_t n, alg;
    const uint8_t *key;
    ms_slice inner, h;
    if (!cbor_len(&r, 5, &n) || n == 0)
        return 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t kl;
        if (!cbor_len(&r, 3, &kl) || kl > r.left || ms_rd_take(&r, (size_t)kl, &key))
            return 0;
        int is_pk = kl == 11 && memcmp(key, "pubkey-hash", 11) == 0;
        if (!cbor_bstr(&r, &inner))
            return 0; /* medseal reads only maps of byte strings */
        if (!is_pk)
            continue;
        ms_rd ir = {inner.p, inner.len};
        if (!cbor_len(&ir, 4, &n) || n != 2 || !cbor_len(&ir, 0, &alg) || alg != 1 ||
            !cbor_bstr(&ir, &h) || h.len != 32)
            return 0;
        memcpy(out, h.p, 32);
        return 1;
    }
    return 0;
}

ms_rc att__ratls_check(const uint8_t *cert, size_t len, json_t *out, ms_err *err)
{
    X509 *x = NULL;
    STACK_OF(X509) *sk = NULL;
    if (att__der_cert(cert, len, &x, NULL) != MS_OK) {
        ms_rc rc = att__pem_certs(cert, len, &sk, err);
        if (rc != MS_OK)
            return rc;
        x = sk_X509_shift(sk);
        sk_X509_pop_free(sk, X509_free);
    }
    const ASN1_OCTET_STRING *os = att__cert_ext(x, ATT_RATLS_OID);
    ms_rd r = {os ? ASN1_STRING_get0_data(os) : NULL, os ? (size_t)ASN1_STRING_length(os) : 0};
    uint64_t tag, n;
    ms_slice quote = {0}, claims = {0};
    uint8_t spki[32], pk[32], ch[32];
    ms_rc rc = MS_OK;
    if (os == NULL)
        rc = ms_fail(err, MS_E_NOTFOUND, "RA-TLS: no %s extension", ATT_RATLS_OID);
    else if (!cbor_len(&r, 6, &tag) || tag != 60000 || !cbor_len(&r, 4, &n) || n != 2 ||
             !cbor_bstr(&r, &quote) || !cbor_bstr(&r, &claims))
        rc = ms_fail(err, MS_E_FORMAT, "RA-TLS: extension is not tag 60000([quote, claims])");
    else if (!claims_hash(claims, pk))
        rc = ms_fail(err, MS_E_FORMAT, "RA-TLS: claims lack a sha-256 pubkey-hash");
    else if (att_spki_sha256_pkey(X509_get0_pubkey(x), spki, err) != MS_OK)
        rc = MS_E_FORMAT;
    /* REPORTDATA sits at 368 in SGX v3 quotes (48 + 320) and at 568 in TDX v4 (48 + 520) */
    size_t rd_off = 568;
    if (rc == MS_OK && quote.len >= 2 && ms_load_u16le(quote.p) == 3)
        rd_off = 368;
    if (rc == MS_OK && quote.len < rd_off + 64)
        rc = ms_fail(err, MS_E_TRUNC, "RA-TLS: quote too short for REPORTDATA");
    if (rc == MS_OK) {
        att__sha256(claims.p, claims.len, ch);
        json_object_set_new(out, "pubkey_hash_matches", json_boolean(ms_ct_equal(pk, spki, 32)));
        json_object_set_new(out, "claims_bound",
                            json_boolean(ms_ct_equal(ch, quote.p + rd_off, 32)));
        att__json_hex(out, "spki_sha256", spki, 32);
        json_object_set_new(out, "quote_version", json_integer(ms_load_u16le(quote.p)));
        json_object_set_new(out, "quote_length", json_integer((json_int_t)quote.len));
        if (ms_load_u16le(quote.p) == 3) /* SGX report body: MRENCLAVE @112, MRSIGNER @176 */
            att__json_hex(out, "mr_enclave", quote.p + 48 + 64, 32),
                att__json_hex(out, "mr_signer", quote.p + 48 + 128, 32);
    }
    X509_free(x);
    return rc;
}

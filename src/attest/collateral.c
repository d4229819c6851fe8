/*
 * Collateral loading: Intel PCS/PCCS collateral JSON (the QuoteCollateralV3 keys used by dcap-qvl
 * and Intel's QVL) and AMD certificates (VCEK/VLEK, ASK/ASVK, ARK as PEM or DER, CRLs). Loading
 * only parses; nothing here is trusted until verify_tdx.c / tcb.c / snp.c chain it to a pinned
 * root.
 *
 * Trusts: nothing. Owns: the att_collateral and everything in it (att_collateral_free).
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>

#include "internal.h"

#define COLL_FILE_MAX (4u * 1024u * 1024u)
#define COLL_JSON_MAX (1024u * 1024u)

ms_rc att_collateral_new(att_collateral **out, ms_err *err)
{
    att_collateral *c = ms_malloc(NULL, sizeof *c);
    if (c == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    *out = c;
    return MS_OK;
}

void att_collateral_free(att_collateral *c)
{
    if (c == NULL)
        return;
    sk_X509_pop_free(c->pck_crl_chain, X509_free);
    sk_X509_pop_free(c->tcb_chain, X509_free);
    sk_X509_pop_free(c->qe_chain, X509_free);
    X509_CRL_free(c->root_crl);
    X509_CRL_free(c->pck_crl);
    ms_free(NULL, c->tcb_info);
    ms_free(NULL, c->qe_identity);
    sk_X509_pop_free(c->amd_certs, X509_free);
    sk_X509_CRL_pop_free(c->amd_crls, X509_CRL_free);
    ms_free(NULL, c);
}

static X509_CRL *crl_from(const char *s, ms_err *err)
{
    size_t n = strlen(s);
    X509_CRL *crl = NULL;
    if (n > COLL_JSON_MAX) {
        ms_fail(err, MS_E_LIMIT, "CRL too large");
        return NULL;
    }
    if (strstr(s, "-----BEGIN X509 CRL-----") != NULL) {
        BIO *b = BIO_new_mem_buf(s, (int)n);
        crl = b != NULL ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
    } else if (n % 2 == 0) {
        uint8_t *der = ms_malloc(NULL, n / 2 + 1);
        if (der != NULL && ms_hex_decode(s, n, der, n / 2, NULL) == MS_OK) {
            const unsigned char *p = der;
            crl = d2i_X509_CRL(NULL, &p, (long)(n / 2));
        }
        ms_free(NULL, der);
    }
    ERR_clear_error();
    if (crl == NULL)
        ms_fail(err, MS_E_FORMAT, "collateral: CRL is neither hex DER nor PEM");
    return crl;
}

static const char *jstr(const json_t *j, const char *key, ms_err *err)
{
    const char *s = json_string_value(json_object_get(j, key));
    if (s == NULL)
        ms_fail(err, MS_E_FORMAT, "collateral: \"%s\" missing or not a string", key);
    return s;
}

static ms_rc pem_field(const json_t *j, const char *key, STACK_OF(X509) * *out, ms_err *err)
{
    const char *s = jstr(j, key, err);
    if (s == NULL)
        return MS_E_FORMAT;
    ms_rc rc = att__pem_certs((const uint8_t *)s, strlen(s), out, err);
    if (rc != MS_OK)
        return ms_fail(err, rc, "collateral: \"%s\" holds no certificate", key);
    return MS_OK;
}

static ms_rc sig_field(const json_t *j, const char *key, uint8_t out[64], ms_err *err)
{
    const char *s = jstr(j, key, err);
    if (s == NULL)
        return MS_E_FORMAT;
    if (strlen(s) != 128 || ms_hex_decode(s, 128, out, 64, NULL) != MS_OK)
        return ms_fail(err, MS_E_FORMAT, "collateral: \"%s\" is not 64 bytes of hex", key);
    return MS_OK;
}

static ms_rc raw_field(const json_t *j, const char *key, char **out, size_t *len, ms_err *err)
{
    const char *s = jstr(j, key, err);
    if (s == NULL)
        return MS_E_FORMAT;
    size_t n = strlen(s);
    if (n > COLL_JSON_MAX)
        return ms_fail(err, MS_E_LIMIT, "collateral: \"%s\" too large", key);
    *out = ms_strndup(NULL, s, n);
    *len = n;
    return *out != NULL ? MS_OK : ms_fail(err, MS_E_NOMEM, "out of memory");
}

static ms_rc add_intel(att_collateral *c, const json_t *j, ms_err *err)
{
    if (c->has_intel)
        return ms_fail(err, MS_E_EXISTS, "collateral: Intel collateral given twice");
    const char *rc_s = jstr(j, "root_ca_crl", err), *pc_s = jstr(j, "pck_crl", err);
    if (rc_s == NULL || pc_s == NULL)
        return MS_E_FORMAT;
    if ((c->root_crl = crl_from(rc_s, err)) == NULL || (c->pck_crl = crl_from(pc_s, err)) == NULL)
        return MS_E_FORMAT;
    ms_rc rc = pem_field(j, "pck_crl_issuer_chain", &c->pck_crl_chain, err);
    if (rc == MS_OK)
        rc = pem_field(j, "tcb_info_issuer_chain", &c->tcb_chain, err);
    if (rc == MS_OK)
        rc = pem_field(j, "qe_identity_issuer_chain", &c->qe_chain, err);
    if (rc == MS_OK)
        rc = raw_field(j, "tcb_info", &c->tcb_info, &c->tcb_info_len, err);
    if (rc == MS_OK)
        rc = raw_field(j, "qe_identity", &c->qe_identity, &c->qe_identity_len, err);
    if (rc == MS_OK)
        rc = sig_field(j, "tcb_info_signature", c->tcb_sig, err);
    if (rc == MS_OK)
        rc = sig_field(j, "qe_identity_signature", c->qe_sig, err);
    if (rc == MS_OK)
        c->has_intel = 1;
    return rc;
}

static ms_rc push_cert(att_collateral *c, X509 *x, ms_err *err)
{
    if (c->amd_certs == NULL)
        c->amd_certs = sk_X509_new_null();
    if (c->amd_certs == NULL || sk_X509_num(c->amd_certs) >= 16 || !sk_X509_push(c->amd_certs, x)) {
        X509_free(x);
        return ms_fail(err, MS_E_LIMIT, "collateral: too many certificates");
    }
    return MS_OK;
}

static ms_rc push_crl(att_collateral *c, X509_CRL *x, ms_err *err)
{
    if (c->amd_crls == NULL)
        c->amd_crls = sk_X509_CRL_new_null();
    if (c->amd_crls == NULL || sk_X509_CRL_num(c->amd_crls) >= 8 ||
        !sk_X509_CRL_push(c->amd_crls, x)) {
        X509_CRL_free(x);
        return ms_fail(err, MS_E_LIMIT, "collateral: too many CRLs");
    }
    return MS_OK;
}

ms_rc att_collateral_add_pem(att_collateral *c, const uint8_t *data, size_t len, ms_err *err)
{
    if (c == NULL || data == NULL || len > COLL_FILE_MAX)
        return ms_fail(err, MS_E_INVAL, "collateral: bad PEM argument");
    BIO *b = BIO_new_mem_buf(data, (int)len);
    if (b == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    STACK_OF(X509_INFO) *inf = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
    BIO_free(b);
    ERR_clear_error();
    ms_rc rc = MS_OK;
    int n = 0;
    for (int i = 0; inf != NULL && i < sk_X509_INFO_num(inf) && rc == MS_OK; i++) {
        X509_INFO *xi = sk_X509_INFO_value(inf, i);
        if (xi->x509 != NULL) {
            rc = push_cert(c, xi->x509, err);
            xi->x509 = NULL;
            n++;
        }
        if (rc == MS_OK && xi->crl != NULL) {
            rc = push_crl(c, xi->crl, err);
            xi->crl = NULL;
            n++;
        }
    }
    sk_X509_INFO_pop_free(inf, X509_INFO_free);
    if (rc == MS_OK && n == 0)
        return ms_fail(err, MS_E_FORMAT, "collateral: no PEM certificate or CRL");
    return rc;
}

static ms_rc add_der(att_collateral *c, const uint8_t *d, size_t n, ms_err *err)
{
    const unsigned char *p = d;
    if (n > COLL_FILE_MAX)
        return ms_fail(err, MS_E_LIMIT, "collateral: file too large");
    X509 *x = d2i_X509(NULL, &p, (long)n);
    if (x != NULL)
        return push_cert(c, x, err);
    p = d;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)n);
    ERR_clear_error();
    if (crl != NULL)
        return push_crl(c, crl, err);
    return ms_fail(err, MS_E_FORMAT, "collateral: not JSON, PEM, a DER certificate or a DER CRL");
}

static ms_rc add_amd_json(att_collateral *c, const json_t *j, ms_err *err)
{
    static const char *const keys[] = {"vcek", "vlek", "cert_chain", "ask", "ark", "crl"};
    int n = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *s = json_string_value(json_object_get(j, keys[i]));
        if (s == NULL)
            continue;
        ms_rc rc = att_collateral_add_pem(c, (const uint8_t *)s, strlen(s), err);
        if (rc != MS_OK)
            return rc;
        n++;
    }
    return n > 0 ? MS_OK : ms_fail(err, MS_E_FORMAT, "collateral: JSON has no known keys");
}

ms_rc att_collateral_add_json(att_collateral *c, const json_t *j, ms_err *err)
{
    if (c == NULL || !json_is_object(j))
        return ms_fail(err, MS_E_FORMAT, "collateral: not a JSON object");
    if (json_object_get(j, "tcb_info") != NULL)
        return add_intel(c, j, err);
    return add_amd_json(c, j, err);
}

static int starts_with_skipping_space(const uint8_t *p, size_t n, const char *pfx)
{
    size_t i = 0, k = strlen(pfx);
    while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
        i++;
    return n - i >= k && memcmp(p + i, pfx, k) == 0;
}

ms_rc att_collateral_add_file(att_collateral *c, const char *path, ms_err *err)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    ms_rc rc = ms_file_read(path, NULL, COLL_FILE_MAX, &b, err);
    if (rc != MS_OK)
        return rc;
    if (starts_with_skipping_space(b.p, b.len, "{")) {
        json_error_t je;
        json_t *j = json_loadb((const char *)b.p, b.len, 0, &je);
        if (j == NULL)
            rc = ms_fail(err, MS_E_FORMAT, "collateral: JSON error at line %d: %s", je.line,
                         je.text);
        else
            rc = att_collateral_add_json(c, j, err);
        json_decref(j);
    } else if (starts_with_skipping_space(b.p, b.len, "-----BEGIN")) {
        rc = att_collateral_add_pem(c, b.p, b.len, err);
    } else {
        rc = add_der(c, b.p, b.len, err);
    }
    ms_buf_free(&b);
    return rc;
}

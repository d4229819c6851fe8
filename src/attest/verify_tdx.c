/*
 * TDX quote verification (go-tdx-guest verify/verify.go, dcap-qvl src/verify.rs): the PCK chain
 * inside the quote to the pinned Intel SGX Root CA (with CRLs when collateral is given), the quote
 * signature by the attestation key, the QE report signature by the PCK leaf key, and the binding
 * QE.report_data == SHA-256(attestation key || QE auth data) || 0^32. Collateral and TCB status
 * are in tcb.c, the policy in policy.c.
 *
 * Trusts: the compiled-in Intel root and roots pinned by the policy. Owns: temporaries only.
 */
#define _DEFAULT_SOURCE /* timegm */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static void quote_signature(const struct tdx_quote *q, struct att_run *run)
{
    EVP_PKEY *ak = att__p256_from_xy(q->attest_key);
    int ok = ak != NULL && att__ecdsa_verify_raw(ak, "SHA256", q->signature, 32, q->signed_part.p,
                                                 q->signed_part.len);
    EVP_PKEY_free(ak);
    att__check(run, "quote_signature", ok,
               "TDX: quote signature does not verify with the attestation key (header/body "
               "bytes 0-%zu altered?)",
               q->signed_part.len);
    run->res->signature_ok = ok;
}

static void qe_report(const struct tdx_quote *q, X509 *pck, struct att_run *run)
{
    int ok = att__ecdsa_verify_raw(X509_get0_pubkey(pck), "SHA256", q->qe_report_sig, 32,
                                   q->qe_report, TDX_QE_REPORT_LEN);
    att__check(run, "qe_report_signature", ok,
               "TDX: QE report signature does not verify with the PCK certificate key");
    /* binding of the attestation key to the QE: SHA-256(key || auth data) || 0^32 */
    uint8_t want[64] = {0};
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int hashed = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
                 EVP_DigestUpdate(c, q->attest_key, 64) == 1 &&
                 EVP_DigestUpdate(c, q->qe_auth.p, q->qe_auth.len) == 1 &&
                 EVP_DigestFinal_ex(c, want, NULL) == 1;
    EVP_MD_CTX_free(c);
    int bound = hashed && ms_ct_equal(want, q->qe_report + 320, 64);
    att__check(run, "qe_report_binds_attestation_key", bound,
               "TDX: QE report_data does not bind the attestation key");
    run->res->signature_ok = run->res->signature_ok && ok && bound;
}

static STACK_OF(X509_CRL) * intel_crls(const att_collateral *c)
{
    if (c == NULL || !c->has_intel)
        return NULL;
    STACK_OF(X509_CRL) *s = sk_X509_CRL_new_null();
    if (s != NULL && c->root_crl != NULL)
        sk_X509_CRL_push(s, c->root_crl);
    if (s != NULL && c->pck_crl != NULL)
        sk_X509_CRL_push(s, c->pck_crl);
    return s;
}

static void pck_chain_check(STACK_OF(X509) * chain, struct att_run *run)
{
    X509 *root = att__pinned_intel_root();
    STACK_OF(X509) *roots = att__policy_roots(run->pol, root, chain);
    STACK_OF(X509_CRL) *crls = intel_crls(run->coll);
    ms_err e = {0};
    int ok = roots != NULL && att__chain_verify(sk_X509_value(chain, 0), chain, roots, crls,
                                                run->at, "TDX PCK chain", &e);
    /* the chain in the quote must end at the pinned root itself, not merely at its name */
    X509 *last = sk_X509_value(chain, sk_X509_num(chain) - 1);
    uint8_t a[32], b[32];
    int pinned = ok && root != NULL && att__cert_sha256(last, a) && att__cert_sha256(root, b) &&
                 memcmp(a, b, 32) == 0;
    for (size_t i = 0; ok && !pinned && run->pol != NULL && i < run->pol->roots.n; i++)
        pinned = memcmp(a, run->pol->roots.v[i], 32) == 0; /* a root the policy pins */
    att__check(run, "pck_chain", ok, "%s", e.msg[0] ? e.msg : "TDX: PCK chain check failed");
    if (ok)
        att__check(run, "pck_chain_root_pinned", pinned,
                   "TDX: PCK chain root is not the pinned Intel SGX Root CA");
    run->res->chain_ok = ok && pinned;
    sk_X509_CRL_free(crls);
    sk_X509_free(roots);
    X509_free(root);
}

static void cert_summary(STACK_OF(X509) * chain, json_t *fields)
{
    json_t *a = json_array();
    for (int i = 0; a != NULL && i < sk_X509_num(chain); i++) {
        char cn[96], nb[32], na[32];
        X509 *x = sk_X509_value(chain, i);
        struct tm t;
        time_t tb = 0, ta = 0;
        att__cert_cn(x, cn, sizeof cn);
        if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &t) == 1)
            tb = timegm(&t);
        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &t) == 1)
            ta = timegm(&t);
        att__fmt_time(tb, nb);
        att__fmt_time(ta, na);
        json_array_append_new(
            a, json_pack("{s:s,s:s,s:s}", "subject_cn", cn, "not_before", nb, "not_after", na));
    }
    json_object_set_new(fields, "pck_chain", a);
}

ms_rc att__tdx_verify(const uint8_t *in, size_t len, struct att_run *run, ms_err *err)
{
    struct tdx_quote q;
    ms_rc rc = att__tdx_parse(in, len, &q, err);
    if (rc != MS_OK)
        return rc;
    json_t *f = json_object();
    if (f == NULL || att__tdx_fields(&q, f, err) != MS_OK) {
        json_decref(f);
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    }
    json_object_set_new(run->res->fields, "quote", f);
    run->res->tee = ATT_TEE_TDX;
    run->res->version = q.version;
    memcpy(run->res->report_data, q.report_data, 64);
    STACK_OF(X509) *chain = NULL;
    ms_err e = {0};
    if (att__pem_certs(q.pck_chain.p, q.pck_chain.len, &chain, &e) != MS_OK ||
        sk_X509_num(chain) < 2) {
        att__check(run, "pck_chain", 0, "TDX: PCK certificate chain unreadable (%s)",
                   e.msg[0] ? e.msg : "fewer than 2 certificates");
        att__check(run, "quote_signature", 0, "TDX: not checked without a PCK chain");
    } else {
        cert_summary(chain, run->res->fields);
        att__tdx_collateral_window(run);
        pck_chain_check(chain, run);
        quote_signature(&q, run);
        qe_report(&q, sk_X509_value(chain, 0), run);
        att__tdx_collateral(&q, sk_X509_value(chain, 0), run);
    }
    att__tdx_policy(&q, run);
    sk_X509_pop_free(chain, X509_free);
    return MS_OK;
}

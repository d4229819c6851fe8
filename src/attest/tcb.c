/*
 * Intel TDX collateral: the validity windows of TCB info, QE identity and both CRLs, the
 * signatures of TCB info and QE identity (ECDSA P-256 over the raw JSON bytes, signer chained to
 * the pinned root), and the TCB status: the PCK certificate's SGX TCB components and PCESVN and
 * the quote's TEE_TCB_SVN matched against tcbLevels, the TDX module identity, and the QE report
 * against the QE identity (go-tdx-guest verify.go, dcap-qvl verify.rs/tcb_info.rs).
 *
 * Trusts: nothing in the collateral until its signature chains to the pinned root.
 * Owns: temporaries only.
 */
#define _DEFAULT_SOURCE /* timegm */
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* 1.2.840.113741.1.13.1 (Intel SGX extensions), DER content octets */
static const uint8_t SGX_OID[] = {0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01};

struct pck_ext {
    uint8_t comp[16];
    uint64_t pcesvn;
    uint8_t fmspc[6];
    uint8_t pceid[2];
    int have_tcb, have_fmspc, have_pceid;
};

static int oid_is(ms_slice oid, const uint8_t *suffix, size_t n)
{
    return oid.len == sizeof SGX_OID + n && memcmp(oid.p, SGX_OID, sizeof SGX_OID) == 0 &&
           memcmp(oid.p + sizeof SGX_OID, suffix, n) == 0;
}

static int octets(ms_slice v, uint8_t tag, uint8_t *out, size_t n)
{
    if (tag != 0x04 || v.len != n)
        return 0;
    memcpy(out, v.p, n);
    return 1;
}

/* TCB: SEQUENCE of SEQUENCE { OID .2.k, INTEGER } for k = 1..16 (components), 17 (PCESVN). */
static int parse_tcb(ms_slice seq, struct pck_ext *x)
{
    ms_rd r = {seq.p, seq.len};
    int got = 0;
    while (r.left > 0) {
        uint8_t t, t2, t3;
        ms_slice e, oid, val;
        if (att__der_tlv(&r, &t, &e) != MS_OK || t != 0x30)
            return 0;
        ms_rd er = {e.p, e.len};
        if (att__der_tlv(&er, &t2, &oid) != MS_OK || t2 != 0x06 ||
            att__der_tlv(&er, &t3, &val) != MS_OK)
            return 0;
        uint64_t v;
        for (uint8_t k = 1; k <= 17; k++) {
            const uint8_t suf[2] = {2, k};
            if (!oid_is(oid, suf, 2))
                continue;
            if (t3 != 0x02 || !att__der_uint(val, &v) || (k < 17 && v > 255))
                return 0;
            if (k == 17)
                x->pcesvn = v;
            else
                x->comp[k - 1] = (uint8_t)v;
            got++;
        }
    }
    return got == 17;
}

static int parse_sgx_ext(X509 *pck, struct pck_ext *x)
{
    memset(x, 0, sizeof *x);
    const ASN1_OCTET_STRING *os = att__cert_ext(pck, "1.2.840.113741.1.13.1");
    if (os == NULL)
        return 0;
    ms_rd r = {ASN1_STRING_get0_data(os), (size_t)ASN1_STRING_length(os)};
    uint8_t t;
    ms_slice all;
    if (att__der_tlv(&r, &t, &all) != MS_OK || t != 0x30)
        return 0;
    ms_rd s = {all.p, all.len};
    while (s.left > 0) {
        uint8_t t1, t2, t3;
        ms_slice e, oid, val;
        if (att__der_tlv(&s, &t1, &e) != MS_OK || t1 != 0x30)
            return 0;
        ms_rd er = {e.p, e.len};
        if (att__der_tlv(&er, &t2, &oid) != MS_OK || t2 != 0x06 ||
            att__der_tlv(&er, &t3, &val) != MS_OK)
            return 0;
        static const uint8_t s2[] = {2}, s3[] = {3}, s4[] = {4};
        if (oid_is(oid, s2, 1) && t3 == 0x30)
            x->have_tcb = parse_tcb(val, x);
        else if (oid_is(oid, s3, 1))
            x->have_pceid = octets(val, t3, x->pceid, 2);
        else if (oid_is(oid, s4, 1))
            x->have_fmspc = octets(val, t3, x->fmspc, 6);
    }
    return x->have_tcb && x->have_pceid && x->have_fmspc;
}

/* ---- windows and signatures ----------------------------------------------------------------- */

static int window(struct att_run *run, const char *what, time_t from, time_t to)
{
    char a[32], b[32], t[32];
    att__fmt_time(from, a);
    att__fmt_time(to, b);
    att__fmt_time(run->at, t);
    if (run->at < from)
        return att__check(run, "collateral_window", 0,
                          "collateral not yet valid: %s issued %s, after check time %s", what, a,
                          t);
    return att__check(run, "collateral_window", run->at < to,
                      "collateral expired: %s nextUpdate %s is before check time %s", what, b, t);
}

static int crl_window(struct att_run *run, const char *what, X509_CRL *crl)
{
    struct tm tm;
    time_t from = 0, to = 0;
    if (crl == NULL || X509_CRL_get0_nextUpdate(crl) == NULL ||
        ASN1_TIME_to_tm(X509_CRL_get0_lastUpdate(crl), &tm) != 1)
        return att__check(run, "collateral_window", 0, "collateral: %s has no validity", what);
    from = timegm(&tm);
    if (ASN1_TIME_to_tm(X509_CRL_get0_nextUpdate(crl), &tm) != 1)
        return 0;
    to = timegm(&tm);
    return window(run, what, from, to);
}

static json_t *signed_json(struct att_run *run, const char *what, const char *raw, size_t len,
                           const uint8_t sig[64], STACK_OF(X509) * chain, STACK_OF(X509) * roots)
{
    ms_err e = {0};
    X509 *signer = chain != NULL && sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0) : NULL;
    STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
    if (crls != NULL && run->coll->root_crl != NULL)
        sk_X509_CRL_push(crls, run->coll->root_crl);
    int ok = signer != NULL && att__chain_verify(signer, chain, roots, crls, run->at, what, &e);
    sk_X509_CRL_free(crls);
    if (!att__check(run, "collateral_signer_chain", ok, "%s",
                    e.msg[0] ? e.msg : "collateral: no signer certificate"))
        return NULL;
    ok = att__ecdsa_verify_raw(X509_get0_pubkey(signer), "SHA256", sig, 32, (const uint8_t *)raw,
                               len);
    if (!att__check(run, "collateral_signature", ok, "collateral: %s signature does not verify",
                    what))
        return NULL;
    json_error_t je;
    json_t *j = json_loadb(raw, len, 0, &je);
    att__check(run, "collateral_format", json_is_object(j), "collateral: %s is not a JSON object",
               what);
    return j;
}

static int json_window(struct att_run *run, const char *what, json_t *j)
{
    time_t a, b;
    if (!att__parse_time(json_string_value(json_object_get(j, "issueDate")), &a) ||
        !att__parse_time(json_string_value(json_object_get(j, "nextUpdate")), &b))
        return att__check(run, "collateral_format", 0, "collateral: %s dates unreadable", what);
    return window(run, what, a, b);
}

/* ---- TCB levels --------------------------------------------------------------------------- */

static int svn_array(json_t *arr, uint8_t out[16])
{
    if (!json_is_array(arr) || json_array_size(arr) != 16)
        return 0;
    for (size_t i = 0; i < 16; i++) {
        json_int_t v = json_integer_value(json_object_get(json_array_get(arr, i), "svn"));
        if (v < 0 || v > 255)
            return 0;
        out[i] = (uint8_t)v;
    }
    return 1;
}

/* Worse status wins; the order follows Intel's severity (dcap-qvl TcbStatus). */
static int status_rank(const char *s)
{
    static const char *const order[] = {"UpToDate",
                                        "SWHardeningNeeded",
                                        "ConfigurationNeeded",
                                        "ConfigurationAndSWHardeningNeeded",
                                        "OutOfDate",
                                        "OutOfDateConfigurationNeeded",
                                        "Revoked"};
    for (int i = 0; s != NULL && i < 7; i++)
        if (strcmp(s, order[i]) == 0)
            return i;
    return 7;
}

static void add_advisories(json_t *level, json_t *adv)
{
    json_t *a = json_object_get(level, "advisoryIDs");
    for (size_t i = 0; json_is_array(a) && i < json_array_size(a); i++)
        json_array_append(adv, json_array_get(a, i));
}

static json_t *match_platform(json_t *levels, const struct pck_ext *x, const uint8_t svn[16])
{
    for (size_t i = 0; json_is_array(levels) && i < json_array_size(levels); i++) {
        json_t *tcb = json_object_get(json_array_get(levels, i), "tcb");
        uint8_t sgx[16], tdx[16];
        json_int_t pce = json_integer_value(json_object_get(tcb, "pcesvn"));
        if (!svn_array(json_object_get(tcb, "sgxtcbcomponents"), sgx) ||
            !svn_array(json_object_get(tcb, "tdxtcbcomponents"), tdx))
            continue;
        int ok = x->pcesvn >= (uint64_t)pce;
        for (int k = 0; ok && k < 16; k++)
            ok = x->comp[k] >= sgx[k];
        /* go-tdx-guest: with a module version in svn[1], its identity decides 0..1 */
        for (int k = svn[1] > 0 ? 2 : 0; ok && k < 16; k++)
            ok = svn[k] >= tdx[k];
        if (ok)
            return json_array_get(levels, i);
    }
    return NULL;
}

static json_t *match_isvsvn(json_t *levels, unsigned isvsvn)
{
    for (size_t i = 0; json_is_array(levels) && i < json_array_size(levels); i++) {
        json_t *l = json_array_get(levels, i);
        json_int_t v = json_integer_value(json_object_get(json_object_get(l, "tcb"), "isvsvn"));
        if ((json_int_t)isvsvn >= v)
            return l;
    }
    return NULL;
}

static int hex_eq(json_t *j, const uint8_t *p, size_t n)
{
    const char *s = json_string_value(j);
    uint8_t buf[64];
    return s != NULL && n <= 64 && strlen(s) == 2 * n &&
           ms_hex_decode(s, 2 * n, buf, n, NULL) == MS_OK && memcmp(buf, p, n) == 0;
}

static int masked_eq(json_t *val, json_t *mask, const uint8_t *p, size_t n)
{
    uint8_t v[16], m[16];
    const char *vs = json_string_value(val), *mstr = json_string_value(mask);
    if (vs == NULL || mstr == NULL || n > 16 || strlen(vs) != 2 * n || strlen(mstr) != 2 * n ||
        ms_hex_decode(vs, 2 * n, v, n, NULL) || ms_hex_decode(mstr, 2 * n, m, n, NULL))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((p[i] & m[i]) != v[i])
            return 0;
    return 1;
}

/* The TDX module identity TDX_<hex svn[1]> (go-tdx-guest checkTdxModuleTcbStatus). */
static const char *module_status(json_t *ti, const struct tdx_quote *q, struct att_run *run,
                                 json_t *adv)
{
    char id[16];
    snprintf(id, sizeof id, "TDX_%02X", q->tee_tcb_svn[1]);
    json_t *ids = json_object_get(ti, "tdxModuleIdentities");
    for (size_t i = 0; json_is_array(ids) && i < json_array_size(ids); i++) {
        json_t *m = json_array_get(ids, i);
        const char *mid = json_string_value(json_object_get(m, "id"));
        if (mid == NULL || strcmp(mid, id) != 0)
            continue;
        att__check(run, "tdx_module_identity",
                   hex_eq(json_object_get(m, "mrsigner"), q->mrsignerseam, 48) &&
                       masked_eq(json_object_get(m, "attributes"),
                                 json_object_get(m, "attributesMask"), q->seam_attributes, 8),
                   "TDX: module %s signer or attributes differ from TCB info", id);
        json_t *l = match_isvsvn(json_object_get(m, "tcbLevels"), q->tee_tcb_svn[0]);
        if (l == NULL)
            return "NoMatchingModuleTcbLevel";
        add_advisories(l, adv);
        return json_string_value(json_object_get(l, "tcbStatus"));
    }
    att__check(run, "tdx_module_identity", 0, "TDX: module identity %s not in TCB info", id);
    return "NoMatchingModuleIdentity";
}

static const char *qe_status(json_t *qi, const struct tdx_quote *q, struct att_run *run,
                             json_t *adv)
{
    const uint8_t *r = q->qe_report;
    uint8_t misc[4];
    ms_store_u32be(misc, ms_load_u32le(r + 16)); /* identity JSON writes miscselect big-endian */
    int ok = hex_eq(json_object_get(qi, "mrsigner"), r + 128, 32) &&
             json_integer_value(json_object_get(qi, "isvprodid")) == ms_load_u16le(r + 256) &&
             masked_eq(json_object_get(qi, "miscselect"), json_object_get(qi, "miscselectMask"),
                       misc, 4) &&
             masked_eq(json_object_get(qi, "attributes"), json_object_get(qi, "attributesMask"),
                       r + 48, 16);
    att__check(run, "qe_identity", ok, "TDX: QE report does not match the QE identity");
    json_t *l = match_isvsvn(json_object_get(qi, "tcbLevels"), ms_load_u16le(r + 258));
    if (l == NULL)
        return "NoMatchingQeTcbLevel";
    add_advisories(l, adv);
    return json_string_value(json_object_get(l, "tcbStatus"));
}

static void set_status(struct att_run *run, const char *s)
{
    snprintf(run->res->tcb_status, sizeof run->res->tcb_status, "%s", s ? s : "Unknown");
}

static void evaluate(const struct tdx_quote *q, X509 *pck, json_t *ti, json_t *qi,
                     struct att_run *run)
{
    struct pck_ext x;
    if (!att__check(run, "pck_extensions", parse_sgx_ext(pck, &x),
                    "TDX: PCK certificate lacks readable SGX extensions"))
        return;
    att__json_hex(run->res->fields, "fmspc", x.fmspc, 6);
    int ok = hex_eq(json_object_get(ti, "fmspc"), x.fmspc, 6) &&
             hex_eq(json_object_get(ti, "pceId"), x.pceid, 2);
    if (!att__check(run, "tcb_info_platform", ok, "TDX: TCB info is for another FMSPC/PCEID"))
        return;
    att__check(
        run, "tdx_module_signer",
        hex_eq(json_object_get(json_object_get(ti, "tdxModule"), "mrsigner"), q->mrsignerseam, 48),
        "TDX: MRSIGNERSEAM differs from the TCB info's TDX module signer");
    json_t *adv = json_array();
    json_t *level = match_platform(json_object_get(ti, "tcbLevels"), &x, q->tee_tcb_svn);
    const char *st =
        level ? json_string_value(json_object_get(level, "tcbStatus")) : "NoMatchingTcbLevel";
    if (level != NULL)
        add_advisories(level, adv);
    if (level != NULL && q->tee_tcb_svn[1] > 0) {
        const char *m = module_status(ti, q, run, adv);
        st = status_rank(m) > status_rank(st) ? m : st;
    }
    const char *qs = qe_status(qi, q, run, adv);
    json_object_set_new(run->res->fields, "qe_tcb_status", json_string(qs ? qs : "?"));
    st = status_rank(qs) > status_rank(st) && status_rank(qs) < 7 ? qs : st;
    if (level != NULL && status_rank(qs) == 7)
        st = qs;
    set_status(run, st);
    json_object_set_new(run->res->fields, "advisory_ids", adv);
    att__check(run, "tcb_level", level != NULL, "TDX: no matching TCB level found");
}

static int id_is(json_t *j, const char *want)
{
    const char *id = json_string_value(json_object_get(j, "id"));
    return id != NULL && strcmp(id, want) == 0;
}

void att__tdx_collateral_window(struct att_run *run)
{
    const att_collateral *c = run->coll;
    if (c == NULL || !c->has_intel)
        return;
    crl_window(run, "Root CA CRL", c->root_crl);
    crl_window(run, "PCK CRL", c->pck_crl);
}

void att__tdx_collateral(const struct tdx_quote *q, X509 *pck, struct att_run *run)
{
    const att_collateral *c = run->coll;
    set_status(run, "Unknown");
    if (c == NULL || !c->has_intel) {
        json_object_set_new(run->checks, "collateral", json_string("absent"));
        return;
    }
    X509 *root = att__pinned_intel_root();
    STACK_OF(X509) *roots = att__policy_roots(run->pol, root, NULL);
    json_t *ti =
        signed_json(run, "TCB info", c->tcb_info, c->tcb_info_len, c->tcb_sig, c->tcb_chain, roots);
    json_t *qi = signed_json(run, "QE identity", c->qe_identity, c->qe_identity_len, c->qe_sig,
                             c->qe_chain, roots);
    int ok = ti != NULL && qi != NULL && json_window(run, "TCB info", ti) &&
             json_window(run, "QE identity", qi);
    ok = ok &&
         att__check(run, "tcb_info_id",
                    id_is(ti, "TDX") && json_integer_value(json_object_get(ti, "version")) == 3,
                    "collateral: TCB info is not id TDX version 3");
    ok = ok &&
         att__check(run, "qe_identity_id",
                    id_is(qi, "TD_QE") && json_integer_value(json_object_get(qi, "version")) == 2,
                    "collateral: QE identity is not id TD_QE version 2");
    if (ok) {
        json_object_set_new(run->res->fields, "tcb_evaluation_data_number",
                            json_copy(json_object_get(ti, "tcbEvaluationDataNumber")));
        evaluate(q, pck, ti, qi, run);
    }
    run->res->collateral_ok = ok;
    json_decref(ti);
    json_decref(qi);
    sk_X509_free(roots);
    X509_free(root);
}

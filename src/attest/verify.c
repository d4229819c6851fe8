/*
 * The verifier's front door: detects TDX vs SNP, runs the checks (verify_tdx.c, tcb.c, snp.c,
 * policy.c), records each check and the first failure, and renders the result as JSON. Also
 * verifies an evidence JSON object from a server (/v1/attestation): the REPORTDATA binding of
 * the client's nonce and the TLS key, then the quote itself.
 *
 * Trusts: nothing it is given. Owns: res->fields (att_result_free).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

int att__check(struct att_run *run, const char *name, int ok, const char *fmt, ...)
{
    json_t *prev = json_object_get(run->checks, name);
    if (prev == NULL || json_is_true(prev))
        json_object_set_new(run->checks, name, json_boolean(ok));
    if (!ok && run->res->reason[0] == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(run->res->reason, sizeof run->res->reason, fmt, ap);
        va_end(ap);
    }
    return ok;
}

STACK_OF(X509) * att__policy_roots(const att_policy *pol, X509 *builtin, STACK_OF(X509) * cands)
{
    STACK_OF(X509) *s = sk_X509_new_null();
    if (s == NULL)
        return NULL;
    if (builtin != NULL)
        sk_X509_push(s, builtin);
    for (int i = 0; pol != NULL && i < sk_X509_num(cands); i++) {
        X509 *x = sk_X509_value(cands, i);
        uint8_t fp[32];
        for (size_t j = 0; j < pol->roots.n; j++)
            if (att__cert_sha256(x, fp) && memcmp(fp, pol->roots.v[j], 32) == 0)
                sk_X509_push(s, x);
    }
    return s;
}

void att_result_free(att_result *r)
{
    if (r == NULL)
        return;
    json_decref(r->fields);
    r->fields = NULL;
}

static int policy_failed(json_t *checks)
{
    const char *k;
    json_t *v;
    json_object_foreach(checks, k, v)
    {
        if (strncmp(k, "policy_", 7) == 0 && json_is_false(v))
            return 1;
    }
    return 0;
}

static ms_rc run_begin(att_result *res, struct att_run *run, ms_err *err)
{
    att_result_free(res);
    memset(res, 0, sizeof *res);
    res->fields = json_object();
    json_t *checks = json_object();
    if (res->fields == NULL || checks == NULL ||
        json_object_set_new(res->fields, "checks", checks) != 0) {
        json_decref(res->fields);
        res->fields = NULL;
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    }
    run->res = res;
    run->checks = checks;
    snprintf(res->tcb_status, sizeof res->tcb_status, "Unknown");
    return MS_OK;
}

static void run_end(struct att_run *run)
{
    att_result *res = run->res;
    res->policy_ok = !policy_failed(run->checks);
    res->ok = res->reason[0] == 0 && res->signature_ok && res->chain_ok && res->policy_ok;
    if (!res->ok && res->reason[0] == 0)
        snprintf(res->reason, sizeof res->reason, "verification incomplete");
}

ms_rc att_verify_quote(const uint8_t *quote, size_t len, const att_collateral *coll,
                       const att_policy *pol, time_t at, att_result *res, ms_err *err)
{
    struct att_run run = {.coll = coll, .pol = pol, .at = at != 0 ? at : time(NULL)};
    if (res == NULL || (quote == NULL && len > 0))
        return ms_fail(err, MS_E_INVAL, "att_verify_quote: bad arguments");
    ms_rc rc = run_begin(res, &run, err);
    if (rc != MS_OK)
        return rc;
    char when[32];
    att__fmt_time(run.at, when);
    json_object_set_new(res->fields, "checked_at", json_string(when));
    ms_err perr = {0};
    if (att__is_snp(quote, len))
        rc = att__snp_verify(quote, len, &run, &perr);
    else if (len >= 2 && (ms_load_u16le(quote) == 4 || ms_load_u16le(quote) == 5))
        rc = att__tdx_verify(quote, len, &run, &perr);
    else if (len == SNP_REPORT_LEN ||
             (len >= 4 && ms_load_u32le(quote) >= 2 && len > 0x2A0 && ms_load_u32le(quote) < 64))
        rc = att__snp_verify(quote, len, &run, &perr);
    else
        rc = ms_fail(&perr, MS_E_FORMAT, "neither a TDX quote (v4/v5) nor an SNP report");
    if (rc != MS_OK) {
        snprintf(res->reason, sizeof res->reason, "%s", perr.msg);
        res->ok = 0;
        ms_fail(err, rc, "%s", perr.msg);
        return rc;
    }
    run_end(&run);
    return MS_OK;
}

ms_rc att_parse_json(const uint8_t *quote, size_t len, json_t **out, ms_err *err)
{
    json_t *o = json_object();
    if (o == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    ms_rc rc;
    if (att__is_snp(quote, len)) {
        struct snp_report r;
        rc = att__snp_parse(quote, len, &r, err);
        if (rc == MS_OK)
            rc = att__snp_fields(&r, o, err);
    } else {
        struct tdx_quote q;
        rc = att__tdx_parse(quote, len, &q, err);
        if (rc == MS_OK)
            rc = att__tdx_fields(&q, o, err);
    }
    if (rc != MS_OK) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return MS_OK;
}

static const char *tee_name(att_tee t)
{
    return t == ATT_TEE_TDX ? "tdx" : t == ATT_TEE_SNP ? "sev-snp" : "unknown";
}

ms_rc att_result_json(const att_result *r, json_t **out, ms_err *err)
{
    json_t *checks = json_object_get(r->fields, "checks");
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:i,s:s,s:{s:b,s:b,s:b,s:b},s:O}", "verdict",
                  r->ok ? "PASS" : "FAIL", "reason", r->reason, "tee", tee_name(r->tee), "version",
                  r->version, "tcb_status", r->tcb_status, "summary", "signature", r->signature_ok,
                  "certificate_chain", r->chain_ok, "collateral", r->collateral_ok, "policy",
                  r->policy_ok, "checks", checks != NULL ? checks : json_null());
    if (o == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    json_t *fields = json_deep_copy(r->fields);
    if (fields != NULL)
        json_object_del(fields, "checks");
    json_object_set_new(o, "fields", fields != NULL ? fields : json_object());
    *out = o;
    return MS_OK;
}

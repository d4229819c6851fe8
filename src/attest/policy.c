/*
 * Verification policy: loading a policy JSON file (unknown keys are errors, so a typo cannot
 * silently weaken it) and applying it to a parsed TDX quote or SNP report: DEBUG, measurements
 * (MRTD, RTMRs, MRSEAM, ...; SNP MEASUREMENT, HOST_DATA, ...), attributes, SNP policy bits, the
 * minimum TCB and the accepted TCB statuses. The format is documented in README.md.
 *
 * Trusts: the policy file is the hospital's own, but is still parsed defensively.
 * Owns: the att_policy (att_policy_free).
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define POLICY_FILE_MAX (256u * 1024u)

static att_policy *policy_new(void)
{
    att_policy *p = ms_malloc(NULL, sizeof *p);
    if (p == NULL)
        return NULL;
    p->require_collateral = 1;
    p->n_status = 1;
    snprintf(p->status[0], sizeof p->status[0], "UpToDate");
    p->require_sept_ve_disable = 1; /* dcap-qvl default: the host cannot inject #VE */
    return p;
}

ms_rc att_policy_default(att_policy **out, ms_err *err)
{
    att_policy *p = policy_new();
    if (p == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    *out = p;
    return MS_OK;
}

void att_policy_free(att_policy *p)
{
    ms_free(NULL, p);
}

static ms_rc hex_value(const char *key, json_t *v, size_t want, uint8_t *out, ms_err *err)
{
    const char *s = json_string_value(v);
    if (s == NULL)
        return ms_fail(err, MS_E_FORMAT, "policy: \"%s\" must be a hex string", key);
    size_t n = strlen(s);
    if (n != 2 * want || ms_hex_decode(s, n, out, want, NULL) != MS_OK)
        return ms_fail(err, MS_E_FORMAT, "policy: \"%s\" must be %zu bytes of hex", key, want);
    return MS_OK;
}

/* A hex value or an array of accepted hex values, each `want` bytes. */
static ms_rc hexset(const char *key, json_t *v, size_t want, struct att_hexset *hs, ms_err *err)
{
    hs->len = want;
    hs->n = 0;
    if (json_is_string(v)) {
        hs->n = 1;
        return hex_value(key, v, want, hs->v[0], err);
    }
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > ATT_POL_MAX_VALUES)
        return ms_fail(err, MS_E_FORMAT, "policy: \"%s\" must be hex or an array of 1-%d hex", key,
                       ATT_POL_MAX_VALUES);
    for (size_t i = 0; i < json_array_size(v); i++) {
        ms_rc rc = hex_value(key, json_array_get(v, i), want, hs->v[i], err);
        if (rc != MS_OK)
            return rc;
        hs->n++;
    }
    return MS_OK;
}

static ms_rc hex_u64(const char *key, json_t *v, uint64_t *out, ms_err *err)
{
    uint8_t b[8];
    ms_rc rc = hex_value(key, v, 8, b, err);
    if (rc == MS_OK)
        *out = ms_load_u64le(b); /* written as the quote's bytes, little-endian */
    return rc;
}

static ms_rc boolean(const char *key, json_t *v, int *out, ms_err *err)
{
    if (!json_is_boolean(v))
        return ms_fail(err, MS_E_FORMAT, "policy: \"%s\" must be true or false", key);
    *out = json_is_true(v);
    return MS_OK;
}

static ms_rc tdx_key(att_policy *p, const char *k, json_t *v, ms_err *err)
{
    static const char *const rt[4] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
    for (int i = 0; i < 4; i++)
        if (strcmp(k, rt[i]) == 0)
            return hexset(k, v, 48, &p->rtmr[i], err);
    if (strcmp(k, "mrtd") == 0)
        return hexset(k, v, 48, &p->mrtd, err);
    if (strcmp(k, "mrconfigid") == 0)
        return hexset(k, v, 48, &p->mrconfigid, err);
    if (strcmp(k, "mrowner") == 0)
        return hexset(k, v, 48, &p->mrowner, err);
    if (strcmp(k, "mrownerconfig") == 0)
        return hexset(k, v, 48, &p->mrownerconfig, err);
    if (strcmp(k, "mrseam") == 0)
        return hexset(k, v, 48, &p->mrseam, err);
    if (strcmp(k, "td_attributes") == 0) {
        p->has_td_attr = 1;
        if (p->td_attr_mask == 0)
            p->td_attr_mask = UINT64_MAX;
        return hex_u64(k, v, &p->td_attr, err);
    }
    if (strcmp(k, "td_attributes_mask") == 0)
        return hex_u64(k, v, &p->td_attr_mask, err);
    if (strcmp(k, "xfam") == 0) {
        p->has_xfam = 1;
        return hex_u64(k, v, &p->xfam, err);
    }
    if (strcmp(k, "require_sept_ve_disable") == 0)
        return boolean(k, v, &p->require_sept_ve_disable, err);
    if (strcmp(k, "min_tee_tcb_svn") == 0) {
        p->has_min_tee_tcb_svn = 1;
        return hex_value(k, v, 16, p->min_tee_tcb_svn, err);
    }
    return ms_fail(err, MS_E_FORMAT, "policy: unknown key \"tdx.%s\"", k);
}

static ms_rc min_tcb(att_policy *p, json_t *v, ms_err *err)
{
    static const char *const names[4] = {"bl", "tee", "snp", "ucode"};
    uint8_t *dst[4] = {&p->min_bl, &p->min_tee, &p->min_snp, &p->min_ucode};
    const char *k;
    json_t *x;
    if (!json_is_object(v))
        return ms_fail(err, MS_E_FORMAT, "policy: \"snp.min_tcb\" must be an object");
    json_object_foreach(v, k, x)
    {
        int found = 0;
        for (int i = 0; i < 4; i++) {
            if (strcmp(k, names[i]) != 0)
                continue;
            json_int_t n = json_integer_value(x);
            if (!json_is_integer(x) || n < 0 || n > 255)
                return ms_fail(err, MS_E_FORMAT, "policy: snp.min_tcb.%s must be 0-255", k);
            *dst[i] = (uint8_t)n;
            found = 1;
        }
        if (!found)
            return ms_fail(err, MS_E_FORMAT, "policy: unknown key \"snp.min_tcb.%s\"", k);
    }
    p->has_min_tcb = 1;
    return MS_OK;
}

static ms_rc snp_key(att_policy *p, const char *k, json_t *v, ms_err *err)
{
    if (strcmp(k, "measurement") == 0)
        return hexset(k, v, 48, &p->measurement, err);
    if (strcmp(k, "host_data") == 0)
        return hexset(k, v, 32, &p->host_data, err);
    if (strcmp(k, "id_key_digest") == 0)
        return hexset(k, v, 48, &p->id_key_digest, err);
    if (strcmp(k, "policy_mask") == 0) {
        p->has_snp_policy = 1;
        return hex_u64(k, v, &p->snp_policy_mask, err);
    }
    if (strcmp(k, "policy_value") == 0) {
        p->has_snp_policy = 1;
        return hex_u64(k, v, &p->snp_policy_value, err);
    }
    if (strcmp(k, "min_tcb") == 0)
        return min_tcb(p, v, err);
    if (strcmp(k, "vmpl") == 0) {
        json_int_t n = json_integer_value(v);
        if (!json_is_integer(v) || n < 0 || n > 3)
            return ms_fail(err, MS_E_FORMAT, "policy: snp.vmpl must be 0-3");
        p->has_vmpl = 1;
        p->vmpl = (uint32_t)n;
        return MS_OK;
    }
    if (strcmp(k, "allow_migrate_ma") == 0)
        return boolean(k, v, &p->allow_migrate_ma, err);
    return ms_fail(err, MS_E_FORMAT, "policy: unknown key \"snp.%s\"", k);
}

static ms_rc sub(att_policy *p, const char *name, json_t *v,
                 ms_rc (*fn)(att_policy *, const char *, json_t *, ms_err *), ms_err *err)
{
    const char *k;
    json_t *x;
    if (!json_is_object(v))
        return ms_fail(err, MS_E_FORMAT, "policy: \"%s\" must be an object", name);
    json_object_foreach(v, k, x)
    {
        ms_rc rc = fn(p, k, x, err);
        if (rc != MS_OK)
            return rc;
    }
    return MS_OK;
}

static ms_rc statuses(att_policy *p, json_t *v, ms_err *err)
{
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 8)
        return ms_fail(err, MS_E_FORMAT, "policy: \"tcb_status\" must be an array of 1-8");
    p->n_status = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *s = json_string_value(json_array_get(v, i));
        if (s == NULL || strlen(s) >= sizeof p->status[0])
            return ms_fail(err, MS_E_FORMAT, "policy: tcb_status entries must be strings");
        snprintf(p->status[p->n_status++], sizeof p->status[0], "%s", s);
    }
    return MS_OK;
}

static ms_rc top_key(att_policy *p, const char *k, json_t *v, ms_err *err)
{
    if (strcmp(k, "tee") == 0) {
        const char *s = json_string_value(v);
        if (s != NULL && strcmp(s, "tdx") == 0)
            p->tee = ATT_TEE_TDX;
        else if (s != NULL && strcmp(s, "sev-snp") == 0)
            p->tee = ATT_TEE_SNP;
        else if (s == NULL || strcmp(s, "any") != 0)
            return ms_fail(err, MS_E_FORMAT, "policy: \"tee\" must be tdx, sev-snp or any");
        return MS_OK;
    }
    if (strcmp(k, "allow_debug") == 0)
        return boolean(k, v, &p->allow_debug, err);
    if (strcmp(k, "require_collateral") == 0)
        return boolean(k, v, &p->require_collateral, err);
    if (strcmp(k, "tcb_status") == 0)
        return statuses(p, v, err);
    if (strcmp(k, "report_data") == 0)
        return hexset(k, v, 64, &p->report_data, err);
    if (strcmp(k, "roots_sha256") == 0)
        return hexset(k, v, 32, &p->roots, err);
    if (strcmp(k, "tdx") == 0)
        return sub(p, k, v, tdx_key, err);
    if (strcmp(k, "snp") == 0)
        return sub(p, k, v, snp_key, err);
    if (strcmp(k, "comment") == 0 || strcmp(k, "description") == 0)
        return MS_OK;
    return ms_fail(err, MS_E_FORMAT, "policy: unknown key \"%s\"", k);
}

ms_rc att_policy_from_json(const json_t *j, att_policy **out, ms_err *err)
{
    if (!json_is_object(j))
        return ms_fail(err, MS_E_FORMAT, "policy: not a JSON object");
    att_policy *p = policy_new();
    if (p == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v)
    {
        ms_rc rc = top_key(p, k, v, err);
        if (rc != MS_OK) {
            att_policy_free(p);
            return rc;
        }
    }
    *out = p;
    return MS_OK;
}

ms_rc att_policy_load(const char *path, att_policy **out, ms_err *err)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    ms_rc rc = ms_file_read(path, NULL, POLICY_FILE_MAX, &b, err);
    if (rc != MS_OK)
        return rc;
    json_error_t je;
    json_t *j = json_loadb((const char *)b.p, b.len, JSON_REJECT_DUPLICATES, &je);
    ms_buf_free(&b);
    if (j == NULL)
        return ms_fail(err, MS_E_FORMAT, "policy: JSON error at line %d: %s", je.line, je.text);
    rc = att_policy_from_json(j, out, err);
    json_decref(j);
    return rc;
}

/* ---- applying a policy ----------------------------------------------------------------------- */

static int in_set(const struct att_hexset *s, const uint8_t *p)
{
    if (s->n == 0)
        return 1;
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->v[i], p, s->len) == 0)
            return 1;
    return 0;
}

static void pin(struct att_run *run, const char *name, const struct att_hexset *s, const uint8_t *p)
{
    char check[40];
    snprintf(check, sizeof check, "policy_%s", name);
    if (s->n > 0)
        att__check(run, check, in_set(s, p), "policy: %s is not one of the %zu pinned values", name,
                   s->n);
}

static int status_allowed(const att_policy *p, const char *st)
{
    for (size_t i = 0; i < p->n_status; i++)
        if (strcmp(p->status[i], st) == 0)
            return 1;
    return 0;
}

static void common(const att_policy *p, att_tee tee, struct att_run *run)
{
    att__check(run, "policy_tee", p->tee == ATT_TEE_UNKNOWN || p->tee == tee,
               "policy: evidence is %s, the policy requires %s",
               tee == ATT_TEE_TDX ? "TDX" : "SEV-SNP", p->tee == ATT_TEE_TDX ? "TDX" : "SEV-SNP");
    pin(run, "report_data", &p->report_data, run->res->report_data);
}

/* The run's policy, or the default one (then *def owns it); the checks every TEE shares are
 * applied. NULL when no policy could be had. */
static const att_policy *begin(att_tee tee, struct att_run *run, att_policy **def)
{
    const att_policy *p = run->pol;
    *def = NULL;
    if (p == NULL && att_policy_default(def, NULL) == MS_OK)
        p = *def;
    if (p != NULL)
        common(p, tee, run);
    return p;
}

void att__tdx_policy(const struct tdx_quote *q, struct att_run *run)
{
    att_policy *def;
    const att_policy *p = begin(ATT_TEE_TDX, run, &def);
    if (p == NULL)
        return;
    uint64_t attr = ms_load_u64le(q->td_attributes), xfam = ms_load_u64le(q->xfam);
    if (!p->allow_debug)
        att__check(run, "policy_debug", (attr & 1) == 0,
                   "policy: TD DEBUG attribute is set (debug TDs expose their memory)");
    if (p->require_sept_ve_disable)
        att__check(run, "policy_sept_ve_disable", (attr >> 28) & 1,
                   "policy: TD attribute SEPT_VE_DISABLE is not set");
    if (p->has_td_attr)
        att__check(run, "policy_td_attributes", (attr & p->td_attr_mask) == p->td_attr,
                   "policy: TD attributes differ from the pinned value");
    if (p->has_xfam)
        att__check(run, "policy_xfam", xfam == p->xfam, "policy: XFAM differs from the pin");
    pin(run, "mrtd", &p->mrtd, q->mrtd);
    static const char *const rt[4] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
    for (int i = 0; i < 4; i++)
        pin(run, rt[i], &p->rtmr[i], q->rtmr[i]);
    pin(run, "mrconfigid", &p->mrconfigid, q->mrconfigid);
    pin(run, "mrowner", &p->mrowner, q->mrowner);
    pin(run, "mrownerconfig", &p->mrownerconfig, q->mrownerconfig);
    pin(run, "mrseam", &p->mrseam, q->mrseam);
    for (int i = 0; p->has_min_tee_tcb_svn && i < 16; i++)
        if (!att__check(run, "policy_min_tee_tcb_svn", q->tee_tcb_svn[i] >= p->min_tee_tcb_svn[i],
                        "policy: TEE_TCB_SVN[%d] below the minimum", i))
            break;
    if (p->require_collateral)
        att__check(run, "policy_collateral", run->res->collateral_ok,
                   "policy: TCB status unknown without valid collateral (--collateral FILE)");
    if (run->res->collateral_ok)
        att__check(run, "policy_tcb_status", status_allowed(p, run->res->tcb_status),
                   "policy: TCB status %s is not accepted", run->res->tcb_status);
    att_policy_free(def);
}

void att__snp_policy(const struct snp_report *r, struct att_run *run)
{
    att_policy *def;
    const att_policy *p = begin(ATT_TEE_SNP, run, &def);
    if (p == NULL)
        return;
    if (!p->allow_debug)
        att__check(run, "policy_debug", (r->policy & SNP_POLICY_DEBUG) == 0,
                   "policy: SNP guest policy allows DEBUG (bit 19): the host can read its memory");
    att__check(run, "policy_reserved_bit17", (r->policy & SNP_POLICY_RESERVED1) != 0,
               "policy: SNP guest policy bit 17 must be 1");
    if (!p->allow_migrate_ma)
        att__check(run, "policy_migrate_ma", (r->policy & SNP_POLICY_MIGRATE_MA) == 0,
                   "policy: SNP guest policy allows a migration agent");
    if (p->has_snp_policy)
        att__check(run, "policy_snp_bits", (r->policy & p->snp_policy_mask) == p->snp_policy_value,
                   "policy: SNP guest policy bits differ from the pinned value");
    if (p->has_vmpl)
        att__check(run, "policy_vmpl", r->vmpl == p->vmpl, "policy: VMPL %u, want %u",
                   (unsigned)r->vmpl, (unsigned)p->vmpl);
    pin(run, "measurement", &p->measurement, r->measurement);
    pin(run, "host_data", &p->host_data, r->host_data);
    pin(run, "id_key_digest", &p->id_key_digest, r->id_key_digest);
    if (p->has_min_tcb) {
        int bl, tee, snp, uc;
        att__snp_tcb(r, &bl, &tee, &snp, &uc);
        int ok = bl >= p->min_bl && tee >= p->min_tee && snp >= p->min_snp && uc >= p->min_ucode;
        snprintf(run->res->tcb_status, sizeof run->res->tcb_status, "%s",
                 ok ? "MeetsMinimum" : "BelowMinimum");
        att__check(run, "policy_min_tcb", ok, "policy: reported TCB below the minimum");
    }
    att_policy_free(def);
}

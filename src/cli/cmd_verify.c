/*
 * medseal verify: checks TDX / SEV-SNP attestation evidence offline (a quote or report file with
 * collateral and a policy), a saved evidence JSON for a nonce and TLS key, or a live server over
 * HTTPS (fresh nonce, binding to the TLS key of that very connection). Exit 0 only when every
 * check and the policy pass; 1 when verification fails or input is bad; 2 for usage errors.
 *
 * Trusts: nothing it reads (src/attest does the checking). Owns: what it loads, freed on return.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "medseal/attest.h"

#define QUOTE_FILE_MAX (1024u * 1024u)
#define MAX_COLL       8

struct opts {
    const char *quote, *policy, *at, *url, *evidence, *nonce_hex, *key_hex;
    const char *coll[MAX_COLL];
    int n_coll, json, allow_unattested;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: medseal verify --quote FILE [--collateral FILE]... [--policy FILE]\n"
               "                      [--at TIME] [--json]\n"
               "       medseal verify https://HOST:PORT [--policy FILE] [--collateral FILE]\n"
               "                      [--allow-unattested] [--json]\n"
               "       medseal verify --evidence FILE --nonce HEX --tls-key-sha256 HEX [...]\n"
               "TIME: 2025-07-19T10:00:34Z or @UNIXSECONDS (default: now).\n"
               "Exit status: 0 all checks and the policy pass, 1 verification failed, 2 usage.\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(a, "--quote") == 0 && v)
            o->quote = v;
        else if (strcmp(a, "--policy") == 0 && v)
            o->policy = v;
        else if (strcmp(a, "--at") == 0 && v)
            o->at = v;
        else if (strcmp(a, "--evidence") == 0 && v)
            o->evidence = v;
        else if (strcmp(a, "--nonce") == 0 && v)
            o->nonce_hex = v;
        else if (strcmp(a, "--tls-key-sha256") == 0 && v)
            o->key_hex = v;
        else if (strcmp(a, "--collateral") == 0 && v && o->n_coll < MAX_COLL)
            o->coll[o->n_coll++] = v;
        else {
            takes = 0;
            if (strcmp(a, "--json") == 0)
                o->json = 1;
            else if (strcmp(a, "--allow-unattested") == 0)
                o->allow_unattested = 1;
            else if (strncmp(a, "https://", 8) == 0 && o->url == NULL)
                o->url = a;
            else
                return 0;
        }
        i += takes;
    }
    return (o->quote != NULL) + (o->url != NULL) + (o->evidence != NULL) == 1;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int parse_at(const char *s, time_t *out)
{
    if (s == NULL) {
        *out = 0;
        return 1;
    }
    if (s[0] == '@') {
        char *end;
        long long v = strtoll(s + 1, &end, 10);
        if (end == s + 1 || *end != 0 || v <= 0)
            return 0;
        *out = (time_t)v;
        return 1;
    }
    int y, mo, d, h, mi, se;
    if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != 'Z' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
        !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
        !digits(s + 17, 2, &se))
        return 0;
    long days;
    if (h > 23 || mi > 59 || se > 60 || ms_date_to_days(y, mo, d, &days) != MS_OK)
        return 0;
    *out = (time_t)(days * 86400L + h * 3600L + mi * 60L + se);
    return 1;
}

static void print_text(const att_result *r)
{
    json_t *f = r->fields;
    json_t *body = json_object_get(json_object_get(f, "quote"), "td_report");
    if (body == NULL)
        body = json_object_get(f, "report");
    if (json_is_true(json_object_get(f, "unattested")))
        printf("%s: UNATTESTED server (provider none, development mode)\n",
               r->ok ? "ACCEPTED (--allow-unattested)" : "FAIL");
    else
        printf("%s: %s v%d, TCB status %s\n", r->ok ? "PASS" : "FAIL",
               r->tee == ATT_TEE_TDX   ? "TDX quote"
               : r->tee == ATT_TEE_SNP ? "SEV-SNP report"
                                       : "evidence",
               r->version, r->tcb_status);
    static const char *const keys[] = {"mr_td", "rtmr0",         "rtmr1",       "rtmr2",
                                       "rtmr3", "td_attributes", "measurement", "report_data"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = json_string_value(json_object_get(body, keys[i]));
        if (v != NULL)
            printf("  %-14s %s\n", keys[i], v);
    }
    const char *k = json_string_value(json_object_get(f, "tls_pubkey_sha256"));
    if (k != NULL)
        printf("  %-14s %s  (pin this TLS key hash)\n", "tls_key_sha256", k);
    if (json_is_true(json_object_get(f, "unattested")))
        printf("  WARNING: the server is UNATTESTED (development mode)\n");
    if (!r->ok)
        printf("  reason: %s\n", r->reason);
}

static int emit(const att_result *r, int as_json)
{
    if (as_json) {
        json_t *j = NULL;
        if (att_result_json(r, &j, NULL) != MS_OK)
            return 1;
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("\n");
        json_decref(j);
    } else {
        print_text(r);
    }
    if (!r->ok)
        fprintf(stderr, "medseal verify: FAIL: %s\n", r->reason);
    return r->ok ? 0 : 1;
}

static ms_rc load_inputs(const struct opts *o, att_collateral **coll, att_policy **pol, ms_err *err)
{
    ms_rc rc = att_collateral_new(coll, err);
    for (int i = 0; rc == MS_OK && i < o->n_coll; i++)
        rc = att_collateral_add_file(*coll, o->coll[i], err);
    if (rc == MS_OK)
        rc = o->policy ? att_policy_load(o->policy, pol, err) : att_policy_default(pol, err);
    return rc;
}

static ms_rc run_quote(const struct opts *o, const att_collateral *c, const att_policy *p,
                       time_t at, att_result *r, ms_err *err)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    ms_rc rc = ms_file_read(o->quote, NULL, QUOTE_FILE_MAX, &b, err);
    if (rc == MS_OK)
        rc = att_verify_quote(b.p, b.len, c, p, at, r, err);
    ms_buf_free(&b);
    return rc;
}

static ms_rc run_evidence(const struct opts *o, const att_collateral *c, const att_policy *p,
                          time_t at, att_result *r, ms_err *err)
{
    uint8_t nonce[ATT_NONCE_MAX], key[32];
    size_t nl = o->nonce_hex ? strlen(o->nonce_hex) / 2 : 0;
    if (o->nonce_hex == NULL || o->key_hex == NULL || nl > ATT_NONCE_MAX ||
        ms_hex_decode(o->nonce_hex, strlen(o->nonce_hex), nonce, nl, err) != MS_OK ||
        ms_hex_decode(o->key_hex, strlen(o->key_hex), key, 32, err) != MS_OK)
        return ms_fail(err, MS_E_INVAL, "--evidence needs --nonce HEX and --tls-key-sha256 HEX");
    json_error_t je;
    json_t *ev = json_load_file(o->evidence, 0, &je);
    if (ev == NULL)
        return ms_fail(err, MS_E_FORMAT, "evidence: JSON error at line %d", je.line);
    ms_rc rc = att_verify_evidence(ev, nonce, nl, key, c, p,
                                   o->allow_unattested ? ATT_LIVE_ALLOW_UNATTESTED : 0, at, r, err);
    json_decref(ev);
    return rc;
}

int cmd_verify(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    time_t at = 0;
    if (!parse_args(argc, argv, &o) || !parse_at(o.at, &at)) {
        usage(stderr);
        return 2;
    }
    att_collateral *coll = NULL;
    att_policy *pol = NULL;
    att_result res = {0};
    ms_err err = {0};
    ms_rc rc = load_inputs(&o, &coll, &pol, &err);
    if (rc == MS_OK && o.quote)
        rc = run_quote(&o, coll, pol, at, &res, &err);
    else if (rc == MS_OK && o.evidence)
        rc = run_evidence(&o, coll, pol, at, &res, &err);
    else if (rc == MS_OK)
        rc = att_verify_live(o.url, o.n_coll ? coll : NULL, pol,
                             o.allow_unattested ? ATT_LIVE_ALLOW_UNATTESTED : 0, at, &res, &err);
    int status = 1;
    if (rc == MS_OK || (o.json && res.fields != NULL && res.reason[0] != 0))
        status = emit(&res, o.json); /* unparseable input still gets a JSON verdict */
    else
        cli_report(argv[0], NULL, &err);
    att_result_free(&res);
    att_policy_free(pol);
    att_collateral_free(coll);
    return status;
}

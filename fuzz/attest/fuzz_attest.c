/*
 * libFuzzer target for the attestation parsers: TDX quotes (v4/v5), SNP reports, the verifier's
 * front door (without collateral, so it stays fast), RA-TLS certificates, and collateral / policy
 * JSON. Invariants: no crash, no leak, and every failure carries a non-empty reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/internal.h"
#include "medseal/attest.h"

static void json_inputs(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)data, size, 0, &je);
    if (j == NULL)
        return;
    att_collateral *c = NULL;
    if (att_collateral_new(&c, NULL) == MS_OK) {
        att_collateral_add_json(c, j, NULL);
        att_collateral_free(c);
    }
    att_policy *p = NULL;
    if (att_policy_from_json(j, &p, NULL) == MS_OK)
        att_policy_free(p);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = NULL;
    ms_err err = {0};
    if (att_parse_json(data, size, &j, &err) == MS_OK)
        json_decref(j);
    else if (err.msg[0] == 0)
        abort(); /* an error without a message */
    att_result r = {0};
    ms_err e2 = {0};
    ms_rc rc = att_verify_quote(data, size, NULL, NULL, 1752919234, &r, &e2);
    if ((rc != MS_OK || !r.ok) && r.reason[0] == 0)
        abort();
    att_result_free(&r);
    if (size > 0 && data[0] == '{')
        json_inputs(data, size);
    else if (size > 10 && data[0] == '-') {
        json_t *o = json_object();
        att__ratls_check(data, size, o, NULL);
        json_decref(o);
    }
    return 0;
}

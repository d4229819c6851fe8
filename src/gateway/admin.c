/*
 * Key management over the API (role admin; server.c has already checked the TOTP code):
 * GET /v1/admin/keys lists keys (never secrets), POST /v1/admin/keys {"role", "expires_in"?,
 * "rate_rpm"?} creates one and returns its token once, DELETE /v1/admin/keys/{id} revokes.
 * Trusts: the authenticated admin, not the body's shape. Owns: the new token until sent (wiped).
 */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>

#include "internal.h"

static void list_one(void *ud, const gw_key_info *k)
{
    json_array_append_new(ud,
                          json_pack("{s:s,s:s,s:I,s:I,s:b,s:I}", "id", k->id, "role",
                                    gw_role_name(k->role), "created_at", (json_int_t)k->created_at,
                                    "expires_at", (json_int_t)k->expires_at, "revoked", k->revoked,
                                    "rate_rpm", (json_int_t)k->rate_rpm));
}

static void create(struct gw_req *q, struct gw_resp *r)
{
    json_error_t je;
    gw_new_key k;
    ms_err err = {0};
    json_t *b = json_loadb((const char *)q->body.p, q->body.len, JSON_REJECT_DUPLICATES, &je);
    gw_role role = gw_role_parse(json_string_value(json_object_get(b, "role")));
    json_t *exp = json_object_get(b, "expires_in"), *rate = json_object_get(b, "rate_rpm");
    q->action = "key.create";
    if (role == GW_ROLE_NONE || (exp && (!json_is_integer(exp) || json_integer_value(exp) < 1)) ||
        (rate && (!json_is_integer(rate) || json_integer_value(rate) < 0 ||
                  json_integer_value(rate) > 1000000))) {
        json_decref(b);
        gw__resp_error(q, r, 400, "invalid_request_error", NULL, "role",
                       "body needs role (clinician|researcher|auditor|admin), optional "
                       "expires_in seconds and rate_rpm");
        return;
    }
    int64_t expires = exp ? (int64_t)time(NULL) + json_integer_value(exp) : 0;
    uint32_t rpm = rate ? (uint32_t)json_integer_value(rate) : 0;
    json_decref(b);
    if (gw_keystore_create(q->s->ks, role, expires, rpm, &k, &err) != MS_OK) {
        gw__resp_rc(q, r, err.code, &err, NULL);
        return;
    }
    json_t *j = json_pack("{s:s,s:s,s:s,s:I}", "id", k.id, "key", k.text, "role",
                          gw_role_name(role), "expires_at", (json_int_t)expires);
    if (role == GW_ROLE_ADMIN)
        json_object_set_new(j, "totp_secret", json_string(k.totp_b32));
    ms_memzero(&k, sizeof k);
    r->status = 201;
    gw__resp_json(q, r, j);
    r->status = 201;
}

void gw__h_admin(struct gw_req *q, struct gw_resp *r)
{
    ms_err err = {0};
    if (q->route == GW_R_ADMIN_KEY) {
        q->action = "key.revoke";
        if (gw_keystore_revoke(q->s->ks, q->path_id, &err) != MS_OK)
            gw__resp_rc(q, r, err.code, &err, NULL);
        else
            gw__resp_json(q, r, json_pack("{s:s,s:b}", "id", q->path_id, "revoked", 1));
        return;
    }
    if (q->method == GW_M_POST) {
        create(q, r);
        return;
    }
    q->action = "key.list";
    json_t *arr = json_array();
    if (gw_keystore_list(q->s->ks, list_one, arr, &err) != MS_OK) {
        json_decref(arr);
        gw__resp_rc(q, r, err.code, &err, NULL);
        return;
    }
    gw__resp_json(q, r, json_pack("{s:s,s:o}", "object", "list", "data", arr));
}

/*
 * The small API routes: GET /healthz, GET /metrics (auditor), GET /v1/models,
 * GET /v1/attestation?nonce=HEX (public: evidence binds the nonce and this TLS key),
 * GET /v1/audit/export (auditor), POST /v1/studies (STOW-RS upload, memory only) and
 * DELETE /v1/studies/{id}.
 * Trusts: nothing in the request. Owns: the uploaded instances until they are handed to the
 * study store.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>

#include "internal.h"

#define ANALYST_MODEL "medical-records-analyst"

void gw__h_healthz(struct gw_req *q, struct gw_resp *r)
{
    struct gw_server *s = q->s;
    const char *att = gw__attest_label(s->att);
    /* a log that cannot be written: unhealthy (503), so a balancer stops sending requests that
     * would all be refused */
    int audit_ok = s->audit != NULL && gw__audit_healthy(s->audit);
    int bad = s->audit != NULL && !audit_ok;
    gw__resp_json(q, r,
                  json_pack("{s:s,s:s,s:s,s:s,s:b,s:b,s:b,s:b}", "status",
                            bad ? "unhealthy" : "ok", "version", MS_VERSION, "replica_id",
                            s->replica, "attestation", att, "audit", audit_ok, "analyst",
                            gw__have("analyst"), "scrubber", gw__have("phi"), "upstream",
                            s->up != NULL));
    if (bad)
        r->status = 503;
}

void gw__h_metrics(struct gw_req *q, struct gw_resp *r)
{
    ms_err err = {0};
    char info[160];
    int n = snprintf(info, sizeof info,
                     "# TYPE medseal_replica_info gauge\nmedseal_replica_info{replica_id=\"%s\","
                     "state_db=\"%s\"} 1\n",
                     q->s->replica, gw_keystore_backend(q->s->ks));
    atomic_store(&q->s->metrics.audit_failures, gw__audit_failures(q->s->audit));
    atomic_store(&q->s->metrics.audit_healthy,
                 q->s->audit != NULL && gw__audit_healthy(q->s->audit));
    if (gw__metrics_render(&q->s->metrics, &r->body, gw__attest_label(q->s->att), &err) != MS_OK ||
        ms_buf_append(&r->body, info, (size_t)n, &err) != MS_OK)
        gw__resp_rc(q, r, err.code, &err, NULL);
    else
        r->content_type = "text/plain; version=0.0.4";
}

static json_t *model_obj(const char *id, const char *owner)
{
    return json_pack("{s:s,s:s,s:i,s:s}", "id", id, "object", "model", "created", 1767225600,
                     "owned_by", owner);
}

/* GET /v1/models and GET /v1/models/{id}: the analyst, and "*" (any other name is forwarded)
 * when an upstream is configured. */
void gw__h_models(struct gw_req *q, struct gw_resp *r)
{
    int up = q->s->up != NULL;
    if (q->path_id[0] != '\0') {
        if (strcmp(q->path_id, ANALYST_MODEL) == 0)
            gw__resp_json(q, r, model_obj(ANALYST_MODEL, "medseal"));
        else if (up)
            gw__resp_json(q, r, model_obj(q->path_id, "upstream"));
        else
            gw__resp_error(q, r, 404, "invalid_request_error", "model_not_found", "model",
                           "The model does not exist (no upstream is configured).");
        return;
    }
    json_t *data = json_array();
    json_array_append_new(data, model_obj(ANALYST_MODEL, "medseal"));
    if (up)
        json_array_append_new(data, model_obj("*", "upstream"));
    gw__resp_json(q, r, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

void gw__h_attestation(struct gw_req *q, struct MHD_Connection *c, struct gw_resp *r)
{
    uint8_t nonce[64];
    ms_err err = {0};
    const char *hex = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "nonce");
    size_t n = hex ? strlen(hex) : 0;
    if (n % 2 != 0 || n > 2 * sizeof nonce ||
        (n > 0 && ms_hex_decode(hex, n, nonce, n / 2, &err) != MS_OK)) {
        gw__resp_error(q, r, 400, "invalid_request_error", NULL, "nonce",
                       "nonce must be at most 64 bytes of hex");
        return;
    }
    if (gw__attest_evidence(q->s->att, nonce, n / 2, &r->body, &err) != MS_OK)
        gw__resp_rc(q, r, err.code, &err, NULL);
    q->action = "attestation.evidence";
}

void gw__h_audit(struct gw_req *q, struct MHD_Connection *c, struct gw_resp *r)
{
    ms_err err = {0};
    const char *from = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from");
    const char *max = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "max");
    uint64_t f = from ? strtoull(from, NULL, 10) : 0, m = max ? strtoull(max, NULL, 10) : 10000;
    q->action = "audit.export";
    if (gw__audit_export(q->s->audit, f, m, &r->body, &err) != MS_OK)
        gw__resp_rc(q, r, err.code, &err, NULL);
    else
        r->content_type = "application/x-ndjson";
}

/* ---- STOW-RS -------------------------------------------------------------------------------- */

struct upload {
    struct gw_server *s;
    struct gw_study_file *files;
    size_t n, cap;
};

static int is_dicom_type(ms_slice ct)
{
    static const char want[] = "application/dicom";
    size_t n = sizeof want - 1;
    if (ct.len < n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = (char)ct.p[i];
        if ((c >= 'A' && c <= 'Z' ? (char)(c + 32) : c) != want[i])
            return 0;
    }
    return ct.len == n || ct.p[n] == ';' || ct.p[n] == ' ';
}

static ms_rc on_part(void *ud, const gw_part *p, ms_err *err)
{
    struct upload *u = ud;
    ms_alloc *a = &u->s->alloc;
    if (!is_dicom_type(p->content_type))
        return ms_fail(err, MS_E_FORMAT, "part %zu is not application/dicom", u->n + 1);
    if (gw__dicom_check(p->data.p, p->data.len, a, &u->s->cfg, err) != MS_OK)
        return err && err->code == MS_E_UNSUPPORTED ? MS_E_UNSUPPORTED : MS_E_FORMAT;
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 8;
        struct gw_study_file *nf = ms_realloc(a, u->files, cap * sizeof *nf);
        if (nf == NULL)
            return ms_fail(err, MS_E_NOMEM, "upload: out of memory");
        memset(nf + u->cap, 0, (cap - u->cap) * sizeof *nf);
        u->files = nf;
        u->cap = cap;
    }
    uint8_t *copy = ms_malloc(a, p->data.len);
    if (copy == NULL)
        return ms_fail(err, MS_E_NOMEM, "upload: out of memory");
    memcpy(copy, p->data.p, p->data.len);
    u->files[u->n++] = (struct gw_study_file){copy, p->data.len};
    return MS_OK;
}

static void upload_free(struct upload *u)
{
    for (size_t i = 0; i < u->n; i++)
        ms_free(&u->s->alloc, u->files[i].p);
    ms_free(&u->s->alloc, u->files);
}

void gw__h_studies_post(struct gw_req *q, struct MHD_Connection *c, struct gw_resp *r)
{
    struct gw_server *s = q->s;
    struct upload u = {s, NULL, 0, 0};
    char boundary[72], id[40];
    ms_err err = {0};
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    q->action = "study.upload";
    if (ct == NULL || strncasecmp(ct, "multipart/related", 17) != 0) {
        gw__resp_error(q, r, 415, "invalid_request_error", "unsupported_media_type", NULL,
                       "POST /v1/studies takes multipart/related; type=\"application/dicom\"");
        return;
    }
    ms_rc rc = gw_multipart_boundary(ct, boundary, sizeof boundary, &err);
    if (rc == MS_OK)
        rc = gw_multipart_parse(q->body.p, q->body.len, boundary, on_part, &u, &err);
    if (rc != MS_OK) {
        upload_free(&u);
        gw__resp_rc(q, r, rc, &err, NULL);
        return;
    }
    size_t n = u.n;
    rc = gw__studies_put(s->studies, q->key.id, u.files, n, s->cfg.study_ttl_s, id, &err);
    if (rc != MS_OK) {
        gw__resp_rc(q, r, rc == MS_E_LIMIT ? MS_E_NOMEM : rc, &err, NULL);
        return;
    }
    r->status = 200;
    gw__resp_json(q, r,
                  json_pack("{s:s,s:s,s:I,s:I}", "id", id, "object", "study", "instances",
                            (json_int_t)n, "expires_at",
                            (json_int_t)time(NULL) + (json_int_t)s->cfg.study_ttl_s));
}

void gw__h_study_delete(struct gw_req *q, struct gw_resp *r)
{
    ms_err err = {0};
    q->action = "study.delete";
    if (gw__studies_delete(q->s->studies, q->path_id, q->key.id, &err) != MS_OK) {
        gw__resp_rc(q, r, err.code, &err, NULL);
        return;
    }
    gw__resp_json(q, r,
                  json_pack("{s:s,s:s,s:b}", "id", q->path_id, "object", "study", "deleted", 1));
}

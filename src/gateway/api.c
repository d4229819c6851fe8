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

/* ---- STOW-RS (PS3.18 10.5) ------------------------------------------------------------------
 * Each part is judged alone: a part that is not application/dicom, does not parse, lacks its
 * UIDs or (on /studies/{uid}) belongs to another study fails only itself and is listed in the
 * Failed SOP Sequence (0008,1198) with its Failure Reason (0008,1197); 200 when all were stored,
 * 202 when some, 409 when none. Every failure is logged (part number and reason, no values) and
 * the request's audit record carries the outcome. */

#define FR_PROCESSING 0x0110u /* processing failure */
#define FR_MISMATCH   0xA900u /* data set does not match (another study than the URL's) */
#define FR_CANNOT     0xC000u /* cannot understand */
#define FR_RESOURCES  0xA700u /* out of resources */

struct failed {
    char cls[GW_UID_MAX], inst[GW_UID_MAX];
    unsigned reason;
};

struct upload {
    struct gw_server *s;
    struct gw_req *q;
    const char *want_study; /* POST /studies/{uid}: every instance must carry it */
    struct gw_study_file *files;
    struct gw_dicom_uids *uids; /* per stored file */
    size_t n, cap;
    struct failed *fail;
    size_t nfail, capfail, parts;
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

static void part_failed(struct upload *u, const struct gw_dicom_uids *id, unsigned reason,
                        const char *why)
{
    fprintf(stderr, "medseal: %s stow part %zu rejected (reason %04X): %s\n", u->q->request_id,
            u->parts, reason, why);
    if (u->nfail == u->capfail) {
        size_t cap = u->capfail ? u->capfail * 2 : 8;
        struct failed *nf = ms_realloc(&u->s->alloc, u->fail, cap * sizeof *nf);
        if (nf == NULL)
            return; /* counted in the log line; the response lists what it can */
        u->fail = nf;
        u->capfail = cap;
    }
    struct failed *f = &u->fail[u->nfail++];
    memset(f, 0, sizeof *f);
    f->reason = reason;
    if (id != NULL) {
        snprintf(f->cls, sizeof f->cls, "%s", id->sop_class);
        snprintf(f->inst, sizeof f->inst, "%s", id->sop_instance);
    }
}

static ms_rc on_part(void *ud, const gw_part *p, ms_err *err)
{
    struct upload *u = ud;
    ms_alloc *a = &u->s->alloc;
    struct gw_dicom_uids id;
    ms_err e = {0};
    (void)err;
    u->parts++;
    if (!is_dicom_type(p->content_type)) {
        part_failed(u, NULL, FR_CANNOT, "not application/dicom");
        return MS_OK;
    }
    if (gw__dicom_uids(p->data.p, p->data.len, a, &u->s->cfg, &id, &e) != MS_OK) {
        part_failed(u, &id, FR_CANNOT, e.msg[0] ? e.msg : "not DICOM");
        return MS_OK;
    }
    if (u->want_study != NULL && strcmp(id.study, u->want_study) != 0) {
        part_failed(u, &id, FR_MISMATCH, "StudyInstanceUID differs from the URL's");
        return MS_OK;
    }
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 8;
        struct gw_study_file *nf = ms_realloc(a, u->files, cap * sizeof *nf);
        struct gw_dicom_uids *nu = nf ? ms_realloc(a, u->uids, cap * sizeof *nu) : NULL;
        if (nf != NULL)
            u->files = nf;
        if (nu == NULL) {
            part_failed(u, &id, FR_RESOURCES, "out of memory");
            return MS_OK;
        }
        memset(nf + u->cap, 0, (cap - u->cap) * sizeof *nf);
        u->uids = nu;
        u->cap = cap;
    }
    uint8_t *copy = ms_malloc(a, p->data.len);
    if (copy == NULL) {
        part_failed(u, &id, FR_RESOURCES, "out of memory");
        return MS_OK;
    }
    memcpy(copy, p->data.p, p->data.len);
    u->uids[u->n] = id;
    u->files[u->n++] = (struct gw_study_file){copy, p->data.len};
    return MS_OK;
}

static void upload_free(struct upload *u)
{
    for (size_t i = 0; i < u->n; i++)
        ms_free(&u->s->alloc, u->files[i].p);
    ms_free(&u->s->alloc, u->files);
    ms_free(&u->s->alloc, u->uids);
    ms_free(&u->s->alloc, u->fail);
}

static json_t *dj_str(const char *vr, const char *v)
{
    return json_pack("{s:s,s:[s]}", "vr", vr, "Value", v);
}

/* The Store Instances Response (PS3.18 Annex I) as DICOM JSON. Stored instances (when `stored`)
 * go to (0008,1199) with their Retrieve URL under the study handle. */
static json_t *stow_response(const struct upload *u, const char *handle, int stored)
{
    char url[128];
    json_t *top = json_object(), *ref = json_array(), *fail = json_array();
    snprintf(url, sizeof url, "/v1/studies/%s", handle ? handle : "");
    if (handle != NULL)
        json_object_set_new(top, "00081190", dj_str("UR", url));
    for (size_t i = 0; stored && i < u->n; i++) {
        json_t *it = json_object();
        json_object_set_new(it, "00081150", dj_str("UI", u->uids[i].sop_class));
        json_object_set_new(it, "00081155", dj_str("UI", u->uids[i].sop_instance));
        json_object_set_new(it, "00081190", dj_str("UR", url));
        json_array_append_new(ref, it);
    }
    for (size_t i = 0; i < u->nfail + (stored ? 0 : u->n); i++) {
        json_t *it = json_object();
        const char *cls = i < u->nfail ? u->fail[i].cls : u->uids[i - u->nfail].sop_class;
        const char *inst = i < u->nfail ? u->fail[i].inst : u->uids[i - u->nfail].sop_instance;
        unsigned reason = i < u->nfail ? u->fail[i].reason : FR_RESOURCES;
        if (cls[0])
            json_object_set_new(it, "00081150", dj_str("UI", cls));
        if (inst[0])
            json_object_set_new(it, "00081155", dj_str("UI", inst));
        json_object_set_new(it, "00081197",
                            json_pack("{s:s,s:[I]}", "vr", "US", "Value", (json_int_t)reason));
        json_array_append_new(fail, it);
    }
    if (json_array_size(ref) > 0)
        json_object_set_new(top, "00081199", json_pack("{s:s,s:o}", "vr", "SQ", "Value", ref));
    else
        json_decref(ref);
    if (json_array_size(fail) > 0)
        json_object_set_new(top, "00081198", json_pack("{s:s,s:o}", "vr", "SQ", "Value", fail));
    else
        json_decref(fail);
    return top;
}

static int wants_dicom_json(struct MHD_Connection *c)
{
    const char *acc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    return acc != NULL && strcasestr(acc, "application/dicom+json") != NULL;
}

void gw__h_studies_post(struct gw_req *q, struct MHD_Connection *c, struct gw_resp *r)
{
    struct gw_server *s = q->s;
    struct upload u = {s, q, q->path_id[0] ? q->path_id : NULL, NULL, NULL, 0, 0, NULL, 0, 0, 0};
    char boundary[256], id[40];
    ms_err err = {0};
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    int dj = wants_dicom_json(c);
    q->action = "study.upload";
    if (ct == NULL || strncasecmp(ct, "multipart/related", 17) != 0) {
        fprintf(stderr, "medseal: %s stow rejected: Content-Type is not multipart/related\n",
                q->request_id);
        q->outcome = "unsupported_media_type";
        gw__resp_error(q, r, 415, "invalid_request_error", "unsupported_media_type", NULL,
                       "POST /v1/studies takes multipart/related; type=\"application/dicom\"");
        return;
    }
    ms_rc rc = gw_multipart_boundary(ct, boundary, sizeof boundary, &err);
    if (rc == MS_OK)
        rc = gw_multipart_parse(q->body.p, q->body.len, boundary, on_part, &u, &err);
    if (rc != MS_OK) {
        fprintf(stderr, "medseal: %s stow rejected: %s\n", q->request_id, err.msg);
        q->outcome = "bad_multipart";
        upload_free(&u);
        gw__resp_rc(q, r, rc, &err, NULL);
        return;
    }
    size_t n = u.n;
    int stored = 0;
    if (n > 0) {
        struct gw_study_file *files = u.files;
        u.files = NULL; /* the store owns them now, even on failure */
        rc = gw__studies_put(s->studies, q->key.id, files, n, s->cfg.study_ttl_s, id, &err);
        stored = rc == MS_OK;
        if (!stored)
            fprintf(stderr, "medseal: %s stow: %zu instance(s) not stored: %s\n", q->request_id,
                    n, err.msg);
    }
    size_t ok = stored ? n : 0, total = u.nfail + n;
    q->outcome = ok == total ? "ok" : ok > 0 ? "partial" : "rejected";
    if (!dj) {
        /* medseal's own answer (the study handle) for clients that do not ask for DICOM JSON */
        if (ok == 0) {
            gw__resp_error(q, r, 409, "invalid_request_error", "no_instance_stored", NULL,
                           "No instance was stored (see the server log for each part's reason).");
        } else {
            r->status = ok == total ? 200 : 202;
            gw__resp_json(q, r,
                          json_pack("{s:s,s:s,s:I,s:I,s:I}", "id", id, "object", "study",
                                    "instances", (json_int_t)n, "failed", (json_int_t)u.nfail,
                                    "expires_at",
                                    (json_int_t)time(NULL) + (json_int_t)s->cfg.study_ttl_s));
        }
        if (u.files == NULL)
            u.n = 0;
        upload_free(&u);
        return;
    }
    json_t *resp = stow_response(&u, stored ? id : NULL, stored);
    if (u.files == NULL)
        u.n = 0;
    upload_free(&u);
    r->status = ok == total ? 200 : ok > 0 ? 202 : 409;
    gw__resp_json(q, r, resp);
    r->content_type = "application/dicom+json";
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

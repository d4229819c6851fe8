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

struct stored {
    char cls[GW_UID_MAX], inst[GW_UID_MAX];
    char handle[40];
};

struct upload {
    struct gw_server *s;
    struct gw_req *q;
    const char *want_study; /* POST /studies/{uid}: every instance must carry it */
    struct stored *ok;      /* one per stored instance, in the order received */
    size_t nok, capok;
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

static void part_failed(struct upload *u, const struct gw_dicom_meta *id, unsigned reason,
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

static ms_rc grow_ok(struct upload *u)
{
    size_t cap = u->capok ? u->capok * 2 : 16;
    struct stored *n = ms_realloc(&u->s->alloc, u->ok, cap * sizeof *n);
    if (n == NULL)
        return MS_E_NOMEM;
    u->ok = n;
    u->capok = cap;
    return MS_OK;
}

/* One part: judged alone, stored into its study at once (the store groups by StudyInstanceUID). */
static ms_rc on_part(void *ud, const gw_part *p, ms_err *err)
{
    struct upload *u = ud;
    struct gw_server *s = u->s;
    ms_alloc *a = &s->alloc;
    ms_err e = {0};
    char handle[40];
    (void)err;
    u->parts++;
    if (!is_dicom_type(p->content_type)) {
        part_failed(u, NULL, FR_CANNOT, "not application/dicom");
        return MS_OK;
    }
    struct gw_dicom_meta *m = ms_malloc(a, sizeof *m);
    if (m == NULL) {
        part_failed(u, NULL, FR_RESOURCES, "out of memory");
        return MS_OK;
    }
    ms_rc rc = gw__dicom_meta(p->data.p, p->data.len, a, &s->cfg, m, &e);
    if (rc != MS_OK) {
        part_failed(u, m, rc == MS_E_NOMEM ? FR_RESOURCES : FR_CANNOT,
                    e.msg[0] ? e.msg : "not DICOM");
    } else if (u->want_study != NULL && strcmp(m->study, u->want_study) != 0) {
        part_failed(u, m, FR_MISMATCH, "StudyInstanceUID differs from the URL's");
    } else if (u->nok == u->capok && grow_ok(u) != MS_OK) {
        part_failed(u, m, FR_RESOURCES, "out of memory");
    } else {
        uint8_t *copy = ms_malloc(a, p->data.len ? p->data.len : 1);
        if (copy == NULL) {
            part_failed(u, m, FR_RESOURCES, "out of memory");
        } else {
            memcpy(copy, p->data.p, p->data.len);
            rc = gw__studies_add(s->studies, u->q->key.id, copy, p->data.len, m,
                                 s->cfg.study_ttl_s, handle, &e);
            if (rc != MS_OK) {
                part_failed(u, m, rc == MS_E_EXISTS ? FR_MISMATCH : FR_RESOURCES, e.msg);
            } else {
                struct stored *o = &u->ok[u->nok++];
                snprintf(o->cls, sizeof o->cls, "%s", m->sop_class);
                snprintf(o->inst, sizeof o->inst, "%s", m->sop_instance);
                memcpy(o->handle, handle, sizeof handle);
            }
        }
    }
    ms_free(a, m);
    return MS_OK;
}

static void upload_free(struct upload *u)
{
    ms_free(&u->s->alloc, u->ok);
    ms_free(&u->s->alloc, u->fail);
}

static json_t *dj_str(const char *vr, const char *v)
{
    return json_pack("{s:s,s:[s]}", "vr", vr, "Value", v);
}

/* The handle every stored instance went to, or NULL when they went to several (or none). */
static const char *one_handle(const struct upload *u)
{
    for (size_t i = 1; i < u->nok; i++) {
        if (strcmp(u->ok[i].handle, u->ok[0].handle) != 0)
            return NULL;
    }
    return u->nok ? u->ok[0].handle : NULL;
}

/* The Store Instances Response (PS3.18 Annex I) as DICOM JSON: (0008,1190) the study's Retrieve
 * URL when every instance went to one study, (0008,1199) one item per stored instance with its
 * study's Retrieve URL, (0008,1198) one item per failed part with its Failure Reason. */
static json_t *stow_response(const struct upload *u)
{
    char url[128];
    json_t *top = json_object(), *ref = json_array(), *fail = json_array();
    const char *h = one_handle(u);
    if (h != NULL) {
        snprintf(url, sizeof url, "/v1/studies/%s", h);
        json_object_set_new(top, "00081190", dj_str("UR", url));
    }
    for (size_t i = 0; i < u->nok; i++) {
        json_t *it = json_object();
        snprintf(url, sizeof url, "/v1/studies/%s", u->ok[i].handle);
        json_object_set_new(it, "00081150", dj_str("UI", u->ok[i].cls));
        json_object_set_new(it, "00081155", dj_str("UI", u->ok[i].inst));
        json_object_set_new(it, "00081190", dj_str("UR", url));
        json_array_append_new(ref, it);
    }
    for (size_t i = 0; i < u->nfail; i++) {
        json_t *it = json_object();
        if (u->fail[i].cls[0])
            json_object_set_new(it, "00081150", dj_str("UI", u->fail[i].cls));
        if (u->fail[i].inst[0])
            json_object_set_new(it, "00081155", dj_str("UI", u->fail[i].inst));
        json_object_set_new(
            it, "00081197",
            json_pack("{s:s,s:[I]}", "vr", "US", "Value", (json_int_t)u->fail[i].reason));
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

/* medseal's own answer: the first study's handle as "id", and every study with its count. */
static json_t *own_response(const struct upload *u, uint64_t ttl_s)
{
    json_t *studies = json_array();
    for (size_t i = 0; i < u->nok; i++) {
        size_t j = 0, k = 0;
        while (j < i && strcmp(u->ok[j].handle, u->ok[i].handle) != 0)
            j++;
        if (j < i)
            continue; /* counted with its first instance */
        for (j = i; j < u->nok; j++)
            k += strcmp(u->ok[j].handle, u->ok[i].handle) == 0;
        json_array_append_new(studies, json_pack("{s:s,s:I}", "id", u->ok[i].handle, "instances",
                                                 (json_int_t)k));
    }
    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:o}", "id", u->ok[0].handle, "object", "study",
                     "instances", (json_int_t)u->nok, "failed", (json_int_t)u->nfail,
                     "expires_at", (json_int_t)time(NULL) + (json_int_t)ttl_s, "studies",
                     studies);
}

static int wants_dicom_json(struct MHD_Connection *c)
{
    const char *acc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    return acc != NULL && strcasestr(acc, "application/dicom+json") != NULL;
}

/* The state of one STOW-RS request while its body streams in (q->stow). */
struct stow {
    struct upload u;
    gw_mp mp;
    int bad_ct;     /* Content-Type is not multipart/related: 415 at the end */
    ms_rc rc;       /* the first parse error (the rest of the body is then dropped) */
    ms_err err;
};

void gw__stow_begin(struct gw_req *q, struct MHD_Connection *c)
{
    struct gw_server *s = q->s;
    char boundary[256];
    struct stow *st = ms_malloc(&s->alloc, sizeof *st);
    if (st == NULL)
        return; /* the handler answers 507 */
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    st->u.s = s;
    st->u.q = q;
    st->u.want_study = q->path_id[0] ? q->path_id : NULL;
    if (ct == NULL || strncasecmp(ct, "multipart/related", 17) != 0)
        st->bad_ct = 1;
    else
        st->rc = gw_multipart_boundary(ct, boundary, sizeof boundary, &st->err);
    /* one part (an instance) is bounded by what the store may hold */
    gw_mp_init(&st->mp, &s->alloc, st->bad_ct || st->rc ? "-" : boundary,
               s->cfg.study_max_bytes, on_part, &st->u);
    q->stow = st;
}

void gw__stow_feed(struct gw_req *q, const uint8_t *p, size_t n)
{
    struct stow *st = q->stow;
    if (st == NULL || st->bad_ct || st->rc != MS_OK)
        return;
    st->rc = gw_mp_feed(&st->mp, p, n, &st->err);
}

void gw__stow_free(struct gw_req *q)
{
    struct stow *st = q->stow;
    if (st == NULL)
        return;
    gw_mp_free(&st->mp);
    upload_free(&st->u);
    ms_free(&q->s->alloc, st);
    q->stow = NULL;
}

void gw__h_studies_post(struct gw_req *q, struct MHD_Connection *c, struct gw_resp *r)
{
    struct gw_server *s = q->s;
    int dj = wants_dicom_json(c);
    q->action = "study.upload";
    if (q->stow == NULL) {
        gw__stow_begin(q, c); /* not begun while the body came (none came): parse it now */
        gw__stow_feed(q, q->body.p, q->body.len);
    }
    struct stow *st = q->stow;
    if (st == NULL) {
        gw__resp_rc(q, r, MS_E_NOMEM, NULL, NULL);
        return;
    }
    struct upload *u = &st->u;
    if (st->bad_ct) {
        fprintf(stderr, "medseal: %s stow rejected: Content-Type is not multipart/related\n",
                q->request_id);
        q->outcome = "unsupported_media_type";
        gw__resp_error(q, r, 415, "invalid_request_error", "unsupported_media_type", NULL,
                       "POST /v1/studies takes multipart/related; type=\"application/dicom\"");
        return;
    }
    if (st->rc == MS_OK)
        st->rc = gw_mp_finish(&st->mp, &st->err);
    if (st->rc != MS_OK) {
        /* parts completed before the error are stored (and counted in the log line) */
        fprintf(stderr, "medseal: %s stow rejected: %s (%zu instance(s) stored before it)\n",
                q->request_id, st->err.msg, u->nok);
        q->outcome = "bad_multipart";
        gw__resp_rc(q, r, st->rc, &st->err, NULL);
        return;
    }
    size_t ok = u->nok, total = u->nfail + u->nok;
    q->outcome = ok == total ? "ok" : ok > 0 ? "partial" : "rejected";
    if (!dj && ok == 0) {
        gw__resp_error(q, r, 409, "invalid_request_error", "no_instance_stored", NULL,
                       "No instance was stored (see the server log for each part's reason).");
    } else {
        r->status = ok == total ? 200 : ok > 0 ? 202 : 409;
        gw__resp_json(q, r, dj ? stow_response(u) : own_response(u, s->cfg.study_ttl_s));
        if (dj && r->status != 507)
            r->content_type = "application/dicom+json";
    }
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

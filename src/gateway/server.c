/*
 * The HTTPS server: libmicrohttpd with its GnuTLS backend, TLS 1.3 only (priority string below),
 * one thread per connection (handlers may block on the upstream or the analyst without stalling
 * other clients), HTTP/1.1 keep-alive, limits on connections (total and per IP), header memory,
 * body size, request time and idle time. Routes requests, authenticates API keys, enforces roles,
 * TOTP for admins and per-key rate limits, and sends every answer with the security headers.
 * Audit: a request's record is appended (in the file, or on disk: audit_sync) before its answer is
 * queued, a stream's before its last event (upstream.c); on_done records only what ended without.
 * Graceful stop: stop accepting (MHD_quiesce_daemon), wait for in-flight requests, then stop.
 *
 * Trusts: nothing from the network. Owns: the daemon, request state (bodies in s->alloc memory,
 * wiped when the request completes), the key store handle, studies, audit and attestation handles.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "internal.h"
#include "medseal/seal.h"
#include "medseal/secmem.h"

/* TLS 1.3 only; AEAD suites only (AES-256-GCM, ChaCha20-Poly1305, AES-128-GCM: the three TLS 1.3
 * suites without the CCM ones); ECDHE groups X25519, P-256, P-384; server preference. */
static const char TLS_PRIORITIES[] =
    "NONE:+VERS-TLS1.3:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:+AEAD:+GROUP-X25519:"
    "+GROUP-SECP256R1:+GROUP-SECP384R1:+SIGN-ALL:+CTYPE-X509:+COMP-NULL:%SERVER_PRECEDENCE";

/* ---- responses ------------------------------------------------------------------------------ */

void gw__resp_init(struct gw_req *q, struct gw_resp *r)
{
    memset(r, 0, sizeof *r);
    r->status = 200;
    r->content_type = "application/json";
    ms_buf_init(&r->body, &q->s->alloc, 0);
}

void gw__resp_error(struct gw_req *q, struct gw_resp *r, int status, const char *type,
                    const char *code, const char *param, const char *message)
{
    json_t *e = json_pack("{s:{s:s,s:s,s:s?,s:s?}}", "error", "message", message, "type", type,
                          "param", param, "code", code);
    ms_buf_reset(&r->body);
    r->status = status;
    gw__resp_json(q, r, e);
    r->status = status;
    q->outcome = status == 401 || status == 403 ? "denied" : "error";
}

void gw__resp_rc(struct gw_req *q, struct gw_resp *r, ms_rc rc, const ms_err *err,
                 const char *param)
{
    const char *msg = err && err->msg[0] ? err->msg : "request failed";
    switch (rc) {
    case MS_E_FORMAT:
    case MS_E_TRUNC:
    case MS_E_INVAL:
        gw__resp_error(q, r, 400, "invalid_request_error", NULL, param, msg);
        break;
    case MS_E_LIMIT:
        gw__resp_error(q, r, 413, "invalid_request_error", "request_too_large", param, msg);
        break;
    case MS_E_NOTFOUND:
        gw__resp_error(q, r, 404, "invalid_request_error", "not_found", param, msg);
        break;
    case MS_E_NOMEM:
        gw__resp_error(q, r, 507, "server_error", "insufficient_memory", NULL,
                       "the server's memory for confidential data is full; retry later");
        break;
    case MS_E_UNSUPPORTED:
        gw__resp_error(q, r, 503, "server_error", "unavailable", NULL, msg);
        break;
    default:
        gw__resp_error(q, r, 500, "server_error", NULL, NULL, "internal error");
    }
}

static int dump_to_buf(const char *p, size_t n, void *ud)
{
    return ms_buf_append(ud, p, n, NULL) == MS_OK ? 0 : -1;
}

/* Serialises straight into the body: json_dumps grew its own buffer from 16 bytes by doubling
 * (each step a zeroed allocation and a wiped free), then the text was copied and wiped again. */
void gw__resp_json(struct gw_req *q, struct gw_resp *r, json_t *j)
{
    ms_buf_reset(&r->body);
    /* most answers fit: one allocation instead of doubling from 64 bytes (each step zeroes,
     * copies and wipes) */
    (void)ms_buf_reserve(&r->body, 4096, NULL);
    int bad = j == NULL || json_dump_callback(j, dump_to_buf, &r->body, JSON_COMPACT) != 0;
    json_decref(j);
    if (bad) {
        ms_buf_reset(&r->body);
        ms_buf_append_str(&r->body,
                          "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\","
                          "\"param\":null,\"code\":null}}",
                          NULL);
        r->status = 507;
    }
    r->content_type = "application/json";
    (void)q;
}

struct owned_mem {
    ms_alloc *a;
    uint8_t *p;
};

static void owned_free(void *cls)
{
    struct owned_mem *m = cls;
    ms_free(m->a, m->p);
    ms_free(NULL, m);
}

static void add_common_headers(struct gw_server *s, struct gw_req *q, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=63072000");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Request-Id", q->request_id);
    MHD_add_response_header(resp, "X-Medseal-Attestation", gw__attest_label(s->att));
}

static void add_common_headers(struct gw_server *s, struct gw_req *q, struct MHD_Response *resp);

static const char AUDIT_FAILED_BODY[] =
    "{\"error\":{\"message\":\"the audit log cannot be written: the request was not answered; "
    "retry later\",\"type\":\"server_error\",\"param\":null,\"code\":\"audit_unavailable\"}}";

/* 503, a fixed body: nothing of the request or its answer. */
static struct MHD_Response *audit_failed_response(struct gw_server *s, struct gw_req *q)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof AUDIT_FAILED_BODY - 1, (void *)(uintptr_t)AUDIT_FAILED_BODY, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return NULL;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Retry-After", "1");
    add_common_headers(s, q, resp);
    return resp;
}

static enum MHD_Result send_resp(struct gw_req *q, struct MHD_Connection *c, struct gw_resp *r)
{
    struct gw_server *s = q->s;
    struct MHD_Response *resp = r->stream;
    if (resp == NULL) {
        struct owned_mem *m = ms_malloc(NULL, sizeof *m);
        size_t len = 0;
        if (m == NULL) {
            ms_buf_free(&r->body);
            return MHD_NO;
        }
        m->a = &s->alloc;
        m->p = ms_buf_steal(&r->body, &len);
        resp = MHD_create_response_from_buffer_with_free_callback_cls(len, m->p, owned_free, m);
        if (resp == NULL) {
            owned_free(m);
            return MHD_NO;
        }
        q->bytes_out = len;
    }
    MHD_add_response_header(resp, "Content-Type", r->content_type);
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", r->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    add_common_headers(s, q, resp);
    q->status = r->status;
    /* The record before the answer: a crash after the client has its answer cannot lose it.
     * A stream's record waits for its outcome, just before its last event (upstream.c). An
     * answer whose record cannot be written does not go out: 503 with a fixed body instead. */
    if (r->stream == NULL && gw__req_audit(q) != MS_OK) {
        MHD_destroy_response(resp);
        resp = audit_failed_response(s, q);
        if (resp == NULL)
            return MHD_NO;
        r->status = q->status = 503;
        q->bytes_out = 0;
    }
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result send_error(struct gw_req *q, struct MHD_Connection *c, int status,
                                  const char *type, const char *code, const char *message)
{
    struct gw_resp r;
    gw__resp_init(q, &r);
    gw__resp_error(q, &r, status, type, code, NULL, message);
    return send_resp(q, c, &r);
}

/* ---- routing -------------------------------------------------------------------------------- */

static int starts(const char *s, const char *p, const char **rest)
{
    size_t n = strlen(p);
    if (strncmp(s, p, n) != 0)
        return 0;
    *rest = s + n;
    return 1;
}

static int id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= 72)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_'))
            return 0;
    }
    return 1;
}

/* A DICOM UID (PS3.5 9.1): digits and dots, at most 64 characters (STOW-RS /studies/{uid}). */
static int uid_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!((id[i] >= '0' && id[i] <= '9') || id[i] == '.'))
            return 0;
    }
    return 1;
}

static int model_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= 72)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '_' || c == '-' || c == '.' || c == ':'))
            return 0;
    }
    return 1;
}

static void route(struct gw_req *q, const char *url, const char *method)
{
    const char *rest = NULL, *u = url;
    q->method = strcmp(method, "GET") == 0      ? GW_M_GET
                : strcmp(method, "POST") == 0   ? GW_M_POST
                : strcmp(method, "DELETE") == 0 ? GW_M_DELETE
                                                : GW_M_OTHER;
    q->route = GW_R_OTHER;
    if (strcmp(u, "/healthz") == 0)
        q->route = GW_R_HEALTHZ;
    else if (strcmp(u, "/metrics") == 0)
        q->route = GW_R_METRICS;
    if (q->route != GW_R_OTHER || !starts(u, "/v1", &u))
        return;
    if (starts(u, "/confidential", &rest))
        u = rest; /* /v1/confidential/... is an alias of /v1/... */
    if (strcmp(u, "/models") == 0)
        q->route = GW_R_MODELS;
    else if (starts(u, "/models/", &rest) && model_id_ok(rest)) {
        q->route = GW_R_MODELS;
        snprintf(q->path_id, sizeof q->path_id, "%s", rest);
    } else if (strcmp(u, "/chat/completions") == 0)
        q->route = GW_R_CHAT;
    else if (strcmp(u, "/studies") == 0)
        q->route = GW_R_STUDIES;
    else if (strcmp(u, "/attestation") == 0)
        q->route = GW_R_ATTESTATION;
    else if (strcmp(u, "/audit/export") == 0)
        q->route = GW_R_AUDIT;
    else if (strcmp(u, "/admin/keys") == 0)
        q->route = GW_R_ADMIN_KEYS;
    else if (starts(u, "/studies/", &rest) && (id_ok(rest) || uid_ok(rest))) {
        q->route = GW_R_STUDY;
        snprintf(q->path_id, sizeof q->path_id, "%s", rest);
    } else if (starts(u, "/admin/keys/", &rest) && id_ok(rest)) {
        q->route = GW_R_ADMIN_KEY;
        snprintf(q->path_id, sizeof q->path_id, "%s", rest);
    }
}

static int method_ok(const struct gw_req *q)
{
    switch (q->route) {
    case GW_R_CHAT:
    case GW_R_STUDIES:
        return q->method == GW_M_POST;
    case GW_R_STUDY: /* DELETE a handle; POST (STOW-RS) to a StudyInstanceUID */
        return q->method == GW_M_DELETE || (q->method == GW_M_POST && uid_ok(q->path_id));
    case GW_R_ADMIN_KEY:
        return q->method == GW_M_DELETE;
    case GW_R_ADMIN_KEYS:
        return q->method == GW_M_GET || q->method == GW_M_POST;
    default:
        return q->method == GW_M_GET;
    }
}

/* Which roles may use a route; 0 for routes without authentication. */
static unsigned route_roles(enum gw_route r)
{
    const unsigned user = 1u << GW_ROLE_CLINICIAN | 1u << GW_ROLE_RESEARCHER;
    switch (r) {
    case GW_R_HEALTHZ:
    case GW_R_ATTESTATION:
    case GW_R_OTHER:
        return 0;
    case GW_R_METRICS:
    case GW_R_AUDIT:
        return 1u << GW_ROLE_AUDITOR;
    case GW_R_ADMIN_KEYS:
    case GW_R_ADMIN_KEY:
        return 1u << GW_ROLE_ADMIN;
    default:
        return user;
    }
}

/* ---- authentication ------------------------------------------------------------------------- */

static const char *bearer(struct MHD_Connection *c, size_t *len)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    *len = strlen(h);
    return h;
}

static enum MHD_Result authenticate(struct gw_server *s, struct gw_req *q, struct MHD_Connection *c)
{
    unsigned roles = route_roles(q->route);
    size_t tl = 0;
    uint8_t totp[20];
    const char *tok = bearer(c, &tl);
    if (roles == 0)
        return MHD_YES;
    q->action = "auth.fail";
    if (tok == NULL ||
        gw_keystore_auth(s->ks, tok, tl, (int64_t)time(NULL), &q->key, totp, NULL) != MS_OK)
        return send_error(q, c, 401, "invalid_request_error", "invalid_api_key",
                          "Incorrect API key provided.");
    q->authed = 1;
    q->action = NULL;
    if ((roles & (1u << q->key.role)) == 0)
        return send_error(q, c, 403, "permission_denied", "role_not_allowed",
                          "This API key's role may not use this endpoint.");
    if (q->key.role == GW_ROLE_ADMIN) {
        const char *code = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Medseal-TOTP");
        uint64_t step = 0;
        int ok = code != NULL &&
                 gw_totp_match(totp, code, strlen(code), (uint64_t)time(NULL), &step);
        ms_memzero(totp, sizeof totp);
        /* RFC 6238 section 5.2: a code is accepted once. Its step must be after the last step
         * this key used; a replayed or older code gets the same answer as a wrong one. */
        if (ok && gw_keystore_totp_claim(s->ks, q->key.id, step, NULL) != MS_OK)
            ok = 0;
        if (!ok)
            return send_error(q, c, 403, "permission_denied", "totp_required",
                              "Admin requests need a valid, unused TOTP code in X-Medseal-TOTP.");
    }
    unsigned rpm = q->key.rate_rpm ? q->key.rate_rpm : s->cfg.rate_rpm;
    unsigned wait = gw__rl_take(s->rl, q->key.id, rpm, gw__now_us());
    if (wait > 0) {
        struct gw_resp r;
        atomic_fetch_add(&s->metrics.rate_limited, 1);
        gw__resp_init(q, &r);
        gw__resp_error(q, &r, 429, "rate_limit_exceeded", "rate_limit_exceeded", NULL,
                       "Rate limit reached for this API key.");
        r.retry_after = wait;
        return send_resp(q, c, &r);
    }
    return MHD_YES;
}

/* ---- MHD callbacks -------------------------------------------------------------------------- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct gw_server *s = cls;
    (void)uri, (void)c;
    struct gw_req *q = ms_malloc(NULL, sizeof *q);
    if (q == NULL)
        return NULL;
    q->s = s;
    q->t0 = gw__now_us();
    q->outcome = "ok";
    ms_buf_init(&q->body, &s->alloc, s->cfg.max_body);
    gw__random_id(q->request_id, "req_", 4);
    atomic_fetch_add(&s->active, 1);
    atomic_fetch_add(&s->metrics.in_flight, 1);
    return q;
}

ms_rc gw__req_audit(struct gw_req *q)
{
    struct gw_server *s = q->s;
    if (q->audited)
        return q->audit_rc;
    q->audited = 1;
    if (q->route == GW_R_HEALTHZ || q->route == GW_R_METRICS)
        return MS_OK;
    if (q->status == 408)
        q->outcome = "timeout";
    struct gw_audit_ev ev = {
        .request_id = q->request_id,
        .key_id = q->authed || q->key.id[0] ? q->key.id : NULL,
        .role = q->authed ? gw_role_name(q->key.role) : NULL,
        .action = q->action ? q->action : "http.request",
        .route = q->route == GW_R_STUDY       ? "/v1/studies/:id" /* the token alphabet: no {} */
                 : q->route == GW_R_ADMIN_KEY ? "/v1/admin/keys/:id"
                                              : gw__route_names[q->route],
        .model = q->model[0] ? q->model : NULL,
        .outcome = q->outcome,
        .status = q->status,
        .bytes_in = q->body.len + q->stow_bytes,
        .bytes_out = q->bytes_out,
        .t_total_us = gw__now_us() - q->t0,
        .t_upstream_us = q->t_upstream_us,
        .phi = q->phi,
        .evidence_hash = gw__attest_hash_hex(s->att),
    };
    q->audit_rc = gw__audit_append(s->audit, &ev);
    return q->audit_rc;
}

/* The end of every request. An answered request was audited before its answer (or its stream's
 * last event) went out; what is left here are requests that ended without one (client gone
 * mid-body: 499, time limits: 408) or a stream the client left early. */
static void on_done(void *cls, struct MHD_Connection *c, void **ptr,
                    enum MHD_RequestTerminationCode toe)
{
    struct gw_server *s = cls;
    struct gw_req *q = *ptr;
    (void)c;
    if (q == NULL)
        return;
    uint64_t us = gw__now_us() - q->t0;
    if (q->status == 0)
        q->status = toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? 408 : 499;
    gw__metrics_request(&s->metrics, q->route, q->status, q->key.role, us);
    gw__req_audit(q);
    gw__stow_free(q);
    ms_buf_free(&q->body);
    ms_free(NULL, q);
    *ptr = NULL;
    atomic_fetch_sub(&s->metrics.in_flight, 1);
    /* Only a draining stop waits for `active` to reach 0. Taking s->mu and broadcasting after
     * every request also woke the study sweeper each time (5 futex calls and 2 context switches
     * per request). Both sides are sequentially consistent: either this thread sees `draining`
     * or wait_idle sees the count at 0. */
    if (atomic_fetch_sub(&s->active, 1) == 1 && atomic_load(&s->draining)) {
        pthread_mutex_lock(&s->mu);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
}

static enum MHD_Result dispatch(struct gw_req *q, struct MHD_Connection *c)
{
    struct gw_resp r;
    gw__resp_init(q, &r);
    switch (q->route) {
    case GW_R_HEALTHZ:
        gw__h_healthz(q, &r);
        break;
    case GW_R_METRICS:
        gw__h_metrics(q, &r);
        break;
    case GW_R_MODELS:
        gw__h_models(q, &r);
        break;
    case GW_R_CHAT:
        gw__h_chat(q, &r);
        break;
    case GW_R_STUDIES:
        gw__h_studies_post(q, c, &r);
        break;
    case GW_R_STUDY:
        if (q->method == GW_M_POST)
            gw__h_studies_post(q, c, &r);
        else
            gw__h_study_delete(q, &r);
        break;
    case GW_R_ATTESTATION:
        gw__h_attestation(q, c, &r);
        break;
    case GW_R_AUDIT:
        gw__h_audit(q, c, &r);
        break;
    case GW_R_ADMIN_KEYS:
    case GW_R_ADMIN_KEY:
        gw__h_admin(q, &r);
        break;
    default:
        gw__resp_error(q, &r, 404, "invalid_request_error", "not_found", NULL, "Unknown URL.");
    }
    return send_resp(q, c, &r);
}

static enum MHD_Result first_call(struct gw_server *s, struct gw_req *q, struct MHD_Connection *c,
                                  const char *url, const char *method)
{
    q->started = 1;
    if (gw__now_us() - q->t0 > (uint64_t)s->cfg.request_timeout_s * 1000000u) {
        q->status = 408; /* headers trickled in slower than the request time limit */
        q->outcome = "timeout";
        return MHD_NO;
    }
    route(q, url, method);
    if (q->route == GW_R_OTHER)
        return send_error(q, c, 404, "invalid_request_error", "not_found", "Unknown URL.");
    if (!method_ok(q))
        return send_error(q, c, 405, "invalid_request_error", "method_not_allowed",
                          "Method not allowed on this URL.");
    /* STOW-RS bodies (a whole study) are bounded by study_max_bytes, not max_body, and parsed as
     * they arrive (never held whole) */
    int stow = q->method == GW_M_POST && (q->route == GW_R_STUDIES || q->route == GW_R_STUDY);
    size_t limit = stow ? s->cfg.study_max_bytes : s->cfg.max_body;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl != NULL && strtoull(cl, NULL, 10) > limit)
        return send_error(q, c, 413, "invalid_request_error", "request_too_large",
                          "Request body exceeds the configured limit.");
    enum MHD_Result ar = authenticate(s, q, c);
    if (ar == MHD_YES && q->status == 0 && stow && q->authed)
        gw__stow_begin(q, c);
    return ar;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **ptr)
{
    struct gw_server *s = cls;
    struct gw_req *q = *ptr;
    (void)version;
    if (q == NULL)
        return MHD_NO;
    if (!q->started)
        return first_call(s, q, c, url, method);
    if (q->status != 0) {
        *upload_size = 0; /* an early answer was queued: drop the rest of the body */
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (gw__now_us() - q->t0 > (uint64_t)s->cfg.request_timeout_s * 1000000u) {
            q->status = 408; /* a slow sender: drop the connection now, not after the body */
            q->outcome = "timeout";
            return MHD_NO;
        }
        ms_rc arc = MS_OK;
        if (q->stow != NULL) {
            q->stow_bytes += *upload_size;
            if (q->stow_bytes > s->cfg.study_max_bytes)
                q->too_big = 1; /* a body without Content-Length that outgrows the limit */
            if (!q->too_big)
                gw__stow_feed(q, (const uint8_t *)upload, *upload_size);
        } else if (!q->too_big && !q->no_mem && !q->timed_out &&
                   (arc = ms_buf_append(&q->body, upload, *upload_size, NULL)) != MS_OK) {
            /* over max_body: 413; the allocator's ceiling (mem_limit) is full: 507 */
            if (arc == MS_E_NOMEM)
                q->no_mem = 1;
            else
                q->too_big = 1;
            ms_buf_free(&q->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (q->too_big)
        return send_error(q, c, 413, "invalid_request_error", "request_too_large",
                          "Request body exceeds the configured limit.");
    if (q->no_mem)
        return send_error(q, c, 507, "server_error", "insufficient_memory",
                          "the server's memory for confidential data is full; retry later");
    if (q->timed_out)
        return send_error(q, c, 408, "invalid_request_error", "request_timeout",
                          "The request took longer than the configured limit.");
    return dispatch(q, c);
}

/* libmicrohttpd's own messages name sockets and protocol states, never request content; they
 * are still reduced to one line on stderr. */
static void on_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    (void)fmt;
    (void)ap;
}

/* ---- start / stop --------------------------------------------------------------------------- */

static void *sweeper(void *arg)
{
    struct gw_server *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        pthread_mutex_unlock(&s->mu);
        atomic_store(&s->metrics.studies_live, gw__studies_sweep(s->studies));
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* The master key when one is configured, or when the pseudo key file is sealed (then the
 * default STATE/master.key). Loaded once: an env: or fd: source can be read only once. */
static ms_rc open_master(const gw_config *c, uint8_t mk[MS_KEY_LEN], int *have, ms_err *err)
{
    char spec[4096];
    *have = 0;
    if (c->master_key == NULL &&
        (c->pseudo_key_file == NULL || !ms_file_is_sealed(c->pseudo_key_file)))
        return MS_OK;
    if (c->master_key == NULL &&
        (size_t)snprintf(spec, sizeof spec, "file:%s/master.key", c->state_dir) >= sizeof spec)
        return ms_fail(err, MS_E_INVAL, "state dir path too long");
    if (ms_master_key_load(c->master_key ? c->master_key : spec, mk, err) != MS_OK)
        return err ? err->code : MS_E_CRYPTO;
    *have = 1;
    return MS_OK;
}

/* replica_id: --replica-id, else the host name; it goes into audit records, so it must be a
 * token (1-63 bytes of [A-Za-z0-9._:/+=-]). */
static ms_rc resolve_replica(struct gw_server *s, ms_err *err)
{
    char host[256];
    const char *id = s->cfg.replica_id;
    if (id == NULL) {
        if (gethostname(host, sizeof host - 1) != 0)
            host[0] = '\0';
        host[sizeof host - 1] = '\0';
        id = host;
    }
    size_t n = strlen(id);
    int ok = n > 0 && n < sizeof s->replica;
    for (size_t i = 0; ok && i < n; i++)
        ok = (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
             (id[i] >= '0' && id[i] <= '9') || strchr("._:/+=-", id[i]) != NULL;
    if (!ok)
        return ms_fail(err, MS_E_INVAL,
                       "replica_id (or the host name) must be 1-63 characters of "
                       "[A-Za-z0-9._:/+=-]");
    memcpy(s->replica, id, n + 1);
    return MS_OK;
}

static ms_rc open_parts(struct gw_server *s, ms_err *err)
{
    const gw_config *c = &s->cfg;
    if (resolve_replica(s, err) != MS_OK)
        return err->code;
    if (ms_file_read(c->cert_path, NULL, 1u << 20, &s->cert, err) != MS_OK ||
        ms_file_read(c->key_path, NULL, 1u << 20, &s->key, err) != MS_OK)
        return err ? err->code : MS_E_IO;
    if (gw__attest_open(c->insecure_no_attestation, c->cert_path, &s->att, err) != MS_OK ||
        gw_keystore_open_db(c->state_dir, c->state_db, &s->ks, err) != MS_OK || gw__rl_new(&s->rl, err) != MS_OK ||
        gw__studies_new(&s->alloc, c->study_max_bytes, &s->studies, err) != MS_OK)
        return err ? err->code : MS_E_INTERNAL;
    uint8_t mk[MS_KEY_LEN];
    int have_mk = 0;
    if (open_master(c, mk, &have_mk, err) != MS_OK)
        return err ? err->code : MS_E_CRYPTO;
    if (c->pseudo_key_file != NULL) {
        ms_rc rc = ms_keyfile_read_sealed(c->pseudo_key_file, have_mk ? mk : NULL,
                                          MS_SEAL_LABEL_PSEUDO_KEY, s->site_key, NULL, err);
        if (rc != MS_OK) {
            ms_memzero(mk, sizeof mk);
            return rc;
        }
        s->have_site_key = 1;
    }
    if (c->site_lists != NULL && gw__site_open(c->site_lists, &s->site, err) != MS_OK) {
        ms_memzero(mk, sizeof mk);
        return err ? err->code : MS_E_IO;
    }
    if (c->upstream != NULL && gw__upstream_new(c->upstream, c->upstream_key_file,
                                                c->upstream_timeout_s, &s->up, err) != MS_OK)
        return err ? err->code : MS_E_INTERNAL;
    if (gw__heads_start(s->ks, s->replica, &s->heads, err) != MS_OK) {
        ms_memzero(mk, sizeof mk);
        return err ? err->code : MS_E_INTERNAL;
    }
    ms_err aerr = {0};
    ms_rc arc = gw__audit_open(c->state_dir, c->audit_sync, have_mk ? mk : NULL, s->replica,
                               c->audit_witness, s->heads, &s->audit, &aerr);
    ms_memzero(mk, sizeof mk);
    if (arc != MS_OK && gw__have("audit"))
        return ms_fail(err, aerr.code, "audit log: %s", aerr.msg);
    return MS_OK;
}

static ms_rc open_memory(struct gw_server *s, ms_err *err)
{
    ms_secmem *m = NULL;
    /* mem_locked = 1: one locked, dump-excluded region of mem_limit bytes, reserved up front
     * (refuse to start when it cannot be locked). Otherwise the wiping heap with the same
     * ceiling. */
    if (s->cfg.mem_locked) {
        if (ms_secmem_new(s->cfg.mem_limit, 1, &m, &s->alloc, err) != MS_OK)
            return err ? err->code : MS_E_NOMEM;
        s->secmem = m;
        gw__json_region(m, &s->alloc, 1); /* request JSON (messages) in locked memory too */
        return MS_OK;
    }
    memset(&s->alloc, 0, sizeof s->alloc);
    s->alloc.limit = s->cfg.mem_limit;
    return MS_OK;
}

static ms_rc start_daemon(struct gw_server *s, ms_err *err)
{
    struct sockaddr_in sa;
    if (ms_parse_listen("--listen", s->cfg.listen, &sa, err) != MS_OK)
        return err->code;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_TLS |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    /* proxy_protocol_from: libmicrohttpd has no PROXY protocol, so the server listens itself
     * and hands each connection over with the client's address (proxyproto.c) */
    struct gw_pp_net nets[GW_PP_NETS_MAX];
    size_t n_nets = 0;
    int lfd = -1;
    if (s->cfg.proxy_protocol_from != NULL) {
        if (gw__pp_nets_parse(s->cfg.proxy_protocol_from, nets, &n_nets, err) != MS_OK)
            return err->code;
        int one = 1;
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
            bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 1024) != 0) {
            if (lfd >= 0)
                close(lfd);
            return ms_fail(err, MS_E_IO, "cannot listen on the listen address (in use?)");
        }
        socklen_t sl = sizeof sa;
        getsockname(lfd, (struct sockaddr *)&sa, &sl);
        flags |= MHD_USE_NO_LISTEN_SOCKET;
    }
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_HTTPS_MEM_CERT, (const char *)s->cert.p, MHD_OPTION_HTTPS_MEM_KEY,
        (const char *)s->key.p, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
        MHD_OPTION_CONNECTION_LIMIT, s->cfg.max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        s->cfg.max_conns_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->cfg.max_header, MHD_OPTION_STRICT_FOR_CLIENT, 1,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_log, s, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
        MHD_OPTION_END);
    if (s->d == NULL) {
        if (lfd >= 0)
            close(lfd);
        return ms_fail(err, MS_E_IO,
                       "cannot start HTTPS on the listen address (in use, or certificate/key "
                       "unreadable or mismatched)");
    }
    if (lfd >= 0) {
        s->port = ntohs(sa.sin_port);
        if (gw__pp_start(s->d, lfd, nets, n_nets, &s->pp, err) != MS_OK) {
            close(lfd);
            return err->code;
        }
        return MS_OK;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    return MS_OK;
}

ms_rc gw_server_start(const gw_config *c, gw_server **out, ms_err *err)
{
    ms_err local = {0};
    if (err == NULL)
        err = &local;
    if (c == NULL || out == NULL || c->cert_path == NULL || c->key_path == NULL ||
        c->state_dir == NULL || c->listen == NULL)
        return ms_fail(err, MS_E_INVAL, "serve needs --listen, --cert, --key and --state");
    gw__json_init();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* past RLIMIT_FSIZE a write fails (EFBIG): the audit seam sees it */
    struct gw_server *s = ms_malloc(NULL, sizeof *s);
    if (s == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    s->cfg = *c;
    if (ms_random(s->name_key, sizeof s->name_key, err) != MS_OK) {
        ms_free(NULL, s);
        return err->code;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    ms_buf_init(&s->cert, NULL, 1u << 20);
    ms_buf_init(&s->key, NULL, 1u << 20);
    if (open_memory(s, err) != MS_OK || open_parts(s, err) != MS_OK ||
        start_daemon(s, err) != MS_OK ||
        (c->dicom_listen != NULL && gw__dimse_start(s, err) != MS_OK)) {
        gw_server_stop(s, 0);
        return err->code;
    }
    pthread_create(&s->sweeper, NULL, sweeper, s);
    struct gw_audit_ev ev = {
        .action = "server.start",
        .outcome = strcmp(gw__attest_label(s->att), "UNATTESTED") == 0 ? "UNATTESTED" : "ok",
        .evidence_hash = gw__attest_hash_hex(s->att)};
    gw__audit_append(s->audit, &ev);
    *out = s;
    return MS_OK;
}

uint16_t gw_server_port(const gw_server *s)
{
    return s->port;
}

const char *gw_server_attestation(const gw_server *s)
{
    return gw__attest_label(s->att);
}

static void wait_idle(struct gw_server *s, unsigned grace_s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += grace_s;
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->draining, 1);
    while (atomic_load(&s->active) > 0) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&s->mu);
}

void gw_server_stop(gw_server *s, unsigned grace_s)
{
    if (s == NULL)
        return;
    if (s->d != NULL) {
        gw__pp_stop(s->pp); /* our own listener, when proxy_protocol_from is set */
        s->pp = NULL;
        MHD_socket fd = s->cfg.proxy_protocol_from != NULL ? MHD_INVALID_SOCKET
                                                          : MHD_quiesce_daemon(s->d);
        if (fd != MHD_INVALID_SOCKET) /* no new connections */
            close(fd);
        gw__dimse_stop(s, grace_s);
        wait_idle(s, grace_s);
        MHD_stop_daemon(s->d);
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->sweeper, NULL);
        struct gw_audit_ev ev = {
            .action = "server.stop", .outcome = "ok", .evidence_hash = gw__attest_hash_hex(s->att)};
        gw__audit_append(s->audit, &ev);
    }
    gw__dimse_stop(s, 0);
    gw__audit_close(s->audit);
    gw__heads_stop(s->heads); /* after the final head, before the key store */
    gw__upstream_free(s->up);
    gw__studies_free(s->studies);
    gw__rl_free(s->rl);
    gw_keystore_close(s->ks);
    gw__attest_close(s->att);
    ms_buf_free(&s->cert);
    ms_buf_free(&s->key);
    ms_memzero(s->site_key, sizeof s->site_key);
    gw__site_close(s->site);
    if (s->secmem != NULL)
        gw__json_region(s->secmem, &s->alloc, 0);
    ms_secmem_free(s->secmem);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    ms_free(NULL, s);
}

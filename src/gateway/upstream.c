/*
 * Upstream pass-through for every model other than the analyst: the request is de-identified
 * by the chat request schema (schema.c: every field scrubbed, renamed, checked, dropped or
 * refused; unknown fields refused or dropped by upstream_unknown_fields), forwarded with
 * libcurl to an OpenAI-compatible server, and the answer is re-identified for clinicians
 * (researchers keep the surrogates). Streams are normalised on the way (sse.c), with a bounded
 * look-behind re-identifier so a surrogate split across chunks is still restored. A stream's audit
 * record is appended before its last event goes out. Fail closed: if scrubbing fails, nothing is
 * sent.
 * Trusts: nothing from the upstream (bounded bodies, JSON checked). Owns: a pool of curl handles
 * (connections stay alive between requests) and, per request, the scrubber whose surrogate map is
 * the only link between surrogates and real values (wiped when the request ends).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "internal.h"

#define POOL_MAX          64
#define UPSTREAM_BODY_MAX ((size_t)32 << 20)
#define TOOL_MAX          16 /* streamed tool calls re-identified per answer */

struct gw_upstream {
    char url[1024];
    char auth[600];
    unsigned timeout_s;
    pthread_mutex_t mu;
    struct pair {
        CURL *h;
        CURLM *m; /* holds the connection cache: kept with its easy handle between requests */
    } pool[POOL_MAX];
    size_t npool;
};

static void curl_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

ms_rc gw__upstream_new(const char *base, const char *key_file, unsigned timeout_s,
                       struct gw_upstream **out, ms_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    size_t bl = strlen(base);
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)
        return ms_fail(err, MS_E_FORMAT, "--upstream: expected an http(s):// URL");
    pthread_once(&once, curl_once);
    struct gw_upstream *u = ms_malloc(NULL, sizeof *u);
    if (u == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    snprintf(u->url, sizeof u->url, "%.*s/chat/completions", (int)bl, base);
    u->timeout_s = timeout_s ? timeout_s : 120;
    pthread_mutex_init(&u->mu, NULL);
    if (key_file != NULL) {
        ms_buf k;
        ms_buf_init(&k, NULL, 512);
        if (ms_file_read(key_file, NULL, 512, &k, err) != MS_OK) {
            gw__upstream_free(u);
            return err ? err->code : MS_E_IO;
        }
        while (k.len > 0 && (k.p[k.len - 1] == '\n' || k.p[k.len - 1] == '\r'))
            k.len--;
        snprintf(u->auth, sizeof u->auth, "Authorization: Bearer %.*s", (int)k.len, k.p);
        ms_buf_free(&k);
    }
    *out = u;
    return MS_OK;
}

void gw__upstream_free(struct gw_upstream *u)
{
    if (u == NULL)
        return;
    for (size_t i = 0; i < u->npool; i++) {
        curl_multi_cleanup(u->pool[i].m);
        curl_easy_cleanup(u->pool[i].h);
    }
    pthread_mutex_destroy(&u->mu);
    ms_free(NULL, u);
}

/* A (multi, easy) pair from the pool, or a new one. The multi handle owns the connection cache,
 * so a pooled pair reuses its keep-alive connection to the upstream. */
static int handle_get(struct gw_upstream *u, CURL **h, CURLM **m)
{
    *h = NULL;
    *m = NULL;
    pthread_mutex_lock(&u->mu);
    if (u->npool > 0) {
        u->npool--;
        *h = u->pool[u->npool].h;
        *m = u->pool[u->npool].m;
    }
    pthread_mutex_unlock(&u->mu);
    if (*h != NULL) {
        curl_easy_reset(*h);
        return 0;
    }
    *h = curl_easy_init();
    *m = curl_multi_init();
    return *h != NULL && *m != NULL ? 0 : -1;
}

static void handle_put(struct gw_upstream *u, CURL *h, CURLM *m)
{
    if (h == NULL || m == NULL) {
        curl_multi_cleanup(m);
        curl_easy_cleanup(h);
        return;
    }
    pthread_mutex_lock(&u->mu);
    if (u->npool < POOL_MAX) {
        u->pool[u->npool].h = h;
        u->pool[u->npool].m = m;
        u->npool++;
        h = NULL;
    }
    pthread_mutex_unlock(&u->mu);
    if (h != NULL) {
        curl_multi_cleanup(m);
        curl_easy_cleanup(h);
    }
}

/* ---- scrubbing the request ------------------------------------------------------------------ */

static ms_rc scrub_fn(void *ud, const char *s, size_t n, ms_buf *out, ms_err *err)
{
    return gw__scrub_text(ud, s, n, out, err);
}

static ms_rc reid_fn(void *ud, const char *s, size_t n, ms_buf *out, ms_err *err)
{
    return gw__reid_text(ud, s, n, out, err);
}

static int dump_to_buf(const char *p, size_t n, void *ud)
{
    return ms_buf_append(ud, p, n, NULL) == MS_OK ? 0 : -1;
}

/* Returns the de-identified request body (owned JSON text in *out). Rewrites `req`, the parsed
 * request, in place by the chat request schema (schema.c: every field scrubbed, checked, dropped
 * or refused): the caller frees it after this call and reads nothing from it but gw_chat_info,
 * which is parsed before. */
static ms_rc scrub_request(struct gw_scrub *sc, json_t *req, int drop_unknown, ms_alloc *a,
                           json_t **names, ms_buf *out, char *param, ms_err *err)
{
    ms_rc rc = gw__schema_request(req, drop_unknown, scrub_fn, sc, a, names, param, err);
    if (rc != MS_OK)
        return rc;
    json_t *mct = json_object_get(req, "max_completion_tokens");
    if (mct != NULL) { /* the older name is what every OpenAI-compatible server accepts */
        json_object_set(req, "max_tokens", mct);
        json_object_del(req, "max_completion_tokens");
    }
    /* serialised straight into `out` (no json_dumps string to grow, copy and wipe) */
    if (json_dump_callback(req, dump_to_buf, out, JSON_COMPACT) != 0)
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    return MS_OK;
}

/* ---- the transfer --------------------------------------------------------------------------- */

struct xfer {
    struct gw_server *s;
    struct gw_req *q; /* its request: alive while MHD reads the stream (on_done comes after) */
    struct gw_upstream *u;
    CURL *h;
    CURLM *m;
    struct curl_slist *hdrs;
    ms_buf req;    /* scrubbed request body */
    ms_buf raw;    /* non-stream answer or error body */
    int streaming; /* headers said 200 and stream was asked */
    int too_big;   /* the answer did not fit (UPSTREAM_BODY_MAX or the memory ceiling) */
    int headers_done;
    long status;
    unsigned retry_after;
    int running, added;
    CURLcode result;
    uint64_t t0, deadline_us;
    /* streaming state */
    struct gw_scrub *sc;
    struct gw_reid *reid;
    int reidentify, include_usage, sent_role, saw_finish, done, failed;
    gw_sse sse;
    ms_buf pending; /* SSE bytes for the client */
    size_t pending_off;
    json_t *usage;                   /* held until just before [DONE] */
    json_t *names;                   /* function name -> "fn_<n>" (schema.c), mapped back */
    struct gw_reid *treid[TOOL_MAX]; /* per streamed tool call: its arguments */
};

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = sz * n;
    if (len >= 12 && strncasecmp(p, "retry-after:", 12) == 0)
        x->retry_after = (unsigned)strtoul(p + 12, NULL, 10);
    if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
        if (x->status >= 200)
            x->headers_done = 1;
    }
    return len;
}

static ms_rc stream_event(void *ud, const char *json, size_t len, ms_err *err);

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = sz * n;
    if (x->streaming && x->status == 200) {
        ms_err err = {0};
        if (gw_sse_feed(&x->sse, (const uint8_t *)p, len, stream_event, x, &err) != MS_OK)
            x->failed = 1;
        return x->failed ? 0 : len;
    }
    if (ms_buf_append(&x->raw, p, len, NULL) != MS_OK) {
        x->too_big = 1; /* over UPSTREAM_BODY_MAX or the memory ceiling: the transfer stops */
        return 0;
    }
    return len;
}

static ms_rc xfer_start(struct xfer *x, ms_err *err)
{
    if (handle_get(x->u, &x->h, &x->m) != 0)
        return ms_fail(err, MS_E_NOMEM, "upstream: cannot create a transfer");
    x->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    x->hdrs = curl_slist_append(x->hdrs, "Expect:");
    if (x->u->auth[0])
        x->hdrs = curl_slist_append(x->hdrs, x->u->auth);
    curl_easy_setopt(x->h, CURLOPT_URL, x->u->url);
    curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, (const char *)x->req.p);
    curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->req.len);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(x->h, CURLOPT_TIMEOUT, (long)x->u->timeout_s);
    curl_easy_setopt(x->h, CURLOPT_TCP_NODELAY, 1L);
    /* the upstream URL is the only route: no proxy from http_proxy/ALL_PROXY in the environment,
     * which could otherwise send scrubbed (but still sensitive) text outside the enclave */
    curl_easy_setopt(x->h, CURLOPT_PROXY, "");
    curl_multi_add_handle(x->m, x->h);
    x->added = 1;
    x->running = 1;
    x->t0 = gw__now_us();
    return MS_OK;
}

/* Drives the transfer until `stop(x)` or the end; returns 0 when finished. */
static int xfer_pump(struct xfer *x, int (*stop)(const struct xfer *x))
{
    while (x->running && !stop(x)) {
        int still = 0, nfd = 0;
        curl_multi_perform(x->m, &still);
        if (still == 0) {
            CURLMsg *msg;
            int left = 0;
            while ((msg = curl_multi_info_read(x->m, &left)) != NULL) {
                if (msg->msg == CURLMSG_DONE)
                    x->result = msg->data.result;
            }
            x->running = 0;
            break;
        }
        if (stop(x))
            break;
        curl_multi_poll(x->m, NULL, 0, 1000, &nfd);
    }
    return x->running;
}

static int stop_headers(const struct xfer *x)
{
    return x->headers_done;
}

static int stop_pending(const struct xfer *x)
{
    return x->pending.len > x->pending_off || x->failed;
}

static int stop_never(const struct xfer *x)
{
    (void)x;
    return 0;
}

static void xfer_free(struct xfer *x)
{
    if (x->m != NULL && x->h != NULL && x->added)
        curl_multi_remove_handle(x->m, x->h);
    handle_put(x->u, x->h, x->m);
    curl_slist_free_all(x->hdrs);
    ms_buf_free(&x->req);
    ms_buf_free(&x->raw);
    ms_buf_free(&x->pending);
    gw_sse_free(&x->sse);
    json_decref(x->usage);
    json_decref(x->names);
    gw__reid_free(x->reid);
    for (size_t i = 0; i < TOOL_MAX; i++)
        gw__reid_free(x->treid[i]);
    gw__scrub_free(x->sc);
    ms_free(NULL, x);
}

/* Maps a failed transfer or a non-200 answer to the client's error. */
static void upstream_error(struct gw_req *q, struct xfer *x, struct gw_resp *r)
{
    struct gw_metrics *mt = &q->s->metrics;
    char msg[96];
    if (x->too_big) {
        atomic_fetch_add(&mt->upstream_err[GW_UE_PROTOCOL], 1);
        gw__resp_error(q, r, 502, "upstream_error", "upstream_answer_too_large", NULL,
                       "The upstream model's answer is larger than this server accepts (32 MiB, "
                       "or what is left of its memory ceiling).");
    } else if (x->result == CURLE_OPERATION_TIMEDOUT) {
        atomic_fetch_add(&mt->upstream_err[GW_UE_TIMEOUT], 1);
        gw__resp_error(q, r, 504, "upstream_error", "upstream_timeout", NULL,
                       "The upstream model did not answer in time.");
    } else if (x->result != CURLE_OK || x->status == 0) {
        atomic_fetch_add(&mt->upstream_err[GW_UE_CONNECT], 1);
        gw__resp_error(q, r, 502, "upstream_error", "upstream_unreachable", NULL,
                       "The upstream model could not be reached.");
    } else if (x->status == 429) {
        atomic_fetch_add(&mt->upstream_err[GW_UE_STATUS], 1);
        gw__resp_error(q, r, 429, "rate_limit_exceeded", "upstream_rate_limited", NULL,
                       "The upstream model is rate limited; retry later.");
        r->retry_after = x->retry_after ? x->retry_after : 1;
    } else {
        atomic_fetch_add(&mt->upstream_err[GW_UE_STATUS], 1);
        snprintf(msg, sizeof msg, "The upstream model answered HTTP %ld.", x->status);
        gw__resp_error(q, r, 502, "upstream_error", "upstream_error", NULL, msg);
    }
}

/* ---- non-streaming answers ------------------------------------------------------------------ */

static void answer_plain(struct gw_req *q, struct xfer *x, struct gw_resp *r)
{
    json_error_t je;
    ms_err err = {0};
    json_t *j = json_loadb((const char *)x->raw.p, x->raw.len, JSON_REJECT_DUPLICATES, &je);
    json_t *choices = json_object_get(j, "choices");
    if (!json_is_object(j) ||
        (choices != NULL && !json_is_array(choices) && !json_is_null(choices))) {
        json_decref(j);
        atomic_fetch_add(&q->s->metrics.upstream_err[GW_UE_PROTOCOL], 1);
        gw__resp_error(q, r, 502, "upstream_error", "upstream_bad_response", NULL,
                       "The upstream model sent an answer that is not a chat completion.");
        return;
    }
    if (!json_is_array(choices))
        json_object_set_new(j, "choices", json_array());
    if (gw__schema_answer(j, x->reidentify ? reid_fn : NULL, x->sc, x->names, &x->s->alloc,
                          &err) != MS_OK) {
        json_decref(j);
        gw__resp_rc(q, r, err.code, &err, NULL);
        return;
    }
    gw__resp_json(q, r, j);
}

/* ---- streaming answers ---------------------------------------------------------------------- */

static ms_rc put_event(struct xfer *x, json_t *j, ms_err *err)
{
    ms_rc rc = ms_buf_append_str(&x->pending, "data: ", err);
    if (rc == MS_OK && json_dump_callback(j, dump_to_buf, &x->pending, JSON_COMPACT) != 0)
        rc = ms_fail(err, MS_E_NOMEM, "out of memory");
    return rc == MS_OK ? ms_buf_append_str(&x->pending, "\n\n", err) : rc;
}

/* Rewrites choices[0].delta.content through the streaming re-identifier. */
static ms_rc reid_delta(struct xfer *x, json_t *delta, int final, ms_err *err)
{
    json_t *c = json_object_get(delta, "content");
    ms_buf out;
    ms_rc rc = MS_OK;
    json_t *rf = json_object_get(delta, "refusal");
    if (!x->reidentify)
        return MS_OK;
    if (json_is_string(rf)) { /* a refusal comes whole in practice: re-identified per chunk */
        ms_buf_init(&out, &x->s->alloc, 0);
        rc = gw__reid_text(x->sc, json_string_value(rf), json_string_length(rf), &out, err);
        if (rc == MS_OK)
            json_object_set_new(delta, "refusal",
                                json_stringn(out.p ? (const char *)out.p : "", out.len));
        ms_buf_free(&out);
        if (rc != MS_OK)
            return rc;
    }
    if (!json_is_string(c) && !final)
        return MS_OK;
    ms_buf_init(&out, &x->s->alloc, 0);
    if (json_is_string(c) && json_string_length(c) > 0)
        rc = gw__reid_feed(x->reid, json_string_value(c), json_string_length(c), &out, err);
    if (rc == MS_OK && final)
        rc = gw__reid_flush(x->reid, &out, err);
    if (rc == MS_OK && (json_is_string(c) || out.len > 0))
        json_object_set_new(delta, "content",
                            json_stringn(out.p ? (const char *)out.p : "", out.len));
    ms_buf_free(&out);
    return rc;
}

/* Streamed tool-call arguments: one look-behind re-identifier per call index. */
static ms_rc reid_tool_fragment(struct xfer *x, json_t *tc, ms_err *err)
{
    json_t *fn = json_object_get(tc, "function");
    json_t *args = json_object_get(fn, "arguments");
    json_int_t idx = json_integer_value(json_object_get(tc, "index"));
    ms_buf out;
    if (!json_is_string(args) || json_string_length(args) == 0)
        return MS_OK;
    if (idx < 0 || idx >= TOOL_MAX)
        return ms_fail(err, MS_E_LIMIT, "upstream streamed more than %d tool calls", TOOL_MAX);
    if (x->treid[idx] == NULL && gw__reid_new(x->sc, &x->treid[idx], err) != MS_OK)
        return err->code;
    ms_buf_init(&out, &x->s->alloc, 0);
    ms_rc rc =
        gw__reid_feed(x->treid[idx], json_string_value(args), json_string_length(args), &out, err);
    if (rc == MS_OK)
        json_object_set_new(fn, "arguments",
                            json_stringn(out.p ? (const char *)out.p : "", out.len));
    ms_buf_free(&out);
    return rc;
}

/* At the finish chunk: what the tool re-identifiers still hold goes out as final fragments. */
static ms_rc flush_tools(struct xfer *x, json_t *delta, ms_err *err)
{
    for (size_t i = 0; i < TOOL_MAX; i++) {
        ms_buf out;
        if (x->treid[i] == NULL)
            continue;
        ms_buf_init(&out, &x->s->alloc, 0);
        ms_rc rc = gw__reid_flush(x->treid[i], &out, err);
        if (rc == MS_OK && out.len > 0) {
            json_t *tcs = json_object_get(delta, "tool_calls");
            if (!json_is_array(tcs)) {
                tcs = json_array();
                json_object_set_new(delta, "tool_calls", tcs);
            }
            json_array_append_new(tcs, json_pack("{s:I,s:{s:s%}}", "index", (json_int_t)i,
                                                 "function", "arguments",
                                                 out.p ? (const char *)out.p : "", out.len));
        }
        ms_buf_free(&out);
        if (rc != MS_OK)
            return rc;
    }
    return MS_OK;
}

static ms_rc reid_tools(struct xfer *x, json_t *delta, int final, ms_err *err)
{
    size_t i;
    json_t *tc;
    json_array_foreach(json_object_get(delta, "tool_calls"), i, tc)
        gw__schema_unname(x->names, json_object_get(tc, "function"));
    gw__schema_unname(x->names, json_object_get(delta, "function_call"));
    if (!x->reidentify)
        return MS_OK;
    json_array_foreach(json_object_get(delta, "tool_calls"), i, tc)
    {
        if (reid_tool_fragment(x, tc, err) != MS_OK)
            return err->code;
    }
    return final ? flush_tools(x, delta, err) : MS_OK;
}

static ms_rc on_choice_chunk(struct xfer *x, json_t *j, ms_err *err)
{
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    json_t *delta = json_object_get(c0, "delta");
    int final = c0 != NULL && !json_is_null(json_object_get(c0, "finish_reason"));
    if (c0 != NULL && !json_is_object(delta)) {
        delta = json_object();
        json_object_set_new(c0, "delta", delta);
    }
    if (delta != NULL && !x->sent_role && json_object_get(delta, "role") == NULL)
        json_object_set_new(delta, "role", json_string("assistant")); /* stream() needs it */
    if (delta != NULL)
        x->sent_role = 1;
    if (final)
        x->saw_finish = 1;
    if (delta != NULL &&
        (reid_delta(x, delta, final, err) != MS_OK || reid_tools(x, delta, final, err) != MS_OK))
        return err->code;
    json_t *u = json_object_get(j, "usage");
    if (json_is_object(u) && x->include_usage && x->usage == NULL)
        x->usage = json_incref(u); /* sent after the finish chunk, before [DONE] */
    if (json_object_get(j, "usage") != NULL || x->include_usage)
        json_object_set_new(j, "usage", json_null());
    return put_event(x, j, err);
}

static ms_rc finish_stream(struct xfer *x, ms_err *err)
{
    ms_rc rc = MS_OK;
    if (x->done)
        return MS_OK;
    x->done = 1;
    if (x->usage != NULL) {
        json_t *u = json_pack("{s:s,s:s,s:I,s:s,s:[],s:O}", "id", "chatcmpl-usage", "object",
                              "chat.completion.chunk", "created", (json_int_t)time(NULL), "model",
                              "upstream", "choices", "usage", x->usage);
        rc = put_event(x, u, err);
        json_decref(u);
    }
    if (rc == MS_OK)
        rc = ms_buf_append_str(&x->pending, "data: [DONE]\n\n", err);
    return rc;
}

static ms_rc stream_event(void *ud, const char *json, size_t len, ms_err *err)
{
    struct xfer *x = ud;
    json_error_t je;
    if (x->done)
        return MS_OK;
    if (len == 6 && memcmp(json, "[DONE]", 6) == 0)
        return finish_stream(x, err);
    json_t *j = json_loadb(json, len, 0, &je);
    ms_rc rc;
    if (json_object_get(j, "error") != NULL) {
        rc = put_event(x, j, err); /* the SDKs raise APIError on it */
        x->q->outcome = "error";   /* the status is already 200: the audit record says it */
        x->done = 1;
    } else if (json_array_size(json_object_get(j, "choices")) == 0) {
        json_t *u = json_object_get(j, "usage");
        if (json_is_object(u) && x->include_usage && x->usage == NULL)
            x->usage = json_incref(u);
        rc = MS_OK;
    } else {
        rc = on_choice_chunk(x, j, err);
    }
    json_decref(j);
    return rc;
}

/* The end of the upstream transfer without [DONE]: say so with an error event. */
static void stream_eof(struct xfer *x)
{
    ms_err err = {0};
    if (x->done)
        return;
    if (x->saw_finish && x->result == CURLE_OK && !x->failed) {
        finish_stream(x, &err);
        return;
    }
    atomic_fetch_add(
        &x->s->metrics
             .upstream_err[x->result == CURLE_OPERATION_TIMEDOUT ? GW_UE_TIMEOUT : GW_UE_PROTOCOL],
        1);
    json_t *e = json_pack("{s:{s:s,s:s,s:n,s:s}}", "error", "message",
                          "The upstream stream ended before the answer was complete.", "type",
                          "upstream_error", "param", "code", "upstream_stream_incomplete");
    put_event(x, e, &err);
    json_decref(e);
    x->q->outcome = "error";
    x->done = 1;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct xfer *x = cls;
    (void)pos;
    if (x->pending.len <= x->pending_off) {
        ms_buf_reset(&x->pending);
        x->pending_off = 0;
        if (!x->done && !xfer_pump(x, stop_pending) && x->pending.len == 0)
            stream_eof(x);
    }
    /* Once the last event ([DONE] or an error event) is in `pending` (it may already be there
     * from the first read of the answer), the record goes to the log before any of it is handed
     * to libmicrohttpd. Later calls: a flag test. A record that cannot be written: the stream
     * breaks off without its last event (no [DONE]: the client's SDK raises an error). */
    if (x->done && gw__req_audit(x->q) != MS_OK)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (x->pending.len <= x->pending_off)
        return x->done ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = x->pending.len - x->pending_off;
    if (n > max)
        n = max;
    memcpy(buf, x->pending.p + x->pending_off, n);
    x->pending_off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    xfer_free(cls);
}

/* ---- entry ---------------------------------------------------------------------------------- */

static struct xfer *xfer_new(struct gw_req *q, const gw_chat_info *ci)
{
    struct xfer *x = ms_malloc(NULL, sizeof *x);
    if (x == NULL)
        return NULL;
    x->s = q->s;
    x->q = q;
    x->u = q->s->up;
    x->reidentify = q->key.role == GW_ROLE_CLINICIAN;
    x->include_usage = ci->include_usage;
    x->streaming = ci->stream;
    ms_buf_init(&x->req, &q->s->alloc, 0);
    ms_buf_init(&x->raw, &q->s->alloc, UPSTREAM_BODY_MAX);
    ms_buf_init(&x->pending, &q->s->alloc, 0);
    gw_sse_init(&x->sse, &q->s->alloc, 1u << 20);
    return x;
}

static void record_phi(struct gw_req *q, struct xfer *x)
{
    size_t counts[GW_PHI_SLOTS] = {0}, n = 0;
    gw__scrub_counts(x->sc, counts, &n);
    for (size_t i = 0; i < n; i++)
        q->phi[i] = counts[i];
    gw__metrics_phi(&q->s->metrics, counts, n);
}

void gw__upstream_chat(struct gw_req *q, json_t *root, const gw_chat_info *ci, struct gw_resp *r)
{
    ms_err err = {0};
    char param[64] = "";
    struct xfer *x = xfer_new(q, ci);
    q->action = "upstream.completion";
    if (x == NULL) {
        gw__resp_rc(q, r, MS_E_NOMEM, NULL, NULL);
        return;
    }
    if (ci->stream && q->s->audit != NULL && !gw__audit_healthy(q->s->audit)) {
        /* a stream's record comes after its content: with a failing log, refuse it up front */
        gw__resp_error(q, r, 503, "server_error", "audit_unavailable", NULL,
                       "the audit log cannot be written; retry later");
        xfer_free(x);
        return;
    }
    ms_rc rc =
        gw__scrub_new(q->s->have_site_key ? q->s->site_key : NULL, q->s->site, &q->s->alloc,
                      &x->sc, &err);
    if (rc == MS_OK)
        rc = scrub_request(x->sc, root, q->s->cfg.upstream_drop_unknown, &q->s->alloc,
                           &x->names, &x->req, param, &err);
    if (rc == MS_OK && x->reidentify && ci->stream)
        rc = gw__reid_new(x->sc, &x->reid, &err);
    if (rc != MS_OK) { /* fail closed: nothing was sent */
        if ((rc == MS_E_FORMAT || rc == MS_E_UNSUPPORTED) && param[0])
            gw__resp_error(q, r, 400, "invalid_request_error",
                           rc == MS_E_UNSUPPORTED ? "unsupported_value" : NULL, param, err.msg);
        else
            gw__resp_rc(q, r, rc, &err, param[0] ? param : NULL);
        q->outcome = "blocked";
        xfer_free(x);
        return;
    }
    record_phi(q, x);
    if (xfer_start(x, &err) != MS_OK) {
        gw__resp_rc(q, r, err.code, &err, NULL);
        xfer_free(x);
        return;
    }
    xfer_pump(x, ci->stream ? stop_headers : stop_never);
    q->t_upstream_us = gw__now_us() - x->t0;
    if (x->status != 200 || (x->result != CURLE_OK && !x->running)) {
        xfer_pump(x, stop_never);
        upstream_error(q, x, r);
        xfer_free(x);
        return;
    }
    if (!ci->stream) {
        answer_plain(q, x, r);
        xfer_free(x);
        return;
    }
    r->stream =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, x, stream_free);
    if (r->stream == NULL) {
        xfer_free(x);
        gw__resp_rc(q, r, MS_E_NOMEM, NULL, NULL);
        return;
    }
    r->content_type = "text/event-stream";
}

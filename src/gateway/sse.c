/*
 * Upstream server-sent events (WHATWG SSE as spoken by OpenAI-compatible servers) → normalised
 * chat.completion.chunk events. Fixes the quirks that break the official SDKs: vLLM's
 * `"choices": null` (becomes []), llama.cpp's non-standard `error:` field (becomes a
 * {"error":...} data event the SDKs raise on), CRLF line ends, comments and unknown fields.
 * Trusts: nothing from the upstream; lines are bounded, payloads must be JSON objects.
 * Owns: its line and event buffers (wiped on free: chunks carry surrogates, maybe PHI).
 */
#define _GNU_SOURCE
#include <string.h>

#include <jansson.h>

#include "internal.h"

void gw_sse_init(gw_sse *s, ms_alloc *alloc, size_t max_line)
{
    gw__json_init();
    memset(s, 0, sizeof *s);
    ms_buf_init(&s->line, alloc, max_line ? max_line : (1u << 20));
    ms_buf_init(&s->data, alloc, max_line ? max_line : (1u << 20));
}

void gw_sse_free(gw_sse *s)
{
    ms_buf_free(&s->line);
    ms_buf_free(&s->data);
}

typedef ms_rc (*emit_fn)(void *ud, const char *json, size_t len, ms_err *err);

static ms_rc emit_json(json_t *j, emit_fn emit, void *ud, ms_err *err)
{
    char *txt = json_dumps(j, JSON_COMPACT);
    if (txt == NULL)
        return ms_fail(err, MS_E_NOMEM, "sse: cannot serialise event");
    ms_rc rc = emit(ud, txt, strlen(txt), err);
    ms_memzero(txt, strlen(txt));
    gw__json_free(txt);
    return rc;
}

static ms_rc dispatch(gw_sse *s, emit_fn emit, void *ud, ms_err *err)
{
    json_error_t je;
    if (s->data.len == 0)
        return MS_OK;
    if (s->data.len == 6 && memcmp(s->data.p, "[DONE]", 6) == 0) {
        s->done = 1;
        ms_buf_reset(&s->data);
        return emit(ud, "[DONE]", 6, err);
    }
    json_t *j = json_loadb((const char *)s->data.p, s->data.len, JSON_REJECT_DUPLICATES, &je);
    ms_buf_reset(&s->data);
    if (!json_is_object(j)) {
        json_decref(j);
        return ms_fail(err, MS_E_FORMAT, "upstream sent a stream event that is not a JSON object");
    }
    json_t *ch = json_object_get(j, "choices");
    if (json_object_get(j, "error") == NULL && (ch == NULL || json_is_null(ch)))
        json_object_set_new(j, "choices", json_array()); /* vLLM usage chunk quirk */
    ms_rc rc = emit_json(j, emit, ud, err);
    json_decref(j);
    return rc;
}

/* The non-standard llama.cpp `error: {...}` field: wrap as {"error": ...}. */
static ms_rc error_field(const uint8_t *v, size_t n, emit_fn emit, void *ud, ms_err *err)
{
    json_error_t je;
    json_t *e = json_loadb((const char *)v, n, 0, &je);
    json_t *inner = json_is_object(e) ? json_object_get(e, "error") : NULL;
    json_t *obj = json_object();
    if (json_is_object(inner))
        json_object_set(obj, "error", inner);
    else if (json_is_object(e))
        json_object_set(obj, "error", e);
    else
        json_object_set_new(
            obj, "error",
            json_pack("{s:s,s:s}", "message", "upstream error", "type", "upstream_error"));
    json_decref(e);
    ms_rc rc = emit_json(obj, emit, ud, err);
    json_decref(obj);
    return rc;
}

static ms_rc field(gw_sse *s, const uint8_t *p, size_t n, emit_fn emit, void *ud, ms_err *err)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n == 0)
        return dispatch(s, emit, ud, err);
    if (p[0] == ':')
        return MS_OK; /* comment / keep-alive */
    const uint8_t *colon = memchr(p, ':', n);
    size_t nl = colon ? (size_t)(colon - p) : n;
    const uint8_t *v = colon ? colon + 1 : p + n;
    size_t vl = colon ? n - nl - 1 : 0;
    if (vl > 0 && *v == ' ') {
        v++;
        vl--;
    }
    if (nl == 4 && memcmp(p, "data", 4) == 0) {
        if (s->data.len > 0 && ms_buf_append_byte(&s->data, '\n', err) != MS_OK)
            return MS_E_LIMIT;
        return ms_buf_append(&s->data, v, vl, err);
    }
    if (nl == 5 && memcmp(p, "error", 5) == 0)
        return error_field(v, vl, emit, ud, err);
    return MS_OK; /* event:, id:, retry: and unknown fields are dropped */
}

ms_rc gw_sse_feed(gw_sse *s, const uint8_t *p, size_t n, emit_fn emit, void *ud, ms_err *err)
{
    while (n > 0) {
        const uint8_t *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (ms_buf_append(&s->line, p, take, err) != MS_OK)
            return ms_fail(err, MS_E_LIMIT, "upstream stream line too long");
        p += take;
        n -= take;
        if (nl == NULL)
            break;
        p++;
        n--;
        ms_rc rc = field(s, s->line.p, s->line.len, emit, ud, err);
        ms_buf_reset(&s->line);
        if (rc != MS_OK)
            return rc;
    }
    return MS_OK;
}

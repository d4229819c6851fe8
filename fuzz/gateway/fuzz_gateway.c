/*
 * libFuzzer target for the gateway's parsers of network input: the first byte selects the parser
 * (0 chat request JSON, then, when it validates, the upstream request schema in both
 * unknown-field modes and the answer schema; 1 multipart/related STOW-RS body, 2 upstream SSE
 * stream), or the
 * environment variable GW_FUZZ_ONLY=json|multipart|sse pins one parser (for separate timed runs)
 * and the whole input goes to it. Invariants: no crash, no leak, every error has a message, parts
 * are bytes of the body and the incremental parser (gw_mp) fed in pieces of 1-7 bytes gives the
 * same parts and result as the whole-body parse, a schema error's param is a path of known field names and indexes only
 * (no client text), every string the schema passes through its text function comes back marked. Trusts: nothing. Owns: what it allocates, freed before returning.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/internal.h"
#include "medseal/gateway.h"

static int fuzz_only = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *m = getenv("GW_FUZZ_ONLY");
    (void)argc, (void)argv;
    if (m != NULL)
        fuzz_only = strcmp(m, "json") == 0 ? 0 : strcmp(m, "multipart") == 0 ? 1 : 2;
    return 0;
}

struct span {
    const uint8_t *lo;
    size_t len;
    size_t parts;
    uint64_t sum; /* over the parts' bytes and content types, in order */
};

static ms_rc check_part(void *ud, const gw_part *p, ms_err *err)
{
    struct span *b = ud;
    (void)err;
    /* the parser hands over copies: each must be bytes of the body */
    if (p->data.len > b->len || (p->data.len > 0 && memmem(b->lo, b->len, p->data.p,
                                                           p->data.len) == NULL))
        abort(); /* a part that is not in the body: a parser bug */
    if (p->content_type.len > 0 &&
        memmem(b->lo, b->len, p->content_type.p, p->content_type.len) == NULL)
        abort();
    b->parts++;
    for (size_t i = 0; i < p->data.len; i++)
        b->sum = b->sum * 31 + p->data.p[i];
    for (size_t i = 0; i < p->content_type.len; i++)
        b->sum = b->sum * 37 + p->content_type.p[i];
    b->sum = b->sum * 41 + 1;
    return MS_OK;
}

static ms_rc check_event(void *ud, const char *json, size_t len, ms_err *err)
{
    (void)ud, (void)err;
    if (strlen(json) != len)
        abort();
    return MS_OK;
}

/* The text function for the schema: every text becomes "<T>" (or fails, to exercise the error
 * paths, when it starts with "!fail"). */
static ms_rc mark_text(void *ud, const char *s, size_t n, ms_buf *out, ms_err *err)
{
    (void)ud;
    if (n >= 5 && memcmp(s, "!fail", 5) == 0)
        return ms_fail(err, MS_E_NOMEM, "injected");
    return ms_buf_append_str(out, "<T>", err);
}

static void schema(const uint8_t *d, size_t n, int drop)
{
    gw_chat_info ci;
    void *root = NULL;
    json_t *names = NULL;
    char param[64];
    ms_err err = {0};
    if (gw_chat_parse(d, n, &ci, &root, NULL) != MS_OK)
        return;
    ms_rc rc = gw__schema_request(root, drop, mark_text, NULL, NULL, &names, param, &err);
    if (rc != MS_OK) {
        if (err.msg[0] == '\0')
            abort();
        for (const char *p = param; *p; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("_.[]", *p)))
                abort(); /* client text in param */
        }
    } else {
        /* an upstream answer shaped from the scrubbed request, mapped back */
        json_t *ans = json_pack("{s:[{s:O}]}", "choices", "message",
                                json_array_get(json_object_get(root, "messages"), 0));
        ms_err e2 = {0};
        if (ans != NULL &&
            gw__schema_answer(ans, mark_text, NULL, names, NULL, &e2) != MS_OK &&
            e2.msg[0] == '\0')
            abort();
        json_decref(ans);
    }
    json_decref(names);
    json_decref(root);
}

static void one(int which, const uint8_t *d, size_t n)
{
    ms_err err = {0};
    ms_rc rc;
    if (which == 0) {
        gw_chat_info ci;
        void *root = NULL;
        rc = gw_chat_parse(d, n, &ci, &root, &err);
        if (rc == MS_OK) {
            json_decref(root);
            schema(d, n, 0);
            schema(d, n, 1);
        }
    } else if (which == 1) {
        struct span b = {d, n, 0, 0}, c = {d, n, 0, 0};
        rc = gw_multipart_parse(d, n, "b0undary", check_part, &b, &err);
        /* the incremental parser fed in small pieces agrees with the whole-body parse */
        gw_mp m;
        ms_err e2 = {0};
        size_t step = n ? (size_t)d[0] % 7 + 1 : 1;
        ms_rc rc2 = MS_OK;
        gw_mp_init(&m, NULL, "b0undary", 0, check_part, &c);
        for (size_t i = 0; i < n && rc2 == MS_OK; i += step)
            rc2 = gw_mp_feed(&m, d + i, n - i < step ? n - i : step, &e2);
        if (rc2 == MS_OK)
            rc2 = gw_mp_finish(&m, &e2);
        gw_mp_free(&m);
        if (rc2 != rc || (rc == MS_OK && (c.parts != b.parts || c.sum != b.sum)))
            abort();
    } else {
        gw_sse s;
        gw_sse_init(&s, NULL, 4096);
        rc = gw_sse_feed(&s, d, n, check_event, NULL, &err);
        gw_sse_free(&s);
    }
    if (rc != MS_OK && err.msg[0] == '\0')
        abort(); /* every error carries a message */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw__json_init();
    if (fuzz_only >= 0) {
        one(fuzz_only, data, size);
        return 0;
    }
    if (size == 0)
        return 0;
    one(data[0] % 3, data + 1, size - 1);
    return 0;
}

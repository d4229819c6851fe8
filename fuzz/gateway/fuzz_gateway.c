/*
 * libFuzzer target for the gateway's parsers of network input: the first byte selects the parser
 * (0 chat request JSON, 1 multipart/related STOW-RS body, 2 upstream SSE stream), or the
 * environment variable GW_FUZZ_ONLY=json|multipart|sse pins one parser (for separate timed runs)
 * and the whole input goes to it. Invariants: no crash, no leak, every error has a message, parts
 * lie inside the body. Trusts: nothing. Owns: what it allocates, freed before returning.
 */
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
};

static ms_rc check_part(void *ud, const gw_part *p, ms_err *err)
{
    const struct span *b = ud;
    (void)err;
    if (p->data.p < b->lo || p->data.p + p->data.len > b->lo + b->len)
        abort(); /* a part outside the body: a parser bug */
    if (p->content_type.len > 0 &&
        (p->content_type.p < b->lo || p->content_type.p + p->content_type.len > b->lo + b->len))
        abort();
    return MS_OK;
}

static ms_rc check_event(void *ud, const char *json, size_t len, ms_err *err)
{
    (void)ud, (void)err;
    if (strlen(json) != len)
        abort();
    return MS_OK;
}

static void one(int which, const uint8_t *d, size_t n)
{
    ms_err err = {0};
    ms_rc rc;
    if (which == 0) {
        gw_chat_info ci;
        void *root = NULL;
        rc = gw_chat_parse(d, n, &ci, &root, &err);
        if (rc == MS_OK)
            json_decref(root);
    } else if (which == 1) {
        struct span b = {d, n};
        rc = gw_multipart_parse(d, n, "b0undary", check_part, &b, &err);
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

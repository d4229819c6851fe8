/*
 * Re-identification: replaces surrogates (from the context's map) by their real values in a
 * model's answer, one-shot or streamed in chunks. Matching is case-insensitive and respects
 * word boundaries; a surrogate split across chunks is still found because the stream keeps a
 * look-behind of at most the longest surrogate's length.
 * Trusts: nothing in the answer. Borrows the context (its map must not change while a stream is
 * open: the index is built when the stream starts). Owns: the stream's index and pending bytes
 * (wiped on free).
 */
#include <string.h>

#include "internal.h"

struct phi_reid {
    const phi_ctx *ctx;
    uint32_t *order;    /* map entries by folded first byte, longest first */
    size_t start[257];  /* bucket b is order[start[b] .. start[b+1]) */
    ms_buf pend;        /* bytes not yet emitted (<= longest surrogate) */
    unsigned char prev; /* the last byte emitted (word boundary) */
};

static unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static int wordch(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c >= 0x80;
}

static int ent_cmp(const void *a, const void *b, void *ents)
{
    const struct mapent *e = ents;
    const struct mapent *x = &e[*(const uint32_t *)a], *y = &e[*(const uint32_t *)b];
    unsigned char fx = fold((unsigned char)x->sur[0]), fy = fold((unsigned char)y->sur[0]);
    if (fx != fy)
        return fx < fy ? -1 : 1;
    if (x->sn != y->sn)
        return x->sn > y->sn ? -1 : 1;
    return 0;
}

/* Insertion sort keeps this reentrant (no global comparator state); maps are small. */
static void sort_order(uint32_t *o, size_t n, const struct mapent *ents)
{
    for (size_t i = 1; i < n; i++) {
        uint32_t v = o[i];
        size_t j = i;
        while (j > 0 && ent_cmp(&o[j - 1], &v, (void *)ents) > 0) {
            o[j] = o[j - 1];
            j--;
        }
        o[j] = v;
    }
}

static ms_rc build_index(struct phi_reid *r, ms_err *err)
{
    const struct map *m = &r->ctx->map;
    r->order = ms_calloc(r->ctx->alloc, m->n ? m->n : 1, sizeof *r->order);
    if (r->order == NULL)
        return ms_fail(err, MS_E_NOMEM, "phi: out of memory (re-identification index)");
    for (size_t k = 0; k < m->n; k++)
        r->order[k] = (uint32_t)k;
    sort_order(r->order, m->n, m->ents);
    size_t k = 0;
    for (size_t b = 0; b < 256; b++) {
        r->start[b] = k;
        while (k < m->n && fold((unsigned char)m->ents[r->order[k]].sur[0]) == b)
            k++;
    }
    r->start[256] = k;
    return MS_OK;
}

ms_rc phi_reid_new(const phi_ctx *ctx, phi_reid **out, ms_err *err)
{
    if (ctx == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "phi_reid_new: NULL argument");
    phi_reid *r = ms_malloc(ctx->alloc, sizeof *r);
    if (r == NULL)
        return ms_fail(err, MS_E_NOMEM, "phi: out of memory (re-identification)");
    memset(r, 0, sizeof *r);
    r->ctx = ctx;
    r->prev = ' ';
    ms_buf_init(&r->pend, ctx->alloc, 0);
    if (build_index(r, err) != MS_OK) {
        phi_reid_free(r);
        return MS_E_NOMEM;
    }
    *out = r;
    return MS_OK;
}

void phi_reid_free(phi_reid *r)
{
    if (r == NULL)
        return;
    ms_alloc *a = r->ctx->alloc;
    ms_buf_free(&r->pend);
    ms_free(a, r->order);
    ms_memzero(r, sizeof *r);
    ms_free(a, r);
}

enum { NONE, MATCH, NEED };

static int try_match(const phi_reid *r, const uint8_t *p, size_t left, int final,
                     const struct mapent **hit)
{
    const struct map *m = &r->ctx->map;
    unsigned char b = fold(p[0]);
    for (size_t k = r->start[b]; k < r->start[b + 1]; k++) {
        const struct mapent *e = &m->ents[r->order[k]];
        const unsigned char *s = (const unsigned char *)e->sur;
        if (wordch(s[0]) && wordch(r->prev))
            continue;
        size_t cmp = e->sn < left ? e->sn : left, q = 0;
        while (q < cmp && fold(p[q]) == fold(s[q]))
            q++;
        if (q < cmp)
            continue;
        if (cmp < e->sn) { /* a prefix of this surrogate runs to the end of what we have */
            if (!final)
                return NEED;
            continue;
        }
        if (e->sn == left && !final && wordch(s[e->sn - 1]))
            return NEED; /* the next byte decides the word boundary */
        if (e->sn < left && wordch(p[e->sn]) && wordch(s[e->sn - 1]))
            continue;
        *hit = e;
        return MATCH;
    }
    return NONE;
}

/* Emits what can be decided in pend; keeps the undecided tail. */
static ms_rc process(phi_reid *r, int final, ms_buf *out, ms_err *err)
{
    const uint8_t *p = r->pend.p;
    size_t n = r->pend.len, i = 0, run = 0;
    if (n == 0 || p == NULL)
        return MS_OK;
    while (i < n) {
        const struct mapent *e = NULL;
        int k = try_match(r, p + i, n - i, final, &e);
        if (k == NONE) {
            r->prev = p[i];
            i++;
            continue;
        }
        if (ms_buf_append(out, p + run, i - run, err) != MS_OK)
            return MS_E_NOMEM;
        run = i;
        if (k == NEED)
            break;
        if (ms_buf_append(out, e->real, e->rn, err) != MS_OK)
            return MS_E_NOMEM;
        r->prev = (unsigned char)e->sur[e->sn - 1];
        i += e->sn;
        run = i;
    }
    if (i >= n) {
        if (ms_buf_append(out, p + run, n - run, err) != MS_OK)
            return MS_E_NOMEM;
        run = n;
    }
    memmove(r->pend.p, r->pend.p + run, n - run);
    ms_memzero(r->pend.p + (n - run), run);
    r->pend.len = n - run;
    return MS_OK;
}

ms_rc phi_reid_feed(phi_reid *r, const char *chunk, size_t len, ms_buf *out, ms_err *err)
{
    if (r == NULL || out == NULL || (chunk == NULL && len > 0))
        return ms_fail(err, MS_E_INVAL, "phi_reid_feed: NULL argument");
    if (len > 0 && ms_buf_append(&r->pend, chunk, len, err) != MS_OK)
        return MS_E_NOMEM;
    return process(r, 0, out, err);
}

ms_rc phi_reid_flush(phi_reid *r, ms_buf *out, ms_err *err)
{
    if (r == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "phi_reid_flush: NULL argument");
    ms_rc rc = process(r, 1, out, err);
    r->prev = ' ';
    return rc;
}

ms_rc phi_reidentify(const phi_ctx *ctx, const char *text, size_t len, ms_buf *out, ms_err *err)
{
    phi_reid *r = NULL;
    ms_rc rc = phi_reid_new(ctx, &r, err);
    if (rc != MS_OK)
        return rc;
    rc = phi_reid_feed(r, text, len, out, err);
    if (rc == MS_OK)
        rc = phi_reid_flush(r, out, err);
    phi_reid_free(r);
    return rc;
}

/*
 * Allocation with accounting, a ceiling, failure injection and wipe-on-free; secure buffers.
 * Every block carries a 16-byte header holding its size so it can be wiped on release. The
 * backend is the heap unless the ms_alloc names another (the locked-page arena for PHI).
 * Trusts: callers pass blocks back to the allocator they came from.
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medseal/core.h"

#define HDR 16u /* keeps max_align_t alignment of the payload */

void ms_memzero(void *p, size_t n)
{
    if (p == NULL || n == 0)
        return;
    explicit_bzero(p, n); /* glibc >= 2.25: not elided by the compiler */
}

int ms_ct_equal(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= (uint8_t)(x[i] ^ y[i]);
    return acc == 0; /* CT: only n leaks */
}

int ms_size_add(size_t a, size_t b, size_t *out)
{
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

int ms_size_mul(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

static int charge(ms_alloc *a, size_t n)
{
    long k = atomic_fetch_add(&a->count, 1) + 1;
    if (a->fail_at > 0 && k == a->fail_at)
        return -1;
    size_t now = atomic_fetch_add(&a->in_use, n) + n;
    if (a->limit != 0 && now > a->limit) {
        atomic_fetch_sub(&a->in_use, n);
        return -1;
    }
    size_t peak = atomic_load(&a->peak);
    while (now > peak && !atomic_compare_exchange_weak(&a->peak, &peak, now))
        ;
    return 0;
}

void *ms_malloc(ms_alloc *a, size_t n)
{
    size_t total;
    if (ms_size_add(n, HDR, &total))
        return NULL;
    if (a != NULL && charge(a, n))
        return NULL;
    uint8_t *blk;
    if (a != NULL && a->backend_alloc != NULL)
        blk = a->backend_alloc(a->ud, total);
    else
        blk = malloc(total);
    if (blk == NULL) {
        if (a != NULL)
            atomic_fetch_sub(&a->in_use, n);
        return NULL;
    }
    memset(blk, 0, total);
    memcpy(blk, &n, sizeof n);
    return blk + HDR;
}

void *ms_calloc(ms_alloc *a, size_t nmemb, size_t size)
{
    size_t n;
    if (ms_size_mul(nmemb, size, &n))
        return NULL;
    return ms_malloc(a, n);
}

size_t ms_alloc_size(const void *p)
{
    size_t n;
    if (p == NULL)
        return 0;
    memcpy(&n, (const uint8_t *)p - HDR, sizeof n);
    return n;
}

void ms_free(ms_alloc *a, void *p)
{
    if (p == NULL)
        return;
    uint8_t *blk = (uint8_t *)p - HDR;
    size_t n = ms_alloc_size(p);
    ms_memzero(blk, n + HDR);
    if (a != NULL)
        atomic_fetch_sub(&a->in_use, n);
    if (a != NULL && a->backend_free != NULL)
        a->backend_free(a->ud, blk, n + HDR);
    else
        free(blk);
}

void *ms_realloc(ms_alloc *a, void *p, size_t n)
{
    void *q = ms_malloc(a, n);
    if (q == NULL)
        return NULL;
    if (p != NULL) {
        size_t old = ms_alloc_size(p);
        memcpy(q, p, old < n ? old : n);
        ms_free(a, p);
    }
    return q;
}

char *ms_strndup(ms_alloc *a, const char *s, size_t n)
{
    size_t total;
    if (ms_size_add(n, 1, &total))
        return NULL;
    char *d = ms_malloc(a, total);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *ms_strdup(ms_alloc *a, const char *s)
{
    return ms_strndup(a, s, strlen(s));
}

/* ---- ms_buf ---- */

void ms_buf_init(ms_buf *b, ms_alloc *alloc, size_t max)
{
    b->alloc = alloc;
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

ms_rc ms_buf_reserve(ms_buf *b, size_t extra, ms_err *err)
{
    size_t need;
    if (ms_size_add(b->len, extra, &need) || ms_size_add(need, 1, &need))
        return ms_fail(err, MS_E_LIMIT, "buffer size overflow");
    if (b->max != 0 && need - 1 > b->max)
        return ms_fail(err, MS_E_LIMIT, "buffer over its limit of %zu bytes", b->max);
    if (need <= b->cap)
        return MS_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (ms_size_mul(cap, 2, &cap))
            return ms_fail(err, MS_E_LIMIT, "buffer size overflow");
    }
    uint8_t *q = ms_realloc(b->alloc, b->p, cap); /* copies, wipes and frees the old block */
    if (q == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory growing a buffer to %zu bytes", cap);
    b->p = q;
    b->cap = cap;
    b->p[b->len] = 0;
    return MS_OK;
}

ms_rc ms_buf_append(ms_buf *b, const void *data, size_t n, ms_err *err)
{
    ms_rc rc = ms_buf_reserve(b, n, err);
    if (rc != MS_OK)
        return rc;
    if (n > 0)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
    return MS_OK;
}

ms_rc ms_buf_append_str(ms_buf *b, const char *s, ms_err *err)
{
    return ms_buf_append(b, s, strlen(s), err);
}

ms_rc ms_buf_append_byte(ms_buf *b, uint8_t c, ms_err *err)
{
    return ms_buf_append(b, &c, 1, err);
}

ms_rc ms_buf_printf(ms_buf *b, ms_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return ms_fail(err, MS_E_INVAL, "bad format");
    ms_rc rc = ms_buf_reserve(b, (size_t)n, err);
    if (rc != MS_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return MS_OK;
}

void ms_buf_reset(ms_buf *b)
{
    if (b->p != NULL) {
        ms_memzero(b->p, b->cap);
    }
    b->len = 0;
}

void ms_buf_free(ms_buf *b)
{
    ms_free(b->alloc, b->p); /* wipes */
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

uint8_t *ms_buf_steal(ms_buf *b, size_t *len_out)
{
    uint8_t *p = b->p;
    if (len_out != NULL)
        *len_out = b->len;
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

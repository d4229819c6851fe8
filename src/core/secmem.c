/*
 * Locked memory for PHI: an ms_alloc backend over one region of anonymous pages that is mlock'ed
 * (never swapped), excluded from core dumps (MADV_DONTDUMP) and not inherited by fork children
 * (MADV_WIPEONFORK). The region's size is the ceiling: a request that does not fit fails, so a
 * large upload is refused instead of spilling to swap. The lock is taken with
 * mlock2(MLOCK_ONFAULT): the whole size is charged against RLIMIT_MEMLOCK at once (so a region that
 * cannot be locked is still refused at creation), but each page is faulted in, and locked, only
 * when first used, so creating a 4 GiB region costs microseconds, not seconds of page faults.
 * Blocks are carved first-fit from an address-ordered free list and coalesced on release; ms_free
 * has already wiped them. Only the part ever handed out (the high-water mark) is wiped at the end.
 * Trusts: callers hand back only blocks it gave out. Thread safe (one mutex per region).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "medseal/secmem.h"

#define ALIGN 64u

struct fblk { /* a free block, stored in the free memory itself */
    size_t size;
    struct fblk *next;
};

struct ms_secmem {
    uint8_t *base;
    size_t size;
    int locked;
    pthread_mutex_t mu;
    struct fblk *free; /* address order */
    size_t used;
    size_t hwm; /* bytes from base ever written: blocks given out and free-block headers */
};

static size_t round_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

static void *region_alloc(void *ud, size_t n)
{
    struct ms_secmem *m = ud;
    if (n > m->size)
        return NULL;
    size_t want = round_up(n + ALIGN, ALIGN); /* ALIGN bytes of header hold the block size */
    void *out = NULL;
    pthread_mutex_lock(&m->mu);
    for (struct fblk **pp = &m->free; *pp != NULL; pp = &(*pp)->next) {
        struct fblk *b = *pp;
        if (b->size < want)
            continue;
        if (b->size - want >= 2 * ALIGN) { /* split: the tail stays free */
            struct fblk *rest = (struct fblk *)((uint8_t *)b + want);
            rest->size = b->size - want;
            rest->next = b->next;
            *pp = rest;
        } else {
            want = b->size;
            *pp = b->next;
        }
        memcpy(b, &want, sizeof want);
        m->used += want;
        size_t end = (size_t)((uint8_t *)b - m->base) + want + sizeof(struct fblk);
        if (end > m->hwm)
            m->hwm = end < m->size ? end : m->size;
        out = (uint8_t *)b + ALIGN;
        break;
    }
    pthread_mutex_unlock(&m->mu);
    return out;
}

static void region_free(void *ud, void *p, size_t n)
{
    struct ms_secmem *m = ud;
    (void)n;
    if (p == NULL)
        return;
    struct fblk *b = (struct fblk *)((uint8_t *)p - ALIGN);
    size_t size;
    memcpy(&size, b, sizeof size);
    explicit_bzero(b, size); /* the whole block, header included */
    b->size = size;
    pthread_mutex_lock(&m->mu);
    m->used -= size;
    struct fblk *prev = NULL, *cur = m->free;
    while (cur != NULL && cur < b) {
        prev = cur;
        cur = cur->next;
    }
    b->next = cur;
    if (cur != NULL && (uint8_t *)b + b->size == (uint8_t *)cur) { /* merge with next */
        b->size += cur->size;
        b->next = cur->next;
        explicit_bzero(cur, sizeof *cur);
    }
    if (prev != NULL && (uint8_t *)prev + prev->size == (uint8_t *)b) { /* merge with previous */
        prev->size += b->size;
        prev->next = b->next;
        explicit_bzero(b, sizeof *b);
    } else if (prev != NULL) {
        prev->next = b;
    } else {
        m->free = b;
    }
    pthread_mutex_unlock(&m->mu);
}

/* Locks [p, p+size) as pages are first touched; plain mlock (which faults everything in) only
 * where the kernel lacks MLOCK_ONFAULT (before Linux 4.4). Returns 0 or -1 with errno. */
static int lock_onfault(void *p, size_t size)
{
#ifdef MLOCK_ONFAULT
    if (mlock2(p, size, MLOCK_ONFAULT) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
#endif
    return mlock(p, size);
}

ms_rc ms_secmem_new(size_t size, int require_lock, ms_secmem **out, ms_alloc *alloc, ms_err *err)
{
    long page = sysconf(_SC_PAGESIZE);
    if (size < 4096 || page <= 0)
        return ms_fail(err, MS_E_INVAL, "locked region of %zu bytes is too small", size);
    size = round_up(size, (size_t)page);
    struct ms_secmem *m = calloc(1, sizeof *m);
    if (m == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        free(m);
        return ms_fail(err, MS_E_NOMEM, "mmap of %zu bytes: %s", size, strerror(errno));
    }
    (void)madvise(p, size, MADV_DONTDUMP);
#ifdef MADV_WIPEONFORK
    (void)madvise(p, size, MADV_WIPEONFORK);
#endif
    m->locked = lock_onfault(p, size) == 0;
    if (!m->locked && require_lock) {
        int e = errno;
        munmap(p, size);
        free(m);
        return ms_fail(err, MS_E_NOMEM,
                       "cannot lock %zu bytes of memory (%s): raise RLIMIT_MEMLOCK or allow "
                       "unlocked memory explicitly",
                       size, strerror(e));
    }
    m->base = p;
    m->size = size;
    pthread_mutex_init(&m->mu, NULL);
    m->free = (struct fblk *)m->base;
    m->free->size = size;
    m->free->next = NULL;
    m->hwm = sizeof(struct fblk);
    memset(alloc, 0, sizeof *alloc);
    alloc->backend_alloc = region_alloc;
    alloc->backend_free = region_free;
    alloc->ud = m;
    *out = m;
    return MS_OK;
}

int ms_secmem_locked(const ms_secmem *m)
{
    return m != NULL && m->locked;
}

int ms_secmem_owns(const ms_secmem *m, const void *p)
{
    uintptr_t a = (uintptr_t)p, b = m != NULL ? (uintptr_t)m->base : 0;
    return m != NULL && a >= b && a < b + m->size;
}

size_t ms_secmem_used(ms_secmem *m)
{
    pthread_mutex_lock(&m->mu);
    size_t u = m->used;
    pthread_mutex_unlock(&m->mu);
    return u;
}

void ms_secmem_free(ms_secmem *m)
{
    if (m == NULL)
        return;
    explicit_bzero(m->base, m->hwm); /* pages past it were never touched: still zero */
    if (m->locked)
        munlock(m->base, m->size);
    munmap(m->base, m->size);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

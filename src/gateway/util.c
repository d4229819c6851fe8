/*
 * Small gateway utilities: jansson's allocator switched to ms_malloc/ms_free, so every JSON value
 * (request messages, upstream answers) is wiped when freed; while a server with locked memory
 * runs, JSON values come from its locked region (gw__json_region); and a monotonic clock.
 * Trusts: nothing. Owns: nothing (the allocator switch is process-wide and done once; the region
 * table only points at regions their servers own).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "internal.h"
#include "medseal/secmem.h"

/* Locked regions of running servers (jansson's allocator has no context argument). New JSON
 * values come from the first one; a value is freed to the region that holds it, else the heap. */
#define JSON_REGIONS 8
static struct {
    ms_secmem *_Atomic m;
    ms_alloc *_Atomic a;
} regions[JSON_REGIONS];

static pthread_mutex_t regions_mu = PTHREAD_MUTEX_INITIALIZER;

/* Registration stores the allocator before the region (readers load the region first). */
void gw__json_region(ms_secmem *m, ms_alloc *a, int on)
{
    pthread_mutex_lock(&regions_mu);
    for (size_t i = 0; i < JSON_REGIONS; i++) {
        if (on && atomic_load(&regions[i].m) == NULL) {
            atomic_store(&regions[i].a, a);
            atomic_store(&regions[i].m, m);
            break;
        }
        if (!on && atomic_load(&regions[i].m) == m) {
            atomic_store(&regions[i].m, NULL);
            atomic_store(&regions[i].a, NULL);
            break;
        }
    }
    pthread_mutex_unlock(&regions_mu);
}

static void *json_alloc(size_t n)
{
    for (size_t i = 0; i < JSON_REGIONS; i++) {
        ms_alloc *a = atomic_load(&regions[i].m) != NULL ? atomic_load(&regions[i].a) : NULL;
        if (a != NULL)
            return ms_malloc(a, n); /* NULL at the ceiling: jansson reports out of memory */
    }
    return ms_malloc(NULL, n);
}

static void json_release(void *p)
{
    for (size_t i = 0; p != NULL && i < JSON_REGIONS; i++) {
        ms_secmem *m = atomic_load(&regions[i].m);
        if (m != NULL && ms_secmem_owns(m, p)) {
            ms_free(atomic_load(&regions[i].a), p);
            return;
        }
    }
    ms_free(NULL, p);
}

static void json_switch(void)
{
    json_set_alloc_funcs(json_alloc, json_release);
}

/* Process-wide and once: values allocated before the switch would be freed by the wrong
 * function, so the gateway calls this before it creates any JSON value. */
void gw__json_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, json_switch);
}

void gw__json_free(void *p)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    f(p);
}

uint64_t gw__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

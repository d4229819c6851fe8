/*
 * Small gateway utilities: jansson's allocator switched to ms_malloc/ms_free, so every JSON value
 * (request messages, upstream answers) is wiped when freed; and a monotonic clock.
 * Trusts: nothing. Owns: nothing (the allocator switch is process-wide and done once).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>

#include "internal.h"

static void *json_alloc(size_t n)
{
    return ms_malloc(NULL, n);
}

static void json_release(void *p)
{
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

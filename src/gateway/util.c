/*
 * Small gateway utilities: jansson's allocator switched to ms_malloc/ms_free, so every JSON value
 * (request messages, upstream answers) is wiped when freed; while a server with locked memory
 * runs, JSON values come from its locked region (gw__json_region); a JSON string writer for
 * long texts; random hex ids; and a monotonic clock.
 * Trusts: nothing. Owns: nothing (the allocator switch is process-wide and done once; the region
 * table only points at regions their servers own).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
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

void gw__random_id(char *out, const char *prefix, size_t plen)
{
    static const char hx[] = "0123456789abcdef";
    uint8_t rnd[12];
    ms_random(rnd, sizeof rnd, NULL);
    memcpy(out, prefix, plen);
    for (size_t i = 0; i < sizeof rnd; i++) {
        out[plen + 2 * i] = hx[rnd[i] >> 4];
        out[plen + 2 * i + 1] = hx[rnd[i] & 15u];
    }
    out[plen + 2 * sizeof rnd] = '\0';
}

uint64_t gw__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 if invalid: the rules of jansson's
 * utf8_check_string (no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const uint8_t *p, size_t left)
{
    uint8_t c = p[0];
    size_t n = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    if (n <= 1)
        return n;
    if (n > left)
        return 0;
    uint32_t v = c & (0x7Fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3Fu);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n == 3 && v < 0x800) ||
        (n == 4 && v < 0x10000))
        return 0;
    return n;
}

ms_rc gw__json_str_append(ms_buf *b, const uint8_t *s, size_t n, ms_err *err)
{
    size_t run = 0, i = 0;
    ms_rc rc = MS_OK;
    while (rc == MS_OK && i < n) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_len(s + i, n - i);
            if (k == 0)
                return ms_fail(err, MS_E_FORMAT, "answer text is not UTF-8");
            i += k;
            continue;
        }
        /* the escapes jansson writes with JSON_COMPACT, so either writer gives the same bytes:
         * the two-character ones where JSON has them, else \u00XX */
        static const char two[] = "\"\"\\\\\bb\ff\nn\rr\tt";
        const char *m = memchr(two, c, sizeof two - 1);
        char esc[8];
        if (m != NULL && (m - two) % 2 == 0)
            snprintf(esc, sizeof esc, "\\%c", m[1]);
        else
            snprintf(esc, sizeof esc, "\\u%04X", (unsigned)c);
        rc = ms_buf_append(b, s + run, i - run, err);
        if (rc == MS_OK)
            rc = ms_buf_append_str(b, esc, err);
        run = ++i;
    }
    return rc == MS_OK ? ms_buf_append(b, s + run, n - run, err) : rc;
}

/*
 * Per-key rate limiting: a token bucket per API key id (capacity = one minute's allowance,
 * refilled continuously), in a fixed open-addressing table so memory stays bounded however many
 * keys exist (a full table evicts the least recently used slot of the probe window).
 * Trusts: key ids come from authenticated keys only. Owns: the table (guarded by a mutex).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define SLOTS 4096
#define PROBE 8

struct slot {
    char id[GW_KEY_ID_LEN + 1];
    double tokens;
    uint64_t last_us;
};

struct gw_ratelimit {
    pthread_mutex_t mu;
    struct slot slots[SLOTS];
};

ms_rc gw__rl_new(struct gw_ratelimit **out, ms_err *err)
{
    struct gw_ratelimit *rl = ms_malloc(NULL, sizeof *rl);
    if (rl == NULL)
        return ms_fail(err, MS_E_NOMEM, "rate limiter: out of memory");
    pthread_mutex_init(&rl->mu, NULL);
    *out = rl;
    return MS_OK;
}

void gw__rl_free(struct gw_ratelimit *rl)
{
    if (rl == NULL)
        return;
    pthread_mutex_destroy(&rl->mu);
    ms_free(NULL, rl);
}

static uint32_t hash_id(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static struct slot *find(struct gw_ratelimit *rl, const char *id, unsigned rpm, uint64_t now)
{
    uint32_t h = hash_id(id);
    struct slot *oldest = NULL;
    for (unsigned i = 0; i < PROBE; i++) {
        struct slot *s = &rl->slots[(h + i) % SLOTS];
        if (strcmp(s->id, id) == 0)
            return s;
        if (oldest == NULL || s->last_us < oldest->last_us)
            oldest = s;
    }
    snprintf(oldest->id, sizeof oldest->id, "%s", id);
    oldest->tokens = rpm;
    oldest->last_us = now;
    return oldest;
}

unsigned gw__rl_take(struct gw_ratelimit *rl, const char *key_id, unsigned rpm, uint64_t now_us)
{
    unsigned wait = 0;
    if (rpm == 0)
        return 0;
    pthread_mutex_lock(&rl->mu);
    struct slot *s = find(rl, key_id, rpm, now_us);
    double per_us = rpm / 60e6;
    s->tokens += (double)(now_us - s->last_us) * per_us;
    if (s->tokens > rpm)
        s->tokens = rpm;
    s->last_us = now_us;
    if (s->tokens >= 1.0)
        s->tokens -= 1.0;
    else
        wait = (unsigned)((1.0 - s->tokens) / per_us / 1e6) + 1;
    pthread_mutex_unlock(&rl->mu);
    return wait;
}

/*
 * A per-worker memo of UID pseudonyms and of the last patient's pseudonym and date offset: a
 * series repeats its study, series and frame-of-reference UIDs and its patient in every file, and
 * each HMAC costs ~10 us. Direct-mapped, 128 slots, bound to one deid_ctx (cleared when used with
 * another). Entries hold identifiers, so the memory is wiped when replaced and on free.
 *
 * Trusts: nothing (lengths are bounded by MS_UID_MAX). Owns: its slots. Not thread-safe: one per
 * worker thread.
 */
#include <string.h>

#include "internal.h"

#define SLOTS  128
#define IN_MAX 64 /* UIDs are at most 64 characters (PS3.5 9.1) */

struct uid_slot {
    uint8_t used, len;
    char in[IN_MAX];
    char out[MS_UID_MAX];
};

struct deid_cache {
    const deid_ctx *ctx;
    struct uid_slot uid[SLOTS];
    int patient_used;
    size_t issuer_len, pid_len;
    char issuer[IN_MAX], pid[IN_MAX];
    char pseudonym[MS_PSEUDO_MAX];
    int offset;
};

ms_rc deid_cache_new(deid_cache **out, ms_err *err)
{
    if (out == NULL)
        return ms_fail(err, MS_E_INVAL, "deid_cache_new: NULL out");
    *out = ms_calloc(NULL, 1, sizeof **out);
    return *out != NULL ? MS_OK : ms_fail(err, MS_E_NOMEM, "deid_cache_new: out of memory");
}

void deid_cache_free(deid_cache *c)
{
    ms_free(NULL, c); /* wipes */
}

static void bind(deid_cache *c, const deid_ctx *ctx)
{
    if (c->ctx != ctx) {
        ms_memzero(c, sizeof *c);
        c->ctx = ctx;
    }
}

static size_t slot_of(const char *uid, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)uid[i]) * 16777619u;
    return h % SLOTS;
}

ms_rc deid__cached_uid(deid_cache *c, const deid_ctx *ctx, const char *uid, size_t n,
                       char out[MS_UID_MAX], ms_err *err)
{
    if (c == NULL || uid == NULL || n > IN_MAX)
        return ms_pseudo_uid(ctx->key, uid, n, out, err);
    bind(c, ctx);
    struct uid_slot *s = &c->uid[slot_of(uid, n)];
    if (s->used && s->len == n && memcmp(s->in, uid, n) == 0) {
        memcpy(out, s->out, MS_UID_MAX);
        return MS_OK;
    }
    ms_rc rc = ms_pseudo_uid(ctx->key, uid, n, out, err);
    if (rc == MS_OK) {
        ms_memzero(s, sizeof *s);
        s->used = 1;
        s->len = (uint8_t)n;
        memcpy(s->in, uid, n);
        memcpy(s->out, out, MS_UID_MAX);
    }
    return rc;
}

ms_rc deid__cached_patient(deid_cache *c, const deid_ctx *ctx, const char *issuer,
                           size_t issuer_len, const char *pid, size_t pid_len,
                           char out[MS_PSEUDO_MAX], int *offset, ms_err *err)
{
    if (issuer == NULL)
        issuer = "";
    if (pid == NULL)
        pid = "";
    int cacheable = c != NULL && issuer_len <= IN_MAX && pid_len <= IN_MAX;
    if (cacheable) {
        bind(c, ctx);
        if (c->patient_used && c->issuer_len == issuer_len && c->pid_len == pid_len &&
            memcmp(c->issuer, issuer, issuer_len) == 0 && memcmp(c->pid, pid, pid_len) == 0) {
            memcpy(out, c->pseudonym, MS_PSEUDO_MAX);
            *offset = c->offset;
            return MS_OK;
        }
    }
    ms_rc rc = ms_pseudo_patient(ctx->key, issuer, issuer_len, pid, pid_len, out, err);
    if (rc == MS_OK)
        rc = ms_pseudo_date_offset(ctx->key, issuer, issuer_len, pid, pid_len, offset, err);
    if (rc == MS_OK && cacheable) {
        c->patient_used = 1;
        c->issuer_len = issuer_len;
        c->pid_len = pid_len;
        memcpy(c->issuer, issuer, issuer_len);
        memcpy(c->pid, pid, pid_len);
        memcpy(c->pseudonym, out, MS_PSEUDO_MAX);
        c->offset = *offset;
    }
    return rc;
}

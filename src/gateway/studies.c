/*
 * The in-memory study store behind POST /v1/studies: DICOM instances uploaded with STOW-RS are
 * kept only in memory from the server's allocator, owned by the API key that uploaded them, for a
 * bounded time (study_ttl_s); then, or on DELETE, or at shutdown, every byte is wiped. Never on
 * disk. A study in use by a request is reference-counted and wiped when the last user is done.
 * Trusts: ids and owners are checked in constant time. Owns: every stored file.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define MAX_STUDIES 1024

struct study {
    char id[40];
    char owner[GW_KEY_ID_LEN + 1];
    uint64_t expires_us;
    struct gw_study_file *files;
    size_t n;
    size_t bytes;
    int refs;   /* requests using it */
    int doomed; /* expired or deleted while in use */
};

struct gw_studies {
    pthread_mutex_t mu;
    ms_alloc *alloc;
    size_t max_bytes, bytes;
    struct study *s[MAX_STUDIES];
};

ms_rc gw__studies_new(ms_alloc *alloc, size_t max_bytes, struct gw_studies **out, ms_err *err)
{
    struct gw_studies *st = ms_malloc(NULL, sizeof *st);
    if (st == NULL)
        return ms_fail(err, MS_E_NOMEM, "studies: out of memory");
    pthread_mutex_init(&st->mu, NULL);
    st->alloc = alloc;
    st->max_bytes = max_bytes;
    *out = st;
    return MS_OK;
}

static void files_free(ms_alloc *a, struct gw_study_file *f, size_t n)
{
    for (size_t i = 0; f != NULL && i < n; i++)
        ms_free(a, f[i].p);
    ms_free(a, f);
}

static void study_free(struct gw_studies *st, struct study *s)
{
    st->bytes -= s->bytes;
    files_free(st->alloc, s->files, s->n);
    ms_free(st->alloc, s);
}

void gw__studies_free(struct gw_studies *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < MAX_STUDIES; i++) {
        if (st->s[i] != NULL)
            study_free(st, st->s[i]);
    }
    pthread_mutex_destroy(&st->mu);
    ms_free(NULL, st);
}

ms_rc gw__studies_put(struct gw_studies *st, const char *owner, struct gw_study_file *files,
                      size_t n, uint64_t ttl_s, char id[40], ms_err *err)
{
    uint8_t rnd[16];
    size_t bytes = 0, slot = MAX_STUDIES;
    for (size_t i = 0; i < n; i++)
        bytes += files[i].len;
    struct study *s = ms_malloc(st->alloc, sizeof *s);
    if (s == NULL || ms_random(rnd, sizeof rnd, err) != MS_OK) {
        ms_free(st->alloc, s);
        files_free(st->alloc, files, n);
        return ms_fail(err, MS_E_NOMEM, "studies: out of memory");
    }
    memcpy(s->id, "study_", 6);
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(s->id + 6 + 2 * i, 3, "%02x", rnd[i]);
    snprintf(s->owner, sizeof s->owner, "%s", owner);
    s->files = files;
    s->n = n;
    s->bytes = bytes;
    s->expires_us = gw__now_us() + ttl_s * 1000000u;
    gw__studies_sweep(st);
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < MAX_STUDIES && slot == MAX_STUDIES; i++) {
        if (st->s[i] == NULL)
            slot = i;
    }
    ms_rc rc = MS_OK;
    if (slot == MAX_STUDIES || st->bytes + bytes > st->max_bytes) {
        rc = ms_fail(err, MS_E_LIMIT, "studies: memory for uploaded studies is full");
    } else {
        st->s[slot] = s;
        st->bytes += bytes;
        memcpy(id, s->id, sizeof s->id);
    }
    pthread_mutex_unlock(&st->mu);
    if (rc != MS_OK) {
        files_free(st->alloc, files, n);
        ms_free(st->alloc, s);
    }
    return rc;
}

/* Index of a live study that `owner` may use, or MAX_STUDIES. Caller holds the lock. */
static size_t lookup(struct gw_studies *st, const char *id, const char *owner)
{
    size_t idl = strlen(id), ol = strlen(owner);
    for (size_t i = 0; i < MAX_STUDIES; i++) {
        struct study *s = st->s[i];
        if (s == NULL || s->doomed || strlen(s->id) != idl || strlen(s->owner) != ol)
            continue;
        if (ms_ct_equal(s->id, id, idl) && ms_ct_equal(s->owner, owner, ol))
            return i;
    }
    return MAX_STUDIES;
}

ms_rc gw__studies_use(struct gw_studies *st, const char *id, const char *owner,
                      ms_rc (*fn)(void *ud, const struct gw_study_file *f, size_t n, ms_err *err),
                      void *ud, ms_err *err)
{
    pthread_mutex_lock(&st->mu);
    size_t i = lookup(st, id, owner);
    struct study *s = i < MAX_STUDIES ? st->s[i] : NULL;
    if (s != NULL && s->expires_us <= gw__now_us())
        s = NULL;
    if (s != NULL)
        s->refs++;
    pthread_mutex_unlock(&st->mu);
    if (s == NULL)
        return ms_fail(err, MS_E_NOTFOUND, "unknown or expired study");
    ms_rc rc = fn(ud, s->files, s->n, err);
    pthread_mutex_lock(&st->mu);
    s->refs--;
    if (s->refs == 0 && s->doomed) {
        for (size_t k = 0; k < MAX_STUDIES; k++) {
            if (st->s[k] == s)
                st->s[k] = NULL;
        }
        study_free(st, s);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* Removes slot i (or dooms it when in use). Caller holds the lock. */
static void drop(struct gw_studies *st, size_t i)
{
    struct study *s = st->s[i];
    if (s->refs > 0) {
        s->doomed = 1;
        return;
    }
    st->s[i] = NULL;
    study_free(st, s);
}

ms_rc gw__studies_delete(struct gw_studies *st, const char *id, const char *owner, ms_err *err)
{
    pthread_mutex_lock(&st->mu);
    size_t i = lookup(st, id, owner);
    if (i < MAX_STUDIES)
        drop(st, i);
    pthread_mutex_unlock(&st->mu);
    return i < MAX_STUDIES ? MS_OK : ms_fail(err, MS_E_NOTFOUND, "unknown or expired study");
}

size_t gw__studies_sweep(struct gw_studies *st)
{
    size_t live = 0;
    uint64_t now = gw__now_us();
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < MAX_STUDIES; i++) {
        if (st->s[i] == NULL)
            continue;
        if (st->s[i]->expires_us <= now && !st->s[i]->doomed)
            drop(st, i);
        else if (!st->s[i]->doomed)
            live++;
    }
    pthread_mutex_unlock(&st->mu);
    return live;
}

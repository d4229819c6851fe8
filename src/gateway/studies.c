/*
 * The in-memory study store behind STOW-RS (POST /v1/studies) and the DIMSE C-STORE SCP: DICOM
 * instances are kept only in memory from the server's allocator, grouped per owner (the API key
 * that sent them) by StudyInstanceUID into one study per UID, each with its own handle, for a
 * bounded time (study_ttl_s, renewed by every instance added); then, or on DELETE, or at
 * shutdown, every byte is wiped. Never on disk.
 * Concurrency: the table (slots, byte count, lookups) is under `mu`; a study's instance arrays
 * are under its own rwlock (readers: chat, QIDO; writer: an instance being added), so a long
 * analysis holds up only the ingest of the studies it reads. A study in use is reference-counted
 * and wiped when the last user is done. Readers take several studies' locks in address order.
 * Trusts: ids and owners are compared in constant time. Owns: every stored file.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_STUDIES 1024

struct study {
    char id[40];
    char owner[GW_KEY_ID_LEN + 1];
    char uid[GW_UID_MAX];
    struct gw_dicom_meta patient; /* the first instance's (patient attributes compared) */
    uint64_t expires_us, last_us;
    pthread_rwlock_t rw; /* files, meta, n, cap */
    struct gw_study_file *files;
    struct gw_dicom_meta *meta;
    size_t n, cap;
    size_t bytes; /* under the table's mu */
    int refs;     /* users and adders (under mu) */
    int doomed;   /* expired or deleted while in use */
};

struct gw_studies {
    pthread_mutex_t mu;
    ms_alloc *alloc;
    size_t max_bytes, bytes;
    struct study *s[MAX_STUDIES];
};

ms_rc gw__studies_new(ms_alloc *alloc, size_t max_bytes, struct gw_studies **out, ms_err *err)
{
    struct gw_studies *st = ms_calloc(NULL, 1, sizeof *st);
    if (st == NULL)
        return ms_fail(err, MS_E_NOMEM, "studies: out of memory");
    pthread_mutex_init(&st->mu, NULL);
    st->alloc = alloc;
    st->max_bytes = max_bytes;
    *out = st;
    return MS_OK;
}

static void study_free(struct gw_studies *st, struct study *s)
{
    st->bytes -= s->bytes;
    for (size_t i = 0; i < s->n; i++)
        ms_free(st->alloc, s->files[i].p);
    ms_free(st->alloc, s->files);
    ms_free(st->alloc, s->meta);
    pthread_rwlock_destroy(&s->rw);
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

static int eq_ct(const char *a, const char *b)
{
    size_t n = strlen(a);
    return n == strlen(b) && ms_ct_equal(a, b, n);
}

/* A DICOM UID names a study by its StudyInstanceUID; anything else is a handle. */
static int is_uid(const char *id)
{
    return id[0] >= '0' && id[0] <= '9';
}

/* Index of a live study that `owner` may use, named by handle or StudyInstanceUID, or
 * MAX_STUDIES. Caller holds mu. */
static size_t lookup(struct gw_studies *st, const char *id, const char *owner)
{
    int uid = is_uid(id);
    uint64_t now = gw__now_us();
    for (size_t i = 0; i < MAX_STUDIES; i++) {
        struct study *s = st->s[i];
        if (s == NULL || s->doomed || s->expires_us <= now)
            continue;
        if (eq_ct(uid ? s->uid : s->id, id) && eq_ct(s->owner, owner))
            return i;
    }
    return MAX_STUDIES;
}

int gw__same_patient(const struct gw_dicom_meta *a, const struct gw_dicom_meta *b)
{
    if (a->patient_id[0] || b->patient_id[0])
        return strcmp(a->patient_id, b->patient_id) == 0 && strcmp(a->issuer, b->issuer) == 0;
    return strcmp(a->patient_name, b->patient_name) == 0 &&
           strcmp(a->birth_date, b->birth_date) == 0;
}

/* Caller holds mu: drops one reference; frees the study when doomed and unused. */
static void unref(struct gw_studies *st, struct study *s)
{
    if (--s->refs == 0 && s->doomed) {
        for (size_t k = 0; k < MAX_STUDIES; k++) {
            if (st->s[k] == s)
                st->s[k] = NULL;
        }
        study_free(st, s);
    }
}

/* Caller holds mu: a new empty study for m in a free slot, or NULL (table full, no memory). */
static struct study *create(struct gw_studies *st, const char *owner,
                            const struct gw_dicom_meta *m, ms_err *err)
{
    uint8_t rnd[16];
    size_t slot = MAX_STUDIES;
    for (size_t i = 0; i < MAX_STUDIES && slot == MAX_STUDIES; i++) {
        if (st->s[i] == NULL)
            slot = i;
    }
    if (slot == MAX_STUDIES) {
        ms_fail(err, MS_E_LIMIT, "studies: the table of %d studies is full", MAX_STUDIES);
        return NULL;
    }
    struct study *s = ms_calloc(st->alloc, 1, sizeof *s);
    if (s == NULL || ms_random(rnd, sizeof rnd, err) != MS_OK) {
        ms_free(st->alloc, s);
        ms_fail(err, MS_E_NOMEM, "studies: out of memory");
        return NULL;
    }
    memcpy(s->id, "study_", 6);
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(s->id + 6 + 2 * i, 3, "%02x", rnd[i]);
    snprintf(s->owner, sizeof s->owner, "%s", owner);
    snprintf(s->uid, sizeof s->uid, "%s", m->study);
    s->patient = *m;
    pthread_rwlock_init(&s->rw, NULL);
    st->s[slot] = s;
    return s;
}

ms_rc gw__studies_add(struct gw_studies *st, const char *owner, uint8_t *p, size_t len,
                      const struct gw_dicom_meta *m, uint64_t ttl_s, char id[40], ms_err *err)
{
    ms_rc rc = MS_OK;
    gw__studies_sweep(st);
    pthread_mutex_lock(&st->mu);
    size_t i = lookup(st, m->study, owner);
    struct study *s = i < MAX_STUDIES ? st->s[i] : NULL;
    if (s != NULL && !gw__same_patient(&s->patient, m))
        rc = ms_fail(err, MS_E_EXISTS, "studies: the study holds another patient's instances");
    else if (st->bytes + len > st->max_bytes || st->bytes + len < len)
        rc = ms_fail(err, MS_E_LIMIT, "studies: memory for uploaded studies is full");
    else if (s == NULL && (s = create(st, owner, m, err)) == NULL)
        rc = err ? err->code : MS_E_LIMIT;
    if (rc == MS_OK) {
        st->bytes += len; /* reserved now, so concurrent adds cannot overshoot */
        s->bytes += len;
        s->refs++;
        s->expires_us = gw__now_us() + ttl_s * 1000000u;
        memcpy(id, s->id, sizeof s->id);
    }
    pthread_mutex_unlock(&st->mu);
    if (rc != MS_OK) {
        ms_free(st->alloc, p);
        return rc;
    }
    size_t freed = 0;
    pthread_rwlock_wrlock(&s->rw);
    size_t k = 0;
    while (k < s->n && strcmp(s->meta[k].sop_instance, m->sop_instance) != 0)
        k++;
    if (k < s->n) { /* the same instance again: the new copy replaces the old */
        freed = s->files[k].len;
        ms_free(st->alloc, s->files[k].p);
        s->files[k] = (struct gw_study_file){p, len};
        s->meta[k] = *m;
    } else {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 16;
            struct gw_study_file *nf = ms_realloc(st->alloc, s->files, cap * sizeof *nf);
            if (nf != NULL)
                s->files = nf;
            struct gw_dicom_meta *nm = nf ? ms_realloc(st->alloc, s->meta, cap * sizeof *nm) : NULL;
            if (nm != NULL) {
                s->meta = nm;
                s->cap = cap;
            }
        }
        if (s->n < s->cap) {
            s->files[s->n] = (struct gw_study_file){p, len};
            s->meta[s->n++] = *m;
        } else {
            ms_free(st->alloc, p);
            freed = len;
            rc = ms_fail(err, MS_E_NOMEM, "studies: out of memory");
        }
    }
    s->last_us = gw__now_us();
    pthread_rwlock_unlock(&s->rw);
    pthread_mutex_lock(&st->mu);
    st->bytes -= freed;
    s->bytes -= freed;
    if (s->n == 0 && s->refs == 1) /* a new study whose only instance failed: nothing to keep */
        s->doomed = 1;
    unref(st, s);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int by_address(const void *a, const void *b)
{
    const struct study *x = *(struct study *const *)a, *y = *(struct study *const *)b;
    return x < y ? -1 : x > y;
}

ms_rc gw__studies_use(struct gw_studies *st, const char *owner, const char *const *ids,
                      size_t nids, gw_studies_fn fn, void *ud, ms_err *err)
{
    size_t cap = ids != NULL ? nids : MAX_STUDIES, n = 0;
    if (ids != NULL && nids == 0)
        return fn(ud, NULL, 0, err);
    struct study **held = ms_calloc(st->alloc, cap, sizeof *held);
    struct gw_study_view *v = ms_calloc(st->alloc, cap, sizeof *v);
    if (held == NULL || v == NULL) {
        ms_free(st->alloc, held);
        ms_free(st->alloc, v);
        return ms_fail(err, MS_E_NOMEM, "studies: out of memory");
    }
    ms_rc rc = MS_OK;
    pthread_mutex_lock(&st->mu);
    if (ids == NULL) {
        uint64_t now = gw__now_us();
        for (size_t i = 0; i < MAX_STUDIES; i++) {
            struct study *s = st->s[i];
            if (s != NULL && !s->doomed && s->expires_us > now && s->n > 0 && eq_ct(s->owner, owner))
                held[n++] = s;
        }
    } else {
        for (size_t k = 0; k < nids && rc == MS_OK; k++) {
            size_t i = lookup(st, ids[k], owner);
            if (i == MAX_STUDIES) {
                rc = ms_fail(err, MS_E_NOTFOUND, "unknown or expired study (reference %zu)", k + 1);
                break;
            }
            size_t j = 0;
            while (j < n && held[j] != st->s[i])
                j++;
            if (j == n)
                held[n++] = st->s[i];
        }
    }
    for (size_t k = 0; rc == MS_OK && k < n; k++)
        held[k]->refs++;
    pthread_mutex_unlock(&st->mu);
    if (rc == MS_OK) {
        /* the order the caller named them in, locks taken in address order */
        struct study **sorted = ms_calloc(st->alloc, n ? n : 1, sizeof *sorted);
        if (sorted == NULL) {
            rc = ms_fail(err, MS_E_NOMEM, "studies: out of memory");
        } else {
            memcpy(sorted, held, n * sizeof *held);
            qsort(sorted, n, sizeof *sorted, by_address);
            for (size_t k = 0; k < n; k++)
                pthread_rwlock_rdlock(&sorted[k]->rw);
            for (size_t k = 0; k < n; k++)
                v[k] = (struct gw_study_view){held[k]->id,   held[k]->uid, held[k]->files,
                                              held[k]->meta, held[k]->n,   held[k]->last_us};
            rc = fn(ud, v, n, err);
            for (size_t k = 0; k < n; k++)
                pthread_rwlock_unlock(&sorted[k]->rw);
            ms_free(st->alloc, sorted);
        }
        pthread_mutex_lock(&st->mu);
        for (size_t k = 0; k < n; k++)
            unref(st, held[k]);
        pthread_mutex_unlock(&st->mu);
    }
    ms_free(st->alloc, held);
    ms_free(st->alloc, v);
    return rc;
}

/* Removes slot i (or dooms it when in use). Caller holds mu. */
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

ms_rc gw__store_instance(struct gw_server *s, const char *owner, const uint8_t *p, size_t n,
                         char handle[40], unsigned *reason, ms_err *err)
{
    struct gw_dicom_meta *m = ms_malloc(&s->alloc, sizeof *m);
    char id[40];
    unsigned why = 0xA700;
    ms_rc rc;
    if (m == NULL) {
        rc = ms_fail(err, MS_E_NOMEM, "studies: out of memory");
    } else if ((rc = gw__dicom_meta(p, n, &s->alloc, &s->cfg, m, err)) != MS_OK) {
        why = rc == MS_E_NOMEM ? 0xA700 : 0xC000;
        if (rc != MS_E_NOMEM)
            rc = MS_E_FORMAT;
    } else {
        uint8_t *copy = ms_malloc(&s->alloc, n ? n : 1);
        if (copy == NULL) {
            rc = ms_fail(err, MS_E_NOMEM, "studies: out of memory");
        } else {
            memcpy(copy, p, n);
            rc = gw__studies_add(s->studies, owner, copy, n, m, s->cfg.study_ttl_s, id, err);
            if (rc == MS_E_EXISTS)
                why = 0xA900;
            if (rc == MS_OK && handle != NULL)
                memcpy(handle, id, sizeof id);
        }
    }
    ms_free(&s->alloc, m);
    if (reason != NULL)
        *reason = rc == MS_OK ? 0 : why;
    return rc;
}

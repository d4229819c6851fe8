/*
 * The audit tree-head publisher: every signed tree head the replica's audit log writes (once
 * durable, audit_opts.head_fn) is queued here and inserted into PostgreSQL's `audit_heads` by one
 * thread, so the witness is kept off the replica's own disk and an append never waits on the
 * database. The queue is bounded (GW_HEADS_MAX heads); when the database stays down longer than
 * that many heads, the oldest queued head is dropped and counted (each head covers every record
 * before it, so the newest is the one that matters). A failed insert is retried every second, in
 * order. At close, the queue is drained for up to 2 s.
 * Trusts: the audit log's heads (signed by it) and the key store's database. Owns: the queue and
 * its thread.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "medseal/audit.h"

#define GW_HEADS_MAX 64

struct gw_heads {
    gw_keystore *ks;
    char replica[64];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int stop;
    uint64_t deadline_ns; /* after stop: give up draining at this time */
    audit_head q[GW_HEADS_MAX];
    size_t first, n;
    atomic_ullong published, dropped, failures;
};

static uint64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void to_row(const struct gw_heads *p, const audit_head *a, gw_tree_head *h)
{
    static const char hx[] = "0123456789abcdef";
    memset(h, 0, sizeof *h);
    snprintf(h->replica, sizeof h->replica, "%s", p->replica);
    for (size_t i = 0; i < 32; i++) {
        h->pubkey_hex[2 * i] = hx[a->pub[i] >> 4];
        h->pubkey_hex[2 * i + 1] = hx[a->pub[i] & 15];
    }
    h->size = a->size;
    h->time_ns = a->time_ns;
    memcpy(h->root, a->root, 32);
    memcpy(h->sig, a->sig, 64);
}

static void *publisher(void *arg)
{
    struct gw_heads *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->n == 0 && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->n == 0 || (p->stop && mono_ns() >= p->deadline_ns))
            break;
        gw_tree_head row;
        to_row(p, &p->q[p->first], &row);
        pthread_mutex_unlock(&p->mu);
        ms_err err = {0};
        ms_rc rc = gw_keystore_publish_head(p->ks, &row, &err);
        pthread_mutex_lock(&p->mu);
        /* the head is still at the front unless the queue overflowed meanwhile */
        if (rc == MS_OK) {
            atomic_fetch_add(&p->published, 1);
            if (p->n > 0 && p->q[p->first].size == row.size) {
                p->first = (p->first + 1) % GW_HEADS_MAX;
                p->n--;
            }
            continue;
        }
        atomic_fetch_add(&p->failures, 1);
        if (p->stop)
            break; /* closing with the database down: the log and sth.latest keep the head */
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += 1;
        pthread_cond_timedwait(&p->cv, &p->mu, &t);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

ms_rc gw__heads_start(gw_keystore *ks, const char *replica, struct gw_heads **out, ms_err *err)
{
    *out = NULL;
    if (ks == NULL || strcmp(gw_keystore_backend(ks), "postgresql") != 0)
        return MS_OK; /* no shared database: sth.latest (and audit_witness) only */
    struct gw_heads *p = ms_calloc(NULL, 1, sizeof *p);
    if (p == NULL)
        return ms_fail(err, MS_E_NOMEM, "audit heads: out of memory");
    p->ks = ks;
    snprintf(p->replica, sizeof p->replica, "%s", replica != NULL ? replica : "");
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        ms_free(NULL, p);
        return ms_fail(err, MS_E_INTERNAL, "audit heads: mutex");
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        ms_free(NULL, p);
        return ms_fail(err, MS_E_INTERNAL, "audit heads: condvar");
    }
    if (pthread_create(&p->th, NULL, publisher, p) != 0) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        ms_free(NULL, p);
        return ms_fail(err, MS_E_INTERNAL, "audit heads: thread");
    }
    *out = p;
    return MS_OK;
}

void gw__heads_push(void *ud, const audit_head *h)
{
    struct gw_heads *p = ud;
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    if (p->n == GW_HEADS_MAX) { /* database down for 64 heads: drop the oldest */
        p->first = (p->first + 1) % GW_HEADS_MAX;
        p->n--;
        atomic_fetch_add(&p->dropped, 1);
    }
    p->q[(p->first + p->n) % GW_HEADS_MAX] = *h;
    p->n++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void gw__heads_stats(struct gw_heads *p, uint64_t *published, uint64_t *dropped,
                     uint64_t *failures)
{
    *published = p ? atomic_load(&p->published) : 0;
    *dropped = p ? atomic_load(&p->dropped) : 0;
    *failures = p ? atomic_load(&p->failures) : 0;
}

void gw__heads_stop(struct gw_heads *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    p->deadline_ns = mono_ns() + 2000000000u;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    ms_free(NULL, p);
}

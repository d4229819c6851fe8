/*
 * The job queue of `medseal batch --state-db postgresql://...` (the URL the replicas use): one
 * row per patient in batch_jobs, claimed with `SELECT ... FOR UPDATE SKIP LOCKED`, so several
 * worker processes on several machines share one archive on a shared filesystem. A claim is a
 * lease (owner, lease_until) its worker renews while it analyses; a claim whose lease ran out
 * (its worker died) is claimed again by another. A patient is committed (its outputs written
 * under temporary names unique to the owner) only while its owner still holds the claim, so it
 * is committed exactly once; then the temporaries are renamed and it is done.
 * Tables (schema versioned in medseal_batch_schema through src/gateway/pg.c, as the key store's):
 *   v1 batch_runs (run, key_id, options, enqueued, files, unreadable, created)
 *      batch_jobs (run, patient, state, job, owner, lease_until, claims, done_count, studies,
 *                  line, reason)
 * Nothing here is PHI: keyed pseudonyms, shifted dates, paths relative to IN (the operator's own
 * names), the options, the key's fingerprint; with --recipient no index line is kept.
 * Trusts: the operator's database and URL. Owns: one connection (under a mutex), the URL copy
 * (wiped: it may hold a password).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "batch.h"
#include "commands.h"
#include "medseal/gateway.h"

#define BT_SCHEMA_LOCK "7350105019" /* pg_advisory_xact_lock key: the batch schema */

static const char *const MIGRATIONS[] = {
    /* v1 */
    "CREATE TABLE batch_runs (run text PRIMARY KEY, key_id text NOT NULL, options text NOT "
    "NULL, enqueued integer NOT NULL DEFAULT 0, files bigint NOT NULL DEFAULT 0, unreadable "
    "bigint NOT NULL DEFAULT 0, created timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE batch_jobs (run text NOT NULL REFERENCES batch_runs (run) ON DELETE CASCADE, "
    "patient text NOT NULL, state integer NOT NULL DEFAULT 0, job text NOT NULL, owner text, "
    "lease_until timestamptz, claims integer NOT NULL DEFAULT 0, done_count integer NOT NULL "
    "DEFAULT 0, studies integer, line text, reason text, PRIMARY KEY (run, patient));"
    "CREATE INDEX batch_jobs_state ON batch_jobs (run, state, patient)",
};

struct bt_pg {
    PGconn *c;
    pthread_mutex_t mu;
};

int bt_pg_open(const char *url, bt_pg **out)
{
    ms_err e = {0};
    bt_pg *q = calloc(1, sizeof *q);
    if (q == NULL)
        return -1;
    q->c = gw_pg_connect(url, &e);
    if (q->c == NULL ||
        gw_pg_migrate(q->c, "medseal_batch_schema", BT_SCHEMA_LOCK, MIGRATIONS,
                      (int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]), &e) != MS_OK) {
        cli_report("batch", "--state-db", &e);
        PQfinish(q->c);
        free(q);
        return -1;
    }
    pthread_mutex_init(&q->mu, NULL);
    *out = q;
    return 0;
}

void bt_pg_close(bt_pg *q)
{
    if (q == NULL)
        return;
    PQfinish(q->c);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* One statement with text parameters, under mu. A broken connection is reset for the next call
 * (never retried here: a claim is not idempotent). NULL on error (message printed). */
static PGresult *q_run(bt_pg *q, const char *what, const char *sql, int n,
                       const char *const *vals)
{
    if (PQstatus(q->c) != CONNECTION_OK) {
        PQreset(q->c);
        if (PQstatus(q->c) == CONNECTION_OK)
            gw_pg_quiet(q->c);
    }
    PGresult *r = PQexecParams(q->c, sql, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    ms_err e = {0};
    gw_pg_res_fail(r, q->c, &e, what);
    cli_error("batch", "%s", e.msg);
    PQclear(r);
    return NULL;
}

/* Runs sql; returns the number of rows it returned or changed, or -1. */
static long q_count(bt_pg *q, const char *what, const char *sql, int n, const char *const *vals)
{
    pthread_mutex_lock(&q->mu);
    PGresult *r = q_run(q, what, sql, n, vals);
    pthread_mutex_unlock(&q->mu);
    if (r == NULL)
        return -1;
    long k = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return k;
}

int bt_pg_run_put(bt_pg *q, const char *run, const char *key_id, const char *options)
{
    const char *v[] = {run, key_id, options};
    if (q_count(q, "create the run",
                "INSERT INTO batch_runs (run, key_id, options) VALUES ($1, $2, $3) ON CONFLICT "
                "(run) DO NOTHING",
                3, v) < 0)
        return -1;
    char *o = NULL, kid[40];
    int enq = 0;
    int rc = bt_pg_run_get(q, run, &o, kid, &enq);
    free(o);
    if (rc != 0)
        return -1;
    return strcmp(kid, key_id) == 0 ? 0 : 2;
}

int bt_pg_run_get(bt_pg *q, const char *run, char **options, char key_id[40], int *enqueued)
{
    const char *v[] = {run};
    pthread_mutex_lock(&q->mu);
    PGresult *r = q_run(q, "read the run",
                        "SELECT options, key_id, enqueued FROM batch_runs WHERE run = $1", 1, v);
    pthread_mutex_unlock(&q->mu);
    if (r == NULL)
        return -1;
    int rc = 1;
    if (PQntuples(r) == 1) {
        *options = strdup(PQgetvalue(r, 0, 0));
        snprintf(key_id, 40, "%s", PQgetvalue(r, 0, 1));
        *enqueued = atoi(PQgetvalue(r, 0, 2));
        rc = *options != NULL ? 0 : -1;
    }
    PQclear(r);
    return rc;
}

int bt_pg_enqueue(bt_pg *q, const char *run, size_t n, const char *const *patients,
                  const char *const *jobs)
{
    ms_err e = {0};
    pthread_mutex_lock(&q->mu);
    int rc = gw_pg_exec(q->c, "BEGIN", &e, "begin") == MS_OK ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *v[] = {run, patients[i], jobs[i]};
        PGresult *r = q_run(q, "enqueue",
                            "INSERT INTO batch_jobs (run, patient, job) VALUES ($1, $2, $3) ON "
                            "CONFLICT (run, patient) DO NOTHING",
                            3, v);
        rc = r != NULL ? 0 : -1;
        PQclear(r);
    }
    if (rc == 0 && gw_pg_exec(q->c, "COMMIT", &e, "commit") != MS_OK)
        rc = -1;
    if (rc != 0) {
        if (e.msg[0])
            cli_error("batch", "%s", e.msg);
        gw_pg_exec(q->c, "ROLLBACK", NULL, "rollback");
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int bt_pg_run_enqueued(bt_pg *q, const char *run, long long files, long long unreadable)
{
    char f[24], u[24];
    snprintf(f, sizeof f, "%lld", files);
    snprintf(u, sizeof u, "%lld", unreadable);
    const char *v[] = {run, f, u};
    return q_count(q, "mark the run queued",
                   "UPDATE batch_runs SET enqueued = 1, files = $2, unreadable = $3 WHERE run = $1",
                   3, v) == 1
               ? 0
               : -1;
}

int bt_pg_claim(bt_pg *q, const char *run, const char *owner, int lease_s, char *patient,
                size_t psz, char **job)
{
    char l[16];
    snprintf(l, sizeof l, "%d", lease_s);
    const char *v[] = {run, owner, l};
    pthread_mutex_lock(&q->mu);
    PGresult *r = q_run(
        q, "claim",
        "UPDATE batch_jobs j SET state = 1, owner = $2, lease_until = clock_timestamp() + "
        "$3::integer * interval '1 second', claims = j.claims + 1 FROM (SELECT patient FROM "
        "batch_jobs WHERE run = $1 AND (state = 0 OR (state = 1 AND lease_until < "
        "clock_timestamp())) ORDER BY patient COLLATE \"C\" LIMIT 1 FOR UPDATE SKIP LOCKED) c "
        "WHERE j.run = $1 AND j.patient = c.patient RETURNING j.patient, j.job",
        3, v);
    pthread_mutex_unlock(&q->mu);
    if (r == NULL)
        return -1;
    int rc = 0;
    if (PQntuples(r) == 1) {
        snprintf(patient, psz, "%s", PQgetvalue(r, 0, 0));
        *job = strdup(PQgetvalue(r, 0, 1));
        rc = *job != NULL ? 1 : -1;
    }
    PQclear(r);
    return rc;
}

int bt_pg_renew(bt_pg *q, const char *run, const char *owner, const char *patients, int lease_s)
{
    char l[16];
    snprintf(l, sizeof l, "%d", lease_s);
    const char *v[] = {run, owner, l, patients};
    return q_count(q, "renew the claims",
                   "UPDATE batch_jobs SET lease_until = clock_timestamp() + $3::integer * "
                   "interval '1 second' WHERE run = $1 AND owner = $2 AND state = 1 AND patient = "
                   "ANY ($4::text[])",
                   4, v) < 0
               ? -1
               : 0;
}

int bt_pg_commit(bt_pg *q, const char *run, const char *patient, const char *owner, int studies,
                 const char *line)
{
    char s[16];
    snprintf(s, sizeof s, "%d", studies);
    const char *v[] = {run, patient, owner, s, line};
    long k = q_count(q, "commit the patient",
                     "UPDATE batch_jobs SET state = 2, studies = $4, line = $5, reason = NULL, "
                     "done_count = done_count + 1 WHERE run = $1 AND patient = $2 AND owner = $3 "
                     "AND state = 1",
                     5, v);
    return k < 0 ? -1 : k == 1 ? 1 : 0;
}

int bt_pg_done(bt_pg *q, const char *run, const char *patient)
{
    const char *v[] = {run, patient};
    return q_count(q, "mark the patient done",
                   "UPDATE batch_jobs SET state = 3 WHERE run = $1 AND patient = $2 AND state = 2",
                   2, v) < 0
               ? -1
               : 0;
}

int bt_pg_fail(bt_pg *q, const char *run, const char *patient, const char *owner,
               const char *reason)
{
    const char *v[] = {run, patient, owner, reason};
    return q_count(q, "mark the patient failed",
                   "UPDATE batch_jobs SET state = 4, reason = $4 WHERE run = $1 AND patient = $2 "
                   "AND owner = $3 AND state = 1",
                   4, v) < 0
               ? -1
               : 0;
}

int bt_pg_counts(bt_pg *q, const char *run, long long counts[5], long long *studies,
                 long long *files, long long *unreadable, int *enqueued)
{
    *enqueued = 0;
    const char *v[] = {run};
    memset(counts, 0, 5 * sizeof counts[0]);
    *studies = *files = *unreadable = 0;
    pthread_mutex_lock(&q->mu);
    PGresult *r = q_run(q, "count the jobs",
                        "SELECT state, count(*), coalesce(sum(studies), 0) FROM batch_jobs WHERE "
                        "run = $1 GROUP BY state",
                        1, v);
    PGresult *r2 = r != NULL ? q_run(q, "read the run",
                                     "SELECT files, unreadable, enqueued FROM batch_runs WHERE run = $1",
                                     1, v)
                             : NULL;
    pthread_mutex_unlock(&q->mu);
    int rc = r != NULL && r2 != NULL ? 0 : -1;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        long s = strtol(PQgetvalue(r, i, 0), NULL, 10);
        if (s >= 0 && s < 5)
            counts[s] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        if (s == BTQ_DONE)
            *studies = strtoll(PQgetvalue(r, i, 2), NULL, 10);
    }
    if (rc == 0 && PQntuples(r2) == 1) {
        *files = strtoll(PQgetvalue(r2, 0, 0), NULL, 10);
        *unreadable = strtoll(PQgetvalue(r2, 0, 1), NULL, 10);
        *enqueued = atoi(PQgetvalue(r2, 0, 2));
    }
    PQclear(r);
    PQclear(r2);
    return rc;
}

int bt_pg_committed(bt_pg *q, const char *run,
                    void (*fn)(void *ud, const char *patient, const char *owner, int studies),
                    void *ud)
{
    const char *v[] = {run};
    pthread_mutex_lock(&q->mu);
    PGresult *r = q_run(q, "committed patients",
                        "SELECT patient, owner, studies FROM batch_jobs WHERE run = $1 AND state "
                        "= 2",
                        1, v);
    pthread_mutex_unlock(&q->mu);
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        fn(ud, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), atoi(PQgetvalue(r, i, 2)));
    PQclear(r);
    return 0;
}

int bt_pg_failed(bt_pg *q, const char *run, size_t max,
                 void (*fn)(void *ud, const char *patient, const char *reason), void *ud)
{
    char m[24];
    snprintf(m, sizeof m, "%zu", max);
    const char *v[] = {run, m};
    pthread_mutex_lock(&q->mu);
    PGresult *r = q_run(q, "failed patients",
                        "SELECT patient, coalesce(reason, '') FROM batch_jobs WHERE run = $1 AND "
                        "state = 4 ORDER BY patient COLLATE \"C\" LIMIT $2::integer",
                        2, v);
    pthread_mutex_unlock(&q->mu);
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        fn(ud, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
    PQclear(r);
    return 0;
}

/* Through a cursor, 512 lines at a time: memory does not grow with the run. */
int bt_pg_lines(void *ud, bt_line_cb cb, void *cbud)
{
    struct bt_pg_lines *L = ud;
    bt_pg *q = L->q;
    ms_err e = {0};
    const char *v[] = {L->run};
    pthread_mutex_lock(&q->mu);
    int rc = gw_pg_exec(q->c, "BEGIN", &e, "begin") == MS_OK ? 0 : -1;
    PGresult *r = rc == 0 ? q_run(q, "index lines",
                                  "DECLARE bt_lines NO SCROLL CURSOR FOR SELECT line FROM "
                                  "batch_jobs WHERE run = $1 AND state = 3 AND line IS NOT NULL "
                                  "ORDER BY patient COLLATE \"C\"",
                                  1, v)
                          : NULL;
    if (r == NULL)
        rc = -1;
    PQclear(r);
    while (rc == 0) {
        r = q_run(q, "index lines", "FETCH 512 FROM bt_lines", 0, NULL);
        if (r == NULL) {
            rc = -1;
            break;
        }
        int n = PQntuples(r);
        for (int i = 0; rc == 0 && i < n; i++)
            if (cb(cbud, PQgetvalue(r, i, 0)) != 0)
                rc = -1;
        PQclear(r);
        if (n == 0)
            break;
    }
    if (gw_pg_exec(q->c, rc == 0 ? "COMMIT" : "ROLLBACK", &e, "commit") != MS_OK)
        rc = -1;
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int bt_pg_retry_failed(bt_pg *q, const char *run)
{
    const char *v[] = {run};
    return q_count(q, "retry the failed patients",
                   "UPDATE batch_jobs SET state = 0, owner = NULL WHERE run = $1 AND state = 4",
                   1, v) < 0
               ? -1
               : 0;
}

int bt_pg_summary_lock(bt_pg *q, const char *run, int lock)
{
    const char *v[] = {run};
    return q_count(q, "summary lock",
                   lock ? "SELECT pg_advisory_lock(73501050, hashtext($1))"
                        : "SELECT pg_advisory_unlock(73501050, hashtext($1))",
                   1, v) < 0
               ? -1
               : 0;
}

/*
 * The key store's PostgreSQL backend (`--state-db postgresql://...`), shared by every replica and
 * by `medseal keys`. Tables (schema versioned in `medseal_schema`, created and migrated here under
 * a transaction-scoped advisory lock, so replicas starting together migrate once):
 *   v1 keys        (id, hash, role, created, expires, revoked, rate, totp, totp_step), as in SQLite
 *   v2 audit_heads (pubkey, replica_id, tree_size, time_ns, root, sig): every replica's signed
 *                  audit tree heads, a witness its own disk cannot rewrite
 * Nothing here is PHI: key ids, HMACs, roles, times, sealed TOTP secrets, Merkle roots.
 * Revocation: the UPDATE and its `pg_notify('medseal_keys', id)` are one statement, so the
 * notification goes out exactly when the revocation commits; a listener thread per process
 * (its own connection, LISTEN medseal_keys) marks the cache stale, and keystore.c never serves a
 * row older than 1 s (cache_age_s), which bounds a revocation when a notification is lost (a
 * listener reconnecting). TOTP replay: one conditional UPDATE ... WHERE totp_step < step
 * RETURNING, atomic across replicas. TLS: whatever the URL's sslmode asks (libpq; use
 * verify-full with sslrootcert). Errors carry PostgreSQL's primary message only (never DETAIL,
 * which may quote a row).
 * Trusts: the operator's database and URL. Owns: two connections (queries, under a mutex; the
 * listener's), the URL copy (wiped: it may hold a password) and the listener thread.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "keystore_be.h"
#include "medseal/gateway.h"

#define OID_BYTEA 17
#define OID_INT8  20
#define OID_INT4  23
#define OID_TEXT  25

#define SCHEMA_VERSION 2
#define MIGRATE_LOCK   "7350105018" /* pg_advisory_xact_lock key: "medseal" schema */

struct ks_pg {
    PGconn *c; /* queries, under mu */
    pthread_mutex_t mu;
    char *url; /* ms_malloc, wiped on free */
    pthread_t listener;
    int have_listener;
    atomic_int stop;
    atomic_int changed;
};

static const char *const MIGRATIONS[SCHEMA_VERSION] = {
    /* v1: keys, the same columns as keys.sqlite */
    "CREATE TABLE keys (id text PRIMARY KEY, hash bytea NOT NULL, role integer NOT NULL, "
    "created bigint NOT NULL, expires bigint NOT NULL, revoked integer NOT NULL DEFAULT 0, "
    "rate bigint NOT NULL DEFAULT 0, totp bytea, totp_step bigint NOT NULL DEFAULT 0)",
    /* v2: the audit tree-head witness */
    "CREATE TABLE audit_heads (pubkey text NOT NULL, replica_id text NOT NULL, tree_size bigint "
    "NOT NULL, time_ns bigint NOT NULL, root bytea NOT NULL, sig bytea NOT NULL, PRIMARY KEY "
    "(pubkey, tree_size))",
};

static PGconn *connect_url(const char *url, ms_err *err)
{
    return gw_pg_connect(url, err);
}

/* Runs one statement (the caller holds mu). On a broken connection it resets once and retries:
 * every statement here is idempotent or conditional. Returns the result, or NULL (err set). */
static PGresult *run(struct ks_pg *p, const char *what, const char *sql, int n, const Oid *types,
                     const char *const *vals, const int *lens, const int *fmts, ms_err *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (PQstatus(p->c) != CONNECTION_OK) {
            PQreset(p->c);
            if (PQstatus(p->c) != CONNECTION_OK)
                continue;
            gw_pg_quiet(p->c);
        }
        PGresult *r = PQexecParams(p->c, sql, n, types, vals, lens, fmts, 1);
        ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
            return r;
        if (PQstatus(p->c) == CONNECTION_OK || attempt == 1) {
            gw_pg_res_fail(r, p->c, err, what);
            PQclear(r);
            return NULL;
        }
        PQclear(r);
    }
    gw_pg_conn_fail(p->c, err, what);
    return NULL;
}

#define col_int gw_pg_int

static ms_rc exec_simple(PGconn *c, const char *sql, ms_err *err, const char *what)
{
    return gw_pg_exec(c, sql, err, what);
}

/* The key store's schema, versioned in medseal_schema (src/gateway/pg.c). */
static ms_rc migrate(PGconn *c, ms_err *err)
{
    return gw_pg_migrate(c, "medseal_schema", MIGRATE_LOCK, MIGRATIONS, SCHEMA_VERSION, err);
}

/* The listener: any notification, and any trouble with its connection, marks the cache stale. */
static void *listen_main(void *arg)
{
    struct ks_pg *p = arg;
    PGconn *c = NULL;
    while (!atomic_load(&p->stop)) {
        if (c == NULL || PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            c = connect_url(p->url, NULL);
            if (c != NULL && exec_simple(c, "LISTEN medseal_keys", NULL, "listen") != MS_OK) {
                PQfinish(c);
                c = NULL;
            }
            atomic_store(&p->changed, 1); /* whatever happened meanwhile */
            if (c == NULL) {
                struct timespec ts = {0, 200 * 1000 * 1000};
                nanosleep(&ts, NULL);
                continue;
            }
        }
        struct pollfd pf = {PQsocket(c), POLLIN, 0};
        int n = poll(&pf, 1, 200);
        if (n > 0 && PQconsumeInput(c) == 0) {
            PQfinish(c);
            c = NULL;
            continue;
        }
        PGnotify *nt;
        while ((nt = PQnotifies(c)) != NULL) {
            atomic_store(&p->changed, 1);
            PQfreemem(nt);
        }
    }
    PQfinish(c);
    return NULL;
}

static void pg_close(void *b)
{
    struct ks_pg *p = b;
    if (p == NULL)
        return;
    atomic_store(&p->stop, 1);
    if (p->have_listener)
        pthread_join(p->listener, NULL);
    PQfinish(p->c);
    pthread_mutex_destroy(&p->mu);
    ms_free(NULL, p->url);
    ms_free(NULL, p);
}

ms_rc gw__ks_pg_open(const char *url, void **out, ms_err *err)
{
    struct ks_pg *p = ms_calloc(NULL, 1, sizeof *p);
    size_t n = strlen(url);
    if (p == NULL || (p->url = ms_malloc(NULL, n + 1)) == NULL) {
        ms_free(NULL, p);
        return ms_fail(err, MS_E_NOMEM, "state db: out of memory");
    }
    memcpy(p->url, url, n + 1);
    pthread_mutex_init(&p->mu, NULL);
    p->c = connect_url(url, err);
    ms_rc rc = p->c == NULL ? MS_E_IO : migrate(p->c, err);
    if (rc != MS_OK) {
        pg_close(p);
        return rc;
    }
    if (pthread_create(&p->listener, NULL, listen_main, p) != 0) {
        pg_close(p);
        return ms_fail(err, MS_E_INTERNAL, "state db: cannot start the listener thread");
    }
    p->have_listener = 1;
    *out = p;
    return MS_OK;
}

static ms_rc pg_insert(void *b, const char *id, const gw_ks_row *row, ms_err *err)
{
    struct ks_pg *p = b;
    char role[16], created[24], expires[24], rate[24];
    snprintf(role, sizeof role, "%d", row->role);
    snprintf(created, sizeof created, "%lld", (long long)row->created);
    snprintf(expires, sizeof expires, "%lld", (long long)row->expires);
    snprintf(rate, sizeof rate, "%lld", (long long)row->rate);
    const Oid types[] = {OID_TEXT, OID_BYTEA, OID_INT4, OID_INT8, OID_INT8, OID_INT8, OID_BYTEA};
    const char *vals[] = {id,      (const char *)row->hash, role, created, expires, rate,
                          row->totp_len ? (const char *)row->totp : NULL};
    const int lens[] = {0, 32, 0, 0, 0, 0, (int)row->totp_len};
    const int fmts[] = {0, 1, 0, 0, 0, 0, 1};
    pthread_mutex_lock(&p->mu);
    PGresult *r = run(p, "insert",
                      "INSERT INTO keys (id, hash, role, created, expires, revoked, rate, totp) "
                      "VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
                      7, types, vals, lens, fmts, err);
    pthread_mutex_unlock(&p->mu);
    PQclear(r);
    return r != NULL ? MS_OK : MS_E_IO;
}

static ms_rc pg_revoke(void *b, const char *id, ms_err *err)
{
    struct ks_pg *p = b;
    const Oid types[] = {OID_TEXT};
    const char *vals[] = {id};
    pthread_mutex_lock(&p->mu);
    /* one statement: the notification is sent exactly when the revocation commits */
    PGresult *r = run(p, "revoke",
                      "WITH u AS (UPDATE keys SET revoked = 1 WHERE id = $1 RETURNING id) "
                      "SELECT pg_notify('medseal_keys', id) FROM u",
                      1, types, vals, NULL, NULL, err);
    pthread_mutex_unlock(&p->mu);
    if (r == NULL)
        return MS_E_IO;
    int found = PQntuples(r) > 0;
    PQclear(r);
    return found ? MS_OK : ms_fail(err, MS_E_NOTFOUND, "key store: no key with that id");
}

static ms_rc pg_list(void *b, void (*fn)(void *ud, const gw_key_info *k), void *ud, ms_err *err)
{
    struct ks_pg *p = b;
    pthread_mutex_lock(&p->mu);
    PGresult *r = run(p, "list",
                      "SELECT id, role, created, expires, revoked, rate FROM keys ORDER BY "
                      "created, id",
                      0, NULL, NULL, NULL, NULL, err);
    pthread_mutex_unlock(&p->mu);
    if (r == NULL)
        return MS_E_IO;
    for (int i = 0; i < PQntuples(r); i++) {
        gw_key_info k;
        memset(&k, 0, sizeof k);
        snprintf(k.id, sizeof k.id, "%s", PQgetvalue(r, i, 0));
        k.role = (gw_role)col_int(r, i, 1);
        k.created_at = col_int(r, i, 2);
        k.expires_at = col_int(r, i, 3);
        k.revoked = (int)col_int(r, i, 4);
        k.rate_rpm = (uint32_t)col_int(r, i, 5);
        fn(ud, &k);
    }
    PQclear(r);
    return MS_OK;
}

static ms_rc pg_fetch(void *b, const char *id, gw_ks_row *row, ms_err *err)
{
    struct ks_pg *p = b;
    const Oid types[] = {OID_TEXT};
    const char *vals[] = {id};
    pthread_mutex_lock(&p->mu);
    PGresult *r =
        run(p, "lookup",
            "SELECT hash, role, created, expires, revoked, rate, totp FROM keys WHERE id = $1", 1,
            types, vals, NULL, NULL, err);
    pthread_mutex_unlock(&p->mu);
    if (r == NULL)
        return MS_E_IO;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return MS_E_NOTFOUND;
    }
    memset(row, 0, sizeof *row);
    if (!PQgetisnull(r, 0, 0) && PQgetlength(r, 0, 0) == 32) {
        memcpy(row->hash, PQgetvalue(r, 0, 0), 32);
        row->hash_ok = 1;
    }
    int tn = PQgetisnull(r, 0, 6) ? 0 : PQgetlength(r, 0, 6);
    if (tn > 0 && (size_t)tn <= sizeof row->totp) {
        memcpy(row->totp, PQgetvalue(r, 0, 6), (size_t)tn);
        row->totp_len = (size_t)tn;
    }
    row->role = (int)col_int(r, 0, 1);
    row->created = col_int(r, 0, 2);
    row->expires = col_int(r, 0, 3);
    row->revoked = (int)col_int(r, 0, 4);
    row->rate = (uint32_t)col_int(r, 0, 5);
    PQclear(r);
    return MS_OK;
}

static ms_rc pg_totp_claim(void *b, const char *id, uint64_t step, ms_err *err)
{
    struct ks_pg *p = b;
    char s[24], role[16];
    snprintf(s, sizeof s, "%llu", (unsigned long long)step);
    snprintf(role, sizeof role, "%d", (int)GW_ROLE_ADMIN);
    const Oid types[] = {OID_TEXT, OID_INT8, OID_INT4};
    const char *vals[] = {id, s, role};
    pthread_mutex_lock(&p->mu);
    /* one conditional UPDATE: of two replicas racing with one code, exactly one gets the row */
    PGresult *r = run(p, "TOTP step",
                      "UPDATE keys SET totp_step = $2 WHERE id = $1 AND role = $3 AND "
                      "totp_step < $2 RETURNING totp_step",
                      3, types, vals, NULL, NULL, err);
    pthread_mutex_unlock(&p->mu);
    if (r == NULL)
        return MS_E_IO;
    int won = PQntuples(r) == 1;
    PQclear(r);
    return won ? MS_OK : ms_fail(err, MS_E_AUTH, "TOTP code already used");
}

static int pg_changed(void *b)
{
    struct ks_pg *p = b;
    return atomic_exchange(&p->changed, 0);
}

static ms_rc pg_publish_head(void *b, const gw_tree_head *h, ms_err *err)
{
    struct ks_pg *p = b;
    char size[24], t[24];
    snprintf(size, sizeof size, "%llu", (unsigned long long)h->size);
    snprintf(t, sizeof t, "%llu", (unsigned long long)h->time_ns);
    const Oid types[] = {OID_TEXT, OID_TEXT, OID_INT8, OID_INT8, OID_BYTEA, OID_BYTEA};
    const char *vals[] = {h->pubkey_hex, h->replica, size, t, (const char *)h->root,
                          (const char *)h->sig};
    const int lens[] = {0, 0, 0, 0, 32, 64};
    const int fmts[] = {0, 0, 0, 0, 1, 1};
    pthread_mutex_lock(&p->mu);
    /* the first head of a size is kept: a second, different one shows up in `audit verify` */
    PGresult *r = run(p, "publish tree head",
                      "INSERT INTO audit_heads (pubkey, replica_id, tree_size, time_ns, root, sig) "
                      "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (pubkey, tree_size) DO NOTHING",
                      6, types, vals, lens, fmts, err);
    pthread_mutex_unlock(&p->mu);
    PQclear(r);
    return r != NULL ? MS_OK : MS_E_IO;
}

static ms_rc pg_heads(void *b, gw_head_fn fn, void *ud, ms_err *err)
{
    struct ks_pg *p = b;
    pthread_mutex_lock(&p->mu);
    PGresult *r = run(p, "tree heads",
                      "SELECT pubkey, replica_id, tree_size, time_ns, root, sig FROM audit_heads "
                      "ORDER BY pubkey, tree_size",
                      0, NULL, NULL, NULL, NULL, err);
    pthread_mutex_unlock(&p->mu);
    if (r == NULL)
        return MS_E_IO;
    ms_rc rc = MS_OK;
    for (int i = 0; i < PQntuples(r); i++) {
        gw_tree_head h;
        memset(&h, 0, sizeof h);
        if (PQgetlength(r, i, 4) != 32 || PQgetlength(r, i, 5) != 64) {
            rc = ms_fail(err, MS_E_FORMAT, "state db: tree head row %d malformed", i);
            break;
        }
        snprintf(h.pubkey_hex, sizeof h.pubkey_hex, "%s", PQgetvalue(r, i, 0));
        snprintf(h.replica, sizeof h.replica, "%s", PQgetvalue(r, i, 1));
        h.size = (uint64_t)col_int(r, i, 2);
        h.time_ns = (uint64_t)col_int(r, i, 3);
        memcpy(h.root, PQgetvalue(r, i, 4), 32);
        memcpy(h.sig, PQgetvalue(r, i, 5), 64);
        if (fn(ud, &h) != 0)
            break;
    }
    PQclear(r);
    return rc;
}

const gw_ks_be gw__ks_pg = {
    .name = "postgresql",
    .cache_age_s = 1,
    .insert = pg_insert,
    .revoke = pg_revoke,
    .list = pg_list,
    .fetch = pg_fetch,
    .totp_claim = pg_totp_claim,
    .changed = pg_changed,
    .publish_head = pg_publish_head,
    .heads = pg_heads,
    .close = pg_close,
};

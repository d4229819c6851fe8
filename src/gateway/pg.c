/*
 * The PostgreSQL helpers every `--state-db postgresql://...` user shares (the replicas' key store
 * in keystore_pg.c, the batch job queue in src/cli/batch_pg.c): a connection whose server notices
 * go nowhere, one-line errors that carry PostgreSQL's primary message only (never DETAIL, which
 * may quote a row), and schema versioning: a component's migrations run in order in one
 * transaction under a transaction-scoped advisory lock, so processes starting together migrate
 * once, and a database newer than this binary is refused rather than used half-understood.
 * Trusts: the operator's database and URL (TLS is whatever its sslmode asks). Owns: nothing but
 * what it returns.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "medseal/gateway.h"

ms_rc gw_pg_conn_fail(PGconn *c, ms_err *err, const char *what)
{
    const char *m = c != NULL ? PQerrorMessage(c) : "out of memory";
    size_t n = strcspn(m, "\n");
    return ms_fail(err, MS_E_IO, "state db: %s: %.*s", what, (int)(n > 300 ? 300 : n), m);
}

ms_rc gw_pg_res_fail(PGresult *r, PGconn *c, ms_err *err, const char *what)
{
    const char *m = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (m == NULL)
        return gw_pg_conn_fail(c, err, what);
    return ms_fail(err, MS_E_IO, "state db: %s: %.300s", what, m);
}

static void no_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

void gw_pg_quiet(PGconn *c)
{
    /* the server's notices (e.g. "relation exists, skipping") go nowhere */
    PQsetNoticeProcessor(c, no_notice, NULL);
}

PGconn *gw_pg_connect(const char *url, ms_err *err)
{
    PGconn *c = PQconnectdb(url);
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        gw_pg_conn_fail(c, err, "connect");
        PQfinish(c);
        return NULL;
    }
    gw_pg_quiet(c);
    return c;
}

ms_rc gw_pg_exec(PGconn *c, const char *sql, ms_err *err, const char *what)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    ms_rc rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? MS_OK
                                                               : gw_pg_res_fail(r, c, err, what);
    PQclear(r);
    return rc;
}

static int64_t be(const char *v, int n)
{
    uint64_t x = 0;
    for (int i = 0; i < n; i++)
        x = (x << 8) | (uint8_t)v[i];
    return n == 4 ? (int64_t)(int32_t)(uint32_t)x : (int64_t)x;
}

int64_t gw_pg_int(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    int n = PQgetlength(r, row, col);
    return n == 8 || n == 4 ? be(PQgetvalue(r, row, col), n) : 0;
}

ms_rc gw_pg_migrate(PGconn *c, const char *table, const char *lock, const char *const *migrations,
                    int n, ms_err *err)
{
    char sql[256];
    ms_rc rc = gw_pg_exec(c, "BEGIN", err, "begin");
    if (rc == MS_OK) {
        snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%s)", lock);
        rc = gw_pg_exec(c, sql, err, "lock");
    }
    if (rc == MS_OK) {
        snprintf(sql, sizeof sql, "CREATE TABLE IF NOT EXISTS %s (version integer NOT NULL)",
                 table);
        rc = gw_pg_exec(c, sql, err, "schema table");
    }
    int version = -1;
    if (rc == MS_OK) {
        snprintf(sql, sizeof sql, "SELECT version FROM %s", table);
        PGresult *r = PQexec(c, sql);
        if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK)
            rc = gw_pg_res_fail(r, c, err, "schema version");
        else if (PQntuples(r) == 0)
            version = 0;
        else
            version = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        if (rc == MS_OK && version == 0) {
            snprintf(sql, sizeof sql,
                     "INSERT INTO %s (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM %s)",
                     table, table);
            rc = gw_pg_exec(c, sql, err, "schema version");
        }
    }
    if (rc == MS_OK && (version < 0 || version > n))
        rc = ms_fail(err, MS_E_UNSUPPORTED,
                     "state db: %s version %d is newer than this medseal's (%d)", table, version,
                     n);
    for (int v = version; rc == MS_OK && v < n; v++) {
        rc = gw_pg_exec(c, migrations[v], err, "migrate");
        snprintf(sql, sizeof sql, "UPDATE %s SET version = %d", table, v + 1);
        if (rc == MS_OK)
            rc = gw_pg_exec(c, sql, err, "migrate");
    }
    if (rc == MS_OK)
        return gw_pg_exec(c, "COMMIT", err, "commit");
    gw_pg_exec(c, "ROLLBACK", NULL, "rollback");
    return rc;
}

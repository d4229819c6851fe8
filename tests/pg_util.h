/*
 * Test helper: a throwaway PostgreSQL 15 server in a test's temp folder (initdb, pg_ctl from
 * /usr/lib/postgresql/15/bin), listening on a Unix socket in that folder and on 127.0.0.1 at a
 * random free port, with TLS (a test CA made here). initdb refuses to run as root, so under root
 * the server runs as `nobody` (runuser) and the folder is handed to it. Never a system service.
 * Trusts: the test's temp folder.
 */
#ifndef MEDSEAL_TEST_PG_UTIL_H
#define MEDSEAL_TEST_PG_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define PGT_BIN "/usr/lib/postgresql/15/bin"

typedef struct pgt {
    char dir[1024];
    char as[64]; /* "runuser -u nobody --" under root, else "" */
    int port;
    int started;
    char url[1400];     /* Unix socket */
    char tcp_url[1400]; /* 127.0.0.1:port, TLS verified against ca.pem */
} pgt;

/* 1 when the PostgreSQL 15 server binaries are installed. */
static inline int pgt_available(void)
{
    return access(PGT_BIN "/initdb", X_OK) == 0 && access(PGT_BIN "/pg_ctl", X_OK) == 0;
}

/* Starts the server in DIR/pg. 0 on success. */
static inline int pgt_start(pgt *p, const char *dir)
{
    memset(p, 0, sizeof *p);
    srand((unsigned)getpid() ^ (unsigned)time(NULL));
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    if (geteuid() == 0)
        snprintf(p->as, sizeof p->as, "runuser -u nobody --");
    if (ms_test_sh(NULL,
                   "set -e; cd '%s'; chmod 755 .; mkdir -p pg; "
                   "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
                   "ca.key -out ca.pem -subj /CN=pg-test-ca -days 2 2>/dev/null; "
                   "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
                   "pgsrv.key -out pgsrv.csr -subj /CN=localhost 2>/dev/null; "
                   "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > pgext.cnf; "
                   "openssl x509 -req -in pgsrv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
                   "-out pgsrv.pem -days 2 -extfile pgext.cnf 2>/dev/null; chmod 600 pgsrv.key; "
                   "if [ \"$(id -u)\" = 0 ]; then chown -R nobody: .; fi; "
                   "%s " PGT_BIN "/initdb -D pg -A trust -U postgres -E UTF8 --no-sync "
                   ">initdb.log 2>&1",
                   dir, p->as) != 0)
        return -1;
    for (int attempt = 0; attempt < 8; attempt++) {
        p->port = 20000 + (int)((unsigned)rand() % 40000u);
        if (ms_test_sh(NULL,
                       "cd '%s' && %s " PGT_BIN "/pg_ctl -D pg -l pg.log -w -t 30 -o \"-k '%s' "
                       "-p %d -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on "
                       "-c ssl_cert_file='%s/pgsrv.pem' -c ssl_key_file='%s/pgsrv.key'\" start "
                       ">pg_ctl.log 2>&1",
                       dir, p->as, dir, p->port, dir, dir) == 0) {
            p->started = 1;
            snprintf(p->url, sizeof p->url, "postgresql://postgres@/postgres?host=%s&port=%d",
                     dir, p->port);
            snprintf(p->tcp_url, sizeof p->tcp_url,
                     "postgresql://postgres@localhost:%d/postgres?sslmode=verify-full&"
                     "sslrootcert=%s/ca.pem",
                     p->port, dir);
            return 0;
        }
    }
    return -1;
}

/* Runs SQL through psql on the socket; output in *out when out != NULL. */
static inline int pgt_sql(pgt *p, char **out, const char *sql)
{
    return ms_test_sh(out, "psql -X -q -A -t '%s' -c \"%s\" 2>&1", p->url, sql);
}

static inline void pgt_stop(pgt *p)
{
    if (p->started)
        ms_test_sh(NULL, "cd '%s' && %s " PGT_BIN "/pg_ctl -D pg -m immediate -w stop >/dev/null 2>&1",
                   p->dir, p->as);
    p->started = 0;
}

#endif

/*
 * The key store on PostgreSQL (`--state-db`), against a real PostgreSQL 15 started by the test
 * (tests/pg_util.h): two store handles stand for two replicas sharing one database. Checks the
 * versioned schema, a key created by one replica authenticating on the other, a revocation
 * reaching the other replica's warm cache within 1 s, a TOTP step claimed once across replicas,
 * the tree-head witness, TLS per the URL's sslmode, and `medseal keys --state-db`. Skipped when
 * the PostgreSQL server binaries are missing.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medseal/gateway.h"
#include "pg_util.h"
#include "test.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int auth_ok(gw_keystore *ks, const gw_new_key *k)
{
    gw_key_info info;
    return gw_keystore_auth(ks, k->text, strlen(k->text), (int64_t)time(NULL), &info, NULL,
                            NULL) == MS_OK;
}

static int count_heads(void *ud, const gw_tree_head *h)
{
    (void)h;
    (*(int *)ud)++;
    return 0;
}

static int shared_store(pgt *pg)
{
    gw_keystore *a = NULL, *b = NULL;
    gw_new_key k, adm;
    ms_err err = {0};
    char *out = NULL;
    CHECK(gw_keystore_open_db(NULL, pg->url, &a, &err) == MS_OK);
    CHECK(gw_keystore_open_db(NULL, pg->url, &b, &err) == MS_OK); /* migrates nothing twice */
    CHECK_STR(gw_keystore_backend(a), "postgresql");
    CHECK(pgt_sql(pg, &out, "SELECT version FROM medseal_schema") == 0);
    CHECK(out != NULL && atoi(out) == 2);
    free(out);
    out = NULL;

    /* created on a, used on b; the database holds only the HMAC */
    CHECK(gw_keystore_create(a, GW_ROLE_CLINICIAN, 0, 60, &k, &err) == MS_OK);
    CHECK(auth_ok(b, &k));
    CHECK(auth_ok(a, &k));
    CHECK(pgt_sql(pg, &out, "SELECT encode(hash, 'hex') FROM keys") == 0);
    CHECK(out != NULL && strstr(out, k.text + 4 + GW_KEY_ID_LEN + 1) == NULL);
    free(out);
    out = NULL;

    /* revoked through a while b has the row cached: b refuses within 1 s */
    CHECK(gw_keystore_revoke(a, k.id, &err) == MS_OK);
    double t0 = now_ms(), t = 0;
    while (auth_ok(b, &k) && (t = now_ms() - t0) < 3000) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    t = now_ms() - t0;
    printf("  revocation seen by the other replica after %.1f ms\n", t);
    CHECK(!auth_ok(b, &k));
    CHECK(t < 1000);
    CHECK(gw_keystore_revoke(a, "000000000000", &err) == MS_E_NOTFOUND);

    /* a TOTP step accepted by one replica is refused by the other; the secret stays sealed */
    uint8_t totp[20];
    gw_key_info info;
    CHECK(gw_keystore_create(a, GW_ROLE_ADMIN, 0, 0, &adm, &err) == MS_OK);
    CHECK(gw_keystore_auth(b, adm.text, strlen(adm.text), (int64_t)time(NULL), &info, totp,
                           &err) == MS_OK);
    CHECK(info.role == GW_ROLE_ADMIN);
    uint64_t step = (uint64_t)time(NULL) / 30;
    CHECK(gw_keystore_totp_claim(a, adm.id, step, &err) == MS_OK);
    CHECK(gw_keystore_totp_claim(b, adm.id, step, &err) == MS_E_AUTH);
    CHECK(gw_keystore_totp_claim(a, adm.id, step, &err) == MS_E_AUTH);
    CHECK(gw_keystore_totp_claim(b, adm.id, step + 1, &err) == MS_OK);
    CHECK(pgt_sql(pg, &out, "SELECT length(totp) FROM keys WHERE role = 4") == 0);
    CHECK(out != NULL && atoi(out) > 20); /* sealed, not the 20 plain bytes */
    free(out);
    out = NULL;

    /* the tree-head witness: idempotent per (log, size) */
    gw_tree_head h;
    memset(&h, 0, sizeof h);
    snprintf(h.replica, sizeof h.replica, "gw-1");
    memset(h.pubkey_hex, 'a', 64);
    h.size = 10;
    h.time_ns = 1;
    CHECK(gw_keystore_publish_head(a, &h, &err) == MS_OK);
    CHECK(gw_keystore_publish_head(b, &h, &err) == MS_OK);
    h.size = 20;
    CHECK(gw_keystore_publish_head(b, &h, &err) == MS_OK);
    int n = 0;
    CHECK(gw_keystore_heads(a, count_heads, &n, &err) == MS_OK);
    CHECK_EQ_INT(n, 2);

    gw_keystore_close(a);
    gw_keystore_close(b);

    /* a database from a newer medseal is refused, not used half-understood */
    CHECK(pgt_sql(pg, NULL, "UPDATE medseal_schema SET version = 99") == 0);
    memset(&err, 0, sizeof err);
    CHECK(gw_keystore_open_db(NULL, pg->url, &a, &err) == MS_E_UNSUPPORTED);
    CHECK(strstr(err.msg, "schema version 99") != NULL);
    CHECK(pgt_sql(pg, NULL, "UPDATE medseal_schema SET version = 2") == 0);
    return 0;
}

static int tls_and_cli(pgt *pg)
{
    gw_keystore *ks = NULL;
    ms_err err = {0};
    char url[1600], *out = NULL;
    /* TLS as the URL asks: verify-full against the right CA connects, a wrong CA is refused */
    CHECK(gw_keystore_open_db(NULL, pg->tcp_url, &ks, &err) == MS_OK);
    gw_keystore_close(ks);
    CHECK(ms_test_sh(NULL, "cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
                           "ec_paramgen_curve:P-256 -nodes -keyout o.key -out other.pem -subj "
                           "/CN=other -days 2 2>/dev/null", pg->dir) == 0);
    snprintf(url, sizeof url,
             "postgresql://postgres@localhost:%d/postgres?sslmode=verify-full&sslrootcert=%s/"
             "other.pem",
             pg->port, pg->dir);
    memset(&err, 0, sizeof err);
    CHECK(gw_keystore_open_db(NULL, url, &ks, &err) == MS_E_IO);
    CHECK(strstr(err.msg, "state db: connect") != NULL);
    CHECK(gw_keystore_open_db(NULL, "mysql://x", &ks, &err) == MS_E_INVAL);

    /* the CLI on the shared database */
    const char *ms = ms_test_medseal();
    CHECK(ms_test_sh(&out, "%s keys create --state-db '%s' --role researcher --rate 30", ms,
                     pg->url) == 0);
    char id[GW_KEY_ID_LEN + 1] = {0};
    CHECK(out != NULL && sscanf(out, "id: %12s", id) == 1);
    free(out);
    out = NULL;
    CHECK(ms_test_sh(&out, "%s keys list --state-db '%s' --json", ms, pg->url) == 0);
    CHECK(out != NULL && strstr(out, id) != NULL && strstr(out, "\"rate_rpm\":30") != NULL);
    free(out);
    out = NULL;
    CHECK(ms_test_sh(&out, "%s keys revoke --state-db '%s' %s", ms, pg->url, id) == 0);
    free(out);
    out = NULL;
    CHECK(ms_test_sh(&out, "%s keys list --state-db '%s'", ms, pg->url) == 0);
    CHECK(out != NULL && strstr(out, "REVOKED") != NULL);
    free(out);
    out = NULL;
    /* a bad URL: one line, exit 1, and the password is not echoed */
    CHECK(ms_test_sh(&out, "%s keys list --state-db 'postgresql://u:s3cretpw@127.0.0.1:1/x' 2>&1",
                     ms) == 1);
    CHECK(out != NULL && strstr(out, "s3cretpw") == NULL && strstr(out, "state db") != NULL);
    free(out);
    return 0;
}

TEST(test_gw_pg_keystore_shared_by_replicas)
{
    pgt pg;
    if (!pgt_available())
        SKIP("PostgreSQL 15 server binaries missing (/usr/lib/postgresql/15/bin)");
    CHECK(pgt_start(&pg, ms_test_tmpdir()) == 0);
    int rc = shared_store(&pg);
    if (rc == 0)
        rc = tls_and_cli(&pg);
    pgt_stop(&pg);
    return rc;
}

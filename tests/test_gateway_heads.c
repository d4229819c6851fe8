/*
 * Audit tree heads published to PostgreSQL (heads.c, audit_opts.head_fn) and
 * `medseal audit verify --state-db URL --log DIR...`, against a real PostgreSQL 15 started by the
 * test (tests/pg_util.h): three replicas' logs publish every head they sign; verify reports each
 * replica intact; one replica's log cut at a record boundary with its sth.latest rolled back
 * (which the replica's own check cannot see) is reported for that replica only, as records
 * missing after the published head; a head row changed in the database is a head mismatch; a
 * log nobody handed in is reported. Skipped when the PostgreSQL server binaries are missing.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/internal.h"
#include "medseal/audit.h"
#include "pg_util.h"
#include "test.h"

#define RECORDS 35

/* One replica's log: RECORDS events, a head every 10 records and one at close, published. */
static int write_replica(gw_keystore *ks, const char *state, const char *replica,
                         uint64_t *heads_in_log)
{
    struct gw_heads *hp = NULL;
    ms_err err = {0};
    uint8_t mk[MS_KEY_LEN];
    CHECK(mkdir(state, 0700) == 0);
    CHECK(gw__heads_start(ks, replica, &hp, &err) == MS_OK);
    CHECK(hp != NULL);
    CHECK(audit_master_key(state, NULL, mk, &err) == MS_OK);
    audit_opts o = {0};
    o.sth_records = 10;
    o.head_fn = gw__heads_push;
    o.head_ud = hp;
    audit_log *l = NULL;
    CHECK(audit_log_open(state, mk, &o, &l, &err) == MS_OK);
    for (int i = 0; i < RECORDS; i++) {
        audit_record r = {0};
        r.action = "chat.completion";
        r.outcome = "ok";
        r.replica_id = replica;
        CHECK(audit_log_append(l, &r, NULL, &err) == MS_OK);
    }
    CHECK(audit_log_close(l, &err) == MS_OK);
    gw__heads_stop(hp);
    uint8_t pub[32];
    char p[4096];
    snprintf(p, sizeof p, "%s/audit/sign.pub", state);
    CHECK(ms_keyfile_read(p, pub, &err) == MS_OK);
    audit_verify_report rep;
    snprintf(p, sizeof p, "%s/audit", state);
    CHECK(audit_verify(p, pub, NULL, 0, &rep, &err) == MS_OK);
    *heads_in_log = rep.tree_heads;
    return 0;
}

/* Cuts the log's only segment just before record `seq` (a record boundary). */
static int cut_at(const char *state, uint64_t seq)
{
    char p[1400];
    snprintf(p, sizeof p, "%s/audit/seg-%020d.log", state, 0);
    FILE *f = fopen(p, "rb");
    CHECK(f != NULL);
    uint8_t hdr[16], len4[4];
    CHECK(fread(hdr, 1, 16, f) == 16);
    long off = 16;
    for (uint64_t i = 0; i < seq; i++) {
        CHECK(fseek(f, off, SEEK_SET) == 0 && fread(len4, 1, 4, f) == 4);
        off += (long)((uint32_t)len4[0] | (uint32_t)len4[1] << 8 | (uint32_t)len4[2] << 16 |
                      (uint32_t)len4[3] << 24);
    }
    fclose(f);
    CHECK(truncate(p, off) == 0);
    return 0;
}

static int line_has(const char *out, const char *replica, const char *what)
{
    char key[64];
    snprintf(key, sizeof key, "replica %s ", replica);
    const char *l = out != NULL ? strstr(out, key) : NULL;
    if (l == NULL)
        return 0;
    const char *end = strchr(l, '\n');
    const char *w = strstr(l, what);
    return w != NULL && (end == NULL || w < end);
}

static int scenario(pgt *pg)
{
    const char *d = ms_test_tmpdir();
    const char *ms = ms_test_medseal();
    gw_keystore *ks = NULL;
    ms_err err = {0};
    char s[3][900], *out = NULL;
    uint64_t heads[3];
    CHECK(gw_keystore_open_db(NULL, pg->url, &ks, &err) == MS_OK);
    for (int i = 0; i < 3; i++) {
        char rid[8];
        snprintf(rid, sizeof rid, "gw-%d", i + 1);
        snprintf(s[i], sizeof s[i], "%s/r%d", d, i + 1);
        CHECK(write_replica(ks, s[i], rid, &heads[i]) == 0);
    }
    gw_keystore_close(ks);

    /* every head each writer signed is in the database, under its replica_id */
    CHECK(pgt_sql(pg, &out, "SELECT replica_id || ':' || count(*) FROM audit_heads GROUP BY "
                            "replica_id ORDER BY replica_id") == 0);
    char want[128];
    snprintf(want, sizeof want, "gw-1:%llu\ngw-2:%llu\ngw-3:%llu", (unsigned long long)heads[0],
             (unsigned long long)heads[1], (unsigned long long)heads[2]);
    printf("  heads in the logs %llu/%llu/%llu, in the database: %s\n",
           (unsigned long long)heads[0], (unsigned long long)heads[1],
           (unsigned long long)heads[2], out ? out : "(none)");
    CHECK(heads[0] >= 4 && out != NULL && strncmp(out, want, strlen(want)) == 0);
    free(out);
    out = NULL;

    /* all three intact */
    CHECK(ms_test_sh(&out, "%s audit verify --state-db '%s' --log %s --log %s --log %s/audit",
                     ms, pg->url, s[0], s[1], s[2]) == 0);
    printf("%s", out ? out : "");
    CHECK(line_has(out, "gw-1", ": intact:") && line_has(out, "gw-2", ": intact:") &&
          line_has(out, "gw-3", ": intact:"));
    free(out);
    out = NULL;

    /* gw-2's log cut to 20 records and its sth.latest removed: its own check sees a shorter,
     * valid log; the heads it published say otherwise, for gw-2 only */
    CHECK(cut_at(s[1], 20) == 0);
    char p[1400];
    snprintf(p, sizeof p, "%s/audit/sth.latest", s[1]);
    CHECK(unlink(p) == 0);
    CHECK(ms_test_sh(&out, "%s audit verify --state %s", ms, s[1]) == 0);
    free(out);
    out = NULL;
    CHECK(ms_test_sh(&out, "%s audit verify --state-db '%s' --log %s --log %s --log %s", ms,
                     pg->url, s[0], s[1], s[2]) == 1);
    printf("%s", out ? out : "");
    CHECK(line_has(out, "gw-1", ": intact:") && line_has(out, "gw-3", ": intact:"));
    CHECK(line_has(out, "gw-2", "records missing after the published head"));
    CHECK(strstr(out, "3 logs, 2 intact, 1 not") != NULL);
    free(out);
    out = NULL;

    /* a published head changed in the database (its root): a head mismatch for gw-3 */
    CHECK(pgt_sql(pg, NULL, "UPDATE audit_heads SET root = sha256(root) WHERE replica_id = "
                            "'gw-3' AND tree_size = (SELECT min(tree_size) FROM audit_heads "
                            "WHERE replica_id = 'gw-3')") == 0);
    CHECK(ms_test_sh(&out, "%s audit verify --state-db '%s' --log %s --log %s", ms, pg->url, s[0],
                     s[2]) == 1);
    printf("%s", out ? out : "");
    CHECK(line_has(out, "gw-1", ": intact:") && line_has(out, "gw-3", "head mismatch"));
    CHECK(line_has(out, "gw-2", "no --log holds this log"));
    free(out);
    out = NULL;

    /* usage */
    CHECK(ms_test_sh(NULL, "%s audit verify --state-db '%s' 2>/dev/null", ms, pg->url) == 2);
    CHECK(ms_test_sh(NULL, "%s audit verify --log %s 2>/dev/null", ms, s[0]) == 2);
    return 0;
}

TEST(test_gateway_heads_published_and_verified_per_replica)
{
    pgt pg;
    if (!pgt_available())
        SKIP("PostgreSQL 15 server binaries missing (/usr/lib/postgresql/15/bin)");
    CHECK(pgt_start(&pg, ms_test_tmpdir()) == 0);
    int rc = scenario(&pg);
    pgt_stop(&pg);
    return rc;
}

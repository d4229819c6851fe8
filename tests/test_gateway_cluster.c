/*
 * The cluster test: PostgreSQL 15 (tests/pg_util.h) + three `medseal serve` replicas sharing it +
 * HAProxy with the shipped deploy/haproxy/haproxy.cfg, all on loopback in the test's temp folder.
 * tests/cluster/cluster.py drives it (keys through every replica, revocation within 1 s, 20
 * clients each getting their own study's answer, a replica SIGKILLed under load and its clients
 * routed within 2 s, audit verify of all three logs with every acknowledged answer recorded).
 * Skipped when the PostgreSQL server, HAProxy or ../shared (the study generator) is missing.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg_util.h"
#include "test.h"

TEST(test_gw_cluster_pg_haproxy_three_replicas)
{
    pgt pg;
    char *out = NULL;
    if (!pgt_available())
        SKIP("PostgreSQL 15 server binaries missing (/usr/lib/postgresql/15/bin)");
    if (ms_test_sh(NULL, "command -v haproxy >/dev/null") != 0)
        SKIP("haproxy missing");
    if (ms_test_shared() == NULL)
        SKIP("../shared not available (make_study.py)");
    CHECK(pgt_start(&pg, ms_test_tmpdir()) == 0);
    int rc = ms_test_sh(&out,
                        "/usr/bin/python3 '%s/tests/cluster/cluster.py' --medseal '%s' --root '%s' "
                        "--tmp '%s' --pg '%s' --shared '%s' 2>&1",
                        ms_test_root(), ms_test_medseal(), ms_test_root(), ms_test_tmpdir(),
                        pg.url, ms_test_shared());
    pgt_stop(&pg);
    printf("%s", out ? out : "");
    free(out);
    CHECK_EQ_INT(rc, 0);
    return 0;
}

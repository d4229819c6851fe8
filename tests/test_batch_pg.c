/*
 * Tests of `medseal batch --state-db postgresql://...` (src/cli/batch_pg.c, cmd_batch.c): two
 * worker processes on one PostgreSQL job queue over a synthetic archive do every patient exactly
 * once, with outputs byte for byte those of a single-process run; a worker SIGKILLed while it
 * holds a claim leaves that patient to the other, which takes it once the lease has run out.
 * PostgreSQL 15 runs in the test's temp folder (tests/pg_util.h); skipped when it is missing.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pg_util.h"
#include "test.h"

#define PY "/usr/bin/python3"
#define NP 8

static pid_t spawn_worker(const char *url, const char *out, const char *lease, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (freopen(log, "w", stdout) == NULL || freopen("/dev/null", "w", stderr) == NULL)
            _exit(99);
        execl(ms_test_medseal(), "medseal", "batch", "--worker", "--state-db", url, "--jobs", "1",
              "--lease", lease, "--json", out, (char *)NULL);
        _exit(98);
    }
    return pid;
}

static int exit_code(pid_t pid)
{
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* One integer from a query (psql on the test server's socket); -1 on error. */
static long sql_long(pgt *pg, const char *sql)
{
    char *o = NULL;
    long v = -1;
    if (pgt_sql(pg, &o, sql) == 0 && o != NULL && o[0] >= '0' && o[0] <= '9')
        v = strtol(o, NULL, 10);
    free(o);
    return v;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The outputs of OUT equal the single-process run's in ref, and no temporary is left. */
static int same_as_ref(const char *t, const char *out)
{
    return ms_test_sh(NULL,
                      "cd %s/ref && test $(ls -d MS-* | wc -l) -eq %d && for f in */report.json "
                      "*/report.html index.jsonl cohort.csv summary.html; do cmp $f %s/$f || exit "
                      "1; done && test -z \"$(find %s -name '*.tmp')\"",
                      t, NP, out, out);
}

/* The run id a run wrote to OUT/batch.queue. */
static int run_of(const char *out, char id[40])
{
    char path[1100];
    snprintf(path, sizeof path, "%s/batch.queue", out);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    int ok = fgets(id, 40, f) != NULL;
    fclose(f);
    id[strcspn(id, "\n")] = '\0';
    return ok && strlen(id) == 32 ? 0 : -1;
}

static long run_count(pgt *pg, const char *run, const char *where)
{
    char q[512];
    snprintf(q, sizeof q, "SELECT count(*) FROM batch_jobs WHERE run = '%s' AND %s", run, where);
    return sql_long(pg, q);
}

static int body(pgt *pg, pid_t *live)
{
    const char *t = ms_test_tmpdir();
    const char *m = ms_test_medseal();
    CHECK(ms_test_sh(NULL, "%s keygen > %s/site.key", m, t) == 0);
    for (int i = 0; i < NP; i++)
        CHECK(ms_test_sh(NULL,
                         PY " %s/scripts/synth_study.py %s/in/p%d --studies 2 --slices 2 --size 16 "
                            "--seed %d >/dev/null",
                         ms_test_root(), t, i, 300 + i) == 0);
    /* the reference: one process, SQLite journal only */
    CHECK(ms_test_sh(NULL, "%s batch --key %s/site.key --format json,html --quiet %s/in %s/ref",
                     m, t, t, t) == 0);
    char out[1024], log[1024], run[40];

    /* 1. the scan fills the queue, then two workers share it */
    snprintf(out, sizeof out, "%s/two", t);
    char *o = NULL;
    int rc = ms_test_sh(&o, "%s batch --key %s/site.key --format json,html --state-db '%s' "
                            "--enqueue --json %s/in %s",
                        m, t, pg->url, t, out);
    CHECK_EQ_INT(rc, 0);
    CHECK(o != NULL && strstr(o, "\"patients\": 8") != NULL &&
          strstr(o, "\"patients_done\": 0") != NULL);
    free(o);
    CHECK(ms_test_sh(NULL, "test -s %s/batch.queue && test ! -e %s/index.jsonl", out, out) == 0);
    char l1[1024], l2[1024];
    snprintf(l1, sizeof l1, "%s/w1.json", t);
    snprintf(l2, sizeof l2, "%s/w2.json", t);
    CHECK(run_of(out, run) == 0);
    pid_t a = spawn_worker(pg->url, out, "30", l1), b = spawn_worker(pg->url, out, "30", l2);
    live[0] = a;
    live[1] = b;
    CHECK(a > 0 && b > 0);
    CHECK_EQ_INT(exit_code(a), 0);
    CHECK_EQ_INT(exit_code(b), 0);
    live[0] = live[1] = 0;
    /* every patient done exactly once, claimed once, and the outputs of a single run */
    CHECK_EQ_INT(run_count(pg, run, "state = 3 AND done_count = 1 AND claims = 1"), NP);
    CHECK_EQ_INT(run_count(pg, run, "true"), NP);
    CHECK_EQ_INT(same_as_ref(t, out), 0);
    CHECK(ms_test_sh(NULL, "grep -h '\"patients_done_this_run\"' %s %s | grep -o '[0-9]*' | "
                           "awk '{s+=$1} END {exit s == %d ? 0 : 1}'",
                     l1, l2, NP) == 0);

    /* 2. workers that die: one left a claim (lease 8 s) and a half-written temporary before
     * the others started (made here by hand, so it happens whatever the machine's speed);
     * worker A is SIGKILLed mid-run (it cannot have finished: that claim is still leased);
     * worker B finishes everything, the dead claim once its lease has run out */
    snprintf(out, sizeof out, "%s/kill", t);
    CHECK(ms_test_sh(NULL, "%s batch --key %s/site.key --format json,html --state-db '%s' "
                           "--enqueue --quiet %s/in %s 2>/dev/null",
                     m, t, pg->url, t, out) == 0);
    CHECK(run_of(out, run) == 0);
    char *victim = NULL, q[512];
    snprintf(q, sizeof q, "UPDATE batch_jobs SET state = 1, owner = 'deaddeaddeaddead', "
                          "lease_until = clock_timestamp() + interval '8 seconds', claims = 1 "
                          "WHERE run = '%s' AND patient = (SELECT min(patient) FROM batch_jobs "
                          "WHERE run = '%s') RETURNING patient",
             run, run);
    CHECK(pgt_sql(pg, &victim, q) == 0);
    CHECK(victim != NULL && strncmp(victim, "MS-", 3) == 0);
    victim[strcspn(victim, "\n")] = '\0';
    CHECK(ms_test_sh(NULL, "mkdir -p %s/%s && echo partial > %s/%s/report.json.deaddeaddeaddead.tmp",
                     out, victim, out, victim) == 0);
    snprintf(log, sizeof log, "%s/wa.json", t);
    a = spawn_worker(pg->url, out, "2", log);
    live[0] = a;
    snprintf(log, sizeof log, "%s/wb.json", t);
    b = spawn_worker(pg->url, out, "2", log);
    live[1] = b;
    CHECK(a > 0 && b > 0);
    for (int i = 0; i < 100 && run_count(pg, run, "state = 3") < 2; i++)
        sleep_ms(50);
    kill(a, SIGKILL);
    CHECK_EQ_INT(exit_code(a), 128 + SIGKILL);
    live[0] = 0;
    CHECK_EQ_INT(exit_code(b), 0);
    live[1] = 0;
    /* the dead claim's patient was claimed again and done once; every patient done once */
    snprintf(q, sizeof q, "patient = '%s' AND state = 3 AND done_count = 1 AND claims = 2 AND "
                          "owner <> 'deaddeaddeaddead'",
             victim);
    free(victim);
    CHECK_EQ_INT(run_count(pg, run, q), 1);
    CHECK_EQ_INT(run_count(pg, run, "state = 3 AND done_count = 1"), NP);
    CHECK(ms_test_sh(NULL, "grep -q '\"patients_done\": %d' %s", NP, log) == 0);
    CHECK_EQ_INT(same_as_ref(t, out), 0);
    /* a worker on a finished queue has nothing to do and says so; a wrong key is refused */
    CHECK(ms_test_sh(&o, "%s batch --worker --state-db '%s' --json %s", m, pg->url, out) == 0);
    CHECK(o != NULL && strstr(o, "\"patients_done_this_run\": 0") != NULL &&
          strstr(o, "\"patients_done\": 8") != NULL);
    free(o);
    CHECK(ms_test_sh(NULL, "%s keygen > %s/other.key", m, t) == 0);
    rc = ms_test_sh(NULL, "%s batch --worker --state-db '%s' --key %s/other.key %s 2>/dev/null",
                    m, pg->url, t, out);
    CHECK_EQ_INT(rc, 2);
    return 0;
}

TEST(test_batch_pg_two_workers_and_a_killed_one)
{
    pgt pg;
    if (!pgt_available())
        SKIP("PostgreSQL 15 server binaries missing (/usr/lib/postgresql/15/bin)");
    CHECK(pgt_start(&pg, ms_test_tmpdir()) == 0);
    pid_t live[2] = {0, 0};
    int rc = body(&pg, live);
    /* whatever failed: no worker left running, the server stopped */
    for (int i = 0; i < 2; i++)
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
        }
    pgt_stop(&pg);
    CHECK_EQ_INT(rc, 0);
    return 0;
}

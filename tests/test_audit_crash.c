/*
 * Durability tests of the audit writer: concurrent appenders sharing group commits, and a writer
 * process killed with SIGKILL at random moments (bounded loop): after each kill the log reopens
 * (cutting and logging any torn tail), verifies, and holds every record that was acknowledged.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/internal.h"
#include "audit/log.h"
#include "medseal/audit.h"
#include "test.h"

static const uint8_t master[MS_KEY_LEN] = {3, 1, 4, 1, 5, 9, 2, 6};

struct worker {
    audit_log *log;
    int id, n, fd, fails;
    int check_durable; /* each acknowledged seq must already be durable */
};

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        char rid[48];
        snprintf(rid, sizeof rid, "w%d-%d", w->id, i);
        audit_record r = {0};
        r.action = "chat.completion";
        r.request_id = rid;
        uint64_t seq;
        if (audit_log_append(w->log, &r, &seq, NULL) != MS_OK) {
            w->fails++;
            continue;
        }
        if (w->check_durable && audit_log_durable(w->log) <= seq)
            w->fails++;
        if (w->fd >= 0 && write(w->fd, &seq, sizeof seq) != (ssize_t)sizeof seq)
            w->fails++;
    }
    return NULL;
}

static int verify_state(const char *state, audit_verify_report *rep, ms_err *err)
{
    char p[700], d[600];
    uint8_t pub[32], k0[32];
    snprintf(d, sizeof d, "%s/audit", state);
    snprintf(p, sizeof p, "%s/sign.pub", d);
    if (ms_keyfile_read(p, pub, NULL) != MS_OK)
        return -1;
    snprintf(p, sizeof p, "%s/initial.key", d);
    if (ms_keyfile_read(p, k0, NULL) != MS_OK)
        return -1;
    return audit_verify(d, pub, k0, 0, rep, err) == MS_OK ? 0 : -1;
}

TEST(test_audit_concurrent_appenders_group_commit)
{
    char state[512];
    snprintf(state, sizeof state, "%s/state", ms_test_tmpdir());
    audit_opts o = {0};
    o.epoch_records = 97;
    o.sth_records = 150;
    audit_log *l = NULL;
    ms_err err = {0};
    CHECK(audit_log_open(state, master, &o, &l, &err) == MS_OK);
    struct worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){l, i, 300, -1, 0, 0};
        CHECK(pthread_create(&t[i], NULL, work, &w[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(w[i].fails, 0);
    }
    audit_stats st;
    audit_log_stats(l, &st);
    CHECK_EQ_INT(st.durable, st.records); /* AUDIT_SYNC_EACH: every append returned durable */
    CHECK(audit_log_close(l, &err) == MS_OK);
    audit_verify_report rep;
    CHECK(verify_state(state, &rep, &err) == 0);
    CHECK(rep.records >= 1200 + 1200 / 97 + 1200 / 150);
    return 0;
}

/* Group commit with many appenders (the gateway's 16 connections): every append returns only
 * once its own record is durable, also while epochs, tree heads and segment rolls interleave
 * (they flush under the lock and wake every waiter). */
TEST(test_audit_group_commit_each_append_returns_durable)
{
    char state[512];
    snprintf(state, sizeof state, "%s/state", ms_test_tmpdir());
    audit_opts o = {0};
    o.epoch_records = 61;
    o.sth_records = 89;
    o.segment_bytes = 16384;
    audit_log *l = NULL;
    ms_err err = {0};
    CHECK(audit_log_open(state, master, &o, &l, &err) == MS_OK);
    enum { NT = 16, PER = 150 };
    struct worker w[NT];
    pthread_t t[NT];
    for (int i = 0; i < NT; i++) {
        w[i] = (struct worker){l, i, PER, -1, 0, 1};
        CHECK(pthread_create(&t[i], NULL, work, &w[i]) == 0);
    }
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < NT; i++)
        CHECK_EQ_INT(w[i].fails, 0);
    audit_stats st;
    audit_log_stats(l, &st);
    CHECK_EQ_INT(st.durable, st.records);
    CHECK(audit_log_close(l, &err) == MS_OK);
    audit_verify_report rep;
    CHECK(verify_state(state, &rep, &err) == 0);
    CHECK(rep.records >= NT * PER + NT * PER / 61 + NT * PER / 89);
    return 0;
}

/* The child: 3 threads append until killed, reporting each acknowledged seq on fd. */
static void child_opts(const char *state, int fd, int iter, const audit_opts *opts)
{
    audit_opts o = *opts;
    audit_log *l = NULL;
    if (audit_log_open(state, master, &o, &l, NULL) != MS_OK)
        _exit(3);
    struct worker w[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct worker){l, iter * 10 + i, 1000000, fd, 0, 0};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    _exit(0);
}

static void child(const char *state, int fd, int iter)
{
    audit_opts o = {0};
    o.epoch_records = 13;
    o.sth_records = 17;
    o.segment_bytes = 8192; /* rolls often, so kills land inside rolls too */
    child_opts(state, fd, iter, &o);
}

/* A power loss can leave a partial write that SIGKILL does not: append a prefix of the last
 * record (1..len-1 bytes) to the last segment, as an unacknowledged torn write. */
static int tear(const char *state, size_t r)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/audit", state);
    audit__segments segs = {0};
    if (audit__segments_open(dir, &segs, NULL) != MS_OK || segs.n == 0)
        return -1;
    audit__segment *last = &segs.v[segs.n - 1];
    audit__cursor c = {segs.v, segs.n, 0, 0};
    audit__rec x, prev = {0};
    while (audit__cursor_next(&c, &x, NULL) == MS_OK)
        prev = x;
    int rc = -1;
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, last->name);
    FILE *f = prev.raw ? fopen(path, "ab") : NULL;
    if (f != NULL) {
        size_t k = 1 + r % (prev.len - 1);
        rc = fwrite(prev.raw, 1, k, f) == k ? 0 : -1;
        rc |= fclose(f);
    }
    audit__segments_close(&segs);
    return rc;
}

static int line_has_seq(void *ud, const char *line, size_t len)
{
    uint64_t *want = ud;
    char key[40];
    int n = snprintf(key, sizeof key, "{\"seq\":%llu,", (unsigned long long)want[0]);
    if (len > (size_t)n && memcmp(line, key, (size_t)n) == 0 &&
        memmem(line, len, "\"kind\":\"event\"", 14) != NULL)
        want[1] = 1;
    return 0;
}

TEST(test_audit_survives_kill9_at_random_points)
{
    char state[512];
    snprintf(state, sizeof state, "%s/state", ms_test_tmpdir());
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    fprintf(stderr, "  seed %u\n", seed);
    srand(seed);
    uint64_t total_acked = 0, torn_seen = 0;
    for (int iter = 0; iter < 25; iter++) {
        int p[2];
        CHECK(pipe(p) == 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child(state, p[1], iter);
        }
        close(p[1]);
        uint64_t seq, max_acked = 0, n = 0;
        /* odd iterations kill while appending (after the first acknowledgement), even ones at
         * any moment, including inside the recovery of the previous kill */
        if (iter % 2 == 1 && read(p[0], &seq, sizeof seq) == (ssize_t)sizeof seq) {
            max_acked = seq;
            n++;
        }
        usleep((useconds_t)(rand() % 30000));
        kill(pid, SIGKILL);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status)); /* it was still writing when killed */
        while (read(p[0], &seq, sizeof seq) == (ssize_t)sizeof seq) {
            max_acked = seq > max_acked ? seq : max_acked;
            n++;
        }
        close(p[0]);
        total_acked += n;
        if (iter % 3 == 2)
            CHECK(tear(state, (size_t)rand()) == 0);
        audit_log *l = NULL;
        ms_err err = {0};
        CHECK(audit_log_open(state, master, NULL, &l, &err) == MS_OK); /* recovers */
        audit_stats st;
        audit_log_stats(l, &st);
        torn_seen += st.torn_bytes > 0;
        CHECK(audit_log_close(l, &err) == MS_OK);
        audit_verify_report rep;
        if (verify_state(state, &rep, &err) != 0) {
            fprintf(stderr, "  iteration %d: %s\n", iter, err.msg);
            return 1;
        }
        CHECK(n == 0 || rep.records > max_acked);
        if (n > 0) { /* the last acknowledged record is there, as the event it was */
            uint64_t want[2] = {max_acked, 0};
            CHECK(audit_export(state, master, max_acked, 1, line_has_seq, want, &err) == MS_OK);
            CHECK(want[1] == 1);
        }
    }
    fprintf(stderr, "  %llu acknowledged records, %llu torn tails cut\n",
            (unsigned long long)total_acked, (unsigned long long)torn_seen);
    CHECK(total_acked > 0);
    return 0;
}

struct seen {
    uint64_t lo, n;
    uint8_t *bit; /* bit[seq - lo]: an event with that seq is in the log */
};

static int mark_event(void *ud, const char *line, size_t len)
{
    struct seen *sn = ud;
    unsigned long long seq = 0;
    if (memmem(line, len, "\"kind\":\"event\"", 14) != NULL &&
        sscanf(line, "{\"seq\":%llu,", &seq) == 1 && seq >= sn->lo && seq - sn->lo < sn->n)
        sn->bit[seq - sn->lo] = 1;
    return 0;
}

/* Appends in a child with `sync` and nothing that writes by itself (no timed fdatasync, no
 * batch, epoch, tree head or segment limit within reach), kills it with SIGKILL once it has
 * acknowledged 200 records, reopens; *acked = acknowledged records, *kept = how many of them the
 * recovered, verified log holds as events. */
static int kill_after_acks(const char *state, audit_sync sync, uint64_t *acked, uint64_t *kept)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(p[0]);
        audit_opts o = {0};
        o.sync = sync;
        o.batch_ms = 600000;
        o.batch_records = o.epoch_records = o.sth_records = 1000000;
        child_opts(state, p[1], 0, &o);
    }
    close(p[1]);
    size_t n = 0, cap = 1024;
    uint64_t seq, *v = malloc(cap * sizeof *v);
    int killed = 0;
    while (v != NULL && read(p[0], &seq, sizeof seq) == (ssize_t)sizeof seq) {
        if (n == cap) {
            uint64_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (nv == NULL)
                break;
            v = nv;
        }
        v[n++] = seq;
        if (n == 200 && !killed) {
            kill(pid, SIGKILL);
            killed = 1;
        }
    }
    close(p[0]);
    if (!killed)
        kill(pid, SIGKILL);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status) || v == NULL || n == 0) {
        free(v);
        return -1;
    }
    audit_log *l = NULL;
    ms_err err = {0};
    int rc = audit_log_open(state, master, NULL, &l, &err) == MS_OK ? 0 : -1;
    if (rc == 0 && audit_log_close(l, &err) != MS_OK)
        rc = -1;
    audit_verify_report rep;
    if (rc == 0 && verify_state(state, &rep, &err) != 0)
        rc = -1;
    struct seen sn = {UINT64_MAX, 0, NULL};
    for (size_t i = 0; i < n; i++)
        sn.lo = v[i] < sn.lo ? v[i] : sn.lo;
    for (size_t i = 0; i < n; i++)
        sn.n = v[i] - sn.lo + 1 > sn.n ? v[i] - sn.lo + 1 : sn.n;
    sn.bit = calloc(sn.n, 1);
    if (rc == 0 && (sn.bit == NULL ||
                    audit_export(state, master, sn.lo, sn.n, mark_event, &sn, &err) != MS_OK))
        rc = -1;
    *acked = n;
    *kept = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        *kept += sn.bit[v[i] - sn.lo];
    free(sn.bit);
    free(v);
    return rc;
}

/* AUDIT_SYNC_WRITE (the gateway's default): an acknowledged record is in the file even though no
 * fdatasync ran, so the process dying loses none. The same run with AUDIT_SYNC_BATCH, which
 * acknowledges buffered records, loses them: the check can fail. */
TEST(test_audit_write_mode_acked_records_survive_kill9)
{
    char state[512];
    uint64_t acked = 0, kept = 0;
    snprintf(state, sizeof state, "%s/write", ms_test_tmpdir());
    CHECK(kill_after_acks(state, AUDIT_SYNC_WRITE, &acked, &kept) == 0);
    fprintf(stderr, "  write: %llu acknowledged, %llu kept\n", (unsigned long long)acked,
            (unsigned long long)kept);
    CHECK(acked >= 200);
    CHECK_EQ_INT(kept, acked);
    snprintf(state, sizeof state, "%s/batch", ms_test_tmpdir());
    CHECK(kill_after_acks(state, AUDIT_SYNC_BATCH, &acked, &kept) == 0);
    fprintf(stderr, "  batch: %llu acknowledged, %llu kept\n", (unsigned long long)acked,
            (unsigned long long)kept);
    CHECK(acked >= 200);
    CHECK(kept < acked);
    return 0;
}

/* A log in AUDIT_SYNC_WRITE in the test folder with nothing else that syncs by itself (no batch,
 * epoch or tree head within reach), its timed sync every batch_ms, segments of segment_bytes
 * (0: the default); *r becomes an event record to append. NULL when it cannot be opened. */
static audit_log *open_write_mode(uint32_t batch_ms, uint64_t segment_bytes, audit_record *r)
{
    char state[512];
    snprintf(state, sizeof state, "%s/state", ms_test_tmpdir());
    audit_opts o = {0};
    o.sync = AUDIT_SYNC_WRITE;
    o.batch_ms = batch_ms;
    o.batch_records = o.epoch_records = o.sth_records = 1000000;
    o.segment_bytes = segment_bytes;
    memset(r, 0, sizeof *r);
    r->action = "chat.completion";
    r->request_id = "r1";
    audit_log *l = NULL;
    return audit_log_open(state, master, &o, &l, NULL) == MS_OK ? l : NULL;
}

/* AUDIT_SYNC_WRITE: records become durable (fdatasync) within about batch_ms without a flush. */
TEST(test_audit_write_mode_syncs_within_batch_ms)
{
    audit_record r;
    ms_err err = {0};
    audit_log *l = open_write_mode(5, 0, &r);
    CHECK(l != NULL);
    uint64_t seq = 0;
    CHECK(audit_log_append(l, &r, &seq, &err) == MS_OK);
    int waited = 0;
    while (audit_log_durable(l) <= seq && waited < 5000) { /* polls up to 5 s: a slow disk */
        usleep(1000);
        waited++;
    }
    CHECK(audit_log_durable(l) > seq);
    CHECK(audit_log_close(l, &err) == MS_OK);
    return 0;
}

/* AUDIT_SYNC_WRITE with no timed sync: a segment roll syncs the records already written to the
 * old segment before closing it, so `durable` reaches at least the new segment's first record
 * (a roll that saw an empty buffer and skipped the sync would leave them unsynced and closed). */
TEST(test_audit_write_mode_segment_roll_syncs_written_records)
{
    audit_record r;
    ms_err err = {0};
    audit_log *l = open_write_mode(600000, 4096, &r);
    CHECK(l != NULL);
    for (int i = 0; i < 80; i++)
        CHECK(audit_log_append(l, &r, NULL, &err) == MS_OK);
    pthread_mutex_lock(&l->mu);
    uint64_t first = l->seg_first, durable = l->durable, records = l->next_seq;
    pthread_mutex_unlock(&l->mu);
    fprintf(stderr, "  %llu records, last segment from %llu, durable %llu\n",
            (unsigned long long)records, (unsigned long long)first, (unsigned long long)durable);
    CHECK(first > 20); /* it rolled */
    CHECK(durable >= first);
    CHECK(audit_log_close(l, &err) == MS_OK);
    return 0;
}

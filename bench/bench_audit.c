/*
 * Audit log benchmark: records/s appended (AUDIT_SYNC_BATCH: one write + fdatasync per 1024
 * records; AUDIT_SYNC_WRITE with 1 and 16 threads: a write per record, an fdatasync per batch; and
 * AUDIT_SYNC_EACH with 1, 8 and 16 threads, where concurrent appenders share fsyncs),
 * records/s verified (chain, forward-secure MACs, Merkle root and tree head signatures), and the
 * I/O floor: the same bytes written with the same fdatasync batching and no crypto.
 * Usage: medseal_bench_audit DIR [N [ONLY]]   (DIR on the disk to measure; N records, default
 * 200000; ONLY: run only the benchmarks whose name contains it, e.g. "each")
 * Prints per benchmark the median of 5 runs after one warm-up: "name iters ns_op rec_s cpu_rec_s"
 * (cpu_rec_s: records per second of process CPU time, all threads; the machine is shared, so
 * wall-clock rates depend on its load while CPU rates mostly do not).
 * Trusts: nothing; owns DIR/bench-* (removed).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "medseal/audit.h"

#define RUNS 5

static const uint8_t master[MS_KEY_LEN] = {1, 2, 3, 4};
static const audit_phi_count phi[] = {{"NAME", 3}, {"DATE", 2}, {"MRN", 1}};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_used; /* CPU seconds of the last run */

static void record(audit_record *r, char *rid, size_t n, long i)
{
    memset(r, 0, sizeof *r);
    snprintf(rid, n, "req-%08lx-4c1d-9a7e", i);
    r->request_id = rid;
    r->key_id = "k_3f9a1c";
    r->role = "clinician";
    r->action = "chat.completion";
    r->route = "/v1/chat/completions";
    r->model = "llama-3.1-8b-instruct";
    r->outcome = "ok";
    r->status = 200;
    r->bytes_in = 2048;
    r->bytes_out = 1024;
    r->phi = phi;
    r->n_phi = 3;
    r->t_total_us = 812345;
    r->t_phi_us = 1234;
    r->t_upstream_us = 800000;
    r->patient = "MS-ABCDEFGHIJKLMNOP";
    r->evidence_hash = "9f2c000000000000000000000000000000000000000000000000000000000001";
}

static void clean(const char *state)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", state);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
}

struct job {
    audit_log *l;
    long from, n;
    int fail;
};

static void *appender(void *arg)
{
    struct job *j = arg;
    char rid[48];
    audit_record r;
    for (long i = j->from; i < j->from + j->n; i++) {
        record(&r, rid, sizeof rid, i);
        if (audit_log_append(j->l, &r, NULL, NULL) != MS_OK)
            j->fail = 1;
    }
    return NULL;
}

/* Appends n records with `threads` threads into a fresh log; returns seconds (open/close out). */
static double append_run(const char *state, audit_sync sync, int threads, long n)
{
    clean(state);
    audit_opts o = {0};
    o.sync = sync;
    audit_log *l = NULL;
    ms_err err = {0};
    if (audit_log_open(state, master, &o, &l, &err) != MS_OK) {
        fprintf(stderr, "open: %s\n", err.msg);
        exit(1);
    }
    struct job j[16];
    pthread_t t[16];
    double t0 = now_s(), c0 = cpu_s();
    for (int i = 0; i < threads; i++) {
        j[i] = (struct job){l, i * (n / threads), n / threads, 0};
        pthread_create(&t[i], NULL, appender, &j[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    if (audit_log_flush(l, &err) != MS_OK)
        exit(1);
    double dt = now_s() - t0;
    cpu_used = cpu_s() - c0;
    for (int i = 0; i < threads; i++) {
        if (j[i].fail)
            exit(1);
    }
    audit_log_close(l, NULL);
    return dt;
}

static int keyfile(const char *state, const char *name, uint8_t k[32])
{
    char p[1100];
    snprintf(p, sizeof p, "%s/audit/%s", state, name);
    return ms_keyfile_read(p, k, NULL) == MS_OK ? 0 : -1;
}

static double verify_run(const char *state, uint64_t *records)
{
    uint8_t pub[32], k0[32];
    if (keyfile(state, "sign.pub", pub) || keyfile(state, "initial.key", k0))
        exit(1);
    audit_verify_report rep;
    ms_err err = {0};
    double t0 = now_s(), c0 = cpu_s();
    if (audit_verify(state, pub, k0, 0, &rep, &err) != MS_OK) {
        fprintf(stderr, "verify: %s\n", err.msg);
        exit(1);
    }
    *records = rep.records;
    cpu_used = cpu_s() - c0;
    return now_s() - t0;
}

/* The I/O floor: `bytes` written in `batches` write+fdatasync pairs. */
static double floor_run(const char *dir, size_t bytes, long batches)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/floor.bin", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    size_t per = bytes / (size_t)batches;
    char *buf = calloc(1, per);
    if (fd < 0 || buf == NULL)
        exit(1);
    double t0 = now_s(), c0 = cpu_s();
    for (long i = 0; i < batches; i++) {
        if (write(fd, buf, per) != (ssize_t)per || fdatasync(fd) != 0)
            exit(1);
    }
    double dt = now_s() - t0;
    cpu_used = cpu_s() - c0;
    close(fd);
    unlink(p);
    free(buf);
    return dt;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double cpu[RUNS];

static const char *only = "";

static int want(const char *name)
{
    return strstr(name, only) != NULL;
}

static void report(const char *name, double *t, long n)
{
    if (!want(name))
        return;
    qsort(t, RUNS, sizeof *t, cmp);
    qsort(cpu, RUNS, sizeof *cpu, cmp);
    double med = t[RUNS / 2];
    printf("%-26s %8ld %9.0f %10.0f %10.0f\n", name, n, med * 1e9 / (double)n, (double)n / med,
           (double)n / cpu[RUNS / 2]);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: medseal_bench_audit DIR [N]\n");
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 200000;
    char state[1024];
    snprintf(state, sizeof state, "%s/bench-audit-state", argv[1]);
    double t[RUNS];
    only = argc > 3 ? argv[3] : "";
    printf("%-26s %8s %9s %10s %10s\n", "name", "iters", "ns_op", "rec_s", "cpu_rec_s");
    append_run(state, AUDIT_SYNC_BATCH, 1, n / 10); /* warm-up */
    for (int i = 0; i < RUNS && want("append_batch_1thread"); i++) {
        t[i] = append_run(state, AUDIT_SYNC_BATCH, 1, n);
        cpu[i] = cpu_used;
    }
    report("append_batch_1thread", t, n);
    for (int i = 0; i < RUNS && want("append_batch_4threads"); i++) {
        t[i] = append_run(state, AUDIT_SYNC_BATCH, 4, n);
        cpu[i] = cpu_used;
    }
    report("append_batch_4threads", t, n);
    /* AUDIT_SYNC_WRITE (the gateway's default): a write(2) per append, an fdatasync per batch */
    for (int i = 0; i < RUNS && want("append_write_1thread"); i++) {
        t[i] = append_run(state, AUDIT_SYNC_WRITE, 1, n / 4);
        cpu[i] = cpu_used;
    }
    report("append_write_1thread", t, n / 4);
    for (int i = 0; i < RUNS && want("append_write_16threads"); i++) {
        t[i] = append_run(state, AUDIT_SYNC_WRITE, 16, n / 4);
        cpu[i] = cpu_used;
    }
    report("append_write_16threads", t, n / 4);
    long ne = n / 100 > 1000 ? n / 100 : 1000;
    for (int i = 0; i < RUNS && want("append_each_1thread"); i++) {
        t[i] = append_run(state, AUDIT_SYNC_EACH, 1, ne);
        cpu[i] = cpu_used;
    }
    report("append_each_1thread", t, ne);
    for (int i = 0; i < RUNS && want("append_each_8threads"); i++) {
        t[i] = append_run(state, AUDIT_SYNC_EACH, 8, ne * 4);
        cpu[i] = cpu_used;
    }
    report("append_each_8threads", t, ne * 4);
    /* 16 appenders: the gateway bench's 16 connections, each waiting for its record */
    for (int i = 0; i < RUNS && want("append_each_16threads"); i++) {
        t[i] = append_run(state, AUDIT_SYNC_EACH, 16, ne * 8);
        cpu[i] = cpu_used;
    }
    report("append_each_16threads", t, ne * 8);
    uint64_t recs = 0;
    if (want("verify")) {
        append_run(state, AUDIT_SYNC_BATCH, 1, n * 5);
        verify_run(state, &recs); /* warm-up (page cache) */
    }
    for (int i = 0; i < RUNS && want("verify"); i++) {
        t[i] = verify_run(state, &recs);
        cpu[i] = cpu_used;
    }
    report("verify", t, (long)recs);
    for (int i = 0; i < RUNS && want("io_floor_same_batching"); i++) {
        t[i] = floor_run(argv[1], (size_t)n * 400, n / 1024);
        cpu[i] = cpu_used;
    }
    report("io_floor_same_batching", t, n);
    clean(state);
    return 0;
}

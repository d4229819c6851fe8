/*
 * Benchmark of the PHI scrubber: throughput (MB/s, one core) of phi_scrub over a corpus file
 * whose documents are separated by form feeds ("\f\n"); each document is one phi_scrub call, as
 * the gateway and the de-identifier use it. One warm-up, then 5 timed runs; prints the median as
 * "name iters ns_op mb_s cpu_mb_s=X" (ns_op = ns per
 * document; cpu_mb_s = MB per CPU-second of the thread, robust on a shared host). Rows: tag and
 * surrogate mode with one context for the corpus, and surrogate mode with a fresh context per
 * document (phi_scrub_surrogate_per_doc: what a gateway request pays, key setup included). Usage:
 * medseal_bench_phi CORPUS [filter]. With "--dump tag|surrogate OUT" it instead scrubs every
 * document once (one fresh context) and writes each output and its spans to OUT, so an
 * optimisation can be checked for byte-identical results (diff two dumps).
 * Trusts: the corpus file (a benchmark input). Owns: its buffers.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medseal/core.h"
#include "medseal/phi.h"

#define RUNS 5

struct doc {
    const char *p;
    size_t n;
};

static double clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static phi_ctx *bench_ctx(phi_mode mode);

/* One pass over the documents with context c, or, when c is NULL, a fresh context per document
 * (as the gateway scrubs a request: nothing carried over from other documents). */
static double run_once(phi_ctx *c, phi_mode mode, const struct doc *d, size_t nd, ms_buf *out,
                       double *cpu)
{
    double t0 = now_ns(), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    for (size_t k = 0; k < nd; k++) {
        ms_buf_reset(out);
        phi_ctx *x = c != NULL ? c : bench_ctx(mode);
        if (x == NULL || phi_scrub(x, d[k].p, d[k].n, out, NULL, NULL, NULL) != MS_OK) {
            fprintf(stderr, "bench_phi: scrub failed on document %zu\n", k);
            exit(1);
        }
        if (c == NULL)
            phi_ctx_free(x);
    }
    *cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    return now_ns() - t0;
}

static phi_ctx *bench_ctx(phi_mode mode)
{
    static const uint8_t key[MS_KEY_LEN] = {1};
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.mode = mode;
    o.key = key;
    phi_ctx *c = NULL;
    return phi_ctx_new(&o, &c, NULL) == MS_OK ? c : NULL;
}

/* fresh: a context per document (run_once) instead of one for the whole corpus */
static void bench(const char *name, phi_mode mode, int fresh, const struct doc *d, size_t nd,
                  size_t bytes)
{
    phi_ctx *c = fresh ? NULL : bench_ctx(mode);
    if (c == NULL && !fresh)
        exit(1);
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    double t[RUNS], cpu[RUNS], dummy;
    run_once(c, mode, d, nd, &out, &dummy); /* warm-up */
    for (int r = 0; r < RUNS; r++)
        t[r] = run_once(c, mode, d, nd, &out, &cpu[r]);
    qsort(t, RUNS, sizeof t[0], cmp_d);
    qsort(cpu, RUNS, sizeof cpu[0], cmp_d);
    double med = t[RUNS / 2], mb = (double)bytes / (1024.0 * 1024.0);
    /* wall-clock MB/s, and MB per CPU-second of this thread (per core, robust to a busy host) */
    printf("%s %zu %.0f %.1f cpu_mb_s=%.1f\n", name, nd, med / (double)nd, mb / (med / 1e9),
           mb / (cpu[RUNS / 2] / 1e9));
    ms_buf_free(&out);
    phi_ctx_free(c);
}

/* One pass over the corpus with a fresh context: output text, then one line per span. */
static int dump(phi_mode mode, const struct doc *d, size_t nd, const char *path)
{
    FILE *f = fopen(path, "w");
    phi_ctx *c = f != NULL ? bench_ctx(mode) : NULL;
    if (c == NULL) {
        if (f != NULL)
            fclose(f);
        return 1;
    }
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    for (size_t k = 0; k < nd; k++) {
        phi_span *sp = NULL;
        size_t ns = 0;
        ms_buf_reset(&out);
        if (phi_scrub(c, d[k].p, d[k].n, &out, &sp, &ns, NULL) != MS_OK)
            return 1;
        fprintf(f, "\f%zu\n", k);
        fwrite(out.p, 1, out.len, f);
        for (size_t q = 0; q < ns; q++)
            fprintf(f, "\n@%d %d %zu %zu %zu %zu", (int)sp[q].cls, (int)sp[q].source, sp[q].start,
                    sp[q].end, sp[q].out_start, sp[q].out_end);
        fputc('\n', f);
        phi_spans_free(c, sp);
    }
    size_t counts[PHI_CLASS_COUNT];
    phi_ctx_counts(c, counts);
    for (size_t q = 0; q < PHI_CLASS_COUNT; q++)
        fprintf(f, "count %s %zu\n", phi_class_name((phi_class)q), counts[q]);
    fprintf(f, "map %zu\n", phi_ctx_map_size(c));
    ms_buf_free(&out);
    phi_ctx_free(c);
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: medseal_bench_phi CORPUS [filter]\n");
        return 2;
    }
    ms_buf in;
    ms_err err = {0};
    ms_buf_init(&in, NULL, 0);
    if (ms_file_read(argv[1], NULL, 0, &in, &err) != MS_OK) {
        fprintf(stderr, "bench_phi: %s\n", err.msg);
        return 1;
    }
    size_t cap = 1024, nd = 0;
    struct doc *d = malloc(cap * sizeof *d);
    const char *p = (const char *)in.p, *end = p + in.len;
    while (d != NULL && p < end) {
        const char *ff = memchr(p, '\f', (size_t)(end - p));
        size_t n = ff ? (size_t)(ff - p) : (size_t)(end - p);
        if (nd == cap) {
            cap *= 2;
            struct doc *nd2 = realloc(d, cap * sizeof *d);
            if (nd2 == NULL) {
                free(d);
                return 1;
            }
            d = nd2;
        }
        d[nd++] = (struct doc){p, n};
        p += n + (ff ? 1 : 0);
    }
    if (d == NULL)
        return 1;
    if (argc == 5 && strcmp(argv[2], "--dump") == 0) {
        int rc = dump(strcmp(argv[3], "surrogate") == 0 ? PHI_MODE_SURROGATE : PHI_MODE_TAG, d, nd,
                      argv[4]);
        free(d);
        ms_buf_free(&in);
        return rc;
    }
    const char *f = argc > 2 ? argv[2] : "";
    if (strstr("phi_scrub_tag", f) != NULL || strstr(f, "tag") != NULL)
        bench("phi_scrub_tag", PHI_MODE_TAG, 0, d, nd, in.len);
    if (strstr("phi_scrub_surrogate", f) != NULL || strstr(f, "surrogate") != NULL)
        bench("phi_scrub_surrogate", PHI_MODE_SURROGATE, 0, d, nd, in.len);
    /* the corpus repeats its 2,828 documents, so with one context nearly every value in
     * surrogate mode is one already replaced; a context per document generates each anew */
    if (strstr("phi_scrub_surrogate_per_doc", f) != NULL || strstr(f, "per_doc") != NULL)
        bench("phi_scrub_surrogate_per_doc", PHI_MODE_SURROGATE, 1, d, nd, in.len);
    free(d);
    ms_buf_free(&in);
    return 0;
}

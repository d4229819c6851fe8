/*
 * DICOM codec micro-benchmarks (no process start, no file system): a synthetic CT-like file
 * (about 120 header elements, a nested sequence, 512x512x16-bit pixel data) built in memory with
 * the codec's own setters, then timed: parse (full and stop_before_pixels), DICOM JSON of the
 * header, write (explicit VR LE); mb_s over the whole file, or over the header for the header
 * benchmarks. dcm_file_read_mem copies its input, so the parse numbers include that copy. One
 * warm-up, then the median of 7 runs; one line per benchmark: "name iters ns_op mb_s". Usage:
 * medseal_bench_dicom [filter]. Trusts: nothing external. Owns: its buffers.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medseal/dicom.h"

#define RUNS 7

static uint8_t *input;
static size_t input_len;
static size_t header_len; /* bytes before PixelData's header */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int build_input(void)
{
    dcm_file *f = NULL;
    if (dcm_file_new(NULL, &f, NULL) != MS_OK)
        return -1;
    dcm_dataset *ds = dcm_file_dataset(f);
    char v[64];
    for (uint16_t e = 0x1000; e < 0x1060; e++) { /* 96 public-looking text elements */
        snprintf(v, sizeof v, "VALUE %u", e);
        dcm_dataset_set_text(ds, DCM_TAG(0x0018, e), DCM_VR_LO, v, NULL);
    }
    dcm_dataset_set_text(ds, DCM_TAG(0x0008, 0x0005), DCM_VR_CS, "ISO_IR 100", NULL);
    dcm_dataset_set_text(ds, DCM_TAG(0x0008, 0x0018), DCM_VR_UI, "1.2.826.0.1.3680043.2.1", NULL);
    dcm_dataset_set_text(ds, DCM_TAG(0x0010, 0x0010), DCM_VR_PN, "Doe^Jane", NULL);
    dcm_dataset_set_text(ds, DCM_TAG(0x0020, 0x0032), DCM_VR_DS, "-125.5\\-130.25\\42.0", NULL);
    dcm_elem *sq = NULL;
    dcm_dataset *item = NULL;
    dcm_dataset_set_sequence(ds, DCM_TAG(0x0008, 0x1140), &sq, NULL);
    for (int i = 0; i < 8; i++) {
        dcm_elem_item_append(sq, &item, NULL);
        dcm_dataset_set_text(item, DCM_TAG(0x0008, 0x1155), DCM_VR_UI, "1.2.3.4.5.6.7", NULL);
    }
    static const uint8_t us[2] = {0, 2};
    dcm_dataset_set_bytes(ds, DCM_TAG(0x0028, 0x0010), DCM_VR_US, us, 2, NULL);
    dcm_dataset_set_bytes(ds, DCM_TAG(0x0028, 0x0011), DCM_VR_US, us, 2, NULL);
    size_t npx = (size_t)512 * 512 * 2;
    uint8_t *px = calloc(1, npx);
    if (px == NULL)
        return -1;
    for (size_t i = 0; i < npx; i++)
        px[i] = (uint8_t)(i * 31);
    dcm_dataset_set_bytes(ds, DCM_TAG_PIXEL_DATA, DCM_VR_OW, px, npx, NULL);
    free(px);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    int rc = dcm_file_write_mem(f, NULL, &b, NULL) == MS_OK ? 0 : -1;
    input = ms_buf_steal(&b, &input_len);
    dcm_file_free(f);
    f = NULL;
    if (rc == 0 && dcm_file_read_mem(input, input_len, NULL, &f, NULL) == MS_OK) {
        dcm_elem *pe = dcm_dataset_find(dcm_file_dataset(f), DCM_TAG_PIXEL_DATA);
        header_len = pe ? dcm_elem_offset(pe) : input_len;
        dcm_file_free(f);
    }
    return rc;
}

typedef int (*bench_fn)(size_t iters);

static int b_parse(size_t iters, int stop)
{
    dcm_read_opts o = {.stop_before_pixels = stop};
    for (size_t i = 0; i < iters; i++) {
        dcm_file *f = NULL;
        if (dcm_file_read_mem(input, input_len, &o, &f, NULL) != MS_OK)
            return -1;
        dcm_file_free(f);
    }
    return 0;
}

static int b_parse_full(size_t iters)
{
    return b_parse(iters, 0);
}

static int b_parse_headers(size_t iters)
{
    return b_parse(iters, 1);
}

static int b_json(size_t iters)
{
    dcm_file *f = NULL;
    if (dcm_file_read_mem(input, input_len, NULL, &f, NULL) != MS_OK)
        return -1;
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    for (size_t i = 0; i < iters; i++) {
        ms_buf_reset(&b);
        if (dcm_dataset_json_write(dcm_file_dataset(f), NULL, &b, NULL) != MS_OK)
            return -1;
    }
    ms_buf_free(&b);
    dcm_file_free(f);
    return 0;
}

static int b_write(size_t iters)
{
    dcm_file *f = NULL;
    if (dcm_file_read_mem(input, input_len, NULL, &f, NULL) != MS_OK)
        return -1;
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    for (size_t i = 0; i < iters; i++) {
        ms_buf_reset(&b);
        if (dcm_file_write_mem(f, NULL, &b, NULL) != MS_OK)
            return -1;
    }
    ms_buf_free(&b);
    dcm_file_free(f);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run(const char *name, bench_fn fn, size_t iters, size_t bytes)
{
    double t[RUNS];
    if (fn(1) != 0)
        return -1;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        if (fn(iters) != 0)
            return -1;
        t[r] = (now_ns() - t0) / (double)iters;
    }
    qsort(t, RUNS, sizeof t[0], cmp_double);
    double ns = t[RUNS / 2];
    printf("%s %zu %.0f %.1f\n", name, iters, ns, (double)bytes / ns * 1e9 / 1048576.0);
    return 0;
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : "";
    if (build_input() != 0) {
        fprintf(stderr, "bench_dicom: could not build the input\n");
        return 1;
    }
    struct {
        const char *name;
        bench_fn fn;
        size_t iters;
        size_t bytes; /* mb_s is computed over these */
    } benches[] = {
        {"dcm_parse_full_512x512", b_parse_full, 200, input_len},
        {"dcm_parse_headers_512x512", b_parse_headers, 2000, header_len},
        {"dcm_json_header", b_json, 2000, header_len},
        {"dcm_write_512x512", b_write, 200, input_len},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (strstr(benches[i].name, filter) != NULL &&
            run(benches[i].name, benches[i].fn, benches[i].iters, benches[i].bytes) != 0)
            rc = 1;
    ms_free(NULL, input);
    return rc;
}

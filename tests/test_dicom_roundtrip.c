/*
 * Round-trip tests of the DICOM writer: read -> write -> read gives the same dataset (compared
 * as DICOM JSON with binary values and pixel data, group lengths left out because the writer
 * recomputes them), in every native transfer syntax; byte-identical output for canonical
 * inputs; the file writer's temp + rename, refusal to overwrite, and copy_file_range path.
 * Inputs: synthetic files built here, Debian's pydicom test files when installed, and
 * make_study.py output when ../shared is present (skipped otherwise).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medseal/dicom.h"
#include "test.h"

#define PYDICOM_DATA "/usr/lib/python3/dist-packages/pydicom/data"

/* Removes (gggg,0000) group lengths so datasets compare regardless of recomputation. */
static void drop_group_lengths(dcm_dataset *ds)
{
    for (size_t i = 0; i < dcm_dataset_count(ds);) {
        dcm_elem *e = dcm_dataset_at(ds, i);
        if (DCM_ELEMENT(dcm_elem_tag(e)) == 0) {
            dcm_dataset_remove(ds, dcm_elem_tag(e), NULL);
            continue;
        }
        for (size_t k = 0; k < dcm_elem_item_count(e); k++)
            drop_group_lengths(dcm_elem_item(e, k));
        i++;
    }
}

static int json_of(dcm_file *f, ms_buf *out)
{
    dcm_json_opts jo = {.include_pixels = 1};
    ms_err err = {0};
    drop_group_lengths(dcm_file_dataset(f));
    return dcm_dataset_json_write(dcm_file_dataset(f), &jo, out, &err) == MS_OK ? 0 : -1;
}

/* Writes f with ts, reads it back, compares JSON. Returns 0 equal, 1 differ, 2 error. */
static int roundtrip(const uint8_t *in, size_t n, const char *ts, int undef, ms_buf *written)
{
    dcm_file *f = NULL, *g = NULL;
    ms_err err = {0};
    if (dcm_file_read_mem(in, n, NULL, &f, &err) != MS_OK)
        return 2;
    dcm_write_opts wo = {.transfer_syntax = ts, .undefined_seq_lengths = undef};
    ms_buf a, b;
    ms_buf_init(&a, NULL, 0);
    ms_buf_init(&b, NULL, 0);
    int rc = 2;
    if (dcm_file_write_mem(f, &wo, written, &err) != MS_OK) {
        fprintf(stderr, "  write %s: %s\n", ts ? ts : "default", err.msg);
        goto out;
    }
    if (dcm_file_read_mem(written->p, written->len, NULL, &g, &err) != MS_OK) {
        fprintf(stderr, "  reread %s: %s\n", ts ? ts : "default", err.msg);
        goto out;
    }
    if (json_of(f, &a) || json_of(g, &b))
        goto out;
    rc = (a.len == b.len && memcmp(a.p, b.p, a.len) == 0) ? 0 : 1;
out:
    ms_buf_free(&a);
    ms_buf_free(&b);
    dcm_file_free(f);
    dcm_file_free(g);
    return rc;
}

static int is_encapsulated(const uint8_t *in, size_t n)
{
    dcm_file *f = NULL;
    if (dcm_file_read_mem(in, n, NULL, &f, NULL) != MS_OK)
        return 1;
    dcm_elem *e = dcm_dataset_find(dcm_file_dataset(f), DCM_TAG_PIXEL_DATA);
    int r = e != NULL && dcm_elem_is_encapsulated(e);
    dcm_file_free(f);
    return r;
}

/* An odd-length binary value (invalid, PS3.5 7.1.1) is padded on write, so it comes back one
 * byte longer: such inputs cannot round-trip exactly. */
static int has_odd_binary(const dcm_dataset *ds)
{
    for (size_t i = 0; i < dcm_dataset_count(ds); i++) {
        const dcm_elem *e = dcm_dataset_at(ds, i);
        size_t n = 0;
        const char *vr = dcm_vr_str(dcm_elem_vr(e));
        if (dcm_elem_bytes(e, &n) != NULL && (n & 1u) && strchr("OU", vr[0]) != NULL)
            return 1;
        for (size_t k = 0; k < dcm_elem_item_count(e); k++)
            if (has_odd_binary(dcm_elem_item(e, k)))
                return 1;
    }
    return 0;
}

/* Every readable file of a folder round-trips in every syntax (implicit VR loses private VRs,
 * so only a clean re-read is required there). Returns the number of failures. */
static int roundtrip_dir(const char *dir, int *files)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    static const char *const syntaxes[] = {NULL, "original", DCM_TS_EXPLICIT_BE, DCM_TS_DEFLATED_LE,
                                           DCM_TS_IMPLICIT_LE};
    int failures = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        ms_buf in;
        if (de->d_name[0] == '.' || ms_file_read(path, NULL, 0, &in, NULL) != MS_OK)
            continue;
        dcm_file *f = NULL;
        if (dcm_file_read_mem(in.p, in.len, NULL, &f, NULL) != MS_OK) {
            ms_buf_free(&in);
            continue;
        }
        int odd = has_odd_binary(dcm_file_dataset(f));
        dcm_file_free(f);
        (*files)++;
        int encap = is_encapsulated(in.p, in.len);
        for (size_t s = 0; s < sizeof syntaxes / sizeof syntaxes[0]; s++) {
            if (encap && (syntaxes[s] == NULL || strcmp(syntaxes[s], "original") != 0))
                continue; /* compressed pixel data keeps its syntax (write refuses, tested below) */
            for (int undef = 0; undef < 2; undef++) {
                ms_buf w;
                ms_buf_init(&w, NULL, 0);
                int r = roundtrip(in.p, in.len, syntaxes[s], undef, &w);
                int implicit = syntaxes[s] && strcmp(syntaxes[s], DCM_TS_IMPLICIT_LE) == 0;
                if (r == 2 || (r == 1 && !implicit && !odd)) {
                    fprintf(stderr, "  %s: %s undef=%d: %s\n", de->d_name,
                            syntaxes[s] ? syntaxes[s] : "default", undef,
                            r == 2 ? "error" : "dataset differs");
                    failures++;
                }
                ms_buf_free(&w);
            }
        }
        ms_buf_free(&in);
    }
    closedir(d);
    return failures;
}

TEST(test_dcm_roundtrip_pydicom_files)
{
    struct stat st;
    if (stat(PYDICOM_DATA "/test_files", &st) != 0)
        SKIP("python3-pydicom test files not installed");
    int files = 0;
    int fails = roundtrip_dir(PYDICOM_DATA "/test_files", &files);
    fails += roundtrip_dir(PYDICOM_DATA "/charset_files", &files);
    fprintf(stderr, "  %d files round-tripped\n", files);
    CHECK(files > 50);
    CHECK_EQ_INT(fails, 0);
    return 0;
}

/* Canonical inputs (as written by a careful writer) come back byte for byte. */
TEST(test_dcm_roundtrip_byte_identical_pydicom)
{
    static const char *const canonical[] = {
        "test_files/CT_small.dcm",  "test_files/ExplVR_BigEnd.dcm",    "test_files/MR_small.dcm",
        "test_files/rtplan.dcm",    "test_files/test-SR.dcm",          "charset_files/chrX1.dcm",
        "charset_files/chrH31.dcm", "charset_files/chrSQEncoding.dcm",
    };
    struct stat st;
    if (stat(PYDICOM_DATA "/test_files", &st) != 0)
        SKIP("python3-pydicom test files not installed");
    for (size_t i = 0; i < sizeof canonical / sizeof canonical[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", PYDICOM_DATA, canonical[i]);
        ms_buf in, out;
        CHECK(ms_file_read(path, NULL, 0, &in, NULL) == MS_OK);
        ms_buf_init(&out, NULL, 0);
        dcm_file *f = NULL;
        ms_err err = {0};
        CHECK(dcm_file_read_mem(in.p, in.len, NULL, &f, &err) == MS_OK);
        dcm_write_opts wo = {.transfer_syntax = "original"};
        CHECK(dcm_file_write_mem(f, &wo, &out, &err) == MS_OK);
        if (out.len != in.len || memcmp(out.p, in.p, in.len) != 0) {
            fprintf(stderr, "  %s: not byte-identical\n", canonical[i]);
            return 1;
        }
        dcm_file_free(f);
        ms_buf_free(&in);
        ms_buf_free(&out);
    }
    return 0;
}

/* A synthetic file written by us is canonical: write(read(write(x))) == write(x). */
TEST(test_dcm_roundtrip_synthetic_canonical)
{
    dcm_file *f = NULL;
    ms_err err = {0};
    CHECK(dcm_file_new(NULL, &f, &err) == MS_OK);
    dcm_dataset *ds = dcm_file_dataset(f);
    CHECK(dcm_dataset_set_text(ds, DCM_TAG(0x0008, 0x0016), DCM_VR_UI, "1.2.840.10008.5.1.4.1.1.7",
                               &err) == MS_OK);
    CHECK(dcm_dataset_set_text(ds, DCM_TAG(0x0008, 0x0018), DCM_VR_UI, "1.2.3.4.5", &err) == MS_OK);
    CHECK(dcm_dataset_set_text(ds, DCM_TAG(0x0010, 0x0010), DCM_VR_PN, "Odd^Name", &err) ==
          MS_OK); /* 8 bytes */
    CHECK(dcm_dataset_set_text(ds, DCM_TAG(0x0010, 0x0020), DCM_VR_LO, "ODD", &err) == MS_OK);
    static const uint8_t us[4] = {1, 0, 2, 0};
    CHECK(dcm_dataset_set_bytes(ds, DCM_TAG(0x0028, 0x0010), DCM_VR_US, us, 2, &err) == MS_OK);
    static const uint8_t fd[8] = {0, 0, 0, 0, 0, 0, 0xf8, 0x3f}; /* 1.5 */
    CHECK(dcm_dataset_set_bytes(ds, DCM_TAG(0x0018, 0x0088), DCM_VR_DS, (const uint8_t *)"1.5", 3,
                                &err) == MS_OK);
    CHECK(dcm_dataset_set_bytes(ds, DCM_TAG(0x0040, 0x9225), DCM_VR_FD, fd, 8, &err) == MS_OK);
    dcm_elem *sq = NULL;
    dcm_dataset *item = NULL;
    CHECK(dcm_dataset_set_sequence(ds, DCM_TAG(0x0008, 0x1140), &sq, &err) == MS_OK);
    CHECK(dcm_elem_item_append(sq, &item, &err) == MS_OK);
    CHECK(dcm_dataset_set_text(item, DCM_TAG(0x0008, 0x1155), DCM_VR_UI, "1.2.3", &err) ==
          MS_OK); /* odd: padded with NUL */
    static const uint8_t px[5] = {1, 2, 3, 4, 5};
    CHECK(dcm_dataset_set_bytes(ds, DCM_TAG_PIXEL_DATA, DCM_VR_OB, px, 5, &err) == MS_OK);
    static const char *const syntaxes[] = {NULL, DCM_TS_IMPLICIT_LE, DCM_TS_EXPLICIT_BE,
                                           DCM_TS_DEFLATED_LE};
    for (size_t s = 0; s < 4; s++) {
        for (int undef = 0; undef < 2; undef++) {
            dcm_write_opts wo = {.transfer_syntax = syntaxes[s], .undefined_seq_lengths = undef};
            ms_buf a, b;
            ms_buf_init(&a, NULL, 0);
            ms_buf_init(&b, NULL, 0);
            CHECK(dcm_file_write_mem(f, &wo, &a, &err) == MS_OK);
            CHECK(a.len % 2 == 0);
            dcm_file *g = NULL;
            CHECK(dcm_file_read_mem(a.p, a.len, NULL, &g, &err) == MS_OK);
            CHECK_STR(dcm_file_transfer_syntax(g), syntaxes[s] ? syntaxes[s] : DCM_TS_EXPLICIT_LE);
            dcm_write_opts again = {.transfer_syntax = "original", .undefined_seq_lengths = undef};
            CHECK(dcm_file_write_mem(g, &again, &b, &err) == MS_OK);
            CHECK(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
            double v = 0;
            CHECK(dcm_dataset_number(dcm_file_dataset(g), DCM_TAG(0x0028, 0x0010), 0, &v, &err) ==
                  MS_OK);
            CHECK(v == 1);
            CHECK(dcm_dataset_number(dcm_file_dataset(g), DCM_TAG(0x0040, 0x9225), 0, &v, &err) ==
                  MS_OK);
            CHECK(v == 1.5);
            dcm_elem *u = dcm_dataset_find(
                dcm_elem_item(dcm_dataset_find(dcm_file_dataset(g), DCM_TAG(0x0008, 0x1140)), 0),
                DCM_TAG(0x0008, 0x1155));
            CHECK(u != NULL && dcm_elem_length(u) == 6);
            ms_buf_free(&a);
            ms_buf_free(&b);
            dcm_file_free(g);
        }
    }
    dcm_file_free(f);
    return 0;
}

/* The group length of the meta header is the byte count of the rest of group 0002. */
TEST(test_dcm_write_meta_group_length)
{
    dcm_file *f = NULL;
    ms_err err = {0};
    CHECK(dcm_file_new(NULL, &f, &err) == MS_OK);
    CHECK(dcm_dataset_set_text(dcm_file_dataset(f), DCM_TAG(0x0008, 0x0018), DCM_VR_UI, "1.2.3",
                               &err) == MS_OK);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(dcm_file_write_mem(f, NULL, &b, &err) == MS_OK);
    CHECK(memcmp(b.p + 128, "DICM", 4) == 0);
    CHECK(memcmp(b.p + 132, "\x02\x00\x00\x00UL\x04\x00", 8) == 0);
    uint32_t gl = ms_load_u32le(b.p + 140);
    size_t end = 144 + gl;
    CHECK(end < b.len);
    CHECK_EQ_INT(ms_load_u16le(b.p + end), 0x0008); /* the dataset starts right after */
    CHECK_EQ_INT(ms_load_u16le(b.p + end - 8 - 0), ms_load_u16le(b.p + end - 8));
    dcm_file *g = NULL;
    CHECK(dcm_file_read_mem(b.p, b.len, NULL, &g, &err) == MS_OK);
    ms_buf t;
    ms_buf_init(&t, NULL, 0);
    CHECK(dcm_dataset_text(dcm_file_meta(g), DCM_TAG(0x0002, 0x0003), &t, &err) == MS_OK);
    CHECK_STR((char *)t.p, "1.2.3"); /* MediaStorageSOPInstanceUID from the dataset */
    ms_buf_free(&t);
    ms_buf_free(&b);
    dcm_file_free(g);
    dcm_file_free(f);
    return 0;
}

static int same_file_bytes(const char *a, const ms_buf *b)
{
    ms_buf x;
    if (ms_file_read(a, NULL, 0, &x, NULL) != MS_OK)
        return 0;
    int same = x.len == b->len && memcmp(x.p, b->p, x.len) == 0;
    ms_buf_free(&x);
    return same;
}

TEST(test_dcm_write_file_atomic_and_copy_range)
{
    char src[4096], dst[4096], dst2[4096];
    snprintf(src, sizeof src, "%s/src.dcm", ms_test_tmpdir());
    snprintf(dst, sizeof dst, "%s/out.dcm", ms_test_tmpdir());
    snprintf(dst2, sizeof dst2, "%s/out2.dcm", ms_test_tmpdir());
    dcm_file *f = NULL;
    ms_err err = {0};
    CHECK(dcm_file_new(NULL, &f, &err) == MS_OK);
    static uint8_t px[70000];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 7);
    CHECK(dcm_dataset_set_text(dcm_file_dataset(f), DCM_TAG(0x0010, 0x0010), DCM_VR_PN, "A^B",
                               &err) == MS_OK);
    CHECK(dcm_dataset_set_bytes(dcm_file_dataset(f), DCM_TAG_PIXEL_DATA, DCM_VR_OW, px, sizeof px,
                                &err) == MS_OK);
    CHECK(dcm_file_write(f, src, NULL, &err) == MS_OK);
    CHECK(dcm_file_write(f, src, NULL, &err) == MS_E_EXISTS); /* no silent overwrite */
    ms_err_clear(&err);
    dcm_write_opts ow = {.overwrite = 1, .mode = 0600};
    CHECK(dcm_file_write(f, src, &ow, &err) == MS_OK);
    struct stat st;
    CHECK(stat(src, &st) == 0 && (st.st_mode & 0777) == 0600);
    dcm_file_free(f);
    /* read from the file (mapped), change a header value, write with copy_file_range */
    CHECK(dcm_file_read(src, NULL, &f, &err) == MS_OK);
    CHECK(dcm_file_source_fd(f) >= 0);
    dcm_elem *pe = dcm_dataset_find(dcm_file_dataset(f), DCM_TAG_PIXEL_DATA);
    CHECK(pe != NULL && dcm_elem_value_file_offset(pe) != SIZE_MAX);
    CHECK(dcm_dataset_set_text(dcm_file_dataset(f), DCM_TAG(0x0010, 0x0010), DCM_VR_PN, "C^D",
                               &err) == MS_OK);
    dcm_write_opts cr = {.use_copy_file_range = 1};
    CHECK(dcm_file_write(f, dst, &cr, &err) == MS_OK);
    CHECK(dcm_file_write(f, dst2, NULL, &err) == MS_OK);
    ms_buf mem;
    ms_buf_init(&mem, NULL, 0);
    CHECK(dcm_file_write_mem(f, NULL, &mem, &err) == MS_OK);
    CHECK(same_file_bytes(dst, &mem));
    CHECK(same_file_bytes(dst2, &mem));
    /* no temporary files left behind */
    DIR *d = opendir(ms_test_tmpdir());
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    CHECK_EQ_INT(n, 3);
    ms_buf_free(&mem);
    dcm_file_free(f);
    return 0;
}

TEST(test_dcm_write_refuses_what_it_cannot_do)
{
    dcm_file *f = NULL;
    ms_err err = {0};
    CHECK(dcm_file_new(NULL, &f, &err) == MS_OK);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    dcm_write_opts jpeg = {.transfer_syntax = "1.2.840.10008.1.2.4.50"};
    CHECK(dcm_file_write_mem(f, &jpeg, &b, &err) == MS_E_UNSUPPORTED);
    CHECK_EQ_INT(b.len, 0);
    dcm_file_free(f);
    /* a file read with stop_before_pixels has lost its pixel data: never written */
    char path[4096];
    snprintf(path, sizeof path, "%s/p.dcm", ms_test_tmpdir());
    CHECK(dcm_file_new(NULL, &f, &err) == MS_OK);
    static const uint8_t px[4] = {1, 2, 3, 4};
    CHECK(dcm_dataset_set_bytes(dcm_file_dataset(f), DCM_TAG_PIXEL_DATA, DCM_VR_OB, px, 4, &err) ==
          MS_OK);
    CHECK(dcm_file_write(f, path, NULL, &err) == MS_OK);
    dcm_file_free(f);
    dcm_read_opts ro = {.stop_before_pixels = 1};
    CHECK(dcm_file_read(path, &ro, &f, &err) == MS_OK);
    CHECK(dcm_dataset_find(dcm_file_dataset(f), DCM_TAG_PIXEL_DATA) == NULL);
    ms_err_clear(&err);
    CHECK(dcm_file_write_mem(f, NULL, &b, &err) == MS_E_INVAL);
    dcm_file_free(f);
    ms_buf_free(&b);
    return 0;
}

/* make_study.py output in all four syntaxes: round-trips and, written in its own syntax,
 * byte-identical (the deflated SR is re-compressed, so it is compared as a dataset only). */
TEST(test_dcm_roundtrip_make_study)
{
    const char *shared = ms_test_shared();
    if (shared == NULL)
        SKIP("../shared not present");
    static const char *const syn[] = {"explicit", "implicit", "bigendian", "deflated"};
    for (size_t s = 0; s < 4; s++) {
        CHECK(ms_test_sh(NULL,
                         "/usr/bin/python3 %s/tools/make_study.py %s/%s --slices 2 --studies 1 "
                         "--seed 3 --size 32 --syntax %s >/dev/null",
                         shared, ms_test_tmpdir(), syn[s], syn[s]) == 0);
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s/study_1/CT", ms_test_tmpdir(), syn[s]);
        int files = 0;
        CHECK_EQ_INT(roundtrip_dir(dir, &files), 0);
        CHECK_EQ_INT(files, 2);
        snprintf(dir, sizeof dir, "%s/%s/study_1/SR", ms_test_tmpdir(), syn[s]);
        files = 0;
        CHECK_EQ_INT(roundtrip_dir(dir, &files), 0);
        CHECK_EQ_INT(files, 1);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s/study_1/CT/IMG00001.dcm", ms_test_tmpdir(), syn[s]);
        ms_buf in, out;
        CHECK(ms_file_read(path, NULL, 0, &in, NULL) == MS_OK);
        dcm_file *f = NULL;
        ms_err err = {0};
        CHECK(dcm_file_read_mem(in.p, in.len, NULL, &f, &err) == MS_OK);
        ms_buf_init(&out, NULL, 0);
        dcm_write_opts wo = {.transfer_syntax = "original"};
        CHECK(dcm_file_write_mem(f, &wo, &out, &err) == MS_OK);
        CHECK(out.len == in.len && memcmp(out.p, in.p, in.len) == 0);
        dcm_file_free(f);
        ms_buf_free(&in);
        ms_buf_free(&out);
    }
    return 0;
}

/* Group 0002 elements found inside the dataset (a damaged meta group) are not written: a reader
 * would take them for the meta group (fuzzing found a rewrite that no longer read back). */
TEST(test_dcm_write_drops_meta_elements_in_dataset)
{
    dcm_file *f = NULL;
    ms_err err = {0};
    CHECK(dcm_file_new(NULL, &f, &err) == MS_OK);
    dcm_dataset *ds = dcm_file_dataset(f);
    CHECK(dcm_dataset_set_text(ds, DCM_TAG_TRANSFER_SYNTAX, DCM_VR_UI, DCM_TS_EXPLICIT_BE, &err) ==
          MS_OK);
    CHECK(dcm_dataset_set_text(ds, DCM_TAG(0x0010, 0x0010), DCM_VR_PN, "A^B", &err) == MS_OK);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(dcm_file_write_mem(f, NULL, &b, &err) == MS_OK);
    dcm_file *g = NULL;
    CHECK(dcm_file_read_mem(b.p, b.len, NULL, &g, &err) == MS_OK);
    CHECK_STR(dcm_file_transfer_syntax(g), DCM_TS_EXPLICIT_LE);
    CHECK_EQ_INT(dcm_dataset_count(dcm_file_dataset(g)), 1);
    ms_buf_free(&b);
    dcm_file_free(g);
    dcm_file_free(f);
    return 0;
}

/*
 * Differential tests of `medseal dump` against pydicom (scripts/dicom-diff.py, run with Debian's
 * /usr/bin/python3): every file of pydicom's test_files/ and charset_files/, and make_study.py
 * output in all four transfer syntaxes. Any difference not listed with a reason in
 * data/dicom/diff-known.tsv fails. Also the CLI contract of `medseal dump`: one object for one
 * file, an array for several, a one-line error naming the file for a bad one while the others
 * are still dumped. Skips when pydicom, ../shared or the built CLI is absent.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medseal/dicom.h"
#include "test.h"

#define PYDICOM_DATA "/usr/lib/python3/dist-packages/pydicom/data"

static int have(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static const char *need_cli(void)
{
    return access(ms_test_medseal(), X_OK) == 0 ? NULL : "medseal CLI not built";
}

TEST(test_dcm_diff_pydicom_test_files)
{
    if (!have("/usr/bin/python3") || !have(PYDICOM_DATA "/test_files"))
        SKIP("python3-pydicom not installed");
    if (need_cli())
        SKIP(need_cli());
    char *out = NULL;
    int rc =
        ms_test_sh(&out,
                   "/usr/bin/python3 %s/scripts/dicom-diff.py --strict --medseal %s --known "
                   "%s/data/dicom/diff-known.tsv %s/test_files %s/charset_files",
                   ms_test_root(), ms_test_medseal(), ms_test_root(), PYDICOM_DATA, PYDICOM_DATA);
    const char *summary = out ? strstr(out, "files ") : NULL;
    while (summary && strstr(summary + 1, "\nfiles "))
        summary = strstr(summary + 1, "\nfiles ") + 1;
    fprintf(stderr, "  %s", summary ? summary : "(no summary)\n");
    if (rc != 0 && out)
        fprintf(stderr, "%s", out);
    free(out);
    CHECK(rc == 0);
    return 0;
}

TEST(test_dcm_diff_make_study_all_syntaxes)
{
    const char *shared = ms_test_shared();
    if (shared == NULL)
        SKIP("../shared not present");
    if (!have("/usr/bin/python3"))
        SKIP("/usr/bin/python3 not installed");
    if (need_cli())
        SKIP(need_cli());
    static const char *const syn[] = {"explicit", "implicit", "bigendian", "deflated"};
    for (size_t s = 0; s < 4; s++) {
        CHECK(ms_test_sh(NULL,
                         "/usr/bin/python3 %s/tools/make_study.py %s/%s --slices 3 --studies 2 "
                         "--seed %zu --size 32 --syntax %s >/dev/null",
                         shared, ms_test_tmpdir(), syn[s], 11 + s, syn[s]) == 0);
        char *out = NULL;
        int rc = ms_test_sh(&out,
                            "cd %s/%s && /usr/bin/python3 %s/scripts/dicom-diff.py --strict "
                            "--medseal %s study_*/*/*.dcm",
                            ms_test_tmpdir(), syn[s], ms_test_root(), ms_test_medseal());
        if (rc != 0 && out)
            fprintf(stderr, "%s", out);
        CHECK(out != NULL && strstr(out, "files 8, differing 0, unknown differences 0") != NULL);
        free(out);
        CHECK(rc == 0);
    }
    return 0;
}

/* The parser-stress samples of ../shared/data/dicom/samples (dcm4che and pydicom/deid data). */
TEST(test_dcm_diff_shared_samples)
{
    const char *shared = ms_test_shared();
    if (shared == NULL)
        SKIP("../shared not present");
    if (!have("/usr/bin/python3") || !have(PYDICOM_DATA))
        SKIP("python3-pydicom not installed");
    if (need_cli())
        SKIP(need_cli());
    char *out = NULL;
    int rc = ms_test_sh(&out,
                        "/usr/bin/python3 %s/scripts/dicom-diff.py --strict --medseal %s --known "
                        "%s/data/dicom/diff-known.tsv %s/data/dicom/samples",
                        ms_test_root(), ms_test_medseal(), ms_test_root(), shared);
    if (rc != 0 && out)
        fprintf(stderr, "%s", out);
    CHECK(out != NULL && strstr(out, "unknown differences 0, stale 0") != NULL);
    free(out);
    CHECK(rc == 0);
    return 0;
}

static int write_file(const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", ms_test_tmpdir(), name);
    return ms_file_write_atomic(path, p, n, 0600, 1, NULL) == MS_OK ? 0 : -1;
}

/* Inputs pydicom rejects (a corrupt deflate stream, a meta group cut inside an element) must
 * fail cleanly here; an empty input is an empty dataset for both; a 131-byte input ending in the
 * "DICM" magic is rejected here and read as garbage by pydicom (listed in diff-known.tsv). */
TEST(test_dcm_diff_inputs_pydicom_rejects)
{
    if (!have("/usr/bin/python3") || !have(PYDICOM_DATA))
        SKIP("python3-pydicom not installed");
    if (need_cli())
        SKIP(need_cli());
    uint8_t b[512] = {0};
    size_t n = 128;
    memcpy(b + n, "DICM", 4);
    n += 4;
    static const char ts[] = DCM_TS_DEFLATED_LE; /* 22 characters: even */
    static const uint8_t gl[12] = {2, 0, 0, 0, 'U', 'L', 4, 0, 30, 0, 0, 0};
    memcpy(b + n, gl, sizeof gl);
    n += sizeof gl;
    static const uint8_t tsh[8] = {2, 0, 0x10, 0, 'U', 'I', 22, 0};
    memcpy(b + n, tsh, sizeof tsh);
    n += sizeof tsh;
    memcpy(b + n, ts, 22);
    n += 22;
    memcpy(b + n, "\x01\x02not a deflate stream", 22);
    CHECK(write_file("gen_bad_deflate.dcm", b, n + 22) == 0);
    CHECK(write_file("gen_meta_cut.dcm", b, 142) == 0);
    CHECK(write_file("gen_short_magic.dcm", b, 131) == 0);
    CHECK(write_file("gen_empty.dcm", b, 0) == 0);
    char *out = NULL;
    int rc = ms_test_sh(&out,
                        "/usr/bin/python3 %s/scripts/dicom-diff.py --strict --medseal %s --known "
                        "%s/data/dicom/diff-known.tsv %s",
                        ms_test_root(), ms_test_medseal(), ms_test_root(), ms_test_tmpdir());
    if (out)
        fprintf(stderr, "%s", out);
    CHECK(out != NULL && strstr(out, "gen_bad_deflate.dcm") != NULL);
    CHECK(strstr(out, "both reject") != NULL);
    CHECK(strstr(out, "files 4, differing 1, unknown differences 0") != NULL);
    free(out);
    CHECK(rc == 0);
    return 0;
}

/* Writes a small valid file and a truncated copy into the test folder. */
static int make_inputs(char *good, char *bad, size_t n)
{
    snprintf(good, n, "%s/good.dcm", ms_test_tmpdir());
    snprintf(bad, n, "%s/bad.dcm", ms_test_tmpdir());
    dcm_file *f = NULL;
    ms_err err = {0};
    if (dcm_file_new(NULL, &f, &err) != MS_OK)
        return -1;
    dcm_dataset *ds = dcm_file_dataset(f);
    dcm_dataset_set_text(ds, DCM_TAG(0x0010, 0x0010), DCM_VR_PN, "Secret^Patient", &err);
    dcm_dataset_set_text(ds, DCM_TAG(0x0010, 0x0020), DCM_VR_LO, "MRN12345", &err);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    int rc = dcm_file_write_mem(f, NULL, &b, &err) == MS_OK &&
                     ms_file_write_atomic(good, b.p, b.len, 0600, 1, &err) == MS_OK &&
                     ms_file_write_atomic(bad, b.p, b.len - 5, 0600, 1, &err) == MS_OK
                 ? 0
                 : -1;
    ms_buf_free(&b);
    dcm_file_free(f);
    return rc;
}

TEST(test_dcm_cli_dump_contract)
{
    if (need_cli())
        SKIP(need_cli());
    char good[4096], bad[4096];
    CHECK(make_inputs(good, bad, sizeof good) == 0);
    char *out = NULL;
    /* one file: one object */
    CHECK(ms_test_sh(&out, "%s dump %s", ms_test_medseal(), good) == 0);
    CHECK(out != NULL && out[0] == '{');
    CHECK(strstr(out,
                 "\"00100010\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"Secret^Patient\"}]}") !=
          NULL);
    free(out);
    /* several files, one bad: an array of the good ones, one stderr line, exit 1 */
    char errpath[4096];
    snprintf(errpath, sizeof errpath, "%s/err.txt", ms_test_tmpdir());
    int rc = ms_test_sh(&out, "%s dump %s %s %s 2>%s", ms_test_medseal(), good, bad, good, errpath);
    CHECK(rc == 1);
    CHECK(out != NULL && out[0] == '[');
    const char *second = strstr(out, "Secret^Patient");
    CHECK(second != NULL && strstr(second + 1, "Secret^Patient") != NULL);
    free(out);
    ms_buf e;
    CHECK(ms_file_read(errpath, NULL, 0, &e, NULL) == MS_OK);
    CHECK(e.len > 0 && memchr(e.p, '\n', e.len) == e.p + e.len - 1); /* exactly one line */
    CHECK(strstr((char *)e.p, "bad.dcm") != NULL);
    CHECK(strstr((char *)e.p, "offset") != NULL && strstr((char *)e.p, "tag (") != NULL);
    CHECK(strstr((char *)e.p, "Secret") == NULL && strstr((char *)e.p, "MRN") == NULL);
    ms_buf_free(&e);
    /* --text and a folder */
    CHECK(ms_test_sh(&out, "%s dump --text %s", ms_test_medseal(), good) == 0);
    CHECK(out != NULL && strstr(out, "(0010,0020) LO [MRN12345]") != NULL);
    CHECK(strstr(out, "PatientID") != NULL);
    free(out);
    CHECK(ms_test_sh(&out, "%s dump %s 2>/dev/null", ms_test_medseal(), ms_test_tmpdir()) == 1);
    CHECK(out != NULL && out[0] == '[');
    free(out);
    CHECK(ms_test_sh(&out, "%s dump --scan %s 2>/dev/null", ms_test_medseal(), good) == 0);
    CHECK(out != NULL && strstr(out, "scanned 1 files") != NULL);
    free(out);
    /* usage errors */
    CHECK(ms_test_sh(NULL, "%s dump 2>/dev/null", ms_test_medseal()) == 2);
    CHECK(ms_test_sh(NULL, "%s dump --bogus x 2>/dev/null", ms_test_medseal()) == 2);
    CHECK(ms_test_sh(NULL, "%s dump %s/missing.dcm 2>/dev/null", ms_test_medseal(),
                     ms_test_tmpdir()) == 1);
    return 0;
}

/*
 * End-to-end tests of `medseal deid` against what no one here wrote: make_study.py studies (all
 * four transfer syntaxes, seeds 1-9), the fake-PHI sample files of pydicom/deid and pydicom's own
 * test files, checked by scripts/deid-check.py (pydicom, zlib, dcmdump, dciodvfy). Also the CLI's
 * promises: OUT inside IN refused, no overwrite without --force, unparseable files reported and
 * never copied, the JSON summary, burned-in files held back, no PHI in what it prints.
 * Tests that need ../shared call ms_test_shared() and SKIP without it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "test.h"

#define KEYHEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define PY     "/usr/bin/python3"

static int make_one(const char *dir);

static int write_key(const char *dir)
{
    return ms_test_sh(NULL, "printf '%%s\\n' %s > %s/key && chmod 600 %s/key", KEYHEX, dir, dir);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* make_study.py seeds 1..9 in one syntax, each de-identified and checked. */
static int planted(const char *syntax, const char *flags, const char *dates)
{
    const char *shared = ms_test_shared();
    if (shared == NULL)
        SKIP("../shared not found");
    const char *t = ms_test_tmpdir();
    CHECK(write_key(t) == 0);
    for (int seed = 1; seed <= 9; seed++) {
        char *out = NULL;
        CHECK(ms_test_sh(NULL,
                         PY " %s/tools/make_study.py %s/in%d --slices 2 --size 16 --studies 2 "
                            "--seed %d --syntax %s 2>/dev/null",
                         shared, t, seed, seed, syntax) == 0);
        /* a folder holding only notes.txt (not DICOM) makes errors and skips print too */
        CHECK(ms_test_sh(NULL, "%s deid --key %s/key --quiet %s %s/in%d %s/out%d > %s/log%d 2>&1",
                         ms_test_medseal(), t, flags, t, seed, t, seed, t, seed) == 0);
        CHECK(ms_test_sh(NULL, "%s deid --key %s/key --json %s %s/in%d %s/out%d >> %s/log%d 2>&1",
                         ms_test_medseal(), t, flags, t, seed, t, seed, t, seed) == 1);
        int rc = ms_test_sh(&out,
                            PY " %s/scripts/deid-check.py study %s/in%d %s/out%d --dates %s "
                               "--log %s/log%d",
                            ms_test_root(), t, seed, t, seed, dates, t, seed);
        if (rc != 0)
            fprintf(stderr, "  seed %d %s:\n%s", seed, syntax, out ? out : "");
        free(out);
        CHECK(rc == 0);
    }
    return 0;
}

TEST(test_deid_cli_planted_phi_explicit)
{
    return planted("explicit", "", "removed");
}

TEST(test_deid_cli_planted_phi_implicit)
{
    return planted("implicit", "", "removed");
}

TEST(test_deid_cli_planted_phi_bigendian)
{
    return planted("bigendian", "", "removed");
}

TEST(test_deid_cli_planted_phi_deflated)
{
    return planted("deflated", "", "removed");
}

TEST(test_deid_cli_planted_phi_modified_dates_all_options)
{
    return planted("explicit",
                   "--retain-modified-dates --retain-safe-private --retain-patient-chars "
                   "--clean-descriptors --clean-structured-content --clean-graphics",
                   "modified");
}

TEST(test_deid_cli_output_syntaxes)
{
    const char *shared = ms_test_shared();
    if (shared == NULL)
        SKIP("../shared not found");
    const char *t = ms_test_tmpdir();
    static const char *const syntaxes[] = {"explicit", "implicit", "bigendian", "deflated"};
    CHECK(write_key(t) == 0);
    CHECK(ms_test_sh(NULL,
                     PY " %s/tools/make_study.py %s/in --slices 2 --size 16 --studies 1 --seed 4 "
                        "--syntax bigendian 2>/dev/null",
                     shared, t) == 0);
    for (size_t i = 0; i < 4; i++) {
        char *out = NULL;
        CHECK(ms_test_sh(NULL, "%s deid --key %s/key --quiet --syntax %s %s/in %s/%s >/dev/null",
                         ms_test_medseal(), t, syntaxes[i], t, t, syntaxes[i]) == 0);
        int rc = ms_test_sh(&out, PY " %s/scripts/deid-check.py study %s/in %s/%s", ms_test_root(),
                            t, t, syntaxes[i]);
        if (rc != 0)
            fprintf(stderr, "  --syntax %s:\n%s", syntaxes[i], out ? out : "");
        free(out);
        CHECK(rc == 0);
    }
    CHECK(ms_test_sh(NULL, "%s deid --key %s/key --syntax ebcdic %s/in %s/x 2>/dev/null",
                     ms_test_medseal(), t, t, t) == 2);
    return 0;
}

TEST(test_deid_cli_parallel_output_is_deterministic)
{
    const char *shared = ms_test_shared();
    if (shared == NULL)
        SKIP("../shared not found");
    const char *t = ms_test_tmpdir();
    CHECK(write_key(t) == 0);
    CHECK(ms_test_sh(NULL,
                     PY " %s/tools/make_study.py %s/in --slices 12 --size 16 --studies 3 --seed 8 "
                        "2>/dev/null",
                     shared, t) == 0);
    CHECK(ms_test_sh(NULL, "%s deid --key %s/key --quiet --jobs 1 %s/in %s/one >/dev/null",
                     ms_test_medseal(), t, t, t) == 0);
    CHECK(ms_test_sh(NULL, "%s deid --key %s/key --quiet --jobs 7 %s/in %s/seven >/dev/null",
                     ms_test_medseal(), t, t, t) == 0);
    /* same key, same input: the same bytes whatever the number of threads */
    CHECK(ms_test_sh(NULL, "diff -r %s/one %s/seven >/dev/null", t, t) == 0);
    CHECK(ms_test_sh(NULL, "test $(find %s/seven -name '*.dcm' | wc -l) -eq 39", t) == 0);
    return 0;
}

TEST(test_deid_cli_progress_bar_only_on_a_terminal)
{
    const char *t = ms_test_tmpdir();
    CHECK(write_key(t) == 0);
    CHECK(ms_test_sh(NULL, "mkdir -p %s/in", t) == 0);
    CHECK(make_one(t) == 0);
    if (ms_test_sh(NULL, "command -v script >/dev/null") != 0)
        SKIP("script(1) not installed");
    /* under script(1) stderr is a terminal: the bar is drawn */
    CHECK(ms_test_sh(NULL, "script -qec '%s deid --key %s/key %s/in %s/tty' %s/tty.log >/dev/null",
                     ms_test_medseal(), t, t, t, t) == 0);
    CHECK(ms_test_sh(NULL, "grep -q 'files' %s/tty.log && grep -qF '[' %s/tty.log", t, t) == 0);
    /* not a terminal: no carriage returns at all */
    CHECK(ms_test_sh(NULL, "%s deid --key %s/key %s/in %s/pipe > %s/pipe.log 2>&1",
                     ms_test_medseal(), t, t, t, t) == 0);
    CHECK(ms_test_sh(NULL, "! grep -q \"$(printf '\\r')\" %s/pipe.log", t) == 0);
    return 0;
}

TEST(test_deid_cli_refuses_out_inside_in)
{
    const char *t = ms_test_tmpdir();
    CHECK(write_key(t) == 0);
    CHECK(ms_test_sh(NULL, "mkdir -p %s/in/sub", t) == 0);
    char *out = NULL;
    int rc = ms_test_sh(&out, "%s deid --key %s/key %s/in %s/in/sub/out 2>&1", ms_test_medseal(), t,
                        t, t);
    CHECK_EQ_INT(rc, 2);
    CHECK(out != NULL && strstr(out, "inside IN") != NULL);
    free(out);
    CHECK(ms_test_sh(NULL, "! test -e %s/in/sub/out", t) == 0);
    CHECK_EQ_INT(ms_test_sh(NULL, "%s deid --key %s/key %s/in %s/in 2>/dev/null", ms_test_medseal(),
                            t, t, t),
                 2);
    return 0;
}

/* A small valid DICOM file written by pydicom (independent of the codec). */
static int make_one(const char *dir)
{
    return ms_test_sh(NULL,
                      PY
                      " -c \"import pydicom,sys; from pydicom.data import get_testdata_file as g;"
                      " ds=pydicom.dcmread(g('CT_small.dcm')); ds.save_as('%s/in/a.dcm')\"",
                      dir);
}

TEST(test_deid_cli_never_overwrites_without_force)
{
    const char *t = ms_test_tmpdir();
    CHECK(write_key(t) == 0);
    CHECK(ms_test_sh(NULL, "mkdir -p %s/in", t) == 0);
    CHECK(make_one(t) == 0);
    const char *m = ms_test_medseal();
    CHECK(ms_test_sh(NULL, "%s deid --key %s/key --quiet %s/in %s/out >/dev/null", m, t, t, t) ==
          0);
    char *out = NULL;
    CHECK_EQ_INT(ms_test_sh(&out, "%s deid --key %s/key --quiet %s/in %s/out", m, t, t, t), 1);
    CHECK(out != NULL && strstr(out, "exists") != NULL);
    free(out);
    CHECK(ms_test_sh(NULL, "%s deid --key %s/key --quiet --force %s/in %s/out >/dev/null", m, t, t,
                     t) == 0);
    /* single file mode, and no temporary files left behind */
    CHECK(ms_test_sh(NULL, "%s deid --key %s/key --quiet %s/in/a.dcm %s/single.dcm >/dev/null", m,
                     t, t, t) == 0);
    CHECK(ms_test_sh(NULL, "test -f %s/single.dcm", t) == 0);
    /* a file into an existing folder lands as OUT/basename(IN) */
    CHECK(ms_test_sh(NULL,
                     "mkdir %s/dir && %s deid --key %s/key --quiet %s/in/a.dcm %s/dir && "
                     "test -f %s/dir/a.dcm",
                     t, m, t, t, t, t) == 0);
    CHECK(ms_test_sh(NULL, "test $(ls -A %s/out | wc -l) -eq 1", t) == 0);
    return 0;
}

TEST(test_deid_cli_unparseable_reported_never_copied)
{
    const char *t = ms_test_tmpdir();
    CHECK(write_key(t) == 0);
    CHECK(ms_test_sh(NULL, "mkdir -p %s/in", t) == 0);
    CHECK(make_one(t) == 0);
    /* a DICOM file cut in the middle of its pixel data, and a text file */
    CHECK(ms_test_sh(NULL, "head -c 2000 %s/in/a.dcm > %s/in/cut.dcm", t, t) == 0);
    CHECK(ms_test_sh(NULL, "echo 'Patient Vandermolen notes' > %s/in/notes.txt", t) == 0);
    char *out = NULL;
    int rc = ms_test_sh(&out, "%s deid --key %s/key --quiet %s/in %s/out 2>&1", ms_test_medseal(),
                        t, t, t);
    CHECK_EQ_INT(rc, 1); /* the cut DICOM file is an error */
    CHECK(out != NULL && strstr(out, "error: cut.dcm") != NULL);
    CHECK(strstr(out, "skipped: notes.txt (not DICOM)") != NULL);
    CHECK(strstr(out, "Vandermolen") == NULL);
    free(out);
    /* nor in JSON: no parser message for a text file (its "first tag" would be "Pati") */
    out = NULL;
    CHECK(ms_test_sh(&out, "%s deid --key %s/key --json %s/in %s/out3", ms_test_medseal(), t, t,
                     t) == 1);
    CHECK(out != NULL && strstr(out, "\"not DICOM\"") != NULL);
    CHECK(strstr(out, "6150") == NULL && strstr(out, "Pati") == NULL);
    free(out);
    CHECK(ms_test_sh(NULL,
                     "test -f %s/out/a.dcm && ! test -e %s/out/cut.dcm && "
                     "! test -e %s/out/notes.txt",
                     t, t, t) == 0);
    return 0;
}

TEST(test_deid_cli_json_summary_and_bad_key)
{
    const char *t = ms_test_tmpdir();
    CHECK(write_key(t) == 0);
    CHECK(ms_test_sh(NULL, "mkdir -p %s/in", t) == 0);
    CHECK(make_one(t) == 0);
    char *out = NULL;
    CHECK(ms_test_sh(&out, "%s deid --key %s/key --json %s/in %s/out", ms_test_medseal(), t, t,
                     t) == 0);
    json_error_t je;
    json_t *j = out ? json_loads(out, 0, &je) : NULL;
    free(out);
    CHECK(j != NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "files"), "written")), 1);
    CHECK(json_integer_value(json_object_get(json_object_get(j, "actions"), "uids_replaced")) > 0);
    CHECK(json_integer_value(json_object_get(j, "bytes_out")) > 0);
    json_decref(j);
    /* a key file that is not 64 hex characters: one line, non-zero */
    CHECK(ms_test_sh(NULL, "echo nothex > %s/badkey", t) == 0);
    out = NULL;
    CHECK(ms_test_sh(&out, "%s deid --key %s/badkey %s/in %s/out2 2>&1", ms_test_medseal(), t, t,
                     t) != 0);
    CHECK(out != NULL && strchr(out, '\n') == strrchr(out, '\n'));
    free(out);
    CHECK(ms_test_sh(NULL, "%s deid %s/in %s/out3 2>/dev/null", ms_test_medseal(), t, t) == 2);
    return 0;
}

TEST(test_deid_cli_pydicom_deid_samples)
{
    const char *shared = ms_test_shared();
    if (shared == NULL)
        SKIP("../shared not found");
    const char *t = ms_test_tmpdir();
    CHECK(write_key(t) == 0);
    char *out = NULL;
    int rc = ms_test_sh(&out, "%s deid --key %s/key --quiet %s/data/dicom/samples/deid %s/out",
                        ms_test_medseal(), t, shared, t);
    CHECK_EQ_INT(rc, 0);
    /* all six are secondary captures or carry BurnedInAnnotation=YES: held back and listed */
    CHECK(out != NULL && strstr(out, "6 need review") != NULL);
    CHECK(strstr(out, "needs review: ultrasounds_GREYSCALE_IMAGE.dcm (BurnedInAnnotation=YES)"));
    CHECK(strstr(out, "needs review: humans_ctbrain1.dcm (secondary capture)"));
    free(out);
    CHECK(ms_test_sh(NULL, "test -z \"$(ls -A %s/out)\"", t) == 0);
    /* --allow-burned-in lets them through: then the headers are checked */
    CHECK(ms_test_sh(NULL,
                     "%s deid --key %s/key --quiet --allow-burned-in "
                     "%s/data/dicom/samples/deid %s/out2 >/dev/null",
                     ms_test_medseal(), t, shared, t) == 0);
    out = NULL;
    rc = ms_test_sh(&out, PY " %s/scripts/deid-check.py files %s/data/dicom/samples/deid %s/out2",
                    ms_test_root(), shared, t);
    if (rc != 0 || out == NULL || strstr(out, "deid-check: 6 files") == NULL)
        fprintf(stderr, "%s", out ? out : "");
    CHECK(out != NULL && strstr(out, "deid-check: 6 files, 0 failures") != NULL);
    free(out);
    CHECK(rc == 0);
    return 0;
}

TEST(test_deid_cli_pydicom_test_files_with_identity)
{
    static const char dir[] = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
    if (!exists(dir))
        SKIP("Debian python3-pydicom test files not installed");
    const char *t = ms_test_tmpdir();
    CHECK(write_key(t) == 0);
    static const char *files[] = {"CT_small.dcm",
                                  "MR_small.dcm",
                                  "MR_small_bigendian.dcm",
                                  "MR_small_implicit.dcm",
                                  "rtplan.dcm",
                                  "rtstruct.dcm",
                                  "rtdose.dcm",
                                  "test-SR.dcm",
                                  "reportsi.dcm",
                                  "priv_SQ.dcm",
                                  "nested_priv_SQ.dcm",
                                  "image_dfl.dcm",
                                  "ExplVR_BigEnd.dcm",
                                  "JPEG2000.dcm",
                                  "waveform_ecg.dcm",
                                  "liver_1frame.dcm",
                                  "UN_sequence.dcm",
                                  "emri_small.dcm"};
    CHECK(ms_test_sh(NULL, "mkdir -p %s/in", t) == 0);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        (void)ms_test_sh(NULL, "cp %s/%s %s/in/ 2>/dev/null", dir, files[i], t);
    char *out = NULL;
    int rc =
        ms_test_sh(&out, "%s deid --key %s/key --quiet %s/in %s/out", ms_test_medseal(), t, t, t);
    if (rc != 0)
        fprintf(stderr, "%s", out ? out : "");
    free(out);
    CHECK_EQ_INT(rc, 0);
    out = NULL;
    rc = ms_test_sh(&out, PY " %s/scripts/deid-check.py files %s/in %s/out", ms_test_root(), t, t);
    if (rc != 0)
        fprintf(stderr, "%s", out ? out : "");
    free(out);
    CHECK(rc == 0);
    return 0;
}

TEST(test_deid_cli_burned_in_config_blanks_and_releases)
{
    static const char file[] =
        "/usr/lib/python3/dist-packages/pydicom/data/test_files/ExplVR_BigEnd.dcm";
    if (!exists(file))
        SKIP("Debian python3-pydicom test files not installed");
    const char *t = ms_test_tmpdir();
    CHECK(write_key(t) == 0);
    CHECK(ms_test_sh(NULL, "mkdir -p %s/in && cp %s %s/in/us.dcm", t, file, t) == 0);
    /* an ultrasound (G.E. LOGIQ 700, 80x60 RGB, planar): a rule blanks its top 10 rows */
    CHECK(ms_test_sh(NULL,
                     "printf '# top banner\\ng.e. medical | LOGIQ | 80x60 | 0,0,80,10\\n' "
                     "> %s/burn.cfg",
                     t) == 0);
    char *out = NULL;
    CHECK(ms_test_sh(&out,
                     "%s deid --key %s/key --quiet --burned-in-config %s/burn.cfg %s/in %s/out",
                     ms_test_medseal(), t, t, t, t) == 0);
    CHECK(out != NULL && strstr(out, "blanked: us.dcm (modality US)") != NULL);
    free(out);
    int rc = ms_test_sh(
        NULL,
        PY " -c \"import pydicom,sys; a=pydicom.dcmread('%s/in/us.dcm').pixel_array;"
           " b=pydicom.dcmread('%s/out/us.dcm'); p=b.pixel_array;"
           " codes=[i.CodeValue for i in b.DeidentificationMethodCodeSequence];"
           " sys.exit(0 if (p[:10]==0).all() and (p[10:]==a[10:]).all() and"
           " b.BurnedInAnnotation=='NO' and '113101' in codes and (a[:10]!=0).any() else 1)\"",
        t, t);
    CHECK(rc == 0);
    /* a bad configuration line stops the run before anything is written */
    CHECK(ms_test_sh(NULL, "printf 'x | y | 80x60 | 0,0,80\\n' > %s/bad.cfg", t) == 0);
    out = NULL;
    CHECK(ms_test_sh(&out, "%s deid --key %s/key --burned-in-config %s/bad.cfg %s/in %s/out2 2>&1",
                     ms_test_medseal(), t, t, t, t) != 0);
    CHECK(out != NULL && strstr(out, "line 1") != NULL);
    free(out);
    CHECK(ms_test_sh(NULL, "! test -e %s/out2", t) == 0);
    return 0;
}

/* Issue 15 item 9: a subfolder that cannot be read is listed as an error and the rest is
 * processed; symbolic links and FIFOs are listed as skipped; an empty file is an error. Root
 * reads a mode-000 folder anyway, so as root the CLI runs without CAP_DAC_OVERRIDE (setpriv). */
TEST(test_deid_cli_unreadable_folder_links_fifos_empty_listed)
{
    const char *t = ms_test_tmpdir();
    char *out = NULL;
    const char *prefix = "";
    if (geteuid() == 0) {
        if (ms_test_sh(NULL, "command -v setpriv >/dev/null") != 0)
            SKIP("running as root without setpriv: cannot make a folder unreadable");
        prefix = "setpriv --bounding-set -dac_override,-dac_read_search --inh-caps -all ";
    }
    CHECK(write_key(t) == 0);
    CHECK(ms_test_sh(NULL, "mkdir -p %s/in/sub %s/in/locked", t, t) == 0);
    CHECK(make_one(t) == 0);
    CHECK(ms_test_sh(NULL,
                     "cd %s/in && cp a.dcm sub/b.dcm && cp a.dcm locked/c.dcm && "
                     "ln -s a.dcm link.dcm && mkfifo pipe && : > empty.dcm && chmod 000 locked",
                     t) == 0);
    int rc = ms_test_sh(&out, "%s%s deid --key %s/key --quiet %s/in %s/out 2>&1", prefix,
                        ms_test_medseal(), t, t, t);
    ms_test_sh(NULL, "chmod 755 %s/in/locked", t);
    CHECK_EQ_INT(rc, 1); /* errors were listed */
    CHECK(out != NULL);
    fprintf(stderr, "%s", out);
    CHECK(strstr(out, "error: locked: cannot read folder") != NULL);
    CHECK(strstr(out, "error: empty.dcm: empty file") != NULL);
    CHECK(strstr(out, "skipped: link.dcm (symbolic link, not followed)") != NULL);
    CHECK(strstr(out, "skipped: pipe (FIFO, not a regular file)") != NULL);
    free(out);
    char p[700];
    snprintf(p, sizeof p, "%s/out/a.dcm", t);
    CHECK(exists(p));
    snprintf(p, sizeof p, "%s/out/sub/b.dcm", t);
    CHECK(exists(p));
    snprintf(p, sizeof p, "%s/out/empty.dcm", t);
    CHECK(!exists(p));
    /* the JSON summary lists them too */
    CHECK_EQ_INT(ms_test_sh(&out, "%s%s deid --key %s/key --json %s/in %s/out2", prefix,
                            ms_test_medseal(), t, t, t),
                 1);
    CHECK(out != NULL && strstr(out, "\"symbolic link, not followed\"") != NULL &&
          strstr(out, "\"empty file\"") != NULL);
    free(out);
    return 0;
}

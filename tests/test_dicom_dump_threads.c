/*
 * `medseal dump` with worker threads: the output of a folder (JSON array, --text, --scan) is byte
 * for byte the same with --threads 1, 3 and the default (every core), including where a broken
 * file sits (one stderr line each, exit 1, the other files still dumped, in path order); --threads
 * out of range is a usage error. Trusts: the built CLI. Owns: files in the test's folder.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"

TEST(test_dicom_dump_threads_same_output_in_path_order)
{
    const char *sh = ms_test_shared(), *d = ms_test_tmpdir(), *m = ms_test_medseal();
    if (sh == NULL)
        SKIP("../shared absent (make_study.py)");
    CHECK(ms_test_sh(NULL,
                     "/usr/bin/python3 '%s/tools/make_study.py' '%s/st' --slices 40 --size 64 "
                     "--studies 1 --seed 3 >/dev/null 2>&1 && cd '%s/st/study_1/CT' && "
                     "head -c 900 IMG00020.dcm > IMG00020b.dcm",
                     sh, d, d) == 0);
    const char *modes[] = {"", "--text", "--scan", "--headers-only"};
    for (size_t k = 0; k < 4; k++) {
        char *o1 = NULL, *o3 = NULL, *od = NULL;
        int r1 = ms_test_sh(&o1, "'%s' dump %s --threads 1 '%s/st' 2>'%s/e1'", m, modes[k], d, d);
        int r3 = ms_test_sh(&o3, "'%s' dump %s --threads 3 '%s/st' 2>'%s/e3'", m, modes[k], d, d);
        int rd = ms_test_sh(&od, "'%s' dump %s '%s/st' 2>'%s/ed' | cat", m, modes[k], d, d);
        CHECK_EQ_INT(r1, 1); /* the cut file */
        CHECK_EQ_INT(r3, 1);
        CHECK(o1 != NULL && o3 != NULL && od != NULL);
        CHECK(strlen(o1) > (k == 2 ? 20u : 1000u)); /* --scan: one summary line */
        CHECK_STR(o1, o3);
        CHECK_STR(o1, od);
        (void)rd;
        free(o1), free(o3), free(od);
        CHECK_EQ_INT(ms_test_sh(NULL, "cmp -s '%s/e1' '%s/e3' && cmp -s '%s/e1' '%s/ed' && "
                                      "test $(wc -l < '%s/e1') = 3 && grep -q IMG00020b '%s/e1'",
                                d, d, d, d, d, d),
                     0);
    }
    /* the JSON array holds every file that is not on stderr (manifest.json, notes.txt, the cut one) */
    char *n = NULL;
    CHECK(ms_test_sh(&n, "'%s' dump --threads 2 '%s/st' 2>/dev/null | /usr/bin/python3 -c "
                         "'import json,sys; print(len(json.load(sys.stdin)))'",
                     m, d) == 0);
    CHECK(n != NULL);
    int items = atoi(n);
    free(n);
    char *c = NULL;
    CHECK(ms_test_sh(&c, "'%s' dump --threads 1 '%s/st' 2>&1 >/dev/null | wc -l", m, d) == 0);
    int bad = atoi(c);
    free(c);
    char *f = NULL;
    CHECK(ms_test_sh(&f, "find '%s/st' -type f | wc -l", d) == 0);
    CHECK_EQ_INT(items + bad, atoi(f));
    free(f);
    CHECK_EQ_INT(ms_test_sh(NULL, "'%s' dump --threads 0 '%s/st' >/dev/null 2>&1", m, d), 2);
    CHECK_EQ_INT(ms_test_sh(NULL, "'%s' dump --threads x '%s/st' >/dev/null 2>&1", m, d), 2);
    return 0;
}

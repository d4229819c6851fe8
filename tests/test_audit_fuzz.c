/*
 * Replays fuzz/audit/corpus through the fuzz harness (no crash, invariants hold) and checks that
 * the seed logs are valid (they exercise the real paths, not only error exits).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

/* a distinct name: other tests include other fuzz targets into the same runner */
#define LLVMFuzzerTestOneInput audit_fuzz_one_input
#include "../fuzz/audit/fuzz_audit.c"
#include "test.h"

TEST(test_audit_fuzz_corpus_replay)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/fuzz/audit/corpus", ms_test_root());
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    struct dirent *e;
    int n = 0, valid = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[1400];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        ms_buf b;
        CHECK(ms_file_read(p, NULL, 0, &b, NULL) == MS_OK);
        LLVMFuzzerTestOneInput(b.p, b.len);
        n++;
        if (strncmp(e->d_name, "seed-proof", 10) == 0) {
            valid += audit_proof_check((char *)b.p, b.len, NULL, NULL) == MS_OK;
        } else if (strncmp(e->d_name, "seed-", 5) == 0 && b.len > 64) {
            audit__segment seg = {0};
            seg.map.p = b.p + 64;
            seg.map.len = b.len - 64;
            audit__vin in = {b.p + 32, b.p, 0, NULL};
            audit_verify_report rep;
            valid += audit__verify_segments(&seg, 1, &in, &rep, NULL) == MS_OK;
        }
        ms_buf_free(&b);
    }
    closedir(d);
    CHECK(n >= 5);
    CHECK(valid >= 5);
    return 0;
}

/*
 * Zero-retention canary (issue 9): scripts/canary.py runs `medseal serve` end to end on
 * make_study.py data (STOW-RS, the analyst, upstream pass-through, error paths carrying PHI, a
 * SIGKILL mid-upload and a restart), checks the process hardening in /proc, and searches every
 * file the server wrote, the decrypted audit export and what the test upstream received for every
 * planted PHI string in ten encodings. This test asserts on its JSON summary, including the
 * positive control (the scanner finds a planted string in every encoding).
 * Trusts: scripts/canary.py, ../shared/tools/make_study.py. Owns: its temp folder.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "test.h"

/* ASan intercepts mlock as a no-op: under it the lock checks cannot hold */
#if defined(__SANITIZE_ADDRESS__)
#define NO_LOCK " --no-lock"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_LOCK " --no-lock"
#endif
#endif
#ifndef NO_LOCK
#define NO_LOCK ""
#endif

static json_t *run_canary(void)
{
    char *out = NULL;
    /* the server may run as uid 65534 (when we are root): it must reach the work folder */
    chmod(ms_test_tmpdir(), 0711);
    int rc = ms_test_sh(
        &out, "/usr/bin/python3 '%s/scripts/canary.py' '%s' '%s' '%s' '%s/c'" NO_LOCK " 2>&1",
        ms_test_root(), ms_test_medseal(), ms_test_root(), ms_test_shared(), ms_test_tmpdir());
    const char *line = out ? strstr(out, "CANARY {") : NULL;
    json_t *j = line ? json_loads(line + 7, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    if (j == NULL || rc != 0)
        fprintf(stderr, "  canary rc=%d\n%s\n", rc, out ? out : "(no output)");
    free(out);
    return j;
}

static size_t arr_len(json_t *j, const char *k)
{
    return json_array_size(json_object_get(j, k));
}

TEST(test_zz_hardening_canary)
{
    if (ms_test_shared() == NULL)
        SKIP("../shared not available");
    if (access(ms_test_medseal(), X_OK) != 0)
        SKIP("the medseal CLI is not built");
    if (ms_test_sh(NULL, "command -v node >/dev/null && command -v openssl >/dev/null") != 0)
        SKIP("node or openssl missing (the test upstream, certificates)");
    json_t *j = run_canary();
    CHECK(j != NULL);
    fprintf(stderr, "  locked: %s\n", json_is_true(json_object_get(j, "locked")) ? "yes" : "no");
    json_t *proc = json_object_get(j, "proc");
    fprintf(stderr,
            "  canary: %d files, %d bytes, %d strings x %d encodings, hits %zu, upstream hits "
            "%zu, %d requests, %d audit records, VmLck %d kB, coredump_filter %s\n",
            (int)json_integer_value(json_object_get(j, "files")),
            (int)json_integer_value(json_object_get(j, "bytes")),
            (int)json_integer_value(json_object_get(j, "strings")),
            (int)json_integer_value(json_object_get(j, "encodings")), arr_len(j, "hits"),
            arr_len(j, "upstream_hits"), (int)json_integer_value(json_object_get(j, "requests")),
            (int)json_integer_value(json_object_get(j, "audit_records")),
            (int)json_integer_value(json_object_get(proc, "vmlck_kb")),
            json_string_value(json_object_get(proc, "coredump_filter")));
    /* the scanner can fail: every encoding of a planted control string was found */
    CHECK(arr_len(j, "control_missed") == 0);
    CHECK(json_integer_value(json_object_get(j, "strings")) >= 20);
    CHECK(json_integer_value(json_object_get(j, "files")) >= 10);
    CHECK(arr_len(j, "hits") == 0);
    CHECK(arr_len(j, "upstream_hits") == 0);
    CHECK(json_integer_value(json_object_get(j, "upstream_bytes")) > 0);
    CHECK(arr_len(j, "requests_wrong") == 0);
    /* true, or a string saying why it cannot be shown here (ASan's mlock, root's CAP_IPC_LOCK) */
    CHECK(!json_is_false(json_object_get(j, "refuses_unlockable")));
    CHECK(arr_len(proc, "problems") == 0);
    CHECK(json_integer_value(json_object_get(j, "audit_records")) > 0);
    CHECK(json_is_true(json_object_get(j, "ok")));
    json_decref(j);
    return 0;
}

/*
 * TLS and network hardening (issue 9): testssl.sh (Debian's /usr/bin/testssl) against
 * `medseal serve` on 127.0.0.1 through scripts/testssl.sh: no finding of severity MEDIUM or
 * higher, only TLS 1.3 offered, HSTS present, no Server banner. Skips when testssl is absent.
 * Trusts: scripts/testssl.sh, testssl. Owns: its temp folder (the script stops its server).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "test.h"

TEST(test_zz_hardening_testssl)
{
    char *out = NULL;
    if (access(ms_test_medseal(), X_OK) != 0)
        SKIP("the medseal CLI is not built");
    if (access("/usr/bin/testssl", X_OK) != 0)
        SKIP("testssl.sh is not installed (apt-get install testssl.sh)");
    int rc = ms_test_sh(&out, "'%s/scripts/testssl.sh' '%s' '%s/w' 2>&1", ms_test_root(),
                        ms_test_medseal(), ms_test_tmpdir());
    const char *line = out ? strstr(out, "TESTSSL {") : NULL;
    json_t *j = line ? json_loads(line + 8, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    fprintf(stderr, "  %s", line ? line : out ? out : "(no output)\n");
    free(out);
    CHECK(rc == 0 && j != NULL);
    /* testssl really ran: a full scan yields dozens of findings */
    CHECK(json_integer_value(json_object_get(j, "findings")) > 40);
    CHECK(json_array_size(json_object_get(j, "scan_problems")) == 0);
    CHECK(json_array_size(json_object_get(j, "medium_or_higher")) == 0);
    json_t *off = json_object_get(j, "offered");
    CHECK(json_array_size(off) == 1);
    CHECK_STR(json_string_value(json_array_get(off, 0)), "TLS1_3");
    CHECK(json_array_size(json_object_get(j, "hsts")) == 1);
    const char *b = json_string_value(json_array_get(json_object_get(j, "banner"), 0));
    CHECK(b != NULL && strstr(b, "No Server banner") != NULL);
    json_decref(j);
    return 0;
}

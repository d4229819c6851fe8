/*
 * CLI fail-closed promises (issue 15 item 9): `medseal scrub --jsonl` writes nothing at all when
 * any line of the batch fails, and names the failing line. Trusts: the built medseal binary.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"

TEST(test_cli_scrub_jsonl_fail_closed_for_the_batch)
{
    const char *t = ms_test_tmpdir();
    char *out = NULL, *err = NULL;
    /* line 1 fine, line 2 not a {"text"} object, line 3 fine */
    CHECK(ms_test_sh(NULL,
                     "printf '%%s\\n' '{\"text\":\"Patient John Smith seen today.\"}' "
                     "'[\"Mary Jones\"]' '{\"text\":\"MRN 48213377\"}' > %s/in.jsonl",
                     t) == 0);
    int rc = ms_test_sh(&out, "%s scrub --jsonl < %s/in.jsonl 2>%s/err", ms_test_medseal(), t, t);
    CHECK(rc != 0);
    CHECK(out == NULL || out[0] == '\0'); /* nothing of the batch */
    CHECK(ms_test_sh(&err, "cat %s/err", t) == 0 && err != NULL);
    CHECK(strstr(err, "line 2") != NULL);
    CHECK(strstr(err, "Mary") == NULL && strstr(err, "Smith") == NULL);
    free(out), free(err);
    /* all lines fine: one object per line */
    CHECK(ms_test_sh(NULL, "sed -i 2d %s/in.jsonl", t) == 0);
    out = NULL;
    CHECK(ms_test_sh(&out, "%s scrub --jsonl < %s/in.jsonl | wc -l", ms_test_medseal(), t) == 0);
    CHECK(out != NULL && atoi(out) == 2);
    free(out);
    return 0;
}

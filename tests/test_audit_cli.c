/*
 * Tests of `medseal audit` end to end: append, verify (state dir and an auditor's copy), a
 * tampered byte named by seq with exit status 1, export, prove / consistency and check-proof,
 * and usage errors (exit status 2, one line, no stack trace).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "test.h"

static int sh(char **out, const char *cmd)
{
    return ms_test_sh(out, "cd %s && %s", ms_test_tmpdir(), cmd);
}

TEST(test_audit_cli_end_to_end)
{
    const char *m = ms_test_medseal();
    char cmd[2048], *out = NULL;
    for (int i = 0; i < 5; i++) {
        snprintf(cmd, sizeof cmd,
                 "%s audit append --state st --action cli.analyze --outcome ok --request-id r%d "
                 "--patient MS-ABCDEFGHIJKLMNOP",
                 m, i);
        CHECK(sh(NULL, cmd) == 0);
    }
    snprintf(cmd, sizeof cmd, "%s audit verify --state st", m);
    CHECK(sh(&out, cmd) == 0);
    CHECK(out != NULL && strstr(out, "audit log intact") != NULL);
    free(out);
    /* an auditor's copy: public key and initial key given explicitly, the host key removed */
    snprintf(cmd, sizeof cmd,
             "cp -r st/audit copy && rm copy/initial.key && %s audit verify copy --pubkey "
             "st/audit/sign.pub --initial-key st/audit/initial.key",
             m);
    CHECK(sh(NULL, cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s audit export --state st", m);
    CHECK(sh(&out, cmd) == 0);
    CHECK(out != NULL && strstr(out, "\"request_id\":\"r3\"") != NULL);
    free(out);
    snprintf(cmd, sizeof cmd,
             "%s audit prove 3 --state st > p.json && %s audit check-proof p.json --pubkey "
             "st/audit/sign.pub && %s audit consistency 2 6 copy | %s audit check-proof -",
             m, m, m, m);
    CHECK(sh(NULL, cmd) == 0);
    /* flip one byte of the copy's first event payload: exit 1, the record named */
    snprintf(cmd, sizeof cmd,
             "f=copy/seg-00000000000000000000.log; printf '\\377' | dd of=$f bs=1 seek=300 "
             "conv=notrunc 2>/dev/null; %s audit verify copy --pubkey st/audit/sign.pub "
             "--initial-key st/audit/initial.key 2>&1",
             m);
    CHECK(sh(&out, cmd) == 1);
    CHECK(out != NULL && strstr(out, "record seq") != NULL && strstr(out, "MAC mismatch"));
    free(out);
    return 0;
}

TEST(test_audit_cli_usage_errors)
{
    const char *m = ms_test_medseal();
    char cmd[1024], *out = NULL;
    static const char *bad[] = {"audit",
                                "audit nope",
                                "audit verify",
                                "audit prove x --state s",
                                "audit append --state s",
                                "audit verify --state s --min-size -1",
                                "audit export"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s %s 2>&1", m, bad[i]);
        CHECK(sh(&out, cmd) == 2);
        CHECK(out != NULL);
        CHECK(strncmp(out, "medseal audit", 13) == 0 || strncmp(out, "usage:", 6) == 0);
        free(out);
    }
    snprintf(cmd, sizeof cmd, "%s audit append --state s --action 'Jane Doe' 2>&1", m);
    CHECK(sh(&out, cmd) == 1);
    CHECK(out != NULL && strstr(out, "Jane") == NULL); /* the value is never echoed */
    free(out);
    snprintf(cmd, sizeof cmd, "%s audit verify nowhere --pubkey nowhere.pub 2>&1", m);
    CHECK(sh(&out, cmd) == 1);
    free(out);
    return 0;
}

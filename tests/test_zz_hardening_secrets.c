/*
 * Secrets at rest (issue 9): a pseudonym key sealed by `medseal keygen --seal` (AES-256-GCM under
 * the master key) opens only with that master key; `medseal serve --master-key env:VAR` starts
 * with a sealed --pseudo-key, leaves no master key in the state dir (the audit log keys are
 * sealed under the given one) and `medseal audit export --master-key` reads the log; a wrong
 * master key stops the start.
 * Trusts: nothing. Owns: its temp folder and the servers it starts.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medseal/seal.h"
#include "test.h"

static int has(const char *s, const char *w)
{
    return s != NULL && strstr(s, w) != NULL;
}

TEST(test_zz_hardening_sealed_pseudo_key)
{
    const char *d = ms_test_tmpdir();
    char path[600], mkp[600], *o = NULL;
    uint8_t mk[MS_KEY_LEN], other[MS_KEY_LEN], k1[MS_KEY_LEN];
    int sealed = -1;
    if (access(ms_test_medseal(), X_OK) != 0)
        SKIP("the medseal CLI is not built");
    snprintf(mkp, sizeof mkp, "%s/master.key", d);
    snprintf(path, sizeof path, "%s/pseudo.sealed", d);
    CHECK(ms_test_sh(NULL,
                     "cd '%s' && '%s' keygen > master.key && '%s' keygen > other.key && "
                     "'%s' keygen --seal file:master.key > pseudo.sealed && chmod 600 *.key",
                     d, ms_test_medseal(), ms_test_medseal(), ms_test_medseal()) == 0);
    CHECK(ms_file_is_sealed(path));
    CHECK(ms_master_key_load(mkp, mk, NULL) == MS_OK);
    snprintf(mkp, sizeof mkp, "%s/other.key", d);
    CHECK(ms_master_key_load(mkp, other, NULL) == MS_OK);
    CHECK(ms_keyfile_read_sealed(path, mk, MS_SEAL_LABEL_PSEUDO_KEY, k1, &sealed, NULL) == MS_OK);
    CHECK(sealed == 1);
    CHECK(ms_keyfile_read_sealed(path, other, MS_SEAL_LABEL_PSEUDO_KEY, k1, NULL, NULL) ==
          MS_E_CRYPTO);
    CHECK(ms_keyfile_read_sealed(path, mk, "another label", k1, NULL, NULL) == MS_E_CRYPTO);
    CHECK(ms_keyfile_read_sealed(path, NULL, MS_SEAL_LABEL_PSEUDO_KEY, k1, NULL, NULL) ==
          MS_E_INVAL);
    /* the key bytes are not in the file in any plain form */
    CHECK(ms_test_sh(&o, "od -An -tx1 '%s' | tr -d ' \\n'", path) == 0);
    char hex[2 * MS_KEY_LEN + 1];
    for (size_t i = 0; i < MS_KEY_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", k1[i]);
    CHECK(!has(o, hex));
    free(o);
    /* a plain key file still reads */
    CHECK(ms_keyfile_read_sealed(mkp, NULL, MS_SEAL_LABEL_PSEUDO_KEY, k1, &sealed, NULL) == MS_OK);
    CHECK(sealed == 0);
    return 0;
}

static int serve_once(const char *d, const char *mkfile, char **out)
{
    return ms_test_sh(
        out,
        "cd '%s' || exit 1; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "-keyout srv.key -out srv.pem -subj /CN=localhost -days 2 2>/dev/null; "
        ": > serve.out; " /* emptied here, not by the child: grep must not see the last run */
        "MS_MK=$(cat '%s') '%s' serve --listen 127.0.0.1:0 --cert srv.pem --key srv.key "
        "--state state --pseudo-key pseudo.sealed --master-key env:MS_MK "
        "--insecure-no-attestation --allow-unlocked-memory >> serve.out 2>&1 & pid=$!; "
        "for i in $(seq 50); do grep -q listening serve.out && break; "
        "kill -0 $pid 2>/dev/null || break; sleep 0.1; done; "
        "kill -TERM $pid 2>/dev/null; wait $pid; echo rc=$?; cat serve.out",
        d, mkfile, ms_test_medseal());
}

TEST(test_zz_hardening_serve_master_key_env)
{
    const char *d = ms_test_tmpdir();
    char *o = NULL;
    if (access(ms_test_medseal(), X_OK) != 0)
        SKIP("the medseal CLI is not built");
    CHECK(ms_test_sh(NULL,
                     "cd '%s' && '%s' keygen > master.key && '%s' keygen > other.key && "
                     "'%s' keygen --seal file:master.key > pseudo.sealed",
                     d, ms_test_medseal(), ms_test_medseal(), ms_test_medseal()) == 0);
    CHECK(serve_once(d, "master.key", &o) == 0);
    fprintf(stderr, "  %s", o);
    CHECK(has(o, "listening") && has(o, "rc=0"));
    free(o);
    /* the master key stays out of the state dir; the audit log opens with it */
    CHECK(ms_test_sh(&o, "ls '%s/state' '%s/state/audit'", d, d) == 0);
    CHECK(!has(o, "master.key") && has(o, "log.key"));
    free(o);
    CHECK(ms_test_sh(&o, "cd '%s' && '%s' audit export --state state --master-key file:master.key",
                     d, ms_test_medseal()) == 0);
    CHECK(has(o, "server.start"));
    free(o);
    CHECK(ms_test_sh(&o,
                     "cd '%s' && '%s' audit export --state state --master-key file:other.key "
                     "2>&1; echo rc=$?",
                     d, ms_test_medseal()) == 0);
    CHECK(!has(o, "rc=0"));
    free(o);
    /* a wrong master key: the sealed pseudo key does not open, the server does not start */
    CHECK(serve_once(d, "other.key", &o) == 0);
    CHECK(!has(o, "listening"));
    free(o);
    return 0;
}

/* An admin key's TOTP secret is not in keys.sqlite in the clear (sealed under the admin's token),
 * and the admin still authenticates with it (the TOTP flow itself: test_gw_server_auth_roles_totp).
 */
TEST(test_zz_hardening_totp_sealed_in_keystore)
{
    const char *d = ms_test_tmpdir();
    char *o = NULL;
    if (access(ms_test_medseal(), X_OK) != 0)
        SKIP("the medseal CLI is not built");
    CHECK(ms_test_sh(&o, "'%s' keys create --state '%s/state' --role admin", ms_test_medseal(),
                     d) == 0);
    const char *sec = o ? strstr(o, "secret=") : NULL;
    CHECK(sec != NULL);
    char b32[64] = {0};
    size_t n = 0;
    for (sec += 7; n + 1 < sizeof b32 &&
                   ((sec[n] >= 'A' && sec[n] <= 'Z') || (sec[n] >= '2' && sec[n] <= '7'));
         n++)
        b32[n] = sec[n];
    CHECK(n == 32);
    free(o);
    /* the secret's 20 bytes as hex, then a hex dump of the database: no match */
    CHECK(ms_test_sh(&o,
                     "/usr/bin/python3 -c \"import base64,sys; "
                     "s=base64.b32decode('%s').hex(); d=open('%s/state/keys.sqlite','rb').read(); "
                     "print('found' if bytes.fromhex(s) in d else 'absent', len(d))\"",
                     b32, d) == 0);
    fprintf(stderr, "  totp secret in keys.sqlite: %s", o);
    CHECK(has(o, "absent"));
    free(o);
    return 0;
}

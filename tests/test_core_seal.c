/*
 * Tests of sealing secrets at rest and the master key sources (src/core/seal.c).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medseal/seal.h"
#include "test.h"

TEST(test_core_seal_roundtrip_and_tamper)
{
    uint8_t k[MS_KEY_LEN] = {7}, k2[MS_KEY_LEN] = {8};
    ms_buf s, p;
    ms_buf_init(&s, NULL, 0);
    ms_buf_init(&p, NULL, 0);
    CHECK(ms_seal(k, "audit-log-key", (const uint8_t *)"secret!", 7, &s, NULL) == MS_OK);
    CHECK_EQ_INT(s.len, 4 + 12 + 7 + 16);
    CHECK(memmem(s.p, s.len, "secret!", 7) == NULL);
    CHECK(ms_unseal(k, "audit-log-key", s.p, s.len, &p, NULL) == MS_OK);
    CHECK(p.len == 7 && memcmp(p.p, "secret!", 7) == 0);
    ms_buf_reset(&p);
    p.len = 0;
    CHECK(ms_unseal(k2, "audit-log-key", s.p, s.len, &p, NULL) == MS_E_CRYPTO);
    CHECK(ms_unseal(k, "pseudonym-key", s.p, s.len, &p, NULL) == MS_E_CRYPTO);
    for (size_t i = 4; i < s.len; i++) { /* every byte after the magic is authenticated */
        s.p[i] ^= 1;
        CHECK(ms_unseal(k, "audit-log-key", s.p, s.len, &p, NULL) == MS_E_CRYPTO);
        s.p[i] ^= 1;
    }
    CHECK(ms_unseal(k, "audit-log-key", s.p, 10, &p, NULL) == MS_E_FORMAT);
    CHECK_EQ_INT(p.len, 0);
    ms_buf_free(&s);
    ms_buf_free(&p);
    return 0;
}

TEST(test_core_master_key_sources)
{
    static const char hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    uint8_t k[MS_KEY_LEN];
    ms_err err = {0};
    setenv("MS_TEST_MASTER", hex, 1);
    CHECK(ms_master_key_load("env:MS_TEST_MASTER", k, &err) == MS_OK);
    CHECK(k[0] == 0 && k[31] == 0x1f);
    CHECK(getenv("MS_TEST_MASTER") == NULL); /* handed off, not left in the environment */
    int fds[2];
    CHECK(pipe(fds) == 0);
    CHECK(write(fds[1], hex, sizeof hex - 1) == (ssize_t)(sizeof hex - 1));
    close(fds[1]);
    char spec[32];
    snprintf(spec, sizeof spec, "fd:%d", fds[0]);
    CHECK(ms_master_key_load(spec, k, &err) == MS_OK);
    CHECK(k[1] == 1);
    char path[4096];
    snprintf(path, sizeof path, "%s/master.key", ms_test_tmpdir());
    CHECK(ms_file_write_atomic(path, hex, sizeof hex - 1, 0600, 0, &err) == MS_OK);
    snprintf(spec, sizeof spec, "file:");
    char fspec[4200];
    snprintf(fspec, sizeof fspec, "file:%s", path);
    CHECK(ms_master_key_load(fspec, k, &err) == MS_OK);
    CHECK(ms_master_key_load("env:MS_TEST_NOT_SET", k, &err) == MS_E_NOTFOUND);
    ms_err_clear(&err);
    CHECK(ms_master_key_load("fd:x", k, &err) == MS_E_INVAL);
    return 0;
}

/*
 * Tests of src/core: errors, allocator, buffers, reader, encoders, keys, pseudonyms, dates.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "medseal/core.h"
#include "test.h"

TEST(test_core_fail_first_wins)
{
    ms_err err = {0};
    CHECK(ms_fail(&err, MS_E_TRUNC, "first %d", 1) == MS_E_TRUNC);
    CHECK(ms_fail(&err, MS_E_FORMAT, "second") == MS_E_FORMAT);
    CHECK_EQ_INT(err.code, MS_E_TRUNC);
    CHECK_STR(err.msg, "first 1");
    CHECK_STR(ms_rc_name(MS_E_LIMIT), "MS_E_LIMIT");
    CHECK_STR(ms_rc_name((ms_rc)999), "MS_E_?");
    return 0;
}

TEST(test_core_alloc_ceiling_and_failure_injection)
{
    ms_alloc a = {0};
    a.limit = 100;
    void *p = ms_malloc(&a, 60);
    CHECK(p != NULL);
    CHECK(ms_malloc(&a, 60) == NULL); /* over the ceiling */
    CHECK_EQ_INT(atomic_load(&a.in_use), 60);
    ms_free(&a, p);
    CHECK_EQ_INT(atomic_load(&a.in_use), 0);
    ms_alloc b = {0};
    b.fail_at = 2;
    void *x = ms_malloc(&b, 8);
    CHECK(x != NULL);
    CHECK(ms_malloc(&b, 8) == NULL);
    void *y = ms_malloc(&b, 8);
    CHECK(y != NULL);
    ms_free(&b, x);
    ms_free(&b, y);
    ms_free(&b, NULL);
    return 0;
}

TEST(test_core_buf_growth_and_limit)
{
    ms_buf b;
    ms_err err = {0};
    ms_buf_init(&b, NULL, 10);
    CHECK(ms_buf_append_str(&b, "hello", &err) == MS_OK);
    CHECK(ms_buf_printf(&b, &err, "%d", 12345) == MS_OK);
    CHECK_STR((char *)b.p, "hello12345");
    CHECK(ms_buf_append_byte(&b, 'x', &err) == MS_E_LIMIT);
    CHECK_EQ_INT(b.len, 10);
    ms_buf_free(&b);
    return 0;
}

TEST(test_core_buf_alloc_failure_sweep)
{
    for (long n = 1; n < 50; n++) {
        ms_alloc a = {0};
        a.fail_at = n;
        ms_buf b;
        ms_buf_init(&b, &a, 0);
        ms_rc rc = MS_OK;
        for (int i = 0; i < 200 && rc == MS_OK; i++)
            rc = ms_buf_append_str(&b, "0123456789", NULL);
        CHECK(rc == MS_OK || rc == MS_E_NOMEM);
        ms_buf_free(&b);
        CHECK_EQ_INT(atomic_load(&a.in_use), 0);
        if (rc == MS_OK)
            return 0;
    }
    return 1;
}

TEST(test_core_reader_bounds)
{
    static const uint8_t in[] = {1, 2, 3, 4, 5};
    ms_rd r = {in, sizeof in};
    uint32_t v;
    uint16_t w;
    CHECK(ms_rd_u32le(&r, &v) == MS_OK);
    CHECK_EQ_INT(v, 0x04030201);
    CHECK(ms_rd_u16be(&r, &w) == MS_E_TRUNC);
    CHECK_EQ_INT(r.left, 1);
    CHECK(ms_rd_skip(&r, (size_t)-1) == MS_E_TRUNC);
    CHECK(ms_rd_skip(&r, 1) == MS_OK);
    CHECK_EQ_INT(r.left, 0);
    return 0;
}

TEST(test_core_base64_rfc4648_vectors)
{
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        ms_buf b, d;
        ms_buf_init(&b, NULL, 0);
        ms_buf_init(&d, NULL, 0);
        CHECK(ms_b64_encode((const uint8_t *)plain[i], strlen(plain[i]), &b, NULL) == MS_OK);
        CHECK_STR(b.len ? (char *)b.p : "", enc[i]);
        CHECK(ms_b64_decode(enc[i], strlen(enc[i]), &d, NULL) == MS_OK);
        CHECK_EQ_INT(d.len, strlen(plain[i]));
        CHECK(d.len == 0 || memcmp(d.p, plain[i], d.len) == 0);
        ms_buf_free(&b);
        ms_buf_free(&d);
    }
    ms_buf d;
    ms_buf_init(&d, NULL, 0);
    CHECK(ms_b64_decode("Zm9v!", 5, &d, NULL) == MS_E_FORMAT);
    CHECK(ms_b64_decode("Z", 1, &d, NULL) == MS_E_FORMAT);
    ms_buf_free(&d);
    return 0;
}

TEST(test_core_hmac_rfc4231_case2)
{
    uint8_t out[32];
    CHECK(ms_hmac_sha256((const uint8_t *)"Jefe", 4, "what do ya want ", 16, "for nothing?", 12,
                         out, NULL) == MS_OK);
    ms_buf h;
    ms_buf_init(&h, NULL, 0);
    CHECK(ms_hex_encode(out, 32, &h, NULL) == MS_OK);
    CHECK_STR((char *)h.p, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    ms_buf_free(&h);
    return 0;
}

/* RFC 4231 case 6: a key longer than the block is hashed first; and ms_hmac_pre (many messages
 * under one key) gives the same MACs as ms_hmac_sha256. */
TEST(test_core_hmac_rfc4231_case6_and_precomputed)
{
    uint8_t key[131], out[32], again[32];
    memset(key, 0xaa, sizeof key);
    const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    CHECK(ms_hmac_sha256(key, sizeof key, msg, strlen(msg), NULL, 0, out, NULL) == MS_OK);
    ms_buf h;
    ms_buf_init(&h, NULL, 0);
    CHECK(ms_hex_encode(out, 32, &h, NULL) == MS_OK);
    CHECK_STR((char *)h.p, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    ms_buf_free(&h);
    ms_hmac_pre pre;
    ms_hmac_pre_key(&pre, key, sizeof key);
    for (int i = 0; i < 3; i++) { /* the precomputed state is reused, not consumed */
        ms_hmac_pre_mac(&pre, msg, 20, msg + 20, strlen(msg) - 20, again);
        CHECK(memcmp(out, again, 32) == 0);
    }
    ms_hmac_pre_key(&pre, (const uint8_t *)"Jefe", 4);
    ms_hmac_pre_mac(&pre, "what do ya want for nothing?", 28, NULL, 0, again);
    CHECK(ms_hmac_sha256((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, NULL, 0,
                         out, NULL) == MS_OK);
    CHECK(memcmp(out, again, 32) == 0);
    ms_memzero(&pre, sizeof pre);
    return 0;
}

/* ms_hmac_sha256 and ms_hmac_pre against OpenSSL's own HMAC (EVP) for keys of 0..200 bytes
 * (shorter and longer than the block) and messages of 0..300 bytes, split in two parts. */
TEST(test_core_hmac_matches_openssl_hmac)
{
    uint8_t key[200], msg[300], a[32], b[32], c[32];
    unsigned blen = 0;
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(i * 37 + 11);
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 101 + 7);
    for (size_t kl = 0; kl <= sizeof key; kl += 13) {
        ms_hmac_pre pre;
        ms_hmac_pre_key(&pre, key, kl);
        for (size_t ml = 0; ml <= sizeof msg; ml += 29) {
            size_t cut = ml / 3;
            CHECK(HMAC(EVP_sha256(), key, (int)kl, msg, ml, b, &blen) != NULL && blen == 32);
            CHECK(ms_hmac_sha256(key, kl, msg, cut, msg + cut, ml - cut, a, NULL) == MS_OK);
            ms_hmac_pre_mac(&pre, msg, cut, msg + cut, ml - cut, c);
            CHECK(memcmp(a, b, 32) == 0);
            CHECK(memcmp(c, b, 32) == 0);
        }
    }
    return 0;
}

TEST(test_core_pseudonyms_stable_and_keyed)
{
    uint8_t k1[MS_KEY_LEN] = {1}, k2[MS_KEY_LEN] = {2};
    char u1[MS_UID_MAX], u2[MS_UID_MAX], u3[MS_UID_MAX];
    CHECK(ms_pseudo_uid(k1, "1.2.3.4", 7, u1, NULL) == MS_OK);
    CHECK(ms_pseudo_uid(k1, "1.2.3.4\0", 8, u2, NULL) == MS_OK); /* UI padding ignored */
    CHECK(ms_pseudo_uid(k2, "1.2.3.4", 7, u3, NULL) == MS_OK);
    CHECK_STR(u1, u2);
    CHECK(strcmp(u1, u3) != 0);
    CHECK(strncmp(u1, "2.25.", 5) == 0 && strlen(u1) <= 64);
    char p1[MS_PSEUDO_MAX], p2[MS_PSEUDO_MAX];
    CHECK(ms_pseudo_patient(k1, "HOSP", 4, "12345", 5, p1, NULL) == MS_OK);
    CHECK(ms_pseudo_patient(k1, "HOSP", 4, "12345 ", 6, p2, NULL) == MS_OK);
    CHECK_STR(p1, p2);
    CHECK(ms_pseudo_patient(k1, "OTHER", 5, "12345", 5, p2, NULL) == MS_OK);
    CHECK(strcmp(p1, p2) != 0);
    int d1, d2;
    CHECK(ms_pseudo_date_offset(k1, "HOSP", 4, "12345", 5, &d1, NULL) == MS_OK);
    CHECK(ms_pseudo_date_offset(k1, "HOSP", 4, "12345", 5, &d2, NULL) == MS_OK);
    CHECK_EQ_INT(d1, d2);
    CHECK(d1 >= -365 && d1 <= -1);
    return 0;
}

TEST(test_core_date_shift)
{
    char out[9];
    CHECK(ms_da_shift("20240301", 8, -1, out, NULL) == MS_OK);
    CHECK_STR(out, "20240229");
    CHECK(ms_da_shift("20230101", 8, -365, out, NULL) == MS_OK);
    CHECK_STR(out, "20220101");
    CHECK(ms_da_shift("20230230", 8, 1, out, NULL) == MS_E_FORMAT);
    CHECK(ms_da_shift("2023013", 7, 1, out, NULL) == MS_E_FORMAT);
    long d;
    CHECK(ms_date_to_days(1970, 1, 1, &d) == MS_OK);
    CHECK_EQ_INT(d, 0);
    return 0;
}

TEST(test_core_atomic_write_refuses_overwrite)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/out.bin", ms_test_tmpdir());
    ms_err err = {0};
    CHECK(ms_file_write_atomic(path, "abc", 3, 0600, 0, &err) == MS_OK);
    CHECK(ms_file_write_atomic(path, "xyz", 3, 0600, 0, &err) == MS_E_EXISTS);
    ms_err_clear(&err);
    CHECK(ms_file_write_atomic(path, "xyz", 3, 0600, 1, &err) == MS_OK);
    ms_buf b;
    CHECK(ms_file_read(path, NULL, 0, &b, &err) == MS_OK);
    CHECK_STR((char *)b.p, "xyz");
    ms_buf_free(&b);
    return 0;
}

TEST(test_core_keyfile_roundtrip_and_cli_keygen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/site.key", ms_test_tmpdir());
    CHECK(ms_test_sh(NULL, "%s keygen > %s", ms_test_medseal(), path) == 0);
    uint8_t key[MS_KEY_LEN];
    ms_err err = {0};
    CHECK(ms_keyfile_read(path, key, &err) == MS_OK);
    CHECK(ms_file_write_atomic(path, "nothex\n", 7, 0600, 1, &err) == MS_OK);
    CHECK(ms_keyfile_read(path, key, &err) == MS_E_FORMAT);
    return 0;
}

/*
 * Gateway unit tests without the network: RFC 6238 TOTP against the RFC's own test vectors, base32,
 * the multipart/related (STOW-RS) parser, the chat request validator (OpenAI `param` reporting),
 * the upstream SSE normaliser (quirks, every split point), the SQLite key store (only hashes on
 * disk) and the config file reader, plus a replay of the fuzz corpora.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/internal.h"
#include "medseal/gateway.h"
#include "test.h"

/* RFC 6238 Appendix B: (time, SHA-1, SHA-256, SHA-512) 8-digit values. */
static const struct {
    uint64_t t;
    uint32_t v[3];
} rfc6238[] = {
    {59, {94287082, 46119246, 90693936}},         {1111111109, {7081804, 68084774, 25091201}},
    {1111111111, {14050471, 67062674, 99943326}}, {1234567890, {89005924, 91819424, 93441116}},
    {2000000000, {69279037, 90698825, 38618901}}, {20000000000ull, {65353130, 77737706, 47863826}},
};

TEST(test_gw_totp_rfc6238_vectors)
{
    static const char *const seeds[3] = {
        "12345678901234567890", "12345678901234567890123456789012",
        "1234567890123456789012345678901234567890123456789012345678901234"};
    static const gw_totp_hash hs[3] = {GW_TOTP_SHA1, GW_TOTP_SHA256, GW_TOTP_SHA512};
    for (size_t i = 0; i < sizeof rfc6238 / sizeof rfc6238[0]; i++) {
        for (size_t h = 0; h < 3; h++) {
            uint32_t code = 0;
            CHECK(gw_totp((const uint8_t *)seeds[h], strlen(seeds[h]), hs[h], rfc6238[i].t, 30, 8,
                          &code, NULL) == MS_OK);
            CHECK_EQ_INT(code, rfc6238[i].v[h]);
        }
    }
    return 0;
}

TEST(test_gw_totp_check_window)
{
    const uint8_t *seed = (const uint8_t *)"12345678901234567890";
    /* 6-digit value at t = 59 is the last 6 digits of 94287082 */
    CHECK(gw_totp_check(seed, "287082", 6, 59));
    CHECK(gw_totp_check(seed, "287082", 6, 59 + 30)); /* one step of skew */
    CHECK(!gw_totp_check(seed, "287082", 6, 59 + 90));
    CHECK(!gw_totp_check(seed, "287083", 6, 59));
    CHECK(!gw_totp_check(seed, "28708", 5, 59));
    CHECK(!gw_totp_check(seed, NULL, 0, 59));
    uint32_t c;
    CHECK(gw_totp(seed, 20, GW_TOTP_SHA1, 59, 0, 6, &c, NULL) == MS_E_INVAL);
    CHECK(gw_totp(seed, 20, GW_TOTP_SHA1, 59, 30, 9, &c, NULL) == MS_E_INVAL);
    /* the step a code belongs to, for replay protection: 59 / 30 = 1, whatever the skew */
    uint64_t step = 0;
    CHECK(gw_totp_match(seed, "287082", 6, 59, &step) && step == 1);
    CHECK(gw_totp_match(seed, "287082", 6, 59 + 30, &step) && step == 1);
    CHECK(gw_totp_match(seed, "287082", 6, 59 - 30, &step) && step == 1);
    CHECK(!gw_totp_match(seed, "287083", 6, 59, &step));
    return 0;
}

/* gw__json_str_append writes what jansson's JSON_COMPACT dump writes (the analyst's answer is
 * built with it) and refuses what json_stringn refuses: every 1- and 2-byte string, every 3-byte
 * one with a continuation byte last, and a text with every escape. */
static int str_same(const uint8_t *s, size_t n)
{
    json_t *j = json_stringn((const char *)s, n);
    char *want = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    int ok = ms_buf_append_str(&b, "\"", NULL) == MS_OK;
    ms_rc rc = gw__json_str_append(&b, s, n, NULL);
    ok = ok && ms_buf_append_str(&b, "\"", NULL) == MS_OK;
    if (want == NULL)
        ok = ok && rc == MS_E_FORMAT;
    else
        ok = ok && rc == MS_OK && strlen(want) == b.len && memcmp(want, b.p, b.len) == 0;
    free(want);
    json_decref(j);
    ms_buf_free(&b);
    return ok;
}

TEST(test_gw_json_str_append_matches_jansson)
{
    uint8_t s[4];
    int bad = 0;
    for (unsigned c = 0; c < 256; c++) {
        s[0] = (uint8_t)c;
        bad += !str_same(s, 1);
        for (unsigned d = 0; d < 256; d++) {
            s[1] = (uint8_t)d;
            bad += !str_same(s, 2);
            s[2] = 0x80;
            bad += !str_same(s, 3);
        }
    }
    CHECK_EQ_INT(bad, 0);
    const char *t = "a \"q\" \\ \b\f\n\r\t \x01\x1f\x7f / \xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\x80 end";
    CHECK(str_same((const uint8_t *)t, strlen(t)));
    CHECK(str_same((const uint8_t *)"x\0y", 3));
    CHECK(str_same((const uint8_t *)"\xed\xa0\x80", 3)); /* a surrogate: both refuse */
    return 0;
}

/* The last used TOTP step per admin key: only a greater step wins, per key, across reopening;
 * databases made before the column existed are migrated. */
/* request and completion ids: prefix + 24 lower-case hex digits, NUL-terminated, and random */
TEST(test_gw_random_id_format)
{
    char a[48], b[48];
    memset(a, 'x', sizeof a);
    gw__random_id(a, "req_", 4);
    gw__random_id(b, "req_", 4);
    CHECK_EQ_INT((int)strlen(a), 28);
    CHECK(strncmp(a, "req_", 4) == 0 && strcmp(a, b) != 0);
    CHECK(strspn(a + 4, "0123456789abcdef") == 24);
    gw__random_id(a, "chatcmpl-", 9);
    CHECK_EQ_INT((int)strlen(a), 33);
    CHECK(strncmp(a, "chatcmpl-", 9) == 0 && strspn(a + 9, "0123456789abcdef") == 24);
    return 0;
}

TEST(test_gw_keystore_totp_replay)
{
    gw_keystore *ks = NULL;
    gw_new_key a, b, r;
    ms_err err = {0};
    const char *dir = ms_test_tmpdir();
    char *out = NULL;
    /* an old database without totp_step */
    CHECK(ms_test_sh(NULL,
                     "/usr/bin/python3 -c \"import sqlite3; c = sqlite3.connect('%s/keys.sqlite'); "
                     "c.execute('CREATE TABLE keys (id TEXT PRIMARY KEY, hash BLOB NOT NULL, role "
                     "INTEGER NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL, revoked "
                     "INTEGER NOT NULL DEFAULT 0, rate INTEGER NOT NULL DEFAULT 0, totp BLOB)'); "
                     "c.commit()\"",
                     dir) == 0);
    CHECK(gw_keystore_open(dir, &ks, &err) == MS_OK);
    CHECK(gw_keystore_create(ks, GW_ROLE_ADMIN, 0, 0, &a, &err) == MS_OK);
    CHECK(gw_keystore_create(ks, GW_ROLE_ADMIN, 0, 0, &b, &err) == MS_OK);
    CHECK(gw_keystore_create(ks, GW_ROLE_RESEARCHER, 0, 0, &r, &err) == MS_OK);
    CHECK(gw_keystore_totp_claim(ks, a.id, 100, &err) == MS_OK);
    CHECK(gw_keystore_totp_claim(ks, a.id, 100, &err) == MS_E_AUTH);
    CHECK(strstr(err.msg, a.id) == NULL);
    CHECK(gw_keystore_totp_claim(ks, a.id, 99, NULL) == MS_E_AUTH);
    CHECK(gw_keystore_totp_claim(ks, b.id, 100, NULL) == MS_OK); /* per key */
    CHECK(gw_keystore_totp_claim(ks, r.id, 100, NULL) == MS_E_AUTH); /* admins only */
    CHECK(gw_keystore_totp_claim(ks, "000000000000", 100, NULL) == MS_E_AUTH);
    gw_keystore_close(ks);
    CHECK(gw_keystore_open(dir, &ks, &err) == MS_OK);
    CHECK(gw_keystore_totp_claim(ks, a.id, 100, NULL) == MS_E_AUTH);
    CHECK(gw_keystore_totp_claim(ks, a.id, 101, NULL) == MS_OK);
    gw_keystore_close(ks);
    CHECK(ms_test_sh(&out,
                     "/usr/bin/python3 -c \"import sqlite3; c = sqlite3.connect('%s/keys.sqlite'); "
                     "print(c.execute('SELECT totp_step FROM keys WHERE id = ?', ('%s',)).fetchone()[0])\"",
                     dir, a.id) == 0);
    CHECK(out != NULL && atoi(out) == 101);
    free(out);
    return 0;
}

TEST(test_gw_base32_rfc4648)
{
    char out[32];
    gw_base32((const uint8_t *)"foobar", 6, out);
    CHECK_STR(out, "MZXW6YTBOI");
    gw_base32((const uint8_t *)"f", 1, out);
    CHECK_STR(out, "MY");
    gw_base32((const uint8_t *)"", 0, out);
    CHECK_STR(out, "");
    return 0;
}

/* ---- multipart ---- */

struct parts {
    size_t n;
    char ct[4][64];
    char data[4][64];
};

static ms_rc collect_part(void *ud, const gw_part *p, ms_err *err)
{
    struct parts *ps = ud;
    (void)err;
    if (ps->n < 4) {
        snprintf(ps->ct[ps->n], 64, "%.*s", (int)p->content_type.len,
                 (const char *)p->content_type.p);
        snprintf(ps->data[ps->n], 64, "%.*s", (int)p->data.len, (const char *)p->data.p);
    }
    ps->n++;
    return MS_OK;
}

static const char MP_BODY[] = "preamble\r\n--XyZ\r\nContent-Type: application/dicom\r\n"
                              "Content-Length: 5\r\n\r\nDICM1\r\n--XyZ  \r\n"
                              "content-type:application/dicom\r\n\r\nAB\r\n--CD\r\n"
                              "--XyZ--\r\nepilogue";

TEST(test_gw_multipart_parses_parts)
{
    struct parts ps = {0};
    char b[80];
    ms_err err = {0};
    CHECK(gw_multipart_boundary("multipart/related; type=\"application/dicom\"; boundary=\"XyZ\"",
                                b, sizeof b, &err) == MS_OK);
    CHECK_STR(b, "XyZ");
    CHECK(gw_multipart_boundary("multipart/related; boundary=XyZ; type=x", b, sizeof b, &err) ==
          MS_OK);
    CHECK_STR(b, "XyZ");
    CHECK(gw_multipart_parse((const uint8_t *)MP_BODY, sizeof MP_BODY - 1, "XyZ", collect_part, &ps,
                             &err) == MS_OK);
    CHECK_EQ_INT(ps.n, 2);
    CHECK_STR(ps.ct[0], "application/dicom");
    CHECK_STR(ps.data[0], "DICM1");
    CHECK_STR(ps.ct[1], "application/dicom");
    CHECK_STR(ps.data[1], "AB\r\n--CD"); /* a near-delimiter inside data stays data */
    return 0;
}

TEST(test_gw_multipart_rejects_bad_input)
{
    struct parts ps = {0};
    char b[80];
    ms_err err = {0};
    CHECK(gw_multipart_boundary("multipart/related", b, sizeof b, &err) == MS_E_FORMAT);
    char longb[320] = "multipart/related; boundary=", big[256];
    memset(longb + strlen(longb), 'a', 201);
    CHECK(gw_multipart_boundary(longb, big, sizeof big, NULL) == MS_E_FORMAT);
    /* 73 characters (Orthanc 1.7's two UUIDs) up to 200 are accepted (RFC 2046 says 70) */
    longb[strlen("multipart/related; boundary=") + 200] = '\0';
    CHECK(gw_multipart_boundary(longb, big, sizeof big, NULL) == MS_OK);
    CHECK_EQ_INT(strlen(big), 200);
    /* every truncation of a valid body: an error (never a crash), except the full body */
    for (size_t n = 0; n < sizeof MP_BODY - 1; n++) {
        ms_err e2 = {0};
        memset(&ps, 0, sizeof ps);
        uint8_t *copy = malloc(n + 1);
        memcpy(copy, MP_BODY, n);
        ms_rc rc = gw_multipart_parse(copy, n, "XyZ", collect_part, &ps, &e2);
        free(copy);
        size_t full = (size_t)(strstr(MP_BODY, "\r\n--XyZ--") - MP_BODY) + 9;
        if (n < full)
            CHECK(rc != MS_OK);
        else
            CHECK(rc == MS_OK);
        if (rc != MS_OK)
            CHECK(e2.msg[0] != '\0');
    }
    return 0;
}

/* The incremental parser: the body fed in two pieces at every split point, and one byte at a
 * time, gives the parts the whole body gives; a part over max_part is refused while it streams. */
TEST(test_gw_multipart_stream_every_split)
{
    const size_t n = sizeof MP_BODY - 1;
    const uint8_t *body = (const uint8_t *)MP_BODY;
    for (size_t cut = 0; cut <= n + 1; cut++) {
        struct parts ps = {0};
        gw_mp m;
        ms_err err = {0};
        gw_mp_init(&m, NULL, "XyZ", 0, collect_part, &ps);
        if (cut <= n) {
            CHECK(gw_mp_feed(&m, body, cut, &err) == MS_OK);
            CHECK(gw_mp_feed(&m, body + cut, n - cut, &err) == MS_OK);
        } else {
            for (size_t i = 0; i < n; i++)
                CHECK(gw_mp_feed(&m, body + i, 1, &err) == MS_OK);
        }
        CHECK(gw_mp_finish(&m, &err) == MS_OK);
        gw_mp_free(&m);
        CHECK_EQ_INT(ps.n, 2);
        CHECK_STR(ps.ct[0], "application/dicom");
        CHECK_STR(ps.data[0], "DICM1");
        CHECK_STR(ps.data[1], "AB\r\n--CD");
    }
    /* max_part: the 8-byte second part is refused before its end arrives */
    struct parts ps = {0};
    gw_mp m;
    ms_err err = {0};
    gw_mp_init(&m, NULL, "XyZ", 6, collect_part, &ps);
    ms_rc rc = MS_OK;
    for (size_t i = 0; i < n && rc == MS_OK; i++)
        rc = gw_mp_feed(&m, body + i, 1, &err);
    CHECK(rc == MS_E_LIMIT);
    CHECK(strstr(err.msg, "part 2") != NULL);
    CHECK(gw_mp_finish(&m, NULL) == MS_E_LIMIT);
    gw_mp_free(&m);
    CHECK_EQ_INT(ps.n, 1);
    return 0;
}

static ms_rc count_part(void *ud, const gw_part *p, ms_err *err)
{
    (void)p, (void)err;
    (*(size_t *)ud)++;
    return MS_OK;
}

TEST(test_gw_multipart_part_limit)
{
    ms_buf b;
    size_t n = 0;
    ms_err err = {0};
    ms_buf_init(&b, NULL, 0);
    for (int i = 0; i <= GW_MAX_STOW_PARTS; i++)
        CHECK(ms_buf_append_str(&b, "--b\r\n\r\nx\r\n", NULL) == MS_OK);
    CHECK(ms_buf_append_str(&b, "--b--\r\n", NULL) == MS_OK);
    CHECK(gw_multipart_parse(b.p, b.len, "b", count_part, &n, &err) == MS_E_LIMIT);
    CHECK_EQ_INT(n, GW_MAX_STOW_PARTS);
    ms_buf_free(&b);
    return 0;
}

/* ---- chat request ---- */

static ms_rc parse_str(const char *s, gw_chat_info *ci, ms_err *err)
{
    memset(ci, 0, sizeof *ci);
    return gw_chat_parse((const uint8_t *)s, strlen(s), ci, NULL, err);
}

TEST(test_gw_chat_parse_valid)
{
    gw_chat_info ci;
    ms_err err = {0};
    CHECK(parse_str("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
                    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"},"
                    "{\"type\":\"file\",\"file\":{\"file_data\":\"AAAA\"}}]},"
                    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c\","
                    "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                    "{\"role\":\"tool\",\"tool_call_id\":\"c\",\"content\":\"r\"}],"
                    "\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                    "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":"
                    "\"r\",\"schema\":{}}},\"max_completion_tokens\":50,\"max_tokens\":9}",
                    &ci, &err) == MS_OK);
    CHECK_STR(ci.model, "m");
    CHECK_EQ_INT(ci.n_messages, 4);
    CHECK_EQ_INT(ci.n_files, 1);
    CHECK(ci.stream && ci.include_usage);
    CHECK_EQ_INT(ci.format, GW_FMT_JSON_SCHEMA);
    CHECK_EQ_INT(ci.max_tokens, 50); /* max_completion_tokens wins */
    CHECK(parse_str("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                    "\"max_tokens\":7,\"response_format\":{\"type\":\"json_object\"}}",
                    &ci, &err) == MS_OK);
    CHECK_EQ_INT(ci.max_tokens, 7);
    CHECK_EQ_INT(ci.format, GW_FMT_JSON_OBJECT);
    CHECK(!ci.stream);
    return 0;
}

TEST(test_gw_chat_parse_errors_name_param)
{
    static const struct {
        const char *body, *param;
        ms_rc rc;
    } cases[] = {
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "model", MS_E_FORMAT},
        {"{\"model\":\"m\"}", "messages", MS_E_FORMAT},
        {"{\"model\":\"m\",\"messages\":[]}", "messages", MS_E_FORMAT},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"boss\",\"content\":\"x\"}]}",
         "messages[0].role", MS_E_FORMAT},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"user\","
         "\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}",
         "messages[1].content[0]", MS_E_UNSUPPORTED},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}",
         "max_tokens", MS_E_FORMAT},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":1}",
         "stream", MS_E_FORMAT},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"response_format\":{\"type\":\"json_schema\"}}",
         "response_format.json_schema", MS_E_FORMAT},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", "n",
         MS_E_UNSUPPORTED},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":3}",
         "temperature", MS_E_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw_chat_info ci;
        ms_err err = {0};
        ms_rc rc = parse_str(cases[i].body, &ci, &err);
        if (rc != cases[i].rc || strcmp(ci.param, cases[i].param) != 0) {
            fprintf(stderr, "  case %zu: rc %d param '%s'\n", i, (int)rc, ci.param);
            return 1;
        }
        CHECK(err.msg[0] != '\0');
    }
    return 0;
}

TEST(test_gw_chat_parse_rejects_smuggling_and_garbage)
{
    gw_chat_info ci;
    ms_err err = {0};
    /* duplicate keys: a proxy and an upstream could disagree on which one counts */
    CHECK(parse_str("{\"model\":\"a\",\"model\":\"b\",\"messages\":[{\"role\":\"user\","
                    "\"content\":\"x\"}]}",
                    &ci, &err) == MS_E_FORMAT);
    CHECK(strstr(err.msg, "\"a\"") == NULL && strstr(err.msg, "\"b\"") == NULL);
    ms_err_clear(&err);
    CHECK(parse_str("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Jane "
                    "Doe\\u0000\"}]}",
                    &ci, &err) == MS_E_FORMAT);
    CHECK(strstr(err.msg, "Jane") == NULL);
    CHECK(parse_str("[1,2]", &ci, NULL) == MS_E_FORMAT);
    CHECK(parse_str("", &ci, NULL) == MS_E_FORMAT);
    CHECK(parse_str("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}",
                    &ci, NULL) == MS_E_FORMAT);
    return 0;
}

/* ---- SSE normaliser ---- */

static ms_rc collect_event(void *ud, const char *json, size_t len, ms_err *err)
{
    ms_buf *b = ud;
    if (ms_buf_append(b, json, len, err) != MS_OK || ms_buf_append_byte(b, '|', err) != MS_OK)
        return MS_E_NOMEM;
    return MS_OK;
}

static const char SSE_IN[] =
    ": ping\r\n\r\n"
    "data: {\"id\":\"1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n"
    "event: x\nid: 3\n"
    "data: {\"id\":\"2\",\"choices\":null,\"usage\":{\"total_tokens\":3}}\n\n"
    "error: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n"
    "data: [DONE]\n\n";

TEST(test_gw_sse_normalises_quirks_at_every_split)
{
    ms_buf whole, part;
    gw_sse s;
    gw__json_init();
    ms_buf_init(&whole, NULL, 0);
    gw_sse_init(&s, NULL, 0);
    CHECK(gw_sse_feed(&s, (const uint8_t *)SSE_IN, sizeof SSE_IN - 1, collect_event, &whole,
                      NULL) == MS_OK);
    gw_sse_free(&s);
    const char *w = (const char *)whole.p;
    CHECK(strstr(w, "\"choices\":[{") != NULL);
    CHECK(strstr(w, "\"choices\":[]") != NULL); /* vLLM choices:null */
    CHECK(strstr(w, "{\"error\":{\"message\":\"boom\"") != NULL);
    CHECK(strstr(w, "|[DONE]|") != NULL);
    CHECK(strstr(w, "ping") == NULL);
    for (size_t cut = 1; cut < sizeof SSE_IN - 1; cut++) {
        ms_buf_init(&part, NULL, 0);
        gw_sse_init(&s, NULL, 0);
        CHECK(gw_sse_feed(&s, (const uint8_t *)SSE_IN, cut, collect_event, &part, NULL) == MS_OK);
        CHECK(gw_sse_feed(&s, (const uint8_t *)SSE_IN + cut, sizeof SSE_IN - 1 - cut, collect_event,
                          &part, NULL) == MS_OK);
        gw_sse_free(&s);
        CHECK(part.len == whole.len && memcmp(part.p, whole.p, whole.len) == 0);
        ms_buf_free(&part);
    }
    ms_buf_free(&whole);
    return 0;
}

TEST(test_gw_sse_rejects_bad_events)
{
    ms_buf out;
    gw_sse s;
    ms_err err = {0};
    gw__json_init();
    ms_buf_init(&out, NULL, 0);
    gw_sse_init(&s, NULL, 64);
    CHECK(gw_sse_feed(&s, (const uint8_t *)"data: [1,2]\n\n", 13, collect_event, &out, &err) ==
          MS_E_FORMAT);
    gw_sse_free(&s);
    gw_sse_init(&s, NULL, 64);
    char longline[200];
    memset(longline, 'a', sizeof longline);
    CHECK(gw_sse_feed(&s, (const uint8_t *)longline, sizeof longline, collect_event, &out, NULL) ==
          MS_E_LIMIT);
    gw_sse_free(&s);
    ms_buf_free(&out);
    return 0;
}

/* ---- key store ---- */

struct listed {
    int n, revoked;
    gw_role last;
};

static void on_key(void *ud, const gw_key_info *k)
{
    struct listed *l = ud;
    l->n++;
    l->revoked += k->revoked;
    l->last = k->role;
}

TEST(test_gw_keystore_lifecycle)
{
    gw_keystore *ks = NULL;
    gw_new_key k, adm;
    gw_key_info info;
    uint8_t totp[20];
    ms_err err = {0};
    int64_t now = (int64_t)time(NULL);
    CHECK(gw_keystore_open(ms_test_tmpdir(), &ks, &err) == MS_OK);
    CHECK(gw_keystore_create(ks, GW_ROLE_RESEARCHER, 0, 5, &k, &err) == MS_OK);
    CHECK(strncmp(k.text, "msk_", 4) == 0 && strlen(k.text) == 4 + 12 + 1 + 48);
    CHECK(k.totp_b32[0] == '\0');
    CHECK(gw_keystore_auth(ks, k.text, strlen(k.text), now, &info, NULL, &err) == MS_OK);
    CHECK_EQ_INT(info.role, GW_ROLE_RESEARCHER);
    CHECK_EQ_INT(info.rate_rpm, 5);
    CHECK_STR(info.id, k.id);
    /* one flipped character of the secret, of the id, a prefix: all refused alike */
    char bad[GW_KEY_TEXT_MAX];
    snprintf(bad, sizeof bad, "%s", k.text);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
    CHECK(gw_keystore_auth(ks, bad, strlen(bad), now, &info, NULL, &err) == MS_E_AUTH);
    CHECK(gw_keystore_auth(ks, k.text, strlen(k.text) - 1, now, &info, NULL, NULL) == MS_E_AUTH);
    CHECK(gw_keystore_auth(ks, "", 0, now, &info, NULL, NULL) == MS_E_AUTH);
    /* admin keys carry a TOTP secret */
    CHECK(gw_keystore_create(ks, GW_ROLE_ADMIN, now + 10, 0, &adm, &err) == MS_OK);
    CHECK(strlen(adm.totp_b32) == 32);
    CHECK(gw_keystore_auth(ks, adm.text, strlen(adm.text), now, &info, totp, &err) == MS_OK);
    CHECK_EQ_INT(info.role, GW_ROLE_ADMIN);
    char b32[64];
    gw_base32(totp, 20, b32);
    CHECK_STR(b32, adm.totp_b32);
    /* expiry, revocation */
    CHECK(gw_keystore_auth(ks, adm.text, strlen(adm.text), now + 10, &info, NULL, NULL) ==
          MS_E_AUTH);
    CHECK(gw_keystore_revoke(ks, k.id, &err) == MS_OK);
    CHECK(gw_keystore_auth(ks, k.text, strlen(k.text), now, &info, NULL, NULL) == MS_E_AUTH);
    CHECK(gw_keystore_revoke(ks, "000000000000", NULL) == MS_E_NOTFOUND);
    struct listed l = {0};
    CHECK(gw_keystore_list(ks, on_key, &l, &err) == MS_OK);
    CHECK_EQ_INT(l.n, 2);
    CHECK_EQ_INT(l.revoked, 1);
    gw_keystore_close(ks);
    /* the token is not on disk, only its HMAC */
    char *out = NULL;
    int rc =
        ms_test_sh(&out, "grep -c '%s' '%s/keys.sqlite' || true", k.text + 17, ms_test_tmpdir());
    CHECK(rc == 0 && out != NULL && atoi(out) == 0);
    free(out);
    return 0;
}

/* ---- config ---- */

TEST(test_gw_config_file)
{
    gw_config c;
    char path[512], *arena = NULL;
    ms_err err = {0};
    snprintf(path, sizeof path, "%s/gw.conf", ms_test_tmpdir());
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("# limits\nmax_body = 1024\n  rate_rpm=7 \nupstream = http://127.0.0.1:9/v1\n", f);
    fclose(f);
    gw_config_defaults(&c);
    CHECK(gw_config_load(&c, path, &arena, &err) == MS_OK);
    CHECK_EQ_INT(c.max_body, 1024);
    CHECK_EQ_INT(c.rate_rpm, 7);
    CHECK_STR(c.upstream, "http://127.0.0.1:9/v1");
    CHECK_EQ_INT(c.idle_timeout_s, 30);
    ms_free(NULL, arena);
    f = fopen(path, "w");
    fputs("max_bodyy = 1\n", f);
    fclose(f);
    CHECK(gw_config_load(&c, path, &arena, &err) == MS_E_FORMAT);
    CHECK(strstr(err.msg, "line 1") != NULL);
    f = fopen(path, "w");
    fputs("max_body = lots\n", f);
    fclose(f);
    ms_err_clear(&err);
    CHECK(gw_config_load(&c, path, &arena, &err) == MS_E_FORMAT);
    /* audit_sync: write (the default), fsync or batch; anything else is refused */
    CHECK_EQ_INT(c.audit_sync, GW_AUDIT_WRITE);
    const char *modes[] = {"fsync", "batch", "write"};
    const int want[] = {GW_AUDIT_FSYNC, GW_AUDIT_BATCH, GW_AUDIT_WRITE};
    for (int i = 0; i < 3; i++) {
        f = fopen(path, "w");
        fprintf(f, "audit_sync = %s\n", modes[i]);
        fclose(f);
        CHECK(gw_config_load(&c, path, &arena, &err) == MS_OK);
        CHECK_EQ_INT(c.audit_sync, want[i]);
        ms_free(NULL, arena);
    }
    f = fopen(path, "w");
    fputs("audit_sync = 1\n", f);
    fclose(f);
    ms_err_clear(&err);
    CHECK(gw_config_load(&c, path, &arena, &err) == MS_E_FORMAT);
    CHECK(strstr(err.msg, "audit_sync") != NULL);
    return 0;
}

/* ---- fuzz corpus replay ---- */

#include "../fuzz/gateway/fuzz_gateway.c"

TEST(test_gw_fuzz_corpus_replay)
{
    char dir[1024];
    struct dirent *e;
    int n = 0;
    snprintf(dir, sizeof dir, "%s/fuzz/gateway/corpus", ms_test_root());
    DIR *d = opendir(dir);
    if (d == NULL)
        SKIP("no fuzz/gateway/corpus");
    while ((e = readdir(d)) != NULL) {
        char p[2048];
        ms_buf b;
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        ms_buf_init(&b, NULL, 0);
        CHECK(ms_file_read(p, NULL, 0, &b, NULL) == MS_OK);
        CHECK(LLVMFuzzerTestOneInput(b.p, b.len) == 0);
        ms_buf_free(&b);
        n++;
    }
    closedir(d);
    CHECK(n >= 3);
    return 0;
}

/* Allocation-failure sweep over the SSE normaliser: every injected failure is a clean error,
 * never a crash or a partial event; the first n that passes gives the same events as no limit. */
TEST(test_gw_sse_allocation_failure_sweep)
{
    ms_buf ref;
    gw_sse s;
    gw__json_init();
    ms_buf_init(&ref, NULL, 0);
    gw_sse_init(&s, NULL, 0);
    CHECK(gw_sse_feed(&s, (const uint8_t *)SSE_IN, sizeof SSE_IN - 1, collect_event, &ref, NULL) ==
          MS_OK);
    gw_sse_free(&s);
    int passed = 0;
    for (long n = 1; n < 200 && !passed; n++) {
        ms_alloc a;
        ms_buf out;
        ms_err err = {0};
        memset(&a, 0, sizeof a);
        a.fail_at = n;
        ms_buf_init(&out, NULL, 0);
        gw_sse_init(&s, &a, 0);
        ms_rc rc =
            gw_sse_feed(&s, (const uint8_t *)SSE_IN, sizeof SSE_IN - 1, collect_event, &out, &err);
        gw_sse_free(&s);
        if (rc == MS_OK) {
            CHECK(out.len == ref.len && memcmp(out.p, ref.p, ref.len) == 0);
            passed = 1;
        } else {
            CHECK(err.msg[0] != '\0');
        }
        CHECK_EQ_INT(atomic_load(&a.in_use), 0);
        ms_buf_free(&out);
    }
    CHECK(passed);
    ms_buf_free(&ref);
    return 0;
}

/* The authentication cache never outlives a change on disk: a revocation by another process
 * (another connection here) is seen by the very next authentication. */
TEST(test_gw_keystore_cache_sees_revocation)
{
    gw_keystore *a = NULL, *b = NULL;
    gw_new_key k;
    gw_key_info info;
    int64_t now = (int64_t)time(NULL);
    CHECK(gw_keystore_open(ms_test_tmpdir(), &a, NULL) == MS_OK);
    CHECK(gw_keystore_create(a, GW_ROLE_CLINICIAN, 0, 0, &k, NULL) == MS_OK);
    for (int i = 0; i < 3; i++) /* the second and third hit the cache */
        CHECK(gw_keystore_auth(a, k.text, strlen(k.text), now, &info, NULL, NULL) == MS_OK);
    CHECK(gw_keystore_open(ms_test_tmpdir(), &b, NULL) == MS_OK);
    CHECK(gw_keystore_revoke(b, k.id, NULL) == MS_OK);
    CHECK(gw_keystore_auth(a, k.text, strlen(k.text), now, &info, NULL, NULL) == MS_E_AUTH);
    /* expiry is checked on cached entries too */
    gw_new_key e;
    CHECK(gw_keystore_create(b, GW_ROLE_RESEARCHER, now + 100, 0, &e, NULL) == MS_OK);
    CHECK(gw_keystore_auth(a, e.text, strlen(e.text), now, &info, NULL, NULL) == MS_OK);
    CHECK(gw_keystore_auth(a, e.text, strlen(e.text), now + 100, &info, NULL, NULL) == MS_E_AUTH);
    gw_keystore_close(a);
    gw_keystore_close(b);
    return 0;
}

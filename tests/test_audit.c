/*
 * Tests of src/audit: records, the writer, verification (a test per kind of tampering), Merkle
 * proofs against a brute-force tree, export, recovery of torn tails, and the PHI guard.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/internal.h"
#include "medseal/audit.h"
#include "test.h"

static const uint8_t master[MS_KEY_LEN] = {7, 7, 7, 7, 1, 2, 3};

static void rec_init(audit_record *r, int i)
{
    static const audit_phi_count phi[] = {{"NAME", 2}, {"DATE", 1}};
    static char rid[32];
    memset(r, 0, sizeof *r);
    snprintf(rid, sizeof rid, "req-%d", i);
    r->request_id = rid;
    r->key_id = "k_test";
    r->role = "clinician";
    r->action = "chat.completion";
    r->route = "/v1/chat/completions";
    r->model = "m1";
    r->outcome = "ok";
    r->status = 200;
    r->bytes_in = 100 + (uint64_t)i;
    r->bytes_out = 50;
    r->phi = phi;
    r->n_phi = 2;
    r->t_total_us = 1234;
    r->patient = "MS-ABCDEFGHIJKLMNOP";
}

/* Creates STATE with n events (and whatever system records the options cause), then closes. */
static int make_log(const char *state, const audit_opts *o, int n)
{
    audit_log *l = NULL;
    ms_err err = {0};
    if (audit_log_open(state, master, o, &l, &err) != MS_OK) {
        fprintf(stderr, "  open: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        audit_record r;
        rec_init(&r, i);
        if (audit_log_append(l, &r, NULL, &err) != MS_OK) {
            fprintf(stderr, "  append: %s\n", err.msg);
            return 1;
        }
    }
    return audit_log_close(l, &err) != MS_OK;
}

static char *state_dir(void)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/state", ms_test_tmpdir());
    return p;
}

static char *adir(void)
{
    static char p[600];
    snprintf(p, sizeof p, "%s/audit", state_dir());
    return p;
}

static int keys(uint8_t pub[32], uint8_t k0[32])
{
    char p[700];
    snprintf(p, sizeof p, "%s/sign.pub", adir());
    if (ms_keyfile_read(p, pub, NULL) != MS_OK)
        return 1;
    snprintf(p, sizeof p, "%s/initial.key", adir());
    return ms_keyfile_read(p, k0, NULL) != MS_OK;
}

static ms_rc verify(audit_verify_report *rep, ms_err *err)
{
    uint8_t pub[32], k0[32];
    if (keys(pub, k0))
        return MS_E_IO;
    return audit_verify(adir(), pub, k0, 0, rep, err);
}

/* The first segment's path. */
static char *seg0(void)
{
    static char p[700];
    snprintf(p, sizeof p, "%s/seg-%020d.log", adir(), 0);
    return p;
}

/* Offset and length of record `seq` in the first segment, or -1. */
static long rec_off(uint64_t seq, uint32_t *len)
{
    ms_buf b;
    if (ms_file_read(seg0(), NULL, 0, &b, NULL) != MS_OK)
        return -1;
    ms_rd r = {b.p + AUDIT_SEG_HDR, b.len - AUDIT_SEG_HDR};
    long off = -1;
    audit__rec x;
    while (r.left > 0 && audit__rec_parse(&r, &x, NULL) == MS_OK) {
        if (x.seq == seq) {
            off = (long)(x.raw - b.p);
            *len = x.len;
            break;
        }
    }
    ms_buf_free(&b);
    return off;
}

static int rewrite(const ms_buf *b)
{
    return ms_file_write_atomic(seg0(), b->p, b->len, 0600, 1, NULL) != MS_OK;
}

TEST(test_audit_roundtrip_verifies)
{
    CHECK(make_log(state_dir(), NULL, 50) == 0);
    audit_verify_report rep;
    ms_err err = {0};
    CHECK(verify(&rep, &err) == MS_OK);
    CHECK_EQ_INT(rep.records, 52); /* epoch 0 + 50 events + final tree head */
    CHECK_EQ_INT(rep.macs_checked, 52);
    CHECK_EQ_INT(rep.tree_heads, 1);
    CHECK_EQ_INT(rep.last_sth_size, 51);
    /* reopen and extend: one chain, a second tree head */
    CHECK(make_log(state_dir(), NULL, 10) == 0);
    CHECK(verify(&rep, &err) == MS_OK);
    CHECK_EQ_INT(rep.records, 63);
    CHECK_EQ_INT(rep.tree_heads, 2);
    return 0;
}

TEST(test_audit_epochs_and_tree_heads_by_count)
{
    audit_opts o = {0};
    o.epoch_records = 7;
    o.sth_records = 10;
    CHECK(make_log(state_dir(), &o, 100) == 0);
    audit_verify_report rep;
    ms_err err = {0};
    CHECK(verify(&rep, &err) == MS_OK);
    CHECK(rep.epochs >= 100 / 7);
    CHECK(rep.tree_heads >= 100 / 10);
    /* without the initial key: structure, chain and tree heads only */
    uint8_t pub[32], k0[32];
    CHECK(keys(pub, k0) == 0);
    CHECK(audit_verify(adir(), pub, NULL, 0, &rep, &err) == MS_OK);
    CHECK_EQ_INT(rep.macs_checked, 0);
    /* the wrong initial key fails at the first record */
    k0[0] ^= 1;
    CHECK(audit_verify(adir(), pub, k0, 0, &rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_MAC);
    CHECK_EQ_INT(rep.bad_seq, 0);
    return 0;
}

TEST(test_audit_detects_modification)
{
    CHECK(make_log(state_dir(), NULL, 20) == 0);
    ms_buf b;
    CHECK(ms_file_read(seg0(), NULL, 0, &b, NULL) == MS_OK);
    uint32_t len;
    long off = rec_off(9, &len);
    CHECK(off > 0);
    b.p[off + AUDIT_REC_HDR + 20] ^= 0x01; /* a ciphertext bit */
    CHECK(rewrite(&b) == 0);
    ms_buf_free(&b);
    audit_verify_report rep;
    ms_err err = {0};
    CHECK(verify(&rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_MAC);
    CHECK_EQ_INT(rep.bad_seq, 9);
    CHECK_EQ_INT(rep.bad_offset, off);
    CHECK(strstr(err.msg, "seq 9") != NULL);
    /* without the MAC key the chain still names it: record 10's previous hash breaks */
    uint8_t pub[32], k0[32];
    CHECK(keys(pub, k0) == 0);
    ms_err_clear(&err);
    CHECK(audit_verify(adir(), pub, NULL, 0, &rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_CHAIN);
    CHECK_EQ_INT(rep.bad_seq, 10);
    CHECK(strstr(err.msg, "record 9 was modified") != NULL);
    return 0;
}

TEST(test_audit_detects_deletion)
{
    CHECK(make_log(state_dir(), NULL, 20) == 0);
    ms_buf b;
    CHECK(ms_file_read(seg0(), NULL, 0, &b, NULL) == MS_OK);
    uint32_t len;
    long off = rec_off(5, &len);
    CHECK(off > 0);
    memmove(b.p + off, b.p + off + len, b.len - (size_t)off - len);
    b.len -= len;
    CHECK(rewrite(&b) == 0);
    ms_buf_free(&b);
    audit_verify_report rep;
    ms_err err = {0};
    CHECK(verify(&rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_DELETED);
    CHECK_EQ_INT(rep.bad_seq, 5);
    CHECK(strstr(err.msg, "deleted") != NULL);
    return 0;
}

TEST(test_audit_detects_reordering)
{
    CHECK(make_log(state_dir(), NULL, 20) == 0);
    ms_buf b;
    CHECK(ms_file_read(seg0(), NULL, 0, &b, NULL) == MS_OK);
    uint32_t l1, l2;
    long o1 = rec_off(7, &l1), o2 = rec_off(8, &l2);
    CHECK(o1 > 0 && o2 == o1 + (long)l1);
    uint8_t *tmp = malloc(l1 + l2);
    CHECK(tmp != NULL);
    memcpy(tmp, b.p + o2, l2); /* 8 then 7 */
    memcpy(tmp + l2, b.p + o1, l1);
    memcpy(b.p + o1, tmp, l1 + l2);
    free(tmp);
    CHECK(rewrite(&b) == 0);
    ms_buf_free(&b);
    audit_verify_report rep;
    ms_err err = {0};
    CHECK(verify(&rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_REORDERED);
    CHECK_EQ_INT(rep.bad_seq, 7);
    CHECK_EQ_INT(rep.bad_offset, o1);
    return 0;
}

TEST(test_audit_detects_truncation)
{
    audit_opts o = {0};
    o.sth_records = 8;
    CHECK(make_log(state_dir(), &o, 30) == 0);
    audit_verify_report rep;
    ms_err err = {0};
    CHECK(verify(&rep, &err) == MS_OK);
    uint64_t total = rep.records;
    /* cut whole records after seq 19: the chain is intact but sth.latest covers more */
    ms_buf b;
    CHECK(ms_file_read(seg0(), NULL, 0, &b, NULL) == MS_OK);
    uint32_t len;
    long off = rec_off(20, &len);
    CHECK(off > 0);
    b.len = (size_t)off;
    CHECK(rewrite(&b) == 0);
    ms_buf_free(&b);
    CHECK(verify(&rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_TRUNCATED);
    CHECK_EQ_INT(rep.bad_seq, 20);
    CHECK(strstr(err.msg, "truncated") != NULL);
    /* with sth.latest gone too, a known size from elsewhere (an exported head) still catches it */
    char p[700];
    snprintf(p, sizeof p, "%s/sth.latest", adir());
    CHECK(unlink(p) == 0);
    uint8_t pub[32], k0[32];
    CHECK(keys(pub, k0) == 0);
    CHECK(audit_verify(adir(), pub, k0, 0, &rep, NULL) == MS_OK);
    ms_err_clear(&err);
    CHECK(audit_verify(adir(), pub, k0, total, &rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_TRUNCATED);
    return 0;
}

TEST(test_audit_detects_torn_record_offline)
{
    CHECK(make_log(state_dir(), NULL, 5) == 0);
    ms_buf b;
    CHECK(ms_file_read(seg0(), NULL, 0, &b, NULL) == MS_OK);
    b.len -= 10;
    CHECK(rewrite(&b) == 0);
    ms_buf_free(&b);
    audit_verify_report rep;
    ms_err err = {0};
    CHECK(verify(&rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_TRUNCATED);
    CHECK(strstr(err.msg, "torn") != NULL);
    return 0;
}

/* Appends a record to the segment with a valid chain but a MAC from the wrong key. */
static int forge(uint64_t seq, const uint8_t prev[32], uint32_t epoch, const uint8_t key[32],
                 ms_buf *b, uint8_t out_leaf[32])
{
    uint8_t r[AUDIT_REC_MIN + AUDIT_TRUNC_BODY] = {0};
    ms_store_u32le(r, sizeof r);
    r[4] = AUDIT_K_TRUNCATE;
    r[5] = 1;
    ms_store_u64le(r + 8, seq);
    ms_store_u64le(r + 16, 1);
    ms_store_u32le(r + 24, epoch);
    memcpy(r + 28, prev, 32);
    ms_store_u32le(r + 60, AUDIT_TRUNC_BODY);
    audit__sha sha;
    audit__hmac h;
    if (audit__sha_init(&sha, NULL) || audit__hmac_init(&h, &sha, NULL) ||
        audit__hmac_key(&h, key, NULL))
        return 1;
    uint8_t d[32];
    audit__rec_digest(&sha, r, sizeof r - 32, d);
    audit__hmac_mac(&h, d, 32, r + sizeof r - 32);
    audit__rec_leaf(&sha, r, sizeof r, out_leaf);
    audit__hmac_free(&h);
    audit__sha_free(&sha);
    return ms_buf_append(b, r, sizeof r, NULL) != MS_OK;
}

/* The last record's seq, epoch and leaf hash. */
static int tail(const ms_buf *b, uint64_t *seq, uint32_t *epoch, uint8_t leaf[32])
{
    ms_rd r = {b->p + AUDIT_SEG_HDR, b->len - AUDIT_SEG_HDR};
    audit__rec x;
    int any = 0;
    while (r.left > 0 && audit__rec_parse(&r, &x, NULL) == MS_OK) {
        *seq = x.seq;
        *epoch = x.epoch;
        audit__sha sha;
        audit__rec_leaf(&sha, x.raw, x.len, leaf);
        any = 1;
    }
    return !any;
}

TEST(test_audit_detects_forged_tail)
{
    CHECK(make_log(state_dir(), NULL, 10) == 0);
    ms_buf b;
    CHECK(ms_file_read(seg0(), NULL, 0, &b, NULL) == MS_OK);
    uint64_t seq;
    uint32_t epoch;
    uint8_t leaf[32], key[32];
    CHECK(tail(&b, &seq, &epoch, leaf) == 0);
    memset(key, 0x42, 32); /* not the log's key */
    for (int i = 1; i <= 3; i++)
        CHECK(forge(seq + (uint64_t)i, leaf, epoch, key, &b, leaf) == 0);
    CHECK(rewrite(&b) == 0);
    ms_buf_free(&b);
    audit_verify_report rep;
    ms_err err = {0};
    CHECK(verify(&rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_MAC);
    CHECK_EQ_INT(rep.bad_seq, seq + 1);
    return 0;
}

/* Forward security: whoever steals the current key (epoch e) cannot re-seal earlier records. */
TEST(test_audit_stolen_key_cannot_rewrite_past_epochs)
{
    audit_opts o = {0};
    o.epoch_records = 5;
    CHECK(make_log(state_dir(), &o, 30) == 0);
    audit__mac_state st;
    CHECK(audit__mac_state_read(adir(), master, &st, NULL) == MS_OK);
    CHECK(st.epoch >= 5);
    ms_buf b;
    CHECK(ms_file_read(seg0(), NULL, 0, &b, NULL) == MS_OK);
    /* rewrite everything from seq 3 (epoch 0) as one forged record sealed with the stolen key */
    uint32_t len;
    long off = rec_off(3, &len);
    CHECK(off > 0);
    ms_buf head;
    ms_buf_init(&head, NULL, 0);
    CHECK(ms_buf_append(&head, b.p, (size_t)off, NULL) == MS_OK);
    uint64_t seq;
    uint32_t ep;
    uint8_t leaf[32];
    CHECK(tail(&head, &seq, &ep, leaf) == 0);
    CHECK(forge(3, leaf, st.epoch, st.key, &head, leaf) == 0); /* claims the new epoch */
    CHECK(rewrite(&head) == 0);
    audit_verify_report rep;
    ms_err err = {0};
    CHECK(verify(&rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_EPOCH);
    CHECK_EQ_INT(rep.bad_seq, 3);
    /* claiming the old epoch number instead: the MAC (from the stolen key) does not match */
    head.len = (size_t)off;
    CHECK(tail(&head, &seq, &ep, leaf) == 0);
    CHECK(forge(3, leaf, 0, st.key, &head, leaf) == 0);
    CHECK(rewrite(&head) == 0);
    ms_err_clear(&err);
    CHECK(verify(&rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_MAC);
    CHECK_EQ_INT(rep.bad_seq, 3);
    ms_buf_free(&head);
    ms_buf_free(&b);
    ms_memzero(&st, sizeof st);
    return 0;
}

TEST(test_audit_tree_head_signature_checked)
{
    CHECK(make_log(state_dir(), NULL, 4) == 0);
    uint8_t pub[32], k0[32];
    CHECK(keys(pub, k0) == 0);
    pub[3] ^= 0x80; /* someone else's public key */
    audit_verify_report rep;
    ms_err err = {0};
    CHECK(audit_verify(adir(), pub, k0, 0, &rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_TREE_HEAD);
    return 0;
}

TEST(test_audit_rejects_phi_like_fields)
{
    audit_log *l = NULL;
    ms_err err = {0};
    CHECK(audit_log_open(state_dir(), master, NULL, &l, &err) == MS_OK);
    audit_record r;
    rec_init(&r, 1);
    r.model = "John Smith"; /* a space: not a token */
    CHECK(audit_log_append(l, &r, NULL, &err) == MS_E_INVAL);
    CHECK(strstr(err.msg, "model") != NULL && strstr(err.msg, "John") == NULL);
    rec_init(&r, 1);
    r.patient = "123-45-6789"; /* a raw identifier instead of a pseudonym */
    CHECK(audit_log_append(l, &r, NULL, &err) == MS_E_INVAL);
    rec_init(&r, 1);
    r.action = NULL;
    CHECK(audit_log_append(l, &r, NULL, &err) == MS_E_INVAL);
    rec_init(&r, 1);
    char big[AUDIT_FIELD_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    r.request_id = big;
    CHECK(audit_log_append(l, &r, NULL, &err) == MS_E_INVAL);
    big[AUDIT_FIELD_MAX] = 0; /* exactly the maximum is fine */
    uint64_t seq = 0;
    CHECK(audit_log_append(l, &r, &seq, &err) == MS_OK);
    CHECK_EQ_INT(seq, 1);
    CHECK(audit_log_close(l, &err) == MS_OK);
    return 0;
}

static int collect_line(void *ud, const char *line, size_t len)
{
    ms_buf *b = ud;
    return ms_buf_append(b, line, len, NULL) || ms_buf_append_byte(b, '\n', NULL);
}

TEST(test_audit_export_decrypts_and_is_encrypted_at_rest)
{
    CHECK(make_log(state_dir(), NULL, 3) == 0);
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    ms_err err = {0};
    CHECK(audit_export(state_dir(), master, 0, 0, collect_line, &out, &err) == MS_OK);
    CHECK(strstr((char *)out.p, "\"seq\":1,") != NULL);
    CHECK(strstr((char *)out.p, "\"request_id\":\"req-2\"") != NULL);
    CHECK(strstr((char *)out.p, "\"phi\":{\"NAME\":2,\"DATE\":1}") != NULL);
    CHECK(strstr((char *)out.p, "\"kind\":\"tree_head\"") != NULL);
    ms_buf_free(&out);
    /* the segment holds no payload in clear */
    ms_buf b;
    CHECK(ms_file_read(seg0(), NULL, 0, &b, NULL) == MS_OK);
    CHECK(memmem(b.p, b.len, "req-2", 5) == NULL);
    CHECK(memmem(b.p, b.len, "clinician", 9) == NULL);
    ms_buf_free(&b);
    /* the wrong master key cannot export */
    uint8_t wrong[MS_KEY_LEN] = {1};
    ms_buf_init(&out, NULL, 0);
    CHECK(audit_export(state_dir(), wrong, 0, 0, collect_line, &out, &err) != MS_OK);
    ms_buf_free(&out);
    return 0;
}

TEST(test_audit_torn_tail_cut_logged_and_verifies)
{
    CHECK(make_log(state_dir(), NULL, 6) == 0);
    ms_buf orig;
    CHECK(ms_file_read(seg0(), NULL, 0, &orig, NULL) == MS_OK);
    uint64_t lseq;
    uint32_t ep;
    uint8_t leaf[32];
    CHECK(tail(&orig, &lseq, &ep, leaf) == 0);
    uint32_t len;
    long off = rec_off(lseq, &len);
    CHECK(off > 0);
    /* cut inside the last record at every byte; each reopen cuts, logs and still verifies */
    for (uint32_t cut = 1; cut < len; cut += 7) {
        ms_buf b;
        ms_buf_init(&b, NULL, 0);
        CHECK(ms_buf_append(&b, orig.p, (size_t)off + cut, NULL) == MS_OK);
        CHECK(rewrite(&b) == 0);
        ms_buf_free(&b);
        char p[700];
        snprintf(p, sizeof p, "%s/sth.latest", adir());
        unlink(p); /* it covers the record we cut (a crash would not have published it) */
        audit_log *l = NULL;
        ms_err err = {0};
        CHECK(audit_log_open(state_dir(), master, NULL, &l, &err) == MS_OK);
        audit_stats st;
        audit_log_stats(l, &st);
        CHECK_EQ_INT(st.torn_bytes, cut);
        CHECK(audit_log_close(l, &err) == MS_OK);
        audit_verify_report rep;
        CHECK(verify(&rep, &err) == MS_OK);
        CHECK_EQ_INT(rep.truncations, 1);
    }
    ms_buf_free(&orig);
    return 0;
}

TEST(test_audit_largest_record_round_trips)
{
    static char f[12][AUDIT_FIELD_MAX + 1];
    for (int i = 0; i < 12; i++) {
        memset(f[i], 'a' + i, AUDIT_FIELD_MAX);
        f[i][AUDIT_FIELD_MAX] = 0;
    }
    audit_phi_count phi[AUDIT_PHI_CLASSES_MAX];
    static char cls[AUDIT_PHI_CLASSES_MAX][AUDIT_FIELD_MAX + 1];
    for (int i = 0; i < AUDIT_PHI_CLASSES_MAX; i++) {
        memset(cls[i], 'A', AUDIT_FIELD_MAX);
        snprintf(cls[i] + AUDIT_FIELD_MAX - 3, 4, "%03d", i);
        phi[i] = (audit_phi_count){cls[i], UINT64_MAX};
    }
    audit_record r = {0};
    r.request_id = f[0];
    r.key_id = f[1];
    r.role = f[2];
    r.action = f[3];
    r.route = f[4];
    r.model = f[5];
    r.outcome = f[6];
    r.status = 0x7fffffff;
    r.bytes_in = r.bytes_out = r.t_total_us = r.t_phi_us = r.t_upstream_us = UINT64_MAX;
    r.phi = phi;
    r.n_phi = AUDIT_PHI_CLASSES_MAX;
    r.patient = "MS-ABCDEFGHIJKLMNOP";
    r.evidence_hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    audit_log *l = NULL;
    ms_err err = {0};
    CHECK(audit_log_open(state_dir(), master, NULL, &l, &err) == MS_OK);
    CHECK(audit_log_append(l, &r, NULL, &err) == MS_OK);
    r.n_phi = AUDIT_PHI_CLASSES_MAX + 1; /* one class too many */
    CHECK(audit_log_append(l, &r, NULL, &err) == MS_E_INVAL);
    CHECK(audit_log_close(l, &err) == MS_OK);
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    CHECK(audit_export(state_dir(), master, 1, 1, collect_line, &out, &err) == MS_OK);
    CHECK(strstr((char *)out.p, "\"bytes_in\":18446744073709551615") != NULL);
    CHECK(strstr((char *)out.p, "031\":18446744073709551615}") != NULL);
    ms_buf_free(&out);
    audit_verify_report rep;
    CHECK(verify(&rep, &err) == MS_OK);
    return 0;
}

TEST(test_audit_time_based_epochs_and_tree_heads)
{
    audit_opts o = {0};
    o.epoch_seconds = 1;
    o.sth_seconds = 1;
    audit_log *l = NULL;
    ms_err err = {0};
    CHECK(audit_log_open(state_dir(), master, &o, &l, &err) == MS_OK);
    audit_record r;
    rec_init(&r, 0);
    CHECK(audit_log_append(l, &r, NULL, &err) == MS_OK);
    /* the ticker advances the epoch (twice) and writes a tree head: about 2 s, polled up to 20 s
     * so a loaded CI machine does not fail it */
    audit_stats st;
    for (int waited = 0; waited < 200; waited++) {
        usleep(100000);
        audit_log_stats(l, &st);
        if (waited >= 22 && st.epoch >= 2 && st.tree_heads >= 1 && st.durable == st.records)
            break;
    }
    CHECK(st.epoch >= 2);
    CHECK(st.tree_heads >= 1);
    CHECK_EQ_INT(st.durable, st.records); /* the ticker made them durable too */
    CHECK(audit_log_close(l, &err) == MS_OK);
    audit_verify_report rep;
    CHECK(verify(&rep, &err) == MS_OK);
    CHECK(rep.epochs >= 3);
    return 0;
}

TEST(test_audit_batch_mode_flush_and_durable)
{
    audit_opts o = {0};
    o.sync = AUDIT_SYNC_BATCH;
    o.batch_records = 100;
    o.batch_ms = 5000; /* only the count or a flush writes */
    audit_log *l = NULL;
    ms_err err = {0};
    CHECK(audit_log_open(state_dir(), master, &o, &l, &err) == MS_OK);
    uint64_t d0 = audit_log_durable(l);
    audit_record r;
    rec_init(&r, 0);
    uint64_t seq = 0;
    for (int i = 0; i < 10; i++)
        CHECK(audit_log_append(l, &r, &seq, &err) == MS_OK);
    CHECK(audit_log_durable(l) <= seq); /* buffered, not yet acknowledged */
    CHECK(audit_log_flush(l, &err) == MS_OK);
    CHECK(audit_log_durable(l) == seq + 1);
    CHECK(d0 >= 1);
    CHECK(audit_log_close(l, &err) == MS_OK);
    return 0;
}

TEST(test_audit_segments_roll_and_a_deleted_segment_is_named)
{
    audit_opts o = {0};
    o.segment_bytes = 2048;
    CHECK(make_log(state_dir(), &o, 60) == 0);
    audit__segments segs = {0};
    CHECK(audit__segments_open(adir(), &segs, NULL) == MS_OK);
    size_t n = segs.n;
    char victim[AUDIT_SEG_NAME_MAX];
    snprintf(victim, sizeof victim, "%s", n > 2 ? segs.v[1].name : "");
    audit__segments_close(&segs);
    CHECK(n >= 4);
    audit_verify_report rep;
    ms_err err = {0};
    CHECK(verify(&rep, &err) == MS_OK);
    char p[800];
    snprintf(p, sizeof p, "%s/%s", adir(), victim);
    CHECK(unlink(p) == 0);
    CHECK(verify(&rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_DELETED);
    /* the writer refuses to extend a log damaged before its tail */
    audit_log *l = NULL;
    ms_err e2 = {0};
    CHECK(audit_log_open(state_dir(), master, NULL, &l, &e2) == MS_E_VERIFY);
    CHECK(strstr(e2.msg, "damaged") != NULL);
    return 0;
}

#include "audit/log.h"

TEST(test_audit_write_failure_fails_closed)
{
    audit_log *l = NULL;
    ms_err err = {0};
    CHECK(audit_log_open(state_dir(), master, NULL, &l, &err) == MS_OK);
    pthread_mutex_lock(&l->mu);
    close(l->fd); /* the disk goes away */
    l->fd = open("/dev/null", O_RDONLY);
    pthread_mutex_unlock(&l->mu);
    audit_record r;
    rec_init(&r, 0);
    CHECK(audit_log_append(l, &r, NULL, &err) == MS_E_IO);
    ms_err_clear(&err);
    CHECK(audit_log_append(l, &r, NULL, &err) == MS_E_IO); /* and stays refused */
    CHECK(strstr(err.msg, "fail closed") != NULL);
    CHECK(audit_log_close(l, NULL) != MS_OK);
    return 0;
}

TEST(test_audit_verify_state_catches_cut_epochs_and_a_replaced_key_state)
{
    audit_opts o = {0};
    o.epoch_records = 6;
    CHECK(make_log(state_dir(), &o, 40) == 0);
    uint8_t pub[32], k0[32];
    CHECK(keys(pub, k0) == 0);
    audit_verify_report rep;
    ms_err err = {0};
    CHECK(audit_verify_state(state_dir(), master, pub, k0, 0, &rep, &err) == MS_OK);
    /* a key state sealed correctly but holding another key */
    audit__mac_state st, orig;
    CHECK(audit__mac_state_read(adir(), master, &st, NULL) == MS_OK);
    orig = st;
    st.key[0] ^= 1;
    CHECK(audit__mac_state_write(adir(), master, &st, NULL) == MS_OK);
    CHECK(audit_verify_state(state_dir(), master, pub, k0, 0, &rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_EPOCH);
    CHECK(strstr(err.msg, "does not derive") != NULL);
    CHECK(audit__mac_state_write(adir(), master, &orig, NULL) == MS_OK);
    ms_err_clear(&err);
    CHECK(audit_verify_state(state_dir(), master, pub, k0, 0, &rep, &err) == MS_OK);
    /* cut the log back to the middle (sth.latest removed too): the chain alone is fine */
    ms_buf b;
    CHECK(ms_file_read(seg0(), NULL, 0, &b, NULL) == MS_OK);
    uint32_t len;
    long off = rec_off(20, &len);
    CHECK(off > 0);
    b.len = (size_t)off;
    CHECK(rewrite(&b) == 0);
    ms_buf_free(&b);
    char p[700];
    snprintf(p, sizeof p, "%s/sth.latest", adir());
    CHECK(unlink(p) == 0);
    CHECK(audit_verify(adir(), pub, k0, 0, &rep, &err) == MS_OK);
    CHECK(audit_verify_state(state_dir(), master, pub, k0, 0, &rep, &err) == MS_E_VERIFY);
    CHECK_EQ_INT(rep.problem, AUDIT_BAD_TRUNCATED);
    ms_memzero(&st, sizeof st);
    ms_memzero(&orig, sizeof orig);
    return 0;
}

TEST(test_audit_clock_going_backwards_does_not_fire_timers)
{
    CHECK(make_log(state_dir(), NULL, 1) == 0);
    audit__mac_state st;
    CHECK(audit__mac_state_read(adir(), master, &st, NULL) == MS_OK);
    uint32_t epoch = st.epoch;
    st.start_ns = UINT64_MAX / 2; /* the epoch "started" centuries from now */
    CHECK(audit__mac_state_write(adir(), master, &st, NULL) == MS_OK);
    ms_memzero(&st, sizeof st);
    audit_opts o = {0};
    o.epoch_seconds = 1;
    audit_log *l = NULL;
    ms_err err = {0};
    CHECK(audit_log_open(state_dir(), master, &o, &l, &err) == MS_OK);
    audit_record r;
    rec_init(&r, 0);
    for (int i = 0; i < 20; i++)
        CHECK(audit_log_append(l, &r, NULL, &err) == MS_OK);
    audit_stats s;
    audit_log_stats(l, &s);
    CHECK_EQ_INT(s.epoch, epoch); /* not one epoch per append */
    CHECK(audit_log_close(l, &err) == MS_OK);
    return 0;
}

/*
 * Tests of the audit log's RFC 9162 Merkle code against a brute-force tree: roots, every
 * inclusion path and consistency proof for n <= 48, tampered proofs rejected; and the proof JSON
 * produced from a real log, checked with and without the tree head signature.
 */
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"
#include "medseal/audit.h"
#include "test.h"

/* The RFC 9162 §2.1.1 definition, recursively, straight from the text. */
static void ref_mth(audit__sha *s, uint8_t (*lv)[32], uint64_t lo, uint64_t hi, uint8_t out[32])
{
    uint64_t n = hi - lo;
    if (n == 1) {
        memcpy(out, lv[lo], 32);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t l[32], r[32];
    ref_mth(s, lv, lo, lo + k, l);
    ref_mth(s, lv, lo + k, hi, r);
    audit__sha_node(s, l, r, out);
}

TEST(test_audit_merkle_roots_and_proofs_bruteforce)
{
    enum { N = 48 };
    audit__sha s;
    CHECK(audit__sha_init(&s, NULL) == MS_OK);
    uint8_t lv[N][32];
    for (int i = 0; i < N; i++) {
        uint8_t d[4] = {(uint8_t)i, 1, 2, 3};
        audit__sha_leaf(&s, d, sizeof d, lv[i]);
    }
    audit__frontier f = {0};
    uint8_t roots[N + 1][32];
    for (uint64_t n = 1; n <= N; n++) {
        audit__frontier_add(&f, &s, lv[n - 1]);
        uint8_t a[32], b[32];
        ref_mth(&s, lv, 0, n, a);
        audit__frontier_root(&f, &s, b);
        CHECK(memcmp(a, b, 32) == 0);
        memcpy(roots[n], a, 32);
    }
    int checked = 0, rejected = 0;
    uint8_t p[128][32];
    for (uint64_t n = 1; n <= N; n++) {
        for (uint64_t m = 0; m < n; m++) {
            size_t np = audit__inclusion_path(&s, (const uint8_t(*)[32])lv, m, n, p);
            CHECK(audit_inclusion_verify(m, n, lv[m], (const uint8_t(*)[32])p, np, roots[n]));
            CHECK(!audit_inclusion_verify(m, n, lv[(m + 1) % N], (const uint8_t(*)[32])p, np,
                                          roots[n]) ||
                  n == 1);
            if (np > 0) {
                p[np / 2][5] ^= 1;
                rejected +=
                    !audit_inclusion_verify(m, n, lv[m], (const uint8_t(*)[32])p, np, roots[n]);
                CHECK(!audit_inclusion_verify(m + 1, n + 1, lv[m], (const uint8_t(*)[32])p, np,
                                              roots[n]));
            }
            checked++;
        }
        for (uint64_t m = 1; m <= n; m++) {
            size_t np = audit__consistency_proof(&s, (const uint8_t(*)[32])lv, m, n, p);
            CHECK(audit_consistency_verify(m, n, roots[m], roots[n], (const uint8_t(*)[32])p, np));
            if (m < n) {
                CHECK(!audit_consistency_verify(m, n, roots[n], roots[m], (const uint8_t(*)[32])p,
                                                np));
                p[0][0] ^= 1;
                CHECK(!audit_consistency_verify(m, n, roots[m], roots[n], (const uint8_t(*)[32])p,
                                                np));
            }
        }
    }
    CHECK(checked == N * (N + 1) / 2);
    CHECK(rejected == checked - N / N); /* every path with entries (all but n == 1) */
    audit__sha_free(&s);
    return 0;
}

static const uint8_t master[MS_KEY_LEN] = {9, 9, 9};

TEST(test_audit_proofs_from_a_log)
{
    char state[512], dir[600], p[700];
    snprintf(state, sizeof state, "%s/state", ms_test_tmpdir());
    snprintf(dir, sizeof dir, "%s/audit", state);
    audit_opts o = {0};
    o.sth_records = 9;
    audit_log *l = NULL;
    ms_err err = {0};
    CHECK(audit_log_open(state, master, &o, &l, &err) == MS_OK);
    for (int i = 0; i < 40; i++) {
        audit_record r = {0};
        r.action = "cli.deid";
        CHECK(audit_log_append(l, &r, NULL, &err) == MS_OK);
    }
    CHECK(audit_log_close(l, &err) == MS_OK);
    uint8_t pub[32];
    snprintf(p, sizeof p, "%s/sign.pub", dir);
    CHECK(ms_keyfile_read(p, pub, NULL) == MS_OK);
    for (uint64_t seq = 0; seq < 40; seq += 3) {
        ms_buf b;
        ms_buf_init(&b, NULL, 0);
        CHECK(audit_prove(state, seq, 0, &b, &err) == MS_OK);
        CHECK(strstr((char *)b.p, "\"sth\":{") != NULL); /* a signed head covers it */
        CHECK(audit_proof_check((char *)b.p, b.len, pub, &err) == MS_OK);
        char *h = strstr((char *)b.p, "\"root\":\"");
        CHECK(h != NULL);
        h[8] = h[8] == '0' ? '1' : '0'; /* a different root */
        CHECK(audit_proof_check((char *)b.p, b.len, NULL, NULL) == MS_E_VERIFY);
        ms_buf_free(&b);
    }
    /* consistency between two signed heads, and between arbitrary sizes (unsigned) */
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(audit_prove_consistency(state, 9, 19, &b, &err) == MS_OK);
    CHECK(audit_proof_check((char *)b.p, b.len, pub, &err) == MS_OK);
    ms_buf_reset(&b);
    CHECK(audit_prove_consistency(state, 5, 33, &b, &err) == MS_OK);
    CHECK(audit_proof_check((char *)b.p, b.len, NULL, &err) == MS_OK);
    CHECK(audit_proof_check((char *)b.p, b.len, pub, NULL) == MS_E_VERIFY); /* none signed */
    ms_buf_reset(&b);
    CHECK(audit_prove_consistency(state, 5, 4000, &b, NULL) == MS_E_NOTFOUND);
    CHECK(audit_prove(state, 4000, 0, &b, NULL) == MS_E_NOTFOUND);
    CHECK(audit_proof_check("{\"leaf_index\":1}", 16, NULL, NULL) == MS_E_FORMAT);
    CHECK(audit_proof_check("nope", 4, NULL, NULL) == MS_E_FORMAT);
    ms_buf_free(&b);
    return 0;
}

/*
 * RFC 9162 §2.1 Merkle tree hashes: an incremental frontier for the writer and the verifier, the
 * recursive MTH / PATH / PROOF definitions for proof generation, and the §2.1.3.2 / §2.1.4.2
 * verification algorithms. Trusts: callers for array bounds (sizes are checked here against the
 * leaf counts given). Owns: nothing.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* see internal.h */
#include <string.h>

#include "internal.h"

/* The largest power of two strictly smaller than n (n >= 2). */
static uint64_t split(uint64_t n)
{
    uint64_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

void audit__frontier_add(audit__frontier *f, audit__sha *s, const uint8_t leaf[32])
{
    uint8_t h[32];
    memcpy(h, leaf, 32);
    unsigned level = 0;
    while (f->n >> level & 1) { /* merge equal-size subtrees, left to right */
        audit__sha_node(s, f->h[level], h, h);
        level++;
    }
    memcpy(f->h[level], h, 32);
    f->n++;
}

void audit__frontier_root(const audit__frontier *f, audit__sha *s, uint8_t out[32])
{
    if (f->n == 0) {
        SHA256_Init(&s->c);
        SHA256_Final(out, &s->c);
        return;
    }
    int have = 0;
    uint8_t r[32];
    for (unsigned level = 0; level < 64; level++) { /* smallest subtree is the rightmost */
        if (!(f->n >> level & 1))
            continue;
        if (!have)
            memcpy(r, f->h[level], 32);
        else
            audit__sha_node(s, f->h[level], r, r);
        have = 1;
    }
    memcpy(out, r, 32);
}

void audit__mth(audit__sha *s, const uint8_t (*leaves)[32], uint64_t lo, uint64_t hi,
                uint8_t out[32])
{
    audit__frontier f;
    f.n = 0;
    for (uint64_t i = lo; i < hi; i++)
        audit__frontier_add(&f, s, leaves[i]);
    audit__frontier_root(&f, s, out);
}

/* PATH(m, D[lo:hi]) appended bottom-up (RFC 9162 §2.1.3.1). */
static size_t path_rec(audit__sha *s, const uint8_t (*lv)[32], uint64_t m, uint64_t lo, uint64_t hi,
                       uint8_t (*path)[32])
{
    uint64_t n = hi - lo;
    if (n <= 1)
        return 0;
    uint64_t k = split(n);
    size_t c;
    if (m < k) {
        c = path_rec(s, lv, m, lo, lo + k, path);
        audit__mth(s, lv, lo + k, hi, path[c]);
    } else {
        c = path_rec(s, lv, m - k, lo + k, hi, path);
        audit__mth(s, lv, lo, lo + k, path[c]);
    }
    return c + 1;
}

size_t audit__inclusion_path(audit__sha *s, const uint8_t (*leaves)[32], uint64_t m, uint64_t n,
                             uint8_t (*path)[32])
{
    if (m >= n)
        return 0;
    return path_rec(s, leaves, m, 0, n, path);
}

/* SUBPROOF(m, D[lo:hi], b) (RFC 9162 §2.1.4.1). */
static size_t subproof(audit__sha *s, const uint8_t (*lv)[32], uint64_t m, uint64_t lo, uint64_t hi,
                       int b, uint8_t (*proof)[32])
{
    uint64_t n = hi - lo;
    if (m == n) {
        if (b)
            return 0;
        audit__mth(s, lv, lo, hi, proof[0]);
        return 1;
    }
    uint64_t k = split(n);
    size_t c;
    if (m <= k) {
        c = subproof(s, lv, m, lo, lo + k, b, proof);
        audit__mth(s, lv, lo + k, hi, proof[c]);
    } else {
        c = subproof(s, lv, m - k, lo + k, hi, 0, proof);
        audit__mth(s, lv, lo, lo + k, proof[c]);
    }
    return c + 1;
}

size_t audit__consistency_proof(audit__sha *s, const uint8_t (*leaves)[32], uint64_t m, uint64_t n,
                                uint8_t (*proof)[32])
{
    if (m == 0 || m >= n)
        return 0;
    return subproof(s, leaves, m, 0, n, 1, proof);
}

static void node(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
    audit__sha s;
    audit__sha_node(&s, l, r, out);
}

int audit_inclusion_verify(uint64_t index, uint64_t size, const uint8_t leaf[AUDIT_HASH_LEN],
                           const uint8_t (*path)[AUDIT_HASH_LEN], size_t n_path,
                           const uint8_t root[AUDIT_HASH_LEN])
{
    if (index >= size)
        return 0;
    uint64_t fn = index, sn = size - 1;
    uint8_t r[32];
    memcpy(r, leaf, 32);
    for (size_t i = 0; i < n_path; i++) {
        if (sn == 0)
            return 0;
        if ((fn & 1) || fn == sn) {
            node(path[i], r, r);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            node(r, path[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && ms_ct_equal(r, root, 32);
}

int audit_consistency_verify(uint64_t size1, uint64_t size2, const uint8_t root1[AUDIT_HASH_LEN],
                             const uint8_t root2[AUDIT_HASH_LEN],
                             const uint8_t (*proof)[AUDIT_HASH_LEN], size_t n_proof)
{
    if (size1 > size2)
        return 0;
    if (size1 == size2)
        return n_proof == 0 && ms_ct_equal(root1, root2, 32);
    if (size1 == 0)
        return n_proof == 0; /* the empty tree is a prefix of every tree */
    size_t i = 0;
    uint8_t fr[32], sr[32];
    if ((size1 & (size1 - 1)) == 0) { /* a power of two: the proof omits the old root */
        memcpy(fr, root1, 32);
    } else {
        if (n_proof == 0)
            return 0;
        memcpy(fr, proof[i++], 32);
    }
    memcpy(sr, fr, 32);
    uint64_t fn = size1 - 1, sn = size2 - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < n_proof; i++) {
        if (sn == 0)
            return 0;
        if ((fn & 1) || fn == sn) {
            node(proof[i], fr, fr);
            node(proof[i], sr, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            node(sr, proof[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && ms_ct_equal(fr, root1, 32) && ms_ct_equal(sr, root2, 32);
}

/*
 * Proofs over the audit log's Merkle tree (RFC 9162 §2.1.3 inclusion, §2.1.4 consistency): JSON
 * emitted from the leaf hashes of the intact prefix of a directory, with the signed tree heads of
 * those sizes when the log holds them; and the checker that recomputes roots and signatures.
 * Trusts: nothing in a proof it checks (jansson parse, every hex length checked).
 * Owns: the leaf array it collects (freed before returning).
 */
#include <jansson.h>
#include <string.h>

#include "internal.h"

#define MAX_PATH 128

static ms_rc hex_member(ms_buf *b, const char *key, const uint8_t *p, size_t n, ms_err *err)
{
    ms_rc rc = ms_buf_printf(b, err, "\"%s\":\"", key);
    if (!rc)
        rc = ms_hex_encode(p, n, b, err);
    return rc ? rc : ms_buf_append_byte(b, '"', err);
}

static ms_rc hex_array(ms_buf *b, const char *key, const uint8_t (*v)[32], size_t n, ms_err *err)
{
    ms_rc rc = ms_buf_printf(b, err, "\"%s\":[", key);
    for (size_t i = 0; rc == MS_OK && i < n; i++) {
        if (i)
            rc = ms_buf_append_byte(b, ',', err);
        if (!rc)
            rc = ms_buf_append_byte(b, '"', err);
        if (!rc)
            rc = ms_hex_encode(v[i], 32, b, err);
        if (!rc)
            rc = ms_buf_append_byte(b, '"', err);
    }
    return rc ? rc : ms_buf_append_byte(b, ']', err);
}

static const audit__scan_sth *sth_of_size(const audit__scan_sth *v, size_t n, uint64_t size)
{
    for (size_t i = n; i-- > 0;) {
        if (v[i].size == size)
            return &v[i];
    }
    return NULL;
}

static ms_rc sth_member(ms_buf *b, const char *key, const audit__scan_sth *s, ms_err *err)
{
    if (s == NULL)
        return MS_OK;
    ms_rc rc = ms_buf_printf(b, err, ",\"%s\":{\"tree_size\":%llu,\"time_ns\":%llu,", key,
                             (unsigned long long)s->size, (unsigned long long)s->time_ns);
    if (!rc)
        rc = hex_member(b, "root", s->root, 32, err);
    if (!rc)
        rc = ms_buf_append_byte(b, ',', err);
    if (!rc)
        rc = hex_member(b, "signature", s->sig, 64, err);
    return rc ? rc : ms_buf_append_byte(b, '}', err);
}

typedef struct collected {
    uint8_t (*lv)[32];
    uint64_t n;
    audit__scan_sth *sths;
    size_t ns;
    audit__sha sha;
} collected;

static ms_rc collect(const char *audit_dir, collected *c, ms_err *err)
{
    memset(c, 0, sizeof *c);
    char *dir = audit__dir_resolve(audit_dir);
    if (dir == NULL)
        return ms_fail(err, MS_E_NOMEM, "path");
    ms_rc rc = audit__collect(dir, &c->lv, &c->n, &c->sths, &c->ns, err);
    ms_free(NULL, dir);
    return rc ? rc : audit__sha_init(&c->sha, err);
}

static void collected_free(collected *c)
{
    ms_free(NULL, c->lv);
    ms_free(NULL, c->sths);
    if (c->sha.ready)
        audit__sha_free(&c->sha);
}

static uint64_t default_size(const collected *c, uint64_t seq)
{
    for (size_t i = c->ns; i-- > 0;) {
        if (c->sths[i].size > seq)
            return c->sths[i].size;
    }
    return c->n; /* no tree head covers it yet: the whole intact log (unsigned) */
}

ms_rc audit_prove(const char *audit_dir, uint64_t seq, uint64_t tree_size, ms_buf *out, ms_err *err)
{
    collected c;
    ms_rc rc = collect(audit_dir, &c, err);
    if (rc == MS_OK && tree_size == 0)
        tree_size = default_size(&c, seq);
    if (rc == MS_OK && (seq >= tree_size || tree_size > c.n))
        rc = ms_fail(err, MS_E_NOTFOUND, "leaf %llu not in a tree of %llu (log has %llu)",
                     (unsigned long long)seq, (unsigned long long)tree_size,
                     (unsigned long long)c.n);
    uint8_t path[MAX_PATH][32], root[32];
    size_t np = 0;
    if (rc == MS_OK) {
        np = audit__inclusion_path(&c.sha, (const uint8_t(*)[32])c.lv, seq, tree_size, path);
        audit__mth(&c.sha, (const uint8_t(*)[32])c.lv, 0, tree_size, root);
        rc = ms_buf_printf(out, err, "{\"leaf_index\":%llu,\"tree_size\":%llu,",
                           (unsigned long long)seq, (unsigned long long)tree_size);
    }
    if (!rc)
        rc = hex_member(out, "leaf_hash", c.lv[seq], 32, err);
    if (!rc)
        rc = ms_buf_append_byte(out, ',', err);
    if (!rc)
        rc = hex_member(out, "root", root, 32, err);
    if (!rc)
        rc = ms_buf_append_byte(out, ',', err);
    if (!rc)
        rc = hex_array(out, "path", (const uint8_t(*)[32])path, np, err);
    if (!rc)
        rc = sth_member(out, "sth", sth_of_size(c.sths, c.ns, tree_size), err);
    if (!rc)
        rc = ms_buf_append_byte(out, '}', err);
    collected_free(&c);
    return rc;
}

ms_rc audit_prove_consistency(const char *audit_dir, uint64_t old_size, uint64_t new_size,
                              ms_buf *out, ms_err *err)
{
    collected c;
    ms_rc rc = collect(audit_dir, &c, err);
    if (rc == MS_OK && (old_size > new_size || new_size > c.n))
        rc = ms_fail(err, MS_E_NOTFOUND, "sizes %llu..%llu not in a log of %llu",
                     (unsigned long long)old_size, (unsigned long long)new_size,
                     (unsigned long long)c.n);
    uint8_t proof[MAX_PATH][32], r1[32], r2[32];
    size_t np = 0;
    if (rc == MS_OK) {
        const uint8_t(*lv)[32] = (const uint8_t(*)[32])c.lv;
        np = audit__consistency_proof(&c.sha, lv, old_size, new_size, proof);
        audit__mth(&c.sha, lv, 0, old_size, r1);
        audit__mth(&c.sha, lv, 0, new_size, r2);
        rc = ms_buf_printf(out, err, "{\"old_size\":%llu,\"new_size\":%llu,",
                           (unsigned long long)old_size, (unsigned long long)new_size);
    }
    if (!rc)
        rc = hex_member(out, "old_root", r1, 32, err);
    if (!rc)
        rc = ms_buf_append_byte(out, ',', err);
    if (!rc)
        rc = hex_member(out, "new_root", r2, 32, err);
    if (!rc)
        rc = ms_buf_append_byte(out, ',', err);
    if (!rc)
        rc = hex_array(out, "proof", (const uint8_t(*)[32])proof, np, err);
    if (!rc)
        rc = sth_member(out, "old_sth", sth_of_size(c.sths, c.ns, old_size), err);
    if (!rc)
        rc = sth_member(out, "new_sth", sth_of_size(c.sths, c.ns, new_size), err);
    if (!rc)
        rc = ms_buf_append_byte(out, '}', err);
    collected_free(&c);
    return rc;
}

/* ---- checking ------------------------------------------------------------------------------- */

static int get_hex(json_t *o, const char *key, uint8_t *out, size_t n)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL && strlen(s) == 2 * n && ms_hex_decode(s, 2 * n, out, n, NULL) == MS_OK;
}

static int get_u64(json_t *o, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static int get_path(json_t *o, const char *key, uint8_t (*v)[32], size_t *n)
{
    json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || json_array_size(a) > MAX_PATH)
        return 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s == NULL || strlen(s) != 64 || ms_hex_decode(s, 64, v[i], 32, NULL) != MS_OK)
            return 0;
    }
    *n = json_array_size(a);
    return 1;
}

/* 1: no head; 2: head valid for (size, root); 0: present but invalid. */
static int check_sth(json_t *o, const char *key, uint64_t size, const uint8_t root[32],
                     const uint8_t *pub)
{
    json_t *s = json_object_get(o, key);
    if (s == NULL || pub == NULL)
        return 1;
    uint64_t sz, t;
    uint8_t r[32], sig[64];
    if (!json_is_object(s) || !get_u64(s, "tree_size", &sz) || !get_u64(s, "time_ns", &t) ||
        !get_hex(s, "root", r, 32) || !get_hex(s, "signature", sig, 64))
        return 0;
    return sz == size && ms_ct_equal(r, root, 32) && audit__sth_verify(pub, sz, t, r, sig) ? 2 : 0;
}

static ms_rc check_inclusion(json_t *o, const uint8_t *pub, ms_err *err)
{
    uint64_t idx, size;
    uint8_t leaf[32], root[32], path[MAX_PATH][32];
    size_t np;
    if (!get_u64(o, "leaf_index", &idx) || !get_u64(o, "tree_size", &size) ||
        !get_hex(o, "leaf_hash", leaf, 32) || !get_hex(o, "root", root, 32) ||
        !get_path(o, "path", path, &np))
        return ms_fail(err, MS_E_FORMAT, "inclusion proof: missing or malformed member");
    if (!audit_inclusion_verify(idx, size, leaf, (const uint8_t(*)[32])path, np, root))
        return ms_fail(err, MS_E_VERIFY, "inclusion proof of leaf %llu in %llu does not verify",
                       (unsigned long long)idx, (unsigned long long)size);
    int s = check_sth(o, "sth", size, root, pub);
    if (s == 0 || (pub != NULL && s != 2))
        return ms_fail(err, MS_E_VERIFY, "inclusion proof: no valid signed tree head of size %llu",
                       (unsigned long long)size);
    return MS_OK;
}

static ms_rc check_consistency(json_t *o, const uint8_t *pub, ms_err *err)
{
    uint64_t s1, s2;
    uint8_t r1[32], r2[32], proof[MAX_PATH][32];
    size_t np;
    if (!get_u64(o, "old_size", &s1) || !get_u64(o, "new_size", &s2) ||
        !get_hex(o, "old_root", r1, 32) || !get_hex(o, "new_root", r2, 32) ||
        !get_path(o, "proof", proof, &np))
        return ms_fail(err, MS_E_FORMAT, "consistency proof: missing or malformed member");
    if (!audit_consistency_verify(s1, s2, r1, r2, (const uint8_t(*)[32])proof, np))
        return ms_fail(err, MS_E_VERIFY, "consistency proof %llu -> %llu does not verify",
                       (unsigned long long)s1, (unsigned long long)s2);
    int a = check_sth(o, "old_sth", s1, r1, pub), b = check_sth(o, "new_sth", s2, r2, pub);
    if (a == 0 || b == 0 || (pub != NULL && a != 2 && b != 2))
        return ms_fail(err, MS_E_VERIFY, "consistency proof: tree head signature missing/invalid");
    return MS_OK;
}

ms_rc audit_proof_check(const char *json, size_t len, const uint8_t *pubkey, ms_err *err)
{
    json_error_t je;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return ms_fail(err, MS_E_FORMAT, "proof is not a JSON object (line %d)", je.line);
    }
    ms_rc rc;
    if (json_object_get(o, "leaf_index") != NULL)
        rc = check_inclusion(o, pubkey, err);
    else if (json_object_get(o, "old_size") != NULL)
        rc = check_consistency(o, pubkey, err);
    else
        rc = ms_fail(err, MS_E_FORMAT, "neither an inclusion nor a consistency proof");
    json_decref(o);
    return rc;
}

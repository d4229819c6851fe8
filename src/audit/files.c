/*
 * The audit directory's files: the sealed log key, signing key and MAC state, the public key and
 * initial MAC key (hex key files), sth.latest, and segment listing/mapping.
 * Trusts: the master key (unsealing authenticates every sealed file); nothing read back from the
 * directory is trusted before its checks. Owns: the maps and paths it returns.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "medseal/seal.h"

char *audit__path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = ms_malloc(NULL, n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *audit__dir_resolve(const char *path)
{
    char *sub = audit__path(path, "audit");
    struct stat st;
    if (sub != NULL && stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
        return sub;
    ms_free(NULL, sub);
    return ms_strdup(NULL, path);
}

static ms_rc write_file(const char *dir, const char *name, const void *p, size_t n, ms_err *err)
{
    char *path = audit__path(dir, name);
    if (path == NULL)
        return ms_fail(err, MS_E_NOMEM, "path");
    ms_rc rc = ms_file_write_atomic(path, p, n, 0600, 1, err);
    ms_free(NULL, path);
    return rc;
}

static ms_rc write_sealed(const char *dir, const char *name, const uint8_t master[MS_KEY_LEN],
                          const char *label, const uint8_t *pt, size_t n, ms_err *err)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    ms_rc rc = ms_seal(master, label, pt, n, &b, err);
    if (rc == MS_OK)
        rc = write_file(dir, name, b.p, b.len, err);
    ms_buf_free(&b);
    return rc;
}

static ms_rc write_hexkey(const char *dir, const char *name, const uint8_t key[32], ms_err *err)
{
    char text[MS_KEY_LEN * 2 + 2];
    ms_keyfile_format(key, text);
    ms_rc rc = write_file(dir, name, text, strlen(text), err);
    ms_memzero(text, sizeof text);
    return rc;
}

ms_rc audit__sealed_read(const char *dir, const char *name, const uint8_t master[MS_KEY_LEN],
                         const char *label, uint8_t *out, size_t n, ms_err *err)
{
    char *path = audit__path(dir, name);
    if (path == NULL)
        return ms_fail(err, MS_E_NOMEM, "path");
    ms_buf in, pt;
    ms_buf_init(&pt, NULL, 0);
    ms_rc rc = ms_file_read(path, NULL, 4096, &in, err);
    ms_free(NULL, path);
    if (rc != MS_OK)
        return ms_fail(err, rc, "audit/%s unreadable", name);
    rc = ms_unseal(master, label, in.p, in.len, &pt, err);
    if (rc == MS_OK && pt.len != n)
        rc = ms_fail(err, MS_E_FORMAT, "audit/%s holds %zu bytes, want %zu", name, pt.len, n);
    if (rc == MS_OK)
        memcpy(out, pt.p, n);
    ms_buf_free(&in);
    ms_buf_free(&pt);
    return rc;
}

ms_rc audit__mac_state_write(const char *dir, const uint8_t master[MS_KEY_LEN],
                             const audit__mac_state *st, ms_err *err)
{
    uint8_t b[44];
    ms_store_u32le(b, st->epoch);
    ms_store_u64le(b + 4, st->start_ns);
    memcpy(b + 12, st->key, 32);
    ms_rc rc = write_sealed(dir, "mac.state", master, AUDIT_LABEL_MAC_STATE, b, sizeof b, err);
    ms_memzero(b, sizeof b);
    return rc;
}

ms_rc audit__mac_state_read(const char *dir, const uint8_t master[MS_KEY_LEN], audit__mac_state *st,
                            ms_err *err)
{
    uint8_t b[44];
    ms_rc rc =
        audit__sealed_read(dir, "mac.state", master, AUDIT_LABEL_MAC_STATE, b, sizeof b, err);
    if (rc == MS_OK) {
        st->epoch = ms_load_u32le(b);
        st->start_ns = ms_load_u64le(b + 4);
        memcpy(st->key, b + 12, 32);
    }
    ms_memzero(b, sizeof b);
    return rc;
}

/* Creates every key; log.key is written last and marks a complete set. */
ms_rc audit__keys_create(const char *dir, const uint8_t master[MS_KEY_LEN], ms_err *err)
{
    uint8_t k0[32], seed[32], logkey[32], pub[32];
    audit__mac_state st = {0};
    EVP_PKEY *pk = NULL;
    ms_rc rc = ms_random(k0, 32, err);
    if (!rc)
        rc = ms_random(seed, 32, err);
    if (!rc)
        rc = ms_random(logkey, 32, err);
    if (!rc)
        rc = audit__ed25519_from_seed(seed, &pk, pub, err);
    EVP_PKEY_free(pk);
    if (!rc)
        rc = write_hexkey(dir, "initial.key", k0, err);
    if (!rc)
        rc = write_hexkey(dir, "sign.pub", pub, err);
    if (!rc)
        rc = write_sealed(dir, "sign.key", master, AUDIT_LABEL_SIGN_KEY, seed, 32, err);
    memcpy(st.key, k0, 32);
    st.start_ns = audit__now_ns();
    if (!rc)
        rc = audit__mac_state_write(dir, master, &st, err);
    if (!rc)
        rc = write_sealed(dir, "log.key", master, AUDIT_LABEL_LOG_KEY, logkey, 32, err);
    ms_memzero(k0, 32);
    ms_memzero(seed, 32);
    ms_memzero(logkey, 32);
    ms_memzero(&st, sizeof st);
    return rc;
}

ms_rc audit__sth_latest_write(const char *dir, const audit__scan_sth *s, ms_err *err)
{
    uint8_t b[8 + AUDIT_STH_BODY];
    ms_store_u64le(b, s->seq);
    ms_store_u64le(b + 8, s->size);
    ms_store_u64le(b + 16, s->time_ns);
    memcpy(b + 24, s->root, 32);
    memcpy(b + 56, s->sig, 64);
    return write_file(dir, "sth.latest", b, sizeof b, err);
}

ms_rc audit__sth_write_path(const char *path, const audit__scan_sth *s, ms_err *err)
{
    uint8_t b[8 + AUDIT_STH_BODY];
    ms_store_u64le(b, s->seq);
    ms_store_u64le(b + 8, s->size);
    ms_store_u64le(b + 16, s->time_ns);
    memcpy(b + 24, s->root, 32);
    memcpy(b + 56, s->sig, 64);
    return ms_file_write_atomic(path, b, sizeof b, 0600, 1, err);
}

ms_rc audit__head_check(const audit__scan_sth *known, const audit__scan_sth *found,
                        uint64_t n_records, const char *source, ms_err *err)
{
    if (n_records <= known->seq)
        return ms_fail(err, MS_E_VERIFY,
                       "audit log truncated: %s covers %llu records, log has %llu",
                       source, (unsigned long long)known->seq + 1, (unsigned long long)n_records);
    if (found == NULL || found->size != known->size || !ms_ct_equal(found->root, known->root, 32))
        return ms_fail(err, MS_E_VERIFY,
                       "audit log rewritten: its head at seq %llu differs from %s",
                       (unsigned long long)known->seq, source);
    return MS_OK;
}

ms_rc audit__sth_latest_read(const char *dir, audit__scan_sth *s, ms_err *err)
{
    char *path = audit__path(dir, "sth.latest");
    if (path == NULL)
        return ms_fail(err, MS_E_NOMEM, "path");
    ms_rc rc = audit__sth_read_path(path, s, err);
    ms_free(NULL, path);
    return rc;
}

ms_rc audit__sth_read_path(const char *path, audit__scan_sth *s, ms_err *err)
{
    ms_buf b;
    ms_rc rc = ms_file_read(path, NULL, 4096, &b, err);
    if (rc != MS_OK)
        return rc;
    if (b.len != 8 + AUDIT_STH_BODY) {
        ms_buf_free(&b);
        return ms_fail(err, MS_E_FORMAT, "sth.latest of %zu bytes", b.len);
    }
    s->seq = ms_load_u64le(b.p);
    s->size = ms_load_u64le(b.p + 8);
    s->time_ns = ms_load_u64le(b.p + 16);
    memcpy(s->root, b.p + 24, 32);
    memcpy(s->sig, b.p + 56, 64);
    ms_buf_free(&b);
    return MS_OK;
}

/* ---- segments ------------------------------------------------------------------------------ */

void audit__seg_name(uint64_t first_seq, char out[AUDIT_SEG_NAME_MAX])
{
    snprintf(out, AUDIT_SEG_NAME_MAX, "seg-%020llu.log", (unsigned long long)first_seq);
}

ms_rc audit__seg_header(const uint8_t *p, size_t n, uint64_t *first_seq, ms_err *err)
{
    if (n < AUDIT_SEG_HDR)
        return ms_fail(err, MS_E_TRUNC, "segment header truncated (%zu bytes)", n);
    if (memcmp(p, AUDIT_SEG_MAGIC, 8) != 0)
        return ms_fail(err, MS_E_FORMAT, "not an audit segment (bad magic)");
    *first_seq = ms_load_u64le(p + 8);
    return MS_OK;
}

/* "seg-" + 20 digits + ".log" exactly. */
static int seg_parse_name(const char *name, uint64_t *first)
{
    if (strlen(name) != 28 || strncmp(name, "seg-", 4) != 0 || strcmp(name + 24, ".log") != 0)
        return 0;
    uint64_t v = 0;
    for (int i = 4; i < 24; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        if (v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *first = v;
    return 1;
}

static int seg_cmp(const void *a, const void *b)
{
    uint64_t x = ((const audit__segment *)a)->first_seq, y = ((const audit__segment *)b)->first_seq;
    return x < y ? -1 : x > y;
}

static ms_rc list(const char *dir, audit__segments *out, ms_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return ms_fail(err, MS_E_IO, "audit directory: %s", strerror(errno));
    size_t cap = 0;
    ms_rc rc = MS_OK;
    struct dirent *e;
    while (rc == MS_OK && (e = readdir(d)) != NULL) {
        uint64_t first;
        if (!seg_parse_name(e->d_name, &first))
            continue;
        if (out->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            void *nv =
                nc > AUDIT_MAX_SEGMENTS ? NULL : ms_realloc(NULL, out->v, nc * sizeof *out->v);
            if (nv == NULL) {
                rc = ms_fail(err, MS_E_NOMEM, "too many segments");
                break;
            }
            out->v = nv;
            cap = nc;
        }
        audit__segment *s = &out->v[out->n++];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s", e->d_name);
        s->first_seq = first;
        s->map.fd = -1;
    }
    closedir(d);
    return rc;
}

ms_rc audit__segments_open(const char *dir, audit__segments *out, ms_err *err)
{
    audit__segments s = {0};
    ms_rc rc = list(dir, &s, err);
    if (rc == MS_OK && s.n > 1)
        qsort(s.v, s.n, sizeof *s.v, seg_cmp);
    for (size_t i = 0; rc == MS_OK && i < s.n; i++) {
        char *path = audit__path(dir, s.v[i].name);
        if (path == NULL) {
            rc = ms_fail(err, MS_E_NOMEM, "path");
            break;
        }
        rc = ms_map_open(path, (size_t)1 << 40, &s.v[i].map, err);
        ms_free(NULL, path);
    }
    if (rc != MS_OK) {
        audit__segments_close(&s);
        return rc;
    }
    *out = s;
    return MS_OK;
}

void audit__segments_close(audit__segments *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].map.fd >= 0 || s->v[i].map.p != NULL)
            ms_map_close(&s->v[i].map);
    }
    ms_free(NULL, s->v);
    s->v = NULL;
    s->n = 0;
}

/*
 * API keys: one row per key with its public id, role, expiry, revocation, rate limit and
 * HMAC-SHA-256 of the bearer token; the token itself is never stored. Admin keys also hold the
 * 20-byte TOTP secret their holder enrolled in an authenticator app, sealed (AES-256-GCM) under a
 * key derived from the admin's own bearer token, so a copy of the database alone yields no TOTP
 * secret (rows with a plain 20-byte secret still authenticate), and the last TOTP time step the
 * key used (`totp_step`), so a code is accepted only once. The rows live in a backend
 * (keystore_be.h): SQLite in `<state>/keys.sqlite` by default, or PostgreSQL (`--state-db`).
 * Trusts: the state folder and database (the operator's); tokens are attacker-supplied and
 * compared in constant time. Owns: the backend handle and a cache of rows (guarded by a mutex).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "internal.h"
#include "keystore_be.h"
#include "medseal/seal.h"

static const char TOTP_LABEL[] = "medseal admin totp v1";

/* The key that seals an admin's TOTP secret: HMAC-SHA-256(token, label). */
static ms_rc totp_key(const char *token, size_t len, uint8_t k[32], ms_err *err)
{
    return ms_hmac_sha256((const uint8_t *)token, len, TOTP_LABEL, sizeof TOTP_LABEL - 1, NULL, 0,
                          k, err);
}

/* A cache of key rows for authentication, so most requests skip the database. It is dropped
 * whenever the backend says rows may have changed (SQLite: keys.sqlite changed on disk, so
 * `medseal keys revoke` from another process takes effect on the next request; PostgreSQL: a
 * NOTIFY from any replica or CLI), and an entry is at most the backend's cache_age_s old in any
 * case (5 s for SQLite, 1 s for PostgreSQL, which bounds a revocation even when a notification is
 * lost). */
#define CACHE_SLOTS 1024

struct cached {
    int used;
    int64_t filled;
    uint8_t hash[32];
    uint8_t totp[GW_KS_TOTP_MAX]; /* the column as stored: sealed, or 20 plain bytes (old rows) */
    size_t totp_len;
    gw_key_info info;
};

struct gw_keystore {
    const gw_ks_be *be;
    void *db;
    pthread_mutex_t mu;
    struct cached *cache; /* CACHE_SLOTS entries, wiped when dropped */
    EVP_MAC_CTX *mac;     /* HMAC keyed with HASH_LABEL, duplicated per token */
};

static const char TOKEN_PREFIX[] = "msk_";
#define SECRET_HEX 48 /* 24 random bytes */
static const char HASH_LABEL[] = "medseal api key v1";

static const char *const role_names[] = {"none", "clinician", "researcher", "auditor", "admin"};

const char *gw_role_name(gw_role r)
{
    if ((unsigned)r >= sizeof role_names / sizeof role_names[0])
        return "none";
    return role_names[r];
}

gw_role gw_role_parse(const char *s)
{
    for (unsigned i = 1; s != NULL && i < sizeof role_names / sizeof role_names[0]; i++) {
        if (strcmp(s, role_names[i]) == 0)
            return (gw_role)i;
    }
    return GW_ROLE_NONE;
}

/* HMAC-SHA-256(HASH_LABEL, token). The keyed MAC context is prepared once per store and
 * duplicated per call: OpenSSL 3's per-call algorithm fetch costs more than the MAC itself. */
static ms_rc token_hash(gw_keystore *ks, const char *token, size_t len, uint8_t out[32],
                        ms_err *err)
{
    size_t outl = 0;
    EVP_MAC_CTX *c = ks->mac != NULL ? EVP_MAC_CTX_dup(ks->mac) : NULL;
    int ok = c != NULL && EVP_MAC_update(c, (const unsigned char *)token, len) == 1 &&
             EVP_MAC_final(c, out, &outl, 32) == 1 && outl == 32;
    EVP_MAC_CTX_free(c);
    if (!ok)
        return ms_hmac_sha256((const uint8_t *)HASH_LABEL, sizeof HASH_LABEL - 1, token, len, NULL,
                              0, out, err);
    return MS_OK;
}

static EVP_MAC_CTX *mac_template(void)
{
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context keeps its own reference */
    if (c != NULL &&
        EVP_MAC_init(c, (const unsigned char *)HASH_LABEL, sizeof HASH_LABEL - 1, params) != 1) {
        EVP_MAC_CTX_free(c);
        c = NULL;
    }
    return c;
}

static int is_pg_url(const char *u)
{
    return strncmp(u, "postgresql://", 13) == 0 || strncmp(u, "postgres://", 11) == 0;
}

ms_rc gw_keystore_open_db(const char *state_dir, const char *db_url, gw_keystore **out,
                          ms_err *err)
{
    if (out == NULL || (state_dir == NULL && db_url == NULL))
        return ms_fail(err, MS_E_INVAL, "key store: no state folder");
    if (db_url != NULL && !is_pg_url(db_url))
        return ms_fail(err, MS_E_INVAL,
                       "key store: --state-db needs a postgresql:// or postgres:// URL");
    gw_keystore *ks = ms_calloc(NULL, 1, sizeof *ks);
    struct cached *cache = ms_calloc(NULL, CACHE_SLOTS, sizeof *cache);
    if (ks == NULL || cache == NULL) {
        ms_free(NULL, ks);
        ms_free(NULL, cache);
        return ms_fail(err, MS_E_NOMEM, "key store: out of memory");
    }
    ks->cache = cache;
    ks->mac = mac_template();
    pthread_mutex_init(&ks->mu, NULL);
    ks->be = db_url != NULL ? &gw__ks_pg : &gw__ks_sqlite;
    ms_rc rc = db_url != NULL ? gw__ks_pg_open(db_url, &ks->db, err)
                              : gw__ks_sqlite_open(state_dir, &ks->db, err);
    if (rc != MS_OK) {
        ks->db = NULL;
        gw_keystore_close(ks);
        return rc;
    }
    *out = ks;
    return MS_OK;
}

ms_rc gw_keystore_open(const char *state_dir, gw_keystore **out, ms_err *err)
{
    if (state_dir == NULL)
        return ms_fail(err, MS_E_INVAL, "key store: no state folder");
    return gw_keystore_open_db(state_dir, NULL, out, err);
}

const char *gw_keystore_backend(const gw_keystore *ks)
{
    return ks != NULL ? ks->be->name : "none";
}

void gw_keystore_close(gw_keystore *ks)
{
    if (ks == NULL)
        return;
    if (ks->db != NULL)
        ks->be->close(ks->db);
    pthread_mutex_destroy(&ks->mu);
    ms_free(NULL, ks->cache); /* wipes the cached hashes and TOTP secrets */
    EVP_MAC_CTX_free(ks->mac);
    ms_free(NULL, ks);
}

static void hex_lower(const uint8_t *in, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15u];
    }
    out[2 * n] = '\0';
}

static ms_rc make_token(gw_keystore *ks, gw_new_key *k, uint8_t hash[32], ms_err *err)
{
    uint8_t rnd[GW_KEY_ID_LEN / 2 + SECRET_HEX / 2];
    char sec[SECRET_HEX + 1];
    if (ms_random(rnd, sizeof rnd, err) != MS_OK)
        return err ? err->code : MS_E_CRYPTO;
    hex_lower(rnd, GW_KEY_ID_LEN / 2, k->id);
    hex_lower(rnd + GW_KEY_ID_LEN / 2, SECRET_HEX / 2, sec);
    snprintf(k->text, sizeof k->text, "%s%s_%s", TOKEN_PREFIX, k->id, sec);
    ms_memzero(rnd, sizeof rnd);
    ms_memzero(sec, sizeof sec);
    return token_hash(ks, k->text, strlen(k->text), hash, err);
}

ms_rc gw_keystore_create(gw_keystore *ks, gw_role role, int64_t expires_at, uint32_t rate_rpm,
                         gw_new_key *out, ms_err *err)
{
    gw_new_key k;
    gw_ks_row row;
    uint8_t totp[20];
    ms_rc rc = MS_OK;
    ms_buf sealed;
    ms_buf_init(&sealed, NULL, 256);
    memset(&k, 0, sizeof k);
    memset(&row, 0, sizeof row);
    if (ks == NULL || out == NULL || role == GW_ROLE_NONE)
        return ms_fail(err, MS_E_INVAL, "key store: bad role");
    if (make_token(ks, &k, row.hash, err) != MS_OK)
        return err ? err->code : MS_E_CRYPTO;
    row.hash_ok = 1;
    row.role = (int)role;
    row.created = (int64_t)time(NULL);
    row.expires = expires_at;
    row.rate = rate_rpm;
    if (role == GW_ROLE_ADMIN) {
        uint8_t tk[32];
        if (ms_random(totp, sizeof totp, err) != MS_OK)
            return err ? err->code : MS_E_CRYPTO;
        gw_base32(totp, sizeof totp, k.totp_b32);
        rc = totp_key(k.text, strlen(k.text), tk, err);
        if (rc == MS_OK)
            rc = ms_seal(tk, TOTP_LABEL, totp, sizeof totp, &sealed, err);
        ms_memzero(tk, sizeof tk);
        if (rc == MS_OK && sealed.len > sizeof row.totp)
            rc = ms_fail(err, MS_E_INTERNAL, "key store: sealed TOTP of %zu bytes", sealed.len);
        if (rc == MS_OK) {
            memcpy(row.totp, sealed.p, sealed.len);
            row.totp_len = sealed.len;
        }
    }
    if (rc == MS_OK)
        rc = ks->be->insert(ks->db, k.id, &row, err);
    ms_buf_free(&sealed);
    ms_memzero(totp, sizeof totp);
    ms_memzero(&row, sizeof row);
    if (rc == MS_OK)
        *out = k;
    ms_memzero(&k, sizeof k);
    return rc;
}

ms_rc gw_keystore_revoke(gw_keystore *ks, const char *id, ms_err *err)
{
    if (ks == NULL || id == NULL)
        return ms_fail(err, MS_E_INVAL, "key store: no id");
    ms_rc rc = ks->be->revoke(ks->db, id, err);
    if (rc == MS_OK) { /* this process's own cache at once */
        pthread_mutex_lock(&ks->mu);
        ms_memzero(ks->cache, CACHE_SLOTS * sizeof *ks->cache);
        pthread_mutex_unlock(&ks->mu);
    }
    return rc;
}

ms_rc gw_keystore_list(gw_keystore *ks, void (*fn)(void *ud, const gw_key_info *k), void *ud,
                       ms_err *err)
{
    if (ks == NULL || fn == NULL)
        return ms_fail(err, MS_E_INVAL, "key store: bad arguments");
    return ks->be->list(ks->db, fn, ud, err);
}

ms_rc gw_keystore_publish_head(gw_keystore *ks, const gw_tree_head *h, ms_err *err)
{
    if (ks == NULL || h == NULL)
        return ms_fail(err, MS_E_INVAL, "key store: bad arguments");
    if (ks->be->publish_head == NULL)
        return ms_fail(err, MS_E_UNSUPPORTED, "tree heads are published only to --state-db");
    return ks->be->publish_head(ks->db, h, err);
}

ms_rc gw_keystore_heads(gw_keystore *ks, gw_head_fn fn, void *ud, ms_err *err)
{
    if (ks == NULL || fn == NULL)
        return ms_fail(err, MS_E_INVAL, "key store: bad arguments");
    if (ks->be->heads == NULL)
        return ms_fail(err, MS_E_UNSUPPORTED, "tree heads are published only to --state-db");
    return ks->be->heads(ks->db, fn, ud, err);
}

/* Splits "msk_<12 hex>_<48 hex>" and returns the id; -1 when the shape is wrong. */
static int token_id(const char *t, size_t n, char id[GW_KEY_ID_LEN + 1])
{
    size_t pre = sizeof TOKEN_PREFIX - 1;
    if (n != pre + GW_KEY_ID_LEN + 1 + SECRET_HEX || memcmp(t, TOKEN_PREFIX, pre) != 0 ||
        t[pre + GW_KEY_ID_LEN] != '_')
        return -1;
    for (size_t i = 0; i < GW_KEY_ID_LEN; i++) {
        char c = t[pre + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -1;
        id[i] = c;
    }
    id[GW_KEY_ID_LEN] = '\0';
    return 0;
}

/* A fetched row into a cache entry. */
static void fill_entry(const char *id, const gw_ks_row *r, struct cached *c, int64_t now)
{
    memset(c, 0, sizeof *c);
    memcpy(c->hash, r->hash, 32);
    memcpy(c->totp, r->totp, r->totp_len);
    c->totp_len = r->totp_len;
    snprintf(c->info.id, sizeof c->info.id, "%s", id);
    c->info.role = (gw_role)r->role;
    c->info.created_at = r->created;
    c->info.expires_at = r->expires;
    c->info.revoked = r->revoked || !r->hash_ok; /* a malformed row never authenticates */
    c->info.rate_rpm = r->rate;
    c->filled = now;
    c->used = 1;
}
/* The admin's TOTP secret from its stored form (sealed under the token, or plain). */
static ms_rc open_totp(const struct cached *c, const char *token, size_t len, uint8_t totp[20])
{
    if (c->totp_len == 20) {
        memcpy(totp, c->totp, 20);
        return MS_OK;
    }
    uint8_t tk[32];
    ms_buf out;
    ms_buf_init(&out, NULL, 256);
    ms_rc rc = totp_key(token, len, tk, NULL);
    if (rc == MS_OK)
        rc = ms_unseal(tk, TOTP_LABEL, c->totp, c->totp_len, &out, NULL);
    if (rc == MS_OK && out.len != 20)
        rc = MS_E_AUTH;
    if (rc == MS_OK)
        memcpy(totp, out.p, 20);
    ms_memzero(tk, sizeof tk);
    ms_buf_free(&out);
    return rc == MS_OK ? MS_OK : MS_E_AUTH;
}

static ms_rc check_entry(const struct cached *c, const uint8_t want[32], int64_t now,
                         const char *token, size_t token_len, gw_key_info *info, uint8_t totp[20])
{
    int ok = ms_ct_equal(c->hash, want, 32);
    if (!ok || c->info.revoked || (c->info.expires_at != 0 && now >= c->info.expires_at))
        return MS_E_AUTH;
    if (c->info.role < GW_ROLE_CLINICIAN || c->info.role > GW_ROLE_ADMIN)
        return MS_E_AUTH;
    if (totp != NULL && c->info.role == GW_ROLE_ADMIN && open_totp(c, token, token_len, totp))
        return MS_E_AUTH;
    *info = c->info;
    return MS_OK;
}

static size_t slot_of(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a over the public id */
    for (; *id; id++)
        h = (h ^ (uint8_t)*id) * 16777619u;
    return h % CACHE_SLOTS;
}

/* Finds the key's row (cache, else the backend). Caller holds the lock. */
static ms_rc lookup_locked(gw_keystore *ks, const char *id, int64_t now, struct cached **out,
                           ms_err *err)
{
    struct cached *c = &ks->cache[slot_of(id)];
    if (ks->be->changed(ks->db))
        ms_memzero(ks->cache, CACHE_SLOTS * sizeof *ks->cache);
    if (c->used && strcmp(c->info.id, id) == 0 && now - c->filled < ks->be->cache_age_s &&
        now >= c->filled) {
        *out = c;
        return MS_OK;
    }
    gw_ks_row row;
    ms_rc rc = ks->be->fetch(ks->db, id, &row, err);
    if (rc == MS_OK) {
        fill_entry(id, &row, c, now);
        *out = c;
    }
    ms_memzero(&row, sizeof row);
    return rc == MS_E_NOTFOUND ? MS_E_AUTH : rc;
}

ms_rc gw_keystore_auth(gw_keystore *ks, const char *token, size_t token_len, int64_t now,
                       gw_key_info *info, uint8_t totp[20], ms_err *err)
{
    gw_key_info k;
    uint8_t want[32];
    ms_rc rc = MS_E_AUTH;
    ms_err dberr = {0};
    memset(&k, 0, sizeof k);
    if (ks == NULL || token == NULL || info == NULL || token_id(token, token_len, k.id) != 0)
        return ms_fail(err, MS_E_AUTH, "invalid API key");
    if (token_hash(ks, token, token_len, want, err) != MS_OK)
        return err ? err->code : MS_E_CRYPTO;
    pthread_mutex_lock(&ks->mu);
    struct cached *c = NULL;
    rc = lookup_locked(ks, k.id, now, &c, &dberr);
    if (rc == MS_OK)
        rc = check_entry(c, want, now, token, token_len, &k, totp);
    pthread_mutex_unlock(&ks->mu);
    ms_memzero(want, sizeof want);
    if (rc == MS_E_IO)
        return ms_fail(err, MS_E_IO, "%s", dberr.msg);
    if (rc != MS_OK)
        return ms_fail(err, MS_E_AUTH, "invalid API key");
    *info = k;
    return MS_OK;
}

ms_rc gw_keystore_totp_claim(gw_keystore *ks, const char *id, uint64_t step, ms_err *err)
{
    if (ks == NULL || id == NULL || step > (uint64_t)INT64_MAX)
        return ms_fail(err, MS_E_INVAL, "key store: bad TOTP step");
    return ks->be->totp_claim(ks->db, id, step, err);
}

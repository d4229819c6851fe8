/*
 * API keys in SQLite (`<state>/keys.sqlite`): one row per key with its public id, role, expiry,
 * revocation, rate limit and HMAC-SHA-256 of the bearer token; the token itself is never stored.
 * Admin keys also hold the 20-byte TOTP secret their holder enrolled in an authenticator app,
 * sealed (AES-256-GCM) under a key derived from the admin's own bearer token, so a copy of the
 * database alone yields no TOTP secret (rows with a plain 20-byte secret still authenticate),
 * and the last TOTP time step the key used (`totp_step`), so a code is accepted only once.
 * Trusts: the state folder (the operator's); tokens are attacker-supplied and compared in constant
 * time. Owns: the database connection and its cached statement (guarded by a mutex).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sqlite3.h>

#include "internal.h"
#include "medseal/seal.h"

#define TOTP_SEALED_MAX 64 /* "MSS1" + nonce 12 + secret 20 + tag 16 = 52 */
static const char TOTP_LABEL[] = "medseal admin totp v1";

/* The key that seals an admin's TOTP secret: HMAC-SHA-256(token, label). */
static ms_rc totp_key(const char *token, size_t len, uint8_t k[32], ms_err *err)
{
    return ms_hmac_sha256((const uint8_t *)token, len, TOTP_LABEL, sizeof TOTP_LABEL - 1, NULL, 0,
                          k, err);
}

/* A cache of key rows for authentication, so most requests skip SQLite. It is dropped whenever
 * keys.sqlite changes on disk (device, inode, size or nanosecond mtime: every SQLite commit in
 * the default rollback-journal mode writes the file, so `medseal keys revoke` from another process
 * takes effect on the next request), and an entry is at most CACHE_AGE_S old in any case. */
#define CACHE_SLOTS 1024
#define CACHE_AGE_S 5

struct cached {
    int used;
    int64_t filled;
    uint8_t hash[32];
    uint8_t totp[TOTP_SEALED_MAX]; /* the column as stored: sealed, or 20 plain bytes (old rows) */
    size_t totp_len;
    gw_key_info info;
};

struct file_sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim;
};

struct gw_keystore {
    sqlite3 *db;
    sqlite3_stmt *auth;
    pthread_mutex_t mu;
    char path[4096];
    struct file_sig sig;
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

static ms_rc db_fail(gw_keystore *ks, ms_err *err, const char *what)
{
    return ms_fail(err, MS_E_IO, "key store: %s: %s", what, sqlite3_errmsg(ks->db));
}

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, hash BLOB NOT NULL, role INTEGER NOT "
    "NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT "
    "0, rate INTEGER NOT NULL DEFAULT 0, totp BLOB, totp_step INTEGER NOT NULL DEFAULT 0);";

/* Databases made before replay protection lack totp_step: it is added (0: no code used yet).
 * Another process may add it at the same moment, so a failed ALTER is re-checked, not fatal. */
static int has_totp_step(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(db, "SELECT totp_step FROM keys LIMIT 0", -1, &st, NULL) ==
             SQLITE_OK;
    sqlite3_finalize(st);
    return ok;
}

static int migrate(sqlite3 *db)
{
    if (has_totp_step(db))
        return 0;
    sqlite3_exec(db, "ALTER TABLE keys ADD COLUMN totp_step INTEGER NOT NULL DEFAULT 0", NULL,
                 NULL, NULL);
    return has_totp_step(db) ? 0 : -1;
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

ms_rc gw_keystore_open(const char *state_dir, gw_keystore **out, ms_err *err)
{
    char path[4096];
    if (state_dir == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "key store: no state folder");
    if (mkdir(state_dir, 0700) != 0 && errno != EEXIST)
        return ms_fail(err, MS_E_IO, "key store: mkdir state folder: %s", strerror(errno));
    if ((size_t)snprintf(path, sizeof path, "%s/keys.sqlite", state_dir) >= sizeof path)
        return ms_fail(err, MS_E_LIMIT, "key store: state path too long");
    gw_keystore *ks = ms_malloc(NULL, sizeof *ks);
    struct cached *cache = ms_calloc(NULL, CACHE_SLOTS, sizeof *cache);
    if (ks == NULL || cache == NULL) {
        ms_free(NULL, ks);
        ms_free(NULL, cache);
        return ms_fail(err, MS_E_NOMEM, "key store: out of memory");
    }
    ks->cache = cache;
    ks->mac = mac_template();
    memcpy(ks->path, path, sizeof ks->path);
    pthread_mutex_init(&ks->mu, NULL);
    mode_t old = umask(077);
    int rc = sqlite3_open_v2(
        path, &ks->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    umask(old);
    if (rc != SQLITE_OK) {
        ms_fail(err, MS_E_IO, "key store: open: %s",
                ks->db ? sqlite3_errmsg(ks->db) : "out of memory");
        gw_keystore_close(ks);
        return err ? err->code : MS_E_IO;
    }
    sqlite3_busy_timeout(ks->db, 5000);
    if (sqlite3_exec(ks->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK || migrate(ks->db) != 0 ||
        sqlite3_prepare_v2(ks->db,
                           "SELECT hash, role, created, expires, revoked, rate, totp FROM keys "
                           "WHERE id = ?1",
                           -1, &ks->auth, NULL) != SQLITE_OK) {
        ms_rc r = db_fail(ks, err, "schema");
        gw_keystore_close(ks);
        return r;
    }
    *out = ks;
    return MS_OK;
}

void gw_keystore_close(gw_keystore *ks)
{
    if (ks == NULL)
        return;
    sqlite3_finalize(ks->auth);
    sqlite3_close(ks->db);
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
    uint8_t hash[32], totp[20];
    sqlite3_stmt *st = NULL;
    ms_rc rc = MS_OK;
    ms_buf sealed;
    ms_buf_init(&sealed, NULL, 256);
    memset(&k, 0, sizeof k);
    if (ks == NULL || out == NULL || role == GW_ROLE_NONE)
        return ms_fail(err, MS_E_INVAL, "key store: bad role");
    if (make_token(ks, &k, hash, err) != MS_OK)
        return err ? err->code : MS_E_CRYPTO;
    if (role == GW_ROLE_ADMIN) {
        if (ms_random(totp, sizeof totp, err) != MS_OK)
            return err ? err->code : MS_E_CRYPTO;
        gw_base32(totp, sizeof totp, k.totp_b32);
    }
    if (sqlite3_prepare_v2(ks->db,
                           "INSERT INTO keys (id, hash, role, created, expires, revoked, rate, "
                           "totp) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(ks, err, "prepare insert");
        goto done;
    }
    sqlite3_bind_text(st, 1, k.id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, hash, sizeof hash, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, (int)role);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
    sqlite3_bind_int64(st, 5, (sqlite3_int64)expires_at);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)rate_rpm);
    sqlite3_bind_null(st, 7);
    if (role == GW_ROLE_ADMIN) {
        uint8_t tk[32];
        rc = totp_key(k.text, strlen(k.text), tk, err);
        if (rc == MS_OK)
            rc = ms_seal(tk, TOTP_LABEL, totp, sizeof totp, &sealed, err);
        ms_memzero(tk, sizeof tk);
        if (rc != MS_OK)
            goto done;
        sqlite3_bind_blob(st, 7, sealed.p, (int)sealed.len, SQLITE_STATIC);
    }
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(ks, err, "insert");
done:
    sqlite3_finalize(st);
    ms_buf_free(&sealed);
    ms_memzero(totp, sizeof totp);
    ms_memzero(hash, sizeof hash);
    if (rc == MS_OK)
        *out = k;
    ms_memzero(&k, sizeof k);
    return rc;
}

ms_rc gw_keystore_revoke(gw_keystore *ks, const char *id, ms_err *err)
{
    sqlite3_stmt *st = NULL;
    ms_rc rc = MS_OK;
    if (ks == NULL || id == NULL)
        return ms_fail(err, MS_E_INVAL, "key store: no id");
    if (sqlite3_prepare_v2(ks->db, "UPDATE keys SET revoked = 1 WHERE id = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(ks, err, "prepare revoke");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(ks, err, "revoke");
    else if (sqlite3_changes(ks->db) == 0)
        rc = ms_fail(err, MS_E_NOTFOUND, "key store: no key with that id");
    sqlite3_finalize(st);
    return rc;
}

ms_rc gw_keystore_list(gw_keystore *ks, void (*fn)(void *ud, const gw_key_info *k), void *ud,
                       ms_err *err)
{
    sqlite3_stmt *st = NULL;
    int r;
    if (ks == NULL || fn == NULL)
        return ms_fail(err, MS_E_INVAL, "key store: bad arguments");
    if (sqlite3_prepare_v2(ks->db,
                           "SELECT id, role, created, expires, revoked, rate FROM keys ORDER BY "
                           "created, id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(ks, err, "prepare list");
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        gw_key_info k;
        memset(&k, 0, sizeof k);
        const unsigned char *id = sqlite3_column_text(st, 0);
        snprintf(k.id, sizeof k.id, "%s", id ? (const char *)id : "");
        k.role = (gw_role)sqlite3_column_int(st, 1);
        k.created_at = sqlite3_column_int64(st, 2);
        k.expires_at = sqlite3_column_int64(st, 3);
        k.revoked = sqlite3_column_int(st, 4);
        k.rate_rpm = (uint32_t)sqlite3_column_int64(st, 5);
        fn(ud, &k);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return db_fail(ks, err, "list");
    return MS_OK;
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

/* Reads the current row of the auth statement into a cache entry. */
static void read_row(gw_keystore *ks, const char *id, struct cached *c, int64_t now)
{
    const void *h = sqlite3_column_blob(ks->auth, 0);
    const void *t = sqlite3_column_blob(ks->auth, 6);
    memset(c, 0, sizeof *c);
    if (h != NULL && sqlite3_column_bytes(ks->auth, 0) == 32)
        memcpy(c->hash, h, 32);
    else
        c->info.revoked = 1; /* a malformed row never authenticates */
    int tn = sqlite3_column_bytes(ks->auth, 6);
    if (t != NULL && tn > 0 && (size_t)tn <= sizeof c->totp) {
        memcpy(c->totp, t, (size_t)tn);
        c->totp_len = (size_t)tn;
    }
    snprintf(c->info.id, sizeof c->info.id, "%s", id);
    c->info.role = (gw_role)sqlite3_column_int(ks->auth, 1);
    c->info.created_at = sqlite3_column_int64(ks->auth, 2);
    c->info.expires_at = sqlite3_column_int64(ks->auth, 3);
    c->info.revoked |= sqlite3_column_int(ks->auth, 4);
    c->info.rate_rpm = (uint32_t)sqlite3_column_int64(ks->auth, 5);
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

/* Drops the cache when the database file changed. Caller holds the lock. */
static void cache_check(gw_keystore *ks)
{
    struct stat st;
    struct file_sig now;
    memset(&now, 0, sizeof now);
    if (stat(ks->path, &st) == 0) {
        now.dev = st.st_dev;
        now.ino = st.st_ino;
        now.size = st.st_size;
        now.mtim = st.st_mtim;
    }
    if (memcmp(&now, &ks->sig, sizeof now) != 0) {
        ms_memzero(ks->cache, CACHE_SLOTS * sizeof *ks->cache);
        ks->sig = now;
    }
}

static size_t slot_of(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a over the public id */
    for (; *id; id++)
        h = (h ^ (uint8_t)*id) * 16777619u;
    return h % CACHE_SLOTS;
}

/* Finds the key's row (cache, else SQLite). Caller holds the lock. */
static ms_rc lookup_locked(gw_keystore *ks, const char *id, int64_t now, struct cached **out)
{
    struct cached *c = &ks->cache[slot_of(id)];
    cache_check(ks);
    if (c->used && strcmp(c->info.id, id) == 0 && now - c->filled < CACHE_AGE_S) {
        *out = c;
        return MS_OK;
    }
    sqlite3_reset(ks->auth);
    sqlite3_bind_text(ks->auth, 1, id, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(ks->auth);
    ms_rc rc = r == SQLITE_ROW ? MS_OK : r == SQLITE_DONE ? MS_E_AUTH : MS_E_IO;
    if (r == SQLITE_ROW) {
        read_row(ks, id, c, now);
        *out = c;
    }
    sqlite3_reset(ks->auth);
    return rc;
}

ms_rc gw_keystore_auth(gw_keystore *ks, const char *token, size_t token_len, int64_t now,
                       gw_key_info *info, uint8_t totp[20], ms_err *err)
{
    gw_key_info k;
    uint8_t want[32];
    ms_rc rc = MS_E_AUTH;
    memset(&k, 0, sizeof k);
    if (ks == NULL || token == NULL || info == NULL || token_id(token, token_len, k.id) != 0)
        return ms_fail(err, MS_E_AUTH, "invalid API key");
    if (token_hash(ks, token, token_len, want, err) != MS_OK)
        return err ? err->code : MS_E_CRYPTO;
    pthread_mutex_lock(&ks->mu);
    struct cached *c = NULL;
    rc = lookup_locked(ks, k.id, now, &c);
    if (rc == MS_OK)
        rc = check_entry(c, want, now, token, token_len, &k, totp);
    pthread_mutex_unlock(&ks->mu);
    ms_memzero(want, sizeof want);
    if (rc == MS_E_IO)
        return db_fail(ks, err, "lookup");
    if (rc != MS_OK)
        return ms_fail(err, MS_E_AUTH, "invalid API key");
    *info = k;
    return MS_OK;
}

ms_rc gw_keystore_totp_claim(gw_keystore *ks, const char *id, uint64_t step, ms_err *err)
{
    sqlite3_stmt *st = NULL;
    if (ks == NULL || id == NULL || step > (uint64_t)INT64_MAX)
        return ms_fail(err, MS_E_INVAL, "key store: bad TOTP step");
    /* RETURNING tells whether this statement changed the row; sqlite3_changes() would be shared
     * with writes other threads make on the same connection. */
    if (sqlite3_prepare_v2(ks->db,
                           "UPDATE keys SET totp_step = ?2 WHERE id = ?1 AND role = ?3 AND "
                           "totp_step < ?2 RETURNING totp_step",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(ks, err, "prepare TOTP step");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)step);
    sqlite3_bind_int(st, 3, (int)GW_ROLE_ADMIN);
    int r = sqlite3_step(st), won = r == SQLITE_ROW;
    if (won) /* run the statement to its end, which commits the change */
        r = sqlite3_step(st);
    ms_rc rc = MS_OK;
    if (r != SQLITE_DONE)
        rc = db_fail(ks, err, "TOTP step");
    else if (!won)
        rc = ms_fail(err, MS_E_AUTH, "TOTP code already used");
    sqlite3_finalize(st);
    return rc;
}

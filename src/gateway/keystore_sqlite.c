/*
 * The key store's SQLite backend (the default): `<state>/keys.sqlite`, mode 0600, one row per key
 * (id, HMAC of the token, role, times, revocation, rate, the sealed TOTP secret and the last TOTP
 * step used). The CLI and a running server may use the file at once: SQLite serialises writes,
 * and `changed` reports a commit by another process (the file's device, inode, size or
 * nanosecond mtime moved: every commit in the default rollback-journal mode writes the file).
 * Trusts: the state folder (the operator's). Owns: the connection and its cached statement
 * (SQLITE_OPEN_FULLMUTEX; keystore.c serialises fetches under its own lock).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "keystore_be.h"

struct file_sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim;
};

struct ks_sqlite {
    sqlite3 *db;
    sqlite3_stmt *auth;
    char path[4096];
    struct file_sig sig;
};

static ms_rc db_fail(struct ks_sqlite *k, ms_err *err, const char *what)
{
    return ms_fail(err, MS_E_IO, "key store: %s: %s", what, sqlite3_errmsg(k->db));
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

static void sq_close(void *b)
{
    struct ks_sqlite *k = b;
    if (k == NULL)
        return;
    sqlite3_finalize(k->auth);
    sqlite3_close(k->db);
    ms_free(NULL, k);
}

ms_rc gw__ks_sqlite_open(const char *state_dir, void **out, ms_err *err)
{
    char path[4096];
    if (state_dir == NULL)
        return ms_fail(err, MS_E_INVAL, "key store: no state folder");
    if (mkdir(state_dir, 0700) != 0 && errno != EEXIST)
        return ms_fail(err, MS_E_IO, "key store: mkdir state folder: %s", strerror(errno));
    if ((size_t)snprintf(path, sizeof path, "%s/keys.sqlite", state_dir) >= sizeof path)
        return ms_fail(err, MS_E_LIMIT, "key store: state path too long");
    struct ks_sqlite *k = ms_calloc(NULL, 1, sizeof *k);
    if (k == NULL)
        return ms_fail(err, MS_E_NOMEM, "key store: out of memory");
    memcpy(k->path, path, sizeof k->path);
    mode_t old = umask(077);
    int rc = sqlite3_open_v2(
        path, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    umask(old);
    if (rc != SQLITE_OK) {
        ms_fail(err, MS_E_IO, "key store: open: %s",
                k->db ? sqlite3_errmsg(k->db) : "out of memory");
        sq_close(k);
        return err ? err->code : MS_E_IO;
    }
    sqlite3_busy_timeout(k->db, 5000);
    if (sqlite3_exec(k->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK || migrate(k->db) != 0 ||
        sqlite3_prepare_v2(k->db,
                           "SELECT hash, role, created, expires, revoked, rate, totp FROM keys "
                           "WHERE id = ?1",
                           -1, &k->auth, NULL) != SQLITE_OK) {
        ms_rc r = db_fail(k, err, "schema");
        sq_close(k);
        return r;
    }
    *out = k;
    return MS_OK;
}

static ms_rc sq_insert(void *b, const char *id, const gw_ks_row *row, ms_err *err)
{
    struct ks_sqlite *k = b;
    sqlite3_stmt *st = NULL;
    ms_rc rc = MS_OK;
    if (sqlite3_prepare_v2(k->db,
                           "INSERT INTO keys (id, hash, role, created, expires, revoked, rate, "
                           "totp) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(k, err, "prepare insert");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, row->hash, sizeof row->hash, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, row->role);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)row->created);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)row->expires);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)row->rate);
    if (row->totp_len > 0)
        sqlite3_bind_blob(st, 7, row->totp, (int)row->totp_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 7);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(k, err, "insert");
    sqlite3_finalize(st);
    return rc;
}

static ms_rc sq_revoke(void *b, const char *id, ms_err *err)
{
    struct ks_sqlite *k = b;
    sqlite3_stmt *st = NULL;
    ms_rc rc = MS_OK;
    if (sqlite3_prepare_v2(k->db, "UPDATE keys SET revoked = 1 WHERE id = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(k, err, "prepare revoke");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(k, err, "revoke");
    else if (sqlite3_changes(k->db) == 0)
        rc = ms_fail(err, MS_E_NOTFOUND, "key store: no key with that id");
    sqlite3_finalize(st);
    return rc;
}

static ms_rc sq_list(void *b, void (*fn)(void *ud, const gw_key_info *k), void *ud, ms_err *err)
{
    struct ks_sqlite *k = b;
    sqlite3_stmt *st = NULL;
    int r;
    if (sqlite3_prepare_v2(k->db,
                           "SELECT id, role, created, expires, revoked, rate FROM keys ORDER BY "
                           "created, id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(k, err, "prepare list");
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        gw_key_info ki;
        memset(&ki, 0, sizeof ki);
        const unsigned char *id = sqlite3_column_text(st, 0);
        snprintf(ki.id, sizeof ki.id, "%s", id ? (const char *)id : "");
        ki.role = (gw_role)sqlite3_column_int(st, 1);
        ki.created_at = sqlite3_column_int64(st, 2);
        ki.expires_at = sqlite3_column_int64(st, 3);
        ki.revoked = sqlite3_column_int(st, 4);
        ki.rate_rpm = (uint32_t)sqlite3_column_int64(st, 5);
        fn(ud, &ki);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return db_fail(k, err, "list");
    return MS_OK;
}

static ms_rc sq_fetch(void *b, const char *id, gw_ks_row *row, ms_err *err)
{
    struct ks_sqlite *k = b;
    sqlite3_reset(k->auth);
    sqlite3_bind_text(k->auth, 1, id, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(k->auth);
    ms_rc rc = r == SQLITE_ROW ? MS_OK : r == SQLITE_DONE ? MS_E_NOTFOUND : MS_E_IO;
    if (r == SQLITE_ROW) {
        const void *h = sqlite3_column_blob(k->auth, 0);
        const void *t = sqlite3_column_blob(k->auth, 6);
        memset(row, 0, sizeof *row);
        if (h != NULL && sqlite3_column_bytes(k->auth, 0) == 32) {
            memcpy(row->hash, h, 32);
            row->hash_ok = 1;
        }
        int tn = sqlite3_column_bytes(k->auth, 6);
        if (t != NULL && tn > 0 && (size_t)tn <= sizeof row->totp) {
            memcpy(row->totp, t, (size_t)tn);
            row->totp_len = (size_t)tn;
        }
        row->role = sqlite3_column_int(k->auth, 1);
        row->created = sqlite3_column_int64(k->auth, 2);
        row->expires = sqlite3_column_int64(k->auth, 3);
        row->revoked = sqlite3_column_int(k->auth, 4);
        row->rate = (uint32_t)sqlite3_column_int64(k->auth, 5);
    } else if (rc == MS_E_IO) {
        db_fail(k, err, "lookup");
    }
    sqlite3_reset(k->auth);
    return rc;
}

static ms_rc sq_totp_claim(void *b, const char *id, uint64_t step, ms_err *err)
{
    struct ks_sqlite *k = b;
    sqlite3_stmt *st = NULL;
    /* RETURNING tells whether this statement changed the row; sqlite3_changes() would be shared
     * with writes other threads make on the same connection. */
    if (sqlite3_prepare_v2(k->db,
                           "UPDATE keys SET totp_step = ?2 WHERE id = ?1 AND role = ?3 AND "
                           "totp_step < ?2 RETURNING totp_step",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(k, err, "prepare TOTP step");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)step);
    sqlite3_bind_int(st, 3, (int)GW_ROLE_ADMIN);
    int r = sqlite3_step(st), won = r == SQLITE_ROW;
    if (won) /* run the statement to its end, which commits the change */
        r = sqlite3_step(st);
    ms_rc rc = MS_OK;
    if (r != SQLITE_DONE)
        rc = db_fail(k, err, "TOTP step");
    else if (!won)
        rc = ms_fail(err, MS_E_AUTH, "TOTP code already used");
    sqlite3_finalize(st);
    return rc;
}

/* Caller (keystore.c) holds its lock. */
static int sq_changed(void *b)
{
    struct ks_sqlite *k = b;
    struct stat st;
    struct file_sig now;
    memset(&now, 0, sizeof now);
    if (stat(k->path, &st) == 0) {
        now.dev = st.st_dev;
        now.ino = st.st_ino;
        now.size = st.st_size;
        now.mtim = st.st_mtim;
    }
    if (memcmp(&now, &k->sig, sizeof now) == 0)
        return 0;
    k->sig = now;
    return 1;
}

const gw_ks_be gw__ks_sqlite = {
    .name = "sqlite",
    .cache_age_s = 5,
    .insert = sq_insert,
    .revoke = sq_revoke,
    .list = sq_list,
    .fetch = sq_fetch,
    .totp_claim = sq_totp_claim,
    .changed = sq_changed,
    .publish_head = NULL,
    .heads = NULL,
    .close = sq_close,
};

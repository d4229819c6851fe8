/*
 * The key store's backend seam (internal to src/gateway): keystore.c owns the token hashing, the
 * TOTP sealing, the checks and the row cache; a backend only stores and fetches rows. Two
 * backends: SQLite in STATE/keys.sqlite (keystore_sqlite.c, the default) and PostgreSQL through
 * libpq (keystore_pg.c, `--state-db postgresql://...`), which several replicas share.
 * Trusts: the operator's database. Owns: nothing (see each backend).
 */
#ifndef MEDSEAL_GATEWAY_KEYSTORE_BE_H
#define MEDSEAL_GATEWAY_KEYSTORE_BE_H

#include <stddef.h>
#include <stdint.h>

#include "medseal/gateway.h"

#define GW_KS_TOTP_MAX 64 /* the stored TOTP column: sealed (52 bytes) or 20 plain bytes */

/* One key row as stored. */
typedef struct gw_ks_row {
    uint8_t hash[32];
    int hash_ok; /* 0: the stored hash was malformed (the row never authenticates) */
    uint8_t totp[GW_KS_TOTP_MAX];
    size_t totp_len;
    int role;
    int64_t created, expires;
    int revoked;
    uint32_t rate;
} gw_ks_row;

typedef struct gw_ks_be {
    const char *name;  /* "sqlite", "postgresql" */
    int cache_age_s;   /* how long keystore.c may serve a cached row */
    ms_rc (*insert)(void *b, const char *id, const gw_ks_row *row, ms_err *err);
    /* MS_E_NOTFOUND when no such id */
    ms_rc (*revoke)(void *b, const char *id, ms_err *err);
    ms_rc (*list)(void *b, void (*fn)(void *ud, const gw_key_info *k), void *ud, ms_err *err);
    /* MS_E_NOTFOUND when no such id, MS_E_IO on a database error */
    ms_rc (*fetch)(void *b, const char *id, gw_ks_row *row, ms_err *err);
    /* the conditional UPDATE of gw_keystore_totp_claim: MS_E_AUTH when not greater */
    ms_rc (*totp_claim)(void *b, const char *id, uint64_t step, ms_err *err);
    /* 1 when rows may have changed since the last call (the cache is then dropped) */
    int (*changed)(void *b);
    /* audit tree-head witness (PostgreSQL only; NULL in SQLite) */
    ms_rc (*publish_head)(void *b, const gw_tree_head *h, ms_err *err);
    ms_rc (*heads)(void *b, gw_head_fn fn, void *ud, ms_err *err);
    void (*close)(void *b);
} gw_ks_be;

extern const gw_ks_be gw__ks_sqlite;
extern const gw_ks_be gw__ks_pg;
ms_rc gw__ks_sqlite_open(const char *state_dir, void **out, ms_err *err);
ms_rc gw__ks_pg_open(const char *url, void **out, ms_err *err);

#endif

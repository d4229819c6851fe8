/*
 * medseal gateway (prefix gw_): the confidential HTTPS server behind `medseal serve`, its
 * OpenAI-compatible API, API keys and roles (`medseal keys`), and the pure parsers it is built from
 * (chat request JSON, multipart/related STOW-RS bodies, upstream SSE lines, RFC 6238 TOTP), exposed
 * here so that tests and fuzz targets reach them without the network.
 *
 * Trusts: nothing that arrives over the network; the configuration and state folder are the
 * operator's. Owns: the server, its key store connection, the in-memory study store and every
 * request body (held in ms_buf memory from the server's allocator, wiped when the request ends).
 * Thread safety: gw_server_* run their own threads; the parsers are reentrant.
 */
#ifndef MEDSEAL_GATEWAY_H
#define MEDSEAL_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "medseal/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- roles and the key store ---------------------------------------------------------------- */

typedef enum gw_role {
    GW_ROLE_NONE = 0,
    GW_ROLE_CLINICIAN,  /* analyst and upstream models, answers re-identified */
    GW_ROLE_RESEARCHER, /* the same, answers stay de-identified */
    GW_ROLE_AUDITOR,    /* audit export and metrics only */
    GW_ROLE_ADMIN,      /* key management over the API; every request needs a TOTP code */
} gw_role;

/* "clinician", ...; "none" for GW_ROLE_NONE. */
const char *gw_role_name(gw_role r);
/* Parses a role name; GW_ROLE_NONE when unknown. */
gw_role gw_role_parse(const char *s);

typedef struct gw_keystore gw_keystore;

/* Opens (creating when absent, mode 0600) `<state_dir>/keys.sqlite`. OUT: *out, owned. */
ms_rc gw_keystore_open(const char *state_dir, gw_keystore **out, ms_err *err);
/* Opens the key store in PostgreSQL when `db_url` is set (a libpq URI, "postgresql://..." or
 * "postgres://...": host, port, dbname, user, sslmode, sslrootcert ...), creating or migrating
 * its versioned schema; else as gw_keystore_open. Several processes (replicas) may share one
 * database: a revocation reaches all of them within 1 s (LISTEN/NOTIFY, and no cached row is
 * older than 1 s), and a TOTP step is claimed atomically in the database. OUT: *out, owned. */
ms_rc gw_keystore_open_db(const char *state_dir, const char *db_url, gw_keystore **out,
                          ms_err *err);
void gw_keystore_close(gw_keystore *ks);
/* "sqlite" or "postgresql". */
const char *gw_keystore_backend(const gw_keystore *ks);

/* A replica's signed audit tree head, published to the shared database as a witness that the
 * replica's own disk cannot rewrite (PostgreSQL only). `pubkey_hex` is the log's Ed25519 key
 * (audit/sign.pub), which names the log; `replica` the replica_id that wrote it. */
typedef struct gw_tree_head {
    char replica[64];
    char pubkey_hex[65];
    uint64_t size, time_ns;
    uint8_t root[32], sig[64];
} gw_tree_head;
/* Called once per head, by log (pubkey) then size; non-zero stops. */
typedef int (*gw_head_fn)(void *ud, const gw_tree_head *h);
/* Stores a head (idempotent). MS_E_UNSUPPORTED on SQLite. Thread-safe. */
ms_rc gw_keystore_publish_head(gw_keystore *ks, const gw_tree_head *h, ms_err *err);
/* Every published head. MS_E_UNSUPPORTED on SQLite. */
ms_rc gw_keystore_heads(gw_keystore *ks, gw_head_fn fn, void *ud, ms_err *err);

#define GW_KEY_ID_LEN   12 /* hex characters of the public key id */
#define GW_KEY_TEXT_MAX 80 /* "msk_<id>_<secret>" + NUL */
#define GW_TOTP_B32_MAX 64 /* base32 of a 20-byte TOTP secret + NUL */

/* A new key: `text` is the bearer token, shown once and never stored (only its HMAC is). */
typedef struct gw_new_key {
    char id[GW_KEY_ID_LEN + 1];
    char text[GW_KEY_TEXT_MAX];
    char totp_b32[GW_TOTP_B32_MAX]; /* admin keys only, else "" */
} gw_new_key;

/* Creates a key for `role`; expires_at is a Unix time (0 = never); rate_rpm requests per minute
 * (0 = the server default). OUT: *out (wipe it after printing). */
ms_rc gw_keystore_create(gw_keystore *ks, gw_role role, int64_t expires_at, uint32_t rate_rpm,
                         gw_new_key *out, ms_err *err);
/* Marks a key revoked. MS_E_NOTFOUND when no such id. */
ms_rc gw_keystore_revoke(gw_keystore *ks, const char *id, ms_err *err);

typedef struct gw_key_info {
    char id[GW_KEY_ID_LEN + 1];
    gw_role role;
    int64_t created_at;
    int64_t expires_at; /* 0 = never */
    int revoked;
    uint32_t rate_rpm;
} gw_key_info;

/* Calls fn for every key (no secrets), oldest first. */
ms_rc gw_keystore_list(gw_keystore *ks, void (*fn)(void *ud, const gw_key_info *k), void *ud,
                       ms_err *err);
/* Authenticates a bearer token at time `now`: MS_E_AUTH when unknown, wrong, revoked or expired
 * (one message for all, so a caller cannot tell which). OUT: *info; when totp != NULL and the key
 * is an admin key, its 20-byte TOTP secret (wipe after use). Thread-safe. */
ms_rc gw_keystore_auth(gw_keystore *ks, const char *token, size_t token_len, int64_t now,
                       gw_key_info *info, uint8_t totp[20], ms_err *err);
/* Records that the admin key `id` used the TOTP code of time step `step`, only when `step` is
 * greater than the last step recorded for it (a single conditional UPDATE, so two requests or
 * two processes racing with one code cannot both win). MS_E_AUTH when the step was not greater
 * (a replayed or older code), MS_E_IO on a database error. The step is kept in keys.sqlite, so a
 * restart does not make a used code valid again. Thread-safe. */
ms_rc gw_keystore_totp_claim(gw_keystore *ks, const char *id, uint64_t step, ms_err *err);

/* ---- RFC 6238 TOTP -------------------------------------------------------------------------- */

typedef enum gw_totp_hash { GW_TOTP_SHA1, GW_TOTP_SHA256, GW_TOTP_SHA512 } gw_totp_hash;

/* The TOTP value at Unix time t (RFC 6238: T0 = 0, step seconds, `digits` 6..8). */
ms_rc gw_totp(const uint8_t *secret, size_t secret_len, gw_totp_hash h, uint64_t t, unsigned step,
              unsigned digits, uint32_t *code, ms_err *err);
/* Checks a 6-digit SHA-1 / 30 s code at time `now`, accepting one step of clock skew either way.
 * Constant-time in the code. Returns 1 when valid. */
int gw_totp_check(const uint8_t secret[20], const char *code, size_t code_len, uint64_t now);
/* The same check; on success also the time step (t / 30) the code belongs to, so the caller can
 * refuse a code whose step is not after the last one accepted (RFC 6238 section 5.2). */
int gw_totp_match(const uint8_t secret[20], const char *code, size_t code_len, uint64_t now,
                  uint64_t *step);
/* RFC 4648 base32 without padding. out must hold 8*ceil(n/5)+1 bytes. */
void gw_base32(const uint8_t *in, size_t n, char *out);

/* ---- the chat request parser (fuzzed) ------------------------------------------------------- */

#define GW_MAX_MESSAGES 512
#define GW_MAX_PARTS    64

typedef enum gw_fmt { GW_FMT_TEXT = 0, GW_FMT_JSON_OBJECT, GW_FMT_JSON_SCHEMA } gw_fmt;

/* Facts about a validated POST /v1/chat/completions body. On a validation failure, err names the
 * offending parameter (OpenAI's `param`) in param, never a value. */
typedef struct gw_chat_info {
    char model[128];
    int stream;
    int include_usage;
    gw_fmt format;
    int64_t max_tokens; /* max_completion_tokens or max_tokens; -1 when absent */
    size_t n_messages;
    size_t n_files; /* file content parts (DICOM) */
    char param[64]; /* on error: e.g. "messages[2].content" */
} gw_chat_info;

/* Parses and validates a chat request body (JSON text of len bytes). OUT: *info (param filled on
 * MS_E_FORMAT / MS_E_LIMIT too). When root != NULL, *root receives the parsed document (a
 * jansson json_t*, owned: json_decref). */
ms_rc gw_chat_parse(const uint8_t *body, size_t len, gw_chat_info *info, void **root, ms_err *err);

/* ---- multipart/related (STOW-RS) parser (fuzzed) -------------------------------------------- */

#define GW_MAX_STOW_PARTS 4096

typedef struct gw_part {
    ms_slice content_type; /* borrowed from the body; may be empty */
    ms_slice data;         /* borrowed from the body */
} gw_part;

/* Extracts the boundary parameter of a multipart Content-Type header (quoted or not) into
 * out[outlen]. MS_E_FORMAT when absent or longer than 200 characters (RFC 2046 says 70; real
 * senders exceed it). */
ms_rc gw_multipart_boundary(const char *content_type, char *out, size_t outlen, ms_err *err);
/* Splits body into parts (RFC 2046 §5.1.1); calls fn for each; stops at the close delimiter.
 * MS_E_FORMAT for a missing delimiter or header block, MS_E_LIMIT past GW_MAX_STOW_PARTS.
 * (gw_mp fed the whole body at once.) */
ms_rc gw_multipart_parse(const uint8_t *body, size_t len, const char *boundary,
                         ms_rc (*fn)(void *ud, const gw_part *p, ms_err *err), void *ud,
                         ms_err *err);

/* The same parser, incremental: feed the body in pieces of any size as it arrives; fn gets each
 * part whole as soon as its closing delimiter is in (the part borrows from the parser's buffer
 * for the call only). Memory: the current part plus a delimiter's length (the preamble and the
 * epilogue are dropped as they come), so a STOW-RS body is never held whole. max_part (0: none)
 * bounds one part (MS_E_LIMIT). After an error every call returns it again. */
#define GW_MP_MAX_HEADERS 16384 /* bytes of one part's header block */
typedef struct gw_mp {
    char b[201];
    size_t blen, max_part;
    ms_rc (*fn)(void *ud, const gw_part *p, ms_err *err);
    void *ud;
    int state;
    ms_rc rc;
    ms_buf buf;  /* unresolved bytes from buf.p + head */
    ms_buf ct;   /* the current part's Content-Type */
    size_t head; /* resolved bytes at the front of buf */
    size_t scan; /* where the next search in [head, len) starts */
    size_t off;  /* body offset of buf.p + head */
    size_t count;
} gw_mp;
void gw_mp_init(gw_mp *m, ms_alloc *alloc, const char *boundary, size_t max_part,
                ms_rc (*fn)(void *ud, const gw_part *p, ms_err *err), void *ud);
ms_rc gw_mp_feed(gw_mp *m, const uint8_t *p, size_t n, ms_err *err);
/* The body ended: MS_OK when the close delimiter was seen after at least one part. */
ms_rc gw_mp_finish(gw_mp *m, ms_err *err);
void gw_mp_free(gw_mp *m);

/* ---- upstream SSE normaliser (fuzzed) ------------------------------------------------------- */

/* Feeds upstream SSE bytes; emits normalised complete events to `emit` as the JSON payload of a
 * `data:` line (NUL-terminated, without "data: " or the blank line) or the literal "[DONE]".
 * Normalises: `choices: null` → [], a non-standard `error:` field → a {"error":...} event,
 * comments and unknown fields dropped, CRLF and LF. Buffers at most max_line bytes of one line. */
typedef struct gw_sse {
    ms_buf line;
    ms_buf data;
    int done;
} gw_sse;
void gw_sse_init(gw_sse *s, ms_alloc *alloc, size_t max_line);
ms_rc gw_sse_feed(gw_sse *s, const uint8_t *p, size_t n,
                  ms_rc (*emit)(void *ud, const char *json, size_t len, ms_err *err), void *ud,
                  ms_err *err);
void gw_sse_free(gw_sse *s);

/* ---- the server ----------------------------------------------------------------------------- */

/* Audit durability before an answer leaves (config key audit_sync). */
enum {
    GW_AUDIT_WRITE = 0, /* "write": the record is in the log file (survives the process dying);
                           fdatasync within ~10-20 ms, shared by everything written meanwhile */
    GW_AUDIT_FSYNC,     /* "fsync": the record is on disk (fdatasync; concurrent answers share
                           one) */
    GW_AUDIT_BATCH,     /* "batch": the record is queued in memory; written and synced every
                           ~10 ms (highest throughput; a crash loses the queue) */
};

typedef struct gw_config {
    const char *listen;            /* "127.0.0.1:8443"; port 0 picks an ephemeral port */
    const char *cert_path;         /* PEM certificate chain */
    const char *key_path;          /* PEM private key */
    const char *state_dir;         /* keys.sqlite and the audit log live here */
    const char *upstream;          /* base URL of an OpenAI-compatible upstream ("http://h:p/v1") */
    const char *upstream_key_file; /* optional bearer token for the upstream */
    const char *pseudo_key_file;   /* optional site key (medseal keygen) for surrogates */
    const char *site_lists;        /* optional folder of phi site lists (staff_names.txt,
                                      places.txt), loaded once, used for every request */
    int insecure_no_attestation;
    size_t max_body;             /* bytes of a request body (default 64 MiB) */
    size_t max_header;           /* bytes of the request line + headers (default 16 KiB) */
    unsigned max_conns;          /* total connections (default 256) */
    unsigned max_conns_per_ip;   /* (default 64) */
    unsigned request_timeout_s;  /* one request, headers to last body byte (default 60) */
    unsigned idle_timeout_s;     /* a connection with no traffic (default 30) */
    unsigned upstream_timeout_s; /* upstream request (default 120) */
    unsigned rate_rpm;           /* per-key requests/minute when the key has none (default 600) */
    unsigned study_ttl_s;        /* lifetime of an uploaded study (default 900) */
    size_t study_max_bytes;      /* all studies in memory together (default 1 GiB) */
    size_t mem_limit;            /* ceiling of the request allocator (default 4 GiB) */
    int audit_sync;              /* GW_AUDIT_*: when an answer may leave after its record
                                    was appended (default GW_AUDIT_WRITE) */
    int mem_locked;              /* 1: mem_limit bytes of locked memory reserved at start */
    const char *master_key;      /* master key spec (seal.h: file:P, env:V, fd:N) for the audit
                                    log keys and a sealed pseudo key; NULL: STATE/master.key */
    const char *state_db;        /* PostgreSQL URL for the key store and the audit tree-head
                                    witness, shared by replicas; NULL: STATE/keys.sqlite */
    const char *replica_id;      /* this replica's name in audit records, metrics, the SIEM
                                    stream and published tree heads; NULL: the host name */
    const char *audit_witness;   /* a second copy of each signed tree head (audit_opts) */
    const char *proxy_protocol_from; /* "CIDR, CIDR": the load balancers' addresses, whose
                                    connections open with a PROXY v2 header naming the
                                    client (HAProxy send-proxy-v2); NULL: none */
    size_t max_inflated;         /* a deflated DICOM's inflated bytes (0: DCM_MAX_INFLATED) */
    unsigned max_inflate_ratio;  /* inflated per compressed byte (0: DCM_MAX_INFLATE_RATIO) */
    int upstream_drop_unknown;   /* upstream_unknown_fields: 0 reject (400, default), 1 drop */
    const char *upstream_models; /* "a, b": the upstream model names served (others 404) and
                                    recorded by name in the audit log; NULL: any name served,
                                    none but the analyst's recorded by name */
    const char *dicom_listen;     /* DIMSE C-ECHO/C-STORE SCP "HOST:PORT" (NULL: none) */
    const char *dicom_ae_title;   /* our AE title (default "MEDSEAL") */
    const char *dicom_peers;      /* file: "AE HOST KEY" per line (calling AE, its IPv4 or *,
                                     the API key it acts as); mode 0600 */
    unsigned dicom_tls;           /* 1: the DICOM port speaks TLS 1.3 with cert/key */
    const char *dicom_tls_ca;     /* with dicom_tls: client certificates must verify */
    unsigned dicom_artim_s;       /* ARTIM timer (default 30) */
    unsigned dicom_idle_s;        /* idle association timer (default 60) */
    unsigned dicom_max_pdu;       /* the largest P-DATA-TF PDU taken (default 65536) */
    const char *dicom_results_to; /* "AE@host:port": C-STORE SCU target for results */
} gw_config;

/* Fills defaults (listen/paths NULL). */
void gw_config_defaults(gw_config *c);
/* Reads `key = value` lines (# comments) from a config file into c; unknown keys are an error.
 * Strings are copied into storage owned by `arena` (freed with ms_free(NULL, *arena)). */
ms_rc gw_config_load(gw_config *c, const char *path, char **arena, ms_err *err);

typedef struct gw_server gw_server;

/* Starts listening (threads run in the background). OUT: *out, owned; stop with gw_server_stop. */
ms_rc gw_server_start(const gw_config *c, gw_server **out, ms_err *err);
/* The bound TCP port (useful with port 0). */
uint16_t gw_server_port(const gw_server *s);
/* The bound DICOM (DIMSE) port, 0 when dicom_listen is not set. */
uint16_t gw_server_dicom_port(const gw_server *s);
/* The attestation mode for the startup line: a provider name or "UNATTESTED". */
const char *gw_server_attestation(const gw_server *s);
/* Graceful stop: stops accepting, lets in-flight requests finish (at most grace_s seconds), then
 * frees everything (studies wiped). NULL is a no-op. */
void gw_server_stop(gw_server *s, unsigned grace_s);

/* ---- PostgreSQL helpers (src/gateway/pg.c), shared by every --state-db postgresql:// user --- */

/* libpq's own handle types (libpq-fe.h), declared here so callers need not include it. */
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

/* Connects to url (libpq connection URI; TLS as its sslmode asks) with server notices dropped:
 * the connection, or NULL with err set to one line of libpq's message. */
PGconn *gw_pg_connect(const char *url, ms_err *err);
/* Drops the server's notices on c (again after a PQreset). */
void gw_pg_quiet(PGconn *c);
/* Runs a parameterless statement: MS_OK, or MS_E_IO with PostgreSQL's primary message. */
ms_rc gw_pg_exec(PGconn *c, const char *sql, ms_err *err, const char *what);
/* err from a failed result (PostgreSQL's primary message, never DETAIL) or from the connection. */
ms_rc gw_pg_res_fail(PGresult *r, PGconn *c, ms_err *err, const char *what);
ms_rc gw_pg_conn_fail(PGconn *c, ms_err *err, const char *what);
/* An int4/int8 column of a binary-format result; 0 when NULL or of another width. */
int64_t gw_pg_int(const PGresult *r, int row, int col);
/* Creates or migrates a component's schema: its version lives in `table` (one row), migrations
 * [version, n) run in order in one transaction under pg_advisory_xact_lock(lock) (a decimal
 * literal). A version above n is refused (MS_E_UNSUPPORTED). */
ms_rc gw_pg_migrate(PGconn *c, const char *table, const char *lock, const char *const *migrations,
                    int n, ms_err *err);

#ifdef __cplusplus
}
#endif
#endif

/*
 * Internals of src/audit shared by its files (and the tests and fuzz target): the on-disk record
 * format, the crypto contexts, the Merkle frontier, the segment scanner and the key files.
 * Trusts: nothing read from disk (every parser goes through ms_rd). Owns: nothing global.
 *
 * Segment file  "seg-<first seq, 20 digits>.log":  "MSAUDSG1" | u64le first_seq | records...
 * Record (little-endian), HDR = 64 bytes, then body, then 32-byte MAC:
 *   0 u32 len (whole record)   4 u8 kind   5 u8 version (1)   6 u16 flags (0)
 *   8 u64 seq   16 u64 time_ns   24 u32 epoch   28 prev_hash[32]   60 u32 body_len
 *   64 body[body_len]   64+body_len mac[32] = HMAC-SHA-256(key_epoch, digest)
 * digest = SHA-256(bytes [0, 64+body_len)), i.e. the record without its MAC;
 * Merkle leaf input = digest || mac, leaf hash (RFC 9162) = SHA-256(0x00 || digest || mac); the
 * next record's prev_hash is that leaf hash. (Hashing the record once and MACing and committing
 * to its digest costs ~30% fewer SHA-256 blocks than MACing and hashing the whole record twice.)
 * Bodies: EVENT nonce[12] | AES-256-GCM(payload JSON) | tag[16], AAD = the 64 header bytes;
 *         TREE_HEAD u64le size | u64le time_ns | root[32] | Ed25519 sig[64];
 *         EPOCH u32le epoch | u64le start_ns;  TRUNCATE u64le removed_bytes | u64le at_seq.
 */
#ifndef MEDSEAL_AUDIT_INTERNAL_H
#define MEDSEAL_AUDIT_INTERNAL_H

/* The low-level SHA256_* functions are deprecated in OpenSSL 3 but are 2-3x faster than EVP for
 * the short inputs hashed per record (no provider dispatch; an HMAC state is a struct copy), which
 * is what makes 500k records/s verification possible; they remain in OpenSSL 3.x. */
#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>

#include "medseal/audit.h"
#include "medseal/core.h"

#define AUDIT_SEG_MAGIC    "MSAUDSG1"
#define AUDIT_SEG_HDR      16
#define AUDIT_REC_HDR      64
#define AUDIT_MAC_LEN      32
#define AUDIT_REC_MIN      (AUDIT_REC_HDR + AUDIT_MAC_LEN)
#define AUDIT_REC_MAX      65536 /* an event payload is < 8 KiB: 12 fields of 128 B + 32 classes */
#define AUDIT_NONCE        12
#define AUDIT_TAG          16
#define AUDIT_STH_BODY     112
#define AUDIT_EPOCH_BODY   12
#define AUDIT_TRUNC_BODY   16
#define AUDIT_SEG_NAME_MAX 64
#define AUDIT_MAX_SEGMENTS 1000000

enum audit_kind {
    AUDIT_K_EVENT = 1,
    AUDIT_K_TREE_HEAD = 2,
    AUDIT_K_EPOCH = 3,
    AUDIT_K_TRUNCATE = 4,
};

/* A parsed record; every pointer borrows from the segment buffer. */
typedef struct audit__rec {
    const uint8_t *raw; /* the whole record */
    uint32_t len;
    uint8_t kind;
    uint64_t seq;
    uint64_t time_ns;
    uint32_t epoch;
    const uint8_t *prev;
    const uint8_t *body;
    uint32_t body_len;
    const uint8_t *mac;
} audit__rec;

/* Parses one record at r. MS_E_TRUNC when the input ends inside it (a torn tail), MS_E_FORMAT
 * when malformed; r advances only on success. */
ms_rc audit__rec_parse(ms_rd *r, audit__rec *out, ms_err *err);
const char *audit__kind_name(uint8_t kind);

/* ---- crypto --------------------------------------------------------------------------------- */

typedef struct audit__sha {
    SHA256_CTX c;
    int ready;
} audit__sha;
ms_rc audit__sha_init(audit__sha *s, ms_err *err);
void audit__sha_free(audit__sha *s);
void audit__sha_leaf(audit__sha *s, const uint8_t *d, size_t n, uint8_t out[32]);
void audit__sha_node(audit__sha *s, const uint8_t l[32], const uint8_t r[32], uint8_t out[32]);
/* SHA-256 of a record without its MAC (n = len - AUDIT_MAC_LEN). */
void audit__rec_digest(audit__sha *s, const uint8_t *raw, size_t n, uint8_t d[32]);
/* Leaf hash from a record's digest and MAC. */
void audit__rec_leaf_of(audit__sha *s, const uint8_t d[32], const uint8_t mac[32], uint8_t out[32]);
/* Leaf hash of a whole record (digest, then leaf). */
void audit__rec_leaf(audit__sha *s, const uint8_t *raw, size_t len, uint8_t out[32]);

/* HMAC-SHA-256 with the pads precomputed (one key, many messages): core's ms_hmac_pre. */
typedef struct audit__hmac {
    ms_hmac_pre pre;
} audit__hmac;
ms_rc audit__hmac_init(audit__hmac *h, audit__sha *sha, ms_err *err);
void audit__hmac_free(audit__hmac *h);
ms_rc audit__hmac_key(audit__hmac *h, const uint8_t key[32], ms_err *err);
void audit__hmac_mac(audit__hmac *h, const uint8_t *d, size_t n, uint8_t out[32]);

/* key_{e+1} = HKDF-SHA-256(salt "medseal-audit-epoch", ikm key_e, info u32be(e+1)). */
ms_rc audit__epoch_next(const uint8_t key[32], uint32_t next_epoch, uint8_t out[32], ms_err *err);

/* AES-256-GCM with one key. */
typedef struct audit__gcm {
    EVP_CIPHER_CTX *enc, *dec;
} audit__gcm;
ms_rc audit__gcm_init(audit__gcm *g, const uint8_t key[32], ms_err *err);
void audit__gcm_free(audit__gcm *g);
/* out gets n + AUDIT_TAG bytes. */
ms_rc audit__gcm_seal(audit__gcm *g, const uint8_t nonce[AUDIT_NONCE], const uint8_t *aad,
                      size_t aad_len, const uint8_t *in, size_t n, uint8_t *out, ms_err *err);
/* in holds n bytes of ciphertext then the tag; out gets n bytes. */
ms_rc audit__gcm_open(audit__gcm *g, const uint8_t nonce[AUDIT_NONCE], const uint8_t *aad,
                      size_t aad_len, const uint8_t *in, size_t n, uint8_t *out, ms_err *err);

/* Ed25519 over "medseal-audit-sth-v1\0" | u64be size | u64be time | root. */
ms_rc audit__sth_sign(EVP_PKEY *key, uint64_t size, uint64_t time_ns, const uint8_t root[32],
                      uint8_t sig[64], ms_err *err);
int audit__sth_verify(const uint8_t pub[32], uint64_t size, uint64_t time_ns,
                      const uint8_t root[32], const uint8_t sig[64]);
ms_rc audit__ed25519_from_seed(const uint8_t seed[32], EVP_PKEY **out, uint8_t pub[32],
                               ms_err *err);

/* ---- Merkle (RFC 9162) ---------------------------------------------------------------------- */

/* The compact range of a growing tree: one subtree root per set bit of n. */
typedef struct audit__frontier {
    uint64_t n;
    uint8_t h[64][32];
} audit__frontier;
void audit__frontier_add(audit__frontier *f, audit__sha *s, const uint8_t leaf[32]);
/* MTH of the n leaves added so far (SHA-256("") for n = 0). */
void audit__frontier_root(const audit__frontier *f, audit__sha *s, uint8_t out[32]);
/* MTH(D[lo:hi]) over an array of leaf hashes. */
void audit__mth(audit__sha *s, const uint8_t (*leaves)[32], uint64_t lo, uint64_t hi,
                uint8_t out[32]);
/* PATH(m, D[0:n]) into path (at most 64 entries); returns the count. */
size_t audit__inclusion_path(audit__sha *s, const uint8_t (*leaves)[32], uint64_t m, uint64_t n,
                             uint8_t (*path)[32]);
/* PROOF(m, D[0:n]) (at most 128 entries); returns the count. */
size_t audit__consistency_proof(audit__sha *s, const uint8_t (*leaves)[32], uint64_t m, uint64_t n,
                                uint8_t (*proof)[32]);

/* ---- segments ---------------------------------------------------------------------------------
 */

typedef struct audit__segment {
    char name[AUDIT_SEG_NAME_MAX];
    uint64_t first_seq;
    ms_map map;
} audit__segment;

typedef struct audit__segments {
    audit__segment *v;
    size_t n;
} audit__segments;

/* Lists and maps dir/seg-*.log in sequence order. */
ms_rc audit__segments_open(const char *dir, audit__segments *out, ms_err *err);
void audit__segments_close(audit__segments *s);
void audit__seg_name(uint64_t first_seq, char out[AUDIT_SEG_NAME_MAX]);
/* Checks a segment header; MS_E_TRUNC if shorter than one. */
ms_rc audit__seg_header(const uint8_t *p, size_t n, uint64_t *first_seq, ms_err *err);

/* Walks the records of mapped segments in order. audit__cursor_next gives MS_OK and a record,
 * MS_E_NOTFOUND at the end, or MS_E_TRUNC / MS_E_FORMAT with si/off left at the bad spot. */
typedef struct audit__cursor {
    const audit__segment *segs;
    size_t n;
    size_t si;  /* segment index */
    size_t off; /* byte offset in it of the next record (0: header not read yet) */
} audit__cursor;
ms_rc audit__cursor_next(audit__cursor *c, audit__rec *rec, ms_err *err);

/* What a structural scan found (used by open, prove and export). */
typedef struct audit__scan_sth {
    uint64_t seq, size, time_ns;
    uint8_t root[32], sig[64];
} audit__scan_sth;

/* ---- verification core (shared by audit_verify and the fuzz target) -------------------------- */

typedef struct audit__verifier audit__verifier;
typedef struct audit__vin {
    const uint8_t *pub;         /* 32 bytes */
    const uint8_t *initial_key; /* NULL: MACs not checked */
    uint64_t min_size;
    const audit__scan_sth *latest; /* a signed head known from elsewhere (sth.latest), or NULL */
} audit__vin;
ms_rc audit__verify_segments(const audit__segment *segs, size_t n, const audit__vin *in,
                             audit_verify_report *rep, ms_err *err);

/* Collects every leaf hash (owned, ms_free) and the signed tree heads (owned) of a directory. */
ms_rc audit__collect(const char *dir, uint8_t (**leaves)[32], uint64_t *n_leaves,
                     audit__scan_sth **sths, size_t *n_sths, ms_err *err);

/* ---- key files in the audit directory ------------------------------------------------------- */

#define AUDIT_LABEL_LOG_KEY   "audit-log-key"
#define AUDIT_LABEL_SIGN_KEY  "audit-sign-key"
#define AUDIT_LABEL_MAC_STATE "audit-mac-state"

typedef struct audit__mac_state {
    uint32_t epoch;
    uint64_t start_ns;
    uint8_t key[32];
} audit__mac_state;

char *audit__path(const char *dir, const char *name); /* owned (ms_free) or NULL */
ms_rc audit__keys_create(const char *dir, const uint8_t master[MS_KEY_LEN], ms_err *err);
ms_rc audit__sealed_read(const char *dir, const char *name, const uint8_t master[MS_KEY_LEN],
                         const char *label, uint8_t *out, size_t n, ms_err *err);
ms_rc audit__mac_state_read(const char *dir, const uint8_t master[MS_KEY_LEN], audit__mac_state *st,
                            ms_err *err);
ms_rc audit__mac_state_write(const char *dir, const uint8_t master[MS_KEY_LEN],
                             const audit__mac_state *st, ms_err *err);
/* sth.latest: u64le seq | body of the tree head record (112 bytes). */
ms_rc audit__sth_latest_write(const char *dir, const audit__scan_sth *s, ms_err *err);
ms_rc audit__sth_latest_read(const char *dir, audit__scan_sth *s, ms_err *err);
/* The same format at any path (the audit_witness copy). */
ms_rc audit__sth_write_path(const char *path, const audit__scan_sth *s, ms_err *err);
ms_rc audit__sth_read_path(const char *path, audit__scan_sth *s, ms_err *err);
/* The head witness check, for any place a signed head was published (sth.latest, the witness
 * file, later a database): `known` is the published head, `found` the log's own tree head
 * record at known->seq (NULL when the log has none there), `n_records` the intact records the
 * log holds. MS_E_VERIFY, naming `source` and the counts (never contents), when the log no
 * longer holds what the head covered. */
ms_rc audit__head_check(const audit__scan_sth *known, const audit__scan_sth *found,
                        uint64_t n_records, const char *source, ms_err *err);
/* Resolves STATE or an audit dir copy: returns owned path of the directory holding segments. */
char *audit__dir_resolve(const char *path);

/* ---- payloads ------------------------------------------------------------------------------- */

/* Validates a record and writes its payload JSON (one object) to out[0..cap); OUT: *len. */
#define AUDIT_PAYLOAD_MAX 8192
ms_rc audit__payload_json(const audit_record *rec, uint8_t *out, size_t cap, size_t *len,
                          ms_err *err);
/* Appends one export line for a parsed record (decrypting with gcm when it is an event). */
ms_rc audit__export_line(const audit__rec *r, const uint8_t leaf[32], audit__gcm *gcm, ms_buf *out,
                         ms_err *err);

uint64_t audit__now_ns(void);

/* ---- SIEM shipper -----------------------------------------------------------------------------
 */

typedef struct audit__siem audit__siem;
ms_rc audit__siem_start(const audit_opts *o, audit__siem **out, ms_err *err);
/* Queues one message (never blocks; drops the oldest when full). */
void audit__siem_push(audit__siem *s, uint64_t seq, uint64_t time_ns, const uint8_t hash[32],
                      const char *action, const char *outcome);
void audit__siem_stop(audit__siem *s, unsigned wait_ms);
void audit__siem_stats(audit__siem *s, uint64_t *sent, uint64_t *dropped, uint64_t *queued);

#endif

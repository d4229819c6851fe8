/*
 * medseal audit (prefix audit_): the tamper-evident, encrypted audit log.
 *
 * One record per access event (API request, key management action, CLI de-id/analyze run, server
 * start/stop, failed authentication). Records go to append-only segment files under
 * STATE/audit/; each carries its sequence number and the hash of the previous record, and is
 * MACed (HMAC-SHA-256) with a forward-secure key: key_{e+1} = HKDF(key_e), the old key wiped, a new
 * epoch every N records or T seconds, each epoch opened by an epoch record. Every record is a leaf
 * of an RFC 9162 Merkle tree (leaf index == sequence number); Ed25519-signed tree heads are written
 * into the log every N records / T seconds and on close. Event payloads are AES-256-GCM encrypted
 * under a log key kept sealed (ms_seal) under the master key. Format and threat model:
 * README.md.
 *
 * A record never holds a PHI value: every string field is checked against a narrow token alphabet
 * ([A-Za-z0-9._:/+=-], at most AUDIT_FIELD_MAX bytes), the patient is only ever a keyed pseudonym
 * (ms_pseudo_patient's "MS-" + 16 base32 form), and the evidence hash is 64 hex characters.
 * audit_log_append refuses anything else with MS_E_INVAL.
 *
 * Trusts: the master key's provider and the state dir's permissions while writing; a verifier
 * trusts only the public key and (optionally) the initial MAC key it is given.
 * Owns: the audit_log handle and everything under STATE/audit/.
 */
#ifndef MEDSEAL_AUDIT_H
#define MEDSEAL_AUDIT_H

#include <stdint.h>

#include "medseal/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AUDIT_FIELD_MAX       128 /* bytes of any string field */
#define AUDIT_PHI_CLASSES_MAX 32
#define AUDIT_HASH_LEN        32

/* ---- records ----------------------------------------------------------------------------------
 */

/* Entities of one PHI class found/replaced (a count, never the values). */
typedef struct audit_phi_count {
    const char *cls; /* e.g. "NAME", "DATE", "MRN" (token alphabet) */
    uint64_t count;
} audit_phi_count;

/* One access event. Every pointer is borrowed for the duration of audit_log_append and may be
 * NULL (omitted). `time_ns` 0 means "now". Strings must use the token alphabet above. */
typedef struct audit_record {
    uint64_t time_ns;           /* unix time in ns; 0: now (CLOCK_REALTIME) */
    const char *request_id;     /* e.g. "req-7f3a..." */
    const char *key_id;         /* API key id (never the key) */
    const char *role;           /* "clinician", "researcher", "auditor", "admin", "cli" */
    const char *action;         /* required, e.g. "chat.completion", "key.create", "auth.fail",
                                   "server.start", "server.stop", "cli.deid", "cli.analyze" */
    const char *route;          /* e.g. "/v1/chat/completions" */
    const char *model;          /* upstream model name */
    const char *outcome;        /* "ok", "denied", "error", "blocked" ... */
    int status;                 /* HTTP status or exit status; 0 = none */
    uint64_t bytes_in;          /* request bytes */
    uint64_t bytes_out;         /* response bytes */
    const audit_phi_count *phi; /* PHI entity counts by class */
    size_t n_phi;               /* <= AUDIT_PHI_CLASSES_MAX */
    uint64_t t_total_us;        /* timings in microseconds; 0 = not measured */
    uint64_t t_phi_us;          /* PHI detection / de-identification */
    uint64_t t_upstream_us;     /* upstream model call */
    const char *patient;        /* keyed pseudonym "MS-XXXXXXXXXXXXXXXX" (ms_pseudo_patient) */
    const char *evidence_hash;  /* 64 hex: attestation evidence hash of the serving instance */
    const char *replica_id;     /* the serving replica (gateway --replica-id, default host name) */
} audit_record;

/* ---- the writer -------------------------------------------------------------------------------
 */

typedef enum audit_sync {
    AUDIT_SYNC_EACH = 0, /* append returns once the record is on disk (fdatasync); concurrent
                            appenders share one fsync (group commit) */
    AUDIT_SYNC_BATCH,    /* append returns once the record is buffered; a batch is written and
                            fsynced every batch_records records or batch_ms milliseconds, and by
                            audit_log_flush; acknowledged = seq < audit_log_durable() */
    AUDIT_SYNC_WRITE,    /* append returns once the record is written to the file (write(2)):
                            it survives the process dying at any moment (kill -9, a crash, the
                            OOM killer); fdatasync follows within batch_ms milliseconds (or
                            batch_records records), so a power cut or kernel crash can lose
                            those last milliseconds; durable = seq < audit_log_durable() */
} audit_sync;

/* A signed tree head as the writer publishes it (sth.latest, audit_witness, head_fn): it covers
 * records [0, size), and the tree head record itself has seq == size. `pub` is the log's Ed25519
 * public key (audit/sign.pub), which names the log. The signature is Ed25519 over
 * "medseal-audit-sth-v1\0" | u64be size | u64be time_ns | root. */
typedef struct audit_head {
    uint64_t size, time_ns;
    uint8_t root[AUDIT_HASH_LEN], sig[64], pub[32];
} audit_head;
/* Called once for every tree head once it is durable and in sth.latest (and at open, again, for
 * the log's last head), in order, with the log's lock held: it must not block or call back into
 * the log (copy the head and hand it to another thread, as the gateway does). */
typedef void (*audit_head_fn)(void *ud, const audit_head *h);

/* Options; zero-initialise, then set what you need (0 = the default in brackets). */
typedef struct audit_opts {
    uint32_t epoch_records; /* new MAC epoch every N records [10000] */
    uint32_t epoch_seconds; /* ... or every T seconds [600] */
    uint32_t sth_records;   /* signed tree head every N records [10000] */
    uint32_t sth_seconds;   /* ... or every T seconds, if records were added [60] */
    audit_sync sync;        /* [AUDIT_SYNC_EACH] */
    uint32_t batch_records; /* AUDIT_SYNC_BATCH, _WRITE: records per fsync [1024] */
    uint32_t batch_ms;      /* AUDIT_SYNC_BATCH, _WRITE: longest wait before an fsync [10] */
    uint64_t segment_bytes; /* roll to a new segment file past this size [64 MiB] */
    /* A second copy of every published signed tree head (the bytes of sth.latest), ideally on
     * another disk or a mount the log's owner cannot rewrite. On open, the log must still hold
     * every record that the newer of sth.latest and this copy covers (with the same root), or
     * the open is refused (MS_E_VERIFY) before anything is written. NULL: sth.latest only. */
    const char *witness_path;
    audit_head_fn head_fn; /* NULL: none (the gateway publishes heads to PostgreSQL) */
    void *head_ud;
    /* SIEM shipping (optional): RFC 5424 over TLS (RFC 5425 octet counting), metadata only. */
    const char *siem_host;        /* NULL: no shipping */
    uint16_t siem_port;           /* [6514] */
    const char *siem_ca_file;     /* PEM CA that signed the collector's certificate (required) */
    const char *siem_cert_file;   /* client certificate (PEM), optional (mutual TLS) */
    const char *siem_key_file;    /* its private key (PEM), optional */
    const char *siem_hostname;    /* HOSTNAME field [gethostname()] */
    uint32_t siem_queue_max;      /* bounded queue; beyond it the oldest is dropped and counted
                                     (the log on disk stays the source of truth) [65536] */
    uint32_t siem_backoff_max_ms; /* retry backoff cap [5000], starting at 50 ms, doubling */
} audit_opts;

typedef struct audit_log audit_log;

/* Opens (creating on first use) the audit log in STATE/audit/. On creation: a random log key
 * (sealed under master_key in audit/log.key), an Ed25519 signing key (sealed, audit/sign.key; the
 * public key as hex in audit/sign.pub) and an initial MAC key written to audit/initial.key (hex,
 * 0600): copy it and sign.pub to the auditor and delete initial.key from the host, or the forward
 * security of the MACs is void. The current MAC key and epoch are sealed in audit/mac.state.
 * On open, a torn tail (an incomplete or unreadable record at the end of the last segment, left by
 * a crash) is cut off, saved to audit/torn-<seq>.bin, and a truncation record is appended.
 * `opts` may be NULL (defaults). OUT: *out, free with audit_log_close. */
ms_rc audit_log_open(const char *state_dir, const uint8_t master_key[MS_KEY_LEN],
                     const audit_opts *opts, audit_log **out, ms_err *err);

/* Appends one event record. Thread-safe. OUT: *seq_out (may be NULL) = its sequence number, which
 * is also its Merkle leaf index. MS_E_INVAL for a field outside the token alphabet or limits
 * (nothing is written); MS_E_IO if the log cannot be written (the log then refuses further
 * appends: fail closed). */
ms_rc audit_log_append(audit_log *log, const audit_record *rec, uint64_t *seq_out, ms_err *err);

/* Writes and fsyncs everything appended so far. Thread-safe. */
ms_rc audit_log_flush(audit_log *log, ms_err *err);

/* Number of records on disk (every seq below it is durable). Thread-safe. */
uint64_t audit_log_durable(audit_log *log);

/* Writes a signed tree head now (also done every sth_records / sth_seconds). Thread-safe. */
ms_rc audit_log_checkpoint(audit_log *log, ms_err *err);

typedef struct audit_stats {
    uint64_t records;      /* records in the log (next seq) */
    uint64_t durable;      /* records on disk */
    uint32_t epoch;        /* current MAC epoch */
    uint64_t tree_heads;   /* signed tree heads written by this handle */
    uint64_t siem_sent;    /* messages the SIEM connection accepted */
    uint64_t siem_dropped; /* dropped because the queue was full */
    uint64_t siem_queued;  /* waiting */
    uint64_t torn_bytes;   /* bytes cut off at open (0: clean) */
} audit_stats;
void audit_log_stats(audit_log *log, audit_stats *out);

/* Exports records [from_seq, from_seq + max) (max 0 = all) as decrypted JSON lines to `fn` (one
 * call per line, without the newline; `line` is valid during the call only; a non-zero return
 * stops the export). Flushes first. Thread-safe. For the gateway's GET /v1/audit/... (auditor
 * role only: the lines hold metadata, never PHI, but are still confidential). */
typedef int (*audit_line_fn)(void *ud, const char *line, size_t len);
ms_rc audit_log_export(audit_log *log, uint64_t from_seq, uint64_t max, audit_line_fn fn, void *ud,
                       ms_err *err);

/* Writes a final signed tree head, flushes, stops the SIEM shipper (waiting up to 2 s for its
 * queue), wipes the keys and frees. NULL is a no-op. Returns the first error of the final
 * write (the handle is freed regardless). */
ms_rc audit_log_close(audit_log *log, ms_err *err);

/* ---- offline: keys, export, verification, proofs ----------------------------------------------
 */

/* The master key for a state dir: `spec` as ms_master_key_load ("PATH", "file:", "env:", "fd:");
 * NULL means STATE/master.key, created (0600, random) if absent. */
ms_rc audit_master_key(const char *state_dir, const char *spec, uint8_t out[MS_KEY_LEN],
                       ms_err *err);

/* As audit_log_export, on a closed log (reads STATE/audit with the master key). */
ms_rc audit_export(const char *state_dir, const uint8_t master_key[MS_KEY_LEN], uint64_t from_seq,
                   uint64_t max, audit_line_fn fn, void *ud, ms_err *err);

/* What verification found. On failure `bad_seq`/`bad_segment`/`bad_offset` locate the first bad
 * record and `problem` names it; the ms_err message says the same in one line. */
typedef enum audit_problem {
    AUDIT_OK = 0,
    AUDIT_BAD_FORMAT,    /* unparseable record or segment header */
    AUDIT_BAD_MAC,       /* MAC mismatch: record modified or forged */
    AUDIT_BAD_CHAIN,     /* previous-hash mismatch: a record before it was modified or removed */
    AUDIT_BAD_DELETED,   /* sequence gap: records missing */
    AUDIT_BAD_REORDERED, /* sequence out of order */
    AUDIT_BAD_TRUNCATED, /* fewer records than a signed tree head / the key state covers, or a
                            torn record at the end */
    AUDIT_BAD_TREE_HEAD, /* tree head signature or root mismatch */
    AUDIT_BAD_EPOCH,     /* epoch sequence broken (re-sealed with a later key) */
} audit_problem;

typedef struct audit_verify_report {
    uint64_t records;      /* records read */
    uint64_t macs_checked; /* 0 when no initial key was available */
    uint64_t tree_heads;   /* signed tree heads checked */
    uint64_t last_sth_size;
    uint32_t epochs;
    uint64_t truncations; /* truncation records (torn tails cut at restart), informational */
    audit_problem problem;
    uint64_t bad_seq;     /* sequence number (or expected one) of the first bad record */
    char bad_segment[64]; /* segment file name */
    uint64_t bad_offset;  /* byte offset in that segment */
} audit_verify_report;

/* Verifies an audit directory (STATE/audit, or an auditor's copy of it): segment structure, the
 * sequence and hash chain, epochs, MACs (when initial_key is given), and every signed tree head
 * against the Merkle root recomputed from the records and `pubkey` (32-byte Ed25519). Returns MS_OK
 * when intact, MS_E_VERIFY naming the first bad record, other codes for I/O. `min_size` > 0 also
 * requires at least that many records (a size known from an exported tree head). */
ms_rc audit_verify(const char *audit_dir, const uint8_t pubkey[32], const uint8_t *initial_key,
                   uint64_t min_size, audit_verify_report *rep, ms_err *err);

/* The local check of STATE (`medseal audit verify --state`): audit_verify on STATE/audit, then,
 * with the master key, the sealed key state: its epoch must be the log's last epoch (else whole
 * epochs were cut: AUDIT_BAD_TRUNCATED), and with the initial key its MAC key must be the one
 * derived from it (else the key state was replaced: AUDIT_BAD_EPOCH). */
ms_rc audit_verify_state(const char *state_dir, const uint8_t master_key[MS_KEY_LEN],
                         const uint8_t pubkey[32], const uint8_t *initial_key, uint64_t min_size,
                         audit_verify_report *rep, ms_err *err);

/* Checks heads published elsewhere (a database, an auditor's copy) against an audit directory:
 * each head's signature under `pubkey`, then the log must hold the tree head record at seq ==
 * size with the same root. MS_OK when all match; MS_E_VERIFY with rep->problem
 * AUDIT_BAD_TRUNCATED (the log holds fewer records than a published head covers: records
 * missing after it; rep->bad_seq = that head's size, rep->records = the log's intact records) or
 * AUDIT_BAD_TREE_HEAD (a bad signature, or the log's head at that size differs or is absent).
 * Only the intact prefix of the log counts (run audit_verify for the rest). */
ms_rc audit_verify_heads(const char *audit_dir, const uint8_t pubkey[32], const audit_head *heads,
                         size_t n_heads, audit_verify_report *rep, ms_err *err);

/* Inclusion proof (RFC 9162 §2.1.3) of leaf `seq` in the tree of `tree_size` leaves (0: the size
 * of the latest signed tree head that covers seq). Appends one JSON object to out:
 * {"leaf_index","tree_size","leaf_hash","root","path":[hex...],"sth":{...signed head, if one has
 * that size}}. */
ms_rc audit_prove(const char *audit_dir, uint64_t seq, uint64_t tree_size, ms_buf *out,
                  ms_err *err);
/* Consistency proof (RFC 9162 §2.1.4) between tree sizes old_size <= new_size. Appends
 * {"old_size","new_size","old_root","new_root","proof":[hex...],"old_sth","new_sth"}. */
ms_rc audit_prove_consistency(const char *audit_dir, uint64_t old_size, uint64_t new_size,
                              ms_buf *out, ms_err *err);
/* Checks a proof produced by either function above (RFC 9162 §2.1.3.2 / §2.1.4.2), and the
 * signatures of the tree heads it carries when pubkey is non-NULL (then at least one is
 * required). MS_OK if valid, MS_E_VERIFY if not, MS_E_FORMAT if unreadable. */
ms_rc audit_proof_check(const char *json, size_t len, const uint8_t *pubkey, ms_err *err);

/* RFC 9162 primitives, for the proof checkers of other tools and the tests.
 * leaf hash = SHA-256(0x00 || data); node = SHA-256(0x01 || left || right). */
void audit_leaf_hash(const uint8_t *data, size_t len, uint8_t out[AUDIT_HASH_LEN]);
int audit_inclusion_verify(uint64_t index, uint64_t size, const uint8_t leaf[AUDIT_HASH_LEN],
                           const uint8_t (*path)[AUDIT_HASH_LEN], size_t n_path,
                           const uint8_t root[AUDIT_HASH_LEN]); /* 1 valid, 0 not */
int audit_consistency_verify(uint64_t size1, uint64_t size2, const uint8_t root1[AUDIT_HASH_LEN],
                             const uint8_t root2[AUDIT_HASH_LEN],
                             const uint8_t (*proof)[AUDIT_HASH_LEN], size_t n_proof);

#ifdef __cplusplus
}
#endif
#endif

/*
 * Shared by cmd_batch.c and batch_seal.c (medseal batch, open, keygen --recipient): sealing
 * output files to a recipient's X25519 public key and reading them back.
 *
 * Sealed file format (libsodium primitives only, nothing composed of our own):
 *   "MSSEAL01"                       8 bytes, magic and version
 *   crypto_box_seal(k, recipient)    80 bytes: a fresh 32-byte secretstream key k sealed to the
 *                                    recipient (X25519 + XSalsa20-Poly1305, anonymous sender)
 *   secretstream header              24 bytes (crypto_secretstream_xchacha20poly1305)
 *   chunks                           each BT_SEAL_CHUNK plaintext bytes (the last one shorter,
 *                                    possibly empty) + 17 bytes, the last tagged TAG_FINAL
 * A file cut short (no FINAL chunk), extended after FINAL, or altered fails to open.
 */
#ifndef MEDSEAL_CLI_BATCH_H
#define MEDSEAL_CLI_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "medseal/core.h"

#define BT_SEAL_MAGIC "MSSEAL01"
#define BT_SEAL_CHUNK 65536

/* Writes p[0..n) sealed to the public key pk to fd: 0, or -1. */
int bt_seal_write(int fd, const uint8_t pk[32], const uint8_t *p, size_t n);
/* Opens the sealed stream in `in` with the secret key sk, writing the plaintext to `out`:
 * 0; -1 not a sealed file, wrong key, cut short or altered (nothing more is written then). */
int bt_seal_open(int in, int out, const uint8_t sk[32]);
/* Reads a key file of 64 hex characters (public key of keygen --recipient, or its secret). */
int bt_recipient_read(const char *path, uint8_t key[32]);
/* date (YYYYMMDD or YYYY-MM-DD) + months as "YYYY-MM-DD": 0, or -1 (bad date, months < 0). */
int bt_due_date(const char *date, int months, char out[11]);

/* ---- run-wide outputs (batch_summary.c) ---------------------------------------------------- */

/* Called once per patient's index line, in patient order: 0 to go on. */
typedef int (*bt_line_cb)(void *ud, const char *line);
/* Calls cb on every index line of a run: 0, or -1. */
typedef int (*bt_lines_fn)(void *ud, bt_line_cb cb, void *cbud);
/* Writes dir/index.jsonl, cohort.csv and summary.html (sealed to pk when seal) from the lines
 * `each` gives (phi: the dates are real, when no line says; else the lines' "dates" field): 0,
 * or -1 (message printed). */
int bt_summaries_write(const char *dir, int seal, const uint8_t *pk, int phi, bt_lines_fn each,
                       void *ud);

/* ---- the PostgreSQL job queue (batch_pg.c) -------------------------------------------------- */

/* Job states in batch_jobs. */
enum { BTQ_TODO = 0, BTQ_CLAIMED = 1, BTQ_COMMITTED = 2, BTQ_DONE = 3, BTQ_FAILED = 4 };

typedef struct bt_pg bt_pg;

/* Connects (URL as the replicas' --state-db) and creates or migrates the batch tables: 0, or -1
 * (message printed). Thread-safe afterwards (one connection under a mutex). */
int bt_pg_open(const char *url, bt_pg **out);
void bt_pg_close(bt_pg *q);
/* Creates run `run` with its options (JSON) and key fingerprint, or checks that an existing one
 * has the same fingerprint: 0; 2 another key; -1 error. */
int bt_pg_run_put(bt_pg *q, const char *run, const char *key_id, const char *options);
/* The run's options (malloc'ed JSON, caller frees), key fingerprint and enqueued flag: 0; 1 no
 * such run; -1 error. */
int bt_pg_run_get(bt_pg *q, const char *run, char **options, char key_id[40], int *enqueued);
/* Queues patients (one transaction per call): 0 or -1. Patients already queued are left as they
 * are. */
int bt_pg_enqueue(bt_pg *q, const char *run, size_t n, const char *const *patients,
                  const char *const *jobs);
/* Marks the run's queue complete (every patient of the scan queued), with the scan's counts. */
int bt_pg_run_enqueued(bt_pg *q, const char *run, long long files, long long unreadable);
/* Claims one patient (todo, or claimed with its lease expired) for owner for lease_s seconds:
 * 1 with *patient and *job (malloc'ed, caller frees); 0 none claimable; -1 error. */
int bt_pg_claim(bt_pg *q, const char *run, const char *owner, int lease_s, char *patient,
                size_t psz, char **job);
/* Extends owner's claims of the patients in `patients` (a PostgreSQL text[] literal, e.g.
 * "{MS-A,MS-B}") by lease_s seconds: 0 or -1. */
int bt_pg_renew(bt_pg *q, const char *run, const char *owner, const char *patients, int lease_s);
/* The patient's outputs are written under their temporary names: records it committed with its
 * index line (NULL: sealed run, none kept), if owner still holds the claim: 1; 0 the claim was
 * lost (lease expired and retaken); -1 error. */
int bt_pg_commit(bt_pg *q, const char *run, const char *patient, const char *owner, int studies,
                 const char *line);
/* committed -> done (the renames are made). */
int bt_pg_done(bt_pg *q, const char *run, const char *patient);
/* Marks the patient failed with a reason (no PHI), if owner holds the claim. */
int bt_pg_fail(bt_pg *q, const char *run, const char *patient, const char *owner,
               const char *reason);
/* Counts of the run's jobs per state (BTQ_*), the studies of done patients, and the scan's file
 * counts: 0 or -1. */
int bt_pg_counts(bt_pg *q, const char *run, long long counts[5], long long *studies,
                 long long *files, long long *unreadable, int *enqueued);
/* Calls fn on each committed (not yet renamed) patient: owner and study count. */
int bt_pg_committed(bt_pg *q, const char *run,
                    void (*fn)(void *ud, const char *patient, const char *owner, int studies),
                    void *ud);
/* Calls fn on each failed patient with its reason (at most `max`). */
int bt_pg_failed(bt_pg *q, const char *run, size_t max,
                 void (*fn)(void *ud, const char *patient, const char *reason), void *ud);
/* The index lines of the done patients, in patient order (bt_lines_fn; ud is a struct bt_pg_lines). */
struct bt_pg_lines {
    bt_pg *q;
    const char *run;
};
int bt_pg_lines(void *ud, bt_line_cb cb, void *cbud);
/* Takes (lock) or releases the run's summary lock (a session advisory lock): one process at a
 * time writes the run-wide files. */
int bt_pg_summary_lock(bt_pg *q, const char *run, int lock);
/* failed -> todo (a resumed run retries them). */
int bt_pg_retry_failed(bt_pg *q, const char *run);

#endif

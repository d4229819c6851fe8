/*
 * The writer's handle, shared by log.c (append, commit, duties, close) and open.c (creation and
 * recovery) and export.c. Every field after `mu` is guarded by it.
 * Trusts: n/a (a data structure). Owns: n/a.
 */
#ifndef MEDSEAL_AUDIT_LOG_H
#define MEDSEAL_AUDIT_LOG_H

#include <pthread.h>

#include "internal.h"

typedef struct audit__item { /* metadata of a record for the SIEM, shipped once durable */
    uint64_t seq, time_ns;
    uint8_t hash[32];
    char action[AUDIT_FIELD_MAX + 1];
    char outcome[33];
} audit__item;

struct audit_log {
    pthread_mutex_t mu;
    /* Group commit: flushes are numbered; flush k broadcasts cv[k & 1] when it ends, so it
     * wakes the appenders whose records it carried and not those waiting for flush k + 1
     * (see wait_cv in log.c). */
    pthread_cond_t cv[2];
    pthread_cond_t hold_cv; /* `hold` was released */
    pthread_cond_t tick_cv; /* wakes the ticker on close */
    pthread_t ticker;
    int ticker_on, sync_init, closing;
    audit_opts o;
    char *dir;
    uint8_t master[MS_KEY_LEN];
    audit__sha sha;
    audit__hmac hmac;
    audit__gcm gcm;
    EVP_PKEY *sign;
    uint8_t pub[32];
    audit__mac_state mac;
    uint32_t epoch_count; /* records in the current epoch */
    uint64_t next_seq;
    uint8_t prev[32];
    audit__frontier tree;
    uint64_t sth_next; /* next_seq just after the last tree head */
    uint64_t sth_ns;
    uint64_t sth_written;
    audit__scan_sth latest; /* the last tree head, published to sth.latest once durable */
    int latest_pending;
    int fd;
    uint64_t seg_first, seg_bytes;
    ms_buf pending, spare;
    uint32_t pending_n;
    uint64_t pending_since;
    uint64_t durable;
    int flushing;
    uint64_t flush_no;   /* flushes started; while `flushing`, the one in flight */
    uint64_t flush_upto; /* next_seq when the flush in flight took its batch */
    int hold; /* a system record is being emitted: events wait */
    ms_rc failed;
    uint8_t nonce_prefix[4];
    uint64_t nonce_ctr;
    audit__siem *siem;
    audit__item *items, *items_spare;
    size_t n_items, items_cap, items_spare_cap;
    uint64_t torn_bytes;
    char *witness;               /* audit_opts.witness_path, owned copy, or NULL */
    audit__scan_sth known[2];    /* published heads read at open: sth.latest, the witness */
    int have_known[2];
    audit__scan_sth found[2];    /* the log's own tree head records at their seqs */
    int have_found[2];
};

ms_rc audit__fsync_dir(const char *dir, ms_err *err);
/* Writes the pending tree head to sth.latest (and the witness), then hands it to opts.head_fn.
 * Lock held (or the handle not yet shared). */
ms_rc audit__publish_latest(audit_log *l, ms_err *err);
ms_rc audit__seg_create(audit_log *l, uint64_t first, ms_err *err);
ms_rc audit__flush_locked(audit_log *l, ms_err *err);
ms_rc audit__commit(audit_log *l, uint64_t target, ms_err *err);
ms_rc audit__emit(audit_log *l, uint8_t kind, uint64_t t, const uint8_t *body, size_t n,
                  const char *action, const char *outcome, ms_err *err);
ms_rc audit__emit_epoch(audit_log *l, ms_err *err);
ms_rc audit__duties(audit_log *l, uint64_t now, ms_err *err);
ms_rc audit__ticker_start(audit_log *l, ms_err *err);
void audit__log_free(audit_log *l);
void audit__opts_defaults(audit_opts *o);
/* Exports with an open gcm over a directory (shared by audit_export and audit_log_export). */
ms_rc audit__export_dir(const char *dir, audit__gcm *gcm, uint64_t from_seq, uint64_t max,
                        audit_line_fn fn, void *ud, ms_err *err);

#endif

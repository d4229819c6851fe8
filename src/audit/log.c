/*
 * The audit log writer: opening (key creation, torn-tail recovery), appending records with the
 * hash chain, forward-secure MAC and Merkle frontier, group commit (one write + fdatasync per
 * batch, shared by concurrent appenders; or, with AUDIT_SYNC_WRITE, a write per append and an
 * fdatasync per batch), epochs, signed tree heads, segment rolling, a ticker
 * thread for the time-based duties, and close. Failing to write makes the handle refuse every
 * later append (fail closed).
 * Trusts: its caller's master key and records (which are still checked against the token
 * alphabet); the existing files only after the recovery scan. Owns: the handle, its keys (wiped),
 * its thread, and the files under STATE/audit/.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

void audit__opts_defaults(audit_opts *o)
{
    if (o->epoch_records == 0)
        o->epoch_records = 10000;
    if (o->epoch_seconds == 0)
        o->epoch_seconds = 600;
    if (o->sth_records == 0)
        o->sth_records = 10000;
    if (o->sth_seconds == 0)
        o->sth_seconds = 60;
    if (o->batch_records == 0)
        o->batch_records = 1024;
    if (o->batch_ms == 0)
        o->batch_ms = 10;
    if (o->segment_bytes == 0)
        o->segment_bytes = (uint64_t)64 << 20;
}

/* ---- raw I/O -------------------------------------------------------------------------------- */

static ms_rc write_all(int fd, const uint8_t *p, size_t n, ms_err *err)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return ms_fail(err, MS_E_IO, "audit write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return MS_OK;
}

static ms_rc write_sync(int fd, const uint8_t *p, size_t n, ms_err *err)
{
    ms_rc rc = write_all(fd, p, n, err);
    if (rc == MS_OK && fdatasync(fd) != 0)
        rc = ms_fail(err, MS_E_IO, "audit fdatasync: %s", strerror(errno));
    return rc;
}

ms_rc audit__fsync_dir(const char *dir, ms_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ms_fail(err, MS_E_IO, "open audit dir: %s", strerror(errno));
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? MS_OK : ms_fail(err, MS_E_IO, "fsync audit dir: %s", strerror(errno));
}

/* Creates seg-<first>.log with its header, durable (file and directory entry). */
ms_rc audit__seg_create(audit_log *l, uint64_t first, ms_err *err)
{
    char name[AUDIT_SEG_NAME_MAX];
    audit__seg_name(first, name);
    char *path = audit__path(l->dir, name);
    if (path == NULL)
        return ms_fail(err, MS_E_NOMEM, "path");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    ms_free(NULL, path);
    if (fd < 0)
        return ms_fail(err, MS_E_IO, "create segment: %s", strerror(errno));
    uint8_t h[AUDIT_SEG_HDR];
    memcpy(h, AUDIT_SEG_MAGIC, 8);
    ms_store_u64le(h + 8, first);
    ms_rc rc = write_sync(fd, h, sizeof h, err);
    if (rc == MS_OK)
        rc = audit__fsync_dir(l->dir, err);
    if (rc != MS_OK) {
        close(fd);
        return rc;
    }
    if (l->fd >= 0)
        close(l->fd);
    l->fd = fd;
    l->seg_first = first;
    l->seg_bytes = AUDIT_SEG_HDR;
    return MS_OK;
}

/* ---- group commit --------------------------------------------------------------------------- */

static void ship(audit_log *l, audit__item *items, size_t n)
{
    for (size_t i = 0; l->siem != NULL && i < n; i++)
        audit__siem_push(l->siem, items[i].seq, items[i].time_ns, items[i].hash, items[i].action,
                         items[i].outcome);
}

ms_rc audit__publish_latest(audit_log *l, ms_err *err)
{
    ms_rc rc = audit__sth_latest_write(l->dir, &l->latest, err);
    if (rc == MS_OK && l->witness != NULL)
        rc = audit__sth_write_path(l->witness, &l->latest, err);
    if (rc != MS_OK)
        return rc; /* still pending: retried after the next durable write */
    l->latest_pending = 0;
    if (l->o.head_fn != NULL) {
        audit_head h;
        h.size = l->latest.size;
        h.time_ns = l->latest.time_ns;
        memcpy(h.root, l->latest.root, sizeof h.root);
        memcpy(h.sig, l->latest.sig, sizeof h.sig);
        memcpy(h.pub, l->pub, sizeof h.pub);
        l->o.head_fn(l->o.head_ud, &h);
    }
    return MS_OK;
}

/* After records up to `upto` became durable: publish a pending sth.latest. Lock held. */
static void durable_to(audit_log *l, uint64_t upto)
{
    l->durable = upto;
    if (l->latest_pending && l->latest.seq < upto) {
        ms_err e = {0};
        (void)audit__publish_latest(l, &e);
    }
}

/* Group commit. An appender that needs its record durable either leads (no flush in flight: it
 * takes everything queued, writes and fdatasyncs it without the lock, so others keep queueing
 * meanwhile) or follows (waits on the condition variable of the flush that carries its record:
 * the one in flight if it took the record, else the next). A finished flush wakes only its own
 * followers, plus one follower of the next batch to lead it, so one fdatasync costs one wake-up
 * per record it carried instead of waking every waiter each time. */

/* The condition variable of the flush that will make `seq` durable. Lock held. */
static pthread_cond_t *wait_cv(audit_log *l, uint64_t seq)
{
    uint64_t k = l->flushing && seq < l->flush_upto ? l->flush_no : l->flush_no + 1;
    return &l->cv[k & 1];
}

/* After a flush: its followers go; someone queued for the next one leads it. Lock held. */
static void flush_done(audit_log *l, int all)
{
    if (all) { /* a failure, or a flush under the lock: every waiter must look again */
        pthread_cond_broadcast(&l->cv[0]);
        pthread_cond_broadcast(&l->cv[1]);
        return;
    }
    pthread_cond_broadcast(&l->cv[l->flush_no & 1]);
    if (l->pending_n > 0)
        pthread_cond_signal(&l->cv[(l->flush_no + 1) & 1]);
}

/* A write or sync failed: the log refuses every later append, and every waiter looks again. */
static ms_rc fail_io(audit_log *l, ms_rc rc)
{
    l->failed = rc;
    flush_done(l, 1);
    return rc;
}

/* Writes and syncs everything not yet durable while holding the lock (segment roll, epoch,
 * close). With AUDIT_SYNC_WRITE, records already written count too (pending_n), so a segment is
 * never closed, and `durable` never moves, before its records were synced. */
ms_rc audit__flush_locked(audit_log *l, ms_err *err)
{
    while (l->flushing)
        pthread_cond_wait(&l->cv[l->flush_no & 1], &l->mu);
    if (l->failed)
        return ms_fail(err, l->failed, "audit log failed earlier (fail closed)");
    if (l->pending_n == 0)
        return MS_OK;
    ms_rc rc = write_sync(l->fd, l->pending.p, l->pending.len, err);
    if (rc != MS_OK)
        return fail_io(l, rc);
    ship(l, l->items, l->n_items);
    l->n_items = 0;
    l->pending.len = 0; /* headers and ciphertext only: no need to wipe */
    l->pending_n = 0;
    durable_to(l, l->next_seq);
    flush_done(l, 1);
    return MS_OK;
}

/* AUDIT_SYNC_WRITE: hands every queued byte to the kernel now, under the lock, so the process
 * dying can no longer lose them; the fdatasync comes later (the ticker, a commit). In this mode a
 * leader writes under the lock too and only syncs without it (audit__commit), so the file keeps
 * the records' order while appenders go on writing during an fdatasync. Lock held. */
static ms_rc write_locked(audit_log *l, ms_err *err)
{
    if (l->pending.len == 0)
        return MS_OK;
    ms_rc rc = write_all(l->fd, l->pending.p, l->pending.len, err);
    if (rc != MS_OK)
        return fail_io(l, rc);
    l->pending.len = 0; /* headers and ciphertext only: no need to wipe */
    return MS_OK;
}

ms_rc audit__commit(audit_log *l, uint64_t target, ms_err *err)
{
    while (l->durable < target) {
        if (l->failed)
            return ms_fail(err, l->failed, "audit log failed earlier (fail closed)");
        if (l->flushing) {
            pthread_cond_wait(wait_cv(l, target - 1), &l->mu);
            continue;
        }
        /* AUDIT_SYNC_WRITE: the batch goes to the file here; the swap below takes no bytes, and
         * the leader's unlocked write_sync is an fdatasync alone */
        if (l->o.sync == AUDIT_SYNC_WRITE && write_locked(l, err) != MS_OK)
            return l->failed;
        l->flushing = 1; /* leader: take the batch, write it without the lock */
        l->flush_no++;
        ms_buf tmp = l->spare;
        l->spare = l->pending;
        l->pending = tmp;
        audit__item *it = l->items;
        size_t n_it = l->n_items;
        l->items = l->items_spare;
        l->items_spare = it;
        size_t cap = l->items_cap;
        l->items_cap = l->items_spare_cap;
        l->items_spare_cap = cap;
        l->n_items = 0;
        l->pending_n = 0;
        uint64_t upto = l->next_seq;
        l->flush_upto = upto;
        int fd = l->fd;
        pthread_mutex_unlock(&l->mu);
        ms_err e = {0};
        ms_rc rc = write_sync(fd, l->spare.p, l->spare.len, &e);
        pthread_mutex_lock(&l->mu);
        if (rc == MS_OK)
            ship(l, l->items_spare, n_it);
        l->spare.len = 0; /* headers and ciphertext only: no need to wipe */
        l->flushing = 0;
        if (rc != MS_OK)
            l->failed = rc;
        else
            durable_to(l, upto);
        flush_done(l, rc != MS_OK);
        if (rc != MS_OK)
            return ms_fail(err, rc, "%s", e.msg);
    }
    return MS_OK;
}

/* ---- emitting records (lock held) ------------------------------------------------------------ */

/* Waits until an event may be placed: no system record is being emitted (an epoch change or
 * tree head must directly follow the state it describes) and the segment has room (rolling it
 * waits for an active flusher). Loops because each wait releases the lock. */
static ms_rc make_room(audit_log *l, uint8_t kind, size_t len, ms_err *err)
{
    for (;;) {
        if (kind == AUDIT_K_EVENT && l->hold) {
            pthread_cond_wait(&l->hold_cv, &l->mu);
            continue;
        }
        if (l->seg_bytes + len <= l->o.segment_bytes || l->seg_bytes <= AUDIT_SEG_HDR)
            return MS_OK;
        if (l->flushing) {
            pthread_cond_wait(&l->cv[l->flush_no & 1], &l->mu);
            continue;
        }
        ms_rc rc = audit__flush_locked(l, err);
        if (rc == MS_OK)
            rc = audit__seg_create(l, l->next_seq, err);
        if (rc != MS_OK) {
            l->failed = rc;
            return rc;
        }
    }
}

/* A system record sequence (state change + its record) runs under `hold`. Waiters for `hold`
 * have their own condition variable: on the shared one, every release woke every appender that
 * was waiting for its fdatasync, only for it to sleep again. */
static void hold_begin(audit_log *l)
{
    while (l->hold)
        pthread_cond_wait(&l->hold_cv, &l->mu);
    l->hold = 1;
}

static void hold_end(audit_log *l)
{
    l->hold = 0;
    pthread_cond_broadcast(&l->hold_cv);
}

static ms_rc push_item(audit_log *l, uint64_t seq, uint64_t t, const uint8_t hash[32],
                       const char *action, const char *outcome, ms_err *err)
{
    if (l->siem == NULL)
        return MS_OK;
    if (l->n_items == l->items_cap) {
        size_t cap = l->items_cap ? l->items_cap * 2 : 256;
        void *nv = ms_realloc(NULL, l->items, cap * sizeof *l->items);
        if (nv == NULL)
            return ms_fail(err, MS_E_NOMEM, "SIEM items");
        l->items = nv;
        l->items_cap = cap;
    }
    audit__item *it = &l->items[l->n_items++];
    it->seq = seq;
    it->time_ns = t;
    memcpy(it->hash, hash, 32);
    snprintf(it->action, sizeof it->action, "%s", action ? action : "-");
    snprintf(it->outcome, sizeof it->outcome, "%s", outcome ? outcome : "-");
    return MS_OK;
}

static void header(audit_log *l, uint8_t *p, uint32_t len, uint8_t kind, uint64_t t,
                   uint32_t body_len)
{
    ms_store_u32le(p, len);
    p[4] = kind;
    p[5] = 1;
    ms_store_u16le(p + 6, 0);
    ms_store_u64le(p + 8, l->next_seq);
    ms_store_u64le(p + 16, t);
    ms_store_u32le(p + 24, l->mac.epoch);
    memcpy(p + 28, l->prev, 32);
    ms_store_u32le(p + 60, body_len);
}

ms_rc audit__emit(audit_log *l, uint8_t kind, uint64_t t, const uint8_t *body, size_t n,
                  const char *action, const char *outcome, ms_err *err)
{
    size_t body_len = kind == AUDIT_K_EVENT ? AUDIT_NONCE + n + AUDIT_TAG : n;
    if (body_len > AUDIT_REC_MAX - AUDIT_REC_MIN)
        return ms_fail(err, MS_E_LIMIT, "audit record of %zu bytes over the limit", body_len);
    uint32_t len = (uint32_t)(AUDIT_REC_MIN + body_len);
    ms_rc rc = make_room(l, kind, len, err);
    if (rc == MS_OK)
        rc = ms_buf_reserve(&l->pending, len, err);
    if (rc != MS_OK)
        return rc;
    uint8_t *p = l->pending.p + l->pending.len;
    header(l, p, len, kind, t, (uint32_t)body_len);
    if (kind == AUDIT_K_EVENT) {
        memcpy(p + AUDIT_REC_HDR, l->nonce_prefix, 4); /* unique per (open, record) */
        ms_store_u64le(p + AUDIT_REC_HDR + 4, l->nonce_ctr++);
        rc = audit__gcm_seal(&l->gcm, p + AUDIT_REC_HDR, p, AUDIT_REC_HDR, body, n,
                             p + AUDIT_REC_HDR + AUDIT_NONCE, err);
        if (rc != MS_OK)
            return rc;
    } else {
        memcpy(p + AUDIT_REC_HDR, body, n);
    }
    uint8_t d[32];
    audit__rec_digest(&l->sha, p, len - AUDIT_MAC_LEN, d);
    audit__hmac_mac(&l->hmac, d, sizeof d, p + len - AUDIT_MAC_LEN);
    audit__rec_leaf_of(&l->sha, d, p + len - AUDIT_MAC_LEN, l->prev);
    if ((rc = push_item(l, l->next_seq, t, l->prev, action, outcome, err)) != MS_OK)
        return rc; /* nothing committed: the record is dropped with its bytes */
    audit__frontier_add(&l->tree, &l->sha, l->prev);
    l->pending.len += len;
    l->seg_bytes += len;
    if (l->pending_n++ == 0)
        l->pending_since = audit__now_ns();
    l->next_seq++;
    l->epoch_count++;
    return MS_OK;
}

ms_rc audit__emit_epoch(audit_log *l, ms_err *err)
{
    uint8_t b[AUDIT_EPOCH_BODY];
    ms_store_u32le(b, l->mac.epoch);
    ms_store_u64le(b + 4, l->mac.start_ns);
    l->epoch_count = 0;
    return audit__emit(l, AUDIT_K_EPOCH, audit__now_ns(), b, sizeof b, "audit.epoch", "ok", err);
}

/* key_{e+1} = HKDF(key_e); persisted sealed before any record uses it; the old key is wiped. */
static ms_rc advance_epoch(audit_log *l, ms_err *err)
{
    audit__mac_state ns;
    ns.epoch = l->mac.epoch + 1;
    ns.start_ns = audit__now_ns();
    ms_rc rc = audit__epoch_next(l->mac.key, ns.epoch, ns.key, err);
    if (rc == MS_OK)
        rc = audit__mac_state_write(l->dir, l->master, &ns, err);
    if (rc == MS_OK)
        rc = audit__hmac_key(&l->hmac, ns.key, err);
    if (rc == MS_OK)
        l->mac = ns;
    ms_memzero(&ns, sizeof ns);
    if (rc != MS_OK) {
        l->failed = rc;
        return rc;
    }
    /* The epoch record is made durable at once: the key state may then run at most one epoch
     * ahead of the log after a crash, and reopening fills that gap with the epoch record. */
    rc = audit__emit_epoch(l, err);
    return rc ? rc : audit__flush_locked(l, err);
}

static ms_rc tree_head(audit_log *l, ms_err *err)
{
    audit__scan_sth s;
    s.seq = s.size = l->next_seq;
    s.time_ns = audit__now_ns();
    audit__frontier_root(&l->tree, &l->sha, s.root);
    ms_rc rc = audit__sth_sign(l->sign, s.size, s.time_ns, s.root, s.sig, err);
    if (rc != MS_OK)
        return rc;
    uint8_t b[AUDIT_STH_BODY];
    ms_store_u64le(b, s.size);
    ms_store_u64le(b + 8, s.time_ns);
    memcpy(b + 16, s.root, 32);
    memcpy(b + 48, s.sig, 64);
    rc = audit__emit(l, AUDIT_K_TREE_HEAD, s.time_ns, b, sizeof b, "audit.tree_head", "ok", err);
    if (rc == MS_OK) {
        l->latest = s;
        l->latest_pending = 1;
        l->sth_next = l->next_seq;
        l->sth_ns = s.time_ns;
        l->sth_written++;
    }
    return rc;
}

/* ns since `since`; 0 if the wall clock went backwards (an NTP step must not fire every timer). */
static uint64_t elapsed(uint64_t now, uint64_t since)
{
    return now > since ? now - since : 0;
}

/* Count- and time-based duties after a record (lock held); skipped while another thread is
 * already emitting a system record (it will have done them). */
static int duties_due(const audit_log *l, uint64_t now)
{
    uint64_t since = l->next_seq - l->sth_next;
    return l->epoch_count >= l->o.epoch_records ||
           elapsed(now, l->mac.start_ns) >= (uint64_t)l->o.epoch_seconds * 1000000000u ||
           (since > 0 && (since >= l->o.sth_records ||
                          elapsed(now, l->sth_ns) >= (uint64_t)l->o.sth_seconds * 1000000000u));
}

ms_rc audit__duties(audit_log *l, uint64_t now, ms_err *err)
{
    /* Checked first: this runs after every record, and taking `hold` is not free for others. */
    if (l->hold || !duties_due(l, now))
        return MS_OK;
    hold_begin(l);
    ms_rc rc = MS_OK;
    if (l->epoch_count >= l->o.epoch_records ||
        elapsed(now, l->mac.start_ns) >= (uint64_t)l->o.epoch_seconds * 1000000000u)
        rc = advance_epoch(l, err);
    uint64_t since = l->next_seq - l->sth_next;
    if (rc == MS_OK && since > 0 &&
        (since >= l->o.sth_records ||
         elapsed(now, l->sth_ns) >= (uint64_t)l->o.sth_seconds * 1000000000u))
        rc = tree_head(l, err);
    hold_end(l);
    return rc;
}

/* ---- public API -------------------------------------------------------------------------------
 */

ms_rc audit_log_append(audit_log *l, const audit_record *rec, uint64_t *seq_out, ms_err *err)
{
    if (l == NULL || rec == NULL)
        return ms_fail(err, MS_E_INVAL, "audit_log_append: missing argument");
    uint8_t js[AUDIT_PAYLOAD_MAX];
    size_t jn = 0;
    ms_rc rc = audit__payload_json(rec, js, sizeof js, &jn, err);
    if (rc != MS_OK)
        return rc;
    uint64_t now = audit__now_ns(), seq = 0;
    pthread_mutex_lock(&l->mu);
    if (l->failed)
        rc = ms_fail(err, l->failed, "audit log failed earlier (fail closed)");
    if (rc == MS_OK)
        rc = audit__emit(l, AUDIT_K_EVENT, rec->time_ns ? rec->time_ns : now, js, jn, rec->action,
                         rec->outcome, err);
    seq = l->next_seq - 1; /* emit does not wait after placing the record */
    if (rc == MS_OK)
        rc = audit__duties(l, now, err);
    if (rc == MS_OK && l->o.sync == AUDIT_SYNC_EACH)
        rc = audit__commit(l, seq + 1, err);
    else if (rc == MS_OK) {
        if (l->o.sync == AUDIT_SYNC_WRITE) /* into the file; pending_n counts it until synced */
            rc = write_locked(l, err);
        if (rc == MS_OK && l->pending_n >= 8 * l->o.batch_records)
            rc = audit__commit(l, l->next_seq, err); /* back-pressure: the disk is behind */
        else if (rc == MS_OK && l->pending_n >= l->o.batch_records)
            pthread_cond_signal(&l->tick_cv); /* the ticker syncs the batch; we go on */
    }
    pthread_mutex_unlock(&l->mu);
    ms_memzero(js, jn);
    if (rc == MS_OK && seq_out != NULL)
        *seq_out = seq;
    return rc;
}

ms_rc audit_log_flush(audit_log *l, ms_err *err)
{
    if (l == NULL)
        return ms_fail(err, MS_E_INVAL, "audit_log_flush: no log");
    pthread_mutex_lock(&l->mu);
    ms_rc rc = audit__commit(l, l->next_seq, err);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

uint64_t audit_log_durable(audit_log *l)
{
    pthread_mutex_lock(&l->mu);
    uint64_t d = l->durable;
    pthread_mutex_unlock(&l->mu);
    return d;
}

ms_rc audit_log_checkpoint(audit_log *l, ms_err *err)
{
    if (l == NULL)
        return ms_fail(err, MS_E_INVAL, "audit_log_checkpoint: no log");
    pthread_mutex_lock(&l->mu);
    ms_rc rc = l->failed ? ms_fail(err, l->failed, "audit log failed earlier") : MS_OK;
    hold_begin(l);
    if (rc == MS_OK)
        rc = tree_head(l, err);
    hold_end(l);
    if (rc == MS_OK)
        rc = audit__commit(l, l->next_seq, err);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void audit_log_stats(audit_log *l, audit_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&l->mu);
    out->records = l->next_seq;
    out->durable = l->durable;
    out->epoch = l->mac.epoch;
    out->tree_heads = l->sth_written;
    out->torn_bytes = l->torn_bytes;
    pthread_mutex_unlock(&l->mu);
    if (l->siem != NULL)
        audit__siem_stats(l->siem, &out->siem_sent, &out->siem_dropped, &out->siem_queued);
}

/* The ticker: batch deadlines, epoch and tree-head timers. */
static void *ticker(void *arg)
{
    audit_log *l = arg;
    uint64_t tick_ms = l->o.sync != AUDIT_SYNC_EACH ? l->o.batch_ms : 100;
    pthread_mutex_lock(&l->mu);
    while (!l->closing) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + tick_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        if (l->pending_n < l->o.batch_records || l->o.sync == AUDIT_SYNC_EACH)
            pthread_cond_timedwait(&l->tick_cv, &l->mu, &ts);
        if (l->closing || l->failed)
            continue;
        uint64_t now = audit__now_ns();
        ms_err e = {0};
        ms_rc rc = audit__duties(l, now, &e);
        if (rc == MS_OK && l->pending_n > 0 &&
            (l->o.sync == AUDIT_SYNC_EACH || l->pending_n >= l->o.batch_records ||
             elapsed(now, l->pending_since) >= tick_ms * 1000000u))
            (void)audit__commit(l, l->next_seq, &e); /* a failure sets l->failed */
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

ms_rc audit__ticker_start(audit_log *l, ms_err *err)
{
    if (pthread_create(&l->ticker, NULL, ticker, l) != 0)
        return ms_fail(err, MS_E_INTERNAL, "cannot start the audit ticker thread");
    l->ticker_on = 1;
    return MS_OK;
}

ms_rc audit_log_close(audit_log *l, ms_err *err)
{
    if (l == NULL)
        return MS_OK;
    pthread_mutex_lock(&l->mu);
    l->closing = 1;
    pthread_cond_broadcast(&l->tick_cv);
    pthread_mutex_unlock(&l->mu);
    if (l->ticker_on)
        pthread_join(l->ticker, NULL);
    pthread_mutex_lock(&l->mu);
    ms_rc rc = l->failed ? ms_fail(err, l->failed, "audit log failed earlier") : MS_OK;
    hold_begin(l);
    if (rc == MS_OK && l->next_seq > l->sth_next)
        rc = tree_head(l, err);
    hold_end(l);
    if (rc == MS_OK)
        rc = audit__commit(l, l->next_seq, err);
    pthread_mutex_unlock(&l->mu);
    audit__log_free(l);
    return rc;
}

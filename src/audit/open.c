/*
 * Opening the audit log: the master key default (STATE/master.key), first-use key creation,
 * loading the sealed keys, the recovery scan that rebuilds the chain head, Merkle frontier and
 * epoch from the segments and cuts a torn tail (saved to torn-<seq>.bin and logged by a
 * truncation record), then the epoch record when the key state is ahead of the log.
 * Trusts: the master key; segment contents only after the scan's checks. Damage before the tail
 * is refused (the gateway must not start on a log it cannot extend honestly).
 * Owns: the handle until audit_log_close, and the files it creates.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "medseal/seal.h"

static int exists(const char *dir, const char *name)
{
    char *p = audit__path(dir, name);
    struct stat st;
    int ok = p != NULL && stat(p, &st) == 0;
    ms_free(NULL, p);
    return ok;
}

static ms_rc mkdir_p(const char *d, ms_err *err)
{
    if (mkdir(d, 0700) != 0 && errno != EEXIST)
        return ms_fail(err, MS_E_IO, "mkdir state dir: %s", strerror(errno));
    return MS_OK;
}

ms_rc audit_master_key(const char *state_dir, const char *spec, uint8_t out[MS_KEY_LEN],
                       ms_err *err)
{
    if (spec != NULL)
        return ms_master_key_load(spec, out, err);
    if (state_dir == NULL)
        return ms_fail(err, MS_E_INVAL, "no state dir and no master key");
    ms_rc rc = mkdir_p(state_dir, err);
    char *path = audit__path(state_dir, "master.key");
    if (path == NULL)
        return ms_fail(err, MS_E_NOMEM, "path");
    if (rc == MS_OK && !exists(state_dir, "master.key")) {
        uint8_t k[MS_KEY_LEN];
        char text[MS_KEY_LEN * 2 + 2];
        rc = ms_random(k, sizeof k, err);
        ms_keyfile_format(k, text);
        if (rc == MS_OK)
            rc = ms_file_write_atomic(path, text, strlen(text), 0600, 0, err);
        if (rc == MS_E_EXISTS) { /* created by a concurrent process: use theirs */
            ms_err_clear(err);
            rc = MS_OK;
        }
        ms_memzero(k, sizeof k);
        ms_memzero(text, sizeof text);
    }
    if (rc == MS_OK)
        rc = ms_master_key_load(path, out, err);
    ms_free(NULL, path);
    return rc;
}

/* ---- recovery scan -------------------------------------------------------------------------- */

typedef struct scanres {
    int torn;
    size_t torn_off;
    int any;
    uint32_t last_epoch;
} scanres;

static void apply(audit_log *l, const audit__rec *r)
{
    audit__rec_leaf(&l->sha, r->raw, r->len, l->prev);
    audit__frontier_add(&l->tree, &l->sha, l->prev);
    l->next_seq++;
    l->epoch_count = r->kind == AUDIT_K_EPOCH ? 1 : l->epoch_count + 1;
    if (r->kind == AUDIT_K_TREE_HEAD) {
        l->sth_next = r->seq + 1;
        l->sth_ns = r->time_ns;
        l->latest.seq = r->seq;
        l->latest.size = ms_load_u64le(r->body);
        l->latest.time_ns = ms_load_u64le(r->body + 8);
        memcpy(l->latest.root, r->body + 16, 32);
        memcpy(l->latest.sig, r->body + 48, 64);
        l->latest_pending = 1;
        for (int i = 0; i < 2; i++) {
            if (l->have_known[i] && l->known[i].seq == r->seq) {
                l->found[i] = l->latest;
                l->have_found[i] = 1;
            }
        }
    }
}

/* Before anything is written: the log must still hold what every published head covered. */
static ms_rc check_heads(audit_log *l, ms_err *err)
{
    static const char *const src[2] = {"sth.latest", "audit_witness"};
    for (int i = 0; i < 2; i++) {
        if (!l->have_known[i])
            continue;
        ms_err e = {0};
        ms_rc rc = audit__head_check(&l->known[i], l->have_found[i] ? &l->found[i] : NULL,
                                     l->next_seq, src[i], &e);
        if (rc != MS_OK)
            return ms_fail(err, rc,
                           "%s; see `medseal audit verify`; to accept: mv "
                           "STATE/audit/sth.latest STATE/audit/sth.lost",
                           e.msg);
    }
    return MS_OK;
}

static ms_rc scan(audit_log *l, const audit__segments *s, scanres *sr, ms_err *err)
{
    audit__cursor c = {s->v, s->n, 0, 0};
    for (;;) {
        audit__rec r;
        ms_rc rc = audit__cursor_next(&c, &r, NULL);
        if (rc == MS_E_NOTFOUND)
            return MS_OK;
        int ok = rc == MS_OK && r.seq == l->next_seq && ms_ct_equal(r.prev, l->prev, 32);
        if (!ok && c.si + 1 == s->n) { /* the tail of the last segment: a crash's torn write */
            sr->torn = 1;
            sr->torn_off = rc == MS_OK ? c.off - r.len : c.off;
            return MS_OK;
        }
        if (!ok)
            return ms_fail(err, MS_E_VERIFY,
                           "audit log damaged at seq %llu in %s, before its tail: run "
                           "`medseal audit verify`",
                           (unsigned long long)l->next_seq, s->v[c.si].name);
        apply(l, &r);
        sr->any = 1;
        sr->last_epoch = r.epoch;
    }
}

/* Saves the torn bytes, cuts the segment at `off` (rewriting a torn header). */
static ms_rc cut_tail(audit_log *l, audit__segments *s, size_t off, ms_err *err)
{
    audit__segment *seg = &s->v[s->n - 1];
    char name[48];
    snprintf(name, sizeof name, "torn-%020llu.bin", (unsigned long long)l->next_seq);
    char *tp = audit__path(l->dir, name), *sp = audit__path(l->dir, seg->name);
    ms_rc rc = tp && sp ? MS_OK : ms_fail(err, MS_E_NOMEM, "path");
    l->torn_bytes = seg->map.len - off;
    if (rc == MS_OK)
        rc = ms_file_write_atomic(tp, seg->map.p + off, seg->map.len - off, 0600, 1, err);
    uint64_t first = seg->first_seq;
    audit__segments_close(s);
    int fd = rc == MS_OK ? open(sp, O_WRONLY | O_CLOEXEC) : -1;
    if (rc == MS_OK && fd < 0)
        rc = ms_fail(err, MS_E_IO, "open segment: %s", strerror(errno));
    if (rc == MS_OK && off < AUDIT_SEG_HDR) {
        uint8_t h[AUDIT_SEG_HDR];
        memcpy(h, AUDIT_SEG_MAGIC, 8);
        ms_store_u64le(h + 8, first);
        off = AUDIT_SEG_HDR;
        if (pwrite(fd, h, sizeof h, 0) != (ssize_t)sizeof h)
            rc = ms_fail(err, MS_E_IO, "rewrite segment header: %s", strerror(errno));
    }
    if (rc == MS_OK && (ftruncate(fd, (off_t)off) != 0 || fsync(fd) != 0))
        rc = ms_fail(err, MS_E_IO, "truncate torn tail: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    ms_free(NULL, tp);
    ms_free(NULL, sp);
    return rc;
}

static ms_rc open_last(audit_log *l, const char *name, uint64_t first, ms_err *err)
{
    char *p = audit__path(l->dir, name);
    if (p == NULL)
        return ms_fail(err, MS_E_NOMEM, "path");
    l->fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
    ms_free(NULL, p);
    struct stat st;
    if (l->fd < 0 || fstat(l->fd, &st) != 0)
        return ms_fail(err, MS_E_IO, "open segment: %s", strerror(errno));
    l->seg_first = first;
    l->seg_bytes = (uint64_t)st.st_size;
    return MS_OK;
}

static ms_rc recover(audit_log *l, scanres *sr, ms_err *err)
{
    audit__segments s = {0};
    ms_rc rc = audit__segments_open(l->dir, &s, err);
    if (rc == MS_OK)
        rc = scan(l, &s, sr, err);
    if (rc == MS_OK)
        rc = check_heads(l, err); /* before a torn tail is cut or a head rewritten */
    char name[AUDIT_SEG_NAME_MAX] = "";
    uint64_t first = 0;
    size_t n = s.n;
    if (n > 0) {
        snprintf(name, sizeof name, "%s", s.v[n - 1].name);
        first = s.v[n - 1].first_seq;
    }
    if (rc == MS_OK && sr->torn)
        rc = cut_tail(l, &s, sr->torn_off, err);
    audit__segments_close(&s);
    if (rc == MS_OK && n == 0)
        rc = audit__seg_create(l, 0, err);
    else if (rc == MS_OK)
        rc = open_last(l, name, first, err);
    return rc;
}

/* ---- open --------------------------------------------------------------------------------- */

static ms_rc load_keys(audit_log *l, ms_err *err)
{
    uint8_t k[32];
    ms_rc rc = audit__sealed_read(l->dir, "log.key", l->master, AUDIT_LABEL_LOG_KEY, k, 32, err);
    if (rc == MS_OK)
        rc = audit__gcm_init(&l->gcm, k, err);
    if (rc == MS_OK)
        rc = audit__sealed_read(l->dir, "sign.key", l->master, AUDIT_LABEL_SIGN_KEY, k, 32, err);
    if (rc == MS_OK)
        rc = audit__ed25519_from_seed(k, &l->sign, l->pub, err);
    ms_memzero(k, sizeof k);
    if (rc == MS_OK)
        rc = audit__mac_state_read(l->dir, l->master, &l->mac, err);
    if (rc == MS_OK)
        rc = audit__sha_init(&l->sha, err);
    if (rc == MS_OK)
        rc = audit__hmac_init(&l->hmac, &l->sha, err);
    if (rc == MS_OK)
        rc = audit__hmac_key(&l->hmac, l->mac.key, err);
    return rc;
}

static ms_rc prepare_dir(audit_log *l, const char *state_dir, ms_err *err)
{
    ms_rc rc = mkdir_p(state_dir, err);
    l->dir = audit__path(state_dir, "audit");
    if (rc == MS_OK && l->dir == NULL)
        rc = ms_fail(err, MS_E_NOMEM, "path");
    if (rc == MS_OK)
        rc = mkdir_p(l->dir, err);
    if (rc != MS_OK || exists(l->dir, "log.key"))
        return rc;
    audit__segments s = {0};
    rc = audit__segments_open(l->dir, &s, err);
    size_t n = s.n;
    audit__segments_close(&s);
    if (rc == MS_OK && n > 0)
        return ms_fail(err, MS_E_NOTFOUND, "audit/log.key missing but segments exist");
    return rc ? rc : audit__keys_create(l->dir, l->master, err);
}

/* After recovery: open the epoch if the key state is ahead, log a cut tail, make it durable. */
static ms_rc first_records(audit_log *l, const scanres *sr, ms_err *err)
{
    ms_rc rc = MS_OK;
    if (sr->any && l->mac.epoch < sr->last_epoch)
        return ms_fail(err, MS_E_VERIFY, "audit key state (epoch %u) is behind the log (epoch %u)",
                       l->mac.epoch, sr->last_epoch);
    if (!sr->any || l->mac.epoch > sr->last_epoch)
        rc = audit__emit_epoch(l, err);
    if (rc == MS_OK && sr->torn) {
        uint8_t b[AUDIT_TRUNC_BODY];
        ms_store_u64le(b, l->torn_bytes);
        ms_store_u64le(b + 8, l->next_seq);
        rc = audit__emit(l, AUDIT_K_TRUNCATE, audit__now_ns(), b, sizeof b, "audit.truncate", "ok",
                         err);
    }
    ms_err pe = {0}; /* not fatal: retried after the next durable write */
    if (rc == MS_OK && l->latest_pending)
        (void)audit__publish_latest(l, &pe);
    return rc ? rc : audit__commit(l, l->next_seq, err);
}

static ms_rc init_sync(audit_log *l, ms_err *err)
{
    if (pthread_mutex_init(&l->mu, NULL) != 0)
        return ms_fail(err, MS_E_INTERNAL, "mutex");
    pthread_cond_t *cvs[4] = {&l->cv[0], &l->cv[1], &l->tick_cv, &l->hold_cv};
    for (int i = 0; i < 4; i++) {
        if (pthread_cond_init(cvs[i], NULL) != 0) {
            while (i-- > 0)
                pthread_cond_destroy(cvs[i]);
            pthread_mutex_destroy(&l->mu);
            return ms_fail(err, MS_E_INTERNAL, "condvar");
        }
    }
    l->sync_init = 1;
    return MS_OK;
}

ms_rc audit_log_open(const char *state_dir, const uint8_t master_key[MS_KEY_LEN],
                     const audit_opts *opts, audit_log **out, ms_err *err)
{
    if (state_dir == NULL || master_key == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "audit_log_open: missing argument");
    audit_log *l = ms_malloc(NULL, sizeof *l); /* zeroed; holds keys: wiped on free */
    if (l == NULL)
        return ms_fail(err, MS_E_NOMEM, "audit log handle");
    l->fd = -1;
    if (opts != NULL)
        l->o = *opts;
    l->o.siem_host = NULL; /* borrowed strings are only used by audit__siem_start */
    l->o.witness_path = NULL;
    audit__opts_defaults(&l->o);
    memcpy(l->master, master_key, MS_KEY_LEN);
    ms_buf_init(&l->pending, NULL, 0);
    ms_buf_init(&l->spare, NULL, 0);
    scanres sr = {0};
    ms_rc rc = init_sync(l, err);
    if (rc == MS_OK)
        rc = prepare_dir(l, state_dir, err);
    if (rc == MS_OK)
        rc = load_keys(l, err);
    if (rc == MS_OK && opts != NULL && opts->witness_path != NULL &&
        (l->witness = ms_strdup(NULL, opts->witness_path)) == NULL)
        rc = ms_fail(err, MS_E_NOMEM, "audit witness path");
    /* the published heads (absent: a new log, or one from before they were kept) */
    if (rc == MS_OK)
        l->have_known[0] = audit__sth_latest_read(l->dir, &l->known[0], NULL) == MS_OK;
    if (rc == MS_OK && l->witness != NULL)
        l->have_known[1] = audit__sth_read_path(l->witness, &l->known[1], NULL) == MS_OK;
    if (rc == MS_OK)
        rc = ms_random(l->nonce_prefix, sizeof l->nonce_prefix, err);
    l->sth_ns = audit__now_ns();
    if (rc == MS_OK)
        rc = recover(l, &sr, err);
    if (rc == MS_OK && opts != NULL && opts->siem_host != NULL)
        rc = audit__siem_start(opts, &l->siem, err);
    if (rc == MS_OK) {
        pthread_mutex_lock(&l->mu);
        rc = first_records(l, &sr, err);
        pthread_mutex_unlock(&l->mu);
    }
    if (rc == MS_OK)
        rc = audit__ticker_start(l, err);
    if (rc != MS_OK) {
        audit__log_free(l);
        return rc;
    }
    *out = l;
    return MS_OK;
}

void audit__log_free(audit_log *l)
{
    if (l->siem != NULL)
        audit__siem_stop(l->siem, 2000);
    if (l->fd >= 0)
        close(l->fd);
    audit__hmac_free(&l->hmac);
    if (l->sha.ready)
        audit__sha_free(&l->sha);
    audit__gcm_free(&l->gcm);
    EVP_PKEY_free(l->sign);
    ms_buf_free(&l->pending);
    ms_buf_free(&l->spare);
    ms_free(NULL, l->items);
    ms_free(NULL, l->items_spare);
    ms_free(NULL, l->dir);
    ms_free(NULL, l->witness);
    if (l->sync_init) {
        pthread_cond_destroy(&l->hold_cv);
        pthread_cond_destroy(&l->tick_cv);
        pthread_cond_destroy(&l->cv[1]);
        pthread_cond_destroy(&l->cv[0]);
        pthread_mutex_destroy(&l->mu);
    }
    ms_free(NULL, l); /* wipes master, MAC key and state */
}

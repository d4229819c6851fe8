/*
 * Verification of an audit directory: the segment cursor, then per record the sequence number,
 * the previous-record hash, the epoch sequence (each epoch opened by its epoch record, +1 at a
 * time, so a key stolen in epoch e cannot re-seal records of earlier epochs), the forward-secure
 * MAC, and every signed tree head against the Merkle root recomputed from the records. Stops at
 * the first bad record and names it. Also collects leaf hashes for proofs.
 * Trusts: only the public key and initial key it is given. Owns: its maps and hash contexts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include "internal.h"

ms_rc audit__cursor_next(audit__cursor *c, audit__rec *rec, ms_err *err)
{
    while (c->si < c->n) {
        const audit__segment *s = &c->segs[c->si];
        if (c->off == 0) {
            uint64_t first;
            ms_rc rc = audit__seg_header(s->map.p, s->map.len, &first, err);
            if (rc != MS_OK)
                return rc;
            if (first != s->first_seq)
                return ms_fail(err, MS_E_FORMAT, "segment header says first seq %llu",
                               (unsigned long long)first);
            c->off = AUDIT_SEG_HDR;
        }
        if (c->off == s->map.len) {
            c->si++;
            c->off = 0;
            continue;
        }
        ms_rd r = {s->map.p + c->off, s->map.len - c->off};
        ms_rc rc = audit__rec_parse(&r, rec, err);
        if (rc != MS_OK)
            return rc;
        c->off += rec->len;
        return MS_OK;
    }
    return MS_E_NOTFOUND;
}

typedef struct vstate {
    const audit__vin *in;
    audit_verify_report *rep;
    audit__sha sha;
    audit__hmac hmac;
    uint8_t key[32];
    int have_key;
    uint64_t expected;
    uint8_t prev[32];
    uint32_t epoch;
    audit__frontier tree;
    const audit__segment *seg; /* where the current record is */
    size_t off;
} vstate;

static ms_rc bad(vstate *v, audit_problem p, uint64_t seq, ms_err *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static ms_rc bad(vstate *v, audit_problem p, uint64_t seq, ms_err *err, const char *fmt, ...)
{
    char msg[120];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    v->rep->problem = p;
    v->rep->bad_seq = seq;
    v->rep->bad_offset = v->off;
    snprintf(v->rep->bad_segment, sizeof v->rep->bad_segment, "%s", v->seg ? v->seg->name : "-");
    return ms_fail(err, MS_E_VERIFY, "record seq %llu (%s offset %zu): %s", (unsigned long long)seq,
                   v->seg ? v->seg->name : "-", v->off, msg);
}

/* A record with seq `found` where `want` was due: moved (it appears later) or deleted. */
static ms_rc seq_problem(vstate *v, audit__cursor c, uint64_t found, ms_err *err)
{
    uint64_t want = v->expected;
    if (found < want)
        return bad(v, AUDIT_BAD_REORDERED, want, err,
                   "found seq %llu: out of order (moved or replayed)", (unsigned long long)found);
    audit__rec r;
    while (audit__cursor_next(&c, &r, NULL) == MS_OK) {
        if (r.seq == want)
            return bad(v, AUDIT_BAD_REORDERED, want, err, "found seq %llu first: records reordered",
                       (unsigned long long)found);
    }
    return bad(v, AUDIT_BAD_DELETED, want, err, "missing (deleted): %llu record(s) before seq %llu",
               (unsigned long long)(found - want), (unsigned long long)found);
}

static ms_rc check_epoch(vstate *v, const audit__rec *r, ms_err *err)
{
    int opens = r->kind == AUDIT_K_EPOCH;
    if (opens && ms_load_u32le(r->body) != r->epoch)
        return bad(v, AUDIT_BAD_EPOCH, r->seq, err, "epoch record body disagrees with header");
    if (r->seq == 0) {
        if (!opens || r->epoch != 0)
            return bad(v, AUDIT_BAD_EPOCH, 0, err, "log does not start with epoch 0");
    } else if (r->epoch == v->epoch) {
        if (opens)
            return bad(v, AUDIT_BAD_EPOCH, r->seq, err, "epoch %u opened twice", r->epoch);
        return MS_OK;
    } else if (r->epoch != v->epoch + 1 || !opens) {
        return bad(v, AUDIT_BAD_EPOCH, r->seq, err,
                   "epoch %u after epoch %u (re-sealed with a later key?)", r->epoch, v->epoch);
    }
    v->epoch = r->epoch;
    v->rep->epochs++;
    if (!v->have_key || r->seq == 0)
        return MS_OK;
    ms_rc rc = audit__epoch_next(v->key, r->epoch, v->key, err);
    return rc ? rc : audit__hmac_key(&v->hmac, v->key, err);
}

static ms_rc check_sth(vstate *v, const audit__rec *r, ms_err *err)
{
    uint64_t size = ms_load_u64le(r->body), t = ms_load_u64le(r->body + 8);
    const uint8_t *root = r->body + 16, *sig = r->body + 48;
    uint8_t mine[32];
    if (size != r->seq)
        return bad(v, AUDIT_BAD_TREE_HEAD, r->seq, err, "tree head of size %llu at seq %llu",
                   (unsigned long long)size, (unsigned long long)r->seq);
    audit__frontier_root(&v->tree, &v->sha, mine);
    if (!ms_ct_equal(mine, root, 32))
        return bad(v, AUDIT_BAD_TREE_HEAD, r->seq, err, "tree head root differs from the records");
    if (!audit__sth_verify(v->in->pub, size, t, root, sig))
        return bad(v, AUDIT_BAD_TREE_HEAD, r->seq, err, "tree head signature invalid");
    const audit__scan_sth *l = v->in->latest;
    if (l != NULL && l->seq == r->seq &&
        (l->size != size || l->time_ns != t || !ms_ct_equal(l->root, root, 32)))
        return bad(v, AUDIT_BAD_TREE_HEAD, r->seq, err, "differs from the exported tree head");
    v->rep->tree_heads++;
    v->rep->last_sth_size = size;
    return MS_OK;
}

/* One record of the window being verified, with its digest and leaf hash computed up front
 * (in parallel: hashing the records is most of the work and needs no order). */
typedef struct ventry {
    audit__rec r;
    audit__cursor after; /* the cursor just past it, for the reordering look-ahead */
    uint8_t d[32], leaf[32];
} ventry;

#define WINDOW      16384
#define MAX_THREADS 8

typedef struct vjob {
    ventry *e;
    size_t n;
} vjob;

static void *digest_job(void *arg)
{
    vjob *j = arg;
    audit__sha s;
    for (size_t i = 0; i < j->n; i++) {
        audit__rec *r = &j->e[i].r;
        audit__rec_digest(&s, r->raw, r->len - AUDIT_MAC_LEN, j->e[i].d);
        audit__rec_leaf_of(&s, j->e[i].d, r->mac, j->e[i].leaf);
    }
    return NULL;
}

static void digest_all(ventry *e, size_t n)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t t = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (size_t)cpus;
    if (n < 2048)
        t = 1;
    pthread_t th[MAX_THREADS];
    vjob jobs[MAX_THREADS];
    size_t per = n / t, started = 0;
    for (size_t i = 0; i < t; i++) {
        jobs[i].e = e + i * per;
        jobs[i].n = i + 1 == t ? n - i * per : per;
        if (i + 1 < t && pthread_create(&th[i], NULL, digest_job, &jobs[i]) == 0)
            started = i + 1;
        else if (i + 1 < t)
            digest_job(&jobs[i]); /* no thread: do it here */
    }
    digest_job(&jobs[t - 1]);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}

static ms_rc check_record(vstate *v, const ventry *e, ms_err *err)
{
    const audit__rec *r = &e->r;
    if (r->seq != v->expected)
        return seq_problem(v, e->after, r->seq, err);
    if (!ms_ct_equal(r->prev, v->prev, 32))
        return bad(v, AUDIT_BAD_CHAIN, r->seq, err,
                   "previous-hash mismatch: record %llu was modified or replaced",
                   (unsigned long long)(r->seq ? r->seq - 1 : 0));
    ms_rc rc = check_epoch(v, r, err);
    if (rc != MS_OK)
        return rc;
    if (v->have_key) {
        uint8_t mac[32];
        audit__hmac_mac(&v->hmac, e->d, 32, mac);
        if (!ms_ct_equal(mac, r->mac, 32))
            return bad(v, AUDIT_BAD_MAC, r->seq, err, "MAC mismatch: record modified or forged");
        v->rep->macs_checked++;
    }
    if (r->kind == AUDIT_K_TREE_HEAD && (rc = check_sth(v, r, err)) != MS_OK)
        return rc;
    if (r->kind == AUDIT_K_TRUNCATE)
        v->rep->truncations++;
    memcpy(v->prev, e->leaf, 32);
    audit__frontier_add(&v->tree, &v->sha, v->prev);
    v->expected++;
    v->rep->records++;
    return MS_OK;
}

static ms_rc check_end(vstate *v, ms_err *err)
{
    const audit__scan_sth *l = v->in->latest;
    if (l != NULL && !audit__sth_verify(v->in->pub, l->size, l->time_ns, l->root, l->sig))
        return bad(v, AUDIT_BAD_TREE_HEAD, l->seq, err, "exported tree head signature invalid");
    if (l != NULL && v->expected <= l->seq)
        return bad(v, AUDIT_BAD_TRUNCATED, v->expected, err,
                   "log truncated: a signed tree head covers %llu records, log ends here",
                   (unsigned long long)l->size);
    if (v->in->min_size > v->expected)
        return bad(v, AUDIT_BAD_TRUNCATED, v->expected, err,
                   "log truncated: %llu records expected, log ends here",
                   (unsigned long long)v->in->min_size);
    if (v->expected == 0)
        return bad(v, AUDIT_BAD_TRUNCATED, 0, err, "log is empty");
    return MS_OK;
}

/* Where the cursor stopped (end of input, or a record it could not parse), for the report. */
typedef struct vstop {
    ms_rc rc;
    ms_err e;
    size_t si, off;
} vstop;

/* Fills up to cap entries; *stop is set when the cursor ends or fails. */
static size_t fill(audit__cursor *c, ventry *w, size_t cap, vstop *stop)
{
    size_t n = 0;
    while (n < cap) {
        ms_err e2 = {0};
        ms_rc rc = audit__cursor_next(c, &w[n].r, &e2);
        if (rc != MS_OK) {
            stop->rc = rc;
            stop->e = e2;
            stop->si = c->si;
            stop->off = c->off;
            break;
        }
        w[n].after = *c;
        n++;
    }
    return n;
}

static ms_rc stopped(vstate *v, const audit__segment *segs, size_t n, const vstop *st, ms_err *err)
{
    if (st->si < n) {
        v->seg = &segs[st->si];
        v->off = st->off;
    }
    if (st->rc == MS_E_NOTFOUND)
        return check_end(v, err);
    /* a torn tail the last signed head covered: acknowledged records are gone, not a crash's
     * unfinished write (the writer refuses to open such a log) */
    if (st->rc == MS_E_TRUNC && st->si + 1 == n && v->in->latest != NULL &&
        v->expected <= v->in->latest->seq)
        return bad(v, AUDIT_BAD_TRUNCATED, v->expected, err,
                   "log truncated: a signed tree head covers %llu records, the log ends in a "
                   "torn record %llu",
                   (unsigned long long)v->in->latest->seq + 1, (unsigned long long)v->expected);
    if (st->rc == MS_E_TRUNC && st->si + 1 == n)
        return bad(v, AUDIT_BAD_TRUNCATED, v->expected, err,
                   "torn record at the end (%s); reopening the log cuts it", st->e.msg);
    return bad(v, AUDIT_BAD_FORMAT, v->expected, err, "unreadable: %s", st->e.msg);
}

/* The window: WINDOW records, or fewer when the input cannot hold that many. */
static size_t window_for(const audit__segment *segs, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n && bytes < (size_t)WINDOW * AUDIT_REC_MIN; i++)
        bytes += segs[i].map.len;
    size_t w = bytes / AUDIT_REC_MIN + 1;
    return w < WINDOW ? w : WINDOW;
}

static ms_rc walk(vstate *v, const audit__segment *segs, size_t n, ms_err *err)
{
    size_t cap = window_for(segs, n);
    ventry *w = ms_calloc(NULL, cap, sizeof *w);
    if (w == NULL)
        return ms_fail(err, MS_E_NOMEM, "verifier window");
    audit__cursor c = {segs, n, 0, 0};
    vstop st = {MS_OK, {0}, 0, 0};
    ms_rc rc = MS_OK;
    while (rc == MS_OK && st.rc == MS_OK) {
        size_t k = fill(&c, w, cap, &st);
        digest_all(w, k);
        for (size_t i = 0; rc == MS_OK && i < k; i++) {
            v->seg = &segs[w[i].after.si];
            v->off = (size_t)(w[i].r.raw - segs[w[i].after.si].map.p);
            rc = check_record(v, &w[i], err);
        }
    }
    if (rc == MS_OK)
        rc = stopped(v, segs, n, &st, err);
    ms_free(NULL, w);
    return rc;
}

ms_rc audit__verify_segments(const audit__segment *segs, size_t n, const audit__vin *in,
                             audit_verify_report *rep, ms_err *err)
{
    memset(rep, 0, sizeof *rep);
    vstate *v = ms_malloc(NULL, sizeof *v); /* holds a key: wiped on free */
    if (v == NULL)
        return ms_fail(err, MS_E_NOMEM, "verifier state");
    v->in = in;
    v->rep = rep;
    ms_rc rc = audit__sha_init(&v->sha, err);
    if (rc == MS_OK && (rc = audit__hmac_init(&v->hmac, &v->sha, err)) == MS_OK) {
        if (in->initial_key != NULL) {
            memcpy(v->key, in->initial_key, 32);
            v->have_key = 1;
            rc = audit__hmac_key(&v->hmac, v->key, err);
        }
        if (rc == MS_OK)
            rc = walk(v, segs, n, err);
        audit__hmac_free(&v->hmac);
    }
    if (v->sha.ready)
        audit__sha_free(&v->sha);
    ms_free(NULL, v);
    return rc;
}

ms_rc audit_verify(const char *audit_dir, const uint8_t pubkey[32], const uint8_t *initial_key,
                   uint64_t min_size, audit_verify_report *rep, ms_err *err)
{
    if (audit_dir == NULL || pubkey == NULL || rep == NULL)
        return ms_fail(err, MS_E_INVAL, "audit_verify: missing argument");
    char *dir = audit__dir_resolve(audit_dir);
    if (dir == NULL)
        return ms_fail(err, MS_E_NOMEM, "path");
    audit__segments segs = {0};
    audit__scan_sth latest;
    audit__vin in = {pubkey, initial_key, min_size, NULL};
    if (audit__sth_latest_read(dir, &latest, NULL) == MS_OK)
        in.latest = &latest;
    ms_rc rc = audit__segments_open(dir, &segs, err);
    ms_free(NULL, dir);
    if (rc == MS_OK)
        rc = audit__verify_segments(segs.v, segs.n, &in, rep, err);
    audit__segments_close(&segs);
    return rc;
}

static ms_rc state_problem(audit_verify_report *rep, audit_problem p, uint64_t seq, ms_err *err,
                           const char *msg)
{
    rep->problem = p;
    rep->bad_seq = seq;
    return ms_fail(err, MS_E_VERIFY, "key state: %s", msg);
}

/* The sealed key state against the log: same epoch, and the key derived from the initial key. */
static ms_rc check_state(const char *dir, const uint8_t master[MS_KEY_LEN],
                         const uint8_t *initial_key, audit_verify_report *rep, ms_err *err)
{
    audit__mac_state st;
    ms_rc rc = audit__mac_state_read(dir, master, &st, err);
    if (rc != MS_OK)
        return rc;
    uint32_t last = rep->epochs ? rep->epochs - 1 : 0;
    if (st.epoch > last)
        rc = state_problem(rep, AUDIT_BAD_TRUNCATED, rep->records, err,
                           "the writer is in a later epoch than the log's last: epochs were cut");
    else if (st.epoch < last)
        rc = state_problem(rep, AUDIT_BAD_EPOCH, rep->records, err,
                           "the writer is in an earlier epoch than the log (rolled back)");
    uint8_t k[32];
    if (rc == MS_OK && initial_key != NULL) {
        memcpy(k, initial_key, 32);
        for (uint32_t e = 1; rc == MS_OK && e <= st.epoch; e++)
            rc = audit__epoch_next(k, e, k, err);
        if (rc == MS_OK && !ms_ct_equal(k, st.key, 32))
            rc = state_problem(rep, AUDIT_BAD_EPOCH, rep->records, err,
                               "the MAC key does not derive from the initial key (replaced)");
    }
    ms_memzero(k, sizeof k);
    ms_memzero(&st, sizeof st);
    return rc;
}

ms_rc audit_verify_state(const char *state_dir, const uint8_t master_key[MS_KEY_LEN],
                         const uint8_t pubkey[32], const uint8_t *initial_key, uint64_t min_size,
                         audit_verify_report *rep, ms_err *err)
{
    if (state_dir == NULL || master_key == NULL || pubkey == NULL || rep == NULL)
        return ms_fail(err, MS_E_INVAL, "audit_verify_state: missing argument");
    char *dir = audit__path(state_dir, "audit");
    if (dir == NULL)
        return ms_fail(err, MS_E_NOMEM, "path");
    ms_rc rc = audit_verify(dir, pubkey, initial_key, min_size, rep, err);
    if (rc == MS_OK)
        rc = check_state(dir, master_key, initial_key, rep, err);
    ms_free(NULL, dir);
    return rc;
}

/* ---- collecting leaves for proofs -------------------------------------------------------------
 */

static ms_rc push_sth(audit__scan_sth **v, size_t *n, const audit__rec *r, ms_err *err)
{
    if ((*n & (*n - 1)) == 0 || *n == 0) { /* grow at powers of two */
        size_t cap = *n ? *n * 2 : 4;
        void *nv = ms_realloc(NULL, *v, cap * sizeof **v);
        if (nv == NULL)
            return ms_fail(err, MS_E_NOMEM, "tree heads");
        *v = nv;
    }
    audit__scan_sth *s = &(*v)[(*n)++];
    s->seq = r->seq;
    s->size = ms_load_u64le(r->body);
    s->time_ns = ms_load_u64le(r->body + 8);
    memcpy(s->root, r->body + 16, 32);
    memcpy(s->sig, r->body + 48, 64);
    return MS_OK;
}

static ms_rc grow_leaves(uint8_t (**lv)[32], uint64_t n, ms_err *err)
{
    if (n != 0 && (n & (n - 1)) != 0)
        return MS_OK;
    size_t cap = n ? (size_t)n * 2 : 1024;
    void *nv = ms_realloc(NULL, *lv, cap * 32);
    if (nv == NULL)
        return ms_fail(err, MS_E_NOMEM, "leaf hashes");
    *lv = nv;
    return MS_OK;
}

ms_rc audit__collect(const char *dir, uint8_t (**leaves)[32], uint64_t *n_leaves,
                     audit__scan_sth **sths, size_t *n_sths, ms_err *err)
{
    audit__segments segs = {0};
    audit__sha sha = {0};
    uint8_t(*lv)[32] = NULL;
    audit__scan_sth *sv = NULL;
    uint64_t n = 0;
    size_t ns = 0;
    ms_rc rc = audit__segments_open(dir, &segs, err);
    if (rc == MS_OK)
        rc = audit__sha_init(&sha, err);
    audit__cursor c = {segs.v, segs.n, 0, 0};
    audit__rec r;
    while (rc == MS_OK && audit__cursor_next(&c, &r, NULL) == MS_OK && r.seq == n) {
        if ((rc = grow_leaves(&lv, n, err)) != MS_OK)
            break;
        audit__rec_leaf(&sha, r.raw, r.len, lv[n]);
        if (n > 0 && !ms_ct_equal(r.prev, lv[n - 1], 32))
            break; /* proofs cover the intact prefix; `verify` reports the break */
        n++;
        if (r.kind == AUDIT_K_TREE_HEAD)
            rc = push_sth(&sv, &ns, &r, err);
    }
    if (sha.ready)
        audit__sha_free(&sha);
    audit__segments_close(&segs);
    if (rc != MS_OK) {
        ms_free(NULL, lv);
        ms_free(NULL, sv);
        return rc;
    }
    *leaves = lv;
    *n_leaves = n;
    *sths = sv;
    *n_sths = ns;
    return MS_OK;
}

/* ---- heads published elsewhere -------------------------------------------------------------- */

static ms_rc head_problem(audit_verify_report *rep, audit_problem p, uint64_t size)
{
    rep->problem = p;
    rep->bad_seq = size;
    return MS_E_VERIFY;
}

ms_rc audit_verify_heads(const char *audit_dir, const uint8_t pubkey[32], const audit_head *heads,
                         size_t n_heads, audit_verify_report *rep, ms_err *err)
{
    if (audit_dir == NULL || pubkey == NULL || rep == NULL || (heads == NULL && n_heads > 0))
        return ms_fail(err, MS_E_INVAL, "audit_verify_heads: missing argument");
    memset(rep, 0, sizeof *rep);
    char *dir = audit__dir_resolve(audit_dir);
    if (dir == NULL)
        return ms_fail(err, MS_E_NOMEM, "path");
    uint8_t(*lv)[32] = NULL;
    audit__scan_sth *sv = NULL;
    uint64_t n = 0;
    size_t ns = 0;
    ms_rc rc = audit__collect(dir, &lv, &n, &sv, &ns, err);
    ms_free(NULL, dir);
    ms_free(NULL, lv);
    if (rc != MS_OK)
        return rc;
    rep->records = n;
    rep->tree_heads = ns;
    rep->last_sth_size = ns ? sv[ns - 1].size : 0;
    for (size_t i = 0; rc == MS_OK && i < n_heads; i++) {
        const audit_head *h = &heads[i];
        if (!audit__sth_verify(pubkey, h->size, h->time_ns, h->root, h->sig)) {
            rc = head_problem(rep, AUDIT_BAD_TREE_HEAD, h->size);
            ms_fail(err, rc, "the published head at seq %llu: bad signature",
                    (unsigned long long)h->size);
            break;
        }
        if (n <= h->size) {
            rc = head_problem(rep, AUDIT_BAD_TRUNCATED, h->size);
            ms_fail(err, rc, "the published head at seq %llu needs %llu records, the log has %llu",
                    (unsigned long long)h->size, (unsigned long long)h->size + 1,
                    (unsigned long long)n);
            break;
        }
        /* the log's tree heads are in seq order: binary search for seq == size */
        size_t lo = 0, hi = ns;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (sv[mid].seq < h->size)
                lo = mid + 1;
            else
                hi = mid;
        }
        const audit__scan_sth *found = lo < ns && sv[lo].seq == h->size ? &sv[lo] : NULL;
        if (found == NULL || found->size != h->size || !ms_ct_equal(found->root, h->root, 32)) {
            rc = head_problem(rep, AUDIT_BAD_TREE_HEAD, h->size);
            ms_fail(err, rc, "the log's head at seq %llu differs from the published one",
                    (unsigned long long)h->size);
        }
    }
    ms_free(NULL, sv);
    return rc;
}

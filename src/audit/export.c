/*
 * Export: decrypted JSON lines of the records (one object per record: seq, time, kind, epoch,
 * hash, and the event payload's members), for the auditor role. Reads the segments in order and
 * stops at the first record that does not continue the sequence (run `verify` for why).
 * Trusts: the master key (GCM authenticates every payload with its header as AAD).
 * Owns: the lines it builds (wiped after each callback).
 */
#include <string.h>

#include "log.h"
#include "medseal/seal.h"

ms_rc audit__export_dir(const char *dir, audit__gcm *gcm, uint64_t from_seq, uint64_t max,
                        audit_line_fn fn, void *ud, ms_err *err)
{
    audit__segments segs = {0};
    audit__sha sha = {0};
    ms_rc rc = audit__segments_open(dir, &segs, err);
    if (rc == MS_OK)
        rc = audit__sha_init(&sha, err);
    audit__cursor c = {segs.v, segs.n, 0, 0};
    audit__rec r;
    ms_buf line;
    ms_buf_init(&line, NULL, 0);
    uint64_t want = 0, sent = 0;
    while (rc == MS_OK && (max == 0 || sent < max) && audit__cursor_next(&c, &r, NULL) == MS_OK &&
           r.seq == want) {
        want++;
        if (r.seq < from_seq)
            continue;
        uint8_t leaf[32];
        audit__rec_leaf(&sha, r.raw, r.len, leaf);
        ms_buf_reset(&line);
        rc = audit__export_line(&r, leaf, gcm, &line, err);
        if (rc == MS_OK && fn(ud, (const char *)line.p, line.len) != 0)
            break;
        sent++;
    }
    ms_buf_free(&line);
    if (sha.ready)
        audit__sha_free(&sha);
    audit__segments_close(&segs);
    return rc;
}

ms_rc audit_export(const char *state_dir, const uint8_t master_key[MS_KEY_LEN], uint64_t from_seq,
                   uint64_t max, audit_line_fn fn, void *ud, ms_err *err)
{
    if (state_dir == NULL || master_key == NULL || fn == NULL)
        return ms_fail(err, MS_E_INVAL, "audit_export: missing argument");
    char *dir = audit__dir_resolve(state_dir);
    if (dir == NULL)
        return ms_fail(err, MS_E_NOMEM, "path");
    uint8_t k[32];
    audit__gcm gcm = {0};
    ms_rc rc = audit__sealed_read(dir, "log.key", master_key, AUDIT_LABEL_LOG_KEY, k, 32, err);
    if (rc == MS_OK)
        rc = audit__gcm_init(&gcm, k, err);
    ms_memzero(k, sizeof k);
    if (rc == MS_OK)
        rc = audit__export_dir(dir, &gcm, from_seq, max, fn, ud, err);
    audit__gcm_free(&gcm);
    ms_free(NULL, dir);
    return rc;
}

ms_rc audit_log_export(audit_log *l, uint64_t from_seq, uint64_t max, audit_line_fn fn, void *ud,
                       ms_err *err)
{
    if (l == NULL || fn == NULL)
        return ms_fail(err, MS_E_INVAL, "audit_log_export: missing argument");
    ms_rc rc = audit_log_flush(l, err);
    if (rc != MS_OK)
        return rc;
    /* Its own GCM context: the writer's is used under the lock by appenders. */
    uint8_t k[32];
    audit__gcm gcm = {0};
    rc = audit__sealed_read(l->dir, "log.key", l->master, AUDIT_LABEL_LOG_KEY, k, 32, err);
    if (rc == MS_OK)
        rc = audit__gcm_init(&gcm, k, err);
    ms_memzero(k, sizeof k);
    if (rc == MS_OK)
        rc = audit__export_dir(l->dir, &gcm, from_seq, max, fn, ud, err);
    audit__gcm_free(&gcm);
    return rc;
}

/*
 * Issue 15 item 3: a log cut short is detected after a restart. The last segment deleted, the
 * tail cut at a record boundary, or cut in the middle of a record: audit_log_open refuses (before
 * writing anything: sth.latest keeps the head that proves the loss) with a message naming the
 * counts and the recovery command, and `medseal audit verify --state` reports the truncation.
 * With audit_witness, deleting sth.latest as well does not hide it. Trusts: the audit module's
 * public API and the medseal binary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/internal.h"
#include "medseal/audit.h"
#include "test.h"

static const uint8_t MK[MS_KEY_LEN] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                       7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};

static void opts_of(audit_opts *o, const char *witness)
{
    memset(o, 0, sizeof *o);
    o->sync = AUDIT_SYNC_EACH;
    o->segment_bytes = 4096; /* several segments */
    o->witness_path = witness;
}

static int fill(const char *state, const char *witness, int n)
{
    audit_opts o;
    audit_log *l = NULL;
    opts_of(&o, witness);
    if (audit_log_open(state, MK, &o, &l, NULL) != MS_OK)
        return -1;
    int bad = 0;
    for (int i = 0; i < n && !bad; i++) {
        audit_record r;
        memset(&r, 0, sizeof r);
        r.action = "test.append";
        r.outcome = "ok";
        r.status = 200;
        bad = audit_log_append(l, &r, NULL, NULL) != MS_OK;
    }
    bad = bad || audit_log_checkpoint(l, NULL) != MS_OK;
    return audit_log_close(l, NULL) != MS_OK || bad ? -1 : 0;
}

static ms_rc reopen(const char *state, const char *witness, ms_err *err)
{
    audit_opts o;
    audit_log *l = NULL;
    opts_of(&o, witness);
    ms_rc rc = audit_log_open(state, MK, &o, &l, err);
    if (rc == MS_OK)
        audit_log_close(l, NULL);
    return rc;
}

static const char *const DAMAGE[] = {
    "rm \"$last\"",                                   /* the last segment deleted */
    "truncate -s 16 \"$last\"",                       /* cut at a record boundary (its header) */
    "truncate -s $(( $(stat -c %s \"$last\") / 2 + 3 )) \"$last\"", /* cut mid-record */
};

TEST(test_audit_truncation_detected_on_open_and_by_verify)
{
    const char *t = ms_test_tmpdir();
    for (size_t k = 0; k < sizeof DAMAGE / sizeof DAMAGE[0]; k++) {
        char state[600], *before = NULL, *after = NULL, *out = NULL;
        ms_err err = {0};
        snprintf(state, sizeof state, "%s/s%zu", t, k);
        CHECK(fill(state, NULL, 80) == 0);
        CHECK(reopen(state, NULL, &err) == MS_OK); /* intact: opens */
        CHECK(ms_test_sh(&before, "od -An -tx1 %s/audit/sth.latest", state) == 0);
        CHECK(ms_test_sh(NULL, "cd %s/audit && last=$(ls seg-*.log | tail -1) && %s", state,
                         DAMAGE[k]) == 0);
        ms_err_clear(&err);
        CHECK_EQ_INT(reopen(state, NULL, &err), MS_E_VERIFY);
        fprintf(stderr, "  case %zu: %s\n", k, err.msg);
        CHECK(strstr(err.msg, "truncated") != NULL && strstr(err.msg, "sth.latest") != NULL);
        CHECK(strstr(err.msg, "mv STATE/audit/sth.latest") != NULL &&
              strstr(err.msg, "audit verify") != NULL);
        /* nothing was rewritten: the head that proves the loss is still there */
        CHECK(ms_test_sh(&after, "od -An -tx1 %s/audit/sth.latest", state) == 0);
        CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
        /* a second try says the same (the first did not "repair" it) */
        ms_err_clear(&err);
        CHECK_EQ_INT(reopen(state, NULL, &err), MS_E_VERIFY);
        /* audit verify reports it */
        int rc = ms_test_sh(&out, "%s audit verify --state %s 2>&1", ms_test_medseal(), state);
        CHECK(rc != 0);
        if (out == NULL || strstr(out, "truncated") == NULL)
            fprintf(stderr, "  verify said: %s\n", out ? out : "(nothing)");
        CHECK(out != NULL && strstr(out, "truncated") != NULL);
        free(before), free(after), free(out);
        /* the documented recovery: retire the head, then the log opens (and logs the cut) */
        CHECK(ms_test_sh(NULL, "mv %s/audit/sth.latest %s/audit/sth.lost", state, state) == 0);
        ms_err_clear(&err);
        CHECK(reopen(state, NULL, &err) == MS_OK);
    }
    return 0;
}

TEST(test_audit_truncation_witness_survives_deleted_head)
{
    const char *t = ms_test_tmpdir();
    char state[600], witness[600];
    ms_err err = {0};
    snprintf(state, sizeof state, "%s/state", t);
    snprintf(witness, sizeof witness, "%s/witness.sth", t);
    CHECK(fill(state, witness, 80) == 0);
    CHECK(ms_test_sh(NULL, "cmp %s/audit/sth.latest %s", state, witness) == 0);
    /* the attacker cuts the log and deletes sth.latest too */
    CHECK(ms_test_sh(NULL,
                     "cd %s/audit && rm sth.latest && last=$(ls seg-*.log | tail -1) && "
                     "truncate -s 16 \"$last\"",
                     state) == 0);
    CHECK_EQ_INT(reopen(state, witness, &err), MS_E_VERIFY);
    CHECK(strstr(err.msg, "audit_witness") != NULL && strstr(err.msg, "truncated") != NULL);
    /* without the witness configured, that attack is not seen (the threat model says so) */
    ms_err_clear(&err);
    CHECK(reopen(state, NULL, &err) == MS_OK);
    return 0;
}

/*
 * DIMSE unit tests without a network: the PDU codec (A-ASSOCIATE-RQ/AC round trip, negotiation,
 * command sets, PDV fragmentation) and the SCP session state machine fed whole PDUs: C-ECHO,
 * C-STORE reassembled into a Part 10 file the codec reads back, an unknown calling AE refused with
 * A-ASSOCIATE-RJ, and malformed or out-of-place PDUs answered with A-ABORT.
 */
#include <stdlib.h>
#include <string.h>

#include "medseal/dicom.h"
#include "medseal/dimse.h"
#include "test.h"

#define CT_STORAGE "1.2.840.10008.5.1.4.1.1.2"

static void rq_init(dm_assoc *a, const char *calling, const char *called)
{
    memset(a, 0, sizeof *a);
    strcpy(a->calling, calling);
    strcpy(a->called, called);
    a->pc[0].id = 1;
    strcpy(a->pc[0].abstract, DM_VERIFICATION);
    a->pc[0].ts[0] = (uint8_t)dm_ts_index(DCM_TS_IMPLICIT_LE);
    a->pc[0].n_ts = 1;
    a->pc[1].id = 3;
    strcpy(a->pc[1].abstract, CT_STORAGE);
    a->pc[1].ts[0] = (uint8_t)dm_ts_index(DCM_TS_EXPLICIT_LE);
    a->pc[1].ts[1] = (uint8_t)dm_ts_index(DCM_TS_IMPLICIT_LE);
    a->pc[1].n_ts = 2;
    a->pc[2].id = 5;
    strcpy(a->pc[2].abstract, "1.2.840.10008.5.1.4.1.2.1.1"); /* C-FIND, not storage */
    a->pc[2].ts[0] = 1;
    a->pc[2].n_ts = 1;
    a->n_pc = 3;
}

TEST(test_dimse_assoc_roundtrip_and_negotiation)
{
    dm_assoc rq, got, ac;
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    rq_init(&rq, "STORESCU", "MEDSEAL");
    CHECK(dm_assoc_build(DM_PDU_ASSOC_RQ, &rq, 16384, &b, NULL) == MS_OK);
    CHECK_EQ_INT(b.p[0], DM_PDU_ASSOC_RQ);
    CHECK_EQ_INT(ms_load_u32be(b.p + 2), b.len - 6);
    CHECK(dm_assoc_parse(DM_PDU_ASSOC_RQ, b.p + 6, b.len - 6, &got, NULL) == MS_OK);
    CHECK_STR(got.calling, "STORESCU");
    CHECK_STR(got.called, "MEDSEAL");
    CHECK_STR(got.app_ctx, DM_APP_CONTEXT);
    CHECK_EQ_INT(got.max_pdu, 16384);
    CHECK_STR(got.impl_uid, DM_IMPL_UID);
    CHECK_EQ_INT(got.n_pc, 3);
    CHECK_EQ_INT(got.pc[1].n_ts, 2);
    dm_assoc_negotiate(&got);
    CHECK_EQ_INT(got.pc[0].result, DM_PC_ACCEPT);
    CHECK_EQ_INT(got.pc[1].result, DM_PC_ACCEPT);
    CHECK_STR(dm_ts_uid((size_t)got.pc[1].chosen), DCM_TS_EXPLICIT_LE); /* the proposer's first */
    CHECK_EQ_INT(got.pc[2].result, DM_PC_ABSTRACT_NOT_SUPPORTED);
    ms_buf_reset(&b);
    CHECK(dm_assoc_build(DM_PDU_ASSOC_AC, &got, 65536, &b, NULL) == MS_OK);
    CHECK(dm_assoc_parse(DM_PDU_ASSOC_AC, b.p + 6, b.len - 6, &ac, NULL) == MS_OK);
    CHECK_EQ_INT(ac.n_pc, 3);
    CHECK_EQ_INT(ac.pc[2].result, DM_PC_ABSTRACT_NOT_SUPPORTED);
    CHECK_EQ_INT(ac.pc[1].chosen, dm_ts_index(DCM_TS_EXPLICIT_LE));
    CHECK_EQ_INT(ac.max_pdu, 65536);
    ms_buf_free(&b);
    CHECK(dm_sop_is_storage(CT_STORAGE));
    CHECK(dm_sop_is_storage("1.2.840.10008.5.1.4.1.1.88.33"));
    CHECK(dm_sop_is_storage("1.2.840.10008.5.1.4.38.1"));
    CHECK(!dm_sop_is_storage("1.2.840.10008.5.1.4.1.1."));
    CHECK(!dm_sop_is_storage("1.2.840.10008.5.1.4.1.2.1.1"));
    CHECK(!dm_sop_is_storage(DM_VERIFICATION));
    return 0;
}

TEST(test_dimse_assoc_parse_refuses_hostile_lengths)
{
    dm_assoc rq, got;
    ms_buf b;
    ms_err err = {0};
    ms_buf_init(&b, NULL, 0);
    rq_init(&rq, "A", "B");
    CHECK(dm_assoc_build(DM_PDU_ASSOC_RQ, &rq, 16384, &b, NULL) == MS_OK);
    /* every truncation fails cleanly */
    for (size_t n = 0; n < b.len - 6; n++)
        CHECK(dm_assoc_parse(DM_PDU_ASSOC_RQ, b.p + 6, n, &got, &err) != MS_OK);
    /* the first item's length (application context) claims more than the PDU holds */
    uint8_t *item = b.p + 6 + 68;
    CHECK_EQ_INT(item[0], 0x10);
    item[2] = 0xff, item[3] = 0xff;
    ms_err_clear(&err);
    CHECK(dm_assoc_parse(DM_PDU_ASSOC_RQ, b.p + 6, b.len - 6, &got, &err) == MS_E_TRUNC);
    CHECK(strstr(err.msg, "offset") != NULL);
    ms_buf_free(&b);
    return 0;
}

TEST(test_dimse_cmd_and_pdata_roundtrip)
{
    dm_cmd c, got;
    ms_buf b, p;
    ms_buf_init(&b, NULL, 0);
    ms_buf_init(&p, NULL, 0);
    memset(&c, 0, sizeof c);
    c.field = DM_C_STORE_RQ;
    c.msg_id = 7;
    c.ds_type = 1;
    strcpy(c.sop_class, CT_STORAGE);
    strcpy(c.sop_inst, "1.2.3.4.5"); /* odd length: padded */
    CHECK(dm_cmd_build(&c, &b, NULL) == MS_OK);
    CHECK_EQ_INT(ms_load_u32le(b.p + 8), b.len - 12); /* group length */
    CHECK(dm_cmd_parse(b.p, b.len, &got, NULL) == MS_OK);
    CHECK_EQ_INT(got.field, DM_C_STORE_RQ);
    CHECK_EQ_INT(got.msg_id, 7);
    CHECK_STR(got.sop_inst, "1.2.3.4.5");
    CHECK(dm_cmd_parse(b.p, b.len - 1, &got, NULL) == MS_E_TRUNC);
    /* 10000 bytes at max PDU 4096: three PDUs, only the last flagged last */
    uint8_t *data = calloc(1, 10000);
    CHECK(dm_pdata_build(3, 0, data, 10000, 4096, &p, NULL) == MS_OK);
    ms_rd r = {p.p, p.len};
    size_t total = 0, pdus = 0, last = 0;
    while (r.left > 0) {
        const uint8_t *h;
        CHECK(ms_rd_take(&r, 6, &h) == MS_OK);
        uint32_t len = ms_load_u32be(h + 2);
        CHECK(len <= 4096);
        const uint8_t *body;
        CHECK(ms_rd_take(&r, len, &body) == MS_OK);
        ms_rd pr = {body, len};
        dm_pdv v;
        CHECK(dm_pdv_next(&pr, &v, NULL) == MS_OK);
        CHECK_EQ_INT(v.pc_id, 3);
        CHECK(!v.is_command);
        total += v.data.len;
        last += v.is_last;
        pdus++;
    }
    CHECK_EQ_INT(total, 10000);
    CHECK_EQ_INT(pdus, 3);
    CHECK_EQ_INT(last, 1);
    free(data);
    ms_buf_free(&b);
    ms_buf_free(&p);
    return 0;
}

/* ---- the session ------------------------------------------------------------------------------ */

struct rec {
    int assoc_calls, stores, ends, released;
    ms_buf part10;
    char last_event[64];
};

static int t_assoc(void *ud, const char *calling, const char *ip, void **conn_ud)
{
    struct rec *r = ud;
    (void)ip;
    r->assoc_calls++;
    *conn_ud = r;
    return strcmp(calling, "KNOWN") == 0 ? 0 : 3;
}

static uint16_t t_store(void *ud, void *conn_ud, const dm_instance *in)
{
    struct rec *r = ud;
    (void)conn_ud;
    r->stores++;
    ms_buf_reset(&r->part10);
    ms_buf_append(&r->part10, in->part10, in->len, NULL);
    return 0;
}

static void t_end(void *ud, void *conn_ud, int released)
{
    struct rec *r = ud;
    (void)conn_ud;
    r->ends++;
    r->released = released;
}

static void t_log(void *ud, void *conn_ud, const char *ev, const char *detail)
{
    struct rec *r = ud;
    (void)conn_ud, (void)detail;
    strncpy(r->last_event, ev, sizeof r->last_event - 1);
}

static dm_sess *new_sess(struct rec *r)
{
    dm_scp_cfg cfg = {.ae_title = "MEDSEAL",
                      .max_pdu = 16384,
                      .on_assoc = t_assoc,
                      .on_store = t_store,
                      .on_end = t_end,
                      .on_log = t_log,
                      .ud = r};
    dm_sess *s = NULL;
    memset(r, 0, sizeof *r);
    ms_buf_init(&r->part10, NULL, 0);
    if (dm_sess_new(&cfg, "127.0.0.1", &s, NULL) != MS_OK)
        return NULL;
    return s;
}

/* Feeds every PDU in b to the session; returns the last result. */
static int feed(dm_sess *s, const ms_buf *b, ms_buf *out)
{
    ms_rd r = {b->p, b->len};
    int st = DM_SESS_CONTINUE;
    while (r.left >= 6 && st == DM_SESS_CONTINUE) {
        uint8_t type = r.p[0];
        uint32_t len = ms_load_u32be(r.p + 2);
        const uint8_t *body;
        ms_rd_skip(&r, 6);
        if (ms_rd_take(&r, len, &body) != MS_OK)
            return -1;
        st = dm_sess_pdu(s, type, body, len, out);
    }
    return st;
}

static int associate(dm_sess *s, const char *calling, ms_buf *out)
{
    dm_assoc rq;
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    rq_init(&rq, calling, "MEDSEAL");
    dm_assoc_build(DM_PDU_ASSOC_RQ, &rq, 16384, &b, NULL);
    int st = feed(s, &b, out);
    ms_buf_free(&b);
    return st;
}

/* The first PDV of the first PDU in out, parsed as a command. */
static int out_cmd(const ms_buf *out, dm_cmd *c)
{
    if (out->len < 12 || out->p[0] != DM_PDU_PDATA)
        return -1;
    ms_rd r = {out->p + 6, ms_load_u32be(out->p + 2)};
    dm_pdv v;
    if (dm_pdv_next(&r, &v, NULL) != MS_OK || !v.is_command || !v.is_last)
        return -1;
    return dm_cmd_parse(v.data.p, v.data.len, c, NULL) == MS_OK ? 0 : -1;
}

TEST(test_dimse_sess_echo_and_store_to_part10)
{
    struct rec r;
    dm_sess *s = new_sess(&r);
    ms_buf out, msg, cmd;
    ms_buf_init(&out, NULL, 0);
    ms_buf_init(&msg, NULL, 0);
    ms_buf_init(&cmd, NULL, 0);
    CHECK(s != NULL);
    CHECK_EQ_INT(associate(s, "KNOWN", &out), DM_SESS_CONTINUE);
    CHECK_EQ_INT(out.p[0], DM_PDU_ASSOC_AC);
    CHECK(dm_sess_associated(s));
    /* C-ECHO */
    dm_cmd c, rsp;
    memset(&c, 0, sizeof c);
    c.field = DM_C_ECHO_RQ;
    c.msg_id = 1;
    c.ds_type = DM_NO_DATASET;
    strcpy(c.sop_class, DM_VERIFICATION);
    dm_cmd_build(&c, &cmd, NULL);
    dm_pdata_build(1, 1, cmd.p, cmd.len, 16384, &msg, NULL);
    ms_buf_reset(&out);
    CHECK_EQ_INT(feed(s, &msg, &out), DM_SESS_CONTINUE);
    CHECK(out_cmd(&out, &rsp) == 0);
    CHECK_EQ_INT(rsp.field, DM_C_ECHO_RSP);
    CHECK_EQ_INT(rsp.msg_id_rsp, 1);
    CHECK_EQ_INT(rsp.status, 0);
    /* C-STORE of a small explicit-LE data set in two fragments */
    dcm_file *f = NULL;
    ms_buf part;
    ms_buf_init(&part, NULL, 0);
    CHECK(dcm_file_new(NULL, &f, NULL) == MS_OK);
    CHECK(dcm_dataset_set_text(dcm_file_dataset(f), 0x00080016, DCM_VR('U', 'I'), CT_STORAGE,
                               NULL) == MS_OK);
    CHECK(dcm_dataset_set_text(dcm_file_dataset(f), 0x00080018, DCM_VR('U', 'I'), "1.2.3.4",
                               NULL) == MS_OK);
    CHECK(dcm_dataset_set_text(dcm_file_dataset(f), 0x00100020, DCM_VR('L', 'O'), "PID-1",
                               NULL) == MS_OK);
    dcm_write_opts wo = {0};
    CHECK(dcm_file_write_mem(f, &wo, &part, NULL) == MS_OK);
    dcm_file_free(f);
    /* the data set is what follows the meta group in the written file */
    size_t gl = ms_load_u32le(part.p + 132 + 8);
    size_t ds_off = 132 + 12 + gl;
    memset(&c, 0, sizeof c);
    c.field = DM_C_STORE_RQ;
    c.msg_id = 2;
    c.ds_type = 1;
    strcpy(c.sop_class, CT_STORAGE);
    strcpy(c.sop_inst, "1.2.3.4");
    ms_buf_reset(&cmd);
    ms_buf_reset(&msg);
    dm_cmd_build(&c, &cmd, NULL);
    dm_pdata_build(3, 1, cmd.p, cmd.len, 16384, &msg, NULL);
    dm_pdata_build(3, 0, part.p + ds_off, part.len - ds_off, 20, &msg, NULL); /* many PDUs */
    ms_buf_reset(&out);
    CHECK_EQ_INT(feed(s, &msg, &out), DM_SESS_CONTINUE);
    CHECK(out_cmd(&out, &rsp) == 0);
    CHECK_EQ_INT(rsp.field, DM_C_STORE_RSP);
    CHECK_EQ_INT(rsp.status, 0);
    CHECK_STR(rsp.sop_inst, "1.2.3.4");
    CHECK_EQ_INT(r.stores, 1);
    /* what on_store got is a Part 10 file the codec reads, with the negotiated syntax */
    dcm_file *back = NULL;
    ms_buf t;
    ms_buf_init(&t, NULL, 0);
    CHECK(dcm_file_read_mem(r.part10.p, r.part10.len, NULL, &back, NULL) == MS_OK);
    CHECK(dcm_file_has_meta(back));
    CHECK_STR(dcm_file_transfer_syntax(back), DCM_TS_EXPLICIT_LE);
    CHECK(dcm_dataset_text(dcm_file_dataset(back), 0x00100020, &t, NULL) == MS_OK);
    CHECK_STR((const char *)t.p, "PID-1");
    dcm_file_free(back);
    ms_buf_free(&t);
    /* release */
    uint8_t rel[10];
    dm_pdu_short(DM_PDU_RELEASE_RQ, 0, 0, 0, rel);
    ms_buf_reset(&out);
    CHECK_EQ_INT(dm_sess_pdu(s, DM_PDU_RELEASE_RQ, rel + 6, 4, &out), DM_SESS_CLOSE);
    CHECK_EQ_INT(out.p[0], DM_PDU_RELEASE_RP);
    CHECK_EQ_INT(r.ends, 1);
    CHECK_EQ_INT(r.released, 1);
    dm_sess_free(s);
    CHECK_EQ_INT(r.ends, 1); /* not twice */
    ms_buf_free(&part);
    ms_buf_free(&out);
    ms_buf_free(&msg);
    ms_buf_free(&cmd);
    ms_buf_free(&r.part10);
    return 0;
}

TEST(test_dimse_sess_unknown_calling_ae_rejected)
{
    struct rec r;
    dm_sess *s = new_sess(&r);
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    CHECK_EQ_INT(associate(s, "STRANGER", &out), DM_SESS_CLOSE);
    static const uint8_t want[10] = {3, 0, 0, 0, 0, 4, 0, 1, 1, 3}; /* permanent, user, AE */
    CHECK_EQ_INT(out.len, 10);
    CHECK(memcmp(out.p, want, 10) == 0);
    CHECK(!dm_sess_associated(s));
    dm_sess_free(s);
    CHECK_EQ_INT(r.ends, 0);
    /* a wrong called AE title: reason 7 */
    s = new_sess(&r);
    dm_assoc rq;
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    rq_init(&rq, "KNOWN", "OTHER");
    dm_assoc_build(DM_PDU_ASSOC_RQ, &rq, 16384, &b, NULL);
    ms_buf_reset(&out);
    CHECK_EQ_INT(feed(s, &b, &out), DM_SESS_CLOSE);
    CHECK_EQ_INT(out.p[0], DM_PDU_ASSOC_RJ);
    CHECK_EQ_INT(out.p[9], 7);
    CHECK_EQ_INT(r.assoc_calls, 0);
    dm_sess_free(s);
    ms_buf_free(&b);
    ms_buf_free(&out);
    ms_buf_free(&r.part10);
    return 0;
}

TEST(test_dimse_sess_malformed_pdus_abort)
{
    struct rec r;
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    /* P-DATA before an association */
    dm_sess *s = new_sess(&r);
    uint8_t junk[8] = {0, 0, 0, 4, 1, 3, 0, 0};
    CHECK_EQ_INT(dm_sess_pdu(s, DM_PDU_PDATA, junk, sizeof junk, &out), DM_SESS_CLOSE);
    CHECK_EQ_INT(out.len, 10);
    CHECK_EQ_INT(out.p[0], DM_PDU_ABORT);
    CHECK_EQ_INT(out.p[8], 2); /* source: service provider */
    CHECK_EQ_INT(out.p[9], DM_ABORT_UNEXPECTED_PDU);
    dm_sess_free(s);
    /* a garbage A-ASSOCIATE-RQ */
    s = new_sess(&r);
    ms_buf_reset(&out);
    uint8_t rq[80];
    memset(rq, 0x41, sizeof rq);
    CHECK_EQ_INT(dm_sess_pdu(s, DM_PDU_ASSOC_RQ, rq, sizeof rq, &out), DM_SESS_CLOSE);
    CHECK_EQ_INT(out.p[0], DM_PDU_ABORT);
    dm_sess_free(s);
    /* associated: a PDV whose length runs past the PDU, a PDV on a rejected context (5), data
     * before a command, an unknown PDU type */
    static const uint8_t bad[][8] = {{0, 0, 0, 0x40, 1, 3, 0, 0},
                                     {0, 0, 0, 4, 5, 3, 0, 0},
                                     {0, 0, 0, 4, 3, 2, 0, 0}};
    for (size_t i = 0; i < 4; i++) {
        s = new_sess(&r);
        ms_buf_reset(&out);
        CHECK_EQ_INT(associate(s, "KNOWN", &out), DM_SESS_CONTINUE);
        ms_buf_reset(&out);
        int st = i < 3 ? dm_sess_pdu(s, DM_PDU_PDATA, bad[i], 8, &out)
                       : dm_sess_pdu(s, 0x09, bad[0], 4, &out);
        CHECK_EQ_INT(st, DM_SESS_CLOSE);
        CHECK_EQ_INT(out.len, 10);
        CHECK_EQ_INT(out.p[0], DM_PDU_ABORT);
        CHECK_EQ_INT(r.ends, 1);
        CHECK_EQ_INT(r.released, 0);
        CHECK_STR(r.last_event, "abort sent");
        dm_sess_free(s);
    }
    ms_buf_free(&out);
    ms_buf_free(&r.part10);
    return 0;
}

TEST(test_dimse_sess_oversized_dataset_refused_a700)
{
    struct rec r;
    dm_scp_cfg cfg = {.ae_title = "MEDSEAL", .max_object = 100, .on_assoc = t_assoc,
                      .on_store = t_store, .on_end = t_end, .ud = &r};
    dm_sess *s = NULL;
    memset(&r, 0, sizeof r);
    ms_buf_init(&r.part10, NULL, 0);
    CHECK(dm_sess_new(&cfg, "127.0.0.1", &s, NULL) == MS_OK);
    ms_buf out, msg, cmd;
    ms_buf_init(&out, NULL, 0);
    ms_buf_init(&msg, NULL, 0);
    ms_buf_init(&cmd, NULL, 0);
    CHECK_EQ_INT(associate(s, "KNOWN", &out), DM_SESS_CONTINUE);
    dm_cmd c, rsp;
    memset(&c, 0, sizeof c);
    c.field = DM_C_STORE_RQ;
    c.msg_id = 9;
    c.ds_type = 1;
    strcpy(c.sop_class, CT_STORAGE);
    strcpy(c.sop_inst, "1.2.3");
    dm_cmd_build(&c, &cmd, NULL);
    uint8_t big[1000] = {0};
    dm_pdata_build(3, 1, cmd.p, cmd.len, 0, &msg, NULL);
    dm_pdata_build(3, 0, big, sizeof big, 300, &msg, NULL);
    ms_buf_reset(&out);
    CHECK_EQ_INT(feed(s, &msg, &out), DM_SESS_CONTINUE); /* drained, association goes on */
    CHECK(out_cmd(&out, &rsp) == 0);
    CHECK_EQ_INT(rsp.status, 0xA700);
    CHECK_EQ_INT(r.stores, 0);
    dm_sess_free(s);
    ms_buf_free(&out);
    ms_buf_free(&msg);
    ms_buf_free(&cmd);
    ms_buf_free(&r.part10);
    return 0;
}

TEST(test_dimse_parse_target)
{
    char ae[17], host[64];
    uint16_t port = 0;
    CHECK(dm_parse_target("ORTHANC@127.0.0.1:4242", ae, host, sizeof host, &port, NULL) == MS_OK);
    CHECK_STR(ae, "ORTHANC");
    CHECK_STR(host, "127.0.0.1");
    CHECK_EQ_INT(port, 4242);
    CHECK(dm_parse_target("ORTHANC@host", ae, host, sizeof host, &port, NULL) != MS_OK);
    CHECK(dm_parse_target("@h:1", ae, host, sizeof host, &port, NULL) != MS_OK);
    CHECK(dm_parse_target("A@h:0", ae, host, sizeof host, &port, NULL) != MS_OK);
    CHECK(dm_parse_target("ABCDEFGHIJKLMNOPQ@h:1", ae, host, sizeof host, &port, NULL) != MS_OK);
    return 0;
}

/*
 * The SCP side of one association as a state machine over whole PDUs (PS3.8 9.2 acceptor states,
 * reduced to: waiting for A-ASSOCIATE-RQ, associated, closing). Answers C-ECHO; reassembles
 * C-STORE command and data set fragments, wraps the data set in a Part 10 file (meta built here
 * from the command and the negotiated transfer syntax) and hands it to on_store.
 * Trusts: nothing from the peer: a PDU or PDV out of place, a context not accepted, a command set
 * that does not parse gives A-ABORT; a data set over max_object is drained and refused with
 * status A700. Owns: its buffers (from cfg->alloc, wiped on free). No I/O, no timers: the caller
 * (net.c, the fuzz target) feeds PDUs and sends what comes out.
 */
#include <stdio.h>
#include <string.h>

#include "medseal/dimse.h"

#define CMD_MAX  (64u << 10)
#define HEADROOM 512 /* preamble + DICM + the largest meta built below */

enum { S_IDLE = 0, S_ASSOC, S_CLOSING };

struct dm_sess {
    dm_scp_cfg cfg;
    char peer_ip[64];
    int state;
    int ended;    /* on_end called */
    int accepted; /* on_assoc accepted the peer: on_end owes it a call */
    void *conn_ud;
    dm_assoc a;
    ms_buf cmd, data;
    uint8_t cur_pc;  /* context of the message being reassembled (0 none) */
    int have_cmd;    /* a command waits for its data set */
    int overflow;    /* the data set is past max_object: drained, answered A700 */
    dm_cmd rq;
};

ms_rc dm_sess_new(const dm_scp_cfg *cfg, const char *peer_ip, dm_sess **out, ms_err *err)
{
    dm_sess *s = ms_malloc(cfg->alloc, sizeof *s);
    if (s == NULL)
        return ms_fail(err, MS_E_NOMEM, "dimse: out of memory");
    s->cfg = *cfg;
    if (s->cfg.max_pdu == 0)
        s->cfg.max_pdu = DM_PDU_DEFAULT;
    if (s->cfg.max_object == 0)
        s->cfg.max_object = (size_t)64 << 20;
    snprintf(s->peer_ip, sizeof s->peer_ip, "%s", peer_ip ? peer_ip : "");
    ms_buf_init(&s->cmd, cfg->alloc, CMD_MAX);
    ms_buf_init(&s->data, cfg->alloc, s->cfg.max_object + HEADROOM);
    *out = s;
    return MS_OK;
}

static void end(dm_sess *s, int released)
{
    if (!s->ended && s->accepted && s->cfg.on_end)
        s->cfg.on_end(s->cfg.ud, s->conn_ud, released);
    s->ended = 1;
    s->conn_ud = NULL; /* on_end owned it */
}

void dm_sess_free(dm_sess *s)
{
    if (s == NULL)
        return;
    end(s, 0);
    ms_buf_free(&s->cmd);
    ms_buf_free(&s->data);
    ms_free(s->cfg.alloc, s);
}

int dm_sess_associated(const dm_sess *s)
{
    return s->state == S_ASSOC;
}

size_t dm_sess_pdu_limit(const dm_sess *s, uint8_t type)
{
    if (type == DM_PDU_ASSOC_RQ)
        return s->state == S_IDLE ? DM_RQ_MAX : 0;
    if (type == DM_PDU_PDATA)
        return s->state == S_ASSOC ? s->cfg.max_pdu : 0;
    return 4; /* RELEASE-RQ/RP, ABORT (others are refused by type) */
}

static void log_ev(dm_sess *s, const char *ev, const char *detail)
{
    if (s->cfg.on_log)
        s->cfg.on_log(s->cfg.ud, s->conn_ud, ev, detail);
}

static int do_abort(dm_sess *s, uint8_t reason, const char *why, ms_buf *out)
{
    uint8_t p[10];
    dm_pdu_short(DM_PDU_ABORT, 0, 2, reason, p);
    ms_buf_append(out, p, sizeof p, NULL);
    log_ev(s, "abort sent", why);
    end(s, 0);
    s->state = S_CLOSING;
    return DM_SESS_CLOSE;
}

static int reject(dm_sess *s, uint8_t result, uint8_t source, uint8_t reason, const char *why,
                  ms_buf *out)
{
    uint8_t p[10];
    dm_pdu_short(DM_PDU_ASSOC_RJ, result, source, reason, p);
    ms_buf_append(out, p, sizeof p, NULL);
    log_ev(s, "association rejected", why);
    s->state = S_CLOSING;
    return DM_SESS_CLOSE;
}

static int on_rq(dm_sess *s, const uint8_t *body, size_t len, ms_buf *out)
{
    ms_err err = {0};
    char detail[96];
    if (dm_assoc_parse(DM_PDU_ASSOC_RQ, body, len, &s->a, &err) != MS_OK)
        return do_abort(s, err.code == MS_E_TRUNC ? DM_ABORT_INVALID_PARAM
                                                  : DM_ABORT_UNRECOGNIZED_PARAM,
                        err.msg, out);
    if ((s->a.version & 1) == 0)
        return reject(s, 1, 2, 2, "protocol version not supported", out);
    if (strcmp(s->a.app_ctx, DM_APP_CONTEXT) != 0)
        return reject(s, 1, 1, 2, "application context not supported", out);
    if (s->cfg.ae_title && strcmp(s->a.called, s->cfg.ae_title) != 0)
        return reject(s, 1, 1, 7, "called AE title not recognized", out);
    int why = s->cfg.on_assoc ? s->cfg.on_assoc(s->cfg.ud, s->a.calling, s->peer_ip, &s->conn_ud)
                              : 0;
    s->accepted = why == 0;
    if (why != 0)
        return reject(s, why == 2 ? 2 : 1, why == 2 ? 3 : 1, why == 2 ? 1 : (uint8_t)why,
                      why == 2 ? "too many associations" : "calling AE title not recognized",
                      out);
    dm_assoc_negotiate(&s->a);
    size_t ok = 0;
    for (size_t i = 0; i < s->a.n_pc; i++)
        ok += s->a.pc[i].result == DM_PC_ACCEPT;
    if (dm_assoc_build(DM_PDU_ASSOC_AC, &s->a, s->cfg.max_pdu, out, &err) != MS_OK)
        return do_abort(s, DM_ABORT_NOT_SPECIFIED, err.msg, out);
    s->state = S_ASSOC;
    snprintf(detail, sizeof detail, "%zu of %zu presentation contexts accepted", ok, s->a.n_pc);
    log_ev(s, "association accepted", detail);
    return DM_SESS_CONTINUE;
}

static const dm_pc *find_pc(const dm_sess *s, uint8_t id)
{
    for (size_t i = 0; i < s->a.n_pc; i++)
        if (s->a.pc[i].id == id)
            return s->a.pc[i].result == DM_PC_ACCEPT ? &s->a.pc[i] : NULL;
    return NULL;
}

/* Appends the meta group (explicit VR LE) as one element. */
static size_t meta_elem(uint8_t *p, uint16_t e, const char vr[2], const char *v, uint8_t pad)
{
    size_t n = strlen(v), len = n + (n & 1);
    ms_store_u16le(p, 2);
    ms_store_u16le(p + 2, e);
    p[4] = (uint8_t)vr[0];
    p[5] = (uint8_t)vr[1];
    ms_store_u16le(p + 6, (uint16_t)len);
    memcpy(p + 8, v, n);
    if (n & 1)
        p[8 + n] = pad;
    return 8 + len;
}

/* Builds preamble + DICM + meta in the headroom before the data set; returns where the file
 * starts. */
static size_t wrap_part10(dm_sess *s, const dm_pc *pc)
{
    uint8_t m[HEADROOM];
    size_t n = 12;
    memcpy(m + n, "\x02\x00\x01\x00OB\x00\x00\x02\x00\x00\x00\x00\x01", 14);
    n += 14;
    n += meta_elem(m + n, 0x0002, "UI", s->rq.sop_class, 0);
    n += meta_elem(m + n, 0x0003, "UI", s->rq.sop_inst, 0);
    n += meta_elem(m + n, 0x0010, "UI", dm_ts_uid((size_t)pc->chosen), 0);
    n += meta_elem(m + n, 0x0012, "UI", DM_IMPL_UID, 0);
    n += meta_elem(m + n, 0x0013, "SH", DM_IMPL_VERSION, ' ');
    if (s->a.calling[0])
        n += meta_elem(m + n, 0x0016, "AE", s->a.calling, ' ');
    memcpy(m, "\x02\x00\x00\x00UL\x04\x00", 8);
    ms_store_u32le(m + 8, (uint32_t)(n - 12));
    size_t at = HEADROOM - n - 132;
    memset(s->data.p + at, 0, 128);
    memcpy(s->data.p + at + 128, "DICM", 4);
    memcpy(s->data.p + at + 132, m, n);
    return at;
}

static int respond(dm_sess *s, uint8_t pc_id, uint16_t field, uint16_t status, ms_buf *out)
{
    ms_err err = {0};
    dm_cmd r;
    ms_buf b;
    memset(&r, 0, sizeof r);
    r.field = field;
    r.msg_id_rsp = s->rq.msg_id;
    r.ds_type = DM_NO_DATASET;
    r.status = status;
    memcpy(r.sop_class, s->rq.sop_class, sizeof r.sop_class);
    memcpy(r.sop_inst, s->rq.sop_inst, sizeof r.sop_inst);
    ms_buf_init(&b, s->cfg.alloc, CMD_MAX);
    ms_rc rc = dm_cmd_build(&r, &b, &err);
    if (rc == MS_OK)
        rc = dm_pdata_build(pc_id, 1, b.p, b.len, s->a.max_pdu, out, &err);
    ms_buf_free(&b);
    return rc == MS_OK ? DM_SESS_CONTINUE : do_abort(s, DM_ABORT_NOT_SPECIFIED, err.msg, out);
}

static int dispatch(dm_sess *s, const dm_pc *pc, ms_buf *out)
{
    uint16_t st;
    char detail[96];
    switch (s->rq.field) {
    case DM_C_ECHO_RQ:
        log_ev(s, "c-echo", "status 0000");
        return respond(s, pc->id, DM_C_ECHO_RSP, 0x0000, out);
    case DM_C_STORE_RQ:
        if (s->overflow) {
            st = 0xA700;
            log_ev(s, "instance refused", "data set larger than the limit");
        } else if (s->rq.ds_type == DM_NO_DATASET) {
            st = 0xC000;
            log_ev(s, "instance refused", "C-STORE without a data set");
        } else if (strcmp(pc->abstract, s->rq.sop_class) != 0 || !s->rq.sop_inst[0]) {
            st = 0xA900;
            log_ev(s, "instance refused", "SOP class differs from the presentation context");
        } else {
            size_t at = wrap_part10(s, pc);
            dm_instance in = {s->a.calling, s->rq.sop_class, s->rq.sop_inst,
                              dm_ts_uid((size_t)pc->chosen), s->data.p + at, s->data.len - at};
            st = s->cfg.on_store ? s->cfg.on_store(s->cfg.ud, s->conn_ud, &in) : 0x0000;
            if (st != 0x0000) {
                snprintf(detail, sizeof detail, "status %04x", st);
                log_ev(s, "instance refused", detail);
            }
        }
        return respond(s, pc->id, DM_C_STORE_RSP, st, out);
    case DM_C_CANCEL_RQ:
        return DM_SESS_CONTINUE;
    default:
        if (s->rq.field & 0x8000)
            return do_abort(s, DM_ABORT_UNEXPECTED_PARAM, "a response sent to the SCP", out);
        log_ev(s, "operation refused", "not C-ECHO or C-STORE");
        return respond(s, pc->id, (uint16_t)(s->rq.field | 0x8000), 0x0211, out);
    }
}

static void message_reset(dm_sess *s)
{
    ms_buf_reset(&s->cmd);
    ms_buf_reset(&s->data);
    s->cur_pc = 0;
    s->have_cmd = 0;
    s->overflow = 0;
}

static int on_pdv(dm_sess *s, const dm_pdv *v, ms_buf *out)
{
    ms_err err = {0};
    const dm_pc *pc = find_pc(s, v->pc_id);
    if (pc == NULL)
        return do_abort(s, DM_ABORT_INVALID_PARAM, "PDV on a context not accepted", out);
    if (s->cur_pc != 0 && s->cur_pc != v->pc_id)
        return do_abort(s, DM_ABORT_UNEXPECTED_PARAM, "PDV on another context mid-message",
                        out);
    s->cur_pc = v->pc_id;
    if (v->is_command) {
        if (s->have_cmd)
            return do_abort(s, DM_ABORT_UNEXPECTED_PARAM, "command fragment mid data set", out);
        if (ms_buf_append(&s->cmd, v->data.p, v->data.len, &err) != MS_OK)
            return do_abort(s, DM_ABORT_INVALID_PARAM, "command set too long", out);
        if (!v->is_last)
            return DM_SESS_CONTINUE;
        if (dm_cmd_parse(s->cmd.p, s->cmd.len, &s->rq, &err) != MS_OK)
            return do_abort(s, DM_ABORT_INVALID_PARAM, err.msg, out);
        if (s->rq.ds_type != DM_NO_DATASET) {
            s->have_cmd = 1;
            ms_buf_reset(&s->data);
            if (ms_buf_reserve(&s->data, HEADROOM, &err) != MS_OK)
                return do_abort(s, DM_ABORT_NOT_SPECIFIED, "out of memory", out);
            memset(s->data.p, 0, HEADROOM);
            s->data.len = HEADROOM;
            return DM_SESS_CONTINUE;
        }
        int r = dispatch(s, pc, out);
        message_reset(s);
        return r;
    }
    if (!s->have_cmd)
        return do_abort(s, DM_ABORT_UNEXPECTED_PARAM, "data set fragment without a command", out);
    if (!s->overflow && ms_buf_append(&s->data, v->data.p, v->data.len, &err) != MS_OK) {
        s->overflow = 1; /* drained: the rest of the fragments are read and dropped */
        ms_buf_reset(&s->data);
    }
    if (!v->is_last)
        return DM_SESS_CONTINUE;
    int r = dispatch(s, pc, out);
    message_reset(s);
    return r;
}

int dm_sess_pdu(dm_sess *s, uint8_t type, const uint8_t *body, size_t len, ms_buf *out)
{
    ms_err err = {0};
    if (s->state == S_CLOSING)
        return DM_SESS_DROP;
    if (type < DM_PDU_ASSOC_RQ || type > DM_PDU_ABORT)
        return do_abort(s, DM_ABORT_UNRECOGNIZED_PDU, "unknown PDU type", out);
    if (s->state == S_IDLE) {
        if (type == DM_PDU_ABORT) {
            s->state = S_CLOSING;
            return DM_SESS_DROP;
        }
        if (type != DM_PDU_ASSOC_RQ)
            return do_abort(s, DM_ABORT_UNEXPECTED_PDU, "PDU before A-ASSOCIATE-RQ", out);
        return on_rq(s, body, len, out);
    }
    switch (type) {
    case DM_PDU_PDATA: {
        ms_rd r = {body, len};
        dm_pdv v;
        ms_rc rc;
        int any = 0;
        while ((rc = dm_pdv_next(&r, &v, &err)) == MS_OK) {
            any = 1;
            int st = on_pdv(s, &v, out);
            if (st != DM_SESS_CONTINUE)
                return st;
        }
        if (rc != MS_E_NOTFOUND || !any)
            return do_abort(s, DM_ABORT_INVALID_PARAM, any ? err.msg : "P-DATA-TF without a PDV",
                            out);
        return DM_SESS_CONTINUE;
    }
    case DM_PDU_RELEASE_RQ: {
        uint8_t p[10];
        dm_pdu_short(DM_PDU_RELEASE_RP, 0, 0, 0, p);
        if (s->have_cmd || s->cmd.len > 0)
            log_ev(s, "released mid-message", "the unfinished message is dropped");
        log_ev(s, "association released", "");
        end(s, 1);
        ms_buf_append(out, p, sizeof p, NULL);
        s->state = S_CLOSING;
        return DM_SESS_CLOSE;
    }
    case DM_PDU_ABORT:
        log_ev(s, "abort received", "");
        end(s, 0);
        s->state = S_CLOSING;
        return DM_SESS_DROP;
    default:
        return do_abort(s, DM_ABORT_UNEXPECTED_PDU, "unexpected PDU type while associated", out);
    }
}

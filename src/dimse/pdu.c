/*
 * The DICOM upper-layer PDU codec (PS3.8 9.3) and DIMSE command sets (PS3.7 6.3, 9.3): parse and
 * build A-ASSOCIATE-RQ/AC, the 10-byte PDUs (RJ, RELEASE, ABORT), P-DATA-TF PDVs and group-0000
 * command sets in implicit VR little endian. Pure functions, fuzzed (fuzz/dimse).
 * Trusts: nothing in the bytes: every item length is compared with what is left of its parent
 * before use, UIDs and AE titles with their field sizes, counts with DM_MAX_*. Errors name the
 * item type and offset, never a value. Owns: nothing.
 */
#include <string.h>

#include "medseal/dimse.h"

/* ---- transfer syntaxes and SOP classes ------------------------------------------------------ */

/* What the codec can read and store: the uncompressed syntaxes (as sent), deflate (inflated by
 * dcm_file_read under the configured bounds) and the common encapsulated ones (kept as
 * fragments). Order: preference when a context proposes several. */
static const char *const ts_uids[] = {
    "1.2.840.10008.1.2.1",    /* explicit VR little endian */
    "1.2.840.10008.1.2",      /* implicit VR little endian */
    "1.2.840.10008.1.2.2",    /* explicit VR big endian (retired) */
    "1.2.840.10008.1.2.1.99", /* deflated explicit VR little endian */
    "1.2.840.10008.1.2.4.50", /* JPEG baseline */
    "1.2.840.10008.1.2.4.51", /* JPEG extended */
    "1.2.840.10008.1.2.4.57", /* JPEG lossless */
    "1.2.840.10008.1.2.4.70", /* JPEG lossless SV1 */
    "1.2.840.10008.1.2.4.80", /* JPEG-LS lossless */
    "1.2.840.10008.1.2.4.81", /* JPEG-LS near-lossless */
    "1.2.840.10008.1.2.4.90", /* JPEG 2000 lossless */
    "1.2.840.10008.1.2.4.91", /* JPEG 2000 */
    "1.2.840.10008.1.2.4.201", /* HTJ2K lossless */
    "1.2.840.10008.1.2.4.202", /* HTJ2K lossless RPCL */
    "1.2.840.10008.1.2.4.203", /* HTJ2K */
    "1.2.840.10008.1.2.5",    /* RLE lossless */
};
#define N_TS (sizeof ts_uids / sizeof ts_uids[0])

size_t dm_ts_count(void)
{
    return N_TS;
}

const char *dm_ts_uid(size_t i)
{
    return i < N_TS ? ts_uids[i] : NULL;
}

int dm_ts_index(const char *uid)
{
    for (size_t i = 0; i < N_TS; i++)
        if (strcmp(uid, ts_uids[i]) == 0)
            return (int)i;
    return -1;
}

/* Storage SOP classes outside the 1.2.840.10008.5.1.4.1.1 tree (PS3.4 B.5). */
static const char *const storage_other[] = {
    "1.2.840.10008.5.1.4.34.7",  /* RT Beams Delivery Instruction */
    "1.2.840.10008.5.1.4.34.10", /* RT Patient Position Acquisition Instruction */
    "1.2.840.10008.5.1.4.38.1",  /* Hanging Protocol */
    "1.2.840.10008.5.1.4.39.1",  /* Color Palette */
    "1.2.840.10008.5.1.4.43.1",  /* Generic Implant Template */
    "1.2.840.10008.5.1.4.44.1",  /* Implant Assembly Template */
    "1.2.840.10008.5.1.4.45.1",  /* Implant Template Group */
};

int dm_sop_is_storage(const char *uid)
{
    static const char root[] = "1.2.840.10008.5.1.4.1.1.";
    size_t n = sizeof root - 1, len = strlen(uid);
    if (len > n && memcmp(uid, root, n) == 0) {
        for (size_t i = n; i < len; i++)
            if (!((uid[i] >= '0' && uid[i] <= '9') || uid[i] == '.'))
                return 0;
        return uid[len - 1] != '.';
    }
    for (size_t i = 0; i < sizeof storage_other / sizeof storage_other[0]; i++)
        if (strcmp(uid, storage_other[i]) == 0)
            return 1;
    return 0;
}

/* ---- helpers -------------------------------------------------------------------------------- */

/* Copies a UID value (trailing NUL/space padding removed); MS_E_FORMAT when empty, too long or not
 * digits and dots. */
static ms_rc take_uid(const uint8_t *p, size_t n, char out[DM_UID_MAX + 1], const char *what,
                      size_t off, ms_err *err)
{
    while (n > 0 && (p[n - 1] == 0 || p[n - 1] == ' '))
        n--;
    if (n == 0 || n > DM_UID_MAX)
        return ms_fail(err, MS_E_FORMAT, "%s at offset %zu: UID length %zu not in 1..64", what,
                       off, n);
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '.'))
            return ms_fail(err, MS_E_FORMAT, "%s at offset %zu: not a UID", what, off);
    memcpy(out, p, n);
    out[n] = '\0';
    return MS_OK;
}

/* An AE title field (16 bytes, space padded): printable ASCII without backslash. */
static ms_rc take_ae(const uint8_t *p, char out[DM_AE_LEN + 1], const char *what, ms_err *err)
{
    size_t s = 0, n = DM_AE_LEN;
    while (s < n && p[s] == ' ')
        s++;
    while (n > s && (p[n - 1] == ' ' || p[n - 1] == 0))
        n--;
    for (size_t i = s; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e || p[i] == '\\')
            return ms_fail(err, MS_E_FORMAT, "A-ASSOCIATE: %s AE title has a bad character",
                           what);
    memcpy(out, p + s, n - s);
    out[n - s] = '\0';
    return MS_OK;
}

static size_t off_of(const uint8_t *base, const ms_rd *r)
{
    return (size_t)(r->p - base);
}

/* ---- A-ASSOCIATE-RQ / AC -------------------------------------------------------------------- */

static ms_rc parse_pc(uint8_t type, const uint8_t *base, ms_rd *r, dm_assoc *a, ms_err *err)
{
    size_t off = off_of(base, r);
    uint8_t id, res;
    if (ms_rd_u8(r, &id) || ms_rd_skip(r, 1) || ms_rd_u8(r, &res) || ms_rd_skip(r, 1))
        return ms_fail(err, MS_E_TRUNC, "presentation context at offset %zu: truncated", off);
    if ((id & 1) == 0)
        return ms_fail(err, MS_E_FORMAT, "presentation context at offset %zu: even id", off);
    for (size_t i = 0; i < a->n_pc; i++)
        if (a->pc[i].id == id)
            return ms_fail(err, MS_E_FORMAT, "presentation context at offset %zu: duplicate id",
                           off);
    if (a->n_pc == DM_MAX_PCS)
        return ms_fail(err, MS_E_LIMIT, "more than %d presentation contexts", DM_MAX_PCS);
    dm_pc *pc = &a->pc[a->n_pc];
    memset(pc, 0, sizeof *pc);
    pc->id = id;
    pc->chosen = -1;
    pc->result = type == DM_PDU_ASSOC_AC ? res : DM_PC_NO_REASON;
    int n_abs = 0, n_ts = 0;
    while (r->left > 0) {
        size_t soff = off_of(base, r);
        uint8_t st;
        uint16_t sl;
        const uint8_t *v;
        if (ms_rd_u8(r, &st) || ms_rd_skip(r, 1) || ms_rd_u16be(r, &sl) || ms_rd_take(r, sl, &v))
            return ms_fail(err, MS_E_TRUNC, "sub-item at offset %zu: length past its context",
                           soff);
        char uid[DM_UID_MAX + 1];
        if (st == 0x30 && type == DM_PDU_ASSOC_RQ) {
            if (n_abs++ > 0)
                return ms_fail(err, MS_E_FORMAT, "context at offset %zu: two abstract syntaxes",
                               off);
            if (take_uid(v, sl, pc->abstract, "abstract syntax", soff, err))
                return err->code;
        } else if (st == 0x40) {
            if (take_uid(v, sl, uid, "transfer syntax", soff, err))
                return err->code;
            n_ts++;
            int k = dm_ts_index(uid);
            if (type == DM_PDU_ASSOC_AC) {
                if (n_ts > 1)
                    return ms_fail(err, MS_E_FORMAT,
                                   "context at offset %zu: two transfer syntaxes in an AC", off);
                pc->chosen = k;
            } else if (k < 0 || pc->n_ts == DM_MAX_PC_TS) {
                if (pc->n_ts_unknown < 255)
                    pc->n_ts_unknown++;
            } else {
                pc->ts[pc->n_ts++] = (uint8_t)k;
            }
        } else {
            return ms_fail(err, MS_E_FORMAT, "context at offset %zu: unexpected sub-item 0x%02x",
                           soff, st);
        }
    }
    if (type == DM_PDU_ASSOC_RQ && (n_abs != 1 || n_ts == 0))
        return ms_fail(err, MS_E_FORMAT,
                       "context at offset %zu: needs one abstract and a transfer syntax", off);
    if (type == DM_PDU_ASSOC_AC && pc->result == DM_PC_ACCEPT && n_ts != 1)
        return ms_fail(err, MS_E_FORMAT, "accepted context at offset %zu: no transfer syntax",
                       off);
    a->n_pc++;
    return MS_OK;
}

static ms_rc parse_user(const uint8_t *base, ms_rd *r, dm_assoc *a, ms_err *err)
{
    while (r->left > 0) {
        size_t soff = off_of(base, r);
        uint8_t st;
        uint16_t sl;
        const uint8_t *v;
        if (ms_rd_u8(r, &st) || ms_rd_skip(r, 1) || ms_rd_u16be(r, &sl) || ms_rd_take(r, sl, &v))
            return ms_fail(err, MS_E_TRUNC, "user sub-item at offset %zu: length past its item",
                           soff);
        if (st == 0x51) {
            if (sl != 4)
                return ms_fail(err, MS_E_FORMAT, "maximum length at offset %zu: length %u", soff,
                               (unsigned)sl);
            a->max_pdu = ms_load_u32be(v);
        } else if (st == 0x52) {
            if (take_uid(v, sl, a->impl_uid, "implementation class", soff, err))
                return err->code;
        } else if (st == 0x55) {
            size_t n = sl < DM_AE_LEN ? sl : DM_AE_LEN;
            for (size_t i = 0; i < n; i++)
                a->impl_version[i] = v[i] >= 0x20 && v[i] <= 0x7e ? (char)v[i] : '?';
            a->impl_version[n] = '\0';
        }
        /* 0x53 async window, 0x54 role selection, 0x56/0x57 extended negotiation, 0x58 user
         * identity: not negotiated (the defaults apply: one operation, SCU/SCP roles). */
    }
    return MS_OK;
}

ms_rc dm_assoc_parse(uint8_t type, const uint8_t *body, size_t len, dm_assoc *out, ms_err *err)
{
    ms_rd r = {body, len};
    const uint8_t *ae1, *ae2, *res;
    memset(out, 0, sizeof *out);
    if (type != DM_PDU_ASSOC_RQ && type != DM_PDU_ASSOC_AC)
        return ms_fail(err, MS_E_INVAL, "A-ASSOCIATE: PDU type 0x%02x", type);
    if (ms_rd_u16be(&r, &out->version) || ms_rd_skip(&r, 2) || ms_rd_take(&r, 16, &ae1) ||
        ms_rd_take(&r, 16, &ae2) || ms_rd_take(&r, 32, &res))
        return ms_fail(err, MS_E_TRUNC, "A-ASSOCIATE: %zu bytes, shorter than its fixed part",
                       len);
    if (take_ae(ae1, out->called, "called", err) || take_ae(ae2, out->calling, "calling", err))
        return err->code;
    memcpy(out->reserved, res, 32);
    int n_app = 0, n_user = 0;
    while (r.left > 0) {
        size_t off = off_of(body, &r);
        uint8_t it;
        uint16_t il;
        const uint8_t *v;
        if (ms_rd_u8(&r, &it) || ms_rd_skip(&r, 1) || ms_rd_u16be(&r, &il) ||
            ms_rd_take(&r, il, &v))
            return ms_fail(err, MS_E_TRUNC, "item at offset %zu: length past the PDU", off);
        ms_rd sub = {v, il};
        if (it == 0x10) {
            if (n_app++ > 0 || take_uid(v, il, out->app_ctx, "application context", off, err))
                return n_app > 1 ? ms_fail(err, MS_E_FORMAT, "two application contexts")
                                 : err->code;
        } else if ((it == 0x20 && type == DM_PDU_ASSOC_RQ) ||
                   (it == 0x21 && type == DM_PDU_ASSOC_AC)) {
            if (parse_pc(type, body, &sub, out, err))
                return err->code;
        } else if (it == 0x50) {
            if (n_user++ > 0)
                return ms_fail(err, MS_E_FORMAT, "two user information items");
            if (parse_user(body, &sub, out, err))
                return err->code;
        } else {
            return ms_fail(err, MS_E_FORMAT, "item at offset %zu: unexpected type 0x%02x", off,
                           it);
        }
    }
    if (n_app != 1)
        return ms_fail(err, MS_E_FORMAT, "A-ASSOCIATE: no application context");
    if (out->n_pc == 0)
        return ms_fail(err, MS_E_FORMAT, "A-ASSOCIATE: no presentation context");
    if (n_user != 1)
        return ms_fail(err, MS_E_FORMAT, "A-ASSOCIATE: no user information");
    return MS_OK;
}

void dm_assoc_negotiate(dm_assoc *a)
{
    for (size_t i = 0; i < a->n_pc; i++) {
        dm_pc *pc = &a->pc[i];
        pc->chosen = -1;
        if (strcmp(pc->abstract, DM_VERIFICATION) != 0 && !dm_sop_is_storage(pc->abstract)) {
            pc->result = DM_PC_ABSTRACT_NOT_SUPPORTED;
        } else if (pc->n_ts == 0) {
            pc->result = DM_PC_TS_NOT_SUPPORTED;
        } else {
            pc->result = DM_PC_ACCEPT;
            pc->chosen = pc->ts[0];
            if (strcmp(pc->abstract, DM_VERIFICATION) == 0) { /* any uncompressed one */
                pc->chosen = -1;
                for (size_t k = 0; k < pc->n_ts && pc->chosen < 0; k++)
                    if (pc->ts[k] < 3)
                        pc->chosen = pc->ts[k];
                if (pc->chosen < 0)
                    pc->result = DM_PC_TS_NOT_SUPPORTED;
            }
        }
    }
}

static ms_rc put_item(ms_buf *b, uint8_t type, const void *v, size_t n, ms_err *err)
{
    uint8_t h[4] = {type, 0, (uint8_t)(n >> 8), (uint8_t)n};
    if (n > 0xffff)
        return ms_fail(err, MS_E_LIMIT, "item 0x%02x: %zu bytes", type, n);
    if (ms_buf_append(b, h, 4, err) || ms_buf_append(b, v, n, err))
        return err ? err->code : MS_E_NOMEM;
    return MS_OK;
}

static void put_ae(uint8_t *p, const char *ae)
{
    size_t n = strlen(ae);
    memset(p, ' ', DM_AE_LEN);
    memcpy(p, ae, n < DM_AE_LEN ? n : DM_AE_LEN);
}

ms_rc dm_assoc_build(uint8_t type, const dm_assoc *a, uint32_t max_pdu, ms_buf *out, ms_err *err)
{
    uint8_t fixed[6 + 68];
    size_t start = out->len;
    memset(fixed, 0, sizeof fixed);
    fixed[0] = type;
    fixed[7] = 1; /* protocol version 1 */
    put_ae(fixed + 10, a->called);
    put_ae(fixed + 26, a->calling);
    memcpy(fixed + 42, a->reserved, 32);
    if (ms_buf_append(out, fixed, sizeof fixed, err) ||
        put_item(out, 0x10, DM_APP_CONTEXT, strlen(DM_APP_CONTEXT), err))
        return err ? err->code : MS_E_NOMEM;
    for (size_t i = 0; i < a->n_pc; i++) {
        const dm_pc *pc = &a->pc[i];
        uint8_t v[4 + 4 + DM_UID_MAX + DM_MAX_PC_TS * (4 + DM_UID_MAX)];
        size_t n = 0;
        v[n++] = pc->id;
        v[n++] = 0;
        v[n++] = type == DM_PDU_ASSOC_AC ? pc->result : 0;
        v[n++] = 0;
        if (type == DM_PDU_ASSOC_RQ) {
            size_t al = strlen(pc->abstract);
            v[n++] = 0x30, v[n++] = 0, v[n++] = (uint8_t)(al >> 8), v[n++] = (uint8_t)al;
            memcpy(v + n, pc->abstract, al);
            n += al;
        }
        size_t nts = type == DM_PDU_ASSOC_RQ ? pc->n_ts : 1;
        for (size_t k = 0; k < nts; k++) {
            int t = type == DM_PDU_ASSOC_RQ ? pc->ts[k] : pc->chosen;
            const char *u = dm_ts_uid(t < 0 ? 1 : (size_t)t); /* rejected: not significant */
            size_t ul = strlen(u);
            v[n++] = 0x40, v[n++] = 0, v[n++] = (uint8_t)(ul >> 8), v[n++] = (uint8_t)ul;
            memcpy(v + n, u, ul);
            n += ul;
        }
        if (put_item(out, type == DM_PDU_ASSOC_AC ? 0x21 : 0x20, v, n, err))
            return err->code;
    }
    uint8_t u[8 + 4 + DM_UID_MAX + 4 + DM_AE_LEN];
    size_t n = 0, il = strlen(DM_IMPL_UID), vl = strlen(DM_IMPL_VERSION);
    u[n++] = 0x51, u[n++] = 0, u[n++] = 0, u[n++] = 4;
    ms_store_u32be(u + n, max_pdu);
    n += 4;
    u[n++] = 0x52, u[n++] = 0, u[n++] = 0, u[n++] = (uint8_t)il;
    memcpy(u + n, DM_IMPL_UID, il);
    n += il;
    u[n++] = 0x55, u[n++] = 0, u[n++] = 0, u[n++] = (uint8_t)vl;
    memcpy(u + n, DM_IMPL_VERSION, vl);
    n += vl;
    if (put_item(out, 0x50, u, n, err))
        return err->code;
    ms_store_u32be(out->p + start + 2, (uint32_t)(out->len - start - 6));
    return MS_OK;
}

void dm_pdu_short(uint8_t type, uint8_t a, uint8_t b, uint8_t c, uint8_t out[10])
{
    memset(out, 0, 10);
    out[0] = type;
    out[5] = 4;
    out[7] = a;
    out[8] = b;
    out[9] = c;
}

/* ---- P-DATA-TF ------------------------------------------------------------------------------ */

ms_rc dm_pdv_next(ms_rd *r, dm_pdv *out, ms_err *err)
{
    uint32_t il;
    uint8_t id, mch;
    const uint8_t *v;
    if (r->left == 0)
        return MS_E_NOTFOUND;
    if (ms_rd_u32be(r, &il) || il < 2 || il > r->left || ms_rd_u8(r, &id) ||
        ms_rd_u8(r, &mch) || ms_rd_take(r, il - 2, &v))
        return ms_fail(err, MS_E_TRUNC, "P-DATA-TF: PDV length past the PDU");
    if ((id & 1) == 0 || (mch & 0xfc) != 0)
        return ms_fail(err, MS_E_FORMAT, "P-DATA-TF: bad context id or control header");
    out->pc_id = id;
    out->is_command = mch & 1;
    out->is_last = (mch >> 1) & 1;
    out->data = (ms_slice){v, il - 2};
    return MS_OK;
}

ms_rc dm_pdata_build(uint8_t pc_id, int is_command, const uint8_t *p, size_t n, uint32_t max_pdu,
                     ms_buf *out, ms_err *err)
{
    /* A PDU of max_pdu bytes (after its header) holds one PDV: 4 length + 2 header + data. */
    size_t frag = max_pdu == 0 || max_pdu > DM_PDU_LIMIT ? DM_PDU_LIMIT : max_pdu;
    frag = frag > 6 ? frag - 6 : 1;
    size_t done = 0;
    do {
        size_t k = n - done < frag ? n - done : frag;
        uint8_t h[12];
        h[0] = DM_PDU_PDATA;
        h[1] = 0;
        ms_store_u32be(h + 2, (uint32_t)(k + 6));
        ms_store_u32be(h + 6, (uint32_t)(k + 2));
        h[10] = pc_id;
        h[11] = (uint8_t)((is_command ? 1 : 0) | (done + k == n ? 2 : 0));
        if (ms_buf_append(out, h, sizeof h, err) || ms_buf_append(out, p + done, k, err))
            return err ? err->code : MS_E_NOMEM;
        done += k;
    } while (done < n);
    return MS_OK;
}

/* ---- command sets --------------------------------------------------------------------------- */

ms_rc dm_cmd_parse(const uint8_t *p, size_t n, dm_cmd *out, ms_err *err)
{
    ms_rd r = {p, n};
    int have_field = 0;
    memset(out, 0, sizeof *out);
    out->ds_type = DM_NO_DATASET;
    while (r.left > 0) {
        size_t off = n - r.left;
        uint16_t g, e;
        uint32_t len;
        const uint8_t *v;
        if (ms_rd_u16le(&r, &g) || ms_rd_u16le(&r, &e) || ms_rd_u32le(&r, &len) ||
            ms_rd_take(&r, len, &v))
            return ms_fail(err, MS_E_TRUNC, "command set: element at offset %zu past the end",
                           off);
        if (g != 0)
            return ms_fail(err, MS_E_FORMAT, "command set: element (%04x,%04x) not group 0000",
                           g, e);
        uint16_t *us = NULL;
        char *ui = NULL;
        switch (e) {
        case 0x0002: ui = out->sop_class; break;
        case 0x1000: ui = out->sop_inst; break;
        case 0x0100: us = &out->field; have_field = 1; break;
        case 0x0110: us = &out->msg_id; break;
        case 0x0120: us = &out->msg_id_rsp; break;
        case 0x0700: us = &out->priority; break;
        case 0x0800: us = &out->ds_type; break;
        case 0x0900: us = &out->status; out->has_status = 1; break;
        default: break;
        }
        if (us != NULL) {
            if (len != 2)
                return ms_fail(err, MS_E_FORMAT, "command set: (0000,%04x) length %u", e,
                               (unsigned)len);
            *us = ms_load_u16le(v);
        } else if (ui != NULL && take_uid(v, len, ui, "command UID", off, err)) {
            return err->code;
        }
    }
    if (!have_field)
        return ms_fail(err, MS_E_FORMAT, "command set: no (0000,0100) command field");
    return MS_OK;
}

static ms_rc put_elem(ms_buf *b, uint16_t e, const void *v, size_t n, ms_err *err)
{
    uint8_t h[8];
    uint8_t pad = 0;
    size_t len = n + (n & 1);
    ms_store_u16le(h, 0);
    ms_store_u16le(h + 2, e);
    ms_store_u32le(h + 4, (uint32_t)len);
    if (ms_buf_append(b, h, 8, err) || ms_buf_append(b, v, n, err) ||
        ((n & 1) && ms_buf_append(b, &pad, 1, err)))
        return err ? err->code : MS_E_NOMEM;
    return MS_OK;
}

static ms_rc put_us(ms_buf *b, uint16_t e, uint16_t v, ms_err *err)
{
    uint8_t x[2];
    ms_store_u16le(x, v);
    return put_elem(b, e, x, 2, err);
}

ms_rc dm_cmd_build(const dm_cmd *c, ms_buf *out, ms_err *err)
{
    size_t start = out->len;
    uint8_t gl[4] = {0};
    int rsp = (c->field & 0x8000) != 0;
    if (put_elem(out, 0x0000, gl, 4, err) ||
        (c->sop_class[0] && put_elem(out, 0x0002, c->sop_class, strlen(c->sop_class), err)) ||
        put_us(out, 0x0100, c->field, err) ||
        (!rsp && put_us(out, 0x0110, c->msg_id, err)) ||
        (rsp && put_us(out, 0x0120, c->msg_id_rsp, err)) ||
        (c->field == DM_C_STORE_RQ && put_us(out, 0x0700, c->priority, err)) ||
        put_us(out, 0x0800, c->ds_type, err) ||
        (rsp && put_us(out, 0x0900, c->status, err)) ||
        (c->sop_inst[0] && put_elem(out, 0x1000, c->sop_inst, strlen(c->sop_inst), err)))
        return err ? err->code : MS_E_NOMEM;
    ms_store_u32le(out->p + start + 8, (uint32_t)(out->len - start - 12));
    return MS_OK;
}

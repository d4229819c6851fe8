/*
 * Intel TDX quote parser, versions 4 and 5 (Intel DCAP sgx_quote_4.h / sgx_quote_5.h; offsets
 * cross-checked with go-tdx-guest abi/abi.go). Produces borrowed views into the caller's bytes and
 * the JSON of every field.
 *
 * Trusts: nothing; every length is read through ms_rd and compared with what is left before use.
 * Owns: nothing (struct tdx_quote borrows the input).
 */
#include <string.h>

#include "internal.h"

/* Intel's QE vendor id; dcap-qvl rejects any other. */
static const uint8_t INTEL_QE_VENDOR[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                            0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

int att__is_tdx(const uint8_t *q, size_t len)
{
    if (len < TDX_HEADER_LEN)
        return 0;
    uint16_t v = ms_load_u16le(q);
    return (v == 4 || v == 5) && ms_load_u32le(q + 4) == TDX_TEE_TDX;
}

static ms_rc parse_header(ms_rd *r, struct tdx_quote *q, ms_err *err)
{
    if (ms_rd_u16le(r, &q->version) || ms_rd_u16le(r, &q->att_key_type) ||
        ms_rd_u32le(r, &q->tee_type) || ms_rd_skip(r, 4) || ms_rd_take(r, 16, &q->qe_vendor_id) ||
        ms_rd_take(r, 20, &q->user_data))
        return ms_fail(err, MS_E_TRUNC, "TDX quote: header truncated at 48 bytes");
    if (q->version != 4 && q->version != 5)
        return ms_fail(err, MS_E_UNSUPPORTED, "TDX quote: version %u (want 4 or 5)", q->version);
    if (q->att_key_type != TDX_AK_ECDSA_P256)
        return ms_fail(err, MS_E_UNSUPPORTED, "TDX quote: attestation key type %u (want 2)",
                       q->att_key_type);
    if (q->tee_type != TDX_TEE_TDX)
        return ms_fail(err, MS_E_UNSUPPORTED, "TDX quote: tee_type 0x%x (want 0x81)",
                       (unsigned)q->tee_type);
    if (memcmp(q->qe_vendor_id, INTEL_QE_VENDOR, 16) != 0)
        return ms_fail(err, MS_E_VERIFY, "TDX quote: QE vendor id is not Intel's");
    return MS_OK;
}

static ms_rc parse_body_kind(ms_rd *r, struct tdx_quote *q, ms_err *err)
{
    if (q->version == 4) {
        q->body_type = 2;
        q->body_size = TDX_BODY10_LEN;
        return MS_OK;
    }
    if (ms_rd_u16le(r, &q->body_type) || ms_rd_u32le(r, &q->body_size))
        return ms_fail(err, MS_E_TRUNC, "TDX quote v5: body descriptor truncated at offset 48");
    if (q->body_type == 2 && q->body_size == TDX_BODY10_LEN)
        return MS_OK;
    if (q->body_type == 3 && q->body_size == TDX_BODY15_LEN)
        return MS_OK;
    if (q->body_type == 1)
        return ms_fail(err, MS_E_UNSUPPORTED, "TDX quote v5: SGX body (type 1) is not a TD");
    return ms_fail(err, MS_E_FORMAT, "TDX quote v5: body type %u with size %u", q->body_type,
                   (unsigned)q->body_size);
}

static void body_fields(struct tdx_quote *q)
{
    const uint8_t *b = q->body; /* sgx_report2_body_t offsets */
    q->tee_tcb_svn = b;
    q->mrseam = b + 0x10;
    q->mrsignerseam = b + 0x40;
    q->seam_attributes = b + 0x70;
    q->td_attributes = b + 0x78;
    q->xfam = b + 0x80;
    q->mrtd = b + 0x88;
    q->mrconfigid = b + 0xB8;
    q->mrowner = b + 0xE8;
    q->mrownerconfig = b + 0x118;
    for (int i = 0; i < 4; i++)
        q->rtmr[i] = b + 0x148 + 48 * i;
    q->report_data = b + 0x208;
    if (q->body_type == 3) {
        q->tee_tcb_svn2 = b + TDX_BODY10_LEN;
        q->mrservicetd = b + TDX_BODY10_LEN + 16;
    }
}

/* The QE report certification data (type 6): QE report, its signature, auth data, then the
 * nested type-5 PCK chain. */
static ms_rc parse_qe_cert(ms_rd *r, struct tdx_quote *q, ms_err *err)
{
    uint16_t auth_len;
    if (ms_rd_take(r, TDX_QE_REPORT_LEN, &q->qe_report) || ms_rd_take(r, 64, &q->qe_report_sig))
        return ms_fail(err, MS_E_TRUNC, "TDX quote: QE report truncated");
    if (ms_rd_u16le(r, &auth_len) || ms_rd_take(r, auth_len, &q->qe_auth.p))
        return ms_fail(err, MS_E_TRUNC, "TDX quote: QE auth data truncated");
    q->qe_auth.len = auth_len;
    if (ms_rd_u16le(r, &q->pck_type) || ms_rd_u32le(r, &q->cert_size))
        return ms_fail(err, MS_E_TRUNC, "TDX quote: PCK certification header truncated");
    if (q->pck_type != TDX_CERT_PCK_CHAIN)
        return ms_fail(err, MS_E_UNSUPPORTED, "TDX quote: inner certification type %u (want 5)",
                       q->pck_type);
    if (q->cert_size > TDX_MAX_CERT_DATA)
        return ms_fail(err, MS_E_LIMIT, "TDX quote: PCK chain of %u bytes over limit",
                       (unsigned)q->cert_size);
    if (ms_rd_take(r, q->cert_size, &q->pck_chain.p))
        return ms_fail(err, MS_E_TRUNC, "TDX quote: PCK chain truncated");
    q->pck_chain.len = q->cert_size;
    return MS_OK;
}

static ms_rc parse_sig_data(ms_rd *r, struct tdx_quote *q, ms_err *err)
{
    uint32_t outer;
    if (ms_rd_u32le(r, &q->sig_data_len))
        return ms_fail(err, MS_E_TRUNC, "TDX quote: signature data length truncated");
    if (q->sig_data_len > r->left)
        return ms_fail(err, MS_E_TRUNC, "TDX quote: signature data of %u bytes, %zu left",
                       (unsigned)q->sig_data_len, r->left);
    ms_rd s = {r->p, q->sig_data_len};
    q->trailing = r->left - q->sig_data_len;
    if (ms_rd_take(&s, 64, &q->signature) || ms_rd_take(&s, 64, &q->attest_key) ||
        ms_rd_u16le(&s, &q->cert_type) || ms_rd_u32le(&s, &outer))
        return ms_fail(err, MS_E_TRUNC, "TDX quote: signature data truncated");
    if (q->cert_type != TDX_CERT_QE_REPORT)
        return ms_fail(err, MS_E_UNSUPPORTED, "TDX quote: certification type %u (want 6)",
                       q->cert_type);
    if (outer > s.left)
        return ms_fail(err, MS_E_TRUNC, "TDX quote: QE certification data truncated");
    ms_rd c = {s.p, outer};
    return parse_qe_cert(&c, q, err);
}

ms_rc att__tdx_parse(const uint8_t *in, size_t len, struct tdx_quote *out, ms_err *err)
{
    struct tdx_quote q;
    memset(&q, 0, sizeof q);
    ms_rd r = {in, len};
    ms_rc rc = parse_header(&r, &q, err);
    if (rc == MS_OK)
        rc = parse_body_kind(&r, &q, err);
    if (rc != MS_OK)
        return rc;
    if (ms_rd_take(&r, q.body_size, &q.body))
        return ms_fail(err, MS_E_TRUNC, "TDX quote: report body truncated (%zu of %u bytes)",
                       r.left, (unsigned)q.body_size);
    body_fields(&q);
    q.signed_part.p = in;
    q.signed_part.len = len - r.left;
    rc = parse_sig_data(&r, &q, err);
    if (rc != MS_OK)
        return rc;
    *out = q;
    return MS_OK;
}

static const char *body_name(uint16_t t)
{
    return t == 3 ? "TD report (TDX 1.5)" : "TD report (TDX 1.0)";
}

static int header_fields(const struct tdx_quote *q, json_t *o)
{
    return json_object_set_new(o, "version", json_integer(q->version)) == 0 &&
           json_object_set_new(o, "att_key_type", json_integer(q->att_key_type)) == 0 &&
           json_object_set_new(o, "tee_type", json_integer(q->tee_type)) == 0 &&
           att__json_hex(o, "qe_vendor_id", q->qe_vendor_id, 16) &&
           att__json_hex(o, "user_data", q->user_data, 20) &&
           json_object_set_new(o, "body_type", json_integer(q->body_type)) == 0 &&
           json_object_set_new(o, "body_name", json_string(body_name(q->body_type))) == 0 &&
           json_object_set_new(o, "body_size", json_integer(q->body_size)) == 0;
}

static int body_json(const struct tdx_quote *q, json_t *o)
{
    static const char *const rtmr[4] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
    int ok = att__json_hex(o, "tee_tcb_svn", q->tee_tcb_svn, 16) &&
             att__json_hex(o, "mr_seam", q->mrseam, 48) &&
             att__json_hex(o, "mr_signer_seam", q->mrsignerseam, 48) &&
             att__json_hex(o, "seam_attributes", q->seam_attributes, 8) &&
             att__json_hex(o, "td_attributes", q->td_attributes, 8) &&
             att__json_hex(o, "xfam", q->xfam, 8) && att__json_hex(o, "mr_td", q->mrtd, 48) &&
             att__json_hex(o, "mr_config_id", q->mrconfigid, 48) &&
             att__json_hex(o, "mr_owner", q->mrowner, 48) &&
             att__json_hex(o, "mr_owner_config", q->mrownerconfig, 48) &&
             att__json_hex(o, "report_data", q->report_data, 64);
    for (int i = 0; ok && i < 4; i++)
        ok = att__json_hex(o, rtmr[i], q->rtmr[i], 48);
    if (ok && q->tee_tcb_svn2 != NULL)
        ok = att__json_hex(o, "tee_tcb_svn2", q->tee_tcb_svn2, 16) &&
             att__json_hex(o, "mr_service_td", q->mrservicetd, 48);
    uint8_t a0 = q->td_attributes[0], a3 = q->td_attributes[3];
    return ok && json_object_set_new(o, "td_debug", json_boolean(a0 & 1)) == 0 &&
           json_object_set_new(o, "td_sept_ve_disable", json_boolean((a3 >> 4) & 1)) == 0;
}

static int qe_json(const struct tdx_quote *q, json_t *o)
{
    const uint8_t *r = q->qe_report;
    return att__json_hex(o, "cpu_svn", r, 16) &&
           json_object_set_new(o, "miscselect", json_integer(ms_load_u32le(r + 16))) == 0 &&
           att__json_hex(o, "attributes", r + 48, 16) &&
           att__json_hex(o, "mr_enclave", r + 64, 32) &&
           att__json_hex(o, "mr_signer", r + 128, 32) &&
           json_object_set_new(o, "isv_prod_id", json_integer(ms_load_u16le(r + 256))) == 0 &&
           json_object_set_new(o, "isv_svn", json_integer(ms_load_u16le(r + 258))) == 0 &&
           att__json_hex(o, "report_data", r + 320, 64) &&
           att__json_hex(o, "signature", q->qe_report_sig, 64) &&
           json_object_set_new(o, "auth_data_size", json_integer((json_int_t)q->qe_auth.len)) ==
               0 &&
           att__json_hex(o, "auth_data", q->qe_auth.p, q->qe_auth.len > 256 ? 0 : q->qe_auth.len);
}

static int sig_json(const struct tdx_quote *q, json_t *o)
{
    return json_object_set_new(o, "signed_length", json_integer((json_int_t)q->signed_part.len)) ==
               0 &&
           json_object_set_new(o, "signature_data_len", json_integer(q->sig_data_len)) == 0 &&
           att__json_hex(o, "signature", q->signature, 64) &&
           att__json_hex(o, "attestation_key", q->attest_key, 64) &&
           json_object_set_new(o, "cert_data_type", json_integer(q->cert_type)) == 0 &&
           json_object_set_new(o, "pck_cert_chain_type", json_integer(q->pck_type)) == 0 &&
           json_object_set_new(o, "pck_cert_chain_size", json_integer(q->cert_size)) == 0 &&
           json_object_set_new(o, "trailing_bytes", json_integer((json_int_t)q->trailing)) == 0;
}

ms_rc att__tdx_fields(const struct tdx_quote *q, json_t *obj, ms_err *err)
{
    json_t *h = json_object(), *b = json_object(), *qe = json_object(), *s = json_object();
    int ok = h != NULL && b != NULL && qe != NULL && s != NULL && header_fields(q, h) &&
             body_json(q, b) && qe_json(q, qe) && sig_json(q, s);
    if (ok)
        ok = json_object_set_new(obj, "header", h) == 0 &&
             json_object_set_new(obj, "td_report", b) == 0 &&
             json_object_set_new(obj, "qe_report", qe) == 0 &&
             json_object_set_new(obj, "signature_data", s) == 0;
    else {
        json_decref(h);
        json_decref(b);
        json_decref(qe);
        json_decref(s);
    }
    return ok ? MS_OK : ms_fail(err, MS_E_NOMEM, "out of memory building quote JSON");
}

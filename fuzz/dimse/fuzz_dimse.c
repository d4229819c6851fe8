/*
 * libFuzzer target for the DICOM upper layer: the first byte selects what the rest is fed to:
 * 0 an SCP session (dm_sess) fed the input as a stream of PDUs (type, reserved, u32 length, body),
 * 1 dm_assoc_parse as an A-ASSOCIATE-RQ body, 2 as an -AC body, 3 dm_cmd_parse, 4 dm_pdv_next
 * over a P-DATA-TF body. Invariants: no crash, no leak, every error has a message, what the
 * session sends back is a sequence of whole PDUs of known types, an instance handed to on_store
 * is a Part 10 file (DICM at 128). Trusts: nothing. Owns: what it allocates, freed before
 * returning.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medseal/dimse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int f_assoc(void *ud, const char *calling, const char *ip, void **conn_ud)
{
    (void)ud, (void)ip;
    *conn_ud = NULL;
    return calling[0] == 'X' ? 3 : 0;
}

static uint16_t f_store(void *ud, void *conn_ud, const dm_instance *in)
{
    (void)ud, (void)conn_ud;
    if (in->len < 132 || memcmp(in->part10 + 128, "DICM", 4) != 0)
        abort();
    return in->len & 1 ? 0xC000 : 0;
}

static void check_out(const ms_buf *out)
{
    ms_rd r = {out->p, out->len};
    while (r.left > 0) {
        const uint8_t *h, *b;
        if (ms_rd_take(&r, 6, &h) != MS_OK || h[0] < 1 || h[0] > 7 ||
            ms_rd_take(&r, ms_load_u32be(h + 2), &b) != MS_OK)
            abort();
    }
}

static void run_session(const uint8_t *p, size_t n)
{
    dm_scp_cfg cfg = {.ae_title = "MEDSEAL", .max_pdu = 16384, .max_object = 1u << 20,
                      .on_assoc = f_assoc, .on_store = f_store};
    dm_sess *s = NULL;
    ms_buf out;
    if (dm_sess_new(&cfg, "127.0.0.1", &s, NULL) != MS_OK)
        return;
    ms_buf_init(&out, NULL, 0);
    ms_rd r = {p, n};
    int st = DM_SESS_CONTINUE;
    while (st == DM_SESS_CONTINUE && r.left >= 6) {
        uint8_t type = r.p[0];
        uint32_t len = ms_load_u32be(r.p + 2);
        const uint8_t *body;
        ms_rd_skip(&r, 6);
        if (len > dm_sess_pdu_limit(s, type) || len > r.left)
            break; /* the network layer aborts here without reading the body */
        ms_rd_take(&r, len, &body);
        st = dm_sess_pdu(s, type, body, len, &out);
        check_out(&out);
        ms_buf_reset(&out);
    }
    dm_sess_free(s);
    ms_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ms_err err = {0};
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 5) {
    case 0:
        run_session(p, n);
        break;
    case 1:
    case 2: {
        dm_assoc *a = malloc(sizeof *a);
        if (a == NULL)
            return 0;
        if (dm_assoc_parse(data[0] % 5 == 1 ? DM_PDU_ASSOC_RQ : DM_PDU_ASSOC_AC, p, n, a, &err) !=
                MS_OK &&
            err.msg[0] == '\0')
            abort();
        free(a);
        break;
    }
    case 3: {
        dm_cmd c;
        if (dm_cmd_parse(p, n, &c, &err) != MS_OK && err.msg[0] == '\0')
            abort();
        break;
    }
    default: {
        ms_rd r = {p, n};
        dm_pdv v;
        ms_rc rc;
        while ((rc = dm_pdv_next(&r, &v, &err)) == MS_OK)
            if (v.data.p < p || v.data.p + v.data.len > p + n)
                abort();
        if (rc != MS_E_NOTFOUND && err.msg[0] == '\0')
            abort();
        break;
    }
    }
    return 0;
}

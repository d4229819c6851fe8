/*
 * The C-STORE SCU: one association to a peer (optionally TLS 1.3), one presentation context per
 * distinct (SOP class, transfer syntax) of the files to send, each file's data set sent in
 * fragments that fit the peer's maximum PDU, each C-STORE-RSP status collected, then A-RELEASE.
 * Used to return the analyst's SR to the PACS (dicom_results_to).
 * Trusts: the files are ours (built by medseal) but their meta is still parsed with bounds; the
 * peer's answers are parsed like any PDU (bounded, A-ABORT on nonsense). Owns: its socket.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "internal.h"

ms_rc dm_parse_target(const char *s, char ae[DM_AE_LEN + 1], char *host, size_t host_len,
                      uint16_t *port, ms_err *err)
{
    const char *at = s ? strchr(s, '@') : NULL;
    const char *colon = at ? strrchr(at, ':') : NULL;
    if (at == NULL || colon == NULL || at == s || (size_t)(at - s) > DM_AE_LEN ||
        colon == at + 1 || (size_t)(colon - at - 1) >= host_len)
        return ms_fail(err, MS_E_FORMAT, "dicom_results_to: expected AE@host:port");
    char *end = NULL;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || p == 0 || p > 65535)
        return ms_fail(err, MS_E_FORMAT, "dicom_results_to: bad port");
    for (const char *c = s; c < at; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '\\')
            return ms_fail(err, MS_E_FORMAT, "dicom_results_to: bad AE title character");
    memcpy(ae, s, (size_t)(at - s));
    ae[at - s] = '\0';
    memcpy(host, at + 1, (size_t)(colon - at - 1));
    host[colon - at - 1] = '\0';
    *port = (uint16_t)p;
    return MS_OK;
}

/* The meta of a Part 10 file: SOP class, instance, transfer syntax, where the data set starts. */
struct meta {
    char sop_class[DM_UID_MAX + 1], sop_inst[DM_UID_MAX + 1], ts[DM_UID_MAX + 1];
    size_t ds_off;
};

static ms_rc read_meta(const uint8_t *p, size_t n, struct meta *m, size_t idx, ms_err *err)
{
    memset(m, 0, sizeof *m);
    if (n < 132 || memcmp(p + 128, "DICM", 4) != 0)
        return ms_fail(err, MS_E_FORMAT, "file %zu: not a Part 10 file", idx);
    ms_rd r = {p + 132, n - 132};
    while (r.left >= 8 && ms_load_u16le(r.p) == 0x0002) {
        uint16_t e = ms_load_u16le(r.p + 2);
        char vr0 = (char)r.p[4], vr1 = (char)r.p[5];
        uint32_t len;
        const uint8_t *v;
        int long_vr = (vr0 == 'O' && (vr1 == 'B' || vr1 == 'W')) || (vr0 == 'U' && vr1 == 'N') ||
                      (vr0 == 'S' && vr1 == 'Q') || (vr0 == 'U' && vr1 == 'T');
        if (long_vr) {
            if (r.left < 12)
                break;
            len = ms_load_u32le(r.p + 8);
            ms_rd_skip(&r, 12);
        } else {
            len = ms_load_u16le(r.p + 6);
            ms_rd_skip(&r, 8);
        }
        if (ms_rd_take(&r, len, &v) != MS_OK)
            return ms_fail(err, MS_E_TRUNC, "file %zu: meta element (0002,%04x) truncated", idx,
                           e);
        char *dst = e == 0x0002 ? m->sop_class : e == 0x0003 ? m->sop_inst
                                               : e == 0x0010 ? m->ts : NULL;
        if (dst != NULL) {
            size_t k = len;
            while (k > 0 && (v[k - 1] == 0 || v[k - 1] == ' '))
                k--;
            if (k == 0 || k > DM_UID_MAX)
                return ms_fail(err, MS_E_FORMAT, "file %zu: meta (0002,%04x) length", idx, e);
            memcpy(dst, v, k);
            dst[k] = '\0';
        }
    }
    if (!m->sop_class[0] || !m->sop_inst[0] || !m->ts[0])
        return ms_fail(err, MS_E_FORMAT, "file %zu: meta without SOP class, instance or syntax",
                       idx);
    m->ds_off = n - r.left;
    return MS_OK;
}

static int connect_to(const char *host, uint16_t port, uint64_t deadline)
{
    struct addrinfo hints, *res = NULL;
    char ps[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(ps, sizeof ps, "%u", (unsigned)port);
    if (getaddrinfo(host, ps, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
            close(fd);
            fd = -1;
            continue;
        }
        struct pollfd p = {fd, POLLOUT, 0};
        uint64_t now = dm__now_ms();
        int e = 0;
        socklen_t el = sizeof e;
        if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

/* The name or IP address the peer's certificate must carry. */
static int set_peer_name(SSL *ssl, const char *host)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    return SSL_set1_host(ssl, host);
}

/* Reads PDUs until a whole command set arrives; the status of a C-STORE-RSP. */
static ms_rc read_rsp(dm_conn *c, ms_buf *body, ms_buf *cmd, uint64_t dl, dm_cmd *rsp,
                      ms_err *err)
{
    const char *why = "";
    ms_buf_reset(cmd);
    for (;;) {
        uint8_t type;
        int r = dm__read_pdu(c, &type, body, DM_PDU_DEFAULT, dl, &why);
        if (r != 0)
            return ms_fail(err, MS_E_IO, "C-STORE: no answer (%s)", why);
        if (type == DM_PDU_ABORT)
            return ms_fail(err, MS_E_IO, "C-STORE: the peer aborted the association");
        if (type != DM_PDU_PDATA)
            return ms_fail(err, MS_E_FORMAT, "C-STORE: unexpected PDU type 0x%02x", type);
        ms_rd rd = {body->p, body->len};
        dm_pdv v;
        ms_rc rc;
        while ((rc = dm_pdv_next(&rd, &v, err)) == MS_OK) {
            if (!v.is_command)
                return ms_fail(err, MS_E_FORMAT, "C-STORE: data set in an answer");
            if (ms_buf_append(cmd, v.data.p, v.data.len, err) != MS_OK)
                return err->code;
            if (v.is_last)
                return dm_cmd_parse(cmd->p, cmd->len, rsp, err);
        }
        if (rc != MS_E_NOTFOUND)
            return rc;
    }
}

static ms_rc associate(dm_conn *c, dm_assoc *rq, ms_buf *body,
                       dm_assoc *ac, uint64_t dl, ms_err *err)
{
    ms_buf out;
    const char *why = "";
    ms_buf_init(&out, NULL, 0);
    ms_rc rc = dm_assoc_build(DM_PDU_ASSOC_RQ, rq, DM_PDU_DEFAULT, &out, err);
    if (rc == MS_OK && dm__write(c, out.p, out.len, dl, &why) != 0)
        rc = ms_fail(err, MS_E_IO, "A-ASSOCIATE-RQ: cannot send (%s)", why);
    ms_buf_free(&out);
    if (rc != MS_OK)
        return rc;
    uint8_t type;
    if (dm__read_pdu(c, &type, body, DM_RQ_MAX, dl, &why) != 0)
        return ms_fail(err, MS_E_IO, "A-ASSOCIATE: no answer (%s)", why);
    if (type == DM_PDU_ASSOC_RJ && body->len == 4)
        return ms_fail(err, MS_E_AUTH, "A-ASSOCIATE-RJ: result %u source %u reason %u",
                       body->p[1], body->p[2], body->p[3]);
    if (type != DM_PDU_ASSOC_AC)
        return ms_fail(err, MS_E_IO, "A-ASSOCIATE: answered with PDU type 0x%02x", type);
    if (dm_assoc_parse(DM_PDU_ASSOC_AC, body->p, body->len, ac, err) != MS_OK)
        return err->code;
    return MS_OK;
}

static ms_rc send_all(dm_conn *c, const dm_scu_opts *o, const ms_slice *files, size_t n,
                      const struct meta *m, const uint8_t *pc_of, const dm_assoc *ac,
                      uint16_t *statuses, ms_err *err)
{
    ms_buf out, body, cmdb;
    const char *why = "";
    ms_rc rc = MS_OK, worst = MS_OK;
    uint64_t to = (uint64_t)(o->timeout_s ? o->timeout_s : 30) * 1000u;
    ms_buf_init(&out, NULL, 0);
    ms_buf_init(&body, NULL, 0);
    ms_buf_init(&cmdb, NULL, DM_PDU_DEFAULT);
    for (size_t i = 0; i < n && rc == MS_OK; i++) {
        dm_cmd q, rsp;
        memset(&q, 0, sizeof q);
        q.field = DM_C_STORE_RQ;
        q.msg_id = (uint16_t)(i + 1);
        q.ds_type = 0x0001;
        memcpy(q.sop_class, m[i].sop_class, sizeof q.sop_class);
        memcpy(q.sop_inst, m[i].sop_inst, sizeof q.sop_inst);
        ms_buf_reset(&out);
        ms_buf_reset(&cmdb);
        rc = dm_cmd_build(&q, &cmdb, err);
        if (rc == MS_OK)
            rc = dm_pdata_build(pc_of[i], 1, cmdb.p, cmdb.len, ac->max_pdu, &out, err);
        if (rc == MS_OK)
            rc = dm_pdata_build(pc_of[i], 0, files[i].p + m[i].ds_off,
                                files[i].len - m[i].ds_off, ac->max_pdu, &out, err);
        if (rc == MS_OK && dm__write(c, out.p, out.len, dm__now_ms() + to, &why) != 0)
            rc = ms_fail(err, MS_E_IO, "C-STORE of file %zu: cannot send (%s)", i, why);
        if (rc == MS_OK)
            rc = read_rsp(c, &body, &cmdb, dm__now_ms() + to, &rsp, err);
        if (rc != MS_OK)
            break;
        if (statuses != NULL)
            statuses[i] = rsp.status;
        if (rsp.status != 0 && (rsp.status & 0xF000) != 0xB000 && worst == MS_OK)
            worst = ms_fail(err, MS_E_VERIFY, "C-STORE of file %zu: status %04x", i,
                            rsp.status);
    }
    if (rc == MS_OK) { /* release */
        uint8_t p[10], type;
        dm_pdu_short(DM_PDU_RELEASE_RQ, 0, 0, 0, p);
        if (dm__write(c, p, sizeof p, dm__now_ms() + to, &why) != 0 ||
            dm__read_pdu(c, &type, &body, 4, dm__now_ms() + to, &why) != 0 ||
            type != DM_PDU_RELEASE_RP)
            rc = ms_fail(err, MS_E_IO, "A-RELEASE: no RELEASE-RP (%s)", why);
    } else {
        uint8_t p[10];
        dm_pdu_short(DM_PDU_ABORT, 0, 0, 0, p);
        dm__write(c, p, sizeof p, dm__now_ms() + 1000, &why);
    }
    ms_buf_free(&out);
    ms_buf_free(&body);
    ms_buf_free(&cmdb);
    return rc != MS_OK ? rc : worst;
}

ms_rc dm_scu_store(const dm_scu_opts *o, const ms_slice *files, size_t n, uint16_t *statuses,
                   ms_err *err)
{
    if (n == 0)
        return MS_OK;
    struct meta *m = calloc(n, sizeof *m);
    uint8_t *pc_of = calloc(n, 1);
    dm_assoc *rq = calloc(1, sizeof *rq), *ac = calloc(1, sizeof *ac);
    SSL_CTX *tls = NULL;
    dm_conn c = {-1, NULL, NULL};
    ms_buf body;
    ms_buf_init(&body, NULL, 0);
    ms_rc rc = MS_OK;
    uint64_t dl = dm__now_ms() + (uint64_t)(o->timeout_s ? o->timeout_s : 30) * 1000u;
    if (m == NULL || pc_of == NULL || rq == NULL || ac == NULL) {
        rc = ms_fail(err, MS_E_NOMEM, "dimse: out of memory");
        goto out;
    }
    snprintf(rq->called, sizeof rq->called, "%s", o->called_ae);
    snprintf(rq->calling, sizeof rq->calling, "%s", o->calling_ae);
    for (size_t i = 0; i < n && rc == MS_OK; i++) {
        rc = read_meta(files[i].p, files[i].len, &m[i], i, err);
        if (rc != MS_OK)
            break;
        int t = dm_ts_index(m[i].ts);
        if (t < 0) {
            rc = ms_fail(err, MS_E_UNSUPPORTED, "file %zu: transfer syntax not sendable", i);
            break;
        }
        size_t k = 0;
        for (; k < rq->n_pc; k++)
            if (strcmp(rq->pc[k].abstract, m[i].sop_class) == 0 && rq->pc[k].ts[0] == t)
                break;
        if (k == rq->n_pc) {
            if (rq->n_pc == DM_MAX_PCS) {
                rc = ms_fail(err, MS_E_LIMIT, "more than %d SOP class/syntax pairs", DM_MAX_PCS);
                break;
            }
            dm_pc *pc = &rq->pc[rq->n_pc++];
            pc->id = (uint8_t)(2 * k + 1);
            memcpy(pc->abstract, m[i].sop_class, sizeof pc->abstract);
            pc->ts[0] = (uint8_t)t;
            pc->n_ts = 1;
        }
        pc_of[i] = rq->pc[k].id;
    }
    if (rc != MS_OK)
        goto out;
    if (o->ca_path != NULL &&
        (rc = dm__tls_ctx(0, o->cert_path, o->key_path, o->ca_path, &tls, err)) != MS_OK)
        goto out;
    c.fd = connect_to(o->host, o->port, dl);
    if (c.fd < 0) {
        rc = ms_fail(err, MS_E_IO, "C-STORE SCU: cannot connect to the peer");
        goto out;
    }
    if (tls != NULL) {
        const char *why = "";
        c.ssl = SSL_new(tls);
        if (c.ssl == NULL || SSL_set_fd(c.ssl, c.fd) != 1 ||
            set_peer_name(c.ssl, o->host) != 1 || dm__tls_handshake(&c, 0, dl, &why) != 0) {
            rc = ms_fail(err, MS_E_VERIFY, "C-STORE SCU: TLS with the peer failed (%s)", why);
            goto out;
        }
    }
    if ((rc = associate(&c, rq, &body, ac, dl, err)) != MS_OK)
        goto out;
    for (size_t i = 0; i < n && rc == MS_OK; i++) {
        size_t k = 0;
        while (k < ac->n_pc && ac->pc[k].id != pc_of[i])
            k++;
        if (k == ac->n_pc || ac->pc[k].result != DM_PC_ACCEPT)
            rc = ms_fail(err, MS_E_UNSUPPORTED,
                         "C-STORE SCU: the peer did not accept the SOP class of file %zu", i);
    }
    if (rc == MS_OK)
        rc = send_all(&c, o, files, n, m, pc_of, ac, statuses, err);
    else {
        uint8_t p[10];
        const char *why = "";
        dm_pdu_short(DM_PDU_ABORT, 0, 0, 0, p);
        dm__write(&c, p, sizeof p, dm__now_ms() + 1000, &why);
    }
out:
    dm__conn_close(&c);
    SSL_CTX_free(tls);
    ERR_clear_error();
    ms_buf_free(&body);
    free(m);
    free(pc_of);
    free(rq);
    free(ac);
    return rc;
}

/*
 * The relying party's side: verifies evidence JSON from a medseal server (GET /v1/attestation)
 * for an expected nonce and TLS key, and the live check that fetches it over HTTPS with a fresh
 * nonce and binds it to the certificate key of that very TLS connection. No CA check is made on
 * the server certificate: the attestation, not the Web PKI, authenticates the key, and the key hash
 * is printed for pinning.
 *
 * Trusts: nothing from the server. Owns: the TLS connection and buffers (closed/freed on return).
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "internal.h"

#define LIVE_RESPONSE_MAX (4u * 1024u * 1024u)
#define QUOTE_B64_MAX     (1024u * 1024u)
#define LIVE_TIMEOUT_S    30 /* seconds per socket read or write */

static int hex_matches(const json_t *ev, const char *key, const uint8_t *want, size_t n)
{
    const char *s = json_string_value(json_object_get(ev, key));
    uint8_t buf[ATT_NONCE_MAX];
    return s != NULL && n <= sizeof buf && strlen(s) == 2 * n &&
           ms_hex_decode(s, 2 * n, buf, n, NULL) == MS_OK && ms_ct_equal(buf, want, n);
}

static ms_rc fail_result(att_result *res, const char *why, ms_err *err)
{
    att_result_free(res);
    memset(res, 0, sizeof *res);
    res->fields = json_pack("{s:{}}", "checks");
    snprintf(res->tcb_status, sizeof res->tcb_status, "Unknown");
    snprintf(res->reason, sizeof res->reason, "%s", why);
    return res->fields != NULL ? MS_OK : ms_fail(err, MS_E_NOMEM, "out of memory");
}

static ms_rc unattested(const json_t *ev, unsigned flags, att_result *res, ms_err *err)
{
    ms_rc rc = fail_result(res,
                           (flags & ATT_LIVE_ALLOW_UNATTESTED)
                               ? ""
                               : "server is UNATTESTED (provider none, development mode); "
                                 "--allow-unattested accepts it",
                           err);
    if (rc != MS_OK)
        return rc;
    json_object_set_new(res->fields, "unattested", json_true());
    json_object_set_new(res->fields, "provider", json_string("none"));
    snprintf(res->tcb_status, sizeof res->tcb_status, "UNATTESTED");
    res->ok = (flags & ATT_LIVE_ALLOW_UNATTESTED) != 0;
    (void)ev;
    return MS_OK;
}

static ms_rc evidence_collateral(const json_t *ev, const att_collateral *given,
                                 att_collateral **own, ms_err *err)
{
    *own = NULL;
    if (given != NULL)
        return MS_OK;
    const json_t *c = json_object_get(ev, "collateral");
    const char *certs = json_string_value(json_object_get(ev, "certificates"));
    if (c == NULL && certs == NULL)
        return MS_OK;
    ms_rc rc = att_collateral_new(own, err);
    if (rc == MS_OK && c != NULL)
        rc = att_collateral_add_json(*own, c, err);
    if (rc == MS_OK && certs != NULL)
        rc = att_collateral_add_pem(*own, (const uint8_t *)certs, strlen(certs), err);
    return rc;
}

static void bind_check(att_result *res, const uint8_t rd[64])
{
    int bound = ms_ct_equal(rd, res->report_data, 64);
    json_object_set_new(json_object_get(res->fields, "checks"), "report_data_binding",
                        json_boolean(bound));
    if (bound)
        return;
    if (res->ok || res->reason[0] == 0 || (res->signature_ok && res->chain_ok))
        snprintf(res->reason, sizeof res->reason, "%s",
                 "REPORTDATA does not bind this nonce and TLS key (replayed evidence, or a "
                 "different server/key answered)");
    res->ok = 0;
}

ms_rc att_verify_evidence(const json_t *ev, const uint8_t *nonce, size_t nonce_len,
                          const uint8_t tls_pubkey_sha256[32], const att_collateral *coll,
                          const att_policy *pol, unsigned flags, time_t at, att_result *res,
                          ms_err *err)
{
    uint8_t rd[64];
    ms_rc rc = att_reportdata(nonce, nonce_len, tls_pubkey_sha256, rd, err);
    if (rc != MS_OK || res == NULL)
        return rc != MS_OK ? rc : ms_fail(err, MS_E_INVAL, "no result");
    const char *fmt = json_string_value(json_object_get(ev, "format"));
    if (fmt == NULL || strcmp(fmt, "medseal-evidence/1") != 0)
        return fail_result(res, "evidence: not medseal-evidence/1 JSON", err);
    if (!hex_matches(ev, "nonce", nonce, nonce_len))
        return fail_result(res, "evidence: the server answered for another nonce", err);
    if (!hex_matches(ev, "tls_pubkey_sha256", tls_pubkey_sha256, 32))
        return fail_result(res, "evidence: the server names another TLS key than this connection's",
                           err);
    if (!json_is_true(json_object_get(ev, "attested")))
        return unattested(ev, flags, res, err);
    const char *q64 = json_string_value(json_object_get(ev, "quote"));
    if (q64 == NULL || strlen(q64) > QUOTE_B64_MAX)
        return fail_result(res, "evidence: no quote", err);
    ms_buf q;
    ms_buf_init(&q, NULL, 0);
    att_collateral *own = NULL;
    rc = ms_b64_decode(q64, strlen(q64), &q, err);
    if (rc == MS_OK)
        rc = evidence_collateral(ev, coll, &own, err);
    if (rc == MS_OK)
        rc = att_verify_quote(q.p, q.len, coll ? coll : own, pol, at, res, err);
    if (rc == MS_OK) {
        bind_check(res, rd);
        att__json_hex(res->fields, "tls_pubkey_sha256", tls_pubkey_sha256, 32);
        json_object_set_new(res->fields, "gpu", json_deep_copy(json_object_get(ev, "gpu")));
    }
    att_collateral_free(own);
    ms_buf_free(&q);
    return rc;
}

/* ---- HTTPS client ---------------------------------------------------------------------------- */

struct url {
    char host[256];
    char port[8];
};

static ms_rc parse_url(const char *u, struct url *out, ms_err *err)
{
    if (u == NULL || strncmp(u, "https://", 8) != 0)
        return ms_fail(err, MS_E_INVAL, "URL must start with https://");
    const char *h = u + 8, *end = h + strcspn(h, "/");
    const char *colon = memchr(h, ':', (size_t)(end - h));
    size_t hl = (size_t)((colon ? colon : end) - h);
    size_t pl = colon ? (size_t)(end - colon - 1) : 3;
    if (hl == 0 || hl >= sizeof out->host || pl == 0 || pl >= sizeof out->port)
        return ms_fail(err, MS_E_INVAL, "URL host or port malformed");
    memcpy(out->host, h, hl);
    out->host[hl] = 0;
    memcpy(out->port, colon ? colon + 1 : "443", pl);
    out->port[pl] = 0;
    for (size_t i = 0; i < pl; i++)
        if (out->port[i] < '0' || out->port[i] > '9')
            return ms_fail(err, MS_E_INVAL, "URL port is not a number");
    return MS_OK;
}

static ms_rc tls_connect(const struct url *u, SSL_CTX **ctx, BIO **bio, ms_err *err)
{
    char target[300];
    *ctx = SSL_CTX_new(TLS_client_method());
    if (*ctx == NULL)
        return ms_fail(err, MS_E_NOMEM, "TLS context");
    SSL_CTX_set_min_proto_version(*ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(*ctx, SSL_VERIFY_NONE, NULL); /* the attestation authenticates the key */
    *bio = BIO_new_ssl_connect(*ctx);
    SSL *ssl = NULL;
    snprintf(target, sizeof target, "%s:%s", u->host, u->port);
    if (*bio == NULL || BIO_get_ssl(*bio, &ssl) != 1 || ssl == NULL)
        return ms_fail(err, MS_E_NOMEM, "TLS connection");
    SSL_set_tlsext_host_name(ssl, u->host);
    BIO_set_conn_hostname(*bio, target);
    /* TCP first, then time limits on the socket, then the handshake: a server that accepts and
     * stays silent must not hang the verifier */
    BIO *conn = BIO_next(*bio);
    int fd = -1;
    if (conn != NULL && BIO_do_connect(conn) == 1 && BIO_get_fd(conn, &fd) >= 0 && fd >= 0) {
        struct timeval tv = {LIVE_TIMEOUT_S, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (fd < 0 || BIO_do_handshake(*bio) != 1) {
        unsigned long e = ERR_get_error();
        ERR_clear_error();
        return ms_fail(err, MS_E_IO, "TLS connect to %s: %s", target,
                       e ? ERR_reason_error_string(e) : "failed");
    }
    return MS_OK;
}

static ms_rc peer_key_hash(BIO *bio, uint8_t out[32], ms_err *err)
{
    SSL *ssl = NULL;
    BIO_get_ssl(bio, &ssl);
    X509 *peer = ssl != NULL ? SSL_get1_peer_certificate(ssl) : NULL;
    if (peer == NULL)
        return ms_fail(err, MS_E_VERIFY, "server presented no certificate");
    ms_rc rc = att_spki_sha256_pkey(X509_get0_pubkey(peer), out, err);
    X509_free(peer);
    return rc;
}

static ms_rc http_get(BIO *bio, const struct url *u, const char *path, ms_buf *resp, ms_err *err)
{
    ms_buf req;
    ms_buf_init(&req, NULL, 0);
    ms_rc rc = ms_buf_printf(&req, err,
                             "GET %s HTTP/1.1\r\nHost: %s:%s\r\nAccept: application/json\r\n"
                             "Connection: close\r\n\r\n",
                             path, u->host, u->port);
    if (rc == MS_OK && BIO_write(bio, req.p, (int)req.len) != (int)req.len)
        rc = ms_fail(err, MS_E_IO, "TLS write failed");
    ms_buf_free(&req);
    char chunk[4096];
    int n;
    while (rc == MS_OK && (n = BIO_read(bio, chunk, sizeof chunk)) > 0)
        rc = ms_buf_append(resp, chunk, (size_t)n, err);
    ERR_clear_error();
    return rc;
}

/* Decodes a chunked body in place (RFC 9112 §7.1); returns the decoded length or -1. */
static long dechunk(uint8_t *p, size_t n)
{
    size_t in = 0, out = 0;
    for (;;) {
        size_t len = 0, digits = 0;
        while (in < n && digits < 8) {
            uint8_t c = p[in];
            int v = c >= '0' && c <= '9'                     ? c - '0'
                    : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                             : -1;
            if (v < 0)
                break;
            len = len * 16 + (size_t)v;
            in++;
            digits++;
        }
        while (in < n && p[in] != '\n')
            in++;
        if (digits == 0 || in >= n)
            return -1;
        in++;
        if (len == 0)
            return (long)out;
        if (len > n - in)
            return -1;
        memmove(p + out, p + in, len);
        out += len;
        in += len + 2;
        if (in > n)
            return -1;
    }
}

static ms_rc http_body(ms_buf *resp, json_t **out, ms_err *err)
{
    char *s = (char *)resp->p;
    if (resp->len < 12 || strncmp(s, "HTTP/1.", 7) != 0)
        return ms_fail(err, MS_E_FORMAT, "server answer is not HTTP");
    if (strncmp(s + 9, "200", 3) != 0)
        return ms_fail(err, MS_E_VERIFY, "server answered HTTP %.3s to /v1/attestation", s + 9);
    char *body = strstr(s, "\r\n\r\n");
    if (body == NULL)
        return ms_fail(err, MS_E_FORMAT, "HTTP header unterminated");
    *body = 0;
    body += 4;
    size_t blen = resp->len - (size_t)(body - s);
    if (strstr(s, "chunked") != NULL || strstr(s, "Chunked") != NULL) {
        long d = dechunk((uint8_t *)body, blen);
        if (d < 0)
            return ms_fail(err, MS_E_FORMAT, "bad chunked encoding");
        blen = (size_t)d;
    }
    json_error_t je;
    *out = json_loadb(body, blen, 0, &je);
    if (!json_is_object(*out)) {
        json_decref(*out);
        return ms_fail(err, MS_E_FORMAT, "evidence is not a JSON object");
    }
    return MS_OK;
}

ms_rc att_verify_live(const char *url, const att_collateral *coll, const att_policy *pol,
                      unsigned flags, time_t at, att_result *res, ms_err *err)
{
    struct url u;
    uint8_t nonce[32], key[32];
    char path[128];
    ms_rc rc = parse_url(url, &u, err);
    if (rc == MS_OK)
        rc = ms_random(nonce, sizeof nonce, err);
    if (rc != MS_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/attestation?nonce=");
    for (int i = 0; i < 32; i++)
        snprintf(path + 22 + 2 * i, 3, "%02x", nonce[i]);
    SSL_CTX *ctx = NULL;
    BIO *bio = NULL;
    ms_buf resp;
    ms_buf_init(&resp, NULL, LIVE_RESPONSE_MAX);
    json_t *ev = NULL;
    rc = tls_connect(&u, &ctx, &bio, err);
    if (rc == MS_OK)
        rc = peer_key_hash(bio, key, err);
    if (rc == MS_OK)
        rc = http_get(bio, &u, path, &resp, err);
    if (rc == MS_OK)
        rc = http_body(&resp, &ev, err);
    if (rc == MS_OK)
        rc = att_verify_evidence(ev, nonce, sizeof nonce, key, coll, pol, flags, at, res, err);
    if (rc == MS_OK) {
        att__json_hex(res->fields, "tls_pubkey_sha256", key, 32);
        att__json_hex(res->fields, "nonce", nonce, 32);
        json_object_set_new(res->fields, "url", json_string(url));
    }
    json_decref(ev);
    ms_buf_free(&resp);
    BIO_free_all(bio);
    SSL_CTX_free(ctx);
    return rc;
}

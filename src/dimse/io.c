/*
 * Connection I/O for the upper layer: non-blocking sockets, optionally wrapped in TLS 1.3
 * (OpenSSL), every read and write bounded by a deadline (the ARTIM and idle timers are built on
 * it) and by a stop flag polled every 250 ms. Reads one PDU at a time with its declared length
 * checked against the caller's limit before a byte of the body is read.
 * Trusts: nothing from the peer. Owns: the socket and SSL object of a dm_conn (dm__conn_close).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "internal.h"

uint64_t dm__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits for fd to be readable (events POLLIN) or writable; 0 ready, -1 timeout/stop/error. */
static int wait_fd(dm_conn *c, short events, uint64_t deadline, const char **why)
{
    for (;;) {
        if (c->stop != NULL && atomic_load(c->stop)) {
            *why = "stopped";
            return -1;
        }
        uint64_t now = dm__now_ms();
        if (now >= deadline) {
            *why = "timeout";
            return -1;
        }
        uint64_t left = deadline - now;
        struct pollfd p = {c->fd, events, 0};
        int r = poll(&p, 1, (int)(left < 250 ? left : 250));
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR) {
            *why = "error";
            return -1;
        }
    }
}

/* One TLS operation's retry: 0 retry after waiting, -1 failed. */
static int tls_retry(dm_conn *c, int r, uint64_t deadline, const char **why)
{
    int e = SSL_get_error(c->ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ)
        return wait_fd(c, POLLIN, deadline, why);
    if (e == SSL_ERROR_WANT_WRITE)
        return wait_fd(c, POLLOUT, deadline, why);
    *why = e == SSL_ERROR_ZERO_RETURN ? "closed" : "tls error";
    return -1;
}

int dm__read(dm_conn *c, void *p, size_t n, uint64_t deadline, const char **why)
{
    uint8_t *b = p;
    while (n > 0) {
        if (c->ssl != NULL) {
            size_t got = 0;
            int r = SSL_read_ex(c->ssl, b, n, &got);
            if (r == 1) {
                b += got, n -= got;
                continue;
            }
            if (tls_retry(c, r, deadline, why) != 0)
                return -1;
            continue;
        }
        ssize_t r = read(c->fd, b, n);
        if (r > 0) {
            b += r, n -= (size_t)r;
        } else if (r == 0) {
            *why = "closed";
            return -1;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            if (wait_fd(c, POLLIN, deadline, why) != 0)
                return -1;
        } else {
            *why = "error";
            return -1;
        }
    }
    return 0;
}

int dm__write(dm_conn *c, const void *p, size_t n, uint64_t deadline, const char **why)
{
    const uint8_t *b = p;
    while (n > 0) {
        if (c->ssl != NULL) {
            size_t put = 0;
            int r = SSL_write_ex(c->ssl, b, n, &put);
            if (r == 1) {
                b += put, n -= put;
                continue;
            }
            if (tls_retry(c, r, deadline, why) != 0)
                return -1;
            continue;
        }
        ssize_t r = send(c->fd, b, n, MSG_NOSIGNAL);
        if (r > 0) {
            b += r, n -= (size_t)r;
        } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (wait_fd(c, POLLOUT, deadline, why) != 0)
                return -1;
        } else {
            *why = "error";
            return -1;
        }
    }
    return 0;
}

int dm__tls_handshake(dm_conn *c, int server, uint64_t deadline, const char **why)
{
    for (;;) {
        int r = server ? SSL_accept(c->ssl) : SSL_connect(c->ssl);
        if (r == 1)
            return 0;
        if (tls_retry(c, r, deadline, why) != 0)
            return -1;
    }
}

int dm__read_pdu(dm_conn *c, uint8_t *type, ms_buf *body, size_t max_body, uint64_t deadline,
                 const char **why)
{
    uint8_t h[6];
    if (dm__read(c, h, sizeof h, deadline, why) != 0)
        return -1;
    uint32_t len = ms_load_u32be(h + 2);
    *type = h[0];
    if (len > max_body) {
        *why = "PDU length over the limit";
        return -2;
    }
    ms_buf_reset(body);
    if (ms_buf_reserve(body, len, NULL) != MS_OK) {
        *why = "out of memory";
        return -1;
    }
    if (dm__read(c, body->p, len, deadline, why) != 0)
        return -1;
    body->len = len;
    return 0;
}

void dm__conn_close(dm_conn *c)
{
    if (c->ssl != NULL) {
        SSL_shutdown(c->ssl); /* one close_notify, not waiting for the peer's */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

ms_rc dm__tls_ctx(int server, const char *cert, const char *key, const char *ca, SSL_CTX **out,
                  ms_err *err)
{
    SSL_CTX *x = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (x == NULL)
        return ms_fail(err, MS_E_CRYPTO, "dicom tls: no context");
    SSL_CTX_set_min_proto_version(x, TLS1_3_VERSION); /* PS3.15 B.1 over TLS 1.3 only */
    int ok = 1;
    if (cert != NULL)
        ok = SSL_CTX_use_certificate_chain_file(x, cert) == 1 &&
             SSL_CTX_use_PrivateKey_file(x, key, SSL_FILETYPE_PEM) == 1 &&
             SSL_CTX_check_private_key(x) == 1;
    if (ok && ca != NULL)
        ok = SSL_CTX_load_verify_locations(x, ca, NULL) == 1;
    ERR_clear_error();
    if (!ok) {
        SSL_CTX_free(x);
        return ms_fail(err, MS_E_CRYPTO,
                       "dicom tls: certificate, key or CA file unreadable or mismatched");
    }
    if (ca != NULL)
        SSL_CTX_set_verify(x, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    *out = x;
    return MS_OK;
}

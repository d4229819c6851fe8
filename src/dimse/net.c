/*
 * The SCP on a socket: a listener thread accepts TCP connections (optionally TLS 1.3), and each
 * association runs on its own thread: ARTIM bounds the wait for the A-ASSOCIATE-RQ and, after an
 * RJ, RELEASE-RP or A-ABORT, the wait for the peer to close; the idle timer aborts an
 * association with no PDU for idle_s; a PDU longer than the session allows is answered with
 * A-ABORT before its body is read. Past max_assocs an association is refused (RJ transient).
 * Trusts: nothing from the peer. Owns: the listening socket, the TLS context, the threads
 * (dm_scp_stop joins them all before it returns).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "internal.h"

struct dm_scp {
    dm_scp_cfg cfg;
    dm_scp_net net;
    int lfd;
    uint16_t port;
    SSL_CTX *tls;
    pthread_t listener;
    int started;
    atomic_int stop;
    atomic_int closing; /* the listener exits */
    atomic_int active; /* connection threads alive */
};

struct conn_arg {
    struct dm_scp *s;
    int fd;
    int busy; /* over max_assocs: refuse the association */
    char ip[64];
};

static void net_log(struct dm_scp *s, void *conn_ud, const char *ev, const char *detail)
{
    if (s->cfg.on_log)
        s->cfg.on_log(s->cfg.ud, conn_ud, ev, detail);
}

/* After we sent RJ, RELEASE-RP or ABORT: ARTIM waits for the peer to close. */
static void wait_close(dm_conn *c, unsigned artim_s)
{
    uint8_t b[256];
    const char *why = NULL;
    uint64_t dl = dm__now_ms() + (uint64_t)artim_s * 1000u;
    while (dm__read(c, b, 1, dl, &why) == 0) {
    }
}

static void serve(struct conn_arg *ca, dm_conn *c)
{
    struct dm_scp *s = ca->s;
    const char *why = NULL;
    uint64_t artim = (uint64_t)s->net.artim_s * 1000u, idle = (uint64_t)s->net.idle_s * 1000u;
    if (s->tls != NULL) {
        c->ssl = SSL_new(s->tls);
        if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
            dm__tls_handshake(c, 1, dm__now_ms() + artim, &why) != 0) {
            net_log(s, NULL, "tls handshake failed", why ? why : "");
            return;
        }
    }
    dm_sess *sess = NULL;
    ms_buf body, out;
    ms_buf_init(&body, s->cfg.alloc, 0);
    ms_buf_init(&out, s->cfg.alloc, 0);
    dm_scp_cfg cfg = s->cfg;
    if (dm_sess_new(&cfg, ca->ip, &sess, NULL) != MS_OK)
        goto done;
    for (;;) {
        uint8_t type = 0, h[6];
        int assoc = dm_sess_associated(sess);
        uint64_t dl = dm__now_ms() + (assoc ? idle : artim);
        int r = dm__read(c, h, sizeof h, dl, &why);
        ms_buf_reset(&out);
        ms_buf_reset(&body);
        if (r == 0) {
            uint32_t len = ms_load_u32be(h + 2);
            type = h[0];
            if (ca->busy && type == DM_PDU_ASSOC_RQ) {
                uint8_t p[10];
                dm_pdu_short(DM_PDU_ASSOC_RJ, 2, 3, 2, p); /* transient, local limit exceeded */
                dm__write(c, p, sizeof p, dm__now_ms() + artim, &why);
                net_log(s, NULL, "association rejected", "too many associations");
                wait_close(c, s->net.artim_s);
                break;
            }
            if (len > dm_sess_pdu_limit(sess, type)) { /* checked before a byte of the body */
                r = -2;
            } else if (ms_buf_reserve(&body, len, NULL) != MS_OK) {
                r = -2;
            } else if ((r = dm__read(c, body.p, len, dl, &why)) == 0) {
                body.len = len;
            }
        }
        if (r == -2 || (r == -1 && assoc && strcmp(why, "closed") != 0)) {
            uint8_t p[10];
            /* over-long PDU, idle timeout or server stop while associated: A-ABORT */
            dm_pdu_short(DM_PDU_ABORT, 0, 2, r == -2 ? DM_ABORT_INVALID_PARAM : 0, p);
            dm__write(c, p, sizeof p, dm__now_ms() + 1000, &why);
            net_log(s, NULL, "abort sent", r == -2 ? "PDU length over the limit" : why);
            break;
        }
        if (r != 0) {
            if (!assoc)
                net_log(s, NULL, "connection closed before an association", why);
            else
                net_log(s, NULL, "connection dropped", why);
            break;
        }
        int st = dm_sess_pdu(sess, type, body.p, body.len, &out);
        if (out.len > 0 &&
            dm__write(c, out.p, out.len, dm__now_ms() + (idle ? idle : artim), &why) != 0) {
            net_log(s, NULL, "connection dropped", why);
            break;
        }
        if (st == DM_SESS_CLOSE)
            wait_close(c, s->net.artim_s);
        if (st != DM_SESS_CONTINUE)
            break;
        ms_buf_reset(&body);
    }
done:
    dm_sess_free(sess);
    ms_buf_free(&body);
    ms_buf_free(&out);
}

static void *conn_main(void *arg)
{
    struct conn_arg *ca = arg;
    struct dm_scp *s = ca->s;
    dm_conn c = {ca->fd, NULL, &s->stop};
    serve(ca, &c);
    dm__conn_close(&c);
    ERR_clear_error();
    free(ca);
    atomic_fetch_sub(&s->active, 1);
    return NULL;
}

static void *listener(void *arg)
{
    struct dm_scp *s = arg;
    while (!atomic_load(&s->closing)) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        if (poll(&p, 1, 250) <= 0)
            continue;
        struct sockaddr_in sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(s->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        int active = atomic_load(&s->active);
        if ((unsigned)active >= 2u * s->net.max_assocs) { /* flood: no thread, no answer */
            close(fd);
            net_log(s, NULL, "connection refused", "too many connections");
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn_arg *ca = calloc(1, sizeof *ca);
        if (ca == NULL) {
            close(fd);
            continue;
        }
        ca->s = s;
        ca->fd = fd;
        ca->busy = (unsigned)active >= s->net.max_assocs;
        inet_ntop(AF_INET, &sa.sin_addr, ca->ip, sizeof ca->ip);
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        atomic_fetch_add(&s->active, 1);
        if (pthread_create(&t, &at, conn_main, ca) != 0) {
            atomic_fetch_sub(&s->active, 1);
            close(fd);
            free(ca);
        }
        pthread_attr_destroy(&at);
    }
    return NULL;
}

ms_rc dm_scp_start(const dm_scp_cfg *cfg, const dm_scp_net *net, dm_scp **out, ms_err *err)
{
    struct sockaddr_in sa;
    if (ms_parse_listen("dicom_listen", net->listen, &sa, err) != MS_OK)
        return err ? err->code : MS_E_FORMAT;
    struct dm_scp *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ms_fail(err, MS_E_NOMEM, "dimse: out of memory");
    s->cfg = *cfg;
    s->net = *net;
    if (s->net.artim_s == 0)
        s->net.artim_s = 30;
    if (s->net.idle_s == 0)
        s->net.idle_s = 60;
    if (s->net.max_assocs == 0)
        s->net.max_assocs = 64;
    s->lfd = -1;
    if (net->cert_path != NULL &&
        dm__tls_ctx(1, net->cert_path, net->key_path, net->ca_path, &s->tls, err) != MS_OK) {
        free(s);
        return err ? err->code : MS_E_CRYPTO;
    }
    int one = 1;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->lfd < 0 || setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s->lfd, 128) != 0) {
        int e = errno;
        dm_scp_stop(s, 0);
        return ms_fail(err, MS_E_IO, "dicom_listen: cannot listen (%s)", strerror(e));
    }
    socklen_t sl = sizeof sa;
    getsockname(s->lfd, (struct sockaddr *)&sa, &sl);
    s->port = ntohs(sa.sin_port);
    if (pthread_create(&s->listener, NULL, listener, s) != 0) {
        dm_scp_stop(s, 0);
        return ms_fail(err, MS_E_INTERNAL, "dimse: cannot start the listener");
    }
    s->started = 1;
    *out = s;
    return MS_OK;
}

uint16_t dm_scp_port(const dm_scp *s)
{
    return s->port;
}

void dm_scp_stop(dm_scp *s, unsigned grace_s)
{
    if (s == NULL)
        return;
    if (s->started) {
        /* stop accepting; let associations finish for grace_s, then make them give up */
        atomic_store(&s->closing, 1);
        pthread_join(s->listener, NULL);
        close(s->lfd);
        s->lfd = -1;
        uint64_t dl = dm__now_ms() + (uint64_t)grace_s * 1000u;
        while (atomic_load(&s->active) > 0 && dm__now_ms() < dl)
            usleep(20000);
        atomic_store(&s->stop, 1);
        while (atomic_load(&s->active) > 0)
            usleep(20000); /* each thread gives up within 250 ms of the stop flag */
    } else if (s->lfd >= 0) {
        close(s->lfd);
    }
    SSL_CTX_free(s->tls);
    free(s);
}

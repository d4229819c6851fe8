/*
 * The PROXY protocol v2 (HAProxy's `send-proxy-v2`) in front of libmicrohttpd, which has no
 * support for it: with `proxy_protocol_from = CIDR[, CIDR...]` the server listens itself
 * (libmicrohttpd runs with MHD_USE_NO_LISTEN_SOCKET) and hands every accepted connection to
 * MHD_add_connection with the client's address, so max_conns_per_ip and every address the
 * server sees are the client's, not the balancer's. A connection from a listed address must open
 * with a v2 header (read by a short-lived thread, exactly its bytes, within 3 s, before the TLS
 * ClientHello that follows); a missing or malformed header closes it. A connection from any other
 * address is served as it is, its first bytes taken as TLS: a PROXY header from it fails the
 * handshake, so nobody outside the balancer's addresses can claim another address. LOCAL
 * headers (health checks) and address families other than TCP over IPv4/IPv6 keep the peer's
 * own address. IPv4 listen addresses only (as --listen).
 * Trusts: the operator's CIDR list; nothing a peer sends (lengths checked, signature exact).
 * Owns: the listening socket, the acceptor thread, the header threads (joined at stop).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "internal.h"

#define PP_SIG          "\r\n\r\n\0\r\nQUIT\n"
#define PP_HDR          16
#define PP_MAX_LEN      2048 /* addresses + TLVs we accept after the fixed part */
#define PP_TIMEOUT_MS   3000
#define PP_READERS_MAX  256 /* header reads in flight; beyond, a connection is closed */

ms_rc gw__pp_nets_parse(const char *spec, struct gw_pp_net *v, size_t *n, ms_err *err)
{
    *n = 0;
    const char *p = spec;
    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        size_t len = strcspn(p, ", ");
        char one[64];
        if (len >= sizeof one || *n == GW_PP_NETS_MAX)
            return ms_fail(err, MS_E_FORMAT,
                           "proxy_protocol_from: at most %d IPv4 CIDRs (a.b.c.d/n)", GW_PP_NETS_MAX);
        memcpy(one, p, len);
        one[len] = '\0';
        p += len;
        char *slash = strchr(one, '/');
        unsigned long bits = 32;
        if (slash != NULL) {
            char *end = NULL;
            *slash = '\0';
            bits = strtoul(slash + 1, &end, 10);
            if (end == slash + 1 || *end != '\0' || bits > 32)
                return ms_fail(err, MS_E_FORMAT, "proxy_protocol_from: bad prefix length");
        }
        struct in_addr a;
        if (inet_pton(AF_INET, one, &a) != 1)
            return ms_fail(err, MS_E_FORMAT, "proxy_protocol_from: expected IPv4 CIDRs (a.b.c.d/n)");
        uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
        v[*n].mask = mask;
        v[*n].addr = ntohl(a.s_addr) & mask;
        (*n)++;
    }
    if (*n == 0)
        return ms_fail(err, MS_E_FORMAT, "proxy_protocol_from: no address");
    return MS_OK;
}

int gw__pp_trusted(const struct gw_pp_net *v, size_t n, const struct sockaddr *peer)
{
    if (peer->sa_family != AF_INET)
        return 0;
    uint32_t a = ntohl(((const struct sockaddr_in *)peer)->sin_addr.s_addr);
    for (size_t i = 0; i < n; i++) {
        if ((a & v[i].mask) == v[i].addr)
            return 1;
    }
    return 0;
}

static uint64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* Exactly n bytes before the deadline (the socket may be non-blocking). */
static ms_rc read_exact(int fd, uint8_t *b, size_t n, uint64_t deadline, ms_err *err)
{
    size_t got = 0;
    while (got < n) {
        uint64_t now = mono_ms();
        if (now >= deadline)
            return ms_fail(err, MS_E_TRUNC, "PROXY header: timed out after %zu bytes", got);
        struct pollfd pf = {fd, POLLIN, 0};
        int r = poll(&pf, 1, (int)(deadline - now));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        ssize_t k = recv(fd, b + got, n - got, 0);
        if (k == 0)
            return ms_fail(err, MS_E_TRUNC, "PROXY header: closed after %zu bytes", got);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            return ms_fail(err, MS_E_IO, "PROXY header: read failed");
        }
        got += (size_t)k;
    }
    return MS_OK;
}

ms_rc gw__pp_read(int fd, unsigned timeout_ms, const struct sockaddr *peer, unsigned peer_len,
                  struct sockaddr_storage *src, unsigned *src_len, ms_err *err)
{
    uint8_t h[PP_HDR], body[PP_MAX_LEN];
    uint64_t deadline = mono_ms() + timeout_ms;
    ms_rc rc = read_exact(fd, h, PP_HDR, deadline, err);
    if (rc != MS_OK)
        return rc;
    if (memcmp(h, PP_SIG, 12) != 0)
        return ms_fail(err, MS_E_FORMAT, "PROXY header: no v2 signature");
    unsigned ver = h[12] >> 4, cmd = h[12] & 15, fam = h[13];
    size_t len = (size_t)h[14] << 8 | h[15];
    if (ver != 2 || cmd > 1)
        return ms_fail(err, MS_E_FORMAT, "PROXY header: version %u command %u", ver, cmd);
    if (len > PP_MAX_LEN)
        return ms_fail(err, MS_E_LIMIT, "PROXY header: %zu bytes of addresses", len);
    if ((rc = read_exact(fd, body, len, deadline, err)) != MS_OK)
        return rc;
    memset(src, 0, sizeof *src);
    if (cmd == 1 && fam == 0x11) { /* PROXY, TCP over IPv4: src 4, dst 4, sport 2, dport 2 */
        if (len < 12)
            return ms_fail(err, MS_E_FORMAT, "PROXY header: IPv4 addresses in %zu bytes", len);
        struct sockaddr_in *s4 = (struct sockaddr_in *)src;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, body, 4);
        memcpy(&s4->sin_port, body + 8, 2);
        *src_len = sizeof *s4;
        return MS_OK;
    }
    if (cmd == 1 && fam == 0x21) { /* TCP over IPv6: src 16, dst 16, sport 2, dport 2 */
        if (len < 36)
            return ms_fail(err, MS_E_FORMAT, "PROXY header: IPv6 addresses in %zu bytes", len);
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)src;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, body, 16);
        memcpy(&s6->sin6_port, body + 32, 2);
        *src_len = sizeof *s6;
        return MS_OK;
    }
    /* LOCAL (the balancer's own health check) or another family: the peer's own address */
    if (peer_len > sizeof *src)
        return ms_fail(err, MS_E_INTERNAL, "PROXY header: peer address too long");
    memcpy(src, peer, peer_len);
    *src_len = peer_len;
    return MS_OK;
}

struct gw_pp {
    struct MHD_Daemon *d;
    int lfd, stop_r, stop_w;
    struct gw_pp_net nets[GW_PP_NETS_MAX];
    size_t n_nets;
    pthread_t acceptor;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned readers;
    atomic_ulong refused, passed;
};

struct pp_conn {
    struct gw_pp *p;
    int fd;
    struct sockaddr_storage peer;
    socklen_t peer_len;
};

static void *header_reader(void *arg)
{
    struct pp_conn *c = arg;
    struct gw_pp *p = c->p;
    struct sockaddr_storage src;
    unsigned src_len = 0;
    if (gw__pp_read(c->fd, PP_TIMEOUT_MS, (struct sockaddr *)&c->peer, (unsigned)c->peer_len, &src,
                    &src_len, NULL) == MS_OK) {
        atomic_fetch_add(&p->passed, 1);
        MHD_add_connection(p->d, c->fd, (struct sockaddr *)&src, (socklen_t)src_len); /* owns fd */
    } else {
        atomic_fetch_add(&p->refused, 1);
        close(c->fd);
    }
    free(c);
    pthread_mutex_lock(&p->mu);
    p->readers--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void *acceptor(void *arg)
{
    struct gw_pp *p = arg;
    for (;;) {
        struct pollfd pf[2] = {{p->lfd, POLLIN, 0}, {p->stop_r, POLLIN, 0}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[1].revents != 0)
            break;
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(p->lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            continue; /* EAGAIN, a reset before accept, EMFILE: keep serving */
        if (!gw__pp_trusted(p->nets, p->n_nets, (struct sockaddr *)&peer)) {
            MHD_add_connection(p->d, fd, (struct sockaddr *)&peer, plen); /* a direct client */
            continue;
        }
        struct pp_conn *c = malloc(sizeof *c);
        pthread_t t;
        pthread_attr_t at;
        int ok = c != NULL && pthread_attr_init(&at) == 0;
        if (ok) {
            pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
            c->p = p;
            c->fd = fd;
            c->peer = peer;
            c->peer_len = plen;
            pthread_mutex_lock(&p->mu);
            ok = p->readers < PP_READERS_MAX;
            if (ok)
                p->readers++;
            pthread_mutex_unlock(&p->mu);
            if (ok && pthread_create(&t, &at, header_reader, c) != 0) {
                pthread_mutex_lock(&p->mu);
                p->readers--;
                pthread_mutex_unlock(&p->mu);
                ok = 0;
            }
            pthread_attr_destroy(&at);
        }
        if (!ok) {
            atomic_fetch_add(&p->refused, 1);
            close(fd);
            free(c);
        }
    }
    return NULL;
}

ms_rc gw__pp_start(struct MHD_Daemon *d, int lfd, const struct gw_pp_net *nets, size_t n,
                   struct gw_pp **out, ms_err *err)
{
    struct gw_pp *p = calloc(1, sizeof *p);
    int pfd[2];
    if (p == NULL)
        return ms_fail(err, MS_E_NOMEM, "proxy protocol: out of memory");
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        free(p);
        return ms_fail(err, MS_E_IO, "proxy protocol: pipe");
    }
    p->d = d;
    p->lfd = lfd;
    p->stop_r = pfd[0];
    p->stop_w = pfd[1];
    memcpy(p->nets, nets, n * sizeof *nets);
    p->n_nets = n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->acceptor, NULL, acceptor, p) != 0) {
        close(pfd[0]);
        close(pfd[1]);
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return ms_fail(err, MS_E_INTERNAL, "proxy protocol: thread");
    }
    *out = p;
    return MS_OK;
}

void gw__pp_stats(struct gw_pp *p, unsigned long *passed, unsigned long *refused)
{
    *passed = p ? atomic_load(&p->passed) : 0;
    *refused = p ? atomic_load(&p->refused) : 0;
}

void gw__pp_stop(struct gw_pp *p)
{
    if (p == NULL)
        return;
    ssize_t w = write(p->stop_w, "x", 1);
    (void)w;
    pthread_join(p->acceptor, NULL);
    close(p->lfd);
    pthread_mutex_lock(&p->mu);
    while (p->readers > 0) /* each ends within PP_TIMEOUT_MS */
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    close(p->stop_r);
    close(p->stop_w);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/*
 * SIEM shipping: one thread sends each durable record's metadata (seq = Merkle leaf index,
 * record hash, action, outcome; never a payload) as an RFC 5424 message over TLS with RFC 5425
 * octet-counting framing ("LEN SP MSG") to a configured collector, e.g. rsyslog imtcp with gtls.
 * The queue is bounded (the oldest message is dropped and counted when full: the log on disk is
 * the source of truth); failures reconnect with exponential backoff and resend from the first
 * unacknowledged message, in order (so a message may be duplicated across a reconnect, never
 * reordered; the seq lets the SIEM deduplicate).
 * Trusts: the CA file for the collector's certificate (verified, with its name or IP).
 * Owns: its thread, queue, socket and TLS context.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define BATCH   64
#define MSG_MAX 640

typedef struct sitem {
    uint64_t seq, time_ns;
    uint8_t hash[32];
    char action[AUDIT_FIELD_MAX + 1];
    char outcome[33];
} sitem;

struct audit__siem {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sitem *q;
    size_t cap, head, count;
    int stop;
    uint64_t stop_deadline;
    uint64_t sent, dropped;
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    char host[256], hostname[256];
    char port[8];
    unsigned backoff_max;
    int pid;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void audit__siem_push(audit__siem *s, uint64_t seq, uint64_t time_ns, const uint8_t hash[32],
                      const char *action, const char *outcome)
{
    pthread_mutex_lock(&s->mu);
    if (s->count == s->cap) { /* full: drop the oldest, count it */
        s->head = (s->head + 1) % s->cap;
        s->count--;
        s->dropped++;
    }
    sitem *it = &s->q[(s->head + s->count) % s->cap];
    it->seq = seq;
    it->time_ns = time_ns;
    memcpy(it->hash, hash, 32);
    snprintf(it->action, sizeof it->action, "%s", action);
    snprintf(it->outcome, sizeof it->outcome, "%s", outcome);
    s->count++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void audit__siem_stats(audit__siem *s, uint64_t *sent, uint64_t *dropped, uint64_t *queued)
{
    pthread_mutex_lock(&s->mu);
    *sent = s->sent;
    *dropped = s->dropped;
    *queued = s->count;
    pthread_mutex_unlock(&s->mu);
}

/* ---- the wire ------------------------------------------------------------------------------- */

/* RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] ; PRI 110 = facility 13 (log
 * audit) * 8 + severity 6 (informational). Framed "LEN SP MSG" (RFC 5425 §4.3). */
static size_t format(const audit__siem *s, const sitem *it, char *out, size_t cap)
{
    char msg[MSG_MAX], hex[65];
    time_t sec = (time_t)(it->time_ns / 1000000000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", it->hash[i]);
    int n = snprintf(msg, sizeof msg,
                     "<110>1 %04d-%02d-%02dT%02d:%02d:%02d.%06uZ %s medseal %d audit "
                     "[medseal@32473 seq=\"%llu\" leaf=\"%llu\" hash=\"%s\" action=\"%s\" "
                     "outcome=\"%s\"]",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (unsigned)(it->time_ns % 1000000000u / 1000u), s->hostname, s->pid,
                     (unsigned long long)it->seq, (unsigned long long)it->seq, hex, it->action,
                     it->outcome);
    if (n < 0 || (size_t)n >= sizeof msg)
        return 0;
    int m = snprintf(out, cap, "%d %s", n, msg);
    return m < 0 || (size_t)m >= cap ? 0 : (size_t)m;
}

static void disconnect(audit__siem *s)
{
    if (s->ssl != NULL) {
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
}

static int tcp_connect(const audit__siem *s)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(s->host, s->port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = {2, 0}; /* bounds connect, handshake and writes */
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static int tls_connect(audit__siem *s)
{
    s->fd = tcp_connect(s);
    if (s->fd < 0)
        return -1;
    s->ssl = SSL_new(s->ctx);
    if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1)
        return -1;
    uint8_t ip[16];
    int is_ip = inet_pton(AF_INET, s->host, ip) == 1 || inet_pton(AF_INET6, s->host, ip) == 1;
    if (is_ip && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), s->host) != 1)
        return -1;
    if (!is_ip &&
        (SSL_set1_host(s->ssl, s->host) != 1 || SSL_set_tlsext_host_name(s->ssl, s->host) != 1))
        return -1;
    return SSL_connect(s->ssl) == 1 ? 0 : -1;
}

static int send_all(audit__siem *s, const char *p, size_t n)
{
    while (n > 0) {
        int w = SSL_write(s->ssl, p, n > 1 << 30 ? 1 << 30 : (int)n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- the thread ------------------------------------------------------------------------------ */

/* Waits up to ms unless stopping; lock held. */
static void nap(audit__siem *s, unsigned ms)
{
    if (s->stop) { /* stopping: never sleep past the deadline */
        uint64_t now = mono_ms();
        if (now >= s->stop_deadline)
            return;
        if (s->stop_deadline - now < ms)
            ms = (unsigned)(s->stop_deadline - now);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)ms * 1000000u;
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

/* Sends up to BATCH queued messages (from the head, kept until acknowledged by the write). */
static int send_batch(audit__siem *s, char *buf, size_t cap, size_t *taken)
{
    size_t len = 0, k = 0;
    pthread_mutex_lock(&s->mu);
    for (; k < s->count && k < BATCH; k++) {
        size_t m = format(s, &s->q[(s->head + k) % s->cap], buf + len, cap - len);
        if (m == 0)
            break;
        len += m;
    }
    pthread_mutex_unlock(&s->mu);
    *taken = k;
    return send_all(s, buf, len);
}

static int want_exit(audit__siem *s)
{
    return s->stop && (s->count == 0 || mono_ms() >= s->stop_deadline);
}

static void *run(void *arg)
{
    audit__siem *s = arg;
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE); /* a closed connection gives EPIPE here, not a process signal */
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    static const size_t cap = BATCH * (MSG_MAX + 8);
    char *buf = ms_malloc(NULL, cap);
    unsigned backoff = 50;
    pthread_mutex_lock(&s->mu);
    while (buf != NULL && !want_exit(s)) {
        if (s->count == 0) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        size_t taken = 0;
        int ok = (s->ssl != NULL || tls_connect(s) == 0) && send_batch(s, buf, cap, &taken) == 0;
        if (!ok) {
            disconnect(s);
            struct timespec zero = {0, 0};
            (void)sigtimedwait(&pipe, NULL, &zero); /* consume a pending SIGPIPE */
        }
        pthread_mutex_lock(&s->mu);
        if (ok) {
            s->head = (s->head + taken) % s->cap; /* pushes only append at the tail */
            s->count -= taken;
            s->sent += taken;
            backoff = 50;
        } else {
            nap(s, backoff);
            backoff = backoff * 2 > s->backoff_max ? s->backoff_max : backoff * 2;
        }
    }
    pthread_mutex_unlock(&s->mu);
    ms_free(NULL, buf);
    if (s->ssl != NULL)
        SSL_shutdown(s->ssl);
    disconnect(s);
    return NULL;
}

/* ---- start / stop -----------------------------------------------------------------------------
 */

static ms_rc make_ctx(audit__siem *s, const audit_opts *o, ms_err *err)
{
    s->ctx = SSL_CTX_new(TLS_client_method());
    if (s->ctx == NULL || SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION) != 1)
        return ms_fail(err, MS_E_CRYPTO, "SIEM TLS context");
    SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, NULL);
    if (o->siem_ca_file == NULL ||
        SSL_CTX_load_verify_locations(s->ctx, o->siem_ca_file, NULL) != 1)
        return ms_fail(err, MS_E_CRYPTO, "SIEM CA file missing or unreadable");
    if (o->siem_cert_file != NULL &&
        (SSL_CTX_use_certificate_chain_file(s->ctx, o->siem_cert_file) != 1 ||
         SSL_CTX_use_PrivateKey_file(s->ctx,
                                     o->siem_key_file ? o->siem_key_file : o->siem_cert_file,
                                     SSL_FILETYPE_PEM) != 1 ||
         SSL_CTX_check_private_key(s->ctx) != 1))
        return ms_fail(err, MS_E_CRYPTO, "SIEM client certificate or key unreadable");
    return MS_OK;
}

/* RFC 5424 HOSTNAME: printable US-ASCII without spaces, at most 255. */
static void set_hostname(audit__siem *s, const char *h)
{
    char tmp[256] = "-";
    if (h == NULL && gethostname(tmp, sizeof tmp - 1) != 0)
        snprintf(tmp, sizeof tmp, "-");
    snprintf(s->hostname, sizeof s->hostname, "%s", h ? h : tmp);
    for (char *p = s->hostname; *p; p++) {
        if (*p <= ' ' || *p > '~')
            *p = '-';
    }
    if (s->hostname[0] == '\0')
        snprintf(s->hostname, sizeof s->hostname, "-");
}

static void siem_free(audit__siem *s)
{
    disconnect(s);
    SSL_CTX_free(s->ctx);
    ms_free(NULL, s->q);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    ms_free(NULL, s);
}

ms_rc audit__siem_start(const audit_opts *o, audit__siem **out, ms_err *err)
{
    if (strlen(o->siem_host) >= 256)
        return ms_fail(err, MS_E_INVAL, "SIEM host name too long");
    audit__siem *s = ms_malloc(NULL, sizeof *s);
    if (s == NULL)
        return ms_fail(err, MS_E_NOMEM, "SIEM shipper");
    s->fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->cap = o->siem_queue_max ? o->siem_queue_max : 65536;
    s->backoff_max = o->siem_backoff_max_ms ? o->siem_backoff_max_ms : 5000;
    s->pid = (int)getpid();
    snprintf(s->host, sizeof s->host, "%s", o->siem_host);
    snprintf(s->port, sizeof s->port, "%u", o->siem_port ? o->siem_port : 6514);
    set_hostname(s, o->siem_hostname);
    s->q = ms_calloc(NULL, s->cap, sizeof *s->q);
    ms_rc rc = s->q ? make_ctx(s, o, err) : ms_fail(err, MS_E_NOMEM, "SIEM queue");
    if (rc == MS_OK && pthread_create(&s->th, NULL, run, s) != 0)
        rc = ms_fail(err, MS_E_INTERNAL, "cannot start the SIEM thread");
    if (rc != MS_OK) {
        siem_free(s);
        return rc;
    }
    *out = s;
    return MS_OK;
}

void audit__siem_stop(audit__siem *s, unsigned wait_ms)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    s->stop_deadline = mono_ms() + wait_ms;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    siem_free(s);
}

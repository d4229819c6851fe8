/*
 * SIEM shipping against a real collector: Debian's rsyslogd (imtcp + gtls, mutual TLS with a test
 * CA made here with openssl) on 127.0.0.1, started by the test with its own config, pid file and
 * work dir in the test's folder. The log starts shipping before the collector is up (retry with
 * backoff), and every record must arrive exactly once, in order, carrying only metadata.
 * Skips cleanly when rsyslogd or its gtls driver is missing.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medseal/audit.h"
#include "test.h"

#define RSYSLOGD "/usr/sbin/rsyslogd"
#define GTLS     "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so"

static const uint8_t master[MS_KEY_LEN] = {5, 5, 5};

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &n) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int make_certs(const char *d)
{
    return ms_test_sh(
        NULL,
        "exec 2>/dev/null; cd %s && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > "
        "ext.cnf && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
        "-out ca.pem -days 2 -subj /CN=medseal-test-ca && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key "
        "-out server.csr -subj /CN=localhost && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out "
        "server.pem -days 2 -extfile ext.cnf && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key "
        "-out client.csr -subj /CN=medseal-client && "
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out "
        "client.pem -days 2 2>/dev/null",
        d);
}

static int write_conf(const char *d, int port)
{
    char p[600];
    snprintf(p, sizeof p, "%s/rs.conf", d);
    FILE *f = fopen(p, "w");
    if (f == NULL)
        return -1;
    fprintf(f,
            "global(workDirectory=\"%s/work\" DefaultNetstreamDriver=\"gtls\"\n"
            "  DefaultNetstreamDriverCAFile=\"%s/ca.pem\"\n"
            "  DefaultNetstreamDriverCertFile=\"%s/server.pem\"\n"
            "  DefaultNetstreamDriverKeyFile=\"%s/server.key\")\n"
            "module(load=\"imtcp\" StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\"\n"
            "  StreamDriver.AuthMode=\"x509/certvalid\")\n"
            "input(type=\"imtcp\" port=\"%d\" address=\"127.0.0.1\")\n"
            "template(name=\"raw\" type=\"string\" string=\"%%rawmsg%%\\n\")\n"
            "if $app-name == \"medseal\" then action(type=\"omfile\" file=\"%s/out.log\" "
            "template=\"raw\")\n",
            d, d, d, d, port, d);
    return fclose(f);
}

static int append_n(audit_log *l, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "req-%d", i);
        audit_record r = {0};
        r.action = i % 2 ? "chat.completion" : "auth.fail";
        r.outcome = i % 2 ? "ok" : "denied";
        r.request_id = rid;
        r.patient = "MS-ABCDEFGHIJKLMNOP";
        if (audit_log_append(l, &r, NULL, NULL) != MS_OK)
            return -1;
    }
    return 0;
}

/* The leaf hash export gives record `seq` (hex), from the log on disk. */
static int export_hash(void *ud, const char *line, size_t len)
{
    char *want = ud;
    const char *h = memmem(line, len, "\"hash\":\"", 8);
    if (h != NULL && (size_t)(line + len - h) > 8 + 64)
        memcpy(want, h + 8, 64);
    return 1; /* one line is enough */
}

/* The hash field the SIEM received for `seq`, compared with the log's own leaf hash. */
static int hash_matches(const char *d, const char *out, uint64_t seq)
{
    char key[48], want[65] = {0}, state[600];
    snprintf(key, sizeof key, " seq=\"%llu\" ", (unsigned long long)seq);
    const char *line = strstr(out, key);
    const char *h = line ? strstr(line, "hash=\"") : NULL;
    snprintf(state, sizeof state, "%s/state", d);
    if (h == NULL || audit_export(state, master, seq, 1, export_hash, want, NULL) != MS_OK)
        return -1;
    return strlen(want) == 64 && strncmp(h + 6, want, 64) == 0 ? 0 : -1;
}

/* Checks out.log: seq 0..total-1, each once, in order; no payload field; hashes match. */
static int check_received(const char *d, uint64_t total)
{
    char *out = NULL;
    for (int tries = 0; tries < 100; tries++) { /* omfile flushes per batch: poll briefly */
        free(out);
        out = NULL;
        if (ms_test_sh(&out, "cat %s/out.log 2>/dev/null", d) == 0 && out != NULL) {
            size_t lines = 0;
            for (char *p = out; *p; p++)
                lines += *p == '\n';
            if (lines >= total)
                break;
        }
        usleep(100000);
    }
    if (out == NULL)
        return -1;
    int bad = hash_matches(d, out, 0) != 0 || hash_matches(d, out, total / 2) != 0 ||
              hash_matches(d, out, total - 1) != 0;
    uint64_t want = 0;
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *s = strstr(line, " seq=\"");
        if (s == NULL || strncmp(line, "<110>1 ", 7) != 0 || strstr(line, "medseal@32473") == NULL)
            bad = 1;
        else if (strtoull(s + 6, NULL, 10) != want++)
            bad = 1;
        if (strstr(line, "req-") != NULL || strstr(line, "MS-ABC") != NULL)
            bad = 1; /* metadata only */
    }
    free(out);
    if (bad || want != total)
        fprintf(stderr, "  received %llu of %llu in order, bad=%d\n", (unsigned long long)want,
                (unsigned long long)total, bad);
    return bad || want != total ? -1 : 0;
}

static int run(const char *d, int port)
{
    char state[600], p[700];
    snprintf(state, sizeof state, "%s/state", d);
    audit_opts o = {0};
    snprintf(p, sizeof p, "%s/ca.pem", d);
    char cert[700], key[700];
    snprintf(cert, sizeof cert, "%s/client.pem", d);
    snprintf(key, sizeof key, "%s/client.key", d);
    o.siem_host = "127.0.0.1";
    o.siem_port = (uint16_t)port;
    o.siem_ca_file = p;
    o.siem_cert_file = cert;
    o.siem_key_file = key;
    o.siem_backoff_max_ms = 200;
    o.sth_records = 50;
    audit_log *l = NULL;
    ms_err err = {0};
    CHECK(audit_log_open(state, master, &o, &l, &err) == MS_OK);
    CHECK(append_n(l, 0, 40) == 0); /* the collector is not up yet */
    usleep(300000);
    audit_stats st;
    audit_log_stats(l, &st);
    CHECK_EQ_INT(st.siem_sent, 0);
    CHECK(st.siem_queued > 0);
    CHECK(ms_test_sh(NULL, "%s -f %s/rs.conf -i %s/rs.pid", RSYSLOGD, d, d) == 0);
    CHECK(append_n(l, 40, 260) == 0);
    audit_log_stats(l, &st);
    uint64_t total = st.records + 1; /* + the tree head written by close */
    CHECK(audit_log_close(l, &err) == MS_OK);
    return check_received(d, total);
}

TEST(test_audit_siem_rsyslog_tls_every_record_once_in_order)
{
    if (access(RSYSLOGD, X_OK) != 0 ||
        ms_test_sh(NULL, "ls /usr/lib/*/rsyslog/lmnsd_gtls.so /usr/lib/rsyslog/lmnsd_gtls.so "
                         "2>/dev/null | grep -q .") != 0)
        SKIP("rsyslogd or rsyslog-gnutls not installed");
    const char *d = ms_test_tmpdir();
    CHECK(make_certs(d) == 0);
    int port = free_port();
    CHECK(port > 0);
    CHECK(ms_test_sh(NULL, "mkdir -p %s/work", d) == 0);
    CHECK(write_conf(d, port) == 0);
    int rc = run(d, port);
    ms_test_sh(NULL, "test -f %s/rs.pid && kill $(cat %s/rs.pid)", d, d);
    return rc;
}

TEST(test_audit_siem_queue_is_bounded)
{
    const char *d = ms_test_tmpdir();
    char state[600];
    snprintf(state, sizeof state, "%s/state", d);
    if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) != 0)
        SKIP("no system CA bundle");
    audit_opts o = {0};
    o.siem_host = "127.0.0.1";
    o.siem_port = (uint16_t)free_port(); /* nobody listens */
    o.siem_ca_file = "/etc/ssl/certs/ca-certificates.crt";
    o.siem_queue_max = 16;
    o.sync = AUDIT_SYNC_BATCH;
    audit_log *l = NULL;
    ms_err err = {0};
    CHECK(audit_log_open(state, master, &o, &l, &err) == MS_OK);
    CHECK(append_n(l, 0, 100) == 0);
    CHECK(audit_log_flush(l, &err) == MS_OK);
    audit_stats st;
    audit_log_stats(l, &st);
    CHECK(st.siem_queued <= 16);
    CHECK(st.siem_dropped >= 100 - 16);
    CHECK_EQ_INT(st.siem_sent, 0);
    CHECK(audit_log_close(l, &err) == MS_OK); /* does not hang on an unreachable collector */
    return 0;
}

/*
 * DIMSE against real DCMTK peers on loopback: `medseal serve --dicom-listen` (the CLI, in the
 * test's folder, its own state, certificates and peers file) answering echoscu and storescu, plain
 * and over TLS 1.3 with client certificates; an unknown calling AE refused; malformed PDUs
 * answered with A-ABORT while the server keeps serving; the ARTIM and idle timers; and the
 * C-STORE SCU (dm_scu_store) sending to DCMTK storescp. SKIP when DCMTK or ../shared (the
 * synthetic study generator) is absent. Every process a test starts, it stops.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "medseal/core.h"
#include "medseal/dimse.h"
#include "test.h"

struct env {
    const char *dir;
    pid_t pid;
    unsigned port;
    char key[128];
};

static int have_dcmtk(void)
{
    return ms_test_sh(NULL, "command -v storescu >/dev/null && command -v echoscu >/dev/null && "
                            "command -v storescp >/dev/null") == 0;
}

static int make_study(const char *dir, const char *name, int slices)
{
    const char *sh = ms_test_shared();
    if (sh == NULL)
        return -1;
    return ms_test_sh(NULL,
                      "/usr/bin/python3 '%s/tools/make_study.py' '%s/%s' --slices %d --studies 1 "
                      "--seed 7 >/dev/null 2>&1",
                      sh, dir, name, slices);
}

/* A test CA, a server certificate for 127.0.0.1 and a client certificate. */
static int make_certs(const char *d)
{
    return ms_test_sh(
        NULL,
        "cd '%s' && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext.cnf && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
        "-out ca.pem -subj /CN=medseal-dimse-ca -days 2 2>/dev/null && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out "
        "srv.csr -subj /CN=localhost 2>/dev/null && "
        "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem "
        "-days 2 -extfile ext.cnf 2>/dev/null && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout cli.key -out "
        "cli.csr -subj /CN=pacs 2>/dev/null && "
        "openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cli.pem "
        "-days 2 2>/dev/null",
        d);
}

/* State with one clinician key; peers: STORESCU from 127.0.0.1, ECHOSCU from anywhere. */
static int setup(struct env *e)
{
    char *out = NULL;
    memset(e, 0, sizeof *e);
    e->dir = ms_test_tmpdir();
    if (make_certs(e->dir) != 0)
        return -1;
    if (ms_test_sh(&out, "cd '%s' && '%s' keys create --state state --role clinician | "
                         "sed -n 's/^key: *//p'",
                   e->dir, ms_test_medseal()) != 0 ||
        out == NULL || strncmp(out, "msk_", 4) != 0) {
        free(out);
        return -1;
    }
    out[strcspn(out, "\n")] = '\0';
    snprintf(e->key, sizeof e->key, "%s", out);
    free(out);
    return ms_test_sh(NULL,
                      "cd '%s' && printf '# calling AE, host, API key\\nSTORESCU 127.0.0.1 %s\\n"
                      "ECHOSCU * %s\\n' > peers && chmod 600 peers",
                      e->dir, e->key, e->key);
}

/* Starts medseal serve with a config file made of `extra` lines. */
static int start(struct env *e, const char *extra)
{
    char *out = NULL;
    if (ms_test_sh(NULL, "cd '%s' && printf 'dicom_peers = peers\\n%s' > serve.conf", e->dir,
                   extra) != 0)
        return -1;
    if (ms_test_sh(&out,
                   "cd '%s' && '%s' serve --listen 127.0.0.1:0 --cert srv.pem --key srv.key "
                   "--state state --insecure-no-attestation --allow-unlocked-memory --config "
                   "serve.conf --dicom-listen 127.0.0.1:0 > serve.out 2> serve.err & echo $!",
                   e->dir, ms_test_medseal()) != 0 ||
        out == NULL)
        return -1;
    e->pid = (pid_t)atoi(out);
    free(out);
    for (int i = 0; i < 100 && e->port == 0; i++) { /* bounded: 10 s */
        char *p = NULL;
        usleep(100000);
        if (ms_test_sh(&p, "sed -n 's/^medseal serve: dicom on 127.0.0.1:\\([0-9]*\\).*/\\1/p' "
                           "'%s/serve.out'",
                       e->dir) == 0 &&
            p && *p)
            e->port = (unsigned)atoi(p);
        free(p);
    }
    return e->port ? 0 : -1;
}

static void stop(struct env *e)
{
    if (e->pid > 0) {
        /* not our child (started by a shell): poll until it is gone */
        kill(e->pid, SIGTERM);
        for (int i = 0; i < 100 && kill(e->pid, 0) == 0; i++)
            usleep(100000);
        kill(e->pid, SIGKILL);
    }
    e->pid = 0;
}

/* Counts lines of the server's stderr holding `what`. */
static int log_count(const struct env *e, const char *what)
{
    char *out = NULL;
    int n = -1;
    if (ms_test_sh(&out, "grep -c -- '%s' '%s/serve.err'", what, e->dir) >= 0 && out)
        n = atoi(out);
    free(out);
    return n;
}

static int connect_lo(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Reads up to n bytes within ms milliseconds; returns bytes read (0: closed), -1 timeout. */
static int read_for(int fd, uint8_t *p, size_t n, int ms)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd q = {fd, POLLIN, 0};
        if (poll(&q, 1, ms) <= 0)
            return got ? (int)got : -1;
        ssize_t r = read(fd, p + got, n - got);
        if (r <= 0)
            return (int)got;
        got += (size_t)r;
    }
    return (int)got;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

TEST(test_dimse_dcmtk_echo_store_unknown_ae_malformed)
{
    struct env e;
    if (!have_dcmtk())
        SKIP("DCMTK (echoscu, storescu) not installed");
    if (ms_test_shared() == NULL)
        SKIP("../shared absent (make_study.py)");
    CHECK(setup(&e) == 0);
    CHECK(make_study(e.dir, "st", 4) == 0);
    CHECK(start(&e, "") == 0);
    int rc = ms_test_sh(NULL, "echoscu -aet ECHOSCU -aec MEDSEAL 127.0.0.1 %u", e.port);
    CHECK_EQ_INT(rc, 0);
    rc = ms_test_sh(NULL, "cd '%s' && storescu -aet STORESCU -aec MEDSEAL 127.0.0.1 %u +sd +r "
                          "+sp '*.dcm' st 2>storescu.err",
                    e.dir, e.port);
    CHECK_EQ_INT(rc, 0);
    usleep(200000);
    CHECK_EQ_INT(log_count(&e, "association released: 5 instances stored, 0 refused"), 1);
    /* an unknown calling AE: A-ASSOCIATE-RJ, calling AE not recognized */
    char *out = NULL;
    rc = ms_test_sh(&out, "echoscu -aet STRANGER -aec MEDSEAL 127.0.0.1 %u 2>&1", e.port);
    CHECK(rc != 0);
    CHECK(out != NULL && strstr(out, "Calling AE Title Not Recognized") != NULL);
    free(out);
    out = NULL;
    /* a wrong called AE title */
    rc = ms_test_sh(NULL, "echoscu -aet ECHOSCU -aec OTHER 127.0.0.1 %u 2>/dev/null", e.port);
    CHECK(rc != 0);
    /* malformed PDUs: an A-ASSOCIATE-RQ claiming 4 GiB, a garbage RQ, a P-DATA first */
    static const uint8_t huge[6] = {1, 0, 0xff, 0xff, 0xff, 0xff};
    uint8_t garbage[6 + 80];
    memcpy(garbage, "\x01\x00\x00\x00\x00\x50", 6);
    memset(garbage + 6, 'A', 80);
    static const uint8_t pdata[14] = {4, 0, 0, 0, 0, 8, 0, 0, 0, 4, 1, 3, 0, 0};
    const uint8_t *pdus[] = {huge, garbage, pdata};
    size_t lens[] = {sizeof huge, sizeof garbage, sizeof pdata};
    for (size_t i = 0; i < 3; i++) {
        int fd = connect_lo(e.port);
        CHECK(fd >= 0);
        CHECK(write(fd, pdus[i], lens[i]) == (ssize_t)lens[i]);
        uint8_t ab[10];
        int n = read_for(fd, ab, sizeof ab, 3000);
        close(fd);
        CHECK_EQ_INT(n, 10);
        CHECK_EQ_INT(ab[0], DM_PDU_ABORT);
        CHECK_EQ_INT(ab[8], 2); /* service provider */
    }
    CHECK(log_count(&e, "dicom abort sent") >= 3);
    /* and it keeps serving */
    rc = ms_test_sh(NULL, "echoscu -aet ECHOSCU -aec MEDSEAL 127.0.0.1 %u", e.port);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(log_count(&e, "association rejected: calling AE title not recognized"), 1);
    /* no value of the study in the log */
    CHECK_EQ_INT(log_count(&e, "1.2."), 0);
    stop(&e);
    return 0;
}

TEST(test_dimse_dcmtk_tls_storescu)
{
    struct env e;
    if (!have_dcmtk())
        SKIP("DCMTK (echoscu, storescu) not installed");
    if (ms_test_shared() == NULL)
        SKIP("../shared absent (make_study.py)");
    CHECK(setup(&e) == 0);
    CHECK(make_study(e.dir, "st", 3) == 0);
    CHECK(start(&e, "dicom_tls = 1\\ndicom_tls_ca = ca.pem\\n") == 0);
    int rc = ms_test_sh(NULL,
                        "cd '%s' && storescu --enable-tls cli.key cli.pem --add-cert-file ca.pem "
                        "-aet STORESCU -aec MEDSEAL 127.0.0.1 %u +sd +r +sp '*.dcm' st "
                        "2>storescu.err",
                        e.dir, e.port);
    CHECK_EQ_INT(rc, 0);
    usleep(200000);
    CHECK_EQ_INT(log_count(&e, "association released: 4 instances stored"), 1);
    /* plain DICOM to the TLS port, and TLS without a client certificate, both fail */
    rc = ms_test_sh(NULL, "echoscu -aet ECHOSCU -aec MEDSEAL 127.0.0.1 %u 2>/dev/null", e.port);
    CHECK(rc != 0);
    rc = ms_test_sh(NULL,
                    "cd '%s' && echoscu --anonymous-tls --add-cert-file ca.pem -aet ECHOSCU -aec "
                    "MEDSEAL 127.0.0.1 %u 2>/dev/null",
                    e.dir, e.port);
    CHECK(rc != 0);
    CHECK(log_count(&e, "tls handshake failed") >= 2);
    /* with the client certificate, echo works */
    rc = ms_test_sh(NULL,
                    "cd '%s' && echoscu --enable-tls cli.key cli.pem --add-cert-file ca.pem -aet "
                    "ECHOSCU -aec MEDSEAL 127.0.0.1 %u",
                    e.dir, e.port);
    CHECK_EQ_INT(rc, 0);
    stop(&e);
    return 0;
}

TEST(test_dimse_dcmtk_artim_and_idle_timers)
{
    struct env e;
    if (!have_dcmtk())
        SKIP("DCMTK not installed");
    CHECK(setup(&e) == 0);
    CHECK(start(&e, "dicom_artim_s = 1\\ndicom_idle_s = 1\\n") == 0);
    /* ARTIM: a connection that never sends an A-ASSOCIATE-RQ is closed */
    int fd = connect_lo(e.port);
    CHECK(fd >= 0);
    double t0 = now_s();
    uint8_t b[64];
    int n = read_for(fd, b, sizeof b, 5000);
    close(fd);
    CHECK_EQ_INT(n, 0);
    CHECK(now_s() - t0 < 4.0);
    /* idle: associated, then silent: A-ABORT */
    dm_assoc rq;
    ms_buf m;
    memset(&rq, 0, sizeof rq);
    strcpy(rq.calling, "ECHOSCU");
    strcpy(rq.called, "MEDSEAL");
    rq.pc[0].id = 1;
    strcpy(rq.pc[0].abstract, DM_VERIFICATION);
    rq.pc[0].ts[0] = (uint8_t)dm_ts_index("1.2.840.10008.1.2");
    rq.pc[0].n_ts = 1;
    rq.n_pc = 1;
    ms_buf_init(&m, NULL, 0);
    CHECK(dm_assoc_build(DM_PDU_ASSOC_RQ, &rq, 16384, &m, NULL) == MS_OK);
    fd = connect_lo(e.port);
    CHECK(fd >= 0);
    CHECK(write(fd, m.p, m.len) == (ssize_t)m.len);
    ms_buf_free(&m);
    uint8_t h[6];
    CHECK_EQ_INT(read_for(fd, h, 6, 3000), 6);
    CHECK_EQ_INT(h[0], DM_PDU_ASSOC_AC);
    uint32_t len = ms_load_u32be(h + 2);
    uint8_t *ac = malloc(len);
    CHECK(ac != NULL);
    CHECK_EQ_INT(read_for(fd, ac, len, 3000), (int)len);
    free(ac);
    t0 = now_s();
    uint8_t ab[10];
    n = read_for(fd, ab, sizeof ab, 5000);
    close(fd);
    CHECK_EQ_INT(n, 10);
    CHECK_EQ_INT(ab[0], DM_PDU_ABORT);
    CHECK(now_s() - t0 < 4.0);
    CHECK(log_count(&e, "abort sent: timeout") >= 1);
    stop(&e);
    return 0;
}

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

TEST(test_dimse_scu_to_dcmtk_storescp)
{
    if (!have_dcmtk())
        SKIP("DCMTK (storescp) not installed");
    if (ms_test_shared() == NULL)
        SKIP("../shared absent (make_study.py)");
    const char *dir = ms_test_tmpdir();
    CHECK(make_study(dir, "st", 3) == 0);
    CHECK(ms_test_sh(NULL, "mkdir -p '%s/in'", dir) == 0);
    /* storescp on a free port (retry: other tests pick ports too) */
    pid_t pid = 0;
    int port = 0;
    for (int attempt = 0; attempt < 5 && pid == 0; attempt++) {
        char *out = NULL;
        port = free_port();
        if (ms_test_sh(&out, "cd '%s' && storescp -aet PACS -od in %d >storescp.out 2>&1 & echo $!",
                       dir, port) != 0 ||
            out == NULL)
            return 1;
        pid_t p = (pid_t)atoi(out);
        free(out);
        usleep(300000);
        if (kill(p, 0) == 0)
            pid = p;
    }
    CHECK(pid > 0);
    /* the study's files, read into memory */
    char *list = NULL;
    CHECK(ms_test_sh(&list, "find '%s/st' -name '*.dcm' | sort", dir) == 0 && list != NULL);
    ms_slice files[16];
    ms_buf bufs[16];
    size_t n = 0;
    for (char *l = strtok(list, "\n"); l != NULL && n < 16; l = strtok(NULL, "\n")) {
        ms_buf_init(&bufs[n], NULL, 0);
        CHECK(ms_file_read(l, NULL, 64u << 20, &bufs[n], NULL) == MS_OK);
        files[n] = (ms_slice){bufs[n].p, bufs[n].len};
        n++;
    }
    free(list);
    CHECK_EQ_INT(n, 4); /* 3 CT slices and the report SR */
    dm_scu_opts o = {.calling_ae = "MEDSEAL", .called_ae = "PACS", .host = "127.0.0.1",
                     .port = (uint16_t)port, .timeout_s = 10};
    uint16_t st[16];
    ms_err err = {0};
    ms_rc rc = dm_scu_store(&o, files, n, st, &err);
    if (rc != MS_OK)
        fprintf(stderr, "  scu: %s\n", err.msg);
    CHECK_EQ_INT(rc, MS_OK);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(st[i], 0);
    /* storescp wrote every one */
    char *cnt = NULL;
    CHECK(ms_test_sh(&cnt, "ls '%s/in' | wc -l", dir) == 0 && cnt != NULL);
    CHECK_EQ_INT(atoi(cnt), (int)n);
    free(cnt);
    /* nobody listening: MS_E_IO */
    kill(pid, SIGTERM);
    for (int i = 0; i < 50 && kill(pid, 0) == 0; i++)
        usleep(100000);
    o.timeout_s = 2;
    CHECK_EQ_INT(dm_scu_store(&o, files, n, NULL, NULL), MS_E_IO);
    for (size_t i = 0; i < n; i++)
        ms_buf_free(&bufs[i]);
    return 0;
}

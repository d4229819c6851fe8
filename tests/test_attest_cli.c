/*
 * Tests of `medseal verify` (the CLI) and of the live check: a tiny TLS server started by the test
 * answers GET /v1/attestation like a medseal server would (UNATTESTED, replayed evidence, evidence
 * for another TLS key), and `medseal serve --insecure-no-attestation` itself once the gateway is
 * built. Expected values come from data/attest/MANIFEST.md.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "medseal/attest.h"
#include "test.h"
#include "test_attest_util.h"

static int have_cli(void)
{
    struct stat st;
    return stat(ms_test_medseal(), &st) == 0 && (st.st_mode & S_IXUSR);
}

static int has(const char *s, const char *needle)
{
    return s != NULL && strstr(s, needle) != NULL;
}

/* ---- offline CLI --------------------------------------------------------------------------- */

TEST(test_attest_cli_tdx_v4_json_and_exit_status)
{
    char *o = NULL, when[40], mrtd[128];
    if (!have_cli())
        SKIP("medseal binary not built");
    CHECK(att_t_manifest_after("1+2.", "works out to **", when, sizeof when));
    CHECK(att_t_manifest("1+2.", "mr_td", mrtd, sizeof mrtd));
    CHECK(ms_test_sh(&o, "'%s' verify --quote '%s' --collateral '%s' --at %s --json",
                     ms_test_medseal(), att_t_path("tdx_quote_v4_dcapqvl.bin"),
                     att_t_path("tdx_quote_v4_dcapqvl_collateral.json"), when) == 0);
    json_error_t je;
    json_t *j = json_loads(o, 0, &je);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "verdict")), "PASS");
    CHECK_STR(json_string_value(json_object_get(j, "tcb_status")), "UpToDate");
    json_t *b =
        json_object_get(json_object_get(json_object_get(j, "fields"), "quote"), "td_report");
    CHECK(att_t_hex_is(b, "mr_td", mrtd));
    json_decref(j);
    free(o);
    /* one second after the window: exit 1, one clear line on stderr */
    time_t t = att_t_time(when) + 2;
    CHECK(ms_test_sh(&o, "'%s' verify --quote '%s' --collateral '%s' --at @%lld 2>&1",
                     ms_test_medseal(), att_t_path("tdx_quote_v4_dcapqvl.bin"),
                     att_t_path("tdx_quote_v4_dcapqvl_collateral.json"), (long long)t) == 1);
    CHECK(has(o, "FAIL") && has(o, "collateral expired"));
    free(o);
    return 0;
}

TEST(test_attest_cli_snp_debug_policy_and_errors)
{
    char *o = NULL, pol[700];
    if (!have_cli())
        SKIP("medseal binary not built");
    const char *rep = att_t_path("snp_report_milan_gosev.bin");
    const char *vcek = att_t_path("snp_vcek_milan_gosev.der");
    const char *chain = att_t_path("amd_ask_ark_milan.pem");
    CHECK(ms_test_sh(&o, "'%s' verify --quote '%s' --collateral '%s' --collateral '%s' 2>&1",
                     ms_test_medseal(), rep, vcek, chain) == 1);
    CHECK(has(o, "DEBUG"));
    free(o);
    snprintf(pol, sizeof pol, "%s/dev-policy.json", ms_test_tmpdir());
    CHECK(ms_test_sh(NULL, "printf '{\"tee\":\"sev-snp\",\"allow_debug\":true}' > '%s'", pol) == 0);
    CHECK(ms_test_sh(&o,
                     "'%s' verify --quote '%s' --collateral '%s' --collateral '%s' --policy "
                     "'%s'",
                     ms_test_medseal(), rep, vcek, chain, pol) == 0);
    CHECK(has(o, "PASS") && has(o, "SEV-SNP"));
    free(o);
    /* usage errors exit 2; unreadable input exits 1 with one line */
    CHECK(ms_test_sh(NULL, "'%s' verify 2>/dev/null", ms_test_medseal()) == 2);
    CHECK(ms_test_sh(NULL, "'%s' verify --quote a --evidence b 2>/dev/null", ms_test_medseal()) ==
          2);
    CHECK(ms_test_sh(&o, "'%s' verify --quote /nonexistent 2>&1", ms_test_medseal()) == 1);
    CHECK(o != NULL && strchr(o, '\n') == strrchr(o, '\n'));
    free(o);
    CHECK(ms_test_sh(&o, "head -c 100 '%s' > '%s/t.bin'; '%s' verify --quote '%s/t.bin' 2>&1", rep,
                     ms_test_tmpdir(), ms_test_medseal(), ms_test_tmpdir()) == 1);
    CHECK(has(o, "truncated") || has(o, "neither"));
    free(o);
    CHECK(ms_test_sh(&o, "'%s' verify --quote '%s/t.bin' --json 2>/dev/null", ms_test_medseal(),
                     ms_test_tmpdir()) == 1);
    CHECK(has(o, "\"verdict\": \"FAIL\""));
    free(o);
    CHECK(ms_test_sh(&o,
                     "printf '{\"tdx\":{\"mrdt\":\"00\"}}' > '%s/bad.json'; '%s' verify "
                     "--quote '%s' --policy '%s/bad.json' 2>&1",
                     ms_test_tmpdir(), ms_test_medseal(), rep, ms_test_tmpdir()) == 1);
    CHECK(has(o, "unknown key"));
    free(o);
    return 0;
}

/* ---- a tiny attestation server ------------------------------------------------------------- */

enum mode {
    SERVE_NONE,
    SERVE_REPLAY,
    SERVE_OTHER_KEY,
    SERVE_NOT_FOUND,
    SERVE_SNP_SYNTH,
    SERVE_HANG_UP
};

/* A test AMD-like PKI (ARK -> ASK, RSA-PSS SHA-384; VCEK P-384 with the TCB and hwID extensions)
 * so a live check can run the whole positive path: the real go-sev-guest report, DEBUG cleared,
 * REPORT_DATA set to the binding and re-signed by the test VCEK; the ARK is pinned by policy. */
struct snp_pki {
    char dir[600];
    char vcek_key[700], certs[700];
    uint8_t ark_fp[32];
};

struct srv {
    const struct snp_pki *pki;
    pid_t pid;
    int port;
    char cert[600], key[600];
    uint8_t spki[32];
};

static int make_cert(struct srv *s)
{
    snprintf(s->cert, sizeof s->cert, "%s/att-srv.pem", ms_test_tmpdir());
    snprintf(s->key, sizeof s->key, "%s/att-srv.key", ms_test_tmpdir());
    if (ms_test_sh(NULL,
                   "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
                   "'%s' -out '%s' -subj /CN=localhost -days 2 2>/dev/null",
                   s->key, s->cert) != 0)
        return 0;
    ms_buf c;
    ms_buf_init(&c, NULL, 0);
    int ok = ms_file_read(s->cert, NULL, 0, &c, NULL) == MS_OK &&
             att_spki_sha256_cert(c.p, c.len, s->spki, NULL) == MS_OK;
    ms_buf_free(&c);
    return ok;
}

static int make_snp_pki(struct snp_pki *k, const uint8_t chip[64])
{
    char hw[64 * 3 + 1];
    for (int i = 0; i < 64; i++)
        snprintf(hw + 3 * i, 4, "%02X%s", chip[i], i < 63 ? ":" : "");
    snprintf(k->dir, sizeof k->dir, "%s/snp-pki", ms_test_tmpdir());
    snprintf(k->vcek_key, sizeof k->vcek_key, "%s/vcek.key", k->dir);
    snprintf(k->certs, sizeof k->certs, "%s/certs.pem", k->dir);
    const char *pss = "-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:48 -sha384";
    if (ms_test_sh(NULL,
                   "mkdir -p '%s' && cd '%s' && "
                   "printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,"
                   "cRLSign\n' > ca.cnf && "
                   "printf 'basicConstraints=critical,CA:FALSE\n"
                   "1.3.6.1.4.1.3704.1.3.1=DER:02:01:02\n1.3.6.1.4.1.3704.1.3.2=DER:02:01:00\n"
                   "1.3.6.1.4.1.3704.1.3.3=DER:02:01:05\n1.3.6.1.4.1.3704.1.3.8=DER:02:01:44\n"
                   "1.3.6.1.4.1.3704.1.4=DER:%s\n' > vcek.cnf && "
                   "openssl req -x509 -newkey rsa:2048 -nodes -keyout ark.key -out ark.pem "
                   "-subj /CN=ARK-Test -days 2 %s -addext basicConstraints=critical,CA:TRUE "
                   "-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null && "
                   "openssl req -newkey rsa:2048 -nodes -keyout ask.key -out ask.csr "
                   "-subj /CN=SEV-Test 2>/dev/null && "
                   "openssl x509 -req -in ask.csr -CA ark.pem -CAkey ark.key -CAcreateserial "
                   "-out ask.pem -days 2 %s -extfile ca.cnf 2>/dev/null && "
                   "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "
                   "vcek.key -out vcek.csr -subj /CN=SEV-VCEK 2>/dev/null && "
                   "openssl x509 -req -in vcek.csr -CA ask.pem -CAkey ask.key -CAcreateserial "
                   "-out vcek.pem -days 2 %s -extfile vcek.cnf 2>/dev/null && "
                   "cat vcek.pem ask.pem ark.pem > certs.pem",
                   k->dir, k->dir, hw, pss, pss, pss) != 0)
        return 0;
    char ark[700];
    snprintf(ark, sizeof ark, "%s/ark.pem", k->dir);
    FILE *f = fopen(ark, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    unsigned int n = 32;
    int ok = x != NULL && X509_digest(x, EVP_sha256(), k->ark_fp, &n) == 1;
    X509_free(x);
    if (f)
        fclose(f);
    return ok;
}

/* Signs bytes [0, 0x2A0) of a report with the test VCEK, r and s little-endian (AMD layout). */
static int sign_snp(uint8_t *rep, const char *key_path)
{
    FILE *f = fopen(key_path, "r");
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char der[160];
    size_t dl = sizeof der;
    int ok = k && c && EVP_DigestSignInit(c, NULL, EVP_sha384(), NULL, k) == 1 &&
             EVP_DigestSign(c, der, &dl, rep, 0x2A0) == 1;
    const unsigned char *p = der;
    ECDSA_SIG *sig = ok ? d2i_ECDSA_SIG(NULL, &p, (long)dl) : NULL;
    memset(rep + 0x2A0, 0, 0x200);
    ok = sig && BN_bn2lebinpad(ECDSA_SIG_get0_r(sig), rep + 0x2A0, 72) == 72 &&
         BN_bn2lebinpad(ECDSA_SIG_get0_s(sig), rep + 0x2E8, 72) == 72;
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(k);
    return ok;
}

static json_t *snp_synth(const struct snp_pki *k, const uint8_t *nonce, size_t n,
                         const uint8_t spki[32])
{
    ms_buf rep, b64, certs;
    uint8_t rd[64];
    json_t *ev = NULL;
    att_provider *p = NULL;
    ms_buf_init(&b64, NULL, 0);
    ms_buf_init(&certs, NULL, 0);
    if (!att_t_read("snp_report_milan_gosev.bin", &rep) ||
        ms_file_read(k->certs, NULL, 0, &certs, NULL) != MS_OK ||
        att_reportdata(nonce, n, spki, rd, NULL) != MS_OK)
        goto done;
    ms_store_u64le(rep.p + 0x08, 0x30000); /* SMT + reserved bit 17, DEBUG cleared */
    memcpy(rep.p + 0x50, rd, 64);
    if (!sign_snp(rep.p, k->vcek_key) || ms_b64_encode(rep.p, rep.len, &b64, NULL) != MS_OK ||
        att_provider_open("none", &p, NULL) != MS_OK ||
        att_evidence_json(p, nonce, n, spki, &ev, NULL) != MS_OK)
        goto done;
    json_object_set_new(ev, "provider", json_string("sev-snp"));
    json_object_set_new(ev, "attested", json_true());
    json_object_del(ev, "status");
    json_object_set_new(ev, "quote", json_string((char *)b64.p));
    json_object_set_new(ev, "certificates", json_string((char *)certs.p));
done:
    att_provider_free(p);
    ms_buf_free(&rep);
    ms_buf_free(&b64);
    ms_buf_free(&certs);
    return ev;
}

static size_t parse_nonce(const char *req, uint8_t *nonce)
{
    const char *p = strstr(req, "nonce=");
    size_t n = 0;
    if (p == NULL)
        return 0;
    p += 6;
    while (n < ATT_NONCE_MAX && p[2 * n] && p[2 * n + 1] && strchr(" &", p[2 * n]) == NULL &&
           ms_hex_decode(p + 2 * n, 2, nonce + n, 1, NULL) == MS_OK)
        n++;
    return n;
}

static json_t *answer(enum mode m, const uint8_t *nonce, size_t n, const uint8_t spki[32],
                      const struct snp_pki *pki)
{
    if (m == SERVE_SNP_SYNTH)
        return snp_synth(pki, nonce, n, spki);
    att_provider *p = NULL;
    json_t *ev = NULL;
    uint8_t key[32];
    memcpy(key, spki, 32);
    if (m == SERVE_OTHER_KEY)
        key[5] ^= 0x20; /* evidence made for another server's key (a relay) */
    if (att_provider_open("none", &p, NULL) != MS_OK ||
        att_evidence_json(p, nonce, n, key, &ev, NULL) != MS_OK)
        ev = NULL;
    att_provider_free(p);
    if (m == SERVE_REPLAY && ev != NULL) { /* a genuine quote captured earlier */
        ms_buf q, b64;
        ms_buf_init(&b64, NULL, 0);
        if (att_t_read("tdx_quote_v4_dcapqvl.bin", &q) &&
            ms_b64_encode(q.p, q.len, &b64, NULL) == MS_OK) {
            json_object_set_new(ev, "provider", json_string("tdx"));
            json_object_set_new(ev, "attested", json_true());
            json_object_del(ev, "status");
            json_object_set_new(ev, "quote", json_string((char *)b64.p));
        }
        ms_buf_free(&q);
        ms_buf_free(&b64);
    }
    return ev;
}

static void serve_one(SSL_CTX *ctx, int fd, enum mode m, const struct srv *s)
{
    SSL *ssl = SSL_new(ctx);
    char req[8192];
    int got = 0, r;
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        while (got < (int)sizeof req - 1 &&
               (r = SSL_read(ssl, req + got, (int)sizeof req - 1 - got)) > 0) {
            got += r;
            req[got] = 0;
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        req[got] = 0;
        uint8_t nonce[ATT_NONCE_MAX];
        size_t n = parse_nonce(req, nonce);
        json_t *ev = m == SERVE_NOT_FOUND ? NULL : answer(m, nonce, n, s->spki, s->pki);
        char *body = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
        char head[256];
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: "
                          "%zu\r\nConnection: close\r\n\r\n",
                          body ? "200 OK" : "404 Not Found", body ? strlen(body) : 0);
        SSL_write(ssl, head, hl);
        if (body)
            SSL_write(ssl, body, (int)strlen(body));
        free(body);
        json_decref(ev);
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    close(fd);
}

static int start_server(struct srv *s, enum mode m, int conns)
{
    if (!make_cert(s))
        return 0;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) != 0)
        return 0;
    s->port = ntohs(a.sin_port);
    s->pid = fork();
    if (s->pid == 0) {
        alarm(60);
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
        if (SSL_CTX_use_certificate_file(ctx, s->cert, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, s->key, SSL_FILETYPE_PEM) != 1)
            _exit(3);
        for (int i = 0; i < conns; i++) {
            int fd = accept(lfd, NULL, NULL);
            if (fd >= 0 && m == SERVE_HANG_UP)
                close(fd); /* no TLS at all */
            else if (fd >= 0)
                serve_one(ctx, fd, m, s);
        }
        SSL_CTX_free(ctx);
        _exit(0);
    }
    close(lfd);
    return s->pid > 0;
}

static void stop_server(struct srv *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
}

TEST(test_attest_live_client_against_test_server)
{
    static const struct {
        enum mode m;
        unsigned flags;
        int ok;
        const char *reason;
    } cases[] = {
        {SERVE_NONE, 0, 0, "UNATTESTED"},
        {SERVE_NONE, ATT_LIVE_ALLOW_UNATTESTED, 1, ""},
        {SERVE_REPLAY, 0, 0, "REPORTDATA does not bind"},
        {SERVE_OTHER_KEY, ATT_LIVE_ALLOW_UNATTESTED, 0, "another TLS key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct srv s;
        char url[64];
        att_result r = {0};
        ms_err err = {0};
        memset(&s, 0, sizeof s);
        CHECK(start_server(&s, cases[i].m, 1));
        snprintf(url, sizeof url, "https://127.0.0.1:%d", s.port);
        ms_rc rc = att_verify_live(url, NULL, NULL, cases[i].flags, 0, &r, &err);
        stop_server(&s);
        if (rc != MS_OK)
            fprintf(stderr, "  case %zu: %s\n", i, err.msg);
        CHECK(rc == MS_OK);
        fprintf(stderr, "  case %zu: ok=%d %s\n", i, r.ok, r.reason);
        CHECK_EQ_INT(r.ok, cases[i].ok);
        CHECK(has(r.reason, cases[i].reason));
        if (cases[i].ok)
            CHECK(json_object_get(r.fields, "tls_pubkey_sha256") != NULL);
        att_result_free(&r);
    }
    /* an HTTP error is a clear error too */
    struct srv s;
    char url[64];
    att_result r = {0};
    ms_err err = {0};
    memset(&s, 0, sizeof s);
    CHECK(start_server(&s, SERVE_NOT_FOUND, 1));
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", s.port);
    CHECK(att_verify_live(url, NULL, NULL, 0, 0, &r, &err) != MS_OK);
    stop_server(&s);
    CHECK(has(err.msg, "404"));
    att_result_free(&r);
    /* a peer that hangs up instead of speaking TLS: a clear error, no hang */
    memset(&s, 0, sizeof s);
    CHECK(start_server(&s, SERVE_HANG_UP, 1));
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", s.port);
    ms_err_clear(&err);
    CHECK(att_verify_live(url, NULL, NULL, 0, 0, &r, &err) == MS_E_IO);
    stop_server(&s);
    CHECK(has(err.msg, "TLS connect"));
    att_result_free(&r);
    ms_err_clear(&err);
    CHECK(att_verify_live("http://127.0.0.1:1", NULL, NULL, 0, 0, &r, &err) == MS_E_INVAL);
    return 0;
}

TEST(test_attest_cli_live_against_test_server)
{
    struct srv s;
    char *o = NULL;
    char kh[65];
    if (!have_cli())
        SKIP("medseal binary not built");
    memset(&s, 0, sizeof s);
    CHECK(start_server(&s, SERVE_NONE, 2));
    CHECK(ms_test_sh(&o, "'%s' verify https://127.0.0.1:%d 2>&1", ms_test_medseal(), s.port) == 1);
    CHECK(has(o, "UNATTESTED") && has(o, "--allow-unattested"));
    free(o);
    CHECK(ms_test_sh(&o, "'%s' verify https://127.0.0.1:%d --allow-unattested 2>&1",
                     ms_test_medseal(), s.port) == 0);
    stop_server(&s);
    for (int i = 0; i < 32; i++)
        snprintf(kh + 2 * i, 3, "%02x", s.spki[i]);
    CHECK(has(o, "UNATTESTED") && has(o, kh)); /* prints the key hash of this connection */
    free(o);
    return 0;
}

/* ---- against `medseal serve` in development mode -------------------------------------------- */

TEST(test_attest_cli_live_against_medseal_serve)
{
    char *o = NULL, dir[600];
    if (!have_cli())
        SKIP("medseal binary not built");
    if (ms_test_sh(&o, "'%s' serve --help 2>&1", ms_test_medseal()) != 0 ||
        !has(o, "--insecure-no-attestation")) {
        free(o);
        SKIP("medseal serve (gateway) not built in this tree");
    }
    free(o);
    struct srv s;
    memset(&s, 0, sizeof s);
    CHECK(make_cert(&s));
    snprintf(dir, sizeof dir, "%s", ms_test_tmpdir());
    CHECK(ms_test_sh(&o,
                     "'%s' serve --listen 127.0.0.1:0 --cert '%s' --key '%s' --state '%s/state' "
                     "--insecure-no-attestation --allow-unlocked-memory "
                     "> '%s/serve.out' 2>&1 & echo $!",
                     ms_test_medseal(), s.cert, s.key, dir, dir) == 0);
    pid_t pid = (pid_t)atoi(o);
    free(o);
    int port = 0;
    for (int i = 0; i < 100 && port == 0; i++) { /* bounded: 10 s */
        usleep(100000);
        if (ms_test_sh(&o, "sed -n 's/.*127.0.0.1:\\([0-9]*\\) .*/\\1/p' '%s/serve.out'", dir) ==
                0 &&
            o != NULL)
            port = atoi(o);
        free(o);
    }
    int rc1 = -1, rc2 = -1;
    char *o1 = NULL, *o2 = NULL;
    if (port > 0) {
        rc1 = ms_test_sh(&o1, "'%s' verify https://127.0.0.1:%d 2>&1", ms_test_medseal(), port);
        rc2 = ms_test_sh(&o2, "'%s' verify https://127.0.0.1:%d --allow-unattested --json 2>&1",
                         ms_test_medseal(), port);
    }
    kill(pid, SIGTERM);
    for (int i = 0; i < 50 && kill(pid, 0) == 0; i++)
        usleep(100000);
    CHECK(port > 0);
    fprintf(stderr, "  refused: %s", o1 ? o1 : "");
    CHECK_EQ_INT(rc1, 1); /* refuses an unattested server */
    CHECK(has(o1, "UNATTESTED"));
    CHECK_EQ_INT(rc2, 0); /* unless told */
    char kh[65];
    for (int i = 0; i < 32; i++)
        snprintf(kh + 2 * i, 3, "%02x", s.spki[i]);
    CHECK(has(o2, "\"tcb_status\": \"UNATTESTED\"") && has(o2, kh));
    free(o1);
    free(o2);
    return 0;
}

TEST(test_attest_live_full_positive_path_with_test_pki)
{
    struct snp_pki pki;
    struct srv s;
    ms_buf rep;
    char pol[900], meas[128], fp[65], url[64];
    CHECK(att_t_read("snp_report_milan_gosev.bin", &rep));
    CHECK(make_snp_pki(&pki, rep.p + 0x1A0));
    ms_buf_free(&rep);
    CHECK(att_t_manifest("5+6+7.", "measurement", meas, sizeof meas));
    for (int i = 0; i < 32; i++)
        snprintf(fp + 2 * i, 3, "%02x", pki.ark_fp[i]);
    snprintf(pol, sizeof pol, "%s/snp-policy.json", ms_test_tmpdir());
    CHECK(ms_test_sh(NULL,
                     "printf '{\"tee\":\"sev-snp\",\"roots_sha256\":[\"%s\"],"
                     "\"snp\":{\"measurement\":\"%s\",\"min_tcb\":{\"snp\":5}}}' > '%s'",
                     fp, meas, pol) == 0);
    att_policy *p = NULL;
    ms_err err = {0};
    CHECK(att_policy_load(pol, &p, &err) == MS_OK);
    /* library: the whole chain, the signature, the policy and the binding pass */
    memset(&s, 0, sizeof s);
    s.pki = &pki;
    CHECK(start_server(&s, SERVE_SNP_SYNTH, 2));
    snprintf(url, sizeof url, "https://127.0.0.1:%d", s.port);
    att_result r = {0};
    CHECK(att_verify_live(url, NULL, p, 0, 0, &r, &err) == MS_OK);
    fprintf(stderr, "  positive: ok=%d %s\n", r.ok, r.reason);
    CHECK(r.ok && r.signature_ok && r.chain_ok && r.policy_ok);
    CHECK(
        json_is_true(json_object_get(json_object_get(r.fields, "checks"), "report_data_binding")));
    CHECK_STR(r.tcb_status, "MeetsMinimum");
    att_result_free(&r);
    /* without the ARK pinned, the same evidence fails on the chain */
    CHECK(att_verify_live(url, NULL, NULL, 0, 0, &r, &err) == MS_OK);
    stop_server(&s);
    CHECK(!r.ok && !r.chain_ok && strstr(r.reason, "chain") != NULL);
    att_result_free(&r);
    att_policy_free(p);
    /* the CLI says PASS and prints the key hash to pin */
    if (!have_cli())
        SKIP("medseal binary not built (library part passed)");
    char *o = NULL, kh[65];
    memset(&s, 0, sizeof s);
    s.pki = &pki;
    CHECK(start_server(&s, SERVE_SNP_SYNTH, 1));
    CHECK(ms_test_sh(&o, "'%s' verify https://127.0.0.1:%d --policy '%s' 2>&1", ms_test_medseal(),
                     s.port, pol) == 0);
    stop_server(&s);
    for (int i = 0; i < 32; i++)
        snprintf(kh + 2 * i, 3, "%02x", s.spki[i]);
    CHECK(has(o, "PASS: SEV-SNP report v2") && has(o, kh));
    free(o);
    return 0;
}

TEST(test_attest_cli_saved_evidence)
{
    char *o = NULL, path[700];
    if (!have_cli())
        SKIP("medseal binary not built");
    uint8_t nonce[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, key[32];
    memset(key, 0x5a, sizeof key);
    att_provider *p = NULL;
    json_t *ev = NULL;
    CHECK(att_provider_open("none", &p, NULL) == MS_OK);
    CHECK(att_evidence_json(p, nonce, sizeof nonce, key, &ev, NULL) == MS_OK);
    snprintf(path, sizeof path, "%s/evidence.json", ms_test_tmpdir());
    CHECK(json_dump_file(ev, path, 0) == 0);
    json_decref(ev);
    att_provider_free(p);
    const char *nh = "0102030405060708090a0b0c0d0e0f10";
    char kh[65];
    for (int i = 0; i < 32; i++)
        snprintf(kh + 2 * i, 3, "%02x", key[i]);
    CHECK(ms_test_sh(&o, "'%s' verify --evidence '%s' --nonce %s --tls-key-sha256 %s 2>&1",
                     ms_test_medseal(), path, nh, kh) == 1);
    CHECK(has(o, "UNATTESTED"));
    free(o);
    CHECK(ms_test_sh(NULL,
                     "'%s' verify --evidence '%s' --nonce %s --tls-key-sha256 %s "
                     "--allow-unattested >/dev/null 2>&1",
                     ms_test_medseal(), path, nh, kh) == 0);
    CHECK(ms_test_sh(&o,
                     "'%s' verify --evidence '%s' --nonce %s --tls-key-sha256 %s "
                     "--allow-unattested 2>&1",
                     ms_test_medseal(), path, "0102030405060708090a0b0c0d0e0f11", kh) == 1);
    CHECK(has(o, "another nonce"));
    free(o);
    return 0;
}

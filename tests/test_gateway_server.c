/*
 * Gateway end-to-end tests: a real `medseal serve` (in-process gw_server_start, and the CLI for
 * SIGTERM) on 127.0.0.1 with an ephemeral port and a test CA, driven by curl, openssl s_client,
 * python3's ssl module (slow clients), the official openai npm SDK (tests/node) and a recording
 * test upstream (tests/upstream/server.mjs). Checks TLS 1.3 only, roles, TOTP, limits, STOW-RS,
 * the analyst, PHI never reaching the upstream, re-identification by role, quirk normalisation,
 * that no error leaks a value, and that an answer's audit record is in the log on disk by the time
 * the client has the answer. Every server and upstream a test starts, it stops.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "gateway/internal.h"
#include "medseal/audit.h"
#include "medseal/gateway.h"
#include "test.h"

struct env {
    char dir[512], ca[600], cert[600], key[600], state[600], rec[600];
    gw_config cfg;
    gw_server *srv;
    uint16_t port;
    pid_t up_pid;
    uint16_t up_port;
    char up_url[128];
    gw_new_key clin, res, aud, adm, slow;
};

static int make_certs(struct env *e)
{
    snprintf(e->ca, sizeof e->ca, "%s/ca.pem", e->dir);
    snprintf(e->cert, sizeof e->cert, "%s/srv.pem", e->dir);
    snprintf(e->key, sizeof e->key, "%s/srv.key", e->dir);
    return ms_test_sh(
        NULL,
        "cd '%s' && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:"
        "FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
        "-out ca.pem -subj /CN=medseal-test-ca -days 2 2>/dev/null && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out "
        "srv.csr -subj /CN=localhost 2>/dev/null && "
        "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem "
        "-days 2 -extfile ext.cnf 2>/dev/null",
        e->dir);
}

static int start_upstream(struct env *e)
{
    char *out = NULL;
    snprintf(e->rec, sizeof e->rec, "%s/upstream.jsonl", e->dir);
    if (ms_test_sh(&out, "node '%s/tests/upstream/server.mjs' '%s' > '%s/up.port' 2>&1 & echo $!",
                   ms_test_root(), e->rec, e->dir) != 0 ||
        out == NULL)
        return -1;
    e->up_pid = (pid_t)atoi(out);
    free(out);
    for (int i = 0; i < 100 && e->up_port == 0; i++) { /* bounded: 10 s */
        char *p = NULL;
        usleep(100000);
        if (ms_test_sh(&p, "sed -n 's/^PORT //p' '%s/up.port'", e->dir) == 0 && p && *p)
            e->up_port = (uint16_t)atoi(p);
        free(p);
    }
    snprintf(e->up_url, sizeof e->up_url, "http://127.0.0.1:%u/v1", e->up_port);
    return e->up_port ? 0 : -1;
}

static int make_keys(struct env *e)
{
    gw_keystore *ks = NULL;
    if (gw_keystore_open(e->state, &ks, NULL) != MS_OK)
        return -1;
    int bad = gw_keystore_create(ks, GW_ROLE_CLINICIAN, 0, 0, &e->clin, NULL) ||
              gw_keystore_create(ks, GW_ROLE_RESEARCHER, 0, 0, &e->res, NULL) ||
              gw_keystore_create(ks, GW_ROLE_AUDITOR, 0, 0, &e->aud, NULL) ||
              gw_keystore_create(ks, GW_ROLE_ADMIN, 0, 0, &e->adm, NULL) ||
              gw_keystore_create(ks, GW_ROLE_RESEARCHER, 0, 2, &e->slow, NULL);
    gw_keystore_close(ks);
    return bad ? -1 : 0;
}

/* Sets up certificates, keys and (with_upstream) the recording upstream; cfg gets test limits. */
static int setup(struct env *e, int with_upstream)
{
    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "%s", ms_test_tmpdir());
    snprintf(e->state, sizeof e->state, "%s/state", e->dir);
    if (make_certs(e) != 0 || make_keys(e) != 0)
        return -1;
    gw_config_defaults(&e->cfg);
    e->cfg.listen = "127.0.0.1:0";
    e->cfg.cert_path = e->cert;
    e->cfg.key_path = e->key;
    e->cfg.state_dir = e->state;
    e->cfg.insecure_no_attestation = 1;
    e->cfg.max_body = 1 << 20;
    e->cfg.idle_timeout_s = 2;
    e->cfg.request_timeout_s = 2;
    e->cfg.upstream_timeout_s = 10;
    if (with_upstream) {
        if (start_upstream(e) != 0)
            return -1;
        e->cfg.upstream = e->up_url;
    }
    return 0;
}

static int start(struct env *e)
{
    ms_err err = {0};
    if (gw_server_start(&e->cfg, &e->srv, &err) != MS_OK) {
        fprintf(stderr, "  start: %s\n", err.msg);
        return -1;
    }
    e->port = gw_server_port(e->srv);
    return e->port ? 0 : -1;
}

static void teardown(struct env *e)
{
    gw_server_stop(e->srv, 5);
    e->srv = NULL;
    if (e->up_pid > 0) {
        kill(e->up_pid, SIGTERM);
        e->up_pid = 0;
    }
}

/* One HTTPS request with curl. Returns the status (0 when curl failed); *body / *hdrs owned. */
static int req(struct env *e, const char *method, const char *path, const char *key,
               const char *extra, const char *body, char **rbody, char **rhdrs)
{
    char *out = NULL, bf[700], hf[700], inf[700];
    static int seq;
    seq++;
    snprintf(bf, sizeof bf, "%s/resp%d.body", e->dir, seq);
    snprintf(hf, sizeof hf, "%s/resp%d.hdr", e->dir, seq);
    snprintf(inf, sizeof inf, "%s/req%d.json", e->dir, seq);
    if (body != NULL) {
        FILE *f = fopen(inf, "w");
        if (f == NULL)
            return 0;
        fputs(body, f);
        fclose(f);
    }
    ms_test_sh(&out,
               "curl -sS --max-time 30 --cacert '%s' -o '%s' -D '%s' -w '%%{http_code}' -X %s "
               "%s%s%s %s %s%s%s https://127.0.0.1:%u%s",
               e->ca, bf, hf, method, key ? "-H 'Authorization: Bearer " : "", key ? key : "",
               key ? "'" : "", extra ? extra : "",
               body ? "-H 'Content-Type: application/json' --data-binary '@" : "", body ? inf : "",
               body ? "'" : "", e->port, path);
    int status = out ? atoi(out) : 0;
    free(out);
    if (rbody != NULL)
        ms_test_sh(rbody, "cat '%s' 2>/dev/null", bf);
    if (rhdrs != NULL)
        ms_test_sh(rhdrs, "cat '%s' 2>/dev/null", hf);
    return status;
}

static int has(const char *hay, const char *needle)
{
    return hay != NULL && strstr(hay, needle) != NULL;
}

static int collect_line(void *ud, const char *line, size_t len);
static int audit_count(const struct env *e, long status, const char *outcome);

static const char *CHAT_ANALYST = "{\"model\":\"medical-records-analyst\",\"messages\":[{\"role\":"
                                  "\"user\",\"content\":\"8 mm solid nodule, right upper "
                                  "lobe.\"}]}";

TEST(test_gw_server_tls13_only_and_headers)
{
    struct env e;
    char *b = NULL, *h = NULL, *o = NULL;
    CHECK(setup(&e, 0) == 0);
    CHECK(start(&e) == 0);
    CHECK_EQ_INT(req(&e, "GET", "/healthz", NULL, NULL, NULL, &b, &h), 200);
    CHECK(has(b, "\"attestation\":\"UNATTESTED\""));
    CHECK(has(h, "X-Medseal-Attestation: UNATTESTED"));
    CHECK(has(h, "Strict-Transport-Security: max-age="));
    CHECK(!has(h, "Server:") && !has(h, "server:"));
    free(b), free(h);
    /* TLS 1.2 and older refused; TLS 1.3 with a non-AEAD-GCM/ChaCha suite (CCM) refused */
    CHECK(ms_test_sh(NULL, "curl -sS --cacert '%s' --tls-max 1.2 https://127.0.0.1:%u/healthz",
                     e.ca, e.port) != 0);
    CHECK(ms_test_sh(NULL,
                     "openssl s_client -connect 127.0.0.1:%u -tls1_3 -ciphersuites "
                     "TLS_AES_128_CCM_SHA256 </dev/null 2>&1 | grep -q 'Cipher is TLS_AES'",
                     e.port) != 0);
    CHECK(ms_test_sh(&o,
                     "openssl s_client -connect 127.0.0.1:%u -CAfile '%s' </dev/null 2>/dev/null "
                     "| grep -E '^(New|    Protocol|Verify return code)'",
                     e.port, e.ca) == 0);
    CHECK(has(o, "TLSv1.3") && has(o, "Verify return code: 0"));
    free(o);
    /* attestation evidence binds the nonce and this TLS key */
    CHECK_EQ_INT(req(&e, "GET", "/v1/attestation?nonce=00ff10", NULL, NULL, NULL, &b, NULL), 200);
    CHECK(ms_test_sh(&o,
                     "openssl x509 -in '%s' -pubkey -noout | openssl pkey -pubin -outform DER | "
                     "sha256sum | cut -c1-64",
                     e.cert) == 0);
    o[64] = '\0';
    CHECK(has(b, o));
    CHECK(has(b, "\"nonce\":\"00ff10\""));
    free(b), free(o);
    CHECK_EQ_INT(req(&e, "GET", "/v1/attestation?nonce=xyz", NULL, NULL, NULL, NULL, NULL), 400);
    teardown(&e);
    return 0;
}

/* A new admin key (so each admin request below can use the current step's code) and the
 * X-Medseal-TOTP header for time step now/30 + dstep. Steps of the current window only:
 * dstep 0 stays valid if the clock ticks over meanwhile, and +1 is the server's allowed skew. */
static int admin_code(struct env *e, const gw_new_key *k, int dstep, char *extra, size_t n)
{
    uint8_t secret[20];
    gw_key_info info;
    gw_keystore *ks = NULL;
    uint32_t code = 0;
    int bad =
        gw_keystore_open(e->state, &ks, NULL) != MS_OK ||
        gw_keystore_auth(ks, k->text, strlen(k->text), time(NULL), &info, secret, NULL) != MS_OK;
    gw_keystore_close(ks);
    uint64_t t = (uint64_t)((int64_t)time(NULL) + 30 * dstep);
    if (bad || gw_totp(secret, 20, GW_TOTP_SHA1, t, 30, 6, &code, NULL) != MS_OK)
        return -1;
    snprintf(extra, n, "-H 'X-Medseal-TOTP: %06u'", code);
    return 0;
}

static int new_admin(struct env *e, gw_new_key *k)
{
    gw_keystore *ks = NULL;
    if (gw_keystore_open(e->state, &ks, NULL) != MS_OK)
        return -1;
    int bad = gw_keystore_create(ks, GW_ROLE_ADMIN, 0, 0, k, NULL) != MS_OK;
    gw_keystore_close(ks);
    return bad ? -1 : 0;
}

TEST(test_gw_server_auth_roles_totp)
{
    struct env e;
    char *b = NULL, extra[128];
    CHECK(setup(&e, 0) == 0);
    CHECK(start(&e) == 0);
    CHECK_EQ_INT(req(&e, "GET", "/v1/models", NULL, NULL, NULL, &b, NULL), 401);
    CHECK(has(b, "\"code\":\"invalid_api_key\""));
    free(b);
    char wrong[GW_KEY_TEXT_MAX];
    snprintf(wrong, sizeof wrong, "%s", e.clin.text);
    wrong[20] = wrong[20] == 'a' ? 'b' : 'a';
    CHECK_EQ_INT(req(&e, "GET", "/v1/models", wrong, NULL, NULL, &b, NULL), 401);
    CHECK(!has(b, wrong) && !has(b, e.clin.text + 17));
    free(b);
    CHECK_EQ_INT(req(&e, "GET", "/v1/models", e.clin.text, NULL, NULL, &b, NULL), 200);
    CHECK(has(b, "medical-records-analyst"));
    free(b);
    CHECK_EQ_INT(req(&e, "GET", "/v1/confidential/models", e.res.text, NULL, NULL, NULL, NULL),
                 200);
    CHECK_EQ_INT(
        req(&e, "GET", "/v1/models/medical-records-analyst", e.res.text, NULL, NULL, &b, NULL),
        200);
    CHECK(has(b, "\"owned_by\":\"medseal\""));
    free(b);
    CHECK_EQ_INT(req(&e, "GET", "/v1/models/gpt-4.1", e.res.text, NULL, NULL, NULL, NULL), 404);
    /* wrong role */
    CHECK_EQ_INT(req(&e, "GET", "/metrics", e.res.text, NULL, NULL, &b, NULL), 403);
    CHECK(has(b, "permission_denied"));
    free(b);
    CHECK_EQ_INT(
        req(&e, "POST", "/v1/chat/completions", e.aud.text, NULL, CHAT_ANALYST, NULL, NULL), 403);
    CHECK_EQ_INT(req(&e, "GET", "/v1/admin/keys", e.clin.text, NULL, NULL, NULL, NULL), 403);
    CHECK_EQ_INT(req(&e, "GET", "/metrics", e.aud.text, NULL, NULL, &b, NULL), 200);
    CHECK(has(b, "medseal_requests_total{route=\"/v1/models\",status=\"401\",role=\"none\"} 2"));
    CHECK(has(b, "medseal_request_duration_seconds_bucket"));
    free(b);
    /* the audit log: one record per request, failed authentication included, no key text */
    if (gw__have("audit")) {
        CHECK_EQ_INT(req(&e, "GET", "/v1/audit/export?max=1000", e.aud.text, NULL, NULL, &b, NULL),
                     200);
        CHECK(has(b, "\"action\":\"server.start\"") && has(b, "\"outcome\":\"UNATTESTED\""));
        CHECK(has(b, "\"action\":\"auth.fail\""));
        CHECK(has(b, e.clin.id) && !has(b, e.clin.text) && !has(b, wrong));
        free(b);
    }
    CHECK_EQ_INT(req(&e, "GET", "/v1/audit/export", e.clin.text, NULL, NULL, NULL, NULL), 403);
    /* admin: TOTP required */
    CHECK_EQ_INT(req(&e, "GET", "/v1/admin/keys", e.adm.text, NULL, NULL, &b, NULL), 403);
    CHECK(has(b, "totp_required"));
    free(b);
    CHECK_EQ_INT(req(&e, "GET", "/v1/admin/keys", e.adm.text, "-H 'X-Medseal-TOTP: 000000'", NULL,
                     NULL, NULL),
                 403);
    /* each code is accepted once per key (tested below), so every admin request here uses the
     * current code of a fresh admin key */
    gw_new_key a2, a3, a4;
    CHECK(new_admin(&e, &a2) == 0 && new_admin(&e, &a3) == 0 && new_admin(&e, &a4) == 0);
    CHECK(admin_code(&e, &e.adm, 0, extra, sizeof extra) == 0);
    CHECK_EQ_INT(req(&e, "GET", "/v1/admin/keys", e.adm.text, extra, NULL, &b, NULL), 200);
    CHECK(has(b, e.clin.id) && !has(b, e.clin.text));
    free(b);
    CHECK(admin_code(&e, &a2, 0, extra, sizeof extra) == 0);
    CHECK_EQ_INT(req(&e, "POST", "/v1/admin/keys", a2.text, extra,
                     "{\"role\":\"researcher\",\"expires_in\":3600}", &b, NULL),
                 201);
    json_t *j = json_loads(b, 0, NULL);
    free(b);
    const char *nk = json_string_value(json_object_get(j, "key"));
    CHECK(nk != NULL);
    CHECK_EQ_INT(req(&e, "GET", "/v1/models", nk, NULL, NULL, NULL, NULL), 200);
    char path[64];
    snprintf(path, sizeof path, "/v1/admin/keys/%s", json_string_value(json_object_get(j, "id")));
    CHECK(admin_code(&e, &a3, 0, extra, sizeof extra) == 0);
    CHECK_EQ_INT(req(&e, "DELETE", path, a3.text, extra, NULL, NULL, NULL), 200);
    CHECK_EQ_INT(req(&e, "GET", "/v1/models", nk, NULL, NULL, NULL, NULL), 401);
    json_decref(j);
    CHECK(admin_code(&e, &a4, 0, extra, sizeof extra) == 0);
    CHECK_EQ_INT(
        req(&e, "POST", "/v1/admin/keys", a4.text, extra, "{\"role\":\"king\"}", NULL, NULL), 400);
    /* the 201 is counted as 201 (it was "other"), and the revocation has its audit record (the
     * route's "{id}" was outside the audit log's token alphabet) */
    CHECK_EQ_INT(req(&e, "GET", "/metrics", e.aud.text, NULL, NULL, &b, NULL), 200);
    CHECK(has(b, "medseal_requests_total{route=\"/v1/admin/keys\",status=\"201\",role=\"admin\"} 1"));
    free(b);
    teardown(&e);
    uint8_t mk[MS_KEY_LEN];
    ms_buf log;
    ms_buf_init(&log, NULL, 0);
    CHECK(audit_master_key(e.state, NULL, mk, NULL) == MS_OK);
    CHECK(audit_export(e.state, mk, 0, 0, collect_line, &log, NULL) == MS_OK);
    CHECK(ms_buf_append_byte(&log, '\0', NULL) == MS_OK);
    CHECK(has((const char *)log.p, "\"action\":\"key.revoke\""));
    ms_buf_free(&log);
    return 0;
}

/* RFC 6238 section 5.2: a code is accepted once per key, an older one never after a newer one,
 * and a restart does not forget it. The refusal is the OpenAI-shaped 403 of a wrong code. */
TEST(test_gw_server_totp_replay)
{
    struct env e;
    char *b = NULL, now_code[128], next_code[128], before[128];
    CHECK(setup(&e, 0) == 0);
    CHECK(start(&e) == 0);
    CHECK(admin_code(&e, &e.adm, 0, now_code, sizeof now_code) == 0);
    CHECK(admin_code(&e, &e.adm, -1, before, sizeof before) == 0);
    CHECK(admin_code(&e, &e.adm, 1, next_code, sizeof next_code) == 0);
    CHECK_EQ_INT(req(&e, "GET", "/v1/admin/keys", e.adm.text, now_code, NULL, NULL, NULL), 200);
    CHECK_EQ_INT(req(&e, "GET", "/v1/admin/keys", e.adm.text, now_code, NULL, &b, NULL), 403);
    json_t *j = json_loads(b, 0, NULL);
    json_t *er = json_object_get(j, "error");
    CHECK(json_is_object(er));
    CHECK_STR(json_string_value(json_object_get(er, "code")), "totp_required");
    CHECK_STR(json_string_value(json_object_get(er, "type")), "permission_denied");
    CHECK(json_is_string(json_object_get(er, "message")));
    CHECK(json_object_get(er, "param") != NULL);
    CHECK(!has(b, e.adm.text + 17));
    json_decref(j);
    free(b);
    /* an older code of the window, then the next one (still within the skew) */
    CHECK_EQ_INT(req(&e, "GET", "/v1/admin/keys", e.adm.text, before, NULL, NULL, NULL), 403);
    CHECK_EQ_INT(req(&e, "GET", "/v1/admin/keys", e.adm.text, next_code, NULL, NULL, NULL), 200);
    /* the used step is in keys.sqlite: a restarted server refuses the code too */
    gw_server_stop(e.srv, 5);
    e.srv = NULL;
    CHECK(start(&e) == 0);
    CHECK_EQ_INT(req(&e, "GET", "/v1/admin/keys", e.adm.text, next_code, NULL, NULL, NULL), 403);
    CHECK_EQ_INT(req(&e, "GET", "/v1/admin/keys", e.adm.text, now_code, NULL, NULL, NULL), 403);
    /* another admin's codes are its own */
    gw_new_key a2;
    CHECK(new_admin(&e, &a2) == 0);
    CHECK(admin_code(&e, &a2, 0, now_code, sizeof now_code) == 0);
    CHECK_EQ_INT(req(&e, "GET", "/v1/admin/keys", a2.text, now_code, NULL, NULL, NULL), 200);
    teardown(&e);
    return 0;
}

TEST(test_gw_server_limits_and_errors)
{
    struct env e;
    char *b = NULL, *h = NULL;
    CHECK(setup(&e, 0) == 0);
    e.cfg.max_body = 4096;
    CHECK(start(&e) == 0);
    /* 413: declared too big, and too big without a declared length (chunked) */
    char *big = malloc(9000);
    memset(big, 'a', 8999);
    big[8999] = '\0';
    memcpy(big, "{\"model\":\"x\",\"messages\":\"", 25);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, big, &b, NULL), 413);
    CHECK(has(b, "request_too_large") && !has(b, "aaaa"));
    free(b);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text,
                     "-H 'Transfer-Encoding: chunked'", big, NULL, NULL),
                 413);
    /* boundary: exactly max_body is read (and found invalid), one byte more is 413 */
    big[4096] = '\0';
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, big, NULL, NULL), 400);
    big[4096] = 'a';
    big[4097] = '\0';
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, big, NULL, NULL), 413);
    free(big);
    CHECK_EQ_INT(req(&e, "GET", "/v1/nothing", e.clin.text, NULL, NULL, NULL, NULL), 404);
    CHECK_EQ_INT(req(&e, "GET", "/v1/chat/completions", e.clin.text, NULL, NULL, NULL, NULL), 405);
    /* 400 with param, no value echoed */
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL,
                     "{\"model\":\"medical-records-analyst\",\"messages\":[{\"role\":\"patient "
                     "Jane Roe\",\"content\":\"x\"}]}",
                     &b, NULL),
                 400);
    CHECK(has(b, "\"param\":\"messages[0].role\"") && !has(b, "Jane"));
    free(b);
    CHECK_EQ_INT(
        req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, "{\"model\":", &b, NULL), 400);
    free(b);
    /* unknown model without an upstream */
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL,
                     "{\"model\":\"gpt-x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                     &b, NULL),
                 404);
    CHECK(has(b, "model_not_found"));
    free(b);
    /* headers over max_header (16 KiB): refused by libmicrohttpd before any handler runs */
    CHECK(ms_test_sh(&b,
                     "curl -sS -o /dev/null -w '%%{http_code}' --cacert '%s' -H \"X-Pad: $(head -c "
                     "20000 /dev/zero | tr '\\0' a)\" https://127.0.0.1:%u/healthz",
                     e.ca, e.port) == 0);
    CHECK(atoi(b) == 431 || atoi(b) == 413);
    free(b);
    /* per-key rate limit: 2 per minute */
    CHECK_EQ_INT(req(&e, "GET", "/v1/models", e.slow.text, NULL, NULL, NULL, NULL), 200);
    CHECK_EQ_INT(req(&e, "GET", "/v1/models", e.slow.text, NULL, NULL, NULL, NULL), 200);
    CHECK_EQ_INT(req(&e, "GET", "/v1/models", e.slow.text, NULL, NULL, &b, &h), 429);
    CHECK(has(b, "rate_limit_exceeded"));
    CHECK(has(h, "Retry-After: "));
    free(b), free(h);
    teardown(&e);
    return 0;
}

/* A client that sends part of a request and stalls, or trickles its body: the server must close
 * the connection by itself (idle / request time limits), without answering with any value. */
TEST(test_gw_server_per_ip_connection_limit)
{
    struct env e;
    char *o = NULL;
    CHECK(setup(&e, 0) == 0);
    e.cfg.max_conns_per_ip = 2;
    CHECK(start(&e) == 0);
    CHECK(ms_test_sh(&o,
                     "/usr/bin/python3 - <<'PY'\n"
                     "import socket, ssl\n"
                     "ctx = ssl.create_default_context(cafile='%s')\n"
                     "held, ok = [], 0\n"
                     "for i in range(3):\n"
                     "    try:\n"
                     "        s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', %u), "
                     "timeout=5), server_hostname='localhost')\n"
                     "        s.sendall(b'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n"
                     "        if s.recv(12) == b'HTTP/1.1 200': ok += 1\n"
                     "        held.append(s)\n"
                     "    except (OSError, ssl.SSLError):\n"
                     "        pass\n"
                     "print('served', ok)\n"
                     "PY",
                     e.ca, e.port) == 0);
    CHECK(has(o, "served 2"));
    free(o);
    teardown(&e);
    return 0;
}

TEST(test_gw_server_slow_client_timed_out)
{
    struct env e;
    char *o = NULL;
    CHECK(setup(&e, 0) == 0);
    CHECK(start(&e) == 0);
    CHECK(ms_test_sh(
              &o,
              "/usr/bin/python3 - <<'PY'\n"
              "import socket, ssl, time\n"
              "ctx = ssl.create_default_context(cafile='%s')\n"
              "def conn():\n"
              "    s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', %u)), "
              "server_hostname='localhost')\n"
              "    s.settimeout(15)\n"
              "    return s\n"
              "s = conn(); s.sendall(b'POST /v1/chat/completions HTTP/1.1\\r\\nHost: x\\r\\n')\n"
              "t = time.time(); d = s.recv(100)\n"
              "print('stall', 'closed' if d == b'' else 'got', round(time.time() - t))\n"
              "s = conn()\n"
              "s.sendall(b'POST /v1/chat/completions HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: "
              "100\\r\\nAuthorization: Bearer %s\\r\\nContent-Type: "
              "application/json\\r\\n\\r\\n')\n"
              "t = time.time(); sent = 0\n"
              "try:\n"
              "    while sent < 100 and time.time() - t < 12:\n"
              "        s.sendall(b'{'); sent += 1; time.sleep(0.25)\n"
              "    d = s.recv(100)\n"
              "except (ConnectionError, ssl.SSLError, OSError):\n"
              "    d = b''\n"
              "print('trickle', 'closed' if d == b'' else d[:12].decode(), sent)\n"
              "s = conn(); s.sendall(b'GET /healthz HTTP/1.1\\r\\n')\n"
              "try:\n"
              "    for c in b'X-Slow: abcdefghijklmnop':\n"
              "        s.sendall(bytes([c])); time.sleep(0.25)\n"
              "    s.sendall(b'\\r\\nHost: x\\r\\n\\r\\n'); d = s.recv(100)\n"
              "except (ConnectionError, ssl.SSLError, OSError):\n"
              "    d = b''\n"
              "print('headers', 'closed' if d == b'' else d[:12].decode())\n"
              "PY",
              e.ca, e.port, e.clin.text) == 0);
    fprintf(stderr, "  %s", o);
    CHECK(has(o, "stall closed"));
    CHECK(has(o, "trickle closed"));
    CHECK(has(o, "headers closed"));
    int sent = atoi(strstr(o, "trickle closed") + 15);
    CHECK(sent < 100); /* cut off before the body was complete */
    free(o);
    teardown(&e);
    return 0;
}

static const char *study_dir(struct env *e, char *out, size_t n)
{
    snprintf(out, n, "%s/study", e->dir);
    if (ms_test_sh(NULL,
                   "/usr/bin/python3 '%s/tools/make_study.py' '%s' --slices 2 --size 32 --studies "
                   "1 --seed 11 >/dev/null",
                   ms_test_shared(), out) != 0)
        return NULL;
    return out;
}

TEST(test_gw_server_stow_rs_upload)
{
    struct env e;
    char sd[700], *o = NULL, *b = NULL;
    if (ms_test_shared() == NULL)
        SKIP("../shared not available");
    if (!gw__have("dicom"))
        SKIP("dicom module not in this build");
    CHECK(setup(&e, 0) == 0);
    CHECK(start(&e) == 0);
    CHECK(study_dir(&e, sd, sizeof sd) != NULL);
    /* curl as a STOW-RS client: multipart/related, one application/dicom part per instance */
    CHECK(
        ms_test_sh(&o,
                   "cd '%s/study_1/CT' && f1=$(ls | head -1) && f2=$(ls | tail -1) && "
                   "{ printf -- '--XB\\r\\nContent-Type: application/dicom\\r\\n\\r\\n'; cat "
                   "$f1; printf -- '\\r\\n--XB\\r\\nContent-Type: application/dicom\\r\\n\\r\\n'; "
                   "cat $f2; printf -- '\\r\\n--XB--\\r\\n'; } > '%s/stow.bin' && "
                   "curl -sS --cacert '%s' -H 'Authorization: Bearer %s' -H 'Content-Type: "
                   "multipart/related; type=\"application/dicom\"; boundary=XB' --data-binary "
                   "@'%s/stow.bin' https://127.0.0.1:%u/v1/studies",
                   sd, e.dir, e.ca, e.clin.text, e.dir, e.port) == 0);
    json_t *j = json_loads(o, 0, NULL);
    free(o);
    const char *id = json_string_value(json_object_get(j, "id"));
    CHECK(id != NULL && strncmp(id, "study_", 6) == 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "instances")), 2);
    char path[128];
    snprintf(path, sizeof path, "/v1/studies/%s", id);
    /* another key cannot see it */
    CHECK_EQ_INT(req(&e, "DELETE", path, e.res.text, NULL, NULL, NULL, NULL), 404);
    if (gw__have("analyst")) {
        char body[400];
        snprintf(body, sizeof body,
                 "{\"model\":\"medical-records-analyst\",\"messages\":[{\"role\":\"user\","
                 "\"content\":[{\"type\":\"text\",\"text\":\"compare\"},{\"type\":\"file\","
                 "\"file\":{\"file_id\":\"%s\"}}]}]}",
                 id);
        CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, &b, NULL),
                     200);
        free(b);
        CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.res.text, NULL, body, NULL, NULL),
                     404);
    }
    CHECK_EQ_INT(req(&e, "DELETE", path, e.clin.text, NULL, NULL, NULL, NULL), 200);
    CHECK_EQ_INT(req(&e, "DELETE", path, e.clin.text, NULL, NULL, NULL, NULL), 404);
    json_decref(j);
    /* the deletes have their audit records (the route's "{id}" was outside the audit log's
     * token alphabet: before, every one was lost) */
    /* a part that is not DICOM */
    CHECK(ms_test_sh(&o,
                     "printf -- '--XB\\r\\nContent-Type: application/dicom\\r\\n\\r\\nhello "
                     "Jane\\r\\n--XB--\\r\\n' | curl -sS -o /dev/null -w '%%{http_code}' --cacert "
                     "'%s' -H 'Authorization: Bearer %s' -H 'Content-Type: multipart/related; "
                     "boundary=XB' --data-binary @- https://127.0.0.1:%u/v1/studies",
                     e.ca, e.clin.text, e.port) == 0);
    CHECK_EQ_INT(atoi(o), 409); /* PS3.18 10.5.3: nothing stored */
    free(o);
    /* PS3.18 Store Instances Response: a 73-character boundary (Orthanc 1.7), one good part and
     * one bad part to /v1/studies/{StudyInstanceUID}: 202, one (0008,1199) item, one (0008,1198)
     * item with Failure Reason C000 */
    char bnd[80];
    snprintf(bnd, sizeof bnd, "%s", "0a1b2c3d-0000-4000-8000-00000000000a-0a1b2c3d-0000-4000-8000-00000000000b");
    CHECK_EQ_INT(strlen(bnd), 73);
    CHECK(ms_test_sh(&o,
                     "cd '%s/study_1/CT' && f1=$(ls | head -1) && u=$(/usr/bin/python3 -c "
                     "\"import pydicom,sys;print(pydicom.dcmread(sys.argv[1]).StudyInstanceUID)\" "
                     "$f1) && { printf -- '--%s\\r\\nContent-Type: application/dicom\\r\\n\\r\\n'; cat "
                     "$f1; printf -- '\\r\\n--%s\\r\\nContent-Type: application/dicom\\r\\n\\r\\nnot "
                     "dicom\\r\\n--%s--'; } | curl -sS -w '\\n%%{http_code} %%{content_type}' --cacert '%s' "
                     "-H 'Accept: application/dicom+json' -H 'Authorization: Bearer %s' -H "
                     "'Content-Type: multipart/related; type=\"application/dicom\"; boundary=%s' "
                     "--data-binary @- https://127.0.0.1:%u/v1/studies/$u",
                     sd, bnd, bnd, bnd, e.ca, e.clin.text, bnd, e.port) == 0);
    char *nl = strrchr(o, '\n');
    CHECK(nl != NULL);
    *nl = '\0';
    CHECK(strncmp(nl + 1, "202 application/dicom+json", 26) == 0);
    j = json_loads(o, 0, NULL);
    CHECK(j != NULL);
    CHECK_EQ_INT(json_array_size(json_object_get(json_object_get(j, "00081199"), "Value")), 1);
    json_t *fl = json_object_get(json_object_get(j, "00081198"), "Value");
    CHECK_EQ_INT(json_array_size(fl), 1);
    CHECK_EQ_INT(json_integer_value(json_array_get(
                     json_object_get(json_object_get(json_array_get(fl, 0), "00081197"), "Value"),
                     0)),
                 0xC000);
    json_decref(j);
    free(o);
    teardown(&e);
    uint8_t mk[MS_KEY_LEN];
    ms_buf log;
    ms_buf_init(&log, NULL, 0);
    CHECK(audit_master_key(e.state, NULL, mk, NULL) == MS_OK);
    CHECK(audit_export(e.state, mk, 0, 0, collect_line, &log, NULL) == MS_OK);
    CHECK(ms_buf_append_byte(&log, '\0', NULL) == MS_OK);
    CHECK(has((const char *)log.p, "\"action\":\"study.delete\""));
    ms_buf_free(&log);
    return 0;
}

/* node_modules for tests/node: installs with `npm ci` when missing; 0 when ready. */
static int node_ready(void)
{
    if (ms_test_sh(NULL, "test -f '%s/tests/node/node_modules/openai/package.json'",
                   ms_test_root()) == 0)
        return 0;
    return ms_test_sh(NULL, "cd '%s/tests/node' && timeout 300 npm ci --no-audit --no-fund >&2",
                      ms_test_root());
}

static int run_node(struct env *e, const char *key, const char *cases, const char *dicom,
                    char **out)
{
    return ms_test_sh(out,
                      "cd '%s/tests/node' && NODE_EXTRA_CA_CERTS='%s' MS_BASE=https://"
                      "127.0.0.1:%u/v1 MS_KEY='%s' MS_CASES='%s' MS_DICOM='%s' timeout 120 node "
                      "client.mjs 2>&1",
                      ms_test_root(), e->ca, e->port, key, cases, dicom ? dicom : "");
}

TEST(test_gw_server_node_openai_sdk_analyst)
{
    struct env e;
    char sd[700], dcm[800], *o = NULL;
    if (!gw__have("analyst"))
        SKIP("analyst module not in this build");
    if (node_ready() != 0)
        SKIP("npm could not install the openai package (tests/node): no registry access?");
    CHECK(setup(&e, 0) == 0);
    CHECK(start(&e) == 0);
    const char *cases = "plain,stream,helper,json,json_schema,max_tokens,models,bad_key,bad_param";
    if (ms_test_shared() != NULL && study_dir(&e, sd, sizeof sd) != NULL) {
        snprintf(dcm, sizeof dcm, "%s/study_1/CT/IMG00001.dcm", sd);
        cases = "plain,stream,helper,json,json_schema,max_tokens,models,bad_key,bad_param,dicom";
    }
    /* the /v1/confidential alias, streamed, with curl */
    CHECK_EQ_INT(req(&e, "POST", "/v1/confidential/chat/completions", e.res.text, "-N",
                     "{\"model\":\"medical-records-analyst\",\"stream\":true,\"messages\":[{"
                     "\"role\":\"user\",\"content\":\"6 mm solid nodule, right upper lobe.\"}]}",
                     &o, NULL),
                 200);
    CHECK(has(o, "\"object\":\"chat.completion.chunk\"") && has(o, "data: [DONE]"));
    free(o);
    int rc = run_node(&e, e.clin.text, cases, dcm, &o);
    fprintf(stderr, "%s", o ? o : "");
    CHECK(rc == 0 && !has(o, "FAIL"));
    free(o);
    teardown(&e);
    return 0;
}

/* ---- upstream: PHI never reaches it; re-identification by role; quirks ---- */

static char *json_escape(const char *s)
{
    json_t *j = json_string(s);
    char *t = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    char *copy = strdup(t);
    gw__json_free(t);
    return copy;
}

static char *chat_body(const char *model, const char *text, int stream)
{
    char *esc = json_escape(text), *b = NULL;
    if (asprintf(&b,
                 "{\"model\":\"%s\",\"stream\":%s,\"messages\":[{\"role\":\"user\","
                 "\"content\":%s}]}",
                 model, stream ? "true" : "false", esc) < 0)
        b = NULL;
    free(esc);
    return b;
}

/* Appends the streamed content (or, with tool = 1, the first tool call's arguments) of an SSE
 * body to out. */
static void sse_text_of(const char *sse, int tool, char *out, size_t n)
{
    const char *p = sse;
    out[0] = '\0';
    while (p != NULL && (p = strstr(p, "data: {")) != NULL) {
        const char *end = strstr(p, "\n\n");
        json_t *j = json_loadb(p + 6, end ? (size_t)(end - p - 6) : strlen(p + 6), 0, NULL);
        json_t *d = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta");
        const char *c = json_string_value(json_object_get(d, "content"));
        size_t k;
        json_t *tc;
        if (tool) {
            c = NULL;
            json_array_foreach(json_object_get(d, "tool_calls"), k, tc)
            {
                const char *a = json_string_value(
                    json_object_get(json_object_get(tc, "function"), "arguments"));
                if (a != NULL)
                    strncat(out, a, n - strlen(out) - 1);
            }
        }
        if (c != NULL)
            strncat(out, c, n - strlen(out) - 1);
        json_decref(j);
        p = end;
    }
}

/* The answer's text (tool = 0) or its first tool call's arguments (tool = 1). */
static void answer_text(const char *b, int stream, int tool, char *text, size_t n)
{
    if (stream) {
        sse_text_of(b, tool, text, n);
        return;
    }
    json_t *ans = json_loads(b, 0, NULL);
    json_t *msg = json_object_get(json_array_get(json_object_get(ans, "choices"), 0), "message");
    const char *c = json_string_value(json_object_get(msg, "content"));
    if (tool)
        c = json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(msg, "tool_calls"), 0), "function"),
            "arguments"));
    snprintf(text, n, "%s", c ? c : "");
    json_decref(ans);
}

TEST(test_gw_server_upstream_phi_never_forwarded)
{
    struct env e;
    char sd[700], *note = NULL, *b = NULL, *rec = NULL, text[8192];
    if (ms_test_shared() == NULL)
        SKIP("../shared not available");
    if (!gw__have("phi"))
        SKIP("phi module not in this build (the upstream path fails closed: see "
             "test_gw_server_upstream_fail_closed)");
    CHECK(setup(&e, 1) == 0);
    CHECK(start(&e) == 0);
    CHECK(study_dir(&e, sd, sizeof sd) != NULL);
    CHECK(ms_test_sh(&note, "cat '%s/study_1/notes.txt'", sd) == 0 && note != NULL);
    char mpath[800];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", sd);
    json_t *man = json_load_file(mpath, 0, NULL);
    CHECK(man != NULL);
    const char *last = json_string_value(json_object_get(json_object_get(man, "identity"), "last"));
    CHECK(last != NULL && has(note, last));
    for (int round = 0; round < 4; round++) {
        int stream = round & 1, tool = round >> 1;
        char *body = chat_body(tool ? "echo-tool" : "echo", note, stream);
        /* clinician: the answer comes back with the real name; researcher: surrogates stay */
        CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, &b, NULL),
                     200);
        answer_text(b, stream, tool, text, sizeof text);
        CHECK(has(text, "ECHO: "));
        CHECK(has(text, last));
        free(b);
        CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.res.text, NULL, body, &b, NULL),
                     200);
        answer_text(b, stream, tool, text, sizeof text);
        CHECK(has(text, "ECHO: "));
        CHECK(!has(b, last) && !has(text, last));
        free(b);
        free(body);
    }
    /* the upstream saw none of the planted values that were in the note */
    CHECK(ms_test_sh(&rec, "cat '%s'", e.rec) == 0 && rec != NULL && has(rec, "ECHO") == 0);
    size_t i, checked = 0;
    json_t *v;
    json_array_foreach(json_object_get(man, "planted_phi"), i, v)
    {
        const char *s = json_string_value(v);
        if (!has(note, s))
            continue;
        checked++;
        if (has(rec, s)) {
            fprintf(stderr, "  planted value #%zu (length %zu) reached the upstream\n", i,
                    strlen(s));
            return 1;
        }
    }
    CHECK(checked >= 5);
    CHECK_EQ_INT(req(&e, "GET", "/metrics", e.aud.text, NULL, NULL, &b, NULL), 200);
    CHECK(has(b, "medseal_phi_entities_total{class=\"NAME\"}"));
    CHECK(!has(b, last));
    free(b), free(rec), free(note);
    json_decref(man);
    teardown(&e);
    return 0;
}

/* serve with site_lists (issue 14): a staff name and a local place that only the site's lists
 * know (lower case, no title or role before them) are scrubbed from a chat request before it
 * reaches the echoing upstream; the clinical words around them get there unchanged. */
TEST(test_gw_server_site_lists_scrub_before_upstream)
{
    struct env e;
    char site[700], path[800], *b = NULL, *rec = NULL;
    if (!gw__have("phi"))
        SKIP("phi module not in this build");
    CHECK(setup(&e, 1) == 0);
    snprintf(site, sizeof site, "%s/site", e.dir);
    CHECK(ms_test_sh(NULL, "mkdir -p '%s'", site) == 0);
    snprintf(path, sizeof path, "%s/staff_names.txt", site);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("# roster\nQuillon Ardwick\nTamsin Oduya\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/places.txt", site);
    f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("Pemberhurst 4\n", f);
    fclose(f);
    e.cfg.site_lists = site;
    CHECK(start(&e) == 0);
    char *body = chat_body("echo",
                           "drain flushed, quillon ardwick aware. pt back to pemberhurst 4 "
                           "after ct, bp 118/62",
                           0);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.res.text, NULL, body, &b, NULL), 200);
    free(body);
    CHECK(has(b, "ECHO: "));
    CHECK(ms_test_sh(&rec, "cat '%s'", e.rec) == 0 && rec != NULL);
    CHECK(has(rec, "drain flushed") && has(rec, "bp 118/62"));
    CHECK(!has(rec, "quillon") && !has(rec, "ardwick") && !has(rec, "pemberhurst"));
    CHECK(!has(b, "ardwick") && !has(b, "pemberhurst"));
    free(b), free(rec);
    teardown(&e);
    return 0;
}

static int collect_line(void *ud, const char *line, size_t len);

/* Audit records (from the files in STATE/audit) with this status and outcome. */
static int audit_count(const struct env *e, long status, const char *outcome)
{
    uint8_t mk[MS_KEY_LEN];
    ms_buf log;
    int n = 0;
    ms_buf_init(&log, NULL, 0);
    if (audit_master_key(e->state, NULL, mk, NULL) != MS_OK ||
        audit_export(e->state, mk, 0, 0, collect_line, &log, NULL) != MS_OK ||
        ms_buf_append_byte(&log, '\0', NULL) != MS_OK) {
        ms_buf_free(&log);
        return -1;
    }
    for (char *line = strtok((char *)log.p, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        const char *o = json_string_value(json_object_get(j, "outcome"));
        n += o != NULL && strcmp(o, outcome) == 0 &&
             json_integer_value(json_object_get(j, "status")) == status;
        json_decref(j);
    }
    ms_buf_free(&log);
    return n;
}

TEST(test_gw_server_upstream_errors_and_quirks)
{
    struct env e;
    char *b = NULL, *h = NULL, *o = NULL;
    if (!gw__have("phi"))
        SKIP("phi module not in this build");
    CHECK(setup(&e, 1) == 0);
    e.cfg.upstream_timeout_s = 1;
    CHECK(start(&e) == 0);
    char *body = chat_body("fail-500", "hello", 0);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, &b, NULL), 502);
    CHECK(has(b, "upstream_error"));
    free(b), free(body);
    body = chat_body("fail-429", "hello", 0);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, NULL, &h), 429);
    CHECK(has(h, "Retry-After: 7"));
    free(h), free(body);
    body = chat_body("slow", "hello", 0);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, NULL, NULL), 504);
    free(body);
    body = chat_body("echo-no-done", "hello there", 1); /* finish chunk, then EOF */
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, &b, NULL), 200);
    CHECK(has(b, "\"finish_reason\":\"stop\"") && has(b, "data: [DONE]\n\n"));
    CHECK(!has(b, "\"error\""));
    free(b), free(body);
    CHECK_EQ_INT(audit_count(&e, 200, "error"), 0);
    body = chat_body("echo-truncated", "hello there", 1);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, &b, NULL), 200);
    CHECK(has(b, "upstream_stream_incomplete"));
    free(b), free(body);
    /* the status line said 200 before the stream broke: the audit record says it failed */
    CHECK_EQ_INT(audit_count(&e, 200, "error"), 1);
    if (node_ready() == 0) {
        int rc = run_node(&e, e.clin.text,
                          "up_helper_choices_null,up_helper_no_role,up_error_line,up_usage_order",
                          NULL, &o);
        fprintf(stderr, "%s", o ? o : "");
        CHECK(rc == 0 && !has(o, "FAIL"));
        free(o);
    }
    teardown(&e);
    /* an upstream that is not there */
    CHECK(setup(&e, 0) == 0);
    e.cfg.upstream = "http://127.0.0.1:1/v1";
    CHECK(start(&e) == 0);
    body = chat_body("echo", "hello", 0);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, NULL, NULL), 502);
    free(body);
    teardown(&e);
    return 0;
}

/* The upstream URL is the only route: a proxy named in the environment (here http_proxy) is not
 * used, so scrubbed text cannot be redirected by whoever sets the service's environment. Only the
 * server's libcurl sees it: the test's own curl talks https to the gateway. */
TEST(test_gw_server_upstream_ignores_proxy_env)
{
    struct env e;
    char *b = NULL;
    if (!gw__have("phi"))
        SKIP("phi module not in this build");
    CHECK(setup(&e, 1) == 0);
    CHECK(start(&e) == 0);
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    char *body = chat_body("echo", "hello there", 0);
    int st = req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, &b, NULL);
    unsetenv("http_proxy");
    CHECK_EQ_INT(st, 200);
    CHECK(has(b, "hello there"));
    free(b), free(body);
    teardown(&e);
    return 0;
}

/* Scrubbing that cannot finish (no scrubber, or its memory ceiling hit) must block the request:
 * the upstream receives nothing. */
TEST(test_gw_server_upstream_fail_closed)
{
    struct env e;
    char *b = NULL, *rec = NULL;
    CHECK(setup(&e, 1) == 0);
    e.cfg.mem_limit = 96 << 10; /* the scrubber's output no longer fits */
    CHECK(start(&e) == 0);
    char *big = malloc(60001);
    for (size_t i = 0; i < 60000; i++)
        big[i] = "Jane Roe was seen. "[i % 19];
    big[60000] = '\0';
    char *body = chat_body("echo", big, 0);
    free(big);
    int st = req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, &b, NULL);
    CHECK(st == 507 || st == 503 || st == 413);
    CHECK(!has(b, "Jane"));
    free(b), free(body);
    usleep(200000);
    ms_test_sh(&rec, "cat '%s' 2>/dev/null", e.rec);
    CHECK(rec == NULL || rec[0] == '\0');
    free(rec);
    teardown(&e);
    return 0;
}

/* The CLI: keys create/list/revoke, then serve with SIGTERM while a request is in flight: the
 * request completes, new connections are refused, the process exits 0. */
TEST(test_gw_cli_keys_and_graceful_sigterm)
{
    struct env e;
    char *o = NULL;
    if (access(ms_test_medseal(), X_OK) != 0)
        SKIP("the medseal CLI is not built (cmake --build ... --target medseal)");
    CHECK(setup(&e, 0) == 0);
    CHECK(ms_test_sh(&o, "'%s' keys create --state '%s' --role clinician --expires 1d",
                     ms_test_medseal(), e.state) == 0);
    CHECK(has(o, "key:  msk_"));
    free(o);
    CHECK(ms_test_sh(&o, "'%s' keys create --state '%s' --role admin", ms_test_medseal(),
                     e.state) == 0);
    CHECK(has(o, "otpauth://totp/medseal:"));
    free(o);
    CHECK(ms_test_sh(&o, "'%s' keys list --state '%s' --json", ms_test_medseal(), e.state) == 0);
    CHECK(has(o, "\"role\":\"admin\"") && !has(o, "msk_"));
    free(o);
    CHECK(ms_test_sh(NULL, "'%s' keys revoke --state '%s' %s", ms_test_medseal(), e.state,
                     e.res.id) == 0);
    CHECK(ms_test_sh(NULL, "'%s' keys create --state '%s' --role emperor 2>/dev/null",
                     ms_test_medseal(), e.state) != 0);
    /* refuses to start without attestation unless told */
    CHECK(ms_test_sh(&o,
                     "'%s' serve --listen 127.0.0.1:0 --cert '%s' --key '%s' --state '%s' "
                     "--allow-unlocked-memory 2>&1 | "
                     "head -3; exit 0",
                     ms_test_medseal(), e.cert, e.key, e.state) == 0);
    CHECK(!has(o, "listening"));
    free(o);
    CHECK(ms_test_sh(&o,
                     "'%s' serve --listen 127.0.0.1:0 --cert '%s' --key '%s' --state '%s' "
                     "--insecure-no-attestation --allow-unlocked-memory "
                     "> '%s/serve.out' 2>&1 & echo $!",
                     ms_test_medseal(), e.cert, e.key, e.state, e.dir) == 0);
    pid_t pid = (pid_t)atoi(o);
    free(o);
    int port = 0;
    for (int i = 0; i < 100 && port == 0; i++) {
        usleep(100000);
        if (ms_test_sh(&o, "sed -n 's/.*127.0.0.1:\\([0-9]*\\) .*/\\1/p' '%s/serve.out'", e.dir) ==
                0 &&
            o != NULL)
            port = atoi(o);
        free(o);
    }
    CHECK(port > 0);
    CHECK(ms_test_sh(&o, "cat '%s/serve.out'", e.dir) == 0);
    CHECK(has(o, "attestation=UNATTESTED"));
    fprintf(stderr, "  %s", o);
    free(o);
    CHECK(ms_test_sh(
              &o,
              "/usr/bin/python3 - <<'PY'\n"
              "import os, signal, socket, ssl, time\n"
              "ctx = ssl.create_default_context(cafile='%s')\n"
              "s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', %d)), "
              "server_hostname='localhost')\n"
              "s.settimeout(10)\n"
              "body = b'{\"model\":1}'\n"
              "s.sendall(b'POST /v1/chat/completions HTTP/1.1\\r\\nHost: x\\r\\nAuthorization: "
              "Bearer %s\\r\\nContent-Type: application/json\\r\\nContent-Length: %%d\\r\\n\\r\\n'"
              " %% len(body) + body[:4])\n"
              "time.sleep(0.3)\n"
              "os.kill(%d, signal.SIGTERM)\n"
              "time.sleep(0.5)\n"
              "try:\n"
              "    socket.create_connection(('127.0.0.1', %d), timeout=2).close(); print('new "
              "connection accepted')\n"
              "except OSError:\n"
              "    print('new connection refused')\n"
              "s.sendall(body[4:])\n"
              "print(s.recv(200).split(b'\\r\\n')[0].decode())\n"
              "PY",
              e.ca, port, e.clin.text, (int)pid, port) == 0);
    fprintf(stderr, "  %s", o);
    CHECK(has(o, "new connection refused"));
    CHECK(has(o, "HTTP/1.1 400"));
    free(o);
    int status = -1;
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
        /* not our child (started by the shell): poll for its exit */
        if (kill(pid, 0) != 0) {
            status = 0;
            break;
        }
        usleep(100000);
    }
    CHECK(kill(pid, 0) != 0);
    CHECK(ms_test_sh(&o, "cat '%s/serve.out'", e.dir) == 0);
    CHECK(has(o, "stopped"));
    free(o);
    (void)status;
    return 0;
}

/* An uploaded study lives study_ttl_s seconds, then it is wiped: its handle no longer works. */
TEST(test_gw_server_study_expires)
{
    struct env e;
    char sd[700], *o = NULL;
    if (ms_test_shared() == NULL)
        SKIP("../shared not available");
    if (!gw__have("dicom"))
        SKIP("dicom module not in this build");
    CHECK(setup(&e, 0) == 0);
    e.cfg.study_ttl_s = 2;
    CHECK(start(&e) == 0);
    CHECK(study_dir(&e, sd, sizeof sd) != NULL);
    CHECK(ms_test_sh(&o,
                     "cd '%s/study_1/CT' && { printf -- '--XB\\r\\nContent-Type: "
                     "application/dicom\\r\\n\\r\\n'; cat $(ls | head -1); printf -- "
                     "'\\r\\n--XB--\\r\\n'; } | curl -sS --cacert '%s' -H 'Authorization: Bearer "
                     "%s' -H 'Content-Type: multipart/related; boundary=XB' --data-binary @- "
                     "https://127.0.0.1:%u/v1/studies",
                     sd, e.ca, e.clin.text, e.port) == 0);
    json_t *j = json_loads(o, 0, NULL);
    free(o);
    char path[128];
    snprintf(path, sizeof path, "/v1/studies/%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    CHECK(strlen(path) > 20);
    /* expiry after 2 s; the metrics are polled (up to 20 s) so a loaded machine does not fail it */
    int gone = 0;
    for (int waited = 0; waited < 40 && !gone; waited++) {
        usleep(500000);
        o = NULL;
        if (waited >= 4 && req(&e, "GET", "/metrics", e.aud.text, NULL, NULL, &o, NULL) == 200)
            gone = has(o, "medseal_studies_in_memory 0");
        free(o);
    }
    CHECK(gone);
    CHECK_EQ_INT(req(&e, "DELETE", path, e.clin.text, NULL, NULL, NULL, NULL), 404);
    teardown(&e);
    return 0;
}

/* ---- an answered request is audited before its answer leaves ---- */

/* This runner's fdatasync: it replaces libc's in the whole test binary (the audit log's calls
 * resolve to it). Unless slow_sync is set it is the plain system call. While it is set, each sync
 * takes 200 ms more and `syncing` counts those in progress, so an answer that arrives before its
 * record is synced (written but syncing, or not written yet) is caught however the threads run. */
static atomic_int slow_sync, syncing;

int fdatasync(int fd)
{
    if (!atomic_load(&slow_sync))
        return (int)syscall(SYS_fdatasync, fd);
    atomic_fetch_add(&syncing, 1);
    usleep(200000);
    int rc = (int)syscall(SYS_fdatasync, fd);
    atomic_fetch_sub(&syncing, 1);
    return rc;
}

struct got {
    char body[65536];
    size_t len;
    char request_id[40];
};

static size_t got_body(char *p, size_t sz, size_t n, void *ud)
{
    struct got *g = ud;
    size_t k = sz * n;
    size_t take = k < sizeof g->body - 1 - g->len ? k : sizeof g->body - 1 - g->len;
    memcpy(g->body + g->len, p, take);
    g->len += take;
    g->body[g->len] = '\0';
    return k;
}

static size_t got_header(char *p, size_t sz, size_t n, void *ud)
{
    struct got *g = ud;
    size_t k = sz * n;
    if (k > 14 && strncasecmp(p, "X-Request-Id: ", 14) == 0) {
        size_t l = k - 14;
        while (l > 0 && (p[14 + l - 1] == '\r' || p[14 + l - 1] == '\n'))
            l--;
        if (l < sizeof g->request_id) {
            memcpy(g->request_id, p + 14, l);
            g->request_id[l] = '\0';
        }
    }
    return k;
}

static int collect_line(void *ud, const char *line, size_t len)
{
    return ms_buf_append(ud, line, len, NULL) != MS_OK || ms_buf_append_byte(ud, '\n', NULL);
}

/* One request with libcurl in this process (keep-alive on h), then, the moment the answer is
 * complete, the audit log read from the files in STATE/audit. Returns the status; 0 when the
 * record for the answer's X-Request-Id is not in the log files yet, or, with e->cfg.audit_sync
 * = GW_AUDIT_FSYNC, when a sync is still running (-1 when curl failed). */
static long answered_then_logged(struct env *e, CURL *h, const uint8_t mk[MS_KEY_LEN],
                                 const char *path, const char *key, const char *body)
{
    struct got g;
    char url[256], auth[256];
    struct curl_slist *hd = NULL;
    long status = 0;
    memset(&g, 0, sizeof g);
    snprintf(url, sizeof url, "https://127.0.0.1:%u%s", e->port, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    hd = curl_slist_append(hd, auth);
    hd = curl_slist_append(hd, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, e->ca);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, got_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &g);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, got_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &g);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    if (body != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    else
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hd);
    if (cc != CURLE_OK || g.request_id[0] == '\0')
        return -1;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    /* the answer is here: its record must already be in the log file; with fsync, on disk (no
     * sync pending) */
    int pending = e->cfg.audit_sync == GW_AUDIT_FSYNC && atomic_load(&syncing);
    ms_buf log;
    char want[64];
    ms_buf_init(&log, NULL, 0);
    snprintf(want, sizeof want, "\"%s\"", g.request_id);
    int found = audit_export(e->state, mk, 0, 0, collect_line, &log, NULL) == MS_OK &&
                log.len > 0 && memmem(log.p, log.len, want, strlen(want)) != NULL;
    if (!found || pending)
        fprintf(stderr, "  %s %ld: audit record for %s %s when the answer arrived\n", path, status,
                g.request_id, found ? "not yet synced" : "not in the log");
    found = found && !pending;
    ms_buf_free(&log);
    return found ? status : 0;
}

static int record_before_answer(int sync)
{
    struct env e;
    uint8_t mk[MS_KEY_LEN];
    if (!gw__have("audit") || !gw__have("analyst"))
        SKIP("audit or analyst module not in this build");
    int upstream = gw__have("phi") && ms_test_sh(NULL, "command -v node >/dev/null") == 0;
    CHECK(setup(&e, upstream) == 0);
    e.cfg.audit_sync = sync;
    CHECK(start(&e) == 0);
    CHECK(audit_master_key(e.state, NULL, mk, NULL) == MS_OK);
    CURL *h = curl_easy_init();
    CHECK(h != NULL);
    const char *stream = "{\"model\":\"medical-records-analyst\",\"stream\":true,\"messages\":[{"
                         "\"role\":\"user\",\"content\":\"6 mm nodule, left lower lobe.\"}]}";
    atomic_store(&slow_sync, 1);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(
            answered_then_logged(&e, h, mk, "/v1/chat/completions", e.clin.text, CHAT_ANALYST),
            200);
        CHECK_EQ_INT(answered_then_logged(&e, h, mk, "/v1/chat/completions", e.res.text, stream),
                     200);
        CHECK_EQ_INT(answered_then_logged(&e, h, mk, "/v1/models", "msk_not_a_key", NULL), 401);
        CHECK_EQ_INT(answered_then_logged(&e, h, mk, "/v1/nothing", e.res.text, NULL), 404);
        if (upstream) { /* a streamed upstream answer: recorded before its [DONE] */
            char *body = chat_body("echo", "hello there", 1);
            CHECK_EQ_INT(answered_then_logged(&e, h, mk, "/v1/chat/completions", e.res.text, body),
                         200);
            free(body);
        }
    }
    atomic_store(&slow_sync, 0);
    curl_easy_cleanup(h);
    ms_memzero(mk, sizeof mk);
    teardown(&e);
    return 0;
}

/* audit_sync = fsync: each answer waits for its record's fdatasync (shared by concurrent ones). */
TEST(test_gw_server_audit_record_on_disk_before_answer)
{
    return record_before_answer(GW_AUDIT_FSYNC);
}

/* The default, audit_sync = write: the record is in the log file before the answer leaves (the
 * process dying cannot lose it), while the 200 ms syncs run behind. */
TEST(test_gw_server_audit_record_written_before_answer)
{
    return record_before_answer(GW_AUDIT_WRITE);
}

/* ---- the chat request schema (issue 15 item 1) ----------------------------------------------- */

#define PHI_SENTENCE "Patient John Smith (MRN 48213377), phone 617-555-0142"
static const char *const PHI_MARKS[] = {"Smith", "48213377", "617-555-0142", "John"};

/* tmpl with every "@P" replaced by PHI_SENTENCE (owned). */
static char *subst(const char *tmpl)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    for (const char *p = tmpl; *p;) {
        const char *at = strstr(p, "@P");
        size_t n = at ? (size_t)(at - p) : strlen(p);
        ms_buf_append(&b, p, n, NULL);
        if (at == NULL)
            break;
        ms_buf_append_str(&b, PHI_SENTENCE, NULL);
        p = at + 2;
    }
    ms_buf_append_byte(&b, '\0', NULL);
    char *s = strdup((const char *)b.p);
    ms_buf_free(&b);
    return s;
}

/* 1 when the upstream's record holds any planted mark. */
static int record_has_phi(struct env *e)
{
    char *rec = NULL;
    int bad = 0;
    ms_test_sh(&rec, "cat '%s' 2>/dev/null", e->rec);
    for (size_t i = 0; rec != NULL && i < sizeof PHI_MARKS / sizeof PHI_MARKS[0]; i++) {
        if (has(rec, PHI_MARKS[i])) {
            fprintf(stderr, "  planted mark #%zu reached the upstream\n", i);
            bad = 1;
        }
    }
    free(rec);
    return bad;
}

static long record_lines(struct env *e)
{
    char *o = NULL;
    ms_test_sh(&o, "cat '%s' 2>/dev/null | wc -l", e->rec);
    long n = o ? atol(o) : -1;
    free(o);
    return n;
}

/* Every field of the OpenAI chat request (2025), each carrying the planted sentence where it can
 * hold text: the answer is 200 and none of the planted values reaches the echoing upstream. */
static const char *EVERY_FIELD =
    "{\"model\":\"echo\",\"messages\":["
    "{\"role\":\"system\",\"content\":\"@P\",\"name\":\"John Smith\"},"
    "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"@P\"}]},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"@P\"}],\"name\":\"John Smith\"},"
    "{\"role\":\"assistant\",\"content\":null,\"refusal\":\"@P\",\"tool_calls\":[{\"id\":"
    "\"call_Smith_48213377\",\"type\":\"function\",\"function\":{\"name\":\"lookup_48213377\","
    "\"arguments\":\"{\\\"patient\\\":\\\"@P\\\"}\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"call_Smith_48213377\",\"content\":\"@P\"},"
    "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"@P\"},{\"type\":"
    "\"refusal\",\"refusal\":\"@P\"}],\"function_call\":{\"name\":\"John_Smith\",\"arguments\":"
    "\"@P\"}},"
    "{\"role\":\"user\",\"content\":\"@P\"}],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"lookup_48213377\",\"description\":"
    "\"@P\",\"parameters\":{\"type\":\"object\",\"description\":\"@P\",\"properties\":{\"John "
    "Smith\":{\"type\":\"string\",\"title\":\"@P\",\"description\":\"@P\",\"enum\":[\"@P\"],"
    "\"default\":\"@P\",\"examples\":[\"@P\"],\"pattern\":\"48213377\"}},\"required\":[\"John "
    "Smith\"],\"$comment\":\"@P\"},\"strict\":true}}],"
    "\"functions\":[{\"name\":\"Smith_48213377\",\"description\":\"@P\",\"parameters\":{\"type\":"
    "\"object\",\"properties\":{}}}],"
    "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"lookup_48213377\"}},"
    "\"function_call\":{\"name\":\"Smith_48213377\"},"
    "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"John_Smith_48213377\","
    "\"description\":\"@P\",\"schema\":{\"type\":\"object\",\"title\":\"@P\",\"properties\":{}},"
    "\"strict\":true}},"
    "\"stop\":[\"@P\",\"617-555-0142\"],"
    "\"prediction\":{\"type\":\"content\",\"content\":[{\"type\":\"text\",\"text\":\"@P\"}]},"
    "\"web_search_options\":{\"search_context_size\":\"low\"},"
    "\"logit_bias\":{\"1234\":5},\"user\":\"@P\",\"metadata\":{\"note\":\"@P\"},"
    "\"safety_identifier\":\"@P\",\"prompt_cache_key\":\"@P\",\"temperature\":0.5,\"top_p\":1,"
    "\"n\":1,\"seed\":7,\"frequency_penalty\":0,\"presence_penalty\":0.5,\"logprobs\":false,"
    "\"top_logprobs\":0,\"max_completion_tokens\":100,\"parallel_tool_calls\":true,\"store\":false,"
    "\"modalities\":[\"text\"],\"reasoning_effort\":\"low\",\"service_tier\":\"auto\","
    "\"verbosity\":\"low\"";

/* Requests the schema refuses: {body, param}. Each carries the planted sentence. */
static const char *const REFUSED[][2] = {
    {"{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"x_note\":\"@P\"}",
     NULL},
    {"{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"x_note\":\"@P\"}]}",
     "messages[0]"},
    {"{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
     "\"text\":\"hi\",\"x_note\":\"@P\"}]}]}",
     "messages[0].content[0]"},
    {"{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
     "\"text\":\"@P see data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==\"}]}]}",
     "messages[0].content[0].text"},
    {"{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"@P\",\"name\":{\"n\":"
     "\"@P\"}}]}",
     "messages[0].name"},
    {"{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"@P\"}],\"audio\":{"
     "\"voice\":\"alloy\",\"format\":\"wav\"}}",
     "audio"},
    {"{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"@P\"}],"
     "\"web_search_options\":{\"user_location\":{\"type\":\"approximate\",\"approximate\":{"
     "\"city\":\"@P\"}}}}",
     "web_search_options.user_location"},
    {"{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"@P\"}],\"tools\":[{"
     "\"type\":\"custom\",\"custom\":{\"name\":\"x\",\"description\":\"@P\"}}]}",
     "tools[0].type"},
    {"{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"@P\"}],\"logit_bias\":{"
     "\"@P\":1}}",
     "logit_bias"},
    {"{\"model\":\"MRN48213377\",\"messages\":[{\"role\":\"user\",\"content\":\"@P\"}]}", "model"},
    {"{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"@P\"}],\"stop\":{\"a\":"
     "\"@P\"}}",
     "stop"},
    {"{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"@P\"}],"
     "\"tool_choice\":\"@P\"}",
     "tool_choice"},
};

TEST(test_gw_server_upstream_schema_every_field_scrubbed)
{
    struct env e;
    char *b = NULL, text[8192];
    if (!gw__have("phi"))
        SKIP("phi module not in this build");
    CHECK(setup(&e, 1) == 0);
    CHECK(start(&e) == 0);
    for (int stream = 0; stream < 2; stream++) {
        char *t = NULL;
        CHECK(asprintf(&t, "%s,\"stream\":%s,\"stream_options\":%s}", EVERY_FIELD, stream ? "true" : "false",
                       stream ? "{\"include_usage\":true}" : "null") > 0);
        char *body = subst(t);
        free(t);
        for (int role = 0; role < 2; role++) {
            int st = req(&e, "POST", "/v1/chat/completions", role ? e.res.text : e.clin.text,
                         NULL, body, &b, NULL);
            if (st != 200)
                fprintf(stderr, "  %d %s\n", st, b ? b : "");
            CHECK_EQ_INT(st, 200);
            answer_text(b, stream, 0, text, sizeof text);
            CHECK(has(text, "ECHO: "));
            /* the clinician gets the real values back; the researcher keeps the surrogates */
            CHECK(role == 1 ? !has(text, "Smith") : has(text, "John Smith (MRN 48213377)"));
            free(b);
        }
        free(body);
    }
    CHECK_EQ_INT(record_lines(&e), 4);
    CHECK(record_has_phi(&e) == 0);
    /* the upstream saw opaque tool-call ids and function names, the same in call and answer */
    char *rec = NULL;
    CHECK(ms_test_sh(&rec, "head -1 '%s'", e.rec) == 0 && rec != NULL);
    json_t *j = json_loads(rec, 0, NULL);
    free(rec);
    CHECK(j != NULL);
    json_t *msgs = json_object_get(j, "messages");
    json_t *tc0 = json_array_get(json_object_get(json_array_get(msgs, 3), "tool_calls"), 0);
    CHECK(strcmp(json_string_value(json_object_get(tc0, "id")), "call_1") == 0);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(msgs, 4), "tool_call_id")),
                 "call_1") == 0);
    CHECK(strncmp(json_string_value(json_object_get(json_object_get(tc0, "function"), "name")),
                  "fn_", 3) == 0);
    CHECK(json_object_get(j, "user") == NULL && json_object_get(j, "metadata") == NULL);
    json_decref(j);
    /* refused: 400 with the field's param, nothing sent, no value in the error */
    for (size_t i = 0; i < sizeof REFUSED / sizeof REFUSED[0]; i++) {
        char *body = subst(REFUSED[i][0]);
        int st = req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, &b, NULL);
        if (st != 400)
            fprintf(stderr, "  refused case %zu: %d %s\n", i, st, b ? b : "");
        CHECK_EQ_INT(st, 400);
        json_t *ej = json_loads(b ? b : "", 0, NULL);
        const char *param = json_string_value(
            json_object_get(json_object_get(ej, "error"), "param"));
        if (REFUSED[i][1] != NULL && (param == NULL || strcmp(param, REFUSED[i][1]) != 0))
            fprintf(stderr, "  refused case %zu: param %s\n", i, param ? param : "(null)");
        CHECK(REFUSED[i][1] == NULL || (param != NULL && strcmp(param, REFUSED[i][1]) == 0));
        CHECK(!has(b, "Smith") && !has(b, "48213377") && !has(b, "x_note"));
        json_decref(ej);
        free(b), free(body);
    }
    CHECK_EQ_INT(record_lines(&e), 4);
    teardown(&e);
    /* upstream_unknown_fields = drop: the unknown field is removed, the request served */
    CHECK(setup(&e, 1) == 0);
    e.cfg.upstream_drop_unknown = 1;
    CHECK(start(&e) == 0);
    long n0 = record_lines(&e);
    char *body = subst(REFUSED[1][0]);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, NULL, NULL), 200);
    free(body);
    body = subst(REFUSED[0][0]);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, NULL, NULL), 200);
    free(body);
    CHECK_EQ_INT(record_lines(&e), n0 + 2);
    CHECK(record_has_phi(&e) == 0);
    teardown(&e);
    return 0;
}

/* upstream_models: only listed names are served; the audit log records a listed name as itself
 * and any other client-chosen name as a keyed hash (issue 15 item 8). */
TEST(test_gw_server_audit_model_name_only_when_configured)
{
    struct env e;
    uint8_t mk[MS_KEY_LEN];
    ms_buf log;
    if (!gw__have("phi") || !gw__have("audit"))
        SKIP("phi or audit module not in this build");
    CHECK(setup(&e, 1) == 0);
    CHECK(start(&e) == 0);
    /* a name the scrubber flags is refused before anything is sent (schema.c) */
    char *body = chat_body("echo-Smith-48213377", "hello there", 0);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, NULL, NULL), 400);
    free(body);
    /* one it does not: served, and recorded only as a hash */
    body = chat_body("echo-zq81x", "hello there", 0);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, NULL, NULL), 200);
    free(body);
    teardown(&e);
    ms_buf_init(&log, NULL, 0);
    CHECK(audit_master_key(e.state, NULL, mk, NULL) == MS_OK);
    CHECK(audit_export(e.state, mk, 0, 0, collect_line, &log, NULL) == MS_OK);
    CHECK(ms_buf_append_byte(&log, '\0', NULL) == MS_OK);
    CHECK(!has((const char *)log.p, "Smith") && !has((const char *)log.p, "48213377"));
    CHECK(!has((const char *)log.p, "zq81x"));
    CHECK(has((const char *)log.p, "\"model\":\"h:"));
    ms_buf_free(&log);
    /* listed: served and recorded by name; unlisted: 404 */
    CHECK(setup(&e, 1) == 0);
    e.cfg.upstream_models = "gpt-x, echo";
    CHECK(start(&e) == 0);
    body = chat_body("echo", "hello there", 0);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, NULL, NULL), 200);
    free(body);
    body = chat_body("echo-tool", "hello there", 0);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, NULL, NULL), 404);
    free(body);
    teardown(&e);
    ms_buf_init(&log, NULL, 0);
    CHECK(audit_export(e.state, mk, 0, 0, collect_line, &log, NULL) == MS_OK);
    CHECK(ms_buf_append_byte(&log, '\0', NULL) == MS_OK);
    CHECK(has((const char *)log.p, "\"model\":\"echo\""));
    CHECK(!has((const char *)log.p, "echo-tool"));
    ms_buf_free(&log);
    return 0;
}

/* ---- a failed audit append stops the answer (issue 15 item 2) -------------------------------- */

static long seg_size(const struct env *e)
{
    char *o = NULL;
    ms_test_sh(&o, "stat -c %%s '%s'/audit/seg-*.log | sort -n | tail -1", e->state);
    long n = o ? atol(o) : -1;
    free(o);
    return n;
}

/* While the log cannot be written, every answer is 503 with the fixed body (nothing of the
 * answer), /healthz is 503 "unhealthy", /metrics counts the failures; once writing works again
 * the server answers again, and every 200 it gave has its record. */
static int audit_outage(struct env *e, void (*break_it)(struct env *e),
                        void (*fix_it)(struct env *e), int pause_for_metrics)
{
    char *b = NULL;
    CHECK_EQ_INT(req(e, "GET", "/v1/models", e->clin.text, NULL, NULL, &b, NULL), 200);
    free(b);
    break_it(e);
    /* a full disk may still take a few records in the last page of the file: until the first
     * 503, then never a 200 again */
    int n503 = 0, n200 = 1;
    for (int i = 0; i < 60 && n503 < 5; i++) {
        int st = req(e, "GET", "/v1/models", e->clin.text, NULL, NULL, &b, NULL);
        CHECK(st == 200 || st == 503);
        if (st == 503) {
            n503++;
            CHECK(has(b, "audit_unavailable") && !has(b, "medical-records-analyst"));
        } else {
            CHECK(n503 == 0); /* no answer once the log has failed */
            n200++;
        }
        free(b);
    }
    CHECK(n503 >= 5);
    /* the chat path too, plain and streamed: nothing of the answer */
    for (int stream = 0; stream < 2; stream++) {
        char *body = chat_body("medical-records-analyst", "8 mm solid nodule, right upper lobe.",
                               stream);
        CHECK_EQ_INT(req(e, "POST", "/v1/chat/completions", e->clin.text, NULL, body, &b, NULL),
                     503);
        CHECK(!has(b, "nodule"));
        free(b), free(body);
    }
    CHECK_EQ_INT(req(e, "GET", "/healthz", NULL, NULL, NULL, &b, NULL), 503);
    CHECK(has(b, "\"status\":\"unhealthy\"") && has(b, "\"audit\":false"));
    free(b);
    if (pause_for_metrics) /* RLIMIT_FSIZE binds curl too: its /metrics output is larger */
        fix_it(e);
    CHECK_EQ_INT(req(e, "GET", "/metrics", e->aud.text, NULL, NULL, &b, NULL), 200);
    if (pause_for_metrics)
        break_it(e);
    CHECK(has(b, "medseal_audit_healthy 0"));
    CHECK(!has(b, "medseal_audit_append_failures_total 0\n"));
    free(b);
    fix_it(e);
    usleep(1100 * 1000); /* the seam reopens the log at most once a second */
    int ok = 0;
    for (int i = 0; i < 3 && !ok; i++) {
        ok = req(e, "GET", "/v1/models", e->clin.text, NULL, NULL, NULL, NULL) == 200;
        if (!ok)
            usleep(1100 * 1000);
    }
    CHECK(ok);
    n200++;
    CHECK_EQ_INT(req(e, "GET", "/healthz", NULL, NULL, NULL, &b, NULL), 200);
    CHECK(has(b, "\"audit\":true"));
    free(b);
    teardown(e);
    /* the log verifies, and holds a record for every 200 it answered */
    int recs = audit_count(e, 200, "ok");
    CHECK(recs >= n200);
    return 0;
}

static void fsize_break(struct env *e)
{
    struct rlimit rl;
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = (rlim_t)seg_size(e) + 40; /* the next record is cut mid-way (EFBIG) */
    setrlimit(RLIMIT_FSIZE, &rl);
}

static void fsize_fix(struct env *e)
{
    struct rlimit rl;
    (void)e;
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_FSIZE, &rl);
}

TEST(test_gw_server_audit_append_failure_rlimit_fsize)
{
    struct env e;
    if (!gw__have("audit"))
        SKIP("audit module not in this build");
    CHECK(setup(&e, 0) == 0);
    CHECK(start(&e) == 0);
    return audit_outage(&e, fsize_break, fsize_fix, 1);
}

static void fill_break(struct env *e)
{
    /* fill the tmpfs the state folder lives on */
    ms_test_sh(NULL, "dd if=/dev/zero of='%s/filler' bs=4k 2>/dev/null; sync", e->state);
}

static void fill_fix(struct env *e)
{
    ms_test_sh(NULL, "rm -f '%s/filler'", e->state);
}

TEST(test_gw_server_audit_append_failure_full_tmpfs)
{
    struct env e;
    char mnt[580];
    if (!gw__have("audit"))
        SKIP("audit module not in this build");
    CHECK(setup(&e, 0) == 0);
    /* the state folder moves to a 2 MiB tmpfs (needs CAP_SYS_ADMIN: skipped without it) */
    snprintf(mnt, sizeof mnt, "%.500s/small", e.dir);
    if (ms_test_sh(NULL, "mkdir -p '%s' && mount -t tmpfs -o size=2m,mode=0700 tmpfs '%s' "
                         "2>/dev/null && cp -a '%s/.' '%s/'",
                   mnt, mnt, e.state, mnt) != 0)
        SKIP("cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN)");
    snprintf(e.state, sizeof e.state, "%s", mnt);
    e.cfg.state_dir = e.state;
    int rc = start(&e) == 0 ? audit_outage(&e, fill_break, fill_fix, 0) : 1;
    ms_test_sh(NULL, "umount '%s' 2>/dev/null", mnt);
    return rc;
}

/* ---- smaller fail-closed statuses (issue 15 item 10) ----------------------------------------- */

TEST(test_gw_server_small_failures_have_their_status)
{
    struct env e;
    char *b = NULL, *o = NULL;
    if (!gw__have("phi"))
        SKIP("phi module not in this build");
    CHECK(setup(&e, 1) == 0);
    e.cfg.mem_limit = 768 << 10;
    CHECK(start(&e) == 0);
    /* a file part for an upstream model: the client's error (400 with its param), not 503 */
    const char *fp = "{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                     "\"file\",\"file\":{\"file_data\":\"AAAA\"}}]}]}";
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, fp, &b, NULL), 400);
    CHECK(has(b, "\"param\":\"messages[0].content[0]\""));
    free(b);
    /* an upstream answer over the memory ceiling: 502 that says so */
    char *body = chat_body("big", "hello", 0);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, &b, NULL), 502);
    CHECK(has(b, "upstream_answer_too_large"));
    free(b), free(body);
    /* a body that fits max_body but not the memory ceiling: 507, not 413 */
    char *big = malloc(900001);
    memset(big, 'a', 900000);
    big[900000] = '\0';
    body = chat_body("echo", big, 0);
    free(big);
    CHECK_EQ_INT(req(&e, "POST", "/v1/chat/completions", e.clin.text, NULL, body, &b, NULL), 507);
    CHECK(has(b, "insufficient_memory"));
    free(b), free(body);
    teardown(&e);
    /* keys list: an expired key says so */
    gw_keystore *ks = NULL;
    gw_new_key k;
    CHECK(gw_keystore_open(e.state, &ks, NULL) == MS_OK);
    CHECK(gw_keystore_create(ks, GW_ROLE_RESEARCHER, (int64_t)time(NULL) - 5, 0, &k, NULL) ==
          MS_OK);
    gw_keystore_close(ks);
    CHECK(ms_test_sh(&o, "'%s' keys list --state '%s'", ms_test_medseal(), e.state) == 0);
    char line[200];
    snprintf(line, sizeof line, "%s", strstr(o, k.id) ? strstr(o, k.id) : "");
    *strchrnul(line, '\n') = '\0';
    CHECK(has(line, "EXPIRED") && !has(line, "active"));
    free(o);
    CHECK(ms_test_sh(&o, "'%s' keys list --state '%s' --json | grep '%s'", ms_test_medseal(),
                     e.state, k.id) == 0);
    CHECK(has(o, "\"expired\":true") && has(o, "\"state\":\"expired\""));
    free(o);
    return 0;
}

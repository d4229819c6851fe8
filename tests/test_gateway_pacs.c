/*
 * PACS-facing gateway tests (issue 17, DICOMweb): a real in-process `medseal serve` on 127.0.0.1
 * with an ephemeral port and a test CA, driven by curl. Checks that a patient-level STOW-RS of
 * several studies gives one handle per StudyInstanceUID, that a chat request naming several
 * studies (by handle or UID) gets the same longitudinal comparison as `medseal analyze --prior`
 * on the same files, and that studies of different patients are refused.
 * Every server a test starts, it stops.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "gateway/internal.h"
#include "medseal/gateway.h"
#include "test.h"

struct penv {
    char dir[512], ca[600], cert[600], key[600], state[600];
    gw_config cfg;
    gw_server *srv;
    uint16_t port;
    gw_new_key clin, res;
};

static int p_setup(struct penv *e)
{
    gw_keystore *ks = NULL;
    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "%s", ms_test_tmpdir());
    snprintf(e->state, sizeof e->state, "%s/state", e->dir);
    snprintf(e->ca, sizeof e->ca, "%s/ca.pem", e->dir);
    snprintf(e->cert, sizeof e->cert, "%s/srv.pem", e->dir);
    snprintf(e->key, sizeof e->key, "%s/srv.key", e->dir);
    if (ms_test_sh(
            NULL,
            "cd '%s' && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:"
            "FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf && "
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
            "-out ca.pem -subj /CN=medseal-test-ca -days 2 2>/dev/null && "
            "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out "
            "srv.csr -subj /CN=localhost 2>/dev/null && "
            "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem "
            "-days 2 -extfile ext.cnf 2>/dev/null",
            e->dir) != 0)
        return -1;
    if (gw_keystore_open(e->state, &ks, NULL) != MS_OK)
        return -1;
    int bad = gw_keystore_create(ks, GW_ROLE_CLINICIAN, 0, 0, &e->clin, NULL) ||
              gw_keystore_create(ks, GW_ROLE_RESEARCHER, 0, 0, &e->res, NULL);
    gw_keystore_close(ks);
    if (bad)
        return -1;
    gw_config_defaults(&e->cfg);
    e->cfg.listen = "127.0.0.1:0";
    e->cfg.cert_path = e->cert;
    e->cfg.key_path = e->key;
    e->cfg.state_dir = e->state;
    e->cfg.insecure_no_attestation = 1;
    e->cfg.max_body = 1 << 20;
    e->cfg.idle_timeout_s = 5;
    e->cfg.request_timeout_s = 20;
    return 0;
}

static int p_start(struct penv *e)
{
    ms_err err = {0};
    if (gw_server_start(&e->cfg, &e->srv, &err) != MS_OK) {
        fprintf(stderr, "  start: %s\n", err.msg);
        return -1;
    }
    e->port = gw_server_port(e->srv);
    return e->port ? 0 : -1;
}

static void p_stop(struct penv *e)
{
    gw_server_stop(e->srv, 5);
    e->srv = NULL;
}

/* Writes a STOW-RS body of every file below `dirs` (space-separated, shell globs) to out. */
static int stow_body(const char *dirs, const char *out, const char *boundary)
{
    return ms_test_sh(NULL,
                      "{ for f in $(find %s -name '*.dcm' | sort); do printf -- '--%s\\r\\n"
                      "Content-Type: application/dicom\\r\\n\\r\\n'; cat \"$f\"; printf '\\r\\n'; "
                      "done; printf -- '--%s--\\r\\n'; } > '%s'",
                      dirs, boundary, boundary, out);
}

/* POSTs a STOW body; returns the HTTP status, *resp the body (owned). */
static int stow_post(struct penv *e, const char *key, const char *file, const char *path,
                     int dicom_json, char **resp)
{
    char *o = NULL;
    if (ms_test_sh(&o,
                   "curl -sS --max-time 60 --cacert '%s' -H 'Authorization: Bearer %s' %s -H "
                   "'Content-Type: multipart/related; type=\"application/dicom\"; boundary=PB' "
                   "--data-binary @'%s' -o '%s.resp' -w '%%{http_code}' https://127.0.0.1:%u%s",
                   e->ca, key, dicom_json ? "-H 'Accept: application/dicom+json'" : "", file, file,
                   e->port, path) != 0 ||
        o == NULL) {
        free(o);
        return 0;
    }
    int st = atoi(o);
    free(o);
    if (resp != NULL)
        ms_test_sh(resp, "cat '%s.resp'", file);
    return st;
}

/* A chat request to the analyst naming the studies ids[0..n); returns the status and the
 * answer's content in *content (owned). */
static int chat_studies(struct penv *e, const char *key, const char *const *ids, size_t n,
                        char **content)
{
    json_t *parts = json_array();
    json_array_append_new(parts, json_pack("{s:s,s:s}", "type", "text", "text",
                                           "Compare with the priors."));
    for (size_t i = 0; i < n; i++)
        json_array_append_new(parts,
                              json_pack("{s:s,s:{s:s}}", "type", "file", "file", "file_id", ids[i]));
    json_t *req = json_pack("{s:s,s:[{s:s,s:o}]}", "model", "medical-records-analyst", "messages",
                            "role", "user", "content", parts);
    char path[700], *o = NULL;
    snprintf(path, sizeof path, "%s/chat.json", e->dir);
    json_dump_file(req, path, JSON_COMPACT);
    json_decref(req);
    if (ms_test_sh(&o,
                   "curl -sS --max-time 60 --cacert '%s' -H 'Authorization: Bearer %s' -H "
                   "'Content-Type: application/json' --data-binary @'%s' -o '%s.resp' -w "
                   "'%%{http_code}' https://127.0.0.1:%u/v1/chat/completions",
                   e->ca, key, path, path, e->port) != 0 ||
        o == NULL) {
        free(o);
        return 0;
    }
    int st = atoi(o);
    free(o);
    *content = NULL;
    char *b = NULL;
    ms_test_sh(&b, "cat '%s.resp'", path);
    json_t *j = b ? json_loads(b, 0, NULL) : NULL;
    const char *c = json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message"), "content"));
    *content = strdup(c ? c : (b ? b : ""));
    json_decref(j);
    free(b);
    return st;
}

/* The line of `text` that starts (after spaces) with `prefix`, copied into out ("" if none). */
static void line_of(const char *text, const char *prefix, char *out, size_t n)
{
    out[0] = '\0';
    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        const char *q = p;
        while (*q == ' ')
            q++;
        if (strncmp(q, prefix, strlen(prefix)) == 0) {
            size_t l = strcspn(q, "\n");
            snprintf(out, n, "%.*s", (int)(l < n ? l : n - 1), q);
            return;
        }
    }
}

/* The StudyInstanceUID of the first instance below dir. */
static char *study_uid(const char *dir)
{
    char *o = NULL;
    ms_test_sh(&o,
               "/usr/bin/python3 -c \"import pydicom,sys;print(pydicom.dcmread(sys.argv[1],"
               "stop_before_pixels=True).StudyInstanceUID,end='')\" $(find '%s' -name '*.dcm' | "
               "sort | head -1)",
               dir);
    return o;
}

TEST(test_gw_pacs_stow_groups_by_study_and_chat_compares_like_cli)
{
    struct penv e;
    char sd[700], body[700], *o = NULL, *cli = NULL, *ans = NULL;
    if (ms_test_shared() == NULL)
        SKIP("../shared not available");
    if (!gw__have("dicom") || !gw__have("analyst"))
        SKIP("dicom or analyst module not in this build");
    CHECK(p_setup(&e) == 0);
    CHECK(p_start(&e) == 0);
    snprintf(sd, sizeof sd, "%s/pat", e.dir);
    CHECK(ms_test_sh(NULL,
                     "/usr/bin/python3 '%s/tools/make_study.py' '%s' --slices 2 --size 32 "
                     "--studies 3 --seed 7 >/dev/null && rm -f '%s'/study_*/notes.txt",
                     ms_test_shared(), sd, sd) == 0);
    /* one patient-level STOW-RS with the three studies' instances, in file order */
    snprintf(body, sizeof body, "%s/stow.bin", e.dir);
    char dirs[800];
    snprintf(dirs, sizeof dirs, "'%s'", sd);
    CHECK(stow_body(dirs, body, "PB") == 0);
    CHECK_EQ_INT(stow_post(&e, e.clin.text, body, "/v1/studies", 1, &o), 200);
    json_t *j = json_loads(o, 0, NULL);
    free(o);
    CHECK(j != NULL);
    /* three studies: no single Retrieve URL; each instance names its study's */
    CHECK(json_object_get(j, "00081190") == NULL);
    json_t *refs = json_object_get(json_object_get(j, "00081199"), "Value");
    CHECK_EQ_INT(json_array_size(refs), 9); /* 2 CT + 1 SR per study */
    char urls[3][128];
    size_t nu = 0;
    for (size_t i = 0; i < json_array_size(refs); i++) {
        const char *u = json_string_value(json_array_get(
            json_object_get(json_object_get(json_array_get(refs, i), "00081190"), "Value"), 0));
        CHECK(u != NULL && strncmp(u, "/v1/studies/study_", 18) == 0);
        size_t k = 0;
        while (k < nu && strcmp(urls[k], u) != 0)
            k++;
        if (k == nu) {
            CHECK(nu < 3);
            snprintf(urls[nu++], sizeof urls[0], "%s", u);
        }
    }
    CHECK_EQ_INT(nu, 3);
    json_decref(j);
    /* the same body again (a PACS retrying): the same three studies, no duplicates */
    CHECK_EQ_INT(stow_post(&e, e.clin.text, body, "/v1/studies", 0, &o), 200);
    j = json_loads(o, 0, NULL);
    free(o);
    json_t *studies = json_object_get(j, "studies");
    CHECK_EQ_INT(json_array_size(studies), 3);
    for (size_t i = 0; i < 3; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(studies, i), "id"));
        CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(studies, i), "instances")),
                     3);
        int found = 0;
        for (size_t k = 0; k < 3; k++)
            found |= id != NULL && strcmp(urls[k] + 12, id) == 0;
        CHECK(found);
    }
    json_decref(j);

    /* what the CLI says on the same files: study_3 current, 1 and 2 its priors */
    CHECK(ms_test_sh(&cli,
                     "'%s' analyze '%s/study_3' --prior '%s/study_1' --prior '%s/study_2' --phi",
                     ms_test_medseal(), sd, sd, sd) == 0);
    char want_vdt[300], want_lr[300], want_st[300], got[300];
    line_of(cli, "volume doubling time:", want_vdt, sizeof want_vdt);
    line_of(cli, "Lung-RADS v2022:", want_lr, sizeof want_lr);
    line_of(cli, "status:", want_st, sizeof want_st);
    CHECK(strstr(want_st, "growing (3 studies)") != NULL);
    CHECK(want_vdt[0] != '\0' && want_lr[0] != '\0');

    /* the chat, naming the studies out of order and one of them by its StudyInstanceUID */
    char *uid1 = study_uid(sd); /* study_1 sorts first */
    CHECK(uid1 != NULL && uid1[0] >= '0' && uid1[0] <= '9');
    const char *ids[3] = {urls[2] + 12, uid1, urls[1] + 12};
    /* urls[] are in arrival order (study_1, study_2, study_3): name 3, 1 (by UID), 2 */
    CHECK_EQ_INT(chat_studies(&e, e.clin.text, ids, 3, &ans), 200);
    line_of(ans, "status:", got, sizeof got);
    CHECK_STR(got, want_st);
    line_of(ans, "volume doubling time:", got, sizeof got);
    CHECK_STR(got, want_vdt);
    line_of(ans, "Lung-RADS v2022:", got, sizeof got);
    CHECK_STR(got, want_lr);
    CHECK(strstr(ans, "baseline") == NULL);
    free(ans);
    /* another key cannot name them */
    CHECK_EQ_INT(chat_studies(&e, e.res.text, ids, 3, &ans), 404);
    free(ans);

    /* a study of another patient beside them: refused with 400 */
    snprintf(sd, sizeof sd, "%s/other", e.dir);
    CHECK(ms_test_sh(NULL,
                     "/usr/bin/python3 '%s/tools/make_study.py' '%s' --slices 1 --size 32 "
                     "--studies 1 --seed 99 >/dev/null",
                     ms_test_shared(), sd) == 0);
    snprintf(dirs, sizeof dirs, "'%s'", sd);
    CHECK(stow_body(dirs, body, "PB") == 0);
    CHECK_EQ_INT(stow_post(&e, e.clin.text, body, "/v1/studies", 0, &o), 200);
    j = json_loads(o, 0, NULL);
    free(o);
    const char *mixed[2] = {urls[0] + 12, json_string_value(json_object_get(j, "id"))};
    CHECK(mixed[1] != NULL);
    CHECK_EQ_INT(chat_studies(&e, e.clin.text, mixed, 2, &ans), 400);
    CHECK(strstr(ans, "same patient") != NULL);
    free(ans);
    json_decref(j);
    free(uid1);
    free(cli);
    p_stop(&e);
    return 0;
}

/* Streaming ingest: a 6.3 MB STOW-RS body (12 CT slices of 512x512 and the SR) through a server
 * whose max_body is 1 MiB and whose allocator ceiling (mem_limit) is 11 MiB. Held whole, the body
 * (grown to 8 MiB) plus the stored copies (6.3 MB) would pass the ceiling (507 / A700); parsed as
 * it arrives, memory is the stored instances plus the part being parsed. */
TEST(test_gw_pacs_stow_streams_body_larger_than_max_body)
{
    struct penv e;
    char sd[700], body[700], dirs[800], *o = NULL;
    if (ms_test_shared() == NULL)
        SKIP("../shared not available");
    if (!gw__have("dicom"))
        SKIP("dicom module not in this build");
    CHECK(p_setup(&e) == 0);
    e.cfg.max_body = 1 << 20;
    e.cfg.mem_limit = (size_t)11 << 20;
    e.cfg.study_max_bytes = (size_t)64 << 20;
    CHECK(p_start(&e) == 0);
    snprintf(sd, sizeof sd, "%s/big", e.dir);
    CHECK(ms_test_sh(NULL,
                     "/usr/bin/python3 '%s/tools/make_study.py' '%s' --slices 12 --size 512 "
                     "--studies 1 --seed 5 >/dev/null",
                     ms_test_shared(), sd) == 0);
    snprintf(body, sizeof body, "%s/stow.bin", e.dir);
    snprintf(dirs, sizeof dirs, "'%s'", sd);
    CHECK(stow_body(dirs, body, "PB") == 0);
    CHECK(ms_test_sh(&o, "stat -c %%s '%s'", body) == 0);
    long len = atol(o);
    free(o);
    CHECK(len > 6 * 1000 * 1000);
    CHECK_EQ_INT(stow_post(&e, e.clin.text, body, "/v1/studies", 0, &o), 200);
    json_t *j = json_loads(o, 0, NULL);
    free(o);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "instances")), 13);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "failed")), 0);
    json_decref(j);
    /* over study_max_bytes (declared): 413 before the body is read */
    p_stop(&e);
    e.cfg.study_max_bytes = (size_t)4 << 20;
    CHECK(p_start(&e) == 0);
    CHECK_EQ_INT(stow_post(&e, e.clin.text, body, "/v1/studies", 0, NULL), 413);
    p_stop(&e);
    return 0;
}

/*
 * The gateway's DICOM side (serve --dicom-listen): the DIMSE SCP of src/dimse wired to the server.
 * A calling AE title is accepted only when dicom_peers lists it (with the host it may come from)
 * and the API key it acts as authenticates now (revoked or expired keys refuse the association);
 * each received instance goes through the same checks as a STOW-RS part and joins the in-memory
 * study store under the peer's key, grouped by StudyInstanceUID (ingest(), the one place that
 * calls the store). Every association event and every refused instance is logged
 * on stderr and audited, with counts and reasons, never a value. Also the results push hook
 * (C-STORE SCU to dicom_results_to).
 * Trusts: the peers file is the operator's (still parsed with bounds, refused when readable by
 * others: it holds API keys). Nothing from the network. Owns: the SCP and the peer table.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "medseal/dimse.h"

#define MAX_PEERS 1024

struct peer {
    char ae[DM_AE_LEN + 1];
    int any_host;
    struct in_addr ip;
    char key[GW_KEY_TEXT_MAX];
};

struct gw_dimse {
    struct gw_server *s;
    dm_scp *scp;
    struct peer *peers;
    size_t n_peers;
};

/* One association of a known peer. */
struct assoc {
    struct gw_dimse *d;
    gw_key_info key;
    char id[40];
    size_t n, bytes; /* instances stored */
    size_t refused;
    uint64_t t0;
};

/* ---- the peers file ------------------------------------------------------------------------- */

static ms_rc load_peers(struct gw_dimse *d, const char *path, ms_err *err)
{
    struct stat st;
    if (path == NULL)
        return ms_fail(err, MS_E_INVAL, "dicom_listen needs dicom_peers (calling AE titles)");
    if (stat(path, &st) != 0)
        return ms_fail(err, MS_E_IO, "dicom_peers: cannot read the file");
    if (st.st_mode & 077)
        return ms_fail(err, MS_E_VERIFY,
                       "dicom_peers: the file holds API keys: make it mode 0600 (chmod 600)");
    ms_buf b;
    ms_buf_init(&b, NULL, 1u << 20);
    if (ms_file_read(path, NULL, 1u << 20, &b, err) != MS_OK)
        return err->code;
    d->peers = ms_calloc(NULL, MAX_PEERS, sizeof *d->peers);
    if (d->peers == NULL) {
        ms_buf_free(&b);
        return ms_fail(err, MS_E_NOMEM, "dicom_peers: out of memory");
    }
    ms_rc rc = MS_OK;
    unsigned line = 0;
    char *save = NULL;
    for (char *l = strtok_r((char *)b.p, "\n", &save); l != NULL && rc == MS_OK;
         l = strtok_r(NULL, "\n", &save)) {
        line++;
        char *h = strchr(l, '#');
        if (h != NULL)
            *h = '\0';
        char *s2 = NULL, *ae = strtok_r(l, " \t\r", &s2), *host = strtok_r(NULL, " \t\r", &s2),
             *key = strtok_r(NULL, " \t\r", &s2), *extra = strtok_r(NULL, " \t\r", &s2);
        if (ae == NULL)
            continue;
        if (host == NULL || key == NULL || extra != NULL) {
            rc = ms_fail(err, MS_E_FORMAT, "dicom_peers line %u: expected AE HOST KEY", line);
            break;
        }
        if (d->n_peers == MAX_PEERS) {
            rc = ms_fail(err, MS_E_LIMIT, "dicom_peers: more than %d peers", MAX_PEERS);
            break;
        }
        struct peer *p = &d->peers[d->n_peers];
        if (strlen(ae) > DM_AE_LEN || strlen(key) >= sizeof p->key) {
            rc = ms_fail(err, MS_E_FORMAT, "dicom_peers line %u: AE title over 16 characters "
                                           "or key too long", line);
            break;
        }
        if (strcmp(host, "*") == 0)
            p->any_host = 1;
        else if (inet_pton(AF_INET, host, &p->ip) != 1) {
            rc = ms_fail(err, MS_E_FORMAT, "dicom_peers line %u: HOST must be an IPv4 address "
                                           "or *", line);
            break;
        }
        memcpy(p->ae, ae, strlen(ae) + 1);
        memcpy(p->key, key, strlen(key) + 1);
        d->n_peers++;
    }
    ms_buf_free(&b);
    return rc;
}

/* ---- log and audit -------------------------------------------------------------------------- */

/* "association accepted" -> "association_accepted" (the audit log's token alphabet). */
static void tokenise(const char *in, char *out, size_t n)
{
    size_t i = 0;
    for (; in[i] && i + 1 < n; i++)
        out[i] = in[i] == ' ' ? '_' : in[i] == '-' ? '_' : in[i];
    out[i] = '\0';
}

static void audit_ev(struct gw_server *s, const struct assoc *a, const char *action,
                     const char *outcome, int status, uint64_t bytes)
{
    struct gw_audit_ev ev = {
        .request_id = a ? a->id : NULL,
        .key_id = a ? a->key.id : NULL,
        .role = a ? gw_role_name(a->key.role) : NULL,
        .action = action,
        .route = "dicom",
        .outcome = outcome,
        .status = status,
        .bytes_in = bytes,
        .t_total_us = a ? gw__now_us() - a->t0 : 0,
        .evidence_hash = gw__attest_hash_hex(s->att),
    };
    gw__audit_append(s->audit, &ev);
}

static void on_log(void *ud, void *conn_ud, const char *event, const char *detail)
{
    struct gw_dimse *d = ud;
    struct assoc *a = conn_ud;
    char tok[64];
    fprintf(stderr, "medseal serve: dicom %s%s%s%s%s\n", event, detail && *detail ? ": " : "",
            detail ? detail : "", a ? " key " : "", a ? a->key.id : "");
    tokenise(event, tok, sizeof tok);
    if (strcmp(event, "c-echo") == 0)
        return; /* a probe: counted in the association's record */
    if (strcmp(event, "instance refused") == 0 && a != NULL)
        a->refused++;
    audit_ev(d->s, a, "dicom.association", tok, 0, 0);
}

/* ---- SCP callbacks -------------------------------------------------------------------------- */

static int on_assoc(void *ud, const char *calling, const char *peer_ip, void **conn_ud)
{
    struct gw_dimse *d = ud;
    struct in_addr ip;
    int have_ip = inet_pton(AF_INET, peer_ip, &ip) == 1;
    const struct peer *p = NULL;
    for (size_t i = 0; i < d->n_peers && p == NULL; i++)
        if (strcmp(d->peers[i].ae, calling) == 0 &&
            (d->peers[i].any_host || (have_ip && d->peers[i].ip.s_addr == ip.s_addr)))
            p = &d->peers[i];
    if (p == NULL)
        return 3; /* calling AE title not recognized (logged and audited by the session) */
    struct assoc *a = ms_calloc(NULL, 1, sizeof *a);
    if (a == NULL)
        return 2;
    a->d = d;
    a->t0 = gw__now_us();
    gw__random_id(a->id, "dicom-", 6);
    ms_err err = {0};
    if (gw_keystore_auth(d->s->ks, p->key, strlen(p->key), (int64_t)time(NULL), &a->key, NULL,
                         &err) != MS_OK ||
        (a->key.role != GW_ROLE_CLINICIAN && a->key.role != GW_ROLE_RESEARCHER)) {
        fprintf(stderr, "medseal serve: dicom association refused: the peer's API key is not "
                        "valid now or its role may not store studies\n");
        audit_ev(d->s, NULL, "dicom.association", "peer_key_refused", 0, 0);
        ms_free(NULL, a);
        return 3;
    }
    *conn_ud = a;
    return 0;
}

/* The one place received instances enter the study store: gw__store_instance (studies.c) parses
 * the instance with the STOW-RS checks, copies it and files it under its StudyInstanceUID for
 * the owner. OUT: *status, the C-STORE status to answer. */
static ms_rc ingest(struct gw_server *s, const char *owner, const dm_instance *in,
                    uint16_t *status, ms_err *err)
{
    unsigned reason = 0;
    ms_rc rc = gw__store_instance(s, owner, in->part10, in->len, NULL, &reason, err);
    *status = rc == MS_OK ? 0x0000 : (uint16_t)(reason ? reason : 0xA700);
    return rc;
}

static uint16_t on_store(void *ud, void *conn_ud, const dm_instance *in)
{
    struct gw_dimse *d = ud;
    struct assoc *a = conn_ud;
    struct gw_server *s = d->s;
    ms_err err = {0};
    uint16_t st = 0xA700;
    if (a == NULL)
        return st;
    if (ingest(s, a->key.id, in, &st, &err) != MS_OK) {
        fprintf(stderr, "medseal serve: dicom instance refused (status %04x): %s key %s\n", st,
                err.msg, a->key.id);
        a->refused++;
        audit_ev(s, a, "dicom.store",
                 st == 0xC000   ? "rejected"
                 : st == 0xA900 ? "other_patient"
                                : "out_of_resources",
                 st, in->len);
        return st;
    }
    a->n++;
    a->bytes += in->len;
    return st;
}

static void on_end(void *ud, void *conn_ud, int released)
{
    struct gw_dimse *d = ud;
    struct assoc *a = conn_ud;
    if (a == NULL)
        return;
    fprintf(stderr, "medseal serve: dicom association %s: %zu instances stored, %zu refused key %s\n",
            released ? "released" : "aborted", a->n, a->refused, a->key.id);
    audit_ev(d->s, a, "dicom.ingest", released ? "released" : "aborted", (int)a->n, a->bytes);
    ms_free(NULL, a);
}

/* ---- start / stop / push -------------------------------------------------------------------- */

ms_rc gw__dimse_start(struct gw_server *s, ms_err *err)
{
    const gw_config *c = &s->cfg;
    struct gw_dimse *d = ms_calloc(NULL, 1, sizeof *d);
    if (d == NULL)
        return ms_fail(err, MS_E_NOMEM, "dicom: out of memory");
    d->s = s;
    s->dimse = d;
    if (c->dicom_ae_title == NULL || strlen(c->dicom_ae_title) == 0 ||
        strlen(c->dicom_ae_title) > DM_AE_LEN)
        return ms_fail(err, MS_E_INVAL, "dicom_ae_title: 1-16 characters");
    if (load_peers(d, c->dicom_peers, err) != MS_OK)
        return err->code;
    if (c->dicom_max_pdu != 0 && (c->dicom_max_pdu < DM_PDU_MIN || c->dicom_max_pdu > DM_PDU_LIMIT))
        return ms_fail(err, MS_E_INVAL, "dicom_max_pdu: %u..%u", DM_PDU_MIN, DM_PDU_LIMIT);
    dm_scp_cfg sc = {
        .ae_title = c->dicom_ae_title,
        .max_pdu = c->dicom_max_pdu,
        .max_object = c->max_body,
        .alloc = &s->alloc,
        .on_assoc = on_assoc,
        .on_store = on_store,
        .on_end = on_end,
        .on_log = on_log,
        .ud = d,
    };
    dm_scp_net net = {
        .listen = c->dicom_listen,
        .cert_path = c->dicom_tls ? c->cert_path : NULL,
        .key_path = c->dicom_tls ? c->key_path : NULL,
        .ca_path = c->dicom_tls ? c->dicom_tls_ca : NULL,
        .artim_s = c->dicom_artim_s,
        .idle_s = c->dicom_idle_s,
        .max_assocs = c->max_conns,
    };
    return dm_scp_start(&sc, &net, &d->scp, err);
}

void gw__dimse_stop(struct gw_server *s, unsigned grace_s)
{
    struct gw_dimse *d = s->dimse;
    if (d == NULL)
        return;
    dm_scp_stop(d->scp, grace_s);
    d->scp = NULL;
    ms_free(NULL, d->peers);
    ms_free(NULL, d);
    s->dimse = NULL;
}

uint16_t gw__dimse_port(const struct gw_server *s)
{
    return s->dimse && s->dimse->scp ? dm_scp_port(s->dimse->scp) : 0;
}

uint16_t gw_server_dicom_port(const gw_server *s)
{
    return gw__dimse_port(s);
}

ms_rc gw__dimse_push(struct gw_server *s, const char *key_id, const ms_slice *files, size_t n,
                     ms_err *err)
{
    char ae[DM_AE_LEN + 1], host[256];
    uint16_t port;
    if (s->cfg.dicom_results_to == NULL)
        return ms_fail(err, MS_E_INVAL, "dicom_results_to is not set");
    if (dm_parse_target(s->cfg.dicom_results_to, ae, host, sizeof host, &port, err) != MS_OK)
        return err->code;
    dm_scu_opts o = {.calling_ae = s->cfg.dicom_ae_title ? s->cfg.dicom_ae_title : "MEDSEAL",
                     .called_ae = ae,
                     .host = host,
                     .port = port,
                     .timeout_s = 30};
    uint64_t t0 = gw__now_us(), bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += files[i].len;
    ms_rc rc = dm_scu_store(&o, files, n, NULL, err);
    struct gw_audit_ev ev = {.key_id = key_id,
                             .action = "dicom.push",
                             .route = "dicom",
                             .outcome = rc == MS_OK ? "ok" : "failed",
                             .status = (int)n,
                             .bytes_out = bytes,
                             .t_total_us = gw__now_us() - t0,
                             .evidence_hash = gw__attest_hash_hex(s->att)};
    gw__audit_append(s->audit, &ev);
    if (rc != MS_OK)
        fprintf(stderr, "medseal serve: dicom results push failed: %s\n", err ? err->msg : "");
    return rc;
}

/*
 * Gateway internals shared by the src/gateway sources: the server and per-request state, metrics,
 * the study store, rate limiting, the upstream client and the seams to the modules the gateway
 * composes (phi, analyst, dicom, audit, attest). Not a public API.
 * Trusts/owns: see each .c file.
 */
#ifndef MEDSEAL_GATEWAY_INTERNAL_H
#define MEDSEAL_GATEWAY_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "medseal/gateway.h"

/* ---- jansson memory: every JSON value is ms_malloc memory, wiped on free ----------------------
 */
void gw__json_init(void);
/* on: JSON values come from region m (allocator a) while its server runs; off: no longer. */
struct ms_secmem;
void gw__json_region(struct ms_secmem *m, ms_alloc *a, int on);
void gw__json_free(void *p); /* for json_dumps() results */

/* ---- time ----------------------------------------------------------------------------------- */
uint64_t gw__now_us(void); /* CLOCK_MONOTONIC */
/* out = prefix (plen bytes) + 24 lower-case hex digits of 12 random bytes + NUL (same text as
 * 12 snprintf("%02x") calls, without them). */
void gw__random_id(char *out, const char *prefix, size_t plen);
/* Appends s as the inside of a JSON string, byte for byte what jansson's JSON_COMPACT dump
 * writes; MS_E_FORMAT (nothing useful appended) when s is not valid UTF-8. For long texts: it
 * copies runs instead of decoding every character twice (json_stringn, then the dump). */
ms_rc gw__json_str_append(ms_buf *b, const uint8_t *s, size_t n, ms_err *err);

/* ---- metrics (Prometheus text) ----------------------------------------------------------------
 */
enum gw_route {
    GW_R_HEALTHZ = 0,
    GW_R_METRICS,
    GW_R_MODELS,
    GW_R_CHAT,
    GW_R_STUDIES,
    GW_R_STUDY,
    GW_R_ATTESTATION,
    GW_R_AUDIT,
    GW_R_ADMIN_KEYS,
    GW_R_ADMIN_KEY,
    GW_R_OTHER,
    GW_R_COUNT
};
extern const char *const gw__route_names[GW_R_COUNT];

#define GW_STATUS_SLOTS 19 /* the statuses the server sends (metrics.c) + "other" */
#define GW_ROLE_SLOTS   5
#define GW_HIST_BUCKETS 15
#define GW_PHI_SLOTS    32
enum gw_upstream_err {
    GW_UE_CONNECT = 0,
    GW_UE_TIMEOUT,
    GW_UE_STATUS,
    GW_UE_PROTOCOL,
    GW_UE_COUNT
};

struct gw_metrics {
    atomic_ulong req[GW_R_COUNT][GW_STATUS_SLOTS][GW_ROLE_SLOTS];
    atomic_ulong hist[GW_R_COUNT][GW_HIST_BUCKETS + 1];
    atomic_ulong hist_sum_us[GW_R_COUNT];
    atomic_ulong phi[GW_PHI_SLOTS];
    atomic_ulong upstream_err[GW_UE_COUNT];
    atomic_ulong rate_limited;
    atomic_long in_flight;
    atomic_ulong studies_live;
    atomic_ulong audit_failures; /* copied from the audit seam when rendered */
    atomic_ulong audit_healthy;
};
void gw__metrics_request(struct gw_metrics *m, enum gw_route r, int status, gw_role role,
                         uint64_t us);
void gw__metrics_phi(struct gw_metrics *m, const size_t *counts, size_t n);
ms_rc gw__metrics_render(struct gw_metrics *m, ms_buf *out, const char *attestation, ms_err *err);

/* ---- per-key rate limiting (token bucket) --------------------------------------------------- */
struct gw_ratelimit;
ms_rc gw__rl_new(struct gw_ratelimit **out, ms_err *err);
void gw__rl_free(struct gw_ratelimit *rl);
/* 0 when allowed; else the seconds to wait before retrying. */
unsigned gw__rl_take(struct gw_ratelimit *rl, const char *key_id, unsigned rpm, uint64_t now_us);

/* ---- study store (uploaded DICOM, memory only, bounded lifetime) -----------------------------
 * Instances are grouped per owner (API key id) by StudyInstanceUID: one handle per study. */
struct gw_studies;
struct gw_study_file {
    uint8_t *p; /* ms_malloc memory from the store's allocator, wiped on free */
    size_t len;
};
/* The attributes of one instance the store groups, orders and searches by (gw__dicom_meta).
 * PHI: held only in the store's memory; never logged. */
#define GW_UID_MAX 65
struct gw_dicom_meta {
    char study[GW_UID_MAX], series[GW_UID_MAX], sop_class[GW_UID_MAX], sop_instance[GW_UID_MAX];
    char patient_id[68], issuer[68], patient_name[200], birth_date[20], sex[20];
    char study_date[20], study_time[20], accession[20], study_id[20], study_desc[68];
    char referring[200], modality[20], series_number[16], series_desc[68], instance_number[16];
};
/* One study while a caller holds it (gw__studies_use): borrowed, valid during the callback. */
struct gw_study_view {
    const char *id;  /* handle "study_<32 hex>" */
    const char *uid; /* StudyInstanceUID */
    const struct gw_study_file *files;
    const struct gw_dicom_meta *meta; /* one per file */
    size_t n;
    uint64_t last_us; /* gw__now_us() of its last added instance */
};
typedef ms_rc (*gw_studies_fn)(void *ud, const struct gw_study_view *v, size_t nv, ms_err *err);
ms_rc gw__studies_new(ms_alloc *alloc, size_t max_bytes, struct gw_studies **out, ms_err *err);
void gw__studies_free(struct gw_studies *st);
/* Adds one instance (takes ownership of p, from the store's allocator, even on failure) to the
 * study of `owner` that m->study names, creating it (a new handle) when it is the first. The same
 * SOP Instance UID again replaces the earlier copy. Renews the study's expiry (ttl_s). OUT: id.
 * Errors: MS_E_EXISTS (the study holds another patient), MS_E_LIMIT (max_bytes or the study
 * table full), MS_E_NOMEM. */
ms_rc gw__studies_add(struct gw_studies *st, const char *owner, uint8_t *p, size_t len,
                      const struct gw_dicom_meta *m, uint64_t ttl_s, char id[40], ms_err *err);
/* Calls fn with the studies named by ids[0..nids) (each a handle or a StudyInstanceUID; one named
 * twice is given once), or with every live study of `owner` when ids is NULL, while holding them
 * (they cannot change or be wiped meanwhile). MS_E_NOTFOUND when one is unknown, expired or
 * another key's. */
ms_rc gw__studies_use(struct gw_studies *st, const char *owner, const char *const *ids,
                      size_t nids, gw_studies_fn fn, void *ud, ms_err *err);
/* Deletes a study by handle or StudyInstanceUID. */
ms_rc gw__studies_delete(struct gw_studies *st, const char *id, const char *owner, ms_err *err);
/* Wipes expired studies; returns how many are live. */
size_t gw__studies_sweep(struct gw_studies *st);
/* The patient a study's instance belongs to, for "same patient" checks: PatientID and its
 * issuer, or (without a PatientID) name and birth date. */
int gw__same_patient(const struct gw_dicom_meta *a, const struct gw_dicom_meta *b);

/* Adds one DICOM Part 10 instance (bytes copied; the caller keeps p) to the studies of API key
 * `owner`, grouped by StudyInstanceUID (gw__studies_add). For STOW-RS and the DIMSE C-STORE SCP.
 * OUT: handle (may be NULL), reason: the failure status to answer (0xC000 not DICOM or without
 * its UIDs, 0xA900 the study holds another patient, 0xA700 out of resources; 0 on success; may
 * be NULL). Errors: MS_E_FORMAT, MS_E_EXISTS, MS_E_LIMIT, MS_E_NOMEM. Thread-safe, logs nothing,
 * messages carry no values. */
struct gw_server;
ms_rc gw__store_instance(struct gw_server *s, const char *owner, const uint8_t *p, size_t n,
                         char handle[40], unsigned *reason, ms_err *err);

/* ---- seams to the composed modules ---------------------------------------------------------- */
/* 1 when the module's implementation was linked into this build ("phi", "analyst", "dicom",
 * "audit", "attest"). */
int gw__have(const char *module);

struct gw_scrub; /* a per-request surrogate scrubber (phi_ctx in surrogate mode) */
/* site: the server's phi site lists (gw__site_open) or NULL, borrowed. */
ms_rc gw__scrub_new(const uint8_t *site_key, const void *site, ms_alloc *alloc,
                    struct gw_scrub **out, ms_err *err);
/* Loads the site lists of folder `dir` once (read-only, shared by every request). */
ms_rc gw__site_open(const char *dir, void **out, ms_err *err);
void gw__site_close(void *site);
void gw__scrub_free(struct gw_scrub *s);
/* Appends text with PHI replaced by surrogates; adds per-class counts. Fail closed. */
ms_rc gw__scrub_text(struct gw_scrub *s, const char *text, size_t len, ms_buf *out, ms_err *err);
void gw__scrub_counts(const struct gw_scrub *s, size_t counts[GW_PHI_SLOTS], size_t *n);
const char *gw__phi_class_name(size_t cls);
ms_rc gw__reid_text(struct gw_scrub *s, const char *text, size_t len, ms_buf *out, ms_err *err);
struct gw_reid;
ms_rc gw__reid_new(struct gw_scrub *s, struct gw_reid **out, ms_err *err);
ms_rc gw__reid_feed(struct gw_reid *r, const char *p, size_t n, ms_buf *out, ms_err *err);
ms_rc gw__reid_flush(struct gw_reid *r, ms_buf *out, ms_err *err);
void gw__reid_free(struct gw_reid *r);

/* The analyst: text + DICOM files (raw bytes) → report text or JSON text, appended to out. */
struct gw_analyst_in {
    ms_alloc *alloc;
    const char *text;
    size_t text_len;
    const struct gw_study_file *files;
    size_t n_files;
    int phi;  /* 1: the caller may see identifying values (clinician) */
    int json; /* 1: the JSON report */
    size_t max_inflated;        /* deflated DICOM: config max_inflated (0: the codec's default) */
    unsigned max_inflate_ratio; /* config max_inflate_ratio (0: the codec's default) */
    /* earlier studies of the same patient (an_add_prior each), any order; files above are the
     * current study */
    const struct gw_analyst_prior *priors;
    size_t n_priors;
};
#define GW_MAX_CHAT_STUDIES 64 /* studies one chat request may name (the analyst's AN_MAX_STUDIES) */
struct gw_analyst_prior {
    const struct gw_study_file *files;
    size_t n;
};
ms_rc gw__analyst_run(const struct gw_analyst_in *in, ms_buf *out, ms_err *err);
/* The attributes of one instance (gw_dicom_meta; STOW-RS responses, grouping by study, QIDO-RS).
 * MS_E_FORMAT when the bytes do not parse or lack SOP class, SOP instance or study UID (m is then
 * partly set). */
ms_rc gw__dicom_meta(const uint8_t *p, size_t n, ms_alloc *alloc, const gw_config *cfg,
                     struct gw_dicom_meta *m, ms_err *err);

/* The PROXY protocol v2 listener (proxyproto.c), with proxy_protocol_from only. */
#define GW_PP_NETS_MAX 16
struct gw_pp_net {
    uint32_t addr, mask; /* host order */
};
struct sockaddr;
struct sockaddr_storage;
struct MHD_Daemon;
struct gw_pp;
/* "10.0.0.5/32, 10.0.1.0/24": IPv4 CIDRs (a bare address is /32). */
ms_rc gw__pp_nets_parse(const char *spec, struct gw_pp_net *v, size_t *n, ms_err *err);
int gw__pp_trusted(const struct gw_pp_net *v, size_t n, const struct sockaddr *peer);
/* Reads one v2 header from fd, exactly its bytes; *src = the client it names (the peer itself
 * for LOCAL or another family). */
ms_rc gw__pp_read(int fd, unsigned timeout_ms, const struct sockaddr *peer, unsigned peer_len,
                  struct sockaddr_storage *src, unsigned *src_len, ms_err *err);
/* Accepts on lfd (listening, owned from now on) and hands connections to d. */
ms_rc gw__pp_start(struct MHD_Daemon *d, int lfd, const struct gw_pp_net *nets, size_t n,
                   struct gw_pp **out, ms_err *err);
void gw__pp_stats(struct gw_pp *p, unsigned long *passed, unsigned long *refused);
void gw__pp_stop(struct gw_pp *p); /* before MHD_stop_daemon */

/* The audit tree-head publisher (heads.c): NULL unless the key store is PostgreSQL. */
struct gw_heads;
struct audit_head;
ms_rc gw__heads_start(gw_keystore *ks, const char *replica, struct gw_heads **out, ms_err *err);
void gw__heads_push(void *ud, const struct audit_head *h); /* an audit_head_fn; never blocks */
void gw__heads_stats(struct gw_heads *p, uint64_t *published, uint64_t *dropped,
                     uint64_t *failures);
void gw__heads_stop(struct gw_heads *p); /* drains for up to 2 s */

struct gw_audit;
/* sync: GW_AUDIT_* (gateway.h), mapped to the audit log's AUDIT_SYNC_WRITE, _EACH or _BATCH.
 * master: the master key, or NULL for the default (STATE/master.key, created on first use).
 * heads: where every signed tree head goes once durable (NULL: sth.latest only). */
ms_rc gw__audit_open(const char *state_dir, int sync, const uint8_t *master, const char *replica,
                     const char *witness, struct gw_heads *heads,
                     struct gw_audit **out, ms_err *err);
void gw__audit_close(struct gw_audit *a);
struct gw_audit_ev {
    const char *request_id, *key_id, *role, *action, *route, *model, *outcome;
    int status;
    uint64_t bytes_in, bytes_out, t_total_us, t_upstream_us;
    const size_t *phi; /* GW_PHI_SLOTS counts or NULL */
    const char *evidence_hash;
};
/* MS_OK when the record is in the log (per audit_sync). On failure the answer must not go out
 * (the caller answers 503); the seam counts it, reports unhealthy, and retries opening the log
 * (at most once a second) on later appends, so the server recovers with the disk. */
ms_rc gw__audit_append(struct gw_audit *a, const struct gw_audit_ev *ev);
int gw__audit_healthy(struct gw_audit *a);            /* 0 after a failed append, until one works */
unsigned long gw__audit_failures(struct gw_audit *a); /* failed appends since start */
/* Exports records as JSON lines to out (auditor role). */
ms_rc gw__audit_export(struct gw_audit *a, uint64_t from, uint64_t max, ms_buf *out, ms_err *err);

struct gw_attest;
/* insecure: allow the "none" provider. Refuses (MS_E_VERIFY) when no hardware evidence and not
 * insecure. */
ms_rc gw__attest_open(int insecure, const char *cert_path, struct gw_attest **out, ms_err *err);
void gw__attest_close(struct gw_attest *a);
const char *gw__attest_label(const struct gw_attest *a); /* provider kind or "UNATTESTED" */
const char *gw__attest_hash_hex(const struct gw_attest *a);
ms_rc gw__attest_evidence(struct gw_attest *a, const uint8_t *nonce, size_t n, ms_buf *out,
                          ms_err *err);

/* ---- upstream client ------------------------------------------------------------------------ */
struct gw_upstream; /* shared: a pool of libcurl handles */
ms_rc gw__upstream_new(const char *base_url, const char *key_file, unsigned timeout_s,
                       struct gw_upstream **out, ms_err *err);
void gw__upstream_free(struct gw_upstream *u);

/* ---- DIMSE (src/gateway/dimse.c over src/dimse) -------------------------------------------- */
struct gw_server;
struct gw_dimse;
/* Starts the C-ECHO/C-STORE SCP on cfg.dicom_listen (peers from cfg.dicom_peers). */
ms_rc gw__dimse_start(struct gw_server *s, ms_err *err);
void gw__dimse_stop(struct gw_server *s, unsigned grace_s);
uint16_t gw__dimse_port(const struct gw_server *s);
/* The results push hook: sends Part 10 files (the analyst's SR) with C-STORE to
 * cfg.dicom_results_to, calling AE cfg.dicom_ae_title. Audited (action dicom.push). MS_E_INVAL
 * when dicom_results_to is not set. Blocking (timeout 30 s); call it off the request path. */
ms_rc gw__dimse_push(struct gw_server *s, const char *key_id, const ms_slice *files, size_t n,
                     ms_err *err);

/* ---- the server and one request ---------------------------------------------------------------
 */
struct MHD_Connection;
struct MHD_Response;

struct gw_server {
    gw_config cfg;
    struct MHD_Daemon *d;
    uint16_t port;
    ms_buf cert, key; /* PEM, the key wiped at stop */
    gw_keystore *ks;
    char replica[64]; /* replica_id: --replica-id or the host name (token alphabet) */
    void *secmem;   /* ms_secmem *, the locked region behind `alloc` (NULL: heap) */
    ms_alloc alloc; /* request bodies, studies, answers */
    struct gw_metrics metrics;
    struct gw_ratelimit *rl;
    struct gw_studies *studies;
    struct gw_audit *audit;
    struct gw_heads *heads; /* tree heads to PostgreSQL, or NULL */
    struct gw_pp *pp;       /* proxy_protocol_from: our own listener, or NULL */
    struct gw_attest *att;
    struct gw_upstream *up;
    struct gw_dimse *dimse; /* the DICOM SCP (dicom_listen), NULL when off */
    uint8_t site_key[MS_KEY_LEN];
    int have_site_key;
    void *site; /* phi site lists (site_lists = DIR), read-only; NULL none */
    uint8_t name_key[MS_KEY_LEN]; /* random per process: keys the hash of an unlisted model name */
    pthread_t sweeper;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
    atomic_long active;
    atomic_int draining; /* gw_server_stop waits for active == 0: on_done must signal cv */
};

enum gw_method { GW_M_GET = 0, GW_M_POST, GW_M_DELETE, GW_M_OTHER };

struct gw_req {
    struct gw_server *s;
    int started;
    enum gw_route route;
    enum gw_method method;
    char path_id[72];
    uint64_t t0;
    ms_buf body;
    int too_big, no_mem, timed_out;
    gw_key_info key;
    int authed;
    int status;
    uint64_t bytes_out;
    char request_id[40];
    size_t phi[GW_PHI_SLOTS];
    char model[64]; /* token alphabet, for audit */
    uint64_t t_upstream_us;
    const char *action;
    const char *outcome;
    void *stow;          /* STOW-RS: the incremental multipart parse (api.c), fed as it arrives */
    uint64_t stow_bytes; /* body bytes fed to it (not held in `body`) */
    int audited; /* its audit record is written (gw__req_audit): on_done adds none */
    ms_rc audit_rc; /* what that append returned */
};

/* A response under construction: status, content type and an owned body (s->alloc). */
struct gw_resp {
    int status;
    const char *content_type;
    ms_buf body;
    unsigned retry_after;        /* 429: seconds */
    struct MHD_Response *stream; /* set instead of body for streamed answers */
};

void gw__resp_init(struct gw_req *q, struct gw_resp *r);
/* OpenAI error shape {"error":{"message","type","param","code"}}; param/code may be NULL. */
void gw__resp_error(struct gw_req *q, struct gw_resp *r, int status, const char *type,
                    const char *code, const char *param, const char *message);
/* Maps an ms_rc from a module to an HTTP error response. */
void gw__resp_rc(struct gw_req *q, struct gw_resp *r, ms_rc rc, const ms_err *err,
                 const char *param);
/* Serialises j into r->body (status 200 unless set). */
void gw__resp_json(struct gw_req *q, struct gw_resp *r, json_t *j);

/* Route handlers (api.c, chat.c, admin.c) */
void gw__h_healthz(struct gw_req *q, struct gw_resp *r);
void gw__h_metrics(struct gw_req *q, struct gw_resp *r);
void gw__h_models(struct gw_req *q, struct gw_resp *r);
void gw__h_attestation(struct gw_req *q, struct MHD_Connection *c, struct gw_resp *r);
void gw__h_audit(struct gw_req *q, struct MHD_Connection *c, struct gw_resp *r);
void gw__h_studies_post(struct gw_req *q, struct MHD_Connection *c, struct gw_resp *r);
/* STOW-RS streaming: begin (after authentication) sets q->stow; feed parses each body piece as it
 * arrives, storing every complete part at once; free releases what is left (on_done). */
void gw__stow_begin(struct gw_req *q, struct MHD_Connection *c);
void gw__stow_feed(struct gw_req *q, const uint8_t *p, size_t n);
void gw__stow_free(struct gw_req *q);
void gw__h_study_delete(struct gw_req *q, struct gw_resp *r);
void gw__h_chat(struct gw_req *q, struct gw_resp *r);
/* 1 when m is the analyst's model or one of the configured upstream_models. */
int gw__model_listed(const gw_config *c, const char *m);
void gw__h_admin(struct gw_req *q, struct gw_resp *r);

/* Appends the request's audit record, once (later calls do nothing; /healthz and /metrics have
 * none). It returns when the record is in the log file (audit_sync = write, the default), on
 * disk (fsync) or queued (batch). Called before an answer is
 * handed to libmicrohttpd (send_resp), before a stream's last event (upstream.c), and by on_done
 * for a request that ended without either. t_total_us runs to this call. */
ms_rc gw__req_audit(struct gw_req *q); /* the append's result (MS_OK when already audited) */

/* The chat request schema (schema.c). fn rewrites one text (the scrubber, or the re-identifier
 * for answers) and fails closed. gw__schema_request rewrites `req` in place by the rule of each
 * field; an unknown field is refused (MS_E_FORMAT) or, with drop_unknown, removed. On failure
 * param names the field (never a value or an unknown field's name); MS_E_FORMAT and
 * MS_E_UNSUPPORTED are the client's (400), others the server's. gw__schema_answer passes every
 * string of each choices[].message but its role through fn. */
typedef ms_rc (*gw_text_fn)(void *ud, const char *s, size_t n, ms_buf *out, ms_err *err);
ms_rc gw__schema_request(json_t *req, int drop_unknown, gw_text_fn fn, void *ud, ms_alloc *a,
                         json_t **names, char param[64], ms_err *err);
/* names: the map from gw__schema_request (function name -> "fn_<n>"), mapped back in tool calls;
 * fn NULL: no re-identification (researchers), names still mapped back. */
ms_rc gw__schema_answer(json_t *ans, gw_text_fn fn, void *ud, const json_t *names, ms_alloc *a,
                        ms_err *err);
/* fn["name"] mapped back from "fn_<n>" to the client's name (streamed tool-call fragments). */
void gw__schema_unname(const json_t *names, json_t *fn);

/* Upstream pass-through (upstream.c): scrubs `root` (a validated chat request) in place, forwards
 * it and fills r with the (re-identified for clinicians) answer or a streamed response. */
void gw__upstream_chat(struct gw_req *q, json_t *root, const gw_chat_info *ci, struct gw_resp *r);

#endif

/*
 * Seams between the gateway and the modules it composes: phi (surrogate scrubbing and streaming
 * re-identification), dicom + analyst (the embedded model), audit (one record per request) and
 * attest (evidence bound to the TLS key). module.cmake defines GW_HAVE_<MODULE> to 1 when the
 * module's implementation is in the tree; while one is missing, its seam fails closed with
 * MS_E_UNSUPPORTED (the API answers 503), never with an invented result. Two exceptions, both
 * honest: without audit the server runs without an audit log (said at startup), and without the
 * attest module `--insecure-no-attestation` serves a plain UNATTESTED statement.
 * Trusts: the modules' contracts. Owns: the per-request scrubber/re-identifier wrappers.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "internal.h"

#if GW_HAVE_PHI
#include "medseal/phi.h"
#endif
#if GW_HAVE_DICOM
#include "medseal/dicom.h"
#endif
#if GW_HAVE_ANALYST
#include "medseal/analyst.h"
#endif
#if GW_HAVE_AUDIT
#include "medseal/audit.h"
#endif
#if GW_HAVE_ATTEST
#include "medseal/attest.h"
#endif

int gw__have(const char *m)
{
    if (strcmp(m, "phi") == 0)
        return GW_HAVE_PHI;
    if (strcmp(m, "dicom") == 0)
        return GW_HAVE_DICOM;
    if (strcmp(m, "analyst") == 0)
        return GW_HAVE_ANALYST && GW_HAVE_DICOM;
    if (strcmp(m, "audit") == 0)
        return GW_HAVE_AUDIT;
    if (strcmp(m, "attest") == 0)
        return GW_HAVE_ATTEST;
    return 0;
}

static ms_rc missing(ms_err *err, const char *m)
{
    return ms_fail(err, MS_E_UNSUPPORTED, "%s module not available in this build", m);
}

/* ---- phi ------------------------------------------------------------------------------------ */

#if GW_HAVE_PHI
struct gw_scrub {
    phi_ctx *ctx;
    ms_alloc *alloc;
};
struct gw_reid {
    phi_reid *r;
};

ms_rc gw__site_open(const char *dir, void **out, ms_err *err)
{
    phi_sitelists *sl = NULL;
    ms_rc rc = phi_sitelists_load(dir, NULL, &sl, err);
    *out = sl;
    return rc;
}

void gw__site_close(void *site)
{
    phi_sitelists_free(site);
}

ms_rc gw__scrub_new(const uint8_t *site_key, const void *site, ms_alloc *alloc,
                    struct gw_scrub **out, ms_err *err)
{
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.mode = PHI_MODE_SURROGATE;
    o.key = site_key;
    o.site = site;
    o.alloc = alloc;
    struct gw_scrub *s = ms_malloc(alloc, sizeof *s);
    if (s == NULL)
        return ms_fail(err, MS_E_NOMEM, "scrubber: out of memory");
    s->alloc = alloc;
    if (phi_ctx_new(&o, &s->ctx, err) != MS_OK) {
        ms_free(alloc, s);
        return err ? err->code : MS_E_INTERNAL;
    }
    *out = s;
    return MS_OK;
}

void gw__scrub_free(struct gw_scrub *s)
{
    if (s == NULL)
        return;
    phi_ctx_free(s->ctx);
    ms_free(s->alloc, s);
}

ms_rc gw__scrub_text(struct gw_scrub *s, const char *text, size_t len, ms_buf *out, ms_err *err)
{
    return phi_scrub(s->ctx, text, len, out, NULL, NULL, err);
}

void gw__scrub_counts(const struct gw_scrub *s, size_t counts[GW_PHI_SLOTS], size_t *n)
{
    size_t c[PHI_CLASS_COUNT];
    phi_ctx_counts(s->ctx, c);
    *n = PHI_CLASS_COUNT < GW_PHI_SLOTS ? PHI_CLASS_COUNT : GW_PHI_SLOTS;
    for (size_t i = 0; i < *n; i++)
        counts[i] = c[i];
}

const char *gw__phi_class_name(size_t cls)
{
    return phi_class_name((phi_class)cls);
}

ms_rc gw__reid_text(struct gw_scrub *s, const char *text, size_t len, ms_buf *out, ms_err *err)
{
    return phi_reidentify(s->ctx, text, len, out, err);
}

ms_rc gw__reid_new(struct gw_scrub *s, struct gw_reid **out, ms_err *err)
{
    struct gw_reid *r = ms_malloc(NULL, sizeof *r);
    if (r == NULL)
        return ms_fail(err, MS_E_NOMEM, "re-identifier: out of memory");
    if (phi_reid_new(s->ctx, &r->r, err) != MS_OK) {
        ms_free(NULL, r);
        return err ? err->code : MS_E_INTERNAL;
    }
    *out = r;
    return MS_OK;
}

ms_rc gw__reid_feed(struct gw_reid *r, const char *p, size_t n, ms_buf *out, ms_err *err)
{
    return phi_reid_feed(r->r, p, n, out, err);
}

ms_rc gw__reid_flush(struct gw_reid *r, ms_buf *out, ms_err *err)
{
    return phi_reid_flush(r->r, out, err);
}

void gw__reid_free(struct gw_reid *r)
{
    if (r == NULL)
        return;
    phi_reid_free(r->r);
    ms_free(NULL, r);
}
#else
ms_rc gw__scrub_new(const uint8_t *site_key, const void *site, ms_alloc *alloc,
                    struct gw_scrub **out, ms_err *err)
{
    (void)site_key, (void)site, (void)alloc, (void)out;
    return missing(err, "phi");
}
ms_rc gw__site_open(const char *dir, void **out, ms_err *err)
{
    (void)dir;
    *out = NULL;
    return missing(err, "phi");
}
void gw__site_close(void *site)
{
    (void)site;
}
void gw__scrub_free(struct gw_scrub *s)
{
    (void)s;
}
ms_rc gw__scrub_text(struct gw_scrub *s, const char *text, size_t len, ms_buf *out, ms_err *err)
{
    (void)s, (void)text, (void)len;
    ms_buf_reset(out);
    return missing(err, "phi");
}
void gw__scrub_counts(const struct gw_scrub *s, size_t counts[GW_PHI_SLOTS], size_t *n)
{
    (void)s, (void)counts;
    *n = 0;
}
const char *gw__phi_class_name(size_t cls)
{
    (void)cls;
    return "?";
}
ms_rc gw__reid_text(struct gw_scrub *s, const char *text, size_t len, ms_buf *out, ms_err *err)
{
    (void)s, (void)text, (void)len, (void)out;
    return missing(err, "phi");
}
ms_rc gw__reid_new(struct gw_scrub *s, struct gw_reid **out, ms_err *err)
{
    (void)s, (void)out;
    return missing(err, "phi");
}
ms_rc gw__reid_feed(struct gw_reid *r, const char *p, size_t n, ms_buf *out, ms_err *err)
{
    (void)r, (void)p, (void)n, (void)out;
    return missing(err, "phi");
}
ms_rc gw__reid_flush(struct gw_reid *r, ms_buf *out, ms_err *err)
{
    (void)r, (void)out;
    return missing(err, "phi");
}
void gw__reid_free(struct gw_reid *r)
{
    (void)r;
}
#endif

/* ---- dicom + analyst ------------------------------------------------------------------------ */

#if GW_HAVE_DICOM
/* The element's text (empty when absent, unreadable or longer than cap - 1 for UIDs; other
 * values are cut at cap - 1 bytes, on a UTF-8 boundary). */
static void text_of(dcm_dataset *ds, uint32_t tag, char *out, size_t cap, int whole)
{
    ms_buf b;
    out[0] = '\0';
    ms_buf_init(&b, NULL, 0);
    if (dcm_dataset_text(ds, tag, &b, NULL) == MS_OK && b.len > 0 && (!whole || b.len < cap)) {
        size_t n = b.len < cap ? b.len : cap - 1;
        while (n > 0 && n < b.len && (b.p[n] & 0xc0) == 0x80)
            n--;
        memcpy(out, b.p, n);
        out[n] = '\0';
    }
    ms_buf_free(&b);
}

ms_rc gw__dicom_meta(const uint8_t *p, size_t n, ms_alloc *alloc, const gw_config *cfg,
                     struct gw_dicom_meta *m, ms_err *err)
{
    dcm_read_opts o;
    dcm_file *f = NULL;
    memset(&o, 0, sizeof o);
    memset(m, 0, sizeof *m);
    o.alloc = alloc;
    o.max_inflated = cfg->max_inflated;
    o.max_inflate_ratio = cfg->max_inflate_ratio;
    o.stop_before_pixels = 1;
    if (dcm_file_read_mem(p, n, &o, &f, err) != MS_OK)
        return err ? err->code : MS_E_FORMAT;
    dcm_dataset *ds = dcm_file_dataset(f);
#define T(g, e, field, whole) text_of(ds, DCM_TAG(g, e), m->field, sizeof m->field, whole)
    T(0x0020, 0x000D, study, 1);
    T(0x0020, 0x000E, series, 1);
    T(0x0008, 0x0016, sop_class, 1);
    T(0x0008, 0x0018, sop_instance, 1);
    T(0x0010, 0x0020, patient_id, 0);
    T(0x0010, 0x0021, issuer, 0);
    T(0x0010, 0x0010, patient_name, 0);
    T(0x0010, 0x0030, birth_date, 0);
    T(0x0010, 0x0040, sex, 0);
    T(0x0008, 0x0020, study_date, 0);
    T(0x0008, 0x0030, study_time, 0);
    T(0x0008, 0x0050, accession, 0);
    T(0x0020, 0x0010, study_id, 0);
    T(0x0008, 0x1030, study_desc, 0);
    T(0x0008, 0x0090, referring, 0);
    T(0x0008, 0x0060, modality, 0);
    T(0x0020, 0x0011, series_number, 0);
    T(0x0008, 0x103E, series_desc, 0);
    T(0x0020, 0x0013, instance_number, 0);
#undef T
    dcm_file_free(f);
    if (m->sop_class[0] == '\0' || m->sop_instance[0] == '\0' || m->study[0] == '\0')
        return ms_fail(err, MS_E_FORMAT,
                       "instance lacks (0008,0016), (0008,0018) or (0020,000D)");
    return MS_OK;
}
#else
ms_rc gw__dicom_meta(const uint8_t *p, size_t n, ms_alloc *alloc, const gw_config *cfg,
                     struct gw_dicom_meta *m, ms_err *err)
{
    (void)p, (void)n, (void)alloc, (void)cfg;
    memset(m, 0, sizeof *m);
    return missing(err, "dicom");
}
#endif

#if GW_HAVE_ANALYST && GW_HAVE_DICOM
static ms_rc analyst_files(an_report *r, const struct gw_analyst_in *in, ms_err *err)
{
    dcm_file **files = NULL;
    dcm_read_opts o;
    size_t got = 0;
    ms_rc rc = MS_OK;
    if (in->n_files == 0)
        return MS_OK;
    memset(&o, 0, sizeof o);
    o.alloc = in->alloc;
    o.max_inflated = in->max_inflated;
    o.max_inflate_ratio = in->max_inflate_ratio;
    files = ms_calloc(in->alloc, in->n_files, sizeof *files);
    if (files == NULL)
        return ms_fail(err, MS_E_NOMEM, "analyst: out of memory");
    for (; got < in->n_files && rc == MS_OK; got++)
        rc = dcm_file_read_mem(in->files[got].p, in->files[got].len, &o, &files[got], err);
    if (rc == MS_OK)
        rc = an_add_study(r, files, in->n_files, err);
    for (size_t i = 0; i < in->n_files; i++)
        dcm_file_free(files[i]);
    ms_free(in->alloc, files);
    return rc;
}

/* One prior study: its files read one study at a time (the current study's are freed by then). */
static ms_rc analyst_prior(an_report *r, const struct gw_analyst_in *in,
                           const struct gw_analyst_prior *pr, ms_err *err)
{
    dcm_read_opts o;
    ms_rc rc = MS_OK;
    memset(&o, 0, sizeof o);
    o.alloc = in->alloc;
    o.max_inflated = in->max_inflated;
    o.max_inflate_ratio = in->max_inflate_ratio;
    dcm_file **files = ms_calloc(in->alloc, pr->n ? pr->n : 1, sizeof *files);
    if (files == NULL)
        return ms_fail(err, MS_E_NOMEM, "analyst: out of memory");
    for (size_t i = 0; i < pr->n && rc == MS_OK; i++)
        rc = dcm_file_read_mem(pr->files[i].p, pr->files[i].len, &o, &files[i], err);
    if (rc == MS_OK)
        rc = an_add_prior(r, files, pr->n, NULL, 0, NULL, err);
    for (size_t i = 0; i < pr->n; i++)
        dcm_file_free(files[i]);
    ms_free(in->alloc, files);
    return rc;
}

static int analyst_dump(const char *p, size_t n, void *ud)
{
    return ms_buf_append(ud, p, n, NULL) == MS_OK ? 0 : -1;
}

ms_rc gw__analyst_run(const struct gw_analyst_in *in, ms_buf *out, ms_err *err)
{
    an_opts o;
    an_report *r = NULL;
    json_t *j = NULL;
    memset(&o, 0, sizeof o);
    o.alloc = in->alloc;
    o.phi = in->phi;
    ms_rc rc = an_report_new(&o, &r, err);
    if (rc == MS_OK && in->text_len > 0)
        rc = an_add_text(r, in->text, in->text_len, "user", err);
    if (rc == MS_OK)
        rc = analyst_files(r, in, err);
    for (size_t i = 0; rc == MS_OK && i < in->n_priors; i++)
        rc = analyst_prior(r, in, &in->priors[i], err);
    if (rc == MS_OK)
        rc = an_run(r, err);
    if (rc == MS_OK && in->json) {
        rc = an_report_json(r, &j, err);
        /* straight into `out`: no intermediate string grown by doubling */
        if (rc == MS_OK && json_dump_callback(j, analyst_dump, out, JSON_COMPACT) != 0)
            rc = ms_fail(err, MS_E_NOMEM, "analyst: cannot serialise report");
        json_decref(j);
    } else if (rc == MS_OK) {
        rc = an_report_text(r, out, err);
    }
    an_report_free(r);
    return rc;
}
#else
ms_rc gw__analyst_run(const struct gw_analyst_in *in, ms_buf *out, ms_err *err)
{
    (void)in, (void)out;
    return missing(err, "analyst");
}
#endif

/* ---- audit ---------------------------------------------------------------------------------- */

#if GW_HAVE_AUDIT
/* The log handle refuses every append once a write failed (audit/log.c fails closed). The seam
 * recovers: while failed, at most once a second an append closes the handle and opens the log
 * again (the open's torn-tail scan drops a half-written record), so the server serves again once
 * the disk has room. Appends hold the lock shared; the reopen holds it exclusively. */
struct gw_audit {
    pthread_rwlock_t lk;
    audit_log *log;
    char replica[64];
    char *dir;
    uint8_t mk[MS_KEY_LEN];
    audit_opts o;
    atomic_int failed;
    atomic_ulong failures;
    atomic_ullong retry_at_us;
};

ms_rc gw__audit_open(const char *state_dir, int sync, const uint8_t *master, const char *replica,
                     const char *witness, struct gw_heads *heads,
                     struct gw_audit **out, ms_err *err)
{
    struct gw_audit *a = ms_calloc(NULL, 1, sizeof *a);
    if (a == NULL)
        return ms_fail(err, MS_E_NOMEM, "audit: out of memory");
    ms_rc rc = MS_OK;
    if (master != NULL)
        memcpy(a->mk, master, MS_KEY_LEN);
    else
        rc = audit_master_key(state_dir, NULL, a->mk, err);
    a->dir = strdup(state_dir);
    if (rc == MS_OK && a->dir == NULL)
        rc = ms_fail(err, MS_E_NOMEM, "audit: out of memory");
    if (rc == MS_OK) {
        memset(&a->o, 0, sizeof a->o);
        snprintf(a->replica, sizeof a->replica, "%s", replica != NULL ? replica : "");
        a->o.siem_hostname = a->replica[0] ? a->replica : NULL; /* the SIEM's HOSTNAME field */
        a->o.sync = sync == GW_AUDIT_FSYNC   ? AUDIT_SYNC_EACH
                    : sync == GW_AUDIT_BATCH ? AUDIT_SYNC_BATCH
                                             : AUDIT_SYNC_WRITE;
        a->o.witness_path = witness; /* the server's config: lives as long as the server */
        a->o.head_fn = heads != NULL ? gw__heads_push : NULL;
        a->o.head_ud = heads;
        rc = audit_log_open(state_dir, a->mk, &a->o, &a->log, err);
    }
    if (rc != MS_OK) {
        ms_memzero(a->mk, sizeof a->mk);
        free(a->dir);
        ms_free(NULL, a);
        return rc;
    }
    pthread_rwlock_init(&a->lk, NULL);
    *out = a;
    return MS_OK;
}

void gw__audit_close(struct gw_audit *a)
{
    if (a == NULL)
        return;
    audit_log_close(a->log, NULL);
    pthread_rwlock_destroy(&a->lk);
    ms_memzero(a->mk, sizeof a->mk);
    free(a->dir);
    ms_free(NULL, a);
}

int gw__audit_healthy(struct gw_audit *a)
{
    return a != NULL && !atomic_load(&a->failed);
}

unsigned long gw__audit_failures(struct gw_audit *a)
{
    return a == NULL ? 0 : atomic_load(&a->failures);
}

/* Failed: reopen the log, at most once a second (exclusive lock). */
static void audit_reopen(struct gw_audit *a)
{
    uint64_t now = gw__now_us();
    unsigned long long at = atomic_load(&a->retry_at_us); /* the atomic's own type (clang) */
    if (now < at || !atomic_compare_exchange_strong(&a->retry_at_us, &at, now + 1000000u))
        return;
    pthread_rwlock_wrlock(&a->lk);
    if (atomic_load(&a->failed)) {
        audit_log *nl = NULL;
        audit_log_close(a->log, NULL);
        a->log = NULL;
        if (audit_log_open(a->dir, a->mk, &a->o, &nl, NULL) == MS_OK)
            a->log = nl;
    }
    pthread_rwlock_unlock(&a->lk);
}

ms_rc gw__audit_append(struct gw_audit *a, const struct gw_audit_ev *ev)
{
    audit_phi_count pc[AUDIT_PHI_CLASSES_MAX];
    audit_record r;
    size_t n = 0;
    if (a == NULL)
        return MS_OK; /* a build without the audit module (said at startup) */
    memset(&r, 0, sizeof r);
    for (size_t i = 0; ev->phi != NULL && i < GW_PHI_SLOTS && n < AUDIT_PHI_CLASSES_MAX; i++) {
        if (ev->phi[i] > 0)
            pc[n++] = (audit_phi_count){gw__phi_class_name(i), ev->phi[i]};
    }
    r.request_id = ev->request_id;
    r.key_id = ev->key_id;
    r.role = ev->role;
    r.action = ev->action;
    r.route = ev->route;
    r.model = ev->model;
    r.outcome = ev->outcome;
    r.status = ev->status;
    r.bytes_in = ev->bytes_in;
    r.bytes_out = ev->bytes_out;
    r.phi = n ? pc : NULL;
    r.n_phi = n;
    r.t_total_us = ev->t_total_us;
    r.t_upstream_us = ev->t_upstream_us;
    r.evidence_hash = ev->evidence_hash;
    r.replica_id = a->replica[0] ? a->replica : NULL;
    if (atomic_load(&a->failed))
        audit_reopen(a);
    pthread_rwlock_rdlock(&a->lk);
    ms_rc rc = a->log == NULL ? MS_E_IO : audit_log_append(a->log, &r, NULL, NULL);
    if (rc == MS_E_FORMAT && r.model != NULL) {
        r.model = "invalid"; /* a model name outside the token alphabet */
        rc = audit_log_append(a->log, &r, NULL, NULL);
    }
    pthread_rwlock_unlock(&a->lk);
    if (rc != MS_OK) {
        atomic_fetch_add(&a->failures, 1);
        if (rc != MS_E_FORMAT && rc != MS_E_INVAL) /* the log, not this record */
            atomic_store(&a->failed, 1);
    } else if (atomic_load(&a->failed)) {
        atomic_store(&a->failed, 0);
    }
    return rc;
}

static int export_line(void *ud, const char *line, size_t len)
{
    ms_buf *out = ud;
    return ms_buf_append(out, line, len, NULL) != MS_OK || ms_buf_append_byte(out, '\n', NULL);
}

ms_rc gw__audit_export(struct gw_audit *a, uint64_t from, uint64_t max, ms_buf *out, ms_err *err)
{
    if (a == NULL)
        return missing(err, "audit");
    pthread_rwlock_rdlock(&a->lk);
    ms_rc rc = a->log == NULL ? ms_fail(err, MS_E_IO, "audit log unavailable")
                              : audit_log_export(a->log, from, max, export_line, out, err);
    pthread_rwlock_unlock(&a->lk);
    return rc;
}
#else
ms_rc gw__audit_open(const char *state_dir, int sync, const uint8_t *master, const char *replica,
                     const char *witness, struct gw_heads *heads, struct gw_audit **out,
                     ms_err *err)
{
    (void)state_dir, (void)sync, (void)master, (void)replica, (void)witness, (void)heads;
    *out = NULL;
    return missing(err, "audit");
}
void gw__audit_close(struct gw_audit *a)
{
    (void)a;
}
ms_rc gw__audit_append(struct gw_audit *a, const struct gw_audit_ev *ev)
{
    (void)a, (void)ev;
    return MS_OK;
}
int gw__audit_healthy(struct gw_audit *a)
{
    (void)a;
    return 0;
}
unsigned long gw__audit_failures(struct gw_audit *a)
{
    (void)a;
    return 0;
}
ms_rc gw__audit_export(struct gw_audit *a, uint64_t from, uint64_t max, ms_buf *out, ms_err *err)
{
    (void)a, (void)from, (void)max, (void)out;
    return missing(err, "audit");
}
#endif

/* ---- attest --------------------------------------------------------------------------------- */

struct gw_attest {
    void *prov;
    int attested;
    uint8_t spki[32];
    char label[32];
    char hash_hex[65];
};

static ms_rc hex32(const uint8_t in[32], char out[65])
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15u];
    }
    out[64] = '\0';
    return MS_OK;
}

#if GW_HAVE_ATTEST
static ms_rc attest_init(struct gw_attest *a, int insecure, const ms_buf *cert, ms_err *err)
{
    att_provider *p = NULL;
    uint8_t h[32];
    if (att_spki_sha256_cert(cert->p, cert->len, a->spki, err) != MS_OK)
        return err ? err->code : MS_E_FORMAT;
    ms_rc rc = att_provider_open(insecure ? "none" : "auto", &p, err);
    if (rc != MS_OK)
        return ms_fail(err, MS_E_VERIFY,
                       "no attestation evidence available (use --insecure-no-attestation for "
                       "development)");
    a->prov = p;
    a->attested = att_provider_attested(p);
    snprintf(a->label, sizeof a->label, "%s", a->attested ? att_provider_kind(p) : "UNATTESTED");
    if (att_evidence_hash(p, a->spki, h, err) != MS_OK)
        return err ? err->code : MS_E_VERIFY;
    return hex32(h, a->hash_hex);
}

static void attest_fini(struct gw_attest *a)
{
    att_provider_free(a->prov);
}

ms_rc gw__attest_evidence(struct gw_attest *a, const uint8_t *nonce, size_t n, ms_buf *out,
                          ms_err *err)
{
    json_t *j = NULL;
    if (att_evidence_json(a->prov, nonce, n, a->spki, &j, err) != MS_OK)
        return err ? err->code : MS_E_INTERNAL;
    char *txt = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (txt == NULL)
        return ms_fail(err, MS_E_NOMEM, "attestation: cannot serialise");
    ms_rc rc = ms_buf_append_str(out, txt, err);
    gw__json_free(txt);
    return rc;
}
#else
static ms_rc spki_sha256(const ms_buf *cert, uint8_t out[32], ms_err *err)
{
    BIO *b = BIO_new_mem_buf(cert->p, (int)cert->len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int n = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : -1;
    unsigned int olen = 0;
    int ok = n > 0 && EVP_Digest(der, (size_t)n, out, &olen, EVP_sha256(), NULL) == 1;
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(b);
    return ok ? MS_OK : ms_fail(err, MS_E_FORMAT, "certificate: cannot read the public key");
}

static ms_rc attest_init(struct gw_attest *a, int insecure, const ms_buf *cert, ms_err *err)
{
    if (!insecure)
        return ms_fail(err, MS_E_VERIFY,
                       "no attestation provider in this build (use --insecure-no-attestation for "
                       "development)");
    snprintf(a->label, sizeof a->label, "UNATTESTED");
    uint8_t h[32];
    unsigned int olen = 0;
    EVP_Digest("UNATTESTED", 10, h, &olen, EVP_sha256(), NULL);
    hex32(h, a->hash_hex);
    return spki_sha256(cert, a->spki, err);
}

static void attest_fini(struct gw_attest *a)
{
    (void)a;
}

ms_rc gw__attest_evidence(struct gw_attest *a, const uint8_t *nonce, size_t n, ms_buf *out,
                          ms_err *err)
{
    char spki[65];
    hex32(a->spki, spki);
    ms_rc rc = ms_buf_append_str(out,
                                 "{\"format\":\"medseal-evidence/1\",\"provider\":\"none\","
                                 "\"attested\":false,\"status\":\"UNATTESTED\",\"nonce\":\"",
                                 err);
    if (rc == MS_OK)
        rc = ms_hex_encode(nonce, n, out, err);
    if (rc == MS_OK)
        rc = ms_buf_printf(out, err, "\",\"tls_pubkey_sha256\":\"%s\"}", spki);
    return rc;
}
#endif

ms_rc gw__attest_open(int insecure, const char *cert_path, struct gw_attest **out, ms_err *err)
{
    ms_buf cert;
    struct gw_attest *a = ms_malloc(NULL, sizeof *a);
    if (a == NULL)
        return ms_fail(err, MS_E_NOMEM, "attestation: out of memory");
    ms_buf_init(&cert, NULL, 0);
    ms_rc rc = ms_file_read(cert_path, NULL, 1u << 20, &cert, err);
    if (rc == MS_OK)
        rc = attest_init(a, insecure, &cert, err);
    ms_buf_free(&cert);
    if (rc != MS_OK) {
        gw__attest_close(a);
        return rc;
    }
    *out = a;
    return MS_OK;
}

void gw__attest_close(struct gw_attest *a)
{
    if (a == NULL)
        return;
    attest_fini(a);
    ms_free(NULL, a);
}

const char *gw__attest_label(const struct gw_attest *a)
{
    return a->label;
}

const char *gw__attest_hash_hex(const struct gw_attest *a)
{
    return a->hash_hex;
}

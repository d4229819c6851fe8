/*
 * Evidence providers (server side): Intel TDX and AMD SEV-SNP through Linux configfs-tsm
 * (Documentation/ABI/testing/configfs-tsm-report: mkdir an entry, write inblob, read outblob,
 * with the generation check against a concurrent writer), the older /dev/tdx_guest
 * (TDX_CMD_GET_REPORT0: a TDREPORT, only locally verifiable) and /dev/sev-guest (SNP_GET_REPORT)
 * ioctls when configfs-tsm is absent, and "none" for development (UNATTESTED). Builds the
 * evidence JSON served at /v1/attestation and the evidence hash for audit records.
 *
 * Trusts: the kernel interfaces it opens; the client's nonce is only hashed.
 * Owns: the att_provider and the cached evidence hash.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sev-guest.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* linux/tdx-guest.h (not in every libc's kernel headers) */
struct att_tdx_report_req {
    uint8_t reportdata[64];
    uint8_t tdreport[1024];
};
#define ATT_TDX_CMD_GET_REPORT0 _IOWR('T', 1, struct att_tdx_report_req)

#define TSM_OUTBLOB_MAX (64u * 1024u)
#define TSM_AUXBLOB_MAX (64u * 1024u)

enum prov_kind { PROV_NONE, PROV_TDX, PROV_SNP };
enum prov_mech { MECH_NONE, MECH_TSM, MECH_TDX_DEV, MECH_SEV_DEV };

struct att_provider {
    enum prov_kind kind;
    enum prov_mech mech;
    char tsm_dir[256];
    char tdx_dev[128];
    char sev_dev[128];
    int gpu;
    json_t *collateral; /* optional, handed out with the evidence */
    int have_hash;
    uint8_t hash[32];
    uint8_t hash_key[32]; /* the TLS key hash the cached hash was made for */
};

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Reads a small attribute file into buf (NUL-terminated, trailing newline removed). */
static int read_attr(const char *dir, const char *name, char *buf, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t got = read(fd, buf, n - 1);
    close(fd);
    if (got < 0)
        return 0;
    buf[got] = 0;
    while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == ' '))
        buf[--got] = 0;
    return 1;
}

/* configfs-tsm names the provider in a read-only "provider" attribute of an entry; the kind is
 * decided on first use, so at open time the host's TEE is inferred from the guest devices. */
static enum prov_kind host_kind(const att_provider *p)
{
    if (exists(p->tdx_dev))
        return PROV_TDX;
    if (exists(p->sev_dev))
        return PROV_SNP;
    if (exists("/sys/firmware/tdx") || exists("/sys/firmware/tdx_seam"))
        return PROV_TDX;
    return PROV_NONE;
}

static void cfg_paths(att_provider *p, const att_provider_cfg *cfg)
{
    snprintf(p->tsm_dir, sizeof p->tsm_dir, "%s",
             cfg->tsm_dir ? cfg->tsm_dir : "/sys/kernel/config/tsm/report");
    snprintf(p->tdx_dev, sizeof p->tdx_dev, "%s", cfg->tdx_dev ? cfg->tdx_dev : "/dev/tdx_guest");
    snprintf(p->sev_dev, sizeof p->sev_dev, "%s", cfg->sev_dev ? cfg->sev_dev : "/dev/sev-guest");
    p->gpu = cfg->gpu;
}

static ms_rc pick(att_provider *p, const char *kind, ms_err *err)
{
    if (strcmp(kind, "none") == 0) {
        p->kind = PROV_NONE;
        p->mech = MECH_NONE;
        return MS_OK;
    }
    enum prov_kind want = strcmp(kind, "tdx") == 0       ? PROV_TDX
                          : strcmp(kind, "sev-snp") == 0 ? PROV_SNP
                          : strcmp(kind, "auto") == 0    ? host_kind(p)
                                                         : (enum prov_kind) - 1;
    if (want == (enum prov_kind) - 1)
        return ms_fail(err, MS_E_INVAL, "attestation provider must be auto, tdx, sev-snp or none");
    if (want == PROV_NONE)
        return ms_fail(err, MS_E_NOTFOUND,
                       "no TEE found (no %s, %s or %s): not a TDX or SEV-SNP guest", p->tsm_dir,
                       p->tdx_dev, p->sev_dev);
    p->kind = want;
    if (is_dir(p->tsm_dir))
        p->mech = MECH_TSM;
    else if (want == PROV_TDX && exists(p->tdx_dev))
        p->mech = MECH_TDX_DEV;
    else if (want == PROV_SNP && exists(p->sev_dev))
        p->mech = MECH_SEV_DEV;
    else
        return ms_fail(err, MS_E_NOTFOUND, "%s evidence unavailable: neither %s nor %s exists",
                       want == PROV_TDX ? "TDX" : "SEV-SNP", p->tsm_dir,
                       want == PROV_TDX ? p->tdx_dev : p->sev_dev);
    return MS_OK;
}

ms_rc att_provider_open_cfg(const att_provider_cfg *cfg, att_provider **out, ms_err *err)
{
    if (cfg == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "att_provider_open: bad arguments");
    att_provider *p = ms_malloc(NULL, sizeof *p);
    if (p == NULL)
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    cfg_paths(p, cfg);
    ms_rc rc = pick(p, cfg->kind ? cfg->kind : "auto", err);
    if (rc == MS_OK && cfg->collateral_path != NULL) {
        json_error_t je;
        p->collateral = json_load_file(cfg->collateral_path, 0, &je);
        if (!json_is_object(p->collateral))
            rc = ms_fail(err, MS_E_FORMAT, "collateral file: JSON error at line %d", je.line);
    }
    if (rc != MS_OK) {
        att_provider_free(p);
        return rc;
    }
    *out = p;
    return MS_OK;
}

ms_rc att_provider_open(const char *kind, att_provider **out, ms_err *err)
{
    att_provider_cfg cfg = {0};
    cfg.kind = kind;
    cfg.gpu = 1;
    return att_provider_open_cfg(&cfg, out, err);
}

void att_provider_free(att_provider *p)
{
    if (p == NULL)
        return;
    json_decref(p->collateral);
    ms_free(NULL, p);
}

const char *att_provider_kind(const att_provider *p)
{
    if (p == NULL)
        return "none";
    return p->kind == PROV_TDX ? "tdx" : p->kind == PROV_SNP ? "sev-snp" : "none";
}

int att_provider_attested(const att_provider *p)
{
    return p != NULL && p->kind != PROV_NONE;
}

const char *att_provider_mechanism(const att_provider *p)
{
    static const char *const names[] = {"none", "configfs-tsm", "/dev/tdx_guest", "/dev/sev-guest"};
    return p != NULL ? names[p->mech] : "none";
}

ms_rc att_reportdata(const uint8_t *nonce, size_t nonce_len, const uint8_t tls_pubkey_sha256[32],
                     uint8_t out[ATT_REPORTDATA_LEN], ms_err *err)
{
    uint8_t buf[ATT_NONCE_MAX + 32];
    if (nonce_len > ATT_NONCE_MAX || (nonce == NULL && nonce_len > 0) || tls_pubkey_sha256 == NULL)
        return ms_fail(err, MS_E_INVAL, "nonce of %zu bytes (at most %d)", nonce_len,
                       ATT_NONCE_MAX);
    if (nonce_len > 0)
        memcpy(buf, nonce, nonce_len);
    memcpy(buf + nonce_len, tls_pubkey_sha256, 32);
    att__sha512(buf, nonce_len + 32, out);
    return MS_OK;
}

/* ---- configfs-tsm ---------------------------------------------------------------------------- */

static ms_rc write_file(const char *dir, const char *name, const uint8_t *p, size_t n, ms_err *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return ms_fail(err, MS_E_IO, "configfs-tsm %s: %s", name, strerror(errno));
    ssize_t w = write(fd, p, n);
    int e = errno;
    close(fd);
    if (w < 0 || (size_t)w != n)
        return ms_fail(err, MS_E_IO, "configfs-tsm write %s: %s", name,
                       w < 0 ? strerror(e) : "short write");
    return MS_OK;
}

static ms_rc read_blob(const char *dir, const char *name, size_t max, ms_buf *out, ms_err *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return ms_file_read(path, NULL, max, out, err);
}

void (*att__tsm_gen_hook)(const char *entry, int step);

static int read_gen(const char *dir, int step, unsigned long *g)
{
    char b[32];
    char *end;
    int ok = read_attr(dir, "generation", b, sizeof b);
    if (att__tsm_gen_hook != NULL)
        att__tsm_gen_hook(dir, step);
    if (!ok)
        return 0;
    *g = strtoul(b, &end, 10);
    return end != b && *end == 0;
}

/* One report: inblob, then outblob; the generation after writing must be exactly one more than
 * before and unchanged after reading, else another writer raced us (ABI doc: "generation"). */
ms_rc att__tsm_once(const char *entry, const uint8_t rd[64], ms_buf *out, ms_buf *aux, ms_err *err)
{
    unsigned long g0 = 0, g1 = 0, g2 = 0;
    if (!read_gen(entry, 0, &g0))
        return ms_fail(err, MS_E_IO, "configfs-tsm: generation unreadable");
    ms_rc rc = write_file(entry, "inblob", rd, 64, err);
    if (rc != MS_OK)
        return rc;
    if (!read_gen(entry, 1, &g1))
        return ms_fail(err, MS_E_IO, "configfs-tsm: generation unreadable");
    rc = read_blob(entry, "outblob", TSM_OUTBLOB_MAX, out, err);
    if (rc == MS_OK && aux != NULL)
        read_blob(entry, "auxblob", TSM_AUXBLOB_MAX, aux, NULL); /* optional (SNP certs) */
    if (rc != MS_OK)
        return rc;
    if (!read_gen(entry, 2, &g2) || g1 != g0 + 1 || g2 != g1)
        return ms_fail(err, MS_E_VERIFY,
                       "configfs-tsm: generation %lu -> %lu -> %lu: a concurrent writer changed "
                       "the request",
                       g0, g1, g2);
    return MS_OK;
}

static ms_rc tsm_report(att_provider *p, const uint8_t rd[64], ms_buf *out, ms_buf *aux,
                        ms_err *err)
{
    uint8_t rnd[8];
    char entry[400], prov[32];
    ms_rc rc = ms_random(rnd, sizeof rnd, err);
    if (rc != MS_OK)
        return rc;
    snprintf(entry, sizeof entry, "%s/medseal-%02x%02x%02x%02x%02x%02x%02x%02x", p->tsm_dir, rnd[0],
             rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    if (mkdir(entry, 0700) != 0)
        return ms_fail(err, MS_E_IO, "configfs-tsm mkdir: %s", strerror(errno));
    if (read_attr(entry, "provider", prov, sizeof prov)) {
        int tdx = strcmp(prov, "tdx_guest") == 0, snp = strcmp(prov, "sev_guest") == 0;
        if ((p->kind == PROV_TDX && !tdx) || (p->kind == PROV_SNP && !snp))
            rc = ms_fail(err, MS_E_VERIFY, "configfs-tsm provider is %s, not the expected TEE",
                         tdx   ? "tdx_guest"
                         : snp ? "sev_guest"
                               : "unknown");
    }
    for (int attempt = 0; rc == MS_OK && attempt < 3; attempt++) {
        ms_buf_reset(out);
        ms_err e = {0};
        rc = att__tsm_once(entry, rd, out, aux, &e);
        if (rc == MS_E_VERIFY && attempt < 2) {
            rc = MS_OK; /* raced: retry */
            continue;
        }
        if (rc != MS_OK)
            ms_fail(err, rc, "%s", e.msg);
        break;
    }
    rmdir(entry);
    return rc;
}

/* ---- legacy ioctls --------------------------------------------------------------------------- */

static ms_rc tdx_dev_report(att_provider *p, const uint8_t rd[64], ms_buf *out, ms_err *err)
{
    struct att_tdx_report_req req;
    memset(&req, 0, sizeof req);
    memcpy(req.reportdata, rd, 64);
    int fd = open(p->tdx_dev, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return ms_fail(err, MS_E_IO, "%s: %s", p->tdx_dev, strerror(errno));
    int r = ioctl(fd, ATT_TDX_CMD_GET_REPORT0, &req);
    int e = errno;
    close(fd);
    if (r != 0)
        return ms_fail(err, MS_E_IO, "TDX_CMD_GET_REPORT0: %s", strerror(e));
    /* a TDREPORT is MAC'd for this platform only: the quote needs the QGS (configfs-tsm) */
    return ms_buf_append(out, req.tdreport, sizeof req.tdreport, err);
}

static ms_rc sev_dev_report(att_provider *p, const uint8_t rd[64], ms_buf *out, ms_err *err)
{
    struct snp_report_req req;
    struct snp_report_resp resp;
    struct snp_guest_request_ioctl io;
    memset(&req, 0, sizeof req);
    memset(&resp, 0, sizeof resp);
    memset(&io, 0, sizeof io);
    memcpy(req.user_data, rd, 64);
    io.msg_version = 1;
    io.req_data = (uint64_t)(uintptr_t)&req;
    io.resp_data = (uint64_t)(uintptr_t)&resp;
    int fd = open(p->sev_dev, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return ms_fail(err, MS_E_IO, "%s: %s", p->sev_dev, strerror(errno));
    int r = ioctl(fd, SNP_GET_REPORT, &io);
    int e = errno;
    close(fd);
    if (r != 0)
        return ms_fail(err, MS_E_IO, "SNP_GET_REPORT: %s (fw 0x%x)", strerror(e),
                       (unsigned)io.exitinfo2);
    /* MSG_REPORT_RSP: status u32, report_size u32, reserved[24], report */
    uint32_t status = ms_load_u32le(resp.data), size = ms_load_u32le(resp.data + 4);
    if (status != 0 || size < SNP_REPORT_LEN || size > sizeof resp.data - 32)
        return ms_fail(err, MS_E_IO, "SNP_GET_REPORT: status 0x%x size %u", (unsigned)status,
                       (unsigned)size);
    return ms_buf_append(out, resp.data + 32, SNP_REPORT_LEN, err);
}

static ms_rc get_quote(att_provider *p, const uint8_t rd[64], ms_buf *q, ms_buf *aux, ms_err *err)
{
    switch (p->mech) {
    case MECH_TSM:
        return tsm_report(p, rd, q, aux, err);
    case MECH_TDX_DEV:
        return tdx_dev_report(p, rd, q, err);
    case MECH_SEV_DEV:
        return sev_dev_report(p, rd, q, err);
    default:
        return ms_fail(err, MS_E_UNSUPPORTED, "no evidence mechanism");
    }
}

/* ---- SNP certificate table (auxblob) -> PEM ------------------------------------------------- */

ms_rc att__cert_table_pem(const ms_buf *aux, ms_buf *pem, ms_err *err)
{
    ms_rd r = {aux->p, aux->len};
    for (int i = 0; i < 16; i++) {
        const uint8_t *guid;
        uint32_t off, len;
        if (ms_rd_take(&r, 16, &guid) || ms_rd_u32le(&r, &off) || ms_rd_u32le(&r, &len))
            return ms_fail(err, MS_E_TRUNC, "SNP certificate table truncated");
        if (off == 0 && len == 0)
            return MS_OK; /* terminator */
        if (off > aux->len || len > aux->len - off)
            return ms_fail(err, MS_E_FORMAT, "SNP certificate table entry %d out of range", i);
        X509 *x = NULL;
        if (att__der_cert(aux->p + off, len, &x, NULL) != MS_OK)
            continue;
        BIO *b = BIO_new(BIO_s_mem());
        char *data = NULL;
        long n = (b != NULL && PEM_write_bio_X509(b, x)) ? BIO_get_mem_data(b, &data) : 0;
        ms_rc rc = n > 0 ? ms_buf_append(pem, data, (size_t)n, err) : MS_OK;
        BIO_free(b);
        X509_free(x);
        if (rc != MS_OK)
            return rc;
    }
    return MS_OK;
}

/* ---- evidence JSON --------------------------------------------------------------------------- */

static int set_b64(json_t *o, const char *key, const uint8_t *p, size_t n)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    int ok = ms_b64_encode(p, n, &b, NULL) == MS_OK &&
             json_object_set_new(o, key, json_stringn((const char *)b.p, b.len)) == 0;
    ms_buf_free(&b);
    return ok;
}

static ms_rc evidence_common(att_provider *p, const uint8_t *nonce, size_t nonce_len,
                             const uint8_t key[32], const uint8_t rd[64], json_t *o, ms_err *err)
{
    int ok = json_object_set_new(o, "format", json_string("medseal-evidence/1")) == 0 &&
             json_object_set_new(o, "provider", json_string(att_provider_kind(p))) == 0 &&
             json_object_set_new(o, "attested", json_boolean(p->kind != PROV_NONE)) == 0 &&
             json_object_set_new(o, "mechanism", json_string(att_provider_mechanism(p))) == 0 &&
             att__json_hex(o, "nonce", nonce_len ? nonce : (const uint8_t *)"", nonce_len) &&
             att__json_hex(o, "tls_pubkey_sha256", key, 32) &&
             att__json_hex(o, "report_data", rd, 64) &&
             json_object_set_new(o, "binding", json_string("sha512(nonce||sha256(spki))")) == 0;
    return ok ? MS_OK : ms_fail(err, MS_E_NOMEM, "out of memory");
}

static ms_rc evidence_quote(att_provider *p, const uint8_t rd[64], json_t *o, ms_err *err)
{
    ms_buf q, aux, pem;
    ms_buf_init(&q, NULL, TSM_OUTBLOB_MAX);
    ms_buf_init(&aux, NULL, TSM_AUXBLOB_MAX);
    ms_buf_init(&pem, NULL, 0);
    ms_rc rc = get_quote(p, rd, &q, &aux, err);
    if (rc == MS_OK && !set_b64(o, "quote", q.p, q.len))
        rc = ms_fail(err, MS_E_NOMEM, "out of memory");
    if (rc == MS_OK && p->mech == MECH_TDX_DEV)
        json_object_set_new(o, "quote_kind", json_string("tdreport (not remotely verifiable)"));
    if (rc == MS_OK && aux.len > 0 && att__cert_table_pem(&aux, &pem, NULL) == MS_OK && pem.len > 0)
        json_object_set_new(o, "certificates", json_stringn((const char *)pem.p, pem.len));
    ms_buf_free(&q);
    ms_buf_free(&aux);
    ms_buf_free(&pem);
    return rc;
}

ms_rc att_evidence_json(att_provider *p, const uint8_t *nonce, size_t nonce_len,
                        const uint8_t tls_pubkey_sha256[32], json_t **out, ms_err *err)
{
    uint8_t rd[64], n32[32];
    if (p == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "att_evidence_json: bad arguments");
    ms_rc rc = att_reportdata(nonce, nonce_len, tls_pubkey_sha256, rd, err);
    if (rc != MS_OK)
        return rc;
    json_t *o = json_object(), *gpu = json_object();
    if (o == NULL || gpu == NULL) {
        json_decref(o);
        json_decref(gpu);
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    }
    json_object_set_new(o, "gpu", gpu);
    rc = evidence_common(p, nonce, nonce_len, tls_pubkey_sha256, rd, o, err);
    if (rc == MS_OK && p->kind == PROV_NONE)
        json_object_set_new(o, "status", json_string("UNATTESTED"));
    else if (rc == MS_OK)
        rc = evidence_quote(p, rd, o, err);
    if (rc == MS_OK && p->collateral != NULL)
        json_object_set_new(o, "collateral", json_deep_copy(p->collateral)); /* no sharing */
    /* the GPU nonce is bound to the same REPORTDATA: SHA-256 of it */
    att__sha256(rd, 64, n32);
    if (rc == MS_OK && p->gpu && p->kind != PROV_NONE)
        att__gpu_evidence(n32, gpu);
    else if (rc == MS_OK)
        json_object_set_new(gpu, "present", json_false());
    if (rc != MS_OK) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return MS_OK;
}

ms_rc att_evidence_hash(att_provider *p, const uint8_t tls_pubkey_sha256[32], uint8_t out[32],
                        ms_err *err)
{
    if (p == NULL || tls_pubkey_sha256 == NULL)
        return ms_fail(err, MS_E_INVAL, "att_evidence_hash: bad arguments");
    if (p->have_hash && memcmp(p->hash_key, tls_pubkey_sha256, 32) == 0) {
        memcpy(out, p->hash, 32);
        return MS_OK;
    }
    if (p->kind == PROV_NONE) {
        att__sha256("UNATTESTED", 10, p->hash);
    } else {
        uint8_t rd[64];
        ms_buf q, aux;
        ms_buf_init(&q, NULL, TSM_OUTBLOB_MAX);
        ms_buf_init(&aux, NULL, TSM_AUXBLOB_MAX);
        ms_rc rc = att_reportdata(NULL, 0, tls_pubkey_sha256, rd, err);
        if (rc == MS_OK)
            rc = get_quote(p, rd, &q, &aux, err);
        if (rc == MS_OK)
            att__sha256(q.p, q.len, p->hash);
        ms_buf_free(&q);
        ms_buf_free(&aux);
        if (rc != MS_OK)
            return rc;
    }
    memcpy(p->hash_key, tls_pubkey_sha256, 32);
    p->have_hash = 1;
    memcpy(out, p->hash, 32);
    return MS_OK;
}

/* ---- TLS key hashes -------------------------------------------------------------------------- */

ms_rc att_spki_sha256_pkey(const void *evp_pkey, uint8_t out[32], ms_err *err)
{
    unsigned char *der = NULL;
    int n = evp_pkey != NULL ? i2d_PUBKEY((EVP_PKEY *)evp_pkey, &der) : -1;
    if (n <= 0)
        return ms_fail(err, MS_E_FORMAT, "public key cannot be encoded");
    att__sha256(der, (size_t)n, out);
    OPENSSL_free(der);
    return MS_OK;
}

ms_rc att_spki_sha256_cert(const uint8_t *cert, size_t len, uint8_t out[32], ms_err *err)
{
    X509 *x = NULL;
    STACK_OF(X509) *sk = NULL;
    if (cert == NULL)
        return ms_fail(err, MS_E_INVAL, "no certificate");
    if (att__der_cert(cert, len, &x, NULL) != MS_OK) {
        ms_rc rc = att__pem_certs(cert, len, &sk, err);
        if (rc != MS_OK)
            return rc;
        x = sk_X509_shift(sk);
        sk_X509_pop_free(sk, X509_free);
    }
    ms_rc rc = att_spki_sha256_pkey(X509_get0_pubkey(x), out, err);
    X509_free(x);
    return rc;
}

/* ---- interoperable RA-TLS (CCC): CBOR tag 60000([quote, claims]) -------------------------- */

static ms_rc cbor_head(ms_buf *b, uint8_t major, uint64_t v, ms_err *err)
{
    uint8_t h[9];
    size_t n = 1;
    if (v < 24) {
        h[0] = (uint8_t)((unsigned)major << 5 | (unsigned)v);
    } else if (v <= 0xff) {
        h[0] = (uint8_t)((unsigned)major << 5 | 24u);
        h[1] = (uint8_t)v;
        n = 2;
    } else if (v <= 0xffff) {
        h[0] = (uint8_t)((unsigned)major << 5 | 25u);
        ms_store_u16be(h + 1, (uint16_t)v);
        n = 3;
    } else {
        h[0] = (uint8_t)((unsigned)major << 5 | 26u);
        ms_store_u32be(h + 1, (uint32_t)v);
        n = 5;
    }
    return ms_buf_append(b, h, n, err);
}

ms_rc att_ratls_extension(att_provider *p, const uint8_t tls_pubkey_sha256[32], ms_buf *out,
                          ms_err *err)
{
    if (p == NULL || p->kind != PROV_TDX || p->mech != MECH_TSM)
        return ms_fail(err, MS_E_UNSUPPORTED, "RA-TLS extension needs a TDX quote (configfs-tsm)");
    /* claims = {"pubkey-hash": bstr(CBOR [1 (sha-256), bstr hash])} */
    uint8_t claims[64], rd[64] = {0};
    static const uint8_t head[] = {0xA1, 0x6B, 'p', 'u',  'b',  'k',  'e',  'y',  '-', 'h',
                                   'a',  's',  'h', 0x58, 0x24, 0x82, 0x01, 0x58, 0x20};
    memcpy(claims, head, sizeof head);
    memcpy(claims + sizeof head, tls_pubkey_sha256, 32);
    size_t clen = sizeof head + 32;
    att__sha256(claims, clen, rd); /* REPORTDATA[0:32] = SHA-256(claims), rest zero */
    ms_buf q, aux;
    ms_buf_init(&q, NULL, TSM_OUTBLOB_MAX);
    ms_buf_init(&aux, NULL, TSM_AUXBLOB_MAX);
    ms_rc rc = get_quote(p, rd, &q, &aux, err);
    if (rc == MS_OK)
        rc = cbor_head(out, 6, 60000, err);
    if (rc == MS_OK)
        rc = cbor_head(out, 4, 2, err);
    if (rc == MS_OK)
        rc = cbor_head(out, 2, q.len, err);
    if (rc == MS_OK)
        rc = ms_buf_append(out, q.p, q.len, err);
    if (rc == MS_OK)
        rc = cbor_head(out, 2, clen, err);
    if (rc == MS_OK)
        rc = ms_buf_append(out, claims, clen, err);
    ms_buf_free(&q);
    ms_buf_free(&aux);
    return rc;
}

/*
 * Internals of src/attest shared between its files: the parsed TDX quote and SNP report (borrowed
 * views into the caller's bytes), the X.509/ECDSA helpers over OpenSSL, the DER walker used for
 * certificate extensions, and the collateral/policy structures.
 *
 * Trusts: nothing parsed; every length is checked through ms_rd before use.
 * Owns: nothing beyond the structs declared here (see each *_free).
 */
#ifndef MEDSEAL_ATTEST_INTERNAL_H
#define MEDSEAL_ATTEST_INTERNAL_H

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "medseal/attest.h"

/* ---- TDX quote (Intel DCAP sgx_quote4/5.h) -------------------------------------------------- */

#define TDX_HEADER_LEN     48
#define TDX_BODY10_LEN     584 /* sgx_report2_body_t */
#define TDX_BODY15_LEN     648 /* + tee_tcb_svn2[16] + mrservicetd[48] */
#define TDX_QE_REPORT_LEN  384
#define TDX_TEE_TDX        0x81u
#define TDX_AK_ECDSA_P256  2
#define TDX_CERT_QE_REPORT 6
#define TDX_CERT_PCK_CHAIN 5
#define TDX_MAX_CERT_DATA  (64u * 1024u) /* a PCK chain is ~3.5 KiB; generous bound */
#define TDX_MAX_AUTH_DATA  4096u

struct tdx_quote {
    uint16_t version;
    uint16_t att_key_type;
    uint32_t tee_type;
    const uint8_t *qe_vendor_id; /* 16 */
    const uint8_t *user_data;    /* 20 */
    uint16_t body_type;          /* v5: 2 or 3; v4: 2 */
    uint32_t body_size;
    const uint8_t *body;
    /* body fields */
    const uint8_t *tee_tcb_svn, *mrseam, *mrsignerseam, *seam_attributes, *td_attributes, *xfam;
    const uint8_t *mrtd, *mrconfigid, *mrowner, *mrownerconfig, *rtmr[4], *report_data;
    const uint8_t *tee_tcb_svn2, *mrservicetd; /* NULL unless body type 3 */
    ms_slice signed_part;                      /* [0, offset of signature_data_len) */
    uint32_t sig_data_len;
    const uint8_t *signature;  /* 64: r||s big-endian */
    const uint8_t *attest_key; /* 64: X||Y */
    uint16_t cert_type;
    uint32_t cert_size;
    const uint8_t *qe_report;     /* 384 */
    const uint8_t *qe_report_sig; /* 64 */
    ms_slice qe_auth;
    uint16_t pck_type;
    ms_slice pck_chain; /* PEM text */
    size_t trailing;    /* unsigned bytes after the signature data */
};

ms_rc att__tdx_parse(const uint8_t *q, size_t len, struct tdx_quote *out, ms_err *err);
ms_rc att__tdx_fields(const struct tdx_quote *q, json_t *obj, ms_err *err);
int att__is_tdx(const uint8_t *q, size_t len);

/* ---- SEV-SNP ATTESTATION_REPORT ---------------------------------------------------------------
 */

#define SNP_REPORT_LEN        0x4A0
#define SNP_SIGNED_LEN        0x2A0
#define SNP_POLICY_DEBUG      (1ull << 19)
#define SNP_POLICY_MIGRATE_MA (1ull << 18)
#define SNP_POLICY_RESERVED1  (1ull << 17)
#define SNP_POLICY_SMT        (1ull << 16)

struct snp_report {
    const uint8_t *raw; /* SNP_REPORT_LEN bytes */
    uint32_t version, guest_svn, vmpl, sig_algo, signer_info;
    uint64_t policy, current_tcb, platform_info, reported_tcb, committed_tcb, launch_tcb;
    const uint8_t *family_id, *image_id, *report_data, *measurement, *host_data, *id_key_digest,
        *author_key_digest, *report_id, *report_id_ma, *chip_id, *sig_r, *sig_s;
    uint8_t cpuid_fam, cpuid_mod, cpuid_step;
    uint8_t cur_build, cur_minor, cur_major, com_build, com_minor, com_major;
};

ms_rc att__snp_parse(const uint8_t *r, size_t len, struct snp_report *out, ms_err *err);
ms_rc att__snp_fields(const struct snp_report *r, json_t *obj, ms_err *err);
int att__is_snp(const uint8_t *r, size_t len);

/* ---- crypto helpers (x509.c) ------------------------------------------------------------------
 */

/* Parses every PEM certificate in text (len bytes, need not be NUL-terminated). OUT: *out. */
ms_rc att__pem_certs(const uint8_t *text, size_t len, STACK_OF(X509) * *out, ms_err *err);
ms_rc att__der_cert(const uint8_t *der, size_t len, X509 **out, ms_err *err);
X509 *att__pinned_intel_root(void);
X509 *att__pinned_amd_ark_milan(void);
/* ECDSA verify of raw big-endian r||s (2*n bytes) over data with hash md ("SHA256"/"SHA384"). */
int att__ecdsa_verify_raw(EVP_PKEY *key, const char *md, const uint8_t *rs, size_t n,
                          const uint8_t *data, size_t len);
/* An EC P-256 public key from raw X||Y (64 bytes). */
EVP_PKEY *att__p256_from_xy(const uint8_t xy[64]);
/* Verifies `leaf` via `untrusted` to a root in `roots`, at time `at`, with CRLs (may be NULL: no
 * revocation check). Returns 1 ok, 0 fail with a reason in err. */
int att__chain_verify(X509 *leaf, STACK_OF(X509) * untrusted, STACK_OF(X509) * roots,
                      STACK_OF(X509_CRL) * crls, time_t at, const char *what, ms_err *err);
void att__sha256(const void *p, size_t n, uint8_t out[32]);
void att__sha512(const void *p, size_t n, uint8_t out[64]);
/* SHA-256 fingerprint of a certificate's DER. */
int att__cert_sha256(X509 *c, uint8_t out[32]);
/* Parses "YYYY-MM-DDTHH:MM:SSZ" (also with fractional seconds). */
int att__parse_time(const char *s, time_t *out);
void att__fmt_time(time_t t, char out[32]);
/* Appends the lower-case hex of p[0..n) to obj under key. */
int att__json_hex(json_t *obj, const char *key, const uint8_t *p, size_t n);
/* Finds an extension by dotted OID; returns its value octets (borrowed from the cert) or NULL. */
const ASN1_OCTET_STRING *att__cert_ext(X509 *c, const char *oid);
/* Subject CN into out (truncated). */
void att__cert_cn(X509 *c, char *out, size_t n);

/* ---- DER walker ------------------------------------------------------------------------------ */

/* Reads one TLV: tag byte (single-byte tags only), definite length. OUT: *tag, *val. */
ms_rc att__der_tlv(ms_rd *r, uint8_t *tag, ms_slice *val);
/* Decodes a non-negative INTEGER of at most 8 bytes. */
int att__der_uint(ms_slice v, uint64_t *out);

/* ---- collateral -------------------------------------------------------------------------------
 */

struct att_collateral {
    /* Intel */
    int has_intel;
    STACK_OF(X509) * pck_crl_chain, *tcb_chain, *qe_chain;
    X509_CRL *root_crl, *pck_crl;
    char *tcb_info; /* raw signed JSON bytes, NUL-terminated */
    size_t tcb_info_len;
    uint8_t tcb_sig[64];
    char *qe_identity;
    size_t qe_identity_len;
    uint8_t qe_sig[64];
    /* AMD */
    STACK_OF(X509) * amd_certs; /* VCEK/VLEK, ASK/ASVK, ARK in any order */
    STACK_OF(X509_CRL) * amd_crls;
};

/* ---- policy -----------------------------------------------------------------------------------
 */

#define ATT_POL_MAX_VALUES 16

struct att_hexset {
    size_t n, len; /* count, byte length of each */
    uint8_t v[ATT_POL_MAX_VALUES][64];
};

struct att_policy {
    att_tee tee; /* 0: any */
    int allow_debug;
    int require_collateral;
    size_t n_status;
    char status[8][40];
    struct att_hexset report_data;
    struct att_hexset roots;
    /* tdx */
    struct att_hexset mrtd, rtmr[4], mrconfigid, mrowner, mrownerconfig, mrseam;
    int has_td_attr;
    uint64_t td_attr, td_attr_mask;
    int has_xfam;
    uint64_t xfam;
    int require_sept_ve_disable;
    int has_min_tee_tcb_svn;
    uint8_t min_tee_tcb_svn[16];
    /* snp */
    struct att_hexset measurement, host_data, id_key_digest;
    int has_snp_policy;
    uint64_t snp_policy_mask, snp_policy_value;
    int has_min_tcb;
    uint8_t min_bl, min_tee, min_snp, min_ucode;
    int has_vmpl;
    uint32_t vmpl;
    int allow_migrate_ma;
};

/* ---- verification pieces ----------------------------------------------------------------------
 */

/* A verification run: result being filled, and its first failure. */
struct att_run {
    att_result *res;
    const att_collateral *coll;
    const att_policy *pol;
    time_t at;
    json_t *checks; /* borrowed from res->fields */
};

/* Records a check outcome in run->checks; the first failure becomes res->reason. Returns ok. */
int att__check(struct att_run *run, const char *name, int ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A new stack (free with sk_X509_free; borrows its members): builtin (may be NULL) plus each
 * certificate of cands whose SHA-256 fingerprint the policy pins in roots_sha256. */
STACK_OF(X509) * att__policy_roots(const att_policy *pol, X509 *builtin, STACK_OF(X509) * cands);

ms_rc att__tdx_verify(const uint8_t *q, size_t len, struct att_run *run, ms_err *err);
ms_rc att__snp_verify(const uint8_t *r, size_t len, struct att_run *run, ms_err *err);
/* Intel collateral: verifies it and evaluates TCB status into run->res->tcb_status. */
void att__tdx_collateral(const struct tdx_quote *q, X509 *pck_leaf, struct att_run *run);
void att__tdx_collateral_window(struct att_run *run);
void att__snp_tcb(const struct snp_report *r, int *bl, int *tee, int *snp, int *uc);
void att__tdx_policy(const struct tdx_quote *q, struct att_run *run);
void att__snp_policy(const struct snp_report *r, struct att_run *run);

/* RA-TLS (ratls.c): checks an RA-TLS certificate's binding (PEM or DER); fills out with
 * pubkey_hash_matches, claims_bound, spki_sha256, quote_version, mr_enclave/mr_signer (SGX). */
ms_rc att__ratls_check(const uint8_t *cert, size_t len, json_t *out, ms_err *err);

/* Providers (evidence.c), exposed for tests: one configfs-tsm request in an existing entry folder
 * (inblob, outblob, auxblob, with the generation check), and the SNP certificate table (GUID,
 * offset, length entries, zero-terminated) of an auxblob as PEM. */
ms_rc att__tsm_once(const char *entry, const uint8_t rd[64], ms_buf *out, ms_buf *aux, ms_err *err);
/* Tests only: when set, called after each of the three generation reads (step 0, 1, 2) so a test
 * can play the kernel's counter, or another writer, deterministically. NULL in production. */
extern void (*att__tsm_gen_hook)(const char *entry, int step);
ms_rc att__cert_table_pem(const ms_buf *aux, ms_buf *pem, ms_err *err);

/* GPU evidence (gpu.c): fills obj with {"present":false,"reason":...} or the NVML report. */
void att__gpu_evidence(const uint8_t nonce32[32], json_t *obj);

#endif

/*
 * medseal attestation (prefix att_): evidence that this server runs in a genuine confidential VM
 * (Intel TDX or AMD SEV-SNP), bound to its TLS key, and the verifier a hospital runs to check it.
 *
 * Evidence side: a provider ("tdx", "sev-snp", "none") obtains a quote/report from Linux
 * configfs-tsm (/sys/kernel/config/tsm/report) or the older /dev/tdx_guest, /dev/sev-guest ioctls,
 * with REPORTDATA = SHA-512(nonce || SHA-256(DER SubjectPublicKeyInfo of the TLS leaf)). Optional
 * NVIDIA GPU evidence comes from NVML, loaded with dlopen only when present.
 *
 * Verifier side (no network): TDX quotes v4/v5 (DCAP, ECDSA P-256, PCK chain to the pinned Intel
 * SGX Root CA, CRLs, TCB info and QE identity collateral) and SEV-SNP reports v2+ (ECDSA P-384,
 * VCEK/VLEK -> ASK -> pinned ARK, RSA-PSS), then a policy (measurements, attributes, DEBUG, TCB).
 *
 * Trusts: nothing it parses (quotes, collateral, policy files, server answers); only the
 * compiled-in roots (Intel SGX Root CA, AMD ARK Milan) plus roots a policy file pins by SHA-256
 * fingerprint. Owns: what it allocates; every *_free accepts NULL. Thread safety: att_verify_*
 * are reentrant; att_evidence_json may be called from several threads on one provider (each call
 * uses its own configfs-tsm entry); att_evidence_hash fills a cache: call it once before serving.
 */
#ifndef MEDSEAL_ATTEST_H
#define MEDSEAL_ATTEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "medseal/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- evidence (server side) ----------------------------------------------------------------- */

#define ATT_NONCE_MAX      64 /* bytes of a client nonce (hex in the URL: 128 characters) */
#define ATT_REPORTDATA_LEN 64 /* TDX REPORTDATA and SNP REPORT_DATA */

typedef struct att_provider att_provider;

/* Where providers look; NULL members take the Linux defaults. For tests and unusual hosts. */
typedef struct att_provider_cfg {
    const char *kind;            /* "auto", "tdx", "sev-snp", "none" (NULL = "auto") */
    const char *tsm_dir;         /* default "/sys/kernel/config/tsm/report" */
    const char *tdx_dev;         /* default "/dev/tdx_guest" */
    const char *sev_dev;         /* default "/dev/sev-guest" */
    const char *collateral_path; /* optional collateral JSON to hand out with the evidence */
    int gpu;                     /* 1: try NVIDIA GPU evidence (NVML via dlopen); 0: skip */
} att_provider_cfg;

/* Opens a provider. "auto" picks tdx or sev-snp from what the host offers and fails with
 * MS_E_NOTFOUND when neither exists (it never falls back to "none" silently). "none" always
 * succeeds and yields UNATTESTED evidence. OUT: *out, free with att_provider_free. */
ms_rc att_provider_open(const char *kind, att_provider **out, ms_err *err);
ms_rc att_provider_open_cfg(const att_provider_cfg *cfg, att_provider **out, ms_err *err);
void att_provider_free(att_provider *p);
/* "tdx", "sev-snp" or "none". Borrowed, static. */
const char *att_provider_kind(const att_provider *p);
/* 1 when the provider produces hardware evidence, 0 for "none". */
int att_provider_attested(const att_provider *p);
/* How evidence is obtained, e.g. "configfs-tsm", "/dev/tdx_guest", "none". Borrowed, static. */
const char *att_provider_mechanism(const att_provider *p);

/* REPORTDATA = SHA-512(nonce || tls_pubkey_sha256). nonce may be NULL when nonce_len is 0. */
ms_rc att_reportdata(const uint8_t *nonce, size_t nonce_len, const uint8_t tls_pubkey_sha256[32],
                     uint8_t out[ATT_REPORTDATA_LEN], ms_err *err);
/* SHA-256 of the DER SubjectPublicKeyInfo of a certificate (PEM or DER) / of an OpenSSL EVP_PKEY
 * passed as void * (so this header need not include OpenSSL). */
ms_rc att_spki_sha256_cert(const uint8_t *cert, size_t len, uint8_t out[32], ms_err *err);
ms_rc att_spki_sha256_pkey(const void *evp_pkey, uint8_t out[32], ms_err *err);

/* Fresh evidence for a client nonce (0..ATT_NONCE_MAX bytes) bound to the TLS key. OUT: *out, an
 * owned JSON object (json_decref):
 *   {"format":"medseal-evidence/1", "provider":"tdx"|"sev-snp"|"none", "attested":true|false,
 *    "mechanism":..., "nonce":hex, "tls_pubkey_sha256":hex, "report_data":hex,
 *    "binding":"sha512(nonce||sha256(spki))", "quote":base64 (TDX quote or SNP report),
 *    "certificates":PEM (SNP VCEK/ASK/ARK from the host, if any), "collateral":{...} (if
 *    configured), "gpu":{"present":false,"reason":...} or {"present":true,...}}
 * For "none": "attested":false, "status":"UNATTESTED", no quote. */
ms_rc att_evidence_json(att_provider *p, const uint8_t *nonce, size_t nonce_len,
                        const uint8_t tls_pubkey_sha256[32], json_t **out, ms_err *err);
/* A hash identifying this instance's evidence for audit records: SHA-256 over the quote obtained
 * for an empty nonce and this TLS key (computed once, then cached), or over the string
 * "UNATTESTED" for "none". OUT: out[32]. */
ms_rc att_evidence_hash(att_provider *p, const uint8_t tls_pubkey_sha256[32], uint8_t out[32],
                        ms_err *err);
/* The DER of an interoperable RA-TLS X.509 extension value (OID 2.23.133.5.4.9, non-critical):
 * CBOR tag 60000([quote, {"pubkey-hash": [1, sha256(spki)]}]) with REPORTDATA[0:32] =
 * SHA-256(claims). TDX only (MS_E_UNSUPPORTED otherwise). OUT: out (appended). */
#define ATT_RATLS_OID "2.23.133.5.4.9"
ms_rc att_ratls_extension(att_provider *p, const uint8_t tls_pubkey_sha256[32], ms_buf *out,
                          ms_err *err);

/* ---- collateral, policy --------------------------------------------------------------------- */

typedef struct att_collateral att_collateral;

/* An empty collateral set. OUT: *out, free with att_collateral_free. */
ms_rc att_collateral_new(att_collateral **out, ms_err *err);
void att_collateral_free(att_collateral *c);
/* Adds a file: Intel collateral JSON (PCS/PCCS "QuoteCollateralV3" keys: pck_crl_issuer_chain,
 * root_ca_crl, pck_crl, tcb_info_issuer_chain, tcb_info, tcb_info_signature,
 * qe_identity_issuer_chain, qe_identity, qe_identity_signature), or AMD certificates (PEM bundle or
 * DER: VCEK/VLEK, ASK/ASVK, ARK; CRL), or a JSON {"vcek":PEM, "cert_chain":PEM}. */
ms_rc att_collateral_add_file(att_collateral *c, const char *path, ms_err *err);
/* The same from memory (the evidence JSON's "collateral" / "certificates"). */
ms_rc att_collateral_add_json(att_collateral *c, const json_t *j, ms_err *err);
ms_rc att_collateral_add_pem(att_collateral *c, const uint8_t *data, size_t len, ms_err *err);

typedef struct att_policy att_policy;

/* The default policy: DEBUG rejected, TDX TCB status must be "UpToDate" (so TDX needs collateral)
 * and SEPT_VE_DISABLE set, SNP policy reserved bit 17 set and no migration agent, no measurement
 * pinned. A policy file starts from these defaults. OUT: *out. */
ms_rc att_policy_default(att_policy **out, ms_err *err);
/* Loads a policy JSON file; every key is optional, unknown keys are an error (a typo must not
 * weaken a policy). See README.md:
 *   {"tee":"tdx"|"sev-snp"|"any", "allow_debug":false,
 *    "tcb_status":["UpToDate"], "require_collateral":true,
 *    "tdx":{"mrtd":[hex..], "rtmr0".."rtmr3":[hex..], "mrconfigid":hex, "mrowner":hex,
 *           "mrseam":[hex], "td_attributes":hex, "td_attributes_mask":hex, "xfam":hex,
 *           "require_sept_ve_disable":true, "min_tee_tcb_svn":hex},
 *    "snp":{"measurement":[hex..], "host_data":hex, "id_key_digest":hex, "policy_mask":hex,
 *           "policy_value":hex, "min_tcb":{"bl":n,"tee":n,"snp":n,"ucode":n}, "vmpl":n,
 *           "allow_migrate_ma":false},
 *    "report_data":hex, "roots_sha256":[hex..]} */
ms_rc att_policy_load(const char *path, att_policy **out, ms_err *err);
ms_rc att_policy_from_json(const json_t *j, att_policy **out, ms_err *err);
void att_policy_free(att_policy *p);

/* ---- verification --------------------------------------------------------------------------- */

typedef enum att_tee {
    ATT_TEE_UNKNOWN = 0,
    ATT_TEE_TDX = 1,
    ATT_TEE_SNP = 2,
} att_tee;

#define ATT_REASON_MAX 192

/* What att_verify_* found. Initialise with {0}; release with att_result_free. */
typedef struct att_result {
    att_tee tee;
    int version;                 /* quote / report version */
    int ok;                      /* 1 only when every check and the policy passed */
    int signature_ok;            /* quote/report signature (and QE report + binding for TDX) */
    int chain_ok;                /* certificate chain to a pinned root, validity, revocation */
    int collateral_ok;           /* TCB info / QE identity / CRLs present, signed, in window */
    int policy_ok;               /* policy checks */
    char tcb_status[40];         /* TDX: UpToDate, OutOfDate, ...; "Unknown" without collateral */
    char reason[ATT_REASON_MAX]; /* first failure, one line; "" when ok */
    uint8_t report_data[ATT_REPORTDATA_LEN];
    json_t *fields; /* owned: every parsed field, checks, advisories (see JSON) */
} att_result;

void att_result_free(att_result *r);
/* The result as JSON: {"verdict":"PASS"|"FAIL", "reason", "tee", "tcb_status", "checks":{...},
 * "fields":{...}}. OUT: *out, owned. */
ms_rc att_result_json(const att_result *r, json_t **out, ms_err *err);

/* Verifies a TDX quote (v4/v5) or an SNP report (detected from the bytes) at time `at` (0 = now)
 * against collateral (may be NULL) and policy (NULL = default). Returns MS_OK when verification
 * ran to a verdict (see res->ok and res->reason), an error code only when input could not be parsed
 * at all (then res->reason says why too) or memory ran out. */
ms_rc att_verify_quote(const uint8_t *quote, size_t len, const att_collateral *coll,
                       const att_policy *pol, time_t at, att_result *res, ms_err *err);

/* Parses without verifying (the fuzz target and `--json` of unverifiable input). OUT: *out. */
ms_rc att_parse_json(const uint8_t *quote, size_t len, json_t **out, ms_err *err);

/* Verifies an evidence JSON object (from GET /v1/attestation) for the expected nonce and TLS key:
 * REPORTDATA must equal SHA-512(nonce || tls_pubkey_sha256) and the object's echoes must match. */
#define ATT_LIVE_ALLOW_UNATTESTED 0x1u /* accept provider "none" (result says UNATTESTED) */
ms_rc att_verify_evidence(const json_t *evidence, const uint8_t *nonce, size_t nonce_len,
                          const uint8_t tls_pubkey_sha256[32], const att_collateral *coll,
                          const att_policy *pol, unsigned flags, time_t at, att_result *res,
                          ms_err *err);

/* Live check: connects to https://HOST:PORT (no CA check: the attestation binds the key), sends
 * GET /v1/attestation?nonce=<fresh 32 bytes hex>, verifies the evidence against the SPKI of the
 * certificate of this very connection. OUT: res (res->fields has "tls_pubkey_sha256", the key hash
 * to pin) . `coll` may be NULL (the evidence's own collateral is used if it carries one). */
ms_rc att_verify_live(const char *url, const att_collateral *coll, const att_policy *pol,
                      unsigned flags, time_t at, att_result *res, ms_err *err);

#ifdef __cplusplus
}
#endif
#endif

/*
 * AMD SEV-SNP ATTESTATION_REPORT (0x4A0 bytes, versions 2+; offsets from go-sev-guest
 * abi/abi.go): parser, JSON of every field, and verification: ECDSA P-384/SHA-384 signature over
 * [0, 0x2A0) with the VCEK/VLEK, the certificate chain VCEK -> ASK -> ARK (RSASSA-PSS) to a pinned
 * ARK, and the VCEK's TCB and hardware-id extensions against the report.
 *
 * Trusts: nothing parsed; the ARK-Milan compiled into x509.c and ARKs pinned by a policy.
 * Owns: nothing beyond temporaries freed before return.
 */
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

int att__is_snp(const uint8_t *r, size_t len)
{
    if (len != SNP_REPORT_LEN)
        return 0;
    uint32_t v = ms_load_u32le(r);
    return v >= 2 && v < 64 && ms_load_u32le(r + 0x34) == 1;
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

ms_rc att__snp_parse(const uint8_t *b, size_t len, struct snp_report *out, ms_err *err)
{
    if (len < SNP_REPORT_LEN)
        return ms_fail(err, MS_E_TRUNC, "SNP report: %zu bytes, want %d", len, SNP_REPORT_LEN);
    if (len > SNP_REPORT_LEN)
        return ms_fail(err, MS_E_FORMAT, "SNP report: %zu bytes, want %d", len, SNP_REPORT_LEN);
    struct snp_report r;
    memset(&r, 0, sizeof r);
    r.raw = b;
    r.version = ms_load_u32le(b);
    if (r.version < 2)
        return ms_fail(err, MS_E_UNSUPPORTED, "SNP report: version %u (want 2 or later)",
                       (unsigned)r.version);
    r.guest_svn = ms_load_u32le(b + 0x04);
    r.policy = ms_load_u64le(b + 0x08);
    r.family_id = b + 0x10;
    r.image_id = b + 0x20;
    r.vmpl = ms_load_u32le(b + 0x30);
    r.sig_algo = ms_load_u32le(b + 0x34);
    r.current_tcb = ms_load_u64le(b + 0x38);
    r.platform_info = ms_load_u64le(b + 0x40);
    r.signer_info = ms_load_u32le(b + 0x48);
    r.report_data = b + 0x50;
    r.measurement = b + 0x90;
    r.host_data = b + 0xC0;
    r.id_key_digest = b + 0xE0;
    r.author_key_digest = b + 0x110;
    r.report_id = b + 0x140;
    r.report_id_ma = b + 0x160;
    r.reported_tcb = ms_load_u64le(b + 0x180);
    r.cpuid_fam = b[0x188];
    r.cpuid_mod = b[0x189];
    r.cpuid_step = b[0x18A];
    r.chip_id = b + 0x1A0;
    r.committed_tcb = ms_load_u64le(b + 0x1E0);
    r.cur_build = b[0x1E8];
    r.cur_minor = b[0x1E9];
    r.cur_major = b[0x1EA];
    r.com_build = b[0x1EC];
    r.com_minor = b[0x1ED];
    r.com_major = b[0x1EE];
    r.launch_tcb = ms_load_u64le(b + 0x1F0);
    r.sig_r = b + 0x2A0;
    r.sig_s = b + 0x2E8;
    if (r.sig_algo != 1)
        return ms_fail(err, MS_E_UNSUPPORTED, "SNP report: signature algorithm %u (want 1)",
                       (unsigned)r.sig_algo);
    if (!all_zero(b + 0x2A0 + 144, 0x200 - 144))
        return ms_fail(err, MS_E_FORMAT, "SNP report: signature padding is not zero");
    if (!all_zero(b + 0x4C, 4))
        return ms_fail(err, MS_E_FORMAT, "SNP report: reserved bytes 0x4C-0x4F are not zero");
    *out = r;
    return MS_OK;
}

/* TCB_VERSION (kds.DecomposeTCBVersion): Milan/Genoa bl@0 tee@1 snp@6 ucode@7; Turin (family
 * 0x1A, report v3+) fmc@0 bl@1 tee@2 snp@3 ucode@7. */
struct snp_tcb {
    unsigned fmc, bl, tee, snp, ucode;
};

static struct snp_tcb tcb_parts(uint64_t t, int turin)
{
    struct snp_tcb x;
    uint8_t b[8];
    ms_store_u64le(b, t);
    if (turin) {
        x = (struct snp_tcb){b[0], b[1], b[2], b[3], b[7]};
    } else {
        x = (struct snp_tcb){0, b[0], b[1], b[6], b[7]};
    }
    return x;
}

static int is_turin(const struct snp_report *r)
{
    return r->version >= 3 && r->cpuid_fam == 0x1A;
}

static json_t *tcb_json(uint64_t t, int turin)
{
    struct snp_tcb x = tcb_parts(t, turin);
    char raw[19];
    snprintf(raw, sizeof raw, "%016llx", (unsigned long long)t);
    json_t *o = json_pack("{s:s,s:i,s:i,s:i,s:i}", "raw", raw, "bl", (int)x.bl, "tee", (int)x.tee,
                          "snp", (int)x.snp, "microcode", (int)x.ucode);
    if (o != NULL && turin)
        json_object_set_new(o, "fmc", json_integer(x.fmc));
    return o;
}

static json_t *policy_json(uint64_t p)
{
    char raw[19];
    snprintf(raw, sizeof raw, "%016llx", (unsigned long long)p);
    return json_pack("{s:s,s:i,s:i,s:b,s:b,s:b,s:b,s:b,s:b,s:b}", "raw", raw, "abi_minor",
                     (int)(p & 0xff), "abi_major", (int)((p >> 8) & 0xff), "smt",
                     (int)((p >> 16) & 1), "reserved_bit17", (int)((p >> 17) & 1), "migrate_ma",
                     (int)((p >> 18) & 1), "debug", (int)((p >> 19) & 1), "single_socket",
                     (int)((p >> 20) & 1), "cxl_allow", (int)((p >> 21) & 1), "mem_aes_256_xts",
                     (int)((p >> 22) & 1));
}

static const char *signing_key_name(uint32_t si)
{
    switch ((si >> 2) & 7) {
    case 0:
        return "VCEK";
    case 1:
        return "VLEK";
    case 7:
        return "none";
    default:
        return "reserved";
    }
}

static int snp_hex_fields(const struct snp_report *r, json_t *o)
{
    return att__json_hex(o, "family_id", r->family_id, 16) &&
           att__json_hex(o, "image_id", r->image_id, 16) &&
           att__json_hex(o, "report_data", r->report_data, 64) &&
           att__json_hex(o, "measurement", r->measurement, 48) &&
           att__json_hex(o, "host_data", r->host_data, 32) &&
           att__json_hex(o, "id_key_digest", r->id_key_digest, 48) &&
           att__json_hex(o, "author_key_digest", r->author_key_digest, 48) &&
           att__json_hex(o, "report_id", r->report_id, 32) &&
           att__json_hex(o, "report_id_ma", r->report_id_ma, 32) &&
           att__json_hex(o, "chip_id", r->chip_id, 64) &&
           att__json_hex(o, "signature_r_le", r->sig_r, 72) &&
           att__json_hex(o, "signature_s_le", r->sig_s, 72);
}

ms_rc att__snp_fields(const struct snp_report *r, json_t *o, ms_err *err)
{
    int t = is_turin(r);
    char ver[32];
    int ok = snp_hex_fields(r, o);
    ok =
        ok && json_object_set_new(o, "version", json_integer(r->version)) == 0 &&
        json_object_set_new(o, "guest_svn", json_integer(r->guest_svn)) == 0 &&
        json_object_set_new(o, "policy", policy_json(r->policy)) == 0 &&
        json_object_set_new(o, "vmpl", json_integer(r->vmpl)) == 0 &&
        json_object_set_new(o, "signature_algo", json_integer(r->sig_algo)) == 0 &&
        json_object_set_new(o, "current_tcb", tcb_json(r->current_tcb, t)) == 0 &&
        json_object_set_new(o, "reported_tcb", tcb_json(r->reported_tcb, t)) == 0 &&
        json_object_set_new(o, "committed_tcb", tcb_json(r->committed_tcb, t)) == 0 &&
        json_object_set_new(o, "launch_tcb", tcb_json(r->launch_tcb, t)) == 0 &&
        json_object_set_new(o, "platform_info", json_integer((json_int_t)r->platform_info)) == 0 &&
        json_object_set_new(o, "signer_info", json_integer(r->signer_info)) == 0 &&
        json_object_set_new(o, "signing_key", json_string(signing_key_name(r->signer_info))) == 0 &&
        json_object_set_new(o, "author_key_en", json_boolean(r->signer_info & 1)) == 0 &&
        json_object_set_new(o, "mask_chip_key", json_boolean((r->signer_info >> 1) & 1)) == 0;
    if (ok && r->version >= 3)
        ok = json_object_set_new(o, "cpuid",
                                 json_pack("{s:i,s:i,s:i}", "family", r->cpuid_fam, "model",
                                           r->cpuid_mod, "stepping", r->cpuid_step)) == 0;
    snprintf(ver, sizeof ver, "%u.%u.%u", r->cur_major, r->cur_minor, r->cur_build);
    ok = ok && json_object_set_new(o, "current_version", json_string(ver)) == 0;
    snprintf(ver, sizeof ver, "%u.%u.%u", r->com_major, r->com_minor, r->com_build);
    ok = ok && json_object_set_new(o, "committed_version", json_string(ver)) == 0;
    return ok ? MS_OK : ms_fail(err, MS_E_NOMEM, "out of memory building report JSON");
}

/* ---- verification ---------------------------------------------------------------------------- */

static int is_self_signed(X509 *x)
{
    return X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
}

/* Picks the signing certificate (the one with an EC key) and the intermediates (the rest that
 * are not self-signed) from the collateral; self-signed ones are root candidates. */
static X509 *split_certs(const att_collateral *c, STACK_OF(X509) * mid, STACK_OF(X509) * roots)
{
    X509 *leaf = NULL;
    for (int i = 0; c != NULL && c->amd_certs != NULL && i < sk_X509_num(c->amd_certs); i++) {
        X509 *x = sk_X509_value(c->amd_certs, i);
        EVP_PKEY *k = X509_get0_pubkey(x);
        if (k != NULL && EVP_PKEY_base_id(k) == EVP_PKEY_EC && leaf == NULL)
            leaf = x;
        else if (is_self_signed(x))
            sk_X509_push(roots, x);
        else
            sk_X509_push(mid, x);
    }
    return leaf;
}

static int ext_uint(X509 *x, const char *oid, uint64_t *v)
{
    const ASN1_OCTET_STRING *os = att__cert_ext(x, oid);
    if (os == NULL)
        return 0;
    ms_rd r = {ASN1_STRING_get0_data(os), (size_t)ASN1_STRING_length(os)};
    uint8_t tag;
    ms_slice val;
    return att__der_tlv(&r, &tag, &val) == MS_OK && tag == 0x02 && att__der_uint(val, v);
}

/* The VCEK certifies one TCB: its SPL extensions must equal REPORTED_TCB, and its hwID the
 * CHIP_ID (go-sev-guest validateVcekExtensions). */
static void vcek_extensions(const struct snp_report *r, X509 *vcek, struct att_run *run)
{
    struct snp_tcb t = tcb_parts(r->reported_tcb, is_turin(r));
    uint64_t bl, tee, snp, uc;
    int have = ext_uint(vcek, "1.3.6.1.4.1.3704.1.3.1", &bl) &&
               ext_uint(vcek, "1.3.6.1.4.1.3704.1.3.2", &tee) &&
               ext_uint(vcek, "1.3.6.1.4.1.3704.1.3.3", &snp) &&
               ext_uint(vcek, "1.3.6.1.4.1.3704.1.3.8", &uc);
    if (att__check(run, "vcek_tcb", have, "SNP: VCEK lacks the TCB extensions")) {
        att__check(run, "vcek_tcb", bl == t.bl && tee == t.tee && snp == t.snp && uc == t.ucode,
                   "SNP: VCEK TCB (bl %u tee %u snp %u ucode %u) differs from REPORTED_TCB",
                   (unsigned)bl, (unsigned)tee, (unsigned)snp, (unsigned)uc);
    }
    if (((r->signer_info >> 2) & 7) != 0 || (r->signer_info & 2))
        return; /* VLEK or masked chip id: no hwID to compare */
    const ASN1_OCTET_STRING *hw = att__cert_ext(vcek, "1.3.6.1.4.1.3704.1.4");
    const uint8_t *hp = hw != NULL ? ASN1_STRING_get0_data(hw) : NULL;
    int hl = hw != NULL ? ASN1_STRING_length(hw) : 0;
    /* hwID is an OCTET STRING of 64 bytes, possibly DER-wrapped */
    int ok = hp != NULL &&
             ((hl == 64 && memcmp(hp, r->chip_id, 64) == 0) ||
              (hl == 66 && hp[0] == 0x04 && hp[1] == 64 && memcmp(hp + 2, r->chip_id, 64) == 0));
    att__check(run, "vcek_chip_id", ok, "SNP: VCEK hwID differs from the report's CHIP_ID");
}

static void snp_signature(const struct snp_report *r, X509 *vcek, struct att_run *run)
{
    EVP_PKEY *k = X509_get0_pubkey(vcek);
    char grp[32] = "";
    size_t gl = 0;
    if (k != NULL)
        EVP_PKEY_get_utf8_string_param(k, "group", grp, sizeof grp, &gl);
    if (!att__check(run, "vcek_key", strcmp(grp, "secp384r1") == 0,
                    "SNP: signing certificate key is not ECDSA P-384"))
        return;
    uint8_t rs[144];
    for (int i = 0; i < 72; i++) { /* little-endian in the report, big-endian for OpenSSL */
        rs[i] = r->sig_r[71 - i];
        rs[72 + i] = r->sig_s[71 - i];
    }
    int ok = att__ecdsa_verify_raw(k, "SHA384", rs, 72, r->raw, SNP_SIGNED_LEN);
    run->res->signature_ok = ok;
    att__check(run, "report_signature", ok,
               "SNP: report signature does not verify with the VCEK (bytes 0x0-0x29F altered?)");
}

static void snp_chain(X509 *leaf, STACK_OF(X509) * mid, STACK_OF(X509) * cands, struct att_run *run)
{
    X509 *ark = att__pinned_amd_ark_milan();
    STACK_OF(X509) *roots = att__policy_roots(run->pol, ark, cands);
    ms_err e = {0};
    STACK_OF(X509_CRL) *crls = run->coll != NULL ? run->coll->amd_crls : NULL;
    int ok = roots != NULL && att__chain_verify(leaf, mid, roots, crls, run->at,
                                                "SNP VCEK chain to the pinned ARK", &e);
    run->res->chain_ok = ok;
    att__check(run, "cert_chain", ok, "%s", e.msg[0] ? e.msg : "SNP: chain check failed");
    sk_X509_free(roots);
    X509_free(ark);
}

ms_rc att__snp_verify(const uint8_t *b, size_t len, struct att_run *run, ms_err *err)
{
    struct snp_report r;
    ms_rc rc = att__snp_parse(b, len, &r, err);
    if (rc != MS_OK)
        return rc;
    json_t *f = json_object();
    if (f == NULL || att__snp_fields(&r, f, err) != MS_OK) {
        json_decref(f);
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    }
    json_object_set_new(run->res->fields, "report", f);
    run->res->tee = ATT_TEE_SNP;
    run->res->version = (int)r.version;
    memcpy(run->res->report_data, r.report_data, 64);
    STACK_OF(X509) *mid = sk_X509_new_null(), *cands = sk_X509_new_null();
    X509 *leaf = (mid != NULL && cands != NULL) ? split_certs(run->coll, mid, cands) : NULL;
    if (att__check(run, "vcek_present", leaf != NULL,
                   "SNP: no VCEK/VLEK certificate in the collateral (--collateral VCEK file)")) {
        char cn[64];
        att__cert_cn(leaf, cn, sizeof cn);
        json_object_set_new(run->res->fields, "signing_cert", json_string(cn));
        snp_chain(leaf, mid, cands, run);
        snp_signature(&r, leaf, run);
        vcek_extensions(&r, leaf, run);
    }
    run->res->collateral_ok = leaf != NULL && run->res->chain_ok;
    snprintf(run->res->tcb_status, sizeof run->res->tcb_status, "%s", "NotEvaluated");
    att__snp_policy(&r, run);
    sk_X509_free(mid);
    sk_X509_free(cands);
    return MS_OK;
}

void att__snp_tcb(const struct snp_report *r, int *bl, int *tee, int *snp, int *uc)
{
    struct snp_tcb t = tcb_parts(r->reported_tcb, is_turin(r));
    *bl = (int)t.bl;
    *tee = (int)t.tee;
    *snp = (int)t.snp;
    *uc = (int)t.ucode;
}

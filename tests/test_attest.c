/*
 * Tests of src/attest on the real samples in data/attest (copied from ../shared with their
 * MANIFEST): each verifies with the outcome and field values the MANIFEST states; flipped bits in
 * signed regions, every truncation point, a broken certificate chain, expired collateral, wrong
 * nonce / TLS key and policy violations each fail with a clear reason. Expected values are read
 * from data/attest/MANIFEST.md, never written here.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attest/internal.h"
#include "medseal/attest.h"
#include "test.h"
#include "test_attest_util.h"

#define SEC_V4    "1+2."
#define SEC_V5    "3."
#define SEC_ROOT  "4."
#define SEC_SNP   "5+6+7."
#define SEC_RATLS "8."

struct fixture {
    ms_buf q;
    att_collateral *coll;
    att_policy *pol;
    time_t at;
};

static void fx_free(struct fixture *f)
{
    ms_buf_free(&f->q);
    att_collateral_free(f->coll);
    att_policy_free(f->pol);
}

static att_policy *policy_str(const char *json)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    att_policy *p = NULL;
    ms_err err = {0};
    if (att_policy_from_json(j, &p, &err) != MS_OK)
        fprintf(stderr, "  policy: %s\n", err.msg);
    json_decref(j);
    return p;
}

/* v4 + collateral at the MANIFEST's check time, default policy */
static int fx_v4(struct fixture *f)
{
    char when[40];
    memset(f, 0, sizeof *f);
    if (!att_t_read("tdx_quote_v4_dcapqvl.bin", &f->q) ||
        !att_t_manifest_after(SEC_V4, "works out to **", when, sizeof when))
        return 0;
    f->at = att_t_time(when);
    return f->at != 0 && att_collateral_new(&f->coll, NULL) == MS_OK &&
           att_collateral_add_file(f->coll, att_t_path("tdx_quote_v4_dcapqvl_collateral.json"),
                                   NULL) == MS_OK;
}

static int fx_v5(struct fixture *f)
{
    char when[40];
    memset(f, 0, sizeof *f);
    if (!att_t_read("tdx_quote_v5_gotdx.dat", &f->q) ||
        !att_t_manifest_after(SEC_V5, "pass at **", when, sizeof when))
        return 0;
    f->at = att_t_time(when);
    f->pol = policy_str("{\"require_collateral\": false}");
    return f->at != 0 && f->pol != NULL;
}

static int fx_snp(struct fixture *f, int allow_debug)
{
    memset(f, 0, sizeof *f);
    f->pol = policy_str(allow_debug ? "{\"allow_debug\": true}" : "{}");
    return att_t_read("snp_report_milan_gosev.bin", &f->q) && f->pol != NULL &&
           att_collateral_new(&f->coll, NULL) == MS_OK &&
           att_collateral_add_file(f->coll, att_t_path("snp_vcek_milan_gosev.der"), NULL) ==
               MS_OK &&
           att_collateral_add_file(f->coll, att_t_path("amd_ask_ark_milan.pem"), NULL) == MS_OK;
}

static int run(const struct fixture *f, const uint8_t *q, size_t len, att_result *r)
{
    ms_err err = {0};
    memset(r, 0, sizeof *r);
    ms_rc rc = att_verify_quote(q, len, f->coll, f->pol, f->at, r, &err);
    return rc == MS_OK && r->ok;
}

static json_t *td_body(const att_result *r)
{
    return json_object_get(json_object_get(r->fields, "quote"), "td_report");
}

TEST(test_attest_tdx_v4_uptodate_with_manifest_fields)
{
    struct fixture f;
    att_result r;
    char want[256];
    CHECK(fx_v4(&f));
    CHECK(run(&f, f.q.p, f.q.len, &r));
    CHECK_STR(r.tcb_status, "UpToDate");
    CHECK_EQ_INT(r.version, 4);
    CHECK(r.signature_ok && r.chain_ok && r.collateral_ok && r.policy_ok);
    CHECK_EQ_INT(json_array_size(json_object_get(r.fields, "advisory_ids")), 0);
    json_t *b = td_body(&r), *h = json_object_get(json_object_get(r.fields, "quote"), "header");
    static const char *const keys[] = {"tee_tcb_svn", "td_attributes", "xfam",       "mr_seam",
                                       "mr_td",       "rt_mr0",        "report_data"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        CHECK(att_t_manifest(SEC_V4, keys[i], want, sizeof want));
        CHECK(att_t_hex_is(b, strcmp(keys[i], "rt_mr0") == 0 ? "rtmr0" : keys[i], want));
    }
    CHECK(att_t_manifest(SEC_V4, "qe_vendor_id", want, sizeof want));
    CHECK(att_t_hex_is(h, "qe_vendor_id", want));
    CHECK(att_t_manifest(SEC_V4, "FMSPC", want, sizeof want));
    CHECK(att_t_hex_is(r.fields, "fmspc", want));
    CHECK_EQ_INT(json_integer_value(json_object_get(h, "tee_type")), 0x81);
    CHECK(json_is_true(json_object_get(b, "td_sept_ve_disable")));
    att_result_free(&r);
    fx_free(&f);
    return 0;
}

TEST(test_attest_tdx_v4_expired_collateral_after_window)
{
    struct fixture f;
    att_result r;
    char end[40];
    CHECK(fx_v4(&f));
    CHECK(att_t_manifest_after(SEC_V4, "10:32:27Z .. ", end, sizeof end));
    time_t close = att_t_time(end);
    CHECK(close == f.at + 1);
    for (time_t t = close; t <= close + 86400; t += 43200) {
        f.at = t;
        CHECK(!run(&f, f.q.p, f.q.len, &r));
        CHECK(strstr(r.reason, "collateral expired") != NULL);
        CHECK(strstr(r.reason, "PCK CRL") != NULL);
        att_result_free(&r);
    }
    /* and before the window opens: not yet valid */
    f.at = att_t_time("2025-06-01T00:00:00Z");
    CHECK(!run(&f, f.q.p, f.q.len, &r));
    CHECK(strstr(r.reason, "not yet valid") != NULL || strstr(r.reason, "collateral") != NULL);
    att_result_free(&r);
    fx_free(&f);
    return 0;
}

TEST(test_attest_tdx_v4_without_collateral_is_unknown)
{
    struct fixture f;
    att_result r;
    CHECK(fx_v4(&f));
    att_collateral_free(f.coll);
    f.coll = NULL;
    CHECK(!run(&f, f.q.p, f.q.len, &r)); /* default policy needs a TCB status */
    CHECK(r.signature_ok && r.chain_ok);
    CHECK_STR(r.tcb_status, "Unknown");
    CHECK(strstr(r.reason, "collateral") != NULL);
    att_result_free(&r);
    f.pol = policy_str("{\"require_collateral\": false}");
    CHECK(run(&f, f.q.p, f.q.len, &r));
    att_result_free(&r);
    fx_free(&f);
    return 0;
}

/* Every bit of a signed region, one bit per byte (rotating) plus all 8 bits of every 16th byte:
 * the quote header+body, the QE report, the QE auth data and the signatures themselves. */
static int flip_region(struct fixture *f, size_t from, size_t to, const char *what)
{
    att_result r;
    uint8_t *q = f->q.p;
    for (size_t i = from; i < to; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            if (i % 16 != 0 && bit != i % 8)
                continue;
            q[i] ^= (uint8_t)(1u << bit);
            int ok = run(f, q, f->q.len, &r);
            q[i] ^= (uint8_t)(1u << bit);
            if (ok || r.reason[0] == 0) {
                fprintf(stderr, "  %s: flip of byte %zu bit %u accepted\n", what, i, bit);
                att_result_free(&r);
                return 0;
            }
            att_result_free(&r);
        }
    }
    return 1;
}

TEST(test_attest_tdx_v4_every_signed_bit_matters)
{
    struct fixture f;
    CHECK(fx_v4(&f));
    struct tdx_quote q;
    CHECK(att__tdx_parse(f.q.p, f.q.len, &q, NULL) == MS_OK);
    size_t sig = (size_t)(q.signature - f.q.p), qe = (size_t)(q.qe_report - f.q.p);
    size_t auth = (size_t)(q.qe_auth.p - f.q.p);
    CHECK_EQ_INT(q.signed_part.len, 632);
    CHECK(flip_region(&f, 0, q.signed_part.len, "header+body"));
    CHECK(flip_region(&f, sig, sig + 128, "signature+attestation key"));
    CHECK(flip_region(&f, qe, qe + TDX_QE_REPORT_LEN + 64, "QE report+signature"));
    CHECK(flip_region(&f, auth, auth + q.qe_auth.len, "QE auth data"));
    /* one flip in the body: the reason names the quote signature */
    att_result r;
    f.q.p[0x30 + 0x88] ^= 1; /* MRTD */
    CHECK(!run(&f, f.q.p, f.q.len, &r));
    CHECK(strstr(r.reason, "quote signature") != NULL);
    att_result_free(&r);
    fx_free(&f);
    return 0;
}

TEST(test_attest_tdx_v4_every_truncation_fails)
{
    struct fixture f;
    att_result r;
    CHECK(fx_v4(&f));
    struct tdx_quote q;
    CHECK(att__tdx_parse(f.q.p, f.q.len, &q, NULL) == MS_OK);
    size_t signed_end = f.q.len - q.trailing; /* 70 zero bytes of padding follow */
    for (size_t n = 0; n < f.q.len; n++) {
        ms_err err = {0};
        memset(&r, 0, sizeof r);
        uint8_t *copy = ms_malloc(NULL, n); /* exact size: ASan sees any over-read */
        CHECK(copy != NULL);
        memcpy(copy, f.q.p, n);
        ms_rc rc = att_verify_quote(copy, n, f.coll, f.pol, f.at, &r, &err);
        ms_free(NULL, copy);
        if (n < signed_end) {
            if (rc == MS_OK && r.ok) {
                fprintf(stderr, "  truncation at %zu accepted\n", n);
                return 1;
            }
            CHECK(r.reason[0] != 0);
        } else {
            CHECK(rc == MS_OK && r.ok); /* only unsigned padding removed */
        }
        att_result_free(&r);
    }
    fx_free(&f);
    return 0;
}

/* Replaces one base64 character inside the n-th PEM certificate of the quote's PCK chain. */
static int damage_cert(uint8_t *q, size_t len, int nth, size_t into)
{
    const char *b = "-----BEGIN CERTIFICATE-----";
    uint8_t *p = q;
    for (int i = 0; i <= nth; i++) {
        p = memmem(p + (i ? 1 : 0), len - (size_t)(p - q) - (i ? 1 : 0), b, strlen(b));
        if (p == NULL)
            return 0;
    }
    p += strlen(b) + 1 + into;
    *p = *p == 'A' ? 'B' : 'A';
    return 1;
}

TEST(test_attest_tdx_bad_certificate_chain)
{
    struct fixture f;
    att_result r;
    CHECK(fx_v4(&f));
    /* inside the signature at the end of each certificate: parses, then fails to chain */
    static const struct {
        int nth;
        size_t into;
    } cases[] = {{0, 900}, {1, 800}, {2, 790}, {0, 300}, {2, 100}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ms_buf c;
        ms_buf_init(&c, NULL, 0);
        CHECK(ms_buf_append(&c, f.q.p, f.q.len, NULL) == MS_OK);
        CHECK(damage_cert(c.p, c.len, cases[i].nth, cases[i].into));
        CHECK(!run(&f, c.p, c.len, &r));
        CHECK(!r.chain_ok || !r.signature_ok);
        CHECK(strstr(r.reason, "PCK") != NULL || strstr(r.reason, "QE report") != NULL);
        fprintf(stderr, "  cert %d byte %zu: %s\n", cases[i].nth, cases[i].into, r.reason);
        att_result_free(&r);
        ms_buf_free(&c);
    }
    /* a chain ending at another root: the collateral's TCB signing chain is valid but the quote's
     * root must be the pinned one; swapping roots is covered by the pinned-root test below */
    fx_free(&f);
    return 0;
}

TEST(test_attest_tdx_v5_manifest_fields)
{
    struct fixture f;
    att_result r;
    char want[256];
    CHECK(fx_v5(&f));
    CHECK(run(&f, f.q.p, f.q.len, &r));
    CHECK_EQ_INT(r.version, 5);
    CHECK(r.signature_ok && r.chain_ok);
    json_t *b = td_body(&r), *h = json_object_get(json_object_get(r.fields, "quote"), "header");
    CHECK_EQ_INT(json_integer_value(json_object_get(h, "body_type")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(h, "body_size")), 648);
    static const char *const keys[] = {"tee_tcb_svn", "tee_tcb_svn2", "mr_td", "report_data",
                                       "td_attributes"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        CHECK(att_t_manifest(SEC_V5, keys[i], want, sizeof want));
        CHECK(att_t_hex_is(b, keys[i], want));
    }
    CHECK(att_t_hex_is(b, "mr_service_td",
                       "000000000000000000000000000000000000000000000000"
                       "000000000000000000000000000000000000000000000000"));
    json_t *s = json_object_get(json_object_get(r.fields, "quote"), "signature_data");
    CHECK_EQ_INT(json_integer_value(json_object_get(s, "signed_length")), 702);
    att_result_free(&r);
    /* the default policy wants collateral (TCB status) */
    att_policy_free(f.pol);
    f.pol = NULL;
    CHECK(!run(&f, f.q.p, f.q.len, &r));
    CHECK(strstr(r.reason, "collateral") != NULL);
    att_result_free(&r);
    /* and it fails after the PCK leaf's notAfter */
    f.pol = policy_str("{\"require_collateral\": false}");
    f.at = att_t_time("2034-01-01T00:00:00Z");
    CHECK(!run(&f, f.q.p, f.q.len, &r));
    CHECK(strstr(r.reason, "expired") != NULL);
    att_result_free(&r);
    fx_free(&f);
    return 0;
}

TEST(test_attest_tdx_v5_every_signed_bit_matters)
{
    struct fixture f;
    CHECK(fx_v5(&f));
    struct tdx_quote q;
    CHECK(att__tdx_parse(f.q.p, f.q.len, &q, NULL) == MS_OK);
    CHECK(flip_region(&f, 0, q.signed_part.len, "v5 header+body"));
    size_t qe = (size_t)(q.qe_report - f.q.p);
    CHECK(flip_region(&f, qe, qe + TDX_QE_REPORT_LEN, "v5 QE report"));
    fx_free(&f);
    return 0;
}

TEST(test_attest_intel_root_is_pinned_and_matches_manifest)
{
    char want[128];
    CHECK(att_t_manifest(SEC_ROOT, "fingerprint:\n ", want, sizeof want) ||
          att_t_manifest_after(SEC_ROOT, "fingerprint:\n  `", want, sizeof want));
    X509 *pinned = att__pinned_intel_root();
    CHECK(pinned != NULL);
    uint8_t fp[32], fp2[32];
    CHECK(att__cert_sha256(pinned, fp));
    char hex[3 * 32 + 1];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 3 * i, 4, "%02X%s", fp[i], i < 31 ? ":" : "");
    CHECK_STR(hex, want);
    ms_buf pem;
    CHECK(att_t_read("intel_sgx_root_ca.pem", &pem));
    STACK_OF(X509) *sk = NULL;
    CHECK(att__pem_certs(pem.p, pem.len, &sk, NULL) == MS_OK);
    CHECK(att__cert_sha256(sk_X509_value(sk, 0), fp2));
    CHECK(memcmp(fp, fp2, 32) == 0);
    sk_X509_pop_free(sk, X509_free);
    X509_free(pinned);
    ms_buf_free(&pem);
    /* the AMD ARK compiled in is the MANIFEST's ARK-Milan */
    CHECK(att_t_manifest_after(SEC_SNP, "ARK-Milan sha256\n  `", want, sizeof want));
    X509 *ark = att__pinned_amd_ark_milan();
    CHECK(ark != NULL && att__cert_sha256(ark, fp));
    for (int i = 0; i < 32; i++)
        snprintf(hex + 3 * i, 4, "%02X%s", fp[i], i < 31 ? ":" : "");
    CHECK_STR(hex, want);
    X509_free(ark);
    return 0;
}

TEST(test_attest_snp_gosev_verifies_but_debug_rejected)
{
    struct fixture f;
    att_result r;
    char want[256];
    CHECK(fx_snp(&f, 0));
    CHECK(!run(&f, f.q.p, f.q.len, &r));
    CHECK(r.signature_ok && r.chain_ok);
    CHECK(strstr(r.reason, "DEBUG") != NULL);
    att_result_free(&r);
    att_policy_free(f.pol);
    f.pol = policy_str("{\"allow_debug\": true}");
    CHECK(run(&f, f.q.p, f.q.len, &r));
    json_t *rep = json_object_get(r.fields, "report");
    CHECK_EQ_INT(r.tee, ATT_TEE_SNP);
    CHECK_EQ_INT(r.version, 2);
    CHECK(att_t_manifest(SEC_SNP, "measurement", want, sizeof want));
    CHECK(att_t_hex_is(rep, "measurement", want));
    CHECK(att_t_manifest(SEC_SNP, "chip_id", want, sizeof want));
    CHECK(att_t_hex_is(rep, "chip_id", want));
    CHECK(att_t_manifest(SEC_SNP, "report_data", want, sizeof want));
    CHECK(att_t_hex_is(rep, "report_data", want));
    CHECK(att_t_hex_is(rep, "report_data",
                       "0102030405" /* then 59 zero bytes: */
                       "0000000000000000000000000000000000000000000000"
                       "0000000000000000000000000000000000000000000000"
                       "00000000000000000000000000"));
    CHECK(att_t_manifest_after(SEC_SNP, "**policy 0x", want, sizeof want));
    unsigned long pol = strtoul(want, NULL, 16);
    json_t *pj = json_object_get(rep, "policy");
    CHECK_EQ_INT(strtoul(json_string_value(json_object_get(pj, "raw")), NULL, 16), pol);
    CHECK(json_is_true(json_object_get(pj, "debug")) && json_is_true(json_object_get(pj, "smt")));
    CHECK(att_t_manifest_after(SEC_SNP, "launch TCB 0x", want, sizeof want));
    static const char *const tcbs[] = {"current_tcb", "reported_tcb", "committed_tcb",
                                       "launch_tcb"};
    for (int i = 0; i < 4; i++)
        CHECK(att_t_hex_is(json_object_get(rep, tcbs[i]), "raw", want));
    json_t *t = json_object_get(rep, "reported_tcb");
    CHECK(att_t_manifest_after(SEC_SNP, "(bl ", want, sizeof want));
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "bl")), strtol(want, NULL, 10));
    CHECK(att_t_manifest_after(SEC_SNP, "snp ", want, sizeof want));
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "snp")), strtol(want, NULL, 10));
    CHECK(att_t_manifest_after(SEC_SNP, "ucode ", want, sizeof want));
    CHECK_EQ_INT(json_integer_value(json_object_get(t, "microcode")), strtol(want, NULL, 10));
    CHECK_STR(json_string_value(json_object_get(rep, "signing_key")), "VCEK");
    CHECK_EQ_INT(json_integer_value(json_object_get(rep, "vmpl")), 0);
    CHECK(json_is_true(json_object_get(json_object_get(r.fields, "checks"), "vcek_tcb")));
    CHECK(json_is_true(json_object_get(json_object_get(r.fields, "checks"), "vcek_chip_id")));
    att_result_free(&r);
    fx_free(&f);
    return 0;
}

TEST(test_attest_snp_every_signed_bit_matters)
{
    struct fixture f;
    CHECK(fx_snp(&f, 1));
    CHECK(flip_region(&f, 0, SNP_SIGNED_LEN, "SNP report"));
    CHECK(flip_region(&f, 0x2A0, 0x2A0 + 144, "SNP signature"));
    att_result r;
    f.q.p[0x90] ^= 0x80; /* MEASUREMENT */
    CHECK(!run(&f, f.q.p, f.q.len, &r));
    CHECK(strstr(r.reason, "signature") != NULL);
    att_result_free(&r);
    fx_free(&f);
    return 0;
}

TEST(test_attest_snp_truncation_and_bad_chain)
{
    struct fixture f;
    att_result r;
    CHECK(fx_snp(&f, 1));
    for (size_t n = 0; n < f.q.len; n++) {
        ms_err err = {0};
        memset(&r, 0, sizeof r);
        ms_rc rc = att_verify_quote(f.q.p, n, f.coll, f.pol, f.at, &r, &err);
        CHECK(rc != MS_OK || !r.ok);
        CHECK(r.reason[0] != 0);
        att_result_free(&r);
    }
    fx_free(&f);
    /* VCEK without the ASK: no chain to the pinned ARK */
    memset(&f, 0, sizeof f);
    CHECK(att_t_read("snp_report_milan_gosev.bin", &f.q));
    f.pol = policy_str("{\"allow_debug\": true}");
    CHECK(att_collateral_new(&f.coll, NULL) == MS_OK);
    CHECK(att_collateral_add_file(f.coll, att_t_path("snp_vcek_milan_gosev.der"), NULL) == MS_OK);
    CHECK(!run(&f, f.q.p, f.q.len, &r));
    CHECK(!r.chain_ok && r.signature_ok);
    CHECK(strstr(r.reason, "chain") != NULL);
    att_result_free(&r);
    att_collateral_free(f.coll);
    /* a VCEK with one altered signature byte */
    ms_buf der;
    CHECK(att_t_read("snp_vcek_milan_gosev.der", &der));
    der.p[der.len - 10] ^= 1;
    CHECK(att_collateral_new(&f.coll, NULL) == MS_OK);
    X509 *x = NULL;
    CHECK(att__der_cert(der.p, der.len, &x, NULL) == MS_OK);
    BIO *b = BIO_new(BIO_s_mem());
    CHECK(PEM_write_bio_X509(b, x));
    char *pem;
    long pl = BIO_get_mem_data(b, &pem);
    CHECK(att_collateral_add_pem(f.coll, (uint8_t *)pem, (size_t)pl, NULL) == MS_OK);
    CHECK(att_collateral_add_file(f.coll, att_t_path("amd_ask_ark_milan.pem"), NULL) == MS_OK);
    CHECK(!run(&f, f.q.p, f.q.len, &r));
    CHECK(!r.chain_ok);
    CHECK(strstr(r.reason, "chain") != NULL);
    att_result_free(&r);
    BIO_free(b);
    X509_free(x);
    ms_buf_free(&der);
    /* no VCEK at all */
    att_collateral_free(f.coll);
    f.coll = NULL;
    CHECK(!run(&f, f.q.p, f.q.len, &r));
    CHECK(strstr(r.reason, "VCEK") != NULL);
    att_result_free(&r);
    fx_free(&f);
    return 0;
}

TEST(test_attest_policy_pins_and_rejects)
{
    struct fixture f;
    att_result r;
    char mrtd[128], buf[512];
    CHECK(fx_v4(&f));
    CHECK(att_t_manifest(SEC_V4, "mr_td", mrtd, sizeof mrtd));
    snprintf(buf, sizeof buf,
             "{\"tee\":\"tdx\",\"tdx\":{\"mrtd\":[\"%s\"],"
             "\"require_sept_ve_disable\":true}}",
             mrtd);
    f.pol = policy_str(buf);
    CHECK(f.pol != NULL);
    CHECK(run(&f, f.q.p, f.q.len, &r));
    att_result_free(&r);
    att_policy_free(f.pol);
    mrtd[0] = mrtd[0] == '0' ? '1' : '0';
    snprintf(buf, sizeof buf, "{\"tdx\":{\"mrtd\":\"%s\"}}", mrtd);
    f.pol = policy_str(buf);
    CHECK(!run(&f, f.q.p, f.q.len, &r));
    CHECK(strstr(r.reason, "mrtd") != NULL);
    CHECK(r.signature_ok && r.chain_ok && !r.policy_ok);
    att_result_free(&r);
    att_policy_free(f.pol);
    f.pol = policy_str("{\"tee\":\"sev-snp\"}");
    CHECK(!run(&f, f.q.p, f.q.len, &r));
    CHECK(strstr(r.reason, "requires SEV-SNP") != NULL);
    att_result_free(&r);
    att_policy_free(f.pol);
    f.pol = policy_str("{\"tcb_status\":[\"OutOfDate\"]}");
    CHECK(!run(&f, f.q.p, f.q.len, &r));
    CHECK(strstr(r.reason, "UpToDate is not accepted") != NULL);
    att_result_free(&r);
    /* SEPT_VE_DISABLE is required by default (the flip also breaks the signature; the policy
     * check is recorded on its own) */
    att_policy_free(f.pol);
    f.pol = NULL;
    f.q.p[0x30 + 0x78 + 3] ^= 0x10;
    CHECK(!run(&f, f.q.p, f.q.len, &r));
    CHECK(json_is_false(
        json_object_get(json_object_get(r.fields, "checks"), "policy_sept_ve_disable")));
    att_result_free(&r);
    f.q.p[0x30 + 0x78 + 3] ^= 0x10;
    /* a typo must not weaken a policy */
    CHECK(policy_str("{\"tdx\":{\"mrdt\":\"00\"}}") == NULL);
    CHECK(policy_str("{\"alow_debug\":true}") == NULL);
    CHECK(policy_str("{\"tdx\":{\"mrtd\":\"abcd\"}}") == NULL);
    fx_free(&f);
    return 0;
}

TEST(test_attest_ratls_gramine_binding)
{
    ms_buf c;
    char want[128];
    CHECK(att_t_read("ratls_interop_gramine_cert.pem", &c));
    json_t *o = json_object();
    ms_err err = {0};
    CHECK(att__ratls_check(c.p, c.len, o, &err) == MS_OK);
    CHECK(json_is_true(json_object_get(o, "pubkey_hash_matches")));
    CHECK(json_is_true(json_object_get(o, "claims_bound")));
    CHECK(att_t_manifest(SEC_RATLS, "SHA256(SPKI) =", want, sizeof want) ||
          att_t_manifest_after(SEC_RATLS, "SHA256(SPKI) = `", want, sizeof want));
    CHECK(att_t_hex_is(o, "spki_sha256", want));
    CHECK(att_t_manifest(SEC_RATLS, "MRENCLAVE", want, sizeof want));
    CHECK(att_t_hex_is(o, "mr_enclave", want));
    CHECK(att_t_manifest(SEC_RATLS, "MRSIGNER", want, sizeof want));
    CHECK(att_t_hex_is(o, "mr_signer", want));
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "quote_version")), 3);
    json_decref(o);
    /* the certificate's key does not match another certificate's claims */
    ms_buf v;
    CHECK(att_t_read("intel_sgx_root_ca.pem", &v));
    o = json_object();
    CHECK(att__ratls_check(v.p, v.len, o, NULL) == MS_E_NOTFOUND);
    json_decref(o);
    ms_buf_free(&v);
    ms_buf_free(&c);
    return 0;
}

static json_t *evidence_with(const uint8_t *q, size_t len, const uint8_t *nonce, size_t nl,
                             const uint8_t key[32])
{
    ms_buf b64;
    char hex[2 * ATT_NONCE_MAX + 1], kh[65];
    ms_buf_init(&b64, NULL, 0);
    ms_b64_encode(q, len, &b64, NULL);
    for (size_t i = 0; i < nl; i++)
        snprintf(hex + 2 * i, 3, "%02x", nonce[i]);
    hex[2 * nl] = 0;
    for (size_t i = 0; i < 32; i++)
        snprintf(kh + 2 * i, 3, "%02x", key[i]);
    json_t *e = json_pack("{s:s,s:s,s:b,s:s,s:s,s:s}", "format", "medseal-evidence/1", "provider",
                          "sev-snp", "attested", 1, "nonce", hex, "tls_pubkey_sha256", kh, "quote",
                          (const char *)b64.p);
    ms_buf_free(&b64);
    return e;
}

TEST(test_attest_evidence_binds_nonce_and_tls_key)
{
    struct fixture f;
    att_result r = {0};
    uint8_t nonce[32], key[32], rd[64], other[32];
    CHECK(fx_snp(&f, 1));
    CHECK(ms_random(nonce, 32, NULL) == MS_OK && ms_random(key, 32, NULL) == MS_OK);
    memcpy(other, key, 32);
    other[0] ^= 1;
    /* REPORT_DATA set to the binding (the signature then fails, the binding check is separate) */
    CHECK(att_reportdata(nonce, 32, key, rd, NULL) == MS_OK);
    memcpy(f.q.p + 0x50, rd, 64);
    json_t *ev = evidence_with(f.q.p, f.q.len, nonce, 32, key);
    CHECK(att_verify_evidence(ev, nonce, 32, key, f.coll, f.pol, 0, 0, &r, NULL) == MS_OK);
    json_t *checks = json_object_get(r.fields, "checks");
    CHECK(json_is_true(json_object_get(checks, "report_data_binding")));
    CHECK(!r.ok && !r.signature_ok); /* REPORT_DATA is signed: altering it breaks the report */
    att_result_free(&r);
    json_decref(ev);
    /* the genuine report (REPORT_DATA 0102030405..) answers no nonce of ours */
    fx_free(&f);
    CHECK(fx_snp(&f, 1));
    ev = evidence_with(f.q.p, f.q.len, nonce, 32, key);
    CHECK(att_verify_evidence(ev, nonce, 32, key, f.coll, f.pol, 0, 0, &r, NULL) == MS_OK);
    CHECK(r.signature_ok && r.chain_ok && !r.ok);
    CHECK(strstr(r.reason, "REPORTDATA does not bind") != NULL);
    att_result_free(&r);
    /* wrong nonce / wrong TLS key echoed by the server */
    uint8_t n2[32];
    memcpy(n2, nonce, 32);
    n2[31] ^= 0x40;
    CHECK(att_verify_evidence(ev, n2, 32, key, f.coll, f.pol, 0, 0, &r, NULL) == MS_OK);
    CHECK(!r.ok && strstr(r.reason, "another nonce") != NULL);
    att_result_free(&r);
    CHECK(att_verify_evidence(ev, nonce, 32, other, f.coll, f.pol, 0, 0, &r, NULL) == MS_OK);
    CHECK(!r.ok && strstr(r.reason, "another TLS key") != NULL);
    att_result_free(&r);
    json_decref(ev);
    /* the binding is SHA-512(nonce || key) */
    uint8_t buf[64], want[64];
    memcpy(buf, nonce, 32);
    memcpy(buf + 32, key, 32);
    att__sha512(buf, 64, want);
    CHECK(att_reportdata(nonce, 32, key, rd, NULL) == MS_OK && memcmp(rd, want, 64) == 0);
    CHECK(att_reportdata(nonce, ATT_NONCE_MAX + 1, key, rd, NULL) == MS_E_INVAL);
    fx_free(&f);
    return 0;
}

TEST(test_attest_provider_none_is_unattested)
{
    att_provider *p = NULL;
    ms_err err = {0};
    uint8_t key[32] = {1, 2, 3}, nonce[16] = {9}, h[32], want[32];
    CHECK(att_provider_open("none", &p, &err) == MS_OK);
    CHECK_STR(att_provider_kind(p), "none");
    CHECK(!att_provider_attested(p));
    json_t *ev = NULL;
    CHECK(att_evidence_json(p, nonce, sizeof nonce, key, &ev, &err) == MS_OK);
    CHECK_STR(json_string_value(json_object_get(ev, "status")), "UNATTESTED");
    CHECK(json_is_false(json_object_get(ev, "attested")));
    CHECK(json_object_get(ev, "quote") == NULL);
    att_result r = {0};
    CHECK(att_verify_evidence(ev, nonce, sizeof nonce, key, NULL, NULL, 0, 0, &r, &err) == MS_OK);
    CHECK(!r.ok && strstr(r.reason, "UNATTESTED") != NULL);
    att_result_free(&r);
    CHECK(att_verify_evidence(ev, nonce, sizeof nonce, key, NULL, NULL, ATT_LIVE_ALLOW_UNATTESTED,
                              0, &r, &err) == MS_OK);
    CHECK(r.ok);
    CHECK_STR(r.tcb_status, "UNATTESTED");
    att_result_free(&r);
    json_decref(ev);
    CHECK(att_evidence_hash(p, key, h, &err) == MS_OK);
    att__sha256("UNATTESTED", 10, want);
    CHECK(memcmp(h, want, 32) == 0);
    CHECK(att_evidence_json(p, nonce, ATT_NONCE_MAX + 1, key, &ev, &err) == MS_E_INVAL);
    att_provider_free(p);
    att_provider_free(NULL);
    return 0;
}

TEST(test_attest_provider_absent_tee_is_a_clear_error)
{
    att_provider_cfg cfg = {0};
    att_provider *p = NULL;
    ms_err err = {0};
    char tsm[600];
    snprintf(tsm, sizeof tsm, "%s/no-tsm", ms_test_tmpdir());
    cfg.kind = "auto";
    cfg.tsm_dir = tsm;
    cfg.tdx_dev = "/nonexistent/tdx_guest";
    cfg.sev_dev = "/nonexistent/sev-guest";
    CHECK(att_provider_open_cfg(&cfg, &p, &err) == MS_E_NOTFOUND);
    CHECK(strstr(err.msg, "no TEE found") != NULL);
    ms_err_clear(&err);
    cfg.kind = "tdx";
    CHECK(att_provider_open_cfg(&cfg, &p, &err) == MS_E_NOTFOUND);
    CHECK(strstr(err.msg, "TDX evidence unavailable") != NULL);
    ms_err_clear(&err);
    cfg.kind = "sgx";
    CHECK(att_provider_open_cfg(&cfg, &p, &err) == MS_E_INVAL);
    CHECK(p == NULL);
    return 0;
}

TEST(test_attest_configfs_tsm_generation_check)
{
    /* A plain folder stands in for configfs: the entry is created, but nothing bumps the
     * generation as the kernel would, so the provider must refuse the outblob. */
    char tsm[600];
    att_provider_cfg cfg = {0};
    att_provider *p = NULL;
    ms_err err = {0};
    snprintf(tsm, sizeof tsm, "%s/tsm", ms_test_tmpdir());
    CHECK(ms_test_sh(NULL, "mkdir -p '%s'", tsm) == 0);
    cfg.kind = "tdx";
    cfg.tsm_dir = tsm;
    CHECK(att_provider_open_cfg(&cfg, &p, &err) == MS_OK);
    CHECK_STR(att_provider_mechanism(p), "configfs-tsm");
    uint8_t key[32] = {0};
    json_t *ev = NULL;
    CHECK(att_evidence_json(p, NULL, 0, key, &ev, &err) != MS_OK);
    CHECK(strstr(err.msg, "configfs-tsm") != NULL);
    /* the entry it made is gone again */
    char *out = NULL;
    CHECK(ms_test_sh(&out, "ls -A '%s' | wc -l", tsm) == 0);
    CHECK(out != NULL && atoi(out) == 0);
    free(out);
    att_provider_free(p);
    return 0;
}

TEST(test_attest_gpu_absent_without_nvml)
{
    json_t *o = json_object();
    uint8_t n[32] = {0};
    att__gpu_evidence(n, o);
    if (json_is_true(json_object_get(o, "present"))) {
        json_decref(o);
        SKIP("a confidential-computing GPU is present on this host");
    }
    CHECK(json_is_false(json_object_get(o, "present")));
    const char *why = json_string_value(json_object_get(o, "reason"));
    CHECK(why != NULL && (strstr(why, "NVML") != NULL || strstr(why, "GPU") != NULL));
    json_decref(o);
    return 0;
}

TEST(test_attest_parse_json_and_garbage)
{
    ms_buf q;
    json_t *j = NULL;
    ms_err err = {0};
    CHECK(att_t_read("tdx_quote_v4_dcapqvl.bin", &q));
    CHECK(att_parse_json(q.p, q.len, &j, &err) == MS_OK);
    CHECK(json_object_get(j, "td_report") != NULL);
    json_decref(j);
    static const uint8_t junk[] = {5, 0, 2, 0, 0x81, 0, 0, 0};
    att_result r = {0};
    CHECK(att_verify_quote(junk, sizeof junk, NULL, NULL, 0, &r, &err) != MS_OK);
    CHECK(strstr(r.reason, "truncated") != NULL);
    att_result_free(&r);
    ms_err_clear(&err);
    CHECK(att_verify_quote(q.p, 0, NULL, NULL, 0, &r, &err) != MS_OK);
    CHECK(r.reason[0] != 0);
    att_result_free(&r);
    /* wrong QE vendor id */
    q.p[12] ^= 1;
    ms_err_clear(&err);
    CHECK(att_verify_quote(q.p, q.len, NULL, NULL, 0, &r, &err) != MS_OK);
    CHECK(strstr(r.reason, "vendor") != NULL);
    att_result_free(&r);
    ms_buf_free(&q);
    return 0;
}

TEST(test_attest_fuzz_corpus_replays)
{
    char *list = NULL;
    int n = 0;
    CHECK(ms_test_sh(&list, "ls %s/fuzz/attest/corpus 2>/dev/null", ms_test_root()) == 0);
    for (char *name = strtok(list ? list : (char *)"", "\n"); name; name = strtok(NULL, "\n")) {
        char path[1200];
        ms_buf b;
        snprintf(path, sizeof path, "%s/fuzz/attest/corpus/%s", ms_test_root(), name);
        ms_buf_init(&b, NULL, 0);
        if (ms_file_read(path, NULL, 0, &b, NULL) != MS_OK)
            continue;
        json_t *j = NULL;
        if (att_parse_json(b.p, b.len, &j, NULL) == MS_OK)
            json_decref(j);
        att_result r = {0};
        att_verify_quote(b.p, b.len, NULL, NULL, 0, &r, NULL);
        att_result_free(&r);
        ms_buf_free(&b);
        n++;
    }
    free(list);
    CHECK(n > 0);
    return 0;
}

/* A configfs-tsm entry imitated with a regular "generation" file that the step hook rewrites after
 * each read, as the kernel's counter (or another writer) would move it. 0,1,1: one write, no race
 * -> the outblob is returned; 0,2,2 or 4,5,6: another writer interfered -> refused. */
static const int *tsm_gens;

static void tsm_hook(const char *entry, int step)
{
    char path[800];
    snprintf(path, sizeof path, "%s/generation", entry);
    FILE *f = step < 2 ? fopen(path, "w") : NULL;
    if (f != NULL) {
        fprintf(f, "%d\n", tsm_gens[step + 1]);
        fclose(f);
    }
}

static int tsm_case(const int gens[3], int want_ok)
{
    char entry[700];
    snprintf(entry, sizeof entry, "%s/entry-%d%d%d", ms_test_tmpdir(), gens[0], gens[1], gens[2]);
    if (ms_test_sh(NULL,
                   "mkdir -p '%s' && cd '%s' && printf '%d\\n' > generation && "
                   "printf sev_guest > provider && : > inblob && cp '%s' outblob",
                   entry, entry, gens[0], att_t_path("snp_report_milan_gosev.bin")) != 0)
        return 0;
    tsm_gens = gens;
    att__tsm_gen_hook = tsm_hook;
    uint8_t rd[64];
    memset(rd, 0xab, sizeof rd);
    ms_buf q, aux, in;
    ms_err err = {0};
    ms_buf_init(&q, NULL, 0);
    ms_buf_init(&aux, NULL, 0);
    ms_buf_init(&in, NULL, 0);
    ms_rc rc = att__tsm_once(entry, rd, &q, &aux, &err);
    att__tsm_gen_hook = NULL;
    int ok = want_ok ? rc == MS_OK && q.len == SNP_REPORT_LEN
                     : rc == MS_E_VERIFY && strstr(err.msg, "concurrent writer") != NULL;
    if (!ok)
        fprintf(stderr, "  generations %d %d %d: rc %d %s\n", gens[0], gens[1], gens[2], rc,
                err.msg);
    char path[800];
    snprintf(path, sizeof path, "%s/inblob", entry); /* the request reached inblob */
    if (want_ok)
        ok = ok && ms_file_read(path, NULL, 0, &in, NULL) == MS_OK && in.len == 64 &&
             memcmp(in.p, rd, 64) == 0;
    ms_buf_free(&in);
    ms_buf_free(&q);
    ms_buf_free(&aux);
    return ok;
}

TEST(test_attest_configfs_tsm_request_and_race)
{
    static const int clean[3] = {0, 1, 1}, raced[3] = {0, 2, 2}, moving[3] = {4, 5, 6};
    CHECK(tsm_case(clean, 1));
    CHECK(tsm_case(raced, 0));
    CHECK(tsm_case(moving, 0));
    return 0;
}

TEST(test_attest_snp_certificate_table)
{
    /* auxblob: [VCEK guid, off, len], [zero entry], then the DER */
    static const uint8_t vcek_guid[16] = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                                          0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
    ms_buf der, aux, pem;
    CHECK(att_t_read("snp_vcek_milan_gosev.der", &der));
    ms_buf_init(&aux, NULL, 0);
    ms_buf_init(&pem, NULL, 0);
    uint8_t ent[48] = {0};
    memcpy(ent, vcek_guid, 16);
    ms_store_u32le(ent + 16, 48);
    ms_store_u32le(ent + 20, (uint32_t)der.len);
    CHECK(ms_buf_append(&aux, ent, 48, NULL) == MS_OK);
    CHECK(ms_buf_append(&aux, der.p, der.len, NULL) == MS_OK);
    CHECK(att__cert_table_pem(&aux, &pem, NULL) == MS_OK);
    STACK_OF(X509) *sk = NULL;
    CHECK(att__pem_certs(pem.p, pem.len, &sk, NULL) == MS_OK);
    CHECK_EQ_INT(sk_X509_num(sk), 1);
    char cn[64];
    att__cert_cn(sk_X509_value(sk, 0), cn, sizeof cn);
    CHECK_STR(cn, "SEV-VCEK");
    sk_X509_pop_free(sk, X509_free);
    /* an entry pointing past the blob is refused */
    ms_store_u32le(aux.p + 20, (uint32_t)der.len + 1);
    ms_buf_reset(&pem);
    CHECK(att__cert_table_pem(&aux, &pem, NULL) == MS_E_FORMAT);
    /* a table without its terminator is truncated */
    ms_buf t;
    ms_buf_init(&t, NULL, 0);
    CHECK(ms_buf_append(&t, ent, 20, NULL) == MS_OK);
    CHECK(att__cert_table_pem(&t, &pem, NULL) == MS_E_TRUNC);
    ms_buf_free(&t);
    ms_buf_free(&der);
    ms_buf_free(&aux);
    ms_buf_free(&pem);
    return 0;
}

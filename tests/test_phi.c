/*
 * Tests of src/phi: detection of every Safe Harbor class, date forms, clinical negatives, ZIP
 * prefixes, identity-aware variants, tag and surrogate replacement, re-identification (one-shot
 * and split across chunks), fail-closed errors, an allocation-failure sweep, the CLI, and a
 * replay of the fuzz corpus.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medseal/core.h"
#include "medseal/phi.h"
#include "test.h"

static const uint8_t KEY[MS_KEY_LEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                        12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                        23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* Scrubs `text`; returns owned output (free()) and fills spans (phi_spans_free). */
static char *scrub(phi_ctx *ctx, const char *text, phi_span **sp, size_t *ns)
{
    ms_buf out;
    ms_err err = {0};
    ms_buf_init(&out, NULL, 0);
    if (phi_scrub(ctx, text, strlen(text), &out, sp, ns, &err) != MS_OK) {
        fprintf(stderr, "  scrub failed: %s\n", err.msg);
        ms_buf_free(&out);
        return NULL;
    }
    char *r = strdup(out.len ? (char *)out.p : "");
    ms_buf_free(&out);
    return r;
}

static phi_ctx *ctx_tag(void)
{
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.mode = PHI_MODE_TAG;
    o.key = KEY;
    phi_ctx *c = NULL;
    return phi_ctx_new(&o, &c, NULL) == MS_OK ? c : NULL;
}

/* The class of the span covering byte offset `at` of the input, or -1. */
static int class_at(const phi_span *sp, size_t ns, size_t at)
{
    for (size_t k = 0; k < ns; k++)
        if (sp[k].start <= at && at < sp[k].end)
            return (int)sp[k].cls;
    return -1;
}

struct want {
    const char *text; /* contains exactly one PHI value, `value` */
    const char *value;
    phi_class cls;
};

static int check_wants(phi_ctx *c, const struct want *w, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        phi_span *sp = NULL;
        size_t ns = 0;
        char *out = scrub(c, w[k].text, &sp, &ns);
        CHECK(out != NULL);
        const char *v = strstr(w[k].text, w[k].value);
        CHECK(v != NULL);
        int cls = class_at(sp, ns, (size_t)(v - w[k].text));
        if (cls != (int)w[k].cls || strstr(out, w[k].value) != NULL) {
            fprintf(stderr, "  case %zu: got class %s, output \"%s\"\n", k,
                    cls >= 0 ? phi_class_name((phi_class)cls) : "none", out);
            free(out);
            phi_spans_free(c, sp);
            return 1;
        }
        free(out);
        phi_spans_free(c, sp);
    }
    return 0;
}

TEST(test_phi_every_safe_harbor_class)
{
    static const struct want w[] = {
        {"Seen by Dr. Marguerite Wojciechowski today.", "Wojciechowski", PHI_NAME},
        {"Patient Benedikt Lindqvist was admitted.", "Lindqvist", PHI_NAME},
        {"Seen today: Lindqvist, Maria.", "Lindqvist", PHI_NAME},
        {"Name: LINDQVIST^BENEDIKT^K", "LINDQVIST", PHI_NAME},
        {"The patient, Anna S., reports pain.", "Anna S.", PHI_NAME},
        {"His daughter Maria called.", "Maria", PHI_NAME},
        {"Follow-up on 03/14/2023 in clinic.", "03/14/2023", PHI_DATE},
        {"A 92-year-old man with cough.", "92", PHI_AGE},
        {"Home: 1637 Old Mill Way, Fort Wexley, TX 75243.", "1637 Old Mill Way", PHI_ADDRESS},
        {"Home: 1637 Old Mill Way, Fort Wexley, TX 75243.", "Fort Wexley", PHI_LOCATION},
        {"Home: 1637 Old Mill Way, Fort Wexley, TX 75243.", "75243", PHI_ZIP},
        {"Transferred from Bramblewood Regional Medical Center.", "Bramblewood", PHI_LOCATION},
        {"She moved to Chicago last year.", "Chicago", PHI_LOCATION},
        {"Call (230) 599-8090 after 5.", "599-8090", PHI_PHONE},
        {"Fax: 230-599-8091", "230-599-8091", PHI_FAX},
        {"Mail benedikt.lindqvist@example-mail.test today", "benedikt.lindqvist@", PHI_EMAIL},
        {"SSN 533-58-4439 on file", "533-58-4439", PHI_SSN},
        {"MRN: 70329669", "70329669", PHI_MRN},
        {"MRN70329669 was merged", "MRN70329669", PHI_MRN},
        {"Account number 4481-22-9001", "4481-22-9001", PHI_ACCOUNT},
        {"Card 4111 1111 1111 1111 on file", "4111 1111", PHI_ACCOUNT},
        {"Member ID: XJH88812341", "XJH88812341", PHI_HEALTH_PLAN},
        {"Driver license D1234-5678-9012", "D1234", PHI_LICENSE},
        {"VIN 1HGCM82633A004352 in the report", "1HGCM82633A004352", PHI_VEHICLE},
        {"Pacemaker serial number PX-882211-B", "PX-882211-B", PHI_DEVICE},
        {"See https://portal.example.org/p/123 for images", "portal.example.org", PHI_URL},
        {"Upload from 192.168.10.42 failed", "192.168.10.42", PHI_IP},
        {"Upload from 2001:db8:85a3::8a2e:370:7334 failed", "2001:db8:85a3", PHI_IP},
        {"Study UID 1.2.826.0.1.3680043.10.1138.31722 attached", "1.2.826.0.1.3680043", PHI_ID},
        {"Ref HX-595185 in the chart", "HX-595185", PHI_ID},
    };
    phi_ctx *c = ctx_tag();
    CHECK(c != NULL);
    int r = check_wants(c, w, sizeof w / sizeof w[0]);
    phi_ctx_free(c);
    return r;
}

TEST(test_phi_date_forms)
{
    static const char *const forms[] = {"03/14/2023",
                                        "3/14/23",
                                        "14.03.2023",
                                        "2023-03-14",
                                        "14-Mar-2023",
                                        "March 14th, 2023",
                                        "Mar. 14, 2023",
                                        "14 March 2023",
                                        "March 2023",
                                        "20230314",
                                        "20230314101500",
                                        "Tuesday the 14th",
                                        "Tuesday, March 14",
                                        "the 14th of March",
                                        "14 de marzo de 2023",
                                        "3/14",
                                        "03/2023",
                                        "Feb 2nd 2021",
                                        "14MAR2023"};
    phi_ctx *c = ctx_tag();
    CHECK(c != NULL);
    for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
        char text[128];
        snprintf(text, sizeof text, "Seen on %s for follow-up.", forms[k]);
        phi_span *sp = NULL;
        size_t ns = 0;
        char *out = scrub(c, text, &sp, &ns);
        CHECK(out != NULL);
        size_t at = 8 + strcspn(forms[k], "0123456789");
        if (forms[k][at - 8] == '\0')
            at = 8;
        int ok = ns >= 1 && class_at(sp, ns, at) == PHI_DATE && strstr(out, "[DATE]") != NULL;
        /* nothing of the date but an article may remain */
        if (!ok)
            fprintf(stderr, "  form \"%s\": \"%s\"\n", forms[k], out);
        free(out);
        phi_spans_free(c, sp);
        CHECK(ok);
    }
    phi_ctx_free(c);
    return 0;
}

TEST(test_phi_clinical_negatives)
{
    static const char *const neg[] = {
        "There is a 5.0 mm solid nodule in the right middle lobe. No pleural effusion.",
        "IMPRESSION: 6.6 mm solid nodule, RML. Lung-RADS 3.",
        "BP 120/80, HR 72, SpO2 98% on room air; 2/3 of doses taken.",
        "History of Crohn's disease and Parkinson's disease; Wells score of 3.",
        "T2-weighted images at L4-L5 show no stenosis. HbA1c 7.2%, eGFR 45 mL/min/1.73m2.",
        "A 45-year-old male with Type 2 Diabetes diagnosed in 2019, CHADS2 score 2.",
        "Follow-up CT in 12 months per Fleischner 2017 guidelines.",
        "Stevens-Johnson syndrome; positive Babinski sign; Glasgow Coma Scale 15.",
        "Metformin 500 mg twice daily, lisinopril 10 mg; 1,000 mL fluids over 24 hours.",
        "EXAMINATION: CT CHEST WITHOUT CONTRAST\nCLINICAL HISTORY: 67 year old male smoker.\n"
        "TECHNIQUE: Axial images at 1.25 mm. Dose: CTDIvol 4.2 mGy, DLP 150 mGy-cm.\n"
        "Lungs: 6 mm solid nodule in the right upper lobe (series 3, image 45).",
        "Bones: Schmorl node at T8. Lung-RADS 3; recommend 6 month LDCT. Discussed by telephone "
        "at 14:32. Electronically signed by: Radiology Attending",
        "Seen in the Emergency Department. Transferred to the Intensive Care Unit. Discussed at "
        "Tumor Board. Fleischner Society recommendations do not apply.",
        "Parkinson disease, Hodgkin lymphoma, Graves disease; given Lipitor 40 mg and Eliquis 5 "
        "mg.",
        "Mass 16x10x13mm (prior 8x12x13 cm); platelets 47.000/l, eos 2800/uL; variant c.3524delG "
        "(p.Gly1175Valfs*64).",
    };
    phi_ctx *c = ctx_tag();
    CHECK(c != NULL);
    for (size_t k = 0; k < sizeof neg / sizeof neg[0]; k++) {
        phi_span *sp = NULL;
        size_t ns = 0;
        char *out = scrub(c, neg[k], &sp, &ns);
        CHECK(out != NULL);
        if (ns != 0)
            fprintf(stderr, "  negative %zu: \"%s\"\n", k, out);
        free(out);
        phi_spans_free(c, sp);
        CHECK_EQ_INT(ns, 0);
    }
    phi_ctx_free(c);
    return 0;
}

TEST(test_phi_zip3_restricted_prefixes)
{
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.mode = PHI_MODE_TAG;
    o.keep_zip3 = 1;
    phi_ctx *c = NULL;
    CHECK(phi_ctx_new(&o, &c, NULL) == MS_OK);
    char *a = scrub(c, "Dallas, TX 75243-1234", NULL, NULL);
    char *b = scrub(c, "Reno, NV 89301", NULL, NULL); /* 893: restricted */
    CHECK(a != NULL && b != NULL);
    CHECK(strstr(a, "752XX") != NULL && strstr(a, "75243") == NULL);
    CHECK(strstr(b, "000XX") != NULL && strstr(b, "893") == NULL);
    free(a);
    free(b);
    phi_ctx_free(c);
    o.mode = PHI_MODE_SURROGATE;
    o.key = KEY;
    CHECK(phi_ctx_new(&o, &c, NULL) == MS_OK);
    a = scrub(c, "Reno, NV 89301", NULL, NULL);
    CHECK(a != NULL && strstr(a, "NV 000") != NULL);
    free(a);
    phi_ctx_free(c);
    return 0;
}

TEST(test_phi_ages_over_89_only)
{
    phi_ctx *c = ctx_tag();
    CHECK(c != NULL);
    size_t ns = 0;
    char *a = scrub(c, "A 92-year-old woman; her husband is 95 years old; aged 101.", NULL, &ns);
    CHECK(a != NULL);
    CHECK_EQ_INT(ns, 3);
    CHECK(strstr(a, "92") == NULL && strstr(a, "95") == NULL && strstr(a, "101") == NULL);
    free(a);
    a = scrub(c, "A 45-year-old woman; 89 years old; 90 mg daily.", NULL, &ns);
    CHECK(a != NULL);
    CHECK_EQ_INT(ns, 0);
    free(a);
    phi_ctx_free(c);
    return 0;
}

static void identity(phi_identity *id)
{
    memset(id, 0, sizeof *id);
    id->dicom_name = "Lindqvist^Benedikt^Karl";
    id->patient_id = "MRN70329669";
    id->issuer = "NORTHGATE-HIS";
    id->birth_date = "19510216";
    id->phones[0] = "(230) 599-8090";
    id->address = "1637 Old Mill Way, Fort Wexley, TX 75243";
    id->accessions[0] = "ACC1154433";
    id->other_ids[0] = "HX-595185";
    id->email = "benedikt.lindqvist@example-mail.test";
    id->ssn = "533-58-4439";
}

TEST(test_phi_identity_variants)
{
    static const char *const variants[] = {"lindqvist",
                                           "LINDQVIST",
                                           "Benedikt",
                                           "B. Lindqvist",
                                           "Lindqvist, B.",
                                           "BENEDIKT K LINDQVIST",
                                           "70329669",
                                           "MRN 70329669",
                                           "mrn70329669",
                                           "1951-02-16",
                                           "02/16/1951",
                                           "2/16/51",
                                           "Feb 16, 1951",
                                           "16 February 1951",
                                           "19510216",
                                           "2/16",
                                           "230.599.8090",
                                           "2305998090",
                                           "+1 230 599 8090",
                                           "Old Mill Way",
                                           "fort wexley",
                                           "75243",
                                           "ACC1154433",
                                           "acc-1154433",
                                           "HX595185",
                                           "595185",
                                           "Benedikt.Lindqvist@Example-Mail.test",
                                           "533 58 4439",
                                           "533584439"};
    phi_identity id;
    identity(&id);
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.mode = PHI_MODE_TAG;
    o.key = KEY;
    o.identity = &id;
    phi_ctx *c = NULL;
    CHECK(phi_ctx_new(&o, &c, NULL) == MS_OK);
    for (size_t k = 0; k < sizeof variants / sizeof variants[0]; k++) {
        char text[160];
        snprintf(text, sizeof text, "note: %s (see chart)", variants[k]);
        phi_span *sp = NULL;
        size_t ns = 0;
        char *out = scrub(c, text, &sp, &ns);
        CHECK(out != NULL);
        /* every alphanumeric run of the variant is gone */
        int leak = strstr(out, variants[k]) != NULL;
        if (leak || ns == 0)
            fprintf(stderr, "  variant \"%s\": \"%s\"\n", variants[k], out);
        free(out);
        phi_spans_free(c, sp);
        CHECK(!leak && ns > 0);
    }
    phi_ctx_free(c);
    return 0;
}

static char *surrogate(const char *text, const phi_identity *id, phi_ctx **keep)
{
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.mode = PHI_MODE_SURROGATE;
    o.key = KEY;
    o.identity = id;
    phi_ctx *c = NULL;
    if (phi_ctx_new(&o, &c, NULL) != MS_OK)
        return NULL;
    char *r = scrub(c, text, NULL, NULL);
    if (keep != NULL)
        *keep = c;
    else
        phi_ctx_free(c);
    return r;
}

static const char *NOTE =
    "Patient Benedikt Lindqvist (MRN MRN70329669, DOB 02/16/1951), phone (230) 599-8090, "
    "seen at Bramblewood Regional Medical Center on March 14th, 2023. Dr. Marguerite "
    "Wojciechowski was notified. Contact benedikt.lindqvist@example-mail.test, SSN 533-58-4439. "
    "Lindqvist returns on 2023-09-01.";

TEST(test_phi_surrogates_consistent_and_keyed)
{
    phi_identity id;
    identity(&id);
    phi_ctx *c = NULL;
    char *a = surrogate(NOTE, &id, &c);
    char *b = surrogate(NOTE, &id, NULL);
    CHECK(a != NULL && b != NULL && c != NULL);
    CHECK_STR(a, b); /* same key + patient: same surrogates */
    static const char *const real[] = {
        "Lindqvist",   "Benedikt",      "70329669",    "1951",         "599-8090",
        "Bramblewood", "Wojciechowski", "533-58-4439", "example-mail", "2023"};
    for (size_t k = 0; k < sizeof real / sizeof real[0]; k++) {
        if (strstr(a, real[k]) != NULL)
            fprintf(stderr, "  \"%s\" survived: %s\n", real[k], a);
        CHECK(strstr(a, real[k]) == NULL);
    }
    /* the date offset is the DICOM de-identifier's (core's ms_pseudo_date_offset) */
    int off = 0;
    CHECK(ms_pseudo_date_offset(KEY, id.issuer, strlen(id.issuer), id.patient_id,
                                strlen(id.patient_id), &off, NULL) == MS_OK);
    CHECK_EQ_INT(phi_ctx_date_offset(c), off);
    char want[9];
    CHECK(ms_da_shift("20230901", 8, off, want, NULL) == MS_OK);
    char iso[16];
    snprintf(iso, sizeof iso, "%.4s-%.2s-%.2s", want, want + 4, want + 6);
    CHECK(strstr(a, iso) != NULL);
    /* the surname gets the same surrogate both times it appears */
    char *first = strstr(a, "Patient ") + 8;
    char *sp = strchr(first, ' ') + 1;
    char sur[32] = {0};
    size_t n = strcspn(sp, " (");
    CHECK(n < sizeof sur);
    memcpy(sur, sp, n);
    char *again = strstr(a, "Contact");
    CHECK(again != NULL && strstr(again, sur) != NULL);
    CHECK(phi_ctx_map_size(c) > 5);
    free(a);
    free(b);
    phi_ctx_free(c);
    return 0;
}

/* Surrogates are pinned: the DICOM de-identifier and stored mappings rely on the same key giving
 * the same pseudonyms across versions (the HMAC is computed from precomputed pad states; these
 * values come from the plain ms_hmac_sha256 implementation). */
TEST(test_phi_surrogate_known_answer)
{
    static const char IN[] =
        "Patient John Smith, SSN 123-45-6789, MRN 48291755, call 617-555-0134, e-mail "
        "j.smith@mail.com, https://portal.example.com/p, 10.1.2.3, seen 03/14/2023 in "
        "Springfield, IL 62704.";
    static const char WANT[] =
        "Patient Alondra Crowley, SSN 925-90-9667, MRN 52388916, call 401-792-7016, e-mail "
        "elise.rosa95@example.org, https://example.org/r/aca7fc5d, 192.0.2.130, seen 01/20/2023 "
        "in Fitzgerald, IL 62774.";
    phi_ctx *c = NULL;
    char *a = surrogate(IN, NULL, &c);
    CHECK(a != NULL && c != NULL);
    CHECK_STR(a, WANT);
    /* a repeat in the same context (copied from the memo) is the same and records nothing new;
     * the memo is keyed by the exact bytes: a value in another case gets its own entry, with
     * the same surrogate in that case */
    size_t m = phi_ctx_map_size(c);
    char *b = scrub(c, IN, NULL, NULL);
    CHECK(b != NULL);
    CHECK_STR(b, WANT);
    CHECK_EQ_INT(phi_ctx_map_size(c), m);
    char *u = scrub(c, "Patient John SMITH, MRN 48291755, e-mail J.Smith@Mail.com.", NULL, NULL);
    CHECK(u != NULL);
    CHECK_STR(u, "Patient Alondra CROWLEY, MRN 52388916, e-mail elise.rosa95@example.org.");
    free(a);
    free(b);
    free(u);
    phi_ctx_free(c);
    return 0;
}

TEST(test_phi_reidentify_roundtrip_and_split_chunks)
{
    phi_identity id;
    identity(&id);
    phi_ctx *c = NULL;
    char *s = surrogate(NOTE, &id, &c);
    CHECK(s != NULL && c != NULL);
    ms_buf one;
    ms_buf_init(&one, NULL, 0);
    CHECK(phi_reidentify(c, s, strlen(s), &one, NULL) == MS_OK);
    if (strcmp((char *)one.p, NOTE) != 0)
        fprintf(stderr, "  surrogate: %s\n  back:      %s\n", s, (char *)one.p);
    CHECK_STR((char *)one.p, NOTE);
    size_t n = strlen(s);
    /* every split point into two chunks, then one byte at a time */
    for (size_t cut = 0; cut <= n; cut++) {
        phi_reid *r = NULL;
        ms_buf out;
        ms_buf_init(&out, NULL, 0);
        CHECK(phi_reid_new(c, &r, NULL) == MS_OK);
        CHECK(phi_reid_feed(r, s, cut, &out, NULL) == MS_OK);
        CHECK(phi_reid_feed(r, s + cut, n - cut, &out, NULL) == MS_OK);
        CHECK(phi_reid_flush(r, &out, NULL) == MS_OK);
        CHECK(out.len == one.len && memcmp(out.p, one.p, one.len) == 0);
        phi_reid_free(r);
        ms_buf_free(&out);
    }
    phi_reid *r = NULL;
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    CHECK(phi_reid_new(c, &r, NULL) == MS_OK);
    for (size_t k = 0; k < n; k++)
        CHECK(phi_reid_feed(r, s + k, 1, &out, NULL) == MS_OK);
    CHECK(phi_reid_flush(r, &out, NULL) == MS_OK);
    CHECK_STR((char *)out.p, NOTE);
    phi_reid_free(r);
    ms_buf_free(&out);
    ms_buf_free(&one);
    free(s);
    phi_ctx_free(c);
    return 0;
}

TEST(test_phi_fail_closed)
{
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.max_input = 64;
    phi_ctx *c = NULL;
    CHECK(phi_ctx_new(&o, &c, NULL) == MS_OK);
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    ms_err err = {0};
    char big[65];
    memset(big, 'a', sizeof big);
    CHECK(ms_buf_append_str(&out, "previous", NULL) == MS_OK);
    phi_span *sp = (phi_span *)1;
    size_t ns = 99;
    CHECK(phi_scrub(c, big, sizeof big, &out, &sp, &ns, &err) == MS_E_LIMIT);
    CHECK(out.len == 0 && sp == NULL && ns == 0);
    CHECK(strstr(err.msg, "64") != NULL);
    CHECK(phi_scrub(c, big, 64, &out, NULL, NULL, NULL) == MS_OK); /* exactly the limit */
    ms_buf_reset(&out);
    static const char *const bad[] = {"Smith \xff", "Smith \xc3", "Smith \xc0\xaf",
                                      "\xed\xa0\x80 x", "\xf4\x90\x80\x80"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ms_err e2 = {0};
        CHECK(ms_buf_append_str(&out, "x", NULL) == MS_OK);
        CHECK(phi_scrub(c, bad[k], strlen(bad[k]), &out, NULL, NULL, &e2) == MS_E_FORMAT);
        CHECK(out.len == 0);
        CHECK(strstr(e2.msg, "Smith") == NULL);
    }
    static const char nul[] = {'J', 'o', 'h', 'n', 0, 'S'};
    CHECK(phi_scrub(c, nul, sizeof nul, &out, NULL, NULL, NULL) == MS_E_FORMAT);
    CHECK(phi_scrub(c, "", 0, &out, NULL, NULL, NULL) == MS_OK && out.len == 0);
    ms_buf_free(&out);
    phi_ctx_free(c);
    return 0;
}

/* The tokenizer checks the text as it reads it: the error names the first bad byte, inside a
 * word or not, as a separate validation pass did. */
TEST(test_phi_invalid_text_offset)
{
    static const struct {
        const char *t;
        size_t n;
        const char *at;
    } cases[] = {{"Smith \xff", 7, "offset 6"},
                 {"Smith \xc0\xaf", 8, "offset 6"},
                 {"\xed\xa0\x80 x", 5, "offset 0"},
                 {"Jos\xc3\xa9 \xe2\x80", 8, "offset 6"},
                 {"Ren\xc3\xa9"
                  "e\x80 x",
                  9, "offset 6"},
                 {"John\0S", 6, "offset 4"},
                 {"a \xc3\xa9\xf0\x9f\x98", 7, "offset 4"}};
    phi_ctx *c = ctx_tag();
    CHECK(c != NULL);
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ms_err e = {0};
        CHECK(phi_scrub(c, cases[k].t, cases[k].n, &out, NULL, NULL, &e) == MS_E_FORMAT);
        CHECK(out.len == 0);
        if (strstr(e.msg, cases[k].at) == NULL) {
            fprintf(stderr, "  case %zu: %s\n", k, e.msg);
            CHECK(0);
        }
    }
    ms_buf_free(&out);
    phi_ctx_free(c);
    return 0;
}

TEST(test_phi_alloc_failure_sweep)
{
    phi_identity id;
    identity(&id);
    int done = 0;
    for (long k = 1; k < 5000 && !done; k++) {
        ms_alloc a = {0};
        a.fail_at = k;
        phi_opts o;
        memset(&o, 0, sizeof o);
        o.mode = PHI_MODE_SURROGATE;
        o.key = KEY;
        o.identity = &id;
        o.alloc = &a;
        phi_ctx *c = NULL;
        ms_rc rc = phi_ctx_new(&o, &c, NULL);
        if (rc == MS_OK) {
            ms_buf out;
            ms_buf_init(&out, &a, 0);
            phi_span *sp = NULL;
            size_t ns = 0;
            ms_err err = {0};
            rc = phi_scrub(c, NOTE, strlen(NOTE), &out, &sp, &ns, &err);
            if (rc != MS_OK) {
                CHECK(out.len == 0 && sp == NULL && err.code == MS_E_NOMEM);
            } else {
                ms_buf back;
                ms_buf_init(&back, &a, 0);
                rc = phi_reidentify(c, (char *)out.p, out.len, &back, NULL);
                ms_buf_free(&back);
            }
            phi_spans_free(c, sp);
            ms_buf_free(&out);
            phi_ctx_free(c);
        } else {
            CHECK(rc == MS_E_NOMEM && c == NULL);
        }
        CHECK_EQ_INT(atomic_load(&a.in_use), 0); /* no leak on any path */
        done = rc == MS_OK && atomic_load(&a.count) < k;
    }
    CHECK(done);
    return 0;
}

TEST(test_phi_keep_clinicians)
{
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.keep_clinician_names = 1;
    phi_ctx *c = NULL;
    CHECK(phi_ctx_new(&o, &c, NULL) == MS_OK);
    char *a = scrub(c, "Patient John Smith was seen by Dr. Marguerite Okafor.", NULL, NULL);
    CHECK(a != NULL);
    CHECK(strstr(a, "Okafor") != NULL && strstr(a, "Smith") == NULL);
    free(a);
    phi_ctx_free(c);
    return 0;
}

TEST(test_phi_counts_and_names)
{
    phi_ctx *c = ctx_tag();
    CHECK(c != NULL);
    char *a = scrub(c, "Call 230-599-8090 or 230-599-8091 on 01/02/2020.", NULL, NULL);
    CHECK(a != NULL);
    size_t counts[PHI_CLASS_COUNT];
    phi_ctx_counts(c, counts);
    CHECK_EQ_INT(counts[PHI_PHONE], 2);
    CHECK_EQ_INT(counts[PHI_DATE], 1);
    CHECK_STR(phi_class_name(PHI_HEALTH_PLAN), "HEALTH_PLAN");
    CHECK_STR(phi_class_name((phi_class)99), "?");
    free(a);
    phi_ctx_free(c);
    phi_opts bad;
    memset(&bad, 0, sizeof bad);
    bad.mode = (phi_mode)7;
    CHECK(phi_ctx_new(&bad, &c, NULL) == MS_E_INVAL);
    return 0;
}

/* ---- the CLI --------------------------------------------------------------------------------- */

static int have_cli(void)
{
    return access(ms_test_medseal(), X_OK) == 0;
}

TEST(test_phi_cli_scrub)
{
    if (!have_cli())
        SKIP("medseal binary not built");
    const char *d = ms_test_tmpdir();
    char *out = NULL;
    CHECK(ms_test_sh(&out,
                     "printf 'Patient John Smith, MRN: 12345678, seen 03/14/2023.' | %s scrub",
                     ms_test_medseal()) == 0);
    CHECK(out != NULL && strstr(out, "Smith") == NULL && strstr(out, "[MRN]") != NULL);
    free(out);
    CHECK(ms_test_sh(&out, "printf 'Mr. Lindqvist 2305998090' | %s scrub --json",
                     ms_test_medseal()) == 0);
    CHECK(out != NULL && strstr(out, "\"class\":\"NAME\"") != NULL &&
          strstr(out, "Lindqvist\",") == NULL);
    free(out);
    /* identity from JSON: the MRN without its prefix, the first name alone */
    char path[512];
    snprintf(path, sizeof path, "%s/id.json", d);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("{\"family\":\"Quorvath\",\"given\":\"Elspeth\",\"patient_id\":\"ZX-77123\"}", f);
    fclose(f);
    CHECK(ms_test_sh(&out, "printf 'elspeth asked about 77123' | %s scrub --identity %s",
                     ms_test_medseal(), path) == 0);
    CHECK(out != NULL && strstr(out, "elspeth") == NULL && strstr(out, "77123") == NULL);
    free(out);
    /* bad input: one line on stderr, nothing on stdout, exit 1 */
    CHECK(ms_test_sh(&out, "printf 'Smith \\377' | %s scrub", ms_test_medseal()) == 1);
    CHECK(out != NULL && out[0] == '\0');
    free(out);
    CHECK(ms_test_sh(&out, "printf 'x' | %s scrub --mode nope", ms_test_medseal()) == 2);
    free(out);
    CHECK(ms_test_sh(&out, "printf 'x' | %s scrub --identity %s/missing.json", ms_test_medseal(),
                     d) == 1);
    free(out);
    return 0;
}

/* ---- fuzz corpus replay ---------------------------------------------------------------------- */

TEST(test_phi_fuzz_corpus_replay)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/fuzz/phi/corpus", ms_test_root());
    DIR *dp = opendir(dir);
    CHECK(dp != NULL);
    struct dirent *de;
    size_t files = 0;
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        ms_buf in;
        ms_buf_init(&in, NULL, 0);
        CHECK(ms_file_read(path, NULL, 1 << 20, &in, NULL) == MS_OK);
        for (int mode = 0; mode < 2; mode++) {
            phi_opts o;
            memset(&o, 0, sizeof o);
            o.mode = (phi_mode)mode;
            o.key = KEY;
            phi_ctx *c = NULL;
            CHECK(phi_ctx_new(&o, &c, NULL) == MS_OK);
            ms_buf out;
            ms_buf_init(&out, NULL, 0);
            phi_span *sp = NULL;
            size_t ns = 0;
            ms_err err = {0};
            ms_rc rc = phi_scrub(c, (char *)in.p, in.len, &out, &sp, &ns, &err);
            CHECK(rc == MS_OK || (out.len == 0 && err.msg[0] != '\0'));
            for (size_t k = 0; k < ns; k++)
                CHECK(sp[k].start < sp[k].end && sp[k].end <= in.len && sp[k].out_end <= out.len &&
                      (k == 0 || sp[k - 1].end <= sp[k].start));
            phi_spans_free(c, sp);
            ms_buf_free(&out);
            phi_ctx_free(c);
        }
        ms_buf_free(&in);
        files++;
    }
    closedir(dp);
    CHECK(files >= 5);
    return 0;
}

TEST(test_phi_cli_identity_from_dicom)
{
    if (ms_test_shared() == NULL)
        SKIP("../shared not available");
    if (!have_cli())
        SKIP("medseal binary not built");
    const char *d = ms_test_tmpdir();
    char *out = NULL;
    CHECK(ms_test_sh(NULL,
                     "/usr/bin/python3 %s/tools/make_study.py %s/s --slices 1 --size 16 "
                     "--studies 1 --seed 4 >/dev/null 2>&1",
                     ms_test_shared(), d) == 0);
    /* the header's identity removes the patient's names even where no detector would: the
     * family name alone, in lower case, and the other id without its prefix */
    CHECK(ms_test_sh(&out,
                     "/usr/bin/python3 -c 'import json; i=json.load(open(\"%s/s/manifest.json\"))"
                     "[\"identity\"]; print(i[\"last\"].lower(), i[\"other_id\"].split(\"-\")[-1],"
                     " i[\"phone\"])' | %s scrub --identity %s/s/study_1/SR/report.dcm --json",
                     d, ms_test_medseal(), d) == 0);
    CHECK(out != NULL && strstr(out, "\"source\":\"identity\"") != NULL);
    CHECK(strstr(out, "\"counts\":{\"NAME\":1,\"PHONE\":1,\"ID\":1}") != NULL);
    free(out);
    return 0;
}

TEST(test_phi_discharge_summary_every_value_removed)
{
    static const char *const note =
        "DISCHARGE SUMMARY\n"
        "Name: HARTWELL, JOSEPHINE A.    MRN: 004417829    Acct #: 88120034\n"
        "DOB: 7/4/1931 (92 y/o F)    Admit: 11/02/2023    Discharge: 11/09/2023\n"
        "Attending: Rajesh Venkataraman, MD    PCP: Dr. Okafor (Tel 617-555-0143, Fax "
        "617-555-0199)\n"
        "Address: 22 Birchwood Lane, Apt 3B, Somerville, MA 02144\n"
        "Emergency contact: daughter Lucinda Hartwell, cell (617) 555-0188, lucinda.h@gmail.com\n"
        "Insurance: BlueCross member ID XQJ4471928; Medicare 1EG4-TE5-MK72\n"
        "HOSPITAL COURSE: Mrs. Hartwell presented on Thursday the 2nd with dyspnea. Echo on Nov "
        "3rd showed EF 35%.\nShe was seen by cardiology (Dr. Amelia Fitzgerald-Ngo) and "
        "discharged home with VNA services from Beacon Home Health.\n"
        "Pacemaker: Medtronic Azure, serial PJN882104S. License plate of transport vehicle "
        "7XKM229.\nPortal: https://mychart.partners.org/pt/88120034   Device IP 10.22.4.17\n"
        "Signed: R. Venkataraman MD 11/09/2023 16:42\n";
    static const char *const values[] = {
        "HARTWELL",   "JOSEPHINE",  "004417829",     "88120034", "7/4/1931", "92",
        "11/02/2023", "11/09/2023", "Venkataraman",  "Okafor",   "555-0143", "555-0199",
        "Birchwood",  "Somerville", "02144",         "Lucinda",  "Hartwell", "555-0188",
        "lucinda.h",  "XQJ4471928", "1EG4-TE5-MK72", "Thursday", "Nov 3rd",  "Amelia",
        "Fitzgerald", "Beacon",     "PJN882104S",    "7XKM229",  "mychart",  "10.22.4.17"};
    for (int mode = 0; mode < 2; mode++) {
        phi_opts o;
        memset(&o, 0, sizeof o);
        o.mode = (phi_mode)mode;
        o.key = KEY;
        phi_ctx *c = NULL;
        CHECK(phi_ctx_new(&o, &c, NULL) == MS_OK);
        char *out = scrub(c, note, NULL, NULL);
        CHECK(out != NULL);
        for (size_t k = 0; k < sizeof values / sizeof values[0]; k++) {
            if (strstr(out, values[k]) != NULL)
                fprintf(stderr, "  mode %d: \"%s\" survived\n%s\n", mode, values[k], out);
            CHECK(strstr(out, values[k]) == NULL);
        }
        /* what is not PHI stays */
        CHECK(strstr(out, "DISCHARGE SUMMARY") != NULL && strstr(out, "EF 35%") != NULL &&
              strstr(out, "Medtronic Azure") != NULL);
        CHECK(mode == 0 || strstr(out, " MA 021") != NULL); /* state and ZIP3 kept */
        free(out);
        phi_ctx_free(c);
    }
    return 0;
}

TEST(test_phi_reidentify_answer_case_and_boundaries)
{
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.mode = PHI_MODE_SURROGATE;
    o.key = KEY;
    phi_ctx *c = NULL;
    CHECK(phi_ctx_new(&o, &c, NULL) == MS_OK);
    char *s = scrub(c, "Patient Benedikt Lindqvist, MRN: 70329669, seen 03/14/2023.", NULL, NULL);
    CHECK(s != NULL && strstr(s, "Lindqvist") == NULL);
    /* the surrogate surname, as a model might write it back: upper case, inside a sentence */
    const char *sp = strstr(s, "Patient ") + 8;
    sp = strchr(sp, ' ') + 1;
    char sur[40] = {0}, answer[256];
    size_t n = strcspn(sp, ",");
    CHECK(n > 0 && n < sizeof sur);
    memcpy(sur, sp, n);
    for (size_t k = 0; k < n; k++)
        sur[k] = (char)((sur[k] >= 'a' && sur[k] <= 'z') ? sur[k] - 32 : sur[k]);
    snprintf(answer, sizeof answer, "Summary for %s: stable. %sX is another word.", sur, sur);
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    CHECK(phi_reidentify(c, answer, strlen(answer), &out, NULL) == MS_OK);
    CHECK(strstr((char *)out.p, "Summary for Lindqvist: stable.") != NULL);
    CHECK(strstr((char *)out.p, "LindqvistX") == NULL); /* word boundaries respected */
    ms_buf_free(&out);
    free(s);
    phi_ctx_free(c);
    return 0;
}

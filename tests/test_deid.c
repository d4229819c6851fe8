/*
 * Tests of src/deid on synthetic datasets built with dcm_file_new + setters (no ../shared, no
 * writer needed): one test per action code of PS3.15 Table E.1-1a and per option, private
 * attributes, unknown/retired attributes, overlays, nested sequences, pseudonyms and date shifts
 * (checked against core's ms_pseudo_* directly), the record of what was done, burned-in screening
 * and blanking, and an allocation-failure sweep.
 */
#include <stdlib.h>
#include <string.h>

#include "deid/internal.h"
#include "medseal/deid.h"
#include "test.h"

static const uint8_t KEY[MS_KEY_LEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                        16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30};

#define T(g, e) DCM_TAG(0x##g, 0x##e)

static int set(dcm_dataset *ds, uint32_t tag, uint16_t vr, const char *v)
{
    return dcm_dataset_set_bytes(ds, tag, vr, (const uint8_t *)v, strlen(v), NULL) == MS_OK;
}

/* A CT-like dataset with identity in the usual places. */
static dcm_file *make_file(void)
{
    dcm_file *f = NULL;
    if (dcm_file_new(NULL, &f, NULL) != MS_OK)
        return NULL;
    dcm_dataset *m = dcm_file_meta(f), *ds = dcm_file_dataset(f);
    int ok = set(m, T(0002, 0002), DCM_VR_UI, "1.2.840.10008.5.1.4.1.1.2") &&
             set(m, T(0002, 0003), DCM_VR_UI, "1.2.826.0.1.3680043.10.1138.7") &&
             set(m, T(0002, 0012), DCM_VR_UI, "1.2.826.0.1.3680043.10.1138.1") &&
             set(m, T(0002, 0016), DCM_VR_AE, "SENDERAE") &&
             set(ds, T(0008, 0016), DCM_VR_UI, "1.2.840.10008.5.1.4.1.1.2") &&
             set(ds, T(0008, 0018), DCM_VR_UI, "1.2.826.0.1.3680043.10.1138.7") &&
             set(ds, T(0020, 000D), DCM_VR_UI, "1.2.826.0.1.3680043.10.1138.2") &&
             set(ds, T(0020, 000E), DCM_VR_UI, "1.2.826.0.1.3680043.10.1138.3") &&
             set(ds, T(0008, 0020), DCM_VR_DA, "20230415") &&
             set(ds, T(0008, 0021), DCM_VR_DA, "20230415") &&
             set(ds, T(0008, 0022), DCM_VR_DA, "20230415") &&
             set(ds, T(0008, 0023), DCM_VR_DA, "20230415") &&
             set(ds, T(0008, 002A), DCM_VR_DT, "20230415083015.25+0100") &&
             set(ds, T(0008, 0030), DCM_VR_TM, "083015") &&
             set(ds, T(0008, 0050), DCM_VR_SH, "ACC1234567") &&
             set(ds, T(0008, 0060), DCM_VR_CS, "CT") &&
             set(ds, T(0008, 0070), DCM_VR_LO, "SYNTHETIC MEDICAL SYSTEMS") &&
             set(ds, T(0008, 0080), DCM_VR_LO, "Northgate Regional Medical Center") &&
             set(ds, T(0008, 0081), DCM_VR_ST, "1 Main St, Fort Wexley") &&
             set(ds, T(0008, 0090), DCM_VR_PN, "Pemberton^Soraya") &&
             set(ds, T(0008, 1010), DCM_VR_SH, "CTNORTHGATE07") &&
             set(ds, T(0008, 1030), DCM_VR_LO, "CT CHEST - VANDERMOLEN") &&
             set(ds, T(0010, 0010), DCM_VR_PN, "Vandermolen^Marguerite") &&
             set(ds, T(0010, 0020), DCM_VR_LO, "MRN12345678") &&
             set(ds, T(0010, 0021), DCM_VR_LO, "NORTHGATE-HIS") &&
             set(ds, T(0010, 0030), DCM_VR_DA, "19400101") &&
             set(ds, T(0010, 0040), DCM_VR_CS, "F") && set(ds, T(0010, 1010), DCM_VR_AS, "093Y") &&
             set(ds, T(0010, 1040), DCM_VR_LO, "1637 Old Mill Way") &&
             set(ds, T(0018, 1000), DCM_VR_LO, "SN-88412-QX") &&
             set(ds, T(0020, 0010), DCM_VR_SH, "S1234") &&
             set(ds, T(0020, 0052), DCM_VR_UI, "1.2.826.0.1.3680043.10.1138.4") &&
             set(ds, T(0020, 4000), DCM_VR_LT, "Pt Marguerite Vandermolen re-scan") &&
             set(ds, T(0040, A075), DCM_VR_PN, "Okonkwo^Lucius");
    if (!ok) {
        dcm_file_free(f);
        return NULL;
    }
    return f;
}

static dcm_file *run(const deid_opts *o, deid_result *res)
{
    deid_ctx *ctx = NULL;
    dcm_file *f = make_file();
    if (f == NULL || deid_ctx_new(KEY, o, &ctx, NULL) != MS_OK ||
        deid_file_apply(ctx, f, res, NULL) != MS_OK) {
        dcm_file_free(f);
        f = NULL;
    }
    deid_ctx_free(ctx);
    return f;
}

/* The text of tag in ds (static buffer), or NULL when absent; "" when empty. */
static const char *text(const dcm_dataset *ds, uint32_t tag)
{
    static char out[1024];
    const dcm_elem *e = dcm_dataset_find(ds, tag);
    if (e == NULL)
        return NULL;
    size_t n = 0;
    const uint8_t *v = dcm_elem_bytes(e, &n);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\0'))
        n--;
    if (n >= sizeof out)
        n = sizeof out - 1;
    if (n)
        memcpy(out, v, n);
    out[n] = '\0';
    return out;
}

static const char *uid_of(const char *in)
{
    static char out[MS_UID_MAX];
    if (ms_pseudo_uid(KEY, in, strlen(in), out, NULL) != MS_OK)
        return "?";
    return out;
}

TEST(test_deid_action_x_removes)
{
    deid_result r;
    dcm_file *f = run(NULL, &r);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f);
    CHECK(text(ds, T(0008, 0081)) == NULL); /* InstitutionAddress: X */
    CHECK(text(ds, T(0010, 1040)) == NULL); /* PatientAddress: X */
    CHECK(text(ds, T(0010, 0021)) == NULL); /* IssuerOfPatientID: X */
    CHECK(text(ds, T(0008, 1030)) == NULL); /* StudyDescription: X without Clean Descriptors */
    CHECK(text(ds, T(0010, 1010)) == NULL); /* PatientAge: X without Patient Characteristics */
    CHECK(r.n[DEID_N_REMOVED] >= 5);
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_action_z_empties)
{
    deid_result r;
    dcm_file *f = run(NULL, &r);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f);
    CHECK_STR(text(ds, T(0008, 0050)), ""); /* AccessionNumber: Z */
    CHECK_STR(text(ds, T(0008, 0020)), ""); /* StudyDate: Z */
    CHECK_STR(text(ds, T(0008, 0090)), ""); /* ReferringPhysicianName: Z */
    CHECK_STR(text(ds, T(0020, 0010)), ""); /* StudyID: Z */
    CHECK_STR(text(ds, T(0010, 0030)), ""); /* PatientBirthDate: Z */
    CHECK_STR(text(ds, T(0010, 0040)), ""); /* PatientSex: Z */
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_action_d_dummy)
{
    deid_result r;
    dcm_file *f = run(NULL, &r);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f);
    CHECK_STR(text(ds, T(0040, A075)), "ANONYMIZED"); /* VerifyingObserverName: D */
    CHECK(r.n[DEID_N_DUMMY] >= 1);
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_compound_codes)
{
    deid_result r;
    dcm_file *f = run(NULL, &r);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f);
    CHECK_STR(text(ds, T(0008, 0023)), "19000101");       /* ContentDate Z/D -> D */
    CHECK_STR(text(ds, T(0008, 0021)), "19000101");       /* SeriesDate X/D -> D */
    CHECK_STR(text(ds, T(0008, 0022)), "");               /* AcquisitionDate X/Z -> Z */
    CHECK_STR(text(ds, T(0008, 002A)), "19000101000000"); /* AcquisitionDateTime X/Z/D */
    CHECK_STR(text(ds, T(0008, 0080)), "ANONYMIZED");     /* InstitutionName X/Z/D */
    CHECK_STR(text(ds, T(0018, 1000)), "ANONYMIZED");     /* DeviceSerialNumber X/Z/D */
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_compound_resolution_table)
{
    CHECK_EQ_INT(deid__resolve_compound(DEID_A_ZD), DEID_A_D);
    CHECK_EQ_INT(deid__resolve_compound(DEID_A_XD), DEID_A_D);
    CHECK_EQ_INT(deid__resolve_compound(DEID_A_XZD), DEID_A_D);
    CHECK_EQ_INT(deid__resolve_compound(DEID_A_XZ), DEID_A_Z);
    CHECK_EQ_INT(deid__resolve_compound(DEID_A_XZU), DEID_A_U);
    CHECK_EQ_INT(deid__resolve_compound(DEID_A_K), DEID_A_K);
    /* the generated table: every code of Table E.1-1a is used by some row */
    int seen[DEID_A_XZU + 1] = {0};
    for (size_t i = 0; i < deid_rule_count; i++)
        seen[deid_rules[i].basic] = 1;
    for (int a = DEID_A_X; a <= DEID_A_XZU; a++)
        if (a != DEID_A_K && a != DEID_A_C)
            CHECK(seen[a]);
    CHECK(deid_rule_count > 600);
    for (size_t i = 1; i < deid_rule_count; i++)
        CHECK(deid_rules[i - 1].tag < deid_rules[i].tag);
    return 0;
}

TEST(test_deid_action_k_keeps)
{
    deid_result r;
    dcm_file *f = run(NULL, &r);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f);
    CHECK_STR(text(ds, T(0008, 0060)), "CT"); /* Modality: not in the table, kept */
    CHECK_STR(text(ds, T(0008, 0070)), "SYNTHETIC MEDICAL SYSTEMS");
    CHECK_STR(text(ds, T(0008, 0016)), "1.2.840.10008.5.1.4.1.1.2"); /* standard UID kept */
    CHECK(r.n[DEID_N_KEPT] >= 3);
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_action_u_keyed_uids)
{
    deid_result r;
    dcm_file *f = run(NULL, &r);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f), *m = dcm_file_meta(f);
    const char *want = uid_of("1.2.826.0.1.3680043.10.1138.7");
    CHECK(strncmp(want, "2.25.", 5) == 0);
    CHECK_STR(text(ds, T(0008, 0018)), want);
    CHECK_STR(text(m, T(0002, 0003)), want); /* meta follows the dataset */
    CHECK_STR(text(ds, T(0020, 000D)), uid_of("1.2.826.0.1.3680043.10.1138.2"));
    CHECK_STR(text(ds, T(0020, 0052)), uid_of("1.2.826.0.1.3680043.10.1138.4"));
    CHECK(strstr(text(m, T(0002, 0012)), "1138") == NULL); /* implementation is medseal's */
    CHECK(text(m, T(0002, 0016)) == NULL);                 /* source AE title gone */
    CHECK(r.n[DEID_N_UID] >= 4);
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_pseudonym_and_date_offset_from_core)
{
    deid_opts o = {DEID_OPT_BIT(DEID_OPT_MODIFIED_DATES), 0, 0, 0};
    deid_result r;
    dcm_file *f = run(&o, &r);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f);
    char p[MS_PSEUDO_MAX], shifted[9];
    int days = 0;
    CHECK(ms_pseudo_patient(KEY, "NORTHGATE-HIS", 13, "MRN12345678", 11, p, NULL) == MS_OK);
    CHECK(ms_pseudo_date_offset(KEY, "NORTHGATE-HIS", 13, "MRN12345678", 11, &days, NULL) == MS_OK);
    CHECK(days >= -365 && days <= -1);
    CHECK_STR(text(ds, T(0010, 0020)), p);
    CHECK_STR(text(ds, T(0010, 0010)), p);
    CHECK(ms_da_shift("20230415", 8, days, shifted, NULL) == MS_OK);
    CHECK_STR(text(ds, T(0008, 0020)), shifted); /* StudyDate: C under Modified Dates */
    CHECK_STR(text(ds, T(0008, 0021)), shifted);
    char dt[32];
    snprintf(dt, sizeof dt, "%s083015.25+0100", shifted); /* DT: date part only */
    CHECK_STR(text(ds, T(0008, 002A)), dt);
    CHECK_STR(text(ds, T(0008, 0030)), "083015"); /* TM kept: whole-day shift */
    CHECK_STR(text(ds, T(0010, 0030)), "");       /* birth date: Z in every option */
    CHECK_STR(text(ds, T(0028, 0303)), "MODIFIED");
    CHECK(r.n[DEID_N_DATE_SHIFTED] >= 4);
    dcm_file_free(f);
    return 0;
}

static dcm_file *run_opt(int opt, deid_result *r)
{
    deid_opts o = {DEID_OPT_BIT(opt), 0, 0, 0};
    return run(&o, r);
}

/* The CID 7050 code values of (0012,0064), comma-joined. */
static const char *codes(const dcm_dataset *ds)
{
    static char out[256];
    out[0] = '\0';
    const dcm_elem *seq = dcm_dataset_find(ds, T(0012, 0064));
    for (size_t i = 0; seq != NULL && i < dcm_elem_item_count(seq); i++) {
        const char *v = text(dcm_elem_item(seq, i), T(0008, 0100));
        size_t n = strlen(out);
        snprintf(out + n, sizeof out - n, "%s%s", n ? "," : "", v ? v : "?");
    }
    return out;
}

TEST(test_deid_record_basic)
{
    deid_result r;
    dcm_file *f = run(NULL, &r);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f);
    CHECK_STR(text(ds, T(0012, 0062)), "YES");
    CHECK(strstr(text(ds, T(0012, 0063)), "PS3.15") != NULL);
    CHECK_STR(codes(ds), "113100");
    CHECK_STR(text(ds, T(0028, 0303)), "REMOVED");
    const dcm_elem *seq = dcm_dataset_find(ds, T(0012, 0064));
    CHECK_STR(text(dcm_elem_item(seq, 0), T(0008, 0102)), "DCM");
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_option_retain_uids)
{
    deid_result r;
    dcm_file *f = run_opt(DEID_OPT_UIDS, &r);
    CHECK(f != NULL);
    CHECK_STR(text(dcm_file_dataset(f), T(0008, 0018)), "1.2.826.0.1.3680043.10.1138.7");
    CHECK_STR(text(dcm_file_dataset(f), T(0020, 000D)), "1.2.826.0.1.3680043.10.1138.2");
    CHECK_STR(codes(dcm_file_dataset(f)), "113100,113110");
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_option_retain_device_identity)
{
    deid_result r;
    dcm_file *f = run_opt(DEID_OPT_DEVICE, &r);
    CHECK(f != NULL);
    CHECK_STR(text(dcm_file_dataset(f), T(0018, 1000)), "SN-88412-QX");
    CHECK_STR(text(dcm_file_dataset(f), T(0008, 1010)), "CTNORTHGATE07");
    CHECK_STR(codes(dcm_file_dataset(f)), "113100,113109");
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_option_retain_institution_identity)
{
    deid_result r;
    dcm_file *f = run_opt(DEID_OPT_INSTITUTION, &r);
    CHECK(f != NULL);
    CHECK_STR(text(dcm_file_dataset(f), T(0008, 0080)), "Northgate Regional Medical Center");
    CHECK_STR(text(dcm_file_dataset(f), T(0008, 0081)), "1 Main St, Fort Wexley");
    CHECK_STR(codes(dcm_file_dataset(f)), "113100,113112");
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_option_retain_patient_characteristics_caps_age)
{
    deid_result r;
    dcm_file *f = run_opt(DEID_OPT_PATIENT_CHARS, &r);
    CHECK(f != NULL);
    CHECK_STR(text(dcm_file_dataset(f), T(0010, 0040)), "F");
    CHECK_STR(text(dcm_file_dataset(f), T(0010, 1010)), "090Y"); /* 093Y is over 89 */
    CHECK_EQ_INT(r.n[DEID_N_AGE_CAPPED], 1);
    CHECK_STR(codes(dcm_file_dataset(f)), "113100,113108");
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_option_retain_full_dates)
{
    deid_result r;
    dcm_file *f = run_opt(DEID_OPT_FULL_DATES, &r);
    CHECK(f != NULL);
    CHECK_STR(text(dcm_file_dataset(f), T(0008, 0020)), "20230415");
    CHECK_STR(text(dcm_file_dataset(f), T(0008, 002A)), "20230415083015.25+0100");
    CHECK_STR(text(dcm_file_dataset(f), T(0028, 0303)), "UNMODIFIED");
    CHECK_STR(codes(dcm_file_dataset(f)), "113100,113106");
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_option_modified_dates_code)
{
    deid_result r;
    dcm_file *f = run_opt(DEID_OPT_MODIFIED_DATES, &r);
    CHECK(f != NULL);
    CHECK(strcmp(text(dcm_file_dataset(f), T(0008, 0020)), "20230415") != 0);
    CHECK_STR(codes(dcm_file_dataset(f)), "113100,113107");
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_full_and_modified_dates_refused)
{
    deid_opts o = {DEID_OPT_BIT(DEID_OPT_FULL_DATES) | DEID_OPT_BIT(DEID_OPT_MODIFIED_DATES), 0, 0,
                   0};
    deid_ctx *ctx = NULL;
    ms_err err = {0};
    CHECK(deid_ctx_new(KEY, &o, &ctx, &err) == MS_E_INVAL);
    CHECK(ctx == NULL);
    CHECK(strstr(err.msg, "E.3.6") != NULL);
    return 0;
}

/* Cleaned text holds no identity: either the scrubber ran (no name left) or the attribute went. */
static int clean_of(const char *v, const char *name)
{
    if (v == NULL)
        return 1;
    size_t n = strlen(name);
    for (const char *p = v; *p; p++) {
        size_t k = 0;
        while (k < n && p[k] && (p[k] | 0x20) == (name[k] | 0x20))
            k++;
        if (k == n)
            return 0;
    }
    return 1;
}

TEST(test_deid_option_clean_descriptors)
{
    deid_result r;
    dcm_file *f = run_opt(DEID_OPT_CLEAN_DESC, &r);
    CHECK(f != NULL);
    CHECK(clean_of(text(dcm_file_dataset(f), T(0008, 1030)), "Vandermolen"));
    CHECK(clean_of(text(dcm_file_dataset(f), T(0020, 4000)), "Marguerite"));
    CHECK(r.n[DEID_N_CLEANED] + r.n[DEID_N_REMOVED] >= 2);
    CHECK_STR(codes(dcm_file_dataset(f)), "113100,113105");
    dcm_file_free(f);
    return 0;
}

/* An SR-like content tree: CONTAINER > TEXT (name in the text) > PNAME, nested two deep. */
static int add_content(dcm_dataset *ds)
{
    dcm_elem *seq, *inner, *concept;
    dcm_dataset *item, *child, *code;
    int ok = dcm_dataset_set_sequence(ds, T(0040, A730), &seq, NULL) == MS_OK &&
             dcm_elem_item_append(seq, &item, NULL) == MS_OK &&
             set(item, T(0040, A040), DCM_VR_CS, "TEXT") &&
             set(item, T(0040, A160), DCM_VR_UT, "Patient Marguerite Vandermolen seen") &&
             dcm_dataset_set_sequence(item, T(0040, A043), &concept, NULL) == MS_OK &&
             dcm_elem_item_append(concept, &code, NULL) == MS_OK &&
             set(code, T(0008, 0100), DCM_VR_SH, "121071") &&
             set(code, T(0008, 0104), DCM_VR_LO, "Finding") &&
             dcm_dataset_set_sequence(item, T(0040, A730), &inner, NULL) == MS_OK &&
             dcm_elem_item_append(inner, &child, NULL) == MS_OK &&
             set(child, T(0040, A040), DCM_VR_CS, "PNAME") &&
             set(child, T(0040, A123), DCM_VR_PN, "Okonkwo^Lucius") &&
             set(child, T(0040, A121), DCM_VR_DA, "20230415") &&
             set(child, T(0010, 0010), DCM_VR_PN, "Vandermolen^Marguerite");
    return ok;
}

static dcm_file *run_content(const deid_opts *o, deid_result *r)
{
    deid_ctx *ctx = NULL;
    dcm_file *f = make_file();
    if (f == NULL || !add_content(dcm_file_dataset(f)) ||
        deid_ctx_new(KEY, o, &ctx, NULL) != MS_OK || deid_file_apply(ctx, f, r, NULL) != MS_OK) {
        dcm_file_free(f);
        f = NULL;
    }
    deid_ctx_free(ctx);
    return f;
}

TEST(test_deid_nested_sequences_basic)
{
    deid_result r;
    dcm_file *f = run_content(NULL, &r);
    CHECK(f != NULL);
    const dcm_elem *seq = dcm_dataset_find(dcm_file_dataset(f), T(0040, A730));
    CHECK(seq != NULL && dcm_elem_item_count(seq) == 1); /* D: kept, contents de-identified */
    dcm_dataset *item = dcm_elem_item(seq, 0);
    CHECK_STR(text(item, T(0040, A160)), "ANONYMIZED"); /* free text in a D sequence: dummy */
    CHECK_STR(text(item, T(0040, A040)), "TEXT");
    const dcm_elem *concept = dcm_dataset_find(item, T(0040, A043));
    CHECK_STR(text(dcm_elem_item(concept, 0), T(0008, 0100)), "121071");
    dcm_dataset *child = dcm_elem_item(dcm_dataset_find(item, T(0040, A730)), 0);
    CHECK_STR(text(child, T(0040, A123)), "ANONYMIZED"); /* PersonName: D */
    CHECK_STR(text(child, T(0040, A121)), "19000101");   /* Date: D */
    char p[MS_PSEUDO_MAX];
    CHECK(ms_pseudo_patient(KEY, "NORTHGATE-HIS", 13, "MRN12345678", 11, p, NULL) == MS_OK);
    CHECK_STR(text(child, T(0010, 0010)), p); /* nested PatientName: the top patient */
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_option_clean_structured_content)
{
    deid_opts o = {DEID_OPT_BIT(DEID_OPT_CLEAN_STRUCT), 0, 0, 0};
    deid_result r;
    dcm_file *f = run_content(&o, &r);
    CHECK(f != NULL);
    const dcm_elem *seq = dcm_dataset_find(dcm_file_dataset(f), T(0040, A730));
    CHECK(seq != NULL && dcm_elem_item_count(seq) == 1);
    dcm_dataset *item = dcm_elem_item(seq, 0);
    CHECK(clean_of(text(item, T(0040, A160)), "Vandermolen"));
    CHECK(clean_of(text(item, T(0040, A160)), "Marguerite"));
    CHECK_STR(codes(dcm_file_dataset(f)), "113100,113104");
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_references_stay_consistent)
{
    deid_ctx *ctx = NULL;
    dcm_file *f = make_file();
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f), *item;
    dcm_elem *seq;
    CHECK(dcm_dataset_set_sequence(ds, T(0008, 1140), &seq, NULL) == MS_OK); /* X/Z/U* */
    CHECK(dcm_elem_item_append(seq, &item, NULL) == MS_OK);
    CHECK(set(item, T(0008, 1150), DCM_VR_UI, "1.2.840.10008.5.1.4.1.1.2"));
    CHECK(set(item, T(0008, 1155), DCM_VR_UI, "1.2.826.0.1.3680043.10.1138.9\\1.2.3.4"));
    CHECK(deid_ctx_new(KEY, NULL, &ctx, NULL) == MS_OK);
    deid_result r;
    CHECK(deid_file_apply(ctx, f, &r, NULL) == MS_OK);
    seq = dcm_dataset_find(ds, T(0008, 1140));
    CHECK(seq != NULL && dcm_elem_item_count(seq) == 1);
    item = dcm_elem_item(seq, 0);
    char both[2 * MS_UID_MAX + 2];
    snprintf(both, sizeof both, "%s\\", uid_of("1.2.826.0.1.3680043.10.1138.9"));
    snprintf(both + strlen(both), sizeof both - strlen(both), "%s", uid_of("1.2.3.4"));
    CHECK_STR(text(item, T(0008, 1155)), both); /* multi-valued: each mapped */
    CHECK_STR(text(item, T(0008, 1150)), "1.2.840.10008.5.1.4.1.1.2");
    deid_ctx_free(ctx);
    dcm_file_free(f);
    return 0;
}

static int add_private(dcm_dataset *ds)
{
    return set(ds, T(0019, 0010), DCM_VR_LO, "GEMS_ACQU_01") &&
           set(ds, T(0019, 1023), DCM_VR_DS, "12.5") &&
           set(ds, T(0019, 1030), DCM_VR_LO, "VANDERMOLEN MARGUERITE") &&
           set(ds, T(0029, 0010), DCM_VR_LO, "SYNTH_PHI_01") &&
           set(ds, T(0029, 1010), DCM_VR_LO, "Vandermolen^Marguerite") &&
           set(ds, T(0029, 1011), DCM_VR_LO, "MRN12345678");
}

static dcm_file *run_private(int safe, deid_result *r)
{
    deid_opts o = {safe ? DEID_OPT_BIT(DEID_OPT_SAFE_PRIVATE) : 0, 0, 0, 0};
    deid_ctx *ctx = NULL;
    dcm_file *f = make_file();
    if (f == NULL || !add_private(dcm_file_dataset(f)) ||
        deid_ctx_new(KEY, &o, &ctx, NULL) != MS_OK || deid_file_apply(ctx, f, r, NULL) != MS_OK) {
        dcm_file_free(f);
        f = NULL;
    }
    deid_ctx_free(ctx);
    return f;
}

TEST(test_deid_private_removed_by_default)
{
    deid_result r;
    dcm_file *f = run_private(0, &r);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f);
    for (size_t i = 0; i < dcm_dataset_count(ds); i++)
        CHECK((DCM_GROUP(dcm_elem_tag(dcm_dataset_at(ds, i))) & 1) == 0);
    CHECK_EQ_INT(r.n[DEID_N_PRIVATE_REMOVED], 6);
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_option_retain_safe_private)
{
    deid_result r;
    dcm_file *f = run_private(1, &r);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f);
    CHECK_STR(text(ds, T(0019, 0010)), "GEMS_ACQU_01");
    CHECK_STR(text(ds, T(0019, 1023)), "12.5"); /* Table E.3.10-1: Table Speed */
    CHECK(text(ds, T(0019, 1030)) == NULL);     /* not listed */
    CHECK(text(ds, T(0029, 0010)) == NULL);     /* a creator whose block keeps nothing */
    CHECK(text(ds, T(0029, 1010)) == NULL);
    CHECK(text(ds, T(0029, 1011)) == NULL);
    CHECK_EQ_INT(r.n[DEID_N_PRIVATE_KEPT], 2);
    CHECK_STR(codes(ds), "113100,113111");
    dcm_file_free(f);
    return 0;
}

static dcm_file *run_extra(const deid_opts *o, deid_result *r, int (*add)(dcm_dataset *ds))
{
    deid_ctx *ctx = NULL;
    dcm_file *f = make_file();
    if (f == NULL || !add(dcm_file_dataset(f)) || deid_ctx_new(KEY, o, &ctx, NULL) != MS_OK ||
        deid_file_apply(ctx, f, r, NULL) != MS_OK) {
        dcm_file_free(f);
        f = NULL;
    }
    deid_ctx_free(ctx);
    return f;
}

static int add_unknown(dcm_dataset *ds)
{
    return set(ds, T(0018, 1011), DCM_VR_LO, "HARDCOPY ID") && /* retired LO */
           set(ds, T(0009, 0000), DCM_VR_UL, "\4\0\0\0") &&    /* private group length */
           set(ds, T(0013, 0000), DCM_VR_UL, "\4\0\0\0") &&
           set(ds, T(0014, 0102), DCM_VR_DA, "20230416") && /* current DA not in table */
           set(ds, T(0018, 9999), DCM_VR_LT, "free text, unknown tag") && /* unknown */
           set(ds, T(0018, 9998), DCM_VR_US, "\1\0") && /* unknown, not PHI-prone */
           set(ds, T(0008, 9999), DCM_VR_UI, "1.2.826.0.1.3680043.10.1138.5");
}

TEST(test_deid_unknown_and_retired_removed)
{
    deid_result r;
    dcm_file *f = run_extra(NULL, &r, add_unknown);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f);
    CHECK(text(ds, T(0018, 1011)) == NULL);
    CHECK(text(ds, T(0018, 9999)) == NULL);
    CHECK(text(ds, T(0014, 0102)) == NULL); /* a date the table does not list: date policy */
    CHECK(text(ds, T(0018, 9998)) != NULL); /* unknown but a binary number: kept */
    CHECK_STR(text(ds, T(0008, 9999)), uid_of("1.2.826.0.1.3680043.10.1138.5"));
    CHECK_EQ_INT(r.n[DEID_N_UNKNOWN_REMOVED], 2);
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_keep_unknown_flag)
{
    deid_opts o = {0, 0, 1, 0};
    deid_result r;
    dcm_file *f = run_extra(&o, &r, add_unknown);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f);
    CHECK_STR(text(ds, T(0018, 1011)), "HARDCOPY ID");
    CHECK_STR(text(ds, T(0018, 9999)), "free text, unknown tag");
    CHECK_EQ_INT(r.n[DEID_N_UNKNOWN_REMOVED], 0);
    dcm_file_free(f);
    return 0;
}

static int add_graphics(dcm_dataset *ds)
{
    static const uint8_t bits[8] = {0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0};
    dcm_elem *seq, *txt;
    dcm_dataset *item, *t;
    return set(ds, T(6000, 0010), DCM_VR_US, "\4\0") && set(ds, T(6000, 0011), DCM_VR_US, "\4\0") &&
           set(ds, T(6000, 0022), DCM_VR_LO, "Vandermolen overlay") &&
           set(ds, T(6000, 4000), DCM_VR_LT, "Marguerite comment") &&
           dcm_dataset_set_bytes(ds, T(6000, 3000), DCM_VR_OW, bits, 8, NULL) == MS_OK &&
           set(ds, T(5000, 0005), DCM_VR_US, "\2\0") &&
           dcm_dataset_set_sequence(ds, T(0070, 0001), &seq, NULL) == MS_OK &&
           dcm_elem_item_append(seq, &item, NULL) == MS_OK &&
           set(item, T(0070, 0002), DCM_VR_CS, "LAYER1") &&
           dcm_dataset_set_sequence(item, T(0070, 0008), &txt, NULL) == MS_OK &&
           dcm_elem_item_append(txt, &t, NULL) == MS_OK &&
           set(t, T(0070, 0006), DCM_VR_ST, "Patient Marguerite Vandermolen");
}

TEST(test_deid_overlays_and_curves_removed)
{
    deid_result r;
    dcm_file *f = run_extra(NULL, &r, add_graphics);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f);
    for (size_t i = 0; i < dcm_dataset_count(ds); i++) {
        uint16_t g = DCM_GROUP(dcm_elem_tag(dcm_dataset_at(ds, i)));
        CHECK(g < 0x5000 || g > 0x60ff);
    }
    CHECK_EQ_INT(r.n[DEID_N_GRAPHICS_REMOVED], 6);
    /* Graphic Annotation Sequence: D, its free text a dummy */
    dcm_dataset *item = dcm_elem_item(dcm_dataset_find(ds, T(0070, 0001)), 0);
    dcm_dataset *t = dcm_elem_item(dcm_dataset_find(item, T(0070, 0008)), 0);
    CHECK_STR(text(t, T(0070, 0006)), "ANONYMIZED");
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_option_clean_graphics)
{
    deid_opts o = {DEID_OPT_BIT(DEID_OPT_CLEAN_GRAPHICS), 0, 0, 0};
    deid_result r;
    dcm_file *f = run_extra(&o, &r, add_graphics);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f);
    size_t n = 0;
    CHECK(dcm_elem_bytes(dcm_dataset_find(ds, T(6000, 3000)), &n) != NULL && n == 8);
    CHECK_STR(text(ds, T(6000, 0010)), "\4");
    CHECK(clean_of(text(ds, T(6000, 0022)), "Vandermolen"));
    CHECK(clean_of(text(ds, T(6000, 4000)), "Marguerite"));
    dcm_dataset *item = dcm_elem_item(dcm_dataset_find(ds, T(0070, 0001)), 0);
    dcm_dataset *t = dcm_elem_item(dcm_dataset_find(item, T(0070, 0008)), 0);
    CHECK(clean_of(text(t, T(0070, 0006)), "Vandermolen"));
    CHECK_STR(codes(ds), "113100,113103");
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_keep_overlays_flag)
{
    deid_opts o = {0, 1, 0, 0};
    deid_result r;
    dcm_file *f = run_extra(&o, &r, add_graphics);
    CHECK(f != NULL);
    CHECK(dcm_dataset_find(dcm_file_dataset(f), T(6000, 3000)) != NULL);
    CHECK(dcm_dataset_find(dcm_file_dataset(f), T(5000, 0005)) != NULL);
    CHECK(clean_of(text(dcm_file_dataset(f), T(6000, 0022)), "Vandermolen"));
    CHECK_EQ_INT(r.n[DEID_N_GRAPHICS_REMOVED], 0);
    dcm_file_free(f);
    return 0;
}

/* An 8x4 16-bit US image of 0x1111 everywhere. */
static int add_us_image(dcm_dataset *ds)
{
    static uint8_t px[8 * 4 * 2];
    memset(px, 0x11, sizeof px);
    return set(ds, T(0008, 0060), DCM_VR_CS, "US") &&
           set(ds, T(0008, 1090), DCM_VR_LO, "SYNTH-US 9") &&
           dcm_dataset_set_bytes(ds, T(0028, 0002), DCM_VR_US, (const uint8_t *)"\1\0", 2, NULL) ==
               MS_OK &&
           dcm_dataset_set_bytes(ds, T(0028, 0010), DCM_VR_US, (const uint8_t *)"\4\0", 2, NULL) ==
               MS_OK &&
           dcm_dataset_set_bytes(ds, T(0028, 0011), DCM_VR_US, (const uint8_t *)"\x8\0", 2, NULL) ==
               MS_OK &&
           dcm_dataset_set_bytes(ds, T(0028, 0100), DCM_VR_US, (const uint8_t *)"\x10\0", 2,
                                 NULL) == MS_OK &&
           dcm_dataset_set_bytes(ds, DCM_TAG_PIXEL_DATA, DCM_VR_OW, px, sizeof px, NULL) == MS_OK;
}

static dcm_file *run_burnin(const char *config, deid_result *r)
{
    deid_ctx *ctx = NULL;
    dcm_file *f = make_file();
    if (f == NULL || !add_us_image(dcm_file_dataset(f)) ||
        deid_ctx_new(KEY, NULL, &ctx, NULL) != MS_OK ||
        (config && deid_ctx_parse_burnin(ctx, config, strlen(config), NULL) != MS_OK) ||
        deid_file_apply(ctx, f, r, NULL) != MS_OK) {
        dcm_file_free(f);
        f = NULL;
    }
    deid_ctx_free(ctx);
    return f;
}

TEST(test_deid_burned_in_needs_review)
{
    deid_result r;
    dcm_file *f = run_burnin(NULL, &r);
    CHECK(f != NULL);
    CHECK_EQ_INT(r.needs_review, 1);
    CHECK_EQ_INT(r.blanked, 0);
    CHECK_STR(r.reason, "modality US");
    dcm_file_free(f);
    /* a rule for another model does not apply */
    f = run_burnin("OTHER VENDOR | * | * | 0,0,8,1\n", &r);
    CHECK(f != NULL && r.needs_review == 1);
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_burned_in_rectangles_blanked)
{
    deid_result r;
    dcm_file *f =
        run_burnin("# comment\n\nsynthetic medical | synth-us | 8x4 | 0,0,8,1; 6,2,5,5\n", &r);
    CHECK(f != NULL);
    CHECK_EQ_INT(r.needs_review, 0);
    CHECK_EQ_INT(r.blanked, 1);
    dcm_dataset *ds = dcm_file_dataset(f);
    size_t n = 0;
    const uint8_t *px = dcm_elem_bytes(dcm_dataset_find(ds, DCM_TAG_PIXEL_DATA), &n);
    CHECK(px != NULL && n == 64);
    for (size_t y = 0; y < 4; y++)
        for (size_t x = 0; x < 8; x++) {
            int blank = y == 0 || (x >= 6 && y >= 2); /* second rectangle clipped */
            CHECK_EQ_INT(px[(y * 8 + x) * 2], blank ? 0 : 0x11);
        }
    CHECK_STR(text(ds, T(0028, 0301)), "NO");
    CHECK_STR(codes(ds), "113100,113101");
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_burned_in_config_errors_name_the_line)
{
    deid_ctx *ctx = NULL;
    ms_err err = {0};
    CHECK(deid_ctx_new(KEY, NULL, &ctx, NULL) == MS_OK);
    static const char *bad[] = {"a | b | * \n",    "a | b | 8y4 | 0,0,1,1\n",
                                "a|b|*|0,0,1\n",   "a|b|*|0,0,1,1;\n",
                                "a|b|*|x,0,1,1\n", "a|b|*|0,0,99999999,1\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ms_err_clear(&err);
        CHECK(deid_ctx_parse_burnin(ctx, bad[i], strlen(bad[i]), &err) == MS_E_FORMAT);
        CHECK(strstr(err.msg, "line 1") != NULL);
    }
    ms_err_clear(&err);
    const char *two = "# ok\na|b|*|0,0,1,1\nbroken\n";
    CHECK(deid_ctx_parse_burnin(ctx, two, strlen(two), &err) == MS_E_FORMAT);
    CHECK(strstr(err.msg, "line 3") != NULL);
    deid_ctx_free(ctx);
    return 0;
}

TEST(test_deid_same_patient_same_answers_across_files)
{
    deid_opts o = {DEID_OPT_BIT(DEID_OPT_MODIFIED_DATES), 0, 0, 0};
    deid_result r;
    dcm_file *a = run(&o, &r), *b = run(&o, &r);
    CHECK(a != NULL && b != NULL);
    uint32_t tags[] = {T(0010, 0010), T(0010, 0020), T(0020, 000D),
                       T(0020, 000E), T(0008, 0020), T(0008, 0018)};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        char va[128];
        snprintf(va, sizeof va, "%s", text(dcm_file_dataset(a), tags[i]));
        CHECK_STR(text(dcm_file_dataset(b), tags[i]), va);
    }
    dcm_file_free(a);
    dcm_file_free(b);
    return 0;
}

TEST(test_deid_alloc_failure_sweep)
{
    for (long n = 1; n < 2000; n++) {
        ms_alloc a = {0};
        dcm_file *f = NULL;
        deid_ctx *ctx = NULL;
        CHECK(dcm_file_new(&a, &f, NULL) == MS_OK);
        CHECK(add_private(dcm_file_dataset(f)) && add_content(dcm_file_dataset(f)));
        CHECK(set(dcm_file_dataset(f), T(0010, 0020), DCM_VR_LO, "MRN1"));
        CHECK(deid_ctx_new(KEY, NULL, &ctx, NULL) == MS_OK);
        a.fail_at = atomic_load(&a.count) + n;
        deid_result r;
        ms_err err = {0};
        ms_rc rc = deid_file_apply(ctx, f, &r, &err);
        CHECK(rc == MS_OK || (rc == MS_E_NOMEM && err.msg[0] != '\0'));
        deid_ctx_free(ctx);
        dcm_file_free(f);
        CHECK_EQ_INT(atomic_load(&a.in_use), 0);
        if (rc == MS_OK) {
            /* success only once no allocation failed: no failure was swallowed */
            CHECK(atomic_load(&a.count) < a.fail_at);
            CHECK(n > 5);
            return 0;
        }
    }
    return 1;
}

static int add_bad_text(dcm_dataset *ds)
{
    static const uint8_t v[] = {'V', 'a', 'n', 'd', 'e', 'r', 0, 'm', 'o', 'l', 'e', 'n'};
    return dcm_dataset_set_bytes(ds, T(0008, 1030), DCM_VR_LO, v, sizeof v, NULL) == MS_OK &&
           set(ds, T(0008, 103E), DCM_VR_LO, "AXIAL LUNG");
}

TEST(test_deid_clean_fails_closed)
{
    deid_opts o = {DEID_OPT_BIT(DEID_OPT_CLEAN_DESC), 0, 0, 0};
    deid_result r;
    dcm_file *f = run_extra(&o, &r, add_bad_text);
    CHECK(f != NULL);
    /* the scrubber refuses a NUL byte: the attribute goes, it is never kept raw */
    CHECK(text(dcm_file_dataset(f), T(0008, 1030)) == NULL);
    CHECK_STR(text(dcm_file_dataset(f), T(0008, 103E)), "AXIAL LUNG"); /* cleaned, nothing to do */
    CHECK(r.n[DEID_N_CLEANED] >= 1);
    dcm_file_free(f);
    return 0;
}

static int add_un(dcm_dataset *ds)
{
    return set(ds, T(0020, 0052), DCM_VR_UN, "1.2.826.0.1.3680043.10.1138.4") &&
           set(ds, T(0008, 0081), DCM_VR_UN, "1 Main St, Fort Wexley");
}

TEST(test_deid_un_takes_its_dictionary_vr)
{
    deid_result r;
    dcm_file *f = run_extra(NULL, &r, add_un);
    CHECK(f != NULL);
    dcm_dataset *ds = dcm_file_dataset(f);
    const dcm_elem *e = dcm_dataset_find(ds, T(0020, 0052));
    CHECK(e != NULL && dcm_elem_vr(e) == DCM_VR_UI); /* U gave a UID, not zeros */
    CHECK_STR(text(ds, T(0020, 0052)), uid_of("1.2.826.0.1.3680043.10.1138.4"));
    CHECK(text(ds, T(0008, 0081)) == NULL); /* X still removes */
    dcm_file_free(f);
    return 0;
}

TEST(test_deid_cache_gives_the_same_answers)
{
    deid_ctx *ctx = NULL, *other = NULL;
    deid_cache *cache = NULL;
    uint8_t key2[MS_KEY_LEN] = {9};
    CHECK(deid_ctx_new(KEY, NULL, &ctx, NULL) == MS_OK);
    CHECK(deid_ctx_new(key2, NULL, &other, NULL) == MS_OK);
    CHECK(deid_cache_new(&cache, NULL) == MS_OK);
    char first[MS_UID_MAX] = "";
    for (int round = 0; round < 3; round++) {
        /* same file twice with the cache, then once under another key through the same cache */
        const deid_ctx *c = round < 2 ? ctx : other;
        dcm_file *f = make_file();
        deid_result r;
        CHECK(f != NULL && deid_file_apply_cached(c, cache, f, &r, NULL) == MS_OK);
        const char *sop = text(dcm_file_dataset(f), T(0008, 0018));
        if (round == 0)
            snprintf(first, sizeof first, "%s", sop);
        if (round < 2) {
            CHECK_STR(sop, uid_of("1.2.826.0.1.3680043.10.1138.7"));
            CHECK_STR(sop, first);
        } else {
            CHECK(strcmp(sop, first) != 0); /* the memo is bound to its context's key */
        }
        dcm_file_free(f);
    }
    deid_cache_free(cache);
    deid_ctx_free(ctx);
    deid_ctx_free(other);
    return 0;
}

/* Mutants of a serialised file (one byte changed, or cut short): every one that the codec
 * accepts is de-identified and written without a crash (run under ASan in CI). */
TEST(test_deid_mutated_inputs_never_crash)
{
    dcm_file *f = make_file();
    CHECK(f != NULL && add_content(dcm_file_dataset(f)) && add_private(dcm_file_dataset(f)));
    ms_buf base;
    ms_buf_init(&base, NULL, 0);
    CHECK(dcm_file_write_mem(f, NULL, &base, NULL) == MS_OK);
    dcm_file_free(f);
    deid_ctx *ctx = NULL;
    deid_opts o = {DEID_OPT_BIT(DEID_OPT_MODIFIED_DATES) | DEID_OPT_BIT(DEID_OPT_CLEAN_DESC) |
                       DEID_OPT_BIT(DEID_OPT_SAFE_PRIVATE),
                   1, 0, 1};
    CHECK(deid_ctx_new(KEY, &o, &ctx, NULL) == MS_OK);
    uint32_t seed = 12345;
    size_t parsed = 0;
    for (int i = 0; i < 3000; i++) {
        uint8_t *m = ms_malloc(NULL, base.len);
        CHECK(m != NULL);
        memcpy(m, base.p, base.len);
        seed = seed * 1103515245u + 12345u;
        size_t at = 132 + (seed >> 8) % (base.len - 132), len = base.len;
        if (i % 10 == 9)
            len = at; /* truncated */
        else
            m[at] = (uint8_t)(seed >> 24);
        dcm_file *g = NULL;
        if (dcm_file_read_mem(m, len, NULL, &g, NULL) == MS_OK) {
            deid_result r;
            ms_buf out;
            ms_buf_init(&out, NULL, 0);
            if (deid_file_apply(ctx, g, &r, NULL) == MS_OK) {
                parsed++;
                (void)dcm_file_write_mem(g, NULL, &out, NULL);
            }
            ms_buf_free(&out);
            dcm_file_free(g);
        }
        ms_free(NULL, m);
    }
    CHECK(parsed > 100); /* the sweep did reach the de-identifier */
    deid_ctx_free(ctx);
    ms_buf_free(&base);
    return 0;
}

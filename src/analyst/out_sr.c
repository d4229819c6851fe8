/*
 * The report as a DICOM Comprehensive SR (1.2.840.10008.5.1.4.1.1.88.33) following TID 1500
 * "Measurement Report": root (126000, DCM) with language, device observer and procedure
 * reported; an Image Library (111028) with one group per source series and an IMAGE item per
 * source instance (also listed in (0040,A375) as dciodvfy requires); Imaging Measurements
 * (126010) with one Measurement Group (125007, TID 1501) per nodule of the current study:
 * tracking identifier and UID, finding (27925004 SCT nodule), finding site (SNOMED CT lobe
 * codes of CID 6126 with laterality), long axis / short axis / mean diameter (NUM in UCUM mm),
 * composition, and the Lung-RADS 2022 and Fleischner 2017 results as coded assessments with the
 * rule that produced them (private scheme 99MEDSEAL: no verified standard codes for these).
 *
 * De-identified unless opts->phi: patient name and ID become the keyed pseudonym, birth date and
 * study dates are left empty, every UID (study, series, referenced instances) is replaced by its
 * keyed pseudonym (ms_pseudo_uid), so the SR still references the de-identified source.
 * Trusts: the report JSON from an_report_json and the source files (values copied, bounded by
 * the VR limits). Owns: the dcm_file it builds (freed before return); appends Part 10 bytes.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define SR_CLASS     "1.2.840.10008.5.1.4.1.1.88.33"
#define DEVICE_UID   "2.25.231425524378958197663900629133244853219"
#define PRIV_SCHEME  "99MEDSEAL"
#define MAX_REF_SOPS 100000

#define T(g, e) DCM_TAG(0x##g, 0x##e)

struct sr {
    dcm_file *f;
    const an_sr_opts *o;
    uint8_t key[MS_KEY_LEN]; /* pseudonym key (opts->key or random) */
    ms_err *err;
    ms_rc rc;
};

static void set(struct sr *s, dcm_dataset *ds, uint32_t tag, uint16_t vr, const char *v)
{
    if (s->rc == MS_OK)
        s->rc = dcm_dataset_set_text(ds, tag, vr, v ? v : "", s->err);
}

static dcm_dataset *item(struct sr *s, dcm_dataset *ds, uint32_t seqtag, dcm_elem **seq)
{
    dcm_elem *q = seq ? *seq : NULL;
    dcm_dataset *it = NULL;
    if (s->rc == MS_OK && q == NULL)
        s->rc = dcm_dataset_set_sequence(ds, seqtag, &q, s->err);
    if (s->rc == MS_OK)
        s->rc = dcm_elem_item_append(q, &it, s->err);
    if (seq)
        *seq = q;
    return s->rc == MS_OK ? it : NULL;
}

static void code(struct sr *s, dcm_dataset *ds, uint32_t seqtag, const char *value,
                 const char *scheme, const char *meaning)
{
    char m[65];
    snprintf(m, sizeof m, "%s", meaning); /* CodeMeaning is LO: at most 64 characters */
    dcm_dataset *it = item(s, ds, seqtag, NULL);
    if (it == NULL)
        return;
    set(s, it, T(0008, 0100), DCM_VR_SH, value);
    set(s, it, T(0008, 0102), DCM_VR_SH, scheme);
    set(s, it, T(0008, 0104), DCM_VR_LO, m);
}

/* A content item under parent's ContentSequence: relationship, value type, concept name. */
static dcm_dataset *citem(struct sr *s, dcm_dataset *parent, const char *rel, const char *vt,
                          const char *cv, const char *cs, const char *cm)
{
    dcm_elem *cseq = dcm_dataset_find(parent, T(0040, A730));
    dcm_dataset *it = item(s, parent, T(0040, A730), &cseq);
    if (it == NULL)
        return NULL;
    set(s, it, T(0040, A010), DCM_VR_CS, rel);
    set(s, it, T(0040, A040), DCM_VR_CS, vt);
    code(s, it, T(0040, A043), cv, cs, cm);
    if (strcmp(vt, "CONTAINER") == 0)
        set(s, it, T(0040, A050), DCM_VR_CS, "SEPARATE");
    return it;
}

static void c_code(struct sr *s, dcm_dataset *parent, const char *rel, const char *cv,
                   const char *cs, const char *cm, const char *vv, const char *vs, const char *vm,
                   dcm_dataset **out)
{
    dcm_dataset *it = citem(s, parent, rel, "CODE", cv, cs, cm);
    if (it != NULL)
        code(s, it, T(0040, A168), vv, vs, vm);
    if (out)
        *out = it;
}

static void c_text(struct sr *s, dcm_dataset *parent, const char *rel, const char *cv,
                   const char *cs, const char *cm, const char *text)
{
    dcm_dataset *it = citem(s, parent, rel, "TEXT", cv, cs, cm);
    if (it != NULL)
        set(s, it, T(0040, A160), DCM_VR_UT, text);
}

static void c_uid(struct sr *s, dcm_dataset *parent, const char *rel, const char *cv,
                  const char *cs, const char *cm, const char *uid)
{
    dcm_dataset *it = citem(s, parent, rel, "UIDREF", cv, cs, cm);
    if (it != NULL)
        set(s, it, T(0040, A124), DCM_VR_UI, uid);
}

/* NUM in mm, with an optional derivation (e.g. mean) as a concept modifier. */
static void c_mm(struct sr *s, dcm_dataset *parent, const char *cv, const char *cm, double mm,
                 int mean)
{
    char v[32];
    dcm_dataset *it = citem(s, parent, "CONTAINS", "NUM", cv, "SCT", cm);
    if (it == NULL)
        return;
    snprintf(v, sizeof v, "%.1f", mm);
    dcm_dataset *mv = item(s, it, T(0040, A300), NULL);
    if (mv == NULL)
        return;
    set(s, mv, T(0040, A30A), DCM_VR_DS, v);
    code(s, mv, T(0040, 08EA), "mm", "UCUM", "millimeter");
    if (mean)
        c_code(s, it, "HAS CONCEPT MOD", "121401", "DCM", "Derivation", "373098007", "SCT",
               "Mean", NULL);
}

/* A value of the source (first file that has it) into buf; "" when none. */
static void src_text(dcm_file *const *src, size_t n, uint32_t tag, char *buf, size_t len)
{
    ms_buf b;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        ms_buf_init(&b, NULL, 0);
        if (dcm_dataset_text(dcm_file_dataset(src[i]), tag, &b, NULL) == MS_OK && b.len > 0) {
            snprintf(buf, len, "%.*s", (int)b.len, (const char *)b.p);
            ms_buf_free(&b);
            return;
        }
        ms_buf_free(&b);
    }
}

/* The UID to write for a source UID: itself with PHI, else its keyed pseudonym. */
static void map_uid(struct sr *s, const char *uid, char out[MS_UID_MAX])
{
    if (s->o->phi || uid[0] == '\0') {
        snprintf(out, MS_UID_MAX, "%s", uid);
        return;
    }
    if (s->rc == MS_OK)
        s->rc = ms_pseudo_uid(s->key, uid, strlen(uid), out, s->err);
}

/* A new UID for the SR itself (series, instance, tracking): pseudonym of a label under a key
 * drawn for this call. */
static void new_uid(struct sr *s, const uint8_t rnd[MS_KEY_LEN], const char *label,
                    char out[MS_UID_MAX])
{
    if (s->rc == MS_OK)
        s->rc = ms_pseudo_uid(rnd, label, strlen(label), out, s->err);
}

static void patient_study(struct sr *s, dcm_dataset *ds, dcm_file *const *src, size_t n,
                          char study_uid[MS_UID_MAX])
{
    char v[256], pid[80], issuer[80], pseudo[MS_PSEUDO_MAX];
    src_text(src, n, T(0020, 000D), v, sizeof v);
    map_uid(s, v, study_uid);
    if (study_uid[0] == '\0' && s->rc == MS_OK)
        s->rc = ms_fail(s->err, MS_E_FORMAT, "sr: no source file has (0020,000D)");
    set(s, ds, T(0020, 000D), DCM_VR_UI, study_uid);
    src_text(src, n, T(0010, 0020), pid, sizeof pid);
    src_text(src, n, T(0010, 0040), v, sizeof v);
    set(s, ds, T(0010, 0040), DCM_VR_CS, v);
    if (s->o->phi) {
        static const struct {
            uint32_t tag;
            uint16_t vr;
        } keep[] = {
            {T(0010, 0010), DCM_VR_PN}, {T(0010, 0030), DCM_VR_DA}, {T(0008, 0020), DCM_VR_DA},
            {T(0008, 0030), DCM_VR_TM}, {T(0008, 0050), DCM_VR_SH}, {T(0020, 0010), DCM_VR_SH},
            {T(0008, 0090), DCM_VR_PN},
        };
        set(s, ds, T(0010, 0020), DCM_VR_LO, pid);
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
            src_text(src, n, keep[i].tag, v, sizeof v);
            set(s, ds, keep[i].tag, keep[i].vr, v);
        }
        return;
    }
    /* the pseudonym `deid` gives: of IssuerOfPatientID + PatientID, the pair it is made from */
    src_text(src, n, T(0010, 0021), issuer, sizeof issuer);
    if (s->rc == MS_OK)
        s->rc = ms_pseudo_patient(s->key, issuer, strlen(issuer), pid, strlen(pid), pseudo,
                                  s->err);
    if (s->rc != MS_OK)
        return;
    set(s, ds, T(0010, 0010), DCM_VR_PN, pseudo);
    set(s, ds, T(0010, 0020), DCM_VR_LO, pseudo);
    static const uint32_t empty[] = {T(0010, 0030), T(0008, 0020), T(0008, 0030), T(0008, 0050),
                                     T(0020, 0010), T(0008, 0090)};
    static const uint16_t evr[] = {DCM_VR_DA, DCM_VR_DA, DCM_VR_TM,
                                   DCM_VR_SH, DCM_VR_SH, DCM_VR_PN};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++)
        set(s, ds, empty[i], evr[i], "");
    set(s, ds, T(0012, 0062), DCM_VR_CS, "YES");
    set(s, ds, T(0012, 0063), DCM_VR_LO, "medseal keyed pseudonyms; dates removed");
}

struct series_ref {
    char uid[MS_UID_MAX];
    dcm_dataset *lib_group;  /* Image Library Group content item */
    dcm_dataset *ev_series;  /* (0008,1115) item in the evidence */
    dcm_elem *ev_sops;       /* its (0008,1199) */
};

/* Image Library and (0040,A375) evidence for every image instance of the source. */
static void evidence(struct sr *s, dcm_dataset *ds, dcm_dataset *root, dcm_file *const *src,
                     size_t n, const char *study_uid)
{
    char v[256], cls[MS_UID_MAX], inst[MS_UID_MAX], ser[MS_UID_MAX];
    size_t nser = 0;
    struct series_ref *refs = NULL;
    dcm_dataset *ev = NULL, *lib = NULL;
    dcm_elem *ev_series = NULL;
    for (size_t i = 0; i < n && i < MAX_REF_SOPS && s->rc == MS_OK; i++) {
        dcm_dataset *src_ds = dcm_file_dataset(src[i]);
        src_text(src + i, 1, T(0008, 0016), cls, sizeof cls);
        src_text(src + i, 1, T(0008, 0060), v, sizeof v);
        if (cls[0] == '\0' || strcmp(v, "SR") == 0 || strcmp(v, "PR") == 0 ||
            dcm_dataset_find(src_ds, DCM_TAG_PIXEL_DATA) == NULL)
            continue; /* images only: IMAGE items reference image instances */
        src_text(src + i, 1, T(0008, 0018), v, sizeof v);
        map_uid(s, v, inst);
        src_text(src + i, 1, T(0020, 000E), v, sizeof v);
        map_uid(s, v, ser);
        if (s->rc != MS_OK || inst[0] == '\0' || ser[0] == '\0')
            continue;
        if (ev == NULL) {
            ev = item(s, ds, T(0040, A375), NULL);
            if (ev == NULL)
                break;
            set(s, ev, T(0020, 000D), DCM_VR_UI, study_uid);
            lib = citem(s, root, "CONTAINS", "CONTAINER", "111028", "DCM", "Image Library");
        }
        size_t k = 0;
        while (k < nser && strcmp(refs[k].uid, ser) != 0)
            k++;
        if (k == nser) {
            struct series_ref *nr = ms_realloc(NULL, refs, (nser + 1) * sizeof *refs);
            if (nr == NULL) {
                s->rc = ms_fail(s->err, MS_E_NOMEM, "sr: out of memory");
                break;
            }
            refs = nr;
            memset(&refs[k], 0, sizeof refs[k]);
            snprintf(refs[k].uid, sizeof refs[k].uid, "%s", ser);
            refs[k].ev_series = item(s, ev, T(0008, 1115), &ev_series);
            set(s, refs[k].ev_series, T(0020, 000E), DCM_VR_UI, ser);
            refs[k].lib_group =
                citem(s, lib, "CONTAINS", "CONTAINER", "126200", "DCM", "Image Library Group");
            nser++;
        }
        if (s->rc != MS_OK)
            break;
        dcm_dataset *sop = item(s, refs[k].ev_series, T(0008, 1199), &refs[k].ev_sops);
        set(s, sop, T(0008, 1150), DCM_VR_UI, cls);
        set(s, sop, T(0008, 1155), DCM_VR_UI, inst);
        dcm_dataset *img = citem(s, refs[k].lib_group, "CONTAINS", "IMAGE", "260753009", "SCT",
                                 "Source");
        dcm_dataset *ref = item(s, img, T(0008, 1199), NULL);
        set(s, ref, T(0008, 1150), DCM_VR_UI, cls);
        set(s, ref, T(0008, 1155), DCM_VR_UI, inst);
    }
    ms_free(NULL, refs);
}

/* Finding site: CID 6126 lobe concept, laterality as a modifier where the code needs it. */
static void finding_site(struct sr *s, dcm_dataset *grp, const char *lobe)
{
    const char *cv = NULL, *cm = NULL, *lat = NULL;
    if (lobe == NULL)
        return;
    if (strcmp(lobe, "RML") == 0)
        cv = "72481006", cm = "Middle lobe of right lung";
    else if (strcmp(lobe, "RUL") == 0 || strcmp(lobe, "LUL") == 0 || strcmp(lobe, "lingula") == 0)
        cv = "45653009", cm = "Upper lobe of lung", lat = lobe[0] == 'R' ? "R" : "L";
    else if (strcmp(lobe, "RLL") == 0 || strcmp(lobe, "LLL") == 0)
        cv = "90572001", cm = "Lower lobe of lung", lat = lobe[0] == 'R' ? "R" : "L";
    if (cv == NULL)
        return;
    dcm_dataset *site = NULL;
    c_code(s, grp, "HAS CONCEPT MOD", "363698007", "SCT", "Finding Site", cv, "SCT", cm, &site);
    if (lat != NULL && site != NULL)
        c_code(s, site, "HAS CONCEPT MOD", "272741003", "SCT", "Laterality",
               lat[0] == 'R' ? "24028007" : "7771000", "SCT", lat[0] == 'R' ? "Right" : "Left",
               NULL);
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void guideline(struct sr *s, dcm_dataset *grp, const json_t *g, const char *cv,
                      const char *cm, const char *label)
{
    char vv[17], vm[65];
    const char *cat = jstr(g, "category"), *rule = jstr(g, "rule");
    if (cat == NULL)
        return;
    snprintf(vv, sizeof vv, "%s", cat);
    snprintf(vm, sizeof vm, "%s %s", label, cat);
    c_code(s, grp, "CONTAINS", cv, PRIV_SCHEME, cm, vv, PRIV_SCHEME, vm, NULL);
    if (rule != NULL)
        c_text(s, grp, "CONTAINS", "rule", PRIV_SCHEME, "Guideline rule", rule);
    const char *mg = jstr(g, "management");
    if (mg != NULL)
        c_text(s, grp, "CONTAINS", "management", PRIV_SCHEME, "Recommended management", mg);
}

static void nodule_group(struct sr *s, dcm_dataset *meas, const json_t *fd, const char *study_uid)
{
    char tid[MS_UID_MAX], lbl[160];
    const char *id = jstr(fd, "id");
    const json_t *size = json_object_get(fd, "size"), *axes = json_object_get(size, "axes_mm");
    dcm_dataset *grp =
        citem(s, meas, "CONTAINS", "CONTAINER", "125007", "DCM", "Measurement Group");
    if (grp == NULL)
        return;
    c_text(s, grp, "HAS OBS CONTEXT", "112039", "DCM", "Tracking Identifier",
           id ? id : "nodule");
    /* stable for this nodule of this study (same key, same study): a keyed name */
    snprintf(lbl, sizeof lbl, "nodule\n%s\n%s", study_uid, id ? id : "");
    if (s->rc == MS_OK)
        s->rc = ms_pseudo_uid(s->key, lbl, strlen(lbl), tid, s->err);
    c_uid(s, grp, "HAS OBS CONTEXT", "112040", "DCM", "Tracking Unique Identifier", tid);
    c_code(s, grp, "CONTAINS", "121071", "DCM", "Finding", "27925004", "SCT", "Nodule", NULL);
    finding_site(s, grp, jstr(json_object_get(fd, "location"), "lobe"));
    if (json_array_size(axes) >= 2) {
        c_mm(s, grp, "103339001", "Long axis", json_number_value(json_array_get(axes, 0)), 0);
        c_mm(s, grp, "103340004", "Short axis", json_number_value(json_array_get(axes, 1)), 0);
    }
    const json_t *mean = json_object_get(size, "mean_diameter_mm");
    if (json_is_number(mean) && isfinite(json_number_value(mean)))
        c_mm(s, grp, "81827009", "Diameter", json_number_value(mean), 1);
    const char *comp = jstr(json_object_get(fd, "composition"), "value");
    if (comp != NULL) {
        char vv[17], vm[65];
        snprintf(vv, sizeof vv, "%s", comp);
        snprintf(vm, sizeof vm, "%s", comp);
        c_code(s, grp, "CONTAINS", "composition", PRIV_SCHEME, "Nodule composition", vv,
               PRIV_SCHEME, vm, NULL);
    }
    guideline(s, grp, json_object_get(fd, "lung_rads"), "lung-rads", "Lung-RADS v2022 category",
              "Lung-RADS");
    guideline(s, grp, json_object_get(fd, "fleischner"), "fleischner",
              "Fleischner 2017 recommendation", "Fleischner");
    const json_t *cmp = json_object_get(fd, "comparison");
    const char *st = jstr(cmp, "status");
    if (st != NULL)
        c_text(s, grp, "CONTAINS", "status", PRIV_SCHEME, "Change since prior", st);
}

ms_rc an_report_sr(const an_report *r, dcm_file *const *src, size_t n, const an_sr_opts *opts,
                   ms_buf *out, ms_err *err)
{
    static const an_sr_opts defaults;
    struct sr s = {.o = opts ? opts : &defaults, .err = err, .rc = MS_OK};
    uint8_t rnd[MS_KEY_LEN];
    char study_uid[MS_UID_MAX], series_uid[MS_UID_MAX], sop_uid[MS_UID_MAX], date[16], tm[16];
    json_t *j = NULL;
    if (r == NULL || out == NULL || (n > 0 && src == NULL))
        return ms_fail(err, MS_E_INVAL, "sr: bad arguments");
    if (n == 0)
        return ms_fail(err, MS_E_INVAL, "sr: no source instances to reference");
    ms_rc rc = an_report_json(r, &j, err);
    if (rc != MS_OK)
        return rc;
    if (s.o->key != NULL)
        memcpy(s.key, s.o->key, MS_KEY_LEN);
    else
        rc = ms_random(s.key, sizeof s.key, err);
    if (rc == MS_OK)
        rc = ms_random(rnd, sizeof rnd, err);
    if (rc == MS_OK)
        rc = dcm_file_new(s.o->alloc, &s.f, err);
    if (rc != MS_OK) {
        json_decref(j);
        ms_memzero(s.key, sizeof s.key);
        return rc;
    }
    dcm_dataset *ds = dcm_file_dataset(s.f);
    time_t now = time(NULL);
    struct tm t;
    gmtime_r(&now, &t);
    strftime(date, sizeof date, "%Y%m%d", &t);
    strftime(tm, sizeof tm, "%H%M%S", &t);
    new_uid(&s, rnd, "series", series_uid);
    new_uid(&s, rnd, "instance", sop_uid);

    set(&s, ds, DCM_TAG_SPECIFIC_CHARSET, DCM_VR_CS, "ISO_IR 192");
    set(&s, ds, T(0008, 0016), DCM_VR_UI, SR_CLASS);
    set(&s, ds, T(0008, 0018), DCM_VR_UI, sop_uid);
    set(&s, ds, T(0008, 0023), DCM_VR_DA, date);
    set(&s, ds, T(0008, 0033), DCM_VR_TM, tm);
    set(&s, ds, T(0008, 0060), DCM_VR_CS, "SR");
    set(&s, ds, T(0008, 0070), DCM_VR_LO, "medseal");
    set(&s, ds, T(0008, 103E), DCM_VR_LO, "medseal measurement report");
    set(&s, ds, T(0018, 1020), DCM_VR_LO, MS_VERSION);
    patient_study(&s, ds, src, n, study_uid);
    set(&s, ds, T(0020, 000E), DCM_VR_UI, series_uid);
    set(&s, ds, T(0020, 0011), DCM_VR_IS, "9901");
    set(&s, ds, T(0020, 0013), DCM_VR_IS, "1");
    set(&s, ds, T(0040, A491), DCM_VR_CS, "COMPLETE");
    set(&s, ds, T(0040, A493), DCM_VR_CS, "UNVERIFIED");
    dcm_elem *e = NULL;
    if (s.rc == MS_OK)
        s.rc = dcm_dataset_set_sequence(ds, T(0008, 1111), &e, err); /* type 2, empty */
    if (s.rc == MS_OK)
        s.rc = dcm_dataset_set_sequence(ds, T(0040, A372), &e, err); /* type 2, empty */

    /* root content item */
    set(&s, ds, T(0040, A040), DCM_VR_CS, "CONTAINER");
    code(&s, ds, T(0040, A043), "126000", "DCM", "Imaging Measurement Report");
    set(&s, ds, T(0040, A050), DCM_VR_CS, "SEPARATE");
    dcm_dataset *tpl = item(&s, ds, T(0040, A504), NULL);
    set(&s, tpl, T(0008, 0105), DCM_VR_CS, "DCMR");
    set(&s, tpl, T(0040, DB00), DCM_VR_CS, "1500");
    c_code(&s, ds, "HAS CONCEPT MOD", "121049", "DCM", "Language of Content Item and Descendants",
           "en-US", "RFC5646", "English (United States)", NULL);
    c_code(&s, ds, "HAS OBS CONTEXT", "121005", "DCM", "Observer Type", "121007", "DCM", "Device",
           NULL);
    c_uid(&s, ds, "HAS OBS CONTEXT", "121012", "DCM", "Device Observer UID", DEVICE_UID);
    c_text(&s, ds, "HAS OBS CONTEXT", "121013", "DCM", "Device Observer Name", AN_ENGINE_VERSION);
    c_code(&s, ds, "HAS CONCEPT MOD", "121058", "DCM", "Procedure reported", "24627-2", "LN",
           "CT Chest", NULL);
    evidence(&s, ds, ds, src, n, study_uid);
    dcm_dataset *meas =
        citem(&s, ds, "CONTAINS", "CONTAINER", "126010", "DCM", "Imaging Measurements");
    size_t i;
    json_t *fd;
    json_array_foreach(json_object_get(j, "findings"), i, fd)
    {
        const char *type = jstr(fd, "type");
        if (s.rc == MS_OK && type != NULL && strcmp(type, "nodule") == 0)
            nodule_group(&s, meas, fd, study_uid);
    }
    json_decref(j);
    if (s.rc == MS_OK) {
        dcm_dataset *meta = dcm_file_meta(s.f);
        set(&s, meta, T(0002, 0002), DCM_VR_UI, SR_CLASS);
        set(&s, meta, T(0002, 0003), DCM_VR_UI, sop_uid);
    }
    if (s.rc == MS_OK)
        s.rc = dcm_file_write_mem(s.f, NULL, out, err);
    dcm_file_free(s.f);
    ms_memzero(s.key, sizeof s.key);
    ms_memzero(rnd, sizeof rnd);
    return s.rc;
}

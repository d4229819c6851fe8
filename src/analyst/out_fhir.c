/*
 * The report as a FHIR R4 Bundle (type collection, or transaction for posting to a server).
 *
 * Resources: one DiagnosticReport (status preliminary: machine output for a radiologist to
 * confirm; LOINC 18748-4; category RAD; subject, effectiveDateTime, issued, imagingStudy, result,
 * conclusion), its subject Patient (with --phi the MRN and name, without only the sex), an
 * ImagingStudy (modality, counts, the StudyInstanceUID identifier with --phi only), the medseal
 * Device (software name, engine and guideline versions) and Observations, each with category
 * imaging, subject, effectiveDateTime, issued and device:
 *   - per nodule a grouping Observation (RadElement RDES195 / RadLex RID50149 "pulmonary nodule",
 *     body site RadLex lobe) with hasMember: its size (LOINC 21889-1, components 33728-7 and
 *     33729-5, and the solid component of a part-solid nodule), its Lung-RADS category (SNOMED CT
 *     1362105002 / RadElement RDES267; value coded in the medseal Lung-RADS v2022 CodeSystem), its
 *     Fleischner recommendation (value coded in the medseal Fleischner 2017 CodeSystem) and its
 *     volume doubling time; the size derivedFrom the ImagingStudy, the others derivedFrom the size;
 *   - the exam's Lung-RADS and Fleischner assessments, derivedFrom the deciding nodule's, and the
 *     BI-RADS assessment carried from the text (RadElement RDES245, SNOMED CT values 0-5).
 * No extension is used. The medseal CodeSystems (an_fhir_codesystems) are published in
 * docs/fhir/medseal-codesystems.json; docs/analyst.md says which external codes were verified.
 * DiagnosticReport.performer is absent: R4 allows no Device there (Observation.device names it).
 *
 * Trusts: the JSON from an_report_json. Owns: the Bundle it returns.
 */
#define _GNU_SOURCE /* gmtime_r, strtok_r */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define LOINC      "http://loinc.org"
#define SNOMED     "http://snomed.info/sct"
#define RADLEX     "http://www.radlex.org"
#define RADELEMENT "https://radelement.org"
#define UCUM       "http://unitsofmeasure.org"
#define DICOM_DCM  "http://dicom.nema.org/resources/ontology/DCM"
#define OBS_CAT    "http://terminology.hl7.org/CodeSystem/observation-category"
#define V2_0074    "http://terminology.hl7.org/CodeSystem/v2-0074"
#define V2_0203    "http://terminology.hl7.org/CodeSystem/v2-0203"
#define CS_LR      "urn:medseal:fhir:CodeSystem:lung-rads-v2022"
#define CS_FL      "urn:medseal:fhir:CodeSystem:fleischner-2017"
#define CS_MS      "urn:medseal:fhir:CodeSystem:analyst"
#define DEVICE_ID  "urn:medseal:fhir:device"

struct concept {
    const char *code, *display;
};

/* The medseal CodeSystems: the only codes of these systems the Bundle uses. */
static const struct concept lr_values[] = {
    {"0", "Lung-RADS 0: incomplete"},
    {"1", "Lung-RADS 1: negative"},
    {"2", "Lung-RADS 2: benign appearance or behavior"},
    {"3", "Lung-RADS 3: probably benign"},
    {"4A", "Lung-RADS 4A: suspicious"},
    {"4B", "Lung-RADS 4B: very suspicious"},
    {"4X", "Lung-RADS 4X: category 3, 4A or 4B with additional features of malignancy"},
};
static const struct concept fl_values[] = {
    {"no-follow-up", "No routine follow-up"},
    {"optional-ct-12m", "Optional CT at 12 months"},
    {"ct-6-12m-consider-18-24m", "CT at 6-12 months, then consider CT at 18-24 months"},
    {"ct-6-12m-then-18-24m", "CT at 6-12 months, then CT at 18-24 months"},
    {"ct-3m-pet-or-biopsy", "Consider CT at 3 months, PET/CT, or tissue sampling"},
    {"ct-3-6m-consider-18-24m", "CT at 3-6 months, then consider CT at 18-24 months"},
    {"ct-3-6m-then-18-24m", "CT at 3-6 months, then CT at 18-24 months"},
    {"ct-6-12m-then-2y-until-5y",
     "CT at 6-12 months to confirm persistence, then CT every 2 years until 5 years"},
    {"ct-3-6m-then-annual-5y", "CT at 3-6 months to confirm persistence; if unchanged and solid "
                               "component < 6 mm, annual CT for 5 years"},
    {"pet-biopsy-or-resection",
     "Persistent part-solid nodule with solid component >= 6 mm: highly suspicious"},
    {"ct-3-6m-then-2y-4y", "CT at 3-6 months; if stable, consider CT at 2 and 4 years"},
    {"ct-3-6m-then-most-suspicious",
     "CT at 3-6 months; then manage by the most suspicious nodule"},
    {"not-applicable",
     "Fleischner 2017 does not apply (screening, age < 35, known cancer, immunosuppression)"},
};
static const struct concept ms_values[] = {
    {"fleischner-recommendation", "Fleischner 2017 follow-up recommendation"},
    {"volume-doubling-time", "Nodule volume doubling time"},
    {"solid-component-size", "Solid component of a part-solid nodule, mean diameter"},
    {"lung-rads-exam", "Lung-RADS v2022 exam category (most suspicious nodule)"},
    {"fleischner-exam", "Fleischner 2017 exam recommendation (most urgent)"},
};

/* BI-RADS values with a SNOMED CT code (DICOM CID 6027): {category, SNOMED CT code}; 4A-4C and
 * 6 have none there and are text only. */
static const struct concept birads_sct[] = {
    {"0", "397138000"}, {"1", "397140005"}, {"2", "397141009"},
    {"3", "397143007"}, {"4", "397144001"}, {"5", "397145000"},
};

static const struct concept *find(const struct concept *t, size_t n, const char *code)
{
    for (size_t i = 0; code != NULL && i < n; i++)
        if (strcmp(t[i].code, code) == 0)
            return &t[i];
    return NULL;
}
#define FIND(t, code) find(t, sizeof t / sizeof t[0], code)

struct bundle {
    json_t *entries;
    unsigned char seed[16];
    unsigned n;
    char patient[64], device[64], study[64]; /* urns of the subject, Device, ImagingStudy */
    const char *date;                          /* effectiveDateTime: the study's date, or NULL */
    char issued[32];                           /* now, an instant */
};

/* urn:uuid: from the bundle's random seed and a counter (version 4 layout). */
static void new_urn(struct bundle *b, char out[64])
{
    unsigned char u[16];
    memcpy(u, b->seed, 16);
    b->n++;
    u[12] ^= (unsigned char)(b->n >> 24);
    u[13] ^= (unsigned char)(b->n >> 16);
    u[14] ^= (unsigned char)(b->n >> 8);
    u[15] ^= (unsigned char)b->n;
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    snprintf(out, 64,
             "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

/* a member's string or "" (never NULL into a format) */
static const char *sv(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v != NULL ? v : "";
}

static json_t *cc1(const char *system, const char *code, const char *display)
{
    return json_pack("{s:[{s:s,s:s,s:s}],s:s}", "coding", "system", system, "code", code,
                     "display", display, "text", display);
}

static json_t *cc2(const char *s1, const char *c1, const char *d1, const char *s2, const char *c2,
                   const char *d2, const char *text)
{
    return json_pack("{s:[{s:s,s:s,s:s},{s:s,s:s,s:s}],s:s}", "coding", "system", s1, "code", c1,
                     "display", d1, "system", s2, "code", c2, "display", d2, "text", text);
}

/* a medseal concept (from ms_values) as a CodeableConcept */
static json_t *ms_cc(const char *code)
{
    const struct concept *c = FIND(ms_values, code);
    return cc1(CS_MS, c->code, c->display);
}

static json_t *mm(double v)
{
    return json_pack("{s:f,s:s,s:s,s:s}", "value", v, "unit", "mm", "system", UCUM, "code", "mm");
}

static json_t *ref(const char *urn)
{
    return json_pack("{s:s}", "reference", urn);
}

static json_t *note(const char *text)
{
    return json_pack("[{s:s}]", "text", text);
}

static void add_entry(struct bundle *b, const char *urn, json_t *res)
{
    json_array_append_new(b->entries, json_pack("{s:s,s:o}", "fullUrl", urn, "resource", res));
}

/* Completes an Observation (common elements) and adds it; its urn in `urn`. */
static void add_obs(struct bundle *b, json_t *obs, char urn[64])
{
    new_urn(b, urn);
    json_object_set_new(obs, "resourceType", json_string("Observation"));
    json_object_set_new(obs, "status", json_string("preliminary"));
    json_object_set_new(obs, "category",
                        json_pack("[{s:[{s:s,s:s,s:s}]}]", "coding", "system", OBS_CAT, "code",
                                  "imaging", "display", "Imaging"));
    json_object_set_new(obs, "subject", ref(b->patient));
    if (b->date != NULL)
        json_object_set_new(obs, "effectiveDateTime", json_string(b->date));
    json_object_set_new(obs, "issued", json_string(b->issued));
    json_object_set_new(obs, "device", ref(b->device));
    add_entry(b, urn, obs);
}

static void link_to(json_t *obs, const char *member, const char *urn)
{
    json_t *a = json_object_get(obs, member);
    if (a == NULL) {
        a = json_array();
        json_object_set_new(obs, member, a);
    }
    json_array_append_new(a, ref(urn));
}

/* RadLex lobe codes (docs/analyst.md: verified); the lingula is text only */
static json_t *body_site(const json_t *loc)
{
    static const struct concept lobes[] = {
        {"RUL", "RID1303"}, {"RML", "RID1310"}, {"RLL", "RID1315"},
        {"LUL", "RID1327"}, {"LLL", "RID1338"},
    };
    static const char *const names[] = {"Upper lobe of right lung", "Middle lobe of lung",
                                        "Lower lobe of right lung", "Upper lobe of left lung",
                                        "Lower lobe of left lung"};
    if (!json_is_object(loc))
        return NULL;
    const struct concept *c = FIND(lobes, sv(loc, "lobe"));
    if (c == NULL)
        return json_pack("{s:s}", "text", sv(loc, "name"));
    return cc1(RADLEX, c->display, names[c - lobes]);
}

static void size_obs(struct bundle *b, const json_t *f, char urn[64])
{
    const json_t *size = json_object_get(f, "size");
    const json_t *axes = json_object_get(size, "axes_mm");
    json_t *obs = json_object();
    json_object_set_new(obs, "code", cc1(LOINC, "21889-1", "Size Tumor"));
    json_object_set_new(obs, "valueQuantity",
                        mm(json_number_value(json_object_get(size, "mean_diameter_mm"))));
    json_t *comp = json_array();
    double l = 0, s = 1e9;
    for (size_t i = 0; i < json_array_size(axes); i++) {
        double v = json_number_value(json_array_get(axes, i));
        l = v > l ? v : l;
        s = v < s ? v : s;
    }
    json_array_append_new(comp, json_pack("{s:o,s:o}", "code",
                                          cc1(LOINC, "33728-7", "Size.maximum dimension in Tumor"),
                                          "valueQuantity", mm(l)));
    if (json_array_size(axes) > 1)
        json_array_append_new(
            comp, json_pack("{s:o,s:o}", "code",
                            cc1(LOINC, "33729-5", "Size.additional dimension in Tumor"),
                            "valueQuantity", mm(s)));
    const json_t *solid = json_object_get(f, "solid_component_mm");
    if (json_is_number(solid))
        json_array_append_new(comp, json_pack("{s:o,s:o}", "code", ms_cc("solid-component-size"),
                                              "valueQuantity", mm(json_number_value(solid))));
    json_object_set_new(obs, "component", comp);
    json_t *site = body_site(json_object_get(f, "location"));
    if (site != NULL)
        json_object_set_new(obs, "bodySite", site);
    json_object_set_new(obs, "method",
                        json_pack("{s:s}", "text", "mean of long and short axis (Lung-RADS)"));
    link_to(obs, "derivedFrom", b->study);
    add_obs(b, obs, urn);
}

static void lung_rads_obs(struct bundle *b, const json_t *g, int exam, const char *derived,
                          char urn[64])
{
    char text[480];
    const char *cat = sv(g, "category");
    const struct concept *v = FIND(lr_values, cat);
    json_t *obs = json_object();
    json_object_set_new(obs, "code",
                        exam ? ms_cc("lung-rads-exam")
                             : cc2(SNOMED, "1362105002",
                                   "Lung Imaging Reporting and Data System category", RADELEMENT,
                                   "RDES267", "Lung-RADS categorization", "Lung-RADS v2022 category"));
    snprintf(text, sizeof text, "Lung-RADS v2022 %s", cat);
    json_object_set_new(obs, "valueCodeableConcept",
                        v != NULL ? json_pack("{s:[{s:s,s:s,s:s}],s:s}", "coding", "system", CS_LR,
                                              "code", v->code, "display", v->display, "text", text)
                                  : json_pack("{s:s}", "text", text));
    json_object_set_new(obs, "method", json_pack("{s:s}", "text", sv(g, "guideline")));
    snprintf(text, sizeof text, "rule %s: %s. Management: %s%s%s", sv(g, "rule"),
             sv(g, "rule_text"), sv(g, "management"), sv(g, "note")[0] ? ". Note: " : "",
             sv(g, "note"));
    json_object_set_new(obs, "note", note(text));
    if (derived != NULL)
        link_to(obs, "derivedFrom", derived);
    add_obs(b, obs, urn);
}

static void fleischner_obs(struct bundle *b, const json_t *g, int exam, const char *derived,
                           char urn[64])
{
    char text[480];
    const struct concept *v = FIND(fl_values, sv(g, "category"));
    json_t *obs = json_object();
    json_object_set_new(obs, "code", ms_cc(exam ? "fleischner-exam" : "fleischner-recommendation"));
    json_object_set_new(obs, "valueCodeableConcept",
                        v != NULL ? cc1(CS_FL, v->code, v->display)
                                  : json_pack("{s:s}", "text", sv(g, "category")));
    json_object_set_new(obs, "method", json_pack("{s:s}", "text", sv(g, "guideline")));
    snprintf(text, sizeof text, "rule %s: %s%s%s", sv(g, "rule"), sv(g, "management"),
             sv(g, "note")[0] ? " Note: " : "", sv(g, "note"));
    json_object_set_new(obs, "note", note(text));
    if (derived != NULL)
        link_to(obs, "derivedFrom", derived);
    add_obs(b, obs, urn);
}

static int vdt_obs(struct bundle *b, const json_t *c, const char *derived, char urn[64])
{
    const json_t *v = json_object_get(c, "vdt_days");
    if (!json_is_number(v))
        return 0;
    json_t *obs = json_object();
    json_object_set_new(obs, "code", ms_cc("volume-doubling-time"));
    json_object_set_new(obs, "valueQuantity",
                        json_pack("{s:f,s:s,s:s,s:s}", "value", json_number_value(v), "unit", "d",
                                  "system", UCUM, "code", "d"));
    json_object_set_new(obs, "interpretation", json_pack("[{s:s}]", "text", sv(c, "vdt_reading")));
    link_to(obs, "derivedFrom", derived);
    add_obs(b, obs, urn);
    return 1;
}

/* One nodule: its grouping Observation (returned in `group`) and members; the urns of its
 * Lung-RADS and Fleischner Observations in lr / fl ("" when it has none). */
static void nodule(struct bundle *b, const json_t *f, char group[64], char lr[64], char fl[64])
{
    char size[64], u[64], text[200];
    json_t *obs = json_object();
    size_obs(b, f, size);
    link_to(obs, "hasMember", size);
    lr[0] = fl[0] = '\0';
    if (json_is_object(json_object_get(f, "lung_rads"))) {
        lung_rads_obs(b, json_object_get(f, "lung_rads"), 0, size, lr);
        link_to(obs, "hasMember", lr);
    }
    if (json_is_object(json_object_get(f, "fleischner"))) {
        fleischner_obs(b, json_object_get(f, "fleischner"), 0, size, fl);
        link_to(obs, "hasMember", fl);
    }
    if (vdt_obs(b, json_object_get(f, "comparison"), size, u))
        link_to(obs, "hasMember", u);
    json_object_set_new(obs, "code",
                        cc2(RADELEMENT, "RDES195", "Pulmonary nodule", RADLEX, "RID50149",
                            "Pulmonary nodule", "Pulmonary nodule"));
    json_t *site = body_site(json_object_get(f, "location"));
    if (site != NULL)
        json_object_set_new(obs, "bodySite", site);
    const json_t *cv = json_object_get(json_object_get(f, "composition"), "value");
    const char *status = sv(json_object_get(f, "comparison"), "status");
    snprintf(text, sizeof text, "Nodule %s: %s, %s", sv(f, "id"),
             json_is_string(cv) ? json_string_value(cv) : "composition not stated",
             status[0] ? status : "no comparison");
    json_object_set_new(obs, "note", note(text));
    link_to(obs, "derivedFrom", b->study);
    add_obs(b, obs, group);
}

static void birads_obs(struct bundle *b, const json_t *g, char urn[64])
{
    char text[320];
    const char *cat = sv(g, "category");
    const struct concept *v = FIND(birads_sct, cat);
    json_t *obs = json_object();
    json_object_set_new(obs, "code", cc1(RADELEMENT, "RDES245", "BI-RADS"));
    snprintf(text, sizeof text, "BI-RADS %s: %s", cat, sv(g, "assessment"));
    json_object_set_new(obs, "valueCodeableConcept",
                        v != NULL ? json_pack("{s:[{s:s,s:s}],s:s}", "coding", "system", SNOMED,
                                              "code", v->display, "text", text)
                                  : json_pack("{s:s}", "text", text));
    snprintf(text, sizeof text, "rule %s. Management: %s", sv(g, "rule"), sv(g, "management"));
    json_object_set_new(obs, "note", note(text));
    add_obs(b, obs, urn);
}

static json_t *report_resource(const json_t *j, json_t *results, const struct bundle *b)
{
    const json_t *imp = json_object_get(j, "impression");
    size_t len = 0;
    for (size_t i = 0; i < json_array_size(imp); i++)
        len += strlen(json_string_value(json_array_get(imp, i))) + 1;
    char *conclusion = ms_malloc(NULL, len + 1);
    if (conclusion != NULL) {
        conclusion[0] = '\0';
        for (size_t i = 0; i < json_array_size(imp); i++) {
            strncat(conclusion, json_string_value(json_array_get(imp, i)), len);
            if (i + 1 < json_array_size(imp))
                strncat(conclusion, "\n", len);
        }
    }
    json_t *dr = json_pack("{s:s,s:{s:s},s:s,s:[{s:[{s:s,s:s,s:s}]}],s:o,s:o,s:s,s:o,s:o,s:[o]}",
                           "resourceType", "DiagnosticReport", "meta", "source",
                           "urn:medseal:analyst:" MS_VERSION, "status", "preliminary", "category",
                           "coding", "system", V2_0074, "code", "RAD", "display", "Radiology",
                           "code", cc1(LOINC, "18748-4", "Diagnostic imaging study"), "subject",
                           ref(b->patient), "issued", b->issued, "result", results, "conclusion",
                           conclusion != NULL && conclusion[0] ? json_string(conclusion) : json_null(),
                           "imagingStudy", ref(b->study));
    ms_free(NULL, conclusion);
    if (dr != NULL && json_is_null(json_object_get(dr, "conclusion")))
        json_object_del(dr, "conclusion"); /* FHIR has no empty strings */
    if (dr != NULL && b->date != NULL)
        json_object_set_new(dr, "effectiveDateTime", json_string(b->date));
    return dr;
}

/* "FAMILY^GIVEN^MIDDLE" -> HumanName {family, given[]} */
static json_t *human_name(const char *pn)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", pn);
    char *alt = strchr(buf, '=');
    if (alt != NULL)
        *alt = '\0'; /* the alphabetic group only */
    json_t *name = json_object(), *given = json_array();
    char *save = NULL;
    int k = 0;
    for (char *part = strtok_r(buf, "^", &save); part != NULL; part = strtok_r(NULL, "^", &save)) {
        if (k++ == 0)
            json_object_set_new(name, "family", json_string(part));
        else if (k <= 3)
            json_array_append_new(given, json_string(part));
    }
    if (json_array_size(given) > 0)
        json_object_set_new(name, "given", given);
    else
        json_decref(given);
    ms_memzero(buf, sizeof buf);
    return name;
}

static void add_patient(struct bundle *b, const json_t *st, int phi)
{
    const json_t *pt = json_object_get(st, "patient");
    const char *sex = sv(pt, "sex");
    const char *gender = strcmp(sex, "M") == 0   ? "male"
                         : strcmp(sex, "F") == 0 ? "female"
                         : strcmp(sex, "O") == 0 ? "other"
                                                 : "unknown";
    json_t *p = json_pack("{s:s,s:s}", "resourceType", "Patient", "gender", gender);
    if (phi && sv(pt, "id")[0] != '\0')
        json_object_set_new(p, "identifier",
                            json_pack("[{s:{s:[{s:s,s:s,s:s}],s:s},s:s}]", "type", "coding",
                                      "system", V2_0203, "code", "MR", "display",
                                      "Medical record number", "text", "Medical record number",
                                      "value", sv(pt, "id")));
    if (phi && sv(pt, "name")[0] != '\0')
        json_object_set_new(p, "name", json_pack("[o]", human_name(sv(pt, "name"))));
    new_urn(b, b->patient);
    add_entry(b, b->patient, p);
}

static void add_device(struct bundle *b, const json_t *g)
{
    json_t *versions = json_pack("[{s:{s:s},s:s}]", "type", "text", "medseal-analyst", "value",
                                 MS_VERSION);
    const char *gk[] = {"lung_rads", "fleischner", "bi_rads"};
    for (size_t k = 0; k < 3; k++)
        if (sv(g, gk[k])[0] != '\0')
            json_array_append_new(versions, json_pack("{s:{s:s},s:s}", "type", "text",
                                                      "guideline", "value", sv(g, gk[k])));
    new_urn(b, b->device);
    add_entry(b, b->device,
              json_pack("{s:s,s:[{s:s,s:s}],s:[{s:s,s:s}],s:{s:s},s:o}", "resourceType",
                        "Device", "identifier", "system", DEVICE_ID, "value",
                        "medseal-analyst-" MS_VERSION, "deviceName", "name", "medseal-analyst",
                        "type", "model-name", "type", "text",
                        "Software: deterministic guideline-based radiology report analyst",
                        "version", versions));
}

static void add_imaging_study(struct bundle *b, const json_t *st, int phi)
{
    json_t *is = json_pack("{s:s,s:s,s:o}", "resourceType", "ImagingStudy", "status", "available",
                           "subject", ref(b->patient));
    const json_t *series = json_object_get(st, "series");
    json_int_t instances = 0;
    for (size_t i = 0; i < json_array_size(series); i++)
        instances += json_integer_value(json_object_get(json_array_get(series, i), "images"));
    if (phi && sv(st, "study_uid")[0] != '\0') {
        char v[128];
        snprintf(v, sizeof v, "urn:oid:%s", sv(st, "study_uid"));
        json_object_set_new(is, "identifier",
                            json_pack("[{s:s,s:s}]", "system", "urn:dicom:uid", "value", v));
    }
    if (sv(st, "modality")[0] != '\0')
        json_object_set_new(is, "modality",
                            json_pack("[{s:s,s:s}]", "system", DICOM_DCM, "code",
                                      sv(st, "modality")));
    if (b->date != NULL)
        json_object_set_new(is, "started", json_string(b->date));
    json_object_set_new(is, "numberOfSeries", json_integer((json_int_t)json_array_size(series)));
    json_object_set_new(is, "numberOfInstances", json_integer(instances));
    if (sv(st, "description")[0] != '\0')
        json_object_set_new(is, "description", json_string(sv(st, "description")));
    new_urn(b, b->study);
    add_entry(b, b->study, is);
}

/* The urn of nodule `id`'s Observation in `urns` (parallel to findings), or NULL. */
static const char *urn_of(const json_t *fs, char (*urns)[64], const char *id)
{
    for (size_t i = 0; id != NULL && i < json_array_size(fs); i++)
        if (strcmp(sv(json_array_get(fs, i), "id"), id) == 0 && urns[i][0] != '\0')
            return urns[i];
    return NULL;
}

ms_rc an_report_fhir(const an_report *r, json_t **out, ms_err *err)
{
    json_t *j = NULL;
    ms_rc rc = an_report_json(r, &j, err);
    if (rc != MS_OK)
        return rc;
    struct bundle b;
    memset(&b, 0, sizeof b);
    const json_t *fs = json_object_get(j, "findings");
    size_t nf = json_array_size(fs);
    /* per finding: the urns of its Lung-RADS and Fleischner Observations ("" for none) */
    char(*lr)[64] = ms_calloc(NULL, 2 * (nf + 1), sizeof *lr);
    if (lr == NULL) {
        json_decref(j);
        return ms_fail(err, MS_E_NOMEM, "FHIR Bundle");
    }
    if (ms_random(b.seed, sizeof b.seed, err) != MS_OK) {
        ms_free(NULL, lr);
        json_decref(j);
        return MS_E_CRYPTO;
    }
    char(*fl)[64] = lr + nf + 1;
    b.entries = json_array();
    json_t *results = json_array();
    int phi = !json_is_true(json_object_get(j, "deidentified"));
    const json_t *st = json_object_get(j, "study");
    b.date = json_string_value(json_object_get(st, "date"));
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(b.issued, sizeof b.issued, "%Y-%m-%dT%H:%M:%SZ", &tm);
    add_patient(&b, st, phi);
    add_device(&b, json_object_get(j, "guidelines"));
    add_imaging_study(&b, st, phi);
    for (size_t i = 0; i < nf; i++) {
        const json_t *f = json_array_get(fs, i);
        char group[64];
        if (!json_is_object(json_object_get(f, "size")))
            continue;
        nodule(&b, f, group, lr[i], fl[i]);
        json_array_append_new(results, ref(group));
    }
    const json_t *as = json_object_get(j, "assessment");
    const json_t *g = json_object_get(as, "lung_rads");
    char u[64];
    if (json_is_object(g)) {
        lung_rads_obs(&b, g, 1, urn_of(fs, lr, json_string_value(json_object_get(g, "nodule"))),
                      u);
        json_array_append_new(results, ref(u));
    }
    g = json_object_get(as, "fleischner");
    if (json_is_object(g)) {
        fleischner_obs(&b, g, 1, urn_of(fs, fl, json_string_value(json_object_get(g, "nodule"))),
                       u);
        json_array_append_new(results, ref(u));
    }
    g = json_object_get(as, "bi_rads");
    if (json_is_object(g)) {
        birads_obs(&b, g, u);
        json_array_append_new(results, ref(u));
    }
    ms_free(NULL, lr);
    char urn[64];
    new_urn(&b, urn);
    json_t *dr = report_resource(j, results, &b);
    json_decref(j); /* b.date pointed into it: not used after this */
    b.date = NULL;
    if (dr == NULL) {
        json_decref(b.entries);
        return ms_fail(err, MS_E_NOMEM, "FHIR DiagnosticReport");
    }
    json_array_insert_new(b.entries, 0, json_pack("{s:s,s:o}", "fullUrl", urn, "resource", dr));
    json_t *bundle = json_pack("{s:s,s:s,s:s,s:o}", "resourceType", "Bundle", "type", "collection",
                               "timestamp", b.issued, "entry", b.entries);
    if (bundle == NULL) {
        json_decref(b.entries);
        return ms_fail(err, MS_E_NOMEM, "FHIR Bundle");
    }
    *out = bundle;
    return MS_OK;
}

/* Percent-encodes a search parameter value (RFC 3986 unreserved characters kept). */
static void pct(char *out, size_t n, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s != '\0' && o + 4 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

/* "identifier=system|value" (or "identifier=value" without a system) for a conditional create */
static int if_none_exist(const json_t *res, char *out, size_t n)
{
    const json_t *id = json_array_get(json_object_get(res, "identifier"), 0);
    const char *sys = json_string_value(json_object_get(id, "system"));
    const char *val = json_string_value(json_object_get(id, "value"));
    if (val == NULL)
        return 0;
    char s[160], v[400];
    pct(s, sizeof s, sys != NULL ? sys : "");
    pct(v, sizeof v, val);
    int k = snprintf(out, n, "identifier=%s%s%s", s, sys != NULL ? "%7C" : "", v);
    ms_memzero(v, sizeof v); /* it may be the MRN */
    return k > 0 && (size_t)k < n;
}

ms_rc an_fhir_transaction(json_t *bundle, ms_err *err)
{
    json_t *entries = json_object_get(bundle, "entry");
    if (!json_is_array(entries))
        return ms_fail(err, MS_E_INVAL, "FHIR: not a Bundle");
    json_object_set_new(bundle, "type", json_string("transaction"));
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        const json_t *res = json_object_get(e, "resource");
        const char *rt = sv(res, "resourceType");
        json_t *req = json_pack("{s:s,s:s}", "method", "POST", "url", rt);
        char cond[600];
        /* the same patient, study and Device are not created twice on the server */
        if ((strcmp(rt, "Patient") == 0 || strcmp(rt, "ImagingStudy") == 0 ||
             strcmp(rt, "Device") == 0) &&
            if_none_exist(res, cond, sizeof cond))
            json_object_set_new(req, "ifNoneExist", json_string(cond));
        ms_memzero(cond, sizeof cond);
        if (req == NULL)
            return ms_fail(err, MS_E_NOMEM, "FHIR transaction");
        json_object_set_new(e, "request", req);
    }
    return MS_OK;
}

/* The three medseal CodeSystems as a Bundle (collection): docs/fhir/medseal-codesystems.json. */
static json_t *codesystem(const char *url, const char *id, const char *name, const char *title,
                          const char *desc, const struct concept *t, size_t n)
{
    json_t *c = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(c, json_pack("{s:s,s:s}", "code", t[i].code, "display", t[i].display));
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:I,s:o}", "resourceType",
                     "CodeSystem", "id", id, "url", url, "version", MS_VERSION, "name", name,
                     "title", title, "status", "active", "publisher", "medseal", "description",
                     desc, "caseSensitive", 1, "content", "complete", "count", (json_int_t)n,
                     "concept", c);
}

ms_rc an_fhir_codesystems(json_t **out, ms_err *err)
{
#define CS(url, id, name, title, desc, t)                                                          \
    json_pack("{s:s,s:o}", "fullUrl", url, "resource",                                             \
              codesystem(url, id, name, title, desc, t, sizeof t / sizeof t[0]))
    json_t *b = json_pack(
        "{s:s,s:s,s:[o,o,o]}", "resourceType", "Bundle", "type", "collection", "entry",
        CS(CS_LR, "medseal-lung-rads-v2022", "MedsealLungRadsV2022", "Lung-RADS v2022 assessment categories",
           "The assessment categories of ACR Lung-RADS v2022 as medseal reports them. No external "
           "code system for these values was verified; the RadElement set RDES267 and SNOMED CT "
           "1362105002 name the observation.",
           lr_values),
        CS(CS_FL, "medseal-fleischner-2017", "MedsealFleischner2017", "Fleischner 2017 recommendations",
           "The follow-up recommendations of the Fleischner Society 2017 guidelines (MacMahon et "
           "al., Radiology 2017;284:228-243) as medseal keys them.",
           fl_values),
        CS(CS_MS, "medseal-analyst", "MedsealAnalyst", "medseal analyst observations",
           "Observation and component codes of the medseal analyst for which no external code "
           "was verified.",
           ms_values));
#undef CS
    if (b == NULL)
        return ms_fail(err, MS_E_NOMEM, "FHIR CodeSystems");
    *out = b;
    return MS_OK;
}

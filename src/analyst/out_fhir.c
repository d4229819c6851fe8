/*
 * The report as a FHIR R4 Bundle (type collection, or transaction for posting to a server): one
 * DiagnosticReport (status preliminary: machine-generated, for a radiologist to confirm) whose
 * results are Observations: per nodule its size (LOINC 21889-1 "Size Tumor", components 33728-7
 * long axis and 33729-5 short axis, and the solid component when stated, UCUM mm, as the mCODE
 * TumorSize profile), its Lung-RADS category (RadElement RDES267), its Fleischner recommendation
 * and its volume doubling time, each derivedFrom the size; and the BI-RADS assessment (RadElement
 * RDES245). Every resource names its subject (a Patient: with --phi its MRN and name, without
 * only its sex), the study date (effectiveDateTime: the full date with --phi, the year without),
 * category imaging, the time it was issued and the medseal Device that produced it
 * (Observation.device; R4 allows no Device as DiagnosticReport.performer). The report links an
 * ImagingStudy (modality, series and instance counts; the StudyInstanceUID identifier with --phi
 * only). The guideline versions are meta.tag codings: no extension is defined or used.
 *
 * Trusts: the JSON from an_report_json. Owns: the Bundle it returns.
 */
#define _GNU_SOURCE /* gmtime_r, strtok_r */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define LOINC      "http://loinc.org"
#define UCUM       "http://unitsofmeasure.org"
#define RADELEMENT "http://radelement.org"

struct bundle {
    json_t *entries;
    json_t *results; /* DiagnosticReport.result */
    unsigned char seed[16];
    unsigned n;
    char patient[64], device[64]; /* urns of the subject and the medseal Device */
    const char *date;             /* effectiveDateTime: the study's date, NULL unknown */
    char issued[32];              /* now, an instant */
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

static json_t *coding(const char *system, const char *code, const char *display)
{
    return json_pack("{s:[{s:s,s:s,s:s}],s:s}", "coding", "system", system, "code", code, "display",
                     display, "text", display);
}

static json_t *mm(double v)
{
    return json_pack("{s:f,s:s,s:s,s:s}", "value", v, "unit", "mm", "system", UCUM, "code", "mm");
}

/* Adds an Observation; returns its urn in `urn`. */
static json_t *ref(const char *urn)
{
    return json_pack("{s:s}", "reference", urn);
}

static void add_entry(struct bundle *b, const char *urn, json_t *res)
{
    json_array_append_new(b->entries, json_pack("{s:s,s:o}", "fullUrl", urn, "resource", res));
}

static void add_obs(struct bundle *b, json_t *obs, char urn[64])
{
    new_urn(b, urn);
    json_object_set_new(obs, "resourceType", json_string("Observation"));
    json_object_set_new(obs, "status", json_string("preliminary"));
    json_object_set_new(
        obs, "category",
        json_pack("[{s:[{s:s,s:s,s:s}]}]", "coding", "system",
                  "http://terminology.hl7.org/CodeSystem/observation-category", "code", "imaging",
                  "display", "Imaging"));
    json_object_set_new(obs, "subject", ref(b->patient));
    if (b->date != NULL)
        json_object_set_new(obs, "effectiveDateTime", json_string(b->date));
    json_object_set_new(obs, "issued", json_string(b->issued));
    json_object_set_new(obs, "device", ref(b->device));
    json_array_append_new(b->entries, json_pack("{s:s,s:o}", "fullUrl", urn, "resource", obs));
    json_array_append_new(b->results, json_pack("{s:s}", "reference", urn));
}

static json_t *note(const char *text)
{
    return json_pack("[{s:s}]", "text", text);
}

static void size_obs(struct bundle *b, const json_t *f, char urn[64])
{
    const json_t *size = json_object_get(f, "size"), *loc = json_object_get(f, "location");
    const json_t *axes = json_object_get(size, "axes_mm");
    json_t *obs = json_object();
    json_object_set_new(obs, "code", coding(LOINC, "21889-1", "Size Tumor"));
    json_object_set_new(obs, "valueQuantity",
                        mm(json_number_value(json_object_get(size, "mean_diameter_mm"))));
    json_t *comp = json_array();
    double l = 0, s = 1e9;
    for (size_t i = 0; i < json_array_size(axes); i++) {
        double v = json_number_value(json_array_get(axes, i));
        l = v > l ? v : l;
        s = v < s ? v : s;
    }
    json_array_append_new(comp,
                          json_pack("{s:o,s:o}", "code",
                                    coding(LOINC, "33728-7", "Size.maximum dimension in Tumor"),
                                    "valueQuantity", mm(l)));
    if (json_array_size(axes) > 1)
        json_array_append_new(
            comp, json_pack("{s:o,s:o}", "code",
                            coding(LOINC, "33729-5", "Size.additional dimension in Tumor"),
                            "valueQuantity", mm(s)));
    const json_t *solid = json_object_get(size, "solid_component_mm");
    if (json_is_number(solid))
        json_array_append_new(comp,
                              json_pack("{s:{s:s},s:o}", "code", "text",
                                        "Solid component size (longest diameter)",
                                        "valueQuantity", mm(json_number_value(solid))));
    json_object_set_new(obs, "component", comp);
    if (json_is_object(loc))
        json_object_set_new(
            obs, "bodySite",
            json_pack("{s:s}", "text", json_string_value(json_object_get(loc, "name"))));
    char text[160];
    const json_t *cv = json_object_get(json_object_get(f, "composition"), "value");
    snprintf(text, sizeof text, "Pulmonary nodule %s (%s), mean diameter per Lung-RADS",
             sv(f, "id"), json_is_string(cv) ? json_string_value(cv) : "composition not stated");
    json_object_set_new(obs, "note", note(text));
    add_obs(b, obs, urn);
}

static void category_obs(struct bundle *b, const json_t *g, const char *code, const char *display,
                         const char *derived)
{
    if (!json_is_object(g))
        return;
    json_t *obs = json_object();
    char urn[64], text[400];
    json_object_set_new(obs, "code", coding(RADELEMENT, code, display));
    json_object_set_new(obs, "valueCodeableConcept", json_pack("{s:s}", "text", sv(g, "category")));
    snprintf(text, sizeof text, "rule %s: %s. Management: %s", sv(g, "rule"), sv(g, "rule_text"),
             sv(g, "management"));
    json_object_set_new(obs, "note", note(text));
    if (derived != NULL)
        json_object_set_new(obs, "derivedFrom", json_pack("[{s:s}]", "reference", derived));
    add_obs(b, obs, urn);
}

static void fleischner_obs(struct bundle *b, const json_t *g, const char *derived)
{
    if (!json_is_object(g))
        return;
    json_t *obs = json_object();
    char urn[64], text[400];
    json_object_set_new(obs, "code",
                        json_pack("{s:s}", "text", "Fleischner 2017 follow-up recommendation"));
    json_object_set_new(obs, "valueCodeableConcept", json_pack("{s:s}", "text", sv(g, "category")));
    snprintf(text, sizeof text, "rule %s: %s", sv(g, "rule"), sv(g, "management"));
    json_object_set_new(obs, "note", note(text));
    json_object_set_new(obs, "derivedFrom", json_pack("[{s:s}]", "reference", derived));
    add_obs(b, obs, urn);
}

static void vdt_obs(struct bundle *b, const json_t *c, const char *derived)
{
    const json_t *v = json_object_get(c, "vdt_days");
    if (!json_is_number(v))
        return;
    json_t *obs = json_object();
    char urn[64];
    json_object_set_new(obs, "code", json_pack("{s:s}", "text", "Nodule volume doubling time"));
    json_object_set_new(obs, "valueQuantity",
                        json_pack("{s:f,s:s,s:s,s:s}", "value", json_number_value(v), "unit", "d",
                                  "system", UCUM, "code", "d"));
    json_object_set_new(obs, "interpretation", json_pack("[{s:s}]", "text", sv(c, "vdt_reading")));
    json_object_set_new(obs, "derivedFrom", json_pack("[{s:s}]", "reference", derived));
    add_obs(b, obs, urn);
}

static json_t *report_resource(const json_t *j, json_t *results, const struct bundle *b,
                               const char *study_urn)
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
    const json_t *g = json_object_get(j, "guidelines");
    json_t *tags = json_array();
    const char *gk[] = {"lung_rads", "fleischner", "bi_rads"};
    for (size_t k = 0; k < 3; k++)
        if (sv(g, gk[k])[0] != '\0')
            json_array_append_new(tags, json_pack("{s:s,s:s,s:s}", "system",
                                                  "urn:medseal:guideline", "code", sv(g, gk[k]),
                                                  "display", "guideline version applied"));
    json_t *dr = json_pack(
        "{s:s,s:{s:s,s:o},s:s,s:[{s:[{s:s,s:s,s:s}]}],s:o,s:o,s:s,s:o,s:s,s:[o]}",
        "resourceType", "DiagnosticReport", "meta", "source", "urn:medseal:analyst:" MS_VERSION,
        "tag", tags, "status", "preliminary", "category", "coding", "system",
        "http://terminology.hl7.org/CodeSystem/v2-0074", "code", "RAD", "display", "Radiology",
        "code", coding(LOINC, "18748-4", "Diagnostic imaging study"), "result", results,
        "conclusion", conclusion != NULL ? conclusion : "", "subject", ref(b->patient), "issued",
        b->issued, "imagingStudy", ref(study_urn));
    ms_free(NULL, conclusion);
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
                            json_pack("[{s:s,s:{s:s}}]", "value", sv(pt, "id"), "type", "text",
                                      "Medical record number"));
    if (phi && sv(pt, "name")[0] != '\0')
        json_object_set_new(p, "name", json_pack("[o]", human_name(sv(pt, "name"))));
    new_urn(b, b->patient);
    add_entry(b, b->patient, p);
}

static void add_device(struct bundle *b)
{
    new_urn(b, b->device);
    add_entry(b, b->device,
              json_pack("{s:s,s:[{s:s,s:s}],s:[{s:s}],s:{s:s}}", "resourceType", "Device",
                        "deviceName", "name", "medseal-analyst", "type", "manufacturer-name",
                        "version", "value", MS_VERSION, "type", "text",
                        "Software: deterministic guideline-based radiology report analyst"));
}

static void add_imaging_study(struct bundle *b, const json_t *st, int phi, char urn[64])
{
    json_t *is = json_pack("{s:s,s:s,s:o}", "resourceType", "ImagingStudy", "status", "available",
                           "subject", ref(b->patient));
    const json_t *series = json_object_get(st, "series");
    json_int_t instances = 0;
    for (size_t i = 0; i < json_array_size(series); i++)
        instances += json_integer_value(json_object_get(json_array_get(series, i), "images"));
    if (sv(st, "modality")[0] != '\0')
        json_object_set_new(is, "modality",
                            json_pack("[{s:s,s:s}]", "system",
                                      "http://dicom.nema.org/resources/ontology/DCM", "code",
                                      sv(st, "modality")));
    json_object_set_new(is, "numberOfSeries", json_integer((json_int_t)json_array_size(series)));
    json_object_set_new(is, "numberOfInstances", json_integer(instances));
    if (b->date != NULL)
        json_object_set_new(is, "started", json_string(b->date));
    if (sv(st, "description")[0] != '\0')
        json_object_set_new(is, "description", json_string(sv(st, "description")));
    if (phi && sv(st, "study_uid")[0] != '\0') {
        char v[128];
        snprintf(v, sizeof v, "urn:oid:%s", sv(st, "study_uid"));
        json_object_set_new(is, "identifier",
                            json_pack("[{s:s,s:s}]", "system", "urn:dicom:uid", "value", v));
    }
    new_urn(b, urn);
    add_entry(b, urn, is);
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
        const char *rt = sv(json_object_get(e, "resource"), "resourceType");
        json_object_set_new(e, "request", json_pack("{s:s,s:s}", "method", "POST", "url", rt));
    }
    return MS_OK;
}

ms_rc an_report_fhir(const an_report *r, json_t **out, ms_err *err)
{
    json_t *j = NULL;
    ms_rc rc = an_report_json(r, &j, err);
    if (rc != MS_OK)
        return rc;
    struct bundle b;
    memset(&b, 0, sizeof b);
    if (ms_random(b.seed, sizeof b.seed, err) != MS_OK) {
        json_decref(j);
        return MS_E_CRYPTO;
    }
    b.entries = json_array();
    b.results = json_array();
    int phi = !json_is_true(json_object_get(j, "deidentified"));
    const json_t *st = json_object_get(j, "study");
    b.date = json_string_value(json_object_get(st, "date"));
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(b.issued, sizeof b.issued, "%Y-%m-%dT%H:%M:%SZ", &tm);
    add_patient(&b, st, phi);
    add_device(&b);
    char study_urn[64];
    add_imaging_study(&b, st, phi, study_urn);
    const json_t *fs = json_object_get(j, "findings");
    for (size_t i = 0; i < json_array_size(fs); i++) {
        const json_t *f = json_array_get(fs, i);
        char size_urn[64] = "";
        if (!json_is_object(json_object_get(f, "size")))
            continue;
        size_obs(&b, f, size_urn);
        category_obs(&b, json_object_get(f, "lung_rads"), "RDES267", "Lung-RADS categorization",
                     size_urn);
        fleischner_obs(&b, json_object_get(f, "fleischner"), size_urn);
        vdt_obs(&b, json_object_get(f, "comparison"), size_urn);
    }
    category_obs(&b, json_object_get(json_object_get(j, "assessment"), "bi_rads"), "RDES245",
                 "BI-RADS", NULL);
    char urn[64];
    new_urn(&b, urn);
    json_t *dr = report_resource(j, b.results, &b, study_urn);
    json_decref(j); /* b.date pointed into it: not used after this */
    if (dr == NULL) {
        json_decref(b.entries);
        return ms_fail(err, MS_E_NOMEM, "FHIR DiagnosticReport");
    }
    json_array_insert_new(b.entries, 0, json_pack("{s:s,s:o}", "fullUrl", urn, "resource", dr));
    json_t *bundle = json_pack("{s:s,s:s,s:o}", "resourceType", "Bundle", "type", "collection",
                               "entry", b.entries);
    if (bundle == NULL)
        return ms_fail(err, MS_E_NOMEM, "FHIR Bundle");
    *out = bundle;
    return MS_OK;
}

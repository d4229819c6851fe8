/*
 * The report as a FHIR R4 Bundle (type collection): one DiagnosticReport (status preliminary:
 * machine-generated, for a radiologist to confirm) whose results are Observations: per nodule its
 * size (LOINC 21889-1 "Size Tumor", components 33728-7 long axis and 33729-5 short axis, UCUM mm,
 * as the mCODE TumorSize profile), its Lung-RADS category (RadElement RDES267), its Fleischner
 * recommendation and its volume doubling time; and the BI-RADS assessment (RadElement RDES245).
 * No subject: the report is de-identified unless --phi, and even then carries no identifiers.
 *
 * Trusts: the JSON from an_report_json. Owns: the Bundle it returns.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define LOINC      "http://loinc.org"
#define UCUM       "http://unitsofmeasure.org"
#define RADELEMENT "http://radelement.org"

struct bundle {
    json_t *entries;
    json_t *results; /* DiagnosticReport.result */
    unsigned char seed[16];
    unsigned n;
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
static void add_obs(struct bundle *b, json_t *obs, char urn[64])
{
    new_urn(b, urn);
    json_object_set_new(obs, "resourceType", json_string("Observation"));
    json_object_set_new(obs, "status", json_string("preliminary"));
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

static json_t *report_resource(const json_t *j, json_t *results)
{
    const json_t *st = json_object_get(j, "study");
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
    char versions[128];
    snprintf(versions, sizeof versions, "%s %s %s", sv(g, "lung_rads"), sv(g, "fleischner"),
             sv(g, "bi_rads"));
    json_t *dr = json_pack("{s:s,s:{s:s},s:s,s:[{s:[{s:s,s:s,s:s}]}],s:o,s:o,s:s,s:[{s:s,s:s}]}",
                           "resourceType", "DiagnosticReport", "meta", "source",
                           "urn:medseal:analyst:" MS_VERSION, "status", "preliminary", "category",
                           "coding", "system", "http://terminology.hl7.org/CodeSystem/v2-0074",
                           "code", "RAD", "display", "Radiology", "code",
                           coding(LOINC, "18748-4", "Diagnostic imaging study"), "result", results,
                           "conclusion", conclusion != NULL ? conclusion : "", "extension", "url",
                           "urn:medseal:fhir:guideline-versions", "valueString", versions);
    ms_free(NULL, conclusion);
    const json_t *date = json_object_get(st, "date");
    if (dr != NULL && json_is_string(date))
        json_object_set_new(dr, "effectiveDateTime", json_string(json_string_value(date)));
    return dr;
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
    json_t *dr = report_resource(j, b.results);
    json_decref(j);
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

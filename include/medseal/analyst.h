/*
 * medseal analyst (prefix an_): the medical records analyst. From a study (DICOM images and SR
 * documents), free text (notes, SR text, a user's message) and prior studies it builds a
 * structured report: a de-identified study summary, the pulmonary nodules and BI-RADS assessments
 * found in the text (each fact with the character span it came from), a comparison with priors
 * (size history, growth, volume doubling time, status) and guideline categories computed by
 * deterministic rules (Lung-RADS v2022, Fleischner 2017; BI-RADS carried from the report). Every
 * category names the guideline row that produced it.
 *
 * Trusts: nothing in the text, the JSON or the DICOM files; sizes, counts and lengths are bounded
 * (AN_MAX_*). Owns: the report and everything it copies out of its inputs (ms_malloc memory from
 * opts->alloc, wiped on free). DICOM files are borrowed only for the duration of the call that
 * takes them. Errors never carry a value from the input: tags, offsets and counts only.
 * Thread safety: an an_report is not thread-safe; distinct reports are independent. an_classify
 * is reentrant.
 */
#ifndef MEDSEAL_ANALYST_H
#define MEDSEAL_ANALYST_H

#include <stddef.h>

#include <jansson.h>

#include "medseal/core.h"
#include "medseal/dicom.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AN_ENGINE_VERSION     "medseal-analyst/" MS_VERSION
#define AN_LUNG_RADS_VERSION  "lung-rads-2022"
#define AN_FLEISCHNER_VERSION "fleischner-2017"
#define AN_BI_RADS_VERSION    "bi-rads-2013"

/* Limits (input beyond them fails with MS_E_LIMIT, never truncates silently). */
#define AN_MAX_TEXT     ((size_t)4 << 20) /* bytes of free text per an_add_text call */
#define AN_MAX_STUDIES  64                /* current study + priors */
#define AN_MAX_FINDINGS 256               /* findings per study */
#define AN_MAX_FILES    100000            /* DICOM files per study */

typedef struct an_report an_report;

/* Report options. Zero-initialise, then set fields. */
typedef struct an_opts {
    ms_alloc *alloc; /* NULL: process heap */
    /* 1: keep identifying values (dates, ages over 89, evidence text, SR text) in the output;
     * 0 (default): de-identified (dates as year + days from the baseline study, age bands,
     * free text only through the scrubber, or withheld when it is not available). */
    int phi;
    /* Guideline context: "screening" (Lung-RADS decides the recommendation), "incidental"
     * (Fleischner decides) or NULL (both are computed and shown; Lung-RADS first). */
    const char *context;
    /* Fleischner risk when the text does not state it: "low", "high" or NULL (both rows shown,
     * the high-risk one used for the summary, as the guideline advises when unknown). */
    const char *risk;
} an_opts;

/* Creates an empty report. OUT: *out, owned (free with an_report_free). opts may be NULL.
 * Errors: MS_E_INVAL, MS_E_NOMEM. */
ms_rc an_report_new(const an_opts *opts, an_report **out, ms_err *err);
/* Wipes and frees everything. NULL is a no-op. */
void an_report_free(an_report *r);

/* Adds free text to the current study. `source` names it in the output ("notes", "user", "sr";
 * NULL = "text"). The text is copied. Errors: MS_E_LIMIT (len > AN_MAX_TEXT), MS_E_FORMAT (NUL
 * byte), MS_E_NOMEM. */
ms_rc an_add_text(an_report *r, const char *text, size_t len, const char *source, ms_err *err);

/* Adds DICOM files to the current study: image headers go to the study summary (series table,
 * geometry checks), SR documents and presentation states / overlays to its text. Files are
 * borrowed during the call only. Errors: MS_E_LIMIT, MS_E_NOMEM. Unreadable elements are
 * counted and reported, not fatal. */
ms_rc an_add_study(an_report *r, dcm_file *const *files, size_t n, ms_err *err);

/* Adds one prior study: its DICOM files (may be n = 0), its text (may be NULL), and its date as
 * "YYYYMMDD" when no DICOM file says it (may be NULL). Priors may be added in any order; they
 * are sorted by date. Errors: as an_add_study, MS_E_FORMAT (bad date), MS_E_LIMIT. */
ms_rc an_add_prior(an_report *r, dcm_file *const *files, size_t n, const char *text, size_t len,
                   const char *date, ms_err *err);

/* Adds a prior study from a report this module produced earlier (an_report_json output, e.g. a
 * stored prior). Only its date and findings are used. Borrows `prior`. Errors: MS_E_FORMAT. */
ms_rc an_add_prior_report(an_report *r, const json_t *prior, ms_err *err);

/* Convenience for the CLI and tests: reads a study folder (every DICOM file below it, any
 * notes.txt / *.txt as notes) into the current study (prior = 0) or a new prior (prior = 1).
 * Errors: MS_E_IO, MS_E_NOTFOUND (no DICOM file and no text), MS_E_FORMAT, MS_E_LIMIT. */
ms_rc an_add_dir(an_report *r, const char *dir, int prior, ms_err *err);
/* As an_add_dir for a list of files (one study's, e.g. grouped by StudyInstanceUID): each file
 * is read exactly as the folder walk reads it (*.txt a note, *.json skipped, else DICOM headers
 * only, unreadable ones counted), one at a time. Errors: as an_add_dir. */
ms_rc an_add_paths(an_report *r, const char *const *paths, size_t n, int prior, ms_err *err);

/* Runs the analysis: study summaries, findings extraction, comparison with priors and guideline
 * categories. Call once, after the inputs. Errors: MS_E_NOMEM, MS_E_INVAL (called twice). */
ms_rc an_run(an_report *r, ms_err *err);

/* Output after an_run. JSON per docs/report.schema.json. OUT: *out, a new reference. */
ms_rc an_report_json(const an_report *r, json_t **out, ms_err *err);
/* A radiologist-readable impression (plain text). Appends to out. */
ms_rc an_report_text(const an_report *r, ms_buf *out, ms_err *err);
/* A FHIR R4 Bundle (collection) holding a DiagnosticReport, its Observations (a group per
 * nodule with its size, Lung-RADS, Fleischner and doubling-time members; the exam's assessments),
 * the subject Patient, the ImagingStudy and the medseal Device. OUT: *out. */
ms_rc an_report_fhir(const an_report *r, json_t **out, ms_err *err);
/* Turns such a Bundle into a transaction (each entry a POST of its resource type; Patient,
 * ImagingStudy and Device conditional on their identifier), so that a FHIR server can take it in
 * one request. */
ms_rc an_fhir_transaction(json_t *bundle, ms_err *err);
/* The medseal CodeSystems the Bundle codes values with (Lung-RADS v2022 categories, Fleischner
 * 2017 recommendations, analyst observation codes), as a Bundle (collection). OUT: *out. */
ms_rc an_fhir_codesystems(json_t **out, ms_err *err);
/* One self-contained HTML page (no external resources) with an inline SVG size chart. */
ms_rc an_report_html(const an_report *r, ms_buf *out, ms_err *err);

/* DICOM SR options. Zero-initialise, then set fields. */
typedef struct an_sr_opts {
    ms_alloc *alloc; /* NULL: process heap (the dataset while it is built) */
    /* 1: the patient module, dates and UIDs as in the source (for the PACS that sent it);
     * 0 (default): de-identified: patient name/ID the keyed pseudonym, dates empty, every UID
     * (study, series, referenced instances) replaced by its keyed pseudonym. */
    int phi;
    /* MS_KEY_LEN bytes: the pseudonym key (the site key: same source, same UIDs as `medseal deid`
     * with that key), also used for the tracking UIDs; NULL: a random key per call. */
    const uint8_t *key;
} an_sr_opts;

/* The report (after an_run) as a DICOM Comprehensive SR, TID 1500 Measurement Report, appended
 * to out as a Part 10 stream (explicit VR little endian): one Measurement Group per nodule of
 * the current study (tracking id/UID, finding site as SNOMED CT lobe codes, long/short axis and
 * mean diameter in UCUM mm, composition, Lung-RADS and Fleischner categories with their rule),
 * an Image Library and (0040,A375) evidence referencing every image instance of `src` (the
 * current study's files, borrowed; SR and PR files are not referenced), and the source study's
 * StudyInstanceUID (or its pseudonym). docs/analyst.md lists the codes.
 * Errors: MS_E_INVAL (n == 0), MS_E_FORMAT (no StudyInstanceUID in src), MS_E_NOMEM. */
ms_rc an_report_sr(const an_report *r, dcm_file *const *src, size_t n, const an_sr_opts *opts,
                   ms_buf *out, ms_err *err);

/* Number of nodules / BI-RADS assessments found in the current study (after an_run). */
size_t an_report_finding_count(const an_report *r);

/* Evaluates one finding against a guideline: `guideline` is "lung-rads-2022" or
 * "fleischner-2017"; `finding` is an object with the fields in README.md (composition,
 * mean_diameter_mm or long_axis_mm + short_axis_mm, solid_component_mm, timepoint, change,
 * prior_mean_diameter_mm, months_since_prior, location, benign_features, suspicious_features,
 * risk, multiple, exam, prior_category, ...). OUT: *out, a new reference:
 * {"category", "management", "rule", ...}. Errors: MS_E_INVAL (unknown guideline), MS_E_FORMAT
 * (a field of the wrong type or value; the message names the field). Reentrant. */
ms_rc an_classify(const char *guideline, const json_t *finding, json_t **out, ms_err *err);

/* The guideline's rule rows as data (ids, categories, conditions, texts, management), exactly as
 * the code applies them: "lung-rads-2022" or "fleischner-2017". OUT: *out, a new reference. */
ms_rc an_guideline_rules(const char *guideline, json_t **out, ms_err *err);

/* Extracts findings from one text without a report: a JSON array of findings with their spans,
 * as in the report's "findings". OUT: *out, a new reference. */
ms_rc an_extract(const char *text, size_t len, ms_alloc *alloc, json_t **out, ms_err *err);

#ifdef __cplusplus
}
#endif
#endif

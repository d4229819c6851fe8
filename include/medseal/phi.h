/*
 * medseal phi (prefix phi_): free-text PHI detection and replacement under HIPAA Safe Harbor
 * (45 CFR 164.514(b)(2)), identity-aware scrubbing, consistent surrogates and streaming
 * re-identification of surrogates in a model's answer.
 *
 * Used by the DICOM de-identifier (Clean Descriptors / Clean Structured Content), the gateway
 * (everything sent upstream) and `medseal scrub`. Depends on core only: the caller turns a DICOM
 * header into a phi_identity.
 *
 * Trusts: nothing in the text (any bytes, any length up to the configured maximum). Owns: the
 * context, its copy of the identity, the surrogate map (ms_malloc memory from opts->alloc, wiped
 * in phi_ctx_free) and the span arrays it returns.
 * Fail closed: on any error, phi_scrub leaves `out` empty (length 0, contents wiped), never the
 * raw input. Errors and spans carry classes, offsets and counts, never values.
 * Thread safety: a phi_ctx is not thread-safe (phi_scrub grows its surrogate map); use one per
 * thread or per request. Distinct contexts are independent.
 */
#ifndef MEDSEAL_PHI_H
#define MEDSEAL_PHI_H

#include <stddef.h>
#include <stdint.h>

#include "medseal/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The Safe Harbor identifier classes (append only; phi_class_name gives stable strings). */
typedef enum phi_class {
    PHI_NAME = 0,    /* person names (patients, relatives, employers, clinicians by default) */
    PHI_DATE,        /* any date element more specific than the year; DICOM DA/DT */
    PHI_AGE,         /* ages over 89 */
    PHI_ADDRESS,     /* street address (number, street, unit) */
    PHI_LOCATION,    /* city, county, facility and other geographic units below a state */
    PHI_ZIP,         /* ZIP codes (3-digit prefix may be kept, 000 for the 17 restricted) */
    PHI_PHONE,       /* telephone numbers */
    PHI_FAX,         /* fax numbers */
    PHI_EMAIL,       /* e-mail addresses */
    PHI_SSN,         /* social security numbers */
    PHI_MRN,         /* medical record numbers, patient ids */
    PHI_ACCOUNT,     /* account numbers, accession numbers */
    PHI_HEALTH_PLAN, /* health plan beneficiary / member numbers */
    PHI_LICENSE,     /* certificate and licence numbers */
    PHI_VEHICLE,     /* vehicle identifiers, VINs, licence plates */
    PHI_DEVICE,      /* device identifiers and serial numbers */
    PHI_URL,         /* web addresses */
    PHI_IP,          /* IPv4 / IPv6 addresses */
    PHI_ID,          /* any other unique identifying number or code (incl. DICOM UIDs) */
    PHI_CLASS_COUNT
} phi_class;

/* "NAME", "DATE", ... ("?" for an out-of-range value). */
const char *phi_class_name(phi_class c);

/* How detected PHI is replaced. */
typedef enum phi_mode {
    PHI_MODE_TAG = 0,   /* "[NAME]", "[DATE]", ... (the class name in brackets) */
    PHI_MODE_SURROGATE, /* realistic, consistent fakes; dates shifted by the patient's offset */
} phi_mode;

#define PHI_ID_MAX 8 /* entries in each list of a phi_identity; more is an error for callers
                        (never dropped): a site's roster and places go in phi_sitelists */

/* Known identity strings of one patient (all optional, NULL or "" = absent; UTF-8, borrowed only
 * during phi_ctx_new, which copies them). Every variant found in the text is removed with
 * certainty: name orders, case, initials; ids with and without prefix; the birth date in any
 * format; phone digits in any layout; address parts. */
typedef struct phi_identity {
    const char *family;     /* family name(s) */
    const char *given;      /* given name(s) */
    const char *middle;     /* middle name(s) */
    const char *dicom_name; /* alternatively a PN value "Family^Given^Middle^Prefix^Suffix" */
    const char *patient_id; /* MRN / PatientID (0010,0020) */
    const char *issuer;     /* IssuerOfPatientID (0010,0021): with patient_id keys surrogates */
    const char *birth_date; /* YYYYMMDD (DICOM DA) */
    const char *ssn;        /* any layout */
    const char *street;     /* "1637 Old Mill Way" */
    const char *city;       /* "Fort Wexley" */
    const char *state;      /* "TX" or "Texas" (removed only next to other address parts) */
    const char *zip;        /* "75243" or "75243-1234" */
    const char *address;    /* alternatively a whole one-line address, split on commas */
    const char *email;
    const char *phones[PHI_ID_MAX];     /* any layout; compared on digits */
    const char *accessions[PHI_ID_MAX]; /* accession numbers */
    const char *other_ids[PHI_ID_MAX];  /* other patient ids, study ids, plan numbers ... */
    const char *names[PHI_ID_MAX];      /* other people (relatives, referring physician ...):
                                           "First Last" or a PN value with '^' */
    const char *places[PHI_ID_MAX];     /* institution names and other places */
} phi_identity;

/* Site lists: a site's staff roster and local places (see phi_sitelists_load). Read-only once
 * loaded; one table is shared by every context and thread that borrows it. */
typedef struct phi_sitelists phi_sitelists;

/* Loads DIR/staff_names.txt (clinicians' first names, surnames or full names) and
 * DIR/places.txt (wards, local hospitals, towns, abbreviations): one entry a line, any case,
 * '#' comments; either file may be absent, not both. Every entry found in a text is removed
 * (NAME / LOCATION); an entry that is also a common word only where a name or place can stand.
 * Returns owned (phi_sitelists_free). Errors: MS_E_NOTFOUND (neither file), MS_E_LIMIT (a line
 * over 256 bytes, a file over 64 MiB), MS_E_FORMAT (invalid UTF-8 or NUL, with the line number),
 * MS_E_IO, MS_E_NOMEM. */
ms_rc phi_sitelists_load(const char *dir, ms_alloc *alloc, phi_sitelists **out, ms_err *err);
void phi_sitelists_free(phi_sitelists *sl);
/* Entries read from each file. */
void phi_sitelists_counts(const phi_sitelists *sl, size_t *staff, size_t *places);

/* Scrubber options. Zero-initialise, then set fields. */
typedef struct phi_opts {
    phi_mode mode;
    /* Site key (MS_KEY_LEN bytes) or NULL. With a key, surrogates and the date offset are derived
     * from it and the patient's (issuer, patient_id) via ms_pseudo_date_offset, so a note and its
     * DICOM study shift dates identically. Without a key, a random per-context key is drawn. */
    const uint8_t *key;
    const phi_identity *identity; /* may be NULL; copied */
    int keep_clinician_names;     /* 1: names after Dr./MD/"signed by" ... are kept */
    int keep_zip3;    /* 1: ZIP -> its 3-digit prefix (000 if restricted) + "XX" in tag mode */
    size_t max_input; /* bytes; 0 = PHI_MAX_INPUT_DEFAULT; larger input fails with MS_E_LIMIT */
    ms_alloc *alloc;  /* NULL = process heap */
    /* Site lists or NULL: borrowed, never copied; must outlive the context. */
    const phi_sitelists *site;
} phi_opts;

#define PHI_MAX_INPUT_DEFAULT ((size_t)64 << 20)

/* Where a detection came from (for metrics and the --json view). */
typedef enum phi_source {
    PHI_SRC_PATTERN = 0, /* format: dates, phones, emails, ids ... */
    PHI_SRC_DICT,        /* name / place dictionaries weighed with context */
    PHI_SRC_IDENTITY,    /* a variant of the known identity */
} phi_source;

/* One replaced span. Offsets are bytes; [start, end) into the input, [out_start, out_end) into
 * the output. Never holds a value. */
typedef struct phi_span {
    phi_class cls;
    phi_source source;
    size_t start, end;
    size_t out_start, out_end;
} phi_span;

typedef struct phi_ctx phi_ctx;

/* Creates a scrubber context (returns owned, free with phi_ctx_free). Copies opts->identity and
 * the key. Errors: MS_E_INVAL (bad mode, NULL out), MS_E_NOMEM, MS_E_CRYPTO (no randomness). */
ms_rc phi_ctx_new(const phi_opts *opts, phi_ctx **out, ms_err *err);
/* Wipes the surrogate map, identity and key, and frees the context. NULL is a no-op. */
void phi_ctx_free(phi_ctx *ctx);

/* Scrubs text[0..len) (UTF-8) and appends the result to `out` (an ms_buf initialised by the
 * caller; its previous content is kept on success). OUT: *spans (owned, free with
 * phi_spans_free; may be NULL if the caller passes spans == NULL) and *nspans (may be NULL).
 * The surrogate map in ctx grows with every new real value seen.
 * Errors: MS_E_LIMIT (len > max_input), MS_E_FORMAT (invalid UTF-8 or a NUL byte), MS_E_NOMEM.
 * Fail closed: on error `out` is reset (len 0, wiped), *spans = NULL, *nspans = 0. */
ms_rc phi_scrub(phi_ctx *ctx, const char *text, size_t len, ms_buf *out, phi_span **spans,
                size_t *nspans, ms_err *err);
/* Frees a span array from phi_scrub (NULL is a no-op). */
void phi_spans_free(phi_ctx *ctx, phi_span *spans);

/* Cumulative per-class counts of replaced spans over every phi_scrub call on ctx. */
void phi_ctx_counts(const phi_ctx *ctx, size_t counts[PHI_CLASS_COUNT]);
/* Number of real<->surrogate pairs in the map (surrogate mode). */
size_t phi_ctx_map_size(const phi_ctx *ctx);
/* The per-patient date offset in days used for surrogate dates (in [-365, -1]). */
int phi_ctx_date_offset(const phi_ctx *ctx);

/* ---- re-identification (surrogate mode) ---------------------------------------------------- */

/* One-shot: appends text with every surrogate in ctx's map replaced by its real value. */
ms_rc phi_reidentify(const phi_ctx *ctx, const char *text, size_t len, ms_buf *out, ms_err *err);

/* Streaming: feed chunks of a model's answer in order; each call appends the text that can no
 * longer be the start of a surrogate, keeping a bounded look-behind (the longest surrogate) so a
 * surrogate split across chunks is still replaced. phi_reid_flush appends the rest. Borrows ctx
 * (must outlive the stream). Returns owned (free with phi_reid_free, which wipes). */
typedef struct phi_reid phi_reid;
ms_rc phi_reid_new(const phi_ctx *ctx, phi_reid **out, ms_err *err);
ms_rc phi_reid_feed(phi_reid *r, const char *chunk, size_t len, ms_buf *out, ms_err *err);
ms_rc phi_reid_flush(phi_reid *r, ms_buf *out, ms_err *err);
void phi_reid_free(phi_reid *r);

#ifdef __cplusplus
}
#endif
#endif

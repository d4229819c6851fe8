/*
 * medseal DICOM de-identification (prefix deid_): the Basic Application Level Confidentiality
 * Profile of PS3.15 Table E.1-1 with its ten options, applied to every dataset and nested item of
 * a dcm_file, with keyed pseudonyms (core's ms_pseudo_*), the record of what was done
 * ((0012,0062/0063/0064), (0028,0303)) and burned-in annotation screening.
 *
 * Trusts: nothing in the DICOM input; the key and the burned-in configuration are the operator's.
 * Owns: a deid_ctx (key copy, options, parsed configuration), wiped on free.
 * Thread safety: a deid_ctx is read-only after deid_ctx_new and may be shared by threads; each
 * dcm_file must be used by one thread at a time.
 * Messages never hold a value from the input: tags, counts and offsets only.
 */
#ifndef MEDSEAL_DEID_H
#define MEDSEAL_DEID_H

#include <stdint.h>

#include "medseal/core.h"
#include "medseal/dicom.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The ten options of PS3.15 E.3, as bits of deid_opts.options (order of Table E.1-1's columns). */
enum deid_option {
    DEID_OPT_SAFE_PRIVATE = 0,   /* Retain Safe Private (E.3.10), CID 7050 113111 */
    DEID_OPT_UIDS = 1,           /* Retain UIDs (E.3.9), 113110 */
    DEID_OPT_DEVICE = 2,         /* Retain Device Identity (E.3.8), 113109 */
    DEID_OPT_INSTITUTION = 3,    /* Retain Institution Identity (E.3.13), 113112 */
    DEID_OPT_PATIENT_CHARS = 4,  /* Retain Patient Characteristics (E.3.7), 113108 */
    DEID_OPT_FULL_DATES = 5,     /* Retain Longitudinal Temporal Information Full Dates, 113106 */
    DEID_OPT_MODIFIED_DATES = 6, /* ... with Modified Dates (E.3.6), 113107 */
    DEID_OPT_CLEAN_DESC = 7,     /* Clean Descriptors (E.3.5), 113105 */
    DEID_OPT_CLEAN_STRUCT = 8,   /* Clean Structured Content (E.3.4), 113104 */
    DEID_OPT_CLEAN_GRAPHICS = 9, /* Clean Graphics (E.3.3), 113103 */
    DEID_OPT_COUNT = 10
};
#define DEID_OPT_BIT(o) (1u << (o))

/* Long option name ("retain-safe-private"), CID 7050 code value ("113111") and meaning. */
const char *deid_option_flag(int opt);
const char *deid_option_code(int opt);
const char *deid_option_meaning(int opt);

typedef struct deid_opts {
    unsigned options;    /* DEID_OPT_BIT() of the options in use; 0 = basic profile */
    int keep_overlays;   /* keep curve and overlay data (50xx/60xx) and their text, cleaned */
    int keep_unknown;    /* keep unknown/retired public attributes of a PHI-prone VR */
    int allow_burned_in; /* write files that need review for burned-in text anyway */
} deid_opts;

typedef struct deid_ctx deid_ctx;
/* A worker's memo of pseudonyms (a series repeats its UIDs and patient in every file): optional,
 * one per thread, never shared. Wiped on free. */
typedef struct deid_cache deid_cache;
ms_rc deid_cache_new(deid_cache **out, ms_err *err);
void deid_cache_free(deid_cache *c);

/* A context for de-identifying with this site key and these options. opts may be NULL (basic
 * profile). Full and Modified Dates together are refused (MS_E_INVAL, PS3.15 E.3.6). OUT: *out,
 * owned (deid_ctx_free). */
ms_rc deid_ctx_new(const uint8_t key[MS_KEY_LEN], const deid_opts *opts, deid_ctx **out,
                   ms_err *err);
/* Loads the burned-in annotation configuration (README.md): lines of
 * "manufacturer | model | COLSxROWS or * | x,y,w,h[; x,y,w,h...]". Errors name the line number. */
ms_rc deid_ctx_load_burnin(deid_ctx *ctx, const char *path, ms_err *err);
/* As above from text in memory (tests). */
ms_rc deid_ctx_parse_burnin(deid_ctx *ctx, const char *text, size_t len, ms_err *err);
void deid_ctx_free(deid_ctx *ctx);

/* Counters of what was done to one file (or summed over many). */
enum deid_counter {
    DEID_N_REMOVED,          /* X (and the removed side of compound codes) */
    DEID_N_EMPTIED,          /* Z */
    DEID_N_DUMMY,            /* D */
    DEID_N_KEPT,             /* K and attributes not in the table that were kept */
    DEID_N_CLEANED,          /* C through the text scrubber or the date shift */
    DEID_N_UID,              /* U: UIDs replaced by keyed pseudonyms */
    DEID_N_PSEUDONYM,        /* PatientID / PatientName replaced by the patient pseudonym */
    DEID_N_DATE_SHIFTED,     /* DA/DT values shifted (Modified Dates) */
    DEID_N_AGE_CAPPED,       /* ages over 89 set to 090Y */
    DEID_N_PRIVATE_REMOVED,  /* private attributes removed */
    DEID_N_PRIVATE_KEPT,     /* safe private attributes kept */
    DEID_N_UNKNOWN_REMOVED,  /* unknown/retired public attributes of a PHI-prone VR removed */
    DEID_N_GRAPHICS_REMOVED, /* curve/overlay elements removed */
    DEID_N_COUNT
};
const char *deid_counter_name(int counter); /* "removed", "emptied", ... (stable, for JSON) */

typedef struct deid_result {
    uint64_t n[DEID_N_COUNT];
    int needs_review; /* burned-in text suspected and not blanked: the file was not written */
    int blanked;      /* rectangles of the configuration were blanked in the pixel data */
    char reason[64];  /* why it needs review: "BurnedInAnnotation=YES", "modality US"... */
} deid_result;

/* De-identifies f in place (meta and dataset, every nested item). On MS_OK *res says what was
 * done; when res->needs_review the dataset is de-identified but must not be released unless the
 * caller allows it. Errors leave f partly changed: never write it then. */
ms_rc deid_file_apply(const deid_ctx *ctx, dcm_file *f, deid_result *res, ms_err *err);
/* As deid_file_apply with this thread's memo (cache may be NULL). */
ms_rc deid_file_apply_cached(const deid_ctx *ctx, deid_cache *cache, dcm_file *f, deid_result *res,
                             ms_err *err);

typedef struct deid_io_opts {
    int overwrite;      /* replace an existing output file */
    const char *syntax; /* output transfer syntax; NULL: the input's ("original") */
    int batch;          /* no fsync per file: the caller syncs the output file system once at the
                         * end (medseal deid does); else temp + fsync + rename per file */
    deid_cache *cache;  /* this thread's memo, or NULL */
} deid_io_opts;

/* Reads `in`, de-identifies it and writes `out` (temporary file + rename; pixel data copied by
 * the kernel where the codec can). A file that needs review is not written (res->needs_review)
 * unless the context allows it. MS_E_FORMAT/MS_E_TRUNC...: `in` could not be parsed (nothing
 * written); MS_E_EXISTS: `out` exists and !io->overwrite. io may be NULL. */
ms_rc deid_file_path(const deid_ctx *ctx, const char *in, const char *out, const deid_io_opts *io,
                     deid_result *res, ms_err *err);

#ifdef __cplusplus
}
#endif
#endif

/*
 * Internals of the analyst module (src/analyst): the finding model shared by extraction, the
 * guideline rules, the comparison and the report writers.
 *
 * Sizes are integers in hundredths of a millimetre (never floats), so that (6.1 + 5.8) / 2 = 5.95
 * rounds the same way on every platform; AN_NONE marks an unknown value. Owns nothing itself.
 */
#ifndef MEDSEAL_ANALYST_INTERNAL_H
#define MEDSEAL_ANALYST_INTERNAL_H

#include <stddef.h>

#include <jansson.h>

#include "medseal/analyst.h"

#define AN_NONE (-1L)

enum an_comp { AN_COMP_NONE, AN_COMP_SOLID, AN_COMP_PART_SOLID, AN_COMP_GGN, AN_COMP_CYST };
enum an_time { AN_TIME_NONE, AN_TIME_BASELINE, AN_TIME_FOLLOWUP };
enum an_change {
    AN_CH_NONE,
    AN_CH_NEW,
    AN_CH_STABLE,
    AN_CH_GROWING,
    AN_CH_DECREASED,
    AN_CH_SLOW,
    AN_CH_RESOLVED,
    AN_CH_PERSISTENT
};
enum an_loc {
    AN_LOC_NONE,
    AN_LOC_JUXTAPLEURAL,
    AN_LOC_PERIFISSURAL,
    AN_LOC_AIRWAY_SEG,
    AN_LOC_AIRWAY_SUBSEG
};
enum an_benign { AN_BEN_NONE, AN_BEN_CALC, AN_BEN_FAT };
enum an_exam { AN_EXAM_NONE, AN_EXAM_INFECTIOUS, AN_EXAM_INCOMPLETE, AN_EXAM_PRIOR };
enum an_risk { AN_RISK_NONE, AN_RISK_LOW, AN_RISK_HIGH };
enum an_wall { AN_WALL_NONE, AN_WALL_THIN, AN_WALL_THICK };
enum an_locules { AN_LOCULES_NONE, AN_UNILOCULAR, AN_MULTILOCULAR };
enum an_cystch {
    AN_CYST_CH_NONE,
    AN_CYST_CH_CYSTIC_GROWING, /* growing cystic component of a thick-walled cyst */
    AN_CYST_CH_WALL_GROWING,   /* growing wall thickness / nodularity */
    AN_CYST_CH_BECAME_MULTI,   /* a unilocular cyst became multilocular */
    AN_CYST_CH_MORE_LOCULES,   /* increased loculation of a multilocular cyst */
    AN_CYST_CH_NEW_OPACITY     /* new or increased opacity in a multilocular cyst */
};

/* suspicious features (bit mask) */
#define AN_SUSP_SPICULATION  1u
#define AN_SUSP_LYMPH        2u
#define AN_SUSP_METASTASIS   4u
#define AN_SUSP_GGN_DOUBLING 8u
#define AN_SUSP_OTHER        16u

/* The lobes, in a fixed order (index into an_lobe_name). */
enum an_lobe { AN_LOBE_NONE, AN_RUL, AN_RML, AN_RLL, AN_LUL, AN_LINGULA, AN_LLL };

/* One nodule as the guidelines see it. Zero-initialise with an_nodule_init. */
struct an_nodule {
    int comp, timepoint, change, location, benign, exam, risk;
    int multiple; /* -1 unknown, 0 single, 1 multiple */
    int present;  /* 1 a nodule, 0 "no nodules" (Lung-RADS 1) */
    long mean_h;  /* mean diameter as given, or AN_NONE */
    long long_h, short_h, third_h;
    long solid_h;      /* solid component (mean or maximal diameter) */
    long prior_mean_h; /* mean diameter at the prior exam */
    long months_x10;   /* months since that prior, in tenths */
    unsigned suspicious;
    char prior_category[4]; /* Lung-RADS category of the prior exam, "" if unknown */
    int proven_benign;
    int s_modifier;
    int cyst_wall, cyst_locules, cyst_change;
    int context_screening, excluded; /* Fleischner exclusions (age < 35, cancer, immunosupp.) */
};

void an_nodule_init(struct an_nodule *n);

/* Lung-RADS mean diameter in tenths of a mm (half-up), or AN_NONE if no size is known. */
long an_mean_tenths(const struct an_nodule *n);
/* Fleischner size: whole mm (half-up), or AN_NONE. */
long an_mean_whole_mm(const struct an_nodule *n);
/* Rounds hundredths to tenths, half-up (non-negative input). */
long an_h_to_tenths(long h);

/* The result of one guideline evaluation. Strings are static. */
struct an_result {
    char category[40]; /* Lung-RADS "0".."4X"; Fleischner the recommendation key */
    int s_modifier;
    const char *rule;        /* the row id, e.g. "lung-rads-2022/solid-baseline-6-8" */
    const char *rule_text;   /* what the row says, in the guideline's words */
    const char *mgmt_key;    /* e.g. "ldct-6m" */
    const char *management;  /* recommendation text */
    const char *note;        /* how an input gap was resolved, or NULL */
    long size_used;          /* tenths (Lung-RADS) or whole mm (Fleischner), AN_NONE if none */
    const char *change_used; /* growth decision, "growing" / "stable" / ... or NULL */
};

/* Lung-RADS v2022. Returns MS_E_FORMAT (with a message naming the missing field) if the input
 * matches no row. */
ms_rc an_lungrads_eval(const struct an_nodule *n, struct an_result *out, ms_err *err);
/* Management for a category ("4A") and whether the nodule is an airway nodule. */
void an_lungrads_management(const char *category, int airway, const char **key, const char **text);
/* Order of Lung-RADS categories ("0" < "1" < ... < "4X"); -1 for an unknown string. */
int an_lungrads_rank(const char *category);

/* The rule tables as JSON (new reference). */
json_t *an_lungrads_rules_json(void);
json_t *an_fleischner_rules_json(void);

/* Fleischner 2017. */
ms_rc an_fleischner_eval(const struct an_nodule *n, struct an_result *out, ms_err *err);

/* BI-RADS: the row for a stated category ("0".."6", "4A".."4C"), or NULL. */
struct an_birads_row {
    const char *category;
    const char *assessment;
    const char *likelihood;
    const char *mgmt_key;
    const char *management;
};
const struct an_birads_row *an_birads_lookup(const char *category);

/* Parsing of the classify JSON into a nodule (field names in README.md). */
ms_rc an_nodule_from_json(const json_t *j, struct an_nodule *n, ms_err *err);
/* The result as {"category","management","rule",...}. NULL on allocation failure. */
json_t *an_result_json(const struct an_result *res, const char *guideline);

/* Names (static strings) */
const char *an_comp_name(int comp);
const char *an_change_name(int change);
const char *an_lobe_name(int lobe);
const char *an_lobe_long_name(int lobe);

/* ---- extraction ---- */

struct an_span {
    size_t start, end; /* byte offsets [start, end) into the source text */
};

#define AN_FEAT_CALC         1u
#define AN_FEAT_FAT          2u
#define AN_FEAT_SPICULATION  4u
#define AN_FEAT_JUXTAPLEURAL 8u
#define AN_FEAT_PERIFISSURAL 16u
#define AN_FEAT_AIRWAY       32u
#define AN_FEAT_CYST         64u
#define AN_FEAT_LYMPH        128u
#define AN_FEAT_SMOOTH       256u
#define AN_FEAT_SUBSEGMENTAL 512u
#define AN_FEAT_METASTASIS   1024u

/* ---- negation, uncertainty, temporality (context.c; lexicon data/analyst/context.tsv) ---- */

enum an_ctx_cat {
    AN_CTX_NONE,
    AN_CTX_NEGATED,
    AN_CTX_NEGATED_NEW, /* "no new nodules": denies only new ones */
    AN_CTX_UNCERTAIN,
    AN_CTX_RESOLVED,
    AN_CTX_HISTORICAL,
    AN_CTX_NEW, /* "not present previously", "has appeared" */
    AN_CTX_PSEUDO,
    AN_CTX_TERMINATE
};
#define AN_CTX_FWD  1
#define AN_CTX_BWD  2
#define AN_CTX_BOTH 3

struct an_ctx_trigger {
    const char *phrase;
    unsigned len;
    int cat, dir;
    const char *cat_name, *dir_name; /* as written in context.tsv */
};
extern const struct an_ctx_trigger an_ctx_lexicon[];
extern const size_t an_ctx_lexicon_n;

struct an_ctx_hit {
    int cat;
    size_t start, end; /* the trigger's offsets */
    const struct an_ctx_trigger *trigger;
};

/* The ConText category of the mention [t0, t1) in the sentence [s0, s1) of the lower-cased text
 * lc (AN_CTX_NONE: asserted, current); *hit (may be NULL) names the deciding trigger. */
int an_context(const char *lc, size_t s0, size_t s1, size_t t0, size_t t1, struct an_ctx_hit *hit);
const char *an_ctx_name(int cat);

/* A nodule found in text. */
struct an_found {
    /* 0 nodule, 1 BI-RADS, 2 negative, 3 stated Lung-RADS, 4 exam finding, 5 risk, 6 other
     * (non-pulmonary) finding, 7 uncertain, 8 resolved, 9 historical mention */
    int kind;
    struct an_span span;      /* the whole finding */
    struct an_span size_span; /* the size expression, start == end if none */
    struct an_span comp_span, loc_span, change_span;
    int naxes;
    long axes_h[3]; /* hundredths of mm, as written (cm converted) */
    long solid_h;   /* solid component, AN_NONE */
    long prior_h;   /* an earlier size stated in the text ("previously 4 mm"), AN_NONE */
    int comp;
    int lobe;
    char segment[32]; /* e.g. "apical", "" if none */
    unsigned features;
    int count;        /* 1, N, or -1 for "multiple" */
    int change;       /* temporal word */
    int persistent_n; /* "persistent across 3 studies" -> 3 */
    int negated;
    int ctx;                         /* AN_CTX_* deciding category (NONE: asserted, current) */
    struct an_span trig_span;        /* the deciding trigger, start == end if none */
    const struct an_ctx_trigger *trigger; /* static lexicon row, or NULL */
    char organ[24];     /* kind 6: the organ word or section ("mediastinum", "thyroid") */
    int impression;     /* said under IMPRESSION / CONCLUSION (a restatement) */
    int refback;        /* refers back to a nodule named before ("the 6 mm nodule", "this") */
    int img_series, img_image; /* image reference "(5:112)", "(series 4, image 77)"; -1 none */
    struct an_span img_span;
    int range;          /* the size was a range ("3-6 mm": the largest kept) */
    int upto;           /* "up to 5 mm", "less than 4 mm" */
    char birads[4]; /* BI-RADS category when kind == 1 */
    int source;     /* index of the text it came from */
};

/* Extracts findings from text[0..len). OUT: *found (owned, ms_free with alloc), *n. */
ms_rc an_extract_text(const char *text, size_t len, ms_alloc *alloc, struct an_found **found,
                      size_t *n, ms_err *err);
/* Mean diameter (hundredths) of a found nodule: mean of the first two axes (or the one axis). */
long an_found_mean_h(const struct an_found *f);
/* The JSON of one found item (spans, sizes, composition, ...). `text` is the source text: when
 * non-NULL the evidence snippet is included (only with --phi). */
json_t *an_found_json(const struct an_found *f, const char *text);
/* Hundredths of a mm as mm (the JSON's sizes: axes, solid component, earlier size). */
double an_h_to_mm(long h);
/* The report's mean diameter of a found nodule in mm (tenths, Lung-RADS rounding), NAN when it
 * has no size. */
double an_found_mean_mm(const struct an_found *f);
/* The BI-RADS row of a stated category, or a row of "?" when the category is not in the table. */
const struct an_birads_row *an_birads_stated(const char *category);

/* Guideline input from a found nodule (composition left AN_COMP_NONE when not stated). */
void an_found_to_nodule(const struct an_found *f, struct an_nodule *n);
/* Feature names (static strings, in the report's order) of a feature mask into out; returns how
 * many. */
#define AN_FEATURE_NAMES 10
size_t an_feature_names(unsigned features, const char *out[AN_FEATURE_NAMES]);
/* Feature names as a JSON array. */
json_t *an_features_json(unsigned features);

/* ---- formatting helpers ---- */

/* Writes tenths as "8.0" into buf (size >= 24). */
void an_fmt_tenths(long tenths, char *buf, size_t n);
/* Writes hundredths with at most 2 decimals, trailing zeros trimmed to one decimal: "8.0",
 * "5.95". */
void an_fmt_h(long h, char *buf, size_t n);

/* ---- the report ---- */

#define AN_MAX_TEXTS      4096               /* texts (notes, SR, annotations) per study */
#define AN_MAX_STUDY_TEXT ((size_t)64 << 20) /* bytes of text per study */

#define AN_STR 68 /* fixed string fields: 64 characters of a DICOM LO + margin */

struct an_series {
    char number[16], modality[17], description[AN_STR], kernel[AN_STR], contrast[AN_STR];
    char manufacturer[AN_STR], model[AN_STR], body_part[AN_STR];
    char uid[AN_STR];
    size_t count;
    double thickness; /* mm, NAN unknown (first value; thickness_varies if others differ) */
    int thickness_varies;
    double pixel_spacing[2];
    double iop[6];
    int have_iop, rows, cols;
    int geometry_inconsistent; /* orientation, pixel spacing or matrix differ between images */
    double *pos;               /* slice positions along the normal (count of them) */
    size_t npos, cap_pos;
    double spacing, spacing_min, spacing_max; /* from sorted positions; NAN unknown */
    size_t gaps, duplicates;
    double ctdivol_max, dlp; /* NAN unknown */
    int positions_missing;
};

struct an_text {
    char source[16];
    char *text; /* owned, ms_malloc; PHI */
    size_t len;
};

/* One nodule of a study after merging the mentions in its texts. */
struct an_nod {
    struct an_found f; /* the most complete mention */
    int mentions;
    int track; /* index into the report's tracks, -1 none */
    struct an_nodule in;
    struct an_result lr, fl;
    int have_lr, have_fl;
    char lr_why[MS_ERR_MSG_MAX], fl_why[MS_ERR_MSG_MAX]; /* why a guideline gave no row */
    char id[8];                                          /* "N1" */
};

struct an_study {
    int prior;
    char date[9]; /* YYYYMMDD or "" */
    long day;     /* days since 1970, AN_NONE if unknown */
    char modality[17], body_part[AN_STR], sex[8], age[8], description[AN_STR];
    char study_uid[AN_STR];
    /* identity strings (PHI) used to scrub descriptions; never printed */
    char pid[AN_STR], pname[AN_STR], birth[16], accession[AN_STR], study_id[AN_STR];
    char institution[AN_STR], referring[AN_STR];
    struct an_series *series;
    size_t nseries, cap_series;
    size_t files, sr_docs, annotations, unreadable;
    double dlp_total, ctdivol_sr; /* mGy.cm and mGy from a dose SR, NAN unknown */
    struct an_text *texts;
    size_t ntexts, cap_texts, text_bytes;
    struct an_found *found; /* all mentions, every text */
    size_t nfound, cap_found;
    struct an_nod *nods;
    size_t nnods;
    json_t *prior_json; /* findings of a prior given as a JSON report (borrowed copy, owned ref) */
};

struct an_point {
    int study;
    int nod;
};

struct an_track {
    struct an_point pts[AN_MAX_STUDIES];
    size_t npts;
    int status; /* AN_ST_* */
    int persistent_n;
    long delta_first_h, delta_prev_h; /* mean diameter changes, hundredths */
    double rel_first, rel_prev;       /* percent, NAN unknown */
    long days_prev, days_first;       /* AN_NONE unknown */
    double vdt_days;                  /* NAN: not computed */
    const char *vdt_reading;
    const char *growth; /* Lung-RADS growth decision (see growth_ref) */
    int growth_ref;     /* the point the growth was judged from: the previous, or the first */
    int comp;
};

enum { AN_ST_NEW, AN_ST_STABLE, AN_ST_GROWING, AN_ST_SHRINKING, AN_ST_RESOLVED, AN_ST_PERSISTENT };
const char *an_status_name(int st);

struct an_report {
    ms_alloc *alloc;
    int phi;
    int context; /* 0 both, 1 screening, 2 incidental */
    int risk;
    int ran;
    struct an_study *studies; /* [0] is the current study; priors after it */
    size_t studies_cap;       /* slots allocated (grown by new_prior up to AN_MAX_STUDIES) */
    size_t nstudies;
    size_t cur; /* index of the current study after sorting (the latest) */
    struct an_track *tracks;
    size_t ntracks;
    struct an_result exam_lr, exam_fl;
    int have_exam_lr, have_exam_fl;
    int exam_lr_nod, exam_fl_nod; /* index of the deciding nodule in the current study, -1 */
    char warnings[8][192];
    size_t nwarnings;
};

/* study.c */
ms_rc an_study_add_file(struct an_report *r, struct an_study *st, dcm_file *f, ms_err *err);
ms_rc an_study_finish(struct an_report *r, struct an_study *st, ms_err *err);
ms_rc an_study_add_text(struct an_report *r, struct an_study *st, const char *text, size_t len,
                        const char *source, ms_err *err);
void an_study_free(struct an_report *r, struct an_study *st);
/* A text scrubber for the study's descriptions (its identity strings known), or NULL (with
 * --phi, or when the scrubber is not available). Free with phi_ctx_free. */
struct phi_ctx *an_study_scrubber(const struct an_report *r, const struct an_study *st);
/* De-identified copy of a description into out: identity strings removed, then the scrubber.
 * Without a scrubber (ctx NULL, not --phi) out is "" and 1 is returned (withheld). */
int an_study_clean(const struct an_report *r, const struct an_study *st, struct phi_ctx *ctx,
                   const char *in, char *out, size_t n);

/* compare.c */
ms_rc an_compare(struct an_report *r, ms_err *err);
/* Lung-RADS growth decision between two mean diameters (hundredths) over months_x10 months. */
int an_lungrads_growth(long prior_h, long cur_h, long months_x10);
/* Volume doubling time (days) for two mean diameters (mm) over `days`; NAN if no growth. */
double an_vdt_days(double d1, double d2, double days);

/* assess.c */
ms_rc an_assess(struct an_report *r, ms_err *err);
ms_rc an_found_from_json_list(struct an_report *r, struct an_study *st, const json_t *list,
                              ms_err *err);
/* report.c: a new empty prior study (an_add_dir) */
ms_rc an_study_new_prior(an_report *r, struct an_study **out, ms_err *err);

/* outputs */
void an_report_warn(struct an_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Date for output: "2023-01-28" with --phi, else the year ("2023"); "" if unknown. */
void an_fmt_date(const struct an_report *r, const struct an_study *st, char *buf, size_t n);
/* Days from the first (oldest) study, AN_NONE if unknown. */
long an_study_offset(const struct an_report *r, const struct an_study *st);
const char *an_age_band(const char *as, char *buf, size_t n);

/* out_json.c: the values the JSON report states, shared with the text writer (out_text.c) so
 * both say the same thing. */
/* A measurement as the report states it: rounded to 0.001 mm (NAN stays NAN). */
double an_out_num(double v);
/* The flags of a series ("gaps in slice positions", ...), static strings; returns how many. */
#define AN_SERIES_FLAGS 5
size_t an_series_flags(const struct an_series *s, const char *out[AN_SERIES_FLAGS]);
/* The source name of the text a nodule came from ("prior-report" when none). */
const char *an_nod_source(const struct an_study *st, const struct an_nod *nd);
/* The comparison of one track as the report states it. */
struct an_cmp_out {
    const char *status; /* an_status_name, NULL if unknown */
    long studies;       /* studies the nodule was seen on ("persistent across N" or the track) */
    int changes;        /* 1: the members below are stated (two or more points) */
    double first_mm, prior_mm;   /* mean diameter change since the first / the previous point */
    double first_pct, prior_pct; /* the same in percent (an_out_num), NAN unknown */
    long days_prior, days_first; /* AN_NONE unknown */
    const char *growth;          /* Lung-RADS growth decision or NULL */
    double vdt_days;             /* whole days (rounded), NAN not computed */
    const char *vdt_reading;     /* or NULL */
};
void an_cmp_out(const struct an_track *t, struct an_cmp_out *out);
/* The impression sentences, in order, each passed to line(ud, sentence); stops (returning -1) as
 * soon as line returns non-zero. */
int an_impression(const struct an_report *r, int (*line)(void *ud, const char *s), void *ud);

#endif

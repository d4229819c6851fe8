/*
 * Internals of src/deid shared between its files: the generated rule table, the per-file walk
 * state, and the helpers each file provides.
 *
 * Trusts: nothing from the input. Owns: nothing (declarations only).
 */
#ifndef MEDSEAL_DEID_INTERNAL_H
#define MEDSEAL_DEID_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "medseal/deid.h"

/* Action codes of PS3.15 Table E.1-1a. DEID_A_NONE: no action listed (option columns). */
enum deid_action {
    DEID_A_NONE = 0,
    DEID_A_K,
    DEID_A_X,
    DEID_A_Z,
    DEID_A_D,
    DEID_A_C,
    DEID_A_U,
    DEID_A_ZD,
    DEID_A_XZ,
    DEID_A_XD,
    DEID_A_XZD,
    DEID_A_XZU,
};

struct deid_rule {
    uint32_t tag;
    uint32_t mask; /* 0xffffffff exact; else bits that must match (50xx,xxxx), (60xx,3000) */
    uint8_t basic;
    uint8_t opt[DEID_OPT_COUNT];
};

struct deid_safe_private {
    uint16_t group;
    uint8_t elem; /* element within the private block (low byte) */
    const char *creator;
};

/* Generated (scripts/deid-gentable.py): exact rules sorted by tag, then masked ones. */
extern const struct deid_rule deid_rules[];
extern const size_t deid_rule_count;
extern const struct deid_rule deid_mask_rules[];
extern const size_t deid_mask_rule_count;
extern const struct deid_safe_private deid_safe_private[];
extern const size_t deid_safe_private_count;

/* A rectangle of the burned-in configuration. */
struct deid_rect {
    uint32_t x, y, w, h;
};
struct deid_burnin_rule {
    char *manufacturer; /* upper-case substring, "" = any */
    char *model;
    uint32_t cols, rows; /* 0 = any */
    struct deid_rect *rects;
    size_t nrects;
};

struct deid_ctx {
    uint8_t key[MS_KEY_LEN];
    deid_opts opts;
    struct deid_burnin_rule *burnin;
    size_t nburnin;
};

#define DEID_IDENT_COUNT 17
struct phi_ctx;

/* Per-file state of one walk. */
struct deid_walk {
    const deid_ctx *ctx;
    deid_result *res;
    char pseudonym[MS_PSEUDO_MAX]; /* of the top-level patient */
    int date_offset;               /* days, of the top-level patient */
    ms_buf tmp;                    /* scratch for values (wiped) */
    int needs_clean;               /* some C on text may happen: capture the identity */
    char *ident[DEID_IDENT_COUNT]; /* identity strings for the scrubber (clean.c), owned */
    struct phi_ctx *phi;           /* created on first use */
    deid_cache *cache;             /* the worker's memo, or NULL */
};

/* cache.c: ms_pseudo_uid / ms_pseudo_patient + date offset through the worker's memo (c may be
 * NULL: computed every time). */
ms_rc deid__cached_uid(deid_cache *c, const deid_ctx *ctx, const char *uid, size_t n,
                       char out[MS_UID_MAX], ms_err *err);
ms_rc deid__cached_patient(deid_cache *c, const deid_ctx *ctx, const char *issuer,
                           size_t issuer_len, const char *pid, size_t pid_len,
                           char out[MS_PSEUDO_MAX], int *offset, ms_err *err);

/* profile.c: the action for a public tag under the context's options, after resolving compound
 * codes (DEID_A_NONE when the tag is not in the table). */
const struct deid_rule *deid__rule_find(uint32_t tag);
int deid__action(const deid_ctx *ctx, uint32_t tag, int *in_table);
int deid__resolve_compound(int action);

/* values.c */
ms_rc deid__set_dummy(struct deid_walk *w, dcm_dataset *ds, const dcm_elem *e, ms_err *err);
ms_rc deid__set_empty(struct deid_walk *w, dcm_dataset *ds, const dcm_elem *e, ms_err *err);
ms_rc deid__map_uids(struct deid_walk *w, dcm_dataset *ds, const dcm_elem *e, ms_err *err);
/* Shifts DA / DT values by w->date_offset; values that cannot be shifted are emptied. */
ms_rc deid__shift_dates(struct deid_walk *w, dcm_dataset *ds, const dcm_elem *e, ms_err *err);
/* Caps an AS over 89 years to 090Y. */
ms_rc deid__cap_age(struct deid_walk *w, dcm_dataset *ds, const dcm_elem *e, ms_err *err);
ms_rc deid__set_ascii(dcm_dataset *ds, uint32_t tag, uint16_t vr, const char *s, ms_err *err);

/* private.c: applies the private-attribute rules to one dataset (top level or item); recursion
 * into kept private sequences is done by the caller. */
ms_rc deid__private(struct deid_walk *w, dcm_dataset *ds, ms_err *err);

/* clean.c: C on a text value through the scrubber; removes the attribute when it cannot. */
ms_rc deid__clean_begin(struct deid_walk *w, const dcm_dataset *ds, ms_err *err);
void deid__clean_end(struct deid_walk *w);
ms_rc deid__clean_text(struct deid_walk *w, dcm_dataset *ds, const dcm_elem *e, ms_err *err);

/* engine.c */
/* The text of tag into b; absent or empty reads as "" (MS_OK), other failures are errors. */
ms_rc deid__text_or_empty(const dcm_dataset *ds, uint32_t tag, ms_buf *b, ms_err *err);
enum deid_mode { DEID_MODE_NORMAL = 0, DEID_MODE_CLEAN = 1, DEID_MODE_DUMMY = 2 };
ms_rc deid__walk(struct deid_walk *w, dcm_dataset *ds, const char *pseudonym, int mode,
                 size_t depth, ms_err *err);
/* The patient pseudonym of ds from its own (IssuerOfPatientID, PatientID); 0 if it has none. */
int deid__patient_pseudonym(struct deid_walk *w, const dcm_dataset *ds, char out[MS_PSEUDO_MAX],
                            int *date_offset, ms_err *err);

/* burnin.c: screening and blanking; sets res->needs_review / res->blanked. */
ms_rc deid__burnin(struct deid_walk *w, dcm_file *f, ms_err *err);
void deid__burnin_free(deid_ctx *ctx);

/* record.c: (0012,0062/0063/0064), (0028,0303) and the meta group. */
ms_rc deid__record(struct deid_walk *w, dcm_file *f, ms_err *err);

#endif

/*
 * Lung-RADS v2022 as data + rules: an ordered table of guideline rows (the first row whose
 * conditions hold decides), then the 4X and S modifiers. Sources: ACR Lung-RADS v2022 as
 * transcribed in RadElement RDES267, Christensen et al. CHEST 2024, ../shared/notes/guidelines.md
 * §1. Sizes are tenths of a millimetre (mean diameter, rounded half-up, see an_mean_tenths).
 *
 * Trusts: the nodule struct (already validated by its parser). Owns: nothing; all strings static.
 */
#include <string.h>

#include "internal.h"

/* When a row applies, as a bit mask over the nodule's situation at this exam. */
#define W_BASE   1u  /* baseline screening exam */
#define W_NEW    2u  /* new at follow-up */
#define W_GROW   4u  /* growing: mean diameter up > 1.5 mm within 12 months */
#define W_STABLE 8u  /* stable or decreased at follow-up */
#define W_SLOW   16u /* slow growth over several exams */
#define W_ANY    (W_BASE | W_NEW | W_GROW | W_STABLE | W_SLOW)

#define INF 1000000L

enum row_kind { K_SIZE, K_JUXTA };

struct lr_row {
    const char *id;
    const char *category;
    enum row_kind kind;
    int comp;
    unsigned when;
    long mean_lo, mean_hi;   /* [lo, hi) tenths of a mm */
    long solid_lo, solid_hi; /* [lo, hi) tenths; lo = -1: no condition on the solid part */
    const char *text;
};

/* Ordered: special rows first, then per composition from the highest category down, so the
 * first match is the most suspicious row that applies. */
static const struct lr_row size_rows[] = {
    {"lung-rads-2022/juxtapleural-lt10", "2", K_JUXTA, AN_COMP_SOLID, W_BASE | W_NEW | W_STABLE, 0,
     100, -1, 0,
     "juxtapleural (incl. perifissural) solid nodule, smooth margins, < 10 mm (524 mm3) at "
     "baseline or new"},
    /* solid */
    {"lung-rads-2022/solid-baseline-ge15", "4B", K_SIZE, AN_COMP_SOLID, W_BASE, 150, INF, -1, 0,
     "solid nodule >= 15 mm (>= 1767 mm3) at baseline"},
    {"lung-rads-2022/solid-new-or-growing-ge8", "4B", K_SIZE, AN_COMP_SOLID, W_NEW | W_GROW, 80,
     INF, -1, 0, "solid nodule new or growing, >= 8 mm (>= 268 mm3)"},
    {"lung-rads-2022/solid-baseline-8-15", "4A", K_SIZE, AN_COMP_SOLID, W_BASE, 80, 150, -1, 0,
     "solid nodule >= 8 to < 15 mm (>= 268 to < 1767 mm3) at baseline"},
    {"lung-rads-2022/solid-growing-lt8", "4A", K_SIZE, AN_COMP_SOLID, W_GROW, 0, 80, -1, 0,
     "solid nodule growing, < 8 mm (< 268 mm3)"},
    {"lung-rads-2022/solid-new-6-8", "4A", K_SIZE, AN_COMP_SOLID, W_NEW, 60, 80, -1, 0,
     "solid nodule new, 6 to < 8 mm (113 to < 268 mm3)"},
    {"lung-rads-2022/solid-baseline-6-8", "3", K_SIZE, AN_COMP_SOLID, W_BASE, 60, 80, -1, 0,
     "solid nodule >= 6 to < 8 mm (>= 113 to < 268 mm3) at baseline"},
    {"lung-rads-2022/solid-new-4-6", "3", K_SIZE, AN_COMP_SOLID, W_NEW, 40, 60, -1, 0,
     "solid nodule new, 4 to < 6 mm (34 to < 113 mm3)"},
    {"lung-rads-2022/solid-baseline-lt6", "2", K_SIZE, AN_COMP_SOLID, W_BASE, 0, 60, -1, 0,
     "solid nodule < 6 mm (< 113 mm3) at baseline"},
    {"lung-rads-2022/solid-new-lt4", "2", K_SIZE, AN_COMP_SOLID, W_NEW, 0, 40, -1, 0,
     "solid nodule new, < 4 mm (< 34 mm3)"},
    /* part-solid: mean total diameter and solid component */
    {"lung-rads-2022/part-solid-baseline-solid-ge8", "4B", K_SIZE, AN_COMP_PART_SOLID, W_BASE, 0,
     INF, 80, INF, "part-solid nodule, solid component >= 8 mm (>= 268 mm3) at baseline"},
    {"lung-rads-2022/part-solid-new-or-growing-solid-ge4", "4B", K_SIZE, AN_COMP_PART_SOLID,
     W_NEW | W_GROW, 0, INF, 40, INF,
     "part-solid nodule with a new or growing solid component >= 4 mm (>= 34 mm3)"},
    {"lung-rads-2022/part-solid-baseline-solid-6-8", "4A", K_SIZE, AN_COMP_PART_SOLID, W_BASE, 60,
     INF, 60, 80, "part-solid nodule >= 6 mm total, solid component >= 6 to < 8 mm at baseline"},
    {"lung-rads-2022/part-solid-new-or-growing-solid-lt4", "4A", K_SIZE, AN_COMP_PART_SOLID,
     W_NEW | W_GROW, 60, INF, 0, 40,
     "part-solid nodule >= 6 mm total with a new or growing solid component < 4 mm (< 34 mm3)"},
    {"lung-rads-2022/part-solid-baseline-solid-lt6", "3", K_SIZE, AN_COMP_PART_SOLID, W_BASE, 60,
     INF, 0, 60, "part-solid nodule >= 6 mm total, solid component < 6 mm at baseline"},
    {"lung-rads-2022/part-solid-new-lt6", "3", K_SIZE, AN_COMP_PART_SOLID, W_NEW | W_GROW, 0, 60,
     -1, 0,
     "part-solid nodule new, < 6 mm total (growing < 6 mm: not stated by the ACR, treated as new)"},
    {"lung-rads-2022/part-solid-baseline-lt6", "2", K_SIZE, AN_COMP_PART_SOLID, W_BASE, 0, 60, -1,
     0, "part-solid nodule < 6 mm total (< 113 mm3) at baseline"},
    /* ground-glass (non-solid) */
    {"lung-rads-2022/ggn-baseline-or-new-ge30", "3", K_SIZE, AN_COMP_GGN, W_BASE | W_NEW | W_GROW,
     300, INF, -1, 0,
     "non-solid nodule (GGN) >= 30 mm (>= 14137 mm3) at baseline or new (growing >= 30 mm: not "
     "stated by the ACR, kept at 3)"},
    {"lung-rads-2022/ggn-lt30", "2", K_SIZE, AN_COMP_GGN, W_ANY, 0, 300, -1, 0,
     "non-solid nodule (GGN) < 30 mm (< 14137 mm3) at baseline, new, growing or stable"},
    {"lung-rads-2022/ggn-ge30-stable-or-slow", "2", K_SIZE, AN_COMP_GGN, W_STABLE | W_SLOW, 300,
     INF, -1, 0, "non-solid nodule (GGN) >= 30 mm, stable or slowly growing"},
};

enum special_rule {
    SP_0_INFECTIOUS,
    SP_0_INCOMPLETE,
    SP_0_PRIOR_PENDING,
    SP_1_NO_NODULES,
    SP_1_BENIGN_FEATURES,
    SP_2_4B_PROVEN_BENIGN,
    SP_AIRWAY_SUBSEGMENTAL,
    SP_AIRWAY_SEGMENTAL_BASELINE,
    SP_AIRWAY_SEGMENTAL_PERSISTENT,
    SP_CYST_MULTILOCULAR_GROWING,
    SP_CYST_THICK_GROWING_CYSTIC_COMPONENT,
    SP_CYST_GROWING_WALL,
    SP_CYST_BECAME_MULTILOCULAR,
    SP_CYST_MULTILOCULAR_PROGRESSING,
    SP_CYST_THICK_OR_MULTILOCULAR,
    SP_CYST_THIN_UNILOCULAR,
    SP_STEPPED_4A_STABLE_3M,
    SP_STEPPED_3_STABLE_6M,
    SP_SLOW_GROWING,
    SP_4X_ADDITIONAL_FEATURES,
    SP_STEPPED_HOLD,
    SP_COUNT
};

/* Rows that do not depend on size (exam, benign, airway, cysts, stepped management, slow
 * growth, 4X), as data; the functions below decide which applies. */
static const struct lr_rule {
    const char *id;
    const char *category; /* "prior": the prior category is kept */
    const char *text;
} rules[] = {
    [SP_0_INFECTIOUS] = {"lung-rads-2022/0-infectious", "0",
                         "findings suggestive of an inflammatory or infectious process"},
    [SP_0_INCOMPLETE] = {"lung-rads-2022/0-incomplete", "0",
                         "part or all of the lungs cannot be evaluated"},
    [SP_0_PRIOR_PENDING] = {"lung-rads-2022/0-prior-pending", "0",
                            "prior chest CT examination(s) being located for comparison"},
    [SP_1_NO_NODULES] = {"lung-rads-2022/1-no-nodules", "1", "no lung nodules"},
    [SP_1_BENIGN_FEATURES] = {"lung-rads-2022/1-benign-features", "1",
                              "nodule with benign features: complete, central, popcorn or "
                              "concentric ring calcification, or fat-containing"},
    [SP_2_4B_PROVEN_BENIGN] =
        {"lung-rads-2022/2-4B-proven-benign", "2",
         "category 4B lesion proven benign in etiology after diagnostic work-up"},
    [SP_AIRWAY_SUBSEGMENTAL] = {"lung-rads-2022/airway-subsegmental", "2",
                                "airway nodule, subsegmental, at baseline, new or stable"},
    [SP_AIRWAY_SEGMENTAL_BASELINE] = {"lung-rads-2022/airway-segmental-baseline", "4A",
                                      "airway nodule, segmental or more proximal, at baseline"},
    [SP_AIRWAY_SEGMENTAL_PERSISTENT] =
        {"lung-rads-2022/airway-segmental-persistent", "4B",
         "airway nodule, segmental or more proximal, stable or growing at follow-up"},
    [SP_CYST_MULTILOCULAR_GROWING] = {"lung-rads-2022/cyst-multilocular-growing", "4B",
                                      "growing multilocular cyst (mean diameter)"},
    [SP_CYST_THICK_GROWING_CYSTIC_COMPONENT] =
        {"lung-rads-2022/cyst-thick-growing-cystic-component", "3",
         "thick-walled cyst with a growing cystic component (mean diameter)"},
    [SP_CYST_GROWING_WALL] = {"lung-rads-2022/cyst-growing-wall", "4B",
                              "thick-walled cyst with growing wall thickness or nodularity"},
    [SP_CYST_BECAME_MULTILOCULAR] = {"lung-rads-2022/cyst-became-multilocular", "4A",
                                     "thin- or thick-walled cyst that becomes multilocular"},
    [SP_CYST_MULTILOCULAR_PROGRESSING] =
        {"lung-rads-2022/cyst-multilocular-progressing", "4B",
         "multilocular cyst with increased loculation or a new or increased opacity"},
    [SP_CYST_THICK_OR_MULTILOCULAR] = {"lung-rads-2022/cyst-thick-or-multilocular", "4A",
                                       "thick-walled cyst, or multilocular cyst, at baseline"},
    [SP_CYST_THIN_UNILOCULAR] =
        {"lung-rads-2022/cyst-thin-unilocular", "1",
         "thin-walled unilocular cyst: benign, not a nodule (reported as category 1)"},
    [SP_STEPPED_4A_STABLE_3M] =
        {"lung-rads-2022/stepped-4A-stable-3m", "3",
         "category 4A nodule stable or decreased at the 3-month LDCT (stepped management)"},
    [SP_STEPPED_3_STABLE_6M] =
        {"lung-rads-2022/stepped-3-stable-6m", "2",
         "category 3 nodule stable or decreased at the 6-month LDCT (stepped management)"},
    [SP_SLOW_GROWING] = {"lung-rads-2022/slow-growing", "4B",
                         "solid or part-solid nodule growing slowly over several screening exams"},
    [SP_4X_ADDITIONAL_FEATURES] =
        {"lung-rads-2022/4X-additional-features", "4X",
         "category 3 or 4 nodule with additional features or imaging findings that increase the "
         "suspicion of lung cancer (spiculation, lymphadenopathy, metastatic disease, GGN doubling "
         "in 1 year)"},
    [SP_STEPPED_HOLD] = {"lung-rads-2022/stepped-hold", "prior",
                         "stable or decreased at follow-up: the prior category is kept until the "
                         "stepped-management interval is met"},
};

static void set(struct an_result *r, const char *cat, const char *rule, const char *rule_text);

static void use(struct an_result *r, enum special_rule k)
{
    set(r, rules[k].category, rules[k].id, rules[k].text);
}

struct lr_mgmt {
    const char *category;
    const char *key;
    const char *text;
};

static const struct lr_mgmt mgmt[] = {
    {"0", "comparison-or-additional-imaging",
     "Comparison to prior chest CT examination(s) and/or additional lung cancer screening CT "
     "imaging."},
    {"1", "ldct-12m", "Continue annual screening with LDCT in 12 months."},
    {"2", "ldct-12m", "Continue annual screening with LDCT in 12 months."},
    {"3", "ldct-6m", "LDCT in 6 months."},
    {"4A", "ldct-3m-or-pet",
     "LDCT in 3 months; PET/CT may be considered if there is a solid nodule or solid component "
     ">= 8 mm."},
    {"4B", "diagnostic-ct-pet-or-sampling",
     "Diagnostic chest CT with or without contrast; PET/CT may be considered if there is a solid "
     "nodule or solid component >= 8 mm; tissue sampling; and/or referral for further clinical "
     "evaluation, depending on the probability of malignancy and comorbidities."},
    {"4X", "diagnostic-ct-pet-or-sampling",
     "Diagnostic chest CT with or without contrast; PET/CT may be considered if there is a solid "
     "nodule or solid component >= 8 mm; tissue sampling; and/or referral for further clinical "
     "evaluation, depending on the probability of malignancy and comorbidities."},
};

static const char *const rank_names[] = {"0", "1", "2", "3", "4A", "4B", "4X"};

int an_lungrads_rank(const char *category)
{
    for (size_t i = 0; i < sizeof rank_names / sizeof rank_names[0]; i++) {
        if (strcmp(category, rank_names[i]) == 0)
            return (int)i;
    }
    return -1;
}

void an_lungrads_management(const char *category, int airway, const char **key, const char **text)
{
    *key = NULL;
    *text = NULL;
    if (airway && strcmp(category, "4B") == 0) {
        *key = "clinical-evaluation";
        *text = "Referral for further clinical evaluation (e.g. bronchoscopy).";
        return;
    }
    for (size_t i = 0; i < sizeof mgmt / sizeof mgmt[0]; i++) {
        if (strcmp(category, mgmt[i].category) == 0) {
            *key = mgmt[i].key;
            *text = mgmt[i].text;
            return;
        }
    }
}

static void set(struct an_result *r, const char *cat, const char *rule, const char *rule_text)
{
    size_t n = strlen(cat);
    if (n >= sizeof r->category)
        n = sizeof r->category - 1;
    memcpy(r->category, cat, n);
    r->category[n] = '\0';
    r->rule = rule;
    r->rule_text = rule_text;
}

/* Growth per Lung-RADS: mean diameter up > 1.5 mm within 12 months. Over a longer interval the
 * growth is annualised; growth that never reaches > 1.5 mm per 12 months is slow growth. */
static int growth_from_sizes(const struct an_nodule *n, long mean10, const char **why)
{
    long prior10 = an_h_to_tenths(n->prior_mean_h);
    long delta = mean10 - prior10;
    if (delta < -15) {
        *why = "decreased: mean diameter down > 1.5 mm";
        return AN_CH_DECREASED;
    }
    if (delta <= 15) {
        *why = "stable: mean diameter change <= 1.5 mm";
        return AN_CH_STABLE;
    }
    if (n->months_x10 == AN_NONE || n->months_x10 <= 120) {
        *why = n->months_x10 == AN_NONE
                   ? "growing: mean diameter up > 1.5 mm (interval unknown, taken as <= 12 months)"
                   : "growing: mean diameter up > 1.5 mm within 12 months";
        return AN_CH_GROWING;
    }
    /* delta / months * 12 > 1.5  <=>  delta * 120 > 15 * months_x10 */
    if (delta * 120 > 15 * n->months_x10) {
        *why = "growing: > 1.5 mm per 12 months over a longer interval";
        return AN_CH_GROWING;
    }
    *why = "slow growth: > 1.5 mm in total but never > 1.5 mm per 12 months";
    return AN_CH_SLOW;
}

/* The situation of the nodule at this exam, as a W_* bit. */
static unsigned situation(const struct an_nodule *n, long mean10, struct an_result *r)
{
    int ch = n->change;
    if (mean10 != AN_NONE && n->prior_mean_h != AN_NONE) {
        const char *why = NULL;
        ch = growth_from_sizes(n, mean10, &why);
        r->note = why;
    }
    r->change_used = an_change_name(ch);
    switch (ch) {
    case AN_CH_NEW:
        return W_NEW;
    case AN_CH_GROWING:
        return W_GROW;
    case AN_CH_STABLE:
    case AN_CH_DECREASED:
    case AN_CH_PERSISTENT:
        return n->timepoint == AN_TIME_BASELINE ? W_BASE : W_STABLE;
    case AN_CH_SLOW:
        return W_SLOW;
    default:
        break;
    }
    if (n->timepoint == AN_TIME_FOLLOWUP) {
        r->note = "follow-up exam without change information: treated as a new nodule";
        r->change_used = "new";
        return W_NEW;
    }
    r->change_used = "baseline";
    return W_BASE;
}

static int in_range(long v, long lo, long hi)
{
    return v != AN_NONE && v >= lo && v < hi;
}

static const struct lr_row *match_size(const struct an_nodule *n, unsigned when, long mean10,
                                       long solid10)
{
    for (size_t i = 0; i < sizeof size_rows / sizeof size_rows[0]; i++) {
        const struct lr_row *row = &size_rows[i];
        if (row->comp != n->comp || (row->when & when) == 0)
            continue;
        if (row->kind == K_JUXTA && n->location != AN_LOC_JUXTAPLEURAL &&
            n->location != AN_LOC_PERIFISSURAL)
            continue;
        if (!in_range(mean10, row->mean_lo, row->mean_hi))
            continue;
        if (row->solid_lo >= 0 && !in_range(solid10, row->solid_lo, row->solid_hi))
            continue;
        return row;
    }
    return NULL;
}

/* Rows that do not depend on size: exam, benign, airway. 1 if one applied. */
static int special_rows(const struct an_nodule *n, struct an_result *r)
{
    if (n->exam == AN_EXAM_INFECTIOUS) {
        use(r, SP_0_INFECTIOUS);
        r->mgmt_key = "ldct-1-3m";
        r->management = "LDCT in 1-3 months.";
        return 1;
    }
    if (n->exam == AN_EXAM_INCOMPLETE) {
        use(r, SP_0_INCOMPLETE);
        r->mgmt_key = "additional-ldct";
        r->management = "Additional lung cancer screening CT imaging needed.";
        return 1;
    }
    if (n->exam == AN_EXAM_PRIOR) {
        use(r, SP_0_PRIOR_PENDING);
        r->mgmt_key = "comparison";
        r->management = "Comparison to prior chest CT examination(s).";
        return 1;
    }
    if (n->present == 0) {
        use(r, SP_1_NO_NODULES);
        return 1;
    }
    if (n->benign != AN_BEN_NONE) {
        use(r, SP_1_BENIGN_FEATURES);
        return 1;
    }
    if (n->proven_benign && strcmp(n->prior_category, "4B") == 0) {
        use(r, SP_2_4B_PROVEN_BENIGN);
        return 1;
    }
    return 0;
}

static int airway_rows(const struct an_nodule *n, unsigned when, struct an_result *r)
{
    if (n->location == AN_LOC_AIRWAY_SUBSEG) {
        use(r, SP_AIRWAY_SUBSEGMENTAL);
        return 1;
    }
    if (n->location != AN_LOC_AIRWAY_SEG)
        return 0;
    if (when & W_BASE) {
        use(r, SP_AIRWAY_SEGMENTAL_BASELINE);
        return 1;
    }
    use(r, SP_AIRWAY_SEGMENTAL_PERSISTENT);
    return 1;
}

static int cyst_rows(const struct an_nodule *n, struct an_result *r)
{
    if (n->comp != AN_COMP_CYST)
        return 0;
    int multi = n->cyst_locules == AN_MULTILOCULAR;
    switch (n->cyst_change) {
    case AN_CYST_CH_CYSTIC_GROWING:
        if (multi) {
            use(r, SP_CYST_MULTILOCULAR_GROWING);
            return 1;
        }
        use(r, SP_CYST_THICK_GROWING_CYSTIC_COMPONENT);
        return 1;
    case AN_CYST_CH_WALL_GROWING:
        use(r, SP_CYST_GROWING_WALL);
        return 1;
    case AN_CYST_CH_BECAME_MULTI:
        use(r, SP_CYST_BECAME_MULTILOCULAR);
        return 1;
    case AN_CYST_CH_MORE_LOCULES:
    case AN_CYST_CH_NEW_OPACITY:
        use(r, SP_CYST_MULTILOCULAR_PROGRESSING);
        return 1;
    default:
        break;
    }
    if (multi || n->cyst_wall == AN_WALL_THICK) {
        use(r, SP_CYST_THICK_OR_MULTILOCULAR);
        return 1;
    }
    use(r, SP_CYST_THIN_UNILOCULAR);
    return 1;
}

/* The category a nodule's prior exam had: as given, else from the prior size by the baseline
 * rows, else "" (unknown). */
static const char *prior_category(const struct an_nodule *n)
{
    if (an_lungrads_rank(n->prior_category) >= 0)
        return n->prior_category;
    if (n->prior_mean_h == AN_NONE || n->comp == AN_COMP_NONE)
        return "";
    struct an_nodule p = *n;
    p.mean_h = n->prior_mean_h;
    p.long_h = p.short_h = AN_NONE;
    const struct lr_row *row = match_size(&p, W_BASE, an_h_to_tenths(p.mean_h), AN_NONE);
    return row != NULL ? row->category : "";
}

/* A stable or decreased solid/part-solid nodule at follow-up. A nodule that crosses a size
 * threshold is reclassified by size even without growth; otherwise stepped management from the
 * prior category: 4A stable >= 3 months -> 3; 3 stable >= 6 months -> 2. With no prior category
 * the current size category stands in for it. */
static int stable_rows(const struct an_nodule *n, long mean10, long solid10, struct an_result *r)
{
    const char *prior = prior_category(n);
    const struct lr_row *row = NULL;
    if (mean10 != AN_NONE && n->comp != AN_COMP_NONE)
        row = match_size(n, W_BASE, mean10, solid10);
    if (row == NULL && prior[0] == '\0')
        return 0;
    if (row != NULL && prior[0] != '\0' &&
        an_lungrads_rank(row->category) > an_lungrads_rank(prior)) {
        set(r, row->category, row->id, row->text);
        r->note = "crossed a size threshold without meeting the growth definition: reclassified "
                  "by size";
        return 1;
    }
    if (prior[0] == '\0')
        prior = row->category;
    long m = n->months_x10;
    if (strcmp(prior, "4A") == 0 && m != AN_NONE && m >= 30) {
        use(r, SP_STEPPED_4A_STABLE_3M);
        return 1;
    }
    if (strcmp(prior, "3") == 0 && m != AN_NONE && m >= 60) {
        use(r, SP_STEPPED_3_STABLE_6M);
        return 1;
    }
    if (row != NULL && strcmp(prior, row->category) == 0) {
        set(r, row->category, row->id, row->text);
        r->note = "stable: category by size (stepped-management interval not met or unknown)";
        return 1;
    }
    set(r, prior, rules[SP_STEPPED_HOLD].id, rules[SP_STEPPED_HOLD].text);
    return 1;
}

static ms_rc size_category(const struct an_nodule *n, unsigned when, long mean10,
                           struct an_result *r, ms_err *err)
{
    long solid10 = n->solid_h == AN_NONE ? AN_NONE : an_h_to_tenths(n->solid_h);
    if (when == W_SLOW && (n->comp == AN_COMP_SOLID || n->comp == AN_COMP_PART_SOLID)) {
        use(r, SP_SLOW_GROWING);
        return MS_OK;
    }
    if (when == W_STABLE && n->comp != AN_COMP_GGN && stable_rows(n, mean10, solid10, r))
        return MS_OK;
    if (n->comp == AN_COMP_NONE)
        return ms_fail(err, MS_E_FORMAT, "composition missing");
    if (mean10 == AN_NONE)
        return ms_fail(err, MS_E_FORMAT, "size missing (mean_diameter_mm or long_axis_mm)");
    unsigned w = when == W_SLOW ? W_GROW : when;
    if (w == W_STABLE && n->comp != AN_COMP_GGN)
        w = W_BASE;
    const struct lr_row *row = match_size(n, w, mean10, solid10);
    if (row == NULL) {
        if (n->comp == AN_COMP_PART_SOLID && solid10 == AN_NONE)
            return ms_fail(err, MS_E_FORMAT,
                           "solid_component_mm missing for a part-solid nodule (solid component "
                           "size not stated)");
        return ms_fail(err, MS_E_FORMAT, "no Lung-RADS row for this composition and change");
    }
    set(r, row->category, row->id, row->text);
    return MS_OK;
}

static void modifiers(const struct an_nodule *n, struct an_result *r)
{
    int rank = an_lungrads_rank(r->category);
    if (n->suspicious != 0 && rank >= an_lungrads_rank("3")) {
        use(r, SP_4X_ADDITIONAL_FEATURES);
    }
    r->s_modifier = n->s_modifier && rank >= 0;
}

ms_rc an_lungrads_eval(const struct an_nodule *n, struct an_result *out, ms_err *err)
{
    struct an_result r;
    memset(&r, 0, sizeof r);
    long mean10 = an_mean_tenths(n);
    r.size_used = mean10;
    unsigned when = situation(n, mean10, &r);
    int airway = n->location == AN_LOC_AIRWAY_SEG || n->location == AN_LOC_AIRWAY_SUBSEG;
    if (!special_rows(n, &r) && !airway_rows(n, when, &r) && !cyst_rows(n, &r)) {
        ms_rc rc = size_category(n, when, mean10, &r, err);
        if (rc != MS_OK)
            return rc;
    }
    modifiers(n, &r);
    if (r.mgmt_key == NULL)
        an_lungrads_management(r.category, airway, &r.mgmt_key, &r.management);
    *out = r;
    return MS_OK;
}

/* ---- the rows as data (medseal classify --rules, data/guidelines/lung-rads-2022.rules.json) -- */

static json_t *range_json(long lo, long hi)
{
    return json_pack("{s:f,s:o}", "min", (double)lo / 10.0, "max_exclusive",
                     hi >= INF ? json_null() : json_real((double)hi / 10.0));
}

static json_t *when_json(unsigned when)
{
    static const char *const names[] = {"baseline", "new", "growing", "stable-or-decreased",
                                        "slowly-growing"};
    json_t *a = json_array();
    for (unsigned i = 0; i < 5; i++) {
        if (when & (1u << i))
            json_array_append_new(a, json_string(names[i]));
    }
    return a;
}

json_t *an_lungrads_rules_json(void)
{
    json_t *rows = json_array(), *mg = json_array();
    for (size_t i = 0; i < SP_COUNT; i++)
        json_array_append_new(rows,
                              json_pack("{s:s,s:s,s:s,s:s}", "id", rules[i].id, "kind", "special",
                                        "category", rules[i].category, "text", rules[i].text));
    for (size_t i = 0; i < sizeof size_rows / sizeof size_rows[0]; i++) {
        const struct lr_row *r = &size_rows[i];
        json_t *o =
            json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:s}", "id", r->id, "kind",
                      r->kind == K_JUXTA ? "juxtapleural" : "size", "category", r->category,
                      "composition", an_comp_name(r->comp), "when", when_json(r->when),
                      "mean_diameter_mm", range_json(r->mean_lo, r->mean_hi), "text", r->text);
        if (o != NULL && r->solid_lo >= 0)
            json_object_set_new(o, "solid_component_mm", range_json(r->solid_lo, r->solid_hi));
        json_array_append_new(rows, o);
    }
    for (size_t i = 0; i < sizeof mgmt / sizeof mgmt[0]; i++)
        json_array_append_new(mg, json_pack("{s:s,s:s,s:s}", "category", mgmt[i].category, "key",
                                            mgmt[i].key, "text", mgmt[i].text));
    return json_pack("{s:s,s:s,s:o,s:o}", "guideline", AN_LUNG_RADS_VERSION, "order",
                     "special rows by the code's checks (exam, no nodule, benign, proven benign, "
                     "airway, cyst, slow growth, stepped management), then the first matching size "
                     "row; then 4X and S",
                     "rows", rows, "management", mg);
}

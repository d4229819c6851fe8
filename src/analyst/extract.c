/*
 * Findings extraction from free text (notes, SR text, a user's message): pulmonary nodules with
 * size (mm or cm, 1-3 axes), composition, lobe and segment, features, count, temporal words and
 * negation; BI-RADS and Lung-RADS categories stated by the radiologist. Every fact keeps the
 * byte span it came from.
 *
 * Method: the text is cut into sentences (a '.' between digits is not an end); each size
 * expression with a nodule word or a composition word in its sentence anchors a finding; the
 * sentence is divided between anchors at the last "and", ",", ";" or "while" between them, and
 * each anchor takes the attributes in its part. Sentences with a nodule word and no size give a
 * size-less finding, or a negative statement after "no", "without", "negative for" ...
 * Phrases are looked up only at word starts (a bitmap made with the lower-cased copy), and there
 * only those of the table that begin with the byte found (an index per table, built once).
 *
 * Trusts: nothing in the text (any bytes; bounded by AN_MAX_TEXT and AN_MAX_FINDINGS). Owns: a
 * lower-cased copy of the text and its word-start bitmap (ms_malloc, wiped) during the call, the
 * findings it returns, and the process-wide table indexes (static, built once, never freed).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

struct phrase {
    const char *s; /* lower case; a trailing '*' matches any word ending */
    int v;
};

/* report sections (headings) */
enum { SEC_GENERAL, SEC_LUNG, SEC_SKIP, SEC_OTHER };

struct ctx {
    const char *lc; /* lower-cased text */
    size_t len;
    const uint64_t *ws; /* bit i: a word may start at i (i == 0 or lc[i - 1] not alphanumeric) */
    int section;        /* SEC_* of the heading the current sentence is under */
    const char *organ;  /* the organ of a SEC_OTHER heading */
    int impression;     /* under IMPRESSION / CONCLUSION */
    int list_heading;   /* the heading just read names nodules ("Lung nodules:"): a list follows */
};

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* match_raw with the phrase's length known: n bytes (without the '*'), star if it ends in '*'. The
 * second byte is compared before memcmp: most tries that pass the first byte fail there. */
static size_t match_n(const struct ctx *c, size_t i, size_t end, const char *p, size_t n, int star,
                      int left)
{
    if (i + n > end || (n > 1 && c->lc[i + 1] != p[1]) || memcmp(c->lc + i, p, n) != 0)
        return 0;
    if (left && i > 0 && is_alnum(c->lc[i - 1]))
        return 0;
    size_t j = i + n;
    if (star) {
        while (j < end && is_alnum(c->lc[j]))
            j++;
    } else if (j < end && is_alnum(c->lc[j])) {
        return 0;
    }
    return j;
}

/* Matches phrase p at position i of [.., end): word boundaries on both sides (the left one only
 * when `left`). Returns the end of the match or 0. */
static size_t match_raw(const struct ctx *c, size_t i, size_t end, const char *p, int left)
{
    /* Most tries fail on the first byte: checked before strlen and memcmp, because the phrase
     * tables are tried at every word start (this was a fifth of an analyst request). */
    if (p[0] != '\0' && p[0] != '*' && (i >= end || c->lc[i] != p[0]))
        return 0;
    size_t n = strlen(p);
    int star = n > 0 && p[n - 1] == '*';
    return match_n(c, i, end, p, star ? n - 1 : n, star, left);
}

static size_t match_at(const struct ctx *c, size_t i, size_t end, const char *p)
{
    return match_raw(c, i, end, p, 1);
}

/* What find_first needs to know of a table: the length of each phrase (without a trailing '*':
 * star) and the phrases grouped by first byte: the phrases that start with byte b are
 * order[gstart[g] .. gstart[g + 1]) with g = group[b] (NO_GROUP: none), in table order. `all`: a
 * phrase starts with '*', a non-ASCII byte or is empty, or is too long, or the table is too big
 * for the arrays, so every phrase is tried the slow way. */
#define NO_GROUP 0xFF
struct table_index {
    size_t n;
    int all;
    uint64_t star;
    unsigned char len[64], order[64], gstart[65], group[128];
};

static void index_table(const struct phrase *t, struct table_index *x)
{
    unsigned char fb[64], count[128] = {0}, next[128];
    x->n = 0;
    x->all = 0;
    x->star = 0;
    for (; t[x->n].s != NULL; x->n++) {
        unsigned char b = (unsigned char)t[x->n].s[0];
        size_t len = strlen(t[x->n].s);
        if (b == '\0' || b == '*' || b >= 128 || x->n >= sizeof fb || len > 255) {
            x->all = 1;
        } else {
            int star = t[x->n].s[len - 1] == '*';
            fb[x->n] = b;
            count[b]++;
            x->len[x->n] = (unsigned char)(star ? len - 1 : len);
            x->star |= (uint64_t)star << x->n;
        }
    }
    if (!x->all) { /* a counting sort by first byte, stable */
        size_t g = 0, pos = 0;
        for (size_t b = 0; b < 128; b++) {
            x->group[b] = NO_GROUP;
            if (count[b] == 0)
                continue;
            x->group[b] = (unsigned char)g;
            x->gstart[g++] = (unsigned char)pos;
            next[b] = (unsigned char)pos;
            pos += count[b];
        }
        x->gstart[g] = (unsigned char)pos;
        for (size_t k = 0; k < x->n; k++)
            x->order[next[fb[k]]++] = (unsigned char)k;
    }
}

/* The indexes of the tables, shared by all threads and built once each: a slot's key is NULL
 * (free), &busy (being built) or the table, published with release after its index is written.
 * A lookup that meets a slot being built, or a full cache, indexes into `spare` instead. */
static const struct phrase busy[1] = {{NULL, 0}};
static struct {
    _Atomic(const struct phrase *) key;
    struct table_index x;
} tables[32];

static const struct table_index *table_index(const struct phrase *t, struct table_index *spare)
{
    enum { SLOTS = sizeof tables / sizeof tables[0] };
    size_t h = (size_t)((uintptr_t)t >> 4);
    for (size_t k = 0; k < SLOTS; k++) {
        size_t i = (h + k) % SLOTS;
        const struct phrase *key = atomic_load_explicit(&tables[i].key, memory_order_acquire);
        if (key == NULL &&
            atomic_compare_exchange_strong_explicit(&tables[i].key, &key, busy,
                                                    memory_order_acquire, memory_order_acquire)) {
            index_table(t, &tables[i].x);
            atomic_store_explicit(&tables[i].key, t, memory_order_release);
            return &tables[i].x;
        }
        if (key == t)
            return &tables[i].x;
        if (key == busy)
            break;
    }
    index_table(t, spare);
    return spare;
}

/* The longest phrase of the table at word start i (find_first). OUT as find_first. */
static int try_at(const struct ctx *c, size_t i, size_t to, const struct phrase *t,
                  const struct table_index *x, size_t *at, size_t *mend, int *value)
{
    unsigned char b = (unsigned char)c->lc[i];
    if (!x->all && (b >= 128 || x->group[b] == NO_GROUP))
        return 0;
    size_t best = 0;
    int bv = 0;
    if (x->all) {
        for (size_t k = 0; k < x->n; k++) {
            size_t e = match_at(c, i, to, t[k].s);
            if (e > best) {
                best = e;
                bv = t[k].v;
            }
        }
    } else {
        size_t g = x->group[b];
        for (size_t q = x->gstart[g]; q < x->gstart[g + 1]; q++) {
            size_t k = x->order[q];
            size_t e = match_n(c, i, to, t[k].s, x->len[k], (int)((x->star >> k) & 1), 1);
            if (e > best) {
                best = e;
                bv = t[k].v;
            }
        }
    }
    if (best == 0)
        return 0;
    *at = i;
    *mend = best;
    *value = bv;
    return 1;
}

/* First match in [from, to) of any phrase in the table (the longest at the earliest position).
 * OUT: *at, *mend, *value. Returns 1 if found. Only word starts are visited (the ws bitmap, 64
 * positions a word), and there only the phrases that start with the byte at that position:
 * trying every phrase at every byte was most of the extraction of a short note. */
static int find_first(const struct ctx *c, size_t from, size_t to, const struct phrase *t,
                      size_t *at, size_t *mend, int *value)
{
    struct table_index spare;
    const struct table_index *x = table_index(t, &spare);
    if (to > c->len)
        to = c->len; /* no phrase starts with the NUL after the text */
    for (size_t wi = from / 64; from < to && wi <= (to - 1) / 64; wi++) {
        uint64_t w = c->ws[wi];
        if (wi == from / 64)
            w &= ~(uint64_t)0 << (from % 64);
        for (; w != 0; w &= w - 1) {
            size_t i = wi * 64 + (size_t)__builtin_ctzll(w);
            if (i >= to)
                return 0;
            if (try_at(c, i, to, t, x, at, mend, value))
                return 1;
        }
    }
    return 0;
}

/* A phrase of the table starting exactly at i (the longest). Returns its end or 0. */
static size_t match_any_at(const struct ctx *c, size_t i, const struct phrase *t, int *value)
{
    size_t best = 0;
    for (const struct phrase *p = t; p->s != NULL; p++) {
        size_t e = match_at(c, i, c->len, p->s);
        if (e > best) {
            best = e;
            *value = p->v;
        }
    }
    return best;
}

/* ---- phrase tables ---- */

static const struct phrase nodule_words[] = {
    {"nodul*", 1}, {"micronodul*", 1}, {"opacit*", 1},    {"ggo", 1},    {"ggos", 1},
    {"ggn", 1},    {"ggns", 1},        {"mass", 1},       {"masses", 1}, {"lesion*", 1},
    {"cyst", 1},   {"cysts", 1},       {"granuloma*", 1}, {NULL, 0}};

/* organs other than the lung: a size next to them is not a pulmonary nodule */
static const struct phrase other_organs[] = {
    {"liver", 1},       {"hepatic", 1}, {"kidney*", 1},  {"renal", 1},   {"adrenal", 1},
    {"thyroid", 1},     {"breast*", 1}, {"spleen", 1},   {"splenic", 1}, {"pancrea*", 1},
    {"lymph node*", 1}, {"node", 1},    {"nodes", 1},    {"aorta", 1},   {"aortic", 1},
    {"ovar*", 1},       {"uter*", 1},   {"prostat*", 1}, {"bone", 1},    {"vertebra*", 1},
    {"mediastin*", 1},  {"pericardi*", 1}, {"subcutaneous", 1}, {"chest wall", 1},
    {"cutaneous", 1},   {"skin", 1},    {"esophag*", 1}, {"axilla*", 1}, {"rib", 1},
    {"ribs", 1},        {"stern*", 1},  {"spine", 1},    {"spinal", 1},  {"cardiac", 1},
    {"heart", 1},       {"paratracheal", 1}, {"subcarinal", 1}, {"hilar", 1}, {"hilum", 1},
    {"soft tissue*", 1}, {"muscle*", 1}, {"gallbladder", 1}, {"stomach", 1}, {"bowel", 1},
    {"colon*", 1},      {"gland*", 1},  {"thymus", 1},   {"thymic", 1},  {"nodal", 1},
    {"chest-wall", 1},  {"pectoral*", 1}, {"intramuscular", 1}, {"osseous", 1},
    {"sclerotic", 1},   {"lytic", 1},
    /* value 0: an attenuation, not an organ ("soft tissue attenuation nodule" is a solid one) */
    {"soft tissue attenuation", 0}, {"soft-tissue attenuation", 0}, {"soft tissue density", 0},
    {"soft-tissue density", 0}, {"soft tissue nodul*", 0}, {"soft-tissue nodul*", 0},
    {NULL, 0}};

/* The first organ word of other_organs in [from, to), skipping the attenuation phrases (value 0). */
static int find_organ(const struct ctx *c, size_t from, size_t to, size_t *at, size_t *e);

static const struct phrase comp_words[] = {{"part-solid", AN_COMP_PART_SOLID},
                                           {"part solid", AN_COMP_PART_SOLID},
                                           {"partly solid", AN_COMP_PART_SOLID},
                                           {"partially solid", AN_COMP_PART_SOLID},
                                           {"semi-solid", AN_COMP_PART_SOLID},
                                           {"semisolid", AN_COMP_PART_SOLID},
                                           {"mixed attenuation", AN_COMP_PART_SOLID},
                                           {"mixed density", AN_COMP_PART_SOLID},
                                           {"solid component", AN_COMP_PART_SOLID},
                                           {"solid portion", AN_COMP_PART_SOLID},
                                           {"soft tissue attenuation", AN_COMP_SOLID},
                                           {"soft-tissue attenuation", AN_COMP_SOLID},
                                           {"soft tissue density", AN_COMP_SOLID},
                                           {"soft-tissue density", AN_COMP_SOLID},
                                           {"soft tissue nodul*", AN_COMP_SOLID},
                                           {"soft-tissue nodul*", AN_COMP_SOLID},
                                           {"subsolid", AN_COMP_GGN},
                                           {"sub-solid", AN_COMP_GGN},
                                           {"non-solid", AN_COMP_GGN},
                                           {"nonsolid", AN_COMP_GGN},
                                           {"ground-glass", AN_COMP_GGN},
                                           {"ground glass", AN_COMP_GGN},
                                           {"groundglass", AN_COMP_GGN},
                                           {"ggo", AN_COMP_GGN},
                                           {"ggos", AN_COMP_GGN},
                                           {"ggn", AN_COMP_GGN},
                                           {"ggns", AN_COMP_GGN},
                                           {"solid", AN_COMP_SOLID},
                                           {NULL, 0}};

static const struct phrase lobe_words[] = {{"rul", AN_RUL},
                                           {"right upper lobe", AN_RUL},
                                           {"right upper-lobe", AN_RUL},
                                           {"rml", AN_RML},
                                           {"right middle lobe", AN_RML},
                                           {"middle lobe", AN_RML},
                                           {"rll", AN_RLL},
                                           {"right lower lobe", AN_RLL},
                                           {"right lower-lobe", AN_RLL},
                                           {"lul", AN_LUL},
                                           {"left upper lobe", AN_LUL},
                                           {"left upper-lobe", AN_LUL},
                                           {"lingula", AN_LINGULA},
                                           {"lingular", AN_LINGULA},
                                           {"lll", AN_LLL},
                                           {"left lower lobe", AN_LLL},
                                           {"left lower-lobe", AN_LLL},
                                           {"right lower and", AN_RLL},
                                           {"right upper and", AN_RUL},
                                           {"right middle and", AN_RML},
                                           {"left upper and", AN_LUL},
                                           {"left lower and", AN_LLL},
                                           {"right lower lobes", AN_RLL},
                                           {"right middle lobes", AN_RML},
                                           {"right upper lobes", AN_RUL},
                                           {"left upper lobes", AN_LUL},
                                           {"left lower lobes", AN_LLL},
                                           {"right upper nodul*", AN_RUL},
                                           {"right middle nodul*", AN_RML},
                                           {"right lower nodul*", AN_RLL},
                                           {"left upper nodul*", AN_LUL},
                                           {"left lower nodul*", AN_LLL},
                                           {"left base", AN_LLL},
                                           {"left lung base", AN_LLL},
                                           {"right base", AN_RLL},
                                           {"right lung base", AN_RLL},
                                           {"left apex", AN_LUL},
                                           {"right apex", AN_RUL},
                                           {"left lung apex", AN_LUL},
                                           {"right lung apex", AN_RUL},
                                           {NULL, 0}};

static const char *const segments[] = {"anteromedial basal",
                                       "anterior basal",
                                       "lateral basal",
                                       "posterior basal",
                                       "medial basal",
                                       "superior lingular",
                                       "inferior lingular",
                                       "apicoposterior",
                                       "apical",
                                       "posterior",
                                       "anterior",
                                       "lateral",
                                       "medial",
                                       "superior",
                                       "inferior",
                                       NULL};

#define CH_NO_GROWTH 100
static const struct phrase change_words[] = {{"no longer seen", AN_CH_RESOLVED},
                                             {"no longer visible", AN_CH_RESOLVED},
                                             {"no longer identified", AN_CH_RESOLVED},
                                             {"resolved", AN_CH_RESOLVED},
                                             {"resolution", AN_CH_RESOLVED},
                                             {"new", AN_CH_NEW},
                                             {"newly", AN_CH_NEW},
                                             {"unchanged", AN_CH_STABLE},
                                             {"stable", AN_CH_STABLE},
                                             {"no change", AN_CH_STABLE},
                                             {"no significant change", AN_CH_STABLE},
                                             {"no interval change", AN_CH_STABLE},
                                             {"not changed", AN_CH_STABLE},
                                             {"no growth", AN_CH_STABLE},
                                             {"no interval growth", AN_CH_STABLE},
                                             {"without growth", AN_CH_STABLE},
                                             {"without interval growth", AN_CH_STABLE},
                                             {"persistent", AN_CH_PERSISTENT},
                                             {"persists", AN_CH_PERSISTENT},
                                             {"persisting", AN_CH_PERSISTENT},
                                             {"again seen", AN_CH_PERSISTENT},
                                             {"again noted", AN_CH_PERSISTENT},
                                             {"again demonstrated", AN_CH_PERSISTENT},
                                             {"slowly growing", AN_CH_SLOW},
                                             {"slow growth", AN_CH_SLOW},
                                             {"slowly enlarging", AN_CH_SLOW},
                                             {"previously smaller", AN_CH_GROWING},
                                             {"previously larger", AN_CH_DECREASED},
                                             {"increased", AN_CH_GROWING},
                                             {"increasing", AN_CH_GROWING},
                                             {"enlarging", AN_CH_GROWING},
                                             {"enlarged", AN_CH_GROWING},
                                             {"larger", AN_CH_GROWING},
                                             {"grown", AN_CH_GROWING},
                                             {"growing", AN_CH_GROWING},
                                             {"interval growth", AN_CH_GROWING},
                                             {"interval increase", AN_CH_GROWING},
                                             {"decreased", AN_CH_DECREASED},
                                             {"decreasing", AN_CH_DECREASED},
                                             {"smaller", AN_CH_DECREASED},
                                             {"shrinking", AN_CH_DECREASED},
                                             {"shrunk", AN_CH_DECREASED},
                                             {"regressed", AN_CH_DECREASED},
                                             {"regressing", AN_CH_DECREASED},
                                             {"reduced", AN_CH_DECREASED},
                                             {NULL, 0}};

static const struct phrase feature_words[] = {{"calcified", (int)AN_FEAT_CALC},
                                              {"calcification", (int)AN_FEAT_CALC},
                                              {"popcorn", (int)AN_FEAT_CALC},
                                              {"fat-containing", (int)AN_FEAT_FAT},
                                              {"contains fat", (int)AN_FEAT_FAT},
                                              {"containing fat", (int)AN_FEAT_FAT},
                                              {"macroscopic fat", (int)AN_FEAT_FAT},
                                              {"hamartoma", (int)AN_FEAT_FAT},
                                              {"spiculated", (int)AN_FEAT_SPICULATION},
                                              {"spiculation", (int)AN_FEAT_SPICULATION},
                                              {"juxtapleural", (int)AN_FEAT_JUXTAPLEURAL},
                                              {"pleural-based", (int)AN_FEAT_JUXTAPLEURAL},
                                              {"pleural based", (int)AN_FEAT_JUXTAPLEURAL},
                                              {"subpleural", (int)AN_FEAT_JUXTAPLEURAL},
                                              {"perifissural", (int)AN_FEAT_PERIFISSURAL},
                                              {"fissural", (int)AN_FEAT_PERIFISSURAL},
                                              {"endobronchial", (int)AN_FEAT_AIRWAY},
                                              {"endotracheal", (int)AN_FEAT_AIRWAY},
                                              {"intrabronchial", (int)AN_FEAT_AIRWAY},
                                              {"airway", (int)AN_FEAT_AIRWAY},
                                              {"cyst", (int)AN_FEAT_CYST},
                                              {"cystic", (int)AN_FEAT_CYST},
                                              {"lymphadenopathy", (int)AN_FEAT_LYMPH},
                                              {"smooth", (int)AN_FEAT_SMOOTH},
                                              {NULL, 0}};

/* words that cancel a following benign feature: "non-calcified", "without calcification" */
static const struct phrase feature_negators[] = {
    {"non", 1}, {"no", 1}, {"without", 1}, {"not", 1}, {NULL, 0}};

static const struct phrase count_words[] = {
    {"single", 1},       {"solitary", 1},   {"one", 1},       {"two", 2},        {"three", 3},
    {"four", 4},         {"five", 5},       {"six", 6},       {"seven", 7},      {"eight", 8},
    {"nine", 9},         {"ten", 10},       {"multiple", -1}, {"several", -1},   {"numerous", -1},
    {"innumerable", -1}, {"scattered", -1}, {"few", -1},      {"bilateral", -1}, {NULL, 0}};

static const struct phrase negators[] = {{"no", 1},         {"without", 1}, {"negative for", 1},
                                         {"absence of", 1}, {"free of", 1}, {"no evidence of", 1},
                                         {"not", 1},        {NULL, 0}};

static const struct phrase not_a_nodule_size[] = {
    {"slice*", 1},   {"section*", 1},     {"thickness", 1}, {"collimation", 1}, {"increment", 1},
    {"interval", 1}, {"reconstruct*", 1}, {"kernel", 1},    {"pitch", 1},       {NULL, 0}};

/* before a size, "interval" is usually "interval growth": only acquisition words count */
static const struct phrase not_a_nodule_size_before[] = {
    {"slice*", 1},    {"section*", 1},     {"thickness", 1}, {"collimation", 1},
    {"increment", 1}, {"reconstruct*", 1}, {NULL, 0}};

static const struct phrase study_words[] = {
    {"studies", 1},    {"study", 1},      {"exams", 1},    {"examinations", 1},
    {"scans", 1},      {"cts", 1},        {"ct scans", 1}, {"ct examinations", 1},
    {"ct studies", 1}, {"timepoints", 1}, {NULL, 0}};

/* ---- numbers and sizes ---- */

/* Parses a decimal number at i into hundredths (half-up beyond 2 decimals). Returns the end or
 * 0. The number must not continue a word, an id or a date. */
static size_t parse_number_at(const struct ctx *c, size_t i, size_t end, long *h, int left)
{
    if (i >= end || !is_digit(c->lc[i]))
        return 0;
    if (left && i > 0 &&
        (is_alnum(c->lc[i - 1]) || c->lc[i - 1] == '/' || c->lc[i - 1] == '.' ||
         c->lc[i - 1] == '-' || c->lc[i - 1] == ':'))
        return 0;
    long v = 0;
    size_t j = i;
    while (j < end && is_digit(c->lc[j])) {
        if (j - i >= 4)
            return 0; /* >= 10 m: not a size */
        v = v * 10 + (c->lc[j++] - '0');
    }
    v *= 100;
    if (j + 1 < end && c->lc[j] == '.' && is_digit(c->lc[j + 1])) {
        j++;
        long frac = 0, scale = 100;
        int digits = 0;
        while (j < end && is_digit(c->lc[j])) {
            int d = c->lc[j++] - '0';
            if (digits < 2)
                frac += d * (scale /= 10);
            else if (digits == 2 && d >= 5)
                frac += 1;
            digits++;
        }
        v += frac;
    }
    if (j < end && (c->lc[j] == '/' || (c->lc[j] == '.' && j + 1 < end && is_digit(c->lc[j + 1]))))
        return 0; /* a date or a version */
    *h = v;
    return j;
}

static size_t parse_number(const struct ctx *c, size_t i, size_t end, long *h)
{
    return parse_number_at(c, i, end, h, 1);
}

static size_t skip_spaces(const struct ctx *c, size_t i, size_t end)
{
    while (i < end && (c->lc[i] == ' ' || c->lc[i] == '\t'))
        i++;
    return i;
}

/* A unit at i (after optional spaces and one '-'): 1 mm, 10 cm. Returns the end or 0. */
static size_t parse_unit(const struct ctx *c, size_t i, size_t end, int *mult)
{
    static const struct phrase units[] = {
        {"mm", 1},          {"millimeter", 1},   {"millimeters", 1}, {"millimetre", 1},
        {"millimetres", 1}, {"cm", 10},          {"centimeter", 10}, {"centimeters", 10},
        {"centimetre", 10}, {"centimetres", 10}, {NULL, 0}};
    i = skip_spaces(c, i, end);
    if (i < end && c->lc[i] == '-')
        i++;
    for (const struct phrase *u = units; u->s != NULL; u++) {
        size_t e = match_raw(c, i, end, u->s, 0); /* "8mm": no boundary before the unit */
        if (e > 0) {
            *mult = u->v;
            return e;
        }
    }
    return 0;
}

/* An axis separator: "x", "×" (UTF-8), "by". Returns the end or 0. */
static size_t parse_times(const struct ctx *c, size_t i, size_t end)
{
    i = skip_spaces(c, i, end);
    if (i < end && c->lc[i] == 'x')
        return i + 1;
    if (i + 1 < end && (unsigned char)c->lc[i] == 0xc3 && (unsigned char)c->lc[i + 1] == 0x97)
        return i + 2;
    size_t e = match_at(c, i, end, "by");
    return e;
}

struct size_expr {
    size_t start, end;
    int naxes;
    long h[3];
    int other;         /* next to an organ word outside the lung */
    int range;         /* "3-6 mm": h[0] is the largest */
    size_t oat, oe;    /* that word */
};

/* "8 mm", "8mm", "8-mm", "0.8 cm", "8 x 6 mm", "8 mm x 6 mm", "8 x 6 x 5 mm", "8 by 6 mm". */
static size_t parse_size(const struct ctx *c, size_t i, size_t end, struct size_expr *s)
{
    size_t j = parse_number(c, i, end, &s->h[0]);
    if (j == 0)
        return 0;
    int mult[3] = {0, 0, 0}, n = 1;
    s->range = 0;
    s->other = 0;
    {
        /* "3-6 mm", "3 to 6 mm", "3–6 mm": a range, the largest kept (not "from 4 to 6 mm") */
        size_t r = j;
        if (r < end && c->lc[r] == '-')
            r++;
        else if (r + 2 < end && (unsigned char)c->lc[r] == 0xe2 && (unsigned char)c->lc[r + 1] == 0x80 &&
                 (unsigned char)c->lc[r + 2] == 0x93)
            r += 3;
        else if (match_at(c, skip_spaces(c, r, end), end, "to"))
            r = skip_spaces(c, skip_spaces(c, r, end) + 2, end);
        long hi;
        size_t re = r > j ? parse_number_at(c, r, end, &hi, 0) : 0;
        int um;
        size_t ue = re > 0 ? parse_unit(c, re, end, &um) : 0;
        int from_cue = i >= 5 && memcmp(c->lc + i - 5, "from ", 5) == 0;
        if (ue > 0 && !from_cue && hi > s->h[0]) {
            s->h[0] = hi * um;
            s->start = i;
            s->end = ue;
            s->naxes = 1;
            s->range = 1;
            return ue;
        }
    }
    size_t k = parse_unit(c, j, end, &mult[0]);
    if (k > 0)
        j = k;
    while (n < 3) {
        size_t t = parse_times(c, j, end);
        if (t == 0)
            break;
        size_t e = parse_number_at(c, skip_spaces(c, t, end), end, &s->h[n], 0);
        if (e == 0)
            break;
        j = e;
        k = parse_unit(c, j, end, &mult[n]);
        if (k > 0)
            j = k;
        n++;
    }
    int unit = mult[n - 1];
    if (unit == 0)
        return 0; /* a size needs its unit after the last number */
    for (int a = 0; a < n; a++)
        s->h[a] *= mult[a] != 0 ? mult[a] : unit;
    s->start = i;
    s->end = j;
    s->naxes = n;
    return j;
}

/* Words that make a size a slice thickness or a reconstruction parameter. */
static int is_technical_size(const struct ctx *c, const struct size_expr *s, size_t sent_start)
{
    size_t at, e;
    int v;
    size_t after = skip_spaces(c, s->end, c->len);
    if (match_any_at(c, after, not_a_nodule_size, &v))
        return 1;
    size_t from = s->start > sent_start + 24 ? s->start - 24 : sent_start;
    return find_first(c, from, s->start, not_a_nodule_size_before, &at, &e, &v);
}

/* ---- sentences ---- */

/* "- LUL: 4 mm solid (6:139); unchanged", "6 mm; previously 4 mm": a ';' followed by a clause
 * with no nodule or lobe word (up to the next '.', ';' or line break) continues the sentence,
 * so that clause's status or earlier size stays with its nodule. */
static int semicolon_tail(const struct ctx *c, size_t i)
{
    size_t e = i + 1, at, me;
    int v;
    while (e < c->len && c->lc[e] != ';' && c->lc[e] != '\n' &&
           !(c->lc[e] == '.' && !(e > 0 && e + 1 < c->len && is_digit(c->lc[e - 1]) && is_digit(c->lc[e + 1]))))
        e++;
    if (e - i > 60)
        return 0;
    return !find_first(c, i + 1, e, nodule_words, &at, &me, &v) &&
           !find_first(c, i + 1, e, lobe_words, &at, &me, &v);
}

static int sentence_end(const struct ctx *c, size_t i)
{
    char ch = c->lc[i];
    if (ch == ';')
        return !semicolon_tail(c, i);
    if (ch == '!' || ch == '?' || ch == '\n')
        return 1;
    if (ch != '.')
        return 0;
    if (i > 0 && i + 1 < c->len && is_digit(c->lc[i - 1]) && is_digit(c->lc[i + 1]))
        return 0;
    if (i + 1 < c->len && c->lc[i + 1] >= 'a' && c->lc[i + 1] <= 'z')
        return 0; /* "e.g.", "i.e.": no space after the period */
    static const char *const abbrev[] = {"dr",  "mr",  "mrs", "ms",   "approx",
                                         "e.g", "i.e", "vs",  "prof", NULL};
    for (size_t a = 0; abbrev[a] != NULL; a++) {
        size_t n = strlen(abbrev[a]);
        if (i >= n && memcmp(c->lc + i - n, abbrev[a], n) == 0 &&
            (i == n || !is_alnum(c->lc[i - n - 1])) && i + 1 < c->len &&
            (c->lc[i + 1] == ' ' || c->lc[i + 1] == ':' || c->lc[i + 1] == ','))
            return 0;
    }
    return 1;
}

/* ---- what is a nodule word, which section is pulmonary ---- */

/* "opacity" is a nodule only when it is qualified as one (ground-glass, nodular, rounded, solid)
 * or sized, never the opacity of atelectasis, scarring or interstitial disease. */
static int opacity_is_nodule(const struct ctx *c, size_t at, size_t e, size_t s0, size_t s1)
{
    static const struct phrase yes[] = {
        {"ground-glass", 1}, {"ground glass", 1}, {"groundglass", 1}, {"nodular", 1},
        {"rounded", 1},      {"round", 1},        {"solid", 1},       {"part-solid", 1},
        {"part solid", 1},   {"subsolid", 1},     {"non-solid", 1},   {"nonsolid", 1},
        {"semi-solid", 1},   {"mixed attenuation", 1}, {NULL, 0}};
    static const struct phrase no[] = {
        {"linear", 1},       {"reticular", 1},    {"reticulonodular", 1}, {"airspace", 1},
        {"air-space", 1},    {"consolidat*", 1},  {"atelecta*", 1},       {"bandlike", 1},
        {"band-like", 1},    {"streaky", 1},      {"interstitial", 1},    {"scar*", 1},
        {"fibrotic", 1},     {"fibrosis", 1},     {"tree-in-bud", 1},     {"dependent", 1},
        {"bibasilar", 1},    {"basilar", 1},      {"subsegmental", 1},    {"hazy", 1},
        {"patchy", 1},       {"plate-like", 1},   {"platelike", 1},       {"pneumon*", 1},
        {"infect*", 1},      {"inflammat*", 1},   {"honeycomb*", 1},      {"emphysem*", 1},
        {"septal", 1},       {"peribronchial", 1}, {"mucus", 1},          {"mucoid", 1},
        {"edema", 1},        {NULL, 0}};
    size_t from = at > s0 + 40 ? at - 40 : s0, a, ee;
    for (size_t i = at; i > from; i--) { /* the phrase before: back to a ',' ';' or "and" */
        if (c->lc[i - 1] == ',' || c->lc[i - 1] == ';' || c->lc[i - 1] == '\n') {
            from = i;
            break;
        }
    }
    int v;
    if (find_first(c, from, at, yes, &a, &ee, &v))
        return 1;
    size_t to = e + 40 < s1 ? e + 40 : s1;
    if (find_first(c, from, at, no, &a, &ee, &v) || find_first(c, e, to, no, &a, &ee, &v))
        return 0;
    /* sized: a number and unit just before ("6 mm opacity") or "measuring" after */
    for (size_t i = from; i < at; i++) {
        if (is_digit(c->lc[i]))
            return 1;
    }
    static const struct phrase meas[] = {{"measur*", 1}, {NULL, 0}};
    return find_first(c, e, e + 16 < s1 ? e + 16 : s1, meas, &a, &ee, &v);
}

/* The first nodule word in [from, to) (opacities that are not nodules skipped). */
static int find_nodule(const struct ctx *c, size_t from, size_t to, size_t s0, size_t s1,
                       size_t *at, size_t *end)
{
    size_t i = from;
    int v;
    while (i < to && find_first(c, i, to, nodule_words, at, end, &v)) {
        if (memcmp(c->lc + *at, "opacit", 6) != 0 || opacity_is_nodule(c, *at, *end, s0, s1))
            return 1;
        i = *end;
    }
    return 0;
}

/* nearest() for nodule words: the first after the anchor, else the last before it. */
static int nearest_nodule(const struct ctx *c, size_t from, size_t anchor, size_t to, size_t s0,
                          size_t s1, struct an_span *sp)
{
    size_t at, e;
    if (find_nodule(c, anchor, to, s0, s1, &at, &e)) {
        sp->start = at;
        sp->end = e;
        return 1;
    }
    int found = 0;
    size_t i = from;
    while (i < anchor && find_nodule(c, i, anchor, s0, s1, &at, &e)) {
        sp->start = at;
        sp->end = e;
        found = 1;
        i = e;
    }
    return found;
}

struct heading {
    const char *s;
    int sec;
    const char *organ;
};

static const struct heading headings[] = {
    {"lungs and pleura", SEC_LUNG, NULL}, {"lung parenchyma", SEC_LUNG, NULL},
    {"lung nodules", SEC_LUNG, NULL},     {"pulmonary nodules", SEC_LUNG, NULL},
    {"lungs", SEC_LUNG, NULL},            {"lung", SEC_LUNG, NULL},
    {"pulmonary", SEC_LUNG, NULL},        {"parenchyma", SEC_LUNG, NULL},
    {"airways", SEC_LUNG, NULL},          {"pleura", SEC_LUNG, NULL},
    {"nodules", SEC_LUNG, NULL},          {"nodule", SEC_LUNG, NULL},
    {"findings", SEC_GENERAL, NULL},      {"impression", SEC_GENERAL, NULL},
    {"conclusion", SEC_GENERAL, NULL},    {"conclusions", SEC_GENERAL, NULL},
    {"summary", SEC_GENERAL, NULL},       {"opinion", SEC_GENERAL, NULL},
    {"assessment", SEC_GENERAL, NULL},    {"chest", SEC_GENERAL, NULL},
    {"ct chest", SEC_GENERAL, NULL},      {"addendum", SEC_GENERAL, NULL},
    {"recommendation", SEC_GENERAL, NULL}, {"recommendations", SEC_GENERAL, NULL},
    {"diagnosis", SEC_GENERAL, NULL},     {"other", SEC_GENERAL, NULL},
    {"indication", SEC_SKIP, NULL},       {"indications", SEC_SKIP, NULL},
    {"history", SEC_SKIP, NULL},          {"clinical", SEC_SKIP, NULL},
    {"reason", SEC_SKIP, NULL},           {"technique", SEC_SKIP, NULL},
    {"comparison", SEC_SKIP, NULL},       {"comparisons", SEC_SKIP, NULL},
    {"procedure", SEC_SKIP, NULL},        {"protocol", SEC_SKIP, NULL},
    {"dose", SEC_SKIP, NULL},             {"radiation dose", SEC_SKIP, NULL},
    {"mediastinum", SEC_OTHER, "mediastinum"}, {"mediastinal", SEC_OTHER, "mediastinum"},
    {"hila", SEC_OTHER, "mediastinum"},   {"hilar", SEC_OTHER, "mediastinum"},
    {"lymph nodes", SEC_OTHER, "lymph nodes"}, {"nodes", SEC_OTHER, "lymph nodes"},
    {"heart", SEC_OTHER, "heart"},        {"cardiac", SEC_OTHER, "heart"},
    {"cardiovascular", SEC_OTHER, "heart"}, {"pericardium", SEC_OTHER, "heart"},
    {"vessels", SEC_OTHER, "vessels"},    {"vascular", SEC_OTHER, "vessels"},
    {"vasculature", SEC_OTHER, "vessels"}, {"aorta", SEC_OTHER, "vessels"},
    {"esophagus", SEC_OTHER, "mediastinum"}, {"chest wall", SEC_OTHER, "chest wall"},
    {"soft tissues", SEC_OTHER, "chest wall"}, {"soft tissue", SEC_OTHER, "chest wall"},
    {"breasts", SEC_OTHER, "chest wall"}, {"axillae", SEC_OTHER, "chest wall"},
    {"bones", SEC_OTHER, "bones"},        {"osseous", SEC_OTHER, "bones"},
    {"musculoskeletal", SEC_OTHER, "bones"}, {"skeleton", SEC_OTHER, "bones"},
    {"spine", SEC_OTHER, "bones"},        {"upper abdomen", SEC_OTHER, "upper abdomen"},
    {"abdomen", SEC_OTHER, "upper abdomen"}, {"liver", SEC_OTHER, "upper abdomen"},
    {"adrenals", SEC_OTHER, "upper abdomen"}, {"adrenal glands", SEC_OTHER, "upper abdomen"},
    {"kidneys", SEC_OTHER, "upper abdomen"}, {"thyroid", SEC_OTHER, "thyroid"},
    {"lower neck", SEC_OTHER, "thyroid"}, {"neck", SEC_OTHER, "thyroid"},
    {"base of neck", SEC_OTHER, "thyroid"}, {NULL, 0, NULL}};

/* A heading at the start of the sentence [*s0, s1): "LUNGS:", "Lungs and pleura:", "IMPRESSION"
 * alone. Sets the section and moves *s0 past the ':'. Unknown labels ("Right upper lobe:")
 * leave the section and the sentence as they are. */
static void heading(struct ctx *c, size_t *s0, size_t s1)
{
    size_t i = *s0;
    while (i < s1 && (c->lc[i] == ' ' || c->lc[i] == '\n' || c->lc[i] == '#'))
        i++;
    size_t j = i;
    while (j < s1 && j - i < 48 && c->lc[j] != ':' &&
           ((c->lc[j] >= 'a' && c->lc[j] <= 'z') || c->lc[j] == ' ' || c->lc[j] == '&' ||
            c->lc[j] == '/' || c->lc[j] == ',' || c->lc[j] == '-'))
        j++;
    size_t le = j;
    while (le > i && c->lc[le - 1] == ' ')
        le--;
    int colon = j < s1 && c->lc[j] == ':';
    if (le == i || (!colon && j != s1))
        return;
    for (const struct heading *h = headings; h->s != NULL; h++) {
        size_t n = strlen(h->s);
        if (le - i < n || memcmp(c->lc + i, h->s, n) != 0 || (le - i > n && is_alnum(c->lc[i + n])))
            continue;
        if (!colon && le - i != n)
            continue; /* without ':' only the whole sentence ("IMPRESSION") */
        if (le - i > n && !match_at(c, i + n + 1, le, "and") && c->lc[i + n] != '/' &&
            c->lc[i + n] != ',' && c->lc[i + n + 1] != '&')
            continue; /* "Mediastinum and hila:", not "Nodule in the right upper lobe:" */
        c->section = h->sec;
        c->organ = h->organ;
        c->list_heading = strstr(h->s, "nodule") != NULL;
        c->impression = strcmp(h->s, "impression") == 0 || strncmp(h->s, "conclusion", 10) == 0 ||
                        strcmp(h->s, "summary") == 0 || strcmp(h->s, "opinion") == 0;
        *s0 = colon ? j + 1 : s1;
        return;
    }
}

/* The organ of an organ word near a size, the phrase cut at ',' ';' "and" "while": NULL when
 * none or when a lobe is named there too (a lobe wins: "RUL nodule abutting the mediastinum"). */
static int organ_near(const struct ctx *c, const struct size_expr *s, size_t s0, size_t s1,
                      size_t *oat, size_t *oe)
{
    size_t wf = s->start > s0 + 40 ? s->start - 40 : s0;
    size_t wt = s->end + 40 < s1 ? s->end + 40 : s1;
    for (size_t i = s->start; i > wf; i--) {
        if (c->lc[i - 1] == ',' || c->lc[i - 1] == ';' || match_at(c, i - 1, s->start, "and") ||
            match_at(c, i - 1, s->start, "while")) {
            wf = i;
            break;
        }
    }
    for (size_t i = s->end; i < wt; i++) {
        if (c->lc[i] == ',' || c->lc[i] == ';' || c->lc[i] == '(' || match_at(c, i, wt, "and") ||
            match_at(c, i, wt, "while")) {
            wt = i;
            break;
        }
    }
    size_t at, e;
    int v;
    if (find_first(c, wf, wt, lobe_words, &at, &e, &v))
        return 0;
    if (!find_organ(c, wf, wt, &at, &e))
        return 0;
    *oat = at;
    *oe = e;
    return 1;
}

/* ---- one finding from a window ---- */

static int lookup_phrase_before(const struct ctx *c, size_t from, size_t to, const struct phrase *t,
                                size_t *at)
{
    size_t a, e;
    int v, found = 0;
    size_t i = from;
    while (i < to && find_first(c, i, to, t, &a, &e, &v)) {
        found = 1;
        *at = a;
        i = e;
    }
    return found;
}

static void find_segment(const struct ctx *c, size_t from, size_t to, struct an_found *f)
{
    size_t at, e;
    int v;
    static const struct phrase seg[] = {{"segment", 1}, {NULL, 0}};
    if (!find_first(c, from, to, seg, &at, &e, &v))
        return;
    for (size_t s = 0; segments[s] != NULL; s++) {
        size_t n = strlen(segments[s]);
        if (at >= n + 1 && memcmp(c->lc + at - n - 1, segments[s], n) == 0 &&
            c->lc[at - 1] == ' ') {
            snprintf(f->segment, sizeof f->segment, "%s", segments[s]);
            return;
        }
    }
}

/* The attribute nearest to the anchor: the first after it, else the last before it. */
static int nearest(const struct ctx *c, size_t from, size_t anchor, size_t to,
                   const struct phrase *t, struct an_span *sp, int *value)
{
    size_t at, e;
    int v;
    if (find_first(c, anchor, to, t, &at, &e, &v)) {
        sp->start = at;
        sp->end = e;
        *value = v;
        return 1;
    }
    int found = 0;
    size_t i = from;
    while (i < anchor && find_first(c, i, anchor, t, &at, &e, &v)) {
        sp->start = at;
        sp->end = e;
        *value = v;
        found = 1;
        i = e;
    }
    return found;
}

/* A negation cue ("no", "non-", "not", "without") shortly before a feature, with no ",", "but",
 * "with" or "and" between them: "no mediastinal lymphadenopathy", "non-calcified". */
static int negated_before(const struct ctx *c, size_t from, size_t at)
{
    static const struct phrase breaks[] = {{"but", 1}, {"with", 1}, {"and", 1}, {NULL, 0}};
    size_t start = at > from + 32 ? at - 32 : from, a, e, last_end = 0, b1, b2;
    int v, found = 0;
    size_t i = start;
    while (i < at && find_first(c, i, at, feature_negators, &a, &e, &v)) {
        found = 1;
        last_end = e;
        i = e;
    }
    if (!found)
        return 0;
    for (size_t k = last_end; k < at; k++) {
        if (c->lc[k] == ',' || c->lc[k] == ';')
            return 0;
    }
    return !find_first(c, last_end, at, breaks, &b1, &b2, &v);
}

static void find_features(const struct ctx *c, size_t from, size_t to, struct an_found *f)
{
    size_t i = from, at, e;
    int v;
    while (i < to && find_first(c, i, to, feature_words, &at, &e, &v)) {
        unsigned bit = (unsigned)v;
        if (!negated_before(c, from, at))
            f->features |= bit;
        i = e;
    }
    /* airway nodules: segmental or more proximal vs subsegmental */
    if (f->features & AN_FEAT_AIRWAY) {
        static const struct phrase sub[] = {{"subsegmental", 1}, {NULL, 0}};
        if (find_first(c, from, to, sub, &at, &e, &v))
            f->features |= AN_FEAT_SUBSEGMENTAL;
    }
}

/* "persistent across 3 studies", "stable on three exams" -> N */
static int persistent_count(const struct ctx *c, size_t from, size_t to)
{
    static const struct phrase preps[] = {{"across", 1},  {"on", 1},  {"over", 1}, {"in", 1},
                                          {"through", 1}, {"for", 1}, {NULL, 0}};
    size_t i = from, at, e;
    int v;
    while (i < to && find_first(c, i, to, preps, &at, &e, &v)) {
        size_t j = skip_spaces(c, e, to);
        long n = 0;
        size_t k = j;
        while (k < to && is_digit(c->lc[k]) && n < 1000)
            n = n * 10 + (c->lc[k++] - '0');
        int wn = 0;
        size_t we = 0;
        if (k == j) {
            we = match_any_at(c, j, count_words, &wn);
            if (we > 0 && wn > 1) {
                n = wn;
                k = we;
            }
        }
        if (n > 1 && n < 1000) {
            size_t s = skip_spaces(c, k, to);
            int v2;
            if (match_any_at(c, s, study_words, &v2))
                return (int)n;
            /* "across 3 consecutive studies" */
            size_t w = s;
            while (w < to && is_alnum(c->lc[w]))
                w++;
            w = skip_spaces(c, w, to);
            if (match_any_at(c, w, study_words, &v2))
                return (int)n;
        }
        i = e;
    }
    return 0;
}

static void find_change(const struct ctx *c, size_t from, size_t anchor, size_t to,
                        struct an_found *f)
{
    int v = 0;
    if (nearest(c, from, anchor, to, change_words, &f->change_span, &v))
        f->change = v;
    int n = persistent_count(c, from, to);
    if (n > 1) {
        f->persistent_n = n;
        if (f->change == AN_CH_NONE)
            f->change = AN_CH_PERSISTENT;
    }
}

static void find_count(const struct ctx *c, size_t from, size_t to, struct an_found *f)
{
    size_t at, e;
    int v;
    f->count = 0;
    if (find_first(c, from, to, count_words, &at, &e, &v)) {
        /* only when a nodule word follows closely ("three nodules", "multiple GGOs") */
        size_t a2, e2;
        int v2;
        if (find_first(c, e, e + 40 < to ? e + 40 : to, nodule_words, &a2, &e2, &v2))
            f->count = v;
    }
    if (f->count == 0) {
        /* "3 nodules" */
        for (size_t i = from; i < to; i++) {
            long h;
            size_t j = parse_number(c, i, to, &h);
            if (j == 0)
                continue;
            size_t k = skip_spaces(c, j, to);
            static const struct phrase pl[] = {
                {"nodules", 1}, {"opacities", 1}, {"ggos", 1}, {"ggns", 1}, {NULL, 0}};
            if (match_any_at(c, k, pl, &v)) {
                f->count = h % 100 == 0 && h / 100 < 1000 ? (int)(h / 100) : 0;
                break;
            }
            i = j;
        }
    }
}

static void widen(struct an_span *all, const struct an_span *s)
{
    if (s->end <= s->start)
        return;
    if (all->end <= all->start || s->start < all->start)
        all->start = s->start;
    if (s->end > all->end)
        all->end = s->end;
}

/* Fills f from the window [from, to) around the anchor position. */
static void fill_attributes(const struct ctx *c, size_t from, size_t anchor, size_t to,
                            struct an_found *f)
{
    int v = 0;
    if (nearest(c, from, anchor, to, comp_words, &f->comp_span, &v))
        f->comp = v;
    if (nearest(c, from, anchor, to, lobe_words, &f->loc_span, &v))
        f->lobe = v;
    find_segment(c, from, to, f);
    find_features(c, from, to, f);
    if (f->comp == AN_COMP_NONE && (f->features & AN_FEAT_CYST)) {
        size_t at;
        static const struct phrase cw[] = {{"cyst", 1}, {"cysts", 1}, {"cystic", 1}, {NULL, 0}};
        if (lookup_phrase_before(c, from, to, cw, &at))
            f->comp = AN_COMP_CYST;
    }
    find_change(c, from, anchor, to, f);
    find_count(c, from, to, f);
    struct an_span nw = {0, 0};
    nearest_nodule(c, from, anchor, to, from, to, &nw);
    f->span = f->size_span;
    widen(&f->span, &f->comp_span);
    widen(&f->span, &f->loc_span);
    widen(&f->span, &f->change_span);
    widen(&f->span, &nw);
}

/* A plural nodule word in [from, to): "nodules" */
static int plural_after(const struct ctx *c, size_t from, size_t to)
{
    static const struct phrase plural[] = {{"nodules", 1}, {"opacities", 1}, {"ggos", 1},
                                           {"ggns", 1}, {"lesions", 1}, {NULL, 0}};
    size_t at, e;
    int v;
    return find_first(c, from, to, plural, &at, &e, &v);
}

/* Every distinct lobe named in [from, to), in order (at most max). */
static size_t all_lobes(const struct ctx *c, size_t from, size_t to, int *lobes,
                        struct an_span *sp, size_t max)
{
    size_t n = 0, i = from, at, e;
    int v;
    while (i < to && n < max && find_first(c, i, to, lobe_words, &at, &e, &v)) {
        int dup = 0;
        for (size_t q = 0; q < n; q++)
            dup |= lobes[q] == v;
        if (!dup) {
            lobes[n] = v;
            sp[n].start = at;
            sp[n].end = e;
            n++;
        }
        i = e;
    }
    return n;
}

/* ---- image references, reference back ---- */

struct imgref {
    int series, image;
    size_t start, end;
};

static size_t digits_at(const struct ctx *c, size_t i, size_t to, int *v)
{
    size_t j = i;
    long n = 0;
    while (j < to && is_digit(c->lc[j]) && j - i < 5)
        n = n * 10 + (c->lc[j++] - '0');
    if (j == i || (j < to && is_digit(c->lc[j])))
        return 0;
    *v = (int)n;
    return j;
}

/* The image references in [from, to), in order (at most max): "(5:112)", "(4/36)", "series:image
 * 5:112 and 5:140", "(series 4, image 77)", "(se 6, im 15)", "(image 92)". */
static size_t image_refs(const struct ctx *c, size_t from, size_t to, struct imgref *out, size_t max)
{
    static const struct phrase ser[] = {{"series", 1}, {"se", 1}, {"ser", 1}, {NULL, 0}};
    static const struct phrase img[] = {{"image", 1}, {"im", 1}, {"img", 1}, {NULL, 0}};
    size_t n = 0;
    int series = -1;
    for (size_t i = from; i < to && n < max; i++) {
        int v;
        size_t e;
        if (i == from || !is_alnum(c->lc[i - 1])) {
            if ((e = match_any_at(c, i, ser, &v)) > 0 && e < to) {
                size_t j = e;
                while (j < to && (c->lc[j] == ' ' || c->lc[j] == '#' || c->lc[j] == '.'))
                    j++;
                int sv;
                size_t de = digits_at(c, j, to, &sv);
                if (de > 0 && !(de < to && (c->lc[de] == ':' || c->lc[de] == '/'))) {
                    series = sv;
                    i = de - 1;
                    continue;
                }
            }
            if ((e = match_any_at(c, i, img, &v)) > 0 && e < to) {
                size_t j = e;
                while (j < to && (c->lc[j] == ' ' || c->lc[j] == '#' || c->lc[j] == '.' || c->lc[j] == ':'))
                    j++;
                int iv;
                size_t de = digits_at(c, j, to, &iv);
                if (de > 0 && !(de < to && (c->lc[de] == ':' || c->lc[de] == '/'))) {
                    out[n].series = series;
                    out[n].image = iv;
                    out[n].start = i;
                    out[n].end = de;
                    n++;
                    series = -1;
                    i = de - 1;
                    continue;
                }
            }
        }
        /* N:M or N/M after '(' ' ' or ',' and before ')' ',' ' ' or ';' */
        if (is_digit(c->lc[i]) && i > 0 && (c->lc[i - 1] == '(' || c->lc[i - 1] == ' ' || c->lc[i - 1] == ',')) {
            int a, b;
            size_t e1 = digits_at(c, i, to, &a);
            if (e1 > 0 && e1 + 1 < to && (c->lc[e1] == ':' || c->lc[e1] == '/')) {
                size_t e2 = digits_at(c, e1 + 1, to, &b);
                if (e2 > 0 && (e2 == to || c->lc[e2] == ')' || c->lc[e2] == ',' || c->lc[e2] == ' ' ||
                               c->lc[e2] == ';')) {
                    /* in parentheses or after "series:image" only, not a time of day */
                    size_t k = i;
                    int paren = 0;
                    while (k > from && i - k < 24) {
                        k--;
                        if (c->lc[k] == '(') {
                            paren = 1;
                            break;
                        }
                        if (c->lc[k] == ')' || c->lc[k] == '.')
                            break;
                    }
                    static const struct phrase si[] = {{"image", 1}, {"images", 1}, {NULL, 0}};
                    size_t sa, se2;
                    int sv2;
                    size_t back = i > from + 16 ? i - 16 : from;
                    if (paren || find_first(c, back, i, si, &sa, &se2, &sv2)) {
                        out[n].series = a;
                        out[n].image = b;
                        out[n].start = i;
                        out[n].end = e2;
                        n++;
                    }
                    i = e2 - 1;
                }
            }
        }
    }
    return n;
}

/* "the 6 mm nodule", "this nodule", "the latter", "as above": the mention refers back. */
static int refers_back(const struct ctx *c, size_t from, size_t anchor, size_t to)
{
    static const struct phrase refs[] = {{"this", 1},          {"these", 1},
                                         {"the latter", 1},    {"the former", 1},
                                         {"said", 1},          {"aforementioned", 1},
                                         {"above-mentioned", 1}, {"as above", 1},
                                         {"described above", 1}, {"noted above", 1},
                                         {"previously described", 1}, {"previously noted", 1},
                                         {"known", 1},         {NULL, 0}};
    size_t at, e;
    int v;
    if (find_first(c, from, to, refs, &at, &e, &v))
        return 1;
    /* "the" right before the size: "the 6 mm lingular nodule" */
    size_t b = anchor;
    while (b > from && c->lc[b - 1] == ' ')
        b--;
    return b >= from + 3 && memcmp(c->lc + b - 3, "the", 3) == 0 &&
           (b == from + 3 || !is_alnum(c->lc[b - 4]));
}

/* "up to 5 mm", "less than 4 mm", "< 4 mm", "under 4 mm", "sub-4 mm" */
static int up_to(const struct ctx *c, size_t s0, size_t start)
{
    static const struct phrase w[] = {{"up to", 1}, {"less than", 1}, {"under", 1},
                                      {"smaller than", 1}, {"below", 1}, {"sub", 1},
                                      {NULL, 0}};
    size_t from = start > s0 + 14 ? start - 14 : s0, at, e;
    int v;
    size_t b = start;
    while (b > s0 && (c->lc[b - 1] == ' ' || c->lc[b - 1] == '-'))
        b--;
    if (b > s0 && c->lc[b - 1] == '<')
        return 1;
    return find_first(c, from, start, w, &at, &e, &v) && skip_spaces(c, e, start) >= b;
}

/* ---- the findings array ---- */

struct out {
    ms_alloc *alloc;
    struct an_found *v;
    size_t n, cap;
    int list;          /* under a lead ending in ':' with a nodule word ("Several new nodules:") */
    size_t lead;       /* index + 1 of the lead's own (size-less) finding, 0 none */
    size_t grp0;       /* first finding of the latest run of sentences with findings */
    int prev_had;      /* the previous sentence gave findings */
};

static ms_rc push(struct out *o, const struct an_found *f, ms_err *err)
{
    if (o->n >= AN_MAX_FINDINGS)
        return ms_fail(err, MS_E_LIMIT, "more than %d findings in one text", AN_MAX_FINDINGS);
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        struct an_found *nv = ms_realloc(o->alloc, o->v, cap * sizeof *nv);
        if (nv == NULL)
            return ms_fail(err, MS_E_NOMEM, "findings");
        o->v = nv;
        o->cap = cap;
    }
    o->v[o->n++] = *f;
    return MS_OK;
}

static void found_init(struct an_found *f);
static void found_init(struct an_found *f)
{
    memset(f, 0, sizeof *f);
    f->solid_h = AN_NONE;
    f->prior_h = AN_NONE;
    f->axes_h[0] = f->axes_h[1] = f->axes_h[2] = AN_NONE;
    f->img_series = f->img_image = -1;
}

/* "with a 5 mm solid component", "solid component measuring 5 mm" */
static int is_solid_component(const struct ctx *c, const struct size_expr *s, size_t sent_start)
{
    static const struct phrase sc[] = {{"solid component", 1},
                                       {"solid portion", 1},
                                       {"solid part", 1},
                                       {"solid core", 1},
                                       {NULL, 0}};
    size_t at, e;
    int v;
    size_t to = s->end + 20 < c->len ? s->end + 20 : c->len;
    if (find_first(c, s->end, to, sc, &at, &e, &v) && at <= skip_spaces(c, s->end, to) + 1)
        return 1;
    size_t from = s->start > sent_start + 32 ? s->start - 32 : sent_start;
    return find_first(c, from, s->start, sc, &at, &e, &v);
}

static int find_organ(const struct ctx *c, size_t from, size_t to, size_t *at, size_t *e)
{
    int v = 0;
    while (from < to && find_first(c, from, to, other_organs, at, e, &v)) {
        if (v != 0)
            return 1;
        from = *e;
    }
    return 0;
}

static int has_other_organ(const struct ctx *c, size_t from, size_t to)
{
    size_t at, e;
    return find_organ(c, from, to, &at, &e);
}

#define MAX_ANCHORS 32

/* Where the window between two anchors splits: the last "and", ",", ";" or "while" between the
 * end of the first and the start of the second; else the second's start. */
static size_t split_point(const struct ctx *c, size_t a_end, size_t b_start)
{
    size_t best = b_start;
    /* a second head noun between the two sizes ("5 mm nodules as well as patchy ground-glass
     * opacity in the RUL, the latter 16 mm"): the split is before that noun phrase */
    size_t h1, e1, h2, e2;
    if (find_nodule(c, a_end, b_start, a_end, b_start, &h1, &e1) &&
        find_nodule(c, e1, b_start, e1, b_start, &h2, &e2)) {
        size_t cut = 0;
        for (size_t i = e1; i < h2; i++) {
            if (c->lc[i] == ',' || c->lc[i] == ';' || match_at(c, i, h2, "and") ||
                match_at(c, i, h2, "as well as") || match_at(c, i, h2, "while") ||
                match_at(c, i, h2, "plus"))
                cut = i;
        }
        if (cut > 0)
            return cut;
    }
    for (size_t i = a_end; i < b_start; i++) {
        if (c->lc[i] == ',' || match_at(c, i, b_start, "and") || match_at(c, i, b_start, "while"))
            best = i;
    }
    return best;
}

static long size_mean_h(const struct size_expr *s)
{
    long l = s->h[0], sh = s->h[0];
    for (int a = 1; a < s->naxes; a++) {
        l = s->h[a] > l ? s->h[a] : l;
        sh = s->h[a] < sh ? s->h[a] : sh;
    }
    return (l + sh + 1) / 2;
}

/* "previously 4 mm", "was 4 mm", "from 4 mm", "prior 4 mm": an earlier size of a nodule, not a
 * nodule of its own (unless "now" or "currently" comes between). */
static int is_prior_size(const struct ctx *c, const struct size_expr *s, size_t sent_start)
{
    static const struct phrase cues[] = {
        {"previously", 1},  {"was", 1},      {"from", 1}, {"prior", 1},
        {"formerly", 1},    {"measured", 1}, {"then", 1}, {"compared with", 1},
        {"compared to", 1}, {"earlier", 1},  {"before", 1}, {"previous", 1},
        {"last", 1},        {NULL, 0}};
    static const struct phrase now[] = {{"now", 1}, {"currently", 1}, {"today", 1}, {NULL, 0}};
    size_t from = s->start > sent_start + 24 ? s->start - 24 : sent_start, at, e, a2, e2;
    int v;
    if (!find_first(c, from, s->start, cues, &at, &e, &v))
        return 0;
    for (size_t i = e; i < s->start; i++) { /* "from 4 mm to 6 mm": the cue belongs to 4 mm */
        if (is_digit(c->lc[i]))
            return 0;
        /* "unchanged since the last exam, including a 6 mm ...": a new clause, not the prior */
        if (c->lc[i] == ',' || c->lc[i] == ';')
            return 0;
    }
    /* "previously noted 10 mm nodule": the nodule described before, not an earlier size */
    {
        static const struct phrase seen[] = {
            {"noted", 1},      {"described", 1}, {"seen", 1},          {"identified", 1},
            {"reported", 1},   {"demonstrated", 1}, {"visualized", 1}, {"visualised", 1},
            {"mentioned", 1},  {"detected", 1},  {NULL, 0}};
        if (find_first(c, e, s->start, seen, &a2, &e2, &v))
            return 0;
    }
    /* "compared with the prior study a 5 mm nodule": an article opens a mention of its own */
    {
        size_t j = s->start;
        while (j > e && c->lc[j - 1] == ' ')
            j--;
        if ((j >= e + 2 && c->lc[j - 1] == 'a' && c->lc[j - 2] == ' ') ||
            (j >= e + 3 && c->lc[j - 1] == 'n' && c->lc[j - 2] == 'a' && c->lc[j - 3] == ' '))
            return 0;
    }
    return !find_first(c, e, s->start, now, &a2, &e2, &v);
}

static void apply_context(const struct ctx *c, size_t s0, size_t s1, size_t h0, size_t h1,
                          struct an_found *f);

static ms_rc sized_findings(const struct ctx *c, size_t s0, size_t s1, struct size_expr *sz,
                            size_t nsz, struct out *o, ms_err *err)
{
    size_t prev = s0;
    struct an_found *last = NULL;
    long pending_prior = AN_NONE;
    /* a lead before the first size with a plural nodule word: its change, composition and lobe
     * (said before that size) are shared by the sizes that follow */
    struct an_found lead;
    found_init(&lead);
    size_t first_k = nsz;
    {
        static const struct phrase plural[] = {{"nodules", 1}, {"opacities", 1}, {"ggos", 1},
                                               {"ggns", 1},    {"lesions", 1},   {"masses", 1},
                                               {"micronodules", 1}, {NULL, 0}};
        size_t pa, pe;
        int pv;
        if (nsz > 1 && find_first(c, s0, sz[0].start, plural, &pa, &pe, &pv)) {
            first_k = 0;
            fill_attributes(c, s0, sz[0].start, sz[0].start, &lead);
        }
    }
    for (size_t k = 0; k < nsz; k++) {
        if (is_solid_component(c, &sz[k], s0)) {
            if (last != NULL) {
                last->solid_h = size_mean_h(&sz[k]);
                /* a solid component makes a solid, ground-glass or subsolid nodule part-solid */
                if (last->comp != AN_COMP_CYST)
                    last->comp = AN_COMP_PART_SOLID;
            }
            continue;
        }
        if (is_prior_size(c, &sz[k], s0)) {
            if (last != NULL && last->prior_h == AN_NONE)
                last->prior_h = size_mean_h(&sz[k]);
            else
                pending_prior = size_mean_h(&sz[k]);
            continue;
        }
        size_t to = k + 1 < nsz ? split_point(c, sz[k].end, sz[k + 1].start) : s1;
        struct an_found f;
        found_init(&f);
        f.size_span.start = sz[k].start;
        f.size_span.end = sz[k].end;
        f.naxes = sz[k].naxes;
        for (int a = 0; a < sz[k].naxes; a++)
            f.axes_h[a] = sz[k].h[a];
        f.prior_h = pending_prior;
        pending_prior = AN_NONE;
        f.range = sz[k].range;
        f.upto = up_to(c, s0, sz[k].start);
        fill_attributes(c, prev, sz[k].start, to, &f);
        f.refback = refers_back(c, prev, sz[k].start, to);
        if (k > 0 && first_k < nsz) { /* attributes of a shared lead ("Stable scattered nodules,
                                       * among them a 6 mm, a 2 mm and a 7 mm") */
            if (f.change == AN_CH_NONE && lead.change != AN_CH_NONE) {
                f.change = lead.change;
                f.change_span = lead.change_span;
            }
            if (f.comp == AN_COMP_NONE && lead.comp != AN_COMP_NONE) {
                f.comp = lead.comp;
                f.comp_span = lead.comp_span;
            }
            if (f.lobe == AN_LOBE_NONE && lead.lobe != AN_LOBE_NONE) {
                f.lobe = lead.lobe;
                f.loc_span = lead.loc_span;
            }
        }
        {
            struct an_span head = {0, 0};
            int dummy;
            (void)dummy;
            if (!nearest_nodule(c, prev, sz[k].start, to, s0, s1, &head))
                head = f.size_span;
            apply_context(c, s0, s1, head.start, head.end, &f);
        }
        if (f.kind == 0 || f.kind == 7) {
            /* outside the lung: an organ word, or a non-pulmonary section without a lung word */
            static const struct phrase lungw[] = {{"lung*", 1}, {"pulmonary", 1}, {NULL, 0}};
            size_t la, le;
            int lv;
            const char *organ = NULL;
            size_t on = 0;
            if (sz[k].other) {
                organ = c->lc + sz[k].oat;
                on = sz[k].oe - sz[k].oat;
            } else if (c->section == SEC_OTHER && f.lobe == AN_LOBE_NONE &&
                       !find_first(c, prev, to, lungw, &la, &le, &lv)) {
                organ = c->organ;
                on = strlen(organ);
            }
            if (organ != NULL) {
                f.kind = 6;
                if (on >= sizeof f.organ)
                    on = sizeof f.organ - 1;
                memcpy(f.organ, organ, on);
                f.organ[on] = '\0';
            }
        }
        f.impression = c->impression;
        {
            struct imgref refs[8];
            size_t nr = image_refs(c, prev, to, refs, 8);
            if (nr > 0) {
                f.img_series = refs[0].series;
                f.img_image = refs[0].image;
                f.img_span.start = refs[0].start;
                f.img_span.end = refs[0].end;
            }
            /* "two 4 mm nodules in the LLL (5:112 and 5:140)": one nodule per reference */
            for (size_t q = 1; q < nr && f.kind == 0 && (f.count < 0 || f.count > 1); q++) {
                struct an_found g = f;
                g.img_series = refs[q].series;
                g.img_image = refs[q].image;
                g.img_span.start = refs[q].start;
                g.img_span.end = refs[q].end;
                ms_rc rc2 = push(o, &g, err);
                if (rc2 != MS_OK)
                    return rc2;
            }
            /* "4 mm right lower and right middle nodules": one per lobe */
            int lobes[6];
            struct an_span lsp[6];
            size_t nl = 0;
            if (nr < 2 && f.kind == 0 && f.count <= 0 && plural_after(c, sz[k].end, to))
                nl = all_lobes(c, prev, to, lobes, lsp, 6);
            for (size_t q = 1; q < nl; q++) {
                struct an_found g = f;
                g.lobe = lobes[q];
                g.loc_span = lsp[q];
                g.count = 1;
                ms_rc rc2 = push(o, &g, err);
                if (rc2 != MS_OK)
                    return rc2;
            }
            if (nl > 1) {
                f.lobe = lobes[0];
                f.loc_span = lsp[0];
                f.count = 1;
            }
        }
        prev = to;
        ms_rc rc = push(o, &f, err);
        if (rc != MS_OK)
            return rc;
        last = &o->v[o->n - 1];
    }
    return MS_OK;
}

/* A negation cue in [from, to) that is not the start of a change phrase ("no change", "no
 * interval growth" describe a nodule, they do not deny it). */
static int find_negation(const struct ctx *c, size_t from, size_t to, size_t *at, size_t *end)
{
    size_t i = from;
    int v;
    while (i < to && find_first(c, i, to, negators, at, end, &v)) {
        int cv;
        size_t ce = match_any_at(c, *at, change_words, &cv);
        if (ce == 0 || ce <= *end)
            return 1;
        i = *end;
    }
    return 0;
}

/* The ConText decision for a mention whose head is [h0, h1): a negated mention becomes a negative
 * statement (kind 2), an uncertain, resolved or historical one kind 7, 8 or 9; a "new" trigger
 * ("not present previously") sets the status. */
static void apply_context(const struct ctx *c, size_t s0, size_t s1, size_t h0, size_t h1,
                          struct an_found *f)
{
    struct an_ctx_hit hit;
    int cat = an_context(c->lc, s0, s1, h0, h1, &hit);
    if (cat == AN_CTX_NONE)
        return;
    f->ctx = cat;
    f->trig_span.start = hit.start;
    f->trig_span.end = hit.end;
    f->trigger = hit.trigger;
    switch (cat) {
    case AN_CTX_NEGATED:
    case AN_CTX_NEGATED_NEW: {
        size_t na, ne;
        int v;
        f->kind = 2;
        f->negated = 1;
        f->change = AN_CH_NONE;
        /* "no new nodules", "no new or enlarging nodules" negate only new ones */
        if (cat == AN_CTX_NEGATED_NEW ||
            (hit.end <= h0 && find_first(c, hit.end, h0, change_words, &na, &ne, &v) &&
             v == AN_CH_NEW))
            f->change = AN_CH_NEW;
        f->span.start = hit.start < h0 ? hit.start : h0;
        f->span.end = hit.end > h1 ? hit.end : h1;
        break;
    }
    case AN_CTX_UNCERTAIN:
        f->kind = 7;
        break;
    case AN_CTX_RESOLVED:
        f->kind = 8;
        f->change = AN_CH_RESOLVED;
        break;
    case AN_CTX_HISTORICAL:
        f->kind = 9;
        break;
    case AN_CTX_NEW:
        if (f->change == AN_CH_NONE || f->change == AN_CH_PERSISTENT) {
            f->change = AN_CH_NEW;
            f->change_span = f->trig_span;
        }
        break;
    default:
        break;
    }
    if (f->kind != 2)
        widen(&f->span, &f->trig_span);
}

/* A sentence without a usable size: a negative statement or a size-less nodule. */
static ms_rc sizeless_finding(const struct ctx *c, size_t s0, size_t s1, struct out *o, ms_err *err)
{
    size_t at, e;
    int v;
    (void)v;
    if (!find_nodule(c, s0, s1, s0, s1, &at, &e) || has_other_organ(c, s0, s1))
        return MS_OK;
    struct an_found f;
    found_init(&f);
    fill_attributes(c, s0, at, s1, &f);
    widen(&f.span, &(struct an_span){at, e});
    apply_context(c, s0, s1, at, e, &f);
    return push(o, &f, err);
}

static int bullet_at(const char *t, size_t i, size_t len);

/* The sentence starts with a list marker: "-", "*", "•", "1.", "a)". */
static int starts_bullet(const struct ctx *c, size_t s0, size_t s1)
{
    size_t i = skip_spaces(c, s0, s1);
    while (i < s1 && c->lc[i] == '\n')
        i = skip_spaces(c, i + 1, s1);
    return bullet_at(c->lc, i, s1);
}

/* The sentence starts with a reference back: "It measures 1.4 cm", "These are unchanged." */
static int starts_pronoun(const struct ctx *c, size_t s0, size_t s1)
{
    static const struct phrase pr[] = {{"it", 1},         {"this", 1},      {"these", 1},
                                       {"they", 1},       {"the latter", 1}, {"the nodule", 1},
                                       {"the lesion", 1}, {"which", 1},     {"all", 1},
                                       {"both", 1},       {"each", 1},      {NULL, 0}};
    size_t i = skip_spaces(c, s0, s1);
    while (i < s1 && (c->lc[i] == '\n' || c->lc[i] == ' '))
        i++;
    int v;
    return match_any_at(c, i, pr, &v) > 0;
}

static void remove_at(struct out *o, size_t i)
{
    memmove(&o->v[i], &o->v[i + 1], (o->n - i - 1) * sizeof o->v[0]);
    o->n--;
}

static ms_rc sentence_inner(const struct ctx *c, size_t s0, size_t s1, int extra, struct out *o,
                            ms_err *err)
{
    struct size_expr sz[MAX_ANCHORS];
    size_t nsz = 0;
    size_t at, e;
    int v;
    static const struct phrase nodes[] = {{"node", 1}, {"nodes", 1}, {"lymph node*", 1},
                                          {"adenopathy", 1}, {NULL, 0}};
    int nodular = find_nodule(c, s0, s1, s0, s1, &at, &e) ||
                  find_first(c, s0, s1, comp_words, &at, &e, &v);
    int named = nodular;
    nodular |= extra;
    if (!nodular && !find_first(c, s0, s1, nodes, &at, &e, &v))
        return MS_OK;
    for (size_t i = s0; i < s1 && nsz < MAX_ANCHORS; i++) {
        struct size_expr s;
        size_t end = parse_size(c, i, s1, &s);
        if (end == 0)
            continue;
        i = end - 1;
        if (is_technical_size(c, &s, s0) || s.h[0] == 0 || s.h[0] > 30000)
            continue;
        s.other = organ_near(c, &s, s0, s1, &s.oat, &s.oe);
        if (!s.other && !nodular)
            continue;
        sz[nsz++] = s;
    }
    if (nsz == 0)
        return named && c->section != SEC_OTHER ? sizeless_finding(c, s0, s1, o, err) : MS_OK;
    return sized_findings(c, s0, s1, sz, nsz, o, err);
}

static ms_rc sentence(const struct ctx *c, size_t s0, size_t s1, struct out *o, ms_err *err)
{
    if (c->section == SEC_SKIP)
        return MS_OK; /* indication, history, technique, comparison: not this study's findings */
    int bullet = starts_bullet(c, s0, s1), pron = starts_pronoun(c, s0, s1);
    size_t n0 = o->n, at, e;
    int v;
    int named = find_nodule(c, s0, s1, s0, s1, &at, &e);
    int prev_nod = n0 > 0 && o->prev_had &&
                   (o->v[n0 - 1].kind == 0 || o->v[n0 - 1].kind == 7 || o->v[n0 - 1].kind == 8);
    int item = o->list && !named; /* a list item: "- left upper lobe 6 mm", "Peribronchial: 5 mm" */
    ms_rc rc = sentence_inner(c, s0, s1, item || (pron && prev_nod), o, err);
    if (rc != MS_OK)
        return rc;
    if (item && o->n > n0) {
        const struct an_found *lead = o->lead > 0 ? &o->v[o->lead - 1] : NULL;
        for (size_t i = n0; lead != NULL && i < o->n; i++) {
            if (o->v[i].change == AN_CH_NONE)
                o->v[i].change = lead->change;
            if (o->v[i].comp == AN_COMP_NONE)
                o->v[i].comp = lead->comp;
        }
        if (lead != NULL && lead->naxes == 0 && lead->kind == 0)
            o->v[o->lead - 1].kind = 10; /* the lead is its items now */
    }
    /* "It measures 1.4 cm": the size of the nodule named in the sentence before */
    if (pron && prev_nod && o->n > n0 && !named && o->v[n0 - 1].naxes == 0 && o->v[n0].naxes > 0 &&
        o->v[n0].kind == 0) {
        struct an_found *d = &o->v[n0 - 1];
        const struct an_found *f = &o->v[n0];
        d->naxes = f->naxes;
        memcpy(d->axes_h, f->axes_h, sizeof d->axes_h);
        d->size_span = f->size_span;
        d->range = f->range;
        d->upto = f->upto;
        if (d->prior_h == AN_NONE)
            d->prior_h = f->prior_h;
        if (d->solid_h == AN_NONE)
            d->solid_h = f->solid_h;
        if (d->change == AN_CH_NONE) {
            d->change = f->change;
            d->change_span = f->change_span;
        }
        if (d->lobe == AN_LOBE_NONE) {
            d->lobe = f->lobe;
            d->loc_span = f->loc_span;
        }
        if (d->comp == AN_COMP_NONE) {
            d->comp = f->comp;
            d->comp_span = f->comp_span;
        }
        widen(&d->span, &f->span);
        remove_at(o, n0);
    } else if (pron && o->n == n0 && o->prev_had && !named) {
        /* "These are unchanged.": the status of the nodules just named */
        struct an_span sp;
        if (nearest(c, s0, s0, s1, change_words, &sp, &v)) {
            for (size_t i = o->grp0; i < o->n; i++) {
                if (o->v[i].kind == 0 && o->v[i].change == AN_CH_NONE) {
                    o->v[i].change = v;
                    o->v[i].change_span = sp;
                }
            }
        }
        return MS_OK; /* the run of findings goes on */
    }
    /* a lead ending in ':' starts a list; a line that is neither an item nor a bullet ends it */
    size_t last = s1;
    while (last > s0 && (c->lc[last - 1] == ' ' || c->lc[last - 1] == '\n'))
        last--;
    if (last > s0 && c->lc[last - 1] == ':' && named) {
        o->list = 1;
        o->lead = o->n > n0 && o->v[o->n - 1].naxes == 0 ? o->n : 0;
    } else if (!bullet && !(item && o->n > n0)) {
        o->list = 0;
        o->lead = 0;
    }
    if (o->n > n0 && !o->prev_had)
        o->grp0 = n0;
    o->prev_had = o->n > n0;
    return MS_OK;
}

/* Exam findings that raise the suspicion of lung cancer (Lung-RADS 4X) wherever they are said:
 * lymphadenopathy, metastatic disease; not when negated ("No lymphadenopathy."). */
static ms_rc exam_findings(const struct ctx *c, size_t s0, size_t s1, struct out *o, ms_err *err)
{
    static const struct phrase words[] = {{"lymphadenopathy", (int)AN_FEAT_LYMPH},
                                          {"enlarged lymph node*", (int)AN_FEAT_LYMPH},
                                          {"metastatic disease", (int)AN_FEAT_METASTASIS},
                                          {"metastases", (int)AN_FEAT_METASTASIS},
                                          {NULL, 0}};
    size_t i = s0, at, e;
    int v;
    while (i < s1 && find_first(c, i, s1, words, &at, &e, &v)) {
        i = e;
        size_t na, ne;
        if (negated_before(c, s0, at) || find_negation(c, s0, at, &na, &ne))
            continue;
        struct an_found f;
        found_init(&f);
        f.kind = 4;
        f.features = (unsigned)v;
        f.span.start = at;
        f.span.end = e;
        return push(o, &f, err); /* one per sentence is enough */
    }
    return MS_OK;
}

/* Fleischner patient risk stated in the text: smoking history, exposures, family history ->
 * high; never smoker / low risk -> low. A negated high-risk phrase ("no smoking history") is
 * low. One finding (kind 5, value in count: AN_RISK_LOW / AN_RISK_HIGH) per sentence. */
static ms_rc risk_statement(const struct ctx *c, size_t s0, size_t s1, struct out *o, ms_err *err)
{
    static const struct phrase words[] = {{"high risk", AN_RISK_HIGH},
                                          {"high-risk", AN_RISK_HIGH},
                                          {"heavy smoker", AN_RISK_HIGH},
                                          {"current smoker", AN_RISK_HIGH},
                                          {"former smoker", AN_RISK_HIGH},
                                          {"ex-smoker", AN_RISK_HIGH},
                                          {"smoking history", AN_RISK_HIGH},
                                          {"pack-year*", AN_RISK_HIGH},
                                          {"pack year*", AN_RISK_HIGH},
                                          {"asbestos", AN_RISK_HIGH},
                                          {"family history of lung cancer", AN_RISK_HIGH},
                                          {"low risk", AN_RISK_LOW},
                                          {"low-risk", AN_RISK_LOW},
                                          {"never smoker", AN_RISK_LOW},
                                          {"never-smoker", AN_RISK_LOW},
                                          {"non-smoker", AN_RISK_LOW},
                                          {"nonsmoker", AN_RISK_LOW},
                                          {"never smoked", AN_RISK_LOW},
                                          {NULL, 0}};
    size_t at, e, na, ne;
    int v;
    if (!find_first(c, s0, s1, words, &at, &e, &v))
        return MS_OK;
    if (v == AN_RISK_HIGH && (negated_before(c, s0, at) || find_negation(c, s0, at, &na, &ne)))
        v = AN_RISK_LOW;
    struct an_found f;
    found_init(&f);
    f.kind = 5;
    f.count = v;
    f.span.start = at;
    f.span.end = e;
    return push(o, &f, err);
}

/* BI-RADS and Lung-RADS categories stated in the text. */
static ms_rc stated_categories(const struct ctx *c, struct out *o, ms_err *err)
{
    static const struct phrase sys[] = {{"bi-rads", 1},   {"birads", 1},   {"bi rads", 1},
                                        {"lung-rads", 2}, {"lungrads", 2}, {"lung rads", 2},
                                        {NULL, 0}};
    static const struct phrase fill[] = {
        {"category", 1}, {"cat", 1}, {"assessment", 1}, {"score", 1}, {NULL, 0}};
    size_t i = 0, at, e;
    int v;
    while (i < c->len && find_first(c, i, c->len, sys, &at, &e, &v)) {
        size_t j = e, fe;
        int fv;
        for (int rep = 0; rep < 4; rep++) {
            while (j < c->len && (c->lc[j] == ' ' || c->lc[j] == ':' || c->lc[j] == '-' ||
                                  c->lc[j] == '(' || c->lc[j] == '\t'))
                j++;
            fe = match_any_at(c, j, fill, &fv);
            if (fe > 0)
                j = fe;
        }
        i = e;
        int max = v == 1 ? '6' : '4';
        if (j >= c->len || c->lc[j] < '0' || c->lc[j] > max)
            continue;
        struct an_found f;
        found_init(&f);
        f.kind = v == 1 ? 1 : 3;
        f.birads[0] = c->lc[j];
        size_t k = j + 1;
        char sub = k < c->len ? c->lc[k] : '\0';
        if (c->lc[j] == '4' &&
            (v == 1 ? (sub >= 'a' && sub <= 'c') : (sub == 'a' || sub == 'b' || sub == 'x'))) {
            f.birads[1] = (char)(sub - 'a' + 'A');
            k++;
        }
        if (k < c->len && is_alnum(c->lc[k]))
            continue;
        f.span.start = at;
        f.span.end = k;
        ms_rc rc = push(o, &f, err);
        if (rc != MS_OK)
            return rc;
        i = k;
    }
    return MS_OK;
}

/* ---- the normalised copy: wrapped lines joined ---- */

static int is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

/* A list item at t[i..): "-", "*", "+", "•" (UTF-8), "1." / "1)" / "a)" and a space. */
static int bullet_at(const char *t, size_t i, size_t len)
{
    if (i >= len)
        return 0;
    if ((t[i] == '-' || t[i] == '*' || t[i] == '+') && i + 1 < len && (t[i + 1] == ' ' || t[i + 1] == '\t'))
        return 1;
    if (i + 2 < len && (unsigned char)t[i] == 0xe2 && (unsigned char)t[i + 1] == 0x80 &&
        ((unsigned char)t[i + 2] == 0xa2 || (unsigned char)t[i + 2] == 0x93))
        return 1; /* bullet, en dash */
    size_t j = i;
    while (j < len && j - i < 3 && is_digit(t[j]))
        j++;
    if (j == i && j < len && t[j] >= 'a' && t[j] <= 'z' && j + 1 < len && t[j + 1] == ')')
        j++;
    return j > i && j + 1 < len && (t[j] == '.' || t[j] == ')') && t[j + 1] == ' ';
}

/* A heading or label at the start of a line: up to 48 bytes of letters, spaces and & / , - '
 * before a ':' (and at least one capital letter first). */
static int label_at(const char *t, size_t i, size_t len)
{
    if (i >= len || !is_upper(t[i]))
        return 0;
    for (size_t j = i; j < len && j - i < 48; j++) {
        char ch = t[j];
        if (ch == ':')
            return j > i;
        if (!(is_alnum(ch) || ch == ' ' || ch == '&' || ch == '/' || ch == ',' || ch == '-' ||
              ch == '\'') ||
            is_digit(ch))
            return 0;
    }
    return 0;
}

/* Does the line break at t[nl] end a sentence? Reports are wrapped at ~80 columns, so a break
 * inside a sentence does not: a break ends one after a blank line, before a list item or a
 * heading, after a heading or a short line (a list without punctuation), or after ':' '.' ... */
static int line_break_ends(const char *t, size_t len, size_t nl)
{
    size_t ls = nl; /* the line before */
    while (ls > 0 && t[ls - 1] != '\n')
        ls--;
    size_t le = nl;
    while (le > ls && (t[le - 1] == ' ' || t[le - 1] == '\t' || t[le - 1] == '\r'))
        le--;
    size_t n = nl + 1; /* the line after */
    while (n < len && (t[n] == ' ' || t[n] == '\t' || t[n] == '\r'))
        n++;
    if (le == ls || n >= len || t[n] == '\n')
        return 1;
    char last = t[le - 1];
    if (last == '.' || last == ':' || last == ';' || last == '!' || last == '?')
        return 1;
    if (bullet_at(t, n, len) || label_at(t, n, len))
        return 1;
    int caps = 1; /* "IMPRESSION" on its own line */
    for (size_t k = ls; k < le && caps; k++)
        caps = !(t[k] >= 'a' && t[k] <= 'z');
    if (caps && le - ls <= 48)
        return 1;
    if ((t[n] >= 'a' && t[n] <= 'z') || is_digit(t[n]) || t[n] == '(')
        return 0; /* "nodule 6\nmm", "No new\nlung nodules" */
    return le - ls < 50; /* a capital after a short line: a list of lines */
}

/* Builds the lower-cased, normalised copy: '\r' dropped, tabs and runs of spaces one space, a
 * line break inside a sentence one space; map[i] is the source offset of lc[i] (map[n] = len). */
static size_t normalise(const char *text, size_t len, char *lc, uint32_t *map)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (ch == '\r')
            continue;
        if (ch == '\n' && !line_break_ends(text, len, i))
            ch = ' ';
        if (ch == '\t')
            ch = ' ';
        if (ch == ' ' && n > 0 && (lc[n - 1] == ' ' || lc[n - 1] == '\n'))
            continue;
        if (ch == '\n' && n > 0 && lc[n - 1] == ' ')
            n--; /* "nodule \n" */
        lc[n] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
        map[n++] = (uint32_t)i;
    }
    map[n] = (uint32_t)len;
    return n;
}

static void remap_span(struct an_span *s, const uint32_t *map)
{
    if (s->end <= s->start) {
        s->start = s->end = map[s->start];
        return;
    }
    s->end = (size_t)map[s->end - 1] + 1;
    s->start = map[s->start];
}

static void remap(struct an_found *f, const uint32_t *map)
{
    remap_span(&f->span, map);
    remap_span(&f->size_span, map);
    remap_span(&f->comp_span, map);
    remap_span(&f->loc_span, map);
    remap_span(&f->change_span, map);
    remap_span(&f->trig_span, map);
    remap_span(&f->img_span, map);
}

ms_rc an_extract_text(const char *text, size_t len, ms_alloc *alloc, struct an_found **found,
                      size_t *n, ms_err *err)
{
    if (text == NULL && len > 0)
        return ms_fail(err, MS_E_INVAL, "an_extract_text: NULL text");
    if (len > AN_MAX_TEXT)
        return ms_fail(err, MS_E_LIMIT, "text of %zu bytes over the limit", len);
    /* the normalised copy, then (8-byte aligned) the word-start bitmap and the offset map */
    size_t lc_size = (len + 1 + 7) & ~(size_t)7, nws = len / 64 + 1;
    size_t map_size = ((len + 1) * sizeof(uint32_t) + 7) & ~(size_t)7;
    char *lc = ms_malloc(alloc, lc_size + nws * sizeof(uint64_t) + map_size); /* zeroed */
    if (lc == NULL)
        return ms_fail(err, MS_E_NOMEM, "text copy");
    uint64_t *ws = (uint64_t *)(void *)(lc + lc_size);
    uint32_t *map = (uint32_t *)(void *)(lc + lc_size + nws * sizeof(uint64_t));
    size_t nlen = len > 0 ? normalise(text, len, lc, map) : 0;
    if (len == 0)
        map[0] = 0;
    for (size_t i = 0; i < nlen; i++) {
        if (i == 0 || !is_alnum(lc[i - 1]))
            ws[i / 64] |= (uint64_t)1 << (i % 64);
    }
    struct ctx c = {lc, nlen, ws, SEC_GENERAL, NULL, 0, 0};
    struct out o = {alloc, NULL, 0, 0, 0, 0, 0, 0};
    ms_rc rc = MS_OK;
    size_t s0 = 0;
    for (size_t i = 0; i <= nlen && rc == MS_OK; i++) {
        if (i == nlen || sentence_end(&c, i)) {
            size_t before = s0;
            heading(&c, &s0, i);
            if (c.list_heading) {
                o.list = 1;
                o.lead = 0;
                c.list_heading = 0;
            } else if (s0 != before) {
                o.list = 0; /* another heading ("BONES:", "PLEURA:") ends a list of nodules */
                o.lead = 0;
            }
            if (i > s0)
                rc = sentence(&c, s0, i, &o, err);
            if (i > s0 && rc == MS_OK && c.section != SEC_SKIP)
                rc = exam_findings(&c, s0, i, &o, err);
            if (i > s0 && rc == MS_OK)
                rc = risk_statement(&c, s0, i, &o, err);
            s0 = i + 1;
        }
    }
    if (rc == MS_OK)
        rc = stated_categories(&c, &o, err);
    for (size_t i = 0; rc == MS_OK && i < o.n; i++)
        remap(&o.v[i], map);
    ms_free(alloc, lc);
    if (rc != MS_OK) {
        ms_free(alloc, o.v);
        return rc;
    }
    *found = o.v;
    *n = o.n;
    return MS_OK;
}

long an_found_mean_h(const struct an_found *f)
{
    if (f->naxes == 0)
        return AN_NONE;
    if (f->naxes == 1)
        return f->axes_h[0];
    long a = f->axes_h[0], b = f->axes_h[1];
    long l = a > b ? a : b, s = a > b ? b : a;
    if (f->naxes == 3) { /* Lung-RADS: the long and short axes of the three */
        long t = f->axes_h[2];
        l = l > t ? l : t;
        s = s < t ? s : t;
    }
    return (l + s + 1) / 2; /* hundredths, half-up; tenths rounding happens later */
}

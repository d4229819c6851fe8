/*
 * Number-shaped identifiers: phone and fax numbers, SSNs, labelled identifiers (MRN, account,
 * health plan, licence, vehicle, device/serial), unlabelled identifier-like codes, card numbers,
 * ZIP codes (after a state or a ZIP label), ages over 89 and street addresses.
 * Trusts: nothing; every token index is checked against the token count.
 * Owns: nothing (appends candidates to the scan).
 */
#include <string.h>

#include "internal.h"

static int tk_num(const struct scan *sc, size_t i, size_t lo, size_t hi)
{
    if (i >= sc->ntk || sc->tk[i].kind != TK_NUM)
        return 0;
    size_t n = phi__tok_len(sc, i);
    return n >= lo && n <= hi;
}

static char pch(const struct scan *sc, size_t i)
{
    return (i < sc->ntk && sc->tk[i].kind == TK_PUNCT) ? (char)sc->tk[i].ch : 0;
}

/* Looks back up to `win` word tokens on the same line for one of `words`. */
static int ctx_before(const struct scan *sc, size_t i, size_t win, unsigned list)
{
    size_t seen = 0;
    int crossed = 0;
    while (i > 0 && seen < win) {
        /* a value on the line after its label ("Phone:\n555 1234") still has the label */
        if ((sc->tk[i].fl & TF_NL) && (crossed++ || !phi__tok_eqc(sc, i - 1, ':')))
            return 0;
        i--;
        if (sc->tk[i].kind == TK_PUNCT)
            continue;
        seen++;
        if (phi__kw(sc, i, list))
            return 1;
    }
    return 0;
}

static int label_before(const struct scan *sc, size_t i);

/* ---- phones ---------------------------------------------------------------------------------- */

struct grp {
    size_t first, last; /* token range */
    size_t ng, nd;      /* groups and digits */
    size_t len[8];
    int plus, paren;
};

/* Collects digit groups joined by one separator (space, '-', '.', parentheses). */
static void groups(const struct scan *sc, size_t i, struct grp *g)
{
    memset(g, 0, sizeof *g);
    size_t j = i;
    if (pch(sc, j) == '+' && tk_num(sc, j + 1, 1, 4) && phi__tok_adjacent(sc, j + 1)) {
        g->plus = 1;
        j++;
    }
    g->first = (pch(sc, i) == '+' || pch(sc, i) == '(') ? i : j;
    if (pch(sc, j) == '(' && tk_num(sc, j + 1, 1, 4) && pch(sc, j + 2) == ')') {
        size_t pl = phi__tok_len(sc, j + 1);
        g->paren = 1;
        g->len[g->ng++] = pl;
        g->nd += pl;
        g->last = j + 2;
        j += 3;
    } else if (pch(sc, j) == '(' && tk_num(sc, j + 1, 3, 3) && phi__tok_adjacent(sc, j + 1)) {
        j++; /* "(978 555 01234)": the parenthesis holds the whole number */
    }
    while (g->ng < 8) {
        size_t k = j;
        if (g->ng > 0) {
            char c = pch(sc, k);
            if ((c == '-' || c == '.') && !(sc->tk[k].fl & TF_NL))
                k++;
            if (k >= sc->ntk || (sc->tk[k].fl & TF_NL))
                break;
            if (k == j && !(sc->tk[k].fl & TF_SP) && g->last + 1 == k &&
                sc->tk[g->last].kind == TK_NUM)
                break;
        }
        if (!tk_num(sc, k, 1, (g->ng == 1 && g->len[0] == 3) ? 7 : 5))
            break;
        g->len[g->ng++] = phi__tok_len(sc, k);
        g->nd += phi__tok_len(sc, k);
        g->last = k;
        j = k + 1;
    }
}

static int phone_shape(const struct scan *sc, const struct grp *g, size_t i)
{
    const size_t *l = g->len;
    /* after "Phone:", "call me on", "Fax": any grouping of 7..15 digits */
    if (g->nd >= 7 && g->nd <= 15 && ctx_before(sc, i, 3, KW_PHONE) && label_before(sc, i) < 0)
        return 1;
    if (g->plus && g->nd >= 8 && g->nd <= 15 && g->ng >= 2)
        return 1;
    if (g->ng == 3 && l[0] == 3 && l[1] == 3 && l[2] == 4)
        return 1;
    if (g->ng == 4 && l[0] == 1 && l[1] == 3 && l[2] == 3 && l[3] == 4)
        return 1;
    if (g->ng == 2 && l[0] == 3 && l[1] == 7) /* "781 5550172" */
        return 1;
    if (g->ng == 3 && l[0] == 3 && l[1] == 3 && l[2] == 5) /* "978 555 01234" */
        return 1;
    if (g->ng == 2 && l[0] == 3 && l[1] == 4)
        return ctx_before(sc, i, 3, KW_PHONE) ? 1 : 0;
    if (g->ng == 1 && (g->nd == 10 || g->nd == 9 || g->nd == 11))
        return ctx_before(sc, i, 3, KW_PHONE) ? 1 : 0;
    if (g->ng >= 3 && g->nd == 9 && l[0] == 3) /* Spanish 9-digit numbers: 912 345 678 */
        return ctx_before(sc, i, 4, KW_PHONE) ? 1 : 0;
    return 0;
}

/* "x1234", "ext. 12" after a phone number. */
static size_t extension(const struct scan *sc, size_t j)
{
    if (j < sc->ntk && sc->tk[j].kind == TK_ALNUM && (sc->t[sc->tk[j].s] | 0x20) == 'x' &&
        (size_t)sc->tk[j].nd + 1 == phi__tok_len(sc, j))
        return j;
    size_t k = j;
    if (phi__tok_eq(sc, k, "ext") || phi__tok_eq(sc, k, "x") || phi__tok_eq(sc, k, "extension")) {
        k++;
        if (pch(sc, k) == '.')
            k++;
        if (tk_num(sc, k, 1, 6))
            return k;
    }
    return 0;
}

static size_t phones(struct scan *sc, size_t i)
{
    if (!(tk_num(sc, i, 1, 11) || pch(sc, i) == '+' || pch(sc, i) == '('))
        return 0;
    if (i > 0 && phi__tok_adjacent(sc, i) &&
        (sc->tk[i - 1].kind != TK_PUNCT || phi__in(pch(sc, i - 1), "-./")))
        return 0;
    struct grp g;
    groups(sc, i, &g);
    if (g.ng == 0 || !phone_shape(sc, &g, g.first))
        return 0;
    size_t last = g.last, x = extension(sc, last + 1);
    if (x)
        last = x;
    if (pch(sc, g.first) == '(' && !g.paren && pch(sc, last + 1) == ')')
        last++;
    if (last + 1 < sc->ntk && phi__tok_adjacent(sc, last + 1) &&
        (sc->tk[last + 1].kind != TK_PUNCT || pch(sc, last + 1) == '/' ||
         (pch(sc, last + 1) == '-' && tk_num(sc, last + 2, 1, 9))))
        return 0;
    phi_class cls = ctx_before(sc, g.first, 4, KW_FAX) ? PHI_FAX : PHI_PHONE;
    /* a strict phone layout outranks a date reading; a cue-only grouping does not */
    int strict = g.plus || (g.ng >= 3 && g.len[g.ng - 1] == 4 && g.len[g.ng - 2] == 3);
    phi__add(sc, sc->tk[g.first].s, sc->tk[last].e, cls, PHI_SRC_PATTERN, strict ? 80 : 60, 0);
    return last;
}

/* "pager 40417", "beeper #5521", "pgr: 4-0417": a pager number after its word. */
static size_t pager(struct scan *sc, size_t i)
{
    if (!tk_num(sc, i, 3, 7) || i == 0)
        return 0;
    size_t j = i - 1, s = i;
    while (j > 0 && sc->tk[j].kind == TK_PUNCT && phi__in(pch(sc, j), "#:.") &&
           !(sc->tk[j + 1].fl & TF_NL)) {
        if (pch(sc, j) == '#')
            s = j;
        j--;
    }
    if (!(phi__tok_eq(sc, j, "pager") || phi__tok_eq(sc, j, "beeper") ||
          phi__tok_eq(sc, j, "pgr") || phi__tok_eq(sc, j, "bpr") || phi__tok_eq(sc, j, "beep") ||
          phi__tok_eq(sc, j, "pg")) ||
        (sc->tk[i].fl & TF_NL))
        return 0;
    size_t e = i;
    if (pch(sc, e + 1) == '-' && tk_num(sc, e + 2, 3, 5) && phi__tok_adjacent(sc, e + 1) &&
        phi__tok_adjacent(sc, e + 2))
        e += 2;
    phi__add(sc, sc->tk[s].s, sc->tk[e].e, PHI_PHONE, PHI_SRC_PATTERN, 81, 0);
    return e;
}

/* ---- SSN ------------------------------------------------------------------------------------- */

static size_t ssn(struct scan *sc, size_t i)
{
    if (!tk_num(sc, i, 3, 3) ||
        (i > 0 && phi__tok_adjacent(sc, i) && sc->tk[i - 1].kind != TK_PUNCT))
        return 0;
    char c = pch(sc, i + 1);
    if ((c == '-' || c == '.' || c == ' ') && tk_num(sc, i + 2, 2, 2) && pch(sc, i + 3) == c &&
        tk_num(sc, i + 4, 4, 4) && phi__tok_adjacent(sc, i + 1) && phi__tok_adjacent(sc, i + 4)) {
        phi__add(sc, sc->tk[i].s, sc->tk[i + 4].e, PHI_SSN, PHI_SRC_PATTERN, 85, 0);
        return i + 4;
    }
    if (tk_num(sc, i + 1, 2, 2) && tk_num(sc, i + 2, 4, 4) && ctx_before(sc, i, 3, KW_SSNW)) {
        phi__add(sc, sc->tk[i].s, sc->tk[i + 2].e, PHI_SSN, PHI_SRC_PATTERN, 85, 0);
        return i + 2;
    }
    return 0;
}

/* ---- labelled and unlabelled identifiers ----------------------------------------------------- */

/* The label class governing a code at token i (looking back over fillers), or -1. */
static int label_before(const struct scan *sc, size_t i)
{
    size_t seen = 0;
    int found = -1; /* a generic "ID": a word before it may be more specific ("Member ID") */
    int crossed = 0;
    while (i > 0 && seen < 4) {
        if ((sc->tk[i].fl & TF_NL) && (seen > 0 || crossed++ || !phi__tok_eqc(sc, i - 1, ':')))
            return found;
        i--;
        const struct tok *t = &sc->tk[i];
        if (t->kind == TK_PUNCT)
            continue;
        if (t->kind != TK_WORD)
            return found;
        seen++;
        int hit = t->lab ? (int)t->lab - 1 : -1;
        if (hit >= 0 && hit != (int)PHI_ID)
            return hit;
        if (hit == (int)PHI_ID) {
            found = hit;
            continue;
        }
        if (!phi__kw(sc, i, KW_FILLER))
            return found;
    }
    return found;
}

static int unit_suffix(const char *p, size_t n)
{
    static const char *const units[] = {
        "mg",  "ml",  "mm",  "cm",    "kg",  "mcg", "ug", "g",   "l",     "dl",  "hr",   "hrs",
        "h",   "min", "s",   "sec",   "yo",  "y",   "yr", "yrs", "mo",    "mos", "wk",   "wks",
        "d",   "x",   "am",  "pm",    "st",  "nd",  "rd", "th",  "k",     "cc",  "mmhg", "mmol",
        "meq", "iu",  "u",   "units", "lb",  "lbs", "oz", "m",   "km",    "mi",  "ft",   "in",
        "hz",  "khz", "mhz", "gy",    "cgy", "msv", "kv", "kvp", "mas",   "ms",  "bpm",  "mph",
        "f",   "c",   "mb",  "gb",    "kb",  "t",   "mt", "fr",  "gauge", "ga",  "nm",   "um",
        "pct", "yof", "yom", "ys",    "ui",  "ng",  "pg", "mcl", "ul",    "meq", "mosm", NULL};
    char low[8];
    if (n == 0 || n >= sizeof low)
        return n == 0;
    for (size_t k = 0; k < n; k++)
        low[k] = (char)(p[k] | 0x20);
    for (size_t k = 0; units[k] != NULL; k++)
        if (units[k][0] == low[0] && strlen(units[k]) == n && memcmp(units[k], low, n) == 0)
            return 1;
    return 0;
}

/* A NUM+unit token like "500mg" or "3rd"; also "T2", "L4" style with few digits. */
/* "16x10x13mm", "20x10", "2x109": dimensions and counts, digits joined by 'x'. */
static int dimension(const char *p, size_t n)
{
    size_t k = 0, groups = 0;
    while (k < n) {
        size_t d = k;
        while (k < n && p[k] >= '0' && p[k] <= '9')
            k++;
        if (k == d)
            break;
        groups++;
        if (k < n && (p[k] == 'x' || p[k] == 'X') && k + 1 < n && p[k + 1] >= '0' &&
            p[k + 1] <= '9')
            k++;
        else
            break;
    }
    return groups >= 2 && (k == n || unit_suffix(p + k, n - k));
}

static int benign_alnum(const struct scan *sc, size_t i)
{
    const struct tok *t = &sc->tk[i];
    const char *p = sc->t + t->s;
    size_t n = t->e - t->s, k = 0;
    if (dimension(p, n))
        return 1;
    while (k < n && p[k] >= '0' && p[k] <= '9')
        k++;
    if (k > 0 && k < n && unit_suffix(p + k, n - k)) {
        size_t q = k;
        while (q < n && !(p[q] >= '0' && p[q] <= '9'))
            q++;
        if (q == n)
            return 1;
    }
    return t->nd < 4; /* "T2", "B12", "73m2" */
}

/* Token j + 1 joins token j to a following token of a code: "-", "/", ".", "_" between them. */
static int code_joint(const struct scan *sc, size_t j)
{
    char c = pch(sc, j + 1);
    return j + 2 < sc->ntk && phi__tok_adjacent(sc, j + 1) && phi__tok_adjacent(sc, j + 2) &&
           (c == '-' || c == '/' || c == '.' || c == '_') && sc->tk[j + 2].kind != TK_PUNCT;
}

/* The extent of a code starting at token i: adjacent tokens joined by '-', '/', '.', '_'. */
static size_t code_end(const struct scan *sc, size_t i, size_t *digits)
{
    size_t j = i;
    *digits = sc->tk[i].nd;
    while (code_joint(sc, j)) {
        j += 2;
        *digits += sc->tk[j].nd;
    }
    return j;
}

static phi_class prefix_class(const struct scan *sc, size_t i, phi_class dflt)
{
    const char *p = sc->t + sc->tk[i].s;
    size_t n = phi__tok_len(sc, i);
    if (n >= 3 && (p[0] | 0x20) == 'm' && (p[1] | 0x20) == 'r' && (p[2] | 0x20) == 'n')
        return PHI_MRN;
    if (n >= 3 && (p[0] | 0x20) == 'a' && (p[1] | 0x20) == 'c' && (p[2] | 0x20) == 'c')
        return PHI_ACCOUNT;
    return dflt;
}

static size_t ids(struct scan *sc, size_t i)
{
    const struct tok *t = &sc->tk[i];
    if (t->kind == TK_PUNCT ||
        (i > 0 && phi__tok_adjacent(sc, i) && sc->tk[i - 1].kind != TK_PUNCT))
        return 0;
    if (i > 0 && phi__tok_adjacent(sc, i) && phi__in(pch(sc, i - 1), "-/.,") &&
        !(pch(sc, i - 1) == '#'))
        return 0;
    size_t digits, e = code_end(sc, i, &digits);
    if (digits == 0)
        return 0;
    int lab = label_before(sc, i);
    if (lab == (int)PHI_SSN && digits != 9)
        lab = PHI_ID;
    if (lab >= 0 && digits >= 2) {
        /* "NºCol: 46 28 52938", "NASS: 14 909626500": space-separated groups on one line */
        for (int g = 0; g < 4; g++) {
            size_t k = e + 1, d2;
            if (k >= sc->ntk || (sc->tk[k].fl & TF_NL) || !(sc->tk[k].fl & TF_SP) ||
                sc->tk[k].kind != TK_NUM)
                break;
            e = code_end(sc, k, &d2);
        }
        phi__add(sc, t->s, sc->tk[e].e, (phi_class)lab, PHI_SRC_PATTERN, 65, 0);
        return e;
    }
    /* "#12345", and "MD # 4471", "RN # 5521" (dictation, job and unit numbers after a
     * post-nominal, with the space) */
    int hash = i > 0 && pch(sc, i - 1) == '#' &&
               (phi__tok_adjacent(sc, i) || (i >= 2 && phi__kw(sc, i - 2, KW_POSTNOM) &&
                                             !(sc->tk[i].fl & TF_NL)));
    /* "c.3524delG", "p.Gly1175Val": HGVS variant names, not identifiers */
    if (phi__tok_len(sc, i) == 1 && pch(sc, i + 1) == '.' && phi__in(sc->t[t->s], "cpgmnr"))
        return 0;
    if (i >= 2 && pch(sc, i - 1) == '.' && phi__tok_adjacent(sc, i) &&
        phi__tok_len(sc, i - 2) == 1 && phi__in(sc->t[sc->tk[i - 2].s], "cpgmnr"))
        return 0;
    for (size_t k = i; k + 2 <= e; k++) /* "2800/µL", "3406UI/L": a value per unit */
        if (pch(sc, k + 1) == '/' && sc->tk[k + 2].kind == TK_WORD && phi__tok_len(sc, k + 2) <= 3)
            return 0;
    if (hash && sc->tk[i].kind == TK_ALNUM && benign_alnum(sc, i))
        return 0; /* "#18f/20cc", "#20g": catheter and tube sizes */
    int alpha = 0, allnum = 1, ratio = 0;
    for (size_t k = i; k < e; k++)
        if (pch(sc, k + 1) == '/' || pch(sc, k + 1) == '.')
            ratio = 1; /* "118-126/62-70", "100.4-101.2": ranges and ratios of values */
    for (size_t k = i; k <= e; k++) {
        if (sc->tk[k].kind == TK_ALNUM && !benign_alnum(sc, k))
            alpha = 1;
        if (sc->tk[k].kind == TK_WORD && e > i &&
            ((sc->tk[k].fl & TF_ALLCAP) || (phi__tok_len(sc, k) <= 4 && digits >= 5)))
            alpha = 1; /* "HX-595185", "nhc-987654" */
        if (sc->tk[k].kind != TK_NUM && sc->tk[k].kind != TK_PUNCT)
            allnum = 0;
    }
    /* year ranges and plain numbers: 2019-2021, 1,000 */
    int ok = (alpha && digits >= 4) || (hash && digits >= 3 && !(allnum && ratio)) || (allnum && e == i && digits >= 7) ||
             (allnum && e > i && digits >= 8 && sc->tk[i].nd >= 3 && !ratio);
    if (allnum && e > i && digits == 8 && phi__tok_len(sc, i) == 4)
        ok = 0;
    if (!ok)
        return 0;
    phi__add(sc, hash ? sc->tk[i - 1].s : t->s, sc->tk[e].e, prefix_class(sc, i, PHI_ID),
             PHI_SRC_PATTERN, 55, 0);
    return e;
}

/* Card numbers: 4-4-4-4 groups or 13..19 digits (with the Luhn check). */
static size_t cards(struct scan *sc, size_t i)
{
    if (!tk_num(sc, i, 4, 19))
        return 0;
    char dig[24];
    size_t nd = 0, j = i;
    for (;;) {
        size_t len = phi__tok_len(sc, j);
        if (nd + len > 19)
            return 0;
        memcpy(dig + nd, sc->t + sc->tk[j].s, len);
        nd += len;
        char c = pch(sc, j + 1);
        if (len == 4 && (c == '-' || c == ' ') && tk_num(sc, j + 2, 1, 4) &&
            phi__tok_adjacent(sc, j + 2))
            j += 2;
        else if (len == 4 && tk_num(sc, j + 1, 1, 4) && (sc->tk[j + 1].fl & TF_SP) &&
                 !(sc->tk[j + 1].fl & TF_NL))
            j += 1;
        else
            break;
    }
    if (nd < 13)
        return 0;
    int sum = 0;
    for (size_t k = 0; k < nd; k++) {
        int d = dig[nd - 1 - k] - '0';
        if (k % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    if (sum % 10 != 0)
        return 0;
    phi__add(sc, sc->tk[i].s, sc->tk[j].e, PHI_ACCOUNT, PHI_SRC_PATTERN, 75, 0);
    return j;
}

/* ---- ZIP, states ----------------------------------------------------------------------------- */

int phi__state_tok(const struct scan *sc, size_t i);
int phi__state_tok(const struct scan *sc, size_t i)
{
    if (i >= sc->ntk || sc->tk[i].kind != TK_WORD || !(sc->tk[i].fl & TF_CAP))
        return 0;
    if (phi__tok_len(sc, i) == 2 && (sc->tk[i].fl & TF_ALLCAP)) {
        return phi__kw(sc, i, KW_STATE);
    }
    if (phi__kw(sc, i, KW_STATENAME))
        return 2;
    /* two-word states: New York, North Carolina ... (second word checked by the caller) */
    return 0;
}

static size_t zip_label(struct scan *sc, size_t i)
{
    if (!(tk_num(sc, i, 3, 10)) || i < 1)
        return 0;
    size_t j = i - 1;
    if (pch(sc, j) == ':' && j > 0)
        j--;
    if (!(phi__tok_eq(sc, j, "zip") || phi__tok_eq(sc, j, "zipcode") ||
          phi__tok_eq(sc, j, "postcode")))
        return 0;
    size_t e = i;
    if (tk_num(sc, i + 1, 2, 4) && !(sc->tk[i + 1].fl & TF_NL))
        e = i + 1; /* "394 13" */
    else if (pch(sc, i + 1) == '-' && tk_num(sc, i + 2, 3, 4))
        e = i + 2;
    phi__add(sc, sc->tk[i].s, sc->tk[e].e, PHI_ZIP, PHI_SRC_PATTERN, 76, 0);
    return e;
}

static size_t zip(struct scan *sc, size_t i)
{
    size_t zl = zip_label(sc, i);
    if (zl)
        return zl;
    if (!tk_num(sc, i, 5, 5) ||
        (i > 0 && phi__tok_adjacent(sc, i) && sc->tk[i - 1].kind != TK_PUNCT))
        return 0;
    size_t j = i > 0 ? i - 1 : 0;
    if (j > 0 && pch(sc, j) == ',')
        j--;
    int state =
        i > 0 && (phi__state_tok(sc, j) || ((sc->tk[j].fl & TF_CAP) && phi__kw(sc, j, KW_REGION)));
    if (!state && !ctx_before(sc, i, 2, KW_ZIPW))
        return 0;
    size_t e = i;
    if (pch(sc, i + 1) == '-' && tk_num(sc, i + 2, 4, 4) && phi__tok_adjacent(sc, i + 1))
        e = i + 2;
    phi__add(sc, sc->tk[i].s, sc->tk[e].e, PHI_ZIP, PHI_SRC_PATTERN, 75, 0);
    return e;
}

/* ---- ages over 89 ---------------------------------------------------------------------------- */

static size_t age(struct scan *sc, size_t i)
{
    const struct tok *t = &sc->tk[i];
    const char *p = sc->t + t->s;
    size_t n = t->e - t->s;
    if (t->kind == TK_ALNUM && t->nd >= 2 && t->nd <= 3 && n <= (size_t)t->nd + 3) {
        long v = 0;
        for (size_t k = 0; k < t->nd; k++)
            v = v * 10 + (p[k] - '0');
        if (v >= 90 && v <= 130 && unit_suffix(p + t->nd, n - t->nd) &&
            ((p[t->nd] | 0x20) == 'y')) {
            phi__add(sc, t->s, t->e, PHI_AGE, PHI_SRC_PATTERN, 72, 0);
            return i;
        }
        return 0;
    }
    long v = phi__tok_num(sc, i);
    if (v < 90 || v > 130 || n > 3)
        return 0;
    size_t j = i + 1;
    if (pch(sc, j) == '-')
        j++;
    int ok = ctx_before(sc, i, 2, KW_AGE_BEFORE);
    if (phi__kw(sc, j, KW_AGE_AFTER))
        ok = 1;
    if (!ok && phi__tok_eq(sc, j, "y") && pch(sc, j + 1) == '/')
        ok = 1;
    if (!ok)
        return 0;
    phi__add(sc, t->s, t->e, PHI_AGE, PHI_SRC_PATTERN, 72, 0);
    return i;
}

/* ---- street addresses ------------------------------------------------------------------------ */

static int direction(const struct scan *sc, size_t i)
{
    if (i >= sc->ntk || !(sc->tk[i].fl & TF_CAP))
        return 0;
    return phi__kw(sc, i, KW_DIRECTION);
}

static int suffix_tok(const struct scan *sc, size_t i)
{
    const struct phi__dict_ent *d = phi__tok_dict(sc, i);
    return d != NULL && (d->flags & PHI_DICT_SUFFIX) && (sc->tk[i].fl & TF_CAP);
}

static size_t unit(const struct scan *sc, size_t j)
{
    size_t k = j;
    if (pch(sc, k) == ',')
        k++;
    int hit = pch(sc, k) == '#';
    hit |= phi__kw(sc, k, KW_UNIT);
    if (!hit)
        return 0;
    k++;
    while (pch(sc, k) == '.' || pch(sc, k) == '#')
        k++;
    if (k < sc->ntk && sc->tk[k].kind != TK_PUNCT && (sc->tk[k].nd > 0 || phi__tok_len(sc, k) <= 2))
        return k;
    return 0;
}

/* European order: "28245 Puruntie 82", "3482 Via Franscini 71": number, one to three
 * capitalised uncommon words, a house number. */
static size_t address_eu(struct scan *sc, size_t i)
{
    if (!tk_num(sc, i, 2, 6) ||
        (i > 0 && phi__tok_adjacent(sc, i) && sc->tk[i - 1].kind != TK_PUNCT))
        return 0;
    if (i > 0 && phi__tok_adjacent(sc, i) && phi__in(pch(sc, i - 1), "#/-+."))
        return 0; /* "#14 FOLEY DRAINING 24" */
    if (i > 0 && !(sc->tk[i].fl & TF_NL) && phi__kw(sc, i - 1, KW_CLINNUM))
        return 0; /* "CK 284 MB 40" */
    size_t j = i + 1, words = 0;
    while (j < sc->ntk && words < 3 && sc->tk[j].kind == TK_WORD && (sc->tk[j].fl & TF_CAP) &&
           !(sc->tk[j].fl & TF_NL)) {
        const struct phi__dict_ent *d = phi__tok_dict(sc, j);
        if ((sc->tk[j].fl & TF_ALLCAP) && phi__tok_len(sc, j) <= 4 && d == NULL)
            return 0; /* "220 MCG 2", "650 MG PR": units and abbreviations */
        if (d != NULL && (d->flags & PHI_DICT_WORD) && d->word_level < 50 && words == 0)
            return 0;
        words++;
        j++;
    }
    if (words == 0 || !tk_num(sc, j, 1, 4) || (sc->tk[j].fl & TF_NL) ||
        (j + 1 < sc->ntk && phi__tok_adjacent(sc, j + 1) && sc->tk[j + 1].kind != TK_PUNCT))
        return 0;
    phi__add(sc, sc->tk[i].s, sc->tk[j].e, PHI_ADDRESS, PHI_SRC_PATTERN, 62, 0);
    return j;
}

static size_t address(struct scan *sc, size_t i)
{
    const struct tok *t = &sc->tk[i];
    if (!((t->kind == TK_NUM && t->e - t->s <= 6) ||
          (t->kind == TK_ALNUM && t->nd >= 1 && t->e - t->s <= 6 && !benign_alnum(sc, i))))
        return 0;
    if (i > 0 && phi__tok_adjacent(sc, i) &&
        (sc->tk[i - 1].kind != TK_PUNCT || phi__in(pch(sc, i - 1), "#/-+.")))
        return 0; /* "#14 FOLEY", "2/3 OF THE WAY", "C1-2 ALIGNMENT IS" */
    if (i > 0 && !(sc->tk[i].fl & TF_NL) && phi__kw(sc, i - 1, KW_CLINNUM))
        return 0; /* "CK 284 MB 40": a lab value */
    size_t j = i + 1, best = 0;
    if (direction(sc, j))
        j += (pch(sc, j + 1) == '.') ? 2 : 1;
    for (size_t w = 0; w < 5 && j < sc->ntk; w++, j++) {
        const struct tok *u = &sc->tk[j];
        if (u->fl & TF_NL)
            break;
        int ordinal = u->kind == TK_ALNUM && u->nd <= 3;
        if (!((u->kind == TK_WORD && (u->fl & TF_CAP)) || ordinal))
            break;
        if (u->kind == TK_WORD && (u->fl & TF_ALLCAP) && w > 0 && !suffix_tok(sc, j)) {
            /* in capitals "3 OF THE WAY", "5 PER DR": a very common word is no street name */
            const struct phi__dict_ent *d = phi__tok_dict(sc, j);
            if (d != NULL && (d->flags & PHI_DICT_WORD) && d->word_level > 0 &&
                d->word_level < 20)
                break;
        }
        if (u->kind == TK_WORD && (u->fl & TF_ALLCAP) && w == 0) {
            const struct phi__dict_ent *d = phi__tok_dict(sc, j);
            if ((d != NULL && (d->flags & PHI_DICT_WORD) && d->word_level > 0 &&
                 d->word_level < 20) ||
                phi__kw(sc, j, KW_UNIT) || phi__kw(sc, j, KW_CLINNUM))
                break;
        }
        if (w > 0 && suffix_tok(sc, j))
            best = j;
    }
    if (best == 0)
        return 0;
    j = best;
    if (pch(sc, j + 1) == '.' && phi__tok_adjacent(sc, j + 1))
        j++;
    if (direction(sc, j + 1))
        j++;
    size_t u = unit(sc, j + 1);
    if (u)
        j = u;
    phi__add(sc, t->s, sc->tk[j].e, PHI_ADDRESS, PHI_SRC_PATTERN, 68, 0);
    return j;
}

static size_t pobox(struct scan *sc, size_t i)
{
    size_t j = i;
    if (phi__tok_eq(sc, j, "po"))
        j++;
    else if (phi__tok_eq(sc, j, "p") && pch(sc, j + 1) == '.' && phi__tok_eq(sc, j + 2, "o"))
        j += (pch(sc, j + 3) == '.') ? 4 : 3;
    else
        return 0;
    if (!phi__tok_eq(sc, j, "box") || !tk_num(sc, j + 1, 1, 8))
        return 0;
    phi__add(sc, sc->tk[i].s, sc->tk[j + 1].e, PHI_ADDRESS, PHI_SRC_PATTERN, 68, 0);
    return j + 1;
}

/* "Apt. 595", "Suite 501", "Unit 5022, Box 1225", "PSC 0413, Box 8144", "APO AA 42323". */
static size_t unit_alone(struct scan *sc, size_t i)
{
    size_t j = i, k;
    int hit = 0;
    hit |= phi__kw(sc, i, KW_UNIT_ALONE);
    if (!hit || !(sc->tk[i].fl & TF_CAP))
        return 0;
    j++;
    while (pch(sc, j) == '.' || pch(sc, j) == '#')
        j++;
    if (j >= sc->ntk || sc->tk[j].nd == 0 || phi__tok_len(sc, j) > 6)
        return 0;
    k = j;
    if (pch(sc, k + 1) == ',' && phi__tok_eq(sc, k + 2, "box") && tk_num(sc, k + 3, 1, 6))
        k += 3;
    phi__add(sc, sc->tk[i].s, sc->tk[k].e, PHI_ADDRESS, PHI_SRC_PATTERN, 66, 0);
    return k;
}

static size_t military(struct scan *sc, size_t i)
{
    if (!(phi__tok_eq(sc, i, "apo") || phi__tok_eq(sc, i, "fpo") || phi__tok_eq(sc, i, "dpo")) ||
        !(phi__tok_eq(sc, i + 1, "aa") || phi__tok_eq(sc, i + 1, "ae") ||
          phi__tok_eq(sc, i + 1, "ap")) ||
        !tk_num(sc, i + 2, 5, 5))
        return 0;
    phi__add(sc, sc->tk[i].s, sc->tk[i + 2].e, PHI_ADDRESS, PHI_SRC_PATTERN, 66, 0);
    return i + 2;
}

/* "Address: <rest of the line>", "lives at <...>": the address runs to the end of the line. */
static size_t address_label(struct scan *sc, size_t i)
{
    size_t j = i + 1;
    if (phi__tok_eq(sc, i, "address") || phi__tok_eq(sc, i, "domicilio") ||
        phi__tok_eq(sc, i, "dirección")) {
        if (phi__tok_eq(sc, j, "is"))
            j++;
        if (pch(sc, j) == ':')
            j++;
    } else if (phi__tok_eq(sc, i, "lives") && phi__tok_eq(sc, j, "at")) {
        j++;
    } else {
        return 0;
    }
    if (j >= sc->ntk || (sc->tk[j].fl & TF_NL) || sc->tk[j].kind == TK_PUNCT)
        return 0;
    size_t e = j, digits = 0;
    while (e + 1 < sc->ntk && !(sc->tk[e + 1].fl & TF_NL) && e < j + 24) {
        if (pch(sc, e + 1) == '.' && (e + 2 >= sc->ntk || (sc->tk[e + 2].fl & TF_NL)))
            break;
        e++;
        digits += sc->tk[e].nd;
    }
    digits += sc->tk[j].nd;
    if (digits == 0 || e == j)
        return 0;
    while (e > j && sc->tk[e].kind == TK_PUNCT)
        e--;
    phi__add(sc, sc->tk[j].s, sc->tk[e].e, PHI_ADDRESS, PHI_SRC_PATTERN, 77, 0);
    return e;
}

void phi__detect_numbers(struct scan *sc)
{
    size_t next = 0; /* tokens before it are inside a match */
    for (size_t q = 0; q < sc->nix_nd; q++) {
        size_t i = sc->ix_nd[q];
        if (i < next)
            continue;
        const struct tok *t = &sc->tk[i];
        if (t->kind == TK_WORD) {
            size_t e = 0;
            if (phi__kw(sc, i, KW_TRIGGER)) {
                e = pobox(sc, i);
                if (e == 0)
                    e = unit_alone(sc, i);
                if (e == 0)
                    e = military(sc, i);
                if (e == 0)
                    (void)address_label(sc, i); /* overlaps what follows; scan inside too */
            }
            /* a word has no digits: a code needs "-/._" and a token after it (see code_end) */
            if (e == 0 && phi__tok_adjacent(sc, i + 1) && phi__tok_len(sc, i) <= 6 &&
                code_joint(sc, i))
                e = ids(sc, i);
            if (e)
                next = e + 1;
            continue;
        }
        if (t->kind == TK_PUNCT && pch(sc, i) != '+' && pch(sc, i) != '(')
            continue;
        size_t e = ssn(sc, i);
        if (!e)
            e = pager(sc, i);
        if (!e)
            e = phones(sc, i);
        if (!e)
            e = cards(sc, i);
        if (!e && t->kind != TK_PUNCT) {
            size_t a = address(sc, i);
            if (a == 0)
                a = address_eu(sc, i);
            size_t z = zip(sc, i);
            size_t g = age(sc, i);
            size_t d = ids(sc, i);
            e = a > z ? a : z;
            e = e > g ? e : g;
            e = e > d ? e : d;
            (void)d;
        }
        if (e > i)
            next = e + 1;
    }
}

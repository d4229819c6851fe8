/*
 * Dates: detection of every common written form (03/14/2023, 3/14, 2023-03-14, 14-Mar-2023,
 * March 14th, 2023, 14 March, March 2023, DICOM DA/DT, "Tuesday the 14th", Spanish
 * "14 de marzo de 2023") and shifting of a detected date by the patient's offset in the same
 * written form (so a surrogate date reads like the original).
 * Trusts: nothing; every token index is checked against the token count.
 * Owns: nothing (appends candidates to the scan, text to the caller's buffer).
 */
#include <string.h>
#include <strings.h>

#include "internal.h"

static int is_num(const struct scan *sc, size_t i, size_t lo, size_t hi)
{
    if (i >= sc->ntk || sc->tk[i].kind != TK_NUM)
        return 0;
    size_t n = phi__tok_len(sc, i);
    return n >= lo && n <= hi;
}

/* 1..31 for "14", "14th", "1st" ...; 0 otherwise. */
static int day_tok(const struct scan *sc, size_t i)
{
    if (i >= sc->ntk)
        return 0;
    const struct tok *t = &sc->tk[i];
    const char *p = sc->t + t->s;
    size_t n = t->e - t->s;
    if (t->kind == TK_NUM && n <= 2) {
        long v = phi__tok_num(sc, i);
        return (v >= 1 && v <= 31) ? (int)v : 0;
    }
    if (t->kind != TK_ALNUM || n < 3 || n > 4 || t->nd != n - 2)
        return 0;
    char a = (char)(p[n - 2] | 0x20), b = (char)(p[n - 1] | 0x20);
    if (!((a == 's' && b == 't') || (a == 'n' && b == 'd') || (a == 'r' && b == 'd') ||
          (a == 't' && b == 'h')))
        return 0;
    int v = (n == 3) ? p[0] - '0' : (p[0] - '0') * 10 + (p[1] - '0');
    return (v >= 1 && v <= 31) ? v : 0;
}

static int year_tok(const struct scan *sc, size_t i)
{
    if (!is_num(sc, i, 4, 4))
        return 0;
    long v = phi__tok_num(sc, i);
    return (v >= 1800 && v <= 2199) ? (int)v : 0;
}

static int month_tok(const struct scan *sc, size_t i)
{
    if (!phi__kw(sc, i, KW_MONTH) || sc->tk[i].kind != TK_WORD)
        return 0;
    const char *p = sc->t + sc->tk[i].s;
    size_t n = phi__tok_len(sc, i);
    int m = phi__month(p, n);
    if (m == 0)
        return 0;
    /* "may", "mar", "jan", "dec" ... are words too: English forms need a capital */
    if (!(sc->tk[i].fl & TF_CAP) && n <= 5 && !phi__tok_eq(sc, i + 1, "de") &&
        !phi__tok_eq(sc, i + 1, "del"))
        return 0;
    return m;
}

static int weekday_tok(const struct scan *sc, size_t i)
{
    if (i >= sc->ntk || sc->tk[i].kind != TK_WORD || !(sc->tk[i].fl & TF_CAP))
        return 0;
    return phi__kw(sc, i, KW_WEEKDAY);
}

static int sepc(const struct scan *sc, size_t i, const char *set)
{
    if (i >= sc->ntk || sc->tk[i].kind != TK_PUNCT || !phi__tok_adjacent(sc, i) ||
        !phi__tok_adjacent(sc, i + 1))
        return 0;
    return phi__in((char)sc->tk[i].ch, set);
}

static size_t skip_opt(const struct scan *sc, size_t j, char c)
{
    return phi__tok_eqc(sc, j, c) ? j + 1 : j;
}

/* Month first: "March 14th, 2023", "Mar. 14", "March 2023". Returns the end token or 0. */
static size_t month_first(const struct scan *sc, size_t i)
{
    if (!month_tok(sc, i))
        return 0;
    size_t j = skip_opt(sc, i + 1, '.');
    if (day_tok(sc, j) && !(is_num(sc, j + 1, 1, 3) && !phi__tok_eqc(sc, j + 1, ','))) {
        j++;
        size_t k = skip_opt(sc, j, ',');
        if (year_tok(sc, k))
            return k + 1;
        return j;
    }
    j = skip_opt(sc, j, ',');
    if (phi__tok_eq(sc, j, "of") || phi__tok_eq(sc, j, "de") || phi__tok_eq(sc, j, "del"))
        j++;
    if (year_tok(sc, j))
        return j + 1;
    return 0;
}

/* Day first: "14 March 2023", "14th of March", "14-Mar-2023", "14 de marzo de 2023". */
static size_t day_first(const struct scan *sc, size_t i)
{
    if (!day_tok(sc, i))
        return 0;
    size_t j = i + 1;
    int dash = sepc(sc, j, "-/.");
    if (dash)
        j++;
    else if (phi__tok_eq(sc, j, "of") || phi__tok_eq(sc, j, "de"))
        j++;
    if (!month_tok(sc, j) &&
        !(phi__tok_eq(sc, j - 1, "de") && phi__month(sc->t + (j < sc->ntk ? sc->tk[j].s : 0),
                                                     j < sc->ntk ? phi__tok_len(sc, j) : 0)))
        return 0;
    j++;
    if (dash && sepc(sc, j, "-/.") && (year_tok(sc, j + 1) || is_num(sc, j + 1, 2, 2)))
        return j + 2;
    size_t k = skip_opt(sc, skip_opt(sc, j, '.'), ',');
    if (phi__tok_eq(sc, k, "de") || phi__tok_eq(sc, k, "del"))
        k++;
    if (year_tok(sc, k))
        return k + 1;
    return j;
}

static int valid_md(long m, long d)
{
    return m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static int date_context(const struct scan *sc, size_t i)
{
    size_t j = i;
    while (j > 0 && j + 3 > i) {
        j--;
        if (sc->tk[j].kind == TK_PUNCT)
            continue;
        return phi__kw(sc, j, KW_DATECTX);
    }
    return 0;
}

/* Clinical notation around the numbers [i, e) (e one past the last token): a vitals, vent,
 * lab or drip word just before ("PS 14/6/45%", "CPAP 8/5", "INR 1/2"), or a '%', '/', unit or
 * further digits glued after ("8/5/30%", "4/2cc"). Such slashes are settings, not dates. */
static int notation(const struct scan *sc, size_t i, size_t e)
{
    if (e < sc->ntk && phi__tok_adjacent(sc, e)) {
        const struct tok *t = &sc->tk[e];
        if (t->kind != TK_PUNCT || phi__in((char)t->ch, "%/x*+"))
            return 1;
        if ((t->ch == '-' || t->ch == '.') && e + 1 < sc->ntk && phi__tok_adjacent(sc, e + 1) &&
            sc->tk[e + 1].kind != TK_PUNCT)
            return 1;
    }
    size_t j = i, seen = 0;
    while (j > 0 && seen < 2 && !(sc->tk[j].fl & TF_NL)) {
        j--;
        const struct tok *t = &sc->tk[j];
        if (t->kind == TK_PUNCT) {
            if (t->ch == '@' || t->ch == '=')
                return 1;
            continue;
        }
        seen++;
        /* "T: 11/1/07" is a dictation header's transcription date, not a temperature */
        if (t->kind == TK_WORD && phi__kw(sc, j, KW_CLINNUM) &&
            !(phi__tok_len(sc, j) == 1 && phi__tok_eqc(sc, j + 1, ':')))
            return 1;
        if (t->kind != TK_WORD)
            continue;
        break;
    }
    return 0;
}

/* A fraction: "1/3 dose of lasix", "1/2 NS", "2/3 of the way". */
static int fraction_after(const struct scan *sc, size_t e)
{
    static const char *const W[] = {"dose", "doses", "of", "ns", "nss", "tab", "tabs", "strength",
                                    "amp", "amps", "unit", "units", "the", "cup", "bottle", NULL};
    if (e >= sc->ntk || sc->tk[e].kind != TK_WORD || (sc->tk[e].fl & TF_NL))
        return 0;
    for (size_t k = 0; W[k] != NULL; k++)
        if (phi__tok_eq(sc, e, W[k]))
            return 1;
    return 0;
}

/* A time after a short date: "8/2 at 0215", "12/12 at 4AM", "5/13 @ 3pm". */
static int time_after(const struct scan *sc, size_t e)
{
    if (phi__tok_eq(sc, e, "at") || phi__tok_eqc(sc, e, '@'))
        e++;
    else
        return 0;
    if (e >= sc->ntk || (sc->tk[e].fl & TF_NL))
        return 0;
    const struct tok *t = &sc->tk[e];
    if (t->kind == TK_NUM && t->e - t->s == 4)
        return 1;
    if (t->kind == TK_ALNUM && t->nd >= 1 && t->nd <= 4) {
        const char *p = sc->t + t->e - 2;
        return t->e - t->s >= 3 && ((p[0] | 0x20) == 'a' || (p[0] | 0x20) == 'p') &&
               (p[1] | 0x20) == 'm';
    }
    return t->kind == TK_NUM && t->e - t->s <= 2 && phi__tok_eqc(sc, e + 1, ':');
}

/* A study or event word after a short date: "11/2 echo", "3/9 CT". */
static int event_after(const struct scan *sc, size_t e)
{
    static const char *const W[] = {"echo", "ct",    "cta",       "mri",   "cxr",
                                    "ekg",  "ecg",   "cath",      "egd",   "surgery",
                                    "admission", "admit", "visit", "appt", "appointment",
                                    "op",   "bx",    "biopsy",    "scan",  "us", NULL};
    if (e >= sc->ntk || sc->tk[e].kind != TK_WORD || (sc->tk[e].fl & TF_NL))
        return 0;
    for (size_t k = 0; W[k] != NULL; k++)
        if (phi__tok_eq(sc, e, W[k]))
            return 1;
    return 0;
}

/* A valid calendar date in an 8-digit DA "YYYYMMDD" (years 1850..2149). */
static int da_valid(const char *p)
{
    int y = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
    int m = (p[4] - '0') * 10 + (p[5] - '0');
    int d = (p[6] - '0') * 10 + (p[7] - '0');
    long days;
    return y >= 1850 && y <= 2149 && ms_date_to_days(y, m, d, &days) == MS_OK;
}

/* Numeric: "03/14/2023", "14.03.2023", "2023-03-14", "3/14", "03/2023", DA, DT. */
static size_t numeric(const struct scan *sc, size_t i)
{
    if (!is_num(sc, i, 1, 14) || (i > 0 && sepc(sc, i - 1, "/-.")))
        return 0;
    size_t n0 = phi__tok_len(sc, i);
    if (n0 == 8 || n0 == 12 || n0 == 14)
        return da_valid(sc->t + sc->tk[i].s) ? i + 1 : 0;
    if (n0 > 4 || !sepc(sc, i + 1, "/-.") || !is_num(sc, i + 2, 1, 4))
        return 0;
    char sep = sc->t[sc->tk[i + 1].s];
    long a = phi__tok_num(sc, i), b = phi__tok_num(sc, i + 2);
    size_t n1 = phi__tok_len(sc, i + 2);
    if (sepc(sc, i + 3, "/-.") && sc->t[sc->tk[i + 3].s] == sep && is_num(sc, i + 4, 2, 4)) {
        long c = phi__tok_num(sc, i + 4);
        size_t n2 = phi__tok_len(sc, i + 4);
        if (sepc(sc, i + 5, "/-.") && is_num(sc, i + 6, 1, 9))
            return 0; /* 1.2.3.4: an address or version */
        if (n0 == 4 && n1 <= 2 && n2 <= 2 && a >= 1800 && a <= 2199 && valid_md(b, c))
            return i + 5;
        if (n0 <= 2 && n1 <= 2 && n2 != 3 && (valid_md(a, b) || valid_md(b, a)) &&
            !(n2 == 2 && notation(sc, i, i + 5)))
            return i + 5;
        return 0;
    }
    if (sep != '/' || n0 > 2 || (i + 3 < sc->ntk && sepc(sc, i + 3, "/")))
        return 0;
    if (n1 == 4 && a >= 1 && a <= 12 && b >= 1900 && b <= 2199)
        return i + 3;
    if (notation(sc, i, i + 3) || fraction_after(sc, i + 3))
        return 0;
    if (n1 <= 2 && valid_md(a, b) &&
        (b > 12 || date_context(sc, i) || event_after(sc, i + 3) || time_after(sc, i + 3)))
        return i + 3;
    /* month / two-digit year: "S/P CVA 4/87" (a day cannot be over 31) */
    if (n1 == 2 && a >= 1 && a <= 12 && b > 31)
        return i + 3;
    return 0;
}

/* "14Mar2023" / "14MAR23" in one token. */
static int packed(const struct scan *sc, size_t i)
{
    if (i >= sc->ntk || sc->tk[i].kind != TK_ALNUM)
        return 0;
    const char *p = sc->t + sc->tk[i].s;
    size_t n = phi__tok_len(sc, i), k = 0;
    while (k < n && k < 2 && p[k] >= '0' && p[k] <= '9')
        k++;
    if (k == 0 || n < k + 5 || !phi__month(p + k, 3))
        return 0;
    size_t r = n - k - 3;
    for (size_t q = k + 3; q < n; q++)
        if (p[q] < '0' || p[q] > '9')
            return 0;
    return r == 2 || r == 4;
}

/* "last Friday", "next week", "this December": relative date elements. */
static size_t relative(const struct scan *sc, size_t i)
{
    /* "last week" / "last month" are not date elements: only weekdays and months follow */
    int hit = phi__kw(sc, i, KW_RELATIVE);
    if (!hit || i + 1 >= sc->ntk)
        return 0;
    size_t j = i + 1;
    if (weekday_tok(sc, j) || month_tok(sc, j))
        return j + 1;
    return 0;
}

void phi__detect_dates(struct scan *sc)
{
    size_t next = 0; /* tokens before it are inside a match */
    for (size_t q = 0; q < sc->nix_nd; q++) {
        size_t i = sc->ix_nd[q];
        if (i < next)
            continue;
        size_t e = 0, s = i;
        if (sc->tk[i].kind == TK_WORD) {
            /* each word form starts at a month, a relative word or a weekday */
            if (!(sc->tk[i].kw & ((1u << KW_MONTH) | (1u << KW_RELATIVE) | (1u << KW_WEEKDAY))))
                continue;
            e = month_first(sc, i);
            if (e == 0)
                e = relative(sc, i);
            if (e == 0 && weekday_tok(sc, i)) { /* "Tuesday the 14th" */
                size_t j = skip_opt(sc, i + 1, ',');
                if (phi__tok_eq(sc, j, "the") && day_tok(sc, j + 1) &&
                    sc->tk[j + 1].kind == TK_ALNUM)
                    e = j + 2;
            }
        } else if (sc->tk[i].kind == TK_NUM) {
            e = numeric(sc, i);
            if (e == 0)
                e = day_first(sc, i);
        } else if (sc->tk[i].kind == TK_ALNUM) {
            e = day_first(sc, i);
            if (e == 0 && packed(sc, i))
                e = i + 1;
        }
        if (e == 0)
            continue;
        /* a weekday before the date belongs to it: "Tuesday, March 14" */
        if (s >= 1 && weekday_tok(sc, s - 1))
            s = s - 1;
        else if (s >= 2 && phi__tok_eqc(sc, s - 1, ',') && weekday_tok(sc, s - 2))
            s = s - 2;
        phi__add(sc, sc->tk[s].s, sc->tk[e - 1].e, PHI_DATE, PHI_SRC_PATTERN, 70, 0);
        next = e;
    }
}

/* ---- parsing and shifting a detected date ---------------------------------------------------- */

struct part {
    size_t s, n;
    int kind; /* 1 number, 2 word */
    long v;
};

#define MAXPARTS 12

static size_t split(const char *s, size_t n, struct part *p)
{
    size_t np = 0, i = 0;
    while (i < n && np < MAXPARTS) {
        unsigned char c = (unsigned char)s[i];
        size_t j = i;
        if (c >= '0' && c <= '9') {
            long v = 0;
            while (j < n && s[j] >= '0' && s[j] <= '9') {
                if (j - i < 9)
                    v = v * 10 + (s[j] - '0');
                j++;
            }
            p[np++] = (struct part){i, j - i, 1, v};
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
            while (j < n &&
                   (((unsigned char)s[j] | 0x20) >= 'a' && ((unsigned char)s[j] | 0x20) <= 'z'))
                j++;
            p[np++] = (struct part){i, j - i, 2, 0};
        } else {
            j++;
        }
        i = j;
    }
    return np;
}

static int weekday_word(const char *s, size_t n)
{
    static const char *const W[] = {"monday", "tuesday",  "wednesday", "thursday",
                                    "friday", "saturday", "sunday"};
    for (size_t k = 0; k < 7; k++)
        if (strlen(W[k]) == n && strncasecmp(W[k], s, n) == 0)
            return 1;
    return 0;
}

struct roles {
    int y, m, d;    /* values; 0 absent */
    int iy, im, id; /* part index or -1 */
    int iw;         /* weekday word or -1 */
    int ydigits;
    int ord; /* index of an ordinal suffix part or -1 */
};

static void roles_words(const char *s, struct part *p, size_t np, struct roles *r)
{
    for (size_t k = 0; k < np; k++) {
        if (p[k].kind != 2)
            continue;
        int m = phi__month(s + p[k].s, p[k].n);
        if (m && r->im < 0) {
            r->im = (int)k;
            r->m = m;
        } else if (!m && r->iw < 0 && weekday_word(s + p[k].s, p[k].n)) {
            r->iw = (int)k; /* a weekday with the date */
        } else if (!m && p[k].n == 2 && k > 0 && p[k - 1].kind == 1 &&
                   p[k].s == p[k - 1].s + p[k - 1].n) {
            r->ord = (int)k;
        }
    }
    for (size_t k = 0; k < np; k++) {
        if (p[k].kind != 1)
            continue;
        if (p[k].n == 4 && r->iy < 0) {
            r->iy = (int)k;
            r->y = (int)p[k].v;
            r->ydigits = 4;
        } else if (p[k].n <= 2 && r->id < 0 && p[k].v >= 1 && p[k].v <= 31) {
            r->id = (int)k;
            r->d = (int)p[k].v;
        } else if (p[k].n == 2 && r->iy < 0) {
            r->iy = (int)k;
            r->y = (int)(p[k].v < 50 ? 2000 + p[k].v : 1900 + p[k].v);
            r->ydigits = 2;
        }
    }
}

static int roles_numeric(struct part *p, size_t np, struct roles *r)
{
    size_t nums[4], nn = 0;
    for (size_t k = 0; k < np && nn < 4; k++)
        if (p[k].kind == 1)
            nums[nn++] = k;
    if (nn == 1 && p[nums[0]].n >= 8) { /* DA / DT: YYYYMMDD... handled by the caller */
        return 2;
    }
    if (nn < 2)
        return -1;
    struct part *a = &p[nums[0]], *b = &p[nums[1]];
    if (nn == 2) {
        if (b->n == 4) { /* mm/yyyy */
            r->im = (int)nums[0], r->m = (int)a->v, r->iy = (int)nums[1], r->y = (int)b->v;
            r->ydigits = 4;
        } else {
            r->im = (int)nums[0], r->m = (int)a->v, r->id = (int)nums[1], r->d = (int)b->v;
        }
        return 0;
    }
    struct part *c = &p[nums[2]];
    if (a->n == 4) {
        r->iy = (int)nums[0], r->y = (int)a->v, r->im = (int)nums[1], r->m = (int)b->v;
        r->id = (int)nums[2], r->d = (int)c->v, r->ydigits = 4;
        return 0;
    }
    int dm = a->v > 12; /* day first when the first field cannot be a month */
    r->im = (int)(dm ? nums[1] : nums[0]), r->m = (int)(dm ? b->v : a->v);
    r->id = (int)(dm ? nums[0] : nums[1]), r->d = (int)(dm ? a->v : b->v);
    r->iy = (int)nums[2];
    r->ydigits = (int)c->n;
    r->y = (int)(c->n == 4 ? c->v : (c->v < 50 ? 2000 + c->v : 1900 + c->v));
    return 0;
}

int phi__date_parse(const char *s, size_t n, struct pdate *pd)
{
    struct part p[MAXPARTS];
    size_t np = split(s, n, p);
    struct roles r = {0, 0, 0, -1, -1, -1, -1, 0, -1};
    int have_word = 0;
    for (size_t k = 0; k < np; k++)
        if (p[k].kind == 2 && phi__month(s + p[k].s, p[k].n))
            have_word = 1;
    if (have_word) {
        roles_words(s, p, np, &r);
    } else {
        int k = roles_numeric(p, np, &r);
        if (k == 2) {
            const char *q = s + p[0].s;
            pd->y = (q[0] - '0') * 1000 + (q[1] - '0') * 100 + (q[2] - '0') * 10 + (q[3] - '0');
            pd->m = (q[4] - '0') * 10 + (q[5] - '0');
            pd->d = (q[6] - '0') * 10 + (q[7] - '0');
            return 0;
        }
        if (k < 0)
            return -1;
    }
    pd->y = r.y;
    pd->m = r.m;
    pd->d = r.d;
    return (r.m >= 1 && r.m <= 12) ? 0 : -1;
}

static const char *const month_full[12] = {"January",   "February", "March",    "April",
                                           "May",       "June",     "July",     "August",
                                           "September", "October",  "November", "December"};
static const char *const wday_full[7] = {"Thursday", "Friday",  "Saturday", "Sunday",
                                         "Monday",   "Tuesday", "Wednesday"}; /* 1970-01-01 */

/* Appends `word` in the style of the original (case, abbreviation length). */
static ms_rc put_word(ms_buf *out, const char *orig, size_t on, const char *word, ms_err *err)
{
    char tmp[16];
    size_t wn = strlen(word), len = (on <= 4 && on < wn) ? on : wn;
    if (on == 4 && len == 4 && wn > 4 && word[0] != 'S')
        len = 3; /* "Sept" only for September */
    int allcap = on > 1 && orig[0] >= 'A' && orig[0] <= 'Z' && orig[1] >= 'A' && orig[1] <= 'Z';
    int lower = orig[0] >= 'a' && orig[0] <= 'z';
    for (size_t k = 0; k < len && k < sizeof tmp; k++) {
        char c = word[k];
        if (allcap && c >= 'a' && c <= 'z')
            c = (char)(c - 32);
        if (lower && c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        tmp[k] = c;
    }
    return ms_buf_append(out, tmp, len, err);
}

static const char *ordsfx(int d)
{
    if (d % 100 >= 11 && d % 100 <= 13)
        return "th";
    switch (d % 10) {
    case 1:
        return "st";
    case 2:
        return "nd";
    case 3:
        return "rd";
    default:
        return "th";
    }
}

static ms_rc put_num(ms_buf *out, long v, size_t width, ms_err *err)
{
    if (width >= 2)
        return ms_buf_printf(out, err, "%0*ld", (int)width, v);
    return ms_buf_printf(out, err, "%ld", v);
}

static ms_rc emit(const char *s, size_t n, struct part *p, size_t np, const struct roles *r, int y,
                  int m, int d, long days, ms_buf *out, ms_err *err)
{
    size_t pos = 0;
    for (size_t k = 0; k < np; k++) {
        if (ms_buf_append(out, s + pos, p[k].s - pos, err) != MS_OK)
            return err ? err->code : MS_E_NOMEM;
        const char *q = s + p[k].s;
        ms_rc rc = MS_OK;
        if ((int)k == r->iy)
            rc = put_num(out, r->ydigits == 2 ? y % 100 : y, (size_t)r->ydigits, err);
        else if ((int)k == r->im && p[k].kind == 2)
            rc = put_word(out, q, p[k].n, month_full[m - 1], err);
        else if ((int)k == r->im)
            rc = put_num(out, m, p[k].n, err);
        else if ((int)k == r->id)
            rc = put_num(out, d, p[k].n, err);
        else if ((int)k == r->ord)
            rc = put_word(out, q, 2, ordsfx(d), err);
        else if ((int)k == r->iw)
            rc = put_word(out, q, p[k].n, wday_full[((days % 7) + 7) % 7], err);
        else
            rc = ms_buf_append(out, q, p[k].n, err);
        if (rc != MS_OK)
            return rc;
        pos = p[k].s + p[k].n;
    }
    return ms_buf_append(out, s + pos, n - pos, err);
}

ms_rc phi__date_shift(const char *s, size_t n, int days, ms_buf *out, ms_err *err)
{
    struct part p[MAXPARTS];
    size_t np = split(s, n, p);
    struct roles r = {0, 0, 0, -1, -1, -1, -1, 0, -1};
    int word = 0;
    for (size_t k = 0; k < np; k++)
        if (p[k].kind == 2 && (phi__month(s + p[k].s, p[k].n) || weekday_word(s + p[k].s, p[k].n)))
            word = 1; /* a month, or a weekday as in "Tuesday the 14th" */
    if (word) {
        roles_words(s, p, np, &r);
    } else if (np >= 1 && p[0].kind == 1 && p[0].n >= 8) {
        char da[9];
        memcpy(da, s + p[0].s, 8);
        da[8] = '\0';
        char sh[9];
        if (ms_da_shift(da, 8, days, sh, err) != MS_OK)
            return err ? err->code : MS_E_FORMAT;
        if (ms_buf_append(out, s, p[0].s, err) != MS_OK || ms_buf_append(out, sh, 8, err) != MS_OK)
            return MS_E_NOMEM;
        return ms_buf_append(out, s + p[0].s + 8, n - p[0].s - 8, err);
    } else if (roles_numeric(p, np, &r) != 0) {
        return ms_fail(err, MS_E_FORMAT, "phi: date of %zu bytes not understood", n);
    }
    /* "Tuesday the 14th": no month; shift the day within a fixed reference month */
    int y = r.iy >= 0 ? r.y : (r.m == 2 && r.d == 29 ? 2000 : 2001);
    int m = r.im >= 0 ? r.m : 1, d = r.id >= 0 ? r.d : 15;
    long dd;
    if (ms_date_to_days(y, m, d, &dd) != MS_OK)
        return ms_fail(err, MS_E_FORMAT, "phi: date of %zu bytes not a calendar date", n);
    dd += days;
    int ny, nm, nd;
    ms_days_to_date(dd, &ny, &nm, &nd);
    return emit(s, n, p, np, &r, ny, nm, nd, dd, out, err);
}

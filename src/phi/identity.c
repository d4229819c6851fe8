/*
 * Identity-aware scrubbing: the known identity of the patient (phi_identity) is normalised once
 * per context (lower-case name tokens and initials, place and address phrases, identifiers with
 * and without their alphabetic prefix, phone/SSN digit strings, e-mail, birth date) and every
 * variant found in a text is marked with certainty, whatever the general detectors think.
 * Trusts: nothing in the text or the identity strings (lengths are capped). Owns: the normalised
 * copies in *ctx->id, allocated only for a context with an identity (ms_malloc, wiped on free).
 */
#define _DEFAULT_SOURCE
#include <string.h>

#include "internal.h"

#define ID_STR_MAX 256
/* Identity words and phrases are certain, but an e-mail or URL pattern around them names the
 * class of the whole span better ("benedikt.lindqvist@..." is an e-mail). */
#define ID_WORD_PRIO 80

static int alnum_b(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c >= 0x80;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* The code of the failure err holds (out of memory, or an identity over its limit). */
#define IDRC(err) ((err) != NULL && (err)->code != MS_OK ? (err)->code : MS_E_NOMEM)

static ms_rc push(phi_ctx *ctx, struct istr *arr, size_t *n, const char *s, size_t len,
                  phi_class cls, ms_err *err)
{
    if (len == 0)
        return MS_OK;
    for (size_t k = 0; k < *n; k++)
        if (arr[k].n == len && memcmp(arr[k].s, s, len) == 0)
            return MS_OK;
    if (*n >= IDN_MAX) /* refused, never truncated: a dropped variant would leak */
        return ms_fail(err, MS_E_LIMIT,
                       "phi: identity over %d parts in one list (site-wide names and places "
                       "belong in site lists)",
                       IDN_MAX);
    char *p = ms_malloc(ctx->alloc, len + 1);
    if (p == NULL)
        return ms_fail(err, MS_E_NOMEM, "phi: out of memory (identity)");
    for (size_t k = 0; k < len; k++)
        p[k] = lower(s[k]);
    p[len] = '\0';
    arr[*n] = (struct istr){p, len, (uint8_t)cls};
    (*n)++;
    return MS_OK;
}

/* Splits a name into tokens (on anything not a letter/digit) and records each. */
static ms_rc add_name(phi_ctx *ctx, const char *s, ms_err *err)
{
    struct ident *id = ctx->id;
    size_t n = s ? strnlen(s, ID_STR_MAX) : 0, i = 0;
    while (i < n) {
        while (i < n && !alnum_b((unsigned char)s[i]))
            i++;
        size_t j = i;
        while (j < n && alnum_b((unsigned char)s[j]))
            j++;
        if (j > i) {
            if (j - i >= 2 && push(ctx, id->words, &id->nwords, s + i, j - i, PHI_NAME, err))
                return IDRC(err);
            size_t ni = strlen(id->initials);
            if (ni + 1 < sizeof id->initials && memchr(id->initials, lower(s[i]), ni) == NULL)
                id->initials[ni] = lower(s[i]);
        }
        i = j;
    }
    return MS_OK;
}

/* Lower-case tokens joined by single spaces. */
static ms_rc add_phrase(phi_ctx *ctx, const char *s, size_t n, phi_class cls, ms_err *err)
{
    char buf[ID_STR_MAX + 1];
    size_t o = 0, i = 0;
    while (i < n) {
        while (i < n && !alnum_b((unsigned char)s[i]))
            i++;
        size_t j = i;
        while (j < n && alnum_b((unsigned char)s[j]))
            j++;
        if (j > i) {
            if (o > 0)
                buf[o++] = ' ';
            for (size_t k = i; k < j && o < ID_STR_MAX; k++)
                buf[o++] = s[k];
        }
        i = j;
    }
    ms_rc rc = push(ctx, ctx->id->phrases, &ctx->id->nphrases, buf, o, cls, err);
    ms_memzero(buf, sizeof buf);
    return rc;
}

/* An identifier: its alphanumerics, and its longest digit run when that has >= 4 digits. */
static ms_rc add_id(phi_ctx *ctx, const char *s, phi_class cls, ms_err *err)
{
    char buf[ID_STR_MAX];
    size_t n = s ? strnlen(s, ID_STR_MAX) : 0, o = 0, best = 0, bs = 0, run = 0;
    for (size_t i = 0; i < n; i++) {
        if (!alnum_b((unsigned char)s[i]))
            continue;
        buf[o++] = s[i];
    }
    for (size_t i = 0; i < o; i++) {
        run = (buf[i] >= '0' && buf[i] <= '9') ? run + 1 : 0;
        if (run > best) {
            best = run;
            bs = i + 1 - run;
        }
    }
    ms_rc rc = MS_OK;
    if (o >= 3)
        rc = push(ctx, ctx->id->ids, &ctx->id->nids, buf, o, cls, err);
    if (rc == MS_OK && best >= 4 && best < o)
        rc = push(ctx, ctx->id->ids, &ctx->id->nids, buf + bs, best, cls, err);
    ms_memzero(buf, sizeof buf);
    return rc;
}

static ms_rc add_digits(phi_ctx *ctx, const char *s, phi_class cls, ms_err *err)
{
    char buf[ID_STR_MAX];
    size_t n = s ? strnlen(s, ID_STR_MAX) : 0, o = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] >= '0' && s[i] <= '9')
            buf[o++] = s[i];
    ms_rc rc = MS_OK;
    if (o >= 7)
        rc = push(ctx, ctx->id->digits, &ctx->id->ndigits, buf, o, cls, err);
    if (rc == MS_OK && o == 11 && buf[0] == '1')
        rc = push(ctx, ctx->id->digits, &ctx->id->ndigits, buf + 1, 10, cls, err);
    ms_memzero(buf, sizeof buf);
    return rc;
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return n > 0;
}

/* "1637 Old Mill Way, Fort Wexley, TX 75243": street, city, ZIP. */
static ms_rc add_address(phi_ctx *ctx, const char *s, ms_err *err)
{
    size_t n = s ? strnlen(s, ID_STR_MAX) : 0, i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != ',' && s[j] != '\n')
            j++;
        const char *p = s + i;
        size_t len = j - i;
        while (len > 0 && (*p == ' '))
            p++, len--;
        /* a trailing "ST 12345" part: keep only the ZIP */
        size_t k = len;
        while (k > 0 && p[k - 1] != ' ')
            k--;
        if (k > 0 && all_digits(p + k, len - k) && len - k >= 5) {
            char z[16] = {0};
            memcpy(z, p + k, (len - k) < 15 ? (len - k) : 15);
            if (add_id(ctx, z, PHI_ZIP, err) != MS_OK)
                return IDRC(err);
            if (k <= 4) { /* "TX 75243": the state alone is not PHI */
                i = j + 1;
                continue;
            }
            len = k;
        }
        phi_class cls = (len > 0 && p[0] >= '0' && p[0] <= '9') ? PHI_ADDRESS : PHI_LOCATION;
        if (len > 2 && add_phrase(ctx, p, len, cls, err) != MS_OK)
            return IDRC(err);
        if (cls == PHI_ADDRESS) { /* the street without its number: "Old Mill Way" */
            size_t q = 0;
            while (q < len && p[q] != ' ')
                q++;
            if (q + 3 < len && memchr(p + q + 1, ' ', len - q - 1) != NULL &&
                add_phrase(ctx, p + q + 1, len - q - 1, PHI_ADDRESS, err) != MS_OK)
                return IDRC(err);
        }
        i = j + 1;
    }
    return MS_OK;
}

static int parse_da(const char *s, int *y, int *m, int *d)
{
    if (s == NULL || strnlen(s, 9) < 8 || !all_digits(s, 8))
        return -1;
    *y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    *m = (s[4] - '0') * 10 + (s[5] - '0');
    *d = (s[6] - '0') * 10 + (s[7] - '0');
    long days;
    return ms_date_to_days(*y, *m, *d, &days) == MS_OK ? 0 : -1;
}

static int present(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static ms_rc build_lists(phi_ctx *ctx, const phi_identity *idn, ms_err *err)
{
    for (size_t k = 0; k < PHI_ID_MAX; k++) {
        if (present(idn->names[k]) && add_name(ctx, idn->names[k], err) != MS_OK)
            return IDRC(err);
        if (present(idn->places[k]) && strchr(idn->places[k], ',') != NULL) {
            if (add_address(ctx, idn->places[k], err) != MS_OK) /* an address: its parts */
                return IDRC(err);
        } else if (present(idn->places[k]) &&
                   add_phrase(ctx, idn->places[k], strnlen(idn->places[k], ID_STR_MAX),
                              PHI_LOCATION, err) != MS_OK) {
            return IDRC(err);
        }
        if (present(idn->phones[k]) && add_digits(ctx, idn->phones[k], PHI_PHONE, err) != MS_OK)
            return IDRC(err);
        if (present(idn->accessions[k]) && add_id(ctx, idn->accessions[k], PHI_ACCOUNT, err))
            return IDRC(err);
        if (present(idn->other_ids[k]) && add_id(ctx, idn->other_ids[k], PHI_ID, err))
            return IDRC(err);
    }
    return MS_OK;
}

ms_rc phi__ident_build(phi_ctx *ctx, const phi_identity *idn, ms_err *err)
{
    struct ident *id = ms_malloc(ctx->alloc, sizeof *id);
    if (id == NULL)
        return ms_fail(err, MS_E_NOMEM, "phi: out of memory (identity)");
    memset(id, 0, sizeof *id);
    ctx->id = id;
    const char *names[] = {idn->family, idn->given, idn->middle, idn->dicom_name};
    for (size_t k = 0; k < 4; k++) {
        if (!present(names[k]))
            continue;
        if (add_name(ctx, names[k], err) != MS_OK)
            return IDRC(err);
        /* the detectors read a non-ASCII text in its normalised view (norm.c): `José` there
         * reads `Jose`, so the identity holds that form as well */
        size_t nn = strnlen(names[k], ID_STR_MAX);
        if (phi__has_nonascii(names[k], nn)) {
            char *f = NULL;
            ms_rc rc = phi__norm_str(ctx->alloc, names[k], nn, &f, err);
            if (rc == MS_OK && f != NULL)
                rc = add_name(ctx, f, err);
            ms_free(ctx->alloc, f);
            if (rc != MS_OK)
                return IDRC(err);
        }
    }
    if (present(idn->patient_id) && add_id(ctx, idn->patient_id, PHI_MRN, err) != MS_OK)
        return IDRC(err);
    if (present(idn->ssn) && add_digits(ctx, idn->ssn, PHI_SSN, err) != MS_OK)
        return IDRC(err);
    if (present(idn->zip) && add_id(ctx, idn->zip, PHI_ZIP, err) != MS_OK)
        return IDRC(err);
    const char *ph[] = {idn->street, idn->city};
    phi_class pc[] = {PHI_ADDRESS, PHI_LOCATION};
    for (size_t k = 0; k < 2; k++)
        if (present(ph[k]) &&
            add_phrase(ctx, ph[k], strnlen(ph[k], ID_STR_MAX), pc[k], err) != MS_OK)
            return IDRC(err);
    if (present(idn->address) && add_address(ctx, idn->address, err) != MS_OK)
        return IDRC(err);
    if (build_lists(ctx, idn, err) != MS_OK)
        return IDRC(err);
    if (present(idn->email)) {
        size_t n = strnlen(idn->email, ID_STR_MAX);
        id->email = ms_malloc(ctx->alloc, n + 1);
        if (id->email == NULL)
            return ms_fail(err, MS_E_NOMEM, "phi: out of memory (identity)");
        for (size_t k = 0; k < n; k++)
            id->email[k] = lower(idn->email[k]);
        id->email_n = n;
    }
    if (parse_da(idn->birth_date, &id->by, &id->bm, &id->bd) != 0)
        id->by = id->bm = id->bd = 0;
    ctx->has_id = 1;
    return MS_OK;
}

void phi__ident_free(phi_ctx *ctx)
{
    struct ident *id = ctx->id;
    if (id == NULL)
        return;
    struct istr *arrs[] = {id->words, id->phrases, id->ids, id->digits};
    size_t ns[] = {id->nwords, id->nphrases, id->nids, id->ndigits};
    for (size_t a = 0; a < 4; a++)
        for (size_t k = 0; k < ns[a]; k++)
            ms_free(ctx->alloc, arrs[a][k].s);
    ms_free(ctx->alloc, id->email);
    ms_memzero(id, sizeof *id);
    ms_free(ctx->alloc, id);
    ctx->id = NULL;
}

/* ---- matching -------------------------------------------------------------------------------- */

static int tok_is(const struct scan *sc, size_t i, const struct istr *w)
{
    if (phi__tok_len(sc, i) != w->n)
        return 0;
    const char *p = sc->t + sc->tk[i].s;
    for (size_t k = 0; k < w->n; k++)
        if (lower(p[k]) != w->s[k])
            return 0;
    return 1;
}

static int name_tok(const struct scan *sc, size_t i)
{
    const struct ident *id = sc->ctx->id;
    if (i >= sc->ntk || sc->tk[i].kind == TK_PUNCT)
        return 0;
    for (size_t k = 0; k < id->nwords; k++)
        if (tok_is(sc, i, &id->words[k]))
            return 1;
    return 0;
}

static int initial_tok(const struct scan *sc, size_t i)
{
    if (i >= sc->ntk || sc->tk[i].kind != TK_WORD || phi__tok_len(sc, i) != 1)
        return 0;
    return strchr(sc->ctx->id->initials, lower(sc->t[sc->tk[i].s])) != NULL &&
           sc->ctx->id->initials[0] != '\0';
}

/* The nearest non-punctuation token before / after i on the same line. */
static size_t near_tok(const struct scan *sc, size_t i, int dir)
{
    size_t j = i;
    for (int k = 0; k < 3; k++) {
        if (dir < 0 ? j == 0 : j + 1 >= sc->ntk)
            return SIZE_MAX;
        j = dir < 0 ? j - 1 : j + 1;
        if ((sc->tk[dir < 0 ? j + 1 : j].fl & TF_NL))
            return SIZE_MAX;
        if (sc->tk[j].kind != TK_PUNCT)
            return j;
    }
    return SIZE_MAX;
}

static void names(struct scan *sc)
{
    for (size_t i = 0; i < sc->ntk; i++) {
        if (name_tok(sc, i)) {
            phi__add(sc, sc->tk[i].s, sc->tk[i].e, PHI_NAME, PHI_SRC_IDENTITY, ID_WORD_PRIO, 0);
            continue;
        }
        if (!initial_tok(sc, i))
            continue;
        size_t a = near_tok(sc, i, -1), b = near_tok(sc, i, 1);
        if ((a != SIZE_MAX && name_tok(sc, a)) || (b != SIZE_MAX && name_tok(sc, b))) {
            size_t e = sc->tk[i].e;
            if (phi__tok_eqc(sc, i + 1, '.') && phi__tok_adjacent(sc, i + 1))
                e = sc->tk[i + 1].e;
            phi__add(sc, sc->tk[i].s, e, PHI_NAME, PHI_SRC_IDENTITY, ID_WORD_PRIO, 0);
        }
    }
}

/* Does the token sequence at i spell phrase w (tokens separated by single spaces)? */
static size_t phrase_at(const struct scan *sc, size_t i, const struct istr *w)
{
    size_t pos = 0, j = i;
    while (pos < w->n) {
        while (j < sc->ntk && sc->tk[j].kind == TK_PUNCT)
            j++;
        if (j >= sc->ntk)
            return 0;
        size_t len = phi__tok_len(sc, j);
        if (pos + len > w->n)
            return 0;
        const char *p = sc->t + sc->tk[j].s;
        for (size_t k = 0; k < len; k++)
            if (lower(p[k]) != w->s[pos + k])
                return 0;
        pos += len;
        if (pos < w->n) {
            if (w->s[pos] != ' ')
                return 0;
            pos++;
        }
        j++;
    }
    return j;
}

static void phrases(struct scan *sc)
{
    const struct ident *id = sc->ctx->id;
    for (size_t i = 0; i < sc->ntk; i++) {
        if (sc->tk[i].kind == TK_PUNCT)
            continue;
        char c0 = lower(sc->t[sc->tk[i].s]);
        for (size_t k = 0; k < id->nphrases; k++) {
            if (id->phrases[k].s[0] != c0)
                continue;
            size_t e = phrase_at(sc, i, &id->phrases[k]);
            if (e > i)
                phi__add(sc, sc->tk[i].s, sc->tk[e - 1].e, (phi_class)id->phrases[k].cls,
                         PHI_SRC_IDENTITY, ID_WORD_PRIO, 0);
        }
    }
}

/* Identifiers: the alphanumerics of adjacent tokens joined by - / . _ (or one token). */
static void idents(struct scan *sc)
{
    const struct ident *id = sc->ctx->id;
    char buf[ID_STR_MAX];
    for (size_t i = 0; i < sc->ntk; i++) {
        if (sc->tk[i].kind == TK_PUNCT)
            continue;
        size_t o = 0, j = i;
        for (;;) {
            size_t len = phi__tok_len(sc, j);
            if (o + len > sizeof buf)
                break;
            for (size_t k = 0; k < len; k++)
                buf[o++] = lower(sc->t[sc->tk[j].s + k]);
            for (size_t k = 0; k < id->nids; k++)
                if (id->ids[k].n == o && memcmp(id->ids[k].s, buf, o) == 0)
                    phi__add(sc, sc->tk[i].s, sc->tk[j].e, (phi_class)id->ids[k].cls,
                             PHI_SRC_IDENTITY, 100, 0);
            if (!(j + 2 < sc->ntk && phi__tok_adjacent(sc, j + 1) && phi__tok_adjacent(sc, j + 2) &&
                  sc->tk[j + 1].kind == TK_PUNCT && strchr("-/._", sc->t[sc->tk[j + 1].s]) &&
                  sc->tk[j + 2].kind != TK_PUNCT))
                break;
            j += 2;
        }
    }
    ms_memzero(buf, sizeof buf);
}

/* Phone / SSN digits in any layout: number groups joined by separators on one line. */
static void digit_strings(struct scan *sc)
{
    const struct ident *id = sc->ctx->id;
    char buf[24];
    for (size_t i = 0; i < sc->ntk; i++) {
        if (sc->tk[i].kind != TK_NUM)
            continue;
        size_t s = i;
        if (i > 0 && (phi__tok_eqc(sc, i - 1, '(') || phi__tok_eqc(sc, i - 1, '+')))
            s = i - 1;
        size_t o = 0, j = i;
        while (j < sc->ntk) {
            if (sc->tk[j].kind == TK_NUM) {
                size_t len = phi__tok_len(sc, j);
                if (o + len > sizeof buf)
                    break;
                memcpy(buf + o, sc->t + sc->tk[j].s, len);
                o += len;
                for (size_t k = 0; k < id->ndigits; k++)
                    if (id->digits[k].n == o && memcmp(id->digits[k].s, buf, o) == 0)
                        phi__add(sc, sc->tk[s].s, sc->tk[j].e, (phi_class)id->digits[k].cls,
                                 PHI_SRC_IDENTITY, 100, 0);
            } else if (!(sc->tk[j].kind == TK_PUNCT && strchr("-.()/ ", sc->t[sc->tk[j].s]))) {
                break;
            }
            j++;
            if (j < sc->ntk && (sc->tk[j].fl & TF_NL))
                break;
        }
    }
    ms_memzero(buf, sizeof buf);
}

static void email(struct scan *sc)
{
    const struct ident *id = sc->ctx->id;
    if (id->email_n == 0)
        return;
    for (size_t i = 0; i + id->email_n <= sc->n; i++) {
        if (lower(sc->t[i]) != id->email[0])
            continue;
        size_t k = 1;
        while (k < id->email_n && lower(sc->t[i + k]) == id->email[k])
            k++;
        if (k == id->email_n)
            phi__add(sc, i, i + k, PHI_EMAIL, PHI_SRC_IDENTITY, 100, 0);
    }
}

/* The birth date: every detected date equal to it becomes an identity hit; "02/16" too. */
static void birth(struct scan *sc)
{
    const struct ident *id = sc->ctx->id;
    if (id->bm == 0)
        return;
    size_t nc = sc->nc;
    for (size_t k = 0; k < nc; k++) {
        struct cand *c = &sc->c[k];
        struct pdate pd;
        if (c->cls == PHI_DATE && phi__date_parse(sc->t + c->s, c->e - c->s, &pd) == 0 &&
            pd.m == id->bm && pd.d == id->bd && (pd.y == 0 || pd.y == id->by)) {
            c->src = PHI_SRC_IDENTITY;
            c->prio = 100;
        }
    }
    for (size_t i = 0; i + 2 < sc->ntk; i++) {
        long a = phi__tok_num(sc, i), b = phi__tok_num(sc, i + 2);
        if (phi__tok_eqc(sc, i + 1, '/') &&
            ((a == id->bm && b == id->bd) || (a == id->bd && b == id->bm)) &&
            phi__tok_adjacent(sc, i + 1) && phi__tok_adjacent(sc, i + 2))
            phi__add(sc, sc->tk[i].s, sc->tk[i + 2].e, PHI_DATE, PHI_SRC_IDENTITY, 100, 0);
    }
}

void phi__detect_identity(struct scan *sc)
{
    if (!sc->ctx->has_id)
        return;
    names(sc);
    phrases(sc);
    idents(sc);
    digit_strings(sc);
    email(sc);
    birth(sc);
}

/*
 * Byte-level detectors for identifiers that span several tokens: e-mail addresses, URLs (with a
 * scheme, "www." or a bare domain with a known top-level domain), IPv4/IPv6 addresses and
 * dotted-decimal object identifiers (DICOM UIDs).
 * Trusts: nothing; every index is compared with the text length.
 * Owns: nothing (appends candidates to the scan).
 */
#include <string.h>
#include <strings.h>

#include "internal.h"

static int alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static int local_ch(unsigned char c)
{
    return alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static int host_ch(unsigned char c)
{
    return alnum(c) || c == '.' || c == '-';
}

static int url_ch(unsigned char c)
{
    return c > 0x20 && c < 0x7F && c != '"' && c != '<' && c != '>' && c != '\'' && c != ')' &&
           c != ']' && c != '}' && c != '|' && c != '\\' && c != '^' && c != '`';
}

/* Trims trailing sentence punctuation from [s, e). */
static size_t trim_end(const char *t, size_t s, size_t e)
{
    while (e > s && phi__in(t[e - 1], ".,;:!?-"))
        e--;
    return e;
}

static void emails(struct scan *sc)
{
    const unsigned char *t = (const unsigned char *)sc->t;
    const char *p = sc->t;
    size_t n = sc->n;
    while ((p = memchr(p, '@', (size_t)(sc->t + n - p))) != NULL) {
        size_t at = (size_t)(p - sc->t), s = at, e = at + 1;
        p++;
        while (s > 0 && local_ch(t[s - 1]))
            s--;
        while (e < n && host_ch(t[e]))
            e++;
        e = trim_end(sc->t, at + 1, e);
        if (s == at || e <= at + 1)
            continue;
        const char *dot = memchr(sc->t + at + 1, '.', e - at - 1);
        if (dot == NULL || (size_t)(dot - sc->t) + 1 >= e)
            continue;
        phi__add(sc, s, e, PHI_EMAIL, PHI_SRC_PATTERN, 95, 0);
    }
}

static int tld_ok(const char *s, size_t n)
{
    static const char *const tlds[] = {
        "com", "org",    "net",  "edu", "gov", "mil",  "int",     "io",  "info", "biz",
        "us",  "uk",     "ca",   "de",  "fr",  "es",   "it",      "nl",  "au",   "co",
        "me",  "health", "care", "ly",  "ai",  "app",  "dev",     "eu",  "ch",   "se",
        "no",  "jp",     "cn",   "in",  "br",  "mx",   "ru",      "be",  "at",   "dk",
        "fi",  "ie",     "nz",   "pl",  "pt",  "test", "example", "cat", "gal",  "site"};
    for (size_t k = 0; k < sizeof tlds / sizeof tlds[0]; k++)
        if (strlen(tlds[k]) == n && strncmp(tlds[k], s, n) == 0)
            return 1;
    return 0;
}

/* A URL starting at i: scheme://..., www...., or a bare domain "name.tld[/path]". */
static size_t url_at(const struct scan *sc, size_t i)
{
    const unsigned char *t = (const unsigned char *)sc->t;
    size_t n = sc->n, e = i;
    static const char *const schemes[] = {"https://", "http://", "ftp://", "www."};
    char c0 = (char)(t[i] | 0x20);
    for (size_t k = 0; k < 4 && (c0 == 'h' || c0 == 'f' || c0 == 'w'); k++) {
        size_t len = strlen(schemes[k]);
        if (n - i >= len && strncasecmp(sc->t + i, schemes[k], len) == 0) {
            e = i + len;
            while (e < n && url_ch(t[e]))
                e++;
            e = trim_end(sc->t, i, e);
            return e > i + len ? e : 0;
        }
    }
    /* bare domain: labels of letters/digits/-, the last a known TLD, lower case */
    size_t lastdot = 0, dots = 0;
    while (e < n && host_ch(t[e])) {
        if (t[e] == '.') {
            lastdot = e;
            dots++;
        }
        e++;
    }
    e = trim_end(sc->t, i, e);
    if (dots == 0 || lastdot + 1 >= e || lastdot == i)
        return 0;
    size_t tl = e - lastdot - 1;
    char low[8];
    if (tl < 2 || tl >= sizeof low)
        return 0;
    for (size_t k = 0; k < tl; k++) {
        unsigned char c = t[lastdot + 1 + k];
        if (c < 'a' || c > 'z')
            return 0; /* "e.G", "St.Mary": not a domain */
        low[k] = (char)c;
    }
    if (!tld_ok(low, tl) || t[lastdot - 1] == '.')
        return 0;
    /* "afebrile.no", "events.pt", "started.in": a two-letter country domain glued to a word is
     * far more often a missing space in a note; it needs a second dot or a path */
    if (tl == 2 && dots == 1 && !(e < n && t[e] == '/'))
        return 0;
    while (e < n && t[e] == '/') {
        e++;
        while (e < n && url_ch(t[e]))
            e++;
        e = trim_end(sc->t, i, e);
    }
    return e;
}

/* A URL starting at token k (not inside a word, an e-mail or another URL). */
static void url_tok(struct scan *sc, size_t k, size_t *last)
{
    const unsigned char *t = (const unsigned char *)sc->t;
    const struct tok *tk = &sc->tk[k];
    if (tk->s < *last || (k > 0 && phi__tok_adjacent(sc, k) &&
                          (t[tk->s - 1] == '@' || t[tk->s - 1] == '.' || t[tk->s - 1] == '/' ||
                           alnum(t[tk->s - 1]))))
        return;
    size_t e = url_at(sc, tk->s);
    if (e == 0 || (e < sc->n && t[e] == '@'))
        return; /* nothing, or the host of an e-mail address */
    phi__add(sc, tk->s, e, PHI_URL, PHI_SRC_PATTERN, 90, 0);
    *last = e;
}

/* Dotted numbers from number token k: 4 parts <= 255 is an IPv4 address; >= 4 parts and >= 10
 * bytes an OID/UID. */
static void dotted_tok(struct scan *sc, size_t k, size_t *last)
{
    const unsigned char *t = (const unsigned char *)sc->t;
    size_t n = sc->n, i = sc->tk[k].s;
    if (i < *last || sc->tk[k].e + 1 >= n ||
        !(t[sc->tk[k].e + 1] >= '0' && t[sc->tk[k].e + 1] <= '9') ||
        (i > 0 && (alnum(t[i - 1]) || t[i - 1] == '.')))
        return;
    size_t e = i, parts = 1, maxv = 0, v = 0, plen = 0, bad = 0;
    while (e < n && ((t[e] >= '0' && t[e] <= '9') ||
                     (t[e] == '.' && e + 1 < n && t[e + 1] >= '0' && t[e + 1] <= '9'))) {
        if (t[e] == '.') {
            parts++;
            v = 0;
            plen = 0;
        } else {
            v = v * 10 + (size_t)(t[e] - '0');
            if (++plen > 3)
                bad = 1;
            if (v > maxv && plen <= 3)
                maxv = v;
        }
        e++;
    }
    *last = e;
    if (e < n && alnum(t[e]))
        return;
    if (parts == 4 && !bad && maxv <= 255)
        phi__add(sc, i, e, PHI_IP, PHI_SRC_PATTERN, 88, 0);
    else if (parts >= 4 && e - i >= 10)
        phi__add(sc, i, e, PHI_ID, PHI_SRC_PATTERN, 60, 0);
}

static int hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* IPv6 from token k (hex digits before ':' or a leading "::"): hex groups and colons, at least
 * 5 colons or one "::", some hex digits. */
static void ipv6_tok(struct scan *sc, size_t k, size_t *last)
{
    const unsigned char *t = (const unsigned char *)sc->t;
    size_t n = sc->n, i = sc->tk[k].s, te = sc->tk[k].e;
    int lead = sc->tk[k].kind != TK_PUNCT && te < n && t[te] == ':';
    int dbl = t[i] == ':' && i + 1 < n && t[i + 1] == ':';
    if (i < *last || !(lead || dbl) || (i > 0 && (alnum(t[i - 1]) || t[i - 1] == ':')))
        return;
    if (lead)
        for (size_t q = i; q < te; q++)
            if (!hex(t[q]))
                lead = 0;
    if (!lead && !dbl)
        return;
    size_t e = i, colons = 0, run = 0, dbl2 = 0, bad = 0, digits = 0;
    while (e < n && (hex(t[e]) || t[e] == ':' || t[e] == '.')) {
        if (t[e] == ':') {
            colons++;
            if (e > i && t[e - 1] == ':')
                dbl2++;
            run = 0;
        } else if (t[e] != '.') {
            if (++run > 4)
                bad = 1;
            digits++;
        }
        e++;
    }
    if (e < n && alnum(t[e]))
        bad = 1;
    while (e > i && (t[e - 1] == '.' || (t[e - 1] == ':' && !(e >= 2 && t[e - 2] == ':'))))
        e--;
    if (!bad && digits >= 2 && dbl2 <= 1 && (colons >= 5 || (dbl2 == 1 && colons >= 2)))
        phi__add(sc, i, e, PHI_IP, PHI_SRC_PATTERN, 88, 0);
    *last = e > i ? e : i + 1;
}

/* One pass over the tokens: only a token followed by '.' or ':' can start a URL, a dotted
 * number or an IPv6 address. */
void phi__detect_bytes(struct scan *sc)
{
    const unsigned char *t = (const unsigned char *)sc->t;
    if (memchr(sc->t, '@', sc->n) != NULL)
        emails(sc);
    size_t ul = 0, dl = 0, vl = 0;
    for (size_t q = 0; q < sc->nix_dot; q++) {
        size_t k = sc->ix_dot[q];
        const struct tok *tk = &sc->tk[k];
        if (!(tk->fl & TF_DOTNX)) /* every case below has '.' or ':' after the token */
            continue;
        unsigned char nc = t[tk->e];
        if (tk->kind == TK_PUNCT) {
            if (nc == ':' && t[tk->s] == ':')
                ipv6_tok(sc, k, &vl);
            continue;
        }
        if (nc != '.' && nc != ':')
            continue;
        if (nc == '.' && tk->kind == TK_NUM)
            dotted_tok(sc, k, &dl);
        if (nc == ':')
            ipv6_tok(sc, k, &vl);
        /* a URL starts with a scheme or "www." (h, f, w), or is a domain: '.' then a host
         * character ("word. Next" is most of the calls otherwise) */
        unsigned char c0 = (unsigned char)(t[tk->s] | 0x20);
        if (c0 == 'h' || c0 == 'f' || c0 == 'w' ||
            (nc == '.' && tk->e + 1 < sc->n && host_ch(t[tk->e + 1])))
            url_tok(sc, k, &ul);
    }
}

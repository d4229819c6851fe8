/*
 * src/phi internals shared by its files: the context, the tokenizer's tokens, detection
 * candidates and the surrogate map. Not part of the public API (include/medseal/phi.h).
 * Trusts: nothing in the text; every index is checked against the token count / text length.
 * Owns: see each struct.
 */
#ifndef MEDSEAL_PHI_INTERNAL_H
#define MEDSEAL_PHI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/types.h>

#include "dict.h"
#include "medseal/phi.h"

/* ---- tokens ---------------------------------------------------------------------------------- */

enum { TK_WORD = 1, TK_NUM, TK_ALNUM, TK_PUNCT };

#define TF_CAP    0x01u /* first letter upper case */
#define TF_ALLCAP 0x02u /* every letter upper case (and at least one letter) */
#define TF_SP     0x04u /* whitespace before the token */
#define TF_NL     0x08u /* a line break before the token */
#define TF_ASCII  0x10u /* only ASCII bytes */
#define TF_SENT   0x20u /* first token of a sentence / line */
#define TF_DOTNX  0x40u /* the byte after the token is '.' or ':' (URL, IP, UID candidates) */

#define IX_NAME 0x01u /* struct scan's ix_name */
#define IX_ND   0x02u /* ix_nd */
#define IX_DOT  0x04u /* ix_dot */

/* Keyword lists (keywords.c): a token's `kw` has bit KW_x set when it is in list x. */
enum {
    KW_MEDNOUN = 0,
    KW_NOTNAME = 1,
    KW_TITLE_CLIN = 2,
    KW_TITLE_LAY = 3,
    KW_CUE = 4,
    KW_CLINCUE = 5,
    KW_POSTNOM = 6,
    KW_FACILITY = 7,
    KW_PLACEJOIN = 8,
    KW_SAINT = 9,
    KW_PREP = 10,
    KW_REGION = 11,
    KW_PHONE = 12,
    KW_FAX = 13,
    KW_SSNW = 14,
    KW_STATE = 15,
    KW_STATENAME = 16,
    KW_ZIPW = 17,
    KW_AGE_AFTER = 18,
    KW_AGE_BEFORE = 19,
    KW_DIRECTION = 20,
    KW_UNIT = 21,
    KW_UNIT_ALONE = 22,
    KW_WEEKDAY = 23,
    KW_DATECTX = 24,
    KW_RELATIVE = 25,
    KW_FILLER = 26,
    KW_TRIGGER = 27, /* words that start a P.O. box, unit or address */
    KW_MONTH = 28,
    KW_CLINNUM = 29, /* vitals, vent, lab and drip words: the numbers after them are notation */
    KW_GENERIC = 30, /* hospital units and services: "Intensive Care Unit", "Tumor Board" */
    KW_LABEL = 31,
    KW_COUNT
};

struct kwent {
    const char *w;  /* static */
    uint64_t ck[2]; /* w zero-padded to 16 bytes, when n < 16 (see phi__kw_lookup_c) */
    uint32_t hash;  /* phi__whash(w, n): most probes are rejected without reading w */
    uint32_t bits;
    uint8_t n;
    uint8_t lab; /* phi_class + 1 of a label word, else 0 */
};

struct kwset {
    struct kwent *ent;
    size_t slots;
};

struct tok {
    uint32_t s, e; /* [s, e) in the text */
    uint8_t kind;  /* TK_* */
    uint8_t fl;    /* TF_* */
    uint16_t nd;   /* digits in the token */
    uint8_t lab;   /* label class + 1 (KW_LABEL) */
    uint8_t ch;    /* the token's first byte (in the padding: punctuation tests skip a load) */
    uint8_t ixm;   /* IX_*: the detector lists of phi__index it goes in (set by the tokenizer) */
    uint8_t nm;    /* NM_* class (bits 0-1) | NM_LETTER (set by the tokenizer) */
    uint32_t kw;   /* KW_* bits */
    int32_t de;    /* dictionary entry index, -1 none */
};

/* How name-like a token is on its own (detect_name.c's namey): computed once per token by the
 * tokenizer, which has the dictionary entry at hand, instead of at each of the name detector's
 * several looks at the token. */
enum { NM_NONE = 0, NM_UNKNOWN, NM_WEAK, NM_STRONG };
#define NM_LETTER 4u /* not a class: a capital letter alone (an initial, or "A", "I") */

/* ---- candidates ------------------------------------------------------------------------------ */

struct cand {
    size_t s, e;
    uint8_t cls;  /* phi_class */
    uint8_t src;  /* phi_source */
    uint8_t prio; /* wins class ties when spans overlap */
    uint8_t clin; /* a clinician's name (kept with keep_clinician_names) */
};

/* ---- identity (normalised copy, owned by the context) ---------------------------------------- */

struct istr {
    char *s; /* lower-case, owned */
    size_t n;
    uint8_t cls;
};

#define IDN_MAX 96

struct ident {
    struct istr words[IDN_MAX]; /* person-name tokens (lower case) */
    size_t nwords;
    char initials[IDN_MAX];       /* first letters of the name tokens (lower case) */
    struct istr phrases[IDN_MAX]; /* places / address parts: lower-case tokens joined by ' ' */
    size_t nphrases;
    struct istr ids[IDN_MAX]; /* ids: lower-case alphanumerics only; also digit cores */
    size_t nids;
    struct istr digits[IDN_MAX]; /* phones, SSN: digits only */
    size_t ndigits;
    char *email;
    size_t email_n;
    int by, bm, bd; /* birth date, 0 when absent */
};

/* ---- surrogate map --------------------------------------------------------------------------- */

struct mapent {
    uint8_t cls;
    char *real; /* owned, NUL-terminated */
    size_t rn;
    char *sur; /* owned, NUL-terminated */
    size_t sn;
};

struct map {
    struct mapent *ents;
    size_t n, cap;
    uint32_t *by_real; /* open addressing, index + 1 */
    uint32_t *by_sur;
    size_t slots;  /* power of two */
    size_t maxsur; /* longest surrogate */
};

/* What surrogate mode wrote for a span, by (class, exact bytes): once a value has been replaced,
 * its replacement never changes (surrogate.c), so a repeat is a copy. Not part of the map: the
 * map alone drives re-identification. Bytes: real then surrogate at off (ctx allocator, wiped). */
struct memoent {
    uint32_t h, off;
    uint16_t rn, sn;
    uint8_t cls;
};

struct memo {
    struct memoent *ents;
    size_t n, cap;
    uint32_t *slots; /* open addressing, index + 1 */
    size_t nslots;   /* power of two */
    char *bytes;
    size_t len, capb;
};

/* norm.c: one cached normalisation of a non-ASCII code point (0 = empty slot) */
#define PHI_NORM_CPMAX 32
#define PHI_NORM_CACHE_BITS 9
#define PHI_NORM_CACHE (1u << PHI_NORM_CACHE_BITS)
struct phi_normc {
    uint32_t cp; /* (code point << 1 | skeleton) + 1 */
    uint8_t n;
    uint8_t fl; /* NF_* (norm.c) */
    char b[10];
};

struct phi_ctx {
    ms_alloc *alloc;
    phi_mode mode;
    int keep_clin;
    int keep_zip3;
    size_t max_input;
    uint8_t key[MS_KEY_LEN];
    /* HMAC-SHA-256 under key, pads precomputed (surrogate mode; wiped on free); prf in
     * surrogate.c */
    ms_hmac_pre hm;
    int date_off;
    const phi_sitelists *site; /* borrowed, read-only, shared; NULL none */
    struct ident *id; /* NULL without an identity (9 KB: a context per request stays small) */
    int has_id;
    size_t counts[PHI_CLASS_COUNT];
    struct map map;
    struct memo memo;
    struct tok *tk; /* scratch arrays reused by every scrub (offsets only, no text) */
    size_t captk;
    struct cand *c;
    size_t capc;
    uint32_t *ix; /* the scan's token index lists (phi__index), reused like tk */
    size_t capix;
    /* norm.c: the normalised view of a non-ASCII window and its map to original offsets
     * (text derived from the input: ctx allocator, wiped on free), and the code point cache */
    char *nv;
    uint32_t *nvmap;
    size_t capnv;
    struct phi_normc *nvcache;
};

/* ---- one scrub call -------------------------------------------------------------------------- */

struct scan {
    phi_ctx *ctx;
    const char *t;
    size_t n;
    struct tok *tk;
    size_t ntk, captk;
    size_t fac_end; /* one past the last token holding a KW_FACILITY word, 0 = none */
    /* Token index lists (phi__index, increasing): each detector walks only the tokens that can
     * start one of its matches instead of every token (the per-token tests of four loops were
     * an eighth of the time). Supersets: a detector still checks each token it is given. */
    uint32_t *ix; /* ix_name, ix_nd and ix_dot in one allocation of 3 x ntk */
    size_t capix;
    const uint32_t *ix_name; /* words: capitalised, or before '^' (names and places) */
    size_t nix_name;
    const uint32_t *ix_nd; /* numbers, alphanumerics, '+', '(', month / weekday / relative /
                              trigger words, words before "-/._" (numbers and dates) */
    size_t nix_nd;
    const uint32_t *ix_dot; /* tokens followed by '.' or ':' (TF_DOTNX; URLs, IPs, UIDs) */
    size_t nix_dot;
    struct cand *c;
    size_t nc, capc;
    size_t base; /* offset of t in the caller's text (phi_scrub works in windows) */
    /* With a normalised view (norm.c), t/n are the view and ot/on the original window; om[i]
     * is the original offset of the code point that gave view byte i. om == NULL: no view. */
    const char *ot;
    size_t on;
    const uint32_t *om;
    ms_rc rc;    /* first failure (allocation) */
    ms_err *err;
};

/* text.c */
/* Tokens of the text; fails (MS_E_FORMAT, with the offset) on invalid UTF-8 or a NUL byte. */
ms_rc phi__tokenize(struct scan *sc);
ms_rc phi__index(struct scan *sc); /* the ix_* lists of the tokens */
static inline size_t phi__tok_len(const struct scan *sc, size_t i)
{
    return sc->tk[i].e - sc->tk[i].s;
}
/* Token i equals the lower-case literal `lit`, ASCII case-insensitively. Inline: with a literal,
 * strlen is a constant and most tokens are rejected on their length (it was a call per check). */
static inline int phi__tok_eq(const struct scan *sc, size_t i, const char *lit)
{
    if (i >= sc->ntk || phi__tok_len(sc, i) != strlen(lit))
        return 0;
    const char *p = sc->t + sc->tk[i].s;
    for (size_t k = 0; lit[k] != '\0'; k++) {
        char a = p[k];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a + 32);
        if (a != lit[k])
            return 0;
    }
    return 1;
}
/* strchr(set, c) != NULL (so also true for c == 0), unrolled for a literal set. */
static inline int phi__in(char c, const char *set)
{
    for (; *set != '\0'; set++)
        if (*set == c)
            return 1;
    return c == '\0';
}
/* Token i is the punctuation character c. */
static inline int phi__tok_eqc(const struct scan *sc, size_t i, char c)
{
    return i < sc->ntk && sc->tk[i].kind == TK_PUNCT && sc->tk[i].ch == (uint8_t)c;
}
/* No space between tokens i-1 and i. */
static inline int phi__tok_adjacent(const struct scan *sc, size_t i)
{
    return i > 0 && i < sc->ntk && sc->tk[i - 1].e == sc->tk[i].s;
}
static inline const struct phi__dict_ent *phi__tok_dict(const struct scan *sc, size_t i)
{
    if (i >= sc->ntk || sc->tk[i].de < 0)
        return NULL;
    return &phi__dict_ents[sc->tk[i].de];
}
long phi__tok_num(const struct scan *sc, size_t i); /* value of a TK_NUM (<= 9 digits) */
void phi__add(struct scan *sc, size_t s, size_t e, phi_class cls, phi_source src, int prio,
              int clin);
int phi__month(const char *s, size_t n); /* 1..12 from a month name / abbreviation, else 0 */

/* keywords.c */
void phi__kw_init(void); /* builds the shared keyword set once per process (thread-safe) */
/* Bit (hv >> 16) is set when a keyword has hash hv: most words are no keyword, and this 8 KiB
 * filter answers them inline without probing the 48 KiB table. Written only by phi__kw_init. */
extern uint64_t phi__kw_filter[1024];
static inline int phi__kw_maybe(uint32_t hv)
{
    return (phi__kw_filter[hv >> 22] >> ((hv >> 16) & 63u)) & 1u;
}
void phi__kw_lookup(const char *s, size_t n, uint32_t *bits, uint8_t *lab);
/* The same with hv = phi__whash(s, n) already computed. */
void phi__kw_lookup_h(const char *s, size_t n, uint32_t hv, uint32_t *bits, uint8_t *lab);
/* The same for an ASCII word of n < 16 bytes given as its folded bytes zero-padded to 16 (two
 * little-endian words, from the tokenizer): two compares instead of a byte loop. */
void phi__kw_lookup_c(size_t n, uint32_t hv, const uint64_t ck[2], uint32_t *bits, uint8_t *lab);
static inline int phi__kw(const struct scan *sc, size_t i, unsigned list)
{
    return i < sc->ntk && (sc->tk[i].kw & (1u << list)) != 0;
}

/* detect_*.c */
void phi__detect_bytes(struct scan *sc);   /* e-mail, URL, IP, UIDs */
void phi__detect_numbers(struct scan *sc); /* dates, phones, SSN, ids, ZIP, ages */
void phi__detect_dates(struct scan *sc);
void phi__detect_names(struct scan *sc); /* names and places */
void phi__detect_identity(struct scan *sc);
void phi__detect_site(struct scan *sc); /* site.c: staff roster and local places */

/* norm.c */
int phi__has_nonascii(const char *t, size_t n);
/* Replaces sc->t/n by the normalised view (keeping the original in ot/on/om); leaves the scan
 * as it is on invalid UTF-8 or a NUL byte (the tokenizer reports those). Fails on allocation. */
ms_rc phi__normalize(struct scan *sc);
/* The normalised form of s[0..n) in *out (NUL-terminated, allocated from a; NULL when s is not
 * UTF-8): identity strings are matched against the normalised view. Fails on allocation. */
ms_rc phi__norm_str(ms_alloc *a, const char *s, size_t n, char **out, ms_err *err);
/* View offsets [s, e) -> original window offsets. */
void phi__norm_span(const struct scan *sc, size_t s, size_t e, size_t *os, size_t *oe);

/* dates.c: parse a detected date span for shifting */
struct pdate {
    int y, m, d; /* y == 0: no year */
};
int phi__date_parse(const char *s, size_t n, struct pdate *pd);
ms_rc phi__date_shift(const char *s, size_t n, int days, ms_buf *out, ms_err *err);

/* identity.c */
ms_rc phi__ident_build(phi_ctx *ctx, const phi_identity *idn, ms_err *err);
void phi__ident_free(phi_ctx *ctx);

/* map.c / surrogate.c */
ms_rc phi__map_put(phi_ctx *ctx, phi_class cls, const char *real, size_t rn, const char *sur,
                   size_t sn, ms_err *err);
const struct mapent *phi__map_get(const phi_ctx *ctx, phi_class cls, const char *real, size_t rn);
int phi__map_sur_taken(const phi_ctx *ctx, const char *sur, size_t sn);
void phi__map_free(phi_ctx *ctx); /* and the memo */
void phi__prf_init(phi_ctx *ctx); /* sets ctx->hm from ctx->key */
void phi__prf_free(phi_ctx *ctx);
ms_rc phi__surrogate(phi_ctx *ctx, phi_class cls, const char *real, size_t rn, ms_buf *out,
                     ms_err *err);
uint32_t phi__fnv(const char *s, size_t n, int fold);
/* The hash of the keyword set and the dictionary (ASCII letters folded; text.c). */
uint32_t phi__whash(const char *s, size_t n);

#endif

/*
 * Text primitives of the scrubber: the one-pass tokenizer (words, numbers, mixed alphanumerics,
 * punctuation, with case and spacing flags; it also validates the UTF-8 and rejects NUL bytes,
 * so the text is read once), token helpers, candidate collection and the dictionary lookup.
 * Trusts: nothing in the text; token offsets are < 2^32 because input is capped far below.
 * Owns: the token and candidate arrays of a scan (ctx allocator), freed by the scrub driver.
 */
#include <string.h>
#if defined(__SSE2__) && defined(__x86_64__)
#include <emmintrin.h>
#endif

#include "internal.h"

static int cont(unsigned char c)
{
    return (c & 0xC0u) == 0x80u;
}

/* One UTF-8 sequence at s[i]; returns its length or 0 when invalid (RFC 3629: no overlongs, no
 * surrogates, <= U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t i)
{
    unsigned char c = s[i];
    size_t left = n - i;
    if (c >= 0xC2 && c <= 0xDF)
        return (left >= 2 && cont(s[i + 1])) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (left < 3 || !cont(s[i + 1]) || !cont(s[i + 2]))
            return 0;
        if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F))
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (left < 4 || !cont(s[i + 1]) || !cont(s[i + 2]) || !cont(s[i + 3]))
            return 0;
        if ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F))
            return 0;
        return 4;
    }
    return 0;
}

/* Character classes for the tokenizer: 1 letter, 2 digit, 3 space, 4 newline, 0 other. */
static const uint8_t *cls_table(void)
{
    static const uint8_t tab[256] = {
        ['\t'] = 3, ['\n'] = 4, ['\v'] = 3, ['\f'] = 3, ['\r'] = 4, [' '] = 3, ['0'] = 2, ['1'] = 2,
        ['2'] = 2,  ['3'] = 2,  ['4'] = 2,  ['5'] = 2,  ['6'] = 2,  ['7'] = 2, ['8'] = 2, ['9'] = 2,
#define L(c) [c] = 1
        L('A'),     L('B'),     L('C'),     L('D'),     L('E'),     L('F'),    L('G'),    L('H'),
        L('I'),     L('J'),     L('K'),     L('L'),     L('M'),     L('N'),    L('O'),    L('P'),
        L('Q'),     L('R'),     L('S'),     L('T'),     L('U'),     L('V'),    L('W'),    L('X'),
        L('Y'),     L('Z'),     L('a'),     L('b'),     L('c'),     L('d'),    L('e'),    L('f'),
        L('g'),     L('h'),     L('i'),     L('j'),     L('k'),     L('l'),    L('m'),    L('n'),
        L('o'),     L('p'),     L('q'),     L('r'),     L('s'),     L('t'),    L('u'),    L('v'),
        L('w'),     L('x'),     L('y'),     L('z'),
#undef L
    };
    return tab;
}

static int grow(struct scan *sc, void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 256;
    while (nc < need)
        nc *= 2;
    size_t bytes;
    if (ms_size_mul(nc, elem, &bytes) != 0)
        return -1;
    void *p = ms_realloc(sc->ctx->alloc, *arr, bytes);
    if (p == NULL) {
        if (sc->rc == MS_OK)
            sc->rc = ms_fail(sc->err, MS_E_NOMEM, "phi: out of memory (%zu bytes)", bytes);
        return -1;
    }
    *arr = p;
    *cap = nc;
    return 0;
}

/* Upper-case test for the first code point of a word: ASCII, Latin-1 and Latin Extended-A. */
static int upper_at(const unsigned char *s, size_t left)
{
    if (s[0] >= 'A' && s[0] <= 'Z')
        return 1;
    if (s[0] == 0xC3 && left > 1)
        return s[1] >= 0x80 && s[1] <= 0x9E && s[1] != 0x97;
    if (s[0] == 0xC4 && left > 1) /* Latin Extended-A: even code points are upper */
        return (s[1] & 1u) == 0;
    return 0;
}

static int lower_at(const unsigned char *s, size_t left)
{
    if (s[0] >= 'a' && s[0] <= 'z')
        return 1;
    if (s[0] == 0xC3 && left > 1)
        return s[1] >= 0x9F && s[1] <= 0xBF && s[1] != 0xB7;
    return 0;
}

/* ASCII word characters: 1 lower, 2 upper, 4 digit (branch-free flags in word_token). */
static const uint8_t WCLS[128] = {
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1, ['A'] = 2, ['B'] = 2, ['C'] = 2, ['D'] = 2, ['E'] = 2, ['F'] = 2,
    ['G'] = 2, ['H'] = 2, ['I'] = 2, ['J'] = 2, ['K'] = 2, ['L'] = 2, ['M'] = 2, ['N'] = 2,
    ['O'] = 2, ['P'] = 2, ['Q'] = 2, ['R'] = 2, ['S'] = 2, ['T'] = 2, ['U'] = 2, ['V'] = 2,
    ['W'] = 2, ['X'] = 2, ['Y'] = 2, ['Z'] = 2, ['0'] = 4, ['1'] = 4, ['2'] = 4, ['3'] = 4,
    ['4'] = 4, ['5'] = 4, ['6'] = 4, ['7'] = 4, ['8'] = 4, ['9'] = 4};

#define FNV_PRIME 16777619u
#define FNV_BASIS 2166136261u

/* ---- the word hash of the keyword set and the dictionary -------------------------------------
 * Over 8-byte little-endian chunks of the ASCII-folded word, zero-padded, so a word of up to 16
 * bytes hashes without a per-byte loop (FNV-1a's byte chain was a quarter of the tokenizer).
 * scripts/phi-gendict.py computes the same function for the generated table: change both. */
#define WH_SEED 0x9E3779B97F4A7C15ull

static inline uint64_t wh_mix(uint64_t h, uint64_t chunk)
{
    h = (h ^ chunk) * 0xff51afd7ed558ccdull;
    return h ^ (h >> 32);
}

static inline uint32_t wh_final(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h;
}

uint32_t phi__whash(const char *s, size_t n)
{
    uint64_t h = WH_SEED ^ n;
    for (size_t o = 0; o < n; o += 8) {
        uint64_t chunk = 0;
        for (size_t k = 0; k < 8 && o + k < n; k++) {
            unsigned char c = (unsigned char)s[o + k];
            if (c >= 'A' && c <= 'Z')
                c = (unsigned char)(c + 32);
            chunk |= (uint64_t)c << (8 * k);
        }
        h = wh_mix(h, chunk);
    }
    return wh_final(h);
}

#if defined(__SSE2__) && defined(__x86_64__)
/* word_token for the common case, an ASCII word of 1..15 bytes: classes of 16 bytes at once and
 * no per-byte branch (the byte loop's exit mispredicted on every word). Returns 1 with the token
 * done; else 0 with *pre ASCII word bytes (and their *seen, *nd) that start the token, for the
 * byte loop to go on from (a non-ASCII letter, or 16 bytes or more). */
static int word_token16(const unsigned char *s, size_t n, size_t *i, struct tok *t, uint32_t *hv,
                        uint64_t ck[2], size_t *pre, unsigned *seen, unsigned *ndp)
{
    size_t j = *i;
    __m128i v;
    if (n - j >= 16) {
        v = _mm_loadu_si128((const __m128i *)(const void *)(s + j));
    } else { /* the text's last bytes, zero-padded: NUL is no word character */
        unsigned char tail[16] = {0};
        memcpy(tail, s + j, n - j);
        v = _mm_loadu_si128((const __m128i *)(const void *)tail);
    }
    /* signed compares: bytes >= 0x80 are negative and in no class */
    __m128i lo = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('a' - 1)),
                               _mm_cmplt_epi8(v, _mm_set1_epi8('z' + 1)));
    __m128i up = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('A' - 1)),
                               _mm_cmplt_epi8(v, _mm_set1_epi8('Z' + 1)));
    __m128i dg = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                               _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    unsigned ml = (unsigned)_mm_movemask_epi8(lo), mu = (unsigned)_mm_movemask_epi8(up);
    unsigned md = (unsigned)_mm_movemask_epi8(dg), mh = (unsigned)_mm_movemask_epi8(v);
    unsigned len = (unsigned)__builtin_ctz(~(ml | mu | md)); /* bit 16 and up are set */
    unsigned keep = (1u << len) - 1u;
    ml &= keep;
    mu &= keep;
    md &= keep;
    /* popcount of 16 bits (baseline x86-64 has no popcnt: the builtin is a libgcc call), only
     * for the words with digits */
    unsigned nd = 0;
    if (md != 0) {
        nd = md - ((md >> 1) & 0x5555u);
        nd = (nd & 0x3333u) + ((nd >> 2) & 0x3333u);
        nd = (nd + (nd >> 4)) & 0x0F0Fu;
        nd = (nd + (nd >> 8)) & 0x1Fu;
    }
    if (len == 16 || ((mh >> len) & 1u)) { /* goes on: 16 bytes or more, or a non-ASCII byte */
        *pre = len;
        *seen = (ml ? 1u : 0u) | (mu ? 2u : 0u) | (md ? 4u : 0u);
        *ndp = nd;
        return 0;
    }
    t->s = (uint32_t)j;
    t->e = (uint32_t)(j + len);
    t->nd = (uint16_t)nd;
    t->kind = (uint8_t)((ml | mu) == 0 ? TK_NUM : (nd == 0 ? TK_WORD : TK_ALNUM));
    t->fl = (uint8_t)(TF_ASCII | ((mu & 1u) ? TF_CAP : 0u) | ((mu && !ml) ? TF_ALLCAP : 0u));
    /* hash: fold upper case (| 0x20), zero the bytes after the word */
    __m128i idx = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m128i f = _mm_or_si128(v, _mm_and_si128(up, _mm_set1_epi8(0x20)));
    f = _mm_and_si128(f, _mm_cmplt_epi8(idx, _mm_set1_epi8((char)len)));
    uint64_t c0 = (uint64_t)_mm_cvtsi128_si64(f);
    uint64_t c1 = (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(f, f));
    uint64_t h = wh_mix(WH_SEED ^ len, c0);
    if (len > 8)
        h = wh_mix(h, c1);
    *hv = wh_final(h);
    ck[0] = c0;
    ck[1] = c1;
    *i = j + len;
    return 1;
}
#endif

/* Scans one word token; returns its phi__whash (for words under 32 bytes, the only ones looked
 * up), so the keyword and dictionary lookups need not hash it again. An ASCII word under 16
 * bytes also gets its folded, zero-padded bytes in ck (compared as two words by the lookups);
 * ck[0] == 0 otherwise. */
static uint32_t word_token(const unsigned char *s, size_t n, size_t *i, struct tok *t,
                           uint64_t ck[2])
{
    size_t j = *i;
    unsigned nd = 0, seen = 0, ascii = 1; /* seen: WCLS bits, 8 = a caseless letter */
    ck[0] = 0;
#if defined(__SSE2__) && defined(__x86_64__)
    uint32_t fast;
    size_t pre = 0;
    if (word_token16(s, n, i, t, &fast, ck, &pre, &seen, &nd))
        return fast;
    j += pre;
#endif
    while (j < n) {
        unsigned char c = s[j];
        if (c < 0x80) {
            unsigned f = WCLS[c];
            if (f == 0)
                break;
            seen |= f;
            nd += f >> 2;
            j++;
            continue;
        }
        if (c == 0xE2) /* U+2000..U+2FFF: punctuation such as curly quotes, dashes */
            break;
        size_t k = utf8_seq(s, n, j);
        if (k == 0) /* invalid: the word ends, and the tokenizer fails on the byte */
            break;
        if (upper_at(s + j, n - j))
            seen |= 2;
        else if (lower_at(s + j, n - j))
            seen |= 1;
        else
            seen |= 8; /* a letter without case (or another symbol in the word) */
        ascii = 0;
        j += k;
    }
    t->s = (uint32_t)*i;
    t->e = (uint32_t)j;
    t->nd = (uint16_t)(nd > 65535 ? 65535 : nd);
    t->kind = (uint8_t)((seen & 11u) == 0 ? TK_NUM : (nd == 0 ? TK_WORD : TK_ALNUM));
    t->fl = 0;
    if ((seen & 11u) != 0 && upper_at(s + *i, n - *i))
        t->fl |= TF_CAP;
    if ((seen & 3u) == 2u)
        t->fl |= TF_ALLCAP;
    if (ascii)
        t->fl |= TF_ASCII;
    *i = j;
    return j - t->s < 32 ? phi__whash((const char *)s + t->s, j - t->s) : 0;
}

/* Caches a word's dictionary entry and keyword bits in the token (one lookup per token; hv is
 * the token's phi__whash from word_token). */
static void lookup(const struct scan *sc, struct tok *t, uint32_t hv, const uint64_t ck[2],
                   int cue)
{
    size_t n = t->e - t->s;
    if (n >= 32)
        return;
    if (phi__kw_maybe(hv)) { /* the caller zeroed kw and lab */
        if (ck[0] != 0)
            phi__kw_lookup_c(n, hv, ck, &t->kw, &t->lab);
        else
            phi__kw_lookup_h(sc->t + t->s, n, hv, &t->kw, &t->lab);
    }
    /* names and places are capitalised: only those need the (large) dictionary */
    if (t->kind == TK_WORD && (t->fl & TF_ASCII) && ((t->fl & TF_CAP) || cue)) {
        const struct phi__dict_ent *d =
            ck[0] != 0 ? phi__dict_find_c(n, hv, ck) : phi__dict_find_h(sc->t + t->s, n, hv);
        if (d != NULL)
            t->de = (int32_t)(d - phi__dict_ents);
    }
}

/* The token's nm (NM_* class, or NM_LETTER), from its flags, keyword bits and dictionary entry:
 * a capitalised word that is no NOTNAME keyword and no short acronym (CT, RML, COPD); a name
 * in the dictionary is strong unless it is also a common word, a word outside it unknown. */
static uint8_t name_class(const struct tok *t)
{
    if (t->kind != TK_WORD || !(t->fl & TF_CAP))
        return NM_NONE;
    size_t n = t->e - t->s;
    if (n == 1)
        return NM_LETTER;
    if (t->kw & (1u << KW_NOTNAME))
        return NM_NONE;
    if ((t->kw & (1u << KW_CLINNUM)) && n <= 4)
        return NM_NONE; /* "Na 138", "Ca", "Map": lab and vitals words */
    if ((t->fl & TF_ALLCAP) && n <= 4)
        return NM_NONE;
    if (!(t->fl & TF_ASCII) || t->de < 0)
        return NM_UNKNOWN;
    const struct phi__dict_ent *d = &phi__dict_ents[t->de];
    int named = (d->flags & (PHI_DICT_FIRST | PHI_DICT_LAST)) != 0;
    int word = (d->flags & PHI_DICT_WORD) != 0;
    if (!named)
        return NM_NONE;
    if (!word || d->word_level >= 50)
        return NM_STRONG;
    if (d->word_level >= 35 && (d->first >= 20 || d->last >= 50))
        return NM_STRONG; /* Bill, Mark, Grace: common names before they are common words */
    return NM_WEAK;
}

/* Words that may start a date or an address (ix_nd): months, weekdays, "last"/"next", and
 * the P.O. box / unit / address trigger words. */
#define CUEKW ((1u << KW_TITLE_CLIN) | (1u << KW_TITLE_LAY) | (1u << KW_CUE))
#define NDKW ((1u << KW_MONTH) | (1u << KW_RELATIVE) | (1u << KW_WEEKDAY) | (1u << KW_TRIGGER))

ms_rc phi__tokenize(struct scan *sc)
{
    const unsigned char *s = (const unsigned char *)sc->t;
    const uint8_t *tab = cls_table();
    size_t n = sc->n, i = 0;
    uint8_t pend = TF_NL | TF_SENT; /* flags for the next token */
    /* 1 after a title, role or relation word ("dr.", "wife", "rn"), kept over ". , : - (": the
     * next word may be a name in any case, so it gets a dictionary lookup and goes in ix_name;
     * 2 after a dash that starts a line ("--HELGA", a signature) */
    unsigned cue = 0;
    /* the token array in locals: stores through t would otherwise reload them per token */
    struct tok *tk = sc->tk;
    size_t ntk = sc->ntk, cap = sc->captk;
    while (i < n) {
        unsigned char c = s[i];
        uint8_t k = tab[c];
        if (k == 3 || k == 4) {
            pend |= (uint8_t)(k == 4 ? (TF_SP | TF_NL | TF_SENT) : TF_SP);
            i++;
            continue;
        }
        if (ntk == cap) {
            sc->ntk = ntk;
            if (grow(sc, (void **)&sc->tk, &sc->captk, ntk + 1, sizeof *sc->tk) != 0)
                return sc->rc;
            tk = sc->tk;
            cap = sc->captk;
        }
        struct tok *t = &tk[ntk++];
        uint32_t hv = 0;
        uint64_t ck[2];
        if (k == 1 || k == 2 || (c >= 0xC0 && c != 0xE2)) {
            if (c >= 0x80 && utf8_seq(s, n, i) == 0)
                goto bad;
            hv = word_token(s, n, &i, t, ck);
        } else {
            size_t len = 1;
            if (c >= 0x80) /* a multi-byte punctuation character */
                len = utf8_seq(s, n, i);
            if (len == 0 || c == 0)
                goto bad;
            t->s = (uint32_t)i;
            t->e = (uint32_t)(i + len);
            t->kind = TK_PUNCT;
            t->nd = 0;
            t->fl = TF_ASCII;
            i += len;
        }
        t->fl |= pend;
        t->ch = c;
        pend = 0;
        t->de = -1;
        t->kw = 0;
        t->lab = 0;
        t->nm = NM_NONE;
        /* the detector lists the token starts (a superset: see phi__index and struct scan) */
        unsigned m = 0;
        if (t->kind != TK_PUNCT) {
            if (t->kind != TK_NUM) {
                int nl = (t->fl & TF_NL) != 0;
                lookup(sc, t, hv, ck, cue != 0 || nl);
                if (t->kind == TK_WORD && (cue != 0 || nl))
                    m |= IX_NAME;
                if (t->kw & (1u << KW_FACILITY))
                    sc->fac_end = ntk;
                if (t->fl & TF_CAP)
                    t->nm = name_class(t);
            }
            if (t->kind != TK_WORD)
                m |= IX_ND;
            else
                m |= ((t->fl & TF_CAP) ? IX_NAME : 0u) | ((t->kw & NDKW) ? IX_ND : 0u);
            cue = (t->kw & CUEKW) ? 1u : 0u;
        } else {
            if (c == '-' && (t->fl & TF_NL))
                cue = 2;
            else if (!(c == '.' || c == ',' || c == ':' || c == '-' || c == '('))
                cue = 0;
            if (c == '.' || c == '?' || c == '!' || c == ';' || c == ':')
                pend = TF_SENT;
            if (c == '+' || c == '(')
                m |= IX_ND;
            struct tok *p = ntk >= 2 ? &tk[ntk - 2] : NULL;
            /* TF_DOTNX of the token this '.' or ':' touches: set here, by the few punctuation
             * tokens, instead of a look at the next byte after every token */
            if ((c == '.' || c == ':') && p != NULL && p->e == t->s) {
                p->fl |= TF_DOTNX;
                p->ixm |= IX_DOT;
            }
            /* a word before '^' may start a DICOM name; one before "-/._" a code */
            if (p != NULL && p->kind == TK_WORD) {
                if (c == '^')
                    p->ixm |= IX_NAME;
                if ((c == '-' || c == '/' || c == '.' || c == '_') && p->e - p->s <= 6)
                    p->ixm |= IX_ND;
            }
        }
        t->ixm = (uint8_t)m;
        /* one space after a token (the common case) without another turn of the loop */
        if (i < n && s[i] == ' ') {
            pend |= TF_SP;
            i++;
        }
    }
    sc->ntk = ntk;
    return MS_OK;
bad: /* every byte is looked at in order: i is the first invalid one */
    sc->ntk = ntk - 1;
    sc->rc = ms_fail(sc->err, MS_E_FORMAT, "phi: invalid UTF-8 or NUL byte at offset %zu",
                     sc->base + i);
    return sc->rc;
}

/* The detectors' token lists (see struct scan) from the tokens' IX_* bits, in one pass without
 * a branch per token: each index is stored, and a list's count advances only when the token
 * belongs to it. */
ms_rc phi__index(struct scan *sc)
{
    size_t ntk = sc->ntk;
    if (grow(sc, (void **)&sc->ix, &sc->capix, 3 * ntk + 1, sizeof *sc->ix) != 0)
        return sc->rc != MS_OK ? sc->rc : MS_E_NOMEM;
    uint32_t *nm = sc->ix, *nd = sc->ix + ntk, *dt = sc->ix + 2 * ntk;
    size_t a = 0, b = 0, c = 0;
    const struct tok *tk = sc->tk;
    for (size_t i = 0; i < ntk; i++) {
        unsigned m = tk[i].ixm;
        nm[a] = (uint32_t)i;
        a += m & IX_NAME;
        nd[b] = (uint32_t)i;
        b += (m / IX_ND) & 1u;
        dt[c] = (uint32_t)i;
        c += (m / IX_DOT) & 1u;
    }
    sc->ix_name = nm;
    sc->nix_name = a;
    sc->ix_nd = nd;
    sc->nix_nd = b;
    sc->ix_dot = dt;
    sc->nix_dot = c;
    return MS_OK;
}

long phi__tok_num(const struct scan *sc, size_t i)
{
    if (i >= sc->ntk || sc->tk[i].kind != TK_NUM || phi__tok_len(sc, i) > 9)
        return -1;
    long v = 0;
    for (uint32_t k = sc->tk[i].s; k < sc->tk[i].e; k++)
        v = v * 10 + (sc->t[k] - '0');
    return v;
}

uint32_t phi__fnv(const char *s, size_t n, int fold)
{
    uint32_t h = FNV_BASIS;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (fold && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        h = (h ^ c) * FNV_PRIME;
    }
    return h;
}

const struct phi__dict_ent *phi__dict_find(const char *s, size_t n)
{
    return phi__dict_find_h(s, n, phi__whash(s, n));
}

/* One linear probe for both lookups: with ck, the word is the tokenizer's folded, zero-padded
 * 16 bytes (n < PHI_DICT_INLINE) compared as two 64-bit words; without, s[0..n) compared while
 * folding. Inlined into each caller, so the choice is made at compile time. */
static inline const struct phi__dict_ent *dict_probe(const char *s, size_t n, uint32_t hv,
                                                     const uint64_t *ck)
{
    for (size_t h = hv & phi__dict_mask;; h = (h + 1) & phi__dict_mask) {
        const struct phi__dict_ent *e = &phi__dict_ents[h];
        if (e->len == 0)
            return NULL;
        if (e->hash != hv || e->len != n)
            continue;
        if (ck != NULL) {
            uint64_t w[2]; /* the word, NUL-padded to 16 bytes */
            memcpy(w, e->w, sizeof w);
            if (w[0] == ck[0] && w[1] == ck[1])
                return e;
            continue;
        }
        const char *p = n < PHI_DICT_INLINE ? e->w : phi__dict_pool + e->off;
        size_t k = 0;
        while (k < n && (s[k] >= 'A' && s[k] <= 'Z' ? (char)(s[k] + 32) : s[k]) == p[k])
            k++;
        if (k == n)
            return e;
    }
}

const struct phi__dict_ent *phi__dict_find_c(size_t n, uint32_t hv, const uint64_t ck[2])
{
    return dict_probe(NULL, n, hv, ck);
}

const struct phi__dict_ent *phi__dict_find_h(const char *s, size_t n, uint32_t hv)
{
    if (n == 0 || n >= 32)
        return NULL;
    return dict_probe(s, n, hv, NULL);
}

void phi__add(struct scan *sc, size_t s, size_t e, phi_class cls, phi_source src, int prio,
              int clin)
{
    if (e <= s || e > sc->n)
        return;
    if (grow(sc, (void **)&sc->c, &sc->capc, sc->nc + 1, sizeof *sc->c) != 0)
        return;
    struct cand *c = &sc->c[sc->nc++];
    c->s = s;
    c->e = e;
    c->cls = (uint8_t)cls;
    c->src = (uint8_t)src;
    c->prio = (uint8_t)prio;
    c->clin = (uint8_t)clin;
}

int phi__month(const char *s, size_t n)
{
    static const char *const names[] = {
        "january", "february", "march",      "april",   "may",       "june",
        "july",    "august",   "september",  "october", "november",  "december",
        "enero",   "febrero",  "marzo",      "abril",   "mayo",      "junio",
        "julio",   "agosto",   "septiembre", "octubre", "noviembre", "diciembre"};
    char low[16];
    if (n < 3 || n >= sizeof low)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        low[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    low[n] = '\0';
    for (int m = 0; m < 24; m++) {
        const char *nm = names[m];
        if (nm[0] != low[0]) /* every form below starts with the name's first letter */
            continue;
        size_t len = strlen(nm);
        if (n == len && memcmp(low, nm, n) == 0)
            return m % 12 + 1;
        /* abbreviations: 3 letters, or "sept" */
        if (m < 12 && ((n == 3 && memcmp(low, nm, 3) == 0) ||
                       (n == 4 && m == 8 && memcmp(low, "sept", 4) == 0)))
            return m + 1;
    }
    return 0;
}

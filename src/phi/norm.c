/*
 * Text normalisation before detection (issue 14, deliver 3): the detectors read a view of the
 * text in which every non-ASCII code point has been replaced by
 *   1. its NFKC form (ICU unorm2: fullwidth `Ｊｏｈｎ` -> `John`, ligatures, no-break spaces),
 *      except superscripts and subscripts (`Nº`, `m²`), which keep their own form,
 *   2. any decimal digit (Nd) by its ASCII digit,
 *   3. where what is left is still not ASCII, its UTS #39 confusable skeleton (ICU
 *      uspoof_getSkeleton: Cyrillic `о`, Greek `ο` -> `o`; `é` -> `e` + U+0301), kept only when
 *      the skeleton is ASCII once combining marks (Mn, Me) and format characters (Cf) are
 *      dropped; otherwise the NFKC form stays (other scripts are left as they are);
 *   4. combining marks and format characters (zero-width spaces, soft hyphens) on their own are
 *      dropped, so `J\u0301ohn` and `Jo\u200Bhn` read `John`.
 * ASCII bytes are copied unchanged (pure ASCII text is already NFKC, and a skeleton of ASCII
 * would turn `rn` into `m` and `0` into `O`): a window without a byte >= 0x80 costs one scan.
 * For every byte of the view, map[i] is the offset in the original window of the code point it
 * came from, so spans found in the view are reported and replaced in the original bytes
 * (phi__norm_span). The view never leaves the scan: output is written from the original text.
 * Trusts: nothing in the text; it is decoded with the tokenizer's rules and an invalid sequence
 * or a NUL byte stops normalisation (the tokenizer then reports it at its original offset).
 * Owns: the view and its map (context scratch, ctx allocator, wiped on free), the code point
 * cache in the context. The ICU objects are built once per process and only read afterwards.
 */
#include <pthread.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uspoof.h>
#include <unicode/utf16.h>

#include "internal.h"

static pthread_once_t icu_once = PTHREAD_ONCE_INIT;
static const UNormalizer2 *icu_nfkc;
static USpoofChecker *icu_spoof; /* read-only after icu_init: uspoof_getSkeleton takes const */

static void icu_init(void)
{
    UErrorCode e = U_ZERO_ERROR;
    icu_nfkc = unorm2_getNFKCInstance(&e);
    if (U_FAILURE(e))
        icu_nfkc = NULL;
    e = U_ZERO_ERROR;
    icu_spoof = uspoof_open(&e);
    if (U_FAILURE(e))
        icu_spoof = NULL;
}

int phi__has_nonascii(const char *t, size_t n)
{
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t w;
        memcpy(&w, t + k, 8);
        if (w & 0x8080808080808080ull)
            return 1;
    }
    for (; k < n; k++)
        if ((unsigned char)t[k] >= 0x80)
            return 1;
    return 0;
}

/* One UTF-8 sequence at t[0..n): its code point and length, 0 when invalid (the tokenizer's
 * rules: no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t dec(const unsigned char *t, size_t n, uint32_t *cp)
{
    unsigned c = t[0];
    size_t l;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        l = 2, v = c & 0x1Fu, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        l = 3, v = c & 0x0Fu, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        l = 4, v = c & 0x07u, min = 0x10000;
    else
        return 0;
    if (l > n)
        return 0;
    for (size_t k = 1; k < l; k++) {
        if ((t[k] & 0xC0u) != 0x80u)
            return 0;
        v = (v << 6) | (t[k] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return l;
}

static size_t enc(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The next code point of s[*k..n) (U16_NEXT without its sign conversions). */
static UChar32 u16next(const UChar *s, int32_t *k, int32_t n)
{
    int32_t c = s[(*k)++];
    if (c >= 0xD800 && c <= 0xDBFF && *k < n && s[*k] >= 0xDC00 && s[*k] <= 0xDFFF) {
        int32_t t = s[(*k)++];
        return ((c - 0xD800) << 10) + (t - 0xDC00) + 0x10000;
    }
    return c;
}

static int dropped(UChar32 c)
{
    int8_t t = u_charType(c);
    return t == U_NON_SPACING_MARK || t == U_ENCLOSING_MARK || t == U_FORMAT_CHAR;
}

/* The view's bytes for one non-ASCII code point (at most PHI_NORM_CPMAX; longer NFKC forms,
 * such as U+FDFA, keep the code point itself). Returns the length, 0 = dropped. */
static size_t map_cp(uint32_t cp, int skel, char *o)
{
    UChar in[2], nf[PHI_NORM_CPMAX];
    int32_t l = 0, nl;
    /* superscripts and subscripts keep their own form: NFKC would glue `Nº` (número) into the
     * word `No`, and `m²`, `SpO₂` read as they are */
    int32_t dt = u_getIntPropertyValue((UChar32)cp, UCHAR_DECOMPOSITION_TYPE);
    if (dt == U_DT_SUPER || dt == U_DT_SUB)
        return enc(cp, o);
    U16_APPEND_UNSAFE(in, l, (UChar32)cp);
    UErrorCode e = U_ZERO_ERROR;
    nl = unorm2_normalize(icu_nfkc, in, l, nf, PHI_NORM_CPMAX, &e);
    if (U_FAILURE(e) || nl <= 0) {
        if (U_FAILURE(e))
            return enc(cp, o);
        return 0;
    }
    size_t on = 0;
    for (int32_t k = 0; k < nl;) {
        UChar32 c = u16next(nf, &k, nl);
        if (c < 0x80) {
            if (on + 1 > PHI_NORM_CPMAX)
                return enc(cp, o);
            o[on++] = (char)c;
            continue;
        }
        if (u_charType(c) == U_DECIMAL_DIGIT_NUMBER && u_charDigitValue(c) >= 0) {
            if (on + 1 > PHI_NORM_CPMAX)
                return enc(cp, o);
            o[on++] = (char)('0' + u_charDigitValue(c));
            continue;
        }
        if (dropped(c))
            continue;
        if (!skel) {
            if (on + 4 > PHI_NORM_CPMAX)
                return enc(cp, o);
            on += enc((uint32_t)c, o + on);
            continue;
        }
        UChar one[2], sk[PHI_NORM_CPMAX];
        int32_t ol = 0, sl;
        U16_APPEND_UNSAFE(one, ol, c);
        e = U_ZERO_ERROR;
        sl = uspoof_getSkeleton(icu_spoof, 0, one, ol, sk, PHI_NORM_CPMAX, &e);
        char tmp[PHI_NORM_CPMAX];
        size_t tn = 0;
        int ascii = U_SUCCESS(e) && sl > 0;
        for (int32_t j = 0; ascii && j < sl;) {
            UChar32 s = u16next(sk, &j, sl);
            if (s < 0x80 && tn < sizeof tmp)
                tmp[tn++] = (char)s;
            else if (!dropped(s))
                ascii = 0;
        }
        if (ascii && tn == 1 && tmp[0] == 'l' && u_isupper(c))
            tmp[0] = 'I'; /* the skeleton of I is l: a capital (Greek Ι, Cyrillic І) is an I */
        if (ascii && tn > 0) {
            if (on + tn > PHI_NORM_CPMAX)
                return enc(cp, o);
            memcpy(o + on, tmp, tn);
            on += tn;
        } else {
            if (on + 4 > PHI_NORM_CPMAX)
                return enc(cp, o);
            on += enc((uint32_t)c, o + on);
        }
    }
    return on;
}

static ms_rc grow(struct scan *sc, size_t need)
{
    phi_ctx *ctx = sc->ctx;
    if (need <= ctx->capnv)
        return MS_OK;
    size_t cap = ctx->capnv ? ctx->capnv : 4096;
    while (cap < need)
        cap *= 2;
    char *v = ms_malloc(ctx->alloc, cap);
    uint32_t *m = ms_malloc(ctx->alloc, cap * sizeof *m);
    if (v == NULL || m == NULL) {
        ms_free(ctx->alloc, v);
        ms_free(ctx->alloc, m);
        sc->rc = ms_fail(sc->err, MS_E_NOMEM, "phi: out of memory (normalised view)");
        return sc->rc;
    }
    if (ctx->nv != NULL) {
        memcpy(v, ctx->nv, ctx->capnv);
        memcpy(m, ctx->nvmap, ctx->capnv * sizeof *m);
    }
    ms_free(ctx->alloc, ctx->nv);
    ms_free(ctx->alloc, ctx->nvmap);
    ctx->nv = v;
    ctx->nvmap = m;
    ctx->capnv = cap;
    return MS_OK;
}

#define NF_ASCII  1u /* the form is all ASCII (or empty) */
#define NF_LETTER 2u /* the form holds an ASCII letter */
#define NF_WORD   4u /* the code point is a letter, digit or mark (part of a word) */

static int ascii_alpha(unsigned char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static int ascii_alnum(unsigned char c)
{
    return ascii_alpha(c) || (c >= '0' && c <= '9');
}

/* The view's bytes of a non-ASCII code point with (skel 1) or without skeletons, and their
 * NF_* flags; cached in the context by (code point, skel). */
static size_t form(phi_ctx *ctx, uint32_t cp, int skel, char *buf, unsigned *fl)
{
    uint32_t key = ((cp << 1) | (uint32_t)skel) + 1;
    struct phi_normc *ce = &ctx->nvcache[(key * 2654435761u) >> (32 - PHI_NORM_CACHE_BITS)];
    if (ce->cp == key) {
        memcpy(buf, ce->b, ce->n);
        *fl = ce->fl;
        return ce->n;
    }
    size_t bl = map_cp(cp, skel, buf);
    unsigned f = (u_isalnum((UChar32)cp) || dropped((UChar32)cp)) ? NF_WORD : 0u, asc = 1;
    for (size_t k = 0; k < bl; k++) {
        if ((unsigned char)buf[k] >= 0x80)
            asc = 0;
        else if (ascii_alpha((unsigned char)buf[k]))
            f |= NF_LETTER;
    }
    f |= asc ? NF_ASCII : 0u;
    if (bl <= sizeof ce->b) {
        ce->cp = key;
        ce->n = (uint8_t)bl;
        ce->fl = (uint8_t)f;
        memcpy(ce->b, buf, bl);
    }
    *fl = f;
    return bl;
}

ms_rc phi__normalize(struct scan *sc)
{
    phi_ctx *ctx = sc->ctx;
    const unsigned char *t = (const unsigned char *)sc->t;
    size_t n = sc->n;
    (void)pthread_once(&icu_once, icu_init);
    if (icu_nfkc == NULL || icu_spoof == NULL)
        return sc->rc = ms_fail(sc->err, MS_E_UNSUPPORTED,
                                "phi: Unicode normalisation (ICU) unavailable");
    if (ctx->nvcache == NULL) {
        ctx->nvcache = ms_malloc(ctx->alloc, PHI_NORM_CACHE * sizeof *ctx->nvcache);
        if (ctx->nvcache == NULL)
            return sc->rc = ms_fail(sc->err, MS_E_NOMEM, "phi: out of memory (normalisation)");
        memset(ctx->nvcache, 0, PHI_NORM_CACHE * sizeof *ctx->nvcache);
    }
    if (grow(sc, n + n / 4 + 64) != MS_OK)
        return sc->rc;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (t[i] < 0x80) {
            if (t[i] == 0)
                return MS_OK; /* the tokenizer reports it at its original offset */
            if (o + 1 > ctx->capnv && grow(sc, o + 1 + n / 4) != MS_OK)
                return sc->rc;
            ctx->nv[o] = (char)t[i];
            ctx->nvmap[o++] = (uint32_t)i;
            i++;
            continue;
        }
        /* the word from here (ASCII letters and digits, non-ASCII letters, digits and marks):
         * skeletons apply to a word that holds an ASCII letter (`Jоhn`) or whose every
         * character has an ASCII skeleton; a word wholly in another script keeps its NFKC form
         * (`ΛΕΥΚΩΣΙΑ` would otherwise read as a mix of Latin and Greek letters) */
        char buf[PHI_NORM_CPMAX];
        unsigned fl;
        uint32_t cp;
        size_t l = dec(t + i, n - i, &cp);
        if (l == 0)
            return MS_OK; /* invalid: the tokenizer reports it */
        size_t we = i;
        int skel = 1;
        (void)form(ctx, cp, 1, buf, &fl);
        if (fl & NF_WORD) {
            int ascii_letter = i > 0 && ascii_alpha(t[i - 1]), all = 1;
            for (size_t j = i; j < n;) {
                if (t[j] < 0x80) {
                    if (!ascii_alnum(t[j]))
                        break;
                    ascii_letter |= ascii_alpha(t[j]);
                    j++;
                    we = j;
                    continue;
                }
                uint32_t c2;
                size_t l2 = dec(t + j, n - j, &c2);
                if (l2 == 0)
                    break;
                (void)form(ctx, c2, 1, buf, &fl);
                if (!(fl & NF_WORD))
                    break;
                all &= (fl & NF_ASCII) != 0;
                (void)form(ctx, c2, 0, buf, &fl);
                ascii_letter |= (fl & NF_LETTER) != 0;
                j += l2;
                we = j;
            }
            skel = ascii_letter || all;
        } else {
            we = i + l;
        }
        while (i < we) {
            if (t[i] < 0x80) {
                if (o + 1 > ctx->capnv && grow(sc, o + 1 + n / 4) != MS_OK)
                    return sc->rc;
                ctx->nv[o] = (char)t[i];
                ctx->nvmap[o++] = (uint32_t)i;
                i++;
                continue;
            }
            l = dec(t + i, n - i, &cp);
            size_t bl = form(ctx, cp, skel, buf, &fl);
            if (o + bl > ctx->capnv && grow(sc, o + bl + n / 4) != MS_OK)
                return sc->rc;
            memcpy(ctx->nv + o, buf, bl);
            for (size_t k = 0; k < bl; k++)
                ctx->nvmap[o + k] = (uint32_t)i;
            o += bl;
            i += l;
        }
    }
    sc->ot = sc->t;
    sc->on = sc->n;
    sc->om = ctx->nvmap;
    sc->t = ctx->nv;
    sc->n = o;
    return MS_OK;
}

static size_t cp_len(const char *t, size_t at)
{
    unsigned c = (unsigned char)t[at];
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

void phi__norm_span(const struct scan *sc, size_t s, size_t e, size_t *os, size_t *oe)
{
    if (sc->om == NULL) {
        *os = s;
        *oe = e;
        return;
    }
    *os = s < sc->n ? sc->om[s] : sc->on;
    if (e == 0) {
        *oe = *os;
        return;
    }
    size_t end = sc->om[e - 1] + cp_len(sc->ot, sc->om[e - 1]);
    /* what lies between this code point and the next view byte's was dropped (marks, format
     * characters): it goes with the span */
    size_t next = e < sc->n ? sc->om[e] : sc->on;
    *oe = next > end ? next : end;
}

ms_rc phi__norm_str(ms_alloc *a, const char *s, size_t n, char **out, ms_err *err)
{
    *out = NULL;
    (void)pthread_once(&icu_once, icu_init);
    if (icu_nfkc == NULL || icu_spoof == NULL)
        return ms_fail(err, MS_E_UNSUPPORTED, "phi: Unicode normalisation (ICU) unavailable");
    char *o = ms_malloc(a, n * (PHI_NORM_CPMAX / 2) + 1);
    if (o == NULL)
        return ms_fail(err, MS_E_NOMEM, "phi: out of memory (identity)");
    const unsigned char *t = (const unsigned char *)s;
    size_t on = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        size_t l = t[i] < 0x80 ? (cp = t[i], 1u) : dec(t + i, n - i, &cp);
        if (l == 0 || cp == 0) { /* not UTF-8: the identity is used as it was given */
            ms_free(a, o);
            return MS_OK;
        }
        on += cp < 0x80 ? (o[on] = (char)cp, 1u) : map_cp(cp, 1, o + on);
        i += l;
    }
    o[on] = '\0';
    *out = o;
    return MS_OK;
}

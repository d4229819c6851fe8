/*
 * Replacement text: tags ("[NAME]") and realistic surrogates. Surrogates are a keyed function of
 * the real value (HMAC-SHA-256 under the per-patient key), so the same real value always gets
 * the same fake within one patient context; dates are shifted by the patient's day offset in
 * their own written form. Every new real<->surrogate pair is recorded in the context's map for
 * re-identification. A memo of what each span became makes a repeated value a copy.
 * Trusts: the detected span (any bytes of valid UTF-8). Owns: map entries and the memo (ctx
 * allocator, wiped when freed).
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define SUR_MAX 256 /* longest surrogate recorded for re-identification */

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(unsigned char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* HMAC-SHA-256 under the context's key with the two pad blocks hashed once per context
 * (ms_hmac_pre, core): a MAC is two SHA-256 state copies and finals. Through EVP each MAC copied
 * two digest contexts through the provider (allocations, locks, cleanses): most of the cost of a
 * surrogate in a fresh context. The output is the same as ms_hmac_sha256's (tests compare). */
void phi__prf_init(phi_ctx *ctx)
{
    ms_hmac_pre_key(&ctx->hm, ctx->key, MS_KEY_LEN);
}

void phi__prf_free(phi_ctx *ctx)
{
    ms_memzero(&ctx->hm, sizeof ctx->hm);
}

/* 32 pseudo-random bytes for (class, real value, attempt): HMAC(key, tag || folded value). */
static void prf(const phi_ctx *ctx, phi_class cls, const char *real, size_t rn, unsigned ctr,
                uint8_t out[32])
{
    char folded[SUR_MAX];
    char tag[8] = {'p', 'h', 'i', (char)('A' + cls), (char)ctr, 0, 0, 0};
    size_t n = rn < sizeof folded ? rn : sizeof folded;
    for (size_t i = 0; i < n; i++)
        folded[i] = lower(real[i]);
    ms_hmac_pre_mac(&ctx->hm, tag, sizeof tag, n > 0 ? folded : NULL, n, out);
    ms_memzero(folded, n);
}

/* ---- the map ----------------------------------------------------------------------------------
 */

static int eq_fold(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(a[i]) != lower(b[i]))
            return 0;
    return 1;
}

static ms_rc map_grow(phi_ctx *ctx, ms_err *err)
{
    struct map *m = &ctx->map;
    if (m->n + 1 <= m->cap && (m->n + 1) * 2 <= m->slots)
        return MS_OK;
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct mapent *e = ms_realloc(ctx->alloc, m->ents, cap * sizeof *e);
    if (e == NULL)
        return ms_fail(err, MS_E_NOMEM, "phi: out of memory (surrogate map)");
    m->ents = e;
    m->cap = cap;
    size_t slots = cap * 2;
    uint32_t *br = ms_calloc(ctx->alloc, slots, sizeof *br);
    uint32_t *bs = ms_calloc(ctx->alloc, slots, sizeof *bs);
    if (br == NULL || bs == NULL) {
        ms_free(ctx->alloc, br);
        ms_free(ctx->alloc, bs);
        return ms_fail(err, MS_E_NOMEM, "phi: out of memory (surrogate map)");
    }
    for (size_t k = 0; k < m->n; k++) {
        size_t h = (phi__fnv(m->ents[k].real, m->ents[k].rn, 1) ^ m->ents[k].cls) & (slots - 1);
        while (br[h])
            h = (h + 1) & (slots - 1);
        br[h] = (uint32_t)(k + 1);
        h = phi__fnv(m->ents[k].sur, m->ents[k].sn, 1) & (slots - 1);
        while (bs[h])
            h = (h + 1) & (slots - 1);
        bs[h] = (uint32_t)(k + 1);
    }
    ms_free(ctx->alloc, m->by_real);
    ms_free(ctx->alloc, m->by_sur);
    m->by_real = br;
    m->by_sur = bs;
    m->slots = slots;
    return MS_OK;
}

const struct mapent *phi__map_get(const phi_ctx *ctx, phi_class cls, const char *real, size_t rn)
{
    const struct map *m = &ctx->map;
    if (m->slots == 0)
        return NULL;
    size_t h = (phi__fnv(real, rn, 1) ^ (uint32_t)cls) & (m->slots - 1);
    while (m->by_real[h]) {
        const struct mapent *e = &m->ents[m->by_real[h] - 1];
        if (e->cls == cls && e->rn == rn && eq_fold(e->real, real, rn))
            return e;
        h = (h + 1) & (m->slots - 1);
    }
    return NULL;
}

int phi__map_sur_taken(const phi_ctx *ctx, const char *sur, size_t sn)
{
    const struct map *m = &ctx->map;
    if (m->slots == 0)
        return 0;
    size_t h = phi__fnv(sur, sn, 1) & (m->slots - 1);
    while (m->by_sur[h]) {
        const struct mapent *e = &m->ents[m->by_sur[h] - 1];
        if ((e->sn == sn && eq_fold(e->sur, sur, sn)) || (e->rn == sn && eq_fold(e->real, sur, sn)))
            return 1;
        h = (h + 1) & (m->slots - 1);
    }
    /* a surrogate must not equal any real value either: by_real hashes (value, class), so probe
     * once per class (a scan of every entry made each new surrogate cost O(map size)) */
    uint32_t hv = phi__fnv(sur, sn, 1);
    for (uint32_t c = 0; c < PHI_CLASS_COUNT; c++) {
        for (h = (hv ^ c) & (m->slots - 1); m->by_real[h]; h = (h + 1) & (m->slots - 1)) {
            const struct mapent *e = &m->ents[m->by_real[h] - 1];
            if (e->rn == sn && eq_fold(e->real, sur, sn))
                return 1;
        }
    }
    return 0;
}

ms_rc phi__map_put(phi_ctx *ctx, phi_class cls, const char *real, size_t rn, const char *sur,
                   size_t sn, ms_err *err)
{
    if (sn == 0 || sn > SUR_MAX || rn == 0 || phi__map_get(ctx, cls, real, rn) != NULL)
        return MS_OK;
    if (map_grow(ctx, err) != MS_OK)
        return MS_E_NOMEM;
    struct map *m = &ctx->map;
    char *r = ms_strndup(ctx->alloc, real, rn);
    char *s = ms_strndup(ctx->alloc, sur, sn);
    if (r == NULL || s == NULL) {
        ms_free(ctx->alloc, r);
        ms_free(ctx->alloc, s);
        return ms_fail(err, MS_E_NOMEM, "phi: out of memory (surrogate map)");
    }
    m->ents[m->n] = (struct mapent){(uint8_t)cls, r, rn, s, sn};
    size_t h = (phi__fnv(real, rn, 1) ^ (uint32_t)cls) & (m->slots - 1);
    while (m->by_real[h])
        h = (h + 1) & (m->slots - 1);
    m->by_real[h] = (uint32_t)(m->n + 1);
    h = phi__fnv(sur, sn, 1) & (m->slots - 1);
    while (m->by_sur[h])
        h = (h + 1) & (m->slots - 1);
    m->by_sur[h] = (uint32_t)(m->n + 1);
    m->n++;
    if (sn > m->maxsur)
        m->maxsur = sn;
    return MS_OK;
}

void phi__map_free(phi_ctx *ctx)
{
    struct map *m = &ctx->map;
    for (size_t k = 0; k < m->n; k++) {
        ms_free(ctx->alloc, m->ents[k].real);
        ms_free(ctx->alloc, m->ents[k].sur);
    }
    ms_free(ctx->alloc, m->ents);
    ms_free(ctx->alloc, m->by_real);
    ms_free(ctx->alloc, m->by_sur);
    memset(m, 0, sizeof *m);
    struct memo *mo = &ctx->memo;
    ms_free(ctx->alloc, mo->ents);
    ms_free(ctx->alloc, mo->slots);
    ms_free(ctx->alloc, mo->bytes);
    memset(mo, 0, sizeof *mo);
}

/* ---- the memo ---------------------------------------------------------------------------------
 * Every replacement is a function of (key, class, value bytes) and of the map, and the map only
 * grows: a word's pick is fixed the first time it is seen, and the rest is keyed or fixed. So
 * what phi__surrogate wrote for a span is what it would write for the same bytes again; the memo
 * keeps it and a repeat is one lookup and a copy (the words, keep-list, dictionary, map lookups
 * and HMACs of a span were a sixth of a surrogate scrub). Bounded: when full, spans are
 * generated as before. */

#define MEMO_MAX_BYTES ((size_t)1 << 20) /* of values and surrogates (the bench needs 0.2 MiB) */
#define MEMO_MAX_SPAN  1024

static uint32_t memo_hash(phi_class cls, const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15u ^ ((uint64_t)n << 8) ^ (uint64_t)cls;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, s + i, n - i);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    return (uint32_t)(h ^ (h >> 29));
}

static const struct memoent *memo_get(const phi_ctx *ctx, phi_class cls, const char *real,
                                      size_t rn, uint32_t h)
{
    const struct memo *mo = &ctx->memo;
    if (mo->nslots == 0)
        return NULL;
    for (size_t k = h & (mo->nslots - 1); mo->slots[k]; k = (k + 1) & (mo->nslots - 1)) {
        const struct memoent *e = &mo->ents[mo->slots[k] - 1];
        if (e->h == h && e->rn == rn && e->cls == cls && memcmp(mo->bytes + e->off, real, rn) == 0)
            return e;
    }
    return NULL;
}

/* Records sur for (cls, real). Best effort: a failed allocation leaves the memo as it was. */
static void memo_put(phi_ctx *ctx, phi_class cls, uint32_t h, const char *real, size_t rn,
                     const char *sur, size_t sn)
{
    struct memo *mo = &ctx->memo;
    if (rn > MEMO_MAX_SPAN || sn > MEMO_MAX_SPAN || mo->len + rn + sn > MEMO_MAX_BYTES)
        return;
    if (mo->len + rn + sn > mo->capb) {
        size_t cap = mo->capb ? mo->capb * 2 : 16384;
        while (cap < mo->len + rn + sn)
            cap *= 2;
        char *b = ms_realloc(ctx->alloc, mo->bytes, cap); /* copies, wipes the old block */
        if (b == NULL)
            return;
        mo->bytes = b;
        mo->capb = cap;
    }
    if (mo->n == mo->cap) {
        size_t cap = mo->cap ? mo->cap * 2 : 256;
        struct memoent *e = ms_realloc(ctx->alloc, mo->ents, cap * sizeof *e);
        uint32_t *sl = ms_calloc(ctx->alloc, cap * 2, sizeof *sl);
        if (e != NULL)
            mo->ents = e;
        if (e == NULL || sl == NULL) {
            ms_free(ctx->alloc, sl);
            return;
        }
        mo->cap = cap;
        ms_free(ctx->alloc, mo->slots);
        mo->slots = sl;
        mo->nslots = cap * 2;
        for (size_t k = 0; k < mo->n; k++) {
            size_t q = mo->ents[k].h & (mo->nslots - 1);
            while (sl[q])
                q = (q + 1) & (mo->nslots - 1);
            sl[q] = (uint32_t)(k + 1);
        }
    }
    memcpy(mo->bytes + mo->len, real, rn);
    memcpy(mo->bytes + mo->len + rn, sur, sn);
    mo->ents[mo->n] =
        (struct memoent){h, (uint32_t)mo->len, (uint16_t)rn, (uint16_t)sn, (uint8_t)cls};
    mo->len += rn + sn;
    size_t q = h & (mo->nslots - 1);
    while (mo->slots[q])
        q = (q + 1) & (mo->nslots - 1);
    mo->slots[q] = (uint32_t)(++mo->n);
}

/* ---- generators ------------------------------------------------------------------------------ */

static const char *const KEEP_WORDS[] = {
    "st",       "mt",         "saint",     "mount",  "fort",       "ft",       "san",
    "santa",    "new",        "north",     "south",  "east",       "west",     "lake",
    "port",     "city",       "of",        "the",    "and",        "hospital", "clinic",
    "center",   "centre",     "medical",   "health", "healthcare", "regional", "general",
    "memorial", "university", "institute", "county", "community",  "children", "s",
    "de",       "del",        "la",        "apt",    "suite",      "ste",      "unit",
    "n",        "e",          "w",         "ne",     "nw",         "se",       "sw",
    NULL};

static int keep_word(const char *p, size_t n)
{
    for (size_t k = 0; KEEP_WORDS[k] != NULL; k++)
        if (KEEP_WORDS[k][0] == lower(p[0]) && strlen(KEEP_WORDS[k]) == n &&
            eq_fold(KEEP_WORDS[k], p, n))
            return 1;
    const struct phi__dict_ent *d = phi__dict_find(p, n);
    return d != NULL && (d->flags & PHI_DICT_SUFFIX);
}

/* Appends w[0..wn) in the case style of the original word p[0..n). */
static ms_rc put_cased(ms_buf *out, const char *p, size_t n, const char *w, size_t wn, ms_err *err)
{
    char tmp[64];
    if (wn >= sizeof tmp)
        wn = sizeof tmp - 1;
    int allcap = n > 1 && p[0] >= 'A' && p[0] <= 'Z' && p[1] >= 'A' && p[1] <= 'Z';
    int low = n > 0 && p[0] >= 'a' && p[0] <= 'z';
    for (size_t k = 0; k < wn; k++) {
        char c = w[k];
        if (allcap && c >= 'a' && c <= 'z')
            c = (char)(c - 32);
        if (low && c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        tmp[k] = c;
    }
    ms_rc rc = ms_buf_append(out, tmp, wn, err);
    ms_memzero(tmp, sizeof tmp);
    return rc;
}

/* One word of a name / place: a list pick, consistent and recorded for re-identification. */
static ms_rc word_sur(phi_ctx *ctx, phi_class cls, const char *p, size_t n, ms_buf *out,
                      ms_err *err)
{
    const struct mapent *e = phi__map_get(ctx, cls, p, n);
    if (e != NULL)
        return put_cased(out, p, n, e->sur, e->sn, err);
    const struct phi__dict_ent *d = phi__dict_find(p, n);
    int first = cls == PHI_NAME && d != NULL && (d->flags & PHI_DICT_FIRST) &&
                (!(d->flags & PHI_DICT_LAST) || d->first >= d->last);
    const char *const *list = first                ? phi__sur_first
                              : cls == PHI_ADDRESS ? phi__sur_street
                                                   : phi__sur_last;
    size_t ln = first ? phi__sur_first_n : cls == PHI_ADDRESS ? phi__sur_street_n : phi__sur_last_n;
    const char *pick = list[0];
    size_t pn = strlen(pick);
    for (unsigned ctr = 0; ctr < 16; ctr++) {
        uint8_t r[32];
        prf(ctx, cls, p, n, ctr, r);
        pick = list[ms_load_u32le(r) % ln];
        ms_memzero(r, sizeof r);
        pn = strlen(pick);
        if (!(pn == n && eq_fold(pick, p, n)) && !phi__map_sur_taken(ctx, pick, pn))
            break;
    }
    if (n >= 2 && phi__map_put(ctx, cls, p, n, pick, pn, err) != MS_OK)
        return MS_E_NOMEM;
    return put_cased(out, p, n, pick, pn, err);
}

/* Shape-preserving: digits -> digits, letters -> letters (same case), the rest kept. A leading
 * alphabetic prefix of up to 4 letters ("MRN", "ACC") is kept: it names the kind, not the
 * person. */
static ms_rc shape_sur(phi_ctx *ctx, phi_class cls, const char *p, size_t n, ms_buf *out,
                       ms_err *err)
{
    uint8_t r[32];
    size_t keep = 0, used = 0;
    unsigned ctr = 0;
    while (keep < n && is_alpha((unsigned char)p[keep]))
        keep++;
    if (keep > 4 || keep == n)
        keep = 0;
    prf(ctx, cls, p, n, ctr, r);
    ms_rc rc = ms_buf_append(out, p, keep, err);
    for (size_t i = keep; i < n && rc == MS_OK; i++) {
        unsigned char c = (unsigned char)p[i];
        if (used == sizeof r) {
            prf(ctx, cls, p, n, ++ctr, r);
            used = 0;
        }
        uint8_t x = r[used++];
        if (is_digit(c))
            c = (unsigned char)('0' + x % 10);
        else if (c >= 'A' && c <= 'Z')
            c = (unsigned char)('A' + x % 26);
        else if (c >= 'a' && c <= 'z')
            c = (unsigned char)('a' + x % 26);
        else if (c >= 0x80)
            c = (unsigned char)((c & 0xC0) == 0x80 ? 0 : 'X');
        if (c != 0)
            rc = ms_buf_append_byte(out, c, err);
    }
    ms_memzero(r, sizeof r);
    return rc;
}

/* Names, places, addresses: word by word (words from the lists, numbers by shape). */
static ms_rc zip_sur(phi_ctx *ctx, const char *p, size_t n, ms_buf *out, ms_err *err);

static ms_rc words_sur(phi_ctx *ctx, phi_class cls, const char *p, size_t n, ms_buf *out,
                       ms_err *err)
{
    size_t i = 0;
    int after_state = 0;
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        if (!(is_alpha(c) || is_digit(c) || c >= 0x80)) {
            if (ms_buf_append_byte(out, c, err) != MS_OK)
                return MS_E_NOMEM;
            i++;
            continue;
        }
        size_t j = i, digits = 0;
        while (j < n && (is_alpha((unsigned char)p[j]) || is_digit((unsigned char)p[j]) ||
                         (unsigned char)p[j] >= 0x80)) {
            digits += (size_t)is_digit((unsigned char)p[j]);
            j++;
        }
        ms_rc rc;
        uint32_t bits = 0;
        uint8_t lab = 0;
        if (cls != PHI_NAME)
            phi__kw_lookup(p + i, j - i, &bits, &lab);
        int state =
            (bits & ((1u << KW_STATE) | (1u << KW_STATENAME))) != 0 &&
            (j - i > 2 || (p[i] >= 'A' && p[i] <= 'Z' && p[i + 1] >= 'A' && p[i + 1] <= 'Z'));
        if (digits == 5 && j - i == 5 && after_state)
            rc = zip_sur(ctx, p + i, j - i, out, err); /* "MA 02144": keep the allowed prefix */
        else if (digits > 0)
            rc = shape_sur(ctx, cls, p + i, j - i, out, err);
        else if (state || (cls != PHI_NAME && keep_word(p + i, j - i)))
            rc = ms_buf_append(out, p + i, j - i, err); /* states are not PHI */
        else if (j - i == 1)
            rc = shape_sur(ctx, cls, p + i, 1, out, err);
        else
            rc = word_sur(ctx, cls, p + i, j - i, out, err);
        if (rc != MS_OK)
            return rc;
        after_state = state;
        i = j;
    }
    return MS_OK;
}

static const char *const RESTRICTED_ZIP3[] = {"036", "059", "063", "102", "203", "556",
                                              "692", "790", "821", "823", "830", "831",
                                              "878", "879", "884", "890", "893", NULL};

/* The 3-digit prefix Safe Harbor allows, or "000" for the 17 restricted prefixes. */
static void zip3(const char *p, char out[4])
{
    memcpy(out, p, 3);
    out[3] = '\0';
    for (size_t k = 0; RESTRICTED_ZIP3[k] != NULL; k++)
        if (memcmp(RESTRICTED_ZIP3[k], p, 3) == 0)
            memcpy(out, "000", 3);
}

static ms_rc zip_sur(phi_ctx *ctx, const char *p, size_t n, ms_buf *out, ms_err *err)
{
    char z3[4];
    if (n < 5)
        return shape_sur(ctx, PHI_ZIP, p, n, out, err);
    zip3(p, z3);
    if (ms_buf_append(out, z3, 3, err) != MS_OK)
        return MS_E_NOMEM;
    return shape_sur(ctx, PHI_ZIP, p + 3, n - 3, out, err);
}

static ms_rc email_sur(phi_ctx *ctx, const char *p, size_t n, ms_buf *out, ms_err *err)
{
    uint8_t r[32];
    prf(ctx, PHI_EMAIL, p, n, 0, r);
    const char *f = phi__sur_first[ms_load_u32le(r) % phi__sur_first_n];
    const char *l = phi__sur_last[ms_load_u32le(r + 4) % phi__sur_last_n];
    char loc[80];
    int k = snprintf(loc, sizeof loc, "%s.%s%u", f, l, (unsigned)(r[8] % 100));
    for (int q = 0; q > -1 && q < k && (size_t)q < sizeof loc; q++)
        loc[q] = lower(loc[q]);
    ms_rc rc = ms_buf_printf(out, err, "%s@example.org", loc);
    ms_memzero(r, sizeof r);
    return rc;
}

static ms_rc net_sur(phi_ctx *ctx, phi_class cls, const char *p, size_t n, ms_buf *out, ms_err *err)
{
    uint8_t r[32];
    prf(ctx, cls, p, n, 0, r);
    static const char *const doc_nets[] = {"192.0.2", "198.51.100", "203.0.113"};
    ms_rc rc;
    if (cls == PHI_URL)
        rc = ms_buf_printf(out, err, "https://example.org/r/%02x%02x%02x%02x", r[0], r[1], r[2],
                           r[3]);
    else if (memchr(p, ':', n) != NULL)
        rc = ms_buf_printf(out, err, "2001:db8::%x:%x", ms_load_u16le(r), ms_load_u16le(r + 2));
    else
        rc = ms_buf_printf(out, err, "%s.%u", doc_nets[r[0] % 3], 1u + r[1] % 254u);
    ms_memzero(r, sizeof r);
    return rc;
}

/* SSN surrogates start with 9 (never issued); the layout is kept. */
static ms_rc ssn_sur(phi_ctx *ctx, const char *p, size_t n, ms_buf *out, ms_err *err)
{
    size_t start = out->len;
    if (shape_sur(ctx, PHI_SSN, p, n, out, err) != MS_OK)
        return MS_E_NOMEM;
    for (size_t k = start; k < out->len; k++)
        if (is_digit(out->p[k])) {
            out->p[k] = '9';
            break;
        }
    return MS_OK;
}

static ms_rc phone_sur(phi_ctx *ctx, phi_class cls, const char *p, size_t n, ms_buf *out,
                       ms_err *err)
{
    size_t start = out->len;
    if (shape_sur(ctx, cls, p, n, out, err) != MS_OK)
        return MS_E_NOMEM;
    /* NANP: area code and exchange do not start with 0 or 1; use the fictional 555 exchange
     * shape only for the first digit rule */
    for (size_t k = start; k < out->len; k++)
        if (is_digit(out->p[k])) {
            if (out->p[k] < '2')
                out->p[k] = (uint8_t)(out->p[k] + 2);
            break;
        }
    return MS_OK;
}

static ms_rc age_sur(const char *p, size_t n, ms_buf *out, ms_err *err)
{
    size_t d = 0;
    while (d < n && is_digit((unsigned char)p[d]))
        d++;
    if (d == n)
        return ms_buf_append_str(out, "90+", err);
    if (ms_buf_append_str(out, d >= 3 ? "090" : "90", err) != MS_OK)
        return MS_E_NOMEM;
    return ms_buf_append(out, p + d, n - d, err);
}

static ms_rc generate(phi_ctx *ctx, phi_class cls, const char *p, size_t n, ms_buf *out,
                      ms_err *err)
{
    switch (cls) {
    case PHI_NAME:
    case PHI_LOCATION:
    case PHI_ADDRESS:
        return words_sur(ctx, cls, p, n, out, err);
    case PHI_DATE:
        return phi__date_shift(p, n, ctx->date_off, out, err);
    case PHI_AGE:
        return age_sur(p, n, out, err);
    case PHI_ZIP:
        return zip_sur(ctx, p, n, out, err);
    case PHI_EMAIL:
        return email_sur(ctx, p, n, out, err);
    case PHI_URL:
    case PHI_IP:
        return net_sur(ctx, cls, p, n, out, err);
    case PHI_SSN:
        return ssn_sur(ctx, p, n, out, err);
    case PHI_PHONE:
    case PHI_FAX:
        return phone_sur(ctx, cls, p, n, out, err);
    default:
        return shape_sur(ctx, cls, p, n, out, err);
    }
}

static ms_rc tag(const phi_ctx *ctx, phi_class cls, const char *p, size_t n, ms_buf *out,
                 ms_err *err)
{
    if (cls == PHI_ZIP && ctx->keep_zip3 && n >= 5 && is_digit((unsigned char)p[0]) &&
        is_digit((unsigned char)p[1]) && is_digit((unsigned char)p[2])) {
        char z3[4];
        zip3(p, z3);
        return ms_buf_printf(out, err, "%sXX", z3);
    }
    if (cls == PHI_AGE)
        return ms_buf_append_str(out, "[AGE 90+]", err);
    static const char *const TAGS[PHI_CLASS_COUNT] = {
        "[NAME]",    "[DATE]",   "[AGE]", "[ADDRESS]", "[LOCATION]", "[ZIP]",         "[PHONE]",
        "[FAX]",     "[EMAIL]",  "[SSN]", "[MRN]",     "[ACCOUNT]",  "[HEALTH_PLAN]", "[LICENSE]",
        "[VEHICLE]", "[DEVICE]", "[URL]", "[IP]",      "[ID]"};
    return ms_buf_append_str(out, (unsigned)cls < PHI_CLASS_COUNT ? TAGS[cls] : "[PHI]", err);
}

ms_rc phi__surrogate(phi_ctx *ctx, phi_class cls, const char *real, size_t rn, ms_buf *out,
                     ms_err *err)
{
    if (ctx->mode == PHI_MODE_TAG)
        return tag(ctx, cls, real, rn, out, err);
    /* classes replaced as a unit: a value seen before (byte for byte; the map matches case
     * insensitively, and shape surrogates keep the case) gets the recorded surrogate, which is
     * what generate() would write again (it depends only on key, class and value), without
     * recomputing the HMAC */
    uint32_t h = memo_hash(cls, real, rn);
    const struct memoent *mm = memo_get(ctx, cls, real, rn, h);
    if (mm != NULL)
        return ms_buf_append(out, ctx->memo.bytes + mm->off + mm->rn, mm->sn, err);
    int unit = cls != PHI_NAME && cls != PHI_LOCATION && cls != PHI_ADDRESS && cls != PHI_AGE;
    if (unit) {
        const struct mapent *me = phi__map_get(ctx, cls, real, rn);
        if (me != NULL && me->rn == rn && memcmp(me->real, real, rn) == 0)
            return ms_buf_append(out, me->sur, me->sn, err);
    }
    size_t start = out->len;
    ms_err e2 = {0};
    ms_rc rc = generate(ctx, cls, real, rn, out, &e2);
    if (rc == MS_E_FORMAT) { /* a date we detected but cannot shift: tag it */
        out->len = start;
        rc = tag(ctx, cls, real, rn, out, err);
    } else if (rc != MS_OK) {
        if (err != NULL && err->code == MS_OK)
            *err = e2;
    } else if (unit && out->len - start <= SUR_MAX) {
        /* whole-span pairs for classes replaced as a unit (words are recorded one by one) */
        rc = phi__map_put(ctx, cls, real, rn, (const char *)out->p + start, out->len - start, err);
    }
    if (rc == MS_OK)
        memo_put(ctx, cls, h, real, rn, (const char *)out->p + start, out->len - start);
    return rc;
}

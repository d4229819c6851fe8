/*
 * Site lists: a hospital's staff roster (staff_names.txt: first names, surnames or full names of
 * clinicians) and its local places (places.txt: wards, local hospitals, towns, abbreviations),
 * one entry a line in any case, loaded once into a read-only hash table that every context
 * borrows (phi_opts.site), and the detector that removes every entry found in a text.
 * Entries are normalised like text tokens: ASCII letters lower-cased, words joined by one space,
 * the punctuation between words (".", "-", "'") ignored, so "St. Brigid" matches "ST BRIGID",
 * "St Brigid" and "st. brigid". An entry that is also a common English word ("Joy", "Hope") is
 * removed only where a name or place can be (capitalised in mixed-case text, or after a title,
 * role or relation word), so a roster cannot delete ordinary words.
 * Trusts: nothing in the files (line length, UTF-8 and size are checked; errors give the file and
 * line number, never the line). Owns: the table (ms_malloc memory, wiped on free: a roster is
 * not PHI of a patient, but is treated like it).
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define SITE_LINE_MAX  256               /* bytes in one entry */
#define SITE_FILE_MAX  ((size_t)64 << 20) /* bytes in one list */
#define SITE_WORDS_MAX 8                  /* words in one entry */

#define SF_STAFF  1u
#define SF_PLACE  2u
#define SF_PREFIX 4u /* the first words of a longer entry */

struct site_ent {
    uint32_t hash; /* phi__whash of the normalised key */
    uint32_t off;  /* key in pool */
    uint16_t len;
    uint8_t flags;
    uint8_t used;
};

struct phi_sitelists {
    ms_alloc *alloc;
    struct site_ent *ent;
    size_t slots, n; /* slots: a power of two, at most half full */
    char *pool;
    size_t plen, pcap;
    size_t counts[2]; /* entries read from staff_names.txt, places.txt */
};

static int word_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c >= 0x80;
}

/* RFC 3629 UTF-8 (no overlongs, surrogates or code points over U+10FFFF). */
static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                                                              : (c >= 0xF0 && c <= 0xF4) ? 4
                                                                                         : 0;
        if (k == 0 || n - i < k)
            return 0;
        for (size_t q = 1; q < k; q++)
            if ((s[i + q] & 0xC0u) != 0x80u)
                return 0;
        if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F) ||
            (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F))
            return 0;
        i += k;
    }
    return 1;
}

static const struct site_ent *site_find(const phi_sitelists *sl, const char *k, size_t n,
                                        uint32_t hv)
{
    for (size_t h = hv & (sl->slots - 1);; h = (h + 1) & (sl->slots - 1)) {
        const struct site_ent *e = &sl->ent[h];
        if (!e->used)
            return NULL;
        if (e->hash == hv && e->len == n && memcmp(sl->pool + e->off, k, n) == 0)
            return e;
    }
}

static ms_rc grow_table(phi_sitelists *sl, ms_err *err)
{
    size_t ns = sl->slots ? sl->slots * 2 : 1024;
    struct site_ent *ne = ms_calloc(sl->alloc, ns, sizeof *ne);
    if (ne == NULL)
        return ms_fail(err, MS_E_NOMEM, "site lists: out of memory (%zu slots)", ns);
    for (size_t k = 0; k < sl->slots; k++) {
        if (!sl->ent[k].used)
            continue;
        size_t h = sl->ent[k].hash & (ns - 1);
        while (ne[h].used)
            h = (h + 1) & (ns - 1);
        ne[h] = sl->ent[k];
    }
    ms_free(sl->alloc, sl->ent);
    sl->ent = ne;
    sl->slots = ns;
    return MS_OK;
}

static ms_rc put_key(phi_sitelists *sl, const char *k, size_t n, unsigned flags, ms_err *err)
{
    uint32_t hv = phi__whash(k, n);
    if (sl->slots > 0) {
        struct site_ent *e = (struct site_ent *)site_find(sl, k, n, hv);
        if (e != NULL) {
            e->flags = (uint8_t)(e->flags | flags);
            return MS_OK;
        }
    }
    if ((sl->n + 1) * 2 > sl->slots && grow_table(sl, err) != MS_OK)
        return MS_E_NOMEM;
    if (sl->plen + n > sl->pcap) {
        size_t nc = sl->pcap ? sl->pcap * 2 : 65536;
        while (nc < sl->plen + n)
            nc *= 2;
        char *np = ms_realloc(sl->alloc, sl->pool, nc);
        if (np == NULL)
            return ms_fail(err, MS_E_NOMEM, "site lists: out of memory (%zu bytes)", nc);
        sl->pool = np;
        sl->pcap = nc;
    }
    memcpy(sl->pool + sl->plen, k, n);
    size_t h = hv & (sl->slots - 1);
    while (sl->ent[h].used)
        h = (h + 1) & (sl->slots - 1);
    sl->ent[h] = (struct site_ent){hv, (uint32_t)sl->plen, (uint16_t)n, (uint8_t)flags, 1};
    sl->plen += n;
    sl->n++;
    return MS_OK;
}

/* One entry: normalised (words of letters, digits and non-ASCII bytes, lower case, one space
 * between), stored with every shorter prefix of whole words marked SF_PREFIX. */
static ms_rc put_entry(phi_sitelists *sl, const char *s, size_t n, unsigned flag, ms_err *err)
{
    char key[SITE_LINE_MAX + 1];
    size_t o = 0, words = 0, i = 0;
    size_t ends[SITE_WORDS_MAX];
    while (i < n && words < SITE_WORDS_MAX) {
        while (i < n && !word_byte((unsigned char)s[i]))
            i++;
        if (i >= n)
            break;
        if (o > 0)
            key[o++] = ' ';
        while (i < n && word_byte((unsigned char)s[i])) {
            char c = s[i++];
            key[o++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        ends[words++] = o;
    }
    if (words == 0)
        return MS_OK;
    for (size_t w = 0; w + 1 < words; w++)
        if (put_key(sl, key, ends[w], SF_PREFIX, err) != MS_OK)
            return MS_E_NOMEM;
    return put_key(sl, key, o, flag, err);
}

static ms_rc load_file(phi_sitelists *sl, const char *dir, const char *name, unsigned flag,
                       size_t *count, int *found, ms_err *err)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return ms_fail(err, MS_E_LIMIT, "site lists: folder path too long");
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return MS_OK; /* each list is optional */
    fclose(f);
    *found = 1;
    ms_buf b;
    ms_buf_init(&b, sl->alloc, SITE_FILE_MAX);
    if (ms_file_read(path, sl->alloc, SITE_FILE_MAX, &b, err) != MS_OK) {
        ms_buf_free(&b);
        return err != NULL && err->code != MS_OK ? err->code : MS_E_IO;
    }
    const char *p = (const char *)b.p, *end = p + b.len;
    size_t line = 0;
    ms_rc rc = MS_OK;
    while (p < end && rc == MS_OK) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        line++;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n > SITE_LINE_MAX) {
            rc = ms_fail(err, MS_E_LIMIT, "site lists: %s line %zu over %d bytes", name, line,
                         SITE_LINE_MAX);
        } else if (memchr(p, '\0', n) != NULL || !utf8_ok((const unsigned char *)p, n)) {
            rc = ms_fail(err, MS_E_FORMAT, "site lists: %s line %zu is not UTF-8 text", name,
                         line);
        } else if (n > 0 && p[0] != '#') {
            rc = put_entry(sl, p, n, flag, err);
            if (rc == MS_OK)
                (*count)++;
        }
        p = nl ? nl + 1 : end;
    }
    ms_buf_free(&b);
    return rc;
}

ms_rc phi_sitelists_load(const char *dir, ms_alloc *alloc, phi_sitelists **out, ms_err *err)
{
    if (dir == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "phi_sitelists_load: NULL argument");
    *out = NULL;
    phi_sitelists *sl = ms_malloc(alloc, sizeof *sl);
    if (sl == NULL)
        return ms_fail(err, MS_E_NOMEM, "site lists: out of memory");
    memset(sl, 0, sizeof *sl);
    sl->alloc = alloc;
    phi__kw_init();
    int found = 0;
    ms_rc rc = grow_table(sl, err);
    if (rc == MS_OK)
        rc = load_file(sl, dir, "staff_names.txt", SF_STAFF, &sl->counts[0], &found, err);
    if (rc == MS_OK)
        rc = load_file(sl, dir, "places.txt", SF_PLACE, &sl->counts[1], &found, err);
    if (rc == MS_OK && !found)
        rc = ms_fail(err, MS_E_NOTFOUND,
                     "site lists: neither staff_names.txt nor places.txt in the folder");
    if (rc != MS_OK) {
        phi_sitelists_free(sl);
        return rc;
    }
    *out = sl;
    return MS_OK;
}

void phi_sitelists_free(phi_sitelists *sl)
{
    if (sl == NULL)
        return;
    ms_alloc *a = sl->alloc;
    if (sl->pool != NULL)
        ms_memzero(sl->pool, sl->pcap);
    ms_free(a, sl->pool);
    ms_free(a, sl->ent);
    ms_memzero(sl, sizeof *sl);
    ms_free(a, sl);
}

void phi_sitelists_counts(const phi_sitelists *sl, size_t *staff, size_t *places)
{
    if (staff != NULL)
        *staff = sl ? sl->counts[0] : 0;
    if (places != NULL)
        *places = sl ? sl->counts[1] : 0;
}

/* ---- detection ------------------------------------------------------------------------------- */

/* Token i may hold a name or place whatever the word: not a common English word, or written
 * like a name (capitalised, not at a sentence start, in text that is not all capitals), or
 * after a title, role or relation word. */
static int free_word(const struct scan *sc, size_t i)
{
    const struct tok *t = &sc->tk[i];
    if (t->kind != TK_WORD)
        return 1;
    const struct phi__dict_ent *d =
        t->de >= 0 ? &phi__dict_ents[t->de] : phi__dict_find(sc->t + t->s, t->e - t->s);
    if (d == NULL || !(d->flags & PHI_DICT_WORD) || d->word_level == 0 || d->word_level >= 50)
        return 1;
    if (t->kw & ((1u << KW_NOTNAME) | (1u << KW_PREP) | (1u << KW_PLACEJOIN)))
        return 0;
    if ((t->fl & TF_CAP) && !(t->fl & TF_ALLCAP) && !(t->fl & TF_SENT))
        return 1;
    if (i > 0) { /* a title, role or relation word before it */
        size_t j = i - 1;
        while (j > 0 && sc->tk[j].kind == TK_PUNCT && phi__in((char)sc->tk[j].ch, ".,:"))
            j--;
        if (sc->tk[j].kw & ((1u << KW_TITLE_CLIN) | (1u << KW_TITLE_LAY) | (1u << KW_CUE)))
            return 1;
    }
    return 0;
}

void phi__detect_site(struct scan *sc)
{
    const phi_sitelists *sl = sc->ctx->site;
    if (sl == NULL || sl->n == 0)
        return;
    char key[SITE_LINE_MAX + 1];
    for (size_t i = 0; i < sc->ntk; i++) {
        const struct tok *t = &sc->tk[i];
        if (t->kind == TK_PUNCT || t->kind == TK_NUM ||
            (i > 0 && phi__tok_adjacent(sc, i) && sc->tk[i - 1].kind != TK_PUNCT))
            continue;
        size_t o = 0, j = i, best = 0, words = 0;
        unsigned bflags = 0;
        while (j < sc->ntk && words < SITE_WORDS_MAX) {
            const struct tok *u = &sc->tk[j];
            if (u->kind == TK_PUNCT || (j > i && (u->fl & TF_NL)))
                break;
            size_t len = u->e - u->s;
            if (o + len + 1 > SITE_LINE_MAX)
                break;
            if (o > 0)
                key[o++] = ' ';
            for (size_t k = 0; k < len; k++) {
                char c = sc->t[u->s + k];
                key[o++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
            }
            words++;
            const struct site_ent *e = site_find(sl, key, o, phi__whash(key, o));
            if (e == NULL)
                break;
            if ((e->flags & (SF_STAFF | SF_PLACE)) &&
                !(j + 1 < sc->ntk && phi__tok_adjacent(sc, j + 1) &&
                  sc->tk[j + 1].kind != TK_PUNCT)) {
                best = j + 1;
                bflags = e->flags;
            }
            if (!(e->flags & SF_PREFIX))
                break;
            j++;
            /* "St. Brigid", "Smith-Jones", "O'Neil": punctuation glued between words */
            while (j < sc->ntk && sc->tk[j].kind == TK_PUNCT && phi__tok_adjacent(sc, j) &&
                   phi__in((char)sc->tk[j].ch, ".-'") && j + 1 < sc->ntk &&
                   phi__tok_adjacent(sc, j + 1))
                j++;
        }
        if (best == 0)
            continue;
        size_t last = best - 1;
        /* a one-word entry that is a common word needs a name's or a place's position */
        if (last == i && !free_word(sc, i))
            continue;
        phi_class cls = (bflags & SF_PLACE) && !(bflags & SF_STAFF) ? PHI_LOCATION : PHI_NAME;
        phi__add(sc, t->s, sc->tk[last].e, cls, PHI_SRC_DICT, 48, (bflags & SF_STAFF) ? 1 : 0);
        i = last;
    }
}

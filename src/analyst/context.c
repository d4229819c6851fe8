/*
 * Negation, uncertainty and temporality of a mention (the ConText / NegEx family of
 * algorithms): the triggers of a sentence are found (data/analyst/context.tsv, compiled into
 * an_ctx_lexicon; the longest phrase at each word start, so a pseudo-trigger such as "no change"
 * hides the "no" in it), each with a forward or backward scope bounded by a number of words, by
 * a terminating phrase ("but", "however", "rather than" ...), by ';' or ':', and by a comma that
 * starts a new clause. The trigger nearest to the mention whose scope covers it decides.
 *
 * Trusts: the caller's bounds (s0 <= t0 <= t1 <= s1 within a NUL-terminated lower-cased copy).
 * Owns: nothing (the lexicon is static, generated).
 */
#include <string.h>

#include "internal.h"

#define FWD_WORDS 12
#define BWD_WORDS 6
#define MAX_TRIG  48

static int alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

struct trig {
    size_t start, end;
    const struct an_ctx_trigger *t;
};

/* The longest trigger starting at word start i, or NULL. */
static const struct an_ctx_trigger *trigger_at(const char *lc, size_t i, size_t s1, size_t *end)
{
    const struct an_ctx_trigger *best = NULL;
    for (size_t k = 0; k < an_ctx_lexicon_n; k++) {
        const struct an_ctx_trigger *t = &an_ctx_lexicon[k];
        if (t->phrase[0] != lc[i] || i + t->len > s1 || (best != NULL && t->len <= best->len))
            continue;
        if (memcmp(lc + i, t->phrase, t->len) != 0 || (i + t->len < s1 && alnum(lc[i + t->len])))
            continue;
        best = t;
    }
    if (best != NULL)
        *end = i + best->len;
    return best;
}

/* A comma at i that starts a new clause rather than continuing a list: ", a", ", an", ", the",
 * ", there", ", it", ", this", a number. */
static int clause_comma(const char *lc, size_t i, size_t s1)
{
    static const char *const next[] = {"a", "an", "the", "there", "it", "this", "these", NULL};
    size_t j = i + 1;
    while (j < s1 && lc[j] == ' ')
        j++;
    if (j < s1 && lc[j] >= '0' && lc[j] <= '9')
        return 1;
    for (size_t k = 0; next[k] != NULL; k++) {
        size_t n = strlen(next[k]);
        if (j + n <= s1 && memcmp(lc + j, next[k], n) == 0 && (j + n == s1 || !alnum(lc[j + n])))
            return 1;
    }
    return 0;
}

/* Words and scope breaks in [a, b): returns 1 if a break (';', ':', a clause comma, a
 * terminating trigger) lies between; *words counts the words. */
static int scope_broken(const char *lc, size_t a, size_t b, size_t s1, const struct trig *tr,
                        size_t ntr, int ignore_terms, size_t *words)
{
    size_t w = 0;
    for (size_t i = a; i < b; i++) {
        if (!ignore_terms && (lc[i] == ';' || lc[i] == ':' || (lc[i] == ',' && clause_comma(lc, i, s1))))
            return 1;
        if (alnum(lc[i]) && (i == 0 || !alnum(lc[i - 1])))
            w++;
    }
    *words = w;
    for (size_t k = 0; !ignore_terms && k < ntr; k++) {
        if (tr[k].t->cat == AN_CTX_TERMINATE && tr[k].start >= a && tr[k].end <= b)
            return 1;
    }
    return 0;
}

int an_context(const char *lc, size_t s0, size_t s1, size_t t0, size_t t1, struct an_ctx_hit *hit)
{
    struct trig tr[MAX_TRIG];
    size_t ntr = 0;
    for (size_t i = s0; i < s1 && ntr < MAX_TRIG; i++) {
        if (!alnum(lc[i]) || (i > 0 && alnum(lc[i - 1])))
            continue;
        size_t e;
        const struct an_ctx_trigger *t = trigger_at(lc, i, s1, &e);
        if (t == NULL)
            continue;
        if (e > t0 && i < t1) /* overlaps the mention itself */
            continue;
        tr[ntr].start = i;
        tr[ntr].end = e;
        tr[ntr].t = t;
        ntr++;
        i = e - 1;
    }
    size_t best_d = (size_t)-1;
    int cat = AN_CTX_NONE;
    for (size_t k = 0; k < ntr; k++) {
        const struct an_ctx_trigger *t = tr[k].t;
        if (t->cat == AN_CTX_PSEUDO || t->cat == AN_CTX_TERMINATE)
            continue;
        size_t words = 0, d;
        if (tr[k].end <= t0 && (t->dir & AN_CTX_FWD)) {
            if (scope_broken(lc, tr[k].end, t0, s1, tr, ntr, 0, &words) || words > FWD_WORDS)
                continue;
            /* a nearer trigger between (of any kind) takes the scope over */
            int nearer = 0;
            for (size_t q = 0; q < ntr && !nearer; q++)
                nearer = q != k && tr[q].start >= tr[k].end && tr[q].end <= t0 &&
                         tr[q].t->cat != AN_CTX_PSEUDO && tr[q].t->cat != AN_CTX_TERMINATE &&
                         (tr[q].t->dir & AN_CTX_FWD);
            if (nearer)
                continue;
            d = t0 - tr[k].end;
        } else if (tr[k].start >= t1 && (t->dir & AN_CTX_BWD)) {
            int ign = t->cat == AN_CTX_NEW;
            if (scope_broken(lc, t1, tr[k].start, s1, tr, ntr, ign, &words) ||
                words > (ign ? FWD_WORDS : BWD_WORDS))
                continue;
            d = tr[k].start - t1;
        } else {
            continue;
        }
        if (d < best_d) {
            best_d = d;
            cat = t->cat;
            if (hit != NULL) {
                hit->cat = t->cat;
                hit->start = tr[k].start;
                hit->end = tr[k].end;
                hit->trigger = t;
            }
        }
    }
    if (cat == AN_CTX_NONE && hit != NULL)
        memset(hit, 0, sizeof *hit);
    return cat;
}

const char *an_ctx_name(int cat)
{
    static const char *const names[] = {"none",     "negated", "negated-new", "uncertain",
                                        "resolved", "historical", "new", "pseudo", "terminate"};
    return cat >= 0 && cat <= AN_CTX_TERMINATE ? names[cat] : "none";
}

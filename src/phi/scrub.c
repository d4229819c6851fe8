/*
 * The scrubber's driver: context lifetime (key derivation, identity copy), and phi_scrub:
 * check the size, normalise a window with non-ASCII bytes (norm.c: NFKC, confusable skeletons;
 * the detectors read that view, spans map back to the original bytes), tokenize (which rejects
 * invalid UTF-8 and NUL bytes), run every detector,
 * merge overlapping candidates, write the text with each merged span replaced, and report
 * spans (class, offsets; no values).
 * Fail closed: any error resets the output buffer, so the caller never gets raw text.
 * Trusts: nothing in the text. Owns: the context and everything hanging off it.
 */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const CLASS_NAMES[PHI_CLASS_COUNT] = {
    "NAME",    "DATE",   "AGE", "ADDRESS", "LOCATION", "ZIP",         "PHONE",
    "FAX",     "EMAIL",  "SSN", "MRN",     "ACCOUNT",  "HEALTH_PLAN", "LICENSE",
    "VEHICLE", "DEVICE", "URL", "IP",      "ID"};

const char *phi_class_name(phi_class c)
{
    return ((unsigned)c < PHI_CLASS_COUNT) ? CLASS_NAMES[c] : "?";
}

static size_t slen(const char *s)
{
    return s ? strnlen(s, 256) : 0;
}

/* Per-patient key: HMAC(site key, "phi-patient" || issuer || 0 || id), so surrogates of one
 * patient are unlinkable to another's. Without a site key, the context's key and date offset
 * are simply drawn at random (a keyed derivation from a random key would be random too; the
 * gateway makes a context per request, and the two HMACs were a third of an empty one). */
static ms_rc derive_keys(phi_ctx *ctx, const uint8_t *site, const phi_identity *id, ms_err *err)
{
    uint8_t k[MS_KEY_LEN];
    if (site == NULL) {
        uint8_t r[MS_KEY_LEN + 4];
        if (ms_random(r, sizeof r, err) != MS_OK)
            return MS_E_CRYPTO;
        memcpy(ctx->key, r, MS_KEY_LEN);
        /* -365 .. -1 days, as ms_pseudo_date_offset */
        ctx->date_off = -1 - (int)(ms_load_u32be(r + MS_KEY_LEN) % 365u);
        ms_memzero(r, sizeof r);
        return MS_OK;
    }
    memcpy(k, site, MS_KEY_LEN);
    const char *iss = id ? id->issuer : NULL, *pid = id ? id->patient_id : NULL;
    char label[300];
    size_t ni = slen(iss), np = slen(pid), o = 0;
    memcpy(label, "phi-patient", 12);
    o = 12;
    memcpy(label + o, iss ? iss : "", ni);
    o += ni;
    label[o++] = '\0';
    memcpy(label + o, pid ? pid : "", np);
    o += np;
    ms_rc rc = ms_hmac_sha256(k, MS_KEY_LEN, label, o, NULL, 0, ctx->key, err);
    if (rc == MS_OK)
        rc = ms_pseudo_date_offset(k, iss ? iss : "", ni, pid ? pid : "", np, &ctx->date_off, err);
    ms_memzero(k, sizeof k);
    ms_memzero(label, sizeof label);
    return rc;
}

ms_rc phi_ctx_new(const phi_opts *opts, phi_ctx **out, ms_err *err)
{
    if (opts == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "phi_ctx_new: NULL argument");
    if (opts->mode != PHI_MODE_TAG && opts->mode != PHI_MODE_SURROGATE)
        return ms_fail(err, MS_E_INVAL, "phi_ctx_new: unknown mode %d", (int)opts->mode);
    phi_ctx *ctx = ms_malloc(opts->alloc, sizeof *ctx);
    if (ctx == NULL)
        return ms_fail(err, MS_E_NOMEM, "phi: out of memory (context)");
    memset(ctx, 0, sizeof *ctx);
    ctx->alloc = opts->alloc;
    ctx->mode = opts->mode;
    ctx->keep_clin = opts->keep_clinician_names != 0;
    ctx->keep_zip3 = opts->keep_zip3 != 0;
    ctx->site = opts->site;
    ctx->max_input = opts->max_input ? opts->max_input : PHI_MAX_INPUT_DEFAULT;
    if (ctx->max_input > ((size_t)1 << 31))
        ctx->max_input = (size_t)1 << 31; /* token offsets are 32-bit */
    ms_rc rc = derive_keys(ctx, opts->key, opts->identity, err);
    phi__kw_init();
    if (rc == MS_OK && ctx->mode == PHI_MODE_SURROGATE)
        phi__prf_init(ctx);
    if (rc == MS_OK && opts->identity != NULL)
        rc = phi__ident_build(ctx, opts->identity, err);
    if (rc != MS_OK) {
        phi_ctx_free(ctx);
        return rc;
    }
    *out = ctx;
    return MS_OK;
}

void phi_ctx_free(phi_ctx *ctx)
{
    if (ctx == NULL)
        return;
    ms_alloc *a = ctx->alloc;
    phi__ident_free(ctx);
    phi__map_free(ctx);
    phi__prf_free(ctx);
    ms_free(a, ctx->tk);
    ms_free(a, ctx->c);
    ms_free(a, ctx->ix);
    ms_free(a, ctx->nv);
    ms_free(a, ctx->nvmap);
    ms_free(a, ctx->nvcache);
    ms_memzero(ctx, sizeof *ctx);
    ms_free(a, ctx);
}

void phi_ctx_counts(const phi_ctx *ctx, size_t counts[PHI_CLASS_COUNT])
{
    for (size_t k = 0; k < PHI_CLASS_COUNT; k++)
        counts[k] = ctx ? ctx->counts[k] : 0;
}

size_t phi_ctx_map_size(const phi_ctx *ctx)
{
    return ctx ? ctx->map.n : 0;
}

int phi_ctx_date_offset(const phi_ctx *ctx)
{
    return ctx ? ctx->date_off : 0;
}

void phi_spans_free(phi_ctx *ctx, phi_span *spans)
{
    if (spans != NULL)
        ms_free(ctx ? ctx->alloc : NULL, spans);
}

/* ---- merging --------------------------------------------------------------------------------- */

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    if (x->e != y->e)
        return x->e > y->e ? -1 : 1;
    return (int)y->prio - (int)x->prio;
}

/* Merges overlapping candidates in place; the class is the highest-priority member's. A merged
 * span is a kept clinician name only if every member is one. Returns the merged count. */
static size_t merge(struct cand *c, size_t n)
{
    if (n == 0)
        return 0;
    if (n <= 32) { /* a stable insertion sort, as glibc's qsort (a merge sort) orders ties */
        for (size_t k = 1; k < n; k++) {
            struct cand x = c[k];
            size_t j = k;
            while (j > 0 && cand_cmp(&c[j - 1], &x) > 0) {
                c[j] = c[j - 1];
                j--;
            }
            c[j] = x;
        }
    } else {
        qsort(c, n, sizeof *c, cand_cmp);
    }
    size_t o = 0;
    for (size_t k = 1; k < n; k++) {
        struct cand *cur = &c[o];
        if (c[k].s < cur->e) {
            if (c[k].e > cur->e)
                cur->e = c[k].e;
            if (c[k].prio > cur->prio) {
                cur->cls = c[k].cls;
                cur->prio = c[k].prio;
                cur->src = c[k].src;
            }
            cur->clin = (uint8_t)(cur->clin && c[k].clin);
            continue;
        }
        c[++o] = c[k];
    }
    return o + 1;
}

/* ---- the scrub ------------------------------------------------------------------------------- */

/* The token and candidate arrays go back to the context for the next call (they hold offsets,
 * never text). */
static void scan_free(struct scan *sc)
{
    sc->ctx->tk = sc->tk;
    sc->ctx->captk = sc->captk;
    sc->ctx->c = sc->c;
    sc->ctx->capc = sc->capc;
    sc->ctx->ix = sc->ix;
    sc->ctx->capix = sc->capix;
}

/* The size limit (the tokenizer checks UTF-8 and NUL bytes as it goes: one pass over the text). */
static ms_rc check_size(const phi_ctx *ctx, size_t len, ms_err *err)
{
    if (len > ctx->max_input)
        return ms_fail(err, MS_E_LIMIT, "phi: input of %zu bytes over the limit of %zu", len,
                       ctx->max_input);
    return MS_OK;
}

static ms_rc detect(struct scan *sc)
{
    if (phi__tokenize(sc) != MS_OK || phi__index(sc) != MS_OK)
        return sc->rc;
    phi__detect_bytes(sc);
    phi__detect_dates(sc);
    phi__detect_numbers(sc);
    phi__detect_names(sc);
    phi__detect_identity(sc);
    phi__detect_site(sc);
    return sc->rc;
}

/* Writes the original window with each merged span replaced. With a normalised view the spans
 * are mapped back to original offsets (monotonic; a span that would start inside the previous
 * one, as the two halves of a split ligature, starts where it ends) and the replacement is made
 * from the view's bytes, so `Ｊｏｈｎ` and `John` get one surrogate. */
static ms_rc write_out(struct scan *sc, size_t nm, ms_buf *out, phi_span *spans, size_t *ns,
                       size_t counts[PHI_CLASS_COUNT], ms_err *err)
{
    phi_ctx *ctx = sc->ctx;
    const char *ot = sc->om ? sc->ot : sc->t;
    size_t on = sc->om ? sc->on : sc->n;
    size_t pos = 0, k = 0;
    for (size_t i = 0; i < nm; i++) {
        const struct cand *c = &sc->c[i];
        if (c->clin && c->cls == PHI_NAME && ctx->keep_clin)
            continue;
        size_t s, e;
        phi__norm_span(sc, c->s, c->e, &s, &e);
        if (s < pos)
            s = pos;
        if (e <= s)
            continue;
        if (ms_buf_append(out, ot + pos, s - pos, err) != MS_OK)
            return MS_E_NOMEM;
        size_t os = out->len;
        ms_rc rc = phi__surrogate(ctx, (phi_class)c->cls, sc->t + c->s, c->e - c->s, out, err);
        if (rc != MS_OK)
            return rc;
        if (spans != NULL)
            spans[k] = (phi_span){(phi_class)c->cls, (phi_source)c->src, sc->base + s,
                                  sc->base + e, os, out->len};
        counts[c->cls]++;
        k++;
        pos = e;
    }
    *ns = k;
    return ms_buf_append(out, ot + pos, on - pos, err);
}

/* The scan works on windows of at most PHI_WINDOW bytes, so its token, index and candidate
 * arrays (about 40 bytes per token, 8x a note's bytes) stay bounded whatever the input: peak
 * memory is the input plus the output plus one window's arrays. A window ends at a blank line
 * in its last quarter, else at a line break, else at a space, never inside a UTF-8 sequence;
 * the detectors' context does not cross a blank line, so the cut changes nothing in practice
 * (a value whose label is two lines and a blank line away is the exception). */
#define PHI_WINDOW ((size_t)1 << 18)

static size_t window_len(const char *t, size_t n)
{
    if (n <= PHI_WINDOW)
        return n;
    size_t lo = PHI_WINDOW - PHI_WINDOW / 4;
    for (size_t k = PHI_WINDOW; k > lo; k--)
        if (t[k - 1] == '\n' && t[k - 2] == '\n')
            return k;
    for (size_t k = PHI_WINDOW; k > lo; k--)
        if (t[k - 1] == '\n')
            return k;
    for (size_t k = PHI_WINDOW; k > lo; k--)
        if (t[k - 1] == ' ' || t[k - 1] == '\t')
            return k;
    size_t k = PHI_WINDOW;
    while (k > lo && ((unsigned char)t[k] & 0xC0u) == 0x80u)
        k--; /* t[k] starts a sequence (or a wholly invalid run: the tokenizer reports it) */
    return k;
}

ms_rc phi_scrub(phi_ctx *ctx, const char *text, size_t len, ms_buf *out, phi_span **spans,
                size_t *nspans, ms_err *err)
{
    if (spans != NULL)
        *spans = NULL;
    if (nspans != NULL)
        *nspans = 0;
    if (ctx == NULL || out == NULL || (text == NULL && len > 0)) {
        if (out != NULL)
            ms_buf_reset(out);
        return ms_fail(err, MS_E_INVAL, "phi_scrub: NULL argument");
    }
    const char *t = text ? text : "";
    phi_span *sp = NULL;
    size_t ns = 0, capsp = 0, counts[PHI_CLASS_COUNT] = {0};
    ms_rc rc = check_size(ctx, len, err);
    /* the output is about the input's size: one allocation instead of doublings, each of
     * which briefly holds the old and the new copy (ms_buf wipes on growth) */
    if (rc == MS_OK && len > PHI_WINDOW)
        (void)ms_buf_reserve(out, len + len / 8, NULL);
    size_t ws = 0;
    while (rc == MS_OK) {
        struct scan sc = {.ctx = ctx, .t = t + ws, .n = window_len(t + ws, len - ws), .err = err};
        sc.base = ws;
        sc.tk = ctx->tk;
        sc.captk = ctx->captk;
        sc.c = ctx->c;
        sc.capc = ctx->capc;
        sc.ix = ctx->ix;
        sc.capix = ctx->capix;
        size_t nm = 0, k = 0, wn = sc.n;
        if (phi__has_nonascii(sc.t, sc.n))
            rc = phi__normalize(&sc);
        if (rc == MS_OK)
            rc = detect(&sc);
        if (rc == MS_OK) {
            nm = merge(sc.c, sc.nc);
            if (spans != NULL && ns + nm > capsp) {
                size_t nc = capsp ? capsp : 64, bytes;
                while (nc < ns + nm)
                    nc *= 2;
                phi_span *np = NULL;
                if (ms_size_mul(nc, sizeof *sp, &bytes) == 0)
                    np = ms_realloc(ctx->alloc, sp, bytes);
                if (np == NULL)
                    rc = ms_fail(err, MS_E_NOMEM, "phi: out of memory (%zu spans)", ns + nm);
                else
                    sp = np, capsp = nc;
            }
        }
        if (rc == MS_OK)
            rc = write_out(&sc, nm, out, sp != NULL ? sp + ns : NULL, &k, counts, err);
        ns += k;
        ws += wn;
        scan_free(&sc);
        if (ws >= len)
            break;
    }
    if (rc != MS_OK) {
        ms_buf_reset(out); /* fail closed: nothing of the input survives in out */
        ms_free(ctx->alloc, sp);
        if (err != NULL && err->code == MS_OK)
            ms_fail(err, rc, "phi: scrub failed");
        return rc;
    }
    for (size_t k = 0; k < PHI_CLASS_COUNT; k++)
        ctx->counts[k] += counts[k];
    if (spans != NULL)
        *spans = sp;
    else
        ms_free(ctx->alloc, sp);
    if (nspans != NULL)
        *nspans = ns;
    return MS_OK;
}

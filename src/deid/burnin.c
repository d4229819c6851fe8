/*
 * Burned-in annotation (PS3.15 E.1.1, E.3.1): a file whose pixels may carry text is "needs review"
 * when BurnedInAnnotation (0028,0301) is YES, or its modality or SOP class is one known to burn
 * in text (US, secondary capture). Such a file is kept out of the output unless the operator
 * allows it, or a rule of the configuration (per manufacturer / model / matrix, as RSNA CTP's
 * DicomPixelAnonymizer) names rectangles to blank: they are then set to zero in every frame of
 * native (uncompressed) pixel data and the file is released with Clean Pixel Data recorded.
 *
 * Configuration lines: "manufacturer | model | COLSxROWS or * | x,y,w,h[; x,y,w,h...]", '#'
 * comments; manufacturer and model are case-insensitive substrings ("*" or empty = any).
 *
 * Trusts: the configuration is the operator's but is parsed with bounds (a bad line is an error
 * naming its number); the pixel data is checked against Rows x Columns x frames before writing.
 * Owns: the parsed rules (deid__burnin_free).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_RULES 4096
#define MAX_RECTS 64

/* ---- configuration ---- */

static void free_rule(struct deid_burnin_rule *r)
{
    ms_free(NULL, r->manufacturer);
    ms_free(NULL, r->model);
    ms_free(NULL, r->rects);
    memset(r, 0, sizeof *r);
}

void deid__burnin_free(deid_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nburnin; i++)
        free_rule(&ctx->burnin[i]);
    ms_free(NULL, ctx->burnin);
    ctx->burnin = NULL;
    ctx->nburnin = 0;
}

/* A field [p, q) trimmed and upper-cased, "*" -> "". */
static char *field(const char *p, const char *q)
{
    while (p < q && isspace((unsigned char)*p))
        p++;
    while (q > p && isspace((unsigned char)q[-1]))
        q--;
    if (q - p == 1 && *p == '*')
        q = p;
    char *s = ms_strndup(NULL, p, (size_t)(q - p));
    for (char *c = s; c != NULL && *c; c++)
        *c = (char)toupper((unsigned char)*c);
    return s;
}

static int parse_u32(const char **p, const char *end, uint32_t *out)
{
    while (*p < end && isspace((unsigned char)**p))
        (*p)++;
    uint64_t v = 0;
    const char *s = *p;
    while (*p < end && isdigit((unsigned char)**p) && v <= 0xffffffffu)
        v = v * 10 + (uint64_t)(*(*p)++ - '0');
    while (*p < end && isspace((unsigned char)**p))
        (*p)++;
    if (*p == s || v > 0xffffu) /* no digits, or beyond any DICOM matrix (US Rows/Columns) */
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_size(const char *p, const char *q, struct deid_burnin_rule *r)
{
    char *s = field(p, q);
    int bad = s == NULL;
    if (!bad && s[0] != '\0') {
        const char *c = s, *end = s + strlen(s);
        bad = parse_u32(&c, end, &r->cols) || c >= end || *c++ != 'X' ||
              parse_u32(&c, end, &r->rows) || c != end;
    }
    ms_free(NULL, s);
    return bad ? -1 : 0;
}

static int parse_rects(const char *p, const char *q, struct deid_burnin_rule *r)
{
    r->rects = ms_calloc(NULL, MAX_RECTS, sizeof *r->rects);
    if (r->rects == NULL)
        return -1;
    while (p < q) {
        struct deid_rect x;
        if (r->nrects == MAX_RECTS || parse_u32(&p, q, &x.x) || p >= q || *p++ != ',' ||
            parse_u32(&p, q, &x.y) || p >= q || *p++ != ',' || parse_u32(&p, q, &x.w) || p >= q ||
            *p++ != ',' || parse_u32(&p, q, &x.h))
            return -1;
        r->rects[r->nrects++] = x;
        if (p < q && *p++ != ';')
            return -1;
        if (p[-1] == ';' && p == q)
            return -1; /* a trailing ';' promises a rectangle that is not there */
    }
    return r->nrects > 0 ? 0 : -1;
}

static int parse_line(const char *p, const char *q, struct deid_burnin_rule *r)
{
    const char *bar[3];
    int n = 0;
    for (const char *c = p; c < q && n < 3; c++)
        if (*c == '|')
            bar[n++] = c;
    if (n != 3)
        return -1;
    r->manufacturer = field(p, bar[0]);
    r->model = field(bar[0] + 1, bar[1]);
    if (r->manufacturer == NULL || r->model == NULL)
        return -1;
    if (parse_size(bar[1] + 1, bar[2], r))
        return -1;
    return parse_rects(bar[2] + 1, q, r);
}

static int blank_line(const char *p, const char *q)
{
    while (p < q && isspace((unsigned char)*p))
        p++;
    return p == q || *p == '#';
}

ms_rc deid_ctx_parse_burnin(deid_ctx *ctx, const char *text, size_t len, ms_err *err)
{
    if (ctx == NULL || (text == NULL && len > 0))
        return ms_fail(err, MS_E_INVAL, "burned-in configuration: bad arguments");
    deid__burnin_free(ctx);
    size_t line = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *q = memchr(p, '\n', (size_t)(end - p));
        if (q == NULL)
            q = end;
        line++;
        if (!blank_line(p, q)) {
            if (ctx->nburnin == MAX_RULES)
                return ms_fail(err, MS_E_LIMIT, "burned-in configuration: over %d rules",
                               MAX_RULES);
            if (ctx->burnin == NULL)
                ctx->burnin = ms_calloc(NULL, MAX_RULES, sizeof *ctx->burnin);
            if (ctx->burnin == NULL)
                return ms_fail(err, MS_E_NOMEM, "burned-in configuration: out of memory");
            struct deid_burnin_rule *r = &ctx->burnin[ctx->nburnin++];
            if (parse_line(p, q, r)) {
                deid__burnin_free(ctx);
                return ms_fail(err, MS_E_FORMAT,
                               "burned-in configuration line %zu: expected "
                               "\"manufacturer | model | COLSxROWS or * | x,y,w,h[; ...]\"",
                               line);
            }
        }
        p = q < end ? q + 1 : end;
    }
    return MS_OK;
}

ms_rc deid_ctx_load_burnin(deid_ctx *ctx, const char *path, ms_err *err)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    ms_rc rc = ms_file_read(path, NULL, 1 << 20, &b, err);
    if (rc == MS_OK)
        rc = deid_ctx_parse_burnin(ctx, (const char *)b.p, b.len, err);
    ms_buf_free(&b);
    return rc;
}

/* ---- screening ---- */

/* *is = the text of tag equals want; errors other than "absent" are returned (fail closed). */
static ms_rc text_is(const dcm_dataset *ds, uint32_t tag, const char *want, ms_buf *b, int *is,
                     ms_err *err)
{
    ms_buf_reset(b);
    ms_rc rc = deid__text_or_empty(ds, tag, b, err);
    *is = rc == MS_OK && b->len == strlen(want) && memcmp(b->p, want, b->len) == 0;
    return rc;
}

/* OUT: *why, the reason this file needs review, or NULL. */
static ms_rc suspect(const dcm_dataset *ds, ms_buf *b, const char **why, ms_err *err)
{
    static const char *const classes[] = {
        "1.2.840.10008.5.1.4.1.1.7",   "1.2.840.10008.5.1.4.1.1.7.1", "1.2.840.10008.5.1.4.1.1.7.2",
        "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4", "1.2.840.10008.5.1.4.1.1.6.1",
        "1.2.840.10008.5.1.4.1.1.6.2", "1.2.840.10008.5.1.4.1.1.3.1",
    };
    int is = 0;
    *why = NULL;
    ms_rc rc = text_is(ds, DCM_TAG(0x0028, 0x0301), "YES", b, &is, err);
    if (rc == MS_OK && is)
        *why = "BurnedInAnnotation=YES";
    if (rc == MS_OK && *why == NULL)
        rc = text_is(ds, DCM_TAG(0x0008, 0x0060), "US", b, &is, err);
    if (rc == MS_OK && *why == NULL && is)
        *why = "modality US";
    for (size_t i = 0; rc == MS_OK && *why == NULL && i < sizeof classes / sizeof classes[0]; i++) {
        rc = text_is(ds, DCM_TAG(0x0008, 0x0016), classes[i], b, &is, err);
        if (rc == MS_OK && is)
            *why = i < 5 ? "secondary capture" : "ultrasound SOP class";
    }
    return rc;
}

static int contains_ci(const ms_buf *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return 1;
    for (size_t i = 0; i + n <= hay->len; i++) {
        size_t k = 0;
        while (k < n && toupper(hay->p[i + k]) == (unsigned char)needle[k])
            k++;
        if (k == n)
            return 1;
    }
    return 0;
}

static double number(const dcm_dataset *ds, uint32_t tag, double dflt)
{
    double v;
    return dcm_dataset_number(ds, tag, 0, &v, NULL) == MS_OK ? v : dflt;
}

static const struct deid_burnin_rule *match(const deid_ctx *ctx, const dcm_dataset *ds,
                                            uint32_t cols, uint32_t rows)
{
    ms_buf man, model;
    ms_buf_init(&man, NULL, 1 << 12);
    ms_buf_init(&model, NULL, 1 << 12);
    (void)dcm_dataset_text(ds, DCM_TAG(0x0008, 0x0070), &man, NULL);
    (void)dcm_dataset_text(ds, DCM_TAG(0x0008, 0x1090), &model, NULL);
    const struct deid_burnin_rule *hit = NULL;
    for (size_t i = 0; i < ctx->nburnin && hit == NULL; i++) {
        const struct deid_burnin_rule *r = &ctx->burnin[i];
        if ((r->cols == 0 || (r->cols == cols && r->rows == rows)) &&
            contains_ci(&man, r->manufacturer) && contains_ci(&model, r->model))
            hit = r;
    }
    ms_buf_free(&man);
    ms_buf_free(&model);
    return hit;
}

struct geometry {
    uint32_t rows, cols, spp, bytes, frames;
    size_t frame_len;
};

static int geometry(const dcm_dataset *ds, struct geometry *g)
{
    double rows = number(ds, DCM_TAG(0x0028, 0x0010), 0);
    double cols = number(ds, DCM_TAG(0x0028, 0x0011), 0);
    double spp = number(ds, DCM_TAG(0x0028, 0x0002), 1);
    double bits = number(ds, DCM_TAG(0x0028, 0x0100), 0);
    double frames = number(ds, DCM_TAG(0x0028, 0x0008), 1);
    if (rows < 1 || rows > 65535 || cols < 1 || cols > 65535 || (spp != 1 && spp != 3) ||
        (bits != 8 && bits != 16 && bits != 32) || frames < 1 || frames > 1e6)
        return -1;
    g->rows = (uint32_t)rows;
    g->cols = (uint32_t)cols;
    g->spp = (uint32_t)spp;
    g->bytes = (uint32_t)bits / 8;
    g->frames = (uint32_t)frames;
    if (ms_size_mul((size_t)g->rows * g->cols, (size_t)g->spp * g->bytes, &g->frame_len))
        return -1;
    return 0;
}

/* Zeroes the rectangles (clipped to the matrix) in every frame and sample plane. */
static void blank(uint8_t *px, const struct geometry *g, int planar,
                  const struct deid_burnin_rule *r)
{
    size_t pixel = planar ? g->bytes : (size_t)g->bytes * g->spp;
    size_t planes = planar ? g->spp : 1;
    size_t plane_len = (size_t)g->rows * g->cols * pixel;
    for (size_t f = 0; f < g->frames; f++)
        for (size_t pl = 0; pl < planes; pl++)
            for (size_t k = 0; k < r->nrects; k++) {
                const struct deid_rect *x = &r->rects[k];
                uint32_t x1 = x->x + x->w > g->cols ? g->cols : x->x + x->w;
                uint32_t y1 = x->y + x->h > g->rows ? g->rows : x->y + x->h;
                for (uint32_t y = x->y; y < y1 && x->x < x1; y++)
                    memset(px + f * g->frame_len + pl * plane_len +
                               ((size_t)y * g->cols + x->x) * pixel,
                           0, (size_t)(x1 - x->x) * pixel);
            }
}

/* 1 when blanked; 0 when the pixel data cannot be blanked here (encapsulated, odd geometry). */
static int blank_pixels(dcm_dataset *ds, const struct deid_burnin_rule *r, ms_err *err, ms_rc *rc)
{
    struct geometry g;
    dcm_elem *px = dcm_dataset_find(ds, DCM_TAG_PIXEL_DATA);
    size_t len = 0, need;
    const uint8_t *v = px != NULL ? dcm_elem_bytes(px, &len) : NULL;
    if (v == NULL || dcm_elem_is_encapsulated(px) || geometry(ds, &g) ||
        ms_size_mul(g.frame_len, g.frames, &need) || len < need)
        return 0;
    if (r->cols != 0 && (r->cols != g.cols || r->rows != g.rows))
        return 0;
    uint8_t *copy = ms_malloc(NULL, len);
    if (copy == NULL) {
        *rc = ms_fail(err, MS_E_NOMEM, "pixel data of %zu bytes: out of memory", len);
        return 0;
    }
    memcpy(copy, v, len);
    blank(copy, &g, number(ds, DCM_TAG(0x0028, 0x0006), 0) == 1, r);
    *rc = dcm_dataset_set_bytes(ds, DCM_TAG_PIXEL_DATA, dcm_elem_vr(px), copy, len, err);
    ms_free(NULL, copy);
    return *rc == MS_OK;
}

ms_rc deid__burnin(struct deid_walk *w, dcm_file *f, ms_err *err)
{
    dcm_dataset *ds = dcm_file_dataset(f);
    ms_buf b;
    ms_buf_init(&b, NULL, 1 << 12);
    const char *why = NULL;
    ms_rc rc = suspect(ds, &b, &why, err);
    ms_buf_free(&b);
    if (rc != MS_OK || why == NULL)
        return rc;
    snprintf(w->res->reason, sizeof w->res->reason, "%s", why);
    struct geometry g;
    int geo = geometry(ds, &g) == 0;
    const struct deid_burnin_rule *r = match(w->ctx, ds, geo ? g.cols : 0, geo ? g.rows : 0);
    if (r != NULL && blank_pixels(ds, r, err, &rc)) {
        w->res->blanked = 1;
        return deid__set_ascii(ds, DCM_TAG(0x0028, 0x0301), DCM_VR_CS, "NO", err);
    }
    if (rc != MS_OK)
        return rc;
    w->res->needs_review = 1;
    return MS_OK;
}

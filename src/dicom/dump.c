/*
 * The one-line-per-element text view of `medseal dump --text` (in the spirit of dcmdump):
 * tag, VR, value (text decoded to UTF-8, numbers, or a byte count for binary), length, VM and
 * keyword; sequence items indented. Shows values: for the user's terminal, never for logs.
 * Trusts: the dataset the reader built. Owns: nothing; appends to the caller's buffer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define MAX_NUMBERS 16 /* numbers shown per element before "..." */
#define VALUE_COL   52 /* column where "#" starts */

typedef struct tw {
    ms_buf *out;
    ms_buf line;
    int pixels;
    ms_err *err;
    ms_rc rc;
} tw;

static void lput(tw *w, const char *s, size_t n)
{
    if (w->rc == MS_OK)
        w->rc = ms_buf_append(&w->line, s, n, w->err);
}

static void lfmt(tw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lfmt(tw *w, const char *fmt, ...)
{
    char b[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (n > 0)
        lput(w, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
}

static const char *keyword(uint32_t tag)
{
    if ((DCM_GROUP(tag) & 1u) && DCM_ELEMENT(tag) >= 0x10 && DCM_ELEMENT(tag) <= 0xFF)
        return "PrivateCreator";
    if (DCM_GROUP(tag) & 1u)
        return DCM_ELEMENT(tag) == 0 ? "PrivateGroupLength" : "PrivateTag";
    const dcm_dict_entry *d = dcm_dict_lookup(tag);
    return d ? d->keyword : "Unknown Tag & Data";
}

/* Ends the current line: pads to the comment column, adds "# len, vm keyword". */
static void endline(tw *w, uint32_t tag, uint32_t len, size_t vm)
{
    while (w->rc == MS_OK && w->line.len < VALUE_COL)
        lput(w, " ", 1);
    if (len == DCM_UNDEFINED_LENGTH)
        lfmt(w, " # u/l, %zu %s\n", vm, keyword(tag));
    else
        lfmt(w, " # %3u, %zu %s\n", len, vm, keyword(tag));
    if (w->rc == MS_OK)
        w->rc = ms_buf_append(w->out, w->line.p, w->line.len, w->err);
    ms_buf_reset(&w->line);
}

static void value_text(tw *w, const dcm_elem *e)
{
    ms_buf t;
    ms_buf_init(&t, w->out->alloc, 0);
    if (w->rc == MS_OK)
        w->rc = dcm_elem_text(e, &t, w->err);
    lput(w, "[", 1);
    for (size_t i = 0; i < t.len; i++) { /* one line per element: control characters as '.' */
        char c = (char)t.p[i];
        lput(w, (unsigned char)c < 0x20 ? "." : &c, 1);
    }
    lput(w, "]", 1);
    ms_buf_free(&t);
}

static void value_numbers(tw *w, const dcm_elem *e)
{
    size_t unit = dcm__vr_unit(e->vr), n = e->len / unit;
    int big = e->ds->file->big_endian;
    for (size_t i = 0; i < n && i < MAX_NUMBERS; i++) {
        const uint8_t *q = e->value + i * unit;
        if (i > 0)
            lput(w, "\\", 1);
        if (e->vr == DCM_VR_AT) {
            uint32_t v = (uint32_t)dcm__binary_number(e->vr, q, big);
            lfmt(w, "(%04x,%04x)", DCM_GROUP(v), DCM_ELEMENT(v));
        } else if (e->vr == DCM_VR_FL || e->vr == DCM_VR_FD) {
            lfmt(w, "%.9g", dcm__binary_number(e->vr, q, big));
        } else {
            lfmt(w, "%.0f", dcm__binary_number(e->vr, q, big));
        }
    }
    if (n > MAX_NUMBERS)
        lput(w, "\\...", 4);
    if (n == 0)
        lput(w, "(no value available)", 20);
}

static void dump_dataset(tw *w, const dcm_dataset *ds, int depth);

static void dump_element(tw *w, const dcm_elem *e, int depth)
{
    lfmt(w, "%*s(%04x,%04x) %s ", depth * 2, "", DCM_GROUP(e->tag), DCM_ELEMENT(e->tag),
         dcm_vr_str(e->vr));
    if (e->flags & DCM__F_SEQ) {
        lfmt(w, "(Sequence with %s length #=%zu)",
             e->length == DCM_UNDEFINED_LENGTH ? "undefined" : "explicit", e->nitems);
        endline(w, e->tag, e->length, 1);
        for (size_t i = 0; i < e->nitems && w->rc == MS_OK; i++) {
            lfmt(w, "%*s(fffe,e000) na (Item with %s length #=%zu)", depth * 2 + 2, "",
                 e->items[i]->undef_len ? "undefined" : "explicit", e->items[i]->n);
            endline(w, DCM_TAG_ITEM,
                    e->items[i]->undef_len ? DCM_UNDEFINED_LENGTH : e->items[i]->item_len, 1);
            dump_dataset(w, e->items[i], depth + 2);
        }
        return;
    }
    if (e->flags & DCM__F_ENCAP)
        lfmt(w, "(PixelSequence #=%zu)", e->nfrags);
    else if (e->tag == DCM_TAG_PIXEL_DATA && !w->pixels)
        lfmt(w, "(not shown, %zu bytes)", e->len);
    else if (e->len == 0)
        lput(w, "(no value available)", 20);
    else if (dcm_vr_is_text(e->vr))
        value_text(w, e);
    else if (dcm__vr_is_binary(e->vr))
        lfmt(w, "(binary, %zu bytes)", e->len);
    else
        value_numbers(w, e);
    endline(w, e->tag, e->length, dcm_elem_vm(e));
}

static void dump_dataset(tw *w, const dcm_dataset *ds, int depth)
{
    for (size_t i = 0; i < ds->n && w->rc == MS_OK; i++)
        dump_element(w, ds->elems[i], depth);
}

ms_rc dcm_file_dump_text(dcm_file *f, int include_meta, int include_pixels, ms_buf *out,
                         ms_err *err)
{
    if (f == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "dump: NULL argument");
    tw w = {.out = out, .pixels = include_pixels, .err = err, .rc = MS_OK};
    ms_buf_init(&w.line, out->alloc, 0);
    if (include_meta && f->has_meta) {
        lfmt(&w, "# Dicom-Meta-Information-Header\n# Used TransferSyntax: %s\n", f->ts);
        if (w.rc == MS_OK)
            w.rc = ms_buf_append(out, w.line.p, w.line.len, err);
        ms_buf_reset(&w.line);
        dump_dataset(&w, &f->meta, 0);
    }
    lput(&w, "# Dicom-Data-Set\n", 17);
    if (w.rc == MS_OK)
        w.rc = ms_buf_append(out, w.line.p, w.line.len, err);
    ms_buf_reset(&w.line);
    dump_dataset(&w, &f->ds, 0);
    ms_buf_free(&w.line);
    return w.rc;
}

/*
 * The entry points: contexts (key, options, burned-in rules), de-identification of one dcm_file in
 * place (burned-in screening, the walk over every dataset, the record of what was done), and of
 * one file on disk (read, apply, write via temporary file + rename with kernel copies of the
 * unchanged pixel data).
 *
 * Trusts: nothing in the DICOM input; the key is the site's. Owns: the deid_ctx (key wiped on
 * free) and, within deid_file_path, the dcm_file it reads.
 */
#include <string.h>

#include "internal.h"

ms_rc deid_ctx_new(const uint8_t key[MS_KEY_LEN], const deid_opts *opts, deid_ctx **out,
                   ms_err *err)
{
    if (key == NULL || out == NULL)
        return ms_fail(err, MS_E_INVAL, "deid_ctx_new: key and out are required");
    deid_opts o;
    memset(&o, 0, sizeof o);
    if (opts != NULL)
        o = *opts;
    unsigned dates = DEID_OPT_BIT(DEID_OPT_FULL_DATES) | DEID_OPT_BIT(DEID_OPT_MODIFIED_DATES);
    if ((o.options & dates) == dates)
        return ms_fail(err, MS_E_INVAL,
                       "Full Dates and Modified Dates exclude each other "
                       "(PS3.15 E.3.6)");
    if (o.options >> DEID_OPT_COUNT)
        return ms_fail(err, MS_E_INVAL, "unknown option bits 0x%x", o.options);
    deid_ctx *c = ms_malloc(NULL, sizeof *c);
    if (c == NULL)
        return ms_fail(err, MS_E_NOMEM, "deid_ctx_new: out of memory");
    memcpy(c->key, key, MS_KEY_LEN);
    c->opts = o;
    *out = c;
    return MS_OK;
}

void deid_ctx_free(deid_ctx *ctx)
{
    if (ctx == NULL)
        return;
    deid__burnin_free(ctx);
    ms_free(NULL, ctx); /* wipes the key */
}

/* Any option (or keep_overlays) that may clean text: only then is the identity captured. */
static int may_clean(const deid_opts *o)
{
    unsigned c = DEID_OPT_BIT(DEID_OPT_CLEAN_DESC) | DEID_OPT_BIT(DEID_OPT_CLEAN_STRUCT) |
                 DEID_OPT_BIT(DEID_OPT_CLEAN_GRAPHICS) | DEID_OPT_BIT(DEID_OPT_DEVICE) |
                 DEID_OPT_BIT(DEID_OPT_PATIENT_CHARS);
    return (o->options & c) != 0 || o->keep_overlays;
}

ms_rc deid_file_apply(const deid_ctx *ctx, dcm_file *f, deid_result *res, ms_err *err)
{
    if (ctx == NULL || f == NULL || res == NULL)
        return ms_fail(err, MS_E_INVAL, "deid_file_apply: bad arguments");
    memset(res, 0, sizeof *res);
    struct deid_walk w;
    memset(&w, 0, sizeof w);
    w.ctx = ctx;
    w.res = res;
    w.needs_clean = may_clean(&ctx->opts);
    ms_buf_init(&w.tmp, NULL, 0);
    dcm_dataset *ds = dcm_file_dataset(f);
    /* the top-level patient, read before anything changes: "" when there is no PatientID */
    int has = deid__patient_pseudonym(&w, ds, w.pseudonym, &w.date_offset, err);
    ms_rc rc = has < 0 ? (err ? err->code : MS_E_INTERNAL) : MS_OK;
    if (rc == MS_OK && has == 0)
        rc = ms_pseudo_patient(ctx->key, NULL, 0, "", 0, w.pseudonym, err);
    if (rc == MS_OK && has == 0)
        rc = ms_pseudo_date_offset(ctx->key, NULL, 0, "", 0, &w.date_offset, err);
    if (rc == MS_OK)
        rc = deid__clean_begin(&w, ds, err);
    if (rc == MS_OK)
        rc = deid__burnin(&w, f, err);
    if (rc == MS_OK)
        rc = deid__walk(&w, ds, w.pseudonym, DEID_MODE_NORMAL, 0, err);
    if (rc == MS_OK)
        rc = deid__record(&w, f, err);
    deid__clean_end(&w);
    ms_buf_free(&w.tmp);
    ms_memzero(w.pseudonym, sizeof w.pseudonym);
    w.date_offset = 0;
    return rc;
}

ms_rc deid_file_path(const deid_ctx *ctx, const char *in, const char *out, const deid_io_opts *io,
                     deid_result *res, ms_err *err)
{
    if (ctx == NULL || in == NULL || out == NULL || res == NULL)
        return ms_fail(err, MS_E_INVAL, "deid_file_path: bad arguments");
    memset(res, 0, sizeof *res);
    dcm_file *f = NULL;
    ms_rc rc = dcm_file_read(in, NULL, &f, err);
    if (rc != MS_OK)
        return rc;
    rc = deid_file_apply(ctx, f, res, err);
    if (rc == MS_OK && (!res->needs_review || ctx->opts.allow_burned_in)) {
        dcm_write_opts w;
        memset(&w, 0, sizeof w);
        w.transfer_syntax = io != NULL && io->syntax != NULL ? io->syntax : "original";
        w.overwrite = io != NULL && io->overwrite;
        w.mode = 0644;
        w.use_copy_file_range = 1;
        rc = dcm_file_write(f, out, &w, err);
    }
    dcm_file_free(f);
    return rc;
}

/*
 * The entry points: contexts (key, options, burned-in rules), de-identification of one dcm_file in
 * place (burned-in screening, the walk over every dataset, the record of what was done), and of
 * one file on disk (read, apply, write via temporary file + rename with kernel copies of the
 * unchanged pixel data).
 *
 * Trusts: nothing in the DICOM input; the key is the site's. Owns: the deid_ctx (key wiped on
 * free) and, within deid_file_path, the dcm_file it reads.
 */
#define _GNU_SOURCE /* mkostemp */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    return deid_file_apply_cached(ctx, NULL, f, res, err);
}

ms_rc deid_file_apply_cached(const deid_ctx *ctx, deid_cache *cache, dcm_file *f, deid_result *res,
                             ms_err *err)
{
    if (ctx == NULL || f == NULL || res == NULL)
        return ms_fail(err, MS_E_INVAL, "deid_file_apply: bad arguments");
    memset(res, 0, sizeof *res);
    struct deid_walk w;
    memset(&w, 0, sizeof w);
    w.ctx = ctx;
    w.res = res;
    w.needs_clean = may_clean(&ctx->opts);
    w.cache = cache;
    ms_buf_init(&w.tmp, NULL, 0);
    dcm_dataset *ds = dcm_file_dataset(f);
    /* the top-level patient, read before anything changes: "" when there is no PatientID */
    int has = deid__patient_pseudonym(&w, ds, w.pseudonym, &w.date_offset, err);
    ms_rc rc = has < 0 ? (err ? err->code : MS_E_INTERNAL) : MS_OK;
    if (rc == MS_OK && has == 0)
        rc = deid__cached_patient(cache, ctx, "", 0, "", 0, w.pseudonym, &w.date_offset, err);
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

/* The unchanged pixel data can be copied from the source file by the kernel when it is the last
 * element of the file, stored verbatim (native, not deflated, not blanked) and the output keeps
 * the input's transfer syntax: its header and value are then the source's bytes [*from, EOF). */
static int pixel_tail(const dcm_file *f, const dcm_write_opts *wo, off_t *from, size_t *len)
{
    const dcm_dataset *ds = dcm_file_dataset((dcm_file *)f);
    size_t n = dcm_dataset_count(ds);
    const dcm_elem *px = n > 0 ? dcm_dataset_at(ds, n - 1) : NULL;
    int fd = dcm_file_source_fd(f);
    struct stat st;
    if (px == NULL || dcm_elem_tag(px) != DCM_TAG_PIXEL_DATA || fd < 0 ||
        dcm_elem_is_encapsulated(px) || strcmp(wo->transfer_syntax, "original") != 0 ||
        strcmp(dcm_file_transfer_syntax(f), DCM_TS_DEFLATED_LE) == 0 || !dcm_file_has_meta(f) ||
        fstat(fd, &st) != 0)
        return 0;
    size_t hdr = dcm_elem_offset(px), val = dcm_elem_value_file_offset(px);
    uint32_t vlen = dcm_elem_length(px);
    if (val == SIZE_MAX || vlen == DCM_UNDEFINED_LENGTH || val < hdr || val - hdr > 12 ||
        (uint64_t)val + vlen != (uint64_t)st.st_size)
        return 0;
    *from = (off_t)hdr;
    *len = (size_t)st.st_size - hdr;
    return 1;
}

static ms_rc copy_tail(int src, off_t from, int dst, size_t len, ms_err *err)
{
    while (len > 0) {
        ssize_t k = copy_file_range(src, &from, dst, NULL, len, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) { /* EXDEV, ENOSYS...: read + write */
            uint8_t buf[1 << 16];
            ssize_t r = pread(src, buf, len < sizeof buf ? len : sizeof buf, from);
            if (r <= 0 || ms_write_all(dst, buf, (size_t)r) != 0)
                return ms_fail(err, MS_E_IO, "copy pixel data: %s", strerror(errno));
            k = r;
            from += r;
        }
        len -= (size_t)k;
    }
    return MS_OK;
}

/* An unnamed file in out's folder (O_TMPFILE: nothing to clean up on failure), or a named
 * temporary file (tmp gets its name) where the file system cannot. */
static int open_tmp(const char *out, char tmp[4096], int *named)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    *named = fd < 0;
    if (fd >= 0)
        return fd;
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd >= 0 && fchmod(fd, 0644) != 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    return fd;
}

/* Makes the written file visible as out: linkat refuses an existing file; with overwrite a named
 * temporary file replaces it by rename (an unnamed one is linked beside it, then renamed). */
static ms_rc publish(int fd, const char *tmp, int named, const char *out, int overwrite,
                     ms_err *err)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    int rc = 0;
    if (named)
        rc = overwrite ? rename(tmp, out) : link(tmp, out);
    else if (!overwrite)
        rc = linkat(AT_FDCWD, proc, AT_FDCWD, out, AT_SYMLINK_FOLLOW);
    else {
        rc = mkostemp((char *)tmp, O_CLOEXEC); /* reserve a name, then replace it */
        if (rc >= 0) {
            close(rc);
            unlink(tmp);
            rc = linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW);
            if (rc == 0 && rename(tmp, out) != 0) {
                unlink(tmp);
                rc = -1;
            }
        }
    }
    if (rc != 0)
        return ms_fail(err, errno == EEXIST ? MS_E_EXISTS : MS_E_IO, "publish: %s",
                       strerror(errno));
    return MS_OK;
}

/* Batch mode: the stream into a temporary file beside `out`, then published. No fsync per file:
 * the caller syncs the whole output file system once at the end (syncfs) before reporting
 * success. The header is serialised by the codec; unchanged trailing pixel data is copied in the
 * kernel (copy_file_range). */
static ms_rc write_batch(dcm_file *f, const char *out, const dcm_write_opts *wo, ms_err *err)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    char tmp[4096];
    int named = 0;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", out) >= (int)sizeof tmp)
        return ms_fail(err, MS_E_LIMIT, "output path too long");
    off_t from = 0;
    size_t tail = 0;
    int fast = pixel_tail(f, wo, &from, &tail);
    ms_rc rc = fast ? dcm_dataset_remove(dcm_file_dataset(f), DCM_TAG_PIXEL_DATA, err) : MS_OK;
    if (rc == MS_OK)
        rc = dcm_file_write_mem(f, wo, &b, err);
    int fd = rc == MS_OK ? open_tmp(out, tmp, &named) : -1;
    if (rc == MS_OK && fd < 0)
        rc = ms_fail(err, MS_E_IO, "create temporary file: %s", strerror(errno));
    if (rc == MS_OK && ms_write_all(fd, b.p, b.len) != 0)
        rc = ms_fail(err, MS_E_IO, "write: %s", strerror(errno));
    ms_buf_free(&b);
    if (rc == MS_OK && fast)
        rc = copy_tail(dcm_file_source_fd(f), from, fd, tail, err);
    if (rc == MS_OK)
        rc = publish(fd, tmp, named, out, wo->overwrite, err);
    if (fd >= 0 && close(fd) != 0 && rc == MS_OK)
        rc = ms_fail(err, MS_E_IO, "close: %s", strerror(errno));
    if (fd >= 0 && named && (rc != MS_OK || !wo->overwrite))
        unlink(tmp);
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
    rc = deid_file_apply_cached(ctx, io != NULL ? io->cache : NULL, f, res, err);
    if (rc == MS_OK && (!res->needs_review || ctx->opts.allow_burned_in)) {
        dcm_write_opts w;
        memset(&w, 0, sizeof w);
        w.transfer_syntax = io != NULL && io->syntax != NULL ? io->syntax : "original";
        w.overwrite = io != NULL && io->overwrite;
        w.mode = 0644;
        w.use_copy_file_range = 1;
        rc = io != NULL && io->batch ? write_batch(f, out, &w, err)
                                     : dcm_file_write(f, out, &w, err);
    }
    dcm_file_free(f);
    return rc;
}

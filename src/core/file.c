/*
 * Whole-file reads, read-only mappings, and atomic replacement (temp file in the same folder,
 * fsync, rename, fsync of the folder) so a crash never leaves a half-written file under the final
 * name. Trusts: the paths it is given (callers decide where output may go). Messages name errno
 * text and sizes, never file content; paths are the caller's and are not included either.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medseal/core.h"

#define DEFAULT_MAX ((size_t)1 << 30)

ms_rc ms_file_open_regular(const char *path, size_t max, int *fd_out, size_t *size, ms_err *err)
{
    if (max == 0)
        max = DEFAULT_MAX;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ms_fail(err, MS_E_IO, "open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ms_fail(err, MS_E_IO, "not a regular file");
    }
    if ((unsigned long long)st.st_size > max) {
        close(fd);
        return ms_fail(err, MS_E_LIMIT, "file of %lld bytes over the limit of %zu",
                       (long long)st.st_size, max);
    }
    *fd_out = fd;
    *size = (size_t)st.st_size;
    return MS_OK;
}

ms_rc ms_file_read(const char *path, ms_alloc *alloc, size_t max, ms_buf *out, ms_err *err)
{
    int fd = -1;
    size_t fsize = 0;
    ms_rc orc = ms_file_open_regular(path, max, &fd, &fsize, err);
    if (orc != MS_OK)
        return orc;
    ms_buf_init(out, alloc, max ? max : DEFAULT_MAX);
    ms_rc rc = ms_buf_reserve(out, fsize, err);
    while (rc == MS_OK) {
        if (out->len == out->cap - 1 && (rc = ms_buf_reserve(out, 4096, err)) != MS_OK)
            break;
        ssize_t n = read(fd, out->p + out->len, out->cap - 1 - out->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = ms_fail(err, MS_E_IO, "read: %s", strerror(errno));
            break;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
    }
    close(fd);
    if (rc != MS_OK) {
        ms_buf_free(out);
        return rc;
    }
    out->p[out->len] = 0;
    return MS_OK;
}

ms_rc ms_map_open(const char *path, size_t max, ms_map *m, ms_err *err)
{
    int fd = -1;
    size_t fsize = 0;
    ms_rc orc = ms_file_open_regular(path, max, &fd, &fsize, err);
    if (orc != MS_OK)
        return orc;
    m->fd = fd;
    m->len = fsize;
    if (m->len == 0) {
        m->p = (const uint8_t *)"";
        return MS_OK;
    }
    void *p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        close(fd);
        m->fd = -1;
        return ms_fail(err, MS_E_IO, "mmap: %s", strerror(errno));
    }
    (void)madvise(p, m->len, MADV_SEQUENTIAL);
    (void)madvise(p, m->len, MADV_DONTDUMP); /* file content may be PHI: keep it out of cores */
    m->p = p;
    return MS_OK;
}

void ms_map_close(ms_map *m)
{
    if (m->len > 0 && m->p != NULL)
        munmap((void *)m->p, m->len);
    if (m->fd >= 0)
        close(m->fd);
    m->p = NULL;
    m->len = 0;
    m->fd = -1;
}

int ms_write_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

ms_rc ms_file_write_atomic(const char *path, const void *data, size_t n, unsigned mode,
                           int overwrite, ms_err *err)
{
    char tmp[4096], dirbuf[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp ||
        snprintf(dirbuf, sizeof dirbuf, "%s", path) >= (int)sizeof dirbuf)
        return ms_fail(err, MS_E_LIMIT, "path too long");
    if (!overwrite && access(path, F_OK) == 0)
        return ms_fail(err, MS_E_EXISTS, "output exists (use --force to overwrite)");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return ms_fail(err, MS_E_IO, "create temporary file: %s", strerror(errno));
    if (fchmod(fd, (mode_t)mode) != 0 || ms_write_all(fd, data, n) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return ms_fail(err, MS_E_IO, "write: %s", strerror(e));
    }
    close(fd);
    if (!overwrite) {
        /* link() fails if the target appeared meanwhile: no silent overwrite race */
        if (link(tmp, path) != 0) {
            int e = errno;
            unlink(tmp);
            return ms_fail(err, e == EEXIST ? MS_E_EXISTS : MS_E_IO, "publish: %s", strerror(e));
        }
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ms_fail(err, MS_E_IO, "rename: %s", strerror(e));
    }
    int dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return MS_OK;
}

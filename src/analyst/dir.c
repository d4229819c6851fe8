/*
 * an_add_dir: reads a study folder (every DICOM file below it, headers only, and *.txt notes) into
 * the current study or a new prior; an_add_paths does the same for a list of files (medseal batch,
 * whose studies are groups of files, not folders). Entries are visited in name order so the output does not
 * depend on the file system; symbolic links are not followed; depth is bounded.
 *
 * Trusts: nothing in the folder (files that are not DICOM are counted as unreadable, not fatal).
 * Owns: each dcm_file only while it is summarised (one at a time, so memory stays bounded).
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#define DIR_MAX_DEPTH 8
#define PATH_MAXLEN   4096

struct names {
    char **v;
    size_t n, cap;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(ms_alloc *alloc, struct names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        ms_free(alloc, ns->v[i]);
    ms_free(alloc, ns->v);
}

static ms_rc list_dir(ms_alloc *alloc, const char *path, struct names *ns, ms_err *err)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return ms_fail(err, MS_E_IO, "cannot open a study folder");
    ms_rc rc = MS_OK;
    struct dirent *e;
    while (rc == MS_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (ns->n >= AN_MAX_FILES) {
            rc = ms_fail(err, MS_E_LIMIT, "more than %d entries in a folder", AN_MAX_FILES);
            break;
        }
        if (ns->n == ns->cap) {
            size_t cap = ns->cap ? ns->cap * 2 : 64;
            char **nv = ms_realloc(alloc, ns->v, cap * sizeof *nv);
            if (nv == NULL) {
                rc = ms_fail(err, MS_E_NOMEM, "folder listing");
                break;
            }
            ns->v = nv;
            ns->cap = cap;
        }
        ns->v[ns->n] = ms_strdup(alloc, e->d_name);
        if (ns->v[ns->n] == NULL)
            rc = ms_fail(err, MS_E_NOMEM, "folder listing");
        else
            ns->n++;
    }
    closedir(d);
    if (rc == MS_OK && ns->n > 0)
        qsort(ns->v, ns->n, sizeof *ns->v, cmp_name);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static ms_rc add_text_file(struct an_report *r, struct an_study *st, const char *path, ms_err *err)
{
    ms_buf b;
    ms_buf_init(&b, r->alloc, 0);
    ms_rc rc = ms_file_read(path, r->alloc, AN_MAX_TEXT, &b, err);
    if (rc == MS_OK)
        rc = an_study_add_text(r, st, (const char *)b.p, b.len, "notes", err);
    ms_buf_free(&b);
    return rc;
}

static ms_rc add_dicom_file(struct an_report *r, struct an_study *st, const char *path, ms_err *err)
{
    dcm_read_opts o;
    memset(&o, 0, sizeof o);
    o.alloc = r->alloc;
    o.stop_before_pixels = 1;
    dcm_file *f = NULL;
    ms_err e2 = {0};
    if (dcm_file_read(path, &o, &f, &e2) != MS_OK) {
        st->unreadable++;
        return MS_OK;
    }
    if (st->files >= AN_MAX_FILES) {
        dcm_file_free(f);
        return ms_fail(err, MS_E_LIMIT, "more than %d DICOM files in one study", AN_MAX_FILES);
    }
    ms_rc rc = an_study_add_file(r, st, f, err);
    dcm_file_free(f);
    return rc;
}

static ms_rc add_path(struct an_report *r, struct an_study *st, const char *path, const char *name,
                      ms_err *err);

static ms_rc walk(struct an_report *r, struct an_study *st, const char *path, int depth,
                  ms_err *err)
{
    if (depth > DIR_MAX_DEPTH)
        return MS_OK;
    struct names ns = {NULL, 0, 0};
    ms_rc rc = list_dir(r->alloc, path, &ns, err);
    char child[PATH_MAXLEN];
    for (size_t i = 0; rc == MS_OK && i < ns.n; i++) {
        if ((size_t)snprintf(child, sizeof child, "%s/%s", path, ns.v[i]) >= sizeof child)
            continue;
        struct stat sb;
        if (lstat(child, &sb) != 0 || S_ISLNK(sb.st_mode))
            continue;
        if (S_ISDIR(sb.st_mode))
            rc = walk(r, st, child, depth + 1, err);
        else if (S_ISREG(sb.st_mode))
            rc = add_path(r, st, child, ns.v[i], err);
    }
    names_free(r->alloc, &ns);
    return rc;
}

/* One regular file as the folder walk treats it: *.txt a note, *.json skipped, else DICOM. */
static ms_rc add_path(struct an_report *r, struct an_study *st, const char *path, const char *name,
                      ms_err *err)
{
    if (ends_with(name, ".txt"))
        return add_text_file(r, st, path, err);
    if (!ends_with(name, ".json"))
        return add_dicom_file(r, st, path, err);
    return MS_OK;
}

/* The study the inputs go to: the current one, or a new prior (*st). */
static ms_rc target(an_report *r, int prior, struct an_study **st, ms_err *err)
{
    *st = &r->studies[0];
    return prior ? an_study_new_prior(r, st, err) : MS_OK;
}

ms_rc an_add_paths(an_report *r, const char *const *paths, size_t n, int prior, ms_err *err)
{
    if (r == NULL || (paths == NULL && n > 0))
        return ms_fail(err, MS_E_INVAL, "an_add_paths: NULL argument");
    if (r->ran)
        return ms_fail(err, MS_E_INVAL, "an_add_paths after an_run");
    struct an_study *st;
    ms_rc rc = target(r, prior, &st, err);
    if (rc != MS_OK)
        return rc;
    size_t files0 = st->files, texts0 = st->ntexts;
    for (size_t i = 0; rc == MS_OK && i < n; i++) {
        const char *slash = strrchr(paths[i], '/');
        rc = add_path(r, st, paths[i], slash != NULL ? slash + 1 : paths[i], err);
    }
    if (rc == MS_OK && st->files == files0 && st->ntexts == texts0)
        rc = ms_fail(err, MS_E_NOTFOUND, "%s study holds no readable DICOM file and no .txt note",
                     prior ? "prior" : "current");
    return rc;
}

ms_rc an_add_dir(an_report *r, const char *dir, int prior, ms_err *err)
{
    if (r == NULL || dir == NULL)
        return ms_fail(err, MS_E_INVAL, "an_add_dir: NULL argument");
    if (r->ran)
        return ms_fail(err, MS_E_INVAL, "an_add_dir after an_run");
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ms_fail(err, MS_E_NOTFOUND, "%s folder not found", prior ? "prior" : "study");
    struct an_study *st;
    ms_rc rc = target(r, prior, &st, err);
    if (rc != MS_OK)
        return rc;
    size_t files0 = st->files, texts0 = st->ntexts;
    rc = walk(r, st, dir, 0, err);
    if (rc == MS_OK && st->files == files0 && st->ntexts == texts0)
        rc = ms_fail(err, MS_E_NOTFOUND, "%s folder holds no DICOM file and no .txt note",
                     prior ? "prior" : "study");
    return rc;
}

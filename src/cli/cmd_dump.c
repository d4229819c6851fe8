/*
 * medseal dump: DICOM files (and folders, recursively) as DICOM JSON (PS3.18 F.2) on stdout, one
 * object for one file and an array for several, or a dcmdump-like text view (--text). PixelData
 * is left out unless --pixels. --scan reads every byte of every file (pixel data included) and
 * prints only a summary line (the full-read benchmark). A file that cannot be read gives one
 * line on stderr (file, offset, tag; never a value) and exit status 1; the others are still
 * dumped. Files are read by worker threads (one per online core, or --threads N), each into its
 * own buffer; the main thread writes them in the path order, so the output is the same whatever
 * the thread count. At most WINDOW files are held ahead of the writer (bounded memory).
 * Trusts: nothing in the files. Owns: its path list, the workers and their output buffers.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "medseal/dicom.h"

#define FLUSH_AT ((size_t)1 << 20)

struct dump_opts {
    int text, pixels, meta, scan, headers;
    long threads; /* 0: every online core */
};

struct paths {
    char **v;
    size_t n, cap;
};

/* Adds a copy of p followed by a kind byte after its terminator ('d', 'f' or 0: unknown). */
static int paths_add(struct paths *ps, const char *p, char kind)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 64;
        char **v = ms_calloc(NULL, cap, sizeof *v);
        if (v == NULL)
            return -1;
        if (ps->n)
            memcpy(v, ps->v, ps->n * sizeof *v);
        ms_free(NULL, ps->v);
        ps->v = v;
        ps->cap = cap;
    }
    size_t n = strlen(p);
    char *q = ms_malloc(NULL, n + 2);
    if (q == NULL)
        return -1;
    memcpy(q, p, n);
    q[n + 1] = kind;
    ps->v[ps->n++] = q;
    return 0;
}

static void paths_free(struct paths *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        ms_free(NULL, ps->v[i]);
    ms_free(NULL, ps->v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the regular files under dir (recursively, sorted, hidden entries skipped). */
static int add_dir(struct paths *ps, const char *dir, int depth)
{
    if (depth > 64)
        return -1;
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    struct paths here = {0};
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char p[PATH_MAX + 2];
        int k = snprintf(p, PATH_MAX, "%s/%s", dir, de->d_name);
        if (k < 0 || k >= PATH_MAX) {
            rc = -1;
            break;
        }
        /* remember the type from readdir after the name: saves a stat per file */
        char kind = de->d_type == DT_DIR ? 'd' : de->d_type == DT_REG ? 'f' : 0;
        rc = paths_add(&here, p, kind);
    }
    closedir(d);
    if (here.n)
        qsort(here.v, here.n, sizeof *here.v, cmp_str);
    for (size_t i = 0; rc == 0 && i < here.n; i++) {
        const char *p = here.v[i];
        char kind = p[strlen(p) + 1]; /* d_type stored after the name (see below) */
        struct stat st;
        if (kind == 0 && stat(p, &st) == 0) /* DT_UNKNOWN or a link: ask */
            kind = S_ISDIR(st.st_mode) ? 'd' : S_ISREG(st.st_mode) ? 'f' : 0;
        if (kind == 'd')
            rc = add_dir(ps, p, depth + 1);
        else if (kind == 'f')
            rc = paths_add(ps, p, kind);
    }
    paths_free(&here);
    return rc;
}

static int flush(ms_buf *out)
{
    int ok = out->len == 0 || fwrite(out->p, 1, out->len, stdout) == out->len;
    ms_buf_reset(out);
    return ok ? 0 : -1;
}

/* Folds every value byte of a dataset (pixel data and fragments included) into *sum. */
static void scan_dataset(dcm_dataset *ds, uint64_t *sum, size_t *bytes)
{
    for (size_t i = 0; i < dcm_dataset_count(ds); i++) {
        dcm_elem *e = dcm_dataset_at(ds, i);
        size_t n, k = dcm_elem_fragment_count(e);
        const uint8_t *p = dcm_elem_bytes(e, &n);
        for (size_t f = 0; f <= k; f++) {
            if (f > 0)
                p = dcm_elem_fragment(e, f - 1, &n);
            uint64_t acc = 0, w;
            size_t j = 0;
            for (; j + 8 <= n; j += 8) {
                memcpy(&w, p + j, 8);
                acc += w;
            }
            for (; j < n; j++)
                acc += p[j];
            *sum += acc;
            *bytes += n;
        }
        for (size_t it = 0; it < dcm_elem_item_count(e); it++)
            scan_dataset(dcm_elem_item(e, it), sum, bytes);
    }
}

/* One file's output (no array separator: the writer adds it). */
static ms_rc dump_one(const char *path, const struct dump_opts *o, int array, ms_buf *out,
                      uint64_t *sum, size_t *bytes, ms_err *err)
{
    dcm_read_opts ro = {0};
    ro.stop_before_pixels = o->headers;
    dcm_file *f = NULL;
    ms_rc rc = dcm_file_read(path, &ro, &f, err);
    if (rc)
        return rc;
    if (o->scan) {
        scan_dataset(dcm_file_dataset(f), sum, bytes);
    } else if (o->text) {
        rc = ms_buf_printf(out, err, "# file: %s\n", path);
        if (rc == MS_OK)
            rc = dcm_file_dump_text(f, o->meta, o->pixels, out, err);
    } else {
        dcm_json_opts jo = {.include_pixels = o->pixels, .include_meta = o->meta};
        rc = dcm_dataset_json_write(dcm_file_dataset(f), &jo, out, err);
        if (rc == MS_OK && !array)
            rc = ms_buf_append_str(out, "\n", err);
    }
    dcm_file_free(f);
    return rc;
}

/* ---- workers ---------------------------------------------------------------------------------- */

#define WINDOW 256 /* files read ahead of the writer */

struct slot {
    ms_buf out;
    ms_err err;
    ms_rc rc;
    uint64_t sum;
    size_t bytes;
    int done;
};

struct pool {
    const struct paths *ps;
    const struct dump_opts *o;
    int array;
    struct slot *slots; /* WINDOW slots, file i in slots[i % WINDOW] */
    size_t next;        /* next file to claim */
    size_t written;     /* files the writer has taken */
    pthread_mutex_t mu;
    pthread_cond_t cv_done, cv_room;
};

static void *worker(void *arg)
{
    struct pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->next < p->ps->n && p->next >= p->written + WINDOW)
            pthread_cond_wait(&p->cv_room, &p->mu);
        if (p->next >= p->ps->n)
            break;
        size_t i = p->next++;
        struct slot *sl = &p->slots[i % WINDOW];
        pthread_mutex_unlock(&p->mu);
        sl->rc = dump_one(p->ps->v[i], p->o, p->array, &sl->out, &sl->sum, &sl->bytes, &sl->err);
        pthread_mutex_lock(&p->mu);
        sl->done = 1;
        pthread_cond_broadcast(&p->cv_done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static long thread_count(const struct dump_opts *o, size_t nfiles)
{
    long n = o->threads > 0 ? o->threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > 256)
        n = 256;
    if ((size_t)n > nfiles)
        n = (long)(nfiles ? nfiles : 1);
    return n;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: medseal dump [--text] [--pixels] [--meta] [--headers-only] [--scan] "
               "FILE|DIR...\n"
               "  DICOM JSON (PS3.18 F.2) of each file; an array when several files or a folder\n"
               "  --text          one line per element, like dcmdump\n"
               "  --pixels        include PixelData (InlineBinary) / show it in --text\n"
               "  --meta          include the file meta group 0002 (not standard DICOM JSON)\n"
               "  --headers-only  stop at PixelData without reading its bytes (drops elements\n"
               "                  after it, as pydicom's stop_before_pixels)\n"
               "  --scan          read every byte of every file, print a summary line only\n"
               "  --threads N     worker threads reading files (default: every online core);\n"
               "                  the output order is the path order whatever N\n");
}

static int parse_args(int argc, char **argv, struct dump_opts *o, struct paths *ps, int *array)
{
    int ndirs = 0, nargs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--text") == 0)
            o->text = 1;
        else if (strcmp(a, "--pixels") == 0)
            o->pixels = 1;
        else if (strcmp(a, "--meta") == 0)
            o->meta = 1;
        else if (strcmp(a, "--headers-only") == 0)
            o->headers = 1;
        else if (strcmp(a, "--scan") == 0)
            o->scan = 1;
        else if (strcmp(a, "--threads") == 0) {
            char *end = NULL;
            o->threads = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
            if (i + 1 >= argc || end == argv[i + 1] || *end != '\0' || o->threads < 1 ||
                o->threads > 256) {
                cli_error("dump", "--threads needs a number from 1 to 256");
                return 2;
            }
            i++;
        }
        else if (a[0] == '-' && a[1] != 0) {
            cli_error("dump", "unknown option %s (see --help)", a);
            return 2;
        } else {
            struct stat st;
            nargs++;
            if (stat(a, &st) == 0 && S_ISDIR(st.st_mode)) {
                ndirs++;
                if (add_dir(ps, a, 0) != 0) {
                    cli_error("dump", "%s: cannot list the folder", a);
                    return 1;
                }
            } else if (paths_add(ps, a, 'f') != 0) {
                cli_error("dump", "out of memory");
                return 1;
            }
        }
    }
    if (nargs == 0) {
        usage(stderr);
        return 2;
    }
    if (o->pixels && o->headers) {
        cli_error("dump", "--pixels and --headers-only exclude each other");
        return 2;
    }
    *array = nargs > 1 || ndirs > 0;
    return -1;
}

int cmd_dump(int argc, char **argv)
{
    struct dump_opts o = {0};
    struct paths ps = {0};
    int array = 0;
    int rc = parse_args(argc, argv, &o, &ps, &array);
    if (rc >= 0) {
        paths_free(&ps);
        return rc;
    }
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    int failed = 0, first = 1, io = 0;
    uint64_t sum = 0;
    size_t bytes = 0;
    struct pool pool = {.ps = &ps, .o = &o, .array = array};
    long nt = thread_count(&o, ps.n);
    pthread_t *th = ms_calloc(NULL, (size_t)nt, sizeof *th);
    pool.slots = ms_calloc(NULL, WINDOW, sizeof *pool.slots);
    if (th == NULL || pool.slots == NULL) {
        cli_error("dump", "out of memory");
        ms_free(NULL, th);
        ms_free(NULL, pool.slots);
        paths_free(&ps);
        return 1;
    }
    for (size_t k = 0; k < WINDOW; k++)
        ms_buf_init(&pool.slots[k].out, NULL, 0);
    pthread_mutex_init(&pool.mu, NULL);
    pthread_cond_init(&pool.cv_done, NULL);
    pthread_cond_init(&pool.cv_room, NULL);
    long started = 0;
    for (; started < nt; started++)
        if (pthread_create(&th[started], NULL, worker, &pool) != 0)
            break;
    if (array && !o.text && !o.scan)
        (void)ms_buf_append_str(&out, "[", NULL);
    for (size_t i = 0; i < ps.n; i++) {
        struct slot *sl = &pool.slots[i % WINDOW];
        if (started == 0) {
            sl->rc = dump_one(ps.v[i], &o, array, &sl->out, &sl->sum, &sl->bytes, &sl->err);
        } else {
            pthread_mutex_lock(&pool.mu);
            while (!sl->done)
                pthread_cond_wait(&pool.cv_done, &pool.mu);
            pthread_mutex_unlock(&pool.mu);
        }
        if (sl->rc != MS_OK) {
            cli_report("dump", ps.v[i], &sl->err);
            failed++;
        } else {
            if (array && !o.text && !o.scan)
                (void)ms_buf_append_str(&out, first ? "\n" : ",\n", NULL);
            if (ms_buf_append(&out, sl->out.p, sl->out.len, NULL) != MS_OK)
                io = 1;
            sum += sl->sum;
            bytes += sl->bytes;
            first = 0;
        }
        if (out.len >= FLUSH_AT && flush(&out) != 0)
            io = 1;
        /* the slot is free for file i + WINDOW */
        ms_buf_reset(&sl->out);
        ms_err_clear(&sl->err);
        sl->rc = MS_OK;
        sl->sum = 0;
        sl->bytes = 0;
        pthread_mutex_lock(&pool.mu);
        sl->done = 0;
        pool.written = i + 1;
        pthread_cond_broadcast(&pool.cv_room);
        pthread_mutex_unlock(&pool.mu);
    }
    for (long k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    for (size_t k = 0; k < WINDOW; k++)
        ms_buf_free(&pool.slots[k].out);
    ms_free(NULL, pool.slots);
    ms_free(NULL, th);
    pthread_mutex_destroy(&pool.mu);
    pthread_cond_destroy(&pool.cv_done);
    pthread_cond_destroy(&pool.cv_room);
    if (array && !o.text && !o.scan)
        (void)ms_buf_append_str(&out, first ? "]\n" : "\n]\n", NULL);
    if (o.scan)
        (void)ms_buf_printf(&out, NULL,
                            "scanned %zu files, %zu value bytes, %zu failed, sum %016llx\n",
                            ps.n - (size_t)failed, bytes, (size_t)failed, (unsigned long long)sum);
    if (flush(&out) != 0 || fflush(stdout) != 0 || io) {
        cli_error("dump", "write to stdout failed");
        failed++;
    }
    ms_buf_free(&out);
    paths_free(&ps);
    return failed ? 1 : 0;
}

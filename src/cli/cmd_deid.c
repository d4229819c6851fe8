/*
 * medseal deid: de-identifies a DICOM file or a tree (src/deid), OUT mirroring IN. Files are
 * processed in parallel (one pthread per core by default); a progress bar is drawn on stderr only
 * when it is a terminal; a summary (files, bytes, per-action counts, needs-review list, errors)
 * follows, or a JSON object with --json.
 *
 * Trusts: nothing in the files; the command line is the operator's but is checked (OUT inside IN
 * is refused, existing outputs are never replaced without --force). Prints paths given by the
 * operator, tags and counts, never a DICOM value. A file that does not parse is reported and
 * skipped, never copied. Owns: the job list, the threads, the deid context (key wiped).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "commands.h"
#include "medseal/deid.h"

#define CMD            "deid"
#define MAX_TREE_DEPTH 64
#define MAX_JOBS       256

enum job_status { JOB_OK, JOB_REVIEW, JOB_SKIPPED, JOB_ERROR };

struct job {
    char *rel; /* path relative to IN ("" when IN is a file) */
    enum job_status status;
    ms_err err;
    deid_result res;
    uint64_t in_bytes, out_bytes;
    int listed; /* decided while walking (unreadable folder, link, FIFO, empty file): no worker */
    int dicm; /* has the Part 10 signature (only looked at when the progress bar is drawn) */
};

struct run {
    const char *in, *out;
    char *out_owned; /* OUT/basename(IN) when IN is a file and OUT a folder */
    int in_is_dir, force, json, quiet, nthreads, no_sync;
    const char *syntax;
    deid_ctx *ctx;
    struct job *jobs;
    size_t njobs, cap;
    atomic_size_t next, done;
    /* progress, DICOM files only: ndicm files carry the DICM signature (counted before the run
     * when the bar is drawn); dicom_done counts files processed as DICOM, dicom_extra those
     * processed as DICOM without the signature (a bare data set), which join the total */
    size_t ndicm;
    atomic_size_t dicom_done, dicom_extra;
    atomic_int stop_progress;
};

static void usage(FILE *f)
{
    fprintf(
        f, "usage: medseal deid --key KEYFILE [options] IN OUT\n"
           "  IN a DICOM file or a folder (walked recursively); OUT mirrors it.\n"
           "options (PS3.15 E.3; default: the Basic Application Level Confidentiality Profile):\n");
    for (int o = 0; o < DEID_OPT_COUNT; o++)
        fprintf(f, "  --%-26s %s\n", deid_option_flag(o), deid_option_meaning(o));
    fprintf(f, "  --keep-overlays              keep curve/overlay data (their text is cleaned)\n"
               "  --keep-unknown               keep unknown/retired attributes of PHI-prone VRs\n"
               "  --allow-burned-in            write files that need review for burned-in text\n"
               "  --burned-in-config FILE      rectangles to blank per manufacturer/model\n"
               "  --syntax S                   original (default), explicit, implicit, "
               "bigendian, deflated\n"
               "  --jobs N                     worker threads (default: all cores)\n"
               "  --force                      replace existing output files\n"
               "  --json                       summary as JSON on stdout\n"
               "  --quiet                      no progress bar\n"
               "  --no-sync                    do not flush the output to disk at the end\n");
}

static const char *syntax_uid(const char *s)
{
    static const char *const map[][2] = {
        {"original", "original"},         {"explicit", DCM_TS_EXPLICIT_LE},
        {"implicit", DCM_TS_IMPLICIT_LE}, {"bigendian", DCM_TS_EXPLICIT_BE},
        {"deflated", DCM_TS_DEFLATED_LE},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(s, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

static int option_bit(const char *arg)
{
    for (int o = 0; o < DEID_OPT_COUNT; o++)
        if (strncmp(arg, "--", 2) == 0 && strcmp(arg + 2, deid_option_flag(o)) == 0)
            return o;
    return -1;
}

/* Returns 0, or 2 after a usage error (printed). */
static int parse_flag(struct run *r, deid_opts *o, int argc, char **argv, int *i, const char **key,
                      const char **config)
{
    const char *a = argv[*i];
    int bit = option_bit(a);
    int has_value = *i + 1 < argc;
    if (bit >= 0)
        o->options |= DEID_OPT_BIT(bit);
    else if (strcmp(a, "--keep-overlays") == 0)
        o->keep_overlays = 1;
    else if (strcmp(a, "--keep-unknown") == 0)
        o->keep_unknown = 1;
    else if (strcmp(a, "--allow-burned-in") == 0)
        o->allow_burned_in = 1;
    else if (strcmp(a, "--force") == 0)
        r->force = 1;
    else if (strcmp(a, "--json") == 0)
        r->json = 1;
    else if (strcmp(a, "--quiet") == 0)
        r->quiet = 1;
    else if (strcmp(a, "--no-sync") == 0)
        r->no_sync = 1;
    else if (strcmp(a, "--key") == 0 && has_value)
        *key = argv[++*i];
    else if (strcmp(a, "--burned-in-config") == 0 && has_value)
        *config = argv[++*i];
    else if (strcmp(a, "--syntax") == 0 && has_value && syntax_uid(argv[*i + 1]) != NULL)
        r->syntax = syntax_uid(argv[++*i]);
    else if (strcmp(a, "--jobs") == 0 && has_value) {
        char *end;
        long n = strtol(argv[++*i], &end, 10);
        if (*end != '\0' || n < 1 || n > MAX_JOBS) {
            cli_error(CMD, "--jobs wants 1..%d", MAX_JOBS);
            return 2;
        }
        r->nthreads = (int)n;
    } else {
        cli_error(CMD, "unknown option or missing value: %s (see --help)", a);
        return 2;
    }
    return 0;
}

/* ---- paths ---- */

static char *join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = ms_malloc(NULL, na + nb + 2);
    if (s == NULL)
        return NULL;
    memcpy(s, a, na);
    size_t k = na;
    if (nb > 0 && na > 0 && a[na - 1] != '/')
        s[k++] = '/';
    memcpy(s + k, b, nb + 1);
    return s;
}

/* The canonical form of a path that may not exist yet: realpath of its longest existing prefix,
 * then the rest. OUT: buf (PATH_MAX). */
static int canonical(const char *path, char *buf)
{
    char tmp[PATH_MAX], rest[PATH_MAX] = "", piece[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -1;
    while (realpath(tmp, buf) == NULL) {
        char *slash = strrchr(tmp, '/');
        if (slash == NULL) { /* a bare relative name: resolve against "." */
            if (realpath(".", piece) == NULL)
                return -1;
            int n = snprintf(buf, PATH_MAX, "%s/%s%s", piece, tmp, rest);
            return n < 0 || n >= PATH_MAX ? -1 : 0;
        }
        if (snprintf(piece, sizeof piece, "%s%s", slash, rest) >= (int)sizeof piece)
            return -1;
        memcpy(rest, piece, strlen(piece) + 1);
        *slash = '\0';
        if (tmp[0] == '\0') {
            tmp[0] = '/';
            tmp[1] = '\0';
        }
    }
    size_t n = strlen(buf);
    if (n + strlen(rest) >= PATH_MAX)
        return -1;
    memcpy(buf + n, rest, strlen(rest) + 1);
    return 0;
}

/* 1 when out is in (or equal to) the folder in. */
static int inside(const char *in, const char *out)
{
    char a[PATH_MAX], b[PATH_MAX];
    if (canonical(in, a) || canonical(out, b))
        return 1; /* cannot tell: refuse */
    size_t n = strlen(a);
    if (strcmp(a, "/") == 0)
        return 1;
    return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

static int mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- the job list ---- */

static int add_job(struct run *r, const char *rel, uint64_t size)
{
    if (r->njobs == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        struct job *j = ms_realloc(NULL, r->jobs, cap * sizeof *j);
        if (j == NULL)
            return -1;
        r->jobs = j;
        r->cap = cap;
    }
    struct job *j = &r->jobs[r->njobs];
    memset(j, 0, sizeof *j);
    j->rel = ms_strdup(NULL, rel);
    if (j->rel == NULL)
        return -1;
    j->in_bytes = size;
    r->njobs++;
    return 0;
}

/* An entry decided while walking: listed in the summary as an error or as skipped, never given
 * to a worker. `why` names the kind of problem (and errno's text), never file content. */
static int add_listed(struct run *r, const char *rel, enum job_status status, const char *why)
{
    if (add_job(r, rel, 0) != 0)
        return -1;
    struct job *j = &r->jobs[r->njobs - 1];
    j->listed = 1;
    j->status = status;
    if (status == JOB_ERROR)
        ms_fail(&j->err, MS_E_IO, "%s", why);
    else
        snprintf(j->res.reason, sizeof j->res.reason, "%s", why);
    return 0;
}

static int walk_dir(struct run *r, const char *rel, int depth);

static int walk_entry(struct run *r, const char *rel, int depth)
{
    char *path = join(r->in, rel);
    struct stat st;
    char why[96];
    int rc = 0;
    if (path == NULL)
        rc = -1;
    else if (lstat(path, &st) != 0) {
        snprintf(why, sizeof why, "cannot stat (%s)", strerror(errno));
        rc = add_listed(r, rel, JOB_ERROR, why);
    } else if (S_ISDIR(st.st_mode))
        rc = walk_dir(r, rel, depth + 1);
    else if (S_ISREG(st.st_mode) && st.st_size == 0)
        rc = add_listed(r, rel, JOB_ERROR, "empty file");
    else if (S_ISREG(st.st_mode))
        rc = add_job(r, rel, (uint64_t)st.st_size);
    else /* not followed, not copied, but said */
        rc = add_listed(r, rel, JOB_SKIPPED,
                        S_ISLNK(st.st_mode)    ? "symbolic link, not followed"
                        : S_ISFIFO(st.st_mode) ? "FIFO, not a regular file"
                        : S_ISSOCK(st.st_mode) ? "socket, not a regular file"
                                               : "device, not a regular file");
    ms_free(NULL, path);
    return rc;
}

/* -1 only for what stops the run (IN itself unreadable, OUT not creatable, no memory); a
 * subfolder that cannot be read is listed as an error and the walk goes on. */
static int walk_dir(struct run *r, const char *rel, int depth)
{
    char why[96];
    if (depth > MAX_TREE_DEPTH)
        return add_listed(r, rel, JOB_ERROR, "folder nested too deep, not read");
    char *path = join(r->in, rel);
    char *outdir = join(r->out, rel);
    DIR *d = path != NULL ? opendir(path) : NULL;
    if (d == NULL && path != NULL && outdir != NULL && rel[0] != '\0') {
        snprintf(why, sizeof why, "cannot read folder (%s)", strerror(errno));
        ms_free(NULL, path);
        ms_free(NULL, outdir);
        return add_listed(r, rel, JOB_ERROR, why);
    }
    int rc = d == NULL || outdir == NULL || mkdirs(outdir) ? -1 : 0;
    struct dirent *de;
    while (rc == 0 && d != NULL && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *child = join(rel, de->d_name);
        rc = child != NULL ? walk_entry(r, child, depth) : -1;
        ms_free(NULL, child);
    }
    if (d != NULL)
        closedir(d);
    ms_free(NULL, path);
    ms_free(NULL, outdir);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct job *)a)->rel, ((const struct job *)b)->rel);
}

/* ---- workers ---- */

/* 1 when the file has the Part 10 preamble signature: a parse failure is then an error, else the
 * file is simply not DICOM (skipped). */
static int looks_dicom(const char *path)
{
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    int yes = f != NULL && fseek(f, 128, SEEK_SET) == 0 && fread(magic, 1, 4, f) == 4 &&
              memcmp(magic, "DICM", 4) == 0;
    if (f != NULL)
        fclose(f);
    return yes;
}

static void run_job(struct run *r, struct job *j, deid_cache *cache)
{
    char *in = r->in_is_dir ? join(r->in, j->rel) : ms_strdup(NULL, r->in);
    char *out = r->in_is_dir ? join(r->out, j->rel) : ms_strdup(NULL, r->out);
    deid_io_opts io = {r->force, r->syntax, 1, cache}; /* batch: one syncfs at the end */
    struct stat st;
    if (j->listed) {
        ms_free(NULL, in);
        ms_free(NULL, out);
        return;
    }
    if (in == NULL || out == NULL) {
        ms_fail(&j->err, MS_E_NOMEM, "out of memory");
        j->status = JOB_ERROR;
    } else if (!r->force && lstat(out, &st) == 0) {
        ms_fail(&j->err, MS_E_EXISTS, "output exists (use --force to replace it)");
        j->status = JOB_ERROR;
    } else if (deid_file_path(r->ctx, in, out, &io, &j->res, &j->err) != MS_OK) {
        int fmt = j->err.code == MS_E_FORMAT || j->err.code == MS_E_TRUNC ||
                  j->err.code == MS_E_UNSUPPORTED || j->err.code == MS_E_LIMIT;
        j->status = fmt && !looks_dicom(in) ? JOB_SKIPPED : JOB_ERROR;
    } else {
        j->status = j->res.needs_review ? JOB_REVIEW : JOB_OK;
        if ((j->status == JOB_OK || j->res.needs_review) && stat(out, &st) == 0)
            j->out_bytes = (uint64_t)st.st_size;
    }
    ms_free(NULL, in);
    ms_free(NULL, out);
}

static void *worker(void *arg)
{
    struct run *r = arg;
    deid_cache *cache = NULL;
    (void)deid_cache_new(&cache, NULL); /* without one, pseudonyms are computed every time */
    for (;;) {
        size_t i = atomic_fetch_add(&r->next, 1);
        if (i >= r->njobs)
            break;
        run_job(r, &r->jobs[i], cache);
        /* a DICOM file is one with the signature, or one that was processed as DICOM */
        int as_dicom = r->jobs[i].status == JOB_OK || r->jobs[i].status == JOB_REVIEW;
        if (r->jobs[i].dicm || as_dicom) {
            atomic_fetch_add(&r->dicom_done, 1);
            if (!r->jobs[i].dicm)
                atomic_fetch_add(&r->dicom_extra, 1);
        }
        atomic_fetch_add(&r->done, 1);
    }
    deid_cache_free(cache);
    return NULL;
}

static void *progress(void *arg)
{
    struct run *r = arg;
    const struct timespec tick = {0, 100 * 1000 * 1000};
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int last = atomic_load(&r->stop_progress); /* the last frame shows the final count */
        /* DICOM files only: notes, JSON and other files are not counted */
        size_t done = atomic_load(&r->dicom_done);
        size_t total = r->ndicm + atomic_load(&r->dicom_extra), n = total ? total : 1;
        int width = 30, fill = (int)(done * (size_t)width / n);
        clock_gettime(CLOCK_MONOTONIC, &t);
        double secs = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
        double rate = secs > 0 ? (double)done / secs : 0;
        char eta[32] = "--:--";
        if (rate > 0) {
            long left = (long)((double)(total - done) / rate + 0.5);
            snprintf(eta, sizeof eta, "%02ld:%02ld", left / 60, left % 60);
        }
        fprintf(stderr, "\r[%.*s%*s] %3zu%% %zu/%zu DICOM files, %.0f/s, ETA %s ", fill,
                "##############################", width - fill, "", done * 100 / n, done, total,
                rate, eta);
        if (last)
            break;
        nanosleep(&tick, NULL);
    }
    fprintf(stderr, "\r%*s\r", 90, "");
    return NULL;
}

static int run_all(struct run *r)
{
    pthread_t th[MAX_JOBS], bar;
    int n = r->nthreads, started = 0, show = !r->quiet && isatty(STDERR_FILENO);
    if (show) { /* the bar's total: files with the DICM signature */
        for (size_t i = 0; i < r->njobs; i++) {
            if (r->jobs[i].listed) /* links, FIFOs, empty files: never opened */
                continue;
            char *in = r->in_is_dir ? join(r->in, r->jobs[i].rel) : ms_strdup(NULL, r->in);
            r->jobs[i].dicm = in != NULL && looks_dicom(in);
            r->ndicm += (size_t)r->jobs[i].dicm;
            ms_free(NULL, in);
        }
    }
    int bar_ok = show && pthread_create(&bar, NULL, progress, r) == 0;
    for (int i = 0; i < n; i++)
        if (pthread_create(&th[started], NULL, worker, r) == 0)
            started++;
    if (started == 0)
        worker(r); /* no threads available: do the work here */
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    atomic_store(&r->stop_progress, 1);
    if (bar_ok)
        pthread_join(bar, NULL);
    return 0;
}

/* Outputs are written without an fsync each (temp + rename); one syncfs of the output's file
 * system at the end makes the whole batch durable before success is reported. */
static int sync_out(const struct run *r)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", r->out) >= (int)sizeof dir)
        return -1;
    int fd = open(r->in_is_dir ? dir : dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = syncfs(fd);
    close(fd);
    return rc;
}

/* ---- summary ---- */

struct totals {
    size_t count[4];
    uint64_t in_bytes, out_bytes, n[DEID_N_COUNT];
};

static void sum(const struct run *r, struct totals *t)
{
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < r->njobs; i++) {
        const struct job *j = &r->jobs[i];
        t->count[j->status]++;
        t->in_bytes += j->in_bytes;
        t->out_bytes += j->out_bytes;
        for (int k = 0; k < DEID_N_COUNT; k++)
            t->n[k] += j->res.n[k];
    }
}

static const char *name_of(const struct run *r, const struct job *j)
{
    return r->in_is_dir ? j->rel : r->in;
}

static void print_text(const struct run *r, const struct totals *t)
{
    printf("medseal deid: %zu files: %zu written, %zu need review, %zu not DICOM (skipped), "
           "%zu errors\n",
           r->njobs, t->count[JOB_OK], t->count[JOB_REVIEW], t->count[JOB_SKIPPED],
           t->count[JOB_ERROR]);
    printf("bytes: %llu in, %llu out\nactions:", (unsigned long long)t->in_bytes,
           (unsigned long long)t->out_bytes);
    for (int k = 0; k < DEID_N_COUNT; k++)
        printf(" %s=%llu", deid_counter_name(k), (unsigned long long)t->n[k]);
    printf("\n");
    size_t exists = 0;
    const struct job *first_exists = NULL;
    for (size_t i = 0; i < r->njobs; i++) {
        const struct job *j = &r->jobs[i];
        if (j->status == JOB_ERROR && j->err.code == MS_E_EXISTS) { /* one line for them all */
            if (exists++ == 0)
                first_exists = j;
            continue;
        }
        if (j->status == JOB_REVIEW)
            printf("needs review: %s (%s)%s\n", name_of(r, j), j->res.reason,
                   r->ctx != NULL && j->out_bytes ? " [written: --allow-burned-in]" : "");
        else if (j->status == JOB_SKIPPED)
            printf("skipped: %s (%s)\n", name_of(r, j), j->listed ? j->res.reason : "not DICOM");
        else if (j->status == JOB_ERROR)
            printf("error: %s: %s\n", name_of(r, j), j->err.msg[0] ? j->err.msg : "failed");
        else if (j->res.blanked)
            printf("blanked: %s (%s)\n", name_of(r, j), j->res.reason);
    }
    if (exists > 0)
        printf("error: %zu existing output%s not replaced (first: %s: output exists); use "
               "--force to replace them\n",
               exists, exists == 1 ? "" : "s", name_of(r, first_exists));
}

static json_t *job_json(const struct run *r, const struct job *j)
{
    static const char *const st[] = {"written", "needs_review", "skipped", "error"};
    json_t *o = json_object();
    json_object_set_new(o, "path", json_string(name_of(r, j)));
    json_object_set_new(o, "status", json_string(st[j->status]));
    if (j->res.reason[0])
        json_object_set_new(o, "reason", json_string(j->res.reason));
    if (j->res.blanked)
        json_object_set_new(o, "blanked", json_true());
    /* a file that is not DICOM gets no parser message: its "tag" would be its first bytes */
    if (j->status == JOB_SKIPPED && !j->listed)
        json_object_set_new(o, "reason", json_string("not DICOM"));
    if (j->status == JOB_ERROR)
        json_object_set_new(o, "error", json_string(j->err.msg));
    return o;
}

static void print_json(const struct run *r, const struct totals *t)
{
    static const char *const keys[] = {"written", "needs_review", "skipped", "errors"};
    json_t *root = json_object(), *files = json_object(), *actions = json_object();
    json_t *list = json_array();
    json_object_set_new(files, "total", json_integer((json_int_t)r->njobs));
    for (int s = 0; s < 4; s++)
        json_object_set_new(files, keys[s], json_integer((json_int_t)t->count[s]));
    for (int k = 0; k < DEID_N_COUNT; k++)
        json_object_set_new(actions, deid_counter_name(k), json_integer((json_int_t)t->n[k]));
    for (size_t i = 0; i < r->njobs; i++)
        if (r->jobs[i].status != JOB_OK || r->jobs[i].res.blanked)
            json_array_append_new(list, job_json(r, &r->jobs[i]));
    json_object_set_new(root, "files", files);
    json_object_set_new(root, "bytes_in", json_integer((json_int_t)t->in_bytes));
    json_object_set_new(root, "bytes_out", json_integer((json_int_t)t->out_bytes));
    json_object_set_new(root, "actions", actions);
    json_object_set_new(root, "attention", list);
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    fputc('\n', stdout);
    json_decref(root);
}

/* ---- main ---- */

static int setup(struct run *r, const char *keyfile, const char *config, deid_opts *o)
{
    uint8_t key[MS_KEY_LEN];
    ms_err err = {0};
    if (ms_keyfile_read(keyfile, key, &err) != MS_OK) {
        cli_report(CMD, "--key", &err);
        return 1;
    }
    ms_rc rc = deid_ctx_new(key, o, &r->ctx, &err);
    ms_memzero(key, sizeof key);
    if (rc == MS_OK && config != NULL)
        rc = deid_ctx_load_burnin(r->ctx, config, &err);
    if (rc != MS_OK) {
        cli_report(CMD, config != NULL && r->ctx != NULL ? "--burned-in-config" : NULL, &err);
        return rc == MS_E_INVAL ? 2 : 1;
    }
    return 0;
}

/* Builds the job list; 0, or the exit status of a refusal (printed). */
static int plan(struct run *r)
{
    struct stat st, ost;
    if (stat(r->in, &st) != 0) {
        cli_error(CMD, "IN: cannot stat: %s", strerror(errno));
        return 1;
    }
    if (S_ISREG(st.st_mode) && stat(r->out, &ost) == 0 && S_ISDIR(ost.st_mode)) {
        const char *base = strrchr(r->in, '/');
        r->out_owned = join(r->out, base != NULL ? base + 1 : r->in);
        if (r->out_owned == NULL)
            return 1;
        r->out = r->out_owned;
    }
    if (stat(r->in, &st) != 0) {
        cli_error(CMD, "IN: cannot stat: %s", strerror(errno));
        return 1;
    }
    r->in_is_dir = S_ISDIR(st.st_mode);
    if (!r->in_is_dir && !S_ISREG(st.st_mode)) {
        cli_error(CMD, "IN is neither a regular file nor a folder");
        return 2;
    }
    if ((r->in_is_dir && inside(r->in, r->out)) ||
        (!r->in_is_dir && stat(r->out, &ost) == 0 && ost.st_ino == st.st_ino &&
         ost.st_dev == st.st_dev)) {
        cli_error(CMD, "refusing: OUT is IN or inside IN");
        return 2;
    }
    if (!r->in_is_dir)
        return add_job(r, "", (uint64_t)st.st_size) ? 1 : 0;
    if (walk_dir(r, "", 0) != 0) {
        cli_error(CMD, "cannot walk IN or create OUT (%s)", strerror(errno));
        return 1;
    }
    qsort(r->jobs, r->njobs, sizeof *r->jobs, by_path);
    return 0;
}

static void cleanup(struct run *r)
{
    for (size_t i = 0; i < r->njobs; i++)
        ms_free(NULL, r->jobs[i].rel);
    ms_free(NULL, r->jobs);
    ms_free(NULL, r->out_owned);
    deid_ctx_free(r->ctx);
}

int cmd_deid(int argc, char **argv)
{
    struct run r;
    memset(&r, 0, sizeof r);
    deid_opts o;
    memset(&o, 0, sizeof o);
    const char *key = NULL, *config = NULL, *pos[2];
    int npos = 0, rc = 0;
    r.syntax = "original";
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    r.nthreads = cores < 1 ? 1 : cores > MAX_JOBS ? MAX_JOBS : (int)cores;
    for (int i = 1; i < argc && rc == 0; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strncmp(argv[i], "--", 2) == 0)
            rc = parse_flag(&r, &o, argc, argv, &i, &key, &config);
        else if (npos < 2)
            pos[npos++] = argv[i];
        else
            rc = 2;
    }
    if (rc != 0 || npos != 2 || key == NULL) {
        if (rc == 0)
            cli_error(CMD, "want --key KEYFILE IN OUT (see --help)");
        return 2;
    }
    r.in = pos[0];
    r.out = pos[1];
    rc = setup(&r, key, config, &o);
    if (rc == 0)
        rc = plan(&r);
    if (rc == 0) {
        struct totals t;
        run_all(&r);
        sum(&r, &t);
        if (!r.no_sync && t.count[JOB_OK] + t.count[JOB_REVIEW] > 0 && sync_out(&r) != 0) {
            cli_error(CMD, "flushing OUT to disk failed: %s", strerror(errno));
            t.count[JOB_ERROR]++;
        }
        if (r.json)
            print_json(&r, &t);
        else
            print_text(&r, &t);
        rc = t.count[JOB_ERROR] > 0 ? 1 : 0;
    }
    cleanup(&r);
    return rc;
}

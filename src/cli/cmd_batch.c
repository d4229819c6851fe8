/*
 * medseal batch IN OUT | --resume OUT: analyses a whole archive. Walks IN (any folder layout, or
 * a DICOMDIR file), reads DICOM headers only, groups files by patient (IssuerOfPatientID +
 * PatientID) and study (StudyInstanceUID), orders each patient's studies by date and runs the
 * analyst on the latest study with the others as priors (--every-study: each study against its
 * own priors), through the same an_add_paths / cli_render_report paths `analyze` uses. Writes
 * one folder per patient (the deid pseudonym), index.jsonl, cohort.csv and summary.html.
 *
 * Robustness: a job journal (SQLite, OUT/batch.db) holds the grouping (streamed, so memory does
 * not grow with the archive) and each patient's state. A patient's outputs are written to
 * "<name>.tmp" and fsync'ed, then the patient is marked done in the journal, then the temporaries
 * are renamed (a resumed run completes renames of patients marked done and never analyses them
 * again); no final name ever holds a partial file. Patients are analysed on every core.
 * With --state-db postgresql://... the per-patient states live in a PostgreSQL job queue
 * (batch_pg.c) instead, shared by `--worker` processes on other machines: the scan still goes to
 * the SQLite journal of the process that scans (the first run, or --enqueue), which then queues
 * every patient; workers claim patients (leases, retaken when a worker dies), write their outputs
 * under temporary names unique to the worker and commit them only while they hold the claim.
 * Whoever finds the queue finished writes index.jsonl, cohort.csv and summary.html from it.
 * With --recipient neither journal nor queue keeps a patient's results: each patient's index
 * line is a sealed patient.json in its folder and `medseal open` builds the run-wide files.
 *
 * Trusts: nothing in IN (every file is validated by the codec; unreadable files are listed with
 * the codec's reason, which names tags and offsets, never values). The journal holds no PHI:
 * patients and studies by their keyed pseudonyms, dates shifted by the patient's deid offset,
 * paths relative to IN (the operator's own names). Owns: the journal, OUT's files.
 * Exit: 0 every patient written; 1 some patient failed (listed); 2 usage or refusal.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sqlite3.h>

#include "batch.h"
#include "commands.h"
#include "medseal/analyst.h"
#include "medseal/dicom.h"

#define BT_MAX_DEPTH  32
#define BT_QUEUE      1024
#define BT_MAX_FMT    4
#define BT_MAX_LISTED 1000
#define BT_DB_NAME    "batch.db"

#define TAG_PATIENT_ID DCM_TAG(0x0010, 0x0020)
#define TAG_ISSUER     DCM_TAG(0x0010, 0x0021)
#define TAG_STUDY_UID  DCM_TAG(0x0020, 0x000D)
#define TAG_STUDY_DATE DCM_TAG(0x0008, 0x0020)
#define TAG_SOP_CLASS  DCM_TAG(0x0008, 0x0016)
#define TAG_MEDIA_SOP  DCM_TAG(0x0002, 0x0002)
#define TAG_DIR_SEQ    DCM_TAG(0x0004, 0x1220)
#define TAG_REF_FILE   DCM_TAG(0x0004, 0x1500)
#define UID_DICOMDIR   "1.2.840.10008.1.3.10"

enum { ST_TODO = 0, ST_COMMITTED = 1, ST_DONE = 2, ST_FAILED = 3 };

struct bopts {
    const char *in, *out, *key_path, *formats, *recipient, *state_db;
    char fmt[BT_MAX_FMT][8];
    size_t nfmt;
    int every, phi, resume, json, quiet, worker, enqueue;
    long jobs, lease;
    an_opts aopts;
};

#define BT_QUEUE_FILE "batch.queue" /* OUT's PostgreSQL run id, for --worker */

struct run {
    struct bopts o;
    uint8_t key[MS_KEY_LEN];
    char root[PATH_MAX]; /* folder the stored relative paths start from */
    sqlite3 *db;
    pthread_mutex_t mu; /* the journal connection and the fields below */
    /* scan queue */
    char *q[BT_QUEUE];
    size_t qhead, qn;
    int qclosed;
    pthread_cond_t qfull, qempty;
    sqlite3_int64 cursor; /* last claimed patient rowid */
    atomic_size_t scanned, unreadable, done_now, failed_now, studies_now;
    atomic_int live; /* analysis workers still running */
    size_t total, done_before;
    int seal; /* outputs sealed to the recipient (batch_seal.c) */
    uint8_t rpk[32];
    /* --state-db: the PostgreSQL queue */
    bt_pg *pg;
    char run_id[40];  /* the run's id in batch_runs */
    char owner[40];   /* this process's claims (random) */
    char tmpsfx[48];  /* ".tmp", or ".<owner>.tmp" with a queue */
    char active[256][MS_PSEUDO_MAX]; /* patient each worker thread holds, under mu */
    atomic_int slots;
    atomic_int pg_errors;
    atomic_size_t lost_now; /* claims lost to another worker (lease expired) */
    atomic_int stop_beat;
};

/* ---- usage ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: medseal batch --key KEYFILE [options] IN OUT\n"
            "       medseal batch --resume OUT [--key KEYFILE] [--jobs N] [--json] [--quiet]\n"
            "       medseal batch --worker --state-db URL [--key KEYFILE] [--jobs N] OUT\n"
            "  IN              an archive folder (any layout) or a DICOMDIR file\n"
            "  OUT             output folder: one folder per patient, index.jsonl, cohort.csv,\n"
            "                  summary.html, the journal batch.db\n"
            "  --key KEYFILE   the site key (medseal keygen): patient folder names are the deid "
            "pseudonyms\n"
            "  --format LIST   comma-separated json,text,fhir,html,sr (default json,html); sr: "
            "TID 1500 DICOM SR\n"
            "  --every-study   a report for every study against its own priors (default: the "
            "latest)\n"
            "  --phi           keep identifying values (dates, ages, free text) in the reports\n"
            "  --context C     screening or incidental (as analyze)\n"
            "  --risk R        low or high (as analyze)\n"
            "  --recipient PK  seal every output file to this X25519 public key (keygen "
            "--recipient)\n"
            "  --resume        continue the run journalled in OUT (IN and options from its "
            "journal)\n"
            "  --jobs N        worker threads (default: every core)\n"
            "  --json          a JSON summary on stdout at the end\n"
            "  --quiet         no progress bar (it is drawn only when stderr is a terminal)\n"
            "  --state-db URL  postgresql://...: the job queue in PostgreSQL, shared by --worker\n"
            "                  processes on other machines (the journal in OUT keeps the scan)\n"
            "  --enqueue       with --state-db: scan IN and queue its patients, then exit\n"
            "  --worker        with --state-db: analyse patients of the queue of OUT "
            "(batch.queue)\n"
            "  --lease S       seconds a claim lasts unless renewed (default 60); a dead "
            "worker's\n"
            "                  patients are taken again after it\n");
}

static int take(int argc, char **argv, int *i, const char **out)
{
    if (*i + 1 >= argc)
        return -1;
    *out = argv[++*i];
    return 0;
}

static int parse_formats(struct bopts *o)
{
    o->nfmt = 0;
    const char *p = o->formats;
    while (*p != '\0') {
        const char *c = strchr(p, ',');
        size_t n = c != NULL ? (size_t)(c - p) : strlen(p);
        if (n == 0 || n >= sizeof o->fmt[0] || o->nfmt >= BT_MAX_FMT) {
            cli_error("batch", "--format: a comma-separated list of json,text,fhir,html,sr");
            return -1;
        }
        memcpy(o->fmt[o->nfmt], p, n);
        o->fmt[o->nfmt][n] = '\0';
        if (strcmp(o->fmt[o->nfmt], "sr") != 0 && !cli_format_known(o->fmt[o->nfmt])) {
            cli_error("batch", "--format: %zu-th entry is not json, text, fhir, html or sr",
                      o->nfmt + 1);
            return -1;
        }
        for (size_t k = 0; k < o->nfmt; k++)
            if (strcmp(o->fmt[k], o->fmt[o->nfmt]) == 0) {
                cli_error("batch", "--format: a format is listed twice");
                return -1;
            }
        o->nfmt++;
        p += n;
        if (*p == ',')
            p++;
    }
    if (o->nfmt == 0) {
        cli_error("batch", "--format: empty list");
        return -1;
    }
    return 0;
}

static int parse(int argc, char **argv, struct bopts *o)
{
    const char *pos[2] = {NULL, NULL};
    size_t npos = 0;
    const char *jobs = NULL, *lease = NULL;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int bad = 0;
        if (strcmp(s, "--key") == 0)
            bad = take(argc, argv, &i, &o->key_path);
        else if (strcmp(s, "--format") == 0)
            bad = take(argc, argv, &i, &o->formats);
        else if (strcmp(s, "--context") == 0)
            bad = take(argc, argv, &i, &o->aopts.context);
        else if (strcmp(s, "--risk") == 0)
            bad = take(argc, argv, &i, &o->aopts.risk);
        else if (strcmp(s, "--recipient") == 0)
            bad = take(argc, argv, &i, &o->recipient);
        else if (strcmp(s, "--jobs") == 0)
            bad = take(argc, argv, &i, &jobs);
        else if (strcmp(s, "--state-db") == 0)
            bad = take(argc, argv, &i, &o->state_db);
        else if (strcmp(s, "--lease") == 0)
            bad = take(argc, argv, &i, &lease);
        else if (strcmp(s, "--worker") == 0)
            o->worker = 1;
        else if (strcmp(s, "--enqueue") == 0)
            o->enqueue = 1;
        else if (strcmp(s, "--every-study") == 0)
            o->every = 1;
        else if (strcmp(s, "--phi") == 0)
            o->phi = 1;
        else if (strcmp(s, "--resume") == 0)
            o->resume = 1;
        else if (strcmp(s, "--json") == 0)
            o->json = 1;
        else if (strcmp(s, "--quiet") == 0)
            o->quiet = 1;
        else if (s[0] == '-' || npos >= 2)
            bad = 1;
        else
            pos[npos++] = s;
        if (bad) {
            cli_error("batch", "bad or incomplete argument %d (see --help)", i);
            return -1;
        }
    }
    if (jobs != NULL) {
        char *end;
        o->jobs = strtol(jobs, &end, 10);
        if (*end != '\0' || o->jobs < 1 || o->jobs > 256) {
            cli_error("batch", "--jobs must be 1-256");
            return -1;
        }
    }
    o->lease = 60;
    if (lease != NULL) {
        char *end;
        o->lease = strtol(lease, &end, 10);
        if (*end != '\0' || o->lease < 1 || o->lease > 86400) {
            cli_error("batch", "--lease must be 1-86400 seconds");
            return -1;
        }
    }
    if (o->state_db != NULL && strncmp(o->state_db, "postgresql://", 13) != 0 &&
        strncmp(o->state_db, "postgres://", 11) != 0) {
        cli_error("batch", "--state-db must be a postgresql:// URL");
        return -1;
    }
    if ((o->worker || o->enqueue) && o->state_db == NULL) {
        cli_error("batch", "--worker and --enqueue need --state-db postgresql://...");
        return -1;
    }
    if (o->worker && (o->enqueue || o->resume)) {
        cli_error("batch", "--worker takes no --enqueue or --resume");
        return -1;
    }
    if (o->worker) {
        if (npos != 1) {
            cli_error("batch", "--worker takes the OUT folder only (see --help)");
            return -1;
        }
        o->out = pos[0];
        return 0;
    }
    if (o->resume) {
        if (npos != 1) {
            cli_error("batch", "--resume takes the OUT folder only (see --help)");
            return -1;
        }
        o->out = pos[0];
        return 0;
    }
    if (npos != 2) {
        cli_error("batch", "IN and OUT are required (see --help)");
        return -1;
    }
    if (o->key_path == NULL) {
        cli_error("batch", "--key KEYFILE is required (the site key gives the pseudonyms)");
        return -1;
    }
    if (o->aopts.context != NULL && strcmp(o->aopts.context, "screening") != 0 &&
        strcmp(o->aopts.context, "incidental") != 0) {
        cli_error("batch", "--context must be screening or incidental");
        return -1;
    }
    if (o->aopts.risk != NULL && strcmp(o->aopts.risk, "low") != 0 &&
        strcmp(o->aopts.risk, "high") != 0) {
        cli_error("batch", "--risk must be low or high");
        return -1;
    }
    o->in = pos[0];
    o->out = pos[1];
    if (o->formats == NULL)
        o->formats = "json,html";
    return parse_formats(o);
}

/* ---- journal ----------------------------------------------------------------------------- */

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS batch_meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS batch_files(path TEXT PRIMARY KEY, patient TEXT NOT NULL,"
    " study TEXT NOT NULL, date TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS batch_files_ps ON batch_files(patient, study);"
    "CREATE TABLE IF NOT EXISTS batch_notes(path TEXT PRIMARY KEY, dir TEXT NOT NULL,"
    " patient TEXT, study TEXT);"
    "CREATE TABLE IF NOT EXISTS batch_unreadable(path TEXT PRIMARY KEY, reason TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS batch_patients(patient TEXT PRIMARY KEY,"
    " state INTEGER NOT NULL DEFAULT 0, studies INTEGER, nodules INTEGER, lung_rads TEXT,"
    " follow_up TEXT, due TEXT, line TEXT, reason TEXT, done_count INTEGER NOT NULL DEFAULT 0);";

static int db_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        cli_error("batch", "journal: %s", msg != NULL ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sqlite3_stmt *db_prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        cli_error("batch", "journal: %s", sqlite3_errmsg(db));
        return NULL;
    }
    return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

static int meta_set(sqlite3 *db, const char *k, const char *v)
{
    sqlite3_stmt *st = db_prep(db, "INSERT OR REPLACE INTO batch_meta(k, v) VALUES(?, ?)");
    if (st == NULL)
        return -1;
    bind_text(st, 1, k);
    bind_text(st, 2, v);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

/* The meta value of k copied into out (size n), or -1 when absent. */
static int meta_get(sqlite3 *db, const char *k, char *out, size_t n)
{
    sqlite3_stmt *st = db_prep(db, "SELECT v FROM batch_meta WHERE k = ?");
    if (st == NULL)
        return -1;
    bind_text(st, 1, k);
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v != NULL && strlen(v) < n) {
            memcpy(out, v, strlen(v) + 1);
            rc = 0;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- the scan: walk, headers, grouping --------------------------------------------------- */

struct row {
    char path[PATH_MAX];
    char patient[MS_PSEUDO_MAX];
    char study[MS_UID_MAX];
    char date[9];
    char reason[MS_ERR_MSG_MAX + 32]; /* non-empty: unreadable */
    int skip;                    /* a DICOMDIR: not a study file */
};

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static void text_or_empty(const dcm_dataset *ds, uint32_t tag, ms_buf *b)
{
    ms_err e = {0};
    ms_buf_reset(b);
    if (dcm_dataset_text(ds, tag, b, &e) != MS_OK)
        ms_buf_reset(b);
}

static void read_header(struct run *R, struct row *w)
{
    char full[PATH_MAX * 2];
    snprintf(full, sizeof full, "%s/%s", R->root, w->path);
    dcm_read_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.stop_before_pixels = 1;
    dcm_file *f = NULL;
    ms_err e = {0};
    if (dcm_file_read(full, &ro, &f, &e) != MS_OK) {
        snprintf(w->reason, sizeof w->reason, "not DICOM: %s", e.msg);
        return;
    }
    const dcm_dataset *ds = dcm_file_dataset(f);
    ms_buf pid, iss, uid, date;
    ms_buf_init(&pid, NULL, 1 << 16);
    ms_buf_init(&iss, NULL, 1 << 16);
    ms_buf_init(&uid, NULL, 1 << 16);
    ms_buf_init(&date, NULL, 1 << 16);
    text_or_empty(dcm_file_meta(f), TAG_MEDIA_SOP, &uid);
    if (uid.len == 0)
        text_or_empty(ds, TAG_SOP_CLASS, &uid);
    if (uid.len > 0 && strcmp((const char *)uid.p, UID_DICOMDIR) == 0) {
        w->skip = 1;
        goto done;
    }
    text_or_empty(ds, TAG_PATIENT_ID, &pid);
    text_or_empty(ds, TAG_ISSUER, &iss);
    text_or_empty(ds, TAG_STUDY_UID, &uid);
    text_or_empty(ds, TAG_STUDY_DATE, &date);
    if (pid.len == 0) {
        snprintf(w->reason, sizeof w->reason, "no PatientID (0010,0020)");
        goto done;
    }
    if (uid.len == 0) {
        snprintf(w->reason, sizeof w->reason, "no StudyInstanceUID (0020,000D)");
        goto done;
    }
    int off = 0;
    if (ms_pseudo_patient(R->key, (const char *)iss.p, iss.len, (const char *)pid.p, pid.len,
                          w->patient, &e) != MS_OK ||
        ms_pseudo_uid(R->key, (const char *)uid.p, uid.len, w->study, &e) != MS_OK ||
        ms_pseudo_date_offset(R->key, (const char *)iss.p, iss.len, (const char *)pid.p, pid.len,
                              &off, &e) != MS_OK) {
        snprintf(w->reason, sizeof w->reason, "pseudonym: %s", e.msg);
        goto done;
    }
    w->date[0] = '\0';
    if (date.len == 8 && ms_da_shift((const char *)date.p, 8, off, w->date, &e) != MS_OK)
        w->date[0] = '\0';
done:
    ms_buf_free(&pid);
    ms_buf_free(&iss);
    ms_buf_free(&uid);
    ms_buf_free(&date);
    dcm_file_free(f);
}

static int store_rows(struct run *R, struct row *rows, size_t n)
{
    pthread_mutex_lock(&R->mu);
    int rc = db_exec(R->db, "BEGIN");
    sqlite3_stmt *fi = db_prep(R->db, "INSERT OR REPLACE INTO batch_files(path, patient, study, "
                                      "date) VALUES(?, ?, ?, ?)");
    sqlite3_stmt *ui =
        db_prep(R->db, "INSERT OR REPLACE INTO batch_unreadable(path, reason) VALUES(?, ?)");
    for (size_t i = 0; rc == 0 && fi != NULL && ui != NULL && i < n; i++) {
        struct row *w = &rows[i];
        sqlite3_stmt *st = w->reason[0] != '\0' ? ui : fi;
        if (w->skip)
            continue;
        sqlite3_reset(st);
        bind_text(st, 1, w->path);
        if (st == ui) {
            bind_text(st, 2, w->reason);
            atomic_fetch_add(&R->unreadable, 1);
        } else {
            bind_text(st, 2, w->patient);
            bind_text(st, 3, w->study);
            bind_text(st, 4, w->date);
        }
        if (sqlite3_step(st) != SQLITE_DONE) {
            cli_error("batch", "journal: %s", sqlite3_errmsg(R->db));
            rc = -1;
        }
    }
    sqlite3_finalize(fi);
    sqlite3_finalize(ui);
    if (fi == NULL || ui == NULL)
        rc = -1;
    if (db_exec(R->db, rc == 0 ? "COMMIT" : "ROLLBACK") != 0)
        rc = -1;
    pthread_mutex_unlock(&R->mu);
    return rc;
}

#define SCAN_BATCH 1024

static void *scan_worker(void *arg)
{
    struct run *R = arg;
    struct row *rows = calloc(SCAN_BATCH, sizeof *rows);
    size_t n = 0;
    for (;;) {
        pthread_mutex_lock(&R->mu);
        while (R->qn == 0 && !R->qclosed)
            pthread_cond_wait(&R->qempty, &R->mu);
        char *p = NULL;
        if (R->qn > 0) {
            p = R->q[R->qhead];
            R->qhead = (R->qhead + 1) % BT_QUEUE;
            R->qn--;
            pthread_cond_signal(&R->qfull);
        }
        pthread_mutex_unlock(&R->mu);
        if (p == NULL || rows == NULL) {
            free(p);
            if (p == NULL)
                break;
            continue;
        }
        memset(&rows[n], 0, sizeof rows[n]);
        snprintf(rows[n].path, sizeof rows[n].path, "%s", p);
        free(p);
        read_header(R, &rows[n]);
        atomic_fetch_add(&R->scanned, 1);
        if (++n == SCAN_BATCH) {
            (void)store_rows(R, rows, n);
            n = 0;
        }
    }
    if (rows != NULL && n > 0)
        (void)store_rows(R, rows, n);
    free(rows);
    return NULL;
}

static int known(sqlite3_stmt *st, const char *rel)
{
    sqlite3_reset(st);
    bind_text(st, 1, rel);
    bind_text(st, 2, rel);
    return sqlite3_step(st) == SQLITE_ROW;
}

/* Queues one relative path for a scan worker (or records a note), unless already journalled. */
static void enqueue(struct run *R, sqlite3_stmt *seen, const char *rel)
{
    const char *slash = strrchr(rel, '/');
    const char *name = slash != NULL ? slash + 1 : rel;
    if (has_suffix(name, ".json") || strcmp(name, "DICOMDIR") == 0 || strcmp(name, BT_DB_NAME) == 0)
        return;
    pthread_mutex_lock(&R->mu);
    if (known(seen, rel)) {
        pthread_mutex_unlock(&R->mu);
        return;
    }
    if (has_suffix(name, ".txt")) {
        sqlite3_stmt *st = db_prep(R->db, "INSERT OR IGNORE INTO batch_notes(path, dir) "
                                          "VALUES(?, ?)");
        if (st != NULL) {
            bind_text(st, 1, rel);
            sqlite3_bind_text(st, 2, rel, slash != NULL ? (int)(slash - rel) : 0,
                              SQLITE_TRANSIENT);
            (void)sqlite3_step(st);
            sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&R->mu);
        return;
    }
    while (R->qn == BT_QUEUE)
        pthread_cond_wait(&R->qfull, &R->mu);
    char *p = strdup(rel);
    if (p != NULL) {
        R->q[(R->qhead + R->qn) % BT_QUEUE] = p;
        R->qn++;
        pthread_cond_signal(&R->qempty);
    }
    pthread_mutex_unlock(&R->mu);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks root/rel in name order (no symbolic links, no dot entries, OUT skipped). */
static void walk(struct run *R, sqlite3_stmt *seen, const char *rel, int depth, dev_t odev,
                 ino_t oino)
{
    char dir[PATH_MAX * 2];
    snprintf(dir, sizeof dir, "%s%s%s", R->root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (d == NULL || depth > BT_MAX_DEPTH) {
        if (d != NULL)
            closedir(d);
        return;
    }
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(v, cap * sizeof *nv);
            if (nv == NULL)
                break;
            v = nv;
        }
        if ((v[n] = strdup(e->d_name)) != NULL)
            n++;
    }
    closedir(d);
    if (n > 0)
        qsort(v, n, sizeof *v, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char crel[PATH_MAX], full[PATH_MAX * 2];
        int len = snprintf(crel, sizeof crel, "%s%s%s", rel, rel[0] ? "/" : "", v[i]);
        free(v[i]);
        if (len < 0 || (size_t)len >= sizeof crel)
            continue;
        snprintf(full, sizeof full, "%s/%s", R->root, crel);
        struct stat sb;
        if (lstat(full, &sb) != 0 || S_ISLNK(sb.st_mode))
            continue;
        if (S_ISDIR(sb.st_mode)) {
            if (!(sb.st_dev == odev && sb.st_ino == oino))
                walk(R, seen, crel, depth + 1, odev, oino);
        } else if (S_ISREG(sb.st_mode)) {
            enqueue(R, seen, crel);
        }
    }
    free(v);
}

/* IN is a DICOMDIR: queue the files its directory records reference (ReferencedFileID, the
 * components joined with '/', relative to the DICOMDIR's folder; ".." is refused). */
static int walk_dicomdir(struct run *R, sqlite3_stmt *seen, const char *path)
{
    dcm_read_opts ro;
    memset(&ro, 0, sizeof ro);
    dcm_file *f = NULL;
    ms_err e = {0};
    if (dcm_file_read(path, &ro, &f, &e) != MS_OK) {
        cli_report("batch", "DICOMDIR", &e);
        return -1;
    }
    const dcm_elem *seq = dcm_dataset_find(dcm_file_dataset(f), TAG_DIR_SEQ);
    size_t items = seq != NULL ? dcm_elem_item_count(seq) : 0;
    ms_buf b;
    ms_buf_init(&b, NULL, 1 << 16);
    for (size_t i = 0; i < items; i++) {
        const dcm_elem *ref = dcm_dataset_find(dcm_elem_item(seq, i), TAG_REF_FILE);
        if (ref == NULL)
            continue;
        char rel[PATH_MAX] = "";
        size_t len = 0;
        int bad = 0;
        for (size_t k = 0; !bad && k < dcm_elem_vm(ref); k++) {
            ms_buf_reset(&b);
            if (dcm_elem_text_at(ref, k, &b, &e) != MS_OK || b.len == 0 ||
                strcmp((const char *)b.p, "..") == 0 || strchr((const char *)b.p, '/') != NULL ||
                len + b.len + 2 > sizeof rel) {
                bad = 1;
                break;
            }
            if (len > 0)
                rel[len++] = '/';
            memcpy(rel + len, b.p, b.len);
            len += b.len;
            rel[len] = '\0';
        }
        if (bad || len == 0)
            continue;
        char full[PATH_MAX * 2];
        struct stat sb;
        snprintf(full, sizeof full, "%s/%s", R->root, rel);
        if (lstat(full, &sb) == 0 && S_ISREG(sb.st_mode))
            enqueue(R, seen, rel);
    }
    ms_buf_free(&b);
    dcm_file_free(f);
    return 0;
}

/* Each note goes with the one study whose files lie in its folder or below; else listed. */
static int assign_notes(struct run *R)
{
    sqlite3_stmt *ns = db_prep(R->db, "SELECT path, dir FROM batch_notes WHERE study IS NULL");
    sqlite3_stmt *fs = db_prep(R->db,
                               "SELECT DISTINCT patient, study FROM batch_files WHERE ? = '' OR "
                               "(path > ? || '/' AND path < ? || '0') LIMIT 2");
    sqlite3_stmt *up = db_prep(R->db, "UPDATE batch_notes SET patient = ?, study = ? WHERE path = ?");
    sqlite3_stmt *un = db_prep(R->db, "INSERT OR REPLACE INTO batch_unreadable(path, reason) "
                                      "VALUES(?, ?)");
    int rc = ns && fs && up && un ? 0 : -1;
    while (rc == 0 && sqlite3_step(ns) == SQLITE_ROW) {
        const char *path = (const char *)sqlite3_column_text(ns, 0);
        const char *dir = (const char *)sqlite3_column_text(ns, 1);
        sqlite3_reset(fs);
        bind_text(fs, 1, dir);
        bind_text(fs, 2, dir);
        bind_text(fs, 3, dir);
        int k = 0;
        char pat[MS_PSEUDO_MAX] = "", stu[MS_UID_MAX] = "";
        while (sqlite3_step(fs) == SQLITE_ROW) {
            if (k++ == 0) {
                snprintf(pat, sizeof pat, "%s", (const char *)sqlite3_column_text(fs, 0));
                snprintf(stu, sizeof stu, "%s", (const char *)sqlite3_column_text(fs, 1));
            }
        }
        sqlite3_stmt *st = k == 1 ? up : un;
        sqlite3_reset(st);
        if (k == 1) {
            bind_text(st, 1, pat);
            bind_text(st, 2, stu);
            bind_text(st, 3, path);
        } else {
            bind_text(st, 1, path);
            bind_text(st, 2, k == 0 ? "note: no study in its folder"
                                    : "note: its folder holds more than one study");
            atomic_fetch_add(&R->unreadable, 1);
        }
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = -1;
    }
    sqlite3_finalize(ns);
    sqlite3_finalize(fs);
    sqlite3_finalize(up);
    sqlite3_finalize(un);
    return rc;
}

static void progress(struct run *R, int final);

static int scan(struct run *R)
{
    struct stat ob, ib;
    if (stat(R->o.out, &ob) != 0)
        return -1;
    sqlite3_stmt *seen = db_prep(R->db, "SELECT 1 FROM batch_files WHERE path = ?1 UNION ALL "
                                        "SELECT 1 FROM batch_unreadable WHERE path = ?2");
    if (seen == NULL)
        return -1;
    pthread_t th[256];
    long nt = R->o.jobs;
    for (long i = 0; i < nt; i++)
        if (pthread_create(&th[i], NULL, scan_worker, R) != 0) {
            nt = i;
            break;
        }
    int rc = 0;
    if (nt == 0) {
        cli_error("batch", "cannot start a worker thread");
        rc = -1;
    } else if (stat(R->o.in, &ib) == 0 && S_ISREG(ib.st_mode)) {
        rc = walk_dicomdir(R, seen, R->o.in);
    } else {
        walk(R, seen, "", 0, ob.st_dev, ob.st_ino);
    }
    pthread_mutex_lock(&R->mu);
    R->qclosed = 1;
    pthread_cond_broadcast(&R->qempty);
    pthread_mutex_unlock(&R->mu);
    for (long i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    sqlite3_finalize(seen);
    if (rc != 0)
        return rc;
    if (db_exec(R->db, "BEGIN") != 0)
        return -1;
    rc = assign_notes(R);
    if (rc == 0)
        rc = db_exec(R->db, "INSERT OR IGNORE INTO batch_patients(patient) SELECT DISTINCT "
                            "patient FROM batch_files ORDER BY patient");
    if (rc == 0)
        rc = meta_set(R->db, "scan_complete", "1");
    if (db_exec(R->db, rc == 0 ? "COMMIT" : "ROLLBACK") != 0)
        rc = -1;
    return rc;
}

/* ---- one patient ------------------------------------------------------------------------- */

struct study {
    char id[MS_UID_MAX];
    char date[9];
    char **paths;
    size_t n;
};

static void studies_free(struct study *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < s[i].n; k++)
            free(s[i].paths[k]);
        free(s[i].paths);
    }
    free(s);
}

static int push_path(struct run *R, struct study *s, const char *rel)
{
    char **nv = realloc(s->paths, (s->n + 1) * sizeof *nv);
    if (nv == NULL)
        return -1;
    s->paths = nv;
    size_t len = strlen(R->root) + strlen(rel) + 2;
    if ((s->paths[s->n] = malloc(len)) == NULL)
        return -1;
    snprintf(s->paths[s->n], len, "%s/%s", R->root, rel);
    s->n++;
    return 0;
}

/* The patient's studies in date order (undated first, then by pseudonymous UID), with their
 * files and notes. Under R->mu. */
static int load_patient(struct run *R, const char *patient, struct study **out, size_t *nout)
{
    sqlite3_stmt *ss = db_prep(R->db, "SELECT study, max(date) AS d FROM batch_files WHERE "
                                      "patient = ? GROUP BY study ORDER BY d, study");
    sqlite3_stmt *fs = db_prep(R->db, "SELECT path FROM batch_files WHERE patient = ?1 AND study "
                                      "= ?2 UNION ALL SELECT path FROM batch_notes WHERE patient "
                                      "= ?1 AND study = ?2 ORDER BY 1");
    struct study *s = NULL;
    size_t n = 0;
    int rc = ss && fs ? 0 : -1;
    if (rc == 0)
        bind_text(ss, 1, patient);
    while (rc == 0 && sqlite3_step(ss) == SQLITE_ROW) {
        struct study *ns = realloc(s, (n + 1) * sizeof *ns);
        if (ns == NULL) {
            rc = -1;
            break;
        }
        s = ns;
        memset(&s[n], 0, sizeof s[n]);
        snprintf(s[n].id, sizeof s[n].id, "%s", (const char *)sqlite3_column_text(ss, 0));
        snprintf(s[n].date, sizeof s[n].date, "%s", (const char *)sqlite3_column_text(ss, 1));
        n++;
        sqlite3_reset(fs);
        bind_text(fs, 1, patient);
        bind_text(fs, 2, s[n - 1].id);
        while (rc == 0 && sqlite3_step(fs) == SQLITE_ROW)
            rc = push_path(R, &s[n - 1], (const char *)sqlite3_column_text(fs, 0));
    }
    sqlite3_finalize(ss);
    sqlite3_finalize(fs);
    if (rc != 0 || n == 0) {
        studies_free(s, n);
        return -1;
    }
    *out = s;
    *nout = n;
    return 0;
}

static const char *fmt_ext(const char *fmt)
{
    if (strcmp(fmt, "fhir") == 0)
        return "fhir.json";
    if (strcmp(fmt, "text") == 0)
        return "txt";
    if (strcmp(fmt, "sr") == 0)
        return "sr.dcm";
    return fmt;
}

/* The file name of study t's report (0-based, date order) in format fmt, as `open` gives it
 * back (on disk a sealed file has ".sealed" after it). */
static void out_name(const struct run *R, size_t t, const char *fmt, char *buf, size_t n)
{
    if (R->o.every)
        snprintf(buf, n, "study-%zu.%s", t + 1, fmt_ext(fmt));
    else
        snprintf(buf, n, "report.%s", fmt_ext(fmt));
}

/* Months to the follow-up of a Lung-RADS management key or a Fleischner category; -1 none. */
static int follow_months(const char *key)
{
    static const struct {
        const char *key;
        int months;
    } t[] = {
        {"ldct-12m", 12},
        {"ldct-6m", 6},
        {"ldct-3m-or-pet", 3},
        {"ldct-1-3m", 1},
        {"additional-ldct", 1},
        {"comparison-or-additional-imaging", 0},
        {"comparison", 0},
        {"diagnostic-ct-pet-or-sampling", 0},
        {"clinical-evaluation", 0},
        {"optional-ct-12m", 12},
        {"ct-3m-pet-or-biopsy", 3},
    };
    if (key == NULL)
        return -1;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(key, t[i].key) == 0)
            return t[i].months;
    if (strncmp(key, "ct-3", 4) == 0)
        return 3;
    if (strncmp(key, "ct-6", 4) == 0)
        return 6;
    return -1;
}

/* YYYYMMDD (or YYYY-MM-DD) + months -> "YYYY-MM-DD" (day clamped to the month); 0 or -1. */
int bt_due_date(const char *date, int months, char out[11])
{
    int y, m, d;
    if (date == NULL || months < 0)
        return -1;
    if (strlen(date) == 8 && sscanf(date, "%4d%2d%2d", &y, &m, &d) == 3) {
    } else if (strlen(date) == 10 && sscanf(date, "%4d-%2d-%2d", &y, &m, &d) == 3) {
    } else {
        return -1;
    }
    long days;
    if (ms_date_to_days(y, m, d, &days) != MS_OK)
        return -1;
    int mm = m - 1 + months;
    y += mm / 12;
    m = mm % 12 + 1;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int lim = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    if (d > lim)
        d = lim;
    if (y < 0 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02d", y, m, d);
    memcpy(out, tmp, 11);
    return 0;
}

struct summary {
    size_t nodules;
    char lung_rads[8];
    char follow[48];
    int months;
    char due[11];
};

static void summarise(const struct run *R, const an_report *r, const char *shifted,
                      struct summary *s)
{
    memset(s, 0, sizeof *s);
    s->months = -1;
    json_t *j = NULL;
    ms_err e = {0};
    if (an_report_json(r, &j, &e) != MS_OK)
        return;
    json_t *f = json_object_get(j, "findings");
    for (size_t i = 0; i < json_array_size(f); i++) {
        const char *type = json_string_value(json_object_get(json_array_get(f, i), "type"));
        s->nodules += type != NULL && strcmp(type, "nodule") == 0;
    }
    json_t *as = json_object_get(j, "assessment");
    json_t *lr = json_object_get(as, "lung_rads"), *fl = json_object_get(as, "fleischner");
    const char *cat = json_string_value(json_object_get(lr, "category"));
    const char *key = json_string_value(json_object_get(lr, "management_key"));
    if (key == NULL || (R->o.aopts.context != NULL && strcmp(R->o.aopts.context, "incidental") == 0))
        key = json_string_value(json_object_get(fl, "category")) ? json_string_value(json_object_get(fl, "category")) : key;
    if (cat != NULL)
        snprintf(s->lung_rads, sizeof s->lung_rads, "%s", cat);
    if (key != NULL)
        snprintf(s->follow, sizeof s->follow, "%s", key);
    s->months = follow_months(key);
    const char *date = R->o.phi ? json_string_value(json_object_get(json_object_get(j, "study"),
                                                                    "date"))
                                : shifted;
    if (bt_due_date(date, s->months, s->due) != 0)
        s->due[0] = '\0';
    json_decref(j);
}

/* The report as a TID 1500 SR (an_report_sr) referencing the current study's images: their
 * headers are read again here, one study's at a time. */
static ms_rc render_sr(struct run *R, const an_report *r, const struct study *s, ms_buf *out,
                       ms_err *err)
{
    dcm_file **files = calloc(s->n ? s->n : 1, sizeof *files);
    if (files == NULL)
        return ms_fail(err, MS_E_NOMEM, "sr: file list");
    size_t n = 0;
    dcm_read_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.stop_before_pixels = 1;
    for (size_t i = 0; i < s->n; i++) {
        ms_err e = {0};
        if (!has_suffix(s->paths[i], ".txt") &&
            dcm_file_read(s->paths[i], &ro, &files[n], &e) == MS_OK)
            n++;
    }
    an_sr_opts so;
    memset(&so, 0, sizeof so);
    so.phi = R->o.phi;
    so.key = R->key;
    ms_rc rc = an_report_sr(r, files, n, &so, out, err);
    for (size_t i = 0; i < n; i++)
        dcm_file_free(files[i]);
    free(files);
    return rc;
}

static int write_temp(struct run *R, const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[PATH_MAX * 3];
    snprintf(path, sizeof path, "%s/%s%s%s", dir, name, R->seal ? ".sealed" : "", R->tmpsfx);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = R->seal ? bt_seal_write(fd, R->rpk, p, n) : ms_write_all(fd, p, n);
    if (rc == 0)
        rc = fsync(fd);
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

/* The patient's output names (as `open` gives them back) in order: reports, then with
 * --recipient patient.json (its index line). */
static size_t output_names(const struct run *R, size_t nstudies, char (*names)[64], size_t max)
{
    size_t k = 0;
    for (size_t t = R->o.every ? 0 : nstudies - 1; t < nstudies; t++)
        for (size_t f = 0; f < R->o.nfmt && k < max; f++)
            out_name(R, t, R->o.fmt[f], names[k++], 64);
    if (R->seal && k < max)
        snprintf(names[k++], 64, "patient.json");
    return k;
}

#define MAX_OUTPUTS (BT_MAX_FMT * (AN_MAX_STUDIES + 1) * 4 + 1)

/* Renames every "<name><sfx>" of the patient's folder to its final name (sfx: the temporary
 * suffix of the writer), or with discard removes them; then syncs the folder. */
static void finalise(struct run *R, const char *patient, size_t nstudies, const char *sfx,
                     int discard)
{
    char dir[PATH_MAX * 2];
    snprintf(dir, sizeof dir, "%s/%s", R->o.out, patient);
    char(*names)[64] = calloc(MAX_OUTPUTS, sizeof *names);
    size_t k = names != NULL && nstudies > 0 ? output_names(R, nstudies, names, MAX_OUTPUTS) : 0;
    for (size_t i = 0; i < k; i++) {
        char a[PATH_MAX * 3], b[PATH_MAX * 3];
        const char *sx = R->seal ? ".sealed" : "";
        snprintf(a, sizeof a, "%s/%s%s%s", dir, names[i], sx, sfx);
        snprintf(b, sizeof b, "%s/%s%s", dir, names[i], sx);
        if (discard)
            (void)unlink(a);
        else
            (void)rename(a, b);
    }
    free(names);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
}

/* Removes the temporaries a killed writer left in the patient's folder (the caller holds the
 * patient: the journal's worker, or the queue's claim). */
static void clear_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && has_suffix(e->d_name, ".tmp"))
            (void)unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

static int mark(struct run *R, const char *sql, const char *patient)
{
    sqlite3_stmt *st = db_prep(R->db, sql);
    if (st == NULL)
        return -1;
    bind_text(st, 1, patient);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

static void fail_patient(struct run *R, const char *patient, const char *reason)
{
    if (R->pg != NULL) {
        (void)bt_pg_fail(R->pg, R->run_id, patient, R->owner, reason);
        atomic_fetch_add(&R->failed_now, 1);
        return;
    }
    pthread_mutex_lock(&R->mu);
    sqlite3_stmt *st =
        db_prep(R->db, "UPDATE batch_patients SET state = 3, reason = ? WHERE patient = ?");
    if (st != NULL) {
        bind_text(st, 1, reason);
        bind_text(st, 2, patient);
        (void)sqlite3_step(st);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&R->mu);
    atomic_fetch_add(&R->failed_now, 1);
}

/* The patient's index line (index.jsonl), malloc'ed. */
static char *index_line(struct run *R, const char *patient, size_t n, const struct summary *sum)
{
    json_t *line = json_object();
    json_object_set_new(line, "patient", json_string(patient));
    json_object_set_new(line, "studies", json_integer((json_int_t)n));
    json_object_set_new(line, "nodules", json_integer((json_int_t)sum->nodules));
    json_object_set_new(line, "lung_rads", sum->lung_rads[0] ? json_string(sum->lung_rads)
                                                            : json_null());
    json_object_set_new(line, "follow_up", sum->follow[0] ? json_string(sum->follow) : json_null());
    json_object_set_new(line, "follow_up_months",
                        sum->months >= 0 ? json_integer(sum->months) : json_null());
    json_object_set_new(line, "due_date", sum->due[0] ? json_string(sum->due) : json_null());
    json_object_set_new(line, "dates", json_string(R->o.phi ? "real" : "shifted"));
    json_t *reps = json_array();
    for (size_t t = R->o.every ? 0 : n - 1; t < n; t++)
        for (size_t k = 0; k < R->o.nfmt; k++) {
            char name[64], rel[128];
            out_name(R, t, R->o.fmt[k], name, sizeof name);
            snprintf(rel, sizeof rel, "%s/%s", patient, name);
            json_array_append_new(reps, json_string(rel));
        }
    json_object_set_new(line, "reports", reps);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    return text;
}

/* Analyses one patient (its studies s[0..n), date order; freed here) and writes its outputs:
 * temporaries, then the commit (journal or queue), then the renames. */
static void process(struct run *R, const char *patient, struct study *s, size_t n)
{
    char dir[PATH_MAX * 2];
    snprintf(dir, sizeof dir, "%s/%s", R->o.out, patient);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        studies_free(s, n);
        fail_patient(R, patient, "cannot create the patient folder");
        return;
    }
    clear_temps(dir);
    struct summary sum;
    memset(&sum, 0, sizeof sum);
    ms_err err = {0};
    char reason[MS_ERR_MSG_MAX + 64] = "";
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    for (size_t t = R->o.every ? 0 : n - 1; reason[0] == '\0' && t < n; t++) {
        an_report *r = NULL;
        ms_rc rc = an_report_new(&R->o.aopts, &r, &err);
        size_t first = t >= AN_MAX_STUDIES ? t - (AN_MAX_STUDIES - 1) : 0;
        for (size_t j = first; rc == MS_OK && j < t; j++) {
            ms_err pe = {0};
            ms_rc prc = an_add_paths(r, (const char *const *)s[j].paths, s[j].n, 1, &pe);
            if (prc != MS_OK && prc != MS_E_NOTFOUND) {
                rc = prc;
                err = pe;
            }
        }
        if (rc == MS_OK)
            rc = an_add_paths(r, (const char *const *)s[t].paths, s[t].n, 0, &err);
        if (rc == MS_OK)
            rc = an_run(r, &err);
        for (size_t k = 0; rc == MS_OK && k < R->o.nfmt; k++) {
            char name[64];
            ms_buf_reset(&b);
            rc = strcmp(R->o.fmt[k], "sr") == 0 ? render_sr(R, r, &s[t], &b, &err)
                                                : cli_render_report(r, R->o.fmt[k], &b, &err);
            out_name(R, t, R->o.fmt[k], name, sizeof name);
            if (rc == MS_OK && write_temp(R, dir, name, b.p, b.len) != 0)
                rc = ms_fail(&err, MS_E_IO, "cannot write %s", name);
        }
        if (rc == MS_OK && t == n - 1)
            summarise(R, r, s[t].date, &sum);
        if (rc != MS_OK)
            snprintf(reason, sizeof reason, "study %zu: %s", t + 1, err.msg);
        an_report_free(r);
    }
    ms_buf_free(&b);
    studies_free(s, n);
    if (reason[0] != '\0') {
        finalise(R, patient, n, R->tmpsfx, 1);
        fail_patient(R, patient, reason);
        return;
    }
    char *text = index_line(R, patient, n, &sum);
    if (text == NULL || (R->seal && write_temp(R, dir, "patient.json", (const uint8_t *)text,
                                               strlen(text)) != 0)) {
        free(text);
        finalise(R, patient, n, R->tmpsfx, 1);
        fail_patient(R, patient, "cannot write patient.json");
        return;
    }
    if (R->pg != NULL) {
        /* committed only while this process holds the claim: exactly once */
        int c = bt_pg_commit(R->pg, R->run_id, patient, R->owner, (int)n, R->seal ? NULL : text);
        free(text);
        if (c == 1) {
            finalise(R, patient, n, R->tmpsfx, 0);
            (void)bt_pg_done(R->pg, R->run_id, patient);
            atomic_fetch_add(&R->done_now, 1);
            atomic_fetch_add(&R->studies_now, n);
        } else if (c == 0) {
            finalise(R, patient, n, R->tmpsfx, 1);
            atomic_fetch_add(&R->lost_now, 1);
        } else {
            atomic_fetch_add(&R->pg_errors, 1);
        }
        return;
    }
    /* with --recipient the journal keeps only what resume needs: the state and the study
     * count (the results are in the sealed patient.json) */
    pthread_mutex_lock(&R->mu);
    sqlite3_stmt *st = db_prep(
        R->db, "UPDATE batch_patients SET state = 1, studies = ?, nodules = ?, lung_rads = ?, "
               "follow_up = ?, due = ?, line = ?, reason = NULL, done_count = done_count + 1 "
               "WHERE patient = ? AND state = 0");
    int ok = 0;
    if (st != NULL) {
        int plain = !R->seal;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
        if (plain)
            sqlite3_bind_int64(st, 2, (sqlite3_int64)sum.nodules);
        else
            sqlite3_bind_null(st, 2);
        bind_text(st, 3, plain && sum.lung_rads[0] ? sum.lung_rads : NULL);
        bind_text(st, 4, plain && sum.follow[0] ? sum.follow : NULL);
        bind_text(st, 5, plain && sum.due[0] ? sum.due : NULL);
        bind_text(st, 6, plain ? text : NULL);
        bind_text(st, 7, patient);
        ok = sqlite3_step(st) == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&R->mu);
    free(text);
    if (!ok) {
        fail_patient(R, patient, "journal: cannot record the patient");
        return;
    }
    finalise(R, patient, n, R->tmpsfx, 0);
    pthread_mutex_lock(&R->mu);
    (void)mark(R, "UPDATE batch_patients SET state = 2 WHERE patient = ?", patient);
    pthread_mutex_unlock(&R->mu);
    atomic_fetch_add(&R->done_now, 1);
    atomic_fetch_add(&R->studies_now, n);
}

static void *analyse_worker(void *arg)
{
    struct run *R = arg;
    for (;;) {
        char patient[MS_PSEUDO_MAX] = "";
        pthread_mutex_lock(&R->mu);
        sqlite3_stmt *st = db_prep(R->db, "SELECT rowid, patient FROM batch_patients WHERE state "
                                          "= 0 AND rowid > ? ORDER BY rowid LIMIT 1");
        if (st != NULL) {
            sqlite3_bind_int64(st, 1, R->cursor);
            if (sqlite3_step(st) == SQLITE_ROW) {
                R->cursor = sqlite3_column_int64(st, 0);
                snprintf(patient, sizeof patient, "%s", (const char *)sqlite3_column_text(st, 1));
            }
            sqlite3_finalize(st);
        }
        struct study *s = NULL;
        size_t n = 0;
        int lrc = patient[0] != '\0' ? load_patient(R, patient, &s, &n) : 0;
        pthread_mutex_unlock(&R->mu);
        if (patient[0] == '\0')
            break;
        if (lrc != 0)
            fail_patient(R, patient, "journal: cannot load the patient's files");
        else
            process(R, patient, s, n);
    }
    atomic_fetch_sub(&R->live, 1);
    return NULL;
}

/* Patients marked done whose temporaries may not all be renamed yet (killed in between). */
static int roll_forward(struct run *R)
{
    sqlite3_stmt *st =
        db_prep(R->db, "SELECT patient, studies FROM batch_patients WHERE state = 1");
    if (st == NULL)
        return -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char p[MS_PSEUDO_MAX];
        snprintf(p, sizeof p, "%s", (const char *)sqlite3_column_text(st, 0));
        finalise(R, p, (size_t)sqlite3_column_int64(st, 1), ".tmp", 0);
    }
    sqlite3_finalize(st);
    return db_exec(R->db, "UPDATE batch_patients SET state = 2 WHERE state = 1;"
                          "UPDATE batch_patients SET state = 0 WHERE state = 3");
}

/* ---- the PostgreSQL queue: jobs, workers, leases ----------------------------------------- */

/* A patient's job: its studies in date order with their files, relative to IN. */
static char *job_json(const struct run *R, const struct study *s, size_t n)
{
    size_t rl = strlen(R->root) + 1;
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object(), *ps = json_array();
        json_object_set_new(o, "id", json_string(s[i].id));
        json_object_set_new(o, "date", json_string(s[i].date));
        for (size_t k = 0; k < s[i].n; k++)
            json_array_append_new(ps, json_string(strlen(s[i].paths[k]) > rl ? s[i].paths[k] + rl
                                                                             : s[i].paths[k]));
        json_object_set_new(o, "paths", ps);
        json_array_append_new(a, o);
    }
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return text;
}

static int job_parse(struct run *R, const char *text, struct study **out, size_t *nout)
{
    json_error_t je;
    json_t *a = json_loads(text, 0, &je);
    size_t n = json_array_size(a);
    struct study *s = n > 0 ? calloc(n, sizeof *s) : NULL;
    int rc = s != NULL ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *o = json_array_get(a, i), *ps = json_object_get(o, "paths");
        const char *id = json_string_value(json_object_get(o, "id"));
        const char *date = json_string_value(json_object_get(o, "date"));
        if (id == NULL || date == NULL || !json_is_array(ps)) {
            rc = -1;
            break;
        }
        snprintf(s[i].id, sizeof s[i].id, "%s", id);
        snprintf(s[i].date, sizeof s[i].date, "%s", date);
        for (size_t k = 0; rc == 0 && k < json_array_size(ps); k++) {
            const char *p = json_string_value(json_array_get(ps, k));
            /* relative to IN, never above it */
            if (p == NULL || p[0] == '/' || strcmp(p, "..") == 0 || strncmp(p, "../", 3) == 0 ||
                strstr(p, "/../") != NULL || has_suffix(p, "/.."))
                rc = -1;
            else
                rc = push_path(R, &s[i], p);
        }
    }
    json_decref(a);
    if (rc != 0) {
        studies_free(s, n);
        return -1;
    }
    *out = s;
    *nout = n;
    return 0;
}

/* Queues every patient of the journal (256 per transaction; patients already queued stay as
 * they are), then marks the run's queue complete. */
static int enqueue_all(struct run *R)
{
    enum { CHUNK = 256 };
    char *pat[CHUNK], *job[CHUNK];
    size_t k = 0;
    int rc = 0;
    sqlite3_stmt *st = db_prep(R->db, "SELECT patient FROM batch_patients ORDER BY patient");
    if (st == NULL)
        return -1;
    for (;;) {
        int row = sqlite3_step(st) == SQLITE_ROW;
        if (row) {
            struct study *s = NULL;
            size_t n = 0;
            const char *p = (const char *)sqlite3_column_text(st, 0);
            if (load_patient(R, p, &s, &n) != 0) {
                rc = -1;
                break;
            }
            pat[k] = strdup(p);
            job[k] = job_json(R, s, n);
            studies_free(s, n);
            if (pat[k] == NULL || job[k] == NULL) {
                free(pat[k]);
                free(job[k]);
                rc = -1;
                break;
            }
            k++;
        }
        if (k == CHUNK || (!row && k > 0)) {
            rc = bt_pg_enqueue(R->pg, R->run_id, k, (const char *const *)pat,
                               (const char *const *)job);
            for (size_t i = 0; i < k; i++) {
                free(pat[i]);
                free(job[i]);
            }
            k = 0;
            if (rc != 0)
                break;
        }
        if (!row)
            break;
    }
    for (size_t i = 0; i < k; i++) {
        free(pat[i]);
        free(job[i]);
    }
    sqlite3_finalize(st);
    if (rc != 0)
        return -1;
    long long files = 0, un = 0;
    st = db_prep(R->db, "SELECT (SELECT count(*) FROM batch_files), (SELECT count(*) FROM "
                        "batch_unreadable)");
    if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
        files = sqlite3_column_int64(st, 0);
        un = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (bt_pg_run_enqueued(R->pg, R->run_id, files, un) != 0)
        return -1;
    return meta_set(R->db, "enqueued", "1");
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A worker thread: claims patients until the queue holds none todo or claimed by anyone (a
 * claim of a dead worker is claimable again once its lease runs out, so it waits for those). */
static void *pg_worker(void *arg)
{
    struct run *R = arg;
    int slot = atomic_fetch_add(&R->slots, 1);
    int errors = 0;
    for (;;) {
        char patient[MS_PSEUDO_MAX] = "";
        char *job = NULL;
        int c = bt_pg_claim(R->pg, R->run_id, R->owner, (int)R->o.lease, patient,
                            sizeof patient, &job);
        if (c == 1) {
            errors = 0;
            pthread_mutex_lock(&R->mu);
            snprintf(R->active[slot], sizeof R->active[slot], "%s", patient);
            pthread_mutex_unlock(&R->mu);
            struct study *s = NULL;
            size_t n = 0;
            if (job_parse(R, job, &s, &n) != 0)
                fail_patient(R, patient, "queue: the patient's job is malformed");
            else
                process(R, patient, s, n);
            pthread_mutex_lock(&R->mu);
            R->active[slot][0] = '\0';
            pthread_mutex_unlock(&R->mu);
            free(job);
            continue;
        }
        free(job);
        long long cnt[5], studies, files, un;
        int enq = 0;
        if (c == 0 && bt_pg_counts(R->pg, R->run_id, cnt, &studies, &files, &un, &enq) == 0) {
            errors = 0;
            if (enq && cnt[BTQ_TODO] == 0 && cnt[BTQ_CLAIMED] == 0)
                break;
        } else if (++errors > 40) { /* ~10 s without the database */
            atomic_fetch_add(&R->pg_errors, 1);
            break;
        }
        sleep_ms(250);
    }
    atomic_fetch_sub(&R->live, 1);
    return NULL;
}

/* Renews the leases of the patients this process's threads hold, every third of a lease. */
static void *heartbeat(void *arg)
{
    struct run *R = arg;
    long tick = R->o.lease * 1000 / 3;
    if (tick < 100)
        tick = 100;
    for (long waited = 0; !atomic_load(&R->stop_beat); waited += 100) {
        sleep_ms(100);
        if (waited < tick)
            continue;
        waited = 0;
        char list[256 * (MS_PSEUDO_MAX + 1) + 4];
        size_t len = 0;
        list[len++] = '{';
        pthread_mutex_lock(&R->mu);
        for (int i = 0; i < 256 && i < atomic_load(&R->slots); i++)
            if (R->active[i][0] != '\0')
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len > 1 ? "," : "",
                                        R->active[i]);
        pthread_mutex_unlock(&R->mu);
        list[len++] = '}';
        list[len] = '\0';
        if (len > 2)
            (void)bt_pg_renew(R->pg, R->run_id, R->owner, list, (int)R->o.lease);
    }
    return NULL;
}

static void roll_one(void *ud, const char *patient, const char *owner, int studies)
{
    struct run *R = ud;
    char sfx[64];
    snprintf(sfx, sizeof sfx, ".%s.tmp", owner);
    finalise(R, patient, studies > 0 ? (size_t)studies : 0, sfx, 0);
    (void)bt_pg_done(R->pg, R->run_id, patient);
}

/* ---- progress ---------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double t_start;

static void progress(struct run *R, int final)
{
    if (R->o.quiet || !isatty(STDERR_FILENO))
        return;
    size_t done = atomic_load(&R->done_now) + atomic_load(&R->failed_now);
    size_t todo = R->total > R->done_before ? R->total - R->done_before : 0;
    double el = now_s() - t_start, rate = el > 0 ? (double)done / el : 0;
    double pct = todo ? 100.0 * (double)done / (double)todo : 100.0;
    double eta = rate > 0 ? (double)(todo - done) / rate : 0;
    char bar[31];
    size_t fill = (size_t)(pct * 30 / 100);
    for (size_t i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r[%s] %5.1f%% %zu/%zu patients %.1f patients/s ETA %ld:%02ld ", bar, pct,
            done, todo, rate, (long)eta / 60, (long)eta % 60);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

/* ---- outputs of the whole run ------------------------------------------------------------ */

/* The journal's index lines (bt_lines_fn), in patient order. */
static int sqlite_lines(void *ud, bt_line_cb cb, void *cbud)
{
    struct run *R = ud;
    sqlite3_stmt *ps = db_prep(R->db, "SELECT line FROM batch_patients WHERE state = 2 AND line "
                                      "IS NOT NULL ORDER BY patient");
    int rc = ps != NULL ? 0 : -1;
    while (rc == 0 && sqlite3_step(ps) == SQLITE_ROW)
        rc = cb(cbud, (const char *)sqlite3_column_text(ps, 0));
    sqlite3_finalize(ps);
    return rc;
}

/* index.jsonl, cohort.csv, summary.html: from the journal or the queue. A sealed run keeps no
 * index line on the host (patient.json.sealed in each folder instead): `medseal open` builds
 * them on the requester's side. */
static int write_summaries(struct run *R)
{
    if (R->seal)
        return 0;
    if (R->pg != NULL) {
        struct bt_pg_lines L = {R->pg, R->run_id};
        if (bt_pg_summary_lock(R->pg, R->run_id, 1) != 0)
            return -1;
        int rc = bt_summaries_write(R->o.out, 0, NULL, R->o.phi, bt_pg_lines, &L);
        (void)bt_pg_summary_lock(R->pg, R->run_id, 0);
        return rc;
    }
    return bt_summaries_write(R->o.out, 0, NULL, R->o.phi, sqlite_lines, R);
}

/* ---- the end-of-run report --------------------------------------------------------------- */

static void failed_one(void *ud, const char *patient, const char *reason)
{
    json_t *o = json_object();
    json_object_set_new(o, "patient", json_string(patient));
    json_object_set_new(o, "reason", json_string(reason));
    json_array_append_new(ud, o);
}

static int report(struct run *R, double secs)
{
    size_t counts[4] = {0, 0, 0, 0}, studies = 0, nun = 0, nfiles = 0, pending = 0;
    sqlite3_stmt *st = NULL;
    if (R->pg != NULL) {
        long long c[5], ns, nf, nu;
        int enq;
        if (bt_pg_counts(R->pg, R->run_id, c, &ns, &nf, &nu, &enq) == 0) {
            counts[ST_DONE] = (size_t)c[BTQ_DONE];
            counts[ST_FAILED] = (size_t)c[BTQ_FAILED];
            pending = (size_t)(c[BTQ_TODO] + c[BTQ_CLAIMED] + c[BTQ_COMMITTED]);
            R->total = (size_t)(c[0] + c[1] + c[2] + c[3] + c[4]);
            studies = (size_t)ns;
            nfiles = (size_t)nf;
            nun = (size_t)nu;
        }
    } else {
        st = db_prep(R->db, "SELECT state, count(*), coalesce(sum(studies), 0) FROM "
                            "batch_patients GROUP BY state");
        while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
            int s = sqlite3_column_int(st, 0);
            if (s >= 0 && s < 4)
                counts[s] = (size_t)sqlite3_column_int64(st, 1);
            if (s == ST_DONE)
                studies = (size_t)sqlite3_column_int64(st, 2);
        }
        sqlite3_finalize(st);
        st = db_prep(R->db, "SELECT (SELECT count(*) FROM batch_unreadable), (SELECT count(*) "
                            "FROM batch_files)");
        if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
            nun = (size_t)sqlite3_column_int64(st, 0);
            nfiles = (size_t)sqlite3_column_int64(st, 1);
        }
        sqlite3_finalize(st);
    }
    size_t now = atomic_load(&R->done_now), snow = atomic_load(&R->studies_now);
    json_t *j = json_object();
    json_object_set_new(j, "files", json_integer((json_int_t)nfiles));
    json_object_set_new(j, "patients", json_integer((json_int_t)R->total));
    json_object_set_new(j, "patients_done", json_integer((json_int_t)counts[ST_DONE]));
    json_object_set_new(j, "patients_done_this_run", json_integer((json_int_t)now));
    json_object_set_new(j, "patients_failed", json_integer((json_int_t)counts[ST_FAILED]));
    json_object_set_new(j, "studies", json_integer((json_int_t)studies));
    json_object_set_new(j, "studies_analysed_this_run", json_integer((json_int_t)snow));
    json_object_set_new(j, "seconds", json_real(secs));
    json_object_set_new(j, "patients_per_s", json_real(secs > 0 ? (double)now / secs : 0));
    json_object_set_new(j, "studies_per_s", json_real(secs > 0 ? (double)snow / secs : 0));
    if (R->pg != NULL) {
        json_object_set_new(j, "patients_pending", json_integer((json_int_t)pending));
        json_object_set_new(j, "claims_lost_this_run",
                            json_integer((json_int_t)atomic_load(&R->lost_now)));
    }
    json_object_set_new(j, "unreadable", json_integer((json_int_t)nun));
    json_t *ul = json_array(), *fl = json_array();
    /* a worker has no scan journal: the unreadable files are listed by the run that scanned */
    st = R->db != NULL ? db_prep(R->db, "SELECT path, reason FROM batch_unreadable ORDER BY path "
                                        "LIMIT 1000")
                       : NULL;
    while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
        json_t *o = json_object();
        json_object_set_new(o, "path", json_string((const char *)sqlite3_column_text(st, 0)));
        json_object_set_new(o, "reason", json_string((const char *)sqlite3_column_text(st, 1)));
        json_array_append_new(ul, o);
    }
    sqlite3_finalize(st);
    if (R->pg != NULL)
        (void)bt_pg_failed(R->pg, R->run_id, BT_MAX_LISTED, failed_one, fl);
    st = R->pg == NULL ? db_prep(R->db, "SELECT patient, reason FROM batch_patients WHERE state "
                                        "= 3 ORDER BY patient LIMIT 1000")
                       : NULL;
    while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
        json_t *o = json_object();
        json_object_set_new(o, "patient", json_string((const char *)sqlite3_column_text(st, 0)));
        json_object_set_new(o, "reason", json_string((const char *)sqlite3_column_text(st, 1)));
        json_array_append_new(fl, o);
    }
    sqlite3_finalize(st);
    json_object_set_new(j, "unreadable_files", ul);
    json_object_set_new(j, "failed", fl);
    json_object_set_new(j, "sealed", json_boolean(R->seal));
    if (R->o.json) {
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
    } else {
        fprintf(stderr,
                "medseal batch: %zu patients (%zu done, %zu this run, %zu failed), %zu studies, "
                "%zu files, %zu unreadable, %.1f s\n",
                R->total, counts[ST_DONE], now, counts[ST_FAILED], studies, nfiles, nun, secs);
        for (size_t i = 0; i < json_array_size(ul) && i < 100; i++)
            fprintf(stderr, "unreadable: %s (%s)\n",
                    json_string_value(json_object_get(json_array_get(ul, i), "path")),
                    json_string_value(json_object_get(json_array_get(ul, i), "reason")));
        for (size_t i = 0; i < json_array_size(fl) && i < 100; i++)
            fprintf(stderr, "failed: %s (%s)\n",
                    json_string_value(json_object_get(json_array_get(fl, i), "patient")),
                    json_string_value(json_object_get(json_array_get(fl, i), "reason")));
    }
    json_decref(j);
    return counts[ST_FAILED] > 0 || atomic_load(&R->pg_errors) > 0 ? 1 : 0;
}

/* ---- setup ------------------------------------------------------------------------------- */

/* The options of a new run go into the journal; a resumed run takes them from it. */
static int setup_meta(struct run *R)
{
    struct bopts *o = &R->o;
    static char in[PATH_MAX], key[PATH_MAX], fmts[64], ctx[16], risk[8], rcpt[80];
    char v[16];
    if (!o->resume) {
        if (meta_get(R->db, "in", in, sizeof in) == 0) {
            cli_error("batch", "OUT already holds a batch journal: use --resume OUT");
            return 2;
        }
        if (realpath(o->in, in) == NULL) {
            cli_error("batch", "IN not found");
            return 2;
        }
        char kp[PATH_MAX];
        if (realpath(o->key_path, kp) == NULL) {
            cli_error("batch", "--key: file not found");
            return 2;
        }
        int rc = db_exec(R->db, "BEGIN");
        rc |= meta_set(R->db, "in", in);
        rc |= meta_set(R->db, "key", kp);
        rc |= meta_set(R->db, "formats", o->formats);
        rc |= meta_set(R->db, "every", o->every ? "1" : "0");
        rc |= meta_set(R->db, "phi", o->phi ? "1" : "0");
        rc |= meta_set(R->db, "context", o->aopts.context ? o->aopts.context : "");
        rc |= meta_set(R->db, "risk", o->aopts.risk ? o->aopts.risk : "");
        rc |= meta_set(R->db, "recipient", o->recipient ? o->recipient : "");
        rc |= db_exec(R->db, rc == 0 ? "COMMIT" : "ROLLBACK");
        if (rc != 0)
            return 1;
        o->in = in;
        return 0;
    }
    if (meta_get(R->db, "in", in, sizeof in) != 0 || meta_get(R->db, "key", key, sizeof key) != 0 ||
        meta_get(R->db, "formats", fmts, sizeof fmts) != 0 ||
        meta_get(R->db, "context", ctx, sizeof ctx) != 0 ||
        meta_get(R->db, "risk", risk, sizeof risk) != 0 ||
        meta_get(R->db, "recipient", rcpt, sizeof rcpt) != 0) {
        cli_error("batch", "--resume: OUT holds no complete batch journal");
        return 2;
    }
    o->in = in;
    if (o->key_path == NULL)
        o->key_path = key;
    o->formats = fmts;
    o->every = meta_get(R->db, "every", v, sizeof v) == 0 && v[0] == '1';
    o->phi = meta_get(R->db, "phi", v, sizeof v) == 0 && v[0] == '1';
    o->aopts.context = ctx[0] ? ctx : NULL;
    o->aopts.risk = risk[0] ? risk : NULL;
    o->recipient = rcpt[0] ? rcpt : NULL;
    return parse_formats(o) == 0 ? 0 : 2;
}

static void hexs(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* The site key's fingerprint (HMAC, not the key): 16 hex characters. */
static int key_id(const struct run *R, char hex[17])
{
    uint8_t mac[32];
    ms_err e = {0};
    if (ms_hmac_sha256(R->key, MS_KEY_LEN, "medseal batch journal", 21, NULL, 0, mac, &e) != MS_OK)
        return -1;
    hexs(mac, 8, hex);
    return 0;
}

/* A fingerprint of the site key in the journal, so a resumed run cannot mix pseudonyms. */
static int check_key(struct run *R)
{
    char hex[17];
    if (key_id(R, hex) != 0)
        return 1;
    char old[32];
    if (meta_get(R->db, "key_id", old, sizeof old) == 0) {
        if (strcmp(old, hex) != 0) {
            cli_error("batch", "--key: not the site key this journal was started with");
            return 2;
        }
        return 0;
    }
    return meta_set(R->db, "key_id", hex) == 0 ? 0 : 1;
}

/* The run that scans: its queue in PostgreSQL (the run's id in the journal and in
 * OUT/batch.queue for the workers, its options in batch_runs). */
static int queue_setup(struct run *R)
{
    char v[48];
    int has = meta_get(R->db, "queue", v, sizeof v) == 0;
    if (R->o.state_db == NULL) {
        if (has) {
            cli_error("batch", "--resume: this run's queue is in PostgreSQL: give --state-db URL");
            return 2;
        }
        return 0;
    }
    if (R->o.resume && !has) {
        cli_error("batch", "--resume: this run has no PostgreSQL queue (run without --state-db)");
        return 2;
    }
    if (bt_pg_open(R->o.state_db, &R->pg) != 0)
        return 1;
    if (meta_get(R->db, "run", R->run_id, sizeof R->run_id) != 0) {
        uint8_t r[16];
        ms_err e = {0};
        if (ms_random(r, sizeof r, &e) != MS_OK)
            return 1;
        hexs(r, sizeof r, R->run_id);
        if (meta_set(R->db, "run", R->run_id) != 0 || meta_set(R->db, "queue", "postgresql") != 0)
            return 1;
    }
    char kid[17], pk[65] = "";
    if (key_id(R, kid) != 0)
        return 1;
    if (R->seal)
        hexs(R->rpk, 32, pk);
    json_t *o = json_object();
    json_object_set_new(o, "in", json_string(R->o.in));
    char kp[PATH_MAX];
    if (meta_get(R->db, "key", kp, sizeof kp) != 0)
        return 1;
    json_object_set_new(o, "key", json_string(kp));
    json_object_set_new(o, "formats", json_string(R->o.formats));
    json_object_set_new(o, "every", json_integer(R->o.every));
    json_object_set_new(o, "phi", json_integer(R->o.phi));
    json_object_set_new(o, "context", json_string(R->o.aopts.context ? R->o.aopts.context : ""));
    json_object_set_new(o, "risk", json_string(R->o.aopts.risk ? R->o.aopts.risk : ""));
    json_object_set_new(o, "recipient", json_string(pk));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    int rc = text != NULL ? bt_pg_run_put(R->pg, R->run_id, kid, text) : -1;
    free(text);
    if (rc == 2) {
        cli_error("batch", "--key: not the site key this queue was started with");
        return 2;
    }
    if (rc != 0)
        return 1;
    /* OUT/batch.queue: the run id, for workers (temporary, fsync, rename) */
    char path[PATH_MAX * 2], tmp[PATH_MAX * 2 + 8];
    snprintf(path, sizeof path, "%s/%s", R->o.out, BT_QUEUE_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    char line[48];
    int n = snprintf(line, sizeof line, "%s\n", R->run_id);
    if (fd < 0 || ms_write_all(fd, line, (size_t)n) != 0 || fsync(fd) != 0 || close(fd) != 0 ||
        rename(tmp, path) != 0) {
        cli_error("batch", "cannot write OUT/%s", BT_QUEUE_FILE);
        return 1;
    }
    return 0;
}

/* A worker: the run id from OUT/batch.queue, the run's options from the queue, the site key
 * (--key, or the path the run was started with) checked against the run's fingerprint. */
static int worker_setup(struct run *R)
{
    static char in[PATH_MAX], key[PATH_MAX], fmts[64], ctx[16], risk[8];
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", R->o.out, BT_QUEUE_FILE);
    FILE *f = fopen(path, "r");
    char line[64] = "";
    if (f == NULL || fgets(line, sizeof line, f) == NULL) {
        if (f != NULL)
            fclose(f);
        cli_error("batch", "--worker: OUT holds no %s (run batch --state-db ... IN OUT first)",
                  BT_QUEUE_FILE);
        return 2;
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (strlen(line) != 32 || strspn(line, "0123456789abcdef") != 32) {
        cli_error("batch", "--worker: OUT/%s is not a run id", BT_QUEUE_FILE);
        return 2;
    }
    snprintf(R->run_id, sizeof R->run_id, "%s", line);
    if (bt_pg_open(R->o.state_db, &R->pg) != 0)
        return 1;
    char *opts = NULL, kid[40];
    int enq = 0;
    int rc = bt_pg_run_get(R->pg, R->run_id, &opts, kid, &enq);
    if (rc != 0) {
        free(opts);
        if (rc == 1)
            cli_error("batch", "--worker: the queue holds no run with OUT's id");
        return rc == 1 ? 2 : 1;
    }
    json_error_t je;
    json_t *o = json_loads(opts, 0, &je);
    free(opts);
    const char *vin = json_string_value(json_object_get(o, "in"));
    const char *vkey = json_string_value(json_object_get(o, "key"));
    const char *vf = json_string_value(json_object_get(o, "formats"));
    const char *vc = json_string_value(json_object_get(o, "context"));
    const char *vr = json_string_value(json_object_get(o, "risk"));
    const char *vp = json_string_value(json_object_get(o, "recipient"));
    if (vin == NULL || vkey == NULL || vf == NULL || vc == NULL || vr == NULL || vp == NULL ||
        strlen(vin) >= sizeof in || strlen(vkey) >= sizeof key || strlen(vf) >= sizeof fmts ||
        strlen(vc) >= sizeof ctx || strlen(vr) >= sizeof risk) {
        json_decref(o);
        cli_error("batch", "--worker: the run's options in the queue are malformed");
        return 1;
    }
    snprintf(in, sizeof in, "%s", vin);
    snprintf(key, sizeof key, "%s", vkey);
    snprintf(fmts, sizeof fmts, "%s", vf);
    snprintf(ctx, sizeof ctx, "%s", vc);
    snprintf(risk, sizeof risk, "%s", vr);
    R->o.in = in;
    if (R->o.key_path == NULL)
        R->o.key_path = key;
    R->o.formats = fmts;
    R->o.every = json_integer_value(json_object_get(o, "every")) != 0;
    R->o.phi = json_integer_value(json_object_get(o, "phi")) != 0;
    R->o.aopts.context = ctx[0] ? ctx : NULL;
    R->o.aopts.risk = risk[0] ? risk : NULL;
    if (vp[0] != '\0') {
        ms_err e = {0};
        if (strlen(vp) != 64 || ms_hex_decode(vp, 64, R->rpk, 32, &e) != MS_OK) {
            json_decref(o);
            cli_error("batch", "--worker: the run's recipient key is malformed");
            return 1;
        }
        R->seal = 1;
    }
    json_decref(o);
    if (parse_formats(&R->o) != 0)
        return 2;
    ms_err e = {0};
    if (ms_keyfile_read(R->o.key_path, R->key, &e) != MS_OK) {
        cli_report("batch", "--key", &e);
        return 2;
    }
    char mine[17];
    if (key_id(R, mine) != 0)
        return 1;
    if (strcmp(mine, kid) != 0) {
        cli_error("batch", "--key: not the site key this queue was started with");
        return 2;
    }
    return 0;
}

/* Claims and analyses patients of the queue on --jobs threads until it is finished, renews the
 * leases meanwhile, completes the renames of committed patients, and writes the run-wide files
 * when no patient is left to do. */
static int run_queue(struct run *R, double *secs)
{
    uint8_t r[8];
    ms_err e = {0};
    if (ms_random(r, sizeof r, &e) != MS_OK)
        return 1;
    hexs(r, sizeof r, R->owner);
    snprintf(R->tmpsfx, sizeof R->tmpsfx, ".%s.tmp", R->owner);
    long long c[5], ns, nf, nu;
    int enq = 0;
    if (bt_pg_counts(R->pg, R->run_id, c, &ns, &nf, &nu, &enq) != 0)
        return 1;
    R->total = (size_t)(c[0] + c[1] + c[2] + c[3] + c[4]);
    R->done_before = (size_t)c[BTQ_DONE];
    t_start = now_s();
    pthread_t th[256], hb;
    long nt = 0;
    for (; nt < R->o.jobs; nt++) {
        atomic_fetch_add(&R->live, 1);
        if (pthread_create(&th[nt], NULL, pg_worker, R) != 0) {
            atomic_fetch_sub(&R->live, 1);
            break;
        }
    }
    int have_hb = nt > 0 && pthread_create(&hb, NULL, heartbeat, R) == 0;
    if (nt == 0) {
        cli_error("batch", "cannot start a worker thread");
        return 1;
    }
    while (atomic_load(&R->live) > 0) {
        progress(R, 0);
        sleep_ms(200);
    }
    for (long i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    atomic_store(&R->stop_beat, 1);
    if (have_hb)
        pthread_join(hb, NULL);
    progress(R, 1);
    *secs = now_s() - t_start;
    /* patients committed by a worker killed before its renames */
    if (bt_pg_committed(R->pg, R->run_id, roll_one, R) != 0)
        return 1;
    if (bt_pg_counts(R->pg, R->run_id, c, &ns, &nf, &nu, &enq) != 0)
        return 1;
    if (enq && c[BTQ_TODO] == 0 && c[BTQ_CLAIMED] == 0 && c[BTQ_COMMITTED] == 0 &&
        write_summaries(R) != 0)
        return 1;
    return 0;
}

int cmd_batch(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    struct run *R = calloc(1, sizeof *R);
    if (R == NULL)
        return 1;
    int ret = 2;
    snprintf(R->tmpsfx, sizeof R->tmpsfx, ".tmp");
    if (parse(argc, argv, &R->o) != 0)
        goto out;
    if (R->o.jobs == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        R->o.jobs = c < 1 ? 1 : c > 256 ? 256 : c;
    }
    if (R->o.worker) {
        if ((ret = worker_setup(R)) != 0)
            goto out;
        ret = 2;
        goto ready;
    }
    if (!R->o.resume && mkdir(R->o.out, 0700) != 0 && errno != EEXIST) {
        cli_error("batch", "cannot create OUT");
        goto out;
    }
    char dbp[PATH_MAX * 2];
    snprintf(dbp, sizeof dbp, "%s/%s", R->o.out, BT_DB_NAME);
    struct stat sb;
    if (R->o.resume && stat(dbp, &sb) != 0) {
        cli_error("batch", "--resume: OUT holds no batch journal");
        goto out;
    }
    if (sqlite3_open_v2(dbp, &R->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        db_exec(R->db, schema) != 0) {
        cli_error("batch", "cannot open the journal in OUT");
        ret = 1;
        goto out;
    }
    sqlite3_busy_timeout(R->db, 10000);
    ret = setup_meta(R);
    if (ret != 0)
        goto out;
    ret = 2;
    ms_err e = {0};
    if (ms_keyfile_read(R->o.key_path, R->key, &e) != MS_OK) {
        cli_report("batch", "--key", &e);
        goto out;
    }
    if ((ret = check_key(R)) != 0)
        goto out;
    ret = 2;
    if (R->o.recipient != NULL) {
        if (bt_recipient_read(R->o.recipient, R->rpk) != 0) {
            cli_error("batch", "--recipient: not a public key file from keygen --recipient");
            goto out;
        }
        R->seal = 1;
    }
    if ((ret = queue_setup(R)) != 0)
        goto out;
    ret = 2;
ready:;
    struct stat ib;
    if (stat(R->o.in, &ib) != 0) {
        cli_error("batch", "IN not found");
        goto out;
    }
    if (S_ISREG(ib.st_mode)) {
        snprintf(R->root, sizeof R->root, "%s", R->o.in);
        char *sl = strrchr(R->root, '/');
        if (sl != NULL)
            *sl = '\0';
    } else {
        snprintf(R->root, sizeof R->root, "%s", R->o.in);
    }
    pthread_mutex_init(&R->mu, NULL);
    pthread_cond_init(&R->qfull, NULL);
    pthread_cond_init(&R->qempty, NULL);
    ret = 1;
    t_start = now_s();
    char v[8];
    if (R->db != NULL) {
        if (meta_get(R->db, "scan_complete", v, sizeof v) != 0 && scan(R) != 0) {
            cli_error("batch", "the scan of IN failed");
            goto out;
        }
        if (roll_forward(R) != 0)
            goto out;
    }
    if (R->pg != NULL && R->db != NULL) {
        if (meta_get(R->db, "enqueued", v, sizeof v) != 0 && enqueue_all(R) != 0) {
            cli_error("batch", "cannot queue the patients in the state db");
            goto out;
        }
        if (R->o.resume && bt_pg_retry_failed(R->pg, R->run_id) != 0)
            goto out;
    }
    if (R->o.enqueue) {
        ret = report(R, now_s() - t_start);
        goto out;
    }
    if (R->pg != NULL) {
        double secs = 0;
        if (run_queue(R, &secs) != 0)
            goto out;
        ret = report(R, secs);
        goto out;
    }
    sqlite3_stmt *st = db_prep(R->db, "SELECT count(*), sum(state = 2) FROM batch_patients");
    if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
        R->total = (size_t)sqlite3_column_int64(st, 0);
        R->done_before = (size_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    t_start = now_s();
    pthread_t th[256];
    long nt = 0;
    for (; nt < R->o.jobs; nt++) {
        atomic_fetch_add(&R->live, 1);
        if (pthread_create(&th[nt], NULL, analyse_worker, R) != 0) {
            atomic_fetch_sub(&R->live, 1);
            break;
        }
    }
    if (nt == 0) {
        cli_error("batch", "cannot start a worker thread");
        goto out;
    }
    for (;;) {
        if (atomic_load(&R->live) == 0)
            break;
        progress(R, 0);
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (long i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    progress(R, 1);
    double secs = now_s() - t_start;
    if (write_summaries(R) != 0)
        goto out;
    ret = report(R, secs);
out:
    bt_pg_close(R->pg);
    if (R->db != NULL)
        sqlite3_close(R->db);
    ms_memzero(R->key, sizeof R->key);
    free(R);
    return ret;
}

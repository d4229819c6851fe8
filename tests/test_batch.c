/*
 * Tests of `medseal batch` and `medseal open` (src/cli/cmd_batch.c, batch_seal.c): grouping by
 * patient and study across folder layouts, reports identical to `medseal analyze`, resume after
 * SIGKILL at random moments (no patient lost, none finished twice, no partial file under a final
 * name), and sealed outputs that open only with the right key. Archives are made by
 * scripts/synth_study.py (synthetic patients) in the test's temp folder.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "test.h"

#define PY "/usr/bin/python3"

static int synth(const char *dir, int seed, int studies)
{
    return ms_test_sh(NULL, PY " %s/scripts/synth_study.py %s --studies %d --slices 2 --size 16 "
                            "--seed %d >/dev/null",
                      ms_test_root(), dir, studies, seed);
}

static int keyfile(const char *t)
{
    return ms_test_sh(NULL, "%s keygen > %s/site.key", ms_test_medseal(), t);
}

/* The pseudonym `deid` gives the patient of one DICOM file (the batch folder name). */
static int pseudonym_of(const char *t, const char *file, char out[32])
{
    char *o = NULL;
    int rc = ms_test_sh(&o,
                        "rm -rf %s/pd && mkdir -p %s/pd && cp %s %s/pd/f.dcm && %s deid --key "
                        "%s/site.key %s/pd %s/pdo >/dev/null && " PY
                        " -c \"import pydicom;print(pydicom.dcmread('%s/pdo/f.dcm').PatientID)\" "
                        "&& rm -rf %s/pd %s/pdo",
                        t, t, file, t, ms_test_medseal(), t, t, t, t, t, t);
    if (rc != 0 || o == NULL || strlen(o) < 4 || strlen(o) > 30) {
        free(o);
        return -1;
    }
    o[strcspn(o, "\n")] = '\0';
    strcpy(out, o);
    free(o);
    return 0;
}

TEST(test_batch_grouping_layouts)
{
    const char *t = ms_test_tmpdir();
    CHECK(keyfile(t) == 0);
    char a[512], b[512], c[512];
    snprintf(a, sizeof a, "%s/gen/a", t);
    snprintf(b, sizeof b, "%s/gen/b", t);
    snprintf(c, sizeof c, "%s/gen/c", t);
    CHECK(synth(a, 11, 3) == 0);
    CHECK(synth(b, 12, 1) == 0);
    CHECK(synth(c, 13, 1) == 0);
    /* one patient across folders: A's three studies in three unrelated places; B and C share
     * one flat folder (file names made unique), with a note that cannot be attributed; a file
     * that is not DICOM */
    CHECK(ms_test_sh(NULL,
                     "cd %s && mkdir -p in/2019/x in/other/deep/er in/a3 in/shared && "
                     "cp -r gen/a/study_1/. in/2019/x/ && cp -r gen/a/study_2/. in/other/deep/er/ "
                     "&& cp -r gen/a/study_3/. in/a3/ && "
                     "for p in b c; do for f in gen/$p/study_1/CT/* gen/$p/study_1/SR/*; do "
                     "cp $f in/shared/$p-$(basename $f); done; done && "
                     "cp gen/b/study_1/notes.txt in/shared/notes.txt && "
                     "echo 'not dicom' > in/shared/README",
                     t) == 0);
    char *o = NULL;
    CHECK(ms_test_sh(&o, "%s batch --key %s/site.key --format json,html --json --jobs 2 %s/in "
                         "%s/out",
                     ms_test_medseal(), t, t, t) == 0);
    CHECK(o != NULL && strstr(o, "\"patients\": 3") != NULL);
    CHECK(strstr(o, "\"patients_done\": 3") != NULL);
    CHECK(strstr(o, "\"studies\": 5") != NULL);
    /* studies_per_s counts studies read (A's three, B's and C's one), not reports written */
    CHECK(strstr(o, "\"studies_analysed_this_run\": 5") != NULL);
    CHECK(strstr(o, "shared/README") != NULL && strstr(o, "not DICOM") != NULL);
    CHECK(strstr(o, "shared/notes.txt") != NULL);
    CHECK(strstr(o, "more than one study") != NULL);
    free(o);
    char pa[32], pb[32], pc[32], f[1024];
    snprintf(f, sizeof f, "%s/gen/a/study_1/CT/CT00001.dcm", t);
    CHECK(pseudonym_of(t, f, pa) == 0);
    snprintf(f, sizeof f, "%s/gen/b/study_1/CT/CT00001.dcm", t);
    CHECK(pseudonym_of(t, f, pb) == 0);
    snprintf(f, sizeof f, "%s/gen/c/study_1/CT/CT00001.dcm", t);
    CHECK(pseudonym_of(t, f, pc) == 0);
    /* index.jsonl: one line per patient, named by the deid pseudonym, with its study count */
    CHECK(ms_test_sh(NULL, "grep -c . %s/out/index.jsonl | grep -qx 3", t) == 0);
    CHECK(ms_test_sh(NULL, "grep -q '\"patient\":\"%s\",\"studies\":3' %s/out/index.jsonl", pa,
                     t) == 0);
    CHECK(ms_test_sh(NULL, "grep -q '\"patient\":\"%s\",\"studies\":1' %s/out/index.jsonl", pb,
                     t) == 0);
    CHECK(ms_test_sh(NULL, "grep -q '\"patient\":\"%s\",\"studies\":1' %s/out/index.jsonl", pc,
                     t) == 0);
    /* A's report is byte for byte what analyze gives for its latest study with the two priors */
    CHECK(ms_test_sh(NULL,
                     "%s analyze %s/in/a3 --prior %s/in/2019/x --prior %s/in/other/deep/er "
                     "--format json | cmp - %s/out/%s/report.json",
                     ms_test_medseal(), t, t, t, t, pa) == 0);
    CHECK(ms_test_sh(NULL,
                     "%s analyze %s/in/a3 --prior %s/in/2019/x --prior %s/in/other/deep/er "
                     "--format html | cmp - %s/out/%s/report.html",
                     ms_test_medseal(), t, t, t, t, pa) == 0);
    /* B's report from the shared folder holds B's study only (one series of 2 images) */
    CHECK(ms_test_sh(NULL, "grep -q '\"images\": 2' %s/out/%s/report.json", t, pb) == 0);
    CHECK(ms_test_sh(NULL, "grep -c . %s/out/cohort.csv | grep -qx 4", t) == 0);
    CHECK(ms_test_sh(NULL, "grep -q 'Screening worklist' %s/out/summary.html && ! grep -Eq "
                           "'(src|href)=\"(https?:)?//' %s/out/summary.html",
                     t, t) == 0);
    /* --every-study: a report per study, each against its own priors */
    CHECK(ms_test_sh(NULL, "%s batch --key %s/site.key --every-study --format json --quiet %s/in "
                           "%s/every 2>/dev/null",
                     ms_test_medseal(), t, t, t) == 0);
    CHECK(ms_test_sh(NULL,
                     "%s analyze %s/in/other/deep/er --prior %s/in/2019/x --format json | cmp - "
                     "%s/every/%s/study-2.json && test -f %s/every/%s/study-3.json && test ! -e "
                     "%s/every/%s/study-4.json",
                     ms_test_medseal(), t, t, t, pa, t, pa, t, pa) == 0);
    /* no PHI in the journal or the outputs: the planted name and ids of A */
    CHECK(ms_test_sh(NULL,
                     PY " -c \"import json,sys;d=json.load(open('%s/gen/a/truth.json'));"
                        "print('\\n'.join(d['planted_phi']+[d['identity']['patient_id']]))\" > "
                        "%s/phi.txt && ! grep -rlaF -f %s/phi.txt %s/out",
                     t, t, t, t) == 0);
    /* a second run into the same OUT is refused; usage errors exit 2 */
    int rc = ms_test_sh(NULL, "%s batch --key %s/site.key %s/in %s/out 2>/dev/null",
                        ms_test_medseal(), t, t, t);
    CHECK_EQ_INT(rc, 2);
    rc = ms_test_sh(NULL, "%s batch --key %s/site.key --format dcm %s/in %s/o2 2>/dev/null",
                    ms_test_medseal(), t, t, t);
    CHECK_EQ_INT(rc, 2);
    /* --format sr: A's report as a TID 1500 SR the codec reads back, de-identified */
    CHECK(ms_test_sh(NULL, "%s batch --key %s/site.key --format sr --quiet %s/in %s/sr 2>/dev/null",
                     ms_test_medseal(), t, t, t) == 0);
    CHECK(ms_test_sh(NULL, "%s dump %s/sr/%s/report.sr.dcm | grep -q 'Measurement Group' && ! "
                           "grep -laF -f %s/phi.txt %s/sr/%s/report.sr.dcm",
                     ms_test_medseal(), t, pa, t, t, pa) == 0);
    /* the SR's patient is the folder's pseudonym, the one deid gives (IssuerOfPatientID too) */
    CHECK(ms_test_sh(NULL,
                     PY " -c \"import pydicom,sys;d=pydicom.dcmread(sys.argv[1]);"
                        "sys.exit(0 if d.PatientID==sys.argv[2] and str(d.PatientName)==sys.argv[2] "
                        "else 1)\" %s/sr/%s/report.sr.dcm %s",
                     t, pa, pa) == 0);
    return 0;
}

TEST(test_batch_dicomdir)
{
    const char *t = ms_test_tmpdir();
    CHECK(keyfile(t) == 0);
    char a[512];
    snprintf(a, sizeof a, "%s/a", t);
    CHECK(synth(a, 21, 2) == 0);
    /* a DICOMDIR beside the study folders whose records reference the CT files of study 2 only
     * (written with pydicom: file meta, DirectoryRecordSequence, ReferencedFileID components) */
    CHECK(ms_test_sh(NULL,
                     "cd %s/a && " PY " -c \"\n"
                     "import glob\n"
                     "from pydicom.dataset import Dataset, FileMetaDataset\n"
                     "from pydicom.uid import ExplicitVRLittleEndian, generate_uid\n"
                     "m = FileMetaDataset()\n"
                     "m.MediaStorageSOPClassUID = '1.2.840.10008.1.3.10'\n"
                     "m.MediaStorageSOPInstanceUID = generate_uid()\n"
                     "m.TransferSyntaxUID = ExplicitVRLittleEndian\n"
                     "d = Dataset()\n"
                     "d.file_meta = m\n"
                     "d.FileSetID = 'TEST'\n"
                     "recs = []\n"
                     "for f in sorted(glob.glob('study_2/CT/*.dcm')):\n"
                     "    r = Dataset()\n"
                     "    r.DirectoryRecordType = 'IMAGE'\n"
                     "    r.ReferencedFileID = f.split('/')\n"
                     "    recs.append(r)\n"
                     "d.DirectoryRecordSequence = recs\n"
                     "d.save_as('DICOMDIR', write_like_original=False)\n\" 2>/dev/null",
                     t) == 0);
    char *o = NULL;
    CHECK(ms_test_sh(&o, "%s batch --key %s/site.key --format json --json %s/a/DICOMDIR %s/out",
                     ms_test_medseal(), t, t, t) == 0);
    CHECK(o != NULL && strstr(o, "\"patients_done\": 1") != NULL);
    CHECK(strstr(o, "\"files\": 2") != NULL);
    free(o);
    return 0;
}

/* Patients done in the journal and the inode of each one's report.json. */
struct done {
    char p[32];
    ino_t ino;
};

static int journal_done(const char *out, struct done *d, size_t max, size_t *n)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/batch.db", out);
    sqlite3 *db = NULL;
    *n = 0;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT patient FROM batch_patients WHERE state = 2", -1, &st,
                           NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW && *n < max) {
            snprintf(d[*n].p, sizeof d[*n].p, "%s", (const char *)sqlite3_column_text(st, 0));
            snprintf(path, sizeof path, "%s/%s/report.json", out, d[*n].p);
            d[*n].ino = stat(path, &sb) == 0 ? sb.st_ino : 0;
            (*n)++;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return 0;
}

static int journal_has_meta(const char *out)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/batch.db", out);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return 0;
    sqlite3 *db = NULL;
    int has = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, "SELECT 1 FROM batch_meta WHERE k = 'in'", -1, &st, NULL) ==
            SQLITE_OK)
            has = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return has;
}

TEST(test_batch_resume_after_sigkill)
{
    const char *t = ms_test_tmpdir();
    CHECK(keyfile(t) == 0);
    enum { NP = 16 };
    for (int i = 0; i < NP; i++) {
        char d[512];
        snprintf(d, sizeof d, "%s/in/p%02d", t, i);
        CHECK(synth(d, 100 + i, 3) == 0);
    }
    /* the reference: one uninterrupted run, timed so the kills land inside a run however fast
     * the machine is (a fixed 0-250 ms window missed a 0.2 s run on an idle 2-core machine) */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(ms_test_sh(NULL, "%s batch --key %s/site.key --format json,text --quiet %s/in %s/ref",
                     ms_test_medseal(), t, t, t) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ref_ms = (long)(t1.tv_sec - t0.tv_sec) * 1000L + (t1.tv_nsec - t0.tv_nsec) / 1000000L;
    long span_ms = ref_ms * 3 / 4 > 4 ? ref_ms * 3 / 4 : 4;
    fprintf(stderr, "  reference run %ld ms, kills within %ld ms of a start\n", ref_ms, span_ms);
    char out[512];
    snprintf(out, sizeof out, "%s/out", t);
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    fprintf(stderr, "  kill seed %u\n", seed);
    srand(seed);
    struct done prev[NP * 2], cur[NP * 2];
    size_t nprev = 0, ncur = 0;
    int finished = 0, kills = 0;
    for (int round = 0; round < 40 && !finished; round++) {
        int resume = journal_has_meta(out);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            char kp[512];
            snprintf(kp, sizeof kp, "%s/site.key", t);
            char in[512];
            snprintf(in, sizeof in, "%s/in", t);
            if (freopen("/dev/null", "w", stderr) == NULL || freopen("/dev/null", "w", stdout) == NULL)
                _exit(99);
            if (resume)
                execl(ms_test_medseal(), "medseal", "batch", "--resume", out, "--jobs", "2",
                      (char *)NULL);
            else
                execl(ms_test_medseal(), "medseal", "batch", "--key", kp, "--format",
                      "json,text", "--jobs", "2", in, out, (char *)NULL);
            _exit(98);
        }
        /* kill within the first 3/4 of a reference run's time (the first round within its first
         * half, so at least one kill lands), then let it finish */
        int status = 0;
        if (round < 25) {
            long ms = rand() % (round == 0 ? span_ms / 2 + 1 : span_ms);
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            if (waitpid(pid, &status, WNOHANG) == 0) {
                kill(pid, SIGKILL);
                kills++;
            }
        }
        CHECK(waitpid(pid, &status, 0) == pid || 1);
        if (WIFEXITED(status)) {
            CHECK_EQ_INT(WEXITSTATUS(status), 0);
            finished = 1;
        }
        /* a patient done stays done, and its outputs are never rewritten */
        CHECK(journal_done(out, cur, NP * 2, &ncur) == 0);
        for (size_t i = 0; i < nprev; i++) {
            int found = 0;
            for (size_t k = 0; k < ncur; k++)
                if (strcmp(prev[i].p, cur[k].p) == 0) {
                    found = 1;
                    CHECK(prev[i].ino == 0 || cur[k].ino == prev[i].ino);
                }
            CHECK(found);
        }
        memcpy(prev, cur, sizeof cur);
        nprev = ncur;
        /* nothing partial under a final name: every report.json present parses */
        CHECK(ms_test_sh(NULL,
                         "test ! -d %s || find %s -name report.json -print0 | xargs -0 -r " PY
                         " -c 'import json,sys;[json.load(open(f)) for f in sys.argv[1:]]'",
                         out, out) == 0);
    }
    fprintf(stderr, "  %d kills\n", kills);
    CHECK(finished);
    CHECK(kills >= 1);
    CHECK_EQ_INT(ncur, NP);
    /* same outputs as the uninterrupted run, no temporaries left */
    CHECK(ms_test_sh(NULL, "cd %s/ref && for f in */report.json */report.txt index.jsonl cohort.csv "
                           "summary.html; do cmp $f %s/$f || exit 1; done",
                     t, out) == 0);
    CHECK(ms_test_sh(NULL, "test -z \"$(find %s -name '*.tmp')\"", out) == 0);
    return 0;
}

TEST(test_batch_sealed_outputs)
{
    const char *t = ms_test_tmpdir();
    CHECK(keyfile(t) == 0);
    char a[512];
    snprintf(a, sizeof a, "%s/in/a", t);
    CHECK(synth(a, 31, 2) == 0);
    snprintf(a, sizeof a, "%s/in/b", t);
    CHECK(synth(a, 32, 1) == 0);
    const char *m = ms_test_medseal();
    CHECK(ms_test_sh(NULL, "%s keygen --recipient %s/r.pub > %s/r.sec && %s keygen --recipient "
                           "%s/x.pub > %s/x.sec",
                     m, t, t, m, t, t) == 0);
    CHECK(ms_test_sh(NULL, "%s batch --key %s/site.key --format json,html --quiet %s/in %s/plain",
                     m, t, t, t) == 0);
    CHECK(ms_test_sh(NULL,
                     "%s batch --key %s/site.key --format json,html --quiet --recipient %s/r.pub "
                     "%s/in %s/sealed",
                     m, t, t, t, t) == 0);
    /* only sealed files under OUT (besides the journal), none readable as plain text */
    CHECK(ms_test_sh(NULL, "test -z \"$(find %s/sealed -type f ! -name '*.sealed' ! -name "
                           "'batch.db*')\"",
                     t) == 0);
    CHECK(ms_test_sh(NULL, "! grep -rlaq 'lung-rads\\|Lung-RADS\\|patient' %s/sealed --include "
                           "'*.sealed'",
                     t) == 0);
    /* the host keeps no result of a sealed run: no index, worklist or table under OUT, and
     * the journal holds only what resume needs (no category, follow-up, due date, count of
     * nodules or index line; none of the plain run's due dates or keys anywhere in its files) */
    CHECK(ms_test_sh(NULL, "test ! -e %s/sealed/index.jsonl.sealed && test ! -e "
                           "%s/sealed/summary.html.sealed && test ! -e %s/sealed/cohort.csv.sealed",
                     t, t, t) == 0);
    {
        char jp[1024];
        snprintf(jp, sizeof jp, "%s/sealed/batch.db", t);
        sqlite3 *db = NULL;
        CHECK(sqlite3_open_v2(jp, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
        sqlite3_stmt *st = NULL;
        CHECK(sqlite3_prepare_v2(db, "SELECT count(*), sum(nodules IS NOT NULL OR lung_rads IS NOT "
                                     "NULL OR follow_up IS NOT NULL OR due IS NOT NULL OR line IS "
                                     "NOT NULL) FROM batch_patients WHERE state = 2",
                                 -1, &st, NULL) == SQLITE_OK);
        CHECK(sqlite3_step(st) == SQLITE_ROW);
        CHECK_EQ_INT(sqlite3_column_int(st, 0), 2);
        CHECK_EQ_INT(sqlite3_column_int(st, 1), 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    CHECK(ms_test_sh(NULL,
                     PY " -c \"import json,sys\n"
                        "for l in open(sys.argv[1]):\n"
                        "  d=json.loads(l)\n"
                        "  for k in ('due_date','follow_up'):\n"
                        "    if d[k]: print(d[k])\" %s/plain/index.jsonl > %s/protected.txt && "
                        "test -s %s/protected.txt && ! grep -rlaF -f %s/protected.txt %s/sealed",
                     t, t, t, t, t) == 0);
    /* the right key opens the whole folder into the plain run's outputs; the run-wide files
     * are built by open from the opened patient.json files */
    CHECK(ms_test_sh(NULL, "%s open --key %s/r.sec %s/sealed --out %s/opened 2>/dev/null", m, t,
                     t, t) == 0);
    CHECK(ms_test_sh(NULL, "cd %s/plain && for f in */report.json */report.html index.jsonl "
                           "cohort.csv summary.html; do cmp $f %s/opened/$f || exit 1; done",
                     t, t) == 0);
    /* the wrong key, a truncated file, a flipped byte: refused, nothing written */
    CHECK(ms_test_sh(NULL, "cp $(ls %s/sealed/MS-*/report.json.sealed | head -1) %s/one.sealed",
                     t, t) == 0);
    int rc = ms_test_sh(NULL, "%s open --key %s/x.sec %s/one.sealed 2>/dev/null", m, t, t);
    CHECK(rc != 0);
    CHECK(ms_test_sh(NULL, "%s open --key %s/r.sec %s/one.sealed | %s -c 'import json,sys; "
                           "json.load(sys.stdin)'",
                     m, t, t, PY) == 0);
    CHECK(ms_test_sh(NULL, "%s open --key %s/x.sec %s/sealed --out %s/wrong 2>/dev/null; test "
                           "$? -ne 0 && test -z \"$(find %s/wrong -type f 2>/dev/null)\"",
                     m, t, t, t, t) == 0);
    CHECK(ms_test_sh(NULL, "head -c -1 %s/one.sealed > %s/cut.sealed", t, t) == 0);
    CHECK(ms_test_sh(NULL, "%s open --key %s/r.sec %s/cut.sealed --out %s/cut 2>/dev/null", m, t,
                     t, t) != 0);
    CHECK(ms_test_sh(NULL, "test ! -e %s/cut", t) == 0);
    CHECK(ms_test_sh(NULL,
                     PY " -c \"import sys;b=bytearray(open(sys.argv[1],'rb').read());b[150]^=1;"
                        "open(sys.argv[2],'wb').write(b)\" %s/one.sealed "
                        "%s/flip.sealed",
                     t, t) == 0);
    CHECK(ms_test_sh(NULL, "%s open --key %s/r.sec %s/flip.sealed 2>/dev/null >/dev/null", m, t,
                     t) != 0);
    return 0;
}

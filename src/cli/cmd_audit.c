/*
 * medseal audit: verify, prove, check proofs of, export and append to the tamper-evident audit
 * log (src/audit). Usage in README.md and `medseal audit --help`.
 * Trusts: nothing on the command line (numbers parsed strictly, files read through src/core).
 * Owns: the keys it loads (wiped before exit). Output: verification summaries and proofs on
 * stdout, decrypted JSON lines for `export` (metadata only, never PHI); errors one line on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "medseal/audit.h"
#include "medseal/gateway.h"

#define CMD "audit"

static const char usage_text[] =
    "usage: medseal audit <subcommand> [options]\n"
    "  verify --state DIR [--pubkey P] [--initial-key K] [--min-size N]\n"
    "  verify DIR --pubkey P [--initial-key K] [--min-size N]   (an auditor's copy)\n"
    "  verify --state-db URL --log DIR [--log DIR ...]   every replica's log against the\n"
    "         tree heads the replicas published to PostgreSQL, one line per replica\n"
    "  prove SEQ (--state DIR | DIR) [--size N]                   inclusion proof (JSON)\n"
    "  consistency OLD NEW (--state DIR | DIR)                    consistency proof (JSON)\n"
    "  check-proof FILE|- [--pubkey P]                            verify either proof\n"
    "  export --state DIR [--master-key SPEC] [--from SEQ] [--limit N]   JSON lines\n"
    "  append --state DIR --action A [--outcome O] [--status N] [--role R] [--key-id K]\n"
    "         [--request-id R] [--route R] [--model M] [--patient MS-...] [--master-key SPEC]\n"
    "         [--count N] [--epoch-records N] [--sth-records N]\n"
    "P and K are key files of 64 hex characters (STATE/audit/sign.pub, initial.key).\n"
    "--log DIR: a replica's state folder or audit folder (or a copy); a log is matched to its\n"
    "published heads by its public key (sign.pub); its MACs are checked when initial.key is in it.\n";

#define MAX_LOGS 256

struct args {
    const char *state, *dir, *pubkey, *initial, *master, *state_db, *pos[3];
    const char *logs[MAX_LOGS];
    int nlogs;
    const char *action, *outcome, *role, *key_id, *request_id, *route, *model, *patient;
    uint64_t min_size, size, from, limit, epoch_records, sth_records, count;
    int status, npos;
};

static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static const char **opt_slot(struct args *a, const char *name)
{
    static const char *const names[] = {
        "--state", "--pubkey", "--initial-key", "--master-key", "--action",  "--outcome",
        "--role",  "--key-id", "--request-id",  "--route",      "--model",   "--patient",
        "--state-db"};
    const char **slots[] = {&a->state,      &a->pubkey,  &a->initial, &a->master,
                            &a->action,     &a->outcome, &a->role,    &a->key_id,
                            &a->request_id, &a->route,   &a->model,   &a->patient,
                            &a->state_db};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i]) == 0)
            return slots[i];
    }
    return NULL;
}

static uint64_t *num_slot(struct args *a, const char *name)
{
    if (strcmp(name, "--min-size") == 0)
        return &a->min_size;
    if (strcmp(name, "--size") == 0)
        return &a->size;
    if (strcmp(name, "--from") == 0)
        return &a->from;
    if (strcmp(name, "--limit") == 0)
        return &a->limit;
    if (strcmp(name, "--epoch-records") == 0)
        return &a->epoch_records;
    if (strcmp(name, "--sth-records") == 0)
        return &a->sth_records;
    if (strcmp(name, "--count") == 0)
        return &a->count;
    return NULL;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char **s = opt_slot(a, o);
        uint64_t *n = num_slot(a, o), st;
        int is_log = strcmp(o, "--log") == 0;
        if ((s != NULL || n != NULL || is_log || strcmp(o, "--status") == 0) && i + 1 >= argc) {
            cli_error(CMD, "%s needs a value", o);
            return -1;
        }
        if (is_log) {
            if (a->nlogs == MAX_LOGS) {
                cli_error(CMD, "more than %d --log folders", MAX_LOGS);
                return -1;
            }
            a->logs[a->nlogs++] = argv[++i];
        } else if (s != NULL) {
            *s = argv[++i];
        } else if (n != NULL) {
            if (parse_u64(argv[++i], n) != 0) {
                cli_error(CMD, "%s wants a non-negative integer", o);
                return -1;
            }
        } else if (strcmp(o, "--status") == 0) {
            if (parse_u64(argv[++i], &st) != 0 || st > 999) {
                cli_error(CMD, "--status wants 0..999");
                return -1;
            }
            a->status = (int)st;
        } else if (o[0] == '-' && o[1] != '\0') {
            cli_error(CMD, "unknown option %s (see medseal audit --help)", o);
            return -1;
        } else if (a->npos < 3) {
            a->pos[a->npos++] = o;
        } else {
            cli_error(CMD, "too many arguments");
            return -1;
        }
    }
    return 0;
}

/* The audit directory named by --state or the first positional argument. */
static const char *where(const struct args *a, int pos_index)
{
    if (a->state != NULL)
        return a->state;
    return a->npos > pos_index ? a->pos[pos_index] : NULL;
}

static char *join(const char *d, const char *name)
{
    static char buf[4096];
    struct stat st;
    snprintf(buf, sizeof buf, "%s/audit", d);
    if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(buf, sizeof buf, "%s/audit/%s", d, name);
    else
        snprintf(buf, sizeof buf, "%s/%s", d, name);
    return buf;
}

static int load_key(const char *path, uint8_t k[32], const char *what)
{
    ms_err err = {0};
    if (ms_keyfile_read(path, k, &err) != MS_OK) {
        cli_report(CMD, what, &err);
        return -1;
    }
    return 0;
}

/* ---- verify --state-db: every replica's log against its published heads ---------------------- */

struct heads {
    gw_tree_head *v;
    size_t n, cap;
    int nomem;
};

static int collect_head(void *ud, const gw_tree_head *h)
{
    struct heads *hs = ud;
    if (hs->n == hs->cap) {
        size_t cap = hs->cap ? hs->cap * 2 : 64;
        void *nv = realloc(hs->v, cap * sizeof *hs->v);
        if (nv == NULL) {
            hs->nomem = 1;
            return 1;
        }
        hs->v = nv;
        hs->cap = cap;
    }
    hs->v[hs->n++] = *h;
    return 0;
}

struct dblog {
    const char *dir;
    uint8_t pub[32];
    int ok, used;
};

/* Checks one log against its published heads [v, v+n) (all of one public key); prints its line.
 * 0: intact. */
static int check_replica(struct dblog *lg, const gw_tree_head *v, size_t n)
{
    const char *replica = n ? v[n - 1].replica : "?";
    char shortkey[9];
    snprintf(shortkey, sizeof shortkey, "%.8s", n ? v[0].pubkey_hex : "");
    if (lg == NULL) {
        printf("replica %s log %s: no --log holds this log: %zu published heads (last covers "
               "%llu records) not checked\n",
               replica, shortkey, n, (unsigned long long)v[n - 1].size);
        return 1;
    }
    lg->used = 1;
    audit_head *hv = calloc(n ? n : 1, sizeof *hv);
    if (hv == NULL) {
        cli_error(CMD, "verify: out of memory");
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        hv[i].size = v[i].size;
        hv[i].time_ns = v[i].time_ns;
        memcpy(hv[i].root, v[i].root, 32);
        memcpy(hv[i].sig, v[i].sig, 64);
        memcpy(hv[i].pub, lg->pub, 32);
    }
    audit_verify_report rep;
    ms_err err = {0};
    ms_rc rc = audit_verify_heads(lg->dir, lg->pub, hv, n, &rep, &err);
    free(hv);
    const char *what = rc == MS_OK                        ? NULL
                       : rep.problem == AUDIT_BAD_TRUNCATED ? "records missing after the published head"
                       : rep.problem == AUDIT_BAD_TREE_HEAD ? "head mismatch"
                                                            : "unreadable";
    if (rc == MS_OK) {
        uint8_t k0[32];
        struct stat st;
        int have_k0 = stat(join(lg->dir, "initial.key"), &st) == 0 &&
                      load_key(join(lg->dir, "initial.key"), k0, "initial key") == 0;
        rc = audit_verify(lg->dir, lg->pub, have_k0 ? k0 : NULL, n ? v[n - 1].size + 1 : 0, &rep,
                          &err);
        ms_memzero(k0, sizeof k0);
        if (rc == MS_OK) {
            printf("replica %s log %s (%s): intact: %llu records, %zu published heads (last "
                   "covers %llu records), %llu signed heads in the log, %s\n",
                   replica, shortkey, lg->dir, (unsigned long long)rep.records, n,
                   n ? (unsigned long long)v[n - 1].size : 0ULL,
                   (unsigned long long)rep.tree_heads,
                   have_k0 ? "MACs checked" : "no initial key: MACs not checked");
            return 0;
        }
        what = "damaged";
    }
    /* err.msg names seqs and counts only */
    printf("replica %s log %s (%s): %s: %s\n", replica, shortkey, lg->dir, what, err.msg);
    return 1;
}

static int do_verify_db(const struct args *a)
{
    if (a->nlogs == 0 || a->state != NULL || a->npos > 0 || a->pubkey != NULL) {
        cli_error(CMD, "verify --state-db URL needs --log DIR (one per replica), and no --state, "
                       "DIR or --pubkey");
        return 2;
    }
    struct dblog *logs = calloc((size_t)a->nlogs, sizeof *logs);
    if (logs == NULL) {
        cli_error(CMD, "verify: out of memory");
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < a->nlogs && !bad; i++) {
        logs[i].dir = a->logs[i];
        if (load_key(join(a->logs[i], "sign.pub"), logs[i].pub, "--log public key") != 0)
            bad = 1;
    }
    gw_keystore *ks = NULL;
    struct heads hs = {0};
    ms_err err = {0};
    if (!bad && gw_keystore_open_db(NULL, a->state_db, &ks, &err) != MS_OK) {
        cli_report(CMD, "--state-db", &err);
        bad = 1;
    }
    if (!bad && gw_keystore_heads(ks, collect_head, &hs, &err) != MS_OK) {
        cli_report(CMD, "--state-db", &err);
        bad = 1;
    }
    gw_keystore_close(ks);
    if (!bad && hs.nomem) {
        cli_error(CMD, "verify: out of memory");
        bad = 1;
    }
    if (bad) {
        free(hs.v);
        free(logs);
        return 1;
    }
    /* heads come ordered by public key, then size: one group per log */
    int n_logs = 0, n_bad = 0;
    for (size_t i = 0; i < hs.n;) {
        size_t j = i;
        while (j < hs.n && strcmp(hs.v[j].pubkey_hex, hs.v[i].pubkey_hex) == 0)
            j++;
        uint8_t pub[32];
        struct dblog *lg = NULL;
        if (ms_hex_decode(hs.v[i].pubkey_hex, strlen(hs.v[i].pubkey_hex), pub, 32, NULL) ==
            MS_OK) {
            for (int k = 0; k < a->nlogs && lg == NULL; k++)
                lg = ms_ct_equal(logs[k].pub, pub, 32) ? &logs[k] : NULL;
        }
        n_logs++;
        n_bad += check_replica(lg, &hs.v[i], j - i);
        i = j;
    }
    for (int k = 0; k < a->nlogs; k++) {
        if (logs[k].used)
            continue;
        audit_verify_report rep;
        ms_rc rc = audit_verify(logs[k].dir, logs[k].pub, NULL, 0, &rep, &err);
        n_logs++;
        if (rc == MS_OK) {
            printf("log %s: intact: %llu records, no published head (not witnessed: a replica "
                   "publishes its first head after sth_seconds or at stop)\n",
                   logs[k].dir, (unsigned long long)rep.records);
        } else {
            printf("log %s: damaged: %s (no published head)\n", logs[k].dir, err.msg);
            n_bad++;
        }
        ms_err_clear(&err);
    }
    free(hs.v);
    free(logs);
    printf("audit verify --state-db: %d logs, %d intact, %d not\n", n_logs, n_logs - n_bad,
           n_bad);
    return n_bad ? 1 : 0;
}

static int do_verify(const struct args *a)
{
    if (a->state_db != NULL)
        return do_verify_db(a);
    if (a->nlogs > 0) {
        cli_error(CMD, "--log goes with --state-db URL");
        return 2;
    }
    const char *dir = where(a, 0);
    if (dir == NULL || (a->state == NULL && a->pubkey == NULL)) {
        cli_error(CMD, "verify needs --state DIR, or DIR --pubkey P");
        return 2;
    }
    uint8_t pub[32], k0[32];
    int have_k0 = 0;
    if (load_key(a->pubkey ? a->pubkey : join(dir, "sign.pub"), pub, "public key") != 0)
        return 1;
    const char *ik = a->initial;
    struct stat st;
    if (ik == NULL && a->state != NULL && stat(join(dir, "initial.key"), &st) == 0)
        ik = join(dir, "initial.key");
    if (ik != NULL) {
        if (load_key(ik, k0, "initial key") != 0)
            return 1;
        have_k0 = 1;
    }
    audit_verify_report rep;
    ms_err err = {0};
    uint8_t mk[MS_KEY_LEN];
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s/master.key", a->state ? a->state : "");
    int have_mk = a->state != NULL && (a->master != NULL || stat(mpath, &st) == 0) &&
                  audit_master_key(a->state, a->master, mk, NULL) == MS_OK;
    ms_rc rc = have_mk ? audit_verify_state(a->state, mk, pub, have_k0 ? k0 : NULL, a->min_size,
                                            &rep, &err)
                       : audit_verify(dir, pub, have_k0 ? k0 : NULL, a->min_size, &rep, &err);
    ms_memzero(k0, sizeof k0);
    ms_memzero(mk, sizeof mk);
    if (rc != MS_OK) {
        cli_report(CMD, "verify", &err);
        return 1;
    }
    printf("audit log intact: %llu records, %u epochs, %llu MACs checked%s, %llu signed tree "
           "heads (last covers %llu), %llu torn-tail truncations%s\n",
           (unsigned long long)rep.records, rep.epochs, (unsigned long long)rep.macs_checked,
           have_k0 ? "" : " (no initial key: MACs not checked)", (unsigned long long)rep.tree_heads,
           (unsigned long long)rep.last_sth_size, (unsigned long long)rep.truncations,
           have_mk ? ", key state consistent" : "");
    return 0;
}

static int print_buf(ms_rc rc, ms_buf *b, const ms_err *err, const char *what)
{
    if (rc != MS_OK) {
        cli_report(CMD, what, err);
        ms_buf_free(b);
        return 1;
    }
    fwrite(b->p, 1, b->len, stdout);
    fputc('\n', stdout);
    ms_buf_free(b);
    return 0;
}

static int do_prove(const struct args *a)
{
    uint64_t seq;
    const char *dir = where(a, 1);
    if (a->npos < 1 || parse_u64(a->pos[0], &seq) != 0 || dir == NULL) {
        cli_error(CMD, "prove SEQ (--state DIR | DIR) [--size N]");
        return 2;
    }
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    ms_err err = {0};
    return print_buf(audit_prove(dir, seq, a->size, &b, &err), &b, &err, "prove");
}

static int do_consistency(const struct args *a)
{
    uint64_t s1, s2;
    const char *dir = where(a, 2);
    if (a->npos < 2 || parse_u64(a->pos[0], &s1) != 0 || parse_u64(a->pos[1], &s2) != 0 ||
        dir == NULL) {
        cli_error(CMD, "consistency OLD NEW (--state DIR | DIR)");
        return 2;
    }
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    ms_err err = {0};
    return print_buf(audit_prove_consistency(dir, s1, s2, &b, &err), &b, &err, "consistency");
}

static int do_check_proof(const struct args *a)
{
    if (a->npos < 1) {
        cli_error(CMD, "check-proof FILE|- [--pubkey P]");
        return 2;
    }
    uint8_t pub[32];
    if (a->pubkey != NULL && load_key(a->pubkey, pub, "public key") != 0)
        return 1;
    ms_buf in;
    ms_err err = {0};
    ms_rc rc = ms_file_read(strcmp(a->pos[0], "-") == 0 ? "/dev/stdin" : a->pos[0], NULL, 1 << 20,
                            &in, &err);
    if (rc == MS_E_IO && strcmp(a->pos[0], "-") == 0) { /* a pipe: not a regular file */
        ms_err_clear(&err);
        ms_buf_init(&in, NULL, 1 << 20);
        int c;
        while (rc != MS_E_LIMIT && (c = getchar()) != EOF)
            rc = ms_buf_append_byte(&in, (uint8_t)c, &err);
        rc = rc == MS_E_LIMIT ? rc : MS_OK;
    }
    if (rc != MS_OK) {
        cli_report(CMD, "check-proof", &err);
        return 1;
    }
    rc = audit_proof_check((const char *)in.p, in.len, a->pubkey ? pub : NULL, &err);
    ms_buf_free(&in);
    if (rc != MS_OK) {
        cli_report(CMD, "check-proof", &err);
        return 1;
    }
    printf("proof valid%s\n", a->pubkey ? " (tree head signature checked)" : " (unsigned check)");
    return 0;
}

static int print_line(void *ud, const char *line, size_t len)
{
    (void)ud;
    fwrite(line, 1, len, stdout);
    fputc('\n', stdout);
    return ferror(stdout) ? 1 : 0;
}

static int do_export(const struct args *a)
{
    if (a->state == NULL) {
        cli_error(CMD, "export needs --state DIR");
        return 2;
    }
    uint8_t mk[MS_KEY_LEN];
    ms_err err = {0};
    ms_rc rc = audit_master_key(a->state, a->master, mk, &err);
    if (rc == MS_OK)
        rc = audit_export(a->state, mk, a->from, a->limit, print_line, NULL, &err);
    ms_memzero(mk, sizeof mk);
    if (rc != MS_OK) {
        cli_report(CMD, "export", &err);
        return 1;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

static int do_append(const struct args *a)
{
    if (a->state == NULL || a->action == NULL) {
        cli_error(CMD, "append needs --state DIR and --action A");
        return 2;
    }
    audit_record r = {0};
    r.action = a->action;
    r.outcome = a->outcome;
    r.role = a->role ? a->role : "cli";
    r.key_id = a->key_id;
    r.request_id = a->request_id;
    r.route = a->route;
    r.model = a->model;
    r.patient = a->patient;
    r.status = a->status;
    uint8_t mk[MS_KEY_LEN];
    audit_log *l = NULL;
    uint64_t seq = 0;
    ms_err err = {0};
    audit_opts o = {0};
    if (a->epoch_records > UINT32_MAX || a->sth_records > UINT32_MAX) {
        cli_error(CMD, "--epoch-records / --sth-records too large");
        return 2;
    }
    o.epoch_records = (uint32_t)a->epoch_records;
    o.sth_records = (uint32_t)a->sth_records;
    ms_rc rc = audit_master_key(a->state, a->master, mk, &err);
    if (rc == MS_OK)
        rc = audit_log_open(a->state, mk, &o, &l, &err);
    ms_memzero(mk, sizeof mk);
    for (uint64_t i = 0; rc == MS_OK && i < (a->count ? a->count : 1); i++)
        rc = audit_log_append(l, &r, &seq, &err);
    ms_rc rc2 = audit_log_close(l, rc == MS_OK ? &err : NULL);
    if (rc == MS_OK)
        rc = rc2;
    if (rc != MS_OK) {
        cli_report(CMD, "append", &err);
        return 1;
    }
    printf("%llu\n", (unsigned long long)seq);
    return 0;
}

int cmd_audit(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    struct args a;
    if (parse_args(argc, argv, &a) != 0)
        return 2;
    const char *sub = argv[1];
    if (strcmp(sub, "verify") == 0)
        return do_verify(&a);
    if (strcmp(sub, "prove") == 0)
        return do_prove(&a);
    if (strcmp(sub, "consistency") == 0)
        return do_consistency(&a);
    if (strcmp(sub, "check-proof") == 0)
        return do_check_proof(&a);
    if (strcmp(sub, "export") == 0)
        return do_export(&a);
    if (strcmp(sub, "append") == 0)
        return do_append(&a);
    cli_error(CMD, "unknown subcommand (see medseal audit --help)");
    return 2;
}

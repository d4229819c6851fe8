/*
 * medseal_tests: runs every registered test (or those whose name contains argv[1]) each in a
 * forked child with a timeout, so a crash or hang fails one test, not the run. The last line is
 * "N passed, N failed, N skipped"; the exit status is non-zero if any test failed.
 * Environment: MEDSEAL_TEST_TIMEOUT (seconds, default 600), MEDSEAL_SHARED (path to ../shared).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#ifndef MS_SOURCE_DIR
#define MS_SOURCE_DIR "."
#endif
#ifndef MS_BINARY_DIR
#define MS_BINARY_DIR "build"
#endif

struct test_entry {
    const char *name;
    ms_test_fn fn;
    const char *file;
};

static struct test_entry tests[2048];
static size_t ntests;
static char tmpdir[PATH_MAX];

void ms_test_register(const char *name, ms_test_fn fn, const char *file)
{
    if (ntests < sizeof tests / sizeof tests[0])
        tests[ntests++] = (struct test_entry){name, fn, file};
}

const char *ms_test_root(void)
{
    return MS_SOURCE_DIR;
}

const char *ms_test_build(void)
{
    return MS_BINARY_DIR;
}

const char *ms_test_medseal(void)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/medseal", MS_BINARY_DIR);
    return path;
}

const char *ms_test_shared(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("MEDSEAL_SHARED");
    struct stat st;
    if (env != NULL && *env != '\0')
        snprintf(path, sizeof path, "%s", env);
    else
        snprintf(path, sizeof path, "%s/../shared", MS_SOURCE_DIR);
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    return path;
}

const char *ms_test_tmpdir(void)
{
    return tmpdir;
}

int ms_test_sh(char **out, const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    FILE *f = popen(cmd, "r");
    free(cmd);
    if (f == NULL)
        return -1;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out != NULL) {
            if (len + got + 1 > cap) {
                cap = (len + got + 1) * 2;
                char *nb = realloc(buf, cap);
                if (nb == NULL)
                    break;
                buf = nb;
            }
            memcpy(buf + len, chunk, got);
            len += got;
            buf[len] = '\0';
        }
    }
    int st = pclose(f);
    if (out != NULL) {
        if (buf == NULL)
            buf = calloc(1, 1);
        *out = buf;
    }
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int run_one(const struct test_entry *t, unsigned timeout)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/medseal-test-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        fprintf(stderr, "  mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        alarm(timeout);
        setpgid(0, 0);
        int rc = t->fn();
        fflush(stdout);
        exit(rc == MS_TEST_SKIPPED ? MS_TEST_SKIPPED : (rc != 0)); /* exit, not _exit: LSan runs */
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    kill(-pid, SIGKILL); /* children the test left behind */
    int rc;
    if (WIFSIGNALED(st)) {
        fprintf(stderr, "  %s: killed by signal %d%s\n", t->name, WTERMSIG(st),
                WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
        rc = 1;
    } else {
        rc = WEXITSTATUS(st);
    }
    if (rc == 0 || rc == MS_TEST_SKIPPED) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "  could not remove %s\n", tmpdir);
    } else {
        fprintf(stderr, "  (test folder kept: %s)\n", tmpdir);
    }
    return rc;
}

int main(int argc, char **argv)
{
    const char *filter = NULL;
    int list = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0)
            list = 1;
        else
            filter = argv[i];
    }
    const char *tenv = getenv("MEDSEAL_TEST_TIMEOUT");
    unsigned timeout = tenv ? (unsigned)strtoul(tenv, NULL, 10) : 600;
    if (timeout == 0)
        timeout = 600;
    signal(SIGPIPE, SIG_IGN);
    int pass = 0, fail = 0, skip = 0;
    for (size_t i = 0; i < ntests; i++) {
        const struct test_entry *t = &tests[i];
        if (filter != NULL && strstr(t->name, filter) == NULL)
            continue;
        if (list) {
            printf("%s\n", t->name);
            continue;
        }
        double t0 = now_ms();
        int rc = run_one(t, timeout);
        double dt = now_ms() - t0;
        if (rc == 0) {
            pass++;
            printf("ok   %s (%.0f ms)\n", t->name, dt);
        } else if (rc == MS_TEST_SKIPPED) {
            skip++;
            printf("skip %s\n", t->name);
        } else {
            fail++;
            printf("FAIL %s (%s)\n", t->name, t->file);
        }
        fflush(stdout);
    }
    if (!list)
        printf("%d passed, %d failed, %d skipped\n", pass, fail, skip);
    return fail != 0;
}

/*
 * The tiny test framework: TEST(name) registers a test at load time (no central list to edit), the
 * runner (tests/runner.c) forks each one with a timeout, and the run ends with one line
 * "N passed, N failed, N skipped". A test returns 0 for pass, non-zero for fail, or SKIP("why").
 */
#ifndef MEDSEAL_TEST_H
#define MEDSEAL_TEST_H

#include <stdio.h>
#include <string.h>

typedef int (*ms_test_fn)(void);
void ms_test_register(const char *name, ms_test_fn fn, const char *file);

#define MS_TEST_SKIPPED 77

#define TEST(name)                                                                                 \
    static int name(void);                                                                         \
    __attribute__((constructor)) static void ms_reg_##name(void)                                   \
    {                                                                                              \
        ms_test_register(#name, name, __FILE__);                                                   \
    }                                                                                              \
    static int name(void)

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "  %s:%d: CHECK(%s)\n", __FILE__, __LINE__, #c);                       \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long ms_a_ = (long long)(a), ms_b_ = (long long)(b);                                  \
        if (ms_a_ != ms_b_) {                                                                      \
            fprintf(stderr, "  %s:%d: %s == %lld, want %s == %lld\n", __FILE__, __LINE__, #a,      \
                    ms_a_, #b, ms_b_);                                                             \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *ms_a_ = (a), *ms_b_ = (b);                                                     \
        if (ms_a_ == NULL || ms_b_ == NULL || strcmp(ms_a_, ms_b_) != 0) {                         \
            fprintf(stderr, "  %s:%d: %s == \"%s\", want \"%s\"\n", __FILE__, __LINE__, #a,        \
                    ms_a_ ? ms_a_ : "(null)", ms_b_ ? ms_b_ : "(null)");                           \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* Skips the test with a reason (counted as skipped, never as passed). */
#define SKIP(why)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "  skip: %s\n", why);                                                      \
        return MS_TEST_SKIPPED;                                                                    \
    } while (0)

/* The repository root (source tree). */
const char *ms_test_root(void);
/* The build folder (holds the medseal binary). */
const char *ms_test_build(void);
/* Path of the built CLI, e.g. "<build>/medseal". */
const char *ms_test_medseal(void);
/* ../shared beside the repository (or $MEDSEAL_SHARED), or NULL when absent. */
const char *ms_test_shared(void);
/* A fresh empty folder for this test, removed after the test passes. */
const char *ms_test_tmpdir(void);
/* Runs a shell command; returns its exit status (or -1). Output is captured in *out if out != NULL
 * (owned, free with free()); stderr goes to the test log. */
int ms_test_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

/*
 * What a newcomer sees: README.md and docs/ agree with the binary (scripts/check-docs.py: every
 * relative link resolves, every --flag in docs/ is in some `medseal CMD --help` and every flag of
 * every --help is in docs/), the README's tour runs as pasted (scripts/readme-tour.sh), `medseal
 * help CMD` prints the command's help, and the man page (scripts/gen-man.py, built with medseal)
 * holds every command's --help.
 * Trusts: the repository and the built binary. Owns: files under the test's temp folder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static int has(const char *hay, const char *needle)
{
    return hay != NULL && strstr(hay, needle) != NULL;
}

TEST(test_cli_docs_links_and_flags_match_help)
{
    char *o = NULL;
    int rc = ms_test_sh(&o, "/usr/bin/python3 '%s/scripts/check-docs.py' --root '%s' --medseal '%s' 2>&1",
                        ms_test_root(), ms_test_root(), ms_test_medseal());
    if (rc != 0)
        fprintf(stderr, "%s", o ? o : "");
    CHECK_EQ_INT(rc, 0);
    free(o);
    return 0;
}

/* The checker fails on a broken link, an unknown flag and an undocumented one, and says where. */
TEST(test_cli_docs_checker_names_file_and_flag)
{
    const char *t = ms_test_tmpdir();
    char *o = NULL;
    CHECK(ms_test_sh(NULL,
                     "mkdir -p '%s/r/docs' && printf 'see [x](docs/missing.md)\\n' > '%s/r/README.md' && "
                     "printf '# p\\n\\nuse `medseal analyze --no-such-flag`\\n' > '%s/r/docs/p.md'",
                     t, t, t) == 0);
    int rc = ms_test_sh(&o, "/usr/bin/python3 '%s/scripts/check-docs.py' --root '%s/r' --medseal '%s' 2>&1",
                        ms_test_root(), t, ms_test_medseal());
    CHECK_EQ_INT(rc, 1);
    CHECK(has(o, "README.md:1: broken link (docs/missing.md)"));
    CHECK(has(o, "docs/p.md:3: flag --no-such-flag is in no `medseal CMD --help`"));
    /* nothing of the real --help is documented in this fake tree */
    CHECK(has(o, "flag --prior-report of `medseal analyze --help` is described nowhere in docs/"));
    free(o);
    return 0;
}

TEST(test_cli_docs_help_cmd_is_cmd_help)
{
    const char *m = ms_test_medseal();
    char *a = NULL, *b = NULL;
    const char *cmds[] = {"analyze", "deid", "serve", "audit", "verify"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        CHECK_EQ_INT(ms_test_sh(&a, "'%s' help %s 2>&1", m, cmds[i]), 0);
        ms_test_sh(&b, "'%s' %s --help 2>&1", m, cmds[i]);
        CHECK(a != NULL && b != NULL && strcmp(a, b) == 0);
        CHECK(has(a, cmds[i]));
        free(a);
        free(b);
        a = b = NULL;
    }
    CHECK_EQ_INT(ms_test_sh(NULL, "'%s' help no-such-command 2>/dev/null", m), 2);
    return 0;
}

TEST(test_cli_docs_man_page_from_help)
{
    char *o = NULL;
    CHECK_EQ_INT(ms_test_sh(&o, "cat '%s/medseal.1'", ms_test_build()), 0);
    CHECK(has(o, ".TH MEDSEAL 1"));
    const char *cmds[] = {"dump", "deid", "keygen", "scrub", "analyze",
                          "classify", "serve", "keys", "verify", "audit"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char ss[64];
        snprintf(ss, sizeof ss, ".SS %s\n", cmds[i]);
        CHECK(has(o, ss));
    }
    /* a flag from the middle of a --help text, so the whole text is there */
    CHECK(has(o, "--prior-report") && has(o, "--allow-unlocked-memory"));
    free(o);
    /* `make install PREFIX=` installs both */
    CHECK_EQ_INT(ms_test_sh(NULL, "cmake --install '%s' --prefix '%s/pfx' >/dev/null && "
                                  "test -x '%s/pfx/bin/medseal' && "
                                  "test -s '%s/pfx/share/man/man1/medseal.1'",
                            ms_test_build(), ms_test_tmpdir(), ms_test_tmpdir(), ms_test_tmpdir()),
                 0);
    return 0;
}

/* README.md's tour, pasted: every ```sh block in order, on a free port. */
TEST(test_cli_docs_readme_tour_runs)
{
    if (ms_test_sh(NULL, "test -f '%s/tests/node/node_modules/openai/package.json' || "
                         "(cd '%s/tests/node' && timeout 300 npm ci --no-audit --no-fund >&2)",
                   ms_test_root(), ms_test_root()) != 0)
        SKIP("npm could not install the openai package (tests/node): no registry access?");
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int rc = -1;
    char *o = NULL;
    for (int attempt = 0; attempt < 3 && rc != 0; attempt++) {
        unsigned port = 20000u + (unsigned)rand() % 40000u;
        free(o);
        o = NULL;
        rc = ms_test_sh(&o, "timeout 300 '%s/scripts/readme-tour.sh' '%s/tour%d' %u 2>&1",
                        ms_test_root(), ms_test_tmpdir(), attempt, port);
        if (rc != 0 && !has(o, "Address already in use") && !has(o, "cannot listen"))
            break;
    }
    if (rc != 0)
        fprintf(stderr, "%s", o ? o : "");
    CHECK_EQ_INT(rc, 0);
    CHECK(has(o, "MS-"));                           /* deid: a pseudonym */
    CHECK(has(o, "[NAME]"));                        /* scrub */
    CHECK(has(o, "Lung-RADS v2022"));               /* analyze and the API */
    CHECK(has(o, "\"object\":\"chat.completion\"")); /* curl */
    CHECK(has(o, "ACCEPTED (--allow-unattested)") && has(o, "PASS: TDX quote v4"));
    CHECK(has(o, "audit log intact"));
    free(o);
    return 0;
}

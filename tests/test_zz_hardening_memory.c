/*
 * Locked memory for PHI (issue 9): the locked region knows its blocks (ms_secmem_owns), the
 * gateway's JSON values (parsed request messages) come from a running server's locked region
 * and return to it wiped, the region's size is a ceiling for them, and `medseal serve` refuses
 * unknown hardening flags. The end-to-end checks (VmLck, 413 over mem_limit, refusal to start
 * without locking) are in test_zz_hardening_canary.c.
 * Trusts: nothing. Owns: its regions and JSON values.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "gateway/internal.h"
#include "medseal/secmem.h"
#include "test.h"

/* ASan intercepts mlock and mlockall as no-ops: under it no lock can be observed */
#if defined(__SANITIZE_ADDRESS__)
#define MS_T_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MS_T_ASAN 1
#endif
#endif
#ifndef MS_T_ASAN
#define MS_T_ASAN 0
#endif

TEST(test_zz_hardening_secmem_owns)
{
    ms_secmem *m = NULL;
    ms_alloc a;
    CHECK(ms_secmem_new(1 << 16, 0, &m, &a, NULL) == MS_OK);
    void *p = ms_malloc(&a, 100), *h = ms_malloc(NULL, 100);
    CHECK(p != NULL && h != NULL);
    CHECK(ms_secmem_owns(m, p));
    CHECK(!ms_secmem_owns(m, h));
    CHECK(!ms_secmem_owns(NULL, p));
    ms_free(&a, p);
    ms_free(NULL, h);
    ms_secmem_free(m);
    return 0;
}

TEST(test_zz_hardening_json_in_locked_region)
{
    ms_secmem *m = NULL;
    ms_alloc a;
    CHECK(ms_secmem_new(1 << 16, 0, &m, &a, NULL) == MS_OK);
    gw__json_init();
    gw__json_region(m, &a, 1);
    json_t *v =
        json_loads("{\"messages\":[{\"role\":\"user\",\"content\":\"canary text\"}]}", 0, NULL);
    CHECK(v != NULL);
    CHECK(ms_secmem_owns(m, v));
    CHECK(ms_secmem_owns(m, json_object_get(v, "messages")));
    CHECK(atomic_load(&a.in_use) > 0);
    char *txt = json_dumps(v, JSON_COMPACT);
    CHECK(txt != NULL && ms_secmem_owns(m, txt));
    gw__json_free(txt);
    json_decref(v);
    CHECK(atomic_load(&a.in_use) == 0);
    /* the region is a ceiling: a value larger than it is refused, not taken from the heap */
    size_t big = 1 << 17;
    char *s = malloc(big + 1);
    CHECK(s != NULL);
    memset(s, 'x', big);
    s[big] = '\0';
    CHECK(json_string(s) == NULL);
    free(s);
    gw__json_region(m, &a, 0);
    v = json_string("after");
    CHECK(v != NULL && !ms_secmem_owns(m, v));
    json_decref(v);
    ms_secmem_free(m);
    return 0;
}

TEST(test_zz_hardening_serve_flags)
{
    char *o = NULL;
    if (access(ms_test_medseal(), X_OK) != 0)
        SKIP("the medseal CLI is not built");
    CHECK(ms_test_sh(&o, "'%s' serve --help", ms_test_medseal()) == 0);
    CHECK(o != NULL && strstr(o, "--allow-unlocked-memory") != NULL);
    free(o);
    return 0;
}

/* serve --lock-all-memory: with CAP_IPC_LOCK (root here) every mapping of the running server is
 * locked (VmLck covers VmSize, threads and libmicrohttpd/GnuTLS buffers included) while only
 * touched pages are resident; without the capability and with a 1 MiB RLIMIT_MEMLOCK it refuses
 * to start with one line, even with --allow-unlocked-memory (which waives the region only). */
TEST(test_zz_hardening_serve_lock_all_memory)
{
    const char *d = ms_test_tmpdir();
    char *o = NULL;
    if (access(ms_test_medseal(), X_OK) != 0)
        SKIP("the medseal CLI is not built");
    if (MS_T_ASAN)
        SKIP("ASan makes mlockall a no-op");
    if (geteuid() != 0 || ms_test_sh(NULL, "command -v setpriv && command -v prlimit") != 0)
        SKIP("needs root (CAP_IPC_LOCK) and util-linux setpriv/prlimit");
    CHECK(ms_test_sh(NULL,
                     "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                     "-nodes -keyout k.pem -out c.pem -subj /CN=localhost -days 1 2>/dev/null && "
                     "printf 'mem_limit = 8388608\n' > s.conf",
                     d) == 0);
    CHECK(ms_test_sh(&o,
                     "cd '%s' && : > o.txt; '%s' serve --listen 127.0.0.1:0 --cert c.pem --key "
                     "k.pem --state st --config s.conf --insecure-no-attestation "
                     "--lock-all-memory >> o.txt 2>&1 & pid=$!; "
                     "for i in $(seq 100); do grep -q listening o.txt && break; "
                     "kill -0 $pid 2>/dev/null || break; sleep 0.1; done; "
                     "port=$(sed -n 's/.*127.0.0.1:\\([0-9]*\\) .*/\\1/p' o.txt); "
                     "curl -sk https://127.0.0.1:$port/healthz >/dev/null; "
                     "grep -E '^(VmSize|VmLck|VmRSS):' /proc/$pid/status; "
                     "kill -TERM $pid; wait $pid; echo rc=$?",
                     d, ms_test_medseal()) == 0);
    long size = -1, lck = -1, rss = -1;
    const char *p = o ? strstr(o, "VmSize:") : NULL;
    if (p != NULL)
        size = strtol(p + 7, NULL, 10);
    if ((p = o ? strstr(o, "VmLck:") : NULL) != NULL)
        lck = strtol(p + 6, NULL, 10);
    if ((p = o ? strstr(o, "VmRSS:") : NULL) != NULL)
        rss = strtol(p + 6, NULL, 10);
    fprintf(stderr, "  VmSize %ld kB, VmLck %ld kB, VmRSS %ld kB\n", size, lck, rss);
    CHECK(size > 0 && lck >= size * 95 / 100); /* every mapping locked */
    CHECK(rss > 0 && rss < size);               /* on fault: not everything faulted in */
    CHECK(strstr(o, "rc=0") != NULL);
    free(o);
    CHECK(ms_test_sh(&o,
                     "cd '%s' && prlimit --memlock=1048576:1048576 setpriv "
                     "--bounding-set=-ipc_lock '%s' serve --listen 127.0.0.1:0 --cert c.pem --key "
                     "k.pem --state st2 --config s.conf --insecure-no-attestation "
                     "--allow-unlocked-memory --lock-all-memory 2>&1; echo rc=$?",
                     d, ms_test_medseal()) == 0);
    fprintf(stderr, "  refused: %s", o ? o : "");
    CHECK(o != NULL && strstr(o, "rc=1") != NULL && strstr(o, "mlockall") != NULL);
    CHECK(strstr(o, "listening") == NULL);
    free(o);
    return 0;
}

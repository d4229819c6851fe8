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

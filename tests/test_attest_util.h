/*
 * Helpers shared by the attestation tests: reading samples from data/attest, expected values
 * from its MANIFEST.md (so no expected value is hard-coded in the tests), and small wrappers.
 */
#ifndef MEDSEAL_TEST_ATTEST_UTIL_H
#define MEDSEAL_TEST_ATTEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medseal/attest.h"

static inline char *att_t_path(const char *name)
{
    static char p[4][1024];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/data/attest/%s", ms_test_root(), name);
    return p[i];
}

static inline int att_t_read(const char *name, ms_buf *b)
{
    ms_buf_init(b, NULL, 0);
    return ms_file_read(att_t_path(name), NULL, 0, b, NULL) == MS_OK;
}

/* The value written as "key `value`" in the MANIFEST section whose heading starts with
 * "## <section>"; a trailing ellipsis (…) is dropped (then the value is a prefix). */
static inline int att_t_manifest(const char *section, const char *key, char *out, size_t n)
{
    ms_buf m;
    if (!att_t_read("MANIFEST.md", &m))
        return 0;
    char head[64], pat[80];
    snprintf(head, sizeof head, "\n## %s", section);
    snprintf(pat, sizeof pat, "%s `", key);
    const char *s = strstr((const char *)m.p, head), *e, *v;
    int ok = 0;
    if (s != NULL) {
        e = strstr(s + 4, "\n## ");
        v = strstr(s, pat);
        if (v != NULL && (e == NULL || v < e)) {
            v += strlen(pat);
            const char *end = strchr(v, '`');
            size_t len = end ? (size_t)(end - v) : 0;
            if (len >= 3 && memcmp(end - 3, "\xe2\x80\xa6", 3) == 0)
                len -= 3;
            if (end != NULL && len < n) {
                memcpy(out, v, len);
                out[len] = 0;
                ok = 1;
            }
        }
    }
    ms_buf_free(&m);
    return ok;
}

/* The token following `marker` in a MANIFEST section (up to a space, '*', '`', ',' or '.'
 * followed by a space), e.g. the time after "That works out to **". */
static inline int att_t_manifest_after(const char *section, const char *marker, char *out, size_t n)
{
    ms_buf m;
    if (!att_t_read("MANIFEST.md", &m))
        return 0;
    char head[64];
    snprintf(head, sizeof head, "\n## %s", section);
    const char *s = strstr((const char *)m.p, head), *v = s ? strstr(s, marker) : NULL;
    size_t len = 0;
    if (v != NULL) {
        v += strlen(marker);
        while (v[len] && !strchr(" *`,\n", v[len]) && len + 1 < n)
            len++;
        memcpy(out, v, len);
        out[len] = 0;
    }
    ms_buf_free(&m);
    return len > 0;
}

/* 1 when the JSON string at obj[key] starts with (or equals) want, case-insensitively. */
static inline int att_t_hex_is(json_t *obj, const char *key, const char *want)
{
    const char *v = json_string_value(json_object_get(obj, key));
    if (v == NULL || want == NULL || strlen(v) < strlen(want)) {
        fprintf(stderr, "  %s = %s, want %s\n", key, v ? v : "(none)", want ? want : "?");
        return 0;
    }
    int ok = strncasecmp(v, want, strlen(want)) == 0;
    if (!ok)
        fprintf(stderr, "  %s = %s, want %s\n", key, v, want);
    return ok;
}

static inline time_t att_t_time(const char *iso)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
        return 0;
    return timegm(&tm);
}

#endif

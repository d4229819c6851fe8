/*
 * Tests of the scrubber's text normalisation (src/phi/norm.c, issue 14 deliver 3): fullwidth
 * (NFKC), Cyrillic and Greek homoglyphs (UTS #39 skeletons), combining marks and zero-width
 * characters are detected like the plain word; spans are byte offsets of the original text, the
 * output keeps every byte around the replaced spans exactly, and ASCII PHI next to them is
 * found as before. All names and numbers are made up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medseal/core.h"
#include "medseal/phi.h"
#include "test.h"

static phi_ctx *norm_ctx(phi_mode mode)
{
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.mode = mode;
    phi_ctx *c = NULL;
    return phi_ctx_new(&o, &c, NULL) == MS_OK ? c : NULL;
}

struct nval {
    const char *value; /* exact bytes of a span of class cls, in text order */
    phi_class cls;
};

/* The spans are exactly the values (original byte offsets, class), and the output is the text
 * with each value replaced by its tag: every other byte unchanged. */
static int check_exact(const char *text, const struct nval *v, size_t nv)
{
    phi_ctx *c = norm_ctx(PHI_MODE_TAG);
    CHECK(c != NULL);
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    ms_err err = {0};
    phi_span *sp = NULL;
    size_t ns = 0;
    CHECK(phi_scrub(c, text, strlen(text), &out, &sp, &ns, &err) == MS_OK);
    char want[1024];
    size_t w = 0, pos = 0;
    int bad = ns != nv;
    for (size_t k = 0; k < nv; k++) {
        const char *at = strstr(text + pos, v[k].value);
        CHECK(at != NULL);
        size_t s = (size_t)(at - text), e = s + strlen(v[k].value);
        if (k < ns && (sp[k].start != s || sp[k].end != e || sp[k].cls != v[k].cls)) {
            fprintf(stderr, "  value %zu: want %s [%zu,%zu), got %s [%zu,%zu)\n", k,
                    phi_class_name(v[k].cls), s, e, phi_class_name(sp[k].cls), sp[k].start,
                    sp[k].end);
            bad = 1;
        }
        w += (size_t)snprintf(want + w, sizeof want - w, "%.*s[%s]", (int)(s - pos), text + pos,
                              phi_class_name(v[k].cls));
        pos = e;
    }
    w += (size_t)snprintf(want + w, sizeof want - w, "%s", text + pos);
    if (out.len != w || memcmp(out.p, want, w) != 0) {
        fprintf(stderr, "  output \"%.*s\"\n  wanted \"%s\" (%zu spans)\n", (int)out.len,
                out.p, want, ns);
        bad = 1;
    }
    phi_spans_free(c, sp);
    ms_buf_free(&out);
    phi_ctx_free(c);
    return bad;
}

/* Ｊｏｈｎ Ｌｉｎｄｑｖｉｓｔ, a fullwidth date and phone */
TEST(test_phi_norm_fullwidth)
{
    static const struct nval v[] = {
        {"\xEF\xBC\xAA\xEF\xBD\x8F\xEF\xBD\x88\xEF\xBD\x8E \xEF\xBC\xAC\xEF\xBD\x89\xEF\xBD\x8E"
         "\xEF\xBD\x84\xEF\xBD\x91\xEF\xBD\x96\xEF\xBD\x89\xEF\xBD\x93\xEF\xBD\x94",
         PHI_NAME},
        {"\xEF\xBC\x90\xEF\xBC\x93/\xEF\xBC\x91\xEF\xBC\x94/\xEF\xBC\x92\xEF\xBC\x90\xEF\xBC\x92"
         "\xEF\xBC\x93",
         PHI_DATE},
        {"(\xEF\xBC\x96\xEF\xBC\x91\xEF\xBC\x97) \xEF\xBC\x95\xEF\xBC\x95\xEF\xBC\x95-\xEF\xBC"
         "\x90\xEF\xBC\x91\xEF\xBC\x94\xEF\xBC\x93",
         PHI_PHONE},
    };
    char text[512];
    snprintf(text, sizeof text, "Seen with %s today, admitted %s, call %s if febrile.\n",
             v[0].value, v[1].value, v[2].value);
    CHECK(check_exact(text, v, 3) == 0);
    return 0;
}

/* Cyrillic а in Mаrgaret, Greek ο in Wojciechοwski, Cyrillic Ј and о in Јоhn, Greek ο in
 * Okafοr */
TEST(test_phi_norm_homoglyphs)
{
    static const struct nval v[] = {
        {"M\xD0\xB0rgaret Okafor", PHI_NAME},
        {"Marguerite Wojciech\xCE\xBFwski", PHI_NAME},
        {"\xD0\x88\xD0\xBEhn Okaf\xCE\xBFr", PHI_NAME},
    };
    char text[512];
    snprintf(text, sizeof text, "%s was seen by %s; %s called back, BP 118/62 HR 80.\n",
             v[0].value, v[1].value, v[2].value);
    CHECK(check_exact(text, v, 3) == 0);
    return 0;
}

/* A combining acute inside and after a name, a zero-width space and a soft hyphen inside one:
 * the span covers the marks (nothing of the name is left next to the tag). */
TEST(test_phi_norm_combining_marks)
{
    static const struct nval v[] = {
        {"Jo\xCC\x81hn Lindqvist\xCC\x81", PHI_NAME},
        {"Margaret Lind\xE2\x80\x8Bgren", PHI_NAME},
        {"Marguerite Wojcie\xC2\xAD" "chowski", PHI_NAME},
    };
    char text[512];
    snprintf(text, sizeof text, "Family: %s and %s. Attending %s.\n", v[0].value, v[1].value,
             v[2].value);
    CHECK(check_exact(text, v, 3) == 0);
    return 0;
}

/* ASCII PHI on both sides of normalised PHI, and non-ASCII clinical text that is no PHI keeps
 * its bytes (°, ½, µ, en dash, curly quote). */
TEST(test_phi_norm_mixed_ascii)
{
    static const struct nval v[] = {
        {"617-555-0143", PHI_PHONE},
        {"\xEF\xBC\xAA\xEF\xBD\x8F\xEF\xBD\x88\xEF\xBD\x8E Lindqvist", PHI_NAME},
        {"02/16/1951", PHI_DATE},
        {"j.lindqvist\xEF\xBC\xA0" "example.org", PHI_EMAIL},
        {"Marguerite Wojciechowski", PHI_NAME},
    };
    char text[1024];
    snprintf(text, sizeof text,
             "Called %s about %s (DOB %s), T 38.5\xC2\xB0" "C, \xC2\xBD" " dose of 50 \xC2\xB5g, "
             "BP 118\xE2\x80\x93" "126/62, pt\xE2\x80\x99s wife aware; mail %s.\nSigned: %s\n",
             v[0].value, v[1].value, v[2].value, v[3].value, v[4].value);
    CHECK(check_exact(text, v, 5) == 0);
    return 0;
}

/* Surrogates come from the normalised bytes: Ｊｏｈｎ and John get one surrogate. */
TEST(test_phi_norm_surrogate_consistent)
{
    phi_ctx *c = norm_ctx(PHI_MODE_SURROGATE);
    CHECK(c != NULL);
    const char *a = "Patient \xEF\xBC\xAA\xEF\xBD\x8F\xEF\xBD\x88\xEF\xBD\x8E Lindqvist";
    const char *b = "Patient John Lindqvist";
    ms_buf oa, ob;
    ms_buf_init(&oa, NULL, 0);
    ms_buf_init(&ob, NULL, 0);
    CHECK(phi_scrub(c, a, strlen(a), &oa, NULL, NULL, NULL) == MS_OK);
    CHECK(phi_scrub(c, b, strlen(b), &ob, NULL, NULL, NULL) == MS_OK);
    CHECK(oa.len == ob.len && memcmp(oa.p, ob.p, oa.len) == 0);
    CHECK(strstr((const char *)oa.p, "John") == NULL || oa.len < 8);
    ms_buf_free(&oa);
    ms_buf_free(&ob);
    phi_ctx_free(c);
    return 0;
}

/* Invalid UTF-8 after a normalised character is still refused, at its original offset, and
 * nothing is output. */
TEST(test_phi_norm_invalid_utf8_offset)
{
    phi_ctx *c = norm_ctx(PHI_MODE_TAG);
    CHECK(c != NULL);
    const char *t = "\xEF\xBC\xAA\xEF\xBD\x8F x \xFF";
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    ms_err err = {0};
    CHECK(phi_scrub(c, t, strlen(t), &out, NULL, NULL, &err) == MS_E_FORMAT);
    CHECK(out.len == 0);
    CHECK(strstr(err.msg, "offset 9") != NULL);
    ms_buf_free(&out);
    phi_ctx_free(c);
    return 0;
}

/* An identity given with accents matches the text with or without them. */
TEST(test_phi_norm_identity_accents)
{
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.mode = PHI_MODE_TAG;
    phi_identity id;
    memset(&id, 0, sizeof id);
    id.family = "Gonz\xC3\xA1lez";
    id.given = "Jos\xC3\xA9";
    o.identity = &id;
    phi_ctx *c = NULL;
    CHECK(phi_ctx_new(&o, &c, NULL) == MS_OK);
    const char *t = "pt jose gonzalez; JOS\xC3\x89 GONZ\xC3\x81LEZ; Jos\xD0\xB5 here";
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    CHECK(phi_scrub(c, t, strlen(t), &out, NULL, NULL, NULL) == MS_OK);
    const char *want = "pt [NAME] [NAME]; [NAME] [NAME]; [NAME] here";
    CHECK(out.len == strlen(want) && memcmp(out.p, want, out.len) == 0);
    ms_buf_free(&out);
    phi_ctx_free(c);
    return 0;
}

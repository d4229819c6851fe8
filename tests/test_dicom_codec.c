/*
 * Unit tests of the DICOM codec's harder corners, on inputs built byte by byte here: DICOM JSON
 * formatting, character sets (ISO 2022 escapes, multi-byte sets, bad bytes), big endian,
 * deflate (and its size limit), encapsulated pixel data, UN of undefined length (CP-246),
 * duplicate and out-of-order tags, limits at max and max+1, stop_before_pixels never touching
 * pixel bytes, allocation-failure sweeps, truncation at every byte of real files, and a replay
 * of the fuzz corpus. No ../shared needed; pydicom's files are used when installed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "medseal/dicom.h"
#include "test.h"

#define PYDICOM_DATA "/usr/lib/python3/dist-packages/pydicom/data"

typedef struct tb {
    uint8_t *b;
    size_t n, cap;
    int big;
} tb;

static void put(tb *t, const void *p, size_t n)
{
    if (t->n + n > t->cap) {
        size_t cap = (t->n + n) * 2 + 256;
        uint8_t *q = realloc(t->b, cap);
        if (q == NULL)
            abort(); /* test helper: out of memory in the test itself */
        t->b = q;
        t->cap = cap;
    }
    if (n)
        memcpy(t->b + t->n, p, n);
    t->n += n;
}

static void u16(tb *t, uint16_t v)
{
    uint8_t x[2];
    if (t->big)
        ms_store_u16be(x, v);
    else
        ms_store_u16le(x, v);
    put(t, x, 2);
}

static void u32(tb *t, uint32_t v)
{
    uint8_t x[4];
    if (t->big)
        ms_store_u32be(x, v);
    else
        ms_store_u32le(x, v);
    put(t, x, 4);
}

static int long_vr(const char *vr)
{
    static const char *const l[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                    "SV", "UC", "UN", "UR", "UT", "UV"};
    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++)
        if (memcmp(vr, l[i], 2) == 0)
            return 1;
    return 0;
}

/* Explicit VR element; val may be NULL for undefined-length headers. */
static void ex(tb *t, uint16_t g, uint16_t e, const char *vr, const void *val, uint32_t len)
{
    u16(t, g);
    u16(t, e);
    put(t, vr, 2);
    if (long_vr(vr)) {
        u16(t, 0);
        u32(t, len);
    } else {
        u16(t, (uint16_t)len);
    }
    if (val && len != 0xffffffffu)
        put(t, val, len);
}

static void im(tb *t, uint16_t g, uint16_t e, const void *val, uint32_t len)
{
    u16(t, g);
    u16(t, e);
    u32(t, len);
    if (val && len != 0xffffffffu)
        put(t, val, len);
}

static void part10(tb *t, const char *ts)
{
    int big = t->big;
    t->big = 0;
    uint8_t pre[128] = {0};
    put(t, pre, 128);
    put(t, "DICM", 4);
    char tsb[80] = {0};
    size_t tl = strlen(ts);
    memcpy(tsb, ts, tl);
    tl += tl & 1u;
    ex(t, 0x0002, 0x0000, "UL", "\0\0\0\0", 4);
    size_t at = t->n - 4, start = t->n;
    ex(t, 0x0002, 0x0010, "UI", tsb, (uint32_t)tl);
    ms_store_u32le(t->b + at, (uint32_t)(t->n - start));
    t->big = big;
}

static dcm_file *parse(const tb *t, const dcm_read_opts *o, ms_err *err)
{
    dcm_file *f = NULL;
    if (dcm_file_read_mem(t->b, t->n, o, &f, err) != MS_OK)
        return NULL;
    return f;
}

static char *json(dcm_file *f, int pixels)
{
    static char out[65536];
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    dcm_json_opts jo = {.include_pixels = pixels};
    if (dcm_dataset_json_write(dcm_file_dataset(f), &jo, &b, NULL) != MS_OK || b.len >= sizeof out)
        snprintf(out, sizeof out, "(error)");
    else
        memcpy(out, b.p, b.len + 1);
    ms_buf_free(&b);
    return out;
}

TEST(test_dcm_json_formatting)
{
    tb t = {0};
    part10(&t, DCM_TS_EXPLICIT_LE);
    ex(&t, 0x0008, 0x0008, "CS", "A\\\\B  ", 6);          /* empty middle value */
    ex(&t, 0x0010, 0x0010, "PN", "Yamada^Tarou==x ", 16); /* empty ideographic group */
    ex(&t, 0x0010, 0x1010, "AS", "", 0);                  /* empty value */
    ex(&t, 0x0018, 0x0050, "DS", " 2.50\\+1\\.5 ", 12);   /* JSON-valid text kept, others parsed */
    ex(&t, 0x0020, 0x0013, "IS", "007 ", 4);
    ex(&t, 0x0020, 0x4000, "LT", "a\"b\\c\r\n\x01  ", 10);
    ex(&t, 0x0028, 0x0009, "AT", "\x18\x00\x63\x10", 4);
    ex(&t, 0x0018, 0x9089, "FD", "\0\0\0\0\0\0\xf8\x3f", 8); /* 1.5 */
    ex(&t, 0x0018, 0x9087, "FL", "\xcd\xcc\xcc\x3d", 4);     /* 0.1f */
    ex(&t, 0x0028, 0x0010, "US", "\x00\x02\x01\x00", 4);
    ex(&t, 0x0028, 0x1052, "DS", "abc ", 4); /* not a number: kept as a string */
    ex(&t, 0x0009, 0x0010, "LO", "ACME 1.0", 8);
    ex(&t, 0x0009, 0x1001, "OB", "\x01\x02\x03", 3);
    ex(&t, 0x0040, 0xA730, "SQ", NULL, 0);              /* empty sequence */
    ex(&t, 0x0008, 0x0120, "UR", "http://x/a\\b ", 14); /* UR: one value, '\' kept */
    ex(&t, 0x0008, 0x0119, "UC", "long\\code ", 10);    /* UC: multi-valued */
    ex(&t, 0x0018, 0x6010, "SV", "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
    ex(&t, 0x0018, 0x6011, "UV", "\0\0\0\0\0\0\0\x10", 8); /* 2^60: a string */
    ex(&t, 0x0018, 0x6012, "OV", "\1\0\0\0\0\0\0\0", 8);
    ex(&t, 0x7FE0, 0x0010, "OB", "\x00\xff", 2);
    ms_err err = {0};
    dcm_file *f = parse(&t, NULL, &err);
    CHECK(f != NULL);
    const char *j = json(f, 0);
    CHECK(strstr(j, "\"00080008\":{\"vr\":\"CS\",\"Value\":[\"A\",null,\"B\"]}") != NULL);
    CHECK(strstr(j, "\"00100010\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"Yamada^Tarou\","
                    "\"Phonetic\":\"x\"}]}") != NULL);
    CHECK(strstr(j, "\"00101010\":{\"vr\":\"AS\"}") != NULL);
    CHECK(strstr(j, "\"00180050\":{\"vr\":\"DS\",\"Value\":[2.50,1,0.5]}") != NULL);
    CHECK(strstr(j, "\"00200013\":{\"vr\":\"IS\",\"Value\":[7]}") != NULL);
    CHECK(strstr(j, "\"00204000\":{\"vr\":\"LT\",\"Value\":[\"a\\\"b\\\\c\\r\\n\\u0001\"]}") !=
          NULL);
    CHECK(strstr(j, "\"00280009\":{\"vr\":\"AT\",\"Value\":[\"00181063\"]}") != NULL);
    CHECK(strstr(j, "\"00189089\":{\"vr\":\"FD\",\"Value\":[1.5]}") != NULL);
    CHECK(strstr(j, "\"00189087\":{\"vr\":\"FL\",\"Value\":[0.1]}") != NULL);
    CHECK(strstr(j, "\"00280010\":{\"vr\":\"US\",\"Value\":[512,1]}") != NULL);
    CHECK(strstr(j, "\"00281052\":{\"vr\":\"DS\",\"Value\":[\"abc\"]}") != NULL);
    CHECK(strstr(j, "\"00091001\":{\"vr\":\"OB\",\"InlineBinary\":\"AQID\"}") != NULL);
    CHECK(strstr(j, "\"0040A730\":{\"vr\":\"SQ\"}") != NULL);
    CHECK(strstr(j, "\"00080120\":{\"vr\":\"UR\",\"Value\":[\"http://x/a\\\\b\"]}") != NULL);
    CHECK(strstr(j, "\"00080119\":{\"vr\":\"UC\",\"Value\":[\"long\",\"code\"]}") != NULL);
    CHECK(strstr(j, "\"00186010\":{\"vr\":\"SV\",\"Value\":[-1]}") != NULL);
    CHECK(strstr(j, "\"00186011\":{\"vr\":\"UV\",\"Value\":[\"1152921504606846976\"]}") != NULL);
    CHECK(strstr(j, "\"00186012\":{\"vr\":\"OV\",\"InlineBinary\":\"AQAAAAAAAAA=\"}") != NULL);
    CHECK(strstr(j, "7FE00010") == NULL);
    CHECK(strstr(json(f, 1), "\"7FE00010\":{\"vr\":\"OB\",\"InlineBinary\":\"AP8=\"}") != NULL);
    json_t *jt = NULL;
    CHECK(dcm_dataset_to_json(dcm_file_dataset(f), NULL, &jt, &err) == MS_OK);
    CHECK(json_is_object(jt) && json_object_get(jt, "00100010") != NULL);
    json_decref(jt);
    dcm_file_free(f);
    free(t.b);
    return 0;
}

static int text_of(dcm_file *f, uint32_t tag, const char *want)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    ms_err err = {0};
    int ok = dcm_dataset_text(dcm_file_dataset(f), tag, &b, &err) == MS_OK && b.p &&
             strcmp((char *)b.p, want) == 0;
    if (!ok)
        fprintf(stderr, "  got \"%s\" want \"%s\"\n", b.p ? (char *)b.p : "", want);
    ms_buf_free(&b);
    return ok;
}

TEST(test_dcm_charsets)
{
    struct {
        const char *cs, *value, *utf8;
        uint16_t g, e;
        const char *vr;
    } cases[] = {
        {"", "Gr\xfc\xdf", "Gr\xc3\xbc\xc3\x9f", 0x0010, 0x0010, "PN"}, /* default: Latin-1 */
        {"ISO_IR 100", "Ren\xe9", "Ren\xc3\xa9", 0x0010, 0x0010, "PN"},
        {"ISO_IR 144", "\xbb\xee\xdd\xd8\xdd", "\xd0\x9b\xd1\x8e\xd0\xbd\xd0\xb8\xd0\xbd", 0x0010,
         0x0010, "PN"}, /* Cyrillic */
        {"ISO_IR 192", "\xe5\xb1\xb1", "\xe5\xb1\xb1", 0x0010, 0x0010, "PN"},
        {"ISO_IR 192",
         "a\xff"
         "b",
         "a\xef\xbf\xbd"
         "b",
         0x0010, 0x0010, "PN"}, /* bad UTF-8 */
        {"GB18030", "\xd5\xc5", "\xe5\xbc\xa0", 0x0010, 0x0010, "PN"},
        {"\\ISO 2022 IR 87", "Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B",
         "Yamada^Tarou=\xe5\xb1\xb1\xe7\x94\xb0^\xe5\xa4\xaa\xe9\x83\x8e", 0x0010, 0x0010, "PN"},
        {"\\ISO 2022 IR 149", "\x1b$)C\xb1\xe8", "\xea\xb9\x80", 0x0010, 0x0010, "PN"},
        {"\\ISO 2022 IR 159", "\x1b$(D0!\x1b(B", "\xe4\xb8\x82", 0x0010, 0x0010, "PN"},
        {"\\ISO 2022 IR 58", "\x1b$)A\xc4\xe3", "\xe4\xbd\xa0", 0x0010, 0x0010,
         "PN"}, /* pydicom 2.3 keeps the escape in the text here; PS3.5 6.1.2.5 removes it */
        {"ISO_IR 13", "\xb1", "\xef\xbd\xb1", 0x0010, 0x0010, "PN"},       /* half-width katakana */
        {"ISO_IR 166", "\xa1", "\xe0\xb8\x81", 0x0010, 0x0010, "PN"},      /* Thai */
        {"ISO_IR 100", "\x1b$B;3", "\x1b$B;3", 0x0008, 0x0060, "CS"},      /* CS: no charset */
        {"ISO 2022 IR 100", "\x1b$B;3", "\x1b$B;3", 0x0010, 0x0020, "LO"}, /* undeclared */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tb t = {0};
        size_t cl = strlen(cases[i].cs), vl = strlen(cases[i].value);
        char csb[64] = {0}, vb[128] = {0};
        memcpy(csb, cases[i].cs, cl);
        memcpy(vb, cases[i].value, vl);
        ex(&t, 0x0008, 0x0005, "CS", csb, (uint32_t)(cl + (cl & 1u)));
        vb[vl] = ' ';
        ex(&t, cases[i].g, cases[i].e, cases[i].vr, vb, (uint32_t)(vl + (vl & 1u)));
        ms_err err = {0};
        dcm_file *f = parse(&t, NULL, &err);
        CHECK(f != NULL);
        if (!text_of(f, DCM_TAG(cases[i].g, cases[i].e), cases[i].utf8)) {
            fprintf(stderr, "  case %zu\n", i);
            return 1;
        }
        dcm_file_free(f);
        free(t.b);
    }
    /* an item inherits the character set of its enclosing dataset */
    tb t = {0};
    ex(&t, 0x0008, 0x0005, "CS", "ISO_IR 100", 10);
    ex(&t, 0x0008, 0x1140, "SQ", NULL, 0xffffffffu);
    im(&t, 0xFFFE, 0xE000, NULL, 0xffffffffu);
    ex(&t, 0x0010, 0x0010, "PN", "Ren\xe9", 4);
    im(&t, 0xFFFE, 0xE00D, NULL, 0);
    im(&t, 0xFFFE, 0xE0DD, NULL, 0);
    dcm_file *f = parse(&t, NULL, NULL);
    CHECK(f != NULL);
    dcm_dataset *item =
        dcm_elem_item(dcm_dataset_find(dcm_file_dataset(f), DCM_TAG(0x0008, 0x1140)), 0);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(dcm_dataset_text(item, DCM_TAG(0x0010, 0x0010), &b, NULL) == MS_OK);
    CHECK_STR((char *)b.p, "Ren\xc3\xa9");
    ms_buf_free(&b);
    dcm_file_free(f);
    free(t.b);
    return 0;
}

TEST(test_dcm_big_endian_and_no_meta_detection)
{
    for (int meta = 0; meta < 2; meta++) {
        tb t = {0};
        if (meta)
            part10(&t, DCM_TS_EXPLICIT_BE);
        t.big = 1;
        ex(&t, 0x0008, 0x0060, "CS", "MR", 2);
        ex(&t, 0x0028, 0x0010, "US", "\x02\x00", 2);
        ex(&t, 0x0028, 0x0009, "AT", "\x00\x18\x10\x63", 4);
        ex(&t, 0x7FE0, 0x0010, "OW", "\x01\x02\x03\x04", 4);
        ms_err err = {0};
        dcm_file *f = parse(&t, NULL, &err);
        CHECK(f != NULL);
        CHECK(dcm_file_big_endian(f) && dcm_file_explicit_vr(f));
        CHECK_EQ_INT(dcm_file_has_meta(f), meta);
        double v = 0;
        CHECK(dcm_dataset_number(dcm_file_dataset(f), DCM_TAG(0x0028, 0x0010), 0, &v, &err) ==
              MS_OK);
        CHECK(v == 512);
        CHECK(dcm_dataset_number(dcm_file_dataset(f), DCM_TAG(0x0028, 0x0009), 0, &v, &err) ==
              MS_OK);
        CHECK(v == (double)DCM_TAG(0x0018, 0x1063));
        /* JSON is little endian: the OW bytes are swapped */
        CHECK(strstr(json(f, 1), "\"InlineBinary\":\"AgEEAw==\"") != NULL);
        /* written as explicit LE, read back: same numbers */
        ms_buf b;
        ms_buf_init(&b, NULL, 0);
        CHECK(dcm_file_write_mem(f, NULL, &b, &err) == MS_OK);
        dcm_file *g = NULL;
        CHECK(dcm_file_read_mem(b.p, b.len, NULL, &g, &err) == MS_OK);
        CHECK(!dcm_file_big_endian(g));
        CHECK(dcm_dataset_number(dcm_file_dataset(g), DCM_TAG(0x0028, 0x0010), 0, &v, &err) ==
              MS_OK);
        CHECK(v == 512);
        size_t n = 0;
        const uint8_t *px =
            dcm_elem_bytes(dcm_dataset_find(dcm_file_dataset(g), DCM_TAG_PIXEL_DATA), &n);
        CHECK(n == 4 && memcmp(px, "\x02\x01\x04\x03", 4) == 0);
        ms_buf_free(&b);
        dcm_file_free(g);
        dcm_file_free(f);
        free(t.b);
    }
    return 0;
}

TEST(test_dcm_deflated_and_limit)
{
    dcm_file *f = NULL;
    ms_err err = {0};
    CHECK(dcm_file_new(NULL, &f, &err) == MS_OK);
    static char big[20000];
    memset(big, 'A', sizeof big);
    big[sizeof big - 1] = 0;
    CHECK(dcm_dataset_set_text(dcm_file_dataset(f), DCM_TAG(0x0020, 0x4000), DCM_VR_LT, big,
                               &err) == MS_OK);
    dcm_write_opts wo = {.transfer_syntax = DCM_TS_DEFLATED_LE};
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(dcm_file_write_mem(f, &wo, &b, &err) == MS_OK);
    CHECK(b.len < 2000); /* compressed */
    dcm_file *g = NULL;
    CHECK(dcm_file_read_mem(b.p, b.len, NULL, &g, &err) == MS_OK);
    CHECK_STR(dcm_file_transfer_syntax(g), DCM_TS_DEFLATED_LE);
    dcm_elem *e = dcm_dataset_find(dcm_file_dataset(g), DCM_TAG(0x0020, 0x4000));
    CHECK(e != NULL && dcm_elem_length(e) == 20000);
    CHECK(dcm_elem_value_file_offset(e) == SIZE_MAX); /* not verbatim in the file */
    dcm_file_free(g);
    /* inflating past max_total is refused (a zip bomb cannot exhaust memory) */
    dcm_read_opts lim = {.max_total = 10000};
    ms_err_clear(&err);
    CHECK(dcm_file_read_mem(b.p, b.len, &lim, &g, &err) == MS_E_LIMIT);
    /* a damaged or cut stream is an error, not a crash */
    for (size_t cut = b.len - 3; cut > b.len - 40; cut -= 7) {
        ms_err_clear(&err);
        CHECK(dcm_file_read_mem(b.p, cut, NULL, &g, &err) != MS_OK);
    }
    b.p[b.len - 30] ^= 0x55;
    ms_err_clear(&err);
    if (dcm_file_read_mem(b.p, b.len, NULL, &g, &err) == MS_OK)
        dcm_file_free(g); /* a flipped bit may still inflate; it must not crash */
    ms_buf_free(&b);
    dcm_file_free(f);
    return 0;
}

TEST(test_dcm_encapsulated_and_cp246)
{
    tb t = {0};
    part10(&t, "1.2.840.10008.1.2.4.50");
    ex(&t, 0x0009, 0x0010, "LO", "ACME", 4);
    /* CP-246: UN of undefined length holding implicit VR items */
    ex(&t, 0x0009, 0x1001, "UN", NULL, 0xffffffffu);
    im(&t, 0xFFFE, 0xE000, NULL, 0xffffffffu);
    im(&t, 0x0010, 0x0020, "ID42", 4);
    im(&t, 0xFFFE, 0xE00D, NULL, 0);
    im(&t, 0xFFFE, 0xE0DD, NULL, 0);
    ex(&t, 0x7FE0, 0x0010, "OB", NULL, 0xffffffffu);
    im(&t, 0xFFFE, 0xE000, NULL, 0); /* empty basic offset table */
    im(&t, 0xFFFE, 0xE000, "\xff\xd8\xff\xd9", 4);
    im(&t, 0xFFFE, 0xE000, "\xff\xd8\xff\xfe\xff\xd9", 6);
    im(&t, 0xFFFE, 0xE0DD, NULL, 0);
    ms_err err = {0};
    dcm_file *f = parse(&t, NULL, &err);
    CHECK(f != NULL);
    dcm_elem *un = dcm_dataset_find(dcm_file_dataset(f), DCM_TAG(0x0009, 0x1001));
    CHECK(un != NULL && dcm_elem_is_sequence(un) && dcm_elem_item_count(un) == 1);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(dcm_dataset_text(dcm_elem_item(un, 0), DCM_TAG(0x0010, 0x0020), &b, &err) == MS_OK);
    CHECK_STR((char *)b.p, "ID42");
    dcm_elem *px = dcm_dataset_find(dcm_file_dataset(f), DCM_TAG_PIXEL_DATA);
    CHECK(px != NULL && dcm_elem_is_encapsulated(px));
    CHECK_EQ_INT(dcm_elem_fragment_count(px), 3);
    size_t n = 0;
    CHECK(dcm_elem_fragment(px, 0, &n) != NULL && n == 0);
    CHECK(dcm_elem_fragment(px, 2, &n) != NULL && n == 6);
    CHECK(dcm_elem_fragment(px, 3, &n) == NULL);
    /* written back in its own syntax: the same bytes */
    ms_buf_reset(&b);
    dcm_write_opts wo = {.transfer_syntax = "original", .undefined_seq_lengths = 1};
    CHECK(dcm_file_write_mem(f, &wo, &b, &err) == MS_OK);
    dcm_file *g = NULL;
    CHECK(dcm_file_read_mem(b.p, b.len, NULL, &g, &err) == MS_OK);
    CHECK_EQ_INT(dcm_elem_fragment_count(dcm_dataset_find(dcm_file_dataset(g), DCM_TAG_PIXEL_DATA)),
                 3);
    dcm_file_free(g);
    ms_buf_free(&b);
    dcm_file_free(f);
    free(t.b);
    return 0;
}

TEST(test_dcm_duplicate_and_unordered_tags)
{
    tb t = {0};
    ex(&t, 0x0010, 0x0020, "LO", "B2", 2);
    ex(&t, 0x0008, 0x0060, "CS", "CT", 2);
    ex(&t, 0x0010, 0x0020, "LO", "C3", 2); /* duplicate: the later one wins, as pydicom */
    dcm_file *f = parse(&t, NULL, NULL);
    CHECK(f != NULL);
    CHECK_EQ_INT(dcm_dataset_count(dcm_file_dataset(f)), 2);
    CHECK_EQ_INT(dcm_elem_tag(dcm_dataset_at(dcm_file_dataset(f), 0)), DCM_TAG(0x0008, 0x0060));
    CHECK(text_of(f, DCM_TAG(0x0010, 0x0020), "C3"));
    dcm_file_free(f);
    free(t.b);
    return 0;
}

/* Nested sequences of a given depth. */
static void nested(tb *t, size_t depth)
{
    for (size_t i = 0; i < depth; i++) {
        ex(t, 0x0008, 0x1140, "SQ", NULL, 0xffffffffu);
        im(t, 0xFFFE, 0xE000, NULL, 0xffffffffu);
    }
    ex(t, 0x0008, 0x1150, "UI", "1.2\0", 4);
    for (size_t i = 0; i < depth; i++) {
        im(t, 0xFFFE, 0xE00D, NULL, 0);
        im(t, 0xFFFE, 0xE0DD, NULL, 0);
    }
}

TEST(test_dcm_limits_at_and_over)
{
    ms_err err = {0};
    dcm_read_opts o = {.max_depth = 4};
    tb t = {0};
    nested(&t, 4);
    dcm_file *f = parse(&t, &o, &err);
    CHECK(f != NULL); /* depth == max */
    dcm_file_free(f);
    free(t.b);
    t = (tb){0};
    nested(&t, 5);
    CHECK(parse(&t, &o, &err) == NULL);
    CHECK_EQ_INT(err.code, MS_E_LIMIT);
    free(t.b);
    t = (tb){0};
    nested(&t, DCM_MAX_DEPTH + 1); /* default limit */
    ms_err_clear(&err);
    CHECK(parse(&t, NULL, &err) == NULL && err.code == MS_E_LIMIT);
    free(t.b);
    /* element length at the limit and one over */
    t = (tb){0};
    ex(&t, 0x0020, 0x4000, "LT", "0123456789", 10);
    dcm_read_opts l10 = {.max_elem_len = 10}, l9 = {.max_elem_len = 9};
    f = parse(&t, &l10, &err);
    CHECK(f != NULL);
    dcm_file_free(f);
    ms_err_clear(&err);
    CHECK(parse(&t, &l9, &err) == NULL && err.code == MS_E_LIMIT);
    CHECK(strstr(err.msg, "(0020,4000)") != NULL);
    dcm_read_opts tot = {.max_total = t.n}, tot1 = {.max_total = t.n - 1};
    f = parse(&t, &tot, &err);
    CHECK(f != NULL);
    dcm_file_free(f);
    ms_err_clear(&err);
    CHECK(parse(&t, &tot1, &err) == NULL && err.code == MS_E_LIMIT);
    /* a length of 0xFFFFFFFE (no undefined) past the end is truncation, not a wrap */
    free(t.b);
    t = (tb){0};
    ex(&t, 0x0020, 0x4000, "UT", NULL, 0xfffffffeu);
    ms_err_clear(&err);
    CHECK(parse(&t, NULL, &err) == NULL && err.code == MS_E_LIMIT); /* over DCM_MAX_ELEM_LEN */
    dcm_read_opts huge = {.max_elem_len = SIZE_MAX};
    ms_err_clear(&err);
    CHECK(parse(&t, &huge, &err) == NULL && err.code == MS_E_TRUNC);
    free(t.b);
    /* zero-length everything */
    t = (tb){0};
    ex(&t, 0x0008, 0x0060, "CS", "", 0);
    ex(&t, 0x0008, 0x1140, "SQ", NULL, 0);
    f = parse(&t, NULL, &err);
    CHECK(f != NULL);
    CHECK_EQ_INT(dcm_elem_vm(dcm_dataset_find(dcm_file_dataset(f), DCM_TAG(0x0008, 0x0060))), 0);
    dcm_file_free(f);
    free(t.b);
    /* an empty input is an empty raw dataset */
    CHECK(dcm_file_read_mem((const uint8_t *)"", 0, NULL, &f, &err) == MS_OK);
    CHECK_EQ_INT(dcm_dataset_count(dcm_file_dataset(f)), 0);
    dcm_file_free(f);
    return 0;
}

TEST(test_dcm_stop_before_pixels_never_reads_them)
{
    tb t = {0};
    part10(&t, DCM_TS_EXPLICIT_LE);
    static char lt[100001];
    memset(lt, 'x', sizeof lt - 1); /* a header longer than the first read */
    ex(&t, 0x0010, 0x0010, "PN", "A^B ", 4);
    ex(&t, 0x0020, 0x4000, "UT", lt, 100000);
    ex(&t, 0x7FE0, 0x0010, "OW", NULL, 0x7ffffff0u); /* claims 2 GiB: never there */
    put(&t, "\1\2\3\4", 4);
    char path[4096];
    snprintf(path, sizeof path, "%s/p.dcm", ms_test_tmpdir());
    ms_err err = {0};
    CHECK(ms_file_write_atomic(path, t.b, t.n, 0600, 1, &err) == MS_OK);
    dcm_file *f = NULL;
    CHECK(dcm_file_read(path, NULL, &f, &err) == MS_E_TRUNC); /* a full read sees the lie */
    ms_err_clear(&err);
    dcm_read_opts o = {.stop_before_pixels = 1};
    CHECK(dcm_file_read(path, &o, &f, &err) == MS_OK);
    CHECK(dcm_dataset_find(dcm_file_dataset(f), DCM_TAG_PIXEL_DATA) == NULL);
    CHECK(text_of(f, DCM_TAG(0x0010, 0x0010), "A^B"));
    CHECK_EQ_INT(dcm_elem_length(dcm_dataset_find(dcm_file_dataset(f), DCM_TAG(0x0020, 0x4000))),
                 100000);
    dcm_file_free(f);
    /* the same from memory: only a prefix is copied, grown until the header fits */
    f = NULL;
    CHECK(dcm_file_read_mem(t.b, t.n, &o, &f, &err) == MS_OK);
    CHECK(dcm_dataset_find(dcm_file_dataset(f), DCM_TAG_PIXEL_DATA) == NULL);
    CHECK(text_of(f, DCM_TAG(0x0010, 0x0010), "A^B"));
    dcm_file_free(f);
    free(t.b);
    return 0;
}

/* Runs read + JSON + write with the fail_at-th allocation failing, n = 1, 2, ... until all
 * succeed: every failure must be MS_E_NOMEM with nothing leaked. */
static int sweep(const uint8_t *p, size_t n)
{
    for (long k = 1; k < 100000; k++) {
        ms_alloc a = {0};
        a.fail_at = k;
        dcm_read_opts o = {.alloc = &a};
        dcm_file *f = NULL;
        ms_err err = {0};
        ms_rc rc = dcm_file_read_mem(p, n, &o, &f, &err);
        ms_buf b;
        ms_buf_init(&b, &a, 0);
        if (rc == MS_OK)
            rc = dcm_dataset_json_write(dcm_file_dataset(f), NULL, &b, &err);
        if (rc == MS_OK)
            rc = dcm_file_write_mem(f, NULL, &b, &err);
        ms_buf_free(&b);
        dcm_file_free(f);
        if (rc != MS_OK && rc != MS_E_NOMEM) {
            fprintf(stderr, "  fail_at %ld: %s (%s)\n", k, ms_rc_name(rc), err.msg);
            return -1;
        }
        if (atomic_load(&a.in_use) != 0) {
            fprintf(stderr, "  fail_at %ld: %zu bytes leaked\n", k, atomic_load(&a.in_use));
            return -1;
        }
        if (rc == MS_OK && atomic_load(&a.count) < k)
            return 0; /* the k-th allocation never happened: all paths covered */
    }
    return -1;
}

TEST(test_dcm_alloc_failure_sweep)
{
    tb t = {0};
    part10(&t, DCM_TS_EXPLICIT_LE);
    ex(&t, 0x0008, 0x0005, "CS", "ISO_IR 100", 10);
    ex(&t, 0x0008, 0x1140, "SQ", NULL, 0xffffffffu);
    for (int i = 0; i < 20; i++) {
        im(&t, 0xFFFE, 0xE000, NULL, 0xffffffffu);
        ex(&t, 0x0010, 0x0010, "PN", "Ren\xe9^X", 6);
        im(&t, 0xFFFE, 0xE00D, NULL, 0);
    }
    im(&t, 0xFFFE, 0xE0DD, NULL, 0);
    for (uint16_t e = 0x1000; e < 0x1040; e++)
        ex(&t, 0x0011, e, "LO", "ABCD", 4);
    CHECK(sweep(t.b, t.n) == 0);
    free(t.b);
    return 0;
}

/* Every prefix of a real file: an error with a message, or a shorter valid dataset; never a
 * crash (run under ASan too). */
static int truncate_file(const char *path)
{
    ms_buf in;
    if (ms_file_read(path, NULL, 0, &in, NULL) != MS_OK)
        return 0;
    int bad = 0;
    for (size_t n = 0; n < in.len; n++) {
        dcm_file *f = NULL;
        ms_err err = {0};
        ms_rc rc = dcm_file_read_mem(in.p, n, NULL, &f, &err);
        if (rc != MS_OK && (err.msg[0] == 0 || f != NULL))
            bad++;
        if (rc == MS_OK) {
            ms_buf b;
            ms_buf_init(&b, NULL, 0);
            (void)dcm_dataset_json_write(dcm_file_dataset(f), NULL, &b, NULL);
            ms_buf_free(&b);
            dcm_file_free(f);
        }
    }
    ms_buf_free(&in);
    return bad;
}

TEST(test_dcm_truncation_every_byte_real_files)
{
    static const char *const files[] = {
        "test_files/rtplan.dcm",       "test_files/test-SR.dcm",  "test_files/image_dfl.dcm",
        "test_files/UN_sequence.dcm",  "test_files/JPEG2000.dcm", "charset_files/chrJapMulti.dcm",
        "test_files/ExplVR_BigEnd.dcm"};
    struct stat st;
    if (stat(PYDICOM_DATA, &st) != 0)
        SKIP("python3-pydicom test files not installed");
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", PYDICOM_DATA, files[i]);
        CHECK_EQ_INT(truncate_file(path), 0);
    }
    return 0;
}

/* The fuzz corpus (fuzz/dicom/corpus) replays through read, JSON, text and write. */
TEST(test_dcm_fuzz_corpus_replay)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/fuzz/dicom/corpus", ms_test_root());
    DIR *d = opendir(dir);
    if (d == NULL)
        SKIP("no fuzz corpus");
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        ms_buf in;
        if (ms_file_read(path, NULL, 0, &in, NULL) != MS_OK)
            continue;
        dcm_file *f = NULL;
        ms_err err = {0};
        if (dcm_file_read_mem(in.p, in.len, NULL, &f, &err) == MS_OK) {
            ms_buf b;
            ms_buf_init(&b, NULL, 0);
            (void)dcm_dataset_json_write(dcm_file_dataset(f), NULL, &b, NULL);
            (void)dcm_file_dump_text(f, 1, 1, &b, NULL);
            (void)dcm_file_write_mem(f, NULL, &b, NULL);
            ms_buf_free(&b);
            dcm_file_free(f);
        } else {
            CHECK(err.msg[0] != 0);
        }
        ms_buf_free(&in);
        n++;
    }
    closedir(d);
    CHECK(n > 0);
    return 0;
}

/* More than DCM_MAX_ELEMS elements (or items) is refused: bounded memory for tiny records. */
TEST(test_dcm_element_count_limit)
{
    for (int items = 0; items < 2; items++) {
        tb t = {0};
        if (items)
            im(&t, 0x0008, 0x1140, NULL, 0xffffffffu);
        for (size_t i = 0; i <= DCM_MAX_ELEMS; i++)
            im(&t, items ? 0xFFFE : 0x0008, items ? 0xE000 : 0x0060, NULL, 0);
        if (items)
            im(&t, 0xFFFE, 0xE0DD, NULL, 0);
        ms_err err = {0};
        CHECK(parse(&t, NULL, &err) == NULL);
        CHECK_EQ_INT(err.code, MS_E_LIMIT);
        free(t.b);
    }
    return 0;
}

/* A raw dataset whose bytes 128-131 spell "DICM" is still read from offset 0; an implicit-VR
 * element the dictionary calls SQ but holding text is kept as UN bytes, not rejected. */
TEST(test_dcm_dicm_in_data_and_text_in_sequence)
{
    tb t = {0};
    ex(&t, 0x0008, 0x0005, "CS", "ISO_IR 100", 10);
    char lo[112];
    memset(lo, 'X', sizeof lo);
    ex(&t, 0x0008, 0x0080, "LO", lo, 110); /* ends at 18 + 8 + 110 = 136 */
    memcpy(t.b + 128, "DICM", 4);
    ms_err err = {0};
    dcm_file *f = parse(&t, NULL, &err);
    CHECK(f != NULL);
    CHECK(!dcm_file_has_meta(f));
    CHECK_EQ_INT(dcm_dataset_count(dcm_file_dataset(f)), 2);
    dcm_file_free(f);
    free(t.b);
    t = (tb){0};
    im(&t, 0x0040, 0xA170, "NAMED TYPE", 10);
    im(&t, 0x0040, 0xA730, "\xfe\xff\x00\xe0\x00\x00\x00\x00", 8); /* a real SQ: one empty item */
    f = parse(&t, NULL, &err);
    CHECK(f != NULL);
    dcm_elem *e = dcm_dataset_find(dcm_file_dataset(f), DCM_TAG(0x0040, 0xA170));
    CHECK(e != NULL && dcm_elem_vr(e) == DCM_VR_UN && !dcm_elem_is_sequence(e));
    e = dcm_dataset_find(dcm_file_dataset(f), DCM_TAG(0x0040, 0xA730));
    CHECK(e != NULL && dcm_elem_is_sequence(e) && dcm_elem_item_count(e) == 1);
    dcm_file_free(f);
    free(t.b);
    return 0;
}

/* Issue 15 item 6: a deflated dataset that inflates far beyond its size (a zlib bomb: 24 MiB of
 * zeros in ~24 KiB) fails with a clear error by the ratio limit, by the size limit when the
 * ratio is raised, and is read when both allow it. */
TEST(test_dcm_deflated_bomb_bounded_by_size_and_ratio)
{
    dcm_file *f = NULL, *g = NULL;
    ms_err err = {0};
    size_t n = (size_t)24 << 20;
    uint8_t *zeros = calloc(1, n);
    CHECK(zeros != NULL);
    CHECK(dcm_file_new(NULL, &f, &err) == MS_OK);
    CHECK(dcm_dataset_set_bytes(dcm_file_dataset(f), DCM_TAG(0x0009, 0x1010), DCM_VR_OB, zeros, n,
                                &err) == MS_OK);
    free(zeros);
    dcm_write_opts wo = {.transfer_syntax = DCM_TS_DEFLATED_LE};
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(dcm_file_write_mem(f, &wo, &b, &err) == MS_OK);
    dcm_file_free(f);
    CHECK(b.len < n / 250); /* compressed past the default ratio */
    /* defaults: the ratio refuses it, and says so */
    ms_err_clear(&err);
    CHECK(dcm_file_read_mem(b.p, b.len, NULL, &g, &err) == MS_E_LIMIT);
    CHECK(strstr(err.msg, "max_inflate_ratio") != NULL && strstr(err.msg, "bomb") != NULL);
    /* the ratio raised: the size limit refuses it */
    dcm_read_opts o = {.max_inflate_ratio = 100000, .max_inflated = (size_t)8 << 20};
    ms_err_clear(&err);
    CHECK(dcm_file_read_mem(b.p, b.len, &o, &g, &err) == MS_E_LIMIT);
    CHECK(strstr(err.msg, "max_inflated") != NULL);
    /* both raised: read */
    o.max_inflated = (size_t)64 << 20;
    ms_err_clear(&err);
    CHECK(dcm_file_read_mem(b.p, b.len, &o, &g, &err) == MS_OK);
    dcm_file_free(g);
    ms_buf_free(&b);
    return 0;
}

/*
 * Unit tests of src/dicom: reading synthetic datasets built byte by byte here (explicit and
 * implicit VR, Part 10 and raw, sequences of defined and undefined length), accessors, text and
 * numbers, the dictionary, and changes (set, remove). No ../shared needed.
 */
#include <stdlib.h>
#include <string.h>

#include "medseal/dicom.h"
#include "test.h"

/* A tiny byte builder for test inputs. */
typedef struct tb {
    uint8_t b[4096];
    size_t n;
} tb;

static void put(tb *t, const void *p, size_t n)
{
    memcpy(t->b + t->n, p, n);
    t->n += n;
}

static void u16(tb *t, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(t, x, 2);
}

static void u32(tb *t, uint32_t v)
{
    u16(t, (uint16_t)v);
    u16(t, (uint16_t)(v >> 16));
}

/* Explicit VR LE element with a short (16-bit) or long header as the VR requires. */
static void ex(tb *t, uint16_t g, uint16_t e, const char *vr, const void *val, uint32_t len)
{
    u16(t, g);
    u16(t, e);
    put(t, vr, 2);
    int lng = strstr("OBODOFOLOVOWSQSVUCUNURUTUV", vr) != NULL &&
              ((strstr("OBODOFOLOVOWSQSVUCUNURUTUV", vr) - "OBODOFOLOVOWSQSVUCUNURUTUV") % 2 == 0);
    if (lng) {
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

static void part10_header(tb *t, const char *ts)
{
    memset(t->b, 0, 128);
    t->n = 128;
    put(t, "DICM", 4);
    size_t tsl = strlen(ts) + (strlen(ts) & 1);
    char tsb[80] = {0};
    memcpy(tsb, ts, strlen(ts));
    ex(t, 0x0002, 0x0000, "UL", "\0\0\0\0", 4);
    size_t gl_at = t->n - 4;
    size_t start = t->n;
    ex(t, 0x0002, 0x0001, "OB", "\0\1", 2);
    ex(t, 0x0002, 0x0010, "UI", tsb, (uint32_t)tsl);
    uint32_t gl = (uint32_t)(t->n - start);
    memcpy(t->b + gl_at, &gl, 4);
}

TEST(test_dcm_dict_lookup)
{
    const dcm_dict_entry *e = dcm_dict_lookup(DCM_TAG(0x0010, 0x0010));
    CHECK(e != NULL);
    CHECK_STR(e->keyword, "PatientName");
    CHECK_STR(e->vr, "PN");
    e = dcm_dict_lookup(DCM_TAG(0x6002, 0x3000)); /* repeating group */
    CHECK(e != NULL);
    CHECK_STR(e->keyword, "OverlayData");
    CHECK_STR(e->vr, "OB or OW");
    CHECK(dcm_dict_lookup(DCM_TAG(0x6001, 0x3000)) == NULL ||
          dcm_dict_lookup(DCM_TAG(0x6001, 0x3000)) != e);
    e = dcm_dict_by_keyword("StudyInstanceUID");
    CHECK(e != NULL);
    CHECK_EQ_INT(e->tag, DCM_TAG(0x0020, 0x000D));
    CHECK(dcm_dict_by_keyword("NoSuchKeyword") == NULL);
    e = dcm_dict_lookup(DCM_TAG(0x0028, 0x0106));
    CHECK(e != NULL);
    CHECK_STR(e->vr, "US or SS");
    return 0;
}

TEST(test_dcm_read_explicit_part10)
{
    tb t;
    part10_header(&t, DCM_TS_EXPLICIT_LE);
    ex(&t, 0x0008, 0x0008, "CS", "ORIGINAL\\PRIMARY", 16);
    ex(&t, 0x0010, 0x0010, "PN", "Doe^John", 8);
    ex(&t, 0x0018, 0x0050, "DS", " 2.50 ", 6);
    ex(&t, 0x0028, 0x0010, "US", "\x00\x02", 2);
    dcm_file *f = NULL;
    ms_err err = {0};
    CHECK(dcm_file_read_mem(t.b, t.n, NULL, &f, &err) == MS_OK);
    CHECK(dcm_file_has_meta(f));
    CHECK_STR(dcm_file_transfer_syntax(f), DCM_TS_EXPLICIT_LE);
    CHECK(dcm_file_explicit_vr(f) && !dcm_file_big_endian(f));
    dcm_dataset *ds = dcm_file_dataset(f);
    CHECK_EQ_INT(dcm_dataset_count(ds), 4);
    CHECK_EQ_INT(dcm_dataset_count(dcm_file_meta(f)), 3);
    dcm_elem *e = dcm_dataset_find(ds, DCM_TAG(0x0008, 0x0008));
    CHECK(e != NULL);
    CHECK_EQ_INT(dcm_elem_vm(e), 2);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(dcm_elem_text_at(e, 1, &b, &err) == MS_OK);
    CHECK_STR((char *)b.p, "PRIMARY");
    CHECK(dcm_elem_text_at(e, 2, &b, &err) == MS_E_NOTFOUND);
    ms_buf_reset(&b);
    CHECK(dcm_dataset_text(ds, DCM_TAG(0x0010, 0x0010), &b, &err) == MS_OK);
    CHECK_STR((char *)b.p, "Doe^John");
    double v = 0;
    CHECK(dcm_dataset_number(ds, DCM_TAG(0x0018, 0x0050), 0, &v, &err) == MS_OK);
    CHECK(v == 2.5);
    CHECK(dcm_dataset_number(ds, DCM_TAG(0x0028, 0x0010), 0, &v, &err) == MS_OK);
    CHECK(v == 512);
    CHECK(dcm_dataset_find(ds, DCM_TAG(0x0010, 0x0020)) == NULL);
    CHECK(dcm_dataset_text(ds, DCM_TAG(0x0010, 0x0020), &b, &err) == MS_E_NOTFOUND);
    CHECK_EQ_INT(dcm_elem_offset(dcm_dataset_at(ds, 0)), t.n - 8 - 8 - 8 - 6 - 8 - 2 - 8 - 16);
    ms_buf_free(&b);
    dcm_file_free(f);
    return 0;
}

TEST(test_dcm_read_implicit_raw_with_sequences)
{
    tb t = {.n = 0};
    im(&t, 0x0008, 0x0005, "ISO_IR 100", 10);
    /* (0008,1140) SQ undefined length with one undefined-length item and one defined item */
    im(&t, 0x0008, 0x1140, NULL, 0xffffffffu);
    im(&t, 0xFFFE, 0xE000, NULL, 0xffffffffu);
    im(&t, 0x0008, 0x1150, "1.2.3\0", 6);
    im(&t, 0xFFFE, 0xE00D, NULL, 0);
    im(&t, 0xFFFE, 0xE000, NULL, 14);
    im(&t, 0x0008, 0x1155, "1.2.4\0", 6);
    im(&t, 0xFFFE, 0xE0DD, NULL, 0);
    im(&t, 0x0010, 0x0010,
       "M\xfc"
       "ller^Hans",
       12);
    im(&t, 0x0028, 0x0103, "\x01\x00", 2); /* PixelRepresentation 1 */
    im(&t, 0x0028, 0x0106, "\xff\xff", 2); /* SmallestImagePixelValue: US or SS */
    dcm_file *f = NULL;
    ms_err err = {0};
    CHECK(dcm_file_read_mem(t.b, t.n, NULL, &f, &err) == MS_OK);
    CHECK(!dcm_file_has_meta(f));
    CHECK(!dcm_file_explicit_vr(f));
    dcm_dataset *ds = dcm_file_dataset(f);
    dcm_elem *sq = dcm_dataset_find(ds, DCM_TAG(0x0008, 0x1140));
    CHECK(sq != NULL && dcm_elem_is_sequence(sq));
    CHECK_EQ_INT(dcm_elem_vr(sq), DCM_VR_SQ);
    CHECK_EQ_INT(dcm_elem_item_count(sq), 2);
    dcm_dataset *it = dcm_elem_item(sq, 1);
    CHECK(dcm_dataset_parent(it) == sq);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(dcm_dataset_text(it, DCM_TAG(0x0008, 0x1155), &b, &err) == MS_OK);
    CHECK_STR((char *)b.p, "1.2.4");
    ms_buf_reset(&b);
    CHECK(dcm_dataset_text(ds, DCM_TAG(0x0010, 0x0010), &b, &err) == MS_OK);
    CHECK_STR((char *)b.p, "M\xc3\xbc"
                           "ller^Hans"); /* Latin-1 to UTF-8 */
    dcm_elem *x = dcm_dataset_find(ds, DCM_TAG(0x0028, 0x0106));
    CHECK_EQ_INT(dcm_elem_vr(x), DCM_VR_SS);
    double v;
    CHECK(dcm_elem_number(x, 0, &v, &err) == MS_OK);
    CHECK(v == -1);
    ms_buf_free(&b);
    dcm_file_free(f);
    return 0;
}

TEST(test_dcm_set_and_remove)
{
    dcm_file *f = NULL;
    ms_err err = {0};
    CHECK(dcm_file_new(NULL, &f, &err) == MS_OK);
    dcm_dataset *ds = dcm_file_dataset(f);
    CHECK(dcm_dataset_set_text(ds, DCM_TAG(0x0010, 0x0020), DCM_VR_LO, "ID1", &err) == MS_OK);
    CHECK(dcm_dataset_set_text(ds, DCM_TAG(0x0010, 0x0010), DCM_VR_PN, "Doe^J", &err) == MS_OK);
    CHECK(dcm_dataset_set_text(ds, DCM_TAG(0x0010, 0x0010), DCM_VR_PN, "Roe^R", &err) == MS_OK);
    CHECK_EQ_INT(dcm_dataset_count(ds), 2);
    CHECK_EQ_INT(dcm_elem_tag(dcm_dataset_at(ds, 0)), DCM_TAG(0x0010, 0x0010));
    dcm_elem *sq = NULL;
    CHECK(dcm_dataset_set_sequence(ds, DCM_TAG(0x0008, 0x1115), &sq, &err) == MS_OK);
    dcm_dataset *item = NULL;
    CHECK(dcm_elem_item_append(sq, &item, &err) == MS_OK);
    CHECK(dcm_dataset_set_text(item, DCM_TAG(0x0020, 0x000E), DCM_VR_UI, "1.2", &err) == MS_OK);
    CHECK_EQ_INT(dcm_elem_item_count(sq), 1);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(dcm_dataset_text(ds, DCM_TAG(0x0010, 0x0010), &b, &err) == MS_OK);
    CHECK_STR((char *)b.p, "Roe^R");
    /* non-ASCII text needs a character set that can hold it */
    CHECK(dcm_dataset_set_text(ds, DCM_TAG(0x0010, 0x0010), DCM_VR_PN,
                               "R\xc3\xb6"
                               "e",
                               &err) == MS_E_UNSUPPORTED);
    ms_err_clear(&err);
    CHECK(dcm_dataset_set_bytes(ds, DCM_TAG_SPECIFIC_CHARSET, DCM_VR_CS,
                                (const uint8_t *)"ISO_IR 192", 10, &err) == MS_OK);
    CHECK(dcm_dataset_set_text(ds, DCM_TAG(0x0010, 0x0010), DCM_VR_PN,
                               "R\xc3\xb6"
                               "e",
                               &err) == MS_OK);
    CHECK(dcm_dataset_remove(ds, DCM_TAG(0x0010, 0x0020), &err) == MS_OK);
    CHECK(dcm_dataset_remove(ds, DCM_TAG(0x0010, 0x0020), &err) == MS_E_NOTFOUND);
    CHECK(dcm_dataset_find(ds, DCM_TAG(0x0010, 0x0020)) == NULL);
    CHECK(dcm_dataset_remove(ds, DCM_TAG(0x0008, 0x1115), &err) == MS_OK);
    CHECK_EQ_INT(dcm_dataset_count(ds), 2);
    ms_buf_free(&b);
    dcm_file_free(f);
    return 0;
}

TEST(test_dcm_truncation_every_byte)
{
    tb t;
    part10_header(&t, DCM_TS_EXPLICIT_LE);
    ex(&t, 0x0008, 0x1140, "SQ", NULL, 0xffffffffu);
    im(&t, 0xFFFE, 0xE000, NULL, 0xffffffffu);
    ex(&t, 0x0008, 0x1150, "UI", "1.2.3\0", 6);
    im(&t, 0xFFFE, 0xE00D, NULL, 0);
    im(&t, 0xFFFE, 0xE0DD, NULL, 0);
    ex(&t, 0x0010, 0x0010, "PN", "Doe^John", 8);
    ex(&t, 0x7FE0, 0x0010, "OW", "\1\2\3\4", 4);
    for (size_t n = 0; n < t.n; n++) {
        dcm_file *f = NULL;
        ms_err err = {0};
        ms_rc rc = dcm_file_read_mem(t.b, n, NULL, &f, &err);
        if (rc == MS_OK) { /* a cut at an element boundary is a shorter valid dataset */
            dcm_file_free(f);
            continue;
        }
        CHECK(err.msg[0] != 0);
        CHECK(f == NULL);
    }
    return 0;
}

/*
 * Specific Character Set (0008,0005) to UTF-8 (PS3.3 C.12.1.1.2, PS3.5 6.1): single-byte sets,
 * UTF-8, GB18030/GBK and the ISO 2022 code extensions (escape sequences switching G0/G1, reset
 * at delimiters). Conversion uses glibc iconv; ASCII, Latin-1 and UTF-8 are converted here.
 * Decoding follows pydicom 2.3's charset.py (the differential test's peer): the value is split
 * into fragments at ESC, a fragment decodes with the set its escape selects (if declared),
 * single-byte sets fall back to the first set after a delimiter; JIS X 0208/0212 and GB2312
 * fragments decode whole. Bytes a set cannot map become U+FFFD.
 * Trusts: nothing in the values. Owns: nothing beyond the iconv handle of one call.
 */
#include <errno.h>
#include <iconv.h>
#include <string.h>

#include "internal.h"

enum codec {
    C_DEFAULT, /* no/ISO_IR 6: pydicom decodes as Latin-1 */
    C_LATIN1,
    C_8859_2,
    C_8859_3,
    C_8859_4,
    C_GREEK,
    C_ARABIC,
    C_HEBREW,
    C_CYRILLIC,
    C_LATIN5,
    C_THAI,
    C_SJIS,    /* ISO_IR 13 / ISO 2022 IR 13 (JIS X 0201 via Shift-JIS) */
    C_JIS0208, /* ISO 2022 IR 87 */
    C_JIS0212, /* ISO 2022 IR 159 */
    C_EUCKR,   /* ISO 2022 IR 149 */
    C_GB2312,  /* ISO 2022 IR 58 */
    C_UTF8,
    C_GB18030,
    C_GBK,
    C_NONE,
};

static const char *const iconv_names[] = {
    [C_8859_2] = "ISO-8859-2",   [C_8859_3] = "ISO-8859-3", [C_8859_4] = "ISO-8859-4",
    [C_GREEK] = "ISO-8859-7",    [C_ARABIC] = "ISO-8859-6", [C_HEBREW] = "ISO-8859-8",
    [C_CYRILLIC] = "ISO-8859-5", [C_LATIN5] = "ISO-8859-9", [C_THAI] = "TIS-620",
    [C_SJIS] = "CP932",          [C_EUCKR] = "EUC-KR",      [C_GB2312] = "EUC-CN",
    [C_GB18030] = "GB18030",     [C_GBK] = "GBK",           [C_JIS0208] = "EUC-JP",
    [C_JIS0212] = "EUC-JP",      [C_LATIN1] = "ISO-8859-1", [C_DEFAULT] = "ISO-8859-1",
    [C_UTF8] = "UTF-8",          [C_NONE] = NULL,
};

static const struct term {
    const char *name;
    enum codec c;
} terms[] = {
    {"ISO_IR 6", C_DEFAULT},         {"ISO_IR 13", C_SJIS},
    {"ISO_IR 100", C_LATIN1},        {"ISO_IR 101", C_8859_2},
    {"ISO_IR 109", C_8859_3},        {"ISO_IR 110", C_8859_4},
    {"ISO_IR 126", C_GREEK},         {"ISO_IR 127", C_ARABIC},
    {"ISO_IR 138", C_HEBREW},        {"ISO_IR 144", C_CYRILLIC},
    {"ISO_IR 148", C_LATIN5},        {"ISO_IR 166", C_THAI},
    {"ISO 2022 IR 6", C_DEFAULT},    {"ISO 2022 IR 13", C_SJIS},
    {"ISO 2022 IR 87", C_JIS0208},   {"ISO 2022 IR 100", C_LATIN1},
    {"ISO 2022 IR 101", C_8859_2},   {"ISO 2022 IR 109", C_8859_3},
    {"ISO 2022 IR 110", C_8859_4},   {"ISO 2022 IR 126", C_GREEK},
    {"ISO 2022 IR 127", C_ARABIC},   {"ISO 2022 IR 138", C_HEBREW},
    {"ISO 2022 IR 144", C_CYRILLIC}, {"ISO 2022 IR 148", C_LATIN5},
    {"ISO 2022 IR 149", C_EUCKR},    {"ISO 2022 IR 159", C_JIS0212},
    {"ISO 2022 IR 166", C_THAI},     {"ISO 2022 IR 58", C_GB2312},
    {"ISO_IR 192", C_UTF8},          {"GB18030", C_GB18030},
    {"ISO 2022 GBK", C_GBK},         {"GBK", C_GBK},
    {"ISO 2022 58", C_GB2312},
};

/* PS3.3 Tables C.12-3 and C.12-4: escape sequences. */
static const struct esc {
    const char *seq;
    enum codec c;
} escapes[] = {
    {"\x1b(B", C_DEFAULT}, {"\x1b-A", C_LATIN1}, {"\x1b)I", C_SJIS},   {"\x1b(J", C_SJIS},
    {"\x1b$B", C_JIS0208}, {"\x1b-B", C_8859_2}, {"\x1b-C", C_8859_3}, {"\x1b-D", C_8859_4},
    {"\x1b-F", C_GREEK},   {"\x1b-G", C_ARABIC}, {"\x1b-H", C_HEBREW}, {"\x1b-L", C_CYRILLIC},
    {"\x1b-M", C_LATIN5},  {"\x1b-T", C_THAI},   {"\x1b$)C", C_EUCKR}, {"\x1b$(D", C_JIS0212},
    {"\x1b$)A", C_GB2312},
};

#define MAX_SETS 8

typedef struct charsets {
    enum codec c[MAX_SETS];
    size_t n;
} charsets;

/* pydicom's spelling fixes: "ISO IR 100" -> "ISO_IR 100", "ISO-2022-IR-87" -> "ISO 2022 IR 87". */
static enum codec term_codec(const char *s, size_t n)
{
    char buf[32];
    if (n >= sizeof buf)
        return C_DEFAULT;
    memcpy(buf, s, n);
    buf[n] = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++)
            if (strcmp(terms[i].name, buf) == 0)
                return terms[i].c;
        if (n > 6 && memcmp(buf, "ISO", 3) == 0 && buf[3] != '_' && memcmp(buf + 4, "IR", 2) == 0)
            buf[3] = '_';
        else if (n > 12 && memcmp(buf, "ISO", 3) == 0 && memcmp(buf + 4, "2022", 4) == 0 &&
                 memcmp(buf + 9, "IR", 2) == 0) {
            buf[3] = buf[8] = buf[11] = ' ';
        } else
            break;
    }
    return C_DEFAULT; /* unknown: pydicom warns and uses its default */
}

static int is_standalone(enum codec c)
{
    return c == C_UTF8 || c == C_GB18030 || c == C_GBK;
}

/* Splits (0008,0005) into codecs; an empty first value is ISO_IR 6. Stand-alone sets (UTF-8,
 * GB18030, GBK) end the list when first and are dropped elsewhere, as pydicom does. */
static void parse_charsets(const uint8_t *p, size_t n, charsets *cs)
{
    cs->n = 0;
    size_t i = 0;
    while (i <= n && cs->n < MAX_SETS) {
        size_t j = i;
        while (j < n && p[j] != '\\')
            j++;
        size_t a = i, b = j;
        while (a < b && (p[a] == ' ' || p[a] == 0))
            a++;
        while (b > a && (p[b - 1] == ' ' || p[b - 1] == 0))
            b--;
        enum codec c = (b == a) ? C_DEFAULT : term_codec((const char *)p + a, b - a);
        if (!(cs->n > 0 && is_standalone(c)))
            cs->c[cs->n++] = c;
        if (cs->n == 1 && is_standalone(c))
            break;
        i = j + 1;
    }
    if (cs->n == 0)
        cs->c[cs->n++] = C_DEFAULT;
}

static void find_charsets(const dcm_dataset *ds, charsets *cs)
{
    for (const dcm_dataset *d = ds; d != NULL; d = d->parent ? d->parent->ds : NULL) {
        const dcm_elem *e = dcm_dataset_find(d, DCM_TAG_SPECIFIC_CHARSET);
        if (e != NULL && !(e->flags & DCM__F_SEQ)) {
            parse_charsets(e->value ? e->value : (const uint8_t *)"", e->len, cs);
            return;
        }
    }
    cs->n = 1;
    cs->c[0] = C_DEFAULT;
}

static ms_rc put_utf8(ms_buf *out, uint32_t cp, ms_err *err)
{
    uint8_t b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xC0 | (cp >> 6));
        b[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xE0 | (cp >> 12));
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xF0 | (cp >> 18));
        b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return ms_buf_append(out, b, n, err);
}

static ms_rc latin1(const uint8_t *p, size_t n, ms_buf *out, ms_err *err)
{
    ms_rc rc = ms_buf_reserve(out, n * 2, err);
    for (size_t i = 0; rc == MS_OK && i < n; i++) {
        if (p[i] < 0x80) {
            out->p[out->len++] = p[i];
        } else {
            out->p[out->len++] = (uint8_t)(0xC0 | (p[i] >> 6));
            out->p[out->len++] = (uint8_t)(0x80 | (p[i] & 0x3F));
        }
    }
    if (rc == MS_OK)
        out->p[out->len] = 0;
    return rc;
}

/* Length of a valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    size_t k;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        k = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        cp = c & 0x07u;
    } else
        return 0;
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((k == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return k;
}

static ms_rc utf8(const uint8_t *p, size_t n, ms_buf *out, ms_err *err)
{
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        ms_rc rc = k ? ms_buf_append(out, p + i, k, err) : put_utf8(out, 0xFFFD, err);
        if (rc)
            return rc;
        i += k ? k : 1;
    }
    return MS_OK;
}

static ms_rc via_iconv(const char *from, const uint8_t *p, size_t n, ms_buf *out, ms_err *err)
{
    iconv_t cd = iconv_open("UTF-8", from);
    if (cd == (iconv_t)-1)
        return ms_fail(err, MS_E_UNSUPPORTED, "character set %s not available in iconv", from);
    ms_rc rc = MS_OK;
    char *in = (char *)(uintptr_t)p;
    size_t left = n;
    while (left > 0 && rc == MS_OK) {
        rc = ms_buf_reserve(out, left * 4 + 8, err);
        if (rc != MS_OK)
            break;
        char *o = (char *)out->p + out->len;
        size_t room = out->cap - out->len - 1, before = room;
        size_t r = iconv(cd, &in, &left, &o, &room);
        out->len += before - room;
        if (r == (size_t)-1 && errno != E2BIG) { /* EILSEQ / EINVAL: replace one byte */
            rc = put_utf8(out, 0xFFFD, err);
            in++;
            left--;
            iconv(cd, NULL, NULL, NULL, NULL);
        }
    }
    iconv_close(cd);
    if (rc == MS_OK && out->p)
        out->p[out->len] = 0;
    return rc;
}

/* JIS X 0208 / 0212 bytes (7-bit pairs after the escape) through EUC-JP. */
static ms_rc jis(const uint8_t *p, size_t n, int x0212, ms_buf *out, ms_err *err)
{
    ms_buf tmp;
    ms_buf_init(&tmp, out->alloc, 0);
    ms_rc rc = MS_OK;
    for (size_t i = 0; rc == MS_OK && i < n; i++) {
        if (p[i] < 0x21 || p[i] > 0x7E || i + 1 >= n) { /* controls and stray bytes as ASCII */
            rc = ms_buf_append_byte(&tmp, p[i], err);
            continue;
        }
        uint8_t b[3] = {0x8F, (uint8_t)(p[i] | 0x80), (uint8_t)(p[i + 1] | 0x80)};
        rc = x0212 ? ms_buf_append(&tmp, b, 3, err) : ms_buf_append(&tmp, b + 1, 2, err);
        i++;
    }
    if (rc == MS_OK)
        rc = via_iconv("EUC-JP", tmp.p ? tmp.p : (const uint8_t *)"", tmp.len, out, err);
    ms_buf_free(&tmp);
    return rc;
}

static ms_rc decode_with(enum codec c, const uint8_t *p, size_t n, ms_buf *out, ms_err *err)
{
    switch (c) {
    case C_DEFAULT:
    case C_LATIN1:
        return latin1(p, n, out, err);
    case C_UTF8:
        return utf8(p, n, out, err);
    case C_JIS0208:
        return jis(p, n, 0, out, err);
    case C_JIS0212:
        return jis(p, n, 1, out, err);
    default:
        return via_iconv(iconv_names[c], p, n, out, err);
    }
}

static int declared(const charsets *cs, enum codec c)
{
    for (size_t i = 0; i < cs->n; i++)
        if (cs->c[i] == c)
            return 1;
    return c == C_DEFAULT;
}

static int is_delim(uint8_t b, int pn)
{
    return pn ? b == '^' : (b == 0x0d || b == 0x0a || b == 0x09 || b == 0x0c);
}

/* One fragment starting with ESC (pydicom _decode_escaped_fragment). */
static ms_rc escaped(const charsets *cs, const uint8_t *p, size_t n, int pn, ms_buf *out,
                     ms_err *err)
{
    for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
        size_t k = strlen(escapes[i].seq);
        enum codec c = escapes[i].c;
        if (n < k || memcmp(p, escapes[i].seq, k) != 0)
            continue;
        if (!declared(cs, c))
            break;
        p += k;
        n -= k;
        if (c == C_JIS0208 || c == C_JIS0212 || c == C_GB2312) /* multi-byte G0/G1: whole */
            return decode_with(c, p, n, out, err);
        size_t d = 0;
        while (d < n && !is_delim(p[d], pn))
            d++;
        ms_rc rc = decode_with(c, p, d, out, err);
        if (rc == MS_OK && d < n)
            rc = decode_with(cs->c[0], p + d, n - d, out, err);
        return rc;
    }
    return decode_with(cs->c[0], p, n, out, err); /* unknown escape: first set */
}

static ms_rc decode_value(const charsets *cs, const uint8_t *p, size_t n, int pn, ms_buf *out,
                          ms_err *err)
{
    const uint8_t *esc = memchr(p, 0x1b, n);
    if (esc == NULL)
        return decode_with(cs->c[0], p, n, out, err);
    ms_rc rc = MS_OK;
    if (esc > p)
        rc = decode_with(cs->c[0], p, (size_t)(esc - p), out, err);
    while (rc == MS_OK && esc != NULL) {
        const uint8_t *end = p + n;
        const uint8_t *next =
            (esc + 1 < end) ? memchr(esc + 1, 0x1b, (size_t)(end - esc - 1)) : NULL;
        const uint8_t *stop = next ? next : end;
        rc = escaped(cs, esc, (size_t)(stop - esc), pn, out, err);
        esc = next;
    }
    return rc;
}

static int plain_ascii(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] >= 0x80 || p[i] == 0x1b)
            return 0;
    return 1;
}

ms_rc dcm__decode_text(const dcm_dataset *ds, uint16_t vr, const uint8_t *p, size_t n, ms_buf *out,
                       ms_err *err)
{
    if (n == 0)
        return ms_buf_reserve(out, 0, err);
    if (plain_ascii(p, n)) /* every supported set is ASCII in G0 */
        return ms_buf_append(out, p, n, err);
    if (!dcm__vr_charset(vr))
        return latin1(p, n, out, err); /* pydicom: default encoding for other VRs */
    charsets cs;
    find_charsets(ds, &cs);
    return decode_value(&cs, p, n, vr == DCM_VR_PN, out, err);
}

ms_rc dcm__encode_text(const dcm_dataset *ds, uint16_t vr, const char *utf8s, ms_buf *out,
                       ms_err *err)
{
    size_t n = strlen(utf8s);
    const uint8_t *p = (const uint8_t *)utf8s;
    if (plain_ascii(p, n))
        return ms_buf_append(out, p, n, err);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0)
            return ms_fail(err, MS_E_INVAL, "set text: invalid UTF-8 at byte %zu", i);
        i += k;
    }
    charsets cs;
    find_charsets(ds, &cs);
    enum codec c = dcm__vr_charset(vr) ? cs.c[0] : C_NONE;
    if (c == C_UTF8)
        return ms_buf_append(out, p, n, err);
    if (c == C_DEFAULT || c == C_NONE || c == C_JIS0208 || c == C_JIS0212 || cs.n > 1)
        return ms_fail(err, MS_E_UNSUPPORTED,
                       "set text: characters outside the dataset's character set (set "
                       "(0008,0005) to ISO_IR 192 first)");
    iconv_t cd = iconv_open(iconv_names[c], "UTF-8");
    if (cd == (iconv_t)-1)
        return ms_fail(err, MS_E_UNSUPPORTED, "character set not available in iconv");
    ms_rc rc = ms_buf_reserve(out, n * 2 + 8, err);
    if (rc == MS_OK) {
        char *in = (char *)(uintptr_t)p, *o = (char *)out->p + out->len;
        size_t left = n, room = out->cap - out->len - 1, before = room;
        if (iconv(cd, &in, &left, &o, &room) == (size_t)-1 || left != 0)
            rc = ms_fail(err, MS_E_UNSUPPORTED,
                         "set text: characters outside the dataset's character set (set "
                         "(0008,0005) to ISO_IR 192 first)");
        else {
            out->len += before - room;
            out->p[out->len] = 0;
        }
    }
    iconv_close(cd);
    return rc;
}

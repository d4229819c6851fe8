/*
 * medseal DICOM codec (prefix dcm_): reads and writes DICOM Part 10 files and raw datasets.
 *
 * Model: a dcm_file owns its input (an mmap of the file or a copy of a memory buffer; deflated
 * datasets are inflated into an owned buffer) plus a meta dataset (group 0002) and the main
 * dataset. A dcm_dataset is a list of dcm_elem sorted by tag. Values are zero-copy: they point
 * into the owned input until changed, then into owned memory. Values are kept in the byte order
 * of the transfer syntax they were read in (dcm_file_big_endian()); the accessors below return
 * host values and UTF-8 text. Sequences hold items, each a dcm_dataset. Encapsulated pixel data
 * holds fragments (the first is the basic offset table), kept opaque.
 *
 * Trusts: nothing in the input. Every length is checked against what is left and against the
 * limits in dcm_read_opts; depth is bounded. Errors name the offset and the tag, never a value.
 * Thread safety: a dcm_file may be read from several threads; changes need exclusive access.
 * Ownership: pointers returned by accessors borrow from the dcm_file and stay valid until it is
 * freed or the element is changed or removed.
 */
#ifndef MEDSEAL_DICOM_H
#define MEDSEAL_DICOM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "medseal/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dcm_file dcm_file;
typedef struct dcm_dataset dcm_dataset;
typedef struct dcm_elem dcm_elem;

/* A tag as (group << 16 | element). */
#define DCM_TAG(g, e)  ((uint32_t)(((uint32_t)(g) << 16) | (uint32_t)(e)))
#define DCM_GROUP(t)   ((uint16_t)((t) >> 16))
#define DCM_ELEMENT(t) ((uint16_t)((t)&0xffffu))
/* Value length meaning "undefined" (sequences, items, encapsulated pixel data, CP-246 UN). */
#define DCM_UNDEFINED_LENGTH 0xffffffffu

/* A VR as its two ASCII characters, e.g. DCM_VR('P','N'). */
#define DCM_VR(a, b) ((uint16_t)(((uint16_t)(a) << 8) | (uint16_t)(b)))
enum {
    DCM_VR_AE = DCM_VR('A', 'E'),
    DCM_VR_AS = DCM_VR('A', 'S'),
    DCM_VR_AT = DCM_VR('A', 'T'),
    DCM_VR_CS = DCM_VR('C', 'S'),
    DCM_VR_DA = DCM_VR('D', 'A'),
    DCM_VR_DS = DCM_VR('D', 'S'),
    DCM_VR_DT = DCM_VR('D', 'T'),
    DCM_VR_FL = DCM_VR('F', 'L'),
    DCM_VR_FD = DCM_VR('F', 'D'),
    DCM_VR_IS = DCM_VR('I', 'S'),
    DCM_VR_LO = DCM_VR('L', 'O'),
    DCM_VR_LT = DCM_VR('L', 'T'),
    DCM_VR_OB = DCM_VR('O', 'B'),
    DCM_VR_OD = DCM_VR('O', 'D'),
    DCM_VR_OF = DCM_VR('O', 'F'),
    DCM_VR_OL = DCM_VR('O', 'L'),
    DCM_VR_OV = DCM_VR('O', 'V'),
    DCM_VR_OW = DCM_VR('O', 'W'),
    DCM_VR_PN = DCM_VR('P', 'N'),
    DCM_VR_SH = DCM_VR('S', 'H'),
    DCM_VR_SL = DCM_VR('S', 'L'),
    DCM_VR_SQ = DCM_VR('S', 'Q'),
    DCM_VR_SS = DCM_VR('S', 'S'),
    DCM_VR_ST = DCM_VR('S', 'T'),
    DCM_VR_SV = DCM_VR('S', 'V'),
    DCM_VR_TM = DCM_VR('T', 'M'),
    DCM_VR_UC = DCM_VR('U', 'C'),
    DCM_VR_UI = DCM_VR('U', 'I'),
    DCM_VR_UL = DCM_VR('U', 'L'),
    DCM_VR_UN = DCM_VR('U', 'N'),
    DCM_VR_UR = DCM_VR('U', 'R'),
    DCM_VR_US = DCM_VR('U', 'S'),
    DCM_VR_UT = DCM_VR('U', 'T'),
    DCM_VR_UV = DCM_VR('U', 'V'),
};

/* Well-known tags used across modules. */
#define DCM_TAG_TRANSFER_SYNTAX  DCM_TAG(0x0002, 0x0010)
#define DCM_TAG_SPECIFIC_CHARSET DCM_TAG(0x0008, 0x0005)
#define DCM_TAG_PIXEL_DATA       DCM_TAG(0x7FE0, 0x0010)
#define DCM_TAG_ITEM             DCM_TAG(0xFFFE, 0xE000)
#define DCM_TAG_ITEM_DELIM       DCM_TAG(0xFFFE, 0xE00D)
#define DCM_TAG_SEQ_DELIM        DCM_TAG(0xFFFE, 0xE0DD)

/* Transfer syntax UIDs */
#define DCM_TS_IMPLICIT_LE "1.2.840.10008.1.2"
#define DCM_TS_EXPLICIT_LE "1.2.840.10008.1.2.1"
#define DCM_TS_DEFLATED_LE "1.2.840.10008.1.2.1.99"
#define DCM_TS_EXPLICIT_BE "1.2.840.10008.1.2.2"

/* Hard limits (defaults; dcm_read_opts may lower them). */
#define DCM_MAX_DEPTH    32                /* nested sequences */
#define DCM_MAX_ELEM_LEN ((size_t)1 << 31) /* one value */
#define DCM_MAX_TOTAL    ((size_t)4 << 30) /* whole input, inflated size included */
#define DCM_MAX_INFLATED ((size_t)512 << 20) /* a deflated dataset's inflated size */
#define DCM_MAX_INFLATE_RATIO 250u /* inflated / compressed size (a zlib bomb reaches ~1032) */
#define DCM_INFLATE_FLOOR ((size_t)4 << 20) /* the ratio never limits below this size */
#define DCM_MAX_ELEMS    1000000           /* elements in one file */

typedef struct dcm_read_opts {
    ms_alloc *alloc;        /* NULL: process heap */
    int stop_before_pixels; /* stop at (7FE0,0010) and never read or map its bytes */
    size_t max_depth;       /* 0: DCM_MAX_DEPTH */
    size_t max_elem_len;    /* 0: DCM_MAX_ELEM_LEN */
    size_t max_total;       /* 0: DCM_MAX_TOTAL */
    int force_no_meta;      /* treat input as a raw dataset even if it looks like Part 10 */
    size_t max_inflated;    /* deflated transfer syntax: 0: DCM_MAX_INFLATED; past it MS_E_LIMIT */
    unsigned max_inflate_ratio; /* 0: DCM_MAX_INFLATE_RATIO; inflated bytes per compressed byte
                                   (never limiting below DCM_INFLATE_FLOOR); past it MS_E_LIMIT */
} dcm_read_opts;

/* Reads a Part 10 file, or a raw dataset without meta (the transfer syntax is then detected from
 * the first element: implicit or explicit VR, little or big endian). The file is mapped, not
 * copied. OUT: *out, owned (free with dcm_file_free). opts may be NULL. */
ms_rc dcm_file_read(const char *path, const dcm_read_opts *opts, dcm_file **out, ms_err *err);
/* As dcm_file_read over memory; the bytes are copied into memory from opts->alloc. */
ms_rc dcm_file_read_mem(const uint8_t *buf, size_t len, const dcm_read_opts *opts, dcm_file **out,
                        ms_err *err);
/* A new empty file: empty meta and dataset, explicit VR little endian. Fill it with the setters
 * below and write it (tests, synthetic data). OUT: *out, owned. */
ms_rc dcm_file_new(ms_alloc *alloc, dcm_file **out, ms_err *err);
/* Frees everything, wiping owned value memory. NULL is a no-op. */
void dcm_file_free(dcm_file *f);

/* The meta information (group 0002); an empty dataset for a raw dataset. Borrowed. */
dcm_dataset *dcm_file_meta(dcm_file *f);
/* The main dataset. Borrowed. */
dcm_dataset *dcm_file_dataset(dcm_file *f);
/* Transfer syntax UID the dataset was encoded in (NUL-terminated, padding removed). */
const char *dcm_file_transfer_syntax(const dcm_file *f);
int dcm_file_big_endian(const dcm_file *f);
int dcm_file_explicit_vr(const dcm_file *f);
/* 1 when the input had the 128-byte preamble + "DICM" (Part 10), 0 for a raw dataset. */
int dcm_file_has_meta(const dcm_file *f);
/* The open file descriptor of the mapped source (for copy_file_range) or -1 (memory input). */
int dcm_file_source_fd(const dcm_file *f);

/* ---- datasets ---- */
size_t dcm_dataset_count(const dcm_dataset *ds);
/* The i-th element in tag order (i < count), borrowed. */
dcm_elem *dcm_dataset_at(const dcm_dataset *ds, size_t i);
/* Element with this tag, or NULL. Binary search. */
dcm_elem *dcm_dataset_find(const dcm_dataset *ds, uint32_t tag);
/* The element of a sequence this dataset is an item of, or NULL for a top-level dataset. */
dcm_elem *dcm_dataset_parent(const dcm_dataset *ds);
/* The file the dataset belongs to. */
dcm_file *dcm_dataset_file(const dcm_dataset *ds);

/* ---- elements ---- */
uint32_t dcm_elem_tag(const dcm_elem *e);
/* The VR: explicit from the file; for implicit VR from the dictionary (UN when unknown); for
 * private tags from the dictionary only for known private creators, else UN. As pydicom reads
 * them: an explicit UN of a known tag takes the dictionary's VR (public tags: values under
 * 64 KiB; private tags: through their creator), a UN of undefined length is a sequence (SQ,
 * CP-246), private creators are LO, an explicit VR that is not a VR is UN, and ambiguous
 * dictionary VRs (US or SS, OB or OW) are resolved from PixelRepresentation etc. */
uint16_t dcm_elem_vr(const dcm_elem *e);
/* The VR as a two-character string (static storage). */
const char *dcm_vr_str(uint16_t vr);
/* 1 when values of this VR are character strings (AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI
 * UR UT), else 0. */
int dcm_vr_is_text(uint16_t vr);
/* Value length in bytes as stored (DCM_UNDEFINED_LENGTH for undefined-length sequences). */
uint32_t dcm_elem_length(const dcm_elem *e);
/* Raw value bytes in the file's byte order (NULL + 0 for sequences and encapsulated data).
 * Borrowed. */
const uint8_t *dcm_elem_bytes(const dcm_elem *e, size_t *len);
/* Byte offset of the element's header in the (inflated) input: for error messages and for
 * copy_file_range of pixel data. */
size_t dcm_elem_offset(const dcm_elem *e);
/* Byte offset of the value in the source file, or SIZE_MAX if the value is not stored verbatim
 * in the file (deflated input, changed value). For memory input: the offset in that buffer. */
size_t dcm_elem_value_file_offset(const dcm_elem *e);

int dcm_elem_is_sequence(const dcm_elem *e);             /* SQ, or UN read as a sequence (CP-246) */
size_t dcm_elem_item_count(const dcm_elem *e);           /* 0 for non-sequences */
dcm_dataset *dcm_elem_item(const dcm_elem *e, size_t i); /* borrowed */
int dcm_elem_is_encapsulated(const dcm_elem *e);         /* pixel data with fragments */
size_t dcm_elem_fragment_count(const dcm_elem *e);       /* includes the basic offset table */
const uint8_t *dcm_elem_fragment(const dcm_elem *e, size_t i, size_t *len);
/* The dataset holding this element. */
dcm_dataset *dcm_elem_dataset(const dcm_elem *e);

/* Value multiplicity of a text/number value (backslash-separated for strings, len/size for
 * binary numbers). 0 for an empty value. */
size_t dcm_elem_vm(const dcm_elem *e);

/* The whole value of a text VR decoded to UTF-8 with the Specific Character Set in force for
 * this element's dataset (inherited from enclosing datasets), trailing padding removed (and
 * leading spaces for VRs where they are not significant). Appends to out. Works on any VR whose
 * value is text (AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT). */
ms_rc dcm_elem_text(const dcm_elem *e, ms_buf *out, ms_err *err);
/* The idx-th value (0-based) of a multi-valued text VR, decoded as above. MS_E_NOTFOUND if the
 * element has fewer values. */
ms_rc dcm_elem_text_at(const dcm_elem *e, size_t idx, ms_buf *out, ms_err *err);
/* The idx-th numeric value of DS, IS, FL, FD, SS, US, SL, UL, SV, UV, OF, OD, (AT as integer).
 * MS_E_FORMAT for a text number that does not parse. */
ms_rc dcm_elem_number(const dcm_elem *e, size_t idx, double *out, ms_err *err);

/* Convenience on a dataset: the text (UTF-8) or idx-th number of `tag`; MS_E_NOTFOUND when the
 * element is absent or empty. */
ms_rc dcm_dataset_text(const dcm_dataset *ds, uint32_t tag, ms_buf *out, ms_err *err);
ms_rc dcm_dataset_number(const dcm_dataset *ds, uint32_t tag, size_t idx, double *out, ms_err *err);

/* ---- changes (used by the de-identifier) ---- */

/* Removes the element with this tag (and all it contains). MS_E_NOTFOUND if absent. Pointers to
 * the element and its items become invalid. */
ms_rc dcm_dataset_remove(dcm_dataset *ds, uint32_t tag, ms_err *err);
/* Replaces (or inserts) the value of `tag` with these bytes, copied, in the file's byte order,
 * with this VR. Odd lengths are padded on write per VR. Turns a sequence into a plain element. */
ms_rc dcm_dataset_set_bytes(dcm_dataset *ds, uint32_t tag, uint16_t vr, const uint8_t *value,
                            size_t len, ms_err *err);
/* Sets a text value given in UTF-8. If the dataset's character set cannot encode it, the caller
 * should set (0008,0005) to ISO_IR 192 first (dcm_dataset_set_bytes). ASCII is always safe. */
ms_rc dcm_dataset_set_text(dcm_dataset *ds, uint32_t tag, uint16_t vr, const char *utf8,
                           ms_err *err);
/* Inserts an empty sequence (or empties an existing one) and returns it. */
ms_rc dcm_dataset_set_sequence(dcm_dataset *ds, uint32_t tag, dcm_elem **out, ms_err *err);
/* Appends a new empty item to a sequence element. OUT: *item, borrowed. */
ms_rc dcm_elem_item_append(dcm_elem *seq, dcm_dataset **item, ms_err *err);

/* ---- writing ---- */

typedef struct dcm_write_opts {
    const char *transfer_syntax; /* NULL: explicit VR LE; DCM_TS_* or "original" */
    int undefined_seq_lengths;   /* 1: sequences and items with undefined length + delimiters */
    int overwrite;               /* write: replace an existing file */
    unsigned mode;               /* write: file mode, 0 = 0644 */
    int use_copy_file_range;     /* write: copy unchanged pixel data from the source file in the
                                  * kernel when the byte order allows it */
} dcm_write_opts;

/* Serialises meta + dataset as a Part 10 stream (preamble, DICM, group 0002 with a correct
 * (0002,0000) group length, then the dataset in the chosen syntax, deflating if asked). The meta's
 * TransferSyntaxUID is set to the syntax written. Appends to out. */
ms_rc dcm_file_write_mem(const dcm_file *f, const dcm_write_opts *opts, ms_buf *out, ms_err *err);
/* As above to a file: temporary file in the target folder, fsync, rename. Refuses to replace an
 * existing file unless opts->overwrite. */
ms_rc dcm_file_write(const dcm_file *f, const char *path, const dcm_write_opts *opts, ms_err *err);

/* ---- DICOM JSON (PS3.18 F.2) ---- */

typedef struct dcm_json_opts {
    int include_pixels; /* include (7FE0,0010) as InlineBinary (off by default) */
    int include_meta;   /* prepend group 0002 (non-standard; off by default) */
} dcm_json_opts;

/* The dataset as a DICOM JSON object: {"00100010": {"vr": "PN", "Value": [{"Alphabetic": ...}]}}.
 * Binary VRs as InlineBinary base64 (little endian). OUT: *out, a new reference. */
ms_rc dcm_dataset_to_json(const dcm_dataset *ds, const dcm_json_opts *opts, json_t **out,
                          ms_err *err);

/* As dcm_dataset_to_json, streamed as compact JSON text appended to out (no tree is built;
 * what `medseal dump` prints). */
ms_rc dcm_dataset_json_write(const dcm_dataset *ds, const dcm_json_opts *opts, ms_buf *out,
                             ms_err *err);

/* A one-line-per-element text view like dcmdump's: "(0010,0010) PN [Doe^John]  # 8, 1
 * PatientName", items and sequences indented. Meta first when include_meta. Values are shown
 * (this is for the user's own terminal, never for logs). Appends to out. */
ms_rc dcm_file_dump_text(dcm_file *f, int include_meta, int include_pixels, ms_buf *out,
                         ms_err *err);

/* ---- dictionary (PS3.6, generated at build time) ---- */

typedef struct dcm_dict_entry {
    uint32_t tag;   /* for repeating groups, the first tag of the range */
    uint32_t mask;  /* bits that must match: 0xffffffff exact; 0xff00ffff for (60xx,0010) */
    const char *vr; /* "US", or "US or SS", "OB or OW" as PS3.6 writes it */
    const char *vm; /* "1", "1-n", "2-2n" ... */
    const char *keyword;
    int retired;
} dcm_dict_entry;

/* Entry for a public tag (repeating groups handled), or NULL. Static storage. */
const dcm_dict_entry *dcm_dict_lookup(uint32_t tag);
/* Entry by keyword, or NULL. */
const dcm_dict_entry *dcm_dict_by_keyword(const char *keyword);

#ifdef __cplusplus
}
#endif
#endif

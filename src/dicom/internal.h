/*
 * Internals of the DICOM codec (src/dicom): the concrete file, dataset and element structures
 * behind the opaque types of include/medseal/dicom.h, and the functions the module's files share
 * (prefix dcm__). Nothing outside src/dicom (and its tests) includes this.
 *
 * Ownership: a dcm_file owns its input bytes (mapping, prefix read or copy), the inflated
 * dataset of a deflated file, an arena holding every element and dataset record, and the owned
 * value blocks of changed elements. Element values borrow from the input until changed.
 */
#ifndef MEDSEAL_DICOM_INTERNAL_H
#define MEDSEAL_DICOM_INTERNAL_H

#include <stdint.h>

#include "medseal/core.h"
#include "medseal/dicom.h"

/* ---- dictionary tables (generated: gen/dicom/dict_gen.c) ---- */
struct dcm__dict_range {
    uint16_t glo, ghi;
    uint8_t gpar; /* 0 even groups, 1 odd, 2 both */
    uint16_t elo, ehi;
    uint8_t epar;
};
extern const dcm_dict_entry dcm__dict[];
extern const size_t dcm__dict_n;
extern const size_t dcm__dict_n_exact;
extern const uint16_t dcm__dict_vr[];
extern const struct dcm__dict_range dcm__dict_range[];
extern const uint16_t dcm__dict_kw[];
/* Private dictionary (pydicom's, from GDCM): sorted by creator (byte order). kind 0: exact
 * element; 1: (gggg,xxEE); 2: (GGxx,xxEE) with group's high byte in group. */
struct dcm__priv_entry {
    const char *creator;
    uint16_t group, elem;
    uint8_t kind;
    uint16_t vr;
};
extern const struct dcm__priv_entry dcm__priv[];
extern const size_t dcm__priv_n;
/* VR of a private tag for this creator (value, trimmed), or 0 when not in the dictionary. */
uint16_t dcm__private_vr(const char *creator, size_t n, uint32_t tag);

/* Pseudo VR codes of ambiguous dictionary entries (DCMTK's lower-case codes), resolved by the
 * reader as pydicom does (PS3.5 A.1, PS3.3 C.7.6.3). */
#define DCM__VR_XS DCM_VR('x', 's') /* US or SS */
#define DCM__VR_OX DCM_VR('o', 'x') /* OB or OW */
#define DCM__VR_PX DCM_VR('p', 'x') /* pixel data: OB or OW */
#define DCM__VR_LT DCM_VR('l', 't') /* US or SS or OW (LUT data) */
#define DCM__VR_NA DCM_VR('n', 'a') /* items and delimiters */

/* Numeric VR code of a public tag from the dictionary (pseudo codes for ambiguous ones), or 0. */
uint16_t dcm__dict_vr_of(uint32_t tag);
/* Index of the dictionary entry for tag or -1. */
long dcm__dict_index(uint32_t tag);

/* ---- VR properties ---- */
int dcm__vr_known(uint16_t vr);
int dcm__vr_long_header(uint16_t vr); /* explicit VR with 2 reserved bytes + 32-bit length */
int dcm__vr_is_binary(uint16_t vr);   /* OB OD OF OL OV OW UN: InlineBinary in JSON */
int dcm__vr_charset(uint16_t vr);     /* text affected by Specific Character Set */
size_t dcm__vr_unit(uint16_t vr);     /* byte size of one binary number (1 for OB/UN) */
uint8_t dcm__vr_pad(uint16_t vr);     /* padding byte for odd lengths */

/* ---- arena: many small records freed together with the file ---- */
struct dcm__arena_blk {
    struct dcm__arena_blk *next;
    size_t used, cap;
    /* payload follows, max_align_t aligned */
};

/* ---- elements, datasets, files ---- */
enum {
    DCM__F_OWNED = 1,    /* value points into an ms_malloc block owned by the element */
    DCM__F_SEQ = 2,      /* sequence (SQ, or UN read as SQ) */
    DCM__F_ENCAP = 4,    /* encapsulated pixel data (fragments) */
    DCM__F_UNDEF = 8,    /* read with undefined length */
    DCM__F_CHANGED = 16, /* value set after reading: not in the source file verbatim */
    DCM__F_AMBIG = 32,   /* VR came from an ambiguous dictionary entry */
};

struct dcm_elem {
    uint32_t tag;
    uint16_t vr;
    uint16_t flags;
    uint32_t length; /* as stored (DCM_UNDEFINED_LENGTH when undefined) */
    const uint8_t *value;
    size_t len;
    size_t offset;       /* header offset in the (inflated) input */
    size_t file_off;     /* value offset in the source file, SIZE_MAX if not verbatim */
    dcm_dataset *ds;     /* the dataset holding this element */
    dcm_dataset **items; /* sequences: arena array */
    size_t nitems, items_cap;
    ms_slice *frags; /* encapsulated: arena array (first = basic offset table) */
    size_t nfrags, frags_cap;
};

struct dcm_dataset {
    dcm_file *file;
    dcm_elem *parent;
    dcm_elem **elems; /* sorted by tag; ms_malloc block */
    size_t n, cap;
    size_t offset;
    int undef_len;     /* item read with undefined length */
    uint32_t item_len; /* item length as read (0 for items made by the setters) */
};

struct dcm_file {
    ms_alloc *alloc;
    ms_map map;   /* mapped source (path input), or len 0 */
    uint8_t *own; /* owned input bytes (memory input or prefix read), ms_malloc */
    size_t own_len;
    uint8_t *inflated; /* deflated dataset, inflated (ms_malloc) */
    size_t inflated_len;
    int src_fd; /* source fd for copy_file_range, -1 for memory input */
    struct dcm__arena_blk *arena;
    dcm_dataset meta;
    dcm_dataset ds;
    char ts[68];
    uint8_t preamble[128]; /* the input's preamble (written back unchanged) */
    int has_preamble;
    int big_endian, explicit_vr, has_meta, deflated;
    int truncated_at_pixels; /* stop_before_pixels stopped at (7FE0,0010) */
    size_t nelems;
};

void *dcm__arena_alloc(dcm_file *f, size_t n);
void dcm__dataset_init(dcm_dataset *ds, dcm_file *f, dcm_elem *parent);
/* Frees what the dataset owns (element arrays and owned values, recursively). */
void dcm__dataset_clear(dcm_dataset *ds);
/* Appends a parsed element (keeps order; out-of-order tags are inserted, a duplicate replaces
 * the earlier one as pydicom does). */
ms_rc dcm__dataset_add(dcm_dataset *ds, dcm_elem *e, ms_err *err);
dcm_elem *dcm__elem_new(dcm_file *f, uint32_t tag, uint16_t vr);
ms_rc dcm__elem_add_item(dcm_elem *seq, dcm_dataset **item, ms_err *err);
ms_rc dcm__elem_add_frag(dcm_elem *e, const uint8_t *p, size_t n, ms_err *err);
void dcm__elem_release(dcm_file *f, dcm_elem *e);

/* Resolves the ambiguous VRs left by the reader (after the whole file is read). */
void dcm__resolve_ambiguous(dcm_dataset *ds);

/* ---- values (value.c) ---- */
/* Trims padding per VR: trailing spaces/NULs; leading spaces where insignificant. */
void dcm__trim(uint16_t vr, const uint8_t **p, size_t *n);
/* Parses a DS/IS value (spaces trimmed; digits, sign, point, exponent): 0 or -1. */
int dcm__parse_number(const uint8_t *p, size_t n, double *out);
/* One binary number of this VR at p in the given byte order. */
double dcm__binary_number(uint16_t vr, const uint8_t *p, int big);

/* ---- character sets (charset.c) ---- */
/* Decodes value bytes of a text VR to UTF-8 using the Specific Character Set in force for ds.
 * Appends to out. */
ms_rc dcm__decode_text(const dcm_dataset *ds, uint16_t vr, const uint8_t *p, size_t n, ms_buf *out,
                       ms_err *err);
/* Encodes UTF-8 to the dataset's character set for setters (ASCII/UTF-8/Latin-1 family). */
ms_rc dcm__encode_text(const dcm_dataset *ds, uint16_t vr, const char *utf8, ms_buf *out,
                       ms_err *err);

#endif

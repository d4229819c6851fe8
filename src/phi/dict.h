/*
 * The scrubber's dictionaries: one static hash table (generated at build time by
 * scripts/phi-gendict.py from data/names/) of Census/SSA first names and surnames with their
 * frequencies, SCOWL common words with their frequency level, and USPS street suffixes; plus the
 * surrogate lists. Read-only data: no state, no allocation.
 * Trusts: the generated tables (they come from the repository).
 */
#ifndef MEDSEAL_PHI_DICT_H
#define MEDSEAL_PHI_DICT_H

#include <stddef.h>
#include <stdint.h>

#define PHI_DICT_SUFFIX 1u  /* a USPS street suffix */
#define PHI_DICT_FIRST  2u  /* a Census/SSA first name */
#define PHI_DICT_LAST   4u  /* a Census surname */
#define PHI_DICT_WORD   8u  /* a SCOWL common word (level in word_level, lower = more common) */
#define PHI_DICT_PLACE  16u /* a US city or health institution (words joined by one space) */
#define PHI_DICT_PREFIX 32u /* the first words of a longer place */

#define PHI_DICT_INLINE 16 /* words shorter than this are stored in their entry */

/* One slot of the generated open-addressing table (linear probing, 2^k slots, len 0 = empty):
 * 32 bytes and the table 32-byte aligned, so a lookup that finds its word reads one cache line
 * for the hash, the data and the word. */
struct phi__dict_ent {
    uint32_t hash; /* phi__whash of the word */
    uint32_t off;  /* the word in phi__dict_pool, when len >= PHI_DICT_INLINE */
    uint8_t len;
    uint8_t word_level;
    uint8_t flags;
    uint16_t first; /* frequency in 1/1000 % (0 = rare or absent) */
    uint16_t last;
    char w[PHI_DICT_INLINE]; /* the word (lower case, NUL-padded), when len < PHI_DICT_INLINE */
};

extern const char phi__dict_pool[];
extern const struct phi__dict_ent phi__dict_ents[]; /* the table itself */
extern const size_t phi__dict_mask;
extern const char *const phi__sur_first[];
extern const size_t phi__sur_first_n;
extern const char *const phi__sur_last[];
extern const size_t phi__sur_last_n;
extern const char *const phi__sur_street[];
extern const size_t phi__sur_street_n;

uint32_t phi__whash(const char *s, size_t n);
/* Looks up s[0..n) case-insensitively (ASCII letters only); NULL when absent. */
const struct phi__dict_ent *phi__dict_find(const char *s, size_t n);
/* The same with hv = phi__whash(s, n) (text.c; the generator's hash) already computed: the
 * tokenizer hashes every word once. */
const struct phi__dict_ent *phi__dict_find_h(const char *s, size_t n, uint32_t hv);
/* The same for an ASCII word of n < 16 bytes given as its folded bytes, zero-padded to 16, in
 * two little-endian words (the tokenizer has them): no byte loop. */
const struct phi__dict_ent *phi__dict_find_c(size_t n, uint32_t hv, const uint64_t ck[2]);

#endif

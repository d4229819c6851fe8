/*
 * medseal core (prefix ms_): error codes, allocator with wipe-on-free and a ceiling, secure
 * growable buffers, a bounded reader, constant-time compare, encoders, whole-file I/O with atomic
 * replace, site key files and the keyed pseudonym primitives shared by the DICOM de-identifier and
 * the text scrubber (so a note and its study get the same patient pseudonym and date offset).
 *
 * Trusts: nothing it is given; every length is checked before use. Owns: only what it allocates.
 * Thread safety: functions are reentrant; an ms_alloc may be shared between threads (its counters
 * are atomic).
 */
#ifndef MEDSEAL_CORE_H
#define MEDSEAL_CORE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MS_VERSION "0.1.0"

/* ---- errors ------------------------------------------------------------------------------- */

/* Append only: never renumber or remove a value. ms_rc_name() gives stable strings. */
typedef enum ms_rc {
    MS_OK = 0,
    MS_E_INVAL,       /* caller broke the API contract / bad argument */
    MS_E_TRUNC,       /* input ended before a declared length */
    MS_E_LIMIT,       /* input exceeds a configured maximum */
    MS_E_FORMAT,      /* well-sized but malformed */
    MS_E_NOMEM,       /* allocation failed or memory ceiling reached */
    MS_E_IO,          /* operating system I/O error */
    MS_E_NOTFOUND,    /* requested item absent */
    MS_E_EXISTS,      /* target exists and overwriting was not allowed */
    MS_E_UNSUPPORTED, /* valid input using a feature not implemented */
    MS_E_CRYPTO,      /* cryptographic failure (bad MAC, bad signature, RNG) */
    MS_E_VERIFY,      /* verification failed (policy, chain, integrity) */
    MS_E_AUTH,        /* authentication/authorisation refused */
    MS_E_INTERNAL,    /* a bug: an invariant did not hold */
} ms_rc;

#define MS_ERR_MSG_MAX 160

/* An error record. The first error recorded wins (sticky); the message never holds PHI: tags,
 * offsets, lengths and counts only, never values. */
typedef struct ms_err {
    ms_rc code;
    char msg[MS_ERR_MSG_MAX];
} ms_err;

/* Records `code` and a formatted message in `err` (may be NULL) unless one is already recorded.
 * Never allocates. Returns `code`, so callers can write `return ms_fail(err, ...)`. */
ms_rc ms_fail(ms_err *err, ms_rc code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
ms_rc ms_vfail(ms_err *err, ms_rc code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Clears a recorded error. */
void ms_err_clear(ms_err *err);
/* Stable name of a code, e.g. "MS_E_TRUNC"; "MS_E_?" for unknown values. */
const char *ms_rc_name(ms_rc rc);

/* ---- memory ------------------------------------------------------------------------------- */

/* Overwrites n bytes with zeros in a way the compiler may not elide. */
void ms_memzero(void *p, size_t n);
/* Constant-time equality of two n-byte buffers: 1 equal, 0 not. CT: only n leaks. */
int ms_ct_equal(const void *a, const void *b, size_t n);

/* Size arithmetic that reports overflow: returns 0 and writes *out on success, -1 on overflow. */
int ms_size_add(size_t a, size_t b, size_t *out);
int ms_size_mul(size_t a, size_t b, size_t *out);

/* An allocator: a backend (plain heap by default; the locked-page backend of src/core/secmem.c for
 * PHI in the server), accounting, a ceiling and failure injection for tests. Every block is wiped
 * before it is released. Zero-initialise, then optionally set fields; or use NULL for the default
 * process heap (no ceiling). */
typedef struct ms_alloc {
    void *(*backend_alloc)(void *ud, size_t n); /* NULL: heap */
    void (*backend_free)(void *ud, void *p, size_t n);
    void *ud;
    size_t limit;         /* 0: no ceiling; else allocations beyond it fail with NULL */
    long fail_at;         /* tests: >0 makes the fail_at-th allocation (1-based) fail */
    atomic_size_t in_use; /* bytes currently allocated (payload) */
    atomic_size_t peak;
    atomic_long count; /* allocations attempted */
} ms_alloc;

/* Returns owned zeroed memory of n bytes (free with ms_free), or NULL (ceiling, injected failure,
 * n == 0 is allowed and returns a valid minimal block). `a` may be NULL. */
void *ms_malloc(ms_alloc *a, size_t n);
/* As ms_malloc for nmemb*size with overflow check. */
void *ms_calloc(ms_alloc *a, size_t nmemb, size_t size);
/* Grows or shrinks: allocate, copy, wipe old, free old (never a bare realloc). On failure returns
 * NULL and leaves p untouched and owned by the caller. */
void *ms_realloc(ms_alloc *a, void *p, size_t n);
/* Wipes and frees; NULL is a no-op. `a` must be the allocator p came from. */
void ms_free(ms_alloc *a, void *p);
/* Usable size of a block from ms_malloc (0 for NULL). */
size_t ms_alloc_size(const void *p);
/* Returns an owned NUL-terminated copy of s[0..n) (s need not be terminated). */
char *ms_strndup(ms_alloc *a, const char *s, size_t n);
char *ms_strdup(ms_alloc *a, const char *s);

/* ---- secure growable buffer ------------------------------------------------------------------ */

/* A byte buffer for PHI or secrets: wiped on growth and on free. Always NUL-terminated after its
 * len bytes (so text can be used as a C string). `max` (0 = none) caps len: growth past it fails
 * with MS_E_LIMIT. Initialise with ms_buf_init. */
typedef struct ms_buf {
    ms_alloc *alloc;
    uint8_t *p;
    size_t len;
    size_t cap;
    size_t max;
} ms_buf;

void ms_buf_init(ms_buf *b, ms_alloc *alloc, size_t max);
/* Ensures room for `extra` more bytes plus the terminator. */
ms_rc ms_buf_reserve(ms_buf *b, size_t extra, ms_err *err);
ms_rc ms_buf_append(ms_buf *b, const void *data, size_t n, ms_err *err);
ms_rc ms_buf_append_str(ms_buf *b, const char *s, ms_err *err);
ms_rc ms_buf_append_byte(ms_buf *b, uint8_t c, ms_err *err);
ms_rc ms_buf_printf(ms_buf *b, ms_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets len to 0 and wipes the content (keeps capacity). */
void ms_buf_reset(ms_buf *b);
/* Wipes and frees the storage; the struct may be reused after ms_buf_init. */
void ms_buf_free(ms_buf *b);
/* Transfers ownership of the storage to the caller (free with ms_free(b->alloc, p)); *len_out gets
 * the length. Leaves b empty. Returns NULL if nothing was allocated. */
uint8_t *ms_buf_steal(ms_buf *b, size_t *len_out);

/* ---- borrowed slices and the bounded reader ------------------------------------------------- */

/* Borrowed bytes: valid as long as the owner named by the function that returned it. */
typedef struct ms_slice {
    const uint8_t *p;
    size_t len;
} ms_slice;

/* A cursor over borrowed input. Compare lengths with `left`, never compute p + n first. */
typedef struct ms_rd {
    const uint8_t *p;
    size_t left;
} ms_rd;

ms_rc ms_rd_take(ms_rd *r, size_t n, const uint8_t **out);
ms_rc ms_rd_skip(ms_rd *r, size_t n);
ms_rc ms_rd_u8(ms_rd *r, uint8_t *v);
ms_rc ms_rd_u16le(ms_rd *r, uint16_t *v);
ms_rc ms_rd_u16be(ms_rd *r, uint16_t *v);
ms_rc ms_rd_u32le(ms_rd *r, uint32_t *v);
ms_rc ms_rd_u32be(ms_rd *r, uint32_t *v);
ms_rc ms_rd_u64le(ms_rd *r, uint64_t *v);
ms_rc ms_rd_u64be(ms_rd *r, uint64_t *v);

uint16_t ms_load_u16le(const uint8_t *p);
uint16_t ms_load_u16be(const uint8_t *p);
uint32_t ms_load_u32le(const uint8_t *p);
uint32_t ms_load_u32be(const uint8_t *p);
uint64_t ms_load_u64le(const uint8_t *p);
void ms_store_u16le(uint8_t *p, uint16_t v);
void ms_store_u32le(uint8_t *p, uint32_t v);

/* ---- listen addresses ------------------------------------------------------------------------ */

struct sockaddr_in;
/* Parses "IPv4:PORT" (port 0 = any free port) into *sa. Errors (MS_E_FORMAT) start with `what`,
 * the name of the flag or key, and never contain the value. */
ms_rc ms_parse_listen(const char *what, const char *listen, struct sockaddr_in *sa, ms_err *err);
void ms_store_u64le(uint8_t *p, uint64_t v);
void ms_store_u16be(uint8_t *p, uint16_t v);
void ms_store_u32be(uint8_t *p, uint32_t v);
void ms_store_u64be(uint8_t *p, uint64_t v);

/* ---- encoders ------------------------------------------------------------------------------- */

/* Standard base64 (RFC 4648, with padding). Appends to out. */
ms_rc ms_b64_encode(const uint8_t *in, size_t n, ms_buf *out, ms_err *err);
/* Decodes standard base64; whitespace is skipped; bad characters or padding give MS_E_FORMAT. */
ms_rc ms_b64_decode(const char *in, size_t n, ms_buf *out, ms_err *err);
/* Lower-case hex. Appends to out. */
ms_rc ms_hex_encode(const uint8_t *in, size_t n, ms_buf *out, ms_err *err);
/* Decodes exactly outlen bytes from 2*outlen hex characters. */
ms_rc ms_hex_decode(const char *in, size_t n, uint8_t *out, size_t outlen, ms_err *err);

/* ---- files ---------------------------------------------------------------------------------- */

/* Opens a regular file read-only and checks its size against max (0 = 1 GiB). OUT: *fd (close
 * it) and *size, written only on success. */
ms_rc ms_file_open_regular(const char *path, size_t max, int *fd, size_t *size, ms_err *err);

/* Reads a whole regular file into a buffer from `alloc` (max bytes at most, 0 = 1 GiB). */
ms_rc ms_file_read(const char *path, ms_alloc *alloc, size_t max, ms_buf *out, ms_err *err);

/* A read-only mapping of a whole file. */
typedef struct ms_map {
    const uint8_t *p;
    size_t len;
    int fd; /* kept open for copy_file_range users; -1 when closed */
} ms_map;
ms_rc ms_map_open(const char *path, size_t max, ms_map *m, ms_err *err);
void ms_map_close(ms_map *m);

/* Writes all n bytes to fd, retrying on EINTR and short writes: 0, or -1 with errno set. */
int ms_write_all(int fd, const void *p, size_t n);

/* Writes data to `path` atomically: a temporary file in the same folder, fsync, rename, fsync of
 * the folder. `mode` e.g. 0600. If !overwrite and path exists: MS_E_EXISTS. */
ms_rc ms_file_write_atomic(const char *path, const void *data, size_t n, unsigned mode,
                           int overwrite, ms_err *err);

/* ---- randomness and keys -------------------------------------------------------------------- */

#define MS_KEY_LEN 32

/* Fills buf with cryptographically secure random bytes (OpenSSL RAND_bytes / getrandom). */
ms_rc ms_random(void *buf, size_t n, ms_err *err);

/* A site key file holds 32 random bytes as 64 hex characters and a newline (`medseal keygen`).
 * Refuses a file that is not exactly that (surrounding whitespace allowed). */
ms_rc ms_keyfile_read(const char *path, uint8_t key[MS_KEY_LEN], ms_err *err);
/* Formats a key as a key file's text (65 bytes + NUL). */
void ms_keyfile_format(const uint8_t key[MS_KEY_LEN], char out[MS_KEY_LEN * 2 + 2]);

/* HMAC-SHA-256 over the concatenation of up to 4 parts (NULL parts skipped). */
ms_rc ms_hmac_sha256(const uint8_t *key, size_t keylen, const void *p1, size_t n1, const void *p2,
                     size_t n2, uint8_t out[32], ms_err *err);

/* HMAC-SHA-256 under one key for many short messages: the key's two pad blocks are hashed once
 * (ms_hmac_pre_key), and each MAC copies those states (a struct copy, no allocation, no provider
 * dispatch). Same output as ms_hmac_sha256. The storage holds two OpenSSL SHA256_CTX; wipe it
 * with ms_memzero when done. */
typedef struct ms_hmac_pre {
    uint64_t st[2][16];
} ms_hmac_pre;
void ms_hmac_pre_key(ms_hmac_pre *h, const uint8_t *key, size_t keylen);
/* out = HMAC(key, p1 || p2); p2 may be NULL. */
void ms_hmac_pre_mac(const ms_hmac_pre *h, const void *p1, size_t n1, const void *p2, size_t n2,
                     uint8_t out[32]);

/* ---- keyed pseudonyms (shared by deid and phi: same key, same answers) ---------------------- */

/* UID -> "2.25.<decimal of the first 128 bits of HMAC-SHA-256(key, "uid\0" || uid)>".
 * out must hold MS_UID_MAX bytes (64 + NUL). Trailing NUL/space padding of uid is ignored. */
#define MS_UID_MAX 65
ms_rc ms_pseudo_uid(const uint8_t key[MS_KEY_LEN], const char *uid, size_t uid_len,
                    char out[MS_UID_MAX], ms_err *err);

/* Patient pseudonym from (issuer, patient id): "MS-" + 16 upper-case base32 characters of
 * HMAC(key, "pid\0" || issuer || "\0" || id). Used for PatientID and PatientName alike. */
#define MS_PSEUDO_MAX 24
ms_rc ms_pseudo_patient(const uint8_t key[MS_KEY_LEN], const char *issuer, size_t issuer_len,
                        const char *pid, size_t pid_len, char out[MS_PSEUDO_MAX], ms_err *err);

/* Per-patient date offset in days, in [-365, -1], from HMAC(key, "date\0" || issuer || "\0" ||
 * id). The same for every study and note of that patient. */
ms_rc ms_pseudo_date_offset(const uint8_t key[MS_KEY_LEN], const char *issuer, size_t issuer_len,
                            const char *pid, size_t pid_len, int *days, ms_err *err);

/* ---- dates ---------------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date; validates ranges. */
ms_rc ms_date_to_days(int y, int m, int d, long *days);
void ms_days_to_date(long days, int *y, int *m, int *d);
/* Shifts a DICOM DA "YYYYMMDD" by `days`; out gets "YYYYMMDD" + NUL. */
ms_rc ms_da_shift(const char *da, size_t len, int days, char out[9], ms_err *err);

#ifdef __cplusplus
}
#endif
#endif

/*
 * Audit records: the binary record parser (bounded, through ms_rd), payload JSON built from an
 * audit_record after checking every field against the token alphabet (the guard that keeps PHI
 * values out of the log), and the decrypted export line.
 * Trusts: nothing it parses. Owns: nothing beyond the buffers it appends to.
 */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>

#include "internal.h"

uint64_t audit__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *audit__kind_name(uint8_t kind)
{
    switch (kind) {
    case AUDIT_K_EVENT:
        return "event";
    case AUDIT_K_TREE_HEAD:
        return "tree_head";
    case AUDIT_K_EPOCH:
        return "epoch";
    case AUDIT_K_TRUNCATE:
        return "truncation";
    default:
        return "?";
    }
}

static int body_len_ok(uint8_t kind, uint32_t n)
{
    switch (kind) {
    case AUDIT_K_EVENT:
        return n >= AUDIT_NONCE + AUDIT_TAG + 2; /* at least "{}" */
    case AUDIT_K_TREE_HEAD:
        return n == AUDIT_STH_BODY;
    case AUDIT_K_EPOCH:
        return n == AUDIT_EPOCH_BODY;
    case AUDIT_K_TRUNCATE:
        return n == AUDIT_TRUNC_BODY;
    default:
        return 0;
    }
}

ms_rc audit__rec_parse(ms_rd *r, audit__rec *out, ms_err *err)
{
    if (r->left < 4)
        return ms_fail(err, MS_E_TRUNC, "record length truncated (%zu bytes left)", r->left);
    uint32_t len = ms_load_u32le(r->p);
    if (len < AUDIT_REC_MIN || len > AUDIT_REC_MAX)
        return ms_fail(err, MS_E_FORMAT, "record length %u out of range", len);
    if (len > r->left)
        return ms_fail(err, MS_E_TRUNC, "record of %u bytes, %zu left", len, r->left);
    const uint8_t *p = r->p;
    audit__rec x;
    x.raw = p;
    x.len = len;
    x.kind = p[4];
    x.seq = ms_load_u64le(p + 8);
    x.time_ns = ms_load_u64le(p + 16);
    x.epoch = ms_load_u32le(p + 24);
    x.prev = p + 28;
    x.body_len = ms_load_u32le(p + 60);
    x.body = p + AUDIT_REC_HDR;
    if (p[5] != 1 || p[6] != 0 || p[7] != 0)
        return ms_fail(err, MS_E_FORMAT, "record version/flags %u/%u unsupported", p[5],
                       ms_load_u16le(p + 6));
    if (x.body_len != len - AUDIT_REC_MIN || !body_len_ok(x.kind, x.body_len))
        return ms_fail(err, MS_E_FORMAT, "record kind %u with body of %u bytes", x.kind,
                       x.body_len);
    x.mac = p + AUDIT_REC_HDR + x.body_len;
    *out = x;
    return ms_rd_skip(r, len);
}

/* ---- payload JSON ------------------------------------------------------------------------ */

/* The token alphabet [A-Za-z0-9._:/+=-] as a table: checked on every field of every record.
 * No '@' (e-mail addresses) and no space, comma, '^' or quote (names, addresses, free text). */
static const uint8_t tok[256] = {
    ['.'] = 1, ['_'] = 1, [':'] = 1, ['/'] = 1, ['+'] = 1, ['='] = 1, ['-'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,
    ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1,
    ['x'] = 1, ['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,
    ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,
    ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

/* Length of a valid token, or 0 (empty, too long, or a character outside the alphabet). */
static size_t token_len(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (!tok[(uint8_t)s[n]] || n >= AUDIT_FIELD_MAX)
            return 0;
    }
    return n;
}

static int pseudonym_ok(const char *s)
{
    if (strlen(s) != 19 || strncmp(s, "MS-", 3) != 0)
        return 0;
    for (size_t i = 3; i < 19; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7')))
            return 0;
    }
    return 1;
}

static int hex64_ok(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (size_t i = 0; i < 64; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}

/* A bounded writer over the caller's buffer; AUDIT_PAYLOAD_MAX holds the largest valid record
 * (16 fields of AUDIT_FIELD_MAX and 32 classes), so `over` means a bug, not input. */
typedef struct jw {
    uint8_t *p;
    size_t len, cap;
    int over, first;
} jw;

static void put(jw *w, const char *s, size_t n)
{
    if (n > w->cap - w->len) {
        w->over = 1;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void put_num(jw *w, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(w, tmp + i, sizeof tmp - i);
}

static void put_key(jw *w, const char *key, size_t n)
{
    put(w, w->first ? "\"" : ",\"", w->first ? 1 : 2);
    w->first = 0;
    put(w, key, n);
    put(w, "\":", 2);
}

static ms_rc put_str(jw *w, const char *key, const char *v, ms_err *err)
{
    if (v == NULL)
        return MS_OK;
    size_t n = token_len(v);
    if (n == 0) /* the field's name only: the value might be PHI */
        return ms_fail(err, MS_E_INVAL, "audit field %s is not a short token", key);
    put_key(w, key, strlen(key));
    put(w, "\"", 1);
    put(w, v, n);
    put(w, "\"", 1);
    return MS_OK;
}

static void put_u64(jw *w, const char *key, uint64_t v)
{
    if (v == 0)
        return;
    put_key(w, key, strlen(key));
    put_num(w, v);
}

static ms_rc put_phi(jw *w, const audit_record *rec, ms_err *err)
{
    if (rec->n_phi == 0)
        return MS_OK;
    if (rec->n_phi > AUDIT_PHI_CLASSES_MAX || rec->phi == NULL)
        return ms_fail(err, MS_E_INVAL, "%zu PHI classes (max %d)", rec->n_phi,
                       AUDIT_PHI_CLASSES_MAX);
    put(w, ",\"phi\":{", 8);
    w->first = 1;
    for (size_t i = 0; i < rec->n_phi; i++) {
        size_t n = rec->phi[i].cls ? token_len(rec->phi[i].cls) : 0;
        if (n == 0)
            return ms_fail(err, MS_E_INVAL, "PHI class %zu is not a short token", i);
        put_key(w, rec->phi[i].cls, n);
        put_num(w, rec->phi[i].count);
    }
    w->first = 0;
    put(w, "}", 1);
    return MS_OK;
}

static ms_rc check_ids(const audit_record *rec, ms_err *err)
{
    if (rec->action == NULL)
        return ms_fail(err, MS_E_INVAL, "audit record without an action");
    if (rec->patient != NULL && !pseudonym_ok(rec->patient))
        return ms_fail(err, MS_E_INVAL, "audit patient is not a keyed pseudonym (MS-...)");
    if (rec->evidence_hash != NULL && !hex64_ok(rec->evidence_hash))
        return ms_fail(err, MS_E_INVAL, "audit evidence hash is not 64 lower-case hex");
    if (rec->status < 0)
        return ms_fail(err, MS_E_INVAL, "audit status %d is negative", rec->status);
    return MS_OK;
}

static ms_rc put_strings(jw *w, const audit_record *rec, ms_err *err)
{
    const char *keys[] = {"action", "request_id", "key_id",    "role",
                          "route",  "model",      "outcome",   "replica_id"};
    const char *vals[] = {rec->action, rec->request_id, rec->key_id,  rec->role,
                          rec->route,  rec->model,      rec->outcome, rec->replica_id};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        ms_rc rc = put_str(w, keys[i], vals[i], err);
        if (rc != MS_OK)
            return rc;
    }
    return MS_OK;
}

ms_rc audit__payload_json(const audit_record *rec, uint8_t *out, size_t cap, size_t *len,
                          ms_err *err)
{
    jw w = {out, 0, cap, 0, 1};
    ms_rc rc = check_ids(rec, err);
    put(&w, "{", 1);
    if (!rc)
        rc = put_strings(&w, rec, err);
    put_u64(&w, "status", (uint64_t)(rec->status > 0 ? rec->status : 0));
    put_u64(&w, "bytes_in", rec->bytes_in);
    put_u64(&w, "bytes_out", rec->bytes_out);
    if (!rc)
        rc = put_phi(&w, rec, err);
    put_u64(&w, "t_total_us", rec->t_total_us);
    put_u64(&w, "t_phi_us", rec->t_phi_us);
    put_u64(&w, "t_upstream_us", rec->t_upstream_us);
    if (!rc)
        rc = put_str(&w, "patient", rec->patient, err);
    if (!rc)
        rc = put_str(&w, "evidence_hash", rec->evidence_hash, err);
    put(&w, "}", 1);
    if (!rc && w.over)
        rc = ms_fail(err, MS_E_INTERNAL, "audit payload over %zu bytes", cap);
    if (rc == MS_OK)
        *len = w.len;
    return rc;
}

/* ---- export lines ---------------------------------------------------------------------------- */

static ms_rc put_time(ms_buf *b, uint64_t ns, ms_err *err)
{
    time_t s = (time_t)(ns / 1000000000u);
    struct tm tm;
    if (gmtime_r(&s, &tm) == NULL)
        return ms_fail(err, MS_E_FORMAT, "record time out of range");
    return ms_buf_printf(b, err, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06uZ\"", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         (unsigned)(ns % 1000000000u / 1000u));
}

static ms_rc put_hex(ms_buf *b, const char *key, const uint8_t *p, size_t n, ms_err *err)
{
    ms_rc rc = ms_buf_printf(b, err, ",\"%s\":\"", key);
    if (!rc)
        rc = ms_hex_encode(p, n, b, err);
    return rc ? rc : ms_buf_append_byte(b, '"', err);
}

static ms_rc event_body(const audit__rec *r, audit__gcm *gcm, ms_buf *out, ms_err *err)
{
    size_t ct = r->body_len - AUDIT_NONCE - AUDIT_TAG;
    uint8_t *pt = ms_malloc(NULL, ct + 1);
    if (pt == NULL)
        return ms_fail(err, MS_E_NOMEM, "export buffer");
    ms_rc rc =
        audit__gcm_open(gcm, r->body, r->raw, AUDIT_REC_HDR, r->body + AUDIT_NONCE, ct, pt, err);
    if (rc == MS_OK && (ct < 2 || pt[0] != '{' || pt[ct - 1] != '}'))
        rc = ms_fail(err, MS_E_FORMAT, "seq %llu: payload is not an object",
                     (unsigned long long)r->seq);
    if (rc == MS_OK && ct > 2) /* splice the payload's members into the line */
        rc = ms_buf_append_byte(out, ',', err);
    if (rc == MS_OK)
        rc = ms_buf_append(out, pt + 1, ct - 2, err);
    ms_free(NULL, pt);
    return rc;
}

static ms_rc system_body(const audit__rec *r, ms_buf *out, ms_err *err)
{
    const uint8_t *b = r->body;
    switch (r->kind) {
    case AUDIT_K_TREE_HEAD: {
        ms_rc rc =
            ms_buf_printf(out, err, ",\"tree_size\":%llu", (unsigned long long)ms_load_u64le(b));
        if (!rc)
            rc = put_hex(out, "root", b + 16, 32, err);
        return rc ? rc : put_hex(out, "signature", b + 48, 64, err);
    }
    case AUDIT_K_EPOCH:
        return ms_buf_printf(out, err, ",\"action\":\"audit.epoch\",\"epoch_start_ns\":%llu",
                             (unsigned long long)ms_load_u64le(b + 4));
    default:
        return ms_buf_printf(out, err,
                             ",\"action\":\"audit.truncate\",\"removed_bytes\":%llu,"
                             "\"at_seq\":%llu",
                             (unsigned long long)ms_load_u64le(b),
                             (unsigned long long)ms_load_u64le(b + 8));
    }
}

ms_rc audit__export_line(const audit__rec *r, const uint8_t leaf[32], audit__gcm *gcm, ms_buf *out,
                         ms_err *err)
{
    ms_rc rc = ms_buf_printf(out, err, "{\"seq\":%llu,\"time\":", (unsigned long long)r->seq);
    if (!rc)
        rc = put_time(out, r->time_ns, err);
    if (!rc)
        rc = ms_buf_printf(out, err, ",\"kind\":\"%s\",\"epoch\":%u", audit__kind_name(r->kind),
                           r->epoch);
    if (!rc)
        rc = put_hex(out, "hash", leaf, 32, err);
    if (!rc)
        rc = r->kind == AUDIT_K_EVENT ? event_body(r, gcm, out, err) : system_body(r, out, err);
    return rc ? rc : ms_buf_append_byte(out, '}', err);
}

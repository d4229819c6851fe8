/*
 * medseal scrub: removes PHI from free text, stdin to stdout (src/phi). Options: the patient's
 * identity from a DICOM header or a small JSON file (every variant of it is removed), tag or
 * surrogate replacement, the site key (surrogates and date shifts consistent with `medseal
 * deid`), --json (the text plus spans and classes, never values) and --jsonl (one JSON object
 * {"text": ...} per input line, for evaluation and batch use).
 * Trusts: nothing on stdin or in the identity file. Owns: everything it reads (wiped on exit).
 * Exit: 0 done, 1 input or processing failure (nothing of the text is written), 2 usage.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "medseal/dicom.h"
#include "medseal/phi.h"

#define CMD             "scrub"
#define IDENT_MAX_BYTES ((size_t)1 << 20)

struct opts {
    const char *identity;
    const char *site_lists;
    const char *keyfile;
    int json, jsonl, keep_clin, keep_zip3;
    phi_mode mode;
    size_t max;
};

/* Identity strings, owned (ms_strdup), wiped at exit. */
struct idstore {
    char *s[64];
    size_t n;
};

static const char *keep(struct idstore *st, const char *s, size_t n)
{
    if (s == NULL || n == 0 || st->n >= sizeof st->s / sizeof st->s[0])
        return NULL;
    st->s[st->n] = ms_strndup(NULL, s, n);
    return st->s[st->n++];
}

static void store_free(struct idstore *st)
{
    for (size_t k = 0; k < st->n; k++)
        ms_free(NULL, st->s[k]);
    st->n = 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: medseal scrub [--identity FILE.dcm|FILE.json] [--mode tag|surrogate]\n"
               "                     [--key KEYFILE] [--json | --jsonl] [--keep-clinicians]\n"
               "                     [--keep-zip3] [--max-bytes N] [--site-lists DIR]\n"
               "                     < text > scrubbed\n"
               "Removes the 18 HIPAA Safe Harbor identifiers from UTF-8 text on stdin.\n"
               "  --site-lists DIR  the site's staff roster and local places: DIR/staff_names.txt\n"
               "                    and DIR/places.txt, one entry a line, any case\n");
}

/* ---- identity from JSON ---------------------------------------------------------------------- */

static const char *jstr(struct idstore *st, json_t *o, const char *k1, const char *k2)
{
    json_t *v = json_object_get(o, k1);
    if (!json_is_string(v) && k2 != NULL)
        v = json_object_get(o, k2);
    if (!json_is_string(v))
        return NULL;
    return keep(st, json_string_value(v), json_string_length(v));
}

/* Fills a list field from a JSON array or a single string under any of the keys. More than
 * PHI_ID_MAX entries is an error (never dropped: a dropped name would leak). */
static int jlist(struct idstore *st, json_t *o, const char **dst, const char *const *keys,
                 ms_err *err)
{
    size_t n = 0;
    for (size_t k = 0; keys[k] != NULL; k++) {
        json_t *v = json_object_get(o, keys[k]);
        size_t i;
        json_t *x;
        if (json_is_string(v)) {
            if (n >= PHI_ID_MAX)
                goto over;
            dst[n++] = keep(st, json_string_value(v), json_string_length(v));
        } else if (json_is_array(v)) {
            json_array_foreach(v, i, x)
            {
                if (!json_is_string(x))
                    continue;
                if (n >= PHI_ID_MAX)
                    goto over;
                dst[n++] = keep(st, json_string_value(x), json_string_length(x));
            }
        }
    }
    return 0;
over:
    ms_fail(err, MS_E_LIMIT,
            "identity JSON: \"%s\" has more than %d entries (a site's staff and places go in "
            "--site-lists)",
            keys[0], PHI_ID_MAX);
    return -1;
}

static int identity_json(const char *path, phi_identity *id, struct idstore *st, ms_err *err)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    if (ms_file_read(path, NULL, IDENT_MAX_BYTES, &b, err) != MS_OK)
        return -1;
    json_error_t je;
    json_t *root = json_loadb((const char *)b.p, b.len, 0, &je);
    ms_buf_free(&b);
    if (root == NULL) {
        ms_fail(err, MS_E_FORMAT, "identity JSON: parse error at line %d column %d", je.line,
                je.column);
        return -1;
    }
    json_t *o = json_object_get(root, "identity"); /* make_study.py manifest */
    if (!json_is_object(o))
        o = root;
    id->family = jstr(st, o, "family", "last");
    id->given = jstr(st, o, "given", "first");
    id->middle = jstr(st, o, "middle", NULL);
    id->dicom_name = jstr(st, o, "dicom_name", "patient_name");
    id->patient_id = jstr(st, o, "patient_id", "mrn");
    id->issuer = jstr(st, o, "issuer", NULL);
    id->birth_date = jstr(st, o, "birth_date", "birth");
    id->ssn = jstr(st, o, "ssn", NULL);
    id->street = jstr(st, o, "street", NULL);
    id->city = jstr(st, o, "city", NULL);
    id->state = jstr(st, o, "state", NULL);
    id->zip = jstr(st, o, "zip", NULL);
    id->address = jstr(st, o, "address", NULL);
    id->email = jstr(st, o, "email", NULL);
    static const char *const PH[] = {"phones", "phone", NULL};
    static const char *const AC[] = {"accessions", "accession", NULL};
    static const char *const OI[] = {"other_ids", "other_id", NULL};
    static const char *const NM[] = {"names", "referring", "radiologist", "operator", NULL};
    static const char *const PL[] = {"places", "institution", NULL};
    int rc = 0;
    if (jlist(st, o, id->phones, PH, err) != 0 || jlist(st, o, id->accessions, AC, err) != 0 ||
        jlist(st, o, id->other_ids, OI, err) != 0 || jlist(st, o, id->names, NM, err) != 0 ||
        jlist(st, o, id->places, PL, err) != 0)
        rc = -1;
    json_decref(root);
    return rc;
}

/* ---- identity from a DICOM header ------------------------------------------------------------ */

static const char *dtext(struct idstore *st, const dcm_dataset *ds, uint16_t g, uint16_t e)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 1 << 16);
    const char *r = NULL;
    if (dcm_dataset_text(ds, ((uint32_t)g << 16) | e, &b, NULL) == MS_OK && b.len > 0)
        r = keep(st, (const char *)b.p, b.len);
    ms_buf_free(&b);
    return r;
}

static int identity_dcm(const char *path, phi_identity *id, struct idstore *st, ms_err *err)
{
    dcm_read_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.stop_before_pixels = 1;
    dcm_file *f = NULL;
    if (dcm_file_read(path, &ro, &f, err) != MS_OK)
        return -1;
    const dcm_dataset *ds = dcm_file_dataset(f);
    id->dicom_name = dtext(st, ds, 0x0010, 0x0010);
    id->patient_id = dtext(st, ds, 0x0010, 0x0020);
    id->issuer = dtext(st, ds, 0x0010, 0x0021);
    id->birth_date = dtext(st, ds, 0x0010, 0x0030);
    id->address = dtext(st, ds, 0x0010, 0x1040);
    id->phones[0] = dtext(st, ds, 0x0010, 0x2154);
    id->accessions[0] = dtext(st, ds, 0x0008, 0x0050);
    id->other_ids[0] = dtext(st, ds, 0x0010, 0x1000);
    id->other_ids[1] = dtext(st, ds, 0x0020, 0x0010);
    id->names[0] = dtext(st, ds, 0x0008, 0x0090);
    id->names[1] = dtext(st, ds, 0x0008, 0x1050);
    id->names[2] = dtext(st, ds, 0x0008, 0x1070);
    id->names[3] = dtext(st, ds, 0x0008, 0x1048);
    id->names[4] = dtext(st, ds, 0x0010, 0x1001);
    id->places[0] = dtext(st, ds, 0x0008, 0x0080);
    id->places[1] = dtext(st, ds, 0x0008, 0x0081);
    dcm_file_free(f);
    return 0;
}

static int load_identity(const char *path, phi_identity *id, struct idstore *st, ms_err *err)
{
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0)
        return identity_json(path, id, st, err);
    return identity_dcm(path, id, st, err);
}

/* ---- output ---------------------------------------------------------------------------------- */

/* The result object is written directly, not built as a jansson tree (a tree of every span was
 * many times the input's size): {"text":..., "spans":[{"class", "source", "start", "end",
 * "out_start", "out_end"}...], "counts":{...}}, escaped as json_dumps(JSON_COMPACT |
 * JSON_ENSURE_ASCII) escapes. The sink is stdout (--json) or the batch buffer (--jsonl). */
/* Results held until the whole input is scrubbed (fail closed), as blocks of about 1 MiB each
 * allocated to their exact size: one growing buffer rounds up to a power of two and briefly
 * holds its old and its new copy at each doubling (twice the output). cur is the block being
 * written; batch_seal moves it into an exact block. Text only after phi_scrub (no PHI). */
#define BATCH_PIECE ((size_t)1 << 20)
struct blk {
    char *p;
    size_t n;
};
struct batch {
    struct blk *v;
    size_t n, cap;
    size_t sealed; /* bytes in v */
    ms_buf cur;
};

static int batch_seal(struct batch *b)
{
    if (b->cur.len == 0)
        return 0;
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        struct blk *nv = realloc(b->v, nc * sizeof *nv);
        if (nv == NULL)
            return -1;
        b->v = nv;
        b->cap = nc;
    }
    char *p = ms_malloc(NULL, b->cur.len);
    if (p == NULL)
        return -1;
    memcpy(p, b->cur.p, b->cur.len);
    b->v[b->n++] = (struct blk){p, b->cur.len};
    b->sealed += b->cur.len;
    ms_buf_reset(&b->cur);
    return 0;
}

static int batch_put(struct batch *b, const void *p, size_t n)
{
    if (ms_buf_append(&b->cur, p, n, NULL) != MS_OK)
        return -1;
    return b->cur.len >= BATCH_PIECE ? batch_seal(b) : 0;
}

static int batch_write(const struct batch *b)
{
    for (size_t k = 0; k < b->n; k++)
        if (fwrite(b->v[k].p, 1, b->v[k].n, stdout) != b->v[k].n)
            return -1;
    return fwrite(b->cur.p, 1, b->cur.len, stdout) == b->cur.len ? 0 : -1;
}

static void batch_free(struct batch *b)
{
    for (size_t k = 0; k < b->n; k++)
        ms_free(NULL, b->v[k].p);
    free(b->v);
    ms_buf_free(&b->cur);
    memset(b, 0, sizeof *b);
}

struct jw {
    struct batch *batch; /* NULL: stdout */
    int bad;
};

static void jw_put(struct jw *w, const void *p, size_t n)
{
    if (w->bad || n == 0)
        return;
    if (w->batch != NULL ? batch_put(w->batch, p, n) != 0 : fwrite(p, 1, n, stdout) != n)
        w->bad = 1;
}

static void jw_str(struct jw *w, const char *s)
{
    jw_put(w, s, strlen(s));
}

/* UTF-8 (checked by phi_scrub: the output is the input's valid text plus ASCII replacements)
 * as a JSON string, non-ASCII as \uXXXX (surrogate pairs above U+FFFF). */
static void jw_text(struct jw *w, const unsigned char *p, size_t n)
{
    static const char HEX[] = "0123456789ABCDEF";
    char buf[4096];
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (o > sizeof buf - 16) {
            jw_put(w, buf, o);
            o = 0;
        }
        unsigned c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            buf[o++] = (char)c;
            i++;
            continue;
        }
        uint32_t cp = c;
        size_t l = 1;
        if (c >= 0xF0 && n - i >= 4)
            cp = ((c & 7u) << 18) | ((p[i + 1] & 63u) << 12) | ((p[i + 2] & 63u) << 6) |
                 (p[i + 3] & 63u),
            l = 4;
        else if (c >= 0xE0 && n - i >= 3)
            cp = ((c & 15u) << 12) | ((p[i + 1] & 63u) << 6) | (p[i + 2] & 63u), l = 3;
        else if (c >= 0xC0 && n - i >= 2)
            cp = ((c & 31u) << 6) | (p[i + 1] & 63u), l = 2;
        i += l;
        const char *esc = NULL;
        switch (cp) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default: break;
        }
        if (esc != NULL) {
            memcpy(buf + o, esc, 2);
            o += 2;
            continue;
        }
        uint32_t u[2] = {cp, 0};
        size_t nu = 1;
        if (cp >= 0x10000) {
            u[0] = 0xD800 + ((cp - 0x10000) >> 10);
            u[1] = 0xDC00 + ((cp - 0x10000) & 0x3FF);
            nu = 2;
        }
        for (size_t k = 0; k < nu; k++) {
            buf[o++] = '\\';
            buf[o++] = 'u';
            for (int sh = 12; sh >= 0; sh -= 4)
                buf[o++] = HEX[(u[k] >> sh) & 15u];
        }
    }
    jw_put(w, buf, o);
}

/* The text is out's blocks and then cur (each ends on a whole character). */
static int write_result(struct batch *batch, const struct batch *out, const phi_span *sp,
                        size_t ns)
{
    static const char *const SRC[] = {"pattern", "dictionary", "identity"};
    struct jw w = {batch, 0};
    size_t c[PHI_CLASS_COUNT] = {0};
    char num[256];
    jw_str(&w, "{\"text\":\"");
    for (size_t k = 0; k < out->n; k++)
        jw_text(&w, (const unsigned char *)out->v[k].p, out->v[k].n);
    jw_text(&w, out->cur.p, out->cur.len);
    jw_str(&w, "\",\"spans\":[");
    for (size_t k = 0; k < ns && !w.bad; k++) {
        int m = snprintf(num, sizeof num,
                         "%s{\"class\":\"%s\",\"source\":\"%s\",\"start\":%zu,\"end\":%zu,"
                         "\"out_start\":%zu,\"out_end\":%zu}",
                         k ? "," : "", phi_class_name(sp[k].cls), SRC[sp[k].source % 3],
                         sp[k].start, sp[k].end, sp[k].out_start, sp[k].out_end);
        jw_put(&w, num, m > 0 ? (size_t)m : 0);
        c[sp[k].cls % PHI_CLASS_COUNT]++;
    }
    jw_str(&w, "],\"counts\":{");
    int first = 1;
    for (size_t k = 0; k < PHI_CLASS_COUNT; k++) {
        if (c[k] == 0)
            continue;
        int m = snprintf(num, sizeof num, "%s\"%s\":%zu", first ? "" : ",",
                         phi_class_name((phi_class)k), c[k]);
        jw_put(&w, num, m > 0 ? (size_t)m : 0);
        first = 0;
    }
    jw_str(&w, "}}\n");
    return w.bad ? -1 : 0;
}

/* line: the --jsonl line number for the error (0: the whole input). */
static int scrub_one(phi_ctx *ctx, const char *text, size_t len, struct batch *batch,
                     size_t line)
{
    struct batch out = {0};
    ms_err err = {0};
    phi_span *sp = NULL;
    size_t ns = 0;
    char where[48];
    ms_buf_init(&out.cur, NULL, 0);
    if (phi_scrub(ctx, text, len, &out.cur, &sp, &ns, &err) != MS_OK) {
        if (line > 0)
            snprintf(where, sizeof where, "stdin line %zu", line);
        cli_report(CMD, line > 0 ? where : "stdin", &err);
        batch_free(&out);
        return 1;
    }
    int rc = write_result(batch, &out, sp, ns) == 0 ? 0 : 1;
    phi_spans_free(ctx, sp);
    batch_free(&out);
    return rc;
}

/* --jsonl: one {"text": ...} per line, read a line at a time (the input is never held whole).
 * Fail closed for the batch: the results are held until every line is scrubbed; a bad line
 * (numbered in the error) means nothing at all is written. */
static int scrub_lines(phi_ctx *ctx, size_t max)
{
    struct batch batch = {0};
    ms_buf line;
    ms_buf_init(&batch.cur, NULL, 0);
    ms_buf_init(&line, NULL, max * 4 + 2);
    uint8_t chunk[65536];
    size_t got, total = 0, lineno = 0;
    int rc = 0, eof = 0;
    while (rc == 0 && !eof) {
        got = fread(chunk, 1, sizeof chunk, stdin);
        if (got == 0) {
            eof = 1;
            if (ferror(stdin)) {
                cli_error(CMD, "stdin: read error");
                rc = 1;
                break;
            }
        }
        total += got;
        if (total > max * 4) {
            cli_error(CMD, "stdin: input over the limit of %zu bytes", max * 4);
            rc = 1;
            break;
        }
        size_t at = 0;
        while (rc == 0 && (at < got || (eof && line.len > 0))) {
            const uint8_t *nl = at < got ? memchr(chunk + at, '\n', got - at) : NULL;
            size_t take = nl ? (size_t)(nl - (chunk + at)) : got - at;
            if (ms_buf_append(&line, chunk + at, take, NULL) != MS_OK) {
                cli_error(CMD, "stdin: line over the limit of %zu bytes", max * 4);
                rc = 1;
                break;
            }
            at += take + (nl ? 1 : 0);
            if (!nl && !eof)
                break; /* the line goes on in the next chunk */
            lineno++;
            if (line.len > 0) {
                json_error_t je;
                json_t *j = json_loadb((const char *)line.p, line.len, JSON_ALLOW_NUL, &je);
                json_t *t = json_object_get(j, "text");
                if (!json_is_string(t)) {
                    cli_error(CMD, "line %zu: not a JSON object with a \"text\" string", lineno);
                    rc = 1;
                } else {
                    rc = scrub_one(ctx, json_string_value(t), json_string_length(t), &batch,
                                   lineno);
                }
                json_decref(j);
            }
            ms_buf_reset(&line);
        }
    }
    ms_memzero(chunk, sizeof chunk);
    if (rc == 0 && batch_write(&batch) != 0)
        rc = 1;
    ms_buf_free(&line);
    batch_free(&batch);
    return rc;
}

/* Plain text and --json read stdin in pieces of about 1 MiB cut at a blank line or a line break
 * and scrub each into one output buffer with the same context (surrogates stay consistent), so
 * peak memory is the output (and --json's spans) plus one piece, not the input twice. Nothing
 * is written before the whole input is scrubbed: on any error the output is wiped and stdout
 * stays empty. */
#define PIECE ((size_t)1 << 20)

static size_t piece_cut(const char *p, size_t n)
{
    for (size_t k = n; k > n / 2; k--)
        if (p[k - 1] == '\n' && k >= 2 && p[k - 2] == '\n')
            return k;
    for (size_t k = n; k > n / 2; k--)
        if (p[k - 1] == '\n')
            return k;
    for (size_t k = n; k > n / 2; k--)
        if (p[k - 1] == ' ')
            return k;
    size_t k = n;
    while (k > n / 2 && ((unsigned char)p[k] & 0xC0u) == 0x80u)
        k--;
    return k;
}

/* json: collect the spans (offsets in the whole input) and write the --json object. */
static int scrub_stream(phi_ctx *ctx, size_t max, int json)
{
    ms_buf in;
    struct batch out = {0};
    ms_err err = {0};
    ms_buf_init(&in, NULL, 0);
    ms_buf_init(&out.cur, NULL, 0);
    phi_span *all = NULL;
    size_t nall = 0, capall = 0, base = 0;
    uint8_t chunk[65536];
    size_t total = 0, got;
    int eof = 0, rc = 0;
    while (rc == 0 && (!eof || in.len > 0)) {
        while (!eof && in.len < 2 * PIECE) {
            got = fread(chunk, 1, sizeof chunk, stdin);
            if (got == 0) {
                eof = 1;
                break;
            }
            total += got;
            if (total > max || ms_buf_append(&in, chunk, got, &err) != MS_OK) {
                cli_error(CMD, "stdin: input over the limit of %zu bytes", max);
                rc = 1;
                break;
            }
        }
        if (rc == 0 && ferror(stdin)) {
            cli_error(CMD, "stdin: read error");
            rc = 1;
        }
        if (rc != 0 || in.len == 0)
            break;
        size_t take = eof ? in.len : piece_cut((const char *)in.p, in.len);
        phi_span *sp = NULL;
        size_t ns = 0;
        if (phi_scrub(ctx, (const char *)in.p, take, &out.cur, json ? &sp : NULL,
                      json ? &ns : NULL, &err) != MS_OK) {
            cli_report(CMD, "stdin", &err);
            rc = 1;
            break;
        }
        if (ns > 0 && nall + ns > capall) { /* spans hold offsets and classes only */
            size_t nc = capall ? capall : 1024;
            while (nc < nall + ns)
                nc *= 2;
            phi_span *np = realloc(all, nc * sizeof *np);
            if (np == NULL) {
                phi_spans_free(ctx, sp);
                cli_error(CMD, "out of memory (%zu spans)", nall + ns);
                rc = 1;
                break;
            }
            all = np;
            capall = nc;
        }
        for (size_t k = 0; k < ns; k++) {
            all[nall] = sp[k];
            all[nall].start += base;
            all[nall].end += base;
            all[nall].out_start += out.sealed;
            all[nall].out_end += out.sealed;
            nall++;
        }
        phi_spans_free(ctx, sp);
        if (batch_seal(&out) != 0) {
            cli_error(CMD, "out of memory (output)");
            rc = 1;
            break;
        }
        base += take;
        memmove(in.p, in.p + take, in.len - take);
        ms_memzero(in.p + in.len - take, take);
        in.len -= take;
    }
    ms_memzero(chunk, sizeof chunk);
    ms_buf_free(&in);
    if (rc == 0 && json)
        rc = write_result(NULL, &out, all, nall) == 0 ? 0 : 1;
    else if (rc == 0 && batch_write(&out) != 0)
        rc = 1;
    free(all);
    batch_free(&out);
    return rc;
}

/* ---- main ------------------------------------------------------------------------------------ */

static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--identity") == 0 && more) {
            o->identity = argv[++i];
        } else if (strcmp(a, "--site-lists") == 0 && more) {
            o->site_lists = argv[++i];
        } else if (strcmp(a, "--key") == 0 && more) {
            o->keyfile = argv[++i];
        } else if (strcmp(a, "--mode") == 0 && more) {
            const char *m = argv[++i];
            if (strcmp(m, "tag") == 0)
                o->mode = PHI_MODE_TAG;
            else if (strcmp(m, "surrogate") == 0)
                o->mode = PHI_MODE_SURROGATE;
            else
                return -1;
        } else if (strcmp(a, "--max-bytes") == 0 && more) {
            char *endp = NULL;
            unsigned long long v = strtoull(argv[++i], &endp, 10);
            if (endp == NULL || *endp != '\0' || v == 0)
                return -1;
            o->max = (size_t)v;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--jsonl") == 0) {
            o->jsonl = 1;
        } else if (strcmp(a, "--keep-clinicians") == 0) {
            o->keep_clin = 1;
        } else if (strcmp(a, "--keep-zip3") == 0) {
            o->keep_zip3 = 1;
        } else {
            return -1;
        }
    }
    return 0;
}

static int run(const struct opts *o, const phi_opts *po)
{
    ms_err err = {0};
    phi_ctx *ctx = NULL;
    if (phi_ctx_new(po, &ctx, &err) != MS_OK) {
        cli_report(CMD, NULL, &err);
        return 1;
    }
    size_t max = po->max_input ? po->max_input : PHI_MAX_INPUT_DEFAULT;
    int rc = o->jsonl ? scrub_lines(ctx, max) : scrub_stream(ctx, max, o->json);
    if (rc == 0 && fflush(stdout) != 0) {
        cli_error(CMD, "stdout: write error");
        rc = 1;
    }
    phi_ctx_free(ctx);
    return rc;
}

int cmd_scrub(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (parse_args(argc, argv, &o) != 0 || (o.json && o.jsonl)) {
        usage(stderr);
        return 2;
    }
    uint8_t key[MS_KEY_LEN];
    ms_err err = {0};
    struct idstore st;
    phi_identity id;
    memset(&st, 0, sizeof st);
    memset(&id, 0, sizeof id);
    phi_opts po;
    memset(&po, 0, sizeof po);
    po.mode = o.mode;
    po.keep_clinician_names = o.keep_clin;
    po.keep_zip3 = o.keep_zip3;
    po.max_input = o.max;
    int rc = 0;
    if (o.keyfile != NULL && ms_keyfile_read(o.keyfile, key, &err) != MS_OK) {
        cli_report(CMD, "--key", &err);
        rc = 1;
    } else if (o.keyfile != NULL) {
        po.key = key;
    }
    if (rc == 0 && o.identity != NULL) {
        if (load_identity(o.identity, &id, &st, &err) != 0) {
            cli_report(CMD, "--identity", &err);
            rc = 1;
        } else {
            po.identity = &id;
        }
    }
    phi_sitelists *site = NULL;
    if (rc == 0 && o.site_lists != NULL) {
        if (phi_sitelists_load(o.site_lists, NULL, &site, &err) != MS_OK) {
            cli_report(CMD, "--site-lists", &err);
            rc = 1;
        } else {
            po.site = site;
        }
    }
    if (rc == 0)
        rc = run(&o, &po);
    phi_sitelists_free(site);
    store_free(&st);
    ms_memzero(key, sizeof key);
    return rc;
}

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

static json_t *result_json(const ms_buf *out, const phi_span *sp, size_t ns)
{
    json_t *o = json_object(), *arr = json_array(), *counts = json_object();
    size_t c[PHI_CLASS_COUNT] = {0};
    json_object_set_new(o, "text", json_stringn((const char *)out->p, out->len));
    for (size_t k = 0; k < ns; k++) {
        static const char *const SRC[] = {"pattern", "dictionary", "identity"};
        json_t *s = json_object();
        json_object_set_new(s, "class", json_string(phi_class_name(sp[k].cls)));
        json_object_set_new(s, "source", json_string(SRC[sp[k].source % 3]));
        json_object_set_new(s, "start", json_integer((json_int_t)sp[k].start));
        json_object_set_new(s, "end", json_integer((json_int_t)sp[k].end));
        json_object_set_new(s, "out_start", json_integer((json_int_t)sp[k].out_start));
        json_object_set_new(s, "out_end", json_integer((json_int_t)sp[k].out_end));
        json_array_append_new(arr, s);
        c[sp[k].cls]++;
    }
    for (size_t k = 0; k < PHI_CLASS_COUNT; k++)
        if (c[k] > 0)
            json_object_set_new(counts, phi_class_name((phi_class)k),
                                json_integer((json_int_t)c[k]));
    json_object_set_new(o, "spans", arr);
    json_object_set_new(o, "counts", counts);
    return o;
}

static int to_batch(const char *p, size_t n, void *ud)
{
    return ms_buf_append(ud, p, n, NULL) == MS_OK ? 0 : -1;
}

/* The object holds scrubbed text and offsets only: to stdout, or (--jsonl) into the batch,
 * written only once every line has been scrubbed. */
static int emit_json(json_t *o, ms_buf *batch)
{
    if (batch != NULL)
        return json_dump_callback(o, to_batch, batch, JSON_COMPACT | JSON_ENSURE_ASCII) == 0 &&
                       ms_buf_append_byte(batch, '\n', NULL) == MS_OK
                   ? 0
                   : -1;
    int ok =
        json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII) == 0 && fputc('\n', stdout) != EOF;
    return ok ? 0 : -1;
}

/* line: the --jsonl line number for the error (0: the whole input). */
static int scrub_one(phi_ctx *ctx, const struct opts *o, const char *text, size_t len,
                     ms_buf *batch, size_t line)
{
    ms_buf out;
    ms_err err = {0};
    phi_span *sp = NULL;
    size_t ns = 0;
    char where[48];
    ms_buf_init(&out, NULL, 0);
    if (phi_scrub(ctx, text, len, &out, &sp, &ns, &err) != MS_OK) {
        if (line > 0)
            snprintf(where, sizeof where, "stdin line %zu", line);
        cli_report(CMD, line > 0 ? where : "stdin", &err);
        ms_buf_free(&out);
        return 1;
    }
    int rc = 0;
    if (o->json || o->jsonl) {
        json_t *j = result_json(&out, sp, ns);
        rc = emit_json(j, batch) == 0 ? 0 : 1;
        json_decref(j);
    } else if (fwrite(out.p, 1, out.len, stdout) != out.len) {
        rc = 1;
    }
    phi_spans_free(ctx, sp);
    ms_buf_free(&out);
    return rc;
}

/* --jsonl: one {"text": ...} per line. Fail closed for the batch: the results are held until
 * every line is scrubbed; a bad line (numbered in the error) means nothing at all is written. */
static int scrub_lines_into(phi_ctx *ctx, const struct opts *o, const ms_buf *in,
                            ms_buf *batch);

static int scrub_lines(phi_ctx *ctx, const struct opts *o, const ms_buf *in)
{
    ms_buf batch;
    ms_buf_init(&batch, NULL, 0);
    int rc = scrub_lines_into(ctx, o, in, &batch);
    if (rc == 0 && batch.len > 0 && fwrite(batch.p, 1, batch.len, stdout) != batch.len)
        rc = 1;
    ms_buf_free(&batch);
    return rc;
}

static int scrub_lines_into(phi_ctx *ctx, const struct opts *o, const ms_buf *in,
                            ms_buf *batch)
{
    const char *p = (const char *)in->p, *end = p + in->len;
    size_t line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        line++;
        if (n > 0) {
            json_error_t je;
            json_t *j = json_loadb(p, n, JSON_ALLOW_NUL, &je);
            json_t *t = json_object_get(j, "text");
            if (!json_is_string(t)) {
                cli_error(CMD, "line %zu: not a JSON object with a \"text\" string", line);
                json_decref(j);
                return 1;
            }
            int rc = scrub_one(ctx, o, json_string_value(t), json_string_length(t), batch, line);
            json_decref(j);
            if (rc != 0)
                return rc;
        }
        p += n + (nl ? 1 : 0);
    }
    return 0;
}

/* Plain text mode reads stdin in pieces of about 1 MiB cut at a blank line or a line break and
 * scrubs each into one output buffer with the same context (surrogates stay consistent), so
 * peak memory is the output plus one piece, not the input twice. Nothing is written before the
 * whole input is scrubbed: on any error the output is wiped and stdout stays empty. */
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

static int scrub_stream(phi_ctx *ctx, size_t max)
{
    ms_buf in, out;
    ms_err err = {0};
    ms_buf_init(&in, NULL, 0);
    ms_buf_init(&out, NULL, 0);
    /* a file on stdin: the output buffer sized once (about the input's size; growing it would
     * briefly hold the old and the new copy) */
    struct stat sb;
    if (fstat(STDIN_FILENO, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        (uint64_t)sb.st_size <= (uint64_t)max)
        (void)ms_buf_reserve(&out, (size_t)sb.st_size + (size_t)sb.st_size / 16, NULL);
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
        if (phi_scrub(ctx, (const char *)in.p, take, &out, NULL, NULL, &err) != MS_OK) {
            cli_report(CMD, "stdin", &err);
            rc = 1;
            break;
        }
        memmove(in.p, in.p + take, in.len - take);
        ms_memzero(in.p + in.len - take, take);
        in.len -= take;
    }
    ms_memzero(chunk, sizeof chunk);
    if (rc == 0 && fwrite(out.p, 1, out.len, stdout) != out.len)
        rc = 1;
    ms_buf_free(&in);
    ms_buf_free(&out);
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
    if (!o->json && !o->jsonl) {
        int src = scrub_stream(ctx, max);
        if (src == 0 && fflush(stdout) != 0) {
            cli_error(CMD, "stdout: write error");
            src = 1;
        }
        phi_ctx_free(ctx);
        return src;
    }
    ms_buf in;
    ms_buf_init(&in, NULL, o->jsonl ? max * 4 : max);
    /* a file on stdin: one allocation of its size instead of doublings (peak memory) */
    struct stat sb;
    if (fstat(STDIN_FILENO, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        (uint64_t)sb.st_size <= (uint64_t)in.max)
        (void)ms_buf_reserve(&in, (size_t)sb.st_size + 1, NULL);
    uint8_t chunk[65536];
    size_t got;
    int rc = 0;
    while ((got = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        if (ms_buf_append(&in, chunk, got, &err) != MS_OK) {
            cli_error(CMD, "stdin: input over the limit of %zu bytes", max);
            rc = 1;
            break;
        }
    }
    ms_memzero(chunk, sizeof chunk);
    if (rc == 0 && ferror(stdin)) {
        cli_error(CMD, "stdin: read error");
        rc = 1;
    }
    if (rc == 0)
        rc = o->jsonl ? scrub_lines(ctx, o, &in)
                      : scrub_one(ctx, o, (const char *)in.p, in.len, NULL, 0);
    if (rc == 0 && fflush(stdout) != 0) {
        cli_error(CMD, "stdout: write error");
        rc = 1;
    }
    ms_buf_free(&in);
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

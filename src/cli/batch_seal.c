/*
 * Sealed outputs of medseal batch (format in batch.h), `medseal open --key SECRET FILE|DIR` which
 * decrypts them, and the recipient key pair of `medseal keygen --recipient PUBFILE`.
 *
 * Trusts: nothing in a sealed file (every chunk is authenticated before its plaintext is
 * written; a wrong key, a truncation or any change fails). Owns: the keys it reads, wiped after
 * use. Errors: one line naming the file (the operator's path), never content. A sealed batch
 * folder opened whole gets its index.jsonl, cohort.csv and summary.html built here from the
 * opened patient.json files (batch_summary.c).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "batch.h"
#include "commands.h"

#define SS  crypto_secretstream_xchacha20poly1305
#define ABY crypto_secretstream_xchacha20poly1305_ABYTES

static int sodium_ok(void)
{
    return sodium_init() >= 0;
}

int bt_seal_write(int fd, const uint8_t pk[32], const uint8_t *p, size_t n)
{
    if (!sodium_ok())
        return -1;
    uint8_t k[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    uint8_t sealed[sizeof k + crypto_box_SEALBYTES];
    uint8_t hdr[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    crypto_secretstream_xchacha20poly1305_state st;
    crypto_secretstream_xchacha20poly1305_keygen(k);
    int rc = crypto_box_seal(sealed, k, sizeof k, pk) == 0 &&
                     crypto_secretstream_xchacha20poly1305_init_push(&st, hdr, k) == 0
                 ? 0
                 : -1;
    sodium_memzero(k, sizeof k);
    if (rc == 0 && (ms_write_all(fd, BT_SEAL_MAGIC, 8) != 0 ||
                    ms_write_all(fd, sealed, sizeof sealed) != 0 ||
                    ms_write_all(fd, hdr, sizeof hdr) != 0))
        rc = -1;
    uint8_t *c = rc == 0 ? malloc(BT_SEAL_CHUNK + ABY) : NULL;
    if (c == NULL)
        rc = -1;
    size_t off = 0;
    while (rc == 0) {
        size_t m = n - off > BT_SEAL_CHUNK ? BT_SEAL_CHUNK : n - off;
        int last = off + m == n;
        unsigned long long clen = 0;
        if (crypto_secretstream_xchacha20poly1305_push(
                &st, c, &clen, p != NULL ? p + off : (const uint8_t *)"", m, NULL, 0,
                last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0) != 0 ||
            ms_write_all(fd, c, (size_t)clen) != 0)
            rc = -1;
        off += m;
        if (last)
            break;
    }
    free(c);
    sodium_memzero(&st, sizeof st);
    return rc;
}

/* Reads up to n bytes (short only at end of file): the count, or -1. */
static ssize_t read_full(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int bt_seal_open(int in, int out, const uint8_t sk[32])
{
    if (!sodium_ok())
        return -1;
    uint8_t head[8 + 32 + crypto_box_SEALBYTES + crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    if (read_full(in, head, sizeof head) != (ssize_t)sizeof head ||
        memcmp(head, BT_SEAL_MAGIC, 8) != 0)
        return -1;
    uint8_t pk[32], k[32];
    crypto_scalarmult_base(pk, sk);
    if (crypto_box_seal_open(k, head + 8, 32 + crypto_box_SEALBYTES, pk, sk) != 0)
        return -1;
    crypto_secretstream_xchacha20poly1305_state st;
    int rc = crypto_secretstream_xchacha20poly1305_init_pull(&st, head + 8 + 32 +
                                                                      crypto_box_SEALBYTES,
                                                             k) == 0
                 ? 0
                 : -1;
    sodium_memzero(k, sizeof k);
    uint8_t *c = malloc(BT_SEAL_CHUNK + ABY + 1), *m = malloc(BT_SEAL_CHUNK);
    if (c == NULL || m == NULL)
        rc = -1;
    int final = 0;
    while (rc == 0 && !final) {
        ssize_t r = read_full(in, c, BT_SEAL_CHUNK + ABY);
        if (r < (ssize_t)ABY) {
            rc = -1;
            break;
        }
        unsigned long long mlen = 0;
        unsigned char tag = 0;
        if (crypto_secretstream_xchacha20poly1305_pull(&st, m, &mlen, &tag, c, (size_t)r, NULL,
                                                       0) != 0) {
            rc = -1;
            break;
        }
        final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
        if (!final && r < (ssize_t)(BT_SEAL_CHUNK + ABY))
            rc = -1; /* a short chunk must be the last */
        else if (ms_write_all(out, m, (size_t)mlen) != 0)
            rc = -1;
    }
    if (rc == 0 && read_full(in, c, 1) != 0)
        rc = -1; /* bytes after the final chunk */
    if (m != NULL)
        sodium_memzero(m, BT_SEAL_CHUNK);
    free(c);
    free(m);
    sodium_memzero(&st, sizeof st);
    return rc;
}

int bt_recipient_read(const char *path, uint8_t key[32])
{
    ms_err e = {0};
    return ms_keyfile_read(path, key, &e) == MS_OK ? 0 : -1;
}

int bt_keygen_recipient(const char *pubpath)
{
    if (!sodium_ok())
        return 1;
    uint8_t pk[32], sk[32];
    crypto_box_keypair(pk, sk);
    char pt[MS_KEY_LEN * 2 + 2], st[MS_KEY_LEN * 2 + 2];
    ms_keyfile_format(pk, pt);
    ms_keyfile_format(sk, st);
    ms_err e = {0};
    int ret = 0;
    if (ms_file_write_atomic(pubpath, pt, strlen(pt), 0644, 0, &e) != MS_OK) {
        cli_report("keygen", "--recipient", &e);
        ret = 1;
    } else if (fputs(st, stdout) < 0 || fflush(stdout) != 0) {
        cli_error("keygen", "write failed");
        ret = 1;
    }
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(st, sizeof st);
    return ret;
}

/* ---- medseal open ------------------------------------------------------------------------ */

static int open_file(const char *src, const char *dst, const uint8_t sk[32])
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        cli_error("open", "%s: cannot read", src);
        return 1;
    }
    char tmp[PATH_MAX + 8];
    int out = STDOUT_FILENO;
    if (dst != NULL) {
        snprintf(tmp, sizeof tmp, "%s.tmp", dst);
        out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (out < 0) {
            close(in);
            cli_error("open", "%s: cannot create", dst);
            return 1;
        }
    }
    int rc = bt_seal_open(in, out, sk);
    close(in);
    if (dst != NULL) {
        if (rc == 0 && fsync(out) != 0)
            rc = -1;
        if (close(out) != 0)
            rc = -1;
        if (rc == 0 && rename(tmp, dst) != 0)
            rc = -1;
        if (rc != 0)
            (void)unlink(tmp);
    }
    if (rc != 0) {
        cli_error("open", "%s: not sealed to this key, cut short or altered", src);
        return 1;
    }
    return 0;
}

static int open_dir(const char *src, const char *dst, const uint8_t sk[32], size_t *n, int depth)
{
    if (depth > 32)
        return 0;
    DIR *d = opendir(src);
    if (d == NULL) {
        cli_error("open", "%s: cannot read the folder", src);
        return 1;
    }
    if (mkdir(dst, 0700) != 0 && errno != EEXIST) {
        closedir(d);
        cli_error("open", "%s: cannot create", dst);
        return 1;
    }
    int ret = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char s[PATH_MAX], t[PATH_MAX];
        if ((size_t)snprintf(s, sizeof s, "%s/%s", src, e->d_name) >= sizeof s ||
            (size_t)snprintf(t, sizeof t, "%s/%s", dst, e->d_name) >= sizeof t)
            continue;
        struct stat sb;
        if (lstat(s, &sb) != 0 || S_ISLNK(sb.st_mode))
            continue;
        size_t len = strlen(t);
        if (S_ISDIR(sb.st_mode)) {
            ret |= open_dir(s, t, sk, n, depth + 1);
        } else if (S_ISREG(sb.st_mode) && len > 7 && strcmp(t + len - 7, ".sealed") == 0) {
            t[len - 7] = '\0';
            int r = open_file(s, t, sk);
            ret |= r;
            *n += r == 0;
        }
    }
    closedir(d);
    return ret;
}

/* The opened folder's patient.json lines (bt_lines_fn), in patient order. */
static int cmp_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int patient_lines(void *ud, bt_line_cb cb, void *cbud)
{
    const char *dir = ud;
    struct dirent **v = NULL;
    int n = scandir(dir, &v, NULL, cmp_name);
    if (n < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        if (rc == 0 && v[i]->d_name[0] != '.' &&
            (size_t)snprintf(path, sizeof path, "%s/%s/patient.json", dir, v[i]->d_name) <
                sizeof path &&
            access(path, F_OK) == 0) {
            ms_err e = {0};
            ms_buf b;
            if (ms_file_read(path, NULL, 1 << 20, &b, &e) != MS_OK) {
                cli_error("open", "%s/patient.json: cannot read", v[i]->d_name);
                rc = -1;
                free(v[i]);
                continue;
            }
            char *line = b.len > 0 && memchr(b.p, '\0', b.len) == NULL &&
                                 memchr(b.p, '\n', b.len) == NULL
                             ? strndup((const char *)b.p, b.len)
                             : NULL;
            ms_buf_free(&b);
            if (line == NULL) {
                cli_error("open", "%s/patient.json: not an index line", v[i]->d_name);
                rc = -1;
            } else {
                rc = cb(cbud, line);
                free(line);
            }
        }
        free(v[i]);
    }
    free(v);
    return rc;
}

/* A sealed batch run keeps no index on the host: its patients' opened patient.json files give
 * index.jsonl, cohort.csv and summary.html (the same code as the host's, batch_summary.c). */
static int assemble(const char *dst)
{
    struct dirent **v = NULL;
    int n = scandir(dst, &v, NULL, cmp_name);
    int any = 0;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        if (!any && v[i]->d_name[0] != '.' &&
            (size_t)snprintf(path, sizeof path, "%s/%s/patient.json", dst, v[i]->d_name) <
                sizeof path)
            any = access(path, F_OK) == 0;
        free(v[i]);
    }
    free(v);
    if (!any)
        return 0;
    return bt_summaries_write(dst, 0, NULL, 0, patient_lines, (void *)dst) == 0 ? 0 : 1;
}

int cmd_open(int argc, char **argv)
{
    const char *key = NULL, *out = NULL, *in = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: medseal open --key SECRET FILE [--out PATH]\n"
                   "       medseal open --key SECRET DIR --out DIR\n"
                   "  --key SECRET  the secret key file of keygen --recipient\n"
                   "  --out PATH    where the plaintext goes (a FILE: stdout by default; a DIR:\n"
                   "                required, every *.sealed below it opened into PATH without "
                   "the suffix)\n");
            return 0;
        }
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
            key = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (argv[i][0] != '-' && in == NULL)
            in = argv[i];
        else {
            cli_error("open", "bad or incomplete argument %d (see --help)", i);
            return 2;
        }
    }
    if (key == NULL || in == NULL) {
        cli_error("open", "--key SECRET and a FILE or DIR are required (see --help)");
        return 2;
    }
    uint8_t sk[32];
    if (bt_recipient_read(key, sk) != 0) {
        cli_error("open", "--key: not a secret key file from keygen --recipient");
        return 2;
    }
    struct stat sb;
    int ret;
    if (stat(in, &sb) != 0) {
        cli_error("open", "%s: not found", in);
        ret = 1;
    } else if (S_ISDIR(sb.st_mode)) {
        size_t n = 0;
        if (out == NULL) {
            cli_error("open", "a folder needs --out DIR");
            ret = 2;
        } else {
            ret = open_dir(in, out, sk, &n, 0);
            if (ret == 0)
                ret = assemble(out);
            fprintf(stderr, "medseal open: %zu files opened\n", n);
        }
    } else {
        ret = open_file(in, out, sk);
    }
    sodium_memzero(sk, sizeof sk);
    return ret;
}

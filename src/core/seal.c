/*
 * Secrets at rest: AES-256-GCM sealing under a master key, and where the master key comes from
 * (a key file, an environment hand-off, or an inherited file descriptor written by a key-broker
 * agent after attestation). Sealed format: "MSS1" | nonce(12) | ciphertext | tag(16); the label
 * is authenticated as AAD so a sealed audit key cannot be swapped for a sealed pseudonym key.
 * Trusts: the master key's provider. Wipes every stack copy of key material.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "medseal/seal.h"

#define MAGIC "MSS1"
#define NONCE 12
#define TAG   16

static ms_rc gcm(int enc, const uint8_t key[MS_KEY_LEN], const uint8_t nonce[NONCE],
                 const char *label, const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[TAG],
                 ms_err *err)
{
    ms_rc rc = MS_OK;
    int len = 0;
    if (n > 0x7fffffff)
        return ms_fail(err, MS_E_LIMIT, "sealed secret too large");
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c == NULL || !EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) ||
        !EVP_CipherUpdate(c, NULL, &len, (const uint8_t *)label, (int)strlen(label)) ||
        !EVP_CipherUpdate(c, out, &len, in, (int)n)) {
        rc = ms_fail(err, MS_E_CRYPTO, "AES-256-GCM failed");
        goto done;
    }
    if (!enc && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG, tag)) {
        rc = ms_fail(err, MS_E_CRYPTO, "AES-256-GCM failed");
        goto done;
    }
    if (!EVP_CipherFinal_ex(c, out + len, &len)) {
        rc = ms_fail(err, MS_E_CRYPTO, "sealed secret failed authentication (wrong master key?)");
        goto done;
    }
    if (enc && !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG, tag))
        rc = ms_fail(err, MS_E_CRYPTO, "AES-256-GCM failed");
done:
    EVP_CIPHER_CTX_free(c);
    return rc;
}

ms_rc ms_seal(const uint8_t key[MS_KEY_LEN], const char *label, const uint8_t *pt, size_t n,
              ms_buf *out, ms_err *err)
{
    size_t total;
    if (ms_size_add(n, 4 + NONCE + TAG, &total))
        return ms_fail(err, MS_E_LIMIT, "sealed secret too large");
    ms_rc rc = ms_buf_reserve(out, total, err);
    if (rc != MS_OK)
        return rc;
    uint8_t *o = out->p + out->len;
    memcpy(o, MAGIC, 4);
    if ((rc = ms_random(o + 4, NONCE, err)) != MS_OK)
        return rc;
    rc = gcm(1, key, o + 4, label, pt, n, o + 4 + NONCE, o + 4 + NONCE + n, err);
    if (rc != MS_OK) {
        ms_memzero(o, total);
        return rc;
    }
    out->len += total;
    out->p[out->len] = 0;
    return MS_OK;
}

ms_rc ms_unseal(const uint8_t key[MS_KEY_LEN], const char *label, const uint8_t *in, size_t n,
                ms_buf *out, ms_err *err)
{
    if (n < 4 + NONCE + TAG || memcmp(in, MAGIC, 4) != 0)
        return ms_fail(err, MS_E_FORMAT, "not a sealed secret (%zu bytes)", n);
    size_t ctlen = n - 4 - NONCE - TAG;
    ms_rc rc = ms_buf_reserve(out, ctlen, err);
    if (rc != MS_OK)
        return rc;
    uint8_t tag[TAG];
    memcpy(tag, in + 4 + NONCE + ctlen, TAG);
    rc = gcm(0, key, in + 4, label, in + 4 + NONCE, ctlen, out->p + out->len, tag, err);
    if (rc != MS_OK) {
        ms_memzero(out->p + out->len, ctlen);
        return rc;
    }
    out->len += ctlen;
    out->p[out->len] = 0;
    return MS_OK;
}

static ms_rc parse_hex_key(const char *s, size_t n, uint8_t key[MS_KEY_LEN], ms_err *err)
{
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    if (ms_hex_decode(s, n, key, MS_KEY_LEN, NULL) != MS_OK)
        return ms_fail(err, MS_E_FORMAT, "master key must be 64 hex characters");
    return MS_OK;
}

static ms_rc from_env(const char *var, uint8_t key[MS_KEY_LEN], ms_err *err)
{
    char *v = getenv(var);
    if (v == NULL)
        return ms_fail(err, MS_E_NOTFOUND, "master key variable is not set");
    ms_rc rc = parse_hex_key(v, strlen(v), key, err);
    ms_memzero(v, strlen(v)); /* the environment block is readable in /proc/PID/environ */
    unsetenv(var);
    return rc;
}

static ms_rc from_fd(const char *num, uint8_t key[MS_KEY_LEN], ms_err *err)
{
    char *end = NULL;
    long fd = strtol(num, &end, 10);
    if (end == num || *end != '\0' || fd < 0 || fd > 65535)
        return ms_fail(err, MS_E_INVAL, "master key fd: not a descriptor number");
    char buf[130];
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t r = read((int)fd, buf + got, sizeof buf - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close((int)fd);
    ms_rc rc = parse_hex_key(buf, got, key, err);
    ms_memzero(buf, sizeof buf);
    return rc;
}

ms_rc ms_master_key_load(const char *spec, uint8_t key[MS_KEY_LEN], ms_err *err)
{
    if (spec == NULL || *spec == '\0')
        return ms_fail(err, MS_E_INVAL, "no master key source given");
    if (strncmp(spec, "env:", 4) == 0)
        return from_env(spec + 4, key, err);
    if (strncmp(spec, "fd:", 3) == 0)
        return from_fd(spec + 3, key, err);
    if (strncmp(spec, "file:", 5) == 0)
        spec += 5;
    return ms_keyfile_read(spec, key, err);
}

int ms_file_is_sealed(const char *path)
{
    char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return n == sizeof magic && memcmp(magic, "MSS1", 4) == 0;
}

ms_rc ms_keyfile_read_sealed(const char *path, const uint8_t *master, const char *label,
                             uint8_t key[MS_KEY_LEN], int *sealed, ms_err *err)
{
    if (!ms_file_is_sealed(path)) {
        if (sealed != NULL)
            *sealed = 0;
        return ms_keyfile_read(path, key, err);
    }
    if (master == NULL)
        return ms_fail(err, MS_E_INVAL, "key file is sealed: a master key is needed");
    ms_buf in, out;
    ms_buf_init(&in, NULL, 4096);
    ms_buf_init(&out, NULL, 4096);
    ms_rc rc = ms_file_read(path, NULL, 4096, &in, err);
    if (rc == MS_OK)
        rc = ms_unseal(master, label, in.p, in.len, &out, err);
    if (rc == MS_OK && out.len != MS_KEY_LEN)
        rc = ms_fail(err, MS_E_FORMAT, "sealed key file holds %zu bytes, not %d", out.len,
                     MS_KEY_LEN);
    if (rc == MS_OK) {
        memcpy(key, out.p, MS_KEY_LEN);
        if (sealed != NULL)
            *sealed = 1;
    }
    ms_buf_free(&in);
    ms_buf_free(&out);
    return rc;
}

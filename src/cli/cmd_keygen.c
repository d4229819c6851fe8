/*
 * medseal keygen: prints a new site key (32 random bytes as 64 hex characters) on stdout, for
 * --key of deid, scrub and analyze. Refuses to print to a terminal unless --force, so a key does
 * not end up in a scroll-back buffer by accident. With --seal SPEC it prints the key sealed
 * (AES-256-GCM, seal.h) under the master key from SPEC instead: for `medseal serve --pseudo-key`,
 * so the site key is never on disk in the clear.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "medseal/seal.h"

/* The sealed form of key under the master key from spec, written to stdout. */
static int put_sealed(const uint8_t key[MS_KEY_LEN], const char *spec, ms_err *err)
{
    uint8_t mk[MS_KEY_LEN];
    ms_buf out;
    ms_buf_init(&out, NULL, 4096);
    ms_rc rc = ms_master_key_load(spec, mk, err);
    if (rc == MS_OK)
        rc = ms_seal(mk, MS_SEAL_LABEL_PSEUDO_KEY, key, MS_KEY_LEN, &out, err);
    ms_memzero(mk, sizeof mk);
    int ok = rc == MS_OK && fwrite(out.p, 1, out.len, stdout) == out.len && fflush(stdout) == 0;
    ms_buf_free(&out);
    return ok;
}

int cmd_keygen(int argc, char **argv)
{
    int force = 0;
    const char *seal = NULL, *recipient = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else if (strcmp(argv[i], "--seal") == 0 && i + 1 < argc) {
            seal = argv[++i];
        } else if (strcmp(argv[i], "--recipient") == 0 && i + 1 < argc) {
            recipient = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: medseal keygen [--force] [--seal MASTER_SPEC] > KEYFILE   (chmod 600)\n"
                   "       medseal keygen [--force] --recipient PUBFILE > SECRETFILE\n"
                   "  --seal       print the key sealed under the master key (file:P, env:VAR,\n"
                   "               fd:N) for medseal serve --pseudo-key\n"
                   "  --recipient  an X25519 key pair for batch --recipient: the public key to\n"
                   "               PUBFILE, the secret (for medseal open --key) on stdout\n");
            return 0;
        } else {
            cli_error("keygen", "unknown option (see --help)");
            return 2;
        }
    }
    if (isatty(STDOUT_FILENO) && !force) {
        cli_error("keygen", "refusing to print a key to a terminal; redirect to a file or --force");
        return 2;
    }
    if (recipient != NULL)
        return bt_keygen_recipient(recipient);
    uint8_t key[MS_KEY_LEN];
    char text[MS_KEY_LEN * 2 + 2];
    ms_err err = {0};
    if (ms_random(key, sizeof key, &err) != MS_OK) {
        cli_report("keygen", NULL, &err);
        return 1;
    }
    ms_keyfile_format(key, text);
    int ok = seal != NULL ? put_sealed(key, seal, &err)
                          : fputs(text, stdout) >= 0 && fflush(stdout) == 0;
    ms_memzero(key, sizeof key);
    ms_memzero(text, sizeof text);
    if (!ok && err.code != MS_OK) {
        cli_report("keygen", "--seal", &err);
        return 1;
    }
    if (!ok) {
        cli_error("keygen", "write failed");
        return 1;
    }
    return 0;
}

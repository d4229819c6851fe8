/*
 * medseal keygen: prints a new site key (32 random bytes as 64 hex characters) on stdout, for
 * --key of deid, scrub and analyze. Refuses to print to a terminal unless --force, so a key does
 * not end up in a scroll-back buffer by accident.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

int cmd_keygen(int argc, char **argv)
{
    int force = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: medseal keygen [--force] > KEYFILE   (chmod 600 KEYFILE)\n");
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
    uint8_t key[MS_KEY_LEN];
    char text[MS_KEY_LEN * 2 + 2];
    ms_err err = {0};
    if (ms_random(key, sizeof key, &err) != MS_OK) {
        cli_report("keygen", NULL, &err);
        return 1;
    }
    ms_keyfile_format(key, text);
    int ok = fputs(text, stdout) >= 0 && fflush(stdout) == 0;
    ms_memzero(key, sizeof key);
    ms_memzero(text, sizeof text);
    if (!ok) {
        cli_error("keygen", "write failed");
        return 1;
    }
    return 0;
}

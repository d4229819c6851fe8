/*
 * medseal: the command-line entry point. Dispatches to the subcommands in cmd_*.c.
 * Trusts: nothing on the command line; each subcommand validates its own arguments.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
};

static const struct command commands[] = {
    {"dump", cmd_dump, "DICOM files as DICOM JSON (PS3.18 F.2) or a dcmdump-like text view"},
    {"deid", cmd_deid, "de-identify DICOM files or trees (PS3.15 E.1 profile, keyed pseudonyms)"},
    {"keygen", cmd_keygen, "print a new 32-byte site key (hex) for --key"},
    {"scrub", cmd_scrub, "remove PHI from free text (stdin to stdout)"},
    {"analyze", cmd_analyze, "structured report, Lung-RADS / Fleischner / BI-RADS, comparison"},
    {"batch", cmd_batch, "analyse a whole archive: every patient against their priors, resumable"},
    {"open", cmd_open, "decrypt files sealed by batch --recipient (keygen --recipient key)"},
    {"classify", cmd_classify, "evaluate one nodule finding (JSON on stdin) against a guideline"},
    {"serve", cmd_serve, "the confidential HTTPS gateway (OpenAI-compatible API)"},
    {"keys", cmd_keys, "create, list and revoke API keys"},
    {"verify", cmd_verify, "verify TDX / SEV-SNP attestation evidence or a live server"},
    {"audit", cmd_audit, "verify, prove and export the tamper-evident audit log"},
};

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "medseal %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_report(const char *cmd, const char *context, const ms_err *err)
{
    const char *msg = (err != NULL && err->msg[0] != '\0') ? err->msg : "failed";
    if (context != NULL)
        fprintf(stderr, "medseal %s: %s: %s\n", cmd, context, msg);
    else
        fprintf(stderr, "medseal %s: %s\n", cmd, msg);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: medseal <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`medseal help <command>` (or `medseal <command> --help`) describes each; "
               "medseal %s\n",
            MS_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "help") == 0 && argc >= 3) {
        /* `medseal help CMD` is `medseal CMD --help` */
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
            if (strcmp(argv[2], commands[i].name) == 0) {
                char *hargv[] = {argv[2], (char *)"--help", NULL};
                return commands[i].fn(2, hargv);
            }
        }
        fprintf(stderr, "medseal help: unknown command (see medseal --help)\n");
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("medseal %s\n", MS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "medseal: unknown command (see medseal --help)\n");
    return 2;
}

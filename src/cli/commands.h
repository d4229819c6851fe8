/*
 * The medseal subcommands. Each lives in its own file (cmd_<name>.c) and has the signature of
 * main(): argv[0] is the subcommand's name. Exit status: 0 success, 1 a check or an input failed,
 * 2 usage error. Errors are one line on stderr, "medseal <cmd>: <message>", never a PHI value.
 */
#ifndef MEDSEAL_CLI_COMMANDS_H
#define MEDSEAL_CLI_COMMANDS_H

#include "medseal/analyst.h"
#include "medseal/core.h"

int cmd_dump(int argc, char **argv);     /* issue: DICOM codec */
int cmd_deid(int argc, char **argv);     /* issue: de-identification */
int cmd_keygen(int argc, char **argv);   /* site key file on stdout */
int cmd_scrub(int argc, char **argv);    /* issue: free-text PHI */
int cmd_analyze(int argc, char **argv);  /* issue: analyst */
int cmd_classify(int argc, char **argv); /* issue: analyst */
int cmd_serve(int argc, char **argv);    /* issue: gateway */
int cmd_keys(int argc, char **argv);     /* issue: gateway (API keys) */
int cmd_verify(int argc, char **argv);   /* issue: attestation */
int cmd_audit(int argc, char **argv);    /* issue: audit log */
int cmd_batch(int argc, char **argv);    /* issue 19: archive batch analysis */
int cmd_open(int argc, char **argv);     /* issue 19: opens files sealed by batch --recipient */
/* keygen --recipient PUBFILE: an X25519 key pair, secret on stdout, public to PUBFILE. */
int bt_keygen_recipient(const char *pubpath);

/* render.c: one report in json|text|fhir|html appended to out (analyze and batch share it). */
int cli_format_known(const char *format);
ms_rc cli_render_report(const an_report *r, const char *format, ms_buf *out, ms_err *err);

/* Prints "medseal <cmd>: <formatted message>\n" to stderr. Never pass a PHI value. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints an ms_err as one line: "medseal <cmd>: <context>: <message>". */
void cli_report(const char *cmd, const char *context, const ms_err *err);

#endif

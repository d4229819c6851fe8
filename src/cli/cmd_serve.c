/*
 * medseal serve: runs the confidential HTTPS gateway (src/gateway) until SIGTERM or SIGINT, then
 * stops gracefully (no new connections, in-flight requests finish, at most --grace seconds).
 * Trusts: the command line and config file are the operator's. Owns: the server. The process is
 * hardened first (no core dumps, not dumpable) because it will hold PHI in memory.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "medseal/gateway.h"
#include "medseal/secmem.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: medseal serve --listen HOST:PORT --cert CERT.pem --key KEY.pem --state DIR\n"
            "                     [--upstream URL] [--upstream-key-file F] [--pseudo-key F]\n"
            "                     [--master-key SPEC] [--state-db URL] [--replica-id ID]\n"
            "                     [--config FILE] [--insecure-no-attestation] [--grace SECONDS]\n"
            "                     [--allow-unlocked-memory] [--lock-all-memory]\n"
            "                     [--dicom-listen HOST:PORT]\n"
            "  --listen     IPv4 address and port (port 0: any free port, printed at start)\n"
            "  --cert/--key PEM certificate chain and private key (TLS 1.3 only)\n"
            "  --state      folder for keys.sqlite and the audit log (created 0700)\n"
            "  --upstream   OpenAI-compatible base URL for other models, e.g. http://h:8000/v1\n"
            "  --upstream-key-file  bearer token for the upstream\n"
            "  --pseudo-key site key file (medseal keygen): stable surrogates across requests;\n"
            "               may be sealed (medseal keygen --seal SPEC)\n"
            "  --master-key master key source for the sealed secrets: file:P, env:VAR or fd:N\n"
            "               (a key broker's hand-off); default STATE/master.key\n"
            "  --state-db   postgresql://... URL: keys, roles, TOTP state and the audit\n"
            "               tree-head witness shared by every replica (TLS per the URL's\n"
            "               sslmode); default STATE/keys.sqlite\n"
            "  --replica-id this replica's name in audit records, metrics and published\n"
            "               tree heads (default: the host name)\n"
            "  --config     key = value file: max_body, max_header, max_conns, max_conns_per_ip,\n"
            "               request_timeout_s, idle_timeout_s, upstream_timeout_s, rate_rpm,\n"
            "               study_ttl_s, study_max_bytes, mem_limit, mem_locked, audit_sync,\n"
            "               state_db, replica_id, proxy_protocol_from (CIDRs of the load\n"
            "               balancers that send a PROXY v2 header: HAProxy send-proxy-v2),\n"
            "               upstream_unknown_fields (reject|drop), upstream_models (a, b),\n"
            "               max_inflated, max_inflate_ratio (deflated DICOM), audit_witness FILE\n"
            "               dicom_listen, dicom_ae_title (default MEDSEAL), dicom_peers FILE\n"
            "               (AE HOST KEY per line, mode 0600), dicom_tls (0|1), dicom_tls_ca,\n"
            "               dicom_artim_s (30), dicom_idle_s (60), dicom_max_pdu (65536),\n"
            "               dicom_results_to AE@host:port (docs/pacs.md)\n"
            "               (flags win over the file)\n"
            "  --dicom-listen  IPv4 address and port of the DIMSE C-ECHO/C-STORE SCP (port 0:\n"
            "               any free port, printed at start); needs dicom_peers\n"
            "  --insecure-no-attestation  development only: serve without TEE evidence\n"
            "               (every answer then carries X-Medseal-Attestation: UNATTESTED)\n"
            "  --allow-unlocked-memory  start even when mem_limit bytes cannot be locked in RAM\n"
            "               (then mem_locked from --config applies; default: locked, or refuse)\n"
            "  --lock-all-memory  also lock every other page of the process (libmicrohttpd and\n"
            "               GnuTLS buffers included) in RAM: mlockall; needs CAP_IPC_LOCK or a\n"
            "               large RLIMIT_MEMLOCK; refuses to start if it cannot\n");
}

struct flags {
    const char *config;
    unsigned grace;
    int allow_unlocked;
    int lock_all;
};

static const char *const str_flags[] = {
    "--listen",     "--cert",       "--key",      "--state",     "--upstream", "--upstream-key-file",
    "--pseudo-key", "--master-key", "--state-db", "--replica-id", "--dicom-listen"};

static const char **str_slot(gw_config *c, size_t i)
{
    const char **slots[] = {&c->listen,          &c->cert_path, &c->key_path,
                            &c->state_dir,       &c->upstream,  &c->upstream_key_file,
                            &c->pseudo_key_file, &c->master_key,
                            &c->state_db,        &c->replica_id,
                            &c->dicom_listen};
    return slots[i];
}

/* Two passes: --config first (so flags override it), then the flags. */
static int parse(int argc, char **argv, gw_config *c, struct flags *fl, int apply)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int matched = 0;
        if (strcmp(a, "--insecure-no-attestation") == 0) {
            if (apply)
                c->insecure_no_attestation = 1;
            continue;
        }
        if (strcmp(a, "--allow-unlocked-memory") == 0) {
            fl->allow_unlocked = 1;
            continue;
        }
        if (strcmp(a, "--lock-all-memory") == 0) {
            fl->lock_all = 1;
            continue;
        }
        if (i + 1 >= argc) {
            cli_error("serve", "unknown option or missing value (see --help)");
            return 2;
        }
        if (strcmp(a, "--config") == 0) {
            fl->config = argv[++i];
            continue;
        }
        if (strcmp(a, "--grace") == 0) {
            fl->grace = (unsigned)strtoul(argv[++i], NULL, 10);
            continue;
        }
        for (size_t k = 0; k < sizeof str_flags / sizeof str_flags[0]; k++) {
            if (strcmp(a, str_flags[k]) == 0) {
                if (apply)
                    *str_slot(c, k) = argv[i + 1];
                matched = 1;
            }
        }
        if (!matched) {
            cli_error("serve", "unknown option (see --help)");
            return 2;
        }
        i++;
    }
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    gw_config c;
    struct flags fl = {NULL, 30, 0, 0};
    ms_err err = {0};
    char *arena = NULL;
    gw_server *s = NULL;
    struct timespec t0, t1;
    sigset_t set;
    int sig = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    gw_config_defaults(&c);
    if (parse(argc, argv, &c, &fl, 0) != 0)
        return 2;
    if (fl.config != NULL && gw_config_load(&c, fl.config, &arena, &err) != MS_OK) {
        cli_report("serve", "--config", &err);
        return 2;
    }
    parse(argc, argv, &c, &fl, 1);
    if (c.listen == NULL || c.cert_path == NULL || c.key_path == NULL || c.state_dir == NULL) {
        usage(stderr);
        ms_free(NULL, arena);
        return 2;
    }
    /* PHI memory is locked (never swapped) unless the operator explicitly allows otherwise */
    if (!fl.allow_unlocked)
        c.mem_locked = 1;
    if (ms_process_harden(&err) != MS_OK && !fl.allow_unlocked) {
        cli_report("serve", "hardening", &err);
        ms_free(NULL, arena);
        return 1;
    }
    /* asked for explicitly, so never waived: before the server's threads and buffers exist */
    if (fl.lock_all && ms_process_lock_all(&err) != MS_OK) {
        cli_report("serve", "--lock-all-memory", &err);
        ms_free(NULL, arena);
        return 1;
    }
    /* SIGTERM/SIGINT are taken with sigwait below: block them before any thread starts */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (gw_server_start(&c, &s, &err) != MS_OK) {
        cli_report("serve", "start", &err);
        ms_free(NULL, arena);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("medseal serve: listening on https://%.*s:%u attestation=%s ready in %.1f ms\n",
           (int)(strrchr(c.listen, ':') - c.listen), c.listen, gw_server_port(s),
           gw_server_attestation(s), ms);
    if (c.dicom_listen != NULL)
        printf("medseal serve: dicom on %.*s:%u%s\n",
               (int)(strrchr(c.dicom_listen, ':') - c.dicom_listen), c.dicom_listen,
               gw_server_dicom_port(s), c.dicom_tls ? " (tls)" : "");
    fflush(stdout);
    sigwait(&set, &sig);
    printf("medseal serve: signal %d, finishing in-flight requests\n", sig);
    fflush(stdout);
    gw_server_stop(s, fl.grace);
    printf("medseal serve: stopped\n");
    ms_free(NULL, arena);
    return 0;
}

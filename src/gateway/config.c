/*
 * Server configuration: defaults and the `--config FILE` format, one `key = value` per line, `#`
 * comments. Unknown keys and malformed numbers are errors (a typo must not silently weaken a
 * limit). Trusts: the file is the operator's, but is still parsed with bounds. Owns: the string
 * arena it returns.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void gw_config_defaults(gw_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_body = (size_t)64 << 20;
    c->max_header = (size_t)16 << 10;
    c->max_conns = 256;
    c->max_conns_per_ip = 64;
    c->request_timeout_s = 60;
    c->idle_timeout_s = 30;
    c->upstream_timeout_s = 120;
    c->rate_rpm = 600;
    c->study_ttl_s = 900;
    c->study_max_bytes = (size_t)1 << 30;
    c->mem_limit = (size_t)4 << 30;
    c->dicom_ae_title = "MEDSEAL";
    c->dicom_artim_s = 30;
    c->dicom_idle_s = 60;
    c->dicom_max_pdu = 65536;
}

struct num_key {
    const char *name;
    size_t off;
    int is_size;
};

#define NK(f, s)                                                                                   \
    {                                                                                              \
#f, offsetof(gw_config, f), s                                                              \
    }
static const struct num_key num_keys[] = {
    NK(max_body, 1),           NK(max_header, 1),        NK(max_conns, 0),
    NK(max_conns_per_ip, 0),   NK(request_timeout_s, 0), NK(idle_timeout_s, 0),
    NK(upstream_timeout_s, 0), NK(rate_rpm, 0),          NK(study_ttl_s, 0),
    NK(study_max_bytes, 1),    NK(mem_limit, 1),         NK(insecure_no_attestation, 0),
    NK(mem_locked, 0),         NK(max_inflated, 1),      NK(max_inflate_ratio, 0),
    NK(dicom_tls, 0),          NK(dicom_artim_s, 0),     NK(dicom_idle_s, 0),
    NK(dicom_max_pdu, 0),
};

static const struct {
    const char *name;
    size_t off;
} str_keys[] = {
    {"listen", offsetof(gw_config, listen)},
    {"cert", offsetof(gw_config, cert_path)},
    {"key", offsetof(gw_config, key_path)},
    {"state", offsetof(gw_config, state_dir)},
    {"upstream", offsetof(gw_config, upstream)},
    {"upstream_key_file", offsetof(gw_config, upstream_key_file)},
    {"pseudo_key_file", offsetof(gw_config, pseudo_key_file)},
    {"site_lists", offsetof(gw_config, site_lists)},
    {"master_key", offsetof(gw_config, master_key)},
    {"state_db", offsetof(gw_config, state_db)},
    {"replica_id", offsetof(gw_config, replica_id)},
    {"upstream_models", offsetof(gw_config, upstream_models)},
    {"audit_witness", offsetof(gw_config, audit_witness)},
    {"proxy_protocol_from", offsetof(gw_config, proxy_protocol_from)},
    {"dicom_listen", offsetof(gw_config, dicom_listen)},
    {"dicom_ae_title", offsetof(gw_config, dicom_ae_title)},
    {"dicom_peers", offsetof(gw_config, dicom_peers)},
    {"dicom_tls_ca", offsetof(gw_config, dicom_tls_ca)},
    {"dicom_results_to", offsetof(gw_config, dicom_results_to)},
};

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static ms_rc set_num(gw_config *c, const struct num_key *k, const char *v, unsigned line,
                     ms_err *err)
{
    char *end = NULL;
    unsigned long long x = strtoull(v, &end, 10);
    if (end == v || *end != '\0' || (!k->is_size && x > 0xffffffffull))
        return ms_fail(err, MS_E_FORMAT, "config line %u: %s needs a number", line, k->name);
    if (k->is_size)
        *(size_t *)(void *)((char *)c + k->off) = (size_t)x;
    else if (strcmp(k->name, "insecure_no_attestation") == 0)
        c->insecure_no_attestation = x != 0;
    else if (strcmp(k->name, "mem_locked") == 0)
        c->mem_locked = x != 0;
    else
        *(unsigned *)(void *)((char *)c + k->off) = (unsigned)x;
    return MS_OK;
}

static ms_rc set_key(gw_config *c, char *name, char *v, unsigned line, ms_err *err)
{
    if (strcmp(name, "audit_sync") == 0) {
        static const char *const modes[] = {"write", "fsync", "batch"}; /* GW_AUDIT_* order */
        for (int m = 0; m < 3; m++) {
            if (strcmp(v, modes[m]) == 0) {
                c->audit_sync = m;
                return MS_OK;
            }
        }
        return ms_fail(err, MS_E_FORMAT, "config line %u: audit_sync needs write, fsync or batch",
                       line);
    }
    if (strcmp(name, "upstream_unknown_fields") == 0) {
        if (strcmp(v, "reject") != 0 && strcmp(v, "drop") != 0)
            return ms_fail(err, MS_E_FORMAT,
                           "config line %u: upstream_unknown_fields needs reject or drop", line);
        c->upstream_drop_unknown = strcmp(v, "drop") == 0;
        return MS_OK;
    }
    for (size_t i = 0; i < sizeof num_keys / sizeof num_keys[0]; i++) {
        if (strcmp(name, num_keys[i].name) == 0)
            return set_num(c, &num_keys[i], v, line, err);
    }
    for (size_t i = 0; i < sizeof str_keys / sizeof str_keys[0]; i++) {
        if (strcmp(name, str_keys[i].name) == 0) {
            *(const char **)(void *)((char *)c + str_keys[i].off) = v;
            return MS_OK;
        }
    }
    return ms_fail(err, MS_E_FORMAT, "config line %u: unknown key", line);
}

ms_rc gw_config_load(gw_config *c, const char *path, char **arena, ms_err *err)
{
    ms_buf b;
    unsigned line = 0;
    ms_buf_init(&b, NULL, 1u << 20);
    if (ms_file_read(path, NULL, 1u << 20, &b, err) != MS_OK)
        return err ? err->code : MS_E_IO;
    char *p = (char *)b.p, *next;
    for (; p != NULL && *p != '\0'; p = next) {
        next = strchr(p, '\n');
        if (next != NULL)
            *next++ = '\0';
        line++;
        char *s = trim(p);
        if (*s == '#' || *s == '\0')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            ms_buf_free(&b);
            return ms_fail(err, MS_E_FORMAT, "config line %u: expected key = value", line);
        }
        *eq = '\0';
        if (set_key(c, trim(s), trim(eq + 1), line, err) != MS_OK) {
            ms_buf_free(&b);
            return err ? err->code : MS_E_FORMAT;
        }
    }
    size_t len = 0;
    *arena = (char *)ms_buf_steal(&b, &len);
    return MS_OK;
}

/*
 * medseal keys: create, list and revoke API keys in the state folder's key store. A new key is
 * printed once (only its HMAC is stored); an admin key also gets a TOTP secret (RFC 6238, SHA-1,
 * 6 digits, 30 s) printed once as base32 and as an otpauth:// URI to enrol in an authenticator.
 * The store is STATE/keys.sqlite, or the PostgreSQL database every replica shares (--state-db).
 * Trusts: the operator's command line. Owns: the new key text (wiped after printing).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "medseal/gateway.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: medseal keys create (--state DIR | --state-db URL) --role ROLE [--expires WHEN]\n"
               "                          [--rate RPM]\n"
               "       medseal keys list   (--state DIR | --state-db URL) [--json]\n"
               "       medseal keys revoke (--state DIR | --state-db URL) ID\n"
               "  --state     folder holding keys.sqlite\n"
               "  --state-db  postgresql://... URL of the database the replicas share\n"
               "  ROLE: clinician | researcher | auditor | admin\n"
               "  WHEN: a duration (90d, 12h, 30m, 3600s) or a date (YYYY-MM-DD, UTC)\n"
               "  RPM:  requests per minute for this key (0: the server's default)\n");
}

/* Parses --expires into a Unix time; -1 when malformed. */
static int64_t parse_expires(const char *s, int64_t now)
{
    int y = 0, m = 0, d = 0;
    char *end = NULL;
    long long n = strtoll(s, &end, 10);
    if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
        long days = 0;
        y = (int)strtol(s, NULL, 10);
        m = (int)strtol(s + 5, NULL, 10);
        d = (int)strtol(s + 8, NULL, 10);
        if (ms_date_to_days(y, m, d, &days) != MS_OK)
            return -1;
        return (int64_t)days * 86400;
    }
    if (end == s || n <= 0)
        return -1;
    switch (*end) {
    case 'd':
        return now + n * 86400;
    case 'h':
        return now + n * 3600;
    case 'm':
        return now + n * 60;
    case 's':
    case '\0':
        return now + n;
    default:
        return -1;
    }
}

static int create(gw_keystore *ks, gw_role role, int64_t expires, uint32_t rate)
{
    gw_new_key k;
    ms_err err = {0};
    if (gw_keystore_create(ks, role, expires, rate, &k, &err) != MS_OK) {
        cli_report("keys", "create", &err);
        return 1;
    }
    printf("id:   %s\nrole: %s\nkey:  %s\n", k.id, gw_role_name(role), k.text);
    if (role == GW_ROLE_ADMIN)
        printf("totp: %s\notpauth://totp/medseal:%s?secret=%s&issuer=medseal&algorithm=SHA1&"
               "digits=6&period=30\n",
               k.totp_b32, k.id, k.totp_b32);
    printf("(shown once: only a hash is stored)\n");
    fflush(stdout);
    ms_memzero(&k, sizeof k);
    return 0;
}

static void iso(int64_t t, char *out, size_t n)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, n, "%lld", (long long)t);
}

/* "revoked", "expired" (expires_at passed: the server refuses it) or "active". */
static const char *key_state(const gw_key_info *k, int64_t now)
{
    if (k->revoked)
        return "revoked";
    return k->expires_at != 0 && k->expires_at <= now ? "expired" : "active";
}

static void print_key(void *ud, const gw_key_info *k)
{
    int json = *(int *)ud;
    int64_t now = (int64_t)time(NULL);
    if (json)
        printf("{\"id\":\"%s\",\"role\":\"%s\",\"created_at\":%lld,\"expires_at\":%lld,"
               "\"revoked\":%s,\"expired\":%s,\"state\":\"%s\",\"rate_rpm\":%u}\n",
               k->id, gw_role_name(k->role), (long long)k->created_at, (long long)k->expires_at,
               k->revoked ? "true" : "false",
               k->expires_at != 0 && k->expires_at <= now ? "true" : "false", key_state(k, now),
               k->rate_rpm);
    else {
        char c[32], e[32];
        iso(k->created_at, c, sizeof c);
        iso(k->expires_at, e, sizeof e);
        printf("%s  %-10s  created %s  expires %-20s  %s\n", k->id, gw_role_name(k->role), c,
               k->expires_at ? e : "never",
               k->revoked ? "REVOKED" : strcmp(key_state(k, now), "expired") == 0 ? "EXPIRED"
                                                                                    : "active");
    }
}

struct opts {
    const char *state, *state_db, *role, *expires, *rate, *id;
    int json;
};

static int parse(int argc, char **argv, struct opts *o)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--state") == 0      ? &o->state
                            : strcmp(a, "--state-db") == 0 ? &o->state_db
                            : strcmp(a, "--role") == 0     ? &o->role
                            : strcmp(a, "--expires") == 0 ? &o->expires
                            : strcmp(a, "--rate") == 0    ? &o->rate
                                                          : NULL;
        if (strcmp(a, "--json") == 0)
            o->json = 1;
        else if (slot != NULL && i + 1 < argc)
            *slot = argv[++i];
        else if (a[0] != '-' && o->id == NULL)
            o->id = a;
        else
            return -1;
    }
    return o->state || o->state_db ? 0 : -1;
}

int cmd_keys(int argc, char **argv)
{
    struct opts o = {0};
    gw_keystore *ks = NULL;
    ms_err err = {0};
    int rc = 0;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || parse(argc, argv, &o) != 0) {
        usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    const char *sub = argv[1];
    gw_role role = gw_role_parse(o.role);
    int64_t expires = o.expires ? parse_expires(o.expires, (int64_t)time(NULL)) : 0;
    if ((strcmp(sub, "create") == 0 && (role == GW_ROLE_NONE || expires < 0)) ||
        (strcmp(sub, "revoke") == 0 && o.id == NULL)) {
        usage(stderr);
        return 2;
    }
    if (gw_keystore_open_db(o.state, o.state_db, &ks, &err) != MS_OK) {
        cli_report("keys", o.state_db ? "--state-db" : "--state", &err);
        return 1;
    }
    if (strcmp(sub, "create") == 0)
        rc = create(ks, role, expires, o.rate ? (uint32_t)strtoul(o.rate, NULL, 10) : 0);
    else if (strcmp(sub, "list") == 0)
        rc = gw_keystore_list(ks, print_key, &o.json, &err) == MS_OK ? 0 : 1;
    else if (strcmp(sub, "revoke") == 0) {
        rc = gw_keystore_revoke(ks, o.id, &err) == MS_OK ? 0 : 1;
        if (rc == 0)
            printf("revoked %s\n", o.id);
    } else {
        usage(stderr);
        rc = 2;
    }
    if (rc == 1)
        cli_report("keys", sub, &err);
    gw_keystore_close(ks);
    return rc;
}

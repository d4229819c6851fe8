/*
 * The audit log against the planted PHI of ../shared/tools/make_study.py: every planted value is
 * offered in every string field of a record and as the patient; whatever is not token-shaped must
 * be refused, the patient field only takes the keyed pseudonym, and the decrypted export of the
 * log must not contain any planted value that is not token-shaped (names, addresses, phone
 * numbers, DICOM person names, free text). Token-shaped values (an MRN, a UID, an e-mail address)
 * cannot be told from identifiers by syntax: the test counts them instead of pretending.
 * Skips when ../shared is absent.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "medseal/audit.h"
#include "test.h"

static const uint8_t master[MS_KEY_LEN] = {2, 7, 1, 8};

static int is_token(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > AUDIT_FIELD_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/+=-", s[i]))
            return 0;
    }
    return 1;
}

static int collect(void *ud, const char *line, size_t len)
{
    ms_buf *b = ud;
    return ms_buf_append(b, line, len, NULL) || ms_buf_append_byte(b, '\n', NULL);
}

/* Offers `v` in each field; returns how many appends were accepted. */
static int offer(audit_log *l, const char *v)
{
    int ok = 0;
    for (int f = 0; f < 8; f++) {
        audit_record r = {0};
        r.action = "chat.completion";
        const char **slot[] = {&r.request_id, &r.key_id,  &r.role,    &r.route,
                               &r.model,      &r.outcome, &r.patient, &r.evidence_hash};
        *slot[f] = v;
        ok += audit_log_append(l, &r, NULL, NULL) == MS_OK;
    }
    return ok;
}

TEST(test_audit_planted_phi_stays_out)
{
    const char *shared = ms_test_shared();
    if (shared == NULL)
        SKIP("../shared not available");
    const char *d = ms_test_tmpdir();
    CHECK(ms_test_sh(NULL,
                     "/usr/bin/python3 %s/tools/make_study.py %s/study --slices 1 --size 32 "
                     "--studies 2 --seed 7 >/dev/null 2>&1",
                     shared, d) == 0);
    char p[1024], state[600];
    snprintf(p, sizeof p, "%s/study/manifest.json", d);
    snprintf(state, sizeof state, "%s/state", d);
    json_t *m = json_load_file(p, 0, NULL);
    json_t *planted = json_object_get(m, "planted_phi");
    CHECK(json_is_array(planted) && json_array_size(planted) > 10);
    audit_log *l = NULL;
    ms_err err = {0};
    CHECK(audit_log_open(state, master, NULL, &l, &err) == MS_OK);
    size_t tokens = 0, refused = 0;
    for (size_t i = 0; i < json_array_size(planted); i++) {
        const char *v = json_string_value(json_array_get(planted, i));
        CHECK(v != NULL);
        int ok = offer(l, v);
        if (is_token(v))
            tokens++;
        else
            refused += ok == 0;
        CHECK(is_token(v) || ok == 0);
    }
    /* the way callers name the patient: the keyed pseudonym of (issuer, MRN) */
    const char *mrn = json_string_value(json_object_get(json_object_get(m, "identity"), "mrn"));
    CHECK(mrn != NULL);
    uint8_t key[MS_KEY_LEN] = {4};
    char pseudo[MS_PSEUDO_MAX];
    CHECK(ms_pseudo_patient(key, "HOSP", 4, mrn, strlen(mrn), pseudo, NULL) == MS_OK);
    audit_record r = {0};
    r.action = "cli.deid";
    r.patient = pseudo;
    CHECK(audit_log_append(l, &r, NULL, &err) == MS_OK);
    r.patient = mrn; /* the raw MRN is refused even though it is token-shaped */
    CHECK(audit_log_append(l, &r, NULL, &err) == MS_E_INVAL);
    CHECK(audit_log_close(l, &err) == MS_OK);
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    CHECK(audit_export(state, master, 0, 0, collect, &out, &err) == MS_OK);
    CHECK(strstr((char *)out.p, pseudo) != NULL);
    for (size_t i = 0; i < json_array_size(planted); i++) {
        const char *v = json_string_value(json_array_get(planted, i));
        CHECK(is_token(v) || strstr((char *)out.p, v) == NULL);
    }
    fprintf(stderr, "  %zu planted values: %zu refused in every field, %zu token-shaped\n",
            json_array_size(planted), refused, tokens);
    CHECK(refused > 0);
    ms_buf_free(&out);
    json_decref(m);
    return 0;
}

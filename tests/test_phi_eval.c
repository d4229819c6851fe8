/*
 * Evaluation floors of the PHI scrubber: runs scripts/phi-eval.py (the `make eval-phi` harness)
 * against the built CLI on the labelled sets in ../shared and fails when recall, precision or the
 * over-redaction rate regress past the floors reached (see README.md for the full tables).
 * Skips without ../shared. Takes about 30 s.
 */
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

static int run_eval(const char *sets, const char *floors)
{
    char *out = NULL;
    int rc =
        ms_test_sh(&out, "/usr/bin/python3 %s/scripts/phi-eval.py --bin %s --quiet --set %s %s",
                   ms_test_root(), ms_test_medseal(), sets, floors);
    if (rc != 0 && out != NULL)
        fprintf(stderr, "%s", out);
    free(out);
    return rc;
}

TEST(test_phi_eval_asq_presidio_meddocan_floors)
{
    if (ms_test_shared() == NULL)
        SKIP("../shared not available");
    if (access(ms_test_medseal(), X_OK) != 0)
        SKIP("medseal binary not built");
    CHECK(run_eval("asq,presidio,meddocan",
                   "--floor asq:recall:0.995 --floor asq:over_redaction:0.03 "
                   "--floor asq:span_precision:0.998 "
                   "--floor presidio:recall:0.77 --floor presidio:precision:0.99 "
                   "--floor meddocan:recall:0.958 --floor meddocan:precision:0.988") == 0);
    return 0;
}

TEST(test_phi_eval_planted_study_phi_floors)
{
    if (ms_test_shared() == NULL)
        SKIP("../shared not available");
    if (access(ms_test_medseal(), X_OK) != 0)
        SKIP("medseal binary not built");
    /* seeds 1-9, notes and SR text: every planted string must go, with and without identity */
    CHECK(run_eval("study,study-id", "--seeds 1-9 --floor study:recall:1.0 "
                                     "--floor study:precision:0.995 --floor study-id:recall:1.0 "
                                     "--floor study-id:precision:0.995") == 0);
    return 0;
}

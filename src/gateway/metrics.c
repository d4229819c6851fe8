/*
 * Prometheus text exposition (format 0.0.4) of the gateway's counters: requests by route, status
 * and role; a latency histogram per route; PHI entities replaced by class; upstream errors by
 * kind; rate-limited requests; in-flight requests; live studies. Labels are fixed strings (route
 * names, status codes, role and class names), never anything from a request.
 * Trusts: nothing. Owns: nothing (counters live in struct gw_metrics, atomics only).
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "internal.h"

const char *const gw__route_names[GW_R_COUNT] = {"/healthz",
                                                 "/metrics",
                                                 "/v1/models",
                                                 "/v1/chat/completions",
                                                 "/v1/studies",
                                                 "/v1/studies/{id}",
                                                 "/v1/attestation",
                                                 "/v1/audit/export",
                                                 "/v1/admin/keys",
                                                 "/v1/admin/keys/{id}",
                                                 "other"};

static const int statuses[GW_STATUS_SLOTS - 1] = {200, 201, 204, 400, 401, 403, 404, 405, 408,
                                                  413, 415, 429, 499, 500, 502, 503, 504, 507};
static const double buckets_s[GW_HIST_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
static const char *const ue_names[GW_UE_COUNT] = {"connect", "timeout", "status", "protocol"};

static unsigned status_slot(int status)
{
    for (unsigned i = 0; i < GW_STATUS_SLOTS - 1; i++) {
        if (statuses[i] == status)
            return i;
    }
    return GW_STATUS_SLOTS - 1; /* "other" */
}

void gw__metrics_request(struct gw_metrics *m, enum gw_route r, int status, gw_role role,
                         uint64_t us)
{
    unsigned ro = (unsigned)role < GW_ROLE_SLOTS ? (unsigned)role : 0;
    atomic_fetch_add(&m->req[r][status_slot(status)][ro], 1);
    unsigned b = 0;
    while (b < GW_HIST_BUCKETS && (double)us > buckets_s[b] * 1e6)
        b++;
    atomic_fetch_add(&m->hist[r][b], 1);
    atomic_fetch_add(&m->hist_sum_us[r], us);
}

void gw__metrics_phi(struct gw_metrics *m, const size_t *counts, size_t n)
{
    for (size_t i = 0; i < n && i < GW_PHI_SLOTS; i++)
        atomic_fetch_add(&m->phi[i], counts[i]);
}

static ms_rc render_requests(struct gw_metrics *m, ms_buf *o, ms_err *err)
{
    ms_rc rc = ms_buf_append_str(o,
                                 "# HELP medseal_requests_total HTTP requests by route, status "
                                 "and role.\n# TYPE medseal_requests_total counter\n",
                                 err);
    for (unsigned r = 0; r < GW_R_COUNT && rc == MS_OK; r++) {
        for (unsigned s = 0; s < GW_STATUS_SLOTS && rc == MS_OK; s++) {
            for (unsigned ro = 0; ro < GW_ROLE_SLOTS && rc == MS_OK; ro++) {
                unsigned long v = atomic_load(&m->req[r][s][ro]);
                char st[8];
                if (v == 0)
                    continue;
                if (s < GW_STATUS_SLOTS - 1)
                    snprintf(st, sizeof st, "%d", statuses[s]);
                else
                    snprintf(st, sizeof st, "other");
                rc = ms_buf_printf(o, err,
                                   "medseal_requests_total{route=\"%s\",status=\"%s\",role=\"%s\"}"
                                   " %lu\n",
                                   gw__route_names[r], st, gw_role_name((gw_role)ro), v);
            }
        }
    }
    return rc;
}

static ms_rc render_hist(struct gw_metrics *m, ms_buf *o, ms_err *err)
{
    ms_rc rc = ms_buf_append_str(o,
                                 "# HELP medseal_request_duration_seconds Request latency.\n"
                                 "# TYPE medseal_request_duration_seconds histogram\n",
                                 err);
    for (unsigned r = 0; r < GW_R_COUNT && rc == MS_OK; r++) {
        unsigned long cum = 0;
        for (unsigned b = 0; b <= GW_HIST_BUCKETS && rc == MS_OK; b++) {
            cum += atomic_load(&m->hist[r][b]);
            if (b < GW_HIST_BUCKETS)
                rc = ms_buf_printf(o, err,
                                   "medseal_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"}"
                                   " %lu\n",
                                   gw__route_names[r], buckets_s[b], cum);
            else
                rc = ms_buf_printf(o, err,
                                   "medseal_request_duration_seconds_bucket{route=\"%s\","
                                   "le=\"+Inf\"} %lu\nmedseal_request_duration_seconds_sum{route="
                                   "\"%s\"} %.6f\nmedseal_request_duration_seconds_count{route="
                                   "\"%s\"} %lu\n",
                                   gw__route_names[r], cum, gw__route_names[r],
                                   (double)atomic_load(&m->hist_sum_us[r]) / 1e6,
                                   gw__route_names[r], cum);
        }
    }
    return rc;
}

static ms_rc render_misc(struct gw_metrics *m, ms_buf *o, const char *att, ms_err *err)
{
    ms_rc rc = ms_buf_append_str(o,
                                 "# HELP medseal_phi_entities_total PHI entities replaced "
                                 "before forwarding, by class.\n# TYPE "
                                 "medseal_phi_entities_total counter\n",
                                 err);
    for (size_t i = 0; i < GW_PHI_SLOTS && rc == MS_OK; i++) {
        unsigned long v = atomic_load(&m->phi[i]);
        if (v > 0)
            rc = ms_buf_printf(o, err, "medseal_phi_entities_total{class=\"%s\"} %lu\n",
                               gw__phi_class_name(i), v);
    }
    if (rc == MS_OK)
        rc = ms_buf_append_str(o,
                               "# HELP medseal_upstream_errors_total Upstream failures by "
                               "kind.\n# TYPE medseal_upstream_errors_total counter\n",
                               err);
    for (unsigned i = 0; i < GW_UE_COUNT && rc == MS_OK; i++)
        rc = ms_buf_printf(o, err, "medseal_upstream_errors_total{kind=\"%s\"} %lu\n", ue_names[i],
                           atomic_load(&m->upstream_err[i]));
    if (rc == MS_OK)
        rc = ms_buf_printf(
            o, err,
            "# TYPE medseal_rate_limited_total counter\nmedseal_rate_limited_total %lu\n"
            "# TYPE medseal_in_flight_requests gauge\nmedseal_in_flight_requests %ld\n"
            "# TYPE medseal_studies_in_memory gauge\nmedseal_studies_in_memory %lu\n"
            "# TYPE medseal_attestation_info gauge\nmedseal_attestation_info{mode=\"%s\"} 1\n"
            "# HELP medseal_audit_append_failures_total Audit records that could not be "
            "written (each such request was answered 503).\n"
            "# TYPE medseal_audit_append_failures_total counter\n"
            "medseal_audit_append_failures_total %lu\n"
            "# TYPE medseal_audit_healthy gauge\nmedseal_audit_healthy %lu\n",
            atomic_load(&m->rate_limited), atomic_load(&m->in_flight),
            atomic_load(&m->studies_live), att, atomic_load(&m->audit_failures),
            atomic_load(&m->audit_healthy));
    return rc;
}

ms_rc gw__metrics_render(struct gw_metrics *m, ms_buf *out, const char *att, ms_err *err)
{
    if (render_requests(m, out, err) != MS_OK || render_hist(m, out, err) != MS_OK ||
        render_misc(m, out, att, err) != MS_OK)
        return err ? err->code : MS_E_NOMEM;
    return MS_OK;
}

/*
 * SIEM shipping: placeholder (filled in below in a later commit).
 */
#include "internal.h"

ms_rc audit__siem_start(const audit_opts *o, audit__siem **out, ms_err *err)
{
    (void)o;
    (void)out;
    return ms_fail(err, MS_E_UNSUPPORTED, "SIEM shipping not built yet");
}

void audit__siem_push(audit__siem *s, uint64_t seq, uint64_t time_ns, const uint8_t hash[32],
                      const char *action, const char *outcome)
{
    (void)s;
    (void)seq;
    (void)time_ns;
    (void)hash;
    (void)action;
    (void)outcome;
}

void audit__siem_stop(audit__siem *s, unsigned wait_ms)
{
    (void)s;
    (void)wait_ms;
}

void audit__siem_stats(audit__siem *s, uint64_t *sent, uint64_t *dropped, uint64_t *queued)
{
    (void)s;
    *sent = *dropped = *queued = 0;
}

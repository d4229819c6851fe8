/*
 * Error records: codes plus a fixed-size message. First error wins; setting one never allocates.
 * Trusts: format strings are the caller's constants; arguments must never be PHI values.
 */
#include <stdio.h>
#include <string.h>

#include "medseal/core.h"

ms_rc ms_vfail(ms_err *err, ms_rc code, const char *fmt, va_list ap)
{
    if (err == NULL || err->code != MS_OK)
        return code;
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return code;
}

ms_rc ms_fail(ms_err *err, ms_rc code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ms_vfail(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void ms_err_clear(ms_err *err)
{
    if (err == NULL)
        return;
    err->code = MS_OK;
    err->msg[0] = '\0';
}

const char *ms_rc_name(ms_rc rc)
{
    static const char *const names[] = {
        "MS_OK",       "MS_E_INVAL",  "MS_E_TRUNC",    "MS_E_LIMIT",    "MS_E_FORMAT",
        "MS_E_NOMEM",  "MS_E_IO",     "MS_E_NOTFOUND", "MS_E_EXISTS",   "MS_E_UNSUPPORTED",
        "MS_E_CRYPTO", "MS_E_VERIFY", "MS_E_AUTH",     "MS_E_INTERNAL",
    };
    if ((unsigned)rc >= sizeof names / sizeof names[0])
        return "MS_E_?";
    return names[rc];
}

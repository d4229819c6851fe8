/* placeholder, replaced below */
#include "internal.h"
ms_rc an_report_fhir(const an_report *r, json_t **out, ms_err *err)
{
    (void)r;
    (void)out;
    return ms_fail(err, MS_E_UNSUPPORTED, "fhir: not yet");
}
ms_rc an_report_html(const an_report *r, ms_buf *out, ms_err *err)
{
    (void)r;
    (void)out;
    return ms_fail(err, MS_E_UNSUPPORTED, "html: not yet");
}

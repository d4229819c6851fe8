/*
 * Listen addresses: "IPv4:PORT" parsed into a sockaddr_in, for every server socket medseal opens
 * (the HTTPS gateway and the DIMSE listener).
 * Trusts: nothing; the host part is bounded before it is copied, the port is checked to 0..65535.
 * Errors name the setting (`what`), never echo the value.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "medseal/core.h"

ms_rc ms_parse_listen(const char *what, const char *listen, struct sockaddr_in *sa, ms_err *err)
{
    char host[64];
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    if (colon == NULL || (size_t)(colon - listen) >= sizeof host)
        return ms_fail(err, MS_E_FORMAT, "%s: expected HOST:PORT", what);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end = NULL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port > 65535)
        return ms_fail(err, MS_E_FORMAT, "%s: bad port", what);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return ms_fail(err, MS_E_FORMAT, "%s: expected an IPv4 address", what);
    sa->sin_port = htons((uint16_t)port);
    return MS_OK;
}

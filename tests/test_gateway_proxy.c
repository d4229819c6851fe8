/*
 * The PROXY protocol v2 behind a load balancer (proxy_protocol_from, src/gateway/proxyproto.c):
 * a real server in-process with proxy_protocol_from = 127.0.0.1/32 (the "balancer") and
 * max_conns_per_ip = 2, driven by tests/proxy/pp_client.py. The per-address limit applies to the
 * client a header names, not to the balancer (a third connection of one client is refused while
 * another client behind the same balancer is served); the balancer's connection without a header
 * is refused; a LOCAL header (a health check) is served; from any other address a header is
 * refused and a plain TLS client served. Also the header parser on its own: exact bytes, IPv4 and
 * IPv6, LOCAL, bad signature, version and length, and the CIDR list.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/internal.h"
#include "medseal/gateway.h"
#include "test.h"

static const uint8_t SIG[12] = {'\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

/* Parses `n` bytes written to a socket pair; returns the rc, and what is left unread. */
static ms_rc parse(const uint8_t *b, size_t n, struct sockaddr_storage *src, size_t *left)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return MS_E_IO;
    if (write(sv[0], b, n) != (ssize_t)n)
        return MS_E_IO;
    shutdown(sv[0], SHUT_WR);
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(7)};
    peer.sin_addr.s_addr = htonl(0x7f000001);
    unsigned sl = 0;
    ms_rc rc = gw__pp_read(sv[1], 500, (struct sockaddr *)&peer, sizeof peer, src, &sl, NULL);
    char rest[64];
    ssize_t k = read(sv[1], rest, sizeof rest);
    *left = k > 0 ? (size_t)k : 0;
    close(sv[0]);
    close(sv[1]);
    return rc;
}

TEST(test_gateway_proxy_header_parser)
{
    uint8_t b[128];
    struct sockaddr_storage src;
    size_t left;
    /* PROXY TCP4 10.1.2.3:5555 -> 127.0.0.1:443, then 5 bytes of "TLS" that must stay unread */
    memcpy(b, SIG, 12);
    b[12] = 0x21, b[13] = 0x11, b[14] = 0, b[15] = 12;
    uint8_t a4[12] = {10, 1, 2, 3, 127, 0, 0, 1, 0x15, 0xb3, 1, 0xbb};
    memcpy(b + 16, a4, 12);
    memcpy(b + 28, "\x16\x03\x01\x00\x05", 5);
    CHECK(parse(b, 33, &src, &left) == MS_OK);
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&src;
    CHECK(s4->sin_family == AF_INET && ntohl(s4->sin_addr.s_addr) == 0x0a010203 &&
          ntohs(s4->sin_port) == 5555);
    CHECK_EQ_INT(left, 5);
    /* TCP6 with a TLV after the addresses (skipped) */
    memset(b, 0, sizeof b);
    memcpy(b, SIG, 12);
    b[12] = 0x21, b[13] = 0x21, b[14] = 0, b[15] = 36 + 4;
    b[16] = 0x20, b[17] = 0x01, b[16 + 15] = 9; /* 2001::9 */
    b[16 + 32] = 0x04, b[16 + 33] = 0xd2;       /* port 1234 */
    b[52] = 0x04, b[53] = 0, b[54] = 1, b[55] = 'x';
    CHECK(parse(b, 56, &src, &left) == MS_OK);
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&src;
    CHECK(s6->sin6_family == AF_INET6 && s6->sin6_addr.s6_addr[15] == 9 &&
          ntohs(s6->sin6_port) == 1234);
    CHECK_EQ_INT(left, 0);
    /* LOCAL: the peer's own address */
    memcpy(b, SIG, 12);
    b[12] = 0x20, b[13] = 0, b[14] = 0, b[15] = 0;
    CHECK(parse(b, 16, &src, &left) == MS_OK);
    CHECK(((const struct sockaddr_in *)&src)->sin_port == htons(7));
    /* refused: a TLS ClientHello instead of a header, version 1, a huge or short length */
    memset(b, 0x16, 40);
    CHECK(parse(b, 40, &src, &left) == MS_E_FORMAT);
    memcpy(b, SIG, 12);
    b[12] = 0x11, b[13] = 0x11, b[14] = 0, b[15] = 12;
    CHECK(parse(b, 28, &src, &left) == MS_E_FORMAT);
    b[12] = 0x21, b[14] = 0xff, b[15] = 0xff;
    CHECK(parse(b, 28, &src, &left) == MS_E_LIMIT);
    b[14] = 0, b[15] = 4;
    CHECK(parse(b, 20, &src, &left) == MS_E_FORMAT);
    b[15] = 12;
    CHECK(parse(b, 20, &src, &left) == MS_E_TRUNC); /* ends inside the addresses */
    /* CIDR lists */
    struct gw_pp_net nets[GW_PP_NETS_MAX];
    size_t n = 0;
    CHECK(gw__pp_nets_parse("10.0.0.0/8, 192.168.1.7", nets, &n, NULL) == MS_OK && n == 2);
    struct sockaddr_in p = {.sin_family = AF_INET};
    p.sin_addr.s_addr = htonl(0x0a090807);
    CHECK(gw__pp_trusted(nets, n, (struct sockaddr *)&p));
    p.sin_addr.s_addr = htonl(0xc0a80108);
    CHECK(!gw__pp_trusted(nets, n, (struct sockaddr *)&p));
    CHECK(gw__pp_nets_parse("10.0.0.0/33", nets, &n, NULL) == MS_E_FORMAT);
    CHECK(gw__pp_nets_parse("example.org", nets, &n, NULL) == MS_E_FORMAT);
    CHECK(gw__pp_nets_parse(" , ", nets, &n, NULL) == MS_E_FORMAT);
    return 0;
}

TEST(test_gateway_proxy_protocol_per_client_limit)
{
    const char *d = ms_test_tmpdir();
    char cert[600], key[600], ca[600], state[600], *out = NULL;
    snprintf(ca, sizeof ca, "%s/ca.pem", d);
    snprintf(cert, sizeof cert, "%s/srv.pem", d);
    snprintf(key, sizeof key, "%s/srv.key", d);
    snprintf(state, sizeof state, "%s/state", d);
    CHECK(mkdir(state, 0700) == 0);
    CHECK(ms_test_sh(NULL,
                     "cd '%s' && printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf && "
                     "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                     "-keyout ca.key -out ca.pem -subj /CN=pp-ca -days 2 2>/dev/null && "
                     "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
                     "srv.key -out srv.csr -subj /CN=localhost 2>/dev/null && openssl x509 -req "
                     "-in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 "
                     "-extfile ext.cnf 2>/dev/null",
                     d) == 0);
    gw_config cfg;
    gw_config_defaults(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.cert_path = cert;
    cfg.key_path = key;
    cfg.state_dir = state;
    cfg.insecure_no_attestation = 1;
    cfg.idle_timeout_s = 10;
    cfg.max_conns_per_ip = 2;
    cfg.proxy_protocol_from = "127.0.0.1/32";
    gw_server *srv = NULL;
    ms_err err = {0};
    CHECK(gw_server_start(&cfg, &srv, &err) == MS_OK);
    int rc = ms_test_sh(&out, "/usr/bin/python3 '%s/tests/proxy/pp_client.py' %u '%s'",
                        ms_test_root(), gw_server_port(srv), ca);
    gw_server_stop(srv, 1);
    printf("  %s", out ? out : "(no output)\n");
    CHECK_EQ_INT(rc, 0);
    CHECK(out != NULL);
    CHECK(strstr(out, "\"client_a_1\": 200") != NULL);
    CHECK(strstr(out, "\"client_a_2\": 200") != NULL);
    CHECK(strstr(out, "\"client_a_3_over_limit\": \"refused\"") != NULL);
    CHECK(strstr(out, "\"client_b\": 200") != NULL); /* the balancer's address is not the limit */
    CHECK(strstr(out, "\"balancer_no_header\": \"refused\"") != NULL);
    CHECK(strstr(out, "\"balancer_local\": 200") != NULL);
    CHECK(strstr(out, "\"other_with_header\": \"refused\"") != NULL);
    CHECK(strstr(out, "\"other_direct\": 200") != NULL);
    free(out);
    return 0;
}

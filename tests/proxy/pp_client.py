#!/usr/bin/python3
"""PROXY protocol v2 client for tests/test_gateway_proxy.c: opens TLS connections to a medseal
serve started with proxy_protocol_from = 127.0.0.1/32 and max_conns_per_ip = 2, from a chosen
loopback address, with or without a v2 header naming a client, and prints one JSON object of
outcomes (an HTTP status of GET /healthz, or "refused"). Trusts: its arguments."""
import json, socket, ssl, struct, sys

port, ca = int(sys.argv[1]), sys.argv[2]
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def header(src, cmd=1):
    if cmd == 0:  # LOCAL: a health check of the balancer's own
        return SIG + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    body = socket.inet_aton(src) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", 40000, port)
    return SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def conn(bind, hdr):
    ctx = ssl.create_default_context(cafile=ca)
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(bind, 0))
    try:
        if hdr:
            s.sendall(hdr)
        t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        t.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            d = t.recv(4096)
            if not d:
                break
            data += d
        if not data.startswith(b"HTTP/1.1 "):
            t.close()
            return None, "refused"
        return t, int(data.split()[1])
    except (OSError, ssl.SSLError):
        s.close()
        return None, "refused"


r = {}
a, r["client_a_1"] = conn("127.0.0.1", header("10.0.0.1"))
b, r["client_a_2"] = conn("127.0.0.1", header("10.0.0.1"))
c, r["client_a_3_over_limit"] = conn("127.0.0.1", header("10.0.0.1"))
d, r["client_b"] = conn("127.0.0.1", header("10.0.0.2"))
e, r["balancer_no_header"] = conn("127.0.0.1", None)
f, r["balancer_local"] = conn("127.0.0.1", header("", 0))
g, r["other_with_header"] = conn("127.0.0.2", header("10.0.0.3"))
h, r["other_direct"] = conn("127.0.0.2", None)
print(json.dumps(r, sort_keys=True))

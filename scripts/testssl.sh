#!/usr/bin/env bash
# Runs testssl.sh (Debian package, /usr/bin/testssl) against `medseal serve` on 127.0.0.1 and
# summarises: every finding of severity MEDIUM or higher, the protocols offered, the HSTS header
# and any Server banner. tests/test_zz_hardening_testssl.c runs it and asserts on the summary.
# What it trusts: the medseal binary under test, openssl (throwaway test CA), testssl.
# What it owns: WORK (certificates, state, testssl's JSON and log); it stops the server it starts.
# usage: scripts/testssl.sh MEDSEAL WORK      prints "TESTSSL {json}"; exit 0 when it ran
set -euo pipefail
MEDSEAL=$1
W=$2
mkdir -p "$W/state"
cd "$W"
# a CRL distribution point, as a deployment certificate has (testssl rates its absence HIGH)
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\ncrlDistributionPoints=URI:http://127.0.0.1/ca.crl\n' >ext.cnf
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -subj /CN=medseal-testssl-ca -days 365 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
  -subj /CN=localhost 2>/dev/null
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 365 \
  -extfile ext.cnf 2>/dev/null
printf 'mem_limit = 6291456\n' >serve.conf
"$MEDSEAL" serve --listen 127.0.0.1:0 --cert srv.pem --key srv.key --state state \
  --config serve.conf --insecure-no-attestation >serve.out 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
port=
for _ in $(seq 100); do # bounded: 10 s
  # the server may not have opened serve.out yet: a missing file is "not yet", not an error
  port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\) .*/\1/p' serve.out 2>/dev/null || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat serve.out >&2; exit 1; }
# protocols, cipher lists, server defaults (certificate), HTTP headers, vulnerabilities
timeout 540 testssl --quiet --warnings off --color 0 --ip one --add-ca "$W/ca.pem" \
  --jsonfile "$W/testssl.json" --logfile "$W/testssl.log" -p -s -S -h -U -f -P \
  "https://127.0.0.1:$port/" >/dev/null 2>&1 || true
/usr/bin/python3 - "$W/testssl.json" <<'PY'
import json, sys
try:
    items = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    items = []
rank = {"MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
bad = [{"id": i["id"], "severity": i["severity"], "finding": i["finding"][:160]}
       for i in items if i.get("severity") in rank]
proto = {i["id"]: i["finding"] for i in items
         if i["id"] in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3")}
offered = sorted(k for k, v in proto.items() if v.startswith("offered"))
hsts = [i["finding"] for i in items if i["id"] == "HSTS_time"]
banner = [i["finding"] for i in items if i["id"] == "banner_server"]
scan_error = [i["finding"][:160] for i in items if i.get("severity") == "FATAL"
              or i["id"].startswith("scanProblem")]
print("TESTSSL " + json.dumps({"findings": len(items), "medium_or_higher": bad,
                               "offered": offered, "protocols": proto, "hsts": hsts,
                               "banner": banner, "scan_problems": scan_error}))
PY

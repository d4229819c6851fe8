#!/usr/bin/python3
"""Fetch Intel TDX collateral from Intel PCS (or a PCCS) into the JSON file `medseal verify
--collateral` reads (the QuoteCollateralV3 keys used by dcap-qvl).

Usage: scripts/attest-fetch-collateral.py FMSPC [--ca platform|processor] [--pcs URL] > intel.json

FMSPC is printed by `medseal verify --quote Q --json` (fields.fmspc). Nothing fetched here is
trusted: medseal verifies every signature against its pinned Intel SGX Root CA. The signed bodies
are kept byte for byte (the signature covers the raw JSON of "tcbInfo" / "enclaveIdentity").
Needs network access to the PCS; not exercised by the test suite (no network in CI).
"""
import argparse
import json
import sys
import urllib.parse
import urllib.request

ROOT_CRL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read(), r.headers


def issuer_chain(headers, *names):
    """PCS v4 names the TCB chain header TCB-Info-Issuer-Chain, v3 SGX-TCB-Info-Issuer-Chain."""
    for name in names:
        v = headers.get(name)
        if v is not None:
            return urllib.parse.unquote(v)
    sys.exit("attest-fetch-collateral: response lacks the %s header" % names[0])


def raw_member(body, key):
    """The raw bytes of body's top-level member `key` and its "signature" (Intel's layout is
    {"<key>":{...},"signature":"<hex>"}; the raw bytes are what Intel signed)."""
    text = body.decode("utf-8")
    head = '{"%s":' % key
    tail = ',"signature":"'
    if not text.startswith(head) or tail not in text:
        sys.exit("attest-fetch-collateral: unexpected %s layout" % key)
    end = text.rindex(tail)
    raw = text[len(head):end]
    sig = json.loads(text)["signature"]
    json.loads(raw)  # must itself be JSON
    return raw, sig


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fmspc")
    ap.add_argument("--ca", default="platform", choices=["platform", "processor"])
    ap.add_argument("--pcs", default="https://api.trustedservices.intel.com")
    a = ap.parse_args()
    base = a.pcs.rstrip("/")
    tcb, th = get("%s/tdx/certification/v4/tcb?fmspc=%s" % (base, a.fmspc))
    qe, qh = get("%s/tdx/certification/v4/qe/identity" % base)
    crl, ch = get("%s/sgx/certification/v4/pckcrl?ca=%s&encoding=der" % (base, a.ca))
    root_crl, _ = get(ROOT_CRL)
    tcb_raw, tcb_sig = raw_member(tcb, "tcbInfo")
    qe_raw, qe_sig = raw_member(qe, "enclaveIdentity")
    out = {
        "pck_crl_issuer_chain": issuer_chain(ch, "SGX-PCK-CRL-Issuer-Chain"),
        "root_ca_crl": root_crl.hex(),
        "pck_crl": crl.hex(),
        "tcb_info_issuer_chain": issuer_chain(th, "TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"),
        "tcb_info": tcb_raw,
        "tcb_info_signature": tcb_sig,
        "qe_identity_issuer_chain": issuer_chain(qh, "SGX-Enclave-Identity-Issuer-Chain"),
        "qe_identity": qe_raw,
        "qe_identity_signature": qe_sig,
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

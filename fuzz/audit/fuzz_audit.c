/*
 * libFuzzer target for the audit log's parsers and verifier.
 * Input "MSAUDSG1..." (or anything not starting with '{'): [32-byte initial MAC key]
 * [32-byte Ed25519 public key] [one segment file]; verified with audit__verify_segments (record
 * parser, chain, epochs, MACs, tree heads). Input starting with '{': a proof for
 * audit_proof_check. Invariants: no crash/leak/UB; a failure always carries a message; a pass
 * never claims more records than the bytes could hold.
 * Trusts: nothing. Owns: nothing beyond one call.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"
#include "medseal/audit.h"

static void check_proof(const uint8_t *data, size_t size)
{
    static const uint8_t pub[32] = {1};
    ms_err err = {0};
    ms_rc rc = audit_proof_check((const char *)data, size, size % 2 ? pub : NULL, &err);
    if (rc != MS_OK && err.msg[0] == '\0')
        abort();
}

static void check_segment(const uint8_t *data, size_t size)
{
    if (size < 64)
        return;
    audit__segment seg;
    memset(&seg, 0, sizeof seg);
    snprintf(seg.name, sizeof seg.name, "seg-fuzz.log");
    seg.map.p = data + 64;
    seg.map.len = size - 64;
    seg.map.fd = -1;
    if (seg.map.len >= AUDIT_SEG_HDR)
        seg.first_seq = ms_load_u64le(seg.map.p + 8); /* the name would say the same */
    audit__vin in = {data + 32, data, 0, NULL};
    audit_verify_report rep;
    ms_err err = {0};
    ms_rc rc = audit__verify_segments(&seg, 1, &in, &rep, &err);
    if (rc != MS_OK && err.msg[0] == '\0')
        abort();
    if (rc == MS_OK && rep.records > seg.map.len / AUDIT_REC_MIN)
        abort();
    in.initial_key = NULL; /* the structural path alone */
    rc = audit__verify_segments(&seg, 1, &in, &rep, &err);
    if (rc != MS_OK && err.msg[0] == '\0')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == '{')
        check_proof(data, size);
    else
        check_segment(data, size);
    return 0;
}

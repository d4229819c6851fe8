/*
 * libFuzzer target for src/phi: phi_scrub on arbitrary bytes (tag or surrogate mode, with or
 * without an identity, chosen by the first byte), then re-identification of the output one-shot
 * and streamed in chunks of fuzzer-chosen sizes. Invariants: an error leaves the output empty
 * and carries a message; spans are ordered, non-empty and inside both texts; streaming gives the
 * same bytes as one-shot. Trusts nothing; owns every allocation (freed before returning).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medseal/core.h"
#include "medseal/phi.h"

static const uint8_t KEY[MS_KEY_LEN] = {7, 7, 7, 7, 7, 7, 7, 7, 1, 2, 3, 4, 5, 6, 7, 8,
                                        9, 9, 9, 9, 9, 9, 9, 9, 0, 1, 0, 1, 0, 1, 0, 1};

static void check(int ok)
{
    if (!ok)
        __builtin_trap();
}

static void reid(const phi_ctx *c, const ms_buf *out, uint8_t step)
{
    ms_buf one, two;
    ms_buf_init(&one, NULL, 0);
    ms_buf_init(&two, NULL, 0);
    check(phi_reidentify(c, (const char *)out->p, out->len, &one, NULL) == MS_OK);
    phi_reid *r = NULL;
    check(phi_reid_new(c, &r, NULL) == MS_OK);
    size_t chunk = (size_t)(step % 17) + 1;
    for (size_t i = 0; i < out->len; i += chunk) {
        size_t n = out->len - i < chunk ? out->len - i : chunk;
        check(phi_reid_feed(r, (const char *)out->p + i, n, &two, NULL) == MS_OK);
    }
    check(phi_reid_flush(r, &two, NULL) == MS_OK);
    check(one.len == two.len && (one.len == 0 || memcmp(one.p, two.p, one.len) == 0));
    phi_reid_free(r);
    ms_buf_free(&one);
    ms_buf_free(&two);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    phi_identity id;
    memset(&id, 0, sizeof id);
    id.dicom_name = "Lindqvist^Benedikt";
    id.patient_id = "MRN70329669";
    id.birth_date = "19510216";
    id.phones[0] = "(230) 599-8090";
    id.address = "1637 Old Mill Way, Fort Wexley, TX 75243";
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.mode = (sel & 1) ? PHI_MODE_SURROGATE : PHI_MODE_TAG;
    o.key = KEY;
    o.identity = (sel & 2) ? &id : NULL;
    o.keep_clinician_names = (sel & 4) != 0;
    o.keep_zip3 = (sel & 8) != 0;
    o.max_input = 1 << 16;
    phi_ctx *c = NULL;
    check(phi_ctx_new(&o, &c, NULL) == MS_OK);
    ms_buf out;
    ms_buf_init(&out, NULL, 0);
    phi_span *sp = NULL;
    size_t ns = 0;
    ms_err err = {0};
    ms_rc rc = phi_scrub(c, (const char *)data, size, &out, &sp, &ns, &err);
    if (rc != MS_OK) {
        check(out.len == 0 && sp == NULL && ns == 0 && err.msg[0] != '\0');
    } else {
        for (size_t k = 0; k < ns; k++) {
            check(sp[k].start < sp[k].end && sp[k].end <= size);
            check(sp[k].out_start <= sp[k].out_end && sp[k].out_end <= out.len);
            check(k == 0 || (sp[k - 1].end <= sp[k].start && sp[k - 1].out_end <= sp[k].out_start));
            check((unsigned)sp[k].cls < PHI_CLASS_COUNT);
        }
        if (o.mode == PHI_MODE_SURROGATE)
            reid(c, &out, sel >> 4);
    }
    phi_spans_free(c, sp);
    ms_buf_free(&out);
    phi_ctx_free(c);
    return 0;
}

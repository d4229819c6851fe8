/*
 * libFuzzer target for the DICOM codec: reads the input with dcm_file_read_mem (full and
 * stop_before_pixels), walks every element through the accessors, writes DICOM JSON and the text
 * view, writes the file back and reads that again. Invariants (trap on violation): a failed read
 * has an error code and a message; the JSON output parses; what the writer produced reads back;
 * nothing leaks (ASan). Trusts: nothing in the input. Owns: everything it allocates per run.
 */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "medseal/dicom.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static void walk(dcm_dataset *ds, size_t depth)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    CHECK(depth <= DCM_MAX_DEPTH + 1);
    for (size_t i = 0; i < dcm_dataset_count(ds); i++) {
        dcm_elem *e = dcm_dataset_at(ds, i);
        CHECK(dcm_dataset_find(ds, dcm_elem_tag(e)) == e);
        CHECK(i == 0 || dcm_elem_tag(dcm_dataset_at(ds, i - 1)) < dcm_elem_tag(e));
        size_t vm = dcm_elem_vm(e), n = 0;
        (void)dcm_elem_bytes(e, &n);
        (void)dcm_vr_str(dcm_elem_vr(e));
        ms_buf_reset(&b);
        (void)dcm_elem_text(e, &b, NULL);
        for (size_t k = 0; k < vm && k < 4; k++) {
            double d;
            ms_buf_reset(&b);
            (void)dcm_elem_text_at(e, k, &b, NULL);
            (void)dcm_elem_number(e, k, &d, NULL);
        }
        for (size_t k = 0; k < dcm_elem_fragment_count(e); k++)
            CHECK(dcm_elem_fragment(e, k, &n) != NULL || n == 0);
        for (size_t k = 0; k < dcm_elem_item_count(e); k++) {
            dcm_dataset *it = dcm_elem_item(e, k);
            CHECK(dcm_dataset_parent(it) == e);
            walk(it, depth + 1);
        }
    }
    ms_buf_free(&b);
}

static void one(const uint8_t *data, size_t size, int stop)
{
    dcm_read_opts o = {0};
    o.stop_before_pixels = stop;
    o.max_total = (size_t)64 << 20;
    dcm_file *f = NULL;
    ms_err err = {0};
    if (dcm_file_read_mem(data, size, &o, &f, &err) != MS_OK) {
        CHECK(err.code != MS_OK && err.msg[0] != 0 && f == NULL);
        return;
    }
    walk(dcm_file_meta(f), 0);
    walk(dcm_file_dataset(f), 0);
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    dcm_json_opts jo = {.include_pixels = 1, .include_meta = 1};
    if (dcm_dataset_json_write(dcm_file_dataset(f), &jo, &b, NULL) == MS_OK) {
        json_t *j = json_loadb((const char *)b.p, b.len, JSON_ALLOW_NUL, NULL);
        CHECK(j != NULL);
        json_decref(j);
    }
    ms_buf_reset(&b);
    (void)dcm_file_dump_text(f, 1, 1, &b, NULL);
    ms_buf_reset(&b);
    if (!stop) {
        dcm_write_opts wo = {.transfer_syntax = "original"};
        ms_err werr = {0};
        if (dcm_file_write_mem(f, &wo, &b, &werr) == MS_OK) {
            dcm_file *g = NULL;
            ms_err rerr = {0};
            CHECK(dcm_file_read_mem(b.p, b.len, &o, &g, &rerr) == MS_OK);
            dcm_file_free(g);
        } else {
            CHECK(werr.msg[0] != 0);
        }
    }
    ms_buf_free(&b);
    dcm_file_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size, 0);
    one(data, size, 1);
    return 0;
}

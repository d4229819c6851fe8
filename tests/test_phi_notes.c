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

/*
 * Keyword lists of the detectors (titles, cue words, label words, facility words, units ...),
 * and the process-wide hash set that maps a lower-case word to the bit set of the lists holding
 * it, so each token is looked up once (in the tokenizer) instead of once per list and detector.
 * Trusts: nothing in the token. Owns: the set (static, built once by phi__kw_init).
 */
#include <pthread.h>
#include <string.h>

#include "internal.h"

static const char *const L_MEDNOUN[] = {
    "disease",   "syndrome",        "sign",      "reflex",     "score",     "criteria",
    "test",      "classification",  "scale",     "trial",      "palsy",     "lymphoma",
    "sarcoma",   "tumor",           "tumour",    "ulcer",      "fracture",  "maneuver",
    "manoeuvre", "procedure",       "operation", "phenomenon", "esophagus", "index",
    "rule",      "stage",           "grade",     "type",       "disorder",  "dementia",
    "protocol",  "method",          "technique", "catheter",   "tube",      "law",
    "equation",  "formula",         "node",      "nodes",      "cell",      "cells",
    "body",      "bodies",          "canal",     "duct",       "gland",     "space",
    "triad",     "effect",          "hernia",    "anomaly",    "incision",  "line",
    "point",     "questionnaire",   "inventory", "model",      "system",    "guidelines",
    "guideline", "recommendations", "staging",   "society",    "signs",     "reaction",
    NULL};

static const char *const L_NOTNAME[] = {
    "i",         "the",        "a",        "an",        "this",       "that",      "these",
    "patient",   "pt",         "dr",       "mr",        "mrs",        "ms",        "md",
    "rn",        "ct",         "mri",      "pet",       "us",         "cxr",       "ekg",
    "ecg",       "icu",        "er",       "ed",        "or",         "no",        "yes",
    "not",       "impression", "findings", "history",   "exam",       "report",    "left",
    "right",     "status",     "post",     "plan",      "assessment", "diagnosis", "no",
    "am",        "pm",         "de",       "la",        "el",         "los",       "las",
    "del",       "y",          "en",       "con",       "se",         "por",       "para",
    "un",        "una",        "que",      "al",        "es",         "lo",        "su",
    "le",        "monday",     "tuesday",  "wednesday", "thursday",   "friday",    "saturday",
    "sunday",    "january",    "february", "april",     "june",       "july",      "august",
    "september", "october",    "november", "december",  "christmas",  "easter",    "english",
    "spanish",   "american",   "african",  "hispanic",  "asian",      "caucasian", "latino",
    "black",     "white",      NULL};

static const char *const L_TITLE_CLIN[] = {"dr",  "doctor", "prof", "professor",
                                           "dra", "nurse",  "rn",   "np",
                                           "rrt", "lpn",    NULL};

static const char *const L_TITLE_LAY[] = {"mr",   "mrs", "ms",   "miss",   "mx",    "sr", "sra",
                                          "srta", "don", "doña", "mister", "madam", NULL};

static const char *const L_CUE[] = {"patient",
                                    "pt",
                                    "name",
                                    "named",
                                    "son",
                                    "daughter",
                                    "wife",
                                    "husband",
                                    "mother",
                                    "father",
                                    "brother",
                                    "sister",
                                    "spouse",
                                    "partner",
                                    "friend",
                                    "neighbor",
                                    "neighbour",
                                    "guardian",
                                    "caregiver",
                                    "mom",
                                    "dad",
                                    "grandson",
                                    "granddaughter",
                                    "aunt",
                                    "uncle",
                                    "cousin",
                                    "niece",
                                    "nephew",
                                    "fiance",
                                    "fiancee",
                                    "boyfriend",
                                    "girlfriend",
                                    "employer",
                                    "paciente",
                                    "called",
                                    "llamado",
                                    "llamada",
                                    "sr",
                                    "contact",
                                    "cc",
                                    "attn",
                                    "dear",
                                    "mr",
                                    "ms",
                                    "mrs",
                                    "miss",
                                    "dtr",
                                    "dau",
                                    "hus",
                                    "hub",
                                    "bro",
                                    "sis",
                                    "sibling",
                                    "grandmother",
                                    "grandfather",
                                    "grandma",
                                    "grandpa",
                                    "stepson",
                                    "stepdaughter",
                                    "law",
                                    "hcp",
                                    "proxy",
                                    "visitor",
                                    NULL};

static const char *const L_CLINCUE[] = {
    "by",  "attending", "physician", "surgeon",   "resident",   "radiologist", "provider",
    "pcp", "dictated",  "signed",    "referring", "consultant", "doctor",      NULL};

static const char *const L_POSTNOM[] = {"md",  "do",   "rn",   "np",     "pa",   "phd",
                                        "rrt", "rt",   "cna",  "slp",    "otr",  "dpt",
                                        "msw", "licsw", "lcsw", "bsn",    "msn",
                                        "dds", "dmd",  "mbbs", "frcr",   "facr", "lpn",
                                        "cnp", "aprn", "crna", "pharmd", NULL};

static const char *const L_FACILITY[] = {"hospital",     "hospitals",   "clinic",
                                         "clinics",      "center",      "centre",
                                         "medical",      "health",      "healthcare",
                                         "infirmary",    "hospice",     "institute",
                                         "sanatorium",   "pharmacy",    "practice",
                                         "associates",   "university",  "college",
                                         "school",       "church",      "rehabilitation",
                                         "rehab",        "nursing",     "memorial",
                                         "regional",     "general",     "specialty",
                                         "surgery",      "laboratory",  "laboratories",
                                         "labs",         "foundation",  "inc",
                                         "llc",          "corp",        "company",
                                         "services",     "manor",       "lodge",
                                         "hospitalario", "hospital",    "clínica",
                                         "clinica",      "centro",      "sanatorio",
                                         "ambulatorio",  "residencia",  "urgent",
                                         "care",         "children",    "womens",
                                         "veterans",     "va",          "county",
                                         "community",    "family",      "pediatrics",
                                         "oncology",     "cardiology",  "radiology",
                                         "imaging",      "diagnostics", "physicians",
                                         "group",        "partners",    NULL};

static const char *const L_PLACEJOIN[] = {"of", "the", "and", "de", "del", "la", "for", NULL};

static const char *const L_SAINT[] = {"st",    "mt", "saint", "mount", "san",
                                      "santa", "ft", "fort",  NULL};

static const char *const L_PREP[] = {"at", "in",      "from", "to", "near",
                                     "en", "visited", "via",  NULL};

static const char *const L_REGION[] = {
    "america",   "usa",        "us",         "canada",    "mexico",      "europe",    "asia",
    "africa",    "australia",  "china",      "india",     "japan",       "korea",     "brazil",
    "germany",   "france",     "spain",      "italy",     "england",     "britain",   "uk",
    "ireland",   "scotland",   "russia",     "israel",    "egypt",       "nigeria",   "kenya",
    "ethiopia",  "pakistan",   "bangladesh", "vietnam",   "philippines", "indonesia", "thailand",
    "iran",      "iraq",       "syria",      "turkey",    "greece",      "poland",    "ukraine",
    "sweden",    "norway",     "denmark",    "finland",   "netherlands", "belgium",   "switzerland",
    "austria",   "portugal",   "argentina",  "chile",     "colombia",    "peru",      "venezuela",
    "cuba",      "haiti",      "jamaica",    "guatemala", "honduras",    "salvador",  "nicaragua",
    "puerto",    "alaska",     "hawaii",     "midwest",   "northeast",   "southeast", "southwest",
    "northwest", "appalachia", NULL};

static const char *const L_PHONE[] = {
    "phone",    "tel",      "telephone", "call",     "cell", "mobile", "pager",  "fax",
    "ph",       "contact",  "number",    "home",     "work", "office", "tfno",   "tlf",
    "teléfono", "telefono", "móvil",     "movil",    "at",   "reach",  "beeper", "ext",
    "desk",     "sms",      "text",      "whatsapp", NULL};

static const char *const L_FAX[] = {"fax", "facsimile", "f", NULL};

static const char *const L_SSNW[] = {"ssn", "social", "ss", "security", NULL};

static const char *const L_STATE[] = {
    "al", "ak", "az", "ar", "ca", "co", "ct", "de", "fl", "ga", "hi", "id", "il", "in",
    "ia", "ks", "ky", "la", "me", "md", "ma", "mi", "mn", "ms", "mo", "mt", "ne", "nv",
    "nh", "nj", "nm", "ny", "nc", "nd", "oh", "ok", "or", "pa", "ri", "sc", "sd", "tn",
    "tx", "ut", "vt", "va", "wa", "wv", "wi", "wy", "dc", "pr", "gu", "vi", NULL};

static const char *const L_STATENAME[] = {
    "alabama",     "alaska",       "arizona",       "arkansas", "california", "colorado",
    "connecticut", "delaware",     "florida",       "georgia",  "hawaii",     "idaho",
    "illinois",    "indiana",      "iowa",          "kansas",   "kentucky",   "louisiana",
    "maine",       "maryland",     "massachusetts", "michigan", "minnesota",  "mississippi",
    "missouri",    "montana",      "nebraska",      "nevada",   "ohio",       "oklahoma",
    "oregon",      "pennsylvania", "tennessee",     "texas",    "utah",       "vermont",
    "virginia",    "washington",   "wisconsin",     "wyoming",  NULL};

static const char *const L_ZIPW[] = {"zip", "zipcode", "postal", "cp", "code", NULL};

static const char *const L_AGE_AFTER[] = {"year", "years", "yr",   "yrs",  "yo",  "y",
                                          "yof",  "yom",   "años", "anos", "año", NULL};

static const char *const L_AGE_BEFORE[] = {"age", "aged", "edad", NULL};

static const char *const L_DIRECTION[] = {"n",  "s",     "e",     "w",    "ne",   "nw", "se",
                                          "sw", "north", "south", "east", "west", NULL};

static const char *const L_UNIT[] = {"apt", "apartment", "suite", "ste",      "unit", "rm", "room",
                                     "fl",  "floor",     "bldg",  "building", "no",   NULL};

static const char *const L_UNIT_ALONE[] = {"apt",  "apartment", "suite", "ste",
                                           "unit", "psc",       "cmr",   NULL};

static const char *const L_WEEKDAY[] = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "mon", "tue",
    "tues",   "wed",     "thu",       "thur",     "thurs",  "fri",      "sat",    "sun", NULL};

static const char *const L_DATECTX[] = {
    "comparison", "compared", "clinic", "appt", "f/u", "followup", "fu", "dated", "since",
    "fell",     "started",  "stopped",  "placed",   "changed", "extubated", "intubated",
    "transferred", "died",  "expired",  "arrested", "cva",     "mi",        "cabg",
    "surgery",  "admit",    "dc",       "dc'd",     "echo",    "cath",      "adm",
    "on",      "since", "from", "until",  "till",     "dated",      "date", "dob",
    "seen",    "of",    "by",   "before", "after",    "between",    "and",  "to",
    "through", "thru",  "last", "next",   "admitted", "discharged", "born", "d",
    "dos",     "visit", "el",   "del",    "fecha",    "day",        NULL};

static const char *const L_RELATIVE[] = {"last",     "next",   "this", "past",
                                         "previous", "coming", NULL};

static const char *const L_FILLER[] = {"number",  "num", "is",     "of",       "nbr",
                                       "medical", "de",  "health", "security", "historia",
                                       "the",     "s",   "n",      "u",        NULL};

static const char *const L_MONTH[] = {
    "january",    "february", "march",     "april",     "may",  "june",  "july",  "august",
    "september",  "october",  "november",  "december",  "jan",  "feb",   "mar",   "apr",
    "jun",        "jul",      "aug",       "sep",       "sept", "oct",   "nov",   "dec",
    "enero",      "febrero",  "marzo",     "abril",     "mayo", "junio", "julio", "agosto",
    "septiembre", "octubre",  "noviembre", "diciembre", NULL};
static const char *const L_TRIGGER[] = {
    "po",  "p",         "apo",   "fpo", "dpo",  "address", "domicilio", "dirección", "lives",
    "apt", "apartment", "suite", "ste", "unit", "psc",     "cmr",       NULL};
static const char *const L_GENERIC[] = {
    "unit",      "units",     "department", "dept",     "service",   "services",    "ward",
    "floor",     "room",      "board",      "team",     "intensive", "emergency",   "tumor",
    "tumour",    "operating", "recovery",   "surgical", "cardiac",   "neonatal",    "pediatric",
    "trauma",    "stroke",    "burn",       "step",     "down",      "observation", "outpatient",
    "inpatient", "infusion",  "dialysis",   "cath",     "lab",       "icu",         "picu",
    "nicu",      "ccu",       "pacu",       "ed",       "er",        "or",          "ir",
    "suite",     NULL};
/* Vitals, ventilator settings, blood gases, labs and drips: the slashes, dashes and digits after
 * these words are clinical notation ("PS 14/6/45%", "BP 118-126/62-70"), not dates or ids. */
static const char *const L_CLINNUM[] = {
    "bp",   "hr",    "rr",    "t",     "tmax", "temp",  "ps",    "psv",   "cpap", "bipap",
    "peep", "ac",    "simv",  "imv",   "prvc", "prvg",  "fio2",  "fi02",  "tv",   "vt",
    "abg",  "vbg",   "abgs",  "map",   "cvp",  "pap",   "pas",   "pcwp",  "sao2", "spo2",
    "o2",   "sat",   "sats",  "vent",  "ie",   "pip",   "plat",  "ci",    "svr",  "gcs",
    "inr",  "ptt",   "hct",   "hgb",   "wbc",  "plt",   "k",     "na",    "bun",  "cr",
    "glu",  "lytes", "mg",    "phos",  "ca",   "dose",  "drip",  "gtt",   "ett",  "ngt",
    "rate", "mode",  "settings", "x",  "pe",   "nif",   "rsbi",  "etco2", "bs",   "fs",
    "fsbs", "lactate", "ph",  "pco2",  "po2",  "hco3",  "be",    "cvvh",  "cvvhd", "uf",
    "mcg",  "mg",    "units", "ml",    "cc",   "io",    "ins",   "outs",  "ivf",  "hrs",
    "ck",   "mb",    "ldh",   "ast",   "alt",  "tbili", "alb",   "trop",  "bnp",  "ve",
    "braden", "apache", "rass", "cpot", "cam",
    NULL};
static const char *const *const LISTS[KW_LABEL] = {
    [KW_CLINNUM] = L_CLINNUM,
    [KW_GENERIC] = L_GENERIC,
    [KW_TRIGGER] = L_TRIGGER,
    [KW_MONTH] = L_MONTH,
    [KW_MEDNOUN] = L_MEDNOUN,
    [KW_NOTNAME] = L_NOTNAME,
    [KW_TITLE_CLIN] = L_TITLE_CLIN,
    [KW_TITLE_LAY] = L_TITLE_LAY,
    [KW_CUE] = L_CUE,
    [KW_CLINCUE] = L_CLINCUE,
    [KW_POSTNOM] = L_POSTNOM,
    [KW_FACILITY] = L_FACILITY,
    [KW_PLACEJOIN] = L_PLACEJOIN,
    [KW_SAINT] = L_SAINT,
    [KW_PREP] = L_PREP,
    [KW_REGION] = L_REGION,
    [KW_PHONE] = L_PHONE,
    [KW_FAX] = L_FAX,
    [KW_SSNW] = L_SSNW,
    [KW_STATE] = L_STATE,
    [KW_STATENAME] = L_STATENAME,
    [KW_ZIPW] = L_ZIPW,
    [KW_AGE_AFTER] = L_AGE_AFTER,
    [KW_AGE_BEFORE] = L_AGE_BEFORE,
    [KW_DIRECTION] = L_DIRECTION,
    [KW_UNIT] = L_UNIT,
    [KW_UNIT_ALONE] = L_UNIT_ALONE,
    [KW_WEEKDAY] = L_WEEKDAY,
    [KW_DATECTX] = L_DATECTX,
    [KW_RELATIVE] = L_RELATIVE,
    [KW_FILLER] = L_FILLER,
};

struct label {
    const char *w;
    phi_class cls;
};

static const struct label LABELS[] = {
    {"mrn", PHI_MRN},
    {"mr", PHI_MRN},
    {"mrno", PHI_MRN},
    {"record", PHI_MRN},
    {"chart", PHI_MRN},
    {"pid", PHI_MRN},
    {"nhc", PHI_MRN},
    {"hc", PHI_MRN},
    {"clínica", PHI_MRN},
    {"patient", PHI_MRN},
    {"id", PHI_ID},
    {"job", PHI_ID},
    {"identifier", PHI_ID},
    {"ref", PHI_ID},
    {"reference", PHI_ID},
    {"case", PHI_ID},
    {"code", PHI_ID},
    {"nº", PHI_ID},
    {"no", PHI_ID},
    {"número", PHI_ID},
    {"study", PHI_ID},
    {"order", PHI_ID},
    {"account", PHI_ACCOUNT},
    {"acct", PHI_ACCOUNT},
    {"acc", PHI_ACCOUNT},
    {"accession", PHI_ACCOUNT},
    {"billing", PHI_ACCOUNT},
    {"invoice", PHI_ACCOUNT},
    {"card", PHI_ACCOUNT},
    {"iban", PHI_ACCOUNT},
    {"claim", PHI_ACCOUNT},
    {"bank", PHI_ACCOUNT},
    {"routing", PHI_ACCOUNT},
    {"member", PHI_HEALTH_PLAN},
    {"policy", PHI_HEALTH_PLAN},
    {"plan", PHI_HEALTH_PLAN},
    {"insurance", PHI_HEALTH_PLAN},
    {"subscriber", PHI_HEALTH_PLAN},
    {"beneficiary", PHI_HEALTH_PLAN},
    {"medicaid", PHI_HEALTH_PLAN},
    {"medicare", PHI_HEALTH_PLAN},
    {"group", PHI_HEALTH_PLAN},
    {"hicn", PHI_HEALTH_PLAN},
    {"mbi", PHI_HEALTH_PLAN},
    {"payer", PHI_HEALTH_PLAN},
    {"insured", PHI_HEALTH_PLAN},
    {"license", PHI_LICENSE},
    {"licence", PHI_LICENSE},
    {"lic", PHI_LICENSE},
    {"dl", PHI_LICENSE},
    {"certificate", PHI_LICENSE},
    {"cert", PHI_LICENSE},
    {"dea", PHI_LICENSE},
    {"npi", PHI_LICENSE},
    {"registration", PHI_LICENSE},
    {"passport", PHI_LICENSE},
    {"colegiado", PHI_LICENSE},
    {"vin", PHI_VEHICLE},
    {"plate", PHI_VEHICLE},
    {"vehicle", PHI_VEHICLE},
    {"matrícula", PHI_VEHICLE},
    {"serial", PHI_DEVICE},
    {"sn", PHI_DEVICE},
    {"device", PHI_DEVICE},
    {"udi", PHI_DEVICE},
    {"lot", PHI_DEVICE},
    {"imei", PHI_DEVICE},
    {"model", PHI_DEVICE},
    {"pacemaker", PHI_DEVICE},
    {"implant", PHI_DEVICE},
    {"ssn", PHI_SSN},
    {"social", PHI_SSN},
    {"cipa", PHI_MRN},
    {"nass", PHI_HEALTH_PLAN},
    {"nºcol", PHI_LICENSE},
    {"col", PHI_LICENSE},
    {"nif", PHI_ID},
    {"dni", PHI_ID},
    {"nie", PHI_ID},
    {"tarjeta", PHI_HEALTH_PLAN},
    {"sanitaria", PHI_HEALTH_PLAN},
    {"afiliación", PHI_HEALTH_PLAN},
    {"seguridad", PHI_HEALTH_PLAN},
    {"episodio", PHI_ID},
};

uint64_t phi__kw_filter[1024]; /* see internal.h */

static size_t slot_of(const struct kwset *t, const char *s, size_t n, uint32_t hv)
{
    size_t h = hv & (t->slots - 1);
    while (t->ent[h].w != NULL && !(t->ent[h].n == n && strncmp(t->ent[h].w, s, n) == 0))
        h = (h + 1) & (t->slots - 1);
    return h;
}

static void put(struct kwset *t, const char *w, uint32_t bit, int lab)
{
    size_t n = strlen(w);
    uint32_t hv = phi__whash(w, n);
    size_t h = slot_of(t, w, n, hv);
    t->ent[h].w = w;
    if (n < 16) {
        char pad[16] = {0};
        memcpy(pad, w, n);
        memcpy(t->ent[h].ck, pad, sizeof pad);
    }
    t->ent[h].hash = hv;
    phi__kw_filter[hv >> 22] |= (uint64_t)1 << ((hv >> 16) & 63u);
    t->ent[h].n = (uint8_t)n;
    t->ent[h].bits |= bit;
    if (lab >= 0)
        t->ent[h].lab = (uint8_t)(lab + 1);
}

/* The set is the same for every context and read-only once built: built once per process
 * (pthread_once), shared by every context and thread. Static data only, never text. */
static struct kwent kw_ents[2048]; /* > 2x the words of every list */
static struct kwset kw_set = {kw_ents, 2048};
static pthread_once_t kw_once = PTHREAD_ONCE_INIT;

static void kw_build_once(void)
{
    struct kwset *t = &kw_set;
    for (size_t k = 0; k < KW_LABEL; k++)
        for (size_t q = 0; LISTS[k] != NULL && LISTS[k][q] != NULL; q++)
            put(t, LISTS[k][q], 1u << k, -1);
    for (size_t q = 0; q < sizeof LABELS / sizeof LABELS[0]; q++)
        put(t, LABELS[q].w, 1u << KW_LABEL, (int)LABELS[q].cls);
}

void phi__kw_init(void)
{
    pthread_once(&kw_once, kw_build_once);
}

void phi__kw_lookup(const char *s, size_t n, uint32_t *bits, uint8_t *lab)
{
    phi__kw_lookup_h(s, n, phi__whash(s, n), bits, lab);
}

void phi__kw_lookup_h(const char *s, size_t n, uint32_t hv, uint32_t *bits, uint8_t *lab)
{
    const struct kwset *t = &kw_set;
    *bits = 0;
    *lab = 0;
    if (n == 0 || n >= 32 || !phi__kw_maybe(hv))
        return;
    for (size_t h = hv & (t->slots - 1); t->ent[h].w != NULL; h = (h + 1) & (t->slots - 1)) {
        const struct kwent *e = &t->ent[h];
        if (e->hash != hv || e->n != n)
            continue;
        size_t k = 0; /* the words are lower case: fold ASCII letters of the token */
        while (k < n && ((s[k] >= 'A' && s[k] <= 'Z') ? (char)(s[k] + 32) : s[k]) == e->w[k])
            k++;
        if (k == n) {
            *bits = e->bits;
            *lab = e->lab;
            return;
        }
    }
}

void phi__kw_lookup_c(size_t n, uint32_t hv, const uint64_t ck[2], uint32_t *bits, uint8_t *lab)
{
    const struct kwset *t = &kw_set;
    for (size_t h = hv & (t->slots - 1); t->ent[h].w != NULL; h = (h + 1) & (t->slots - 1)) {
        const struct kwent *e = &t->ent[h];
        if (e->hash == hv && e->n == n && e->ck[0] == ck[0] && e->ck[1] == ck[1]) {
            *bits = e->bits;
            *lab = e->lab;
            return;
        }
    }
}

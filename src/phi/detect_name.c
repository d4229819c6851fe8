/*
 * Names and places. Person names come from the Census/SSA lists weighed against the SCOWL word
 * frequency level (a rare word that is a common name counts as a name; a common word that is
 * also a surname needs context), plus context: titles (Dr., Mr., Mrs.), post-nominals (MD, RN),
 * cue words (patient, son, signed by ...), "Last, First", DICOM PN carets, first name + initial.
 * Places: facility names (... Hospital, ... Clinic, St./Mt. X), "City, ST" and capitalised runs
 * after a locative preposition.
 * Trusts: nothing; every token index is checked against the token count.
 * Owns: nothing (appends candidates to the scan).
 */
#include <string.h>

#include "internal.h"

int phi__state_tok(const struct scan *sc, size_t i);

/* Eponyms in disease names are not people: "Crohn's disease", "Wells score". */
static int eponym(const struct scan *sc, size_t i)
{
    size_t j = i + 1;
    if (phi__tok_eqc(sc, j, '\'') ||
        (j < sc->ntk && phi__tok_len(sc, j) == 3 && (unsigned char)sc->t[sc->tk[j].s] == 0xE2)) {
        j++;
        if (phi__tok_eq(sc, j, "s"))
            j++;
    }
    if (phi__tok_eqc(sc, j, '-') && j + 1 < sc->ntk && (sc->tk[j + 1].fl & TF_CAP))
        j += 2; /* Stevens-Johnson syndrome */
    if (phi__kw(sc, j, KW_MEDNOUN))
        return 1;
    if (j < sc->ntk && sc->tk[j].kind == TK_NUM && phi__kw(sc, j + 1, KW_MEDNOUN))
        return 1; /* "Fleischner 2017 guidelines" */
    /* "McGill Pain Index", "Glasgow Coma Scale" */
    return j + 1 < sc->ntk && (sc->tk[j].fl & TF_CAP) && phi__kw(sc, j + 1, KW_MEDNOUN);
}

static int initial(const struct scan *sc, size_t i)
{
    if (!(i < sc->ntk && (sc->tk[i].nm & NM_LETTER)))
        return 0;
    if (phi__tok_eq(sc, i, "a") || phi__tok_eq(sc, i, "i")) /* the article, the pronoun */
        return phi__tok_eqc(sc, i + 1, '.') && phi__tok_adjacent(sc, i + 1);
    return 1;
}

/* How name-like token i is on its own (the NM_* class from the tokenizer: name_class in text.c). */
static int namey(const struct scan *sc, size_t i)
{
    return i < sc->ntk ? sc->tk[i].nm & 3 : NM_NONE;
}

static int is_first(const struct scan *sc, size_t i)
{
    const struct phi__dict_ent *d = phi__tok_dict(sc, i);
    return d != NULL && (d->flags & PHI_DICT_FIRST) && d->first > 0;
}

static int first_common(const struct scan *sc, size_t i)
{
    const struct phi__dict_ent *d = phi__tok_dict(sc, i);
    return d != NULL && (d->flags & PHI_DICT_FIRST) && d->first >= 50 && (sc->tk[i].fl & TF_CAP) &&
           !(sc->tk[i].fl & TF_ALLCAP) && !phi__kw(sc, i, KW_NOTNAME);
}

static int common_first(const struct scan *sc, size_t i)
{
    const struct phi__dict_ent *d = phi__tok_dict(sc, i);
    return d != NULL && (d->flags & PHI_DICT_FIRST) && d->first >= 30 &&
           !(d->flags & PHI_DICT_WORD);
}

static int last_common(const struct scan *sc, size_t i)
{
    const struct phi__dict_ent *d = phi__tok_dict(sc, i);
    return d != NULL && (d->flags & PHI_DICT_LAST) && d->last >= 50 && (sc->tk[i].fl & TF_CAP);
}

static int title_before(const struct scan *sc, size_t i, int *clin)
{
    if (i == 0)
        return 0;
    size_t j = i - 1;
    if (phi__tok_eqc(sc, j, '.') && j > 0)
        j--;
    if (phi__kw(sc, j, KW_TITLE_CLIN)) {
        *clin = 1;
        return 1;
    }
    return phi__kw(sc, j, KW_TITLE_LAY);
}

static int cue_before(const struct scan *sc, size_t i, int *clin)
{
    size_t j = i;
    for (int k = 0; k < 3 && j > 0; k++) {
        j--;
        if (sc->tk[j].kind == TK_PUNCT && phi__in((char)sc->tk[j].ch, ":,-"))
            continue;
        if (phi__kw(sc, j, KW_CLINCUE)) {
            *clin = 1;
            return 1;
        }
        if (phi__tok_eq(sc, j, "is") || phi__tok_eq(sc, j, "was") || phi__tok_eq(sc, j, "s"))
            continue; /* "my name is", "patient's name was" */
        return phi__kw(sc, j, KW_CUE);
    }
    return 0;
}

static int postnominal(const struct scan *sc, size_t j)
{
    if (phi__tok_eqc(sc, j, ','))
        j++;
    if (phi__tok_eq(sc, j, "m") && phi__tok_eqc(sc, j + 1, '.') && phi__tok_eq(sc, j + 2, "d"))
        return 1;
    return j < sc->ntk && (sc->tk[j].fl & TF_ALLCAP) && phi__kw(sc, j, KW_POSTNOM);
}

/* The end (inclusive) of a run of name tokens starting at i; initials may carry a period;
 * O'Brien and Smith-Jones join. */
static size_t run_end(const struct scan *sc, size_t i, size_t max, int any_cap)
{
    size_t j = i, last = i, count = 0;
    while (j < sc->ntk && count < max) {
        if (j > i && (sc->tk[j].fl & TF_NL))
            break;
        int ok = namey(sc, j) != NM_NONE || initial(sc, j) ||
                 (any_cap && sc->tk[j].kind == TK_WORD && (sc->tk[j].fl & TF_CAP) &&
                  !phi__kw(sc, j, KW_NOTNAME));
        if (!ok || (j > i && eponym(sc, j)))
            break;
        last = j;
        count++;
        j++;
        if (initial(sc, last) && phi__tok_eqc(sc, j, '.') && phi__tok_adjacent(sc, j)) {
            last = j;
            j++;
        } else if ((phi__tok_eqc(sc, j, '-') || phi__tok_eqc(sc, j, '\'')) &&
                   phi__tok_adjacent(sc, j) && phi__tok_adjacent(sc, j + 1) &&
                   namey(sc, j + 1) != NM_NONE) {
            j++;
        }
    }
    return last;
}

static void add_name(struct scan *sc, size_t i, size_t e, int clin, int prio)
{
    phi__add(sc, sc->tk[i].s, sc->tk[e].e, PHI_NAME, PHI_SRC_DICT, prio, clin);
}

/* DICOM PN: Family^Given^Middle (any case). */
static size_t caret(struct scan *sc, size_t i)
{
    if (sc->tk[i].kind != TK_WORD || !phi__tok_eqc(sc, i + 1, '^') || !phi__tok_adjacent(sc, i + 1))
        return 0;
    size_t j = i;
    while (phi__tok_eqc(sc, j + 1, '^') && phi__tok_adjacent(sc, j + 1)) {
        if (j + 2 < sc->ntk && phi__tok_adjacent(sc, j + 2) && sc->tk[j + 2].kind == TK_WORD)
            j += 2;
        else
            j += 1;
    }
    add_name(sc, i, j, 0, 50);
    return j;
}

static size_t person(struct scan *sc, size_t i)
{
    int clin = 0, nm = namey(sc, i);
    if (title_before(sc, i, &clin) && (sc->tk[i].fl & TF_CAP) &&
        (!phi__kw(sc, i, KW_NOTNAME) || initial(sc, i))) {
        size_t e = run_end(sc, i, 3, 1);
        add_name(sc, i, e, clin, 45);
        return e;
    }
    if (nm == NM_NONE && !initial(sc, i))
        return 0;
    if (eponym(sc, i))
        return 0;
    size_t e = run_end(sc, i, 4, 0);
    if (postnominal(sc, e + 1)) {
        add_name(sc, i, e, 1, 45);
        return e;
    }
    int cue = cue_before(sc, i, &clin);
    size_t ntoks = 0, strong = 0, unknown = 0, inits = 0, first = (size_t)is_first(sc, i);
    for (size_t k = i; k <= e; k++) {
        if (sc->tk[k].kind != TK_WORD)
            continue;
        int v = namey(sc, k);
        ntoks++;
        strong += v == NM_STRONG;
        unknown += v == NM_UNKNOWN;
        inits += initial(sc, k) ? 1 : 0;
    }
    int sent = (sc->tk[i].fl & TF_SENT) != 0;
    /* "Braden 17", "Apache 22": a lone name-like word before a number is a score */
    if (ntoks == 1 && !cue && e + 1 < sc->ntk && sc->tk[e + 1].kind == TK_NUM &&
        !(sc->tk[e + 1].fl & TF_NL))
        return 0;
    if (eponym(sc, e + 1) && !cue)
        return 0; /* "Lou Gehrig's disease" */
    /* a lone possessive surname without a cue is an eponym: "Ludwig's angina", "Alzheimer's" */
    if (ntoks == 1 && !cue &&
        (phi__tok_eqc(sc, e + 1, '\'') || (e + 1 < sc->ntk && phi__tok_len(sc, e + 1) == 3 &&
                                           (unsigned char)sc->t[sc->tk[e + 1].s] == 0xE2)) &&
        phi__tok_eq(sc, e + 2, "s"))
        return 0;
    int ok = 0;
    if (cue && (strong + unknown > 0 || (nm == NM_WEAK && ntoks >= 2)))
        ok = 1;
    else if (ntoks >= 2 && first && (strong >= 1 || (nm == NM_WEAK && unknown >= 1)) &&
             ntoks > inits && (nm != NM_UNKNOWN))
        ok = 1; /* John Smith, Anna S., Mark Lindqvist */
    else if (ntoks >= 2 && first_common(sc, i) && e > i)
        ok = 1; /* Jack Smith, Frank L.: a frequent first name before a surname or initial */
    else if (ntoks == 2 && inits == 1 && last_common(sc, i) &&
             (initial(sc, e) || (e > 0 && initial(sc, e - 1) && phi__tok_eqc(sc, e, '.'))))
        ok = 1; /* Smith J. */
    else if (ntoks >= 2 && strong >= 2)
        ok = 1;
    else if (ntoks >= 2 && strong >= 1 && unknown >= 1 && !sent)
        ok = 1;
    else if (ntoks == 1 && nm == NM_STRONG && !sent && !(sc->tk[i].fl & TF_ALLCAP))
        ok = 1;
    else if (ntoks == 1 && nm == NM_STRONG && !(sc->tk[i].fl & TF_ALLCAP) && common_first(sc, i))
        ok = 1; /* "Kevin had given ...", "Melanie: ..." (a frequent first name, not a word) */
    /* Last, First */
    if (!ok && ntoks == 1 && nm != NM_NONE && phi__tok_eqc(sc, e + 1, ',') && is_first(sc, e + 2) &&
        namey(sc, e + 2) >= NM_WEAK && !(sc->tk[e + 2].fl & TF_NL)) {
        size_t e2 = run_end(sc, e + 2, 2, 0);
        add_name(sc, i, e2, clin, 42);
        return e2;
    }
    if (!ok)
        return 0;
    /* don't swallow a sentence-initial common word: "Then John Smith" */
    add_name(sc, i, e, clin, 40);
    return e;
}


/* ---- names in any case: after a title, role or relation word; signatures ---------------------
 * Case carries no signal in many notes ("pt seen by dr. okafor", "WIFE HELGA AT BEDSIDE"): these
 * rules decide from the word before and the dictionary, not from a capital. */

/* The dictionary entry of token i in any case (the tokenizer looks up capitalised words and
 * words after a cue; others are looked up here). */
static const struct phi__dict_ent *dict_any(const struct scan *sc, size_t i)
{
    if (i >= sc->ntk || sc->tk[i].kind != TK_WORD || !(sc->tk[i].fl & TF_ASCII))
        return NULL;
    if (sc->tk[i].de >= 0)
        return &phi__dict_ents[sc->tk[i].de];
    return phi__dict_find(sc->t + sc->tk[i].s, phi__tok_len(sc, i));
}

/* Keyword lists whose words are never a name after a cue ("son at bedside", "dr. to see"). */
#define NOT_AFTER_CUE                                                                              \
    ((1u << KW_NOTNAME) | (1u << KW_PREP) | (1u << KW_MONTH) | (1u << KW_WEEKDAY) |                \
     (1u << KW_MEDNOUN) | (1u << KW_FACILITY) | (1u << KW_GENERIC) | (1u << KW_CLINNUM) |          \
     (1u << KW_TITLE_CLIN) | (1u << KW_TITLE_LAY) | (1u << KW_CUE) | (1u << KW_CLINCUE) |          \
     (1u << KW_POSTNOM) | (1u << KW_PLACEJOIN) | (1u << KW_RELATIVE) | (1u << KW_FILLER) |         \
     (1u << KW_DATECTX) | (1u << KW_STATENAME) | (1u << KW_REGION) | (1u << KW_LABEL))

/* Token i as a name in any case. strict 0 (after "dr."/"mr"): any word that is not a common
 * word only; strict 1 (after a relation or role, at a signature): a frequent first name (even if
 * a word: "rn joy"), a name or rare word, or a word outside the dictionary. */
static int any_case_name(const struct scan *sc, size_t i, int strict)
{
    if (i >= sc->ntk || sc->tk[i].kind != TK_WORD || phi__tok_len(sc, i) < 2 ||
        (sc->tk[i].kw & NOT_AFTER_CUE))
        return 0;
    const struct phi__dict_ent *d = dict_any(sc, i);
    if (d == NULL)
        return (sc->tk[i].fl & TF_ASCII) ? phi__tok_len(sc, i) >= (strict ? 3u : 2u) : 1;
    int word = (d->flags & PHI_DICT_WORD) != 0 && d->word_level > 0;
    int named = (d->flags & (PHI_DICT_FIRST | PHI_DICT_LAST)) != 0;
    if (!word)
        return named || !(d->flags & (PHI_DICT_SUFFIX | PHI_DICT_PLACE)) || !strict;
    if (d->word_level >= 50)
        return 1;
    if (strict)
        return (d->flags & PHI_DICT_FIRST) && d->first >= 50;
    return named && (d->word_level >= 35 || d->first >= 50 || d->last >= 50);
}

/* The cue before token i (skipping ". , : - (" on the same line): 2 a title (dr, mr ...), 1 a
 * relation or role (wife, dtr, rn, nurse ...), 0 none. "pt"/"patient" do not count here. */
static int cue_kind(const struct scan *sc, size_t i)
{
    if (i == 0 || (sc->tk[i].fl & TF_NL))
        return 0;
    size_t j = i - 1;
    while (j > 0 && sc->tk[j].kind == TK_PUNCT && phi__in((char)sc->tk[j].ch, ".,:-(") &&
           !(sc->tk[j].fl & TF_NL))
        j--; /* "son, teddy", "son (AMBER)", "dtr (rosa)" */
    if (sc->tk[j].kind != TK_WORD)
        return 0;
    if (phi__tok_eq(sc, j, "dr") || phi__tok_eq(sc, j, "doctor") || phi__tok_eq(sc, j, "mr") ||
        phi__tok_eq(sc, j, "mrs") || phi__tok_eq(sc, j, "ms") || phi__tok_eq(sc, j, "miss") ||
        phi__tok_eq(sc, j, "prof") || phi__tok_eq(sc, j, "mx") || phi__tok_eq(sc, j, "dra"))
        return 2;
    if (phi__kw(sc, j, KW_TITLE_CLIN))
        return 1; /* nurse, rn, np, rrt, lpn */
    if (!phi__kw(sc, j, KW_CUE) || phi__tok_eq(sc, j, "patient") || phi__tok_eq(sc, j, "pt") ||
        phi__tok_eq(sc, j, "called") || phi__tok_eq(sc, j, "contact") ||
        phi__tok_eq(sc, j, "cc") || phi__tok_eq(sc, j, "attn") || phi__tok_eq(sc, j, "sr") ||
        phi__tok_eq(sc, j, "employer") || phi__tok_eq(sc, j, "paciente") ||
        phi__tok_eq(sc, j, "law") || phi__tok_eq(sc, j, "name"))
        return 0;
    return 1;
}

/* A name in any case after a title, role or relation word: "dr. okafor", "DR OKAFOR", "wife
 * helga", "dtr rosa", "rn joy", "son, teddy,". Returns the last name token or 0. */
static size_t cue_name(struct scan *sc, size_t i)
{
    int k = cue_kind(sc, i);
    if (k == 0 || !any_case_name(sc, i, k == 1))
        return 0;
    size_t e = i;
    /* a second (and third) name word on the same line: "dr. anna okafor" */
    for (int w = 0; w < 2; w++) {
        size_t j = e + 1;
        if (j >= sc->ntk || (sc->tk[j].fl & TF_NL) || !(sc->tk[j].fl & TF_SP) ||
            !any_case_name(sc, j, 1))
            break;
        e = j;
    }
    add_name(sc, i, e, k == 2 && phi__kw(sc, i - 1, KW_TITLE_CLIN), 46);
    return e;
}

static int line_end_after(const struct scan *sc, size_t j)
{
    if (phi__tok_eqc(sc, j + 1, '.') || phi__tok_eqc(sc, j + 1, ','))
        j++;
    return j + 1 >= sc->ntk || (sc->tk[j + 1].fl & TF_NL);
}

/* Signatures at the start of a line: "p. arvidsson rn", "T. MOLL RRT", "J Smith, RN" (an
 * initial or name words, then a post-nominal ending the line), "--HELGA", "- joy" (a dash, one
 * or two name words ending the line). */
static size_t signature(struct scan *sc, size_t i)
{
    const struct tok *t = &sc->tk[i];
    if (t->kind != TK_WORD)
        return 0;
    if (i > 0 && phi__tok_eqc(sc, i - 1, '-') && !(t->fl & TF_NL)) {
        size_t j = i - 1;
        while (j > 0 && phi__tok_eqc(sc, j, '-') && !(sc->tk[j].fl & TF_NL))
            j--;
        if (!(phi__tok_eqc(sc, j, '-') && (sc->tk[j].fl & TF_NL)) || !any_case_name(sc, i, 1))
            return 0;
        size_t e = i;
        if (!line_end_after(sc, e) && any_case_name(sc, e + 1, 1) && !(sc->tk[e + 1].fl & TF_NL))
            e++;
        if (!line_end_after(sc, e))
            return 0;
        add_name(sc, i, e, 0, 44);
        return e;
    }
    if (!(t->fl & TF_NL))
        return 0;
    size_t j = i, first = i;
    int init = 0;
    if (phi__tok_len(sc, j) == 1) {
        j++;
        if (phi__tok_eqc(sc, j, '.') && phi__tok_adjacent(sc, j))
            j++;
        init = 1;
    }
    size_t words = 0, last = j;
    /* after an initial, any word but a keyword: "e. bond rrt", "c. story rn" */
    while (words < 2 && j < sc->ntk && !(sc->tk[j].fl & TF_NL) &&
           (init ? any_case_name(sc, j, 0) || (sc->tk[j].kind == TK_WORD &&
                                               !(sc->tk[j].kw & NOT_AFTER_CUE))
                 : any_case_name(sc, j, 1))) {
        last = j;
        words++;
        j++;
    }
    if (words == 0 && !init) {
        /* "ds, rn": initials alone */
        if (t->kind == TK_WORD && phi__tok_len(sc, i) <= 3 && !(t->kw & NOT_AFTER_CUE)) {
            words = 1;
            last = i;
            j = i + 1;
        }
    }
    if (words == 0)
        return 0;
    if (phi__tok_eqc(sc, j, ','))
        j++;
    if (j >= sc->ntk || (sc->tk[j].fl & TF_NL))
        return 0;
    size_t pn = j;
    /* "R.N.", "M.D.": a post-nominal spelt with periods */
    if (phi__tok_len(sc, j) == 1 && phi__tok_eqc(sc, j + 1, '.') && j + 2 < sc->ntk &&
        phi__tok_len(sc, j + 2) == 1 && sc->tk[j + 2].kind == TK_WORD) {
        char a = (char)(sc->t[sc->tk[j].s] | 0x20), b = (char)(sc->t[sc->tk[j + 2].s] | 0x20);
        if (!((a == 'r' && b == 'n') || (a == 'm' && b == 'd') || (a == 'n' && b == 'p') ||
              (a == 'p' && b == 'a')))
            return 0;
        pn = j + 2;
    } else if (!phi__kw(sc, j, KW_POSTNOM)) {
        return 0;
    }
    if (!line_end_after(sc, pn))
        return 0;
    add_name(sc, first, last, 1, 44);
    return pn;
}

/* ---- places ---------------------------------------------------------------------------------- */

static int capword(const struct scan *sc, size_t i)
{
    return i < sc->ntk && (sc->tk[i].kind == TK_WORD || sc->tk[i].kind == TK_ALNUM) &&
           (sc->tk[i].fl & TF_CAP);
}

/* St. / Mt. / Saint / Mount + capitalised name: a place unless an address follows. */
static int saint(const struct scan *sc, size_t i, size_t *next)
{
    if (!capword(sc, i) || !phi__kw(sc, i, KW_SAINT))
        return 0;
    size_t j = i + 1;
    if (phi__tok_eqc(sc, j, '.'))
        j++;
    if (!capword(sc, j) || phi__kw(sc, j, KW_NOTNAME) || phi__tok_len(sc, j) < 3)
        return 0; /* "ST W/ OCC PVC'S": sinus tachycardia */
    *next = j;
    return 1;
}

/* A facility name ending with a facility word: "Bramblewood Regional Medical Center". */
static size_t facility(struct scan *sc, size_t i)
{
    size_t nx = 0;
    int st = saint(sc, i, &nx);
    if (!capword(sc, i) || (phi__kw(sc, i, KW_NOTNAME) && !phi__tok_eq(sc, i, "the") &&
                            !(sc->tk[i].fl & TF_ALLCAP))) /* "LA Medical Center" */
        return 0;
    size_t j = i, last = i, fac = 0, named = 0;
    for (size_t w = 0; w < 8 && j < sc->ntk; w++) {
        if (j > i && (sc->tk[j].fl & TF_NL))
            break;
        if (capword(sc, j)) {
            const struct phi__dict_ent *dj = phi__tok_dict(sc, j);
            if (phi__kw(sc, j, KW_FACILITY))
                fac = j;
            else if (!phi__kw(sc, j, KW_NOTNAME) && !phi__kw(sc, j, KW_GENERIC) &&
                     !((sc->tk[j].fl & TF_ALLCAP) && dj != NULL && (dj->flags & PHI_DICT_WORD) &&
                       dj->word_level > 0 && dj->word_level < 50 &&
                       !(dj->flags & PHI_DICT_PLACE)))
                named++; /* in capitals, a common word ("RENAL CLINIC") names nothing */
            last = j;
            j++;
        } else if ((phi__tok_eqc(sc, j, '.') && phi__tok_adjacent(sc, j) && j > 0 &&
                    (phi__tok_len(sc, j - 1) <= 3 || phi__tok_eq(sc, j - 1, "hosp") ||
                     phi__tok_eq(sc, j - 1, "univ"))) ||
                   phi__tok_eqc(sc, j, '-') || phi__tok_eqc(sc, j, '&')) {
            j++; /* "St. Vincent", "Med. Ctr", "Cedars-Sinai"; not a sentence end */
        } else if ((phi__tok_eqc(sc, j, '\'') ||
                    (phi__tok_len(sc, j) == 3 && (unsigned char)sc->t[sc->tk[j].s] == 0xE2)) &&
                   phi__tok_eq(sc, j + 1, "s")) {
            last = j + 1;
            j += 2;
        } else if (phi__kw(sc, j, KW_PLACEJOIN) && capword(sc, j + 1)) {
            j++;
        } else {
            break;
        }
    }
    if (st && last >= nx) {
        phi__add(sc, sc->tk[i].s, sc->tk[last].e, PHI_LOCATION, PHI_SRC_DICT, 35, 0);
        return last;
    }
    if (fac == 0 || named == 0 || (fac == i))
        return 0;
    /* "RESPIRATORY CARE NOTE:", "Nursing Progress Note:": a heading at the start of a line */
    if (phi__tok_eqc(sc, last + 1, ':') ||
        ((sc->tk[i].fl & TF_NL) && (last + 1 >= sc->ntk || (sc->tk[last + 1].fl & TF_NL)) &&
         !phi__kw(sc, last, KW_FACILITY)))
        return 0;
    size_t s = i;
    if (phi__tok_eq(sc, s, "the") && s < fac)
        s++;
    phi__add(sc, sc->tk[s].s, sc->tk[last].e, PHI_LOCATION, PHI_SRC_DICT, 35, 0);
    return last;
}

/* "Fort Wexley, TX", "Springfield, Illinois": the city before a state. */
static size_t city_state(struct scan *sc, size_t i)
{
    if (!capword(sc, i) || sc->tk[i].kind != TK_WORD || phi__state_tok(sc, i) == 1)
        return 0;
    size_t j = i;
    while (j + 1 < sc->ntk && j < i + 3 && capword(sc, j + 1) && !(sc->tk[j + 1].fl & TF_NL))
        j++;
    if (!phi__tok_eqc(sc, j + 1, ','))
        return 0;
    int st = phi__state_tok(sc, j + 2);
    if (st == 0)
        return 0;
    if (st == 1 && !(j + 3 >= sc->ntk || sc->tk[j + 3].kind == TK_NUM ||
                     sc->tk[j + 3].kind == TK_PUNCT || (sc->tk[j + 3].fl & TF_NL)))
        return 0;
    phi__add(sc, sc->tk[i].s, sc->tk[j].e, PHI_LOCATION, PHI_SRC_DICT, 34, 0);
    return j;
}

static int prep_before(const struct scan *sc, size_t i)
{
    return i > 0 && !(sc->tk[i].fl & TF_NL) && phi__kw(sc, i - 1, KW_PREP) &&
           (!(sc->tk[i - 1].fl & TF_CAP) ||
            ((sc->tk[i - 1].fl & TF_ALLCAP) && (sc->tk[i].fl & TF_ALLCAP)));
}

/* The longest known place (city, borough, health institution) starting at token i: tokens
 * joined by spaces or by '-', '.', '\'' as in "Cedars-Sinai", "St. Louis", "Women's". */
static size_t place_len(const struct scan *sc, size_t i, size_t *ntok)
{
    char key[32];
    size_t o = 0, j = i, best = 0, nt = 0;
    for (size_t w = 0; w < 5 && j < sc->ntk; w++) {
        const struct tok *t = &sc->tk[j];
        if (t->kind == TK_PUNCT || !(t->fl & TF_ASCII) || (j > i && (t->fl & TF_NL)))
            break;
        size_t len = t->e - t->s;
        if (o + len + 1 >= sizeof key)
            break;
        if (o > 0)
            key[o++] = ' ';
        for (size_t k = 0; k < len; k++) {
            char c = sc->t[t->s + k];
            key[o++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        const struct phi__dict_ent *d = w == 0 ? phi__tok_dict(sc, j) : phi__dict_find(key, o);
        if (d != NULL && (d->flags & PHI_DICT_PLACE)) {
            best = j;
            nt = w + 1;
        }
        if (d == NULL || !(d->flags & PHI_DICT_PREFIX))
            break; /* no longer place starts with these words */
        j++;
        while (j < sc->ntk && sc->tk[j].kind == TK_PUNCT && phi__tok_adjacent(sc, j) &&
               phi__in((char)sc->tk[j].ch, "-.'"))
            j++;
    }
    *ntok = nt;
    return nt ? best : 0;
}

static size_t known_place(struct scan *sc, size_t i)
{
    if (!(sc->tk[i].fl & TF_CAP))
        return 0;
    size_t nt, e = place_len(sc, i, &nt);
    if (nt == 0)
        return 0;
    if (nt == 1 && !prep_before(sc, i)) {
        const struct phi__dict_ent *d = phi__tok_dict(sc, i);
        int common = d != NULL && (d->flags & (PHI_DICT_WORD | PHI_DICT_FIRST | PHI_DICT_LAST)) &&
                     !((d->flags & PHI_DICT_WORD) && d->word_level >= 50 &&
                       !(d->flags & (PHI_DICT_FIRST | PHI_DICT_LAST)));
        if (common || (sc->tk[i].fl & TF_SENT) || eponym(sc, i))
            return 0;
    }
    /* "UCSF Med Ctr", "Chicago clinic": the facility words after it belong to the place */
    size_t j = e + 1;
    while (j < sc->ntk && !(sc->tk[j].fl & TF_NL) && sc->tk[j].kind == TK_WORD &&
           phi__kw(sc, j, KW_FACILITY)) {
        e = j;
        j++;
        if (phi__tok_eqc(sc, j, '.') && phi__tok_adjacent(sc, j))
            j++;
    }
    phi__add(sc, sc->tk[i].s, sc->tk[e].e, PHI_LOCATION, PHI_SRC_DICT, 36, 0);
    return e;
}

/* A word of movement before token p ("transferred to", "sent to"). */
static int moved_before(const struct scan *sc, size_t p)
{
    static const char *const W[] = {"transferred", "transfer", "xfer",      "xfered", "sent",
                                    "moved",       "going",    "went",      "returned", "return",
                                    "discharged",  "discharge", "admitted", "transported",
                                    "back",        "brought",  "taken",     "flown",  "driven",
                                    "relocated",   "referred",  "travel",   "traveled", "drove",
                                    NULL};
    if (p == 0 || (sc->tk[p].fl & TF_NL))
        return 0;
    for (size_t k = 0; W[k] != NULL; k++)
        if (phi__tok_eq(sc, p - 1, W[k]))
            return 1;
    return 0;
}

/* A capitalised run after a locative preposition: "seen at Cedar Crest on ...". */
static size_t prep_place(struct scan *sc, size_t i)
{
    if (!prep_before(sc, i) || !capword(sc, i) || sc->tk[i].kind != TK_WORD)
        return 0;
    size_t j = i, e = i, n = 0, odd = 0, fac = 0, gen = 0;
    /* in capitals every word is capitalised: "IN SATISFACTORY POSITION", "TO LCS. LG BROWN
     * STOOL", "IN HIS USUAL STATE OF" are no places. There a run stops at a preposition or a
     * very common word, a '.' joins only after a short abbreviation ("ST. BRIGID"), and only a
     * word that is no common word (or a known place) makes it a place. */
    int caps = (sc->tk[i].fl & TF_ALLCAP) && (sc->tk[i - 1].fl & TF_ALLCAP);
    while (j < sc->ntk && n < 4 && capword(sc, j) && sc->tk[j].kind == TK_WORD &&
           !(j > i && (sc->tk[j].fl & TF_NL))) {
        if (phi__kw(sc, j, KW_NOTNAME) || phi__month(sc->t + sc->tk[j].s, phi__tok_len(sc, j)) ||
            eponym(sc, j))
            return 0;
        const struct phi__dict_ent *d = phi__tok_dict(sc, j);
        if (caps && j > i &&
            (phi__kw(sc, j, KW_PREP) || (d != NULL && (d->flags & PHI_DICT_WORD) &&
                                         d->word_level > 0 && d->word_level < 20)))
            break;
        if (phi__kw(sc, j, KW_GENERIC))
            gen++;
        else if (phi__kw(sc, j, KW_FACILITY))
            fac++;
        else if (caps ? (d == NULL ? phi__tok_len(sc, j) > 4
                                   : ((d->flags & PHI_DICT_PLACE) ||
                                      !(d->flags & PHI_DICT_WORD) || d->word_level >= 50 ||
                                      ((d->flags & (PHI_DICT_FIRST | PHI_DICT_LAST)) &&
                                       d->word_level >= 35)))
                      : (d == NULL || !(d->flags & PHI_DICT_WORD) || d->word_level >= 40 ||
                         (d->flags & (PHI_DICT_FIRST | PHI_DICT_LAST | PHI_DICT_PLACE))))
            odd++;
        e = j;
        n++;
        j++;
        if ((phi__tok_eqc(sc, j, '-') || phi__tok_eqc(sc, j, '.')) && phi__tok_adjacent(sc, j) &&
            capword(sc, j + 1) && !(caps && phi__tok_eqc(sc, j, '.') && phi__tok_len(sc, j - 1) > 2))
            j++;
    }
    if (caps && odd == 0 && fac == 0)
        return 0;
    if ((sc->tk[i].fl & TF_ALLCAP) && n == 1 && phi__tok_len(sc, i) <= 5)
        return 0; /* "in ICU", "at ER", "to GOLD guidelines" */
    if (n == 1 && (phi__state_tok(sc, i) || phi__kw(sc, i, KW_REGION)))
        return 0; /* states and countries are not PHI */
    if (phi__kw(sc, e + 1, KW_MEDNOUN))
        return 0;
    if (odd == 0 && !(n >= 2 && n > gen + fac) && !(n >= 2 && fac >= 1 && gen == 0))
        return 0;
    /* "switched to Levophed", "changed to Propofol": one unknown word after "to" is a place only
     * after a word of movement or before a ward number ("transfer to Ellison 7") */
    int ward = e + 1 < sc->ntk && sc->tk[e + 1].kind == TK_NUM && phi__tok_len(sc, e + 1) <= 2 &&
               !(sc->tk[e + 1].fl & TF_NL) && (sc->tk[e + 1].fl & TF_SP) &&
               !(e + 2 < sc->ntk && phi__tok_adjacent(sc, e + 2) && !phi__tok_eqc(sc, e + 2, '.') &&
                 !phi__tok_eqc(sc, e + 2, ','));
    if (n == 1 && fac == 0 && phi__tok_eq(sc, i - 1, "to") && !ward && !moved_before(sc, i - 1))
        return 0;
    if (ward)
        e++;
    phi__add(sc, sc->tk[i].s, sc->tk[e].e, PHI_LOCATION, PHI_SRC_DICT, 33, 0);
    return e;
}

/* "CT CHEST W/O CONTRAST - LINDQVIST": a descriptor ending in an upper-case name. */
static size_t trailing_caps(struct scan *sc, size_t i)
{
    const struct tok *t = &sc->tk[i];
    if (!(t->fl & TF_ALLCAP) || t->e - t->s < 4 || i < 2 || !phi__tok_eqc(sc, i - 1, '-') ||
        !(t->fl & TF_SP) || namey(sc, i) == NM_NONE)
        return 0;
    size_t j = i + 1;
    if (j < sc->ntk && phi__tok_eqc(sc, j, '^'))
        return 0;
    if (j < sc->ntk && !(sc->tk[j].fl & TF_NL) && !phi__tok_eqc(sc, j, ','))
        return 0;
    add_name(sc, i, i, 0, 38);
    return i;
}

/* Wards with a number in any case: "to caldwell 8 when bed avail", "TRANSFERRED TO THAYER 11",
 * "from pemberton 12": a preposition, a word that is not a common word, a number of 1-2 digits.
 * Walks the number list (the word is in lower case, so not in ix_name). */
static void wards(struct scan *sc)
{
    for (size_t q = 0; q < sc->nix_nd; q++) {
        size_t i = sc->ix_nd[q];
        if (i < 2 || sc->tk[i].kind != TK_NUM || phi__tok_len(sc, i) > 2 ||
            (sc->tk[i].fl & TF_NL) || !(sc->tk[i].fl & TF_SP) || (sc->tk[i - 1].fl & TF_NL))
            continue;
        size_t w = i - 1;
        if (sc->tk[w].kind != TK_WORD || !phi__kw(sc, w - 1, KW_PREP) ||
            (sc->tk[w].kw & NOT_AFTER_CUE) || phi__tok_len(sc, w) < 3)
            continue;
        if (i + 1 < sc->ntk && phi__tok_adjacent(sc, i + 1) && !phi__tok_eqc(sc, i + 1, '.') &&
            !phi__tok_eqc(sc, i + 1, ','))
            continue; /* "to 12%", "in 3-4" */
        if (i + 1 < sc->ntk && !(sc->tk[i + 1].fl & TF_NL) && phi__kw(sc, i + 1, KW_CLINNUM))
            continue; /* "weaned to dopa 14 mcg/kg/min" */
        const struct phi__dict_ent *d = dict_any(sc, w);
        if (d != NULL && (d->flags & PHI_DICT_WORD) && d->word_level > 0 && d->word_level < 50 &&
            !(d->flags & (PHI_DICT_FIRST | PHI_DICT_LAST | PHI_DICT_PLACE)))
            continue; /* "to bed 12", "in room 4", "up to 12" */
        phi__add(sc, sc->tk[w].s, sc->tk[i].e, PHI_LOCATION, PHI_SRC_DICT, 33, 0);
    }
}

/* A town in lower case where a note says where the patient lives: "lives in sturbridge w/
 * wife", "resides in quincy": one or two words after lives/resides/living + in/near that are no
 * common words (a common word there is rarely a town: "lives in assisted living"). */
static void lower_towns(struct scan *sc)
{
    for (size_t i = 0; i + 2 < sc->ntk; i++) {
        size_t n = phi__tok_len(sc, i);
        if (n < 5 || n > 7 || sc->tk[i].kind != TK_WORD)
            continue;
        if (!(phi__tok_eq(sc, i, "lives") || phi__tok_eq(sc, i, "resides") ||
              phi__tok_eq(sc, i, "living") || phi__tok_eq(sc, i, "lived")))
            continue;
        if (!(phi__tok_eq(sc, i + 1, "in") || phi__tok_eq(sc, i + 1, "near")))
            continue;
        size_t e = 0;
        for (size_t j = i + 2; j < i + 4 && j < sc->ntk; j++) {
            const struct tok *t = &sc->tk[j];
            if (t->kind != TK_WORD || (t->fl & (TF_CAP | TF_NL)) || !(t->fl & TF_SP) ||
                (t->kw & NOT_AFTER_CUE) || phi__tok_len(sc, j) < 3)
                break;
            const struct phi__dict_ent *d = dict_any(sc, j);
            if (d != NULL && (d->flags & PHI_DICT_WORD) && d->word_level > 0 &&
                d->word_level < 50 && !(d->flags & PHI_DICT_PLACE))
                break;
            e = j;
        }
        if (e != 0)
            phi__add(sc, sc->tk[i + 2].s, sc->tk[e].e, PHI_LOCATION, PHI_SRC_DICT, 33, 0);
    }
}

void phi__detect_names(struct scan *sc)
{
    wards(sc);
    lower_towns(sc);
    size_t next = 0; /* tokens before it are inside a match */
    for (size_t q = 0; q < sc->nix_name; q++) {
        size_t i = sc->ix_name[q];
        if (i < next || sc->tk[i].kind != TK_WORD)
            continue;
        size_t e = caret(sc, i);
        if (e == 0 && (!(sc->tk[i].fl & TF_CAP) || (sc->tk[i].fl & TF_ALLCAP)))
            e = signature(sc, i);
        if (e == 0 && (!(sc->tk[i].fl & TF_CAP) || (sc->tk[i].fl & TF_ALLCAP)))
            e = cue_name(sc, i);
        if (!(sc->tk[i].fl & TF_CAP)) { /* every other detector needs a capital */
            if (e > i)
                next = e + 1;
            continue;
        }
        /* facility needs a saint word here or a facility word after it; known_place a known
         * place (or its first words) here */
        if (e == 0 && ((sc->tk[i].kw & (1u << KW_SAINT)) || i + 1 < sc->fac_end))
            e = facility(sc, i);
        const struct phi__dict_ent *d = phi__tok_dict(sc, i);
        if (e == 0 && d != NULL && (d->flags & (PHI_DICT_PLACE | PHI_DICT_PREFIX)))
            e = known_place(sc, i);
        if (e == 0)
            e = city_state(sc, i);
        if (e == 0)
            e = prep_place(sc, i);
        if (e == 0)
            e = person(sc, i);
        if (e == 0)
            e = trailing_caps(sc, i);
        if (e > i)
            next = e + 1;
    }
}

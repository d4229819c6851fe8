/*
 * The profile: which PS3.15 Table E.1-1 action applies to a public tag under the options in use,
 * the options' names and CID 7050 codes, and the resolution of compound action codes.
 *
 * Trusts: the generated table (scripts/deid-gentable.py checks it at build time). Owns: nothing.
 */
#include <stddef.h>

#include "internal.h"

/* CID 7050 De-identification Method (PS3.16); order of enum deid_option. */
static const struct {
    const char *flag, *code, *meaning;
} options[DEID_OPT_COUNT] = {
    {"retain-safe-private", "113111", "Retain Safe Private Option"},
    {"retain-uids", "113110", "Retain UIDs Option"},
    {"retain-device-id", "113109", "Retain Device Identity Option"},
    {"retain-institution-id", "113112", "Retain Institution Identity Option"},
    {"retain-patient-chars", "113108", "Retain Patient Characteristics Option"},
    {"retain-full-dates", "113106", "Retain Longitudinal Temporal Information Full Dates Option"},
    {"retain-modified-dates", "113107",
     "Retain Longitudinal Temporal Information Modified Dates Option"},
    {"clean-descriptors", "113105", "Clean Descriptors Option"},
    {"clean-structured-content", "113104", "Clean Structured Content Option"},
    {"clean-graphics", "113103", "Clean Graphics Option"},
};

const char *deid_option_flag(int opt)
{
    return opt >= 0 && opt < DEID_OPT_COUNT ? options[opt].flag : NULL;
}

const char *deid_option_code(int opt)
{
    return opt >= 0 && opt < DEID_OPT_COUNT ? options[opt].code : NULL;
}

const char *deid_option_meaning(int opt)
{
    return opt >= 0 && opt < DEID_OPT_COUNT ? options[opt].meaning : NULL;
}

const struct deid_rule *deid__rule_find(uint32_t tag)
{
    size_t lo = 0, hi = deid_rule_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (deid_rules[mid].tag == tag)
            return &deid_rules[mid];
        if (deid_rules[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = 0; i < deid_mask_rule_count; i++)
        if ((tag & deid_mask_rules[i].mask) == deid_mask_rules[i].tag)
            return &deid_mask_rules[i];
    return NULL;
}

/* PS3.15 E.3: an option's K or C replaces the basic action. When options disagree, the date
 * options decide for dates (Modified Dates must not be undone by another option's K), otherwise K
 * (retain) wins over C (clean), since the operator asked for both. */
int deid__action(const deid_ctx *ctx, uint32_t tag, int *in_table)
{
    const struct deid_rule *r = deid__rule_find(tag);
    *in_table = r != NULL;
    if (r == NULL)
        return DEID_A_NONE;
    int a = r->basic, keep = 0, clean = 0, dates = DEID_A_NONE;
    for (int o = 0; o < DEID_OPT_COUNT; o++) {
        if (!(ctx->opts.options & DEID_OPT_BIT(o)) || r->opt[o] == DEID_A_NONE)
            continue;
        if (o == DEID_OPT_FULL_DATES || o == DEID_OPT_MODIFIED_DATES)
            dates = r->opt[o];
        else if (r->opt[o] == DEID_A_K)
            keep = 1;
        else if (r->opt[o] == DEID_A_C)
            clean = 1;
    }
    if (keep)
        a = DEID_A_K;
    else if (clean)
        a = DEID_A_C;
    if (dates != DEID_A_NONE)
        a = dates;
    return a;
}

/* Compound codes say "X (or Z) unless the IOD needs more". Without the IOD's attribute types at
 * hand, pick the choice that keeps any IOD valid and carries no identity: a dummy (D) where D is
 * allowed, an empty value (Z) where Z is the most, and for X/Z/U* (reference sequences) keep the
 * sequence and replace the UIDs inside (their own rows are U). */
int deid__resolve_compound(int action)
{
    switch (action) {
    case DEID_A_ZD:
    case DEID_A_XD:
    case DEID_A_XZD:
        return DEID_A_D;
    case DEID_A_XZ:
        return DEID_A_Z;
    case DEID_A_XZU:
        return DEID_A_U;
    default:
        return action;
    }
}

const char *deid_counter_name(int counter)
{
    static const char *const names[DEID_N_COUNT] = {
        "removed",          "emptied",         "dummy",        "kept",
        "cleaned",          "uids_replaced",   "pseudonyms",   "dates_shifted",
        "ages_capped",      "private_removed", "private_kept", "unknown_removed",
        "graphics_removed",
    };
    return counter >= 0 && counter < DEID_N_COUNT ? names[counter] : "?";
}

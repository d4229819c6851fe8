/*
 * The schema of an OpenAI chat completions request as the gateway forwards it to an upstream
 * model, and of the answer it re-identifies. Every field the request may carry has one rule:
 *   TEXT   scrubbed as free text (refused when it hides a data: URL, e.g. an image in a text part)
 *   SCHEMA a JSON Schema (tools[].function.parameters, response_format.json_schema.schema): every
 *          string in it, property names included, scrubbed as text
 *   NAME   a function or schema name ([A-Za-z0-9_-]{1,64}): replaced by an opaque "fn_<n>" (one n
 *          per distinct name in the request); the answer's tool-call names are mapped back
 *   ID     a tool-call id: replaced by an opaque "call_<n>" (the same n for the same id in one
 *          request, so an assistant's tool call and its tool answer still match)
 *   NUM / INT / BOOL / ENUM  passed after checking type and range
 *   DROP   identifying extras (user, metadata, safety_identifier, prompt_cache_key): removed
 *   REFUSE media and options that cannot be de-identified (audio, custom tools, user_location)
 * An unknown field (at the top, on a message, a content part, a tool, ...) is refused with 400 and
 * its parent's `param`, or dropped (`upstream_unknown_fields = drop`). The name of an unknown
 * field is client text: it never appears in `param` or the message.
 * The answer (gw__schema_answer) is re-identified the same way: every string of every choice's
 * message except its role.
 * Trusts: nothing in the request; the text function (the scrubber) to fail closed. Owns: nothing
 * beyond the call (the id map is freed before returning).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

struct walk {
    gw_text_fn fn;
    void *ud;
    ms_alloc *a;
    int drop_unknown;
    int answer; /* re-identifying an answer: no media check */
    char path[64];
    size_t plen;
    json_t *ids;   /* tool-call id -> "call_<n>" */
    json_t *names; /* function name -> "fn_<n>" */
    ms_err *err;
};

/* ---- the path (OpenAI's `param`) ------------------------------------------------------------ */

static size_t push_key(struct walk *w, const char *k)
{
    size_t old = w->plen;
    int n = snprintf(w->path + old, sizeof w->path - old, "%s%s", old ? "." : "", k);
    w->plen = n < 0 || (size_t)n >= sizeof w->path - old ? sizeof w->path - 1 : old + (size_t)n;
    return old;
}

static size_t push_idx(struct walk *w, size_t i)
{
    size_t old = w->plen;
    int n = snprintf(w->path + old, sizeof w->path - old, "[%zu]", i % 100000);
    w->plen = n < 0 || (size_t)n >= sizeof w->path - old ? sizeof w->path - 1 : old + (size_t)n;
    return old;
}

static void pop(struct walk *w, size_t old)
{
    w->plen = old;
    w->path[old] = '\0';
}

static ms_rc refuse(struct walk *w, ms_rc code, const char *msg)
{
    return ms_fail(w->err, code, "%s", msg);
}

/* ---- leaf rules ----------------------------------------------------------------------------- */

/* A data: URL with a media type ("data:image/png;base64,..."): media the scrubber cannot read. */
static int has_data_url(const char *s, size_t n)
{
    for (size_t i = 0; i + 5 < n; i++) {
        if (strncasecmp(s + i, "data:", 5) != 0)
            continue;
        size_t j = i + 5, slash = 0;
        while (j < n && j - i < 5 + 127 &&
               ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
                (s[j] >= '0' && s[j] <= '9') || strchr("/.+-", s[j]) != NULL)) {
            slash += s[j] == '/';
            j++;
        }
        if (slash == 1 && j < n && (s[j] == ';' || s[j] == ','))
            return 1;
    }
    return 0;
}

static ms_rc text_value(struct walk *w, json_t **slot_val, json_t *v)
{
    ms_buf out;
    if (!json_is_string(v))
        return refuse(w, MS_E_FORMAT, "expected a string");
    if (!w->answer && has_data_url(json_string_value(v), json_string_length(v)))
        return refuse(w, MS_E_UNSUPPORTED,
                      "text holds a data: URL (embedded media cannot be de-identified)");
    ms_buf_init(&out, w->a, 0);
    ms_rc rc = w->fn(w->ud, json_string_value(v), json_string_length(v), &out, w->err);
    if (rc == MS_OK) {
        json_t *nv = json_stringn(out.p ? (const char *)out.p : "", out.len);
        if (nv == NULL)
            rc = ms_fail(w->err, MS_E_NOMEM, "out of memory");
        else
            *slot_val = nv;
    }
    ms_buf_free(&out);
    return rc;
}

/* Replaces holder[key] (an object member) with its scrubbed text. */
static ms_rc text_member(struct walk *w, json_t *holder, const char *key, json_t *v)
{
    json_t *nv = NULL;
    ms_rc rc = text_value(w, &nv, v);
    if (rc == MS_OK && json_object_set_new(holder, key, nv) != 0)
        rc = ms_fail(w->err, MS_E_NOMEM, "out of memory");
    return rc;
}

static ms_rc text_or_null(struct walk *w, json_t *holder, const char *key, json_t *v)
{
    return json_is_null(v) ? MS_OK : text_member(w, holder, key, v);
}

static ms_rc ident(struct walk *w, json_t *holder, const char *key, json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    char id[32];
    if (s == NULL || n == 0 || n > 64)
        return refuse(w, MS_E_FORMAT, "expected a name of 1 to 64 characters");
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return refuse(w, MS_E_FORMAT, "a name may hold only letters, digits, '_' and '-'");
    }
    json_t *have = json_object_get(w->names, s);
    if (have == NULL) {
        snprintf(id, sizeof id, "fn_%zu", json_object_size(w->names) + 1);
        have = json_string(id);
        if (have == NULL || json_object_set_new(w->names, s, have) != 0)
            return ms_fail(w->err, MS_E_NOMEM, "out of memory");
    }
    return json_object_set(holder, key, have) == 0 ? MS_OK
                                                   : ms_fail(w->err, MS_E_NOMEM, "out of memory");
}

static ms_rc tool_id(struct walk *w, json_t *holder, const char *key, json_t *v)
{
    char id[32];
    const char *s = json_string_value(v);
    if (s == NULL || json_string_length(v) == 0 || json_string_length(v) > 256)
        return refuse(w, MS_E_FORMAT, "expected a tool call id string");
    json_t *have = json_object_get(w->ids, s);
    if (have == NULL) {
        snprintf(id, sizeof id, "call_%zu", json_object_size(w->ids) + 1);
        have = json_string(id);
        if (have == NULL || json_object_set_new(w->ids, s, have) != 0)
            return ms_fail(w->err, MS_E_NOMEM, "out of memory");
    }
    return json_object_set(holder, key, have) == 0 ? MS_OK
                                                   : ms_fail(w->err, MS_E_NOMEM, "out of memory");
}

static ms_rc num(struct walk *w, json_t *v, double lo, double hi)
{
    if (json_is_null(v))
        return MS_OK;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
        return refuse(w, MS_E_FORMAT, "number out of range");
    return MS_OK;
}

static ms_rc integer(struct walk *w, json_t *v, json_int_t lo, json_int_t hi)
{
    if (json_is_null(v))
        return MS_OK;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return refuse(w, MS_E_FORMAT, "integer out of range");
    return MS_OK;
}

static ms_rc boolean(struct walk *w, json_t *v)
{
    return json_is_null(v) || json_is_boolean(v) ? MS_OK
                                                 : refuse(w, MS_E_FORMAT, "expected a boolean");
}

/* v is NULL-terminated list member (or JSON null when null_ok). */
static ms_rc one_of(struct walk *w, json_t *v, const char *const *list, int null_ok)
{
    const char *s = json_string_value(v);
    if (null_ok && json_is_null(v))
        return MS_OK;
    for (size_t i = 0; s != NULL && list[i] != NULL; i++) {
        if (strcmp(s, list[i]) == 0)
            return MS_OK;
    }
    return refuse(w, MS_E_FORMAT, "unsupported value");
}

/* Every string of a JSON Schema (or an enum/default/example inside it): values and object keys,
 * scrubbed as text. Depth-bounded by jansson's parser (2048). */
static ms_rc scrub_any(struct walk *w, json_t **slot)
{
    json_t *v = *slot;
    if (json_is_string(v)) {
        json_t *nv = NULL;
        ms_rc rc = text_value(w, &nv, v);
        if (rc == MS_OK) {
            json_decref(*slot);
            *slot = nv;
        }
        return rc;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *e = json_incref(json_array_get(v, i));
            ms_rc rc = scrub_any(w, &e);
            if (rc == MS_OK && json_array_set(v, i, e) != 0)
                rc = ms_fail(w->err, MS_E_NOMEM, "out of memory");
            json_decref(e);
            if (rc != MS_OK)
                return rc;
        }
        return MS_OK;
    }
    if (json_is_object(v)) {
        json_t *nobj = json_object();
        const char *k;
        json_t *e;
        if (nobj == NULL)
            return ms_fail(w->err, MS_E_NOMEM, "out of memory");
        json_object_foreach(v, k, e)
        {
            json_t *key = json_string(k), *nk = NULL, *ne = json_incref(e);
            ms_rc rc = key == NULL ? ms_fail(w->err, MS_E_NOMEM, "out of memory")
                                   : text_value(w, &nk, key);
            json_decref(key);
            if (rc == MS_OK)
                rc = scrub_any(w, &ne);
            if (rc == MS_OK && json_object_set_new(nobj, json_string_value(nk), ne) != 0)
                rc = ms_fail(w->err, MS_E_NOMEM, "out of memory");
            else if (rc != MS_OK)
                json_decref(ne);
            json_decref(nk);
            if (rc != MS_OK) {
                json_decref(nobj);
                return rc;
            }
        }
        json_decref(*slot);
        *slot = nobj;
        return MS_OK;
    }
    return MS_OK; /* numbers, booleans, null */
}

static ms_rc schema_member(struct walk *w, json_t *holder, const char *key, json_t *v)
{
    json_t *s = json_incref(v);
    ms_rc rc = scrub_any(w, &s);
    if (rc == MS_OK && json_object_set(holder, key, s) != 0)
        rc = ms_fail(w->err, MS_E_NOMEM, "out of memory");
    json_decref(s);
    return rc;
}

/* ---- objects: a table of members, each with its rule ---------------------------------------- */

typedef ms_rc (*member_fn)(struct walk *w, json_t *holder, const char *key, json_t *v);
struct member {
    const char *name;
    member_fn fn; /* NULL: drop the member */
};

static ms_rc object(struct walk *w, json_t *o, const struct member *table)
{
    const char *k;
    json_t *v;
    void *tmp;
    if (!json_is_object(o))
        return refuse(w, MS_E_FORMAT, "expected an object");
    json_object_foreach_safe(o, tmp, k, v)
    {
        const struct member *m = table;
        while (m->name != NULL && strcmp(m->name, k) != 0)
            m++;
        if (m->name == NULL) {
            if (!w->drop_unknown)
                return refuse(w, MS_E_FORMAT,
                              "unknown field (not forwarded to an upstream model; the server "
                              "may drop such fields: upstream_unknown_fields = drop)");
            json_object_del(o, k);
            continue;
        }
        if (m->fn == NULL) {
            json_object_del(o, k);
            continue;
        }
        size_t old = push_key(w, m->name);
        ms_rc rc = m->fn(w, o, m->name, v);
        if (rc != MS_OK)
            return rc;
        pop(w, old);
    }
    return MS_OK;
}

static ms_rc array_of(struct walk *w, json_t *a, size_t max,
                      ms_rc (*each)(struct walk *w, json_t *arr, size_t i, json_t *e))
{
    if (!json_is_array(a) || json_array_size(a) > max)
        return refuse(w, MS_E_FORMAT, "expected an array (or too many items)");
    for (size_t i = 0; i < json_array_size(a); i++) {
        size_t old = push_idx(w, i);
        ms_rc rc = each(w, a, i, json_array_get(a, i));
        if (rc != MS_OK)
            return rc;
        pop(w, old);
    }
    return MS_OK;
}

static ms_rc r_refuse_media(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k, (void)v;
    return refuse(w, MS_E_UNSUPPORTED, "not supported for upstream models (cannot be de-identified)");
}

static ms_rc r_text(struct walk *w, json_t *h, const char *k, json_t *v)
{
    return text_member(w, h, k, v);
}

static ms_rc r_text_null(struct walk *w, json_t *h, const char *k, json_t *v)
{
    return text_or_null(w, h, k, v);
}

static ms_rc r_schema(struct walk *w, json_t *h, const char *k, json_t *v)
{
    if (!json_is_object(v) && !json_is_boolean(v))
        return refuse(w, MS_E_FORMAT, "expected a JSON Schema object");
    return schema_member(w, h, k, v);
}

static ms_rc r_ident(struct walk *w, json_t *h, const char *k, json_t *v)
{
    return ident(w, h, k, v);
}

static ms_rc r_tool_id(struct walk *w, json_t *h, const char *k, json_t *v)
{
    return tool_id(w, h, k, v);
}

static ms_rc r_bool(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return boolean(w, v);
}

static ms_rc r_penalty(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return num(w, v, -2, 2);
}

static ms_rc r_temperature(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return num(w, v, 0, 2);
}

static ms_rc r_top_p(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return num(w, v, 0, 1);
}

static ms_rc r_tokens(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return integer(w, v, 1, (json_int_t)1 << 40);
}

static ms_rc r_n(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return integer(w, v, 1, 1);
}

static ms_rc r_seed(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return json_is_null(v) || json_is_integer(v) ? MS_OK
                                                 : refuse(w, MS_E_FORMAT, "expected an integer");
}

static ms_rc r_top_logprobs(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return integer(w, v, 0, 20);
}

#define ENUM_RULE(fn_name, ...)                                                                    \
    static ms_rc fn_name(struct walk *w, json_t *h, const char *k, json_t *v)                      \
    {                                                                                              \
        static const char *const l[] = {__VA_ARGS__, NULL};                                        \
        (void)h, (void)k;                                                                          \
        return one_of(w, v, l, 1);                                                                 \
    }
ENUM_RULE(r_reasoning, "none", "minimal", "low", "medium", "high")
ENUM_RULE(r_service_tier, "auto", "default", "flex", "scale", "priority")
ENUM_RULE(r_verbosity, "low", "medium", "high")
ENUM_RULE(r_context_size, "low", "medium", "high")
ENUM_RULE(r_function_type, "function")
ENUM_RULE(r_fmt_type, "text", "json_object", "json_schema")
ENUM_RULE(r_pred_type, "content")
ENUM_RULE(r_text_type, "text")
ENUM_RULE(r_allowed_mode, "auto", "required")
ENUM_RULE(r_tool_choice_type, "function", "allowed_tools")

static ms_rc r_model(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    ms_buf out;
    if (s == NULL || n == 0 || n > 96)
        return refuse(w, MS_E_FORMAT, "'model' must be a model name");
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("._:/+=-@", c) != NULL))
            return refuse(w, MS_E_FORMAT, "'model' must be a model name");
    }
    ms_buf_init(&out, w->a, 0);
    ms_rc rc = w->fn(w->ud, s, n, &out, w->err);
    if (rc == MS_OK && (out.len != n || memcmp(out.p, s, n) != 0))
        rc = refuse(w, MS_E_FORMAT, "'model' looks identifying");
    ms_buf_free(&out);
    return rc;
}

static ms_rc r_modalities(struct walk *w, json_t *h, const char *k, json_t *v)
{
    static const char *const l[] = {"text", NULL};
    (void)h, (void)k;
    if (json_is_null(v))
        return MS_OK;
    if (!json_is_array(v) || json_array_size(v) > 4)
        return refuse(w, MS_E_FORMAT, "expected an array");
    for (size_t i = 0; i < json_array_size(v); i++) {
        if (one_of(w, json_array_get(v, i), l, 0) != MS_OK)
            return refuse(w, MS_E_UNSUPPORTED, "only the text modality is supported upstream");
    }
    return MS_OK;
}

static ms_rc r_logit_bias(struct walk *w, json_t *h, const char *k, json_t *v)
{
    const char *tok;
    json_t *b;
    (void)h, (void)k;
    if (json_is_null(v))
        return MS_OK;
    if (!json_is_object(v) || json_object_size(v) > 1024)
        return refuse(w, MS_E_FORMAT, "logit_bias must map token ids to numbers");
    json_object_foreach(v, tok, b)
    {
        size_t n = strlen(tok);
        if (n == 0 || n > 10 || strspn(tok, "0123456789") != n || !json_is_number(b) ||
            json_number_value(b) < -100 || json_number_value(b) > 100)
            return refuse(w, MS_E_FORMAT, "logit_bias must map token ids to numbers in [-100, 100]");
    }
    return MS_OK;
}

static ms_rc each_text(struct walk *w, json_t *arr, size_t i, json_t *e)
{
    json_t *nv = NULL;
    ms_rc rc = text_value(w, &nv, e);
    if (rc == MS_OK && json_array_set_new(arr, i, nv) != 0)
        rc = ms_fail(w->err, MS_E_NOMEM, "out of memory");
    return rc;
}

static ms_rc r_stop(struct walk *w, json_t *h, const char *k, json_t *v)
{
    if (json_is_null(v))
        return MS_OK;
    if (json_is_string(v))
        return text_member(w, h, k, v);
    return array_of(w, v, 4, each_text);
}

static const struct member m_stream_opts[] = {
    {"include_usage", r_bool}, {"include_obfuscation", r_bool}, {NULL, NULL}};

static ms_rc r_stream_opts(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return json_is_null(v) ? MS_OK : object(w, v, m_stream_opts);
}

/* content parts ---------------------------------------------------------------------------- */

static const struct member m_text_part[] = {{"type", r_text_type}, {"text", r_text}, {NULL, NULL}};

static ms_rc r_refusal_type(struct walk *w, json_t *h, const char *k, json_t *v)
{
    static const char *const l[] = {"refusal", NULL};
    (void)h, (void)k;
    return one_of(w, v, l, 0);
}
static const struct member m_refusal_part[] = {
    {"type", r_refusal_type}, {"refusal", r_text}, {NULL, NULL}};

static ms_rc each_part(struct walk *w, json_t *arr, size_t i, json_t *e)
{
    const char *t = json_string_value(json_object_get(e, "type"));
    (void)arr, (void)i;
    if (t != NULL && strcmp(t, "text") == 0)
        return object(w, e, m_text_part);
    if (t != NULL && strcmp(t, "refusal") == 0)
        return object(w, e, m_refusal_part);
    if (t != NULL && strcmp(t, "file") == 0)
        return refuse(w, MS_E_FORMAT,
                      "file parts are only accepted by model medical-records-analyst");
    return refuse(w, MS_E_UNSUPPORTED,
                  "content part type not supported upstream (text only: other media cannot be "
                  "de-identified)");
}

static ms_rc r_content(struct walk *w, json_t *h, const char *k, json_t *v)
{
    if (json_is_null(v))
        return MS_OK;
    if (json_is_string(v))
        return text_member(w, h, k, v);
    return array_of(w, v, GW_MAX_PARTS, each_part);
}

/* tools and tool calls --------------------------------------------------------------------- */

static const struct member m_call_fn[] = {
    {"name", r_ident}, {"arguments", r_text}, {NULL, NULL}};

static ms_rc r_call_fn(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return json_is_null(v) ? MS_OK : object(w, v, m_call_fn);
}

static const struct member m_tool_call[] = {
    {"id", r_tool_id}, {"type", r_function_type}, {"function", r_call_fn}, {NULL, NULL}};

static ms_rc each_tool_call(struct walk *w, json_t *arr, size_t i, json_t *e)
{
    (void)arr, (void)i;
    return object(w, e, m_tool_call);
}

static ms_rc r_tool_calls(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return json_is_null(v) ? MS_OK : array_of(w, v, GW_MAX_PARTS, each_tool_call);
}

static const struct member m_fn_def[] = {{"name", r_ident},
                                         {"description", r_text_null},
                                         {"parameters", r_schema},
                                         {"strict", r_bool},
                                         {NULL, NULL}};

static ms_rc r_fn_def(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return object(w, v, m_fn_def);
}

static ms_rc r_tool_type(struct walk *w, json_t *h, const char *k, json_t *v)
{
    static const char *const l[] = {"function", NULL};
    (void)h, (void)k;
    if (one_of(w, v, l, 0) != MS_OK)
        return refuse(w, MS_E_UNSUPPORTED, "only function tools are supported upstream");
    return MS_OK;
}

static const struct member m_tool[] = {
    {"type", r_tool_type}, {"function", r_fn_def}, {NULL, NULL}};

static ms_rc each_tool(struct walk *w, json_t *arr, size_t i, json_t *e)
{
    (void)arr, (void)i;
    return object(w, e, m_tool);
}

static ms_rc each_fn_def(struct walk *w, json_t *arr, size_t i, json_t *e)
{
    (void)arr, (void)i;
    return object(w, e, m_fn_def);
}

static ms_rc r_tools(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return json_is_null(v) ? MS_OK : array_of(w, v, 128, each_tool);
}

static ms_rc r_functions(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return json_is_null(v) ? MS_OK : array_of(w, v, 128, each_fn_def);
}

static const struct member m_named_fn[] = {{"name", r_ident}, {NULL, NULL}};

static ms_rc r_named_fn(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return object(w, v, m_named_fn);
}

static const struct member m_named_tool[] = {
    {"type", r_tool_type}, {"function", r_named_fn}, {NULL, NULL}};

static ms_rc each_named_tool(struct walk *w, json_t *arr, size_t i, json_t *e)
{
    (void)arr, (void)i;
    return object(w, e, m_named_tool);
}

static ms_rc r_named_tools(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return array_of(w, v, 128, each_named_tool);
}

static const struct member m_allowed[] = {
    {"mode", r_allowed_mode}, {"tools", r_named_tools}, {NULL, NULL}};

static ms_rc r_allowed(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return object(w, v, m_allowed);
}

static const struct member m_tool_choice[] = {{"type", r_tool_choice_type},
                                              {"function", r_named_fn},
                                              {"allowed_tools", r_allowed},
                                              {NULL, NULL}};

static ms_rc r_tool_choice(struct walk *w, json_t *h, const char *k, json_t *v)
{
    static const char *const l[] = {"none", "auto", "required", NULL};
    (void)h, (void)k;
    if (json_is_null(v) || json_is_string(v))
        return one_of(w, v, l, 1);
    return object(w, v, m_tool_choice);
}

static ms_rc r_function_call(struct walk *w, json_t *h, const char *k, json_t *v)
{
    static const char *const l[] = {"none", "auto", NULL};
    (void)h, (void)k;
    if (json_is_null(v) || json_is_string(v))
        return one_of(w, v, l, 1);
    return object(w, v, m_named_fn);
}

/* response_format, prediction, web search ------------------------------------------------- */

static const struct member m_json_schema[] = {{"name", r_ident},
                                              {"description", r_text_null},
                                              {"schema", r_schema},
                                              {"strict", r_bool},
                                              {NULL, NULL}};

static ms_rc r_json_schema(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return object(w, v, m_json_schema);
}

static const struct member m_format[] = {
    {"type", r_fmt_type}, {"json_schema", r_json_schema}, {NULL, NULL}};

static ms_rc r_format(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return json_is_null(v) ? MS_OK : object(w, v, m_format);
}

static ms_rc each_text_part(struct walk *w, json_t *arr, size_t i, json_t *e)
{
    (void)arr, (void)i;
    return object(w, e, m_text_part);
}

static ms_rc r_pred_content(struct walk *w, json_t *h, const char *k, json_t *v)
{
    if (json_is_string(v))
        return text_member(w, h, k, v);
    return array_of(w, v, GW_MAX_PARTS, each_text_part);
}

static const struct member m_prediction[] = {
    {"type", r_pred_type}, {"content", r_pred_content}, {NULL, NULL}};

static ms_rc r_prediction(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return json_is_null(v) ? MS_OK : object(w, v, m_prediction);
}

static const struct member m_web_search[] = {{"search_context_size", r_context_size},
                                             {"user_location", r_refuse_media},
                                             {NULL, NULL}};

static ms_rc r_web_search(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return json_is_null(v) ? MS_OK : object(w, v, m_web_search);
}

/* messages --------------------------------------------------------------------------------- */

static ms_rc r_role(struct walk *w, json_t *h, const char *k, json_t *v)
{
    static const char *const l[] = {"system", "developer", "user", "assistant", "tool", NULL};
    (void)h, (void)k;
    return one_of(w, v, l, 0);
}

static const struct member m_message[] = {{"role", r_role},
                                          {"content", r_content},
                                          {"name", r_text},
                                          {"refusal", r_text_null},
                                          {"tool_calls", r_tool_calls},
                                          {"function_call", r_call_fn},
                                          {"tool_call_id", r_tool_id},
                                          {"audio", r_refuse_media},
                                          {NULL, NULL}};

static ms_rc each_message(struct walk *w, json_t *arr, size_t i, json_t *e)
{
    (void)arr, (void)i;
    return object(w, e, m_message);
}

static ms_rc r_messages(struct walk *w, json_t *h, const char *k, json_t *v)
{
    (void)h, (void)k;
    return array_of(w, v, GW_MAX_MESSAGES, each_message);
}

static const struct member m_request[] = {
    {"model", r_model},
    {"messages", r_messages},
    {"audio", r_refuse_media},
    {"frequency_penalty", r_penalty},
    {"presence_penalty", r_penalty},
    {"function_call", r_function_call},
    {"functions", r_functions},
    {"logit_bias", r_logit_bias},
    {"logprobs", r_bool},
    {"top_logprobs", r_top_logprobs},
    {"max_completion_tokens", r_tokens},
    {"max_tokens", r_tokens},
    {"metadata", NULL},
    {"user", NULL},
    {"safety_identifier", NULL},
    {"prompt_cache_key", NULL},
    {"modalities", r_modalities},
    {"n", r_n},
    {"parallel_tool_calls", r_bool},
    {"prediction", r_prediction},
    {"reasoning_effort", r_reasoning},
    {"response_format", r_format},
    {"seed", r_seed},
    {"service_tier", r_service_tier},
    {"stop", r_stop},
    {"store", r_bool},
    {"stream", r_bool},
    {"stream_options", r_stream_opts},
    {"temperature", r_temperature},
    {"top_p", r_top_p},
    {"tool_choice", r_tool_choice},
    {"tools", r_tools},
    {"verbosity", r_verbosity},
    {"web_search_options", r_web_search},
    {NULL, NULL},
};

ms_rc gw__schema_request(json_t *req, int drop_unknown, gw_text_fn fn, void *ud, ms_alloc *a,
                         json_t **names, char param[64], ms_err *err)
{
    struct walk w;
    memset(&w, 0, sizeof w);
    w.fn = fn;
    w.ud = ud;
    w.a = a;
    w.drop_unknown = drop_unknown;
    w.err = err;
    w.ids = json_object();
    w.names = json_object();
    param[0] = '\0';
    ms_rc rc = w.ids == NULL || w.names == NULL ? ms_fail(err, MS_E_NOMEM, "out of memory")
                                                : object(&w, req, m_request);
    json_decref(w.ids);
    if (rc != MS_OK) {
        snprintf(param, 64, "%s", w.path);
        json_decref(w.names);
        return rc;
    }
    if (names != NULL)
        *names = w.names;
    else
        json_decref(w.names);
    return MS_OK;
}

/* ---- the answer ------------------------------------------------------------------------------ */

void gw__schema_unname(const json_t *names, json_t *fn)
{
    const char *orig;
    json_t *v;
    const char *s = json_string_value(json_object_get(fn, "name"));
    if (s == NULL)
        return;
    json_object_foreach((json_t *)names, orig, v)
    {
        if (strcmp(json_string_value(v), s) == 0) {
            json_object_set_new(fn, "name", json_string(orig));
            return;
        }
    }
}

static void unname_message(const json_t *names, json_t *msg)
{
    size_t i;
    json_t *tc;
    json_array_foreach(json_object_get(msg, "tool_calls"), i, tc)
        gw__schema_unname(names, json_object_get(tc, "function"));
    gw__schema_unname(names, json_object_get(msg, "function_call"));
}

ms_rc gw__schema_answer(json_t *ans, gw_text_fn fn, void *ud, const json_t *names, ms_alloc *a,
                        ms_err *err)
{
    struct walk w;
    size_t i;
    json_t *ch;
    memset(&w, 0, sizeof w);
    w.fn = fn;
    w.ud = ud;
    w.a = a;
    w.answer = 1;
    w.err = err;
    json_array_foreach(json_object_get(ans, "choices"), i, ch)
    {
        json_t *msg = json_object_get(ch, "message");
        const char *k;
        json_t *v;
        void *tmp;
        if (!json_is_object(msg))
            continue;
        json_object_foreach_safe(msg, tmp, k, v)
        {
            if (fn == NULL || strcmp(k, "role") == 0)
                continue;
            json_t *s = json_incref(v);
            ms_rc rc = scrub_any(&w, &s);
            if (rc == MS_OK && json_object_set(msg, k, s) != 0)
                rc = ms_fail(err, MS_E_NOMEM, "out of memory");
            json_decref(s);
            if (rc != MS_OK)
                return rc;
        }
        if (names != NULL)
            unname_message(names, msg);
    }
    return MS_OK;
}

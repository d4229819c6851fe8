/*
 * Validation of POST /v1/chat/completions bodies (OpenAI Chat Completions request shape): decodes
 * with jansson (strict UTF-8, no NUL, duplicate keys rejected so a proxy and an upstream cannot
 * disagree on `model` or `role`), then checks every field the gateway acts on and reports the
 * offending parameter as OpenAI's `param`. Content parts that cannot be scrubbed (images, audio)
 * are refused rather than forwarded.
 * Trusts: nothing in the body. Owns: the decoded document until handed to the caller.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"

static ms_rc bad(gw_chat_info *ci, ms_err *err, ms_rc code, const char *param, const char *msg)
{
    snprintf(ci->param, sizeof ci->param, "%s", param);
    return ms_fail(err, code, "%s", msg);
}

static int valid_role(const char *r)
{
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (strcmp(r, roles[i]) == 0)
            return 1;
    }
    return 0;
}

static ms_rc check_part(json_t *part, gw_chat_info *ci, const char *where, ms_err *err)
{
    const char *type = json_string_value(json_object_get(part, "type"));
    if (!json_is_object(part) || type == NULL)
        return bad(ci, err, MS_E_FORMAT, where, "content part needs a string 'type'");
    if (strcmp(type, "text") == 0) {
        if (!json_is_string(json_object_get(part, "text")))
            return bad(ci, err, MS_E_FORMAT, where, "text part needs a string 'text'");
        return MS_OK;
    }
    if (strcmp(type, "refusal") == 0) { /* an assistant message's refusal part */
        if (!json_is_string(json_object_get(part, "refusal")))
            return bad(ci, err, MS_E_FORMAT, where, "refusal part needs a string 'refusal'");
        return MS_OK;
    }
    if (strcmp(type, "file") == 0) {
        json_t *f = json_object_get(part, "file");
        if (!json_is_object(f) || (!json_is_string(json_object_get(f, "file_data")) &&
                                   !json_is_string(json_object_get(f, "file_id"))))
            return bad(ci, err, MS_E_FORMAT, where,
                       "file part needs file.file_data (base64 application/dicom) or file.file_id "
                       "(a study from POST /v1/studies)");
        ci->n_files++;
        return MS_OK;
    }
    return bad(ci, err, MS_E_UNSUPPORTED, where,
               "content part type not supported (text and file only: other media cannot be "
               "de-identified)");
}

static ms_rc check_content(json_t *c, gw_chat_info *ci, size_t i, ms_err *err)
{
    char where[64];
    snprintf(where, sizeof where, "messages[%zu].content", i);
    if (json_is_string(c) || json_is_null(c))
        return MS_OK;
    if (!json_is_array(c))
        return bad(ci, err, MS_E_FORMAT, where, "content must be a string or an array of parts");
    if (json_array_size(c) > GW_MAX_PARTS)
        return bad(ci, err, MS_E_LIMIT, where, "too many content parts");
    for (size_t j = 0; j < json_array_size(c); j++) {
        snprintf(where, sizeof where, "messages[%zu].content[%zu]", i, j);
        if (check_part(json_array_get(c, j), ci, where, err) != MS_OK)
            return err ? err->code : MS_E_FORMAT;
    }
    return MS_OK;
}

static ms_rc check_tool_calls(json_t *tc, gw_chat_info *ci, size_t i, ms_err *err)
{
    char where[64];
    snprintf(where, sizeof where, "messages[%zu].tool_calls", i);
    if (tc == NULL)
        return MS_OK;
    if (!json_is_array(tc) || json_array_size(tc) > GW_MAX_PARTS)
        return bad(ci, err, MS_E_FORMAT, where, "tool_calls must be an array");
    for (size_t j = 0; j < json_array_size(tc); j++) {
        json_t *fn = json_object_get(json_array_get(tc, j), "function");
        if (!json_is_object(fn) || !json_is_string(json_object_get(fn, "name")) ||
            !json_is_string(json_object_get(fn, "arguments")))
            return bad(ci, err, MS_E_FORMAT, where,
                       "tool call needs function.name and function.arguments strings");
    }
    return MS_OK;
}

static ms_rc check_messages(json_t *msgs, gw_chat_info *ci, ms_err *err)
{
    char where[64];
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return bad(ci, err, MS_E_FORMAT, "messages", "'messages' must be a non-empty array");
    if (json_array_size(msgs) > GW_MAX_MESSAGES)
        return bad(ci, err, MS_E_LIMIT, "messages", "too many messages");
    ci->n_messages = json_array_size(msgs);
    for (size_t i = 0; i < ci->n_messages; i++) {
        json_t *m = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        snprintf(where, sizeof where, "messages[%zu].role", i);
        if (!json_is_object(m) || role == NULL || !valid_role(role))
            return bad(ci, err, MS_E_FORMAT, where, "unknown or missing message role");
        json_t *c = json_object_get(m, "content");
        if (c == NULL && json_object_get(m, "tool_calls") == NULL) {
            snprintf(where, sizeof where, "messages[%zu].content", i);
            return bad(ci, err, MS_E_FORMAT, where, "message has no content");
        }
        if ((c != NULL && check_content(c, ci, i, err) != MS_OK) ||
            check_tool_calls(json_object_get(m, "tool_calls"), ci, i, err) != MS_OK)
            return err ? err->code : MS_E_FORMAT;
    }
    return MS_OK;
}

static ms_rc check_format(json_t *rf, gw_chat_info *ci, ms_err *err)
{
    const char *t = json_string_value(json_object_get(rf, "type"));
    if (rf == NULL || json_is_null(rf))
        return MS_OK;
    if (t == NULL)
        return bad(ci, err, MS_E_FORMAT, "response_format.type", "response_format needs a type");
    if (strcmp(t, "text") == 0)
        ci->format = GW_FMT_TEXT;
    else if (strcmp(t, "json_object") == 0)
        ci->format = GW_FMT_JSON_OBJECT;
    else if (strcmp(t, "json_schema") == 0) {
        json_t *js = json_object_get(rf, "json_schema");
        if (!json_is_object(js) || !json_is_string(json_object_get(js, "name")))
            return bad(ci, err, MS_E_FORMAT, "response_format.json_schema",
                       "json_schema needs an object with a name");
        ci->format = GW_FMT_JSON_SCHEMA;
    } else
        return bad(ci, err, MS_E_FORMAT, "response_format.type", "unknown response_format type");
    return MS_OK;
}

static ms_rc check_limits(json_t *root, gw_chat_info *ci, ms_err *err)
{
    static const char *const names[] = {"max_completion_tokens", "max_tokens"};
    ci->max_tokens = -1;
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(root, names[i]);
        if (v == NULL || json_is_null(v))
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return bad(ci, err, MS_E_FORMAT, names[i], "must be a positive integer");
        if (ci->max_tokens < 0)
            ci->max_tokens = json_integer_value(v);
    }
    json_t *n = json_object_get(root, "n");
    if (n != NULL && !json_is_null(n) && (!json_is_integer(n) || json_integer_value(n) != 1))
        return bad(ci, err, MS_E_UNSUPPORTED, "n", "only n = 1 is supported");
    json_t *t = json_object_get(root, "temperature");
    if (t != NULL && !json_is_null(t) &&
        (!json_is_number(t) || json_number_value(t) < 0 || json_number_value(t) > 2))
        return bad(ci, err, MS_E_FORMAT, "temperature", "temperature must be in [0, 2]");
    return MS_OK;
}

static ms_rc check_stream(json_t *root, gw_chat_info *ci, ms_err *err)
{
    json_t *s = json_object_get(root, "stream");
    if (s != NULL && !json_is_null(s) && !json_is_boolean(s))
        return bad(ci, err, MS_E_FORMAT, "stream", "stream must be a boolean");
    ci->stream = json_is_true(s);
    json_t *so = json_object_get(root, "stream_options");
    if (so != NULL && !json_is_null(so)) {
        if (!json_is_object(so))
            return bad(ci, err, MS_E_FORMAT, "stream_options", "stream_options must be an object");
        ci->include_usage = json_is_true(json_object_get(so, "include_usage"));
    }
    return MS_OK;
}

ms_rc gw_chat_parse(const uint8_t *body, size_t len, gw_chat_info *info, void **root_out,
                    ms_err *err)
{
    gw_chat_info ci;
    json_error_t je;
    memset(&ci, 0, sizeof ci);
    gw__json_init();
    if (body == NULL || info == NULL)
        return ms_fail(err, MS_E_INVAL, "chat: bad arguments");
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        snprintf(info->param, sizeof info->param, "%s", "");
        /* je.text may quote input; report only the position */
        return ms_fail(err, MS_E_FORMAT, "request body is not valid JSON (at byte %d)",
                       je.position);
    }
    ms_rc rc = MS_OK;
    const char *model = json_string_value(json_object_get(root, "model"));
    if (!json_is_object(root))
        rc = bad(&ci, err, MS_E_FORMAT, "", "request body must be a JSON object");
    else if (model == NULL || model[0] == '\0' || strlen(model) >= sizeof ci.model)
        rc = bad(&ci, err, MS_E_FORMAT, "model", "'model' must be a non-empty string");
    else {
        snprintf(ci.model, sizeof ci.model, "%s", model);
        if (check_messages(json_object_get(root, "messages"), &ci, err) != MS_OK ||
            check_stream(root, &ci, err) != MS_OK ||
            check_format(json_object_get(root, "response_format"), &ci, err) != MS_OK ||
            check_limits(root, &ci, err) != MS_OK)
            rc = err && err->code ? err->code : MS_E_FORMAT;
    }
    if (rc != MS_OK) {
        memcpy(info->param, ci.param, sizeof ci.param);
        json_decref(root);
        return rc;
    }
    *info = ci;
    if (root_out != NULL)
        *root_out = root;
    else
        json_decref(root);
    return MS_OK;
}

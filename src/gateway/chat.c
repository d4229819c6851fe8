/*
 * POST /v1/chat/completions: validates the request, then serves model "medical-records-analyst"
 * with the embedded analyst (user text + DICOM from `file` content parts, inline base64 or
 * studies from POST /v1/studies named by handle or StudyInstanceUID: the latest is the current
 * study, the others its priors, all of one patient) or forwards any other model to the upstream (upstream.c).
 * Answers in OpenAI's chat.completion shape, or as SSE chunks ending in `data: [DONE]`.
 * Trusts: nothing in the request. Owns: decoded DICOM copies and the report text (s->alloc,
 * wiped).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define ANALYST_MODEL "medical-records-analyst"
#define CHUNK_BYTES   256 /* content bytes per SSE chunk of the analyst's answer */

struct analyst_job {
    struct gw_req *q;
    const gw_chat_info *ci;
    ms_buf text;
    struct gw_study_file *inline_files;
    size_t n_inline;
    const char *study_ids[GW_MAX_CHAT_STUDIES]; /* file_id parts: study handles or StudyInstanceUIDs */
    size_t n_ids;
    ms_buf out;
};

/* Concatenates the user messages' text. */
static ms_rc collect_text(json_t *msgs, ms_buf *text, ms_err *err)
{
    size_t i, j;
    json_t *m, *part;
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *c = json_object_get(m, "content");
        if (role == NULL || strcmp(role, "user") != 0)
            continue;
        if (json_is_string(c)) {
            if ((text->len && ms_buf_append_str(text, "\n\n", err)) ||
                ms_buf_append(text, json_string_value(c), json_string_length(c), err))
                return MS_E_LIMIT;
            continue;
        }
        json_array_foreach(c, j, part)
        {
            json_t *t = json_object_get(part, "text");
            if (!json_is_string(t))
                continue;
            if ((text->len && ms_buf_append_str(text, "\n\n", err)) ||
                ms_buf_append(text, json_string_value(t), json_string_length(t), err))
                return MS_E_LIMIT;
        }
    }
    return MS_OK;
}

/* file_data: raw base64 or a data: URL ("data:application/dicom;base64,...") */
static ms_rc decode_file(struct analyst_job *job, const char *fd, size_t n, ms_err *err)
{
    ms_alloc *a = &job->q->s->alloc;
    ms_buf b;
    if (strncmp(fd, "data:", 5) == 0) {
        const char *comma = memchr(fd, ',', n);
        if (comma == NULL || strstr(fd, ";base64") == NULL || strstr(fd, ";base64") > comma)
            return ms_fail(err, MS_E_FORMAT, "file_data: expected a base64 data URL");
        n -= (size_t)(comma + 1 - fd);
        fd = comma + 1;
    }
    ms_buf_init(&b, a, 0);
    if (ms_b64_decode(fd, n, &b, err) != MS_OK) {
        ms_buf_free(&b);
        return MS_E_FORMAT;
    }
    struct gw_study_file *nf =
        ms_realloc(a, job->inline_files, (job->n_inline + 1) * sizeof *job->inline_files);
    if (nf == NULL) {
        ms_buf_free(&b);
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    }
    job->inline_files = nf;
    size_t len = 0;
    uint8_t *p = ms_buf_steal(&b, &len);
    job->inline_files[job->n_inline++] = (struct gw_study_file){p, len};
    return MS_OK;
}

static ms_rc collect_files(struct analyst_job *job, json_t *msgs, char *param, size_t pl,
                           ms_err *err)
{
    size_t i, j;
    json_t *m, *part;
    json_array_foreach(msgs, i, m)
    {
        json_array_foreach(json_object_get(m, "content"), j, part)
        {
            json_t *f = json_object_get(part, "file");
            const char *fid = json_string_value(json_object_get(f, "file_id"));
            json_t *fdata = json_object_get(f, "file_data");
            if (f == NULL)
                continue;
            snprintf(param, pl, "messages[%zu].content[%zu]", i % 100000, j % 1000);
            if (fid != NULL && fdata == NULL) {
                if (job->n_ids == GW_MAX_CHAT_STUDIES)
                    return ms_fail(err, MS_E_LIMIT, "at most %d studies per request",
                                   GW_MAX_CHAT_STUDIES);
                job->study_ids[job->n_ids++] = fid;
            } else if (decode_file(job, json_string_value(fdata), json_string_length(fdata), err) !=
                       MS_OK)
                return err->code;
        }
    }
    param[0] = '\0';
    return MS_OK;
}

/* The analyst over the inline files and the referenced studies: the latest study by StudyDate
 * and StudyTime (ties: the order named) is the current one, with the inline files; the others are
 * its priors. Studies of different patients are refused. */
static ms_rc run_analyst(struct analyst_job *job, const struct gw_study_view *v, size_t nv,
                         ms_err *err)
{
    ms_alloc *a = &job->q->s->alloc;
    struct gw_study_file *all = NULL;
    struct gw_analyst_prior *pr = NULL;
    size_t cur = 0;
    for (size_t i = 1; i < nv; i++) {
        if (!gw__same_patient(&v[0].meta[0], &v[i].meta[0]))
            return ms_fail(err, MS_E_FORMAT,
                           "the referenced studies are not of the same patient (study %zu "
                           "differs from study 1)",
                           i + 1);
        int c = strcmp(v[i].meta[0].study_date, v[cur].meta[0].study_date);
        if (c > 0 || (c == 0 && strcmp(v[i].meta[0].study_time, v[cur].meta[0].study_time) > 0))
            cur = i;
    }
    size_t sn = nv ? v[cur].n : 0, n = job->n_inline + sn;
    if (n > 0) {
        all = ms_calloc(a, n, sizeof *all);
        if (all == NULL)
            return ms_fail(err, MS_E_NOMEM, "out of memory");
        if (job->n_inline)
            memcpy(all, job->inline_files, job->n_inline * sizeof *all);
        if (sn)
            memcpy(all + job->n_inline, v[cur].files, sn * sizeof *all);
    }
    if (nv > 1 && (pr = ms_calloc(a, nv - 1, sizeof *pr)) == NULL) {
        ms_free(a, all);
        return ms_fail(err, MS_E_NOMEM, "out of memory");
    }
    for (size_t i = 0, k = 0; i < nv; i++) {
        if (i != cur)
            pr[k++] = (struct gw_analyst_prior){v[i].files, v[i].n};
    }
    struct gw_analyst_in in = {a,
                               (const char *)job->text.p,
                               job->text.len,
                               all,
                               n,
                               job->q->key.role == GW_ROLE_CLINICIAN,
                               job->ci->format != GW_FMT_TEXT,
                               job->q->s->cfg.max_inflated,
                               job->q->s->cfg.max_inflate_ratio,
                               pr,
                               nv > 1 ? nv - 1 : 0};
    ms_rc rc = gw__analyst_run(&in, &job->out, err);
    ms_free(a, all);
    ms_free(a, pr);
    return rc;
}

static ms_rc with_studies(void *ud, const struct gw_study_view *v, size_t n, ms_err *err)
{
    return run_analyst(ud, v, n, err);
}

/* Truncates to max_tokens (estimated at 4 bytes a token) on a UTF-8 boundary. */
static const char *apply_max_tokens(const gw_chat_info *ci, ms_buf *out)
{
    if (ci->max_tokens < 0 || (uint64_t)ci->max_tokens >= (out->len + 3) / 4)
        return "stop";
    size_t cut = (size_t)ci->max_tokens * 4;
    while (cut > 0 && (out->p[cut] & 0xc0) == 0x80)
        cut--;
    ms_memzero(out->p + cut, out->len - cut);
    out->len = cut;
    out->p[cut] = '\0';
    return "length";
}

static json_t *usage_json(size_t in_bytes, size_t out_bytes)
{
    json_int_t p = (json_int_t)((in_bytes + 3) / 4), c = (json_int_t)((out_bytes + 3) / 4);
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", p, "completion_tokens", c, "total_tokens",
                     p + c);
}

static void completion_id(char id[48])
{
    gw__random_id(id, "chatcmpl-", 9);
}

/* The chat.completion written directly: the same bytes as json_pack + a JSON_COMPACT dump (jansson
 * keeps insertion order), but the report text is escaped in runs; through jansson it was decoded
 * as UTF-8 twice, character by character (about 20 us of a short analyst request). */
static void answer_plain(struct analyst_job *job, const char *finish, struct gw_resp *r)
{
    char id[48];
    ms_buf *b = &r->body;
    size_t pt = (job->text.len + 3) / 4, ct = (job->out.len + 3) / 4;
    completion_id(id);
    ms_buf_reset(b);
    ms_rc rc = ms_buf_reserve(b, job->out.len + job->out.len / 8 + 512, NULL);
    if (rc == MS_OK)
        rc = ms_buf_printf(b, NULL,
                           "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":%lld,"
                           "\"model\":\"" ANALYST_MODEL "\",\"choices\":[{\"index\":0,\"message\":{"
                           "\"role\":\"assistant\",\"content\":\"",
                           id, (long long)time(NULL));
    if (rc == MS_OK)
        rc = gw__json_str_append(b, job->out.p, job->out.len, NULL);
    if (rc == MS_OK)
        rc = ms_buf_printf(b, NULL,
                           "\",\"refusal\":null},\"finish_reason\":\"%s\",\"logprobs\":null}],"
                           "\"usage\":{\"prompt_tokens\":%zu,\"completion_tokens\":%zu,"
                           "\"total_tokens\":%zu},\"system_fingerprint\":\"medseal-" MS_VERSION "\"}",
                           finish, pt, ct, pt + ct);
    if (rc != MS_OK)
        gw__resp_json(job->q, r, NULL); /* the answer jansson gave when it could not build one */
    r->content_type = "application/json";
}

static int dump_to_buf(const char *p, size_t n, void *ud)
{
    return ms_buf_append(ud, p, n, NULL) == MS_OK ? 0 : -1;
}

/* "data: <json>\n\n", the JSON serialised straight into the body */
static ms_rc sse_event(ms_buf *o, json_t *j, ms_err *err)
{
    ms_rc rc = ms_buf_append_str(o, "data: ", err);
    if (rc == MS_OK && (j == NULL || json_dump_callback(j, dump_to_buf, o, JSON_COMPACT) != 0))
        rc = ms_fail(err, MS_E_NOMEM, "out of memory");
    json_decref(j);
    return rc == MS_OK ? ms_buf_append_str(o, "\n\n", err) : rc;
}

static json_t *chunk(const char *id, time_t t, json_t *delta, const char *finish, int usage_null)
{
    json_t *c =
        json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:s?,s:n}]}", "id", id, "object",
                  "chat.completion.chunk", "created", (json_int_t)t, "model", ANALYST_MODEL,
                  "choices", "index", 0, "delta", delta, "finish_reason", finish, "logprobs");
    if (usage_null)
        json_object_set_new(c, "usage", json_null());
    return c;
}

static size_t utf8_cut(const ms_buf *b, size_t at)
{
    if (at >= b->len)
        return b->len;
    while (at > 0 && (b->p[at] & 0xc0) == 0x80)
        at--;
    return at;
}

static ms_rc answer_stream(struct analyst_job *job, const char *finish, struct gw_resp *r,
                           ms_err *err)
{
    char id[48];
    time_t t = time(NULL);
    int iu = job->ci->include_usage;
    ms_buf *o = &r->body;
    completion_id(id);
    ms_rc rc = sse_event(
        o, chunk(id, t, json_pack("{s:s,s:s}", "role", "assistant", "content", ""), NULL, iu), err);
    for (size_t at = 0; rc == MS_OK && at < job->out.len;) {
        size_t end = utf8_cut(&job->out, at + CHUNK_BYTES);
        if (end <= at)
            end = job->out.len;
        rc = sse_event(
            o,
            chunk(id, t, json_pack("{s:s%}", "content", (const char *)job->out.p + at, end - at),
                  NULL, iu),
            err);
        at = end;
    }
    if (rc == MS_OK)
        rc = sse_event(o, chunk(id, t, json_object(), finish, iu), err);
    if (rc == MS_OK && iu)
        rc = sse_event(o,
                       json_pack("{s:s,s:s,s:I,s:s,s:[],s:o}", "id", id, "object",
                                 "chat.completion.chunk", "created", (json_int_t)t, "model",
                                 ANALYST_MODEL, "choices", "usage",
                                 usage_json(job->text.len, job->out.len)),
                       err);
    if (rc == MS_OK)
        rc = ms_buf_append_str(o, "data: [DONE]\n\n", err);
    r->content_type = "text/event-stream";
    return rc;
}

static void analyst(struct gw_req *q, json_t *root, const gw_chat_info *ci, struct gw_resp *r)
{
    struct analyst_job job;
    ms_err err = {0};
    char param[64] = "";
    memset(&job, 0, sizeof job);
    job.q = q;
    job.ci = ci;
    ms_buf_init(&job.text, &q->s->alloc, 0);
    ms_buf_init(&job.out, &q->s->alloc, 0);
    (void)ms_buf_reserve(&job.out, 4096, NULL); /* a short report's size: no doubling steps */
    q->action = "analyst.completion";
    json_t *msgs = json_object_get(root, "messages");
    ms_rc rc = collect_text(msgs, &job.text, &err);
    if (rc == MS_OK)
        rc = collect_files(&job, msgs, param, sizeof param, &err);
    if (rc == MS_OK && job.n_ids > 0)
        rc = gw__studies_use(q->s->studies, q->key.id, job.study_ids, job.n_ids, with_studies,
                             &job, &err);
    else if (rc == MS_OK)
        rc = run_analyst(&job, NULL, 0, &err);
    if (rc == MS_OK) {
        const char *finish = apply_max_tokens(ci, &job.out);
        if (!ci->stream)
            answer_plain(&job, finish, r);
        else if ((rc = answer_stream(&job, finish, r, &err)) != MS_OK)
            gw__resp_rc(q, r, rc, &err, NULL);
    } else {
        gw__resp_rc(q, r, rc, &err, param[0] ? param : "messages");
    }
    for (size_t i = 0; i < job.n_inline; i++)
        ms_free(&q->s->alloc, job.inline_files[i].p);
    ms_free(&q->s->alloc, job.inline_files);
    ms_buf_free(&job.text);
    ms_buf_free(&job.out);
}

int gw__model_listed(const gw_config *c, const char *m)
{
    size_t n = strlen(m);
    if (strcmp(m, ANALYST_MODEL) == 0)
        return 1;
    for (const char *p = c->upstream_models; p != NULL && *p != '\0';) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        size_t l = strcspn(p, ", \t");
        if (l == n && l > 0 && memcmp(p, m, n) == 0)
            return 1;
        p += l;
    }
    return 0;
}

/* The model name in the audit record: a listed name as itself; any other client-chosen name as
 * "h:" and 16 hex digits of its HMAC under a per-process key (a name can be a patient's: the log
 * must not hold it, yet records of one name still group within a run). */
static void audit_model(struct gw_req *q, const char *m)
{
    uint8_t h[32];
    if (gw__model_listed(&q->s->cfg, m) && strlen(m) < sizeof q->model) {
        snprintf(q->model, sizeof q->model, "%s", m);
        return;
    }
    if (ms_hmac_sha256(q->s->name_key, sizeof q->s->name_key, m, strlen(m), NULL, 0, h, NULL) !=
        MS_OK) {
        snprintf(q->model, sizeof q->model, "other");
        return;
    }
    memcpy(q->model, "h:", 2);
    for (size_t i = 0; i < 8; i++)
        snprintf(q->model + 2 + 2 * i, 3, "%02x", h[i]);
}

void gw__h_chat(struct gw_req *q, struct gw_resp *r)
{
    gw_chat_info ci;
    ms_err err = {0};
    json_t *root = NULL;
    memset(&ci, 0, sizeof ci);
    if (q->body.len == 0) {
        gw__resp_error(q, r, 400, "invalid_request_error", NULL, NULL,
                       "request body is empty (expected a JSON chat completion request)");
        return;
    }
    ms_rc rc = gw_chat_parse(q->body.p, q->body.len, &ci, (void **)&root, &err);
    if (rc != MS_OK) {
        gw__resp_error(q, r, 400, "invalid_request_error",
                       rc == MS_E_UNSUPPORTED ? "unsupported_value" : NULL,
                       ci.param[0] ? ci.param : NULL, err.msg);
        return;
    }
    audit_model(q, ci.model);
    if (strcmp(ci.model, ANALYST_MODEL) == 0)
        analyst(q, root, &ci, r);
    else if (q->s->up != NULL && q->s->cfg.upstream_models != NULL &&
             !gw__model_listed(&q->s->cfg, ci.model))
        gw__resp_error(q, r, 404, "invalid_request_error", "model_not_found", "model",
                       "The model does not exist (not in upstream_models).");
    else if (q->s->up != NULL)
        gw__upstream_chat(q, root, &ci, r);
    else
        gw__resp_error(q, r, 404, "invalid_request_error", "model_not_found", "model",
                       "The model does not exist (no upstream is configured).");
    json_decref(root);
}

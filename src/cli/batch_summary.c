/*
 * The run-wide outputs of `medseal batch` (index.jsonl, cohort.csv, summary.html), built from
 * the patients' index lines alone, so that the same code builds them from the SQLite journal,
 * from the PostgreSQL queue, and on the requester's side from the opened `patient.json` files of
 * a sealed run (`medseal open`), byte for byte alike. Each file is written to "<name>.tmp",
 * fsync'ed and renamed (one writer at a time: workers of a queue take its summary lock first).
 * Trusts: the lines (written by cmd_batch.c; parsed with jansson, every field checked for its
 * type). Owns: the files it writes.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "batch.h"
#include "commands.h"

struct stream {
    int fd;
    char tmp[PATH_MAX + 64], path[PATH_MAX];
    ms_buf b;
    int bad;
};

static int st_open(struct stream *s, const char *out, const char *name, int seal)
{
    memset(s, 0, sizeof s[0]);
    ms_buf_init(&s->b, NULL, 0);
    snprintf(s->path, sizeof s->path, "%s/%s%s", out, name, seal ? ".sealed" : "");
    snprintf(s->tmp, sizeof s->tmp, "%s.tmp", s->path);
    s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    return s->fd < 0 ? -1 : 0;
}

static void st_put(struct stream *s, const char *str)
{
    ms_err e = {0};
    if (ms_buf_append_str(&s->b, str, &e) != MS_OK)
        s->bad = 1;
}

static void st_putb(struct stream *s, const ms_buf *b)
{
    ms_err e = {0};
    if (b->len > 0 && ms_buf_append(&s->b, b->p, b->len, &e) != MS_OK)
        s->bad = 1;
}

/* Sealed outputs are sealed as one message: the buffer is the whole file. */
static int st_close(struct stream *s, int seal, const uint8_t *pk)
{
    int rc = s->bad || s->fd < 0 ? -1 : 0;
    if (rc == 0)
        rc = seal ? bt_seal_write(s->fd, pk, s->b.p, s->b.len) : ms_write_all(s->fd, s->b.p, s->b.len);
    if (rc == 0)
        rc = fsync(s->fd);
    if (s->fd >= 0 && close(s->fd) != 0)
        rc = -1;
    ms_buf_free(&s->b);
    if (rc == 0)
        rc = rename(s->tmp, s->path);
    else
        (void)unlink(s->tmp);
    return rc;
}

static void html_escape(struct stream *s, const char *v)
{
    char one[2] = {0, 0};
    for (; v != NULL && *v; v++) {
        switch (*v) {
        case '<': st_put(s, "&lt;"); break;
        case '>': st_put(s, "&gt;"); break;
        case '&': st_put(s, "&amp;"); break;
        case '"': st_put(s, "&quot;"); break;
        default: one[0] = *v; st_put(s, one);
        }
    }
}

static int cat_rank(const char *c)
{
    static const char *const order[] = {"0", "1", "2", "3", "4A", "4B", "4X"};
    for (int i = 0; c != NULL && i < 7; i++)
        if (strcmp(c, order[i]) == 0)
            return i + 1;
    return 0;
}

static const char summary_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
    "'unsafe-inline'; script-src 'unsafe-inline'\">\n"
    "<title>medseal batch: screening worklist</title>\n<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330}\n"
    "h1{font-size:20px;margin:0 0 4px}.sub{color:#5b6475;margin:0 0 16px}\n"
    ".counts{display:flex;gap:8px;flex-wrap:wrap;margin:0 0 16px}\n"
    ".c{border:1px solid #d5dae3;border-radius:6px;padding:6px 12px;min-width:56px;"
    "text-align:center}\n.c b{display:block;font-size:20px}\n"
    "table{border-collapse:collapse;width:100%}th,td{padding:5px 10px;border-bottom:1px solid "
    "#e3e7ee;text-align:left}\nth{cursor:pointer;background:#f3f5f9;user-select:none}\n"
    "th:hover{background:#e6eaf2}td.n{text-align:right}\n"
    ".k{display:inline-block;min-width:28px;text-align:center;border-radius:4px;padding:1px "
    "6px;font-weight:600}\n.k1,.k2{background:#e3f4e6}.k3{background:#fff3cd}"
    ".k4A{background:#ffe0c2}.k4B,.k4X{background:#f8c9c9}.k0{background:#dde6f7}\n"
    "</style></head><body>\n<h1>Screening worklist</h1>\n";

static const char summary_tail[] =
    "</tbody></table>\n<script>\n"
    "(function(){var t=document.getElementById('w'),b=t.tBodies[0],d={};\n"
    "function key(r,i){var c=r.cells[i];return c.getAttribute('data-k')||c.textContent;}\n"
    "Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h,i){h.onclick=function(){\n"
    "d[i]=!d[i];var rs=Array.prototype.slice.call(b.rows),num=h.hasAttribute('data-num');\n"
    "rs.sort(function(x,y){var a=key(x,i),c=key(y,i);if(num){a=+a;c=+c;}\n"
    "var r=a<c?-1:a>c?1:0;return d[i]?r:-r;});rs.forEach(function(r){b.appendChild(r);});};});"
    "})();\n</script>\n</body></html>\n";

#define MAX_CATS 32

struct acc {
    struct stream ix, csv;
    ms_buf rows; /* the table's rows, after the counts */
    struct stream *html;
    char cat[MAX_CATS][8];
    size_t cnt[MAX_CATS], ncat, total;
    int phi; /* -1 not seen yet */
    int bad;
};

static void rows_put(struct acc *a, const char *s)
{
    ms_err e = {0};
    if (ms_buf_append_str(&a->rows, s, &e) != MS_OK)
        a->bad = 1;
}

static void rows_escape(struct acc *a, const char *v)
{
    char one[2] = {0, 0};
    for (; v != NULL && *v; v++) {
        const char *r = *v == '<' ? "&lt;" : *v == '>' ? "&gt;" : *v == '&' ? "&amp;"
                        : *v == '"' ? "&quot;" : NULL;
        if (r == NULL) {
            one[0] = *v;
            r = one;
        }
        rows_put(a, r);
    }
}

/* The format a report file name is written in (the reverse of cmd_batch.c's fmt_ext). */
static const char *name_fmt(const char *name)
{
    const char *dot = strchr(name, '.');
    if (dot == NULL)
        return NULL;
    dot++;
    return strcmp(dot, "fhir.json") == 0 ? "fhir" : strcmp(dot, "txt") == 0 ? "text"
           : strcmp(dot, "sr.dcm") == 0  ? "sr"   : dot;
}

static int add_cat(struct acc *a, const char *c)
{
    for (size_t i = 0; i < a->ncat; i++)
        if (strcmp(a->cat[i], c) == 0) {
            a->cnt[i]++;
            return 0;
        }
    if (a->ncat == MAX_CATS || strlen(c) >= sizeof a->cat[0])
        return -1;
    snprintf(a->cat[a->ncat], sizeof a->cat[0], "%s", c);
    a->cnt[a->ncat++] = 1;
    return 0;
}

static int one_line(void *ud, const char *text)
{
    struct acc *a = ud;
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    const char *p = json_string_value(json_object_get(j, "patient"));
    json_t *js = json_object_get(j, "studies"), *jn = json_object_get(j, "nodules");
    if (p == NULL || !json_is_integer(js) || !json_is_integer(jn) || strchr(p, '"') != NULL ||
        strchr(p, '<') != NULL || strchr(p, ',') != NULL) {
        json_decref(j);
        a->bad = 1;
        return -1;
    }
    long long ns = (long long)json_integer_value(js), nn = (long long)json_integer_value(jn);
    const char *cat = json_string_value(json_object_get(j, "lung_rads"));
    const char *fu = json_string_value(json_object_get(j, "follow_up"));
    const char *due = json_string_value(json_object_get(j, "due_date"));
    const char *dates = json_string_value(json_object_get(j, "dates"));
    if (a->phi < 0 && dates != NULL)
        a->phi = strcmp(dates, "real") == 0;
    a->total++;
    if (add_cat(a, cat != NULL ? cat : "-") != 0)
        a->bad = 1;
    st_put(&a->ix, text);
    st_put(&a->ix, "\n");
    st_put(&a->csv, p);
    char buf[512];
    snprintf(buf, sizeof buf, ",%lld,%lld,", ns, nn);
    st_put(&a->csv, buf);
    /* csv cells: the values come from the analyst's vocabularies (categories, keys, dates);
     * anything with a quote, comma or line break is refused rather than half-quoted */
    const char *cells[3] = {cat, fu, due};
    for (int i = 0; i < 3; i++) {
        if (cells[i] != NULL && strpbrk(cells[i], ",\"\r\n") != NULL)
            a->bad = 1;
        else if (cells[i] != NULL)
            st_put(&a->csv, cells[i]);
        st_put(&a->csv, i < 2 ? "," : "\n");
    }
    rows_put(a, "<tr><td>");
    rows_put(a, p);
    snprintf(buf, sizeof buf, "</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td><td "
                              "data-k=\"%d\"><span class=\"k k",
             ns, nn, cat_rank(cat));
    rows_put(a, buf);
    rows_escape(a, cat ? cat : "");
    rows_put(a, "\">");
    rows_escape(a, cat ? cat : "-");
    rows_put(a, "</span></td><td>");
    rows_escape(a, fu ? fu : "-");
    rows_put(a, "</td><td data-k=\"");
    rows_escape(a, due ? due : "9999");
    rows_put(a, "\">");
    rows_escape(a, due ? due : "-");
    rows_put(a, "</td><td>");
    /* links to the latest study's reports: report.* (or study-N.* with --every-study) */
    char every[32];
    snprintf(every, sizeof every, "study-%lld.", ns);
    json_t *reps = json_object_get(j, "reports");
    int k = 0;
    for (size_t i = 0; i < json_array_size(reps); i++) {
        const char *rel = json_string_value(json_array_get(reps, i));
        const char *sl = rel != NULL ? strrchr(rel, '/') : NULL;
        const char *name = sl != NULL ? sl + 1 : rel;
        if (name == NULL || (strncmp(name, "report.", 7) != 0 && strncmp(name, every,
                                                                        strlen(every)) != 0))
            continue;
        const char *fmt = name_fmt(name);
        rows_put(a, k++ ? " <a href=\"" : "<a href=\"");
        rows_escape(a, rel);
        rows_put(a, "\">");
        rows_escape(a, fmt != NULL ? fmt : name);
        rows_put(a, "</a>");
    }
    rows_put(a, "</td></tr>\n");
    json_decref(j);
    return 0;
}

static int cmp_cat(const void *x, const void *y)
{
    return strcmp((const char *)x, (const char *)y);
}

int bt_summaries_write(const char *dir, int seal, const uint8_t *pk, int phi, bt_lines_fn each,
                       void *ud)
{
    struct acc a;
    struct stream html;
    memset(&a, 0, sizeof a);
    a.phi = -1;
    ms_buf_init(&a.rows, NULL, 0);
    if (st_open(&a.ix, dir, "index.jsonl", seal) != 0 ||
        st_open(&a.csv, dir, "cohort.csv", seal) != 0 ||
        st_open(&html, dir, "summary.html", seal) != 0) {
        cli_error("batch", "cannot create the summary files in OUT");
        return -1;
    }
    st_put(&a.csv, "patient,studies,nodules,lung_rads,follow_up,due_date\n");
    int rc = each(ud, one_line, &a);
    if (a.phi >= 0)
        phi = a.phi;
    /* counts per category, in byte order of the category ("-": none) */
    size_t idx[MAX_CATS];
    char sorted[MAX_CATS][8];
    memcpy(sorted, a.cat, sizeof sorted);
    qsort(sorted, a.ncat, sizeof sorted[0], cmp_cat);
    for (size_t i = 0; i < a.ncat; i++)
        for (size_t k = 0; k < a.ncat; k++)
            if (strcmp(sorted[i], a.cat[k]) == 0)
                idx[i] = k;
    st_put(&html, summary_head);
    st_put(&html, "<div class=\"counts\">\n");
    char buf[512];
    for (size_t i = 0; i < a.ncat; i++) {
        snprintf(buf, sizeof buf, "<div class=\"c\"><b>%zu</b>Lung-RADS ", a.cnt[idx[i]]);
        st_put(&html, buf);
        html_escape(&html, a.cat[idx[i]]);
        st_put(&html, "</div>\n");
    }
    snprintf(buf, sizeof buf,
             "</div>\n<p class=\"sub\">%zu patients; dates are %s. Click a column to sort.</p>\n"
             "<table id=\"w\"><thead><tr><th>Patient</th><th data-num>Studies</th>"
             "<th data-num>Nodules</th><th data-num>Lung-RADS</th><th>Follow-up</th>"
             "<th>Due</th><th>Reports</th></tr></thead><tbody>\n",
             a.total, phi ? "real" : "shifted per patient (run with --phi for real due dates)");
    st_put(&html, buf);
    st_putb(&html, &a.rows);
    st_put(&html, summary_tail);
    ms_buf_free(&a.rows);
    if (a.bad || rc != 0) {
        a.ix.bad = a.csv.bad = html.bad = 1;
        rc = -1;
    }
    rc |= st_close(&a.ix, seal, pk);
    rc |= st_close(&a.csv, seal, pk);
    rc |= st_close(&html, seal, pk);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    if (rc != 0)
        cli_error("batch", "cannot write the summary files");
    return rc;
}

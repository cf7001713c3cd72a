/* Stat lines rendered as Prometheus text and as JSON (shared/metrics.h).
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/metrics.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void glb_metrics_escape(struct evbuffer *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            evbuffer_add(out, "\\\\", 2);
        else if (*s == '"')
            evbuffer_add(out, "\\\"", 2);
        else if (*s == '\n')
            evbuffer_add(out, "\\n", 2);
        else
            evbuffer_add(out, s, 1);
    }
}

void glb_stats_labels(struct evbuffer *out, const char *const *kv, size_t n)
{
    evbuffer_add(out, "{", 1);
    for (size_t i = 0; i < n; i++) {
        evbuffer_add_printf(out, "%s%s=\"", i ? "," : "", kv[2 * i]);
        glb_metrics_escape(out, kv[2 * i + 1]);
        evbuffer_add(out, "\"", 1);
    }
    evbuffer_add(out, "}", 1);
}

static int alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int digit(char c)
{
    return c >= '0' && c <= '9';
}

int glb_metrics_name_ok(const char *name, int label)
{
    if (!alpha(name[0]) && (label || name[0] != ':'))
        return 0;
    for (const char *p = name + 1; *p; p++)
        if (!alpha(*p) && !digit(*p) && (label || *p != ':'))
            return 0;
    return 1;
}

/* --- parsing the stat lines ------------------------------------------------ */

typedef struct entry {
    const char *name, *labels, *value; /* labels: between the braces */
    size_t nlen, llen, vlen;
    double v;
    const glb_metric_rule *rule;       /* NULL: none */
} entry;

/* k="v",... up to the closing brace at *pp; 0 and *pp past the brace. */
static int parse_labels(const char **pp, const char *end)
{
    const char *p = *pp;
    if (p < end && *p == '}') {
        *pp = p + 1;
        return 0;
    }
    for (;;) {
        if (p >= end || !alpha(*p))
            return -1;
        while (p < end && (alpha(*p) || digit(*p)))
            p++;
        if (end - p < 2 || p[0] != '=' || p[1] != '"')
            return -1;
        for (p += 2; p < end && *p != '"'; p++) {
            if (*p == '\n')
                return -1;
            if (*p == '\\') {
                if (p + 1 >= end || (p[1] != '\\' && p[1] != '"' && p[1] != 'n'))
                    return -1;
                p++;
            }
        }
        if (p >= end)
            return -1;
        p++; /* the closing quote */
        if (p < end && *p == '}') {
            *pp = p + 1;
            return 0;
        }
        if (p >= end || *p != ',')
            return -1;
        p++;
    }
}

static int parse_value(const char *s, size_t n, double *v)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (strcmp(buf, "NaN") == 0) {
        *v = NAN;
        return 0;
    }
    if (!digit(buf[0]) && !(buf[0] == '-' && digit(buf[1])))
        return -1; /* no "inf", "nan", "+1", " 1" or hex */
    for (const char *c = buf; *c; c++)
        if (!digit(*c) && *c != '-' && *c != '+' && *c != '.' && *c != 'e' && *c != 'E')
            return -1;
    char *e;
    *v = strtod(buf, &e);
    return *e ? -1 : 0;
}

/* One line into *en: 0, or -1 when it is not a stat line. */
static int parse_line(const char *p, const char *end, entry *en)
{
    memset(en, 0, sizeof(*en));
    en->name = p;
    while (p < end && (alpha(*p) || digit(*p) || *p == '.' || *p == '-'))
        p++;
    en->nlen = (size_t)(p - en->name);
    if (en->nlen == 0 || en->nlen > 200 || p >= end)
        return -1;
    if (*p == '{') {
        en->labels = ++p;
        if (parse_labels(&p, end) != 0)
            return -1;
        en->llen = (size_t)(p - 1 - en->labels);
    }
    if (p >= end || *p != '=')
        return -1;
    en->value = ++p;
    en->vlen = (size_t)(end - p);
    return parse_value(en->value, en->vlen, &en->v);
}

/* Every stat line of text, in order; *n of them. NULL when none or out of memory. */
static entry *parse_all(const char *text, size_t len, size_t *n)
{
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += text[i] == '\n';
    entry *v = calloc(cap, sizeof(*v));
    *n = 0;
    if (!v)
        return NULL;
    const char *p = text, *end = text + len;
    while (p < end && *n < cap) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (parse_line(p, le, &v[*n]) == 0)
            (*n)++;
        p = nl ? nl + 1 : end;
    }
    return v;
}

static int same(const char *a, size_t na, const char *b, size_t nb)
{
    return na == nb && memcmp(a, b, na) == 0;
}

static int rule_matches(const glb_metric_rule *r, const entry *e)
{
    size_t n = strlen(r->stat);
    if (n && r->stat[n - 1] == '.')
        return e->nlen > n && memcmp(e->name, r->stat, n) == 0;
    return same(e->name, e->nlen, r->stat, n);
}

/* --- Prometheus ------------------------------------------------------------ */

static void add_value(struct evbuffer *out, const entry *e)
{
    if (isnan(e->v))
        evbuffer_add_printf(out, " NaN\n");
    else {
        evbuffer_add(out, " ", 1);
        evbuffer_add(out, e->value, e->vlen);
        evbuffer_add(out, "\n", 1);
    }
}

static void add_sample(struct evbuffer *out, const char *metric, const glb_metric_rule *r, const entry *e)
{
    evbuffer_add_printf(out, "%s", metric);
    int any = 0;
    if (r && r->label) {
        evbuffer_add_printf(out, "{%s=\"", r->label);
        if (r->value)
            glb_metrics_escape(out, r->value);
        else {
            size_t n = strlen(r->stat);
            char rest[256];
            snprintf(rest, sizeof(rest), "%.*s", (int)(e->nlen - n), e->name + n);
            glb_metrics_escape(out, rest);
        }
        evbuffer_add(out, "\"", 1);
        any = 1;
    }
    if (e->llen) {
        evbuffer_add(out, any ? "," : "{", 1);
        evbuffer_add(out, e->labels, e->llen);
        any = 1;
    }
    if (any)
        evbuffer_add(out, "}", 1);
    add_value(out, e);
}

static void add_header(struct evbuffer *out, const char *metric, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s ", metric);
    for (const char *h = help; *h; h++) { /* HELP escapes \ and newline only */
        if (*h == '\\')
            evbuffer_add(out, "\\\\", 2);
        else if (*h == '\n')
            evbuffer_add(out, "\\n", 2);
        else
            evbuffer_add(out, h, 1);
    }
    evbuffer_add_printf(out, "\n# TYPE %s %s\n", metric, type);
}

#define C(stat, metric, label, value, help) {stat, metric, "counter", label, value, help}
#define G(stat, metric, label, value, help) {stat, metric, "gauge", label, value, help}
#define DNS_ANSWER "DNS responses with data or NOERROR, by kind"
#define DNS_RCODE "DNS responses with an error rcode, by rcode (NOERROR responses: glb_dns_answers_total)"
#define NET_Q "DNS queries received, by transport"
#define NET_A "DNS responses sent, by transport"
const glb_metric_rule glb_metric_rules_common[] = {
    C("dns.queries", "glb_dns_queries_total", NULL, NULL, "DNS queries answered by the answering threads"),
    C("dns.nxdomain", "glb_dns_error_responses_total", "rcode", "NXDOMAIN", DNS_RCODE),
    C("dns.refused", "glb_dns_error_responses_total", "rcode", "REFUSED", DNS_RCODE),
    C("dns.formerr", "glb_dns_error_responses_total", "rcode", "FORMERR", DNS_RCODE),
    C("dns.notimp", "glb_dns_error_responses_total", "rcode", "NOTIMP", DNS_RCODE),
    C("dns.badvers", "glb_dns_error_responses_total", "rcode", "BADVERS", DNS_RCODE),
    C("dns.dropped", "glb_dns_dropped_total", NULL, NULL, "DNS queries dropped unanswered (not a query, malformed header)"),
    C("dns.truncated", "glb_dns_truncated_total", NULL, NULL, "DNS responses truncated (TC) to fit"),
    C("net.udp_queries", "glb_net_queries_total", "transport", "udp", NET_Q),
    C("net.tcp_queries", "glb_net_queries_total", "transport", "tcp", NET_Q),
    C("net.udp_answers", "glb_net_responses_total", "transport", "udp", NET_A),
    C("net.tcp_answers", "glb_net_responses_total", "transport", "tcp", NET_A),
    C("net.tcp_conns", "glb_net_tcp_connections_total", NULL, NULL, "DNS TCP connections accepted"),
    C("net.", NULL, NULL, NULL, NULL),
    C("control.", NULL, NULL, NULL, NULL),
    G("metrics.open", "glb_metrics_connections", NULL, NULL, "connections open to the metrics endpoint now"),
    C("metrics.", NULL, NULL, NULL, NULL),
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

/* The metric name of e under rule r (NULL: none matched): "" to leave it out. */
static void metric_name(char *buf, size_t len, const glb_metric_rule *r, const entry *e, const char *prefix)
{
    if (r && r->metric) {
        snprintf(buf, len, "%s", r->metric);
        return;
    }
    int counter = r && strcmp(r->type, "counter") == 0;
    snprintf(buf, len, "%s_%.*s%s", prefix, (int)e->nlen, e->name, counter ? "_total" : "");
    for (char *c = buf; *c; c++)
        if (*c == '.' || *c == '-')
            *c = '_';
    if (!glb_metrics_name_ok(buf, 0))
        buf[0] = '\0';
}

size_t glb_metrics_render(struct evbuffer *out, const char *text, size_t len, const glb_metric_rule *rules,
                          const char *prefix)
{
    size_t n, samples = 0;
    entry *v = parse_all(text, len, &n);
    if (!v)
        return 0;
    typedef char mname[128];
    mname *names = calloc(n ? n : 1, sizeof(*names));
    unsigned char *done = calloc(n ? n : 1, 1);
    if (!names || !done) {
        free(names);
        free(done);
        free(v);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t r = 0; rules && rules[r].stat && !v[i].rule; r++)
            if (rule_matches(&rules[r], &v[i]))
                v[i].rule = &rules[r];
        for (size_t r = 0; glb_metric_rules_common[r].stat && !v[i].rule; r++)
            if (rule_matches(&glb_metric_rules_common[r], &v[i]))
                v[i].rule = &glb_metric_rules_common[r];
        metric_name(names[i], sizeof(names[i]), v[i].rule, &v[i], prefix);
    }
    /* One family per metric name, in the order of its first line. */
    for (size_t i = 0; i < n; i++) {
        if (done[i] || !names[i][0])
            continue;
        const glb_metric_rule *r = v[i].rule;
        char help[300];
        if (r && r->help)
            snprintf(help, sizeof(help), "%s", r->help);
        else
            snprintf(help, sizeof(help), "%.*s of the control command stats", (int)v[i].nlen, v[i].name);
        add_header(out, names[i], r ? r->type : "untyped", help);
        for (size_t k = i; k < n; k++) {
            if (done[k] || strcmp(names[k], names[i]) != 0)
                continue;
            done[k] = 1;
            add_sample(out, names[k], v[k].rule, &v[k]);
            samples++;
        }
    }
    free(names);
    free(done);
    free(v);
    return samples;
}

/* --- JSON ------------------------------------------------------------------ */

void glb_json_string(struct evbuffer *out, const char *s, size_t len)
{
    evbuffer_add(out, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            evbuffer_add_printf(out, "\\%c", c);
        else if (c == '\n')
            evbuffer_add(out, "\\n", 2);
        else if (c == '\t')
            evbuffer_add(out, "\\t", 2);
        else if (c < 0x20)
            evbuffer_add_printf(out, "\\u%04x", c);
        else
            evbuffer_add(out, s + i, 1);
    }
    evbuffer_add(out, "\"", 1);
}

void glb_json_number(struct evbuffer *out, double v)
{
    if (isfinite(v))
        evbuffer_add_printf(out, "%.6g", v);
    else
        evbuffer_add(out, "null", 4);
}

static void json_number(struct evbuffer *out, const char *s, size_t n, double v)
{
    if (!isfinite(v)) {
        evbuffer_add(out, "null", 4);
        return;
    }
    int integer = 1;
    for (size_t i = 0; i < n; i++)
        integer &= digit(s[i]) || (i == 0 && s[i] == '-');
    if (integer && n < 21 && !(n > 1 && s[s[0] == '-'] == '0'))
        evbuffer_add(out, s, n);
    else
        evbuffer_add_printf(out, "%.15g", v);
}

/* The labels of e as JSON members "k": "v", unescaping the values. */
static void json_labels(struct evbuffer *out, const entry *e)
{
    const char *p = e->labels, *end = e->labels + e->llen;
    while (p < end) {
        const char *k = p;
        while (*p != '=')
            p++;
        glb_json_string(out, k, (size_t)(p - k));
        evbuffer_add(out, ": ", 2);
        p += 2; /* =" */
        char val[512];
        size_t n = 0;
        for (; *p != '"'; p++) {
            char c = *p;
            if (c == '\\') {
                p++;
                c = *p == 'n' ? '\n' : *p;
            }
            if (n < sizeof(val))
                val[n++] = c;
        }
        glb_json_string(out, val, n);
        evbuffer_add(out, ", ", 2);
        p++; /* the quote */
        if (p < end && *p == ',')
            p++;
    }
}

size_t glb_stats_json(struct evbuffer *out, const char *text, size_t len)
{
    size_t n;
    entry *v = parse_all(text, len, &n);
    evbuffer_add(out, "{", 1);
    for (size_t i = 0; v && i < n; i++) {
        const entry *e = &v[i];
        int cont = i > 0 && e->labels && v[i - 1].labels && same(e->name, e->nlen, v[i - 1].name, v[i - 1].nlen);
        int last = i + 1 == n || !e->labels || !v[i + 1].labels ||
                   !same(e->name, e->nlen, v[i + 1].name, v[i + 1].nlen);
        if (cont)
            evbuffer_add(out, ", ", 2);
        else {
            evbuffer_add(out, i ? ",\n " : "\n ", i ? 3 : 2);
            glb_json_string(out, e->name, e->nlen);
            evbuffer_add(out, ": ", 2);
            if (e->labels)
                evbuffer_add(out, "[", 1);
        }
        if (e->labels) {
            evbuffer_add(out, "{", 1);
            json_labels(out, e);
            evbuffer_add(out, "\"value\": ", 9);
            json_number(out, e->value, e->vlen, e->v);
            evbuffer_add(out, last ? "}]" : "}", last ? 2 : 1);
        } else
            json_number(out, e->value, e->vlen, e->v);
    }
    evbuffer_add(out, "\n}\n", 3);
    free(v);
    return v ? n : 0;
}

void glb_status_json(struct evbuffer *out, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    int first = 1;
    evbuffer_add(out, "{", 1);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon && colon > p) {
            const char *val = colon + 1;
            while (val < le && *val == ' ')
                val++;
            evbuffer_add(out, first ? "\n " : ",\n ", first ? 2 : 3);
            first = 0;
            glb_json_string(out, p, (size_t)(colon - p));
            evbuffer_add(out, ": ", 2);
            double d;
            if (parse_value(val, (size_t)(le - val), &d) == 0 && isfinite(d))
                json_number(out, val, (size_t)(le - val), d);
            else
                glb_json_string(out, val, (size_t)(le - val));
        }
        p = nl ? nl + 1 : end;
    }
    evbuffer_add(out, "\n}\n", 3);
}

void glb_metrics_from(struct evbuffer *out, glb_lines_fn fill, void *arg, const glb_metric_rule *rules,
                      const char *prefix)
{
    struct evbuffer *t = evbuffer_new();
    if (!t)
        return;
    fill(arg, t);
    size_t len = evbuffer_get_length(t);
    glb_metrics_render(out, len ? (const char *)evbuffer_pullup(t, -1) : "", len, rules, prefix);
    evbuffer_free(t);
}

int glb_lines_reply(const char *args, struct evbuffer *out, int stats, glb_lines_fn fill, void *arg)
{
    if (!*args) {
        fill(arg, out);
        return 0;
    }
    if (strcmp(args, "json") != 0) {
        evbuffer_add_printf(out, "usage: stats [json] | status [json]\n");
        return -1;
    }
    struct evbuffer *t = evbuffer_new();
    if (!t) {
        evbuffer_add_printf(out, "out of memory\n");
        return -1;
    }
    fill(arg, t);
    size_t len = evbuffer_get_length(t);
    const char *text = len ? (const char *)evbuffer_pullup(t, -1) : "";
    if (stats)
        glb_stats_json(out, text, len);
    else
        glb_status_json(out, text, len);
    evbuffer_free(t);
    return 0;
}

/* Counters as text, and what is rendered from them. Every daemon's "stats"
 * control command writes its counters as lines
 *
 *     NAME=VALUE
 *     NAME{LABEL="VALUE",...}=VALUE
 *
 * (NAME of a-z 0-9 _ . and -, label values escaped as in the Prometheus text
 * format: \\ \" \n; VALUE a decimal number or NaN), the lines of one NAME
 * written together. That text is the one source of truth: the Prometheus
 * exposition served on /metrics and the JSON of "stats json" are rendered
 * from it, so a counter shows in all three or in none.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_METRICS_H
#define GLB_METRICS_H

#include <stddef.h>

struct evbuffer;

/* Appends s escaped for a label value: \ as \\, " as \", newline as \n. */
void glb_metrics_escape(struct evbuffer *out, const char *s);

/* Appends {k0="v0",k1="v1",...}: kv holds n pairs, the values escaped. */
void glb_stats_labels(struct evbuffer *out, const char *const *kv, size_t n);

/* How stat lines become metrics. A rule matches a stat NAME exactly, or,
 * when stat ends with '.', every NAME starting with it; the first rule that
 * matches counts. The sample gets the rule's metric name (NULL: PREFIX_NAME
 * with . and - as _, and _total for a counter; "": the stat is left out), the
 * label label (when not NULL) set to value (or, when value is NULL, to the
 * rest of NAME after the prefix), then the line's own labels. Lines of the
 * same metric make one family (one HELP and TYPE line). The table ends with
 * a NULL stat. */
typedef struct glb_metric_rule {
    const char *stat;
    const char *metric;
    const char *type;  /* "counter" (metric ends in _total) or "gauge" */
    const char *label; /* NULL: none */
    const char *value; /* NULL: the rest of the stat name */
    const char *help;
} glb_metric_rule;

/* Rules every daemon shares (dns.queries, the error rcodes, net., control.,
 * metrics.), looked at after the daemon's own. */
extern const glb_metric_rule glb_metric_rules_common[];

/* Whether name is a valid metric (or, label != 0, label) name:
 * [a-zA-Z_:][a-zA-Z0-9_:]* ([a-zA-Z_][a-zA-Z0-9_]* for labels). */
int glb_metrics_name_ok(const char *name, int label);

/* Renders the stat lines text[0..len) as the Prometheus text format (0.0.4),
 * families in the order of their first line; a stat no rule matches becomes
 * PREFIX_NAME (. and - as _) of type untyped. Lines that do not parse are left
 * out. Returns the samples written. */
size_t glb_metrics_render(struct evbuffer *out, const char *text, size_t len, const glb_metric_rule *rules,
                          const char *prefix);

/* Renders the stat lines as one JSON object: "NAME": number for lines
 * without labels, "NAME": [{"LABEL": "VALUE", ..., "value": number}, ...]
 * for those with (NaN as null). Returns the lines rendered. */
size_t glb_stats_json(struct evbuffer *out, const char *text, size_t len);

/* Renders "key: value" lines (the status commands) as one JSON object of
 * strings, or numbers where the whole value is one. */
void glb_status_json(struct evbuffer *out, const char *text, size_t len);

/* Fills a buffer with a command's lines: stat lines or "key: value" lines. */
typedef void (*glb_lines_fn)(void *arg, struct evbuffer *out);

/* Renders fill(arg)'s stat lines as the Prometheus text format into out
 * (glb_metrics_render). */
void glb_metrics_from(struct evbuffer *out, glb_lines_fn fill, void *arg, const glb_metric_rule *rules,
                      const char *prefix);

/* The reply of a control command that takes "[json]": fill(arg)'s lines as
 * they are (args ""), or as JSON (args "json": glb_stats_json when stats,
 * else glb_status_json); any other args: the usage, and -1. 0, or -1. */
int glb_lines_reply(const char *args, struct evbuffer *out, int stats, glb_lines_fn fill, void *arg);

/* Appends s as a JSON string (quoted, escaped). */
void glb_json_string(struct evbuffer *out, const char *s, size_t len);

/* Appends v as a JSON number of 6 significant digits (a measurement), or
 * null when NaN or infinite. */
void glb_json_number(struct evbuffer *out, double v);

#endif

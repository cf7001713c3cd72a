/* dnsb's status page data (dnsb/status.h): the control commands' own text
 * (dnsb/control.c), so that the page and dnsb-control never disagree, put
 * into JSON strings (glb_json_string escapes them; the page shows them as
 * text only). SPDX-License-Identifier: BSD-3-Clause */
#include "dnsb/status.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <string.h>

#include "shared/metrics.h"
#include "shared/statuspage.h"

/* Runs control command name with args into a new buffer: its return
 * (0 or -1) into *rc; NULL when out of memory. */
static struct evbuffer *run(dnsb_ctl *c, const char *name, const char *args, int *rc)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return NULL;
    *rc = -1;
    for (const glb_control_cmd *k = dnsb_control_cmds; k->name; k++)
        if (strcmp(k->name, name) == 0)
            *rc = k->fn(c, args, b, NULL); /* these answer at once: they never keep the connection */
    return b;
}

/* "KEY":["line", ...]: b's text, one string a line. */
static void lines_json(struct evbuffer *out, const char *key, struct evbuffer *b)
{
    size_t len = evbuffer_get_length(b);
    const char *s = (const char *)evbuffer_pullup(b, -1);
    evbuffer_add_printf(out, "\"%s\":[", key);
    for (size_t i = 0, first = 1; s && i < len; first = 0) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (s + i)) : len - i;
        if (!first)
            evbuffer_add(out, ",", 1);
        glb_json_string(out, s + i, n);
        i += n + 1;
    }
    evbuffer_add(out, "]", 1);
}

static int status_json(dnsb_ctl *c, struct evbuffer *out)
{
    int rc;
    struct evbuffer *st = run(c, "status", "", &rc), *lbs = run(c, "list-lbs", "", &rc);
    if (!st || !lbs) {
        if (st)
            evbuffer_free(st);
        if (lbs)
            evbuffer_free(lbs);
        return 500;
    }
    evbuffer_add_printf(out, "{\"daemon\":\"dnsb\",\"status\":");
    glb_status_json(out, (const char *)evbuffer_pullup(st, -1), evbuffer_get_length(st));
    evbuffer_add(out, ",", 1);
    lines_json(out, "lbs", lbs);
    evbuffer_add_printf(out, "}\n");
    evbuffer_free(st);
    evbuffer_free(lbs);
    return 200;
}

static int lookup_json(dnsb_ctl *c, const char *query, struct evbuffer *out)
{
    struct evkeyvalq q;
    if (evhttp_parse_query_str(query, &q) != 0)
        return 400;
    const char *addr = evhttp_find_header(&q, "addr");
    int code = 400;
    if (addr && strlen(addr) <= 64) {
        int rc;
        struct evbuffer *b = run(c, "lookup", addr, &rc);
        if (b) {
            evbuffer_add_printf(out, "{\"ok\":%s,", rc == 0 ? "true" : "false");
            lines_json(out, "lines", b);
            evbuffer_add_printf(out, "}\n");
            evbuffer_free(b);
            code = 200;
        } else {
            code = 500;
        }
    }
    evhttp_clear_headers(&q);
    return code;
}

int dnsb_status_http(void *arg, const char *path, const char *query, struct evbuffer *out, const char **ctype)
{
    if (glb_status_page(path, out, ctype))
        return 200;
    *ctype = "application/json";
    if (strcmp(path, "/status.json") == 0)
        return status_json(arg, out);
    if (strcmp(path, "/lookup.json") == 0)
        return lookup_json(arg, query, out);
    return 404;
}

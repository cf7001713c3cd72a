/* dnslb's status page data (dnslb/status.h). Every string from the
 * configuration (service and site names, check results) goes out through
 * glb_json_string: the page puts them into the document as text only.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/status.h"

#include <event2/buffer.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "shared/dname.h"
#include "shared/measure/health.h"
#include "shared/metrics.h"
#include "shared/statuspage.h"

static const char *state_name(int st)
{
    return st == LB_SITE_ALIVE ? "up" : st == LB_SITE_DEAD ? "down" : "unknown";
}

/* The words for lb_site_view.answer. */
static const char *why_of(const char *answer)
{
    static const char *const why[][2] = {
        {"in:best", "best score"},
        {"in:margin", "within the margin of the best"},
        {"in:failopen", "fail-open: no site alive, all are given"},
        {"out:dead", "down"},
        {"out:unmeasured", "not measured yet"},
        {"out:slower", "slower than the best beyond the margin"},
    };
    for (size_t i = 0; i < sizeof(why) / sizeof(why[0]); i++)
        if (strcmp(answer, why[i][0]) == 0)
            return why[i][1];
    return answer;
}

/* ,"key":value: a member after the first. */
static void key_string(struct evbuffer *out, const char *key, const char *s)
{
    evbuffer_add_printf(out, ",\"%s\":", key);
    glb_json_string(out, s, strlen(s));
}

static void key_number(struct evbuffer *out, const char *key, double v)
{
    evbuffer_add_printf(out, ",\"%s\":", key);
    glb_json_number(out, v);
}

/* {"name":"..." : an object's start, the first member. */
static void start_named(struct evbuffer *out, const char *name)
{
    evbuffer_add_printf(out, "{\"name\":");
    glb_json_string(out, name, strlen(name));
}

/* "services":[{"name":..,"sites":[site(), ...]}, ...]: the sites of a
 * service are consecutive in the prober's table. */
typedef void (*site_fn)(struct evbuffer *out, const lb_site_view *v, double now);

static void each_service(lb_prober *p, struct evbuffer *out, site_fn site)
{
    lb_site_view v;
    const uint8_t *cur = NULL;
    double now = lb_prober_now(p);
    char name[1024];
    evbuffer_add_printf(out, ",\"services\":[");
    for (size_t i = 0; lb_prober_site_view(p, i, &v) == 0; i++) {
        if (v.service != cur) {
            glb_dname_to_str(v.service, name, sizeof(name));
            evbuffer_add_printf(out, "%s", cur ? "]}," : "");
            start_named(out, name);
            evbuffer_add_printf(out, ",\"sites\":[");
            cur = v.service;
        } else {
            evbuffer_add_printf(out, ",");
        }
        site(out, &v, now);
    }
    evbuffer_add_printf(out, "%s]", cur ? "]}" : "");
}

static void site_status(struct evbuffer *out, const lb_site_view *v, double now)
{
    start_named(out, v->site);
    key_string(out, "state", state_name(v->state));
    key_number(out, "latency_ms", v->latency_ms);
    key_number(out, "loss", v->loss);
    key_number(out, "score_ms", v->score_ms);
    evbuffer_add_printf(out, ",\"in_answer\":%s", strncmp(v->answer, "in:", 3) == 0 ? "true" : "false");
    key_string(out, "answer", v->answer);
    key_string(out, "why", why_of(v->answer));
    key_string(out, "last", v->last);
    key_number(out, "last_check_age_s", v->last_check > 0 ? now - v->last_check : NAN);
    evbuffer_add_printf(out, ",\"checks\":%lu,\"failures\":%lu,\"changes\":%lu}", v->checks, v->failures,
                        v->changes);
}

static void site_history(struct evbuffer *out, const lb_site_view *v, double now)
{
    static lb_history_sample s[LB_HISTORY_LEN]; /* the main thread only */
    size_t n = lb_history_get(v->history, now, s, LB_HISTORY_LEN);
    start_named(out, v->site);
    /* [seconds before now, state, latency ms, loss]: oldest first */
    evbuffer_add_printf(out, ",\"samples\":[");
    for (size_t k = 0; k < n; k++) {
        evbuffer_add_printf(out, "%s[%.0f,\"%s\",", k ? "," : "", now - s[k].t, state_name(s[k].state));
        glb_json_number(out, s[k].latency_ms);
        evbuffer_add_printf(out, ",");
        glb_json_number(out, s[k].loss);
        evbuffer_add_printf(out, "]");
    }
    evbuffer_add_printf(out, "]}");
}

static void status_json(lb_ctl *c, struct evbuffer *out)
{
    evbuffer_add_printf(out, "{\"daemon\":\"dnslb\"");
    key_string(out, "id", c->id);
    key_string(out, "version", PACKAGE_VERSION);
    evbuffer_add_printf(out, ",\"uptime_s\":%.0f", difftime(time(NULL), (time_t)c->started));
    each_service(c->prober, out, site_status);
    evbuffer_add_printf(out, "}\n");
}

static void history_json(lb_ctl *c, struct evbuffer *out)
{
    evbuffer_add_printf(out, "{\"step_s\":%d,\"window_s\":%d", LB_HISTORY_STEP, LB_HISTORY_STEP * LB_HISTORY_LEN);
    each_service(c->prober, out, site_history);
    evbuffer_add_printf(out, "}\n");
}

int lb_status_http(void *arg, const char *path, const char *query, struct evbuffer *out, const char **ctype)
{
    (void)query;
    if (glb_status_page(path, out, ctype))
        return 200;
    *ctype = "application/json";
    if (strcmp(path, "/status.json") == 0)
        status_json(arg, out);
    else if (strcmp(path, "/history.json") == 0)
        history_json(arg, out);
    else
        return 404;
    return 200;
}

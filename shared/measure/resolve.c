/* Host names of sites, resolved with libunbound in the event loop.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/measure/resolve.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "shared/log.h"

#define MIN_TTL 30
#define MAX_TTL 3600
#define MAX_ADDRS 16

typedef struct watch {
    struct watch *next;
    lb_resolver *r;
    unsigned handle;
    char name[256];
    lb_resolve_cb cb;
    void *arg;
    int async_a, async_aaaa;     /* libunbound query ids in flight, 0 = none */
    int done_a, done_aaaa;
    glb_addr addrs[MAX_ADDRS];
    size_t naddrs;
    unsigned ttl;
    char why[128];
    struct event *timer;         /* re-resolution */
} watch;

struct lb_resolver {
    struct ub_ctx *ub;
    struct event *ev;            /* ub_fd readable */
    struct event_base *base;
    watch *watches;
    unsigned next_handle;
};

static void ub_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    ub_process(arg);
}

struct event *lb_ub_watch(struct event_base *base, struct ub_ctx *ub)
{
    struct event *ev = event_new(base, ub_fd(ub), EV_READ | EV_PERSIST, ub_readable, ub);
    if (ev && event_add(ev, NULL) != 0) {
        event_free(ev);
        ev = NULL;
    }
    return ev;
}

struct ub_ctx *lb_ub_new(const glb_addr *fwd, size_t nfwd, int resolvconf, const char *trust_anchor, char *err,
                         size_t errlen)
{
    struct ub_ctx *ub = ub_ctx_create();
    if (!ub) {
        snprintf(err, errlen, "resolver: out of memory");
        return NULL;
    }
    int rc = 0;
    if (nfwd == 0 && resolvconf)
        rc = ub_ctx_resolvconf(ub, NULL);
    for (size_t i = 0; i < nfwd && rc == 0; i++) {
        char a[GLB_ADDRSTRLEN], f[GLB_ADDRSTRLEN + 8];
        glb_addr_str(&fwd[i], a, sizeof(a));
        snprintf(f, sizeof(f), "%s@%u", a, fwd[i].port);
        rc = ub_ctx_set_fwd(ub, f);
    }
    if (rc == 0 && trust_anchor && trust_anchor[0])
        rc = ub_ctx_add_ta_file(ub, trust_anchor);
    if (rc == 0)
        rc = ub_ctx_async(ub, 1);
    if (rc != 0) {
        snprintf(err, errlen, "resolver: %s", ub_strerror(rc));
        ub_ctx_delete(ub);
        return NULL;
    }
    return ub;
}

lb_resolver *lb_resolver_new(struct event_base *base, const lb_resolver_conf *conf, char *err, size_t errlen)
{
    lb_resolver *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "resolver: out of memory");
        return NULL;
    }
    r->base = base;
    r->ub = lb_ub_new(conf->addrs, conf->naddrs, 1, conf->trust_anchor, err, errlen);
    if (!r->ub) {
        lb_resolver_free(r);
        return NULL;
    }
    if (!(r->ev = lb_ub_watch(base, r->ub))) {
        snprintf(err, errlen, "resolver: cannot watch libunbound's descriptor");
        lb_resolver_free(r);
        return NULL;
    }
    return r;
}

static void cancel_queries(watch *w)
{
    if (w->async_a)
        ub_cancel(w->r->ub, w->async_a);
    if (w->async_aaaa)
        ub_cancel(w->r->ub, w->async_aaaa);
    w->async_a = w->async_aaaa = 0;
}

void lb_resolver_free(lb_resolver *r)
{
    if (!r)
        return;
    while (r->watches)
        lb_resolve_unwatch(r, r->watches->handle);
    if (r->ev)
        event_free(r->ev);
    if (r->ub)
        ub_ctx_delete(r->ub);
    free(r);
}

static void start(watch *w);

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    start(arg);
}

/* Both families answered: report, and come back when the TTL runs out. */
static void both_done(watch *w)
{
    unsigned ttl = w->ttl < MIN_TTL ? MIN_TTL : w->ttl > MAX_TTL ? MAX_TTL : w->ttl;
    struct timeval tv = {ttl, 0};
    evtimer_add(w->timer, &tv);
    w->cb(w->arg, w->addrs, w->naddrs, w->naddrs ? NULL : (w->why[0] ? w->why : "no address"));
}

static void answer(watch *w, int family, int err, struct ub_result *res)
{
    if (err != 0) {
        snprintf(w->why, sizeof(w->why), "%s", ub_strerror(err));
    } else if (res->bogus) {
        snprintf(w->why, sizeof(w->why), "DNSSEC validation failed: %s", res->why_bogus ? res->why_bogus : "bogus");
    } else if (res->nxdomain) {
        snprintf(w->why, sizeof(w->why), "no such name");
    } else if (res->havedata) {
        size_t len = family == AF_INET ? 4 : 16;
        for (int i = 0; res->data[i] && w->naddrs < MAX_ADDRS; i++) {
            if ((size_t)res->len[i] != len)
                continue; /* bound check: never trust the length */
            glb_addr *a = &w->addrs[w->naddrs++];
            memset(a, 0, sizeof(*a));
            a->family = family;
            memcpy(a->b, res->data[i], len);
        }
        if (w->ttl == 0 || (unsigned)res->ttl < w->ttl)
            w->ttl = (unsigned)res->ttl;
    }
    if (res)
        ub_resolve_free(res);
}

static void cb_a(void *arg, int err, struct ub_result *res)
{
    watch *w = arg;
    w->async_a = 0;
    w->done_a = 1;
    answer(w, AF_INET, err, res);
    if (w->done_aaaa)
        both_done(w);
}

static void cb_aaaa(void *arg, int err, struct ub_result *res)
{
    watch *w = arg;
    w->async_aaaa = 0;
    w->done_aaaa = 1;
    answer(w, AF_INET6, err, res);
    if (w->done_a)
        both_done(w);
}

static void start(watch *w)
{
    w->naddrs = 0;
    w->ttl = 0;
    w->why[0] = 0;
    w->done_a = w->done_aaaa = 0;
    if (ub_resolve_async(w->r->ub, w->name, 1, 1, w, cb_a, &w->async_a) != 0)
        w->done_a = 1;
    if (ub_resolve_async(w->r->ub, w->name, 28, 1, w, cb_aaaa, &w->async_aaaa) != 0)
        w->done_aaaa = 1;
    if (w->done_a && w->done_aaaa) {
        snprintf(w->why, sizeof(w->why), "cannot start resolution");
        both_done(w);
    }
}

unsigned lb_resolve_watch(lb_resolver *r, const char *name, lb_resolve_cb cb, void *arg)
{
    watch *w = calloc(1, sizeof(*w));
    if (!w)
        return 0;
    w->r = r;
    snprintf(w->name, sizeof(w->name), "%s", name);
    w->cb = cb;
    w->arg = arg;
    w->timer = evtimer_new(r->base, timer_cb, w);
    if (!w->timer) {
        free(w);
        return 0;
    }
    w->handle = ++r->next_handle ? r->next_handle : ++r->next_handle;
    w->next = r->watches;
    r->watches = w;
    start(w);
    return w->handle;
}

void lb_resolve_unwatch(lb_resolver *r, unsigned handle)
{
    for (watch **pp = &r->watches; *pp; pp = &(*pp)->next) {
        watch *w = *pp;
        if (w->handle != handle)
            continue;
        *pp = w->next;
        cancel_queries(w);
        event_free(w->timer);
        free(w);
        return;
    }
}

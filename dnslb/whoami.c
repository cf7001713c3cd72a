/* Egress discovery through the box's resolvers with libunbound, in the event
 * loop (one context per resolver, forwarding to exactly that resolver). The
 * parsers of its inputs are in whoami_parse.c.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/whoami.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unbound.h>

#include "shared/clock.h"
#include "shared/dname.h"
#include "shared/log.h"

#define TYPE_TXT 16
#define CLASS_IN 1
#define MAX_RESOLV_CONF (64 * 1024)

/* ---- The discoverer ---------------------------------------------------- */

typedef struct wres {
    lb_whoami *w;
    lb_nameserver ns;
    struct ub_ctx *ub;
    struct event *ev;          /* ub_fd readable */
    /* status, for reports */
    double last_ok;            /* wall clock of the last usable answer, 0 never */
    char last_err[96];
    int has_ecs;
    glb_prefix ecs;
    glb_addr last_src;
    int has_src;
} wres;

typedef struct wquery {
    lb_whoami *w;
    wres *r;
    int id;                    /* libunbound async id while in flight */
    int busy;
    unsigned gen;              /* round it belongs to */
} wquery;

typedef struct egress {
    glb_addr addr;
    double seen;               /* monotonic seconds */
    glb_addr via;              /* the resolver it was learned through */
} egress;

struct lb_whoami {
    struct event_base *base;
    lb_whoami_params p;
    char resolv_conf[256];
    lb_whoami_cb cb;
    void *arg;
    char trust_anchor[256];
    int from_resolv_conf;      /* no forwarders configured: watch resolv.conf */
    struct stat rc_stat;
    int rc_stat_ok;
    wres *res;
    size_t nres;
    lb_nameserver resolvers[LB_WHOAMI_MAX_RESOLVERS]; /* copy for lb_whoami_resolvers() */
    uint8_t names[LB_WHOAMI_MAX_NAMES][GLB_DNAME_MAX];
    size_t nnames;
    egress eg[LB_WHOAMI_MAX_EGRESS];
    size_t neg;
    glb_addr egress_out[LB_WHOAMI_MAX_EGRESS];
    /* the round in progress */
    wquery *q;
    size_t nq, outstanding;
    int running;
    unsigned gen;
    glb_addr found[LB_WHOAMI_MAX_EGRESS];
    glb_addr found_via[LB_WHOAMI_MAX_EGRESS];
    size_t nfound;
    unsigned long rounds;
    int started;
    unsigned pending;          /* LB_WHOAMI_* to report from the notify event */
    struct event *t_round;     /* next periodic round */
    struct event *t_timeout;   /* round deadline */
    struct event *t_poll;      /* resolv.conf */
    struct event *ev_done;     /* round finished (deferred out of ub_process) */
    struct event *ev_notify;   /* report to cb */
};

static void round_start(lb_whoami *w);
static void round_timer_cb(evutil_socket_t fd, short what, void *arg);
static void timeout_cb(evutil_socket_t fd, short what, void *arg);
static void done_cb(evutil_socket_t fd, short what, void *arg);

static void sync_out(lb_whoami *w)
{
    for (size_t i = 0; i < w->neg; i++)
        w->egress_out[i] = w->eg[i].addr;
}

static uint64_t rnd64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)random() << 32) ^ (uint64_t)random();
    }
    return v;
}

static struct timeval tv_of(double s)
{
    if (s < 0)
        s = 0;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    return tv;
}

void lb_whoami_params_default(lb_whoami_params *p)
{
    memset(p, 0, sizeof(*p));
    p->interval = 300;
    p->resolv_conf = "/etc/resolv.conf";
    p->resolv_poll = 5;
    p->round_timeout = 15;
    p->queries = 2;
    p->keep_rounds = 3;
}

static void notify(lb_whoami *w, unsigned what)
{
    w->pending |= what;
    event_active(w->ev_notify, EV_TIMEOUT, 0);
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_whoami *w = arg;
    unsigned p = w->pending;
    w->pending = 0;
    if (p && w->cb)
        w->cb(w->arg, p);
}

static void ub_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    wres *r = arg;
    ub_process(r->ub);
}

static void res_free(wres *r)
{
    if (r->ev)
        event_free(r->ev);
    if (r->ub)
        ub_ctx_delete(r->ub);
    r->ev = NULL;
    r->ub = NULL;
}

static int res_init(lb_whoami *w, wres *r, const lb_nameserver *ns, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->w = w;
    r->ns = *ns;
    r->ub = ub_ctx_create();
    if (!r->ub) {
        snprintf(err, errlen, "whoami: out of memory");
        return -1;
    }
    int rc = ub_ctx_set_option(r->ub, "do-not-query-localhost:", "no");
    if (rc == 0)
        rc = ub_ctx_set_fwd(r->ub, ns->fwd);
    if (rc == 0 && w->trust_anchor[0])
        rc = ub_ctx_add_ta_file(r->ub, w->trust_anchor);
    if (rc == 0)
        rc = ub_ctx_async(r->ub, 1);
    if (rc != 0) {
        snprintf(err, errlen, "whoami: resolver %s: %s", ns->fwd, ub_strerror(rc));
        res_free(r);
        return -1;
    }
    r->ev = event_new(w->base, ub_fd(r->ub), EV_READ | EV_PERSIST, ub_readable, r);
    if (!r->ev || event_add(r->ev, NULL) != 0) {
        snprintf(err, errlen, "whoami: cannot watch libunbound's descriptor");
        res_free(r);
        return -1;
    }
    return 0;
}

static void round_cancel(lb_whoami *w)
{
    for (size_t i = 0; i < w->nq; i++)
        if (w->q[i].busy) {
            ub_cancel(w->q[i].r->ub, w->q[i].id);
            w->q[i].busy = 0;
        }
    free(w->q);
    w->q = NULL;
    w->nq = w->outstanding = 0;
    w->running = 0;
    evtimer_del(w->t_timeout);
}

/* Builds contexts for list (n entries). On failure nothing changes. */
static int set_resolvers(lb_whoami *w, const lb_nameserver *list, size_t n, char *err, size_t errlen)
{
    wres *res = n ? calloc(n, sizeof(*res)) : NULL;
    if (n && !res) {
        snprintf(err, errlen, "whoami: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (res_init(w, &res[i], &list[i], err, errlen) != 0) {
            while (i > 0)
                res_free(&res[--i]);
            free(res);
            return -1;
        }
    round_cancel(w);
    /* keep the status of resolvers that stay */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < w->nres; j++)
            if (strcmp(res[i].ns.fwd, w->res[j].ns.fwd) == 0) {
                res[i].last_ok = w->res[j].last_ok;
                res[i].has_ecs = w->res[j].has_ecs;
                res[i].ecs = w->res[j].ecs;
                res[i].has_src = w->res[j].has_src;
                res[i].last_src = w->res[j].last_src;
                memcpy(res[i].last_err, w->res[j].last_err, sizeof(res[i].last_err));
            }
    for (size_t j = 0; j < w->nres; j++)
        res_free(&w->res[j]);
    free(w->res);
    w->res = res;
    w->nres = n;
    for (size_t i = 0; i < n; i++)
        w->resolvers[i] = list[i];
    /* egress learned through a resolver that is gone goes with it */
    size_t k = 0;
    int dropped = 0;
    for (size_t e = 0; e < w->neg; e++) {
        int keep = 0;
        for (size_t i = 0; i < n; i++)
            keep |= memcmp(&w->eg[e].via, &list[i].addr, sizeof(glb_addr)) == 0;
        if (keep)
            w->eg[k++] = w->eg[e];
        else
            dropped = 1;
    }
    w->neg = k;
    sync_out(w);
    if (dropped)
        notify(w, LB_WHOAMI_EGRESS);
    return 0;
}

static int same_list(const lb_whoami *w, const lb_nameserver *list, size_t n)
{
    if (n != w->nres)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].fwd, w->res[i].ns.fwd) != 0)
            return 0;
    return 1;
}

/* Reads the resolv.conf nameservers; returns the count, 0 when unreadable. */
static size_t read_resolv_conf(lb_whoami *w, lb_nameserver *list)
{
    FILE *f = fopen(w->resolv_conf, "r");
    if (!f) {
        log_warn("whoami: cannot read %s: %s", w->resolv_conf, strerror(errno));
        return 0;
    }
    char *buf = malloc(MAX_RESOLV_CONF + 1);
    size_t n = buf ? fread(buf, 1, MAX_RESOLV_CONF, f) : 0;
    fclose(f);
    if (!buf)
        return 0;
    buf[n] = '\0';
    size_t k = lb_resolvconf_parse(buf, list, LB_WHOAMI_MAX_RESOLVERS);
    free(buf);
    return k;
}

static int from_conf(const lb_resolver_conf *rc, lb_nameserver *list, size_t *n)
{
    size_t k = 0;
    for (size_t i = 0; i < rc->naddrs; i++) {
        if (k == LB_WHOAMI_MAX_RESOLVERS) {
            log_warn("whoami: only the first %d resolver addresses are asked", LB_WHOAMI_MAX_RESOLVERS);
            break;
        }
        char a[GLB_ADDRSTRLEN];
        memset(&list[k], 0, sizeof(list[k]));
        list[k].addr = rc->addrs[i];
        list[k].addr.port = 0;
        glb_addr_str(&rc->addrs[i], a, sizeof(a));
        snprintf(list[k].fwd, sizeof(list[k].fwd), "%s@%u", a, rc->addrs[i].port ? rc->addrs[i].port : 53);
        int dup = 0;
        for (size_t j = 0; j < k; j++)
            dup |= strcmp(list[j].fwd, list[k].fwd) == 0;
        if (!dup)
            k++;
    }
    *n = k;
    return 0;
}

static void log_resolvers(const lb_whoami *w, const char *why)
{
    char line[LB_WHOAMI_MAX_RESOLVERS * (GLB_ADDRSTRLEN + 40)];
    size_t o = 0;
    line[0] = '\0';
    for (size_t i = 0; i < w->nres && o < sizeof(line); i++)
        o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%s", i ? " " : "", w->res[i].ns.fwd);
    log_notice("whoami: resolvers (%s): %s", why, w->nres ? line : "none");
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_whoami *w = arg;
    struct stat st;
    int ok = stat(w->resolv_conf, &st) == 0;
    int changed = ok != w->rc_stat_ok ||
                  (ok && (st.st_ino != w->rc_stat.st_ino || st.st_dev != w->rc_stat.st_dev ||
                          st.st_size != w->rc_stat.st_size || st.st_mtim.tv_sec != w->rc_stat.st_mtim.tv_sec ||
                          st.st_mtim.tv_nsec != w->rc_stat.st_mtim.tv_nsec));
    if (changed) {
        w->rc_stat_ok = ok;
        if (ok)
            w->rc_stat = st;
        lb_nameserver list[LB_WHOAMI_MAX_RESOLVERS];
        size_t n = ok ? read_resolv_conf(w, list) : 0;
        if (!same_list(w, list, n)) {
            char err[256];
            if (set_resolvers(w, list, n, err, sizeof(err)) != 0) {
                log_err("%s changed: %s", w->resolv_conf, err);
            } else {
                log_resolvers(w, "resolv.conf changed");
                notify(w, LB_WHOAMI_RESOLVERS);
                round_start(w);
            }
        }
    }
    struct timeval tv = tv_of(w->p.resolv_poll);
    evtimer_add(w->t_poll, &tv);
}

/* The resolvers rc names, else resolv.conf's (whose stat is kept, so a
 * change shows). Returns how many went into list. */
static size_t resolver_list(lb_whoami *w, const lb_resolver_conf *rc, lb_nameserver *list)
{
    size_t n = 0;
    if (rc->naddrs == 0) {
        struct stat st;
        w->rc_stat_ok = stat(w->resolv_conf, &st) == 0;
        if (w->rc_stat_ok)
            w->rc_stat = st;
        return read_resolv_conf(w, list);
    }
    from_conf(rc, list, &n);
    return n;
}

lb_whoami *lb_whoami_new(struct event_base *base, const lb_resolver_conf *rc, const lb_whoami_params *p,
                         lb_whoami_cb cb, void *arg, char *err, size_t errlen)
{
    lb_whoami *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "whoami: out of memory");
        return NULL;
    }
    w->base = base;
    if (p)
        w->p = *p;
    else
        lb_whoami_params_default(&w->p);
    lb_whoami_params d;
    lb_whoami_params_default(&d);
    if (!w->p.interval)
        w->p.interval = d.interval;
    if (w->p.resolv_poll <= 0)
        w->p.resolv_poll = d.resolv_poll;
    if (w->p.round_timeout <= 0)
        w->p.round_timeout = d.round_timeout;
    if (!w->p.queries)
        w->p.queries = d.queries;
    if (!w->p.keep_rounds)
        w->p.keep_rounds = d.keep_rounds;
    snprintf(w->resolv_conf, sizeof(w->resolv_conf), "%s", w->p.resolv_conf ? w->p.resolv_conf : d.resolv_conf);
    w->p.resolv_conf = NULL; /* the copy above is used */
    w->cb = cb;
    w->arg = arg;
    snprintf(w->trust_anchor, sizeof(w->trust_anchor), "%s", rc->trust_anchor);
    w->t_round = evtimer_new(base, round_timer_cb, w);
    w->t_timeout = evtimer_new(base, timeout_cb, w);
    w->t_poll = evtimer_new(base, poll_cb, w);
    w->ev_done = event_new(base, -1, 0, done_cb, w);
    w->ev_notify = event_new(base, -1, 0, notify_cb, w);
    if (!w->t_round || !w->t_timeout || !w->t_poll || !w->ev_done || !w->ev_notify) {
        snprintf(err, errlen, "whoami: out of memory");
        lb_whoami_free(w);
        return NULL;
    }
    lb_nameserver list[LB_WHOAMI_MAX_RESOLVERS];
    w->from_resolv_conf = rc->naddrs == 0;
    size_t n = resolver_list(w, rc, list);
    if (set_resolvers(w, list, n, err, errlen) != 0) {
        lb_whoami_free(w);
        return NULL;
    }
    w->pending = 0;
    return w;
}

static void schedule_next(lb_whoami *w)
{
    /* ±10 % jitter: thousands of boxes do not ask in step */
    double jitter = ((double)(rnd64() % 2001) - 1000.0) / 10000.0;
    struct timeval tv = tv_of(w->p.interval * (1.0 + jitter));
    evtimer_add(w->t_round, &tv);
}

static void round_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_whoami *w = arg;
    round_start(w);
}

static int addr_cmp(const void *a, const void *b)
{
    const glb_addr *x = a, *y = b;
    if (x->family != y->family)
        return x->family < y->family ? -1 : 1;
    return memcmp(x->b, y->b, 16);
}

static int egress_cmp(const void *a, const void *b)
{
    return addr_cmp(&((const egress *)a)->addr, &((const egress *)b)->addr);
}

/* The round is over (all answered, or the deadline): merge what it found. */
static void round_finish(lb_whoami *w)
{
    double now = glb_mono();
    int changed = 0;
    char a[GLB_ADDRSTRLEN], v[GLB_ADDRSTRLEN];
    for (size_t i = 0; i < w->nfound; i++) {
        size_t e;
        for (e = 0; e < w->neg; e++)
            if (memcmp(&w->eg[e].addr, &w->found[i], sizeof(glb_addr)) == 0)
                break;
        if (e == w->neg) {
            if (w->neg == LB_WHOAMI_MAX_EGRESS) {
                log_warn("whoami: more than %d egress addresses; %s ignored", LB_WHOAMI_MAX_EGRESS,
                         glb_addr_str(&w->found[i], a, sizeof(a)));
                continue;
            }
            w->eg[w->neg].addr = w->found[i];
            w->neg++;
            changed = 1;
            log_notice("whoami: resolver %s egresses from %s", glb_addr_str(&w->found_via[i], v, sizeof(v)),
                       glb_addr_str(&w->found[i], a, sizeof(a)));
        }
        w->eg[e].seen = now;
        w->eg[e].via = w->found_via[i];
    }
    double keep = (double)w->p.interval * w->p.keep_rounds + w->p.round_timeout;
    size_t k = 0;
    for (size_t e = 0; e < w->neg; e++) {
        if (now - w->eg[e].seen <= keep) {
            w->eg[k++] = w->eg[e];
        } else {
            changed = 1;
            log_notice("whoami: egress %s not seen for %.0f s: dropped", glb_addr_str(&w->eg[e].addr, a, sizeof(a)),
                       now - w->eg[e].seen);
        }
    }
    w->neg = k;
    qsort(w->eg, w->neg, sizeof(w->eg[0]), egress_cmp);
    sync_out(w);
    free(w->q);
    w->q = NULL;
    w->nq = w->outstanding = 0;
    w->running = 0;
    w->rounds++;
    evtimer_del(w->t_timeout);
    if (changed)
        notify(w, LB_WHOAMI_EGRESS);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_whoami *w = arg;
    if (w->running && w->outstanding == 0)
        round_finish(w);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_whoami *w = arg;
    if (!w->running)
        return;
    for (size_t i = 0; i < w->nq; i++)
        if (w->q[i].busy) {
            ub_cancel(w->q[i].r->ub, w->q[i].id);
            w->q[i].busy = 0;
            snprintf(w->q[i].r->last_err, sizeof(w->q[i].r->last_err), "no answer in %.0f s", w->p.round_timeout);
        }
    w->outstanding = 0;
    round_finish(w);
}

static void answer_cb(void *arg, int err, struct ub_result *res)
{
    wquery *q = arg;
    lb_whoami *w = q->w;
    wres *r = q->r;
    q->busy = 0;
    if (w->outstanding)
        w->outstanding--;
    char a[GLB_ADDRSTRLEN];
    if (err != 0) {
        snprintf(r->last_err, sizeof(r->last_err), "%s", ub_strerror(err));
    } else if (res->bogus) {
        snprintf(r->last_err, sizeof(r->last_err), "DNSSEC validation failed");
    } else if (res->rcode != 0 || res->nxdomain) {
        snprintf(r->last_err, sizeof(r->last_err), "rcode %d", res->rcode);
    } else if (!res->havedata || res->qtype != TYPE_TXT) {
        snprintf(r->last_err, sizeof(r->last_err), "no TXT answer");
    } else {
        int got = 0;
        for (int i = 0; res->data[i] && i < 16; i++) {
            lb_whoami_txt t;
            if (res->len[i] < 0 || lb_whoami_parse_txt((const uint8_t *)res->data[i], (size_t)res->len[i], &t) != 0)
                continue;
            got = 1;
            r->last_ok = (double)time(NULL);
            r->last_err[0] = '\0';
            r->has_src = 1;
            r->last_src = t.src;
            if (t.has_ecs && (!r->has_ecs || memcmp(&r->ecs, &t.ecs, sizeof(t.ecs)) != 0))
                log_notice("whoami: resolver %s sends EDNS Client Subnet (%s): claim its clients with "
                           "client-prefix",
                           r->ns.fwd, glb_prefix_str(&t.ecs, a, sizeof(a)));
            r->has_ecs = t.has_ecs;
            if (t.has_ecs)
                r->ecs = t.ecs;
            int dup = 0;
            for (size_t k = 0; k < w->nfound; k++)
                dup |= memcmp(&w->found[k], &t.src, sizeof(glb_addr)) == 0;
            if (!dup && w->nfound < LB_WHOAMI_MAX_EGRESS) {
                w->found[w->nfound] = t.src;
                w->found_via[w->nfound] = r->ns.addr;
                w->nfound++;
            }
        }
        if (!got)
            snprintf(r->last_err, sizeof(r->last_err), "TXT answer without a usable src=");
    }
    if (r->last_err[0])
        log_info("whoami: through %s: %s", r->ns.fwd, r->last_err);
    if (res)
        ub_resolve_free(res);
    if (w->running && w->outstanding == 0)
        event_active(w->ev_done, EV_TIMEOUT, 0);
}

static void round_start(lb_whoami *w)
{
    if (!w->started)
        return;
    if (!evtimer_pending(w->t_round, NULL))
        schedule_next(w);
    if (w->running || w->nres == 0 || w->nnames == 0)
        return;
    size_t nq = w->nres * w->nnames * w->p.queries;
    w->q = calloc(nq, sizeof(*w->q));
    if (!w->q)
        return;
    w->nq = nq;
    w->nfound = 0;
    w->running = 1;
    w->gen++;
    w->outstanding = 0;
    size_t k = 0;
    for (size_t r = 0; r < w->nres; r++)
        for (size_t n = 0; n < w->nnames; n++)
            for (unsigned i = 0; i < w->p.queries; i++, k++) {
                wquery *q = &w->q[k];
                q->w = w;
                q->r = &w->res[r];
                q->gen = w->gen;
                char zone[1024], qname[1100];
                glb_dname_to_str(w->names[n], zone, sizeof(zone));
                snprintf(qname, sizeof(qname), "%016llx.%s", (unsigned long long)rnd64(), zone);
                q->busy = 1;
                w->outstanding++;
                int rc = ub_resolve_async(q->r->ub, qname, TYPE_TXT, CLASS_IN, q, answer_cb, &q->id);
                if (rc != 0) {
                    q->busy = 0;
                    w->outstanding--;
                    snprintf(q->r->last_err, sizeof(q->r->last_err), "%s", ub_strerror(rc));
                }
            }
    struct timeval tv = tv_of(w->p.round_timeout);
    evtimer_add(w->t_timeout, &tv);
    if (w->outstanding == 0)
        event_active(w->ev_done, EV_TIMEOUT, 0);
}

void lb_whoami_start(lb_whoami *w)
{
    if (w->started)
        return;
    w->started = 1;
    if (w->from_resolv_conf) {
        struct timeval tv = tv_of(w->p.resolv_poll);
        evtimer_add(w->t_poll, &tv);
    }
    log_resolvers(w, w->from_resolv_conf ? w->resolv_conf : "configured");
    round_start(w);
}

void lb_whoami_run(lb_whoami *w)
{
    round_start(w);
}

void lb_whoami_set_names(lb_whoami *w, const uint8_t *const *names, size_t n)
{
    int added = 0;
    uint8_t nn[LB_WHOAMI_MAX_NAMES][GLB_DNAME_MAX];
    size_t k = 0;
    for (size_t i = 0; i < n && k < LB_WHOAMI_MAX_NAMES; i++) {
        size_t len = glb_dname_len(names[i]);
        if (len == 0 || len > GLB_DNAME_MAX - 18) /* room for the nonce label */
            continue;
        int dup = 0;
        for (size_t j = 0; j < k; j++)
            dup |= glb_dname_equal(nn[j], names[i]);
        if (dup)
            continue;
        memcpy(nn[k], names[i], len);
        int known = 0;
        for (size_t j = 0; j < w->nnames; j++)
            known |= glb_dname_equal(w->names[j], names[i]);
        added |= !known;
        k++;
    }
    if (!added && k == w->nnames)
        return;
    memcpy(w->names, nn, sizeof(nn[0]) * k);
    w->nnames = k;
    if (added) {
        if (w->running) { /* ask the new zone too: start over */
            round_cancel(w);
        }
        round_start(w);
    }
}

int lb_whoami_reconfigure(lb_whoami *w, const lb_resolver_conf *rc, unsigned interval, char *err, size_t errlen)
{
    if (interval)
        w->p.interval = interval;
    int ta_changed = strcmp(w->trust_anchor, rc->trust_anchor) != 0;
    snprintf(w->trust_anchor, sizeof(w->trust_anchor), "%s", rc->trust_anchor);
    lb_nameserver list[LB_WHOAMI_MAX_RESOLVERS];
    int from_rc = rc->naddrs == 0;
    size_t n = resolver_list(w, rc, list);
    if (from_rc != w->from_resolv_conf) {
        w->from_resolv_conf = from_rc;
        evtimer_del(w->t_poll);
        if (from_rc && w->started) {
            struct timeval tv = tv_of(w->p.resolv_poll);
            evtimer_add(w->t_poll, &tv);
        }
    }
    if (same_list(w, list, n) && !ta_changed)
        return 0;
    if (set_resolvers(w, list, n, err, errlen) != 0)
        return -1;
    log_resolvers(w, "reconfigured");
    notify(w, LB_WHOAMI_RESOLVERS);
    round_start(w);
    return 0;
}

const lb_nameserver *lb_whoami_resolvers(const lb_whoami *w, size_t *n)
{
    *n = w->nres;
    return w->resolvers;
}

const glb_addr *lb_whoami_egress(const lb_whoami *w, size_t *n)
{
    *n = w->neg;
    return w->egress_out;
}

unsigned long lb_whoami_rounds(const lb_whoami *w)
{
    return w->rounds;
}

void lb_whoami_report(const lb_whoami *w, struct evbuffer *out)
{
    char a[GLB_ADDRSTRLEN], e[GLB_ADDRSTRLEN];
    for (size_t i = 0; i < w->nres; i++) {
        const wres *r = &w->res[i];
        evbuffer_add_printf(out, "resolver %s src %s ecs %s last-answer %.0f%s%s\n", r->ns.fwd,
                            r->has_src ? glb_addr_str(&r->last_src, a, sizeof(a)) : "-",
                            r->has_ecs ? glb_prefix_str(&r->ecs, e, sizeof(e)) : "-", r->last_ok,
                            r->last_err[0] ? " error " : "", r->last_err);
    }
    for (size_t i = 0; i < w->neg; i++)
        evbuffer_add_printf(out, "egress %s via %s\n", glb_addr_str(&w->eg[i].addr, a, sizeof(a)),
                            glb_addr_str(&w->eg[i].via, e, sizeof(e)));
}

void lb_whoami_free(lb_whoami *w)
{
    if (!w)
        return;
    round_cancel(w);
    for (size_t i = 0; i < w->nres; i++)
        res_free(&w->res[i]);
    free(w->res);
    if (w->t_round)
        event_free(w->t_round);
    if (w->t_timeout)
        event_free(w->t_timeout);
    if (w->t_poll)
        event_free(w->t_poll);
    if (w->ev_done)
        event_free(w->ev_done);
    if (w->ev_notify)
        event_free(w->ev_notify);
    free(w);
}

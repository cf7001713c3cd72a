/* The combined box's recursion (recurse.h). A query in flight is a pend:
 * linked under the lock by the answering thread that sends it to libunbound,
 * unlinked by the event loop's thread when libunbound calls back with the
 * answer (ub_process), or at the end by lb_recurse_free.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <unbound.h>

#include "dnslb/recanswer.h"
#include "dnslb/reccache.h"
#include "dnslb/recurse.h"
#include "shared/clock.h"
#include "shared/cfg.h"
#include "shared/log.h"
#include "shared/measure/resolve.h"

typedef struct pend {
    struct pend *prev, *next;
    struct lb_recurse *r;
    glb_deferred *d;
    glb_addr client;          /* for per-client answers (lb_recurse_set_lb) */
    int tcp;
    size_t qlen;
    uint8_t q[]; /* the client's query, for its answer */
} pend;

struct lb_recurse {
    struct ub_ctx *ub;
    struct event *ev;
    glb_prefix *allow;
    size_t nallow;
    unsigned max_pending;
    pthread_mutex_t lock;     /* the list and npending */
    pend *head;
    unsigned npending;
    lb_reccache *cache;       /* answers by question; NULL: off */
    lb_rec_lbfn lbfn;         /* per-client answers of load-balanced names; NULL: none */
    void *lbarg;
    uint8_t buf[65535];       /* answers are built here, in the loop's thread */
    _Atomic unsigned long long queries, answers, servfail, dropped;
};

lb_recurse *lb_recurse_new(struct event_base *base, const lb_recurse_conf *c, char *err, size_t errlen)
{
    lb_recurse *r = calloc(1, sizeof(*r));
    if (!r || pthread_mutex_init(&r->lock, NULL) != 0) {
        snprintf(err, errlen, "recursion: out of memory");
        free(r);
        return NULL;
    }
    r->max_pending = c->max_pending ? c->max_pending : LB_RECURSE_MAX_PENDING;
    size_t slots = c->cache_slots == LB_RECURSE_CACHE_DEFAULT ? LB_RECCACHE_SLOTS : c->cache_slots;
    if (slots && !(r->cache = lb_reccache_new(slots)))
        goto nomem;
    if (c->nallow && !(r->allow = malloc(c->nallow * sizeof(*r->allow))))
        goto nomem;
    if (c->nallow)
        memcpy(r->allow, c->allow, c->nallow * sizeof(*r->allow));
    r->nallow = c->nallow;
    r->ub = lb_ub_new(c->forward, c->nforward, 0, c->trust_anchor, err, errlen);
    if (!r->ub)
        goto fail;
    int rc = 0;
    if (c->root_hints[0] && (rc = ub_ctx_set_option(r->ub, "root-hints:", c->root_hints)) != 0) {
        snprintf(err, errlen, "recursion: root-hints '%s': %s", c->root_hints, ub_strerror(rc));
        goto fail;
    }
    for (size_t i = 0; i < c->nstubs; i++) {
        char a[GLB_ADDRSTRLEN], at[GLB_ADDRSTRLEN + 8];
        glb_addr_str(&c->stubs[i].addr, a, sizeof(a));
        snprintf(at, sizeof(at), "%s@%u", a, c->stubs[i].addr.port);
        if ((rc = ub_ctx_set_stub(r->ub, c->stubs[i].zone, at, 0)) != 0) {
            snprintf(err, errlen, "recursion: stub-zone %s %s: %s", c->stubs[i].zone, at, ub_strerror(rc));
            goto fail;
        }
    }
    for (size_t i = 0; i < c->noptions; i++) {
        char name[128];
        const char *colon = strchr(c->options[i], ':');
        size_t n = colon ? (size_t)(colon - c->options[i]) + 1 : 0;
        const char *val = colon ? colon + 1 + strspn(colon + 1, " \t") : "";
        if (n == 0 || n >= sizeof(name)) {
            snprintf(err, errlen, "recursion: unbound-option '%s': not 'name: value'", c->options[i]);
            goto fail;
        }
        memcpy(name, c->options[i], n);
        name[n] = '\0';
        if ((rc = ub_ctx_set_option(r->ub, name, val)) != 0) {
            snprintf(err, errlen, "recursion: unbound-option '%s': %s", c->options[i], ub_strerror(rc));
            goto fail;
        }
    }
    if (!(r->ev = lb_ub_watch(base, r->ub))) {
        snprintf(err, errlen, "recursion: cannot watch libunbound's descriptor");
        goto fail;
    }
    return r;
nomem:
    snprintf(err, errlen, "recursion: out of memory");
fail:
    lb_recurse_free(r);
    return NULL;
}

int lb_recurse_allowed(const lb_recurse *r, const glb_addr *client)
{
    for (size_t i = 0; i < r->nallow; i++)
        if (glb_prefix_contains(&r->allow[i], client))
            return 1;
    return 0;
}

static void unlink_pend(pend *p)
{
    lb_recurse *r = p->r;
    pthread_mutex_lock(&r->lock);
    if (p->prev)
        p->prev->next = p->next;
    else
        r->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    r->npending--;
    pthread_mutex_unlock(&r->lock);
}

static void answered(void *arg, int err, struct ub_result *res)
{
    pend *p = arg;
    lb_recurse *r = p->r;
    unlink_pend(p);
    size_t len;
    if (err != 0 || !res || res->bogus) {
        /* Bogus data is withheld (RFC 4035 5.5); the reason is in the log. */
        if (err != 0)
            log_debug("recursion: %s", ub_strerror(err));
        else if (res && res->why_bogus)
            log_info("recursion: %s: bogus: %s", res->qname, res->why_bogus);
        len = lb_rec_error(p->q, p->qlen, p->tcp, GLB_RCODE_SERVFAIL, r->buf, sizeof(r->buf));
        atomic_fetch_add_explicit(&r->servfail, 1, memory_order_relaxed);
    } else {
        lb_rec_lb lb = {r->lbfn, r->lbarg, &p->client};
        len = lb_rec_answer(p->q, p->qlen, p->tcp, res->answer_packet, (size_t)res->answer_len, res->secure, 0, &lb,
                            r->buf, sizeof(r->buf));
        glb_query q;
        if (r->cache && glb_query_parse(p->q, p->qlen, &q) == GLB_PARSE_OK)
            lb_reccache_put(r->cache, &q, res->answer_packet, (size_t)res->answer_len, res->secure, glb_mono(),
                            LB_RECURSE_CACHE_MAX_TTL);
        atomic_fetch_add_explicit(&r->answers, 1, memory_order_relaxed);
    }
    glb_deferred_reply(p->d, r->buf, len);
    free(p);
    if (res)
        ub_resolve_free(res);
}

size_t lb_recurse_query(lb_recurse *r, const glb_request *req, const glb_query *q)
{
    char name[1024]; /* glb_dname_to_str: at most 1010 */
    atomic_fetch_add_explicit(&r->queries, 1, memory_order_relaxed);
    lb_rec_lb lb = {r->lbfn, r->lbarg, req->from};
    size_t n = lb_reccache_answer(r->cache, q, req->pkt, req->len, req->tcp, glb_mono(), &lb, req->out, req->outcap);
    if (n)
        return n;
    pend *p = malloc(sizeof(*p) + req->len);
    if (!p)
        goto servfail;
    p->r = r;
    p->client = *req->from;
    p->tcp = req->tcp;
    p->qlen = req->len;
    memcpy(p->q, req->pkt, req->len);
    p->prev = NULL;
    pthread_mutex_lock(&r->lock);
    if (r->npending >= r->max_pending) {
        pthread_mutex_unlock(&r->lock);
        free(p);
        atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
        return 0; /* overloaded: the client retries, as with a lost datagram */
    }
    p->d = glb_request_defer(req);
    if (!p->d) {
        pthread_mutex_unlock(&r->lock);
        free(p);
        goto servfail;
    }
    p->next = r->head;
    if (r->head)
        r->head->prev = p;
    r->head = p;
    r->npending++;
    pthread_mutex_unlock(&r->lock);
    /* From here on p belongs to the callback, which may run at once. */
    glb_dname_to_str(q->qname, name, sizeof(name));
    if (ub_resolve_async(r->ub, name, q->qtype, q->qclass, p, answered, NULL) != 0) {
        unlink_pend(p);
        size_t len = lb_rec_error(req->pkt, req->len, req->tcp, GLB_RCODE_SERVFAIL, req->out, req->outcap);
        glb_deferred_reply(p->d, req->out, len);
        free(p);
        atomic_fetch_add_explicit(&r->servfail, 1, memory_order_relaxed);
    }
    return 0;
servfail:
    atomic_fetch_add_explicit(&r->servfail, 1, memory_order_relaxed);
    return lb_rec_error(req->pkt, req->len, req->tcp, GLB_RCODE_SERVFAIL, req->out, req->outcap);
}

void lb_recurse_set_lb(lb_recurse *r, lb_rec_lbfn fn, void *arg)
{
    r->lbfn = fn;
    r->lbarg = arg;
}

void lb_recurse_stats(const lb_recurse *r, struct evbuffer *out)
{
    if (!r)
        return;
    lb_recurse *w = (lb_recurse *)r; /* the lock, for a consistent count */
    pthread_mutex_lock(&w->lock);
    unsigned inflight = w->npending;
    pthread_mutex_unlock(&w->lock);
    unsigned long long hits, misses;
    lb_reccache_counts(w->cache, &hits, &misses);
    evbuffer_add_printf(out, "recursion.queries=%llu\nrecursion.answers=%llu\nrecursion.servfail=%llu\n"
                             "recursion.dropped=%llu\nrecursion.inflight=%u\nrecursion.cache_hits=%llu\n"
                             "recursion.cache_misses=%llu\n",
                        atomic_load(&w->queries), atomic_load(&w->answers), atomic_load(&w->servfail),
                        atomic_load(&w->dropped), inflight, hits, misses);
}

void lb_recurse_free(lb_recurse *r)
{
    if (!r)
        return;
    if (r->ev)
        event_free(r->ev);
    if (r->ub)
        ub_ctx_delete(r->ub); /* stops its thread; callbacks no longer come */
    while (r->head) {
        pend *p = r->head;
        r->head = p->next;
        glb_deferred_reply(p->d, NULL, 0);
        free(p);
    }
    pthread_mutex_destroy(&r->lock);
    lb_reccache_free(r->cache);
    free(r->allow);
    free(r);
}

void lb_recurse_conf_fini(lb_recurse_conf *c)
{
    free(c->allow);
    free(c->forward);
    free(c->stubs);
    for (size_t i = 0; i < c->noptions; i++)
        free(c->options[i]);
    free(c->options);
    memset(c, 0, sizeof(*c));
}

int lb_recurse_conf_copy(lb_recurse_conf *dst, const lb_recurse_conf *src)
{
    int fail = 0;
    *dst = *src;
    dst->allow = glb_cfg_dup(src->allow, src->nallow, sizeof(*src->allow), &fail);
    dst->forward = glb_cfg_dup(src->forward, src->nforward, sizeof(*src->forward), &fail);
    dst->stubs = glb_cfg_dup(src->stubs, src->nstubs, sizeof(*src->stubs), &fail);
    dst->options = src->noptions ? calloc(src->noptions, sizeof(*dst->options)) : NULL;
    if (src->noptions && !dst->options)
        fail = 1;
    for (size_t i = 0; dst->options && i < src->noptions; i++)
        if (!(dst->options[i] = strdup(src->options[i])))
            fail = 1;
    if (fail) {
        if (!dst->options)
            dst->noptions = 0;
        lb_recurse_conf_fini(dst);
        return -1;
    }
    return 0;
}

/* The Prometheus endpoint (shared/metrics_http.h). SPDX-License-Identifier: BSD-3-Clause */
#include "shared/metrics_http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/clock.h"
#include "shared/log.h"
#include "shared/ratelog.h"

struct glb_metrics_http {
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *lev;   /* owned by http once bound */
    struct event *resume;         /* accepting again after an accept error */
    glb_prefix *allow;
    size_t nallow;
    glb_metrics_fn fn;
    void *arg;
    glb_http_page_fn page_fn;
    void *page_arg;
    struct evhttp_connection *conns[GLB_METRICS_MAX_CONNS]; /* those with a request seen, until closed */
    struct {
        struct bufferevent *bev;  /* NULL: free */
        double since;             /* accepted at (glb_mono) */
        int ended;                /* shut down (age, source) */
        int checked;              /* its source checked against metrics-allow */
    } open[2 * GLB_METRICS_MAX_OPEN]; /* every connection accepted, until evhttp frees it: room for
                                        * those accepted in the burst that reached the limit */
    size_t nopen;
    int paused;                   /* listener disabled: nopen reached GLB_METRICS_MAX_OPEN */
    struct event *sweep_ev, *check_ev;
    glb_metrics_http_stats st;
    glb_ratelog log_refused, log_accept;
};

static int allowed(const glb_metrics_http *h, const glb_addr *a)
{
    for (size_t i = 0; i < h->nallow; i++)
        if (glb_prefix_contains(&h->allow[i], a))
            return 1;
    return 0;
}

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
    glb_metrics_http *h = arg;
    for (size_t i = 0; i < GLB_METRICS_MAX_CONNS; i++)
        if (h->conns[i] == evcon)
            h->conns[i] = NULL;
}

/* Whether evcon has (or now gets) one of the connection slots. */
static int take_slot(glb_metrics_http *h, struct evhttp_connection *evcon)
{
    long free_slot = -1;
    for (size_t i = 0; i < GLB_METRICS_MAX_CONNS; i++) {
        if (h->conns[i] == evcon)
            return 1;
        if (!h->conns[i] && free_slot < 0)
            free_slot = (long)i;
    }
    if (free_slot < 0)
        return 0;
    h->conns[free_slot] = evcon;
    evhttp_connection_set_closecb(evcon, conn_closed, h);
    return 1;
}

static int peer_of(struct evhttp_request *req, glb_addr *a)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    return glb_addr_from_sockaddr((struct sockaddr *)&ss, a);
}

static void handle(struct evhttp_request *req, void *arg)
{
    glb_metrics_http *h = arg;
    glb_addr peer;
    char buf[GLB_ADDRSTRLEN];
    if (peer_of(req, &peer) != 0 || !allowed(h, &peer)) {
        h->st.forbidden++;
        glb_log_limited(&h->log_refused, glb_mono(), GLB_LOG_WARN, "metrics: %s is not in metrics-allow",
                        peer_of(req, &peer) == 0 ? glb_addrport_str(&peer, buf, sizeof(buf)) : "?");
        evhttp_send_error(req, 403, "Forbidden");
        return;
    }
    if (!take_slot(h, evhttp_request_get_connection(req))) {
        h->st.busy++;
        evhttp_send_error(req, 503, "Too many connections");
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    int metrics = path && strcmp(path, "/metrics") == 0;
    if (!path || (!metrics && !h->page_fn)) {
        h->st.not_found++;
        evhttp_send_error(req, 404, "Not Found");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        h->st.bad_method++;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
        evhttp_send_error(req, 405, "Method Not Allowed");
        return;
    }
    struct evbuffer *body = evbuffer_new();
    if (!body) {
        evhttp_send_error(req, 500, "Out of memory");
        return;
    }
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    if (metrics) {
        h->fn(h->arg, body);
        h->st.scrapes++;
        evhttp_add_header(hdr, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        evhttp_send_reply(req, 200, "OK", body);
        evbuffer_free(body);
        return;
    }
    const char *query = evhttp_uri_get_query(uri), *ctype = "application/json";
    int code = h->page_fn(h->page_arg, path, query ? query : "", body, &ctype);
    if (code == 404)
        h->st.not_found++;
    else if (code == 200)
        h->st.pages++;
    evhttp_add_header(hdr, "Cache-Control", "no-store");
    evhttp_add_header(hdr, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(hdr, "Content-Security-Policy",
                      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                      "connect-src 'self'; img-src data:; form-action 'none'; frame-ancestors 'none'");
    if (code == 200) {
        evhttp_add_header(hdr, "Content-Type", ctype);
        evhttp_send_reply(req, 200, "OK", body);
    } else {
        evhttp_send_error(req, code, code == 404 ? "Not Found" : code == 400 ? "Bad Request" : "Internal Server Error");
    }
    evbuffer_free(body);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    glb_metrics_http *h = arg;
    if (!h->paused)
        evconnlistener_enable(h->lev);
}

/* The connections evhttp accepts, from on_accept until evhttp frees them
 * (it resets their callbacks then; our reference keeps the bufferevent, and
 * the descriptor, until sweep() lets it go). */
static int bev_freed(struct bufferevent *bev)
{
    bufferevent_data_cb r = NULL, w = NULL;
    bufferevent_event_cb e = NULL;
    bufferevent_getcb(bev, &r, &w, &e, NULL);
    return !r && !w && !e;
}

/* Lets go of the connections evhttp has freed, ends those open longer than
 * GLB_METRICS_LIFETIME (shutdown: evhttp reads the end and frees them), and
 * accepts again when there is room. Every second while any is open. */
static void sweep(glb_metrics_http *h)
{
    double now = glb_mono();
    size_t open = 0;
    for (size_t i = 0; i < 2 * GLB_METRICS_MAX_OPEN; i++) {
        struct bufferevent *bev = h->open[i].bev;
        if (!bev)
            continue;
        if (bev_freed(bev)) {
            bufferevent_decref(bev); /* closes the descriptor (BEV_OPT_CLOSE_ON_FREE) */
            h->open[i].bev = NULL;
            continue;
        }
        open++;
        evutil_socket_t fd = bufferevent_getfd(bev);
        if (!h->open[i].checked && fd >= 0) {
            h->open[i].checked = 1;
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);
            glb_addr peer;
            char a[GLB_ADDRSTRLEN];
            if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0 ||
                glb_addr_from_sockaddr((struct sockaddr *)&ss, &peer) != 0 || !allowed(h, &peer)) {
                h->st.forbidden++;
                glb_log_limited(&h->log_refused, now, GLB_LOG_WARN, "metrics: %s is not in metrics-allow",
                                sl <= sizeof(ss) && glb_addr_from_sockaddr((struct sockaddr *)&ss, &peer) == 0
                                    ? glb_addrport_str(&peer, a, sizeof(a))
                                    : "?");
                h->open[i].ended = 1;
                shutdown(fd, SHUT_RDWR); /* before evhttp reads a byte of it */
            }
        }
        if (now - h->open[i].since > GLB_METRICS_LIFETIME && fd >= 0 && !h->open[i].ended) {
            h->st.expired++;
            h->open[i].ended = 1;
            shutdown(fd, SHUT_RDWR);
        }
    }
    h->nopen = open;
    if (h->paused && open < GLB_METRICS_MAX_OPEN) {
        h->paused = 0;
        evconnlistener_enable(h->lev);
    }
    if (open && !evtimer_pending(h->sweep_ev, NULL)) {
        struct timeval tv = {1, 0};
        event_add(h->sweep_ev, &tv);
    }
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    sweep(arg);
}

/* Called by evhttp for each connection it accepts: the bufferevent it is to
 * use, tracked. When GLB_METRICS_MAX_OPEN are open the listener pauses (the
 * next clients wait in the listen backlog) until one closes. */
static struct bufferevent *on_accept(struct event_base *base, void *arg)
{
    glb_metrics_http *h = arg;
    sweep(h);
    size_t i = 0;
    while (i < 2 * GLB_METRICS_MAX_OPEN && h->open[i].bev)
        i++;
    if (i == 2 * GLB_METRICS_MAX_OPEN)
        return NULL; /* not expected: evhttp makes its own, untracked (closed after GLB_METRICS_TIMEOUT idle) */
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    bufferevent_incref(bev);
    h->open[i].bev = bev;
    h->open[i].since = glb_mono();
    h->open[i].ended = 0;
    h->open[i].checked = 0;
    struct timeval now = {0, 0}; /* once evhttp has given it its descriptor */
    event_add(h->check_ev, &now);
    if (++h->nopen >= GLB_METRICS_MAX_OPEN && !h->paused) {
        h->paused = 1;
        h->st.paused++;
        evconnlistener_disable(h->lev);
    }
    if (!evtimer_pending(h->sweep_ev, NULL)) {
        struct timeval tv = {1, 0};
        event_add(h->sweep_ev, &tv);
    }
    return bev;
}

/* accept() failed (out of descriptors): stop accepting for a second rather
 * than spin on a listening socket that stays readable. */
static void accept_error(struct evconnlistener *lev, void *arg)
{
    glb_metrics_http *h = arg;
    int err = EVUTIL_SOCKET_ERROR();
    glb_log_limited(&h->log_accept, glb_mono(), GLB_LOG_WARN, "metrics: accept: %s", strerror(err));
    evconnlistener_disable(lev);
    struct timeval tv = {1, 0};
    event_add(h->resume, &tv);
}

int glb_metrics_http_set_allow(glb_metrics_http *h, const glb_prefix *allow, size_t nallow)
{
    glb_prefix loop[2];
    if (nallow == 0) {
        glb_prefix_parse("127.0.0.0/8", &loop[0], NULL);
        glb_prefix_parse("::1/128", &loop[1], NULL);
        allow = loop;
        nallow = 2;
    }
    glb_prefix *v = malloc(nallow * sizeof(*v));
    if (!v)
        return -1;
    memcpy(v, allow, nallow * sizeof(*v));
    free(h->allow);
    h->allow = v;
    h->nallow = nallow;
    return 0;
}

glb_metrics_http *glb_metrics_http_new(struct event_base *base, const glb_addr *addr, const glb_prefix *allow,
                                       size_t nallow, glb_metrics_fn fn, void *arg, char *err, size_t errlen)
{
    glb_metrics_http *h = calloc(1, sizeof(*h));
    char a[GLB_ADDRSTRLEN];
    if (!h || glb_metrics_http_set_allow(h, allow, nallow) != 0) {
        snprintf(err, errlen, "out of memory");
        free(h);
        return NULL;
    }
    h->base = base;
    h->fn = fn;
    h->arg = arg;
    h->log_refused = (glb_ratelog)GLB_RATELOG_INIT("metrics: refused sources");
    h->log_accept = (glb_ratelog)GLB_RATELOG_INIT("metrics: accept errors");
    struct sockaddr_storage ss;
    socklen_t sl = glb_addr_to_sockaddr(addr, &ss);
    h->http = evhttp_new(base);
    h->resume = evtimer_new(base, resume_cb, h);
    h->sweep_ev = evtimer_new(base, sweep_cb, h);
    h->check_ev = evtimer_new(base, sweep_cb, h);
    if (!h->http || !h->resume || !h->sweep_ev || !h->check_ev) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    h->lev = evconnlistener_new_bind(base, NULL, NULL,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
                                         LEV_OPT_DISABLED,
                                     16, (struct sockaddr *)&ss, (int)sl);
    if (!h->lev) {
        snprintf(err, errlen, "cannot listen on %s: %s", glb_addrport_str(addr, a, sizeof(a)), strerror(errno));
        goto fail;
    }
    if (!evhttp_bind_listener(h->http, h->lev)) {
        evconnlistener_free(h->lev);
        h->lev = NULL;
        snprintf(err, errlen, "cannot serve HTTP on %s", glb_addrport_str(addr, a, sizeof(a)));
        goto fail;
    }
    evconnlistener_set_error_cb(h->lev, accept_error);
    evhttp_set_timeout(h->http, GLB_METRICS_TIMEOUT);
    evhttp_set_max_headers_size(h->http, GLB_METRICS_MAX_HEADERS);
    evhttp_set_max_body_size(h->http, 1024);
    /* Every method reaches handle(), which answers 405 to all but GET. */
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(h->http, handle, h);
    evhttp_set_bevcb(h->http, on_accept, h);
    evconnlistener_enable(h->lev);
    return h;
fail:
    glb_metrics_http_free(h);
    return NULL;
}

void glb_metrics_http_set_pages(glb_metrics_http *h, glb_http_page_fn fn, void *arg)
{
    h->page_fn = fn;
    h->page_arg = arg;
}

void glb_metrics_http_stats_get(const glb_metrics_http *h, glb_metrics_http_stats *out)
{
    *out = h->st;
}

void glb_metrics_http_stats_print(const glb_metrics_http *h, struct evbuffer *out)
{
    evbuffer_add_printf(out, "metrics.scrapes=%llu\nmetrics.pages=%llu\nmetrics.forbidden=%llu\nmetrics.not_found=%llu\n"
                             "metrics.bad_method=%llu\nmetrics.busy=%llu\nmetrics.paused=%llu\n"
                             "metrics.expired=%llu\nmetrics.open=%zu\n",
                        h->st.scrapes, h->st.pages, h->st.forbidden, h->st.not_found, h->st.bad_method, h->st.busy,
                        h->st.paused, h->st.expired, h->nopen);
}

void glb_metrics_http_free(glb_metrics_http *h)
{
    if (!h)
        return;
    if (h->http)
        evhttp_free(h->http); /* closes the connections (conn_closed) and the listener */
    for (size_t i = 0; i < 2 * GLB_METRICS_MAX_OPEN; i++)
        if (h->open[i].bev)
            bufferevent_decref(h->open[i].bev);
    if (h->resume)
        event_free(h->resume);
    if (h->sweep_ev)
        event_free(h->sweep_ev);
    if (h->check_ev)
        event_free(h->check_ev);
    free(h->allow);
    free(h);
}

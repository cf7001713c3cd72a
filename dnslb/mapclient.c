/* The DNS-LB's map protocol client: one session per DNS-B in the main event
 * loop. This file holds the client (configuration, TLS context, sessions,
 * public calls); a session's life is in mapsess.c, what it says and hears in
 * mapreg.c, the services' conversion, sets and file in mapsvc.c.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/mapclient_int.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "shared/clock.h"
#include "shared/log.h"
#include "shared/tls.h"

static const char *const state_names[] = {"idle", "waiting", "connecting", "hello", "established", "closing",
                                          "stopped"};

uint64_t lbmc_rnd64(lb_mapclient *mc)
{
    uint64_t x;
    if (getrandom(&x, sizeof(x), GRND_NONBLOCK) == (ssize_t)sizeof(x))
        return x;
    /* xorshift fallback: nonces and jitter need no secrecy */
    mc->rnd ^= mc->rnd << 13;
    mc->rnd ^= mc->rnd >> 7;
    mc->rnd ^= mc->rnd << 17;
    return mc->rnd;
}

void lb_mapclient_tuning_default(lb_mapclient_tuning *t)
{
    memset(t, 0, sizeof(*t));
    t->backoff_min = 1;
    t->backoff_max = 60;
    t->stable_after = 60;
    t->fatal_wait = 300;
    t->hello_timeout = GLB_MAP_HELLO_TIMEOUT;
    t->shutdown_wait = 1;
    lb_whoami_params_default(&t->whoami);
}

/* ---- TLS context --------------------------------------------------------- */

/* The client context, refused when our certificate's CN is not our id:
 * the DNS-B would refuse us anyway, with a less helpful message. */
static SSL_CTX *load_ctx(const lb_conf *conf, char *err, size_t errlen)
{
    const lb_map_conf *m = &conf->map;
    char e[512];
    SSL_CTX *ctx = glb_tls_client_ctx(m->tls_cert, m->tls_key, m->tls_ca, e, sizeof(e));
    if (!ctx) {
        snprintf(err, errlen, "dnsb: %s", e);
        return NULL;
    }
    char cn[64] = "";
    if (glb_tls_ctx_id(ctx, cn, sizeof(cn)) != 0)
        cn[0] = '\0';
    if (strcmp(cn, conf->id) != 0) {
        snprintf(err, errlen, "tls-cert-file '%s': certificate CN '%s' is not this box's id '%s'", m->tls_cert, cn,
                 conf->id);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int lb_mapclient_check(const lb_conf *conf, char *err, size_t errlen)
{
    SSL_CTX *ctx = load_ctx(conf, err, errlen);
    if (!ctx)
        return -1;
    SSL_CTX_free(ctx);
    return 0;
}

static void tls_stats(const lb_conf *conf, char files[3][256], struct stat st[3])
{
    const char *f[3] = {conf->map.tls_cert, conf->map.tls_key, conf->map.tls_ca};
    for (int i = 0; i < 3; i++) {
        snprintf(files[i], 256, "%s", f[i]);
        if (stat(f[i], &st[i]) != 0)
            memset(&st[i], 0, sizeof(st[i]));
    }
}

static int tls_same(char a[3][256], struct stat sa[3], char b[3][256], struct stat sb[3])
{
    for (int i = 0; i < 3; i++)
        if (strcmp(a[i], b[i]) != 0 || sa[i].st_ino != sb[i].st_ino || sa[i].st_size != sb[i].st_size ||
            sa[i].st_mtim.tv_sec != sb[i].st_mtim.tv_sec || sa[i].st_mtim.tv_nsec != sb[i].st_mtim.tv_nsec)
            return 0;
    return 1;
}

/* ---- Events -------------------------------------------------------------- */

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_mapclient *mc = arg;
    if (mc->cb)
        mc->cb(mc->arg);
}

void lbmc_notify(lb_mapclient *mc)
{
    /* deferred: the callback may reconfigure us; several sets coalesce */
    event_active(mc->ev_notify, 0, 0);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_mapclient *mc = arg;
    void (*done)(void *) = mc->done;
    if (mc->t_shutdown)
        evtimer_del(mc->t_shutdown);
    mc->done = NULL;
    if (done)
        done(mc->done_arg);
}

void lbmc_update_whoami_names(lb_mapclient *mc)
{
    const uint8_t *names[LB_WHOAMI_MAX_NAMES];
    size_t n = 0;
    for (size_t i = 0; i < mc->ns; i++) {
        sess *s = mc->s[i];
        int dup = 0;
        if (!s->has_whoami)
            continue;
        for (size_t k = 0; k < n; k++)
            dup |= glb_dname_equal(names[k], s->whoami);
        if (!dup && n < LB_WHOAMI_MAX_NAMES)
            names[n++] = s->whoami;
    }
    if (mc->whoami)
        lb_whoami_set_names(mc->whoami, names, n);
}

static void whoami_cb(void *arg, unsigned what)
{
    (void)what; /* resolvers or egress: both are claims */
    lbmc_registration_check(arg);
}

/* ---- The client ---------------------------------------------------------- */

static int find_sess(sess **arr, size_t n, const glb_addr *a)
{
    for (size_t i = 0; i < n; i++)
        if (arr[i] && arr[i]->addr.family == a->family && arr[i]->addr.port == a->port &&
            memcmp(arr[i]->addr.b, a->b, glb_addr_bytes(a->family)) == 0)
            return (int)i;
    return -1;
}

/* Sessions for conf's servers, in its order: those of old[] for servers
 * that stay (old is not changed), new ones for the others. NULL when out
 * of memory (nothing changed). */
static sess **build_sessions(lb_mapclient *mc, const lb_conf *conf, sess **old, size_t nold, size_t *n)
{
    sess **arr = calloc(conf->map.nservers ? conf->map.nservers : 1, sizeof(*arr));
    size_t k = 0;
    if (!arr)
        return NULL;
    for (size_t i = 0; i < conf->map.nservers; i++) {
        const glb_addr *a = &conf->map.servers[i];
        if (find_sess(arr, k, a) >= 0) {
            char b[GLB_ADDRSTRLEN];
            log_warn("dnsb: map-server %s given twice", glb_addrport_str(a, b, sizeof(b)));
            continue;
        }
        int j = find_sess(old, nold, a);
        sess *s = j >= 0 ? old[j] : lbmc_sess_new(mc, a);
        if (!s) {
            for (size_t x = 0; x < k; x++)
                if (find_sess(old, nold, &arr[x]->addr) < 0)
                    lbmc_sess_free(arr[x]);
            free(arr);
            return NULL;
        }
        arr[k++] = s;
    }
    *n = k;
    return arr;
}

lb_mapclient *lb_mapclient_new(struct event_base *base, const lb_conf *conf, const lb_mapclient_tuning *t,
                               lb_mapclient_cb cb, void *arg, char *err, size_t errlen)
{
    lb_mapclient *mc = calloc(1, sizeof(*mc));
    if (!mc) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    mc->base = base;
    if (t)
        mc->t = *t;
    else
        lb_mapclient_tuning_default(&mc->t);
    mc->cb = cb;
    mc->arg = arg;
    mc->rnd = (uint64_t)time(NULL) * 2654435761u | 1;
    if (!(mc->ctx = load_ctx(conf, err, errlen)))
        goto fail;
    tls_stats(conf, mc->tls_files, mc->tls_stat);
    lbmc_take_conf(mc, conf);
    mc->ev_notify = event_new(base, -1, 0, notify_cb, mc);
    mc->ev_done = event_new(base, -1, 0, done_cb, mc);
    mc->t_rank = evtimer_new(base, lbmc_rank_cb, mc);
    if (!mc->ev_notify || !mc->ev_done || !mc->t_rank || !(mc->s = build_sessions(mc, conf, NULL, 0, &mc->ns))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    mc->agent = conf->agent;
    lb_whoami_params wp = mc->t.whoami;
    wp.interval = conf->map.whoami_interval;
    /* An agent claims client prefixes only: no resolvers to discover. */
    if (!mc->agent && !(mc->whoami = lb_whoami_new(base, &conf->resolver, &wp, whoami_cb, mc, err, errlen)))
        goto fail;
    if (mc->services_file[0]) {
        lb_svcfile_block *b = calloc(mc->ns ? mc->ns : 1, sizeof(*b));
        char e[1024];
        if (!b) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < mc->ns; i++)
            b[i].server = mc->s[i]->addr;
        /* a bad file does not keep the box from serving: the DNS-Bs resend */
        if (lb_svcfile_read(mc->services_file, b, mc->ns, e, sizeof(e)) != 0)
            log_err("%s", e);
        size_t total = 0;
        for (size_t i = 0; i < mc->ns; i++) {
            mc->s[i]->set = b[i].set;
            snprintf(mc->s[i]->peer_id, sizeof(mc->s[i]->peer_id), "%s", b[i].id);
            total += b[i].set.n;
        }
        free(b);
        if (total)
            log_notice("dnsb: %zu services read from %s", total, mc->services_file);
    }
    lbmc_build_claims(mc);
    return mc;
fail:
    lb_mapclient_free(mc);
    return NULL;
}

void lb_mapclient_start(lb_mapclient *mc)
{
    if (mc->started || mc->stopping)
        return;
    mc->started = 1;
    if (mc->whoami)
        lb_whoami_start(mc->whoami);
    lbmc_registration_check(mc);
    for (size_t i = 0; i < mc->ns; i++)
        if (mc->s[i]->state == ST_IDLE)
            lbmc_sess_connect(mc->s[i]);
}

int lb_mapclient_reconfigure(lb_mapclient *mc, const lb_conf *conf, char *err, size_t errlen)
{
    SSL_CTX *ctx = load_ctx(conf, err, errlen);
    if (!ctx)
        return -1;
    size_t n = 0;
    sess **old = mc->s;
    size_t nold = mc->ns;
    sess **arr = build_sessions(mc, conf, old, nold, &n);
    if (!arr) {
        snprintf(err, errlen, "out of memory");
        SSL_CTX_free(ctx);
        return -1;
    }
    if (mc->whoami && lb_whoami_reconfigure(mc->whoami, &conf->resolver, conf->map.whoami_interval, err, errlen) != 0) {
        for (size_t i = 0; i < n; i++) /* undo: the new sessions go */
            if (find_sess(old, nold, &arr[i]->addr) < 0)
                lbmc_sess_free(arr[i]);
        free(arr);
        SSL_CTX_free(ctx);
        return -1;
    }
    char files[3][256];
    struct stat st[3];
    tls_stats(conf, files, st);
    int tls_changed = !tls_same(files, st, mc->tls_files, mc->tls_stat);
    memcpy(mc->tls_files, files, sizeof(files));
    memcpy(mc->tls_stat, st, sizeof(st));
    SSL_CTX_free(mc->ctx); /* live SSL objects hold their own reference */
    mc->ctx = ctx;
    int gone = 0;
    for (size_t j = 0; j < nold; j++)
        if (find_sess(arr, n, &old[j]->addr) < 0) {
            log_notice("map-server %s: no longer configured", old[j]->label);
            gone |= old[j]->set.n > 0;
            lbmc_sess_free(old[j]);
        }
    free(old);
    mc->s = arr;
    mc->ns = n;
    char oldfile[256];
    snprintf(oldfile, sizeof(oldfile), "%s", mc->services_file);
    unsigned old_refresh = mc->refresh;
    lbmc_take_conf(mc, conf);
    double now = glb_mono();
    for (size_t i = 0; i < mc->ns; i++) {
        sess *s = mc->s[i];
        if (s->state == ST_IDLE && mc->started && !mc->stopping) {
            lbmc_sess_connect(s);
        } else if (tls_changed && s->state != ST_IDLE && s->state != ST_STOPPED) {
            log_notice("map-server %s: TLS files changed, reconnecting", s->label);
            if (s->state == ST_UP)
                lbmc_send_simple(s, GLB_MAP_BYE, GLB_MAP_BYE_RESTART, "new certificates", 0);
            s->backoff = mc->t.backoff_min;
            lbmc_sess_close(s, 0, 0);
        } else if (s->state == ST_UP && mc->refresh < old_refresh && s->next_reg > now + mc->refresh) {
            s->next_reg = now + mc->refresh;
            lbmc_sess_arm(s);
        }
    }
    lbmc_update_whoami_names(mc);
    if (gone || strcmp(oldfile, mc->services_file) != 0)
        lbmc_write_services_file(mc);
    if (mc->started)
        lbmc_registration_check(mc);
    return 0;
}

lb_conf *lb_mapclient_effective(const lb_mapclient *mc, const lb_conf *local, char *err, size_t errlen)
{
    const lb_svcset **sets = calloc(mc->ns ? mc->ns : 1, sizeof(*sets));
    if (!sets) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < mc->ns; i++)
        sets[i] = &mc->s[i]->set;
    lb_conf *c = lb_svc_effective(sets, mc->ns, local, NULL, err, errlen);
    free(sets);
    return c;
}

static void shutdown_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_mapclient *mc = arg;
    for (size_t i = 0; i < mc->ns; i++) /* BYEs that did not leave in time */
        if (mc->s[i]->state == ST_CLOSING)
            lbmc_sess_end(mc->s[i], 0, 0);
    event_active(mc->ev_done, 0, 0);
}

void lb_mapclient_shutdown(lb_mapclient *mc, void (*done)(void *arg), void *arg)
{
    mc->stopping = 1;
    mc->done = done;
    mc->done_arg = arg;
    for (size_t i = 0; i < mc->ns; i++) {
        sess *s = mc->s[i];
        if (s->state == ST_UP) {
            /* A box that stops withdraws: its resolvers go to the standby
             * and fail-open now, not when the registration would expire. */
            lbmc_send_withdrawal(s);
            lbmc_send_simple(s, GLB_MAP_BYE, GLB_MAP_BYE_SHUTDOWN, "stopping", 0);
            lbmc_sess_close(s, 0, 0);
        } else if (s->state != ST_CLOSING) {
            lbmc_sess_drop(s);
            s->state = ST_STOPPED;
        }
    }
    if (!mc->t_shutdown)
        mc->t_shutdown = evtimer_new(mc->base, shutdown_timer_cb, mc);
    if (mc->t_shutdown) {
        struct timeval tv = lbmc_tv(mc->t.shutdown_wait);
        evtimer_add(mc->t_shutdown, &tv);
    }
    lbmc_shutdown_check(mc);
}

size_t lb_mapclient_withdraw(lb_mapclient *mc, int withdraw)
{
    size_t up = 0;
    mc->withdrawn = withdraw != 0;
    lbmc_registration_check(mc); /* what REGISTER says changed: sent to every session up */
    for (size_t i = 0; i < mc->ns; i++)
        up += mc->s[i]->state == ST_UP;
    return up;
}

void lb_mapclient_free(lb_mapclient *mc)
{
    if (!mc)
        return;
    for (size_t i = 0; i < mc->ns; i++)
        lbmc_sess_free(mc->s[i]);
    free(mc->s);
    lb_whoami_free(mc->whoami);
    if (mc->ctx)
        SSL_CTX_free(mc->ctx);
    if (mc->ev_notify)
        event_free(mc->ev_notify);
    if (mc->ev_done)
        event_free(mc->ev_done);
    if (mc->t_shutdown)
        event_free(mc->t_shutdown);
    if (mc->t_rank)
        event_free(mc->t_rank);
    free(mc->rk_frame);
    glb_map_reader_free(&mc->rd);
    free(mc->clients);
    free(mc->claims);
    free(mc->image);
    free(mc);
}

void lb_mapclient_stats_get(const lb_mapclient *mc, lb_mapclient_stats *out)
{
    *out = mc->st;
    out->up = 0;
    for (size_t i = 0; i < mc->ns; i++)
        out->up += mc->s[i]->state == ST_UP;
    const lb_svcset **sets = calloc(mc->ns ? mc->ns : 1, sizeof(*sets));
    if (sets) {
        for (size_t i = 0; i < mc->ns; i++)
            sets[i] = &mc->s[i]->set;
        out->services = lb_svc_union_count(sets, mc->ns);
        free(sets);
    }
}

void lb_mapclient_report(const lb_mapclient *mc, struct evbuffer *out)
{
    for (size_t i = 0; i < mc->ns; i++) {
        const sess *s = mc->s[i];
        evbuffer_add_printf(out, "map-server %s: %s id %s serial %" PRIu64 " services %zu", s->label,
                            state_names[s->state], s->peer_id[0] ? s->peer_id : "-", s->set.serial, s->set.n);
        if (s->acked)
            evbuffer_add_printf(out, " lifetime %" PRIu32 " accepted %zu rejected %zu", s->granted, s->naccepted,
                                s->nrejected);
        if (s->state == ST_UP && s->rtt >= 0)
            evbuffer_add_printf(out, " rtt %.1f ms", s->rtt * 1e3);
        if (s->state != ST_UP && s->last_err[0])
            evbuffer_add_printf(out, " last-error \"%s\"", s->last_err);
        evbuffer_add_printf(out, "\n");
    }
    if (mc->withdrawn)
        evbuffer_add_printf(out, "withdrawn: registrations say lifetime 0 (dnslb-control register resumes)\n");
    evbuffer_add_printf(out, "claims: %zu\n", mc->nclaims);
    for (size_t i = 0; i < mc->nclaims; i++) {
        char p[GLB_ADDRSTRLEN];
        evbuffer_add_printf(out, "claim %s %s\n", glb_map_claim_kind_name(mc->claims[i].kind),
                            glb_prefix_str(&mc->claims[i].prefix, p, sizeof(p)));
    }
    if (mc->whoami)
        lb_whoami_report(mc->whoami, out);
}

void lb_mapclient_on_request(lb_mapclient *mc, void (*fn)(void *arg))
{
    mc->on_request = fn;
}

lb_whoami *lb_mapclient_whoami(lb_mapclient *mc)
{
    return mc->whoami;
}

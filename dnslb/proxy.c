/* Proxy-cache mode: the VCL rendered from the ranking, and its loading
 * with varnishadm from the event loop. SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/proxy.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shared/clock.h"
#include "shared/dname.h"
#include "shared/log.h"
#include "shared/url.h"

extern char **environ;

/* ---------------------------------------------------------------- rendering */

/* A VCL identifier part: [a-z0-9] kept, '-' as '_', anything else as xHH. */
static void ident_part(char *out, size_t n, const char *s)
{
    size_t o = 0;
    for (; *s && o + 4 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
            out[o++] = (char)ch;
        else if (ch == '-')
            out[o++] = '_';
        else
            o += (size_t)snprintf(out + o, n - o, "x%02x", ch);
    }
    out[o] = 0;
}

/* Text safe in a '#' comment: printable ASCII, others as '?'. */
static void comment_text(char *out, size_t n, const char *s)
{
    size_t o = 0;
    for (; *s && o + 1 < n; s++)
        out[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    out[o] = 0;
}

/* The regular expression (inside a VCL long string {"..."}) that a Host
 * header of service name (wire form) or of one label below it matches,
 * with an optional port: [a-z0-9_-] literal, other bytes as \xHH, so no
 * quote or brace ever reaches the VCL. */
static void host_regex(char *out, size_t n, const uint8_t *name)
{
    size_t o = (size_t)snprintf(out, n, "(?i)^([^.:/]+\\.)?");
    for (const uint8_t *l = name; *l && o + 8 < n; l += *l + 1) {
        if (l != name)
            o += (size_t)snprintf(out + o, n - o, "\\.");
        for (unsigned i = 1; i <= *l && o + 8 < n; i++) {
            unsigned char ch = l[i];
            if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')
                out[o++] = (char)ch;
            else if (ch >= 'A' && ch <= 'Z')
                out[o++] = (char)(ch - 'A' + 'a');
            else
                o += (size_t)snprintf(out + o, n - o, "\\x%02x", ch);
        }
    }
    snprintf(out + o, n - o, "\\.?(:[0-9]+)?$");
}

/* The port the origin serves on: its check URL's when that is plain http,
 * else origin-port. */
static unsigned origin_port(const lb_conf *conf, size_t svc, const char *site)
{
    const lb_service_conf *s = &conf->services[svc];
    for (size_t i = 0; i < s->nsites; i++)
        if (strcmp(s->sites[i].name, site) == 0 && s->sites[i].check[0]) {
            glb_url u;
            const char *why;
            if (glb_url_parse(s->sites[i].check, &u, &why) == 0 && !u.tls)
                return u.port;
        }
    return conf->proxy.origin_port;
}

typedef struct origin {
    char id[256];     /* backend name */
    unsigned weight;
    size_t site;      /* index among the ranked sites */
} origin;

/* Service svc's origins in order (one per site address): ranked sites
 * first..first+n, of which the leading nbest form the answer set. */
static size_t svc_origins(const lb_table *t, size_t svc, origin *o, size_t max, size_t *nbest)
{
    const lb_tsvc *sv = &t->svcs[svc];
    size_t best = sv->failopen ? sv->count : sv->share < sv->count ? sv->share : sv->count;
    if (!sv->failopen && best > sv->answer_count)
        best = sv->answer_count;
    size_t n = 0;
    *nbest = 0;
    for (size_t k = 0; k < sv->count; k++) {
        const lb_tsite *s = &t->sites[sv->first + k];
        char part[GLB_SITE_NAME_MAX * 3 + 1];
        ident_part(part, sizeof(part), s->name);
        for (uint32_t a = 0; a < s->naddrs && n < max; a++) {
            snprintf(o[n].id, sizeof(o[n].id), "glb_%zu_%s_%u", svc, part, a);
            o[n].weight = s->weight ? s->weight : 1;
            o[n].site = k;
            n++;
            if (k < best)
                *nbest = n;
        }
    }
    return n;
}

#define MAX_ORIGINS 256

int lb_proxy_render(const lb_table *t, const lb_conf *conf, const char *id, struct evbuffer *out)
{
    origin *o = calloc(MAX_ORIGINS, sizeof(*o));
    char *rx = malloc(4 * GLB_DNAME_MAX + 64);
    if (!o || !rx) {
        free(o);
        free(rx);
        return -1;
    }
    size_t nsvc = t->nsvcs < conf->nservices ? t->nsvcs : conf->nservices;
    char cid[128], name[1024], cname[1100], a[GLB_ADDRSTRLEN];
    comment_text(cid, sizeof(cid), id);
    evbuffer_add_printf(out,
                        "vcl 4.1;\n"
                        "# glb proxy-cache: rendered by dnslb %s from its ranking. Do not edit: the next\n"
                        "# change of the ranking replaces it (dnslb.conf(5), section proxy).\n"
                        "import directors;\nimport std;\n\n"
                        "backend default none;\n",
                        cid);
    /* Backends and their comments. */
    for (size_t i = 0; i < nsvc; i++) {
        const lb_tsvc *sv = &t->svcs[i];
        size_t nbest, n = svc_origins(t, i, o, MAX_ORIGINS, &nbest);
        comment_text(cname, sizeof(cname), glb_dname_to_str(sv->name, name, sizeof(name)));
        evbuffer_add_printf(out, "\n# service %zu: %s%s\n", i, cname, sv->failopen ? " (every site dead: all of them)" : "");
        for (size_t k = 0; k < n; k++) {
            const lb_tsite *s = &t->sites[sv->first + o[k].site];
            size_t idx = 0; /* which of the site's addresses this is */
            for (size_t j = k; j > 0 && o[j - 1].site == o[k].site; j--)
                idx++;
            glb_addr ad = t->addrs[s->addr_first + idx];
            ad.port = 0;
            char csite[GLB_SITE_NAME_MAX];
            comment_text(csite, sizeof(csite), s->name);
            evbuffer_add_printf(out,
                                "backend %s { # site %s, %s\n"
                                "    .host = \"%s\";\n    .port = \"%u\";\n    .connect_timeout = 1s;\n}\n",
                                o[k].id, csite, k < nbest ? "answer set" : "next in rank",
                                glb_addr_str(&ad, a, sizeof(a)),
                                origin_port(conf, i, s->name));
        }
        if (n == 0)
            evbuffer_add_printf(out, "# no origin ranked: requests get 503\n");
    }
    /* Peers: other DNS-LBs' proxies, asked first, from their cache only. */
    size_t np = conf->proxy.npeers;
    for (size_t k = 0; k < np; k++) {
        char part[200];
        glb_addr ad = conf->proxy.peers[k].addr;
        ident_part(part, sizeof(part), conf->proxy.peers[k].name);
        comment_text(name, sizeof(name), conf->proxy.peers[k].name);
        evbuffer_add_printf(out,
                            "%sbackend glb_peer_%s { # peer %s, asked first for what its cache holds\n"
                            "    .host = \"%s\";\n    .port = \"%u\";\n    .connect_timeout = 1s;\n"
                            "    .first_byte_timeout = 5s;\n}\n",
                            k ? "" : "\n# peers\n", part, name, glb_addr_str(&ad, a, sizeof(a)), ad.port);
    }
    /* The directors. */
    evbuffer_add_printf(out, "\nsub vcl_init {\n");
    for (size_t i = 0; i < nsvc; i++) {
        size_t nbest, n = svc_origins(t, i, o, MAX_ORIGINS, &nbest);
        if (n == 0)
            continue;
        evbuffer_add_printf(out, "    new glb_%zu_best = directors.random();\n", i);
        for (size_t k = 0; k < nbest; k++)
            evbuffer_add_printf(out, "    glb_%zu_best.add_backend(%s, %u);\n", i, o[k].id, o[k].weight);
        evbuffer_add_printf(out, "    new glb_%zu = directors.fallback();\n    glb_%zu.add_backend(glb_%zu_best.backend());\n",
                            i, i, i);
        for (size_t k = nbest; k < n; k++)
            evbuffer_add_printf(out, "    glb_%zu.add_backend(%s);\n", i, o[k].id);
    }
    evbuffer_add_printf(out, "}\n");
    /* Routing: the Host header names the service. */
    evbuffer_add_printf(out, "\nsub vcl_recv {\n    if (!(false");
    for (size_t i = 0; i < nsvc; i++) {
        host_regex(rx, 4 * GLB_DNAME_MAX + 64, t->svcs[i].name);
        evbuffer_add_printf(out, " ||\n          req.http.host ~ {\"%s\"}", rx);
    }
    evbuffer_add_printf(out, ")) {\n        return (synth(404, \"Not a service of this proxy\"));\n    }\n}\n");
    /* The cache key: the URL and the host name without port or final dot,
     * in lower case, so that peers listening on other ports share keys. */
    evbuffer_add_printf(out, "\nsub vcl_hash {\n    hash_data(req.url);\n"
                             "    hash_data(std.tolower(regsub(req.http.host, {\"\\.?(:[0-9]+)?$\"}, \"\")));\n"
                             "    return (lookup);\n}\n");
    /* As a peer: a lookup from another DNS-LB's proxy (X-Glb-Peer-Lookup)
     * is answered from the cache only, never fetched. */
    char sid[128];
    ident_part(sid, sizeof(sid), id);
    evbuffer_add_printf(out,
                        "\n# A peer DNS-LB's lookup (X-Glb-Peer-Lookup) gets what this cache holds, or a 404\n"
                        "# with X-Glb-Peer-Miss; it never makes this proxy fetch.\n"
                        "sub vcl_miss {\n    if (req.http.X-Glb-Peer-Lookup) {\n"
                        "        return (synth(404, \"Not in this cache\"));\n    }\n}\n\n"
                        "sub vcl_pass {\n    if (req.http.X-Glb-Peer-Lookup) {\n"
                        "        return (synth(404, \"Not in this cache\"));\n    }\n}\n\n"
                        "sub vcl_synth {\n    if (req.http.X-Glb-Peer-Lookup && resp.status == 404) {\n"
                        "        set resp.http.X-Glb-Peer-Miss = \"1\";\n    }\n}\n\n"
                        "sub vcl_deliver {\n    if (req.http.X-Glb-Peer-Lookup) {\n"
                        "        set resp.http.X-Glb-Peer = \"%s\";\n    }\n}\n",
                        sid);
    /* The origin of each attempt: the peers first (a lookup), then the
     * director, then the next origins in order. */
    evbuffer_add_printf(out, "\nsub glb_origin {\n");
    if (np)
        evbuffer_add_printf(out, "    unset bereq.http.X-Glb-Peer-Lookup;\n");
    for (size_t i = 0; i < nsvc; i++) {
        size_t nbest, n = svc_origins(t, i, o, MAX_ORIGINS, &nbest);
        host_regex(rx, 4 * GLB_DNAME_MAX + 64, t->svcs[i].name);
        evbuffer_add_printf(out, "    %sif (bereq.http.host ~ {\"%s\"}) {\n", i ? "} else " : "", rx);
        if (n == 0) {
            evbuffer_add_printf(out, "        set bereq.backend = default;\n");
            continue;
        }
        for (size_t k = 0; k < np; k++) {
            char part[200];
            ident_part(part, sizeof(part), conf->proxy.peers[k].name);
            evbuffer_add_printf(out,
                                "        %sif (bereq.retries == %zu) {\n            set bereq.backend = glb_peer_%s;\n"
                                "            set bereq.http.X-Glb-Peer-Lookup = \"1\";\n",
                                k ? "} else " : "", k, part);
        }
        evbuffer_add_printf(out, "        %sif (bereq.retries == %zu) {\n            set bereq.backend = glb_%zu.backend();\n",
                            np ? "} else " : "", np, i);
        for (size_t k = 1; k < n; k++)
            evbuffer_add_printf(out, "        } else if (bereq.retries == %zu) {\n            set bereq.backend = %s;\n",
                                np + k, o[k].id);
        evbuffer_add_printf(out, "        }\n");
    }
    if (nsvc)
        evbuffer_add_printf(out, "    }\n");
    evbuffer_add_printf(out, "}\n\nsub glb_retry {\n");
    for (size_t i = 0; i < nsvc; i++) {
        size_t nbest, n = svc_origins(t, i, o, MAX_ORIGINS, &nbest);
        host_regex(rx, 4 * GLB_DNAME_MAX + 64, t->svcs[i].name);
        evbuffer_add_printf(out, "    %sif (bereq.http.host ~ {\"%s\"}) {\n", i ? "} else " : "", rx);
        if (n && np + n > 1)
            evbuffer_add_printf(out, "        if (bereq.retries < %zu) {\n            return (retry);\n        }\n",
                                np + n - 1);
    }
    if (nsvc)
        evbuffer_add_printf(out, "    }\n");
    evbuffer_add_printf(out, "}\n\nsub vcl_backend_fetch {\n    call glb_origin;\n}\n\nsub vcl_backend_response {\n");
    if (np)
        evbuffer_add_printf(out,
                            "    if (bereq.http.X-Glb-Peer-Lookup) {\n"
                            "        if (beresp.http.X-Glb-Peer-Miss) {\n            call glb_retry;\n        }\n"
                            "        set beresp.http.X-Glb-From-Peer = beresp.backend;\n    }\n");
    evbuffer_add_printf(out, "    if (beresp.status >= 500) {\n        call glb_retry;\n    }\n}\n\n"
                             "sub vcl_backend_error {\n    call glb_retry;\n}\n");
    free(o);
    free(rx);
    return 0;
}

/* ---------------------------------------------------------------- loading */

enum { STEP_LOAD, STEP_USE, STEP_LIST, STEP_DISCARD, STEP_DONE };
#define MAX_DISCARDS 32

struct lb_proxy {
    struct event_base *base;
    lb_proxy_conf pc;
    char id[64];
    char *want;             /* the VCL rendered last */
    char *loaded;           /* the VCL in use (NULL: none loaded by us yet) */
    char *loading;          /* the VCL of the run in progress */
    double last_start;      /* monotonic: when the last load started */
    struct event *timer;    /* a load waiting for min-interval */
    /* the varnishadm run in progress */
    pid_t pid;
    int fd;                 /* its stdout and stderr */
    struct event *ev_out, *ev_timeout, *ev_reap;
    struct evbuffer *output;
    int step;
    unsigned seq;
    char name[64], path[512];        /* the VCL being loaded */
    char cur_name[64], cur_path[512]; /* the VCL in use */
    char discard[MAX_DISCARDS][64];  /* VCLs of ours no longer used, to discard */
    size_t ndiscard;
    /* what status reports */
    time_t loaded_at;
    unsigned long long loads, failures;
    char last_error[1024];
};

static double mono(void)
{
    return glb_mono();
}

lb_proxy *lb_proxy_new(struct event_base *base)
{
    lb_proxy *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->base = base;
    p->pid = -1;
    p->fd = -1;
    p->last_start = -1e9;
    return p;
}

static void kill_run(lb_proxy *p)
{
    if (p->ev_out)
        event_free(p->ev_out);
    if (p->ev_timeout)
        event_free(p->ev_timeout);
    if (p->ev_reap)
        event_free(p->ev_reap);
    p->ev_out = p->ev_timeout = p->ev_reap = NULL;
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    if (p->pid > 0) {
        kill(-p->pid, SIGKILL); /* its process group: what it started too */
        waitpid(p->pid, NULL, 0); /* killed: reaped at once */
    }
    p->pid = -1;
    if (p->output)
        evbuffer_free(p->output);
    p->output = NULL;
}

void lb_proxy_free(lb_proxy *p)
{
    if (!p)
        return;
    kill_run(p);
    if (p->timer)
        event_free(p->timer);
    free(p->want);
    free(p->loaded);
    free(p->loading);
    free(p);
}

static void step_start(lb_proxy *p);
static void maybe_load(lb_proxy *p);

/* From vcl.list's output (status, state, temperature, busy, name per
 * line): the VCLs named glb_* other than the one in use, to discard; their
 * files in vcl-dir go too. */
static void list_leftovers(lb_proxy *p)
{
    size_t n = evbuffer_get_length(p->output);
    char *s = malloc(n + 1);
    if (!s)
        return;
    evbuffer_copyout(p->output, s, n);
    s[n] = 0;
    char *save = NULL;
    for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char f[5][64];
        if (sscanf(line, "%63s %63s %63s %63s %63s", f[0], f[1], f[2], f[3], f[4]) != 5)
            continue;
        if (strncmp(f[4], "glb_", 4) != 0 || strcmp(f[4], p->cur_name) == 0 || strcmp(f[0], "active") == 0 ||
            p->ndiscard >= MAX_DISCARDS)
            continue;
        char path[600];
        snprintf(path, sizeof(path), "%s/%s.vcl", p->pc.vcl_dir, f[4]);
        unlink(path);
        snprintf(p->discard[p->ndiscard++], sizeof(p->discard[0]), "%s", f[4]);
    }
    free(s);
}

/* The run ended (status st, or timed out): the next step, or the end. */
static void step_end(lb_proxy *p, int ok, const char *why)
{
    char out[400] = "";
    if (p->output) {
        size_t n = evbuffer_get_length(p->output);
        if (n > sizeof(out) - 1)
            n = sizeof(out) - 1;
        evbuffer_copyout(p->output, out, n);
        out[n] = 0;
        for (char *c = out; *c; c++)
            if (*c == '\n' || *c == '\r' || *c == '\t')
                *c = ' ';
        while (n && out[n - 1] == ' ')
            out[--n] = 0;
    }
    int step = p->step;
    if (ok && step == STEP_LIST && p->output) /* VCLs an earlier dnslb left: to discard */
        list_leftovers(p);
    kill_run(p);
    if (!ok && (step == STEP_LOAD || step == STEP_USE)) {
        snprintf(p->last_error, sizeof(p->last_error), "%s %s: %s%s%s", step == STEP_LOAD ? "vcl.load" : "vcl.use",
                 p->name, why, out[0] ? ": " : "", out);
        log_err("proxy: %s", p->last_error);
        p->failures++;
        unlink(p->path);
        free(p->loading);
        p->loading = NULL;
        maybe_load(p); /* again after min-interval */
        return;
    }
    if (step == STEP_LOAD) { /* compiled and loaded: in use now */
        p->step = STEP_USE;
        step_start(p);
        return;
    }
    if (!ok) /* a VCL left loaded but cold, or not listed: harmless */
        log_warn("proxy: %s %s: %s %s", step == STEP_LIST ? "vcl.list" : "vcl.discard", p->name, why, out);
    if (step == STEP_USE) {
        /* In use: current.vcl is what a restarted engine should start with. */
        char cur[600], tmp[620];
        snprintf(cur, sizeof(cur), "%s/current.vcl", p->pc.vcl_dir);
        snprintf(tmp, sizeof(tmp), "%s/.current.vcl.tmp", p->pc.vcl_dir);
        FILE *f = fopen(tmp, "w");
        if (!f || fputs(p->loading, f) < 0 || fclose(f) != 0 || rename(tmp, cur) != 0) {
            log_warn("proxy: cannot write %s: %s", cur, strerror(errno));
            if (f)
                unlink(tmp);
        }
        free(p->loaded);
        p->loaded = p->loading;
        p->loading = NULL;
        p->loads++;
        p->loaded_at = time(NULL);
        p->last_error[0] = 0;
        log_notice("proxy: VCL %s in use", p->name);
        int first = !p->cur_name[0];
        if (!first) {
            unlink(p->cur_path);
            if (p->ndiscard < MAX_DISCARDS)
                snprintf(p->discard[p->ndiscard++], sizeof(p->discard[0]), "%s", p->cur_name);
        }
        snprintf(p->cur_name, sizeof(p->cur_name), "%s", p->name);
        snprintf(p->cur_path, sizeof(p->cur_path), "%s", p->path);
        if (first) { /* the first load of this process: what did an earlier one leave? */
            p->step = STEP_LIST;
            step_start(p);
            return;
        }
    }
    if (p->ndiscard) {
        snprintf(p->name, sizeof(p->name), "%s", p->discard[--p->ndiscard]);
        p->step = STEP_DISCARD;
        step_start(p);
        return;
    }
    p->step = STEP_DONE;
    maybe_load(p); /* the ranking may have moved meanwhile */
}

/* Reaps the child without waiting: when it has not exited yet, looks again
 * in 20 ms (its timeout still runs). */
static void reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_proxy *p = arg;
    int st = 0;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == 0) {
        struct timeval tv = {0, 20000};
        if (!p->ev_reap)
            p->ev_reap = evtimer_new(p->base, reap, p);
        if (p->ev_reap && evtimer_add(p->ev_reap, &tv) == 0)
            return;
        r = waitpid(p->pid, &st, 0); /* out of memory: wait then */
    }
    p->pid = -1;
    if (r < 0)
        step_end(p, 0, "lost the child");
    else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        step_end(p, 1, "");
    else {
        char why[64];
        if (WIFEXITED(st))
            snprintf(why, sizeof(why), "exit status %d", WEXITSTATUS(st));
        else
            snprintf(why, sizeof(why), "signal %d", WTERMSIG(st));
        step_end(p, 0, why);
    }
}

static void on_output(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    lb_proxy *p = arg;
    int n = evbuffer_read(p->output, fd, 4096);
    if (n > 0) {
        if (evbuffer_get_length(p->output) > 65536) /* keep the last 64 KiB */
            evbuffer_drain(p->output, evbuffer_get_length(p->output) - 65536);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    /* EOF: the child closed its output; it is exiting, or it will be
     * killed at its timeout. Reaped without waiting. */
    event_del(p->ev_out);
    reap(-1, 0, p);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_proxy *p = arg;
    step_end(p, 0, "timed out (varnishadm killed)");
}

/* Starts varnishadm -n NAME -t TIMEOUT <the step's command>. */
static void step_start(lb_proxy *p)
{
    char tmo[16];
    snprintf(tmo, sizeof(tmo), "%u", p->pc.timeout);
    const char *argv[10] = {p->pc.varnishadm, "-n", p->pc.varnish_name, "-t", tmo};
    int argc = 5;
    if (p->step == STEP_LOAD) {
        argv[argc++] = "vcl.load";
        argv[argc++] = p->name;
        argv[argc++] = p->path;
    } else if (p->step == STEP_LIST) {
        argv[argc++] = "vcl.list";
    } else {
        argv[argc++] = p->step == STEP_USE ? "vcl.use" : "vcl.discard";
        argv[argc++] = p->name;
    }
    argv[argc] = NULL;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        step_end(p, 0, strerror(errno));
        return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setpgroup(&at, 0); /* a group of its own, killed as a whole on timeout */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    pid_t pid;
    int rc = posix_spawnp(&pid, p->pc.varnishadm, &fa, &at, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(pfd[1]);
    if (rc != 0) {
        close(pfd[0]);
        step_end(p, 0, strerror(rc));
        return;
    }
    p->pid = pid;
    p->fd = pfd[0];
    evutil_make_socket_nonblocking(p->fd);
    p->output = evbuffer_new();
    p->ev_out = event_new(p->base, p->fd, EV_READ | EV_PERSIST, on_output, p);
    p->ev_timeout = evtimer_new(p->base, on_timeout, p);
    struct timeval tv = {(time_t)p->pc.timeout + 1, 0};
    if (!p->output || !p->ev_out || !p->ev_timeout || event_add(p->ev_out, NULL) != 0 ||
        event_add(p->ev_timeout, &tv) != 0)
        step_end(p, 0, "out of memory");
}

/* Writes want into a new file and starts loading it. */
static void load_now(lb_proxy *p)
{
    p->last_start = mono();
    p->seq++;
    snprintf(p->name, sizeof(p->name), "glb_%ld_%u", (long)time(NULL), p->seq);
    snprintf(p->path, sizeof(p->path), "%s/%s.vcl", p->pc.vcl_dir, p->name);
    FILE *f = fopen(p->path, "w");
    if (!f || fputs(p->want, f) < 0 || fclose(f) != 0) {
        snprintf(p->last_error, sizeof(p->last_error), "cannot write %s: %s", p->path, strerror(errno));
        log_err("proxy: %s", p->last_error);
        p->failures++;
        maybe_load(p);
        return;
    }
    free(p->loading);
    p->loading = strdup(p->want);
    p->step = STEP_LOAD;
    step_start(p);
}

/* Whether a load should start (enabled, a VCL that is not the one in use,
 * no run in progress). */
static int load_wanted(const lb_proxy *p)
{
    return p->pc.enabled && p->want && p->pid <= 0 && !p->ev_out && !(p->loaded && strcmp(p->loaded, p->want) == 0);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    lb_proxy *p = arg;
    if (!load_wanted(p))
        return;
    if (mono() < p->last_start + p->pc.min_interval - 0.001)
        maybe_load(p); /* woke early */
    else
        load_now(p);
}

/* Schedules a load of want when it differs from what is in use: from the
 * event loop (never from the caller's stack: at start that runs before
 * privileges are dropped), once min-interval has passed since the last
 * start; nothing while a run is in progress (its end calls this again). */
static void maybe_load(lb_proxy *p)
{
    if (!load_wanted(p))
        return;
    double wait = p->last_start + p->pc.min_interval - mono();
    if (wait < 0)
        wait = 0;
    if (!p->timer && !(p->timer = evtimer_new(p->base, on_timer, p)))
        return;
    if (!evtimer_pending(p->timer, NULL)) {
        struct timeval tv = {(time_t)wait, (suseconds_t)((wait - (double)(time_t)wait) * 1e6)};
        evtimer_add(p->timer, &tv);
    }
}

void lb_proxy_configure(lb_proxy *p, const lb_conf *conf)
{
    const lb_proxy_conf *n = &conf->proxy;
    if (strcmp(n->varnish_name, p->pc.varnish_name) != 0 || strcmp(n->vcl_dir, p->pc.vcl_dir) != 0 ||
        n->origin_port != p->pc.origin_port) {
        free(p->loaded); /* another engine, or other files: load again */
        p->loaded = NULL;
        p->cur_name[0] = 0;
    }
    p->pc = *n;
    snprintf(p->id, sizeof(p->id), "%s", conf->id);
    if (!n->enabled && p->timer)
        event_del(p->timer);
}

void lb_proxy_update(lb_proxy *p, const lb_table *t, const lb_conf *conf)
{
    if (!p || !p->pc.enabled || !t)
        return;
    struct evbuffer *b = evbuffer_new();
    if (!b || lb_proxy_render(t, conf, p->id, b) != 0) {
        if (b)
            evbuffer_free(b);
        log_err("proxy: out of memory rendering the VCL");
        return;
    }
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    if (s) {
        evbuffer_remove(b, s, n);
        s[n] = 0;
        if (!p->want || strcmp(p->want, s) != 0) {
            free(p->want);
            p->want = s;
            s = NULL;
        }
    }
    free(s);
    evbuffer_free(b);
    maybe_load(p);
}

void lb_proxy_report(const lb_proxy *p, struct evbuffer *out)
{
    if (!p || !p->pc.enabled) {
        evbuffer_add_printf(out, "proxy: off\n");
        return;
    }
    char when[64] = "never";
    if (p->loaded_at) {
        struct tm tm;
        gmtime_r(&p->loaded_at, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    int pending = p->want && (!p->loaded || strcmp(p->loaded, p->want) != 0);
    evbuffer_add_printf(out,
                        "proxy: %s -n %s, state %s\nproxy.vcl: %s\nproxy.loaded-at: %s\nproxy.loads: %llu\n"
                        "proxy.failures: %llu\nproxy.last-error: %s\n",
                        p->pc.engine, p->pc.varnish_name,
                        p->pid > 0 ? "loading" : pending ? (p->last_error[0] ? "failing" : "pending") : "in-sync",
                        p->cur_name[0] ? p->cur_name : "-", when, p->loads, p->failures,
                        p->last_error[0] ? p->last_error : "-");
}

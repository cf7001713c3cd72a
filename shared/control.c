/* The control channel: server (in the daemon's event loop) and client.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/control.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shared/log.h"

#define LINE_MAX_BYTES 512
#define CONN_TIMEOUT_S 30
#define MAX_CONNS 16
#define ANSWER_MAX (64u << 20) /* the client reads at most this */

struct glb_control {
    struct evconnlistener *lev;
    const glb_control_cmd *cmds;
    void *arg;
    unsigned nconns;
    glb_control_conn *conns;
};

struct glb_control_conn {
    glb_control_conn *next, *prev;
    glb_control *c;
    struct bufferevent *bev;
    struct evbuffer *out;
    int deferred;
    int closing;
};

static void conn_free(glb_control_conn *k)
{
    glb_control *c = k->c;
    if (k->prev)
        k->prev->next = k->next;
    else
        c->conns = k->next;
    if (k->next)
        k->next->prev = k->prev;
    c->nconns--;
    bufferevent_free(k->bev);
    evbuffer_free(k->out);
    free(k);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    glb_control_conn *k = arg;
    if (k->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_free(k);
}

static void send_answer(glb_control_conn *k, int ok)
{
    struct evbuffer *o = bufferevent_get_output(k->bev);
    if (ok)
        evbuffer_add_printf(o, "ok\n");
    else
        evbuffer_add_printf(o, "error: ");
    evbuffer_add_buffer(o, k->out);
    k->closing = 1;
    bufferevent_disable(k->bev, EV_READ);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    glb_control_conn *k = arg;
    if (k->deferred || k->closing)
        return;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n;
    char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
    if (!line) {
        if (evbuffer_get_length(in) > LINE_MAX_BYTES) {
            evbuffer_add_printf(k->out, "request line too long\n");
            send_answer(k, 0);
        }
        return;
    }
    size_t ml = strlen(GLB_CONTROL_MAGIC);
    if (n > LINE_MAX_BYTES || strncmp(line, GLB_CONTROL_MAGIC " ", ml + 1) != 0) {
        evbuffer_add_printf(k->out, "not a '%s' request\n", GLB_CONTROL_MAGIC);
        free(line);
        send_answer(k, 0);
        return;
    }
    char *cmd = line + ml + 1;
    char *args = strchr(cmd, ' ');
    if (args)
        *args++ = '\0';
    else
        args = cmd + strlen(cmd);
    const glb_control_cmd *e = k->c->cmds;
    while (e->name && strcmp(e->name, cmd) != 0)
        e++;
    if (!e->name) {
        evbuffer_add_printf(k->out, "unknown command '%s'; commands:", cmd);
        for (e = k->c->cmds; e->name; e++)
            evbuffer_add_printf(k->out, " %s", e->name);
        evbuffer_add_printf(k->out, "\n");
        free(line);
        send_answer(k, 0);
        return;
    }
    int r = e->fn(k->c->arg, args, k->out, k);
    free(line);
    if (r == 1) {
        k->deferred = 1;
        bufferevent_set_timeouts(k->bev, NULL, NULL); /* the command bounds its own time */
    }
    else
        send_answer(k, r == 0);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    glb_control_conn *k = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        if (k->deferred && !k->closing && (what & BEV_EVENT_EOF))
            return; /* the client half-closed: answer when ready */
        if (k->deferred && !k->closing) {
            /* Gone while its answer is being made: freed at glb_control_reply. */
            bufferevent_disable(k->bev, EV_READ | EV_WRITE);
            k->closing = 2;
            return;
        }
        conn_free(k);
    }
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)l, (void)sa, (void)salen;
    glb_control *c = arg;
    if (c->nconns >= MAX_CONNS) {
        evutil_closesocket(fd);
        return;
    }
    glb_control_conn *k = calloc(1, sizeof(*k));
    struct event_base *base = evconnlistener_get_base(c->lev);
    if (!k || !(k->out = evbuffer_new()) ||
        !(k->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE))) {
        if (k && k->out)
            evbuffer_free(k->out);
        free(k);
        evutil_closesocket(fd);
        return;
    }
    k->c = c;
    k->next = c->conns;
    if (c->conns)
        c->conns->prev = k;
    c->conns = k;
    c->nconns++;
    struct timeval tv = {CONN_TIMEOUT_S, 0};
    bufferevent_set_timeouts(k->bev, &tv, &tv);
    bufferevent_setcb(k->bev, read_cb, write_cb, event_cb, k);
    bufferevent_enable(k->bev, EV_READ | EV_WRITE);
}

glb_control *glb_control_new(struct event_base *base, const glb_addr *addr, const glb_control_cmd *cmds,
                             void *arg, char *err, size_t errlen)
{
    glb_control *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "control: out of memory");
        return NULL;
    }
    c->cmds = cmds;
    c->arg = arg;
    struct sockaddr_storage ss;
    socklen_t sl = glb_addr_to_sockaddr(addr, &ss);
    c->lev = evconnlistener_new_bind(base, accept_cb, c, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
                                     (struct sockaddr *)&ss, (int)sl);
    if (!c->lev) {
        char a[GLB_ADDRSTRLEN];
        snprintf(err, errlen, "control: %s: %s", glb_addrport_str(addr, a, sizeof(a)), strerror(errno));
        free(c);
        return NULL;
    }
    return c;
}

void glb_control_free(glb_control *c)
{
    if (!c)
        return;
    while (c->conns)
        conn_free(c->conns);
    evconnlistener_free(c->lev);
    free(c);
}

struct evbuffer *glb_control_out(glb_control_conn *conn)
{
    return conn->out;
}

void glb_control_reply(glb_control_conn *k, int ok)
{
    if (k->closing == 2) { /* the client went away meanwhile */
        conn_free(k);
        return;
    }
    k->deferred = 0;
    send_answer(k, ok);
}

/* --- client --- */

int glb_control_request(const glb_addr *addr, const char *line, void *outp, unsigned timeout)
{
    FILE *out = outp;
    char a[GLB_ADDRSTRLEN];
    struct sockaddr_storage ss;
    socklen_t sl = glb_addr_to_sockaddr(addr, &ss);
    int fd = socket(addr->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {timeout, 0};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&ss, sl) != 0) {
        fprintf(stderr, "cannot reach %s: %s\n", glb_addrport_str(addr, a, sizeof(a)), strerror(errno));
        if (fd >= 0)
            close(fd);
        return 2;
    }
    char req[LINE_MAX_BYTES + 64];
    int n = snprintf(req, sizeof(req), "%s %s\n", GLB_CONTROL_MAGIC, line);
    if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
        fprintf(stderr, "cannot send the request\n");
        close(fd);
        return 2;
    }
    /* The whole answer, bounded, then its status line. */
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    ssize_t r = 0;
    while (buf && (r = read(fd, buf + len, cap - len)) > 0) {
        len += (size_t)r;
        if (len == cap) {
            char *nb = cap < ANSWER_MAX ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                r = -1;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    close(fd);
    char *nl = buf ? memchr(buf, '\n', len) : NULL;
    if (r < 0 || !nl) {
        fprintf(stderr, "no complete answer from %s\n", glb_addrport_str(addr, a, sizeof(a)));
        free(buf);
        return 2;
    }
    int status = (nl - buf == 2 && memcmp(buf, "ok", 2) == 0) ? 0 : 1;
    if (status == 0)
        fwrite(nl + 1, 1, len - (size_t)(nl + 1 - buf), out);
    else
        fwrite(buf, 1, len, stderr); /* "error: REASON" and what follows */
    free(buf);
    return status;
}

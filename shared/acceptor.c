/* Accepting with a pause on EMFILE. SPDX-License-Identifier: BSD-3-Clause */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "shared/acceptor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "shared/clock.h"
#include "shared/log.h"

struct glb_acceptor {
    int fd;
    int spare;              /* given up to accept one client when out of descriptors */
    int paused;
    struct event *ev;       /* readable: accept */
    struct event *retry;    /* ends a pause */
    glb_accept_fn fn;
    void *arg;
    unsigned long pauses;
    glb_ratelog rl;
};

static int spare_open(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void pause_accepting(glb_acceptor *a, int err)
{
    struct timeval tv = {0, GLB_ACCEPT_PAUSE_MS * 1000};
    if (err == EMFILE || err == ENFILE) {
        /* Take the waiting client off the queue with the spare
         * descriptor: it learns at once instead of timing out. */
        if (a->spare >= 0) {
            close(a->spare);
            a->spare = -1;
        }
        int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0)
            close(fd);
        a->spare = spare_open();
    }
    a->pauses++;
    glb_log_limited(&a->rl, glb_mono(), GLB_LOG_WARN, "%s: accept: %s; pausing for %d ms", a->rl.what, strerror(err),
                GLB_ACCEPT_PAUSE_MS);
    a->paused = 1;
    event_del(a->ev);
    evtimer_add(a->retry, &tv);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    glb_acceptor *a = arg;
    (void)what;
    for (unsigned k = 0; k < GLB_ACCEPT_BATCH; k++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            a->fn(a->arg, fd, (struct sockaddr *)&ss, sl);
            continue;
        }
        switch (errno) {
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case EPERM:
            continue; /* this connection only */
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            /* The listener would stay readable and the loop spin. */
            pause_accepting(a, errno);
            return;
        default:
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_debug("%s: accept: %s", a->rl.what, strerror(errno));
            return;
        }
    }
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    glb_acceptor_resume(arg);
}

glb_acceptor *glb_acceptor_new(struct event_base *base, int fd, glb_accept_fn fn, void *arg, const char *what)
{
    glb_acceptor *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->fd = fd;
    a->fn = fn;
    a->arg = arg;
    a->rl = (glb_ratelog)GLB_RATELOG_INIT(what);
    a->spare = spare_open();
    a->ev = event_new(base, fd, EV_READ | EV_PERSIST, accept_cb, a);
    a->retry = evtimer_new(base, retry_cb, a);
    if (!a->ev || !a->retry || event_add(a->ev, NULL) != 0) {
        a->fd = -1; /* the caller still owns it */
        glb_acceptor_free(a);
        return NULL;
    }
    return a;
}

void glb_acceptor_free(glb_acceptor *a)
{
    if (!a)
        return;
    if (a->ev)
        event_free(a->ev);
    if (a->retry)
        event_free(a->retry);
    if (a->spare >= 0)
        close(a->spare);
    if (a->fd >= 0)
        close(a->fd);
    free(a);
}

void glb_acceptor_resume(glb_acceptor *a)
{
    if (!a || !a->paused)
        return;
    a->paused = 0;
    evtimer_del(a->retry);
    event_add(a->ev, NULL);
}

unsigned long glb_acceptor_pauses(const glb_acceptor *a)
{
    return a->pauses;
}

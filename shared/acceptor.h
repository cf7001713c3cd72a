/* Accepting on a listening socket without spinning when the process is out
 * of descriptors (EMFILE/ENFILE) or memory: a spare descriptor is given up
 * to accept and close the waiting client at once, and accepting pauses for
 * GLB_ACCEPT_PAUSE_MS or until glb_acceptor_resume (a connection closed).
 * Used by the DNS TCP, map and control listeners (libevent's evconnlistener
 * would stay readable and spin). SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_ACCEPTOR_H
#define GLB_ACCEPTOR_H

#include <sys/socket.h>

#include "shared/ratelog.h"

struct event_base;

#define GLB_ACCEPT_PAUSE_MS 250 /* accepting rests this long after EMFILE and the like */
#define GLB_ACCEPT_BATCH    64  /* accepts per readiness event */

/* Gets each accepted socket (non-blocking, close-on-exec), which it owns. */
typedef void (*glb_accept_fn)(void *arg, int fd, const struct sockaddr *sa, socklen_t salen);

typedef struct glb_acceptor glb_acceptor;

/* Accepts on the listening socket fd (owned from now on, closed by
 * glb_acceptor_free) in base, calling fn. what names it in the log. NULL
 * when out of memory (fd is not closed then). */
glb_acceptor *glb_acceptor_new(struct event_base *base, int fd, glb_accept_fn fn, void *arg, const char *what);

/* Stops accepting, closes the listening socket and the spare. NULL is fine. */
void glb_acceptor_free(glb_acceptor *a);

/* A connection was closed: accepting resumes now if it was paused. */
void glb_acceptor_resume(glb_acceptor *a);

/* Times accepting was paused (for tests and stats). */
unsigned long glb_acceptor_pauses(const glb_acceptor *a);

#endif

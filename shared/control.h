/* The control channel every daemon offers to its control tool: one request
 * line "glb-control 1 COMMAND [ARGS]\n" over TCP, answered by "ok\n" or
 * "error: REASON\n", then the text of the answer, then the server closes.
 * A table of commands, handled by the daemon. Loopback only for now (no TLS).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_CONTROL_H
#define GLB_CONTROL_H

#include <stddef.h>

#include "shared/addr.h"

struct event_base;
struct evbuffer;

#define GLB_CONTROL_MAGIC "glb-control 1"

typedef struct glb_control glb_control;
typedef struct glb_control_conn glb_control_conn;

/* A command handler writes its answer into out and returns 0 (ok) or -1
 * (out holds the reason), or 1 to answer later with glb_control_reply(). */
typedef int (*glb_control_fn)(void *arg, const char *args, struct evbuffer *out, glb_control_conn *conn);

typedef struct glb_control_cmd {
    const char *name;
    glb_control_fn fn;
    const char *help;
} glb_control_cmd;

/* Listens on addr; cmds ends with a NULL name. NULL with err on failure. */
glb_control *glb_control_new(struct event_base *base, const glb_addr *addr, const glb_control_cmd *cmds,
                             void *arg, char *err, size_t errlen);
void glb_control_free(glb_control *c);

/* The answer buffer of a deferred command, to write into before replying. */
struct evbuffer *glb_control_out(glb_control_conn *conn);

/* Sends a deferred answer (ok = 1, or 0 with the reason in the buffer). */
void glb_control_reply(glb_control_conn *conn, int ok);

/* Client side: sends "COMMAND ARGS" to addr and writes the answer text to
 * out (a FILE *), or the error to stderr. Returns 0 when the server said ok,
 * 1 when it said error, 2 when it could not be reached or did not answer
 * within timeout seconds (reason on stderr). */
int glb_control_request(const glb_addr *addr, const char *line, void *out, unsigned timeout);

#endif

/* The control channel every daemon offers to its control tool: one request
 * line "glb-control 1 COMMAND [ARGS]\n" over TCP, answered by "ok\n" or
 * "error: REASON\n", then the text of the answer, then the server closes.
 * A table of commands, handled by the daemon. Plain TCP (dnslb: loopback
 * only), or TLS 1.3 with a verified client certificate (dnsb, shared/tls.h):
 * the same lines inside the TLS session, which the server ends with
 * close_notify so that a cut answer shows. SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_CONTROL_H
#define GLB_CONTROL_H

#include <stddef.h>

#include "shared/addr.h"
#include "shared/tls.h"

struct event_base;
struct evbuffer;

#define GLB_CONTROL_MAGIC "glb-control 1"
#define GLB_CONTROL_MAX_CONNS 32 /* a channel's connections at once (descriptors to budget) */

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

/* Listens on addr; cmds ends with a NULL name. tls NULL: plain TCP; else a
 * server context (glb_tls_server_ctx) whose clients must present a verified
 * certificate: the channel takes a reference to it (the caller still frees
 * its own). NULL with err on failure. */
glb_control *glb_control_new(struct event_base *base, const glb_addr *addr, SSL_CTX *tls,
                             const glb_control_cmd *cmds, void *arg, char *err, size_t errlen);
void glb_control_free(glb_control *c);

/* Replaces the TLS context for the connections accepted from now on (new
 * certificates after a reload); takes a reference, as glb_control_new. A
 * plain channel stays plain. */
void glb_control_set_tls(glb_control *c, SSL_CTX *tls);

/* Only clients whose certificate CN is one of ids[0..n) may send commands
 * (TLS channels; n = 0: any certificate the CA vouches for). Copied. */
int glb_control_set_allowed(glb_control *c, const char (*ids)[64], size_t n);

/* Counters of the channel itself. */
typedef struct glb_control_stats {
    unsigned long long conns;     /* connections accepted */
    unsigned long long requests;  /* request lines handled (known command or not) */
    unsigned long long refused;   /* TLS handshakes failed: no, or no trusted, client certificate */
    unsigned long long overflows; /* connections closed at once: too many open */
    unsigned long long evicted;   /* not yet authenticated, closed to make room */
    unsigned long long timeouts;  /* closed: no request line within the handshake deadline */
} glb_control_stats;
void glb_control_stats_get(const glb_control *c, glb_control_stats *out);

/* Who sent the request: the client certificate's CN over TLS, else the
 * client's address. For logs. */
const char *glb_control_peer(const glb_control_conn *conn);

/* The answer buffer of a deferred command, to write into before replying. */
struct evbuffer *glb_control_out(glb_control_conn *conn);

/* Sends a deferred answer (ok = 1, or 0 with the reason in the buffer). */
void glb_control_reply(glb_control_conn *conn, int ok);

/* The control tools' command line: argv[first..argc) joined by spaces into
 * line. 0, or -1 with "PROG: request too long" on stderr. */
int glb_control_join(const char *prog, int argc, char **argv, int first, char *line, size_t len);

/* -j of the control tools: the request line "status" or "stats" (no other
 * command, no arguments) becomes "status json" or "stats json". 0, or -1
 * with "PROG: -j: ..." on stderr. */
int glb_control_json_arg(const char *prog, char *line, size_t len);

/* -t SECONDS of the control tools into *timeout (> 0). 0, or -1 with
 * "PROG: bad timeout" on stderr. */
int glb_control_timeout_arg(const char *prog, const char *s, unsigned *timeout);

/* Client side: sends "COMMAND ARGS" to addr and writes the answer text to
 * out (a FILE *), or the error to stderr. tls NULL: plain TCP; else a client
 * context (glb_tls_client_ctx): the server's certificate must verify, and the
 * answer must end with close_notify. Returns 0 when the server said ok, 1
 * when it said error or refused our certificate (a TLS alert), 2 when it
 * could not be reached, was not trusted, or did not answer completely within
 * timeout seconds (reason on stderr). */
int glb_control_request(const glb_addr *addr, SSL_CTX *tls, const char *line, void *out, unsigned timeout);

#endif

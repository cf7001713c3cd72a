/* The DNS-LB's side of the map protocol (proto/PROTOCOL.md): one TLS 1.3
 * session per configured DNS-B (dnsb: map-server), in the main event loop.
 *
 * Session: non-blocking connect, TLS with this box's certificate (whose CN
 * must be server: id, else lb_mapclient_new() refuses), the DNS-B's
 * certificate verified against tls-ca-file AND against the address it was
 * configured with (an IP address in its subjectAltName: PROTOCOL.md §1,
 * "as for HTTPS"); then HELLO (role lb, caps delta, the SERVICES serial held
 * from that DNS-B), the server's HELLO (role dnsb, node-id = its CN, whoami
 * zone, keepalive), REGISTER, REGISTER_ACK, SERVICES.
 *
 * REGISTER: node-id = id; sequence = Unix time in milliseconds when built,
 * strictly increasing within the process (max(now, last + 1)), shared by
 * all sessions, so a restart or another DNS-B always sees a newer one;
 * lifetime = dnsb: lifetime; dns-addr = server: ns-address (or the listen
 * addresses); proxy-addr = dnsb: proxy-address; location = server: location;
 * claims = the resolvers (resolver: address, else resolv.conf's
 * nameservers, kind resolver, host prefixes), dnsb: client-prefix (kind
 * client), and the egress addresses whoami learned (kind egress). Sent after
 * the HELLOs, every `refresh` seconds (sooner when a third of the granted
 * lifetime would be left), and at once when the claims change; never two
 * unanswered. Rejected claims are logged (warning when the rejected set
 * changes, debug otherwise) and counted by reason.
 *
 * Keepalive per §5.4 with the server's interval; idle 3x: BYE idle. After a
 * failure: reconnect after 1 s doubling to 60 s, ±20 % jitter, reset by a
 * session that lasted a minute; at least 300 s after ERROR unauthorized,
 * bad-version or unsupported. lb_mapclient_shutdown() sends a REGISTER with
 * lifetime 0 (the registrations are withdrawn), then BYE shutdown.
 *
 * SERVICES: full sets and deltas (by serial, parts assembled and applied
 * atomically, §10.1) are kept per DNS-B. A received service becomes a
 * dnslb.conf `service:` section (text) that is parsed back with the
 * configuration parser: a service that dnslb cannot represent or that fails
 * the same checks as dnslb.conf (e.g. proximity without server: location) is
 * skipped with an error in the log; a site with both addresses and a host
 * name keeps its addresses.
 *
 * Effective services (lb_mapclient_effective()): the services of
 * dnslb.conf, then the union of the sets of all DNS-Bs, a name present at
 * several taken from the DNS-B listed first in the configuration; a
 * received service with the same name as, or nesting with, a local one or
 * one taken before is left out. The DNS-Bs set the enterprise's services
 * and policy once for every DNS-LB (issue 10 §2); a service written in a
 * DNS-LB's own dnslb.conf overrides the DNS-Bs' on that box only.
 *
 * Services file (dnsb: services-file): rewritten atomically (temporary file,
 * fsync, rename) whenever a set changes, read back by lb_mapclient_new() so a
 * restarted box serves at once, without a DNS-B. Format: dnslb.conf's
 * grammar (dnslb.conf(5)), service: sections only; comment lines starting
 * with "#@" carry the state:
 *
 *     #@ glb-services 1
 *     #@ map-server 192.0.2.1@5380 id b1 serial 42
 *     service:
 *         # mode referral, ttl-referral 3600
 *         name: www.foobar.example.
 *         ...
 *         site: paris 192.0.2.10 weight=1 cost=0.000 check-verify=yes
 *     #@ map-server 192.0.2.2@5380 id b2 serial 7
 *     ...
 *
 * A block whose map-server is no longer configured is ignored. Each service
 * is checked again when read; a block with a bad service loses its serial
 * (the next session asks for a full set).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_MAPCLIENT_H
#define DNSLB_MAPCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "dnslb/conf.h"
#include "dnslb/whoami.h"
#include "proto/map.h"

struct event_base;
struct evbuffer;

typedef struct lb_mapclient lb_mapclient;

/* Timers (seconds); the defaults are the protocol's. Tests shorten them. */
typedef struct lb_mapclient_tuning {
    double backoff_min;       /* first retry delay (1) */
    double backoff_max;       /* largest (60) */
    double stable_after;      /* an ESTABLISHED session this long resets the backoff (60) */
    double fatal_wait;        /* at least this after ERROR unauthorized/bad-version/unsupported (300) */
    double hello_timeout;     /* connect + TLS, then the server's HELLO, each at most (10) */
    double shutdown_wait;     /* lb_mapclient_shutdown() waits this long for BYEs to leave (1) */
    lb_whoami_params whoami;  /* interval is taken from dnsb: whoami-interval */
} lb_mapclient_tuning;

void lb_mapclient_tuning_default(lb_mapclient_tuning *t);

/* Called from the event loop when the effective received services changed
 * (a set applied, the services file read at start does not call it). */
typedef void (*lb_mapclient_cb)(void *arg);

/* Checks what lb_mapclient_new() would: the TLS files load, the key fits,
 * the certificate's CN is conf's id. 0, or -1 with err. */
int lb_mapclient_check(const lb_conf *conf, char *err, size_t errlen);

/* A client for conf's dnsb: section (nservers > 0). Loads the TLS context
 * and the services file; connects nothing yet. t NULL: defaults. NULL with
 * err (e.g. "tls-cert-file 'F': certificate CN 'x' is not this box's id
 * 'lb42'"). conf is not kept. */
lb_mapclient *lb_mapclient_new(struct event_base *base, const lb_conf *conf, const lb_mapclient_tuning *t,
                               lb_mapclient_cb cb, void *arg, char *err, size_t errlen);

/* Starts the sessions and egress discovery (after privileges are dropped). */
void lb_mapclient_start(lb_mapclient *mc);

/* Applies a new configuration (SIGHUP): registration contents, timers,
 * servers (sessions of servers that stay are kept unless the TLS files
 * changed), resolvers. 0, or -1 with err (nothing changed). */
int lb_mapclient_reconfigure(lb_mapclient *mc, const lb_conf *conf, char *err, size_t errlen);

/* A new configuration: local's settings with the effective services (see
 * above). The caller owns it (lb_conf_free). NULL with err when out of
 * memory. */
lb_conf *lb_mapclient_effective(const lb_mapclient *mc, const lb_conf *local, char *err, size_t errlen);

/* Says BYE (shutdown) on every established session, then calls done(arg)
 * once they have left (or after tuning.shutdown_wait). Sessions stay
 * closed. */
void lb_mapclient_shutdown(lb_mapclient *mc, void (*done)(void *arg), void *arg);

/* The DNS-LB's current orders (RANKING, PROTOCOL.md §10.2): sent to every
 * DNS-B that uses rankings, when they changed, at most once a second, and
 * to each new session after its first REGISTER_ACK. r is copied. */
void lb_mapclient_ranking(lb_mapclient *mc, const glb_map_ranking *r);

/* An agent's (conf->agent) measurements (METRICS, PROTOCOL.md §10.3): sent
 * to every box that uses them, at most once a second, and to each new
 * session after its first REGISTER_ACK. m is copied; empty: nothing. */
void lb_mapclient_metrics(lb_mapclient *mc, const glb_map_metrics *m);

/* An agent's callback for a box's request for fresh metrics. */
void lb_mapclient_on_request(lb_mapclient *mc, void (*fn)(void *arg));

/* Maintenance: withdraw 1 makes every REGISTER say lifetime 0 from now on
 * (the DNS-Bs drop this box's registrations at once; its resolvers get the
 * standby and fail-open), 0 registers again. Returns the sessions up. */
size_t lb_mapclient_withdraw(lb_mapclient *mc, int withdraw);

void lb_mapclient_free(lb_mapclient *mc);

typedef struct lb_mapclient_stats {
    unsigned long long connects;        /* connection attempts */
    unsigned long long established;     /* sessions that got the server's HELLO */
    unsigned long long failures;        /* sessions that ended in an error or timeout */
    unsigned long long registers;       /* REGISTERs sent */
    unsigned long long acks;            /* REGISTER_ACKs received */
    unsigned long long rejected[7];     /* rejected claims by reason (0: unknown reasons) */
    unsigned long long services_full, services_delta; /* sets applied */
    unsigned long long services_skipped;/* received services dnslb could not take */
    unsigned long long resyncs;         /* deltas with a base we did not hold */
    unsigned long long keepalives;      /* KEEPALIVE requests sent */
    unsigned long long rankings;        /* RANKING frames sent */
    unsigned long long file_writes, file_errors;
    size_t up;                          /* sessions ESTABLISHED now */
    size_t claims;                      /* claims in the last REGISTER */
    size_t services;                    /* received services in force (union) */
} lb_mapclient_stats;

void lb_mapclient_stats_get(const lb_mapclient *mc, lb_mapclient_stats *out);

/* One line per DNS-B (state, id, serial, services, granted lifetime,
 * accepted/rejected claims, RTT), then the claims and whoami's lines. */
void lb_mapclient_report(const lb_mapclient *mc, struct evbuffer *out);

/* The whoami discoverer (tests). */
lb_whoami *lb_mapclient_whoami(lb_mapclient *mc);

#endif

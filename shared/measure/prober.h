/* The prober: schedules the HTTP and ICMP checks of every site (spread with
 * jitter), feeds their results into each site's health, ranks the sites of
 * each service by its policy and hands the rankings to its sink (dnslb: the
 * answer table). Runs in the main event loop; the answering threads only
 * read what the sink publishes.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef MEASURE_PROBER_H
#define MEASURE_PROBER_H

#include <stdatomic.h>
#include <stddef.h>

#include "shared/measure/history.h"
#include "shared/measure/mconf.h"
#include "shared/site.h"

struct event_base;
struct evbuffer;
struct event;

typedef struct lb_prober lb_prober;

typedef struct lb_prober_stats {
    unsigned long long http_checks, http_failures;
    unsigned long long icmp_sent, icmp_lost;
    unsigned long long late_checks;    /* started more than 250 ms after their time */
    unsigned long long refreshes;      /* checks run early because a query found stale data */
    unsigned long long rate_limited;   /* on-demand checks refused: too soon for that site */
    unsigned long long tables;         /* answer tables published */
} lb_prober_stats;

/* Where the rankings go. At most every 100 ms (and at once on configure)
 * the prober builds a table: table_new(arg, wake), then set_rank for every
 * service of the configuration in force, then publish(arg, table) (the sink
 * owns it from then on), or discard(arg, table) when out of memory. wake is
 * the event a reader activates (thread-safe) after flagging a service whose
 * data is stale; take_refresh(arg, svc) then says, and clears, whether
 * service svc was flagged (0 when nothing is published). */
typedef struct lb_prober_sink {
    void *(*table_new)(void *arg, struct event *wake);
    int (*set_rank)(void *table, size_t svc, const glb_site *const *ranked, size_t n, size_t share, int failopen,
                    double stale_at);
    void (*publish)(void *arg, void *table);
    void (*discard)(void *arg, void *table);
    int (*take_refresh)(void *arg, size_t svc);
    void *arg;
} lb_prober_sink;

/* A prober handing its rankings to sink (copied). NULL with err. */
lb_prober *lb_prober_new(struct event_base *base, const lb_prober_sink *sink, char *err, size_t errlen);

/* Applies a configuration (the prober copies conf, whose pointers must stay
 * valid until the next call or lb_prober_free). Sites kept by name keep their health;
 * removed sites stop being probed at once. Publishes a table at once.
 * Returns 0, or -1 with err (the old configuration then stays in force). */
int lb_prober_configure(lb_prober *p, const lb_measure_conf *conf, char *err, size_t errlen);

/* Whether the files lb_prober_configure would load for conf (the ca-file of
 * the https checks) load: 0, or -1 with err. For a reload, before any part
 * of it is put in force. */
int lb_prober_check_tls(const lb_prober *p, const lb_measure_conf *conf, char *err, size_t errlen);

/* Stops every check and frees the prober (not the published table). */
void lb_prober_free(lb_prober *p);

/* Runs the checks of every site named site (in any service, or
 * "SERVICE/SITE") now, unless that site had an on-demand check (this or a
 * stale-data refresh) less than on-demand-interval ago; checks in flight are
 * joined. One line per site into out (when not NULL) says started, joined,
 * rate-limited or nothing to check. done(arg, found) runs when the started
 * and joined checks have completed (before the return when there are none).
 * Returns the number of sites found. */
size_t lb_prober_check_now(lb_prober *p, const char *site, struct evbuffer *out,
                           void (*done)(void *arg, size_t found), void *arg);

/* The clock the prober reads, monotonic seconds (glb_mono by default): tests
 * replace it. Set it before lb_prober_configure. */
void lb_prober_set_clock(lb_prober *p, double (*now)(void));

/* One line per site: service, site, addresses, state, averages, score, last check. */
void lb_prober_report_sites(lb_prober *p, struct evbuffer *out);

/* Counts of sites by state, and the ICMP modes. */
void lb_prober_report_status(lb_prober *p, struct evbuffer *out);

void lb_prober_stats_get(const lb_prober *p, lb_prober_stats *out);

/* Calls fn(arg) from the event loop after each new answer table (a few
 * times a second at most): the DNS-LB reports its orders to the DNS-Bs. */
void lb_prober_on_publish(lb_prober *p, void (*fn)(void *arg), void *arg);

/* Services in the configuration last given. */
size_t lb_prober_services(const lb_prober *p);

/* Service svc's name (wire form) and current order: up to max site names
 * best first, with their scores in ms (NAN: not measured), and in *share
 * the leading sites sharing first place. Returns how many; 0 when none is
 * ranked or every site is dead (fail-open). Names live until the next
 * lb_prober_configure. */
size_t lb_prober_order(const lb_prober *p, size_t svc, const uint8_t **service, const char **names,
                       double *score_ms, size_t max, size_t *share);

/* One site as the metrics and the status page read it (dnslb/control.c, dnslb/status.c). */
typedef struct lb_site_view {
    const uint8_t *service;      /* wire form; lives until the next lb_prober_configure */
    const char *site;
    int state;                   /* enum lb_state (dnslb/health.h) */
    double latency_ms, loss, score_ms; /* NaN while not measured */
    unsigned long checks, failures, changes;
    const char *answer;          /* in the answers or not, and why: in:best, in:margin, in:failopen,
                                  * out:dead, out:unmeasured, out:slower (dnslb-control sites) */
    const char *last;            /* the last check's result, "" before the first */
    double last_check;           /* when, the prober's clock; 0: never */
    const lb_history *history;   /* the last hour (status page); until the next lb_prober_configure */
} lb_site_view;

/* The prober's clock now (lb_prober_set_clock): what last_check and the
 * history are measured against. */
double lb_prober_now(const lb_prober *p);

/* Site i (0 .. sites - 1, the order of the sites table) into *v: 0, or -1
 * past the last. */
int lb_prober_site_view(const lb_prober *p, size_t i, lb_site_view *v);

/* The event that answering threads activate to ask for fresh checks. */
struct event *lb_prober_wake_event(lb_prober *p);

#endif

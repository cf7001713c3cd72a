/* The map protocol client's insides, shared by its three files: mapclient.c
 * (the client: configuration, TLS context, sessions list, public calls),
 * mapsess.c (one session's life: connect, TLS, HELLO, keepalives, framing)
 * and mapreg.c (what we say and hear: claims, REGISTER and its ACK, RANKING,
 * SERVICES and the services file). Not for other modules.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_MAPCLIENT_INT_H
#define DNSLB_MAPCLIENT_INT_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "dnslb/mapclient.h"
#include "dnslb/mapsvc.h"
#include "proto/map.h"
#include "proto/stream.h"
#include "shared/dname.h"

enum {
    ST_IDLE,       /* not started */
    ST_WAIT,       /* waiting to reconnect */
    ST_CONNECTING, /* TCP and TLS */
    ST_HELLO,      /* our HELLO sent, the server's awaited */
    ST_UP,         /* ESTABLISHED */
    ST_CLOSING,    /* a last BYE or ERROR is leaving */
    ST_STOPPED,    /* after lb_mapclient_shutdown() */
};

typedef struct sess {
    lb_mapclient *mc;
    glb_addr addr;
    char label[GLB_ADDRSTRLEN];  /* ADDR@PORT, for logs */
    int state;
    struct bufferevent *bev;
    struct event *timer;         /* reconnect, or the session's next deadline */
    double deadline;             /* CONNECTING, HELLO, CLOSING: give up at */
    double backoff;              /* the next reconnect delay, before jitter */
    double up_since;             /* monotonic, 0 when not ESTABLISHED */
    int end_failure, end_fatal;  /* how the CLOSING session ends */
    char peer_id[64];            /* the server's id (certificate CN; also read from the services file) */
    uint8_t whoami[GLB_DNAME_MAX];
    int has_whoami;
    uint32_t keepalive;
    uint64_t peer_caps;          /* the server's HELLO capabilities */
    double last_sent, last_recv;
    int send_failed;             /* a message could not be queued: the session ends at the next tick */
    /* registration */
    int reg_out, reg_again;      /* a REGISTER unanswered; another wanted when it is */
    uint64_t reg_seq;
    double next_reg;
    int acked;
    uint32_t granted;
    size_t naccepted, nrejected;
    uint64_t rej_sig;            /* of the last rejected set, to log changes loudly */
    /* keepalive */
    int ka_out;
    uint64_t ka_nonce;
    double ka_sent, rtt;         /* rtt < 0: not measured */
    /* services */
    lb_svcset set;
    lb_svcupd upd;
    char last_err[200];
} sess;

struct lb_mapclient {
    struct event_base *base;
    lb_mapclient_tuning t;
    lb_mapclient_cb cb;
    void *arg;
    SSL_CTX *ctx;
    char tls_files[3][256];
    struct stat tls_stat[3];
    char id[64];
    /* what REGISTER says, from the configuration */
    unsigned refresh, lifetime;
    glb_addr dns[GLB_MAP_MAX_ADDRS], proxy[GLB_MAP_MAX_ADDRS];
    size_t ndns, nproxy;
    glb_prefix *clients;
    size_t nclients;
    int has_location;
    glb_map_location loc;
    char services_file[256];
    sess **s;                    /* configuration order */
    size_t ns;
    lb_whoami *whoami;           /* NULL for an agent */
    int has_src4, has_src6;      /* agent: sessions leave from the probes' source addresses */
    glb_addr src4, src6;
    int agent;                   /* an mservice agent: role mservice, METRICS for RANKING, box: for dnsb: */
    void (*on_request)(void *arg); /* agent: the box asked for fresh metrics (empty METRICS) */
    int started, stopping;
    int withdrawn;               /* REGISTERs say lifetime 0 (withdraw, or stopping) */
    uint64_t last_seq;
    glb_map_claim *claims;       /* as last built */
    size_t nclaims;
    uint8_t *image;              /* the last registration encoded with sequence 1: changes show */
    size_t image_len;
    struct event *ev_notify, *ev_done, *t_shutdown;
    glb_map_reader rd;           /* decodes every session's frames, one at a time */
    uint8_t *rk_frame;           /* the last RANKING (agent: METRICS), encoded once for every session */
    size_t rk_len;
    struct event *t_rank;        /* sends it, at most once a second */
    double rk_last;
    void (*done)(void *arg);
    void *done_arg;
    uint64_t rnd;
    lb_mapclient_stats st;
};

/* A timeval of s seconds, at least 1 ms. */
static inline struct timeval lbmc_tv(double s)
{
    if (s < 0.001)
        s = 0.001;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    return tv;
}

/* ---- mapclient.c ---- */

/* 64 random bits (nonces, jitter): getrandom, else a xorshift. */
uint64_t lbmc_rnd64(lb_mapclient *mc);
/* Tells the owner, from the event loop, that the effective services changed. */
void lbmc_notify(lb_mapclient *mc);
/* Hands the whoami names the sessions' servers announced to the discoverer. */
void lbmc_update_whoami_names(lb_mapclient *mc);

/* ---- mapsess.c ---- */

/* A session with the server at a, idle; NULL when out of memory. */
sess *lbmc_sess_new(lb_mapclient *mc, const glb_addr *a);
/* Closes s at once and frees it. */
void lbmc_sess_free(sess *s);
/* Starts TCP and TLS to s's server. */
void lbmc_sess_connect(sess *s);
/* Sets s's timer to its next deadline. */
void lbmc_sess_arm(sess *s);
/* Drops the connection and what it had pending; the state stays. */
void lbmc_sess_drop(sess *s);
/* The session is over: reconnect after a jittered backoff, unless stopping. */
void lbmc_sess_end(sess *s, int failure, int fatal);
/* Lets a last message leave, then ends the session. */
void lbmc_sess_close(sess *s, int failure, int fatal);
/* A protocol error of the server's: sends ERROR code (about ref_type), closes. */
void lbmc_sess_error(sess *s, int code, const char *text, int ref_type);
/* Encodes and queues m; -1 (and the session ends at its next tick) on failure. */
int lbmc_send(sess *s, const glb_map_msg *m);
/* Sends BYE (code = reason) or ERROR (code, about ref_type when > 0). */
void lbmc_send_simple(sess *s, uint8_t type, unsigned code, const char *text, int ref_type);
/* Stopping: calls the done callback once no session is still closing. */
void lbmc_shutdown_check(lb_mapclient *mc);

/* ---- mapreg.c ---- */

/* Takes what REGISTER says from conf: id, lifetimes, addresses, client prefixes. */
void lbmc_take_conf(lb_mapclient *mc, const lb_conf *conf);
/* Rebuilds the claims: resolvers, client prefixes, egress addresses. */
void lbmc_build_claims(lb_mapclient *mc);
/* Re-registers with every established session when what REGISTER says changed. */
void lbmc_registration_check(lb_mapclient *mc);
/* Sends REGISTER on s, or once its unanswered one is acknowledged. */
void lbmc_send_register(sess *s);
/* Sends a REGISTER with lifetime 0 now, even with one unanswered (stopping). */
void lbmc_send_withdrawal(sess *s);
/* Takes the server's REGISTER_ACK: counts, logs rejections, schedules the refresh. */
void lbmc_on_ack(sess *s, const glb_map_register_ack *a);
/* Sends the last RANKING on s when the server uses rankings and s may. */
void lbmc_send_ranking(sess *s);
/* Timer: sends the last RANKING to every session. */
void lbmc_rank_cb(evutil_socket_t fd, short what, void *arg);
/* Writes every session's services to the services file, when one is set. */
void lbmc_write_services_file(lb_mapclient *mc);
/* Takes one SERVICES part; applies the set when complete. */
void lbmc_on_services(sess *s, const glb_map_services *m);

#endif

/* bench/maplb's simulated measurement agents (role mservice, PROTOCOL.md
 * §10.3) for bench/agents-qps. Not installed.
 *
 *   maplb agents-setup --dir DIR [--agents N] [--id ID]
 *       writes DIR/ca.pem, ca.key (EC P-256 CA), box.pem, box.key (the
 *       combined box's certificate: CN ID, default cb, subjectAltName
 *       IP:127.0.0.1) and allow.conf, the "allow: ID PREFIX" lines of the
 *       box's agents: section, one per agent.
 *
 *   maplb agents --dir DIR --server ADDR@PORT [--agents N] [--concurrency C]
 *                [--lifetime SEC] [--timeout SEC]
 *       makes N client certificates in memory (each its own key, signed by
 *       DIR/ca.key; timed), then runs N agent sessions over TLS 1.3, at
 *       most C at once: HELLO (role mservice, capability metrics), REGISTER
 *       with one client claim (its prefix), REGISTER_ACK, the box's
 *       SERVICES, one METRICS for every site of every service, then BYE;
 *       the agent is done when the box has closed. The box keeps an agent's
 *       claims for the lifetime and its metrics for its max-age after the
 *       session ended, and holds only 64 agent sessions at once
 *       (LBA_MAX_SESSIONS): hence short sessions. Prints on stdout
 *         certs agents=... make_s=...
 *         registered agents=... ok=... failed=... register_s=... accepted=...
 *                    rejected=... metrics=... retries=...
 *       Exit 0 when every agent registered and sent its metrics.
 *
 * Layout: agent i (1..N) is agentIIII; it measures for the clients
 * 127.(10 + (i-1) / 256).((i-1) % 256).0/24, and reports the site number
 * (i-1) mod S of each service of S sites (in the order SERVICES lists
 * them, the box's configuration order) as best: 10 ms, then each next
 * one 30 ms slower, all up, no loss. Agents 1, 2, 3 of a service of three
 * sites thus see three different bests.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <getopt.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/maplb.h"
#include "proto/map.h"
#include "proto/stream.h"
#include "shared/addr.h"

#define MAX_AGENTS 9999   /* four digits in the ids; 127.10.0.0 .. 127.49.14.0 */
#define SESSION_TIMEOUT 30.0
#define ATTEMPTS 3

static struct {
    const char *dir, *server, *id;
    unsigned n, concurrency, lifetime;
    double timeout;
} ao = {.id = "cb", .n = 1000, .concurrency = 32, .lifetime = 3600, .timeout = 120};

enum { A_IDLE, A_CONNECTING, A_HELLO, A_REG, A_ACKED, A_BYE, A_OK, A_FAILED };

typedef struct agent {
    unsigned idx; /* 1..N */
    char id[16];
    X509 *cert;
    EVP_PKEY *key;
    struct bufferevent *bev;
    int state;
    unsigned attempts;
    double t_start, t_next;
    size_t nmetrics; /* sent in this session */
} agent;

static struct {
    struct event_base *base;
    SSL_CTX *ctx;
    glb_addr server;
    agent *ag;
    unsigned next, inflight, ok, failed;
    uint64_t accepted, rejected, metrics, retries;
    double t0;
    uint8_t *obuf;
    glb_map_reader rd;
    glb_map_metric *met;
} g;

static uint32_t agent_net(unsigned i)
{
    return (127u << 24) | ((10u + (i - 1) / 256) << 16) | (((i - 1) % 256) << 8);
}

static void agent_id(unsigned i, char *buf, size_t len)
{
    snprintf(buf, len, "agent%04u", i);
}

static int cmd_setup(void)
{
    EVP_PKEY *cak = make_key(), *bk = make_key();
    X509 *ca = make_cert("glb-bench-ca", cak, NULL, NULL, 1, NULL, 1);
    X509 *box = make_cert(ao.id, bk, ca, cak, 0, "IP:127.0.0.1", 2);
    write_pem("ca.pem", ca, NULL);
    write_pem("ca.key", NULL, cak);
    write_pem("box.pem", box, NULL);
    write_pem("box.key", NULL, bk);
    FILE *f = open_out("allow.conf", "w");
    char id[16];
    for (unsigned i = 1; i <= ao.n; i++) {
        uint32_t a = agent_net(i);
        agent_id(i, id, sizeof(id));
        fprintf(f, "    allow: %s %u.%u.%u.0/24\n", id, a >> 24, (a >> 16) & 255, (a >> 8) & 255);
    }
    if (fclose(f) != 0)
        die("cannot write allow.conf");
    X509_free(ca), X509_free(box), EVP_PKEY_free(cak), EVP_PKEY_free(bk);
    printf("agents-setup agents=%u id=%s dir=%s\n", ao.n, ao.id, ao.dir);
    return 0;
}

/* ---- sessions ------------------------------------------------------------ */

static void fill(void);

static void send_msg(agent *a, const glb_map_msg *m)
{
    size_t len;
    glb_map_error e;
    if (glb_map_encode(m, g.obuf, GLB_MAP_MAX_FRAME, &len, &e) != GLB_MAP_OK)
        die("cannot encode %s: %s", glb_map_type_name(m->type), e.text);
    if (bufferevent_write(a->bev, g.obuf, len) != 0)
        die("out of memory");
}

static void agent_close(agent *a)
{
    if (a->bev) {
        bufferevent_free(a->bev);
        a->bev = NULL;
        g.inflight--;
    }
}

/* The session ended well (ok) or not: the agent is done, or tries again. */
static void agent_end(agent *a, int ok, const char *why)
{
    agent_close(a);
    if (ok) {
        a->state = A_OK;
        g.ok++;
    } else if (++a->attempts < ATTEMPTS) {
        if (g.retries++ < 20)
            fprintf(stderr, "maplb: %s: %s (trying again)\n", a->id, why);
        a->state = A_IDLE;
        a->t_next = mono() + 1;
    } else {
        fprintf(stderr, "maplb: %s: %s (giving up)\n", a->id, why);
        a->state = A_FAILED;
        g.failed++;
    }
    if (g.ok + g.failed == ao.n)
        event_base_loopbreak(g.base);
    else
        fill();
}

static void send_register(agent *a)
{
    glb_map_claim c = {.kind = GLB_MAP_CLAIM_CLIENT, .prefix = {.family = AF_INET, .len = 24}};
    uint32_t net = htonl(agent_net(a->idx));
    memcpy(c.prefix.b, &net, 4);
    glb_map_msg m = {.type = GLB_MAP_REGISTER,
                     .u.reg = {.node_id = a->id, .sequence = wall_ms(), .lifetime = ao.lifetime, .claims = &c,
                               .nclaims = 1}};
    send_msg(a, &m);
    a->state = A_REG;
}

/* One METRICS for the sites of this SERVICES (part); after the last part, BYE. */
static void send_metrics(agent *a, const glb_map_services *sv)
{
    size_t n = 0;
    uint64_t now = wall_ms();
    for (size_t i = 0; i < sv->nservices; i++) {
        const glb_map_service *s = &sv->services[i];
        size_t best = s->nsites ? (a->idx - 1) % s->nsites : 0;
        for (size_t j = 0; j < s->nsites && n < GLB_MAP_MAX_METRICS; j++) {
            size_t rank = (j + s->nsites - best) % s->nsites;
            g.met[n++] = (glb_map_metric){.site = s->sites[j].name, .service = s->name,
                                          .latency = (uint32_t)(10000 + 30000 * rank), .samples = 20,
                                          .time = now, .state = GLB_MAP_STATE_UP};
        }
    }
    if (n) {
        glb_map_msg m = {.type = GLB_MAP_METRICS, .u.metrics = {.metrics = g.met, .nmetrics = n}};
        send_msg(a, &m);
        a->nmetrics += n;
        g.metrics += n;
    }
    if (sv->more)
        return;
    if (a->nmetrics == 0) {
        agent_end(a, 0, "the box's SERVICES hold no site");
        return;
    }
    glb_map_msg b = {.type = GLB_MAP_BYE, .u.bye = {.reason = GLB_MAP_BYE_SHUTDOWN}};
    send_msg(a, &b);
    a->state = A_BYE; /* done when the box closes, having read all */
}

static void on_frame(agent *a, const glb_map_msg *m)
{
    char why[1200];
    switch (m->type) {
    case GLB_MAP_HELLO:
        if (a->state != A_HELLO || m->u.hello.role != GLB_MAP_ROLE_LB)
            agent_end(a, 0, "unexpected HELLO");
        else
            send_register(a);
        return;
    case GLB_MAP_REGISTER_ACK:
        if (a->state != A_REG) {
            agent_end(a, 0, "unexpected REGISTER_ACK");
            return;
        }
        g.accepted += m->u.ack.naccepted;
        g.rejected += m->u.ack.nrejected;
        if (m->u.ack.naccepted != 1) {
            agent_end(a, 0, "its client claim was rejected");
            return;
        }
        a->state = A_ACKED;
        return;
    case GLB_MAP_SERVICES:
        if (a->state == A_ACKED)
            send_metrics(a, &m->u.services);
        return;
    case GLB_MAP_METRICS: /* a request for fresh ones: these are fresh */
        return;
    case GLB_MAP_KEEPALIVE:
        if (!m->u.keepalive.reply) {
            glb_map_msg k = {.type = GLB_MAP_KEEPALIVE, .u.keepalive = {.nonce = m->u.keepalive.nonce, .reply = 1}};
            send_msg(a, &k);
        }
        return;
    case GLB_MAP_BYE:
        snprintf(why, sizeof(why), "BYE %s", glb_map_bye_name(m->u.bye.reason));
        agent_end(a, 0, why);
        return;
    case GLB_MAP_ERROR:
        snprintf(why, sizeof(why), "ERROR %s: %s", glb_map_code_name(m->u.error.code),
                 m->u.error.text ? m->u.error.text : "");
        agent_end(a, 0, why);
        return;
    default:
        agent_end(a, 0, "unexpected message");
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    agent *a = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (a->bev == bev && a->state >= A_HELLO && a->state <= A_BYE) { /* an ERROR after BYE fails */
        glb_map_msg m;
        glb_map_error e;
        int r = glb_map_read(&g.rd, in, &m, &e);
        if (r == 0)
            return;
        if (r < 0 || e.code != GLB_MAP_OK) {
            agent_end(a, 0, r < 0 ? "bad frame header" : "undecodable frame");
            return;
        }
        on_frame(a, &m);
    }
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    agent *a = arg;
    if (a->bev != bev)
        return;
    if (what & BEV_EVENT_CONNECTED) {
        glb_map_msg h = {.type = GLB_MAP_HELLO};
        glb_map_hello_defaults(&h.u.hello);
        h.u.hello.role = GLB_MAP_ROLE_MSERVICE;
        h.u.hello.version = GLB_MAP_VERSION;
        h.u.hello.node_id = a->id;
        h.u.hello.caps = GLB_MAP_CAP_METRICS;
        h.u.hello.software = "glb maplb agents";
        send_msg(a, &h);
        a->state = A_HELLO;
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (a->state == A_BYE) { /* the box read our BYE, after the METRICS */
        agent_end(a, 1, NULL);
        return;
    }
    char why[300];
    maplb_conn_error(bev, what, why, sizeof(why));
    agent_end(a, 0, why);
}

static void agent_connect(agent *a)
{
    g.inflight++;
    a->state = A_CONNECTING;
    a->nmetrics = 0;
    a->t_start = mono();
    if (maplb_connect(&a->bev, g.base, g.ctx, &g.server, a->cert, a->key, read_cb, event_cb, a) != 0)
        agent_end(a, 0, strerror(errno));
}

/* Starts sessions while fewer than C are open: new agents in order, then
 * retries whose second has passed. */
static void fill(void)
{
    double now = mono();
    while (g.inflight < ao.concurrency && g.next < ao.n)
        agent_connect(&g.ag[g.next++]);
    for (unsigned i = 0; i < g.next && g.inflight < ao.concurrency; i++)
        if (g.ag[i].state == A_IDLE && now >= g.ag[i].t_next)
            agent_connect(&g.ag[i]);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    double now = mono();
    if (now - g.t0 > ao.timeout) {
        fprintf(stderr, "maplb: gave up: %u of %u agents done after %.0f s\n", g.ok, ao.n, now - g.t0);
        event_base_loopbreak(g.base);
        return;
    }
    for (unsigned i = 0; i < g.next; i++)
        if (g.ag[i].bev && now - g.ag[i].t_start > SESSION_TIMEOUT)
            agent_end(&g.ag[i], 0, "session not done within 30 s");
    fill();
}

static int cmd_run(void)
{
    if (!ao.server || glb_addrport_parse(ao.server, 5381, &g.server) != 0)
        die("--server ADDR@PORT required");
    signal(SIGPIPE, SIG_IGN);
    double t = mono();
    X509 *ca = read_cert("ca.pem");
    EVP_PKEY *cak = read_key("ca.key");
    g.ag = calloc(ao.n, sizeof(*g.ag));
    g.obuf = malloc(GLB_MAP_MAX_FRAME);
    g.met = calloc(GLB_MAP_MAX_METRICS, sizeof(*g.met));
    if (!g.ag || !g.obuf || !g.met)
        die("out of memory");
    for (unsigned i = 0; i < ao.n; i++) {
        agent *a = &g.ag[i];
        a->idx = i + 1;
        agent_id(a->idx, a->id, sizeof(a->id));
        a->key = make_key();
        a->cert = make_cert(a->id, a->key, ca, cak, 0, NULL, 1000 + (long)i);
    }
    printf("certs agents=%u make_s=%.2f\n", ao.n, mono() - t);
    fflush(stdout);

    g.ctx = maplb_client_ctx(ca);
    if (!(g.base = event_base_new()))
        die("no event base");
    struct timeval tv = {0, 100000};
    struct event *tick = event_new(g.base, -1, EV_PERSIST, tick_cb, NULL);
    if (!tick || event_add(tick, &tv) != 0)
        die("cannot set up events");
    g.t0 = mono();
    fill();
    event_base_dispatch(g.base);
    printf("registered agents=%u ok=%u failed=%u register_s=%.2f accepted=%llu rejected=%llu metrics=%llu "
           "retries=%llu\n",
           ao.n, g.ok, ao.n - g.ok, mono() - g.t0, (unsigned long long)g.accepted, (unsigned long long)g.rejected,
           (unsigned long long)g.metrics, (unsigned long long)g.retries);
    fflush(stdout);
    for (unsigned i = 0; i < ao.n; i++) {
        if (g.ag[i].bev)
            bufferevent_free(g.ag[i].bev);
        X509_free(g.ag[i].cert);
        EVP_PKEY_free(g.ag[i].key);
    }
    event_free(tick);
    event_base_free(g.base);
    SSL_CTX_free(g.ctx);
    X509_free(ca);
    EVP_PKEY_free(cak);
    free(g.ag), free(g.obuf), free(g.met);
    glb_map_reader_free(&g.rd);
    return g.ok == ao.n ? 0 : 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: maplb agents-setup --dir DIR [--agents N] [--id ID]\n"
               "       maplb agents --dir DIR --server ADDR@PORT [--agents N] [--concurrency C]\n"
               "                    [--lifetime SEC] [--timeout SEC]\n"
               "defaults: --agents 1000 --id cb --concurrency 32 --lifetime 3600 --timeout 120\n");
}

int maplb_agents_main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"dir", required_argument, NULL, 'd'},      {"server", required_argument, NULL, 's'},
        {"agents", required_argument, NULL, 'n'},   {"id", required_argument, NULL, 'i'},
        {"concurrency", required_argument, NULL, 'c'}, {"lifetime", required_argument, NULL, 'L'},
        {"timeout", required_argument, NULL, 'T'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'd': ao.dir = optarg; break;
        case 's': ao.server = optarg; break;
        case 'n': ao.n = uarg(optarg, "--agents"); break;
        case 'i': ao.id = optarg; break;
        case 'c': ao.concurrency = uarg(optarg, "--concurrency"); break;
        case 'L': ao.lifetime = uarg(optarg, "--lifetime"); break;
        case 'T': ao.timeout = darg(optarg, "--timeout"); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !ao.dir) {
        usage(stderr);
        return 2;
    }
    if (ao.n == 0 || ao.n > MAX_AGENTS)
        die("--agents must be 1..%u", MAX_AGENTS);
    if (ao.concurrency == 0 || ao.concurrency > 64)
        die("--concurrency must be 1..64 (the box's limit of agent sessions)");
    if (ao.lifetime == 0 || ao.lifetime > GLB_MAP_MAX_LIFETIME)
        die("--lifetime must be 1..%u", GLB_MAP_MAX_LIFETIME);
    if (!glb_map_id_valid(ao.id))
        die("--id '%s' is not a valid node id", ao.id);
    maplb_set_dir(ao.dir);
    return strcmp(argv[1], "agents-setup") == 0 ? cmd_setup() : cmd_run();
}

/* bench/maplb: simulated DNS-LBs for the map protocol benchmarks
 * (bench/map-load, bench/restart), and simulated measurement agents for
 * bench/agents-qps (mapagent.c: maplb agents --help). Not installed.
 *
 *   maplb setup --dir DIR --lbs N --claims M [--swap S] [--queries Q] [--qname NAME]
 *       writes DIR/ca.pem, ca.key (EC P-256 CA), b1.pem, b1.key (the DNS-B's
 *       certificate: CN b1, subjectAltName DNS:b1 IP:127.0.0.1, serverAuth and
 *       clientAuth, so it also serves as dnsb-control's client certificate),
 *       allow.conf (the "allow: lbNNNNN PREFIX" lines of the map: section),
 *       queries.bin (dnsperf -B: QNAME A with EDNS Client Subnet /32 of an
 *       address that stays mapped through the churn, LB and address random)
 *       and sample.txt ("ADDR ID" lines: a mapped address and its LB).
 *
 *   maplb run --dir DIR --server ADDR@PORT --lbs N --claims M [--swap S]
 *             [--refresh SEC] [--duration SEC] [--concurrency C]
 *             [--lifetime SEC] [--timeout SEC]
 *       N TLS 1.3 sessions (client certificates lb00000..., made in memory
 *       and signed by DIR/ca.key), each: HELLO, REGISTER of M resolver claims
 *       (/32 hosts in its own block), REGISTER_ACK, then a new REGISTER every
 *       SEC seconds (phases spread at random) swapping S claims each time,
 *       until --duration seconds after the last first ACK (0: exit once all
 *       are registered). At most C sessions are between connect and their
 *       first REGISTER_ACK at once. Prints on stdout
 *         registered lbs=... register_s=... accepted=... rejected=...
 *       when every LB holds its first ACK, and at the end
 *         done lbs=... acked=... register_s=... registers=... acks=...
 *              refreshes=... accepted=... rejected=... errors=... ...
 *       progress on stderr every 5 s. Exit 0 when every LB registered.
 *
 * Layout: LB i owns the block 10.0.0.0 + i * B of B = 2^k >= M + S addresses
 * (allow line), and claims offsets 0..M-S-1 always, plus offsets M-S..M-1 or
 * M..M+S-1 alternately at each refresh (S claims swapped per REGISTER).
 * SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <getopt.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/maplb.h"
#include "proto/map.h"
#include "proto/stream.h"
#include "shared/addr.h"

/* ---- options and layout ----------------------------------------------- */

static struct {
    const char *dir;
    const char *server;
    const char *qname;
    unsigned lbs, claims, swap, queries;
    double refresh, duration, timeout;
    unsigned concurrency, lifetime;
    unsigned block;   /* addresses per LB: a power of two >= claims + swap */
    unsigned blen;    /* its prefix length */
} opt = {
    .qname = "www.foobar.example",
    .lbs = 10000, .claims = 100, .swap = 10, .queries = 200000,
    .refresh = 30, .duration = 60, .timeout = 180,
    .concurrency = 200, .lifetime = 900,
};

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("maplb: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    unsigned long e = ERR_get_error();
    if (e) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, " (%s)", buf);
    }
    fputc('\n', stderr);
    exit(2);
}

double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void layout(void)
{
    if (opt.lbs == 0 || opt.lbs > 100000)
        die("--lbs must be 1..100000");
    if (opt.claims == 0 || opt.claims > GLB_MAP_MAX_CLAIMS)
        die("--claims must be 1..%u", GLB_MAP_MAX_CLAIMS);
    if (opt.swap >= opt.claims)
        die("--swap must be below --claims");
    opt.block = 1;
    opt.blen = 32;
    while (opt.block < opt.claims + opt.swap)
        opt.block <<= 1, opt.blen--;
    if ((uint64_t)opt.lbs * opt.block > (1u << 24))
        die("%u LBs of %u addresses do not fit in 10.0.0.0/8", opt.lbs, opt.block);
}

static uint32_t block_base(unsigned i)
{
    return (10u << 24) + i * opt.block;
}

/* Offset of claim j of an LB at churn generation gen. */
static unsigned claim_off(unsigned j, unsigned gen)
{
    unsigned stable = opt.claims - opt.swap;
    if (j < stable || (gen & 1) == 0)
        return j;
    return j + opt.swap;
}

static void lb_id(unsigned i, char *buf, size_t len)
{
    snprintf(buf, len, "lb%05u", i);
}

static void ip4_str(uint32_t a, char *buf, size_t len)
{
    snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static unsigned rnd(unsigned n)
{
    uint32_t r;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (uint32_t)rand();
    return n ? r % n : 0;
}

/* ---- setup ------------------------------------------------------------- */

/* One query: QNAME A IN, RD off, EDNS0 (1232) with ECS family 1 /32 = addr. */
static size_t make_query(uint8_t *q, size_t cap, const char *qname, uint32_t addr)
{
    size_t n = 0;
    static const uint8_t hdr[12] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
    memcpy(q, hdr, sizeof(hdr));
    n = sizeof(hdr);
    const char *p = qname;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (l == 0 || l > 63 || n + l + 1 + 40 > cap)
            die("bad query name '%s'", qname);
        q[n++] = (uint8_t)l;
        memcpy(q + n, p, l);
        n += l;
        p += l;
        if (*p == '.')
            p++;
    }
    q[n++] = 0;
    static const uint8_t tail[] = {0, 1, 0, 1,          /* A IN */
                                   0, 0, 41, 0x04, 0xd0, /* OPT, 1232 */
                                   0, 0, 0, 0, 0, 12,    /* ttl, rdlen 12 */
                                   0, 8, 0, 8, 0, 1, 32, 0};
    memcpy(q + n, tail, sizeof(tail));
    n += sizeof(tail);
    q[n++] = (uint8_t)(addr >> 24);
    q[n++] = (uint8_t)(addr >> 16);
    q[n++] = (uint8_t)(addr >> 8);
    q[n++] = (uint8_t)addr;
    return n;
}

static int cmd_setup(void)
{
    layout();
    EVP_PKEY *cak = make_key();
    X509 *ca = make_cert("glb-bench-ca", cak, NULL, NULL, 1, NULL, 1);
    write_pem("ca.pem", ca, NULL);
    write_pem("ca.key", NULL, cak);
    EVP_PKEY *bk = make_key();
    X509 *b1 = make_cert("b1", bk, ca, cak, 0, "DNS:b1,IP:127.0.0.1", 2);
    write_pem("b1.pem", b1, NULL);
    write_pem("b1.key", NULL, bk);

    FILE *f = open_out("allow.conf", "w");
    char id[16], a[32];
    for (unsigned i = 0; i < opt.lbs; i++) {
        lb_id(i, id, sizeof(id));
        ip4_str(block_base(i), a, sizeof(a));
        fprintf(f, "    allow: %s %s/%u\n", id, a, opt.blen);
    }
    if (fclose(f) != 0)
        die("cannot write allow.conf");

    unsigned stable = opt.claims - opt.swap;
    f = open_out("queries.bin", "wb");
    uint8_t q[512];
    for (unsigned k = 0; k < opt.queries; k++) {
        uint32_t addr = block_base(rnd(opt.lbs)) + rnd(stable);
        size_t n = make_query(q, sizeof(q), opt.qname, addr);
        uint8_t len[2] = {(uint8_t)(n >> 8), (uint8_t)n};
        if (fwrite(len, 1, 2, f) != 2 || fwrite(q, 1, n, f) != n)
            die("cannot write queries.bin");
    }
    if (fclose(f) != 0)
        die("cannot write queries.bin");

    f = open_out("sample.txt", "w");
    unsigned pick[4] = {0, opt.lbs / 3, (2 * opt.lbs) / 3, opt.lbs - 1};
    for (unsigned k = 0; k < 4; k++) {
        lb_id(pick[k], id, sizeof(id));
        ip4_str(block_base(pick[k]) + (stable > 1 ? stable - 1 : 0), a, sizeof(a));
        fprintf(f, "%s %s\n", a, id);
    }
    if (fclose(f) != 0)
        die("cannot write sample.txt");
    X509_free(ca), X509_free(b1), EVP_PKEY_free(cak), EVP_PKEY_free(bk);
    printf("setup lbs=%u claims=%u block=/%u queries=%u dir=%s\n", opt.lbs, opt.claims, opt.blen, opt.queries,
           opt.dir);
    return 0;
}

/* ---- the simulated DNS-LBs --------------------------------------------- */

enum { ST_IDLE, ST_CONNECTING, ST_HELLO, ST_UP };

typedef struct lb {
    unsigned idx;
    char id[16];
    X509 *cert;
    EVP_PKEY *key;
    struct bufferevent *bev;
    int state;
    int pending;          /* a REGISTER unanswered */
    int acked;            /* got its first REGISTER_ACK */
    int inflight;         /* counted in the connect window */
    unsigned gen;         /* churn generation of the last REGISTER */
    unsigned attempts;
    uint64_t seq;
    double t_start;       /* connect (for the handshake timeout) */
    double t_next;        /* next refresh, or next connect attempt when idle */
    double t_sent;        /* last frame sent */
    unsigned accepted;    /* claims accepted by the last ACK */
} lb;

static struct {
    struct event_base *base;
    SSL_CTX *ctx;
    glb_addr server;
    lb *lbs;
    unsigned next_connect;  /* LBs below it were started once */
    unsigned inflight, acked, up;
    double t0, t_all, t_end;
    uint64_t registers, acks, refreshes, refresh_acks, accepted, rejected, rej_reason[8];
    uint64_t first_accepted, first_rejected; /* by the first REGISTER_ACK of each LB */
    uint64_t errors, byes, disconnects, connect_failures, timeouts, keepalives;
    double ack_lat_sum, ack_lat_max;  /* refresh REGISTER -> ACK */
    uint64_t ack_lat_n;
    uint8_t *obuf;
    glb_map_reader rd;
    glb_map_claim *claims;
    int reported;
    int stopping;
} g;

static void lb_close(lb *l);

static void send_frame(lb *l, size_t len)
{
    if (bufferevent_write(l->bev, g.obuf, len) != 0)
        die("out of memory");
    l->t_sent = mono();
}

static void send_hello(lb *l)
{
    glb_map_hello h;
    glb_map_hello_defaults(&h);
    h.role = GLB_MAP_ROLE_LB;
    h.version = GLB_MAP_VERSION;
    h.node_id = l->id;
    h.software = "glb maplb";
    size_t len;
    if (glb_map_encode_hello(&h, g.obuf, GLB_MAP_MAX_FRAME, &len) != GLB_MAP_OK)
        die("cannot encode HELLO");
    send_frame(l, len);
}

static void send_register(lb *l, unsigned gen)
{
    uint32_t base = block_base(l->idx);
    for (unsigned j = 0; j < opt.claims; j++) {
        glb_map_claim *c = &g.claims[j];
        memset(c, 0, sizeof(*c));
        c->kind = GLB_MAP_CLAIM_RESOLVER;
        c->prefix.family = AF_INET;
        c->prefix.len = 32;
        uint32_t a = htonl(base + claim_off(j, gen));
        memcpy(c->prefix.b, &a, 4);
    }
    glb_addr dns;
    memset(&dns, 0, sizeof(dns));
    dns.family = AF_INET;
    uint32_t da = htonl((127u << 24) + (1u << 16) + l->idx); /* 127.1.0.0 + i */
    memcpy(dns.b, &da, 4);
    uint64_t now = wall_ms();
    l->seq = now > l->seq ? now : l->seq + 1;
    glb_map_register r = {
        .node_id = l->id, .sequence = l->seq, .lifetime = opt.lifetime,
        .dns = &dns, .ndns = 1, .claims = g.claims, .nclaims = opt.claims,
    };
    size_t len;
    if (glb_map_encode_register(&r, g.obuf, GLB_MAP_MAX_FRAME, &len) != GLB_MAP_OK)
        die("cannot encode REGISTER");
    send_frame(l, len);
    l->gen = gen;
    l->pending = 1;
    g.registers++;
    if (l->acked)
        g.refreshes++;
}

static void send_keepalive(lb *l, uint64_t nonce, int reply)
{
    glb_map_keepalive k = {.nonce = nonce, .reply = (uint8_t)reply};
    size_t len;
    if (glb_map_encode_keepalive(&k, g.obuf, GLB_MAP_MAX_FRAME, &len) != GLB_MAP_OK)
        die("cannot encode KEEPALIVE");
    send_frame(l, len);
}

static void window_leave(lb *l)
{
    if (l->inflight) {
        l->inflight = 0;
        g.inflight--;
    }
}

/* Session gone: back to idle; reconnect later unless stopping. */
static void lb_fail(lb *l, uint64_t *counter, const char *why)
{
    (*counter)++;
    if (l->state == ST_UP)
        g.up--;
    if (g.errors + g.connect_failures + g.timeouts + g.disconnects <= 20)
        fprintf(stderr, "maplb: %s: %s\n", l->id, why);
    lb_close(l);
    window_leave(l);
    l->attempts++;
    double backoff = l->attempts < 6 ? (double)(1u << (l->attempts - 1)) : 30.0;
    l->t_next = mono() + backoff * (0.8 + 0.4 * rnd(1000) / 1000.0);
}

static void lb_close(lb *l)
{
    if (l->bev) {
        bufferevent_free(l->bev);
        l->bev = NULL;
    }
    l->state = ST_IDLE;
    l->pending = 0;
}

static void report_registered(void)
{
    g.t_all = mono();
    g.reported = 1;
    printf("registered lbs=%u register_s=%.2f accepted=%llu rejected=%llu\n", g.acked, g.t_all - g.t0,
           (unsigned long long)g.first_accepted, (unsigned long long)g.first_rejected);
    fflush(stdout);
    g.t_end = g.t_all + opt.duration;
}

static void on_frame(lb *l, const glb_map_msg *m)
{
    switch (m->type) {
    case GLB_MAP_HELLO:
        if (l->state != ST_HELLO || m->u.hello.role != GLB_MAP_ROLE_DNSB) {
            lb_fail(l, &g.errors, "unexpected HELLO");
            return;
        }
        l->state = ST_UP;
        g.up++;
        send_register(l, l->acked ? l->gen + 1 : 0);
        return;
    case GLB_MAP_REGISTER_ACK: {
        if (!l->pending) {
            lb_fail(l, &g.errors, "unexpected REGISTER_ACK");
            return;
        }
        const glb_map_register_ack *a = &m->u.ack;
        l->pending = 0;
        g.acks++;
        g.rejected += a->nrejected;
        for (size_t k = 0; k < a->nrejected; k++)
            g.rej_reason[a->rejected[k].reason < 8 ? a->rejected[k].reason : 0]++;
        l->accepted = (unsigned)a->naccepted;
        g.accepted += a->naccepted;
        double now = mono();
        if (l->acked) {
            g.refresh_acks++;
            double d = now - l->t_sent;
            g.ack_lat_sum += d, g.ack_lat_n++;
            if (d > g.ack_lat_max)
                g.ack_lat_max = d;
            l->t_next = now + opt.refresh;
        } else {
            l->acked = 1;
            l->attempts = 0;
            g.first_accepted += a->naccepted;
            g.first_rejected += a->nrejected;
            g.acked++;
            window_leave(l);
            l->t_next = now + opt.refresh * (0.05 + 0.95 * rnd(10000) / 10000.0);
            if (g.acked == opt.lbs && !g.reported)
                report_registered();
        }
        return;
    }
    case GLB_MAP_SERVICES:
    case GLB_MAP_RANKING:
        return;
    case GLB_MAP_KEEPALIVE:
        g.keepalives++;
        if (!m->u.keepalive.reply)
            send_keepalive(l, m->u.keepalive.nonce, 1);
        return;
    case GLB_MAP_BYE: {
        char why[96];
        snprintf(why, sizeof(why), "BYE %s", glb_map_bye_name(m->u.bye.reason));
        lb_fail(l, &g.byes, why);
        return;
    }
    case GLB_MAP_ERROR: {
        char why[1200];
        snprintf(why, sizeof(why), "ERROR %s: %s", glb_map_code_name(m->u.error.code),
                 m->u.error.text ? m->u.error.text : "");
        lb_fail(l, &g.errors, why);
        return;
    }
    default:
        lb_fail(l, &g.errors, "unexpected message");
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    lb *l = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (l->bev == bev && (l->state == ST_HELLO || l->state == ST_UP)) {
        glb_map_msg m;
        glb_map_error e;
        int r = glb_map_read(&g.rd, in, &m, &e);
        if (r == 0)
            break;
        if (r < 0 || e.code != GLB_MAP_OK) {
            lb_fail(l, &g.errors, r < 0 ? "bad frame header" : "undecodable frame");
            return;
        }
        on_frame(l, &m);
    }
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    lb *l = arg;
    if (l->bev != bev)
        return;
    if (what & BEV_EVENT_CONNECTED) {
        l->state = ST_HELLO;
        send_hello(l);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        char why[300];
        maplb_conn_error(bev, what, why, sizeof(why));
        lb_fail(l, l->state == ST_UP ? &g.disconnects : &g.connect_failures, why);
    }
}

static void lb_connect(lb *l)
{
    l->state = ST_CONNECTING;
    l->t_start = mono();
    l->inflight = 1;
    g.inflight++;
    if (maplb_connect(&l->bev, g.base, g.ctx, &g.server, l->cert, l->key, read_cb, event_cb, l) != 0)
        lb_fail(l, &g.connect_failures, strerror(errno));
}

static void print_done(void)
{
    char reg_s[32];
    if (g.reported)
        snprintf(reg_s, sizeof(reg_s), "%.2f", g.t_all - g.t0);
    else
        snprintf(reg_s, sizeof(reg_s), "none");
    printf("done lbs=%u acked=%u up=%u register_s=%s registers=%llu acks=%llu refreshes=%llu refresh_acks=%llu "
           "accepted=%llu rejected=%llu rejected_too_many=%llu rejected_not_allowed=%llu rejected_stale=%llu "
           "errors=%llu byes=%llu disconnects=%llu connect_failures=%llu timeouts=%llu keepalives=%llu "
           "refresh_ack_avg_ms=%.2f refresh_ack_max_ms=%.2f\n",
           opt.lbs, g.acked, g.up, reg_s, (unsigned long long)g.registers, (unsigned long long)g.acks,
           (unsigned long long)g.refreshes, (unsigned long long)g.refresh_acks, (unsigned long long)g.accepted,
           (unsigned long long)g.rejected, (unsigned long long)g.rej_reason[GLB_MAP_REJ_TOO_MANY],
           (unsigned long long)g.rej_reason[GLB_MAP_REJ_NOT_ALLOWED],
           (unsigned long long)g.rej_reason[GLB_MAP_REJ_STALE], (unsigned long long)g.errors,
           (unsigned long long)g.byes, (unsigned long long)g.disconnects, (unsigned long long)g.connect_failures,
           (unsigned long long)g.timeouts, (unsigned long long)g.keepalives,
           g.ack_lat_n ? 1e3 * g.ack_lat_sum / (double)g.ack_lat_n : 0.0, 1e3 * g.ack_lat_max);
    fflush(stdout);
}

static double last_progress;

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    double now = mono();
    if (g.stopping || (g.reported && now >= g.t_end) || (!g.reported && now - g.t0 > opt.timeout)) {
        if (!g.reported)
            fprintf(stderr, "maplb: gave up: %u of %u LBs registered after %.0f s\n", g.acked, opt.lbs, now - g.t0);
        event_base_loopbreak(g.base);
        return;
    }
    /* Start new sessions within the window: first-time ones in order, then
     * retries whose backoff ran out. */
    while (g.inflight < opt.concurrency && g.next_connect < opt.lbs)
        lb_connect(&g.lbs[g.next_connect++]);
    for (unsigned i = 0; i < g.next_connect; i++) {
        lb *l = &g.lbs[i];
        switch (l->state) {
        case ST_IDLE:
            if (g.inflight < opt.concurrency && now >= l->t_next)
                lb_connect(l);
            break;
        case ST_CONNECTING:
        case ST_HELLO:
            if (now - l->t_start > 30)
                lb_fail(l, &g.timeouts, "no HELLO within 30 s");
            break;
        case ST_UP:
            if (l->pending) {
                if (now - l->t_sent > 60)
                    lb_fail(l, &g.timeouts, "no REGISTER_ACK within 60 s");
            } else if (l->acked && opt.refresh > 0 && now >= l->t_next) {
                send_register(l, l->gen + 1);
            } else if (now - l->t_sent > 25) {
                send_keepalive(l, ((uint64_t)rnd(0xffffffffu) << 32) | rnd(0xffffffffu), 0);
            }
            break;
        }
    }
    if (now - last_progress >= 5) {
        last_progress = now;
        fprintf(stderr, "maplb: t=%.0fs started=%u inflight=%u acked=%u up=%u refresh_acks=%llu errors=%llu "
                        "disconnects=%llu\n",
                now - g.t0, g.next_connect, g.inflight, g.acked, g.up, (unsigned long long)g.refresh_acks,
                (unsigned long long)g.errors, (unsigned long long)g.disconnects);
    }
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what, (void)arg;
    g.stopping = 1;
}

static int cmd_run(void)
{
    layout();
    if (!opt.server || glb_addrport_parse(opt.server, 5380, &g.server) != 0)
        die("--server ADDR@PORT required");
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)opt.lbs + 64)
            die("RLIMIT_NOFILE %llu is too low for %u sessions", (unsigned long long)rl.rlim_cur, opt.lbs);
    }
    signal(SIGPIPE, SIG_IGN);

    double t = mono();
    X509 *ca = read_cert("ca.pem");
    EVP_PKEY *cak = read_key("ca.key");
    g.lbs = calloc(opt.lbs, sizeof(*g.lbs));
    g.obuf = malloc(GLB_MAP_MAX_FRAME);
    g.claims = calloc(opt.claims, sizeof(*g.claims));
    if (!g.lbs || !g.obuf || !g.claims)
        die("out of memory");
    for (unsigned i = 0; i < opt.lbs; i++) {
        lb *l = &g.lbs[i];
        l->idx = i;
        lb_id(i, l->id, sizeof(l->id));
        l->key = make_key();
        l->cert = make_cert(l->id, l->key, ca, cak, 0, NULL, 1000 + (long)i);
    }
    fprintf(stderr, "maplb: %u client certificates made in %.2f s\n", opt.lbs, mono() - t);

    g.ctx = maplb_client_ctx(ca);

    g.base = event_base_new();
    if (!g.base)
        die("no event base");
    struct timeval tv = {0, 50000};
    struct event *tick = event_new(g.base, -1, EV_PERSIST, tick_cb, NULL);
    struct event *sigterm = evsignal_new(g.base, SIGTERM, stop_cb, NULL);
    struct event *sigint = evsignal_new(g.base, SIGINT, stop_cb, NULL);
    if (!tick || !sigterm || !sigint || event_add(tick, &tv) != 0 || event_add(sigterm, NULL) != 0 ||
        event_add(sigint, NULL) != 0)
        die("cannot set up events");
    g.t0 = mono();
    last_progress = g.t0;
    tick_cb(-1, 0, NULL);
    event_base_dispatch(g.base);
    print_done();

    for (unsigned i = 0; i < opt.lbs; i++) {
        lb_close(&g.lbs[i]);
        X509_free(g.lbs[i].cert);
        EVP_PKEY_free(g.lbs[i].key);
    }
    event_free(tick), event_free(sigterm), event_free(sigint);
    event_base_free(g.base);
    SSL_CTX_free(g.ctx);
    X509_free(ca);
    EVP_PKEY_free(cak);
    free(g.lbs), free(g.obuf), free(g.claims);
    glb_map_reader_free(&g.rd);
    return g.acked == opt.lbs ? 0 : 1;
}

/* ---- main ------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: maplb setup --dir DIR [--lbs N] [--claims M] [--swap S] [--queries Q] [--qname NAME]\n"
               "       maplb run --dir DIR --server ADDR@PORT [--lbs N] [--claims M] [--swap S]\n"
               "                 [--refresh SEC] [--duration SEC] [--concurrency C] [--lifetime SEC]\n"
               "                 [--timeout SEC]\n"
               "defaults: --lbs 10000 --claims 100 --swap 10 --queries 200000 --refresh 30\n"
               "          --duration 60 --concurrency 200 --lifetime 900 --timeout 180\n"
               "       maplb agents-setup|agents ... (simulated measurement agents: maplb agents --help)\n");
}

unsigned uarg(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v > 100000000ul)
        die("bad %s '%s'", what, s);
    return (unsigned)v;
}

double darg(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || end == s || v < 0 || v > 1e6)
        die("bad %s '%s'", what, s);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "agents-setup") == 0 || strcmp(cmd, "agents") == 0)
        return maplb_agents_main(argc, argv);
    static const struct option lo[] = {
        {"dir", required_argument, NULL, 'd'},       {"server", required_argument, NULL, 's'},
        {"lbs", required_argument, NULL, 'n'},       {"claims", required_argument, NULL, 'm'},
        {"swap", required_argument, NULL, 'S'},      {"queries", required_argument, NULL, 'q'},
        {"qname", required_argument, NULL, 'Q'},     {"refresh", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'D'},  {"concurrency", required_argument, NULL, 'c'},
        {"lifetime", required_argument, NULL, 'L'},  {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'd': opt.dir = optarg; break;
        case 's': opt.server = optarg; break;
        case 'n': opt.lbs = uarg(optarg, "--lbs"); break;
        case 'm': opt.claims = uarg(optarg, "--claims"); break;
        case 'S': opt.swap = uarg(optarg, "--swap"); break;
        case 'q': opt.queries = uarg(optarg, "--queries"); break;
        case 'Q': opt.qname = optarg; break;
        case 'r': opt.refresh = darg(optarg, "--refresh"); break;
        case 'D': opt.duration = darg(optarg, "--duration"); break;
        case 'c': opt.concurrency = uarg(optarg, "--concurrency"); break;
        case 'L': opt.lifetime = uarg(optarg, "--lifetime"); break;
        case 'T': opt.timeout = darg(optarg, "--timeout"); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !opt.dir) {
        usage(stderr);
        return 2;
    }
    if (opt.concurrency == 0)
        die("--concurrency must be at least 1");
    if (opt.lifetime > GLB_MAP_MAX_LIFETIME)
        die("--lifetime must be at most %u", GLB_MAP_MAX_LIFETIME);
    maplb_set_dir(opt.dir);
    if (strcmp(cmd, "setup") == 0)
        return cmd_setup();
    if (strcmp(cmd, "run") == 0)
        return cmd_run();
    usage(stderr);
    return 2;
}

/* ICMP echo prober: one socket per family shared by every ping, a table of
 * pending echoes indexed by the 16-bit sequence number (sequence == slot),
 * and one timer over a min-heap of deadlines.
 *
 * A reply is accepted only when its identifier is ours (random for raw
 * sockets, the socket's port for datagram sockets), its sequence names a
 * pending slot, its source is the address that slot pinged, and its payload
 * carries this pinger's random cookie, the slot's generation and the slot's
 * send time. The generation and send time make a late reply to a timed-out
 * echo harmless after its slot (and so its sequence) has been reused.
 * Callbacks run only from the read and timer events, after the slot is freed,
 * so they may send, cancel or free the pinger.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/measure/probe_icmp.h"

#include <errno.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "shared/log.h"

#ifndef SOL_RAW
#define SOL_RAW 255
#endif
#ifndef ICMP_FILTER
#define ICMP_FILTER 1 /* <linux/icmp.h>: a u32 mask of ICMP types to drop */
#endif

#define MAX_SLOTS 65536u  /* one per sequence number */
#define RECV_BATCH 256    /* packets read per readiness event */
#define SOCK_BUF (1 << 20)

enum { MODE_NONE = 0, MODE_RAW, MODE_DGRAM };

/* What follows the 8-byte ICMP header in our requests (host byte order:
 * only we read it back). */
struct ping_payload {
    uint64_t cookie;
    uint64_t sent_ns;
    uint32_t gen;
    uint32_t family;
};

struct ping_slot {
    glb_addr addr;
    uint64_t sent_ns;
    uint64_t deadline_ns;
    uint64_t timeout_ns;
    glb_ping_cb cb;
    void *arg;
    uint32_t heap_pos; /* index in the heap while pending */
    uint32_t next_free;
    uint16_t gen;      /* 1..65535, bumped on every use */
    uint8_t used;
};

struct ping_family {
    glb_pinger *p;
    int family;
    int mode;
    int fd;
    uint16_t ident; /* network order as written on the wire: see send */
    int check_ident;
    struct event *ev;
};

struct glb_pinger {
    struct event_base *base;
    struct ping_family fam[2]; /* [0] AF_INET, [1] AF_INET6 */
    uint64_t cookie;
    struct ping_slot *slots;
    uint32_t nslots;    /* allocated */
    uint32_t free_head; /* UINT32_MAX when none */
    uint32_t *heap;     /* slot indices ordered by deadline */
    uint32_t nheap;
    struct event *timer;
    uint64_t armed_ns;  /* deadline the timer is set for, 0 when idle */
    int depth;          /* nesting of our event callbacks */
    int dying;          /* freed from a callback: finish when depth is 0 */
};

#define NO_SLOT UINT32_MAX

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t random64(const void *salt)
{
    uint64_t r;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
        return r;
    uint64_t x = now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)salt;
    return splitmix64(&x);
}

static struct ping_family *family_of(glb_pinger *p, int family)
{
    if (family == AF_INET)
        return &p->fam[0];
    if (family == AF_INET6)
        return &p->fam[1];
    return NULL;
}

/* ---- the heap of deadlines ---- */

static int heap_less(const glb_pinger *p, uint32_t a, uint32_t b)
{
    return p->slots[p->heap[a]].deadline_ns < p->slots[p->heap[b]].deadline_ns;
}

static void heap_swap(glb_pinger *p, uint32_t a, uint32_t b)
{
    uint32_t t = p->heap[a];
    p->heap[a] = p->heap[b];
    p->heap[b] = t;
    p->slots[p->heap[a]].heap_pos = a;
    p->slots[p->heap[b]].heap_pos = b;
}

static void heap_up(glb_pinger *p, uint32_t i)
{
    while (i > 0 && heap_less(p, i, (i - 1) / 2)) {
        heap_swap(p, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(glb_pinger *p, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < p->nheap && heap_less(p, l, m))
            m = l;
        if (r < p->nheap && heap_less(p, r, m))
            m = r;
        if (m == i)
            return;
        heap_swap(p, i, m);
        i = m;
    }
}

static void heap_remove(glb_pinger *p, uint32_t pos)
{
    p->nheap--;
    if (pos == p->nheap)
        return;
    uint32_t moved = p->heap[p->nheap];
    heap_swap(p, pos, p->nheap);
    heap_up(p, pos);
    heap_down(p, p->slots[moved].heap_pos);
}

/* Sets the timer for the earliest deadline, or stops it. */
static void timer_arm(glb_pinger *p)
{
    if (p->nheap == 0) {
        if (p->armed_ns)
            evtimer_del(p->timer);
        p->armed_ns = 0;
        return;
    }
    uint64_t now = now_ns(), due = p->slots[p->heap[0]].deadline_ns;
    if (p->armed_ns == due)
        return;
    p->armed_ns = due;
    uint64_t wait = due > now ? due - now : 0;
    struct timeval tv = {.tv_sec = (time_t)(wait / 1000000000u),
                         .tv_usec = (suseconds_t)((wait % 1000000000u + 999) / 1000)};
    evtimer_add(p->timer, &tv);
}

/* ---- slots ---- */

static int slots_grow(glb_pinger *p)
{
    if (p->nslots >= MAX_SLOTS)
        return -1;
    uint32_t n = p->nslots ? p->nslots * 2 : 64;
    if (n > MAX_SLOTS)
        n = MAX_SLOTS;
    struct ping_slot *s = realloc(p->slots, n * sizeof(*s));
    if (!s)
        return -1;
    p->slots = s;
    uint32_t *h = realloc(p->heap, n * sizeof(*h));
    if (!h)
        return -1; /* slots stays larger than needed: harmless */
    p->heap = h;
    /* Push the new slots so that the lowest index is used first. */
    for (uint32_t i = n; i-- > p->nslots;) {
        memset(&s[i], 0, sizeof(s[i]));
        s[i].next_free = p->free_head;
        p->free_head = i;
    }
    p->nslots = n;
    return 0;
}

static void slot_release(glb_pinger *p, uint32_t i)
{
    struct ping_slot *s = &p->slots[i];
    s->used = 0;
    s->cb = NULL;
    s->arg = NULL;
    s->next_free = p->free_head;
    p->free_head = i;
}

/* ---- sockets ---- */

static void family_open(glb_pinger *p, struct ping_family *f, int family)
{
    int proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    const char *fname = family == AF_INET ? "v4" : "v6";
    f->p = p;
    f->family = family;
    f->fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    int raw_errno = errno;
    if (f->fd >= 0) {
        f->mode = MODE_RAW;
        f->ident = (uint16_t)random64(f);
        f->check_ident = 1;
        if (family == AF_INET) {
            uint32_t drop = ~(1u << ICMP_ECHOREPLY);
            if (setsockopt(f->fd, SOL_RAW, ICMP_FILTER, &drop, sizeof(drop)) < 0)
                log_debug("icmp %s: ICMP_FILTER: %s", fname, strerror(errno));
        } else {
            struct icmp6_filter flt;
            ICMP6_FILTER_SETBLOCKALL(&flt);
            ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &flt);
            if (setsockopt(f->fd, IPPROTO_ICMPV6, ICMP6_FILTER, &flt, sizeof(flt)) < 0)
                log_debug("icmp %s: ICMP6_FILTER: %s", fname, strerror(errno));
        }
    } else {
        f->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
        if (f->fd < 0) {
            log_notice("icmp %s unavailable: raw socket: %s; datagram socket: %s", fname,
                       strerror(raw_errno), strerror(errno));
            f->mode = MODE_NONE;
            return;
        }
        f->mode = MODE_DGRAM;
        /* Binding to port 0 picks the identifier; the kernel rewrites every
         * request's identifier to it and delivers only replies carrying it. */
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        ss.ss_family = (sa_family_t)family;
        socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        if (bind(f->fd, (struct sockaddr *)&ss, len) == 0 &&
            getsockname(f->fd, (struct sockaddr *)&ss, &len) == 0) {
            f->ident = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                               : ((struct sockaddr_in6 *)&ss)->sin6_port);
            f->check_ident = 1;
        }
    }
    int sz = SOCK_BUF;
    if (setsockopt(f->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
        (void)setsockopt(f->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    log_debug("icmp %s: %s socket", fname, f->mode == MODE_RAW ? "raw" : "datagram");
}

static void family_close(struct ping_family *f)
{
    if (f->ev)
        event_free(f->ev);
    f->ev = NULL;
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    f->mode = MODE_NONE;
}

static uint16_t inet_cksum(const uint8_t *b, size_t n)
{
    uint32_t sum = 0;
    for (; n > 1; b += 2, n -= 2)
        sum += (uint32_t)b[0] << 8 | b[1];
    if (n)
        sum += (uint32_t)b[0] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* ---- dispatching callbacks ---- */

static void pinger_destroy(glb_pinger *p)
{
    family_close(&p->fam[0]);
    family_close(&p->fam[1]);
    if (p->timer)
        event_free(p->timer);
    free(p->slots);
    free(p->heap);
    free(p);
}

/* Removes pending slot i and runs its callback. Returns -1 when the callback
 * freed the pinger (the caller must stop touching it). */
static int slot_finish(glb_pinger *p, uint32_t i, int ok, double rtt_ms)
{
    struct ping_slot *s = &p->slots[i];
    glb_ping_cb cb = s->cb;
    void *arg = s->arg;
    heap_remove(p, s->heap_pos);
    slot_release(p, i);
    cb(arg, ok, rtt_ms);
    return p->dying ? -1 : 0;
}

/* Ends one of our event callbacks; returns 1 when the pinger is gone. */
static int leave(glb_pinger *p)
{
    p->depth--;
    if (p->dying) {
        if (p->depth == 0)
            pinger_destroy(p);
        return 1;
    }
    return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    glb_pinger *p = arg;
    p->depth++;
    p->armed_ns = 0;
    uint64_t now = now_ns();
    while (p->nheap > 0 && p->slots[p->heap[0]].deadline_ns <= now)
        if (slot_finish(p, p->heap[0], 0, 0.0) < 0)
            break;
    if (!leave(p))
        timer_arm(p);
}

/* Checks one reply (ICMP header onwards, len bytes) from src. */
static int handle_reply(glb_pinger *p, struct ping_family *f, const uint8_t *icmp, size_t len,
                        const struct sockaddr *src)
{
    uint8_t want_type = f->family == AF_INET ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY;
    struct ping_payload pl;
    if (len < 8 + sizeof(pl) || icmp[0] != want_type || icmp[1] != 0)
        return 0;
    uint16_t id = (uint16_t)(icmp[4] << 8 | icmp[5]);
    uint16_t seq = (uint16_t)(icmp[6] << 8 | icmp[7]);
    if (f->check_ident && id != f->ident)
        return 0;
    if (seq >= p->nslots || !p->slots[seq].used)
        return 0;
    struct ping_slot *s = &p->slots[seq];
    memcpy(&pl, icmp + 8, sizeof(pl));
    if (pl.cookie != p->cookie || pl.gen != s->gen || pl.sent_ns != s->sent_ns ||
        pl.family != (uint32_t)f->family)
        return 0;
    glb_addr from;
    size_t nb = glb_addr_bytes(f->family);
    if (glb_addr_from_sockaddr(src, &from) < 0 || from.family != s->addr.family ||
        memcmp(from.b, s->addr.b, nb) != 0)
        return 0;
    uint64_t rtt = now_ns() - s->sent_ns;
    if (rtt > s->timeout_ns) /* late: the timer reports it */
        return 0;
    return slot_finish(p, seq, 1, (double)rtt / 1e6) < 0 ? -1 : 0;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct ping_family *f = arg;
    glb_pinger *p = f->p;
    uint8_t buf[2048];
    p->depth++;
    for (int n = 0; n < RECV_BATCH; n++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        ssize_t r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &sl);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_debug("icmp: recvfrom: %s", strerror(errno));
            break;
        }
        const uint8_t *icmp = buf;
        size_t len = (size_t)r;
        if (f->family == AF_INET && f->mode == MODE_RAW) {
            /* Raw v4 sockets see the IP header; the kernel has not checked
             * the ICMP checksum. */
            if (len < 20 || (buf[0] >> 4) != 4)
                continue;
            size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
            if (ihl < 20 || len < ihl)
                continue;
            icmp += ihl;
            len -= ihl;
            if (inet_cksum(icmp, len) != 0)
                continue;
        }
        if (handle_reply(p, f, icmp, len, (struct sockaddr *)&ss) < 0)
            break;
    }
    if (!leave(p))
        timer_arm(p);
}

/* ---- the public interface ---- */

glb_pinger *glb_pinger_new(struct event_base *base)
{
    glb_pinger *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->base = base;
    p->free_head = NO_SLOT;
    p->fam[0].fd = p->fam[1].fd = -1;
    p->cookie = random64(p);
    p->timer = evtimer_new(base, on_timer, p);
    if (!p->timer)
        goto oom;
    family_open(p, &p->fam[0], AF_INET);
    family_open(p, &p->fam[1], AF_INET6);
    for (int i = 0; i < 2; i++) {
        struct ping_family *f = &p->fam[i];
        if (f->mode == MODE_NONE)
            continue;
        f->ev = event_new(base, f->fd, EV_READ | EV_PERSIST, on_read, f);
        if (!f->ev || event_add(f->ev, NULL) < 0)
            goto oom;
    }
    return p;
oom:
    pinger_destroy(p);
    return NULL;
}

void glb_pinger_free(glb_pinger *p)
{
    if (!p)
        return;
    if (p->depth == 0) {
        pinger_destroy(p);
        return;
    }
    /* Inside one of our callbacks: forget everything now, free on the way out. */
    p->dying = 1;
    p->nheap = 0;
    for (uint32_t i = 0; i < p->nslots; i++)
        p->slots[i].used = 0;
    evtimer_del(p->timer);
    for (int i = 0; i < 2; i++)
        if (p->fam[i].ev)
            event_del(p->fam[i].ev);
}

const char *glb_pinger_mode(const glb_pinger *p, int family)
{
    const struct ping_family *f = family == AF_INET ? &p->fam[0] : family == AF_INET6 ? &p->fam[1] : NULL;
    if (!f || f->mode == MODE_NONE)
        return "unavailable";
    return f->mode == MODE_RAW ? "raw" : "dgram";
}

uint32_t glb_ping_send(glb_pinger *p, const glb_addr *a, unsigned timeout_ms, glb_ping_cb cb, void *arg)
{
    struct ping_family *f = family_of(p, a->family);
    if (!f || f->mode == MODE_NONE || p->dying || !cb)
        return 0;
    if (p->free_head == NO_SLOT && slots_grow(p) < 0) {
        log_debug("icmp: %u echoes pending, none sent", p->nslots);
        return 0;
    }
    uint32_t i = p->free_head;
    struct ping_slot *s = &p->slots[i];
    uint16_t gen = (uint16_t)(s->gen + 1);
    if (gen == 0)
        gen = 1;

    uint8_t pkt[8 + sizeof(struct ping_payload)];
    uint64_t sent = now_ns();
    struct ping_payload pl = {.cookie = p->cookie, .sent_ns = sent, .gen = gen, .family = (uint32_t)a->family};
    pkt[0] = a->family == AF_INET ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
    pkt[1] = 0;
    pkt[2] = pkt[3] = 0;
    pkt[4] = (uint8_t)(f->ident >> 8);
    pkt[5] = (uint8_t)f->ident;
    pkt[6] = (uint8_t)(i >> 8);
    pkt[7] = (uint8_t)i;
    memcpy(pkt + 8, &pl, sizeof(pl));
    if (a->family == AF_INET) { /* the kernel sums v6 and datagram sockets */
        uint16_t ck = inet_cksum(pkt, sizeof(pkt));
        pkt[2] = (uint8_t)(ck >> 8);
        pkt[3] = (uint8_t)ck;
    }
    struct sockaddr_storage ss;
    glb_addr dst = *a;
    dst.port = 0;
    socklen_t sl = glb_addr_to_sockaddr(&dst, &ss);
    ssize_t r;
    do
        r = sendto(f->fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&ss, sl);
    while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof(pkt)) {
        char buf[GLB_ADDRSTRLEN];
        log_debug("icmp: echo to %s not sent: %s", glb_addr_str(a, buf, sizeof(buf)),
                  r < 0 ? strerror(errno) : "short write");
        return 0;
    }

    p->free_head = s->next_free;
    s->used = 1;
    s->gen = gen;
    s->addr = dst;
    s->sent_ns = sent;
    s->timeout_ns = (uint64_t)timeout_ms * 1000000u;
    s->deadline_ns = sent + s->timeout_ns;
    s->cb = cb;
    s->arg = arg;
    s->heap_pos = p->nheap;
    p->heap[p->nheap++] = i;
    heap_up(p, s->heap_pos);
    if (p->depth == 0) /* else our callback re-arms on its way out */
        timer_arm(p);
    return (uint32_t)gen << 16 | i;
}

void glb_ping_cancel(glb_pinger *p, uint32_t handle)
{
    uint32_t i = handle & 0xffff;
    if (!p || handle == 0 || i >= p->nslots)
        return;
    struct ping_slot *s = &p->slots[i];
    if (!s->used || s->gen != (uint16_t)(handle >> 16))
        return;
    heap_remove(p, s->heap_pos);
    slot_release(p, i);
    if (p->depth == 0)
        timer_arm(p);
}

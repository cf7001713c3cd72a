/* ICMP echo (v4 and v6) on libevent: raw sockets when privileged, otherwise
 * unprivileged ICMP datagram sockets where the system allows them
 * (net.ipv4.ping_group_range), otherwise unavailable (never faked).
 * Replies are matched by identifier, sequence and source address.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef MEASURE_PROBE_ICMP_H
#define MEASURE_PROBE_ICMP_H

#include <stdint.h>

#include "shared/addr.h"

struct event_base;

typedef struct glb_pinger glb_pinger;

/* ok: a matching echo reply came back in time; rtt_ms its round trip. */
typedef void (*glb_ping_cb)(void *arg, int ok, double rtt_ms);

/* Opens what it can for both families. Never fails for lack of privilege
 * (that family is then unavailable); NULL only when out of memory. */
glb_pinger *glb_pinger_new(struct event_base *base);
void glb_pinger_free(glb_pinger *p);

/* "raw", "dgram" or "unavailable" for AF_INET / AF_INET6. */
const char *glb_pinger_mode(const glb_pinger *p, int family);

/* Sends one echo request to a. cb runs exactly once from the event loop
 * (reply, or timeout after timeout_ms) unless cancelled. Returns a handle
 * (> 0), or 0 when nothing was sent (family unavailable, send error): then
 * cb is not called. */
uint32_t glb_ping_send(glb_pinger *p, const glb_addr *a, unsigned timeout_ms, glb_ping_cb cb, void *arg);

/* Forgets a pending echo: its callback will not run. */
void glb_ping_cancel(glb_pinger *p, uint32_t handle);

#endif

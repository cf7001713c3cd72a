/* Response rate limiting (RRL) for the UDP answers of the DNS servers: a
 * reflection amplifier is not what we ship. Responses to one source prefix
 * (/24 for IPv4, /56 for IPv6 by default) are limited to `rate` per second,
 * with a burst of `burst` (one second's worth by default); of the responses
 * over the limit every `slip`-th is sent as a truncated (TC=1) answer so that
 * a real client retries over TCP, the others are dropped. TCP is never
 * limited (a TCP client's address is not spoofed).
 *
 * Design: one fixed-size table per server, shared by every UDP thread, read
 * and written lock-free. A bucket is one 64-bit word: a 20-bit tag of the
 * prefix's hash and the GCRA "theoretical arrival time" (TAT, 44 bits of
 * 1.024 us units, relative to the table's creation): a token bucket kept as
 * the time at which it will be full again, so checking and charging is one
 * compare-and-swap. Words are grouped in sets of 8 (one cache line) chosen
 * by a keyed hash of the prefix (the key is random per table, so nobody can
 * aim a flood at a victim's set); a prefix not in its set takes the word of
 * a prefix whose bucket is full (that loses nothing: a full bucket is the
 * same as none), else of the prefix with the least debt. Memory is fixed at
 * creation (GLB_RRL_SLOTS words, 512 KiB), nothing is allocated per packet,
 * no lock is taken; a CAS lost to another thread is retried a few times and
 * then the response passes (fail open: never a stuck thread).
 * The slip counter is the caller's (one per UDP thread), so no cache line
 * is written by every thread.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_RRL_H
#define GLB_RRL_H

#include <stdint.h>

#include "shared/addr.h"

#define GLB_RRL_SLOTS     65536u  /* buckets per table (default) */
#define GLB_RRL_RATE_MAX  100000u /* responses per second and prefix, at most */
#define GLB_RRL_DEFAULT_RATE 200u
#define GLB_RRL_DEFAULT_SLIP 2u
#define GLB_RRL_DEFAULT_V4   24u
#define GLB_RRL_DEFAULT_V6   56u

typedef struct glb_rrl_cfg {
    unsigned rate;       /* responses per second and prefix; 0: no limiting */
    unsigned burst;      /* responses at once from a full bucket; 0: rate (one second's worth) */
    unsigned slip;       /* every slip-th limited response is sent truncated; 0: none */
    unsigned v4_prefix;  /* 1..32; 0: 24 */
    unsigned v6_prefix;  /* 1..128; 0: 56 */
    unsigned slots;      /* buckets, rounded up to a power of two >= 8; 0: GLB_RRL_SLOTS */
} glb_rrl_cfg;

enum glb_rrl_verdict {
    GLB_RRL_PASS = 0, /* send the response */
    GLB_RRL_DROP,     /* over the rate: send nothing */
    GLB_RRL_SLIP      /* over the rate: send a truncated answer (glb_resp_slip) */
};

typedef struct glb_rrl glb_rrl;

/* A table for cfg; NULL when cfg->rate is 0 or out of memory (*err set then). */
glb_rrl *glb_rrl_new(const glb_rrl_cfg *cfg, int *err);
void glb_rrl_free(glb_rrl *r);

/* Charges one response to from's prefix at now_ns (a monotonic clock in
 * nanoseconds) and says what to do with it. *slipctr is the calling
 * thread's count of limited responses. Safe from any number of threads. */
enum glb_rrl_verdict glb_rrl_check(glb_rrl *r, const glb_addr *from, uint64_t now_ns, unsigned *slipctr);

/* The monotonic clock in nanoseconds, for glb_rrl_check. */
uint64_t glb_rrl_now(void);

#endif

/* The rows of section "server" every DNS daemon shares (dnsb, dnslb):
 * where it answers, its threads, its TCP limits, its process chores. Each
 * daemon's schema table takes them by these macros, so key, range, default
 * and help text are written once. (control: differs: TLS at dnsb, loopback
 * only at dnslb; each daemon keeps its own row.)
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_SRVCONF_H
#define GLB_SRVCONF_H

#include <stddef.h>

#include "shared/cfg.h"

/* listen: repeatable, required; handler pushes the address (and checks
 * what the daemon needs). */
#define GLB_SERVER_KEY_LISTEN(handler)                                                        \
    {"server", "listen", GLB_CFG_ADDRPORT, GLB_CFG_REPEAT | GLB_CFG_REQUIRED, 0, 0, 53, handler, \
     "ADDR[@PORT] to answer DNS on, UDP and TCP (repeatable)", 0}

/* workers: an unsigned member 'workers' of T. */
#define GLB_SERVER_KEY_WORKERS(T)                                                              \
    {"server", "workers", GLB_CFG_INT, 0, 1, 64, 0, glb_cfg_set_uint, "answering threads (default 1)", \
     offsetof(T, workers)}

/* edns-buffer-size, tcp-*, rrl-* (response rate limiting, shared/rrl.h),
 * username, pidfile, verbosity, use-syslog: members of T with these names (GLB_SERVER_KEYS_CHECK checks their types). */
#define GLB_SERVER_KEYS(T)                                                                                \
    {"server", "edns-buffer-size", GLB_CFG_INT, 0, 512, 4096, 0, glb_cfg_set_uint,                       \
     "largest UDP answer sent (default 1232)", offsetof(T, edns_size)},                                   \
    {"server", "tcp-idle-timeout", GLB_CFG_INT, 0, 100, 3600000, 0, glb_cfg_set_uint,                    \
     "milliseconds before an idle TCP connection is closed (default 10000)", offsetof(T, tcp_idle_ms)},   \
    {"server", "tcp-max-connections", GLB_CFG_INT, 0, 1, 100000, 0, glb_cfg_set_uint,                    \
     "open TCP connections per worker; when full the oldest idle one is closed (default 512)",           \
     offsetof(T, tcp_max_conns)},                                                                         \
    {"server", "tcp-message-timeout", GLB_CFG_INT, 0, 100, 600000, 0, glb_cfg_set_uint,                  \
     "milliseconds from a TCP message's first byte to its last (default 3000)", offsetof(T, tcp_msg_ms)}, \
    {"server", "tcp-max-per-source", GLB_CFG_INT, 0, 1, 100000, 0, glb_cfg_set_uint,                     \
     "TCP connections per client address and worker; more close its oldest (default 64)",                \
     offsetof(T, tcp_per_source)},                                                                        \
    {"server", "rrl-ratelimit", GLB_CFG_INT, 0, 0, 100000, 0, glb_cfg_set_uint,                          \
     "UDP responses per second to one source prefix, burst one second's worth; 0: no limit (default 200)", \
     offsetof(T, rrl_rate)},                                                                              \
    {"server", "rrl-slip", GLB_CFG_INT, 0, 0, 100, 0, glb_cfg_set_uint,                                   \
     "every Nth response over the limit is sent truncated (TC) so clients retry over TCP; 0: none (default 2)", \
     offsetof(T, rrl_slip)},                                                                              \
    {"server", "rrl-ipv4-prefix", GLB_CFG_INT, 0, 1, 32, 0, glb_cfg_set_uint,                             \
     "IPv4 source prefix length that rrl-ratelimit counts together (default 24)", offsetof(T, rrl_v4_prefix)}, \
    {"server", "rrl-ipv6-prefix", GLB_CFG_INT, 0, 1, 128, 0, glb_cfg_set_uint,                            \
     "IPv6 source prefix length that rrl-ratelimit counts together (default 56)", offsetof(T, rrl_v6_prefix)}, \
    {"server", "username", GLB_CFG_STR, 0, 0, 64, 0, glb_cfg_set_str,                                     \
     "user to switch to after binding, when root", offsetof(T, username)},                                \
    {"server", "pidfile", GLB_CFG_STR, 0, 0, 256, 0, glb_cfg_set_str, "where to write the process id",   \
     offsetof(T, pidfile)},                                                                               \
    {"server", "verbosity", GLB_CFG_INT, 0, 0, 4, 0, glb_cfg_set_uint, "0 errors .. 4 debug (default 3)", \
     offsetof(T, verbosity)},                                                                             \
    {"server", "use-syslog", GLB_CFG_BOOL, 0, 0, 0, 0, glb_cfg_set_bool, "log to syslog instead of stderr", \
     offsetof(T, use_syslog)}

/* Compile-time check that T's members have the types the handlers write. */
#define GLB_SERVER_KEYS_CHECK(T)                                                                   \
    _Static_assert(_Generic(((T *)0)->workers, unsigned: 1, default: 0) &&                         \
                       _Generic(((T *)0)->edns_size, unsigned: 1, default: 0) &&                   \
                       _Generic(((T *)0)->tcp_idle_ms, unsigned: 1, default: 0) &&                 \
                       _Generic(((T *)0)->tcp_max_conns, unsigned: 1, default: 0) &&               \
                       _Generic(((T *)0)->tcp_msg_ms, unsigned: 1, default: 0) &&                  \
                       _Generic(((T *)0)->tcp_per_source, unsigned: 1, default: 0) &&              \
                       _Generic(((T *)0)->rrl_rate, unsigned: 1, default: 0) &&                    \
                       _Generic(((T *)0)->rrl_slip, unsigned: 1, default: 0) &&                    \
                       _Generic(((T *)0)->rrl_v4_prefix, unsigned: 1, default: 0) &&               \
                       _Generic(((T *)0)->rrl_v6_prefix, unsigned: 1, default: 0) &&               \
                       sizeof(((T *)0)->username) == 64 && sizeof(((T *)0)->pidfile) == 256 &&    \
                       _Generic(((T *)0)->verbosity, unsigned: 1, default: 0) &&                   \
                       _Generic(((T *)0)->use_syslog, int: 1, default: 0),                         \
                   "GLB_SERVER_KEYS: a member of " #T " has the wrong type")

#endif

/* IP addresses, ADDR@PORT endpoints and prefixes (v4 and v6).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_ADDR_H
#define GLB_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An address with an optional port; family is AF_INET or AF_INET6.
 * b holds 4 (v4) or 16 (v6) bytes in network order. */
typedef struct glb_addr {
    int family;
    uint16_t port;
    uint8_t b[16];
} glb_addr;

/* A prefix: family, length in bits (0..32 or 0..128), address bytes with
 * host bits zero. */
typedef struct glb_prefix {
    int family;
    unsigned len;
    uint8_t b[16];
} glb_prefix;

#define GLB_ADDRSTRLEN 64 /* enough for "[v6]@65535" and "v6/128" */

/* Parses a bare v4 or v6 address. Returns 0, or -1 when s is not one. */
int glb_addr_parse(const char *s, glb_addr *out);

/* Parses ADDR or ADDR@PORT (port 1..65535); a bare ADDR gets defport.
 * Returns 0, or -1 on a bad address or port. */
int glb_addrport_parse(const char *s, uint16_t defport, glb_addr *out);

/* Parses ADDR/LEN or ADDR (a host prefix). Host bits beyond LEN must be zero.
 * Returns 0, or -1 with a reason in *why (static string). */
int glb_prefix_parse(const char *s, glb_prefix *out, const char **why);

/* Number of address bytes for a family: 4, 16, or 0 when unknown. */
size_t glb_addr_bytes(int family);

/* Formats the address (no port) into buf; returns buf. */
const char *glb_addr_str(const glb_addr *a, char *buf, size_t len);

/* Formats ADDR@PORT into buf; returns buf. */
const char *glb_addrport_str(const glb_addr *a, char *buf, size_t len);

/* Formats ADDR/LEN into buf; returns buf. */
const char *glb_prefix_str(const glb_prefix *p, char *buf, size_t len);

/* Fills a sockaddr (sockaddr_in or sockaddr_in6) from a; returns its length. */
socklen_t glb_addr_to_sockaddr(const glb_addr *a, struct sockaddr_storage *ss);

/* Reads a sockaddr into out; v4-mapped v6 addresses become v4.
 * Returns 0, or -1 for a family other than AF_INET/AF_INET6. */
int glb_addr_from_sockaddr(const struct sockaddr *sa, glb_addr *out);

/* Clears the bits of b beyond len (b holds nbytes bytes). */
void glb_mask_bits(uint8_t *b, size_t nbytes, unsigned len);

/* 1 when the address lies within the prefix (same family), else 0. */
int glb_prefix_contains(const glb_prefix *p, const glb_addr *a);

/* Orders prefixes (glb_prefix *, qsort-compatible): by family, length, bytes. */
int glb_prefix_cmp(const void *a, const void *b);

/* 1 when a can be a unicast host: not unspecified, not multicast, not IPv4
 * class E or limited broadcast. */
int glb_addr_is_unicast(const glb_addr *a);

/* 1 when a and b are the same address and port (padding ignored), else 0. */
int glb_addrport_equal(const glb_addr *a, const glb_addr *b);

/* 1 when the lists a[0..na) and b[0..nb) hold the same addresses (ports
 * included) in the same order; an empty list may be NULL. */
int glb_addrs_same(const glb_addr *a, size_t na, const glb_addr *b, size_t nb);

#endif

/* Addresses, endpoints and prefixes. SPDX-License-Identifier: BSD-3-Clause */
#include "shared/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t glb_addr_bytes(int family)
{
    return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

int glb_addr_parse(const char *s, glb_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, s, out->b) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, out->b) == 1) {
        out->family = AF_INET6;
        return 0;
    }
    return -1;
}

int glb_addrport_parse(const char *s, uint16_t defport, glb_addr *out)
{
    char host[GLB_ADDRSTRLEN];
    const char *at = strchr(s, '@');
    size_t hlen = at ? (size_t)(at - s) : strlen(s);
    if (hlen == 0 || hlen >= sizeof(host))
        return -1;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (glb_addr_parse(host, out) != 0)
        return -1;
    out->port = defport;
    if (at) {
        char *end;
        errno = 0;
        long p = strtol(at + 1, &end, 10);
        if (at[1] == '\0' || *end != '\0' || errno || p < 1 || p > 65535)
            return -1;
        out->port = (uint16_t)p;
    }
    return 0;
}

void glb_mask_bits(uint8_t *b, size_t nbytes, unsigned len)
{
    for (size_t i = 0; i < nbytes; i++) {
        unsigned bit = (unsigned)i * 8;
        if (bit >= len)
            b[i] = 0;
        else if (len - bit < 8)
            b[i] &= (uint8_t)(0xff << (8 - (len - bit)));
    }
}

int glb_prefix_parse(const char *s, glb_prefix *out, const char **why)
{
    char host[GLB_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
    glb_addr a;
    const char *dummy;
    if (!why)
        why = &dummy;
    memset(out, 0, sizeof(*out));
    if (hlen == 0 || hlen >= sizeof(host)) {
        *why = "not an address";
        return -1;
    }
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (glb_addr_parse(host, &a) != 0) {
        *why = "not an address";
        return -1;
    }
    unsigned max = (unsigned)glb_addr_bytes(a.family) * 8;
    unsigned len = max;
    if (slash) {
        char *end;
        errno = 0;
        long l = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || errno || l < 0 || l > (long)max) {
            *why = a.family == AF_INET ? "prefix length must be 0..32" : "prefix length must be 0..128";
            return -1;
        }
        len = (unsigned)l;
    }
    out->family = a.family;
    out->len = len;
    memcpy(out->b, a.b, sizeof(out->b));
    glb_mask_bits(out->b, glb_addr_bytes(a.family), len);
    if (memcmp(out->b, a.b, glb_addr_bytes(a.family)) != 0) {
        *why = "host bits set beyond the prefix length";
        return -1;
    }
    return 0;
}

const char *glb_addr_str(const glb_addr *a, char *buf, size_t len)
{
    if (!inet_ntop(a->family, a->b, buf, (socklen_t)len))
        snprintf(buf, len, "?");
    return buf;
}

const char *glb_addrport_str(const glb_addr *a, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    glb_addr_str(a, host, sizeof(host));
    snprintf(buf, len, "%s@%u", host, a->port);
    return buf;
}

const char *glb_prefix_str(const glb_prefix *p, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    if (!inet_ntop(p->family, p->b, host, sizeof(host)))
        snprintf(host, sizeof(host), "?");
    snprintf(buf, len, "%s/%u", host, p->len);
    return buf;
}

socklen_t glb_addr_to_sockaddr(const glb_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(a->port);
        memcpy(&sin->sin_addr, a->b, 4);
        return sizeof(*sin);
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(a->port);
    memcpy(&sin6->sin6_addr, a->b, 16);
    return sizeof(*sin6);
}

int glb_addr_from_sockaddr(const struct sockaddr *sa, glb_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        out->port = ntohs(sin->sin_port);
        memcpy(out->b, &sin->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        out->port = ntohs(sin6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            out->family = AF_INET;
            memcpy(out->b, &sin6->sin6_addr.s6_addr[12], 4);
        } else {
            out->family = AF_INET6;
            memcpy(out->b, &sin6->sin6_addr, 16);
        }
        return 0;
    }
    return -1;
}

int glb_prefix_contains(const glb_prefix *p, const glb_addr *a)
{
    if (p->family != a->family)
        return 0;
    unsigned full = p->len / 8, rest = p->len % 8;
    if (memcmp(p->b, a->b, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (p->b[full] & mask) == (a->b[full] & mask);
}

int glb_prefix_cmp(const void *a, const void *b)
{
    const glb_prefix *x = a, *y = b;
    if (x->family != y->family)
        return x->family < y->family ? -1 : 1;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->b, y->b, sizeof(x->b));
}

int glb_addr_is_unicast(const glb_addr *a)
{
    static const uint8_t zero[16];
    if (a->family == AF_INET) /* 0.0.0.0, multicast, class E, broadcast */
        return memcmp(a->b, zero, 4) != 0 && a->b[0] < 224;
    if (a->family == AF_INET6)
        return memcmp(a->b, zero, 16) != 0 && a->b[0] != 0xff;
    return 0;
}

int glb_addrport_equal(const glb_addr *a, const glb_addr *b)
{
    return a->family == b->family && a->port == b->port && memcmp(a->b, b->b, glb_addr_bytes(a->family)) == 0;
}

int glb_addrs_same(const glb_addr *a, size_t na, const glb_addr *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++) /* an empty list may be NULL: never read */
        if (!glb_addrport_equal(&a[i], &b[i]))
            return 0;
    return 1;
}

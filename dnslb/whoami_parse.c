/* The pure parts of egress discovery (dnslb/whoami.h): the whoami TXT
 * record a DNS-B answers, and resolv.conf's nameserver lines.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "dnslb/whoami.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Pure helpers ------------------------------------------------------ */

int lb_whoami_parse_txt(const uint8_t *rdata, size_t len, lb_whoami_txt *out)
{
    memset(out, 0, sizeof(*out));
    size_t pos = 0;
    while (pos < len) {
        size_t l = rdata[pos++];
        if (l > len - pos)
            return -1; /* a string running past the record */
        const char *s = (const char *)rdata + pos;
        pos += l;
        if (memchr(s, 0, l))
            return -1;
        char buf[GLB_ADDRSTRLEN];
        if (l >= 4 && memcmp(s, "src=", 4) == 0) { /* "src=" alone is a bad src, not an unknown string */
            if (out->has_src || l - 4 >= sizeof(buf))
                return -1;
            memcpy(buf, s + 4, l - 4);
            buf[l - 4] = '\0';
            if (glb_addr_parse(buf, &out->src) != 0)
                return -1;
            out->src.port = 0;
            out->has_src = 1;
        } else if (l >= 4 && memcmp(s, "ecs=", 4) == 0) {
            const char *why;
            if (out->has_ecs || l - 4 >= sizeof(buf))
                return -1;
            memcpy(buf, s + 4, l - 4);
            buf[l - 4] = '\0';
            if (glb_prefix_parse(buf, &out->ecs, &why) != 0)
                return -1;
            out->has_ecs = 1;
        }
        /* anything else: a later version's field, ignored */
    }
    if (!out->has_src || !glb_addr_is_unicast(&out->src))
        return -1;
    return 0;
}

size_t lb_resolvconf_parse(const char *text, lb_nameserver *out, size_t max)
{
    size_t n = 0;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        char line[256];
        if (ll < sizeof(line)) {
            memcpy(line, p, ll);
            line[ll] = '\0';
            char *save = NULL;
            char *kw = strtok_r(line, " \t\r", &save);
            char *val = kw ? strtok_r(NULL, " \t\r", &save) : NULL;
            if (kw && val && strcmp(kw, "nameserver") == 0 && n < max) {
                char addr[GLB_ADDRSTRLEN];
                const char *pct = strchr(val, '%');
                size_t al = pct ? (size_t)(pct - val) : strlen(val);
                glb_addr a;
                if (al < sizeof(addr)) {
                    memcpy(addr, val, al);
                    addr[al] = '\0';
                }
                /* a scope only makes sense on a v6 address; keep it for libunbound */
                if (al < sizeof(addr) && glb_addr_parse(addr, &a) == 0 && (!pct || a.family == AF_INET6) &&
                    strlen(val) < GLB_ADDRSTRLEN + 16) {
                    a.port = 0;
                    int dup = 0;
                    for (size_t i = 0; i < n; i++)
                        dup |= memcmp(&out[i].addr, &a, sizeof(a)) == 0;
                    if (!dup) {
                        out[n].addr = a;
                        snprintf(out[n].fwd, sizeof(out[n].fwd), "%s@53", val);
                        n++;
                    }
                }
            }
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    if (n == 0 && max > 0) {
        memset(&out[0], 0, sizeof(out[0]));
        glb_addr_parse("127.0.0.1", &out[0].addr);
        snprintf(out[0].fwd, sizeof(out[0].fwd), "127.0.0.1@53");
        n = 1;
    }
    return n;
}

/* Check URLs: http[s]://host[:port]/path, parsed strictly.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shared/addr.h"

static int is_name_char(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
           ch == '_';
}

/* A host name: dot-separated labels of 1..63 letters, digits, '-' or '_'
 * (no leading or trailing '-'), at most 253 characters; a name made only of
 * digits and dots must be an IPv4 address instead. */
static int check_host(const char *h, size_t n, const char **why)
{
    size_t label = 0, i;
    int alldigits = 1;

    if (n == 0) {
        *why = "empty host";
        return -1;
    }
    if (n > 253) {
        *why = "host name too long";
        return -1;
    }
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (ch == '.') {
            if (label == 0) {
                *why = "empty label in host name";
                return -1;
            }
            if (h[i - 1] == '-') {
                *why = "host name label ends with '-'";
                return -1;
            }
            label = 0;
            continue;
        }
        if (!is_name_char(ch)) {
            *why = "bad character in host";
            return -1;
        }
        if (ch < '0' || ch > '9')
            alldigits = 0;
        if (label == 0 && ch == '-') {
            *why = "host name label starts with '-'";
            return -1;
        }
        if (++label > 63) {
            *why = "host name label longer than 63";
            return -1;
        }
    }
    if (label == 0) {
        *why = "empty label in host name";
        return -1;
    }
    if (h[n - 1] == '-') {
        *why = "host name label ends with '-'";
        return -1;
    }
    if (alldigits) {
        char buf[256];
        glb_addr a;
        memcpy(buf, h, n);
        buf[n] = '\0';
        if (glb_addr_parse(buf, &a) != 0 || a.family != AF_INET) {
            *why = "bad IPv4 address";
            return -1;
        }
    }
    return 0;
}

int glb_url_parse(const char *s, glb_url *u, const char **why)
{
    const char *dummy;
    const char *p, *auth, *aend, *hend, *path, *pend;
    size_t n;

    if (!why)
        why = &dummy;
    if (!s || !u) {
        *why = "no URL";
        return -1;
    }
    memset(u, 0, sizeof(*u));
    for (p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ' || ch >= 0x7f) {
            *why = "space, control or non-ASCII character in URL";
            return -1;
        }
    }
    if (strncasecmp(s, "http://", 7) == 0) {
        u->tls = 0;
        u->port = 80;
        auth = s + 7;
    } else if (strncasecmp(s, "https://", 8) == 0) {
        u->tls = 1;
        u->port = 443;
        auth = s + 8;
    } else {
        *why = "scheme must be http:// or https://";
        return -1;
    }

    aend = auth + strcspn(auth, "/?#");
    if (memchr(auth, '@', (size_t)(aend - auth))) {
        *why = "user information in URL not allowed";
        return -1;
    }

    /* host */
    if (*auth == '[') {
        const char *close = memchr(auth, ']', (size_t)(aend - auth));
        glb_addr a;
        if (!close) {
            *why = "missing ']' after IPv6 address";
            return -1;
        }
        n = (size_t)(close - auth - 1);
        if (n == 0 || n >= sizeof(u->host)) {
            *why = "bad IPv6 address";
            return -1;
        }
        memcpy(u->host, auth + 1, n);
        u->host[n] = '\0';
        if (glb_addr_parse(u->host, &a) != 0 || a.family != AF_INET6) {
            *why = "bad IPv6 address";
            return -1;
        }
        hend = close + 1;
        if (hend != aend && *hend != ':') {
            *why = "junk after IPv6 address";
            return -1;
        }
    } else {
        hend = memchr(auth, ':', (size_t)(aend - auth));
        if (!hend)
            hend = aend;
        n = (size_t)(hend - auth);
        if (check_host(auth, n, why) != 0)
            return -1;
        memcpy(u->host, auth, n);
        u->host[n] = '\0';
    }

    /* port */
    if (hend != aend) { /* *hend == ':' */
        const char *d = hend + 1;
        unsigned long port = 0;
        if (d == aend) {
            *why = "empty port";
            return -1;
        }
        for (; d < aend; d++) {
            if (*d < '0' || *d > '9') {
                *why = "bad port";
                return -1;
            }
            port = port * 10 + (unsigned long)(*d - '0');
            if (port > 65535) {
                *why = "port out of range 1..65535";
                return -1;
            }
        }
        if (port == 0) {
            *why = "port out of range 1..65535";
            return -1;
        }
        u->port = (uint16_t)port;
    }

    /* path and query; the fragment is dropped */
    path = aend;
    pend = path + strcspn(path, "#");
    if (path == pend) {
        strcpy(u->path, "/");
    } else {
        size_t off = 0;
        n = (size_t)(pend - path);
        if (*path == '?')
            u->path[off++] = '/';
        if (off + n >= sizeof(u->path)) {
            *why = "path too long";
            return -1;
        }
        memcpy(u->path + off, path, n);
        u->path[off + n] = '\0';
    }
    return 0;
}


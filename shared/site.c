/* Site lines. SPDX-License-Identifier: BSD-3-Clause */
#include "shared/site.h"

#include <errno.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/dname.h"
#include "shared/url.h"

int glb_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

/* A host name, not a mistyped address: its last label is not all digits
 * (RFC 3696 §2). */
static int host_name_ok(const char *w)
{
    uint8_t wire[GLB_DNAME_MAX];
    const char *last = strrchr(w, '.');
    if (last && last[1] == '\0') { /* trailing dot: look at the label before it */
        const char *p = last;
        while (p > w && p[-1] != '.')
            p--;
        last = p - 1;
    }
    if (!last || glb_dname_from_str(w, wire) == 0)
        return 0;
    for (const char *p = last + 1; *p && *p != '.'; p++)
        if (*p < '0' || *p > '9')
            return 1;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return (end == s || *end != '\0' || errno || !isfinite(*out)) ? -1 : 0;
}

int glb_location_parse(const char *s, double *lat, double *lon)
{
    char buf[64];
    const char *comma = strchr(s, ',');
    if (!comma || (size_t)(comma - s) >= sizeof(buf))
        return -1;
    memcpy(buf, s, (size_t)(comma - s));
    buf[comma - s] = '\0';
    if (parse_double(buf, lat) != 0 || parse_double(comma + 1, lon) != 0 || fabs(*lat) > 90 || fabs(*lon) > 180)
        return -1;
    return 0;
}

static int site_option(glb_site *out, const char *w, const char *eq, char *err, size_t errlen)
{
    size_t klen = (size_t)(eq - w);
    const char *v = eq + 1;
    if (klen == 6 && strncmp(w, "weight", 6) == 0) {
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || errno || x < 0 || x > 1000000) {
            snprintf(err, errlen, "bad weight '%s' (0..1000000)", v);
            return -1;
        }
        out->weight = (unsigned)x;
    } else if (klen == 4 && strncmp(w, "cost", 4) == 0) {
        if (parse_double(v, &out->cost) != 0 || out->cost < 0) {
            snprintf(err, errlen, "bad cost '%s'", v);
            return -1;
        }
    } else if (klen == 8 && strncmp(w, "location", 8) == 0) {
        if (glb_location_parse(v, &out->lat, &out->lon) != 0) {
            snprintf(err, errlen, "bad location '%s' (expected LAT,LON in degrees)", v);
            return -1;
        }
        out->has_location = 1;
    } else if (klen == 5 && strncmp(w, "check", 5) == 0) {
        if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
            snprintf(err, errlen, "bad check URL '%s' (http:// or https://)", v);
            return -1;
        }
        if (strlen(v) >= sizeof(out->check)) {
            snprintf(err, errlen, "check URL too long");
            return -1;
        }
        glb_url u;
        const char *why;
        if (glb_url_parse(v, &u, &why) != 0) {
            snprintf(err, errlen, "bad check URL '%s': %s", v, why);
            return -1;
        }
        snprintf(out->check, sizeof(out->check), "%s", v);
    } else if (klen == 12 && strncmp(w, "check-verify", 12) == 0) {
        if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
            snprintf(err, errlen, "check-verify must be yes or no");
            return -1;
        }
        out->check_verify = strcmp(v, "yes") == 0;
    } else {
        snprintf(err, errlen, "unknown site option '%.*s'", (int)klen, w);
        return -1;
    }
    return 0;
}

int glb_site_parse(char *const *words, int nwords, glb_site *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->weight = 1;
    out->check_verify = 1;
    if (nwords < 2) {
        snprintf(err, errlen, "expected NAME ADDR|HOST [options]");
        return -1;
    }
    if (!glb_id_valid(words[0])) {
        snprintf(err, errlen, "bad site name '%s' (1-63 of a-z 0-9 -)", words[0]);
        return -1;
    }
    snprintf(out->name, sizeof(out->name), "%s", words[0]);
    for (int i = 1; i < nwords; i++) {
        const char *w = words[i];
        const char *eq = strchr(w, '=');
        if (eq) {
            if (site_option(out, w, eq, err, errlen) != 0)
                return -1;
            continue;
        }
        glb_addr a;
        if (glb_addr_parse(w, &a) == 0) {
            if (out->host[0]) {
                snprintf(err, errlen, "site '%s': give a host name or addresses, not both", out->name);
                return -1;
            }
            if (out->naddrs == GLB_SITE_MAX_ADDRS) {
                snprintf(err, errlen, "site '%s': more than %d addresses", out->name, GLB_SITE_MAX_ADDRS);
                return -1;
            }
            out->addrs[out->naddrs++] = a;
            continue;
        }
        if (out->naddrs || out->host[0] || !host_name_ok(w)) {
            snprintf(err, errlen, "site '%s': '%s' is neither an address, a host name nor an option", out->name, w);
            return -1;
        }
        snprintf(out->host, sizeof(out->host), "%s", w);
    }
    if (out->naddrs == 0 && out->host[0] == '\0') {
        snprintf(err, errlen, "site '%s': no address or host name", out->name);
        return -1;
    }
    return 0;
}

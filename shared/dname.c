/* Domain names in wire form.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/dname.h"

#include <string.h>

/* ASCII lower-casing; every other byte maps to itself. Label length bytes are
 * at most 63, below 'A', so whole wire names can be folded byte by byte. */
const uint8_t glb_lc[256] = {
#define R(b) (uint8_t)(b), (uint8_t)((b) + 1), (uint8_t)((b) + 2), (uint8_t)((b) + 3), \
             (uint8_t)((b) + 4), (uint8_t)((b) + 5), (uint8_t)((b) + 6), (uint8_t)((b) + 7)
    R(0x00), R(0x08), R(0x10), R(0x18), R(0x20), R(0x28), R(0x30), R(0x38),
    0x40, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, R(0x68), R(0x70), /* 0x40..0x57 */
    0x78, 0x79, 0x7a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,                   /* 0x58..0x5f */
    R(0x60), R(0x68), R(0x70), R(0x78),
    R(0x80), R(0x88), R(0x90), R(0x98), R(0xa0), R(0xa8), R(0xb0), R(0xb8),
    R(0xc0), R(0xc8), R(0xd0), R(0xd8), R(0xe0), R(0xe8), R(0xf0), R(0xf8),
#undef R
};

size_t glb_dname_from_str(const char *s, uint8_t *out)
{
    if (s == NULL || *s == '\0')
        return 0;
    if (s[0] == '.' && s[1] == '\0') {
        out[0] = 0;
        return 1;
    }
    size_t o = 0;        /* where the current label's length byte goes */
    size_t ll = 0;       /* bytes in the current label */
    const unsigned char *p = (const unsigned char *)s;
    for (;;) {
        unsigned c = *p;
        if (c == '\0' || c == '.') {
            if (ll == 0)
                return 0; /* empty label (".." or a leading dot) */
            out[o] = (uint8_t)ll;
            o += 1 + ll;
            ll = 0;
            if (c == '\0' || p[1] == '\0')
                break;
            p++;
            continue;
        }
        if (c == '\\') {
            p++;
            if (*p >= '0' && *p <= '9') {
                if (!(p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9'))
                    return 0;
                c = (unsigned)(p[0] - '0') * 100 + (unsigned)(p[1] - '0') * 10 + (unsigned)(p[2] - '0');
                if (c > 255)
                    return 0;
                p += 3;
            } else if (*p == '\0') {
                return 0; /* dangling backslash */
            } else {
                c = *p++;
            }
        } else {
            p++;
        }
        if (ll == GLB_LABEL_MAX)
            return 0;
        /* the label byte goes at o + 1 + ll; the root byte must still fit */
        if (o + 1 + ll + 1 >= GLB_DNAME_MAX)
            return 0;
        out[o + 1 + ll] = glb_lc[c];
        ll++;
    }
    if (o + 1 > GLB_DNAME_MAX)
        return 0;
    out[o] = 0;
    return o + 1;
}

/* Characters that need a backslash in presentation form. */
static int special(uint8_t c)
{
    return c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' ||
           c == '$';
}

char *glb_dname_to_str(const uint8_t *n, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    size_t o = 0;
    size_t i = 0;
    char tmp[5];
    if (n[0] == 0) {
        if (len > 1)
            buf[o++] = '.';
        buf[o] = '\0';
        return buf;
    }
    while (n[i] != 0 && n[i] <= GLB_LABEL_MAX && i < GLB_DNAME_MAX) {
        size_t l = n[i++];
        for (size_t j = 0; j < l && i < GLB_DNAME_MAX; j++, i++) {
            uint8_t c = n[i];
            size_t tl;
            if (c < 0x21 || c > 0x7e) {
                tmp[0] = '\\';
                tmp[1] = (char)('0' + c / 100);
                tmp[2] = (char)('0' + c / 10 % 10);
                tmp[3] = (char)('0' + c % 10);
                tl = 4;
            } else if (special(c)) {
                tmp[0] = '\\';
                tmp[1] = (char)c;
                tl = 2;
            } else {
                tmp[0] = (char)c;
                tl = 1;
            }
            if (o + tl >= len)
                goto out;
            memcpy(buf + o, tmp, tl);
            o += tl;
        }
        if (o + 1 >= len)
            goto out;
        buf[o++] = '.';
    }
out:
    buf[o] = '\0';
    return buf;
}

size_t glb_dname_len(const uint8_t *n)
{
    size_t i = 0;
    while (n[i] != 0)
        i += (size_t)n[i] + 1;
    return i + 1;
}

unsigned glb_dname_labels(const uint8_t *n)
{
    unsigned k = 0;
    size_t i = 0;
    while (n[i] != 0) {
        i += (size_t)n[i] + 1;
        k++;
    }
    return k;
}

void glb_dname_tolower(uint8_t *n)
{
    size_t i = 0;
    while (n[i] != 0) {
        size_t l = n[i++];
        for (size_t e = i + l; i < e; i++)
            n[i] = glb_lc[n[i]];
    }
}

int glb_dname_equal(const uint8_t *a, const uint8_t *b)
{
    /* Equal bytes at equal positions mean equal label structure, since
     * length bytes (<= 63) are never changed by folding. */
    for (size_t i = 0;; i++) {
        if (glb_lc[a[i]] != glb_lc[b[i]])
            return 0;
        if (a[i] == 0)
            return 1;
        /* a[i] is a length byte here: compare the label */
        size_t l = a[i];
        for (size_t e = i + l; i < e;) {
            i++;
            if (glb_lc[a[i]] != glb_lc[b[i]])
                return 0;
        }
    }
}

int glb_dname_sub(const uint8_t *name, const uint8_t *zone)
{
    unsigned nl = glb_dname_labels(name), zl = glb_dname_labels(zone);
    if (nl < zl)
        return -1;
    if (!glb_dname_equal(glb_dname_skip(name, nl - zl), zone))
        return -1;
    return (int)(nl - zl);
}

const uint8_t *glb_dname_skip(const uint8_t *n, unsigned k)
{
    while (k-- > 0 && *n != 0)
        n += (size_t)*n + 1;
    return n;
}

size_t glb_dname_prepend(const char *label, size_t label_len, const uint8_t *zone, uint8_t *out)
{
    if (label_len == 0 || label_len > GLB_LABEL_MAX)
        return 0;
    size_t zl = glb_dname_len(zone);
    if (1 + label_len + zl > GLB_DNAME_MAX)
        return 0;
    /* zone may overlap out (building in place): move it first */
    memmove(out + 1 + label_len, zone, zl);
    out[0] = (uint8_t)label_len;
    memcpy(out + 1, label, label_len);
    return 1 + label_len + zl;
}

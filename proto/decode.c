/* The map protocol decoder: one frame in, one message out, nothing trusted.
 * Each level of fields is walked twice: first the framing (every length
 * against what is left), unknown and duplicate fields and counts, so the
 * arrays can be sized exactly; then the values.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/map.h"
#include "proto/map_int.h"

#define MAX_FIELDS 16 /* fields of the largest schema level */

typedef struct dec {
    glb_map_msg *msg;
    glb_map_error *err;
    unsigned type;
    glb_map_path path;
} dec;

#define FAIL(d, code, ...) glb_map_fail((d)->err, (d)->type, &(d)->path, code, __VA_ARGS__)

void glb_map_msg_init(glb_map_msg *msg, void *arena, size_t cap)
{
    memset(msg, 0, sizeof(*msg));
    msg->arena = arena;
    msg->arena_cap = arena ? cap : 0;
}

static void *arena_alloc(glb_map_msg *m, size_t n, size_t align)
{
    if (!m->arena)
        return NULL;
    uintptr_t at = (uintptr_t)(m->arena + m->arena_used);
    size_t pad = (size_t)((align - (at & (align - 1))) & (align - 1));
    size_t left = m->arena_cap - m->arena_used;
    if (pad > left || n > left - pad)
        return NULL;
    void *p = m->arena + m->arena_used + pad;
    m->arena_used += pad + n;
    return p;
}

static const glb_map_field *find(const glb_map_schema *s, unsigned tag, size_t *idx)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (s->fields[i].tag == tag) {
            *idx = i;
            return &s->fields[i];
        }
    return NULL;
}

static int decode_level(dec *d, const glb_map_schema *s, const uint8_t *p, size_t len, void *obj);

/* The fewest value bytes a field of this kind can have; for a container,
 * its required fields at their smallest. Checked before any array is sized,
 * so a flood of empty items cannot claim arena space (GLB_MAP_ARENA_FOR). */
static size_t min_value_len(const glb_map_field *f)
{
    switch (f->kind) {
    case GLB_MAP_K_U8:
    case GLB_MAP_K_BOOL:
    case GLB_MAP_K_ID: return 1;
    case GLB_MAP_K_U16: return 2;
    case GLB_MAP_K_U32: return 4;
    case GLB_MAP_K_U64:
    case GLB_MAP_K_LOC: return 8;
    case GLB_MAP_K_NAME: return 3; /* one label of one byte, the root */
    case GLB_MAP_K_ADDR: return 7;
    case GLB_MAP_K_CLAIM: return 3;
    case GLB_MAP_K_REJECT: return 4;
    case GLB_MAP_K_CONT: {
        size_t n = 0;
        for (size_t i = 0; i < f->sub->nfields; i++)
            if (f->sub->fields[i].flags & GLB_MAP_F_REQ)
                n += GLB_MAP_TLV_HEADER_LEN + min_value_len(&f->sub->fields[i]);
        return n;
    }
    default: return 0;
    }
}

static int check_range(dec *d, const glb_map_field *f, uint64_t v)
{
    if (v < f->min || v > f->max)
        return FAIL(d, GLB_MAP_E_MALFORMED, "%llu out of range %llu..%llu", (unsigned long long)v,
                    (unsigned long long)f->min, (unsigned long long)f->max);
    return GLB_MAP_OK;
}

static int want_len(dec *d, size_t n, size_t want)
{
    if (n != want)
        return FAIL(d, GLB_MAP_E_MALFORMED, "length %zu, want %zu", n, want);
    return GLB_MAP_OK;
}

static int32_t s32(uint32_t u)
{
    return u >= 0x80000000u ? (int32_t)((int64_t)u - 0x100000000LL) : (int32_t)u;
}

/* family 4|6, length, ceil(length/8) bytes with the host bits zero. */
static int get_prefix(dec *d, const uint8_t *v, size_t n, glb_prefix *out)
{
    if (n < 2)
        return FAIL(d, GLB_MAP_E_MALFORMED, "prefix truncated (%zu bytes)", n);
    if (v[0] != 4 && v[0] != 6)
        return FAIL(d, GLB_MAP_E_MALFORMED, "prefix family %u", v[0]);
    unsigned max = v[0] == 4 ? 32 : 128;
    if (v[1] > max)
        return FAIL(d, GLB_MAP_E_MALFORMED, "prefix length %u over %u", v[1], max);
    size_t nb = ((size_t)v[1] + 7) / 8;
    if (n - 2 != nb)
        return FAIL(d, GLB_MAP_E_MALFORMED, "prefix /%u with %zu address bytes, want %zu", v[1], n - 2, nb);
    memset(out, 0, sizeof(*out));
    out->family = v[0] == 4 ? AF_INET : AF_INET6;
    out->len = v[1];
    memcpy(out->b, v + 2, nb);
    const char *why = glb_map_prefix_check(out);
    if (why)
        return FAIL(d, GLB_MAP_E_MALFORMED, "%s", why);
    return GLB_MAP_OK;
}

static int get_claim(dec *d, const uint8_t *v, size_t n, glb_map_claim *out)
{
    if (n < 1)
        return FAIL(d, GLB_MAP_E_MALFORMED, "empty claim");
    if (v[0] < GLB_MAP_CLAIM_RESOLVER || v[0] > GLB_MAP_CLAIM_CLIENT)
        return FAIL(d, GLB_MAP_E_MALFORMED, "claim kind %u", v[0]);
    out->kind = v[0];
    return get_prefix(d, v + 1, n - 1, &out->prefix);
}

static int get_string(dec *d, const glb_map_field *f, const uint8_t *v, size_t n, void *slot)
{
    if (f->kind == GLB_MAP_K_STR) {
        if (n > f->max)
            return FAIL(d, GLB_MAP_E_LIMIT, "%zu bytes, at most %llu", n, (unsigned long long)f->max);
        if (memchr(v, 0, n))
            return FAIL(d, GLB_MAP_E_MALFORMED, "NUL byte in a string");
    } else {
        if (n == 0 || n > GLB_MAP_MAX_ID)
            return FAIL(d, GLB_MAP_E_MALFORMED, "id of %zu bytes (1..%d)", n, GLB_MAP_MAX_ID);
        for (size_t i = 0; i < n; i++)
            if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '-'))
                return FAIL(d, GLB_MAP_E_MALFORMED, "id byte 0x%02x not in [a-z0-9-]", v[i]);
        if (v[0] == '-' || v[n - 1] == '-')
            return FAIL(d, GLB_MAP_E_MALFORMED, "id starts or ends with '-'");
    }
    char *s = arena_alloc(d->msg, n + 1, 1);
    if (!s)
        return FAIL(d, GLB_MAP_E_INTERNAL, "decode arena too small");
    memcpy(s, v, n);
    s[n] = '\0';
    memcpy(slot, &s, sizeof(s));
    return GLB_MAP_OK;
}

static int get_name(dec *d, const uint8_t *v, size_t n, void *slot)
{
    if (n > GLB_MAP_MAX_NAME)
        return FAIL(d, GLB_MAP_E_MALFORMED, "name of %zu bytes, at most %d", n, GLB_MAP_MAX_NAME);
    if (n == 0 || glb_map_name_len(v, n) != n)
        return FAIL(d, GLB_MAP_E_MALFORMED, "not a DNS name in wire form");
    uint8_t *w = arena_alloc(d->msg, n, 1);
    if (!w)
        return FAIL(d, GLB_MAP_E_INTERNAL, "decode arena too small");
    for (size_t i = 0; i < n; i++) /* length bytes (<= 63) fold to themselves */
        w[i] = v[i] >= 'A' && v[i] <= 'Z' ? (uint8_t)(v[i] + 32) : v[i];
    const uint8_t *c = w;
    memcpy(slot, &c, sizeof(c));
    return GLB_MAP_OK;
}

/* One field's value of n bytes at v into slot (the struct member, or the
 * array element of a repeated field). */
static int decode_value(dec *d, const glb_map_field *f, const uint8_t *v, size_t n, void *slot)
{
    int rc;
    uint64_t x;
    switch (f->kind) {
    case GLB_MAP_K_U8:
    case GLB_MAP_K_BOOL:
        if ((rc = want_len(d, n, 1)) || (rc = check_range(d, f, v[0])))
            return rc;
        *(uint8_t *)slot = v[0];
        return GLB_MAP_OK;
    case GLB_MAP_K_U16: {
        if ((rc = want_len(d, n, 2)) || (rc = check_range(d, f, glb_map_get16(v))))
            return rc;
        uint16_t y = glb_map_get16(v);
        memcpy(slot, &y, sizeof(y));
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_U32: {
        if ((rc = want_len(d, n, 4)) || (rc = check_range(d, f, glb_map_get32(v))))
            return rc;
        uint32_t y = glb_map_get32(v);
        memcpy(slot, &y, sizeof(y));
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_U64:
        if ((rc = want_len(d, n, 8)))
            return rc;
        x = glb_map_get64(v);
        if ((rc = check_range(d, f, x)))
            return rc;
        memcpy(slot, &x, sizeof(x));
        return GLB_MAP_OK;
    case GLB_MAP_K_LOC: {
        if ((rc = want_len(d, n, 8)))
            return rc;
        glb_map_location l = {s32(glb_map_get32(v)), s32(glb_map_get32(v + 4))};
        if (l.lat < -GLB_MAP_MAX_LAT || l.lat > GLB_MAP_MAX_LAT || l.lon < -GLB_MAP_MAX_LON ||
            l.lon > GLB_MAP_MAX_LON)
            return FAIL(d, GLB_MAP_E_MALFORMED, "location %ld,%ld out of range", (long)l.lat, (long)l.lon);
        memcpy(slot, &l, sizeof(l));
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_STR:
    case GLB_MAP_K_ID:
        return get_string(d, f, v, n, slot);
    case GLB_MAP_K_NAME:
        return get_name(d, v, n, slot);
    case GLB_MAP_K_ADDR: {
        if (n < 1)
            return FAIL(d, GLB_MAP_E_MALFORMED, "empty address");
        if (v[0] != 4 && v[0] != 6)
            return FAIL(d, GLB_MAP_E_MALFORMED, "address family %u", v[0]);
        size_t nb = v[0] == 4 ? 4 : 16;
        if ((rc = want_len(d, n, 3 + nb)))
            return rc;
        glb_addr a;
        memset(&a, 0, sizeof(a));
        a.family = v[0] == 4 ? AF_INET : AF_INET6;
        a.port = glb_map_get16(v + 1);
        memcpy(a.b, v + 3, nb);
        memcpy(slot, &a, sizeof(a));
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_CLAIM: {
        glb_map_claim c;
        if ((rc = get_claim(d, v, n, &c)))
            return rc;
        memcpy(slot, &c, sizeof(c));
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_REJECT: {
        glb_map_reject r;
        if (n < 1)
            return FAIL(d, GLB_MAP_E_MALFORMED, "empty rejected claim");
        if (v[0] == 0)
            return FAIL(d, GLB_MAP_E_MALFORMED, "reject reason 0");
        r.reason = v[0];
        if ((rc = get_claim(d, v + 1, n - 1, &r.claim)))
            return rc;
        memcpy(slot, &r, sizeof(r));
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_CONT:
        return decode_level(d, f->sub, v, n, slot);
    }
    return FAIL(d, GLB_MAP_E_INTERNAL, "field kind %u", f->kind);
}

static int decode_level(dec *d, const glb_map_schema *s, const uint8_t *p, size_t len, void *obj)
{
    size_t count[MAX_FIELDS] = {0};
    size_t idx = 0;
    if (s->nfields > MAX_FIELDS)
        return FAIL(d, GLB_MAP_E_INTERNAL, "schema %s too large", s->name);
    glb_map_schema_defaults(s, obj);

    /* Pass 1: framing, unknown fields, duplicates, counts. */
    for (size_t pos = 0; pos < len;) {
        if (len - pos < GLB_MAP_TLV_HEADER_LEN)
            return FAIL(d, GLB_MAP_E_MALFORMED, "truncated field header (%zu bytes left)", len - pos);
        unsigned tag = glb_map_get16(p + pos);
        uint32_t flen = glb_map_get32(p + pos + 2);
        pos += GLB_MAP_TLV_HEADER_LEN;
        if (flen > len - pos)
            return FAIL(d, GLB_MAP_E_MALFORMED, "field %u of %lu bytes, only %zu left", tag & 0x7fffu,
                        (unsigned long)flen, len - pos);
        pos += flen;
        const glb_map_field *f = find(s, tag & ~GLB_MAP_TAG_CRITICAL, &idx);
        if (!f) {
            if (tag & GLB_MAP_TAG_CRITICAL)
                return FAIL(d, GLB_MAP_E_UNSUPPORTED, "unknown critical field %u", tag & 0x7fffu);
            continue;
        }
        if (flen < min_value_len(f))
            return FAIL(d, GLB_MAP_E_MALFORMED, "%s of %lu bytes, at least %zu", f->name, (unsigned long)flen,
                        min_value_len(f));
        count[idx]++;
        if (!(f->flags & GLB_MAP_F_REP) && count[idx] > 1)
            return FAIL(d, GLB_MAP_E_MALFORMED, "%s given twice", f->name);
        if ((f->flags & GLB_MAP_F_REP) && count[idx] > f->maxn)
            return FAIL(d, GLB_MAP_E_LIMIT, "more than %zu %s", f->maxn, f->name);
    }

    /* Required fields; arrays sized exactly. */
    for (size_t i = 0; i < s->nfields; i++) {
        const glb_map_field *f = &s->fields[i];
        if ((f->flags & GLB_MAP_F_REQ) && count[i] == 0)
            return FAIL(d, GLB_MAP_E_MALFORMED, "%s missing", f->name);
        if ((f->flags & GLB_MAP_F_REP) && count[i]) {
            void *arr = arena_alloc(d->msg, count[i] * glb_map_elem_size(f), 8);
            if (!arr)
                return FAIL(d, GLB_MAP_E_INTERNAL, "decode arena too small");
            memcpy((uint8_t *)obj + f->off, &arr, sizeof(arr));
        }
    }

    /* Pass 2: values (the framing is known good now). */
    for (size_t pos = 0; pos < len;) {
        unsigned tag = glb_map_get16(p + pos);
        uint32_t flen = glb_map_get32(p + pos + 2);
        const uint8_t *v = p + pos + GLB_MAP_TLV_HEADER_LEN;
        pos += GLB_MAP_TLV_HEADER_LEN + flen;
        const glb_map_field *f = find(s, tag & ~GLB_MAP_TAG_CRITICAL, &idx);
        if (!f)
            continue;
        uint8_t *slot;
        int rc;
        if (f->flags & GLB_MAP_F_REP) {
            size_t *n = (size_t *)((uint8_t *)obj + f->cnt);
            uint8_t *arr;
            memcpy(&arr, (uint8_t *)obj + f->off, sizeof(arr));
            slot = arr + *n * glb_map_elem_size(f);
            glb_map_path_push(&d->path, f->name, (long)*n);
            rc = decode_value(d, f, v, flen, slot);
            (*n)++;
        } else {
            slot = (uint8_t *)obj + f->off;
            glb_map_path_push(&d->path, f->name, -1);
            rc = decode_value(d, f, v, flen, slot);
            if (rc == GLB_MAP_OK && f->has != GLB_MAP_NO_HAS)
                *((uint8_t *)obj + f->has) = 1;
        }
        glb_map_path_pop(&d->path);
        if (rc)
            return rc;
    }

    if (s->check) {
        const char *why = "";
        int rc = s->check(obj, &why);
        if (rc)
            return FAIL(d, rc, "%s", why);
    }
    return GLB_MAP_OK;
}

int glb_map_decode(const uint8_t *frame, size_t len, glb_map_msg *out, glb_map_error *err)
{
    dec d;
    memset(&d, 0, sizeof(d));
    d.msg = out;
    d.err = err;
    if (err) {
        err->code = GLB_MAP_OK;
        err->type = 0;
        err->text[0] = '\0';
    }
    out->type = 0;
    out->arena_used = 0;
    if (len >= 1 && frame[0] != GLB_MAP_VERSION)
        return FAIL(&d, GLB_MAP_E_BAD_VERSION, "version %u, speaking %d", frame[0], GLB_MAP_VERSION);
    if (len < GLB_MAP_HEADER_LEN)
        return FAIL(&d, GLB_MAP_E_MALFORMED, "truncated header (%zu bytes)", len);
    uint32_t plen = glb_map_get32(frame + 4);
    if (plen > GLB_MAP_MAX_PAYLOAD)
        return FAIL(&d, GLB_MAP_E_LIMIT, "payload of %lu bytes, at most %u", (unsigned long)plen,
                    GLB_MAP_MAX_PAYLOAD);
    if (len - GLB_MAP_HEADER_LEN != plen)
        return FAIL(&d, GLB_MAP_E_MALFORMED, "%s: header says %lu payload bytes, frame has %zu",
                    len - GLB_MAP_HEADER_LEN < plen ? "truncated" : "trailing bytes", (unsigned long)plen,
                    len - GLB_MAP_HEADER_LEN);
    const glb_map_schema *s = glb_map_schema_of(frame[1]);
    if (!s)
        return FAIL(&d, GLB_MAP_E_UNSUPPORTED, "unknown message type %u", frame[1]);
    d.type = frame[1];
    /* frame[2..3]: flags, reserved in version 1, ignored. */
    int rc = decode_level(&d, s, frame + GLB_MAP_HEADER_LEN, plen, &out->u);
    if (rc)
        return rc;
    out->type = frame[1];
    return GLB_MAP_OK;
}

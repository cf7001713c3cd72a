/* The map protocol encoder: checks every field with the decoder's rules,
 * then writes one frame (or only measures it when buf is NULL).
 * SPDX-License-Identifier: BSD-3-Clause */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/map.h"
#include "proto/map_int.h"

typedef struct enc {
    uint8_t *buf;   /* NULL: measure only */
    size_t cap;
    size_t pos;     /* bytes produced so far, also past cap */
    glb_map_error *err;
    unsigned type;
    glb_map_path path;
} enc;

#define FAIL(e, code, ...) glb_map_fail((e)->err, (e)->type, &(e)->path, code, __VA_ARGS__)

static void put(enc *e, const void *p, size_t n)
{
    if (e->buf && e->pos <= e->cap && n <= e->cap - e->pos)
        memcpy(e->buf + e->pos, p, n);
    e->pos += n;
}

static void put8(enc *e, uint8_t v)
{
    put(e, &v, 1);
}

static void put_tlv(enc *e, unsigned tag, size_t len)
{
    uint8_t h[GLB_MAP_TLV_HEADER_LEN];
    glb_map_put16(h, (uint16_t)tag);
    glb_map_put32(h + 2, (uint32_t)len);
    put(e, h, sizeof(h));
}

static int encode_level(enc *e, const glb_map_schema *s, const void *obj);

static int check_range(enc *e, const glb_map_field *f, uint64_t v)
{
    if (v < f->min || v > f->max)
        return FAIL(e, GLB_MAP_E_MALFORMED, "%llu out of range %llu..%llu", (unsigned long long)v,
                    (unsigned long long)f->min, (unsigned long long)f->max);
    return GLB_MAP_OK;
}

/* kind, family, length, address bytes; c already checked. */
static void put_claim(enc *e, const glb_map_claim *c)
{
    put8(e, c->kind);
    put8(e, c->prefix.family == AF_INET ? 4 : 6);
    put8(e, (uint8_t)c->prefix.len);
    put(e, c->prefix.b, (c->prefix.len + 7) / 8);
}

static size_t claim_len(const glb_map_claim *c)
{
    return 3 + (c->prefix.len + 7) / 8;
}

/* One field from slot (the struct member, or the array element). */
static int encode_value(enc *e, const glb_map_field *f, const void *slot)
{
    int rc;
    switch (f->kind) {
    case GLB_MAP_K_U8:
    case GLB_MAP_K_BOOL: {
        uint8_t v = *(const uint8_t *)slot;
        if ((rc = check_range(e, f, v)))
            return rc;
        put_tlv(e, f->tag, 1);
        put8(e, v);
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_U16: {
        uint16_t v;
        uint8_t b[2];
        memcpy(&v, slot, sizeof(v));
        if ((rc = check_range(e, f, v)))
            return rc;
        glb_map_put16(b, v);
        put_tlv(e, f->tag, 2);
        put(e, b, 2);
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_U32: {
        uint32_t v;
        uint8_t b[4];
        memcpy(&v, slot, sizeof(v));
        if ((rc = check_range(e, f, v)))
            return rc;
        glb_map_put32(b, v);
        put_tlv(e, f->tag, 4);
        put(e, b, 4);
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_U64: {
        uint64_t v;
        uint8_t b[8];
        memcpy(&v, slot, sizeof(v));
        if ((rc = check_range(e, f, v)))
            return rc;
        glb_map_put64(b, v);
        put_tlv(e, f->tag, 8);
        put(e, b, 8);
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_LOC: {
        glb_map_location l;
        uint8_t b[8];
        memcpy(&l, slot, sizeof(l));
        if (l.lat < -GLB_MAP_MAX_LAT || l.lat > GLB_MAP_MAX_LAT || l.lon < -GLB_MAP_MAX_LON ||
            l.lon > GLB_MAP_MAX_LON)
            return FAIL(e, GLB_MAP_E_MALFORMED, "location %ld,%ld out of range", (long)l.lat, (long)l.lon);
        glb_map_put32(b, (uint32_t)l.lat);
        glb_map_put32(b + 4, (uint32_t)l.lon);
        put_tlv(e, f->tag, 8);
        put(e, b, 8);
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_STR:
    case GLB_MAP_K_ID: {
        const char *s;
        memcpy(&s, slot, sizeof(s));
        size_t n = strnlen(s, (size_t)f->max + 1);
        if (f->kind == GLB_MAP_K_ID && !glb_map_id_valid(s))
            return FAIL(e, GLB_MAP_E_MALFORMED, "not an id (1..63 of [a-z0-9-])");
        if (n > f->max)
            return FAIL(e, GLB_MAP_E_LIMIT, "longer than %llu bytes", (unsigned long long)f->max);
        put_tlv(e, f->tag, n);
        put(e, s, n);
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_NAME: {
        const uint8_t *n;
        memcpy(&n, slot, sizeof(n));
        size_t len = glb_map_name_len(n, GLB_MAP_MAX_NAME);
        if (!len)
            return FAIL(e, GLB_MAP_E_MALFORMED, "not a DNS name in wire form");
        put_tlv(e, f->tag, len);
        put(e, n, len);
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_ADDR: {
        const glb_addr *a = slot;
        const char *why = glb_map_addr_check(a);
        uint8_t b[2];
        if (why)
            return FAIL(e, GLB_MAP_E_MALFORMED, "%s", why);
        size_t nb = a->family == AF_INET ? 4 : 16;
        put_tlv(e, f->tag, 3 + nb);
        put8(e, a->family == AF_INET ? 4 : 6);
        glb_map_put16(b, a->port);
        put(e, b, 2);
        put(e, a->b, nb);
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_CLAIM:
    case GLB_MAP_K_REJECT: {
        const glb_map_reject *r = slot;
        const glb_map_claim *c = f->kind == GLB_MAP_K_CLAIM ? (const glb_map_claim *)slot : &r->claim;
        const char *why = glb_map_claim_check(c);
        if (why)
            return FAIL(e, GLB_MAP_E_MALFORMED, "%s", why);
        if (f->kind == GLB_MAP_K_CLAIM) {
            put_tlv(e, f->tag, claim_len(c));
        } else {
            if (r->reason == 0)
                return FAIL(e, GLB_MAP_E_MALFORMED, "reject reason 0");
            put_tlv(e, f->tag, 1 + claim_len(c));
            put8(e, r->reason);
        }
        put_claim(e, c);
        return GLB_MAP_OK;
    }
    case GLB_MAP_K_CONT: {
        size_t at = e->pos;
        put_tlv(e, f->tag, 0);
        if ((rc = encode_level(e, f->sub, slot)))
            return rc;
        if (e->buf && at + GLB_MAP_TLV_HEADER_LEN <= e->cap)
            glb_map_put32(e->buf + at + 2, (uint32_t)(e->pos - at - GLB_MAP_TLV_HEADER_LEN));
        return GLB_MAP_OK;
    }
    }
    return FAIL(e, GLB_MAP_E_INTERNAL, "field kind %u", f->kind);
}

static int encode_level(enc *e, const glb_map_schema *s, const void *obj)
{
    const uint8_t *o = obj;
    for (size_t i = 0; i < s->nfields; i++) {
        const glb_map_field *f = &s->fields[i];
        int rc;
        if (f->flags & GLB_MAP_F_REP) {
            size_t n;
            const uint8_t *arr;
            memcpy(&n, o + f->cnt, sizeof(n));
            memcpy(&arr, o + f->off, sizeof(arr));
            if (n > f->maxn)
                return FAIL(e, GLB_MAP_E_LIMIT, "%zu %s, at most %zu", n, f->name, f->maxn);
            if (n && !arr)
                return FAIL(e, GLB_MAP_E_MALFORMED, "%zu %s but no array", n, f->name);
            size_t esize = glb_map_elem_size(f);
            for (size_t k = 0; k < n; k++) {
                glb_map_path_push(&e->path, f->name, (long)k);
                rc = encode_value(e, f, arr + k * esize);
                glb_map_path_pop(&e->path);
                if (rc)
                    return rc;
                if (e->pos > GLB_MAP_MAX_FRAME)
                    return FAIL(e, GLB_MAP_E_LIMIT, "frame over %u bytes", GLB_MAP_MAX_FRAME);
            }
            continue;
        }
        if (f->kind == GLB_MAP_K_STR || f->kind == GLB_MAP_K_ID || f->kind == GLB_MAP_K_NAME) {
            const void *p;
            memcpy(&p, o + f->off, sizeof(p));
            if (!p) {
                if (f->flags & GLB_MAP_F_REQ)
                    return FAIL(e, GLB_MAP_E_MALFORMED, "%s missing", f->name);
                continue;
            }
        } else if (f->has != GLB_MAP_NO_HAS && !o[f->has]) {
            continue;
        }
        glb_map_path_push(&e->path, f->name, -1);
        rc = encode_value(e, f, o + f->off);
        glb_map_path_pop(&e->path);
        if (rc)
            return rc;
    }
    if (s->check) {
        const char *why = "";
        int rc = s->check(obj, &why);
        if (rc)
            return FAIL(e, rc, "%s", why);
    }
    if (e->pos > GLB_MAP_MAX_FRAME)
        return FAIL(e, GLB_MAP_E_LIMIT, "frame over %u bytes", GLB_MAP_MAX_FRAME);
    return GLB_MAP_OK;
}

int glb_map_encode(const glb_map_msg *msg, uint8_t *buf, size_t cap, size_t *len, glb_map_error *err)
{
    enc e;
    memset(&e, 0, sizeof(e));
    e.buf = buf;
    e.cap = buf ? cap : 0;
    e.err = err;
    *len = 0;
    if (err) {
        err->code = GLB_MAP_OK;
        err->type = msg->type;
        err->text[0] = '\0';
    }
    const glb_map_schema *s = glb_map_schema_of(msg->type);
    if (!s)
        return FAIL(&e, GLB_MAP_E_UNSUPPORTED, "unknown message type %u", msg->type);
    e.type = msg->type;
    uint8_t h[GLB_MAP_HEADER_LEN] = {GLB_MAP_VERSION, msg->type, 0, 0, 0, 0, 0, 0};
    put(&e, h, sizeof(h));
    int rc = encode_level(&e, s, &msg->u);
    if (rc)
        return rc;
    if (buf && e.pos > cap) {
        *len = e.pos;
        return FAIL(&e, GLB_MAP_E_NOSPACE, "frame of %zu bytes, buffer of %zu", e.pos, cap);
    }
    if (buf)
        glb_map_put32(buf + 4, (uint32_t)(e.pos - GLB_MAP_HEADER_LEN));
    *len = e.pos;
    return GLB_MAP_OK;
}

#define WRAP(fn, T, TYPE, member)                                              \
    int fn(const T *m, uint8_t *buf, size_t cap, size_t *len)                  \
    {                                                                          \
        glb_map_msg msg;                                                       \
        memset(&msg, 0, sizeof(msg));                                          \
        msg.type = TYPE;                                                       \
        msg.u.member = *m;                                                     \
        return glb_map_encode(&msg, buf, cap, len, NULL);                      \
    }

WRAP(glb_map_encode_hello, glb_map_hello, GLB_MAP_HELLO, hello)
WRAP(glb_map_encode_register, glb_map_register, GLB_MAP_REGISTER, reg)
WRAP(glb_map_encode_register_ack, glb_map_register_ack, GLB_MAP_REGISTER_ACK, ack)
WRAP(glb_map_encode_services, glb_map_services, GLB_MAP_SERVICES, services)
WRAP(glb_map_encode_ranking, glb_map_ranking, GLB_MAP_RANKING, ranking)
WRAP(glb_map_encode_metrics, glb_map_metrics, GLB_MAP_METRICS, metrics)
WRAP(glb_map_encode_keepalive, glb_map_keepalive, GLB_MAP_KEEPALIVE, keepalive)
WRAP(glb_map_encode_bye, glb_map_bye, GLB_MAP_BYE, bye)
WRAP(glb_map_encode_error, glb_map_error_msg, GLB_MAP_ERROR, error)

size_t glb_map_service_size(const glb_map_service *svc)
{
    const glb_map_schema *s = glb_map_schema_of(GLB_MAP_SERVICES);
    for (size_t i = 0; i < s->nfields; i++) {
        if (s->fields[i].tag != GLB_MAP_SVCS_SERVICE)
            continue;
        enc e;
        memset(&e, 0, sizeof(e));
        e.type = GLB_MAP_SERVICES;
        if (encode_value(&e, &s->fields[i], svc) != GLB_MAP_OK || e.pos > GLB_MAP_MAX_PAYLOAD)
            return 0;
        return e.pos;
    }
    return 0;
}

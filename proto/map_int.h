/* Internal to proto/: the field schemas that drive both the encoder and the
 * decoder, so the two cannot disagree. SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_PROTO_MAP_INT_H
#define GLB_PROTO_MAP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/map.h"

/* Wire kinds of a field's value (PROTOCOL.md §3). */
enum glb_map_kind {
    GLB_MAP_K_U8,     /* 1 byte; C type uint8_t */
    GLB_MAP_K_U16,    /* 2 bytes; uint16_t */
    GLB_MAP_K_U32,    /* 4 bytes; uint32_t */
    GLB_MAP_K_U64,    /* 8 bytes; uint64_t */
    GLB_MAP_K_BOOL,   /* 1 byte, 0 or 1; uint8_t */
    GLB_MAP_K_LOC,    /* 8 bytes, two int32; glb_map_location */
    GLB_MAP_K_STR,    /* bytes without NUL; const char * */
    GLB_MAP_K_ID,     /* id rules; const char * */
    GLB_MAP_K_NAME,   /* DNS wire name; const uint8_t * */
    GLB_MAP_K_ADDR,   /* family, port, bytes; glb_addr */
    GLB_MAP_K_CLAIM,  /* kind, prefix; glb_map_claim */
    GLB_MAP_K_REJECT, /* reason, kind, prefix; glb_map_reject */
    GLB_MAP_K_CONT,   /* nested fields; the sub-schema's struct */
};

#define GLB_MAP_F_REQ 1u /* must be present */
#define GLB_MAP_F_REP 2u /* repeated: an array and a count */
#define GLB_MAP_NO_HAS ((size_t)-1)

typedef struct glb_map_schema glb_map_schema;

typedef struct glb_map_field {
    uint16_t tag;
    uint8_t kind;
    uint8_t flags;
    const char *name;          /* for error texts */
    size_t off;                /* the value, or the array pointer when repeated */
    size_t cnt;                /* repeated: offset of the size_t count */
    size_t has;                /* optional scalar: offset of its uint8_t flag */
    uint64_t min, max;         /* integers: range; STR: max length */
    uint64_t def;              /* integers: value when absent */
    size_t maxn;               /* repeated: max count */
    const glb_map_schema *sub; /* GLB_MAP_K_CONT */
} glb_map_field;

struct glb_map_schema {
    const char *name;
    size_t size;               /* of the C struct */
    const glb_map_field *fields;
    size_t nfields;
    /* Rules across fields; returns a code and a reason, GLB_MAP_OK if fine. */
    int (*check)(const void *obj, const char **why);
};

/* The schema of a message type, NULL when unknown. */
const glb_map_schema *glb_map_schema_of(unsigned type);

/* Zeroes obj (a struct of schema s) and sets its scalars' defaults. */
void glb_map_schema_defaults(const glb_map_schema *s, void *obj);

/* Size of one array element of a repeated field. */
size_t glb_map_elem_size(const glb_map_field *f);

static inline uint16_t glb_map_get16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t glb_map_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t glb_map_get64(const uint8_t *p)
{
    return (uint64_t)glb_map_get32(p) << 32 | glb_map_get32(p + 4);
}

static inline void glb_map_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void glb_map_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void glb_map_put64(uint8_t *p, uint64_t v)
{
    glb_map_put32(p, (uint32_t)(v >> 32));
    glb_map_put32(p + 4, (uint32_t)v);
}

/* Where in a message the codec is, for error texts: "service[3].site[0]".
 * Formatted only when something fails. */
#define GLB_MAP_PATH_DEPTH 6
typedef struct glb_map_path {
    struct {
        const char *name;
        long idx;               /* -1 for a singleton field */
    } at[GLB_MAP_PATH_DEPTH];
    unsigned depth;
} glb_map_path;

static inline void glb_map_path_push(glb_map_path *p, const char *name, long idx)
{
    if (p->depth < GLB_MAP_PATH_DEPTH) {
        p->at[p->depth].name = name;
        p->at[p->depth].idx = idx;
    }
    p->depth++;
}

static inline void glb_map_path_pop(glb_map_path *p)
{
    p->depth--;
}

/* Fills err (may be NULL) with code and "TYPE: path: reason"; returns code. */
int glb_map_fail(glb_map_error *err, unsigned type, const glb_map_path *path, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Prefix and address checks shared by both directions: 0 or a reason. */
const char *glb_map_prefix_check(const glb_prefix *p);
const char *glb_map_addr_check(const glb_addr *a);
const char *glb_map_claim_check(const glb_map_claim *c);

#endif

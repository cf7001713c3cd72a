/* The configuration grammar shared by every daemon (Unbound/NSD style) and
 * its schema-table checker. SPDX-License-Identifier: BSD-3-Clause
 *
 *   # comment
 *   section:
 *       key: value            # values may be "quoted"; a line is one key
 *   include: other.conf       # relative to the including file's folder
 *
 * Each daemon describes its keys in a table of glb_cfg_key rows. The parser
 * checks every line against the table and calls the row's handler, which
 * converts the value into the daemon's own structures. Errors are printed
 * as "FILE:LINE: key 'K': message" and the parse fails as a whole. */
#ifndef GLB_CFG_H
#define GLB_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "shared/addr.h"

enum glb_cfg_type {
    GLB_CFG_STR,      /* any string */
    GLB_CFG_INT,      /* integer within [min, max] */
    GLB_CFG_BOOL,     /* yes / no */
    GLB_CFG_ADDR,     /* bare v4/v6 address */
    GLB_CFG_ADDRPORT, /* ADDR or ADDR@PORT */
    GLB_CFG_PREFIX,   /* ADDR/LEN or ADDR */
    GLB_CFG_DNAME,    /* a domain name (made absolute) */
    GLB_CFG_WORDS     /* several whitespace-separated words, handler parses */
};

#define GLB_CFG_REPEAT   0x1 /* key may appear more than once per section */
#define GLB_CFG_REQUIRED 0x2 /* key must appear in each instance of its section */

struct glb_cfg_val;
/* Called once per occurrence with the checked value. Returns NULL on success
 * or an error message (may point to a static string or to errbuf). */
typedef const char *(*glb_cfg_handler)(void *ctx, const struct glb_cfg_val *v,
                                       char *errbuf, size_t errlen);

/* What a handler receives. The typed member matching the row's type is set;
 * str always holds the raw (unquoted) value. */
typedef struct glb_cfg_val {
    const char *file;
    unsigned line;
    const char *section;
    const char *key;
    const char *str;
    long long num;        /* GLB_CFG_INT, GLB_CFG_BOOL (0/1) */
    glb_addr addr;        /* GLB_CFG_ADDR, GLB_CFG_ADDRPORT */
    glb_prefix prefix;    /* GLB_CFG_PREFIX */
    unsigned char dname[256]; /* GLB_CFG_DNAME: wire form, lower case */
    size_t dname_len;
    char **words;         /* GLB_CFG_WORDS: argv-style, NULL-terminated */
    int nwords;
    const struct glb_cfg_key *row; /* the schema row */
    void *target;         /* the section's struct (schema->target), or NULL */
} glb_cfg_val;

/* One schema row. */
typedef struct glb_cfg_key {
    const char *section;  /* "server", "service", ... */
    const char *key;
    enum glb_cfg_type type;
    unsigned flags;
    long long min, max;   /* GLB_CFG_INT bounds; WORDS: min/max word count */
    uint16_t defport;     /* GLB_CFG_ADDRPORT: port when none is given */
    glb_cfg_handler handler;
    const char *help;     /* one line for --help and docs */
    size_t offset;        /* for the glb_cfg_set_* handlers: field offset in the target */
} glb_cfg_key;

/* Called when a section line is seen ("name:" with no value), so a daemon
 * can start a new instance (e.g. a new service). May be NULL. Returns NULL or
 * an error message. */
typedef const char *(*glb_cfg_section_fn)(void *ctx, const char *section,
                                          const char *file, unsigned line);

typedef struct glb_cfg_schema {
    const glb_cfg_key *keys;  /* terminated by a row with section == NULL */
    glb_cfg_section_fn section_begin;
    glb_cfg_section_fn section_end; /* may be NULL; called at section end */
    /* May be NULL: the struct that the current instance of section fills,
     * handed to handlers as v->target (for the glb_cfg_set_* handlers). */
    void *(*target)(void *ctx, const char *section);
} glb_cfg_schema;

/* Appends one zeroed element of elem bytes to the array *arrp holding *n;
 * returns it, or NULL when out of memory (the array is unchanged). */
void *glb_cfg_push(void *arrp, size_t *n, size_t elem);

/* A copy of the n elements of size elem at src, for copying a parsed
 * configuration; NULL for none, or NULL with *fail set when out of memory. */
void *glb_cfg_dup(const void *src, size_t n, size_t elem, int *fail);

/* Generic handlers: store the checked value at v->target + row->offset.
 * set_uint: unsigned int (GLB_CFG_INT); set_u32: uint32_t (GLB_CFG_INT);
 * set_bool: int (GLB_CFG_BOOL); set_double: double parsed from the value,
 * within [min, max] (GLB_CFG_STR); set_str: char array of row->max bytes
 * (GLB_CFG_STR); set_addr: glb_addr (GLB_CFG_ADDR/ADDRPORT); set_dname:
 * uint8_t[255] (GLB_CFG_DNAME). */
const char *glb_cfg_set_uint(void *ctx, const glb_cfg_val *v, char *e, size_t el);
const char *glb_cfg_set_u32(void *ctx, const glb_cfg_val *v, char *e, size_t el);
const char *glb_cfg_set_bool(void *ctx, const glb_cfg_val *v, char *e, size_t el);
const char *glb_cfg_set_double(void *ctx, const glb_cfg_val *v, char *e, size_t el);
const char *glb_cfg_set_str(void *ctx, const glb_cfg_val *v, char *e, size_t el);
const char *glb_cfg_set_addr(void *ctx, const glb_cfg_val *v, char *e, size_t el);
const char *glb_cfg_set_dname(void *ctx, const glb_cfg_val *v, char *e, size_t el);

/* The largest configuration file (and each included one) read: a bound on
 * the memory a wrong path can take. */
#define GLB_CFG_MAX_BYTES (16u << 20)

/* Parses file against schema, calling handlers with ctx. The file and
 * those it includes must be regular files of at most GLB_CFG_MAX_BYTES, in
 * UTF-8 without control characters other than tab, CR and LF. Errors are
 * written to err (one "FILE:LINE: ..." line, NUL-terminated). 0, or -1. */
int glb_cfg_parse_file(const char *file, const glb_cfg_schema *schema, void *ctx,
                       char *err, size_t errlen);

/* Same for a config held in memory (the same bytes refused); name is used
 * in messages. */
int glb_cfg_parse_string(const char *name, const char *text, const glb_cfg_schema *schema,
                         void *ctx, char *err, size_t errlen);

#endif

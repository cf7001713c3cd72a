/* The configuration grammar and its schema-table checker.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/dname.h"

#define CFG_MAX_INCLUDE 8
#define CFG_MAX_WORDS 64
#define CFG_LINE_MAX 4096

typedef struct parser {
    const glb_cfg_schema *schema;
    void *ctx;
    char *err;
    size_t errlen;
    char section[64];        /* current section name, "" before the first */
    char section_file[512];  /* where the current section started */
    unsigned section_line;
    unsigned *seen;          /* per schema row: occurrences in this section */
    size_t nkeys;
    int depth;
} parser;

static int fail(parser *p, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(parser *p, const char *file, unsigned line, const char *fmt, ...)
{
    int n = snprintf(p->err, p->errlen, "%s:%u: ", file, line);
    if (n < 0 || (size_t)n >= p->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int is_section_name(const parser *p, const char *name)
{
    for (const glb_cfg_key *k = p->schema->keys; k->section; k++)
        if (strcmp(k->section, name) == 0)
            return 1;
    return 0;
}

/* Ends the current section: required keys are checked, then the daemon's hook. */
static int section_close(parser *p)
{
    if (p->section[0] == '\0')
        return 0;
    for (size_t i = 0; i < p->nkeys; i++) {
        const glb_cfg_key *k = &p->schema->keys[i];
        if ((k->flags & GLB_CFG_REQUIRED) && strcmp(k->section, p->section) == 0 && !p->seen[i])
            return fail(p, p->section_file, p->section_line,
                        "key '%s': missing, required in section '%s'", k->key, p->section);
    }
    if (p->schema->section_end) {
        const char *e = p->schema->section_end(p->ctx, p->section, p->section_file, p->section_line);
        if (e)
            return fail(p, p->section_file, p->section_line, "section '%s': %s", p->section, e);
    }
    p->section[0] = '\0';
    return 0;
}

static int section_open(parser *p, const char *name, const char *file, unsigned line)
{
    if (section_close(p) != 0)
        return -1;
    snprintf(p->section, sizeof(p->section), "%s", name);
    snprintf(p->section_file, sizeof(p->section_file), "%s", file);
    p->section_line = line;
    memset(p->seen, 0, p->nkeys * sizeof(*p->seen));
    if (p->schema->section_begin) {
        const char *e = p->schema->section_begin(p->ctx, name, file, line);
        if (e)
            return fail(p, file, line, "section '%s': %s", name, e);
    }
    return 0;
}

/* Splits s in place into words; "quoted strings" are one word. Returns the
 * count, or -1 on an unterminated quote or too many words. */
static int split_words(char *s, char **words, int max)
{
    int n = 0;
    while (*s) {
        while (isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        if (n == max)
            return -1;
        if (*s == '"') {
            char *end = strchr(s + 1, '"');
            if (!end)
                return -1;
            *end = '\0';
            words[n++] = s + 1;
            s = end + 1;
            continue;
        }
        words[n++] = s;
        while (*s && !isspace((unsigned char)*s))
            s++;
        if (*s)
            *s++ = '\0';
    }
    words[n] = NULL;
    return n;
}

static int parse_text(parser *p, const char *file, char *text);

/* Reads a whole file into a NUL-terminated buffer. Returns it, or NULL with errno set. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, len = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        errno = EIO;
        return NULL;
    }
    fclose(f);
    if (!buf && !(buf = malloc(1)))
        return NULL;
    buf[len] = '\0';
    return buf;
}

static int do_include(parser *p, const char *file, unsigned line, const char *path)
{
    char full[1024];
    if (path[0] != '/' && strchr(file, '/')) {
        int dirlen = (int)(strrchr(file, '/') - file);
        snprintf(full, sizeof(full), "%.*s/%s", dirlen, file, path);
    } else {
        snprintf(full, sizeof(full), "%s", path);
    }
    if (p->depth >= CFG_MAX_INCLUDE)
        return fail(p, file, line, "key 'include': nested more than %d deep", CFG_MAX_INCLUDE);
    char *buf = read_file(full);
    if (!buf)
        return fail(p, file, line, "key 'include': cannot read '%s': %s", full, strerror(errno));
    p->depth++;
    int r = parse_text(p, full, buf);
    p->depth--;
    free(buf);
    return r;
}

/* Converts and checks a value against its row, then hands it to the handler. */
static int apply_key(parser *p, const glb_cfg_key *k, const char *file, unsigned line, char *value)
{
    glb_cfg_val v;
    char *words[CFG_MAX_WORDS + 1];
    char errbuf[256];
    memset(&v, 0, sizeof(v));
    v.file = file;
    v.line = line;
    v.section = p->section;
    v.key = k->key;
    v.row = k;
    v.target = p->schema->target ? p->schema->target(p->ctx, p->section) : NULL;

    int n = split_words(value, words, CFG_MAX_WORDS);
    if (n < 0)
        return fail(p, file, line, "key '%s': unterminated quote or too many words", k->key);
    if (k->type != GLB_CFG_WORDS && n != 1)
        return fail(p, file, line, "key '%s': %s", k->key, n == 0 ? "missing value" : "expected one value");
    v.str = n > 0 ? words[0] : "";
    v.words = words;
    v.nwords = n;

    const char *why = NULL;
    switch (k->type) {
    case GLB_CFG_STR:
        break;
    case GLB_CFG_INT: {
        char *end;
        errno = 0;
        long long x = strtoll(v.str, &end, 10);
        if (*end != '\0' || errno || end == v.str)
            return fail(p, file, line, "key '%s': bad number '%s'", k->key, v.str);
        if (x < k->min || x > k->max)
            return fail(p, file, line, "key '%s': %lld out of range %lld..%lld", k->key, x, k->min, k->max);
        v.num = x;
        break;
    }
    case GLB_CFG_BOOL:
        if (strcmp(v.str, "yes") == 0)
            v.num = 1;
        else if (strcmp(v.str, "no") == 0)
            v.num = 0;
        else
            return fail(p, file, line, "key '%s': expected yes or no, not '%s'", k->key, v.str);
        break;
    case GLB_CFG_ADDR:
        if (glb_addr_parse(v.str, &v.addr) != 0)
            return fail(p, file, line, "key '%s': bad address '%s'", k->key, v.str);
        break;
    case GLB_CFG_ADDRPORT:
        if (glb_addrport_parse(v.str, k->defport, &v.addr) != 0)
            return fail(p, file, line, "key '%s': bad address '%s' (expected ADDR or ADDR@PORT)", k->key, v.str);
        break;
    case GLB_CFG_PREFIX:
        if (glb_prefix_parse(v.str, &v.prefix, &why) != 0)
            return fail(p, file, line, "key '%s': bad prefix '%s': %s", k->key, v.str, why);
        break;
    case GLB_CFG_DNAME:
        v.dname_len = glb_dname_from_str(v.str, v.dname);
        if (v.dname_len == 0)
            return fail(p, file, line, "key '%s': bad domain name '%s'", k->key, v.str);
        break;
    case GLB_CFG_WORDS:
        if (n < k->min || (k->max > 0 && n > k->max))
            return fail(p, file, line, "key '%s': expected %lld to %lld values, got %d", k->key, k->min,
                        k->max, n);
        break;
    }
    if (k->handler) {
        errbuf[0] = '\0';
        const char *e = k->handler(p->ctx, &v, errbuf, sizeof(errbuf));
        if (e)
            return fail(p, file, line, "key '%s': %s", k->key, e);
    }
    return 0;
}

static int parse_line(parser *p, const char *file, unsigned line, char *s)
{
    /* Cut the comment: a '#' outside quotes. */
    int quoted = 0;
    for (char *c = s; *c; c++) {
        if (*c == '"')
            quoted = !quoted;
        else if (*c == '#' && !quoted) {
            *c = '\0';
            break;
        }
    }
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    if (len == 0)
        return 0;

    char *colon = strchr(s, ':');
    if (!colon)
        return fail(p, file, line, "expected 'key: value' or 'section:', got '%s'", s);
    *colon = '\0';
    char *key = s, *value = colon + 1;
    for (char *c = key; *c; c++)
        if (isspace((unsigned char)*c))
            return fail(p, file, line, "expected 'key: value', got '%s'", key);
    while (isspace((unsigned char)*value))
        value++;

    if (strcmp(key, "include") == 0) {
        char *words[2];
        if (split_words(value, words, 1) != 1)
            return fail(p, file, line, "key 'include': expected one file name");
        return do_include(p, file, line, words[0]);
    }
    if (*value == '\0' && is_section_name(p, key))
        return section_open(p, key, file, line);
    if (p->section[0] == '\0')
        return fail(p, file, line, "key '%s': outside any section", key);
    for (size_t i = 0; i < p->nkeys; i++) {
        const glb_cfg_key *k = &p->schema->keys[i];
        if (strcmp(k->section, p->section) != 0 || strcmp(k->key, key) != 0)
            continue;
        if (p->seen[i] && !(k->flags & GLB_CFG_REPEAT))
            return fail(p, file, line, "key '%s': given twice in section '%s'", key, p->section);
        p->seen[i]++;
        return apply_key(p, k, file, line, value);
    }
    if (is_section_name(p, key))
        return fail(p, file, line, "section '%s:' takes no value", key);
    return fail(p, file, line, "key '%s': unknown in section '%s'", key, p->section);
}

static int parse_text(parser *p, const char *file, char *text)
{
    unsigned line = 0;
    char *s = text;
    while (*s) {
        char *nl = strchr(s, '\n');
        if (nl)
            *nl = '\0';
        line++;
        if (strlen(s) >= CFG_LINE_MAX)
            return fail(p, file, line, "line longer than %d bytes", CFG_LINE_MAX);
        if (parse_line(p, file, line, s) != 0)
            return -1;
        if (!nl)
            break;
        s = nl + 1;
    }
    return 0;
}

static int parse_top(const char *name, char *text, const glb_cfg_schema *schema, void *ctx, char *err,
                     size_t errlen)
{
    parser p;
    memset(&p, 0, sizeof(p));
    p.schema = schema;
    p.ctx = ctx;
    p.err = err;
    p.errlen = errlen;
    while (schema->keys[p.nkeys].section)
        p.nkeys++;
    p.seen = calloc(p.nkeys + 1, sizeof(*p.seen));
    if (!p.seen) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    err[0] = '\0';
    int r = parse_text(&p, name, text);
    if (r == 0)
        r = section_close(&p);
    free(p.seen);
    return r;
}

int glb_cfg_parse_string(const char *name, const char *text, const glb_cfg_schema *schema, void *ctx,
                         char *err, size_t errlen)
{
    char *copy = strdup(text);
    if (!copy) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    int r = parse_top(name, copy, schema, ctx, err, errlen);
    free(copy);
    return r;
}

int glb_cfg_parse_file(const char *file, const glb_cfg_schema *schema, void *ctx, char *err,
                       size_t errlen)
{
    char *text = read_file(file);
    if (!text) {
        snprintf(err, errlen, "%s: cannot read: %s", file, strerror(errno));
        return -1;
    }
    int r = parse_top(file, text, schema, ctx, err, errlen);
    free(text);
    return r;
}

void *glb_cfg_push(void *arrp, size_t *n, size_t elem)
{
    void **arr = arrp;
    char *na = realloc(*arr, (*n + 1) * elem);
    if (!na)
        return NULL;
    *arr = na;
    memset(na + *n * elem, 0, elem);
    return na + (*n)++ * elem;
}

/* --- generic handlers --- */

#define FIELD(v, type) ((type *)((char *)(v)->target + (v)->row->offset))

const char *glb_cfg_set_uint(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)ctx, (void)e, (void)el;
    *FIELD(v, unsigned) = (unsigned)v->num;
    return NULL;
}

const char *glb_cfg_set_u32(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)ctx, (void)e, (void)el;
    *FIELD(v, uint32_t) = (uint32_t)v->num;
    return NULL;
}

const char *glb_cfg_set_bool(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)ctx, (void)e, (void)el;
    *FIELD(v, int) = (int)v->num;
    return NULL;
}

const char *glb_cfg_set_double(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)ctx;
    char *end;
    errno = 0;
    double x = strtod(v->str, &end);
    if (end == v->str || *end != '\0' || errno || x != x || x < (double)v->row->min ||
        x > (double)v->row->max) {
        snprintf(e, el, "bad number '%s' (%lld..%lld)", v->str, v->row->min, v->row->max);
        return e;
    }
    *FIELD(v, double) = x;
    return NULL;
}

const char *glb_cfg_set_str(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)ctx;
    size_t cap = (size_t)v->row->max;
    if (strlen(v->str) >= cap) {
        snprintf(e, el, "longer than %zu characters", cap - 1);
        return e;
    }
    memcpy(FIELD(v, char), v->str, strlen(v->str) + 1);
    return NULL;
}

const char *glb_cfg_set_addr(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)ctx, (void)e, (void)el;
    *FIELD(v, glb_addr) = v->addr;
    return NULL;
}

const char *glb_cfg_set_dname(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)ctx, (void)e, (void)el;
    memcpy(FIELD(v, uint8_t), v->dname, v->dname_len);
    return NULL;
}

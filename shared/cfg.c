/* The configuration grammar and its schema-table checker.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/cfg.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/dname.h"

#define CFG_MAX_INCLUDE 8
#define CFG_MAX_WORDS 64
#define CFG_LINE_MAX 4096
#define CFG_MAX_BYTES_TEXT "16 MiB"
_Static_assert(GLB_CFG_MAX_BYTES == 16u << 20, "CFG_MAX_BYTES_TEXT is GLB_CFG_MAX_BYTES in messages");

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

/* Reads a whole regular file of at most GLB_CFG_MAX_BYTES into a
 * NUL-terminated buffer, its length in *len. NULL with *why set. Opened
 * without blocking and checked before reading: a FIFO would wait for a
 * writer, /dev/zero never ends. */
static char *read_file(const char *path, size_t *len, const char **why)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        *why = strerror(errno);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)GLB_CFG_MAX_BYTES) {
        *why = S_ISREG(st.st_mode) ? "larger than " CFG_MAX_BYTES_TEXT : "not a regular file";
        close(fd);
        return NULL;
    }
    /* one byte more than the size: a file that grew since is still bounded */
    size_t cap = (size_t)st.st_size + 2, n = 0;
    char *buf = malloc(cap);
    while (buf && n < cap - 1) {
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            *why = strerror(errno);
            free(buf);
            close(fd);
            return NULL;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (!buf) {
        *why = strerror(ENOMEM);
        return NULL;
    }
    if (n > GLB_CFG_MAX_BYTES) {
        *why = "larger than " CFG_MAX_BYTES_TEXT;
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 when invalid:
 * overlong forms, surrogates and code points past U+10FFFF included. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    if (c < 0xc2 || c > 0xf4 || n < len)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f))
        return 0;
    return len;
}

/* Text only: a NUL, a control character other than tab, CR and LF, or a
 * byte that is not UTF-8 is an error at its line and column, so that a
 * damaged or binary file is never read as a shorter or different one. */
static int check_bytes(parser *p, const char *file, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    unsigned line = 1;
    size_t bol = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        unsigned col = (unsigned)(i - bol + 1);
        if (c == '\n') {
            line++;
            bol = ++i;
        } else if (c == 0) {
            return fail(p, file, line, "NUL byte at column %u: not allowed in a configuration file", col);
        } else if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
            return fail(p, file, line, "control character 0x%02x at column %u: not allowed in a configuration file",
                        c, col);
        } else if (c < 0x80) {
            i++;
        } else {
            size_t n = utf8_len(s + i, len - i);
            if (n == 0)
                return fail(p, file, line, "invalid UTF-8 at column %u (byte 0x%02x)", col, c);
            i += n;
        }
    }
    return 0;
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
    size_t len = 0;
    const char *why = NULL;
    char *buf = read_file(full, &len, &why);
    if (!buf)
        return fail(p, file, line, "key 'include': cannot read '%s': %s", full, why);
    p->depth++;
    int r = check_bytes(p, full, buf, len);
    if (r == 0)
        r = parse_text(p, full, buf);
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

static int parse_top(const char *name, char *text, size_t len, const glb_cfg_schema *schema, void *ctx,
                     char *err, size_t errlen)
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
    int r = check_bytes(&p, name, text, len);
    if (r == 0)
        r = parse_text(&p, name, text);
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
    int r = parse_top(name, copy, strlen(copy), schema, ctx, err, errlen);
    free(copy);
    return r;
}

int glb_cfg_parse_file(const char *file, const glb_cfg_schema *schema, void *ctx, char *err,
                       size_t errlen)
{
    size_t len = 0;
    const char *why = NULL;
    char *text = read_file(file, &len, &why);
    if (!text) {
        snprintf(err, errlen, "%s: cannot read: %s", file, why);
        return -1;
    }
    int r = parse_top(file, text, len, schema, ctx, err, errlen);
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

void *glb_cfg_dup(const void *src, size_t n, size_t elem, int *fail)
{
    if (n == 0 || !src)
        return NULL;
    void *d = malloc(n * elem);
    if (!d) {
        *fail = 1;
        return NULL;
    }
    memcpy(d, src, n * elem);
    return d;
}

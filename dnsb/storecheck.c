/* The LMDB data file checked with pread before it is mapped (see
 * storecheck.h). The layout is LMDB 0.9's (mdb.c: MDB_page, MDB_node,
 * MDB_db, MDB_meta), native byte order, page numbers of sizeof(size_t).
 * SPDX-License-Identifier: BSD-3-Clause */
#include "dnsb/storecheck.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PG sizeof(size_t)            /* pgno_t */
#define PAGEHDR (PG + 8)             /* pgno, pad, flags, lower/upper or pages */
#define NODEHDR 8                    /* lo, hi, flags, ksize */
#define DBSZ (8 + 5 * PG)            /* MDB_db */
#define META_DBS (PAGEHDR + 8 + 2 * PG) /* after magic, version, address, mapsize */
#define META_LAST (META_DBS + 2 * DBSZ)
#define META_TXNID (META_LAST + PG)
#define META_END (META_TXNID + PG)
#define DB_ROOT (8 + 4 * PG)

#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_META 0x08
#define P_LEAF2 0x20
#define F_BIGDATA 0x01
#define F_SUBDATA 0x02
#define MDB_MAGIC 0xBEEFC0DEu
#define MDB_DATA_VERSION 1
#define P_INVALID ((uint64_t)(size_t)-1)
#define MAX_DEPTH 32 /* LMDB's cursor stack is 32 deep; sub-databases add to it */

typedef struct chk {
    int fd;
    uint64_t size;   /* bytes in the file */
    size_t psize;
    uint64_t last;   /* the newest meta's last page */
    uint64_t npages; /* whole pages in the file */
    uint8_t *seen;   /* bitmap over npages: a page is in one place only */
    int io_error;    /* a read failed: no verdict on the file */
    char *why;
    size_t whylen;
} chk;

static int bad(chk *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(chk *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, c->whylen, fmt, ap);
    va_end(ap);
    return -1;
}

static uint16_t u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint32_t u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint64_t pgno(const uint8_t *p)
{
    size_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Reads len bytes at off: 0, or -1 (why set) when short or failing. */
static int read_at(chk *c, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(c->fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            c->io_error = 1;
            return bad(c, "read at offset %llu: %s", (unsigned long long)off, strerror(errno));
        }
        if (n == 0)
            return bad(c, "truncated: %llu bytes, read past the end at offset %llu", (unsigned long long)c->size,
                       (unsigned long long)(off + got));
        got += (size_t)n;
    }
    return 0;
}

/* Pages [first, first + n) are referred to: inside the file, at most the
 * last page, and not referred to already. */
static int claim(chk *c, uint64_t first, uint64_t n, const char *what)
{
    if (n == 0 || first > c->last || n > c->last + 1 - first)
        return bad(c, "%s page %llu (%llu pages) lies past the last page %llu", what, (unsigned long long)first,
                   (unsigned long long)n, (unsigned long long)c->last);
    if (first >= c->npages || n > c->npages - first)
        return bad(c, "truncated: %llu bytes, but %s page %llu (%llu pages) needs %llu", (unsigned long long)c->size,
                   what, (unsigned long long)first, (unsigned long long)n,
                   (unsigned long long)((first + n) * c->psize));
    for (uint64_t p = first; p < first + n; p++) {
        if (c->seen[p / 8] & (1u << (p % 8)))
            return bad(c, "page %llu is referred to twice", (unsigned long long)p);
        c->seen[p / 8] |= (uint8_t)(1u << (p % 8));
    }
    return 0;
}

/* The overflow run at pg holding a value of dsize bytes. */
static int check_overflow(chk *c, uint64_t pg, uint32_t dsize)
{
    uint8_t h[PAGEHDR];
    if (pg > c->last || pg >= c->npages)
        return claim(c, pg, 1, "overflow");
    if (read_at(c, h, sizeof(h), pg * c->psize) != 0)
        return -1;
    uint32_t n = u32(h + PG + 4);
    if (pgno(h) != pg || !(u16(h + PG + 2) & P_OVERFLOW))
        return bad(c, "page %llu: not the overflow page a value refers to", (unsigned long long)pg);
    if ((uint64_t)n * c->psize < PAGEHDR + (uint64_t)dsize)
        return bad(c, "page %llu: %u overflow pages cannot hold %u bytes", (unsigned long long)pg, n, dsize);
    return claim(c, pg, n, "overflow");
}

static int check_tree(chk *c, uint64_t root, int depth);

/* One node of leaf page pg, room bytes before the page ends: its value in
 * the page, in an overflow run, or a sub-database whose tree is checked in
 * turn. */
static int check_leaf_node(chk *c, uint64_t pg, const uint8_t *node, size_t room, int depth)
{
    uint16_t flags = u16(node + 4), ksize = u16(node + 6);
    uint32_t dsize = (uint32_t)u16(node) | (uint32_t)u16(node + 2) << 16;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    dsize = (uint32_t)u16(node + 2) | (uint32_t)u16(node) << 16;
#endif
    if (flags & ~(F_BIGDATA | F_SUBDATA) || (flags & F_BIGDATA && flags & F_SUBDATA))
        return bad(c, "page %llu: a node with flags 0x%x", (unsigned long long)pg, flags);
    if ((size_t)NODEHDR + ksize > room)
        return bad(c, "page %llu: a key runs past the page", (unsigned long long)pg);
    const uint8_t *data = node + NODEHDR + ksize;
    room -= NODEHDR + ksize;
    if (flags & F_BIGDATA) {
        if (room < PG)
            return bad(c, "page %llu: an overflow reference runs past the page", (unsigned long long)pg);
        return check_overflow(c, pgno(data), dsize);
    }
    if (dsize > room)
        return bad(c, "page %llu: a value of %u bytes runs past the page", (unsigned long long)pg, dsize);
    if (flags & F_SUBDATA) {
        if (dsize != DBSZ)
            return bad(c, "page %llu: a sub-database record of %u bytes", (unsigned long long)pg, dsize);
        return check_tree(c, pgno(data + DB_ROOT), depth + 1);
    }
    return 0;
}

/* The branch or leaf page pg and, below it, its subtree. */
static int check_tree(chk *c, uint64_t pg, int depth)
{
    if (pg == P_INVALID) /* an empty tree */
        return 0;
    if (depth > MAX_DEPTH)
        return bad(c, "page %llu: trees nested deeper than %d", (unsigned long long)pg, MAX_DEPTH);
    if (claim(c, pg, 1, "tree") != 0)
        return -1;
    uint8_t *p = malloc(c->psize);
    if (!p)
        return bad(c, "out of memory");
    int rc = read_at(c, p, c->psize, pg * c->psize);
    uint16_t type = u16(p + PG + 2) & (P_BRANCH | P_LEAF | P_OVERFLOW | P_META | P_LEAF2);
    uint16_t lower = u16(p + PG + 4), upper = u16(p + PG + 6);
    if (rc == 0 && pgno(p) != pg)
        rc = bad(c, "page %llu: holds the number %llu (overwritten?)", (unsigned long long)pg,
                 (unsigned long long)pgno(p));
    if (rc == 0 && type != P_BRANCH && type != P_LEAF)
        rc = bad(c, "page %llu: type 0x%x where a branch or leaf page belongs", (unsigned long long)pg, type);
    if (rc == 0 && (lower < PAGEHDR || lower > upper || upper > c->psize || (lower - PAGEHDR) % 2 ||
                    (type == P_BRANCH && lower == PAGEHDR)))
        rc = bad(c, "page %llu: bad bounds %u..%u", (unsigned long long)pg, lower, upper);
    size_t nkeys = rc == 0 ? (size_t)(lower - PAGEHDR) / 2 : 0;
    for (size_t i = 0; rc == 0 && i < nkeys; i++) {
        uint16_t off = u16(p + PAGEHDR + 2 * i);
        if (off < upper || (size_t)off + NODEHDR > c->psize) {
            rc = bad(c, "page %llu: node %zu at offset %u lies outside the page", (unsigned long long)pg, i, off);
            break;
        }
        const uint8_t *node = p + off;
        if (type == P_LEAF) {
            rc = check_leaf_node(c, pg, node, c->psize - off, depth);
        } else if ((size_t)off + NODEHDR + u16(node + 6) > c->psize) {
            rc = bad(c, "page %llu: a key runs past the page", (unsigned long long)pg);
        } else {
            uint64_t child = (uint64_t)u16(node) | (uint64_t)u16(node + 2) << 16 | (uint64_t)u16(node + 4) << 32;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            child = (uint64_t)u16(node + 2) | (uint64_t)u16(node) << 16 | (uint64_t)u16(node + 4) << 32;
#endif
            rc = check_tree(c, child, depth + 1);
        }
    }
    free(p);
    return rc;
}

/* Meta page i (at offset off), as LMDB reads it: 0 with its page size, last
 * page and txnid, or -1. */
static int read_meta(chk *c, int i, uint64_t off, uint8_t m[META_END])
{
    if (c->size < off + META_END)
        return bad(c, "truncated: %llu bytes, too short for meta page %d", (unsigned long long)c->size, i);
    if (read_at(c, m, META_END, off) != 0)
        return -1;
    if (!(u16(m + PG + 2) & P_META))
        return bad(c, "meta page %d: not a meta page (zeroed or overwritten)", i);
    if (u32(m + PAGEHDR) != MDB_MAGIC)
        return bad(c, "meta page %d: not an LMDB file (magic 0x%08x)", i, u32(m + PAGEHDR));
    if (u32(m + PAGEHDR + 4) != MDB_DATA_VERSION)
        return bad(c, "meta page %d: format version %u, not %d", i, u32(m + PAGEHDR + 4), MDB_DATA_VERSION);
    uint32_t ps = u32(m + META_DBS);
    if (ps < 256 || ps > 65536 || (ps & (ps - 1)))
        return bad(c, "meta page %d: bad page size %u", i, ps);
    return 0;
}

static int check_fd(chk *c)
{
    uint8_t m[2][META_END];
    if (read_meta(c, 0, 0, m[0]) != 0)
        return -1;
    c->psize = u32(m[0] + META_DBS);
    if (c->size < 2 * (uint64_t)c->psize)
        return bad(c, "truncated: %llu bytes, shorter than its two meta pages of %zu bytes",
                   (unsigned long long)c->size, c->psize);
    if (read_meta(c, 1, c->psize, m[1]) != 0)
        return -1;
    if (u32(m[1] + META_DBS) != c->psize)
        return bad(c, "meta page 1: page size %u, meta page 0 says %zu", u32(m[1] + META_DBS), c->psize);
    const uint8_t *cur = pgno(m[1] + META_TXNID) > pgno(m[0] + META_TXNID) ? m[1] : m[0]; /* as LMDB picks */
    c->last = pgno(cur + META_LAST);
    c->npages = c->size / c->psize;
    if (c->last < 1)
        return bad(c, "meta page: last page %llu", (unsigned long long)c->last);
    c->seen = calloc(c->npages / 8 + 1, 1);
    if (!c->seen)
        return bad(c, "out of memory");
    if (claim(c, 0, 2, "meta") != 0)
        return -1;
    for (int db = 0; db < 2; db++) /* the free list, then the main database */
        if (check_tree(c, pgno(cur + META_DBS + (size_t)db * DBSZ + DB_ROOT), 0) != 0)
            return -1;
    return 0;
}

int dnsb_store_check(const char *path, char *why, size_t whylen)
{
    chk c = {.fd = -1, .why = why, .whylen = whylen};
    struct stat st;
    why[0] = '\0';
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return DNSB_STORE_FILE_ABSENT;
        snprintf(why, whylen, "%s", strerror(errno));
        return DNSB_STORE_FILE_UNREADABLE;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "not a regular file");
        return DNSB_STORE_FILE_DAMAGED;
    }
    if (st.st_size == 0) {
        snprintf(why, whylen, "empty (0 bytes)");
        return DNSB_STORE_FILE_DAMAGED;
    }
    if ((c.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return DNSB_STORE_FILE_UNREADABLE;
    }
    c.size = (uint64_t)st.st_size;
    int rc = check_fd(&c);
    close(c.fd);
    free(c.seen);
    if (rc == 0)
        return DNSB_STORE_FILE_OK;
    return c.io_error ? DNSB_STORE_FILE_UNREADABLE : DNSB_STORE_FILE_DAMAGED;
}

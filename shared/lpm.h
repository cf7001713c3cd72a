/* Longest-prefix-match table for IPv4 and IPv6 prefixes: a path-compressed
 * binary trie in one array of nodes (32-bit indices), built for millions of
 * entries. Not thread-safe for writers; readers of a table that no writer
 * touches may run concurrently (publish tables with shared/qsbr.h).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_LPM_H
#define GLB_LPM_H

#include <stddef.h>
#include <stdint.h>

#include "shared/addr.h"

typedef struct glb_lpm glb_lpm;

/* What a lookup found. scope is the number of leading bits of the key that
 * decided the result: every address sharing them gets the same answer (the
 * ECS scope prefix length, RFC 7871 §7.2.1). */
typedef struct glb_lpm_match {
    uint32_t value;   /* value of the longest matching prefix */
    unsigned len;     /* its length in bits (family-relative) */
    unsigned scope;   /* family-relative, 0..32 or 0..128 */
} glb_lpm_match;

/* A new empty table, or NULL when out of memory. */
glb_lpm *glb_lpm_new(void);

/* An identical copy of t (its own memory), or NULL when out of memory. */
glb_lpm *glb_lpm_clone(const glb_lpm *t);
/* Frees the table (NULL is fine). */
void glb_lpm_free(glb_lpm *t);

/* Inserts or replaces prefix -> value. Returns 0, or -1 when out of memory. */
int glb_lpm_insert(glb_lpm *t, const glb_prefix *p, uint32_t value);

/* Removes exactly this prefix. Returns 0, or -1 when it was not present. */
int glb_lpm_remove(glb_lpm *t, const glb_prefix *p);

/* Finds the longest prefix containing the first keylen bits of a (keylen is
 * family-relative; prefixes longer than keylen never match: an ECS /24 query
 * does not match a /32 mapping). Returns 1 and fills m when found; returns 0
 * when nothing matches, with m->scope still set. */
int glb_lpm_lookup(const glb_lpm *t, const glb_addr *a, unsigned keylen, glb_lpm_match *m);

/* Calls fn for every prefix in the table (order unspecified). */
void glb_lpm_walk(const glb_lpm *t, void (*fn)(void *arg, const glb_prefix *p, uint32_t value),
                  void *arg);

/* Number of prefixes stored. */
size_t glb_lpm_count(const glb_lpm *t);

/* Number of host prefixes (/32, /128) in the hash that answers full-length
 * lookups without walking the trie: all of the table's host prefixes. */
size_t glb_lpm_hosts(const glb_lpm *t);
/* Bytes of memory the table holds (nodes and arrays). */
size_t glb_lpm_memory(const glb_lpm *t);

#endif

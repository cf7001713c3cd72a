/* A read-mostly hash table from domain names (wire form, compared without
 * case) to 32-bit values: built once, then only read by query threads.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_NAMETAB_H
#define GLB_NAMETAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct glb_nametab glb_nametab;

/* An empty table; NULL when out of memory. */
glb_nametab *glb_nametab_new(void);
void glb_nametab_free(glb_nametab *t);

/* Adds key (wire bytes, any case, keylen bytes) -> value. Returns 0, 1 when
 * the key was already present (its value is kept), or -1 when out of memory. */
int glb_nametab_add(glb_nametab *t, const uint8_t *key, size_t keylen, uint32_t value);

/* Finds key; returns 1 and sets *value, or 0. */
int glb_nametab_get(const glb_nametab *t, const uint8_t *key, size_t keylen, uint32_t *value);

/* Number of keys. */
size_t glb_nametab_count(const glb_nametab *t);

#endif

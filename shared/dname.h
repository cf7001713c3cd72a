/* Domain names in wire form (uncompressed, at most 255 bytes).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_DNAME_H
#define GLB_DNAME_H

#include <stddef.h>
#include <stdint.h>

#define GLB_DNAME_MAX 255
#define GLB_LABEL_MAX 63

/* ASCII lower-casing of any byte (label length bytes, <= 63, map to
 * themselves, so a whole wire name can be folded byte by byte). */
extern const uint8_t glb_lc[256];

/* Converts presentation text ("www.example.", relative names made absolute,
 * "\." and "\DDD" escapes) to lower-case wire form in out (>= 255 bytes).
 * Returns the wire length, or 0 when the text is not a valid name. */
size_t glb_dname_from_str(const char *s, uint8_t *out);

/* Writes the presentation form ("www.example.") of wire name n into buf.
 * Returns buf. buf should hold at least 1010 bytes for any name. */
char *glb_dname_to_str(const uint8_t *n, char *buf, size_t len);

/* Wire length of an uncompressed name (including the root byte). */
size_t glb_dname_len(const uint8_t *n);

/* Number of labels, not counting the root. */
unsigned glb_dname_labels(const uint8_t *n);

/* Lower-cases a wire name in place (ASCII only). */
void glb_dname_tolower(uint8_t *n);

/* 1 when a equals b ignoring ASCII case, else 0. */
int glb_dname_equal(const uint8_t *a, const uint8_t *b);

/* If name is zone or below it (case-insensitive), returns the number of
 * labels name has beyond zone (0 = same name); else -1. */
int glb_dname_sub(const uint8_t *name, const uint8_t *zone);

/* Points at the suffix of n that drops its first k labels. */
const uint8_t *glb_dname_skip(const uint8_t *n, unsigned k);

/* Builds label.zone in out (>= 255 bytes). Returns its length, or 0 when it
 * would be too long or the label is empty or longer than 63. */
size_t glb_dname_prepend(const char *label, size_t label_len, const uint8_t *zone, uint8_t *out);

#endif

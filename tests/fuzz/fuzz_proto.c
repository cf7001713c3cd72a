/* libFuzzer target for the map protocol decoder (proto/decode.c).
 * Whatever the input: no crash, no read or write out of bounds, no arena
 * overrun with an arena of GLB_MAP_ARENA_FOR(size) bytes, and what decodes
 * re-encodes into a canonical frame that decodes and re-encodes to itself.
 * Built by `make fuzz-proto` (clang -fsanitize=fuzzer) and, without
 * libFuzzer, run over the seed corpus by tests/fuzz/replay.c.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const glb_map_error *err)
{
    fprintf(stderr, "fuzz_proto: %s (%s: %s)\n", what, glb_map_code_name(err->code), err->text);
    abort();
}

/* Encodes m into a buffer of exactly the measured size. */
static uint8_t *encode(const glb_map_msg *m, size_t *len, glb_map_error *err)
{
    size_t need;
    int rc = glb_map_encode(m, NULL, 0, &need, err);
    if (rc == GLB_MAP_E_LIMIT)
        return NULL; /* explicit defaults made it larger than a frame */
    if (rc != GLB_MAP_OK)
        die("a decoded message does not encode", err);
    uint8_t *buf = malloc(need);
    if (!buf)
        abort();
    if (need > 1 && glb_map_encode(m, buf, need - 1, len, err) != GLB_MAP_E_NOSPACE)
        die("encoding into a short buffer did not say no-space", err);
    if (glb_map_encode(m, buf, need, len, err) != GLB_MAP_OK || *len != need)
        die("encoding differs from its measure", err);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    glb_map_error err;
    glb_map_msg m1, m2;
    size_t n = 0;
    int fc = glb_map_frame_check(data, size, &n);

    size_t cap = GLB_MAP_ARENA_FOR(size);
    uint8_t *arena = malloc(cap);
    if (!arena)
        abort();
    glb_map_msg_init(&m1, arena, cap);
    int rc = glb_map_decode(data, size, &m1, &err);
    if (rc == GLB_MAP_E_INTERNAL)
        die("arena of GLB_MAP_ARENA_FOR(size) too small", &err);
    if (rc != GLB_MAP_OK) {
        if (err.code != rc || strlen(err.text) >= sizeof(err.text) || m1.type != 0)
            die("error report inconsistent", &err);
        if (fc == GLB_MAP_FRAME_READY && n == size && rc == GLB_MAP_E_BAD_VERSION)
            die("frame check passed a bad version", &err);
        free(arena);
        return 0;
    }
    if (fc != GLB_MAP_FRAME_READY || n != size)
        die("decoded a frame the frame check did not delimit", &err);
    if (m1.arena_used > cap)
        die("arena accounting", &err);

    size_t len1 = 0, len2 = 0;
    uint8_t *f1 = encode(&m1, &len1, &err);
    if (!f1) {
        free(arena);
        return 0;
    }
    uint8_t *arena2 = malloc(GLB_MAP_ARENA_FOR(len1));
    if (!arena2)
        abort();
    glb_map_msg_init(&m2, arena2, GLB_MAP_ARENA_FOR(len1));
    if (glb_map_decode(f1, len1, &m2, &err) != GLB_MAP_OK)
        die("a re-encoded frame does not decode", &err);
    uint8_t *f2 = encode(&m2, &len2, &err);
    if (!f2 || len2 != len1 || memcmp(f1, f2, len1) != 0)
        die("re-encoding is not canonical", &err);
    free(f2);
    free(f1);
    free(arena2);
    free(arena);
    return 0;
}

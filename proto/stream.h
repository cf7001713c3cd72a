/* Frames out of a libevent input buffer (PROTOCOL.md §2.3): the reading loop
 * every map-protocol peer runs on its connection, with the arena its
 * messages are decoded into. The codec itself (proto/map.h) stays free of
 * I/O. SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_PROTO_STREAM_H
#define GLB_PROTO_STREAM_H

#include <stddef.h>

#include "proto/map.h"

struct evbuffer;

/* One per connection, or one per thread when each message is handled
 * before the next is read. Zero-initialised is ready. */
typedef struct glb_map_reader {
    uint8_t *arena;
    size_t cap;
} glb_map_reader;

/* Takes the next whole frame off the start of in and decodes it into msg.
 * Returns 1 when a frame was consumed: err->code is GLB_MAP_OK and msg is
 * valid until the next read with r, or the code to answer in ERROR.
 * Returns 0 when no whole frame is there yet (nothing consumed). Returns
 * -1 when the stream cannot go on (err->code: BAD_VERSION or LIMIT, found
 * in the header before any payload is read, or INTERNAL when out of
 * memory): answer ERROR and close. */
int glb_map_read(glb_map_reader *r, struct evbuffer *in, glb_map_msg *msg, glb_map_error *err);

void glb_map_reader_free(glb_map_reader *r);

#endif

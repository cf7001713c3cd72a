/* Frames out of a libevent input buffer. SPDX-License-Identifier: BSD-3-Clause */
#include "proto/stream.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(glb_map_error *err, int code, const char *text)
{
    err->code = code;
    err->type = 0;
    snprintf(err->text, sizeof(err->text), "%s", text);
    return -1;
}

int glb_map_read(glb_map_reader *r, struct evbuffer *in, glb_map_msg *msg, glb_map_error *err)
{
    size_t have = evbuffer_get_length(in), n = 0;
    uint8_t hdr[GLB_MAP_HEADER_LEN];
    size_t hl = have < sizeof(hdr) ? have : sizeof(hdr);
    if (hl == 0)
        return 0;
    evbuffer_copyout(in, hdr, hl);
    int rc = glb_map_frame_check(hdr, hl, &n);
    if (rc == -GLB_MAP_E_BAD_VERSION)
        return fail(err, GLB_MAP_E_BAD_VERSION, "frame version not 1");
    if (rc == -GLB_MAP_E_LIMIT)
        return fail(err, GLB_MAP_E_LIMIT, "frame over 1 MiB");
    if (rc == GLB_MAP_FRAME_NEED && hl < sizeof(hdr))
        return 0;
    size_t total = rc == GLB_MAP_FRAME_READY ? n : hl + n; /* the header says; <= GLB_MAP_MAX_FRAME */
    if (have < total)
        return 0;
    size_t need = GLB_MAP_ARENA_FOR(total);
    if (need > r->cap) {
        uint8_t *a = realloc(r->arena, need);
        if (!a)
            return fail(err, GLB_MAP_E_INTERNAL, "out of memory");
        r->arena = a;
        r->cap = need;
    }
    const uint8_t *frame = evbuffer_pullup(in, (ev_ssize_t)total);
    if (!frame)
        return fail(err, GLB_MAP_E_INTERNAL, "out of memory");
    glb_map_msg_init(msg, r->arena, r->cap);
    if (glb_map_decode(frame, total, msg, err) == GLB_MAP_OK)
        err->code = GLB_MAP_OK;
    evbuffer_drain(in, total); /* the message lives in the arena */
    return 1;
}

void glb_map_reader_free(glb_map_reader *r)
{
    free(r->arena);
    r->arena = NULL;
    r->cap = 0;
}

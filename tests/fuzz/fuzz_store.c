/* libFuzzer target for dnsb's LMDB record decoders (dnsb/store.c:
 * dnsb_store_decode_reg and dnsb_store_decode_seq, what dnsb_store_load
 * applies to each record of a database it opens). Input: one byte (even: a
 * registration record, odd: a sequence record), one byte of key length
 * (modulo 80), the key, then the value. Properties: no crash or sanitizer
 * report; a registration accepted is a REGISTER whose node id is the key and
 * whose frame re-encodes; a sequence record accepted has a valid id equal
 * to the key.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>

#include "dnsb/store.h"
#include "proto/map.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned kind = data[0] & 1;
    size_t klen = data[1] % 80;
    data += 2, size -= 2;
    if (klen > size)
        klen = size;
    const uint8_t *key = data, *val = data + klen;
    size_t vlen = size - klen;
    if (kind == 1) {
        char id[GLB_MAP_MAX_ID + 1];
        uint64_t seq, at;
        if (dnsb_store_decode_seq(key, klen, val, vlen, id, &seq, &at) == 0) {
            FUZZ_CHECK(strlen(id) == klen && memcmp(id, key, klen) == 0, "id differs from the key");
            FUZZ_CHECK(glb_map_id_valid(id), "invalid id accepted");
        }
        return 0;
    }
    glb_map_msg msg;
    uint8_t *arena = NULL;
    size_t cap = 0;
    uint64_t exp_ms = 0;
    const char *why = dnsb_store_decode_reg(key, klen, val, vlen, &msg, &arena, &cap, &exp_ms);
    if (!why) {
        FUZZ_CHECK(msg.type == GLB_MAP_REGISTER, "not a REGISTER");
        FUZZ_CHECK(strlen(msg.u.reg.node_id) == klen && memcmp(msg.u.reg.node_id, key, klen) == 0,
                   "node id differs from the key");
        size_t need = 0;
        int rc = glb_map_encode_register(&msg.u.reg, NULL, 0, &need);
        FUZZ_CHECK(rc == GLB_MAP_OK || rc == GLB_MAP_E_NOSPACE || rc == GLB_MAP_E_LIMIT,
                   "a decoded registration does not encode");
    } else {
        FUZZ_CHECK(*why, "empty reason");
    }
    free(arena);
    return 0;
}

/* libFuzzer target for the HTTP/1.x response parser of the health checks
 * (shared/measure/probe_http.c, through glb_http_parse_response: the check's own
 * reader, fed without a network). Input: one byte, the size of the pieces
 * the response arrives in (0: at once), two bytes of max_body (big-endian),
 * then the response. Properties: no crash or sanitizer report, no leak;
 * the outcome is one of the errors; OK only with a status in 200..399 and
 * at most max_body body bytes; a status, when read, is 100..999; no more
 * body bytes counted than were sent. The same input fed at once and byte by
 * byte gives the same outcome.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/measure/probe_http.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t step = data[0], max_body = (size_t)data[1] << 8 | data[2];
    data += 3, size -= 3;
    glb_http_result r, r1;
    if (glb_http_parse_response(data, size, step, max_body, &r) != 0)
        return 0;
    FUZZ_CHECK(r.err >= GLB_HTTP_OK && r.err <= GLB_HTTP_ERR_TOO_BIG, "unknown outcome");
    FUZZ_CHECK(r.status == 0 || (r.status >= 100 && r.status <= 999), "status");
    FUZZ_CHECK(r.body_bytes <= size, "more body than sent");
    if (r.err == GLB_HTTP_OK)
        FUZZ_CHECK(r.status >= 200 && r.status <= 399 && r.body_bytes <= max_body, "OK outcome");
    if (step != 1 && size <= 4096 && glb_http_parse_response(data, size, 1, max_body, &r1) == 0)
        FUZZ_CHECK(r1.err == r.err && r1.status == r.status, "outcome depends on how the bytes arrive");
    return 0;
}

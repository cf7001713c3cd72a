/* libFuzzer target for what dnslb parses of DNS responses and resolver
 * files: the whoami TXT record a DNS-B answers (lb_whoami_parse_txt),
 * resolv.conf's nameserver lines (lb_resolvconf_parse), and the recursive
 * replies the combined box rebuilds for its clients (lb_rec_answer). Input:
 * one byte choosing the parser (odd: resolv.conf text; bit 1: a recursive
 * reply, with bit 2 TCP and bit 3 secure; else TXT rdata), then the input.
 * A rebuilt answer keeps the client's id and question, is QR, fits 512
 * bytes over UDP. Properties: no crash or sanitizer report; a TXT accepted has a
 * unicast src with no port and at most one ECS prefix of a valid length;
 * resolv.conf gives at most max servers, each with a v4/v6 address and a
 * NUL-terminated forwarder string.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>
#include <sys/socket.h>

#include "dnslb/recanswer.h"
#include "dnslb/whoami.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned ctl = data[0];
    data++, size--;
    if ((ctl & 3) == 2) {
        /* the client: id 0x1234, RD, example.com A, no EDNS */
        static const uint8_t q[] = {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p',
                                    'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
        static uint8_t out[65535];
        int tcp = (ctl >> 2) & 1;
        size_t n = lb_rec_answer(q, sizeof(q), tcp, data, size, (ctl >> 3) & 1, ctl >> 4, out, sizeof(out));
        FUZZ_CHECK(n >= sizeof(q), "no answer");
        FUZZ_CHECK(tcp || n <= 512, "UDP answer over 512 bytes");
        FUZZ_CHECK(out[0] == 0x12 && out[1] == 0x34 && (out[2] & 0x80), "id or QR");
        FUZZ_CHECK(memcmp(out + 12, q + 12, sizeof(q) - 12) == 0, "question");
        return 0;
    }
    if (!(ctl & 1)) {
        lb_whoami_txt t;
        if (lb_whoami_parse_txt(data, size, &t) == 0) {
            FUZZ_CHECK(t.has_src && (t.src.family == AF_INET || t.src.family == AF_INET6), "src");
            FUZZ_CHECK(t.src.port == 0, "src with a port");
            if (t.has_ecs)
                FUZZ_CHECK((t.ecs.family == AF_INET && t.ecs.len <= 32) ||
                               (t.ecs.family == AF_INET6 && t.ecs.len <= 128),
                           "ecs prefix");
        }
        return 0;
    }
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    lb_nameserver ns[4];
    size_t max = 1 + (ctl >> 1) % 4;
    size_t n = lb_resolvconf_parse(text, ns, max);
    FUZZ_CHECK(n <= max, "more servers than room");
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(ns[i].addr.family == AF_INET || ns[i].addr.family == AF_INET6, "server family");
        FUZZ_CHECK(memchr(ns[i].fwd, 0, sizeof(ns[i].fwd)) != NULL, "forwarder not terminated");
    }
    free(text);
    return 0;
}

/* libFuzzer target for the DNS query path of both servers: shared/dnsquery.c
 * (header, question, EDNS, ECS) through dnsb_answer, dnsb_answer_standby and
 * lb_answer over fixed tables (referrals, direct and proxy services, static
 * DNS-LBs with resolver prefixes, standbys, a DNS-LB's ranked services).
 * Input: one control byte, then the packet (UDP) or a TCP stream of
 * length-prefixed messages, answered one by one. Control byte: bit 0 TCP,
 * bits 1-2 the server (dnsb, dnsb's standby listener, dnslb), bit 3 an IPv6
 * source, bits 4-5 which source address (resolvers a DNS-LB serves, or not).
 * Properties: no crash or sanitizer report; every answer is at most the
 * buffer, at least a header, carries the query's ID with QR set, parses with
 * ldns, and over UDP fits the client's size (512 without EDNS); the
 * truncated answer rate limiting makes of it (glb_resp_slip) is a header
 * and at most the question.
 * SPDX-License-Identifier: BSD-3-Clause */
#include <ldns/ldns.h>
#include <stdatomic.h>
#include <string.h>

#include "dnsb/answer.h"
#include "dnsb/conf.h"
#include "dnsb/registry.h"
#include "dnsb/table.h"
#include "dnslb/answer.h"
#include "dnslb/conf.h"
#include "dnslb/table.h"
#include "shared/dnsquery.h"
#include "shared/dnsresp.h"
#include "shared/qsbr.h"
#include "tests/fuzz/fuzz.h"

#define EDNS_SIZE 1232 /* both servers' default edns-buffer-size */

static const char *dnsb_text =
    "server:\n"
    "  listen: 127.0.0.1@5300\n"
    "  zone: glb.example.net.\n"
    "  zone-ns: b1.glb.example.net. 127.0.0.1\n"
    "  zone-ns: b2.glb.example.net. ::1\n"
    "  standby-ns: standby.glb.example.net. 127.0.0.53\n"
    "  standby-ns: standby.glb.example.net. 2001:db8::53\n"
    "  standby-listen: 127.0.0.53@5300\n"
    "service:\n"
    "  name: www.foobar.example.\n"
    "  site: paris 192.0.2.10 2001:db8::10 weight=2\n"
    "  site: tokyo 192.0.2.20 weight=1\n"
    "service:\n"
    "  name: shop.svc.glb.example.net.\n"
    "  mode: direct\n"
    "  ttl-answer: 60\n"
    "  site: frankfurt 198.51.100.10\n"
    "  site: sydney 198.51.100.20\n"
    "service:\n"
    "  name: media.foobar.example.\n"
    "  mode: proxy\n"
    "  site: paris 192.0.2.30\n"
    "lb:\n"
    "  id: lb42\n"
    "  address: 127.0.0.42\n"
    "  proxy-address: 127.0.0.142\n"
    "  resolver: 127.0.0.1\n"
    "  resolver: 127.0.0.4\n"
    "  ranking: shop.svc.glb.example.net. sydney frankfurt\n"
    "lb:\n"
    "  id: lb7\n"
    "  address: 127.0.0.7\n"
    "  address: 2001:db8::7\n"
    "  resolver: 10.1.0.0/16\n"
    "  resolver: 2001:db8:aaaa::/48\n";

static const char *lb_text =
    "server:\n"
    "  listen: 127.0.0.42@5300\n"
    "  id: lb42\n"
    "service:\n"
    "  name: www.foobar.example.\n"
    "  answer-count: 2\n"
    "  ttl-answer: 30\n"
    "  site: paris 192.0.2.10 2001:db8::10\n"
    "  site: tokyo 192.0.2.20\n"
    "  site: rome 192.0.2.30\n"
    "service:\n"
    "  name: shop.example.\n"
    "  answer-count: 1\n"
    "  site: a 198.51.100.1 weight=3\n"
    "  site: b 198.51.100.2 weight=1\n";

static dnsb_table *btab;
static dnsb_registry *reg;
static lb_conf *lconf;
static lb_table *ltab;
static uint8_t out[65535], slip[65535];
static dnsb_stats bst;
static lb_stats lst;

static void init(void)
{
    char err[512];
    dnsb_conf *c = dnsb_conf_parse("fuzz-dnsb.conf", dnsb_text, err, sizeof(err));
    FUZZ_CHECK(c, err);
    btab = dnsb_table_build(c, 2026120701, err, sizeof(err));
    FUZZ_CHECK(btab, err);
    glb_qsbr *q = glb_qsbr_new(1);
    reg = q ? dnsb_registry_new(q) : NULL;
    FUZZ_CHECK(reg && dnsb_table_static_lbs(btab->conf, reg, err, sizeof(err)) == 0, err);
    lconf = lb_conf_parse("fuzz-lb.conf", lb_text, err, sizeof(err));
    FUZZ_CHECK(lconf, err);
    ltab = lb_table_new(lconf, 2026120701, NULL);
    FUZZ_CHECK(ltab, "lb_table_new");
    const glb_site *r[3] = {&lconf->services[0].sites[1], &lconf->services[0].sites[0],
                            &lconf->services[0].sites[2]};
    FUZZ_CHECK(lb_table_set_rank(ltab, 0, r, 3, 2, 0, 900.0) == 0, "rank 0");
    r[0] = &lconf->services[1].sites[0];
    r[1] = &lconf->services[1].sites[1];
    FUZZ_CHECK(lb_table_set_rank(ltab, 1, r, 2, 2, 1, 900.0) == 0, "rank 1");
}

static void answer(int server, const uint8_t *pkt, size_t len, const glb_addr *from, int tcp)
{
    size_t n;
    if (server == 0)
        n = dnsb_answer(btab, atomic_load(dnsb_registry_slot(reg)), pkt, len, from, tcp, out, sizeof(out), &bst);
    else if (server == 1)
        n = dnsb_answer_standby(btab, atomic_load(dnsb_registry_slot(reg)), pkt, len, from, tcp, out, sizeof(out),
                                &bst);
    else
        n = lb_answer(ltab, pkt, len, tcp, 1000.0, out, sizeof(out), &lst);
    FUZZ_CHECK(n <= sizeof(out), "answer longer than its buffer");
    if (n == 0)
        return;
    FUZZ_CHECK(n >= GLB_DNS_HDRLEN, "answer shorter than a header");
    FUZZ_CHECK(len >= 2 && out[0] == pkt[0] && out[1] == pkt[1], "answer without the query's ID");
    FUZZ_CHECK(out[2] & 0x80, "answer without QR");
    ldns_pkt *p = NULL;
    ldns_status st = ldns_wire2pkt(&p, out, n);
    FUZZ_CHECK(st == LDNS_STATUS_OK, ldns_get_errorstr_by_id(st));
    ldns_pkt_free(p);
    glb_query q;
    if (!tcp && glb_query_parse(pkt, len, &q) == GLB_PARSE_OK) {
        size_t lim = 512;
        if (q.edns)
            lim = q.edns_udp_size < 512 ? 512 : q.edns_udp_size > EDNS_SIZE ? EDNS_SIZE : q.edns_udp_size;
        FUZZ_CHECK(n <= lim, "UDP answer larger than the client takes");
    }
    if (!tcp) {
        memcpy(slip, out, n);
        size_t s = glb_resp_slip(slip, n);
        FUZZ_CHECK(s >= GLB_DNS_HDRLEN && s <= n, "slipped answer");
        FUZZ_CHECK((slip[2] & 0x02) && slip[6] == 0 && slip[7] == 0 && slip[10] == 0 && slip[11] == 0,
                   "slipped answer not a bare TC");
        st = ldns_wire2pkt(&p, slip, s);
        FUZZ_CHECK(st == LDNS_STATUS_OK, "slipped answer does not parse");
        ldns_pkt_free(p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *v4[4] = {"127.0.0.1", "127.0.0.4", "10.1.2.3", "192.0.2.99"};
    static const char *v6[4] = {"::1", "2001:db8:aaaa::1", "2001:db8:bbbb::1", "::ffff:127.0.0.1"};
    if (!btab)
        init();
    if (size < 1)
        return 0;
    unsigned ctl = data[0];
    data++, size--;
    int tcp = ctl & 1, server = (ctl >> 1) & 3;
    if (server == 3)
        server = 2;
    glb_addr from;
    glb_addr_parse(ctl & 8 ? v6[(ctl >> 4) & 3] : v4[(ctl >> 4) & 3], &from);
    from.port = 53000;
    if (!tcp) {
        answer(server, data, size, &from, 0);
        return 0;
    }
    /* A TCP stream: 2-byte length, message; an incomplete one ends it. */
    while (size >= 2) {
        size_t n = (size_t)data[0] << 8 | data[1];
        if (n > size - 2)
            break;
        if (n >= GLB_DNS_HDRLEN) /* shorter frames close the connection (shared/server_tcp.c) */
            answer(server, data + 2, n, &from, 1);
        data += 2 + n;
        size -= 2 + n;
    }
    return 0;
}

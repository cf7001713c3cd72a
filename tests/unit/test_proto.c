/* Unit tests for proto/ (the map protocol codec): every message round trip,
 * every malformed form (truncated, oversized, wrong counts, bad addresses,
 * bad names and strings, unknown and critical fields), the frame check, the
 * arena bound.
 * With GLB_PROTO_CORPUS=DIR set, the valid frames are also written to DIR
 * (that is how tests/fuzz/corpus/proto/ was made). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/map.h"
#include "shared/addr.h"
#include "shared/dname.h"

/* ---- helpers ---------------------------------------------------------- */

static uint8_t *arena;      /* GLB_MAP_ARENA_MAX bytes */
static uint8_t *fbuf;       /* GLB_MAP_MAX_FRAME + 64 bytes */
#define FBUF_CAP (GLB_MAP_MAX_FRAME + 64)

static int setup_buffers(void **state)
{
    (void)state;
    arena = malloc(GLB_MAP_ARENA_MAX);
    fbuf = malloc(FBUF_CAP);
    return arena && fbuf ? 0 : -1;
}

static int teardown_buffers(void **state)
{
    (void)state;
    free(arena);
    free(fbuf);
    return 0;
}

static glb_addr A(const char *s)
{
    glb_addr a;
    assert_int_equal(glb_addrport_parse(s, 0, &a), 0);
    return a;
}

static glb_prefix P(const char *s)
{
    glb_prefix p;
    assert_int_equal(glb_prefix_parse(s, &p, NULL), 0);
    return p;
}

/* Wire names kept for the whole test (a small pool). */
static const uint8_t *N(const char *s)
{
    static uint8_t pool[64][GLB_DNAME_MAX];
    static unsigned next;
    uint8_t *n = pool[next++ % 64];
    assert_true(glb_dname_from_str(s, n) > 0);
    return n;
}

static void addr_equal(const glb_addr *a, const glb_addr *b)
{
    assert_int_equal(a->family, b->family);
    assert_int_equal(a->port, b->port);
    assert_memory_equal(a->b, b->b, a->family == AF_INET ? 4 : 16);
}

static void prefix_equal(const glb_prefix *a, const glb_prefix *b)
{
    assert_int_equal(a->family, b->family);
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->b, b->b, 16);
}

static void name_equal(const uint8_t *a, const uint8_t *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_true(glb_dname_equal(a, b));
}

static void write_corpus(const char *label, const uint8_t *f, size_t len)
{
    const char *dir = getenv("GLB_PROTO_CORPUS");
    if (!dir || !*dir)
        return;
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, label);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(f, 1, len, fp), len);
    fclose(fp);
}

/* Encodes m into fbuf, checks the measure and the frame check, decodes into
 * out; writes the frame to the corpus under label. Returns the length. */
static size_t roundtrip(const glb_map_msg *m, glb_map_msg *out, const char *label)
{
    size_t need = 0, len = 0, n = 0;
    glb_map_error err;
    int rc = glb_map_encode(m, NULL, 0, &need, &err);
    if (rc)
        fail_msg("encode: %s", err.text);
    rc = glb_map_encode(m, fbuf, FBUF_CAP, &len, &err);
    if (rc)
        fail_msg("encode: %s", err.text);
    assert_int_equal(len, need);
    assert_int_equal(fbuf[0], GLB_MAP_VERSION);
    assert_int_equal(fbuf[1], m->type);
    assert_int_equal(fbuf[2], 0);
    assert_int_equal(fbuf[3], 0);
    assert_int_equal(glb_map_frame_check(fbuf, len, &n), GLB_MAP_FRAME_READY);
    assert_int_equal(n, len);
    glb_map_msg_init(out, arena, GLB_MAP_ARENA_FOR(len));
    rc = glb_map_decode(fbuf, len, out, &err);
    if (rc)
        fail_msg("decode: %s", err.text);
    assert_int_equal(out->type, m->type);
    assert_true(out->arena_used <= GLB_MAP_ARENA_FOR(len));
    /* canonical: encoding the decoded message gives the same bytes */
    static uint8_t again[65536];
    size_t len2 = 0;
    if (len <= sizeof(again)) {
        assert_int_equal(glb_map_encode(out, again, sizeof(again), &len2, NULL), GLB_MAP_OK);
        assert_int_equal(len2, len);
        assert_memory_equal(again, fbuf, len);
    }
    if (label)
        write_corpus(label, fbuf, len);
    return len;
}

/* A payload builder for hand-made (often broken) frames. */
typedef struct tb {
    uint8_t *b;
    size_t n, cap;
} tb;

static void tb_init(tb *t, size_t cap)
{
    t->b = malloc(cap);
    assert_non_null(t->b);
    t->n = 0;
    t->cap = cap;
}

static void tb_raw(tb *t, const void *p, size_t n)
{
    assert_true(t->n + n <= t->cap);
    memcpy(t->b + t->n, p, n);
    t->n += n;
}

static void tb_hdr(tb *t, unsigned tag, uint32_t len)
{
    uint8_t h[6] = {(uint8_t)(tag >> 8), (uint8_t)tag, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                    (uint8_t)(len >> 8), (uint8_t)len};
    tb_raw(t, h, 6);
}

static void tb_tlv(tb *t, unsigned tag, const void *v, size_t len)
{
    tb_hdr(t, tag, (uint32_t)len);
    tb_raw(t, v, len);
}

static void tb_uint(tb *t, unsigned tag, uint64_t v, size_t width)
{
    uint8_t b[8];
    for (size_t i = 0; i < width; i++)
        b[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    tb_tlv(t, tag, b, width);
}

static void tb_str(tb *t, unsigned tag, const char *s)
{
    tb_tlv(t, tag, s, strlen(s));
}

static void tb_name(tb *t, unsigned tag, const char *s)
{
    uint8_t w[GLB_DNAME_MAX];
    size_t n = glb_dname_from_str(s, w);
    assert_true(n > 0);
    tb_tlv(t, tag, w, n);
}

/* A container: begin returns where its length goes, end patches it. */
static size_t tb_begin(tb *t, unsigned tag)
{
    size_t at = t->n;
    tb_hdr(t, tag, 0);
    return at;
}

static void tb_end(tb *t, size_t at)
{
    uint32_t len = (uint32_t)(t->n - at - 6);
    t->b[at + 2] = (uint8_t)(len >> 24);
    t->b[at + 3] = (uint8_t)(len >> 16);
    t->b[at + 4] = (uint8_t)(len >> 8);
    t->b[at + 5] = (uint8_t)len;
}

/* Wraps a payload into fbuf as a frame of the given type; returns its length. */
static size_t tb_frame(const tb *t, uint8_t type)
{
    assert_true(t->n + 8 <= FBUF_CAP);
    fbuf[0] = GLB_MAP_VERSION;
    fbuf[1] = type;
    fbuf[2] = fbuf[3] = 0;
    fbuf[4] = (uint8_t)(t->n >> 24);
    fbuf[5] = (uint8_t)(t->n >> 16);
    fbuf[6] = (uint8_t)(t->n >> 8);
    fbuf[7] = (uint8_t)t->n;
    memcpy(fbuf + 8, t->b, t->n);
    return t->n + 8;
}

static int decode_buf(const uint8_t *f, size_t len, glb_map_msg *m, glb_map_error *err)
{
    glb_map_msg_init(m, arena, GLB_MAP_ARENA_MAX);
    return glb_map_decode(f, len, m, err);
}

/* Decodes t as a frame of type; asserts the code, and that the reason text
 * contains want (when not NULL). */
static void expect(const tb *t, uint8_t type, int code, const char *want)
{
    glb_map_msg m;
    glb_map_error err;
    size_t len = tb_frame(t, type);
    int rc = decode_buf(fbuf, len, &m, &err);
    if (rc != code)
        fail_msg("want %s, got %s: %s", glb_map_code_name(code), glb_map_code_name(rc), err.text);
    if (code != GLB_MAP_OK) {
        assert_int_equal(err.code, code);
        assert_int_equal(m.type, 0);
        if (want && !strstr(err.text, want))
            fail_msg("reason '%s' lacks '%s'", err.text, want);
    }
}

/* ---- sample messages -------------------------------------------------- */

static glb_addr sample_addrs[8];
static glb_map_claim sample_claims[6];
static glb_map_site sample_sites[3];
static glb_map_service sample_services[2];

static void sample_hello_client(glb_map_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->type = GLB_MAP_HELLO;
    glb_map_hello_defaults(&m->u.hello);
    m->u.hello.role = GLB_MAP_ROLE_LB;
    m->u.hello.node_id = "lb42";
    m->u.hello.caps = GLB_MAP_CAP_DELTA | GLB_MAP_CAP_RANKING;
    m->u.hello.has_serial = 1;
    m->u.hello.serial = 17;
    m->u.hello.software = "glb 0.1.0";
}

static void sample_register(glb_map_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->type = GLB_MAP_REGISTER;
    sample_addrs[0] = A("127.0.0.42");
    sample_addrs[1] = A("2001:db8::42");
    sample_addrs[2] = A("127.0.0.142@8080");
    sample_claims[0] = (glb_map_claim){GLB_MAP_CLAIM_RESOLVER, P("192.0.2.53/32")};
    sample_claims[1] = (glb_map_claim){GLB_MAP_CLAIM_EGRESS, P("2001:db8:53::1/128")};
    sample_claims[2] = (glb_map_claim){GLB_MAP_CLAIM_CLIENT, P("10.1.0.0/16")};
    sample_claims[3] = (glb_map_claim){GLB_MAP_CLAIM_CLIENT, P("2001:db8:100::/40")};
    sample_claims[4] = (glb_map_claim){GLB_MAP_CLAIM_CLIENT, P("0.0.0.0/0")};
    sample_claims[5] = (glb_map_claim){GLB_MAP_CLAIM_CLIENT, P("198.18.0.0/15")};
    glb_map_register *r = &m->u.reg;
    r->node_id = "lb42";
    r->sequence = 1700000000123ULL;
    r->lifetime = 900;
    r->dns = sample_addrs;
    r->ndns = 2;
    r->proxy = sample_addrs + 2;
    r->nproxy = 1;
    r->claims = sample_claims;
    r->nclaims = 6;
    r->has_location = 1;
    r->location = (glb_map_location){-33868800, 151209300}; /* Sydney */
}

static void sample_services_full(glb_map_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->type = GLB_MAP_SERVICES;
    sample_addrs[4] = A("192.0.2.10");
    sample_addrs[5] = A("2001:db8::10");
    sample_addrs[6] = A("192.0.2.20");
    glb_map_site *s = sample_sites;
    glb_map_site_defaults(&s[0]);
    s[0].name = "paris";
    s[0].addrs = sample_addrs + 4;
    s[0].naddrs = 2;
    s[0].weight = 2;
    s[0].cost = 1500;
    s[0].has_location = 1;
    s[0].location = (glb_map_location){48856600, 2352200};
    s[0].check = "https://paris.foobar.example/health";
    s[0].check_verify = 0;
    glb_map_site_defaults(&s[1]);
    s[1].name = "tokyo";
    s[1].addrs = sample_addrs + 6;
    s[1].naddrs = 1;
    glb_map_site_defaults(&s[2]);
    s[2].name = "frankfurt";
    s[2].host = N("fra.cdn.example.");
    glb_map_service *v = sample_services;
    glb_map_service_defaults(&v[0]);
    v[0].name = N("www.foobar.example.");
    v[0].sites = s;
    v[0].nsites = 2;
    glb_map_service_defaults(&v[1]);
    v[1].name = N("shop.svc.glb.example.net.");
    v[1].mode = GLB_MAP_MODE_DIRECT;
    v[1].policy = GLB_MAP_POLICY_COMBINED;
    v[1].ttl_answer = 60;
    v[1].ttl_referral = 7200;
    v[1].answer_count = 3;
    v[1].margin = 50000;
    v[1].margin_abs = 2500;
    v[1].w_latency = 700000;
    v[1].w_cost = 200000;
    v[1].w_distance = 100000;
    v[1].sites = s + 2;
    v[1].nsites = 1;
    m->u.services.serial = 18;
    m->u.services.kind = GLB_MAP_SERVICES_FULL;
    m->u.services.services = v;
    m->u.services.nservices = 2;
}

/* ---- round trips ------------------------------------------------------ */

static void test_hello(void **state)
{
    (void)state;
    glb_map_msg m, d;
    sample_hello_client(&m);
    roundtrip(&m, &d, "hello-lb.bin");
    const glb_map_hello *h = &d.u.hello;
    assert_int_equal(h->role, GLB_MAP_ROLE_LB);
    assert_int_equal(h->version, 1);
    assert_string_equal(h->node_id, "lb42");
    assert_int_equal(h->caps, GLB_MAP_CAP_DELTA | GLB_MAP_CAP_RANKING);
    assert_null(h->whoami);
    assert_int_equal(h->keepalive, GLB_MAP_KEEPALIVE_DEFAULT);
    assert_int_equal(h->has_serial, 1);
    assert_int_equal(h->serial, 17);
    assert_string_equal(h->software, "glb 0.1.0");

    /* the DNS-B's answer: whoami zone, its own id, a keepalive interval */
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_HELLO;
    glb_map_hello_defaults(&m.u.hello);
    m.u.hello.role = GLB_MAP_ROLE_DNSB;
    m.u.hello.node_id = "b1";
    m.u.hello.whoami = N("whoami.glb.example.net.");
    m.u.hello.keepalive = 20;
    m.u.hello.caps = GLB_MAP_CAP_DELTA;
    roundtrip(&m, &d, "hello-dnsb.bin");
    h = &d.u.hello;
    assert_int_equal(h->role, GLB_MAP_ROLE_DNSB);
    assert_string_equal(h->node_id, "b1");
    name_equal(h->whoami, m.u.hello.whoami);
    assert_int_equal(h->keepalive, 20);
    assert_int_equal(h->has_serial, 0);
    assert_null(h->software);
}

static void test_register(void **state)
{
    (void)state;
    glb_map_msg m, d;
    sample_register(&m);
    roundtrip(&m, &d, "register.bin");
    const glb_map_register *r = &d.u.reg;
    assert_string_equal(r->node_id, "lb42");
    assert_true(r->sequence == 1700000000123ULL);
    assert_int_equal(r->lifetime, 900);
    assert_int_equal(r->ndns, 2);
    addr_equal(&r->dns[0], &sample_addrs[0]);
    addr_equal(&r->dns[1], &sample_addrs[1]);
    assert_int_equal(r->nproxy, 1);
    addr_equal(&r->proxy[0], &sample_addrs[2]);
    assert_int_equal(r->proxy[0].port, 8080);
    assert_int_equal(r->nclaims, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(r->claims[i].kind, sample_claims[i].kind);
        prefix_equal(&r->claims[i].prefix, &sample_claims[i].prefix);
    }
    assert_int_equal(r->has_location, 1);
    assert_int_equal(r->location.lat, -33868800);
    assert_int_equal(r->location.lon, 151209300);

    /* a withdrawal: lifetime 0, nothing else */
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_REGISTER;
    m.u.reg.node_id = "lb42";
    m.u.reg.sequence = 2;
    roundtrip(&m, &d, "register-withdraw.bin");
    assert_int_equal(d.u.reg.lifetime, 0);
    assert_int_equal(d.u.reg.nclaims, 0);
    assert_null(d.u.reg.claims);
    assert_int_equal(d.u.reg.has_location, 0);
}

static void test_register_ack(void **state)
{
    (void)state;
    glb_map_msg m, d;
    glb_map_claim acc[2] = {{GLB_MAP_CLAIM_RESOLVER, P("192.0.2.53/32")},
                            {GLB_MAP_CLAIM_CLIENT, P("10.1.0.0/16")}};
    glb_map_reject rej[3] = {{GLB_MAP_REJ_NOT_ALLOWED, {GLB_MAP_CLAIM_CLIENT, P("0.0.0.0/0")}},
                             {GLB_MAP_REJ_TOO_MANY, {GLB_MAP_CLAIM_EGRESS, P("2001:db8:53::1/128")}},
                             {200, {GLB_MAP_CLAIM_CLIENT, P("198.18.0.0/15")}}};
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_REGISTER_ACK;
    m.u.ack.sequence = 1700000000123ULL;
    m.u.ack.lifetime = 600;
    m.u.ack.accepted = acc;
    m.u.ack.naccepted = 2;
    m.u.ack.rejected = rej;
    m.u.ack.nrejected = 3;
    roundtrip(&m, &d, "register-ack.bin");
    const glb_map_register_ack *a = &d.u.ack;
    assert_true(a->sequence == 1700000000123ULL);
    assert_int_equal(a->lifetime, 600);
    assert_int_equal(a->naccepted, 2);
    assert_int_equal(a->nrejected, 3);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(a->accepted[i].kind, acc[i].kind);
        prefix_equal(&a->accepted[i].prefix, &acc[i].prefix);
    }
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(a->rejected[i].reason, rej[i].reason); /* 200: unknown reasons kept */
        assert_int_equal(a->rejected[i].claim.kind, rej[i].claim.kind);
        prefix_equal(&a->rejected[i].claim.prefix, &rej[i].claim.prefix);
    }
}

static void test_services_full(void **state)
{
    (void)state;
    glb_map_msg m, d;
    sample_services_full(&m);
    roundtrip(&m, &d, "services-full.bin");
    const glb_map_services *s = &d.u.services;
    assert_int_equal(s->serial, 18);
    assert_int_equal(s->kind, GLB_MAP_SERVICES_FULL);
    assert_int_equal(s->has_base, 0);
    assert_int_equal(s->part, 0);
    assert_int_equal(s->more, 0);
    assert_int_equal(s->nremoved, 0);
    assert_int_equal(s->nservices, 2);
    const glb_map_service *v = s->services;
    name_equal(v[0].name, sample_services[0].name);
    assert_int_equal(v[0].mode, GLB_MAP_MODE_REFERRAL);
    assert_int_equal(v[0].ttl_referral, 3600);
    assert_int_equal(v[0].ttl_answer, 300);
    assert_int_equal(v[0].answer_count, 2);
    assert_int_equal(v[0].margin, 100000);
    assert_int_equal(v[0].margin_abs, GLB_MAP_MARGIN_ABS_DEFAULT);
    assert_int_equal(v[0].policy, GLB_MAP_POLICY_LATENCY);
    assert_int_equal(v[0].w_latency, 1000000);
    assert_int_equal(v[0].w_cost, 0);
    assert_int_equal(v[0].w_distance, 0);
    assert_int_equal(v[0].nsites, 2);
    const glb_map_site *p = &v[0].sites[0];
    assert_string_equal(p->name, "paris");
    assert_int_equal(p->naddrs, 2);
    addr_equal(&p->addrs[0], &sample_addrs[4]);
    addr_equal(&p->addrs[1], &sample_addrs[5]);
    assert_null(p->host);
    assert_int_equal(p->weight, 2);
    assert_int_equal(p->cost, 1500);
    assert_int_equal(p->has_location, 1);
    assert_int_equal(p->location.lat, 48856600);
    assert_int_equal(p->location.lon, 2352200);
    assert_string_equal(p->check, "https://paris.foobar.example/health");
    assert_int_equal(p->check_verify, 0);
    p = &v[0].sites[1];
    assert_string_equal(p->name, "tokyo");
    assert_int_equal(p->weight, 1);
    assert_int_equal(p->check_verify, 1);
    assert_int_equal(p->has_location, 0);
    assert_null(p->check);
    name_equal(v[1].name, sample_services[1].name);
    assert_int_equal(v[1].mode, GLB_MAP_MODE_DIRECT);
    assert_int_equal(v[1].policy, GLB_MAP_POLICY_COMBINED);
    assert_int_equal(v[1].ttl_answer, 60);
    assert_int_equal(v[1].ttl_referral, 7200);
    assert_int_equal(v[1].answer_count, 3);
    assert_int_equal(v[1].margin, 50000);
    assert_int_equal(v[1].margin_abs, 2500);
    assert_int_equal(v[1].w_latency, 700000);
    assert_int_equal(v[1].w_cost, 200000);
    assert_int_equal(v[1].w_distance, 100000);
    assert_int_equal(v[1].nsites, 1);
    assert_string_equal(v[1].sites[0].name, "frankfurt");
    assert_int_equal(v[1].sites[0].naddrs, 0);
    name_equal(v[1].sites[0].host, sample_sites[2].host);

    /* an empty full set (every service removed) is a valid snapshot */
    m.u.services.nservices = 0;
    m.u.services.serial = 19;
    roundtrip(&m, &d, NULL);
    assert_int_equal(d.u.services.nservices, 0);
    assert_null(d.u.services.services);
}


/* Applies fn to the field of tag inner inside every SERVICE of the SERVICES
 * frame at f (*len bytes): fn renames it (rename != 0) or cuts it out, the
 * lengths of the service and of the frame adjusted. Returns how many. */
static int svc_field_edit(uint8_t *f, size_t *len, unsigned inner, unsigned rename)
{
    int found = 0;
    size_t p = GLB_MAP_HEADER_LEN;
    while (p + GLB_MAP_TLV_HEADER_LEN <= *len) {
        unsigned tag = (unsigned)(f[p] << 8 | f[p + 1]);
        size_t vlen = (size_t)f[p + 2] << 24 | (size_t)f[p + 3] << 16 | (size_t)f[p + 4] << 8 | f[p + 5];
        if (tag == GLB_MAP_SVCS_SERVICE) {
            size_t q = p + GLB_MAP_TLV_HEADER_LEN, end = q + vlen;
            while (q + GLB_MAP_TLV_HEADER_LEN <= end) {
                unsigned t2 = (unsigned)(f[q] << 8 | f[q + 1]);
                size_t l2 = (size_t)f[q + 2] << 24 | (size_t)f[q + 3] << 16 | (size_t)f[q + 4] << 8 | f[q + 5];
                size_t whole = GLB_MAP_TLV_HEADER_LEN + l2;
                if (t2 == inner) {
                    found++;
                    if (rename) {
                        f[q] = (uint8_t)(rename >> 8);
                        f[q + 1] = (uint8_t)rename;
                    } else {
                        memmove(f + q, f + q + whole, *len - q - whole);
                        *len -= whole;
                        end -= whole;
                        vlen -= whole;
                        f[p + 2] = (uint8_t)(vlen >> 24);
                        f[p + 3] = (uint8_t)(vlen >> 16);
                        f[p + 4] = (uint8_t)(vlen >> 8);
                        f[p + 5] = (uint8_t)vlen;
                        size_t pl = *len - GLB_MAP_HEADER_LEN;
                        f[4] = (uint8_t)(pl >> 24);
                        f[5] = (uint8_t)(pl >> 16);
                        f[6] = (uint8_t)(pl >> 8);
                        f[7] = (uint8_t)pl;
                        continue;
                    }
                }
                q += whole;
            }
        }
        p += GLB_MAP_TLV_HEADER_LEN + vlen;
    }
    return found;
}

/* Every service field of two decoded SERVICES equal, margin-abs aside. */
static void services_equal_but_margin_abs(const glb_map_services *a, const glb_map_services *b)
{
    assert_int_equal(a->nservices, b->nservices);
    for (size_t i = 0; i < a->nservices; i++) {
        const glb_map_service *x = &a->services[i], *y = &b->services[i];
        name_equal(x->name, y->name);
        assert_int_equal(x->mode, y->mode);
        assert_int_equal(x->policy, y->policy);
        assert_int_equal(x->answer_count, y->answer_count);
        assert_int_equal(x->ttl_referral, y->ttl_referral);
        assert_int_equal(x->ttl_answer, y->ttl_answer);
        assert_int_equal(x->margin, y->margin);
        assert_int_equal(x->w_latency, y->w_latency);
        assert_int_equal(x->w_cost, y->w_cost);
        assert_int_equal(x->w_distance, y->w_distance);
        assert_int_equal(x->nsites, y->nsites);
        for (size_t k = 0; k < x->nsites; k++) {
            assert_string_equal(x->sites[k].name, y->sites[k].name);
            assert_int_equal(x->sites[k].naddrs, y->sites[k].naddrs);
            assert_int_equal(x->sites[k].weight, y->sites[k].weight);
            assert_int_equal(x->sites[k].cost, y->sites[k].cost);
            assert_int_equal(x->sites[k].has_location, y->sites[k].has_location);
            assert_int_equal(x->sites[k].location.lat, y->sites[k].location.lat);
            assert_int_equal(x->sites[k].location.lon, y->sites[k].location.lon);
            assert_int_equal(x->sites[k].check_verify, y->sites[k].check_verify);
        }
    }
}

/* margin-abs (SERVICE tag 12) was added to version 1 as an optional field:
 * a frame with it decodes where the field is unknown (an older DNS-LB: the
 * field is skipped), a frame without it (an older DNS-B) gets the default,
 * 0: the relative margin alone, as before. */
static void test_margin_abs_compat(void **state)
{
    (void)state;
    static uint8_t frame[65536];
    glb_map_msg m, now, old;
    glb_map_error err;
    sample_services_full(&m);
    size_t len = 0;
    assert_int_equal(glb_map_encode(&m, frame, sizeof(frame), &len, &err), GLB_MAP_OK);
    glb_map_msg_init(&now, arena, GLB_MAP_ARENA_MAX / 2);
    assert_int_equal(glb_map_decode(frame, len, &now, &err), GLB_MAP_OK);
    assert_int_equal(now.u.services.services[0].margin_abs, GLB_MAP_MARGIN_ABS_DEFAULT);
    assert_int_equal(now.u.services.services[1].margin_abs, 2500);

    /* the old path: to a decoder without tag 12 the field is an unknown
     * one, critical bit clear; the same frame with the tag renamed to one
     * this decoder does not know shows what that decoder does with it */
    static uint8_t renamed[65536];
    memcpy(renamed, frame, len);
    size_t rlen = len;
    assert_int_equal(svc_field_edit(renamed, &rlen, GLB_MAP_SVC_MARGIN_ABS, 0x7ff0), 2);
    glb_map_msg_init(&old, arena + GLB_MAP_ARENA_MAX / 2, GLB_MAP_ARENA_MAX / 2);
    if (glb_map_decode(renamed, rlen, &old, &err) != GLB_MAP_OK)
        fail_msg("%s", err.text);
    services_equal_but_margin_abs(&now.u.services, &old.u.services);
    /* ignored, as an old peer would */
    assert_int_equal(old.u.services.services[1].margin_abs, GLB_MAP_MARGIN_ABS_DEFAULT);
    /* sent with the critical bit (which it is not: the edit above found tag
     * 12 itself), an old peer would refuse the message */
    assert_int_equal(svc_field_edit(renamed, &rlen, 0x7ff0, 0xfff0), 2);
    assert_int_equal(glb_map_decode(renamed, rlen, &old, &err), GLB_MAP_E_UNSUPPORTED);

    /* a frame without the field, as an older DNS-B sends: the default */
    memcpy(renamed, frame, len);
    rlen = len;
    assert_int_equal(svc_field_edit(renamed, &rlen, GLB_MAP_SVC_MARGIN_ABS, 0), 2);
    assert_int_equal(rlen, len - 2 * (GLB_MAP_TLV_HEADER_LEN + 4));
    glb_map_msg_init(&old, arena + GLB_MAP_ARENA_MAX / 2, GLB_MAP_ARENA_MAX / 2);
    if (glb_map_decode(renamed, rlen, &old, &err) != GLB_MAP_OK)
        fail_msg("%s", err.text);
    services_equal_but_margin_abs(&now.u.services, &old.u.services);
    assert_int_equal(old.u.services.services[0].margin_abs, GLB_MAP_MARGIN_ABS_DEFAULT);
    assert_int_equal(old.u.services.services[1].margin_abs, GLB_MAP_MARGIN_ABS_DEFAULT);

    /* the encoder refuses what the decoder would */
    sample_services[1].margin_abs = GLB_MAP_MAX_MARGIN_ABS + 1;
    assert_int_equal(glb_map_encode(&m, frame, sizeof(frame), &len, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "service[1].margin-abs"));
    sample_services[1].margin_abs = GLB_MAP_MAX_MARGIN_ABS;
    assert_int_equal(glb_map_encode(&m, frame, sizeof(frame), &len, &err), GLB_MAP_OK);
}

static void test_services_delta(void **state)
{
    (void)state;
    glb_map_msg m, d;
    sample_services_full(&m);
    const uint8_t *removed[2] = {N("old.foobar.example."), N("gone.svc.glb.example.net.")};
    m.u.services.kind = GLB_MAP_SERVICES_DELTA;
    m.u.services.serial = 20;
    m.u.services.has_base = 1;
    m.u.services.base = 18;
    m.u.services.part = 2;
    m.u.services.more = 1;
    m.u.services.nservices = 1;
    m.u.services.services = &sample_services[1];
    m.u.services.removed = removed;
    m.u.services.nremoved = 2;
    roundtrip(&m, &d, "services-delta.bin");
    const glb_map_services *s = &d.u.services;
    assert_int_equal(s->kind, GLB_MAP_SERVICES_DELTA);
    assert_int_equal(s->serial, 20);
    assert_int_equal(s->has_base, 1);
    assert_int_equal(s->base, 18);
    assert_int_equal(s->part, 2);
    assert_int_equal(s->more, 1);
    assert_int_equal(s->nservices, 1);
    name_equal(s->services[0].name, sample_services[1].name);
    assert_int_equal(s->nremoved, 2);
    name_equal(s->removed[0], removed[0]);
    name_equal(s->removed[1], removed[1]);
}

static void test_ranking(void **state)
{
    (void)state;
    glb_map_msg m, d;
    glb_map_ranked r1[3] = {{"tokyo", 7785}, {"paris", 12000}, {"sydney", GLB_MAP_SCORE_NONE}};
    glb_map_ranked r2[1] = {{"frankfurt", 0}};
    glb_map_ranking_entry e[3] = {
        {N("www.foobar.example."), 2, r1, 3},
        {N("shop.svc.glb.example.net."), 1, r2, 1},
        {N("media.foobar.example."), 1, NULL, 0}, /* no ranking any more */
    };
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_RANKING;
    m.u.ranking.serial = 18;
    m.u.ranking.entries = e;
    m.u.ranking.nentries = 3;
    roundtrip(&m, &d, "ranking.bin");
    const glb_map_ranking *r = &d.u.ranking;
    assert_int_equal(r->serial, 18);
    assert_int_equal(r->nentries, 3);
    name_equal(r->entries[0].service, e[0].service);
    assert_int_equal(r->entries[0].share, 2);
    assert_int_equal(r->entries[0].nsites, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(r->entries[0].sites[i].site, r1[i].site);
        assert_int_equal(r->entries[0].sites[i].score, r1[i].score);
    }
    assert_string_equal(r->entries[1].sites[0].site, "frankfurt");
    assert_int_equal(r->entries[1].sites[0].score, 0);
    assert_int_equal(r->entries[2].nsites, 0);
    assert_null(r->entries[2].sites);
}

static void test_metrics(void **state)
{
    (void)state;
    glb_map_msg m, d;
    glb_map_metric x[2] = {
        {"paris", NULL, 27000, 125000, 12, 1700000000000ULL, GLB_MAP_STATE_UNKNOWN},
        {"tokyo", N("www.foobar.example."), 71000, 0, 3, 1700000000500ULL, GLB_MAP_STATE_DOWN},
    };
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_METRICS;
    m.u.metrics.metrics = x;
    m.u.metrics.nmetrics = 2;
    roundtrip(&m, &d, "metrics.bin");
    const glb_map_metrics *r = &d.u.metrics;
    assert_int_equal(r->nmetrics, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(r->metrics[i].site, x[i].site);
        assert_int_equal(r->metrics[i].latency, x[i].latency);
        assert_int_equal(r->metrics[i].loss, x[i].loss);
        assert_int_equal(r->metrics[i].samples, x[i].samples);
        assert_true(r->metrics[i].time == x[i].time);
        assert_int_equal(r->metrics[i].state, x[i].state);
    }
    assert_null(r->metrics[0].service);
    name_equal(r->metrics[1].service, x[1].service);
}

static void test_keepalive_bye_error(void **state)
{
    (void)state;
    glb_map_msg m, d;
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_KEEPALIVE;
    m.u.keepalive.nonce = 0xfedcba9876543210ULL;
    roundtrip(&m, &d, "keepalive.bin");
    assert_true(d.u.keepalive.nonce == 0xfedcba9876543210ULL);
    assert_int_equal(d.u.keepalive.reply, 0);
    glb_map_msg echo;
    assert_int_equal(glb_map_keepalive_echo(&d, &echo), 0); /* a request gets its echo */
    assert_int_equal(echo.type, GLB_MAP_KEEPALIVE);
    assert_true(echo.u.keepalive.nonce == 0xfedcba9876543210ULL && echo.u.keepalive.reply == 1);
    assert_int_equal(glb_map_keepalive_echo(&echo, &echo), -1); /* a reply gets none */
    m.u.keepalive.reply = 1;
    roundtrip(&m, &d, "keepalive-reply.bin");
    assert_int_equal(d.u.keepalive.reply, 1);

    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_BYE;
    m.u.bye.reason = GLB_MAP_BYE_IDLE;
    m.u.bye.text = "nothing received for 90 s";
    roundtrip(&m, &d, "bye.bin");
    assert_int_equal(d.u.bye.reason, GLB_MAP_BYE_IDLE);
    assert_string_equal(d.u.bye.text, "nothing received for 90 s");
    m.u.bye.text = "";
    roundtrip(&m, &d, NULL);
    assert_string_equal(d.u.bye.text, "");

    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_ERROR;
    m.u.error.code = GLB_MAP_E_BAD_VERSION;
    m.u.error.text = "version 2, speaking 1";
    roundtrip(&m, &d, "error.bin");
    assert_int_equal(d.u.error.code, GLB_MAP_E_BAD_VERSION);
    assert_string_equal(d.u.error.text, "version 2, speaking 1");
    assert_int_equal(d.u.error.has_ref_type, 0);
    m.u.error.code = 999; /* unknown codes are kept */
    m.u.error.has_ref_type = 1;
    m.u.error.ref_type = GLB_MAP_REGISTER;
    m.u.error.text = NULL;
    roundtrip(&m, &d, "error-ref.bin");
    assert_int_equal(d.u.error.code, 999);
    assert_int_equal(d.u.error.has_ref_type, 1);
    assert_int_equal(d.u.error.ref_type, GLB_MAP_REGISTER);
    assert_null(d.u.error.text);
}

/* The per-type encoders write what the generic one writes. */
static void test_typed_encoders(void **state)
{
    (void)state;
    glb_map_msg m;
    uint8_t a[4096], b[4096];
    size_t la, lb;
    sample_register(&m);
    assert_int_equal(glb_map_encode(&m, a, sizeof(a), &la, NULL), GLB_MAP_OK);
    assert_int_equal(glb_map_encode_register(&m.u.reg, b, sizeof(b), &lb), GLB_MAP_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    sample_hello_client(&m);
    assert_int_equal(glb_map_encode_hello(&m.u.hello, b, sizeof(b), &lb), GLB_MAP_OK);
    sample_services_full(&m);
    assert_int_equal(glb_map_encode_services(&m.u.services, b, sizeof(b), &lb), GLB_MAP_OK);
    glb_map_register_ack ack = {.sequence = 1, .lifetime = 0};
    assert_int_equal(glb_map_encode_register_ack(&ack, b, sizeof(b), &lb), GLB_MAP_OK);
    glb_map_ranking rk = {0};
    assert_int_equal(glb_map_encode_ranking(&rk, b, sizeof(b), &lb), GLB_MAP_OK);
    assert_int_equal(lb, 8 + 6 + 8);
    glb_map_metrics mt = {0};
    assert_int_equal(glb_map_encode_metrics(&mt, b, sizeof(b), &lb), GLB_MAP_OK);
    assert_int_equal(lb, 8);
    glb_map_keepalive ka = {7, 0};
    assert_int_equal(glb_map_encode_keepalive(&ka, b, sizeof(b), &lb), GLB_MAP_OK);
    glb_map_bye bye = {GLB_MAP_BYE_SHUTDOWN, NULL};
    assert_int_equal(glb_map_encode_bye(&bye, b, sizeof(b), &lb), GLB_MAP_OK);
    glb_map_error_msg em = {GLB_MAP_E_LIMIT, "too many claims", 0, 0};
    assert_int_equal(glb_map_encode_error(&em, b, sizeof(b), &lb), GLB_MAP_OK);
}

/* Hand-made minimal frames get the documented defaults. */
static void test_defaults(void **state)
{
    (void)state;
    glb_map_msg m;
    glb_map_error err;
    tb t, svc;
    tb_init(&t, 4096);
    tb_init(&svc, 4096);
    tb_uint(&t, GLB_MAP_SVCS_SERIAL, 5, 8);
    tb_uint(&t, GLB_MAP_SVCS_KIND, GLB_MAP_SERVICES_FULL, 1);
    size_t s = tb_begin(&t, GLB_MAP_SVCS_SERVICE);
    tb_name(&t, GLB_MAP_SVC_NAME, "WWW.Foobar.Example.");
    size_t site = tb_begin(&t, GLB_MAP_SVC_SITE);
    tb_str(&t, GLB_MAP_SITE_NAME, "paris");
    uint8_t a4[7] = {4, 0, 0, 192, 0, 2, 10};
    tb_tlv(&t, GLB_MAP_SITE_ADDR, a4, sizeof(a4));
    tb_end(&t, site);
    tb_end(&t, s);
    size_t len = tb_frame(&t, GLB_MAP_SERVICES);
    assert_int_equal(decode_buf(fbuf, len, &m, &err), GLB_MAP_OK);
    const glb_map_service *v = &m.u.services.services[0];
    name_equal(v->name, N("www.foobar.example."));
    assert_memory_equal(v->name, "\x03www\x06" "foobar\x07" "example", 19); /* lower-cased */
    assert_int_equal(v->mode, GLB_MAP_MODE_REFERRAL);
    assert_int_equal(v->policy, GLB_MAP_POLICY_LATENCY);
    assert_int_equal(v->ttl_referral, 3600);
    assert_int_equal(v->ttl_answer, 300);
    assert_int_equal(v->answer_count, 2);
    assert_int_equal(v->margin, 100000);
    assert_int_equal(v->margin_abs, 0); /* absent: none */
    assert_int_equal(v->w_latency, 1000000);
    assert_int_equal(v->w_cost, 0);
    assert_int_equal(v->w_distance, 0);
    assert_int_equal(v->sites[0].weight, 1);
    assert_int_equal(v->sites[0].cost, 0);
    assert_int_equal(v->sites[0].check_verify, 1);
    assert_int_equal(v->sites[0].addrs[0].port, 0);
    glb_map_service def;
    glb_map_service_defaults(&def);
    assert_int_equal(def.ttl_referral, 3600);
    assert_int_equal(def.answer_count, 2);
    assert_int_equal(def.margin_abs, 0);

    /* HELLO: keepalive 30, caps 0 */
    t.n = 0;
    tb_uint(&t, GLB_MAP_HELLO_ROLE, GLB_MAP_ROLE_MSERVICE, 1);
    tb_uint(&t, GLB_MAP_HELLO_VERSION, 3, 1); /* speaks up to 3: fine */
    tb_str(&t, GLB_MAP_HELLO_NODE_ID, "agent-7");
    len = tb_frame(&t, GLB_MAP_HELLO);
    assert_int_equal(decode_buf(fbuf, len, &m, &err), GLB_MAP_OK);
    assert_int_equal(m.u.hello.keepalive, 30);
    assert_int_equal(m.u.hello.caps, 0);
    assert_int_equal(m.u.hello.version, 3);

    /* RANKING: score NONE, share 1 */
    t.n = 0;
    s = tb_begin(&t, GLB_MAP_RANK_ENTRY);
    tb_name(&t, GLB_MAP_RENT_SERVICE, "www.foobar.example.");
    site = tb_begin(&t, GLB_MAP_RENT_SITE);
    tb_str(&t, GLB_MAP_RSITE_NAME, "tokyo");
    tb_end(&t, site);
    tb_end(&t, s);
    len = tb_frame(&t, GLB_MAP_RANKING);
    assert_int_equal(decode_buf(fbuf, len, &m, &err), GLB_MAP_OK);
    assert_int_equal(m.u.ranking.serial, 0);
    assert_int_equal(m.u.ranking.entries[0].share, 1);
    assert_int_equal(m.u.ranking.entries[0].sites[0].score, GLB_MAP_SCORE_NONE);
    free(t.b);
    free(svc.b);
}

/* ---- frame header and streaming --------------------------------------- */

static void test_frame_check(void **state)
{
    (void)state;
    glb_map_msg m, d;
    size_t n = 99;
    uint8_t h[8] = {1, GLB_MAP_KEEPALIVE, 0, 0, 0, 0, 0, 20};
    assert_int_equal(glb_map_frame_check(h, 0, &n), GLB_MAP_FRAME_NEED);
    assert_int_equal(n, 8);
    assert_int_equal(glb_map_frame_check(h, 5, &n), GLB_MAP_FRAME_NEED);
    assert_int_equal(n, 3);
    assert_int_equal(glb_map_frame_check(h, 8, &n), GLB_MAP_FRAME_NEED);
    assert_int_equal(n, 20);
    /* bad version: known from the first byte */
    uint8_t v2[1] = {2}, v0[8] = {0, 1, 0, 0, 0, 0, 0, 0};
    assert_int_equal(glb_map_frame_check(v2, 1, &n), -GLB_MAP_E_BAD_VERSION);
    assert_int_equal(glb_map_frame_check(v0, 8, &n), -GLB_MAP_E_BAD_VERSION);
    /* oversized: refused from the header alone, before any payload */
    uint8_t big[8] = {1, GLB_MAP_SERVICES, 0, 0, 0, 0x10, 0, 0};
    assert_int_equal(glb_map_frame_check(big, 8, &n), -GLB_MAP_E_LIMIT); /* 1 MiB payload + 8 */
    uint8_t ok[8] = {1, GLB_MAP_SERVICES, 0, 0, 0, 0x0f, 0xff, 0xf8};
    assert_int_equal(glb_map_frame_check(ok, 8, &n), GLB_MAP_FRAME_NEED);
    assert_int_equal(n, GLB_MAP_MAX_PAYLOAD);
    uint8_t huge[8] = {1, GLB_MAP_SERVICES, 0, 0, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(glb_map_frame_check(huge, 8, &n), -GLB_MAP_E_LIMIT);

    /* a stream of three frames arriving a byte at a time */
    uint8_t stream[8192];
    size_t slen = 0, len;
    sample_hello_client(&m);
    assert_int_equal(glb_map_encode(&m, stream, sizeof(stream), &len, NULL), GLB_MAP_OK);
    slen += len;
    sample_register(&m);
    assert_int_equal(glb_map_encode(&m, stream + slen, sizeof(stream) - slen, &len, NULL), GLB_MAP_OK);
    slen += len;
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_KEEPALIVE;
    m.u.keepalive.nonce = 5;
    assert_int_equal(glb_map_encode(&m, stream + slen, sizeof(stream) - slen, &len, NULL), GLB_MAP_OK);
    slen += len;
    uint8_t types[3];
    size_t start = 0, got = 0, frames = 0;
    for (size_t have = 1; have <= slen; have++) {
        for (;;) {
            int rc = glb_map_frame_check(stream + start, have - start, &n);
            assert_true(rc >= 0);
            if (rc == GLB_MAP_FRAME_NEED) {
                assert_true(n > 0);
                if (have > start) /* a frame has begun: it ends within the stream */
                    assert_true(have - start + n <= slen - start);
                break;
            }
            glb_map_msg_init(&d, arena, GLB_MAP_ARENA_FOR(n));
            assert_int_equal(glb_map_decode(stream + start, n, &d, NULL), GLB_MAP_OK);
            types[frames++] = d.type;
            start += n;
            got += n;
        }
    }
    assert_int_equal(frames, 3);
    assert_int_equal(got, slen);
    assert_int_equal(types[0], GLB_MAP_HELLO);
    assert_int_equal(types[1], GLB_MAP_REGISTER);
    assert_int_equal(types[2], GLB_MAP_KEEPALIVE);
}

static void test_header(void **state)
{
    (void)state;
    glb_map_msg m;
    glb_map_error err;
    tb t;
    tb_init(&t, 64);
    tb_uint(&t, GLB_MAP_KA_NONCE, 1, 8);
    size_t len = tb_frame(&t, GLB_MAP_KEEPALIVE);
    assert_int_equal(decode_buf(fbuf, len, &m, &err), GLB_MAP_OK);
    /* flags are ignored on receive */
    fbuf[2] = 0xff;
    fbuf[3] = 0x01;
    assert_int_equal(decode_buf(fbuf, len, &m, &err), GLB_MAP_OK);
    /* versions other than 1 */
    fbuf[0] = 2;
    assert_int_equal(decode_buf(fbuf, len, &m, &err), GLB_MAP_E_BAD_VERSION);
    assert_int_equal(err.code, GLB_MAP_E_BAD_VERSION);
    assert_non_null(strstr(err.text, "version 2"));
    fbuf[0] = 0;
    assert_int_equal(decode_buf(fbuf, len, &m, &err), GLB_MAP_E_BAD_VERSION);
    assert_int_equal(decode_buf(fbuf, 1, &m, &err), GLB_MAP_E_BAD_VERSION);
    fbuf[0] = 1;
    /* unknown types */
    static const uint8_t bad_types[] = {0, 10, 128, 255};
    for (size_t i = 0; i < sizeof(bad_types); i++) {
        fbuf[1] = bad_types[i];
        assert_int_equal(decode_buf(fbuf, len, &m, &err), GLB_MAP_E_UNSUPPORTED);
        assert_non_null(strstr(err.text, "unknown message type"));
    }
    fbuf[1] = GLB_MAP_KEEPALIVE;
    /* frame length vs header length */
    assert_int_equal(decode_buf(fbuf, len - 1, &m, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "truncated"));
    fbuf[len] = 0;
    assert_int_equal(decode_buf(fbuf, len + 1, &m, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "trailing"));
    assert_int_equal(decode_buf(fbuf, 7, &m, &err), GLB_MAP_E_MALFORMED);
    assert_int_equal(decode_buf(fbuf, 0, &m, &err), GLB_MAP_E_MALFORMED);
    /* an oversized header fails LIMIT even with no payload present */
    uint8_t big[8] = {1, GLB_MAP_SERVICES, 0, 0, 0, 0x10, 0, 0};
    assert_int_equal(decode_buf(big, 8, &m, &err), GLB_MAP_E_LIMIT);
    /* an empty payload where fields are required */
    t.n = 0;
    expect(&t, GLB_MAP_KEEPALIVE, GLB_MAP_E_MALFORMED, "nonce missing");
    /* err may be NULL */
    len = tb_frame(&t, GLB_MAP_KEEPALIVE);
    glb_map_msg_init(&m, NULL, 0);
    assert_int_equal(glb_map_decode(fbuf, len, &m, NULL), GLB_MAP_E_MALFORMED);
    free(t.b);
}

/* Every truncation of every valid frame fails cleanly; with the header
 * patched to the cut length the decoder still never reads past it. */
static void test_truncated(void **state)
{
    (void)state;
    glb_map_msg m, d;
    glb_map_error err;
    uint8_t frames[8][4096];
    size_t lens[8], nf = 0;
    void (*make[])(glb_map_msg *) = {sample_hello_client, sample_register, sample_services_full};
    for (size_t i = 0; i < 3; i++) {
        make[i](&m);
        assert_int_equal(glb_map_encode(&m, frames[nf], sizeof(frames[0]), &lens[nf], NULL), GLB_MAP_OK);
        nf++;
    }
    for (size_t f = 0; f < nf; f++) {
        for (size_t cut = 0; cut < lens[f]; cut++) {
            uint8_t *c = malloc(cut ? cut : 1); /* exact size: ASan sees any overread */
            assert_non_null(c);
            memcpy(c, frames[f], cut);
            size_t n;
            assert_int_equal(glb_map_frame_check(c, cut, &n), GLB_MAP_FRAME_NEED);
            assert_int_equal(n, cut < 8 ? 8 - cut : lens[f] - cut);
            glb_map_msg_init(&d, arena, GLB_MAP_ARENA_FOR(lens[f]));
            assert_int_equal(glb_map_decode(c, cut, &d, &err), GLB_MAP_E_MALFORMED);
            if (cut >= 8) {
                uint32_t pl = (uint32_t)(cut - 8);
                c[4] = (uint8_t)(pl >> 24);
                c[5] = (uint8_t)(pl >> 16);
                c[6] = (uint8_t)(pl >> 8);
                c[7] = (uint8_t)pl;
                int rc = glb_map_decode(c, cut, &d, &err);
                assert_true(rc == GLB_MAP_OK || rc == GLB_MAP_E_MALFORMED);
            }
            free(c);
        }
    }
}

/* ---- fields ----------------------------------------------------------- */

static void test_fields(void **state)
{
    (void)state;
    tb t;
    glb_map_msg m;
    glb_map_error err;
    tb_init(&t, 4096);
#define HELLO_BASE()                                             \
    do {                                                         \
        t.n = 0;                                                 \
        tb_uint(&t, GLB_MAP_HELLO_ROLE, GLB_MAP_ROLE_LB, 1);     \
        tb_uint(&t, GLB_MAP_HELLO_VERSION, 1, 1);                \
        tb_str(&t, GLB_MAP_HELLO_NODE_ID, "lb42");               \
    } while (0)
    HELLO_BASE();
    expect(&t, GLB_MAP_HELLO, GLB_MAP_OK, NULL);
    /* unknown optional fields are skipped, wherever they are */
    tb_str(&t, 99, "from a later version");
    tb_tlv(&t, 0, "", 0);
    tb_tlv(&t, 0x7fff, "\x01\x02", 2);
    expect(&t, GLB_MAP_HELLO, GLB_MAP_OK, NULL);
    /* ... unless critical */
    tb_str(&t, 99 | GLB_MAP_TAG_CRITICAL, "must understand");
    expect(&t, GLB_MAP_HELLO, GLB_MAP_E_UNSUPPORTED, "unknown critical field 99");
    /* a known field with the critical bit is simply understood */
    t.n = 0;
    tb_uint(&t, GLB_MAP_HELLO_ROLE | GLB_MAP_TAG_CRITICAL, GLB_MAP_ROLE_LB, 1);
    tb_uint(&t, GLB_MAP_HELLO_VERSION, 1, 1);
    tb_str(&t, GLB_MAP_HELLO_NODE_ID | GLB_MAP_TAG_CRITICAL, "lb42");
    expect(&t, GLB_MAP_HELLO, GLB_MAP_OK, NULL);
    /* duplicates of a single field */
    HELLO_BASE();
    tb_uint(&t, GLB_MAP_HELLO_ROLE, GLB_MAP_ROLE_LB, 1);
    expect(&t, GLB_MAP_HELLO, GLB_MAP_E_MALFORMED, "role given twice");
    /* missing required fields */
    t.n = 0;
    tb_uint(&t, GLB_MAP_HELLO_ROLE, GLB_MAP_ROLE_LB, 1);
    tb_uint(&t, GLB_MAP_HELLO_VERSION, 1, 1);
    expect(&t, GLB_MAP_HELLO, GLB_MAP_E_MALFORMED, "node-id missing");
    /* integer widths are exact */
    t.n = 0;
    tb_uint(&t, GLB_MAP_HELLO_ROLE, GLB_MAP_ROLE_LB, 2);
    tb_uint(&t, GLB_MAP_HELLO_VERSION, 1, 1);
    tb_str(&t, GLB_MAP_HELLO_NODE_ID, "lb42");
    expect(&t, GLB_MAP_HELLO, GLB_MAP_E_MALFORMED, "role: length 2, want 1");
    HELLO_BASE();
    tb_uint(&t, GLB_MAP_HELLO_KEEPALIVE, 30, 8);
    expect(&t, GLB_MAP_HELLO, GLB_MAP_E_MALFORMED, "keepalive: length 8, want 4");
    /* ranges */
    t.n = 0;
    tb_uint(&t, GLB_MAP_HELLO_ROLE, 4, 1);
    tb_uint(&t, GLB_MAP_HELLO_VERSION, 1, 1);
    tb_str(&t, GLB_MAP_HELLO_NODE_ID, "lb42");
    expect(&t, GLB_MAP_HELLO, GLB_MAP_E_MALFORMED, "role: 4 out of range 1..3");
    t.n = 0;
    tb_uint(&t, GLB_MAP_HELLO_ROLE, 1, 1);
    tb_uint(&t, GLB_MAP_HELLO_VERSION, 0, 1);
    tb_str(&t, GLB_MAP_HELLO_NODE_ID, "lb42");
    expect(&t, GLB_MAP_HELLO, GLB_MAP_E_MALFORMED, "version");
    HELLO_BASE();
    tb_uint(&t, GLB_MAP_HELLO_KEEPALIVE, 4, 4);
    expect(&t, GLB_MAP_HELLO, GLB_MAP_E_MALFORMED, "keepalive: 4 out of range 5..3600");
    HELLO_BASE();
    tb_uint(&t, GLB_MAP_HELLO_KEEPALIVE, 3601, 4);
    expect(&t, GLB_MAP_HELLO, GLB_MAP_E_MALFORMED, "keepalive");
    /* a field header cut short, a field longer than what is left */
    HELLO_BASE();
    tb_raw(&t, "\x00\x04\x00", 3);
    expect(&t, GLB_MAP_HELLO, GLB_MAP_E_MALFORMED, "truncated field header");
    HELLO_BASE();
    tb_hdr(&t, GLB_MAP_HELLO_SOFTWARE, 10);
    tb_raw(&t, "glb", 3);
    expect(&t, GLB_MAP_HELLO, GLB_MAP_E_MALFORMED, "field 8 of 10 bytes, only 3 left");
    HELLO_BASE();
    tb_hdr(&t, 42, 0xffffffffu); /* even an unknown field's length is checked */
    expect(&t, GLB_MAP_HELLO, GLB_MAP_E_MALFORMED, "only 0 left");

    /* KEEPALIVE reply is a boolean */
    t.n = 0;
    tb_uint(&t, GLB_MAP_KA_NONCE, 1, 8);
    tb_uint(&t, GLB_MAP_KA_REPLY, 2, 1);
    expect(&t, GLB_MAP_KEEPALIVE, GLB_MAP_E_MALFORMED, "reply: 2 out of range 0..1");
    /* ERROR code 0 is not an error */
    t.n = 0;
    tb_uint(&t, GLB_MAP_ERR_CODE, 0, 2);
    expect(&t, GLB_MAP_ERROR, GLB_MAP_E_MALFORMED, "code");
    /* REGISTER ranges: sequence 0, lifetime over a day */
    t.n = 0;
    tb_str(&t, GLB_MAP_REG_NODE_ID, "lb42");
    tb_uint(&t, GLB_MAP_REG_SEQUENCE, 0, 8);
    tb_uint(&t, GLB_MAP_REG_LIFETIME, 60, 4);
    expect(&t, GLB_MAP_REGISTER, GLB_MAP_E_MALFORMED, "sequence");
    t.n = 0;
    tb_str(&t, GLB_MAP_REG_NODE_ID, "lb42");
    tb_uint(&t, GLB_MAP_REG_SEQUENCE, 1, 8);
    tb_uint(&t, GLB_MAP_REG_LIFETIME, GLB_MAP_MAX_LIFETIME + 1, 4);
    expect(&t, GLB_MAP_REGISTER, GLB_MAP_E_MALFORMED, "lifetime: 86401");
    /* locations */
    static const int32_t locs[][2] = {{90000001, 0}, {-90000001, 0}, {0, 180000001}, {0, -180000001}};
    for (size_t i = 0; i < 4; i++) {
        t.n = 0;
        tb_str(&t, GLB_MAP_REG_NODE_ID, "lb42");
        tb_uint(&t, GLB_MAP_REG_SEQUENCE, 1, 8);
        tb_uint(&t, GLB_MAP_REG_LIFETIME, 60, 4);
        uint8_t l[8];
        uint32_t la = (uint32_t)locs[i][0], lo = (uint32_t)locs[i][1];
        for (int k = 0; k < 4; k++) {
            l[k] = (uint8_t)(la >> (24 - 8 * k));
            l[4 + k] = (uint8_t)(lo >> (24 - 8 * k));
        }
        tb_tlv(&t, GLB_MAP_REG_LOCATION, l, 8);
        expect(&t, GLB_MAP_REGISTER, GLB_MAP_E_MALFORMED, "location");
    }
    t.n = 0;
    tb_str(&t, GLB_MAP_REG_NODE_ID, "lb42");
    tb_uint(&t, GLB_MAP_REG_SEQUENCE, 1, 8);
    tb_uint(&t, GLB_MAP_REG_LIFETIME, 60, 4);
    tb_tlv(&t, GLB_MAP_REG_LOCATION, "\xfa\xa2\xb5\x80\x0a\xba\x95\x00", 8); /* -90e6, 180e6 */
    {
        size_t len = tb_frame(&t, GLB_MAP_REGISTER);
        assert_int_equal(decode_buf(fbuf, len, &m, &err), GLB_MAP_OK);
        assert_int_equal(m.u.reg.location.lat, -90000000);
        assert_int_equal(m.u.reg.location.lon, 180000000);
    }
    free(t.b);
#undef HELLO_BASE
}

static void test_bad_strings(void **state)
{
    (void)state;
    tb t;
    tb_init(&t, 8192);
    static const char *bad_ids[] = {"", "LB42", "-lb", "lb-", "lb_42", "lb.42", "lb 42",
                                    "a123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        t.n = 0;
        tb_uint(&t, GLB_MAP_HELLO_ROLE, 1, 1);
        tb_uint(&t, GLB_MAP_HELLO_VERSION, 1, 1);
        tb_str(&t, GLB_MAP_HELLO_NODE_ID, bad_ids[i]);
        expect(&t, GLB_MAP_HELLO, GLB_MAP_E_MALFORMED, i ? "node-id: id" : "node-id of 0 bytes");
    }
    /* 63 is fine */
    t.n = 0;
    tb_uint(&t, GLB_MAP_HELLO_ROLE, 1, 1);
    tb_uint(&t, GLB_MAP_HELLO_VERSION, 1, 1);
    tb_str(&t, GLB_MAP_HELLO_NODE_ID, bad_ids[7] + 1);
    expect(&t, GLB_MAP_HELLO, GLB_MAP_OK, NULL);
    /* NUL inside a string */
    t.n = 0;
    tb_uint(&t, GLB_MAP_BYE_REASON, 1, 1);
    tb_tlv(&t, GLB_MAP_BYE_TEXT, "bye\0now", 7);
    expect(&t, GLB_MAP_BYE, GLB_MAP_E_MALFORMED, "NUL");
    /* a NUL in an id */
    t.n = 0;
    tb_uint(&t, GLB_MAP_HELLO_ROLE, 1, 1);
    tb_uint(&t, GLB_MAP_HELLO_VERSION, 1, 1);
    tb_tlv(&t, GLB_MAP_HELLO_NODE_ID, "lb\0", 3);
    expect(&t, GLB_MAP_HELLO, GLB_MAP_E_MALFORMED, "node-id");
    /* strings: 1024 bytes fine, 1025 over the limit; UTF-8 and any other bytes pass */
    char s[1100];
    memset(s, 'x', sizeof(s));
    s[1024] = '\0';
    t.n = 0;
    tb_uint(&t, GLB_MAP_BYE_REASON, 1, 1);
    tb_str(&t, GLB_MAP_BYE_TEXT, s);
    expect(&t, GLB_MAP_BYE, GLB_MAP_OK, NULL);
    s[1024] = 'x';
    s[1025] = '\0';
    t.n = 0;
    tb_uint(&t, GLB_MAP_BYE_REASON, 1, 1);
    tb_str(&t, GLB_MAP_BYE_TEXT, s);
    expect(&t, GLB_MAP_BYE, GLB_MAP_E_LIMIT, "text: 1025 bytes, at most 1024");
    t.n = 0;
    tb_uint(&t, GLB_MAP_BYE_REASON, 1, 1);
    tb_tlv(&t, GLB_MAP_BYE_TEXT, "caf\xc3\xa9 \xff\x01", 8);
    expect(&t, GLB_MAP_BYE, GLB_MAP_OK, NULL);
    /* the encoder refuses the same */
    glb_map_msg m;
    size_t len;
    glb_map_error err;
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_BYE;
    m.u.bye.reason = 1;
    m.u.bye.text = s;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_LIMIT);
    assert_non_null(strstr(err.text, "BYE: text: longer than 1024"));
    sample_hello_client(&m);
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        m.u.hello.node_id = bad_ids[i];
        assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    }
    m.u.hello.node_id = NULL;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "node-id missing"));
    free(t.b);
}

/* Three 63-byte labels and one of last bytes: 255 bytes for 61. */
static size_t long_name(uint8_t *w, size_t last)
{
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        w[n] = 63;
        memset(w + n + 1, 'b', 63);
        n += 64;
    }
    w[n] = (uint8_t)last;
    memset(w + n + 1, 'c', last);
    n += 1 + last;
    w[n++] = 0;
    return n;
}

static void test_bad_names(void **state)
{
    (void)state;
    tb t;
    tb_init(&t, 4096);
    uint8_t w[300];
    /* built as the REMOVE of a delta */
#define DELTA()                                                  \
    do {                                                         \
        t.n = 0;                                                 \
        tb_uint(&t, GLB_MAP_SVCS_SERIAL, 2, 8);                  \
        tb_uint(&t, GLB_MAP_SVCS_KIND, GLB_MAP_SERVICES_DELTA, 1); \
        tb_uint(&t, GLB_MAP_SVCS_BASE, 1, 8);                    \
    } while (0)
    DELTA();
    tb_tlv(&t, GLB_MAP_SVCS_REMOVE, "\x03www\x07" "example\x00", 13);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_OK, NULL);
    DELTA();
    tb_tlv(&t, GLB_MAP_SVCS_REMOVE, "\x03www\x07" "example", 12); /* no root label */
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "remove[0]: not a DNS name");
    DELTA();
    tb_tlv(&t, GLB_MAP_SVCS_REMOVE, "\x03www\x07" "example\x00\x00", 14); /* trailing byte */
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "not a DNS name");
    DELTA();
    tb_tlv(&t, GLB_MAP_SVCS_REMOVE, "\x00", 1); /* the root is no service */
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "remove of 1 bytes, at least 3");
    DELTA();
    tb_tlv(&t, GLB_MAP_SVCS_REMOVE, "\x00\x00\x00", 3);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "remove[0]: not a DNS name");
    DELTA();
    tb_tlv(&t, GLB_MAP_SVCS_REMOVE, "", 0);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "remove of 0 bytes, at least 3");
    DELTA();
    tb_tlv(&t, GLB_MAP_SVCS_REMOVE, "\x03www\xc0\x0c", 6); /* compression pointer */
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "not a DNS name");
    DELTA();
    tb_tlv(&t, GLB_MAP_SVCS_REMOVE, "\x09www\x00", 5); /* label runs past the end */
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "not a DNS name");
    /* a 64-byte label */
    w[0] = 64;
    memset(w + 1, 'a', 64);
    w[65] = 0;
    DELTA();
    tb_tlv(&t, GLB_MAP_SVCS_REMOVE, w, 66);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "not a DNS name");
    /* 63 is fine */
    w[0] = 63;
    w[64] = 0;
    DELTA();
    tb_tlv(&t, GLB_MAP_SVCS_REMOVE, w, 65);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_OK, NULL);
    /* 255 bytes fine, 256 not */
    assert_int_equal(long_name(w, 61), 255);
    DELTA();
    tb_tlv(&t, GLB_MAP_SVCS_REMOVE, w, 255);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_OK, NULL);
    assert_int_equal(long_name(w, 62), 256);
    DELTA();
    tb_tlv(&t, GLB_MAP_SVCS_REMOVE, w, 256);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "name of 256 bytes");
    /* a valid 255-byte prefix of a longer name is still not a name */
    DELTA();
    tb_tlv(&t, GLB_MAP_SVCS_REMOVE, w, 255);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "not a DNS name");
    /* the encoder checks names too */
    glb_map_msg m;
    size_t len;
    glb_map_error err;
    sample_services_full(&m);
    glb_map_service bad = sample_services[0];
    bad.name = (const uint8_t *)"\x03www\xc0\x0c";
    m.u.services.services = &bad;
    m.u.services.nservices = 1;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "service[0].name: not a DNS name"));
    free(t.b);
#undef DELTA
}

static void reg_base(tb *t)
{
    t->n = 0;
    tb_str(t, GLB_MAP_REG_NODE_ID, "lb42");
    tb_uint(t, GLB_MAP_REG_SEQUENCE, 1, 8);
    tb_uint(t, GLB_MAP_REG_LIFETIME, 600, 4);
}

static void test_bad_addresses(void **state)
{
    (void)state;
    tb t;
    tb_init(&t, 4096);
    static const struct {
        unsigned tag;
        const char *v;
        size_t n;
        const char *why; /* NULL: valid */
    } cases[] = {
        {GLB_MAP_REG_DNS_ADDR, "\x04\x00\x35\x7f\x00\x00\x2a", 7, NULL},
        {GLB_MAP_REG_DNS_ADDR, "\x06\x00\x00" "0123456789abcdef", 19, NULL},
        {GLB_MAP_REG_DNS_ADDR, "\x05\x00\x35\x7f\x00\x00\x2a", 7, "dns-addr[0]: address family 5"},
        {GLB_MAP_REG_DNS_ADDR, "\x02\x00\x35\x7f\x00\x00\x2a", 7, "address family 2"},
        {GLB_MAP_REG_DNS_ADDR, "\x04\x00\x35\x7f\x00\x00", 6, "dns-addr of 6 bytes, at least 7"},
        {GLB_MAP_REG_DNS_ADDR, "\x04\x00\x35" "0123456789abcdef", 19, "length 19, want 7"},
        {GLB_MAP_REG_PROXY_ADDR, "\x06\x00\x35\x7f\x00\x00\x2a", 7, "proxy-addr[0]: length 7, want 19"},
        {GLB_MAP_REG_DNS_ADDR, "", 0, "dns-addr of 0 bytes, at least 7"},
        {GLB_MAP_REG_CLAIM, "\x01\x04\x20\xc0\x00\x02\x35", 7, NULL},
        {GLB_MAP_REG_CLAIM, "\x03\x04\x00", 3, NULL},                     /* 0.0.0.0/0 */
        {GLB_MAP_REG_CLAIM, "\x03\x06\x30\x20\x01\x0d\xb8\x01\x00", 9, NULL}, /* 2001:db8:100::/48 */
        {GLB_MAP_REG_CLAIM, "\x03\x04\x0c\x0a\x10", 5, NULL},             /* 10.16.0.0/12 */
        {GLB_MAP_REG_CLAIM, "\x03\x04\x0c\x0a\x11", 5, "claim[0]: prefix host bits not zero"},
        {GLB_MAP_REG_CLAIM, "\x03\x04\x10\x0a\x01\x00", 6, "prefix /16 with 3 address bytes, want 2"},
        {GLB_MAP_REG_CLAIM, "\x03\x04\x18\x0a\x01", 5, "prefix /24 with 2 address bytes, want 3"},
        {GLB_MAP_REG_CLAIM, "\x03\x04\x21\x0a\x01\x02\x03\x04", 8, "prefix length 33 over 32"},
        {GLB_MAP_REG_CLAIM, "\x03\x06\x81" "0123456789abcdef\x00", 20, "prefix length 129 over 128"},
        {GLB_MAP_REG_CLAIM, "\x03\x07\x08\x0a", 4, "prefix family 7"},
        {GLB_MAP_REG_CLAIM, "\x03\x04", 2, "claim of 2 bytes, at least 3"},
        {GLB_MAP_REG_CLAIM, "\x03", 1, "claim of 1 bytes"},
        {GLB_MAP_REG_CLAIM, "", 0, "claim of 0 bytes"},
        {GLB_MAP_REG_CLAIM, "\x00\x04\x00", 3, "claim kind 0"},
        {GLB_MAP_REG_CLAIM, "\x04\x04\x00", 3, "claim kind 4"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reg_base(&t);
        tb_tlv(&t, cases[i].tag, cases[i].v, cases[i].n);
        expect(&t, GLB_MAP_REGISTER, cases[i].why ? GLB_MAP_E_MALFORMED : GLB_MAP_OK, cases[i].why);
    }
    /* rejected claims carry a reason first */
    t.n = 0;
    tb_uint(&t, GLB_MAP_ACK_SEQUENCE, 1, 8);
    tb_uint(&t, GLB_MAP_ACK_LIFETIME, 0, 4);
    tb_tlv(&t, GLB_MAP_ACK_REJECTED, "\x00\x03\x04\x00", 4);
    expect(&t, GLB_MAP_REGISTER_ACK, GLB_MAP_E_MALFORMED, "rejected[0]: reject reason 0");
    t.n = 0;
    tb_uint(&t, GLB_MAP_ACK_SEQUENCE, 1, 8);
    tb_uint(&t, GLB_MAP_ACK_LIFETIME, 0, 4);
    tb_tlv(&t, GLB_MAP_ACK_REJECTED, "\x01\x03\x04\x08\x0b", 5);
    tb_tlv(&t, GLB_MAP_ACK_REJECTED, "\x01\x03\x04\x08\x0b\x00", 6);
    expect(&t, GLB_MAP_REGISTER_ACK, GLB_MAP_E_MALFORMED, "rejected[1]: prefix /8 with 2 address bytes");
    /* an address deep inside SERVICES names its place */
    t.n = 0;
    tb_uint(&t, GLB_MAP_SVCS_SERIAL, 1, 8);
    tb_uint(&t, GLB_MAP_SVCS_KIND, GLB_MAP_SERVICES_FULL, 1);
    for (int k = 0; k < 2; k++) {
        size_t s = tb_begin(&t, GLB_MAP_SVCS_SERVICE);
        tb_name(&t, GLB_MAP_SVC_NAME, k ? "b.example." : "a.example.");
        size_t site = tb_begin(&t, GLB_MAP_SVC_SITE);
        tb_str(&t, GLB_MAP_SITE_NAME, "paris");
        tb_tlv(&t, GLB_MAP_SITE_ADDR, "\x04\x00\x00\xc0\x00\x02\x0a", 7);
        tb_tlv(&t, GLB_MAP_SITE_ADDR, k ? "\x09\x00\x00\xc0\x00\x02\x0a" : "\x04\x00\x00\xc0\x00\x02\x0b", 7);
        tb_end(&t, site);
        tb_end(&t, s);
    }
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "SERVICES: service[1].site[0].addr[1]: address family 9");

    /* the encoder refuses bad addresses and prefixes */
    glb_map_msg m;
    size_t len;
    glb_map_error err;
    sample_register(&m);
    glb_addr bad_addr = sample_addrs[0];
    bad_addr.family = AF_UNIX;
    m.u.reg.dns = &bad_addr;
    m.u.reg.ndns = 1;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "dns-addr[0]: address family"));
    sample_register(&m);
    glb_map_claim c = {GLB_MAP_CLAIM_CLIENT, P("10.0.0.0/8")};
    m.u.reg.claims = &c;
    m.u.reg.nclaims = 1;
    c.prefix.b[1] = 1; /* host bit */
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "host bits"));
    c = (glb_map_claim){GLB_MAP_CLAIM_CLIENT, P("10.0.0.0/8")};
    c.prefix.len = 33;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    c.prefix.len = 0xffffffffu;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    c = (glb_map_claim){0, P("10.0.0.0/8")};
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "claim kind"));
    c = (glb_map_claim){GLB_MAP_CLAIM_CLIENT, P("10.0.0.0/8")};
    c.prefix.family = 4; /* the wire's number, not AF_INET */
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    free(t.b);
}

/* n repetitions of one TLV after a base payload. */
static void repeat_tlv(tb *t, unsigned tag, const void *v, size_t len, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tb_tlv(t, tag, v, len);
}

static void test_counts(void **state)
{
    (void)state;
    tb t;
    tb_init(&t, GLB_MAP_MAX_PAYLOAD);
    /* claims: 4096 fine, 4097 over */
    reg_base(&t);
    repeat_tlv(&t, GLB_MAP_REG_CLAIM, "\x03\x04\x08\x0a", 4, GLB_MAP_MAX_CLAIMS);
    expect(&t, GLB_MAP_REGISTER, GLB_MAP_OK, NULL);
    repeat_tlv(&t, GLB_MAP_REG_CLAIM, "\x03\x04\x08\x0a", 4, 1);
    expect(&t, GLB_MAP_REGISTER, GLB_MAP_E_LIMIT, "more than 4096 claim");
    /* addresses: 16, 17 */
    reg_base(&t);
    repeat_tlv(&t, GLB_MAP_REG_DNS_ADDR, "\x04\x00\x00\x7f\x00\x00\x01", 7, 16);
    expect(&t, GLB_MAP_REGISTER, GLB_MAP_OK, NULL);
    repeat_tlv(&t, GLB_MAP_REG_DNS_ADDR, "\x04\x00\x00\x7f\x00\x00\x01", 7, 1);
    expect(&t, GLB_MAP_REGISTER, GLB_MAP_E_LIMIT, "more than 16 dns-addr");
    /* ACK: each list and their sum */
    t.n = 0;
    tb_uint(&t, GLB_MAP_ACK_SEQUENCE, 1, 8);
    tb_uint(&t, GLB_MAP_ACK_LIFETIME, 60, 4);
    repeat_tlv(&t, GLB_MAP_ACK_ACCEPTED, "\x03\x04\x08\x0a", 4, GLB_MAP_MAX_CLAIMS - 1);
    repeat_tlv(&t, GLB_MAP_ACK_REJECTED, "\x01\x03\x04\x08\x0a", 5, 1);
    expect(&t, GLB_MAP_REGISTER_ACK, GLB_MAP_OK, NULL);
    repeat_tlv(&t, GLB_MAP_ACK_REJECTED, "\x01\x03\x04\x08\x0a", 5, 1);
    expect(&t, GLB_MAP_REGISTER_ACK, GLB_MAP_E_LIMIT, "4096 accepted + rejected");
    /* services and removals: 1024, 1025 */
    t.n = 0;
    tb_uint(&t, GLB_MAP_SVCS_SERIAL, 9, 8);
    tb_uint(&t, GLB_MAP_SVCS_KIND, GLB_MAP_SERVICES_DELTA, 1);
    tb_uint(&t, GLB_MAP_SVCS_BASE, 8, 8);
    repeat_tlv(&t, GLB_MAP_SVCS_REMOVE, "\x01x\x00", 3, GLB_MAP_MAX_SERVICES);
    size_t base = t.n;
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_OK, NULL);
    repeat_tlv(&t, GLB_MAP_SVCS_REMOVE, "\x01x\x00", 3, 1);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_LIMIT, "more than 1024 remove");
    t.n = base;
    uint8_t svc[6 + 9] = {0, GLB_MAP_SVC_NAME, 0, 0, 0, 3, 1, 'x', 0};
    svc[6 + 3] = 0;
    for (int i = 0; i < GLB_MAP_MAX_SERVICES; i++)
        tb_tlv(&t, GLB_MAP_SVCS_SERVICE, svc, 9);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_OK, NULL);
    tb_tlv(&t, GLB_MAP_SVCS_SERVICE, svc, 9);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_LIMIT, "more than 1024 service");
    /* sites per service: 256, 257; addresses per site: 16, 17 */
    for (int extra = 0; extra < 2; extra++) {
        t.n = 0;
        tb_uint(&t, GLB_MAP_SVCS_SERIAL, 9, 8);
        tb_uint(&t, GLB_MAP_SVCS_KIND, GLB_MAP_SERVICES_FULL, 1);
        size_t s = tb_begin(&t, GLB_MAP_SVCS_SERVICE);
        tb_name(&t, GLB_MAP_SVC_NAME, "www.example.");
        for (int i = 0; i < GLB_MAP_MAX_SITES + extra; i++) {
            size_t site = tb_begin(&t, GLB_MAP_SVC_SITE);
            tb_str(&t, GLB_MAP_SITE_NAME, "s");
            tb_tlv(&t, GLB_MAP_SITE_HOST, "\x01h\x00", 3);
            tb_end(&t, site);
        }
        tb_end(&t, s);
        expect(&t, GLB_MAP_SERVICES, extra ? GLB_MAP_E_LIMIT : GLB_MAP_OK, "service[0]: more than 256 site");
        t.n = 0;
        tb_uint(&t, GLB_MAP_SVCS_SERIAL, 9, 8);
        tb_uint(&t, GLB_MAP_SVCS_KIND, GLB_MAP_SERVICES_FULL, 1);
        s = tb_begin(&t, GLB_MAP_SVCS_SERVICE);
        tb_name(&t, GLB_MAP_SVC_NAME, "www.example.");
        size_t site = tb_begin(&t, GLB_MAP_SVC_SITE);
        tb_str(&t, GLB_MAP_SITE_NAME, "s");
        repeat_tlv(&t, GLB_MAP_SITE_ADDR, "\x04\x00\x00\x7f\x00\x00\x01", 7, GLB_MAP_MAX_ADDRS + extra);
        tb_end(&t, site);
        tb_end(&t, s);
        expect(&t, GLB_MAP_SERVICES, extra ? GLB_MAP_E_LIMIT : GLB_MAP_OK, "site[0]: more than 16 addr");
    }
    /* ranking entries 1024/1025, ranked sites 256/257 */
    uint8_t ent[6 + 3] = {0, GLB_MAP_RENT_SERVICE, 0, 0, 0, 3, 1, 'x', 0};
    t.n = 0;
    for (int i = 0; i < GLB_MAP_MAX_SERVICES; i++)
        tb_tlv(&t, GLB_MAP_RANK_ENTRY, ent, sizeof(ent));
    expect(&t, GLB_MAP_RANKING, GLB_MAP_OK, NULL);
    tb_tlv(&t, GLB_MAP_RANK_ENTRY, ent, sizeof(ent));
    expect(&t, GLB_MAP_RANKING, GLB_MAP_E_LIMIT, "more than 1024 entry");
    uint8_t rs[6 + 1] = {0, GLB_MAP_RSITE_NAME, 0, 0, 0, 1, 's'};
    for (int extra = 0; extra < 2; extra++) {
        t.n = 0;
        size_t e = tb_begin(&t, GLB_MAP_RANK_ENTRY);
        tb_tlv(&t, GLB_MAP_RENT_SERVICE, "\x01x\x00", 3);
        repeat_tlv(&t, GLB_MAP_RENT_SITE, rs, sizeof(rs), GLB_MAP_MAX_SITES + extra);
        tb_end(&t, e);
        expect(&t, GLB_MAP_RANKING, extra ? GLB_MAP_E_LIMIT : GLB_MAP_OK, "entry[0]: more than 256 site");
    }
    /* metrics 4096/4097 */
    tb one;
    tb_init(&one, 256);
    tb_str(&one, GLB_MAP_METRIC_SITE, "paris");
    tb_uint(&one, GLB_MAP_METRIC_LATENCY, 27000, 4);
    tb_uint(&one, GLB_MAP_METRIC_LOSS, 0, 4);
    tb_uint(&one, GLB_MAP_METRIC_SAMPLES, 1, 4);
    tb_uint(&one, GLB_MAP_METRIC_TIME, 1, 8);
    t.n = 0;
    repeat_tlv(&t, GLB_MAP_MET_METRIC, one.b, one.n, GLB_MAP_MAX_METRICS);
    expect(&t, GLB_MAP_METRICS, GLB_MAP_OK, NULL);
    repeat_tlv(&t, GLB_MAP_MET_METRIC, one.b, one.n, 1);
    expect(&t, GLB_MAP_METRICS, GLB_MAP_E_LIMIT, "more than 4096 metric");
    free(one.b);

    /* the encoder enforces the same counts */
    glb_map_msg m;
    size_t len;
    glb_map_error err;
    glb_map_claim *many = calloc(GLB_MAP_MAX_CLAIMS + 1, sizeof(*many));
    assert_non_null(many);
    for (size_t i = 0; i <= GLB_MAP_MAX_CLAIMS; i++)
        many[i] = (glb_map_claim){GLB_MAP_CLAIM_EGRESS, P("192.0.2.1/32")};
    sample_register(&m);
    m.u.reg.claims = many;
    m.u.reg.nclaims = GLB_MAP_MAX_CLAIMS;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_OK);
    m.u.reg.nclaims = GLB_MAP_MAX_CLAIMS + 1;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_LIMIT);
    assert_non_null(strstr(err.text, "4097 claim, at most 4096"));
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_REGISTER_ACK;
    m.u.ack.sequence = 1;
    m.u.ack.accepted = many;
    m.u.ack.naccepted = GLB_MAP_MAX_CLAIMS;
    glb_map_reject r = {GLB_MAP_REJ_TOO_MANY, many[0]};
    m.u.ack.rejected = &r;
    m.u.ack.nrejected = 1;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_LIMIT);
    free(many);
    sample_services_full(&m);
    glb_map_site s = sample_sites[0];
    s.naddrs = GLB_MAP_MAX_ADDRS + 1;
    glb_map_service v = sample_services[0];
    v.sites = &s;
    v.nsites = 1;
    m.u.services.services = &v;
    m.u.services.nservices = 1;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_LIMIT);
    assert_non_null(strstr(err.text, "service[0].site[0]: 17 addr, at most 16"));
    free(t.b);
}

static void svc_base(tb *t, unsigned kind)
{
    t->n = 0;
    tb_uint(t, GLB_MAP_SVCS_SERIAL, 10, 8);
    tb_uint(t, GLB_MAP_SVCS_KIND, kind, 1);
}

/* One service with one site holding the given extra TLVs. */
static void svc_site(tb *t, const tb *svc_extra, const tb *site_extra)
{
    size_t s = tb_begin(t, GLB_MAP_SVCS_SERVICE);
    tb_name(t, GLB_MAP_SVC_NAME, "www.example.");
    if (svc_extra)
        tb_raw(t, svc_extra->b, svc_extra->n);
    size_t site = tb_begin(t, GLB_MAP_SVC_SITE);
    tb_str(t, GLB_MAP_SITE_NAME, "paris");
    if (site_extra)
        tb_raw(t, site_extra->b, site_extra->n);
    tb_end(t, site);
    tb_end(t, s);
}

static void test_services_rules(void **state)
{
    (void)state;
    tb t, x;
    tb_init(&t, 4096);
    tb_init(&x, 1024);
    svc_base(&t, GLB_MAP_SERVICES_FULL);
    tb_uint(&t, GLB_MAP_SVCS_BASE, 9, 8);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "full SERVICES with a base");
    svc_base(&t, GLB_MAP_SERVICES_FULL);
    tb_tlv(&t, GLB_MAP_SVCS_REMOVE, "\x01x\x00", 3);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "full SERVICES with removals");
    svc_base(&t, GLB_MAP_SERVICES_DELTA);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "delta SERVICES without a base");
    svc_base(&t, GLB_MAP_SERVICES_DELTA);
    tb_uint(&t, GLB_MAP_SVCS_BASE, 10, 8);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "base serial not below");
    svc_base(&t, GLB_MAP_SERVICES_DELTA);
    tb_uint(&t, GLB_MAP_SVCS_BASE, 0, 8);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_OK, NULL); /* a delta from nothing */
    svc_base(&t, 3);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "kind: 3 out of range 1..2");
    t.n = 0;
    tb_uint(&t, GLB_MAP_SVCS_SERIAL, 0, 8);
    tb_uint(&t, GLB_MAP_SVCS_KIND, 1, 1);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "serial: 0 out of range");
    svc_base(&t, GLB_MAP_SERVICES_FULL);
    tb_uint(&t, GLB_MAP_SVCS_PART, 63, 4);
    tb_uint(&t, GLB_MAP_SVCS_MORE, 1, 1);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_OK, NULL);
    svc_base(&t, GLB_MAP_SERVICES_FULL);
    tb_uint(&t, GLB_MAP_SVCS_PART, 64, 4);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "part: 64 out of range 0..63");

    /* service fields */
    static const struct {
        unsigned tag;
        uint64_t v;
        size_t w;
        const char *why;
    } svc_cases[] = {
        {GLB_MAP_SVC_MODE, 2, 1, NULL},
        {GLB_MAP_SVC_MODE, 3, 1, "mode: 3 out of range 0..2"},
        {GLB_MAP_SVC_POLICY, 4, 1, "policy: 4"},
        {GLB_MAP_SVC_ANSWER_COUNT, 0, 2, "answer-count: 0"},
        {GLB_MAP_SVC_ANSWER_COUNT, 65, 2, "answer-count: 65"},
        {GLB_MAP_SVC_TTL_ANSWER, 0x80000000u, 4, "ttl-answer"},
        {GLB_MAP_SVC_TTL_REFERRAL, 0x7fffffffu, 4, NULL},
        {GLB_MAP_SVC_MARGIN, GLB_MAP_MAX_MARGIN + 1, 4, "margin"},
        {GLB_MAP_SVC_MARGIN_ABS, 0, 4, NULL},
        {GLB_MAP_SVC_MARGIN_ABS, GLB_MAP_MAX_MARGIN_ABS, 4, NULL},
        {GLB_MAP_SVC_MARGIN_ABS, GLB_MAP_MAX_MARGIN_ABS + 1, 4, "margin-abs: 10000001 out of range"},
        {GLB_MAP_SVC_MARGIN_ABS, 5000, 2, "margin-abs"}, /* a u32 in 2 bytes */
    };
    for (size_t i = 0; i < sizeof(svc_cases) / sizeof(svc_cases[0]); i++) {
        x.n = 0;
        tb_uint(&x, svc_cases[i].tag, svc_cases[i].v, svc_cases[i].w);
        tb_tlv(&x, 99, "\x04\x00\x00\x7f\x00\x00\x01", 7); /* unknown: skipped */
        svc_base(&t, GLB_MAP_SERVICES_FULL);
        tb_uint(&t, 0, 0, 0);
        size_t s = tb_begin(&t, GLB_MAP_SVCS_SERVICE);
        tb_name(&t, GLB_MAP_SVC_NAME, "www.example.");
        tb_raw(&t, x.b, x.n);
        tb_end(&t, s);
        expect(&t, GLB_MAP_SERVICES, svc_cases[i].why ? GLB_MAP_E_MALFORMED : GLB_MAP_OK, svc_cases[i].why);
    }
    /* site fields */
    svc_base(&t, GLB_MAP_SERVICES_FULL);
    svc_site(&t, NULL, NULL);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "service[0].site[0]: site without address or host");
    x.n = 0;
    tb_tlv(&x, GLB_MAP_SITE_HOST, "\x01h\x00", 3);
    tb_uint(&x, GLB_MAP_SITE_WEIGHT, GLB_MAP_MAX_WEIGHT + 1, 4);
    svc_base(&t, GLB_MAP_SERVICES_FULL);
    svc_site(&t, NULL, &x);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "site[0].weight: 1000001");
    x.n = 0;
    tb_tlv(&x, GLB_MAP_SITE_HOST, "\x01h\x00", 3);
    tb_uint(&x, GLB_MAP_SITE_CHECK_VERIFY, 2, 1);
    svc_base(&t, GLB_MAP_SERVICES_FULL);
    svc_site(&t, NULL, &x);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "check-verify");
    x.n = 0;
    tb_tlv(&x, GLB_MAP_SITE_HOST, "\x01h\x00", 3);
    tb_tlv(&x, GLB_MAP_SITE_HOST, "\x01h\x00", 3);
    svc_base(&t, GLB_MAP_SERVICES_FULL);
    svc_site(&t, NULL, &x);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, "host given twice");
    /* unknown fields inside a site: skipped, or refused when critical */
    x.n = 0;
    tb_tlv(&x, GLB_MAP_SITE_HOST, "\x01h\x00", 3);
    tb_str(&x, 77, "a future field");
    svc_base(&t, GLB_MAP_SERVICES_FULL);
    svc_site(&t, NULL, &x);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_OK, NULL);
    tb_str(&x, 77 | GLB_MAP_TAG_CRITICAL, "a future field");
    svc_base(&t, GLB_MAP_SERVICES_FULL);
    svc_site(&t, NULL, &x);
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_UNSUPPORTED, "service[0].site[0]: unknown critical field 77");
    /* a container whose inner fields overrun it */
    svc_base(&t, GLB_MAP_SERVICES_FULL);
    size_t s = tb_begin(&t, GLB_MAP_SVCS_SERVICE);
    tb_name(&t, GLB_MAP_SVC_NAME, "www.example.");
    tb_end(&t, s);
    t.b[s + 5] = (uint8_t)(t.b[s + 5] - 1); /* the name's TLV now sticks out by one byte */
    expect(&t, GLB_MAP_SERVICES, GLB_MAP_E_MALFORMED, NULL);

    /* RANKING share */
    t.n = 0;
    size_t e = tb_begin(&t, GLB_MAP_RANK_ENTRY);
    tb_tlv(&t, GLB_MAP_RENT_SERVICE, "\x01x\x00", 3);
    tb_uint(&t, GLB_MAP_RENT_SHARE, 3, 2);
    tb_tlv(&t, GLB_MAP_RENT_SITE, "\x00\x01\x00\x00\x00\x01s", 7);
    tb_tlv(&t, GLB_MAP_RENT_SITE, "\x00\x01\x00\x00\x00\x01t", 7);
    tb_end(&t, e);
    expect(&t, GLB_MAP_RANKING, GLB_MAP_E_MALFORMED, "entry[0]: share larger");
    t.n = 0;
    e = tb_begin(&t, GLB_MAP_RANK_ENTRY);
    tb_tlv(&t, GLB_MAP_RENT_SERVICE, "\x01x\x00", 3);
    tb_uint(&t, GLB_MAP_RENT_SHARE, 0, 2);
    tb_end(&t, e);
    expect(&t, GLB_MAP_RANKING, GLB_MAP_E_MALFORMED, "share: 0");
    /* METRICS loss */
    t.n = 0;
    e = tb_begin(&t, GLB_MAP_MET_METRIC);
    tb_str(&t, GLB_MAP_METRIC_SITE, "paris");
    tb_uint(&t, GLB_MAP_METRIC_LATENCY, 1, 4);
    tb_uint(&t, GLB_MAP_METRIC_LOSS, GLB_MAP_MAX_LOSS + 1, 4);
    tb_uint(&t, GLB_MAP_METRIC_SAMPLES, 1, 4);
    tb_uint(&t, GLB_MAP_METRIC_TIME, 1, 8);
    tb_end(&t, e);
    expect(&t, GLB_MAP_METRICS, GLB_MAP_E_MALFORMED, "metric[0].loss: 1000001");
    t.n = 0;
    e = tb_begin(&t, GLB_MAP_MET_METRIC);
    tb_str(&t, GLB_MAP_METRIC_SITE, "paris");
    tb_end(&t, e);
    expect(&t, GLB_MAP_METRICS, GLB_MAP_E_MALFORMED, "metric of 11 bytes, at least 51");
    t.n = 0;
    e = tb_begin(&t, GLB_MAP_MET_METRIC);
    tb_str(&t, GLB_MAP_METRIC_SITE, "paris");
    tb_str(&t, 50, "padding padding padding padding padding padding");
    tb_end(&t, e);
    expect(&t, GLB_MAP_METRICS, GLB_MAP_E_MALFORMED, "metric[0]: latency missing");

    /* the encoder applies the same rules */
    glb_map_msg m;
    size_t len;
    glb_map_error err;
    sample_services_full(&m);
    m.u.services.has_base = 1;
    m.u.services.base = 1;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "full SERVICES with a base"));
    sample_services_full(&m);
    glb_map_site bare = sample_sites[1];
    bare.naddrs = 0;
    glb_map_service v = sample_services[0];
    v.sites = &bare;
    v.nsites = 1;
    m.u.services.services = &v;
    m.u.services.nservices = 1;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "site without address or host"));
    bare.naddrs = 2;
    bare.addrs = NULL;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "2 addr but no array"));
    v.mode = 9;
    bare = sample_sites[1];
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "service[0].mode: 9 out of range 0..2"));
    free(x.b);
    free(t.b);
}

static void test_encode_errors(void **state)
{
    (void)state;
    glb_map_msg m;
    glb_map_error err;
    size_t need, len;
    sample_register(&m);
    assert_int_equal(glb_map_encode(&m, NULL, 0, &need, &err), GLB_MAP_OK);
    assert_true(need > 100);
    /* too small: nothing written past cap, the size needed reported */
    uint8_t small[64 + 16];
    memset(small, 0xa5, sizeof(small));
    assert_int_equal(glb_map_encode(&m, small, 64, &len, &err), GLB_MAP_E_NOSPACE);
    assert_int_equal(len, need);
    for (size_t i = 64; i < sizeof(small); i++)
        assert_int_equal(small[i], 0xa5);
    assert_int_equal(glb_map_encode_register(&m.u.reg, small, 0, &len), GLB_MAP_E_NOSPACE);
    assert_int_equal(glb_map_encode(&m, fbuf, need, &len, &err), GLB_MAP_OK);
    assert_int_equal(len, need);
    /* values out of range in each integer width, a location, a reason */
    sample_register(&m);
    m.u.reg.location.lat = GLB_MAP_MAX_LAT + 1;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "REGISTER: location: location 90000001,"));
    m.u.reg.location.lat = 0;
    m.u.reg.lifetime = GLB_MAP_MAX_LIFETIME + 1;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "lifetime: 86401 out of range"));
    m.u.reg.lifetime = 60;
    m.u.reg.sequence = 0;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "sequence: 0 out of range"));
    glb_map_service svc;
    glb_map_service_defaults(&svc);
    svc.name = N("www.example.");
    svc.answer_count = 0;
    assert_int_equal(glb_map_service_size(&svc), 0);
    memset(&m, 0, sizeof(m));
    m.type = GLB_MAP_REGISTER_ACK;
    m.u.ack.sequence = 1;
    glb_map_reject r0 = {0, {GLB_MAP_CLAIM_CLIENT, P("10.0.0.0/8")}};
    m.u.ack.rejected = &r0;
    m.u.ack.nrejected = 1;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_MALFORMED);
    assert_non_null(strstr(err.text, "rejected[0]: reject reason 0"));
    sample_register(&m);
    /* unknown type */
    m.type = 0;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_UNSUPPORTED);
    m.type = GLB_MAP_TYPE_MAX + 1;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_UNSUPPORTED);
    /* a frame over 1 MiB is refused, even when measuring */
    static char url[1001];
    memset(url, 'u', 1000);
    glb_map_site *sites = calloc(GLB_MAP_MAX_SITES, sizeof(*sites));
    glb_map_service *svcs = calloc(8, sizeof(*svcs));
    assert_non_null(sites);
    assert_non_null(svcs);
    glb_addr a = A("192.0.2.1");
    for (size_t i = 0; i < GLB_MAP_MAX_SITES; i++) {
        glb_map_site_defaults(&sites[i]);
        sites[i].name = "s";
        sites[i].addrs = &a;
        sites[i].naddrs = 1;
        sites[i].check = url;
    }
    for (size_t i = 0; i < 8; i++) {
        glb_map_service_defaults(&svcs[i]);
        svcs[i].name = N("www.example.");
        svcs[i].sites = sites;
        svcs[i].nsites = GLB_MAP_MAX_SITES;
    }
    size_t one = glb_map_service_size(&svcs[0]);
    assert_true(one > 256 * 1000);
    sample_services_full(&m);
    m.u.services.services = svcs;
    m.u.services.nservices = 3;
    assert_int_equal(glb_map_encode(&m, NULL, 0, &len, &err), GLB_MAP_OK);
    assert_true(len < GLB_MAP_MAX_FRAME);
    size_t head = len - 3 * one;
    m.u.services.nservices = 1;
    assert_int_equal(glb_map_encode(&m, NULL, 0, &len, &err), GLB_MAP_OK);
    assert_int_equal(len, head + one); /* service_size packs exactly */
    m.u.services.nservices = 5;
    assert_int_equal(glb_map_encode(&m, NULL, 0, &len, &err), GLB_MAP_E_LIMIT);
    assert_non_null(strstr(err.text, "frame over 1048576 bytes"));
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, &err), GLB_MAP_E_LIMIT);
    glb_map_service bad = svcs[0];
    bad.name = NULL;
    assert_int_equal(glb_map_service_size(&bad), 0);
    free(sites);
    free(svcs);
}

/* Frames built to the largest number of smallest items still decode in an
 * arena of GLB_MAP_ARENA_FOR(length). */
static void test_arena(void **state)
{
    (void)state;
    glb_map_msg m;
    glb_map_error err;
    tb t;
    tb_init(&t, GLB_MAP_MAX_PAYLOAD);
    /* too small an arena: INTERNAL, the receiver's own problem */
    sample_hello_client(&m);
    size_t len;
    assert_int_equal(glb_map_encode(&m, fbuf, FBUF_CAP, &len, NULL), GLB_MAP_OK);
    uint8_t tiny[8];
    glb_map_msg_init(&m, tiny, sizeof(tiny));
    assert_int_equal(glb_map_decode(fbuf, len, &m, &err), GLB_MAP_E_INTERNAL);
    assert_non_null(strstr(err.text, "arena too small"));
    glb_map_msg_init(&m, NULL, 0);
    assert_int_equal(glb_map_decode(fbuf, len, &m, &err), GLB_MAP_E_INTERNAL);
    uint8_t ka[] = {1, GLB_MAP_KEEPALIVE, 0, 0, 0, 0, 0, 14, 0, 1, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(glb_map_decode(ka, sizeof(ka), &m, &err), GLB_MAP_OK);
    assert_true(m.u.keepalive.nonce == 0x0102030405060708ULL);

    double worst = 0;
    for (int shape = 0; shape < 7; shape++) {
        t.n = 0;
        uint8_t type;
        size_t room = GLB_MAP_MAX_PAYLOAD - 64;
        switch (shape) {
        case 0: /* claims of /0 */
            type = GLB_MAP_REGISTER;
            reg_base(&t);
            repeat_tlv(&t, GLB_MAP_REG_CLAIM, "\x03\x04\x00", 3, GLB_MAP_MAX_CLAIMS);
            break;
        case 1: /* rejected claims */
            type = GLB_MAP_REGISTER_ACK;
            tb_uint(&t, GLB_MAP_ACK_SEQUENCE, 1, 8);
            tb_uint(&t, GLB_MAP_ACK_LIFETIME, 1, 4);
            repeat_tlv(&t, GLB_MAP_ACK_REJECTED, "\x01\x03\x04\x00", 4, GLB_MAP_MAX_CLAIMS);
            break;
        case 2: /* services of a name only */
        case 3: /* services full of minimal sites */
            type = GLB_MAP_SERVICES;
            tb_uint(&t, GLB_MAP_SVCS_SERIAL, 2, 8);
            tb_uint(&t, GLB_MAP_SVCS_KIND, GLB_MAP_SERVICES_DELTA, 1);
            tb_uint(&t, GLB_MAP_SVCS_BASE, 1, 8);
            for (int i = 0; i < GLB_MAP_MAX_SERVICES && t.n < room - 7000; i++) {
                size_t s = tb_begin(&t, GLB_MAP_SVCS_SERVICE);
                tb_tlv(&t, GLB_MAP_SVC_NAME, "\x01x\x00", 3);
                for (int k = 0; shape == 3 && k < GLB_MAP_MAX_SITES; k++) {
                    size_t site = tb_begin(&t, GLB_MAP_SVC_SITE);
                    tb_tlv(&t, GLB_MAP_SITE_NAME, "s", 1);
                    tb_tlv(&t, GLB_MAP_SITE_HOST, "\x01h\x00", 3);
                    tb_end(&t, site);
                }
                tb_end(&t, s);
            }
            if (shape == 2)
                repeat_tlv(&t, GLB_MAP_SVCS_REMOVE, "\x01x\x00", 3, GLB_MAP_MAX_SERVICES);
            break;
        case 4: /* sites of one address each */
            type = GLB_MAP_SERVICES;
            tb_uint(&t, GLB_MAP_SVCS_SERIAL, 2, 8);
            tb_uint(&t, GLB_MAP_SVCS_KIND, GLB_MAP_SERVICES_FULL, 1);
            for (int i = 0; i < GLB_MAP_MAX_SERVICES && t.n < room - 7000; i++) {
                size_t s = tb_begin(&t, GLB_MAP_SVCS_SERVICE);
                tb_tlv(&t, GLB_MAP_SVC_NAME, "\x01x\x00", 3);
                for (int k = 0; k < GLB_MAP_MAX_SITES; k++) {
                    size_t site = tb_begin(&t, GLB_MAP_SVC_SITE);
                    tb_tlv(&t, GLB_MAP_SITE_NAME, "s", 1);
                    tb_tlv(&t, GLB_MAP_SITE_ADDR, "\x04\x00\x00\x01\x02\x03\x04", 7);
                    tb_end(&t, site);
                }
                tb_end(&t, s);
            }
            break;
        case 5: /* ranking entries of one-letter sites */
            type = GLB_MAP_RANKING;
            for (int i = 0; i < GLB_MAP_MAX_SERVICES && t.n < room - 4000; i++) {
                size_t e = tb_begin(&t, GLB_MAP_RANK_ENTRY);
                tb_tlv(&t, GLB_MAP_RENT_SERVICE, "\x01x\x00", 3);
                for (int k = 0; k < GLB_MAP_MAX_SITES; k++)
                    tb_tlv(&t, GLB_MAP_RENT_SITE, "\x00\x01\x00\x00\x00\x01s", 7);
                tb_end(&t, e);
            }
            break;
        default: /* empty ranking entries */
            type = GLB_MAP_RANKING;
            for (int i = 0; i < GLB_MAP_MAX_SERVICES; i++)
                tb_tlv(&t, GLB_MAP_RANK_ENTRY, "\x00\x01\x00\x00\x00\x03\x01x\x00", 9);
            break;
        }
        len = tb_frame(&t, type);
        size_t cap = GLB_MAP_ARENA_FOR(len);
        uint8_t *a = malloc(cap);
        assert_non_null(a);
        glb_map_msg_init(&m, a, cap);
        int rc = glb_map_decode(fbuf, len, &m, &err);
        if (rc)
            fail_msg("shape %d: %s", shape, err.text);
        double ratio = (double)m.arena_used / (double)len;
        if (ratio > worst)
            worst = ratio;
        free(a);
    }
    /* floods of empty or incomplete items fail MALFORMED, not INTERNAL */
    for (int flood = 0; flood < 3; flood++) {
        t.n = 0;
        tb_uint(&t, GLB_MAP_SVCS_SERIAL, 2, 8);
        tb_uint(&t, GLB_MAP_SVCS_KIND, GLB_MAP_SERVICES_FULL, 1);
        if (flood == 0) {
            repeat_tlv(&t, GLB_MAP_SVCS_SERVICE, "", 0, GLB_MAP_MAX_SERVICES);
        } else {
            size_t s = tb_begin(&t, GLB_MAP_SVCS_SERVICE);
            tb_tlv(&t, GLB_MAP_SVC_NAME, "\x01x\x00", 3);
            if (flood == 1)
                repeat_tlv(&t, GLB_MAP_SVC_SITE, "", 0, GLB_MAP_MAX_SITES);
            else
                repeat_tlv(&t, GLB_MAP_SVC_SITE, "\x00\x01\x00\x00\x00\x01s", 7, GLB_MAP_MAX_SITES);
            tb_end(&t, s);
        }
        len = tb_frame(&t, GLB_MAP_SERVICES);
        size_t cap = GLB_MAP_ARENA_FOR(len);
        uint8_t *a = malloc(cap);
        assert_non_null(a);
        glb_map_msg_init(&m, a, cap);
        assert_int_equal(glb_map_decode(fbuf, len, &m, &err), GLB_MAP_E_MALFORMED);
        if (flood < 2)
            assert_non_null(strstr(err.text, "of 0 bytes, at least"));
        else
            assert_non_null(strstr(err.text, "site[0]: site without address or host"));
        free(a);
    }
    print_message("worst arena use: %.2f bytes per frame byte (GLB_MAP_ARENA_FOR allows 6)\n", worst);
    assert_true(worst < 6);
    free(t.b);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(glb_map_type_name(GLB_MAP_HELLO), "HELLO");
    assert_string_equal(glb_map_type_name(GLB_MAP_REGISTER_ACK), "REGISTER_ACK");
    assert_string_equal(glb_map_type_name(GLB_MAP_ERROR), "ERROR");
    assert_string_equal(glb_map_type_name(0), "unknown");
    assert_string_equal(glb_map_type_name(10), "unknown");
    assert_string_equal(glb_map_code_name(GLB_MAP_OK), "ok");
    assert_string_equal(glb_map_code_name(GLB_MAP_E_BAD_VERSION), "bad-version");
    assert_string_equal(glb_map_code_name(GLB_MAP_E_MALFORMED), "malformed");
    assert_string_equal(glb_map_code_name(GLB_MAP_E_UNAUTHORIZED), "unauthorized");
    assert_string_equal(glb_map_code_name(GLB_MAP_E_LIMIT), "limit");
    assert_string_equal(glb_map_code_name(GLB_MAP_E_INTERNAL), "internal");
    assert_string_equal(glb_map_code_name(GLB_MAP_E_UNSUPPORTED), "unsupported");
    assert_string_equal(glb_map_code_name(GLB_MAP_E_UNEXPECTED), "unexpected");
    assert_string_equal(glb_map_code_name(GLB_MAP_E_TIMEOUT), "timeout");
    assert_string_equal(glb_map_code_name(GLB_MAP_E_NOSPACE), "no-space");
    assert_string_equal(glb_map_code_name(-1), "unknown");
    assert_string_equal(glb_map_code_name(99), "unknown");
    assert_string_equal(glb_map_role_name(GLB_MAP_ROLE_LB), "lb");
    assert_string_equal(glb_map_role_name(GLB_MAP_ROLE_DNSB), "dnsb");
    assert_string_equal(glb_map_role_name(GLB_MAP_ROLE_MSERVICE), "mservice");
    assert_string_equal(glb_map_role_name(9), "unknown");
    assert_string_equal(glb_map_reject_name(GLB_MAP_REJ_NOT_ALLOWED), "not-allowed");
    assert_string_equal(glb_map_reject_name(GLB_MAP_REJ_TOO_MANY), "too-many");
    assert_string_equal(glb_map_reject_name(GLB_MAP_REJ_BAD_PREFIX), "bad-prefix");
    assert_string_equal(glb_map_reject_name(GLB_MAP_REJ_BAD_ADDRESS), "bad-address");
    assert_string_equal(glb_map_reject_name(200), "unknown");
    assert_string_equal(glb_map_bye_name(GLB_MAP_BYE_IDLE), "idle");
    assert_string_equal(glb_map_bye_name(0), "unknown");
    assert_string_equal(glb_map_claim_kind_name(GLB_MAP_CLAIM_EGRESS), "egress");
    assert_string_equal(glb_map_claim_kind_name(GLB_MAP_CLAIM_CLIENT), "client");
}

static void test_helpers(void **state)
{
    (void)state;
    glb_prefix a = P("10.1.2.0/24"), b = P("10.0.0.0/8"), c = P("10.128.0.0/9"), d = P("10.0.0.0/9");
    glb_prefix all4 = P("0.0.0.0/0"), v6 = P("2001:db8::/32"), v6b = P("2001:db8:1::/48");
    assert_true(glb_map_prefix_within(&a, &b));
    assert_false(glb_map_prefix_within(&b, &a));
    assert_true(glb_map_prefix_within(&a, &a));
    assert_true(glb_map_prefix_within(&c, &b));
    assert_false(glb_map_prefix_within(&c, &d));
    assert_true(glb_map_prefix_within(&a, &all4));
    assert_false(glb_map_prefix_within(&v6, &all4));
    assert_true(glb_map_prefix_within(&v6b, &v6));
    assert_false(glb_map_prefix_within(&v6, &v6b));
    glb_prefix e = P("11.0.0.0/8");
    assert_false(glb_map_prefix_within(&e, &b));
    assert_true(glb_map_id_valid("lb42"));
    assert_true(glb_map_id_valid("a-b"));
    assert_false(glb_map_id_valid("Lb42"));
    assert_false(glb_map_id_valid(""));
    assert_false(glb_map_id_valid("-a"));
    assert_int_equal(glb_map_name_len((const uint8_t *)"\x03www\x07" "example\x00", 255), 13);
    assert_int_equal(glb_map_name_len((const uint8_t *)"\x03www\x07" "example\x00", 12), 0);
    assert_int_equal(glb_map_name_len((const uint8_t *)"\x00", 1), 0);
    assert_int_equal(glb_map_name_len((const uint8_t *)"\x40" "a", 2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_register),
        cmocka_unit_test(test_register_ack),
        cmocka_unit_test(test_services_full),
        cmocka_unit_test(test_margin_abs_compat),
        cmocka_unit_test(test_services_delta),
        cmocka_unit_test(test_ranking),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_keepalive_bye_error),
        cmocka_unit_test(test_typed_encoders),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_frame_check),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_services_rules),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, setup_buffers, teardown_buffers);
}

/* The map protocol: message schemas, frame check, names, shared checks.
 * encode.c and decode.c walk the same schemas. SPDX-License-Identifier: BSD-3-Clause */
#include "proto/map.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/map_int.h"

/* ---- Schemas ---------------------------------------------------------- */

#define K(x) GLB_MAP_K_##x
#define REQ GLB_MAP_F_REQ
#define NOHAS GLB_MAP_NO_HAS

/* A scalar always present in the struct, defaulted when absent on the wire. */
#define SCALAR(S, tag, kind, flags, name, m, lo, hi, d) \
    {tag, K(kind), flags, name, offsetof(S, m), 0, NOHAS, lo, hi, d, 0, NULL}
/* An optional scalar with a has_ flag. */
#define OPTIONAL(S, tag, kind, name, m, hasm, lo, hi) \
    {tag, K(kind), 0, name, offsetof(S, m), 0, offsetof(S, hasm), lo, hi, 0, 0, NULL}
/* A pointer (string, id, name): NULL when absent. */
#define POINTER(S, tag, kind, flags, name, m, maxlen) \
    {tag, K(kind), flags, name, offsetof(S, m), 0, NOHAS, 0, maxlen, 0, 0, NULL}
/* A repeated field: array pointer m, count nm. */
#define REPEATED(S, tag, kind, name, m, nm, maxn, sub) \
    {tag, K(kind), GLB_MAP_F_REP, name, offsetof(S, m), offsetof(S, nm), NOHAS, 0, 0, 0, maxn, sub}

#define SCHEMA(nm, S, f, chk) {nm, sizeof(S), f, sizeof(f) / sizeof(f[0]), chk}

static const glb_map_field hello_fields[] = {
    SCALAR(glb_map_hello, GLB_MAP_HELLO_ROLE, U8, REQ, "role", role, 1, 3, 0),
    SCALAR(glb_map_hello, GLB_MAP_HELLO_VERSION, U8, REQ, "version", version, 1, 255, 0),
    POINTER(glb_map_hello, GLB_MAP_HELLO_NODE_ID, ID, REQ, "node-id", node_id, GLB_MAP_MAX_ID),
    SCALAR(glb_map_hello, GLB_MAP_HELLO_CAPS, U64, 0, "caps", caps, 0, UINT64_MAX, 0),
    POINTER(glb_map_hello, GLB_MAP_HELLO_WHOAMI, NAME, 0, "whoami", whoami, GLB_MAP_MAX_NAME),
    SCALAR(glb_map_hello, GLB_MAP_HELLO_KEEPALIVE, U32, 0, "keepalive", keepalive, GLB_MAP_KEEPALIVE_MIN,
           GLB_MAP_KEEPALIVE_MAX, GLB_MAP_KEEPALIVE_DEFAULT),
    OPTIONAL(glb_map_hello, GLB_MAP_HELLO_SERIAL, U64, "serial", serial, has_serial, 0, UINT64_MAX),
    POINTER(glb_map_hello, GLB_MAP_HELLO_SOFTWARE, STR, 0, "software", software, GLB_MAP_MAX_STRING),
};

static const glb_map_field register_fields[] = {
    POINTER(glb_map_register, GLB_MAP_REG_NODE_ID, ID, REQ, "node-id", node_id, GLB_MAP_MAX_ID),
    SCALAR(glb_map_register, GLB_MAP_REG_SEQUENCE, U64, REQ, "sequence", sequence, 1, UINT64_MAX, 0),
    SCALAR(glb_map_register, GLB_MAP_REG_LIFETIME, U32, REQ, "lifetime", lifetime, 0, GLB_MAP_MAX_LIFETIME, 0),
    REPEATED(glb_map_register, GLB_MAP_REG_DNS_ADDR, ADDR, "dns-addr", dns, ndns, GLB_MAP_MAX_ADDRS, NULL),
    REPEATED(glb_map_register, GLB_MAP_REG_PROXY_ADDR, ADDR, "proxy-addr", proxy, nproxy, GLB_MAP_MAX_ADDRS, NULL),
    REPEATED(glb_map_register, GLB_MAP_REG_CLAIM, CLAIM, "claim", claims, nclaims, GLB_MAP_MAX_CLAIMS, NULL),
    OPTIONAL(glb_map_register, GLB_MAP_REG_LOCATION, LOC, "location", location, has_location, 0, 0),
};

static int ack_check(const void *obj, const char **why)
{
    const glb_map_register_ack *a = obj;
    if (a->naccepted + a->nrejected > GLB_MAP_MAX_CLAIMS) {
        *why = "more than 4096 accepted + rejected claims";
        return GLB_MAP_E_LIMIT;
    }
    return GLB_MAP_OK;
}

static const glb_map_field ack_fields[] = {
    SCALAR(glb_map_register_ack, GLB_MAP_ACK_SEQUENCE, U64, REQ, "sequence", sequence, 1, UINT64_MAX, 0),
    SCALAR(glb_map_register_ack, GLB_MAP_ACK_LIFETIME, U32, REQ, "lifetime", lifetime, 0, GLB_MAP_MAX_LIFETIME, 0),
    REPEATED(glb_map_register_ack, GLB_MAP_ACK_ACCEPTED, CLAIM, "accepted", accepted, naccepted,
             GLB_MAP_MAX_CLAIMS, NULL),
    REPEATED(glb_map_register_ack, GLB_MAP_ACK_REJECTED, REJECT, "rejected", rejected, nrejected,
             GLB_MAP_MAX_CLAIMS, NULL),
};

static int site_check(const void *obj, const char **why)
{
    const glb_map_site *s = obj;
    if (s->naddrs == 0 && !s->host) {
        *why = "site without address or host";
        return GLB_MAP_E_MALFORMED;
    }
    return GLB_MAP_OK;
}

static const glb_map_field site_fields[] = {
    POINTER(glb_map_site, GLB_MAP_SITE_NAME, ID, REQ, "name", name, GLB_MAP_MAX_ID),
    REPEATED(glb_map_site, GLB_MAP_SITE_ADDR, ADDR, "addr", addrs, naddrs, GLB_MAP_MAX_ADDRS, NULL),
    POINTER(glb_map_site, GLB_MAP_SITE_HOST, NAME, 0, "host", host, GLB_MAP_MAX_NAME),
    SCALAR(glb_map_site, GLB_MAP_SITE_WEIGHT, U32, 0, "weight", weight, 0, GLB_MAP_MAX_WEIGHT, 1),
    SCALAR(glb_map_site, GLB_MAP_SITE_COST, U32, 0, "cost", cost, 0, UINT32_MAX, 0),
    OPTIONAL(glb_map_site, GLB_MAP_SITE_LOCATION, LOC, "location", location, has_location, 0, 0),
    POINTER(glb_map_site, GLB_MAP_SITE_CHECK, STR, 0, "check", check, GLB_MAP_MAX_STRING),
    SCALAR(glb_map_site, GLB_MAP_SITE_CHECK_VERIFY, BOOL, 0, "check-verify", check_verify, 0, 1, 1),
};
static const glb_map_schema site_schema = SCHEMA("site", glb_map_site, site_fields, site_check);

static const glb_map_field service_fields[] = {
    POINTER(glb_map_service, GLB_MAP_SVC_NAME, NAME, REQ, "name", name, GLB_MAP_MAX_NAME),
    SCALAR(glb_map_service, GLB_MAP_SVC_MODE, U8, 0, "mode", mode, 0, 2, GLB_MAP_MODE_REFERRAL),
    SCALAR(glb_map_service, GLB_MAP_SVC_TTL_REFERRAL, U32, 0, "ttl-referral", ttl_referral, 0, GLB_MAP_MAX_TTL,
           3600),
    SCALAR(glb_map_service, GLB_MAP_SVC_TTL_ANSWER, U32, 0, "ttl-answer", ttl_answer, 0, GLB_MAP_MAX_TTL, 300),
    SCALAR(glb_map_service, GLB_MAP_SVC_POLICY, U8, 0, "policy", policy, 0, 3, GLB_MAP_POLICY_LATENCY),
    SCALAR(glb_map_service, GLB_MAP_SVC_ANSWER_COUNT, U16, 0, "answer-count", answer_count, 1,
           GLB_MAP_MAX_ANSWER_COUNT, 2),
    SCALAR(glb_map_service, GLB_MAP_SVC_MARGIN, U32, 0, "margin", margin, 0, GLB_MAP_MAX_MARGIN, 100000),
    SCALAR(glb_map_service, GLB_MAP_SVC_W_LATENCY, U32, 0, "w-latency", w_latency, 0, UINT32_MAX, 1000000),
    SCALAR(glb_map_service, GLB_MAP_SVC_W_COST, U32, 0, "w-cost", w_cost, 0, UINT32_MAX, 0),
    SCALAR(glb_map_service, GLB_MAP_SVC_W_DISTANCE, U32, 0, "w-distance", w_distance, 0, UINT32_MAX, 0),
    REPEATED(glb_map_service, GLB_MAP_SVC_SITE, CONT, "site", sites, nsites, GLB_MAP_MAX_SITES, &site_schema),
    SCALAR(glb_map_service, GLB_MAP_SVC_MARGIN_ABS, U32, 0, "margin-abs", margin_abs, 0, GLB_MAP_MAX_MARGIN_ABS,
           GLB_MAP_MARGIN_ABS_DEFAULT),
};
static const glb_map_schema service_schema = SCHEMA("service", glb_map_service, service_fields, NULL);

static int services_check(const void *obj, const char **why)
{
    const glb_map_services *s = obj;
    if (s->kind == GLB_MAP_SERVICES_FULL) {
        if (s->has_base) {
            *why = "full SERVICES with a base serial";
            return GLB_MAP_E_MALFORMED;
        }
        if (s->nremoved) {
            *why = "full SERVICES with removals";
            return GLB_MAP_E_MALFORMED;
        }
    } else {
        if (!s->has_base) {
            *why = "delta SERVICES without a base serial";
            return GLB_MAP_E_MALFORMED;
        }
        if (s->base >= s->serial) {
            *why = "delta base serial not below the serial";
            return GLB_MAP_E_MALFORMED;
        }
    }
    return GLB_MAP_OK;
}

static const glb_map_field services_fields[] = {
    SCALAR(glb_map_services, GLB_MAP_SVCS_SERIAL, U64, REQ, "serial", serial, 1, UINT64_MAX, 0),
    SCALAR(glb_map_services, GLB_MAP_SVCS_KIND, U8, REQ, "kind", kind, 1, 2, 0),
    OPTIONAL(glb_map_services, GLB_MAP_SVCS_BASE, U64, "base", base, has_base, 0, UINT64_MAX),
    SCALAR(glb_map_services, GLB_MAP_SVCS_PART, U32, 0, "part", part, 0, GLB_MAP_MAX_PARTS - 1, 0),
    SCALAR(glb_map_services, GLB_MAP_SVCS_MORE, BOOL, 0, "more", more, 0, 1, 0),
    REPEATED(glb_map_services, GLB_MAP_SVCS_SERVICE, CONT, "service", services, nservices, GLB_MAP_MAX_SERVICES,
             &service_schema),
    REPEATED(glb_map_services, GLB_MAP_SVCS_REMOVE, NAME, "remove", removed, nremoved, GLB_MAP_MAX_SERVICES, NULL),
};

static const glb_map_field ranked_fields[] = {
    POINTER(glb_map_ranked, GLB_MAP_RSITE_NAME, ID, REQ, "name", site, GLB_MAP_MAX_ID),
    SCALAR(glb_map_ranked, GLB_MAP_RSITE_SCORE, U32, 0, "score", score, 0, UINT32_MAX, GLB_MAP_SCORE_NONE),
};
static const glb_map_schema ranked_schema = SCHEMA("site", glb_map_ranked, ranked_fields, NULL);

static int entry_check(const void *obj, const char **why)
{
    const glb_map_ranking_entry *e = obj;
    if (e->nsites && e->share > e->nsites) {
        *why = "share larger than the number of sites";
        return GLB_MAP_E_MALFORMED;
    }
    return GLB_MAP_OK;
}

static const glb_map_field entry_fields[] = {
    POINTER(glb_map_ranking_entry, GLB_MAP_RENT_SERVICE, NAME, REQ, "service", service, GLB_MAP_MAX_NAME),
    SCALAR(glb_map_ranking_entry, GLB_MAP_RENT_SHARE, U16, 0, "share", share, 1, GLB_MAP_MAX_SITES, 1),
    REPEATED(glb_map_ranking_entry, GLB_MAP_RENT_SITE, CONT, "site", sites, nsites, GLB_MAP_MAX_SITES,
             &ranked_schema),
};
static const glb_map_schema entry_schema = SCHEMA("entry", glb_map_ranking_entry, entry_fields, entry_check);

static const glb_map_field ranking_fields[] = {
    SCALAR(glb_map_ranking, GLB_MAP_RANK_SERIAL, U64, 0, "serial", serial, 0, UINT64_MAX, 0),
    REPEATED(glb_map_ranking, GLB_MAP_RANK_ENTRY, CONT, "entry", entries, nentries, GLB_MAP_MAX_SERVICES,
             &entry_schema),
};

static const glb_map_field metric_fields[] = {
    POINTER(glb_map_metric, GLB_MAP_METRIC_SITE, ID, REQ, "site", site, GLB_MAP_MAX_ID),
    POINTER(glb_map_metric, GLB_MAP_METRIC_SERVICE, NAME, 0, "service", service, GLB_MAP_MAX_NAME),
    SCALAR(glb_map_metric, GLB_MAP_METRIC_LATENCY, U32, REQ, "latency", latency, 0, UINT32_MAX, 0),
    SCALAR(glb_map_metric, GLB_MAP_METRIC_LOSS, U32, REQ, "loss", loss, 0, GLB_MAP_MAX_LOSS, 0),
    SCALAR(glb_map_metric, GLB_MAP_METRIC_SAMPLES, U32, REQ, "samples", samples, 0, UINT32_MAX, 0),
    SCALAR(glb_map_metric, GLB_MAP_METRIC_TIME, U64, REQ, "time", time, 0, UINT64_MAX, 0),
    SCALAR(glb_map_metric, GLB_MAP_METRIC_STATE, U8, 0, "state", state, 0, 2, GLB_MAP_STATE_UNKNOWN),
};
static const glb_map_schema metric_schema = SCHEMA("metric", glb_map_metric, metric_fields, NULL);

static const glb_map_field metrics_fields[] = {
    REPEATED(glb_map_metrics, GLB_MAP_MET_METRIC, CONT, "metric", metrics, nmetrics, GLB_MAP_MAX_METRICS,
             &metric_schema),
};

static const glb_map_field keepalive_fields[] = {
    SCALAR(glb_map_keepalive, GLB_MAP_KA_NONCE, U64, REQ, "nonce", nonce, 0, UINT64_MAX, 0),
    SCALAR(glb_map_keepalive, GLB_MAP_KA_REPLY, BOOL, 0, "reply", reply, 0, 1, 0),
};

static const glb_map_field bye_fields[] = {
    SCALAR(glb_map_bye, GLB_MAP_BYE_REASON, U8, REQ, "reason", reason, 0, 255, 0),
    POINTER(glb_map_bye, GLB_MAP_BYE_TEXT, STR, 0, "text", text, GLB_MAP_MAX_STRING),
};

static const glb_map_field error_fields[] = {
    SCALAR(glb_map_error_msg, GLB_MAP_ERR_CODE, U16, REQ, "code", code, 1, 65535, 0),
    POINTER(glb_map_error_msg, GLB_MAP_ERR_TEXT, STR, 0, "text", text, GLB_MAP_MAX_STRING),
    OPTIONAL(glb_map_error_msg, GLB_MAP_ERR_REF_TYPE, U8, "ref-type", ref_type, has_ref_type, 0, 255),
};

static const glb_map_schema schemas[GLB_MAP_TYPE_MAX + 1] = {
    [GLB_MAP_HELLO] = SCHEMA("HELLO", glb_map_hello, hello_fields, NULL),
    [GLB_MAP_REGISTER] = SCHEMA("REGISTER", glb_map_register, register_fields, NULL),
    [GLB_MAP_REGISTER_ACK] = SCHEMA("REGISTER_ACK", glb_map_register_ack, ack_fields, ack_check),
    [GLB_MAP_SERVICES] = SCHEMA("SERVICES", glb_map_services, services_fields, services_check),
    [GLB_MAP_RANKING] = SCHEMA("RANKING", glb_map_ranking, ranking_fields, NULL),
    [GLB_MAP_METRICS] = SCHEMA("METRICS", glb_map_metrics, metrics_fields, NULL),
    [GLB_MAP_KEEPALIVE] = SCHEMA("KEEPALIVE", glb_map_keepalive, keepalive_fields, NULL),
    [GLB_MAP_BYE] = SCHEMA("BYE", glb_map_bye, bye_fields, NULL),
    [GLB_MAP_ERROR] = SCHEMA("ERROR", glb_map_error_msg, error_fields, NULL),
};

const glb_map_schema *glb_map_schema_of(unsigned type)
{
    if (type == 0 || type > GLB_MAP_TYPE_MAX)
        return NULL;
    return &schemas[type];
}

size_t glb_map_elem_size(const glb_map_field *f)
{
    switch (f->kind) {
    case GLB_MAP_K_ADDR: return sizeof(glb_addr);
    case GLB_MAP_K_CLAIM: return sizeof(glb_map_claim);
    case GLB_MAP_K_REJECT: return sizeof(glb_map_reject);
    case GLB_MAP_K_NAME: return sizeof(const uint8_t *);
    case GLB_MAP_K_CONT: return f->sub->size;
    default: return 0; /* no other kind repeats */
    }
}

/* ---- Defaults --------------------------------------------------------- */

void glb_map_schema_defaults(const glb_map_schema *s, void *obj)
{
    memset(obj, 0, s->size);
    for (size_t i = 0; i < s->nfields; i++) {
        const glb_map_field *f = &s->fields[i];
        uint8_t *p = (uint8_t *)obj + f->off;
        if (f->flags & GLB_MAP_F_REP || f->has != NOHAS)
            continue;
        switch (f->kind) {
        case GLB_MAP_K_U8:
        case GLB_MAP_K_BOOL: *p = (uint8_t)f->def; break;
        case GLB_MAP_K_U16: { uint16_t v = (uint16_t)f->def; memcpy(p, &v, sizeof(v)); break; }
        case GLB_MAP_K_U32: { uint32_t v = (uint32_t)f->def; memcpy(p, &v, sizeof(v)); break; }
        case GLB_MAP_K_U64: memcpy(p, &f->def, sizeof(uint64_t)); break;
        default: break;
        }
    }
}

void glb_map_service_defaults(glb_map_service *s)
{
    glb_map_schema_defaults(&service_schema, s);
}

void glb_map_site_defaults(glb_map_site *s)
{
    glb_map_schema_defaults(&site_schema, s);
}

void glb_map_hello_defaults(glb_map_hello *h)
{
    glb_map_schema_defaults(&schemas[GLB_MAP_HELLO], h);
    h->version = GLB_MAP_VERSION;
}

int glb_map_keepalive_echo(const glb_map_msg *in, glb_map_msg *r)
{
    if (in->type != GLB_MAP_KEEPALIVE || in->u.keepalive.reply)
        return -1;
    memset(r, 0, sizeof(*r));
    r->type = GLB_MAP_KEEPALIVE;
    r->u.keepalive.nonce = in->u.keepalive.nonce;
    r->u.keepalive.reply = 1;
    return 0;
}

/* ---- Frames ----------------------------------------------------------- */

int glb_map_frame_check(const uint8_t *buf, size_t len, size_t *n)
{
    *n = 0;
    if (len >= 1 && buf[0] != GLB_MAP_VERSION)
        return -GLB_MAP_E_BAD_VERSION;
    if (len < GLB_MAP_HEADER_LEN) {
        *n = GLB_MAP_HEADER_LEN - len;
        return GLB_MAP_FRAME_NEED;
    }
    uint32_t plen = glb_map_get32(buf + 4);
    if (plen > GLB_MAP_MAX_PAYLOAD)
        return -GLB_MAP_E_LIMIT;
    size_t total = GLB_MAP_HEADER_LEN + (size_t)plen;
    if (len < total) {
        *n = total - len;
        return GLB_MAP_FRAME_NEED;
    }
    *n = total;
    return GLB_MAP_FRAME_READY;
}

int glb_map_fail(glb_map_error *err, unsigned type, const glb_map_path *path, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    err->type = (uint8_t)type;
    size_t n = 0, cap = sizeof(err->text);
    int w = snprintf(err->text, cap, "%s: ", type ? glb_map_type_name(type) : "frame");
    n = w > 0 && (size_t)w < cap ? (size_t)w : cap - 1;
    unsigned depth = path ? path->depth : 0;
    for (unsigned i = 0; i < depth && i < GLB_MAP_PATH_DEPTH && n < cap - 1; i++) {
        if (path->at[i].idx >= 0)
            w = snprintf(err->text + n, cap - n, "%s%s[%ld]", i ? "." : "", path->at[i].name, path->at[i].idx);
        else
            w = snprintf(err->text + n, cap - n, "%s%s", i ? "." : "", path->at[i].name);
        n += w > 0 && (size_t)w < cap - n ? (size_t)w : cap - 1 - n;
    }
    if (depth && n < cap - 2) {
        memcpy(err->text + n, ": ", 3);
        n += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text + n, cap - n, fmt, ap);
    va_end(ap);
    return code;
}

/* ---- Checks shared by both directions --------------------------------- */

int glb_map_id_valid(const char *s)
{
    size_t n = strnlen(s, GLB_MAP_MAX_ID + 1);
    if (n == 0 || n > GLB_MAP_MAX_ID || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

size_t glb_map_name_len(const uint8_t *n, size_t max)
{
    if (max > GLB_MAP_MAX_NAME)
        max = GLB_MAP_MAX_NAME;
    size_t i = 0;
    while (i < max) {
        uint8_t l = n[i];
        if (l == 0)
            return i == 0 ? 0 : i + 1; /* the root alone is no service name */
        if (l > GLB_MAP_MAX_LABEL)
            return 0; /* also compression pointers and extended label types */
        i += 1 + (size_t)l;
    }
    return 0;
}

static size_t family_bytes(int family)
{
    return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

const char *glb_map_addr_check(const glb_addr *a)
{
    return family_bytes(a->family) ? NULL : "address family not v4 or v6";
}

const char *glb_map_prefix_check(const glb_prefix *p)
{
    size_t nb = family_bytes(p->family);
    if (!nb)
        return "prefix family not v4 or v6";
    if (p->len > nb * 8)
        return "prefix length out of range";
    for (size_t i = 0; i < nb; i++) {
        unsigned bit = (unsigned)i * 8;
        uint8_t keep = bit >= p->len ? 0 : p->len - bit >= 8 ? 0xff : (uint8_t)(0xff << (8 - (p->len - bit)));
        if (p->b[i] & (uint8_t)~keep)
            return "prefix host bits not zero";
    }
    return NULL;
}

const char *glb_map_claim_check(const glb_map_claim *c)
{
    if (c->kind < GLB_MAP_CLAIM_RESOLVER || c->kind > GLB_MAP_CLAIM_CLIENT)
        return "unknown claim kind";
    return glb_map_prefix_check(&c->prefix);
}

int glb_map_prefix_within(const glb_prefix *inner, const glb_prefix *outer)
{
    size_t nb = family_bytes(outer->family);
    if (!nb || inner->family != outer->family || outer->len > inner->len || outer->len > nb * 8)
        return 0;
    unsigned full = outer->len / 8, rest = outer->len % 8;
    if (memcmp(inner->b, outer->b, full) != 0)
        return 0;
    if (rest) {
        uint8_t mask = (uint8_t)(0xff << (8 - rest));
        if ((inner->b[full] & mask) != (outer->b[full] & mask))
            return 0;
    }
    return 1;
}

/* ---- Names ------------------------------------------------------------ */

static const char *pick(const char *const *names, size_t n, unsigned v)
{
    return v < n && names[v] ? names[v] : "unknown";
}

#define PICK(arr, v) pick(arr, sizeof(arr) / sizeof(arr[0]), v)

const char *glb_map_type_name(unsigned type)
{
    static const char *const names[] = {NULL, "HELLO", "REGISTER", "REGISTER_ACK", "SERVICES",
                                        "RANKING", "METRICS", "KEEPALIVE", "BYE", "ERROR"};
    return PICK(names, type);
}

const char *glb_map_code_name(int code)
{
    static const char *const names[] = {"ok", "bad-version", "malformed", "unauthorized", "limit",
                                        "internal", "unsupported", "unexpected", "timeout"};
    if (code == GLB_MAP_E_NOSPACE)
        return "no-space";
    return code < 0 ? "unknown" : PICK(names, (unsigned)code);
}

const char *glb_map_role_name(unsigned role)
{
    static const char *const names[] = {NULL, "lb", "dnsb", "mservice"};
    return PICK(names, role);
}

const char *glb_map_reject_name(unsigned reason)
{
    static const char *const names[] = {NULL, "not-allowed", "too-many", "bad-prefix",
                                        "duplicate", "stale", "bad-address"};
    return PICK(names, reason);
}

const char *glb_map_bye_name(unsigned reason)
{
    static const char *const names[] = {NULL, "shutdown", "restart", "idle", "replaced", "resync"};
    return PICK(names, reason);
}

const char *glb_map_claim_kind_name(unsigned kind)
{
    static const char *const names[] = {NULL, "resolver", "egress", "client"};
    return PICK(names, kind);
}

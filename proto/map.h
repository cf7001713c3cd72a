/* The map protocol codec (proto/PROTOCOL.md): frames, messages, limits.
 * Pure functions over byte buffers: no sockets, no TLS, no allocation.
 *
 * Decoding: glb_map_msg_init() gives a message an arena (caller memory);
 * glb_map_decode() validates a whole frame and fills the message. Every
 * string, name and list of a decoded message lives in that arena, never in
 * the frame: the frame buffer may be reused at once, the message stays valid
 * until the next decode into the same glb_map_msg (or until the arena is
 * freed). An arena of GLB_MAP_ARENA_FOR(frame length) bytes always suffices;
 * one arena per thread is enough when each message is handled before the
 * next is decoded.
 *
 * Encoding: the caller fills a message struct whose pointers point at its own
 * memory; the encoder checks every field against the same rules the decoder
 * applies (so whatever encodes, decodes) and writes one frame.
 *
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_PROTO_MAP_H
#define GLB_PROTO_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "shared/addr.h"

/* ---- Limits (PROTOCOL.md §6) ------------------------------------------ */

#define GLB_MAP_VERSION 1
#define GLB_MAP_HEADER_LEN 8          /* version, type, flags(2), payload length(4) */
#define GLB_MAP_TLV_HEADER_LEN 6      /* tag(2), length(4) */
#define GLB_MAP_MAX_FRAME 1048576u    /* whole frame, header included (1 MiB) */
#define GLB_MAP_MAX_PAYLOAD (GLB_MAP_MAX_FRAME - GLB_MAP_HEADER_LEN)
#define GLB_MAP_MAX_NAME 255          /* DNS name in wire form, root byte included */
#define GLB_MAP_MAX_LABEL 63
#define GLB_MAP_MAX_ID 63             /* node ids and site names: [a-z0-9-], a DNS label */
#define GLB_MAP_MAX_STRING 1024       /* texts and URLs, bytes */
#define GLB_MAP_MAX_ADDRS 16          /* DNS addresses, proxy addresses, addresses per site */
#define GLB_MAP_MAX_CLAIMS 4096       /* claims per REGISTER; accepted + rejected per ACK */
#define GLB_MAP_MAX_SERVICES 1024     /* services (and removals) per SERVICES; entries per RANKING */
#define GLB_MAP_MAX_SITES 256         /* sites per service; ranked sites per RANKING entry */
#define GLB_MAP_MAX_METRICS 4096      /* metrics per METRICS */
#define GLB_MAP_MAX_PARTS 64          /* frames (parts) of one SERVICES serial */
#define GLB_MAP_MAX_LIFETIME 86400u   /* seconds, REGISTER and REGISTER_ACK */
#define GLB_MAP_MAX_TTL 2147483647u   /* RFC 2181 */
#define GLB_MAP_MAX_ANSWER_COUNT 64
#define GLB_MAP_MAX_WEIGHT 1000000u
#define GLB_MAP_MAX_MARGIN 10000000u  /* ppm: 1000 % */
#define GLB_MAP_MAX_MARGIN_ABS 10000000u /* microseconds: 10 s */
#define GLB_MAP_MARGIN_ABS_DEFAULT 0u    /* microseconds: none, the relative margin alone */
#define GLB_MAP_MAX_LOSS 1000000u     /* ppm: 100 % */
#define GLB_MAP_MAX_LAT 90000000      /* micro-degrees */
#define GLB_MAP_MAX_LON 180000000

/* Session timers (PROTOCOL.md §5), seconds. */
#define GLB_MAP_HELLO_TIMEOUT 10      /* TLS done -> both HELLOs exchanged */
#define GLB_MAP_KEEPALIVE_DEFAULT 30
#define GLB_MAP_KEEPALIVE_MIN 5
#define GLB_MAP_KEEPALIVE_MAX 3600
#define GLB_MAP_IDLE_FACTOR 3         /* idle timeout = 3 x keepalive interval */

/* Arena bytes that always suffice to decode a frame of len bytes, valid or
 * not. Every array slot is paid for by at least the smallest wire form of
 * its item (a site: 64 bytes of struct for >= 13 wire bytes), strings and
 * names by their own bytes: under 6 per frame byte. */
#define GLB_MAP_ARENA_FOR(len) ((size_t)(len) * 6 + 256)
#define GLB_MAP_ARENA_MAX GLB_MAP_ARENA_FOR(GLB_MAP_MAX_FRAME)

/* ---- Codes ------------------------------------------------------------ */

/* Message types (frame header byte 1). */
enum glb_map_type {
    GLB_MAP_HELLO = 1,
    GLB_MAP_REGISTER = 2,
    GLB_MAP_REGISTER_ACK = 3,
    GLB_MAP_SERVICES = 4,
    GLB_MAP_RANKING = 5,
    GLB_MAP_METRICS = 6,
    GLB_MAP_KEEPALIVE = 7,
    GLB_MAP_BYE = 8,
    GLB_MAP_ERROR = 9,
};
#define GLB_MAP_TYPE_MAX 9

/* Results of the codec, and the codes of ERROR messages (1..8 go on the
 * wire; GLB_MAP_E_NOSPACE is local only). */
enum glb_map_code {
    GLB_MAP_OK = 0,
    GLB_MAP_E_BAD_VERSION = 1,  /* frame version not spoken: send ERROR, close */
    GLB_MAP_E_MALFORMED = 2,    /* framing, field length, value, missing/duplicate field */
    GLB_MAP_E_UNAUTHORIZED = 3, /* identity may not do this (decided by the daemon) */
    GLB_MAP_E_LIMIT = 4,        /* frame too large, too many items */
    GLB_MAP_E_INTERNAL = 5,     /* the receiver's own failure (e.g. arena too small) */
    GLB_MAP_E_UNSUPPORTED = 6,  /* unknown message type, unknown critical field */
    GLB_MAP_E_UNEXPECTED = 7,   /* message not allowed in this state / for this role */
    GLB_MAP_E_TIMEOUT = 8,      /* HELLO not received in time */
    GLB_MAP_E_NOSPACE = 256,    /* encode: output buffer too small (*len = size needed) */
};

enum glb_map_role { GLB_MAP_ROLE_LB = 1, GLB_MAP_ROLE_DNSB = 2, GLB_MAP_ROLE_MSERVICE = 3 };

/* HELLO capability bits; unknown bits are ignored. */
#define GLB_MAP_CAP_DELTA (1u << 0)   /* understands SERVICES deltas */
#define GLB_MAP_CAP_RANKING (1u << 1) /* sends (lb) / uses (dnsb) RANKING */
#define GLB_MAP_CAP_METRICS (1u << 2) /* sends (mservice) / uses (lb) METRICS */

/* Claim kinds: what a REGISTER asks to be mapped to the sender. */
enum glb_map_claim_kind {
    GLB_MAP_CLAIM_RESOLVER = 1, /* a resolver address/prefix the LB is configured with */
    GLB_MAP_CLAIM_EGRESS = 2,   /* a resolver egress address learned through whoami */
    GLB_MAP_CLAIM_CLIENT = 3,   /* a client subnet (matched against EDNS Client Subnet) */
};

/* Why a claim was rejected (REGISTER_ACK). Unknown values are kept. */
enum glb_map_reject_reason {
    GLB_MAP_REJ_NOT_ALLOWED = 1,  /* outside the identity's allow prefixes */
    GLB_MAP_REJ_TOO_MANY = 2,     /* over the identity's claim quota */
    GLB_MAP_REJ_BAD_PREFIX = 3,   /* refused by policy (too short, special-use) */
    GLB_MAP_REJ_DUPLICATE = 4,    /* same claim twice in the REGISTER */
    GLB_MAP_REJ_STALE = 5,        /* sequence not above the last accepted one */
    GLB_MAP_REJ_BAD_ADDRESS = 6,  /* a DNS/proxy address outside allow-address */
};

/* BYE reasons. Unknown values are kept. */
enum glb_map_bye_reason {
    GLB_MAP_BYE_SHUTDOWN = 1,
    GLB_MAP_BYE_RESTART = 2,
    GLB_MAP_BYE_IDLE = 3,     /* nothing received for the idle timeout */
    GLB_MAP_BYE_REPLACED = 4, /* a newer session of the same identity took over */
    GLB_MAP_BYE_RESYNC = 5,   /* the receiver lost track of SERVICES serials */
};

enum glb_map_services_kind { GLB_MAP_SERVICES_FULL = 1, GLB_MAP_SERVICES_DELTA = 2 };

/* Same values as dnsb's modes and dnslb's policies. */
enum glb_map_mode { GLB_MAP_MODE_REFERRAL = 0, GLB_MAP_MODE_DIRECT = 1, GLB_MAP_MODE_PROXY = 2 };
enum glb_map_policy {
    GLB_MAP_POLICY_LATENCY = 0, GLB_MAP_POLICY_COST = 1,
    GLB_MAP_POLICY_PROXIMITY = 2, GLB_MAP_POLICY_COMBINED = 3,
};

#define GLB_MAP_SCORE_NONE 0xffffffffu /* RANKING: site not measured */

/* Field tags (PROTOCOL.md §4). Bit 15 of a tag on the wire is the critical
 * bit: an unknown field with it set makes the message UNSUPPORTED; an
 * unknown field without it is skipped. */
#define GLB_MAP_TAG_CRITICAL 0x8000u
enum {
    GLB_MAP_HELLO_ROLE = 1, GLB_MAP_HELLO_VERSION = 2, GLB_MAP_HELLO_NODE_ID = 3,
    GLB_MAP_HELLO_CAPS = 4, GLB_MAP_HELLO_WHOAMI = 5, GLB_MAP_HELLO_KEEPALIVE = 6,
    GLB_MAP_HELLO_SERIAL = 7, GLB_MAP_HELLO_SOFTWARE = 8,
};
enum {
    GLB_MAP_REG_NODE_ID = 1, GLB_MAP_REG_SEQUENCE = 2, GLB_MAP_REG_LIFETIME = 3,
    GLB_MAP_REG_DNS_ADDR = 4, GLB_MAP_REG_PROXY_ADDR = 5, GLB_MAP_REG_CLAIM = 6,
    GLB_MAP_REG_LOCATION = 7,
};
enum {
    GLB_MAP_ACK_SEQUENCE = 1, GLB_MAP_ACK_LIFETIME = 2, GLB_MAP_ACK_ACCEPTED = 3,
    GLB_MAP_ACK_REJECTED = 4,
};
enum {
    GLB_MAP_SVCS_SERIAL = 1, GLB_MAP_SVCS_KIND = 2, GLB_MAP_SVCS_BASE = 3,
    GLB_MAP_SVCS_PART = 4, GLB_MAP_SVCS_MORE = 5, GLB_MAP_SVCS_SERVICE = 6,
    GLB_MAP_SVCS_REMOVE = 7,
};
enum { /* inside SERVICE */
    GLB_MAP_SVC_NAME = 1, GLB_MAP_SVC_MODE = 2, GLB_MAP_SVC_TTL_REFERRAL = 3,
    GLB_MAP_SVC_TTL_ANSWER = 4, GLB_MAP_SVC_POLICY = 5, GLB_MAP_SVC_ANSWER_COUNT = 6,
    GLB_MAP_SVC_MARGIN = 7, GLB_MAP_SVC_W_LATENCY = 8, GLB_MAP_SVC_W_COST = 9,
    GLB_MAP_SVC_W_DISTANCE = 10, GLB_MAP_SVC_SITE = 11, GLB_MAP_SVC_MARGIN_ABS = 12,
};
enum { /* inside SITE */
    GLB_MAP_SITE_NAME = 1, GLB_MAP_SITE_ADDR = 2, GLB_MAP_SITE_HOST = 3,
    GLB_MAP_SITE_WEIGHT = 4, GLB_MAP_SITE_COST = 5, GLB_MAP_SITE_LOCATION = 6,
    GLB_MAP_SITE_CHECK = 7, GLB_MAP_SITE_CHECK_VERIFY = 8,
};
enum { GLB_MAP_RANK_SERIAL = 1, GLB_MAP_RANK_ENTRY = 2 };
enum { GLB_MAP_RENT_SERVICE = 1, GLB_MAP_RENT_SHARE = 2, GLB_MAP_RENT_SITE = 3 }; /* ENTRY */
enum { GLB_MAP_RSITE_NAME = 1, GLB_MAP_RSITE_SCORE = 2 };                         /* ranked SITE */
enum { GLB_MAP_MET_METRIC = 1 };
enum { /* inside METRIC */
    GLB_MAP_METRIC_SITE = 1, GLB_MAP_METRIC_SERVICE = 2, GLB_MAP_METRIC_LATENCY = 3,
    GLB_MAP_METRIC_LOSS = 4, GLB_MAP_METRIC_SAMPLES = 5, GLB_MAP_METRIC_TIME = 6, GLB_MAP_METRIC_STATE = 7,
};
enum { GLB_MAP_KA_NONCE = 1, GLB_MAP_KA_REPLY = 2 };
enum { GLB_MAP_BYE_REASON = 1, GLB_MAP_BYE_TEXT = 2 };
enum { GLB_MAP_ERR_CODE = 1, GLB_MAP_ERR_TEXT = 2, GLB_MAP_ERR_REF_TYPE = 3 };

/* ---- Messages --------------------------------------------------------- *
 * Strings (const char *) are NUL-terminated, at most GLB_MAP_MAX_STRING
 * bytes (ids: GLB_MAP_MAX_ID), no NUL inside. Names (const uint8_t *) are
 * uncompressed DNS wire names with at least one label; decoded names are
 * lower-cased. An optional pointer is NULL when absent; an optional scalar
 * has a has_* flag or a documented default. Counts are size_t next to their
 * arrays. */

typedef struct glb_map_location {
    int32_t lat, lon; /* micro-degrees: |lat| <= 90e6, |lon| <= 180e6 */
} glb_map_location;

typedef struct glb_map_hello {
    uint8_t role;             /* GLB_MAP_ROLE_* (required) */
    uint8_t version;          /* highest protocol version spoken, >= 1 (required) */
    const char *node_id;      /* the sender's identity (required) */
    uint64_t caps;            /* GLB_MAP_CAP_* (default 0) */
    const uint8_t *whoami;    /* DNS-B: its whoami zone, e.g. whoami.glb.example.net. */
    uint32_t keepalive;       /* seconds, 5..3600 (default 30) */
    uint8_t has_serial;
    uint64_t serial;          /* client: SERVICES serial it already holds */
    const char *software;     /* e.g. "glb 0.1.0" */
} glb_map_hello;

typedef struct glb_map_claim {
    uint8_t kind;             /* GLB_MAP_CLAIM_* */
    glb_prefix prefix;        /* a resolver address is a /32 or /128 */
} glb_map_claim;

typedef struct glb_map_reject {
    uint8_t reason;           /* GLB_MAP_REJ_*, 1..255 */
    glb_map_claim claim;
} glb_map_reject;

typedef struct glb_map_register {
    const char *node_id;      /* must equal the session identity (required) */
    uint64_t sequence;        /* >= 1, increases with every REGISTER (required) */
    uint32_t lifetime;        /* seconds, 0..86400; 0 withdraws (required) */
    const glb_addr *dns;      /* where the LB answers DNS (port 0 = 53) */
    size_t ndns;
    const glb_addr *proxy;    /* its HTTP proxy (port 0 = 80) */
    size_t nproxy;
    const glb_map_claim *claims;
    size_t nclaims;
    uint8_t has_location;
    glb_map_location location;
} glb_map_register;

typedef struct glb_map_register_ack {
    uint64_t sequence;        /* the REGISTER's (required) */
    uint32_t lifetime;        /* granted, 0..86400; 0 = nothing registered (required) */
    const glb_map_claim *accepted;
    size_t naccepted;
    const glb_map_reject *rejected;
    size_t nrejected;         /* naccepted + nrejected <= GLB_MAP_MAX_CLAIMS */
} glb_map_register_ack;

typedef struct glb_map_site {
    const char *name;         /* id rules (required) */
    const glb_addr *addrs;    /* port ignored (0) */
    size_t naddrs;
    const uint8_t *host;      /* name to resolve; addrs or host or both (>= 1 required) */
    uint32_t weight;          /* 0..1000000 (default 1) */
    uint32_t cost;            /* thousandths (default 0) */
    uint8_t has_location;
    glb_map_location location;
    const char *check;        /* health-check URL */
    uint8_t check_verify;     /* 0/1 (default 1) */
} glb_map_site;

typedef struct glb_map_service {
    const uint8_t *name;      /* required */
    uint8_t mode;             /* GLB_MAP_MODE_* (default referral) */
    uint8_t policy;           /* GLB_MAP_POLICY_* (default latency) */
    uint16_t answer_count;    /* 1..64 (default 2) */
    uint32_t ttl_referral;    /* default 3600 */
    uint32_t ttl_answer;      /* default 300 */
    uint32_t margin;          /* ppm (default 100000 = 10 %) */
    uint32_t margin_abs;      /* microseconds, 0..10000000 (default 0); optional,
                                 added after version 1's first release: older peers skip it */
    uint32_t w_latency, w_cost, w_distance; /* ppm (default 1000000, 0, 0) */
    const glb_map_site *sites;
    size_t nsites;
} glb_map_service;

typedef struct glb_map_services {
    uint64_t serial;          /* >= 1 (required) */
    uint8_t kind;             /* GLB_MAP_SERVICES_FULL / _DELTA (required) */
    uint8_t has_base;         /* required for a delta, forbidden for a full */
    uint64_t base;            /* delta: the serial it applies to (< serial) */
    uint32_t part;            /* 0..63 (default 0) */
    uint8_t more;             /* 1: more parts of this serial follow (default 0) */
    const glb_map_service *services;
    size_t nservices;
    const uint8_t *const *removed; /* delta only: names of removed services */
    size_t nremoved;
} glb_map_services;

typedef struct glb_map_ranked {
    const char *site;         /* required */
    uint32_t score;           /* microseconds, lower is better (default GLB_MAP_SCORE_NONE) */
} glb_map_ranked;

typedef struct glb_map_ranking_entry {
    const uint8_t *service;   /* required */
    uint16_t share;           /* leading sites sharing answers by weight, 1..256 (default 1) */
    const glb_map_ranked *sites; /* best first; none = no ranking for this service */
    size_t nsites;
} glb_map_ranking_entry;

typedef struct glb_map_ranking {
    uint64_t serial;          /* SERVICES serial it was computed for (default 0 = unknown) */
    const glb_map_ranking_entry *entries;
    size_t nentries;
} glb_map_ranking;

typedef struct glb_map_metric {
    const char *site;         /* required */
    const uint8_t *service;   /* optional scope */
    uint32_t latency;         /* microseconds (required) */
    uint32_t loss;            /* ppm, 0..1000000 (required) */
    uint32_t samples;         /* (required) */
    uint64_t time;            /* ms since the Unix epoch (required) */
    uint8_t state;            /* GLB_MAP_STATE_* (default unknown); optional, added after
                                 version 1's first release: older peers skip it */
} glb_map_metric;

/* A site's health in METRICS. */
enum glb_map_state { GLB_MAP_STATE_UNKNOWN = 0, GLB_MAP_STATE_UP = 1, GLB_MAP_STATE_DOWN = 2 };

typedef struct glb_map_metrics {
    const glb_map_metric *metrics;
    size_t nmetrics;
} glb_map_metrics;

typedef struct glb_map_keepalive {
    uint64_t nonce;           /* required */
    uint8_t reply;            /* 0 = request, 1 = echo of a request's nonce (default 0) */
} glb_map_keepalive;

typedef struct glb_map_bye {
    uint8_t reason;           /* GLB_MAP_BYE_* (required) */
    const char *text;
} glb_map_bye;

typedef struct glb_map_error_msg {
    uint16_t code;            /* GLB_MAP_E_*, 1..65535 (required) */
    const char *text;
    uint8_t has_ref_type;
    uint8_t ref_type;         /* type of the offending message */
} glb_map_error_msg;

typedef struct glb_map_msg {
    uint8_t type;             /* enum glb_map_type */
    union {
        glb_map_hello hello;
        glb_map_register reg;
        glb_map_register_ack ack;
        glb_map_services services;
        glb_map_ranking ranking;
        glb_map_metrics metrics;
        glb_map_keepalive keepalive;
        glb_map_bye bye;
        glb_map_error_msg error;
    } u;
    /* decoding arena (glb_map_msg_init) */
    uint8_t *arena;
    size_t arena_cap, arena_used;
} glb_map_msg;

/* What went wrong, for logs and for the ERROR message to send back. */
typedef struct glb_map_error {
    int code;                 /* enum glb_map_code */
    uint8_t type;             /* message type when known, else 0 */
    char text[160];           /* "SERVICES: service[2].site[0].addr[1]: family 5" */
} glb_map_error;

/* ---- Frames ----------------------------------------------------------- */

#define GLB_MAP_FRAME_NEED 0
#define GLB_MAP_FRAME_READY 1

/* Looks at the start of a receive buffer holding len bytes (possibly part
 * of a frame). Returns GLB_MAP_FRAME_READY with the whole frame's length
 * (header included) in *n; GLB_MAP_FRAME_NEED with the number of bytes still
 * missing at least in *n; or a negative code: -GLB_MAP_E_BAD_VERSION (the
 * first byte; answer ERROR bad-version, close) or -GLB_MAP_E_LIMIT (payload
 * length over GLB_MAP_MAX_PAYLOAD, found before any payload is read). */
int glb_map_frame_check(const uint8_t *buf, size_t len, size_t *n);

/* ---- Decoding --------------------------------------------------------- */

/* Sets the arena later decodes into msg use (arena may be NULL when only
 * KEEPALIVEs without strings are expected; others then fail INTERNAL). */
void glb_map_msg_init(glb_map_msg *msg, void *arena, size_t cap);

/* Decodes exactly one frame of len bytes (as delimited by
 * glb_map_frame_check). Returns GLB_MAP_OK, or a code with err filled (err
 * may be NULL): BAD_VERSION, MALFORMED, LIMIT, UNSUPPORTED, or INTERNAL
 * when the arena is too small. The code is the one to send in ERROR. */
int glb_map_decode(const uint8_t *frame, size_t len, glb_map_msg *out, glb_map_error *err);

/* ---- Encoding --------------------------------------------------------- *
 * Writes one frame into buf (cap bytes) and its length into *len. buf may
 * be NULL to only measure. Returns GLB_MAP_OK; GLB_MAP_E_NOSPACE with the
 * size needed in *len; GLB_MAP_E_LIMIT when the frame would exceed
 * GLB_MAP_MAX_FRAME or a count its limit; GLB_MAP_E_MALFORMED when a field
 * is invalid or a required one missing (err names it); GLB_MAP_E_UNSUPPORTED
 * for an unknown msg->type. Names passed in are read up to their root label
 * (at most 255 bytes). */
int glb_map_encode(const glb_map_msg *msg, uint8_t *buf, size_t cap, size_t *len, glb_map_error *err);

int glb_map_encode_hello(const glb_map_hello *m, uint8_t *buf, size_t cap, size_t *len);
int glb_map_encode_register(const glb_map_register *m, uint8_t *buf, size_t cap, size_t *len);
int glb_map_encode_register_ack(const glb_map_register_ack *m, uint8_t *buf, size_t cap, size_t *len);
int glb_map_encode_services(const glb_map_services *m, uint8_t *buf, size_t cap, size_t *len);
int glb_map_encode_ranking(const glb_map_ranking *m, uint8_t *buf, size_t cap, size_t *len);
int glb_map_encode_metrics(const glb_map_metrics *m, uint8_t *buf, size_t cap, size_t *len);
int glb_map_encode_keepalive(const glb_map_keepalive *m, uint8_t *buf, size_t cap, size_t *len);
int glb_map_encode_bye(const glb_map_bye *m, uint8_t *buf, size_t cap, size_t *len);
int glb_map_encode_error(const glb_map_error_msg *m, uint8_t *buf, size_t cap, size_t *len);

/* Bytes one service takes inside a SERVICES frame (its TLV, header
 * included), 0 when it does not encode: for packing a snapshot into parts
 * of at most GLB_MAP_MAX_FRAME. */
size_t glb_map_service_size(const glb_map_service *s);

/* Defaults as the decoder applies them for absent fields. */
void glb_map_service_defaults(glb_map_service *s);
void glb_map_site_defaults(glb_map_site *s);
void glb_map_hello_defaults(glb_map_hello *h);

/* Fills r with the echo of a KEEPALIVE request (PROTOCOL.md §5.4); 0, or -1
 * when in is not a request (a reply, which gets none). */
int glb_map_keepalive_echo(const glb_map_msg *in, glb_map_msg *r);

/* ---- Helpers ---------------------------------------------------------- */

/* 1 when s is a valid node id / site name: 1..63 of [a-z0-9-], not
 * starting or ending with '-' (it doubles as a DNS label). */
int glb_map_id_valid(const char *s);

/* Wire length of the valid DNS name at n (at most max bytes read), or 0
 * when it is not one: labels <= 63, total <= 255, at least one label. */
size_t glb_map_name_len(const uint8_t *n, size_t max);

/* 1 when inner lies within outer (same family, outer.len <= inner.len,
 * leading bits equal): the authorization test of a claim against an
 * identity's allow prefixes. */
int glb_map_prefix_within(const glb_prefix *inner, const glb_prefix *outer);

/* Names for logs ("HELLO", "malformed", "lb", "not-allowed", "idle",
 * "egress"); "unknown" for values without one. */
const char *glb_map_type_name(unsigned type);
const char *glb_map_code_name(int code);
const char *glb_map_role_name(unsigned role);
const char *glb_map_reject_name(unsigned reason);
const char *glb_map_bye_name(unsigned reason);
const char *glb_map_claim_kind_name(unsigned kind);

#endif

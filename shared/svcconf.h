/* The load-balancing keys of a service: section, one copy for dnsb.conf
 * and dnslb.conf (sites are shared/site.h's):
 *   policy: latency | cost | proximity | combined
 *   answer-count: N         ttl-answer: SECONDS
 *   margin: PERCENT         margin-ms: MILLISECONDS
 *   weight-latency: W       weight-cost: W        weight-distance: W
 * A daemon puts GLB_SVC_KEYS() among its schema rows, naming the members of
 * its service struct that receive each value; the rows use the generic
 * glb_cfg_set_* handlers (and glb_svc_set_policy), so ranges, messages and
 * help texts are the same in both files. SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_SVCCONF_H
#define GLB_SVCCONF_H

#include <stddef.h>
#include <stdint.h>

#include "shared/cfg.h"

/* Policies, the values of enum glb_map_policy and enum lb_policy. */
enum { GLB_SVC_LATENCY = 0, GLB_SVC_COST, GLB_SVC_PROXIMITY, GLB_SVC_COMBINED };

/* Defaults of the keys. */
#define GLB_SVC_ANSWER_COUNT 2
#define GLB_SVC_TTL_ANSWER 300
#define GLB_SVC_MARGIN_PCT 10.0
#define GLB_SVC_MARGIN_MS 0.0
#define GLB_SVC_W_LATENCY 1.0

/* Ranges of the keys (inclusive). */
#define GLB_SVC_ANSWER_COUNT_MAX 64
#define GLB_SVC_TTL_MAX 2147483647LL  /* RFC 2181 */
#define GLB_SVC_MARGIN_PCT_MAX 1000   /* percent */
#define GLB_SVC_MARGIN_MS_MAX 10000   /* milliseconds */
#define GLB_SVC_WEIGHT_MAX 1000

/* The values only the DNS-LBs use, for a daemon that keeps them together
 * (dnsb; its answer_count and ttl_answer are its own too). */
typedef struct glb_svc_params {
    int policy;             /* GLB_SVC_* */
    double margin_pct;      /* percent, 0..1000 */
    double margin_ms;       /* milliseconds, 0..10000 */
    double w_latency, w_cost, w_distance; /* 0..1000 each */
} glb_svc_params;

void glb_svc_params_default(glb_svc_params *p);

/* "latency", "cost", "proximity", "combined" -> GLB_SVC_*; -1 when unknown. */
int glb_svc_policy_parse(const char *s);
/* The name of a policy, "unknown" for values without one. */
const char *glb_svc_policy_str(int policy);

/* Handler of 'policy': an int at v->target + row->offset. */
const char *glb_svc_set_policy(void *ctx, const glb_cfg_val *v, char *e, size_t el);

/* The schema rows of section "service" for the keys above. T is the
 * section's target struct; the other arguments name its members (nested
 * members allowed): int, unsigned, uint32_t, then five doubles. */
#define GLB_SVC_KEYS(T, policy, answer_count, ttl_answer, margin_pct, margin_ms, w_latency, w_cost, w_distance) \
    {"service", "policy", GLB_CFG_STR, 0, 0, 0, 0, glb_svc_set_policy,                                           \
     "latency | cost | proximity | combined (default latency)", offsetof(T, policy)},                            \
    {"service", "answer-count", GLB_CFG_INT, 0, 1, GLB_SVC_ANSWER_COUNT_MAX, 0, glb_cfg_set_uint,                \
     "the most sites in an answer (default 2)", offsetof(T, answer_count)},                                                 \
    {"service", "ttl-answer", GLB_CFG_INT, 0, 0, GLB_SVC_TTL_MAX, 0, glb_cfg_set_u32,                            \
     "TTL of address answers (default 300)", offsetof(T, ttl_answer)},                                           \
    {"service", "margin", GLB_CFG_STR, 0, 0, GLB_SVC_MARGIN_PCT_MAX, 0, glb_cfg_set_double,                      \
     "percent: sites this close to the best are answered with it (default 10)", offsetof(T, margin_pct)},     \
    {"service", "margin-ms", GLB_CFG_STR, 0, 0, GLB_SVC_MARGIN_MS_MAX, 0, glb_cfg_set_double,                    \
     "milliseconds: the absolute margin, for scores (default 0)", offsetof(T, margin_ms)},               \
    {"service", "weight-latency", GLB_CFG_STR, 0, 0, GLB_SVC_WEIGHT_MAX, 0, glb_cfg_set_double,                  \
     "combined policy: weight of latency (default 1)", offsetof(T, w_latency)},                                  \
    {"service", "weight-cost", GLB_CFG_STR, 0, 0, GLB_SVC_WEIGHT_MAX, 0, glb_cfg_set_double,                     \
     "combined policy: weight of cost (default 0)", offsetof(T, w_cost)},                                        \
    {"service", "weight-distance", GLB_CFG_STR, 0, 0, GLB_SVC_WEIGHT_MAX, 0, glb_cfg_set_double,                 \
     "combined policy: weight of distance (default 0)", offsetof(T, w_distance)}

/* Compile-time check that the members have the types the handlers write. */
#define GLB_SVC_KEYS_CHECK(T, policy, answer_count, ttl_answer, margin_pct, margin_ms, w_latency, w_cost,       \
                           w_distance)                                                                            \
    _Static_assert(_Generic(((T *)0)->policy, int: 1, default: 0) &&                                              \
                       _Generic(((T *)0)->answer_count, unsigned: 1, default: 0) &&                               \
                       _Generic(((T *)0)->ttl_answer, uint32_t: 1, default: 0) &&                                 \
                       _Generic(((T *)0)->margin_pct, double: 1, default: 0) &&                                   \
                       _Generic(((T *)0)->margin_ms, double: 1, default: 0) &&                                    \
                       _Generic(((T *)0)->w_latency, double: 1, default: 0) &&                                    \
                       _Generic(((T *)0)->w_cost, double: 1, default: 0) &&                                       \
                       _Generic(((T *)0)->w_distance, double: 1, default: 0),                                     \
                   "GLB_SVC_KEYS: a member of " #T " has the wrong type")

#endif

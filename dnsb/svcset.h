/* The service set a DNS-B sends to its DNS-LBs (SERVICES, PROTOCOL.md
 * §10.1): an immutable snapshot of the configuration's services with a
 * serial, and the frames of a full set or of the delta between two
 * snapshots, packed into parts of at most GLB_MAP_MAX_FRAME.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSB_SVCSET_H
#define DNSB_SVCSET_H

#include <stddef.h>
#include <stdint.h>

#include "dnsb/conf.h"

struct evbuffer;

typedef struct dnsb_svcset dnsb_svcset;

/* A snapshot of conf's services (copied: it may outlive conf). NULL when
 * out of memory or when a service does not encode (err says which). */
dnsb_svcset *dnsb_svcset_build(const dnsb_conf *conf, uint64_t serial, char *err, size_t errlen);
void dnsb_svcset_free(dnsb_svcset *s);

uint64_t dnsb_svcset_serial(const dnsb_svcset *s);
size_t dnsb_svcset_count(const dnsb_svcset *s);

/* 1 when a and b hold the same services (serials aside). */
int dnsb_svcset_same(const dnsb_svcset *a, const dnsb_svcset *b);

/* Appends to out the frames that bring a peer holding base to cur: a delta
 * when base is not NULL, else a full set. Returns the number of frames, or
 * -1 (nothing appended) when it cannot be encoded within the limits. */
int dnsb_svcset_frames(const dnsb_svcset *cur, const dnsb_svcset *base, struct evbuffer *out);

#endif

/* The services a DNS-LB receives from the DNS-Bs (dnslb/mapclient.h), as
 * dnslb configuration: a received service is rendered as a dnslb.conf
 * `service:` section and parsed back with the configuration parser (one
 * validator for the file and the network); per DNS-B sets with full and
 * delta application (parts collected, applied atomically); the services
 * file; the effective services. Pure code, no event loop.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_MAPSVC_H
#define DNSLB_MAPSVC_H

#include <stddef.h>
#include <stdint.h>

#include "dnslb/conf.h"
#include "proto/map.h"
#include "shared/dname.h"

/* One received service. */
typedef struct lb_msvc {
    char *text;               /* its service: section, dnslb.conf grammar */
    lb_service_conf conf;     /* the text parsed (owns conf.sites) */
} lb_msvc;

/* The set of one DNS-B, sorted by name. */
typedef struct lb_svcset {
    uint64_t serial;          /* 0 = nothing held (HELLO announces none) */
    lb_msvc *svc;
    size_t n;
} lb_svcset;

/* A SERVICES set being received (its parts so far). */
typedef struct lb_svcupd {
    int active;
    uint8_t kind;
    uint64_t serial, base;
    uint32_t next_part;
    uint8_t more;             /* the last part taken said more follow */
    lb_msvc *svc;             /* converted services of the parts so far */
    size_t n;
    uint8_t (*gone)[GLB_DNAME_MAX]; /* delta: removed names, and names we could not take */
    size_t ngone;
    unsigned skipped;         /* services we could not take */
} lb_svcupd;

/* Renders s as a service: section (malloc'd text) or NULL with err when
 * dnslb cannot write it (a value the grammar cannot carry). A site with
 * addresses and a host name keeps its addresses. */
char *lb_msvc_render(const glb_map_service *s, char *err, size_t errlen);

/* Parses a service: section text (exactly one service) into out, with the
 * checks of dnslb.conf (proximity's location is checked later, by
 * lb_svc_effective). origin names the source in messages. Takes a copy of
 * text. 0, or -1 with err. */
int lb_msvc_parse(const char *text, const char *origin, lb_msvc *out, char *err, size_t errlen);

/* Render + parse. */
int lb_msvc_from_map(const glb_map_service *s, const char *origin, lb_msvc *out, char *err, size_t errlen);

void lb_msvc_free(lb_msvc *m);
void lb_svcset_clear(lb_svcset *set);  /* frees the services; serial 0 */
void lb_svcupd_clear(lb_svcupd *u);

/* Takes one SERVICES frame into u. Returns GLB_MAP_OK, or the ERROR code to
 * send (GLB_MAP_E_UNEXPECTED: a part out of order; GLB_MAP_E_MALFORMED: a
 * name twice in the set, a site name twice in a service) with err; u is
 * cleared then. Services dnslb cannot take are logged, counted in
 * u->skipped and (for a delta) removed. */
int lb_svcupd_add(lb_svcupd *u, const glb_map_services *m, const char *origin, char *err, size_t errlen);

/* Orders lb_msvc by service name, for qsort and bsearch. */
int lb_msvc_cmp(const void *a, const void *b);

/* 1 when u holds a whole set (the last part arrived). */
int lb_svcupd_complete(const lb_svcupd *u);

/* Applies a complete u to set and clears u. Returns 0 when applied, 1 when
 * it is a delta whose base is not set->serial (nothing changed: resync). */
int lb_svcset_commit(lb_svcset *set, lb_svcupd *u);

/* The services file (format in dnslb/mapclient.h; in svcfile.c). */
typedef struct lb_svcfile_block {
    glb_addr server;          /* the map-server, as configured */
    char id[64];              /* its node id ("" unknown) */
    lb_svcset set;
} lb_svcfile_block;

/* Writes the blocks atomically (temporary file, fsync, rename). 0, or -1
 * with err. Blocks without a serial and without services are left out. */
int lb_svcfile_write(const char *path, const lb_svcfile_block *blocks, size_t n, char *err, size_t errlen);

/* Reads path into blocks[] (nblocks, their server set by the caller: the
 * configured map-servers; the rest is filled). Blocks of other servers are
 * ignored; a block with a bad service keeps its good ones and serial 0. A
 * missing file is no error (nothing read). 0, or -1 with err when the file
 * cannot be read or is not a services file (nothing read). */
int lb_svcfile_read(const char *path, lb_svcfile_block *blocks, size_t nblocks, char *err, size_t errlen);

/* A new configuration: local's settings, with the union of sets[] (earlier
 * sets win a name; a service that equals or nests with one of local's or
 * with one taken is left out: local services override received ones;
 * proximity services need local's location) followed by all of local's
 * services. NULL with err when out of memory.
 * *nreceived (may be NULL) gets the number of received services taken. */
lb_conf *lb_svc_effective(const lb_svcset *const *sets, size_t nsets, const lb_conf *local, size_t *nreceived,
                          char *err, size_t errlen);

/* Distinct service names over sets[] (the received services, before the
 * rules of lb_svc_effective). */
size_t lb_svc_union_count(const lb_svcset *const *sets, size_t nsets);

#endif

/* The answer table: everything a query needs, built once from the
 * configuration (and later from registrations), then published to the query
 * threads and only read. Rebuilt and swapped as a whole, never edited.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSB_TABLE_H
#define DNSB_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "dnsb/conf.h"
#include "shared/lpm.h"
#include "shared/nametab.h"

/* What a name we know is. */
enum dnsb_name_kind {
    DNSB_NAME_ZONE,    /* a zone apex: the DNS-B zone or a delegated service */
    DNSB_NAME_SERVICE, /* a load-balanced name (may also be an apex) */
    DNSB_NAME_WHOAMI,  /* <anything>.whoami TXT */
    DNSB_NAME_NSHOST,  /* a zone-ns host name with an address */
    DNSB_NAME_ENT      /* an empty non-terminal: exists, holds nothing */
};

typedef struct dnsb_name {
    uint8_t kind;
    uint32_t index; /* service index for SERVICE; zone-ns index for NSHOST */
    uint32_t zone;  /* the apex it belongs to (index into zones) */
} dnsb_name;

typedef struct dnsb_zone {
    const uint8_t *apex;
    uint32_t serial;
} dnsb_zone;

typedef struct dnsb_service {
    const dnsb_service_conf *conf;
    int apex;               /* the service name is its own zone apex */
    uint32_t zone;
    uint32_t *by_weight;    /* site indices, heaviest first (fail-open order) */
} dnsb_service;

typedef struct dnsb_lb {
    const dnsb_lb_conf *conf;
    uint8_t label[64];      /* the id as one wire label: length byte + chars */
    uint32_t **ranking;     /* per service: site indices best first, or NULL */
    size_t *nranking;
} dnsb_lb;

typedef struct dnsb_table {
    dnsb_conf *conf;        /* owned */
    dnsb_name *names;
    size_t nnames;
    glb_nametab *name_index; /* wire name -> index into names */
    glb_nametab *lb_index;   /* wire label -> index into lbs */
    dnsb_zone *zones;
    size_t nzones;
    dnsb_service *services;
    dnsb_lb *lbs;
    /* Resolver mapping: prefix -> LB set; a set is sets[first .. first+count). */
    glb_lpm *map;
    uint32_t *set_members;
    uint32_t (*sets)[2];    /* {first, count} */
    size_t nsets;
} dnsb_table;

/* Builds a table from conf, taking ownership of it (freed with the table,
 * also on failure). Returns NULL with a message in err. */
dnsb_table *dnsb_table_build(dnsb_conf *conf, uint32_t serial, char *err, size_t errlen);

void dnsb_table_free(dnsb_table *t);

/* The LB set mapped to address a looked up with keylen bits (family-relative).
 * Returns the set index or -1 (no mapping); *scope gets the ECS scope. */
long dnsb_table_map(const dnsb_table *t, const glb_addr *a, unsigned keylen, unsigned *scope);

#endif

/* The answer table: the zones and services a query needs, built once from
 * the configuration, then published to the query threads and only read.
 * Rebuilt and swapped as a whole on reload, never edited. Who serves which
 * resolvers is in dnsb/registry.h: it changes far more often.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSB_TABLE_H
#define DNSB_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "dnsb/conf.h"
#include "dnsb/registry.h"
#include "shared/lpm.h"
#include "shared/nametab.h"

/* What a name we know is. */
enum dnsb_name_kind {
    DNSB_NAME_ZONE,    /* a zone apex: the DNS-B zone or a delegated service */
    DNSB_NAME_SERVICE, /* a load-balanced name (may also be an apex) */
    DNSB_NAME_WHOAMI,  /* <anything>.whoami TXT */
    DNSB_NAME_NSHOST,  /* a zone-ns host name with an address */
    DNSB_NAME_STANDBY, /* a standby-ns host name: the addresses of its lines */
    DNSB_NAME_ENT      /* an empty non-terminal: exists, holds nothing */
};

typedef struct dnsb_name {
    uint8_t kind;
    uint32_t index; /* service index for SERVICE; zone-ns index for NSHOST; first standby-ns line for STANDBY */
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

typedef struct dnsb_table {
    dnsb_conf *conf;        /* owned */
    dnsb_name *names;
    size_t nnames;
    glb_nametab *name_index; /* wire name -> index into names */
    dnsb_zone *zones;
    size_t nzones;
    dnsb_service *services;
} dnsb_table;

/* Builds a table from conf, taking ownership of it (freed with the table,
 * also on failure). Returns NULL with a message in err. */
dnsb_table *dnsb_table_build(dnsb_conf *conf, uint32_t serial, char *err, size_t errlen);

void dnsb_table_free(dnsb_table *t);

/* Puts conf's lb sections into reg as static registrations (never expiring)
 * and removes the static ones conf no longer has. 0, or -1 with err. */
int dnsb_table_static_lbs(const dnsb_conf *conf, dnsb_registry *reg, char *err, size_t errlen);

#endif

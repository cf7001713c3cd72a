/* The combined box's answer to a client from a recursive lookup's reply
 * (libunbound's answer packet): re-built record by record for the client's
 * query, so that the client sees its own id, question and flags, names
 * decompressed and compressed again, DNSSEC records only when it set DO,
 * and the answer cut to its UDP size (TC).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_RECANSWER_H
#define DNSLB_RECANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "shared/dnsquery.h"

/* Our EDNS UDP size (DNS flag day 2020). */
#define LB_REC_EDNS_SIZE 1232

/* Writes into out the answer to the client's query qpkt[0..qlen) (already
 * parsed well-formed once) from the upstream reply up[0..uplen); secure: the
 * reply validated (AD for clients that ask); age: seconds the reply has been
 * kept, taken off every TTL. A reply that does not parse, or up NULL, gives
 * SERVFAIL. Returns the length, 0 when nothing can be sent. */
size_t lb_rec_answer(const uint8_t *qpkt, size_t qlen, int tcp, const uint8_t *up, size_t uplen, int secure,
                     uint32_t age, uint8_t *out, size_t outcap);

/* The smallest TTL of the records of a NOERROR or NXDOMAIN reply: how long
 * it may be kept. 0, or -1 when the reply does not parse, is another rcode,
 * or has no record. */
int lb_rec_min_ttl(const uint8_t *up, size_t uplen, uint32_t *ttl);

/* The answer with only rcode (SERVFAIL, REFUSED) to the query qpkt, with RA
 * set. Returns the length, 0 when nothing can be sent. */
size_t lb_rec_error(const uint8_t *qpkt, size_t qlen, int tcp, unsigned rcode, uint8_t *out, size_t outcap);

#endif

/* The DNS-B's persistent registration table (DESIGN §4, PROTOCOL.md §9):
 * an LMDB environment so that a restart (also after kill -9) serves the
 * same mappings at once, then expires the ones not refreshed in time.
 *
 * Layout: two named databases in the environment directory.
 *   "regs": key = the DNS-LB id (its certificate CN), value = a versioned
 *           record: "glbr", format 1, 3 zero bytes, the absolute expiry
 *           (u64 ms since the epoch, big-endian), then the REGISTER frame
 *           of the accepted registration exactly as glb_map_encode writes
 *           it (node-id, sequence, granted lifetime, addresses, accepted
 *           claims with their kinds, location). Loading checks the header,
 *           re-runs the codec's decoder over the frame and compares node-id
 *           with the key: a record that fails is logged and deleted, never
 *           trusted.
 *   "seqs": key = id, value = the last accepted sequence (u64) and when it
 *           was written (u64 ms). Kept after a withdrawal or an expiry, so
 *           that a replayed older REGISTER stays stale across restarts;
 *           pruned after DNSB_STORE_SEQ_KEEP seconds without a change.
 *
 * Writes are queued and committed in one transaction at most every
 * DNSB_STORE_COMMIT_MS (a timer on the event loop, see dnsb_store_attach),
 * so a burst of registrations costs one fsync, not one each.
 *
 * Durability: the environment is opened with MDB_NOMETASYNC: each commit
 * fsyncs the data pages but not the meta page. A killed process (kill -9)
 * loses nothing that was committed (the pages are in the kernel); a system
 * crash may undo the last transaction but never corrupts the database.
 * What may be lost is at most the last DNSB_STORE_COMMIT_MS of changes,
 * which the DNS-LBs repeat at their next refresh anyway.
 *
 * The store is used from one thread (the event loop's), after any fork().
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSB_STORE_H
#define DNSB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/map.h"

struct event_base;

#define DNSB_STORE_COMMIT_MS 100
#define DNSB_STORE_MAPSIZE ((size_t)1 << 30)  /* 1 GiB, sparse; doubled when full */
#define DNSB_STORE_SEQ_KEEP (30 * 86400)      /* seconds a lone sequence record is kept */
#define DNSB_STORE_RETRY_MS 1000              /* a failed commit is tried again after that */
#define DNSB_STORE_MAX_PENDING 100000         /* changes kept for a retry at most */

typedef struct dnsb_store dnsb_store;

typedef struct dnsb_store_stats {
    uint64_t commits;       /* write transactions committed */
    uint64_t puts, dels;    /* changes queued */
    uint64_t errors;        /* failed commits (their changes wait for a retry) */
    uint64_t loaded;        /* registrations handed out by dnsb_store_load */
    uint64_t expired;       /* records found expired at load (deleted) */
    uint64_t corrupt;       /* records that failed the checks at load (deleted) */
    size_t pending;         /* changes waiting for the next commit */
} dnsb_store_stats;

/* Creates dir when missing (mode 0700, parents too) and, when running as
 * root with a non-empty user, gives it and its files to that user, so that
 * the daemon still owns them after dropping privileges. For use before
 * detaching (errors reach the terminal). A read-only filesystem is no
 * error here (see dnsb_store_open). 0, or -1 with err. */
int dnsb_store_prepare(const char *dir, const char *user, char *err, size_t errlen);

/* What is done with a damaged data.mdb (dnsb.conf's database-damaged):
 * the registrations are soft state that every DNS-LB sends again within
 * one refresh, so by default the file is moved aside (renamed
 * data.mdb.damaged-<UTC time>, kept for a look) and dnsb starts empty
 * rather than not answering at all. */
enum dnsb_store_damaged { DNSB_STORE_MOVE_ASIDE = 0, DNSB_STORE_REFUSE = 1 };

/* Opens (creating) the environment in dir (created 0700 when missing).
 * data.mdb is checked first (dnsb_store_check), and a file LMDB cannot
 * open as well (MDB_INVALID, MDB_CORRUPTED, ...): a damaged one, an empty
 * file too, is refused or moved aside as on_damage says, logged either way.
 * A sound data.mdb on a read-only filesystem is opened read-only (logged):
 * loading works, changes are dropped (counted as errors) until a restart.
 * NULL with a message in err. */
dnsb_store *dnsb_store_open(const char *dir, int on_damage, char *err, size_t errlen);

/* Commits what is queued, then closes. NULL is fine. */
void dnsb_store_close(dnsb_store *s);

/* Commits queued changes DNSB_STORE_COMMIT_MS after the first one is
 * queued, from a timer on base. Without it changes wait for
 * dnsb_store_flush (tests) or dnsb_store_close. 0, or -1. */
int dnsb_store_attach(dnsb_store *s, struct event_base *base);

/* Queues the accepted registration reg (node_id, sequence, granted
 * lifetime, addresses, accepted claims) expiring at expires (wall-clock
 * seconds); also records its sequence. 0, or -1 when it does not encode or
 * out of memory (logged; the registration is then not persisted). */
int dnsb_store_put(dnsb_store *s, const glb_map_register *reg, double expires);

/* Queues the removal of id's registration. When sequence is not 0 it is
 * recorded as id's last sequence (a withdrawal). 0, or -1. */
int dnsb_store_del(dnsb_store *s, const char *id, uint64_t sequence);

/* Commits the queued changes now, in one transaction. 0, or -1 (counted;
 * logged at the first failure of a run of them): the changes stay queued,
 * in order, and with dnsb_store_attach are tried again every
 * DNSB_STORE_RETRY_MS (a full or read-only disk), unless more than
 * DNSB_STORE_MAX_PENDING wait: then they are dropped. */
int dnsb_store_flush(dnsb_store *s);

/* Calls reg_fn for every registration still valid at now (wall clock), and
 * seq_fn (may be NULL) for every recorded sequence. reg is valid during the
 * call only. Expired and corrupt records are deleted, sequence records
 * older than DNSB_STORE_SEQ_KEEP pruned. Every record is read once before
 * any is handed out: when LMDB finds the database damaged then
 * (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_BAD_TXN, ...), it is refused or
 * moved aside as dnsb_store_open's on_damage says, and nothing is handed
 * out. Returns the number of registrations handed out, or -1 (logged) when
 * the database cannot be read. */
long dnsb_store_load(dnsb_store *s, double now, void (*reg_fn)(void *arg, const glb_map_register *reg, double expires),
                     void (*seq_fn)(void *arg, const char *id, uint64_t sequence), void *arg);

/* The record decoders dnsb_store_load uses, pure (no database) for the
 * tests and the fuzzer. A registration record (key: the node id; value:
 * "glbr", version 1, 3 zero bytes, expiry in ms since the epoch (64 bits,
 * big-endian), then the REGISTER frame of proto/PROTOCOL.md): returns NULL
 * with msg decoded into *arena (grown as needed; the caller frees it) and
 * *expires_ms, or why the record is refused (a static string; the frame's
 * decode error is kept in a static buffer: one thread). */
const char *dnsb_store_decode_reg(const void *key, size_t klen, const void *val, size_t vlen, glb_map_msg *msg,
                                  uint8_t **arena, size_t *arenacap, uint64_t *expires_ms);

/* A sequence record (key: the node id; value: sequence and the time it was
 * written in ms, 64 bits each, big-endian). Returns 0 with the NUL-terminated
 * id, or -1 when malformed (bad length, invalid id). */
int dnsb_store_decode_seq(const void *key, size_t klen, const void *val, size_t vlen, char id[GLB_MAP_MAX_ID + 1],
                          uint64_t *sequence, uint64_t *written_ms);

void dnsb_store_get_stats(const dnsb_store *s, dnsb_store_stats *out);

#endif

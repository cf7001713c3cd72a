/* Checks the DNS-B's LMDB data file (data.mdb) before LMDB maps it. LMDB
 * trusts the file: a page number past the end of a truncated file, or
 * garbage that sends a read there, is a SIGBUS when the mapping is read,
 * not an error code. So the file is read with pread first: both meta pages
 * (page type, magic, format version, page size), then every page the
 * newest meta's trees refer to (the free list, the main database and the
 * named databases in it): each must lie inside the file and below the
 * meta's last page, carry its own page number and a known page type, and
 * hold nodes, keys, values and overflow runs within its bounds. The file
 * may end before the meta's last page: LMDB does not write pages freed in
 * the transaction that allocated them, so only pages in use must exist.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSB_STORECHECK_H
#define DNSB_STORECHECK_H

#include <stddef.h>

enum {
    DNSB_STORE_FILE_OK = 0,       /* an LMDB file whose trees lie within it */
    DNSB_STORE_FILE_ABSENT = 1,   /* no such file: LMDB creates it */
    DNSB_STORE_FILE_DAMAGED = 2,  /* why says what is wrong */
    DNSB_STORE_FILE_UNREADABLE = -1 /* cannot be opened or read: why */
};

/* Checks the LMDB data file at path as described above; one of the
 * DNSB_STORE_FILE_* values, with a reason in why when not OK or ABSENT. */
int dnsb_store_check(const char *path, char *why, size_t whylen);

#endif

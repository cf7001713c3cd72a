/* What dnsb's status page (shared/statuspage.h) reads, on its metrics
 * listener: /status.json (the status command's fields and the registered
 * DNS-LBs as list-lbs shows them) and /lookup.json?addr=ADDR[/LEN] (what
 * the lookup command says: which DNS-LBs an address goes to, and why).
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSB_STATUS_H
#define DNSB_STATUS_H

#include "dnsb/control.h"

/* The page's paths (a glb_http_page_fn; arg: the dnsb_ctl). */
int dnsb_status_http(void *arg, const char *path, const char *query, struct evbuffer *out, const char **ctype);

#endif

/* What dnslb's status page (shared/statuspage.h) reads, on its metrics
 * listener: /status.json (services, sites with state, averages, whether
 * they are in the answers and why) and /history.json (each site's last hour,
 * shared/measure/history.h). SPDX-License-Identifier: BSD-3-Clause */
#ifndef DNSLB_STATUS_H
#define DNSLB_STATUS_H

#include "dnslb/control.h"

/* The page's paths (a glb_http_page_fn; arg: the lb_ctl). */
int lb_status_http(void *arg, const char *path, const char *query, struct evbuffer *out, const char **ctype);

#endif

/* The status page both daemons serve on their metrics listener
 * (shared/metrics_http.h): one self-contained HTML page, shared/status.html
 * (inline style and script, no external assets), compiled in at build
 * time. It polls the daemon's /status.json and draws what it finds there:
 * dnslb's services, sites and answer sets with /history.json's last hour
 * plotted, or dnsb's registered DNS-LBs with a form asking /lookup.json.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_STATUSPAGE_H
#define GLB_STATUSPAGE_H

struct evbuffer;

/* shared/status.html, one string per line, NULL after the last (generated
 * into the build directory's shared/status_html.c by Makefile.am). */
extern const char *const glb_status_html[];

/* When path is the page's ("/" or "/status"): writes it into out, sets
 * *ctype, returns 1; else 0. */
int glb_status_page(const char *path, struct evbuffer *out, const char **ctype);

#endif

/* Rate-limited logging of repeated events (failed handshakes, refused
 * connections, accept errors): at most burst lines per interval, then one
 * "N similar messages suppressed" line when the next interval starts.
 * One glb_ratelog per kind of message, used by one thread.
 * SPDX-License-Identifier: BSD-3-Clause */
#ifndef GLB_RATELOG_H
#define GLB_RATELOG_H

#define GLB_RATELOG_INTERVAL 10.0 /* seconds */
#define GLB_RATELOG_BURST    5    /* lines per interval */

typedef struct glb_ratelog {
    const char *what;     /* names the suppressed messages, e.g. "map: TLS handshake failed" */
    double start;         /* monotonic start of the current interval */
    unsigned n;           /* lines logged in it */
    unsigned long suppressed;
} glb_ratelog;

#define GLB_RATELOG_INIT(what) {(what), 0, 0, 0}

/* Logs fmt at level unless r's burst for this interval is spent (then it
 * counts it); the count of suppressed lines is logged first when a new
 * interval starts. now: glb_mono(). Returns 1 when the line was logged. */
int glb_log_limited(glb_ratelog *r, double now, int level, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif

/* Rate-limited logging. SPDX-License-Identifier: BSD-3-Clause */
#include "shared/ratelog.h"

#include <stdarg.h>

#include "shared/log.h"

int glb_log_limited(glb_ratelog *r, double now, int level, const char *fmt, ...)
{
    if (r->start == 0 || now - r->start >= GLB_RATELOG_INTERVAL) {
        if (r->suppressed)
            glb_log(level, "%s: %lu similar messages suppressed", r->what, r->suppressed);
        r->start = now;
        r->n = 0;
        r->suppressed = 0;
    }
    if (r->n >= GLB_RATELOG_BURST) {
        r->suppressed++;
        return 0;
    }
    r->n++;
    va_list ap;
    va_start(ap, fmt);
    glb_vlog(level, fmt, ap);
    va_end(ap);
    return 1;
}

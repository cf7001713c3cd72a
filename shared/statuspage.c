/* The status page (shared/statuspage.h). SPDX-License-Identifier: BSD-3-Clause */
#include "shared/statuspage.h"

#include <event2/buffer.h>
#include <string.h>

int glb_status_page(const char *path, struct evbuffer *out, const char **ctype)
{
    if (strcmp(path, "/") != 0 && strcmp(path, "/status") != 0)
        return 0;
    for (size_t i = 0; glb_status_html[i]; i++)
        evbuffer_add_printf(out, "%s\n", glb_status_html[i]);
    *ctype = "text/html; charset=utf-8";
    return 1;
}

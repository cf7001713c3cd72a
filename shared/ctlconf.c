/* The control channel's configuration rows and access list.
 * SPDX-License-Identifier: BSD-3-Clause */
#include "shared/ctlconf.h"

#include <stdio.h>

#include "shared/control.h"
#include "shared/log.h"
#include "shared/site.h"
#include "shared/tls.h"

const char *glb_ctlconf_allow(void *ctx, const glb_cfg_val *v, char *e, size_t el)
{
    (void)ctx;
    glb_control_ids *a = (glb_control_ids *)((char *)v->target + v->row->offset);
    if (!glb_id_valid(v->str)) {
        snprintf(e, el, "bad identity '%s' (1-63 of a-z 0-9 -)", v->str);
        return e;
    }
    char(*slot)[64] = glb_cfg_push(&a->ids, &a->n, sizeof(*slot));
    if (!slot)
        return "out of memory";
    snprintf(*slot, sizeof(*slot), "%s", v->str);
    return NULL;
}

int glb_ctlconf_default(char *cert, char *key, char *ca, size_t len, const char *map_cert, const char *map_key,
                        const char *map_ca)
{
    if (!cert[0])
        snprintf(cert, len, "%s", map_cert);
    if (!key[0])
        snprintf(key, len, "%s", map_key);
    if (!ca[0])
        snprintf(ca, len, "%s", map_ca);
    return cert[0] && key[0] && ca[0] ? 0 : -1;
}

void glb_ctlconf_apply_allow(glb_control *c, const glb_control_ids *allow, SSL_CTX *tls)
{
    char own[1][64];
    if (allow->n)
        glb_control_set_allowed(c, (const char(*)[64])allow->ids, allow->n);
    else if (glb_tls_ctx_id(tls, own[0], sizeof(own[0])) == 0)
        glb_control_set_allowed(c, (const char(*)[64])own, 1);
    else
        log_warn("control: the certificate has no usable CN and no control-allow is set: "
                 "any certificate of the CA may control this server");
}

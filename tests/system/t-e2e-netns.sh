#!/usr/bin/env bash
# Scenario 1 of the end-to-end tests across network namespaces (root only):
# each ISP (resolver, egress, DNS-LB) and each site in a namespace of its
# own, joined to the DNS-A and the DNS-Bs by a bridge, on 198.18.0.0/15
# addresses (scripts/world.sh, WORLD_SPLIT=1). Every query, registration and
# health check crosses veth links, as between real boxes.
[ "$(id -u)" -eq 0 ] || { echo "needs root for network namespaces per ISP and per site"; exit 77; }
export WORLD_SPLIT=1
E2E_SKIP_NET="cannot build the namespaces (veth, bridge)"
. "$(dirname "$0")/e2e.sh"
ok "2 ISP and 3 site namespaces bridged to the backbone; both DNS-LBs registered at both DNS-Bs"
wait_until 20 best_is isp1 "$SITE1" && ok "ISP 1 gets paris ($SITE1) alone (${WAITED}s)" ||
    not_ok "ISP 1's best is not paris: $(world_answer isp1 www.foobar.example)"
wait_until 20 best_is isp2 "$SITE2" && ok "ISP 2 gets tokyo ($SITE2) alone (${WAITED}s)" ||
    not_ok "ISP 2's best is not tokyo: $(world_answer isp2 www.foobar.example)"
check "ISP 1 referred to lb1" "$(world_ask isp1 www.foobar.example)" "CNAME[[:space:]]+lb1.www.foobar.example."
check "ISP 2 referred to lb2" "$(world_ask isp2 www.foobar.example)" "CNAME[[:space:]]+lb2.www.foobar.example."
check "b1 learned ISP 1's egress from lb1's whoami" "$(world_bctl b1 lookup "$EG1")" "^lb: lb1 "
check "paris saw lb1's checks from its own namespace address" "$(world_fx "$SITE1" /stats)" "\"$LB1\""
finish

#!/usr/bin/env bash
# Scenario 8 of the end-to-end tests: the same chain over IPv6 only (every
# server, resolver, DNS-LB and site on a 2001:db8:: address of the private
# namespace's loopback; scripts/world.sh): ISPs get their own best sites,
# a failing site moves the answer.
[ -e /proc/net/if_inet6 ] || { echo "no IPv6 on this machine"; exit 77; }
E2E_FAMILY=6 E2E_SKIP_NET="cannot add IPv6 addresses to lo"
. "$(dirname "$0")/e2e.sh"
ok "the whole system up over IPv6; both DNS-LBs registered their v6 egress (whoami) at both DNS-Bs"

wait_until 20 best_is isp1 "$SITE1" && ok "ISP 1 gets paris ($SITE1) alone over IPv6 (${WAITED}s)" ||
    not_ok "ISP 1's best is not paris: $(world_answer isp1 www.foobar.example)"
wait_until 20 best_is isp2 "$SITE2" && ok "ISP 2 gets tokyo ($SITE2) alone over IPv6 (${WAITED}s)" ||
    not_ok "ISP 2's best is not tokyo: $(world_answer isp2 www.foobar.example)"
check "AAAA answers through lb1's CNAME and v6 glue" "$(world_ask isp1 www.foobar.example)" \
    "lb1.www.foobar.example.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+AAAA[[:space:]]+$SITE1"
check "b1 maps ISP 1's v6 egress to lb1" "$(world_bctl b1 lookup "$EG1")" "^lb: lb1 "
world_site_status "$SITE1" 500
gone() { local a; a=$(world_answer isp1 www.foobar.example); [ -n "$a" ] && ! printf '%s\n' "$a" | grep -qw "$SITE1"; }
wait_until 7 gone && ok "paris failing: ISP 1's answer moved in ${WAITED}s" || not_ok "paris still answered over IPv6"
finish

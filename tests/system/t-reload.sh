#!/usr/bin/env bash
# DNS-B reloads with DNS-LBs connected (scripts/world.sh): a new site reaches
# the DNS-LBs as a SERVICES delta; narrowing an identity's allow prefixes
# removes the claims outside them at once; removing its allow line drops its
# registration and closes its session; the other DNS-B is unaffected; a static
# lb: section added for a connected DNS-LB closes its session too.
. "$(dirname "$0")/e2e.sh"
ok "the whole system up"

# --- a new site: both DNS-Bs reload, the DNS-LBs get a delta ---------------
for b in b1 b2; do
    sed -i "s|^    site: newyork $SITE3 weight=1 check=http://$SITE3/probe|&\n    site: london $SITE3 weight=1 check=http://$SITE3/probe|" "$W/$b/dnsb.conf"
    grep -q "site: london" "$W/$b/dnsb.conf" || not_ok "could not add a site to $b's configuration"
    kill -HUP "${WPID[$b]}"
done
wait_until 10 sh -c "'$BUILDDIR/dnslb/dnslb-control' -s $CTL_LB1@8954 -c '$W/lb1/dnslb.conf' sites | grep -q '^www.foobar.example. *london'" &&
    ok "lb1 measures the new site london (${WAITED}s after the reload)" || not_ok "lb1 never got london"
check "it came as a delta" "$(cat "$W/lb1.log")" "services serial [0-9]+ \(delta\)"
check "b1 counted the new serial" "$(world_bctl b1 stats)" "^map.services_serial=[1-9]"

# --- narrowing lb2's allow at b1: its egress claim goes, its resolver stays ----
check "before: b1 maps ISP 2's egress to lb2" "$(world_bctl b1 lookup "$EG2")" "^lb: lb2 "
sed -i "s|^    allow: lb2 .*|    allow: lb2 $ISP2/32 $CLIENTS2|" "$W/b1/dnsb.conf"
kill -HUP "${WPID[b1]}"
gone() { ! world_bctl b1 lookup "$EG2" | grep -q "^lb: lb2 "; }
wait_until 5 gone && ok "after narrowing: b1 no longer maps ISP 2's egress (${WAITED}s)" || not_ok "egress still mapped at b1"
check "lb2 keeps its resolver at b1" "$(world_bctl b1 lookup "$ISP2")" "^lb: lb2 "
check "b2 unaffected" "$(world_bctl b2 lookup "$EG2")" "^lb: lb2 "
check "narrowing logged" "$(cat "$W/b1.log")" "map: lb2: 1 claim\(s\) no longer allowed, removed"

# --- removing lb1's allow line at b2: registration dropped, session closed ----
sed -i "/^    allow: lb1 /d" "$W/b2/dnsb.conf"
kill -HUP "${WPID[b2]}"
dropped() { ! world_bctl b2 list-lbs | grep -q '^lb1 '; }
wait_until 5 dropped && ok "b2 dropped lb1's registration (${WAITED}s)" || not_ok "lb1 still registered at b2"
check "its session was closed" "$(cat "$W/b2.log")" "map: lb1 is no longer allowed, its registration is dropped"
# lb1 reconnects after its backoff (1 s, then 2, 4 ... with +-20 % jitter):
# wait for the counter to move rather than a fixed time.
unauthorized() { world_bctl b2 stats | grep -Eq '^map.unauthorized=[1-9]'; }
if wait_until 10 unauthorized; then
    ok "lb1's next attempts are refused as unauthorized (${WAITED}s)"
else
    not_ok "lb1's next attempts are refused as unauthorized: $(world_bctl b2 stats | grep '^map.unauthorized=')"
fi
check "b1 still serves lb1" "$(world_bctl b1 lookup "$EG1")" "^lb: lb1 "
check "b1 still refers ISP 1's egress to lb1" \
    "$(dig +norec +time=2 +tries=1 -b "$EG1" @"$B1" www.foobar.example "$RR")" "CNAME[[:space:]]+lb1.www.foobar.example."
check "b2 answers it fail-open now" "$(dig +norec +time=2 +tries=1 -b "$EG1" @"$B2" www.foobar.example "$RR" +short | wc -l)" "^4$"

# --- a static lb: section for a connected DNS-LB: its session is closed ------
printf 'lb:\n    id: lb2\n    address: %s\n    resolver: %s/32\n' "$LB2" "$ISP2" >>"$W/b1/dnsb.conf"
u0=$(world_bctl b1 stats | stat_of map.unauthorized)
kill -HUP "${WPID[b1]}"
static_now() { world_bctl b1 list-lbs | grep -Eq '^lb2 +static '; }
wait_until 5 static_now && ok "b1 now has lb2 from its configuration (${WAITED}s)" || not_ok "lb2 not static at b1"
closed() { world_lbctl lb2 map | grep -E "^map-server $B1@5380: " | grep -qv established; }
wait_until 10 closed && ok "lb2's session at b1 was closed (${WAITED}s): $(world_lbctl lb2 map | grep -E "^map-server $B1@5380: " | cut -c1-60)" ||
    not_ok "lb2's session at b1 still up: $(world_lbctl lb2 map | grep -E "^map-server $B1@5380: ")"
refused() { [ "$(world_bctl b1 stats | stat_of map.unauthorized)" -gt "$u0" ]; }
wait_until 10 refused && ok "lb2's next HELLO at b1 is refused (${WAITED}s)" || not_ok "lb2 was not refused at b1"
check "b2 keeps lb2's registration" "$(world_bctl b2 list-lbs)" "^lb2 +dynamic "

finish

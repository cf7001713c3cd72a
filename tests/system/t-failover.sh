#!/usr/bin/env bash
# A DNS-LB that dies costs its clients seconds, not an hour (DESIGN §3, §11):
# every delegation to a DNS-LB names, beside it, the DNS-Bs' standby server
# (standby.glb.example.net, on addresses of their own), which answers that
# DNS-LB's zone from its last RANKING. Through real unbound (ISP 1) and real
# BIND 9 (ISP 2), with the delegation cached for an hour (ttl-referral's
# default) and answers living 2 s, so that the resolvers must ask again
# while the DNS-LB is dead:
#   - the share of the queries for a DNS-LB zone that reach the standby while
#     the DNS-LB is healthy (measured, printed);
#   - after kill -9 of the DNS-LB, every client of its resolver gets the
#     right site, none waits over 10 s (the longest wait is printed);
#   - when the DNS-LB comes back, the resolvers use it again;
#   - a DNS-LB that stops cleanly withdraws its registrations at once, and
#     dnslb-control withdraw / register does the same on demand.
# Registrations live their default 900 s here: the test is about the time
# before one expires (after that the standby answers by weight).
export WORLD_DNSB_SED='s/ttl-referral: 4/ttl-referral: 3600/;s/lifetime: 12/lifetime: 900/'
export WORLD_DNSLB_SED='s/lifetime: 12/lifetime: 900/'
. "$(dirname "$0")/e2e.sh"
ok "the system up with a standby at each DNS-B; referrals cached for an hour"

wait_until 20 best_is isp1 "$SITE1" && wait_until 20 best_is isp2 "$SITE2" &&
    ok "ISP 1 (unbound) gets paris, ISP 2 (BIND) gets tokyo (${WAITED}s)" ||
    not_ok "no measured answers: ISP 1 $(set_of isp1 www.foobar.example), ISP 2 $(set_of isp2 www.foobar.example)"
check "the delegation names the standby beside the DNS-LB" \
    "$(dig +norec +time=2 +tries=1 -b "$EG1" @"$B1" lb1.www.foobar.example "$RR")" \
    "lb1.www.foobar.example.[[:space:]]+3600[[:space:]]+IN[[:space:]]+NS[[:space:]]+standby.glb.example.net."
check "the standby answers lb1's zone itself (authoritative, no referral)" \
    "$(dig +norec +time=2 +tries=1 @"$SB2" lb1.www.foobar.example "$RR")" "flags: qr aa;.*AUTHORITY: 0"
ranked() { [ "$(dig +short +norec +time=2 +tries=1 @"$1" lb1.www.foobar.example "$RR")" = "$SITE1" ]; }
wait_until 5 ranked "$SB1" && wait_until 5 ranked "$SB2" &&
    ok "both standbys answer from lb1's last ranking: paris alone (${WAITED}s)" ||
    not_ok "a standby without lb1's ranking: $(world_bctl b1 list-lbs lb1; world_bctl b2 list-lbs lb1)"
check "the standby refuses what is not a DNS-LB zone" \
    "$(dig +norec +time=2 +tries=1 @"$SB1" www.foobar.example "$RR")" "status: REFUSED"

standby_queries() {
    echo $(($(world_bctl b1 stats | stat_of dns.standby) + $(world_bctl b2 stats | stat_of dns.standby)))
}
lb_queries() { world_lbctl "$1" stats | stat_of dns.queries; }

# share ISP LB N: N names never asked before (each a cache miss) in LB's zone,
# through ISP's resolver; prints how many reached the standby and the LB.
share() {
    local isp=$1 lb=$2 n=$3 addr s0 l0 i
    [ "$isp" = isp1 ] && addr=$ISP1 || addr=$ISP2
    s0=$(standby_queries) l0=$(lb_queries "$lb")
    for i in $(seq 1 "$n"); do
        dig +time=3 +tries=1 @"$addr" "h$i-$RANDOM.$lb.www.foobar.example" "$RR" >/dev/null
    done
    echo "standby=$(($(standby_queries) - s0)) lb=$(($(lb_queries "$lb") - l0))"
}
for p in "isp1 lb1 unbound" "isp2 lb2 BIND"; do
    set -- $p
    r=$(share "$1" "$2" 100)
    s=${r#standby=} s=${s%% *} l=${r##*lb=}
    if [ $((s + l)) -ge 100 ]; then
        ok "healthy: $3 sent $((100 * s / (s + l))) % of the queries for $2's zone to the standby ($r)"
        echo "RESULT healthy_share_$3_pct=$((100 * s / (s + l))) standby=$s lb=$l"
    else
        not_ok "healthy, $3: the queries did not reach the servers ($r)"
    fi
done

# outage ISP LB SITE: kills LB with -9, then for 20 s a client of ISP asks
# every 0.25 s as a stub resolver does (glibc: 5 s timeout, 2 tries); prints
# how many asks failed or got another set than SITE, and the longest a
# client waited for its answer.
outage() {
    local isp=$1 lb=$2 site=$3 t0 t1 now a st set fails=0 wait=0 n=0
    world_stop "$lb" KILL
    t0=$(now_ms)
    while now=$(now_ms) && [ $((now - t0)) -lt 20000 ] && [ $n -lt 200 ]; do
        n=$((n + 1))
        a=$(world_ask "$isp" www.foobar.example +time=5 +tries=2)
        t1=$(now_ms)
        [ $((t1 - now)) -gt $wait ] && wait=$((t1 - now))
        st=$(printf '%s\n' "$a" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')
        set=$(printf '%s\n' "$a" | awk '$4 == "A" || $4 == "AAAA" { print $5 }' | sort -u | tr '\n' ' ')
        if [ "$st" != NOERROR ] || [ "$set" != "$site " ]; then
            fails=$((fails + 1))
            echo "# $isp at $((t1 - t0)) ms: ${st:-timeout} ${set:-no address}" >&2
        fi
        sleep 0.25
    done
    echo "asks=$n failed=$fails longest_wait_ms=$wait"
}
for p in "isp1 lb1 $SITE1 unbound" "isp2 lb2 $SITE2 BIND"; do
    set -- $p
    r=$(outage "$1" "$2" "$3")
    echo "RESULT failover_$4 $r"
    w=${r##*longest_wait_ms=}
    case $r in
        *" failed=0 "*) [ "$w" -le 10000 ] && ok "kill -9 of $2: every client of $4 got the right site, none waited over 10 s ($r)" ||
            not_ok "kill -9 of $2: a client of $4 waited over 10 s ($r)" ;;
        *) not_ok "kill -9 of $2: clients of $4 got errors or other sites ($r)" ;;
    esac
done
check "the standby answered meanwhile" "$(world_bctl b1 stats; world_bctl b2 stats)" "^dns.standby=[1-9]"

# Both come back: registered again, and the resolvers ask them again.
world_dnslb lb1 && world_dnslb lb2 || not_ok "the DNS-LBs did not restart"
wait_until 30 world_registered b1 lb1 "$EG1" && wait_until 30 world_registered b1 lb2 "$EG2" &&
    ok "both DNS-LBs back and registered (${WAITED}s)" || not_ok "the DNS-LBs did not register again"
wait_until 20 best_is isp1 "$SITE1" && wait_until 20 best_is isp2 "$SITE2" &&
    ok "back to normal: ISP 1 gets paris, ISP 2 gets tokyo" ||
    not_ok "after the return: ISP 1 $(set_of isp1 www.foobar.example), ISP 2 $(set_of isp2 www.foobar.example)"
back() { local r; r=$(share "$1" "$2" 30); [ "${r##*lb=}" -gt 0 ]; }
wait_until 30 back isp1 lb1 && wait_until 30 back isp2 lb2 &&
    ok "unbound and BIND send queries to the returned DNS-LBs again" || not_ok "the resolvers avoid the returned DNS-LBs"

# A clean stop withdraws at once (lifetime 0), not after the 12 s lifetime.
gone_at() { ! world_bctl "$1" list-lbs | grep -q "^$2 "; }
echo "# before the stop: $(world_lbctl lb2 map | grep '^map-server' | cut -c1-70 | tr '\n' '|')"
world_stop lb2
wait_until 5 gone_at b1 lb2 && wait_until 2 gone_at b2 lb2 &&
    ok "lb2 stopped cleanly: its registrations withdrawn at both DNS-Bs (${WAITED}s)" ||
    not_ok "lb2's registrations outlived its clean stop"
# Maintenance: withdraw on demand, and back.
check "dnslb-control withdraw" "$(world_lbctl lb1 withdraw)" "withdr"
wait_until 2 gone_at b1 lb1 && wait_until 1 gone_at b2 lb1 &&
    ok "lb1 withdrew on demand: gone at both DNS-Bs (${WAITED}s)" || not_ok "withdraw left lb1 registered"
sleep 6 # a refresh interval (5 s): a withdrawn box must not register again by itself
gone_at b1 lb1 && ok "lb1 stays withdrawn across its refresh interval" || not_ok "lb1 registered again by itself"
check "dnslb-control register" "$(world_lbctl lb1 register)" "regist"
wait_until 10 world_registered b1 lb1 "$EG1" && ok "lb1 registered again on demand (${WAITED}s)" ||
    not_ok "lb1 did not register again"
finish

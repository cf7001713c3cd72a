#!/usr/bin/env bash
# The whole chain end to end (DESIGN §3, §10) with real, unmodified peers:
# NSD as the enterprise's DNS-A, unbound (ISP 1) and BIND 9 (ISP 2) as the
# ISPs' resolvers, two DNS-Bs,
# two DNS-LBs registered over the map protocol (whoami discovery, certificates
# made here), three fixture web sites whose delays depend on who measures
# them. Built by scripts/world.sh in a private network namespace.
# Scenarios (issue "The whole chain, end to end"):
#   1 two ISPs get different best sites      5 DNS-B kill -9 + restart, LBs stopped
#   2 a site fails: the answer moves         6 a rogue DNS-LB cannot take a resolver
#   3 a DNS-LB down: expiry, fail-open       7 ECS: per-subnet referrals
#   4 a DNS-B down: the other one answers    (8, IPv6: t-e2e6.sh)
#   9 answer sets: two sites alike are both answered, a failure leaves the survivor
E2E_ECS=ecs
. "$(dirname "$0")/e2e.sh"
# The test's values (conf/demo): DNS-LB checks every 2 s, dead after 2
# failures, answers live 2 s, referrals 4 s, registrations 12 s.
HTTP_INTERVAL=2 DEAD_AFTER=2 TTL_ANSWER=2 TTL_REFERRAL=4 LIFETIME=12
ok "NSD, 2 DNS-Bs, unbound and BIND, 2 DNS-LBs up; both LBs registered their egress (whoami) at both DNS-Bs"

# rcode ISP NAME: the status a client of that ISP gets.
rcode() { world_ask "$1" "$2" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }

# --- 1: two ISPs, two best sites ------------------------------------------
# The DNS-LBs need a few check rounds to rank (unmeasured sites come last).
# Each ISP is near one site (5 ms) and far from the others (60, 120 ms): its
# clients get that site alone, through unbound and through BIND alike.
wait_until 20 best_is isp1 "$SITE1" && ok "ISP 1's clients (unbound) get paris, and only paris (${WAITED}s)" ||
    not_ok "ISP 1's best is not paris: $(world_answer isp1 www.foobar.example)"
wait_until 20 best_is isp2 "$SITE2" && ok "ISP 2's clients (BIND) get tokyo, and only tokyo (${WAITED}s)" ||
    not_ok "ISP 2's best is not tokyo: $(world_answer isp2 www.foobar.example)"
a1=$(world_ask isp1 www.foobar.example)
check "ISP 1 is referred to lb1 by CNAME" "$a1" "CNAME[[:space:]]+lb1.www.foobar.example."
check "ISP 2 is referred to lb2 by CNAME" "$(world_ask isp2 www.foobar.example)" "CNAME[[:space:]]+lb2.www.foobar.example."
check "the CNAME-into-the-backbone service works too" "$(world_ask isp1 shop.foobar.example)" \
    "CNAME[[:space:]]+lb1.shop.svc.glb.example.net."
check "lb1 learned the services from the DNS-Bs" "$(world_lbctl lb1 sites)" "^www.foobar.example. +paris"
# direct mode: the DNS-B answers the set each ISP's DNS-LB reported (RANKING)
wait_until 10 set_is isp1 api.svc.glb.example.net "$SITE1" &&
    ok "direct mode: ISP 1 gets paris alone from the DNS-B (lb1's RANKING)" ||
    not_ok "direct mode, ISP 1: $(world_answer isp1 api.svc.glb.example.net)"
wait_until 10 set_is isp2 api.svc.glb.example.net "$SITE2" &&
    ok "direct mode: ISP 2 gets tokyo alone from the DNS-B (lb2's RANKING)" ||
    not_ok "direct mode, ISP 2: $(world_answer isp2 api.svc.glb.example.net)"
check "b1 holds lb2's ranking" "$(world_bctl b1 list-lbs lb2)" "^ranking: api.svc.glb.example.net. tokyo"

# --- 7: ECS: ISP 1's resolver sends client subnets; lb2 claims 127.0.5.0/24 --
if [ "$WF" = 4 ]; then
    sleep $((TTL_REFERRAL + 1)) # a fresh cache: unbound keeps CNAMEs outside its subnet cache
    a=$(dig +time=3 +tries=1 -b 127.0.5.7 @"$ISP1" www.foobar.example A)
    check "ECS: a client in lb2's client prefix is referred to lb2 through ISP 1" "$a" \
        "CNAME[[:space:]]+lb2.www.foobar.example."
    sleep $((TTL_REFERRAL + 1))
    a=$(dig +time=3 +tries=1 -b 127.0.6.7 @"$ISP1" www.foobar.example A)
    check "ECS: a client in an unclaimed subnet gets its resolver's DNS-LB" "$a" \
        "CNAME[[:space:]]+lb1.www.foobar.example."
    check "the DNS-Bs saw client subnets" "$(world_bctl b1 stats; world_bctl b2 stats)" "^dns.ecs=[1-9]"
fi

# --- 6: a rogue DNS-LB claims ISP 1's resolver --------------------------------
world_dnslb rogue || not_ok "rogue dnslb did not start"
wait_until 20 sh -c "'$BUILDDIR/dnslb/dnslb-control' -s $CTL_ROGUE@8954 -c '$W/rogue/dnslb.conf' map | grep -q 'rejected [1-9]'" &&
    ok "rogue's claims were rejected (${WAITED}s)" || not_ok "rogue's claims not rejected: $(world_lbctl rogue map)"
check "b1 still maps ISP 1's egress to lb1 only" "$(world_bctl b1 lookup "$EG1")" "^lb: lb1 "
check_not "rogue never serves ISP 1" "$(world_bctl b1 lookup "$EG1"; world_bctl b2 lookup "$ISP1")" "rogue"
check "rejections counted at the DNS-B" "$(world_bctl b1 stats)" "^map.rejected.not-allowed=[1-9]"
check "ISP 1 still referred to lb1" "$(world_ask isp1 www.foobar.example)" "CNAME[[:space:]]+lb1.www.foobar.example."
world_stop rogue

# --- 2: ISP 2's best site fails ----------------------------------------------
world_site_status "$SITE2" 500
bound=$((DEAD_AFTER * HTTP_INTERVAL + TTL_ANSWER))
moved() {
    local a
    a=$(world_answer isp2 www.foobar.example)
    [ -n "$a" ] && ! printf '%s\n' "$a" | grep -qw "$SITE2"
}
# + 1 s: the checks' schedule has jitter, and the answer is polled.
if wait_until $((bound + 1)) moved; then
    ok "tokyo failing: ISP 2's answer left it in ${WAITED}s (bound ${bound}s = dead-after x http-interval + ttl-answer)"
else
    not_ok "ISP 2 still gets tokyo after ${WAITED}s: $(world_answer isp2 www.foobar.example)"
fi
a=$(set_of isp2 www.foobar.example)
check "ISP 2 gets the survivor it is nearest to, newyork, alone" "$a" "^$SITE3$"
[ "$a" = "$SITE3" ] || { world_lbctl lb2 sites; world_ask isp2 www.foobar.example; }
check "ISP 1 unaffected: paris alone" "$(set_of isp1 www.foobar.example)" "^$SITE1$"
world_site_status "$SITE2" 200
wait_until 20 best_is isp2 "$SITE2" && ok "tokyo back: ISP 2 gets it alone again (${WAITED}s)" ||
    not_ok "tokyo did not come back"

# --- 9: answer sets: two sites as good, then one of them fails ----------------
# Each DNS-LB now measures two sites alike (40 ms each, within the 10 %
# margin): their clients get both, through unbound and BIND alike.
world_delay "$SITE1" "$LB1" 40 && world_delay "$SITE2" "$LB1" 40 &&
    world_delay "$SITE2" "$LB2" 40 && world_delay "$SITE3" "$LB2" 40 || not_ok "fixture delays not set"
wait_until 30 set_is isp1 www.foobar.example "$SITE1" "$SITE2" &&
    ok "two sites within the margin: ISP 1 (unbound) gets paris and tokyo (${WAITED}s)" ||
    not_ok "ISP 1 with two sites alike: $(set_of isp1 www.foobar.example)"
wait_until 30 set_is isp2 www.foobar.example "$SITE2" "$SITE3" &&
    ok "two sites within the margin: ISP 2 (BIND) gets tokyo and newyork (${WAITED}s)" ||
    not_ok "ISP 2 with two sites alike: $(set_of isp2 www.foobar.example)"
world_site_status "$SITE2" 500
wait_until $((bound + 1)) set_is isp1 www.foobar.example "$SITE1" &&
    ok "tokyo failing: ISP 1 (unbound) gets the survivor, paris, alone (${WAITED}s)" ||
    not_ok "ISP 1 after tokyo failed: $(set_of isp1 www.foobar.example)"
wait_until $((bound + 1)) set_is isp2 www.foobar.example "$SITE3" &&
    ok "tokyo failing: ISP 2 (BIND) gets the survivor, newyork, alone (${WAITED}s)" ||
    not_ok "ISP 2 after tokyo failed: $(set_of isp2 www.foobar.example)"
world_site_status "$SITE2" 200
world_delay "$SITE1" "$LB1" 5 && world_delay "$SITE2" "$LB1" 60 &&
    world_delay "$SITE2" "$LB2" 5 && world_delay "$SITE3" "$LB2" 60 || not_ok "fixture delays not reset"
wait_until 30 best_is isp1 "$SITE1" && wait_until 30 best_is isp2 "$SITE2" &&
    ok "delays back: each ISP gets its near site alone again" ||
    not_ok "after the reset: ISP 1 $(set_of isp1 www.foobar.example), ISP 2 $(set_of isp2 www.foobar.example)"

# --- 4: one DNS-B down --------------------------------------------------------
world_stop b1
sleep $((TTL_REFERRAL + 1)) # the resolvers must ask a DNS-B again
bad=""
for i in 1 2 3; do
    for isp in isp1 isp2; do
        # A stub retries (dig's default): the resolver may spend its first
        # try on the dead DNS-B before it learns to avoid it.
        a=$(world_ask $isp www.foobar.example +tries=3)
        st=$(printf '%s\n' "$a" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')
        f=$(printf '%s\n' "$a" | awk '$4 == "A" || $4 == "AAAA" { print $5 }' | sort -u | tr '\n' ' ' | sed 's/ $//')
        want=$SITE1
        [ $isp = isp2 ] && want=$SITE2
        [ "$st" = NOERROR ] && [ "$f" = "$want" ] || bad="$bad $isp:${st:-timeout}:${f:-none}"
    done
    sleep 1
done
[ -z "$bad" ] && ok "b1 down: both ISPs still resolve through b2, same best sites" ||
    not_ok "b1 down broke resolution:$bad"
world_dnsb b1 || not_ok "b1 did not restart"
wait_until 20 sh -c "'$BUILDDIR/dnsb/dnsb-control' -c $W/b1/dnsb.conf list-lbs | grep -q '^lb1 ' &&
    '$BUILDDIR/dnsb/dnsb-control' -c $W/b1/dnsb.conf list-lbs | grep -q '^lb2 '" &&
    ok "b1 back: both DNS-LBs registered with it again (${WAITED}s)" || not_ok "b1 lost its DNS-LBs"

# --- 3: a DNS-LB down ----------------------------------------------------------
# lb2's registration at each DNS-B was built at its sequence (Unix ms,
# PROTOCOL.md 4.2; every refresh has a new one): it must live LIFETIME from
# then, not less, so both are gone no sooner than the later one + LIFETIME.
seq_of() { world_bctl "$1" list-lbs | awk '$1 == "lb2" { print $5; exit }'; }
s1=$(seq_of b1) s2=$(seq_of b2)
world_stop lb2 KILL
t0=$(now_ms)
servfail=0
expired() { ! world_bctl b1 list-lbs | grep -q '^lb2 ' && ! world_bctl b2 list-lbs | grep -q '^lb2 '; }
if wait_until $((LIFETIME + 3)) expired; then
    ok "lb2's registrations expired at both DNS-Bs (${WAITED}s after the kill, lifetime ${LIFETIME}s)"
    gone=$(now_ms)
    last=$(( ${s1:-0} > ${s2:-0} ? ${s1:-0} : ${s2:-0} ))
    if [ "$last" -gt 0 ] && [ $((gone - last)) -ge $((LIFETIME * 1000)) ]; then
        ok "they lived their lifetime: gone $((gone - last)) ms after lb2's last REGISTER (${LIFETIME}s)"
    else
        not_ok "lb2's registrations gone $((gone - last)) ms after its last REGISTER (sequences $s1 $s2), before their lifetime of ${LIFETIME}s"
    fi
else
    not_ok "lb2 still registered after ${WAITED}s"
fi
for i in $(seq 1 $((TTL_REFERRAL + 2))); do
    [ "$(rcode isp1 www.foobar.example)" = NOERROR ] || servfail=1
    sleep 1
done
[ $servfail = 0 ] && ok "ISP 1 never got an error meanwhile" || not_ok "ISP 1 got an error while lb2 was down"
a=$(world_ask isp2 www.foobar.example)
check "ISP 2 now gets the fail-open answer (no CNAME) ..." "$a" "status: NOERROR"
check_not "... not a referral to the dead lb2" "$a" "CNAME"
check "... with every site" "$(world_answer isp2 www.foobar.example | wc -w)" "^3$"
fails=0
for i in 1 2 3; do [ "$(rcode isp2 www.foobar.example)" = NOERROR ] || fails=$((fails + 1)); sleep 0.5; done
[ $fails = 0 ] && ok "and no SERVFAIL after expiry" || not_ok "ISP 2 got $fails errors after expiry"
world_dnslb lb2 || not_ok "lb2 did not restart"
wait_until 30 world_registered b2 lb2 "$EG2" && ok "lb2 back and registered again (${WAITED}s)" ||
    not_ok "lb2 did not register again"
check "lb2 restarted with the services from its file, before any DNS-B spoke" "$(cat "$W/lb2.log")" \
    "\(lb2\) serving [1-9][0-9]* services"

# --- 5: a DNS-B killed with -9 and restarted while the DNS-LBs are stopped ----
wait_until 10 world_registered b2 lb1 "$EG1"
# killed, not stopped: a clean stop withdraws the registrations (t-failover)
world_stop lb1 KILL
world_stop lb2 KILL
# Everything b2 acknowledged is on disk: nothing pending and at least one
# commit (bounded wait instead of one commit interval of sleep).
stored() {
    local st
    st=$(world_bctl b2 stats)
    [ "$(printf '%s\n' "$st" | stat_of store.pending)" = 0 ] &&
        [ "$(printf '%s\n' "$st" | stat_of store.commits)" -gt 0 ]
}
if wait_until 5 stored; then
    ok "b2's store has committed every change (${WAITED}s)"
else
    not_ok "b2's store did not commit within 5 s: $(world_bctl b2 stats | grep '^store\.' | tr '\n' ' ')"
fi
world_stop b2 KILL
world_dnsb b2 || not_ok "b2 did not restart"
a1=$(dig +norec +time=2 +tries=1 -b "$EG1" @"$B2" www.foobar.example "$RR")
a2=$(dig +norec +time=2 +tries=1 -b "$EG2" @"$B2" www.foobar.example "$RR")
check "b2 after kill -9 still refers ISP 1's egress to lb1" "$a1" "CNAME[[:space:]]+lb1.www.foobar.example."
check "b2 after kill -9 still refers ISP 2's egress to lb2" "$a2" "CNAME[[:space:]]+lb2.www.foobar.example."

finish

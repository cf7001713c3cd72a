#!/usr/bin/env bash
# The enterprise's policy is set once, on the DNS-Bs (issue 10 §2): the
# policy keys of dnsb.conf's service: section reach every DNS-LB in SERVICES
# and decide what clients get, through the real resolvers (scripts/world.sh).
# shop.svc.glb.example.net has two sites: paris, the fast one for both ISPs
# and the expensive one, and newyork, slow and cheap.
#   1 costs added at the DNS-Bs (SIGHUP): latency, the default, still ranks:
#     both ISPs get paris
#   2 "policy: cost" at the DNS-Bs (SIGHUP): both ISPs get newyork within
#     1 s of the reload plus ttl-answer
#   3 the DNS-LBs' services files hold the policy; a DNS-LB restarted while
#     no DNS-B is up answers by cost from its file
. "$(dirname "$0")/e2e.sh"
SVC=shop.svc.glb.example.net TTL_ANSWER=2 # conf/demo/dnsb.conf: shop's ttl-answer
ok "the whole system up"

# only SITE: every ISP's clients get SITE, and SITE alone (an answer holds
# the sites as good as the best; resolvers reorder, so sets are compared).
only() { set_is isp1 $SVC "$1" && set_is isp2 $SVC "$1"; }
# edit_shop SED-SCRIPT: applies it to shop's service section at both DNS-Bs,
# then reloads them (RELOADED: when, in ms).
edit_shop() {
    local b
    for b in b1 b2; do
        sed -i "/^    name: shop\.svc\.glb\.example\.net\.$/,/^service:/{$1}" "$W/$b/dnsb.conf"
    done
    RELOADED=$(now_ms)
    for b in b1 b2; do kill -HUP "${WPID[$b]}"; done
}
# lb_file LB PATTERN: LB's services file, shop's section, matches PATTERN.
lb_file() { sed -n "/^    name: $SVC\.$/,/^service:/p" "$W/$1/services.conf" | grep -Eq "$2"; }

# wait_until_ms MS CMD...: wait_until with a bound in milliseconds (every 0.1 s).
wait_until_ms() {
    local end=$(($(now_ms) + $1))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(now_ms)" -ge "$end" ] && return 1
        sleep 0.1
    done
}

# --- 1: costs; the default policy (latency) ranks ------------------------------
world_delay "$SITE1" "$LB2" 5 # paris is now near ISP 2 too; newyork stays 60 / 120 ms away
edit_shop 's|^\(    site: paris .*\)$|\1 cost=10|;s|^\(    site: newyork .*\)$|\1 cost=1.5|'
check "b1's configuration has the costs" "$(grep -A6 "name: $SVC" "$W/b1/dnsb.conf")" "site: newyork .* cost=1.5"
wait_until 10 sh -c "grep -q 'cost=10.000' '$W/lb1/services.conf' && grep -q 'cost=10.000' '$W/lb2/services.conf'" &&
    ok "the costs reached both DNS-LBs (${WAITED}s after the reload)" || not_ok "the costs did not reach the DNS-LBs"
check "b1 lists the service with the latency policy and the costs" "$(world_bctl b1 list-services)" \
    "^$SVC\. +referral +[0-9]+ +2 +latency +newyork +1 +1.5 "
lb_file lb1 "^    policy: latency$" && ok "lb1 ranks it by latency" || not_ok "lb1's services file: $(cat "$W/lb1/services.conf")"
wait_until 20 only "$SITE1" && ok "latency: both ISPs get the fast, expensive paris (${WAITED}s)" ||
    not_ok "latency: ISP 1 gets '$(set_of isp1 $SVC)', ISP 2 '$(set_of isp2 $SVC)'"

# --- 2: policy: cost, set once at the DNS-Bs ----------------------------------
# Both ISPs' resolvers hold paris answers now (ttl-answer 2 s), which
# they serve until the TTL runs out. unbound counts in whole seconds: an
# answer fetched in second S lives through second S + ttl, so at most
# ttl + 1 s (reached when it was fetched at the very start of S). The reload
# is sent when (a) neither resolver's answer runs out within the second (its
# TTL shown is >= 1), so none is fetched again while the DNS-LBs switch, and
# (b) at least 0.3 s into a second, so that the last old answer is gone by
# 1 s + ttl-answer - 0.3 s and the 0.1 s polling sees the new one in time.
rr_ttl() { world_ask "$1" $SVC +noall +answer | awk -v rr="$RR" '$4 == rr { print $2; exit }'; }
ready() {
    [ "$(rr_ttl isp1)" -ge 1 ] && [ "$(rr_ttl isp2)" -ge 1 ] &&
        [ $(($(date +%s%N) / 1000000 % 1000)) -ge 300 ] && [ $(($(date +%s%N) / 1000000 % 1000)) -le 850 ]
}
wait_until_ms 6000 ready || not_ok "the resolvers' answers never had a TTL of 1 s or more left"
edit_shop 's|^\(    ttl-answer: .*\)$|\1\n    policy: cost\n    margin-ms: 7.5|'
t0=$RELOADED
# The DNS-LBs themselves (asked directly): within the second.
# lb_set LB-ADDR LABEL: what that DNS-LB answers itself, sorted, one line.
lb_set() { dig +norec +time=1 +tries=1 @"$1" "$2.$SVC" "$RR" +short | sort | tr '\n' ' ' | sed 's/ $//'; }
lbs_cheap() { [ "$(lb_set "$LB1" lb1)" = "$SITE3" ] && [ "$(lb_set "$LB2" lb2)" = "$SITE3" ]; }
wait_until 1 lbs_cheap && ok "policy: cost: both DNS-LBs answer newyork ${WAITED}s after the reload" ||
    not_ok "policy: cost: ${WAITED}s after the reload lb1 answers '$(lb_set "$LB1" lb1)', lb2 '$(lb_set "$LB2" lb2)'"
bound=$((1 + TTL_ANSWER))
left=$((bound * 1000 - ($(now_ms) - t0)))
if wait_until_ms $left only "$SITE3"; then
    WAITED=$(awk -v ms=$(($(now_ms) - t0)) 'BEGIN { printf "%.1f", ms / 1000 }')
    ok "policy: cost: both ISPs get the cheap newyork ${WAITED}s after the reload (bound ${bound}s = 1 s + ttl-answer)"
else
    WAITED=$(awk -v ms=$(($(now_ms) - t0)) 'BEGIN { printf "%.1f", ms / 1000 }')
    not_ok "policy: cost: after ${WAITED}s ISP 1 gets '$(set_of isp1 $SVC)', ISP 2 '$(set_of isp2 $SVC)'"
    world_lbctl lb1 sites
fi
check "it came as a delta" "$(cat "$W/lb1.log")" "services serial [0-9]+ \(delta\)"
check "b1 lists the cost policy" "$(world_bctl b1 list-services)" "^$SVC\. +referral +[0-9]+ +2 +cost +paris +1 +10 "
# stays so (no flapping between the two while the averages move)
bad=0
for i in 1 2 3 4 5; do only "$SITE3" || bad=$((bad + 1)); sleep 0.5; done
[ $bad = 0 ] && ok "and keeps it" || not_ok "$bad of 5 later rounds did not give newyork alone"
sed -n "/^    name: www\.foobar\.example\.$/,/^service:/p" "$W/lb1/services.conf" | grep -q "^    policy: latency$" &&
    ok "the other services keep the latency policy" || not_ok "www's policy changed too"
best_is isp1 "$SITE1" && ok "and ISP 1 still gets paris for www" ||
    not_ok "ISP 1 gets '$(set_of isp1 www.foobar.example)' for www"

# --- 3: the services files, and a DNS-LB restart without any DNS-B ------------
for lb in lb1 lb2; do
    lb_file $lb "^    policy: cost$" && lb_file $lb "^    margin-ms: 7\.500$" &&
        lb_file $lb "site: paris $SITE1 weight=1 cost=10\.000 check=http://[^ ]+/probe check-verify=yes" &&
        ok "$lb's services file keeps the policy, margin-ms and costs" ||
        not_ok "$lb's services file: $(sed -n "/name: $SVC/,/^service:/p" "$W/$lb/services.conf")"
done
world_stop b1
world_stop b2
world_stop lb1
: >"$W/lb1.log"
world_dnslb lb1 || not_ok "lb1 did not restart"
check "lb1 serves the services of its file" "$(cat "$W/lb1.log")" "services read from"
# Once both sites are measured again, latency would answer paris (5 ms from
# lb1, newyork 120 ms), cost answers newyork. (The answer table follows the
# measurements within a moment: polled.)
alive() { world_lbctl lb1 sites | grep -Eq "^$SVC\. +$1 +[^ ]+ +alive "; }
wait_until 10 alive paris && wait_until 10 alive newyork ||
    not_ok "lb1 did not measure shop's sites after its restart: $(world_lbctl lb1 sites)"
direct() { [ "$(lb_set "$LB1" lb1)" = "$SITE3" ]; }
wait_until 5 direct && ok "restarted with no DNS-B up, lb1 answers by cost from its file: newyork" ||
    not_ok "restarted lb1 answers '$(lb_set "$LB1" lb1)'"
check_not "no DNS-B was reached" "$(cat "$W/lb1.log")" "services serial [0-9]+ \((full|delta)\)"

finish

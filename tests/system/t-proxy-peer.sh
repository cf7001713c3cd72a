#!/usr/bin/env bash
# Proxy-cache mode with peer proxies (dnslb.conf(5), proxy: peer): two
# DNS-LBs, each driving its own real Varnish, name each other as peers. A
# miss asks the peer's cache first (X-Glb-Peer-Lookup: answered from its
# cache only, never fetched there), then the origins. Real curl is the client.
#
#   127.0.0.42        dnslb lb1 (DNS PORT1, control CPORT1), Varnish V1 on VP1
#   127.0.0.43        dnslb lb2 (DNS PORT2, control CPORT2), Varnish V2 on VP2
#   127.0.0.11-12     sites a, b: the fixture, HTTP on HP (a the faster)
. "$(dirname "$0")/lib.sh"
PATH=$PATH:/usr/sbin:/sbin

for t in python3 curl varnishd varnishadm; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
[ -x "$DNSLB" ] && [ -x "$DNSLB_CONTROL" ] || { echo "dnslb not built in $BUILDDIR"; exit 77; }

ports=()
while [ ${#ports[@]} -lt 7 ]; do
    p=$(free_port) || { echo "no free port"; exit 1; }
    case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
PORT1=${ports[0]} CPORT1=${ports[1]} PORT2=${ports[2]} CPORT2=${ports[3]} HP=${ports[4]} VP1=${ports[5]} VP2=${ports[6]}

start_fixture --listen 127.0.0.11:$HP --listen 127.0.0.12:$HP --control 127.0.0.1:0 || exit 1
fx "/set?addr=127.0.0.12&port=$HP&delay_ms=60" >/dev/null
fx "/set?cache_control=max-age=60" >/dev/null
printf 'vcl 4.1;\nbackend default none;\n' >"$TMP/boot.vcl"

# start_pair N ADDR DNSPORT CPORT VP PEERNAME PEERADDR PEERPORT
start_pair() {
    local n=$1 addr=$2 dport=$3 cport=$4 vp=$5
    mkdir -p "$TMP/vcl$n"
    varnishd -F -j none -a "$addr:$vp" -T 127.0.0.1:0 -n "$TMP/varnish$n" -f "$TMP/boot.vcl" \
        -p default_grace=0 -s malloc,32m >"$TMP/varnish$n.log" 2>&1 &
    eval "VARNISH${n}_PID=$!"
    PIDS+=("$!")
    wait_until 20 varnishadm -n "$TMP/varnish$n" -t 2 ping || { cat "$TMP/varnish$n.log"; echo "varnishd $n did not start"; exit 1; }
    cat >"$TMP/lb$n.conf" <<CONF
server:
    listen: $addr@$dport
    id: lb$n
$(lb_control_keys)
    control: $addr@$cport
probe:
    http-interval: 2
    timeout: 1
    source-address: $addr
proxy:
    engine: varnish
    address: $addr@$vp
    varnish-name: $TMP/varnish$n
    vcl-dir: $TMP/vcl$n
    min-interval: 1
    peer: $6 $7@$8
service:
    name: www.foobar.example.
    answer-count: 1
    proxy-answer: yes
    site: a 127.0.0.11 check=http://127.0.0.11:$HP/probe
    site: b 127.0.0.12 check=http://127.0.0.12:$HP/probe
CONF
    LBCTL_ADDR=$addr@$cport
    start_dnslb "$TMP/lb$n.conf" "$TMP/lb$n.log" || exit 1
}
start_pair 1 127.0.0.42 "$PORT1" "$CPORT1" "$VP1" lb2 127.0.0.43 "$VP2"
start_pair 2 127.0.0.43 "$PORT2" "$CPORT2" "$VP2" lb1 127.0.0.42 "$VP1"

in_sync() { # N: lbN's VCL, with its peer, is in use
    "$DNSLB_CONTROL" -s "$1" -c "$LBCTL_CONF" -t 5 status | grep -q 'state in-sync' && grep -q "backend glb_peer_" "$2/current.vcl"
}
for n in 1 2; do
    ctl=127.0.0.4$((n + 1))@$([ $n = 1 ] && echo "$CPORT1" || echo "$CPORT2")
    if wait_until 20 in_sync "$ctl" "$TMP/vcl$n"; then
        ok "lb$n: VCL with its peer in use (${WAITED}s)"
    else
        not_ok "lb$n: no VCL with its peer"; "$DNSLB_CONTROL" -s "$ctl" -c "$LBCTL_CONF" status; tail "$TMP/lb$n.log"
    fi
done

get() { # ADDR PORT PATH [CURL ARGS]: status line and headers
    local addr=$1 port=$2 path=$3
    shift 3
    curl -sS -D - -o /dev/null --max-time 10 --resolve "www.foobar.example:$port:$addr" "$@" \
        "http://www.foobar.example:$port$path" 2>&1 | tr -d '\r'
}
hdr() { sed -n "s/^$1: //Ip" | head -n 1; }
origin_fetches() { # requests the sites served for the proxies (from 127.0.0.1, not the checks)
    fx /stats | python3 -c '
import json, sys
s = json.load(sys.stdin)["sources"]
print(sum(v.get("127.0.0.1", 0) for v in s.values()))'
}

# --- V2 fetches an object from the origin (its peer V1 has nothing: a miss
# there, and V1 does not fetch it)
before=$(origin_fetches)
r=$(get 127.0.0.43 "$VP2" /shared)
check "via lb2's proxy: 200 from the best origin, a" "$r" "^X-Served-By: 127.0.0.11:$HP$"
check_not "via lb2's proxy: not from its peer (lb1 did not have it)" "$r" "^X-Glb-From-Peer:"
check_eq "one origin fetch in all (lb1's cache answered the lookup with a miss, fetched nothing)" \
    "$(origin_fetches)" "$((before + 1))"

# --- V1 misses it and gets it from its peer V2's cache, not from the origin
before=$(origin_fetches)
r=$(get 127.0.0.42 "$VP1" /shared)
check "via lb1's proxy: 200" "$r" "^HTTP/1.1 200"
check "via lb1's proxy: from the peer lb2's cache" "$r" "^X-Glb-From-Peer: glb_peer_lb2$"
check "... which says it is lb2" "$r" "^X-Glb-Peer: lb2$"
check "... the object the origin a served" "$r" "^X-Served-By: 127.0.0.11:$HP$"
check_eq "no origin fetch" "$(origin_fetches)" "$before"
r=$(get 127.0.0.42 "$VP1" /shared)
check "again via lb1: now a hit in its own cache" "$(hdr X-Varnish <<<"$r")" "^[0-9]+ [0-9]+$"

# --- what the peer does not hold comes from the origin
before=$(origin_fetches)
r=$(get 127.0.0.42 "$VP1" /only-origin)
check "not at the peer: from the origin" "$r" "^X-Served-By: 127.0.0.11:$HP$"
check_not "not at the peer: no X-Glb-From-Peer" "$r" "^X-Glb-From-Peer:"
check_eq "not at the peer: one origin fetch (the peer fetched nothing)" "$(origin_fetches)" "$((before + 1))"

# --- a peer lookup by hand: from the cache only
r=$(get 127.0.0.43 "$VP2" /never-fetched -H 'X-Glb-Peer-Lookup: 1')
check "a lookup of what a cache lacks: 404" "$r" "^HTTP/1.1 404"
check "... with X-Glb-Peer-Miss" "$r" "^X-Glb-Peer-Miss: 1$"

# --- the peer down: straight on to the origins, no client-visible error
stop_pid "$VARNISH2_PID"
r=$(get 127.0.0.42 "$VP1" /peer-down)
check "peer's proxy down: 200" "$r" "^HTTP/1.1 200"
check "peer's proxy down: from the origin" "$r" "^X-Served-By: 127.0.0.11:$HP$"
finish

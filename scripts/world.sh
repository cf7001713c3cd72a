# The whole system on one machine, for scripts/demo and the end-to-end system
# tests (tests/system/t-e2e*.sh): NSD as the enterprise's DNS-A, two DNS-Bs,
# two ISPs (a resolver, unbound for ISP 1 and BIND for ISP 2, and a DNS-LB each), three web sites (the test
# fixture server, with delays that depend on who measures them), all inside a
# private network namespace (DESIGN §11) on loopback addresses, every DNS
# server on port 53 as real resolvers expect. Configurations come from
# conf/demo/. Sourced (bash); every process it starts is stopped by PID.
#
#   address (v4 / v6)                 what
#   127.0.0.10  / 2001:db8::10        NSD: DNS-A for foobar.example, fake root
#   127.0.1.1-2 / 2001:db8:1::1-2     dnsb b1, b2 (DNS 53, map 5380, control 8953)
#   127.0.1.101-102 / 2001:db8:1::101-102  b1's and b2's standby for the DNS-LB zones
#   127.0.2.1   / 2001:db8:2::1       ISP 1's unbound; it queries from .11 (egress)
#   127.0.2.42  / 2001:db8:2::42      ISP 1's dnslb lb1 (DNS 53, control 8954 on 127.0.2.42)
#   127.0.3.x   / 2001:db8:3::x       ISP 2, the same with BIND 9 as its resolver
#   127.0.4.1-3 / 2001:db8:4::1-3     sites paris, tokyo, newyork (HTTP 80)
#   127.0.5.0/24                      clients that ISP 1's resolver serves but lb2 claims (ECS)
#   127.0.9.42  / 2001:db8:9::42      a rogue dnslb (valid certificate, other allow prefixes)
#   127.0.6.1                         ISP 3's combined box cb (resolver + DNS-LB; egress .11,
#                                     clients 127.0.6.0/24), v4 loopback world only
#   127.0.7.1-2                       its measurement agents ag1, ag2 (mservice; control @8955)
#   198.18.6.1 (br0)                  the box for its two client networks, each a namespace:
#   198.18.6.40, 198.18.6.50          POP A (popa, ag1's 198.18.6.32/28), POP B (popb, ag2's /28)
#
# With WORLD_SPLIT=1 (v4), each ISP and each site gets a namespace of its own,
# joined to the DNS-A and DNS-Bs by a bridge, on 198.18.0.0/15 addresses
# (198.18.x.y for 127.0.x.y above): every packet between them crosses veths.

# world_netns SCRIPT ARGS...: re-executes SCRIPT inside a new network
# namespace unless already in one; returns 77 when none can be made.
world_netns() {
    [ -n "${GLB_WORLD_NETNS:-}" ] && return 0
    local script=$1
    shift
    if [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then
        GLB_WORLD_NETNS=1 exec unshare -n bash "$script" "$@"
    fi
    echo "needs root to create a private network namespace (unshare -n)" >&2
    return 77
}

# world_init DIR BUILD FAMILY(4|6): addresses and paths; brings lo up.
world_init() {
    W=$1 WB=$2 WF=${3:-4}
    WTOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    declare -gA WPID=() WX=()
    mkdir -p "$W/certs" "$W/nsd"
    PATH=$PATH:/usr/sbin:/sbin
    ip link set lo up || return 1
    local links
    links=$(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
    [ "$links" = "lo " ] || { echo "not in a private network namespace (links: $links)" >&2; return 1; }
    if [ "$WF" = 6 ]; then
        DNSA=2001:db8::10 B1=2001:db8:1::1 B2=2001:db8:1::2 SB1=2001:db8:1::101 SB2=2001:db8:1::102
        ISP1=2001:db8:2::1 EG1=2001:db8:2::11 LB1=2001:db8:2::42
        ISP2=2001:db8:3::1 EG2=2001:db8:3::11 LB2=2001:db8:3::42
        SITE1=2001:db8:4::1 SITE2=2001:db8:4::2 SITE3=2001:db8:4::3 ROGUE=2001:db8:9::42
        ISP1_NET=2001:db8:2::/48 ISP2_NET=2001:db8:3::/48 ROGUE_NET=2001:db8:9::/48
        CLIENTS2=2001:db8:5::/48 RR=AAAA CB=2001:db8:6::1 CBEG=2001:db8:6::11 CB_NET=2001:db8:6::/48
        local a
        for a in $DNSA $B1 $B2 $SB1 $SB2 $ISP1 $EG1 $LB1 $ISP2 $EG2 $LB2 $SITE1 $SITE2 $SITE3 $ROGUE; do
            ip -6 addr add "$a/128" dev lo nodad || return 1
        done
    elif [ "${WORLD_SPLIT:-0}" = 1 ]; then
        DNSA=198.18.0.10 B1=198.18.1.1 B2=198.18.1.2 SB1=198.18.1.101 SB2=198.18.1.102
        ISP1=198.18.2.1 EG1=198.18.2.11 LB1=198.18.2.42
        ISP2=198.18.3.1 EG2=198.18.3.11 LB2=198.18.3.42
        SITE1=198.18.4.1 SITE2=198.18.4.2 SITE3=198.18.4.3 ROGUE=198.18.0.42
        ISP1_NET=198.18.2.0/24 ISP2_NET=198.18.3.0/24 ROGUE_NET=198.18.9.0/24
        CLIENTS2=198.18.5.0/24 RR=A CB=198.18.6.1 CBEG=198.18.6.11 CB_NET=198.18.6.0/24
        _w_split || return 1
    else
        DNSA=127.0.0.10 B1=127.0.1.1 B2=127.0.1.2 SB1=127.0.1.101 SB2=127.0.1.102
        ISP1=127.0.2.1 EG1=127.0.2.11 LB1=127.0.2.42
        ISP2=127.0.3.1 EG2=127.0.3.11 LB2=127.0.3.42
        SITE1=127.0.4.1 SITE2=127.0.4.2 SITE3=127.0.4.3 ROGUE=127.0.9.42
        ISP1_NET=127.0.2.0/24 ISP2_NET=127.0.3.0/24 ROGUE_NET=127.0.9.0/24
        CLIENTS2=127.0.5.0/24 RR=A CB=127.0.6.1 CBEG=127.0.6.11 CB_NET=127.0.6.0/24
    fi
    # Control channels on v4 loopback (TLS; a dnslb's with its map certificate).
    CTL_B1=127.0.1.1 CTL_B2=127.0.1.2 CTL_LB1=127.0.2.42 CTL_LB2=127.0.3.42 CTL_ROGUE=127.0.9.42 CTL_CB=127.0.6.1
    FIXTURE_CTL=127.0.4.100:8099
}

# _w_ns NAME ADDR...: a network namespace (held by a sleeping process) with
# lo and eth0 up, eth0 on the bridge with ADDRs; commands run in it through
# the prefix in WX[NAME].
_w_ns() {
    local name=$1 p a
    shift
    unshare -n sleep 100000 &
    p=$!
    WPID[ns-$name]=$p
    WX[$name]="nsenter -t $p -n"
    sleep 0.1
    ip link add "v-$name" type veth peer name eth0 netns "$p" && ip link set "v-$name" master br0 up || return 1
    ${WX[$name]} ip link set lo up && ${WX[$name]} ip link set eth0 up || return 1
    for a in "$@"; do ${WX[$name]} ip addr add "$a/15" dev eth0 || return 1; done
}

# _w_split: the bridge, the backbone's addresses on it, and a namespace per
# ISP (resolver, egress, DNS-LB) and per site.
_w_split() {
    ip link add br0 type bridge && ip link set br0 up || return 1
    for a in $DNSA $B1 $B2 $SB1 $SB2 $ROGUE; do ip addr add "$a/15" dev br0 || return 1; done
    _w_ns isp1 $ISP1 $EG1 $LB1 && _w_ns isp2 $ISP2 $EG2 $LB2 &&
        _w_ns site1 $SITE1 && _w_ns site2 $SITE2 && _w_ns site3 $SITE3 || return 1
    WX[lb1]=${WX[isp1]} WX[lb2]=${WX[isp2]}
}

# _w_site_ns SITE: the WX key of the namespace serving SITE ("" when shared).
_w_site_ns() {
    [ "${WORLD_SPLIT:-0}" = 1 ] || { echo sites; return 0; }
    case $1 in "$SITE1") echo site1 ;; "$SITE2") echo site2 ;; *) echo site3 ;; esac
}

# url ADDR: host part of a URL.
_w_url() { case $1 in *:*) echo "[$1]" ;; *) echo "$1" ;; esac; }

# _w_render TEMPLATE OUT: fills the @VAR@ placeholders of a conf/demo file.
_w_render() {
    local do4=yes do6=no
    [ "$WF" = 6 ] && do4=no do6=yes
    sed -e "s|@DIR@|$W|g" -e "s|@B1@|$B1|g" -e "s|@B2@|$B2|g" -e "s|@DNSA@|$DNSA|g" -e "s|@RR@|$RR|g" \
        -e "s|@SB1@|$SB1|g" -e "s|@SB2@|$SB2|g" \
        -e "s|@DO4@|$do4|g" -e "s|@DO6@|$do6|g" \
        -e "s|@SITE1@|$SITE1|g" -e "s|@SITE2@|$SITE2|g" -e "s|@SITE3@|$SITE3|g" \
        -e "s|@SITE1_URL@|$(_w_url $SITE1)|g" -e "s|@SITE2_URL@|$(_w_url $SITE2)|g" \
        -e "s|@SITE3_URL@|$(_w_url $SITE3)|g" \
        -e "s|@ISP1_NET@|$ISP1_NET|g" -e "s|@ISP2_NET@|$ISP2_NET|g" -e "s|@ROGUE_NET@|$ROGUE_NET|g" \
        -e "s|@CLIENTS1_NET@||g" -e "s|@CLIENTS2_NET@|$CLIENTS2|g" -e "s|@CB_NET@|$CB_NET|g" \
        "${@:3}" "$WTOP/conf/demo/$1" >"$2"
}

# world_certs: a CA, one certificate per DNS-B (its address in subjectAltName)
# and per DNS-LB (CN = its id), and one from another CA.
world_certs() {
    . "$WTOP/tests/system/certs.sh"
    make_ca "$W/certs" ca && make_cert "$W/certs" ca b1 "$B1" && make_cert "$W/certs" ca b2 "$B2" &&
        make_cert "$W/certs" ca lb1 && make_cert "$W/certs" ca lb2 && make_cert "$W/certs" ca rogue && make_cert "$W/certs" ca cb "$CB" &&
        make_cert "$W/certs" ca ag1 && make_cert "$W/certs" ca ag2
}

# _w_start NAME CMD...: a foreground daemon in the background, log in $W/NAME.log.
_w_start() {
    local name=$1
    shift
    ${WX[$name]:-} "$@" >>"$W/$name.log" 2>&1 &
    WPID[$name]=$!
}

# world_stop NAME [SIGNAL]: stops what _w_start started under NAME.
world_stop() {
    local p=${WPID[$1]:-}
    [ -n "$p" ] || return 0
    kill "-${2:-TERM}" "$p" 2>/dev/null
    wait "$p" 2>/dev/null || true # a killed process's status is no error here
    unset "WPID[$1]"
}

world_stop_all() {
    local n
    for n in "${!WPID[@]}"; do
        kill "${WPID[$n]}" 2>/dev/null
    done
    for n in "${!WPID[@]}"; do
        wait "${WPID[$n]}" 2>/dev/null || true # killed by the signal (a namespace's sleep): no error here
    done
    WPID=()
}

# _w_wait SECONDS CMD...: until CMD succeeds (every 0.2 s), at most SECONDS.
_w_wait() {
    local end=$((SECONDS + $1))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.2
    done
}

# _w_dns_up ADDR ZONE [+rec]: the server at ADDR answers for ZONE.
_w_dns_up() { dig "${3:-+norec}" +time=1 +tries=1 @"$1" "$2" SOA | grep -q 'status: NOERROR'; }

# world_sites: the fixture serves the three sites; each DNS-LB sees its own
# delays (ISP 1 is near paris, ISP 2 near tokyo; newyork is far from both).
world_sites() {
    local l=() a ns
    if [ "${WORLD_SPLIT:-0}" = 1 ]; then # one fixture per site, in its namespace
        for a in $SITE1 $SITE2 $SITE3; do
            ns=$(_w_site_ns "$a")
            ${WX[$ns]} python3 "$WTOP/tests/fixture/httpd.py" --listen "$a:80" --control "$FIXTURE_CTL" \
                >"$W/$ns.out" 2>"$W/$ns.log" &
            WPID[$ns]=$!
            _w_wait 10 grep -qx ready "$W/$ns.out" || { cat "$W/$ns.log" >&2; return 1; }
        done
    else
        for a in $SITE1 $SITE2 $SITE3; do l+=(--listen "$(_w_url "$a"):80"); done
        python3 "$WTOP/tests/fixture/httpd.py" "${l[@]}" --control "$FIXTURE_CTL" >"$W/fixture.out" 2>"$W/fixture.log" &
        WPID[sites]=$!
        _w_wait 10 grep -qx ready "$W/fixture.out" || { cat "$W/fixture.log" >&2; return 1; }
    fi
    world_delay "$SITE1" "$LB1" 5 && world_delay "$SITE2" "$LB1" 60 && world_delay "$SITE3" "$LB1" 120 &&
        world_delay "$SITE1" "$LB2" 120 && world_delay "$SITE2" "$LB2" 5 && world_delay "$SITE3" "$LB2" 60 &&
        world_delay "$SITE1" "$ROGUE" 5 && world_delay "$SITE2" "$ROGUE" 5 && world_delay "$SITE3" "$ROGUE" 5
}

# world_fx SITE PATH?QUERY: the control port of the fixture serving SITE.
world_fx() {
    local ns
    ns=$(_w_site_ns "$1")
    ${WX[$ns]:-} python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
        "http://$FIXTURE_CTL$2"
}
# world_delay SITE SOURCE MS: the delay SITE shows to checks from SOURCE.
world_delay() { world_fx "$1" "/set?port=80&addr=$1&src=$2&delay_ms=$3" >/dev/null; }
# world_site_status SITE CODE: what SITE answers (500: it fails its checks).
world_site_status() { world_fx "$1" "/set?port=80&addr=$1&status=$2" >/dev/null; }

world_nsd() {
    _w_render nsd.conf "$W/nsd/nsd.conf"
    _w_render foobar.example.zone "$W/nsd/foobar.example.zone"
    _w_render root.zone "$W/nsd/root.zone"
    _w_render root.hints "$W/root.hints"
    _w_start nsd nsd -d -c "$W/nsd/nsd.conf"
    _w_wait 10 _w_dns_up "$DNSA" foobar.example || { tail "$W/nsd.log" >&2; return 1; }
}

# world_dnsb b1|b2 (WORLD_DNSB_SED: one more sed expression for its dnsb.conf)
world_dnsb() {
    local id=$1 addr ctl sb
    [ "$id" = b1 ] && addr=$B1 ctl=$CTL_B1 sb=$SB1 || { addr=$B2 ctl=$CTL_B2 sb=$SB2; }
    mkdir -p "$W/$id"
    [ -f "$W/$id/dnsb.conf" ] || _w_render dnsb.conf "$W/$id/dnsb.conf" -e "s|@ID@|$id|g" -e "s|@ADDR@|$addr|g" \
        -e "s|@CTL@|$ctl|g" -e "s|@SBADDR@|$sb|g" -e "${WORLD_DNSB_SED:-}"
    _w_start "$id" "$WB/dnsb/dnsb" -d -c "$W/$id/dnsb.conf"
    _w_wait 10 _w_dns_up "$addr" glb.example.net || { tail "$W/$id.log" >&2; return 1; }
}

# world_unbound isp1|isp2 [ecs]: ecs makes the resolver send client subnets to the DNS-Bs.
world_unbound() {
    local id=$1 addr eg ecs=""
    [ "$id" = isp1 ] && addr=$ISP1 eg=$EG1 || { addr=$ISP2 eg=$EG2; }
    if [ "${2:-}" = ecs ]; then
        ecs="    module-config: \"subnetcache iterator\"\n    send-client-subnet: $B1\n    send-client-subnet: $B2\n    max-client-subnet-ipv4: 24\n    max-client-subnet-ipv6: 48"
    else
        ecs='    module-config: "iterator"'
    fi
    mkdir -p "$W/$id"
    _w_render unbound.conf "$W/$id/unbound.conf" -e "s|@ID@|$id|g" -e "s|@ADDR@|$addr|g" -e "s|@EGRESS@|$eg|g" \
        -e "s|@ECS@|$ecs|g"
    _w_start "$id" unbound -d -c "$W/$id/unbound.conf"
    _w_wait 10 _w_dns_up "$addr" foobar.example +rec || { tail "$W/$id.log" >&2; return 1; }
}

# world_bind isp1|isp2: the ISP's resolver is BIND 9 (named) instead.
world_bind() {
    local id=$1 addr eg listen qs fam=-4
    [ "$id" = isp1 ] && addr=$ISP1 eg=$EG1 || { addr=$ISP2 eg=$EG2; }
    if [ "$WF" = 6 ]; then
        fam=-6 listen="listen-on { none; }; listen-on-v6 port 53 { $addr; };"
        qs="query-source-v6 address $eg;"
    else
        listen="listen-on port 53 { $addr; }; listen-on-v6 { none; };"
        qs="query-source address $eg;"
        # BIND listens only on interface addresses (a split world has them on eth0)
        [ "${WORLD_SPLIT:-0}" = 1 ] || ip addr add "$addr/32" dev lo 2>/dev/null || true
    fi
    mkdir -p "$W/$id"
    _w_render named.conf "$W/$id/named.conf" -e "s|@ID@|$id|g" -e "s|@LISTEN@|$listen|g" -e "s|@QUERY_SOURCE@|$qs|g"
    _w_start "$id" named -g -n 1 $fam -c "$W/$id/named.conf"
    _w_wait 15 _w_dns_up "$addr" foobar.example +rec || { tail "$W/$id.log" >&2; return 1; }
}

# world_dnslb lb1|lb2|rogue: a DNS-LB for ISP 1, ISP 2, or a rogue one that
# claims ISP 1's resolver; lb2 also claims the client subnet CLIENTS2
# (WORLD_DNSLB_SED: one more sed expression for its dnslb.conf).
world_dnslb() {
    local id=$1 addr ctl res cp=""
    case $id in
        lb1) addr=$LB1 ctl=$CTL_LB1 res=$ISP1 ;;
        lb2) addr=$LB2 ctl=$CTL_LB2 res=$ISP2 cp="    client-prefix: $CLIENTS2" ;;
        rogue) addr=$ROGUE ctl=$CTL_ROGUE res=$ISP1 ;;
    esac
    mkdir -p "$W/$id"
    [ -f "$W/$id/dnslb.conf" ] || _w_render dnslb.conf "$W/$id/dnslb.conf" -e "s|@ID@|$id|g" -e "s|@ADDR@|$addr|g" \
        -e "s|@CTL@|$ctl|g" -e "s|@RESOLVER@|$res|g" -e "s|@CLIENT_PREFIX@|$cp|g" -e "${WORLD_DNSLB_SED:-}"
    _w_start "$id" "$WB/dnslb/dnslb" -d -c "$W/$id/dnslb.conf"
    _w_wait 10 world_lbctl "$id" status || { tail "$W/$id.log" >&2; return 1; }
}

# world_combined: ISP 3's combined box cb (v4 loopback world): its clients'
# resolver and their DNS-LB in one dnslb; sites measured from it: newyork
# best, tokyo next, paris slow (WORLD_CB_SED: one more sed expression for
# its dnslb.conf).
world_combined() {
    mkdir -p "$W/cb"
    _w_render dnslb-combined.conf "$W/cb/dnslb.conf" -e "s|@ADDR@|$CB|g" -e "s|@CTL@|$CTL_CB|g" \
        -e "s|@EGRESS@|$CBEG|g" -e "${WORLD_CB_SED:-}"
    world_delay "$SITE1" "$CB" 120 && world_delay "$SITE2" "$CB" 60 && world_delay "$SITE3" "$CB" 5 || return 1
    _w_start cb "$WB/dnslb/dnslb" -d -c "$W/cb/dnslb.conf"
    _w_wait 10 world_lbctl cb status || { tail "$W/cb.log" >&2; return 1; }
}

# world_agent ID ADDR CLIENTS INTERVAL: a measurement agent (mservice) of the
# combined box at ADDR, measuring for the clients CLIENTS (a prefix), pushing
# every INTERVAL seconds (WORLD_AGENT_SED: one more sed expression).
world_agent() {
    local id=$1 addr=$2 clients=$3 interval=$4
    mkdir -p "$W/$id"
    _w_render mservice.conf "$W/$id/mservice.conf" -e "s|@ID@|$id|g" -e "s|@ADDR@|$addr|g" -e "s|@CB@|$CB|g" \
        -e "s|@CLIENTS@|$clients|g" -e "s|@INTERVAL@|$interval|g" -e "${WORLD_AGENT_SED:-}"
    _w_start "$id" "$WB/mservice/mservice" -d -c "$W/$id/mservice.conf"
    _w_wait 10 world_agentctl "$id" "$addr" status || { tail "$W/$id.log" >&2; return 1; }
}

# world_combined_agents MAXAGE AG2_INTERVAL: ISP 3's combined box with an
# agents: section (metrics count MAXAGE s) and two client networks, each in
# a namespace of its own on a bridge (POP A: popa, 198.18.6.40; POP B:
# popb, 198.18.6.50), which reach the box at CB_POP (198.18.6.1); and an
# agent near each POP: ag1 at AG1 for 198.18.6.32/28 (paris best from there,
# pushing every 300 s), ag2 at AG2 for 198.18.6.48/28 (tokyo best, every
# AG2_INTERVAL s). The box's own egress (127.0.6.11) is in neither prefix.
world_combined_agents() {
    local a
    AG1=127.0.7.1 AG2=127.0.7.2 CB_POP=198.18.6.1 POPA=198.18.6.40 POPB=198.18.6.50
    { ip link show br0 >/dev/null 2>&1 || { ip link add br0 type bridge && ip link set br0 up; }; } &&
        ip addr add "$CB_POP/15" dev br0 && _w_ns popa "$POPA" && _w_ns popb "$POPB" || return 1
    WORLD_CB_SED="s|^    listen: \(.*\)\$|    listen: \1\n    listen: $CB_POP@53|;s|^recursion:|agents:\n    listen: $CB@5381\n    tls-cert-file: $W/certs/cb.pem\n    tls-key-file: $W/certs/cb.key\n    tls-ca-file: $W/certs/ca.pem\n    allow: ag1 198.18.6.0/24\n    allow: ag2 198.18.6.0/24\n    max-age: $1\nrecursion:\n    access-control: 198.18.6.0/24\n    access-control: 127.0.7.0/24|" \
        world_combined || return 1
    for a in $AG1 $AG2; do
        world_delay "$SITE1" "$a" 60 && world_delay "$SITE2" "$a" 60 && world_delay "$SITE3" "$a" 120 || return 1
    done
    world_delay "$SITE1" "$AG1" 5 && world_delay "$SITE2" "$AG2" 5 &&
        world_agent ag1 "$AG1" 198.18.6.32/28 300 && world_agent ag2 "$AG2" 198.18.6.48/28 "$2"
}

# world_pop_ask popa|popb|box NAME [TYPE] [dig options]: what a client of that
# POP's network (box: one on the box's own network, 127.0.6.100) gets from
# the combined box.
world_pop_ask() {
    local pop=$1
    shift
    case $pop in
        box) dig +time=2 +tries=1 -b 127.0.6.100 @"$CB" "$@" 2>&1 ;;
        *) ${WX[$pop]} dig +time=2 +tries=1 @"$CB_POP" "$@" 2>&1 ;;
    esac
}

# world_agentctl ID ADDR COMMAND...: the control channel of agent ID at ADDR
# (TLS: the agent's own certificate is the one its control allows).
world_agentctl() {
    local id=$1 addr=$2
    shift 2
    "$WB/dnslb/dnslb-control" -s "$addr@8955" -C "$W/certs/$id.pem" -K "$W/certs/$id.key" -A "$W/certs/ca.pem" \
        -t 5 "$@"
}

# world_lbctl lb1|lb2|rogue|cb COMMAND...: dnslb-control of that DNS-LB, over
# TLS with the certificates of its dnslb.conf (its own, as dnsb-control).
world_lbctl() {
    local id=$1 ctl
    shift
    case $id in lb1) ctl=$CTL_LB1 ;; lb2) ctl=$CTL_LB2 ;; cb) ctl=$CTL_CB ;; *) ctl=$CTL_ROGUE ;; esac
    ${WX[$id]:-} "$WB/dnslb/dnslb-control" -s "$ctl@8954" -c "$W/$id/dnslb.conf" -t 5 "$@"
}

# world_bctl b1|b2 COMMAND...: dnsb-control of that DNS-B.
world_bctl() {
    local id=$1
    shift
    "$WB/dnsb/dnsb-control" -c "$W/$id/dnsb.conf" -t 5 "$@"
}

# world_registered B ID PREFIX: DNS-B B maps PREFIX (e.g. the ISP's egress) to ID.
world_registered() {
    world_bctl "$1" lookup "$3" | grep -q "^lb: $2 "
}

# world_ask ISP NAME [dig options]: what a client of that ISP's resolver gets.
world_ask() {
    local isp=$1 name=$2 addr
    shift 2
    [ "$isp" = isp1 ] && addr=$ISP1 || addr=$ISP2
    ${WX[$isp]:-} dig +time=3 +tries=1 @"$addr" "$name" "$RR" "$@"
}

# world_answer ISP NAME [dig options]: the addresses only, one line.
world_answer() {
    world_ask "$@" +short | grep -vE '\.$' | tr '\n' ' ' | sed 's/ $//'
}

# world_up [ecs]: everything, in dependency order; waits until both DNS-LBs
# are registered (their egress addresses, learned by whoami) at both DNS-Bs.
world_up() {
    world_certs || { echo "openssl cannot make certificates" >&2; return 1; }
    world_sites && world_nsd && world_dnsb b1 && world_dnsb b2 && world_unbound isp1 "${1:-}" &&
        world_bind isp2 && world_dnslb lb1 && world_dnslb lb2 || return 1
    _w_wait 30 world_registered b1 lb1 "$EG1" && _w_wait 10 world_registered b2 lb1 "$EG1" &&
        _w_wait 10 world_registered b1 lb2 "$EG2" && _w_wait 10 world_registered b2 lb2 "$EG2"
}

#!/usr/bin/env bash
# The whole referral chain of DESIGN §3 with real, unmodified peers: unbound as
# the ISP resolver, NSD as the enterprise's DNS-A and as a stand-in DNS-LB, dnsb
# as the DNS-B, each on port 53 of its own 127.x address (resolvers query port
# 53 of glue addresses), all inside a private network namespace (DESIGN §11).
#
#   127.0.0.10   NSD #1: DNS-A for foobar.example, and a fake root "." (empty)
#   127.0.0.53   dnsb: zone glb.example.net, lb42 serves resolver 127.0.0.101
#   127.0.0.42   NSD #2: stand-in DNS-LB 42 (lb42.www.foobar.example,
#                lb42.shop.svc.glb.example.net)
#   127.0.0.100  unbound #1, queries from 127.0.0.101 (mapped to lb42)
#   127.0.0.102  unbound #2, queries from 127.0.0.103 (not mapped: fail-open)

# Outside the namespace: re-exec this script inside a new one, or skip.
if [ -z "${GLB_CHAIN_NETNS:-}" ]; then
    for t in unbound nsd dig ip unshare; do
        command -v "$t" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
        command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
    done
    if [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then
        GLB_CHAIN_NETNS=1 exec unshare -n bash "$0" "$@"
    elif unshare -rn true 2>/dev/null; then
        GLB_CHAIN_NETNS=1 exec unshare -rn bash "$0" "$@"
    fi
    echo "cannot create a network namespace (unshare -n / unshare -rn refused)"
    exit 77
fi

. "$(dirname "$0")/lib.sh"
PATH=$PATH:/usr/sbin:/sbin

ip link set lo up || { echo "cannot bring lo up in the namespace"; exit 77; }
# Only lo may exist here, so nothing can leave the machine.
links=$(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
[ "$links" = "lo " ] || { echo "not in a private network namespace (links: $links)"; exit 1; }

# wait_up ADDR NAME: bounded wait (5 s) until the server on ADDR port 53 answers.
wait_up() { wait_dns "$1" 53 "$2"; }
# start NAME CMD...: run a foreground daemon in the background, log in $TMP/NAME.log.
start() {
    local name=$1
    shift
    "$@" >>"$TMP/$name.log" 2>&1 &
    PIDS+=("$!")
}
die() {
    echo "$*"
    local f
    for f in "$TMP"/*.log; do
        echo "--- $f"
        tail -n 20 "$f"
    done
    exit 1
}

# --- NSD #1: the enterprise's DNS-A, and an empty fake root so that unbound
# never has the Internet's roots to try.
mkdir -p "$TMP/nsd1" "$TMP/nsd2"
cat >"$TMP/nsd1/root.zone" <<'ZONE'
$TTL 86400
.                    IN SOA a.root-servers.net. hostmaster.root-servers.net. 1 3600 600 86400 60
.                    IN NS  a.root-servers.net.
a.root-servers.net.  IN A   127.0.0.10
ZONE
cat >"$TMP/nsd1/foobar.example.zone" <<'ZONE'
$ORIGIN foobar.example.
$TTL 86400
@                    IN SOA ns1 hostmaster 1 3600 600 86400 60
@                    IN NS  ns1
ns1                  IN A   127.0.0.10
; the DNS-A delegates the load-balanced name to the DNS-B
www        86400     IN NS  b1.glb.example.net.
; ... or CNAMEs a name into the backbone's zone
shop                 IN CNAME shop.svc.glb.example.net.
ZONE
cat >"$TMP/root.hints" <<'HINTS'
.                    3600000 IN NS a.root-servers.net.
a.root-servers.net.  3600000 IN A  127.0.0.10
HINTS

# --- NSD #2: stand-in DNS-LB 42, authoritative for its target zones.
cat >"$TMP/nsd2/lb42.www.foobar.example.zone" <<'ZONE'
$ORIGIN lb42.www.foobar.example.
$TTL 3600
@                    IN SOA ns hostmaster 1 3600 600 86400 60
@                    IN NS  ns
ns                   IN A   127.0.0.42
@          300       IN A   192.0.2.77
ZONE
cat >"$TMP/nsd2/lb42.shop.svc.glb.example.net.zone" <<'ZONE'
$ORIGIN lb42.shop.svc.glb.example.net.
$TTL 3600
@                    IN SOA ns hostmaster 1 3600 600 86400 60
@                    IN NS  ns
ns                   IN A   127.0.0.42
@          300       IN A   192.0.2.88
ZONE

# nsd_conf NAME ADDR ZONE...: an NSD configuration with all state in $TMP/NAME.
nsd_conf() {
    local name=$1 addr=$2 z
    shift 2
    cat <<CONF
server:
    ip-address: $addr@53
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$TMP/$name"
    zonelistfile: "$TMP/$name/zone.list"
    xfrdfile: "$TMP/$name/xfrd.state"
    xfrdir: "$TMP/$name"
    pidfile: "$TMP/$name/nsd.pid"
    cookie-secret-file: "$TMP/$name/cookiesecrets.txt"
    verbosity: 1
    rrl-ratelimit: 0
remote-control:
    control-enable: no
CONF
    for z in "$@"; do
        printf 'zone:\n    name: "%s"\n    zonefile: "%s.zone"\n' "$z" "$z"
    done
}
nsd_conf nsd1 127.0.0.10 . foobar.example >"$TMP/nsd1/nsd.conf"
sed -i 's/"\.\.zone"/"root.zone"/' "$TMP/nsd1/nsd.conf"
nsd_conf nsd2 127.0.0.42 lb42.www.foobar.example lb42.shop.svc.glb.example.net >"$TMP/nsd2/nsd.conf"

# --- dnsb: the DNS-B. Only unbound #1's egress (127.0.0.101) is mapped to lb42;
# 127.0.0.100, where unbound #1 listens, is not what dnsb sees.
cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.53@53
    workers: 1
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.53
    whoami: whoami.glb.example.net.
    pidfile: $TMP/dnsb.pid
    verbosity: 3
service:
    name: www.foobar.example.
    mode: referral
    ttl-referral: 3600
    ttl-answer: 300
    site: paris 192.0.2.10 weight=2
    site: tokyo 192.0.2.20 weight=1
service:
    name: shop.svc.glb.example.net.
    mode: referral
    site: frankfurt 198.51.100.10
    site: sydney 198.51.100.20
lb:
    id: lb42
    address: 127.0.0.42
    resolver: 127.0.0.101/32
CONF

# unbound_conf LISTEN EGRESS NAME: an ISP resolver that only knows loopback.
unbound_conf() {
    cat <<CONF
server:
    verbosity: 1
    interface: $1
    port: 53
    outgoing-interface: $2
    do-ip6: no
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    num-threads: 1
    username: ""
    chroot: ""
    directory: "$TMP"
    pidfile: "$TMP/$3.pid"
    use-syslog: no
    logfile: ""
    module-config: "iterator"
    root-hints: "$TMP/root.hints"
    qname-minimisation: yes
remote-control:
    control-enable: no
stub-zone:
    name: "foobar.example."
    stub-addr: 127.0.0.10
stub-zone:
    name: "glb.example.net."
    stub-addr: 127.0.0.53
CONF
}
unbound_conf 127.0.0.100 127.0.0.101 unbound1 >"$TMP/unbound1.conf"
unbound_conf 127.0.0.102 127.0.0.103 unbound2 >"$TMP/unbound2.conf"

start nsd1 nsd -d -c "$TMP/nsd1/nsd.conf"
start nsd2 nsd -d -c "$TMP/nsd2/nsd.conf"
start_dnsb "$TMP/dnsb.conf" "$TMP/dnsb.log"
wait_up 127.0.0.10 foobar.example || die "NSD #1 did not start"
wait_up 127.0.0.42 lb42.www.foobar.example || die "NSD #2 did not start"
wait_up 127.0.0.53 glb.example.net || die "dnsb did not start"
start unbound1 unbound -d -c "$TMP/unbound1.conf"
start unbound2 unbound -d -c "$TMP/unbound2.conf"
# localhost is a local zone: waiting for it makes unbound resolve nothing
wait_up 127.0.0.100 localhost || die "unbound #1 did not start"
wait_up 127.0.0.102 localhost || die "unbound #2 did not start"

# dig's output with runs of blanks squeezed to one space.
q() { dig +time=3 +tries=2 "$@" 2>&1 | tr -s ' \t' '  '; }
short() { dig +short +time=3 +tries=2 "$@" 2>&1 | sort | tr '\n' ' '; }

# The peers answer on their own as the chain needs.
out=$(q +norec @127.0.0.10 www.foobar.example A)
check "DNS-A delegates www to the DNS-B" "$out" '^www\.foobar\.example\. 86400 IN NS b1\.glb\.example\.net\.'
out=$(q +norec @127.0.0.53 -b 127.0.0.101 www.foobar.example A)
check "dnsb refers the mapped egress to lb42" "$out" '^www\.foobar\.example\. 3600 IN CNAME lb42\.www\.foobar\.example\.'

# 1. The referral chain through unbound #1: root hints -> stub DNS-A ->
# delegation -> dnsb CNAME + delegation -> NSD #2 (the DNS-LB's answer).
out=$(q @127.0.0.100 www.foobar.example A)
check "chain: NOERROR" "$out" 'status: NOERROR'
check "chain: dnsb's CNAME to lb42" "$out" '^www\.foobar\.example\. [0-9]+ IN CNAME lb42\.www\.foobar\.example\.'
check "chain: the DNS-LB's address" "$out" '^lb42\.www\.foobar\.example\. [0-9]+ IN A 192\.0\.2\.77$'
check_not "chain: no fail-open address" "$out" 'IN A 192\.0\.2\.(10|20)$'
check_eq "chain: +short" "$(short @127.0.0.100 www.foobar.example A)" "192.0.2.77 lb42.www.foobar.example."

# 2. Egress discovery: through unbound #1, dnsb sees 127.0.0.101, not .100.
out=$(q @127.0.0.100 x1.whoami.glb.example.net TXT)
check "whoami through unbound #1: its egress address" "$out" 'IN TXT "src=127\.0\.0\.101"'
out=$(q @127.0.0.102 x2.whoami.glb.example.net TXT)
check "whoami through unbound #2: its egress address" "$out" 'IN TXT "src=127\.0\.0\.103"'

# 3. Per-resolver answers: unbound #2's egress is not mapped, so dnsb answers
# fail-open (the sites' addresses themselves, no CNAME).
out=$(q @127.0.0.102 www.foobar.example A)
check "fail-open: NOERROR" "$out" 'status: NOERROR'
check_not "fail-open: no CNAME" "$out" 'CNAME'
check "fail-open: TTL ttl-answer" "$out" '^www\.foobar\.example\. (300|29[0-9]|2[0-8][0-9]) IN A 192\.0\.2\.(10|20)$'
check_eq "fail-open: both sites" "$(short @127.0.0.102 www.foobar.example A)" "192.0.2.10 192.0.2.20"

# 4. The enterprise CNAMEs into the backbone's zone instead of delegating.
out=$(q @127.0.0.100 shop.foobar.example A)
check "CNAME variant: NOERROR" "$out" 'status: NOERROR'
check "CNAME variant: enterprise CNAME" "$out" '^shop\.foobar\.example\. [0-9]+ IN CNAME shop\.svc\.glb\.example\.net\.'
check "CNAME variant: dnsb's CNAME to lb42" "$out" '^shop\.svc\.glb\.example\.net\. [0-9]+ IN CNAME lb42\.shop\.svc\.glb\.example\.net\.'
check "CNAME variant: the DNS-LB's address" "$out" '^lb42\.shop\.svc\.glb\.example\.net\. [0-9]+ IN A 192\.0\.2\.88$'
check_eq "CNAME variant, fail-open resolver: the sites" "$(short @127.0.0.102 shop.foobar.example A)" \
    "198.51.100.10 198.51.100.20 shop.svc.glb.example.net."

# 5. Each resolver's answer stays its own (cached answers did not leak).
check_eq "unbound #1 again: lb42" "$(short @127.0.0.100 www.foobar.example A)" "192.0.2.77 lb42.www.foobar.example."
check_eq "unbound #2 again: fail-open" "$(short @127.0.0.102 www.foobar.example A)" "192.0.2.10 192.0.2.20"

# Every daemon is still up.
names=(nsd1 nsd2 dnsb unbound1 unbound2)
for i in "${!PIDS[@]}"; do
    kill -0 "${PIDS[$i]}" 2>/dev/null && ok "${names[$i]} still running" || not_ok "${names[$i]} died"
done
if [ "$FAILS" -gt 0 ]; then
    for f in "$TMP"/*.log "$TMP"/nsd?/*.log; do
        [ -f "$f" ] || continue
        echo "--- $f"
        tail -n 30 "$f"
    done
fi
finish

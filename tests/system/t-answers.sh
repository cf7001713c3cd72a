#!/usr/bin/env bash
# dnsb answers every kind of query as DESIGN §3 says, asked with dig.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
# IPv6 loopback where the machine has it.
V6=0
ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/128' && V6=1
cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
$([ $V6 = 1 ] && echo "    listen: ::1@$PORT")
    workers: 2
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    whoami: whoami.glb.example.net.
    pidfile: $TMP/dnsb.pid
service:
    name: www.foobar.example.
    mode: referral
    ttl-referral: 3600
    ttl-answer: 300
    site: paris 192.0.2.10 2001:db8::10 weight=2
    site: tokyo 192.0.2.20 weight=1
service:
    name: shop.svc.glb.example.net.
    mode: direct
    site: frankfurt 198.51.100.10
    site: sydney 198.51.100.20
service:
    name: media.foobar.example.
    mode: proxy
    site: paris 192.0.2.30
lb:
    id: lb42
    address: 127.0.0.42
    proxy-address: 127.0.0.142
    resolver: 127.0.0.1/32
    resolver: 127.0.0.4/32
    ranking: shop.svc.glb.example.net. sydney frankfurt
lb:
    id: lb7
    address: 127.0.0.7
    resolver: 127.0.0.2/32
    resolver: 127.0.0.4/32
    resolver: 10.1.0.0/16
CONF
# 30 sites with IPv6 addresses: a fail-open AAAA answer larger than 512 bytes
{
    echo "service:"
    echo "    name: big.foobar.example."
    for i in $(seq 1 30); do echo "    site: s$i 2001:db8::$i"; done
} >>"$TMP/dnsb.conf"

start_dnsb "$TMP/dnsb.conf"
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1

# dig's output with runs of blanks squeezed to one space, so patterns read plainly.
q() { dig +norec +time=2 +tries=1 -p "$PORT" @127.0.0.1 "$@" 2>&1 | tr -s ' \t' '  '; }

out=$(q -b 127.0.0.1 www.foobar.example A)
check "referral: CNAME to the resolver's DNS-LB" "$out" '^www\.foobar\.example\. 3600 IN CNAME lb42\.www\.foobar\.example\.'
check "referral: authoritative" "$out" 'flags: qr aa;'
check "referral: delegation in authority" "$out" '^lb42\.www\.foobar\.example\. 3600 IN NS ns\.lb42\.www\.foobar\.example\.'
check "referral: glue in additional" "$out" '^ns\.lb42\.www\.foobar\.example\. 3600 IN A 127\.0\.0\.42'

out=$(q -b 127.0.0.2 www.foobar.example AAAA)
check "another resolver, another DNS-LB" "$out" 'CNAME.lb7\.www\.foobar\.example\.'

out=$(q -b 127.0.0.4 www.foobar.example A)
check "two DNS-LBs: both in the NS set (1)" "$out" 'IN.NS.ns\.lb42\.www'
check "two DNS-LBs: both in the NS set (2)" "$out" 'IN.NS.ns\.lb7\.www'
check "two DNS-LBs: glue for both" "$out" '^ns\.lb7\.www\.foobar\.example\. 3600 IN A 127\.0\.0\.7'

out=$(q -b 127.0.0.1 lb42.www.foobar.example A)
check "target: referral alone (no answer)" "$out" 'ANSWER: 0, AUTHORITY: 1'
check_not "target: not authoritative" "$out" 'flags: qr aa'
out=$(q -b 127.0.0.1 deep.ns.lb42.www.foobar.example A)
check "below the target: referral" "$out" '^lb42\.www\.foobar\.example\. 3600 IN NS'

out=$(q -b 127.0.0.3 www.foobar.example A)
check "fail-open: TTL ttl-answer" "$out" '^www\.foobar\.example\. 300 IN A 192\.0\.2\.10'
check_eq "fail-open: heaviest site first" "$(q +short -b 127.0.0.3 www.foobar.example A)" "192.0.2.10 192.0.2.20"

out=$(q -b 127.0.0.1 shop.svc.glb.example.net A)
# a static ranking has no scores: only its first site is known to be best
check_eq "direct: the DNS-LB's ranking, its best site alone" "$(q +short -b 127.0.0.1 shop.svc.glb.example.net A)" "198.51.100.20"
check_eq "direct: unmapped resolver gets config order" "$(q +short -b 127.0.0.3 shop.svc.glb.example.net A)" "198.51.100.10 198.51.100.20"
out=$(q -b 127.0.0.1 media.foobar.example A)
check "proxy: the DNS-LB's proxy address" "$out" '^media\.foobar\.example\. 300 IN A 127\.0\.0\.142'

out=$(q -b 127.0.0.1 +subnet=10.1.2.0/24 www.foobar.example A)
check "ECS: the client subnet decides" "$out" 'CNAME.lb7\.www'
check "ECS: scope is the mapping's prefix length" "$out" 'CLIENT-SUBNET: 10\.1\.2\.0/24/16'
out=$(q -b 127.0.0.1 +subnet=192.0.2.0/24 www.foobar.example A)
check "ECS: an unmapped subnet falls back to the resolver's DNS-LB" "$out" 'CNAME.lb42\.www'
out=$(q -b 127.0.0.9 +subnet=192.0.2.0/24 www.foobar.example A)
check "ECS: unmapped subnet from an unmapped resolver gets fail-open" "$out" 'IN.A.192\.0\.2\.10'

out=$(q glb.example.net SOA)
check "SOA at the zone apex" "$out" '^glb\.example\.net\. 3600 IN SOA b1\.glb\.example\.net\. hostmaster\.glb\.example\.net\.'
out=$(q glb.example.net NS)
check "NS at the zone apex, with glue" "$out" '^b1\.glb\.example\.net\. 3600 IN A 127\.0\.0\.1'
out=$(q www.foobar.example SOA)
check "SOA at a delegated service apex" "$out" '^www\.foobar\.example\. 3600 IN SOA'
out=$(q nothing.glb.example.net A)
check "NXDOMAIN inside the zone" "$out" 'status: NXDOMAIN'
check "NXDOMAIN carries the SOA" "$out" '^glb\.example\.net\. 60 IN SOA'
out=$(q lb99.www.foobar.example A)
check "NXDOMAIN for an unknown DNS-LB label" "$out" 'status: NXDOMAIN'
out=$(q www.example.org A)
check "REFUSED outside every zone" "$out" 'status: REFUSED'

# Transfers: refused, an IXFR with its SOA (RFC 1995) too, not FORMERR.
check "AXFR: no transfer" "$(q glb.example.net AXFR)" 'Transfer failed'
check "dig ixfr=1: refused, no transfer" "$(q glb.example.net ixfr=1)" 'Transfer failed'
check_eq "IXFR with the client's SOA: REFUSED (5)" "$(ixfr_rcode 127.0.0.1 "$PORT" glb.example.net)" 5
check_eq "IXFR of a service: REFUSED (5)" "$(ixfr_rcode 127.0.0.1 "$PORT" www.foobar.example)" 5
# QCLASS ANY: the class IN data, not authoritative (RFC 6895 §3.2).
out=$(q -b 127.0.0.1 -c ANY -t A www.foobar.example)
check "class ANY: the referral" "$out" '^www\.foobar\.example\. 3600 IN CNAME lb42\.www\.foobar\.example\.$'
check "class ANY: not authoritative" "$out" 'flags: qr;'
out=$(q -c ANY -t A nothing.glb.example.net)
check "class ANY: NXDOMAIN" "$out" 'status: NXDOMAIN'
check "class ANY: without the SOA" "$out" 'AUTHORITY: 0,'
check "class CH: REFUSED" "$(q -c CH -t TXT glb.example.net)" 'status: REFUSED'

out=$(q -b 127.0.0.9 +subnet=10.9.8.0/24 abc123.whoami.glb.example.net TXT)
check "whoami: source and client subnet" "$out" 'TXT "src=127\.0\.0\.9" "ecs=10\.9\.8\.0/24"'

out=$(q -b 127.0.0.1 WwW.FooBar.ExAmPlE A)
check "case: question echoed as sent" "$out" '^;WwW\.FooBar\.ExAmPlE\. IN A'
check "case: still answered" "$out" 'CNAME.lb42'

out=$(q +tcp -b 127.0.0.1 www.foobar.example A)
check "TCP: same referral" "$out" 'CNAME.lb42\.www'
if [ $V6 = 1 ]; then
    out=$(dig +norec +time=2 +tries=1 -p "$PORT" @::1 -b ::1 www.foobar.example A 2>&1)
    check "IPv6 listener answers" "$out" 'status: NOERROR'
else
    echo "# no IPv6 loopback: the v6 listener is not checked"
fi

out=$(q +noedns +ignore -b 127.0.0.3 big.foobar.example AAAA)
check "UDP without EDNS: TC when the answer exceeds 512" "$out" 'flags: qr aa tc;'
out=$(q +noedns -b 127.0.0.3 big.foobar.example AAAA)
check "dig retries over TCP and gets it all" "$out" 'ANSWER: 30,'
out=$(q +bufsize=1232 -b 127.0.0.3 big.foobar.example AAAA)
check "EDNS 1232: fits without TC" "$out" 'ANSWER: 30,'
check "EDNS: our payload size" "$out" 'udp: 1232'
out=$(q +edns=1 +noednsnegotiation www.foobar.example A)
check "EDNS version 1: BADVERS" "$out" 'status: BADVERS'
out=$(q +opcode=status www.foobar.example A 2>&1)
check "opcode STATUS: NOTIMP" "$out" 'status: NOTIMP'

# TCP pipelining: three queries on one connection, answered in order.
out=$(dig +norec +tcp +keepopen -p "$PORT" @127.0.0.1 -b 127.0.0.1 www.foobar.example A glb.example.net SOA x.whoami.glb.example.net TXT 2>&1)
check "TCP keepopen: three answers" "$(echo "$out" | grep -c 'status: NOERROR')" '^3$'

# NODATA, with the default zone-ttl (3600): the SOA's TTL is 60, the lower.
out=$(q svc.glb.example.net A)
check "NODATA at an empty non-terminal" "$(printf '%s\n' "$out" | grep -E 'status:|ANSWER:' | tr '\n' ' ')" \
    'status: NOERROR,.* ANSWER: 0,'
check "NODATA carries the SOA with TTL 60 (zone-ttl 3600 is higher)" "$out" '^glb\.example\.net\. 60 IN SOA'
kill -0 "$DNSB_PID" && ok "dnsb still running" || not_ok "dnsb died"
FIRST_PID=$DNSB_PID

# zone-ttl and zone-contact: a second dnsb with zone-ttl 30 (below 60, so the
# negative answers' SOA has 30 too) and its own contact.
PORT2=$(free_port)
[ "$PORT2" != "$PORT" ] || PORT2=$((PORT + 1))
cat >"$TMP/zone.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT2
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    zone-ns: b2.glb.example.net. 127.0.0.2
    zone-ttl: 30
    zone-contact: ops.foobar.example.
    edns-buffer-size: 512
service:
    name: www.foobar.example.
    site: paris 192.0.2.10
service:
    name: big.foobar.example.
CONF
for i in $(seq 1 30); do echo "    site: s$i 2001:db8::$i" >>"$TMP/zone.conf"; done
start_dnsb "$TMP/zone.conf" "$TMP/dnsb-zone.log"
wait_dns 127.0.0.1 "$PORT2" glb.example.net || exit 1
q2() { dig +norec +time=2 +tries=1 -p "$PORT2" @127.0.0.1 "$@" 2>&1 | tr -s ' \t' '  '; }
out=$(q2 glb.example.net SOA)
check "zone-ttl 30, zone-contact: the SOA" "$out" \
    '^glb\.example\.net\. 30 IN SOA b1\.glb\.example\.net\. ops\.foobar\.example\. [0-9]+ 3600 600 604800 60$'
out=$(q2 glb.example.net NS)
check "zone-ttl 30: the NS set" "$out" '^glb\.example\.net\. 30 IN NS b2\.glb\.example\.net\.$'
check "zone-ttl 30: the glue" "$out" '^b2\.glb\.example\.net\. 30 IN A 127\.0\.0\.2$'
out=$(q2 b2.glb.example.net A)
check "zone-ttl 30: a zone-ns name's address" "$out" '^b2\.glb\.example\.net\. 30 IN A 127\.0\.0\.2$'
out=$(q2 www.foobar.example SOA)
check "zone-ttl 30: the SOA of a delegated service apex" "$out" '^www\.foobar\.example\. 30 IN SOA b1\.glb\.example\.net\. ops\.foobar\.example\. '
out=$(q2 nothing.glb.example.net A)
check "zone-ttl 30: NXDOMAIN's SOA has 30, the lower of zone-ttl and 60" "$out" \
    '^glb\.example\.net\. 30 IN SOA b1\.glb\.example\.net\. ops\.foobar\.example\. '
out=$(q2 glb.example.net TXT)
check "zone-ttl 30: NODATA's SOA has 30 too" "$out" '^glb\.example\.net\. 30 IN SOA '
check "... and it is NODATA" "$(printf '%s\n' "$out" | grep -E 'status:|ANSWER:' | tr '\n' ' ')" \
    'status: NOERROR,.* ANSWER: 0,'
# edns-buffer-size 512: a client offering 1232 still gets at most 512 bytes.
out=$(q2 +bufsize=1232 +ignore big.foobar.example AAAA)
check "edns-buffer-size 512: TC for an answer over 512 bytes, though the client offers 1232" "$out" 'flags: qr aa tc;'
check "edns-buffer-size 512: our payload size says so" "$out" 'udp: 512'
check "edns-buffer-size 512: the truncated answer fits" "$(printf '%s\n' "$out" | sed -n 's/.*MSG SIZE *rcvd: \([0-9]*\).*/\1/p')" '^([1-4][0-9]{0,2}|50[0-9]|51[0-2]|[0-9]{1,2})$'
kill -0 "$DNSB_PID" && ok "second dnsb still running" || not_ok "second dnsb died"
kill -0 "$FIRST_PID" && ok "first dnsb still running" || not_ok "first dnsb died"
finish

#!/usr/bin/env bash
# Issue 17, fault injection: the DNS-B vanishing in the middle of a frame,
# as dnslb sees it. lb42's map session runs through a relay (tlscut.py) that
# passes the SERVICES delta a reload of the DNS-B sends only in part (half
# of its TLS record) and then closes the connection, or resets it. dnslb
# keeps answering with the services it had, reconnects, gets the new site,
# its registration at the DNS-B is never lost, and its descriptors come
# back to what they were. (t-fault-map.sh: the other way round.)
#
#   127.0.0.1   dnsb: DNS on PORT, map on MPORT, control on CPORT; the
#               relay on RPORT
#   127.0.0.42  dnslb lb42: DNS on LPORT, control on LCPORT; claims the
#               resolver 127.0.0.7 (nothing answers there)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/certs.sh"

need dig python3 openssl
free_ports 6
PORT=${PORTS[0]} MPORT=${PORTS[1]} CPORT=${PORTS[2]} LPORT=${PORTS[3]} LCPORT=${PORTS[4]} RPORT=${PORTS[5]}
LBCTL_ADDR=127.0.0.42@$LCPORT
C=$TMP/certs
mkdir -p "$C"
make_ca "$C" ca && make_cert "$C" ca b1 127.0.0.1 && make_cert "$C" ca lb42 ||
    { echo "openssl cannot make certificates"; exit 77; }
map_dnsb_conf "$TMP/db" "    allow: lb42 127.0.0.0/8"
cat >"$TMP/dnslb.conf" <<EOF
server:
    listen: 127.0.0.42@$LPORT
    id: lb42
    workers: 1
    control: 127.0.0.42@$LCPORT
resolver:
    address: 127.0.0.7
dnsb:
    map-server: 127.0.0.1@$RPORT
    tls-cert-file: $C/lb42.pem
    tls-key-file: $C/lb42.key
    tls-ca-file: $C/ca.pem
    services-file: $TMP/services.conf
EOF
ctl() { "$BUILDDIR/dnsb/dnsb-control" -c "$TMP/dnsb.conf" -t 5 "$@"; }
python3 "$SRCDIR/tests/system/tlscut.py" --listen "127.0.0.1:$RPORT" --target "127.0.0.1:$MPORT" \
    --cut "$TMP/cut" --time 120 >"$TMP/relay.out" 2>&1 &
PIDS+=($!)
wait_until 10 grep -qx ready "$TMP/relay.out" || { cat "$TMP/relay.out"; echo "tlscut.py did not start"; exit 1; }
start_dnsb "$TMP/dnsb.conf"
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
start_dnslb "$TMP/dnslb.conf" || exit 1
registered() { ctl lookup 127.0.0.7 | grep -q '^lb: lb42 '; }
wait_until 20 registered && ok "lb42 registered through the relay (${WAITED}s)" || { not_ok "lb42 never registered"; finish; exit; }
served() { dig +short +norec +time=1 +tries=1 -p "$LPORT" @127.0.0.42 x.www.foobar.example A | grep -q .; }
wait_until 10 served && ok "lb42 serves www.foobar.example" || not_ok "lb42 serves nothing"
sessions_up() { grep -c 'session with b1 established' "$TMP/dnslb.log"; }
sleep 1
fd0=$(fd_count "$DNSLB_PID")

n=0
for kind in close reset; do
    n=$((n + 1))
    up0=$(sessions_up)
    echo "$kind" >"$TMP/cut"
    sed -i "s|^    site: paris 192.0.2.10\$|&\n    site: site$n 192.0.2.2$n|" "$TMP/dnsb.conf"
    kill -HUP "$DNSB_PID"
    wait_until 10 sh -c "grep -q 'cut a record' '$TMP/relay.out' && [ \$(grep -c 'cut a record' '$TMP/relay.out') -ge $n ]" &&
        ok "$kind: the relay cut a record in half ($(grep 'cut a record' "$TMP/relay.out" | tail -n 1))" ||
        { not_ok "$kind: nothing was cut"; continue; }
    served && ok "$kind: lb42 still answers" || not_ok "$kind: lb42 does not answer"
    registered && ok "$kind: lb42 still registered at the DNS-B" || not_ok "$kind: lb42's registration lost"
    back() { [ "$(sessions_up)" -gt "$up0" ]; }
    wait_until 15 back && ok "$kind: the session is up again (${WAITED}s)" || not_ok "$kind: no new session"
    new_site() { lbctl sites | grep -q "site$n"; }
    wait_until 10 new_site && ok "$kind: lb42 has the new site site$n" || not_ok "$kind: lb42 never got site$n"
done
check "dnslb logged the lost sessions" "$(cat "$TMP/dnslb.log")" "map-server 127.0.0.1@$RPORT: reconnecting in"
sleep 1
fd1=$(fd_count "$DNSLB_PID")
[ "$fd1" -le $((fd0 + 2)) ] && ok "dnslb: no descriptor left behind ($fd0 -> $fd1)" || not_ok "dnslb: descriptors $fd0 -> $fd1"
stop_pid "$DNSLB_PID"
check_not "no sanitizer report" "$(cat "$TMP/dnslb.log")" "LeakSanitizer|AddressSanitizer|runtime error"
finish

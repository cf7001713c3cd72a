#!/usr/bin/env bash
# Issue 11 #6: no local user can lock the operator out of the control
# channels. 20 connections to each channel that send the start of a request
# (dnsb: a TLS record header, dnslb: part of the request line) and then a
# byte every 2 s, reopened when closed: `dnsb-control status` and
# `dnslb-control status` still succeed (the handshake deadline, the cap on
# pending connections per address, the oldest pending one giving way).
#
#   127.0.0.1   dnsb (DNS on PORT, map on MPORT, control over TLS on CPORT),
#               dnslb (DNS on LPORT, plain control on LCPORT), the drips
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/certs.sh"

for t in dig python3 openssl; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
ports=()
while [ ${#ports[@]} -lt 5 ]; do
    p=$(free_port) || { echo "no free port"; exit 1; }
    case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
PORT=${ports[0]} MPORT=${ports[1]} CPORT=${ports[2]} LPORT=${ports[3]} LCPORT=${ports[4]}
LBCTL_ADDR=127.0.0.1@$LCPORT
C=$TMP/certs
mkdir -p "$C"
make_ca "$C" ca && make_cert "$C" ca b1 127.0.0.1 || { echo "openssl cannot make certificates"; exit 77; }

cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    control: 127.0.0.1@$CPORT
map:
    listen: 127.0.0.1@$MPORT
    tls-cert-file: $C/b1.pem
    tls-key-file: $C/b1.key
    tls-ca-file: $C/ca.pem
service:
    name: www.foobar.example.
    site: paris 192.0.2.10
CONF
cat >"$TMP/dnslb.conf" <<CONF
server:
    listen: 127.0.0.1@$LPORT
    id: lb42
    control: 127.0.0.1@$LCPORT
    control-use-cert: no            # the plain channel: its drips are request-line bytes
service:
    name: www.foobar.example.
    site: paris 127.0.0.77
CONF
start_dnsb "$TMP/dnsb.conf"
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
start_dnslb "$TMP/dnslb.conf" || exit 1
ctl() { "$BUILDDIR/dnsb/dnsb-control" -c "$TMP/dnsb.conf" -t 5 "$@" 2>&1; }
check "dnsb-control status before the drips" "$(ctl status)" "^version"
check "dnslb-control status before the drips" "$(lbctl status 2>&1)" "^version"

# 20 connections on each channel, a byte every 2 s, reopened at most 5 a
# second; 25 s at most.
drip() {
    python3 "$SRCDIR/tests/system/drip.py" --target "127.0.0.1:$1" --conns 20 --prefix "$2" --drip "$3" \
        --interval 2 --time 25 --reconnect --rate 5 --max 500 --ready "$4" &
    PIDS+=($!)
}
# A TLS handshake record of 512 bytes announced, never completed.
drip "$CPORT" 1603010200 00 "$TMP/ready1"
D1=$!
drip "$LCPORT" "$(printf 'glb-control 1 sta' | od -An -tx1 | tr -d ' \n')" 74 "$TMP/ready2"
D2=$!
wait_until 10 test -s "$TMP/ready1" -a -s "$TMP/ready2" || { not_ok "the drips did not connect"; finish; exit; }
sleep 1
check "dnsb-control status during the drips" "$(ctl status)" "^version"
check "dnslb-control status during the drips" "$(lbctl status 2>&1)" "^version"
sleep 6 # past the handshake deadline: the first drips are cut and reopened
check "dnsb-control status 7 s into the drips" "$(ctl status)" "^version"
check "dnslb-control status 7 s into the drips" "$(lbctl status 2>&1)" "^version"
check "dnsb: the oldest drips gave way" "$(ctl stats)" "^control\.evicted=[1-9]"
stop_pid "$D1"
stop_pid "$D2"
# One drip alone is cut at the handshake deadline (5 s), not kept alive by
# its bytes (8 s at most).
one=$(python3 "$SRCDIR/tests/system/drip.py" --target "127.0.0.1:$CPORT" --conns 1 --prefix 1603010200 \
    --interval 1 --time 8)
check "dnsb: a lone drip cut at the handshake deadline" "$one" "closed=1 "
one=$(python3 "$SRCDIR/tests/system/drip.py" --target "127.0.0.1:$LCPORT" --conns 1 --prefix 676c62 --drip 2d \
    --interval 1 --time 8)
check "dnslb: a lone drip cut at the handshake deadline" "$one" "closed=1 "
check "dnsb-control status after the drips" "$(ctl status)" "^version"
check "dnslb-control status after the drips" "$(lbctl status 2>&1)" "^version"
finish

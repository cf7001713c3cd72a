#!/usr/bin/env bash
# Issue 11 #8: half-open TLS handshakes on the map port cost bounded memory
# and bounded log. 2000 connections (from 127.0.0.1 and 127.0.0.2) each send
# the first 100 bytes of a ClientHello and stop: dnsb's resident memory
# grows by less than 40 MB (unbounded it takes 40 kB a connection and more),
# its log holds a bounded number of handshake-failure lines when they are
# closed, and meanwhile a DNS-LB registers and dnsb-control works (the cap
# on sessions before HELLO, per address and in all, the oldest giving way;
# rate-limited logging). Defaults only: max-handshakes 1000,
# max-handshakes-per-source 250.
#
#   127.0.0.1   dnsb: DNS on PORT, map on MPORT, control on CPORT
#   127.0.0.1-2 the half-open connections; lb42 registers from 127.0.0.1
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/certs.sh"

for t in dig python3 openssl; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || { echo "cannot raise the open files limit"; exit 77; }
ports=()
while [ ${#ports[@]} -lt 3 ]; do
    p=$(free_port) || { echo "no free port"; exit 1; }
    case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
PORT=${ports[0]} MPORT=${ports[1]} CPORT=${ports[2]}
C=$TMP/certs
mkdir -p "$C"
make_ca "$C" ca && make_cert "$C" ca b1 127.0.0.1 && make_cert "$C" ca lb42 ||
    { echo "openssl cannot make certificates"; exit 77; }
cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    control: 127.0.0.1@$CPORT
    verbosity: 3
map:
    listen: 127.0.0.1@$MPORT
    tls-cert-file: $C/b1.pem
    tls-key-file: $C/b1.key
    tls-ca-file: $C/ca.pem
    allow: lb42 127.0.0.0/8
service:
    name: www.foobar.example.
    site: paris 192.0.2.10
CONF
# What is measured is live memory: ASan's quarantine would hold every freed
# block back from reuse and count the churn instead.
ASAN_OPTIONS=${ASAN_OPTIONS:-}:quarantine_size_mb=1 start_dnsb "$TMP/dnsb.conf" "$TMP/dnsb.log"
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
ctl() { "$BUILDDIR/dnsb/dnsb-control" -c "$TMP/dnsb.conf" -t 10 "$@" 2>&1; }
as() { local id=$1; shift; timeout 20 python3 "$SRCDIR/tests/system/mapraw.py" --server "127.0.0.1@$MPORT" \
    --ca "$C/ca.pem" --timeout 10 --cert "$C/$id.pem" --key "$C/$id.key" --id "$id" "$@"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$DNSB_PID/status"; }
check "dnsb-control works before" "$(ctl status)" "^version"
sleep 1
rss0=$(rss_kb)

# The start of a ClientHello: record header (handshake, 512 bytes), then 95
# bytes of its body; no more. 1000 from each address, 30 s at most.
HELLO=1603010200010001fc0303$(printf '%0180d' 0)
half() {
    python3 "$SRCDIR/tests/system/drip.py" --target "127.0.0.1:$MPORT" --sources "$1" --conns 1000 \
        --prefix "$HELLO" --interval 0 --time 30 --max 1000 --ready "$2" >"$2.out" &
    PIDS+=($!)
}
half 127.0.0.1 "$TMP/ready1"
H1=$!
half 127.0.0.2 "$TMP/ready2"
H2=$!
wait_until 25 test -s "$TMP/ready1" -a -s "$TMP/ready2" || { not_ok "the half-open connections were not made"; finish; exit; }
sleep 1
rss1=$(rss_kb)
grow=$(( (rss1 - rss0) / 1024 ))
echo "# VmRSS ${rss0} kB -> ${rss1} kB (+${grow} MB) with 2000 half-open connections"
if [ "$grow" -lt 40 ]; then ok "memory of 2000 half-open handshakes bounded (+${grow} MB)"; else
    not_ok "memory of 2000 half-open handshakes bounded: +${grow} MB"; fi
out=$(as lb42 --seq "$(now_ms)" --dns 127.0.0.42 --claim 127.0.0.1/32)
check "a DNS-LB registers meanwhile" "$out" "^ack seq=[0-9]+ lifetime=[0-9]+ accepted=127.0.0.1/32"
check "dnsb-control works meanwhile" "$(ctl status)" "^version"
stop_pid "$H1"
stop_pid "$H2"
sleep 1
n=$(grep -c "TLS handshake" "$TMP/dnsb.log")
echo "# $n handshake-failure lines in the log"
if [ "$n" -le 20 ]; then ok "handshake failures logged at a bounded rate ($n lines)"; else
    not_ok "handshake failures logged at a bounded rate: $n lines"; fi

# Whole ClientHellos, then silence: 2000 from 127.0.0.3, each handshake
# left half way with its TLS state; at most 250 of them live at once. A
# fresh dnsb: memory freed above would be reused and hide the growth.
stop_pid "$DNSB_PID"
ASAN_OPTIONS=${ASAN_OPTIONS:-}:quarantine_size_mb=1 start_dnsb "$TMP/dnsb.conf" "$TMP/dnsb2.log"
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
sleep 1
rss2=$(rss_kb)
timeout 60 python3 - "$MPORT" "$TMP/ready3" >"$TMP/stall.out" 2>&1 <<'PY' &
import socket, ssl, sys, time
port, ready = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
socks, t0 = [], time.time()
while len(socks) < 2000 and time.time() - t0 < 30:
    s = socket.socket()
    s.bind(("127.0.0.3", 0))
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    s.setblocking(False)
    t = ctx.wrap_socket(s, do_handshake_on_connect=False)
    try:
        t.do_handshake()
    except (ssl.SSLWantReadError, OSError):
        pass
    socks.append(t)
open(ready, "w").write("ready %d\n" % len(socks))
time.sleep(30)
PY
S3=$!
PIDS+=("$S3")
wait_until 40 test -s "$TMP/ready3" || { not_ok "the stalled handshakes were not made"; finish; exit; }
sleep 1
rss3=$(rss_kb)
grow=$(( (rss3 - rss2) / 1024 ))
echo "# VmRSS ${rss2} kB -> ${rss3} kB (+${grow} MB) with 2000 handshakes stalled after the ClientHello"
if [ "$grow" -lt 40 ]; then ok "memory of 2000 stalled handshakes bounded (+${grow} MB)"; else
    not_ok "memory of 2000 stalled handshakes bounded: +${grow} MB"; fi
out=$(as lb42 --seq "$(now_ms)" --dns 127.0.0.42 --claim 127.0.0.1/32)
check "a DNS-LB registers meanwhile (stalled handshakes)" "$out" "^ack seq=[0-9]+ lifetime=[0-9]+ accepted=127.0.0.1/32"
check "dnsb-control works meanwhile (stalled handshakes)" "$(ctl status)" "^version"
stop_pid "$S3"
sleep 1
n=$(grep -c "TLS handshake" "$TMP/dnsb2.log")
echo "# $n handshake-failure lines in the log"
if [ "$n" -le 20 ]; then ok "handshake failures logged at a bounded rate ($n lines)"; else
    not_ok "handshake failures logged at a bounded rate: $n lines"; fi
check "dnsb still runs" "$(kill -0 "$DNSB_PID" 2>&1 && echo alive)" "^alive$"
finish

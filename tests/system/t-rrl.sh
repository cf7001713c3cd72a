#!/usr/bin/env bash
# Issue 17: response rate limiting. In a private network namespace, queries
# forged with a victim's prefix (127.0.9.0/24: four source addresses in it)
# flood dnsb over UDP, 1000/s for 4 s; the victim prefix gets at most
# rrl-ratelimit answers a second (plus the burst) and, of the rest, about
# every rrl-slip'th as a truncated (TC) answer; meanwhile another client
# (127.0.10.1) is answered normally by dig, `dig +tcp` from the victim prefix
# works (TCP is never limited), and dnsb-control stats counts rrl.limited
# and rrl.slipped.
#
#   127.0.0.1        dnsb (2 workers: the UDP threads share the table)
#   127.0.9.1-4      the flood's sources (the victim prefix)
#   127.0.10.1       another client
#   2001:db8:9:1xx::  an IPv6 flood, four sources in one /56
. "$(dirname "$0")/../../scripts/world.sh"
for t in dig python3 openssl unshare; do
    command -v "$t" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
world_netns "$0" "$@" || exit 77
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/certs.sh"
ip link set lo up

RATE=50 SLIP=2 SECS=4 QPS=1000
PORT=5353 CPORT=8953 MPORT=5380
C=$TMP/certs
mkdir -p "$C"
make_ca "$C" ca && make_cert "$C" ca b1 127.0.0.1 || { echo "openssl cannot make certificates"; exit 77; }
cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    listen: ::1@$PORT
    workers: 2
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    control: 127.0.0.1@$CPORT
    rrl-ratelimit: $RATE
    rrl-slip: $SLIP
map:
    listen: 127.0.0.1@$MPORT
    tls-cert-file: $C/b1.pem
    tls-key-file: $C/b1.key
    tls-ca-file: $C/ca.pem
service:
    name: www.foobar.example.
    site: paris 192.0.2.10
CONF
start_dnsb "$TMP/dnsb.conf"
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
ctl() { "$BUILDDIR/dnsb/dnsb-control" -c "$TMP/dnsb.conf" -t 5 "$@" 2>&1; }

# Another client, during the flood: a dig every 0.25 s (TC not followed, so
# a truncated answer shows).
(
    sleep 0.5
    for i in $(seq 1 12); do
        dig +norec +ignore +time=1 +tries=1 -b 127.0.10.1 -p "$PORT" @127.0.0.1 www.foobar.example A \
            | grep -E 'status:|flags:' | tr '\n' ' '
        echo
        sleep 0.25
    done
) >"$TMP/other.out" 2>&1 &
OTHER=$!

cat >"$TMP/flood.py" <<'PY'
# flood.py PORT QPS SECS SRC,SRC,... DST: queries from the sources in turn,
# QPS a second for SECS seconds; counts the answers, full and truncated.
import select, socket, struct, sys, time
port, qps, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
srcs, dst = sys.argv[4].split(","), sys.argv[5]
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
q = b"\x03www\x07foobar\x07example\x00\x00\x01\x00\x01"
socks = []
for a in srcs:
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((a, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.setblocking(False)
    socks.append(s)
sent = full = tc = 0
first = None
def drain():
    global full, tc
    for s in socks:
        while True:
            try:
                r = s.recv(65535)
            except BlockingIOError:
                break
            if len(r) >= 12:
                if r[2] & 0x02:
                    tc += 1
                else:
                    full += 1
t0 = time.monotonic()
n = int(qps * secs)
for k in range(n):
    due = t0 + k / qps
    while time.monotonic() < due:
        drain()
        time.sleep(0.0005)
    socks[k % len(socks)].sendto(struct.pack("!HHHHHH", k & 0xFFFF, 0, 1, 0, 0, 0) + q, (dst, port))
    sent += 1
end = time.monotonic()
while time.monotonic() < end + 1.0:  # late answers
    drain()
    time.sleep(0.01)
print("sent=%d full=%d tc=%d secs=%.2f" % (sent, full, tc, end - t0))
PY
flood=$(timeout 30 python3 "$TMP/flood.py" "$PORT" "$QPS" "$SECS" 127.0.9.1,127.0.9.2,127.0.9.3,127.0.9.4 127.0.0.1)
echo "# flood from 127.0.9.0/24: $flood"
wait "$OTHER"
sed 's/^/# other client: /' "$TMP/other.out"

sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$flood")
full=$(sed -n 's/.*full=\([0-9]*\).*/\1/p' <<<"$flood")
tc=$(sed -n 's/.*tc=\([0-9]*\).*/\1/p' <<<"$flood")
secs=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$flood")
if [ -z "$sent" ]; then
    not_ok "the flood ran"
else
    # At most the burst (one second's worth) and RATE a second, +5 % for the
    # clocks' rounding; the flood lasts secs seconds.
    max=$(awk -v r="$RATE" -v s="$secs" 'BEGIN { printf "%d", (r * (s + 1)) * 1.05 + 2 }')
    min=$(awk -v r="$RATE" -v s="$secs" 'BEGIN { printf "%d", r * s * 0.8 }')
    [ "$sent" -ge $((QPS * SECS)) ] && ok "flood: $sent queries sent" || not_ok "flood: only $sent sent"
    if [ "$full" -le "$max" ] && [ "$full" -ge "$min" ]; then
        ok "the victim prefix got $full full answers for $sent queries (at most $max: $RATE/s over ${secs}s + burst)"
    else
        not_ok "the victim prefix got $full full answers (want $min..$max)"
    fi
    limited=$((sent - full))
    lo=$((limited / SLIP * 8 / 10)) hi=$((limited / SLIP * 12 / 10 + 2))
    if [ "$tc" -ge "$lo" ] && [ "$tc" -le "$hi" ]; then
        ok "slip: $tc of the $limited limited answers sent truncated (TC), about 1 in $SLIP"
    else
        not_ok "slip: $tc truncated answers of $limited limited (want $lo..$hi)"
    fi
    answered=$((full + tc))
    [ "$answered" -lt "$sent" ] && ok "no amplification: $answered answers (of them $tc bare TC) for $sent queries" ||
        not_ok "$answered answers for $sent queries"
fi
n_ok=$(grep -c 'status: NOERROR.*flags: qr aa;' "$TMP/other.out")
n_tc=$(grep -c 'flags: qr aa tc' "$TMP/other.out")
[ "$n_ok" -eq 12 ] && [ "$n_tc" -eq 0 ] && ok "another client, meanwhile: 12 of 12 answered in full" ||
    not_ok "another client, meanwhile: $n_ok of 12 answered in full, $n_tc truncated"

# The victim prefix is still flooded (its bucket empty): a real client in it
# gets its answer over TCP.
python3 - "$PORT" <<'PY' &
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.9.1", 0))
q = struct.pack("!HHHHHH", 7, 0, 1, 0, 0, 0) + b"\x03www\x07foobar\x07example\x00\x00\x01\x00\x01"
for k in range(3000):
    s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
    time.sleep(0.001)
PY
FLOOD2=$!
PIDS+=("$FLOOD2")
sleep 1
out=$(dig +norec +ignore +time=1 +tries=3 -b 127.0.9.77 -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1)
echo "$out" | grep -E 'flags:|status:' | sed 's/^/# victim over UDP during the flood: /'
out=$(dig +tcp +norec +time=2 +tries=1 -b 127.0.9.77 -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1)
check "dig +tcp from the victim prefix during the flood: answered" "$out" 'status: NOERROR'
check "dig +tcp from the victim prefix: the site" "$out" '^www\.foobar\.example\..*192\.0\.2\.10'
out=$(dig +norec +time=2 +tries=3 -b 127.0.9.78 -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1)
check "dig from the victim prefix (TC followed over TCP) during the flood: answered" "$out" 'status: NOERROR'
stop_pid "$FLOOD2"

# IPv6: four sources in one /56 (2001:db8:9:100::/56, on lo in this
# namespace) are one prefix; 2 s at 1000/s.
for a in 2001:db8:9:100::1 2001:db8:9:1ff::2 2001:db8:9:142::3 2001:db8:9:1aa::4; do
    ip addr add "$a/128" dev lo nodad
done
flood6=$(timeout 30 python3 "$TMP/flood.py" "$PORT" "$QPS" 2 \
    2001:db8:9:100::1,2001:db8:9:1ff::2,2001:db8:9:142::3,2001:db8:9:1aa::4 ::1)
echo "# flood from 2001:db8:9:100::/56: $flood6"
full6=$(sed -n 's/.*full=\([0-9]*\).*/\1/p' <<<"$flood6")
secs6=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$flood6")
max6=$(awk -v r="$RATE" -v s="${secs6:-2}" 'BEGIN { printf "%d", (r * (s + 1)) * 1.05 + 2 }')
if [ -n "$full6" ] && [ "$full6" -le "$max6" ] && [ "$full6" -ge "$RATE" ]; then
    ok "IPv6: the victim /56 got $full6 full answers (at most $max6)"
else
    not_ok "IPv6: the victim /56 got ${full6:-no} full answers (want $RATE..$max6)"
fi

stats=$(ctl stats)
echo "$stats" | grep -E '^(rrl|net\.udp)' | sed 's/^/# /'
lim=$(sed -n 's/^rrl\.limited=//p' <<<"$stats")
slp=$(sed -n 's/^rrl\.slipped=//p' <<<"$stats")
[ -n "$lim" ] && [ "$lim" -ge "$((sent - full))" ] && ok "stats: rrl.limited=$lim" || not_ok "stats: rrl.limited=$lim"
[ -n "$slp" ] && [ "$slp" -ge "$tc" ] && [ "$slp" -lt "$lim" ] && ok "stats: rrl.slipped=$slp" ||
    not_ok "stats: rrl.slipped=$slp"
kill -0 "$DNSB_PID" && ok "dnsb alive" || not_ok "dnsb died"
finish

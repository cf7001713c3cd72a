#!/usr/bin/env bash
# Issue 11 #2: out of file descriptors, dnsb's listeners pause instead of
# spinning. dnsb runs with an open files limit of 256 (soft and hard, so it
# cannot raise it); 400 DNS TCP connections (from 8 addresses) and then 400
# plain TCP connections to the map port that never start TLS take every
# descriptor: dnsb's CPU use stays low (/proc/PID/stat), its log is not
# flooded, UDP is answered meanwhile, and once the connections are closed
# dnsb-control and DNS over TCP work again.
#
#   127.0.0.1      dnsb: DNS on PORT, map on MPORT, control on CPORT
#   127.0.1.1-8    the DNS TCP connections; 127.0.0.1 the map connections
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/certs.sh"

for t in dig python3 openssl; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null
ports=()
while [ ${#ports[@]} -lt 3 ]; do
    p=$(free_port) || { echo "no free port"; exit 1; }
    case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
PORT=${ports[0]} MPORT=${ports[1]} CPORT=${ports[2]}
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
LOG=$TMP/dnsb.log
(ulimit -n 256 && exec "$DNSB" -d -c "$TMP/dnsb.conf") >>"$LOG" 2>&1 &
DNSB_PID=$!
PIDS+=("$DNSB_PID")
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
ctl() { "$BUILDDIR/dnsb/dnsb-control" -c "$TMP/dnsb.conf" -t 5 "$@" 2>&1; }
check "dnsb-control works before" "$(ctl status)" "^version"
# CPU seconds (user + system, every thread) dnsb used so far, in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$DNSB_PID/stat"; }
hz=$(getconf CLK_TCK)

# Held silent for 30 s at most.
hold() {
    python3 "$SRCDIR/tests/system/drip.py" --target "127.0.0.1:$1" --sources "$2" --conns 400 --interval 0 \
        --time 30 --max 400 --ready "$3" >"$3.out" &
    PIDS+=($!)
}
hold "$PORT" 127.0.1.1,127.0.1.2,127.0.1.3,127.0.1.4,127.0.1.5,127.0.1.6,127.0.1.7,127.0.1.8 "$TMP/ready1"
H1=$!
wait_until 20 test -s "$TMP/ready1" || { not_ok "the DNS TCP connections were not made"; finish; exit; }
lines0=$(wc -l <"$LOG")
hold "$MPORT" 127.0.0.1 "$TMP/ready2"
H2=$!
wait_until 25 test -s "$TMP/ready2" || { not_ok "the map connections were not made"; finish; exit; }
sleep 0.5
c0=$(ticks)
sleep 3
c1=$(ticks)
pct=$(( (c1 - c0) * 100 / (3 * hz) ))
echo "# dnsb used ${pct}% of a CPU for 3 s with every descriptor taken"
if [ "$pct" -lt 30 ]; then ok "out of descriptors, dnsb does not spin (${pct}% CPU)"; else
    not_ok "out of descriptors, dnsb does not spin: ${pct}% CPU"; fi
lines=$(( $(wc -l <"$LOG") - lines0 ))
echo "# $lines log lines meanwhile, the first 20:"
tail -n +"$((lines0 + 1))" "$LOG" | head -n 20 | sed 's/^/#   /'
if [ "$lines" -lt 50 ]; then ok "the log is not flooded ($lines lines)"; else
    not_ok "the log is not flooded: $lines lines"; grep -v "^$" "$LOG" | sort | uniq -c | sort -rn | head -5; fi
check "UDP answered meanwhile" "$(dig +norec +time=2 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1)" \
    "status: NOERROR"
stop_pid "$H1"
stop_pid "$H2"
if wait_until 10 ctl status; then ok "dnsb-control works once the connections are closed (${WAITED}s)"; else
    not_ok "dnsb-control works once the connections are closed"; fi
check "DNS over TCP answered once they are closed" \
    "$(dig +tcp +norec +time=3 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1)" "status: NOERROR"
check "the open files limit was reported at start" "$(cat "$LOG")" "open files limit 256 .*map: max-connections lowered"
check "dnsb still runs" "$(kill -0 "$DNSB_PID" 2>&1 && echo alive)" "^alive$"
finish

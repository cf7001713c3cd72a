#!/usr/bin/env bash
# Issue 17, fault injection: 10 000 idle TCP connections to the DNS port
# (from 200 addresses, 50 each, under the per-source cap), against dnsb and
# against dnslb with their default limits (one worker: 512 connections).
# While they are opened and held, UDP and a new `dig +tcp` are answered
# promptly; the server holds no more descriptors than its cap (a new
# connection takes the place of the one idle longest, net.tcp_evicted),
# and its memory does not grow with the number of connections made. Then
# dnsb again with room for them all (tcp-max-connections: 12000): all are
# held, at a bounded cost each, and it still answers at once.
#
#   127.0.0.1        dnsb: DNS on PORT, control on CPORT; dnslb: DNS on LPORT,
#                    control on LCPORT; dig asks from here
#   127.0.3.1-200    the idle connections
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/certs.sh"

need dig python3 openssl
ulimit -n 20000 2>/dev/null || { echo "cannot raise the open files limit to 20000"; exit 77; }
free_ports 4
PORT=${PORTS[0]} CPORT=${PORTS[1]} LPORT=${PORTS[2]} LCPORT=${PORTS[3]}
LBCTL_ADDR=127.0.0.1@$LCPORT
N=10000
CAP=512 # tcp-max-connections' default, one worker
C=$TMP/certs
mkdir -p "$C"
make_ca "$C" ca && make_cert "$C" ca b1 127.0.0.1 || { echo "openssl cannot make certificates"; exit 77; }
cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    workers: 1
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    control: 127.0.0.1@$CPORT
    control-cert-file: $C/b1.pem
    control-key-file: $C/b1.key
    control-ca-file: $C/ca.pem
    control-allow: b1
service:
    name: www.foobar.example.
    site: paris 192.0.2.10
CONF
cat >"$TMP/dnslb.conf" <<CONF
server:
    listen: 127.0.0.1@$LPORT
    workers: 1
    id: lb42
$(lb_control_keys)
    control: 127.0.0.1@$LCPORT
service:
    name: www.foobar.example.
    site: paris 127.0.0.77
CONF
start_dnsb "$TMP/dnsb.conf"
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
start_dnslb "$TMP/dnslb.conf" || exit 1
ctl() { "$BUILDDIR/dnsb/dnsb-control" -c "$TMP/dnsb.conf" -t 10 "$@"; }

SRC=$(seq -s, -f '127.0.3.%g' 1 200)
# ms NAME PORT [+tcp]: how long one query took (ms), or "fail".
ms() {
    local t0 out
    t0=$(now_ms)
    out=$(dig ${3:-} +norec +time=2 +tries=1 -p "$2" @127.0.0.1 "$1" SOA 2>&1)
    if printf '%s' "$out" | grep -q 'status: NOERROR'; then echo $(( $(now_ms) - t0 )); else echo fail; fi
}

# storm WHO PID PORT NAME STATS...: opens N idle connections (held 25 s at
# most), asking over UDP and TCP meanwhile; STATS prints the server's counters.
storm() {
    local who=$1 pid=$2 port=$3 name=$4 d fd0 rss0 fdmax=0 f udp_worst=0 tcp_worst=0 ufail=0 tfail=0 u t n=0
    shift 4
    fd0=$(fd_count "$pid") rss0=$(rss_kb "$pid")
    rm -f "$TMP/ready"
    python3 "$SRCDIR/tests/system/drip.py" --target "127.0.0.1:$port" --sources "$SRC" --conns $N --interval 0 \
        --time 25 --max $N --ready "$TMP/ready" >"$TMP/drip.out" &
    d=$!
    PIDS+=("$d")
    # Ask while the connections are being made, then once they all are.
    while ! [ -s "$TMP/ready" ] && [ $n -lt 60 ] || [ $n -lt 4 ]; do
        n=$((n + 1))
        u=$(ms "$name" "$port")
        t=$(ms "$name" "$port" +tcp)
        if [ "$u" = fail ]; then ufail=$((ufail + 1)); elif [ "$u" -gt "$udp_worst" ]; then udp_worst=$u; fi
        if [ "$t" = fail ]; then tfail=$((tfail + 1)); elif [ "$t" -gt "$tcp_worst" ]; then tcp_worst=$t; fi
        f=$(fd_count "$pid")
        [ "$f" -gt "$fdmax" ] && fdmax=$f
        sleep 0.2
    done
    wait_until 30 test -s "$TMP/ready" || not_ok "$who: drip.py did not finish connecting"
    made=$(awk '{ print $2 }' "$TMP/ready")
    echo "# $who: drip.py made $N connects, $made still open at the end of connecting; $n probes"
    echo "# $who: UDP worst ${udp_worst} ms, $ufail failed; TCP worst ${tcp_worst} ms, $tfail failed; fds $fd0 -> at most $fdmax"
    check_eq "$who: every UDP query answered during the storm" "$ufail" 0
    check_eq "$who: every new dig +tcp answered during the storm" "$tfail" 0
    if [ "$udp_worst" -lt 1000 ]; then ok "$who: UDP not starved (worst ${udp_worst} ms)"; else
        not_ok "$who: UDP slow during the storm: ${udp_worst} ms"; fi
    st=$("$@")
    ev=$(printf '%s\n' "$st" | stat_of net.tcp_evicted)
    rss1=$(rss_kb "$pid")
    echo "# $who: RSS $rss0 -> $rss1 kB; $ev evicted"
    if [ "$CAP" -lt "$N" ]; then
        if [ "$fdmax" -le $((fd0 + CAP + 16)) ]; then ok "$who: at most its $CAP connections open (fds $fd0 -> $fdmax)"; else
            not_ok "$who: holds $fdmax descriptors, more than its cap of $CAP connections allows"; fi
        if [ "${ev:-0}" -ge $((N - CAP - 1000)) ]; then ok "$who: the oldest idle gave way ($ev evicted)"; else
            not_ok "$who: only '${ev}' connections evicted of $N"; fi
        if [ $((rss1 - rss0)) -lt 65536 ]; then ok "$who: memory bounded (RSS +$(( (rss1 - rss0) / 1024 )) MiB)"; else
            not_ok "$who: RSS grew by $(( (rss1 - rss0) / 1024 )) MiB"; fi
    else # room for them all: held, at a bounded cost each
        if [ "$fdmax" -ge $((fd0 + N - 200)) ]; then ok "$who: all $N held (fds $fd0 -> $fdmax)"; else
            not_ok "$who: only $((fdmax - fd0)) of $N held"; fi
        per=$(( (rss1 - rss0) / N ))
        if [ "$per" -le 16 ]; then ok "$who: ${per} kB a connection (RSS +$(( (rss1 - rss0) / 1024 )) MiB)"; else
            not_ok "$who: ${per} kB a connection (RSS +$(( (rss1 - rss0) / 1024 )) MiB)"; fi
    fi
    stop_pid "$d"
    check "$who: dig +tcp answered after" "$(dig +tcp +norec +time=2 +tries=1 -p "$port" @127.0.0.1 "$name" SOA 2>&1)" \
        "status: NOERROR"
    kill -0 "$pid" 2>/dev/null && ok "$who: still running" || not_ok "$who: died"
}
storm dnsb "$DNSB_PID" "$PORT" glb.example.net ctl stats
storm dnslb "$DNSLB_PID" "$LPORT" lb42.www.foobar.example lbctl stats
# With room for every one of them (tcp-max-connections 12000): all held,
# and the event loop with 10 000 idle descriptors still answers at once.
stop_pid "$DNSB_PID"
sed -i 's/^    workers: 1$/&\n    tcp-max-connections: 12000/' "$TMP/dnsb.conf"
CAP=12000
start_dnsb "$TMP/dnsb.conf"
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
storm "dnsb (cap 12000)" "$DNSB_PID" "$PORT" glb.example.net ctl stats
finish

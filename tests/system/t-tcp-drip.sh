#!/usr/bin/env bash
# Issue 11 #3: TCP on the DNS port cannot be held by slow drips. Hundreds of
# connections that each send a length and then a byte a second (never a
# whole message), reopened when closed, from 127.0.0.2 and from 127.0.0.1:
# a plain `dig +tcp` from 127.0.0.1 and from 127.0.0.3 is still answered
# (the message deadline, the per-address cap and the oldest connection
# giving way when full; shared/server_tcp.c), by dnsb and by dnslb alike.
#
#   127.0.0.1   dnsb: DNS on PORT; dnslb: DNS on LPORT, control on LCPORT
#               (one worker each: 512 TCP connections)
#   127.0.0.2   drips (300 connections); 127.0.0.1: drips (300) and dig
. "$(dirname "$0")/lib.sh"

for t in dig python3; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null
ports=()
while [ ${#ports[@]} -lt 3 ]; do
    p=$(free_port) || { echo "no free port"; exit 1; }
    case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
PORT=${ports[0]} LPORT=${ports[1]} LCPORT=${ports[2]}
LBCTL_ADDR=127.0.0.1@$LCPORT
cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    workers: 1
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
service:
    name: www.foobar.example.
    site: paris 192.0.2.10
CONF
cat >"$TMP/dnslb.conf" <<CONF
server:
    listen: 127.0.0.1@$LPORT
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

# dig_tcp PORT NAME SOURCE
dig_tcp() { dig +tcp +norec +time=3 +tries=1 -b "$3" -p "$1" @127.0.0.1 "$2" SOA 2>&1; }

# drips WHO PORT NAME: 600 drip connections (length 64, then a byte a
# second), reopened at most 50 a second, 20 s at most; dig +tcp meanwhile.
drips() {
    local who=$1 port=$2 name=$3 d1 d2
    check "$who: dig +tcp answered before the drips" "$(dig_tcp "$port" "$name" 127.0.0.1)" "status: NOERROR"
    rm -f "$TMP/ready1" "$TMP/ready2"
    python3 "$SRCDIR/tests/system/drip.py" --target "127.0.0.1:$port" --sources 127.0.0.2 --conns 300 \
        --prefix 0040 --drip 00 --interval 1 --time 20 --reconnect --rate 25 --max 3000 --ready "$TMP/ready2" &
    d2=$!
    PIDS+=("$d2")
    python3 "$SRCDIR/tests/system/drip.py" --target "127.0.0.1:$port" --sources 127.0.0.1 --conns 300 \
        --prefix 0040 --drip 00 --interval 1 --time 20 --reconnect --rate 25 --max 3000 --ready "$TMP/ready1" &
    d1=$!
    PIDS+=("$d1")
    if ! wait_until 15 test -s "$TMP/ready1" -a -s "$TMP/ready2"; then
        not_ok "$who: the drips did not connect"
        return
    fi
    sleep 1
    check "$who: dig +tcp from the dripping address answered" "$(dig_tcp "$port" "$name" 127.0.0.1)" "status: NOERROR"
    check "$who: dig +tcp from another address answered" "$(dig_tcp "$port" "$name" 127.0.0.3)" "status: NOERROR"
    sleep 4 # past the message deadline: the first drips are cut, their replacements too
    check "$who: dig +tcp still answered 5 s into the drips" "$(dig_tcp "$port" "$name" 127.0.0.1)" \
        "status: NOERROR"
    check "$who: UDP answered meanwhile" "$(dig +norec +time=2 +tries=1 -p "$port" @127.0.0.1 "$name" SOA 2>&1)" \
        "status: NOERROR"
    stop_pid "$d1"
    stop_pid "$d2"
}
drips dnsb "$PORT" glb.example.net
drips dnslb "$LPORT" lb42.www.foobar.example
check "dnsb still runs" "$(kill -0 "$DNSB_PID" 2>&1 && echo alive)" "^alive$"
check "dnslb still runs" "$(kill -0 "$DNSLB_PID" 2>&1 && echo alive)" "^alive$"
finish

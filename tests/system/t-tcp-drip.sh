#!/usr/bin/env bash
# Issue 11 #3: TCP on the DNS port cannot be held by slow drips. Hundreds of
# connections that each send a length and then a byte a second (never a
# whole message), reopened when closed, from 127.0.0.2 and from 127.0.0.1:
# a plain `dig +tcp` from 127.0.0.1 and from 127.0.0.3 is still answered
# (the message deadline, the per-address cap and the oldest connection
# giving way when full; shared/server_tcp.c, used by dnsb and dnslb alike).
#
#   127.0.0.1   dnsb: DNS on PORT (one worker: 512 TCP connections)
#   127.0.0.2   drips (300 connections); 127.0.0.1: drips (300) and dig
. "$(dirname "$0")/lib.sh"

for t in dig python3; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null
PORT=$(free_port) || { echo "no free port"; exit 1; }
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
start_dnsb "$TMP/dnsb.conf"
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1

dig_tcp() { dig +tcp +norec +time=3 +tries=1 -b "$1" -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1; }
check "dig +tcp answered before the drips" "$(dig_tcp 127.0.0.1)" "status: NOERROR"

# 600 drip connections (length 64, then a byte a second), reopened at most
# 50 a second, 20 s at most.
drip() {
    python3 "$SRCDIR/tests/system/drip.py" --target "127.0.0.1:$PORT" --sources "$1" --conns 300 \
        --prefix 0040 --drip 00 --interval 1 --time 20 --reconnect --rate 25 --max 3000 --ready "$2" &
    PIDS+=($!)
}
drip 127.0.0.2 "$TMP/ready2"
D2=$!
drip 127.0.0.1 "$TMP/ready1"
D1=$!
wait_until 15 test -s "$TMP/ready1" -a -s "$TMP/ready2" || { not_ok "the drips did not connect"; finish; exit; }
sleep 1
check "dig +tcp from the dripping address answered" "$(dig_tcp 127.0.0.1)" "status: NOERROR"
check "dig +tcp from another address answered" "$(dig_tcp 127.0.0.3)" "status: NOERROR"
sleep 4 # past the message deadline: the first drips are cut, their replacements too
check "dig +tcp still answered 5 s into the drips" "$(dig_tcp 127.0.0.1)" "status: NOERROR"
check "UDP answered meanwhile" "$(dig +norec +time=2 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1)" \
    "status: NOERROR"
stop_pid "$D1"
stop_pid "$D2"
kill -USR1 "$DNSB_PID"
sleep 0.3
check "dnsb still runs" "$(kill -0 "$DNSB_PID" 2>&1 && echo alive)" "^alive$"
finish

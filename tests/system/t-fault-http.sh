#!/usr/bin/env bash
# Issue 17, fault injection: an enterprise site that answers dnslb's health
# check with hostile HTTP (hostile_http.py): header lines for ever, one
# header line that never ends, a 10^12-byte body, endless chunks, a body
# delimited by a close that never comes, a valid response at one byte a
# second. Each such check fails in bounded time (the check's timeout: the
# server sees the connection closed within it), the site is declared dead,
# dnslb's memory stays bounded, and a well-behaved site beside them is
# checked on time all along (every 3 s, alive) while dnslb keeps
# answering DNS.
#
#   127.0.0.1          dnslb: DNS on LPORT, control on LCPORT
#   127.0.6.1          the well-behaved site; 127.0.6.2-7 the hostile ones,
#                      all on HPORT (hostile_http.py)
. "$(dirname "$0")/lib.sh"

need dig python3
free_ports 3
LPORT=${PORTS[0]} LCPORT=${PORTS[1]} HPORT=${PORTS[2]}
LBCTL_ADDR=127.0.0.1@$LCPORT
# ASan's quarantine (256 MiB of freed memory) would hide growth of RSS.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
TIMEOUT=2
INTERVAL=3 # the timeout must be shorter
MODES="ok headers longline hugebody endless closebody drip"
addr_of() { local i=1 m; for m in $MODES; do [ "$m" = "$1" ] && { echo "127.0.6.$i"; return; }; i=$((i + 1)); done; }

listen=() sites=""
for m in $MODES; do
    a=$(addr_of "$m")
    listen+=(--listen "$m@$a:$HPORT")
    sites="$sites    site: $m $a check=http://$a:$HPORT/probe
"
done
python3 "$SRCDIR/tests/system/hostile_http.py" "${listen[@]}" --stats "$TMP/stats.json" --time 60 >"$TMP/hostile.out" 2>&1 &
PIDS+=($!)
H=$!
wait_until 10 grep -qx ready "$TMP/hostile.out" || { cat "$TMP/hostile.out"; echo "hostile_http.py did not start"; exit 1; }

cat >"$TMP/dnslb.conf" <<CONF
server:
    listen: 127.0.0.1@$LPORT
    id: lb42
    workers: 1
$(lb_control_keys)
    control: 127.0.0.1@$LCPORT
probe:
    http-interval: $INTERVAL
    timeout: $TIMEOUT
    dead-after: 2
    alive-after: 1
    icmp-interval: 3600
service:
    name: www.foobar.example.
$sites
CONF
# statj MODE FIELD: a figure of hostile_http.py for that site.
statj() {
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print([v for v in d.values() if v["mode"] == sys.argv[2]][0][sys.argv[3]])' \
        "$TMP/stats.json" "$1" "$2"
}
start_dnslb "$TMP/dnslb.conf" || exit 1
sleep 2
rss0=$(rss_kb "$DNSLB_PID") ok0=$(statj ok conns)
t0=$(now_ms)
# 15 s of checks, DNS asked every half second meanwhile.
worst=0 fails=0
while [ $(( $(now_ms) - t0 )) -lt 15000 ]; do
    q0=$(now_ms)
    dig +norec +time=2 +tries=1 -p "$LPORT" @127.0.0.1 lb42.www.foobar.example SOA 2>&1 | grep -q 'status: NOERROR' ||
        fails=$((fails + 1))
    q=$(( $(now_ms) - q0 ))
    [ "$q" -gt "$worst" ] && worst=$q
    sleep 0.5
done
secs=$(( ($(now_ms) - t0) / 1000 ))
ok1=$(statj ok conns) rss1=$(rss_kb "$DNSLB_PID")
SITES=$(lbctl sites)
echo "# after ${secs} s:"
for m in $MODES; do
    echo "#   $m: state $(site_field www.foobar.example. "$m" 4), $(statj "$m" conns) checks, $(statj "$m" bytes) bytes sent to dnslb, longest connection $(statj "$m" longest | cut -c1-5) s"
done
echo "# dnslb RSS $rss0 -> $rss1 kB; DNS worst ${worst} ms, $fails failed"

check_eq "DNS answered all along" "$fails" 0
[ "$worst" -lt 1000 ] && ok "DNS answered promptly (worst ${worst} ms)" || not_ok "DNS slow: ${worst} ms"
n=$((ok1 - ok0))
# every INTERVAL (+-5 %), whatever the hostile checks beside it do
[ "$n" -ge $((secs / INTERVAL - 1)) ] && ok "the well-behaved site checked on time: $n checks in ${secs} s" ||
    not_ok "the well-behaved site checked $n times in ${secs} s (want one every $INTERVAL s)"
check_eq "the well-behaved site is alive" "$(site_field www.foobar.example. ok 4)" alive
for m in $MODES; do
    [ "$m" = ok ] && continue
    check_eq "$m: the site is dead" "$(site_field www.foobar.example. "$m" 4)" dead
    c=$(statj "$m" conns)
    [ "$c" -ge 3 ] && ok "$m: checked again and again ($c checks): each one ended" || not_ok "$m: only $c checks in ${secs} s"
    l=$(statj "$m" longest)
    if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= $TIMEOUT + 1.5 else 1)" "$l"; then
        ok "$m: every check gave up within the timeout (longest connection ${l:0:5} s, timeout $TIMEOUT s)"
    else
        not_ok "$m: a check held the connection ${l:0:5} s (timeout $TIMEOUT s)"
    fi
done
[ $((rss1 - rss0)) -lt 32768 ] && ok "dnslb's memory bounded (RSS +$(( (rss1 - rss0) / 1024 )) MiB)" ||
    not_ok "dnslb's RSS grew $(( (rss1 - rss0) / 1024 )) MiB"
kill -0 "$DNSLB_PID" 2>/dev/null && ok "dnslb still running" || not_ok "dnslb died"
stop_pid "$DNSLB_PID"
check_not "no sanitizer report" "$(cat "$TMP/dnslb.log")" "LeakSanitizer|AddressSanitizer|runtime error"
stop_pid "$H"
finish

#!/usr/bin/env bash
# /metrics of dnsb and dnslb (metrics:, metrics-allow:), scraped and parsed
# with the real Prometheus parser (python3-prometheus-client), and the JSON of
# dnsb-control and dnslb-control (-j).
#
#   127.0.0.1         dnsb (DNS on BPORT, control on BCPORT over TLS, metrics on BMPORT,
#                     the map protocol on MAPPORT)
#   127.0.0.42        dnslb (DNS on PORT, control on CPORT, metrics on MPORT)
#   127.0.0.11-12     sites a and b: the fixture, HTTP on HP; delays 0/100 ms
#   127.0.0.2         a source metrics-allow leaves out
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/certs.sh"
PATH=$PATH:/usr/sbin:/sbin

for t in dig python3 openssl; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
# Debian's python3 (the one python3-prometheus-client installs into), even
# when another python3 comes first in PATH.
PY=
for p in /usr/bin/python3 python3; do
    "$p" -c 'import prometheus_client.parser' 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || { echo "python3-prometheus-client not installed"; exit 77; }
[ -x "$DNSB" ] && [ -x "$DNSLB" ] && [ -x "$DNSLB_CONTROL" ] || { echo "not built in $BUILDDIR"; exit 77; }
DNSB_CONTROL="$BUILDDIR/dnsb/dnsb-control"
SCRAPE="$PY $SRCDIR/tests/system/promscrape.py"

ports=()
while [ ${#ports[@]} -lt 8 ]; do
    p=$(free_port) || { echo "no free port"; exit 1; }
    case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
BPORT=${ports[0]} BCPORT=${ports[1]} BMPORT=${ports[2]} PORT=${ports[3]} CPORT=${ports[4]} MPORT=${ports[5]}
HP=${ports[6]} MAPPORT=${ports[7]}
LBCTL_ADDR=127.0.0.42@$CPORT
BURL=http://127.0.0.1:$BMPORT/metrics
LURL=http://127.0.0.42:$MPORT/metrics

# --- dnsb, with a TLS control channel (its own certificate is the client's)
make_ca "$TMP" ca && make_cert "$TMP" ca b1 127.0.0.1 || { echo "openssl cannot make certificates"; exit 77; }
cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.1@$BPORT
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    pidfile: $TMP/dnsb.pid
    control: 127.0.0.1@$BCPORT
    control-cert-file: $TMP/b1.pem
    control-key-file: $TMP/b1.key
    control-ca-file: $TMP/ca.pem
    metrics: 127.0.0.1@$BMPORT
    metrics-allow: 127.0.0.1/32
service:
    name: www.foobar.example.
    site: paris 192.0.2.10 weight=2
    site: tokyo 192.0.2.20
lb:
    id: lb42
    address: 127.0.0.42
    resolver: 127.0.0.1/32
map:
    listen: 127.0.0.1@$MAPPORT
    tls-cert-file: $TMP/b1.pem
    tls-key-file: $TMP/b1.key
    tls-ca-file: $TMP/ca.pem
CONF
start_dnsb "$TMP/dnsb.conf"
wait_dns 127.0.0.1 "$BPORT" glb.example.net || exit 1
bctl() { "$DNSB_CONTROL" -s 127.0.0.1@"$BCPORT" -C "$TMP/b1.pem" -K "$TMP/b1.key" -A "$TMP/ca.pem" -t 10 "$@"; }
# value FILE SAMPLE: the value of SAMPLE (as promscrape.py prints it) in FILE.
value() { awk -v s="$2" '$1 == s { print $2; exit }' "$1"; }

if $SCRAPE "$BURL" >"$TMP/b0" 2>"$TMP/b0.err"; then
    ok "dnsb: /metrics parses (HELP and TYPE for every family, counters _total)"
else
    not_ok "dnsb: /metrics parses: $(cat "$TMP/b0.err")"
fi
q0=$(value "$TMP/b0" 'glb_dns_queries_total{}')
check "dnsb: glb_dns_queries_total present" "$q0" '^[0-9.]+$'
for i in 1 2 3 4 5; do dig +norec +time=2 +tries=1 -b 127.0.0.1 -p "$BPORT" @127.0.0.1 www.foobar.example A >/dev/null; done
dig +norec +time=2 +tries=1 -p "$BPORT" @127.0.0.1 www.elsewhere.example A >/dev/null
$SCRAPE "$BURL" >"$TMP/b1" 2>&1
q1=$(value "$TMP/b1" 'glb_dns_queries_total{}')
check_eq "dnsb: glb_dns_queries_total moved by the 6 queries" "$(python3 -c "print(int($q1 - $q0))")" 6
check_eq "dnsb: referrals counted by kind" "$(value "$TMP/b1" 'glb_dns_answers_total{kind="referral"}')" 5.0
check_eq "dnsb: REFUSED counted by rcode" "$(value "$TMP/b1" 'glb_dns_error_responses_total{rcode="REFUSED"}')" 1.0
check "dnsb: registrations by kind" "$(value "$TMP/b1" 'glb_registrations{kind="static"}')" '^1\.0$'
check "dnsb: UDP queries by transport" "$(value "$TMP/b1" 'glb_net_queries_total{transport="udp"}')" '^[1-9]'
check_eq "dnsb: map sessions (gauge)" "$(value "$TMP/b1" 'glb_map_sessions{}')" 0.0
check_eq "dnsb: map rejections by reason" "$(value "$TMP/b1" 'glb_map_claims_rejected_by_reason_total{reason="not-allowed"}')" 0.0
check_eq "dnsb: registrations counted" "$(value "$TMP/b1" 'glb_map_registrations_total{}')" 0.0
check "dnsb: the scrapes are counted" "$(value "$TMP/b1" 'glb_metrics_scrapes_total{}')" '^[1-9]'

# stats as JSON: the same counters
json=$(bctl -j stats)
check_eq "dnsb-control -j stats: JSON, dns.queries as the text says" \
    "$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dns.queries"])')" \
    "$(bctl stats | stat_of dns.queries)"
check "dnsb-control stats json: the same" "$(bctl stats json | python3 -m json.tool)" '"dns.referral": 5'
check "dnsb-control -j status: JSON" "$(bctl -j status | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["zone"], d["services"])')" \
    '^glb\.example\.net\. 1$'
out=$(bctl -j list-lbs 2>&1)
check "dnsb-control -j: only status and stats" "$out" 'only .status. and .stats.'

# the HTTP rules
check "dnsb: a source outside metrics-allow is refused (closed)" "$($SCRAPE --status GET "$BURL" --source 127.0.0.2)" '^(closed|403)$'
check_eq "dnsb: an allowed one 200" "$($SCRAPE --status GET "$BURL" --source 127.0.0.1)" 200
check_eq "dnsb: POST /metrics: 405" "$($SCRAPE --status POST "$BURL")" 405
check_eq "dnsb: HEAD /metrics: 405" "$($SCRAPE --status HEAD "$BURL")" 405
check_eq "dnsb: GET /other: 404" "$($SCRAPE --status GET "http://127.0.0.1:$BMPORT/other")" 404
check_eq "dnsb: GET /: the status page, 200 (t-status-page.sh)" "$($SCRAPE --status GET "http://127.0.0.1:$BMPORT/")" 200
big=$($SCRAPE --status GET "$BURL" --header-bytes 65536)
check "dnsb: a 64 KiB request is refused" "$big" '^(413|400|closed)$'
check "dnsb: still answers DNS after it" \
    "$(dig +norec +short +time=2 +tries=1 -b 127.0.0.1 -p "$BPORT" @127.0.0.1 www.foobar.example A)" 'lb42\.www\.foobar\.example\.'
check_eq "dnsb: and still serves /metrics" "$($SCRAPE --status GET "$BURL")" 200
busy=$($SCRAPE --busy "$BURL" 18)
check "dnsb: 16 connections at once, then 503" "$busy" '^(200 ){16}503 503$'
check_eq "dnsb: a connection again once they closed" "$($SCRAPE --status GET "$BURL")" 200
$SCRAPE "$BURL" >"$TMP/b2" 2>&1
check "dnsb: refusals counted" "$(grep -E '^glb_metrics_(forbidden|not_found|bad_method|busy)_total' "$TMP/b2" | tr '\n' ' ')" \
    'forbidden_total\{\} [1-9].*not_found_total\{\} [1-9].*bad_method_total\{\} [1-9].*busy_total\{\} [1-9]'

# slow clients: 40 connections, each dripping a request a byte a second; the
# endpoint holds at most 32 open (64 counting those accepted in the burst
# that reached it), ends each after 10 s, and DNS goes on
sleep 5 # the connections of the checks above gone (5 s idle timeout)
fd0=$(ls /proc/"$DNSB_PID"/fd | wc -l)
python3 "$SRCDIR/tests/system/drip.py" --target "127.0.0.1:$BMPORT" --conns 40 \
    --prefix 474554202f6d65747269637320485454502f312e310d0a --drip 41 --interval 1 --time 14 \
    >"$TMP/drip.out" 2>&1 &
DRIP=$!
PIDS+=("$DRIP")
sleep 3
fds=$(ls /proc/"$DNSB_PID"/fd | wc -l)
if [ $((fds - fd0)) -le 66 ]; then
    ok "dnsb: 40 slow clients hold $((fds - fd0)) descriptors (at most 64)"
else
    not_ok "dnsb: 40 slow clients hold $((fds - fd0)) descriptors (more than 64)"
fi
check "dnsb: answers DNS meanwhile" \
    "$(dig +norec +short +time=2 +tries=1 -b 127.0.0.1 -p "$BPORT" @127.0.0.1 www.foobar.example A)" 'lb42\.www\.foobar\.example\.'
check "dnsb: accepting paused (stats)" "$(bctl stats | stat_of metrics.paused)" '^[1-9]'
expired() { [ "$(bctl stats | stat_of metrics.expired)" -gt 0 ]; }
if wait_until 12 expired; then ok "dnsb: slow connections ended after their 10 s"; else not_ok "dnsb: slow connections ended after their 10 s"; fi
wait "$DRIP"
scrape_ok() { [ "$($SCRAPE --status GET "$BURL")" = 200 ]; }
if wait_until 10 scrape_ok; then ok "dnsb: /metrics answers again (${WAITED}s)"; else not_ok "dnsb: /metrics answers again"; fi

# a reload puts a new metrics-allow in force at once
sed -i 's|metrics-allow: 127.0.0.1/32|metrics-allow: 127.0.0.2/32|' "$TMP/dnsb.conf"
check "dnsb: reloaded" "$(bctl reload)" '^reloaded '
check_eq "dnsb: after the reload 127.0.0.2 may scrape" "$($SCRAPE --status GET "$BURL" --source 127.0.0.2)" 200
check "dnsb: and 127.0.0.1 no longer" "$($SCRAPE --status GET "$BURL" --source 127.0.0.1)" '^(closed|403)$'

# --- dnslb: two sites on the fixture
start_fixture --listen 127.0.0.11:$HP --listen 127.0.0.12:$HP --control 127.0.0.1:0 || exit 1
fx "/set?addr=127.0.0.12&port=$HP&delay_ms=100" >/dev/null
cat >"$TMP/dnslb.conf" <<CONF
server:
    listen: 127.0.0.42@$PORT
    id: lb42
$(lb_control_keys)
    control: 127.0.0.42@$CPORT
    metrics: 127.0.0.42@$MPORT
    metrics-allow: 127.0.0.1/32
    pidfile: $TMP/dnslb.pid
probe:
    http-interval: 2
    icmp-interval: 1
    timeout: 1
    ewma-constant: 2
    dead-after: 2
    alive-after: 2
service:
    name: www.foobar.example.
    site: a 127.0.0.11 check=http://127.0.0.11:$HP/probe
    site: b 127.0.0.12 check=http://127.0.0.12:$HP/probe
CONF
start_dnslb "$TMP/dnslb.conf" "$TMP/dnslb.log" || exit 1
wait_dns 127.0.0.42 "$PORT" lb42.www.foobar.example || exit 1
A='{service="www.foobar.example",site="a"}'
B='{service="www.foobar.example",site="b"}'
up_is() { $SCRAPE "$LURL" >"$TMP/l" 2>&1 && [ "$(value "$TMP/l" "glb_site_up$1")" = "$2" ]; }
if wait_until 10 up_is "$A" 1.0 && up_is "$B" 1.0; then
    ok "dnslb: glb_site_up 1 for a and b once alive (${WAITED}s)"
else
    not_ok "dnslb: glb_site_up 1 for a and b within 10 s"
    cat "$TMP/l"
fi
$SCRAPE "$LURL" >"$TMP/l0" 2>"$TMP/l0.err" && ok "dnslb: /metrics parses" || not_ok "dnslb: /metrics parses: $(cat "$TMP/l0.err")"
check_eq "dnslb: glb_site_state up for a" "$(value "$TMP/l0" "glb_site_state{service=\"www.foobar.example\",site=\"a\",state=\"up\"}")" 1.0
check_eq "dnslb: and not down" "$(value "$TMP/l0" "glb_site_state{service=\"www.foobar.example\",site=\"a\",state=\"down\"}")" 0.0
check "dnslb: b's latency in seconds (100 ms delay)" "$(value "$TMP/l0" "glb_site_latency_seconds$B")" '^0\.(0[89]|1[0-4])'
check_eq "dnslb: a's loss ratio" "$(value "$TMP/l0" "glb_site_loss_ratio$A")" 0.0
check "dnslb: a's score in seconds" "$(value "$TMP/l0" "glb_site_score_seconds$A")" '^0\.0'
q0=$(value "$TMP/l0" 'glb_dns_queries_total{}')
for i in 1 2 3; do dig +norec +time=2 +tries=1 -p "$PORT" @127.0.0.42 lb42.www.foobar.example A >/dev/null; done
$SCRAPE "$LURL" >"$TMP/l1" 2>&1
check_eq "dnslb: glb_dns_queries_total moved by 3" "$(python3 -c "print(int($(value "$TMP/l1" 'glb_dns_queries_total{}') - $q0))")" 3
check "dnslb: answers by kind" "$(value "$TMP/l1" 'glb_dns_answers_total{kind="answer"}')" '^[3-9]'
check "dnslb: HTTP checks counted" "$(value "$TMP/l1" 'glb_probe_http_checks_total{}')" '^[1-9]'
ch0=$(value "$TMP/l1" "glb_site_state_changes_total$A")

# a fails its checks: its up gauge drops, the state says down, a change is counted
fx "/set?addr=127.0.0.11&port=$HP&status=500" >/dev/null
if wait_until 10 up_is "$A" 0.0; then
    ok "dnslb: a failing (HTTP 500): glb_site_up 0 after ${WAITED}s"
else
    not_ok "dnslb: a failing: glb_site_up 0 within 10 s"
fi
check_eq "dnslb: glb_site_state down for a" "$(value "$TMP/l" "glb_site_state{service=\"www.foobar.example\",site=\"a\",state=\"down\"}")" 1.0
check_eq "dnslb: b still up" "$(value "$TMP/l" "glb_site_up$B")" 1.0
check_eq "dnslb: a's state change counted" "$(python3 -c "print(int($(value "$TMP/l" "glb_site_state_changes_total$A") - $ch0))")" 1
check "dnslb: the answer moved to b" "$(dig +norec +short +time=2 +tries=1 -p "$PORT" @127.0.0.42 lb42.www.foobar.example A)" '^127\.0\.0\.12$'

# dnslb-control: JSON with the sites
json=$(lbctl -j stats)
check_eq "dnslb-control -j stats: a's up line" \
    "$(printf '%s' "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print([x["value"] for x in d["site.up"] if x["site"] == "a"])')" "[0]"
check "dnslb-control -j status: JSON" "$(lbctl -j status | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')" '^lb42$'
check "dnslb-control stats: the site lines" "$(lbctl stats)" "^site\.up\{service=\"www\.foobar\.example\",site=\"a\"\}=0$"

# the HTTP rules on dnslb too
check "dnslb: a source outside metrics-allow is refused (closed)" "$($SCRAPE --status GET "$LURL" --source 127.0.0.2)" '^(closed|403)$'
check_eq "dnslb: DELETE /metrics: 405" "$($SCRAPE --status DELETE "$LURL")" 405
check_eq "dnslb: GET /metricsx: 404" "$($SCRAPE --status GET "http://127.0.0.42:$MPORT/metricsx")" 404
check "dnslb: a 64 KiB request is refused" "$($SCRAPE --status GET "$LURL" --header-bytes 65536)" '^(413|400|closed)$'
check "dnslb: still answers DNS" "$(dig +norec +short +time=2 +tries=1 -p "$PORT" @127.0.0.42 lb42.www.foobar.example A)" '^127\.0\.0\.12$'

# a bad key is refused with FILE:LINE
printf 'server:\n    listen: 127.0.0.42@%s\n    id: lb9\n    metrics-allow: 10.0.0.0/33\n' "$PORT" >"$TMP/bad.conf"
check "dnslb -t: a bad metrics-allow, FILE:LINE" "$("$DNSLB" -t -c "$TMP/bad.conf" 2>&1)" 'bad\.conf:4: .*metrics-allow'

kill -0 "$DNSB_PID" 2>/dev/null && kill -0 "$DNSLB_PID" 2>/dev/null && ok "both daemons still running" || not_ok "both daemons still running"
# SIGUSR1's one stats line leaves the site lines out
kill -USR1 "$DNSLB_PID"
wait_for_log "$TMP/dnslb.log" 'stats: dns.queries=' 5 >/dev/null 2>&1
check_not "dnslb: SIGUSR1's stats line without the sites" "$(grep 'stats: dns.queries=' "$TMP/dnslb.log")" 'site\.up'
# Stopped cleanly, and nothing from the sanitizers (when built with them).
stop_pid "$DNSB_PID"
stop_pid "$DNSLB_PID"
check_not "no sanitizer report in the daemons' logs" "$(cat "$TMP/dnsb.log" "$TMP/dnslb.log")" \
    'AddressSanitizer|LeakSanitizer|runtime error'
finish

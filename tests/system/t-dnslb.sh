#!/usr/bin/env bash
# dnslb on loopback (DESIGN §5, §6): one fixture web server plays every site,
# dnslb measures them by HTTP(S) (and ICMP where it can), answers with dig,
# reports with dnslb-control. NSD serves the zone of a site given by host name.
#
#   127.0.0.42        dnslb (DNS on PORT, control on CPORT)
#   127.0.0.11-13     sites a, b, c: the fixture, HTTP on HP; delays 0/100/200 ms
#   127.0.0.14        site "mirror" (www.mirror.example in NSD), HTTP on HP
#   127.0.0.15-16     HTTPS sites on TP, a self-signed certificate
#   127.0.0.53        NSD, zone mirror.example, on NSDPORT
. "$(dirname "$0")/lib.sh"
PATH=$PATH:/usr/sbin:/sbin

for t in dig python3 openssl nsd; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
[ -x "$DNSLB" ] && [ -x "$DNSLB_CONTROL" ] || { echo "dnslb not built in $BUILDDIR"; exit 77; }
T0=$(now_ms)
secs() { local n; n=$(now_ms); printf '%d.%d' $(( (n - T0) / 1000 )) $(( (n - T0) % 1000 / 100 )); }

# Distinct free ports.
ports=()
while [ ${#ports[@]} -lt 5 ]; do
    p=$(free_port) || { echo "no free port"; exit 1; }
    case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
PORT=${ports[0]} CPORT=${ports[1]} HP=${ports[2]} TP=${ports[3]} NSDPORT=${ports[4]}
LBCTL_ADDR=127.0.0.42@$CPORT

# --- the HTTPS certificate: self-signed, for both HTTPS sites' addresses
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=glb-systest \
    -addext "subjectAltName=IP:127.0.0.15,IP:127.0.0.16" \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" >"$TMP/openssl.log" 2>&1 ||
    { cat "$TMP/openssl.log"; echo "openssl cannot make a certificate"; exit 77; }

# --- NSD: zone mirror.example, www = 127.0.0.14
start_mirror_nsd "$NSDPORT"

start_fixture --listen 127.0.0.11:$HP --listen 127.0.0.12:$HP --listen 127.0.0.13:$HP --listen 127.0.0.14:$HP \
    --tls-listen 127.0.0.15:$TP --tls-listen 127.0.0.16:$TP --cert "$TMP/cert.pem" --key "$TMP/key.pem" \
    --control 127.0.0.1:0 || exit 1
fx "/set?addr=127.0.0.12&port=$HP&delay_ms=100" >/dev/null
fx "/set?addr=127.0.0.13&port=$HP&delay_ms=200" >/dev/null
wait_dns 127.0.0.53 "$NSDPORT" mirror.example || { tail "$TMP/nsd.log"; exit 1; }

# write_conf FILE WWW_SITES [PROBE_EXTRA [WWW_EXTRA]]: the configuration; the
# www service's site lines and extra lines for the probe and www sections vary.
write_conf() {
    local file=$1 www_sites=$2 probe_extra=${3:-} www_extra=${4:-}
    cat >"$file" <<CONF
server:
    listen: 127.0.0.42@$PORT
    id: lb42
$(lb_control_keys)
    control: 127.0.0.42@$CPORT
    location: 48.1,11.6
    pidfile: $TMP/dnslb.pid
probe:
    http-interval: 2
    icmp-interval: 1
    timeout: 1
    ewma-constant: 2
    dead-after: 2
    alive-after: 2
$probe_extra
resolver:
    address: 127.0.0.53@$NSDPORT
service:
    name: www.foobar.example.
    ttl-answer: 5
$www_extra
$www_sites
service:
    name: shop.foobar.example.
    policy: cost
    answer-count: 3
    site: x 127.0.0.11 cost=5
    site: y 127.0.0.12 cost=1
    site: z 127.0.0.13 cost=3.5
service:
    name: near.foobar.example.
    policy: proximity
    answer-count: 3
    site: paris 127.0.0.11 location=48.86,2.35
    site: tokyo 127.0.0.12 location=35.68,139.69
    site: vienna 127.0.0.13 location=48.21,16.37
service:
    name: tls.foobar.example.
    margin-ms: 50
    site: noverify 127.0.0.15 check=https://127.0.0.15:$TP/probe check-verify=no
    site: verify 127.0.0.16 check=https://127.0.0.16:$TP/probe check-verify=yes
service:
    name: mirror.foobar.example.
    site: mirror www.mirror.example check=http://www.mirror.example:$HP/probe
CONF
}
SITE_A="    site: a 127.0.0.11 check=http://127.0.0.11:$HP/probe weight=1"
SITE_B="    site: b 127.0.0.12 check=http://127.0.0.12:$HP/probe weight=3"
SITE_C="    site: c 127.0.0.13 check=http://127.0.0.13:$HP/probe weight=2"
write_conf "$TMP/dnslb.conf" "$SITE_A
$SITE_B
$SITE_C"

LOG=$TMP/dnslb.log
start_dnslb "$TMP/dnslb.conf" "$LOG" || exit 1
wait_dns 127.0.0.42 "$PORT" lb42.www.foobar.example || exit 1

q() { dig +norec +time=2 +tries=1 -p "$PORT" @127.0.0.42 "$@" 2>&1 | tr -s ' \t' '  '; }
short() { dig +norec +short +time=2 +tries=1 -p "$PORT" @127.0.0.42 "$@" A 2>&1 | tr '\n' ' ' | sed 's/ $//'; }
www() { short lb42.www.foobar.example; }
state_is() { [ "$(site_field "$1" "$2" 4)" = "$3" ]; }
www_is() { [ "$(www)" = "$1" ]; }
www_first() { case "$(www) " in "$1 "*) return 0 ;; esac; return 1; }
all_state() { local s; for s in a b c; do state_is www.foobar.example. $s "$1" || return 1; done; }
# www_now DESCRIPTION WANT: the answer is WANT once the table is published
# (the prober publishes at most 100 ms after a change: wait up to 2 s).
www_now() {
    wait_until 2 www_is "$2"
    check_eq "$1" "$(www)" "$2"
}
dump() { echo "# at $(secs) s:"; lbctl sites | sed 's/^/#   /'; }

# --- 1. the fastest site alone: b (100 ms) and c (200 ms) are not within the margin
if wait_until 10 all_state alive; then
    ok "a, b, c alive after ${WAITED}s"
else
    not_ok "a, b, c alive within 10 s"
    dump
fi
www_now "the fastest alone: the others are not as good (answer set)" "127.0.0.11"
check_eq "any label works" "$(short anything.www.foobar.example)" "127.0.0.11"
SITES=$(lbctl sites)
check "sites: why a is answered (in:best)" "$SITES" '^www\.foobar\.example\. +a +127\.0\.0\.11 +alive .* in:best '
check "sites: why b is not (out:slower)" "$SITES" '^www\.foobar\.example\. +b +127\.0\.0\.12 +alive .* out:slower '
SITES=
out=$(q lb42.www.foobar.example A)
check "answer: authoritative" "$out" 'flags: qr aa;'
check "answer: TTL ttl-answer" "$out" '^lb42\.www\.foobar\.example\. 5 IN A 127\.0\.0\.11$'
SITES=$(lbctl sites)
check "sites: a measured by HTTP" "$SITES" '^www\.foobar\.example\. +a +127\.0\.0\.11 +alive +[0-9.]+ +[0-9.]+% +[0-9.]+ .* http 200 ttfb [0-9.]+ ms$'
lat_b=$(site_field www.foobar.example. b 5)
check "sites: b's latency is its 100 ms delay" "$lat_b" '^(9[5-9]|1[0-4][0-9])\.[0-9]$'
SITES=

# --- 2. slowing a down flips the order (when, and the hysteresis of sections
# 3 to 5, exactly: tests/unit/data/scenarios/dnslb-hysteresis.txt; here what
# needs the real daemon: the fixture's delays measured, answered over DNS)
fx "/set?addr=127.0.0.11&port=$HP&delay_ms=400" >/dev/null
wait_until 14 www_is "127.0.0.12"
www_now "a slowed to 400 ms: b alone (c at 200 ms is twice as slow, a slower still)" "127.0.0.12"

# --- 3. killing the fastest (b) removes it
fx "/set?addr=127.0.0.12&port=$HP&mode=reset" >/dev/null
if wait_until 7 state_is www.foobar.example. b dead; then
    ok "b reset: dead after ${WAITED}s"
else
    not_ok "b reset: dead within 7 s"
    dump
fi
www_now "b dead: no longer answered, c (200 ms) alone before a (400 ms)" "127.0.0.13"
check "sites: b's last check says reset" "$(lbctl sites)" '^www\.foobar\.example\. +b +127\.0\.0\.12 +dead .* out:dead +http reset$'
check "log: b's transition" "$(cat "$LOG")" 'site b: alive -> dead \(http reset\)'

# --- 4. b returns after alive-after successes
fx "/set?addr=127.0.0.12&port=$HP&mode=normal" >/dev/null
if wait_until 7 state_is www.foobar.example. b alive; then
    ok "b back to normal: alive after ${WAITED}s"
else
    not_ok "b back to normal: alive within 7 s"
    dump
fi
www_now "b answered alone again" "127.0.0.12"
check "log: b dead -> alive" "$(cat "$LOG")" 'site b: dead -> alive \(http 200'

# --- 9. HTTPS (checked here: both were measured since the start)
SITES=$(lbctl sites)
check "https, check-verify=no: alive" "$SITES" '^tls\.foobar\.example\. +noverify +127\.0\.0\.15 +alive .* http 200 ttfb'
check "https, check-verify=yes, self-signed: dead" "$SITES" '^tls\.foobar\.example\. +verify +127\.0\.0\.16 +dead .* http tls$'
check_eq "https: only the verified-off site answered" "$(short lb42.tls.foobar.example)" "127.0.0.15"

# --- 12. a site given by host name, resolved through NSD by libunbound
check "host name site: resolved to 127.0.0.14 and alive" "$SITES" \
    '^mirror\.foobar\.example\. +mirror +127\.0\.0\.14 +alive .* http 200'
check_eq "host name site: answered with its address" "$(short lb42.mirror.foobar.example)" "127.0.0.14"
check "log: the host name's addresses" "$(cat "$LOG")" 'site mirror: www\.mirror\.example has 1 addresses'
SITES=

# --- 6. policy cost: by cost; policy proximity: by distance from location:
check_eq "cost: the cheapest alone" "$(short lb42.shop.foobar.example)" "127.0.0.12"
check_eq "proximity: the nearest to 48.1,11.6 alone (Vienna, not Paris, Tokyo)" \
    "$(short lb42.near.foobar.example)" "127.0.0.13"

# --- 7. SOA and NS at <label>.<service>, ns.<label>.<service>, NXDOMAIN, REFUSED
out=$(q lb42.www.foobar.example SOA)
check "SOA at <label>.<service>" "$out" '^lb42\.www\.foobar\.example\. 5 IN SOA ns\.lb42\.www\.foobar\.example\. hostmaster\.lb42\.www\.foobar\.example\. [0-9]+ 3600 600 604800 60$'
check "SOA: authoritative" "$out" 'flags: qr aa;'
out=$(q other.www.foobar.example SOA)
check "SOA at any label" "$out" '^other\.www\.foobar\.example\. 5 IN SOA ns\.other\.www\.foobar\.example\.'
out=$(q lb42.www.foobar.example NS)
check "NS at <label>.<service>" "$out" '^lb42\.www\.foobar\.example\. 5 IN NS ns\.lb42\.www\.foobar\.example\.$'
check "NS: glue is this box" "$out" '^ns\.lb42\.www\.foobar\.example\. 5 IN A 127\.0\.0\.42$'
check_eq "ns.<label>.<service> A: this box" "$(short ns.lb42.www.foobar.example)" "127.0.0.42"
out=$(q ns.lb42.www.foobar.example AAAA)
check "ns.<label>.<service> AAAA: NOERROR" "$out" 'status: NOERROR'
check "ns.<label>.<service> AAAA: no data, the SOA" "$out" 'ANSWER: 0, AUTHORITY: 1'
out=$(q deeper.lb42.www.foobar.example A)
check "below <label>.<service>: NXDOMAIN" "$out" 'status: NXDOMAIN'
check "NXDOMAIN carries the SOA" "$out" '^lb42\.www\.foobar\.example\. 5 IN SOA'
check "NXDOMAIN: authoritative" "$out" 'flags: qr aa;'
out=$(q x.ns.lb42.www.foobar.example A)
check "below ns.<label>.<service>: NXDOMAIN" "$out" 'status: NXDOMAIN'
check "the service name itself: REFUSED" "$(q www.foobar.example A)" 'status: REFUSED'
check "another name: REFUSED" "$(q www.example.org A)" 'status: REFUSED'
check "a parent of the service: REFUSED" "$(q foobar.example SOA)" 'status: REFUSED'
out=$(q +tcp LB42.WWW.FooBar.Example A)
check "TCP, mixed case: answered as asked" "$out" '^LB42\.WWW\.FooBar\.Example\. 5 IN A 127\.0\.0\.12$'
# Transfers refused, an IXFR with its SOA (RFC 1995) too, not FORMERR.
st0=$(lbctl stats)
check "dig ixfr=1: no transfer" "$(q lb42.www.foobar.example ixfr=1)" 'Transfer failed'
check_eq "IXFR with the client's SOA: REFUSED (5)" "$(ixfr_rcode 127.0.0.42 "$PORT" lb42.www.foobar.example)" 5
st1=$(lbctl stats)
stat_of() { local v; v=$(printf '%s\n' "$1" | sed -n "s/^$2=//p"); echo "${v:-0}"; }
check_eq "stats: both IXFRs refused" "$(( $(stat_of "$st1" dns.refused) - $(stat_of "$st0" dns.refused) ))" 2
check_eq "stats: no FORMERR for them" "$(( $(stat_of "$st1" dns.formerr) - $(stat_of "$st0" dns.formerr) ))" 0
# QCLASS ANY: the class IN data, not authoritative (RFC 6895 §3.2).
out=$(q -c ANY -t A lb42.www.foobar.example)
check "class ANY: the sites" "$out" '^lb42\.www\.foobar\.example\. 5 IN A 127\.0\.0\.12$'
check "class ANY: not authoritative" "$out" 'flags: qr;'
out=$(q -c ANY -t A deeper.lb42.www.foobar.example)
check "class ANY: NXDOMAIN" "$out" 'status: NXDOMAIN'
check "class ANY: NXDOMAIN without the SOA" "$out" 'AUTHORITY: 0,'
check "class CH: REFUSED" "$(q -c CH -t TXT lb42.www.foobar.example)" 'status: REFUSED'

# --- 8. dnslb-control: check measures now, stats counts, status shows ICMP
# a's own requests at the fixture tell whether `check a` checked it: other
# sites' checks do not count, and a's regular ones are kept out of the
# window. A regular check of a has just reached the fixture (a answers in
# 400 ms); the next one comes at least 1.9 s after it (http-interval 2,
# jitter 0.95). Once this one is over (no check in flight to join), a request
# within that window can only come from the check command.
check_a() {
    local t0
    before=$(fx_next 127.0.0.11:$HP) || return 1
    t0=$(now_ms)
    sleep 0.45
    out=$(lbctl check a)
    rc=$?
    after=$(fx_count 127.0.0.11:$HP)
    dt=$(( $(now_ms) - t0 ))
    echo "# check a: ${dt} ms after a's regular check reached the fixture"
    [ "$dt" -lt 1800 ]
}
for try in 1 2 3; do check_a && break; done
[ "$dt" -lt 1800 ] && ok "check a: done before a's next regular check" || not_ok "check a: too slow to tell (${dt} ms)"
check_eq "check a: exit 0" "$rc" 0
check "check a: started" "$out" '^check www\.foobar\.example\./a: started$'
age=$(SITES=$out site_field www.foobar.example. a 9)
check "check a: a's last check is fresh (age $age)" "$age" '^0\.[0-4]s$'
check "check a: shows the sites" "$out" '^www\.foobar\.example\. +a +127\.0\.0\.11 +alive'
check_eq "check a: the fixture saw one request for a" "$((after - before))" 1
out=$(lbctl check shop.foobar.example/y)
check "check SERVICE/SITE" "$out" '^shop\.foobar\.example\. +y '
out=$(lbctl check nosuch 2>&1) # errors go to stderr
rc=$?
check "check nosuch: no such site" "$out" 'no such site'
check_eq "check nosuch: exit 1" "$rc" 1
out=$(lbctl frobnicate 2>&1)
check_eq "unknown command: exit 1" "$?" 1
check "unknown command: the commands listed" "$out" "^error: unknown command 'frobnicate'; commands: status sites check stats map withdraw register agents$"

a0=$(lbctl stats | sed -n 's/^dns\.answers=//p')
for i in 1 2 3; do short q$i.www.foobar.example >/dev/null; done
a1=$(lbctl stats | sed -n 's/^dns\.answers=//p')
check_eq "stats: three more answers" "$((a1 - a0))" 3
out=$(lbctl stats)
check "stats: refused counted" "$out" '^dns\.refused=[1-9]'
check "stats: nxdomain counted" "$out" '^dns\.nxdomain=[1-9]'
check "stats: zone answers counted" "$out" '^dns\.zone=[1-9]'
check "stats: TCP counted" "$out" '^net\.tcp_queries=[1-9]'
out=$(lbctl status)
check "status: id" "$out" '^id: lb42$'
# 12 sites; without ICMP (not root, no ping group) the 6 ICMP-only ones stay unknown
if [ "$(id -u)" -eq 0 ]; then
    check "status: sites by state" "$out" '^sites: 12 \(alive 11, dead 1, unknown 0\)$'
    check "status: ICMP v4 raw (root)" "$out" '^icmp: v4 raw, v6 '
else
    check "status: sites by state" "$out" '^sites: 12 \(alive (11|5), dead 1, unknown (0|6)\)$'
    check "status: ICMP mode" "$out" '^icmp: v4 (raw|dgram|unavailable), v6 '
fi

# --- 5. every www site dead: fail-open, every site by weight (b 3, c 2, a 1)
for a in 11 12 13; do fx "/set?addr=127.0.0.$a&port=$HP&mode=close" >/dev/null; done
if wait_until 8 all_state dead; then
    ok "all closed: all dead after ${WAITED}s"
else
    not_ok "all closed: all dead within 8 s"
    dump
fi
wait_until 2 www_first 127.0.0.12 # published
f0=$(lbctl stats | sed -n 's/^dns\.failopen=//p')
check_eq "fail-open: every site, heaviest first" "$(www)" "127.0.0.12 127.0.0.13 127.0.0.11"
f1=$(lbctl stats | sed -n 's/^dns\.failopen=//p')
check_eq "stats: a fail-open answer counted" "$((f1 - f0))" 1
check "log: fail-open" "$(cat "$LOG")" 'service www\.foobar\.example\.: every site is dead, answering all of them by weight \(fail-open\)'
check "status: dead sites counted" "$(lbctl status)" '^sites: 12 \(alive (8|2), dead 4, unknown (0|6)\)$'
check_eq "other services unaffected" "$(short lb42.shop.foobar.example)" "127.0.0.12"
for a in 11 12 13; do fx "/set?addr=127.0.0.$a&port=$HP&mode=normal" >/dev/null; done
fx "/set?addr=127.0.0.11&port=$HP&delay_ms=0" >/dev/null
if wait_until 8 all_state alive; then
    ok "fail-open over: all alive after ${WAITED}s"
else
    not_ok "fail-open over: all alive within 8 s"
    dump
fi
check "log: fail-open ends" "$(cat "$LOG")" 'service www\.foobar\.example\.: a site is alive again, fail-open ends'
wait_until 4 www_is "127.0.0.11"
www_now "back to the fastest alone" "127.0.0.11"

# --- 13. `check` hammered (a local user flooding a site through dnslb):
# 2000 commands, 4 at a time, or 10 s. a answers at once now, so without a
# limit each command would be a GET and an echo. At most one on-demand check
# per site per on-demand-interval (1 s) may go out, besides the regular ones.
# hammer LINE MAX SECS PAR: prints "sent N ok N started N limited N ms N".
# Over TLS with dnslb-control's client certificate (lb_control_keys).
hammer() {
    python3 - "${LBCTL_ADDR%@*}" "${LBCTL_ADDR#*@}" "$@" "$TMP/ctl" <<'PY'
import socket, ssl, sys, threading, time
host, port, line = sys.argv[1], int(sys.argv[2]), sys.argv[3]
most, secs, par = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
tls.minimum_version = ssl.TLSVersion.TLSv1_3
tls.check_hostname = False  # dnslb-control checks the chain only, as here
tls.load_verify_locations(sys.argv[7] + "/control-ca.pem")
tls.load_cert_chain(sys.argv[7] + "/dnslb-control.pem", sys.argv[7] + "/dnslb-control.key")
n = {"sent": 0, "ok": 0, "started": 0, "limited": 0}
lock = threading.Lock()
t0 = time.monotonic()
def worker():
    while True:
        with lock:
            if n["sent"] >= most or time.monotonic() - t0 >= secs:
                return
            n["sent"] += 1
        with tls.wrap_socket(socket.create_connection((host, port), timeout=10)) as s:
            s.sendall(b"glb-control 1 " + line.encode() + b"\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        text = data.decode(errors="replace")
        with lock:
            n["ok"] += text.startswith("ok\n")
            n["started"] += ": started\n" in text
            n["limited"] += ": rate-limited" in text
ts = [threading.Thread(target=worker) for _ in range(par)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("sent %(sent)d ok %(ok)d started %(started)d limited %(limited)d" % n,
      "ms %d" % ((time.monotonic() - t0) * 1000))
PY
}
w0=$(now_ms)
st0=$(lbctl stats)
g0=$(fx_count 127.0.0.11:$HP)
res=$(hammer "check a" 2000 10 4)
g1=$(fx_count 127.0.0.11:$HP)
st1=$(lbctl stats)
window=$(( $(now_ms) - w0 )) # the echoes are counted between st0 and st1: a little longer than the hammer
echo "# hammer: $res; GETs for a: $((g1 - g0))"
set -- $res
sent=$2 answered=$4 started=$6 limited=$8 ms=${10}
check_eq "hammer: every command answered ok" "$answered" "$sent"
check "hammer: some were rate-limited" "$limited" '^[1-9]'
# on demand: one per started second, plus the first; regular: every 1.9 s
# at least, plus one; one more for a request in flight at either end.
bound=$(( ms / 1000 + 1 + ms / 1900 + 1 + 1 ))
gets=$((g1 - g0))
[ "$gets" -le "$bound" ] && ok "hammer: $gets GETs for a in $ms ms (at most $bound)" ||
    not_ok "hammer: $gets GETs for a in $ms ms, more than $bound"
[ "$started" -le $(( ms / 1000 + 1 )) ] && ok "hammer: $started commands started a check" ||
    not_ok "hammer: $started commands started a check in $ms ms"
rl=$(( $(stat_of "$st1" probe.rate_limited) - $(stat_of "$st0" probe.rate_limited) ))
check_eq "stats: probe.rate_limited counts the limited ones" "$rl" "$limited"
if ! lbctl status | grep -q '^icmp: v4 unavailable'; then
    # 12 sites echoed every second (icmp-interval 1), plus a's on-demand ones
    echoes=$(( $(stat_of "$st1" probe.icmp_sent) - $(stat_of "$st0" probe.icmp_sent) ))
    ebound=$(( 12 * (window / 950 + 2) + ms / 1000 + 2 ))
    [ "$echoes" -le "$ebound" ] && ok "hammer: $echoes echoes in $window ms (at most $ebound)" ||
        not_ok "hammer: $echoes echoes in $window ms, more than $ebound"
fi

# --- 10. SIGHUP: c removed (answer-count 3 and a margin of 10 s, so every
# alive site is answered, show it is gone), the CA file
# makes the verified HTTPS site alive
write_conf "$TMP/dnslb.conf" "$SITE_A
$SITE_B" "    ca-file: $TMP/cert.pem" "    answer-count: 3
    margin-ms: 10000"
kill -HUP "$DNSLB_PID"
if wait_until 5 grep -q 'reloaded .*: 5 services' "$LOG"; then
    ok "SIGHUP: reloaded"
else
    not_ok "SIGHUP: reloaded within 5 s"
    tail -n 5 "$LOG"
fi
sleep 0.5 # a check of c in flight at the reload may still land
c0=$(fx_count 127.0.0.13:$HP)
check_eq "reload: c no longer answered (answer-count 3, all within the margin, two sites)" "$(www)" "127.0.0.11 127.0.0.12"
SITES=$(lbctl sites)
check_not "reload: c no longer listed" "$SITES" '^www\.foobar\.example\. +c '
check "reload: a kept its health" "$SITES" '^www\.foobar\.example\. +a +127\.0\.0\.11 +alive'
SITES=
if wait_until 7 state_is tls.foobar.example. verify alive; then
    ok "reload with ca-file: the verified HTTPS site alive after ${WAITED}s"
else
    not_ok "reload with ca-file: the verified HTTPS site alive within 7 s"
    dump
fi
tls_sites() { short lb42.tls.foobar.example | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//'; }
tls_both() { [ "$(tls_sites)" = "127.0.0.15 127.0.0.16" ]; }
wait_until 2 tls_both # the table follows the state within 100 ms
check_eq "https: both answered (within margin-ms 50 of each other)" "$(tls_sites)" "127.0.0.15 127.0.0.16"
sleep 4.5 # more than two http-intervals
c1=$(fx_count 127.0.0.13:$HP)
check_eq "reload: c no longer probed (fixture requests for c)" "$c1" "$c0"
a0=$(fx_count 127.0.0.11:$HP)
check "reload: a still probed" "$a0" '^[1-9]'

# A bad configuration is refused; the old one keeps serving.
cp "$TMP/dnslb.conf" "$TMP/good.conf"
sed -i 's/^    ttl-answer: 5$/    ttl-answer: five/' "$TMP/dnslb.conf"
badline=$(grep -n 'ttl-answer: five' "$TMP/dnslb.conf" | cut -d: -f1)
kill -HUP "$DNSLB_PID"
if wait_until 5 grep -q 'reload refused' "$LOG"; then
    ok "bad config on SIGHUP: refused"
else
    not_ok "bad config on SIGHUP: refused within 5 s"
    tail -n 5 "$LOG"
fi
check "reload refused: names FILE:LINE and key" "$(grep 'reload refused' "$LOG")" \
    "dnslb\\.conf:$badline: key 'ttl-answer'"
kill -0 "$DNSLB_PID" 2>/dev/null && ok "dnslb still running" || not_ok "dnslb died on a bad reload"
check_eq "old configuration still serving" "$(www)" "127.0.0.11 127.0.0.12"
check "old configuration: TTL 5 still" "$(q lb42.www.foobar.example A)" '^lb42\.www\.foobar\.example\. 5 IN A'
cp "$TMP/good.conf" "$TMP/dnslb.conf"

# --- 11. configuration errors, -t, SIGTERM
out=$("$DNSLB" -t -c "$TMP/dnslb.conf" 2>&1)
check "-t: this configuration is ok" "$out" ': ok \(5 services\)$'
# The example's certificates (/etc/glb), as glb-cert-setup makes them.
"$BUILDDIR/glb-cert-setup" -q -d "$TMP/etc-glb"
sed "s|/etc/glb/|$TMP/etc-glb/|" "$SRCDIR/conf/dnslb.conf.example" >"$TMP/dnslb.conf.example"
out=$("$DNSLB" -t -c "$TMP/dnslb.conf.example" 2>&1)
rc=$?
check_eq "-t: the example configuration: exit 0" "$rc" 0
check "-t: the example configuration: ok" "$out" 'dnslb\.conf\.example: ok \(1 services\)$'
sed 's/^    site: x 127\.0\.0\.11 cost=5$/    site: x 127.0.0.11 cost=cheap/' "$TMP/dnslb.conf" >"$TMP/bad1.conf"
line=$(grep -n 'cost=cheap' "$TMP/bad1.conf" | cut -d: -f1)
out=$("$DNSLB" -t -c "$TMP/bad1.conf" 2>&1)
rc=$?
check_eq "bad site option: exit 1" "$rc" 1
check "bad site option: FILE:LINE and key" "$out" "bad1\\.conf:$line: key 'site': bad cost 'cheap'"
printf 'server:\n    listen: 127.0.0.42@%s\n    id: lb42\nprobe:\n    icmp-intervall: 3\n' "$PORT" >"$TMP/bad2.conf"
out=$("$DNSLB" -t -c "$TMP/bad2.conf" 2>&1)
check "unknown key: FILE:LINE and key" "$out" "bad2\\.conf:5: .*'icmp-intervall'"
printf 'server:\n    listen: 127.0.0.42@%s\n    id: lb42\nservice:\n    name: n.example.\n    policy: fastest\n    site: s 192.0.2.1\n' "$PORT" >"$TMP/bad3.conf"
out=$("$DNSLB" -t -c "$TMP/bad3.conf" 2>&1)
check "bad policy: FILE:LINE and key" "$out" "bad3\\.conf:6: key 'policy': unknown policy 'fastest'"
printf 'server:\n    listen: 127.0.0.42@%s\n    id: lb42\nprobe:\n    http-interval: 2\n    timeout: 2\nservice:\n    name: n.example.\n    site: s 192.0.2.1\n' "$PORT" >"$TMP/bad4.conf"
out=$("$DNSLB" -t -c "$TMP/bad4.conf" 2>&1)
# a check across keys: the file and the key (no line is recorded for it)
check "timeout not below http-interval: FILE and key" "$out" "bad4\\.conf(:[0-9]+)?: key 'timeout': must be shorter than http-interval"

check "pidfile written" "$(cat "$TMP/dnslb.pid" 2>/dev/null)" "^$DNSLB_PID\$"
kill -TERM "$DNSLB_PID"
wait "$DNSLB_PID"
rc=$?
check_eq "SIGTERM: exit 0" "$rc" 0
check "SIGTERM: logged" "$(cat "$LOG")" 'exiting on signal'
[ -e "$TMP/dnslb.pid" ] && not_ok "SIGTERM: pidfile removed" || ok "SIGTERM: pidfile removed"
echo "# t-dnslb took $(secs) s"

if [ "$FAILS" -gt 0 ]; then
    echo "--- dnslb log"
    tail -n 40 "$LOG"
fi
finish

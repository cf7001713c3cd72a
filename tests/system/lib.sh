# Helpers for system tests: start the real daemons on loopback, query them
# with real clients, stop exactly what we started. Sourced by t-*.sh.
# Environment: BUILDDIR (where dnsb/dnsb is), SRCDIR (the source tree).

set -u
: "${SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BUILDDIR:=$SRCDIR}"
DNSB="$BUILDDIR/dnsb/dnsb"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/glb-systest.XXXXXX")
PIDS=()
FAILS=0
CHECKS=0

cleanup() {
    local rc=$? p f
    if [ "$rc" -ne 0 ]; then # a failed test shows its daemons' last words
        for f in "$TMP"/*.log; do
            [ -f "$f" ] && { echo "# last lines of $(basename "$f"):"; tail -n 15 "$f" | sed 's/^/#   /'; }
        done
    fi
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null
    done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && wait "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

# A free TCP+UDP port on 127.0.0.1, below the kernel's ephemeral range: a
# port in that range may be the local port of any client's connection or
# query (dig, resolvers, the tests' own) at the moment the daemon binds it.
# Not in use by any socket at all (ss -a, not only listeners).
free_port() {
    local p i lo
    lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    [ "${lo:-0}" -gt 12000 ] || lo=32768
    for i in $(seq 1 50); do
        p=$((10000 + RANDOM % (lo - 10000)))
        if ! ss -Htuan "sport = :$p" 2>/dev/null | grep -q .; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# free_ports N: N distinct free ports (free_port) into the array FREE_PORTS
# (also PORTS); 1 with a message when there are not that many.
free_ports() {
    local p
    FREE_PORTS=()
    while [ ${#FREE_PORTS[@]} -lt "$1" ]; do
        p=$(free_port) || { echo "no free port" >&2; return 1; }
        case " ${FREE_PORTS[*]:-} " in *" $p "*) ;; *) FREE_PORTS+=("$p") ;; esac
    done
    PORTS=("${FREE_PORTS[@]}")
}

# wait_udp ADDR PORT NAME: until a DNS server answers there (at most 5 s).
wait_dns() {
    local addr=$1 port=$2 i
    for i in $(seq 1 50); do
        dig +time=1 +tries=1 -p "$port" @"$addr" "${3:-.}" SOA >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server at $addr port $port did not come up" >&2
    return 1
}

# start_mirror_nsd PORT: NSD on 127.0.0.53@PORT serving the unsigned zone
# mirror.example (www = 127.0.0.14), the host name of a site given by name;
# its state and log in $TMP/nsd.
start_mirror_nsd() {
    mkdir -p "$TMP/nsd"
    cat >"$TMP/nsd/mirror.example.zone" <<'ZONE'
$ORIGIN mirror.example.
$TTL 300
@    IN SOA ns hostmaster 1 3600 600 86400 60
@    IN NS  ns
ns   IN A   127.0.0.53
www  IN A   127.0.0.14
ZONE
    cat >"$TMP/nsd/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.53@$1
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$TMP/nsd"
    zonelistfile: "$TMP/nsd/zone.list"
    xfrdfile: "$TMP/nsd/xfrd.state"
    xfrdir: "$TMP/nsd"
    pidfile: "$TMP/nsd/nsd.pid"
    cookie-secret-file: "$TMP/nsd/cookiesecrets.txt"
    verbosity: 1
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "mirror.example"
    zonefile: "mirror.example.zone"
CONF
    nsd -d -c "$TMP/nsd/nsd.conf" >>"$TMP/nsd.log" 2>&1 &
    PIDS+=("$!")
}

# start_dnsb CONF [LOG]: runs dnsb in the foreground, in the background;
# sets DNSB_PID.
start_dnsb() {
    local conf=$1 log=${2:-$TMP/dnsb.log}
    "$DNSB" -d -c "$conf" >>"$log" 2>&1 &
    DNSB_PID=$!
    PIDS+=("$DNSB_PID")
}

stop_pid() {
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

ok() {
    CHECKS=$((CHECKS + 1))
    echo "ok - $*"
}

not_ok() {
    CHECKS=$((CHECKS + 1))
    FAILS=$((FAILS + 1))
    echo "not ok - $*"
}

# check DESCRIPTION TEXT PATTERN: TEXT matches the extended regex PATTERN.
check() {
    if printf '%s\n' "$2" | grep -Eq -- "$3"; then
        ok "$1"
    else
        not_ok "$1"
        printf '  wanted /%s/ in:\n%s\n' "$3" "$2" | sed 's/^/    /'
    fi
}

# check_not DESCRIPTION TEXT PATTERN
check_not() {
    if printf '%s\n' "$2" | grep -Eq -- "$3"; then
        not_ok "$1"
        printf '  did not want /%s/ in:\n%s\n' "$3" "$2" | sed 's/^/    /'
    else
        ok "$1"
    fi
}

finish() {
    echo "# $CHECKS checks, $FAILS failed"
    [ "$FAILS" -eq 0 ]
}

# check_eq DESCRIPTION GOT WANT: equal once whitespace and newlines are squeezed.
check_eq() {
    local got want
    got=$(printf '%s' "$2" | tr -s ' \t\n' '   ' | sed 's/^ //; s/ $//')
    want=$(printf '%s' "$3" | tr -s ' \t\n' '   ' | sed 's/^ //; s/ $//')
    if [ "$got" = "$want" ]; then
        ok "$1"
    else
        not_ok "$1"
        printf '    wanted: %s\n    got:    %s\n' "$want" "$got"
    fi
}

# ---- dnslb and its fixtures ------------------------------------------------

DNSLB="$BUILDDIR/dnslb/dnslb"
DNSLB_CONTROL="$BUILDDIR/dnslb/dnslb-control"
LBCTL_ADDR=127.0.0.1@8954

# now_ms: monotonic-enough wall clock in milliseconds.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# wait_until SECONDS CMD...: runs CMD (quietly) every 0.2 s until it succeeds
# or SECONDS have passed; sets WAITED to the seconds it took (one decimal).
wait_until() {
    local limit=$1 start now
    shift
    start=$(now_ms)
    while :; do
        if "$@" >/dev/null 2>&1; then
            now=$(now_ms)
            WAITED=$(printf '%d.%d' $(( (now - start) / 1000 )) $(( (now - start) % 1000 / 100 )))
            return 0
        fi
        now=$(now_ms)
        if [ $((now - start)) -ge $((limit * 1000)) ]; then
            WAITED=$(printf '%d.%d' $(( (now - start) / 1000 )) $(( (now - start) % 1000 / 100 )))
            return 1
        fi
        sleep 0.2
    done
}

# wait_for_log FILE PATTERN [SECONDS]: until a line of FILE matches the
# extended regex PATTERN (every 0.1 s, at most SECONDS, default 10): for
# an event that the daemon logs, instead of a fixed sleep. 1 when it never
# came (the caller asserts).
wait_for_log() {
    local file=$1 pattern=$2 limit=${3:-10} start
    start=$(now_ms)
    until grep -Eq -- "$pattern" "$file" 2>/dev/null; do
        [ $(( $(now_ms) - start )) -lt $((limit * 1000)) ] || { echo "# no /$pattern/ in $file after ${limit}s"; return 1; }
        sleep 0.1
    done
}

# stat_of NAME: the value of counter NAME in the "name=value" lines on stdin
# (empty when absent).
stat_of() { sed -n "s/^$1=//p" | head -n 1; }

# start_fixture ARGS...: the fixture web server (tests/fixture/httpd.py) in the
# background, until it says "ready" (at most 10 s); sets FIXTURE_PID and
# FIXTURE_CTL (ADDR:PORT of its control port, so --control ADDR:0 works).
start_fixture() {
    local log=$TMP/fixture.out
    python3 "$SRCDIR/tests/fixture/httpd.py" "$@" >"$log" 2>"$TMP/fixture.log" &
    FIXTURE_PID=$!
    PIDS+=("$FIXTURE_PID")
    if ! wait_until 10 grep -qx ready "$log"; then
        echo "fixture did not start:" >&2
        cat "$log" "$TMP/fixture.log" >&2
        return 1
    fi
    FIXTURE_CTL=$(sed -n 's/^control //p' "$log")
}

# fx PATH?QUERY: one request to the fixture's control port; prints the reply.
fx() {
    if command -v curl >/dev/null 2>&1; then
        curl -sS --max-time 5 "http://$FIXTURE_CTL$1"
    else
        python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode(), end="")' \
            "http://$FIXTURE_CTL$1"
    fi
}

# fx_count ADDR:PORT: requests the fixture has served on that listener.
fx_count() {
    fx /stats | python3 -c 'import json, sys; print(json.load(sys.stdin)["ports"].get(sys.argv[1], 0))' "$1"
}

# fx_next ADDR:PORT: waits (5 s at most) until the fixture has served one
# more request on that listener; prints the new count.
fx_next() {
    python3 - "$FIXTURE_CTL" "$1" <<'PY'
import json, sys, time, urllib.request
ctl, key = sys.argv[1], sys.argv[2]
def count():
    with urllib.request.urlopen("http://%s/stats" % ctl, timeout=5) as r:
        return json.load(r)["ports"].get(key, 0)
c0, end = count(), time.monotonic() + 5
while time.monotonic() < end:
    c = count()
    if c != c0:
        print(c)
        sys.exit(0)
    time.sleep(0.02)
sys.exit(1)
PY
}

# lb_control_keys: the server: lines of dnslb.conf for a TLS control channel
# with the certificates glb-cert-setup makes (once per test, in $TMP/ctl),
# for the test's configuration heredocs: $(lb_control_keys).
lb_control_keys() {
    local d=$TMP/ctl
    [ -s "$d/dnslb-control-server.pem" ] || "$BUILDDIR/glb-cert-setup" -q -d "$d" >&2 || return 1
    printf '    control-cert-file: %s\n    control-key-file: %s\n    control-ca-file: %s\n' \
        "$d/dnslb-control-server.pem" "$d/dnslb-control-server.key" "$d/control-ca.pem"
}

# start_dnslb CONF [LOG]: dnslb in the foreground, in the background; sets
# DNSLB_PID and waits (5 s) until its control channel at LBCTL_ADDR answers
# (with the certificates of CONF: LBCTL_CONF).
start_dnslb() {
    local conf=$1 log=${2:-$TMP/dnslb.log}
    LBCTL_CONF=$conf
    "$DNSLB" -d -c "$conf" >>"$log" 2>&1 &
    DNSLB_PID=$!
    PIDS+=("$DNSLB_PID")
    wait_until 5 lbctl status || { echo "dnslb did not start:" >&2; tail -n 20 "$log" >&2; return 1; }
}

# lbctl COMMAND [ARGS]: dnslb-control against LBCTL_ADDR, with the
# certificates (or control-use-cert: no) of LBCTL_CONF.
lbctl() {
    "$DNSLB_CONTROL" -s "$LBCTL_ADDR" ${LBCTL_CONF:+-c "$LBCTL_CONF"} -t 10 "$@"
}

# site_field SERVICE SITE N: field N of SITE's line in `dnslb-control sites`
# (1 service, 2 site, 3 addresses, 4 state, 5 latency, 6 loss, 7 score,
# 8 icmp-rtt, 9 age, 10... last check). SITES, when set, is used instead of
# asking again.
site_field() {
    printf '%s\n' "${SITES:-$(lbctl sites)}" | awk -v s="$1" -v n="$2" -v f="$3" '$1 == s && $2 == n { print $f; exit }'
}

# ixfr_rcode ADDR PORT ZONE: sends an IXFR request as resolvers and dig
# build it (RFC 1995: serial 1 in an SOA in the authority section) over UDP;
# prints the rcode of the answer (0 NOERROR, 1 FORMERR, 4 NOTIMP, 5 REFUSED),
# or "none".
ixfr_rcode() {
    python3 - "$1" "$2" "$3" <<'PY'
import socket, struct, sys
addr, port, zone = sys.argv[1], int(sys.argv[2]), sys.argv[3]
name = b"".join(bytes([len(l)]) + l.encode() for l in zone.strip(".").split(".")) + b"\0"
soa = b"\xc0\x0c" * 2 + struct.pack("!5I", 1, 0, 0, 0, 0)
pkt = (struct.pack("!6H", 0x1995, 0, 1, 0, 1, 0) + name + struct.pack("!2H", 251, 1) +
       b"\xc0\x0c" + struct.pack("!2HIH", 6, 1, 0, len(soa)) + soa)
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(pkt, (addr, port))
try:
    r = s.recv(65535)
    print(r[3] & 0x0F if r[:2] == b"\x19\x95" else "none")
except socket.timeout:
    print("none")
PY
}

# watch_death SERVICE SITE FAILED SECONDS: polls `dnslb-control sites` (every
# 0.1 s, at most SECONDS) until SITE is dead, noting when its line first
# showed a failed check (the extended regex FAILED, e.g. "icmp lost") while
# not yet dead. Each poll's start and end are kept, so that whatever the
# load the events are known to lie in [FAIL_LO, FAIL_HI] and [DEAD_LO,
# DEAD_HI] (ms, now_ms). 1 when SITE never died (FAIL_* may be empty too).
watch_death() {
    local svc=$1 site=$2 failed=$3 limit=$4 start p_prev p_start=0 p_end line
    FAIL_LO= FAIL_HI= DEAD_LO= DEAD_HI=
    start=$(now_ms)
    p_start=$start
    while [ $(( $(now_ms) - start )) -lt $((limit * 1000)) ]; do
        p_prev=$p_start
        p_start=$(now_ms)
        line=$(lbctl sites | awk -v s="$svc" -v n="$site" '$1 == s && $2 == n')
        p_end=$(now_ms)
        if [ "$(printf '%s\n' "$line" | awk '{print $4}')" = dead ]; then
            DEAD_LO=$p_prev DEAD_HI=$p_end
            return 0
        fi
        if [ -z "$FAIL_LO" ] && printf '%s\n' "$line" | grep -Eq -- "$failed"; then
            FAIL_LO=$p_prev FAIL_HI=$p_end
        fi
        sleep 0.1
    done
    return 1
}

# check_death_after DESCRIPTION INTERVALS_MS SLACK_MS: after watch_death, the
# time from the first failed check to death could be INTERVALS_MS (the
# check intervals between the first and the dead-after-th failure), within
# SLACK_MS either way.
check_death_after() {
    local most least
    if [ -z "$DEAD_HI" ]; then
        not_ok "$1: never dead"
    elif [ -z "$FAIL_LO" ]; then
        not_ok "$1: dead without a failed check seen before"
    else
        most=$((DEAD_HI - FAIL_LO)) least=$((DEAD_LO - FAIL_HI))
        if [ "$most" -ge $(($2 - $3)) ] && [ "$least" -le $(($2 + $3)) ]; then
            ok "$1 ($least..$most ms after the first failed check, want $2 +-$3)"
        else
            not_ok "$1: dead $least..$most ms after the first failed check (want $2 +-$3)"
        fi
    fi
}

# ---- helpers of the fault-injection tests (t-fault-*) ----------------------

# need TOOL...: the test is skipped (exit 77) unless every TOOL is installed.
need() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
    done
}

# fd_count PID: the descriptors PID has open. rss_kb PID: its resident memory.
fd_count() { ls "/proc/$1/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# map_dnsb_conf DATABASE [MAP_LINES [SITE_LINES]]: writes $TMP/dnsb.conf, a
# dnsb with one worker answering on 127.0.0.1@$PORT, its control on
# 127.0.0.1@$CPORT for b1, the map protocol on 127.0.0.1@$MPORT with the
# certificates $C/b1.pem and $C/ca.pem (certs.sh), registrations in
# DATABASE, MAP_LINES (allow: and the like) in its map: section, and the
# service www.foobar.example. by referral with SITE_LINES (default: paris
# 192.0.2.10).
map_dnsb_conf() {
    cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    workers: 1
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    database: $1
    control: 127.0.0.1@$CPORT
    control-allow: b1
map:
    listen: 127.0.0.1@$MPORT
    tls-cert-file: $C/b1.pem
    tls-key-file: $C/b1.key
    tls-ca-file: $C/ca.pem
${2:-}
service:
    name: www.foobar.example.
    mode: referral
${3:-    site: paris 192.0.2.10}
CONF
}

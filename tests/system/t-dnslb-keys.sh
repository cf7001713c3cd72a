#!/usr/bin/env bash
# dnslb.conf keys set through a configuration file, checked by what they do
# (issue 16 §3): server: tcp-idle-timeout and tcp-max-connections, probe:
# max-body, resolver: trust-anchor-file.
#
#   127.0.0.42   dnslb (DNS on PORT, control on CPORT)
#   127.0.0.11   site "small" (the fixture, HTTP on HP, a 100-byte body)
#   127.0.0.12   site "big" (the fixture, a 5000-byte body: over max-body)
#   127.0.0.14   site "mirror" by host name: www.mirror.example in NSD
#   127.0.0.53   NSD, zone mirror.example (unsigned), on NSDPORT
. "$(dirname "$0")/lib.sh"
PATH=$PATH:/usr/sbin:/sbin
for t in dig python3 nsd; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
[ -x "$DNSLB" ] && [ -x "$DNSLB_CONTROL" ] || { echo "dnslb not built in $BUILDDIR"; exit 77; }

ports=()
while [ ${#ports[@]} -lt 4 ]; do
    p=$(free_port) || { echo "no free port"; exit 1; }
    case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
PORT=${ports[0]} CPORT=${ports[1]} HP=${ports[2]} NSDPORT=${ports[3]}
LBCTL_ADDR=127.0.0.42@$CPORT

start_mirror_nsd "$NSDPORT"
start_fixture --listen 127.0.0.11:$HP --listen 127.0.0.12:$HP --listen 127.0.0.14:$HP --control 127.0.0.1:0 || exit 1
fx "/set?addr=127.0.0.11&port=$HP&body_size=100" >/dev/null
fx "/set?addr=127.0.0.12&port=$HP&body_size=5000" >/dev/null
wait_dns 127.0.0.53 "$NSDPORT" mirror.example || exit 1

# A trust anchor for the root that signs nothing: with it, libunbound can
# validate no answer from NSD (whose zones are unsigned), so the mirror's
# host name must stay unresolved; without it, it resolves.
cat >"$TMP/root.key" <<'KEY'
. 3600 IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=
KEY

# conf FILE EXTRA_RESOLVER: the configuration, the resolver section varying.
conf() {
    cat >"$1" <<CONF
server:
    listen: 127.0.0.42@$PORT
    id: lb42
$(lb_control_keys)
    control: 127.0.0.42@$CPORT
    tcp-idle-timeout: 1000
    tcp-max-connections: 2
probe:
    http-interval: 2
    icmp-interval: 30
    timeout: 1
    dead-after: 2
    max-body: 1000
resolver:
    address: 127.0.0.53@$NSDPORT
$2
service:
    name: www.foobar.example.
    site: small 127.0.0.11 check=http://127.0.0.11:$HP/probe
    site: big 127.0.0.12 check=http://127.0.0.12:$HP/probe
service:
    name: mirror.foobar.example.
    site: mirror www.mirror.example check=http://www.mirror.example:$HP/probe
CONF
}

# --- 1. without a trust anchor: everything as configured ---------------------
conf "$TMP/dnslb.conf" ""
LOG=$TMP/dnslb.log
start_dnslb "$TMP/dnslb.conf" "$LOG" || exit 1
state_is() { [ "$(site_field "$1" "$2" 4)" = "$3" ]; }
wait_until 10 state_is www.foobar.example. small alive && ok "small (100-byte body) alive (${WAITED}s)" ||
    not_ok "small not alive: $(lbctl sites)"
wait_until 10 state_is www.foobar.example. big dead && ok "big: dead, its 5000-byte body is over max-body 1000 (${WAITED}s)" ||
    not_ok "big not dead: $(lbctl sites)"
check "big's last check says too-big" "$(lbctl sites)" '^www\.foobar\.example\. +big .* http too-big$'
wait_until 10 state_is mirror.foobar.example. mirror alive &&
    ok "mirror resolved (no trust anchor) and alive (${WAITED}s)" || not_ok "mirror: $(lbctl sites | grep mirror)"

# tcp-idle-timeout 1000: an idle DNS TCP connection is closed after about 1 s.
idle_ms=$(python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.42", int(sys.argv[1])), timeout=10)
t = time.monotonic()
s.recv(1)                      # b"" when the server closes
print(int((time.monotonic() - t) * 1000))
PY
)
[ "$idle_ms" -ge 800 ] && [ "$idle_ms" -le 3000 ] &&
    ok "tcp-idle-timeout 1000: an idle connection closed after $idle_ms ms" ||
    not_ok "tcp-idle-timeout 1000: closed after $idle_ms ms (want 800..3000)"

# tcp-max-connections 2: a third connection makes the oldest idle one give way.
evicted=$(python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
a = socket.create_connection(("127.0.0.42", port), timeout=5)
time.sleep(0.1)
b = socket.create_connection(("127.0.0.42", port), timeout=5)
time.sleep(0.1)
c = socket.create_connection(("127.0.0.42", port), timeout=5)
a.settimeout(0.6)
try:
    print("closed" if a.recv(1) == b"" else "open")
except socket.timeout:
    print("open")
except ConnectionResetError:
    print("closed")
PY
)
check_eq "tcp-max-connections 2: the oldest of three gives way" "$evicted" closed
stop_pid "$DNSLB_PID"

# --- 2. with a trust anchor that validates nothing: the host name fails ------
rm -f "$LOG"
conf "$TMP/dnslb.conf" "    trust-anchor-file: $TMP/root.key"
start_dnslb "$TMP/dnslb.conf" "$LOG" || exit 1
wait_until 10 state_is www.foobar.example. small alive || not_ok "small not alive with the anchor"
sleep 4 # two check intervals: the mirror had its chances to resolve
check "trust-anchor-file: the mirror's host name is not resolved (validation)" "$(lbctl sites)" \
    '^mirror\.foobar\.example\. +mirror +www\.mirror\.example '
check_not "... and it is never answered" "$(dig +norec +short +time=2 +tries=1 -p "$PORT" @127.0.0.42 lb42.mirror.foobar.example A)" \
    '127\.0\.0\.14'
check "the failure is logged" "$(cat "$LOG")" 'www\.mirror\.example'
finish

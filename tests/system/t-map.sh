#!/usr/bin/env bash
# The map protocol at the DNS-B (PROTOCOL.md, DESIGN §4), with certificates
# made here by openssl and a raw protocol peer (mapraw.py, written from the
# specification): registration changes the referral, a rogue identity cannot
# take a resolver over, peers without a trusted certificate are refused,
# malformed frames get ERROR and close while others keep being served,
# kill -9 and restart keep the mappings, registrations expire.
#
#   127.0.0.1   dnsb: DNS on PORT, map on MPORT, dnsb-control on CPORT; dig asks from here
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/certs.sh"

for t in dig python3 openssl; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
ports=()
while [ ${#ports[@]} -lt 3 ]; do
    p=$(free_port) || { echo "no free port"; exit 1; }
    case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
PORT=${ports[0]} MPORT=${ports[1]} CPORT=${ports[2]}

C=$TMP/certs
mkdir -p "$C"
make_ca "$C" ca && make_ca "$C" otherca && make_cert "$C" ca b1 127.0.0.1 && make_cert "$C" ca lb42 &&
    make_cert "$C" ca rogue && make_cert "$C" ca lb44 && make_cert "$C" ca lb45 && make_cert "$C" ca ops1 && make_cert "$C" otherca lb43 || { echo "openssl cannot make certificates"; exit 77; }

cat >"$TMP/dnsb.conf" <<EOF
server:
    listen: 127.0.0.1@$PORT
    workers: 1
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    whoami: whoami.glb.example.net.
    database: $TMP/db
    control: 127.0.0.1@$CPORT
    control-allow: b1
    control-allow: ops1
    verbosity: 4
map:
    listen: 127.0.0.1@$MPORT
    tls-cert-file: $C/b1.pem
    tls-key-file: $C/b1.key
    tls-ca-file: $C/ca.pem
    allow: lb42 127.0.0.0/8 ::1/128
    allow: rogue 10.0.0.0/8
    allow: lb43 127.0.0.0/8
    allow: lb44 127.0.0.0/8
    allow: lb45 127.0.0.0/8
    lifetime: 10
    max-claims: 2
    max-connections: 8
    handshake-timeout: 2
    idle-timeout: 5
service:
    name: www.foobar.example.
    mode: referral
    ttl-referral: 60
    site: paris 192.0.2.10 weight=2
    site: tokyo 192.0.2.20 weight=1
lb:
    id: lb45
    address: 127.0.0.45
    resolver: 127.0.0.7/32
EOF

raw() { timeout 20 python3 "$SRCDIR/tests/system/mapraw.py" --server "127.0.0.1@$MPORT" --ca "$C/ca.pem" --timeout 5 "$@"; }
as() { local id=$1; shift; raw --cert "$C/$id.pem" --key "$C/$id.key" --id "$id" "$@"; }
ask() { dig +norec +time=2 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A; }
ctl() { "$BUILDDIR/dnsb/dnsb-control" -c "$TMP/dnsb.conf" -t 5 "$@"; }
seq_ms() { now_ms; }

check "dnsb -t reads the certificates" "$("$DNSB" -t -c "$TMP/dnsb.conf" 2>&1)" ": ok \(1 services, 1 lbs\)$"
sed "s|tls-key-file: $C/b1.key|tls-key-file: $C/lb42.key|" "$TMP/dnsb.conf" >"$TMP/badkey.conf"
check "dnsb -t finds a key that does not fit the certificate" "$("$DNSB" -t -c "$TMP/badkey.conf" 2>&1)" \
    "badkey.conf: map: cannot load key '$C/lb42.key': .*key values mismatch"
cat >"$TMP/lbcn.conf" <<EOF
server:
    listen: 127.0.0.42@$PORT
    id: lb42
dnsb:
    map-server: 127.0.0.1@$MPORT
    tls-cert-file: $C/rogue.pem
    tls-key-file: $C/rogue.key
    tls-ca-file: $C/ca.pem
service:
    name: www.foobar.example.
    site: paris 192.0.2.10
EOF
check "dnslb -t refuses a certificate whose CN is not its id" "$("$BUILDDIR/dnslb/dnslb" -t -c "$TMP/lbcn.conf" 2>&1)" \
    "certificate CN 'rogue' is not this box's id 'lb42'"
sed -i 's/id: lb42/id: rogue/' "$TMP/lbcn.conf"
check "dnslb -t takes it under the CN's id" "$("$BUILDDIR/dnslb/dnslb" -t -c "$TMP/lbcn.conf" 2>&1)" "lbcn.conf: ok "
start_dnsb "$TMP/dnsb.conf"
wait_dns 127.0.0.1 "$PORT" glb.example.net. || exit 1

check "before any registration: fail-open, every site" "$(ask)" "IN	A	192.0.2.20"

# --- a DNS-LB registers; claims outside its allow line are rejected --------
out=$(as lb42 --seq "$(seq_ms)" --dns 127.0.0.42 --claim 127.0.0.1/32 --claim 10.1.0.0/16 --claim 127.0.0.1/32)
check "server HELLO names the DNS-B and its whoami zone" "$out" "^hello id=b1 whoami=whoami.glb.example.net."
check "allowed claim accepted, lifetime capped at 10 s" "$out" "^ack seq=[0-9]+ lifetime=10 accepted=127.0.0.1/32 "
check "claim outside allow rejected, duplicate rejected" "$out" "rejected=not-allowed:10.1.0.0/16,duplicate:127.0.0.1/32"
check "SERVICES full follows the first REGISTER_ACK" "$out" "^services serial=[0-9]+ kind=full services=www.foobar.example.$"
a=$(ask)
check "the resolver is referred to lb42" "$a" "CNAME	lb42.www.foobar.example."
check "with lb42's glue" "$a" "ns.lb42.www.foobar.example.[[:space:]]+60[[:space:]]+IN[[:space:]]+A[[:space:]]+127.0.0.42"

# --- a rogue identity with a valid certificate claims lb42's resolver ------
out=$(as rogue --seq "$(seq_ms)" --dns 127.0.0.66 --claim 127.0.0.1/32)
check "rogue's claim rejected" "$out" "accepted=- rejected=not-allowed:127.0.0.1/32"
a=$(ask)
check "answer unchanged after the rogue" "$a" "CNAME	lb42.www.foobar.example."
check_not "rogue never in the delegation" "$a" "rogue|127.0.0.66"
check "rejection logged" "$(cat "$TMP/dnsb.log")" "map: rogue: 1 claim\(s\) rejected, first 127.0.0.1/32 \(not-allowed\)"
# Warnings at most once a minute per identity (dnsb.conf(5)): three more
# rejected REGISTERs from rogue add no warning; lb42's own came apart.
for i in 1 2 3; do as rogue --seq "$(seq_ms)" --dns 127.0.0.66 --claim 127.0.0.1/32 >/dev/null; done
check "the three were rejected too (counted)" "$(ctl stats)" "^map.claims_rejected=([5-9]|[1-9][0-9]+)$"
check_eq "rejection warnings: one a minute for rogue" "$(grep -c 'warning: map: rogue: .* rejected' "$TMP/dnsb.log")" 1
check_eq "... and lb42 had its own" "$(grep -c 'warning: map: lb42: .* rejected' "$TMP/dnsb.log")" 1

# --- a claim wider than the identity's allow prefix --------------------------
# rogue may claim within 10.0.0.0/8: 10.0.0.0/7 starts inside it but is wider.
out=$(as rogue --seq "$(seq_ms)" --dns 10.0.0.66 --claim 10.0.0.0/7)
check "a claim wider than the allow prefix (10.0.0.0/7 over 10.0.0.0/8) rejected" "$out" \
    "accepted=- rejected=not-allowed:10.0.0.0/7"
check_not "... and not mapped" "$(ctl lookup 11.1.2.3; ctl lookup 10.1.2.3)" "^lb: rogue"

# --- an identity with a static lb: section may not register -----------------
# lb45 has a certificate of the CA and an allow line, but its registration
# is the configuration's: refused at HELLO (unauthorized).
out=$(as lb45 --seq "$(seq_ms)" --dns 127.0.0.46 --claim 127.0.0.8/32 2>&1)
check "a static lb's id is refused at HELLO" "$out" "^error code=3 text=identity 'lb45' .*is not allowed"
check_not "... before any REGISTER_ACK" "$out" "^(hello|ack) "
check "... counted as unauthorized" "$(ctl stats)" "^map.unauthorized=1$"
check "lb45 stays static, with its configured address" "$(ctl list-lbs)" "^lb45 +static +127.0.0.45 "
check_not "its claim is not mapped" "$(ctl lookup 127.0.0.8)" "^lb: "
check "its configured resolver still is" "$(ctl lookup 127.0.0.7)" "^lb: lb45 static"

# --- a stale sequence changes nothing ---------------------------------------
out=$(as lb42 --seq 5 --dns 127.0.0.99 --claim 127.0.0.1/32)
check "older sequence refused as stale" "$out" "lifetime=0 accepted=- rejected=stale:127.0.0.1/32"
check "glue unchanged by the stale REGISTER" "$(ask)" "IN	A	127.0.0.42"

# --- no certificate, or one from another CA: refused in the handshake -------
# Each tries a registration that would be accepted with a good certificate:
# lb44 (allowed, not registered yet) without any, lb43 (allowed) with one
# from another CA; neither identity, resolver nor glue may appear.
out=$(raw --id lb44 --seq "$(seq_ms)" --dns 127.0.0.45 --claim 127.0.0.5/32 2>&1)
check_not "no certificate: no REGISTER_ACK" "$out" "^ack "
out=$(as lb43 --seq "$(seq_ms)" --dns 127.0.0.43 --claim 127.0.0.6/32 2>&1)
check_not "another CA's certificate: no REGISTER_ACK" "$out" "^ack "
st=$(ctl stats)
check "both handshakes refused and counted" "$st" "^map.handshake_failures=2$"
lbs=$(ctl list-lbs)
check_not "they never registered: no lb44 (the identity without a certificate)" "$lbs" "^lb44 "
check_not "they never registered: no lb43" "$lbs" "^lb43 "
check "lb42 is still the only dynamic registration" "$(printf '%s\n' "$lbs" | grep -Ec '^lb[0-9]+ +dynamic ')" "^1$"
check "their resolvers stay unmapped" "$(ctl lookup 127.0.0.5; ctl lookup 127.0.0.6)" "fail-open|no lb|none"
check_not "... by any DNS-LB" "$(ctl lookup 127.0.0.5; ctl lookup 127.0.0.6)" "^lb: "

# --- malformed frames: ERROR, close, and the server keeps serving -----------
check "bad version: ERROR bad-version" "$(as lb42 --bad version)" "^error code=1 "
check "oversized frame: ERROR limit" "$(as lb42 --bad oversize)" "^error code=4 "
check "field past the end: ERROR malformed" "$(as lb42 --bad truncated)" "^error code=2 "
check "unknown type: ERROR unsupported" "$(as lb42 --bad type)" "^error code=6 "
check "bad REGISTER after HELLO: ERROR malformed" "$(as lb42 --bad garbage-after-hello)" "^error code=2 "
out=$(as lb42 --seq "$(seq_ms)" --dns 127.0.0.42 --claim 127.0.0.1/32 --lifetime 10)
check "still serving the map protocol" "$out" "accepted=127.0.0.1/32"
check "still serving DNS with the registration" "$(ask)" "CNAME	lb42.www.foobar.example."
check "malformed frames counted" "$(ctl stats)" "^map.malformed=[1-9]"

# --- dnsb-control explains the mapping -------------------------------------
# a DNS-LB's certificate (same CA) may not control the DNS-B
out=$("$BUILDDIR/dnsb/dnsb-control" -s "127.0.0.1@$CPORT" -C "$C/lb42.pem" -K "$C/lb42.key" -A "$C/ca.pem" -t 5 status 2>&1)
check_not "a DNS-LB's certificate cannot use dnsb-control" "$out" "^version:"
check "refusal logged" "$(cat "$TMP/dnsb.log")" "control: refused .*certificate CN 'lb42' may not control"
# control-allow lists b1 (dnsb-control's default certificate) and ops1: the
# second name may use dnsb-control too.
out=$("$BUILDDIR/dnsb/dnsb-control" -s "127.0.0.1@$CPORT" -C "$C/ops1.pem" -K "$C/ops1.key" -A "$C/ca.pem" -t 5 status 2>&1)
check "control-allow: the second listed name (ops1) may use dnsb-control" "$out" "^version:"
check_not "... and is not refused" "$(cat "$TMP/dnsb.log")" "control: refused .*certificate CN 'ops1'"
check "control-allow: the first listed name (b1) may too" "$(ctl status 2>&1)" "^version:"
check "lookup names the LB and the prefix" "$(ctl lookup 127.0.0.1)" "lb: lb42 dynamic"
check "list-lbs shows a dynamic registration" "$(ctl list-lbs)" "^lb42 +dynamic +127.0.0.42 +1 "

# --- limits: claims per identity, connections, handshake and idle timeouts ---
out=$(as lb44 --seq "$(seq_ms)" --dns 127.0.0.44 --claim 127.0.0.2/32 --claim 127.0.0.3/32 --claim 127.0.0.4/32)
check "max-claims 2: the third claim rejected too-many" "$out" "accepted=127.0.0.2/32,127.0.0.3/32 rejected=too-many:127.0.0.4/32"
# 10 TCP connections that never start TLS: 8 are held until the handshake
# timeout (2 s), the others refused at once; then the server serves again.
held=$(timeout 10 python3 - "$MPORT" <<'PY'
import socket, sys, time
socks, t0 = [], time.time()
for _ in range(10):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    socks.append(s)
closed = {}
while len(closed) < len(socks) and time.time() - t0 < 8:
    for i, s in enumerate(socks):
        if i in closed:
            continue
        s.settimeout(0.05)
        try:
            if s.recv(1) == b"":
                closed[i] = time.time() - t0
        except socket.timeout:
            pass
        except OSError:
            closed[i] = time.time() - t0
print(" ".join("%.1f" % closed.get(i, -1) for i in range(len(socks))))
PY
)
n_fast=$(printf '%s\n' $held | awk '$1 >= 0 && $1 < 1' | wc -l)
n_timed=$(printf '%s\n' $held | awk '$1 >= 1.5 && $1 < 4' | wc -l)
# Full of silent handshakes: the oldest give way to the newest (evicted).
check "max-connections 8: connections over the limit closed at once" "$n_fast" "^[2-9]$"
check "handshake-timeout 2 s: silent connections closed after it" "$n_timed" "^[1-8]$"
st=$(ctl stats)
check "connection limit counted" "$st" "^map.limit_evicted=[1-9]"
check "handshake timeouts counted" "$st" "^map.limit_handshake=[1-9]"
check "claim limit counted" "$st" "^map.limit_claims=1$"
# idle-timeout 5 s: a session that says HELLO and then nothing gets BYE idle,
# after 5 s of silence, not before (and within a tick, 250 ms, + slack)
t0=$(now_ms)
out=$(timeout 15 python3 "$SRCDIR/tests/system/mapraw.py" --server "127.0.0.1@$MPORT" --ca "$C/ca.pem" \
    --cert "$C/lb44.pem" --key "$C/lb44.key" --id lb44 --bad silent --timeout 12)
idle=$(( $(now_ms) - t0 ))
check "idle-timeout: a silent session gets BYE idle" "$out" "^bye reason=3$"
if [ "$idle" -ge 5000 ] && [ "$idle" -le 8000 ]; then
    ok "idle-timeout: BYE after 5 s of silence (${idle} ms)"
else
    not_ok "idle-timeout 5 s: the silent session ended after ${idle} ms (want 5000..8000)"
fi
check "idle timeouts counted" "$(ctl stats)" "^map.limit_idle=1$"

# --- kill -9, restart: same mappings at once from the database ---------------
c0=$(ctl stats | stat_of store.commits)
treg=$(now_ms)
sreg=$(seq_ms)
out=$(as lb42 --seq "$sreg" --dns 127.0.0.42 --claim 127.0.0.1/32 --lifetime 10)
check "fresh registration before the kill" "$out" "accepted=127.0.0.1/32"
# The sequence of the last accepted REGISTER, once more: stale (PROTOCOL.md:
# a REGISTER must carry a sequence greater than the last accepted one).
out=$(as lb42 --seq "$sreg" --dns 127.0.0.99 --claim 127.0.0.1/32 --lifetime 10)
check "the last accepted sequence, again: stale" "$out" "lifetime=0 accepted=- rejected=stale:127.0.0.1/32"
# The store commits at most DNSB_STORE_COMMIT_MS (100 ms) after a change:
# wait until this one is on disk, not a fixed time.
committed() {
    local st
    st=$(ctl stats)
    [ "$(printf '%s\n' "$st" | stat_of store.pending)" = 0 ] &&
        [ "$(printf '%s\n' "$st" | stat_of store.commits)" -gt "${c0:-0}" ]
}
if wait_until 5 committed; then
    ok "the store committed the registration (store.commits ${c0} -> $(ctl stats | stat_of store.commits), ${WAITED}s)"
else
    not_ok "the registration was not committed within 5 s: $(ctl stats | grep '^store\.' | tr '\n' ' ')"
fi
kill -9 "$DNSB_PID"
wait "$DNSB_PID" 2>/dev/null
t0=$(now_ms)
start_dnsb "$TMP/dnsb.conf"
wait_until 5 sh -c "dig +norec +time=1 +tries=1 -p $PORT @127.0.0.1 www.foobar.example A | grep -q 'CNAME	lb42'"
rc=$?
t1=$(now_ms)
if [ $rc -eq 0 ]; then ok "after kill -9 the restarted DNS-B refers to lb42 ($((t1 - t0)) ms)"; else not_ok "after kill -9 lb42 is lost"; fi
check "loaded from the database" "$(cat "$TMP/dnsb.log")" "map: [1-9][0-9]* registrations loaded from the database"
out=$(as lb42 --seq "$sreg" --dns 127.0.0.99 --claim 127.0.0.1/32 --lifetime 10)
check "after the restart the last accepted sequence is still stale" "$out" \
    "lifetime=0 accepted=- rejected=stale:127.0.0.1/32"
check "glue unchanged by it" "$(ask)" "IN	A	127.0.0.42"

# --- expiry: without refresh, lb42 goes after its lifetime -------------------
# Its whole lifetime (10 s from the REGISTER, which was sent at treg), not
# less; and not much more (the sweep runs every second; 4 s of slack).
if wait_until 15 sh -c "dig +norec +time=1 +tries=1 -p $PORT @127.0.0.1 www.foobar.example A | grep -q 'IN	A	192.0.2.20'"; then
    life=$(( $(now_ms) - treg ))
    ok "registration expired (${WAITED}s after restart): fail-open again"
    if [ "$life" -ge 10000 ] && [ "$life" -le 14000 ]; then
        ok "it lived its lifetime of 10 s: gone ${life} ms after the REGISTER"
    else
        not_ok "registration with lifetime 10 s gone ${life} ms after the REGISTER (want 10000..14000)"
    fi
else
    not_ok "registration did not expire"
fi
check "expiry logged" "$(cat "$TMP/dnsb.log")" "registration of lb42 expired"

finish

#!/usr/bin/env bash
# Wall-clock jumps (an operator's `date -s`, a bad NTP step): a DNS-B's
# registrations are soft state whose lifetime is counted on the monotonic
# clock, so moving the wall clock by an hour neither expires them (+1 h) nor
# keeps them beyond their lifetime (-1 h); a DNS-LB's health states neither
# flip nor stop being checked. The machine's clock is left
# alone: dnsb runs under libfaketime (LD_PRELOAD, Debian's faketime), which
# moves only what CLOCK_REALTIME returns (FAKETIME_DONT_FAKE_MONOTONIC), by
# an offset read from a file at every call. (Registrations used to expire
# on the wall clock: +1 h dropped every DNS-LB at once, -1 h kept a silent
# one for an hour more.)
#
#   127.0.0.1   dnsb: DNS on PORT, map on MPORT, dnsb-control on CPORT
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/certs.sh"

need dig python3 openssl
FT=
for f in /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; do
    [ -f "$f" ] && FT=$f && break
done
[ -n "$FT" ] || { echo "libfaketime not installed (Debian package faketime)"; exit 77; }
free_ports 6
PORT=${PORTS[0]} MPORT=${PORTS[1]} CPORT=${PORTS[2]} LPORT=${PORTS[3]} LCPORT=${PORTS[4]} HPORT=${PORTS[5]}
LBCTL_ADDR=127.0.0.1@$LCPORT

C=$TMP/certs
mkdir -p "$C"
make_ca "$C" ca && make_cert "$C" ca b1 127.0.0.1 && make_cert "$C" ca lb42 ||
    { echo "openssl cannot make certificates"; exit 77; }
LIFE=10
map_dnsb_conf "$TMP/db" "    allow: lb42 127.0.0.0/8
    lifetime: $LIFE" "    site: paris 192.0.2.10 weight=2
    site: tokyo 192.0.2.20 weight=1"

register() {
    timeout 20 python3 "$SRCDIR/tests/system/mapraw.py" --server "127.0.0.1@$MPORT" --ca "$C/ca.pem" --timeout 5 \
        --cert "$C/lb42.pem" --key "$C/lb42.key" --id lb42 --seq "$(now_ms)" --dns 127.0.0.42 \
        --claim 127.0.0.1/32 --lifetime "$LIFE"
}
ask() { dig +norec +time=2 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A; }
ctl() { "$BUILDDIR/dnsb/dnsb-control" -c "$TMP/dnsb.conf" -t 5 "$@"; }
uptime_s() { ctl status | sed -n 's/^uptime: \([0-9]*\) s$/\1/p'; }
jump() { echo "$1" >"$TMP/offset"; } # read by libfaketime at every clock call

echo "+0" >"$TMP/offset"
# faked CMD...: CMD with its wall clock moved by the offset in $TMP/offset.
# ASan wants to be first in the link order; libfaketime only wraps libc's
# clock calls, which is what we want to move.
faked() {
    LD_PRELOAD=$FT FAKETIME_TIMESTAMP_FILE=$TMP/offset FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$@"
}
faked "$DNSB" -d -c "$TMP/dnsb.conf" >>"$TMP/dnsb.log" 2>&1 &
DNSB_PID=$!
PIDS+=("$DNSB_PID")
wait_dns 127.0.0.1 "$PORT" glb.example.net. || exit 1

# --- +1 h: a fresh registration survives the jump ---------------------------
check "lb42 registers (lifetime $LIFE s)" "$(register)" "^ack seq=[0-9]+ lifetime=$LIFE accepted=127.0.0.1/32 "
treg=$(now_ms)
check "the resolver is referred to lb42" "$(ask)" "CNAME	lb42.www.foobar.example."
jump "+1h"
# dnsb-control's uptime is wall-clock now - start: proof the jump reached dnsb.
up=$(uptime_s)
if [ "${up:-0}" -ge 3590 ]; then ok "dnsb sees the wall clock 1 h ahead (uptime ${up} s)"; else
    not_ok "libfaketime did not move dnsb's wall clock (uptime '${up}' s)"; fi
sleep 2 # two expiry sweeps (one a second) after the jump, still in the lifetime
check "1 h ahead: lb42 is still referred to" "$(ask)" "CNAME	lb42.www.foobar.example."
check_not "1 h ahead: no expiry logged" "$(cat "$TMP/dnsb.log")" "registration of lb42 expired"
check "dnsb-control list-lbs shows it expiring within its lifetime" "$(ctl list-lbs)" "^lb42 .* ([1-9]|10)s$"

# --- -1 h: a registration still goes when its lifetime is up ----------------
# A new one, made with the clock right again (the certificates were made
# just now, and 1 h back they are not valid yet).
jump "+0"
check "lb42 registers again" "$(register)" "^ack seq=[0-9]+ lifetime=$LIFE accepted=127.0.0.1/32 "
treg=$(now_ms)
jump "-1h"
if wait_until $((LIFE + 6)) sh -c "dig +norec +time=1 +tries=1 -p $PORT @127.0.0.1 www.foobar.example A | grep -q 'IN	A	192.0.2.20'"; then
    life=$(( $(now_ms) - treg ))
    if [ "$life" -ge $(( (LIFE - 1) * 1000 )) ] && [ "$life" -le $(( (LIFE + 4) * 1000 )) ]; then
        ok "1 h back: lb42 expired after its lifetime of $LIFE s (${life} ms), fail-open again"
    else
        not_ok "1 h back: lb42 gone ${life} ms after the REGISTER (want its lifetime, $LIFE s)"
    fi
else
    not_ok "1 h back: lb42 outlived its lifetime of $LIFE s by more than 6 s"
fi
check "the expiry logged" "$(cat "$TMP/dnsb.log")" "registration of lb42 expired"

# --- and the DNS-B kept answering throughout ---------------------------------
jump "+0"
check "still answering" "$(ask)" "status: NOERROR"
kill -0 "$DNSB_PID" 2>/dev/null && ok "dnsb still running" || not_ok "dnsb died"

# --- dnslb's health state: neither flips nor stalls --------------------------
# A site that answers its check (the fixture web server) is alive, one
# where nothing listens is dead; after each jump both stay so, and the
# checks go on every two seconds (timers on the monotonic clock: a check
# scheduled by the wall clock would stall for an hour after -1 h).
start_fixture --listen "127.0.0.14:$HPORT" --control 127.0.0.1:0 || exit 1
cat >"$TMP/dnslb.conf" <<CONF
server:
    listen: 127.0.0.1@$LPORT
    id: lb42
    workers: 1
    # plain control: certificates made now are not yet valid an hour earlier
    control-use-cert: no
    control: 127.0.0.1@$LCPORT
probe:
    http-interval: 2
    timeout: 1
    dead-after: 2
    alive-after: 1
    icmp-interval: 3600
service:
    name: www.foobar.example.
    site: up 127.0.0.14 check=http://127.0.0.14:$HPORT/probe
    site: down 127.0.0.15 check=http://127.0.0.15:$HPORT/probe
CONF
faked "$DNSLB" -d -c "$TMP/dnslb.conf" >>"$TMP/dnslb.log" 2>&1 &
DNSLB_PID=$!
PIDS+=("$DNSLB_PID")
LBCTL_CONF=$TMP/dnslb.conf # lbctl: its control certificates
states() { SITES=$(lbctl sites); echo "$(site_field www.foobar.example. up 4) $(site_field www.foobar.example. down 4)"; }
settled() { [ "$(states)" = "alive dead" ]; }
wait_until 15 settled && ok "dnslb: up is alive, down is dead (${WAITED}s)" ||
    { not_ok "dnslb: the sites did not settle: $(states)"; finish; exit; }
for j in "+1h" "-1h"; do
    n0=$(fx_count "127.0.0.14:$HPORT")
    l0=$(wc -l <"$TMP/dnslb.log")
    jump "$j"
    sleep 6
    n=$(( $(fx_count "127.0.0.14:$HPORT") - n0 ))
    up=$(lbctl status | sed -n 's/^uptime: \(-\{0,1\}[0-9]*\) s$/\1/p')
    case $j in
        +*) [ "${up:-0}" -ge 3590 ] ;;
        -*) [ "${up:-0}" -le -3500 ] ;;
    esac && ok "dnslb, $j: it sees the jump (uptime ${up} s)" || not_ok "dnslb, $j: the jump did not reach it (uptime '${up}' s)"
    check_eq "dnslb, $j: the states did not change" "$(states)" "alive dead"
    check_not "dnslb, $j: no state change logged" "$(tail -n +"$((l0 + 1))" "$TMP/dnslb.log")" " -> (alive|dead)"
    [ "$n" -ge 2 ] && ok "dnslb, $j: the checks went on ($n in 6 s)" || not_ok "dnslb, $j: only $n checks in 6 s"
done
jump "+0"
finish

#!/usr/bin/env bash
# Wall-clock jumps (an operator's `date -s`, a bad NTP step): a DNS-B's
# registrations are soft state whose lifetime is counted on the monotonic
# clock, so moving the wall clock by an hour neither expires them (+1 h) nor
# keeps them beyond their lifetime (-1 h). The machine's clock is left
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
free_ports 3
PORT=${PORTS[0]} MPORT=${PORTS[1]} CPORT=${PORTS[2]}

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
# ASan wants to be first in the link order; libfaketime only wraps libc's
# clock calls, which is what we want to move.
LD_PRELOAD=$FT FAKETIME_TIMESTAMP_FILE=$TMP/offset FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
    "$DNSB" -d -c "$TMP/dnsb.conf" >>"$TMP/dnsb.log" 2>&1 &
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
finish

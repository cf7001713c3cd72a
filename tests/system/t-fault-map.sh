#!/usr/bin/env bash
# Issue 17, fault injection: a map-protocol peer that vanishes in the middle
# of a frame (after HELLO, half of a REGISTER, then the TCP connection is
# closed without TLS close_notify, or reset, or left silent). dnsb drops the
# session (the silent one at idle-timeout), applies nothing of the half
# frame (lb42's registration stays as it was, with its old address), keeps
# answering, takes a whole REGISTER at once afterwards, and 80 such peers
# in a row leave no descriptor or memory behind. (t-map-halfopen.sh covers
# peers that stop inside the TLS handshake, t-map.sh malformed whole frames.)
#
#   127.0.0.1   dnsb: DNS on PORT, map on MPORT, control on CPORT
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/certs.sh"

need dig python3 openssl
free_ports 3
PORT=${PORTS[0]} MPORT=${PORTS[1]} CPORT=${PORTS[2]}
C=$TMP/certs
mkdir -p "$C"
make_ca "$C" ca && make_cert "$C" ca b1 127.0.0.1 && make_cert "$C" ca lb42 ||
    { echo "openssl cannot make certificates"; exit 77; }
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" # RSS without ASan's quarantine
map_dnsb_conf "$TMP/db" "    allow: lb42 127.0.0.0/8
    idle-timeout: 5"
# as KIND DNS: lb42 registers (KIND "" a whole REGISTER, else mapraw's --bad KIND) with that DNS address.
as() {
    timeout 30 python3 "$SRCDIR/tests/system/mapraw.py" --server "127.0.0.1@$MPORT" --ca "$C/ca.pem" --timeout 15 \
        --cert "$C/lb42.pem" --key "$C/lb42.key" --id lb42 --seq "$(now_ms)" --dns "$2" --claim 127.0.0.1/32 \
        ${1:+--bad "$1"}
}
ctl() { "$BUILDDIR/dnsb/dnsb-control" -c "$TMP/dnsb.conf" -t 5 "$@"; }
glue() { dig +norec +time=2 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A | awk '$1 == "ns.lb42.www.foobar.example." { print $5 }'; }
sessions() { ctl list-lbs | grep -c '^session '; }

start_dnsb "$TMP/dnsb.conf"
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
check "lb42 registers with 127.0.0.42" "$(as "" 127.0.0.42)" "^ack .* accepted=127.0.0.1/32 "
check_eq "the glue is 127.0.0.42" "$(glue)" 127.0.0.42

for kind in half-close half-reset; do
    out=$(as "$kind" 127.0.0.99)
    check "$kind: HELLO answered before the half frame" "$out" "^hello id=b1 "
    wait_until 5 sh -c "[ \$('$BUILDDIR/dnsb/dnsb-control' -c '$TMP/dnsb.conf' -t 5 list-lbs | grep -c '^session ') = 0 ]" &&
        ok "$kind: the session is gone (${WAITED}s)" || not_ok "$kind: the session outlived its peer"
    check_eq "$kind: nothing of the half REGISTER applied (glue unchanged)" "$(glue)" 127.0.0.42
done
t0=$(now_ms)
out=$(as half-silent 127.0.0.99)
t=$(( $(now_ms) - t0 ))
check "half-silent: dnsb closed the session" "$out" "^(bye reason=[0-9]+|closed)$"
if [ "$t" -ge 4000 ] && [ "$t" -le 12000 ]; then ok "half-silent: closed after the idle-timeout of 5 s (${t} ms)"; else
    not_ok "half-silent: closed after ${t} ms (idle-timeout 5 s)"; fi
check_eq "half-silent: nothing of the half REGISTER applied" "$(glue)" 127.0.0.42
check "a whole REGISTER afterwards is taken at once" "$(as "" 127.0.0.43)" "^ack .* accepted=127.0.0.1/32 "
check_eq "the glue follows it" "$(glue)" 127.0.0.43

# 80 in a row (half closed, half reset), four at a time: nothing left behind.
fd0=$(fd_count "$DNSB_PID") rss0=$(rss_kb "$DNSB_PID")
python3 - "$SRCDIR/tests/system/mapraw.py" "$MPORT" "$C" <<'PY'
import subprocess, sys
from concurrent.futures import ThreadPoolExecutor
raw, port, c = sys.argv[1], sys.argv[2], sys.argv[3]
def one(i):
    kind = "half-close" if i % 2 else "half-reset"
    subprocess.run(["python3", raw, "--server", "127.0.0.1@" + port, "--ca", c + "/ca.pem", "--timeout", "10",
                    "--cert", c + "/lb42.pem", "--key", c + "/lb42.key", "--id", "lb42", "--seq", str(i + 1),
                    "--dns", "127.0.0.99", "--claim", "127.0.0.1/32", "--bad", kind],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
with ThreadPoolExecutor(4) as ex:
    list(ex.map(one, range(80)))
PY
wait_until 5 sh -c "[ \$('$BUILDDIR/dnsb/dnsb-control' -c '$TMP/dnsb.conf' -t 5 list-lbs | grep -c '^session ') = 0 ]" ||
    not_ok "sessions left after the 80: $(sessions)"
fd1=$(fd_count "$DNSB_PID") rss1=$(rss_kb "$DNSB_PID")
echo "# after 80 vanished peers: fds $fd0 -> $fd1, RSS $rss0 -> $rss1 kB; map stats: $(ctl stats | grep -E '^map\.(connections|sessions|established)=' | tr '\n' ' ')"
[ "$fd1" -le $((fd0 + 1)) ] && ok "no descriptor left behind ($fd0 -> $fd1)" || not_ok "descriptors $fd0 -> $fd1"
[ $((rss1 - rss0)) -lt 16384 ] && ok "memory bounded (RSS +$(( (rss1 - rss0) / 1024 )) MiB)" ||
    not_ok "RSS grew $(( (rss1 - rss0) / 1024 )) MiB"
check_eq "lb42's registration still as it was" "$(glue)" 127.0.0.43
check "dnsb answers" "$(dig +norec +time=2 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A)" "status: NOERROR"
stop_pid "$DNSB_PID"
check_not "no leak or sanitizer report at exit" "$(cat "$TMP/dnsb.log")" "LeakSanitizer|AddressSanitizer|runtime error"
finish

#!/usr/bin/env bash
# dnslb with a dnsb: section: a SIGHUP whose ca-file (the https checks')
# cannot be loaded is refused as a whole. The map client used to take the
# new file first (here: a map-server dropped) before the ca-file refused
# the rest; a service added in the same file must not be answered either.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/certs.sh"
for t in dig openssl; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
[ -x "$DNSLB" ] && [ -x "$DNSLB_CONTROL" ] || { echo "dnslb not built in $BUILDDIR"; exit 77; }

ports=()
while [ ${#ports[@]} -lt 4 ]; do
    p=$(free_port) || { echo "no free port"; exit 1; }
    case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
PORT=${ports[0]} CPORT=${ports[1]} M1=${ports[2]} M2=${ports[3]}
LBCTL_ADDR=127.0.0.42@$CPORT
C=$TMP/certs
mkdir -p "$C"
make_ca "$C" ca && make_cert "$C" ca lb1 || { echo "openssl cannot make certificates"; exit 77; }
head -c 600 /dev/urandom | base64 >"$C/garbled.pem"

write_conf() { # write_conf CA_FILE all|one [extra service lines]
    cat >"$TMP/dnslb.conf" <<CONF
server:
    listen: 127.0.0.42@$PORT
    id: lb1
    control: 127.0.0.42@$CPORT
probe:
    ca-file: $1
dnsb:
    map-server: 127.0.0.1@$M1
    tls-cert-file: $C/lb1.pem
    tls-key-file: $C/lb1.key
    tls-ca-file: $C/ca.pem
    services-file: $TMP/services
service:
    name: www.foobar.example.
    site: paris 127.0.0.11
CONF
    # the second DNS-B (nothing listens there: its session just retries)
    [ "$2" = all ] && sed -i "s|^    map-server: 127.0.0.1@$M1|&\n    map-server: 127.0.0.1@$M2|" "$TMP/dnslb.conf"
    [ -z "${3:-}" ] || printf '%s\n' "$3" >>"$TMP/dnslb.conf"
}
ask() { dig +short +norec +time=1 +tries=1 -p "$PORT" @127.0.0.42 "x.$1.foobar.example" A 2>&1; }
LOG=$TMP/dnslb.log
reloads_done() { grep -cE 'reloaded |reload refused' "$LOG"; }
wait_reload() { wait_until 10 sh -c "[ \$(grep -cE 'reloaded |reload refused' '$LOG') -gt $1 ]"; }
newsvc=$(printf 'service:\n    name: shop.foobar.example.\n    site: rome 127.0.0.13')

write_conf "$C/ca.pem" all
start_dnslb "$TMP/dnslb.conf" "$LOG" || exit 1
wait_until 5 sh -c "[ -n \"\$(dig +short +norec +time=1 +tries=1 -p $PORT @127.0.0.42 x.www.foobar.example A)\" ]" ||
    not_ok "dnslb answers"
check_eq "the first configuration is served" "$(ask www)" "127.0.0.11"

write_conf "$C/garbled.pem" one "$newsvc"
n=$(reloads_done)
kill -HUP "$DNSLB_PID"
wait_reload "$n" || not_ok "SIGHUP with a garbled ca-file: never processed"
check "SIGHUP with a garbled ca-file: refused, naming the key" "$(grep -E 'reloaded |reload refused' "$LOG" | tail -n 1)" \
    "reload refused, still serving the previous configuration: .*dnslb.conf: key 'ca-file': cannot load '$C/garbled.pem'"
check_not "SIGHUP with a garbled ca-file: the map client kept its servers" "$(cat "$LOG")" \
    "map-server 127.0.0.1@$M2: no longer configured"
check_eq "SIGHUP with a garbled ca-file: the old service answers" "$(ask www)" "127.0.0.11"
check_not "SIGHUP with a garbled ca-file: the new service is not applied" "$(ask shop)" "127.0.0.13"

write_conf "$C/ca.pem" one "$newsvc"
n=$(reloads_done)
kill -HUP "$DNSLB_PID"
wait_reload "$n" || not_ok "SIGHUP with the ca-file back: never processed"
check "SIGHUP with the ca-file back: reloaded" "$(grep -E 'reloaded |reload refused' "$LOG" | tail -n 1)" "reloaded "
check "SIGHUP with the ca-file back: the map client dropped the second server" "$(cat "$LOG")" \
    "map-server 127.0.0.1@$M2: no longer configured"
wait_until 5 sh -c "dig +short +norec +time=1 +tries=1 -p $PORT @127.0.0.42 x.shop.foobar.example A | grep -q 127.0.0.13"
check_eq "SIGHUP with the ca-file back: the new service answers" "$(ask shop)" "127.0.0.13"
stop_pid "$DNSLB_PID"
finish

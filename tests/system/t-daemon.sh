#!/usr/bin/env bash
# The daemon's life: config errors stop it with FILE:LINE, -t checks, pid file,
# SIGHUP reloads (a bad config is refused and the old one keeps serving),
# SIGTERM exits cleanly.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
write_conf() { # write_conf SITE_ADDR
    cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    pidfile: $TMP/dnsb.pid
service:
    name: www.foobar.example.
    site: paris $1
CONF
}

# A config error: named by file, line and key; exit status non-zero; nothing served.
cat >"$TMP/bad.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
service:
    name: www.foobar.example.
    site: paris 192.0.2.10 weight=lots
CONF
out=$("$DNSB" -d -c "$TMP/bad.conf" 2>&1)
rc=$?
check "bad config: exit status" "$rc" '^[1-9]'
check "bad config: FILE:LINE: key" "$out" "bad.conf:7: key 'site': bad weight 'lots'"
out=$(dig +time=1 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1)
check "bad config: nothing serves" "$out" 'timed out|refused'

out=$("$DNSB" -t -c "$SRCDIR/conf/dnsb.conf.example" 2>&1)
check "-t accepts the example config" "$out" 'ok \(3 services, 2 lbs\)'
out=$("$DNSB" -h 2>&1)
check "--help lists the config keys" "$out" 'ttl-referral'
out=$("$DNSB" -v 2>&1)
check "-v prints the version" "$out" '^dnsb [0-9]'

write_conf 192.0.2.10
start_dnsb "$TMP/dnsb.conf"
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
check_eq "pid file holds the pid" "$(cat "$TMP/dnsb.pid" 2>/dev/null)" "$DNSB_PID"
short() { dig +short +time=1 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1; }
check_eq "serves the first config" "$(short)" "192.0.2.10"

write_conf 192.0.2.99
kill -HUP "$DNSB_PID"
for i in $(seq 1 30); do [ "$(short)" = 192.0.2.99 ] && break; sleep 0.1; done
check_eq "SIGHUP: new config served" "$(short)" "192.0.2.99"

# reloads_done: how many reloads the log shows processed, put in force or refused.
reloads_done() { grep -cE 'reloaded |reload refused' "${1:-$TMP/dnsb.log}"; }
# wait_reload N [LOG]: until the log shows more than N reloads processed.
wait_reload() { wait_until 10 sh -c "[ \$(grep -cE 'reloaded |reload refused' '${2:-$TMP/dnsb.log}') -gt $1 ]"; }

cp "$TMP/bad.conf" "$TMP/dnsb.conf"
n=$(reloads_done)
kill -HUP "$DNSB_PID"
wait_reload "$n" || not_ok "SIGHUP with a bad config: never processed"
check_eq "SIGHUP with a bad config: old one keeps serving" "$(short)" "192.0.2.99"
check "SIGHUP with a bad config: error logged with FILE:LINE" "$(cat "$TMP/dnsb.log")" "reload refused.*dnsb.conf:7: key 'site'"
kill -0 "$DNSB_PID" 2>/dev/null && ok "SIGHUP with a bad config: still running" || not_ok "SIGHUP with a bad config: dnsb exited"

# A NUL byte is an error at its line, not the end of the file (it cut the
# rest off: -t said ok and SIGHUP applied the part before it).
write_conf 192.0.2.98
printf '    site: tokyo 192.0.2.97\0 weight=lots\n' >>"$TMP/dnsb.conf"
out=$("$DNSB" -t -c "$TMP/dnsb.conf" 2>&1)
check "-t: a NUL byte is an error at FILE:LINE" "$out" "dnsb.conf:9: NUL byte at column 27"
n=$(reloads_done)
kill -HUP "$DNSB_PID"
wait_reload "$n" || not_ok "SIGHUP with a NUL byte: never processed"
check_eq "SIGHUP with a NUL byte: refused, old one keeps serving" "$(short)" "192.0.2.99"
check "SIGHUP with a NUL byte: logged" "$(tail -n 1 "$TMP/dnsb.log")" "reload refused.*dnsb.conf:9: NUL byte"

kill -TERM "$DNSB_PID"
for i in $(seq 1 50); do kill -0 "$DNSB_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$DNSB_PID" 2>/dev/null; then not_ok "SIGTERM: exited"; else
    wait "$DNSB_PID"; rc=$?
    check_eq "SIGTERM: exit status 0" "$rc" 0
fi
[ -e "$TMP/dnsb.pid" ] && not_ok "SIGTERM: pid file removed" || ok "SIGTERM: pid file removed"
check "SIGTERM: final stats logged" "$(cat "$TMP/dnsb.log")" 'stats: queries=[0-9]+'

# A reload whose certificate or key cannot be loaded is refused as a whole:
# the old services keep answering and a service added in the same file is
# not served (it used to be, with the old certificates and a warning).
. "$SRCDIR/tests/system/certs.sh"
C=$TMP/certs
mkdir -p "$C"
if make_ca "$C" ca && make_cert "$C" ca b1 127.0.0.1; then
    MPORT=$(free_port) CPORT=$(free_port)
    write_tls_conf() { # write_tls_conf KEY_FILE [extra service lines]
        cat >"$TMP/tls.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    control: 127.0.0.1@$CPORT
map:
    listen: 127.0.0.1@$MPORT
    tls-cert-file: $C/b1.pem
    tls-key-file: $1
    tls-ca-file: $C/ca.pem
service:
    name: www.foobar.example.
    site: paris 192.0.2.10
CONF
        [ -z "${2:-}" ] || printf '%s\n' "$2" >>"$TMP/tls.conf"
    }
    shop() { dig +short +time=1 +tries=1 -p "$PORT" @127.0.0.1 shop.foobar.example A 2>&1; }
    newsvc=$(printf 'service:\n    name: shop.foobar.example.\n    site: rome 192.0.2.30')
    LOG=$TMP/tls.log
    write_tls_conf "$C/b1.key"
    start_dnsb "$TMP/tls.conf" "$LOG"
    wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
    check_eq "with TLS: serves the first config" "$(short)" "192.0.2.10"
    head -c 300 /dev/urandom | base64 >"$C/garbled.key"
    for bad in garbled missing; do
        write_tls_conf "$C/$bad.key" "$newsvc"
        n=$(reloads_done "$LOG")
        kill -HUP "$DNSB_PID"
        wait_reload "$n" "$LOG" || not_ok "SIGHUP with a $bad key: never processed"
        check "SIGHUP with a $bad key: refused as a whole, naming the key" "$(tail -n 1 "$LOG")" \
            "reload refused, still serving the previous configuration: .*tls.conf: (control|map): cannot load key '$C/$bad.key'"
        check_eq "SIGHUP with a $bad key: the old service answers" "$(short)" "192.0.2.10"
        check_not "SIGHUP with a $bad key: the new service is not applied" "$(shop)" "192.0.2.30"
    done
    write_tls_conf "$C/b1.key" "$newsvc"
    n=$(reloads_done "$LOG")
    kill -HUP "$DNSB_PID"
    wait_reload "$n" "$LOG" || not_ok "SIGHUP with the key back: never processed"
    check "SIGHUP with the key back: reloaded" "$(tail -n 1 "$LOG")" "reloaded .*tls.conf: 2 services"
    check_eq "SIGHUP with the key back: the new service answers" "$(shop)" "192.0.2.30"
    stop_pid "$DNSB_PID"

    # control-cert-file, control-key-file, control-ca-file: a DNS-B without
    # a map: section gives its control channel certificates of its own.
    if make_cert "$C" ca ctl 127.0.0.1; then
        cat >"$TMP/ctl.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    control: 127.0.0.1@$CPORT
    control-cert-file: $C/ctl.pem
    control-key-file: $C/ctl.key
    control-ca-file: $C/ca.pem
service:
    name: www.foobar.example.
    site: paris 192.0.2.10
CONF
        start_dnsb "$TMP/ctl.conf" "$TMP/ctl.log"
        wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
        check "control-*-file: dnsb-control works with the control channel's own certificates" \
            "$("$BUILDDIR/dnsb/dnsb-control" -c "$TMP/ctl.conf" -t 5 status 2>&1)" "^version:"
        out=$("$BUILDDIR/dnsb/dnsb-control" -s "127.0.0.1@$CPORT" -C "$C/b1.pem" -K "$C/b1.key" -A "$C/ca.pem" -t 5 status 2>&1)
        check_not "control-*-file: another certificate of the CA (b1) is not the DNS-B's own, so refused" "$out" "^version:"
        stop_pid "$DNSB_PID"
        sed -i '/control-ca-file/d' "$TMP/ctl.conf"
        check "without a map: section, control needs all three files" "$("$DNSB" -t -c "$TMP/ctl.conf" 2>&1)" \
            "key 'control': needs control-cert-file, control-key-file and control-ca-file"
    else
        not_ok "openssl cannot make the control certificate"
    fi
else
    not_ok "openssl cannot make certificates"
fi

# The configuration as the issue wrote it: accepted as is, and served (on a
# free port and with the pid file in our directory, so as not to clash).
out=$("$DNSB" -t -c "$SRCDIR/tests/system/data/dnsb-issue.conf" 2>&1)
check "the issue's configuration is accepted as written" "$out" 'ok \(1 services, 1 lbs\)'
if [ "$(id -u)" = 0 ] && id dnsb >/dev/null 2>&1; then
    sed -e "s/127.0.0.1@5300/127.0.0.1@$PORT/" -e "s|/run/dnsb.pid|$TMP/issue.pid|" \
        "$SRCDIR/tests/system/data/dnsb-issue.conf" >"$TMP/issue.conf"
    chmod 755 "$TMP"
    start_dnsb "$TMP/issue.conf"
    wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
    out=$(dig +norec +time=1 +tries=1 -p "$PORT" @127.0.0.1 -b 127.0.0.1 www.foobar.example A 2>&1)
    check "the issue's configuration: referral to lb42" "$out" 'CNAME.lb42\.www\.foobar\.example\.'
    check "the issue's configuration: runs as dnsb" "$(grep '^Uid:' /proc/$DNSB_PID/status)" "^Uid:[[:space:]]+$(id -u dnsb)[[:space:]]"
    stop_pid "$DNSB_PID"
else
    echo "# not root or no user dnsb (scripts/setup makes it): not run as written"
fi

# Privilege drop: as root, with username set, the workers run as that user.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    write_conf 192.0.2.10
    sed -i 's/^server:$/server:\n    username: nobody/' "$TMP/dnsb.conf"
    start_dnsb "$TMP/dnsb.conf"
    wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
    check "username: runs as nobody" "$(grep '^Uid:' /proc/$DNSB_PID/status)" "^Uid:[[:space:]]+$(id -u nobody)[[:space:]]+$(id -u nobody)[[:space:]]+$(id -u nobody)"
    check_eq "username: still answers" "$(short)" "192.0.2.10"
    stop_pid "$DNSB_PID"
else
    echo "# not root: privilege drop not checked"
fi
finish

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

cp "$TMP/bad.conf" "$TMP/dnsb.conf"
kill -HUP "$DNSB_PID"
# Only once dnsb has read the bad file and refused it does "keeps serving"
# mean anything: wait for its log line, then ask.
if wait_for_log "$TMP/dnsb.log" "reload refused" 10; then
    ok "SIGHUP with a bad config: refused (logged)"
else
    not_ok "SIGHUP with a bad config: no 'reload refused' logged within 10 s"
fi
check_eq "SIGHUP with a bad config: old one keeps serving" "$(short)" "192.0.2.99"
check "SIGHUP with a bad config: error logged with FILE:LINE" "$(cat "$TMP/dnsb.log")" "reload refused.*dnsb.conf:7: key 'site'"
kill -0 "$DNSB_PID" 2>/dev/null && ok "SIGHUP with a bad config: still running" || not_ok "SIGHUP with a bad config: dnsb exited"

kill -TERM "$DNSB_PID"
for i in $(seq 1 50); do kill -0 "$DNSB_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$DNSB_PID" 2>/dev/null; then not_ok "SIGTERM: exited"; else
    wait "$DNSB_PID"; rc=$?
    check_eq "SIGTERM: exit status 0" "$rc" 0
fi
[ -e "$TMP/dnsb.pid" ] && not_ok "SIGTERM: pid file removed" || ok "SIGTERM: pid file removed"
check "SIGTERM: final stats logged" "$(cat "$TMP/dnsb.log")" 'stats: queries=[0-9]+'

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

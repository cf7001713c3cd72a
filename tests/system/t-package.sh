#!/usr/bin/env bash
# The Debian packages (debian/, scripts/package) as an operator gets them:
# installed with dpkg -i on this (throwaway, root) machine, their files, user
# and units checked, each unit's ExecStart run as systemd would run it (its
# User, capabilities and no-new-privs, through setpriv: systemd is not PID 1
# here) with a test configuration in /etc/glb on loopback, queried with dig,
# reloaded with the unit's ExecReload (SIGHUP), stopped with SIGTERM, and
# finally purged, leaving the machine as it was.
# Packages: built now with scripts/package (into build/packages/, so they are
# never stale), or taken from $GLB_PACKAGES (a directory of .debs) when set.
. "$(dirname "$0")/lib.sh"
PATH=$PATH:/usr/sbin:/sbin

[ "$(id -u)" = 0 ] || { echo "needs root (dpkg -i)"; exit 77; }
for t in dpkg dpkg-query dig setpriv ss; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
for p in glb-common dnsb dnslb; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
        echo "package $p already installed: not ours to purge"
        exit 77
    fi
done

if [ -n "${GLB_PACKAGES:-}" ]; then
    PKGDIR=$GLB_PACKAGES
else
    start=$(date +%s)
    "$SRCDIR/scripts/package" >"$TMP/package.log" 2>&1 || { cat "$TMP/package.log"; echo "scripts/package failed"; exit 1; }
    echo "# scripts/package took $(( $(date +%s) - start )) s; lintian:"
    grep -E '^[EWI]: ' "$SRCDIR/build/packages/lintian.txt" | sed 's/^/#   /'
    PKGDIR=$SRCDIR/build/packages
fi
DEBS=$(ls "$PKGDIR"/glb-common_*.deb "$PKGDIR"/dnsb_*.deb "$PKGDIR"/dnslb_*.deb) ||
    { echo "no glb-common, dnsb and dnslb packages in $PKGDIR"; exit 1; }

# What we change outside $TMP, undone at exit whatever happens.
had_user=no
getent passwd glb >/dev/null && had_user=yes
had_group=no
getent group glb >/dev/null && had_group=yes
own_policy=no
pkg_cleanup() {
    local p
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
    dpkg --purge dnsb dnslb glb-common >>"$TMP/dpkg.log" 2>&1
    rm -rf /run/dnsb /run/dnslb
    [ "$had_user" = no ] && getent passwd glb >/dev/null && userdel glb 2>/dev/null
    [ "$had_group" = no ] && getent group glb >/dev/null && groupdel glb 2>/dev/null
    [ "$own_policy" = yes ] && rm -f /usr/sbin/policy-rc.d
}
# shellcheck disable=SC2154 # rc is set in the trap itself
trap 'rc=$?; pkg_cleanup; (exit $rc); cleanup' EXIT

# Where systemd runs, the postinst would start the units with the example
# configurations: policy-rc.d forbids it for the test's duration.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=yes
fi

# --- install
# shellcheck disable=SC2086
if dpkg -i $DEBS >"$TMP/dpkg.log" 2>&1; then
    ok "dpkg -i $(echo $DEBS | xargs -n1 basename | tr '\n' ' ')"
else
    not_ok "dpkg -i"
    sed 's/^/#   /' "$TMP/dpkg.log"
    exit 1
fi

# --- files, user, state directory
for f in /usr/sbin/dnsb /usr/sbin/dnsb-control /usr/sbin/dnslb /usr/sbin/dnslb-control; do
    [ -x "$f" ] && ok "installed: $f" || not_ok "installed: $f"
done
for m in man8/dnsb.8 man8/dnsb-control.8 man5/dnsb.conf.5 man8/dnslb.8 man8/dnslb-control.8 man5/dnslb.conf.5; do
    [ -f "/usr/share/man/$m.gz" ] && ok "man page $m" || not_ok "man page $m"
done
check "dnsb: /etc/glb/dnsb.conf is a conffile" "$(dpkg-query -W -f='${Conffiles}' dnsb)" '^ /etc/glb/dnsb\.conf [0-9a-f]{32}$'
check "dnslb: /etc/glb/dnslb.conf is a conffile" "$(dpkg-query -W -f='${Conffiles}' dnslb)" '^ /etc/glb/dnslb\.conf [0-9a-f]{32}$'
pw=$(getent passwd glb)
check "system user glb (uid below 1000, no login)" "$pw" '^glb:x:([0-9]|[1-9][0-9]|[1-9][0-9][0-9]):[0-9]+:[^:]*:/var/lib/glb:/usr/sbin/nologin$'
check_eq "/var/lib/glb: owner glb, mode 750" "$(stat -c '%U:%G %a' /var/lib/glb)" "glb:glb 750"
out=$(setpriv --reuid=glb --regid=glb --init-groups /usr/sbin/dnsb -t -c /etc/glb/dnsb.conf 2>&1)
check "the packaged dnsb.conf passes dnsb -t (as glb)" "$out" ': ok \('
out=$(setpriv --reuid=glb --regid=glb --init-groups /usr/sbin/dnslb -t -c /etc/glb/dnslb.conf 2>&1)
check "the packaged dnslb.conf passes dnslb -t (as glb)" "$out" ': ok \('

# --- the units
# unit_get UNIT KEY: the values of KEY in the installed unit, one line each.
unit_file() { local d; for d in /lib/systemd/system /usr/lib/systemd/system; do [ -f "$d/$1" ] && { echo "$d/$1"; return; }; done; }
unit_get() { sed -n "s/^$2=//p" "$(unit_file "$1")"; }
for u in dnsb dnslb; do
    [ -n "$(unit_file $u.service)" ] && ok "unit $u.service installed" || { not_ok "unit $u.service installed"; exit 1; }
    check_eq "$u: NoNewPrivileges" "$(unit_get $u.service NoNewPrivileges)" yes
    check_eq "$u: ProtectSystem" "$(unit_get $u.service ProtectSystem)" strict
    check "$u: ReadWritePaths has /var/lib/glb" "$(unit_get $u.service ReadWritePaths)" "(^| )/var/lib/glb( |$)"
    check_eq "$u: User" "$(unit_get $u.service User)" glb
    # shellcheck disable=SC2016 # the unit's text, $MAINPID unexpanded
    check_eq "$u: ExecReload is SIGHUP" "$(unit_get $u.service ExecReload)" '/bin/kill -HUP $MAINPID'
    check "$u: ExecStart in the foreground with /etc/glb/$u.conf" "$(unit_get $u.service ExecStart)" "^/usr/sbin/$u -d -c /etc/glb/$u\.conf$"
done
check_eq "dnsb: AmbientCapabilities" "$(unit_get dnsb.service AmbientCapabilities)" CAP_NET_BIND_SERVICE
check_eq "dnsb: CapabilityBoundingSet" "$(unit_get dnsb.service CapabilityBoundingSet)" CAP_NET_BIND_SERVICE
check_eq "dnslb: AmbientCapabilities" "$(unit_get dnslb.service AmbientCapabilities)" "CAP_NET_BIND_SERVICE CAP_NET_RAW"
check_eq "dnslb: CapabilityBoundingSet" "$(unit_get dnslb.service CapabilityBoundingSet)" "CAP_NET_BIND_SERVICE CAP_NET_RAW"
if command -v systemd-analyze >/dev/null 2>&1; then
    for u in dnsb dnslb; do
        out=$(systemd-analyze verify "$(unit_file $u.service)" 2>&1)
        check_not "$u.service: systemd-analyze verify finds nothing wrong" "$out" "$u\.service"
    done
fi

# caps UNIT KEY: the unit's capability list as setpriv wants it (+net_raw,...).
caps() { unit_get "$1" "$2" | tr ' ' '\n' | sed -n 's/^CAP_\(.*\)/+\L\1/p' | paste -sd, -; }
# start_unit NAME: runs NAME.service's ExecStart as systemd would: its
# RuntimeDirectory made, as User/Group, with exactly its ambient and bounding
# capabilities and no new privileges; stderr (the journal) to $TMP/NAME.log.
start_unit() {
    local u=$1.service cmd amb bnd nnp
    cmd=$(unit_get "$u" ExecStart)
    amb=$(caps "$u" AmbientCapabilities)
    bnd=$(caps "$u" CapabilityBoundingSet)
    install -d -o "$(unit_get "$u" User)" -g "$(unit_get "$u" Group)" -m 0755 "/run/$(unit_get "$u" RuntimeDirectory)"
    [ "$(unit_get "$u" NoNewPrivileges)" = yes ] && nnp=--no-new-privs || nnp=
    # shellcheck disable=SC2086
    setpriv --reuid="$(unit_get "$u" User)" --regid="$(unit_get "$u" Group)" --init-groups $nnp \
        --inh-caps="-all,$amb" --ambient-caps="-all,$amb" --bounding-set="-all,$bnd" \
        $cmd >>"$TMP/$1.log" 2>&1 &
    UNIT_PID=$!
    PIDS+=("$UNIT_PID")
}
# reload_unit NAME PID: the unit's ExecReload, with $MAINPID.
reload_unit() { local c; c=$(unit_get "$1.service" ExecReload); ${c//\$MAINPID/$2}; }

# A privileged port (< 1024) that no socket uses on these addresses: binding
# it as glb shows the unit's CAP_NET_BIND_SERVICE at work.
priv_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((600 + RANDOM % 400))
        ss -Htuan "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
    done
    return 1
}
BPORT=$(priv_port) && LPORT=$(priv_port) && CPORT=$(free_port) || { echo "no free port"; exit 1; }
[ "$BPORT" != "$LPORT" ] || LPORT=$((BPORT == 1023 ? 600 : BPORT + 1))

# --- dnsb: the test's configuration where the unit reads it
write_dnsb_conf() {
    cat >/etc/glb/dnsb.conf <<CONF
server:
    listen: 127.0.0.231@$BPORT
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.231
    database: /var/lib/glb/dnsb
service:
    name: www.foobar.example.
    site: paris $1
CONF
}
write_dnsb_conf 192.0.2.10
start_unit dnsb
DNSB_PID=$UNIT_PID
if wait_dns 127.0.0.231 "$BPORT" glb.example.net; then
    ok "dnsb (ExecStart as glb) answers on privileged port $BPORT"
else
    not_ok "dnsb answers on privileged port $BPORT"
    exit 1
fi
bshort() { dig +short +time=1 +tries=1 -p "$BPORT" @127.0.0.231 www.foobar.example A 2>&1; }
check_eq "dnsb: the service's answer" "$(bshort)" 192.0.2.10
check_eq "dnsb runs as glb" "$(ps -o user= -p "$DNSB_PID")" glb
check_eq "dnsb's database in /var/lib/glb, owned by glb" "$(stat -c %U /var/lib/glb/dnsb/data.mdb 2>&1)" glb
check "dnsb: effective capabilities only net_bind_service" "$(grep ^CapEff /proc/$DNSB_PID/status)" '0000000000000400$'

write_dnsb_conf 192.0.2.99
reload_unit dnsb "$DNSB_PID"
wait_until 10 sh -c "[ \"\$(dig +short +time=1 +tries=1 -p $BPORT @127.0.0.231 www.foobar.example A)\" = 192.0.2.99 ]"
check_eq "dnsb: ExecReload (SIGHUP) puts the new configuration in force" "$(bshort)" 192.0.2.99

kill -TERM "$DNSB_PID"
wait "$DNSB_PID"
check_eq "dnsb: SIGTERM, exit status 0" "$?" 0
check_eq "dnsb: down after SIGTERM" "$(bshort | grep -c '^192')" 0

# --- dnslb: one static service; sites without checks rank unmeasured
write_dnslb_conf() {
    cat >/etc/glb/dnslb.conf <<CONF
server:
    listen: 127.0.0.232@$LPORT
    id: lb42
    control: 127.0.0.232@$CPORT
    control-cert-file: /etc/glb/dnslb-control-server.pem
    control-key-file: /etc/glb/dnslb-control-server.key
    control-ca-file: /etc/glb/control-ca.pem
probe:
    icmp-interval: 1
service:
    name: www.foobar.example.
    answer-count: 1
    site: a $1
CONF
}
write_dnslb_conf 127.0.0.11
start_unit dnslb
DNSLB_PID=$UNIT_PID
if wait_dns 127.0.0.232 "$LPORT" lb42.www.foobar.example; then
    ok "dnslb (ExecStart as glb) answers on privileged port $LPORT"
else
    not_ok "dnslb answers on privileged port $LPORT"
    exit 1
fi
lshort() { dig +norec +short +time=1 +tries=1 -p "$LPORT" @127.0.0.232 lb42.www.foobar.example A 2>&1; }
check_eq "dnslb: the service's answer" "$(lshort)" 127.0.0.11
check_eq "dnslb runs as glb" "$(ps -o user= -p "$DNSLB_PID")" glb
check "dnslb: effective capabilities only net_bind_service and net_raw" "$(grep ^CapEff /proc/$DNSLB_PID/status)" '0000000000002400$'
check "dnslb: raw ICMP sockets with CAP_NET_RAW (dnslb-control status)" \
    "$(/usr/sbin/dnslb-control -s 127.0.0.232@"$CPORT" -C /etc/glb/dnslb-control.pem -K /etc/glb/dnslb-control.key \
        -A /etc/glb/control-ca.pem status 2>&1)" '^icmp: v4 raw'

write_dnslb_conf 127.0.0.12
reload_unit dnslb "$DNSLB_PID"
wait_until 10 sh -c "[ \"\$(dig +norec +short +time=1 +tries=1 -p $LPORT @127.0.0.232 lb42.www.foobar.example A)\" = 127.0.0.12 ]"
check_eq "dnslb: ExecReload (SIGHUP) puts the new configuration in force" "$(lshort)" 127.0.0.12

kill -TERM "$DNSLB_PID"
wait "$DNSLB_PID"
check_eq "dnslb: SIGTERM, exit status 0" "$?" 0
PIDS=()

# --- purge: nothing of ours left
if dpkg --purge dnsb dnslb glb-common >"$TMP/dpkg.log" 2>&1; then
    ok "dpkg --purge dnsb dnslb glb-common"
else
    not_ok "dpkg --purge dnsb dnslb glb-common"
    sed 's/^/#   /' "$TMP/dpkg.log"
fi
left=$(ls -d /usr/sbin/dnsb /usr/sbin/dnslb /usr/sbin/glb-cert-setup /etc/glb /var/lib/glb/dnsb \
    /lib/systemd/system/dnsb.service /lib/systemd/system/dnslb.service 2>/dev/null)
check_eq "purge: binaries, configurations, state and units gone" "$left" ""
check_eq "purge: dpkg knows none of the packages" "$(dpkg-query -W -f='${Status}\n' dnsb dnslb glb-common 2>/dev/null | grep -c installed)" 0
finish

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
    local p
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null
    done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && wait "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

# A free TCP+UDP port on 127.0.0.1 (tries random ones in 20000..59999).
free_port() {
    local p i
    for i in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        if ! ss -Htuln "sport = :$p" 2>/dev/null | grep -q .; then
            echo "$p"
            return 0
        fi
    done
    return 1
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

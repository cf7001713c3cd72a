# shellcheck shell=bash
# bench/lib.sh: helpers for the benchmark scripts in bench/ (sourced, not run).
# Needs bash, awk, ss (iproute2) and Linux /proc.

# bench_die MSG...: print an error and exit non-zero (the caller's EXIT trap cleans up).
bench_die() {
    echo "ERROR: $*" >&2
    exit 1
}

# bench_need CMD...: fail unless every command is available.
bench_need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || bench_die "$c not found in PATH"
    done
}

# --- free ports ------------------------------------------------------------------------

BENCH_PORTS_TAKEN=" "

# bench_port_span: print "LO N": free ports are picked in LO..LO+N-1, that is 20000 up to
# the start of the kernel's ephemeral range (net.ipv4.ip_local_port_range), at most 60999,
# so that no outgoing connection (on this machine, every check and every client) holds one.
bench_port_span() {
    local eph hi
    read -r eph _ 2>/dev/null </proc/sys/net/ipv4/ip_local_port_range || eph=61000
    hi=$((eph > 61000 ? 61000 : eph))
    ((hi - 20000 >= 2000)) || hi=61000 # a tiny window: fall back to the old one
    echo "20000 $((hi - 20000))"
}

# bench_used_ports: " P1 P2 ... " every local port of a UDP or TCP socket (any state).
bench_used_ports() {
    echo " $(ss -Hanut 2>/dev/null | awk '{ n = split($5, a, ":"); printf "%s ", a[n] }')"
}

# bench_free_port: print a port (see bench_port_span) that no UDP or TCP socket uses
# (any address, any state), and that this script has not handed out before.
bench_free_port() {
    local used port i lo n
    used=$(bench_used_ports)
    read -r lo n < <(bench_port_span)
    for ((i = 0; i < 200; i++)); do
        port=$((lo + (RANDOM * 32768 + RANDOM) % n))
        case "$used$BENCH_PORTS_TAKEN" in
            *" $port "*) continue ;;
        esac
        BENCH_PORTS_TAKEN+="$port "
        echo "$port"
        return 0
    done
    bench_die "no free port found"
}

# --- processes -------------------------------------------------------------------------

BENCH_PIDS=()

# bench_track PID: remember PID for bench_stop_all.
bench_track() {
    BENCH_PIDS+=("$1")
}

# bench_alive PID: true while PID exists and is not a zombie.
bench_alive() {
    local line rest
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    rest=${line##*) }
    [[ ${rest:0:1} != Z ]]
}

# bench_tree PID: print PID and all its live descendants, one per line.
bench_tree() {
    local f line rest
    {
        for f in /proc/[0-9]*/stat; do
            read -r line 2>/dev/null <"$f" || continue
            rest=${line##*) }          # fields after "pid (comm) ": state ppid ...
            # shellcheck disable=SC2086 # split the fields on purpose
            set -- $rest
            [[ $1 == Z ]] && continue
            f=${f#/proc/}
            echo "${f%/stat} $2"
        done
    } | awk -v root="$1" '
        { parent[$1] = $2; pids[NR] = $1 }
        END {
            keep[root] = 1; changed = 1
            while (changed) {
                changed = 0
                for (i in pids) { p = pids[i]
                    if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 } }
            }
            for (p in keep) if (p in parent) print p
        }'
}

# bench_cpu_ticks PID: CPU time, in clock ticks, used so far by PID and its descendants:
# utime + stime (all threads: the process-level /proc/PID/stat sums them) + cutime +
# cstime (children already exited and reaped, so a child dying mid-run is not lost).
bench_cpu_ticks() {
    local p line rest total=0
    for p in $(bench_tree "$1"); do
        read -r line 2>/dev/null <"/proc/$p/stat" || continue
        rest=${line##*) }
        # shellcheck disable=SC2086 # split the fields on purpose
        set -- $rest               # $1 state, $2 ppid, ... $12 utime $13 stime $14 cutime $15 cstime
        total=$((total + ${12} + ${13} + ${14} + ${15}))
    done
    echo "$total"
}

# bench_stop PID: stop PID and its descendants: SIGTERM, wait up to 3 s, then SIGKILL.
bench_stop() {
    local root=$1 pids p i
    bench_alive "$root" || return 0
    pids=$(bench_tree "$root")
    kill -TERM "$root" 2>/dev/null
    for ((i = 0; i < 30; i++)); do
        local left=""
        for p in $pids; do bench_alive "$p" && left+="$p "; done
        [[ -z $left ]] && break
        sleep 0.1
    done
    for p in $pids; do
        bench_alive "$p" && kill -KILL "$p" 2>/dev/null
    done
    wait "$root" 2>/dev/null
    return 0
}

# bench_stop_all: stop every tracked process, last started first.
bench_stop_all() {
    local i
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
        bench_stop "${BENCH_PIDS[i]}"
    done
    BENCH_PIDS=()
}

# --- DNS -------------------------------------------------------------------------------

# bench_wait_dns PORT NAME PID [SECONDS]: wait until 127.0.0.1@PORT answers NAME, while
# PID stays alive.
bench_wait_dns() {
    local port=$1 name=$2 pid=$3 secs=${4:-10} i
    for ((i = 0; i < secs * 5; i++)); do
        bench_alive "$pid" || return 1
        if dig +norec +tries=1 +time=1 -p "$port" @127.0.0.1 "$name" A 2>/dev/null |
            grep -q 'status: NOERROR'; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# bench_dig_canon PORT NAME: the answer to NAME A (EDNS on, RD off), reduced to what must
# match between servers: rcode, flags, and the sorted records of each section.
bench_dig_canon() {
    dig +norec +edns=0 +tries=2 +time=1 -p "$1" @127.0.0.1 "$2" A 2>/dev/null | awk '
        /^;; ->>HEADER<<-/ { sub(/,$/, "", $6); print "status", $6 }
        /^;; flags:/       { f = $0; sub(/^;; flags: */, "", f); sub(/;.*/, "", f); print "flags", f }
        /^;; ANSWER SECTION:/     { s = "answer"; next }
        /^;; AUTHORITY SECTION:/  { s = "authority"; next }
        /^;; ADDITIONAL SECTION:/ { s = "additional"; next }
        /^;/ || /^$/ { if ($0 ~ /^;; /) s = ""; next }
        s != "" { $1 = $1; print s, $0 }
    ' | sort
}

# bench_dnsperf OUTFILE ARGS...: run dnsperf on CPU 1 with ARGS, output in OUTFILE.
bench_dnsperf() {
    local out=$1
    shift
    taskset -c 1 dnsperf "$@" >"$out" 2>&1
}

# bench_dnsperf_field OUTFILE FIELD: a number from dnsperf's summary, FIELD one of
# sent, completed, lost, qps.
bench_dnsperf_field() {
    awk -v want="$2" '
        want == "sent"      && /Queries sent:/       { print $3; exit }
        want == "completed" && /Queries completed:/  { print $3; exit }
        want == "lost"      && /Queries lost:/       { print $3; exit }
        want == "qps"       && /Queries per second:/ { print $4; exit }
    ' "$1"
}

# bench_calc EXPR: evaluate an awk arithmetic expression, print the result.
bench_calc() {
    awk "BEGIN { print $1 }"
}

# --- helpers for the dnslb benchmarks ----------------------------------------------------

# bench_free_port_range N: print LO such that LO..LO+N-1 are all free (as bench_free_port
# sees it) and not handed out before; they are then reserved.
bench_free_port_range() {
    local n=$1 used lo p i ok span0 span
    used=$(bench_used_ports)
    read -r span0 span < <(bench_port_span)
    ((span > n)) || bench_die "no room for a range of $n ports"
    for ((i = 0; i < 200; i++)); do
        lo=$((span0 + (RANDOM * 32768 + RANDOM) % (span - n)))
        ok=1
        for ((p = lo; p < lo + n; p++)); do
            case "$used$BENCH_PORTS_TAKEN" in
                *" $p "*) ok=0 && break ;;
            esac
        done
        ((ok)) || continue
        for ((p = lo; p < lo + n; p++)); do BENCH_PORTS_TAKEN+="$p "; done
        echo "$lo"
        return 0
    done
    bench_die "no free range of $n ports found"
}

# bench_pick_port VAR / bench_pick_port_range VAR N: like bench_free_port(_range), but set
# VAR in the calling shell and keep the reservation there (a $(...) subshell forgets it),
# so that later picks never return these ports again.
bench_pick_port() {
    local p
    p=$(bench_free_port) || exit 1
    BENCH_PORTS_TAKEN+="$p "
    printf -v "$1" %s "$p"
}
bench_pick_port_range() {
    local lo p
    lo=$(bench_free_port_range "$2") || exit 1
    for ((p = lo; p < lo + $2; p++)); do BENCH_PORTS_TAKEN+="$p "; done
    printf -v "$1" %s "$lo"
}

# bench_median: the median of the numbers on stdin (whitespace-separated), 2 decimals
# when it is the mean of the middle two.
bench_median() {
    tr ' ' '\n' | grep . | sort -g |
        awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : sprintf("%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2)}'
}

# bench_rss_kb PID: resident set size of PID in kB (VmRSS from /proc/PID/status).
bench_rss_kb() {
    awk '/^VmRSS:/ { print $2; exit }' "/proc/$1/status" 2>/dev/null
}

# bench_kv FILE KEY: the value of KEY=VALUE or KEY: VALUE in FILE (first match).
bench_kv() {
    awk -v k="$2" '{
        if (index($0, k "=") == 1) { print substr($0, length(k) + 2); exit }
        if (index($0, k ": ") == 1) { print substr($0, length(k) + 3); exit }
    }' "$1"
}

# bench_wait_line FILE REGEX PID [SECONDS]: wait until FILE has a line matching REGEX
# (grep -E), while PID stays alive.
bench_wait_line() {
    local file=$1 re=$2 pid=$3 secs=${4:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        grep -qE "$re" "$file" 2>/dev/null && return 0
        bench_alive "$pid" || return 1
        sleep 0.1
    done
    return 1
}

# bench_httpd_start OUTFILE CPU ARGS...: start the fixture web server
# (tests/fixture/httpd.py ARGS) pinned to CPU, wait up to 60 s for "ready";
# sets BENCH_HTTPD_PID (tracked for bench_stop_all). Fails the script otherwise.
bench_httpd_start() {
    local out=$1 cpu=$2
    shift 2
    bench_need python3
    taskset -c "$cpu" python3 "$BENCH_LIB_DIR/../tests/fixture/httpd.py" "$@" >"$out" 2>&1 &
    BENCH_HTTPD_PID=$!
    bench_track "$BENCH_HTTPD_PID"
    if ! bench_wait_line "$out" '^ready$' "$BENCH_HTTPD_PID" 60; then
        tail -n 20 "$out" >&2
        bench_die "the fixture web server did not start"
    fi
}

# bench_httpd_total ADDR:PORT: requests the fixture served so far (its /stats "total").
bench_httpd_total() {
    curl -s --max-time 10 "http://$1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'
}

BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

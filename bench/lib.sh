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

# bench_free_port: print a port in 20000..60999 on which nothing listens on UDP or TCP
# (any address), and that this script has not handed out before.
bench_free_port() {
    local used port i
    used=" $(ss -Hlnut 2>/dev/null | awk '{ n = split($5, a, ":"); printf "%s ", a[n] }')"
    for ((i = 0; i < 200; i++)); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 41000))
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

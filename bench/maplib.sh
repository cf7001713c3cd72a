# shellcheck shell=bash
# bench/maplib.sh: helpers shared by bench/map-load and bench/restart (sourced after
# bench/lib.sh, not run). They drive bench/maplb (simulated DNS-LBs) against a dnsb
# started here on loopback.

# map_find_binaries BUILDDIR: set DNSB, DNSB_CONTROL and MAPLB from BUILDDIR (build
# bench/maplb there when it is missing).
map_find_binaries() {
    local b=$1
    DNSB=$b/dnsb/dnsb
    DNSB_CONTROL=$b/dnsb/dnsb-control
    MAPLB=$b/bench/maplb
    [[ -x $DNSB ]] || bench_die "$DNSB not found or not executable (build it, or pass BUILDDIR)"
    [[ -x $DNSB_CONTROL ]] || bench_die "$DNSB_CONTROL not found (build it, or pass BUILDDIR)"
    if [[ ! -x $MAPLB ]]; then
        echo "building $MAPLB" >&2
        make -C "$b" bench/maplb >"${TMP:-/tmp}/maplb-build.log" 2>&1 ||
            { tail -n 20 "${TMP:-/tmp}/maplb-build.log" >&2; bench_die "cannot build bench/maplb in $b"; }
    fi
}

# map_default_builddir TOP: the build directory to use when none is given: TOP when it
# holds a built dnsb, else TOP/build/release (scripts/build's default), else TOP.
map_default_builddir() {
    local top=$1
    if [[ -x $top/dnsb/dnsb ]]; then
        echo "$top"
    elif [[ -x $top/build/release/dnsb/dnsb ]]; then
        echo "$top/build/release"
    else
        echo "$top"
    fi
}

# map_raise_nofile N: raise this shell's open-file limit (inherited by dnsb and maplb)
# to its hard limit; fail when that leaves less than N + 256 descriptors.
map_raise_nofile() {
    local need=$(($1 + 256)) hard
    hard=$(ulimit -Hn)
    [[ $hard == unlimited ]] && hard=1048576
    ulimit -n "$hard" 2>/dev/null || true
    (($(ulimit -n) >= need)) ||
        bench_die "open-file limit $(ulimit -n) (hard $hard) is below the $need that $1 sessions need"
}

# map_write_conf FILE DIR P_DNS P_MAP P_CTL LBS CLAIMS WORKERS [VERBOSITY]: the dnsb
# configuration, with DIR/allow.conf (from maplb setup) included in the map: section and
# the database in DIR/db.
map_write_conf() {
    local f=$1 dir=$2 pd=$3 pm=$4 pc=$5 lbs=$6 claims=$7 workers=$8 verb=${9:-1}
    cat >"$f" <<EOF
server:
    listen: 127.0.0.1@$pd
    workers: $workers
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    whoami: whoami.glb.example.net.
    database: $dir/db
    control: 127.0.0.1@$pc
    verbosity: $verb
    # dnsperf asks from one address far above any rate limit: off, as for NSD
    rrl-ratelimit: 0

map:
    listen: 127.0.0.1@$pm
    tls-cert-file: $dir/b1.pem
    tls-key-file: $dir/b1.key
    tls-ca-file: $dir/ca.pem
    max-connections: $((lbs + 100))
    max-claims: $claims
    lifetime: 900
    include: allow.conf

service:
    name: www.foobar.example.
    mode: referral
    ttl-referral: 3600
    site: paris 192.0.2.10
EOF
}

# map_start_dnsb CONF LOG [CPUS]: start dnsb in the foreground (taskset -c CPUS when
# given), tracked for cleanup; sets DNSB_PID. Waits until it answers DNS (up to 60 s).
map_start_dnsb() {
    local conf=$1 log=$2 cpus=${3:-} port
    if [[ -n $cpus ]]; then
        taskset -c "$cpus" "$DNSB" -d -c "$conf" >>"$log" 2>&1 &
    else
        "$DNSB" -d -c "$conf" >>"$log" 2>&1 &
    fi
    DNSB_PID=$!
    bench_track "$DNSB_PID"
    port=$(awk '/^server:/ { s = 1 } /^[a-z]+:$/ && !/^server:/ { s = 0 }
                s && $1 == "listen:" { n = split($2, a, "@"); print a[n]; exit }' "$conf")
    if ! bench_wait_dns "$port" glb.example.net. "$DNSB_PID" 60; then
        tail -n 20 "$log" >&2
        bench_die "dnsb did not start (see above)"
    fi
}

# map_ctl CONF ARGS...: dnsb-control with the certificates of CONF (b1's: it chains to
# the CA that dnsb trusts for control clients too).
map_ctl() {
    local conf=$1
    shift
    "$DNSB_CONTROL" -c "$conf" -t 20 "$@"
}

# map_dnsperf OUT PORT RATE SECS QUERIES [CPU]: one dnsperf run on the binary query file
# (ECS queries, dnsperf -B), at most RATE qps for SECS s, 2 s timeout, on CPU (default 1).
map_dnsperf() {
    local out=$1 port=$2 rate=$3 secs=$4 queries=$5 cpu=${6:-1}
    timeout $((secs + 30)) taskset -c "$cpu" dnsperf -B -d "$queries" -s 127.0.0.1 -p "$port" \
        -c 4 -q 500 -t 2 -Q "$rate" -l "$secs" >"$out" 2>&1
}

# map_steal CPU: the time the hypervisor took from CPU (/proc/stat "steal"), in clock
# ticks, with the time now: "TICKS SECONDS". map_steal_pct BEFORE AFTER: the share of
# that CPU's time stolen between two map_steal readings, in percent.
map_steal() {
    awk -v c="cpu$1" -v now="$EPOCHREALTIME" '$1 == c { print $9, now; exit }' /proc/stat
}
map_steal_pct() {
    local hz
    hz=$(getconf CLK_TCK)
    awk -v a="$1" -v b="$2" -v hz="$hz" 'BEGIN {
        split(a, x, " "); split(b, y, " "); t = y[2] - x[2]
        printf "%.1f\n", (t > 0 ? 100 * (y[1] - x[1]) / hz / t : 0) }'
}

# map_dnsperf_latency OUT: average latency in ms from dnsperf's summary; map_dnsperf_max
# OUT: the maximum latency in ms.
map_dnsperf_latency() {
    awk '/Average Latency \(s\):/ { printf "%.4f\n", $4 * 1000; exit }' "$1"
}
map_dnsperf_max() {
    awk '/Average Latency \(s\):/ { v = $8; sub(/\)/, "", v); printf "%.3f\n", v * 1000; exit }' "$1"
}

# map_stat FILE KEY: the value of KEY=VALUE in a dnsb-control stats output.
map_stat() {
    awk -F= -v k="$2" '$1 == k { print $2; exit }' "$1"
}

# map_pin PID LAYOUT QCPU MAINCPU: place dnsb's threads. LAYOUT split: its query threads
# (glb-*) on QCPU, its main thread (map protocol, TLS, registry writer) on MAINCPU;
# shared: every thread on QCPU; none: leave them. Threads are found in /proc/PID/task.
map_pin() {
    local pid=$1 layout=$2 qcpu=$3 mcpu=$4 t comm cpu
    [[ $layout == none ]] && return 0
    for t in /proc/"$pid"/task/*; do
        read -r comm <"$t/comm" 2>/dev/null || continue
        cpu=$qcpu
        [[ $layout == split && $comm != glb-* ]] && cpu=$mcpu
        taskset -p -c "$cpu" "${t##*/}" >/dev/null || bench_die "cannot pin thread ${t##*/} of dnsb"
    done
}

# map_threads PID: "name:cpus" of every thread of PID, for the log.
map_threads() {
    local t comm out=""
    for t in /proc/"$1"/task/*; do
        read -r comm <"$t/comm" 2>/dev/null || continue
        out+="$comm:$(taskset -p -c "${t##*/}" 2>/dev/null | awk '{ print $NF }') "
    done
    echo "${out% }"
}

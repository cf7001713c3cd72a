#!/usr/bin/env bash
# Proxy-cache mode (DESIGN §8, dnslb.conf(5) section proxy): dnslb drives a
# real Varnish from its ranking; real curl is the client.
#
#   127.0.0.42        dnslb (DNS on PORT, control on CPORT), its checks leave from it;
#                     Varnish on VP (the proxy address answered for www)
#   127.0.0.11-13     sites a, b, c: the fixture, HTTP on HP; delays 0/60/120 ms.
#                     Each answer says who served it (X-Served-By); Varnish
#                     fetches from 127.0.0.1, so the fixture's per-source
#                     counts tell proxy fetches from dnslb's checks.
. "$(dirname "$0")/lib.sh"
PATH=$PATH:/usr/sbin:/sbin

for t in dig python3 curl varnishd varnishadm; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
[ -x "$DNSLB" ] && [ -x "$DNSLB_CONTROL" ] || { echo "dnslb not built in $BUILDDIR"; exit 77; }

ports=()
while [ ${#ports[@]} -lt 4 ]; do
    p=$(free_port) || { echo "no free port"; exit 1; }
    case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
PORT=${ports[0]} CPORT=${ports[1]} HP=${ports[2]} VP=${ports[3]}
LBCTL_ADDR=127.0.0.42@$CPORT
VN=$TMP/varnish
mkdir -p "$TMP/vcl"

start_fixture --listen 127.0.0.11:$HP --listen 127.0.0.12:$HP --listen 127.0.0.13:$HP --control 127.0.0.1:0 || exit 1
fx "/set?addr=127.0.0.12&port=$HP&delay_ms=60" >/dev/null
fx "/set?addr=127.0.0.13&port=$HP&delay_ms=120" >/dev/null

# --- Varnish, as the operator runs it: its own work dir, a boot VCL that
# serves nothing until dnslb loads one. No grace: max-age is strict here.
cat >"$TMP/boot.vcl" <<'VCL'
vcl 4.1;
backend default none;
VCL
varnishd -F -j none -a 127.0.0.42:$VP -T 127.0.0.1:0 -n "$VN" -f "$TMP/boot.vcl" \
    -p default_grace=0 -p default_keep=0 -s malloc,32m >"$TMP/varnish.log" 2>&1 &
VARNISH_PID=$!
PIDS+=("$VARNISH_PID")
wait_until 20 varnishadm -n "$VN" -t 2 ping || { cat "$TMP/varnish.log"; echo "varnishd did not start"; exit 1; }

cat >"$TMP/dnslb.conf" <<CONF
server:
    listen: 127.0.0.42@$PORT
    id: lb42
$(lb_control_keys)
    control: 127.0.0.42@$CPORT
probe:
    http-interval: 2
    icmp-interval: 1
    timeout: 1
    ewma-constant: 1
    dead-after: 2
    alive-after: 2
    source-address: 127.0.0.42
proxy:
    engine: varnish
    address: 127.0.0.42@$VP
    varnish-name: $VN
    vcl-dir: $TMP/vcl
    min-interval: 1
    timeout: 5
service:
    name: www.foobar.example.
    ttl-answer: 5
    answer-count: 1
    proxy-answer: yes
    site: a 127.0.0.11 check=http://127.0.0.11:$HP/probe
    site: b 127.0.0.12 check=http://127.0.0.12:$HP/probe
    site: c 127.0.0.13 check=http://127.0.0.13:$HP/probe
CONF
LOG=$TMP/dnslb.log
start_dnslb "$TMP/dnslb.conf" "$LOG" || exit 1

# --- DNS: the proxy's address, not the sites'
ans=$(dig +norec +short +time=2 +tries=1 -p "$PORT" @127.0.0.42 lb42.www.foobar.example A)
check_eq "proxy-answer: lb42.www.foobar.example A is the proxy's address" "$ans" "127.0.0.42"

# best_is SITE: the VCL in use has SITE alone in the answer set.
best_is() {
    grep -q "glb_0_$1_0 { # site $1, answer set" "$TMP/vcl/current.vcl" 2>/dev/null &&
        [ "$(grep -c 'answer set' "$TMP/vcl/current.vcl")" = 1 ] &&
        lbctl status | grep -q 'state in-sync'
}
absent() { ! grep -q "glb_0_$1_" "$TMP/vcl/current.vcl"; }
if wait_until 20 best_is a; then
    ok "the VCL loaded has site a first (${WAITED}s)"
else
    not_ok "no VCL with site a first"; lbctl status; lbctl sites; cat "$TMP/vcl/current.vcl"; tail "$LOG"
fi
st=$(lbctl status)
check "dnslb-control status reports the engine" "$st" "^proxy: varnish -n $VN, state in-sync"
check "status: the VCL in use, loaded by varnishadm" "$st" "^proxy.vcl: glb_[0-9]+_[0-9]+$"
check "status: when, and no error" "$st" "^proxy.loaded-at: 20[0-9-]+T.*Z$"
check "status: no error" "$st" "^proxy.last-error: -$"
check "varnishadm vcl.list shows dnslb's VCL active" "$(varnishadm -n "$VN" vcl.list)" "^active .* $(sed -n 's/^proxy.vcl: //p' <<<"$st")$"

# get PATH [CURL ARGS]: through the proxy with real curl, as a client that
# resolved www.foobar.example to the proxy; prints the status line and headers.
get() {
    local path=$1
    shift
    curl -sS -D - -o /dev/null --max-time 10 --resolve "www.foobar.example:$VP:127.0.0.42" "$@" \
        "http://www.foobar.example:$VP$path" 2>&1 | tr -d '\r'
}
hdr() { sed -n "s/^$1: //Ip" | head -n 1; }
proxy_fetches() { # ADDR: requests the fixture served there for Varnish (from 127.0.0.1)
    fx /stats | python3 -c 'import json, sys; print(json.load(sys.stdin)["sources"].get(sys.argv[1], {}).get("127.0.0.1", 0))' "$1:$HP"
}

# --- from the best origin, then from the cache
r1=$(get /obj1)
check "first request: 200" "$r1" "^HTTP/1.1 200"
check "first request: served by the best origin, a" "$(hdr X-Served-By <<<"$r1")" "^127.0.0.11:$HP$"
check "first request: a miss (one id in X-Varnish)" "$(hdr X-Varnish <<<"$r1")" "^[0-9]+$"
before=$(proxy_fetches 127.0.0.11)
r2=$(get /obj1)
check "second request: a hit (two ids in X-Varnish)" "$(hdr X-Varnish <<<"$r2")" "^[0-9]+ [0-9]+$"
check_eq "second request: the origin was not asked" "$(proxy_fetches 127.0.0.11)" "$before"
r3=$(curl -sS --max-time 5 -H 'Host: not.a.service' "http://127.0.0.42:$VP/x" -o /dev/null -w '%{http_code}')
check_eq "a Host that is no service: 404" "$r3" "404"

# --- the origin's Cache-Control is honoured
fx "/set?cache_control=no-store" >/dev/null
before=$(proxy_fetches 127.0.0.11)
get /nostore >/dev/null
r=$(get /nostore)
check "no-store: the second request is no hit either" "$(hdr X-Varnish <<<"$r")" "^[0-9]+$"
check_eq "no-store: both went to the origin" "$(proxy_fetches 127.0.0.11)" "$((before + 2))"
fx "/set?cache_control=max-age=2" >/dev/null
get /maxage >/dev/null
r=$(get /maxage)
check "max-age=2: a hit within 2 s" "$(hdr X-Varnish <<<"$r")" "^[0-9]+ [0-9]+$"
sleep 2.5
before=$(proxy_fetches 127.0.0.11)
r=$(get /maxage)
check "max-age=2: after 2.5 s, fetched again (a miss)" "$(hdr X-Varnish <<<"$r")" "^[0-9]+$"
check_eq "max-age=2: the origin was asked again" "$(proxy_fetches 127.0.0.11)" "$((before + 1))"
fx "/set?cache_control=" >/dev/null

# --- reloads during a stream of requests: 200 requests/s for 4 s, half of
# them new objects; meanwhile a becomes slow, then fast again: two rankings,
# two VCL loads. No request may fail.
loads0=$(lbctl status | sed -n 's/^proxy.loads: //p')
python3 - "$VP" >"$TMP/stream.out" 2>&1 <<'PY' &
import http.client, sys, time
port = int(sys.argv[1])
ok = bad = 0
errors = []
start = time.monotonic()
conn = None
for i in range(800):
    due = start + i / 200.0
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    path = "/stream/%d" % (i if i % 2 else i % 10)
    try:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.42", port, timeout=10)
        conn.request("GET", path, headers={"Host": "www.foobar.example"})
        r = conn.getresponse()
        r.read()
        if r.status == 200:
            ok += 1
        else:
            bad += 1
            errors.append("%s: %d" % (path, r.status))
    except Exception as e:
        bad += 1
        errors.append("%s: %r" % (path, e))
        conn = None
print("ok %d bad %d seconds %.1f" % (ok, bad, time.monotonic() - start))
for e in errors[:10]:
    print(e)
PY
STREAM_PID=$!
fx "/set?addr=127.0.0.11&port=$HP&delay_ms=300" >/dev/null
wait_until 10 best_is b
sleep 2
fx "/set?addr=127.0.0.11&port=$HP&delay_ms=0" >/dev/null
wait "$STREAM_PID"
out=$(cat "$TMP/stream.out")
loads1=$(lbctl status | sed -n 's/^proxy.loads: //p')
check "reload during a stream of 800 requests at 200/s: none lost" "$out" "^ok 800 bad 0 "
if [ "$loads1" -ge $((loads0 + 1)) ]; then
    ok "VCL loaded during the stream ($loads0 -> $loads1 loads)"
else
    not_ok "no VCL loaded during the stream ($loads0 -> $loads1)"
fi

# --- the best origin dies: the next request already goes on to the next
# origin (the VCL retries it), and once dnslb has it dead and the VCL is
# reloaded, the dead origin is no longer tried at all.
if wait_until 20 best_is a; then
    ok "a is first again (${WAITED}s)"
else
    not_ok "a never first again"; lbctl sites
fi
fx "/set?addr=127.0.0.11&port=$HP&mode=close" >/dev/null
r=$(get /after-death-1)
check "a closes connections: the request is still answered, 200" "$r" "^HTTP/1.1 200"
check "... by the next origin, b" "$(hdr X-Served-By <<<"$r")" "^127.0.0.12:$HP$"
if wait_until 15 absent a; then
    ok "dnslb found a dead and loaded a VCL without it (${WAITED}s)"
else
    not_ok "a still in the VCL"; lbctl sites; lbctl status
fi
check "the VCL now starts with b" "$(cat "$TMP/vcl/current.vcl")" "glb_0_b_0 \{ # site b, answer set"
before=$(proxy_fetches 127.0.0.11)
r=$(get /after-death-2)
check "after the reload: 200" "$r" "^HTTP/1.1 200"
check "after the reload: served by b" "$(hdr X-Served-By <<<"$r")" "^127.0.0.12:$HP$"
check_eq "after the reload: a was not tried" "$(proxy_fetches 127.0.0.11)" "$before"
check "dnslb logged the loads" "$(cat "$LOG")" "proxy: VCL glb_[0-9_]+ in use"

# --- the engine unreachable: status says so, and dnslb keeps serving DNS
stop_pid "$VARNISH_PID"
fx "/set?addr=127.0.0.11&port=$HP&mode=normal" >/dev/null
if wait_until 15 sh -c "'$DNSLB_CONTROL' -s '$LBCTL_ADDR' -c '$LBCTL_CONF' status | grep -q '^proxy.failures: [1-9]'"; then
    ok "engine down: the failed load is counted (${WAITED}s)"
else
    not_ok "engine down: no failure counted"; lbctl status
fi
st=$(lbctl status)
check "engine down: status has the error" "$st" "^proxy.last-error: vcl.load glb_.*exit status"
ans=$(dig +norec +short +time=2 +tries=1 -p "$PORT" @127.0.0.42 lb42.www.foobar.example A)
check_eq "engine down: DNS still answers" "$ans" "127.0.0.42"

# --- a varnishadm that closes its output, hangs and starts a child of its own is killed after
# timeout, and meanwhile the event loop serves: control and DNS answer at once
mkdir -p "$TMP/vcl2"
printf '#!/bin/sh\nexec >/dev/null 2>&1\nsleep 30 &\nsleep 30\n' >"$TMP/hangadm"
chmod +x "$TMP/hangadm"
sed -i "s|^    vcl-dir: .*|    vcl-dir: $TMP/vcl2|; s|^    timeout: 5|    timeout: 2\\n    varnishadm: $TMP/hangadm|" "$TMP/dnslb.conf"
kill -HUP "$DNSLB_PID"
if wait_until 5 pgrep -f "$TMP/hangadm"; then
    ok "a hanging varnishadm runs (${WAITED}s)"
else
    not_ok "no varnishadm started after the reload"; lbctl status; tail "$LOG"
fi
HANG=$(pgrep -f "$TMP/hangadm" | head -n 1)
check "status: loading" "$(lbctl status)" "state loading"
t0=$(now_ms)
lbctl status >/dev/null
ans=$(dig +norec +short +time=2 +tries=1 -p "$PORT" @127.0.0.42 lb42.www.foobar.example A)
t1=$(now_ms)
check_eq "while it hangs: DNS answers" "$ans" "127.0.0.42"
if [ $((t1 - t0)) -lt 1000 ]; then
    ok "while it hangs: control and DNS answered in $((t1 - t0)) ms"
else
    not_ok "while it hangs: control and DNS took $((t1 - t0)) ms"
fi
gone() { ! pgrep -g "$1" >/dev/null; }
if wait_until 8 gone "${HANG:-1}"; then
    ok "the hanging varnishadm and the child it started are gone (${WAITED}s; timeout 2 s)"
else
    not_ok "the hanging varnishadm's process group is still there"; pgrep -a -g "${HANG:-1}"
fi
check "status: it timed out and was killed" "$(lbctl status)" "^proxy.last-error: vcl.load .*timed out \\(varnishadm killed\\)"
finish

#!/usr/bin/env bash
# The status page on the metrics listener, loaded in headless Chromium
# (Debian's chromium, driven over the DevTools protocol on a pipe by
# cdp.py): it loads without a console error, exception or failed request,
# plots the sites' last hour (SVG paths), shows a site killed in the test
# as down (red) within one check interval, and shows hostile names as text.
# On dnsb: the registered DNS-LBs and the "why does address X go where it
# goes" form. Screenshots are kept in the build's tests/system/ directory.
#
#   127.0.0.42        dnslb (DNS on PORT, control on CPORT, metrics and page on MPORT)
#   127.0.0.11-12     sites a and b: the fixture, HTTP on HP (b 30 ms slower)
#   127.0.0.1         dnsb (DNS on BPORT, metrics and page on BMPORT)
#   127.0.0.2         a source metrics-allow leaves out
. "$(dirname "$0")/lib.sh"
PATH=$PATH:/usr/sbin:/sbin

# The browser itself, not Debian's wrapper script (which adds flags that
# fetch extensions).
CHROMIUM=/usr/lib/chromium/chromium
[ -x "$CHROMIUM" ] || CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "chromium not installed"; exit 77; }
command -v dig >/dev/null 2>&1 || { echo "dig not installed"; exit 77; }
[ -x "$DNSB" ] && [ -x "$DNSLB" ] && [ -x "$DNSLB_CONTROL" ] || { echo "not built in $BUILDDIR"; exit 77; }
ART="$BUILDDIR/tests/system"
mkdir -p "$ART"
# cdp ARGS...: Chromium driven by cdp.py (its own output into chromium.log).
cdp() { timeout 120 python3 "$SRCDIR/tests/system/cdp.py" --chromium "$CHROMIUM" --log "$TMP/chromium.log" "$@"; }
# field NAME FILE: what cdp.py printed after NAME.
field() { awk -v n="$1" '$1 == n { $1 = ""; sub(/^ /, ""); print; exit }' "$2"; }

ports=()
while [ ${#ports[@]} -lt 6 ]; do
    p=$(free_port) || { echo "no free port"; exit 1; }
    case " ${ports[*]:-} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
PORT=${ports[0]} CPORT=${ports[1]} MPORT=${ports[2]} HP=${ports[3]} BPORT=${ports[4]} BMPORT=${ports[5]}
LBCTL_ADDR=127.0.0.42@$CPORT
PAGE=http://127.0.0.42:$MPORT/
INTERVAL=2 # http-interval: a killed site is down at its next check (dead-after 1)

start_fixture --listen 127.0.0.11:$HP --listen 127.0.0.12:$HP --control 127.0.0.1:0 || exit 1
fx "/set?addr=127.0.0.12&port=$HP&delay_ms=30" >/dev/null
# A service name with markup in it (a label may hold any byte): the page must
# show it as text.
cat >"$TMP/dnslb.conf" <<CONF
server:
    listen: 127.0.0.42@$PORT
    id: lb42
$(lb_control_keys)
    control: 127.0.0.42@$CPORT
    metrics: 127.0.0.42@$MPORT
    metrics-allow: 127.0.0.1/32
    pidfile: $TMP/dnslb.pid
probe:
    http-interval: $INTERVAL
    icmp-interval: 1
    timeout: 1
    ewma-constant: 5
    dead-after: 1
    alive-after: 1
service:
    name: www.foobar.example.
    site: a 127.0.0.11 check=http://127.0.0.11:$HP/probe
    site: b 127.0.0.12 check=http://127.0.0.12:$HP/probe
service:
    name: x<img\032src=x\032onerror=alert(1)>.example.
    site: c 127.0.0.11 check=http://127.0.0.11:$HP/probe
CONF
start_dnslb "$TMP/dnslb.conf" "$TMP/dnslb.log" || exit 1
wait_dns 127.0.0.42 "$PORT" lb42.www.foobar.example || exit 1

# The JSON the page reads, and the listener's rules on the new paths.
# get URL [SOURCE]: "STATUS CONTENT-TYPE CSP" then the body; "closed" when
# the server closes without an answer.
get() { python3 - "$@" <<'PY'
import http.client, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
src = (sys.argv[2], 0) if len(sys.argv) > 2 else None
try:
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=5, source_address=src)
    c.request("GET", u.path + ("?" + u.query if u.query else ""))
    r = c.getresponse()
    print(r.status, r.getheader("Content-Type"), r.getheader("Content-Security-Policy"))
    sys.stdout.write(r.read().decode())
except (ConnectionError, http.client.RemoteDisconnected):
    print("closed")
PY
}
check "dnslb: / is the page, HTML, with a CSP of its own origin only" "$(get "$PAGE" | head -n 1)" \
    "^200 text/html; charset=utf-8 default-src 'none'; script-src 'unsafe-inline';.* connect-src 'self'"
check "dnslb: the page refers to nothing outside itself" "$(get "$PAGE" | grep -Eic '(src|href)="(https?:)?//|@import|url\(' )" '^0$'
check "dnslb: /status.json parses, names escaped" \
    "$(get "http://127.0.0.42:$MPORT/status.json" | tail -n +2 | python3 -c 'import json,sys; d=json.load(sys.stdin); print([s["name"] for s in d["services"]])')" \
    "'www.foobar.example.', 'x<img"
check_eq "dnslb: /nothing 404" "$(get "http://127.0.0.42:$MPORT/nothing" | head -n 1 | cut -d' ' -f1)" 404
check "dnslb: the page from a source outside metrics-allow: refused" \
    "$(get "$PAGE" 127.0.0.2 2>&1 | head -n 1)" '^(closed|403)$'

both_up() { [ "$(site_field www.foobar.example. a 4)" = alive ] && [ "$(site_field www.foobar.example. b 4)" = alive ]; }
wait_until 10 both_up || not_ok "sites a and b alive within 10 s"

# The page in Chromium: the rows and the plots drawn (a path of at least two
# points per site: two history steps of 10 s), then b killed (its fixture
# resets every connection) and b's row red within one check interval (plus
# the page's one-second refresh and the jitter of 5 %), a screenshot.
# cdp.py times the wait from the moment the --run command returns.
ROW='document.querySelector("tr.site[data-site=\"b\"]")'
PATHS='document.querySelectorAll("section[data-service=\"www.foobar.example.\"] svg[data-plot=\"latency\"] path.series")'
DOWNBAR='document.querySelector("section[data-service=\"www.foobar.example.\"] svg[data-plot=\"state\"] rect[data-state=\"down\"]")'
ANSWER='document.querySelector("section[data-service=\"www.foobar.example.\"] .answer")'
RED="$ROW && $ROW.getAttribute(\"data-state\") === \"down\" && getComputedStyle($ROW.querySelector(\".state\")).backgroundColor === \"rgb(207, 34, 46)\""
cdp --url "$PAGE" --timeout 40 \
    --wait "rows=document.querySelectorAll(\"tr.site\").length === 3 && $ROW.getAttribute(\"data-state\") === \"up\"" \
    --wait "plot=$PATHS.length === 2 && Array.from($PATHS).every(function (p) { return (p.getAttribute(\"d\").match(/[ML]/g) || []).length >= 2; })" \
    --eval "upcolor=getComputedStyle($ROW.querySelector(\".state\")).backgroundColor" \
    --eval "points=Array.from($PATHS).map(function (p) { return p.getAttribute(\"d\").split(\" \").length; })" \
    --screenshot "$ART/t-status-page-dnslb-up.png" \
    --run "curl -sS --max-time 5 'http://$FIXTURE_CTL/set?addr=127.0.0.12&port=$HP&mode=reset' >/dev/null" \
    --wait "red=$RED" \
    --eval "answer=$ANSWER.textContent" \
    --eval "whyb=$ROW.textContent" \
    --eval "hostile=document.querySelectorAll(\"img\").length + \" \" + Array.from(document.querySelectorAll(\"h2\")).map(function (h) { return h.textContent; }).join(\"|\")" \
    --wait "statebar=$DOWNBAR" \
    --screenshot "$ART/t-status-page-dnslb.png" >"$TMP/cdp1" 2>&1
cat "$TMP/cdp1" | sed 's/^/# /'
check "dnslb page: the sites' rows, b up (green)" "$(field rows "$TMP/cdp1")" '^ok '
check_eq "dnslb page: up is green" "$(field upcolor "$TMP/cdp1")" '"rgb(26, 127, 55)"'
check "dnslb page: latency plotted, a path of points per site" "$(field plot "$TMP/cdp1")" '^ok '
check "dnslb page: b killed: red within one check interval" "$(field red "$TMP/cdp1")" '^ok '
red=$(field red "$TMP/cdp1" | awk '{print $2}')
# the next check comes within the interval (+5 % jitter), the page reads it
# within its 1 s refresh; 1 s more for a loaded machine
limit=$(python3 -c "print($INTERVAL * 1.05 + 2)")
if [ -n "$red" ] && python3 -c "import sys; sys.exit(0 if $red <= $limit else 1)"; then
    ok "dnslb page: red after ${red}s (interval ${INTERVAL}s, page refresh 1 s, slack 1 s: at most ${limit}s)"
else
    not_ok "dnslb page: red after ${red:-never}s, more than ${limit}s"
fi
check "dnslb page: and b's down plotted in the state history (a red bar)" "$(field statebar "$TMP/cdp1")" '^ok '
check "dnslb page: the answer set is a alone, and why" "$(field answer "$TMP/cdp1")" '^"Answer set: a \(best score\)"$'
check "dnslb page: b out, why: down" "$(field whyb "$TMP/cdp1")" 'outdown'
check "dnslb page: markup in a name is text (no img element)" "$(field hostile "$TMP/cdp1")" '^"0 .*x<img'
check_eq "dnslb page: no console error, exception or failed request" "$(field errors "$TMP/cdp1")" 0
[ -s "$ART/t-status-page-dnslb.png" ] && ok "dnslb page: screenshot kept ($ART/t-status-page-dnslb.png)" ||
    not_ok "dnslb page: screenshot kept"
check_eq "dnslb: DNS answers a alone" \
    "$(dig +norec +short +time=2 +tries=1 -p "$PORT" @127.0.0.42 lb42.www.foobar.example A)" 127.0.0.11

# --- dnsb: the registered DNS-LBs and the lookup form
cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.1@$BPORT
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    pidfile: $TMP/dnsb.pid
    metrics: 127.0.0.1@$BMPORT
    metrics-allow: 127.0.0.1/32
service:
    name: www.foobar.example.
    site: paris 192.0.2.10 weight=2
    site: tokyo 192.0.2.20
lb:
    id: lb42
    address: 127.0.0.42
    resolver: 198.51.100.0/24
CONF
start_dnsb "$TMP/dnsb.conf"
wait_dns 127.0.0.1 "$BPORT" glb.example.net || exit 1
BPAGE=http://127.0.0.1:$BMPORT/status
check "dnsb: /lookup.json: the DNS-LB of a mapped address" \
    "$(get "http://127.0.0.1:$BMPORT/lookup.json?addr=198.51.100.7" | tail -n +2)" '"ok":true,.*"lb: lb42 static'
check_eq "dnsb: /lookup.json without addr: 400" "$(get "http://127.0.0.1:$BMPORT/lookup.json" | head -n 1 | cut -d' ' -f1)" 400
check "dnsb: /lookup.json of a bad address: not ok, the usage" \
    "$(get "http://127.0.0.1:$BMPORT/lookup.json?addr=%3Cb%3E" | tail -n +2)" '"ok":false,"lines":\["usage: lookup'
cdp --url "$BPAGE" --timeout 20 \
    --wait "lbs=document.getElementById(\"lbs\") && /lb42 +static/.test(document.getElementById(\"lbs\").textContent)" \
    --type '#lookup input=198.51.100.7' --submit '#lookup' \
    --wait "lookup=/^lb: lb42 static/m.test(document.getElementById(\"lookup-result\").textContent)" \
    --eval "result=document.getElementById(\"lookup-result\").textContent" \
    --type '#lookup input=<i>203.0.113.9' --submit '#lookup' \
    --wait "bad=document.getElementById(\"lookup-result\").getAttribute(\"data-ok\") === \"0\"" \
    --eval "markup=document.querySelectorAll(\"#lookup-result *\").length" \
    --type '#lookup input=203.0.113.9' --submit '#lookup' \
    --wait "failopen=/fail-open/.test(document.getElementById(\"lookup-result\").textContent)" \
    --screenshot "$ART/t-status-page-dnsb.png" >"$TMP/cdp2" 2>&1
cat "$TMP/cdp2" | sed 's/^/# /'
check "dnsb page: the registered DNS-LBs" "$(field lbs "$TMP/cdp2")" '^ok '
check "dnsb page: the form says where 198.51.100.7 goes" "$(field lookup "$TMP/cdp2")" '^ok '
check "dnsb page: and why (the mapping)" "$(field result "$TMP/cdp2")" 'mapping: 198\.51\.100\.0/24'
check "dnsb page: a bad address refused" "$(field bad "$TMP/cdp2")" '^ok '
check_eq "dnsb page: markup typed in comes back as text" "$(field markup "$TMP/cdp2")" 0
check "dnsb page: an unmapped address: fail-open" "$(field failopen "$TMP/cdp2")" '^ok '
check_eq "dnsb page: no console error, exception or failed request" "$(field errors "$TMP/cdp2")" 0

kill -0 "$DNSB_PID" 2>/dev/null && kill -0 "$DNSLB_PID" 2>/dev/null && ok "both daemons still running" ||
    not_ok "both daemons still running"
stop_pid "$DNSB_PID"
stop_pid "$DNSLB_PID"
check_not "no sanitizer report in the daemons' logs" "$(cat "$TMP/dnsb.log" "$TMP/dnslb.log")" \
    'AddressSanitizer|LeakSanitizer|runtime error'
finish

#!/usr/bin/env bash
# glb-cert-setup (issue 14): the certificates it makes work with the daemons
# as they are: dnslb registers with dnsb over the map protocol with its
# lb-ID certificate, dnsb-control and dnslb-control work over TLS with the
# control certificates (the client ones, and the daemons' own through -c),
# a certificate of the other CA cannot control; a second run changes
# nothing, a missing certificate is made again from its key, -f makes new
# keys; key modes.
#
#   127.0.0.1   dnsb: DNS on PORT, map on MPORT, dnsb-control on CPORT
#   127.0.0.42  dnslb: DNS on LPORT, dnslb-control on LCPORT
. "$(dirname "$0")/lib.sh"

for t in dig openssl sha256sum; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
SETUP=$BUILDDIR/glb-cert-setup
[ -x "$SETUP" ] && [ -x "$DNSB" ] && [ -x "$DNSLB" ] || { echo "not built in $BUILDDIR"; exit 77; }
free_ports 5 || { echo "no free port"; exit 1; }
PORT=${FREE_PORTS[0]} MPORT=${FREE_PORTS[1]} CPORT=${FREE_PORTS[2]} LPORT=${FREE_PORTS[3]} LCPORT=${FREE_PORTS[4]}
D=$TMP/etc
# The state of every file: content and modification time.
snapshot() { (cd "$D" && for f in *; do printf '%s %s\n' "$(sha256sum <"$f")" "$(stat -c '%Y.%y %a' "$f")"; done); }

# --- 1. the files, their modes, a second run
out=$("$SETUP" -d "$D" -b b1 -a 127.0.0.1 -a ::1 -l lb42 -D 30 2>&1)
check_eq "first run: exit 0" "$?" 0
check "first run: says what it made" "$out" "^glb-cert-setup: made in $D: ca.key ca.pem dnsb.key dnsb.pem lb-lb42.key"
check "first run: prints the configuration lines" "$out" "control-ca-file: $D/control-ca.pem"
want="ca control-ca dnsb dnsb-control dnsb-control-server dnslb-control dnslb-control-server lb-lb42"
got=$(cd "$D" && ls *.pem | sed 's/\.pem$//' | LC_ALL=C sort | tr '\n' ' ')
check_eq "the certificates" "$got" "$want"
got=$(cd "$D" && ls *.key | sed 's/\.key$//' | LC_ALL=C sort | tr '\n' ' ')
check_eq "a key for each" "$got" "$want"
check_eq "keys are 0600 (no daemon user given, none named glb)" \
    "$(if getent passwd glb >/dev/null; then echo 0600; else stat -c %a "$D"/*.key | sort -u; fi)" 600
check_eq "certificates are 0644" "$(stat -c %a "$D"/*.pem | sort -u)" 644
san=$(openssl x509 -in "$D/dnsb.pem" -noout -ext subjectAltName 2>&1)
check "dnsb.pem: the map addresses in subjectAltName" "$san" "IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
check "dnsb.pem: CN b1" "$(openssl x509 -in "$D/dnsb.pem" -noout -subject)" "CN ?= ?b1$"
check "lb-lb42.pem: CN lb42, issued by the map CA" "$(openssl x509 -in "$D/lb-lb42.pem" -noout -subject -issuer)" \
    "issuer=CN ?= ?glb-map-ca"
check "dnsb-control.pem: client use only" "$(openssl x509 -in "$D/dnsb-control.pem" -noout -ext extendedKeyUsage)" \
    "^ +TLS Web Client Authentication$"
openssl x509 -in "$D/dnsb.pem" -noout -checkend $((29 * 86400)) >/dev/null &&
    ! openssl x509 -in "$D/dnsb.pem" -noout -checkend $((31 * 86400)) >/dev/null &&
    ok "-D 30: valid 30 days" || not_ok "-D 30: not valid 30 days: $(openssl x509 -in "$D/dnsb.pem" -noout -dates)"
s0=$(snapshot)
sleep 1.1 # a file made again would show in its modification time
out=$("$SETUP" -d "$D" -b b1 -a 127.0.0.1 -a ::1 -l lb42 -D 30 2>&1)
check_eq "second run: exit 0" "$?" 0
check "second run: nothing made" "$out" "^glb-cert-setup: $D is complete, nothing made$"
check_eq "second run: no file changed (content, time, mode)" "$(snapshot)" "$s0"
keysum=$(sha256sum <"$D/dnslb-control.key")
rm "$D/dnslb-control.pem"
out=$("$SETUP" -q -d "$D" 2>&1)
check_eq "a missing certificate: made again, quietly" "$out" ""
check_eq "... from the key that was there" "$(sha256sum <"$D/dnslb-control.key")" "$keysum"
check "... and the key fits it" "$(openssl x509 -in "$D/dnslb-control.pem" -noout -pubkey | sha256sum) $(openssl pkey -in "$D/dnslb-control.key" -pubout | sha256sum)" \
    '^([0-9a-f]+)  - \1  -$'
dnsbsum=$(sha256sum <"$D/dnsb.pem")
rm "$D/control-ca.key" "$D/control-ca.pem"
"$SETUP" -q -d "$D"
check_eq "a new control CA: what it signs is made again and chains to it" \
    "$(openssl verify -CAfile "$D/control-ca.pem" "$D"/dnsb-control*.pem "$D"/dnslb-control*.pem 2>&1 | grep -c ': OK$')" 4
check_eq "... the map CA's certificates stay" "$(sha256sum <"$D/dnsb.pem")" "$dnsbsum"
out=$("$SETUP" -q -d "$D" -l Bad_Id 2>&1)
check "a bad DNS-LB id: refused" "$?:$out" "^1:glb-cert-setup: bad DNS-LB id 'Bad_Id'"
out=$("$SETUP" -q -d "$D" -l dnsb-control 2>&1)
check "a DNS-LB id that could control: refused" "$?:$out" "^1:glb-cert-setup: DNS-LB id 'dnsb-control' is taken"
if getent passwd nobody >/dev/null && [ "$(id -u)" = 0 ]; then
    cp -a "$D" "$TMP/etc-u"
    "$SETUP" -q -d "$TMP/etc-u" -u nobody
    check_eq "-u: the daemons' keys are root:GROUP 0640" "$(stat -c '%U:%G %a' "$TMP/etc-u/dnsb.key")" "root:$(id -gn nobody) 640"
    check_eq "-u: the CA and client keys stay 0600" "$(stat -c '%a' "$TMP/etc-u/ca.key" "$TMP/etc-u/dnsb-control.key" | sort -u)" 600
fi

# --- 2. the daemons with these files
cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    control: 127.0.0.1@$CPORT
    control-cert-file: $D/dnsb-control-server.pem
    control-key-file: $D/dnsb-control-server.key
    control-ca-file: $D/control-ca.pem
map:
    listen: 127.0.0.1@$MPORT
    tls-cert-file: $D/dnsb.pem
    tls-key-file: $D/dnsb.key
    tls-ca-file: $D/ca.pem
    allow: lb42 127.0.0.0/8
service:
    name: www.foobar.example.
    site: paris 192.0.2.10
CONF
cat >"$TMP/dnslb.conf" <<CONF
server:
    listen: 127.0.0.42@$LPORT
    id: lb42
    control: 127.0.0.42@$LCPORT
    control-cert-file: $D/dnslb-control-server.pem
    control-key-file: $D/dnslb-control-server.key
    control-ca-file: $D/control-ca.pem
dnsb:
    map-server: 127.0.0.1@$MPORT
    tls-cert-file: $D/lb-lb42.pem
    tls-key-file: $D/lb-lb42.key
    tls-ca-file: $D/ca.pem
    refresh: 5
CONF
start_dnsb "$TMP/dnsb.conf"
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
LBCTL_ADDR=127.0.0.42@$LCPORT
start_dnslb "$TMP/dnslb.conf" || exit 1
bctl() { "$BUILDDIR/dnsb/dnsb-control" -t 5 "$@" 2>&1; }
registered() { bctl -c "$TMP/dnsb.conf" list-lbs | grep -Eq '^lb42 +dynamic '; }
if wait_until 15 registered; then ok "dnslb (lb-lb42.pem) registered with dnsb (dnsb.pem) (${WAITED}s)"
else not_ok "dnslb did not register: $(bctl -c "$TMP/dnsb.conf" list-lbs) $(tail -n 5 "$TMP/dnslb.log")"; fi
check "dnslb-control map: the session is up" "$(lbctl map 2>&1)" "^map-server 127\.0\.0\.1@$MPORT: .*established"
check "dnsb-control with the client certificate" \
    "$(bctl -s "127.0.0.1@$CPORT" -C "$D/dnsb-control.pem" -K "$D/dnsb-control.key" -A "$D/control-ca.pem" status)" "^version"
check "dnsb-control -c dnsb.conf (the server's own certificate)" "$(bctl -c "$TMP/dnsb.conf" status)" "^version"
check "dnslb-control with the client certificate" \
    "$("$DNSLB_CONTROL" -s "$LBCTL_ADDR" -C "$D/dnslb-control.pem" -K "$D/dnslb-control.key" -A "$D/control-ca.pem" status 2>&1)" "^id: lb42$"
check "dnslb-control -c dnslb.conf" "$(lbctl status 2>&1)" "^id: lb42$"
out=$(bctl -s "127.0.0.1@$CPORT" -C "$D/lb-lb42.pem" -K "$D/lb-lb42.key" -A "$D/control-ca.pem" status)
check "the DNS-LB's certificate (map CA) cannot control dnsb" "$?:$out" "^1:.*refused"
out=$(bctl -s "127.0.0.1@$CPORT" -C "$D/dnslb-control.pem" -K "$D/dnslb-control.key" -A "$D/control-ca.pem" status)
# (refused after the handshake: the server closes, the client sees no answer)
check "dnslb-control's certificate (another CN) cannot control dnsb" "$?:$out" "^[12]:(.*refused|no complete answer)"
check "dnsb logged why" "$(cat "$TMP/dnsb.log")" "control: refused .*certificate CN 'dnslb-control' may not control"

# --- 3. -f: new keys; the daemons' old ones no longer fit
"$SETUP" -q -f -d "$D"
check_not "-f: a new key" "$(sha256sum <"$D/dnslb-control.key")" "^${keysum%% *}"
out=$(bctl -c "$TMP/dnsb.conf" status)
check "-f: the new client certificate is not trusted by the running dnsb (new CA)" "$?:$out" "^[12]:"
finish

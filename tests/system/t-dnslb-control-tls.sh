#!/usr/bin/env bash
# dnslb's control channel has dnsb's protection (issue 14): TLS with a
# verified client certificate whose CN control-allow (default: the server
# certificate's own) admits. Refused: a plain request, TLS without a client
# certificate, a certificate of another CA, one of the CA with another CN;
# accepted: the client certificate, and another CN once control-allow names
# it (after a SIGHUP). Without certificates there is no channel; the plain
# one (control-use-cert: no) is loopback only.
#
#   127.0.0.42  dnslb: DNS on PORT, dnslb-control on CPORT
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/certs.sh"

for t in dig openssl python3; do
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
[ -x "$DNSLB" ] && [ -x "$DNSLB_CONTROL" ] && [ -x "$BUILDDIR/glb-cert-setup" ] || { echo "not built in $BUILDDIR"; exit 77; }
free_ports 2 || { echo "no free port"; exit 1; }
PORT=${FREE_PORTS[0]} CPORT=${FREE_PORTS[1]}
D=$TMP/ctl
"$BUILDDIR/glb-cert-setup" -q -d "$D" || { echo "glb-cert-setup failed"; exit 1; }
# Another CA's certificate with the allowed CN.
make_ca "$TMP" otherca && make_cert "$TMP" otherca dnslb-control || { echo "openssl cannot make certificates"; exit 77; }

write_conf() { # write_conf [extra server: lines]
    cat >"$TMP/dnslb.conf" <<CONF
server:
    listen: 127.0.0.42@$PORT
    id: lb42
    control: 127.0.0.42@$CPORT
$(lb_control_keys)
${1:-}
service:
    name: www.foobar.example.
    site: paris 127.0.0.11
CONF
}
write_conf
LOG=$TMP/dnslb.log
LBCTL_ADDR=127.0.0.42@$CPORT
start_dnslb "$TMP/dnslb.conf" "$LOG" || exit 1
# ask CERT KEY CA: dnslb-control status with these files; "RC:OUTPUT".
ask() { local out; out=$("$DNSLB_CONTROL" -s "$LBCTL_ADDR" -C "$1" -K "$2" -A "$3" -t 5 status 2>&1); echo "$?:$out"; }

check "the client certificate: served" "$(ask "$D/dnslb-control.pem" "$D/dnslb-control.key" "$D/control-ca.pem")" \
    "^0:version"
check "-c dnslb.conf: served" "$(lbctl status 2>&1)" "^id: lb42$"
check "another CA's certificate, same CN: refused" \
    "$(ask "$TMP/dnslb-control.pem" "$TMP/dnslb-control.key" "$D/control-ca.pem")" "^1:.*refused"
# (refused after the handshake: the server closes, the client sees no answer)
check "the CA's certificate with another CN: refused" \
    "$(ask "$D/dnsb-control.pem" "$D/dnsb-control.key" "$D/control-ca.pem")" "^[12]:(.*refused|no complete answer)"
check "the refusal logged with the CN" "$(cat "$LOG")" "control: refused .*certificate CN 'dnsb-control' may not control"
out=$("$DNSLB_CONTROL" -s "$LBCTL_ADDR" -t 5 status 2>&1)
check "no certificate at all: dnslb-control will not ask" "$?:$out" "^2:dnslb-control: no client certificate"
# The request line in the clear, then TLS without a client certificate: no answer.
plain=$(python3 - 127.0.0.42 "$CPORT" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"glb-control 1 status\n")
data = b""
try:
    while len(data) < 4096:
        b = s.recv(4096)
        if not b:
            break
        data += b
except OSError:
    pass
print(repr(data[:40]))
PY
)
check_not "a plain request: no answer" "$plain" "ok|version"
nocert=$(printf 'glb-control 1 status\n' | timeout 10 openssl s_client -quiet -connect "127.0.0.42:$CPORT" \
    -CAfile "$D/control-ca.pem" -tls1_3 2>&1)
check_not "TLS without a client certificate: no answer" "$nocert" "^(ok|version)"
check "... the server alerts: certificate required" "$nocert" "alert certificate required|alert handshake failure"
check "the channel counts the refusals" "$(lbctl stats)" "^control\.refused=[1-9]"

# control-allow, put in force by a reload
write_conf "    control-allow: dnsb-control"
kill -HUP "$DNSLB_PID"
wait_for_log "$LOG" "reloaded " || not_ok "no reload"
check "control-allow: dnsb-control: its certificate is served now" \
    "$(ask "$D/dnsb-control.pem" "$D/dnsb-control.key" "$D/control-ca.pem")" "^0:version"
check "... and the server certificate's own CN no longer" \
    "$(ask "$D/dnslb-control.pem" "$D/dnslb-control.key" "$D/control-ca.pem")" "^[12]:(.*refused|no complete answer)"
stop_pid "$DNSLB_PID"

# No certificates: no channel (and dnslb-control says why); an explicit
# control: without them is an error; plain only on loopback.
printf 'server:\n    listen: 127.0.0.42@%s\n    id: lb42\n' "$PORT" >"$TMP/none.conf"
"$DNSLB" -d -c "$TMP/none.conf" >"$TMP/none.log" 2>&1 &
pid=$!
PIDS+=("$pid")
wait_for_log "$TMP/none.log" "control: off" && ok "no certificates: dnslb starts without a control channel" ||
    not_ok "no certificates: $(cat "$TMP/none.log")"
out=$("$DNSLB_CONTROL" -c "$TMP/none.conf" -t 5 status 2>&1)
check "... dnslb-control -c says there is none" "$?:$out" "^2:dnslb-control: .*none\.conf: dnslb has no control channel"
stop_pid "$pid"
printf 'server:\n    listen: 127.0.0.42@%s\n    id: lb42\n    control: 127.0.0.42@%s\n' "$PORT" "$CPORT" >"$TMP/bad.conf"
out=$("$DNSLB" -t -c "$TMP/bad.conf" 2>&1)
check "control: without certificates: refused, FILE:LINE and key" "$?:$out" \
    "^1:dnslb: .*bad\.conf:4: key 'control': needs control-cert-file, control-key-file and control-ca-file"
printf '    control-use-cert: no\n' >>"$TMP/bad.conf"
out=$("$DNSLB" -t -c "$TMP/bad.conf" 2>&1)
check "control-use-cert: no on loopback: accepted" "$?:$out" "^0:.*: ok"
sed -i 's/control: 127.0.0.42@/control: 0.0.0.0@/' "$TMP/bad.conf"
out=$("$DNSLB" -t -c "$TMP/bad.conf" 2>&1)
check "control-use-cert: no elsewhere: refused" "$?:$out" \
    "^1:dnslb: .*bad\.conf:4: key 'control': must be a loopback address with control-use-cert: no"
finish

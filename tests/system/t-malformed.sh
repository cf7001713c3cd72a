#!/usr/bin/env bash
# Malformed queries get FORMERR/NOTIMP/BADVERS or are dropped, as the RFCs
# say, over UDP and TCP; the server keeps serving afterwards.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    workers: 2
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
service:
    name: www.foobar.example.
    site: paris 192.0.2.10
CONF
start_dnsb "$TMP/dnsb.conf"
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1

out=$(python3 "$SRCDIR/tests/system/malformed.py" 127.0.0.1 "$PORT" "$SRCDIR/tests/unit/data/malformed" 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] && ok "malformed corpus over UDP" || not_ok "malformed corpus over UDP"

# Over TCP: a frame that claims more than it sends, then closes; a zero-length frame.
python3 - "$PORT" <<'PY'
import socket, struct, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=2)
s.sendall(struct.pack("!H", 500) + b"\x12\x34\x01\x00")
s.close()
s = socket.create_connection(("127.0.0.1", port), timeout=2)
s.sendall(struct.pack("!H", 0))
try:
    print("zero-length frame:", "closed" if s.recv(10) == b"" else "answered")
except socket.timeout:
    print("zero-length frame: open")
PY

out=$(dig +norec +time=2 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1)
check "still serving over UDP" "$out" 'status: NOERROR'
out=$(dig +tcp +norec +time=2 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1)
check "still serving over TCP" "$out" 'status: NOERROR'
kill -0 "$DNSB_PID" && ok "dnsb alive" || not_ok "dnsb died"
finish

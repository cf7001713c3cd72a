#!/usr/bin/env bash
# Malformed queries get FORMERR/NOTIMP/BADVERS or are dropped, as the RFCs
# say, over UDP; over TCP a frame too short for a DNS header closes the
# connection at once; the server keeps serving afterwards.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    workers: 2
    rrl-ratelimit: 0    # 3000 junk queries from one address; t-rrl tests the limit
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

# Over TCP (RFC 1035 4.2.2 framing, RFC 7766): a frame that claims more than
# it sends, then closes; then frames too short for a DNS header. Such a
# frame has no message ID to answer (not even FORMERR), and the stream
# cannot be trusted after it, so the server closes the connection at once
# (shared/server_tcp.c), neither answering nor waiting for tcp-idle-timeout.
# A query answered before it on the same connection is not affected.
tcp=$(timeout 20 python3 - "$PORT" <<'PY'
import socket, struct, sys, time
port = int(sys.argv[1])
# A DNS query for www.foobar.example A, ID 0x4242.
q = bytes.fromhex("424200000001000000000000") + b"\x03www\x07foobar\x07example\x00" + b"\x00\x01\x00\x01"

def outcome(s):
    """What follows on s: the IDs answered, then closed / open (2 s silence)."""
    buf, ids, t0 = b"", [], time.time()
    s.settimeout(2)
    try:
        while True:
            d = s.recv(4096)
            if not d:
                return "%s closed after %.1fs" % (",".join(ids) or "nothing-answered", time.time() - t0)
            buf += d
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                ids.append("answered-%04x" % struct.unpack("!H", buf[2:4])[0])
                buf = buf[2 + n:]
    except socket.timeout:
        return "%s open" % (",".join(ids) or "nothing-answered")
    except ConnectionResetError:
        return "%s closed (reset) after %.1fs" % (",".join(ids) or "nothing-answered", time.time() - t0)

s = socket.create_connection(("127.0.0.1", port), timeout=2)
s.sendall(struct.pack("!H", 500) + b"\x12\x34\x01\x00")
s.close()
for label, frames in (
        ("zero-length frame", struct.pack("!H", 0)),
        ("11-byte frame", struct.pack("!H", 11) + bytes(11)),
        ("query and zero-length frame at once", struct.pack("!H", len(q)) + q + struct.pack("!H", 0))):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(frames)
    print("%s: %s" % (label, outcome(s)))
    s.close()
# A query answered, then, on the same connection, a zero-length frame.
s = socket.create_connection(("127.0.0.1", port), timeout=2)
s.sendall(struct.pack("!H", len(q)) + q)
n = struct.unpack("!H", s.recv(2))[0]
first = "answered-%04x" % struct.unpack("!H", s.recv(n)[:2])[0]
s.sendall(struct.pack("!H", 0))
print("query, its answer, then zero-length frame: %s, then %s" % (first, outcome(s)))
PY
)
echo "$tcp" | sed 's/^/# /'
check "TCP zero-length frame: connection closed at once, nothing answered" "$tcp" \
    "^zero-length frame: nothing-answered closed after 0\.[0-9]s$"
check "TCP frame shorter than a DNS header: closed at once, nothing answered" "$tcp" \
    "^11-byte frame: nothing-answered closed after 0\.[0-9]s$"
check "TCP: a query answered, then a zero-length frame on that connection: closed at once" "$tcp" \
    "^query, its answer, then zero-length frame: answered-4242, then nothing-answered closed after 0\.[0-9]s$"
# Sent in one segment, the query's answer, not yet written, goes with the
# connection (seen: nothing answered); RFC 7766 does not ask for more, the
# connection is closed either way.
check "TCP: a query and a zero-length frame at once: closed at once" "$tcp" \
    "^query and zero-length frame at once: (answered-4242 |nothing-answered )?closed after 0\.[0-9]s$"

out=$(dig +norec +time=2 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1)
check "still serving over UDP" "$out" 'status: NOERROR'
out=$(dig +tcp +norec +time=2 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1)
check "still serving over TCP" "$out" 'status: NOERROR'
kill -0 "$DNSB_PID" && ok "dnsb alive" || not_ok "dnsb died"
finish

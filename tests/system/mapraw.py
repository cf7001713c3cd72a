#!/usr/bin/env python3
"""A raw map-protocol peer for system tests (proto/PROTOCOL.md), written from
the specification and independent of the C codec: it speaks TLS 1.3 with a
client certificate, sends HELLO and REGISTER (or deliberately broken frames)
and prints what the DNS-B answers, one line per message:

  hello id=b1 whoami=whoami.glb.example.net. keepalive=40
  ack seq=5 lifetime=900 accepted=127.0.0.1/32 rejected=not-allowed:10.0.0.1/32
  services serial=... kind=full services=www.foobar.example.
  error code=2 text=...
  closed

Usage: mapraw.py --server 127.0.0.1@5380 --cert C --key K --ca CA [--id ID]
       [--seq N] [--lifetime S] [--dns ADDR]... [--claim PREFIX]...
       [--bad version|oversize|truncated|type|garbage-after-hello|silent|
              half-close|half-reset|half-silent]

half-*: after HELLO, the first half of the REGISTER frame, then the peer
vanishes: closes the TCP connection without TLS close_notify (half-close),
resets it (half-reset), or sends nothing more and waits for the server to
close (half-silent; prints "closed" then).
"""
import argparse
import ipaddress
import socket
import ssl
import struct
import sys
import time

HELLO, REGISTER, ACK, SERVICES, RANKING, METRICS, KEEPALIVE, BYE, ERROR = range(1, 10)
REJECT = {1: "not-allowed", 2: "too-many", 3: "bad-prefix", 4: "duplicate", 5: "stale", 6: "bad-address"}


def tlv(tag, value):
    return struct.pack(">HI", tag, len(value)) + value


def frame(mtype, payload, version=1):
    return struct.pack(">BBHI", version, mtype, 0, len(payload)) + payload


def name_wire(text):
    out = b""
    for label in text.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def addr_value(text):
    a = ipaddress.ip_address(text)
    return bytes([a.version, 0, 0]) + a.packed


def claim_value(text, kind=1):
    n = ipaddress.ip_network(text, strict=True)
    nbytes = (n.prefixlen + 7) // 8
    return bytes([kind, n.version, n.prefixlen]) + n.network_address.packed[:nbytes]


def fields(payload):
    out, i = [], 0
    while i + 6 <= len(payload):
        tag, ln = struct.unpack(">HI", payload[i:i + 6])
        out.append((tag & 0x7FFF, payload[i + 6:i + 6 + ln]))
        i += 6 + ln
    return out


def name_text(v):
    labels, i = [], 0
    while i < len(v) and v[i]:
        labels.append(v[i + 1:i + 1 + v[i]].decode())
        i += 1 + v[i]
    return ".".join(labels) + "."


def claim_text(v):
    fam, ln = v[1], v[2]
    raw = v[3:] + bytes(16)
    a = ipaddress.ip_address(raw[:4] if fam == 4 else raw[:16])
    return f"{a}/{ln}"


def describe(mtype, payload):
    f = fields(payload)
    if mtype == HELLO:
        d = dict(f)
        return "hello id=%s whoami=%s keepalive=%d" % (
            d.get(3, b"").decode(), name_text(d[5]) if 5 in d else "-",
            struct.unpack(">I", d[6])[0] if 6 in d else 30)
    if mtype == ACK:
        seq = lifetime = 0
        acc, rej = [], []
        for tag, v in f:
            if tag == 1:
                seq = struct.unpack(">Q", v)[0]
            elif tag == 2:
                lifetime = struct.unpack(">I", v)[0]
            elif tag == 3:
                acc.append(claim_text(v))
            elif tag == 4:
                rej.append("%s:%s" % (REJECT.get(v[0], str(v[0])), claim_text(v[1:])))
        return "ack seq=%d lifetime=%d accepted=%s rejected=%s" % (
            seq, lifetime, ",".join(acc) or "-", ",".join(rej) or "-")
    if mtype == SERVICES:
        serial = kind = 0
        names = []
        for tag, v in f:
            if tag == 1:
                serial = struct.unpack(">Q", v)[0]
            elif tag == 2:
                kind = v[0]
            elif tag == 6:
                names += [name_text(sv) for st, sv in fields(v) if st == 1]
        return "services serial=%d kind=%s services=%s" % (
            serial, {1: "full", 2: "delta"}.get(kind, kind), ",".join(names) or "-")
    if mtype == ERROR:
        d = dict(f)
        return "error code=%d text=%s" % (struct.unpack(">H", d[1])[0], d.get(2, b"").decode(errors="replace"))
    if mtype == BYE:
        return "bye reason=%d" % dict(f)[1][0]
    return "message type=%d" % mtype


def read_frames(sock, want_types, limit=16):
    """Prints messages until one of want_types arrives or the server closes."""
    buf = b""
    for _ in range(limit):
        while len(buf) < 8 or len(buf) < 8 + struct.unpack(">I", buf[4:8])[0]:
            try:
                chunk = sock.recv(65536)
            except (ssl.SSLError, OSError):
                chunk = b""
            if not chunk:
                print("closed")
                return None
            buf += chunk
        ln = struct.unpack(">I", buf[4:8])[0]
        mtype, payload, buf = buf[1], buf[8:8 + ln], buf[8 + ln:]
        if mtype == KEEPALIVE:
            continue
        print(describe(mtype, payload), flush=True)
        if mtype in want_types or mtype in (ERROR, BYE):
            return mtype
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--id")
    ap.add_argument("--seq", type=int, default=1)
    ap.add_argument("--lifetime", type=int, default=900)
    ap.add_argument("--dns", action="append", default=[])
    ap.add_argument("--claim", action="append", default=[])
    ap.add_argument("--bad")
    ap.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()

    host, port = a.server.rsplit("@", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.load_verify_locations(a.ca)
    if a.cert:
        ctx.load_cert_chain(a.cert, a.key)
    raw = socket.create_connection((host.strip("[]"), int(port)), timeout=a.timeout)
    try:
        s = ctx.wrap_socket(raw)
        # TLS 1.3: a refused client certificate shows on the first read.
        if a.bad == "version":
            s.sendall(frame(HELLO, b"", version=2))
        elif a.bad == "oversize":
            s.sendall(struct.pack(">BBHI", 1, HELLO, 0, 0x7FFFFFFF))
        elif a.bad == "truncated":
            s.sendall(frame(HELLO, tlv(1, b"\1") + struct.pack(">HI", 3, 60) + b"lb"))
        elif a.bad == "type":
            s.sendall(frame(77, b""))
        hello = tlv(1, b"\1") + tlv(2, b"\1") + tlv(3, a.id.encode()) + tlv(4, struct.pack(">Q", 3))
        if a.bad not in ("version", "oversize", "truncated", "type"):
            s.sendall(frame(HELLO, hello))
            if read_frames(s, (HELLO,)) != HELLO:
                return 0
            if a.bad == "silent":  # says nothing more: the server's keepalives are not answered either
                read_frames(s, ())
                return 0
            if a.bad == "garbage-after-hello":
                s.sendall(frame(REGISTER, tlv(1, a.id.encode()) + tlv(2, b"\0\0")))
            else:
                reg = tlv(1, a.id.encode()) + tlv(2, struct.pack(">Q", a.seq)) + tlv(3, struct.pack(">I", a.lifetime))
                reg += b"".join(tlv(4, addr_value(d)) for d in a.dns)
                reg += b"".join(tlv(6, claim_value(c)) for c in a.claim)
                if a.bad in ("half-close", "half-reset", "half-silent"):
                    f = frame(REGISTER, reg)
                    s.sendall(f[:len(f) // 2])
                    time.sleep(0.1)  # the half on the wire before the end
                    if a.bad == "half-reset":
                        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    if a.bad == "half-silent":
                        read_frames(s, ())
                    raw.close()  # under the TLS layer: no close_notify
                    return 0
                s.sendall(frame(REGISTER, reg))
                if read_frames(s, (ACK,)) != ACK:
                    return 0
                read_frames(s, (SERVICES,))
                s.sendall(frame(BYE, tlv(1, b"\1")))
                return 0
        read_frames(s, ())
    except (ssl.SSLError, ConnectionError, socket.timeout) as e:
        print("tls-refused %s" % e.__class__.__name__)
    return 0


if __name__ == "__main__":
    sys.exit(main())

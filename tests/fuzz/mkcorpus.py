#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/NAME/) from
the unit tests' inputs: the malformed-query corpus and well-formed queries
(dns), the example and demo configurations and the unit tests' (conf), the
whoami TXT and resolv.conf cases (whoami), the canned HTTP responses (http),
a registration and a sequence record built from the map corpus (store).
Run from the source tree: python3 tests/fuzz/mkcorpus.py"""
import glob, os, struct

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = os.path.join(top, "tests", "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def qname(n):
    b = b""
    for l in n.strip(".").split("."):
        if l:
            b += bytes([len(l)]) + l.encode()
    return b + b"\0"


def query(name, qtype=1, edns=None, ecs=None, qid=0x1234, flags=0x0100):
    ar = 1 if edns is not None else 0
    m = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, ar) + qname(name) + struct.pack("!HH", qtype, 1)
    if edns is not None:
        opts = b""
        if ecs:
            fam, src, addr = ecs
            opts = struct.pack("!HHHBB", 8, 4 + len(addr), fam, src, 0) + addr
        m += b"\0" + struct.pack("!HHIH", 41, edns, 0, len(opts)) + opts
    return m


# dns: control byte (bit 0 TCP, bits 1-2 server: 0 dnsb, 1 standby, 2 dnslb; bit 3 v6; bits 4-5 source)
for f in sorted(glob.glob(os.path.join(top, "tests/unit/data/malformed/*.hex"))):
    text = open(f).read().splitlines()
    pkt = bytes.fromhex("".join(l for l in text if not l.startswith("#")))
    base = os.path.basename(f)[:-4]
    put("dns", "malformed-%s" % base, b"\x00" + pkt)
    put("dns", "malformed-lb-%s" % base, b"\x04" + pkt)
qs = {
    "www-a": query("www.foobar.example", 1),
    "www-aaaa-edns": query("www.foobar.example", 28, edns=4096),
    "www-ecs4": query("www.foobar.example", 1, edns=1232, ecs=(1, 24, bytes([10, 1, 2]))),
    "www-ecs6": query("www.foobar.example", 28, edns=1232, ecs=(2, 48, bytes.fromhex("20010db8aaaa"))),
    "lb42-a": query("lb42.www.foobar.example", 1),
    "lb42-ns": query("lb42.www.foobar.example", 2, edns=1232),
    "shop-direct": query("shop.svc.glb.example.net", 1, edns=512),
    "media-proxy": query("media.foobar.example", 1),
    "zone-soa": query("glb.example.net", 6),
    "zone-ns": query("glb.example.net", 2, edns=1232),
    "ns-a": query("b1.glb.example.net", 1),
    "whoami": query("x1.whoami.glb.example.net", 16, edns=1232),
    "any": query("www.foobar.example", 255),
    "nx": query("nope.glb.example.net", 1),
    "lb-shop": query("shop.example", 1, edns=1232),
    "lb-apex-soa": query("www.foobar.example", 6),
    "lb-any-label": query("abc.www.foobar.example", 28),
}
for i, (name, q) in enumerate(sorted(qs.items())):
    put("dns", "udp-%s" % name, bytes([(i % 3) << 4]) + q)
    put("dns", "lb-%s" % name, bytes([0x04 | (i % 2) << 3]) + q)
    put("dns", "standby-%s" % name, bytes([0x02]) + q)
stream = b"".join(struct.pack("!H", len(q)) + q for q in (qs["www-a"], qs["www-ecs4"], qs["zone-soa"]))
put("dns", "tcp-stream", b"\x01" + stream)
put("dns", "tcp-stream-lb", b"\x05" + stream)
put("dns", "tcp-stream-v6", b"\x19" + stream + b"\x00")

# conf
for f in ["conf/dnsb.conf.example", "conf/dnslb.conf.example", "conf/demo/dnsb.conf", "conf/demo/dnslb.conf",
          "tests/system/data/dnsb-issue.conf"]:
    p = os.path.join(top, f)
    if os.path.exists(p):
        put("conf", f.replace("/", "_"), open(p, "rb").read())
put("conf", "dnsb-minimal", b"server:\n  listen: 127.0.0.1@5300\n  zone: glb.example.net.\n"
    b"  zone-ns: b1.glb.example.net. 127.0.0.1\n  rrl-ratelimit: 100\n  rrl-slip: 3\n"
    b"service:\n  name: a.example.\n  site: x 192.0.2.1 weight=2 cost=3 location=48.8,2.3\n"
    b"lb:\n  id: lb1\n  address: 127.0.0.2\n  resolver: 10.0.0.0/8\n  ranking: a.example. x\n")
put("conf", "dnslb-minimal", b"server:\n  listen: 127.0.0.42@5300\n  id: lb42\n  location: 48.8,2.3\n"
    b"probe:\n  http-interval: 10\n  loss-penalty: 0.05:0.5 0.1:5\nservice:\n  name: www.foobar.example.\n"
    b"  policy: combined\n  margin: 10%\n  site: paris 192.0.2.10 check=http://192.0.2.10/health\n")
put("conf", "bad-section", b"server:\n  listen: 127.0.0.1\nbogus:\n  x: y\n")

# whoami: control byte even: TXT rdata; odd: resolv.conf (bits 1-2: room - 1)
def txt(*strs):
    return b"".join(bytes([len(s)]) + s.encode() for s in strs)
for i, t in enumerate([("src=192.0.2.53",), ("src=2001:db8::53",), ("ecs=198.51.100.0/24", "src=192.0.2.1"),
                       ("src=192.0.2.1", "ecs=2001:db8:aa::/48"), ("v=2", "src=192.0.2.9", "", "colour=blue"),
                       ("src=192.0.2.1", "src=192.0.2.2"), ("src=192.0.2.1", "ecs=10.0.0.0/33"), ("src=",)]):
    put("whoami", "txt-%d" % i, b"\x00" + txt(*t))
# whoami, control byte with bit 1 set and bit 0 clear: a recursive reply the
# combined box rebuilds for a client (bit 2: over TCP, bit 3: secure).
def rr(owner, rtype, rdata, ttl=60):
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata
reply = struct.pack("!HHHHHH", 0xabcd, 0x8180, 1, 3, 1, 1) + qname("example.com") + struct.pack("!HH", 1, 1) \
    + rr(b"\xc0\x0c", 5, b"\x03www\xc0\x0c") + rr(b"\xc0\x29", 1, bytes([192, 0, 2, 1])) \
    + rr(b"\xc0\x29", 46, b"\x01\x02\x03\x04") \
    + rr(b"\xc0\x0c", 6, qname("ns.example.com") + b"\x05host\xc0\x0c" + struct.pack("!IIIII", 1, 2, 3, 4, 5)) \
    + rr(b"\xc0\x0c", 15, b"\x00\x0a\x02mx\xc0\x0c")
put("whoami", "rec-1", b"\x02" + reply)
put("whoami", "rec-2", b"\x0e" + reply)
put("whoami", "resolv-1", b"\x07# resolv.conf\nnameserver 192.0.2.53\nsearch example\n"
    b"nameserver\t2001:db8::53   # the v6 one\nnameserver 198.51.100.53\r\nnameserver fe80::1%eth0\n"
    b"nameserver not-an-address\nnameserver\nnameservers 203.0.113.1\nnameserver 203.0.113.53")
put("whoami", "resolv-2", b"\x01nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.1\n")

# http: step, max_body (2 bytes), the response
for i, r in enumerate([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
                       b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
                       b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-T: 1\r\n\r\n",
                       b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                       b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
                       b"HTTP/1.0 200\r\nServer: old\r\nX-A_b.c~!#$%&'*+^`|: v\tw\r\n\r\nhello",
                       b"HTTP/1.1 204 No Content\r\n\r\n",
                       b"HTTP/1.1 301 Moved\r\nLocation: /x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1;e=1\r\nx\r\n0\r\n\r\n",
                       b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi",
                       b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 100,
                       b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi"]):
    put("http", "resp-%d" % i, bytes([0]) + struct.pack("!H", 4096) + r)
    put("http", "resp-%d-bytewise" % i, bytes([1]) + struct.pack("!H", 64) + r)

# store: kind (even registration, odd sequence), key length, key, value
reg = open(os.path.join(top, "tests/fuzz/corpus/proto/register.bin"), "rb").read()
wd = open(os.path.join(top, "tests/fuzz/corpus/proto/register-withdraw.bin"), "rb").read()
hdr = b"glbr\x01\x00\x00\x00" + struct.pack("!Q", 1796609234151)
put("store", "reg-lb42", b"\x00\x04lb42" + hdr + reg)
put("store", "reg-lb42-withdraw", b"\x00\x04lb42" + hdr + wd)
put("store", "reg-wrong-key", b"\x00\x04lb43" + hdr + reg)
put("store", "reg-version-2", b"\x00\x04lb42" + b"glbr\x02" + hdr[5:] + reg)
put("store", "seq-lb42", b"\x01\x04lb42" + struct.pack("!QQ", 1796609234151, 1796609234000))
put("store", "seq-bad-id", b"\x01\x04LB_1" + struct.pack("!QQ", 1, 2))

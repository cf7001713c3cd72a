#!/usr/bin/env python3
"""Fires the malformed-packet corpus (and random junk) at a DNS server and
checks each reply against the corpus file's '# expect:' line.
Usage: malformed.py ADDR PORT CORPUS_DIR"""
import os
import random
import socket
import struct
import sys

RCODES = {"formerr": 1, "notimp": 4, "badvers": 16}


def rcode_of(reply):
    """Full rcode: header low 4 bits plus the OPT record's extended bits."""
    rcode = reply[3] & 0x0F
    # The OPT record, if any, is the last RR: root owner, type 41.
    i = reply.rfind(b"\x00\x00\x29")
    if i >= 0 and i + 11 <= len(reply):
        rcode |= reply[i + 5] << 4  # owner, type(2), class(2), then EXTENDED-RCODE
    return rcode


def ask(sock, pkt, timeout):
    sock.settimeout(timeout)
    sock.send(pkt)
    try:
        return sock.recv(65535)
    except socket.timeout:
        return None


def main():
    addr, port, corpus = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_DGRAM)
    sock.connect((addr, port))
    failures = 0
    files = sorted(f for f in os.listdir(corpus) if f.endswith(".hex"))
    for name in files:
        text = open(os.path.join(corpus, name)).read().splitlines()
        expect = next(l.split(":", 1)[1].strip() for l in text if l.startswith("# expect:"))
        pkt = bytes.fromhex("".join(l for l in text if not l.startswith("#")))
        reply = ask(sock, pkt, 0.3 if expect == "drop" else 2.0)
        if expect == "drop":
            good = reply is None
            got = "no reply" if good else "a reply"
        else:
            good = reply is not None and len(reply) >= 12 and reply[:2] == pkt[:2] \
                and reply[2] & 0x80 and rcode_of(reply) == RCODES[expect]
            got = "no reply" if reply is None else "rcode %d" % rcode_of(reply)
        print("%s - %s: expect %s, got %s" % ("ok" if good else "not ok", name, expect, got))
        failures += not good
    # Random junk: never a crash, never an answer to a packet with QR set.
    rng = random.Random(7)
    for _ in range(3000):
        n = rng.randrange(0, 600)
        pkt = bytearray(rng.getrandbits(8) for _ in range(n))
        if n >= 3:
            pkt[2] |= 0x80
        sock.send(bytes(pkt))
    sock.settimeout(0.5)
    answered = 0
    try:
        while True:
            sock.recv(65535)
            answered += 1
    except socket.timeout:
        pass
    print("%s - 3000 junk packets with QR set: %d answered" % ("ok" if answered == 0 else "not ok", answered))
    failures += answered != 0
    # Random junk without QR: whatever it gets, the server keeps serving.
    for _ in range(3000):
        n = rng.randrange(12, 300)
        pkt = bytearray(rng.getrandbits(8) for _ in range(n))
        pkt[2] &= 0x7F
        sock.send(bytes(pkt))
    print("# %d corpus files, %d failures" % (len(files), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A TCP relay for the system tests that can cut a TLS connection in the
middle of a record: it passes bytes both ways between its clients and
--target, and when the file --cut exists, the next TLS record the target
sends is passed only in part (its header and half its body), then both
connections are closed (the file says "close") or reset ("reset"), and the
file is removed. Loopback only; stops at --time or on SIGTERM. Writes
"ready" on stdout once listening, and one line per cut.

  tlscut.py --listen 127.0.0.1:7000 --target 127.0.0.1:5380 --cut FILE --time 60

SPDX-License-Identifier: BSD-3-Clause
"""
import argparse
import os
import selectors
import signal
import socket
import struct
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--cut", required=True)
    ap.add_argument("--time", type=float, default=60.0)
    a = ap.parse_args()
    lh, lp = a.listen.rsplit(":", 1)
    th, tp = a.target.rsplit(":", 1)
    assert lh.startswith("127.") and th.startswith("127."), "loopback only"
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((lh, int(lp)))
    ls.listen(16)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    pairs = {}  # socket -> [peer, is_server_side, pending server bytes]
    print("ready", flush=True)

    def close_pair(s, reset=False):
        peer = pairs[s][0]
        for x in (s, peer):
            if reset:
                x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sel.unregister(x)
            x.close()
            del pairs[x]

    end = time.monotonic() + a.time
    while not stop[0] and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            if s is ls:
                c, _ = ls.accept()
                t = socket.create_connection((th, int(tp)), timeout=5)
                for x in (c, t):
                    x.setblocking(True)
                    sel.register(x, selectors.EVENT_READ, None)
                pairs[c] = [t, False, b""]
                pairs[t] = [c, True, b""]
                continue
            if s not in pairs:
                continue
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                close_pair(s)
                continue
            peer, from_server, buf = pairs[s]
            if not from_server:
                peer.sendall(data)
                continue
            # target -> client: whole records, so that one can be cut
            buf += data
            out = b""
            cut = None
            while len(buf) >= 5:
                n = 5 + struct.unpack(">H", buf[3:5])[0]
                if len(buf) < n:
                    break
                if os.path.exists(a.cut):
                    with open(a.cut) as f:
                        cut = f.read().strip() or "close"
                    os.unlink(a.cut)
                    out += buf[:5 + (n - 5) // 2]
                    print("cut a record of type %d, %d bytes, after %d: %s" % (buf[0], n, (n - 5) // 2, cut),
                          flush=True)
                    break
                out += buf[:n]
                buf = buf[n:]
            pairs[s][2] = buf
            if out:
                peer.sendall(out)
            if cut:
                time.sleep(0.1)  # the half record on the wire first
                close_pair(s, reset=cut == "reset")
    return 0


if __name__ == "__main__":
    sys.exit(main())

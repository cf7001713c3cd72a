#!/usr/bin/env python3
"""A slow client for the system tests: holds CONNS TCP connections to a
loopback server, each sending PREFIX at once and then one byte of DRIP
every INTERVAL seconds (never a whole message); closed ones are reopened
(at most RATE a second, MAX in all) when --reconnect. Bounded in time and
count; stops at --time or on SIGTERM. Writes "ready" to --ready once the
first CONNS connects were made, and a summary line at the end.

  drip.py --target 127.0.0.1:53 --sources 127.0.0.2,127.0.0.1 --conns 300 \
          --prefix 0040 --drip 00 --interval 1 --time 20 --reconnect
"""
import argparse
import errno
import selectors
import signal
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True, help="ADDR:PORT (loopback)")
    ap.add_argument("--sources", default="127.0.0.1", help="source addresses, comma separated, used in turn")
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--prefix", default="", help="hex bytes sent at once")
    ap.add_argument("--drip", default="00", help="hex bytes sent one at a time, in a loop")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between drip bytes, 0: no drip")
    ap.add_argument("--time", type=float, default=20.0)
    ap.add_argument("--reconnect", action="store_true")
    ap.add_argument("--rate", type=float, default=50.0, help="reconnects per second at most")
    ap.add_argument("--max", type=int, default=5000, help="connects in all at most")
    ap.add_argument("--ready", default="")
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    assert host.startswith("127.") or host == "::1", "loopback only"
    sources = a.sources.split(",")
    prefix = bytes.fromhex(a.prefix)
    drip = bytes.fromhex(a.drip) or b"\0"
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    sel = selectors.DefaultSelector()
    slots = {}  # socket -> [next drip time, drip index]
    stats = {"connects": 0, "failed": 0, "closed": 0}
    t_end = time.time() + a.time
    nsrc = [0]

    def open_one():
        if stats["connects"] >= a.max:
            return False
        src = sources[nsrc[0] % len(sources)]
        nsrc[0] += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stats["connects"] += 1
        try:
            s.bind((src, 0))
            s.settimeout(0.5)
            s.connect((host, int(port)))
            if prefix:
                s.sendall(prefix)
            s.setblocking(False)
        except OSError:
            stats["failed"] += 1
            s.close()
            return True
        slots[s] = [time.time() + a.interval, 0]
        sel.register(s, selectors.EVENT_READ)
        return True

    while len(slots) + stats["failed"] < a.conns and stats["connects"] < a.max and time.time() < t_end and not stop[0]:
        open_one()
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready %d\n" % len(slots))
    budget, t_budget = 0.0, time.time()
    while time.time() < t_end and not stop[0]:
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                gone = s.recv(4096) == b""
            except BlockingIOError:
                gone = False
            except OSError:
                gone = True
            if gone:
                sel.unregister(s)
                s.close()
                del slots[s]
                stats["closed"] += 1
        now = time.time()
        if a.interval > 0:
            for s, st in list(slots.items()):
                if now >= st[0]:
                    try:
                        s.send(drip[st[1] % len(drip):st[1] % len(drip) + 1])
                    except OSError as e:
                        if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                            sel.unregister(s)
                            s.close()
                            del slots[s]
                            stats["closed"] += 1
                            continue
                    st[0] = now + a.interval
                    st[1] += 1
        if a.reconnect:
            budget = min(budget + (now - t_budget) * a.rate, a.rate)
            t_budget = now
            while len(slots) < a.conns and budget >= 1 and stats["connects"] < a.max:
                budget -= 1
                open_one()
    print("drip: connects=%d failed=%d closed=%d open=%d" % (stats["connects"], stats["failed"], stats["closed"],
                                                             len(slots)))
    for s in list(slots):
        s.close()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A hostile web server for the system tests: each listener answers every
request the way its MODE says, to see that a health check gives up in
bounded time and memory. Loopback only; stops at --time or on SIGTERM.

  hostile_http.py --listen MODE@ADDR:PORT [...] --stats FILE --time 30

MODE:
  ok         200, "ok", at once (a well-behaved site beside the others)
  headers    a status line, then header lines for ever, as fast as it goes
  longline   a status line, then one header line that never ends
  hugebody   Content-Length: 10^12, then that body, as fast as it goes
  endless    Transfer-Encoding: chunked, chunks for ever
  closebody  no length (delimited by the close), a body for ever
  drip       a valid response, one byte a second

Every 0.5 s FILE gets, per listener: connections accepted, bytes written,
and the longest a connection lasted (accept to the client's close, s;
those still open count with their age so far).

SPDX-License-Identifier: BSD-3-Clause
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import time

MODES = ("ok", "headers", "longline", "hugebody", "endless", "closebody", "drip")
BLOCK = b"a" * 16384


async def send_forever(writer, head, piece, stats):
    writer.write(head)
    stats["bytes"] += len(head)
    while True:
        writer.write(piece)
        stats["bytes"] += len(piece)
        await writer.drain()


async def serve(mode, reader, writer, stats):
    t0 = time.monotonic()
    stats["conns"] += 1
    stats["open"][id(writer)] = t0
    try:
        await reader.readuntil(b"\r\n\r\n")  # the check's request
        if mode == "ok":
            out = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            writer.write(out)
            stats["bytes"] += len(out)
            await writer.drain()
        elif mode == "headers":
            await send_forever(writer, b"HTTP/1.1 200 OK\r\n", b"X-Junk: " + BLOCK[:1000] + b"\r\n", stats)
        elif mode == "longline":
            await send_forever(writer, b"HTTP/1.1 200 OK\r\nX-Long: ", BLOCK, stats)
        elif mode == "hugebody":
            await send_forever(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n", BLOCK, stats)
        elif mode == "endless":
            await send_forever(writer, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                               b"%x\r\n" % len(BLOCK) + BLOCK + b"\r\n", stats)
        elif mode == "closebody":
            await send_forever(writer, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", BLOCK, stats)
        elif mode == "drip":
            # a read that ends at the client's close, so that the close is
            # seen at once, not at the next byte's write
            eof = asyncio.ensure_future(reader.read(65536))
            for ch in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                writer.write(bytes([ch]))
                stats["bytes"] += 1
                done, _ = await asyncio.wait([eof], timeout=1.0)
                if done:
                    break
            await eof
        # the client closes when it has had enough; wait for that
        while await reader.read(65536):
            pass
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        stats["longest"] = max(stats["longest"], time.monotonic() - t0)
        del stats["open"][id(writer)]
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", action="append", required=True, metavar="MODE@ADDR:PORT")
    ap.add_argument("--stats", required=True)
    ap.add_argument("--time", type=float, default=30.0)
    a = ap.parse_args()
    stats, servers = {}, []
    for spec in a.listen:
        mode, _, hp = spec.partition("@")
        host, port = hp.rsplit(":", 1)
        assert mode in MODES, "mode must be one of " + "|".join(MODES)
        assert host.startswith("127."), "loopback only"
        st = stats.setdefault(hp, {"mode": mode, "conns": 0, "bytes": 0, "longest": 0.0, "open": {}})
        servers.append(await asyncio.start_server(
            lambda r, w, m=mode, s=st: serve(m, r, w, s), host, int(port), reuse_address=True))
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    end = time.monotonic() + a.time
    print("ready", flush=True)
    while not stop.done() and time.monotonic() < end:
        now = time.monotonic()
        out = {hp: {"mode": st["mode"], "conns": st["conns"], "bytes": st["bytes"],
                    "longest": max([st["longest"]] + [now - t for t in st["open"].values()])}
               for hp, st in stats.items()}
        with open(a.stats + ".new", "w") as f:
            json.dump(out, f)
        os.replace(a.stats + ".new", a.stats)
        await asyncio.wait([stop], timeout=0.5)
    for s in servers:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

#!/usr/bin/env python3
"""Drives headless Chromium over the DevTools protocol on a pipe
(--remote-debugging-pipe: no port, no websocket library), for
t-status-page.sh. Loads URL, then runs the steps given, in order:

  --wait NAME=EXPR       wait (up to --timeout s) until the JavaScript EXPR is
                         true in the page; prints "NAME ok SECONDS" or
                         "NAME timeout" (and the page's text)
  --run CMD              runs the shell command CMD (e.g. kill a site)
  --eval NAME=EXPR       prints "NAME VALUE" (EXPR's value as JSON)
  --screenshot FILE      saves a PNG of the page
  --type SEL=TEXT        sets the value of the input SEL
  --submit SEL           submits the form SEL (as pressing its button)

At the end prints one "error ..." line per console error, uncaught
exception or failed load the page had (console.error, Runtime.exceptionThrown,
Log.entryAdded of level error: CSP violations, 404s), then "errors N".
Chromium gets a private profile and talks to loopback only.
"""
import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, binary, profile, log):
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # the child's ends above 4, so that putting them on 3 and 4 cannot
        # overwrite one with the other
        child_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        for fd in (to_chrome_r, from_chrome_w):
            os.close(fd)
        args = [binary, "--headless", "--no-sandbox", "--remote-debugging-pipe",
                "--user-data-dir=" + profile, "--no-proxy-server", "--proxy-bypass-list=*",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--no-default-browser-check", "--disable-sync", "--disable-extensions",
                "--disable-default-apps", "--disable-domain-reliability", "--disable-breakpad",
                "--metrics-recording-only", "--safebrowsing-disable-auto-update", "--disable-gpu",
                "--disable-dev-shm-usage", "--mute-audio", "--window-size=1200,1400",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.*", "about:blank"]

        def fds():
            # the protocol's pipe: Chromium reads fd 3, writes fd 4 (dup2
            # leaves them open across exec)
            os.dup2(child_r, 3)
            os.dup2(child_w, 4)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     pass_fds=(3, 4), preexec_fn=fds)
        os.close(child_r)
        os.close(child_w)
        self.w, self.r = to_chrome_w, from_chrome_r
        self.buf = b""
        self.next_id = 0
        self.session = None
        self.events = []

    def _read(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.r], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=True, timeout=15):
        self.next_id += 1
        m = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            m["sessionId"] = self.session
        os.write(self.w, json.dumps(m).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            r = self._read(deadline)
            if r is None:
                raise RuntimeError(method + ": no answer in %d s" % timeout)
            if r.get("id") == self.next_id:
                if "error" in r:
                    raise RuntimeError(method + ": " + json.dumps(r["error"]))
                return r.get("result", {})
            if "method" in r:
                self.events.append(r)

    def pump(self, seconds):
        deadline = time.monotonic() + seconds
        while True:
            r = self._read(deadline)
            if r is None:
                return
            if "method" in r:
                self.events.append(r)

    def attach(self):
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = [t for t in targets if t["type"] == "page"][0]
        self.session = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for d in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.send(d)

    def eval(self, expr):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            return {"exception": r["exceptionDetails"].get("text", "?")}
        return r["result"].get("value")

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def errors_of(events):
    out = []
    for e in events:
        m, p = e["method"], e.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            ex = d.get("exception", {}).get("description") or d.get("text", "")
            out.append("exception: " + ex.replace("\n", " | "))
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console.%s: %s" % (p["type"], " ".join(str(a.get("value", a.get("description", "")))
                                                               for a in p.get("args", []))))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            en = p["entry"]
            out.append("log %s: %s %s" % (en.get("source"), en.get("text"), en.get("url", "")))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    ap.add_argument("--url", required=True)
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--log", default=os.devnull, help="chromium's own output")
    args, rest = ap.parse_known_args()
    steps = []
    i = 0
    while i < len(rest):
        if rest[i] not in ("--wait", "--run", "--eval", "--screenshot", "--type", "--submit") or i + 1 >= len(rest):
            ap.error("bad step " + rest[i])
        steps.append((rest[i][2:], rest[i + 1]))
        i += 2
    profile = tempfile.mkdtemp(prefix="cdp-profile-")
    log = open(args.log, "ab")
    b = Browser(args.chromium, profile, log)
    rc = 0
    try:
        b.attach()
        b.send("Page.navigate", {"url": args.url})
        for kind, arg in steps:
            if kind == "wait":
                name, expr = arg.split("=", 1)
                t0 = time.monotonic()
                while True:
                    v = b.eval("!!(" + expr + ")")
                    if v is True:
                        print("%s ok %.1f" % (name, time.monotonic() - t0), flush=True)
                        break
                    if time.monotonic() - t0 > args.timeout:
                        print("%s timeout" % name, flush=True)
                        print("page text: " + json.dumps(b.eval("document.body ? document.body.innerText : ''")))
                        rc = 1
                        break
                    b.pump(0.2)
            elif kind == "run":
                subprocess.run(arg, shell=True, check=False)
            elif kind == "eval":
                name, expr = arg.split("=", 1)
                print("%s %s" % (name, json.dumps(b.eval(expr))), flush=True)
            elif kind == "screenshot":
                png = b.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
                with open(arg, "wb") as f:
                    f.write(base64.b64decode(png))
                print("screenshot %s" % arg, flush=True)
            elif kind == "type":
                sel, text = arg.split("=", 1)
                b.eval("document.querySelector(%s).value = %s" % (json.dumps(sel), json.dumps(text)))
            elif kind == "submit":
                b.eval("document.querySelector(%s).requestSubmit()" % json.dumps(arg))
        b.pump(0.5)  # the last events (a late exception)
    except Exception as e:
        print("driver error: %s" % e, flush=True)
        rc = 2
    finally:
        b.close()
        log.close()
        shutil.rmtree(profile, ignore_errors=True)
    errs = errors_of(b.events)
    for e in errs:
        print("error " + e)
    print("errors %d" % len(errs))
    return rc


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Scrapes a daemon's /metrics and checks it with the real Prometheus parser.

  promscrape.py URL                 every sample, one per line: NAME{k="v",...} VALUE
                                    (labels sorted); fails unless every family has
                                    HELP and TYPE and every counter ends in _total
  promscrape.py --status METHOD URL [--source ADDR] [--header-bytes N]
                                    the HTTP status of one request, or "closed"
  promscrape.py --busy URL N        opens N keep-alive connections, one GET each,
                                    and prints their statuses (then closes them)
"""
import http.client
import socket
import sys
import urllib.parse

from prometheus_client.parser import text_string_to_metric_families


def split(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port, u.path or "/"


def conn(host, port, source=None):
    return http.client.HTTPConnection(host, port, timeout=10,
                                      source_address=(source, 0) if source else None)


def scrape(url):
    host, port, path = split(url)
    c = conn(host, port)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read().decode()
    if r.status != 200:
        sys.exit("status %d" % r.status)
    ctype = r.getheader("Content-Type", "")
    if not ctype.startswith("text/plain; version=0.0.4"):
        sys.exit("content type %r" % ctype)
    helps = {l.split()[2] for l in body.splitlines() if l.startswith("# HELP ")}
    types = {l.split()[2] for l in body.splitlines() if l.startswith("# TYPE ")}
    out = []
    for fam in text_string_to_metric_families(body):
        if fam.type == "counter":
            key = fam.name + "_total"
            if not all(s.name == key for s in fam.samples):
                sys.exit("counter %s: a sample not named %s" % (fam.name, key))
        else:
            key = fam.name
        if key not in helps or key not in types or not fam.documentation:
            sys.exit("family %s: no HELP or TYPE" % key)
        if not fam.name.startswith("glb_"):
            sys.exit("family %s: not glb_" % fam.name)
        for s in fam.samples:
            labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
            out.append("%s{%s} %r" % (s.name, labels, s.value))
    print("\n".join(out))


def status(method, url, source=None, header_bytes=0):
    host, port, path = split(url)
    c = conn(host, port, source)
    try:
        c.putrequest(method, path)
        if header_bytes:
            c.putheader("X-Big", "a" * header_bytes)
        c.endheaders()
        r = c.getresponse()
        r.read()
        print(r.status)
    except (ConnectionError, http.client.HTTPException, socket.timeout):
        print("closed")


def busy(url, n):
    host, port, path = split(url)
    conns, codes = [], []
    for _ in range(n):
        c = conn(host, port)
        try:
            c.request("GET", path, headers={"Connection": "keep-alive"})
            r = c.getresponse()
            r.read()
            codes.append(str(r.status))
        except (ConnectionError, http.client.HTTPException, socket.timeout):
            codes.append("closed")
        conns.append(c)
    print(" ".join(codes))
    for c in conns:
        c.close()


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "--status":
        src = a[a.index("--source") + 1] if "--source" in a else None
        hb = int(a[a.index("--header-bytes") + 1]) if "--header-bytes" in a else 0
        status(a[1], a[2], src, hb)
    elif a[0] == "--busy":
        busy(a[1], int(a[2]))
    else:
        scrape(a[0])

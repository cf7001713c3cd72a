#!/usr/bin/env bash
# The combined box (dnslb, server: mode: combined; DESIGN §7): one dnslb is
# both ISP 3's recursive resolver and its DNS-LB, in the whole system (NSD as
# the enterprise and fake root, both DNS-Bs, ISPs 1 and 2 with their own
# resolvers and DNS-LBs). Its clients (127.0.6.0/24) resolve every name
# through it; the load-balanced name comes back measured from the box; a
# client outside its access list is refused.
. "$(dirname "$0")/e2e.sh"
world_combined || not_ok "the combined box did not start"
C1=127.0.6.10 C2=127.0.6.20 OUT=127.0.7.10
# cb_ask SRC NAME [TYPE] [dig options]: a client at SRC asks the box.
cb_ask() { dig +time=2 +tries=1 -b "$1" @"$CB" "${@:2}" 2>&1; }
# cb_set SRC NAME: the addresses a client of the box gets, sorted, one line.
cb_set() { cb_ask "$1" "$2" A +short | grep -E '^[0-9.]+$' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
cb_set_is() { local i; for i in 1 2 3; do [ "$(cb_set "$1" www.foobar.example)" = "$2" ] || return 1; done; }

wait_until 30 world_registered b1 cb "$CBEG" && ok "the box registered its egress $CBEG with b1 through its own resolver (${WAITED}s)" ||
    not_ok "b1 does not map the box's egress: $(world_bctl b1 lookup "$CBEG")"
a=$(cb_ask "$C1" foobar.example SOA)
check "a client resolves the enterprise's zone through the box" "$a" "status: NOERROR"
check "  recursion available (RA) and the question echoed" "$a" "flags: qr rd ra;"
check_not "  not authoritative" "$a" "flags: qr aa"
check "an unknown name: NXDOMAIN from the fake root, passed on" "$(cb_ask "$C1" nosuch.zz A)" "status: NXDOMAIN"
check "over TCP too" "$(cb_ask "$C2" foobar.example SOA +tcp)" "status: NOERROR"
a=$(cb_ask "$OUT" foobar.example SOA)
check "a client outside the access list is refused" "$a" "status: REFUSED"
check_not "  and gets no data" "$a" "ANSWER: [1-9]"
check "a query without RD is not resolved" "$(cb_ask "$C1" shop.foobar.example A +norec)" "status: REFUSED"

# The load-balanced name: CNAME from the DNS-B to the box's own zone, whose
# answer is the box's measurement: newyork (5 ms) alone, not paris (best
# for ISP 1) nor tokyo (best for ISP 2).
wait_until 20 cb_set_is "$C1" "$SITE3" && ok "the box's clients get newyork ($SITE3) alone (${WAITED}s)" ||
    not_ok "the box's clients get: $(cb_set "$C1" www.foobar.example)"
check "  through the DNS-B's CNAME to the box's zone" "$(cb_ask "$C1" www.foobar.example A)" \
    "CNAME[[:space:]]+cb.www.foobar.example."
wait_until 20 best_is isp1 "$SITE1" && ok "ISP 1's clients still get paris ($SITE1) from lb1" ||
    not_ok "ISP 1 gets: $(set_of isp1 www.foobar.example)"
world_site_status "$SITE3" 500
wait_until 30 cb_set_is "$C1" "$SITE2" && ok "newyork fails: the box's clients get tokyo ($SITE2) (${WAITED}s)" ||
    not_ok "after newyork failed the box's clients get: $(cb_set "$C1" www.foobar.example)"
world_site_status "$SITE3" 200

# DNSSEC: the enterprise signs its zone; the box, given its key as trust
# anchor, validates: AD for clients that ask, RRSIGs only with DO, and
# SERVFAIL for a record changed after signing (ISP 1's unbound, which does
# not validate, still passes that record on).
cd "$W/nsd" || exit 1
key=$(ldns-keygen -a ECDSAP256SHA256 -k foobar.example) && ldns-signzone foobar.example.zone "$key" &&
    cp foobar.example.zone.signed foobar.example.zone && kill -HUP "${WPID[nsd]}" ||
    not_ok "cannot sign the enterprise's zone"
cd - >/dev/null
wait_until 10 bash -c "dig +time=1 +tries=1 @$DNSA foobar.example DNSKEY | grep -q 'IN[[:space:]]*DNSKEY'" ||
    not_ok "NSD does not serve the signed zone"
world_stop cb TERM
WORLD_CB_SED="s|^recursion:|recursion:\n    trust-anchor-file: $W/nsd/$key.key|" world_combined ||
    not_ok "the box does not start with a trust anchor"
a=$(cb_ask "$C1" foobar.example SOA +dnssec)
check "validated: AD to a client that sets DO" "$a" "flags: qr rd ra ad;"
check "  with the RRSIG" "$a" "RRSIG[[:space:]]+SOA"
a=$(cb_ask "$C1" foobar.example SOA +noadflag) # dig sets AD unless told not to
check_not "  no RRSIG without DO" "$a" "RRSIG"
check_not "  and no AD for a client that asks neither" "$a" "flags: qr rd ra ad"
check "  AD to a client that sets AD only" "$(cb_ask "$C1" foobar.example SOA +adflag)" "flags: qr rd ra ad;"
check "the delegated, unsigned www still resolves" "$(cb_ask "$C1" www.foobar.example A)" "status: NOERROR"
sed -i -E "s/^(ns1\.foobar\.example\.[[:space:]].*[[:space:]]A[[:space:]]+)$DNSA\$/\1127.0.0.99/" "$W/nsd/foobar.example.zone"
grep -q "127.0.0.99" "$W/nsd/foobar.example.zone" || not_ok "could not change the signed record"
kill -HUP "${WPID[nsd]}"
wait_until 10 bash -c "dig +short +time=1 +tries=1 @$DNSA ns1.foobar.example A | grep -qx 127.0.0.99" ||
    not_ok "NSD does not serve the changed record"
check "a record changed after signing: SERVFAIL from the box" "$(cb_ask "$C1" ns1.foobar.example A)" "status: SERVFAIL"
check "  while ISP 1's unbound (no validation) passes it on" "$(world_ask isp1 ns1.foobar.example A)" "127.0.0.99"

s=$(world_lbctl cb stats)
n=$(stat_of dns.recursion <<<"$s")
[ "${n:-0}" -gt 5 ] && ok "dnslb-control stats counts the recursion (dns.recursion=$n)" || not_ok "dns.recursion=$n"
check "  and the answers sent later" "$s" "^net.deferred_answers=[1-9]"
check "  and the answers from its answer cache" "$s" "^recursion.cache_hits=[1-9]"
# Stopped cleanly with queries of its own (whoami) possibly in flight.
pid=${WPID[cb]}
world_stop cb TERM
kill -0 "$pid" 2>/dev/null && not_ok "the box does not exit on SIGTERM" || ok "SIGTERM: the box exits"
check_not "  without a sanitizer report" "$(cat "$TMP/cb.log")" "ERROR: (Address|Leak)Sanitizer|runtime error"
finish

#!/usr/bin/env bash
# Issue 17, fault injection: dnsb's registration database (LMDB, dnsb/store.c)
# on a full disk, on a disk that turns read-only, and with damaged pages.
# Each time dnsb keeps answering, accepts registrations (kept in memory, the
# failure logged once and counted), writes what waited once there is room
# again, starts on the read-only disk from what is there, and what was
# stored before is intact after a restart (or, with damage LMDB finds, the
# file is moved aside and said so: never a silent loss of some). The filesystems are made here, in a mount namespace of the test's
# own (unshare -m): a tmpfs of 1 MiB, an ext4 image on a loop device that is
# made read-only the way the kernel does it after an I/O error
# (/sys/fs/ext4/DEV/trigger_fs_error with errors=remount-ro); they go away
# with the namespace. t-database.sh covers damaged meta pages (truncated,
# empty, garbage); here a damaged record and each other page in turn.
# (LMDB's map is 1 GiB, sparse, and doubled when full, store.c grow(): the
# capacity that runs out first is the filesystem's, tested as the full disk.)
#
#   127.0.0.1   dnsb: DNS on PORT, map on MPORT, control on CPORT
if [ -z "${GLB_IN_MOUNT_NS:-}" ]; then
    [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 || { echo "needs root and unshare (mount namespace)"; exit 77; }
    GLB_IN_MOUNT_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/certs.sh"

need dig python3 openssl mkfs.ext4
free_ports 3
PORT=${PORTS[0]} MPORT=${PORTS[1]} CPORT=${PORTS[2]}
C=$TMP/certs
mkdir -p "$C"
make_ca "$C" ca && make_cert "$C" ca b1 127.0.0.1 || { echo "openssl cannot make certificates"; exit 77; }
for i in 41 42 43 44; do make_cert "$C" ca "lb$i" || exit 1; done

allow=$(printf '    allow: lb%s 127.0.0.0/8\n' 41 42 43 44)
write_conf() { map_dnsb_conf "$1" "$allow"; } # write_conf DATABASE_DIR
# register N: lb<N> claims the resolver 127.0.<N>.1 (asking for an hour).
register() {
    timeout 20 python3 "$SRCDIR/tests/system/mapraw.py" --server "127.0.0.1@$MPORT" --ca "$C/ca.pem" --timeout 5 \
        --cert "$C/lb$1.pem" --key "$C/lb$1.key" --id "lb$1" --seq "$(now_ms)" --dns "127.0.0.$1" \
        --claim "127.0.$1.1/32" --lifetime 3600
}
ctl() { "$BUILDDIR/dnsb/dnsb-control" -c "$TMP/dnsb.conf" -t 5 "$@"; }
# referred N: a query from lb<N>'s resolver is referred to lb<N>.
referred() {
    dig +norec +time=1 +tries=1 -b "127.0.$1.1" -p "$PORT" @127.0.0.1 www.foobar.example A | grep -q "CNAME	lb$1\."
}
answering() { dig +norec +time=2 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1 | grep -q 'status: NOERROR'; }
counter() { ctl stats | stat_of "$1"; }
committed() { [ "$(counter store.pending)" = 0 ] && [ "$(counter store.commits)" -gt "$1" ]; }
stop() { # stop: SIGTERM to dnsb, and until it is gone
    kill -TERM "$DNSB_PID" 2>/dev/null
    wait_until 10 sh -c "! kill -0 $DNSB_PID" || not_ok "dnsb $DNSB_PID did not exit"
    wait "$DNSB_PID" 2>/dev/null
}
start() { # start LOG
    start_dnsb "$TMP/dnsb.conf" "$1"
    wait_dns 127.0.0.1 "$PORT" glb.example.net
}
# have WHO N...: after a restart, each lb<N> is referred to again (from the database).
have() {
    local who=$1 n
    shift
    for n in "$@"; do
        referred "$n" && ok "$who: lb$n kept" || not_ok "$who: lb$n lost"
    done
}

# --- a full disk ------------------------------------------------------------------
FULL=$TMP/full
mkdir -p "$FULL"
mount -t tmpfs -o size=1m,mode=0700 tmpfs "$FULL" || { echo "cannot mount a tmpfs"; exit 77; }
write_conf "$FULL/db"
start "$TMP/full1.log" || exit 1
c=$(counter store.commits)
check "full disk: lb41 registers" "$(register 41)" "^ack .* accepted=127.0.41.1/32 "
wait_until 5 committed "$c" && ok "full disk: lb41 written to the database" || not_ok "full disk: lb41 never committed"
dd if=/dev/zero of="$FULL/filler" bs=4k 2>/dev/null
check "full disk: the filesystem is full" "$(df -k "$FULL" | awk 'NR == 2 { print $4 }')" "^0$"
e=$(counter store.errors)
check "full disk: lb42 registers all the same" "$(register 42)" "^ack .* accepted=127.0.42.1/32 "
referred 42 && ok "full disk: lb42 is referred to (kept in memory)" || not_ok "full disk: lb42 not in force"
check "full disk: lb42 refreshes" "$(register 42)" "^ack .* accepted=127.0.42.1/32 "
check_eq "full disk: one change waits for lb42, not one per refresh" "$(counter store.pending)" 1
wait_until 5 sh -c "[ \$('$BUILDDIR/dnsb/dnsb-control' -c '$TMP/dnsb.conf' -t 5 stats | sed -n 's/^store.errors=//p') -gt $e ]" &&
    ok "full disk: the failed write counted (store.errors)" || not_ok "full disk: store.errors did not move"
check "full disk: and logged, naming the database and the cause" "$(cat "$TMP/full1.log")" \
    "database '$FULL/db': commit of 1 changes failed: .*No space left on device; they are kept in memory and tried again"
check_eq "full disk: logged once, not at every retry" "$(grep -c "commit of .* failed" "$TMP/full1.log")" 1
answering && ok "full disk: dnsb answers" || not_ok "full disk: dnsb does not answer"
referred 41 && ok "full disk: lb41 still referred to" || not_ok "full disk: lb41 lost"
# Room again: what could not be written is written now, without waiting for
# the DNS-LB's next refresh.
c=$(counter store.commits)
rm -f "$FULL/filler"
wait_until 5 committed "$c" && ok "space again: the pending changes written (${WAITED}s)" ||
    not_ok "space again: nothing written ($(ctl stats | grep '^store\.' | tr '\n' ' '))"
check "space again: said so" "$(cat "$TMP/full1.log")" "database '$FULL/db': written again \(1 changes that had waited\)"
stop
start "$TMP/full2.log" || exit 1
have "full disk, after a restart" 41 42
stop
umount "$FULL"

# --- a disk that turns read-only ---------------------------------------------------
RO=$TMP/ro
mkdir -p "$RO"
truncate -s 8M "$TMP/ro.img" && mkfs.ext4 -q "$TMP/ro.img" && mount -o loop,errors=remount-ro "$TMP/ro.img" "$RO" ||
    { not_ok "cannot make the ext4 image"; finish; exit; }
dev=$(basename "$(findmnt -n -o SOURCE "$RO")")
write_conf "$RO/db"
start "$TMP/ro1.log" || exit 1
c=$(counter store.commits)
check "read-only: lb43 registers" "$(register 43)" "^ack .* accepted=127.0.43.1/32 "
wait_until 5 committed "$c" && ok "read-only: lb43 written to the database" || not_ok "read-only: lb43 never committed"
if [ -w "/sys/fs/ext4/$dev/trigger_fs_error" ]; then
    echo 1 >"/sys/fs/ext4/$dev/trigger_fs_error"
    check "read-only: the filesystem went read-only" "$(findmnt -n -o OPTIONS "$RO")" "(^|,)(ro|emergency_ro)(,|$)"
    e=$(counter store.errors)
    check "read-only: lb44 registers all the same" "$(register 44)" "^ack .* accepted=127.0.44.1/32 "
    referred 44 && ok "read-only: lb44 is referred to (kept in memory)" || not_ok "read-only: lb44 not in force"
    wait_until 5 sh -c "[ \$('$BUILDDIR/dnsb/dnsb-control' -c '$TMP/dnsb.conf' -t 5 stats | sed -n 's/^store.errors=//p') -gt $e ]" &&
        ok "read-only: the failed write counted" || not_ok "read-only: store.errors did not move"
    check "read-only: and logged" "$(cat "$TMP/ro1.log")" "database '$RO/db': commit of [0-9]+ changes failed: "
    answering && ok "read-only: dnsb answers" || not_ok "read-only: dnsb does not answer"
    referred 43 && ok "read-only: lb43 still referred to" || not_ok "read-only: lb43 lost"
    stop
    # Restarted with the disk still read-only: it starts, from what is there.
    start "$TMP/ro2.log" && ok "read-only: dnsb restarts on the read-only disk" ||
        not_ok "read-only: dnsb does not start on a read-only disk: $(grep -v '^ ' "$TMP/ro2.log" | tail -n 3)"
    check "read-only: which it says" "$(cat "$TMP/ro2.log")" \
        "database '$RO/db/data.mdb': on a read-only filesystem: the registrations in it are loaded, but none is written"
    have "read-only, after a restart" 43
    check "read-only: lb44 registers after the restart" "$(register 44)" "^ack .* accepted=127.0.44.1/32 "
    referred 44 && ok "read-only: and is referred to" || not_ok "read-only: lb44 not in force after the restart"
    stop
else
    echo "# no /sys/fs/ext4/$dev/trigger_fs_error: the read-only case is not run"
fi
umount "$RO"

# --- damaged pages -----------------------------------------------------------------
DB=$TMP/db
write_conf "$DB"
start "$TMP/dmg1.log" || exit 1
c=$(counter store.commits)
for i in 41 42 43; do register "$i" >/dev/null; done
wait_until 5 committed "$c" || not_ok "the three registrations were not committed"
stop
cp "$DB/data.mdb" "$TMP/sound.mdb"
# A damaged record: the first bytes of lb42's REGISTER frame overwritten,
# in every copy of it in the file (LMDB writes a changed page elsewhere and
# keeps the old one for a while: which copy is the live one is not known).
hits=$(python3 - "$DB/data.mdb" <<'PY'
import sys
path = sys.argv[1]
d = bytearray(open(path, "rb").read())
n, i = 0, d.find(b"glbr\x01\0\0\0")
while i >= 0:
    if b"lb42" in d[i:i + 64]:
        d[i + 16:i + 24] = b"\xff" * 8
        n += 1
    i = d.find(b"glbr\x01\0\0\0", i + 1)
open(path, "wb").write(d)
print(n)
PY
)
if [ "${hits:-0}" -ge 1 ]; then
    start "$TMP/dmg2.log" || exit 1
    check "damaged record: skipped and deleted, named in the log" "$(cat "$TMP/dmg2.log")" \
        "registration 'lb42' skipped and deleted: "
    have "damaged record" 41 43
    referred 42 && not_ok "damaged record: lb42 served from a damaged record" || ok "damaged record: lb42 not served"
    answering && ok "damaged record: dnsb answers" || not_ok "damaged record: dnsb does not answer"
    stop
else
    not_ok "lb42's record not found in data.mdb"
fi
# A damaged page: each page after the two meta pages in turn overwritten
# with random bytes (only LMDB's reading can find it). Whichever it is,
# dnsb starts and answers, and either says the file is damaged and moves it
# aside, or (a page not in use: LMDB keeps old copies of changed pages)
# keeps all three registrations: never a silent loss of some.
npages=$(( $(stat -c %s "$TMP/sound.mdb") / 4096 ))
found=0 unused=0
for page in $(seq 2 $((npages - 1))); do
    cp "$TMP/sound.mdb" "$DB/data.mdb"
    rm -f "$DB"/data.mdb.damaged-*
    head -c 4096 /dev/urandom | dd of="$DB/data.mdb" bs=4096 seek="$page" conv=notrunc 2>/dev/null
    log=$TMP/page$page.log
    if ! start "$log"; then
        not_ok "damaged page $page: dnsb does not start: $(grep -v '^ ' "$log" | tail -n 3)"
        continue
    fi
    answering || not_ok "damaged page $page: dnsb does not answer"
    if grep -q "is damaged: " "$log"; then
        found=$((found + 1))
        grep -q "moved aside to '$DB/data.mdb.damaged-" "$log" || not_ok "damaged page $page: not moved aside"
    else
        unused=$((unused + 1))
        for n in 41 42 43; do referred "$n" || not_ok "damaged page $page: lb$n silently lost"; done
    fi
    grep -Eq "AddressSanitizer|runtime error" "$log" && not_ok "damaged page $page: sanitizer report"
    stop
done
echo "# damaged pages: $found of $((npages - 2)) found damaged and moved aside, $unused not in use (all kept)"
[ "$found" -ge 1 ] && ok "damaged pages: $found found and moved aside, dnsb answering each time" ||
    not_ok "no damaged page was found"
[ $((found + unused)) -eq $((npages - 2)) ] && ok "damaged pages: dnsb started and answered with each of the $((npages - 2))" ||
    not_ok "damaged pages: some did not start"
finish

#!/usr/bin/env bash
# A damaged database (data.mdb truncated, emptied, overwritten): with
# database-damaged: move-aside dnsb logs what is wrong, moves the file aside
# and serves DNS; with refuse it says so on the terminal and does not start;
# dnsb -t reports it either way. (It used to die of SIGBUS at every start
# with no message, or recreate an empty file without a word.)
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
DB=$TMP/db
write_conf() { # write_conf POLICY
    cat >"$TMP/dnsb.conf" <<CONF
server:
    listen: 127.0.0.1@$PORT
    zone: glb.example.net.
    zone-ns: b1.glb.example.net. 127.0.0.1
    database: $DB
    database-damaged: $1
service:
    name: www.foobar.example.
    site: paris 192.0.2.10
CONF
}
short() { dig +short +time=1 +tries=1 -p "$PORT" @127.0.0.1 www.foobar.example A 2>&1; }
stop() { # stop PID: SIGTERM, and until it is gone
    kill -TERM "$1" 2>/dev/null
    wait_until 10 sh -c "! kill -0 $1" || not_ok "dnsb $1 did not exit"
    wait "$1" 2>/dev/null
}

# A sound database first: dnsb creates it.
write_conf move-aside
check "-t: the configuration is fine" "$("$DNSB" -t -c "$TMP/dnsb.conf" 2>&1)" ': ok \(1 services, 0 lbs\)$'
start_dnsb "$TMP/dnsb.conf" "$TMP/first.log"
wait_dns 127.0.0.1 "$PORT" glb.example.net || exit 1
check "a new database is created, and said so" "$(cat "$TMP/first.log")" "database '$DB/data.mdb': none yet, a new one is created"
stop "$DNSB_PID"
[ -s "$DB/data.mdb" ] && ok "data.mdb written" || not_ok "data.mdb written"
cp "$DB/data.mdb" "$TMP/sound.mdb"

damage() { # damage KIND: a copy of the sound file, damaged
    cp "$TMP/sound.mdb" "$DB/data.mdb"
    case $1 in
        truncated) truncate -s 5000 "$DB/data.mdb" ;;
        empty) : >"$DB/data.mdb" ;;
        garbage) head -c 8192 /dev/urandom | dd of="$DB/data.mdb" bs=4096 seek=0 conv=notrunc 2>/dev/null ;;
    esac
}
why_of() {
    case $1 in
        truncated) echo "truncated: 5000 bytes, shorter than its two meta pages" ;;
        empty) echo "empty \(0 bytes\)" ;;
        garbage) echo "meta page 0: not" ;;
    esac
}

n=0
for kind in truncated empty garbage; do
    why=$(why_of "$kind")
    # move-aside: logged, moved, serving
    write_conf move-aside
    damage "$kind"
    out=$("$DNSB" -t -c "$TMP/dnsb.conf" 2>&1)
    check "$kind, move-aside: -t warns, naming the file" "$out" \
        "warning: database '$DB/data.mdb' is damaged: $why.*will move it aside"
    check "$kind, move-aside: -t still ok" "$out" ': ok \(1 services'
    n=$((n + 1))
    log=$TMP/start-$n.log
    start_dnsb "$TMP/dnsb.conf" "$log"
    if wait_dns 127.0.0.1 "$PORT" glb.example.net; then
        check_eq "$kind, move-aside: serves DNS" "$(short)" "192.0.2.10"
    else
        not_ok "$kind, move-aside: serves DNS"
    fi
    check "$kind, move-aside: logged with the file, what is wrong and where it went" "$(cat "$log")" \
        "database '$DB/data.mdb' is damaged: $why.*moved aside to '$DB/data.mdb.damaged-[0-9]{8}T[0-9]{6}Z(-[0-9]+)?', starting with no registration"
    check_eq "$kind, move-aside: the damaged file kept" "$(ls "$DB" | grep -c '^data\.mdb\.damaged-')" "$n"
    stop "$DNSB_PID"
    "$DNSB" -t -c "$TMP/dnsb.conf" 2>&1 | grep -q damaged && not_ok "$kind: the new database is sound" ||
        ok "$kind: the new database is sound"

    # refuse: said on the terminal, nothing served, the file left alone
    write_conf refuse
    damage "$kind"
    out=$("$DNSB" -t -c "$TMP/dnsb.conf" 2>&1)
    rc=$?
    check_eq "$kind, refuse: -t fails" "$rc" 1
    check "$kind, refuse: -t names the file and what is wrong" "$out" \
        "database '$DB/data.mdb' is damaged: $why.*will not start \(database-damaged: refuse\)"
    out=$(timeout 20 "$DNSB" -d -c "$TMP/dnsb.conf" 2>&1)
    rc=$?
    check_eq "$kind, refuse: dnsb exits with status 1" "$rc" 1
    check "$kind, refuse: and says why" "$out" "database '$DB/data.mdb' is damaged: $why"
    check_eq "$kind, refuse: the file is left where it was" "$(ls "$DB" | grep -c '^data\.mdb\.damaged-')" "$n"
    check_not "$kind, refuse: nothing serves" "$(short)" "192.0.2.10"
done
finish

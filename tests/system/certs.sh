# make_ca DIR NAME: a test CA in DIR/NAME.pem, key DIR/NAME.key.
# make_cert DIR CA CN [IP...]: DIR/CN.pem and DIR/CN.key, signed by CA, with
# the CN and the IPs (default 127.0.0.1) as subjectAltName.
# Sourced by system tests; needs the openssl command.

make_ca() {
    local dir=$1 name=$2
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=$name" -keyout "$dir/$name.key" -out "$dir/$name.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        >/dev/null 2>&1
}

make_cert() {
    local dir=$1 ca=$2 cn=$3
    shift 3
    local ips=${*:-127.0.0.1} san="DNS:$cn" ip
    for ip in $ips; do san="$san,IP:$ip"; done
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
        -keyout "$dir/$cn.key" -out "$dir/$cn.csr" >/dev/null 2>&1 &&
        openssl x509 -req -in "$dir/$cn.csr" -CA "$dir/$ca.pem" -CAkey "$dir/$ca.key" -CAcreateserial \
            -days 2 -out "$dir/$cn.pem" \
            -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san") \
            >/dev/null 2>&1
}

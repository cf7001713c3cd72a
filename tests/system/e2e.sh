# The common start of the end-to-end tests (t-e2e*.sh, t-reload.sh), sourced
# at their top: checks the tools, re-executes the test in a private network
# namespace (scripts/world.sh), and brings the whole system up, both DNS-LBs
# registered at both DNS-Bs. Set before sourcing:
#   E2E_FAMILY   4 (default) or 6
#   E2E_ECS      "ecs": ISP 1's resolver sends client subnets
#   E2E_SKIP_NET a reason: a network that cannot be built skips the test (77)
#   WORLD_SPLIT  1: a namespace per ISP and per site (exported)
# Afterwards: lib.sh's checks, world.sh's functions, and set_of/set_is/best_is.
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/world.sh"
for t in unbound nsd dig ip unshare nsenter python3 openssl; do
    command -v "$t" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
world_netns "$0" "$@" || exit 77
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ -x "$BUILDDIR/dnslb/dnslb" ] || { echo "not built in $BUILDDIR"; exit 77; }

# A failed test shows the daemons' last words before its directory goes.
trap 'rc=$?; world_stop_all; [ $rc -eq 0 ] || for f in "$TMP"/*.log; do
    [ -f "$f" ] && { echo "# last lines of $(basename "$f"):"; tail -n 12 "$f" | sed "s/^/#   /"; }
done; rm -rf "$TMP"' EXIT
if ! world_init "$TMP" "$BUILDDIR" "${E2E_FAMILY:-4}"; then
    [ -n "${E2E_SKIP_NET:-}" ] && { echo "$E2E_SKIP_NET"; exit 77; }
    exit 1
fi
if ! world_up ${E2E_ECS:-}; then
    tail -n 20 "$TMP"/*.log
    echo "the system did not come up"
    exit 1
fi

# Resolvers reorder RRsets (unbound's rrset-roundrobin, BIND's rrset-order),
# so what a client gets is judged as a set, never by its first address.
# set_of ISP NAME: the addresses that ISP's clients get, sorted, one line.
set_of() { world_answer "$@" | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
# set_is ISP NAME SITE...: exactly those sites, asked three times (a client
# behind the same resolver must get the same set each time).
set_is() {
    local isp=$1 name=$2 want i
    shift 2
    want=$(printf '%s\n' "$@" | sort -u | tr '\n' ' ' | sed 's/ $//')
    for i in 1 2 3; do [ "$(set_of "$isp" "$name")" = "$want" ] || return 1; done
}
# best_is ISP SITE: ISP's clients get SITE, and only SITE, for www.foobar.example.
best_is() { set_is "$1" www.foobar.example "$2"; }

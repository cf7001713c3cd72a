# The common start of the end-to-end tests (t-e2e*.sh, t-reload.sh), sourced
# at their top: checks the tools, re-executes the test in a private network
# namespace (scripts/world.sh), and brings the whole system up, both DNS-LBs
# registered at both DNS-Bs. Set before sourcing:
#   E2E_FAMILY   4 (default) or 6
#   E2E_ECS      "ecs": ISP 1's resolver sends client subnets
#   E2E_SKIP_NET a reason: a network that cannot be built skips the test (77)
#   WORLD_SPLIT  1: a namespace per ISP and per site (exported)
# Afterwards: lib.sh's checks, world.sh's functions, and first/best_is.
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/world.sh"
for t in unbound nsd dig ip unshare nsenter python3 openssl; do
    command -v "$t" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
    command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"; exit 77; }
done
world_netns "$0" "$@" || exit 77
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ -x "$BUILDDIR/dnslb/dnslb" ] || { echo "not built in $BUILDDIR"; exit 77; }

trap 'world_stop_all; rm -rf "$TMP"' EXIT
if ! world_init "$TMP" "$BUILDDIR" "${E2E_FAMILY:-4}"; then
    [ -n "${E2E_SKIP_NET:-}" ] && { echo "$E2E_SKIP_NET"; exit 77; }
    exit 1
fi
if ! world_up ${E2E_ECS:-}; then
    tail -n 20 "$TMP"/*.log
    echo "the system did not come up"
    exit 1
fi

# first ISP NAME: the first address that ISP's clients get.
first() { world_answer "$@" | awk '{print $1}'; }
# best_is ISP SITE: ISP's clients get SITE first for www.foobar.example.
best_is() { [ "$(first "$1" www.foobar.example)" = "$2" ]; }

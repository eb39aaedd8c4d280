# Shared helpers for the copy shell tests (sourced).
set -e
set -u

D=${COPY_DRIVER:-$(dirname "$0")/../../build/src/copy/copy-driver}

# requires CMD...: skip (77) when a tool is missing, unless CI=true where
# a missing tool is a failure: CI must not silently test nothing.
requires ()
{
    for c in "$@"; do
        if ! command -v "$c" >/dev/null 2>&1; then
            echo "$0: '$c' is missing"
            if [ "${CI:-}" = true ]; then exit 1; fi
            exit 77
        fi
    done
}

requires qemu-img qemu-nbd qemu-io nbdkit
[ -x "$D" ] || { echo "$0: driver '$D' not built"; exit 1; }

T=$(mktemp -d /tmp/v2k-copy-test.XXXXXX)
bgpids=
cleanup ()
{
    for p in $bgpids; do kill "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT INT TERM

fail ()
{
    echo "$0: FAIL: $*" >&2
    exit 1
}

# same IMG1 IMG2: qemu-img compare must say identical (sizes may differ
# for the raw target, which is fine for compare -s off).
same ()
{
    qemu-img compare -q "$@" || fail "images differ: $*"
}

# start_nbdkit SOCK ARGS...: nbdkit in the background, waits for its
# pidfile; the pid is killed on exit.
start_nbdkit ()
{
    _sock=$1; shift
    rm -f "$_sock.pid"
    nbdkit -f -U "$_sock" --pidfile "$_sock.pid" "$@" >>"$T/nbdkit.log" 2>&1 &
    bgpids="$bgpids $!"
    for _i in $(seq 100); do [ -s "$_sock.pid" ] && return 0; sleep 0.1; done
    fail "nbdkit did not start: $*"
}

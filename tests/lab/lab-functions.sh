# Sourced by v2k's shell integration tests: start and stop a vSphere lab.
#
#   lab_start SPEC.json [STATEDIR]   start `v2k-lab serve` on a free port and
#                                    export LAB_STATE, LAB_PID, V2K_LAB_STATE,
#                                    V2K_LAB (the binary) and GOVC_* from lab.env
#   lab_stop                         SIGTERM the lab and wait for it
#   lab CMD ARGS...                  run `v2k-lab CMD --state $LAB_STATE ARGS...`
#
# The binary is $V2K_LAB, else $TOP/build/v2k-lab (TOP: the repository root,
# found from this file when unset).

if [ -z "${TOP:-}" ]; then
    TOP=$(cd "$(dirname "${BASH_SOURCE:-$0}")/../.." && pwd)
fi

lab_start() {
    _spec=${1:?usage: lab_start SPEC.json [STATEDIR]}
    _state=${2:-}
    V2K_LAB=${V2K_LAB:-$TOP/build/v2k-lab}
    if [ ! -x "$V2K_LAB" ]; then
        echo "lab_start: $V2K_LAB not built (run: make lab)" >&2
        return 1
    fi
    if [ -z "$_state" ]; then
        _state=$(mktemp -d "${TMPDIR:-/tmp}/v2k-lab.XXXXXX") || return 1
    fi
    mkdir -p "$_state" || return 1
    _state=$(cd "$_state" && pwd)
    rm -f "$_state/lab.json" "$_state/lab.env"
    "$V2K_LAB" serve --state "$_state" --spec "$_spec" 2>>"$_state/lab.log" &
    LAB_PID=$!
    _i=0
    while [ ! -s "$_state/lab.json" ]; do
        if ! kill -0 "$LAB_PID" 2>/dev/null; then
            echo "lab_start: v2k-lab serve exited:" >&2
            cat "$_state/lab.log" >&2
            wait "$LAB_PID" 2>/dev/null
            return 1
        fi
        _i=$((_i + 1))
        if [ "$_i" -gt 300 ]; then
            echo "lab_start: lab did not come up in 30 s" >&2
            kill "$LAB_PID" 2>/dev/null
            return 1
        fi
        sleep 0.1
    done
    LAB_STATE=$_state
    V2K_LAB_STATE=$_state
    set -a
    . "$_state/lab.env"
    set +a
    export LAB_STATE LAB_PID V2K_LAB_STATE V2K_LAB
}

lab_stop() {
    if [ -n "${LAB_PID:-}" ]; then
        kill -TERM "$LAB_PID" 2>/dev/null
        wait "$LAB_PID" 2>/dev/null
        LAB_PID=
    fi
    return 0
}

lab() {
    _cmd=${1:?usage: lab CMD ARGS...}
    shift
    "${V2K_LAB:-$TOP/build/v2k-lab}" "$_cmd" --state "${LAB_STATE:?no lab started}" "$@"
}

#!/bin/bash
# The lab's own tests: `go test` of tests/lab/src, the shell helpers, and the
# independent pyvmomi check. Exit 0 pass, 1 fail, 77 skip (a tool missing;
# with CI=true a skip counts as a failure). Last line: "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; }
skip() { skipped=$((skipped + 1)); echo "SKIP: $1"; }

missing=
for tool in go qemu-img qemu-nbd nbdinfo nbdcopy /usr/bin/python3; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
[ -d /usr/share/gocode/src/github.com/vmware/govmomi/simulator ] || missing="$missing golang-github-vmware-govmomi-dev"
/usr/bin/python3 -c 'import pyVmomi' 2>/dev/null || missing="$missing python3-pyvmomi"
if [ -n "$missing" ]; then
    echo "SKIP: missing:$missing"
    if [ "${CI:-}" = true ]; then
        echo "0 passed, 1 failed"
        exit 1
    fi
    echo "0 passed, 0 failed, 1 skipped"
    exit 77
fi

export GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS=
[ -n "${GOCACHE:-}" ] || export GOCACHE="${XDG_CACHE_HOME:-$HOME/.cache}/go-build"
build=${V2K_LAB_BUILD:-$top/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if "$here/build.sh" "$build"; then pass "build.sh"; else fail "build.sh"; fi

# go test: count its tests from the -v output.
(cd "$here/src" && go test -count=1 -timeout 150s -v . >"$tmp/go.log" 2>&1)
go_rc=$?
grep -E '^(--- |ok|FAIL|panic)' "$tmp/go.log"
p=$(grep -c '^--- PASS' "$tmp/go.log")
f=$(grep -c '^--- FAIL' "$tmp/go.log")
s=$(grep -c '^--- SKIP' "$tmp/go.log")
passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
if [ "$go_rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    tail -n 40 "$tmp/go.log"
    fail "go test (exit $go_rc)"
fi

# lab-functions.sh: start, talk to it, stop.
cat >"$tmp/spec.json" <<'SPEC'
{"datacenter": "DC0", "host": "esxi01.lab.local", "datastores": ["datastore1"],
 "vms": [{"name": "web01", "disks": [{"size": 1048576}]}]}
SPEC
(
    export V2K_LAB="$build/v2k-lab"
    . "$here/lab-functions.sh"
    lab_start "$tmp/spec.json" "$tmp/state" || exit 1
    [ "$V2K_LAB_STATE" = "$tmp/state" ] && [ -n "$GOVC_URL" ] && [ "$GOVC_INSECURE" = 1 ] || exit 1
    lab write --vm web01 --disk 0 --offset 0 --length 4096 --seed 1 || exit 1
    lab info --vm web01 | grep -q '"moref"' || exit 1
    pid=$LAB_PID
    lab_stop
    ! kill -0 "$pid" 2>/dev/null
) && pass "lab-functions.sh" || fail "lab-functions.sh"

if /usr/bin/python3 "$here/pyvmomi_check.py" "$build/v2k-lab"; then
    pass "pyvmomi_check.py"
else
    fail "pyvmomi_check.py"
fi

if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] || exit 1
if [ "$skipped" -gt 0 ]; then
    [ "${CI:-}" = true ] && exit 1
    exit 77
fi
exit 0

# Sourced by every integration test.  Gives:
#   requires CMD...      skip (exit 77) when a tool is missing; in CI a failure
#   cleanup_add CMD      run CMD (eval'd) at exit, last added first
#   fail MSG             print and exit 1
#   expect_fail CMD...   the command must fail (exit 1); its stderr in $ERR
#   start_lab SPEC       start the lab from tests/lab/lab-functions.sh
#   v2k ...              the v2k under test ($V2K)
set -u
TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
V2K=${V2K:-$TOP/build/v2k}
export V2K_LAB=${V2K_LAB:-$TOP/build/v2k-lab}
TESTNAME=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/v2k-$TESTNAME.XXXXXX")
export TMPDIR=$T

skip () {
  if [ "${CI:-}" = true ]; then
    echo "$TESTNAME: FAIL: cannot run in CI: $*" >&2
    exit 1
  fi
  echo "$TESTNAME: SKIP: $*" >&2
  exit 77
}

requires () {
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || skip "'$c' is not installed"
  done
}

_cleanups=()
cleanup_add () { _cleanups=("$1" "${_cleanups[@]}"); }
_run_cleanups () {
  local rc=$?
  for c in "${_cleanups[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
  if [ $rc -eq 0 ] || [ -n "${KEEP_TMP:-}" ]; then :; fi
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$T"
  exit $rc
}
trap _run_cleanups EXIT

fail () { echo "$TESTNAME: FAIL: $*" >&2; exit 1; }
note () { echo "$TESTNAME: $*" >&2; }

v2k () { "$V2K" "$@"; }

# expect_fail [-s STATUS] CMD...: must exit with STATUS (default 1).
expect_fail () {
  local want=1
  if [ "$1" = -s ]; then want=$2; shift 2; fi
  set +e
  "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  set -e
  ERR=$(cat "$T/err")
  OUT=$(cat "$T/out")
  [ $rc -eq "$want" ] || fail "expected exit $want from '$*', got $rc: $ERR"
}

# assert_contains HAYSTACK NEEDLE
assert_contains () {
  case "$1" in *"$2"*) ;; *) fail "expected '$2' in: $1" ;; esac
}

requires jq qemu-img
[ -x "$V2K" ] || skip "v2k is not built ($V2K)"

lab () { "$V2K_LAB" "$1" --state "$LAB_STATE" "${@:2}"; }   # lab CMD ARGS: the running lab

start_lab () { # SPEC: serve the lab in the background, export GOVC_* and LAB_*
  [ -x "$V2K_LAB" ] || skip "the lab is not built ($V2K_LAB)"
  export LAB_STATE=$T/lab V2K_LAB_STATE=$T/lab
  mkdir -p "$LAB_STATE"
  "$V2K_LAB" serve --state "$LAB_STATE" --spec "$1" > "$T/lab.log" 2>&1 &
  LAB_PID=$!
  cleanup_add "kill $LAB_PID; wait $LAB_PID"
  local i
  for ((i = 0; i < 100; i++)); do
    [ -s "$LAB_STATE/lab.env" ] && [ -s "$LAB_STATE/lab.json" ] && break
    kill -0 $LAB_PID 2>/dev/null || fail "the lab exited: $(cat "$T/lab.log")"
    sleep 0.1
  done
  [ -s "$LAB_STATE/lab.env" ] || fail "the lab did not become ready: $(cat "$T/lab.log")"
  set -a
  # shellcheck source=/dev/null
  . "$LAB_STATE/lab.env"
  set +a
}

# A lab spec with one VM; $1 = VM name, further args = disk JSON objects.
# The guest is "other" (the tests' guests are boot sectors, not an OS that
# guest conversion could work on); GUEST_ID overrides it.
make_spec () {
  local name=$1; shift
  local disks
  disks=$(IFS=,; echo "$*")
  cat <<JSON
{"datacenter": "DC0", "host": "esxi01.lab.local", "datastores": ["datastore1"],
 "networks": ["VM Network", "Prod-VLAN10"],
 "vms": [{"name": "$name", "guest_id": "${GUEST_ID:-otherGuest64}", "firmware": "bios",
          "secure_boot": false, "cpus": 2, "cores_per_socket": 1, "memory_mb": 2048,
          "hw_version": 19, "power": "poweredOn", "tools": "toolsOk",
          "disks": [$disks],
          "nics": [{"type": "vmxnet3", "mac": "00:50:56:aa:bb:01", "network": "VM Network"}]}]}
JSON
}

disk_json () { # size controller bus unit [mode]
  echo "{\"size\": $1, \"controller\": \"$2\", \"bus\": $3, \"unit\": $4, \"datastore\": \"datastore1\", \"provisioning\": \"thin\", \"mode\": \"${5:-persistent}\"}"
}

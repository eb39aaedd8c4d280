#!/bin/bash
# --dry-run prints what would be done and changes nothing: vCenter's
# snapshot list, the VM's CBT and power state, the target directory and
# the workdir stay as they were, for every mutating command.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
TRANSPORT=file
requires qemu-nbd
three_disk_spec > "$T/spec.json"
start_lab "$T/spec.json"
WD=$T/wd
gwrite 0 0 $((2 * MiB)) 1

state () { # -> snapshot list, cbt, power, target dir listing with sizes, workdir files
  "$V2K_LAB" info --state "$LAB_STATE" --vm web01 | jq -c '{power, cbt, snaps: [.snapshots[].moref]}'
  (cd "$T" && find dst wd -printf '%p %s %T@\n' 2>/dev/null | grep -v '/\.lock ' | sort) || true
}

# init itself: no workdir is created.
ds=$(jq -r '.datastores.datastore1' "$LAB_STATE/lab.json")
v2k --dry-run --workdir "$WD" init --vm web01 --vcenter "$GOVC_URL" --dst "$T/dst" \
  --transport file --datastore-map "datastore1=$ds" > "$T/out"
assert_contains "$(cat "$T/out")" "dry run: would create workdir"
[ ! -e "$WD" ] || fail "init --dry-run created the workdir"
v2k --dry-run --workdir "$WD" run --vm web01 --vcenter "$GOVC_URL" --dst "$T/dst" \
  --transport file --datastore-map "datastore1=$ds" > "$T/out"
[ ! -e "$WD" ] && [ ! -e "$T/dst" ] || fail "run --dry-run created files"

init_transport "$WD" "$T/dst"
check () { # label command...
  local label=$1; shift
  state > "$T/before"
  v2k --dry-run --workdir "$WD" "$@" > "$T/out" || fail "$label: $(cat "$T/out")"
  grep -q "dry run" "$T/out" || fail "$label printed no plan"
  state > "$T/after"
  diff -u "$T/before" "$T/after" >&2 || fail "$label --dry-run changed something"
}
check "cbt enable" cbt enable
v2k --workdir "$WD" cbt enable
check "snapshot base" snapshot base
v2k --workdir "$WD" snapshot base >/dev/null
check "sync base" sync base
grep -q "would copy" "$T/out" || fail "sync --dry-run did not show the copy plan"
v2k --workdir "$WD" sync base
gwrite 1 4096 8192 3
check "snapshot incr" snapshot incr
v2k --workdir "$WD" snapshot incr >/dev/null
check "sync incr" sync incr
check "verify" verify
# (cutover's dry run checks libvirt, as the real one does first)
virsh -c qemu:///system version >/dev/null 2>&1 && \
  check "cutover" cutover --shutdown poweroff --start --domain-type qemu --network-map "VM Network=bridge:none0"
check "run" run --split phase1
check "rollback" rollback
check "cleanup" cleanup --disable-cbt
check "cbt disable" cbt disable
note "ok"

#!/bin/bash
# init records the VM's inventory; rerunning it is harmless; usage errors exit 2.
. "$(dirname "$0")/functions.sh"
set -e

GUEST_ID=rhel9_64Guest make_spec web01 "$(disk_json 1073741824 pvscsi 0 0)" "$(disk_json 536870912 sata 0 1)" \
  | jq '.vms[0].nics += [{"type":"e1000e","mac":"00:50:56:aa:bb:02","network":"Prod-VLAN10"}]' \
  > "$T/spec.json"
start_lab "$T/spec.json"

WD=$T/wd
v2k --workdir "$WD" init --vm web01 --vcenter "$GOVC_URL" --dst "$T/dst" > "$T/init.out"
[ "$(cat "$T/init.out")" = "$WD" ] || fail "init printed '$(cat "$T/init.out")', not the workdir"
[ "$(stat -c %a "$WD")" = 700 ] || fail "workdir mode is $(stat -c %a "$WD")"
[ "$(stat -c %a "$WD/credentials")" = 600 ] || fail "credentials mode is not 0600"
M=$WD/manifest.json
jq -e '.schema == 1' "$M" >/dev/null || fail "no schema version"
jq -e '.vm.name == "web01" and (.vm.moref | startswith("vm-"))' "$M" >/dev/null || fail "vm"
jq -e '.vm.cpus == 2 and .vm.memory_mb == 2048 and .vm.firmware == "bios"' "$M" >/dev/null || fail "vm sizing"
jq -e '.vm.uuid != null and .vm.instance_uuid != null and .vm.guest_id == "rhel9_64Guest"' "$M" >/dev/null || fail "uuids"
thumb=$(jq -r .thumbprint "$LAB_STATE/lab.json")
jq -e --arg t "$thumb" '.host.name == "esxi01.lab.local" and .host.thumbprint == $t' "$M" >/dev/null \
  || fail "host thumbprint: $(jq -c .host "$M") vs $thumb"
jq -e '.disks | length == 2' "$M" >/dev/null || fail "disk count"
jq -e '.disks[0].controller.type == "pvscsi" and .disks[0].capacity == 1073741824 and .disks[0].disk_id == "scsi0:0"' "$M" >/dev/null \
  || fail "disk 0: $(jq -c '.disks[0]' "$M")"
jq -e '.disks[1].controller.type == "sata" and .disks[1].capacity == 536870912' "$M" >/dev/null || fail "disk 1"
jq -e --arg d "$T/dst" '.disks[0].target.path == ($d + "/disk0.qcow2") and .disks[1].target.path == ($d + "/disk1.qcow2")' "$M" >/dev/null \
  || fail "target paths"
jq -e '.disks[0].role == "root" and .disks[1].role == "data"' "$M" >/dev/null || fail "roles"
jq -e '[.disks[].file | startswith("[datastore1] ")] | all' "$M" >/dev/null || fail "disk files"
jq -e '.nics | length == 2 and .[0].mac == "00:50:56:aa:bb:01" and .[1].model == "e1000e" and .[1].network == "Prod-VLAN10"' "$M" >/dev/null \
  || fail "nics: $(jq -c .nics "$M")"
jq -s -e 'any(.[]; .event == "init.done")' "$WD/events.log" >/dev/null || fail "no init.done event"
jq -s -e 'all(.[]; has("ts") and has("run_id") and has("level") and has("phase") and has("disk_id") and has("event") and has("detail"))' \
  "$WD/events.log" >/dev/null || fail "event fields"
jq -e '[.preflight.warnings[].code] | index("cbt-off") != null' "$M" >/dev/null || fail "cbt-off warning"

# Same VM again: harmless, prints the workdir.
v2k --workdir "$WD" init --vm web01 --vcenter "$GOVC_URL" --dst "$T/dst" > "$T/init2.out"
[ "$(cat "$T/init2.out")" = "$WD" ] || fail "second init"

# Lookup by moref and by inventory path.
moref=$(jq -r .vm.moref "$M")
v2k --workdir "$T/wd2" init --vm "$moref" --vcenter "$GOVC_URL" --dst "$T/dst2" >/dev/null
jq -e --arg m "$moref" '.vm.moref == $m' "$T/wd2/manifest.json" >/dev/null || fail "by moref"
v2k --workdir "$T/wd3" init --vm /DC0/vm/web01 --vcenter "$GOVC_URL" --dst "$T/dst3" >/dev/null
jq -e --arg m "$moref" '.vm.moref == $m' "$T/wd3/manifest.json" >/dev/null || fail "by path"

# Usage.
v2k init --help | grep -q -- '--vm' || fail "init --help"
expect_fail -s 2 v2k init --dst "$T/x"
expect_fail -s 2 v2k --workdir "$WD" init --vm web01 --dst "$T/x" --target-format vhd
expect_fail -s 2 v2k nosuchcommand
expect_fail -s 2 v2k --workdir "$WD" status --bogus
note "ok"

#!/bin/bash
# A BIOS VM whose bootable "Hard disk 1" is on SATA (no boot order) or IDE
# (config.bootOptions.bootOrder naming it) beside a pvscsi data disk at
# scsi0:0: the root disk is the boot disk, it comes first in the domain
# with boot order 1, and the migrated domain boots from it.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/libvirt-lib.sh"
. "$(dirname "$0")/run-lib.sh"
set -e
requires python3 qemu-nbd
setup_libvirt

check_vm () { # vm controller disk_id_prefix mode
  local vm=$1 dom=v2k-$1-$$ wd=$T/wd-$1 mark="boot-$1-$$"
  drop_domain "$dom"
  cutover_args "$dom"
  marker "$vm" "$mark"
  # shellcheck disable=SC2046
  v2k --workdir "$wd" run --mode "$4" --vm "$vm" --vcenter "$GOVC_URL" --dst "$T/dst-$vm" \
    $(file_transport_args) --interval 1s --converge-bytes 1M "${CUT[@]}" > "$T/$vm.out"
  jq -e --arg p "$3" '[.disks[] | {role, disk_id, key}] as $d
     | ($d | map(select(.role == "root"))) as $r
     | ($r | length) == 1 and ($r[0].disk_id | startswith($p))' "$wd/manifest.json" >/dev/null \
    || fail "$vm: wrong root disk: $(jq -c '[.disks[] | {label, disk_id, role}]' "$wd/manifest.json")"
  root_target=$(jq -r '.disks[] | select(.role == "root") | .target.path' "$wd/manifest.json")
  virsh -c qemu:///system dumpxml "$dom" > "$T/$vm.xml"
  python3 - "$T/$vm.xml" "$root_target" <<'PY' || fail "$vm: the root disk is not first with boot order 1"
import sys, xml.etree.ElementTree as ET
disks = ET.parse(sys.argv[1]).findall("./devices/disk[@device='disk']")
first = disks[0]
assert first.find("source").get("file") == sys.argv[2], first.find("source").get("file")
assert first.find("boot").get("order") == "1"
assert all(d.find("boot") is None for d in disks[1:])
PY
  wait_console "$wd/console.log" "V2K-BOOT $mark" 90 \
    || fail "$vm: no marker on the console: $(tr -d '\0' < "$wd/console.log" 2>/dev/null | tail -c 300)"
  virsh -c qemu:///system destroy "$dom" >/dev/null
  note "$vm: root $(jq -r '.disks[] | select(.role == "root") | .disk_id' "$wd/manifest.json") boots"
}

boot_spec sata01 sata \
  '.vms += [.vms[0] | .name = "ide01" | .nics[0].mac = "00:50:56:aa:bb:02"
            | .disks[0].controller = "ide" | .boot_order = [0]]' > "$T/spec.json"
start_lab "$T/spec.json"
"$V2K_LAB" info --state "$LAB_STATE" --vm sata01 >/dev/null
check_vm sata01 sata sata warm
check_vm ide01 ide ide cold
jq -e '(.vm.boot_order // []) | length == 0' "$T/wd-sata01/manifest.json" >/dev/null || fail "sata01 has a boot order"
jq -e '.vm.boot_order | length == 1' "$T/wd-ide01/manifest.json" >/dev/null || fail "ide01 lost its boot order"
note "ok"

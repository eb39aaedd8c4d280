#!/bin/bash
# A real Linux guest installed on "VMware" (pvscsi, vmxnet3, an initramfs
# without virtio, fstab on /dev/sda1, ifupdown on ens192) is migrated warm
# and converted by cutover: it reaches multi-user on virtio-blk and
# virtio-net with / read-write and ens192 up.  Slow: virt-v2v-in-place
# under TCG takes minutes (suite 'slow').
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/libvirt-lib.sh"
. "$(dirname "$0")/guest-lib.sh"
set -e
requires virt-v2v-in-place guestfish
ls /boot/vmlinuz-* >/dev/null 2>&1 || skip "libguestfs needs a kernel on the host (Debian package linux-image-amd64)"
guest_image
guest_migrate --convert virt-v2v
cat "$T/cutover.err" >&2
t_conv=$(jq -r '.cutover.convert.seconds' "$WD/manifest.json")
note "conversion took $t_conv s"
jq -e '.cutover.convert.converted == true and .cutover.convert.seconds > 0
       and .cutover.convert.nic_names == "ens192=00:50:56:aa:bb:01"
       and (.cutover.steps.convert | type) == "number" and .phase == "running"' \
  "$WD/manifest.json" >/dev/null || fail "conversion not recorded: $(jq -c .cutover "$WD/manifest.json")"
jq -s -e 'any(.[]; .event == "convert.done") and any(.[]; .event == "convert.started")' \
  "$WD/events.log" >/dev/null || fail "no convert events"
[ -s "$WD/convert.log" ] || fail "no convert.log"
virsh -c qemu:///system dumpxml "$DOM" > "$T/dom.xml"
grep -q "bus='virtio'" "$T/dom.xml" || fail "disks not on virtio: $(grep -A3 '<disk' "$T/dom.xml")"
grep -q "<model type='virtio'/>" "$T/dom.xml" || fail "NIC not virtio"
guest_wait "$WD/console.log" 900 \
  || fail "the converted guest did not reach the marker: $(guest_console_tail "$WD/console.log")"
note "marker $(( $(date +%s) - GUEST_T0 )) s after the cutover began: $GUEST_MARKER"
assert_contains "$GUEST_MARKER" "root=/dev/vda1 "
assert_contains "$GUEST_MARKER" "rw=yes"
assert_contains "$GUEST_MARKER" "net=active"
assert_contains "$GUEST_MARKER" "nics=ens192"
# The data disk carries the guest's write, untouched by the conversion.
lab_disk1=$("$V2K_LAB" info --state "$LAB_STATE" --vm "$GVM" | jq -r '.disks[1].file')
qemu-img compare -q -U "$lab_disk1" "$T/dst/disk1.qcow2" || fail "data disk differs from the source"
note "ok"

#!/bin/bash
# Negative control for guest-convert: the same migration with
# --convert none puts the guest on virtio without drivers in its
# initramfs, and it must not reach multi-user (its initramfs gives up
# waiting for the root device).  Proof that the conversion is what makes
# the converted guest boot.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/libvirt-lib.sh"
. "$(dirname "$0")/guest-lib.sh"
set -e
guest_image
guest_migrate --convert none --disk-bus virtio-blk
jq -e '.cutover.convert.converted == false and .cutover.convert.mode == "none"' \
  "$WD/manifest.json" >/dev/null || fail "plan not recorded: $(jq -c .cutover.convert "$WD/manifest.json")"
virsh -c qemu:///system domstate "$DOM" | grep -q running || fail "domain not running"
# Unconverted, the initramfs waits for /dev/sda1 (rootdelay, then its shell).
if guest_wait "$WD/console.log" 240; then
  fail "the unconverted guest reached the marker on virtio: $GUEST_MARKER"
fi
tr -d '\0\r' < "$WD/console.log" | grep -a -q -E "Gave up waiting for root|ALERT!|Waiting for root file system" \
  || fail "no sign of the initramfs failing: $(guest_console_tail "$WD/console.log")"
note "ok: $(tr -d '\0\r' < "$WD/console.log" | grep -a -m1 -E 'Gave up|ALERT' || true)"

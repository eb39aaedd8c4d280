#!/bin/bash
# The test guest is a working VMware-style guest: on VMware's own devices
# (pvscsi disk, vmxnet3 NIC) under plain QEMU it reaches multi-user with
# / on /dev/sda1 read-write and ens192 up.  Everything the conversion
# tests conclude rests on this.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/guest-lib.sh"
set -e
guest_image
t0=$(date +%s)
guest_boot_vmware "$GUEST_IMG" "$T/console.log"
guest_wait "$T/console.log" 420 \
  || fail "no marker on pvscsi + vmxnet3: $(guest_console_tail "$T/console.log")"
note "marker after $(( $(date +%s) - t0 )) s: $GUEST_MARKER"
assert_contains "$GUEST_MARKER" "root=/dev/sda1 "
assert_contains "$GUEST_MARKER" "rw=yes"
assert_contains "$GUEST_MARKER" "net=active"
assert_contains "$GUEST_MARKER" "nics=ens192"
note "ok"

#!/bin/bash
# Block-device targets (init --target-map DISK=/dev/...): a loop device
# whose old contents are garbage must end up byte for byte the snapshot,
# holes included (a new file reads as zeroes; a device does not), through
# base and incr rounds; bad mappings are refused at init.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
TRANSPORT=file
requires losetup
[ "$(id -u)" -eq 0 ] || skip "loop devices need root"

three_disk_spec > "$T/spec.json"
start_lab "$T/spec.json"
WD=$T/wd

# A loop device over a file full of 0xAA: what a reused LUN looks like.
attach () { # file -> prints the device
  local dev
  dev=$(losetup -f) || return 1
  [ -b "$dev" ] || mknod "$dev" b 7 "${dev#/dev/loop}" || return 1
  losetup "$dev" "$1" && echo "$dev"
}
head -c "${SIZES[0]}" /dev/zero | tr '\0' '\252' > "$T/lun0.img"
LOOP=$(attach "$T/lun0.img") || skip "cannot attach a loop device here"
cleanup_add "losetup -d $LOOP"
truncate -s $((MiB)) "$T/small.img"
SMALL=$(attach "$T/small.img") || skip "cannot attach a loop device here"
cleanup_add "losetup -d $SMALL"

gwrite 0 $((MiB)) $((3 * MiB)) 1
gwrite 0 $((40 * MiB)) 4096 2
gwrite 1 0 $((2 * MiB)) 3

# Bad mappings: clear errors, no workdir.
expect_fail init_transport "$T/bad1" "$T/dst" --target-map "scsi9:9=$LOOP"
assert_contains "$ERR" "no such disk"
expect_fail init_transport "$T/bad2" "$T/dst" --target-map "scsi0:0=/dev/null"
assert_contains "$ERR" "not a block device"
expect_fail init_transport "$T/bad3" "$T/dst" --target-map "scsi0:0=$SMALL"
assert_contains "$ERR" "needs"
expect_fail init_transport "$T/bad4" "$T/dst" --target-map "0=$LOOP" --target-map "1=$LOOP"
assert_contains "$ERR" "both be written"
[ ! -e "$T/bad1/manifest.json" ] || fail "manifest written for a bad mapping"

init_transport "$WD" "$T/dst" --target-map "scsi0:0=$LOOP"
jq -e --arg d "$LOOP" '.disks[0].target == {"path": $d, "format": "raw"} and
  (.disks[1].target.path | endswith("disk1.qcow2"))' "$WD/manifest.json" >/dev/null \
  || fail "targets: $(jq -c '[.disks[].target]' "$WD/manifest.json")"
v2k --workdir "$WD" cbt enable
v2k --workdir "$WD" snapshot base >/dev/null
v2k --workdir "$WD" sync base
compare_all "$WD" base

# Incr: new data, zeroes over data, the last sector.
gwrite 0 $((2 * MiB)) $((MiB)) zero
gwrite 0 $((SIZES[0] - 512)) 512 4
gwrite 0 $((20 * MiB)) 65536 5
v2k --workdir "$WD" snapshot incr >/dev/null
v2k --workdir "$WD" sync incr
compare_all "$WD" incr
v2k --workdir "$WD" verify --mode full >/dev/null

# doctor counts only the file targets against the free space under --dst.
out=$("$V2K" --workdir "$WD" doctor 2>&1 || true)
assert_contains "$out" "disks' capacity $(( (SIZES[1] + SIZES[2]) >> 20 )) MiB"
note "ok ($LOOP)"

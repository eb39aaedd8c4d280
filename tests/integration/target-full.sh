#!/bin/bash
# The target's filesystem fills up during a sync: the sync fails naming
# the target file and ENOSPC, the disk that could not be finished keeps no
# changeId (its checkpoint stays); with space added the same command
# continues from the checkpoint.  The same for an incremental round, whose
# changeIds must not advance.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
requires qemu-nbd mount umount
[ "$(id -u)" -eq 0 ] || skip "needs root to mount a small tmpfs"
three_disk_spec > "$T/spec.json"
start_lab "$T/spec.json"
TRANSPORT=file
M=$T/wd/manifest.json

gwrite 0 0 $((34 * MiB)) 1
gwrite 1 0 $((20 * MiB)) 2
mkdir -p "$T/small"
mount -t tmpfs -o size=30m tmpfs "$T/small" || skip "cannot mount a tmpfs"
cleanup_add "umount -l $T/small"
init_transport "$T/wd" "$T/small/dst" 2>/dev/null
v2k --workdir "$T/wd" cbt enable
v2k --workdir "$T/wd" snapshot base >/dev/null

expect_fail v2k --workdir "$T/wd" sync base --jobs 1 --retries 0
assert_contains "$ERR" "cannot write target '$T/small/dst/disk0.qcow2'"
assert_contains "$ERR" "No space left on device"
jq -e '.disks[0].sync.change_id == null and .disks[0].sync.checkpoint.pos > 0' "$M" >/dev/null \
  || fail "the disk that did not fit: $(jq -c '.disks[0].sync' "$M")"
pos=$(jq '.disks[0].sync.checkpoint.pos' "$M")

mount -o remount,size=200m "$T/small"
v2k --workdir "$T/wd" sync base >/dev/null
grep -q '"event":"sync.resume".*"pos":'"$pos" "$T/wd/events.log" || fail "the rerun did not resume at $pos"
compare_all "$T/wd" "base after space was added"

# An incremental round that does not fit (new clusters): nothing advances.
gwrite 0 $((36 * MiB)) $((26 * MiB)) 3
v2k --workdir "$T/wd" snapshot incr >/dev/null
before=$(jq -c '[.disks[].sync.change_id]' "$M")
used=$(df -B1 --output=used "$T/small" | tail -1)
mount -o remount,size=$((used + 8 * MiB)) "$T/small"
expect_fail v2k --workdir "$T/wd" sync incr --retries 0
assert_contains "$ERR" "No space left on device"
[ "$(jq -c '[.disks[0].sync.change_id]' "$M")" = "$(echo "$before" | jq -c '[.[0]]')" ] \
  || fail "a changeId advanced past a failed write"
mount -o remount,size=300m "$T/small"
v2k --workdir "$T/wd" sync incr >/dev/null
compare_all "$T/wd" "incr after space was added"
note "ok"

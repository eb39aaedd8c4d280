#!/bin/bash
# A target removed behind v2k's back: an incremental sync must not
# recreate it empty and apply only the changes (a silently broken disk);
# it refuses, advances nothing, and goes on once the target is back.  A
# base interrupted mid-copy whose target vanished starts again.  And the
# final snapshot goes ahead of a failed predecessor removal.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
TRANSPORT=file
requires qemu-nbd

three_disk_spec > "$T/spec.json"
start_lab "$T/spec.json"
WD=$T/wd
M=$WD/manifest.json
gwrite 0 0 $((48 * MiB)) 1
gwrite 1 0 $((4 * MiB)) 2
init_transport "$WD" "$T/dst"
v2k --workdir "$WD" cbt enable
v2k --workdir "$WD" snapshot base >/dev/null

# Base: killed once it has a checkpoint, target removed, rerun.
"$V2K" --workdir "$WD" sync base --chunk 256K --checkpoint-bytes 1M --jobs 1 \
  >/dev/null 2>&1 & pid=$!
for ((i = 0; i < 200; i++)); do
  jq -e '.disks[0].sync.checkpoint.pos > 0' "$M" >/dev/null 2>&1 && break
  sleep 0.02
done
kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
if jq -e '.disks[0].sync.checkpoint.pos > 0 and (.disks[0].sync.snapshot == null)' "$M" >/dev/null; then
  rm -f "$T/dst/disk0.qcow2"
  note "base killed at $(jq '.disks[0].sync.checkpoint.pos' "$M"), target removed"
else
  note "the base finished before it could be killed; its restart is not exercised"
fi
v2k --workdir "$WD" sync base
compare_all "$WD" "base"

# Incr with a target gone: refused, nothing advanced.
gwrite 1 $((MiB)) 4096 3
v2k --workdir "$WD" snapshot incr >/dev/null
mv "$T/dst/disk1.qcow2" "$T/disk1.saved"
before=$(jq -c '[.disks[].sync.change_id]' "$M")
expect_fail v2k --workdir "$WD" sync incr
assert_contains "$ERR" "disk1.qcow2"
assert_contains "$ERR" "is gone"
[ ! -e "$T/dst/disk1.qcow2" ] || fail "the target was recreated"
[ "$(jq -c '[.disks[].sync.change_id]' "$M")" = "$before" ] || fail "a changeId advanced"
mv "$T/disk1.saved" "$T/dst/disk1.qcow2"
v2k --workdir "$WD" sync incr
compare_all "$WD" "incr once the target is back"

# The final snapshot does not wait for a failed removal (the guest is
# down): a warning, and the final sync removes what is left.
gwrite 2 0 4096 4
v2k --workdir "$WD" snapshot incr >/dev/null
"$V2K_LAB" fault --state "$LAB_STATE" --task-fail RemoveSnapshot_Task
v2k --workdir "$WD" sync incr 2>/dev/null
"$V2K_LAB" power --state "$LAB_STATE" --vm web01 off
"$V2K_LAB" fault --state "$LAB_STATE" --task-fail RemoveSnapshot_Task
v2k --workdir "$WD" snapshot final >/dev/null 2>"$T/final.err"
assert_contains "$(cat "$T/final.err")" "warning: remove snapshot"
[ "$(v2k_snaps)" -eq 3 ] || fail "expected 3 v2k snapshots before the final sync, found $(v2k_snaps)"
v2k --workdir "$WD" sync final
compare_all "$WD" "final"
[ "$(v2k_snaps)" -eq 1 ] || fail "expected 1 v2k snapshot after the final sync, found $(v2k_snaps)"
note "ok"

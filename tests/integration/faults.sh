#!/bin/bash
# Faults during sync (vddk transport through the lab's nbdkit stand-in):
# a failing QueryChangedDiskAreas page, a session that expires in the
# middle of the page walk, dropped NBD connections, a failed snapshot
# removal.  Each gives a clear error or is retried; no changeId advances
# on a failure; a rerun finishes with targets identical to the snapshot.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
TRANSPORT=vddk

three_disk_spec > "$T/spec.json"
start_lab "$T/spec.json"
WD=$T/wd
M=$WD/manifest.json
gwrite 0 0 $((8 * MiB)) 1
init_transport "$WD" "$T/dst"
v2k --workdir "$WD" cbt enable
v2k --workdir "$WD" snapshot base >/dev/null
v2k --workdir "$WD" sync base
compare_all "$WD" base
cids () { jq -c '[.disks[].sync.change_id]' "$M"; }

# 1. The second page of the walk fails: clear error, nothing advanced.
gwrite 0 4096 512 5 5000 $((8 * 1024))
v2k --workdir "$WD" snapshot incr >/dev/null
before=$(cids)
"$V2K_LAB" fault --state "$LAB_STATE" --method QueryChangedDiskAreas --nth 2 --fault SystemError --message "page lost"
expect_fail v2k --workdir "$WD" sync incr
assert_contains "$ERR" "QueryChangedDiskAreas"
assert_contains "$ERR" "page lost"
[ "$(cids)" = "$before" ] || fail "a changeId advanced after a failed page: $(cids)"
v2k --workdir "$WD" sync incr
compare_all "$WD" "incr after a failed page"

# 2. The session expires in the middle of the walk: one re-login, done.
gwrite 0 8192 512 6 5000 $((8 * 1024))
v2k --workdir "$WD" snapshot incr >/dev/null
"$V2K_LAB" fault --state "$LAB_STATE" --method QueryChangedDiskAreas --nth 2 --fault NotAuthenticated
v2k --workdir "$WD" sync incr
compare_all "$WD" "incr across an expired session"

# 3. Dropped NBD connections: retried from the checkpoint ...
gwrite 0 $((MiB)) $((6 * MiB)) 7
gwrite 1 0 $((4 * MiB)) 8
v2k --workdir "$WD" snapshot incr >/dev/null
"$V2K_LAB" fault --state "$LAB_STATE" --nbd-drop-after 300000
v2k --workdir "$WD" sync incr --chunk 256K --checkpoint-bytes 1M
compare_all "$WD" "incr across a dropped connection"
jq -s -e 'any(.[]; .event == "sync.retry")' "$WD/events.log" >/dev/null || fail "no retry recorded"

# ... a link that hangs (nothing more comes, the connection stays open):
# after --io-timeout without a reply, retried from the checkpoint ...
gwrite 1 $((MiB)) $((5 * MiB)) 10
v2k --workdir "$WD" snapshot incr >/dev/null
"$V2K_LAB" fault --state "$LAB_STATE" --nbd-stall-after 300000
t0=$(date +%s)
v2k --workdir "$WD" sync incr --chunk 256K --checkpoint-bytes 1M --io-timeout 2
[ $(( $(date +%s) - t0 )) -lt 60 ] || fail "the hung link held the sync for $(( $(date +%s) - t0 )) s"
compare_all "$WD" "incr across a hung connection"
jq -s -e 'any(.[]; .event == "sync.retry" and (.detail.error | test("no reply from the source")))' \
    "$WD/events.log" >/dev/null ||
    fail "no retry after the hung link recorded: $(jq -c 'select(.event == "sync.retry") | .detail.error' "$WD/events.log")"

# ... and without retries, a clear failure that leaves state intact.
gwrite 2 0 $((4 * MiB)) 9
v2k --workdir "$WD" snapshot incr >/dev/null
before=$(jq -r '.disks[2].sync.change_id' "$M")
"$V2K_LAB" fault --state "$LAB_STATE" --nbd-drop-after 200000
expect_fail v2k --workdir "$WD" sync incr --retries 0
assert_contains "$ERR" "scsi1:0"
# Disks 0 and 1 had nothing to copy and are done; disk 2 is not.
[ "$(jq -r '.disks[2].sync.change_id' "$M")" = "$before" ] || fail "disk 2's changeId advanced after a dropped connection"
jq -e '[.snapshots[] | select(.synced | not)] | length == 1' "$M" >/dev/null || fail "snapshot marked synced"
"$V2K_LAB" fault --state "$LAB_STATE" --clear
v2k --workdir "$WD" sync incr
compare_all "$WD" "incr rerun after a dropped connection"

# 4. Removing the predecessor fails after a sync: a warning, the data is
# synced.  The next snapshot removes it first, so that never more than
# two v2k snapshots exist; if that fails again, no third one is taken.
"$V2K_LAB" fault --state "$LAB_STATE" --clear
gwrite 1 0 4096 11
v2k --workdir "$WD" snapshot incr >/dev/null
"$V2K_LAB" fault --state "$LAB_STATE" --task-fail RemoveSnapshot_Task
v2k --workdir "$WD" sync incr 2> "$T/warn"
assert_contains "$(cat "$T/warn")" "warning: remove snapshot"
compare_all "$WD" "incr with a failed removal"
[ "$(v2k_snaps)" -eq 2 ] || fail "expected 2 v2k snapshots, found $(v2k_snaps)"
gwrite 1 8192 4096 12
"$V2K_LAB" fault --state "$LAB_STATE" --task-fail RemoveSnapshot_Task
expect_fail v2k --workdir "$WD" snapshot incr
assert_contains "$ERR" "could not be removed"
[ "$(v2k_snaps)" -eq 2 ] || fail "a third v2k snapshot was taken: $(v2k_snaps)"
v2k --workdir "$WD" snapshot incr >/dev/null
[ "$(v2k_snaps)" -eq 2 ] || fail "expected the synced and the new snapshot, found $(v2k_snaps)"
v2k --workdir "$WD" sync incr
compare_all "$WD" "incr after the removal was retried"
[ "$(v2k_snaps)" -eq 1 ] || fail "expected 1 v2k snapshot after the sync, found $(v2k_snaps)"

# 5. CBT switched off and on behind the run: the old changeIds are gone,
# and v2k refuses an incremental copy it could not trust.
"$V2K_LAB" fault --state "$LAB_STATE" --clear
v2k --workdir "$WD" cbt disable
v2k --workdir "$WD" cbt enable
gwrite 0 0 4096 10
v2k --workdir "$WD" snapshot incr >/dev/null
before=$(cids)
expect_fail v2k --workdir "$WD" sync incr
assert_contains "$ERR" "changed block tracking was reset"
[ "$(cids)" = "$before" ] || fail "a changeId advanced after a CBT reset"
note "ok"

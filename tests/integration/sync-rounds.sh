#!/bin/bash
# The warm flow's data path against the lab, for the transport in
# $TRANSPORT (file or vddk): base, three incr rounds (edges, 5000+
# scattered changes, zeroes over data), final; after every sync each
# target is identical to the synced snapshot's VMDK chain.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
TRANSPORT=${TRANSPORT:-file}
FMT=${TARGET_FORMAT:-qcow2}
requires qemu-nbd

three_disk_spec > "$T/spec.json"
start_lab "$T/spec.json"
WD=$T/wd
gwrite 0 $((1 * MiB)) $((6 * MiB)) 1
gwrite 1 0 $((3 * MiB)) 2
gwrite 2 $((5 * MiB)) $((MiB)) 3
init_transport "$WD" "$T/dst" --target-format "$FMT"
v2k --workdir "$WD" cbt enable

v2k --workdir "$WD" snapshot base >/dev/null
v2k --workdir "$WD" sync base
compare_all "$WD" base
# The base copy leaves the target sparse: far less than the capacity.
used=$(du -B1 "$T/dst/disk0.$FMT" | cut -f1)
[ "$used" -lt $((40 * MiB)) ] || fail "base target not sparse: $used bytes"
jq -e '.disks[0].sync.last.bytes_read > 0 and .disks[0].sync.last.seconds >= 0' "$WD/manifest.json" >/dev/null \
  || fail "no sync figures"

# Round 1: edges.
edge_writes 100
v2k --workdir "$WD" snapshot incr >/dev/null
v2k --workdir "$WD" sync incr
compare_all "$WD" incr-1
check_snapshot_count

# Round 2: 5000+ scattered changes on one disk (beyond one CBT page).
gwrite 0 4096 512 200 5200 $((12 * 1024))
gwrite 1 65536 4096 201 300 $((64 * 1024))
v2k --workdir "$WD" snapshot incr >/dev/null
v2k --workdir "$WD" sync incr --coalesce-gap 0
compare_all "$WD" incr-2
jq -e '.disks[0].sync.last.pages >= 3' "$WD/manifest.json" >/dev/null \
  || fail "expected several CBT pages: $(jq -c '.disks[0].sync.last' "$WD/manifest.json")"
check_snapshot_count

# Round 3: zeroes over data, and nothing at all on disk 2.
gwrite 0 $((MiB)) $((2 * MiB)) zero
gwrite 1 0 $((MiB)) zero
v2k --workdir "$WD" snapshot incr >/dev/null
v2k --workdir "$WD" sync incr
compare_all "$WD" incr-3
jq -e '.disks[2].sync.last.bytes_total == 0' "$WD/manifest.json" >/dev/null || fail "unchanged disk copied"
check_snapshot_count

v2k --workdir "$WD" verify --mode quick --samples 16 --seed 7 > "$T/verify.out"
v2k --workdir "$WD" verify --mode full > "$T/verify-full.out"
jq -e '.verify.equal == true and .verify.mode == "full" and (.verify.disks | all(.sha256_source == .sha256_target))' \
  "$WD/manifest.json" >/dev/null || fail "full verify record"

# Final, with the guest off.
edge_writes 300
"$V2K_LAB" power --state "$LAB_STATE" --vm web01 off
v2k --workdir "$WD" snapshot final >/dev/null
v2k --workdir "$WD" sync final
compare_all "$WD" final
check_snapshot_count
v2k --workdir "$WD" status --json | jq -e '.phase == "final" and (.snapshots | last | .synced)' >/dev/null || fail "status"

# A changed byte on the target is found by verify, naming disk and offset.
qemu-io -f "$FMT" -c "write -P 0x5a $((5 * MiB)) 512" "$T/dst/disk1.$FMT" >/dev/null
expect_fail v2k --workdir "$WD" verify --mode full
assert_contains "$ERR" "sata0:1"
assert_contains "$ERR" "$((5 * MiB))"
note "ok ($TRANSPORT, $FMT)"

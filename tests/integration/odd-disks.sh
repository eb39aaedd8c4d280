#!/bin/bash
# Disks at the edges of what vSphere allows: one sector, a few sectors
# past a 64 KiB block, a size that no block or chunk divides; on NVMe and
# IDE; thick and thin.  Base, two incr rounds writing the first and last
# sectors and across every 64 KiB boundary near the end (areas are widened
# to whole blocks, never past the disk's end), then verify --mode full.
# Both transports.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
requires qemu-nbd

SIZES=(512 $((65536 + 1536)) $((7 * MiB + 65536 * 3 + 512)))
thick () { disk_json "$@" | sed 's/"thin"/"thick"/'; }
make_spec web01 "$(disk_json "${SIZES[0]}" nvme 0 0)" "$(thick "${SIZES[1]}" ide 0 0)" \
  "$(disk_json "${SIZES[2]}" nvme 0 1)" > "$T/spec.json"
start_lab "$T/spec.json"

round_writes () { # seed
  local s=$1 d
  gwrite 0 0 512 $s
  for d in 1 2; do
    gwrite $d 0 512 $((s + d))
    gwrite $d $((SIZES[d] - 512)) 512 $((s + 10 + d))
    # Across the last 64 KiB boundary with 1 KiB after it.
    gwrite $d $(( (SIZES[d] - 1024) / 65536 * 65536 - 1024 )) 2048 $((s + 20 + d))
  done
  gwrite 2 $((3 * MiB + 512)) 1024 zero
}

for TRANSPORT in file vddk; do
  WD=$T/wd-$TRANSPORT
  gwrite 2 $((3 * MiB)) $((2 * MiB)) 7
  init_transport "$WD" "$T/dst-$TRANSPORT"
  v2k --workdir "$WD" cbt enable
  v2k --workdir "$WD" snapshot base >/dev/null
  v2k --workdir "$WD" sync base >/dev/null
  compare_all "$WD" "$TRANSPORT base"
  for round in 1 2; do
    round_writes $((round * 100))
    v2k --workdir "$WD" snapshot incr >/dev/null
    v2k --workdir "$WD" sync incr >/dev/null
    compare_all "$WD" "$TRANSPORT incr-$round"
    # What was copied never reaches past a disk's end.
    jq -e '[.disks[] | .sync.last.bytes_total <= .capacity] | all' "$WD/manifest.json" >/dev/null \
      || fail "$TRANSPORT: a sync counted more bytes than its disk holds"
  done
  v2k --workdir "$WD" verify --mode full >/dev/null
  check_snapshot_count
  v2k --workdir "$WD" cleanup >/dev/null
done
note "ok"

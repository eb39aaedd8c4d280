#!/bin/bash
# The guest keeps writing while every sync runs (warm migration's normal
# state): all three disks, both transports, and after each round every
# target equals the snapshot synced — not the live disk — and the writes
# that landed after it arrive with the next round.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
requires qemu-nbd
three_disk_spec > "$T/spec.json"
start_lab "$T/spec.json"

writes () { wc -l < "$T/written" 2>/dev/null || echo 0; }
for TRANSPORT in file vddk; do
  WD=$T/wd-$TRANSPORT
  gwrite 0 0 $((40 * MiB)) 1
  init_transport "$WD" "$T/dst-$TRANSPORT"
  v2k --workdir "$WD" cbt enable
  v2k --workdir "$WD" snapshot base >/dev/null
  rm -f "$T/stop" "$T/written"
  ( i=0
    while [ ! -e "$T/stop" ]; do
      i=$((i + 1))
      # 64 KiB at scattered, unaligned offsets of all three disks.
      gwrite $((i % 3)) $(( (i * 7919 * 4096 + 512) % (8 * MiB) )) 65536 "$i" >/dev/null 2>&1 \
        && echo "$i" >> "$T/written"
    done ) &
  W=$!
  cleanup_add "kill $W"
  v2k --workdir "$WD" sync base >/dev/null
  compare_all "$WD" "$TRANSPORT: base while the guest writes"
  for r in 1 2 3; do
    before=$(writes)
    v2k --workdir "$WD" snapshot incr >/dev/null
    v2k --workdir "$WD" sync incr >/dev/null
    compare_all "$WD" "$TRANSPORT: incr $r while the guest writes"
    [ "$(writes)" -gt "$before" ] || fail "$TRANSPORT: the guest wrote nothing during round $r"
  done
  touch "$T/stop"
  wait $W
  v2k --workdir "$WD" snapshot incr >/dev/null
  v2k --workdir "$WD" sync incr >/dev/null
  compare_all "$WD" "$TRANSPORT: the round after the writes stopped"
  note "$TRANSPORT: $(writes) guest writes during the syncs"
  v2k --workdir "$WD" cleanup >/dev/null
done
note "ok"

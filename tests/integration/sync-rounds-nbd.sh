#!/bin/bash
# The nbd transport: each disk read from an NBD URI fixed at init.  As an
# operator would, the test serves each snapshot's frozen disks at those
# URIs (qemu-nbd on the lab's VMDK chains) before its sync.  Base and two
# incr rounds (edges, 5000+ scattered changes, zeroes over data); after
# every sync each target is identical to the synced snapshot.  A disk
# without a URI is refused at init.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
requires qemu-nbd

three_disk_spec > "$T/spec.json"
start_lab "$T/spec.json"
WD=$T/wd
gwrite 0 $((1 * MiB)) $((6 * MiB)) 1
gwrite 1 0 $((3 * MiB)) 2
gwrite 2 $((5 * MiB)) $((MiB)) 3

uris=()
for i in 0 1 2; do uris+=(--nbd-uri "$i=nbd+unix:///?socket=$T/nbd-$i.sock"); done
expect_fail v2k --workdir "$T/wd-short" init --vm web01 --vcenter "$GOVC_URL" --dst "$T/dst" \
  --transport nbd "${uris[@]:0:4}"
assert_contains "$ERR" "no --nbd-uri 2=URI"
v2k --workdir "$WD" init --vm web01 --vcenter "$GOVC_URL" --dst "$T/dst" \
  --transport nbd "${uris[@]}" >/dev/null
v2k --workdir "$WD" cbt enable

serving=()
stop_serving () {
  local p
  for p in "${serving[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  serving=()
}
cleanup_add stop_serving
# Serve the disks of the snapshot v2k took last at the URIs of init.
serve () {
  local snap i key frozen
  stop_serving
  snap=$(jq -r '.snapshots | last | .moref' "$WD/manifest.json")
  "$V2K_LAB" info --state "$LAB_STATE" --vm web01 > "$T/info.json"
  for i in 0 1 2; do
    key=$(jq -r ".disks[$i].key" "$WD/manifest.json")
    frozen=$(jq -r --arg s "$snap" --argjson k "$key" \
      '.snapshots[] | select(.moref == $s) | .disks[] | select(.key == $k) | .file' "$T/info.json")
    [ -f "$frozen" ] || fail "no frozen file for disk $key in $snap"
    rm -f "$T/nbd-$i.sock"
    qemu-nbd -r -f vmdk --persistent --shared=0 --socket="$T/nbd-$i.sock" "$frozen" &
    serving+=($!)
  done
  for i in 0 1 2; do
    for _ in $(seq 100); do [ -S "$T/nbd-$i.sock" ] && break; sleep 0.05; done
    [ -S "$T/nbd-$i.sock" ] || fail "qemu-nbd for disk $i did not start"
  done
}

v2k --workdir "$WD" snapshot base >/dev/null
serve
v2k --workdir "$WD" sync base
compare_all "$WD" base

edge_writes 100
v2k --workdir "$WD" snapshot incr >/dev/null
serve
v2k --workdir "$WD" sync incr
compare_all "$WD" incr-1

gwrite 0 4096 512 200 5200 $((12 * 1024))
gwrite 2 $((5 * MiB + 4096)) $((64 * 1024)) zero
v2k --workdir "$WD" snapshot incr >/dev/null
serve
v2k --workdir "$WD" sync incr
compare_all "$WD" incr-2
check_snapshot_count

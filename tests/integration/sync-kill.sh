#!/bin/bash
# kill -9 at random moments of base and incr syncs, then the same command
# again: the result is identical to the snapshot, and resumed runs do not
# start over (checkpoints are used).
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
TRANSPORT=${TRANSPORT:-file}
requires qemu-nbd

SIZES=($((384 * MiB + 512)) $((64 * MiB)))
make_spec web01 "$(disk_json "${SIZES[0]}" pvscsi 0 0)" "$(disk_json "${SIZES[1]}" sata 0 0)" > "$T/spec.json"
start_lab "$T/spec.json"
WD=$T/wd
gwrite 0 0 $((360 * MiB)) 11
gwrite 1 0 $((60 * MiB)) 12
init_transport "$WD" "$T/dst"
v2k --workdir "$WD" cbt enable

kills=0
# Run "sync KIND" to completion, killing it at random moments first.
sync_with_kills () { # kind max_kills
  local kind=$1 max=$2 k=0 pid rc
  while :; do
    "$V2K" --workdir "$WD" sync "$kind" --chunk 256K --checkpoint-bytes 4M --jobs 2 \
      >"$T/sync.out" 2>"$T/sync.err" &
    pid=$!
    if [ $k -lt "$max" ]; then
      # 0.02-0.29 s: before, during and after v2k's start-up (~0.1 s) and
      # its first checkpoints, and short of a whole round even on a fast
      # machine (a later kill that finds the sync done is not counted).
      sleep "0.$(printf '%02d' $((RANDOM % 28 + 2)))"
      if kill -9 $pid 2>/dev/null; then
        wait $pid 2>/dev/null || true
        k=$((k + 1)); kills=$((kills + 1))
        # No server may outlive v2k (see kill-server-start.sh); exiting
        # can still take a moment on a disk shared with another test.
        servers_gone 30 || fail "qemu-nbd left behind 30 s after kill -9"
        continue
      fi
    fi
    set +e; wait $pid; rc=$?; set -e
    [ $rc -eq 0 ] || fail "sync $kind after $k kills: $(cat "$T/sync.err")"
    break
  done
}

v2k --workdir "$WD" snapshot base >/dev/null
sync_with_kills base 10
compare_all "$WD" "base after kills"
grep -q '"sync.resume"' "$WD/events.log" || fail "no run resumed from a checkpoint"

for round in 1 2; do
  gwrite 0 $((round * MiB)) 4096 $((20 + round)) 3000 $((24 * 1024))
  gwrite 0 $((200 * MiB)) $((120 * MiB)) $((40 + round))
  gwrite 1 0 $((40 * MiB)) $((30 + round))
  v2k --workdir "$WD" snapshot incr >/dev/null
  sync_with_kills incr 3
  compare_all "$WD" "incr-$round after kills"
done
[ $kills -ge 10 ] || fail "only $kills kills landed"
note "ok: $kills kills"

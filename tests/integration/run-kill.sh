#!/bin/bash
# kill -9 of the v2k process in the middle of a round of 'run', then the
# same command again: it finishes the interrupted round from the manifest
# and its checkpoints, and the targets equal the synced snapshot.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
requires qemu-nbd
TRANSPORT=file
make_spec web01 "$(disk_json $((160 * MiB)) pvscsi 0 0)" "$(disk_json $((16 * MiB)) sata 0 0)" > "$T/spec.json"
start_lab "$T/spec.json"
WD=$T/wd
ds=$(jq -r '.datastores.datastore1' "$LAB_STATE/lab.json")
ARGS=(--vm web01 --vcenter "$GOVC_URL" --dst "$T/dst" --transport file --datastore-map "datastore1=$ds"
      --split phase1 --interval 3s --converge-bytes 64K --max-rounds 4 --jobs 1)
gwrite 0 0 $((24 * MiB)) 1

"$V2K" --workdir "$WD" run "${ARGS[@]}" > "$T/run1.out" 2> "$T/run1.err" &
PID=$!
# Once the base is synced, the guest writes 120 MiB: round 1 (after the
# 3 s interval) carries them, slow enough to be killed in the middle.
for ((i = 0; i < 600; i++)); do
  grep -q '"event":"sync.done"' "$WD/events.log" 2>/dev/null && break
  sleep 0.05
done
gwrite 0 $((32 * MiB)) $((120 * MiB)) 2
killed=
for ((i = 0; i < 600; i++)); do
  if grep '"phase":"incr"' "$WD/events.log" 2>/dev/null | grep -q '"event":"sync.start"'; then
    # Early in the copy: 120 MiB may take well under half a second on a
    # fast machine, and a kill after the round is not what this tests.
    sleep 0.1
    kill -9 $PID && killed=1
    break
  fi
  kill -0 $PID 2>/dev/null || break
  sleep 0.02
done
wait $PID 2>/dev/null || true
[ -n "$killed" ] || fail "run finished before it could be killed: $(cat "$T/run1.err")"
jq -e '[.snapshots[] | select(.kind == "incr" and (.synced | not))] | length == 1' "$WD/manifest.json" >/dev/null \
  || fail "the kill did not land in an incr round"
nsnap=$(jq '.snapshots | length' "$WD/manifest.json")

"$V2K" --workdir "$WD" run "${ARGS[@]}" > "$T/run2.out" 2> "$T/run2.err" || fail "rerun: $(cat "$T/run2.err")"
note "$(cat "$T/run2.out")"
# The interrupted round was finished with its own snapshot, not a new one.
first_incr=$(jq -r '[.snapshots[] | select(.kind == "incr")][0].name' "$WD/manifest.json")
[ "$(jq -r --arg n "$first_incr" '[.snapshots[] | select(.name == $n)] | length' "$WD/manifest.json")" = 1 ] \
  || fail "the interrupted round's snapshot was duplicated"
[ "$(jq '.snapshots | length' "$WD/manifest.json")" -ge "$nsnap" ] || fail "snapshots lost"
jq -e '.run.converged' "$WD/manifest.json" >/dev/null || fail "not converged after the rerun"
compare_all "$WD" "after kill -9 and rerun"
check_snapshot_count
note "ok"

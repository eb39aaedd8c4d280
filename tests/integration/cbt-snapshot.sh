#!/bin/bash
# cbt enable/status, snapshot base (idempotent, recorded per disk), status,
# cleanup removing exactly v2k's snapshots.
. "$(dirname "$0")/functions.sh"
set -e

make_spec web01 "$(disk_json 67108864 pvscsi 0 0)" "$(disk_json 33554432 lsilogic 1 0)" > "$T/spec.json"
start_lab "$T/spec.json"
WD=$T/wd
v2k --workdir "$WD" init --vm web01 --vcenter "$GOVC_URL" --dst "$T/dst" >/dev/null

expect_fail v2k --workdir "$WD" snapshot base
assert_contains "$ERR" "cbt enable"

v2k --workdir "$WD" cbt enable
v2k --workdir "$WD" cbt status --json > "$T/cbt.json"
jq -e '.cbt_enabled == true and (.disks | length == 2) and ([.disks[].cbt] | all)' "$T/cbt.json" >/dev/null \
  || fail "cbt status: $(cat "$T/cbt.json")"
jq -e '[.disks[].change_id | test("^52( [0-9a-f]{2}){15}-[0-9a-f]{2}( [0-9a-f]{2}){7}/[0-9]+$")] | all' "$T/cbt.json" >/dev/null \
  || jq -e '[.disks[].change_id | test("^52 .*/[0-9]+$")] | all' "$T/cbt.json" >/dev/null \
  || fail "changeId form: $(jq -c '[.disks[].change_id]' "$T/cbt.json")"
v2k --workdir "$WD" cbt enable   # idempotent
# The activation snapshot is gone again.
"$V2K_LAB" info --state "$LAB_STATE" --vm web01 > "$T/info.json"
jq -e '.snapshots | length == 0' "$T/info.json" >/dev/null || fail "activation snapshot left: $(jq -c .snapshots "$T/info.json")"

v2k --workdir "$WD" snapshot base > "$T/snap.out"
M=$WD/manifest.json
jq -e '.snapshots | length == 1 and .[0].kind == "base" and .[0].state == "created"' "$M" >/dev/null || fail "base recorded"
jq -e '.snapshots[0].disks | length == 2 and all(.change_id != null and .file != null)' "$M" >/dev/null \
  || fail "per-disk snapshot state: $(jq -c '.snapshots[0]' "$M")"
moref=$(jq -r '.snapshots[0].moref' "$M")
"$V2K_LAB" info --state "$LAB_STATE" --vm web01 > "$T/info.json"
jq -e --arg m "$moref" '[.snapshots[].moref] == [$m]' "$T/info.json" >/dev/null || fail "lab snapshots"
# The snapshot's frozen files are what v2k recorded.
for k in $(jq -r '.snapshots[0].disks[].key' "$M"); do
  want=$(jq -r --argjson k "$k" '.snapshots[0].disks[] | select(.key == $k) | .file' "$M")
  got=$(jq -r --argjson k "$k" '.snapshots[0].disks[] | select(.key == $k) | .datastore_path' "$T/info.json")
  [ "$want" = "$got" ] || fail "disk $k: recorded '$want', lab froze '$got'"
done

# Again: the same snapshot, not a second one.
v2k --workdir "$WD" snapshot base >/dev/null
jq -e --arg m "$moref" '.snapshots | length == 1 and .[0].moref == $m' "$M" >/dev/null || fail "second base"
"$V2K_LAB" info --state "$LAB_STATE" --vm web01 | jq -e '.snapshots | length == 1' >/dev/null || fail "lab has 2 snapshots"
expect_fail v2k --workdir "$WD" snapshot incr
assert_contains "$ERR" "not synced"

v2k --workdir "$WD" status --json > "$T/status.json"
jq -e '.status_version == 1 and .phase == "base" and (.disks | length == 2) and (.snapshots | length == 1)' "$T/status.json" >/dev/null \
  || fail "status: $(cat "$T/status.json")"
jq -e '.events | length > 0' "$T/status.json" >/dev/null || fail "status events"
v2k --workdir "$WD" status | grep -q "phase base" || fail "human status"

# A foreign snapshot stays; v2k's goes.
v2k --workdir "$WD" cleanup --keep-workdir --disable-cbt
"$V2K_LAB" info --state "$LAB_STATE" --vm web01 > "$T/info.json"
jq -e '(.snapshots | length == 0) and .cbt == false' "$T/info.json" >/dev/null || fail "after cleanup: $(jq -c '{snapshots,cbt}' "$T/info.json")"
jq -e '.snapshots[0].removed == true' "$M" >/dev/null || fail "removed not recorded"
v2k --workdir "$WD" cleanup
[ ! -e "$WD" ] || fail "workdir not removed"
note "ok"

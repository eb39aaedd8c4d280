#!/bin/bash
# Every failure the operator can meet gets a clear error and leaves the
# workdir consistent.
. "$(dirname "$0")/functions.sh"
set -e
requires /usr/bin/python3

make_spec web01 "$(disk_json 33554432 pvscsi 0 0)" | jq '.vms += [.vms[0] | .name = "db01" | .nics[0].mac = "00:50:56:aa:bb:09"]' > "$T/spec.json"
start_lab "$T/spec.json"
# Debian's python3, where python3-pyvmomi lives (PATH may hold another).
CTL="/usr/bin/python3 $TOP/tests/integration/vsphere-ctl.py"

# Wrong password: clear, and the password is not echoed.
GOVC_PASSWORD=wrong-Secret-42 expect_fail v2k --workdir "$T/w1" init --vm web01 --vcenter "$GOVC_URL" --dst "$T/d"
assert_contains "$ERR" "log in"
case "$ERR" in *wrong-Secret-42*) fail "password in error";; esac
[ ! -e "$T/w1/manifest.json" ] || fail "manifest written after a failed login"

# Unknown VM.
expect_fail v2k --workdir "$T/w2" init --vm nosuchvm --vcenter "$GOVC_URL" --dst "$T/d"
assert_contains "$ERR" "nosuchvm"

# vCenter unreachable: a closed port on loopback.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
GOVC_URL=https://127.0.0.1:$port/sdk expect_fail v2k --workdir "$T/w3" init --vm web01 --vcenter "https://127.0.0.1:$port/sdk" --dst "$T/d"
assert_contains "$ERR" "127.0.0.1"

# Certificate: verified by default (self-signed lab cert fails), a wrong
# pinned thumbprint fails naming both, the right one works.
GOVC_INSECURE= expect_fail env -u GOVC_INSECURE "$V2K" --workdir "$T/w4" init --vm web01 --vcenter "$GOVC_URL" --dst "$T/d"
assert_contains "$ERR" "certificate"
expect_fail env -u GOVC_INSECURE "$V2K" --workdir "$T/w4" init --vm web01 --vcenter "$GOVC_URL" --dst "$T/d" \
  --thumbprint 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33
assert_contains "$ERR" "00:11:22:33"
thumb=$(jq -r .thumbprint "$LAB_STATE/lab.json")
env -u GOVC_INSECURE "$V2K" --workdir "$T/w4" init --vm web01 --vcenter "$GOVC_URL" --dst "$T/d" --thumbprint "$thumb" >/dev/null
# Follow-up commands keep the pin without GOVC_INSECURE.
env -u GOVC_INSECURE "$V2K" --workdir "$T/w4" cbt status >/dev/null || fail "pinned follow-up"

WD=$T/wd
v2k --workdir "$WD" init --vm web01 --vcenter "$GOVC_URL" --dst "$T/dst" >/dev/null
v2k --workdir "$WD" cbt enable

# Session expired in the middle: v2k logs in again and carries on.
"$V2K_LAB" fault --state "$LAB_STATE" --expire-sessions
v2k --workdir "$WD" cbt status >/dev/null || fail "no re-login after expiry"

# A failing task: clear error, no snapshot recorded as created.
"$V2K_LAB" fault --state "$LAB_STATE" --task-fail CreateSnapshot_Task
expect_fail v2k --workdir "$WD" snapshot base
assert_contains "$ERR" "create snapshot"
jq -e '.snapshots | all(.state != "created")' "$WD/manifest.json" >/dev/null || fail "failed snapshot recorded as created"
"$V2K_LAB" fault --state "$LAB_STATE" --clear
v2k --workdir "$WD" snapshot base >/dev/null
jq -e '.snapshots | length == 1 and .[0].state == "created"' "$WD/manifest.json" >/dev/null || fail "retry after failed task"

# Locked workdir: a second command fails at once.
exec 9>"$WD/.lock"
flock -n 9
expect_fail v2k --workdir "$WD" snapshot base
assert_contains "$ERR" "in use"
exec 9>&-

# Snapshot removed behind v2k's back before its sync: the sync says so
# and what to do; a new snapshot takes its place.
name=$(jq -r '.snapshots[0].name' "$WD/manifest.json")
old_moref=$(jq -r '.snapshots[0].moref' "$WD/manifest.json")
$CTL snapshot-remove web01 "$name"
expect_fail v2k --workdir "$WD" sync base
assert_contains "$ERR" "snapshot base' again"
jq -e '.snapshots[0].state == "missing"' "$WD/manifest.json" >/dev/null || fail "missing snapshot not recorded"
v2k --workdir "$WD" snapshot base >/dev/null
jq -e --arg o "$old_moref" '.snapshots | length == 1 and .[0].moref != $o and .[0].state == "created"' \
  "$WD/manifest.json" >/dev/null || fail "no new base snapshot: $(jq -c .snapshots "$WD/manifest.json")"

# Removed behind v2k's back again: cleanup notes it and goes on.
name=$(jq -r '.snapshots[0].name' "$WD/manifest.json")
$CTL snapshot-remove web01 "$name"
v2k --workdir "$WD" cleanup --keep-workdir
jq -s -e 'any(.[]; .event == "snapshot.already-gone")' "$WD/events.log" >/dev/null || fail "no already-gone event"

# A foreign snapshot is warned about at init and never touched.
$CTL snapshot-create db01 by-hand
v2k --workdir "$T/w5" init --vm db01 --vcenter "$GOVC_URL" --dst "$T/d5" 2>"$T/w5.err" >/dev/null
grep -q "not created by v2k" "$T/w5.err" || fail "foreign snapshot warning"
v2k --workdir "$T/w5" cbt enable
v2k --workdir "$T/w5" snapshot base >/dev/null
v2k --workdir "$T/w5" cleanup --keep-workdir
"$V2K_LAB" info --state "$LAB_STATE" --vm db01 | jq -e '[.snapshots[].name] == ["by-hand"]' >/dev/null \
  || fail "foreign snapshot touched"

# A disk added to the VM after init: refused before any snapshot is
# taken (it would be left behind without a word), naming the disk.
v2k --workdir "$T/w6" init --vm db01 --vcenter "$GOVC_URL" --dst "$T/d6" 2>/dev/null >/dev/null
v2k --workdir "$T/w6" cbt enable
$CTL disk-add db01 8
expect_fail v2k --workdir "$T/w6" snapshot base
assert_contains "$ERR" "not there at init"
assert_contains "$ERR" "8388608 bytes"
"$V2K_LAB" info --state "$LAB_STATE" --vm db01 | jq -e '[.snapshots[].name] == ["by-hand"]' >/dev/null \
  || fail "a snapshot was taken of a VM whose disks changed"

# Corrupt manifest: a clear error, nothing overwritten.
cp "$WD/manifest.json" "$T/good.json"
head -c 100 "$T/good.json" > "$WD/manifest.json"
expect_fail v2k --workdir "$WD" status
assert_contains "$ERR" "corrupt"
cmp -s "$WD/manifest.json" <(head -c 100 "$T/good.json") || fail "corrupt manifest was rewritten"
note "ok"

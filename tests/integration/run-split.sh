#!/bin/bash
# run --split phase1 stops converged with the source running; phase2 (the
# maintenance window) cuts over from the same workdir.  Then a cold run of
# a second VM: shutdown, one allocated-areas copy of a snapshot taken while
# off, define and start.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/libvirt-lib.sh"
. "$(dirname "$0")/run-lib.sh"
set -e
requires python3 qemu-nbd
setup_libvirt
boot_spec split01 pvscsi \
  '.vms += [.vms[0] | .name = "cold01" | .nics[0].mac = "00:50:56:aa:bb:02"]' > "$T/spec.json"
start_lab "$T/spec.json"
DOM=v2k-split-$$
drop_domain "$DOM"
WD=$T/wd
cutover_args "$DOM"

"$V2K_LAB" write --state "$LAB_STATE" --vm split01 --disk 1 --offset 0 --length $((2 * MiB)) --seed 7
# shellcheck disable=SC2046
v2k --workdir "$WD" run --split phase1 --vm split01 --vcenter "$GOVC_URL" --dst "$T/dst" \
  $(file_transport_args) --interval 1s --converge-bytes 1M > "$T/p1.out"
grep -q "ready for" "$T/p1.out" || fail "phase1 output: $(cat "$T/p1.out")"
jq -e '.run.converged and .phase != "cutover" and (.cutover == null)' "$WD/manifest.json" >/dev/null \
  || fail "phase1 did more than converge"
"$V2K_LAB" info --state "$LAB_STATE" --vm split01 | jq -e '.power == "poweredOn"' >/dev/null \
  || fail "phase1 stopped the source"
# phase1 again: already converged, nothing new.
n=$(jq '.rounds | length' "$WD/manifest.json")
v2k --workdir "$WD" run --split phase1 >/dev/null
[ "$(jq '.rounds | length' "$WD/manifest.json")" = "$n" ] || fail "phase1 rerun added rounds"

# The guest keeps writing until the window.
LAST="split-final-$$"
marker split01 "$LAST"
v2k --workdir "$WD" run --split phase2 "${CUT[@]}" > "$T/p2.out"
note "$(cat "$T/p2.out")"
jq -e '.phase == "running" and .cutover.steps.start' "$WD/manifest.json" >/dev/null || fail "phase2 did not cut over"
wait_console "$WD/console.log" "V2K-BOOT $LAST" 90 || fail "phase2: no marker on the console"
virsh -c qemu:///system destroy "$DOM" >/dev/null

# phase2 without a phase1 workdir is refused.
expect_fail v2k --workdir "$T/none" run --split phase2 "${CUT[@]}"
assert_contains "$ERR" "phase1"

# Cold.
COLD=v2k-cold-$$
drop_domain "$COLD"
cutover_args "$COLD"
CMARK="cold-$$"
marker cold01 "$CMARK"
# shellcheck disable=SC2046
v2k --workdir "$T/cwd" run --mode cold --vm cold01 --vcenter "$GOVC_URL" --dst "$T/cdst" \
  $(file_transport_args) "${CUT[@]}" > "$T/cold.out"
note "$(cat "$T/cold.out")"
"$V2K_LAB" info --state "$LAB_STATE" --vm cold01 | jq -e '.power == "poweredOff"' >/dev/null || fail "cold: source on"
jq -e '([.snapshots[].kind] == ["base"]) and .phase == "running" and .run.mode == "cold"
       and ([.rounds[].kind] == ["base"])' "$T/cwd/manifest.json" >/dev/null \
  || fail "cold: not one base copy: $(jq -c '[.snapshots[].kind, .rounds]' "$T/cwd/manifest.json")"
wait_console "$T/cwd/console.log" "V2K-BOOT $CMARK" 90 || fail "cold: no marker on the console"
expect_fail v2k --workdir "$T/cwd" run --mode warm
assert_contains "$ERR" "cold run"
note "ok"

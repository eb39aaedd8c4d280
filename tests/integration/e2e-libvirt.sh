#!/bin/bash
# The whole warm flow ends in a running libvirt domain: init, cbt, base,
# two incr rounds with guest writes, cutover with a guest shutdown; the
# migrated boot sector prints the marker the guest wrote last, which only
# the final sync carried.  Then rollback.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/libvirt-lib.sh"
set -e
requires python3 qemu-nbd
start_libvirtd
BR=v2kbr$$
BR=${BR:0:15}
make_bridge "$BR"
# qemu runs as libvirt-qemu: the target directory must be reachable.
chmod 0755 "$T"

MiB=1048576
python3 "$TOP/tests/fixtures/make-bootdisk.py" "$T/boot.img" $((32 * MiB)) "base-marker"
make_spec e2e-web01 "{\"size\": $((32 * MiB)), \"controller\": \"pvscsi\", \"bus\": 0, \"unit\": 0, \"datastore\": \"datastore1\", \"provisioning\": \"thin\", \"mode\": \"persistent\", \"image\": \"$T/boot.img\"}" \
  "$(disk_json $((16 * MiB)) lsilogic 1 0)" \
  | jq '.vms[0].nics += [{"type":"e1000e","mac":"00:50:56:aa:bb:02","network":"Prod-VLAN10"}]' > "$T/spec.json"
start_lab "$T/spec.json"
DOM=v2k-e2e-$$
cleanup_add "virsh -c qemu:///system destroy $DOM; virsh -c qemu:///system undefine $DOM --nvram"

marker () { # text -> sector 1 of disk 0, as the guest writes it
  printf '%s' "$1" | head -c 512 > "$T/marker"
  truncate -s 512 "$T/marker"
  "$V2K_LAB" write --state "$LAB_STATE" --vm e2e-web01 --disk 0 --offset 512 --length 512 --from "$T/marker"
}

WD=$T/wd
ds=$(jq -r '.datastores.datastore1' "$LAB_STATE/lab.json")
v2k --workdir "$WD" init --vm e2e-web01 --vcenter "$GOVC_URL" --dst "$T/dst" \
  --transport file --datastore-map "datastore1=$ds" >/dev/null
v2k --workdir "$WD" cbt enable
v2k --workdir "$WD" snapshot base >/dev/null
v2k --workdir "$WD" sync base
for r in 1 2; do
  marker "round-$r"
  "$V2K_LAB" write --state "$LAB_STATE" --vm e2e-web01 --disk 1 --offset $((r * MiB)) --length 65536 --seed $r
  v2k --workdir "$WD" snapshot incr >/dev/null
  v2k --workdir "$WD" sync incr
done
FINAL="final-$RANDOM-$$"
marker "$FINAL"

# An unmapped network is refused before anything is stopped.
expect_fail v2k --workdir "$WD" cutover --shutdown guest --start --network-map "VM Network=bridge:$BR"
assert_contains "$ERR" "Prod-VLAN10"
"$V2K_LAB" info --state "$LAB_STATE" --vm e2e-web01 | jq -e '.power == "poweredOn"' >/dev/null \
  || fail "the source was shut down before the network map was checked"

v2k --workdir "$WD" cutover --shutdown guest --shutdown-timeout 60 --start --name "$DOM" \
  --domain-type "$(test_domain_type)" \
  --network-map "VM Network=bridge:$BR" --network-map "Prod-VLAN10=bridge:$BR" > "$T/cutover.out"
note "$(cat "$T/cutover.out")"
"$V2K_LAB" info --state "$LAB_STATE" --vm e2e-web01 | jq -e '.power == "poweredOff"' >/dev/null || fail "source still on"
virsh -c qemu:///system domstate "$DOM" | grep -q running || fail "domain not running"
wait_console "$WD/console.log" "V2K-BOOT $FINAL" 90 \
  || fail "no marker on the console: $(tr -d '\0' < "$WD/console.log" 2>/dev/null | tail -c 400)"
jq -e '.cutover.downtime_seconds > 0 and .phase == "running"' "$WD/manifest.json" >/dev/null || fail "downtime not recorded"
virsh -c qemu:///system dumpxml "$DOM" > "$T/dom.xml"
grep -q "00:50:56:aa:bb:01" "$T/dom.xml" && grep -q "00:50:56:aa:bb:02" "$T/dom.xml" || fail "MACs not kept"
uuid=$(jq -r .vm.uuid "$WD/manifest.json")
grep -qi "<uuid>$uuid</uuid>" "$T/dom.xml" || fail "BIOS UUID not kept"
v2k --workdir "$WD" verify --mode full >/dev/null

# Running cutover again changes nothing.
v2k --workdir "$WD" cutover --start --name "$DOM" --domain-type "$(test_domain_type)" \
  --network-map "VM Network=bridge:$BR" --network-map "Prod-VLAN10=bridge:$BR" >/dev/null

v2k --workdir "$WD" rollback
! virsh -c qemu:///system domstate "$DOM" >/dev/null 2>&1 || fail "domain still defined after rollback"
"$V2K_LAB" info --state "$LAB_STATE" --vm e2e-web01 | jq -e '.power == "poweredOn"' >/dev/null || fail "source not powered on"
[ -f "$T/dst/disk0.qcow2" ] || fail "rollback removed the target disks"
jq -e '.phase == "rolled-back"' "$WD/manifest.json" >/dev/null || fail "rollback not recorded"
note "ok"

# Shared by the run tests: a lab VM with a bootable first disk, a bridge
# for its NIC and the cutover options that go with them.
MiB=1048576

# boot_spec NAME CONTROLLER0 [extra jq filter]: disk 0 ("Hard disk 1") is
# a boot-sector disk on CONTROLLER0 (16 MiB), disk 1 a pvscsi data disk
# (8 MiB), at scsi0:0 when that is free (ahead of the boot disk by
# controller/bus/unit).
boot_spec () {
  local name=$1 ctl=$2 filter=${3:-.} unit=0
  [ "$ctl" = pvscsi ] && unit=1
  python3 "$TOP/tests/fixtures/make-bootdisk.py" "$T/boot.img" $((16 * MiB)) "base-marker"
  make_spec "$name" \
    "{\"size\": $((16 * MiB)), \"controller\": \"$ctl\", \"bus\": 0, \"unit\": 0, \"datastore\": \"datastore1\", \"provisioning\": \"thin\", \"image\": \"$T/boot.img\"}" \
    "$(disk_json $((8 * MiB)) pvscsi 0 $unit)" | jq "$filter"
}

# The marker the migrated boot sector prints: sector 1 of disk 0.
marker () { # vm text
  printf '%s' "$2" | head -c 512 > "$T/marker"
  truncate -s 512 "$T/marker"
  "$V2K_LAB" write --state "$LAB_STATE" --vm "$1" --disk 0 --offset 512 --length 512 --from "$T/marker"
}

# Cutover options for a domain named $1 on bridge $BR, in the array CUT.
# The boot-sector disks hold no operating system: nothing to convert.
cutover_args () {
  CUT=(--name "$1" --domain-type "$(test_domain_type)" --network-map "VM Network=bridge:$BR"
       --shutdown guest --shutdown-timeout 60 --convert none)
}

setup_libvirt () {
  start_libvirtd
  BR=v2kbr$$
  BR=${BR:0:15}
  make_bridge "$BR"
  chmod 0755 "$T"   # qemu (libvirt-qemu) reads the targets
}

drop_domain () { # name
  cleanup_add "virsh -c qemu:///system destroy $1; virsh -c qemu:///system undefine $1 --nvram"
}

file_transport_args () {
  echo --transport file --datastore-map "datastore1=$(jq -r '.datastores.datastore1' "$LAB_STATE/lab.json")"
}

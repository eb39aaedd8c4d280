# The Debian test guest (tests/guest/build-image.sh) for the guest tests:
#   guest_image          build or find the cached image; sets GUEST_IMG
#   guest_boot_vmware IMG LOG   boot a copy-on-write overlay of IMG with plain
#                        QEMU (TCG) on VMware's devices, console to LOG; the
#                        NIC sits behind a PCIe port with slot 192 as on
#                        ESXi, so the guest names it ens192
#   guest_wait LOG SECS  wait for the guest's marker line; sets GUEST_MARKER

guest_image () {
  local rc=0
  requires debootstrap sfdisk losetup
  GUEST_IMG=$("$TOP/tests/guest/build-image.sh" 2>"$T/build-image.log") || rc=$?
  [ $rc -eq 77 ] && skip "$(cat "$T/build-image.log")"
  [ $rc -eq 0 ] || fail "building the test guest failed: $(tail -n 30 "$T/build-image.log")"
  note "guest image $GUEST_IMG"
}

guest_boot_vmware () { # image log
  requires qemu-system-x86_64
  qemu-img create -q -f qcow2 -F raw -b "$1" "$T/vmware-overlay.qcow2"
  # Native PCIe hotplug (not QEMU's ACPI one) so that the guest's pciehp
  # exposes the port's slot number, as ESXi's ports do.
  qemu-system-x86_64 -machine q35,accel=tcg -m 1024 -smp 1 \
    -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off \
    -display none -monitor none -serial "file:$2" \
    -device pvscsi,id=pvscsi0 \
    -drive "file=$T/vmware-overlay.qcow2,format=qcow2,if=none,id=d0" \
    -device scsi-hd,drive=d0,bus=pvscsi0.0 \
    -device pcie-root-port,id=rp192,chassis=1,slot=192 \
    -netdev user,id=n0,restrict=on -device vmxnet3,netdev=n0,mac=00:50:56:aa:bb:01,bus=rp192 \
    > "$T/qemu.log" 2>&1 &
  GUEST_QEMU_PID=$!
  cleanup_add "kill $GUEST_QEMU_PID; wait $GUEST_QEMU_PID"
}

guest_wait () { # log seconds
  local i
  GUEST_MARKER=""
  for ((i = 0; i < $2; i++)); do
    GUEST_MARKER=$(tr -d '\0\r' 2>/dev/null < "$1" | grep -a -m1 '^V2K-GUEST ' || true)
    [ -n "$GUEST_MARKER" ] && return 0
    sleep 1
  done
  return 1
}

guest_console_tail () { # log
  tr -d '\0\r' 2>/dev/null < "$1" | tail -n 15
}

# The whole warm migration of the test guest, served by the lab on pvscsi
# + vmxnet3 with a small LSI data disk that gets the guest's writes:
# init, cbt enable, base, one incr round with a guest write, cutover with
# the given extra options (--convert ...), started under TCG.  Sets WD,
# DOM, BR.
guest_migrate () { # cutover options...
  local MiB=1048576 ds
  # A name (and so a BIOS UUID) of its own: runs in parallel must not
  # define domains with the same UUID.
  GVM=gdeb-$$
  start_libvirtd
  BR=v2kbr$$
  BR=${BR:0:15}
  make_bridge "$BR"
  # qemu runs as libvirt-qemu: the target directory must be reachable.
  chmod 0755 "$T"
  make_spec "$GVM" "{\"size\": $((2048 * MiB)), \"controller\": \"pvscsi\", \"bus\": 0, \"unit\": 0, \"datastore\": \"datastore1\", \"provisioning\": \"thin\", \"mode\": \"persistent\", \"image\": \"$GUEST_IMG\"}" \
    "$(disk_json $((64 * MiB)) lsilogic 1 0)" \
    | jq '.vms[0].guest_id = "debian12_64Guest" | .vms[0].cpus = 1 | .vms[0].memory_mb = 1024' \
    > "$T/spec.json"
  start_lab "$T/spec.json"
  DOM=v2k-guest-$$
  cleanup_add "virsh -c qemu:///system destroy $DOM; virsh -c qemu:///system undefine $DOM --nvram"
  WD=$T/wd
  ds=$(jq -r '.datastores.datastore1' "$LAB_STATE/lab.json")
  v2k --workdir "$WD" init --vm "$GVM" --vcenter "$GOVC_URL" --dst "$T/dst" \
    --transport file --datastore-map "datastore1=$ds" >/dev/null
  v2k --workdir "$WD" cbt enable
  v2k --workdir "$WD" snapshot base >/dev/null
  v2k --workdir "$WD" sync base
  "$V2K_LAB" write --state "$LAB_STATE" --vm "$GVM" --disk 1 --offset $((8 * MiB)) --length $MiB --seed 7
  v2k --workdir "$WD" snapshot incr >/dev/null
  v2k --workdir "$WD" sync incr
  GUEST_T0=$(date +%s)
  v2k --workdir "$WD" cutover --shutdown guest --shutdown-timeout 60 --start --name "$DOM" \
    --domain-type qemu --network-map "VM Network=bridge:$BR" "$@" > "$T/cutover.out" 2> "$T/cutover.err" \
    || fail "cutover failed: $(cat "$T/cutover.err")"
  note "$(cat "$T/cutover.out") ($(( $(date +%s) - GUEST_T0 )) s)"
}

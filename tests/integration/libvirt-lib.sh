# A libvirtd that the test starts and stops itself (when none runs yet),
# and a private bridge as the network-map target.

start_libvirtd () {
  requires libvirtd virtlogd virsh qemu-system-x86_64
  [ "$(id -u)" -eq 0 ] || skip "libvirtd tests need root"
  getent passwd libvirt-qemu >/dev/null || skip "no libvirt-qemu user (libvirt-daemon-system)"
  # What udev does on a normal host: qemu runs as libvirt-qemu (group
  # kvm).  With /dev/kvm root-only, libvirt's probe finds KVM through
  # root's eyes, then finds it unusable for qemu's user, and throws its
  # capability cache away on every call (minutes per define).
  if [ -c /dev/kvm ] && getent group kvm >/dev/null; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
  fi
  if ! virsh -c qemu:///system version >/dev/null 2>&1; then
    pgrep -x virtlogd >/dev/null || { virtlogd -d; cleanup_add "pkill -x virtlogd"; }
    libvirtd -d
    cleanup_add "pkill -x libvirtd"
    for _ in $(seq 50); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
    virsh -c qemu:///system version >/dev/null 2>&1 || fail "libvirtd did not start"
  fi
}

make_bridge () { # name
  ip link show "$1" >/dev/null 2>&1 || ip link add "$1" type bridge || skip "cannot create a bridge"
  ip link set "$1" up
  cleanup_add "ip link del $1"
}

# Domain type for tests: KVM where /dev/kvm works (the boot-sector guests
# run under the nested KVM of these machines), TCG otherwise or when
# V2K_TEST_KVM=0.  Linux guests choose TCG themselves (issue 7's probe:
# a Debian kernel does not boot under this nested KVM).
test_domain_type () {
  if [ "${V2K_TEST_KVM:-1}" = 1 ] && [ -c /dev/kvm ] && [ -w /dev/kvm ]; then echo kvm; else echo qemu; fi
}

wait_console () { # file text timeout
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    grep -qa -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

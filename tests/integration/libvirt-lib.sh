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
  _libvirt_locked _libvirt_join || fail "libvirtd did not start"
  cleanup_add "_libvirt_locked _libvirt_leave"
}

# Tests run in parallel and share one system libvirtd.  Each test
# registers its pid; the last one to leave stops the daemons that tests
# started (never a libvirtd the host ran before).  A test killed with
# -9 leaves a stale pid, pruned by the next one.
V2K_LIBVIRT_USERS=${V2K_LIBVIRT_USERS:-/run/v2k-test-libvirtd}

_libvirt_locked () { # CMD...: run CMD under the users' lock
  mkdir -p "$V2K_LIBVIRT_USERS/users"
  ( flock 8 && "$@" ) 8>"$V2K_LIBVIRT_USERS/lock"
}

_libvirt_prune () {
  local f
  for f in "$V2K_LIBVIRT_USERS"/users/*; do
    [ -e "$f" ] || continue
    kill -0 "${f##*/}" 2>/dev/null || rm -f "$f"
  done
}

# A daemon that exited stays a zombie until init reaps it (seconds here):
# it does not count as running.
_libvirt_running () { # name
  local p
  for p in $(pgrep -x "$1"); do
    [ "$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -c1)" = Z ] || return 0
  done
  return 1
}

_libvirt_join () {
  _libvirt_prune
  : > "$V2K_LIBVIRT_USERS/users/$$"
  # The daemons must not inherit the lock's descriptor (fd 8).
  if ! _libvirt_running virtlogd; then
    virtlogd -d 8>&- && echo virtlogd >> "$V2K_LIBVIRT_USERS/owned"
  fi
  if ! virsh -c qemu:///system version >/dev/null 2>&1; then
    libvirtd -d 8>&- && echo libvirtd >> "$V2K_LIBVIRT_USERS/owned"
    for _ in $(seq 100); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
  fi
  virsh -c qemu:///system version >/dev/null 2>&1
}

_libvirt_leave () {
  local d
  [ -z "${KEEP_DEMO:-}" ] || return 0   # the demo's domain stays up
  rm -f "$V2K_LIBVIRT_USERS/users/$$"
  _libvirt_prune
  [ -z "$(ls -A "$V2K_LIBVIRT_USERS/users")" ] || return 0
  [ -f "$V2K_LIBVIRT_USERS/owned" ] || return 0
  # libvirtd before virtlogd: it holds connections to virtlogd.
  for d in libvirtd virtlogd; do
    grep -qx "$d" "$V2K_LIBVIRT_USERS/owned" || continue
    pkill -x "$d"
    for _ in $(seq 100); do _libvirt_running "$d" || break; sleep 0.1; done
  done
  rm -f "$V2K_LIBVIRT_USERS/owned"
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

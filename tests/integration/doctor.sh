#!/bin/bash
# doctor: every item OK on a good setup (the lab, its nbdkit stand-in as
# nbdkit, listeners standing in for the ESXi host's 902 and 443), and
# FAIL with exit 1 on a broken one.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
requires python3 qemu-nbd
three_disk_spec > "$T/spec.json"
start_lab "$T/spec.json"
TRANSPORT=vddk
touch_vddk () { mkdir -p "$T/vddk-lib/lib64"; touch "$T/vddk-lib/lib64/libvixDiskLib.so.8"; }

# The ESXi host: 127.0.0.1 with something listening on 902 and 443 (when
# this host has them free; else the reachability lines are not asserted).
ESXI_OK=1
python3 - "$T/listen.ready" <<'PY' &
import socket, sys, time
socks = []
for p in (902, 443):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p)); s.listen(16); socks.append(s)
    except OSError:
        pass
open(sys.argv[1], "w").write(str(len(socks)))
time.sleep(600)
PY
LISTEN=$!
cleanup_add "kill $LISTEN"
for _ in $(seq 50); do [ -s "$T/listen.ready" ] && break; sleep 0.1; done
[ "$(cat "$T/listen.ready")" = 2 ] || ESXI_OK=0

WD=$T/wd
init_transport "$WD" "$T/dst" --esxi-host 127.0.0.1
touch_vddk
v2k --workdir "$WD" cbt enable

have_libvirt=1
virsh -c qemu:///system version >/dev/null 2>&1 || have_libvirt=0
set +e
v2k --workdir "$WD" doctor > "$T/good.out" 2>&1
rc=$?
set -e
cat "$T/good.out" >&2
for item in "nbdkit " "VDDK_LIBDIR" "nbdkit vddk plugin" "qemu-img" "qemu-nbd" "vCenter login" "vCenter privileges" "CBT" "free space"; do
  grep -q "^OK    $item" "$T/good.out" || fail "not OK: $item"
done
if [ $ESXI_OK = 1 ]; then
  grep -q "^OK    ESXi host:902" "$T/good.out" && grep -q "^OK    ESXi host:443" "$T/good.out" || fail "ESXi ports not OK"
fi
if [ $ESXI_OK = 1 ] && [ $have_libvirt = 1 ]; then
  [ $rc -eq 0 ] || fail "doctor failed on a good setup"
fi
v2k --workdir "$WD" doctor --json > "$T/good.json" || [ $rc -ne 0 ]
jq -e 'map(select(.item == "vCenter login"))[0].status == "OK"' "$T/good.json" >/dev/null || fail "bad JSON"

# An account without the snapshot and CBT rights: FAIL naming them, and
# only them, exit 1.
lab fault --deny-privileges VirtualMachine.State.CreateSnapshot,VirtualMachine.Config.ChangeTracking
expect_fail v2k --workdir "$WD" doctor
grep -q "^FAIL  vCenter privileges.*VirtualMachine.State.CreateSnapshot, VirtualMachine.Config.ChangeTracking$" "$T/out" ||
  fail "missing privileges not a FAIL naming them: $(grep privileges "$T/out")"
grep "privileges" "$T/out" | grep -q "RemoveSnapshot\|DiskRandomRead\|PowerO" && fail "privileges the account has reported missing"
lab fault --clear
v2k --workdir "$WD" doctor > "$T/again.out" 2>&1 || true
grep -q "^OK    vCenter privileges" "$T/again.out" || fail "privileges not OK again after --clear"

# Broken: no VDDK library, an nbdkit that does not exist, an unreachable
# ESXi host, a wrong vCenter password.
kill $LISTEN 2>/dev/null || true
rm -rf "$T/vddk-lib/lib64"
export V2K_NBDKIT=$T/no-such-nbdkit
expect_fail v2k --workdir "$WD" doctor
cat "$T/out" >&2
for item in "nbdkit " "VDDK_LIBDIR" "nbdkit vddk plugin" "ESXi host:902"; do
  grep -q "^FAIL  $item" "$T/out" || fail "not FAIL: $item"
done
assert_contains "$ERR" "checks failed"
GOVC_PASSWORD=wrong-password expect_fail v2k doctor --vcenter "$GOVC_URL" --vm web01 --dst "$T/dst"
grep -q "^FAIL  vCenter login" "$T/out" || fail "a wrong password is not a FAIL: $(cat "$T/out")"
note "ok"

#!/usr/bin/python3
"""Independent check of the v2k lab with Debian's pyvmomi (a TEST, not product code).

Logs in, enables CBT, takes two snapshots around guest writes, pages through
QueryChangedDiskAreas and checks that the union of the areas covers every
byte that differs between the two snapshots' VMDK chains as qemu-img reads
them.  Usage: pyvmomi_check.py V2K_LAB_BINARY
"""
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time

from pyVim.connect import SmartConnect, Disconnect
from pyVim.task import WaitForTask
from pyVmomi import vim

SIZE = 64 << 20
BLOCK = 4096


def main():
    lab = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="v2k-lab-pyvmomi-")
    spec = {
        "datacenter": "DC0", "host": "esxi01.lab.local", "datastores": ["datastore1"],
        "networks": ["VM Network"], "cbt_page_window": 16 << 20,
        "vms": [{"name": "web01", "guest_id": "rhel9_64Guest", "power": "poweredOn",
                 "disks": [{"size": SIZE, "controller": "pvscsi"}],
                 "nics": [{"type": "vmxnet3", "network": "VM Network"}]}],
    }
    with open(os.path.join(tmp, "spec.json"), "w") as f:
        json.dump(spec, f)
    state = os.path.join(tmp, "state")
    proc = subprocess.Popen([lab, "serve", "--state", state, "--spec", os.path.join(tmp, "spec.json")],
                            stderr=open(os.environ.get("LAB_LOG", "/dev/null"), "w"))
    try:
        for _ in range(200):
            if os.path.exists(os.path.join(state, "lab.json")):
                break
            time.sleep(0.05)
        info = json.load(open(os.path.join(state, "lab.json")))
        return check(lab, state, info)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        subprocess.run(["rm", "-rf", tmp])


def write(lab, state, *args):
    subprocess.run([lab, "write", "--state", state, "--vm", "web01", "--disk", "0"] + list(args), check=True)


def check(lab, state, info):
    hostport = info["url"].split("//")[1].split("/")[0]
    host, port = hostport.rsplit(":", 1)
    si = SmartConnect(host=host, port=int(port), user=info["username"], pwd=info["password"],
                      sslContext=ssl._create_unverified_context())
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    vm = [v for v in view.view if v.name == "web01"][0]

    spec = vim.vm.ConfigSpec(changeTrackingEnabled=True)
    WaitForTask(vm.ReconfigVM_Task(spec))
    # CBT starts at the next stun on a running VM: a snapshot, removed again.
    WaitForTask(vm.CreateSnapshot_Task(name="stun", memory=False, quiesce=False))
    WaitForTask(vm.snapshot.currentSnapshot.RemoveSnapshot_Task(removeChildren=False))

    write(lab, state, "--offset", "0", "--length", "65536", "--seed", "1")
    WaitForTask(vm.CreateSnapshot_Task(name="s1", memory=False, quiesce=False))
    s1 = vm.snapshot.currentSnapshot
    # 5000 scattered writes: more than two pages of 2000 areas.
    write(lab, state, "--offset", "4096", "--length", "512", "--count", "5000", "--stride", "8192", "--seed", "2")
    write(lab, state, "--offset", str(SIZE - 1024), "--length", "1024", "--seed", "3")
    WaitForTask(vm.CreateSnapshot_Task(name="s2", memory=False, quiesce=False))
    s2 = vm.snapshot.currentSnapshot

    disk1 = [d for d in s1.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][0]
    disk2 = [d for d in s2.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)][0]
    assert disk1.key == disk2.key == 2000, (disk1.key, disk2.key)
    change_id = disk1.backing.changeId
    assert change_id and change_id.split("/")[0].startswith("52 "), change_id

    areas, pages, full_pages = [], 0, 0
    start = 0
    while start < SIZE:
        r = vm.QueryChangedDiskAreas(snapshot=s2, deviceKey=disk2.key, startOffset=start, changeId=change_id)
        assert r.startOffset == start and r.length > 0, (r.startOffset, r.length)
        assert len(r.changedArea or []) <= 2000
        if len(r.changedArea or []) == 2000:
            full_pages += 1
        areas += [(a.start, a.length) for a in r.changedArea or []]
        start = r.startOffset + r.length
        pages += 1
    assert pages >= 5 and full_pages >= 2, (pages, full_pages)

    info = json.loads(subprocess.run([lab, "info", "--state", state, "--vm", "web01"], check=True,
                                     capture_output=True).stdout)
    files = {s["name"]: s["disks"][0]["file"] for s in info["snapshots"]}
    raws = []
    for name in ("s1", "s2"):
        raw = os.path.join(state, name + ".raw")
        subprocess.run(["qemu-img", "convert", "-U", "-f", "vmdk", "-O", "raw", files[name], raw], check=True)
        raws.append(raw)
    a, b = open(raws[0], "rb").read(), open(raws[1], "rb").read()
    covered = bytearray(SIZE // 512)
    for off, length in areas:
        for s in range(off // 512, (off + length + 511) // 512):
            covered[s] = 1
    differing = 0
    for off in range(0, SIZE, BLOCK):
        if a[off:off + BLOCK] != b[off:off + BLOCK]:
            for s in range(off, off + BLOCK, 512):
                if a[s:s + 512] != b[s:s + 512]:
                    differing += 1
                    assert covered[s // 512], "changed sector at %d not reported" % s
    assert differing >= 5000, differing
    Disconnect(si)
    print("pyvmomi check: %d pages (%d full), %d areas cover all %d differing sectors"
          % (pages, full_pages, len(areas), differing))
    return 0


if __name__ == "__main__":
    sys.exit(main())

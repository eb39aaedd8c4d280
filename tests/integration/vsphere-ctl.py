#!/usr/bin/env python3
"""Test helper: what an operator does by hand in the vSphere client, done
with pyvmomi (an independent client), for tests that need vCenter changed
behind v2k's back.  Never used by v2k itself.

usage: vsphere-ctl.py snapshot-create VM NAME
       vsphere-ctl.py snapshot-remove VM NAME
       vsphere-ctl.py disk-add VM SIZE_MB     (on the VM's first SCSI controller)
Connection from GOVC_URL, GOVC_USERNAME, GOVC_PASSWORD (TLS unverified).
"""
import os
import ssl
import sys
import time
from urllib.parse import urlparse

from pyVim.connect import SmartConnect, Disconnect
from pyVmomi import vim


def wait(task):
    while task.info.state not in ("success", "error"):
        time.sleep(0.1)
    if task.info.state == "error":
        sys.exit("task failed: %s" % task.info.error.msg)
    return task.info.result


def find_vm(si, name):
    view = si.content.viewManager.CreateContainerView(si.content.rootFolder, [vim.VirtualMachine], True)
    for vm in view.view:
        if vm.name == name:
            return vm
    sys.exit("no VM %s" % name)


def walk(tree):
    for s in tree or []:
        yield s
        yield from walk(s.childSnapshotList)


def add_disk(vm, size_mb):
    devs = vm.config.hardware.device
    ctrl = next(d for d in devs if isinstance(d, vim.vm.device.VirtualSCSIController))
    used = {d.unitNumber for d in devs if getattr(d, "controllerKey", None) == ctrl.key}
    unit = next(u for u in range(16) if u != 7 and u not in used)
    disk = vim.vm.device.VirtualDisk(
        controllerKey=ctrl.key, unitNumber=unit, key=-1, capacityInKB=size_mb * 1024,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(diskMode="persistent", thinProvisioned=True))
    change = vim.vm.device.VirtualDeviceSpec(operation="add", fileOperation="create", device=disk)
    wait(vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[change])))


def main():
    cmd, vmname, snapname = sys.argv[1:4]
    u = urlparse(os.environ["GOVC_URL"])
    ctx = ssl._create_unverified_context()
    si = SmartConnect(host=u.hostname, port=u.port or 443, user=os.environ["GOVC_USERNAME"],
                      pwd=os.environ["GOVC_PASSWORD"], sslContext=ctx)
    try:
        vm = find_vm(si, vmname)
        if cmd == "snapshot-create":
            wait(vm.CreateSnapshot_Task(snapname, "by hand", False, False))
        elif cmd == "snapshot-remove":
            tree = vm.snapshot.rootSnapshotList if vm.snapshot else []
            for s in walk(tree):
                if s.name == snapname:
                    wait(s.snapshot.RemoveSnapshot_Task(False))
                    return
            sys.exit("no snapshot %s" % snapname)
        elif cmd == "disk-add":
            add_disk(vm, int(snapname))
        else:
            sys.exit("unknown command %s" % cmd)
    finally:
        Disconnect(si)


main()

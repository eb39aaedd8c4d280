package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// readDisk reads a VMDK chain through qemu, as anyone checking the lab
// would (qemu-img convert for bytes; qemu-nbd is covered by the nbdkit tests).
func readDisk(t *testing.T, file string) []byte {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "disk.raw")
	mustRun(t, "qemu-img", "convert", "-U", "-f", "vmdk", "-O", "raw", file, raw)
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func diskBacking(devs []types.BaseVirtualDevice, key int32) *types.VirtualDiskFlatVer2BackingInfo {
	d := object.VirtualDeviceList(devs).FindByKey(key)
	return d.(*types.VirtualDisk).Backing.(*types.VirtualDiskFlatVer2BackingInfo)
}

func TestSnapshotsAndConsolidation(t *testing.T) {
	l := startLab(t, "")
	vm := l.vm("web01")
	w := func(seed int, off int64) {
		l.mustLab("write", "--vm", "web01", "--disk", "0", "--offset", fmt.Sprint(off), "--length", "70000",
			"--count", "3", "--stride", "1000000", "--seed", fmt.Sprint(seed))
		l.mustLab("write", "--vm", "web01", "--disk", "2", "--offset", fmt.Sprint(off), "--length", "4096", "--seed", fmt.Sprint(seed))
	}
	var snaps []types.ManagedObjectReference
	want := map[string][]byte{} // snapshot moref (or "vm") -> disk 0 bytes
	for i := 1; i <= 3; i++ {
		w(i, int64(i)*65536+512)
		snaps = append(snaps, l.snapshot(vm, fmt.Sprintf("s%d", i)))
	}
	w(4, 12345*512)
	info := l.infoOf("web01")
	if len(info.Snapshots) != 3 {
		t.Fatalf("info: %+v", info)
	}
	for i, s := range info.Snapshots {
		if s.Moref != snaps[i].Value || s.Name != fmt.Sprintf("s%d", i+1) {
			t.Errorf("snapshot %d: %+v", i, s)
		}
		want[s.Moref] = readDisk(t, s.Disks[0].File)
		// The snapshot's own config shows the frozen file.
		var so mo.VirtualMachineSnapshot
		l.props(snaps[i], &so, "config")
		b := diskBacking(so.Config.Hardware.Device, 2000)
		if b.FileName != s.Disks[0].DatastorePath {
			t.Errorf("snapshot %s shows %s, froze %s", s.Name, b.FileName, s.Disks[0].DatastorePath)
		}
		exp := "[datastore1] web01/web01.vmdk"
		if i > 0 {
			exp = fmt.Sprintf("[datastore1] web01/web01-%06d.vmdk", i)
		}
		if b.FileName != exp {
			t.Errorf("snapshot %d froze %s, want %s", i, b.FileName, exp)
		}
		// Independent disks are not captured.
		if s.Disks[2].DatastorePath != "[datastore1] web01/web01_2.vmdk" {
			t.Errorf("independent disk in snapshot: %s", s.Disks[2].DatastorePath)
		}
	}
	want["vm"] = readDisk(t, info.Disks[0].File)
	for i := 1; i < 3; i++ {
		if bytes.Equal(want[snaps[i-1].Value], want[snaps[i].Value]) {
			t.Fatalf("snapshots %d and %d read the same", i-1, i)
		}
	}
	// The running VM's backing is the newest delta with the whole chain.
	var o mo.VirtualMachine
	l.props(vm.Reference(), &o, "config")
	b := diskBacking(o.Config.Hardware.Device, 2000)
	var chain []string
	for p := b; p != nil; p = p.Parent {
		chain = append(chain, p.FileName)
	}
	if fmt.Sprint(chain) != "[[datastore1] web01/web01-000003.vmdk [datastore1] web01/web01-000002.vmdk [datastore1] web01/web01-000001.vmdk [datastore1] web01/web01.vmdk]" {
		t.Errorf("VM chain %v", chain)
	}
	if ib := diskBacking(o.Config.Hardware.Device, 16000); ib.Parent != nil || ib.FileName != "[datastore1] web01/web01_2.vmdk" {
		t.Errorf("independent disk got a delta: %s", ib.FileName)
	}

	check := func(step string) {
		t.Helper()
		info := l.infoOf("web01")
		for _, s := range info.Snapshots {
			if got := readDisk(t, s.Disks[0].File); !bytes.Equal(got, want[s.Moref]) {
				t.Errorf("%s: snapshot %s (%s) changed", step, s.Name, s.Disks[0].File)
			}
			mustRun(t, "qemu-img", "check", "-U", s.Disks[0].File)
		}
		if got := readDisk(t, info.Disks[0].File); !bytes.Equal(got, want["vm"]) {
			t.Errorf("%s: running VM's disk changed", step)
		}
	}
	// Middle, then newest (merges the running delta), then the base one.
	l.removeSnapshot(snaps[1])
	check("remove s2")
	l.removeSnapshot(snaps[2])
	check("remove s3")
	l.removeSnapshot(snaps[0])
	check("remove s1")
	info = l.infoOf("web01")
	if len(info.Snapshots) != 0 || info.Disks[0].DatastorePath != "[datastore1] web01/web01.vmdk" {
		t.Errorf("after removing all: %+v", info)
	}
	entries, _ := os.ReadDir(filepath.Dir(info.Disks[0].File))
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".vmdk" && bytes.Contains([]byte(e.Name()), []byte("-0000")) {
			t.Errorf("delta %s left behind", e.Name())
		}
	}
	// RemoveAllSnapshots consolidates as well.
	l.snapshot(vm, "a")
	w(5, 0)
	l.snapshot(vm, "b")
	w(6, 4096)
	want["vm"] = readDisk(t, l.infoOf("web01").Disks[0].File)
	res, err := methods.RemoveAllSnapshots_Task(ctx, l.c.Client, &types.RemoveAllSnapshots_Task{This: vm.Reference()})
	if err == nil {
		err = object.NewTask(l.c.Client, res.Returnval).Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	check("remove all")
	// Revert is refused: the lab keeps chains linear.
	s := l.snapshot(vm, "c")
	if _, err := vm.RevertToCurrentSnapshot(ctx, true); err == nil {
		t.Errorf("revert was accepted")
	}
	_ = s
}

// The warm-migration rhythm: take N, remove N-1, with reconfigures in
// between (they make the simulator list disk files in layoutEx, whose keys
// it reuses). Every chain must stay whole.
func TestRollingSnapshots(t *testing.T) {
	l := startLab(t, "")
	vm := l.vm("web01")
	var prev types.ManagedObjectReference
	for round := 0; round < 5; round++ {
		l.reconfigCBT(vm, true)
		for d := 0; d < 3; d++ {
			l.mustLab("write", "--vm", "web01", "--disk", fmt.Sprint(d), "--offset", fmt.Sprint(round*4096), "--length", "4096", "--seed", fmt.Sprint(round))
		}
		s := l.snapshot(vm, fmt.Sprintf("v2k-%d", round))
		if round > 0 {
			l.removeSnapshot(prev)
		}
		prev = s
		info := l.infoOf("web01")
		for _, d := range info.Disks {
			mustRun(t, "qemu-img", "info", "-U", "--backing-chain", d.File)
		}
		for _, sn := range info.Snapshots {
			for _, d := range sn.Disks {
				mustRun(t, "qemu-img", "info", "-U", "--backing-chain", d.File)
			}
		}
	}
}

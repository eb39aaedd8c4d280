package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func (l *testLab) qcda(vm *object.VirtualMachine, snap *types.ManagedObjectReference, key int32, start int64, cid string) (types.DiskChangeInfo, error) {
	res, err := methods.QueryChangedDiskAreas(ctx, l.c.Client, &types.QueryChangedDiskAreas{
		This: vm.Reference(), Snapshot: snap, DeviceKey: key, StartOffset: start, ChangeId: cid})
	if err != nil {
		return types.DiskChangeInfo{}, err
	}
	return res.Returnval, nil
}

// allAreas pages through QueryChangedDiskAreas as a correct client must.
func (l *testLab) allAreas(vm *object.VirtualMachine, snap types.ManagedObjectReference, key int32, size int64, cid string) (areas []types.DiskChangeExtent, pages []types.DiskChangeInfo) {
	l.t.Helper()
	for start := int64(0); start < size; {
		r, err := l.qcda(vm, &snap, key, start, cid)
		if err != nil {
			l.t.Fatalf("QueryChangedDiskAreas at %d: %v", start, err)
		}
		if r.StartOffset != start || r.Length <= 0 || r.StartOffset+r.Length > size {
			l.t.Fatalf("page %+v at %d", r, start)
		}
		areas = append(areas, r.ChangedArea...)
		pages = append(pages, r)
		start = r.StartOffset + r.Length
	}
	return
}

func (l *testLab) reconfigCBT(vm *object.VirtualMachine, on bool) {
	l.t.Helper()
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: &on})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		l.t.Fatal(err)
	}
}

func (l *testLab) snapChangeID(snap types.ManagedObjectReference, key int32) string {
	var so mo.VirtualMachineSnapshot
	l.props(snap, &so, "config")
	return diskBacking(so.Config.Hardware.Device, key).ChangeId
}

func TestCBT(t *testing.T) {
	l := startLab(t, "")
	vm := l.vm("web01")
	const size = 64 << 20
	s0 := l.snapshot(vm, "before-cbt")
	if _, ok := faultOf(func() error { _, err := l.qcda(vm, &s0, 2000, 0, "*"); return err }()).(*types.FileFault); !ok {
		t.Errorf("QueryChangedDiskAreas with CBT off is not a FileFault")
	}
	l.removeSnapshot(s0)

	l.reconfigCBT(vm, true)
	var o mo.VirtualMachine
	l.props(vm.Reference(), &o, "config")
	if !*o.Config.ChangeTrackingEnabled {
		t.Fatal("changeTrackingEnabled not set")
	}
	// Running VM: tracking waits for a stun; the snapshot is one.
	if cid := diskBacking(o.Config.Hardware.Device, 2000).ChangeId; cid != "" {
		t.Errorf("changeId %q before the stun", cid)
	}
	l.mustLab("write", "--vm", "web01", "--disk", "0", "--offset", "1048576", "--length", "65536", "--seed", "1")
	s1 := l.snapshot(vm, "s1")
	c1 := l.snapChangeID(s1, 2000)
	if !strings.HasPrefix(c1, "52 ") || !strings.Contains(c1, "-") || !strings.Contains(c1, "/") {
		t.Fatalf("changeId %q is not in VMware's form", c1)
	}
	l.mustLab("write", "--vm", "web01", "--disk", "0", "--offset", "8192", "--length", "1000", "--seed", "2")
	l.mustLab("write", "--vm", "web01", "--disk", "0", "--offset", fmt.Sprint(size-4096), "--length", "4096", "--seed", "3")
	s2 := l.snapshot(vm, "s2")
	c2 := l.snapChangeID(s2, 2000)
	if c2 == c1 || strings.Split(c2, "/")[0] != strings.Split(c1, "/")[0] {
		t.Errorf("changeIds %q then %q", c1, c2)
	}
	areas, _ := l.allAreas(vm, s2, 2000, size, c1)
	if fmt.Sprint(areas) != fmt.Sprint([]types.DiskChangeExtent{{Start: 8192, Length: 1024}, {Start: size - 4096, Length: 4096}}) {
		t.Errorf("areas s1..s2: %+v", areas)
	}
	all, _ := l.allAreas(vm, s2, 2000, size, "*")
	if fmt.Sprint(all) != fmt.Sprint([]types.DiskChangeExtent{{Start: 8192, Length: 1024}, {Start: 1048576, Length: 65536}, {Start: size - 4096, Length: 4096}}) {
		t.Errorf("allocated areas: %+v", all)
	}
	// The thick disk is allocated in full.
	if thick, _ := l.allAreas(vm, s2, 2001, 32<<20, "*"); len(thick) != 1 || thick[0].Length != 32<<20 {
		t.Errorf("thick disk allocated areas: %+v", thick)
	}
	// Faults as vSphere gives them.
	expect := func(what string, err error, prop string) {
		t.Helper()
		f, ok := faultOf(err).(*types.InvalidArgument)
		if !ok || f.InvalidProperty != prop {
			t.Errorf("%s: %v (want InvalidArgument %s)", what, err, prop)
		}
	}
	_, err := l.qcda(vm, &s2, 2000, 0, strings.Split(c1, "/")[0]+"/999")
	expect("unknown changeId", err, "changeId")
	_, err = l.qcda(vm, &s2, 2000, 0, "52 00 00 00 00 00 00 00-00 00 00 00 00 00 00 00/1")
	expect("foreign changeId", err, "changeId")
	_, err = l.qcda(vm, &s2, 2000, size, c1)
	expect("startOffset at the end", err, "startOffset")
	_, err = l.qcda(vm, &s2, 2000, size+512, c1)
	expect("startOffset beyond", err, "startOffset")
	_, err = l.qcda(vm, &s2, 2999, 0, c1)
	expect("unknown deviceKey", err, "deviceKey")
	_, err = l.qcda(l.vm("db01"), &s2, 2000, 0, c1)
	expect("snapshot of another VM", err, "snapshot")

	// Off and on again: tracking restarts, old changeIds are rejected.
	l.reconfigCBT(vm, false)
	if _, ok := faultOf(func() error { _, err := l.qcda(vm, &s2, 2000, 0, c1); return err }()).(*types.FileFault); !ok {
		t.Errorf("query with CBT off again is not a FileFault")
	}
	l.reconfigCBT(vm, true)
	s3 := l.snapshot(vm, "s3")
	_, err = l.qcda(vm, &s3, 2000, 0, c2)
	expect("changeId from before the reset", err, "changeId")
	if _, err := l.qcda(vm, &s3, 2000, 0, "*"); err != nil {
		t.Errorf("\"*\" after the reset: %v", err)
	}
}

func TestCBTPaging(t *testing.T) {
	l := startLab(t, `"cbt_page_window": 8388608`)
	vm := l.vm("web01")
	const size = 64 << 20
	l.reconfigCBT(vm, true)
	l.mustLab("power", "--vm", "web01", "off") // powered off: tracking starts at once
	l.mustLab("power", "--vm", "web01", "on")
	var o mo.VirtualMachine
	l.props(vm.Reference(), &o, "config")
	if cid := diskBacking(o.Config.Hardware.Device, 2000).ChangeId; !strings.HasPrefix(cid, "52 ") {
		t.Errorf("power-on did not start tracking: changeId %q", cid)
	}
	s1 := l.snapshot(vm, "s1")
	c1 := l.snapChangeID(s1, 2000)
	// 6000 scattered writes in the first 24 MiB, one at the very end.
	l.mustLab("write", "--vm", "web01", "--disk", "0", "--offset", "0", "--length", "512", "--count", "6000", "--stride", "4096", "--seed", "9")
	l.mustLab("write", "--vm", "web01", "--disk", "0", "--offset", fmt.Sprint(size-512), "--length", "512", "--seed", "10")
	s2 := l.snapshot(vm, "s2")
	areas, pages := l.allAreas(vm, s2, 2000, size, c1)
	if len(areas) != 6001 {
		t.Fatalf("%d areas", len(areas))
	}
	full, emptyBeforeEnd := 0, 0
	for i, p := range pages {
		if len(p.ChangedArea) > 2000 {
			t.Errorf("page %d has %d areas", i, len(p.ChangedArea))
		}
		if len(p.ChangedArea) == 2000 {
			full++
		}
		if len(p.ChangedArea) == 0 && p.StartOffset+p.Length < size {
			emptyBeforeEnd++
		}
	}
	if full < 2 || emptyBeforeEnd < 1 {
		t.Errorf("%d pages: %d full, %d empty before the end", len(pages), full, emptyBeforeEnd)
	}
	for i, a := range areas {
		if i < 6000 && (a.Start != int64(i)*4096 || a.Length != 512) {
			t.Fatalf("area %d: %+v", i, a)
		}
	}
	// A client that stops at the first page, or at an empty one, misses data.
	first, _ := l.qcda(vm, &s2, 2000, 0, c1)
	if first.StartOffset+first.Length >= size {
		t.Errorf("first page covers the whole disk")
	}
}

func TestImageAndSpecCBT(t *testing.T) {
	dir := t.TempDir()
	img := make([]byte, 3<<20)
	copy(img[65536:], strings.Repeat("image!", 1000))
	img[len(img)-1] = 1
	imgPath := dir + "/image.raw"
	if err := os.WriteFile(imgPath, img, 0o644); err != nil {
		t.Fatal(err)
	}
	spec := fmt.Sprintf(`{"datacenter": "DC0", "host": "esxi01.lab.local", "datastores": ["datastore1"],
	  "vms": [{"name": "img01", "cbt": true, "disks": [{"size": 4194304, "image": %q}]}]}`, imgPath)
	specPath := dir + "/spec.json"
	os.WriteFile(specPath, []byte(spec), 0o644)
	l := startLabSpec(t, dir, specPath)
	vm := l.vm("img01")
	s1 := l.snapshot(vm, "s1")
	got := readDisk(t, l.infoOf("img01").Snapshots[0].Disks[0].File)
	if !bytes.Equal(got[:len(img)], img) || strings.Trim(string(got[len(img):]), "\x00") != "" {
		t.Errorf("disk does not start with the image")
	}
	all, _ := l.allAreas(vm, s1, 2000, 4<<20, "*")
	want := []types.DiskChangeExtent{{Start: 65536, Length: 65536}, {Start: 3<<20 - 65536, Length: 65536}}
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Errorf("allocated areas %+v, want %+v", all, want)
	}
}

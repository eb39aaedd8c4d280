package main

// The lab's own model of what the simulator does not know: disk files and
// chains, guest writes and change tracking. Lab.mu guards all of it; the
// simulator calls back into it (hooks.go) while it creates and removes
// snapshots, so nothing may hold Lab.mu while calling into the simulator.

import (
	"crypto/sha1"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

type extent struct{ Off, Len int64 }

type writeRec struct {
	gen      int
	off, len int64
}

type labDisk struct {
	index    int
	key      int32
	spec     DiskSpec
	ds       string   // datastore name
	dsDir    string   // datastore directory
	vmDir    string   // VM folder inside the datastore
	base     string   // base name ("web01" or "web01_1")
	chain    []string // file names in vmDir, base first, running top last
	fileUUID map[string]string
	alloc    []extent   // bytes allocated before any guest write (image, thick)
	writes   []writeRec // every guest write, tagged with the VM's generation
	ctk      string     // change tracking id ("52 .. .."), "" while inactive
	ctkStart int        // first generation of that tracking id
	nextSeq  int        // number for the next delta file
}

type labSnap struct {
	ref       types.ManagedObjectReference
	name      string
	gen       int              // contains guest writes with gen < this
	files     map[int32]string // frozen file per disk key
	changeIDs map[int32]string
}

type labVM struct {
	spec       *VMSpec
	ref        types.ManagedObjectReference
	disks      []*labDisk
	snaps      []*labSnap // a chain, oldest first (revert is refused)
	gen        int
	ctkPending bool // CBT switched on while running: active at next stun
}

type Lab struct {
	mu     sync.Mutex
	spec   *Spec
	state  string
	dsDirs map[string]string
	vms    map[string]*labVM
	byRef  map[types.ManagedObjectReference]*labVM

	svc    *simulator.Service
	client *vim25.Client // in-process client, bypasses the front handler
	user   string
	pass   string
	thumb  string
	url    string
	faults faultState
	// flatOnly makes RDM disks show flat backings for a moment: the
	// simulator's disk layout code (run by CreateVM and every ReconfigVM)
	// only understands VirtualDiskFlatVer2BackingInfo.
	flatOnly bool
}

func (d *labDisk) independent() bool { return d.spec.Mode == "independent_persistent" }
func (d *labDisk) top() string       { return d.chain[len(d.chain)-1] }
func (d *labDisk) abs(file string) string {
	return filepath.Join(d.dsDir, d.vmDir, file)
}
func (d *labDisk) dsPath(file string) string {
	return fmt.Sprintf("[%s] %s/%s", d.ds, d.vmDir, file)
}

// stableUUID derives a UUID from text so every run of a spec gets the same
// BIOS/instance/disk UUIDs (the target VM must keep them).
func stableUUID(text string) string {
	h := sha1.Sum([]byte(text))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// ctkID has the form of a VMware change tracking id: 16 hex bytes,
// space separated, with a dash after the eighth ("52 a1 .. 07-3c .. 9e").
func ctkID(seed string) string {
	h := sha1.Sum([]byte(seed))
	h[0] = 0x52
	s := ""
	for i := 0; i < 16; i++ {
		switch {
		case i == 8:
			s += "-"
		case i > 0:
			s += " "
		}
		s += fmt.Sprintf("%02x", h[i])
	}
	return s
}

func (d *labDisk) changeID(gen int) string {
	if d.ctk == "" {
		return ""
	}
	return fmt.Sprintf("%s/%d", d.ctk, gen)
}

func mergeExtents(in []extent) []extent {
	if len(in) == 0 {
		return nil
	}
	sort.Slice(in, func(i, j int) bool { return in[i].Off < in[j].Off })
	out := []extent{in[0]}
	for _, e := range in[1:] {
		last := &out[len(out)-1]
		if e.Off <= last.Off+last.Len {
			if end := e.Off + e.Len; end > last.Off+last.Len {
				last.Len = end - last.Off
			}
			continue
		}
		out = append(out, e)
	}
	return out
}

// changedAreas lists what the guest wrote to a disk between generation
// from (inclusive) and to (exclusive), widened to whole sectors as CBT
// tracks them; all=true adds what was allocated from the start ("*").
func (d *labDisk) changedAreas(from, to int, all bool) []extent {
	var es []extent
	if all {
		es = append(es, d.alloc...)
	}
	for _, w := range d.writes {
		if w.gen >= from && w.gen < to {
			off := w.off &^ 511
			end := (w.off + w.len + 511) &^ 511
			es = append(es, extent{off, end - off})
		}
	}
	return mergeExtents(es)
}

// vmByName finds the VM a lab command's --vm names: "FOLDER/NAME" (its
// path below the datacenter's vm folder), the full inventory path
// "/DC/vm/FOLDER/NAME", or a bare NAME when exactly one VM has it. A bare
// name that several VMs share (in different folders) is refused with the
// candidates, as v2k itself does.
func (l *Lab) vmByName(name string) (*labVM, error) {
	if name == "" {
		return nil, fmt.Errorf("--vm is required")
	}
	if strings.Contains(name, "/") {
		p := name
		if prefix := "/" + l.spec.Datacenter + "/vm/"; strings.HasPrefix(p, prefix) {
			p = p[len(prefix):]
		}
		if vm := l.vms[p]; vm != nil && !strings.HasPrefix(p, "/") {
			return vm, nil
		}
		return nil, fmt.Errorf("no VM at %q in the lab (give FOLDER/NAME below the vm folder, or /%s/vm/FOLDER/NAME)", name, l.spec.Datacenter)
	}
	var found []*labVM
	for _, vm := range l.vms {
		if vm.spec.Name == name {
			found = append(found, vm)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no VM named %q in the lab", name)
	case 1:
		return found[0], nil
	}
	sort.Slice(found, func(i, j int) bool { return found[i].spec.path() < found[j].spec.path() })
	var cands []string
	for _, vm := range found {
		cands = append(cands, fmt.Sprintf("%s (%s, %s)", vm.spec.path(), vm.ref.Value, l.inventoryPath(vm)))
	}
	return nil, fmt.Errorf("VM name %q is ambiguous, %d VMs have it: %s; give --vm FOLDER/NAME",
		name, len(found), strings.Join(cands, ", "))
}

// inventoryPath is the VM's path as FindByInventoryPath takes it, with a
// leading slash: /DC0/vm/prod/web01.
func (l *Lab) inventoryPath(vm *labVM) string {
	return "/" + l.spec.Datacenter + "/vm/" + vm.spec.path()
}

func (vm *labVM) snapByRef(ref types.ManagedObjectReference) (int, *labSnap) {
	for i, s := range vm.snaps {
		if s.ref == ref {
			return i, s
		}
	}
	return -1, nil
}

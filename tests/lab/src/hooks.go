package main

// Hooks into the simulator's registry: they see snapshots being created and
// removed and power state changing, and make the disk files, backings and
// change tracking follow as ESXi would.

import (
	"fmt"
	"log"
	"path/filepath"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

type hook struct{ l *Lab }

func (h hook) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "V2kLabHook", Value: "v2k-lab-hook"}
}

func (h hook) PutObject(obj mo.Reference) {
	if t, ok := obj.(*simulator.Task); ok && t.Info.Entity != nil && t.Info.Entity.Type == "VirtualMachineSnapshot" {
		// vCenter files snapshot tasks (RemoveSnapshot_Task) under the VM:
		// info.entity must be a ManagedEntity, and pyvmomi checks that.
		if s, ok := simulator.Map.Get(*t.Info.Entity).(*simulator.VirtualMachineSnapshot); ok {
			vm := s.Vm
			t.Info.Entity = &vm
			t.Info.EntityName = simulator.Map.Get(vm).(*simulator.VirtualMachine).Name
		}
		return
	}
	if s, ok := obj.(*simulator.VirtualMachineSnapshot); ok {
		h.l.mu.Lock()
		defer h.l.mu.Unlock()
		if err := h.l.snapshotCreated(s); err != nil {
			log.Printf("snapshot %s: %v", s.Self.Value, err)
		}
	}
}

func (h hook) UpdateObject(obj mo.Reference, changes []types.PropertyChange) {
	vmo, ok := obj.(*mo.VirtualMachine)
	if !ok {
		return
	}
	for _, c := range changes {
		if c.Name == "runtime.powerState" {
			h.l.mu.Lock()
			vm := h.l.byRef[vmo.Self]
			if vm != nil && fmt.Sprint(c.Val) == string(types.VirtualMachinePowerStatePoweredOn) && vm.ctkPending {
				// A power-on is a stun: pending change tracking starts.
				h.l.activateCBT(vm)
				h.l.refreshVM(vm)
			}
			h.l.mu.Unlock()
			if vm != nil {
				h.l.updateGuest(vm)
			}
		}
	}
}

func (h hook) RemoveObject(ref types.ManagedObjectReference) {
	if ref.Type != "VirtualMachineSnapshot" {
		return
	}
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	for _, vm := range h.l.vms {
		if i, _ := vm.snapByRef(ref); i >= 0 {
			if err := h.l.consolidate(vm, i); err != nil {
				log.Printf("consolidate %s: %v", ref.Value, err)
			}
			return
		}
	}
}

func (l *Lab) vmObj(vm *labVM) *simulator.VirtualMachine {
	return simulator.Map.Get(vm.ref).(*simulator.VirtualMachine)
}

// snapshotCreated freezes every non-independent disk's current file, starts
// a new delta on top of it, and moves change tracking to a new generation.
// The snapshot object is not visible to clients yet, so its config can be
// edited in place.
func (l *Lab) snapshotCreated(s *simulator.VirtualMachineSnapshot) error {
	vm := l.byRef[s.Vm]
	if vm == nil {
		return fmt.Errorf("unknown VM %s", s.Vm.Value)
	}
	if vm.ctkPending {
		l.activateCBT(vm) // the snapshot's stun starts pending tracking
	}
	vm.gen++
	snap := &labSnap{ref: s.Self, gen: vm.gen, files: map[int32]string{}, changeIDs: map[int32]string{}}
	for _, d := range vm.disks {
		snap.files[d.key] = d.top()
		snap.changeIDs[d.key] = d.changeID(vm.gen)
		if d.independent() {
			continue // ESXi leaves independent disks out of snapshots
		}
		var name string
		for {
			name = fmt.Sprintf("%s-%06d.vmdk", d.base, d.nextSeq)
			d.nextSeq++
			if !fileExists(d.abs(name)) {
				break
			}
		}
		if err := createDelta(filepath.Join(d.dsDir, d.vmDir), d.top(), name, d.spec.Size); err != nil {
			return err
		}
		d.chain = append(d.chain, name)
		d.fileUUID[name] = diskUUID(vm.spec.path() + "/" + name)
	}
	vm.snaps = append(vm.snaps, snap)
	cfg := s.Config
	cfg.Hardware.Device = l.withDisks(s.Config.Hardware.Device, vm, func(d *labDisk) (int, string) {
		return chainIndex(d, snap.files[d.key]), snap.changeIDs[d.key]
	})
	s.Config = cfg
	l.refreshVM(vm)
	return nil
}

// refreshVM rebuilds the running VM's disk backings from the model.
func (l *Lab) refreshVM(vm *labVM) {
	obj := l.vmObj(vm)
	devs := l.withDisks(obj.Config.Hardware.Device, vm, func(d *labDisk) (int, string) {
		return len(d.chain) - 1, d.changeID(vm.gen)
	})
	simulator.Map.Update(obj, []types.PropertyChange{{Name: "config.hardware.device", Val: devs}})
}

// consolidate removes snapshot i the way ESXi does: the delta that was
// started when the snapshot was taken is merged into the file the snapshot
// froze, and whoever used that delta (the next snapshot, the next delta,
// the running VM) now uses the merged file. Every remaining snapshot and
// the VM read exactly the bytes they read before.
func (l *Lab) consolidate(vm *labVM, i int) error {
	snap := vm.snaps[i]
	vm.snaps = append(vm.snaps[:i], vm.snaps[i+1:]...)
	var firstErr error
	for _, d := range vm.disks {
		if d.independent() {
			continue
		}
		frozen := snap.files[d.key]
		fi := chainIndex(d, frozen)
		if d.chain[fi] != frozen || fi+1 >= len(d.chain) {
			continue
		}
		child := d.chain[fi+1]
		dir := filepath.Join(d.dsDir, d.vmDir)
		if err := commitDelta(dir, child); err != nil {
			firstErr = err
			continue
		}
		if fi+2 < len(d.chain) {
			if err := setParent(dir, d.chain[fi+2], frozen); err != nil {
				firstErr = err
			}
		}
		d.chain = append(d.chain[:fi+1], d.chain[fi+2:]...)
		removeVMDK(dir, child)
		for _, s := range vm.snaps {
			if s.files[d.key] == child {
				s.files[d.key] = frozen
			}
		}
	}
	// Remaining snapshots show their (possibly renamed) files.
	for _, s := range vm.snaps {
		if obj, ok := simulator.Map.Get(s.ref).(*simulator.VirtualMachineSnapshot); ok {
			cfg := obj.Config
			cfg.Hardware.Device = l.withDisks(obj.Config.Hardware.Device, vm, func(d *labDisk) (int, string) {
				return chainIndex(d, s.files[d.key]), s.changeIDs[d.key]
			})
			obj.Config = cfg
		}
	}
	l.refreshVM(vm)
	return firstErr
}

// setCBT follows config.changeTrackingEnabled. Switching it on for a
// running VM only arms it: tracking starts at the next stun (snapshot or
// power-on), as on ESXi. Switching it off forgets the tracking id, so old
// changeIds are rejected after it is switched on again.
func (l *Lab) setCBT(vm *labVM, on, running bool) {
	active := false
	for _, d := range vm.disks {
		active = active || d.ctk != ""
	}
	switch {
	case on && !active && !vm.ctkPending:
		if running {
			vm.ctkPending = true
		} else {
			l.activateCBT(vm)
		}
	case !on:
		vm.ctkPending = false
		for _, d := range vm.disks {
			d.ctk = ""
		}
	}
}

var ctkEpoch int

func (l *Lab) activateCBT(vm *labVM) {
	vm.ctkPending = false
	vm.gen++ // a fresh boundary: nothing written before it is tracked
	ctkEpoch++
	for _, d := range vm.disks {
		d.ctk = ctkID(fmt.Sprintf("%s/%d/%d/%d", vm.spec.path(), d.key, ctkEpoch, vm.gen))
		d.ctkStart = vm.gen
	}
}

package main

// VM methods the lab answers itself. The front handler routes them here by
// retyping the request's _this from VirtualMachine to V2kLabVM (same
// value), so the simulator still checks the session and encodes the
// answer; the endpoint then uses the simulator's VirtualMachine directly.

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const endpointType = "V2kLabVM"

// routedMethods are the VirtualMachine methods the endpoint implements.
var routedMethods = map[string]bool{
	"QueryChangedDiskAreas": true,
	"ShutdownGuest":         true,
	"CreateSnapshot_Task":   true,
	"ReconfigVM_Task":       true,
}

type vmEndpoint struct {
	Self types.ManagedObjectReference
	l    *Lab
	vm   *labVM
}

func (e *vmEndpoint) Reference() types.ManagedObjectReference { return e.Self }

func (e *vmEndpoint) sim(ctx *simulator.Context) *simulator.VirtualMachine {
	obj := e.l.vmObj(e.vm)
	ctx.Caller = &obj.Self // the simulator's methods lock the VM unless it is the caller
	return obj
}

func invalidArg(prop, msg string) *soap.Fault {
	return simulator.Fault(msg, &types.InvalidArgument{InvalidProperty: prop})
}

// QueryChangedDiskAreas answers like vSphere: pages of at most
// cbt_page_areas areas, each covering at most cbt_page_window bytes, so a
// client has to loop on startOffset+length up to the capacity.
func (e *vmEndpoint) QueryChangedDiskAreas(ctx *simulator.Context, req *types.QueryChangedDiskAreas) soap.HasFault {
	body := &methods.QueryChangedDiskAreasBody{}
	l := e.l
	obj := e.l.vmObj(e.vm)
	cbtOn := obj.Config.ChangeTrackingEnabled != nil && *obj.Config.ChangeTrackingEnabled
	l.mu.Lock()
	defer l.mu.Unlock()
	vm := e.vm
	var snap *labSnap
	if req.Snapshot != nil {
		if _, snap = vm.snapByRef(*req.Snapshot); snap == nil {
			body.Fault_ = invalidArg("snapshot", fmt.Sprintf("A specified parameter was not correct: snapshot (%s is not a snapshot of %s)", req.Snapshot.Value, vm.ref.Value))
			return body
		}
	} else if obj.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
		body.Fault_ = invalidArg("snapshot", "A specified parameter was not correct: snapshot (required while the VM is running)")
		return body
	}
	var disk *labDisk
	for _, d := range vm.disks {
		if d.key == req.DeviceKey {
			disk = d
		}
	}
	if disk == nil {
		body.Fault_ = invalidArg("deviceKey", fmt.Sprintf("A specified parameter was not correct: deviceKey (%d)", req.DeviceKey))
		return body
	}
	file := disk.top()
	to := vm.gen + 1 // everything written so far
	cid := disk.changeID(vm.gen)
	if snap != nil {
		file, to, cid = snap.files[disk.key], snap.gen, snap.changeIDs[disk.key]
	}
	if !cbtOn || disk.ctk == "" || cid == "" || !strings.HasPrefix(cid, disk.ctk+"/") {
		// What vCenter says when tracking is off (or was not yet active
		// when the snapshot was taken): a FileFault on the disk.
		body.Fault_ = simulator.Fault("Error caused by file "+disk.dsPath(file), &types.FileFault{File: disk.dsPath(file)})
		return body
	}
	size := disk.spec.Size
	if req.StartOffset < 0 || req.StartOffset >= size {
		body.Fault_ = invalidArg("startOffset", fmt.Sprintf("A specified parameter was not correct: startOffset (%d, capacity %d)", req.StartOffset, size))
		return body
	}
	var areas []extent
	if req.ChangeId == "*" {
		areas = disk.changedAreas(0, to, true)
	} else {
		i := strings.LastIndexByte(req.ChangeId, '/')
		from, err := strconv.Atoi(req.ChangeId[i+1:])
		if i < 0 || err != nil || req.ChangeId[:i] != disk.ctk || from < disk.ctkStart || from > to {
			body.Fault_ = invalidArg("changeId", "A specified parameter was not correct: changeId")
			return body
		}
		areas = disk.changedAreas(from, to, false)
	}
	res := pageAreas(areas, req.StartOffset, size, l.spec.CBTPageWindow, l.spec.CBTPageAreas)
	body.Res = &types.QueryChangedDiskAreasResponse{Returnval: res}
	return body
}

// pageAreas cuts one answer out of the sorted, merged areas.
func pageAreas(areas []extent, start, size, window int64, max int) types.DiskChangeInfo {
	end := start + window
	if end > size {
		end = size
	}
	var out []types.DiskChangeExtent
	for _, a := range areas {
		s, t := a.Off, a.Off+a.Len
		if t <= start || s >= end {
			continue
		}
		if s < start {
			s = start
		}
		if t > end {
			t = end
		}
		if len(out) == max {
			end = out[len(out)-1].Start + out[len(out)-1].Length
			break
		}
		out = append(out, types.DiskChangeExtent{Start: s, Length: t - s})
	}
	return types.DiskChangeInfo{StartOffset: start, Length: end - start, ChangedArea: out}
}

// ShutdownGuest asks VMware Tools to shut the guest down: it needs tools
// running, answers at once, and the VM powers off a little later.
func (e *vmEndpoint) ShutdownGuest(ctx *simulator.Context, req *types.ShutdownGuest) soap.HasFault {
	body := &methods.ShutdownGuestBody{}
	obj := e.sim(ctx)
	if obj.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		body.Fault_ = simulator.Fault("The attempted operation cannot be performed in the current state (Powered off).",
			&types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOn, ExistingState: obj.Runtime.PowerState})
		return body
	}
	if obj.Guest == nil || obj.Guest.ToolsRunningStatus != "guestToolsRunning" {
		body.Fault_ = simulator.Fault("Cannot complete operation because VMware Tools is not running in this virtual machine.", &types.ToolsUnavailable{})
		return body
	}
	delay := time.Duration(e.l.spec.ShutdownDelayMS) * time.Millisecond
	go func() {
		time.Sleep(delay)
		if err := e.l.setPower(e.vm, false); err != nil {
			fmt.Printf("shutdown of %s: %v\n", e.vm.spec.path(), err)
		}
	}()
	body.Res = &types.ShutdownGuestResponse{}
	return body
}

// CreateSnapshot_Task refuses what ESXi refuses (physical RDMs, more than
// 32 levels) and otherwise lets the simulator take the snapshot; the
// registry hook then freezes the disks.
func (e *vmEndpoint) CreateSnapshotTask(ctx *simulator.Context, req *types.CreateSnapshot_Task) soap.HasFault {
	obj := e.sim(ctx)
	var fault types.BaseMethodFault
	e.l.mu.Lock()
	for _, d := range e.vm.disks {
		if d.spec.RDM == "physical" {
			fault = &types.SnapshotIncompatibleDeviceInVm{Fault: types.LocalizedMethodFault{
				Fault: &types.SnapshotFault{}, LocalizedMessage: "Physical compatibility RDM " + d.dsPath(d.chain[0])}}
		}
	}
	if len(e.vm.snaps) >= 32 {
		fault = &types.TooManySnapshotLevels{}
	}
	e.l.mu.Unlock()
	if fault != nil {
		return &methods.CreateSnapshot_TaskBody{Res: &types.CreateSnapshot_TaskResponse{
			Returnval: failedTask(obj.Self, "CreateSnapshot_Task", fault, "An error occurred while taking a snapshot")}}
	}
	var res soap.HasFault
	simulator.Map.WithLock(obj, func() { res = obj.CreateSnapshotTask(req) })
	return res
}

// ReconfigVM_Task lets the simulator reconfigure, then makes change
// tracking follow config.changeTrackingEnabled.
func (e *vmEndpoint) ReconfigVMTask(ctx *simulator.Context, req *types.ReconfigVM_Task) soap.HasFault {
	obj := e.sim(ctx)
	var res soap.HasFault
	e.l.mu.Lock()
	defer e.l.mu.Unlock()
	simulator.Map.WithLock(obj, func() {
		e.l.flatOnly = true
		e.l.refreshVM(e.vm)
		e.l.flatOnly = false
		res = obj.ReconfigVMTask(ctx, req)
	})
	if req.Spec.ChangeTrackingEnabled != nil {
		on := *req.Spec.ChangeTrackingEnabled
		e.l.setCBT(e.vm, on, obj.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn)
		simulator.Map.Update(obj, []types.PropertyChange{{Name: "config.changeTrackingEnabled", Val: on}})
	}
	e.l.refreshVM(e.vm)
	return res
}

// failedTask makes a task that has already ended in error, as vCenter's
// tasks do when the operation fails.
func failedTask(entity types.ManagedObjectReference, method string, fault types.BaseMethodFault, msg string) types.ManagedObjectReference {
	name := strings.TrimSuffix(method, "_Task")
	name = strings.ToLower(name[:1]) + name[1:]
	task := simulator.CreateTask(entity, name, func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, fault
	})
	ref := task.Run()
	simulator.Map.Update(task, []types.PropertyChange{
		{Name: "info.error", Val: &types.LocalizedMethodFault{Fault: fault, LocalizedMessage: msg}},
	})
	return ref
}

// setPower powers a VM on or off through the in-process client.
func (l *Lab) setPower(vm *labVM, on bool) error {
	v := object.NewVirtualMachine(l.client, vm.ref)
	var t *object.Task
	var err error
	if on {
		t, err = v.PowerOn(bg)
	} else {
		t, err = v.PowerOff(bg)
	}
	if err != nil {
		return err
	}
	return t.Wait(bg)
}

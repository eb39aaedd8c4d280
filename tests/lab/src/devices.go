package main

// Virtual hardware as ESXi presents it: device keys, controller bus numbers,
// labels and disk backings with their delta chains.

import (
	"fmt"
	"strings"

	"github.com/vmware/govmomi/vim25/types"
)

type ctrlKind struct {
	family   string // scsi, sata, nvme, ide
	ctrlBase int32  // controller key = ctrlBase + bus
	diskBase int32  // disk key = diskBase + bus*perBus + unit
	perBus   int32
	units    int32
}

var ctrlKinds = map[string]ctrlKind{
	"pvscsi":       {"scsi", 1000, 2000, 16, 16},
	"lsilogic":     {"scsi", 1000, 2000, 16, 16},
	"lsilogic-sas": {"scsi", 1000, 2000, 16, 16},
	"buslogic":     {"scsi", 1000, 2000, 16, 16},
	"sata":         {"sata", 15000, 16000, 30, 30},
	"nvme":         {"nvme", 31000, 32000, 15, 15},
	"ide":          {"ide", 200, 3000, 2, 2},
}

func newController(kind string, bus, unit int32) types.BaseVirtualDevice {
	k := ctrlKinds[kind]
	vc := types.VirtualController{
		VirtualDevice: types.VirtualDevice{Key: k.ctrlBase + bus, ControllerKey: 100, UnitNumber: &unit},
		BusNumber:     bus,
	}
	label := func(l string) { vc.DeviceInfo = &types.Description{Label: fmt.Sprintf("%s %d", l, bus), Summary: kind} }
	scsi := func() types.VirtualSCSIController {
		label("SCSI controller")
		return types.VirtualSCSIController{VirtualController: vc, SharedBus: types.VirtualSCSISharingNoSharing, ScsiCtlrUnitNumber: 7}
	}
	switch kind {
	case "pvscsi":
		return &types.ParaVirtualSCSIController{VirtualSCSIController: scsi()}
	case "lsilogic":
		return &types.VirtualLsiLogicController{VirtualSCSIController: scsi()}
	case "lsilogic-sas":
		return &types.VirtualLsiLogicSASController{VirtualSCSIController: scsi()}
	case "buslogic":
		return &types.VirtualBusLogicController{VirtualSCSIController: scsi()}
	case "sata":
		label("SATA controller")
		return &types.VirtualAHCIController{VirtualSATAController: types.VirtualSATAController{VirtualController: vc}}
	case "nvme":
		label("NVME controller")
		return &types.VirtualNVMEController{VirtualController: vc}
	}
	return nil
}

// layout assigns controllers, bus/unit numbers and device keys to the
// spec's disks; it returns the controllers to add (IDE ones exist already).
func layout(vm *VMSpec) (ctrls []types.BaseVirtualDevice, keys []int32, ctrlKeys []int32, units []int32, err error) {
	family := map[string]string{} // "scsi0" -> controller kind
	used := map[int32]bool{}
	for i := range vm.Disks {
		d := &vm.Disks[i]
		k := ctrlKinds[d.Controller]
		var bus int32
		if d.Bus != nil {
			bus = *d.Bus
		}
		maxBus := int32(3)
		if k.family == "ide" {
			maxBus = 1
		}
		if bus < 0 || bus > maxBus {
			return nil, nil, nil, nil, fmt.Errorf("vms[%s].disks[%d].bus: %d out of range", vm.Name, i, bus)
		}
		id := fmt.Sprintf("%s%d", k.family, bus)
		if have, ok := family[id]; ok && have != d.Controller {
			return nil, nil, nil, nil, fmt.Errorf("vms[%s].disks[%d].controller: %s %d is already a %s", vm.Name, i, k.family, bus, have)
		}
		if _, ok := family[id]; !ok {
			family[id] = d.Controller
			if k.family != "ide" {
				ctrls = append(ctrls, newController(d.Controller, bus, int32(3+len(ctrls))))
			}
		}
		var unit int32
		if d.Unit != nil {
			unit = *d.Unit
		} else {
			for ; unit < k.units; unit++ {
				if !used[k.diskBase+bus*k.perBus+unit] && !(k.family == "scsi" && unit == 7) {
					break
				}
			}
		}
		key := k.diskBase + bus*k.perBus + unit
		if unit < 0 || unit >= k.units || (k.family == "scsi" && unit == 7) || used[key] {
			return nil, nil, nil, nil, fmt.Errorf("vms[%s].disks[%d].unit: %d is taken or out of range", vm.Name, i, unit)
		}
		used[key] = true
		keys = append(keys, key)
		ctrlKeys = append(ctrlKeys, k.ctrlBase+bus)
		units = append(units, unit)
	}
	return
}

// backing builds the backing of chain[idx] with its parents, as ESXi shows
// a disk with snapshots: the top file, each parent one level down.
func (l *Lab) backing(d *labDisk, idx int, changeID string) types.BaseVirtualDeviceBackingInfo {
	file := d.chain[idx]
	dsRef := l.dsRef(d.ds)
	mode := d.spec.Mode
	if d.spec.RDM != "" && !l.flatOnly {
		b := &types.VirtualDiskRawDiskMappingVer1BackingInfo{
			VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: d.dsPath(file), Datastore: &dsRef},
			LunUuid:                      "0200000000" + strings.ReplaceAll(d.fileUUID[d.chain[0]], "-", ""),
			DeviceName:                   "/vmfs/devices/disks/naa.6000c29" + strings.ReplaceAll(d.fileUUID[d.chain[0]], "-", "")[:25],
			CompatibilityMode:            map[string]string{"physical": "physicalMode", "virtual": "virtualMode"}[d.spec.RDM],
			DiskMode:                     mode,
			Uuid:                         d.fileUUID[file],
			ChangeId:                     changeID,
			Sharing:                      d.spec.Sharing,
		}
		if idx > 0 {
			b.Parent = l.backing(d, idx-1, "").(*types.VirtualDiskRawDiskMappingVer1BackingInfo)
		}
		return b
	}
	b := &types.VirtualDiskFlatVer2BackingInfo{
		VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: d.dsPath(file), Datastore: &dsRef},
		DiskMode:                     mode,
		ThinProvisioned:              types.NewBool(d.spec.Provisioning == "thin"),
		EagerlyScrub:                 types.NewBool(false),
		WriteThrough:                 types.NewBool(false),
		Split:                        types.NewBool(false),
		DigestEnabled:                types.NewBool(false),
		Uuid:                         d.fileUUID[file],
		ChangeId:                     changeID,
		Sharing:                      d.spec.Sharing,
		ContentId:                    strings.ReplaceAll(d.fileUUID[file], "-", "")[:32],
	}
	if idx > 0 {
		b.Parent = l.backing(d, idx-1, "").(*types.VirtualDiskFlatVer2BackingInfo)
	}
	return b
}

// diskUUID is the backing uuid ESXi gives a VMDK ("6000C29x-...").
func diskUUID(seed string) string {
	u := strings.ToUpper(strings.ReplaceAll(stableUUID(seed), "-", ""))
	return "6000C29" + u[7:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:32]
}

func (l *Lab) newDisk(vm *labVM, d *labDisk, idx int, ctrlKey, unit int32, changeID string) *types.VirtualDisk {
	u := unit
	return &types.VirtualDisk{
		VirtualDevice: types.VirtualDevice{
			Key:           d.key,
			ControllerKey: ctrlKey,
			UnitNumber:    &u,
			DeviceInfo: &types.Description{
				Label:   fmt.Sprintf("Hard disk %d", d.index+1),
				Summary: fmt.Sprintf("%d KB", d.spec.Size/1024),
			},
			Backing: l.backing(d, idx, changeID),
		},
		CapacityInKB:    d.spec.Size / 1024,
		CapacityInBytes: d.spec.Size,
	}
}

// withDisks returns a copy of devs where each lab disk's backing is rebuilt
// (new objects, so snapshots holding the old ones keep what they froze).
func (l *Lab) withDisks(devs []types.BaseVirtualDevice, vm *labVM, file func(d *labDisk) (int, string)) []types.BaseVirtualDevice {
	out := make([]types.BaseVirtualDevice, 0, len(devs))
	for _, dev := range devs {
		disk, ok := dev.(*types.VirtualDisk)
		if !ok {
			out = append(out, dev)
			continue
		}
		var ld *labDisk
		for _, d := range vm.disks {
			if d.key == disk.Key {
				ld = d
			}
		}
		if ld == nil {
			out = append(out, dev)
			continue
		}
		c := *disk
		idx, cid := file(ld)
		c.Backing = l.backing(ld, idx, cid)
		out = append(out, &c)
	}
	return out
}

func chainIndex(d *labDisk, file string) int {
	for i, f := range d.chain {
		if f == file {
			return i
		}
	}
	return len(d.chain) - 1
}

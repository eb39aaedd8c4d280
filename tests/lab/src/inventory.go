package main

// Building the inventory from the spec, through the simulator's own API
// (an in-process client), so every object is what the simulator would
// have made for a real client.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func (l *Lab) dsRef(name string) types.ManagedObjectReference {
	for _, e := range simulator.Map.All("Datastore") {
		if ds := e.(*simulator.Datastore); ds.Name == name {
			return ds.Self
		}
	}
	return types.ManagedObjectReference{}
}

func (l *Lab) buildInventory(ctx context.Context) error {
	model := simulator.VPX()
	model.Datacenter, model.Portgroup, model.Host, model.Cluster = 0, 0, 0, 0
	model.ClusterHost, model.Datastore, model.Machine = 0, 0, 0
	if err := model.Create(); err != nil {
		return err
	}
	l.svc = model.Service
	// Create() made a new registry (simulator.Map); hook into that one.
	simulator.Map.AddHandler(hook{l})
	c, err := vim25.NewClient(ctx, l.svc)
	if err != nil {
		return err
	}
	l.client = c
	root := object.NewRootFolder(c)
	dc, err := root.CreateDatacenter(ctx, l.spec.Datacenter)
	if err != nil {
		return err
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	task, err := folders.HostFolder.AddStandaloneHost(ctx, types.HostConnectSpec{HostName: l.spec.Host}, true, nil, nil)
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return err
	}
	host := object.NewHostSystem(c, info.Result.(types.ManagedObjectReference))
	dss, err := host.ConfigManager().DatastoreSystem(ctx)
	if err != nil {
		return err
	}
	for _, name := range l.spec.Datastores {
		dir := filepath.Join(l.state, "datastores", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if _, err := dss.CreateLocalDatastore(ctx, name, dir); err != nil {
			return err
		}
		l.dsDirs[name] = dir
	}
	ns, err := host.ConfigManager().NetworkSystem(ctx)
	if err != nil {
		return err
	}
	for _, n := range l.spec.Networks {
		if n == "VM Network" {
			continue // every host has it
		}
		if err := ns.AddPortGroup(ctx, types.HostPortGroupSpec{Name: n, VswitchName: "vSwitch0"}); err != nil {
			return fmt.Errorf("network %q: %v", n, err)
		}
	}
	l.fixHost(host.Reference())
	pool, err := host.ResourcePool(ctx)
	if err != nil {
		return err
	}
	vmFolders := map[string]*object.Folder{"": folders.VmFolder}
	for i := range l.spec.VMs {
		vs := &l.spec.VMs[i]
		folder, err := l.vmFolder(ctx, vmFolders, vs.Folder)
		if err != nil {
			return fmt.Errorf("VM %s: folder %q: %v", vs.path(), vs.Folder, err)
		}
		if err := l.createVM(ctx, vs, folder, pool, host); err != nil {
			return fmt.Errorf("VM %s: %v", vs.path(), err)
		}
	}
	return nil
}

// vmFolder returns the folder at path below the datacenter's vm folder,
// creating it and its parents (Folder.CreateFolder) the first time.
func (l *Lab) vmFolder(ctx context.Context, made map[string]*object.Folder, path string) (*object.Folder, error) {
	if f := made[path]; f != nil {
		return f, nil
	}
	parent, name := "", path
	if i := strings.LastIndex(path, "/"); i >= 0 {
		parent, name = path[:i], path[i+1:]
	}
	pf, err := l.vmFolder(ctx, made, parent)
	if err != nil {
		return nil, err
	}
	f, err := pf.CreateFolder(ctx, name)
	if err != nil {
		return nil, err
	}
	made[path] = f
	return f, nil
}

// vmDirFor picks the VM's directory on its datastores as vCenter does: the
// VM's name, or name_1, name_2, ... when a VM of the same name in another
// folder already has that directory.
func (l *Lab) vmDirFor(vs *VMSpec) string {
	for n := 0; ; n++ {
		dir := vs.Name
		if n > 0 {
			dir = fmt.Sprintf("%s_%d", vs.Name, n)
		}
		taken := false
		for _, ds := range vs.Disks {
			taken = taken || fileExists(filepath.Join(l.dsDirs[ds.Datastore], dir))
		}
		if !taken {
			return dir
		}
	}
}

// fixHost gives the host what ESXi reports and the simulator lacks: a
// product version and the lab's certificate and thumbprint, so a client can
// learn from vCenter alone the thumbprint nbdkit's vddk plugin needs.
func (l *Lab) fixHost(ref types.ManagedObjectReference) {
	h := simulator.Map.Get(ref).(*simulator.HostSystem)
	product := h.Config.Product
	product.Version = l.spec.HostVersion
	product.FullName = fmt.Sprintf("VMware ESXi %s build-21686933", l.spec.HostVersion)
	product.Build = "21686933"
	product.ApiVersion = "7.0.3.0"
	cfg := *h.Config
	cfg.Product = product
	cfg.Certificate = certPEM(l.state)
	h.Config = &cfg
	sum := h.Summary.Config
	sum.Product = &product
	sum.SslThumbprint = l.thumb
	h.Summary.Config = sum
	h.Summary.Config.Name = l.spec.Host
}

func (l *Lab) createVM(ctx context.Context, vs *VMSpec, folder *object.Folder, pool *object.ResourcePool, host *object.HostSystem) error {
	vm := &labVM{spec: vs}
	ctrls, keys, ctrlKeys, units, err := layout(vs)
	if err != nil {
		return err
	}
	devices := append([]types.BaseVirtualDevice{}, ctrls...)
	vmDir := l.vmDirFor(vs)
	l.flatOnly = true
	defer func() { l.flatOnly = false }()
	counts := map[string]int{}
	for i, ds := range vs.Disks {
		base := vs.Name
		if n := counts[ds.Datastore]; n > 0 {
			base = fmt.Sprintf("%s_%d", vs.Name, n)
		}
		counts[ds.Datastore]++
		d := &labDisk{index: i, key: keys[i], spec: ds, ds: ds.Datastore, dsDir: l.dsDirs[ds.Datastore],
			vmDir: vmDir, base: base, chain: []string{base + ".vmdk"}, fileUUID: map[string]string{}, nextSeq: 1}
		d.fileUUID[d.chain[0]] = diskUUID(vs.path() + "/" + d.chain[0])
		if err := os.MkdirAll(filepath.Join(d.dsDir, d.vmDir), 0o755); err != nil {
			return err
		}
		if d.alloc, err = createBaseDisk(filepath.Join(d.dsDir, d.vmDir), base, ds); err != nil {
			return err
		}
		vm.disks = append(vm.disks, d)
		devices = append(devices, l.newDisk(vm, d, 0, ctrlKeys[i], units[i], ""))
	}
	for i, n := range vs.NICs {
		devices = append(devices, newNIC(i, n))
	}
	if vs.CDROM != nil {
		devices = append(devices, l.newCDROM(vs, keys))
	}
	var changes []types.BaseVirtualDeviceConfigSpec
	for _, d := range devices {
		changes = append(changes, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: d})
	}
	boot := &types.VirtualMachineBootOptions{EfiSecureBootEnabled: types.NewBool(vs.SecureBoot)}
	for _, b := range vs.BootOrder {
		boot.BootOrder = append(boot.BootOrder, &types.VirtualMachineBootOptionsBootableDiskDevice{DeviceKey: keys[b]})
	}
	spec := types.VirtualMachineConfigSpec{
		Name:                  vs.Name,
		GuestId:               vs.GuestID,
		Uuid:                  stableUUID("bios/" + vs.path()),
		InstanceUuid:          stableUUID("instance/" + vs.path()),
		Version:               fmt.Sprintf("vmx-%02d", vs.HWVersion),
		Firmware:              vs.Firmware,
		NumCPUs:               vs.CPUs,
		NumCoresPerSocket:     vs.CoresPerSocket,
		MemoryMB:              vs.MemoryMB,
		BootOptions:           boot,
		ChangeTrackingEnabled: types.NewBool(vs.CBT),
		Files:                 &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s] %s/%s.vmx", vs.Disks[0].Datastore, vmDir, vs.Name)},
		DeviceChange:          changes,
	}
	task, err := folder.CreateVM(ctx, spec, pool, host)
	l.flatOnly = false
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return err
	}
	vm.ref = info.Result.(types.ManagedObjectReference)
	l.vms[vs.path()] = vm
	l.byRef[vm.ref] = vm
	l.refreshVM(vm) // now with RDM backings where the spec asks for them
	if vs.CBT {
		l.setCBT(vm, true, false) // still powered off: tracking starts now
		l.refreshVM(vm)
	}
	if vs.Power == "poweredOn" {
		t, err := object.NewVirtualMachine(l.client, vm.ref).PowerOn(ctx)
		if err != nil {
			return err
		}
		if err := t.Wait(ctx); err != nil {
			return err
		}
	}
	l.updateGuest(vm)
	return nil
}

func newNIC(i int, n NICSpec) types.BaseVirtualDevice {
	unit := int32(7 + i)
	card := types.VirtualEthernetCard{
		VirtualDevice: types.VirtualDevice{
			Key: int32(4000 + i), ControllerKey: 100, UnitNumber: &unit,
			DeviceInfo:  &types.Description{Label: fmt.Sprintf("Network adapter %d", i+1), Summary: n.Network},
			Backing:     &types.VirtualEthernetCardNetworkBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: n.Network}},
			Connectable: &types.VirtualDeviceConnectInfo{StartConnected: true, Connected: true, AllowGuestControl: true},
		},
		AddressType: string(types.VirtualEthernetCardMacTypeManual),
		MacAddress:  n.MAC,
	}
	if n.MAC == "" {
		card.AddressType = string(types.VirtualEthernetCardMacTypeAssigned)
	}
	switch n.Type {
	case "e1000":
		return &types.VirtualE1000{VirtualEthernetCard: card}
	case "e1000e":
		return &types.VirtualE1000e{VirtualEthernetCard: card}
	}
	return &types.VirtualVmxnet3{VirtualVmxnet: types.VirtualVmxnet{VirtualEthernetCard: card}}
}

// newCDROM puts the CD-ROM on the first free IDE slot from ide1:0 on.
func (l *Lab) newCDROM(vs *VMSpec, diskKeys []int32) types.BaseVirtualDevice {
	key, ctrl, unit := int32(3002), int32(201), int32(0)
	for _, k := range []int32{3002, 3003, 3000, 3001} {
		free := true
		for _, dk := range diskKeys {
			free = free && dk != k
		}
		if free {
			key, ctrl, unit = k, 200+(k-3000)/2, (k-3000)%2
			break
		}
	}
	var b types.BaseVirtualDeviceBackingInfo = &types.VirtualCdromRemotePassthroughBackingInfo{
		VirtualDeviceRemoteDeviceBackingInfo: types.VirtualDeviceRemoteDeviceBackingInfo{DeviceName: "", UseAutoDetect: types.NewBool(false)},
	}
	if vs.CDROM.ISO != "" {
		b = &types.VirtualCdromIsoBackingInfo{VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: vs.CDROM.ISO}}
	}
	return &types.VirtualCdrom{VirtualDevice: types.VirtualDevice{
		Key: key, ControllerKey: ctrl, UnitNumber: &unit, Backing: b,
		DeviceInfo:  &types.Description{Label: "CD/DVD drive 1", Summary: "Remote device"},
		Connectable: &types.VirtualDeviceConnectInfo{StartConnected: vs.CDROM.Connected, Connected: vs.CDROM.Connected, AllowGuestControl: true},
	}}
}

// updateGuest sets the tools and guest state that follow power state and
// the spec's "tools" (the simulator never sets them).
func (l *Lab) updateGuest(vm *labVM) {
	obj := simulator.Map.Get(vm.ref).(*simulator.VirtualMachine)
	on := obj.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
	status, running, state := vm.spec.Tools, "guestToolsNotRunning", "notRunning"
	if on && (status == "toolsOk" || status == "toolsOld") {
		running, state = "guestToolsRunning", "running"
	} else if status != "toolsNotInstalled" {
		status = "toolsNotRunning"
	}
	ver := "current"
	if vm.spec.Tools == "toolsOld" {
		ver = "supportedOld"
	} else if vm.spec.Tools == "toolsNotInstalled" {
		ver = "notInstalled"
	}
	simulator.Map.Update(obj, []types.PropertyChange{
		{Name: "guest.toolsStatus", Val: types.VirtualMachineToolsStatus(status)},
		{Name: "guest.toolsRunningStatus", Val: running},
		{Name: "guest.toolsVersionStatus2", Val: "guestTools" + string(ver[0]-32) + ver[1:]},
		{Name: "guest.guestState", Val: state},
		{Name: "guest.guestId", Val: vm.spec.GuestID},
		{Name: "summary.guest.toolsStatus", Val: types.VirtualMachineToolsStatus(status)},
		{Name: "summary.guest.toolsRunningStatus", Val: running},
	})
}

var _ = mo.VirtualMachine{}

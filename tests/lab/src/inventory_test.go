package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func TestInventory(t *testing.T) {
	l := startLab(t, "")
	m := view.NewManager(l.c.Client)
	v, err := m.CreateContainerView(ctx, l.c.ServiceContent.RootFolder, []string{"HostSystem"}, true)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []mo.HostSystem
	if err := v.Retrieve(ctx, []string{"HostSystem"}, []string{"name", "summary", "config.product", "config.certificate"}, &hosts); err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 1 || hosts[0].Name != "esxi01.lab.local" {
		t.Fatalf("hosts: %+v", hosts)
	}
	h := hosts[0]
	if h.Summary.Config.SslThumbprint != l.info.Thumbprint || len(l.info.Thumbprint) != 59 {
		t.Errorf("thumbprint %q, lab.json %q", h.Summary.Config.SslThumbprint, l.info.Thumbprint)
	}
	if h.Config.Product.Version != "7.0.3" {
		t.Errorf("product %+v", h.Config.Product)
	}

	vm := l.vm("web01")
	var o mo.VirtualMachine
	l.props(vm.Reference(), &o, "config", "runtime", "guest")
	if o.Config.Uuid != stableUUID("bios/web01") || o.Config.InstanceUuid != stableUUID("instance/web01") {
		t.Errorf("uuids %s %s", o.Config.Uuid, o.Config.InstanceUuid)
	}
	if o.Config.Version != "vmx-19" || o.Config.Firmware != "efi" || !*o.Config.BootOptions.EfiSecureBootEnabled {
		t.Errorf("version %s firmware %s boot %+v", o.Config.Version, o.Config.Firmware, o.Config.BootOptions)
	}
	if o.Guest.ToolsRunningStatus != "guestToolsRunning" || o.Guest.ToolsStatus != "toolsOk" {
		t.Errorf("tools %s %s", o.Guest.ToolsRunningStatus, o.Guest.ToolsStatus)
	}
	if o.Runtime.PowerState != "poweredOn" {
		t.Errorf("power %s", o.Runtime.PowerState)
	}
	var host mo.HostSystem
	l.props(*o.Runtime.Host, &host, "name")
	if host.Name != "esxi01.lab.local" {
		t.Errorf("runtime.host %s", host.Name)
	}
	devs := object.VirtualDeviceList(o.Config.Hardware.Device)
	disks := devs.SelectByType((*types.VirtualDisk)(nil))
	want := []struct {
		key   int32
		label string
		file  string
		mode  string
		thin  bool
	}{
		{2000, "Hard disk 1", "[datastore1] web01/web01.vmdk", "persistent", true},
		{2001, "Hard disk 2", "[datastore1] web01/web01_1.vmdk", "persistent", false},
		{16000, "Hard disk 3", "[datastore1] web01/web01_2.vmdk", "independent_persistent", true},
	}
	if len(disks) != len(want) {
		t.Fatalf("%d disks", len(disks))
	}
	for i, w := range want {
		d := disks[i].(*types.VirtualDisk)
		b := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if d.Key != w.key || d.DeviceInfo.GetDescription().Label != w.label || b.FileName != w.file ||
			b.DiskMode != w.mode || *b.ThinProvisioned != w.thin || !strings.HasPrefix(b.Uuid, "6000C29") {
			t.Errorf("disk %d: key %d label %q file %q mode %s thin %v uuid %s", i, d.Key,
				d.DeviceInfo.GetDescription().Label, b.FileName, b.DiskMode, *b.ThinProvisioned, b.Uuid)
		}
	}
	scsi := devs.FindByKey(1000).(*types.ParaVirtualSCSIController)
	sata := devs.FindByKey(15000).(*types.VirtualAHCIController)
	if scsi.BusNumber != 0 || sata.BusNumber != 0 || disks[0].GetVirtualDevice().ControllerKey != 1000 {
		t.Errorf("controllers: scsi %+v sata %+v", scsi.BusNumber, sata.BusNumber)
	}
	order := o.Config.BootOptions.BootOrder
	if len(order) != 2 || order[0].(*types.VirtualMachineBootOptionsBootableDiskDevice).DeviceKey != 2001 {
		t.Errorf("boot order %+v", order)
	}
	cd := devs.SelectByType((*types.VirtualCdrom)(nil))
	if len(cd) != 1 || !cd[0].GetVirtualDevice().Connectable.Connected {
		t.Errorf("cdrom %+v", cd)
	}
	nics := devs.SelectByType((*types.VirtualEthernetCard)(nil))
	if len(nics) != 2 || nics[0].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().MacAddress != "00:50:56:aa:bb:01" {
		t.Errorf("nics %+v", nics)
	}
	if _, ok := nics[1].(*types.VirtualE1000e); !ok {
		t.Errorf("second NIC is %T", nics[1])
	}
	// The files exist and qemu-img reads them.
	for _, d := range l.infoOf("web01").Disks {
		mustRun(t, "qemu-img", "info", "-U", d.File)
	}

	// db01: powered off, no CD-ROM, shared disk and a physical RDM.
	db := l.vm("db01")
	var dbo mo.VirtualMachine
	l.props(db.Reference(), &dbo, "config", "runtime", "guest")
	ddevs := object.VirtualDeviceList(dbo.Config.Hardware.Device)
	if len(ddevs.SelectByType((*types.VirtualCdrom)(nil))) != 0 || dbo.Runtime.PowerState != "poweredOff" {
		t.Errorf("db01 cdrom or power wrong")
	}
	if dbo.Guest.ToolsRunningStatus != "guestToolsNotRunning" {
		t.Errorf("db01 tools %s", dbo.Guest.ToolsRunningStatus)
	}
	dd := ddevs.SelectByType((*types.VirtualDisk)(nil))
	if b := dd[0].(*types.VirtualDisk).Backing.(*types.VirtualDiskFlatVer2BackingInfo); b.Sharing != "sharingMultiWriter" {
		t.Errorf("sharing %q", b.Sharing)
	}
	if b, ok := dd[1].(*types.VirtualDisk).Backing.(*types.VirtualDiskRawDiskMappingVer1BackingInfo); !ok || b.CompatibilityMode != "physicalMode" {
		t.Errorf("rdm backing %T", dd[1].(*types.VirtualDisk).Backing)
	}
	// ESXi refuses to snapshot a VM with a physical RDM.
	task, err := db.CreateSnapshot(ctx, "x", "", false, false)
	if err == nil {
		_, err = task.WaitForResult(ctx, nil)
	}
	if _, ok := faultOf(err).(*types.SnapshotIncompatibleDeviceInVm); !ok {
		t.Errorf("snapshot of physical RDM: %v", err)
	}
}

func TestSpecErrors(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{`{"datacenter":"DC0","host":"h","datastores":["ds"],"vms":[{"name":"a","disks":[{"size":512,"colour":"red"}]}]}`, `"colour"`},
		{`{"host":"h","datastores":["ds"],"vms":[]}`, `"datacenter"`},
		{`{"datacenter":"DC0","host":"h","datastores":["ds"],"vms":[{"name":"a","disks":[{"size":1000}]}]}`, "vms[0].disks[0].size"},
		{`{"datacenter":"DC0","host":"h","datastores":["ds"],"vms":[{"name":"a","disks":[{"size":512,"controller":"floppy"}]}]}`, "vms[0].disks[0].controller"},
		{`{"datacenter":"DC0","host":"h","datastores":["ds"],"vms":[{"name":"a","disks":[{"size":512}],"nics":[{"network":"nope"}]}]}`, "vms[0].nics[0].network"},
	} {
		dir := t.TempDir()
		p := filepath.Join(dir, "spec.json")
		os.WriteFile(p, []byte(c.spec), 0o644)
		out, err := selfCmd("serve", "--state", filepath.Join(dir, "st"), "--spec", p).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("spec %s: err %v, output %s (want %s)", c.spec, err, out, c.want)
		}
	}
}

func TestStartupTime(t *testing.T) {
	start := time.Now()
	l := startLab(t, "")
	vm := l.vm("web01") // login was the first request, this the first real one
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("lab took %v to answer its first request", d)
	} else {
		t.Logf("lab answered in %v (%s)", d, vm.Reference().Value)
	}
}

func TestWriteRules(t *testing.T) {
	l := startLab(t, "")
	if out, err := l.lab("write", "--vm", "db01", "--disk", "0", "--offset", "0", "--length", "512", "--seed", "1"); err == nil ||
		!strings.Contains(out, "poweredOff") {
		t.Errorf("write to a powered-off VM: %v %s", err, out)
	}
	if out, err := l.lab("write", "--vm", "web01", "--disk", "0", "--offset", fmt.Sprint(64<<20-512), "--length", "1024", "--seed", "1"); err == nil ||
		!strings.Contains(out, "past the end") {
		t.Errorf("write past the end: %v %s", err, out)
	}
	start := time.Now()
	l.mustLab("write", "--vm", "web01", "--disk", "0", "--offset", "0", "--length", "4096", "--count", "6000", "--stride", "8192", "--seed", "7")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("6000 writes took %v", d)
	}
	// One write longer than an NBD request may be (qemu-nbd: 32 MiB).
	l.mustLab("write", "--vm", "web01", "--disk", "0", "--offset", "0", "--length", fmt.Sprint(40<<20), "--seed", "8")
	// --from and --zero land where they should.
	src := filepath.Join(t.TempDir(), "src")
	os.WriteFile(src, []byte(strings.Repeat("v2k!", 256)), 0o644)
	l.mustLab("write", "--vm", "web01", "--disk", "1", "--offset", "1048576", "--from", src)
	l.mustLab("write", "--vm", "web01", "--disk", "0", "--offset", "0", "--length", "4096", "--zero")
	d := l.infoOf("web01").Disks
	raw := filepath.Join(t.TempDir(), "d1.raw")
	mustRun(t, "qemu-img", "convert", "-U", "-f", "vmdk", "-O", "raw", d[1].File, raw)
	b, _ := os.ReadFile(raw)
	if string(b[1048576:1048576+1024]) != strings.Repeat("v2k!", 256) {
		t.Errorf("--from bytes not on disk 1")
	}
	mustRun(t, "qemu-img", "convert", "-U", "-f", "vmdk", "-O", "raw", d[0].File, raw)
	b, _ = os.ReadFile(raw)
	if strings.Trim(string(b[:4096]), "\x00") != "" || strings.Trim(string(b[8192:8192+4096]), "\x00") == "" {
		t.Errorf("--zero or --seed bytes wrong")
	}
}

func TestPowerAndShutdown(t *testing.T) {
	l := startLab(t, `"shutdown_delay_ms": 300`)
	vm := l.vm("web01")
	if err := vm.ShutdownGuest(ctx); err != nil {
		t.Fatal(err)
	}
	if s, _ := vm.PowerState(ctx); s != types.VirtualMachinePowerStatePoweredOn {
		t.Errorf("ShutdownGuest powered off at once")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, _ := vm.PowerState(ctx)
		if s == types.VirtualMachinePowerStatePoweredOff {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("guest never shut down")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, ok := faultOf(vm.ShutdownGuest(ctx)).(*types.InvalidPowerState); !ok {
		t.Errorf("ShutdownGuest of a powered-off VM did not fail with InvalidPowerState: %v %T", vm.ShutdownGuest(ctx), faultOf(vm.ShutdownGuest(ctx)))
	}
	l.mustLab("power", "--vm", "web01", "on")
	if info := l.infoOf("web01"); info.Power != "poweredOn" {
		t.Errorf("power on: %s", info.Power)
	}
	var o mo.VirtualMachine
	l.props(vm.Reference(), &o, "guest")
	if o.Guest.ToolsRunningStatus != "guestToolsRunning" {
		t.Errorf("tools after power on: %s", o.Guest.ToolsRunningStatus)
	}
	// db01's tools are not running: ShutdownGuest needs them.
	l.mustLab("power", "--vm", "db01", "on")
	if _, ok := faultOf(l.vm("db01").ShutdownGuest(ctx)).(*types.ToolsUnavailable); !ok {
		t.Errorf("ShutdownGuest without tools did not fail with ToolsUnavailable")
	}
	l.mustLab("power", "--vm", "web01", "off")
	if info := l.infoOf("web01"); info.Power != "poweredOff" {
		t.Errorf("power off: %s", info.Power)
	}
}

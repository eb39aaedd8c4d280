package main

// VM folders: the spec's "folder", the same VM name in two folders (as
// vSphere allows), and how the lab CLI addresses such VMs.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

const folderSpec = `{"datacenter": "DC0", "host": "esxi01.lab.local", "datastores": ["datastore1"],
 "vms": [{"name": "web01", "folder": "prod", "disks": [{"size": 4194304}]},
         {"name": "web01", "folder": "test", "disks": [{"size": 4194304}, {"size": 1048576}]},
         {"name": "db01", "folder": "team/a", "power": "poweredOff", "disks": [{"size": 1048576}]},
         {"name": "app01", "disks": [{"size": 1048576}]}]}`

func startFolderLab(t *testing.T) *testLab {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(p, []byte(folderSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	return startLabSpec(t, dir, p)
}

// inventoryPath walks parent links up to the root folder, as a client does.
func (l *testLab) inventoryPath(ref types.ManagedObjectReference) string {
	l.t.Helper()
	var parts []string
	for {
		var e mo.ManagedEntity
		l.props(ref, &e, "name", "parent")
		if e.Parent == nil {
			break
		}
		parts = append([]string{e.Name}, parts...)
		ref = *e.Parent
	}
	return "/" + strings.Join(parts, "/")
}

func TestFoldersInventory(t *testing.T) {
	l := startFolderLab(t)
	m := view.NewManager(l.c.Client)
	v, err := m.CreateContainerView(ctx, l.c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Destroy(ctx)
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "parent", "config"}, &vms); err != nil {
		t.Fatal(err)
	}
	byPath := map[string]mo.VirtualMachine{}
	var paths []string
	for _, vm := range vms {
		p := l.inventoryPath(vm.Self)
		byPath[p] = vm
		paths = append(paths, p)
	}
	sort.Strings(paths)
	want := []string{"/DC0/vm/app01", "/DC0/vm/prod/web01", "/DC0/vm/team/a/db01", "/DC0/vm/test/web01"}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("inventory paths %q, want %q", paths, want)
	}
	prod, test := byPath["/DC0/vm/prod/web01"], byPath["/DC0/vm/test/web01"]
	if prod.Name != "web01" || test.Name != "web01" || prod.Self == test.Self {
		t.Errorf("two web01: %s %s, %s %s", prod.Name, prod.Self, test.Name, test.Self)
	}
	var parent mo.Folder
	l.props(*prod.Parent, &parent, "name", "childType")
	if parent.Name != "prod" || parent.Self.Type != "Folder" {
		t.Errorf("prod/web01's parent: %s %s", parent.Self, parent.Name)
	}
	// Distinct identities and files, as vCenter gives them: the second
	// web01 lives in web01_1/ on the datastore.
	if prod.Config.Uuid == test.Config.Uuid || prod.Config.InstanceUuid == test.Config.InstanceUuid {
		t.Errorf("uuids repeat: %s %s", prod.Config.Uuid, prod.Config.InstanceUuid)
	}
	if prod.Config.Files.VmPathName != "[datastore1] web01/web01.vmx" || test.Config.Files.VmPathName != "[datastore1] web01_1/web01.vmx" {
		t.Errorf("vmx paths %s, %s", prod.Config.Files.VmPathName, test.Config.Files.VmPathName)
	}
	files := func(vm mo.VirtualMachine) (out []string) {
		for _, d := range object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
			out = append(out, d.(*types.VirtualDisk).Backing.(*types.VirtualDiskFlatVer2BackingInfo).FileName)
		}
		return out
	}
	if f := files(prod); len(f) != 1 || f[0] != "[datastore1] web01/web01.vmdk" {
		t.Errorf("prod/web01 disks %q", f)
	}
	if f := files(test); len(f) != 2 || f[0] != "[datastore1] web01_1/web01.vmdk" || f[1] != "[datastore1] web01_1/web01_1.vmdk" {
		t.Errorf("test/web01 disks %q", f)
	}

	// SearchIndex.FindByInventoryPath finds each of them; a name alone is
	// not a path.
	si := object.NewSearchIndex(l.c.Client)
	for _, p := range want {
		ref, err := si.FindByInventoryPath(ctx, strings.TrimPrefix(p, "/"))
		if err != nil || ref == nil || ref.Reference() != byPath[p].Self {
			t.Errorf("FindByInventoryPath(%s): %v %v, want %s", p, ref, err, byPath[p].Self)
		}
	}
	for _, p := range []string{"DC0/vm/web01", "DC0/vm/team/db01"} {
		if ref, err := si.FindByInventoryPath(ctx, p); err != nil || ref != nil {
			t.Errorf("FindByInventoryPath(%s): %v %v, want nothing", p, ref, err)
		}
	}

	// The lab's info agrees with the inventory.
	for _, c := range []struct{ arg, path string }{
		{"prod/web01", "/DC0/vm/prod/web01"},
		{"/DC0/vm/test/web01", "/DC0/vm/test/web01"},
		{"team/a/db01", "/DC0/vm/team/a/db01"},
		{"db01", "/DC0/vm/team/a/db01"},
		{"app01", "/DC0/vm/app01"},
		{"/DC0/vm/app01", "/DC0/vm/app01"},
	} {
		info := l.infoOf(c.arg)
		if info.Moref != byPath[c.path].Self.Value || info.Path != c.path {
			t.Errorf("info --vm %s: %s %s, want %s %s", c.arg, info.Moref, info.Path, byPath[c.path].Self.Value, c.path)
		}
	}
}

func TestFoldersLabAddressing(t *testing.T) {
	l := startFolderLab(t)
	prod, test := l.infoOf("prod/web01"), l.infoOf("test/web01")
	// A bare name two VMs share: refused by every command, candidates listed.
	for _, args := range [][]string{
		{"info", "--vm", "web01"},
		{"power", "--vm", "web01", "off"},
		{"write", "--vm", "web01", "--disk", "0", "--offset", "0", "--length", "512", "--seed", "1"},
	} {
		out, err := l.lab(args...)
		if err == nil {
			t.Errorf("%v: no error", args)
			continue
		}
		for _, w := range []string{"ambiguous", "prod/web01", "test/web01", prod.Moref, test.Moref,
			"/DC0/vm/prod/web01", "/DC0/vm/test/web01", "FOLDER/NAME"} {
			if !strings.Contains(out, w) {
				t.Errorf("%v: %q not in %s", args, w, out)
			}
		}
	}
	for _, vm := range []string{"nope", "prod/db01", "web01/", "/DC0/vm/web01", "DC0/vm/prod/web01", "/prod/web01", "team/db01"} {
		if out, err := l.lab("info", "--vm", vm); err == nil || !strings.Contains(out, "no VM") {
			t.Errorf("info --vm %s: %v %s", vm, err, out)
		}
	}
	// write and power reach the one VM addressed, and only it.
	l.mustLab("write", "--vm", "test/web01", "--disk", "1", "--offset", "0", "--length", "4096", "--seed", "3")
	l.mustLab("write", "--vm", "/DC0/vm/prod/web01", "--disk", "0", "--offset", "8192", "--length", "4096", "--seed", "4")
	raw := func(file string) []byte {
		p := filepath.Join(t.TempDir(), "raw")
		mustRun(t, "qemu-img", "convert", "-U", "-f", "vmdk", "-O", "raw", file, p)
		b, _ := os.ReadFile(p)
		return b
	}
	if b := raw(test.Disks[1].File); bytes.Count(b[:4096], []byte{0}) == 4096 {
		t.Errorf("test/web01 disk 1 not written")
	}
	if b := raw(test.Disks[0].File); bytes.Count(b, []byte{0}) != len(b) {
		t.Errorf("test/web01 disk 0 written to")
	}
	if b := raw(prod.Disks[0].File); bytes.Count(b[8192:12288], []byte{0}) == 4096 || bytes.Count(b[:8192], []byte{0}) != 8192 {
		t.Errorf("prod/web01 disk 0 not written where asked")
	}
	if prod.Disks[0].File == test.Disks[0].File {
		t.Errorf("both web01 on %s", prod.Disks[0].File)
	}
	l.mustLab("power", "--vm", "test/web01", "off")
	if p, q := l.infoOf("test/web01").Power, l.infoOf("prod/web01").Power; p != "poweredOff" || q != "poweredOn" {
		t.Errorf("after power --vm test/web01 off: test %s, prod %s", p, q)
	}
	if out, err := l.lab("write", "--vm", "test/web01", "--disk", "0", "--offset", "0", "--length", "512", "--seed", "1"); err == nil ||
		!strings.Contains(out, "poweredOff") {
		t.Errorf("write to powered-off test/web01: %v %s", err, out)
	}
}

// The nbdkit stand-in names VMs by moref: each web01 serves its own disk,
// and one web01's file is not the other's.
func TestFoldersNbdkitByMoref(t *testing.T) {
	needTools(t, "nbdcopy")
	l := startFolderLab(t)
	l.mustLab("write", "--vm", "test/web01", "--disk", "0", "--offset", "0", "--length", "65536", "--seed", "9")
	prod, test := l.infoOf("prod/web01"), l.infoOf("test/web01")
	for _, c := range []struct {
		info  infoOut
		other infoOut
	}{{prod, test}, {test, prod}} {
		s := l.startStandIn(t, l.vddkArgs(t, c.info.Moref, "", c.info.Disks[0].DatastorePath))
		out := filepath.Join(t.TempDir(), "out.raw")
		mustRun(t, "nbdcopy", s.uri(), out)
		got, _ := os.ReadFile(out)
		want := filepath.Join(t.TempDir(), "want.raw")
		mustRun(t, "qemu-img", "convert", "-U", "-f", "vmdk", "-O", "raw", c.info.Disks[0].File, want)
		w, _ := os.ReadFile(want)
		if !bytes.Equal(got, w) {
			t.Errorf("%s: served bytes differ from %s", c.info.Moref, c.info.Disks[0].File)
		}
		if c.other.Disks[0].DatastorePath == c.info.Disks[0].DatastorePath {
			t.Fatalf("both web01 have %s", c.info.Disks[0].DatastorePath)
		}
		cmd := selfCmd(append([]string{"nbdkit", "-r", "-f", "-U", filepath.Join(t.TempDir(), "s")},
			l.vddkArgs(t, c.info.Moref, "", c.other.Disks[0].DatastorePath)...)...)
		cmd.Env = append(cmd.Env, "V2K_LAB_STATE="+l.dir)
		o, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(o), "not a virtual disk") {
			t.Errorf("%s with the other web01's file: %v %s", c.info.Moref, err, o)
		}
	}
}

func TestFoldersSpecErrors(t *testing.T) {
	vm := func(name, folder string) string {
		return `{"name":"` + name + `","folder":"` + folder + `","disks":[{"size":512}]}`
	}
	for _, c := range []struct{ vms, want string }{
		{vm("a", "prod") + "," + vm("a", "prod"), `vms[1].name: duplicate VM name "a" in folder "prod"`},
		{vm("a", "") + "," + vm("a", ""), `vms[1].name: duplicate VM name "a"`},
		{vm("a", "prod//x"), `vms[0].folder: bad folder path "prod//x"`},
		{vm("a", "/prod"), `vms[0].folder`},
		{vm("a", "prod/.."), `vms[0].folder`},
		{vm("a/b", ""), `vms[0].name`},
		{vm("prod", "") + "," + vm("a", "prod"), `"prod" is also a folder`},
		{vm("b", "x") + "," + vm("a", "x/b"), `"x/b" is also a folder`},
	} {
		dir := t.TempDir()
		p := filepath.Join(dir, "spec.json")
		spec := `{"datacenter":"DC0","host":"h","datastores":["ds"],"vms":[` + c.vms + `]}`
		os.WriteFile(p, []byte(spec), 0o644)
		out, err := selfCmd("serve", "--state", filepath.Join(dir, "st"), "--spec", p).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("spec %s: err %v, output %s (want %s)", spec, err, out, c.want)
		}
	}
}

package main

// The lab's own tests. The test binary doubles as v2k-lab (TestMain runs
// main() when V2K_LAB_SELF is set), so every test starts real lab processes
// and drives them over HTTPS as v2k would.

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func TestMain(m *testing.M) {
	if os.Getenv("V2K_LAB_SELF") != "" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var ctx = context.Background()

type testLab struct {
	t    *testing.T
	dir  string
	cmd  *exec.Cmd
	info labInfo
	c    *govmomi.Client
}

const baseSpec = `{"datacenter": "DC0", "host": "esxi01.lab.local", "datastores": ["datastore1"],
 "networks": ["VM Network", "Prod-VLAN10"], %s
 "vms": [{"name": "web01", "guest_id": "rhel9_64Guest", "firmware": "efi", "secure_boot": true,
   "cpus": 2, "cores_per_socket": 1, "memory_mb": 2048, "hw_version": 19, "power": "poweredOn", "tools": "toolsOk",
   "boot_order": [1, 0], "cdrom": {"connected": true},
   "disks": [{"size": 67108864, "controller": "pvscsi"},
             {"size": 33554432, "controller": "pvscsi", "unit": 1, "provisioning": "thick"},
             {"size": 16777216, "controller": "sata", "mode": "independent_persistent"}],
   "nics": [{"type": "vmxnet3", "mac": "00:50:56:aa:bb:01", "network": "VM Network"},
            {"type": "e1000e", "network": "Prod-VLAN10"}]},
  {"name": "db01", "power": "poweredOff", "tools": "toolsNotRunning",
   "disks": [{"size": 8388608, "controller": "lsilogic", "sharing": "sharingMultiWriter"},
             {"size": 8388608, "controller": "lsilogic", "rdm": "physical"}]}]}`

func specFile(t *testing.T, dir, extra string) string {
	p := filepath.Join(dir, "spec.json")
	if extra != "" {
		extra += ","
	}
	if err := os.WriteFile(p, []byte(strings.Replace(baseSpec, "%s", extra, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func selfCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "V2K_LAB_SELF=1")
	return cmd
}

// startLab runs `v2k-lab serve` and logs in with govmomi.
func startLab(t *testing.T, extra string) *testLab {
	t.Helper()
	dir := t.TempDir()
	return startLabSpec(t, dir, specFile(t, dir, extra))
}

func startLabSpec(t *testing.T, dir, spec string) *testLab {
	t.Helper()
	l := &testLab{t: t, dir: filepath.Join(dir, "state")}
	l.cmd = selfCmd("serve", "--state", l.dir, "--spec", spec)
	logf, _ := os.Create(filepath.Join(dir, "lab.log"))
	l.cmd.Stderr = logf
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = l.cmd.Process.Signal(syscall.SIGTERM)
		_ = l.cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "lab.log"))
			t.Logf("lab log:\n%s", b)
		}
	})
	for i := 0; ; i++ {
		data, err := os.ReadFile(filepath.Join(l.dir, "lab.json"))
		if err == nil && json.Unmarshal(data, &l.info) == nil {
			break
		}
		if i > 200 {
			t.Fatal("lab did not start")
		}
		time.Sleep(25 * time.Millisecond)
	}
	l.c = l.login()
	return l
}

func (l *testLab) login() *govmomi.Client {
	u, _ := url.Parse(l.info.URL)
	u.User = url.UserPassword(l.info.Username, l.info.Password)
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		l.t.Fatal(err)
	}
	return c
}

// lab runs a v2k-lab subcommand against this lab.
func (l *testLab) lab(args ...string) (string, error) {
	cmd := selfCmd(append([]string{args[0], "--state", l.dir}, args[1:]...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (l *testLab) mustLab(args ...string) string {
	l.t.Helper()
	out, err := l.lab(args...)
	if err != nil {
		l.t.Fatalf("v2k-lab %v: %v: %s", args, err, out)
	}
	return out
}

type infoOut struct {
	Moref     string     `json:"moref"`
	Name      string     `json:"name"`
	Path      string     `json:"inventory_path"`
	Power     string     `json:"power"`
	CBT       bool       `json:"cbt"`
	Disks     []infoDisk `json:"disks"`
	Snapshots []infoSnap `json:"snapshots"`
}

func (l *testLab) infoOf(vm string) infoOut {
	l.t.Helper()
	var out infoOut
	if err := json.Unmarshal([]byte(l.mustLab("info", "--vm", vm)), &out); err != nil {
		l.t.Fatal(err)
	}
	return out
}

func (l *testLab) vm(name string) *object.VirtualMachine {
	l.t.Helper()
	m := view.NewManager(l.c.Client)
	v, err := m.CreateContainerView(ctx, l.c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		l.t.Fatal(err)
	}
	defer v.Destroy(ctx)
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name"}, &vms); err != nil {
		l.t.Fatal(err)
	}
	for _, vm := range vms {
		if vm.Name == name {
			return object.NewVirtualMachine(l.c.Client, vm.Self)
		}
	}
	l.t.Fatalf("no VM %s", name)
	return nil
}

func (l *testLab) props(ref types.ManagedObjectReference, dst interface{}, ps ...string) {
	l.t.Helper()
	if err := property.DefaultCollector(l.c.Client).RetrieveOne(ctx, ref, ps, dst); err != nil {
		l.t.Fatal(err)
	}
}

func (l *testLab) snapshot(vm *object.VirtualMachine, name string) types.ManagedObjectReference {
	l.t.Helper()
	task, err := vm.CreateSnapshot(ctx, name, "", false, false)
	if err != nil {
		l.t.Fatal(err)
	}
	res, err := task.WaitForResult(ctx, nil)
	if err != nil {
		l.t.Fatalf("snapshot %s: %v", name, err)
	}
	return res.Result.(types.ManagedObjectReference)
}

func (l *testLab) removeSnapshot(ref types.ManagedObjectReference) {
	l.t.Helper()
	req := types.RemoveSnapshot_Task{This: ref, RemoveChildren: false}
	res, err := methodsRemoveSnapshot(l, &req)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := object.NewTask(l.c.Client, res).Wait(ctx); err != nil {
		l.t.Fatal(err)
	}
}

func faultOf(err error) types.BaseMethodFault {
	if err == nil {
		return nil
	}
	if soap.IsSoapFault(err) {
		v := soap.ToSoapFault(err).VimFault()
		if f, ok := v.(types.BaseMethodFault); ok {
			return f
		}
		// govmomi decodes fault details as values; the tests match pointers.
		p := reflect.New(reflect.TypeOf(v))
		p.Elem().Set(reflect.ValueOf(v))
		if f, ok := p.Interface().(types.BaseMethodFault); ok {
			return f
		}
	}
	if soap.IsVimFault(err) {
		return soap.ToVimFault(err)
	}
	if te, ok := err.(task.Error); ok {
		return te.Fault()
	}
	return nil
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
	return string(out)
}

func methodsRemoveSnapshot(l *testLab, req *types.RemoveSnapshot_Task) (types.ManagedObjectReference, error) {
	res, err := methods.RemoveSnapshot_Task(ctx, l.c.Client, req)
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	return res.Returnval, nil
}

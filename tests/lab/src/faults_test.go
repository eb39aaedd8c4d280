package main

import (
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

func TestFaultInjection(t *testing.T) {
	l := startLab(t, "")
	vm := l.vm("web01")

	// The 2nd CreateSnapshot_Task from now fails with a FileFault.
	l.mustLab("fault", "--method", "CreateSnapshot_Task", "--nth", "2", "--fault", "FileFault", "--message", "disk full")
	l.snapshot(vm, "one")
	_, err := vm.CreateSnapshot(ctx, "two", "", false, false)
	if _, ok := faultOf(err).(*types.FileFault); !ok || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("injected FileFault: %v", err)
	}
	l.snapshot(vm, "three") // one-shot
	if n := len(l.infoOf("web01").Snapshots); n != 2 {
		t.Errorf("%d snapshots, want 2", n)
	}

	// A task that ends in error, and leaves nothing behind.
	l.mustLab("fault", "--task-fail", "CreateSnapshot_Task")
	task, err := vm.CreateSnapshot(ctx, "four", "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := task.WaitForResult(ctx, nil); err == nil {
		t.Errorf("task did not fail")
	} else if _, ok := faultOf(err).(*types.SystemError); !ok {
		t.Errorf("task error %v", err)
	}
	if n := len(l.infoOf("web01").Snapshots); n != 2 {
		t.Errorf("%d snapshots after a failed task, want 2", n)
	}

	// Delays.
	l.mustLab("fault", "--method", "RetrieveServiceContent", "--delay", "0.5")
	start := time.Now()
	if _, err := methods.RetrieveServiceContent(ctx, l.c.Client, &types.RetrieveServiceContent{This: serviceInstance}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("delay not applied: %v", d)
	}
	l.mustLab("fault", "--clear")
	start = time.Now()
	_, _ = methods.RetrieveServiceContent(ctx, l.c.Client, &types.RetrieveServiceContent{This: serviceInstance})
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("delay not cleared: %v", d)
	}

	// Expired sessions: the next call is NotAuthenticated, a new login works.
	l.mustLab("fault", "--expire-sessions")
	if _, err := vm.PowerState(ctx); err == nil {
		t.Errorf("call after expiry succeeded")
	} else if _, ok := faultOf(err).(*types.NotAuthenticated); !ok {
		t.Errorf("call after expiry: %v", err)
	}
	c2 := l.login()
	if _, err := methods.GetCurrentTime(ctx, c2.Client); err != nil {
		t.Errorf("new session: %v", err)
	}
	// A fault of any vim25 type, on any method.
	l.mustLab("fault", "--method", "RetrieveProperties", "--nth", "1", "--fault", "NotAuthenticated")
	vm2 := object.NewVirtualMachine(c2.Client, vm.Reference())
	if _, err := vm2.PowerState(ctx); err == nil {
		t.Errorf("injected NotAuthenticated did not happen")
	} else if _, ok := faultOf(err).(*types.NotAuthenticated); !ok {
		t.Errorf("injected NotAuthenticated: %v", err)
	}
	if _, err := vm2.PowerState(ctx); err != nil {
		t.Errorf("the call after the injected fault: %v", err)
	}
	if out, err := l.lab("fault", "--method", "X", "--fault", "NoSuchFault"); err == nil {
		t.Errorf("unknown fault type accepted: %s", out)
	}
}

var serviceInstance = types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}

// An account with too few rights: the privileges the lab is told to deny
// disappear from FetchUserPrivilegeOnEntities, the others stay, and
// --clear gives them back.
func TestDenyPrivileges(t *testing.T) {
	l := startLab(t, "")
	vm := l.vm("web01").Reference()
	am := object.NewAuthorizationManager(l.c.Client)
	has := func() map[string]bool {
		res, err := am.FetchUserPrivilegeOnEntities(ctx, []types.ManagedObjectReference{vm}, "administrator@vsphere.local")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, r := range res {
			for _, p := range r.Privileges {
				got[p] = true
			}
		}
		return got
	}
	const snap, reconf = "VirtualMachine.State.CreateSnapshot", "VirtualMachine.Config.ChangeTracking"
	if p := has(); !p[snap] || !p[reconf] {
		t.Fatalf("the simulator's user lacks %s or %s from the start", snap, reconf)
	}
	l.mustLab("fault", "--deny-privileges", snap+", "+reconf)
	if p := has(); p[snap] || p[reconf] || !p["System.View"] {
		t.Errorf("after --deny-privileges: %s=%v %s=%v System.View=%v", snap, p[snap], reconf, p[reconf], p["System.View"])
	}
	l.mustLab("fault", "--clear")
	if p := has(); !p[snap] || !p[reconf] {
		t.Errorf("--clear did not give the privileges back")
	}
}

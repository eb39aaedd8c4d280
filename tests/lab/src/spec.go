package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Spec is the lab's inventory description (tests/lab/README.md documents it).
type Spec struct {
	Datacenter  string   `json:"datacenter"`
	Host        string   `json:"host"`
	HostVersion string   `json:"host_version"`
	Datastores  []string `json:"datastores"`
	Networks    []string `json:"networks"`
	VMs         []VMSpec `json:"vms"`
	// CBT paging knobs; vSphere's page limit is 2000 areas, the window
	// bounds how much of the disk one answer may cover (so empty pages
	// before the end of a disk happen, as they do on real hosts).
	CBTPageAreas  int   `json:"cbt_page_areas"`
	CBTPageWindow int64 `json:"cbt_page_window"`
	// Delay between ShutdownGuest and the VM reaching poweredOff.
	ShutdownDelayMS int `json:"shutdown_delay_ms"`
}

type VMSpec struct {
	Name string `json:"name"`
	// Folder is the VM's folder below the datacenter's vm folder ("prod",
	// "team/a"); "" is the vm folder itself. Names repeat across folders.
	Folder         string     `json:"folder"`
	GuestID        string     `json:"guest_id"`
	Firmware       string     `json:"firmware"`
	SecureBoot     bool       `json:"secure_boot"`
	CPUs           int32      `json:"cpus"`
	CoresPerSocket int32      `json:"cores_per_socket"`
	MemoryMB       int64      `json:"memory_mb"`
	HWVersion      int        `json:"hw_version"`
	Power          string     `json:"power"`
	Tools          string     `json:"tools"`
	CBT            bool       `json:"cbt"`
	BootOrder      []int      `json:"boot_order"`
	CDROM          *CDROM     `json:"cdrom"`
	Disks          []DiskSpec `json:"disks"`
	NICs           []NICSpec  `json:"nics"`
}

type CDROM struct {
	Connected bool   `json:"connected"`
	ISO       string `json:"iso"`
}

type DiskSpec struct {
	Size         int64  `json:"size"`
	Controller   string `json:"controller"`
	Bus          *int32 `json:"bus"`
	Unit         *int32 `json:"unit"`
	Datastore    string `json:"datastore"`
	Provisioning string `json:"provisioning"`
	Mode         string `json:"mode"`
	Image        string `json:"image"`
	Sharing      string `json:"sharing"`
	RDM          string `json:"rdm"`
}

type NICSpec struct {
	Type    string `json:"type"`
	MAC     string `json:"mac"`
	Network string `json:"network"`
}

var macRE = regexp.MustCompile(`^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$`)

func loadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Spec
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // "json: unknown field \"x\"" names the field
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("spec %s: %v", path, err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("spec %s: %v", path, err)
	}
	return &s, nil
}

func oneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%s: %q is not one of %q", field, v, allowed)
}

// validate fills defaults and rejects anything the lab cannot model, naming
// the offending field so a broken test spec is obvious.
func (s *Spec) validate() error {
	if s.Datacenter == "" {
		return fmt.Errorf("missing field \"datacenter\"")
	}
	if s.Host == "" {
		return fmt.Errorf("missing field \"host\"")
	}
	if s.HostVersion == "" {
		s.HostVersion = "7.0.3"
	}
	if len(s.Datastores) == 0 {
		return fmt.Errorf("missing field \"datastores\"")
	}
	if s.CBTPageAreas == 0 {
		s.CBTPageAreas = 2000
	}
	if s.CBTPageWindow == 0 {
		s.CBTPageWindow = 512 << 20
	}
	if s.CBTPageAreas < 1 || s.CBTPageWindow < 512 || s.CBTPageWindow%512 != 0 {
		return fmt.Errorf("cbt_page_areas/cbt_page_window out of range")
	}
	if s.ShutdownDelayMS == 0 {
		s.ShutdownDelayMS = 500
	}
	ds := map[string]bool{}
	for _, d := range s.Datastores {
		if d == "" || ds[d] {
			return fmt.Errorf("datastores: empty or duplicate name %q", d)
		}
		ds[d] = true
	}
	nets := map[string]bool{"VM Network": true}
	for _, n := range s.Networks {
		nets[n] = true
	}
	names := map[string]bool{}
	folders := map[string]bool{} // every folder path and its parents
	for i := range s.VMs {
		vm := &s.VMs[i]
		f := func(name string) string { return fmt.Sprintf("vms[%d].%s", i, name) }
		if vm.Name == "" {
			return fmt.Errorf("missing field %q", f("name"))
		}
		if strings.Contains(vm.Name, "/") {
			return fmt.Errorf("%s: %q: a VM name cannot contain \"/\" (the lab's folder separator)", f("name"), vm.Name)
		}
		if vm.Folder != "" {
			for _, seg := range strings.Split(vm.Folder, "/") {
				if seg == "" || seg == "." || seg == ".." {
					return fmt.Errorf("%s: bad folder path %q (want names separated by \"/\", like \"prod\" or \"team/a\")", f("folder"), vm.Folder)
				}
			}
			for p := vm.Folder; ; p = p[:strings.LastIndex(p, "/")] {
				folders[p] = true
				if !strings.Contains(p, "/") {
					break
				}
			}
		}
		if names[vm.path()] {
			if vm.Folder != "" {
				return fmt.Errorf("%s: duplicate VM name %q in folder %q", f("name"), vm.Name, vm.Folder)
			}
			return fmt.Errorf("%s: duplicate VM name %q", f("name"), vm.Name)
		}
		names[vm.path()] = true
		if vm.GuestID == "" {
			vm.GuestID = "otherGuest64"
		}
		if vm.Firmware == "" {
			vm.Firmware = "bios"
		}
		if err := oneOf(f("firmware"), vm.Firmware, "bios", "efi"); err != nil {
			return err
		}
		if vm.SecureBoot && vm.Firmware != "efi" {
			return fmt.Errorf("%s: secure boot needs firmware \"efi\"", f("secure_boot"))
		}
		if vm.CPUs == 0 {
			vm.CPUs = 1
		}
		if vm.CoresPerSocket == 0 {
			vm.CoresPerSocket = 1
		}
		if vm.MemoryMB == 0 {
			vm.MemoryMB = 1024
		}
		if vm.HWVersion == 0 {
			vm.HWVersion = 19
		}
		if vm.Power == "" {
			vm.Power = "poweredOn"
		}
		if err := oneOf(f("power"), vm.Power, "poweredOn", "poweredOff"); err != nil {
			return err
		}
		if vm.Tools == "" {
			vm.Tools = "toolsOk"
		}
		if err := oneOf(f("tools"), vm.Tools, "toolsOk", "toolsOld", "toolsNotRunning", "toolsNotInstalled"); err != nil {
			return err
		}
		if len(vm.Disks) == 0 {
			return fmt.Errorf("missing field %q", f("disks"))
		}
		for j := range vm.Disks {
			d := &vm.Disks[j]
			g := func(name string) string { return fmt.Sprintf("vms[%d].disks[%d].%s", i, j, name) }
			if d.Size <= 0 || d.Size%512 != 0 {
				return fmt.Errorf("%s: must be a positive multiple of 512, got %d", g("size"), d.Size)
			}
			if d.Controller == "" {
				d.Controller = "pvscsi"
			}
			if err := oneOf(g("controller"), d.Controller, "pvscsi", "lsilogic", "lsilogic-sas", "buslogic", "sata", "nvme", "ide"); err != nil {
				return err
			}
			if d.Datastore == "" {
				d.Datastore = s.Datastores[0]
			}
			if !ds[d.Datastore] {
				return fmt.Errorf("%s: unknown datastore %q", g("datastore"), d.Datastore)
			}
			if d.Provisioning == "" {
				d.Provisioning = "thin"
			}
			if err := oneOf(g("provisioning"), d.Provisioning, "thin", "thick"); err != nil {
				return err
			}
			if d.Mode == "" {
				d.Mode = "persistent"
			}
			if err := oneOf(g("mode"), d.Mode, "persistent", "independent_persistent"); err != nil {
				return err
			}
			if d.Sharing == "" {
				d.Sharing = "sharingNone"
			}
			if err := oneOf(g("sharing"), d.Sharing, "sharingNone", "sharingMultiWriter"); err != nil {
				return err
			}
			if d.RDM != "" {
				if err := oneOf(g("rdm"), d.RDM, "physical", "virtual"); err != nil {
					return err
				}
			}
			if d.Image != "" {
				st, err := os.Stat(d.Image)
				if err != nil {
					return fmt.Errorf("%s: %v", g("image"), err)
				}
				if st.Size() > d.Size {
					return fmt.Errorf("%s: image is larger than the disk", g("image"))
				}
			}
		}
		for j, b := range vm.BootOrder {
			if b < 0 || b >= len(vm.Disks) {
				return fmt.Errorf("%s[%d]: no disk %d", f("boot_order"), j, b)
			}
		}
		for j := range vm.NICs {
			n := &vm.NICs[j]
			g := func(name string) string { return fmt.Sprintf("vms[%d].nics[%d].%s", i, j, name) }
			if n.Type == "" {
				n.Type = "vmxnet3"
			}
			if err := oneOf(g("type"), n.Type, "vmxnet3", "e1000", "e1000e"); err != nil {
				return err
			}
			if n.Network == "" {
				n.Network = "VM Network"
			}
			if !nets[n.Network] {
				return fmt.Errorf("%s: unknown network %q", g("network"), n.Network)
			}
			if n.MAC != "" && !macRE.MatchString(n.MAC) {
				return fmt.Errorf("%s: bad MAC %q", g("mac"), n.MAC)
			}
		}
	}
	// A folder and a VM of the same name in one folder would make the
	// inventory path ambiguous (vSphere refuses that with DuplicateName).
	for i := range s.VMs {
		if folders[s.VMs[i].path()] {
			return fmt.Errorf("vms[%d].name: %q is also a folder", i, s.VMs[i].path())
		}
	}
	return nil
}

// path is the VM's inventory path below the datacenter's vm folder:
// "web01", or "prod/web01" in folder "prod". Unique in a spec.
func (vm *VMSpec) path() string {
	if vm.Folder == "" {
		return vm.Name
	}
	return vm.Folder + "/" + vm.Name
}

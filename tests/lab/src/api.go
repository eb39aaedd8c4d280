package main

// Lab-only HTTP endpoints under /lab/ on the serve process, so every state
// change (guest writes, power, faults) is serialized in one process, and
// the CLI commands that call them.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

type writeReq struct {
	VM     string  `json:"vm"`
	Disk   int     `json:"disk"`
	Offset int64   `json:"offset"`
	Length int64   `json:"length"`
	Count  int     `json:"count"`
	Stride int64   `json:"stride"`
	Seed   *uint64 `json:"seed"`
	Zero   bool    `json:"zero"`
	From   string  `json:"from"`
}

type faultReq struct {
	Method         string  `json:"method"`
	Nth            int     `json:"nth"`
	Fault          string  `json:"fault"`
	Message        string  `json:"message"`
	Delay          float64 `json:"delay"`
	TaskFail       string  `json:"task_fail"`
	ExpireSessions bool    `json:"expire_sessions"`
	NBDDropAfter   int64   `json:"nbd_drop_after"`
	NBDStallAfter  int64   `json:"nbd_stall_after"`
	DenyPrivileges string  `json:"deny_privileges"`
	Clear          bool    `json:"clear"`
}

type resolveReq struct {
	VM       string `json:"vm"`
	Snapshot string `json:"snapshot"`
	File     string `json:"file"`
}

func (l *Lab) serveAPI(w http.ResponseWriter, r *http.Request) {
	var res interface{}
	var err error
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	switch r.URL.Path {
	case "/lab/write":
		var q writeReq
		if err = dec.Decode(&q); err == nil {
			res, err = l.apiWrite(&q)
		}
	case "/lab/info":
		var q struct {
			VM string `json:"vm"`
		}
		if err = dec.Decode(&q); err == nil {
			res, err = l.apiInfo(q.VM)
		}
	case "/lab/power":
		var q struct {
			VM string `json:"vm"`
			On bool   `json:"on"`
		}
		if err = dec.Decode(&q); err == nil {
			res, err = l.apiPower(q.VM, q.On)
		}
	case "/lab/fault":
		var q faultReq
		if err = dec.Decode(&q); err == nil {
			res, err = l.apiFault(&q)
		}
	case "/lab/resolve":
		var q resolveReq
		if err = dec.Decode(&q); err == nil {
			res, err = l.apiResolve(&q)
		}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		res = map[string]string{"error": err.Error()}
	}
	_ = json.NewEncoder(w).Encode(res)
}

// splitmix64 makes the --seed bytes: one stream per call, 8 bytes per
// step, little-endian, continuing across the --count writes.
type splitmix uint64

func (s *splitmix) fill(b []byte) {
	var tmp [8]byte
	for i := 0; i < len(b); i += 8 {
		*s += 0x9e3779b97f4a7c15
		z := uint64(*s)
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		binary.LittleEndian.PutUint64(tmp[:], z^(z>>31))
		copy(b[i:], tmp[:])
	}
}

func (l *Lab) apiWrite(q *writeReq) (interface{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	vm, err := l.vmByName(q.VM)
	if err != nil {
		return nil, err
	}
	if ps := l.vmObj(vm).Runtime.PowerState; ps != types.VirtualMachinePowerStatePoweredOn {
		return nil, fmt.Errorf("VM %s is %s: its guest cannot write", q.VM, ps)
	}
	if q.Disk < 0 || q.Disk >= len(vm.disks) {
		return nil, fmt.Errorf("VM %s has no disk %d", q.VM, q.Disk)
	}
	d := vm.disks[q.Disk]
	var src []byte
	if q.From != "" {
		if src, err = os.ReadFile(q.From); err != nil {
			return nil, err
		}
		if q.Length == 0 {
			q.Length = int64(len(src))
		}
		if int64(len(src)) < q.Length {
			return nil, fmt.Errorf("%s has %d bytes, fewer than --length %d", q.From, len(src), q.Length)
		}
	}
	if q.Count == 0 {
		q.Count = 1
	}
	if q.Length <= 0 || q.Offset < 0 || q.Count < 1 || (q.Count > 1 && q.Stride < q.Length) {
		return nil, fmt.Errorf("bad range: offset %d length %d count %d stride %d", q.Offset, q.Length, q.Count, q.Stride)
	}
	if end := q.Offset + int64(q.Count-1)*q.Stride + q.Length; end > d.spec.Size {
		return nil, fmt.Errorf("write ends at %d, past the end of disk %d (%d bytes)", end, q.Disk, d.spec.Size)
	}
	if q.Seed == nil && !q.Zero && q.From == "" {
		return nil, fmt.Errorf("one of --seed, --zero or --from is needed")
	}
	var rng splitmix
	if q.Seed != nil {
		rng = splitmix(*q.Seed)
	}
	p, err := qemuNBD("", "-f", "vmdk", "--cache=writeback", d.abs(d.top()))
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	c, err := nbdDial(p.Sock)
	if err != nil {
		return nil, err
	}
	// NBD servers cap a request (qemu-nbd: 32 MiB), so long writes go in
	// pieces; the bytes are the same as one piece would carry.
	const piece = 4 << 20
	type chunk struct{ off, in, n int64 }
	var chunks []chunk
	for i := 0; i < q.Count; i++ {
		for in := int64(0); in < q.Length; in += piece {
			n := q.Length - in
			if n > piece {
				n = piece
			}
			chunks = append(chunks, chunk{q.Offset + int64(i)*q.Stride + in, in, n})
		}
	}
	max := q.Length
	if max > piece {
		max = piece
	}
	buf := make([]byte, max)
	err = c.WriteMany(len(chunks), func(i int) (int64, []byte) {
		ch := chunks[i]
		b := buf[:ch.n]
		switch {
		case q.From != "":
			copy(b, src[ch.in:ch.in+ch.n])
		case q.Zero:
			for j := range b {
				b[j] = 0
			}
		default:
			rng.fill(b)
		}
		return ch.off, b
	})
	c.Close()
	if err != nil {
		return nil, err
	}
	for i := 0; i < q.Count; i++ {
		d.writes = append(d.writes, writeRec{gen: vm.gen, off: q.Offset + int64(i)*q.Stride, len: q.Length})
	}
	return map[string]interface{}{"written": q.Count, "file": d.abs(d.top())}, nil
}

type infoDisk struct {
	Key           int32  `json:"key"`
	File          string `json:"file"`
	DatastorePath string `json:"datastore_path"`
	ChangeID      string `json:"change_id"`
	Size          int64  `json:"size,omitempty"`
}

type infoSnap struct {
	Name  string     `json:"name"`
	Moref string     `json:"moref"`
	Disks []infoDisk `json:"disks"`
}

func (l *Lab) apiInfo(name string) (interface{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	vm, err := l.vmByName(name)
	if err != nil {
		return nil, err
	}
	obj := l.vmObj(vm)
	out := struct {
		Moref     string     `json:"moref"`
		Name      string     `json:"name"`
		Path      string     `json:"inventory_path"`
		Power     string     `json:"power"`
		CBT       bool       `json:"cbt"`
		Disks     []infoDisk `json:"disks"`
		Snapshots []infoSnap `json:"snapshots"`
	}{Moref: vm.ref.Value, Name: vm.spec.Name, Path: l.inventoryPath(vm), Power: string(obj.Runtime.PowerState), Disks: []infoDisk{}, Snapshots: []infoSnap{}}
	out.CBT = obj.Config.ChangeTrackingEnabled != nil && *obj.Config.ChangeTrackingEnabled
	for _, d := range vm.disks {
		out.Disks = append(out.Disks, infoDisk{Key: d.key, File: d.abs(d.top()), DatastorePath: d.dsPath(d.top()),
			ChangeID: d.changeID(vm.gen), Size: d.spec.Size})
	}
	names := map[types.ManagedObjectReference]string{}
	if obj.Snapshot != nil {
		var walk func([]types.VirtualMachineSnapshotTree)
		walk = func(t []types.VirtualMachineSnapshotTree) {
			for _, s := range t {
				names[s.Snapshot] = s.Name
				walk(s.ChildSnapshotList)
			}
		}
		walk(obj.Snapshot.RootSnapshotList)
	}
	for _, s := range vm.snaps {
		is := infoSnap{Name: names[s.ref], Moref: s.ref.Value}
		for _, d := range vm.disks {
			f := s.files[d.key]
			is.Disks = append(is.Disks, infoDisk{Key: d.key, File: d.abs(f), DatastorePath: d.dsPath(f), ChangeID: s.changeIDs[d.key]})
		}
		out.Snapshots = append(out.Snapshots, is)
	}
	return out, nil
}

func (l *Lab) apiPower(name string, on bool) (interface{}, error) {
	l.mu.Lock()
	vm, err := l.vmByName(name)
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if (l.vmObj(vm).Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn) != on {
		if err := l.setPower(vm, on); err != nil {
			return nil, err
		}
	}
	return map[string]string{"power": string(l.vmObj(vm).Runtime.PowerState)}, nil
}

func (l *Lab) apiFault(q *faultReq) (interface{}, error) {
	f := &l.faults
	switch {
	case q.Clear:
		f.mu.Lock()
		f.rules, f.delays, f.taskFail, f.nbdDrop, f.nbdStall = nil, map[string]time.Duration{}, map[string]*faultRule{}, 0, 0
		f.denied = map[string]bool{}
		f.mu.Unlock()
	case q.ExpireSessions:
		l.expireSessions()
	case q.NBDDropAfter > 0:
		f.mu.Lock()
		f.nbdDrop = q.NBDDropAfter
		f.mu.Unlock()
	case q.NBDStallAfter > 0:
		f.mu.Lock()
		f.nbdStall = q.NBDStallAfter
		f.mu.Unlock()
	case q.DenyPrivileges != "":
		f.mu.Lock()
		for _, p := range strings.Split(q.DenyPrivileges, ",") {
			if p = strings.TrimSpace(p); p != "" {
				f.denied[p] = true
			}
		}
		f.mu.Unlock()
	case q.TaskFail != "":
		rule := &faultRule{Method: q.TaskFail, Fault: q.Fault, Message: q.Message}
		if rule.Fault == "" {
			rule.Fault = "SystemError"
		}
		if rule.Message == "" {
			rule.Message = "A general system error occurred: injected by v2k-lab"
		}
		f.mu.Lock()
		f.taskFail[q.TaskFail] = rule
		f.mu.Unlock()
	case q.Method != "" && q.Delay > 0:
		f.mu.Lock()
		f.delays[q.Method] = time.Duration(q.Delay * float64(time.Second))
		f.mu.Unlock()
	case q.Method != "" && q.Fault != "":
		if _, ok := types.TypeFunc()(q.Fault); !ok {
			return nil, fmt.Errorf("unknown fault type %q", q.Fault)
		}
		if q.Nth < 1 {
			q.Nth = 1
		}
		f.mu.Lock()
		f.rules = append(f.rules, &faultRule{Method: q.Method, Nth: q.Nth, Fault: q.Fault, Message: q.Message})
		f.mu.Unlock()
	default:
		return nil, fmt.Errorf("nothing to inject")
	}
	log.Printf("fault setting: %+v", *q)
	return map[string]bool{"ok": true}, nil
}

// apiResolve is what the nbdkit stand-in asks: which file does this VM's
// snapshot hold under that datastore path? It also hands over a pending
// connection drop.
func (l *Lab) apiResolve(q *resolveReq) (interface{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var vm *labVM
	for ref, v := range l.byRef {
		if ref.Value == q.VM {
			vm = v
		}
	}
	if vm == nil {
		return nil, fmt.Errorf("vm=moref=%s: no such virtual machine", q.VM)
	}
	var snap *labSnap
	for _, s := range vm.snaps {
		if s.ref.Value == q.Snapshot {
			snap = s
		}
	}
	if q.Snapshot != "" && snap == nil {
		return nil, fmt.Errorf("snapshot=%s: the object or item referred to could not be found", q.Snapshot)
	}
	for _, d := range vm.disks {
		f := d.top()
		if snap != nil {
			f = snap.files[d.key]
		}
		if d.dsPath(f) == q.File {
			l.faults.mu.Lock()
			drop, stall := l.faults.nbdDrop, l.faults.nbdStall
			l.faults.nbdDrop, l.faults.nbdStall = 0, 0
			l.faults.mu.Unlock()
			return map[string]interface{}{"path": d.abs(f), "size": d.spec.Size, "drop_after": drop, "stall_after": stall}, nil
		}
	}
	return nil, fmt.Errorf("%s: the file specified is not a virtual disk of %s in that snapshot", q.File, q.VM)
}

// labCall posts a request to the serve process whose state is in dir.
func labCall(dir, path string, req, res interface{}) error {
	var info labInfo
	data, err := os.ReadFile(filepath.Join(dir, "lab.json"))
	if err != nil {
		return fmt.Errorf("no running lab in %s: %v", dir, err)
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM(dir))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
	body, _ := json.Marshal(req)
	resp, err := client.Post(strings.TrimSuffix(info.URL, "/sdk")+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(out))
	}
	if raw, ok := res.(*json.RawMessage); ok {
		*raw = out
		return nil
	}
	return json.Unmarshal(out, res)
}

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func needTools(t *testing.T, tools ...string) {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

type standIn struct {
	cmd     *exec.Cmd
	sock    string
	pidfile string
}

func (l *testLab) vddkArgs(t *testing.T, vmMoref, snap, file string) []string {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte(l.info.Password+"\n"), 0o600)
	return []string{"vddk", "libdir=" + dir, "server=" + l.info.Host, "user=" + l.info.Username,
		"password=+" + pw, "thumbprint=" + l.info.Thumbprint, "vm=moref=" + vmMoref,
		"snapshot=" + snap, "transports=file:nbdssl:nbd", "compression=none", "file=" + file}
}

func (l *testLab) startStandIn(t *testing.T, vddk []string) *standIn {
	t.Helper()
	dir := t.TempDir()
	s := &standIn{sock: filepath.Join(dir, "nbd.sock"), pidfile: filepath.Join(dir, "nbdkit.pid")}
	args := append([]string{"nbdkit", "-r", "-f", "--exit-with-parent", "-U", s.sock, "--pidfile", s.pidfile,
		"--filter=retry", "--filter=cacheextents"}, vddk...)
	s.cmd = selfCmd(args...)
	s.cmd.Env = append(s.cmd.Env, "V2K_LAB_STATE="+l.dir)
	var stderr bytes.Buffer
	s.cmd.Stderr = &stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.cmd.Process.Signal(syscall.SIGTERM); _ = s.cmd.Wait() })
	for i := 0; !fileExists(s.pidfile); i++ {
		if i > 400 {
			t.Fatalf("stand-in wrote no pidfile: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	b, _ := os.ReadFile(s.pidfile)
	if strings.TrimSpace(string(b)) != strconv.Itoa(s.cmd.Process.Pid) {
		t.Errorf("pidfile holds %q, started pid %d", b, s.cmd.Process.Pid)
	}
	return s
}

func (s *standIn) uri() string { return "nbd+unix:///?socket=" + s.sock }

func TestNbdkitStandIn(t *testing.T) {
	needTools(t, "nbdinfo", "nbdcopy")
	l := startLab(t, "")
	vm := l.vm("web01")
	l.mustLab("write", "--vm", "web01", "--disk", "0", "--offset", "1048576", "--length", "300000", "--seed", "5")
	s1 := l.snapshot(vm, "s1")
	l.mustLab("write", "--vm", "web01", "--disk", "0", "--offset", "0", "--length", "4096", "--seed", "6")
	s2 := l.snapshot(vm, "s2")
	info := l.infoOf("web01")
	frozen := info.Snapshots[1].Disks[0]
	args := l.vddkArgs(t, info.Moref, s2.Value, frozen.DatastorePath)

	// Strict checks, each an exit 1 with an error on stderr.
	set := func(k, v string) []string {
		out := []string{}
		for _, a := range args {
			if strings.HasPrefix(a, k+"=") {
				if v == "" {
					continue
				}
				a = k + "=" + v
			}
			out = append(out, a)
		}
		return out
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("nope\n"), 0o600)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong password", set("password", "+"+bad), "incorrect user name or password"},
		{"wrong user", set("user", "root"), "incorrect user name or password"},
		{"wrong thumbprint", set("thumbprint", strings.Repeat("AB:", 19)+"AB"), "thumbprint"},
		{"unknown vm", set("vm", "moref=vm-999"), "vm-999"},
		{"unknown snapshot", set("snapshot", "snapshot-999"), "snapshot-999"},
		{"file not in that snapshot", set("snapshot", s1.Value), "not a virtual disk"},
		{"libdir not a directory", set("libdir", bad), "libdir"},
		{"missing file", set("file", ""), "file parameter is required"},
		{"missing thumbprint", set("thumbprint", ""), "thumbprint parameter is required"},
		{"bad transport", set("transports", "carrier-pigeon"), "transport"},
		{"wrong server", set("server", "vcenter.example.com"), "Cannot connect"},
	} {
		cmd := selfCmd(append([]string{"nbdkit", "-r", "-f", "-U", filepath.Join(t.TempDir(), "s")}, c.args...)...)
		cmd.Env = append(cmd.Env, "V2K_LAB_STATE="+l.dir)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: %v: %s", c.name, err, out)
		}
	}
	if out, err := selfCmd("nbdkit", "--version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "nbdkit 1.") {
		t.Errorf("nbdkit --version: %v %s", err, out)
	}
	if out, err := selfCmd("nbdkit", "vddk", "--version", args[1]).CombinedOutput(); err != nil || !strings.Contains(string(out), "vddk") {
		t.Errorf("nbdkit vddk --version: %v %s", err, out)
	}

	// Serving: exactly the snapshot's bytes, with block status.
	s := l.startStandIn(t, args)
	mapOut := mustRun(t, "nbdinfo", "--map", s.uri())
	if !strings.Contains(mapOut, "data") {
		t.Errorf("nbdinfo --map: %s", mapOut)
	}
	out := filepath.Join(t.TempDir(), "out.raw")
	mustRun(t, "nbdcopy", s.uri(), out)
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, readDisk(t, frozen.File)) {
		t.Errorf("stand-in served other bytes than %s", frozen.File)
	}
	if size := mustRun(t, "nbdinfo", "--size", s.uri()); strings.TrimSpace(size) != "67108864" {
		t.Errorf("size %s", size)
	}
	// Socket activation, as libnbd's [ CMD ] does it.
	act := exec.Command("nbdinfo", append([]string{"--size", "--", "[", os.Args[0], "nbdkit", "-r"}, append(args, "]")...)...)
	act.Env = append(os.Environ(), "V2K_LAB_SELF=1", "V2K_LAB_STATE="+l.dir)
	if out, err := act.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "67108864" {
		t.Errorf("socket activation: %v %s", err, out)
	}
	// password=-FD works too.
	r, w, _ := os.Pipe()
	w.Write([]byte(l.info.Password))
	w.Close()
	fdArgs := set("password", "-3")
	fdPid := filepath.Join(t.TempDir(), "p")
	cmd := selfCmd(append([]string{"nbdkit", "-r", "-f", "-U", filepath.Join(t.TempDir(), "s"), "--pidfile", fdPid}, fdArgs...)...)
	cmd.Env = append(cmd.Env, "V2K_LAB_STATE="+l.dir)
	cmd.ExtraFiles = []*os.File{r}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; !fileExists(fdPid); i++ {
		if i > 300 {
			t.Errorf("password=-3 refused")
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

func TestNbdkitDropAndParentDeath(t *testing.T) {
	needTools(t, "nbdcopy")
	l := startLab(t, "")
	vm := l.vm("web01")
	l.mustLab("write", "--vm", "web01", "--disk", "0", "--offset", "0", "--length", "4194304", "--seed", "1")
	s1 := l.snapshot(vm, "s1")
	info := l.infoOf("web01")
	args := l.vddkArgs(t, info.Moref, s1.Value, info.Snapshots[0].Disks[0].DatastorePath)

	l.mustLab("fault", "--nbd-drop-after", "100000")
	s := l.startStandIn(t, args)
	if out, err := exec.Command("nbdcopy", s.uri(), filepath.Join(t.TempDir(), "x")).CombinedOutput(); err == nil {
		t.Errorf("copy survived a dropped connection: %s", out)
	}
	// The drop is one-shot: a new stand-in serves fully.
	s2 := l.startStandIn(t, args)
	mustRun(t, "nbdcopy", s2.uri(), filepath.Join(t.TempDir(), "y"))

	// --exit-with-parent: the stand-in (and its qemu-nbd) go when the parent dies.
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	self, _ := os.Executable()
	script := fmt.Sprintf("%q nbdkit -r -f --exit-with-parent -U %q --pidfile %q %s; exit 0", self, filepath.Join(dir, "s"), pidfile, shellQuote(args))
	parent := exec.Command("sh", "-c", script)
	parent.Env = append(os.Environ(), "V2K_LAB_SELF=1", "V2K_LAB_STATE="+l.dir)
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; !fileExists(pidfile); i++ {
		if i > 400 {
			t.Fatal("no pidfile")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b, _ := os.ReadFile(pidfile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	parent.Process.Kill()
	parent.Wait()
	for i := 0; running(pid); i++ {
		if i > 300 {
			t.Fatalf("stand-in %d outlived its parent", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// running: the process exists and has not exited.  An orphan that exited
// stays a zombie until init reaps it, which on these machines can take
// seconds; it is gone for this test's purpose.
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func shellQuote(args []string) string {
	var q []string
	for _, a := range args {
		q = append(q, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	return strings.Join(q, " ")
}

package main

// `v2k-lab nbdkit`: a stand-in for `nbdkit vddk`. It takes nbdkit's command
// line and the vddk plugin's parameters, checks them against the lab as
// strictly as VDDK would, and serves the snapshot's disk read-only over NBD
// (qemu-nbd on a private socket, proxied so the lab can drop a connection
// after N bytes).

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

const nbdkitVersion = "1.32.5"

type nbdkitOpts struct {
	readonly, foreground, exitWithParent, verbose, version, dump bool
	sock, pidfile                                                string
	filters                                                      []string
	plugin                                                       string
	params                                                       map[string]string
}

func nbdkitErr(format string, a ...interface{}) int {
	fmt.Fprintf(os.Stderr, "nbdkit: vddk[1]: error: "+format+"\n", a...)
	return 1
}

func parseNbdkit(args []string) (*nbdkitOpts, error) {
	o := &nbdkitOpts{params: map[string]string{}}
	value := func(i *int, a, long, short string) (string, bool, error) {
		for _, p := range []string{long, short} {
			if p == "" {
				continue
			}
			if a == p {
				if *i+1 >= len(args) {
					return "", true, fmt.Errorf("option %s needs an argument", a)
				}
				*i++
				return args[*i], true, nil
			}
			if strings.HasPrefix(a, long+"=") {
				return a[len(long)+1:], true, nil
			}
			if short != "" && strings.HasPrefix(a, short) && len(a) > len(short) && !strings.HasPrefix(a, "--") {
				return a[len(short):], true, nil
			}
		}
		return "", false, nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if o.plugin != "" {
			k, v, ok := strings.Cut(a, "=")
			if !ok {
				if a == "--version" {
					o.version = true
					continue
				}
				return nil, fmt.Errorf("plugin parameter %q is not key=value", a)
			}
			o.params[k] = v
			continue
		}
		switch a {
		case "-r", "--readonly", "--read-only":
			o.readonly = true
			continue
		case "-f", "--foreground", "--no-fork":
			o.foreground = true
			continue
		case "--exit-with-parent":
			o.exitWithParent = true
			continue
		case "-v", "--verbose":
			o.verbose = true
			continue
		case "-V", "--version":
			o.version = true
			continue
		case "--dump-plugin":
			o.dump = true
			continue
		}
		var v string
		var ok bool
		var err error
		for _, opt := range []struct {
			long, short string
			dst         func(string)
		}{
			{"--unix", "-U", func(s string) { o.sock = s }},
			{"--pidfile", "-P", func(s string) { o.pidfile = s }},
			{"--filter", "", func(s string) { o.filters = append(o.filters, s) }},
			{"--threads", "-t", func(string) {}},
			{"--debug", "-D", func(string) {}},
			{"--exportname", "-e", func(string) {}},
		} {
			if v, ok, err = value(&i, a, opt.long, opt.short); err != nil {
				return nil, err
			} else if ok {
				opt.dst(v)
				break
			}
		}
		if ok {
			continue
		}
		if strings.HasPrefix(a, "-") {
			return nil, fmt.Errorf("unknown option %s", a)
		}
		o.plugin = a
	}
	return o, nil
}

func cmdNbdkit(args []string) int {
	o, err := parseNbdkit(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nbdkit: %v\n", err)
		return 1
	}
	if o.plugin == "" {
		if o.version {
			fmt.Printf("nbdkit %s (v2k-lab stand-in)\n", nbdkitVersion)
			return 0
		}
		fmt.Fprintln(os.Stderr, "nbdkit: no plugins given on the command line.")
		return 1
	}
	if o.plugin != "vddk" && !strings.HasSuffix(o.plugin, "nbdkit-vddk-plugin.so") {
		fmt.Fprintf(os.Stderr, "nbdkit: %s: cannot open plugin (the v2k lab only stands in for vddk)\n", o.plugin)
		return 1
	}
	for _, f := range o.filters {
		if f != "retry" && f != "cacheextents" && f != "cache" && f != "readahead" && f != "stats" {
			fmt.Fprintf(os.Stderr, "nbdkit: %s: cannot open filter\n", f)
			return 1
		}
	}
	if libdir, ok := o.params["libdir"]; ok {
		if st, err := os.Stat(libdir); err != nil || !st.IsDir() {
			return nbdkitErr("libdir: %s: not a directory: could not load libvixDiskLib.so.8", libdir)
		}
	} else {
		return nbdkitErr("libdir parameter is required by the v2k lab (no VDDK default location)")
	}
	if o.version || o.dump {
		fmt.Printf("nbdkit %s (v2k-lab stand-in)\nvddk %s\nvddk_library_version=8\nvddk_dll=%s/lib64/libvixDiskLib.so.8\n",
			nbdkitVersion, nbdkitVersion, o.params["libdir"])
		return 0
	}
	// Socket activation and --exit-with-parent imply --foreground, as in nbdkit.
	activated := os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid())
	if !o.foreground && !o.exitWithParent && !activated && os.Getenv("V2K_LAB_NBDKIT_CHILD") == "" {
		return daemonize()
	}
	return runVddk(o)
}

// daemonize is nbdkit's default: the server runs in the background and the
// command returns once it is ready (its pidfile written).
func daemonize() int {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), "V2K_LAB_NBDKIT_CHILD=1")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	ready, w, _ := os.Pipe()
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "nbdkit: %v\n", err)
		return 1
	}
	w.Close()
	b := make([]byte, 1)
	if n, _ := ready.Read(b); n != 1 {
		_ = cmd.Wait()
		return 1
	}
	return 0
}

func readPassword(p string) (string, error) {
	switch {
	case strings.HasPrefix(p, "+"):
		b, err := os.ReadFile(p[1:])
		return strings.TrimRight(string(b), "\r\n"), err
	case p == "-":
		return "", fmt.Errorf("password=-: reading the password from a terminal is not possible here")
	case strings.HasPrefix(p, "-"):
		fd, err := strconv.Atoi(p[1:])
		if err != nil {
			return "", fmt.Errorf("password=%s: bad file descriptor", p)
		}
		f := os.NewFile(uintptr(fd), "password")
		if f == nil {
			return "", fmt.Errorf("password=%s: bad file descriptor", p)
		}
		b, err := io.ReadAll(f)
		f.Close()
		return strings.TrimRight(string(b), "\r\n"), err
	}
	return p, nil
}

// checkVddk validates the plugin parameters against the lab, in the order
// VDDK would trip over them; it returns the file to serve.
// linkFault: what the lab's faults do to the NFC link of this stand-in.
type linkFault struct {
	dropAfter  int64 // cut every connection after this many bytes
	stallAfter int64 // stop replying after this many bytes, connections kept open
}

func checkVddk(o *nbdkitOpts) (path string, lf linkFault, code int) {
	p := o.params
	for _, k := range []string{"server", "user", "password", "thumbprint", "vm", "file"} {
		if p[k] == "" {
			return "", lf, nbdkitErr("%s parameter is required", k)
		}
	}
	known := map[string]bool{"libdir": true, "server": true, "user": true, "password": true, "thumbprint": true,
		"vm": true, "snapshot": true, "transports": true, "compression": true, "config": true, "file": true,
		"port": true, "cookie": true, "nfchostport": true, "single-link": true, "unbuffered": true, "create": false}
	for k := range p {
		if !known[k] {
			return "", lf, nbdkitErr("unknown parameter '%s'", k)
		}
	}
	if t := p["transports"]; t != "" {
		for _, m := range strings.Split(t, ":") {
			if m != "file" && m != "san" && m != "hotadd" && m != "nbd" && m != "nbdssl" {
				return "", lf, nbdkitErr("transports: unknown transport mode '%s'", m)
			}
		}
	}
	if c := p["compression"]; c != "" && c != "none" && c != "zlib" && c != "fastlz" && c != "skipz" {
		return "", lf, nbdkitErr("compression: unknown compression type '%s'", c)
	}
	if c := p["config"]; c != "" && !fileExists(c) {
		return "", lf, nbdkitErr("config: %s: No such file or directory", c)
	}
	if !strings.HasPrefix(p["vm"], "moref=") {
		return "", lf, nbdkitErr("vm parameter must be moref=vm-NN for a remote connection")
	}
	state := os.Getenv("V2K_LAB_STATE")
	if state == "" {
		return "", lf, nbdkitErr("V2K_LAB_STATE is not set: the v2k lab stand-in cannot find its lab")
	}
	var info labInfo
	data, err := os.ReadFile(filepath.Join(state, "lab.json"))
	if err == nil {
		err = json.Unmarshal(data, &info)
	}
	if err != nil {
		return "", lf, nbdkitErr("VixDiskLib_ConnectEx: Cannot connect to host %s (no lab: %v)", p["server"], err)
	}
	labHost := strings.Split(strings.TrimPrefix(info.URL, "https://"), "/")[0]
	labHost, _, _ = net.SplitHostPort(labHost)
	if s := p["server"]; s != labHost && s != info.Host && s != "localhost" {
		return "", lf, nbdkitErr("VixDiskLib_ConnectEx: Cannot connect to host %s: host name not resolved", s)
	}
	if !strings.EqualFold(p["thumbprint"], info.Thumbprint) {
		return "", lf, nbdkitErr("VixDiskLib_ConnectEx: Cannot connect to host %s: SSL thumbprint mismatch (expected %s)", p["server"], info.Thumbprint)
	}
	pass, err := readPassword(p["password"])
	if err != nil {
		return "", lf, nbdkitErr("%v", err)
	}
	if p["user"] != info.Username || pass != info.Password {
		return "", lf, nbdkitErr("VixDiskLib_ConnectEx: Cannot connect to host %s: Cannot complete login due to an incorrect user name or password", p["server"])
	}
	var res struct {
		Path       string `json:"path"`
		DropAfter  int64  `json:"drop_after"`
		StallAfter int64  `json:"stall_after"`
	}
	err = labCall(state, "/lab/resolve", resolveReq{VM: strings.TrimPrefix(p["vm"], "moref="), Snapshot: p["snapshot"], File: p["file"]}, &res)
	if err != nil {
		return "", lf, nbdkitErr("VixDiskLib_Open: %s: %v", p["file"], err)
	}
	return res.Path, linkFault{res.DropAfter, res.StallAfter}, 0
}

func runVddk(o *nbdkitOpts) int {
	if o.exitWithParent {
		// PR_SET_PDEATHSIG: die with the process that started us.
		_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
		if os.Getppid() == 1 {
			return 1
		}
	}
	path, lf, code := checkVddk(o)
	if code != 0 {
		return code
	}
	ln, err := listenNbdkit(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nbdkit: %v\n", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "v2k-lab-nbdkit")
	if err != nil {
		return 1
	}
	defer os.RemoveAll(tmp)
	// qemu-nbd serves the frozen VMDK chain; many connections so nbdcopy
	// can use multi-conn as it does with nbdkit.
	q, err := qemuNBD(tmp, "-r", "-f", "vmdk", "--shared=0", path)
	if err != nil {
		q, err = qemuNBD(tmp, "-r", "-f", "vmdk", "--shared=64", path)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nbdkit: vddk[1]: error: VixDiskLib_Open: %v\n", err)
		return 1
	}
	cleanup := func() {
		ln.Close()
		q.Stop()
		if o.sock != "" {
			os.Remove(o.sock)
		}
		if o.pidfile != "" {
			os.Remove(o.pidfile)
		}
	}
	if o.pidfile != "" {
		tmpf := o.pidfile + ".tmp"
		if err := os.WriteFile(tmpf, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil || os.Rename(tmpf, o.pidfile) != nil {
			cleanup()
			fmt.Fprintf(os.Stderr, "nbdkit: %s: cannot write pidfile\n", o.pidfile)
			return 1
		}
	}
	if f := os.NewFile(3, "ready"); os.Getenv("V2K_LAB_NBDKIT_CHILD") != "" && f != nil {
		f.Write([]byte{1})
		f.Close()
	}
	if o.verbose {
		fmt.Fprintf(os.Stderr, "nbdkit: vddk[1]: debug: serving %s read-only\n", path)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	var stopping int32
	go func() {
		<-sig
		// Stopping qemu-nbd below must not look like it died.
		atomic.StoreInt32(&stopping, 1)
		cleanup()
		os.Exit(0)
	}()
	go func() {
		// qemu-nbd dying leaves nothing to serve: go down with it.
		<-q.done
		if atomic.LoadInt32(&stopping) == 1 {
			select {} // the signal handler exits
		}
		cleanup()
		os.Exit(1)
	}()
	proxy(ln, q.Sock, lf)
	cleanup()
	return 0
}

// listenNbdkit takes a socket-activated listener (LISTEN_FDS, as libnbd's
// nbd_connect_systemd_socket_activation passes it) or makes -U SOCKET.
func listenNbdkit(o *nbdkitOpts) (net.Listener, error) {
	if os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) && os.Getenv("LISTEN_FDS") == "1" {
		return net.FileListener(os.NewFile(3, "LISTEN_FD_3"))
	}
	if o.sock == "" {
		return nil, fmt.Errorf("the v2k lab stand-in needs -U SOCKET or socket activation")
	}
	_ = os.Remove(o.sock)
	return net.Listen("unix", o.sock)
}

// proxy copies each client connection to qemu-nbd. After lf.dropAfter
// bytes sent to clients (if set) it cuts every open connection once, as a
// broken NFC link would; after lf.stallAfter bytes it stops sending
// anything while keeping the connections open, as a hung one does.
func proxy(ln net.Listener, backend string, lf linkFault) {
	var sent int64
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	dropAfter := lf.dropAfter
	dropped := dropAfter <= 0
	stalled := false
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			b, err := dialRetry(backend)
			if err != nil {
				return
			}
			defer b.Close()
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			defer func() { mu.Lock(); delete(conns, c); mu.Unlock() }()
			go func() { _, _ = io.Copy(b, c); b.Close() }()
			buf := make([]byte, 256<<10)
			for {
				n, err := b.Read(buf)
				if n > 0 {
					chunk := buf[:n]
					mu.Lock()
					if lf.stallAfter > 0 && (stalled || sent+int64(n) >= lf.stallAfter) {
						if !stalled {
							stalled = true
							fmt.Fprintf(os.Stderr, "nbdkit: vddk[1]: error: [NFC ERROR] no reply from the host after %d bytes (stalled by v2k-lab)\n", lf.stallAfter)
						}
						mu.Unlock()
						continue // read on, send nothing: until the client hangs up
					}
					if !dropped && sent+int64(n) >= dropAfter {
						chunk = buf[:dropAfter-sent]
						dropped = true
						_, _ = c.Write(chunk)
						fmt.Fprintf(os.Stderr, "nbdkit: vddk[1]: error: [NFC ERROR] NfcNetTcpRead: connection dropped by v2k-lab after %d bytes\n", dropAfter)
						for other := range conns {
							other.Close()
						}
						mu.Unlock()
						return
					}
					atomic.AddInt64(&sent, int64(n))
					mu.Unlock()
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}(c)
	}
}

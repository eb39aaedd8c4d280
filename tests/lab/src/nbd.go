package main

// A minimal NBD client: enough to push guest writes into a VMDK chain
// through qemu-nbd (so qemu's own VMDK code allocates grains and copies on
// write) and for the tests to read back what the nbdkit stand-in serves.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

const (
	nbdOptExportName = 1
	nbdCmdRead       = 0
	nbdCmdWrite      = 1
	nbdCmdDisc       = 2
	nbdCmdFlush      = 3
	nbdReqMagic      = 0x25609513
	nbdReplyMagic    = 0x67446698
)

type nbdClient struct {
	conn net.Conn
	Size uint64
}

func nbdDial(sock string) (*nbdClient, error) {
	conn, err := dialRetry(sock)
	if err != nil {
		return nil, err
	}
	c := &nbdClient{conn: conn}
	if err := c.handshake(); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *nbdClient) handshake() error {
	var hello struct {
		Magic, Opt uint64
		Flags      uint16
	}
	if err := binary.Read(c.conn, binary.BigEndian, &hello); err != nil {
		return fmt.Errorf("nbd handshake: %v", err)
	}
	if hello.Magic != 0x4e42444d41474943 || hello.Opt != 0x49484156454f5054 {
		return errors.New("nbd handshake: not a newstyle server")
	}
	// fixed newstyle + no zeroes; then the oldest option that every server
	// has: NBD_OPT_EXPORT_NAME with the default (empty) export.
	msg := make([]byte, 4+8+4+4)
	binary.BigEndian.PutUint32(msg[0:], 3)
	binary.BigEndian.PutUint64(msg[4:], 0x49484156454f5054)
	binary.BigEndian.PutUint32(msg[12:], nbdOptExportName)
	binary.BigEndian.PutUint32(msg[16:], 0)
	if _, err := c.conn.Write(msg); err != nil {
		return err
	}
	var info struct {
		Size  uint64
		Flags uint16
	}
	if err := binary.Read(c.conn, binary.BigEndian, &info); err != nil {
		return fmt.Errorf("nbd export: %v", err)
	}
	c.Size = info.Size
	return nil
}

func (c *nbdClient) request(typ uint16, handle, off uint64, length uint32, data []byte) error {
	hdr := make([]byte, 28, 28+len(data))
	binary.BigEndian.PutUint32(hdr[0:], nbdReqMagic)
	binary.BigEndian.PutUint16(hdr[6:], typ)
	binary.BigEndian.PutUint64(hdr[8:], handle)
	binary.BigEndian.PutUint64(hdr[16:], off)
	binary.BigEndian.PutUint32(hdr[24:], length)
	_, err := c.conn.Write(append(hdr, data...))
	return err
}

func (c *nbdClient) reply(data []byte) (uint64, error) {
	var r struct {
		Magic, Err uint32
		Handle     uint64
	}
	if err := binary.Read(c.conn, binary.BigEndian, &r); err != nil {
		return 0, err
	}
	if r.Magic != nbdReplyMagic {
		return 0, fmt.Errorf("nbd: bad reply magic %#x", r.Magic)
	}
	if r.Err != 0 {
		return r.Handle, fmt.Errorf("nbd: server error %d", r.Err)
	}
	if data != nil {
		_, err := io.ReadFull(c.conn, data)
		return r.Handle, err
	}
	return r.Handle, nil
}

// WriteMany sends all writes pipelined, then a flush, and checks every reply.
func (c *nbdClient) WriteMany(n int, at func(i int) (int64, []byte)) error {
	errc := make(chan error, 1)
	go func() {
		for i := 0; i <= n; i++ {
			if _, err := c.reply(nil); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := 0; i < n; i++ {
		off, data := at(i)
		if err := c.request(nbdCmdWrite, uint64(i), uint64(off), uint32(len(data)), data); err != nil {
			return err
		}
	}
	if err := c.request(nbdCmdFlush, uint64(n), 0, 0, nil); err != nil {
		return err
	}
	return <-errc
}

func (c *nbdClient) ReadAt(p []byte, off int64) error {
	if err := c.request(nbdCmdRead, 1, uint64(off), uint32(len(p)), nil); err != nil {
		return err
	}
	_, err := c.reply(p)
	return err
}

func (c *nbdClient) Close() error {
	_ = c.request(nbdCmdDisc, 0, 0, 0, nil)
	return c.conn.Close()
}

// nbdProc is a qemu-nbd child on a private UNIX socket.
type nbdProc struct {
	cmd  *exec.Cmd
	Sock string
	dir  string
	done chan struct{}
}

// qemuNBD starts qemu-nbd (with --persistent, so probing the socket does not
// use up its client) and waits until the socket accepts connections.
func qemuNBD(tmpdir string, args ...string) (*nbdProc, error) {
	dir, err := os.MkdirTemp(tmpdir, "nbd")
	if err != nil {
		return nil, err
	}
	p := &nbdProc{Sock: filepath.Join(dir, "s"), dir: dir, done: make(chan struct{})}
	p.cmd = exec.Command("qemu-nbd", append([]string{"--persistent", "--socket=" + p.Sock}, args...)...)
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	for i := 0; i < 2000; i++ {
		select {
		case <-p.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("qemu-nbd %v exited early", args)
		default:
		}
		// Not a probe connection: qemu-nbd would log its failed handshake.
		if fileExists(p.Sock) {
			return p, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.Stop()
	return nil, errors.New("qemu-nbd did not start")
}

// Stop ends qemu-nbd and waits for it, so its files are closed (and VMDK
// descriptors updated) before anyone else opens them.
func (p *nbdProc) Stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	os.RemoveAll(p.dir)
}

// dialRetry connects to a UNIX socket that may exist a moment before its
// server listens on it.
func dialRetry(sock string) (net.Conn, error) {
	for i := 0; ; i++ {
		c, err := net.Dial("unix", sock)
		if err == nil || i == 200 {
			return c, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

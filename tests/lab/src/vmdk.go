package main

// VMDK files on the lab's datastores. qemu-img creates and commits them so
// every chain stays readable by qemu; the lab only edits descriptors itself
// (qemu cannot rebase a VMDK) and writes guest data through qemu-nbd.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// adapterType is the descriptor's ddb.adapterType for a controller kind
// (qemu accepts only these four; ESXi writes the same names).
func adapterType(controller string) string {
	switch controller {
	case "ide":
		return "ide"
	case "buslogic":
		return "buslogic"
	default:
		return "lsilogic"
	}
}

// createBaseDisk makes dir/name.vmdk (monolithicFlat descriptor) and its
// -flat extent, optionally starting with an image's bytes. It returns the
// areas of the disk that count as allocated for changeId "*".
func createBaseDisk(dir, name string, d DiskSpec) ([]extent, error) {
	path := filepath.Join(dir, name+".vmdk")
	if err := run("qemu-img", "create", "-q", "-f", "vmdk", "-o",
		"subformat=monolithicFlat,adapter_type="+adapterType(d.Controller), path,
		fmt.Sprint(d.Size)); err != nil {
		return nil, err
	}
	flat := filepath.Join(dir, name+"-flat.vmdk")
	if d.Provisioning == "thick" {
		f, err := os.OpenFile(flat, os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		// Thick disks occupy their full size, and QueryChangedDiskAreas
		// with "*" reports all of it, as on VMFS.
		_ = syscall.Fallocate(int(f.Fd()), 0, 0, d.Size)
		f.Close()
	}
	var alloc []extent
	if d.Image != "" {
		var err error
		if alloc, err = copyImage(d.Image, flat); err != nil {
			return nil, err
		}
	}
	if d.Provisioning == "thick" {
		alloc = []extent{{0, d.Size}}
	}
	return alloc, nil
}

// copyImage copies src into the flat extent, skipping zero blocks so thin
// disks stay sparse, and returns the non-zero 64 KiB blocks it wrote.
func copyImage(src, flat string) ([]extent, error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	out, err := os.OpenFile(flat, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	const bs = 64 << 10
	buf := make([]byte, bs)
	var alloc []extent
	for off := int64(0); ; off += bs {
		n, err := io.ReadFull(in, buf)
		if n > 0 && !allZero(buf[:n]) {
			if _, err := out.WriteAt(buf[:n], off); err != nil {
				return nil, err
			}
			alloc = append(alloc, extent{off, int64(n)})
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return mergeExtents(alloc), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// createDelta makes dir/child (monolithicSparse) on top of dir/parent, the
// way a snapshot starts a new delta on ESXi. Names are relative so the chain
// survives being moved and qemu resolves it next to the child.
func createDelta(dir, parent, child string, size int64) error {
	cmd := exec.Command("qemu-img", "create", "-q", "-f", "vmdk", "-b", parent, "-F", "vmdk", child, fmt.Sprint(size))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img create %s: %v: %s", child, err, bytes.TrimSpace(out))
	}
	return nil
}

// commitDelta merges dir/child into its parent (snapshot consolidation).
func commitDelta(dir, child string) error {
	cmd := exec.Command("qemu-img", "commit", "-q", "-f", "vmdk", "-d", child)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img commit %s: %v: %s", child, err, bytes.TrimSpace(out))
	}
	return nil
}

// descriptor locates the text descriptor of a VMDK: the whole file for a
// flat descriptor, or the embedded area of a sparse extent.
func descriptor(path string) (text []byte, off, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	hdr := make([]byte, 512)
	n, _ := io.ReadFull(f, hdr)
	if n >= 4 && string(hdr[:4]) == "KDMV" {
		// SparseExtentHeader: descriptorOffset and descriptorSize (sectors)
		// at bytes 28 and 36, little-endian.
		off = int64(binary.LittleEndian.Uint64(hdr[28:])) * 512
		size = int64(binary.LittleEndian.Uint64(hdr[36:])) * 512
		text = make([]byte, size)
		if _, err := f.ReadAt(text, off); err != nil {
			return nil, 0, 0, err
		}
		if i := bytes.IndexByte(text, 0); i >= 0 {
			text = text[:i]
		}
		return text, off, size, nil
	}
	st, _ := f.Stat()
	text = make([]byte, st.Size())
	_, err = f.ReadAt(text, 0)
	return text, 0, -1, err
}

var cidRE = regexp.MustCompile(`(?m)^CID=([0-9a-fA-F]+)\s*$`)

func readCID(path string) (string, error) {
	text, _, _, err := descriptor(path)
	if err != nil {
		return "", err
	}
	m := cidRE.FindSubmatch(text)
	if m == nil {
		return "", fmt.Errorf("%s: no CID in descriptor", path)
	}
	return string(m[1]), nil
}

// setParent repoints a sparse delta at another parent file. qemu refuses to
// read a delta whose parentCID differs from its parent's CID, so the CID is
// copied from the new parent, as ESXi does when it consolidates.
func setParent(dir, child, parent string) error {
	path := filepath.Join(dir, child)
	cid, err := readCID(filepath.Join(dir, parent))
	if err != nil {
		return err
	}
	text, off, size, err := descriptor(path)
	if err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("%s: not a sparse delta", path)
	}
	s := regexp.MustCompile(`(?m)^parentCID=.*$`).ReplaceAllString(string(text), "parentCID="+cid)
	s = regexp.MustCompile(`(?m)^parentFileNameHint=.*$`).ReplaceAllString(s, fmt.Sprintf("parentFileNameHint=%q", parent))
	if int64(len(s)) > size {
		return fmt.Errorf("%s: descriptor does not fit", path)
	}
	buf := make([]byte, size)
	copy(buf, s)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(buf, off); err != nil {
		return err
	}
	return f.Sync()
}

// removeVMDK deletes a descriptor and, for flat disks, its extent.
func removeVMDK(dir, name string) {
	_ = os.Remove(filepath.Join(dir, name))
	_ = os.Remove(filepath.Join(dir, strings.TrimSuffix(name, ".vmdk")+"-flat.vmdk"))
}

// Command v2k-lab is the vSphere lab that v2k's tests stand on: VMware's
// Go simulator (vCenter + ESXi) extended with real VMDK chains, changed
// block tracking, fault injection and an nbdkit/VDDK stand-in.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
)

const usage = `usage: v2k-lab COMMAND [options]
  serve  --state DIR --spec SPEC.json [--listen 127.0.0.1:PORT]
  write  --state DIR --vm NAME --disk N --offset BYTES --length BYTES
         [--count K --stride BYTES] (--seed S | --zero | --from FILE)
  info   --state DIR --vm NAME
  power  --state DIR --vm NAME on|off
  fault  --state DIR (--method M --nth N --fault TYPE [--message TEXT]
         | --method M --delay SECONDS | --task-fail M [--fault TYPE]
         | --expire-sessions | --nbd-drop-after BYTES | --nbd-stall-after BYTES
         | --deny-privileges ID,... | --clear)
  nbdkit [nbdkit options] vddk key=value ...   (finds the lab via V2K_LAB_STATE)
--vm: NAME (when no other VM has it), FOLDER/NAME or /DC/vm/FOLDER/NAME
`

func main() {
	log.SetFlags(0)
	log.SetPrefix("v2k-lab: ")
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		err = cmdServe(args)
	case "write":
		err = cmdWrite(args)
	case "info":
		err = cmdInfo(args)
	case "power":
		err = cmdPower(args)
	case "fault":
		err = cmdFault(args)
	case "nbdkit":
		os.Exit(cmdNbdkit(args))
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		err = fmt.Errorf("unknown command %q\n%s", os.Args[1], usage)
	}
	if err != nil {
		log.Printf("%s: %v", os.Args[1], err)
		os.Exit(1)
	}
}

func stateFlag(fs *flag.FlagSet) *string {
	return fs.String("state", os.Getenv("V2K_LAB_STATE"), "lab state directory (default $V2K_LAB_STATE)")
}

func needState(dir string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("--state DIR is required")
	}
	return filepath.Abs(dir)
}

func printJSON(v interface{}) {
	if raw, ok := v.(*json.RawMessage); ok {
		os.Stdout.Write(*raw)
		return
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Println(string(b))
}

func cmdWrite(args []string) error {
	fs := flag.NewFlagSet("write", flag.ContinueOnError)
	state := stateFlag(fs)
	var q writeReq
	fs.StringVar(&q.VM, "vm", "", "VM: NAME, FOLDER/NAME or /DC/vm/FOLDER/NAME")
	fs.IntVar(&q.Disk, "disk", 0, "disk index in spec order")
	fs.Int64Var(&q.Offset, "offset", 0, "byte offset")
	fs.Int64Var(&q.Length, "length", 0, "bytes per write")
	fs.IntVar(&q.Count, "count", 1, "number of writes")
	fs.Int64Var(&q.Stride, "stride", 0, "bytes between the starts of writes")
	seed := fs.String("seed", "", "pseudo-random bytes from this seed")
	fs.BoolVar(&q.Zero, "zero", false, "write zeros")
	fs.StringVar(&q.From, "from", "", "write this file's bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := needState(*state)
	if err != nil {
		return err
	}
	n := 0
	if *seed != "" {
		s, err := strconv.ParseUint(*seed, 0, 64)
		if err != nil {
			return fmt.Errorf("--seed: %v", err)
		}
		q.Seed = &s
		n++
	}
	if q.Zero {
		n++
	}
	if q.From != "" {
		if q.From, err = filepath.Abs(q.From); err != nil {
			return err
		}
		n++
	}
	if n != 1 {
		return fmt.Errorf("exactly one of --seed, --zero, --from is needed")
	}
	if q.VM == "" {
		return fmt.Errorf("--vm is required")
	}
	if q.Count > 1 && q.Stride == 0 {
		return fmt.Errorf("--count needs --stride")
	}
	var res json.RawMessage
	if err := labCall(dir, "/lab/write", &q, &res); err != nil {
		return err
	}
	return nil
}

func cmdInfo(args []string) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	state := stateFlag(fs)
	vm := fs.String("vm", "", "VM: NAME, FOLDER/NAME or /DC/vm/FOLDER/NAME")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := needState(*state)
	if err != nil {
		return err
	}
	var res json.RawMessage
	if err := labCall(dir, "/lab/info", map[string]string{"vm": *vm}, &res); err != nil {
		return err
	}
	var v interface{}
	_ = json.Unmarshal(res, &v)
	printJSON(v)
	return nil
}

func cmdPower(args []string) error {
	fs := flag.NewFlagSet("power", flag.ContinueOnError)
	state := stateFlag(fs)
	vm := fs.String("vm", "", "VM: NAME, FOLDER/NAME or /DC/vm/FOLDER/NAME")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := needState(*state)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 || (fs.Arg(0) != "on" && fs.Arg(0) != "off") {
		return fmt.Errorf("power needs on or off")
	}
	var res json.RawMessage
	return labCall(dir, "/lab/power", map[string]interface{}{"vm": *vm, "on": fs.Arg(0) == "on"}, &res)
}

func cmdFault(args []string) error {
	fs := flag.NewFlagSet("fault", flag.ContinueOnError)
	state := stateFlag(fs)
	var q faultReq
	fs.StringVar(&q.Method, "method", "", "SOAP method name")
	fs.IntVar(&q.Nth, "nth", 1, "the Nth call from now fails")
	fs.StringVar(&q.Fault, "fault", "", "fault type (InvalidArgument, FileFault, NotAuthenticated, SystemError, ...)")
	fs.StringVar(&q.Message, "message", "", "fault message")
	fs.Float64Var(&q.Delay, "delay", 0, "delay every call of --method by SECONDS")
	fs.StringVar(&q.TaskFail, "task-fail", "", "the next task of this method ends in error")
	fs.BoolVar(&q.ExpireSessions, "expire-sessions", false, "invalidate every current session")
	fs.Int64Var(&q.NBDDropAfter, "nbd-drop-after", 0, "next nbdkit stand-in connection drops after BYTES")
	fs.Int64Var(&q.NBDStallAfter, "nbd-stall-after", 0, "next nbdkit stand-in stops replying (keeping its connections open) after BYTES")
	fs.StringVar(&q.DenyPrivileges, "deny-privileges", "", "privilege ids (comma-separated) the user no longer has")
	fs.BoolVar(&q.Clear, "clear", false, "remove every injected fault")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := needState(*state)
	if err != nil {
		return err
	}
	var res json.RawMessage
	return labCall(dir, "/lab/fault", &q, &res)
}

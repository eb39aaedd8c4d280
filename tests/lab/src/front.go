package main

// The HTTP handler in front of the simulator's /sdk: fault injection,
// session expiry, and routing of the VM methods the lab answers itself.
// Everything else reaches the simulator untouched.

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

type faultRule struct {
	Method  string `json:"method"`
	Nth     int    `json:"nth"`
	Fault   string `json:"fault"`
	Message string `json:"message"`
	seen    int
}

type faultState struct {
	mu       sync.Mutex
	rules    []*faultRule
	delays   map[string]time.Duration
	taskFail map[string]*faultRule
	seen     map[string]bool // session cookies handed out or presented
	expired  map[string]bool
	nbdDrop  int64           // next stand-in connection drops after this many bytes; 0 = never
	nbdStall int64           // next stand-in connection stops replying after this many bytes
	denied   map[string]bool // privileges FetchUserPrivilegeOnEntities leaves out
}

// loginMethods work without a session, so an expired cookie is dropped
// from them instead of failing them: a new Login works.
var loginMethods = map[string]bool{
	"Login": true, "LoginByToken": true, "LoginExtensionByCertificate": true,
	"RetrieveServiceContent": true, "CloneSession": true,
}

var thisTypeRE = regexp.MustCompile(`(<_this\b[^>]*\btype=")VirtualMachine(")`)

type cookieWatcher struct {
	http.ResponseWriter
	f *faultState
}

func (w cookieWatcher) WriteHeader(code int) {
	for _, c := range (&http.Response{Header: w.Header()}).Cookies() {
		if c.Name == soap.SessionCookieName {
			w.f.mu.Lock()
			w.f.seen[c.Value] = true
			w.f.mu.Unlock()
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (l *Lab) serveSDK(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		l.svc.ServeSDK(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	method, err := simulator.UnmarshalBody(types.TypeFunc(), body)
	if err != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		l.svc.ServeSDK(w, r) // let the simulator report the broken request
		return
	}
	name := method.Name
	f := &l.faults

	f.mu.Lock()
	if c, err := r.Cookie(soap.SessionCookieName); err == nil {
		if f.expired[c.Value] {
			if !loginMethods[name] {
				f.mu.Unlock()
				writeFault(w, "The session is not authenticated.", &types.NotAuthenticated{
					NoPermission: types.NoPermission{Object: method.This, PrivilegeId: "System.View"}})
				return
			}
			r.Header.Del("Cookie")
		} else {
			f.seen[c.Value] = true
		}
	}
	delay := f.delays[name]
	var inject *faultRule
	for i, rule := range f.rules {
		if rule.Method == name {
			rule.seen++
			if rule.seen == rule.Nth {
				inject = rule
				f.rules = append(f.rules[:i], f.rules[i+1:]...)
				break
			}
		}
	}
	taskFail := f.taskFail[name]
	delete(f.taskFail, name)
	f.mu.Unlock()

	if delay > 0 {
		time.Sleep(delay)
	}
	if inject != nil {
		log.Printf("fault injected: %s -> %s", name, inject.Fault)
		writeFault(w, inject.Message, newFault(inject.Fault))
		return
	}
	if taskFail != nil {
		log.Printf("task failure injected: %s -> %s", name, taskFail.Fault)
		ref := failedTask(method.This, name, newFault(taskFail.Fault), taskFail.Message)
		writeResponse(w, name+"Response", fmt.Sprintf(`<returnval type="Task">%s</returnval>`, ref.Value))
		return
	}
	switch name {
	case "RevertToSnapshot_Task", "RevertToCurrentSnapshot_Task":
		// The lab keeps snapshot chains linear; v2k never reverts.
		writeFault(w, "The operation is not supported by the v2k lab.", &types.NotSupported{})
		return
	}
	if name == "RemoveSnapshot_Task" || name == "RemoveAllSnapshots_Task" {
		l.protectDisks(method.This)
	}
	if routedMethods[name] && method.This.Type == "VirtualMachine" {
		l.mu.Lock()
		_, ok := l.byRef[method.This]
		l.mu.Unlock()
		if ok {
			body = thisTypeRE.ReplaceAll(body, []byte("${1}"+endpointType+"${2}"))
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	if strings.HasPrefix(name, "RetrieveProperties") || strings.HasPrefix(name, "ContinueRetrieve") ||
		strings.HasPrefix(name, "WaitForUpdates") || name == "CheckForUpdates" {
		bw := &bufferedWriter{ResponseWriter: cookieWatcher{w, f}}
		l.svc.ServeSDK(bw, r)
		bw.flush(fixByteArrays)
		return
	}
	if name == "FetchUserPrivilegeOnEntities" {
		f.mu.Lock()
		denied := make([]string, 0, len(f.denied))
		for p := range f.denied {
			denied = append(denied, p)
		}
		f.mu.Unlock()
		bw := &bufferedWriter{ResponseWriter: cookieWatcher{w, f}}
		l.svc.ServeSDK(bw, r)
		bw.flush(func(b []byte) []byte { return withoutPrivileges(b, denied) })
		return
	}
	l.svc.ServeSDK(cookieWatcher{w, f}, r)
}

// withoutPrivileges drops the denied ids from a privileges answer: the
// simulator grants its user everything, a real account often less.
func withoutPrivileges(body []byte, denied []string) []byte {
	for _, p := range denied {
		body = bytes.ReplaceAll(body, []byte("<privileges>"+p+"</privileges>"), nil)
	}
	return body
}

// bufferedWriter holds a response so it can be edited before it is sent.
type bufferedWriter struct {
	http.ResponseWriter
	code int
	buf  bytes.Buffer
}

func (b *bufferedWriter) WriteHeader(code int)        { b.code = code }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferedWriter) flush(edit func([]byte) []byte) {
	out := edit(b.buf.Bytes())
	b.ResponseWriter.Header().Set("Content-Length", fmt.Sprint(len(out)))
	if b.code == 0 {
		b.code = http.StatusOK
	}
	b.ResponseWriter.WriteHeader(b.code)
	_, _ = b.ResponseWriter.Write(out)
}

var certElemRE = regexp.MustCompile(`<certificate>([^<]*)</certificate>`)

// fixByteArrays re-encodes HostConfigInfo.certificate the way vSphere
// sends an xsd:byte array, one element per byte. The simulator's encoder
// writes []byte as one text node, which pyvmomi (rightly) cannot parse.
func fixByteArrays(body []byte) []byte {
	if !bytes.Contains(body, []byte("<certificate>")) {
		return body
	}
	return certElemRE.ReplaceAllFunc(body, func(m []byte) []byte {
		var text struct {
			S string `xml:",chardata"`
		}
		_ = xml.Unmarshal([]byte("<c>"+string(certElemRE.FindSubmatch(m)[1])+"</c>"), &text)
		var out bytes.Buffer
		for _, c := range []byte(text.S) {
			fmt.Fprintf(&out, "<certificate>%d</certificate>", int8(c))
		}
		return out.Bytes()
	})
}

// newFault makes a fault of a vim25 type named by the test (InvalidArgument,
// FileFault, NotAuthenticated, SystemError, ...).
func newFault(kind string) types.BaseMethodFault {
	if t, ok := types.TypeFunc()(kind); ok {
		if f, ok := reflect.New(t).Interface().(types.BaseMethodFault); ok {
			if se, ok := f.(*types.SystemError); ok {
				se.Reason = "injected by v2k-lab"
			}
			return f
		}
	}
	return &types.SystemError{Reason: "unknown fault type " + kind}
}

const envelopeStart = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>`
const envelopeEnd = `</soapenv:Body></soapenv:Envelope>`

// writeFault sends a SOAP fault the way vCenter encodes it: faultstring,
// and a detail element <KindFault xsi:type="Kind"> with the fault's fields.
func writeFault(w http.ResponseWriter, msg string, fault types.BaseMethodFault) {
	kind := reflect.TypeOf(fault).Elem().Name()
	var detail bytes.Buffer
	e := xml.NewEncoder(&detail)
	start := xml.StartElement{Name: xml.Name{Local: kind + "Fault"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "xmlns"}, Value: "urn:vim25"},
		{Name: xml.Name{Local: "xsi:type"}, Value: kind},
	}}
	if err := e.EncodeElement(fault, start); err != nil {
		log.Printf("encoding %s: %v", kind, err)
	}
	_ = e.Flush()
	if msg == "" {
		msg = kind
	}
	var esc bytes.Buffer
	_ = xml.EscapeText(&esc, []byte(msg))
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, "%s<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail>%s</detail></soapenv:Fault>%s",
		envelopeStart, esc.String(), detail.String(), envelopeEnd)
}

func writeResponse(w http.ResponseWriter, element, inner string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, `%s<%s xmlns="urn:vim25">%s</%s>%s`, envelopeStart, element, inner, element, envelopeEnd)
}

// protectDisks drops the VMDKs from the VM's layoutEx.file before the
// simulator removes a snapshot: it deletes the files whose layout key
// equals the snapshot's data key, and those keys are reused once the lab
// has replaced delta files, so it would delete a disk. The lab removes
// VMDKs itself (consolidation); the next reconfigure lists them again.
func (l *Lab) protectDisks(this types.ManagedObjectReference) {
	vmRef := this
	if s, ok := simulator.Map.Get(this).(*simulator.VirtualMachineSnapshot); ok {
		vmRef = s.Vm
	}
	vm, ok := simulator.Map.Get(vmRef).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	simulator.Map.WithLock(vm, func() {
		var keep []types.VirtualMachineFileLayoutExFileInfo
		for _, f := range vm.LayoutEx.File {
			if !strings.HasSuffix(f.Name, ".vmdk") {
				keep = append(keep, f)
			}
		}
		vm.LayoutEx.File = keep
	})
}

func (l *Lab) expireSessions() {
	f := &l.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.seen {
		f.expired[k] = true
	}
	f.seen = map[string]bool{}
}

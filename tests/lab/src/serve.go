package main

// `v2k-lab serve`: the simulator behind the lab's front handler over HTTPS,
// with a certificate made for the state directory.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

var bg = context.Background()

type labInfo struct {
	URL        string            `json:"url"`
	Username   string            `json:"username"`
	Password   string            `json:"password"`
	Thumbprint string            `json:"thumbprint"`
	Host       string            `json:"host"`
	Datastores map[string]string `json:"datastores"`
	PID        int               `json:"pid"`
}

func certPEM(state string) []byte {
	b, _ := os.ReadFile(filepath.Join(state, "cert.pem"))
	return b
}

// makeCert creates a self-signed certificate for the lab (valid for
// 127.0.0.1, localhost and the spec's host name) and returns its SHA-1
// thumbprint in the colon form nbdkit's vddk plugin takes.
func makeCert(state, host string) (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"v2k lab"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{host, "localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certP := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyP := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	if err := os.WriteFile(filepath.Join(state, "cert.pem"), certP, 0o644); err != nil {
		return tls.Certificate{}, "", err
	}
	if err := os.WriteFile(filepath.Join(state, "key.pem"), keyP, 0o600); err != nil {
		return tls.Certificate{}, "", err
	}
	cert, err := tls.X509KeyPair(certP, keyP)
	return cert, thumbprint(der), err
}

func thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func cmdServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	state := fs.String("state", "", "state directory")
	specPath := fs.String("spec", "", "spec JSON")
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *state == "" || *specPath == "" {
		return fmt.Errorf("serve needs --state DIR and --spec SPEC.json")
	}
	spec, err := loadSpec(*specPath)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(*state)
	if err != nil {
		return err
	}
	// A state directory belongs to one run: leftovers would confuse tests.
	for _, f := range []string{"lab.json", "lab.env"} {
		_ = os.Remove(filepath.Join(dir, f))
	}
	_ = os.RemoveAll(filepath.Join(dir, "datastores"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	l := &Lab{spec: spec, state: dir, dsDirs: map[string]string{}, vms: map[string]*labVM{},
		byRef: map[types.ManagedObjectReference]*labVM{}, user: "administrator@vsphere.local", pass: "v2k-Lab-pass1"}
	l.faults = faultState{delays: map[string]time.Duration{}, taskFail: map[string]*faultRule{},
		seen: map[string]bool{}, expired: map[string]bool{}, denied: map[string]bool{}}
	cert, thumb, err := makeCert(dir, spec.Host)
	if err != nil {
		return err
	}
	l.thumb = thumb
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	simulator.Trace = os.Getenv("V2K_LAB_TRACE") != "" // SOAP traffic to stderr
	if err := l.buildInventory(bg); err != nil {
		return err
	}
	for _, vm := range l.vms {
		simulator.Map.Put(&vmEndpoint{Self: types.ManagedObjectReference{Type: endpointType, Value: vm.ref.Value}, l: l, vm: vm})
	}
	// validLogin compares against Listen.User; RegisterSDK maps /sdk.
	l.svc.Listen = &url.URL{Host: ln.Addr().String(), User: url.UserPassword(l.user, l.pass)}
	l.svc.RegisterSDK(simulator.Map)
	mux := http.NewServeMux()
	mux.HandleFunc("/sdk", l.serveSDK)
	mux.HandleFunc("/sdk/vimServiceVersions.xml", l.svc.ServiceVersions)
	mux.HandleFunc("/lab/", l.serveAPI)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		ErrorLog: log.New(io_discard{}, "", 0)}
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && err != http.ErrServerClosed {
			log.Fatalf("serve: %v", err)
		}
	}()
	l.url = fmt.Sprintf("https://%s/sdk", ln.Addr().String())
	if err := l.writeState(); err != nil {
		return err
	}
	log.Printf("lab ready at %s (%d VMs)", l.url, len(l.vms))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	ctx, cancel := context.WithTimeout(bg, 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	return nil
}

type io_discard struct{}

func (io_discard) Write(p []byte) (int, error) { return len(p), nil }

// writeState publishes lab.json and lab.env, each through a rename so a
// waiting test never reads half a file.
func (l *Lab) writeState() error {
	info := labInfo{URL: l.url, Username: l.user, Password: l.pass, Thumbprint: l.thumb,
		Host: l.spec.Host, Datastores: l.dsDirs, PID: os.Getpid()}
	js, _ := json.MarshalIndent(info, "", "  ")
	env := fmt.Sprintf("GOVC_URL=%s\nGOVC_USERNAME=%s\nGOVC_PASSWORD=%s\nGOVC_INSECURE=1\n", l.url, l.user, l.pass)
	for _, f := range []struct {
		name string
		data []byte
	}{{"lab.env", []byte(env)}, {"lab.json", append(js, '\n')}} {
		tmp := filepath.Join(l.state, f.name+".tmp")
		if err := os.WriteFile(tmp, f.data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(l.state, f.name)); err != nil {
			return err
		}
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Command fakehcloud serves the fake Hetzner Cloud API (tasks/fakehcloud) on
// a loopback address, for running the real terraform provider against it by
// hand:
//
//	fakehcloud -listen 127.0.0.1:8089 -backend lab -state /tmp/fake.json -fail 'POST /servers#2=500'
//	HCLOUD_ENDPOINT=http://127.0.0.1:8089/v1 HCLOUD_TOKEN=<printed token> terraform apply
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
)

type faults []fakehcloud.Fault

func (f *faults) String() string { return fmt.Sprint(*f) }
func (f *faults) Set(s string) error {
	ft, err := fakehcloud.ParseFault(s)
	if err != nil {
		return err
	}
	*f = append(*f, ft)
	return nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	backend := flag.String("backend", "memory", "lab (each server a lab host; needs root) or memory")
	state := flag.String("state", "", "file that keeps servers and keys across restarts")
	token := flag.String("token", fakehcloud.LabToken, "64-character token clients must send")
	var fs faults
	flag.Var(&fs, "fail", "inject a fault, METHOD /path#N=STATUS (repeatable), e.g. 'POST /servers#2=500'")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fail(fmt.Errorf("-listen %s: must be a loopback address (nothing leaves this machine)", *listen))
	}
	cfg := fakehcloud.Config{Token: *token, StateFile: *state, Faults: fs}
	b, err := fakehcloud.NamedBackend(*backend)
	if err != nil {
		fail(err)
	}
	cfg.Backend = b
	f, err := fakehcloud.New(cfg)
	if err != nil {
		fail(err)
	}
	r, err := f.Start(*listen)
	if err != nil {
		fail(err)
	}
	fmt.Printf("HCLOUD_ENDPOINT=%s\nHCLOUD_TOKEN=%s\n", r.URL, *token)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	r.Close()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fakehcloud:", err)
	os.Exit(1)
}

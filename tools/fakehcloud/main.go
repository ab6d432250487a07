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
	"os"

	"github.com/vanixiets/vanixiets/tasks/fakeapi"
	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	backend := flag.String("backend", "memory", "lab (each server a lab host; needs root) or memory")
	state := flag.String("state", "", "file that keeps servers and keys across restarts")
	token := flag.String("token", fakehcloud.LabToken, "64-character token clients must send")
	var fs fakeapi.FaultFlag
	flag.Var(&fs, "fail", "inject a fault, METHOD /path#N=STATUS (repeatable), e.g. 'POST /servers#2=500'")
	flag.Parse()

	if err := fakeapi.CheckLoopback(*listen); err != nil {
		fail(err)
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
	if err := fakeapi.UntilSignal(r); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fakehcloud:", err)
	os.Exit(1)
}

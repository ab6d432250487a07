// Command fakegcp serves the fake Compute Engine API (tasks/fakegcp) on a
// loopback address, for running the real terraform Google provider against
// it by hand:
//
//	fakegcp -listen 127.0.0.1:8090 -backend memory -state /tmp/gcp.json \
//	    -quota 'NVIDIA_L4_GPUS/us-central1=0' -fail 'POST /instances#1=500'
//	GOOGLE_COMPUTE_CUSTOM_ENDPOINT=<printed URL> GOOGLE_OAUTH_ACCESS_TOKEN=<printed token> terraform apply
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/vanixiets/vanixiets/tasks/fakeapi"
	"github.com/vanixiets/vanixiets/tasks/fakegcp"
	"github.com/vanixiets/vanixiets/tasks/fakehcloud"
)

type quota map[string]float64

func (q quota) String() string { return fmt.Sprint(map[string]float64(q)) }
func (q quota) Set(s string) error {
	k, v, err := fakegcp.ParseQuota(s)
	if err != nil {
		return err
	}
	q[k] = v
	return nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	backend := flag.String("backend", "memory", "lab (each instance a lab host; needs root) or memory")
	state := flag.String("state", "", "file that keeps instances across restarts")
	token := flag.String("token", fakegcp.LabToken, "access token clients must send")
	var fs fakeapi.FaultFlag
	flag.Var(&fs, "fail", "inject a fault, METHOD /path#N=STATUS (repeatable; the path is matched as a substring), e.g. 'POST /instances#1=500'")
	q := quota{}
	flag.Var(q, "quota", "a regional quota, METRIC/region=LIMIT (repeatable), e.g. 'NVIDIA_L4_GPUS/us-central1=0'")
	flag.Parse()

	if err := fakeapi.CheckLoopback(*listen); err != nil {
		fail(err)
	}
	cfg := fakegcp.Config{Token: *token, StateFile: *state, Faults: fs, Quota: q}
	b, err := fakehcloud.NamedBackend(*backend)
	if err != nil {
		fail(err)
	}
	cfg.Backend = b
	f, err := fakegcp.New(cfg)
	if err != nil {
		fail(err)
	}
	r, err := f.Start(*listen)
	if err != nil {
		fail(err)
	}
	fmt.Printf("GOOGLE_COMPUTE_CUSTOM_ENDPOINT=%s\nGOOGLE_OAUTH_ACCESS_TOKEN=%s\n", r.URL, *token)
	if err := fakeapi.UntilSignal(r); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fakegcp:", err)
	os.Exit(1)
}

package provision

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
	"github.com/vanixiets/vanixiets/tasks/terraform"
)

// labOptions works on the repository's lab fleet with a state file of the
// test's own.
func labOptions(t *testing.T) Options {
	t.Helper()
	nixtest.New(t)
	flake, err := filepath.Abs(filepath.Join("..", "..", "lab"))
	assert.NilError(t, err)
	keys, _ := filepath.Glob(filepath.Join(flake, "keys", "*.agekey"))
	state := filepath.Join(t.TempDir(), "terraform.tfstate.age")
	t.Cleanup(func() { os.RemoveAll(terraform.DefaultWorkDir(state)) })
	return Options{Flake: flake, StateFile: state, IdentityFiles: keys, In: strings.NewReader("")}
}

func TestEnsureLeavesMachinesAlone(t *testing.T) {
	o := labOptions(t)
	ctx := context.Background()
	for _, tc := range []struct {
		machine string
		err     string
	}{
		{machine: "stibnite"}, // darwin laptop: no cloud block
		{machine: "blackphos"},
		{machine: "electrum", err: "electrum is disabled in the fleet (cloud.enabled = false); enable it and run tf:apply"},
		{machine: "scheelite", err: "scheelite is disabled in the fleet (cloud.enabled = false); enable it and run tf:apply"},
		{machine: "nosuch", err: "provision: unknown machine nosuch; the fleet has: argentum, blackphos, cinnabar, electrum, galena, rosegold, scheelite, stibnite"},
	} {
		t.Run(tc.machine, func(t *testing.T) {
			res, err := Ensure(ctx, o, tc.machine)
			if tc.err != "" {
				assert.Error(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.Assert(t, !res.Cloud && !res.Provisioned && !res.Addr.IsValid() && res.Plan == "", "%+v", res)
			_, err = os.Stat(o.StateFile)
			assert.Assert(t, os.IsNotExist(err), "no state written for a non-cloud machine")
		})
	}
}

// TestWaitSSH: a server that speaks SSH is ready; one that does not (or is
// silent) is not, and the error says what it saw.
func TestWaitSSH(t *testing.T) {
	serve := func(t *testing.T, greeting string) netip.AddrPort {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		assert.NilError(t, err)
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				if greeting != "" {
					c.Write([]byte(greeting))
				}
				bufio.NewReader(c).ReadString('\n')
				c.Close()
			}
		}()
		return netip.MustParseAddrPort(ln.Addr().String())
	}
	ctx := context.Background()
	ap := serve(t, "SSH-2.0-OpenSSH_9.2\r\n")
	assert.NilError(t, sshBanner(ctx, ap.String()))
	ap = serve(t, "HTTP/1.1 400 Bad Request\r\n")
	assert.ErrorContains(t, sshBanner(ctx, ap.String()), `not an ssh server: it said "HTTP/1.1 400 Bad Request"`)
	// Port 22 of a loopback address nobody listens on: refused until the
	// deadline.
	err := WaitSSH(ctx, netip.MustParseAddr("127.0.0.254"), 1200*time.Millisecond)
	if err != nil {
		assert.ErrorContains(t, err, "did not answer within 1.2s")
	}
}

//go:build e2e

package closure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
	"github.com/vanixiets/vanixiets/tasks/remote"
	"github.com/vanixiets/vanixiets/tasks/remote/sshdtest"
)

// Copy against the real thing: a real sshd whose logins run a real
// `nix-daemon --stdio` on a private store (a local store under a temporary
// root), so every test host starts empty and the machine's own store is
// only ever the source. The closure is three paths built here:
// leaf <- mid <- top, top's NAR large enough to be cut in the middle.

// testClosure builds leaf <- mid <- top and returns the driver and the
// three paths.
func testClosure(t *testing.T) (*nix.Nix, map[string]string) {
	t.Helper()
	n := nixtest.New(t)
	expr := `let mk = name: dep: size: derivation {
  inherit name; system = builtins.currentSystem; builder = "/bin/sh";
  args = [ "-c" "{ echo ${dep}; i=0; while [ $i -lt ${toString size} ]; do echo vanixiets-closure-test-$i; i=$((i+1)); done; } > $out" ];
};
  leaf = mk "vx-closure-leaf" "" 10;
  mid = mk "vx-closure-mid" "${leaf}" 10;
in mk "vx-closure-top" "${mid}" 20000`
	cmd := exec.Command(n.Bin, "build", "--json", "--no-link", "--impure", "--expr", expr)
	cmd.Env = n.Env()
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("nix build: %v: %s", err, ee.Stderr)
	}
	assert.NilError(t, err)
	var res []struct{ Outputs map[string]string }
	assert.NilError(t, json.Unmarshal(out, &res))
	assert.Assert(t, is.Len(res, 1))
	infos, err := n.Closure(context.Background(), res[0].Outputs["out"])
	assert.NilError(t, err)
	paths := map[string]string{}
	for _, pi := range infos {
		for _, name := range []string{"leaf", "mid", "top"} {
			if strings.HasSuffix(pi.Path, "-vx-closure-"+name) {
				paths[name] = pi.Path
			}
		}
	}
	assert.Assert(t, is.Len(paths, 3), "closure of top: %v", infos)
	return n, paths
}

// daemon is the forced command of a login: the daemon protocol on the
// private store under root, after prefix (a pipe stage) when given.
func daemon(root, prefix, options string) string {
	cmd := "nix-daemon --stdio --store " + root + " " + options
	if prefix != "" {
		return prefix + " | " + cmd
	}
	return "exec " + cmd
}

// valid lists which of paths the private store under root holds, asking
// nix itself.
func valid(t *testing.T, n *nix.Nix, root string, paths map[string]string) []string {
	t.Helper()
	var have []string
	for _, name := range []string{"leaf", "mid", "top"} {
		cmd := exec.Command(n.Bin, "path-info", "--store", root, paths[name])
		cmd.Env = n.Env()
		if cmd.Run() == nil {
			have = append(have, name)
		}
	}
	return have
}

func dial(t *testing.T, s *sshdtest.Server, login string) *remote.Client {
	t.Helper()
	c, err := remote.Dial(context.Background(), s.Config(login))
	assert.NilError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCopyToRealDaemon(t *testing.T) {
	n, paths := testClosure(t)
	ctx := context.Background()
	dir := t.TempDir()
	keyFile, public, err := EnsureKey(ctx, filepath.Join(dir, "key"), "vx-closure-test-1")
	assert.NilError(t, err)
	signer, err := LoadSigner(keyFile)
	assert.NilError(t, err)
	stores := map[string]string{}
	for _, s := range []string{"empty", "partial", "unsigned", "trusted", "cut"} {
		stores[s] = filepath.Join(dir, "store-"+s)
	}
	s := sshdtest.Start(t, map[string]string{
		"empty":    daemon(stores["empty"], "", ""),
		"partial":  daemon(stores["partial"], "", ""),
		"unsigned": daemon(stores["unsigned"], "", ""),
		"trusted":  daemon(stores["trusted"], "", "--option trusted-public-keys "+public),
		// The connection breaks after 64 KiB: leaf and mid arrive whole,
		// top's NAR (about 500 KB) is cut in the middle. dd with one-byte
		// blocks passes each byte on at once (head would buffer them).
		"cut":       daemon(stores["cut"], "dd bs=1 count=65536 status=none", ""),
		"cut-again": daemon(stores["cut"], "", ""),
	})

	t.Run("everything missing, then everything present", func(t *testing.T) {
		rep, err := Copy(ctx, n, dial(t, s, "empty"), Options{}, paths["top"])
		assert.NilError(t, err)
		assert.Check(t, is.Equal(rep.Closure, 3))
		assert.Check(t, is.DeepEqual(rep.Missing, []string{paths["leaf"], paths["mid"], paths["top"]}))
		assert.Check(t, is.Equal(rep.Sent, 3))
		assert.Check(t, rep.Bytes >= rep.MissingBytes && rep.MissingBytes == rep.ClosureBytes, "%+v", rep)
		assert.Check(t, is.DeepEqual(valid(t, n, stores["empty"], paths), []string{"leaf", "mid", "top"}))

		rep, err = Copy(ctx, n, dial(t, s, "empty"), Options{}, paths["top"])
		assert.NilError(t, err)
		assert.Check(t, is.Len(rep.Missing, 0))
		assert.Check(t, is.Equal(rep.Sent, 0))
		assert.Check(t, is.Equal(rep.Bytes, int64(0)))
	})

	t.Run("partial closure: only what the host lacks", func(t *testing.T) {
		_, err := Copy(ctx, n, dial(t, s, "partial"), Options{}, paths["mid"])
		assert.NilError(t, err)
		assert.Check(t, is.DeepEqual(valid(t, n, stores["partial"], paths), []string{"leaf", "mid"}))
		dry, err := Copy(ctx, n, dial(t, s, "partial"), Options{DryRun: true}, paths["top"])
		assert.NilError(t, err)
		assert.Check(t, is.DeepEqual(dry.Missing, []string{paths["top"]}))
		assert.Check(t, is.Equal(dry.Sent, 0))
		assert.Check(t, is.DeepEqual(valid(t, n, stores["partial"], paths), []string{"leaf", "mid"}), "a dry run sends nothing")
		rep, err := Copy(ctx, n, dial(t, s, "partial"), Options{}, paths["top"])
		assert.NilError(t, err)
		assert.Check(t, is.DeepEqual(rep.Missing, []string{paths["top"]}))
		assert.Check(t, is.Equal(rep.Sent, 1))
		assert.Check(t, is.DeepEqual(valid(t, n, stores["partial"], paths), []string{"leaf", "mid", "top"}))
	})

	t.Run("signatures checked", func(t *testing.T) {
		tests := []struct {
			name, login string
			signer      *Signer
			wantErr     string // "" = accepted; else the fix the error names
			want        []string
		}{
			{"unsigned, refused", "unsigned", nil, "the fleet's public key into", nil},
			{"signed by a key the host does not trust, refused", "unsigned", signer, "the fleet's public key (" + public + ")", nil},
			{"signed by a trusted key, accepted", "trusted", signer, "", []string{"leaf", "mid", "top"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				rep, err := Copy(ctx, n, dial(t, s, tc.login), Options{CheckSigs: true, Signer: tc.signer}, paths["top"])
				if tc.wantErr == "" {
					assert.NilError(t, err)
					assert.Check(t, is.Equal(rep.Sent, 3))
				} else {
					assert.Check(t, is.ErrorContains(err, tc.wantErr))
					// the daemon's own words, in whichever Nix version it is
					assert.Check(t, err != nil && nix.MissingSignatureRe.MatchString(err.Error()), "%v", err)
					assert.Check(t, is.Equal(rep.Sent, 0))
				}
				assert.Check(t, is.DeepEqual(valid(t, n, stores[tc.login], paths), tc.want))
			})
		}
	})

	t.Run("connection broken mid-NAR, then resumed", func(t *testing.T) {
		rep, err := Copy(ctx, n, dial(t, s, "cut"), Options{}, paths["top"])
		assert.Check(t, is.ErrorContains(err, "copy to "))
		assert.Check(t, rep.Sent < 3, "%+v", rep)
		have := valid(t, n, stores["cut"], paths)
		assert.Check(t, !slices.Contains(have, "top"), "a cut NAR must not become a valid path: %v", have)
		rep, err = Copy(ctx, n, dial(t, s, "cut-again"), Options{}, paths["top"])
		assert.NilError(t, err)
		assert.Check(t, is.DeepEqual(rep.Missing[len(rep.Missing)-1], paths["top"]))
		assert.Check(t, is.Equal(rep.Sent, 3-len(have)))
		assert.Check(t, is.DeepEqual(valid(t, n, stores["cut"], paths), []string{"leaf", "mid", "top"}))
	})
}

// A host whose daemon never answers (a hung machine, a wedged nix-daemon)
// must not hang the deploy: the copy ends with the context and names the
// host. The forced command reads and never writes.
func TestCopyHostThatNeverAnswers(t *testing.T) {
	n, paths := testClosure(t)
	s := sshdtest.Start(t, map[string]string{"silent": "exec cat >/dev/null"})
	// The handshake and the local closure listing come before the
	// deadline: on a loaded machine either can take a second, and neither
	// is what is tested.
	c := dial(t, s, "silent")
	infos, err := n.Closure(context.Background(), paths["top"])
	assert.NilError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Copy(ctx, n, c, Options{Infos: infos}, paths["top"])
		done <- err
	}()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorContains(t, err, "did not answer")
	case <-time.After(30 * time.Second):
		t.Fatal("Copy ignored its context: still waiting for the host's daemon 29 s after the deadline")
	}
}

// A host whose daemon hangs mid-copy is given up at the stall limit,
// naming the host, without a context deadline; nothing half-sent is
// registered, and the next copy sends everything. The hang is real: the
// host's nix-daemon greets, answers the query and then waits for the lock
// of the first path it must add (held here, as a second Nix process on the
// host would hold it), reading nothing more.
func TestCopyStallsOnHungDaemon(t *testing.T) {
	n, paths := testClosure(t)
	root := t.TempDir()
	s := sshdtest.Start(t, map[string]string{"hung": daemon(root, "", "")})
	store := filepath.Join(root, "nix", "store")
	assert.NilError(t, os.MkdirAll(store, 0o755))
	lock, err := os.OpenFile(filepath.Join(store, filepath.Base(paths["leaf"])+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	assert.NilError(t, err)
	assert.NilError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX))

	// The limit is a few seconds, not one: the daemon must have greeted
	// and taken the first path before it is given up (se.Sent). On a
	// loaded CI machine starting it over SSH has taken more than 3 s; a
	// give-up before the daemon took anything is then tried again with a
	// longer limit, since it says nothing about a daemon hung mid-copy.
	var se *StallError
	for _, stall := range []time.Duration{3 * time.Second, 10 * time.Second, 30 * time.Second} {
		t0 := time.Now()
		done := make(chan error, 1)
		go func() {
			_, err := Copy(context.Background(), n, dial(t, s, "hung"), Options{Stall: stall}, paths["top"])
			done <- err
		}()
		select {
		case err := <-done:
			se = nil
			assert.Assert(t, errors.As(err, &se), "%v", err)
			if se.Sent == 0 && stall < 30*time.Second {
				t.Logf("the daemon took nothing within %s (a loaded machine); again with a longer limit: %v", stall, err)
				continue
			}
			assert.Check(t, is.Equal(se.Stall, stall))
			assert.Check(t, is.Equal(se.Acked, int64(0)))
			assert.Check(t, se.Sent >= 1, "%+v", se)
			assert.Check(t, is.Contains(err.Error(), fmt.Sprintf("copy to %s: no progress for %s", s.Config("hung").Name(), stall)))
			assert.Check(t, time.Since(t0) < stall+20*time.Second, "given up after %s", time.Since(t0))
		case <-time.After(stall + 60*time.Second):
			t.Fatalf("Copy waited 60 s past a stall limit of %s for a hung daemon", stall)
		}
		break
	}
	assert.Check(t, is.Len(valid(t, n, root, paths), 0), "a path of the stalled copy was registered")
	// The other Nix process is done. The hung daemon goes on with what it
	// had read (a whole NAR may be registered now, never a part); the next
	// copy sends the rest. That daemon holds the first path's lock until it
	// is through, and the next copy's daemon waits for it: the next copy
	// gets a deployment's own stall limit, not the test's short one.
	lock.Close()
	rep, err := Copy(context.Background(), n, dial(t, s, "hung"), Options{Stall: DefaultStall}, paths["top"])
	assert.NilError(t, err)
	assert.Check(t, is.Equal(rep.Sent, len(rep.Missing)))
	assert.Check(t, is.DeepEqual(valid(t, n, root, paths), []string{"leaf", "mid", "top"}))
}

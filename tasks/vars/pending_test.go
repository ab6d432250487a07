package vars

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"
)

// TestPendingFollowsTheUpload walks a host's life: before any upload every
// secret is pending; after one, none; a regenerated secret, a new mode or a
// file deleted on the host is pending alone (exactly what the next upload
// sends); a secret the fleet dropped is stale until the after-activation
// upload removes it. Each Pending is one session that changes no file on
// the host (content, mode, mtime), manifest included. Under dash and bash.
func TestPendingFollowsTheUpload(t *testing.T) {
	all := []string{"app/a", "boot/pw", "cfg/b", "old/c"}
	steps := []struct {
		name    string
		change  func(t *testing.T, e *uploadEnv)
		upload  bool // upload both phases after the check (a deploy)
		pending []string
		current int
		stale   []string
	}{
		{name: "never uploaded", pending: all, upload: true},
		{name: "after a deploy", current: 4},
		{name: "a regenerated secret", change: func(t *testing.T, e *uploadEnv) { e.regenerate(t, "app") },
			pending: []string{"app/a"}, current: 3},
		{name: "a new mode as well", change: func(t *testing.T, e *uploadEnv) { e.file("cfg", "b").Mode = "0440"; e.replan() },
			pending: []string{"app/a", "cfg/b"}, current: 2, upload: true},
		{name: "deployed again", current: 4},
		{name: "deleted on the host", change: func(t *testing.T, e *uploadEnv) {
			assert.NilError(t, os.Remove(filepath.Join(e.root, "boot/pw")))
		}, pending: []string{"boot/pw"}, current: 3, upload: true},
		{name: "dropped from the fleet", change: func(t *testing.T, e *uploadEnv) {
			delete(e.f.Machines["m"].Generators, "old")
			e.replan()
		}, current: 3, stale: []string{"old/c"}, upload: true},
		{name: "removed by the deploy", current: 3},
	}
	for _, sh := range hostShells(t) {
		t.Run(sh.name, func(t *testing.T) {
			e := newUploadEnv(t)
			for _, st := range steps {
				if st.change != nil {
					st.change(t, e)
				}
				before := hostFiles(t, e.root)
				r := &countRemote{Remote: &shellRemote{binDir: sh.binDir}}
				res, err := e.v.Pending(context.Background(), r, "m", e.root)
				assert.NilError(t, err, st.name)
				assert.Equal(t, r.runs, 1, "%s: sessions", st.name)
				assert.DeepEqual(t, orNone(res.Pending), orNone(st.pending))
				assert.Equal(t, res.Current, st.current, st.name)
				assert.DeepEqual(t, orNone(res.Stale), orNone(st.stale))
				assert.Equal(t, res.Declared(), len(st.pending)+st.current)
				assert.DeepEqual(t, hostFiles(t, e.root), before)
				if st.upload {
					e.uploadBoth(t, &shellRemote{binDir: sh.binDir})
				}
			}
		})
	}
}

// TestPendingMachineKey: clan's machine age key, installed outside the
// secrets root, is compared like the secrets: pending before the first
// upload and after its file is deleted, current in between.
func TestPendingMachineKey(t *testing.T) {
	v, _, root, keyPath := machineKeyHost(t)
	vv := newVarsAt(t, v)
	vv.MachineKeyPath = keyPath
	pending := func() []string {
		res, err := vv.Pending(context.Background(), &shellRemote{}, "m", root)
		assert.NilError(t, err)
		assert.DeepEqual(t, orNone(res.Stale), []string{})
		return orNone(res.Pending)
	}
	assert.DeepEqual(t, pending(), []string{machineKeyItem, "app/x"})
	for _, ph := range []Phase{BeforeActivation, AfterActivation} {
		_, err := vv.Upload(context.Background(), &shellRemote{}, "m", ph, root)
		assert.NilError(t, err)
	}
	assert.DeepEqual(t, pending(), []string{})
	assert.NilError(t, os.Remove(keyPath))
	assert.DeepEqual(t, pending(), []string{machineKeyItem})
}

// TestPendingErrors: a host whose sh fails, and a secret nobody here can
// decrypt, are errors naming the machine and the fix.
func TestPendingErrors(t *testing.T) {
	e := newUploadEnv(t)
	_, err := e.v.Pending(context.Background(), &shellRemote{}, "nosuch", e.root)
	assert.ErrorContains(t, err, "nosuch")

	// A session that fails is an error, not "nothing held".
	_, err = e.v.Pending(context.Background(), failRemote{}, "m", e.root)
	assert.ErrorContains(t, err, `machine "m": read the secrets manifest under `+e.root)

	other, _ := age.GenerateX25519Identity()
	v := newVarsAt(t, e.v)
	v.Identities = func() ([]age.Identity, error) { return []age.Identity{other}, nil }
	_, err = v.Pending(context.Background(), &shellRemote{}, "m", e.root)
	assert.ErrorContains(t, err, "run vars:rekey")
}

type failRemote struct{}

func (failRemote) Run(context.Context, string, io.Reader, io.Writer) error { return os.ErrPermission }

func TestParseHeld(t *testing.T) {
	d1, d2 := strings.Repeat("a", 64), strings.Repeat("b", 64)
	for _, tc := range []struct {
		name string
		out  string
		want map[string]string
		err  string
	}{
		{name: "none", out: "", want: map[string]string{}},
		{name: "two, with a motd", out: "Welcome\n" + heldPrefix + d1 + " g/a\n" + heldPrefix + d2 + " .sops-nix/key.txt\n",
			want: map[string]string{"g/a": d1, ".sops-nix/key.txt": d2}},
		{name: "last line wins, as in the upload's loop", out: heldPrefix + d1 + " g/a\n" + heldPrefix + d2 + " g/a\n",
			want: map[string]string{"g/a": d2}},
		{name: "no name", out: heldPrefix + d1 + "\n", err: "unexpected manifest line"},
		{name: "empty digest", out: heldPrefix + " g/a\n", err: "unexpected manifest line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHeld([]byte(tc.out))
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, got, tc.want)
		})
	}
}

// FuzzParseHeld: whatever a host prints, parseHeld does not panic, and
// every name it returns came with a non-empty digest on a line of its own.
func FuzzParseHeld(f *testing.F) {
	f.Add([]byte(heldPrefix + strings.Repeat("a", 64) + " g/a\nmotd\n"))
	f.Add([]byte(heldPrefix + "x\n"))
	f.Add([]byte(heldPrefix + "d n a m e\n" + heldPrefix + "d n\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		held, err := parseHeld(out)
		if err != nil {
			return
		}
		for name, d := range held {
			assert.Assert(t, name != "" && d != "" && !strings.Contains(d, " "))
			assert.Assert(t, strings.Contains(string(out), heldPrefix+d+" "+name), "%q %q", d, name)
		}
	})
}

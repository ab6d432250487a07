package vars

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/sops"
)

// clanTree writes, under root, a tree shaped like a clan repository's:
// sops/machines/<m>/key.json and sops/users/<u>/key.json, per-machine and
// shared generators with `secret` sops files (linked to their machines
// and users), `value` files and .validation-hash, a deploy=false secret
// linked to its admin only, and sops/secrets/<m>-age.key. Keys are made
// here; the content is this project's own.
func clanTree(t *testing.T, root string) (spec *LayoutSpec, admin *age.X25519Identity) {
	t.Helper()
	admin, _ = age.GenerateX25519Identity()
	machines := map[string]*age.X25519Identity{}
	for _, m := range []string{"alpha", "beta"} {
		machines[m], _ = age.GenerateX25519Identity()
	}
	writeKey := func(kind, name, key string) {
		p := filepath.Join(root, "sops", kind, name, "key.json")
		assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		assert.NilError(t, os.WriteFile(p, keyJSONBytes([]string{key}), 0o644))
	}
	writeKey("users", "ops", admin.Recipient().String())
	for m, id := range machines {
		writeKey("machines", m, id.Recipient().String())
	}
	secret := func(dir, content string, links ...string) {
		var keys []string
		for _, l := range links {
			kind, name, _ := strings.Cut(l, "/")
			b, err := readKeyJSON(filepath.Join(root, "sops", kind, name, "key.json"))
			assert.NilError(t, err)
			keys = append(keys, b...)
			lp := filepath.Join(dir, kind, name)
			assert.NilError(t, os.MkdirAll(filepath.Dir(lp), 0o755))
			rel, _ := filepath.Rel(filepath.Dir(lp), filepath.Join(root, "sops", kind, name))
			assert.NilError(t, os.Symlink(rel, lp))
		}
		ct, err := sops.Encrypt(sops.Binary, []byte(content), keys)
		assert.NilError(t, err)
		assert.NilError(t, os.WriteFile(filepath.Join(dir, "secret"), ct, 0o644))
	}
	value := func(dir, content string) {
		assert.NilError(t, os.MkdirAll(dir, 0o755))
		assert.NilError(t, os.WriteFile(filepath.Join(dir, "value"), []byte(content), 0o644))
	}
	vars := filepath.Join(root, "vars")
	spec = &LayoutSpec{Machines: map[string]map[string]map[string]bool{}, Shared: map[string]map[string]bool{}}
	for m := range machines {
		g := filepath.Join(vars, "per-machine", m)
		secret(filepath.Join(g, "api-token", "token"), "token-of-"+m, "machines/"+m, "users/ops")
		secret(filepath.Join(g, "break-glass", "password"), "pw-"+m, "users/ops")
		value(filepath.Join(g, "break-glass", "password-hash"), "$y$hash-"+m)
		assert.NilError(t, os.WriteFile(filepath.Join(g, "break-glass", ".validation-hash"), []byte("0123abcd"), 0o644))
		spec.Machines[m] = map[string]map[string]bool{
			"api-token":   {"token": true},
			"break-glass": {"password": true, "password-hash": false},
		}
	}
	secret(filepath.Join(vars, "shared", "mesh", "network-key"), "mesh-key", "machines/alpha", "machines/beta", "users/ops")
	value(filepath.Join(vars, "shared", "mesh", "network-id"), "net-1")
	spec.Shared["mesh"] = map[string]bool{"network-key": true, "network-id": false}
	// clan's named secrets: a machine's age key, encrypted to its admin.
	for m, id := range machines {
		secret(filepath.Join(root, "sops", "secrets", m+"-age.key"), id.String(), "users/ops")
	}
	return spec, admin
}

// TestCheckLayoutClanTree: a tree shaped like the user's passes, without
// a key and with one; each kind of damage fails naming the file and fix.
func TestCheckLayoutClanTree(t *testing.T) {
	root := t.TempDir()
	spec, admin := clanTree(t, root)
	vars := filepath.Join(root, "vars")
	for _, ids := range [][]age.Identity{nil, {admin}} {
		probs, err := CheckLayout(vars, spec, ids)
		assert.NilError(t, err)
		assert.Equal(t, len(probs), 0, "%v", probs)
	}
	orig := mustRead(t, filepath.Join(vars, "per-machine/alpha/api-token/token/secret"))
	other := mustRead(t, filepath.Join(vars, "per-machine/beta/api-token/token/secret"))
	outsider, _ := age.GenerateX25519Identity()
	cases := []struct {
		name   string
		damage func(t *testing.T, root string)
		ids    []age.Identity
		want   string
	}{
		{"tampered: another file's MAC", func(t *testing.T, root string) {
			token := filepath.Join(root, "vars/per-machine/alpha/api-token/token")
			f, _ := sops.Parse(sops.Binary, orig)
			g, _ := sops.Parse(sops.Binary, other)
			f.Meta.MAC = g.Meta.MAC
			b, _ := f.Emit()
			assert.NilError(t, os.WriteFile(filepath.Join(token, "secret"), b, 0o644))
		}, []age.Identity{admin}, "per-machine/alpha/api-token/token/secret: MAC mismatch"},
		{"recipient not in key.json", func(t *testing.T, root string) {
			token := filepath.Join(root, "vars/per-machine/alpha/api-token/token")
			b, _, err := sops.UpdateKeys(sops.Binary, orig, []age.Identity{admin}, []string{admin.Recipient().String(), outsider.Recipient().String()})
			assert.NilError(t, err)
			assert.NilError(t, os.WriteFile(filepath.Join(token, "secret"), b, 0o644))
		}, nil, "recipient " + outsider.Recipient().String() + " is in no key.json under sops/"},
		{"linked recipient missing", func(t *testing.T, root string) {
			token := filepath.Join(root, "vars/per-machine/alpha/api-token/token")
			b, _, err := sops.UpdateKeys(sops.Binary, orig, []age.Identity{admin}, []string{admin.Recipient().String()})
			assert.NilError(t, err)
			assert.NilError(t, os.WriteFile(filepath.Join(token, "secret"), b, 0o644))
		}, nil, "per-machine/alpha/api-token/token/secret: not encrypted to"},
		{"symlink pointing nowhere", func(t *testing.T, root string) {
			token := filepath.Join(root, "vars/per-machine/alpha/api-token/token")
			assert.NilError(t, os.Symlink("../../../../../../sops/users/ghost", filepath.Join(token, "users", "ghost")))
		}, nil, "users/ghost points nowhere"},
		{"key.json not JSON", func(t *testing.T, root string) {
			assert.NilError(t, os.WriteFile(filepath.Join(root, "sops/machines/alpha/key.json"), []byte("age1 not json"), 0o644))
		}, nil, "sops/machines/alpha/key.json is not JSON"},
		{"stray file", func(t *testing.T, root string) {
			assert.NilError(t, os.WriteFile(filepath.Join(root, "vars", "per-machine/alpha/api-token/notes"), []byte("x"), 0o644))
		}, nil, "per-machine/alpha/api-token/notes: stray"},
		{"missing value", func(t *testing.T, root string) {
			assert.NilError(t, os.Remove(filepath.Join(root, "vars", "shared/mesh/network-id/value")))
		}, nil, "shared/mesh/network-id/value: public file missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			copyRoot := filepath.Join(t.TempDir(), "copy")
			assert.NilError(t, copyTree(root, copyRoot))
			vars := filepath.Join(copyRoot, "vars")
			tc.damage(t, copyRoot)
			probs, err := CheckLayout(vars, spec, tc.ids)
			assert.NilError(t, err)
			var all []string
			for _, p := range probs {
				all = append(all, p.String())
			}
			assert.Assert(t, is.Contains(strings.Join(all, "\n"), tc.want))
		})
	}
}

// copyTree copies a directory keeping symlinks as symlinks.
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(src, p)
		d := filepath.Join(dst, r)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(t, d)
		case info.IsDir():
			return os.MkdirAll(d, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(d, b, info.Mode())
	})
}

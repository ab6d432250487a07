package terraform

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/adminkeys"
)

func TestVaultRoundTripAndWrongKey(t *testing.T) {
	dir := t.TempDir()
	admin, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	other, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	v := Vault{Identities: []age.Identity{admin}, Recipients: []age.Recipient{admin.Recipient()}}
	p := filepath.Join(dir, "terraform", "terraform.tfstate.age")
	secret := []byte(`{"version":4,"serial":1,"lineage":"x","outputs":{"a_ipv4":{"value":"203.0.113.7"}}}`)
	assert.NilError(t, v.Write(p, secret))
	ct, err := os.ReadFile(p)
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(string(ct), "203.0.113.7"), "no plaintext address at rest")
	assert.Check(t, strings.HasPrefix(string(ct), "-----BEGIN AGE ENCRYPTED FILE-----"))
	got, err := v.Read(p)
	assert.NilError(t, err)
	assert.Equal(t, string(got), string(secret))

	wrong := Vault{Identities: []age.Identity{other}}
	_, err = wrong.Read(p)
	assert.Assert(t, errors.Is(err, ErrNoIdentity), "got %v", err)
	assert.ErrorContains(t, err, "set VANIXIETS_AGE_IDENTITY to one of their identity files, or SOPS_AGE_KEY to one of their keys")
	after, _ := os.ReadFile(p)
	assert.Equal(t, string(after), string(ct), "state untouched")

	none := Vault{}
	_, err = none.Read(p)
	assert.ErrorContains(t, err, "no age identity configured")
	missing, err := wrong.Read(filepath.Join(dir, "absent"))
	assert.NilError(t, err)
	assert.Assert(t, missing == nil)
}

func TestLoadIdentitiesAndRecipients(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	assert.NilError(t, err)
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	assert.NilError(t, os.WriteFile(p, []byte("# comment\n"+id.String()+"\n"), 0o600))
	ids, err := adminkeys.ReadFiles(p, "")
	assert.NilError(t, err)
	assert.Equal(t, len(ids), 1)
	_, err = adminkeys.ReadFiles(filepath.Join(dir, "nope"))
	assert.ErrorContains(t, err, "age identity file")
	rs, err := ParseRecipients([]string{id.Recipient().String()})
	assert.NilError(t, err)
	assert.Equal(t, len(rs), 1)
	_, err = ParseRecipients([]string{"age1notakey"})
	assert.ErrorContains(t, err, `age recipient "age1notakey"`)
}

func TestMirrorPaths(t *testing.T) {
	dir := t.TempDir()
	rc := filepath.Join(dir, "terraform.rc")
	assert.NilError(t, os.WriteFile(rc, []byte("provider_installation {\n  filesystem_mirror {\n    path    = \"/m/one\"\n    include = [\"x/*\"]\n  }\n  direct {}\n}\n"), 0o644))
	assert.DeepEqual(t, mirrorPaths(rc), []string{"/m/one"})
	assert.Assert(t, mirrorPaths(filepath.Join(dir, "none")) == nil)
}

func TestPlanSummary(t *testing.T) {
	p := &Plan{Changes: []ResourceChange{{Address: "hcloud_server.beta", Machine: "beta", Action: "create"}, {Address: "hcloud_ssh_key.admin", Action: "update"}},
		Notes: []string{"left out google_compute_instance.galena"}}
	assert.Equal(t, p.Summary(), "note: left out google_compute_instance.galena\n"+
		"  +   machine beta (hcloud_server.beta): create\n"+
		"  ~   resource hcloud_ssh_key.admin: update\n"+
		"plan: 1 to create, 1 to update, 0 to replace, 0 to destroy\n")
	assert.Equal(t, (&Plan{}).Summary(), "no changes: the infrastructure matches the configuration\n")
}

func TestLockIsExclusiveAndReleasedOnClose(t *testing.T) {
	w := &Workspace{StateFile: "x", WorkDir: t.TempDir()}
	f, err := w.acquire(context.Background())
	assert.NilError(t, err)
	_, err = w.acquire(context.Background())
	assert.ErrorContains(t, err, "in use by another run")
	f.Close()
	f2, err := w.acquire(context.Background())
	assert.NilError(t, err)
	f2.Close()
}

//go:build e2e

package status

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/adminkeys"
	"github.com/vanixiets/vanixiets/tasks/adminkeys/adminkeystest"
	"github.com/vanixiets/vanixiets/tasks/deploy"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/lab"
	"github.com/vanixiets/vanixiets/tasks/lab/labtest"
	"github.com/vanixiets/vanixiets/tasks/terraform"
	"github.com/vanixiets/vanixiets/tasks/vars"
)

// TestStatusSecretsAndTerraform: cinnabar of a copy of the lab flake,
// deployed: its secrets are current and, without a terraform state, its
// cloud column says so. A regenerated secret is pending (named) without
// anything on the host changing; a deploy makes it current again. With a
// real terraform state (one that holds another server) the enabled
// cinnabar is missing from it.
func TestStatusSecretsAndTerraform(t *testing.T) {
	labtest.NeedRoot(t)
	adminkeystest.Unset(t)
	t.Setenv(terraform.StateEnv, "")
	t.Setenv("HOME", t.TempDir()) // no ~/.config/sops/age/keys.txt: the lab's identities decide
	dir := t.TempDir()
	flake := labtest.CopyLabFlake(t)
	l := labtest.Open(t, lab.Config{Machines: []lab.Machine{{Name: "cinnabar"}}})
	newDeployer := labDeployer(t, flake, l, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	deployed := func() {
		t.Helper()
		rows, err := newDeployer().Run(ctx, []string{"cinnabar"})
		assert.NilError(t, err, deploy.Table(rows))
	}
	state, err := terraform.StateReader(terraform.Options{Flake: flake})
	assert.NilError(t, err)
	status := func() Row {
		t.Helper()
		rows, err := Run(ctx, newDeployer(), []string{"cinnabar"}, Options{Timeout: 5 * time.Second, State: state})
		t.Log("\n" + Table(rows))
		assert.NilError(t, err)
		assert.Equal(t, len(rows), 1)
		return rows[0]
	}
	f, err := fleet.NewLoader().Load(ctx, flake)
	assert.NilError(t, err)
	v := vars.New(f, filepath.Join(flake, "vars"))
	ids := f.LabIdentityFiles(flake)
	v.Identities = func() ([]age.Identity, error) { return adminkeys.ReadFiles(ids...) }
	before, after, err := v.DeploySecrets("cinnabar")
	assert.NilError(t, err)
	declared := len(before) + len(after)
	assert.Assert(t, declared > 0)

	deployed()
	r := status()
	assert.Equal(t, r.State, UpToDate)
	assert.Equal(t, r.Secrets, SecretsCurrent)
	assert.Equal(t, r.CurrentSecrets, declared)
	assert.Equal(t, r.Terraform, NoStateFile)

	// A secret rotated in the vars: pending, and the host untouched.
	_, err = v.Generate(ctx, vars.GenerateOptions{Machines: []string{"cinnabar"}, Generators: []string{"zerotier"}, Regenerate: true})
	assert.NilError(t, err)
	host := hostSecrets(t, l)
	r = status()
	assert.Equal(t, r.Secrets, SecretsPending)
	assert.DeepEqual(t, r.PendingSecrets, []string{"zerotier/zerotier-identity-secret"})
	assert.Equal(t, len(r.StaleSecrets), 0)
	assert.DeepEqual(t, hostSecrets(t, l), host)
	assert.Assert(t, is.Contains(Table([]Row{r}), "cinnabar: secrets a deploy would send: zerotier/zerotier-identity-secret"))

	deployed()
	r = status()
	assert.Equal(t, r.Secrets, SecretsCurrent)
	assert.Equal(t, len(r.PendingSecrets), 0)

	// A real state (terraform wrote it; it holds alpha's server only),
	// encrypted to the lab's admins as the flake's state is.
	pt, err := os.ReadFile("../terraform/testdata/apply-alpha.tfstate")
	assert.NilError(t, err)
	var recips []age.Recipient
	for _, u := range f.Users {
		for _, k := range u.AgeKeys {
			rc, err := age.ParseX25519Recipient(k)
			assert.NilError(t, err)
			recips = append(recips, rc)
		}
	}
	assert.NilError(t, (&terraform.Vault{Recipients: recips}).Write(terraform.StateFileFor(flake), pt))
	r = status()
	assert.Equal(t, r.Terraform, terraform.Missing)
}

// hostSecrets is the lab host's secrets tree as the machine sees it:
// path -> mode, size, mtime.
func hostSecrets(t *testing.T, l *lab.Lab) map[string]string {
	t.Helper()
	hs, err := l.Hosts()
	assert.NilError(t, err)
	out := map[string]string{}
	for _, h := range hs {
		if h.Name != "cinnabar" {
			continue
		}
		root := filepath.Join(h.RunDir, "secrets", "vars")
		err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			out[strings.TrimPrefix(p, root)] = fmt.Sprintf("%s %s %d", fi.Mode(), fi.ModTime(), fi.Size())
			return nil
		})
		assert.NilError(t, err)
	}
	assert.Assert(t, len(out) > 1, "no secrets on the host")
	return out
}

package terraform

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"gotest.tools/v3/assert"

	"github.com/vanixiets/vanixiets/tasks/adminkeys/adminkeystest"
	"github.com/vanixiets/vanixiets/tasks/agekey"
	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
)

// TestStateRefusesPublishedKeys reproduces issue 16 part 2 for the
// terraform state: it was encrypted to whatever admin keys the fleet
// named, the lab's committed ones included, and for a flake directory
// called "lab" the state's identities were picked by that name. Now a key
// committed to the flake's repository is refused unless the fleet itself
// declares it as a lab identity, whatever the directory is called.
func TestStateRefusesPublishedKeys(t *testing.T) {
	if _, err := exec.LookPath("nix"); err != nil {
		t.Skip("nix not installed")
	}
	id, _ := age.GenerateX25519Identity()
	fresh, _ := age.GenerateX25519Identity()
	tests := []struct {
		name, dir, lab string
		recips         []age.Recipient
		wantErr        bool
	}{
		{name: "published key, not a lab, directory named lab", dir: "lab", recips: []age.Recipient{id.Recipient()}, wantErr: true},
		{name: "published key declared by the fleet", dir: "anything", lab: `lab.identities = [ "keys/admin.agekey" ];`, recips: []age.Recipient{id.Recipient()}},
		{name: "own key", dir: "lab", recips: []age.Recipient{fresh.Recipient()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repo := t.TempDir()
			flake := filepath.Join(repo, tc.dir)
			assert.NilError(t, os.MkdirAll(filepath.Join(flake, "keys"), 0o755))
			assert.NilError(t, os.WriteFile(filepath.Join(flake, "keys", "admin.agekey"), []byte(id.String()+"\n"), 0o600))
			assert.NilError(t, os.WriteFile(filepath.Join(flake, "flake.nix"), []byte(`{ outputs = { self }: { fleet = {
  machines.m = { machineClass = "nixos"; system = "x86_64-linux"; tags = [ ]; description = "";
    deploy = { targetHost = "root@m"; healthChecks = [ ]; }; cloud = null; generators = { }; };
  instances = { }; users = { }; `+tc.lab+` }; }; }`), 0o644))
			treetest.GitCommit(t, repo)
			adminkeystest.Unset(t)
			t.Setenv("HOME", t.TempDir())
			o := Options{Flake: flake}
			err := o.refusePublished(tc.recips)
			if !tc.wantErr {
				assert.NilError(t, err)
				return
			}
			assert.Assert(t, errors.Is(err, agekey.ErrPublished), "%v", err)
			assert.ErrorContains(t, err, "keys/admin.agekey")
			// And a directory named lab gets no identities from its name.
			ids, err := o.Identities()
			assert.NilError(t, err)
			assert.Equal(t, len(ids), 0)
		})
	}
}

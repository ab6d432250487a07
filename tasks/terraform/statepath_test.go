package terraform

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
)

func TestCheckStatePath(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "terraform.tfstate.age")
	assert.NilError(t, os.WriteFile(state, []byte("x"), 0o600))
	none := func(string) string { return "" }
	newState := func(k string) string {
		if k == StateNewEnv {
			return "1"
		}
		return ""
	}
	cases := []struct {
		name, path string
		getenv     func(string) string
		err        string
	}{
		{"existing", state, none, ""},
		{"typo", filepath.Join(dir, "terraform.tfstat.age"), none, "no such state file: terraform would start empty and create existing servers again; check the path, unset VANIXIETS_TF_STATE for the flake's own state, or set VANIXIETS_TF_STATE_NEW=1 to start a new state there"},
		{"new on purpose", filepath.Join(dir, "new", "terraform.tfstate.age"), newState, ""},
		{"directory", dir, newState, "is a directory: name the state file (terraform.tfstate.age) in it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckStatePath(tc.path, tc.getenv)
			if tc.err == "" {
				assert.NilError(t, err)
			} else {
				assert.Error(t, err, tc.err)
			}
		})
	}
}

func TestResolveStateFile(t *testing.T) {
	flake := t.TempDir()
	t.Setenv(StateEnv, "")
	got, err := ResolveStateFile(flake)
	assert.NilError(t, err)
	assert.Equal(t, got, filepath.Join(flake, DefaultStateFile))
	t.Setenv(StateEnv, filepath.Join(flake, "typo.age"))
	_, err = ResolveStateFile(flake)
	assert.ErrorContains(t, err, "VANIXIETS_TF_STATE="+filepath.Join(flake, "typo.age")+": no such state file")
}

// The library's defaults never read $VANIXIETS_TF_STATE: only a front door
// (ResolveStateFile) does, and checks it. A caller naming no state gets the
// flake's own, even with a mistyped path exported in the shell.
func TestOptionsDefaultIgnoresStateEnv(t *testing.T) {
	flake := t.TempDir()
	t.Setenv(StateEnv, filepath.Join(flake, "typo.age"))
	o := Options{Flake: flake}
	o.defaults()
	assert.Equal(t, o.StateFile, filepath.Join(flake, DefaultStateFile))
}

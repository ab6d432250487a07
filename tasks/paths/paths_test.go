package paths

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
)

func TestVarsDir(t *testing.T) {
	for _, tc := range []struct {
		name, flake, setting, want string
	}{
		{"default: the flake's own", "/src/fleet", "", "/src/fleet/vars"},
		{"a remote flake still names its vars", "github:o/r", "", "github:o/r/vars"},
		{"the setting wins", "/src/fleet", "/elsewhere/vars", "/elsewhere/vars"},
		{"dash: no vars", "/src/fleet", "-", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, VarsDir(tc.flake, tc.setting), tc.want)
		})
	}
}

func TestCheckoutAndFlake(t *testing.T) {
	root := t.TempDir()
	write := func(p string) {
		t.Helper()
		assert.NilError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755))
		assert.NilError(t, os.WriteFile(filepath.Join(root, p), nil, 0o644))
	}
	write("repo/go.mod")
	write("repo/lab/flake.nix")
	write("repo/tasks/x/x.go")
	write("bare/go.mod")
	assert.NilError(t, os.MkdirAll(filepath.Join(root, "none"), 0o755))
	r := func(p string) string { return filepath.Join(root, p) }
	for _, tc := range []struct {
		name, setting, dir     string
		checkout, flake, fails string
	}{
		{name: "at the root", dir: "repo", checkout: "repo", flake: "repo/lab"},
		{name: "below it", dir: "repo/tasks/x", checkout: "repo", flake: "repo/lab"},
		{name: "a setting wins", setting: "/my/fleet", dir: "none", fails: "no go.mod above", flake: "/my/fleet"},
		{name: "a checkout without a lab", dir: "bare", checkout: "bare", fails: "has no lab/flake.nix"},
		{name: "outside any checkout", dir: "none", fails: "no go.mod above"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Checkout(r(tc.dir))
			if tc.checkout != "" {
				assert.NilError(t, err)
				assert.Equal(t, c, r(tc.checkout))
			} else {
				assert.ErrorContains(t, err, "no go.mod above")
			}
			f, err := Flake(tc.setting, r(tc.dir))
			switch {
			case tc.setting != "":
				assert.NilError(t, err)
				assert.Equal(t, f, tc.setting)
			case tc.flake != "":
				assert.NilError(t, err)
				assert.Equal(t, f, r(tc.flake))
			default:
				assert.ErrorContains(t, err, tc.fails)
				assert.ErrorContains(t, err, FlakeEnv)
			}
		})
	}
}

func TestVarsCommandDir(t *testing.T) {
	flake := t.TempDir()
	for _, tc := range []struct {
		name, flake, setting, want, err string
	}{
		{name: "the flake's own", flake: flake, want: filepath.Join(flake, "vars")},
		{name: "a named directory", flake: flake, setting: "/srv/vars", want: "/srv/vars"},
		{name: "a remote flake with a named directory", flake: "github:o/r", setting: "/srv/vars", want: "/srv/vars"},
		{name: "a remote flake, no directory", flake: "github:o/r", err: "flake github:o/r is not a local directory: set VANIXIETS_VARS_DIR to its vars directory"},
		{name: "vars off", flake: flake, setting: "-", err: "VANIXIETS_VARS_DIR=- turns secrets off for a deploy; vars commands need the directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VarsCommandDir(tc.flake, tc.setting)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, got, tc.want)
		})
	}
}

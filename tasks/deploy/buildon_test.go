package deploy

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/hostsh"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
)

// TestBuildOnScriptsArePOSIX: the scripts a build on the machine runs there
// parse in posh and dash and use nothing a Mac lacks; run by sh, they do
// what they say.
func TestBuildOnScriptsArePOSIX(t *testing.T) {
	for name, s := range map[string]string{"has-path": hasPathScript, "realise": realiseScript} {
		script := hostsh.Prelude + s
		assert.Check(t, hostsh.Syntax(context.Background(), script), name)
		assert.Check(t, is.Len(hostsh.Lint(script), 0), name)
	}
	for p, want := range map[string]string{"/": "yes", "/nonexistent/x y": ""} {
		out, err := exec.Command("sh", "-c", hostsh.Command(hasPathScript, p)).Output()
		assert.NilError(t, err)
		assert.Equal(t, strings.TrimSpace(string(out)), want, p)
	}
}

// TestBuildsOnTarget: --build-on overrides the fleet's deploy.buildOn, and
// the machine the deploy runs on always builds here.
func TestBuildsOnTarget(t *testing.T) {
	tests := []struct {
		fleetValue, flag string
		local            bool
		want             bool
	}{
		{"", "", false, false},
		{"local", "", false, false},
		{"target", "", false, true},
		{"target", "local", false, false},
		{"", "target", false, true},
		{"local", "target", false, true},
		{"target", "", true, false},
		{"", "target", true, false},
	}
	for _, tc := range tests {
		d := &Deployer{opt: Options{BuildOn: tc.flag, Local: tc.local}}
		m := &fleet.Machine{Name: "mac", Deploy: fleet.Deploy{BuildOn: tc.fleetValue}}
		assert.Equal(t, d.buildsOnTarget(m), tc.want, "fleet %q, --build-on %q, local %v", tc.fleetValue, tc.flag, tc.local)
	}
}

// TestPlatformErrorSaysTheFix: which machine, which platform, what this Nix
// builds, and both ways out.
func TestPlatformErrorSaysTheFix(t *testing.T) {
	for _, tc := range []struct {
		e    PlatformError
		want []string
	}{
		{PlatformError{Machine: "stibnite", System: "aarch64-darwin", Native: []string{"x86_64-linux", "i686-linux"}, Builders: "@/etc/nix/machines"},
			[]string{"stibnite's system is built for aarch64-darwin, which this deployer cannot build", "its Nix builds x86_64-linux, i686-linux",
				"nix.conf's builders (@/etc/nix/machines) have none for aarch64-darwin", "--build-on target", `deploy.buildOn = "target"`,
				"builders = ssh-ng://<a aarch64-darwin machine> aarch64-darwin"}},
		{PlatformError{Machine: "cinnabar", System: "x86_64-linux", Native: []string{"aarch64-darwin"}},
			[]string{"cinnabar's system is built for x86_64-linux", "nix.conf has no builders for x86_64-linux"}},
	} {
		for _, w := range tc.want {
			assert.Check(t, is.Contains(tc.e.Error(), w))
		}
	}
}

// TestLocalMachine: --local makes the one selected machine this one; a
// machine named like this host (its short name, any case) is this one
// without it. (A lab has none: TestLabHasNoLocalMachine, e2e.)
func TestLocalMachine(t *testing.T) {
	tests := []struct {
		opt  Options
		name string
		want bool
	}{
		{Options{HostName: "stibnite.local"}, "stibnite", true},
		{Options{HostName: "Stibnite"}, "stibnite", true},
		{Options{HostName: "stibnite-2"}, "stibnite", false},
		{Options{HostName: "blackphos"}, "stibnite", false},
		{Options{HostName: "vm", Local: true}, "stibnite", true},
	}
	for _, tc := range tests {
		d := &Deployer{opt: tc.opt}
		assert.Equal(t, d.isLocal(&fleet.Machine{Name: tc.name}), tc.want, "%+v %s", tc.opt, tc.name)
	}
	d := &Deployer{opt: Options{Local: true}}
	for sel, got := range map[string]string{"a b": "a, b", "@laptop": "@laptop", "": "every machine"} {
		assert.ErrorContains(t, d.checkLocal(strings.Fields(sel)), "name exactly that machine (got "+got+")")
	}
	assert.NilError(t, d.checkLocal([]string{"a"}))
}

// TestBuiltRoundTrip: each machine's build result reads back as written,
// whatever the other machines' are, and only the toplevels built in this
// store are the fleet's to copy.
func TestBuiltRoundTrip(t *testing.T) {
	results := map[string]built{
		"here":      {Toplevel: "/nix/store/a-here"},
		"twin":      {Toplevel: "/nix/store/a-here"}, // the same system: listed once
		"onmachine": {Toplevel: "/nix/store/b-on", Drv: "/nix/store/b-on.drv"},
		"broken":    {Err: "error: attribute 'x' missing"},
		"other":     {Toplevel: "/nix/store/c-other"},
	}
	out := pipeline.Outputs{}
	for m, b := range results {
		b.put(out, m)
	}
	for m, want := range results {
		assert.DeepEqual(t, builtOf(out, m), want)
	}
	assert.DeepEqual(t, builtOf(out, "unselected"), built{})
	assert.DeepEqual(t, builtHere(out), []string{"/nix/store/a-here", "/nix/store/c-other"})
}

package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/pipeline"
	"gotest.tools/v3/assert"
)

func testFleet() *fleet.Fleet {
	f := &fleet.Fleet{Machines: map[string]*fleet.Machine{}}
	for n, tags := range map[string][]string{"cinnabar": {"server", "hetzner"}, "galena": {"server"}, "stibnite": {"laptop"}} {
		f.Machines[n] = &fleet.Machine{Name: n, MachineClass: "nixos", Tags: tags}
	}
	return f
}

func TestSelect(t *testing.T) {
	tests := []struct {
		sel  string
		want []string
		err  string
	}{
		{"", []string{"cinnabar", "galena", "stibnite"}, ""},
		{"@server", []string{"cinnabar", "galena"}, ""},
		{"@server,stibnite", []string{"cinnabar", "galena", "stibnite"}, ""},
		{"galena galena", []string{"galena"}, ""},
		{"@all", []string{"cinnabar", "galena", "stibnite"}, ""},
		{"nosuch", nil, "known machines are cinnabar, galena, stibnite"},
		{"@gpu", nil, `no machine has tag "gpu"`},
	}
	for _, tc := range tests {
		t.Run(tc.sel, func(t *testing.T) {
			got, err := Select(testFleet(), SplitSelectors(tc.sel))
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, got, tc.want)
		})
	}
}

func TestSelectors(t *testing.T) {
	tests := []struct {
		words []string
		want  []string
	}{
		{nil, nil},
		{[]string{"all"}, nil},
		{[]string{"ALL"}, nil},
		{[]string{"@server,stibnite"}, []string{"@server", "stibnite"}},
		{[]string{"@server", "stibnite galena"}, []string{"@server", "stibnite", "galena"}},
		{[]string{"all", "galena"}, []string{"all", "galena"}}, // "all" alone only
	}
	for _, tc := range tests {
		assert.DeepEqual(t, Selectors(tc.words), tc.want)
	}
}

func TestTableAndFailedError(t *testing.T) {
	rows := []Summary{
		{Machine: "cinnabar", GenBefore: 1, GenAfter: 2, Paths: 3, Bytes: 3 << 20, Duration: 1500 * time.Millisecond, Result: "ok"},
		{Machine: "galena", Result: "failed", Err: errors.New("ssh root@galena: no TCP connection within 10s\nmore")},
	}
	tab := Table(rows)
	assert.Assert(t, strings.Contains(tab, "1 -> 2"), tab)
	assert.Assert(t, strings.Contains(tab, "3 paths, 3.0 MiB"), tab)
	assert.Assert(t, strings.Contains(tab, "failed: ssh root@galena: no TCP connection within 10s\n"), tab)
	inner := errors.New("x")
	fe := &FailedError{Lines: []string{"a: x"}, Errs: []error{inner}}
	assert.Assert(t, errors.Is(fe, inner))
}

func TestFromEnv(t *testing.T) {
	t.Setenv("VANIXIETS_FLAKE", "/somewhere")
	t.Setenv("VANIXIETS_DRY_RUN", "1")
	t.Setenv("VANIXIETS_DEPLOY_TIMEOUT", "0s")
	o, err := FromEnv("/repo", os.Getenv)
	assert.NilError(t, err)
	assert.Equal(t, o.Flake, "/somewhere")
	assert.Assert(t, o.Lab == nil)
	assert.Assert(t, o.DryRun)
	assert.Equal(t, o.Timeout, time.Duration(-1))
	t.Setenv("VANIXIETS_DEPLOY_PARALLEL", "zero")
	_, err = FromEnv("/repo", os.Getenv)
	assert.ErrorContains(t, err, "VANIXIETS_DEPLOY_PARALLEL")
}

func TestBarsRender(t *testing.T) {
	var buf bytes.Buffer
	steps := []*pipeline.Step{{Name: "evaluate"}, {Name: "build"}, {Name: "cinnabar:copy"}, {Name: "cinnabar:activate"}, {Name: "galena:copy"}}
	b := newBars(&buf, steps)
	b.event("cinnabar", "copy      done in 3ms: 4 paths", true)
	b.event(sharedBar, "evaluate  up to date", true)
	_, err := b.Write([]byte("a note above the bars\n"))
	assert.NilError(t, err)
	b.stop() // draws the last frame, with the note above it
	out := buf.String()
	for _, want := range []string{"(fleet)", "cinnabar", "galena", "1/2", "0/1", "copy      done in 3ms: 4 paths", "a note above the bars"} {
		assert.Assert(t, strings.Contains(out, want), "%q not in:\n%s", want, out)
	}
}

// The provision hook runs for enabled cloud machines of both clouds, and
// never in a dry run.
func TestProvisionHookSelection(t *testing.T) {
	f := &fleet.Fleet{Machines: map[string]*fleet.Machine{
		"cinnabar": {Name: "cinnabar", Cloud: &fleet.Cloud{Provider: "hetzner", Enabled: true}},
		"electrum": {Name: "electrum", Cloud: &fleet.Cloud{Provider: "hetzner", Enabled: false}},
		"galena":   {Name: "galena", Cloud: &fleet.Cloud{Provider: "gcp", Enabled: true}},
		"stibnite": {Name: "stibnite"},
	}}
	all := []string{"cinnabar", "electrum", "galena", "stibnite"}
	tests := []struct {
		name   string
		dryRun bool
		fail   bool
		want   []string
	}{
		{name: "enabled cloud machines", want: []string{"cinnabar", "galena"}},
		{name: "dry run provisions nothing", dryRun: true},
		{name: "failure stops the deploy", fail: true, want: []string{"cinnabar"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var called []string
			var out bytes.Buffer
			d := &Deployer{opt: Options{Out: &out, DryRun: tc.dryRun, Provision: func(_ context.Context, m string) error {
				called = append(called, m)
				if tc.fail {
					return errors.New("no terminal: pass --yes")
				}
				return nil
			}}}
			err := d.provision(context.Background(), f, all)
			assert.DeepEqual(t, called, tc.want)
			if tc.fail {
				assert.ErrorContains(t, err, "provision cinnabar: no terminal: pass --yes")
			} else {
				assert.NilError(t, err)
			}
			if tc.name == "enabled cloud machines" {
				assert.Assert(t, strings.Contains(out.String(), "electrum: cloud machine disabled in the fleet"), out.String())
				assert.Assert(t, !strings.Contains(out.String(), "galena:"), "galena is provisioned, not noted:\n%s", out.String())
			}
		})
	}
}

// TestNixStringRoundTrips: what nixString quotes, Nix reads back unchanged.
func TestNixStringRoundTrips(t *testing.T) {
	bin, err := exec.LookPath("nix-instantiate")
	if err != nil {
		t.Skip("nix-instantiate not installed (scripts/install-nix.sh)")
	}
	for _, s := range []string{"cinnabar", "a.b-c_d", `quo"te`, `back\slash`, "${builtins.abort \"no\"}", "$x", "multi\nline", ""} {
		// The suite's own Nix settings, and stdout only: on a brand-new
		// machine Nix warns about a missing nixbld group on stderr.
		cmd := exec.Command(bin, "--eval", "--json", "-E", nixString(s))
		cmd.Env = nix.Environ()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		assert.NilError(t, err, "%q: %s", s, stderr.String())
		var got string
		assert.NilError(t, json.Unmarshal(out, &got))
		assert.Equal(t, got, s)
	}
}

// The fleet decides whether it deploys to the lab; any other flake goes to
// the lab only when asked (--lab or VANIXIETS_LAB=1).
func TestWantsLab(t *testing.T) {
	// A fleet that says it is a lab, in its own data; its directory's
	// name says nothing.
	labFlake := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(labFlake, "flake.nix"), []byte(`{ outputs = { self }: { fleet = {
	  machines.m = { machineClass = "nixos"; system = "x86_64-linux"; };
	  lab.identities = [ "keys/admin.agekey" ];
	}; }; }`), 0o644))
	plain := t.TempDir() // no fleet: not a lab
	for _, tc := range []struct {
		name  string
		flake string
		flag  bool
		env   string
		want  bool
		err   string
	}{
		{name: "lab fleet by its declaration", flake: labFlake, want: true},
		{name: "other flake by default", flake: plain, want: false},
		{name: "other flake with --lab", flake: plain, flag: true, want: true},
		{name: "other flake with VANIXIETS_LAB=1", flake: plain, env: "1", want: true},
		{name: "lab fleet sent to its targetHosts", flake: labFlake, env: "0", want: false},
		{name: "bad value", flake: plain, env: "maybe", err: `VANIXIETS_LAB="maybe": want 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("VANIXIETS_LAB", tc.env)
			got, err := WantsLab(tc.flake, tc.flag, os.Getenv("VANIXIETS_LAB"))
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, got, tc.want)
		})
	}
}

// A bad fleet or selector stops every deployment, dry runs included,
// before any host is reached, with check:fleet's message (or the list of
// what exists). No lab, no ssh_config: reaching a host here would fail on
// name resolution instead, so the message proves nothing was dialled.
func TestBadFleetStopsBeforeAnyHost(t *testing.T) {
	for _, tc := range []struct {
		name, params string
		selectors    []string
		want         string
	}{
		{
			name:      "two machines on one host",
			params:    `{ version = "1"; mode = "ok"; targets = { beta = "admin@alpha"; }; }`,
			selectors: []string{"beta"},
			want:      `invalid fleet: machine "beta": duplicate host: deploy.targetHost "admin@alpha" reaches the same host as machine "alpha"`,
		},
		{
			name:      "unknown tag",
			params:    `{ version = "1"; mode = "ok"; }`,
			selectors: []string{"@nosuch"},
			want:      `no machine has tag "nosuch"; the fleet's tags: @first, @test`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			flake := filepath.Join(dir, "flake")
			assert.NilError(t, os.MkdirAll(flake, 0o755))
			b, err := os.ReadFile(filepath.Join("testdata", "flake", "flake.nix"))
			assert.NilError(t, err)
			assert.NilError(t, os.WriteFile(filepath.Join(flake, "flake.nix"), b, 0o644))
			assert.NilError(t, os.WriteFile(filepath.Join(flake, "params.nix"), []byte(tc.params), 0o644))
			d, err := New(Options{Flake: flake, DryRun: true, Cache: cache.NewLocal(filepath.Join(dir, "cache")), Dir: filepath.Join(dir, "deploy"), VarsDir: "-"})
			assert.NilError(t, err)
			rows, err := d.Run(context.Background(), tc.selectors)
			assert.ErrorContains(t, err, tc.want)
			assert.Equal(t, len(rows), 0)
		})
	}
}

func TestOffAtZero(t *testing.T) {
	for _, tc := range []struct {
		in, want time.Duration
	}{
		{0, -1},
		{time.Second, time.Second},
		{30 * time.Second, 30 * time.Second},
		{-1, -1},
	} {
		assert.Equal(t, OffAtZero(tc.in), tc.want, "%s", tc.in)
	}
}

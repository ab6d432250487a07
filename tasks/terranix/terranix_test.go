package terranix

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"

	"github.com/vanixiets/vanixiets/tasks/fsutil/treetest"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/nix/nixtest"
)

func load(t *testing.T, name string) *Config {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	assert.NilError(t, err)
	c, err := Parse(b)
	assert.NilError(t, err)
	return c
}

var all = []Machine{{"alpha", "hetzner", true}, {"beta", "hetzner", true}, {"gamma", "gcp", true}}

func TestCanonicalIsStableAndGolden(t *testing.T) {
	c := load(t, "two-hetzner-one-gcp.tf.json")
	again, err := Canonicalize(c.JSON())
	assert.NilError(t, err)
	assert.Equal(t, string(again), string(c.JSON()))
	golden.Assert(t, string(c.JSON()), "two-hetzner-one-gcp.canonical.json")
	assert.Check(t, strings.Contains(string(c.JSON()), "${hcloud_ssh_key.admin.id}"), "no HTML escaping of $ and {}")
}

func TestValidate(t *testing.T) {
	base := load(t, "two-hetzner-one-gcp.tf.json")
	tests := []struct {
		name     string
		machines []Machine
		edit     func(c *Config)
		problems []string
	}{
		{name: "all enabled", machines: all},
		{name: "disabled machine still rendered", machines: []Machine{{"alpha", "hetzner", true}, {"beta", "hetzner", false}, {"gamma", "gcp", true}},
			problems: []string{"beta: disabled, but resource hcloud_server.beta is present", "beta: disabled, but output beta_ipv4 is present"}},
		{name: "enabled machine missing", machines: all, edit: func(c *Config) {
			delete(c.block("resource")["hcloud_server"].(map[string]any), "beta")
		}, problems: []string{"beta: enabled, but resource hcloud_server.beta is missing"}},
		{name: "output missing", machines: all, edit: func(c *Config) { delete(c.block("output"), "alpha_ipv4") },
			problems: []string{"alpha: enabled, but output alpha_ipv4 (its address) is missing"}},
		{name: "output points elsewhere", machines: all, edit: func(c *Config) {
			c.block("output")["alpha_ipv4"] = map[string]any{"value": "${hcloud_server.beta.ipv4_address}"}
		}, problems: []string{`alpha: output alpha_ipv4 = "${hcloud_server.beta.ipv4_address}" does not refer to hcloud_server.alpha`}},
		{name: "server for unknown machine", machines: all[:2], problems: []string{"gamma: resource google_compute_instance.gamma has no cloud machine of that name in the fleet"}},
		{name: "wrong provider", machines: []Machine{{"alpha", "gcp", true}, {"beta", "hetzner", true}, {"gamma", "gcp", true}},
			problems: []string{"alpha: provider gcp wants resource google_compute_instance.alpha, found hcloud_server.alpha", "alpha: output alpha_ipv4 = \"${hcloud_server.alpha.ipv4_address}\" does not refer to google_compute_instance.alpha"}},
		{name: "unknown provider", machines: []Machine{{"alpha", "aws", true}, {"beta", "hetzner", true}, {"gamma", "gcp", true}},
			problems: []string{`alpha: unknown cloud provider "aws" (known: hetzner, gcp)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(base.JSON())
			assert.NilError(t, err)
			if tc.edit != nil {
				tc.edit(c)
			}
			err = Validate(c, tc.machines)
			if len(tc.problems) == 0 {
				assert.NilError(t, err)
				return
			}
			ve, ok := err.(*ValidationError)
			assert.Assert(t, ok, "want *ValidationError, got %v", err)
			assert.DeepEqual(t, ve.Problems, tc.problems)
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct{ in, err string }{
		{`[]`, "top level is an array"},
		{`{"resources": {}}`, `unknown top-level block "resources"`},
		{`{"resource": {"hcloud_server": []}}`, "resource.hcloud_server is an array"},
		{`{"resource": {"hcloud_server": {"a": 1}}}`, "resource.hcloud_server.a is a number"},
		{`{"output": {"a": "x"}}`, "output.a is a string"},
		{`{} {}`, "trailing data"},
		{`{`, "terraform JSON"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.in))
		assert.ErrorContains(t, err, tc.err, tc.in)
	}
}

func TestDiff(t *testing.T) {
	base := load(t, "two-hetzner-one-gcp.tf.json")
	noBeta, err := Parse(base.JSON())
	assert.NilError(t, err)
	delete(noBeta.block("resource")["hcloud_server"].(map[string]any), "beta")
	bigger, err := Parse(base.JSON())
	assert.NilError(t, err)
	bigger.Resource("hcloud_server", "alpha")["server_type"] = "cx32"

	tests := []struct {
		name     string
		old, cur *Config
		want     []Change
	}{
		{"same", base, base, nil},
		{"first rendering", nil, noBeta, []Change{
			{"gamma", "google_compute_instance.gamma", Appeared}, {"alpha", "hcloud_server.alpha", Appeared},
			{"", "hcloud_ssh_key.admin", Appeared}}},
		{"machine disappears", base, noBeta, []Change{{"beta", "hcloud_server.beta", Disappeared}}},
		{"machine appears", noBeta, base, []Change{{"beta", "hcloud_server.beta", Appeared}}},
		{"machine changes", base, bigger, []Change{{"alpha", "hcloud_server.alpha", Changed}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Diff(tc.old, tc.cur)
			assert.DeepEqual(t, got, tc.want)
		})
	}
	assert.Equal(t, FormatDiff(nil), "no changes since the last rendering\n")
	assert.Equal(t, FormatDiff(Diff(base, noBeta)), "  - machine beta disappears (hcloud_server.beta)\n")
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	assert.NilError(t, err)
	assert.NilError(t, os.MkdirAll(to, 0o755))
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		assert.NilError(t, err)
		assert.NilError(t, os.WriteFile(filepath.Join(to, e.Name()), b, 0o644))
	}
}

// TestRenderWithRealNix renders a real flake with nix, is served from the
// cache the second time (no nix process), and re-renders after an edit.
func TestRenderWithRealNix(t *testing.T) {
	nixtest.New(t)
	ctx := context.Background()
	dir := t.TempDir()
	flake := filepath.Join(dir, "flake")
	copyDir(t, "testdata/flake", flake)
	r := &Renderer{Flake: flake, CacheDir: filepath.Join(dir, "cache")}

	first, err := r.Render(ctx)
	assert.NilError(t, err)
	assert.Check(t, !first.Cached)
	assert.DeepEqual(t, first.Machines, []Machine{{"alpha", "hetzner", true}, {"beta", "hetzner", false}, {"gamma", "gcp", true}})
	assert.DeepEqual(t, keys(first.Config.Servers()), []string{"alpha", "gamma"})

	before := nix.Invocations()
	second, err := r.Render(ctx)
	assert.NilError(t, err)
	assert.Check(t, second.Cached)
	assert.Equal(t, nix.Invocations(), before, "a cached render runs no nix")
	assert.Equal(t, second.Key, first.Key)

	work := filepath.Join(dir, "work")
	ch, err := WriteWork(work, first)
	assert.NilError(t, err)
	assert.Check(t, is.Len(ch, 3))

	assert.NilError(t, os.WriteFile(filepath.Join(flake, "toggle.nix"), []byte("true\n"), 0o644))
	third, err := r.Render(ctx)
	assert.NilError(t, err)
	assert.Check(t, !third.Cached)
	assert.Check(t, third.Key != first.Key)
	ch, err = WriteWork(work, third)
	assert.NilError(t, err)
	assert.DeepEqual(t, ch, []Change{{"beta", "hcloud_server.beta", Appeared}})
}

func TestRenderRefusesInvalid(t *testing.T) {
	nixtest.New(t)
	dir := t.TempDir()
	flake := filepath.Join(dir, "flake")
	copyDir(t, "testdata/flake", flake)
	b, err := os.ReadFile(filepath.Join(flake, "flake.nix"))
	assert.NilError(t, err)
	// Render disabled machines too: validation must catch it.
	b = []byte(strings.Replace(string(b), `machines.${m}.cloud.enabled) (builtins`, `true) (builtins`, 1))
	assert.NilError(t, os.WriteFile(filepath.Join(flake, "flake.nix"), b, 0o644))
	_, err = (&Renderer{Flake: flake, CacheDir: filepath.Join(dir, "cache")}).Render(context.Background())
	assert.ErrorContains(t, err, "beta: disabled, but resource hcloud_server.beta is present")
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

func FuzzCanonicalize(f *testing.F) {
	b, _ := os.ReadFile("testdata/two-hetzner-one-gcp.tf.json")
	f.Add(b)
	f.Add([]byte(`{"output": {"a": {"value": "<&>"}}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		c1, err := Canonicalize(in)
		if err != nil {
			return
		}
		c2, err := Canonicalize(c1)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v", err)
		}
		if string(c1) != string(c2) {
			t.Fatalf("canonical form is not a fixed point:\n%s\n%s", c1, c2)
		}
	})
}

// TestRenderKeyFollowsGitTrackedFiles: for a flake inside a git checkout the
// render key covers the tracked files of the whole repository (what nix
// reads), so an edit to a tracked file beside the flake re-renders, and an
// untracked file (which nix never sees) does not.
func TestRenderKeyFollowsGitTrackedFiles(t *testing.T) {
	nixtest.New(t)
	ctx := context.Background()
	repo := t.TempDir()
	flake := filepath.Join(repo, "fleet")
	copyDir(t, "testdata/flake", flake)
	assert.NilError(t, os.Remove(filepath.Join(flake, "toggle.nix")))
	copyDir(t, "testdata/flake", filepath.Join(repo, "shared"))
	b, err := os.ReadFile(filepath.Join(flake, "flake.nix"))
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(flake, "flake.nix"), []byte(strings.Replace(string(b), "import ./toggle.nix", "import ../shared/toggle.nix", 1)), 0o644))
	treetest.GitAdd(t, repo)
	r := &Renderer{Flake: flake, CacheDir: filepath.Join(t.TempDir(), "cache")}

	first, err := r.Render(ctx)
	assert.NilError(t, err)
	assert.Check(t, !first.Cached)
	assert.DeepEqual(t, first.FleetMachines, []string{"alpha", "beta", "gamma"})

	assert.NilError(t, os.WriteFile(filepath.Join(repo, "notes.txt"), []byte("untracked\n"), 0o644))
	before := nix.Invocations()
	second, err := r.Render(ctx)
	assert.NilError(t, err)
	assert.Check(t, second.Cached, "an untracked file does not change the key")
	assert.Equal(t, nix.Invocations(), before)
	assert.DeepEqual(t, second.FleetMachines, first.FleetMachines)
	assert.Equal(t, second.Source, first.Source)

	assert.NilError(t, os.WriteFile(filepath.Join(repo, "shared", "toggle.nix"), []byte("true\n"), 0o644))
	third, err := r.Render(ctx)
	assert.NilError(t, err)
	assert.Check(t, !third.Cached, "a tracked file outside the flake directory is part of the key")
	assert.DeepEqual(t, keys(third.Config.Servers()), []string{"alpha", "beta", "gamma"})
}

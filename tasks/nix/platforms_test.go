package nix

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

func files(m map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		s, ok := m[p]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
}

func TestParseBuilders(t *testing.T) {
	machines := files(map[string]string{
		"/etc/nix/machines": "# the Macs\nssh-ng://mac aarch64-darwin,x86_64-darwin /k 4 2 big-parallel - AAAA\n\n@/etc/nix/more\n",
		"/etc/nix/more":     "ssh://arm aarch64-linux\n",
		"/etc/nix/loop":     "@/etc/nix/loop\n",
	})
	tests := []struct {
		name string
		spec string
		want []Builder
		err  string
	}{
		{name: "none", spec: ""},
		{name: "default machines file missing", spec: "@/etc/nix/absent"},
		{name: "inline, ';' separated", spec: "ssh://a x86_64-linux; ssh://b aarch64-linux - 8",
			want: []Builder{{URI: "ssh://a", Systems: []string{"x86_64-linux"}, MaxJobs: 1}, {URI: "ssh://b", Systems: []string{"aarch64-linux"}, MaxJobs: 8}}},
		{name: "platforms left out: this system", spec: "ssh://c",
			want: []Builder{{URI: "ssh://c", Systems: []string{"x86_64-linux"}, MaxJobs: 1}}},
		{name: "'-' placeholders", spec: "ssh://c - - - - kvm -",
			want: []Builder{{URI: "ssh://c", Systems: []string{"x86_64-linux"}, MaxJobs: 1, Supported: []string{"kvm"}}}},
		{name: "comment after an entry", spec: "ssh://d aarch64-darwin # the laptop",
			want: []Builder{{URI: "ssh://d", Systems: []string{"aarch64-darwin"}, MaxJobs: 1}}},
		{name: "machines file, nested", spec: "@/etc/nix/machines",
			want: []Builder{
				{URI: "ssh-ng://mac", Systems: []string{"aarch64-darwin", "x86_64-darwin"}, MaxJobs: 4, Supported: []string{"big-parallel"}},
				{URI: "ssh://arm", Systems: []string{"aarch64-linux"}, MaxJobs: 1},
			}},
		{name: "max jobs not a number", spec: "ssh://e x86_64-linux - many", err: `max jobs "many" is not a number`},
		{name: "speed factor not a number", spec: "ssh://e x86_64-linux - 1 fast", err: `speed factor "fast" is not a number`},
		{name: "files including each other", spec: "@/etc/nix/loop", err: "more than 8 deep"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseBuilders(tc.spec, "x86_64-linux", machines)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, got, tc.want)
		})
	}
}

func TestCanBuild(t *testing.T) {
	p := Platforms{System: "x86_64-linux", Extra: []string{"i686-linux"}, Builders: []Builder{
		{URI: "ssh://mac", Systems: []string{"aarch64-darwin"}, MaxJobs: 2},
		{URI: "ssh://off", Systems: []string{"riscv64-linux"}, MaxJobs: 0},
	}}
	for sys, want := range map[string]bool{
		"x86_64-linux":   true,
		"i686-linux":     true,
		"builtin":        true,
		"aarch64-darwin": true,  // the builder
		"riscv64-linux":  false, // a builder with no job slots builds nothing
		"x86_64-darwin":  false,
		"aarch64-linux":  false,
	} {
		assert.Equal(t, p.CanBuild(sys), want, sys)
	}
	assert.DeepEqual(t, p.Native(), []string{"x86_64-linux", "i686-linux"})
}

func TestParseConfig(t *testing.T) {
	p, err := ParseConfig([]byte(`{"system":{"value":"aarch64-darwin"},"extra-platforms":{"value":["x86_64-darwin"]},"builders":{"value":"ssh-ng://linux x86_64-linux"},"max-jobs":{"value":4}}`), files(nil))
	assert.NilError(t, err)
	assert.Equal(t, p.System, "aarch64-darwin")
	assert.Assert(t, p.CanBuild("x86_64-darwin"))
	assert.Assert(t, p.CanBuild("x86_64-linux"))
	assert.Assert(t, !p.CanBuild("aarch64-linux"))
	assert.Equal(t, p.BuildersSetting, "ssh-ng://linux x86_64-linux")

	_, err = ParseConfig([]byte(`{}`), files(nil))
	assert.ErrorContains(t, err, "no `system` setting")
	_, err = ParseConfig([]byte(`not json`), files(nil))
	assert.ErrorContains(t, err, "nix config")
}

// TestPlatformsOfBothNixes asks the real Nixes: each reports this
// machine's platform, the one HostPlatform names without asking.
func TestPlatformsOfBothNixes(t *testing.T) {
	for _, tc := range bothNixes(t) {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.n.Platforms(context.Background())
			assert.NilError(t, err)
			assert.Equal(t, p.System, HostPlatform())
			assert.Assert(t, p.CanBuild(HostPlatform()))
		})
	}
}

func TestHostPlatform(t *testing.T) {
	assert.Assert(t, strings.Count(HostPlatform(), "-") == 1, HostPlatform())
}

// FuzzParseBuilders: any `builders` value either parses into builders
// that each have a URI, platforms and a job count, or is refused with an
// error; it never panics.
func FuzzParseBuilders(f *testing.F) {
	for _, s := range []string{"", "ssh://a x86_64-linux", "ssh://a - - 4 1 kvm,big - AAA; @/m", "# c\n@/m\nssh://b a,b", "x - - 99999999999", "@", "a;;;b", "\t \n"} {
		f.Add(s)
	}
	read := files(map[string]string{"/m": "ssh://m aarch64-darwin 8\n"})
	f.Fuzz(func(t *testing.T, spec string) {
		bs, err := ParseBuilders(spec, "x86_64-linux", read)
		if err != nil {
			return
		}
		for _, b := range bs {
			if b.URI == "" || strings.ContainsAny(b.URI, " \t\n;#") {
				t.Fatalf("bad URI %q from %q", b.URI, spec)
			}
			if len(b.Systems) == 0 || b.MaxJobs < 0 {
				t.Fatalf("builder %+v from %q", b, spec)
			}
		}
	})
}

package closurediff

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

func TestSplitName(t *testing.T) {
	for _, tc := range []struct{ name, pname, version string }{
		{"firefox-121.0", "firefox", "121.0"},
		{"hello-2.12.1", "hello", "2.12.1"},
		{"python3.11-requests-2.31.0", "python3.11-requests", "2.31.0"},
		{"openssl-3.0.13-bin", "openssl", "3.0.13-bin"},
		{"nixos-system-cinnabar-24.05.20240601.abcdef", "nixos-system-cinnabar", "24.05.20240601.abcdef"},
		{"nixos-system-cinnabar-lab", "nixos-system-cinnabar-lab", ""},
		{"vanixiets-lab-sw-nixos-1.0", "vanixiets-lab-sw-nixos", "1.0"},
		{"etc", "etc", ""},
		{"unit-dbus.service", "unit-dbus.service", ""},
		{"linux-6.6.30-modules", "linux", "6.6.30-modules"},
		{"source", "source", ""},
		{"-1.0", "-1.0", ""}, // a package needs a name
		{"a-", "a-", ""},
		{"", "", ""},
		{"x-1", "x", "1"},
		{"foo-bar-baz", "foo-bar-baz", ""},
		{"perl5.38.2-Try-Tiny-0.31", "perl5.38.2-Try-Tiny", "0.31"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, v := SplitName(tc.name)
			assert.Equal(t, p, tc.pname)
			assert.Equal(t, v, tc.version)
		})
	}
}

func TestName(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/nix/store/0c7nq4s4cxj9l6dqd8jm7f9qk4y0q8ns-firefox-121.0", "firefox-121.0"},
		{"0c7nq4s4cxj9l6dqd8jm7f9qk4y0q8ns-firefox-121.0", "firefox-121.0"},
		{"/nix/store/short-name", "short-name"},
		{"/nix/store/0c7nq4s4cxj9l6dqd8jm7f9qk4y0q8ns", "0c7nq4s4cxj9l6dqd8jm7f9qk4y0q8ns"},
		{"", ""},
	} {
		assert.Equal(t, Name(tc.path), tc.want, tc.path)
	}
}

// p is a store path of the given name with a hash made from tag.
func p(tag, name string, size int64) Path {
	h := strings.Repeat(tag, 32)[:32]
	return Path{Path: "/nix/store/" + h + "-" + name, NarSize: size}
}

func TestCompute(t *testing.T) {
	base := p("a", "glibc-2.39", 1000)
	for _, tc := range []struct {
		name     string
		old, new []Path
		want     Diff
	}{
		{
			name: "same closure",
			old:  []Path{base, p("b", "hello-2.12", 100)},
			new:  []Path{p("b", "hello-2.12", 100), base},
			want: Diff{OldPaths: 2, NewPaths: 2, OldSize: 1100, NewSize: 1100},
		},
		{
			name: "a version bump",
			old:  []Path{base, p("b", "hello-2.12", 100)},
			new:  []Path{base, p("c", "hello-2.13", 130)},
			want: Diff{Changed: []Package{{Name: "hello", Old: []string{"2.12"}, New: []string{"2.13"}, SizeDelta: 30}},
				OldPaths: 2, NewPaths: 2, OldSize: 1100, NewSize: 1130, PathsAdded: 1, PathsRemoved: 1},
		},
		{
			name: "added and removed",
			old:  []Path{base, p("d", "nano-7.2", 50)},
			new:  []Path{base, p("e", "vim-9.1", 300), p("f", "vim-9.1-xxd", 10)},
			want: Diff{
				Added:    []Package{{Name: "vim", New: []string{"9.1", "9.1-xxd"}, SizeDelta: 310}},
				Removed:  []Package{{Name: "nano", Old: []string{"7.2"}, SizeDelta: -50}},
				OldPaths: 2, NewPaths: 3, OldSize: 1050, NewSize: 1310, PathsAdded: 2, PathsRemoved: 1},
		},
		{
			name: "rebuilt with the same version, and unversioned names",
			old:  []Path{base, p("g", "nixos-system-alpha-lab", 20), p("h", "etc", 5)},
			new:  []Path{base, p("i", "nixos-system-alpha-lab", 21), p("h", "etc", 5)},
			want: Diff{Rebuilt: []string{"nixos-system-alpha-lab"},
				OldPaths: 3, NewPaths: 3, OldSize: 1025, NewSize: 1026, PathsAdded: 1, PathsRemoved: 1},
		},
		{
			name: "a second version alongside",
			old:  []Path{p("j", "openssl-3.0.13", 10)},
			new:  []Path{p("j", "openssl-3.0.13", 10), p("k", "openssl-1.1.1w", 9)},
			want: Diff{Changed: []Package{{Name: "openssl", Old: []string{"3.0.13"}, New: []string{"1.1.1w", "3.0.13"}, SizeDelta: 9}},
				OldPaths: 1, NewPaths: 2, OldSize: 10, NewSize: 19, PathsAdded: 1},
		},
		{
			name: "version appears where there was none",
			old:  []Path{p("l", "foo", 1)},
			new:  []Path{p("m", "foo-1.0", 2)},
			want: Diff{Changed: []Package{{Name: "foo", Old: []string{""}, New: []string{"1.0"}, SizeDelta: 1}},
				OldPaths: 1, NewPaths: 1, OldSize: 1, NewSize: 2, PathsAdded: 1, PathsRemoved: 1},
		},
		{
			name: "nothing running yet",
			new:  []Path{base},
			want: Diff{Added: []Package{{Name: "glibc", New: []string{"2.39"}, SizeDelta: 1000}}, NewPaths: 1, NewSize: 1000, PathsAdded: 1},
		},
		{
			name: "a path listed twice counts once",
			old:  []Path{base, base},
			new:  []Path{base},
			want: Diff{OldPaths: 1, NewPaths: 1, OldSize: 1000, NewSize: 1000},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Compute(tc.old, tc.new)
			assert.DeepEqual(t, got, tc.want)
			assert.Equal(t, got.SizeDelta(), tc.want.NewSize-tc.want.OldSize)
			assert.Equal(t, got.Empty(), tc.want.PathsAdded == 0 && tc.want.PathsRemoved == 0)
		})
	}
}

func TestVersions(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"1.0"}, "1.0"},
		{[]string{"1.0", "2.0"}, "1.0, 2.0"},
		{[]string{"1.0", "1.0", "2.0"}, "1.0 ×2, 2.0"},
		{[]string{""}, "(none)"},
		{nil, ""},
	} {
		assert.Equal(t, Versions(tc.in), tc.want)
	}
}

// FuzzSplitName: the split loses nothing, the version starts with a digit,
// and it is the first possible split.
func FuzzSplitName(f *testing.F) {
	for _, s := range []string{"firefox-121.0", "nixos-system-a-lab", "-1", "a-1-2", "", "x--1", "perl5.38-Try-Tiny-0.31"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		pname, version := SplitName(name)
		if version == "" {
			if pname != name {
				t.Fatalf("%q: no version, but pname %q", name, pname)
			}
		} else {
			if pname+"-"+version != name {
				t.Fatalf("%q: %q + %q loses bytes", name, pname, version)
			}
			if version[0] < '0' || version[0] > '9' {
				t.Fatalf("%q: version %q does not start with a digit", name, version)
			}
			if pname == "" {
				t.Fatalf("%q: empty package name", name)
			}
		}
		for i := 1; i+1 < len(pname); i++ {
			if pname[i] == '-' && pname[i+1] >= '0' && pname[i+1] <= '9' {
				t.Fatalf("%q: pname %q still holds a split at %d", name, pname, i)
			}
		}
	})
}

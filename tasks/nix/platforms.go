package nix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Platforms is what this Nix can build, as its configuration says: its own
// platform (`system`), the ones it runs natively besides (`extra-platforms`,
// e.g. i686-linux on x86_64-linux, x86_64-darwin on a Mac with Rosetta) and
// those of its remote builders (`builders`, or the machines file it names).
// A derivation of any other platform fails to build here, with Nix's
// "a 'aarch64-darwin' with features {} is required to build ..."; the deploy
// asks first and says what to do instead.
type Platforms struct {
	System   string
	Extra    []string
	Builders []Builder
	// BuildersSetting is nix.conf's `builders` as Nix reported it (for
	// messages: "@/etc/nix/machines" or the inline list).
	BuildersSetting string
}

// Builder is one remote build machine of nix.conf's `builders`.
type Builder struct {
	URI       string
	Systems   []string
	MaxJobs   int
	Supported []string // supported features
	Mandatory []string // mandatory features
}

// CanBuild says whether a derivation for platform system can be built
// here: natively, or by a builder with a free job slot for it ("builtin"
// derivations everywhere).
func (p Platforms) CanBuild(system string) bool {
	if system == "builtin" || system == p.System || slices.Contains(p.Extra, system) {
		return true
	}
	for _, b := range p.Builders {
		if b.MaxJobs > 0 && slices.Contains(b.Systems, system) {
			return true
		}
	}
	return false
}

// Native lists the platforms this machine builds itself: System, then Extra.
func (p Platforms) Native() []string {
	return append([]string{p.System}, p.Extra...)
}

// HostPlatform is the Nix platform this binary was built for
// ("x86_64-linux", "aarch64-darwin"): the platform Nix reports as its
// `system` on the same machine, known without asking it.
func HostPlatform() string {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "riscv64": "riscv64"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	return arch + "-" + runtime.GOOS
}

// Platforms reads this Nix's `system`, `extra-platforms` and `builders`
// (`nix show-config --json`; `nix config show --json` from 2.20, where
// the old name warns) and the machines file `builders` names.
func (n *Nix) Platforms(ctx context.Context) (Platforms, error) {
	args := []string{"show-config", "--json"}
	if v, err := ParseVersion(n.versionLine()); err == nil && v.AtLeast(2, 20) {
		args = []string{"config", "show", "--json"}
	}
	out, err := n.run(ctx, "config", "show", args...)
	if err != nil {
		return Platforms{}, err
	}
	return ParseConfig(out, os.ReadFile)
}

// ParseConfig reads the platforms out of `nix show-config --json`'s
// output; readFile opens a machines file `builders` names (a missing one
// means no builders, as in Nix).
func ParseConfig(b []byte, readFile func(string) ([]byte, error)) (Platforms, error) {
	var cfg struct {
		System         struct{ Value string }   `json:"system"`
		ExtraPlatforms struct{ Value []string } `json:"extra-platforms"`
		Builders       struct{ Value string }   `json:"builders"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return Platforms{}, fmt.Errorf("nix config: %w", err)
	}
	if cfg.System.Value == "" {
		return Platforms{}, errors.New("nix config: no `system` setting in nix's configuration")
	}
	p := Platforms{System: cfg.System.Value, Extra: cfg.ExtraPlatforms.Value, BuildersSetting: cfg.Builders.Value}
	bs, err := ParseBuilders(cfg.Builders.Value, p.System, readFile)
	if err != nil {
		return p, err
	}
	p.Builders = bs
	return p, nil
}

// ParseBuilders reads nix.conf's `builders` the way Nix does (machines.cc):
// entries separated by newlines or ';', '#' starts a comment, an entry
// "@<file>" reads that machines file (missing: no builders), and an entry's
// fields, separated by blanks, are URI, platforms (comma-separated; absent
// or "-": thisSystem), SSH key, max jobs (default 1), speed factor,
// supported features, mandatory features and the host's public key.
func ParseBuilders(spec, thisSystem string, readFile func(string) ([]byte, error)) ([]Builder, error) {
	return parseBuilders(spec, thisSystem, readFile, 0)
}

func parseBuilders(spec, thisSystem string, readFile func(string) ([]byte, error), depth int) ([]Builder, error) {
	if depth > 8 {
		return nil, fmt.Errorf("nix builders: machines files include each other more than 8 deep")
	}
	var out []Builder
	for _, line := range strings.FieldsFunc(spec, func(r rune) bool { return r == '\n' || r == ';' }) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if file, ok := strings.CutPrefix(line, "@"); ok {
			file = strings.TrimSpace(file)
			b, err := readFile(file)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("nix builders: machines file %s: %w", file, err)
			}
			more, err := parseBuilders(string(b), thisSystem, readFile, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
			continue
		}
		f := strings.Fields(line)
		set := func(i int) bool { return len(f) > i && f[i] != "-" }
		b := Builder{URI: f[0], Systems: []string{thisSystem}, MaxJobs: 1}
		if set(1) {
			b.Systems = strings.Split(f[1], ",")
		}
		for _, field := range []struct {
			i    int
			name string
			to   *int
		}{{3, "max jobs", &b.MaxJobs}, {4, "speed factor", nil}} {
			if !set(field.i) {
				continue
			}
			v, err := strconv.ParseUint(f[field.i], 10, 31)
			if err != nil {
				return nil, fmt.Errorf("nix builders: %q: %s %q is not a number", line, field.name, f[field.i])
			}
			if field.to != nil {
				*field.to = int(v)
			}
		}
		if set(5) {
			b.Supported = strings.Split(f[5], ",")
		}
		if set(6) {
			b.Mandatory = strings.Split(f[6], ",")
		}
		out = append(out, b)
	}
	return out, nil
}

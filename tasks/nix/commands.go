package nix

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Installable joins a flake reference and an attribute path: "lab#fleet".
func Installable(flake, attr string) string {
	if attr == "" {
		return flake
	}
	return flake + "#" + attr
}

// FlakeRef turns a directory into a flake reference nix accepts: its
// absolute path. Nix itself notices when the directory lies inside a git
// repository and then reads the flake from git (only tracked files, the
// directory as ?dir=), which is what makes a flake in a subdirectory such as
// lab/ work. Strings that already look like flake references (with a scheme
// such as "github:" or "git+file://", or a registry name) are returned as
// they are. A directory without flake.nix is an error naming it.
func FlakeRef(dir string) (string, error) {
	if dir == "" {
		dir = "."
	}
	if looksLikeURL(dir) {
		return dir, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("flake %s: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("flake path %s does not exist", abs)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("flake path %s is not a directory", abs)
	}
	if _, err := os.Stat(filepath.Join(abs, "flake.nix")); err != nil {
		return "", fmt.Errorf("flake path %s has no flake.nix", abs)
	}
	return abs, nil
}

var schemeRe = regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`)

func looksLikeURL(s string) bool { return schemeRe.MatchString(s) }

// EvalJSON evaluates installable with --json and returns the JSON, without
// the newline some Nix versions end it with (TrimJSON), so the bytes are
// the same whichever Nix produced them.
func (n *Nix) EvalJSON(ctx context.Context, installable string) ([]byte, error) {
	b, err := n.run(ctx, "eval", installable, "eval", "--json", installable)
	if err != nil {
		return nil, err
	}
	return TrimJSON(b), nil
}

// Eval evaluates installable with --json and decodes the result into out.
func (n *Nix) Eval(ctx context.Context, installable string, out any) error {
	b, err := n.EvalJSON(ctx, installable)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("nix eval %s: decode JSON: %w", installable, err)
	}
	return nil
}

// EvalApply evaluates installable, applies the Nix function fn to it (nix
// eval --apply) and decodes the JSON result into out. One evaluation can so
// answer for many attributes, e.g. every machine's drvPath:
//
//	n.EvalApply(ctx, "lab#nixosConfigurations",
//	    "cs: builtins.mapAttrs (_: c: c.config.system.build.toplevel.drvPath) cs", &m)
func (n *Nix) EvalApply(ctx context.Context, installable, fn string, out any) error {
	b, err := n.run(ctx, "eval", installable, "eval", "--json", installable, "--apply", fn)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("nix eval %s: decode JSON: %w", installable, err)
	}
	return nil
}

// BuildResult is one built installable: its derivation and output paths.
type BuildResult struct {
	DrvPath string            `json:"drvPath"`
	Outputs map[string]string `json:"outputs"`
}

// Out returns the "out" output path (or the only output).
func (r BuildResult) Out() string {
	if p, ok := r.Outputs["out"]; ok {
		return p
	}
	for _, p := range r.Outputs {
		return p
	}
	return ""
}

// Build builds the installables with `nix build --json --no-link` (one nix
// process, derivations built in parallel) and returns one result per
// distinct derivation. The results are in Nix's order, which on Nix 2.8 is
// NOT the order of the installables: match them by DrvPath (EvalApply learns
// the drvPaths in one evaluation).
func (n *Nix) Build(ctx context.Context, installables ...string) ([]BuildResult, error) {
	return n.build(ctx, nil, installables)
}

// BuildKeepGoing is Build with --keep-going: a failing derivation does not
// stop the others, so after an error the caller can still use what was
// built (see which outputs exist).
func (n *Nix) BuildKeepGoing(ctx context.Context, installables ...string) ([]BuildResult, error) {
	return n.build(ctx, []string{"--keep-going"}, installables)
}

func (n *Nix) build(ctx context.Context, flags, installables []string) ([]BuildResult, error) {
	if len(installables) == 0 {
		return nil, nil
	}
	args := append(append([]string{"build", "--json", "--no-link"}, flags...), n.buildInstallables(installables)...)
	b, err := n.run(ctx, "build", strings.Join(installables, " "), args...)
	if err != nil {
		return nil, err
	}
	var res []BuildResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("nix build %s: decode --json output: %w", strings.Join(installables, " "), err)
	}
	return res, nil
}

// FlakeCheck runs `nix flake check` on flake; extra flags (e.g.
// "--no-build") are passed through.
func (n *Nix) FlakeCheck(ctx context.Context, flake string, extra ...string) error {
	args := append([]string{"flake", "check"}, extra...)
	args = append(args, flake)
	_, err := n.run(ctx, "flake check", flake, args...)
	return err
}

// FlakeMetadata is the part of `nix flake metadata --json` the suite reads.
type FlakeMetadata struct {
	Description  string          `json:"description"`
	LastModified int64           `json:"lastModified"`
	Locked       json.RawMessage `json:"locked"`
	Original     json.RawMessage `json:"original"`
	OriginalURL  string          `json:"originalUrl"`
	Path         string          `json:"path"`
	Resolved     json.RawMessage `json:"resolved"`
	ResolvedURL  string          `json:"resolvedUrl"`
	URL          string          `json:"url"`
	Revision     string          `json:"revision"`
}

// FlakeMetadata returns the flake's metadata (source store path, locked URL).
func (n *Nix) FlakeMetadata(ctx context.Context, flake string) (*FlakeMetadata, error) {
	b, err := n.run(ctx, "flake metadata", flake, "flake", "metadata", "--json", flake)
	if err != nil {
		return nil, err
	}
	var md FlakeMetadata
	if err := json.Unmarshal(b, &md); err != nil {
		return nil, fmt.Errorf("nix flake metadata %s: decode JSON: %w", flake, err)
	}
	return &md, nil
}

// PathInfo is one store path's metadata from `nix path-info --json`.
type PathInfo struct {
	Path       string   `json:"path"`
	NarHash    string   `json:"narHash"`
	NarSize    int64    `json:"narSize"`
	References []string `json:"references"`
	Deriver    string   `json:"deriver,omitempty"`
	Signatures []string `json:"signatures,omitempty"`
	Valid      *bool    `json:"valid,omitempty"`
}

// Closure lists the closures of paths (`nix path-info -r --json`), sorted by
// path. Paths not in the store are an error.
func (n *Nix) Closure(ctx context.Context, paths ...string) ([]PathInfo, error) {
	return n.pathInfo(ctx, true, paths...)
}

// PathInfo lists the given paths' metadata without their references'.
func (n *Nix) PathInfo(ctx context.Context, paths ...string) ([]PathInfo, error) {
	return n.pathInfo(ctx, false, paths...)
}

func (n *Nix) pathInfo(ctx context.Context, recursive bool, paths ...string) ([]PathInfo, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	args := []string{"path-info", "--json"}
	if recursive {
		args = append(args, "-r")
	}
	args = append(args, paths...)
	b, err := n.run(ctx, "path-info", strings.Join(paths, " "), args...)
	if err != nil {
		return nil, err
	}
	infos, err := ParsePathInfo(b)
	if err != nil {
		return nil, fmt.Errorf("nix path-info %s: %w", strings.Join(paths, " "), err)
	}
	return infos, nil
}

// ParsePathInfo decodes `nix path-info --json` output in both shapes: Nix
// 2.8-2.18 print an array of objects carrying "path"; Nix 2.19+ print an
// object keyed by store path (invalid paths map to null). The result is
// sorted by path.
func ParsePathInfo(b []byte) ([]PathInfo, error) {
	b = bytes.TrimSpace(b)
	var out []PathInfo
	switch {
	case len(b) > 0 && b[0] == '[':
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("decode path-info array: %w", err)
		}
	case len(b) > 0 && b[0] == '{':
		var m map[string]*PathInfo
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("decode path-info object: %w", err)
		}
		for p, info := range m {
			if info == nil {
				f := false
				out = append(out, PathInfo{Path: p, Valid: &f})
				continue
			}
			info.Path = p
			out = append(out, *info)
		}
	default:
		return nil, fmt.Errorf("path-info printed neither a JSON array nor an object")
	}
	for i, pi := range out {
		if pi.Path == "" {
			return nil, fmt.Errorf("path-info entry %d has no path", i)
		}
		// some Nix versions print references as base names
		dir := pi.Path[:strings.LastIndex(pi.Path, "/")+1]
		for j, r := range pi.References {
			if !strings.HasPrefix(r, "/") {
				out[i].References[j] = dir + r
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// CopyOptions says where `nix copy` copies to or from. Exactly one of To and
// From is set (store URLs such as "ssh-ng://root@10.0.0.2" or "file:///dir").
type CopyOptions struct {
	To, From string
	// NoCheckSigs accepts unsigned paths on the receiving side.
	NoCheckSigs bool
	// SSHOpts goes to NIX_SSHOPTS (the port goes here, not in the URL).
	SSHOpts string
}

// Copy copies the closures of paths with `nix copy`.
func (n *Nix) Copy(ctx context.Context, opt CopyOptions, paths ...string) error {
	if (opt.To == "") == (opt.From == "") {
		return fmt.Errorf("nix copy: set exactly one of To and From")
	}
	args := []string{"copy"}
	target := opt.To
	if opt.To != "" {
		args = append(args, "--to", opt.To)
	} else {
		args = append(args, "--from", opt.From)
		target = opt.From
	}
	if opt.NoCheckSigs {
		args = append(args, "--no-check-sigs")
	}
	args = append(args, paths...)
	nn := *n
	if opt.SSHOpts != "" {
		nn.ExtraEnv = append(append([]string{}, n.ExtraEnv...), "NIX_SSHOPTS="+opt.SSHOpts)
	}
	_, err := nn.run(ctx, "copy", target, args...)
	return err
}

// Version is a parsed `nix --version`.
type Version struct {
	Major, Minor, Patch int
	Raw                 string
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v >= major.minor.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

var versionRe = regexp.MustCompile(`(\d+)\.(\d+)(?:\.(\d+))?`)

// ParseVersion reads the first x.y[.z] of a `nix --version` line such as
// "nix (Nix) 2.8.0" or "nix (Nix) 2.24.10pre".
func ParseVersion(s string) (Version, error) {
	m := versionRe.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("no version number in %q", strings.TrimSpace(s))
	}
	v := Version{Raw: strings.TrimSpace(s)}
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		v.Patch, _ = strconv.Atoi(m[3])
	}
	return v, nil
}

// Version runs `nix --version`.
func (n *Nix) Version(ctx context.Context) (Version, error) {
	b, err := n.run(ctx, "--version", n.Bin, "--version")
	if err != nil {
		return Version{}, err
	}
	return ParseVersion(string(b))
}

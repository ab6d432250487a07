package terranix

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/fleet"
	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/paths"
)

// FileName is the rendered configuration's file name in a work directory.
const FileName = "config.tf.json"

// Rendering is a validated, canonical terraform configuration of a flake.
type Rendering struct {
	// Key is the render key: the SHA-256 of the canonical JSON. A saved plan
	// records it; apply refuses a plan whose key differs from the current
	// rendering's.
	Key string
	// Source is the digest of the flake's content the rendering was made
	// from ("" when the flake is not a local directory and is never cached).
	Source string
	// Config is the canonical configuration.
	Config *Config
	// Machines are the fleet's cloud machines.
	Machines []Machine
	// Recipients are the age recipients of the admins of the cloud machines:
	// terraform state is encrypted to them.
	Recipients []string
	// Cached is true when nothing was evaluated.
	Cached bool
}

// NewRendering validates cfg against machines and returns the rendering.
func NewRendering(cfg *Config, machines []Machine, recipients []string) (*Rendering, error) {
	if err := Validate(cfg, machines); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(cfg.JSON())
	return &Rendering{Key: hex.EncodeToString(sum[:]), Config: cfg, Machines: machines, Recipients: recipients}, nil
}

// Machine returns the named cloud machine.
func (r *Rendering) Machine(name string) (Machine, bool) {
	for _, m := range r.Machines {
		if m.Name == name {
			return m, true
		}
	}
	return Machine{}, false
}

// Renderer renders a flake's terraform configuration.
type Renderer struct {
	// Nix runs nix; nil: nix.New().
	Nix *nix.Nix
	// Flake is a directory holding flake.nix, or a flake reference.
	Flake string
	// System selects packages.<System>.terraform (default x86_64-linux).
	System string
	// CacheDir keeps renderings by flake content (default
	// paths.Store()/terranix). Empty string after defaults: no cache.
	CacheDir string
	// NoCache forces an evaluation.
	NoCache bool
}

type cached struct {
	Config     json.RawMessage `json:"config"`
	Machines   []Machine       `json:"machines"`
	Recipients []string        `json:"recipients"`
}

// Render builds packages.<system>.terraform and evaluates the fleet (or
// takes both from the cache when the flake's content is unchanged),
// canonicalizes and validates.
func (r *Renderer) Render(ctx context.Context) (*Rendering, error) {
	system := r.System
	if system == "" {
		system = "x86_64-linux"
	}
	cacheDir := r.CacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(paths.Store(), "terranix")
	}
	ref := r.Flake
	source := ""
	if st, err := os.Stat(r.Flake); err == nil && st.IsDir() {
		var err error
		if ref, err = nix.FlakeRef(r.Flake); err != nil {
			return nil, err
		}
		if source, err = SourceDigest(ctx, r.Flake); err != nil {
			return nil, err
		}
		h := sha256.Sum256([]byte("terranix-render-v1\x00" + system + "\x00" + source))
		source = hex.EncodeToString(h[:])
	}
	cachePath := filepath.Join(cacheDir, source+".json")
	if source != "" && !r.NoCache {
		if b, err := os.ReadFile(cachePath); err == nil {
			var c cached
			if json.Unmarshal(b, &c) == nil {
				if cfg, err := Parse(c.Config); err == nil {
					if rr, err := NewRendering(cfg, c.Machines, c.Recipients); err == nil {
						rr.Source, rr.Cached = source, true
						return rr, nil
					}
				}
			}
		}
	}
	n := r.Nix
	if n == nil {
		var err error
		if n, err = nix.New(); err != nil {
			return nil, err
		}
	}
	res, err := n.Build(ctx, nix.Installable(ref, "packages."+system+".terraform"))
	if err != nil {
		return nil, err
	}
	out := res[0].Out()
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		out = filepath.Join(out, FileName)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("read rendered terraform %s: %w", out, err)
	}
	cfg, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s#packages.%s.terraform: %w", r.Flake, system, err)
	}
	fj, err := n.EvalJSON(ctx, nix.Installable(ref, "fleet"))
	if err != nil {
		return nil, err
	}
	fl, err := fleet.Parse(fj)
	if err != nil {
		return nil, fmt.Errorf("%s#fleet: %w", r.Flake, err)
	}
	machines := MachinesOf(fl)
	rr, err := NewRendering(cfg, machines, RecipientsOf(fl, machines))
	if err != nil {
		return nil, err
	}
	rr.Source = source
	if source != "" {
		b, _ := json.Marshal(cached{Config: cfg.JSON(), Machines: machines, Recipients: rr.Recipients})
		if err := fsutil.WriteFile(cachePath, b, 0o644); err != nil {
			return nil, err
		}
	}
	return rr, nil
}

// RecipientsOf returns the age keys of every admin of a cloud machine.
func RecipientsOf(f *fleet.Fleet, machines []Machine) []string {
	set := map[string]bool{}
	for _, m := range machines {
		for _, k := range f.Recipients(m.Name) {
			set[k] = true
		}
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// SourceDigest is the digest of what nix reads of the flake in dir. Inside
// a git checkout nix reads the tracked files of the whole repository (a flake
// in a subdirectory may import files beside it), so the digest covers the
// index (path, mode, blob) plus the content of tracked files that differ
// from it. Outside git it covers every file under dir.
func SourceDigest(ctx context.Context, dir string) (string, error) {
	h := sha256.New()
	top, err := git(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		if werr := hashTree(h, dir); werr != nil {
			return "", werr
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	root := strings.TrimSpace(string(top))
	idx, err := git(ctx, root, "ls-files", "-s", "-z")
	if err != nil {
		return "", err
	}
	h.Write(idx)
	mod, err := git(ctx, root, "ls-files", "-m", "-z")
	if err != nil {
		return "", err
	}
	for _, p := range strings.Split(string(mod), "\x00") {
		if p == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, p))
		fmt.Fprintf(h, "\x00modified %s %d\x00", p, len(b))
		if err == nil {
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "safe.directory=*", "-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s in %s: %v: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func hashTree(h interface{ Write([]byte) (int, error) }, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(b))
		h.Write(b)
		return nil
	})
}

// WriteWork writes the rendering to dir/config.tf.json (atomically) and
// returns its difference from the rendering that was there before.
func WriteWork(dir string, r *Rendering) ([]Change, error) {
	p := filepath.Join(dir, FileName)
	var old *Config
	if b, err := os.ReadFile(p); err == nil {
		if c, err := Parse(b); err == nil {
			old = c
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read last rendering: %w", err)
	}
	if err := fsutil.WriteFile(p, r.Config.JSON(), 0o644); err != nil {
		return nil, err
	}
	return Diff(old, r.Config), nil
}

package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/cache"
	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/nix"
)

// Attr is the flake output the inventory is read from.
const Attr = "fleet"

// keyVersion changes when the cached value's meaning changes.
const keyVersion = "vanixiets/fleet/v1"

// Loader evaluates a flake's `fleet` output, through the content cache.
type Loader struct {
	// Nix runs evaluations; nil means nix.New() on first need (so a warm,
	// cached load works even where nix is missing).
	Nix *nix.Nix
	// Cache keeps evaluated JSON by the flake's content key; nil disables
	// caching.
	Cache cache.Store
	// Hasher hashes the flake's files; nil means digest.Default().
	Hasher *digest.Hasher
}

// NewLoader returns a Loader with the suite's cache (cache.Open).
func NewLoader() *Loader { return &Loader{Cache: cache.Open()} }

// Load evaluates flakeRef#fleet, parses it strictly and validates it, for a
// caller that acts on it: see Loader.Load. flakeRef is a directory or a
// flake URL.
func Load(ctx context.Context, flakeRef string) (*Fleet, error) {
	return NewLoader().Load(ctx, flakeRef)
}

// Load is the fleet a caller may act on: vars generate (whose generator
// scripts run as root on the deployer), deploy (owners, modes and health
// checks on hosts), terraform (whose state is encrypted to the admins'
// recipients). It is taken from the cache only when this machine evaluated
// it itself (cache.OnlyMadeHere); an entry copied from the shared cache,
// even one signed by a trusted writer, is re-evaluated. Signing says who
// wrote an entry, not that what they evaluated is this checkout's fleet:
// only an evaluation here says that. The cost is one evaluation per flake
// change on each machine (BenchmarkLoadMadeHere).
//
// LoadUnvalidated, for display (check:fleet, show), takes any verified hit.
func (l *Loader) Load(ctx context.Context, flakeRef string) (*Fleet, error) {
	f, _, err := l.LoadUnvalidated(cache.OnlyMadeHere(ctx), flakeRef)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("flake %s: %w", flakeRef, err)
	}
	return f, nil
}

// LoadUnvalidated evaluates and parses without validating; hit reports
// whether the JSON came from the cache (no nix process started). The hit
// may come from the shared cache: use Load for anything that acts on the
// fleet.
func (l *Loader) LoadUnvalidated(ctx context.Context, flakeRef string) (f *Fleet, hit bool, err error) {
	data, hit, err := l.JSON(ctx, flakeRef)
	if err != nil {
		return nil, false, err
	}
	f, err = Parse(data)
	if err != nil {
		return nil, hit, fmt.Errorf("flake %s: %w", flakeRef, err)
	}
	return f, hit, nil
}

// JSON returns the `fleet` output's JSON, from the cache when the flake's
// content is unchanged. Only successful evaluations are cached.
func (l *Loader) JSON(ctx context.Context, flakeRef string) ([]byte, bool, error) {
	ref, err := nix.FlakeRef(flakeRef)
	if err != nil {
		return nil, false, err
	}
	key := ""
	if l.Cache != nil && filepath.IsAbs(ref) {
		src, err := SourceOf(ref, l.Hasher)
		if err != nil {
			return nil, false, err
		}
		key = src.Key(keyVersion, Attr, l.nixIdentity())
	}
	return cached(ctx, l.Cache, key, func() ([]byte, error) {
		n, err := l.nix()
		if err != nil {
			return nil, err
		}
		b, err := n.EvalJSON(ctx, nix.Installable(ref, Attr))
		if err != nil {
			return nil, explainEval(ref, err)
		}
		return b, nil
	})
}

// cached is the one place a cached computation happens: get key, else run
// and put. An empty key or nil store runs without caching. A failing cache
// never fails the load: it only costs the evaluation. ctx carries the
// caller's trust (cache.OnlyMadeHere) to the store.
func cached(ctx context.Context, store cache.Store, key string, run func() ([]byte, error)) ([]byte, bool, error) {
	if store != nil && key != "" {
		if b, ok, err := store.Get(ctx, key); err == nil && ok {
			return b, true, nil
		}
	}
	b, err := run()
	if err != nil {
		return nil, false, err
	}
	if store != nil && key != "" {
		_ = store.Put(ctx, key, b)
	}
	return b, false, nil
}

func (l *Loader) nix() (*nix.Nix, error) {
	if l.Nix != nil {
		return l.Nix, nil
	}
	n, err := nix.New()
	if err != nil {
		return nil, err
	}
	l.Nix = n
	return n, nil
}

// nixIdentity names the nix that would evaluate (nix.Identity: its path,
// the version it reports, read once per binary, and its config), so an
// upgraded nix is a new key.
func (l *Loader) nixIdentity() string {
	n := l.Nix
	if n == nil {
		n, _ = nix.New()
	}
	if n == nil {
		return "bin=" // no nix: evaluation fails, nothing is cached under this
	}
	return n.Identity()
}

// storeSourceRe matches the store copy of a flake's source in nix messages.
var storeSourceRe = regexp.MustCompile(`/nix/store/[0-9a-z]{32}-source/`)

// localPaths rewrites "/nix/store/<hash>-source/x/flake.nix:4:3" in nix's
// message to the file in the working tree ("<root>/x/flake.nix:4:3"), so the
// location points at what the user edits. root is the repository root of a
// flake in git, else the flake directory.
func localPaths(ref string, err error) error {
	var ce *nix.CommandError
	if err == nil || !filepath.IsAbs(ref) || !errors.As(err, &ce) {
		return err
	}
	root := gitRoot(ref)
	if root == "" {
		root = ref
	}
	ce.Message = storeSourceRe.ReplaceAllLiteralString(ce.Message, root+"/")
	return err
}

// explainEval points nix's source locations at the working tree and adds
// the fix to its "does not provide attribute" error: the flake must expose
// the inventory as `fleet`.
func explainEval(ref string, err error) error {
	err = localPaths(ref, err)
	var ee *nix.EvalError
	if errors.As(err, &ee) && strings.Contains(ee.Message, "does not provide attribute") {
		return fmt.Errorf("flake %s has no `fleet` output: expose the inventory as outputs.fleet (see docs/fleet.md): %w", ref, err)
	}
	return err
}

// Source is the set of files a local flake's evaluation can read, hashed:
// every file under the flake's directory, plus modules/_fleet of the git
// repository holding it (the plain fleet data the lab flake imports from
// outside its directory). Files outside this set that a flake imports are
// not seen; such a flake should live at its repository's root, where the
// set is the whole repository.
type Source struct {
	FlakeDir string
	RepoRoot string // "" when the flake is not in a git repository
	Manifest digest.Manifest
}

// SourceOf hashes the flake directory's source set (see Source) with h
// (nil: digest.Default, whose stat cache is saved afterwards).
func SourceOf(flakeDir string, h *digest.Hasher) (*Source, error) {
	dir, err := filepath.Abs(flakeDir)
	if err != nil {
		return nil, err
	}
	repo := gitRoot(dir)
	root := dir
	patterns := []string{"**"}
	if repo != "" && repo != dir {
		rel, err := filepath.Rel(repo, dir)
		if err != nil {
			return nil, err
		}
		root = repo
		patterns = []string{filepath.ToSlash(rel) + "/**", "modules/_fleet/**"}
	}
	save := h == nil
	if h == nil {
		h = digest.Default()
	}
	m, err := h.Glob(digest.Spec{Root: root, Patterns: patterns, Exclude: []string{"**/result", "**/result-*"}})
	if err != nil {
		return nil, fmt.Errorf("hash flake %s: %w", dir, err)
	}
	if save {
		_ = h.Save()
	}
	return &Source{FlakeDir: dir, RepoRoot: repo, Manifest: m}, nil
}

// Key derives a cache key from the source's content and the given parts
// (what is computed from it, and with which tool).
func (s *Source) Key(parts ...string) string {
	h := sha256.New()
	io.WriteString(h, s.Manifest.Sum())
	// the flake's place inside the repository changes what ?dir= evaluates
	rel, _ := filepath.Rel(s.Manifest.Root, s.FlakeDir)
	fmt.Fprintf(h, "\x00dir=%s", filepath.ToSlash(rel))
	for _, p := range parts {
		fmt.Fprintf(h, "\x00%d:%s", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// gitRoot returns the nearest enclosing directory holding .git, or "".
func gitRoot(dir string) string {
	for d := dir; ; {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

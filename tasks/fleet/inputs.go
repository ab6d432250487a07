package fleet

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/vanixiets/vanixiets/tasks/digest"
	"github.com/vanixiets/vanixiets/tasks/gitrepo"
)

// FlakeFiles is the one answer to "which files make up a local flake's
// inputs", for every step keyed on a flake's content: the fleet's
// evaluation, `nix flake check`, the terranix render and the deploy's
// evaluation and build. One answer means one key for the same content: the
// lab's #fleet used to be hashed three ways (the flake directory plus
// modules/_fleet; every tracked file of the repository; every .nix file of
// it) and so cached under three keys.
//
// The answer is what nix reads. A flake directory inside a git repository
// is evaluated as git+file with ?dir=: nix copies the repository's tracked
// files (in their working-tree content) and nothing else, and a flake in a
// subdirectory may import any of them (the lab imports ../modules/_fleet
// and ../../modules/terranix). So the set is every tracked file of the
// repository: an edit to one changes the key, an untracked file (which nix
// never sees) does not. Outside git nix reads the directory as a path: every
// file under it, less build result links.
type FlakeFiles struct {
	Dir     string   // the flake directory, absolute
	Root    string   // what Files and Exclude are relative to: the repository root, or Dir
	Files   []string // globs
	Exclude []string
	// Paths are the files git tracks, sorted (nil outside git): a step's
	// Paths, hashed without walking the repository's directories.
	Paths []string
}

// FilesOf answers FlakeFiles for the flake directory flakeDir. In a git
// repository it asks git for the tracked files (gitrepo.Tracked: once per
// process while the index is unchanged).
func FilesOf(ctx context.Context, flakeDir string) (FlakeFiles, error) {
	dir, err := filepath.Abs(flakeDir)
	if err != nil {
		return FlakeFiles{}, err
	}
	ff := FlakeFiles{Dir: dir, Root: dir, Files: []string{"**"}, Exclude: []string{"**/result", "**/result-*"}}
	repo := gitrepo.Root(dir)
	if repo == "" {
		return ff, nil
	}
	paths, err := gitrepo.Tracked(ctx, repo)
	if err != nil {
		return FlakeFiles{}, fmt.Errorf("flake %s: %w", dir, err)
	}
	ff.Root, ff.Paths = repo, paths
	return ff, nil
}

// Rel is the flake's place inside Root, slash-separated ("." at the root):
// it changes what nix evaluates (?dir=), so it is part of every key.
func (f FlakeFiles) Rel() string {
	rel, err := filepath.Rel(f.Root, f.Dir)
	if err != nil {
		return f.Dir
	}
	return filepath.ToSlash(rel)
}

// Spec is the set as a digest specification.
func (f FlakeFiles) Spec() digest.Spec {
	return digest.Spec{Root: f.Root, Patterns: f.Files, Exclude: f.Exclude, Paths: f.Paths}
}

// hash hashes the set with h (nil: digest.Default, saved afterwards).
func (f FlakeFiles) hash(h *digest.Hasher) (digest.Manifest, error) {
	save := h == nil
	if h == nil {
		h = digest.Default()
	}
	m, err := h.Glob(f.Spec())
	if err != nil {
		return digest.Manifest{}, fmt.Errorf("hash flake %s: %w", f.Dir, err)
	}
	if save {
		_ = h.Save()
	}
	return m, nil
}

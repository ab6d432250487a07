// Package treetest makes and compares directory trees for tests: it
// writes a tree and makes it a git work tree (what nix reads of a flake),
// and snapshots a tree to show what a command wrote and, as often, that it
// wrote nothing.
//
// Imported by tests only.
package treetest

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// Snapshot maps every path under dir (relative to it, "." for dir itself)
// to its mode, modification time and, for a regular file, content: any
// write, even of the same bytes, changes its entry.
func Snapshot(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var content []byte
		if d.Type().IsRegular() {
			if content, err = os.ReadFile(p); err != nil {
				return err
			}
		}
		r, _ := filepath.Rel(dir, p)
		out[r] = info.Mode().String() + " " + info.ModTime().Format(time.RFC3339Nano) + " " + string(content)
		return nil
	})
	if err != nil {
		tb.Fatalf("snapshot of %s: %v", dir, err)
	}
	return out
}

// Changed lists, sorted, the paths whose entries differ between two
// snapshots: changed, added or removed. It is nil when none does.
func Changed(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// GitAdd makes dir a git work tree with every file in it added. Nix reads
// of a flake in git only what git tracks, so a test's copy of a flake must
// be added before nix sees it; later edits to added files need no commit.
func GitAdd(tb testing.TB, dir string) {
	tb.Helper()
	git(tb, dir, "init", "-q")
	git(tb, dir, "add", "-A")
}

// GitCommit is GitAdd followed by a commit, for code that reads git's
// history (the published keys, the lab's files at HEAD).
func GitCommit(tb testing.TB, dir string) {
	tb.Helper()
	GitAdd(tb, dir)
	git(tb, dir, "commit", "-q", "-m", "test")
}

// git runs git in dir without the user's or the system's configuration,
// as a fixed author, so that no hook, signing key or identity of the
// machine changes what a test sees.
func git(tb testing.TB, dir string, args ...string) {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("git %v in %s: %v\n%s", args, dir, err, out)
	}
}

// Write writes files (slash-separated paths under dir, to content),
// making the directories they need.
func Write(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

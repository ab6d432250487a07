// Package gitrepo answers the two questions the suite asks of the git
// repository holding a directory, in one place: where its root is (Root)
// and which files it tracks (Tracked), which is what nix reads of a flake
// in it and where a committed private key would be published. git runs
// with its own ownership check left on (Git).
package gitrepo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// Tracked is the files git tracks in repo (paths relative to it, sorted:
// the list is shared, callers must not modify it). `git ls-files` is asked once per process for a given state
// of the repository's index (its size, mtime and inode): the tracked set
// changes only when the index does, and a fleet deploy keys several steps
// on the same flake. A worktree (whose .git is a file) is asked every time.
func Tracked(ctx context.Context, repo string) ([]string, error) {
	id, memo := indexID(repo)
	if memo {
		trackedMu.Lock()
		e, ok := trackedMemo[repo]
		trackedMu.Unlock()
		if ok && e.id == id {
			return e.paths, nil
		}
	}
	ls, err := Git(ctx, repo, "ls-files", "-z")
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, p := range strings.Split(string(ls), "\x00") {
		if p != "" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	paths = slices.Compact(paths) // a file in conflict is listed once per stage
	if memo {
		trackedMu.Lock()
		trackedMemo[repo] = trackedEntry{id: id, paths: paths}
		trackedMu.Unlock()
	}
	return paths, nil
}

type trackedEntry struct {
	id    string
	paths []string // shared: never modified
}

var (
	trackedMu   sync.Mutex
	trackedMemo = map[string]trackedEntry{}
)

// indexID names the state of repo's index; memo is false when there is no
// plain .git/index to stat (a worktree, a repository without an index yet).
func indexID(repo string) (string, bool) {
	st, err := os.Stat(filepath.Join(repo, ".git", "index"))
	if err != nil {
		return "", false
	}
	ino := uint64(0)
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		ino = uint64(sys.Ino)
	}
	return fmt.Sprintf("%d:%d:%d", st.Size(), st.ModTime().UnixNano(), ino), true
}

// Git runs git in dir with git's own ownership check left on. The suite
// runs as root, and a repository's configuration can run programs
// (core.fsmonitor, for one): overriding the check with safe.directory=*
// would let whoever owns a checkout run code as root. A checkout owned by
// another user is therefore refused by git, and the error says how to
// trust that one directory.
func Git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "dubious ownership") {
			msg += " (the checkout belongs to another user, and its git configuration could run programs as you: trust exactly this directory with `git config --global --add safe.directory <its top directory>` only if you trust its owner)"
		}
		return nil, fmt.Errorf("git %s in %s: %v: %s", strings.Join(args, " "), dir, err, msg)
	}
	return out, nil
}

// Root is the repository holding dir: the nearest enclosing directory
// that holds .git (a directory, or a file for a worktree), or "" outside
// any. It asks no git process, so it costs a few stats.
func Root(dir string) string {
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

package fleet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// tracked is the set of files git tracks in repo (paths relative to it),
// as a filter. `git ls-files` is asked once per process for a given state
// of the repository's index (its size, mtime and inode): the tracked set
// changes only when the index does, and a fleet deploy keys several steps
// on the same flake. A worktree (whose .git is a file) is asked every time.
func tracked(ctx context.Context, repo string) (func(string) bool, error) {
	id, memo := indexID(repo)
	if memo {
		trackedMu.Lock()
		e, ok := trackedMemo[repo]
		trackedMu.Unlock()
		if ok && e.id == id {
			return e.keep, nil
		}
	}
	ls, err := git(ctx, repo, "ls-files", "-z")
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, p := range strings.Split(string(ls), "\x00") {
		if p != "" {
			set[p] = true
		}
	}
	keep := func(p string) bool { return set[p] }
	if memo {
		trackedMu.Lock()
		trackedMemo[repo] = trackedEntry{id: id, keep: keep}
		trackedMu.Unlock()
	}
	return keep, nil
}

type trackedEntry struct {
	id   string
	keep func(string) bool
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

// git runs git in dir with git's own ownership check left on. The suite
// runs as root, and a repository's configuration can run programs
// (core.fsmonitor, for one): overriding the check with safe.directory=*
// would let whoever owns a checkout run code as root. A checkout owned by
// another user is therefore refused by git, and the error says how to
// trust that one directory.
func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
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

package gitrepo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"

	"gotest.tools/v3/assert"
)

// TestGitKeepsOwnershipCheck reproduces issue 16 part 5: the terranix
// render ran git with -c safe.directory=*, so a checkout owned by another user whose
// config sets core.fsmonitor ran that program as root on `git ls-files`.
// Now git's ownership check stays on: the call fails naming the fix, and
// the program never runs. A checkout of one's own still works.
func TestGitKeepsOwnershipCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the checkout to another user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	// Only this test's settings: no global or system safe.directory.
	t.Setenv("GIT_CONFIG_GLOBAL", "/dev/null")
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	tests := []struct {
		name    string
		owner   int
		wantErr string
	}{
		{name: "another user's checkout", owner: uid, wantErr: "dubious ownership"},
		{name: "own checkout", owner: os.Geteuid()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			assert.NilError(t, os.Chmod(base, 0o755))
			repo := filepath.Join(base, "repo")
			marker := filepath.Join(base, "fsmonitor-ran")
			hook := filepath.Join(base, "hook")
			assert.NilError(t, os.WriteFile(hook, []byte("#!/bin/sh\nid -u > "+marker+"\n"), 0o755))
			for _, args := range [][]string{{"init", "-q", repo}, {"-C", repo, "config", "core.fsmonitor", hook}} {
				out, err := exec.Command("git", args...).CombinedOutput()
				assert.NilError(t, err, string(out))
			}
			assert.NilError(t, os.WriteFile(filepath.Join(repo, "flake.nix"), []byte("{}"), 0o644))
			out, err := exec.Command("git", "-C", repo, "add", "flake.nix").CombinedOutput()
			assert.NilError(t, err, string(out))
			os.Remove(marker) // git add itself may consult the monitor as the owner
			assert.NilError(t, filepath.Walk(repo, func(p string, _ os.FileInfo, err error) error {
				if err != nil {
					return err
				}
				return os.Lchown(p, tc.owner, -1)
			}))

			// Tracked is what keys every flake step (the render, the
			// fleet's evaluation) and what agekey scans.
			paths, err := Tracked(context.Background(), repo)
			if tc.wantErr == "" {
				assert.NilError(t, err)
				assert.DeepEqual(t, paths, []string{"flake.nix"})
				ls, err := Git(context.Background(), repo, "ls-files", "-z")
				assert.NilError(t, err)
				assert.Equal(t, string(ls), "flake.nix\x00")
				return
			}
			assert.ErrorContains(t, err, tc.wantErr)
			assert.ErrorContains(t, err, "git config --global --add safe.directory")
			_, statErr := os.Stat(marker)
			assert.Assert(t, errors.Is(statErr, os.ErrNotExist), "the checkout owner's core.fsmonitor ran as root")
		})
	}
}

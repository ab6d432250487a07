package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vanixiets/vanixiets/tasks/nix"
)

// copyTree copies the named files (relative paths) into a fresh private
// directory, resolving Bazel's symlinks, so a checker sees real files and
// nothing else. The caller removes the directory.
func copyTree(files []string) (string, error) {
	dir, err := os.MkdirTemp("", "steprunner-")
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if filepath.IsAbs(f) || strings.HasPrefix(filepath.Clean(f), "..") {
			os.RemoveAll(dir)
			return "", fmt.Errorf("input %s: want a path relative to the exec root", f)
		}
		if err := copyFile(f, filepath.Join(dir, f)); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("copying input %s: %v", f, err)
		}
	}
	return dir, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm()|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// gitTree makes dir a git work tree with every file added: the lab flake
// reads ../modules/_fleet, which nix allows only when the flake is a
// subdirectory of a git repository (git+file://DIR?dir=lab).
func gitTree(dir string) error {
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s in %s: %v: %s", args[0], dir, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// nixEnv makes nix usable from a Bazel action: a HOME of its own (Bazel's
// strict environment has none) and the suite's settings (no substituters,
// no sandbox, no build users: root without a daemon).
func nixEnv(tmp string) {
	if os.Getenv("HOME") == "" {
		os.Setenv("HOME", tmp)
	}
	os.Setenv("NIX_CONFIG", nix.Config())
	os.Setenv("PATH", os.Getenv("PATH")+":/usr/bin:/bin")
}

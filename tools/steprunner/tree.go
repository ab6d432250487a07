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
// nothing else. A symlink of the source tree itself (relative, inside the
// inputs, such as clan's vars/.../machines/<m> -> ../../sops/machines/<m>)
// is made again as that symlink: Bazel's glob reads through it, and a
// checker that holds such links to their shape must see them. The files
// its target holds come from their own inputs (undeclared, it dangles).
// The caller removes the directory.
func copyTree(files []string) (string, error) {
	dir, err := os.MkdirTemp("", "steprunner-")
	if err != nil {
		return "", err
	}
	links := map[string]string{}
	for _, f := range files {
		if filepath.IsAbs(f) || strings.HasPrefix(filepath.Clean(f), "..") {
			os.RemoveAll(dir)
			return "", fmt.Errorf("input %s: want a path relative to the exec root", f)
		}
		f = filepath.Clean(f)
		if link, target, ok := sourceLink(f); ok {
			links[link] = target
			continue
		}
		if err := copyFile(f, filepath.Join(dir, f)); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("copying input %s: %v", f, err)
		}
	}
	for link, target := range links {
		p := filepath.Join(dir, link)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		if err := os.Symlink(target, p); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("input symlink %s -> %s: %v", link, target, err)
		}
	}
	return dir, nil
}

// sourceLink reports the source tree's symlink that input f lies under (or
// is): the shortest of f's paths (f's directories, then f) that is a
// symlink with a relative target staying inside the inputs' tree. Bazel
// hands f over as a chain of absolute symlinks (runfiles or sandbox, then
// the exec root, then the workspace); each hop whose path still ends in f
// is searched, so the link is found where the source tree has it. Bazel's
// own links are absolute and never match.
func sourceLink(f string) (link, target string, ok bool) {
	parts := strings.Split(filepath.ToSlash(f), "/")
	p := f
	for hop := 0; hop < 40; hop++ {
		if p == f || strings.HasSuffix(p, "/"+f) {
			base := strings.TrimSuffix(p, f)
			for i := 1; i <= len(parts); i++ {
				rel := filepath.FromSlash(strings.Join(parts[:i], "/"))
				st, err := os.Lstat(base + rel)
				if err != nil {
					break
				}
				if st.Mode()&os.ModeSymlink == 0 {
					continue
				}
				t, err := os.Readlink(base + rel)
				if err != nil || filepath.IsAbs(t) {
					continue
				}
				if inside := filepath.Join(filepath.Dir(rel), t); inside == ".." || strings.HasPrefix(inside, "../") {
					continue
				}
				return rel, t, true
			}
		}
		st, err := os.Lstat(p)
		if err != nil || st.Mode()&os.ModeSymlink == 0 {
			break
		}
		t, err := os.Readlink(p)
		if err != nil {
			break
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		p = t
	}
	return "", "", false
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

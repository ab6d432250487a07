package ci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/paths"
)

// tool is one tool a job may name: the command printing its version (the
// line that enters the key), and how a fresh runner gets it before the key
// is computed. A generated workflow job installs its key's tools first (a
// Debian package, or one of the suite's install scripts), computes the key,
// and only on a miss runs the expensive set-up; a tool still missing at that
// point would enter the key as "missing" and never match a laptop's.
type tool struct {
	argv   []string
	deb    string // Debian package providing it ("" when not from apt)
	script string // scripts/<script> installs it when it is no Debian package
}

// knownTools maps a tool name to its tool. A job may only name tools listed
// here, so a typo is an error instead of a key that silently ignores the
// toolchain. Go comes from actions/setup-go in the workflow, so it has
// neither a package nor a script.
var knownTools = map[string]tool{
	"go":         {argv: []string{"go", "version"}},
	"nix":        {argv: []string{"nix", "--version"}, deb: "nix-bin"},
	"terraform":  {argv: []string{"terraform", "version"}, script: "install-terraform.sh"},
	"bazel":      {argv: []string{"bazel", "--version"}, deb: "bazel-bootstrap"},
	"sshd":       {argv: []string{"dpkg-query", "-W", "openssh-server"}, deb: "openssh-server"},
	"age":        {argv: []string{"age", "--version"}, deb: "age"},
	"git":        {argv: []string{"git", "--version"}, deb: "git"},
	"iproute2":   {argv: []string{"ip", "-V"}, deb: "iproute2"},
	"bash":       {argv: []string{"bash", "--version"}, deb: "bash"},
	"sops":       {argv: []string{"sops", "--disable-version-check", "--version"}, script: "install-sops.sh"},
	"actionlint": {argv: []string{"actionlint", "-version"}, script: "install-actionlint.sh"},
	"just":       {argv: []string{"just", "--version"}, script: "install-just.sh"},
	// posh: the strict POSIX shell the host scripts are parsed with
	// (tasks/hostsh) and the lab's darwin-class hosts run as /bin/sh.
	"posh": {argv: []string{"dpkg-query", "-W", "posh"}, deb: "posh"},
	// sudo: a local deploy by a user who is not root escalates with it
	// (tasks/localexec); the e2e tests run it inside a lab host.
	"sudo": {argv: []string{"sudo", "--version"}, deb: "sudo"},
}

// ToolNames lists the tools a job may name.
func ToolNames() []string {
	return slices.Sorted(maps.Keys(knownTools))
}

// toolPath resolves a tool's binary the way the suite's drivers do, so a
// job's key names the binary its commands will run: nix as tasks/nix finds
// it ($VANIXIETS_NIX first), terraform in the suite's own tools directory
// first, as tasks/terraform does.
func toolPath(argv0 string) (string, error) {
	if argv0 == "nix" {
		n, err := nix.New()
		if err != nil {
			return "", err
		}
		return n.Bin, nil
	}
	// The suite's install scripts put their tools (terraform, sops,
	// actionlint, just) in the tools directory, which wins over PATH, as it does
	// for the code that runs them.
	p := filepath.Join(paths.Tools(), "bin", argv0)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return exec.LookPath(argv0)
}

// Versions detects tool versions. Results are memoised on disk by the
// binary's path, size, mtime and inode, so a warm ci:run starts no process
// for them; a missing tool is reported as "missing" in its version (the key
// still changes when it appears).
type Versions struct {
	file string
	mu   sync.Mutex
	memo map[string]string
	dirt bool
}

// NewVersions loads the memo file (empty name: in memory only).
func NewVersions(file string) *Versions {
	v := &Versions{file: file, memo: map[string]string{}}
	if file != "" {
		if b, err := os.ReadFile(file); err == nil {
			json.Unmarshal(b, &v.memo)
		}
	}
	return v
}

// DefaultVersions keeps its memo under the suite's home.
func DefaultVersions() *Versions {
	return NewVersions(filepath.Join(paths.Home(), "ci", "tool-versions.json"))
}

// Of returns the version line of tool.
func (v *Versions) Of(ctx context.Context, tool string) (string, error) {
	t, ok := knownTools[tool]
	argv := t.argv
	if !ok {
		return "", fmt.Errorf("unknown tool %q (known: %s)", tool, strings.Join(ToolNames(), ", "))
	}
	bin, err := toolPath(argv[0])
	if err != nil {
		return "missing", nil
	}
	memoKey := tool + "\x00" + bin
	if real, err := filepath.EvalSymlinks(bin); err == nil {
		if fi, err := os.Stat(real); err == nil {
			st, _ := fi.Sys().(*syscall.Stat_t)
			var ino uint64
			if st != nil {
				ino = st.Ino
			}
			memoKey = fmt.Sprintf("%s\x00%s\x00%d\x00%d\x00%d", tool, real, fi.Size(), fi.ModTime().UnixNano(), ino)
		}
	}
	v.mu.Lock()
	if s, ok := v.memo[memoKey]; ok {
		v.mu.Unlock()
		return s, nil
	}
	v.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("detect %s version (%s): %v: %s", tool, strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	s := strings.TrimSpace(strings.SplitN(out.String(), "\n", 2)[0])
	v.mu.Lock()
	v.memo[memoKey] = s
	v.dirt = true
	v.mu.Unlock()
	return s, nil
}

// Save writes the memo back when it changed.
func (v *Versions) Save() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.dirt || v.file == "" {
		return nil
	}
	b, _ := json.MarshalIndent(v.memo, "", " ")
	v.dirt = false
	return fsutil.WriteFile(v.file, b, 0o644)
}

// Runner describes the machine a job runs on; it is part of every key.
//
// It holds what decides a job's result that no tool version already says:
// the distribution and its major release (ID, VERSION_ID: the libc and the
// packages' build) and the CPU architecture. It leaves out, on purpose, the
// kernel release and the distribution's point release (/etc/debian_version,
// 12.7 vs 12.8): GitHub's runners boot their own kernel under every
// container, a laptop another, and a point release changes with every image
// refresh; with either in the key a laptop and Actions would never share a
// result for the same tree. Tool versions enter through each job's tools,
// and Go's line names GOOS/GOARCH too (docs/ci.md, "What makes two runners
// share results").
func Runner() string {
	var parts []string
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		parts = append(parts, osRelease(string(b))...)
	}
	parts = append(parts, "os="+runtime.GOOS, "arch="+runtime.GOARCH)
	return strings.Join(parts, " ")
}

// osRelease picks ID= and VERSION_ID= out of an os-release file, in that
// order, with their quotes as written.
func osRelease(s string) []string {
	var id, ver string
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(l, "ID="):
			id = strings.TrimSpace(l)
		case strings.HasPrefix(l, "VERSION_ID="):
			ver = strings.TrimSpace(l)
		}
	}
	var out []string
	for _, p := range []string{id, ver} {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

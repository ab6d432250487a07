package ci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/nix"
	"github.com/vanixiets/vanixiets/tasks/paths"
	"golang.org/x/sys/unix"
)

// knownTools maps a tool name to the command printing its version. A job may
// only name tools listed here, so a typo is an error instead of a key that
// silently ignores the toolchain.
var knownTools = map[string][]string{
	"go":        {"go", "version"},
	"nix":       {"nix", "--version"},
	"terraform": {"terraform", "version"},
	"bazel":     {"bazel", "--version"},
	"sshd":      {"dpkg-query", "-W", "openssh-server"},
	"age":       {"age", "--version"},
	"git":       {"git", "--version"},
	"iproute2":  {"ip", "-V"},
	"bash":      {"bash", "--version"},
}

// ToolNames lists the tools a job may name.
func ToolNames() []string {
	var out []string
	for k := range knownTools {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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
	if argv0 == "terraform" {
		p := filepath.Join(paths.Tools(), "bin", "terraform")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
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
	argv, ok := knownTools[tool]
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

// Runner describes the machine image a job runs on; it is part of every key.
func Runner() string {
	var parts []string
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "ID=") || strings.HasPrefix(l, "VERSION_ID=") {
				parts = append(parts, l)
			}
		}
	}
	if b, err := os.ReadFile("/etc/debian_version"); err == nil {
		parts = append(parts, "debian="+strings.TrimSpace(string(b)))
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		parts = append(parts, "kernel="+unix.ByteSliceToString(u.Release[:]))
	}
	parts = append(parts, "arch="+runtime.GOARCH)
	return strings.Join(parts, " ")
}

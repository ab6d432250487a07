package nix

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/vanixiets/vanixiets/tasks/fsutil"
	"github.com/vanixiets/vanixiets/tasks/paths"
)

// Identity names this nix as it enters a cache key: the binary's path, the
// version it reports (`nix --version`) and the NIX_CONFIG it runs with.
//
// The path alone is not enough: upgrading Nix in place (apt, a profile
// switch) keeps /usr/bin/nix and changes what evaluation and builds produce,
// so a key made from the path would hand an old Nix's result to a new one.
// The version is read once per binary: it is remembered, in this process and
// in $VANIXIETS_HOME/nix/versions.json, under the resolved binary's path,
// size, mtime and inode, so a warm run starts no nix process and a
// replaced binary is asked again. When `nix --version` fails the identity
// says so (and is not remembered): such a key never matches a good one.
func (n *Nix) Identity() string {
	return fmt.Sprintf("bin=%s\x00version=%s\x00cfg=%s", n.Bin, n.versionLine(), n.Config)
}

// versionMemo maps a binary's stat identity to its `nix --version` line, in
// this process and in the memo file under the suite's home (read once per
// home; the home is looked up each time, so a test with its own
// VANIXIETS_HOME gets its own file).
type versionMemo struct {
	mu     sync.Mutex
	loaded map[string]bool
	m      map[string]string
}

var versions versionMemo

func memoFile() string { return filepath.Join(paths.Home(), "nix", "versions.json") }

func (v *versionMemo) get(id string) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m, v.loaded = map[string]string{}, map[string]bool{}
	}
	if f := memoFile(); !v.loaded[f] {
		v.loaded[f] = true
		var disk map[string]string
		if b, err := os.ReadFile(f); err == nil && json.Unmarshal(b, &disk) == nil {
			for k, s := range disk { // a damaged memo only costs one nix --version
				v.m[k] = s
			}
		}
	}
	s, ok := v.m[id]
	return s, ok
}

func (v *versionMemo) put(id, line string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m[id] = line
	b, _ := json.MarshalIndent(v.m, "", " ")
	_ = fsutil.WriteFile(memoFile(), b, 0o644) // best effort: the memo only saves a process
}

// binaryID is what says "the same binary" without running it: resolved
// path, size, mtime and inode. "" when it cannot be stat'ed.
func binaryID(bin string) string {
	real, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return ""
	}
	fi, err := os.Stat(real)
	if err != nil {
		return ""
	}
	id := fmt.Sprintf("%s\x00%d\x00%d", real, fi.Size(), fi.ModTime().UnixNano())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id += fmt.Sprintf("\x00%d", st.Ino)
	}
	return id
}

func (n *Nix) versionLine() string {
	id := binaryID(n.Bin)
	if id != "" {
		if s, ok := versions.get(id); ok {
			return s
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := n.Version(ctx)
	if err != nil {
		return "unavailable: " + err.Error()
	}
	if id != "" {
		versions.put(id, v.Raw)
	}
	return v.Raw
}

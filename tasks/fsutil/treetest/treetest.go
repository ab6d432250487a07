// Package treetest compares snapshots of a directory tree, for tests that
// must show what a command wrote and, as often, that it wrote nothing.
//
// Imported by tests only.
package treetest

import (
	"io/fs"
	"os"
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

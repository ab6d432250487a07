package status

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/vanixiets/vanixiets/tasks/hostsh"
)

// TestActivatedCmdIsPOSIX: the status command is a host script like the
// others: posh and dash parse it, and it uses nothing a Mac lacks.
func TestActivatedCmdIsPOSIX(t *testing.T) {
	script := hostsh.Prelude + activatedScript
	assert.NilError(t, hostsh.Syntax(context.Background(), script))
	assert.Check(t, is.Len(hostsh.Lint(script), 0))
}

// TestLinkTime reads the link's own mtime from real tar archives: GNU
// tar's default format, pax (a Mac's bsdtar writes pax headers), an
// AppleDouble entry before it, and no link at all.
func TestLinkTime(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "current-system")
	assert.NilError(t, os.Symlink("/nix/store/0123456789abcdefghijklmnopqrstuv-system", link))
	// The link's own time (touch -h sets a link's, not its target's).
	assert.NilError(t, exec.Command("touch", "-h", "-t", "202611300915.42", link).Run())
	fi, err := os.Lstat(link)
	assert.NilError(t, err)
	want := fi.ModTime().UTC().Truncate(time.Second)
	assert.Equal(t, want.Format("2006-01-02 15:04:05"), time.Date(2026, 11, 30, 9, 15, 42, 0, time.Local).UTC().Format("2006-01-02 15:04:05"))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "._current-system"), []byte("appledouble"), 0o644))

	tarOf := func(args ...string) []byte {
		out, err := exec.Command("tar", append([]string{"-cf", "-", "-C", dir}, args...)...).Output()
		assert.NilError(t, err)
		return out
	}
	for _, tc := range []struct {
		name    string
		archive []byte
		want    time.Time
	}{
		{"GNU tar", tarOf("current-system"), want},
		{"pax", tarOf("--format=pax", "current-system"), want},
		{"AppleDouble first", tarOf("._current-system", "current-system"), want},
		{"no link", tarOf("._current-system"), time.Time{}},
		{"nothing", nil, time.Time{}},
		{"not tar", []byte("stat: illegal option -- c\n"), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := linkTime(tc.archive)
			assert.Equal(t, got.Truncate(time.Second), tc.want)
		})
	}
}
